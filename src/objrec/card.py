"""The model card ``objrec share`` writes beside a shared model (``README.md``): what it
recognises, how it was trained and on what weights, what it measured, its "unknown" answer,
its limits and how to use it, in words a recipient reads without objrec's docs.

Everything comes from the run: the model's metadata (classes, training counts, calibration),
``summary.json`` and ``config.json`` (the recipe, the versions), the evaluations made with the
model file shared (``metrics.json`` whose ``model`` is its digest) and the kept threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from objrec import __version__
from objrec.backbones import BadBackbone, get_backbone
from objrec.current import currency
from objrec.enough import FEWEST_FOR_A_THRESHOLD, FEWEST_TO_TRUST, FEWEST_WITHOUT_INTERVAL
from objrec.evaluation_metrics import (
    CalibrationFigures,
    EvaluationMetrics,
    EvaluationRecord,
    read_record,
)
from objrec.kept import EDITED_KEY
from objrec.meta import RunMeta, typical_image
from objrec.outputs import holds_evaluation, json_dict
from objrec.provenance import Provenance
from objrec.run_files import BEST, KEPT_NAME
from objrec.run_record import ImageCounts
from objrec.words import plural, some_of

if TYPE_CHECKING:
    from objrec.export.check import Agreement

CARD = "README.md"
CARD_MARK = "<!-- Written by objrec share"
"""How a model card begins: what says a folder is an earlier share (with its ``SHA256SUMS``),
which ``share_run(force=True)`` may replace."""
SPLITS = ("test", "valid", "train")
FEW_TRAINING_PHOTOS = FEWEST_WITHOUT_INTERVAL
"""A class trained on fewer photos than this is named among the card's limits."""


@dataclass(frozen=True)
class SharedExport:
    """The share's export (``model.onnx``) as its sidecar ``model.json`` records it, read once
    by ``share``, which says the same check on its card and in its lines."""

    openvino: bool = False
    """Whether objrec ran its int8 body in OpenVINO (the sidecar's ``openvino`` entry)."""
    checked: Mapping[str, Agreement] = field(default_factory=dict)
    """The export's check by runtime (``export.check.checked_in``); empty where none is
    recorded."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of the model shared: its folder's name in the run and its record."""

    name: str
    record: EvaluationRecord
    at_threshold: bool = True
    """Measured at the unknown threshold the shared model answers with (the kept one, else its
    own): else its share of images given a class, and of unknown photos, are not quoted."""

    @property
    def part(self) -> str:
        """``test``, ``mine``: the evaluated folder's name, from the evaluation's."""
        return self.name.removeprefix("eval-").removesuffix("-tta")

    @property
    def what(self) -> str:
        """``the test split``, ``eval-mine``: what was evaluated, by the folder's name."""
        return f"the {self.part} split" if self.part in SPLITS else f"`{self.part}`"

    @property
    def images(self) -> str:
        """The worst classes' column: ``valid images``, by the split's name, as report's page
        says it (the card headed eval-valid's table "test photos")."""
        return f"{self.part} images" if self.part in SPLITS else "images"

    def seen(self, split: str) -> int:
        """How many evaluated images are the run's own ``split`` (``train`` or ``valid``)
        images or copies of them, as ``evaluate`` counts and warns of them: byte copies
        (``seen_in_training``) and re-saved, resized or cropped ones (``near_seen_in_training``),
        which the card does not quote as results, as evaluate warns of them."""
        record = self.record
        return record.seen_in_training.get(split, 0) + record.near_seen_in_training.get(split, 0)

    def own(self, split: str) -> str:
        """``training photos`` (``validation images``), ``or copies of them`` where evaluate
        found re-saved, resized or cropped copies among them."""
        what = {"train": "training photos", "valid": "validation images"}[split]
        return what + (" or copies of them" if self.record.near_seen_in_training.get(split) else "")

    @property
    def independent(self) -> bool:
        """None of its images are the run's own training or validation images: its figures
        measure the model on photos new to it."""
        return not (self.seen("train") or self.seen("valid"))


def write_card(
    run: Path,
    folder: Path,
    redacted: Sequence[str],
    left_out: Sequence[str],
    model: str,
    meta: RunMeta,
    export: SharedExport | None = None,
) -> tuple[list[str], list[str]]:
    """Write the model card of the share in ``folder`` (made from ``run``'s model of digest
    ``model``: the one share read, not the file as it is now; ``meta``: the share's model file's
    metadata, as written; ``export``: the share's export, none without one); the evaluations it
    quotes, and those of the model it does not as their images changed since, by their folders'
    names."""
    evaluations, changed = current_evaluations(run, model)
    quoted = [e for e in evaluations if not e.seen("train")]
    independent = [e for e in evaluations if e.independent]
    summary = json_dict(folder / "summary.json")
    kept = json_dict(folder / KEPT_NAME)
    parts = [
        f"{CARD_MARK} {__version__} on {shared_on()}: SHA256SUMS lists each file's SHA-256, "
        "`sha256sum -c SHA256SUMS` checks a copy. -->",
        *heading(folder.name, meta),
        *use_section(folder.name, export),
        *classes_section(meta),
        *results_section(meta, summary, evaluations, changed),
        *unknown_section(meta, independent, kept),
        *training_section(meta, summary, (folder / "config.json").is_file()),
        *limits_section(meta, summary, independent),
        *files_section(folder, redacted, left_out),
    ]
    (folder / CARD).write_text("\n".join(parts) + "\n", encoding="utf-8")
    return [e.name for e in quoted], list(changed)


def current_evaluations(run: Path, model: str) -> tuple[list[Evaluation], list[str]]:
    """The run's evaluations made with its model of digest ``model`` on the
    images their folders hold now (:func:`objrec.current.currency`, the rule ``report`` shows one
    by), the test split's first, each saying whether it measured at the threshold in use; and the
    folders of this model's evaluations whose images have changed since, which the card names
    rather than quotes (not "Not evaluated on a test split" of a run whose eval-test is out of
    date)."""
    found, changed = [], []
    for path in sorted(run.glob("eval-*")):
        record = read_record(path) if holds_evaluation(path) else None
        if record is None or record.model_digest != model:
            continue
        now = currency(path, run, model)
        if not now.model:
            continue
        if now.images:
            found.append(Evaluation(path.name, record, now.threshold))
        else:
            changed.append(path.name)
    return sorted(found, key=lambda e: e.name != "eval-test"), changed


def heading(name: str, meta: RunMeta) -> list[str]:
    n = len(meta.classes)
    return [
        f"# {name}",
        "",
        f"An image classifier of {n} classes, trained with objrec: it answers which of them a "
        'photo shows, how sure it is, and "unknown" for a photo unlike its training photos.',
        "",
    ]


def use_section(name: str, export: SharedExport | None) -> list[str]:
    lines = [
        "## How to use it",
        "",
        "```bash",
        "# objrec installed from a clone of its repository (pip install .) or its wheel",
        f"objrec predict {name} photo.jpg        # its top classes (files or folders)",
        f"objrec evaluate {name} labelled/       # a folder of class folders of your own photos",
        f"objrec serve {name}                    # a page to drop photos on, and a JSON API",
        "```",
        "",
    ]
    if export is not None:
        lines += [without_objrec(export), ""]
    else:
        lines += [f"For ONNX: `objrec export {name}` writes `model.onnx` beside it.", ""]
    return lines


def without_objrec(export: SharedExport) -> str:
    """How the share's export runs without objrec: in ONNX Runtime for an fp32 (or ONNX
    Runtime-run int8) body; for an int8 body OpenVINO ran, openvino for objrec's own answers, and
    how far ONNX Runtime alone is from them (the export's check, as the sidecar records it, else
    the rule). The card said "onnxruntime, numpy and Pillow only" of an int8 model too, whose
    answers in that install were up to 0.027 off in a probability, and a recipient reads only
    the card."""
    start = "Without objrec: `model.onnx` with `model.json` (classes and preprocessing) runs in "
    if not export.openvino:
        return start + (
            "ONNX Runtime; `python model_infer.py photo.jpg` needs onnxruntime, numpy and Pillow "
            "only (`pip install onnxruntime numpy pillow`)."
        )
    return start + (
        "OpenVINO or ONNX Runtime. For objrec's own answers, `python model_infer.py photo.jpg` "
        "needs openvino, numpy and Pillow (`pip install openvino numpy pillow`): its int8 body "
        f"was run in OpenVINO. {onnxruntime_alone(export.checked)}"
    )


def onnxruntime_alone(checked: Mapping[str, Agreement]) -> str:
    """How far an int8 body OpenVINO ran is from objrec's answers in ONNX Runtime alone
    (onnxruntime without openvino): the figure the export measured (``checked``), else the
    rule."""
    from objrec.export.check import apart_words

    alone = checked.get("onnxruntime")
    if alone is None:
        return (
            "With onnxruntime in place of openvino, its 8-bit arithmetic rounds otherwise: up to "
            "a few hundredths in a probability, and now and then a top class changed."
        )
    return f"With onnxruntime in place of openvino, the file {apart_words(alone)}."


def classes_section(meta: RunMeta) -> list[str]:
    counts = dict(meta.n_train or {})
    total = sum(counts.values())
    lines = [
        "## What it recognises",
        "",
        f"{len(meta.classes)} classes, trained on {total:,} photos:" if counts else "",
        "",
        "| class | training photos |",
        "| --- | ---: |",
    ]
    lines += [f"| {md(c)} | {count(counts.get(c))} |" for c in meta.classes]
    return [*lines, ""]


def results_section(
    meta: RunMeta, summary: dict[str, Any], evaluations: list[Evaluation], changed: list[str]
) -> list[str]:
    lines = ["## Results", ""]
    counts = ImageCounts.from_json(summary.get("n_images"))
    valid = counts.valid if counts is not None else 0
    if meta.valid_acc is not None:
        on = f" of {plural(valid, 'image')}" if valid else ""
        lines += [
            f"- Validation split{on}: accuracy {pct(meta.valid_acc)}, loss {meta.valid_loss:.4f} "
            f"(best epoch {meta.best_epoch}). It chose when training stopped, so it is "
            "optimistic: a test split says more.",
        ]
    for evaluation in evaluations:
        if not evaluation.seen("train"):
            lines += evaluation_lines(evaluation)
    if changed:
        lines += [
            f"- Not quoted: {', '.join(f'`{name}`' for name in changed)}, whose images have "
            "changed since they were evaluated (added, removed, moved or replaced): "
            "`objrec evaluate` again to quote them."
        ]
    elif not any(e.independent for e in evaluations):
        lines += ["- Not evaluated on a test split with this model: only validation figures."]
    lines += [own_training_line(e, trained) for e in evaluations if (trained := e.seen("train"))]
    return [*lines, ""]


def own_training_line(evaluation: Evaluation, trained: int) -> str:
    """An evaluation of images the model trained on, left unquoted, as ``evaluate`` warns of it
    (``seen_in_training``): not "On the train split (40 images): top-1 80.00%" beside the test
    split's 50.00%, to a recipient who cannot know which images those were."""
    are = "is one of" if trained == 1 else "are"
    return (
        f"- {capitalised(evaluation.what)} was evaluated too, but {trained:,} of its "
        f"{plural(evaluation.record.metrics.n, 'image')} {are} the model's own "
        f"{evaluation.own('train')}: its figures overstate accuracy on new photos, and are not "
        "quoted."
    )


def own_validation_words(evaluation: Evaluation) -> str:
    """``, 20 of them the model's own validation images: optimistic, as above`` where some
    evaluated images chose when training stopped, its temperature and its threshold."""
    validated = evaluation.seen("valid")
    if not validated:
        return ""
    return (
        f", {validated:,} of them {'one of ' if validated == 1 else ''}the model's own "
        f"{evaluation.own('valid')}: optimistic, as above"
    )


def evaluation_lines(evaluation: Evaluation) -> list[str]:
    m = evaluation.record.metrics
    o = m.overall
    tta = " with test-time augmentation" if m.tta else ""
    whose = own_validation_words(evaluation)
    line = f"- On {evaluation.what} ({plural(m.n, 'image')}{whose}){tta}: "
    line += f"top-1 {pct(o.top1)}"
    if o.top1_photos is not None and abs(o.top1_photos - o.top1) >= 0.005:  # near-duplicates
        line += f" (by distinct photo {pct(o.top1_photos)})"
    line += interval(o.top1_low, o.top1_high)
    if o.top5 is not None:
        line += f", top-5 {pct(o.top5)}{interval(o.top5_low, o.top5_high)}"
    lines = [line + "."]
    from objrec.untaught import untaught_note

    if untaught := untaught_note(evaluation.record, capitalised(evaluation.what)):
        lines.append(f"  {untaught}")
    worst = evaluation.record.worst_classes
    if worst:
        lines += ["", f"  Its worst classes on {evaluation.what}:", ""]
        lines += [f"  | class | top-1 | {evaluation.images} | most confused with |"]
        lines += ["  | --- | ---: | ---: | --- |"]
        lines += [
            f"  | {md(w['class'])} | {pct(w.get('top1'))} | {w.get('n_test')} | "
            f"{md(w.get('most_confused_with') or '')} |"
            for w in worst[:5]
        ]
    return lines


def unknown_section(
    meta: RunMeta, evaluations: list[Evaluation], kept: dict[str, Any]
) -> list[str]:
    cal = meta.calibration
    if cal is None:
        return ['## Confidence and "unknown"', "", "Not calibrated (an early run).", ""]
    lines = ['## Confidence and "unknown"', ""]
    temp = (
        "left as the model gives them"
        if cal.temperature == 1
        else (f"scaled by a temperature of {cal.temperature:.3f}, fitted on the validation split")
    )
    lines.append(f"- Probabilities: {temp}.")
    lines += [*measured_lines(evaluations[:1]), *threshold_lines(cal, kept)]
    return [*lines, ""]


def measured_lines(evaluations: list[Evaluation]) -> list[str]:
    """How calibrated the probabilities came out on an evaluation, and what share of its images
    got a class rather than "unknown"."""
    lines = []
    for e in evaluations:
        m = e.record.metrics
        if m.calibration is not None and m.calibration.ece is not None:
            lines.append(f"- On {e.what}, {gap_words(m.calibration, m.n)}.")
        if not e.at_threshold:  # measured at a threshold the model shared no longer uses
            continue
        if (at := m.at_threshold) is not None and at.known_kept is not None:
            lines.append(
                f"- On {e.what}, {pct(at.known_kept)} of the images get a class, the rest are "
                f'answered "unknown": top-1 {pct(at.top1_at_threshold)} when an unknown counts '
                "as wrong."
            )
        lines += untaught_lines(m)
    return lines


def gap_words(c: CalibrationFigures, n: int) -> str:
    """An evaluation's calibration gap as evaluate says it (``calibration.calibration_words``):
    too noisy to judge within what exactly calibrated probabilities show by chance on as many
    images, so that the card never says "the top probability is 17.40 percentage points off how
    often it is right" of 20 test images where evaluate says "too noisy to judge ... up to 31.37
    points by chance". An evaluation made before ``ece_by_chance`` is judged without."""
    from objrec.calibration import calibration_words

    return calibration_words(c.ece, n, c.ece_by_chance, over=c.overconfidence)


def untaught_lines(m: EvaluationMetrics) -> list[str]:
    """What an evaluation's photos of things the model was not taught (``evaluate --unknown``,
    ``m.open_set``) measured: the share answered "unknown", at the threshold then in use, and
    the classes the others got, most often first (the folder, a path of this machine, is left
    out); none without."""
    if m.open_set is None:
        return []
    found, accepted = m.open_set.figures, m.open_set.unknown_accepted
    n, at = found.n_unknown, m.unknown.threshold if m.unknown is not None else None
    if not n or accepted is None or at is None:
        return []
    went = Counter(found.unknown_answered_as or {}).most_common()
    rest = some_of([f"{md(name)} {k}" for name, k in went], 3, quote=False)
    return [
        f"- Shown {plural(n, 'photo')} of things it was not taught (`objrec evaluate --unknown`), "
        f'it answered {pct(1 - accepted)} of them "unknown" (below {at:.3g})'
        + (f"; the others got a class ({rest})." if rest else ".")
    ]


def threshold_lines(cal: Any, kept: dict[str, Any]) -> list[str]:
    if cal.unknown_score == "msp":
        score = "the top probability"
    else:
        typical = typical_image(cal.scaled_on)
        score = f"its familiarity ({cal.unknown_score} score, about 1 for {typical})"
    if cal.unknown_threshold is None:
        return ['- It never answers "unknown".']
    images = cal.validation_images
    chosen = f" on {plural(images, 'validation image')}" if images else " on the validation split"
    shaky = (
        f" (under {FEWEST_FOR_A_THRESHOLD}: shaky)"
        if images and images < FEWEST_FOR_A_THRESHOLD
        else ""
    )
    lines = [
        f'- "unknown" when {score} is below {cal.unknown_threshold:.3g}, a threshold chosen'
        f"{chosen}{shaky}."
    ]
    if kept.get("threshold") is not None:
        chosen = (
            "a stricter threshold chosen by `objrec evaluate --unknown` on photos of other things"
        )
        if kept.get(EDITED_KEY):
            chosen = "set by hand, after `objrec evaluate --unknown` kept one"
        lines.append(
            f"- Kept since: {kept['threshold']:.3g}, {chosen} ({KEPT_NAME}); predict, serve and "
            "export use it, `--threshold` overrides it."
        )
    return lines


def training_section(meta: RunMeta, summary: dict[str, Any], with_config: bool = True) -> list[str]:
    """How the model was trained; the recipe from the model's own record, ``config.json`` named
    as holding every setting only when the share has it (``with_config``)."""
    config = meta.train_config
    made = Provenance.from_json(summary.get("provenance"))
    several = "+" in meta.backbone  # an ensemble of bodies, their features joined
    bodies = "networks (frozen, their features joined)" if several else "network (frozen)"
    lines = [
        "## How it was trained",
        "",
        f"- Pretrained {bodies}: `{meta.backbone}`; a head of "
        f"{plural(meta.head.members, 'member')} trained on {'their' if several else 'its'} "
        "features.",
        *(f"- Weights of `{part}`: {terms}." for part, terms in licences(meta)),
    ]
    if config is not None:
        lines.append(
            f"- Recipe: augmentation `{config.augment}`, "
            f"{plural(config.aug_views, 'augmented view')}, "
            f"learning rate {config.lr:g}, batch {config.batch_size}, up to {config.epochs} "
            f"epochs with patience {config.patience}, seed {config.seed}, precision "
            f"{config.precision}" + ("; `config.json` holds every setting." if with_config else ".")
        )
    if made is not None and made.objrec:
        versions = ", ".join(f"{k} {v}" for k, v in made.libraries.items())
        lines.append(f"- objrec {made.objrec}" + (f"; {versions}" if versions else ""))
    if made is not None and made.split_fingerprint:
        lines.append(
            f"- The split's fingerprint: `{made.split_fingerprint}` (the same for the "
            "same photos in the same splits, wherever they lie)."
        )
    return [*lines, ""]


def licences(meta: RunMeta) -> list[tuple[str, str]]:
    """Each body's name and the terms of its weights (``BackboneSpec.licence``); the trainer's
    own weights file's terms are theirs."""
    weights = meta.train_config.weights if meta.train_config else None
    if weights:
        return [(meta.backbone, f"the trainer's own file `{weights}`: ask them for its terms")]
    found = []
    for part in meta.backbone.split("+"):
        try:
            terms = get_backbone(part).licence
        except BadBackbone:
            terms = ""
        found.append((part, terms or "see where they came from"))
    return found


def limits_section(
    meta: RunMeta, summary: dict[str, Any], evaluations: list[Evaluation]
) -> list[str]:
    lines = ["## Intended use and limits", ""]
    if summary.get("finished") is False:
        lines.append(
            "- Its training was stopped before its end: this is the best model of the epochs "
            'before the stop, its probabilities are not calibrated and it has no "unknown" '
            "threshold of its own."
        )
    lines += [
        f"- It knows these {len(meta.classes)} classes only: a photo of anything else gets one "
        'of them, or "unknown" when it is unlike the training photos. Measure it on your own '
        "photos (`objrec evaluate`) before relying on it: its figures hold for photos like "
        "those it was trained and tested on.",
    ]
    return [*lines, *few_photos_lines(meta, evaluations), ""]


def few_photos_lines(meta: RunMeta, evaluations: list[Evaluation]) -> list[str]:
    """The classes trained on few photos, and those whose test result rests on too few."""
    lines = []
    few = [c for c, n in sorted((meta.n_train or {}).items()) if n < FEW_TRAINING_PHOTOS]
    if few:
        lines.append(
            f"- Trained on fewer than {FEW_TRAINING_PHOTOS} photos, so weaker: "
            + ", ".join(map(md, few))
            + "."
        )
    untrusted = [
        row["class"]
        for e in evaluations[:1]
        for row in e.record.per_class
        if row.get("too_few_to_trust")
    ]
    if untrusted:
        lines.append(
            f"- Tested on fewer than {FEWEST_TO_TRUST} distinct photos, so their results say "
            "little: " + ", ".join(map(md, untrusted)) + "."
        )
    return lines


FILES = {
    BEST: "the model: the pretrained network, the head, the classes, the preprocessing and "
    "the calibration (safetensors: no pickle)",
    KEPT_NAME: "the kept unknown threshold",
    "config.json": "every training setting",
    "summary.json": "how training went and what it was made with",
    "seen_digests.csv": "the training and validation photos' content digests (no names), so "
    "that `objrec evaluate` warns of your photos it trained on",
    "model.onnx": "the model in ONNX",
    "model.json": "model.onnx's classes, preprocessing and threshold",
    "model_infer.py": "runs model.onnx without objrec",
    "SHA256SUMS": "each file's SHA-256",
}


def files_section(folder: Path, redacted: Sequence[str], left_out: Sequence[str]) -> list[str]:
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    lines = ["## What this folder holds", ""]
    lines += [f"- `{n}`: {FILES[n]}" for n in [*names, "SHA256SUMS"] if n in FILES]
    lines += [
        "",
        "No photo travels with it. Left out of the run's files, as naming the machine that made "
        f"it: {redacted_words(redacted, quote=True)}.",
    ]
    lines += [f"Not shared: {sentence}." for sentence in left_out]
    return lines


def redacted_words(redacted: Sequence[str], quote: bool = False, listed: int = 4) -> str:
    """What a share left out as naming the machine (``file: key.path`` each), for a person: each
    entry while there are few; else how many in each file, as a run with adds and a plan has 18
    (split records' sources, working folders and command lines), which read as a dump."""
    if len(redacted) <= listed:
        return ", ".join(f"`{r}`" if quote else r for r in redacted) or "nothing"
    files = Counter(entry.split(": ", 1)[0] for entry in redacted)
    where = ", ".join(f"{n} in {name}" for name, n in files.items())
    return f"{len(redacted)} entries, each null in its place ({where})"


def count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def pct(value: Any) -> str:
    return "?" if value is None else f"{100 * float(value):.2f}%"


def interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    return f" (95% interval {pct(low)} to {pct(high)})"


def capitalised(text: str) -> str:
    """``The test split`` for ``the test split``, the rest as it is."""
    return text[:1].upper() + text[1:]


def md(text: str) -> str:
    """``text`` safe in a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def shared_on() -> str:
    """Today's date (UTC), as the card says it."""
    return datetime.now(UTC).date().isoformat()

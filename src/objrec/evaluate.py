"""``evaluate``: a trained run on a labelled folder: overall and per-class results, confusions."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import compress
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from objrec import plots
from objrec.cache import open_cache
from objrec.compare import (
    EarlierRun,
    evaluate_against,
    read_renamed,
    remove_stale_against,
    require_earlier_run,
)
from objrec.confidence import (
    KEEP_KNOWN,
    accuracy_at_threshold,
    ece_by_chance,
    expected_calibration_error,
    keeping_threshold,
    mean_nll,
    open_set_metrics,
    reliability_table,
    threshold_trade,
)
from objrec.config import TOP5_CLASSES, EvaluateConfig, SplitConfig, settings
from objrec.current import image_set_fingerprint
from objrec.data import (
    SPLITS,
    UNKNOWN,
    ClassFolder,
    Sample,
    class_folders,
    class_of_folder,
    close_match,
    is_split_folder,
    present_splits,
    scan_class_folder,
)
from objrec.devices import loader_settings, resolve_device
from objrec.enough import FEWEST_TO_TRUST, too_few_to_trust
from objrec.errors import ObjrecError, on_ctrl_c, unexpected_error
from objrec.features import (
    FeatureTable,
    digested_for_each_view,
    feature_table,
    report_unreadable,
    require_readable,
)
from objrec.frozen import PassSettings
from objrec.images import (
    UnreadableImageError,
    is_image_file,
    list_images,
    open_image,
    warned_once_per_file,
)
from objrec.inference import Answers, Recognizer
from objrec.leakage import SEEN_SPLITS, known_hashes, near_seen, read_seen, seen_images
from objrec.meta import output_beside
from objrec.metrics import (
    answered,
    confusion_matrix,
    mixed_pairs,
    most_confused,
    per_class_table,
    photo_confusion,
    ranked,
    summarize,
)
from objrec.outputs import (
    EVALUATION_FILES,
    check_output_dir,
    finite_or_null,
    mark_output_dir,
    own_contents,
    refuse_inside,
    shown_name,
    staged_outputs,
    takes_back_folders,
    writing_outputs,
)
from objrec.predict import barely_familiar, familiarity_line, threshold_cells
from objrec.progress import (
    COMPARE_PASSES,
    Reporter,
    grouped,
    joined,
    log_result_warnings,
    or_silent,
    passes_from_first_step,
    plural,
    quoted,
    some_of,
    with_distinct,
)
from objrec.tables import write_table
from objrec.views import ViewSpec

log = logging.getLogger(__name__)


NEAR_COPIES = "re-saved, resized or cropped copies, by their perceptual hashes"
"""What a near-duplicate of the run's own images is, as evaluate's warning says it."""


def seen_words(counts: Mapping[str, int], of: str, what: str = "") -> str:
    """``3 of the 10 evaluated images are the run's own 2 training and 1 validation images``:
    ``counts`` by split, ``of`` whose (``the 10 evaluated images``), ``what`` before "the run's"
    (``near-duplicates of ``)."""
    parts = " and ".join(
        f"{c} {'training' if s == 'train' else 'validation'}" for s, c in counts.items()
    )
    seen = sum(counts.values())
    verb, noun = ("is", "image") if seen == 1 else ("are", "images")
    what = what.replace("duplicates", "duplicate") if seen == 1 else what
    return f"{seen} of {of} {verb} {what}the run's own {parts} {noun}"


@dataclass
class EvaluationResult:
    """Overall metrics, the per-class table (worst first) and the most confused pairs."""

    metrics: dict[str, Any]
    per_class: pd.DataFrame
    confused: pd.DataFrame
    confusion: torch.Tensor
    classes: list[str]
    out: Path | None = None
    metrics_plain: dict[str, float] | None = None
    """Without test-time augmentation, when ``metrics`` are with it."""
    predictions: pd.DataFrame | None = None
    """One row per image, as ``predictions.csv``: its ``path``, ``true`` class, ``answer`` (the
    class, or "unknown"), ``predicted`` class and ``prob_predicted``, ``unknown``,
    ``barely_familiar``, ``score``, ``unknown_threshold``, ``unknown_threshold_kept_on`` (as
    ``predict --csv``'s), ``prob_true``, ``loss``, ``top5`` (classes joined by "|"),
    near-duplicate ``group`` and ``seen_in`` (the run's split it trained on, or "")."""
    folder: Path | None = None
    """The class folder that was evaluated (a split folder's split)."""
    seen: dict[str, list[str]] = field(default_factory=dict)
    """Evaluated images that are the run's own training or validation images, per split."""
    near_seen: dict[str, list[str]] = field(default_factory=dict)
    """Evaluated images that are near-duplicates of the run's own training or validation images
    (re-saved, resized or cropped copies; not byte copies: those are ``seen``), per split."""
    unreadable: list[str] = field(default_factory=list)
    """``path: reason`` for each image of the folder that could not be read, left out."""
    model: str = ""
    """The content digest of the model file evaluated (``checkpoint.model_digest``): ``report``
    tells by it an evaluation of the run's model from one of a model since replaced."""
    image_set: str = ""
    """The fingerprint of the evaluated images and their labels (:func:`image_set_fingerprint`): two
    evaluations' scores are comparable only when theirs are the same."""
    untaught: dict[str, int] = field(default_factory=dict)
    """Class folders of the evaluated folder that are not among the model's classes (a class
    added since the run was trained), and their images: left out of every score."""
    untaught_unknown: int | None = None
    """How many of the ``untaught`` images the model answered "unknown" (readable ones; None when
    there are none, or the run has no unknown threshold)."""
    against: dict[str, Any] | None = None
    """With ``against``: this run and the earlier one on the same images of the classes both
    know (:func:`objrec.compare.compare_runs`)."""
    mixed: list[dict[str, Any]] | None = None
    """The classes mistaken for each other both ways (``metrics.mixed_pairs``), counted in
    distinct photos as the scores are (``metrics.photo_confusion``); None: counted from
    ``confusion``, in images."""

    @property
    def mixed_pairs(self) -> list[dict[str, Any]]:
        """:attr:`mixed`, or the pairs of ``confusion`` where it is None."""
        return mixed_pairs(self.confusion, self.classes) if self.mixed is None else self.mixed

    @property
    def warning(self) -> str | None:
        """A sentence when the evaluated images include images the run trained or validated on."""
        counts = {split: len(paths) for split, paths in self.seen.items() if paths}
        near = {split: len(paths) for split, paths in self.near_seen.items() if paths}
        if not counts and not near:
            return None
        n = "the " + plural(int(self.metrics["n"]), "evaluated image")
        said = []
        if counts:
            said.append(f"{seen_words(counts, n)} (same file contents)")
        if near:
            n = "the others" if counts else n
            said.append(f"{seen_words(near, n, 'near-duplicates of ')} ({NEAR_COPIES})")
        return f"{'; '.join(said)}: these results overstate accuracy on new images"

    @property
    def classes_without_images(self) -> list[str]:
        """The model's classes with no readable image in the evaluated folder: they have no row in
        ``per_class`` and no part in its per-class means (a class of one image that ``split`` put
        in train has none in test)."""
        present = set(self.per_class["class"]) if len(self.per_class) else set()
        return [name for name in self.classes if name not in present]

    @property
    def few_image_classes(self) -> list[str]:
        """Classes evaluated on fewer distinct images than ``split`` needs of a whole class
        (``enough.FEWEST_TO_TRUST``: 3, as many as ``split`` needs of a whole class for its default
        ratios): their per-class top-1 rests on one
        or two photos (``per_class``'s ``n_groups``: near-duplicates, such as the frames of a
        burst, count once), so 0.0 or 1.0 says little."""
        if not len(self.per_class):
            return []
        return list(self.per_class.loc[too_few_to_trust(self.per_class), "class"])

    @property
    def near_duplicates(self) -> str | None:
        """A sentence when the evaluated images include near-duplicates (``metrics``' ``n_groups``
        below ``n``): the scores rest on the distinct photos, fewer than the images counted. It
        said "9 test images in 7 groups of near-duplicates" of one photo and 2 copies of it among
        6 photos of their own."""
        n, groups = int(self.metrics["n"]), int(self.metrics.get("n_groups", self.metrics["n"]))
        if groups >= n:
            return None
        folder = self.folder.name if self.folder else ""
        kind = f"{folder} images" if folder in SPLITS else "evaluated images"
        return (
            f"{n:,} {kind} are {plural(groups, 'distinct photo')} and "
            f"{plural(n - groups, 'near-duplicate')} of {'it' if groups == 1 else 'them'} (burst "
            "frames, re-saved or cropped copies, a groups file's groups: those split keeps "
            "together): the scores rest on "
            f"{plural(groups, 'distinct photo')}, not {n:,}"
        )

    probabilities: torch.Tensor | None = None
    """(images, classes): every class's probability, in the rows' order of ``predictions``
    (:meth:`probability_table` labels them)."""
    reliability: dict[str, pd.DataFrame] | None = None
    """Reliability tables (``confidence.reliability_table``) before and after calibration."""

    def confusion_table(self, normalised: bool = False) -> pd.DataFrame:
        """``confusion`` labelled, as ``confusion.csv``: a row per true class (the index, named
        ``true``), a column per predicted class (named ``predicted``), each cell a count of
        images; ``normalised``, as ``confusion_normalised.csv``: each row divided by its class's
        images (a class without any keeps a row of zeros), so that a cell is a share."""
        matrix = self.confusion.double() if normalised else self.confusion
        if normalised:
            matrix = matrix / matrix.sum(1, keepdim=True).clamp(min=1)
        return pd.DataFrame(
            matrix.numpy(),
            index=pd.Index(self.classes, name="true"),
            columns=pd.Index(self.classes, name="predicted"),
        )

    def probability_table(self) -> pd.DataFrame | None:
        """``probabilities`` labelled: a row per image, indexed by its ``path`` (as in
        ``predictions``, in its order), a column per class (the calibrated probabilities that
        ``answer`` and ``prob_predicted`` come from); None when the result has none (one made
        from logits alone)."""
        if self.probabilities is None or self.predictions is None:
            return None
        return pd.DataFrame(
            self.probabilities.numpy(),
            index=pd.Index(self.predictions["path"], name="path"),
            columns=pd.Index(self.classes, name="class"),
        )

    def __repr__(self) -> str:
        """One line: what was evaluated and its top-1 and top-5 (top-5 with more than five
        classes only; a notebook cell ending in an evaluation showed every field: the tables,
        the confusion matrix, every probability)."""
        m = self.metrics
        shown = ("top1", "top5") if len(self.classes) > TOP5_CLASSES else ("top1",)  # else 100%
        scores = ", ".join(f"{k}={m[k]:.4f}" for k in shown if k in m)
        where = ", ".join(
            f"{name}={str(value)!r}"
            for name, value in (("folder", self.folder), ("out", self.out))
            if value is not None
        )
        return (
            f"EvaluationResult(images={int(m.get('n', 0))}, "
            f"classes={len(self.classes)}" + "".join(f", {p}" for p in (scores, where) if p) + ")"
        )

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The first ``n`` rows of ``per_class`` below 100% top-1: the classes of lowest top-1
        first, ties by higher loss; none when every image was right ("Worst classes: none", as
        the CLI says). A class whose every image was right is no worst class: the JSON's
        ``worst_classes`` listed every class at 100% where the text said none."""
        if not len(self.per_class):
            return self.per_class
        return self.per_class[self.per_class["top1"] < 1].head(n)

    def to_json(self, worst: int = 10) -> dict[str, Any]:
        """Everything measured as JSON-able data (``metrics.json``, ``--json``), ``worst`` of
        :meth:`worst`'s rows in ``worst_classes`` (``evaluate --worst N --json``)."""
        return {
            **self.metrics,
            **({"without_tta": self.metrics_plain} if self.metrics_plain else {}),
            "per_class": self.per_class.to_dict(orient="records"),
            "classes_without_images": self.classes_without_images,
            "worst_classes": self.worst(worst).to_dict(orient="records"),
            "most_confused": self.confused.to_dict(orient="records"),
            "mixed_pairs": self.mixed_pairs,
            "folder": str(self.folder) if self.folder else None,
            "image_set": self.image_set,
            "seen_in_training": {s: len(self.seen.get(s, [])) for s in SEEN_SPLITS},
            "near_seen_in_training": {s: len(self.near_seen.get(s, [])) for s in SEEN_SPLITS},
            "unreadable": self.unreadable,
            "model": self.model,
            "untaught_classes": self.untaught,
            "untaught_unknown": self.untaught_unknown,
            **({"against": self.against} if self.against is not None else {}),
            **({"near_duplicates": self.near_duplicates} if self.near_duplicates else {}),
            **({"warning": self.warning} if self.warning else {}),
        }


def resolve_eval_folder(folder: Path, split: str) -> Path:
    """``folder/split`` for a split folder, else ``folder`` itself (one sub-folder per class)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ObjrecError(f"{folder} is not a folder")
    if is_split_folder(folder):
        if split not in SPLITS:
            raise ObjrecError(f"`split` must be one of {', '.join(SPLITS)}")
        if not (folder / split).is_dir():
            present = " and ".join(present_splits(folder))
            raise ObjrecError(
                f"{folder} has no {split} split (only {present}): evaluate the folder that holds "
                f"the test images, or choose `split='{present_splits(folder)[-1]}'`"
            )
        return folder / split
    return folder


@takes_back_folders("out")
@on_ctrl_c("nothing was written: run it again")
@warned_once_per_file()
def evaluate(
    run: Path,
    folder: Path,
    config: EvaluateConfig | None = None,
    *,
    out: Path | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    **keywords: Any,
) -> EvaluationResult:
    """Evaluate the model of ``run`` on ``folder`` (a split folder's ``split``, or a class folder).

    ``config`` (or its fields as keywords) says what to measure; calibration and the unknown
    answer are measured too (:func:`add_confidence`). With ``tta`` the probabilities are averaged
    over the test-time views; the metrics without TTA are kept in ``metrics_plain``. Writes its
    tables, ``metrics.json`` and figures to ``out`` (:func:`write_evaluation`; default: see
    :func:`default_eval_dir`; a folder of the user's must be empty or new, unless ``force``).
    Images the run trained or validated on are listed in ``seen`` (``seen_in``), classes it was
    never taught in ``untaught`` (:func:`flag_untaught`). With ``against`` (an earlier run),
    ``against`` compares both on the images of the classes both know (:mod:`objrec.compare`).
    """
    config, reporter = settings(EvaluateConfig, config, keywords, "evaluate"), or_silent(reporter)
    refuse_early(Path(run), folder, out, config)
    named = out is not None  # else the run's own eval-* folder, refreshed as with force
    result = measured(Path(run), folder, config, out, reporter, force)
    out, earlier = result.out, None
    assert out is not None
    dropped = unknown_dropped(out, result.metrics)
    with writing_outputs(out):
        if config.against is not None:
            result.against, earlier = evaluate_against(result, folder, config, reporter, out)
        with reporter.task("writing the tables and plots", None):  # seconds for many classes
            write_evaluation(result, out, force or not named, earlier)  # the folder made only now
    if dropped:
        log.warning("%s", dropped)
    log_evaluation(run, result)
    return result


def unknown_dropped(out: Path, metrics: dict[str, Any]) -> str | None:
    """The sentence saying that this evaluation, without ``unknown``, replaces the earlier
    ``evaluate --unknown FOLDER``'s results in ``out`` (None when it had none, or this one has
    its own): they went without a word, and the next report lost its section on photos of none
    of the classes (newcomer48). Said, not measured again: a plain evaluate measures what it is
    asked to, as a dropped ``--against`` comparison is said (``compare.remove_stale_against``)."""
    if metrics.get("open_set"):
        return None
    try:
        earlier = json.loads((out / "metrics.json").read_text()).get("open_set") or {}
    except (OSError, ValueError, AttributeError):
        return None
    if not earlier:
        return None
    folder = earlier.get("folder") or "FOLDER"
    images = plural(int(earlier.get("n_unknown") or 0), "image")
    return (
        f"replaced the earlier `evaluate --unknown {folder}`'s results in {out} ({images} of "
        f"none of the classes): give --unknown {folder} again to keep them (report shows them "
        "only then)"
    )


def measured(
    run: Path,
    folder: Path,
    config: EvaluateConfig,
    out: Path | None,
    reporter: Reporter,
    force: bool = False,
    earlier: EarlierRun | None = None,
) -> EvaluationResult:
    """:func:`evaluate`'s evaluation of ``run`` on ``folder``, nothing written: its ``out`` the
    folder it is to be written to, checked (:func:`check_eval_dir`), not made. ``earlier``: the
    run is the one ``evaluate --against`` compares with, read as :class:`EarlierRun` says."""
    with reporter.task("loading the model", None):  # seconds: the body, torchvision's import
        recognizer = Recognizer.load(run, device=resolve_device(config.device))
    refuse_unknown_of_classes(config, recognizer.classes)
    target = resolve_eval_folder(folder, config.split)
    out = check_eval_dir(run, recognizer.meta.data_dir, target, out, force, config.tta)
    later = earlier.later_classes if earlier else ()
    untaught = untaught_images(target, recognizer.classes, later)
    images = scan_class_folder(target, recognizer.classes, leave_out=untaught)
    if earlier is not None:  # a class renamed since read as the earlier run's
        images = read_renamed(images, untaught, recognizer.classes, earlier.renamed)
    refuse_none_taught(target, images, untaught, len(recognizer.classes))
    tables = view_tables(recognizer, images, target.name, config, reporter)
    unreadable = report_unreadable(tables)
    require_readable(tables[0], target)
    refuse_known_unknown(run, recognizer, tables[0].digests, config)
    result, (paths, digests, table) = measure(recognizer, images.samples, tables, config, reporter)
    result.predictions, result.folder = table, target.resolve()
    record_provenance(result, recognizer.model_digest or "", unreadable, digests)
    table["seen_in"] = mark_seen(result, recognizer, paths, config, run)
    mark_near_seen(result, recognizer, (paths, digests), config, (run, reporter))
    compared = earlier is not None
    flag_untaught(result, (run, recognizer), untaught, config, reporter, compared=compared)
    result.out = out
    return result


def measure(
    recognizer: Recognizer,
    samples: Sequence[Sample],
    tables: list[FeatureTable],
    config: EvaluateConfig,
    reporter: Reporter,
) -> tuple[EvaluationResult, tuple[list[Path], list[str], pd.DataFrame]]:
    """The recognizer's answers for the readable images of ``tables`` (of ``samples``) and what
    they measure: overall and per class, each class's distinct photos counted
    (:func:`near_duplicate_groups`), calibration and the unknown answer; beside it, the readable
    images' paths, content digests and predictions table (with each one's ``group``)."""
    ok = torch.stack([t.ok for t in tables]).all(0)
    with reporter.task("answering the images", int(ok.sum())) as advance:  # seconds: the scores
        answers, plain, uncalibrated = table_answers(recognizer, tables, ok, advance=advance)
    labels, logits = tables[0].labels[ok], answers.probs.log()
    paths, digests, groups = readable_groups(recognizer, samples, tables[0], ok, config, reporter)
    trained = recognizer.meta.n_train
    result = summarize_views((logits, plain), labels, recognizer.classes, trained, config, groups)
    add_confidence(result, recognizer, (answers, uncalibrated, labels), config, reporter)
    table = answer_table(recognizer, paths, (logits, labels), answers)
    table["group"] = groups
    result.probabilities = answers.probs
    return result, (paths, digests, table)


def readable_groups(
    recognizer: Recognizer,
    samples: Sequence[Sample],
    table: FeatureTable,
    ok: torch.Tensor,
    config: EvaluateConfig,
    reporter: Reporter | None = None,
) -> tuple[list[Path], list[str], list[int]]:
    """The paths and content digests of the images ``ok`` of ``samples`` (``table``: their
    first view's features) and each one's near-duplicate group (:func:`near_duplicate_groups`,
    its search shown to ``reporter``): what ``measure`` counts the evaluated images' distinct
    photos by, and ``valid_images`` the validation images'."""
    paths = [s.path for s, good in zip(samples, ok.tolist(), strict=True) if good]
    digests = list(compress(table.digests, ok.tolist()))
    named = [recognizer.classes[label] for label in table.labels[ok].tolist()]
    cache = config.cache_dir or recognizer.meta.cache_dir
    return paths, digests, near_duplicate_groups(paths, digests, cache, named, reporter)


def near_duplicate_groups(
    paths: Sequence[Path],
    digests: Sequence[str],
    cache_dir: str | Path | None,
    classes_of: Sequence[str] | None = None,
    reporter: Reporter | None = None,
) -> list[int]:
    """Each image's near-duplicate group, numbered from 0 in order of first appearance: the
    groups ``split`` kept together, as the manifest of the split folder holding the images
    records them (``manifest.recorded_groups``: with a ``groups`` file's groups and the
    ``burst_seconds`` that split was given; ``add`` records its images' so). The images no
    manifest records (added by hand; a split before it recorded groups; a file changed since) are
    grouped here (:func:`grouped_here`), and join a recorded group where they duplicate one of its
    images. A score over 75 frames of 14 scenes rests on 14 distinct photos, and evaluate says
    so."""
    from objrec.grouping import join_groups
    from objrec.manifest import recorded_groups

    if not paths:
        return []
    recorded = recorded_groups(paths, digests)
    keys = [f"split {group}" for group in recorded if group is not None]
    if len(keys) < len(paths):
        here = grouped_here(paths, digests, cache_dir, classes_of, reporter)
        alone = {key for key, group in zip(here, recorded, strict=True) if group is None}
        own = {
            path: f"split {group}" if group else f"here {key}"
            for path, group, key in zip(paths, recorded, here, strict=True)
        }
        links = {path: key for path, key in zip(paths, here, strict=True) if key in alone}
        keys = list(join_groups(own, links)[0].values())
    numbers: dict[str, int] = {}
    return [numbers.setdefault(key, len(numbers)) for key in keys]


MEASURING_FACTS = "measuring the images for near-duplicates"
"""The task of decoding (small) each image a split did not measure, for its perceptual hashes:
21 s of silence for 800 new photos (review49b MEDIUM 5); none for a split's own images."""


def grouped_here(
    paths: Sequence[Path],
    digests: Sequence[str],
    cache_dir: str | Path | None,
    classes_of: Sequence[str] | None = None,
    reporter: Reporter | None = None,
) -> list[str]:
    """Each image's placing key as ``split`` would give it by default: byte-identical files and
    those its perceptual hashes link (``grouping.near_groups``, from the image facts the cache
    folder keeps by ``digests``, the feature store's: a split measured them, the others are
    measured now, at a small size), and a burst: one camera's photos of one class (``classes_of``,
    each image's) within split's default ``burst_seconds`` by their EXIF
    (``grouping.burst_keys``). ``reporter`` is shown the measuring (:data:`MEASURING_FACTS`) and
    the search (every image against every other but those a split compared: ``near_pairs``)."""
    from objrec import dedup
    from objrec.grouping import burst_keys, near_groups

    facts_file = open_cache(cache_dir).facts_file
    reporter = or_silent(reporter)
    with reporter.task(MEASURING_FACTS, len(paths)) as advance:  # minutes for a new folder
        facts = dedup.cached_facts(list(paths), list(digests), facts_file, lambda: advance(1))
    files: dict[str, list[Path]] = {}
    for path, name in zip(paths, classes_of or [""] * len(paths), strict=True):
        files.setdefault(name, []).append(path)
    hashes = dict(zip(paths, digests, strict=True))
    facts_of = dict(zip(paths, facts, strict=True))
    with passes_from_first_step(reporter, COMPARE_PASSES) as on_row:
        keys = near_groups(files, hashes, facts_of, on_row=on_row, kept=facts_file)
    seconds = SplitConfig().burst_seconds
    keys = burst_keys(files, keys, seconds, digests=hashes, kept=facts_file)[0]
    return [keys[p] for p in paths]


def distinct_per_class(
    labels: torch.Tensor, groups: Sequence[int], classes: Sequence[str]
) -> dict[str, int]:
    """How many distinct photos (near-duplicate ``groups``) each class's images are."""
    pairs = {(int(label), group) for label, group in zip(labels.tolist(), groups, strict=True)}
    return dict(Counter(classes[label] for label, _ in pairs))


def log_evaluation(run: Path, result: EvaluationResult) -> None:
    """The evaluation's top-1, then what to read it with: classes of very few images, the run's
    own images among those evaluated."""
    log.info("evaluated %s on %s: top1 %.4f", run, result.folder, result.metrics["top1"])
    warn_few_images(result, run)
    log_result_warnings(log, [result.warning] if result.warning else [])


def add_top1_interval(per_class: pd.DataFrame) -> pd.DataFrame:
    """``per_class`` with ``top1_low`` and ``top1_high`` after ``top1``: the 95% Wilson interval
    of each class's top-1 on its distinct images (``n_groups``), the one the overall top-1 gets
    (``metrics.wilson_interval``)."""
    from objrec.metrics import wilson_interval

    if "top1" in per_class and "top1_low" not in per_class:
        bounds = [
            wilson_interval(float(top1), int(n))
            for top1, n in zip(per_class["top1"], per_class["n_groups"], strict=True)
        ]
        at = per_class.columns.get_loc("top1") + 1
        per_class.insert(at, "top1_low", [round(low, 4) for low, _ in bounds])
        per_class.insert(at + 1, "top1_high", [round(high, 4) for _, high in bounds])
    return per_class


def mark_too_few(per_class: pd.DataFrame, distinct: dict[str, int] | None = None) -> pd.DataFrame:
    """``per_class`` with ``n_groups`` and ``too_few_to_trust`` after ``n_test``: the distinct
    photos among the class's images (``distinct``: near-duplicates, such as a burst's frames,
    count once; without it, every image is one), and whether they are fewer than
    :data:`FEWEST_TO_TRUST`, the classes :func:`warn_few_images` names, so that ``per_class.csv``
    (and ``--json``'s rows) say it beside a top-1 of 100% from one photo (or its five frames);
    then each top-1's interval (:func:`add_top1_interval`)."""
    if "n_test" in per_class:  # a table of no class has no columns
        at = per_class.columns.get_loc("n_test") + 1
        counts = per_class["n_test"] if distinct is None else per_class["class"].map(distinct)
        per_class.insert(at, "n_groups", counts.astype(int))
        per_class.insert(at + 1, "too_few_to_trust", too_few_to_trust(per_class))
    return add_top1_interval(per_class)


def warn_few_images(result: EvaluationResult, run: Path | None = None) -> None:
    """Say which classes' per-class results rest on very few distinct images
    (``few_image_classes``), each with its count, so that a top-1 of 0.0 from one image (or from
    the frames of one burst) is not read as a measurement. With ``evaluate --against``, the
    sentence names the ``run`` it is about."""
    few = result.few_image_classes
    if not few:
        return
    whose = f" of {run}" if result.against is not None and run is not None else ""
    table = result.per_class.set_index("class")
    log.warning(
        "per-class results of %s%s rest on fewer than %d distinct images each, too few to "
        "trust: %s",
        plural(len(few), "class", "classes"),
        whose,
        FEWEST_TO_TRUST,
        grouped({name: image_count(table, name) for name in few}),
    )


def image_count(per_class: pd.DataFrame, name: str) -> str:
    """A class's images, and its distinct ones when fewer: ``5 images, 1 distinct``."""
    n, distinct = int(per_class.loc[name, "n_test"]), int(per_class.loc[name, "n_groups"])
    return with_distinct(n, distinct, "image")


def untaught_images(
    target: Path, classes: Sequence[str], later_classes: Collection[str] = ()
) -> dict[str, list[Path]]:
    """The images of ``target``'s class folders that are not among the model's ``classes`` (a
    class ``add_images`` brought in after the run was trained), by class folder. A folder named
    like a taught class (``gren`` beside ``green``) is not one: a misspelling, which
    :func:`scan_class_folder` refuses, naming the class it is likely meant to be; unless it is
    one of the ``later_classes`` of the run compared with (``EarlierRun``: ``reds`` beside
    ``red``)."""
    taught = {class_of_folder(name) for name in classes}
    later = {class_of_folder(name) for name in later_classes}
    untaught: dict[str, list[Path]] = {}
    for name, folders in class_folders(target).items():
        if name in taught or (name not in later and close_match(name, classes)):
            continue
        if files := [f for folder in folders for f in list_images(folder)]:
            untaught[name] = files
    return untaught


def refuse_none_taught(
    target: Path, images: ClassFolder, untaught: dict[str, list[Path]], n_classes: int
) -> None:
    """Refused in one sentence: ``target`` holds no image of the model's classes, only of class
    folders it was not taught (``untaught``), so nothing to measure. A held-out ``test/`` kept
    alone is one: without ``train/`` and ``valid/`` beside it, it is no split folder, so ``test``
    was taken for a class (a KeyError from pandas, sorting an empty table, before). A folder of
    empty class folders only is said to be that."""
    if images.samples:
        return
    if not untaught:  # its class folders hold no image at all (each said in a warning)
        raise ObjrecError(f"{target} holds no images: its class folders are empty")
    named = some_of(
        [f"{quoted(name)} ({plural(len(files), 'image')})" for name, files in untaught.items()],
        quote=False,
    )
    message = (
        f"{target} holds no images of the model's {plural(n_classes, 'class', 'classes')}, only "
        f"of class folders it was not taught: {named}"
    )
    split = next((name for name in SPLITS if name in untaught), None)
    if split is not None:
        message += (
            f"; {target} is no split folder (it has no train/ and valid/), so {split} was taken "
            f"for a class: give the folder of the images itself, {target / split}"
        )
    raise ObjrecError(message)


def flag_untaught(
    result: EvaluationResult,
    model: tuple[Path, Recognizer],
    untaught: dict[str, list[Path]],
    config: EvaluateConfig,
    reporter: Reporter,
    compared: bool = False,
) -> None:
    """Into ``result``: the ``untaught`` class folders' image counts and how many of their images
    the ``model`` (its run, and the run loaded) answered "unknown" (as ``predict`` would: the
    run's unknown score and threshold); one warning naming them and the run, only information
    when the run is the one ``evaluate --against`` compares with (``compared``): the comparison
    names those classes itself."""
    run, recognizer = model
    result.untaught = {name: len(files) for name, files in untaught.items()}
    if not untaught:
        return
    if recognizer.threshold is not None:
        samples = tuple(Sample(f, 0) for files in untaught.values() for f in files)
        images = ClassFolder(Path(result.folder or "."), ("untaught",), samples)
        tables = view_tables(recognizer, images, "untaught", replace(config, tta=False), reporter)
        if bool(tables[0].ok.any()):
            result.untaught_unknown = int(unknown_answers(recognizer, tables).unknown.sum())
    level = logging.INFO if compared else logging.WARNING
    log.log(level, "%s", untaught_warning(result, recognizer.threshold is not None, run))


def untaught_warning(result: EvaluationResult, has_threshold: bool, run: Path) -> str:
    """The sentence naming the classes the model of ``run`` was not taught that the folder has,
    and the run: ``evaluate --against`` evaluates two runs, of which either may lack one."""
    return (
        f"{result.folder} has {plural(len(result.untaught), 'class folder')} that {run} was not "
        "taught, left out of every score: "
        f"{untaught_words(result.untaught, result.untaught_unknown, has_threshold)} (train again "
        "to teach them; `evaluate(new_run, data, against=old_run)` compares a run taught them "
        "with this one, on the classes both know)"
    )


def untaught_words(untaught: Mapping[str, int], unknown: int | None, has_threshold: bool) -> str:
    """The class folders a model was not taught (``untaught``: their images) and how many of
    their images it answered "unknown" (``unknown``), as evaluate's warning, the report's page
    and the model card say them."""
    named = ", ".join(f"{quoted(name)} ({plural(n, 'image')})" for name, n in untaught.items())
    total = plural(sum(untaught.values()), "image")
    if unknown is not None:
        flagged = f'the model answered {unknown} of these {total} "unknown"'
    elif has_threshold:
        flagged = "none of their images could be read"
    else:
        flagged = 'the run has no "unknown" answer to flag them with'
    return f"{named}; {flagged}"


def untaught_note(metrics: Mapping[str, Any], what: str) -> str:
    """One sentence, from an evaluation's ``metrics.json``, naming the class folders of ``what``
    (``the test split``) the model was not taught, left out of every score, as evaluate warns of
    them; "" when none (the report's page and the model card were silent, beside a top-1 of the
    other classes' images only)."""
    untaught = {str(k): int(v) for k, v in dict(metrics.get("untaught_classes") or {}).items()}
    if not untaught:
        return ""
    unknown, has_threshold = metrics.get("untaught_unknown"), metrics.get("unknown_threshold")
    words = untaught_words(untaught, unknown, has_threshold is not None)
    folders = plural(len(untaught), "class folder")
    return f"{what} has {folders} the model was not taught, left out of every score: {words}."


def record_provenance(
    result: EvaluationResult, model: str, unreadable: list[str], digests: Iterable[str]
) -> None:
    """What ``result`` was measured on, into it: the images left out as ``unreadable``, the
    ``model``'s digest (of the bytes loaded, ``Recognizer.model_digest``: a retrain renaming its
    model over the file during the evaluation was credited with this model's figures), and the
    fingerprint of the evaluated images (their store ``digests``, in the order of
    ``result.predictions``) with their labels."""
    result.unreadable, result.model = unreadable, model
    labels = [] if result.predictions is None else list(result.predictions["true"])
    result.image_set = image_set_fingerprint(list(digests), labels)


def mark_seen(
    result: EvaluationResult,
    recognizer: Recognizer,
    paths: list[Path],
    config: EvaluateConfig,
    run: Path,
) -> list[str]:
    """Which evaluated images are the run's own training or validation images (by the record
    ``train`` left in ``run``'s folder, beside the checkpoint): ``result.seen`` is set, and the
    predictions' ``seen_in`` column (the split, or "") returned."""
    cache = config.cache_dir or recognizer.meta.cache_dir
    folder = run if run.is_dir() else run.parent
    store = open_cache(cache).store
    result.seen = seen_images(recognizer.meta.data_dir, paths, store, run=folder)
    open_cache(cache).close()  # lets `objrec cache --prune` go on
    seen_in = {path: split for split, found in result.seen.items() for path in found}
    return [seen_in.get(str(p), "") for p in paths]


NEAR_SEEN_PASSES = (
    "comparing with the run's own images",
    "comparing with them turned and trimmed",
    "comparing with their crops",
)
"""The passes of the search for near-duplicates of the run's own images (``COMPARE_PASSES``'s)."""


def mark_near_seen(
    result: EvaluationResult,
    recognizer: Recognizer,
    found: tuple[list[Path], list[str]],
    config: EvaluateConfig,
    where: tuple[Path, Reporter],
) -> None:
    """Which evaluated images (``found``: paths, content digests) are near-duplicates of the
    run's own training or validation images without being byte copies (``leakage.near_seen``):
    ``result.near_seen``. A user's re-exported copies of training photos scored "top-1 100%"
    with no warning (review49b MEDIUM 3). Looked for only in a folder outside the run's data
    folder (whose split kept near-duplicates in one split), by the run's record of its images
    (``SEEN_RECORD``: a run of an older objrec has none) and the image facts the cache folder
    keeps of them (a split with it measured them): where it keeps none, they are not compared,
    and the log says so. ``where``: the run, and the reporter shown the search."""
    run, reporter = where
    data_dir = recognizer.meta.data_dir
    inside = data_dir and result.folder and result.folder.is_relative_to(Path(data_dir).resolve())
    known = None if inside else read_seen(run if run.is_dir() else run.parent)
    if not known:
        return
    cache = open_cache(config.cache_dir or recognizer.meta.cache_dir)
    with passes_from_first_step(reporter, NEAR_SEEN_PASSES) as on_row:
        near, unmeasured = near_seen(found[1], known, cache.facts_file, on_row)
    if unmeasured:
        log.info(
            "near-duplicates of %d of the run's own images not looked for: the cache folder %s "
            "keeps no image facts of them (a split or an audit with it measures them)",
            unmeasured,
            cache.root,
        )
    for i, split in near.items():
        result.near_seen.setdefault(split, []).append(str(found[0][i]))


def refuse_early(run: Path, folder: Path, out: Path | None, config: EvaluateConfig) -> None:
    """What is refused before the model is loaded or any image read: an ``out`` inside
    ``folder``, an ``unknown`` folder without images, an ``against`` that is no run or holds
    ``run``'s model."""
    if out is not None:
        refuse_inside(out, folder)
    if config.unknown is not None:
        unknown_images(Path(config.unknown))
    if config.against is not None:
        require_earlier_run(Path(config.against), run)


def add_confidence(
    result: EvaluationResult,
    recognizer: Recognizer,
    known: tuple[Answers, torch.Tensor, torch.Tensor],
    config: EvaluateConfig,
    reporter: Reporter,
) -> None:
    """Calibration (ECE, reliability tables) and the unknown answer's figures, into ``result``;
    ``known``: the answers, uncalibrated probabilities and labels of the evaluated images."""
    answers, uncalibrated, labels = known
    photos = distinct_photos(result.per_class)
    result.metrics |= calibration_metrics(recognizer, answers, uncalibrated, labels, photos)
    result.reliability = {
        "before calibration": reliability_table(uncalibrated, labels),
        f"after (temperature {recognizer.temperature:.3f})": reliability_table(
            answers.probs, labels
        ),
    }
    if config.unknown is not None:
        result.metrics["open_set"] = open_set_measured(
            recognizer, (answers, labels), config, reporter, photos
        )


def open_set_measured(
    recognizer: Recognizer,
    known: tuple[Answers, torch.Tensor],
    config: EvaluateConfig,
    reporter: Reporter,
    photos: dict[str, int] | None,
) -> dict[str, Any]:
    """``evaluate --unknown``'s figures (:func:`open_set_result`) of the ``known`` images
    (answers, labels; ``photos``, each class's distinct photos) against the ``unknown`` folder's,
    with the stricter threshold the run's validation images offer, or why none is."""
    folder = Path(str(config.unknown))
    unknown = unknown_answers(recognizer, unknown_tables(recognizer, folder, config, reporter))
    open_set = open_set_result(recognizer, known[0], unknown)
    valid = valid_images(recognizer, config, reporter)
    found = valid if isinstance(valid, ValidImages) else None
    open_set["stricter"] = stricter_result(recognizer, known, unknown, found, photos)
    if not open_set["stricter"]:
        scores, why = (found.scores, "") if found is not None else (None, str(valid))
        open_set["no_stricter"] = no_stricter(recognizer, scores, why)
    else:
        open_set["no_stricter"] = None
    open_set["folder"] = str(folder.resolve())  # report measures it again
    return open_set


def distinct_photos(per_class: pd.DataFrame) -> dict[str, int] | None:
    """Each class's distinct photos (``per_class``'s ``n_groups``: near-duplicates, such as a
    burst's frames, counted once), for the rows of :func:`unknown_by_class`; None for a table of no
    class."""
    if "n_groups" not in per_class:
        return None
    return {str(c): int(n) for c, n in zip(per_class["class"], per_class["n_groups"], strict=True)}


def view_tables(
    recognizer: Recognizer,
    images: ClassFolder,
    name: str,
    config: EvaluateConfig,
    reporter: Reporter,
) -> list[FeatureTable]:
    """The features of ``images`` in each of the recognizer's views, from the feature store
    (in the dtype the run's features were stored in), computed on the recognizer's device."""
    frozen = recognizer.frozen_body(config.cache_dir)
    num_workers = loader_settings(recognizer.device, config.num_workers).num_workers
    views = recognizer.view_names(config.tta)
    digested = digested_for_each_view(frozen.cache.store, images.samples, len(views))
    return [
        feature_table(
            frozen,
            images.samples,
            ViewSpec(recognizer.data, tta=view),
            PassSettings(
                num_workers=num_workers, reporter=reporter, description=view_label(name, view)
            ),
            digested=digests,
        )
        for view, digests in zip(views, digested, strict=True)
    ]


def view_label(images: str, view: str) -> str:
    """The progress bar's name for the features of ``images`` (``test``, ...) in ``view``, as
    ``train`` names its own: ``test features``, ``test features (flip)``."""
    return f"{images} features" if view == "centre" else f"{images} features ({view})"


def table_answers(
    recognizer: Recognizer,
    tables: list[FeatureTable],
    ok: torch.Tensor,
    batch: int = 1024,
    advance: Callable[[int], object] = lambda n: None,
) -> tuple[Answers, torch.Tensor, torch.Tensor]:
    """The recognizer's answers for the images ``ok``, from every view's features, read batch by
    batch; its probabilities from the first (plain) view alone; and its probabilities before
    calibration: all three from one pass of the head and the familiarity score over each batch
    (three passes: 17.4 s against 6.4 s for the 100-class protocol's 1,542 test images on a
    loaded 2-core machine, ``benchmarks/answered_once.py``); ``advance(n)`` told of each batch's
    ``n`` images once answered."""
    where = torch.nonzero(ok).flatten().split(batch) or (torch.empty(0, dtype=torch.long),)
    parts = []
    for idx in where:
        outputs = recognizer.outputs_from_features([table.read(idx.numpy()) for table in tables])
        plain = recognizer.combine([outputs[0][0]])
        parts.append((recognizer.decide(outputs), plain, recognizer.uncalibrated(outputs)))
        advance(len(idx))
    answers = Answers(
        *(torch.cat([getattr(a, f) for a, _, _ in parts]) for f in ("probs", "scores", "unknown"))
    )
    return answers, torch.cat([p for _, p, _ in parts]), torch.cat([u for _, _, u in parts])


def calibration_metrics(
    recognizer: Recognizer,
    answers: Answers,
    uncalibrated: torch.Tensor,
    labels: torch.Tensor,
    photos: dict[str, int] | None = None,
) -> dict[str, Any]:
    """ECE and loss before and after the run's temperature, the ECE exactly calibrated
    probabilities would show here by chance; the unknown threshold's cost on these images, by
    class (``photos``: each class's distinct photos, :func:`unknown_by_class`)."""
    metrics: dict[str, Any] = {
        "temperature": recognizer.temperature,
        "ece_before_calibration": expected_calibration_error(uncalibrated, labels),
        "ece": expected_calibration_error(answers.probs, labels),
        "ece_by_chance": ece_by_chance(answers.probs),
        "nll_before_calibration": mean_nll(uncalibrated, labels),
        "nll": mean_nll(answers.probs, labels),
        "unknown_score": recognizer.unknown_score,
        "unknown_threshold": recognizer.threshold,
        "unknown_score_readable": recognizer.readable_score,
        "unknown_threshold_kept_on": recognizer.threshold_kept_on,
        "unknown_threshold_images": recognizer.threshold_images,
    }
    if recognizer.threshold is not None:
        kept = accuracy_at_threshold(answers.probs, labels, answers.scores, recognizer.threshold)
        metrics["known_kept"] = kept["kept"]
        metrics["top1_at_threshold"] = kept["top1_at_threshold"]
        classes = recognizer.classes
        metrics["unknown_by_class"] = unknown_by_class(answers.unknown, labels, classes, photos)
    return metrics


def unknown_by_class(
    unknown: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    photos: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Each class with an evaluated image said to be unknown (``unknown``: one bool per image,
    ``labels`` its class): ``class``, its ``images``, its distinct ``photos`` (``photos``, the
    per-class table's ``n_groups``: a burst's frames count once; without it, every image is one)
    and how many were said ``unknown``, the largest share first. The share of all images hid
    where it falls: on the classes of fewest photos (a newcomer's 4 test ants: 2 said unknown at
    the run's threshold, 4 at the stricter one evaluate recommended, while 0 of the 237 of the
    three largest classes were)."""
    rows = []
    for index, name in enumerate(classes):
        mine = labels == index
        said = int((unknown.bool() & mine).sum())
        if said:
            images = int(mine.sum())
            distinct = images if photos is None else photos.get(name, images)
            rows.append({"class": name, "images": images, "photos": distinct, "unknown": said})
    return sorted(rows, key=lambda r: (-r["unknown"] / r["images"], -r["unknown"], r["class"]))


def mostly_unknown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The classes of :func:`unknown_by_class`'s ``rows`` of which half or more of the images
    (two at least) were said to be unknown: in use, those would often get no answer."""
    return [r["class"] for r in rows if r["images"] > 1 and 2 * r["unknown"] >= r["images"]]


def judged(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of :func:`unknown_by_class` of classes of :data:`FEWEST_TO_TRUST` distinct photos
    or more (``photos``; ``images`` in a row of an older ``metrics.json``): those of fewer are too
    few to judge by, as their per-class results are too few to trust (``enough.too_few_to_trust``:
    5 frames of one burst are one photo, in both)."""
    return [r for r in rows if r.get("photos", r["images"]) >= FEWEST_TO_TRUST]


def mostly_unknown_words(rows: Sequence[dict[str, Any]], stricter: bool = False) -> str:
    """The classes of :func:`mostly_unknown`, each with its count (``bonsai 1 of 2``), in words
    (``stricter``: at the stricter threshold), those of fewer than :data:`FEWEST_TO_TRUST` photos
    said too few to judge by, as their per-class results are said too few to trust: a catalogue
    of 2 test photos a class was told "half or more of the images of bonsai, cup, wheelchair are
    said to be unknown: in use, those classes would often get no answer" of 1 photo of 2 each
    (persona39c). At the stricter threshold, that those do not count against it
    (:func:`stricter_result`). "" when no class is."""
    most, enough = set(mostly_unknown(rows)), {r["class"] for r in judged(rows)}
    few = {r["class"]: r for r in rows if r["class"] in most and r["class"] not in enough}
    said = {r["class"]: r for r in rows if r["class"] in most and r["class"] in enough}
    lead, verb = ("with it, ", "would be") if stricter else ("", "are")
    words = []
    if said:
        those = "that class" if len(said) == 1 else "those classes"
        words.append(
            f"{lead}half or more of the images of {unknown_counts(said)} {verb} said to be "
            f"unknown: in use, {those} would often get no answer"
        )
    if few:
        counts = unknown_counts(few)
        named = f"{counts} too" if said else f"{lead}half or more of the images of {counts}"
        named += "" if said else f" {verb} said to be unknown"
        words.append(
            f"{named}, but fewer than {plural(FEWEST_TO_TRUST, 'distinct photo')} a class are too "
            "few to judge by (as their per-class results)"
            + (", and do not count against it" if stricter else "")
        )
    return "; ".join(words)


def unknown_counts(rows: dict[str, dict[str, Any]]) -> str:
    """Classes with how many of their images were said unknown, one count said once for the
    classes that share it: ``bonsai, cup (1 of 2 each); ant (2 of 4)``."""
    return grouped({name: unknown_count(r) for name, r in rows.items()})


def unknown_count(row: dict[str, Any]) -> str:
    """A row of :func:`unknown_by_class` as :func:`unknown_counts` says it: ``2 of 4``, with its
    distinct photos when fewer than its images (``3 of 5, 1 distinct``)."""
    count, photos = f"{row['unknown']} of {row['images']}", row.get("photos", row["images"])
    return count if photos >= row["images"] else f"{count}, {photos} distinct"


def unknown_images(folder: Path) -> list[Path]:
    """The image files under ``folder`` (the ``unknown`` option); refused when there are none.
    A file is a reviewed ``predict --csv`` table: the photos it labels unknown
    (``labels.unknown_photos``), those a person set aside as of none of the classes."""
    if is_image_file(folder):  # read as a table, it was "not a labels table in UTF-8"
        raise ObjrecError(
            f"`unknown` {folder} is a photo: give the folder that holds your photos of none of "
            "the classes, or the table `predict(run, photos, csv=file)` wrote with a label "
            "column saying which are unknown"
        )
    if folder.is_file():
        from objrec.labels import unknown_photos

        return unknown_photos(folder)
    files = list_images(folder) if folder.is_dir() else []
    if not files:
        raise ObjrecError(f"`unknown` {folder} holds no images")
    return files


def refuse_unknown_of_classes(config: EvaluateConfig, classes: Sequence[str]) -> None:
    """Refused before any image is read: an ``unknown`` folder with sub-folders named as the
    model's ``classes`` (its data folder's ``test/`` given by mistake). Its photos were counted
    as strangers the model missed, "0 of 40 caught", without a word (review49b LOW 6)."""
    folder = Path(config.unknown) if config.unknown is not None else None
    if folder is None or not folder.is_dir():
        return
    taught = {class_of_folder(name) for name in classes}
    with os.scandir(folder) as entries:
        named = [e.name for e in entries if e.is_dir() and class_of_folder(e.name) in taught]
    if named:
        raise ObjrecError(
            f"`unknown` {folder} has {plural(len(named), 'folder')} named as the model's classes "
            f"({some_of(sorted(named))}): it is for photos of none of its classes; give a folder "
            "of those only"
        )


OWN_IMAGES = {
    "train": "run's own training images",
    "valid": "run's own validation images",
    "evaluated": "images evaluated",
}
"""What :func:`refuse_known_unknown` calls each kind of the run's own images."""


def refuse_known_unknown(
    run: Path, recognizer: Recognizer, evaluated: Sequence[str], config: EvaluateConfig
) -> None:
    """Refused before the ``unknown`` folder's pass: one holding the run's own training or
    validation images (its record, ``leakage.known_hashes``) or the ``evaluated`` images (their
    content digests), photos of its classes that its figures would count as strangers the model
    missed (review49b LOW 6). Its files are hashed through the feature store's file index, as
    their pass would hash them: read once."""
    if config.unknown is None:
        return
    files = unknown_images(Path(config.unknown))
    cache = open_cache(config.cache_dir or recognizer.meta.cache_dir)
    try:
        digests = cache.store.readable_digests(files)[0]
        own = dict.fromkeys(filter(None, evaluated), "evaluated")
        folder = run if run.is_dir() else run.parent
        own |= known_hashes(folder, recognizer.meta.data_dir, cache.store)
    finally:
        cache.close()  # lets `objrec cache --prune` go on, as mark_seen's does
    found = [(path, own[d]) for path, d in zip(files, digests, strict=True) if d in own]
    if found:
        counts = Counter(kind for _, kind in found)
        kinds = [f"{n} of the {OWN_IMAGES[k]}" for k, n in counts.most_common()]
        raise ObjrecError(
            f"`unknown` {config.unknown} holds {plural(len(found), 'photo')} of the model's "
            f"classes, {joined(kinds)} (such as {found[0][0]}): it is for photos of none of its "
            "classes, which its figures count as strangers; give a folder of those only"
        )


def unknown_tables(
    recognizer: Recognizer, folder: Path, config: EvaluateConfig, reporter: Reporter
) -> list[FeatureTable]:
    """The features of every image under ``folder`` (classes the model was not taught)."""
    files = unknown_images(folder)
    images = ClassFolder(folder, ("unknown",), tuple(Sample(f, 0) for f in files))
    tables = view_tables(recognizer, images, "unknown", config, reporter)
    report_unreadable(tables)
    require_readable(tables[0], folder)
    return tables


def unknown_answers(recognizer: Recognizer, tables: list[FeatureTable]) -> Answers:
    """The recognizer's answers for the readable images of the unknown folder's ``tables``."""
    ok = torch.stack([t.ok for t in tables]).all(0)
    return table_answers(recognizer, tables, ok)[0]


def open_set_result(recognizer: Recognizer, known: Answers, unknown: Answers) -> dict[str, Any]:
    """How well the unknown score tells the evaluated images (``known``, the positives) from the
    unknown folder's: AUROC and FPR at 95% TPR (``open_set_metrics``). With a threshold, also
    the share of unknown images it still accepts (``unknown_accepted``) and the classes those
    were answered as, with their counts, most first (``unknown_answered_as``): the share alone
    does not show that one class (a catch-all such as "empty") takes most of them."""
    result = open_set_metrics(known.scores, unknown.scores)
    if recognizer.threshold is not None:
        missed = ~unknown.unknown.bool()
        result["unknown_accepted"] = float(missed.double().mean())
        top = unknown.probs[missed].argmax(dim=1).tolist() if bool(missed.any()) else []
        counts = Counter(recognizer.classes[i] for i in top)
        result["unknown_answered_as"] = dict(counts.most_common())
    return result


@dataclass(frozen=True)
class ValidImages:
    """The run's own validation images, on which a stricter threshold is chosen and judged: each
    one's unknown ``scores`` (centre view, as the run's threshold was chosen on them), its class
    (``labels``), and each class's distinct ``photos`` (None: every image one)."""

    scores: torch.Tensor
    labels: torch.Tensor
    photos: dict[str, int] | None = None


def valid_images(
    recognizer: Recognizer, config: EvaluateConfig, reporter: Reporter
) -> ValidImages | str:
    """The run's own validation images (:class:`ValidImages`), read from the feature store, those
    of class folders it was not taught left out (``add`` of a new class puts some there), as the
    evaluated folder's are; else why there are none, in words that follow "and" ("" for a run
    that answers no "unknown"): it said "could not be read (moved, or its classes changed)" of a
    folder there and readable (review49b LOW 7). Their distinct photos are counted
    (near-duplicates grouped) only when they offer a stricter threshold
    (:func:`stricter_result`), which alone reads them."""
    folder = Path(recognizer.meta.data_dir or "") / "valid"
    if recognizer.threshold is None:
        return ""
    if not recognizer.meta.data_dir:
        return "the run does not name its split folder"
    if not folder.is_dir():
        return f"{folder} is not there (moved, or removed)"
    try:
        untaught = untaught_images(folder, recognizer.classes)
        images = scan_class_folder(folder, recognizer.classes, leave_out=untaught)
    except ObjrecError as exc:
        return f"{folder} could not be read: {exc}"
    tables = view_tables(recognizer, images, "valid", replace(config, tta=False), reporter)
    ok = tables[0].ok
    if not bool(ok.any()):
        return f"none of the images of {folder} could be read"
    labels, scores = tables[0].labels[ok], table_answers(recognizer, tables, ok)[0].scores
    stricter = keeping_threshold(scores)
    if stricter is None or stricter <= recognizer.threshold:  # no stricter one to judge
        return ValidImages(scores, labels)
    _, _, groups = readable_groups(recognizer, images.samples, tables[0], ok, config)
    return ValidImages(scores, labels, distinct_per_class(labels, groups, recognizer.classes))


def stricter_result(
    recognizer: Recognizer,
    known: tuple[Answers, torch.Tensor],
    unknown: Answers,
    valid: ValidImages | None,
    photos: dict[str, int] | None = None,
) -> dict[str, Any] | None:
    """The threshold that keeps ``KEEP_KNOWN`` of the run's ``valid`` images (chosen on them, as
    the run's own threshold was; ``keeping_threshold``) and whether objrec recommends it, judged
    on them too and on the ``unknown`` folder's (``confidence.threshold_trade``; the strangers
    have no other images): never when it ``silences`` a class (:func:`silenced_classes`). Its
    figures on the evaluated ``known`` images (answers, labels; ``photos``, each class's distinct
    photos) are measured and reported, never weighed: the recommendation had weighed the test
    images it newly called unknown, so a test split chose the threshold a later evaluation of it
    measured (stats41). None when it is not above the threshold in use."""
    if valid is None or recognizer.threshold is None:
        return None
    threshold = keeping_threshold(valid.scores)
    if threshold is None or threshold <= recognizer.threshold:
        return None
    answers, labels = known
    scores = answers.scores.double()
    kept = accuracy_at_threshold(answers.probs, labels, scores, threshold)
    by_class = unknown_by_class(scores < threshold, labels, recognizer.classes, photos)
    measured = threshold_trade(answers.scores, unknown.scores, recognizer.threshold, threshold)
    trade = threshold_trade(valid.scores, unknown.scores, recognizer.threshold, threshold)
    valid_by_class, silences = silenced_classes(
        recognizer.classes, valid, (recognizer.threshold, threshold)
    )
    return {
        "threshold": threshold,
        "keep_valid": KEEP_KNOWN,
        "valid_kept": float((valid.scores.double() >= threshold).double().mean()),
        "valid_images": len(valid.scores),
        "valid_rejected_now": trade["known_rejected_now"],
        "valid_rejected": trade["known_rejected"],
        "valid_unknown_by_class": valid_by_class,
        "known_kept": kept["kept"],
        "top1_at_threshold": kept["top1_at_threshold"],
        "unknown_accepted": float((unknown.scores.double() >= threshold).double().mean()),
        "unknown_by_class": by_class,
        "known_rejected_now": measured["known_rejected_now"],
        "known_rejected": measured["known_rejected"],
        "unknown_caught_now": trade["unknown_caught_now"],
        "unknown_caught": trade["unknown_caught"],
        "silences": silences,
        "recommended": trade["recommended"] and not silences,
    }


def silenced_classes(
    classes: Sequence[str], valid: ValidImages, thresholds: tuple[float, float]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``valid`` images the stricter of ``thresholds`` (the run's, the stricter) says unknown,
    by class (:func:`unknown_by_class`), and the classes it would leave mostly unanswered where
    the run's threshold did not: half or more
    of their validation images unknown (:func:`mostly_unknown`), of :data:`FEWEST_TO_TRUST`
    distinct photos or more (:func:`judged`: of 2, 1 is half). A newcomer's recommended one
    caught 36 points more strangers for 4.13 points of the test images, which were all 4 test
    ants and all 4 crabs: the model would have answered neither class."""
    (current, threshold), scores = thresholds, valid.scores.double()
    rows = unknown_by_class(scores < threshold, valid.labels, classes, valid.photos)
    now = set(mostly_unknown(unknown_by_class(scores < current, valid.labels, classes)))
    return rows, [name for name in mostly_unknown(judged(rows)) if name not in now]


def no_stricter(
    recognizer: Recognizer, valid: torch.Tensor | None, why: str = ""
) -> dict[str, Any]:
    """Why :func:`stricter_result` offered none, for ``--json`` and the line ``evaluate`` prints
    in its place (a newcomer read silence as a missing promise): ``reason`` is
    ``no_threshold`` (the run answers no "unknown"), ``no_validation_images`` (``valid_folder``
    unreadable: ``why``, :func:`valid_images`' words), ``few_validation_images`` (too few of
    them to reject one in twenty) or ``not_stricter`` (the threshold in use already keeps
    ``valid_kept`` of the ``valid_images``, no more than ``KEEP_KNOWN``)."""
    if recognizer.threshold is None:
        return {"reason": "no_threshold"}
    if valid is None:
        data_dir = recognizer.meta.data_dir
        folder = str(Path(data_dir) / "valid") if data_dir else None
        return {"reason": "no_validation_images", "valid_folder": folder, "why": why}
    reason = "few_validation_images" if keeping_threshold(valid) is None else "not_stricter"
    return {
        "reason": reason,
        "valid_images": len(valid),
        "valid_kept": float((valid.double() >= recognizer.threshold).double().mean()),
        "keep_valid": KEEP_KNOWN,
    }


def default_eval_dir(
    run: Path, data_dir: str | Path | None, target: Path, tta: bool = False
) -> Path:
    """``RUN/eval-<split>`` for a split of the run's own data folder, else a folder of its own.

    Another folder gets ``RUN/eval-<its name>-<8 hex digits of its absolute path>``, so that no
    two evaluated folders share an output folder; ``tta`` adds ``-tta``, so that an evaluation
    with test-time views never replaces the plain one (which ``report`` shows). ``run`` may be a
    checkpoint file: ``RUN/model.safetensors`` writes where its run folder would, another beside
    itself, named after it (``RUN/epoch3-eval-test``: ``meta.output_beside``).
    """
    target = Path(target).resolve()
    suffix = "-tta" if tta else ""
    if data_dir and target.parent == Path(data_dir).resolve() and target.name in SPLITS:
        return output_beside(run, f"eval-{target.name}{suffix}")
    name = f"{target.parent.name}-{target.name}" if target.name in SPLITS else target.name
    digest = hashlib.sha256(str(target).encode()).hexdigest()[:8]
    return output_beside(run, f"eval-{name}-{digest}{suffix}")


def check_eval_dir(
    run: Path, data_dir, target: Path, out: Path | None, force: bool, tta: bool = False
) -> Path:
    """The folder an evaluation of ``target`` is to write to, checked before any image is read
    (made only once there is something to put in it); never one holding something else.

    The default folder inside the run is refreshed by a new evaluation of the same folder; a
    folder of the user's must be new or empty, unless ``force``.
    """
    if out is not None:
        check_output_dir(out, force, names=OUTPUT_FILES)
        return Path(out)
    out = default_eval_dir(run, data_dir, target, tta)
    earlier = evaluated_folder(out)
    if earlier is not None and earlier != str(target.resolve()) and not force:
        raise ObjrecError(
            f"{out} holds {evaluation_of(out, earlier)}: pass `force=True` to "
            "replace it, or choose another `out`"
        )
    return out


def reliability_shown(
    tables: dict[str, pd.DataFrame], temperature: float | None
) -> dict[str, pd.DataFrame]:
    """The reliability tables to draw: both, before and after calibration, unless the temperature
    is 1 (to 3 decimals), when the two are the same and ``reliability.png`` showed two identical
    panels side by side; then the one, titled so. ``reliability.csv`` keeps both."""
    if temperature is None or f"{temperature:.3f}" != "1.000" or len(tables) != 2:
        return tables
    return {UNCHANGED: next(iter(tables.values()))}


UNCHANGED = "as the model gives them (temperature 1: unchanged)"
"""The title of ``reliability.png``'s one panel when calibration left the probabilities as they
are (:func:`reliability_shown`)."""


def evaluation_of(out: Path, earlier: str) -> str:
    """``an evaluation of FOLDER``, for the evaluation in ``out`` of ``earlier`` (its
    :func:`evaluated_folder`), or says that its ``metrics.json`` cannot be read (it is then
    unknown, not another folder's, review47b nit 7)."""
    if earlier:
        return f"an evaluation of {earlier}"
    try:
        json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return "an evaluation whose metrics.json cannot be read"
    return "an evaluation of another folder"


def evaluated_folder(out: Path) -> str | None:
    """The folder whose evaluation ``out`` holds ("" when unknown); None when it holds none."""
    if not out.is_dir() or not own_contents(out):  # what a killed first run left is none
        return None
    try:
        return str(json.loads((out / "metrics.json").read_text()).get("folder") or "")
    except (OSError, ValueError):
        return ""


def prediction_table(paths, logits: torch.Tensor, labels: torch.Tensor, classes) -> pd.DataFrame:
    """One row per image: its path, true and predicted class, probabilities and loss."""
    probs = logits.softmax(1)
    top = ranked(logits, 5)  # its first the answer every figure counts (metrics.answered)
    return pd.DataFrame(
        {
            "path": [str(p) for p in paths],
            "true": [classes[i] for i in labels.tolist()],
            "predicted": [classes[i] for i in top[:, 0].tolist()],
            "prob_predicted": probs.gather(1, top[:, :1])[:, 0].tolist(),
            "prob_true": probs[torch.arange(len(labels)), labels].tolist(),
            "loss": torch.nn.functional.cross_entropy(logits, labels, reduction="none").tolist(),
            "top5": ["|".join(classes[i] for i in row) for row in top.tolist()],
        }
    )


def answer_table(
    recognizer: Recognizer,
    paths: list[Path],
    known: tuple[torch.Tensor, torch.Tensor],
    answers: Answers,
) -> pd.DataFrame:
    """:func:`prediction_table` of the images ``paths`` (their ``known`` logits and labels), with
    the recognizer's ``answers``' unknown columns (:func:`add_unknown_columns`)."""
    table = prediction_table(paths, *known, recognizer.classes)
    threshold = (recognizer.threshold, recognizer.threshold_kept_on)
    add_unknown_columns(table, answers, familiarity_line(recognizer), threshold)
    return table


def add_unknown_columns(
    predictions: pd.DataFrame,
    answers: Answers,
    line: float | None,
    threshold: tuple[float | None, str | None],
) -> None:
    """As in ``predict --csv``: before ``predicted``, each image's ``answer`` (its top class, or
    "unknown" where ``predict`` would say so); after ``prob_predicted``, whether it was answered
    ``unknown``, whether it was answered though ``barely_familiar`` (empty when the run has no
    familiarity line), its unknown ``score``, and the ``threshold`` (and when it was kept with the
    run) it was judged by (``predict.threshold_cells``): ``predictions.csv`` showed no image the
    model would have called unknown, and a filter on ``predicted`` counted them as their closest
    class."""
    unknown, scores = answers.unknown.tolist(), answers.scores.tolist()
    barely = [barely_familiar(score, line, no) for score, no in zip(scores, unknown, strict=True)]
    said = [UNKNOWN if no else c for c, no in zip(predictions["predicted"], unknown, strict=True)]
    predictions.insert(predictions.columns.get_loc("predicted"), "answer", said)
    at = predictions.columns.get_loc("prob_predicted") + 1
    columns = {"unknown": unknown, "barely_familiar": barely, "score": scores}
    for offset, (name, values) in enumerate((columns | threshold_cells(*threshold)).items()):
        predictions.insert(at + offset, name, values)


def _tiles(rows: pd.DataFrame, folder: Path | None = None) -> list:
    """A gallery tile per row: the image, captioned with its file (relative to the evaluated
    ``folder``, shortened to fit) so that a person can find it and fix it, and its answer."""
    tiles = []
    for r in rows.itertuples():
        try:
            image = open_image(r.path, draft_size=256)
        except UnreadableImageError:
            continue
        name = plots.shortened(shown_name(r.path, [folder] if folder else []))
        caption = f"{name}\ntrue {r.true}\npredicted {r.predicted} ({r.prob_predicted:.0%})"
        if others := near_duplicate_words(r):
            caption += f"\n{others}"
        tiles.append((image, caption, r.true != r.predicted))
    return tiles


def top_losses(predictions: pd.DataFrame, n: int = 12) -> pd.DataFrame:
    """The ``n`` wrong predictions of highest loss, highest first, one per near-duplicate group
    (:func:`one_per_group`): a right answer is no failure, whatever its loss (``evaluate``'s
    ``top_losses.png`` and the report's Top losses alike)."""
    wrong = predictions[predictions["true"] != predictions["predicted"]]
    return one_per_group(wrong.nlargest(len(wrong), "loss"), predictions).head(n)


def worst_class_rows(
    predictions: pd.DataFrame, per_class: pd.DataFrame, classes: int, n: int = 4
) -> list[tuple[str, pd.DataFrame]]:
    """The ``n`` hardest images (right ones too) of each of the first ``classes`` classes of
    ``per_class`` (worst first) that have a wrong prediction, one per near-duplicate group
    (:func:`one_per_group`); none when every image is right."""
    wrong = predictions["true"] != predictions["predicted"]
    with_errors = set(predictions.loc[wrong, "true"])
    worst = [c for c in per_class["class"] if c in with_errors][:classes]
    rows = ((c, predictions[predictions["true"] == c]) for c in worst)
    return [(c, one_per_group(r.nlargest(len(r), "loss"), predictions).head(n)) for c, r in rows]


def one_per_group(rows: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """``rows`` of ``predictions`` (the most telling first) with only the first of each
    near-duplicate ``group``, and how many of ``predictions`` are its near-duplicates
    (``near_duplicates``) and how many of those were predicted wrong (``near_duplicates_wrong``):
    the top losses showed five frames of one burst as five failures. Without a ``group`` column
    (a ``predictions.csv`` written before it) every image is its own."""
    if "group" not in predictions:
        return rows.assign(near_duplicates=0, near_duplicates_wrong=0)
    wrong = (predictions["true"] != predictions["predicted"]).astype(int)
    size = predictions.groupby("group").size()
    wrongs = wrong.groupby(predictions["group"]).sum()
    kept = rows.drop_duplicates("group")
    own = (kept["true"] != kept["predicted"]).astype(int)
    return kept.assign(
        near_duplicates=kept["group"].map(size) - 1,
        near_duplicates_wrong=kept["group"].map(wrongs) - own,
    )


def near_duplicate_words(row: Any) -> str:
    """``+4 near-duplicates (3 wrong)`` for a gallery row of :func:`one_per_group` standing for
    its group; "" for an image with none."""
    others = int(getattr(row, "near_duplicates", 0))
    if not others:
        return ""
    return f"+{plural(others, 'near-duplicate')} ({int(row.near_duplicates_wrong)} wrong)"


OUTPUT_FILES = EVALUATION_FILES
"""What ``write_evaluation`` writes into an evaluation's folder (``eval-*`` in a run): what a forced
``train`` removes of an earlier model's evaluation (``runs.remove_derived``)."""


def write_galleries(
    result: EvaluationResult, predictions: pd.DataFrame, place: Callable[[str], Path], n: int = 12
) -> None:
    """``top_losses.png`` and ``worst_classes.png`` (where ``place(name)`` says): the images
    behind the numbers, only the wrong predictions and the classes that have one; each says so
    when every image is right."""
    errors = int((predictions["true"] != predictions["predicted"]).sum())
    title = "Top losses: the wrong predictions" + (
        f", the {n} of highest loss" if errors > n else ""
    )
    every = f"no wrong prediction: all {plural(len(predictions), 'image')} predicted right"
    folder = result.folder
    tiles = _tiles(top_losses(predictions, n), folder)
    plots.gallery(tiles, place("top_losses.png"), title, empty=every)
    worst = worst_class_rows(predictions, result.per_class, classes=4)
    rows = pd.concat([r for _, r in worst]) if worst else predictions.iloc[:0]
    title = "The worst classes: their hardest test images"
    plots.gallery(_tiles(rows, folder), place("worst_classes.png"), title, empty=every)


def summarize_views(
    answers: tuple[torch.Tensor, torch.Tensor],
    labels,
    classes,
    n_train,
    config: EvaluateConfig,
    groups: Sequence[int] | None = None,
) -> EvaluationResult:
    """:func:`summarize_logits` of the answers (log-probabilities) and their near-duplicate
    ``groups``; with ``config.tta``, the metrics of the plain view's probabilities (``answers``'
    second) too, in ``metrics_plain``."""
    logits, plain = answers
    result = summarize_logits(logits, labels, classes, n_train, groups)
    result.metrics["tta"] = tta = config.tta
    if tta:
        result.metrics_plain = without_top5(summarize(plain.log(), labels, len(classes)), classes)
    return result


def summarize_logits(logits, labels, classes, n_train=None, groups=None) -> EvaluationResult:
    """Overall and per-class figures; ``groups``: each image's near-duplicate group (none: every
    image its own), counted as ``n_groups``, overall and per class."""
    metrics = summarize(logits, labels, len(classes))
    groups = list(range(len(labels))) if groups is None else list(groups)
    metrics["n_groups"] = len(set(groups))
    add_overall_intervals(metrics)
    without_top5(metrics, classes)
    distinct = distinct_per_class(labels, groups, classes)
    table = mark_too_few(per_class_table(logits, labels, classes, n_train), distinct)
    if len(classes) <= TOP5_CLASSES and "top5" in table:
        table["top5"] = float("nan")  # per_class.csv's cell empty, --json's null
    table = table.sort_values(["top1", "loss"], ascending=[True, False]).reset_index(drop=True)
    answers = answered(logits)
    matrix = confusion_matrix(answers, labels, len(classes))
    result = EvaluationResult(metrics, table, most_confused(matrix, classes), matrix, list(classes))
    photos, sizes = photo_confusion(answers, labels, groups, len(classes))
    result.mixed = mixed_pairs(photos, classes, sizes)  # a photo's copies once, as the scores
    return result


TOP5_FIELDS = ("top5", "top5_low", "top5_high", "mean_class_top5")
"""The overall figures of top-5, null for a model of at most ``TOP5_CLASSES`` classes."""


def without_top5(metrics: dict[str, Any], classes: Sequence[str]) -> dict[str, Any]:
    """``metrics`` with its top-5 figures null when there are at most ``TOP5_CLASSES`` classes:
    every image's class is then among the first five, so its "100%" measures nothing, and the
    95% interval a 3-class run's metrics.json gave it (75.75-100% on 12 images) is the chance of
    a figure that has none. evaluate and the report show no top-5 there either."""
    if len(classes) <= TOP5_CLASSES:
        metrics.update({name: None for name in TOP5_FIELDS if name in metrics})
    return metrics


def add_overall_intervals(metrics: dict[str, Any]) -> None:
    """``top1_low``, ``top1_high``, ``top5_low`` and ``top5_high`` into ``metrics``: the 95%
    Wilson interval of each on the distinct photos (``n_groups``), as each class's top-1 has it,
    for a paper's "96.0% (86.5-98.9%)". It measures the test images' chance only, not the
    spread between training seeds or splits (docs/commands.md, "Reproducing a result")."""
    from objrec.metrics import wilson_interval

    for name in ("top1", "top5"):
        low, high = wilson_interval(float(metrics[name]), int(metrics["n_groups"]))
        metrics[f"{name}_low"], metrics[f"{name}_high"] = round(low, 4), round(high, 4)


def standard_json(data: dict[str, Any]) -> str:
    """``data`` as JSON that every reader reads, as ``--json`` prints it: a loss that is not
    finite (an image of probability 0 for its class) is null, never the bare word Infinity."""
    return json.dumps(finite_or_null(data), indent=2, allow_nan=False)


def write_evaluation(
    result: EvaluationResult,
    out: Path,
    force: bool = False,
    earlier: EvaluationResult | None = None,
) -> None:
    """The evaluation's files (:data:`OUTPUT_FILES`), put in place together once all are written
    (``outputs.staged_outputs``): an evaluation stopped half way leaves the earlier one whole,
    never its plots beside new figures. ``force`` writes over any plain file, never a link.

    ``earlier``: ``evaluate --against``'s evaluation of the earlier run, whose files go into its
    ``out``, ``against-NAME`` in ``out`` (``compare.against_dir``), in the same step, whole and
    just before ``out``'s own (written first, a stop left the comparison beside an earlier
    evaluation's files; put in after them, a kill between left ``out``'s new files naming it
    missing). An earlier ``--against``'s evaluation of another run goes in that step too, just
    after them (``compare.remove_stale_against``): the files naming it are never without it."""
    out.mkdir(parents=True, exist_ok=True)
    mark_output_dir(out)  # objrec's: a forced evaluation may write over it
    inner = None if earlier is None else earlier.out
    within = [] if inner is None else [inner.name]
    stale = functools.partial(remove_stale_against, out, inner)
    with staged_outputs(out, OUTPUT_FILES, force, inner=within, last=stale) as place:
        write_files(result, place)
        if earlier is not None and inner is not None:
            write_files(earlier, lambda name: place(f"{inner.name}/{name}"))
    result.out = out


def write_files(result: EvaluationResult, place: Callable[[str], Path]) -> None:
    """The evaluation's tables and figures, each where ``place(name)`` says."""
    write_tables(result, place)
    write_plots(result, place)


def write_tables(result: EvaluationResult, place: Callable[[str], Path]) -> None:
    """The evaluation's CSV files and ``metrics.json``, each where ``place(name)`` says."""
    write_table(result.per_class, place("per_class.csv"))
    write_table(result.confused, place("most_confused.csv"))
    write_table(result.confusion_table(), place("confusion.csv"), index=True)
    place("metrics.json").write_text(standard_json(result.to_json()))
    if result.predictions is not None:
        write_table(result.predictions, place("predictions.csv"))
    shares = result.confusion_table(normalised=True).round(4)
    write_table(shares, place("confusion_normalised.csv"), index=True)
    if result.reliability:
        tables = [t.assign(model=name) for name, t in result.reliability.items()]
        write_table(pd.concat(tables), place("reliability.csv"))


def write_plots(result: EvaluationResult, place: Callable[[str], Path]) -> None:
    """The evaluation's figures, each where ``place(name)`` says; one with nothing to show (a
    confusion of one class, no calibration to draw) is not drawn, and one that fails is a
    warning (:func:`drawn_or_warned`), never the end of the evaluation's tables."""
    figure = functools.partial(drawn_or_warned, place, result.out)
    if len(result.classes) > 1 and int(result.confusion.sum()) > 0:
        matrix, classes = result.confusion, result.classes
        figure(["confusion.png"], lambda at: plots.confusion_heatmap(matrix, classes, at))
    predictions = result.predictions
    if predictions is not None and len(predictions):
        galleries = ["top_losses.png", "worst_classes.png"]
        figure(galleries, lambda _: write_galleries(result, predictions, place))
    if len(result.per_class) and result.per_class["n_train"].sum() > 0:
        table = result.per_class
        figure(["accuracy_vs_train.png"], lambda at: plots.accuracy_vs_train_size(table, at))
    if result.reliability:
        shown = reliability_shown(result.reliability, result.metrics.get("temperature"))
        figure(["reliability.png"], lambda at: plots.reliability_diagram(shown, at))


def drawn_or_warned(
    place: Callable[[str], Path],
    out: Path | None,
    names: Sequence[str],
    draw: Callable[[Path], Any],
) -> None:
    """``draw(place(names[0]))``, which writes the figures ``names`` (of the evaluation going to
    ``out``); one that fails, a bug (numpy's "Singular matrix" in the accuracy trend), is a
    warning naming them, and what it left half written is removed: the tables, computed seconds
    or minutes before, are written all the same, where a failed figure threw every one of them
    away. ``-vv`` logs its trace. An OSError (a full disk, a quota, a folder refusing) is no bug
    and would fail the tables' writes as well: it goes through, for the CLI's one sentence and
    exit 1, once the half-written figure is removed."""
    try:
        draw(place(names[0]))
    except OSError:
        _removed_figures(place, names)
        raise
    except Exception as exc:  # a figure is never worth the tables
        _removed_figures(place, names)
        shown = " and ".join(str(name if out is None else out / name) for name in names)
        log.debug("drawing %s failed", shown, exc_info=True)
        log.warning(
            "%s not drawn, a bug in objrec (-vv shows its trace): %s; the tables and the other "
            "figures are written",
            shown,
            unexpected_error(exc),
        )


def _removed_figures(place: Callable[[str], Path], names: Sequence[str]) -> None:
    """Remove what a failed draw left of the figures ``names``, so that no half-written or
    earlier evaluation's figure is read as this one's."""
    for name in names:
        place(name).unlink(missing_ok=True)

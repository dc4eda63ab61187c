"""What to report of a run's evaluation: which figure answers which question, and a "methods"
paragraph a thesis or a paper can cite, built from the run's own records (the model's
metadata, ``summary.json``, the evaluation's ``metrics.json``), never from numbers typed here.

A student asked "which accuracy goes in my thesis?": evaluate and the report gave top-1 and,
apart, top-1 with "unknown" counted wrong, and neither said which to report nor how to state the
method (newcomer63b). The report shows both texts; evaluate says the advice in a line where the
two figures differ. Pure: nothing here prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from objrec.backbones import BadBackbone, get_backbone
from objrec.config import unknown_score_words
from objrec.evaluation_metrics import EvaluationMetrics
from objrec.finetune import FinetuneRecord
from objrec.meta import RunMeta, typical_image
from objrec.provenance import Provenance
from objrec.run_record import ImageCounts
from objrec.thresholds import KEEP_KNOWN, MAX_COST
from objrec.words import joined, plural

NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
"""Small counts in words, as a methods paragraph spells them."""


AUGMENT_WORDS = {
    "article": "cropped, turned by up to 15 degrees, colours shifted and mirrored at random",
    "trivial": "one random change of many, TrivialAugmentWide",
}
"""Each ``augment`` recipe in words, as the report's Data section says it."""


def percent(share: float) -> str:
    """``96.51%``: a share as evaluate prints it."""
    return f"{100 * share:.2f}%"


def in_words(n: int) -> str:
    """``three`` for 3; figures from 8 on."""
    return NUMBERS.get(n, f"{n:,}")


def interval_words(low: float | None, high: float | None, whose: str = "") -> str:
    """`` (95% interval 88.65-100.00%)`` (``whose``: ``Wilson`` for `` (95% Wilson interval
    ...)``); "" where the record has none (an older one)."""
    if low is None or high is None:
        return ""
    return f" (95% {whose + ' ' if whose else ''}interval {100 * low:.2f}-{100 * high:.2f}%)"


def unknown_differs(metrics: EvaluationMetrics) -> bool:
    """Whether the evaluation said some of its images were "unknown", so that its top-1 with
    "unknown" counted wrong is below its top-1 and the two answer different questions."""
    at = metrics.at_threshold
    return at is not None and at.known_kept < 1


def which_figure(metrics: EvaluationMetrics, images: str = "test images") -> list[str]:
    """Which top-1 answers which question, one sentence each, the figures the evaluation's
    (``images``: what it evaluated, ``test images``): top-1 with its interval for how well the
    model tells the classes apart, the one to report as its accuracy; top-1 with "unknown"
    counted wrong for how often a photo of a class gets its class in use, where the model may
    answer "unknown", to report beside it when the model is used so."""
    o = metrics.overall
    said = [
        f"Report top-1, {percent(metrics.top1)}{interval_words(o.top1_low, o.top1_high)} on "
        f"{metrics.n:,} {images}, as the model's accuracy: it answers \"how well does it tell "
        'these classes apart?", each photo given its first guess.'
    ]
    at = metrics.at_threshold
    if at is None or metrics.unknown is None or metrics.unknown.threshold is None:
        return said
    if not unknown_differs(metrics):
        return [
            *said,
            f'None of the {images} was answered "unknown", so top-1 with "unknown" counted wrong '
            "is the same figure.",
        ]
    return [
        *said,
        f'Report top-1 with "unknown" counted wrong, {percent(at.top1_at_threshold)}, beside it '
        'when the model is used with its "unknown" answer (as new photos are answered): it '
        'answers "how often does a photo of one of these classes get its right class in use?".',
    ]


def report_line(metrics: EvaluationMetrics) -> str:
    """:func:`which_figure` in one short line, for evaluate where the two top-1s differ; "" where
    they do not (one figure, nothing to choose)."""
    if not unknown_differs(metrics):
        return ""
    assert metrics.at_threshold is not None  # unknown_differs says so
    return (
        f"to report: top-1 {percent(metrics.top1)} for how well it tells the classes apart; "
        f"{percent(metrics.at_threshold.top1_at_threshold)} (unknown counted wrong) for how "
        "often a photo of them gets its class in use; the run's report says why, with a "
        "methods paragraph to cite"
    )


def body_words(name: str) -> str:
    """A body's name as a paper writes it: ``EfficientNet-Lite0``, ``torchvision's resnet50``,
    ``timm's convnext_tiny``; the registry's name where the registry does not know it."""
    try:
        spec = get_backbone(name)
    except BadBackbone:
        return name
    if spec.source == "registry":
        return spec.description.split(",")[0]
    return f"{spec.source}'s {name.removeprefix('timm:')}"


def pretrained_words(parts: Sequence[str], weights: str | None) -> str:
    """What the bodies ``parts`` were pretrained on: ImageNet for the registry's and
    torchvision's (their weights' own), the source's weights for timm's, the trainer's file where
    ``weights`` names one."""
    if weights:
        return "given pretrained weights from a file of the trainer's own"
    sources = set()
    for part in parts:
        try:
            spec = get_backbone(part)
        except BadBackbone:
            sources.add("")
            continue
        sources.add("tests" if spec.for_tests else spec.source)
    if "tests" in sources:
        return "untrained (a body for objrec's tests)"
    if sources <= {"registry", "torchvision"}:
        return "pretrained on ImageNet"
    return "pretrained (the weights their library gives)"


def bodies_sentence(meta: RunMeta, summary: Mapping[str, Any]) -> str:
    """The bodies in words: how many, their names, what they were pretrained on, frozen (or
    their last blocks fine-tuned, where a fine-tuning was kept), the photo's size."""
    parts = meta.backbone.split("+")
    config = meta.train_config
    several = len(parts) > 1
    what = f"{in_words(len(parts)).capitalize()} networks" if several else "A network"
    pretrained = pretrained_words(parts, config.weights if config else None)
    finetune = summary.get("finetune")
    tuned = FinetuneRecord.from_json(finetune) if isinstance(finetune, dict) else None
    if tuned is not None and tuned.kept:
        kept = f"their last {plural(tuned.blocks, 'block')} fine-tuned on the training photos"
    else:
        kept = "kept frozen (left as pretrained)"
    side = ", joined side by side" if several else ""
    size = meta.data.input_size
    return (
        f"{what} ({joined([body_words(p) for p in parts])}), {pretrained} and {kept}, turned "
        f"each photo, at {size}x{size} pixels, into features{side}."
    )


def head_sentence(meta: RunMeta) -> str:
    """The head ensemble in words: how many heads, their shape, how they learned and how their
    answers are combined."""
    head, config = meta.head, meta.train_config
    shape = (
        f"a small network of one hidden layer of {head.hidden} units (dropout {head.dropout:g})"
        if head.hidden
        else "a single linear layer"
    )
    many = head.members > 1
    heads = f"{in_words(head.members).capitalize()} heads, each {shape} from its own random start,"
    if not many:
        heads = f"A head, {shape},"
    views = ""
    if config is not None and config.augmented_views:
        views = (
            f" and {in_words(config.augmented_views)} randomly varied "
            f"{'view' if config.augmented_views == 1 else 'views'} of each "
            f"({AUGMENT_WORDS.get(config.augment, config.augment)})"
        )
    learned = f" learned the {len(meta.classes):,} classes from the training photos{views}"
    averaged = "; their probabilities are averaged." if many else "."
    return heads + learned + averaged


def training_sentence(meta: RunMeta, summary: Mapping[str, Any]) -> str:
    """How the heads' training stopped and the probabilities were calibrated."""
    config = meta.train_config
    said = []
    best, run = summary.get("best_epoch"), summary.get("epochs_run")
    if isinstance(best, int) and isinstance(run, int):
        how = (
            f"Adam, learning rate {config.lr:g}, at most {config.epochs} epochs, stopping early "
            f"once the validation loss had not fallen by more than {config.min_delta:g} for "
            f"{config.patience} epochs in a row"
            if config is not None
            else "Adam"
        )
        said.append(
            f"Training ({how}) kept the epoch of lowest validation loss: epoch {best} of the "
            f"{run} run"
        )
    if meta.calibration is not None:
        t = meta.calibration.temperature
        said.append(
            f"the probabilities were calibrated by temperature scaling on the validation photos "
            f"(temperature {t:.3f})"
            if f"{t:.3f}" != "1.000"
            else "temperature scaling on the validation photos left the probabilities as they were"
        )
    return "; ".join(said) + "." if said else ""


def split_sentence(summary: Mapping[str, Any], metrics: EvaluationMetrics, test: bool) -> str:
    """The split, from the run's record of its images and of the split that made its data folder
    (``summary.json``'s ``n_images`` and ``provenance.split_record``): the images of each split
    (the test split's from the evaluation, where it is the one evaluated: ``test``), the seed."""
    counts = ImageCounts.from_json(summary.get("n_images"))
    if counts is None:
        return ""
    made = Provenance.from_json(summary.get("provenance"))
    record = made.split_record if made is not None and made.split_record else {}
    parts = [f"{counts.train:,} for training", f"{counts.valid:,} for validation"]
    if test:
        parts.append(f"{metrics.n:,} for testing")
    how = "split per class at random"
    if isinstance(record.get("seed"), int):
        how += f" (seed {record['seed']})"
    together = ", copies and near-duplicates kept in one split" if record else ""
    return f"The photos were {how} into {joined(parts)}{together}."


def result_sentence(metrics: EvaluationMetrics, images: str) -> str:
    """The evaluation's top-1 (and top-5 where there is one) with its 95% interval."""
    o = metrics.overall
    distinct = f" ({metrics.n_groups:,} distinct photos)" if metrics.n_groups != metrics.n else ""
    said = (
        f"On the {metrics.n:,} {images}{distinct}, top-1 accuracy was {percent(metrics.top1)}"
        f"{interval_words(o.top1_low, o.top1_high, 'Wilson')}"
    )
    if o.top5 is not None:
        said += f", top-5 {percent(o.top5)}{interval_words(o.top5_low, o.top5_high, 'Wilson')}"
    if metrics.tta:
        said += ", each image's answer averaged over several views of it (test-time augmentation)"
    return said + "."


def unknown_sentence(metrics: EvaluationMetrics, images: str) -> str:
    """The "unknown" rule: the score, its threshold and where it was chosen, and what it did to
    the evaluated images; "" for a run that never answers "unknown"."""
    u, at = metrics.unknown, metrics.at_threshold
    if u is None or u.threshold is None or at is None:
        return ""
    if u.score == "msp":
        score = "top probability"
    elif u.readable:
        score = (
            f"familiarity ({unknown_score_words(str(u.score))}, scaled so that "
            f"{typical_image(u.scaled_on)} scores 1)"
        )
    else:
        score = f"score ({unknown_score_words(str(u.score))})"
    if u.kept_on:
        chosen = "a stricter threshold chosen on photos of things it was not taught"
    else:
        on = plural(u.images, "validation image") if u.images else "the validation images"
        chosen = (
            f"a threshold chosen on {on}, the highest that keeps at least "
            f"{KEEP_KNOWN:.0%} of them and turns at most {MAX_COST:.1%} of them from right "
            'answers into "unknown"'
        )
    said_unknown = round(metrics.n * (1 - at.known_kept))
    return (
        f'The model answers "unknown" for a photo whose {score} is below {chosen}; '
        f"{said_unknown:,} of the {metrics.n:,} {images} were answered so, and top-1 with "
        f'"unknown" counted wrong was {percent(at.top1_at_threshold)}.'
    )


def methods_paragraph(
    meta: RunMeta, summary: Mapping[str, Any], metrics: EvaluationMetrics, images: str
) -> str:
    """A paragraph a thesis's methods can cite: objrec's version, the bodies, the heads, the
    training, the split, the result with its interval, the "unknown" rule, from the run's model
    (``meta``), its ``summary`` and its evaluation's ``metrics`` (of ``images``: ``test images``,
    or another folder's images)."""
    made = Provenance.from_json(summary.get("provenance"))
    version = made.objrec if made is not None and made.objrec else meta.objrec_version
    opening = "The classifier was trained by transfer learning with objrec"
    sentences = [
        f"{opening} {version}." if version else f"{opening}.",
        bodies_sentence(meta, summary),
        head_sentence(meta),
        training_sentence(meta, summary),
        split_sentence(summary, metrics, test=images == "test images"),
        result_sentence(metrics, images),
        unknown_sentence(metrics, images),
    ]
    return " ".join(s for s in sentences if s)

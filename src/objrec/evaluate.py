"""``evaluate``: a trained run on a labelled folder: overall and per-class results, confusions."""

from __future__ import annotations

import functools
import json
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image

from objrec import plots
from objrec.answering import table_answers, view_tables
from objrec.bursts import CameraTime
from objrec.cache import open_cache, stores_held
from objrec.calibration import (
    ece_by_chance,
    expected_calibration_error,
    mean_nll,
    overconfidence,
    reliability_table,
)
from objrec.compare import (
    EarlierRun,
    evaluate_against,
    read_renamed,
    remove_stale_against,
    require_earlier_run,
)
from objrec.config import TOP5_CLASSES, EvaluateConfig, given_settings, settings
from objrec.current import image_set_fingerprint
from objrec.data import (
    SPLITS,
    UNKNOWN,
    ClassFolder,
    Sample,
    scan_class_folder,
)
from objrec.devices import resolve_device
from objrec.distinct import distinct_per_class, readable_groups
from objrec.enough import FEWEST_TO_TRUST, too_few_to_trust
from objrec.errors import ObjrecError, on_ctrl_c, unexpected_error
from objrec.eval_dir import (
    against_folders,
    check_eval_dir,
    evaluated_words,
    refuse_inside_unknown,
    refuse_own_eval_dir,
    resolve_eval_folder,
)
from objrec.evaluation_metrics import (
    WENT_KEYS,
    AtThreshold,
    CalibrationFigures,
    Comparison,
    EvaluationMetrics,
    Overall,
    Scores,
    UnknownAnswer,
    read_record,
)
from objrec.failures import near_duplicate_words, top_losses, worst_class_rows
from objrec.features import (
    FeatureTable,
    report_unreadable,
    require_readable,
)
from objrec.frozen import Probe
from objrec.grouping import facts_and_time, keep_in, keep_measured
from objrec.image_facts import ImageFacts
from objrec.images import UnreadableImageError, open_image
from objrec.inference import Answers, Recognizer
from objrec.kept import KeptThreshold, keep_recommended, recommended_threshold
from objrec.labels import unknown_images
from objrec.leakage import SEEN_SPLITS, near_copies, seen_images, seen_words
from objrec.manifest import hand_placed_words, listed_anywhere
from objrec.meta import RunMeta
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
from objrec.open_set import (
    Strangers,
    open_set_measured,
    refuse_known_unknown,
    refuse_unknown_of_classes,
    unknown_by_class,
)
from objrec.outputs import (
    EVALUATION_FILES,
    finite_or_null,
    mark_output_dir,
    refuse_inside,
    refuse_users_files,
    shown_name,
    staged_outputs,
    takes_back_folders,
    writing_outputs,
)
from objrec.paths import PathGiven, as_path
from objrec.prediction import barely_familiar, familiarity_line, threshold_cells
from objrec.progress import Reporter, log_result_warnings, or_silent
from objrec.renames import renamed_arguments, renamed_attribute
from objrec.tables import write_table
from objrec.thresholds import accuracy_at_threshold
from objrec.untaught import flag_untaught, refuse_none_taught, untaught_images
from objrec.warned import warned_once_per_file
from objrec.words import NAMED, grouped, joined, plural, with_distinct

log = logging.getLogger(__name__)


NEAR_COPIES = "re-saved, resized or cropped copies, by their perceptual hashes"
"""What a near-duplicate of the run's own images is, as evaluate's warning says it."""


@dataclass
class EvaluationResult:
    """Overall metrics, the per-class table (worst first) and the most confused pairs."""

    metrics: EvaluationMetrics
    per_class: pd.DataFrame
    confused: pd.DataFrame
    confusion: torch.Tensor
    classes: list[str]
    out: Path | None = None
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
    unreadable_files: list[str] = field(default_factory=list)
    """``path: reason`` for each image of the folder that could not be read, left out;
    ``metrics.json``'s ``unreadable_files`` (``unreadable`` before 7 December 2026)."""
    model_digest: str = ""
    """The content digest of the model file evaluated (``model_file.model_digest``: the first 32
    hex digits of its SHA-256): ``report`` tells by it an evaluation of the run's model from one
    of a model since replaced. ``metrics.json``'s ``model_digest`` (``model`` before 7 December
    2026)."""
    image_set: str = ""
    """The fingerprint of the evaluated images and their labels (:func:`image_set_fingerprint`): two
    evaluations' scores are comparable only when theirs are the same."""
    untaught_classes: dict[str, int] = field(default_factory=dict)
    """Class folders of the evaluated folder itself (its test split) that are not among the
    model's classes (a class added since the run was trained), and their images: left out of
    every score. Not ``unknown``'s photos: their results are ``metrics.open_set``."""
    untaught_unknown: int | None = None
    """How many of the ``untaught_classes`` images the model answered "unknown" (readable ones;
    None when there are none, or the run has no unknown threshold). Not ``unknown``'s photos:
    those caught are ``metrics.open_set.figures.unknown_caught``."""
    unknown_predictions: pd.DataFrame | None = None
    """With ``unknown``: one row per photo of that folder, as ``unknown_predictions.csv``
    (:func:`stranger_table`): which photos the run gave a class, and which, not only how many."""
    against: Comparison | None = None
    """With ``against``: this run and the earlier one on the same images of the classes both
    know (:func:`objrec.compare.compare_runs`)."""
    threshold_kept: KeptThreshold | None = None
    """With ``keep_threshold``: the stricter threshold this evaluation recommended, kept with the
    run (``kept.keep_recommended``: ``RUN/threshold.json``, which predict, serve and export then
    use); None when none was recommended, so nothing was kept, or it was not asked."""
    mixed: list[dict[str, Any]] | None = None
    """The classes mistaken for each other both ways (``metrics.mixed_pairs``), counted in
    distinct photos as the scores are (``metrics.photo_confusion``); None: counted from
    ``confusion``, in images."""

    model = renamed_attribute("EvaluationResult", "model", "model_digest")
    unreadable = renamed_attribute("EvaluationResult", "unreadable", "unreadable_files")

    @property
    def untaught(self) -> dict[str, int]:
        """:attr:`untaught_classes`, by its earlier name, with a :class:`DeprecationWarning`."""
        warnings.warn(
            "EvaluationResult.untaught is deprecated: read untaught_classes",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.untaught_classes

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
        if self.own_validation_images:
            return (
                f"the {plural(self.metrics.n, 'evaluated image')} are the run's own validation "
                "images (same file contents), on which its training stopped and its temperature "
                "and unknown threshold were chosen: right for choosing a threshold on them, but "
                "their scores overstate accuracy on new images (the test split's do not)"
            )
        n = "the " + plural(self.metrics.n, "evaluated image")
        said = []
        if counts:
            said.append(f"{seen_words(counts, n)} (same file contents)")
        if near:
            n = "the others" if counts else n
            said.append(f"{seen_words(near, n, 'near-duplicates of ')} ({NEAR_COPIES})")
        return f"{'; '.join(said)}: these results overstate accuracy on new images"

    @property
    def own_validation_images(self) -> bool:
        """Whether every image evaluated is one of the run's own validation images, as when
        their split is evaluated to choose a threshold on (``split="valid"``): :attr:`warning`
        says so as what is expected, not as a mistake, and it is logged at INFO only. A
        newcomer who evaluated them on purpose read "these results overstate accuracy" as a
        slip of theirs."""
        valid = len(self.seen.get("valid", ()))
        others = sum(len(paths) for split, paths in self.seen.items() if split != "valid")
        near = any(self.near_seen.values())
        return valid > 0 and valid == self.metrics.n and not others and not near

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
        below ``n``): the scores rest on the distinct photos, fewer than the images counted. Not
        "9 test images in 7 groups of near-duplicates" of one photo and 2 copies of it among 6
        photos of their own."""
        n, groups = self.metrics.n, self.metrics.n_groups
        if groups >= n:
            return None
        folder = self.folder.name if self.folder else ""
        kind = f"{folder} images" if folder in SPLITS else "evaluated images"
        said = (
            f"{n:,} {kind} are {plural(groups, 'distinct photo')} and "
            f"{plural(n - groups, 'near-duplicate')} of {'it' if groups == 1 else 'them'} (burst "
            "frames, re-saved or cropped copies, a groups file's groups: those split keeps "
            "together): the scores rest on "
            f"{plural(groups, 'distinct photo')}, not {n:,}"
        )
        return said + two_class_words(self.two_class_pictures)

    @property
    def two_class_pictures(self) -> list[dict[str, Any]]:
        """The near-duplicate groups of the evaluated images labelled with more than one class
        (one picture filed under two): their ``classes`` and ``images``. One of such a picture's
        answers is wrong whatever the model does; evaluate showed it as "+1 near-duplicate (0
        wrong)"."""
        rows = self.predictions
        if rows is None or "group" not in rows or not len(rows):
            return []
        pictures = []
        for _, group in rows.groupby("group", sort=False):
            if group["true"].nunique() > 1:
                classes = sorted(set(group["true"]), key=str.casefold)
                pictures.append({"classes": classes, "images": [str(p) for p in group["path"]]})
        return pictures

    probabilities: torch.Tensor | None = None
    """(images, classes): every class's probability, in the rows' order of ``predictions``
    (:meth:`probability_table` labels them)."""
    reliability: dict[str, pd.DataFrame] | None = None
    """Reliability tables (``calibration.reliability_table``) before and after calibration."""

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
        the confusion matrix, every probability), and of ``unknown``'s photos, how many were
        caught."""
        m = self.metrics.overall
        shown = ("top1", "top5") if len(self.classes) > TOP5_CLASSES else ("top1",)  # else 100%
        scores = ", ".join(f"{k}={getattr(m, k):.4f}" for k in shown)
        where = ", ".join(
            f"{name}={str(value)!r}"
            for name, value in (("folder", self.folder), ("out", self.out))
            if value is not None
        )
        said = (scores, self._unknown_words(), where)
        return (
            f"EvaluationResult(images={m.n}, "
            f"n_classes={len(self.classes)}" + "".join(f", {p}" for p in said if p) + ")"
        )

    def _unknown_words(self) -> str:
        """``unknown``'s photos in the repr: ``unknown_caught=14/21`` (how many the run answered
        "unknown"), ``unknown_images=21`` where it has no threshold; "" without ``unknown``."""
        if self.metrics.open_set is None:
            return ""
        figures = self.metrics.open_set.figures
        if figures.unknown_caught is None:
            return f"unknown_images={figures.n_unknown}"
        return f"unknown_caught={figures.unknown_caught}/{figures.n_unknown}"

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
            **self.metrics.to_json(),
            "per_class": self.per_class.to_dict(orient="records"),
            "classes_without_images": self.classes_without_images,
            "worst_classes": self.worst(worst).to_dict(orient="records"),
            "most_confused": self.confused.to_dict(orient="records"),
            "mixed_pairs": self.mixed_pairs,
            "folder": str(self.folder) if self.folder else None,
            "image_set": self.image_set,
            "seen_in_training": {s: len(self.seen.get(s, [])) for s in SEEN_SPLITS},
            "near_seen_in_training": {s: len(self.near_seen.get(s, [])) for s in SEEN_SPLITS},
            "unreadable_files": self.unreadable_files,
            "model_digest": self.model_digest,
            "untaught_classes": self.untaught_classes,
            "untaught_unknown": self.untaught_unknown,
            **({"against": self.against.to_json()} if self.against is not None else {}),
            **({"near_duplicates": self.near_duplicates} if self.near_duplicates else {}),
            "two_class_pictures": self.two_class_pictures,
            **({"warning": self.warning} if self.warning else {}),
        }


def two_class_words(pictures: Sequence[Mapping[str, Any]]) -> str:
    """``; 1 picture is among them under 2 classes (lotus and water lily): ...`` for
    :attr:`EvaluationResult.two_class_pictures`, or nothing."""
    if not pictures:
        return ""
    n = len(pictures)
    named = "; ".join(joined(p["classes"]) for p in pictures[:NAMED])
    more = f" and {n - NAMED:,} more" if n > NAMED else ""
    verb, whose = ("is", "its answers is") if n == 1 else ("are", "each one's answers is")
    two = "two classes" if all(len(p["classes"]) == 2 for p in pictures) else "two classes or more"
    return (
        f"; {plural(n, 'picture')} {verb} among them under {two} ({named}{more}): one of "
        f"{whose} wrong whatever the model does (an audit lists it: in its plan.csv, "
        "remove the copy whose label is wrong)"
    )


@renamed_arguments(folder="data")
def evaluate(
    run: PathGiven,
    data: PathGiven,
    config: EvaluateConfig | None = None,
    *,
    split: str = "test",
    tta: bool = False,
    unknown: PathGiven | None = None,
    against: PathGiven | None = None,
    keep_threshold: bool = False,
    out: PathGiven | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
    device: str = "auto",
    cache_dir: PathGiven | None = None,
    num_workers: int | None = None,
) -> EvaluationResult:
    """Evaluate the model of ``run`` on ``data``: how often it is right, overall and per class
    (``objrec evaluate RUN DATA``); calibration and the unknown answer are measured too. Images
    the run trained or validated on are listed in ``seen``, untaught classes in ``untaught``.

    Args:
        run: the run folder (or checkpoint file) whose model is evaluated.
        data: a split folder (its ``split`` is evaluated) or a class folder (``folder`` before
            7 December 2026, still taken, warning).
        config: the settings below as one ``EvaluateConfig``, given instead of them.
        split: ``train``, ``valid`` or ``test``: which split of a split folder.
        tta: average the probabilities over the test-time views; the scores without them are
            kept in ``metrics.without_tta``.
        unknown: a folder of photos of none of the classes (or a reviewed ``predict --csv``
            table): how well "unknown" catches them, and a stricter threshold (``open_set``).
        against: an earlier run, compared on the images of the classes both know.
        keep_threshold: with ``unknown``, keep the stricter threshold it recommends with the
            run (``threshold_kept``, ``RUN/threshold.json``) for predict, serve and export.
        out: where its tables, ``metrics.json`` and figures go (default: the run's own
            ``eval-<split>``); a folder of yours must be empty or new, unless ``force``.
        force: replace what ``out`` (or the run's own folder) holds, a file edited since too.
        reporter: receives progress (None: nothing is shown; ``objrec.TqdmReporter``: bars).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        cache_dir: where frozen features are cached (default: the run's).
        num_workers: processes decoding images (default: 0 on the CPU).
    """
    asked = {"split": split, "tta": tta, "unknown": unknown, "against": against}
    asked |= {"device": device, "cache_dir": cache_dir, "num_workers": num_workers}
    config = settings(EvaluateConfig, config, given_settings(EvaluateConfig, asked), "evaluate")
    run, data, out = Path(run), Path(data), as_path(out)
    return run_evaluation(
        run, data, config, out=out, reporter=reporter, force=force, keep_threshold=keep_threshold
    )


@takes_back_folders("out")
@on_ctrl_c("nothing was written: run it again")
@warned_once_per_file()
@stores_held()
def run_evaluation(
    run: Path,
    data: Path,
    config: EvaluateConfig,
    *,
    out: Path | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    keep_threshold: bool = False,
    read: tuple[dict[str, torch.Tensor], RunMeta] | None = None,
) -> EvaluationResult:
    """:func:`evaluate` with its settings as one ``config``, and ``read``: the run's model as the
    caller read it already (``checkpoint.read_checkpoint``), evaluated without reading the file
    again: the CLI's call (its early refusal read it) and ``report``'s (whose page is of that
    model). Writes to ``out`` (:func:`write_evaluation`; default: ``default_eval_dir``).
    The feature stores it uses are let go of at its end only (``cache.stores_held``): a prune
    or clear waiting for it then goes on, never between its lookups and its reads."""
    reporter = or_silent(reporter)
    refuse_early(Path(run), data, out, config, force, read)
    refuse_keeping(keep_threshold, config)
    result = measured(Path(run), data, config, out, reporter, force, read=read)
    out, earlier = result.out, None
    assert out is not None
    dropped = unknown_dropped(out, result.metrics)
    with writing_outputs(out):
        if config.against is not None:
            result.against, earlier = evaluate_against(
                result, data, config, reporter, out, run, measured
            )
        with reporter.task("writing the tables and plots", None):  # seconds for many classes
            write_evaluation(result, out, force, earlier)  # the folder made only now
    if dropped:
        log.warning("%s", dropped)
    if keep_threshold:
        result.threshold_kept = kept_from(Path(run), result, config)
    log_evaluation(run, result, keep_threshold)
    return result


def refuse_keeping(keep_threshold: bool, config: EvaluateConfig) -> None:
    """``keep_threshold`` without ``unknown``: nothing it could keep, refused before anything is
    read (the CLI refuses ``--keep-threshold`` without ``--unknown`` alike, in its words)."""
    if keep_threshold and config.unknown is None:
        raise ObjrecError(
            "`keep_threshold=True` needs `unknown`: the threshold it keeps is the stricter one "
            "evaluate recommends from photos of none of the classes"
        )


def kept_from(run: Path, result: EvaluationResult, config: EvaluateConfig) -> KeptThreshold | None:
    """``keep_threshold``: the threshold ``result`` recommends kept with ``run`` for the model
    evaluated (``kept.keep_recommended``), said at INFO; None, the run untouched, when none is."""
    assert config.unknown is not None  # refused before the evaluation
    kept = keep_recommended(
        run, result.metrics, Path(config.unknown), result.folder, result.model_digest
    )
    if kept is None:
        log.info("kept no threshold: no stricter one is recommended here; %s is unchanged", run)
    else:
        log.info("kept unknown below %r with %s, in %s", kept.threshold, run, kept.path)
    return kept


def unknown_dropped(out: Path, metrics: EvaluationMetrics) -> str | None:
    """The sentence saying that this evaluation, without ``unknown``, replaces the earlier
    ``evaluate --unknown FOLDER``'s results in ``out`` (None when it had none, or this one has
    its own): they must not go without a word, as the next report loses its section on photos
    of none of the classes. Said, not measured again: a plain evaluate measures what it is
    asked to, as a dropped ``--against`` comparison is said (``compare.remove_stale_against``).
    In the API's words, which the CLI spells as its options: a Python caller has no flag, so not
    "give --unknown bg again"."""
    if metrics.open_set is not None:
        return None
    record = read_record(out)
    earlier = record.metrics.open_set if record is not None else None
    if earlier is None:
        return None
    given = f"`unknown={str(earlier.folder or 'FOLDER')!r}`"  # the CLI says --unknown X
    images = plural(earlier.figures.n_unknown, "image")
    return (
        f"replaced the results of an earlier evaluation with {given} in {out} ({images} of none "
        f"of the classes): give {given} again to keep them (report shows them only then), or "
        "another `out` to write elsewhere"
    )


def measured(
    run: Path,
    folder: Path,
    config: EvaluateConfig,
    out: Path | None,
    reporter: Reporter,
    force: bool = False,
    earlier: EarlierRun | None = None,
    read: tuple[dict[str, torch.Tensor], RunMeta] | None = None,
) -> EvaluationResult:
    """:func:`evaluate`'s evaluation of ``run`` on ``folder``, nothing written: its ``out`` the
    folder it is to be written to, checked (:func:`check_eval_dir`), not made. ``earlier``: the
    run is the one ``evaluate --against`` compares with, read as :class:`EarlierRun` says;
    ``read``: its model, read already (:func:`evaluate`'s)."""
    with reporter.task("loading the model", None):  # seconds: the body, torchvision's import
        recognizer = Recognizer.load(run, device=resolve_device(config.device), read=read)
    refuse_unknown_of_classes(config, recognizer.classes)
    target = resolve_eval_folder(folder, config.split)
    out = check_eval_dir(run, recognizer.meta.data_dir, target, out, force, config)
    later = earlier.later_classes if earlier else ()
    untaught = untaught_images(target, recognizer.classes, later)
    images = scan_class_folder(target, recognizer.classes, leave_out=untaught)
    if earlier is not None:  # a class renamed since read as the earlier run's
        images = read_renamed(images, untaught, recognizer.classes, earlier.renamed)
    refuse_none_taught(target, images, untaught, len(recognizer.classes))
    if earlier is None:  # once: not again for the earlier run of --against
        warn_hand_placed(target, images)
    tables = measured_tables(recognizer, images, target.name, config, reporter)
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


def measured_tables(
    recognizer: Recognizer,
    images: ClassFolder,
    name: str,
    config: EvaluateConfig,
    reporter: Reporter,
) -> list[FeatureTable]:
    """The evaluated images' tables (``answering.view_tables``), each image of a folder no split
    made (no manifest lists one) measured for its grouping (``distinct.grouped_here``) from the
    bytes its frozen pass decodes (``grouping.facts_and_time``), what it measured kept in the
    cache folder's image facts: each file was read for its SHA-256, for the pass, for its EXIF
    and, in worker processes, for its image facts (decode60). A split's images are not measured:
    the split kept theirs."""
    if listed_anywhere([s.path for s in images.samples]):
        return view_tables(recognizer, images, name, config, reporter)
    facts: dict[str, ImageFacts] = {}
    times: dict[str, CameraTime | None] = {}
    probe = Probe(facts_and_time, keep_measured(facts, times))
    tables = view_tables(recognizer, images, name, config, reporter, probe)
    keep_in(open_cache(config.cache_dir or recognizer.meta.cache_dir).facts_file, facts, times)
    return tables


def warn_hand_placed(target: Path, images: ClassFolder) -> None:
    """A warning when the split folder's manifest has no row of some evaluated ``images``
    (``manifest.hand_placed_words``): photos put into ``target`` by hand, which only ``check``
    said; their near-duplicates in other splits go unseen."""
    if said := hand_placed_words(target.parent, [s.path for s in images.samples], "evaluate"):
        log.warning("%s", said)


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


def log_evaluation(run: Path, result: EvaluationResult, keep_threshold: bool = False) -> None:
    """The evaluation's top-1, a stricter threshold recommended and how to keep it (unless
    ``keep_threshold`` kept it), then what to read it with: classes of very few images, the
    run's own images among those evaluated."""
    log.info("evaluated %s on %s: top1 %.4f", run, result.folder, result.metrics.top1)
    threshold = recommended_threshold(result.metrics)
    if threshold is not None and not keep_threshold:  # in the API's words: the CLI prints its own
        log.debug(
            "a stricter unknown threshold, %r, is recommended (metrics.open_set.stricter: what it "
            "trades): `keep_threshold=True` keeps it with the run for predict, serve and export, "
            "or give each of them `threshold=%r`",
            threshold,
            threshold,
        )
    warn_few_images(result, run)
    if result.own_validation_images:  # asked for: said, not warned
        log.info("%s", result.warning)
    else:
        log_result_warnings(log, [result.warning] if result.warning else [])


def add_top1_interval(per_class: pd.DataFrame) -> pd.DataFrame:
    """``per_class`` with ``top1_low`` and ``top1_high`` after ``top1_photos``: the 95% Wilson
    interval of each class's share of distinct photos right on their count (``n_groups``), as
    the overall one (``metrics.wilson_interval``): a figure and its interval of one count, where
    the image share (``top1``) sized by the photos was an interval of neither (review62b H1). A
    table without ``top1_photos`` (an older one, or every image its own photo) centres it on
    ``top1``."""
    from objrec.metrics import wilson_interval

    if "top1" in per_class and "top1_low" not in per_class:
        centre = "top1_photos" if "top1_photos" in per_class else "top1"
        bounds = [
            wilson_interval(float(share), int(n))
            for share, n in zip(per_class[centre], per_class["n_groups"], strict=True)
        ]
        at = per_class.columns.get_loc(centre) + 1
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


def record_provenance(
    result: EvaluationResult, model: str, unreadable: list[str], digests: Iterable[str]
) -> None:
    """What ``result`` was measured on, into it: the images left out as ``unreadable``, the
    ``model``'s digest (of the bytes loaded, ``Recognizer.model_digest``: a retrain renaming its
    model over the file during the evaluation was credited with this model's figures), and the
    fingerprint of the evaluated images (their store ``digests``, in the order of
    ``result.predictions``) with their labels."""
    result.unreadable_files, result.model_digest = unreadable, model
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
    store = open_cache(cache).store  # held until the command's end (:func:`run_evaluation`)
    result.seen = seen_images(recognizer.meta.data_dir, paths, store, run=folder)
    seen_in = {path: split for split, found in result.seen.items() for path in found}
    return [seen_in.get(str(p), "") for p in paths]


def mark_near_seen(
    result: EvaluationResult,
    recognizer: Recognizer,
    found: tuple[list[Path], list[str]],
    config: EvaluateConfig,
    where: tuple[Path, Reporter],
) -> None:
    """Which evaluated images (``found``: paths, content digests) are near-duplicates of the
    run's own training or validation images without being byte copies (``leakage.near_copies``,
    which ``suggest`` leaves out): ``result.near_seen``, so that a user's re-exported copies of
    training photos do not score "top-1 100%" with no warning. ``where``: the run, and the
    reporter shown the search."""
    run, reporter = where
    facts_file = open_cache(config.cache_dir or recognizer.meta.cache_dir).facts_file
    folder = (result.folder or Path("."), recognizer.meta.data_dir)
    result.near_seen = near_copies(run, folder, found, facts_file, reporter)


def refuse_early(
    run: Path,
    folder: Path,
    out: Path | None,
    config: EvaluateConfig,
    force: bool = False,
    read: tuple[dict[str, torch.Tensor], RunMeta] | None = None,
) -> None:
    """What is refused before the model is loaded or any image read: an ``out`` inside
    ``folder`` or inside the ``unknown`` folder (its figures would be read as photos of none of
    the classes the next time), an ``unknown`` folder without images, an ``against`` that is no
    run or holds ``run``'s model (``compare.require_earlier_run``, from its header: its model is
    read when it is evaluated), the run's own folder of another evaluation or of results this
    one would drop (:func:`refuse_own_eval_dir`, from ``read``'s metadata when the model was
    read)."""
    if out is not None:
        refuse_inside(out, folder)
        refuse_inside_unknown(out, config.unknown)
    if config.unknown is not None:
        unknown_images(Path(config.unknown))
    if config.against is not None:
        require_earlier_run(Path(config.against), run)
    if out is None and not force:
        refuse_own_eval_dir(run, folder, config, read[1] if read else None)


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
    confidence = calibration_metrics(recognizer, answers, uncalibrated, labels, photos)
    result.metrics = replace(result.metrics, **confidence)
    result.reliability = {
        "before calibration": reliability_table(uncalibrated, labels),
        f"after (temperature {recognizer.temperature:.3f})": reliability_table(
            answers.probs, labels
        ),
    }
    if config.unknown is not None:
        open_set, strangers = open_set_measured(
            recognizer, (answers, labels), config, reporter, photos
        )
        result.metrics = replace(result.metrics, open_set=open_set)
        result.unknown_predictions = stranger_table(recognizer, strangers)


def distinct_photos(per_class: pd.DataFrame) -> dict[str, int] | None:
    """Each class's distinct photos (``per_class``'s ``n_groups``: near-duplicates, such as a
    burst's frames, counted once), for the rows of :func:`unknown_by_class`; None for a table of no
    class."""
    if "n_groups" not in per_class:
        return None
    return {str(c): int(n) for c, n in zip(per_class["class"], per_class["n_groups"], strict=True)}


def calibration_metrics(
    recognizer: Recognizer,
    answers: Answers,
    uncalibrated: torch.Tensor,
    labels: torch.Tensor,
    photos: dict[str, int] | None = None,
) -> dict[str, Any]:
    """ECE and loss before and after the run's temperature, the ECE exactly calibrated
    probabilities would show here by chance (``calibration``); the run's unknown answer
    (``unknown``) and its threshold's cost on these images, by class (``at_threshold``;
    ``photos``: each class's distinct photos, :func:`unknown_by_class`): the fields of
    :class:`EvaluationMetrics` they fill."""
    calibration = CalibrationFigures(
        temperature=recognizer.temperature,
        ece_before_calibration=expected_calibration_error(uncalibrated, labels),
        ece=expected_calibration_error(answers.probs, labels),
        ece_by_chance=ece_by_chance(answers.probs),
        overconfidence=overconfidence(answers.probs, labels),
        nll_before_calibration=mean_nll(uncalibrated, labels),
        nll=mean_nll(answers.probs, labels),
    )
    unknown = UnknownAnswer(
        score=recognizer.unknown_score,
        threshold=recognizer.threshold,
        readable=recognizer.score_is_familiarity,
        kept_on=recognizer.threshold_kept_on,
        images=recognizer.threshold_images,
        scaled_on=recognizer.scaled_on,
    )
    at_threshold = None
    if recognizer.threshold is not None:
        kept = accuracy_at_threshold(answers.probs, labels, answers.scores, recognizer.threshold)
        said = unknown_by_class(answers.unknown, labels, recognizer.classes, photos)
        went = (int(kept[key]) for key in WENT_KEYS)
        at_threshold = AtThreshold(kept["kept"], kept["top1_at_threshold"], said, *went)
    return {"calibration": calibration, "unknown": unknown, "at_threshold": at_threshold}


def temperature_of(metrics: EvaluationMetrics) -> float | None:
    """The run's temperature, None for a result not calibrated (one of logits alone)."""
    return None if metrics.calibration is None else metrics.calibration.temperature


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


def stranger_table(recognizer: Recognizer, strangers: Strangers) -> pd.DataFrame:
    """``unknown_predictions.csv``: one row per photo of the ``--unknown`` folder the run
    answered, with the columns of ``predictions.csv`` that a photo of no class has (no ``true``
    class, ``prob_true`` or ``loss``); the photos given a class (missed) first, the surest first,
    then those answered unknown."""
    probs, classes = strangers.answers.probs, recognizer.classes
    top = ranked(probs, 5)
    table = pd.DataFrame(
        {
            "path": [str(p) for p in strangers.paths],
            "predicted": [classes[i] for i in top[:, 0].tolist()],
            "prob_predicted": probs.gather(1, top[:, :1])[:, 0].tolist(),
            "top5": ["|".join(classes[i] for i in row) for row in top.tolist()],
        }
    )
    threshold = (recognizer.threshold, recognizer.threshold_kept_on)
    add_unknown_columns(table, strangers.answers, familiarity_line(recognizer), threshold)
    order = table.sort_values(["unknown", "prob_predicted"], ascending=[True, False], kind="stable")
    return order.reset_index(drop=True)


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
    run) it was judged by (``prediction.threshold_cells``): ``predictions.csv`` showed no image the
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


def _tiles(
    rows: pd.DataFrame,
    folder: Path | None = None,
    decoded: dict[str, Image.Image | None] | None = None,
) -> list:
    """A gallery tile per row: the image, captioned with its file (relative to the evaluated
    ``folder``, shortened to fit) so that a person can find it and fix it, and its answer.
    ``decoded``: the images decoded already, by path (None where unreadable), shared by the
    galleries so that an image in several is decoded once; those decoded here are added."""
    tiles, decoded = [], {} if decoded is None else decoded
    for r in rows.itertuples():
        if r.path not in decoded:
            decoded[r.path] = _thumbnail(r.path)
        if (image := decoded[r.path]) is None:
            continue
        name = plots.shortened(shown_name(r.path, [folder] if folder else []))
        caption = f"{name}\ntrue {r.true}\npredicted {r.predicted} ({r.prob_predicted:.0%})"
        if others := near_duplicate_words(r):
            caption += f"\n{others}"
        tiles.append((image, caption, r.true != r.predicted))
    return tiles


def _thumbnail(path: str) -> Image.Image | None:
    """The image at ``path`` decoded small for a gallery tile; None when it cannot be read."""
    try:
        return open_image(path, draft_size=256)
    except UnreadableImageError:
        return None


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
    decoded: dict[str, Image.Image | None] = {}  # shared: an image in both decoded once
    tiles = _tiles(top_losses(predictions, n), folder, decoded)
    plots.gallery(tiles, place("top_losses.png"), title, empty=every)
    worst = worst_class_rows(predictions, result.per_class)
    rows = pd.concat([r for _, r in worst]) if worst else predictions.iloc[:0]
    title = f"The worst classes: their hardest {evaluated_words(folder_of(result))['images']}"
    plots.gallery(_tiles(rows, folder, decoded), place("worst_classes.png"), title, empty=every)


def summarize_views(
    answers: tuple[torch.Tensor, torch.Tensor],
    labels,
    classes,
    n_train,
    config: EvaluateConfig,
    groups: Sequence[int] | None = None,
) -> EvaluationResult:
    """:func:`summarize_logits` of the answers (log-probabilities) and their near-duplicate
    ``groups``; with ``config.tta``, the scores of the plain view's probabilities (``answers``'
    second) too, in ``metrics.without_tta``."""
    logits, plain = answers
    result = summarize_logits(logits, labels, classes, n_train, groups)
    scores = summarize(plain.log(), labels, len(classes)) if config.tta else None
    without_tta = Scores.from_json(without_top5(scores, classes)) if scores else None
    result.metrics = replace(result.metrics, tta=config.tta, without_tta=without_tta)
    return result


def summarize_logits(logits, labels, classes, n_train=None, groups=None) -> EvaluationResult:
    """Overall and per-class figures; ``groups``: each image's near-duplicate group (none: every
    image its own), counted as ``n_groups``, overall and per class."""
    metrics = summarize(logits, labels, len(classes))
    groups = list(range(len(labels))) if groups is None else list(groups)
    metrics["n_groups"] = len(set(groups))
    shares = photo_shares(logits, labels, groups)
    metrics |= {f"{k}_photos": float(shares[k].mean()) for k in ("top1", "top5") if len(shares)}
    add_overall_intervals(metrics)
    without_top5(metrics, classes)
    distinct = distinct_per_class(labels, groups, classes)
    table = with_photo_top1(per_class_table(logits, labels, classes, n_train), shares, classes)
    table = mark_too_few(table, distinct)
    if len(classes) <= TOP5_CLASSES and "top5" in table:
        table["top5"] = float("nan")  # per_class.csv's cell empty, --json's null
    table = table.sort_values(["top1", "loss"], ascending=[True, False]).reset_index(drop=True)
    answers = answered(logits)
    matrix = confusion_matrix(answers, labels, len(classes))
    overall = EvaluationMetrics(Overall.from_json(metrics))
    photos, sizes = photo_confusion(answers, labels, groups, len(classes))
    confused = with_photo_counts(most_confused(matrix, classes), photos, classes)
    result = EvaluationResult(overall, table, confused, matrix, list(classes))
    result.mixed = mixed_pairs(photos, classes, sizes)  # a photo's copies once, as the intervals
    return result


def with_photo_counts(
    confused: pd.DataFrame, photos: torch.Tensor, classes: Sequence[str]
) -> pd.DataFrame:
    """``metrics.most_confused``'s pairs (counted in images, ranked by them, as confusion.csv
    and the heatmap count) with ``photos`` after ``count``: the distinct photos of the true class
    taken for the other (``photos``: ``metrics.photo_confusion``'s matrix), as evaluate's
    look-alike pairs count them: 9 copies of one crocodile taken for its head were "9" on the
    page and "1" in the terminal, neither saying which (review62b M2)."""
    at = {name: i for i, name in enumerate(classes)}
    pairs = zip(confused["true"], confused["predicted"], strict=True)
    confused["photos"] = [int(photos[at[true], at[said]]) for true, said in pairs]
    return confused


def photo_shares(logits: torch.Tensor, labels: torch.Tensor, groups: Sequence[int]) -> pd.DataFrame:
    """Each distinct photo of each class (its label and near-duplicate group) and the share of its
    images right at top-1 and top-5, one row each: a photo and its copies count once, as one
    vote of the share of them right, so that 9 right copies of one photo and one other photo
    wrong are one photo of two right (50%), not 9 images of 10 (90%)."""
    from objrec.metrics import topk_correct

    right = {f"top{k}": topk_correct(logits, labels, k).double().tolist() for k in (1, 5)}
    images = pd.DataFrame({"label": labels.tolist(), "group": list(groups), **right})
    return images.groupby(["label", "group"], sort=True).mean().reset_index()


def with_photo_top1(
    per_class: pd.DataFrame, shares: pd.DataFrame, classes: Sequence[str]
) -> pd.DataFrame:
    """``per_class`` with ``top1_photos`` after ``top1``: each class's mean of its distinct
    photos' shares right (:func:`photo_shares`), the figure its interval is of."""
    if "top1" in per_class:
        by_class = shares.groupby("label")["top1"].mean()
        photos = {classes[int(label)]: float(share) for label, share in by_class.items()}
        at = per_class.columns.get_loc("top1") + 1
        per_class.insert(at, "top1_photos", per_class["class"].map(photos))
    return per_class


TOP5_FIELDS = ("top5", "top5_photos", "top5_low", "top5_high", "mean_class_top5")
"""The overall figures of top-5, null for a model of at most ``TOP5_CLASSES`` classes."""


def without_top5(metrics: dict[str, Any], classes: Sequence[str]) -> dict[str, Any]:
    """``metrics`` with its top-5 figures null when there are at most ``TOP5_CLASSES`` classes:
    every image's class is then among the first five, so its "100%" measures nothing, nor would
    a 95% interval around it (75.75-100% on 12 images of 3 classes). evaluate and the report show
    no top-5 there either."""
    if len(classes) <= TOP5_CLASSES:
        metrics.update({name: None for name in TOP5_FIELDS if name in metrics})
    return metrics


def add_overall_intervals(metrics: dict[str, Any]) -> None:
    """``top1_low``, ``top1_high``, ``top5_low`` and ``top5_high`` into ``metrics``: the 95%
    Wilson interval of the share of distinct photos right (``top1_photos``, ``top5_photos``) on
    their count (``n_groups``), as each class's top-1 has it, for a paper's "96.0% (86.5-98.9%)"
    (where no image has a near-duplicate, the photo share is the image share). It measures the
    test images' chance only, not the spread between training seeds or splits
    (docs/commands.md, "Reproducing a result")."""
    from objrec.metrics import wilson_interval

    for name in ("top1", "top5"):
        share = float(metrics.get(f"{name}_photos", metrics[name]))
        low, high = wilson_interval(share, int(metrics["n_groups"]))
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
    """The evaluation's files (:data:`EVALUATION_FILES`), put in place together once all are written
    (``outputs.staged_outputs``): an evaluation stopped half way leaves the earlier one whole,
    never its plots beside new figures. ``force`` writes over any plain file, never a link;
    without it, only over objrec's own files as it wrote them (a file changed since is refused,
    naming it: ``outputs.users_file``), in the run's own ``eval-*`` too.

    ``earlier``: ``evaluate --against``'s evaluation of the earlier run, whose files go into its
    ``out``, ``against-NAME`` in ``out`` (``compare.against_dir``), in the same step, whole and
    just before ``out``'s own (written first, a stop left the comparison beside an earlier
    evaluation's files; put in after them, a kill between left ``out``'s new files naming it
    missing). An earlier ``--against``'s evaluation of another run goes in that step too, just
    after them (``compare.remove_stale_against``): the files naming it are never without it.
    Without ``force``, a file changed in either since objrec wrote it is refused, naming it, as
    in ``out`` (checked again here: one edited while the evaluation ran is not lost to it)."""
    if not force:
        for folder in against_folders(out):
            refuse_users_files(folder, EVALUATION_FILES)
    out.mkdir(parents=True, exist_ok=True)
    mark_output_dir(out)  # objrec's: a forced evaluation may write over it
    inner = None if earlier is None else earlier.out
    within = [] if inner is None else [inner.name]
    stale = functools.partial(remove_stale_against, out, inner)
    with staged_outputs(out, EVALUATION_FILES, force, inner=within, last=stale) as place:
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
    if result.unknown_predictions is not None:
        write_table(result.unknown_predictions, place("unknown_predictions.csv"))
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
        table, on = result.per_class, evaluated_words(folder_of(result))["on"]
        figure(["accuracy_vs_train.png"], lambda at: plots.accuracy_vs_train_size(table, at, on))
    if result.reliability:
        shown = reliability_shown(result.reliability, temperature_of(result.metrics))
        figure(["reliability.png"], lambda at: plots.reliability_diagram(shown, at))


def folder_of(result: EvaluationResult) -> str | None:
    """The evaluated folder of ``result`` as its record names it, for the figures' words."""
    return None if result.folder is None else str(result.folder)


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

"""Two runs side by side on the same images of the classes both know (``evaluate --against``).

After ``add`` brings in a class, a new run's top-1 counts that class's images and the old run's
does not (its evaluation leaves a class it was never taught out), so the two figures measure
different things and a fix can read as a regression. Here both runs are scored on the same
images: those of the evaluated folder whose class both runs know. Each answers as it does in use,
among all of its own classes: a new run answering its new class for an old class's image is
wrong, as it would be for a user. The old run's evaluation is ``evaluate``'s own, written into
the new evaluation's folder (``against-<its name>``, :func:`against_dir`), never over the old
run's own ``eval-*``: those hold its earlier results, of what may be another image set. Its
features come from the feature store, so it costs no frozen pass only when both
runs share their frozen body (the same backbone and weights, not fine-tuned, and the same image
size): the new run's evaluation has just stored them. A run on another body pays a frozen pass of
its own over the images, as ``evaluate`` of it alone would.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from objrec.chance import CHANCE, changed_by_chance
from objrec.class_record import folder_classes, read_classes
from objrec.data import ClassFolder, Sample, class_of_folder
from objrec.errors import ObjrecError
from objrec.eval_dir import against_dir, against_folders, earlier_name
from objrec.evaluation_metrics import Comparison, EvaluationRecord, OwnEvaluation
from objrec.progress import Prefixed, Reporter
from objrec.run_files import checkpoint_file
from objrec.words import plural

if TYPE_CHECKING:
    import torch

    from objrec.config import EvaluateConfig
    from objrec.evaluate import EvaluationResult
    from objrec.meta import RunMeta
    from objrec.store import FeatureStore

log = logging.getLogger(__name__)


def require_earlier_run(against: Path, run: Path) -> None:
    """Refuse ``against`` unless it is a run folder or checkpoint this objrec reads, other than
    ``run``'s own, before anything is evaluated: a mistyped path would cost a whole evaluation of
    the new run first, and the run itself (or a link to it) compared with itself would read
    "+0.00 points" and exit 0, as though two runs had been. A copy of the run is compared: its own
    evaluation may have been of other labels (:func:`own_evaluation`). Its header alone is read
    (``model_file.header_alone``): the model, read whole when it is evaluated
    (:func:`earlier_model`), is not held through the new run's evaluation."""
    from objrec.model_file import header_alone

    with said_of(against):
        header_alone(Path(against))
    try:
        same = os.path.samefile(checkpoint_file(run), checkpoint_file(Path(against)))
    except OSError:  # no model in ``run``: loading it says so
        return
    if same:
        raise ObjrecError(
            f"`against` {against} is the run evaluated, {run}: comparing a run with itself says "
            "nothing; give `against` an earlier run"
        )


def earlier_model(against: Path) -> tuple[dict[str, torch.Tensor], RunMeta]:
    """The model of ``against`` (``checkpoint.read_checkpoint``'s), read once for the whole
    comparison (:func:`evaluate_against`: a retrain of it meanwhile cannot mix two models'
    parts), refused as :func:`require_earlier_run` refuses it (a file damaged since its seal was
    written, which only a whole read finds, too)."""
    from objrec.checkpoint import read_checkpoint

    with said_of(against):
        return read_checkpoint(Path(against))


@contextmanager
def said_of(against: Path) -> Iterator[None]:
    """An :class:`ObjrecError` about the earlier run's files said as of ``against``."""
    try:
        yield
    except ObjrecError as exc:
        raise ObjrecError(f"`against` {against}: {exc}", exc.values) from exc


def remove_stale_against(out: Path, keep: Path | None = None) -> None:
    """Remove the ``against-*`` evaluations in the evaluation folder ``out`` but ``keep`` (this
    evaluation's own, if any), once ``out`` is written again: a plain evaluate left an earlier
    ``--against``'s beside its new results, as if they were compared. Only what objrec wrote
    goes (``runs.remove_evaluation``: a folder holding a file of the user's is kept, said; one
    of its files changed since objrec wrote it was refused before, unless forced:
    ``evaluate.write_evaluation``), and what goes is said: it went without a word."""
    from objrec.runs import remove_evaluation

    for inner in against_folders(out):
        if inner != keep and remove_evaluation(inner):
            log.warning(  # in the API's words: the CLI says --against and --out
                "removed %s, the other run's evaluation of an earlier comparison (`against`): it "
                "was compared with results this evaluate replaced (give `against` again to "
                "compare, or another `out` to write elsewhere)",
                inner,
            )


def evaluate_against(
    result: EvaluationResult,
    folder: Path,
    config: EvaluateConfig,
    reporter: Reporter,
    out: Path,
    later: Path | None,
    measured: Callable[..., EvaluationResult],
) -> tuple[Comparison, EvaluationResult]:
    """Evaluate ``config.against`` (the earlier run) on ``folder`` as ``result``'s run was (same
    split, views and cache; no ``unknown`` folder), then :func:`compare_runs`: the comparison,
    and the earlier run's evaluation, to be written into :func:`against_dir` of ``out`` (its
    ``out``) with the new evaluation's own files, in one step (``evaluate.write_evaluation``).
    ``later``: ``result``'s run, whose record of its images' classes tells a class split from
    one renamed (:func:`earlier_classes_moved`). ``measured``: how the earlier run is evaluated
    (``evaluate.measured``, handed in by ``evaluate``, which imports this module). The
    earlier run's model is read here, once (:func:`earlier_model`): every part of the comparison
    is of that one reading."""
    against = Path(config.against or "")
    settings = replace(config, against=None, unknown=None)
    told = Prefixed(reporter, f"{earlier_name(against)} (the earlier run): ")
    cache_dir = str(config.cache_dir) if config.cache_dir else None
    read = earlier_model(against)
    meta = read[1]
    moved = earlier_classes_moved(result, against, meta, cache_dir, later)
    known = {class_of_folder(name) for name in meta.classes}
    renamed = {new: old for old, new in moved.moved.items() if new not in known}
    reading = EarlierRun(frozenset(result.classes), renamed)
    into = against_dir(out, against)
    earlier = measured(
        against, folder, settings, into, told, force=True, earlier=reading, read=read
    )
    comparison = replace(
        compare_runs(result, earlier, against, moved),
        image_set=earlier.image_set,
        own_evaluation=own_evaluation(against, config, earlier.model_digest),
    )
    log.info(
        "against %s on %s of %s both know: top1 %.4f here, %.4f there",
        *(against, plural(comparison.n, "image"), plural(len(comparison.classes), "class")),
        *(comparison.top1, comparison.top1_against),
    )
    return comparison, earlier


@dataclass(frozen=True)
class ClassesMoved:
    """Where the earlier run's classes that this run's labels lack are now, by their photos'
    contents (:func:`earlier_classes_moved`; every name in NFC)."""

    moved: dict[str, str] = field(default_factory=dict)
    """Old -> new: every photo of it here carries one class now (renamed, or merged into it)."""
    split: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Old -> each class its photos carry now -> their paths here (``predictions.path``; none for
    a class only the later run's record gives them), two classes or more: the earlier run, taught
    them as one, is neither right nor wrong on them."""
    untold: list[str] = field(default_factory=list)
    """Those whose photos could not be looked for: the earlier run records no classes of its
    images (``class_record``) and its data folder holds no folder of them."""

    @property
    def split_paths(self) -> set[str]:
        """The images here of the classes ``split``: left out of the comparison."""
        return {path for now in self.split.values() for paths in now.values() for path in paths}


def earlier_classes_moved(
    result: EvaluationResult,
    against: Path,
    meta: RunMeta,
    cache_dir: str | None,
    later: Path | None = None,
) -> ClassesMoved:
    """Where the classes of the run ``against`` (its model's metadata ``meta``) that this run's
    labels lack went, by content digest: its photos of each (its record of its images' classes,
    else its data folder now: :func:`earlier_labels`), found among those evaluated (``result``).
    One class here now: renamed (``dolphin`` -> ``dolphins``) or merged into another
    (``windsor_chair`` -> ``chair``), its answers of the old name then the new one's (else a
    merge reads as a significant gain, the earlier run's ``windsor_chair`` on a photo now
    labelled ``chair`` counted wrong). Several classes now, here or in the later run's
    (``later``) record of its images: split, its photos compared by neither run, even in a folder
    holding one part's photos only, which would otherwise read as a rename, the earlier run's
    answer ``ant`` right on each ``ant_a`` photo."""
    from objrec.cache import open_cache

    here = {class_of_folder(name) for name in result.classes}
    gone = [class_of_folder(n) for n in meta.classes if class_of_folder(n) not in here]
    if not gone or result.predictions is None:
        return ClassesMoved()
    store = open_cache(cache_dir or meta.cache_dir).store  # held to evaluate's end
    was, untold = earlier_labels(against, meta.data_dir, gone, store)
    paths = [str(p) for p in result.predictions["path"]]
    now = store.readable_digests(list(map(Path, paths)))[0] if was else [""] * len(paths)
    labels: dict[str, dict[str, list[str]]] = {}
    for path, digest, label in zip(paths, now, result.predictions["true"], strict=True):
        if digest in was:
            labels.setdefault(was[digest], {}).setdefault(class_of_folder(label), []).append(path)
    for digest, name in recorded_classes(later).items():
        if digest in was and was[digest] in labels:
            labels[was[digest]].setdefault(name, [])
    return ClassesMoved(
        moved={old: next(iter(new)) for old, new in labels.items() if len(new) == 1},
        split={old: new for old, new in labels.items() if len(new) > 1},
        untold=untold,
    )


def recorded_classes(run: Path | None) -> dict[str, str]:
    """Content digest -> class (NFC) of the images of the run (folder or checkpoint) ``run``, as it
    recorded them when it trained; empty without a run or a record."""
    if run is None:
        return {}
    return read_classes(Path(run) if Path(run).is_dir() else Path(run).parent) or {}


def earlier_labels(
    against: Path, data_dir: str | None, gone: list[str], store: FeatureStore
) -> tuple[dict[str, str], list[str]]:
    """Content digest -> class for the earlier run ``against``'s images of the classes ``gone``
    (NFC): from its record of them (``class_record``), else from its data folder ``data_dir`` as
    its class folders are now (a run of an older objrec); and those of ``gone`` that neither
    holds (the data folder gone, or edited in place), which cannot be matched."""
    recorded = read_classes(Path(against) if Path(against).is_dir() else Path(against).parent)
    if recorded is not None:
        return {digest: name for digest, name in recorded.items() if name in gone}, []
    folder = Path(data_dir) if data_dir else None
    rows = folder_classes(folder, store, classes=gone) if folder and folder.is_dir() else []
    was = {digest: name for _, name, digest in rows}
    found = set(was.values())
    return was, [name for name in gone if name not in found]


@dataclass(frozen=True)
class EarlierRun:
    """How ``evaluate --against`` reads the evaluated folder for the earlier run it compares with
    (``evaluate.measured``'s ``earlier``)."""

    later_classes: frozenset[str]
    """The classes of the later run it is compared with: a folder of one of those is a class the
    earlier run was not taught (``reds`` beside its ``red`` is no misspelling), and the comparison
    names such classes itself, so the warning that names them is only logged as information."""
    renamed: Mapping[str, str] = field(default_factory=dict)
    """The folder's class folders that are an earlier class renamed, new name -> the earlier
    run's (NFC): read as that class (:func:`read_renamed`)."""


def read_renamed(
    images: ClassFolder,
    untaught: dict[str, list[Path]],
    classes: Sequence[str],
    renamed: Mapping[str, str],
) -> ClassFolder:
    """``images`` with the untaught class folders that ``renamed`` names (new -> old) read as
    the earlier class they were renamed from (``classes``: the earlier run's), taken out of
    ``untaught``: the earlier run's answers on a renamed class's photos, compared."""
    index = {class_of_folder(name): i for i, name in enumerate(classes)}
    extra = []
    for new, was in renamed.items():
        folder, old = class_of_folder(new), class_of_folder(was)
        if old in index and folder in untaught:
            extra += [Sample(path, index[old]) for path in untaught.pop(folder)]
    return replace(images, samples=images.samples + tuple(extra)) if extra else images


def own_evaluation(against: Path, config: EvaluateConfig, model: str) -> OwnEvaluation | None:
    """The earlier run's own evaluation of the split compared (its ``eval-<split>``, which
    ``evaluate`` of it alone writes for its data folder's split), when it is of its present
    ``model``: where, its top-1 and image set (``image_set``: the images and labels it was scored
    on then; after a label fix, not those compared now). None when there is none to read."""
    from objrec.run_files import output_beside

    name = f"eval-{config.split}" + ("-tta" if config.tta else "")
    folder = output_beside(Path(against), name)
    try:
        record = EvaluationRecord.read(folder)
    except (OSError, ValueError):
        return None
    if record.model_digest != model:
        return None
    top1, evaluated = float(record.metrics.top1), record.folder or None
    return OwnEvaluation(str(folder), top1, evaluated, record.image_set)


def compare_runs(
    result: EvaluationResult,
    earlier: EvaluationResult,
    against: Path,
    moved: ClassesMoved | None = None,
) -> Comparison:
    """``result`` (this run) and ``earlier`` (the run ``against``), evaluated on one folder,
    on the images both scored whose class both know: each run's top-1 and mean per-class top-1,
    the images one got right and the other wrong, each class's top-1 in both, and how many of
    the images each run trained or validated on (``seen_here``, ``seen_against``: its top-1
    overstates it). Class names are matched in NFC (a run of a Mac's NFD ``Café`` folder and
    one of an NFC one know one class). ``moved``: where the earlier run's classes this run lacks
    went (:func:`earlier_classes_moved`): its answers (and labels) of one renamed or merged read
    as the new class's (``renamed``, ``merged``); the photos of one split into several left out
    (``split``: old -> each class now -> its images here)."""
    moved = moved or ClassesMoved()
    classes = _class_fields(result.classes, earlier.classes, moved)
    both = _paired(result, earlier, classes["classes"], moved, against)
    right, right_before = both["right"], both["right_against"]
    photos = changed_photos(both)
    per_class = _per_class(both, photos)
    only_here = classes["only_here"]
    return Comparison(
        run=str(against),
        out=str(earlier.out) if earlier.out else None,
        **classes,
        n=len(both),
        top1=_rate(int(right.sum()), len(both)),
        top1_against=_rate(int(right_before.sum()), len(both)),
        mean_class_top1=float(per_class["top1"].mean()),
        mean_class_top1_against=float(per_class["top1_against"].mean()),
        **chance_fields(
            int((right & ~right_before).sum()),
            int((~right & right_before).sum()),
            (int(photos["fixed"].sum()), int(photos["broken"].sum())),
        ),
        answered_only_here=int(both["predicted"].isin(map(class_of_folder, only_here)).sum()),
        seen_here=int((both["seen_in"] != "").sum()),
        seen_against=int((both["seen_in_against"] != "").sum()),
        per_class=per_class.to_dict(orient="records"),
    )


def _paired(
    result: EvaluationResult,
    earlier: EvaluationResult,
    shared: list[str],
    moved: ClassesMoved,
    against: Path,
) -> pd.DataFrame:
    """The images both runs scored whose class both know (``shared``), each with both runs'
    answers and whether each is right (``right``, ``right_against``), less the photos of a class
    split since (``moved``), of which the earlier run is neither right nor wrong by its labels;
    refused when none is left."""
    here, there = _rows(result.predictions, shared), _rows(earlier.predictions, shared, moved.moved)
    both = here.merge(there, on=["path", "true"], suffixes=("", "_against"))
    both = both[~both["path"].isin(moved.split_paths)]
    if not len(both):
        raise ObjrecError(
            f"the run and `against` {against} share no class with images in {result.folder}: "
            "there is nothing to compare them on"
        )
    right = both["true"] == both["predicted"]
    return both.assign(right=right, right_against=both["true"] == both["predicted_against"])


def _class_fields(here: list[str], there: list[str], moved: ClassesMoved) -> dict[str, Any]:
    """The classes both runs know (``classes``, as this run spells them), those only this run
    (``here``) or only the earlier (``there``) knows, and where the earlier's classes this run
    lacks went (``moved``): ``renamed``, ``merged`` into a class it knew too, ``split`` (old ->
    each class now -> its images here), or ``untold``."""
    earlier_names = {class_of_folder(name) for name in there}
    known = {moved.moved.get(name, name) for name in earlier_names}
    here_known = {class_of_folder(name) for name in here}
    went = here_known | set(moved.moved) | set(moved.split)
    return {
        "classes": [name for name in here if class_of_folder(name) in known],
        "only_here": [name for name in here if class_of_folder(name) not in known],
        "only_against": [name for name in there if class_of_folder(name) not in went],
        "renamed": {old: new for old, new in moved.moved.items() if new not in earlier_names},
        "merged": {old: new for old, new in moved.moved.items() if new in earlier_names},
        "split": {old: {new: len(p) for new, p in now.items()} for old, now in moved.split.items()},
        "untold": list(moved.untold),
    }


def fewest_beyond_chance() -> int:
    """The fewest images changed answer whose split can be more than chance (all of them the
    same way): 6, as 2 / 2**6 < :data:`CHANCE`; a class with fewer always reads "could be
    chance"."""
    return next(n for n in range(1, 64) if 2 * 0.5**n < CHANCE)


def chance_fields(fixed: int, broken: int, photos: tuple[int, int] | None = None) -> dict[str, Any]:
    """``fixed``, ``broken`` (images), the distinct photos among them (``photos``: fixed and
    broken, :func:`changed_photos`; None: each image its own), McNemar's ``p_value`` on the
    photos (:func:`changed_by_chance`) and ``within_chance``: whether it is at least
    :data:`CHANCE`. Copies of one photo are one observation: counted apart, 8 byte copies of a
    photo one run got wrong would turn "within chance" into "p < 0.001"."""
    fixed_photos, broken_photos = photos if photos is not None else (fixed, broken)
    p_value = changed_by_chance(fixed_photos, broken_photos)
    return {
        "fixed": fixed,
        "broken": broken,
        "fixed_photos": fixed_photos,
        "broken_photos": broken_photos,
        "p_value": p_value,
        "within_chance": p_value >= CHANCE,
    }


def changed_photos(both: pd.DataFrame) -> pd.DataFrame:
    """Per distinct photo (of each class, by evaluate's near-duplicate ``group``: copies and
    bursts of one scene, what "rests on N distinct photos" counts), whether this run got more of
    its images right than the other (``fixed``) or fewer (``broken``), indexed by (class,
    group)."""
    group = both["group"] if "group" in both else both["path"]
    counts = both[["right", "right_against"]].astype(int).groupby([both["true"], group]).sum()
    return pd.DataFrame(
        {
            "fixed": counts["right"] > counts["right_against"],
            "broken": counts["right"] < counts["right_against"],
        }
    )


def _rows(
    predictions: pd.DataFrame | None, classes: list[str], moved: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The predictions' path, true and predicted class (in NFC; a class ``moved`` since, its new
    name), the run's split it is in (``seen_in``: "" for none) and its near-duplicate ``group``
    (its path where none is recorded), for the images of ``classes``."""
    columns = ["path", "true", "predicted", "seen_in", "group"]
    if predictions is None:
        return pd.DataFrame(columns=columns)
    rows = predictions.reindex(columns=columns)
    rows["seen_in"] = rows["seen_in"].astype(object).fillna("")  # absent: none known
    rows["group"] = rows["group"].astype(object).fillna(rows["path"])
    for column in ("true", "predicted"):
        rows[column] = rows[column].map(class_of_folder).map(lambda n: (moved or {}).get(n, n))
    return rows[rows["true"].isin([class_of_folder(name) for name in classes])]


def _rate(count: int, total: int) -> float:
    return count / total if total else float("nan")


def _per_class(both: pd.DataFrame, photos: pd.DataFrame) -> pd.DataFrame:
    """Per class: its images, top-1 in this run and in the other, the change (this run's less
    the other's), and its images only one run got right with whether that is within chance
    (:func:`chance_fields`, judged on its distinct ``photos``: a class of 12 test images moves
    8.3 points with one image), the most lost first."""
    grouped = both.groupby("true", sort=True)
    fixed = (both["right"] & ~both["right_against"]).groupby(both["true"]).sum()
    broken = (~both["right"] & both["right_against"]).groupby(both["true"]).sum()
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "top1": grouped["right"].sum() / grouped.size(),
            "top1_against": grouped["right_against"].sum() / grouped.size(),
        }
    )
    table["change"] = table["top1"] - table["top1_against"]
    by_photo = photos.groupby(level=0).sum()
    pairs = zip(fixed[table.index], broken[table.index], strict=True)
    chance = [
        chance_fields(int(f), int(b), (int(by_photo.at[c, "fixed"]), int(by_photo.at[c, "broken"])))
        for c, (f, b) in zip(table.index, pairs, strict=True)
    ]
    table = table.assign(**pd.DataFrame(chance, index=table.index))
    table = table.rename_axis("class").reset_index()
    table["n"] = table["n"].astype(int)
    return table.sort_values(["change", "class"], kind="stable").reset_index(drop=True)

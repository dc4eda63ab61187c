"""The folder an evaluation writes to, and what is refused of it before the model loads.

``evaluate`` writes into ``RUN/eval-<split>`` for a split of the run's own data folder, else a
folder of its own (:func:`default_eval_dir`); an evaluation of the same folder there is refreshed,
one of another folder is not replaced, and results a user asked for that evaluating again would
drop (an ``against`` comparison, ``unknown`` results) are refused while they are current
(:func:`check_eval_dir`). All of it is decided from the files alone, without PyTorch: the CLI
says such a refusal before its libraries load, and ``evaluate`` before its model does
(:func:`refuse_own_eval_dir`, the model's data folder read from its metadata).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from objrec.config import EvaluateConfig
from objrec.data import SPLITS, is_split_folder, present_splits
from objrec.errors import ObjrecError
from objrec.evaluation_metrics import EvaluationRecord, read_record
from objrec.labels import unknown_images
from objrec.meta import RunMeta
from objrec.outputs import (
    EVALUATION_FILES,
    check_output_dir,
    holds_evaluation,
    own_contents,
    refuse_inside,
    refuse_users_files,
)
from objrec.paths import PathGiven
from objrec.run_files import output_beside

log = logging.getLogger(__name__)


def default_eval_dir(
    run: Path, data_dir: str | Path | None, target: Path, tta: bool = False
) -> Path:
    """``RUN/eval-<split>`` for a split of the run's own data folder, else a folder of its own.

    Another folder gets ``RUN/eval-<its name>-<8 hex digits of its absolute path>``, so that no
    two evaluated folders share an output folder; ``tta`` adds ``-tta``, so that an evaluation
    with test-time views never replaces the plain one (which ``report`` shows). ``run`` may be a
    checkpoint file: ``RUN/model.safetensors`` writes where its run folder would, another beside
    itself, named after it (``RUN/epoch3-eval-test``: ``run_files.output_beside``).
    """
    target = Path(target).resolve()
    suffix = "-tta" if tta else ""
    if data_dir and target.parent == Path(data_dir).resolve() and target.name in SPLITS:
        return output_beside(run, f"eval-{target.name}{suffix}")
    name = f"{target.parent.name}-{target.name}" if target.name in SPLITS else target.name
    digest = hashlib.sha256(str(target).encode()).hexdigest()[:8]
    return output_beside(run, f"eval-{name}-{digest}{suffix}")


def evaluated_words(folder: str | None) -> dict[str, str]:
    """How the page names the evaluated images, by the evaluated folder's own name: ``test
    image``, ``test images``, ``test top-1`` and ``test top-5`` for a split (or an evaluation
    that records no folder), ``image of field``, ``images of field``, ``top-1 on field`` and
    ``top-5 on field`` for another folder (``evaluate RUN field``: not "12 test images" of
    it); ``on``: ``on the test split`` or ``on field``, as a figure of them says (the accuracy
    against training images: "accuracy on the test split" of every evaluation, review62b M1)."""
    name = Path(folder).name if folder else "test"
    if name in SPLITS:
        words = {"image": f"{name} image", "images": f"{name} images", "on": f"on the {name} split"}
        return words | {"top1": f"{name} top-1", "top5": f"{name} top-5"}
    words = {"image": f"image of {name}", "images": f"images of {name}", "on": f"on {name}"}
    return words | {"top1": f"top-1 on {name}", "top5": f"top-5 on {name}"}


def resolve_eval_folder(folder: Path, split: str) -> Path:
    """``folder/split`` for a split folder, else ``folder`` itself (one sub-folder per class);
    one that is not there, or no folder, refused naming ``evaluate``'s parameter, ``data``, as
    its CLI's DATA (which says "does not exist" too)."""
    folder = Path(folder)
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise ObjrecError(f"`data` {folder} {state}")
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


def evaluated_folder(out: Path) -> str | None:
    """The folder whose evaluation ``out`` holds ("" when unknown); None when it holds none."""
    if not out.is_dir() or not own_contents(out):  # what a killed first run left is none
        return None
    try:
        return EvaluationRecord.read(out).folder
    except (OSError, ValueError):
        return ""


def evaluation_of(out: Path, earlier: str) -> str:
    """``an evaluation of FOLDER``, for the evaluation in ``out`` of ``earlier`` (its
    :func:`evaluated_folder`), or says that its ``metrics.json`` cannot be read (it is then
    unknown, not another folder's)."""
    if earlier:
        return f"an evaluation of {earlier}"
    try:
        EvaluationRecord.read(out)
    except (OSError, ValueError):
        return "an evaluation whose metrics.json cannot be read"
    return "an evaluation of another folder"


def refuse_inside_unknown(out: Path, unknown: PathGiven | None) -> None:
    """An ``out`` inside the ``unknown`` folder refused (a usage error naming both): the
    evaluation's charts written there would count as photos of none of the classes on the next
    evaluation of that folder. A table given as ``unknown`` names photos anywhere: nothing to
    refuse."""
    if unknown is not None and Path(unknown).is_dir():
        refuse_inside(out, Path(unknown), what="unknown folder")


def check_eval_dir(
    run: Path,
    data_dir,
    target: Path,
    out: Path | None,
    force: bool,
    config: EvaluateConfig | None = None,
) -> Path:
    """The folder an evaluation of ``target`` is to write to, checked before any image is read
    (made only once there is something to put in it); never one holding something else.

    The default folder inside the run is refreshed by a new evaluation of the same folder, but
    for results of the earlier one ``config`` would drop while they are current
    (:func:`refuse_dropping`), and over objrec's own files only as it wrote them: a file changed
    since (a predictions.csv under review) is refused, naming it, unless ``force``
    (``outputs.users_file``, the rule of every folder a re-run writes again), in its
    ``against-*`` comparisons too (:func:`against_folders`). A folder of the user's must be new
    or empty, unless ``force``.
    """
    config = config or EvaluateConfig()
    if out is not None:
        check_output_dir(out, force, names=EVALUATION_FILES)
        return Path(out)
    out = default_eval_dir(run, data_dir, target, config.tta)
    earlier = evaluated_folder(out)
    if earlier is not None and earlier != str(target.resolve()) and not force:
        raise ObjrecError(
            f"{out} holds {evaluation_of(out, earlier)}: pass `force=True` to "
            "replace it, or choose another `out`"
        )
    if earlier is not None and not force:
        refuse_dropping(out, run, config)
        for folder in (out, *against_folders(out)):  # explore's and audit's rule: edits are kept
            refuse_users_files(folder, EVALUATION_FILES)
    return out


def against_folders(out: Path) -> list[Path]:
    """The earlier runs' evaluations that ``evaluate --against`` wrote into the evaluation folder
    ``out`` (``against-*`` folders holding one, no link): an evaluation written there again
    writes over the one of its own ``against`` and removes the others
    (``compare.remove_stale_against``), so a file changed in any of them is the user's too."""
    return [
        inner
        for inner in sorted(Path(out).glob("against-*"))
        if inner.is_dir() and not inner.is_symlink() and holds_evaluation(inner)
    ]


def refuse_own_eval_dir(
    run: Path, folder: Path, config: EvaluateConfig, meta: RunMeta | None = None
) -> tuple[RunMeta, bytes] | None:
    """:func:`check_eval_dir`'s refusals of the run's own evaluation folder, said before the
    model loads (seconds, and a "loading the model" line before the refusal): the folder's name
    needs only the model's data folder, read from its metadata without its tensors
    (``model_file.read_meta_and_bytes``), and only when either name it may have holds one. A
    model that cannot be read, or a folder without the split, is left to be said as before,
    after the run's own refusals. ``meta``: the model's metadata, read already (nothing is read
    then). The model as read here (its metadata and the file's bytes), for the evaluation to load
    it from rather than read the file again; None when it was not read."""
    from objrec.model_file import read_meta_and_bytes

    try:
        target = resolve_eval_folder(folder, config.split)
    except ObjrecError:
        return None
    names = {default_eval_dir(run, data, target, config.tta) for data in (None, target.parent)}
    if all(evaluated_folder(name) is None for name in names):
        return None
    read = None
    if meta is None:
        try:
            read = read_meta_and_bytes(run)
        except ObjrecError:
            return None
        meta = read[0]
    check_eval_dir(run, meta.data_dir, target, None, False, config)
    return read


def refuse_dropping(out: Path, run: Path, config: EvaluateConfig) -> None:
    """Refuse to evaluate into the run's own ``out`` again when that drops results of the
    earlier evaluation there that a user asked for (``against``'s comparison with another run
    than ``config``'s, ``unknown``'s results when ``config`` has none) while they are current:
    of the model now in the run, at its threshold, of the images as they are
    (``current.currency``): train's own "next: evaluate RUN DATA" after an ``evaluate --against
    --unknown`` must not remove both and say so only after. Stale ones go, said."""
    from objrec.current import currency  # reads the file index: sqlite, opened only here

    dropped = asked_results_dropped(out, config)
    if not dropped or not currency(out, run).holds:
        return
    results = " and ".join(words for words, _ in dropped)
    given = " and ".join(f"`{setting}`" for _, setting in dropped)
    them = "it" if len(dropped) == 1 else "them"
    raise ObjrecError(
        f"{out} holds {results}, current for this model and these images, which an evaluation "
        f"without {given} drops: give {them} again to keep {them}, "
        f"`force=True` to replace {them}, or another `out` to write elsewhere"
    )


def asked_results_dropped(out: Path, config: EvaluateConfig) -> list[tuple[str, str]]:
    """What of the evaluation in ``out`` one of ``config`` would drop, each in words and as the
    setting that measures it again: its comparison with another run (``against``), its results
    of photos of none of the classes (``unknown``)."""

    record = read_record(out)
    dropped = []
    this = None if config.against is None else against_dir(out, Path(config.against))
    others = [inner for inner in against_folders(out) if inner != this]  # those it removes
    compared = record.against.run if record is not None and record.against else None
    if compared and against_dir(out, Path(compared)) in others and compared_now(out, compared):
        dropped.append((f"the comparison with {compared}", f"against={compared!r}"))
    unknown = earlier_unknown(out).get("unknown")
    if unknown is not None and config.unknown is None:
        words = f"the results of {unknown} (photos of none of the classes)"
        dropped.append((words, f"unknown={str(unknown)!r}"))
    return dropped


def compared_now(out: Path, earlier: str) -> bool:
    """Whether ``against=earlier`` would make the comparison in ``out`` again: that run is there
    with the model its evaluation in ``out`` was of, at its threshold, on the same images."""
    from objrec.current import currency  # reads the file index: sqlite, opened only here

    try:
        return currency(against_dir(out, Path(earlier)), Path(earlier)).holds
    except (ObjrecError, OSError):  # moved, deleted, or no model now
        return False


def earlier_unknown(folder: Path) -> dict[str, Any]:
    """``{"unknown": FOLDER}`` when the evaluation in ``folder`` was an ``evaluate --unknown
    FOLDER`` and FOLDER still holds images, so that its result can be made again; else ``{}``.
    The report passes it to an evaluation it makes again (of a model trained since, or at a
    threshold kept since), which would otherwise lose the open-set result the user had made, and
    :func:`refuse_dropping` keeps a plain evaluate from dropping such a result. A FOLDER emptied
    since is left out, said in the log: no option of the report's names it."""
    record = read_record(folder)
    open_set = record.metrics.open_set if record is not None else None
    if open_set is None or not open_set.folder:
        return {}
    unknown = Path(open_set.folder)
    try:
        unknown_images(unknown)
    except ObjrecError:
        log.info("evaluated again without `unknown` %s: it holds no images now", unknown)
        return {}
    return {"unknown": unknown}


def against_dir(out: Path, against: Path) -> Path:
    """Where the earlier run ``against``'s evaluation for the comparison goes: inside the new
    evaluation's folder ``out``, ``against-`` and its :func:`earlier_name`."""
    return Path(out) / f"against-{earlier_name(against)}"


def earlier_name(against: Path) -> str:
    """The earlier run's name, as its folder and its steps' progress say it: the run folder's
    name (``.`` too: ``against.name`` is empty there), a checkpoint other than a run's
    ``model.safetensors`` its folder's and its own (``<its folder>-<its name>``)."""
    real = Path(against).resolve()
    if real.is_dir() or real.name == "model.safetensors":
        return (real if real.is_dir() else real.parent).name
    return f"{real.parent.name}-{real.stem}"

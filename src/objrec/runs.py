"""The run folder: what a training run writes, how it is resumed, what Ctrl-C leaves behind.

A run folder holds ``model.safetensors`` (the best epoch), ``config.json``, ``history.csv``,
``curves.png``, ``summary.json``, ``seen_digests.csv`` (the content digests of the images it
trained and validated on, for ``evaluate``'s leak check) and ``image_classes.csv`` (the class of
each image of its data folder, for ``evaluate --against``). While the run trains, and after it was
interrupted or its loss diverged (``engine.Diverged``), it also holds ``last.safetensors`` (the
state after the last completed epoch, for ``--resume``); a finished run removes it. The files
are written in a hidden folder in the run, then renamed in together (:func:`put_in_place`): a
run stopped or failing before then (Ctrl-C, a kill, a full disk) leaves the earlier run's files,
if any, as they were, and its ``last.safetensors``, which ``--resume`` continues; one killed
within the renames leaves its model without the earlier run's records, its ``summary.json``
(which names its model by digest) coming last. A forced run
over an earlier one takes with them what objrec made from the earlier model (evaluations,
report, export).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from objrec.checkpoint import save_checkpoint
from objrec.class_record import write_classes
from objrec.config import TrainConfig
from objrec.cores import cpu_threads
from objrec.data import class_of_folder
from objrec.engine import FitState
from objrec.errors import LOGGED_VALUES, Interrupted, ObjrecError, ctrl_c_leaves, stops_held
from objrec.eval_dir import default_eval_dir
from objrec.evaluation_metrics import read_record
from objrec.leakage import write_seen
from objrec.leftovers import remove_leftovers
from objrec.manifest import sha256_file
from objrec.meta import ParameterCounts, Processes, RunMeta
from objrec.model import Classifier, count_parameters
from objrec.outputs import (
    EVALUATION_FILES,
    MARKER,
    SUGGEST_FILES,
    holds_evaluation,
    is_export_script,
    is_export_sidecar,
    is_plain_file,
    json_dict,
    own_contents,
    refuse_inside,
    refuse_unwritable,
    staging_folder,
    users_file,
    written_whole,
)
from objrec.paths import PathGiven
from objrec.precision import Precision
from objrec.provenance import Provenance, provenance
from objrec.resume_state import (
    SavedTraining,
    load_training_state,
    restore_training_state,
)
from objrec.run_files import BEST, LAST, RUN_FILES, SUMMARY
from objrec.run_place import DERIVED as DERIVED
from objrec.run_place import RUN_AGAIN, UNFINISHED, refuse_run_place, unfinished_run
from objrec.run_place import describes_another_model as describes_another_model
from objrec.run_place import holds_run as holds_run
from objrec.run_place import mismatched_summary as mismatched_summary
from objrec.run_place import replaces_a_finished_run as replaces_a_finished_run
from objrec.run_place import run_status as run_status
from objrec.run_record import FrozenPassCounts, ImageCounts, RunRecord, RunSeconds, TrainResult
from objrec.store import sync_folder
from objrec.words import joined, some_of

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFolders:
    """The two folders of a run, read by name: as a tuple of two paths, in one order here and the
    other there, a later edit could swap them unseen (mypy cannot tell one path from another)."""

    run: Path
    """The run folder ``train`` writes."""
    data: Path
    """The data folder it trains on (its ``train/`` and ``valid/``)."""


def refuse_out_inside_data(data_dir: Path, out: Path) -> None:
    """A run folder inside the data folder would be read as a class (or split) folder."""
    refuse_inside(out, data_dir)


def open_run_folder(out: Path, force: bool, data_dir: Path | None = None) -> Path:
    """The folder of a new run: created; one holding a run, or other files, is refused unless
    ``force``, and one holding files of a run's names but no run always
    (:func:`run_place.refuse_run_place`; under torchrun every rank checks before any writes
    there: rank 0 writes only after the frozen pass, which waits for all of them). ``data_dir``:
    the data the run was to train on, so that the refusal of an interrupted run names the whole
    command that resumes it."""
    out = Path(out)
    real = out.resolve()  # checked where the run will land: ``x/..`` is the folder above x
    if real.exists() and not real.is_dir():
        raise ObjrecError(f"`out` {out} exists and is not a folder")
    refuse_unwritable(out, real)
    status = refuse_run_place(out, force, data_dir)
    if status != "none":  # forced: an interrupted run's evaluations go with its model too
        warn_of_derived(out, real)
    out.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out)  # of a run killed while it wrote a checkpoint
    return out


RUN_BUSY = "another objrec is training into {out} now: wait for it to end, or choose another `out`"


@contextlib.contextmanager
def locked_run(out: Path, make: bool) -> Iterator[None]:
    """Hold ``out`` while a train writes there (an exclusive ``flock`` on the folder, ``make``:
    made first for a new run), taken before its run is looked at: a second train into it is
    refused at once. Two trains into one new folder both trained, the later one's files
    replacing the earlier one's, which had said its model was saved there; one started during a
    train was told to resume the run being trained. The system releases it however the
    process ends."""
    if make:
        with contextlib.suppress(OSError):  # a file there, no permission: open_run_folder says so
            out.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # no folder to resume, or one that cannot be made: refused after this
        yield
        return
    try:
        try:
            lock_past_probes(fd)
        except BlockingIOError:
            raise ObjrecError(RUN_BUSY.format(out=out)) from None
        except OSError:  # a file system without flock (some NFS): unlocked, as before
            pass
        yield
    finally:
        os.close(fd)


PROBE_WAIT = 0.2
"""Seconds :func:`lock_past_probes` tries for: a command that reads a model probes whether a train
holds the run (``run_files.trained_into_now``) with a shared lock held for microseconds, and a train
starting then is not to be refused as if another train held the folder."""


def lock_past_probes(fd: int) -> None:
    """An exclusive ``flock`` on ``fd`` taken without waiting on a train, which holds it for its
    whole run: tried again for :data:`PROBE_WAIT` seconds past a probe's moment.

    Raises:
        BlockingIOError: when another process holds it still.
    """
    deadline = time.monotonic() + PROBE_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def warn_of_derived(out: Path, real: Path) -> None:
    """Say which outputs made from the model a forced ``train`` replaces go with it."""
    left = [path.name for path in derived_outputs(real)]
    if left:
        again = f" (export the new one again: `export_model({str(out)!r})`)"
        export = again if DERIVED[0] in left else ""
        log.warning(
            "%s in %s %s made from the model this run replaces: %s removed once the new run "
            "has written its model%s",
            joined(left),
            out,
            "were" if len(left) > 1 else "was",
            "they are" if len(left) > 1 else "it is",
            export,
        )
    if (edited := edited_script(real)) is not None:
        log.warning(
            "%s stays: it was edited since it was exported, and runs the model this run "
            "replaces; move it aside before exporting the new one (`force=True` writes "
            "objrec's over it, your changes lost)",
            out / edited.name,
        )


def derived_outputs(out: Path) -> list[Path]:
    """What objrec made from the model in ``out``: its evaluations (``eval-*`` folders whose
    ``metrics.json`` is objrec's), its ``report.html``, its suggestions (``suggest``, the folder
    ``objrec suggest`` writes into by default, marked as objrec's, so that no replaced model's
    rankings stay) and its export (``model.onnx`` beside an objrec ``model.json``, and the
    ``model_infer.py`` that runs it, by its first line); a file or folder of those names that is
    the user's is not listed, nor a script the user edited (:func:`edited_script`): the script is
    theirs to adapt, and objrec never removes their work."""
    found = [folder for folder in sorted(out.glob("eval-*")) if is_evaluation(folder)]
    report = out / "report.html"
    if is_plain_file(report) and b"<title>objrec report:" in report.read_bytes()[:4096]:
        found.append(report)
    suggested = out / SUGGESTED
    if suggested.is_dir() and not suggested.is_symlink() and is_plain_file(suggested / MARKER):
        found.append(suggested)
    if is_export_sidecar(out / "model.json"):
        found += [out / name for name in DERIVED[:2] if is_plain_file(out / name)]
    script = out / DERIVED[2]  # left alone, it says "no model at model.onnx"
    if is_export_script(script) and edited_script(out) is None:
        found.append(script)
    return found


def edited_script(out: Path) -> Path | None:
    """The export's ``model_infer.py`` in ``out`` where its bytes are no longer those its sidecar
    records (``files_sha256``): edited by the user; None otherwise (an export made before 5
    December 2026 records none, and its script is taken for objrec's, by its first line)."""
    script = out / DERIVED[2]
    recorded = json_dict(out / DERIVED[1]).get("files_sha256")
    if not is_export_script(script) or not isinstance(recorded, dict):
        return None
    digest = recorded.get(script.name)
    return script if digest is not None and digest != sha256_file(script) else None


def is_evaluation(folder: Path) -> bool:
    """Whether ``folder`` (not a link) holds an evaluation objrec wrote into its own default
    folder for what it evaluated (:func:`default_eval_dir`): one the user named with
    ``evaluate --out RUN/eval-mine`` is theirs, and stays."""
    if not folder.is_dir() or folder.is_symlink() or not holds_evaluation(folder):
        return False
    record = read_record(folder)
    target, tta = Path(record.folder if record else ""), folder.name.endswith("-tta")
    named = {
        default_eval_dir(folder.parent, data, target, tta).name for data in (None, target.parent)
    }
    return folder.name in named


SUGGESTED = "suggest"
"""The folder ``objrec suggest`` writes into inside a run by default
(``suggest.default_suggest_dir``)."""


def remove_derived(out: Path, found: Sequence[Path]) -> None:
    """Remove what objrec made from the model in ``out``, ``found`` by :func:`derived_outputs`:
    of an evaluation or suggestions folder only the files objrec wrote, the folder too once it
    is empty."""
    for path in found:
        if path.is_dir():
            remove = remove_suggestions if path.name == SUGGESTED else remove_evaluation
            if not remove(path):
                continue
        else:
            path.unlink(missing_ok=True)
        log.info("removed %s, made from the earlier run's model", path)


def remove_evaluation(path: Path) -> bool:
    """Remove the files ``evaluate`` writes from the folder ``path``, and the ``against-*``
    evaluations it wrote inside (``evaluate --against``), then the folder once it is empty;
    False when it is kept, holding files objrec did not write."""
    for inner in sorted(path.glob("against-*")):
        if inner.is_dir() and not inner.is_symlink() and holds_evaluation(inner):
            remove_evaluation(inner)
    for name in EVALUATION_FILES:
        (path / name).unlink(missing_ok=True)
    remove_leftovers(path)  # of an evaluate killed mid-write
    if any(p.name != MARKER for p in path.iterdir()):
        log.warning("kept %s: it holds files objrec did not write", path)
        return False
    (path / MARKER).unlink(missing_ok=True)
    path.rmdir()
    return True


def remove_suggestions(path: Path) -> bool:
    """Remove ``suggest``'s folder ``path``: its lists, its mark, the folder; False when it is
    kept, whole, holding a file objrec did not write or a list changed since objrec wrote it
    (``outputs.users_file``: a person's notes in ``suggestions.csv``)."""
    from objrec.locks import LOCK_FILE

    ours = [name for name in SUGGEST_FILES if os.path.lexists(path / name)]
    others = [name for name in own_contents(path) if name not in SUGGEST_FILES]
    if others or any(users_file(path, name) is not None for name in ours):
        log.warning("kept %s: it holds files objrec did not write", path)
        return False
    for name in (*ours, MARKER, LOCK_FILE):
        (path / name).unlink(missing_ok=True)
    remove_leftovers(path)
    path.rmdir()
    return True


def load_resume(out: Path) -> tuple[SavedTraining, TrainConfig]:
    """The saved state of an interrupted run in ``out``, and the run's own settings; a finished
    run is left exactly as it is."""
    status = run_status(out)
    if status == "finished":
        raise ObjrecError(
            f"{out} is a finished run: there is nothing to resume, and nothing was changed"
        )
    if status == "none":
        raise ObjrecError(f"{out} holds no run to resume")
    if status == "unfinished":
        raise ObjrecError(f"{unfinished_run(out)}: it cannot be resumed; {RUN_AGAIN}")
    remove_leftovers(out)  # of the run killed while it wrote a checkpoint
    saved = load_training_state(Path(out) / LAST)
    assert saved.meta.train_config is not None  # load_training_state refuses a state without one
    return saved, saved.meta.train_config


def require_same_classes(out: Path, saved: RunMeta, classes: Sequence[str], folder: Path) -> None:
    """Refuse to resume the run in ``out`` (``saved``: its metadata) on a class folder whose
    classes are not the run's: its head answers in the old classes' order and number, so a renamed
    class would be mislabelled and an added one would not fit. Given another data folder than it
    started on (``folder``: its ``train``), the likelier mistake is the folder: the sentence names
    the one it started on, not ``force``, which would throw the run away."""
    if [class_of_folder(c) for c in classes] == [class_of_folder(c) for c in saved.classes]:
        return  # a Mac's NFD ``Café`` is the class of that name
    changed = changed_classes(saved.classes, classes)
    data = Path(folder).resolve().parent
    if saved.data_dir is not None and saved.data_dir != str(data):
        raise ObjrecError(
            f"{out} cannot be resumed on {folder.parent}, whose classes are not its ({changed}): "
            f"it was started on {saved.data_dir}: `train({saved.data_dir!r}, resume=True)` "
            f"continues it; to train on {folder.parent} instead, "
            f"`train({str(folder.parent)!r}, out='NEW_RUN')`",
            values={"resume": str(out)},
        )
    raise ObjrecError(
        f"{out} cannot be resumed: the classes in {folder} changed since it started "
        f"({changed}) and its head knows only the old ones: start it over with `force=True`"
    )


def changed_classes(before: Sequence[str], now: Sequence[str]) -> str:
    """How the class names ``now`` differ from ``before``, briefly (a renamed folder reads as one
    class gone and one new)."""
    gone = [name for name in before if name not in now]
    new = [name for name in now if name not in before]
    changes = [
        f"{some_of(names)} {'is' if len(names) == 1 else 'are'} {what}"
        for names, what in ((gone, "gone"), (new, "new"))
        if names
    ]
    return ", ".join(changes) or "the same names in another order"


def warn_of_other_data(out: Path, saved: RunMeta, data_dir: Path) -> None:
    """Warn when the run in ``out`` is resumed on another data folder than it started on: not
    refused (the folder may have moved), but other images make one history of two data sets."""
    now = str(Path(data_dir).resolve())
    if saved.data_dir is not None and saved.data_dir != now:
        log.warning(
            "%s started on %s and resumes on %s: if their images differ, its history mixes both",
            out,
            saved.data_dir,
            now,
        )


def warn_of_other_processes(
    out: Path, before: Processes | None, now: Processes, data_dir: Path
) -> None:
    """Warn when the run in ``out``, trained ``before`` by so many processes (None: not known, a
    state written before objrec recorded them), resumes in another number: each epoch's batches
    are drawn otherwise (``meta.Processes``), so it trains on to other weights than it would
    have uninterrupted. Not refused: the machine it started on may be gone, and the run goes on
    as well. The resume it gives is launched as the run was (the record's ``values``)."""
    if before is None or before.draws_as(now):
        return
    values = {"resume": str(out), "data": str(data_dir), **launch_values(before)}
    log.warning(
        "%s started %s and resumes %s: each epoch's batches are drawn otherwise, so it will not "
        "end with the weights it would have had uninterrupted; resume it as it started with "
        "`resume=True`",
        out,
        before.words(),
        now.words(),
        extra={LOGGED_VALUES: values},
    )


def launch_values(processes: Processes) -> dict[str, str]:
    """How ``processes`` were launched, as the values of a logged sentence
    (:data:`errors.LOGGED_VALUES`): torchrun's ``WORLD_SIZE`` and ``LOCAL_WORLD_SIZE``."""
    if not processes.torchrun:
        return {"launched": "alone"}
    world = {"WORLD_SIZE": str(processes.ranks), "LOCAL_WORLD_SIZE": str(processes.per_node)}
    return {"launched": "torchrun", **world}


def earlier_run_outputs(out: Path) -> list[Path]:
    """What objrec made from an earlier run's model in ``out`` (:func:`derived_outputs`: its
    evaluations, report and export describe another model), which a forced run removes as its
    own files take their names (:func:`put_in_place`), not before: a forced run stopped or
    failing before then leaves the earlier run whole, the model and all that describes it. None
    in a folder that holds no objrec run (its files are the user's)."""
    return derived_outputs(out) if holds_run(out) else []


def interrupted_in_fit(out: Path, meta: RunMeta, kept: FitState | None) -> Interrupted:
    """What Ctrl-C in a head's fit says once :func:`keep_best_so_far` has written the run as of
    ``kept`` (None: nothing was saved): where the best model so far is and how to resume."""
    if kept is None:
        earlier = f" (the earlier run's {out / LAST} is kept)" if (out / LAST).exists() else ""
        return Interrupted(f"interrupted before the first epoch ended; nothing saved{earlier}")
    return Interrupted(
        f"interrupted after epoch {kept.epoch}; the best model so far is in {out / BEST}; "
        "continue it with `resume=True`",
        values={"resume": str(out), "data": str(meta.data_dir or "DATA")},
        summary=read_summary(out),  # keep_best_so_far has just written it
    )


def read_summary(out: Path) -> dict[str, Any] | None:
    """The run's summary.json in ``out``, or None when it cannot be read."""
    try:
        summary = json.loads((out / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def load_run(run: PathGiven) -> TrainResult:
    """The :class:`TrainResult` of a run folder written by ``train`` (finished, or stopped with
    its best epoch so far: ``finished`` False), as ``train`` returned it: a notebook opened the
    next day has the folder only. Its figures are ``summary.json``'s, its ``history``
    ``history.csv``'s rows, its classes the model's; ``run`` is the folder as given. A folder
    holding no written run is refused, saying what it holds."""
    from objrec.calibration import TemperatureFit
    from objrec.finetune import FinetuneRecord
    from objrec.model_file import read_meta

    run = Path(run)
    summary = read_summary(run)
    if summary is None and not (run / SUMMARY).exists() and (run / BEST).is_file():
        raise ObjrecError(f"{UNFINISHED.format(run=run)}: {RUN_AGAIN}")
    if summary is None:
        raise ObjrecError(f"{run} holds no trained run: {_no_run_words(run)}")
    meta = read_meta(run)
    if describes_another_model(summary, meta.digest):
        raise ObjrecError(mismatched_summary(run))
    finetune = summary.get("finetune")
    return TrainResult(
        run=run,
        classes=list(meta.classes),
        history=read_history(run / "history.csv"),
        best_epoch=int(summary.get("best_epoch") or meta.best_epoch or 0),
        best_valid_loss=float(summary.get("best_valid_loss", float("nan"))),
        best_valid_acc=float(summary.get("best_valid_acc", float("nan"))),
        params=ParameterCounts.from_json(summary.get("params"))
        or ParameterCounts(total=0, trainable=0),
        seconds=RunSeconds.from_json(summary.get("seconds")),
        n_images=ImageCounts.from_json(summary.get("n_images")),
        finished=bool(summary.get("finished", True)),
        frozen_pass=FrozenPassCounts.from_json(summary.get("frozen_pass") or {}),
        precision=Precision.from_json(summary.get("precision")),
        calibration=TemperatureFit.from_json(summary.get("calibration")),
        finetune=FinetuneRecord.from_json(finetune) if isinstance(finetune, dict) else None,
        provenance=Provenance.from_json(summary.get("provenance")),
        model_digest=meta.digest,
    )


def _no_run_words(run: Path) -> str:
    """Why :func:`load_run` finds no run in ``run``, and what to do."""
    if not run.is_dir():
        return "no such folder"
    if (run / SUMMARY).is_file():
        return f"its {SUMMARY} cannot be read as JSON"
    if (run / LAST).is_file():
        return f"no {SUMMARY} yet: its training was cut short; resume it with `resume=True`"
    return f"no {SUMMARY} (`train` writes one with the run)"


def read_history(path: Path) -> list[dict[str, Any]]:
    """The epochs' records of ``history.csv`` (:func:`write_history`) as ``train`` made them:
    numbers as numbers, ``True``/``False`` as booleans, an empty cell None; none where the file
    is missing."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return [{key: _cell(value) for key, value in row.items()} for row in csv.DictReader(f)]
    except FileNotFoundError:
        return []


def _cell(text: str | None) -> Any:
    """A ``history.csv`` cell as the value written: an int, a float, a bool, None or the text."""
    if text is None or text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def keep_best_so_far(
    out: Path,
    model: Classifier,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    meta: RunMeta,
    record: RunRecord,
    *,
    ours: bool,
) -> FitState | None:
    """A fit stopped before its end (Ctrl-C, a diverged loss): write the run as of the training
    state in ``out`` (its last completed epoch: the best model so far, ``finished`` False) and
    return that state; None when there is none of this run's. ``record``: the run's so far
    (``seconds`` spent until now), for its summary. ``ours``: the training state in ``out`` is
    this run's (written since it started, or the resumed run's own); another one (an earlier
    run's, kept by a forced run until it writes its own) is never taken for it."""
    if not ours or not (out / LAST).exists():
        return None
    state = restore_training_state(load_training_state(out / LAST), model.head, optimizer)
    model.head.load_state_dict(state.best_state)
    write_run(out, model, config, meta, state, replace(record, finished=False))
    return state


def write_run(
    out: Path,
    model: Classifier,
    config: TrainConfig,
    meta: RunMeta,
    state: FitState,
    record: RunRecord,
    *,
    write: bool = True,
    replaces: bool = False,
    in_place: Callable[[], None] = lambda: None,
) -> TrainResult:
    """Write the best model, history, curves, config and summary of a run (unless not ``write``:
    under torchrun, ranks other than 0), ``record.seen``, the digests of the images it trained
    and validated on (``leakage.write_seen``), and ``record.image_classes``, the classes of its data
    folder's images (``class_record.write_classes``), all put in place together
    (:func:`put_in_place`, which calls ``in_place`` then); a ``record.finished`` run no longer
    needs its training state, which goes with them, and a run that ``replaces`` an earlier one
    (forced) takes what objrec made from the earlier model with them too."""
    best = next(r for r in state.history if r["epoch"] == state.best_epoch)
    scores = {"valid_loss": best["valid_loss"], "valid_acc": best["valid_acc"]}
    meta = replace(meta, best_epoch=state.best_epoch, **scores)
    result = TrainResult(
        run=out,
        classes=list(meta.classes),
        history=state.history,
        best_epoch=state.best_epoch,
        best_valid_loss=best["valid_loss"],
        best_valid_acc=best["valid_acc"],
        params=meta.params or count_parameters(model),
        provenance=_provenance(meta, record) if write else None,  # git: rank 0's alone
        **record.result_fields(config),
    )
    if write:  # under torchrun only rank 0 writes, and says so
        result = _write_files(out, model, config, meta, result, record, replaces, in_place)
        log.info(
            "trained %s: best epoch %d, valid loss %.4f", out, state.best_epoch, best["valid_loss"]
        )
    return result


def _provenance(meta: RunMeta, record: RunRecord) -> Provenance:
    """The run's ``provenance``: only what writes the run asks for it (under torchrun rank 0), as
    it runs ``git``."""
    where = meta.body_fingerprint, meta.data_dir, cpu_threads(), record.command, record.split
    return provenance(*where)


def history_columns(history: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The epochs' records as columns, in the order their keys first appear (a key an epoch
    lacks: ``None`` in its place)."""
    names = list(dict.fromkeys(key for record in history for key in record))
    return {name: [record.get(name) for record in history] for name in names}


def write_history(path: Path, history: Sequence[Mapping[str, Any]]) -> None:
    """``history.csv``: one row per epoch, written as pandas' ``to_csv(index=False)`` wrote it
    (the same bytes: floats as ``repr``, a missing value empty), without importing pandas, which
    took 0.3 to 0.5 s of a warm retrain's start (benchmarks/README.md, "warm_retrain.py")."""
    columns = history_columns(history)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(zip(*columns.values(), strict=True))


def _write_files(
    out: Path,
    model: Classifier,
    config: TrainConfig,
    meta: RunMeta,
    result: TrainResult,
    record: RunRecord,
    replaces: bool,
    in_place: Callable[[], None],
) -> TrainResult:
    """The run's files written in a hidden folder in ``out`` (``outputs.staging_folder``), then put
    in place together (:func:`put_in_place`): written one by one into ``out``, a stop or a failure
    between two (a full disk, a plot that failed) left a new model beside the earlier run's
    summary and record, which read as one run. The curves are drawn beside the model's write
    (:func:`draw_curves`). ``result`` with its ``model_digest``, of the model written."""
    columns, best = history_columns(result.history), result.best_epoch
    with staging_folder(out) as stage, ThreadPoolExecutor(1, "objrec-curves") as drawing:
        curves = drawing.submit(draw_curves, columns, stage / "curves.png", best)
        result = replace(result, model_digest=save_checkpoint(stage / BEST, model, meta))
        write_history(stage / "history.csv", result.history)
        curves.result()
        (stage / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        (stage / SUMMARY).write_text(json.dumps(result.summary(), indent=2))
        if record.seen is not None:
            write_seen(stage, record.seen)
        if record.image_classes is not None:
            write_classes(stage, record.image_classes)
        put_in_place(stage, out, finished=result.finished, replaces=replaces, then=in_place)
    return result


RECORDS = tuple(name for name in RUN_FILES if name not in (BEST, LAST))
"""A run folder's files that describe its model (its summary, settings, history, curves and
records of its images): an earlier run's go before a new model is put in place."""


def put_in_place(
    stage: Path,
    out: Path,
    *,
    finished: bool,
    replaces: bool,
    then: Callable[[], None] = lambda: None,
) -> None:
    """The run's files written in ``stage`` renamed into ``out``, with Ctrl-C and SIGTERM held
    back meanwhile (milliseconds). A kill (SIGKILL, a power cut: nothing holds it back) between
    two renames leaves no new model beside an earlier run's records: those go first, and the
    summary, which says what the model is and whether its run finished, comes last, once the
    rest is in place (a finished run's training state removed, and when the run ``replaces`` an
    earlier one (forced), what objrec made from the earlier model: :func:`remove_derived`, listed
    first); each file is on disk (``fsync``) before its name is, and the names before the
    summary is said written. ``then`` is called once they are, before a stop held back is let
    through (``train``'s head state, kept to be written on a stop, let go)."""
    names = [name for name in RUN_FILES if (stage / name).is_file()]
    derived = earlier_run_outputs(out) if replaces else []
    for name in names:
        sync_file(stage / name)
    with ctrl_c_leaves(lambda: run_written(out, finished)), stops_held():
        for name in RECORDS:
            (out / name).unlink(missing_ok=True)
        for name in names:
            if name != SUMMARY:
                os.replace(stage / name, out / name)
        if finished:
            (out / LAST).unlink(missing_ok=True)
        remove_derived(out, derived)
        sync_folder(out)
        if SUMMARY in names:
            os.replace(stage / SUMMARY, out / SUMMARY)
            sync_folder(out)
        then()


def sync_file(path: Path) -> None:
    """``fsync`` the file ``path``: a rename after a power cut names its bytes, not an empty
    file (a model's write synced it already, which costs nothing again)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_written(out: Path, finished: bool) -> str:
    """What Ctrl-C held back while the run's files were put in place says: they are, whole."""
    if finished:
        return written_whole([out])
    where = f"the run so far was written to {out}, whole, before the stop"
    return f"{where}: continue it with `resume=True`"


def draw_curves(columns: Mapping[str, Sequence[Any]], path: Path, best: int) -> None:
    """``curves.png``, with matplotlib imported here, not with ``train``: 0.5 s that a command
    importing this module without drawing (a train refused before its run is written, ``objrec
    train --help``) does not pay. ``write_run`` imports and draws in a thread of its own while
    it writes the model, which holds Python's lock little (the SHA-256 of 97 MB, its sync)."""
    from objrec import plots

    plots.training_curves(columns, path, best)

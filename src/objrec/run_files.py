"""A run folder's file names, and the checks that read them without PyTorch: its model
(``model.safetensors``), its training state, its records; where a command writes its output
folder beside a run or model file, a run's checkpoint file or why it has none (an interrupted
run, one another ``train`` holds now, a model moved away). Below ``data``, ``meta`` and the
stages that read a run, so that none of them imports checkpoint metadata for a name."""

from __future__ import annotations

import json
from pathlib import Path

from objrec.errors import ObjrecError

BEST = "model.safetensors"
"""A run folder's model: its best epoch."""
LAST = "last.safetensors"
"""A run folder's training state after its last completed epoch, while it can be resumed."""
SUMMARY = "summary.json"
"""A run folder's summary: the figures of its training, and whether it finished."""
RUN_RECORDS = ("config.json", SUMMARY)
"""The records every run writes beside its model: a folder holding both and neither checkpoint
is a run whose model was moved or deleted."""
SEEN_RECORD = "seen_digests.csv"
"""A run folder's record of the images it trained and chose its epoch on (``objrec.leakage``)."""
CLASSES_RECORD = "image_classes.csv"
"""A run folder's record of the classes of its data folder's images (``objrec.class_record``)."""
RUN_FILES = (
    *(BEST, LAST, "config.json", "history.csv", "curves.png", SUMMARY),
    *(SEEN_RECORD, CLASSES_RECORD),
)
"""What ``train`` writes into a run folder."""
KEPT_NAME = "threshold.json"
"""The unknown threshold ``evaluate --keep-threshold`` keeps in a run (``kept``)."""


def output_beside(run: Path, name: str) -> Path:
    """Where a command writes its default output folder ``name`` for the model ``run``:
    ``RUN/name`` for a run folder and for its model file (``RUN/model.safetensors``); for any
    other checkpoint file a folder beside it named after it (``RUN/epoch3.safetensors`` ->
    ``RUN/epoch3-name``), so that checkpoints kept in one folder never share one, and a file is
    never taken for a folder (``RUN/model.safetensors/name``)."""
    run = Path(run)
    if run.is_dir():
        return run / name
    return run.parent / (name if run.name == BEST else f"{run.stem}-{name}")


def checkpoint_file(run: Path) -> Path:
    """The checkpoint file of ``run``: a run folder's ``model.safetensors``, or ``run`` itself."""
    run = Path(run)
    return run / BEST if run.is_dir() else run


def require_checkpoint_file(run: Path) -> Path:
    """The checkpoint file of ``run`` (:func:`checkpoint_file`), refused in a sentence when there
    is none: a check that needs no torch, so a command given a folder that is no run says so at
    once, before it imports the libraries it would read the model with (seconds)."""
    path = checkpoint_file(run)
    if path.is_file():
        return path
    run = path.parent  # the run folder, given or named with its model (as the CLI gives it)
    if path.name != BEST or not run.is_dir():
        raise ObjrecError(f"no checkpoint at {path}: give a run folder written by `train`")
    if trained_into_now(run):
        raise ObjrecError(
            f"{run} has no model yet: another objrec is training into it now, and writes "
            f"{path} when it ends"
        )
    if (run / LAST).is_file():
        data = trained_on(run / LAST)
        raise ObjrecError(
            f"{run} holds an interrupted run and no model yet: continue it with "
            "`train(data, resume=True)`",
            values={"resume": str(run)} | ({"data": data} if data else {}),
        )
    raise ObjrecError(
        model_gone(run) or f"no checkpoint at {path}: give a run folder written by `train`"
    )


def model_gone(run: Path) -> str | None:
    """The sentence for a run folder whose model was moved or deleted (it holds both records
    ``train`` writes beside it, and neither checkpoint), as ``check`` and every command given it
    say it; None for a folder that is not such a run. "give a run folder written by `train`"
    would be wrong of one."""
    run = Path(run)
    if not all((run / name).is_file() for name in RUN_RECORDS):
        return None  # a config.json alone is any project's
    if any((run / name).exists() for name in (BEST, LAST)):
        return None
    return (
        f"{run} is a run folder without its {BEST} (it holds {' and '.join(RUN_RECORDS)}, which "
        "`train` writes beside it): moved or deleted? Put the model back to use the run"
    )


def trained_on(state: Path) -> str | None:
    """The split folder the training state ``state`` (``last.safetensors``) was trained on, read
    from its safetensors header alone (no torch); None when it does not say."""
    try:
        with state.open("rb") as f:
            length = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(min(length, 100 << 20)))
        data = json.loads(header["__metadata__"]["objrec"]).get("data_dir")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return data if isinstance(data, str) else None


def trained_into_now(run: Path) -> bool:
    """Whether a ``train`` holds the run folder ``run`` (``runs.locked_run``): its exclusive lock
    refuses a shared one."""
    from objrec.locks import held_elsewhere

    return held_elsewhere(run, exclusive=False) is True

"""A run folder as a place objrec writes, without PyTorch: what it holds (``run_status``:
finished, interrupted, unfinished or none, from its model's and training state's headers and its
``summary.json``), a new run's place refused where it holds a run or a user's files
(``refuse_run_place``), and an output refused where it would replace a run's own file
(``refuse_run_file``). ``train`` says these before PyTorch loads; a model file's own bytes, its
seal and header, are ``model_file``'s.
"""

from __future__ import annotations

import json
import os
import reprlib
from pathlib import Path
from typing import Any

from objrec.errors import ObjrecError
from objrec.listing import is_hidden, is_image_file
from objrec.model_file import is_checkpoint
from objrec.outputs import HINT, refuse_overwrite, writes_over
from objrec.run_files import BEST, KEPT_NAME, LAST, RUN_FILES, SUMMARY, checkpoint_file
from objrec.words import some_of


def summary_finished(run: Path) -> bool:
    """Whether the ``summary.json`` in ``run`` says its run finished (one that cannot be read
    does not: :func:`summary_says_finished`). A training state beside a finished run's summary
    is a forced retrain's, stopped before its model was written: the model is still the
    finished run's."""
    return summary_says_finished(run) is True


def summary_says_finished(run: Path) -> bool | None:
    """What the ``summary.json`` in ``run`` says of its run: finished or not (one written before
    "finished" existed: an interrupted run recorded no times), or None when it says nothing: it
    is not there, or damaged (not a JSON object), which tells nothing of the model beside it."""
    return finished_in(json_record(run / SUMMARY))


def json_record(path: Path) -> dict[str, Any] | str | None:
    """The JSON object in a run's record ``path`` (``summary.json``, ``config.json``), read once;
    None when it is not there; else why it is none, in words (``not JSON (...)``)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return f"not JSON ({exc})" if isinstance(exc, ValueError) else f"unreadable ({exc})"
    return record if isinstance(record, dict) else f"not a JSON object ({reprlib.repr(record)})"


def finished_in(summary: object) -> bool | None:
    """What a run's summary, read already (its JSON), says of its run
    (:func:`summary_says_finished`); None for what is no JSON object."""
    if not isinstance(summary, dict):
        return None
    return bool(summary.get("finished", bool(summary.get("seconds"))))


def describes_another_model(summary: object, model: str | None) -> bool:
    """Whether a run's ``summary`` (its JSON) names another model file than the one of content
    digest ``model`` (None: not known): its figures, history and curves are another run's. A
    summary written before it named its model (no ``model_digest``) is taken as it is."""
    named = summary.get("model_digest") if isinstance(summary, dict) else None
    return named is not None and model is not None and named != model


def mismatched_summary(run: Path) -> str:
    """The sentence for a run whose ``summary.json`` describes another model than its own."""
    return (
        f"{run / SUMMARY} describes another model than {run / BEST} (a file copied in since, or a "
        "train killed as it wrote the run): its figures are not this model's; train the run "
        "again with `force=True`"
    )


UNFINISHED = (
    "{run} holds a model without the summary.json that describes it (a train stopped as it put "
    "the run in place, which writes its summary last, or a model copied in alone): the run is "
    "unfinished"
)
"""What a run folder whose model has no summary of its own is (:func:`run_status`'s
``unfinished``): its model answers, but the records beside it may be another run's or none."""
RUN_AGAIN = "train it again with `force=True`"
"""What to do of an unfinished run: it cannot be resumed."""


def unfinished_run(run: Path) -> str:
    """What the run folder ``run`` of :func:`run_status` ``unfinished`` holds, in words: a model
    without a summary of it (:data:`UNFINISHED`), or with one saying its run stopped, its
    training state gone."""
    if summary_says_finished(Path(run)) is False:
        return f"{run} holds an unfinished run whose training state is gone"
    return UNFINISHED.format(run=run)


def damaged_record(path: Path, why: str) -> str:
    """The one sentence for a run's record (``summary.json``, ``config.json``) that cannot be
    read, beside a model that can: ``why`` (``not JSON (...)``). The model carries all a command
    needs, so only the record is lost."""
    return (
        f"{path} is {why}: the run's record is damaged, not its model, which predict, evaluate, "
        f"export and serve read alone: restore {path.name} from a copy, or remove it to share "
        "the run without it"
    )


def run_status(out: Path) -> str:
    """What ``out`` holds: ``finished`` (a run that ended), ``interrupted`` (one that can be
    resumed: stopped by Ctrl-C or killed), ``unfinished`` (one that cannot: a model without a
    summary, or beside a summary saying its run stopped and no training state) or ``none``: no
    model or training state objrec wrote (:func:`holds_run`), whatever ``summary.json`` or other
    files of those names it holds. Paths and headers alone: a summary naming another model than
    the one there is found where the model is read (``check``, ``load_run``, ``report``), not by
    reading it here, on every train into a run folder."""
    out = Path(out)
    state = is_checkpoint(out / LAST)
    held = state or is_checkpoint(out / BEST)
    return status_of(held, state, json_record(out / SUMMARY), None)


def status_of(held: bool, state: bool, summary: object, model: str | None) -> str:
    """:func:`run_status` of what was read: whether the run folder ``held`` a model or training
    state objrec wrote (:func:`holds_run`), whether its ``state`` is one, its ``summary``
    (:func:`json_record`'s) and its model's digest (``model``; None: not known). A run's summary
    is put in place last, after its model: a model without one is of a run that did not end."""
    if not held:
        return "none"
    if state:  # a finished run removes it: beside a finished run's summary, it is a forced
        return "interrupted"  # run's over it, stopped before its model was written
    if summary is None or describes_another_model(summary, model):
        return "unfinished"
    return "unfinished" if finished_in(summary) is False else "finished"  # a damaged summary
    # says nothing of the model


def refuse_held_run(out: Path, force: bool, data_dir: Path | None = None) -> str:
    """What ``out``, where a new run is to go, holds (:func:`run_status`), a run refused unless
    ``force``: an interrupted one is to be resumed, a finished one's model is the user's. Paths and
    headers alone, so that ``train`` says it at once, before PyTorch loads (which can take 30 s
    of "loading the libraries"). ``data_dir`` completes the resume command said."""
    real = Path(out).resolve()  # where the run lands: ``x/..`` is the folder above x
    status = run_status(real)
    if status == "interrupted" and not force:
        raise ObjrecError(
            f"{out} holds an interrupted run: continue it with `resume=True`, "
            "or pass `force=True` to start it over",
            values={"resume": str(out)} | ({"data": str(data_dir)} if data_dir else {}),
        )
    if status == "finished":
        refuse_overwrite(
            Path(out).resolve() / BEST, force, f"{out} already holds a trained model; {HINT}"
        )
    if status == "unfinished":
        said = f"{unfinished_run(out)} and cannot be resumed; {HINT}"
        refuse_overwrite(Path(out).resolve() / BEST, force, said)
    return status


def refuse_run_place(out: Path, force: bool, data_dir: Path | None = None) -> str:
    """What ``out``, where a new run is to go, holds (:func:`refuse_held_run`, its refusals), and
    a folder of the user's refused (:func:`refuse_users_folder`): paths and files alone, so that
    ``train`` says it before PyTorch loads."""
    status = refuse_held_run(out, force, data_dir)
    real = Path(out).resolve()
    if status == "none" and visible_entries(real):
        refuse_users_folder(out, real, force)
    return status


DERIVED = ("model.onnx", "model.json", "model_infer.py")
"""What ``objrec export`` writes into a run by default: made from its model, not refreshed by a
new one (an evaluation and the report are: a newer model makes them again)."""


def refuse_users_folder(out: Path, real: Path, force: bool) -> None:
    """Refuse ``out`` (``real`` resolved), a folder of the user's that holds files and no run:
    always when some of them have the names a run, or what is made from it, writes (``force``
    replaces an earlier run, never the user's files); else unless ``force`` (the run is written
    beside them)."""
    taken = [name for name in visible_entries(real) if is_run_name(real / name)]
    if taken:
        raise ObjrecError(
            f"{out} holds no run but files of the names a run writes ({some_of(taken)}), "
            "which are not replaced even with `force=True` (it replaces only an earlier run whose "
            "model objrec can read): choose another `out`, or delete them if they are what is "
            "left of an objrec run"
        )
    photos = photo_entries(real)
    if photos:
        raise ObjrecError(
            f"{out} holds photos ({some_of(photos)}), not a run: choose another `out` (a run is "
            "not written among your photos, even with `force=True`)"
        )
    if not force:
        raise ObjrecError(
            f"{out} is not empty (it holds {visible_entries(real)[0]} and no run): {HINT}"
        )


def photo_entries(folder: Path) -> list[str]:
    """The image files in ``folder`` and its sub-folders that hold image files (class folders),
    by name: what says ``folder`` is a folder of photos, not a place for a run."""
    found = []
    for name in visible_entries(folder):
        path = folder / name
        if path.is_dir():
            if any(is_image_file(p) for p in path.iterdir() if not is_hidden(p) and p.is_file()):
                found.append(f"{name}/")
        elif is_image_file(path):
            found.append(name)
    return found


def is_run_name(path: Path) -> bool:
    """Whether objrec writes a file or folder of ``path``'s name into a run: ``train``
    (``RUN_FILES``), ``export`` (``DERIVED``), ``report``, ``evaluate --keep-threshold``
    (``run_files.KEPT_NAME``), or ``evaluate`` (an ``eval-*`` folder: a user's ``eval-notes.txt`` is
    not one)."""
    name = path.name
    return name in (*RUN_FILES, *DERIVED, "report.html", KEPT_NAME) or (
        name.startswith("eval-") and path.is_dir()
    )


def visible_entries(folder: Path) -> list[str]:
    """The names in ``folder`` a person sees (not hidden ones such as ``.DS_Store`` or objrec's
    own unfinished ``.tmp`` files), sorted; none when it is not a folder."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def replaces_a_finished_run(out: Path) -> bool:
    """Whether the training state in ``out`` is a forced run's over a finished run, stopped before
    its model was written: it lies beside that run's summary (a finished run removes its own
    state). Resumed, it goes on as the forced run would have, retiring that run once its model is
    written; the earlier summary's command line is not its own."""
    return is_checkpoint(out / LAST) and (out / SUMMARY).is_file() and summary_finished(out)


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run objrec wrote: a model or a training state with objrec's header
    (a ``summary.json`` alone, or beside a downloaded ``model.safetensors``, is the user's)."""
    return any(is_checkpoint(Path(out) / name) for name in (BEST, LAST))


def refuse_run_file(path: Path, run: Path, option: str) -> None:
    """Refuse, even with ``force``, an output ``path`` that would replace the model ``run`` names
    (through a link or a hard link too) or another file ``train`` wrote into its folder
    (``RUN_FILES``, where the folder is a run: it holds ``SUMMARY`` or ``LAST``; beside a model
    file kept alone, ``curves.png`` is the user's to name): ``force`` replaces an earlier output,
    never the run a command reads, which only a new ``train`` makes again (``predict RUN IMG
    --csv RUN/model.safetensors --force`` replaced the model with a table, ``export --out
    RUN/model.safetensors --force`` with a graph)."""
    model = checkpoint_file(run)
    if writes_over(path, model):
        raise ObjrecError(
            f"`{option}` {path} is the model {run} holds, which the command reads: choose another "
            f"`{option}`"
        )
    in_run = any((model.parent / name).is_file() for name in (SUMMARY, LAST))  # not a file alone
    if in_run and path.name in RUN_FILES and in_folder(path, model.parent):
        raise ObjrecError(
            f"`{option}` {path} is a file `train` wrote into the run {model.parent}: choose "
            f"another `{option}`"
        )


def in_folder(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies in ``folder``, by either name of a linked folder."""
    try:
        return os.path.samefile(path.parent, folder)
    except OSError:  # either folder is not there
        return False

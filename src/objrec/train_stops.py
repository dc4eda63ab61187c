"""What a stop of ``train`` keeps and says: Ctrl-C (or SIGTERM) before the head's first epoch ends,
in its epochs, or after them (fine-tuning, calibrating, writing the run), and a diverged loss.

In the head's epochs the run is written as of its last completed epoch (``runs.keep_best_so_far``)
and the training state stays for ``resume``; after them the body's tuned blocks are put back and
the run is written as of the head's end; before the first epoch nothing of the run is kept but
the features the frozen pass stored. A forced run over an earlier one writes nothing: the earlier
model stays until this run's is written whole. Each stop says, in one sentence, what it left and
how to go on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from torch import nn

from objrec.cache import open_cache
from objrec.config import TrainConfig
from objrec.distributed import SINGLE, World
from objrec.engine import Diverged, FitState, diverged
from objrec.errors import FULL_DISK, Interrupted, ObjrecError, full_disk_words
from objrec.meta import RunMeta
from objrec.model_file import read_training_progress
from objrec.prepared import Prepared
from objrec.quantize import CopyStopped
from objrec.resume_state import EpochSaver, SavedTraining, load_training_state
from objrec.run_files import BEST, LAST
from objrec.runs import RunFolders, holds_run, interrupted_in_fit, read_summary
from objrec.words import plural

log = logging.getLogger(__name__)

KeepSoFar = Callable[[], FitState | None]
"""Writes the run as of the training state in its folder (``runs.keep_best_so_far``, with the
run's record so far) and returns that state, None when there is none of this run's."""


def with_copy_left(said: Interrupted, stop: KeyboardInterrupt) -> Interrupted:
    """``said``, and what a stop in the int8 copy of the body left of it (``CopyStopped``): it
    starts over, and is made once per network and cache folder."""
    if not isinstance(stop, CopyStopped):
        return said
    return Interrupted(f"{said}; {stop.said()}", said.values, said.summary, said.left)


@contextmanager
def said_on_a_stop_outside_epochs(
    data_dir: Path | str, out: Path | str, resumed: bool, config: TrainConfig, world: World
) -> Iterator[None]:
    """Ctrl-C in a train in ``out`` outside the head's epochs (which save and say so themselves):
    :func:`interrupted_outside_epochs` said by rank 0 (another rank's stop raised as it is). The
    run's training state is ours when ``resumed`` or written since this began (its
    :func:`state_stamp` then), the features this process stored since then counted
    (:func:`store_rows`); a stop in the int8 copy of the body says what it left of it
    (:func:`with_copy_left`)."""
    before, rows = state_stamp(Path(out)), store_rows(config.cache_dir)
    try:
        yield
    except KeyboardInterrupt as stop:
        if not world.main:  # rank 0 says what was kept
            raise
        ours = resumed or state_stamp(Path(out)) not in (None, before)
        stored = rows_since(config.cache_dir, rows)  # this process's
        tuned = tuned_epoch(Path(out)) if ours else None
        said = interrupted_outside_epochs(data_dir, out, ours, *stored, world=world, tuned=tuned)
        raise with_copy_left(said, stop) from None


def store_rows(cache_dir: str | Path | None) -> tuple[int, int]:
    """Feature rows this process has written into the cache folder's store, and those its frozen
    passes found there already, stored by earlier commands."""
    cache = open_cache(cache_dir)
    return cache.rows_written, cache.rows_reused


def rows_since(cache_dir: str | Path | None, before: tuple[int, int]) -> tuple[int, int]:
    """:func:`store_rows` since ``before`` (its answer then)."""
    now = store_rows(cache_dir)
    return now[0] - before[0], now[1] - before[1]


def state_stamp(out: Path) -> tuple[int, int] | None:
    """Which ``last.safetensors`` is in ``out`` (inode, modification time), if any."""
    try:
        stat = (out / LAST).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def save_after_the_head(prep: Prepared, keep: KeepSoFar, folders: RunFolders) -> Interrupted:
    """Ctrl-C after the head's epochs (fine-tuning or calibrating, the body's tuned blocks put
    back as they were by :func:`saved_as_of_the_head_on_stop`): write the run as of the head's
    end, the training state ``fit_head`` left in ``folders.run`` (the best model so far,
    ``finished`` False), as a stop in the head's epochs does (``keep``:
    ``runs.keep_best_so_far``), so that ``train --json`` prints it; then say how to go on. A
    forced run over an earlier one writes nothing: the earlier model stays until this run's is
    written whole."""
    tuned = tuned_epoch(folders.run)
    if prep.replaces:
        return interrupted_outside_epochs(folders.data, folders.run, True, tuned=tuned)
    kept = keep()
    summary = read_summary(folders.run) if kept else None
    return interrupted_outside_epochs(folders.data, folders.run, True, summary=summary, tuned=tuned)


def tuned_epoch(out: Path) -> int | None:
    """The last fine-tuning epoch the training state in ``out`` holds (None: none, or no state
    that can be read), which a resume goes on after."""
    try:
        progress = read_training_progress(out / LAST)[1].finetune
    except ObjrecError:
        return None
    return progress.epoch if progress is not None else None


def head_epoch_in_fit(out: Path) -> int | None:
    """The head's last epoch the training state in ``out`` holds where the head's fit was not
    over then (neither stopped early nor at its ``epochs``): a resume goes on with the head's
    epochs after it. None where it was over, or no state can be read."""
    try:
        meta, progress = read_training_progress(out / LAST)
    except ObjrecError:
        return None
    config = meta.train_config
    if progress.stopped_early or progress.finetune is not None or config is None:
        return None
    return progress.epoch if progress.epoch < config.epochs else None


@contextmanager
def saved_as_of_the_head_on_stop(
    prep: Prepared,
    keep: KeepSoFar,
    folders: RunFolders,
    world: World,
    saver: EpochSaver | None,
    top: nn.Module | None = None,
) -> Iterator[None]:
    """Ctrl-C while fine-tuning or calibrating (after it, too): the body's tuned blocks put back as
    they were before fine-tuning (a copy of their weights taken first), since the training state
    the run is then written from holds the head's best only, trained on that body; rank 0 writes
    the run (:func:`save_after_the_head` with ``keep``, into ``folders.run``) from the
    training state (``saver``'s, written first: :func:`written_on_stop`) and says so. ``top``:
    the blocks above fine-tuning's cut that ``train.finetune_phase`` trains (None without it)."""
    body = prep.model.body
    before = {k: v.detach().clone() for k, v in top.state_dict().items()} if top else {}
    try:
        with written_on_stop(saver):  # before save_after_the_head reads it
            yield
    except KeyboardInterrupt:
        if top is not None:
            top.load_state_dict(before)
            prep.model.body = body  # as before body_kept, whose precision this prep still has
            prep.model.cpu().freeze_body()
        if world.main and not state_written(saver, folders.run):
            raise unsaved_after_the_head() from None
        if world.main:
            raise save_after_the_head(prep, keep, folders) from None
        raise


def state_written(saver: EpochSaver | None, out: Path) -> bool:
    """Whether the head's training state is in ``out`` for a resume: not when its last write
    failed (a full disk, logged by :func:`written_on_stop`), nor when none was ever written."""
    return (saver is None or saver.failed is None) and (out / LAST).is_file()


def unsaved_after_the_head() -> Interrupted:
    """What Ctrl-C after the head's epochs says when their training state could not be written:
    there is nothing to resume, and no run to offer."""
    return Interrupted(
        "interrupted after the head's epochs, whose training state could not be written "
        "(the log says why): nothing of the run was saved; train it again"
    )


def interrupted_outside_epochs(
    data_dir: Path | str,
    out: Path | str,
    saved: bool,
    stored: int = 0,
    earlier: int = 0,
    summary: dict | None = None,
    world: World = SINGLE,
    tuned: int | None = None,
) -> Interrupted:
    """What Ctrl-C before the head's first epoch, or after its last (fine-tuning, calibrating),
    leaves and how to go on; ``saved``: this run's training state is in ``out`` (written by this
    train, or the resumed run's own), said as what it holds: a resumed run stopped before its
    head's epochs went on is after the state's last epoch, not after the head's epochs
    (:func:`head_epoch_in_fit`); ``stored``: feature rows this train wrote into the store
    (none while it was still making the int8 copy of the body, say); ``earlier``: those of its
    image views it found there already, stored by earlier commands; ``summary``: the run as
    written then (:func:`save_after_the_head`), which ``train --json`` prints; ``tuned``: the
    last fine-tuning epoch the state holds, which a resume goes on after (None: fine-tuning, if
    asked for, starts again)."""
    if world.distributed and not saved:
        return interrupted_rank(stored, world)
    if saved:
        return state_kept(data_dir, Path(out), summary, tuned)
    head = "interrupted before the head's first epoch ended: nothing of the run was saved"
    if not stored and not earlier:
        return Interrupted(f"{head}, and no features of its images were stored or found yet")
    return Interrupted(f"{head}, but {kept_features(stored, earlier)}")


def state_kept(
    data_dir: Path | str, out: Path, summary: dict | None, tuned: int | None
) -> Interrupted:
    """:func:`interrupted_outside_epochs` where this run's training state is in ``out``, said as
    what it holds: the head's last epoch where its fit was not over (:func:`head_epoch_in_fit`:
    a resumed run stopped before its epochs went on), else the head's epochs and, ``tuned``,
    fine-tuning's last epoch; ``summary``: the run as written then."""
    values = {"resume": str(out), "data": str(data_dir)}
    state = f"its training state is in {out / LAST}: continue it with `resume=True`"
    epoch = head_epoch_in_fit(out)
    if epoch is not None:
        return Interrupted(f"interrupted after epoch {epoch}; {state}", values=values)
    best = f"the head's best model is in {out / BEST} and " if summary is not None else ""
    goes_on = (
        f", which goes on after fine-tuning's epoch {tuned}"
        if tuned is not None
        else " (fine-tuning, if asked for, starts again)"
    )
    return Interrupted(
        f"interrupted after the head's epochs; {best}{state}{goes_on}", values, summary=summary
    )


def kept_features(stored: int, earlier: int) -> str:
    """Which of the run's image views have their features in the store after Ctrl-C: ``stored``
    by this train, ``earlier`` found there, stored by earlier commands (a count, not zero)."""
    again, before = "so the same command starts again from them", "stored by earlier commands"
    if not earlier:
        views = plural(stored, "image view")
        return f"the features of the {views} computed so far are in the store, {again}"
    views = plural(stored + earlier, "image view")
    if not stored:
        return f"the store holds the features of the {views} looked up so far, {before}, {again}"
    return (
        f"the store holds the features of the {views} looked up or computed so far ({stored} "
        f"computed now, {earlier} {before}), {again}"
    )


def interrupted_rank(stored: int, world: World) -> Interrupted:
    """What Ctrl-C before the head's first epoch leaves under torchrun, where rank 0 says it:
    ``stored`` counts the feature rows this process wrote, not the other ranks' (each writes its
    share itself). Summing them would take a collective, which is not safe at interruption: the
    ranks take the signal at different moments, some inside a collective already, and a rank
    that is gone never joins, so the sum would wait for ever."""
    head = "interrupted before the head's first epoch ended: nothing of the run was saved"
    whose = f"this process (rank {world.rank} of {world.size})"
    if not stored:
        return Interrupted(
            f"{head}; {whose} had stored no features yet, and those the other ranks computed so "
            "far, if any, are in the store"
        )
    return Interrupted(
        f"{head}, but the features of the {plural(stored, 'image view')} {whose} computed so far "
        "are in the store, with those of the other ranks, so the same command starts again from "
        "them"
    )


def fills_the_run_disk(out: Path, stop: BaseException) -> bool:
    """Whether ``stop`` is a full disk (or quota) met writing a file of the run folder ``out``
    (the run's files are written in a hidden folder in it, each error naming the file it would
    be: ``outputs.reported_as``)."""
    if not isinstance(stop, OSError) or stop.errno not in FULL_DISK or stop.filename is None:
        return False
    refused = Path(os.fsdecode(stop.filename))
    return refused == out or out in refused.parents


@contextmanager
def said_on_a_full_disk(
    out: Path, data_dir: Path, saver: EpochSaver | None, replaces: bool
) -> Iterator[None]:
    """A full disk (or quota) met writing the run folder ``out`` after the head's epochs (its
    model, the curves, a record; :func:`fills_the_run_disk`) is one sentence (:func:`full_disk`),
    once the training state is written or has failed (``saver``'s: :func:`written_on_stop`,
    entered after this). It was the OSError alone ("run/model.safetensors: no space left on
    device"), said after the failed state's own logged error, its raw ``[Errno 28]`` text, and
    neither said what was kept nor how to go on."""
    try:
        yield
    except OSError as stop:
        if not fills_the_run_disk(out, stop):
            raise
        saved = state_written(saver, out)
        raise full_disk(stop, out, data_dir, saved=saved, replaces=replaces) from stop


def full_disk(
    stop: OSError, out: Path, data_dir: Path, *, saved: bool, replaces: bool
) -> ObjrecError:
    """What a full disk met writing the run folder ``out`` (``stop``: its error) says: the file
    refused; that none of the run's files was put in place, as they are written apart and put in
    place together (``runs.write_run``), an earlier run there (``replaces``: a forced run) whole;
    and how to go on: free some space, then resume from the training state when it is ``saved``
    in ``out``, else run it again, which finds the features of its images in the store."""
    said = full_disk_words(stop, out)
    earlier = f" (the earlier run in {out} is kept whole)" if replaces else ""
    kept = f"none of the run's files was put in place{earlier}"
    if saved:
        return ObjrecError(
            f"{said}; {kept}, but its training state is in {out / LAST}: free some space on that "
            "disk, then continue it with `resume=True`",
            values={"resume": str(out), "data": str(data_dir)},
        )
    return ObjrecError(
        f"{said}; {kept}, nor its training state, which could not be written either: free some "
        "space on that disk, or give `out` a folder on a disk with room, and train it again: the "
        "features of its images are in the store, so it starts from them"
    )


@contextmanager
def said_on_a_full_disk_in_the_epochs(
    out: Path, saver: EpochSaver | None, resumed: SavedTraining | None, data_dir: str | None
) -> Iterator[None]:
    """A full disk (or quota) met writing the head's training state in its epochs (every
    ``resume_state.SAVE_EVERY`` seconds) is one sentence (:func:`full_disk_in_the_epochs`) saying
    what was kept and how to go on, not the OSError alone. ``resumed``: the state a resumed run
    began from, kept until this fit writes one."""
    try:
        yield
    except OSError as stop:
        if saver is None or not fills_the_run_disk(out, stop):
            raise
        kept = saver.written_epoch
        kept = resumed.progress.epoch if kept is None and resumed is not None else kept
        raise full_disk_in_the_epochs(stop, saver.path, kept, data_dir) from stop


def full_disk_in_the_epochs(
    stop: OSError, path: Path, kept: int | None, data_dir: str | None
) -> ObjrecError:
    """What a full disk met writing the training state ``path`` in the head's epochs says: the
    state of epoch ``kept``, the last written whole, stays as it was (a state is written apart
    and renamed over it: ``resume_state.write_training_state``), and a resume goes on from it;
    with none written yet, nothing of the run was saved, and the features are in the store."""
    said = f"{full_disk_words(stop, path.parent, path)} in the head's epochs"
    if kept is None:
        return ObjrecError(
            f"{said}, before any of its training state was: nothing of the run was saved: free "
            "some space on that disk, or give `out` a folder on a disk with room, and train it "
            "again: the features of its images are in the store, so it starts from them"
        )
    return ObjrecError(
        f"{said}; its training state as of epoch {kept} is kept in {path}: free some space on "
        "that disk, then continue it with `resume=True`",
        values={"resume": str(path.parent), "data": data_dir or "DATA"},
    )


@contextmanager
def said_after_the_head(
    out: Path, data_dir: Path, saver: EpochSaver | None, replaces: bool
) -> Iterator[None]:
    """What ``train`` holds from the head's end until the run is written: the head's training
    state written on a stop (:func:`written_on_stop`), then a full disk said in one sentence
    (:func:`said_on_a_full_disk`, which needs that state written or failed first)."""
    with said_on_a_full_disk(out, data_dir, saver, replaces), written_on_stop(saver):
        yield


@contextmanager
def written_on_stop(saver: EpochSaver | None) -> Iterator[None]:
    """The head's training state as of its last epoch (``saver``'s, rank 0's) written to
    ``last.safetensors`` when what follows the head's epochs stops, by Ctrl-C or an error
    (fine-tuning, calibrating, writing the run), so that ``resume`` goes on from it. A run that
    ends writes none, since its model is written whole and the state would be removed: 80 MB for
    the default head, 0.14 s of writing, hashing and syncing of a 10.6 s warm retrain of the
    100-class protocol; once the run's files are in place, a stop held back meanwhile writes none
    either (``runs.put_in_place`` lets it go: ``EpochSaver.let_go``). A crash (``kill -9``)
    meanwhile loses at most ``resume_state.SAVE_EVERY`` seconds of training, as one within the
    epochs does. A state that cannot be written either (the full disk that stopped the run) is
    logged, and the stop's own error raised: it says what went wrong first."""
    try:
        yield
    except BaseException as stop:
        if saver is not None:
            try:
                saver.flush()
            except Exception as exc:
                if not fills_the_run_disk(saver.path.parent, stop):  # its sentence says it
                    log.error(
                        "the training state could not be written either (%s): the run cannot be "
                        "resumed",
                        exc,
                    )
        raise


def save_on_stop(
    stop: BaseException,
    prep: Prepared,
    config: TrainConfig,
    meta: RunMeta,
    out: Path,
    keep: KeepSoFar,
    *,
    ours: bool,
) -> NoReturn:
    """Ctrl-C or a diverged loss (``stop``) in the head's fit: write the run as of its last
    completed epoch (``keep``: ``runs.keep_best_so_far``; ``ours``: the training state in ``out``
    is this run's), then say what was kept: how to resume after Ctrl-C, to lower ``lr`` after a
    divergence (a resume would diverge again: it keeps the run's settings). A forced run over an
    earlier one writes nothing (:func:`kept_the_earlier_run`)."""
    if prep.replaces:
        raise kept_the_earlier_run(stop, config, meta, out, ours) from None
    state = keep()
    if isinstance(stop, Diverged):
        raise diverged(stop, "lr", config.lr, kept_words(out, state), holds_run(out)) from None
    raise interrupted_in_fit(out, meta, state) from None


def kept_the_earlier_run(
    stop: BaseException, config: TrainConfig, meta: RunMeta, out: Path, ours: bool
) -> Exception:
    """What Ctrl-C or a diverged loss (``stop``) in a forced run's fit says: the earlier run in
    ``out`` stays whole, its model and what was made from it, until this run's model is written;
    this run's training state (``ours``: it wrote one) is there for ``resume=True``."""
    earlier = f"{out / BEST} is still the earlier run's model"
    if isinstance(stop, Diverged):
        return diverged(stop, "lr", config.lr, f"; {earlier}")
    if not ours:
        return interrupted_in_fit(out, meta, None)
    epoch = load_training_state(out / LAST).progress.epoch
    return Interrupted(
        f"interrupted after epoch {epoch}; {earlier}, kept until this run's is written: "
        "continue it with `resume=True`",
        values={"resume": str(out), "data": str(meta.data_dir or "DATA")},
    )


def kept_words(out: Path, state: FitState | None) -> str:
    """What a diverged head's fit left in ``out``: the best model of the epochs before (``state``
    after the last of them), or nothing."""
    if state is None:
        return ", before any epoch of this run could be saved"
    return f"; the best model before it (epoch {state.best_epoch}) is in {out / BEST}"

"""What a stop of ``train`` keeps and says, decided in one place from where the run is: its
:class:`Phase`, which each step of ``train`` enters as it begins (``with``
:meth:`RunStops.entering`, beside the step's code, given what a stop there needs), and which the
one handler around the run reads (:func:`said_on_a_stop`). A new phase is a member of
:class:`Phase`, its handler in :data:`BY_PHASE` and one ``with`` around its step. By phase:

- ``OPENING`` (the run folder held, a resume's state read, the settings settled, ``strict``'s
  check) and ``FROZEN_PASS`` (the features of the training views and the validation images, until
  the head's first epoch begins): Ctrl-C keeps nothing of the run but the features the frozen pass
  stored, and says how many; a resumed run's training state stays as it was, said as what it holds
  (:func:`interrupted_outside_epochs`).
- ``HEAD_EPOCHS``: Ctrl-C or a diverged loss writes the run as of its last completed epoch (the
  best model so far) and keeps its training state for ``resume`` (:func:`save_on_stop`); a full
  disk writing the training state keeps the one last written whole
  (:func:`full_disk_in_the_epochs`), said after the stop's own words where a stop's write met it.
- ``FINE_TUNING`` and ``CALIBRATING``: any stop first writes the head's training state as of its
  last epoch (:func:`write_state_on_stop`); Ctrl-C then puts fine-tuning's blocks back as they were
  and writes the run as of the head's end (:func:`save_after_the_head`); a full disk is one
  sentence (:func:`full_disk`); a diverged fine-tuning names ``finetune_lr``
  (``finetune.finetune_divergence``).
- ``WRITING`` (the run's files written apart, then put in place together): any stop writes the
  head's training state; Ctrl-C says what it holds, none of the run's files being in place (all
  are, when the stop was held back as they were put in place: ``runs.put_in_place``), or that
  nothing was saved when it could not be written; a full disk is one sentence.
- ``WRITTEN`` (the run's files in place, its last log line): Ctrl-C says the run was written whole.

A forced run over an earlier one writes nothing over it: the earlier model stays until this run's
is written whole. An error that is neither Ctrl-C (or SIGTERM), a diverged loss nor a full disk
of the run folder is raised as it is, and so is every stop of a rank other than 0 under torchrun
(rank 0 says what was kept), but a diverged loss, which every rank raises at once: the others
wait for rank 0 to keep the run so far, and say its words (:func:`said_together`). Each stop
says, in one sentence, what it left and how to go on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NamedTuple, NoReturn, Protocol

from torch import nn

from objrec.cache import open_cache
from objrec.distributed import SINGLE, World
from objrec.engine import Diverged, FitState, diverged
from objrec.errors import FULL_DISK, Interrupted, ObjrecError, full_disk_words
from objrec.meta import RunMeta
from objrec.model import Classifier
from objrec.model_file import read_training_progress
from objrec.paths import PathGiven
from objrec.quantize import CopyStopped
from objrec.resume_state import EpochSaver, load_training_state
from objrec.run_files import BEST, LAST
from objrec.runs import RunFolders, holds_run, interrupted_in_fit, read_summary, run_written
from objrec.words import plural

log = logging.getLogger(__name__)


class Phase(Enum):
    """Where a run of ``train`` is, for what a stop there keeps and says (the module's
    docstring): its steps in the order they run."""

    OPENING = "opening the run"
    FROZEN_PASS = "the frozen pass"
    HEAD_EPOCHS = "the head's epochs"
    FINE_TUNING = "fine-tuning"
    CALIBRATING = "calibrating"
    WRITING = "writing the run"
    WRITTEN = "the run written"


class KeepSoFar(Protocol):
    """Writes the run as of the training state in its folder (``runs.keep_best_so_far``, with the
    run's record so far) and returns that state, None when there is none of this run's (``ours``:
    the state there is this run's)."""

    def __call__(self, *, ours: bool) -> FitState | None: ...


@dataclass(frozen=True)
class RunSoFar:
    """How a stop from the head's epochs on writes the run as it stands, and what its sentence
    names."""

    keep: KeepSoFar
    """Writes the run so far (``train.keep_run_so_far``)."""
    meta: RunMeta
    """The run's metadata: its data folder, for the resume a sentence gives."""
    lr: float
    """The head's learning rate, which a diverged loss's sentence says to lower."""
    replaces: bool
    """A forced run over an earlier one, which writes nothing over it."""
    resumed_epoch: int | None = None
    """The last epoch of the state a resumed run began from, kept until its fit writes one."""


class BlocksBefore:
    """Fine-tuning's blocks (``top``) and the run's body as they were before fine-tuning: a copy
    of the blocks' weights, and the body itself (``finetune.body_kept`` swaps an int8 one's fp32
    body in), put back by a stop after the head's epochs, since the training state the run is then
    written from holds the head's best only, trained on that body."""

    def __init__(self, model: Classifier, top: nn.Module | None):
        self.model, self.body, self.top = model, model.body, top
        self.weights = {k: v.detach().clone() for k, v in top.state_dict().items()} if top else {}

    def put_back(self) -> None:
        """The blocks' weights and the body as they were (nothing without fine-tuning)."""
        if self.top is not None:
            self.top.load_state_dict(self.weights)
            self.model.body = self.body  # as before body_kept, whose precision the keep has still
            self.model.cpu().freeze_body()


class StopParts(NamedTuple):
    """What a stop from a phase on needs, given as the phase begins (:meth:`RunStops.entering`;
    None: as it was)."""

    saver: EpochSaver | None = None
    """Rank 0's writer of the head's training state, from the head's epochs on."""
    so_far: RunSoFar | None = None
    """How the run is written as it stands, from the head's epochs on."""
    blocks: BlocksBefore | None = None
    """Fine-tuning's blocks and the body as they were, from the head's end on."""


@dataclass
class RunStops:
    """A run of ``train`` as a stop sees it: where it is (``phase``, moved on as each step of
    ``train`` begins: :meth:`entering`) and what a stop there needs, given as it becomes known.
    One per run, made as it begins (:func:`run_stops`), read by :func:`said_on_a_stop`."""

    folders: RunFolders
    resumed: bool
    """The run goes on from one stopped earlier, whose training state is in its folder."""
    world: World
    cache_dir: PathGiven | None
    state_before: tuple[int, int] | None
    """The training state in the run folder as the run began (:func:`state_stamp`): one an
    earlier run left there (a forced run's) is not this run's."""
    rows_before: tuple[int, int]
    """The feature store's rows as the run began (:func:`store_rows`)."""
    phase: Phase = Phase.OPENING
    saver: EpochSaver | None = None
    """Rank 0's writer of the head's training state, from the head's epochs on."""
    so_far: RunSoFar | None = None
    """How the run is written as it stands, from the head's epochs on."""
    blocks: BlocksBefore | None = None
    """Fine-tuning's blocks and the body as they were, from the head's end on."""

    @contextmanager
    def entering(self, phase: Phase, given: StopParts = StopParts()) -> Iterator[None]:
        """``phase`` begins, as the ``with`` block's step: a stop from here on is kept and said as
        :data:`BY_PHASE` says for it, with the parts ``given`` (each kept until given again).
        The phase lasts until the next is entered, and as a stop leaves the block, which the
        handler around the run then reads. It was set by hand in four places of ``train._train``
        and by two methods besides, so that a new phase was added in three places, in step
        (review64a)."""
        self.enter(phase)
        self.saver = self.saver if given.saver is None else given.saver
        self.so_far = self.so_far if given.so_far is None else given.so_far
        self.blocks = self.blocks if given.blocks is None else given.blocks
        yield

    def enter(self, phase: Phase) -> None:
        """``phase`` begins: the run's end (``WRITTEN``), which has no step of its own to hold
        in a ``with`` block (:meth:`entering`)."""
        self.phase = phase

    def ours(self) -> bool:
        """Whether the training state in the run folder is this run's: the resumed run's own, or
        written since the run began."""
        return self.resumed or state_stamp(self.folders.run) not in (None, self.state_before)


def run_stops(
    folders: RunFolders, resumed: bool, cache_dir: PathGiven | None, world: World
) -> RunStops:
    """The :class:`RunStops` of a run beginning now: the training state in its folder and the
    feature store's rows as they are."""
    stamp, rows = state_stamp(folders.run), store_rows(cache_dir)
    return RunStops(folders, resumed, world, cache_dir, stamp, rows)


@contextmanager
def said_on_a_stop(run: RunStops) -> Iterator[None]:
    """The one handler around a run of ``train``: a stop (Ctrl-C, SIGTERM, an error) kept and
    said by rank 0 as its phase decides (:data:`BY_PHASE`, the module's docstring); raised as it
    is by another rank, and where the phase leaves it so; a diverged loss under torchrun is said
    by every rank in rank 0's words, once rank 0 has kept the run (:func:`said_together`)."""
    try:
        yield
    except BaseException as stop:
        if isinstance(stop, Diverged) and run.world.distributed:
            said_together(run, stop)
        if run.world.main:
            BY_PHASE[run.phase](run, stop)
        raise


KEEPING = "rank 0 keeping the run so far"
"""What the other ranks wait for after a stop every rank raises at once (:func:`said_together`)."""


def said_together(run: RunStops, stop: Diverged) -> NoReturn:
    """A diverged loss under torchrun, which every rank raises at once (decided on the
    all-reduced losses): rank 0 keeps the run so far and says it as its phase decides
    (:data:`BY_PHASE`); the other ranks wait for its sentence (:meth:`World.share`) and raise the
    same words. Rank 1 raised at once, torchrun stopped rank 0 as it wrote the run, and the best
    model so far was lost, the folder left needing ``force=True`` for the advice rank 1 gave
    without it (review64a M1). Rank 0 shares its sentence even when its keep fails, so that no
    rank waits for ever; one whose process ends meanwhile frees the others within a second
    (``World.waiting_for``)."""
    if not run.world.main:
        shared = run.world.share(None, KEEPING)
        if shared is None:
            raise stop
        raise ObjrecError(shared) from None
    try:
        BY_PHASE[run.phase](run, stop)
    except BaseException as said:
        share_quietly(run.world, str(said) if isinstance(said, ObjrecError) else None)
        raise
    share_quietly(run.world, None)
    raise stop


def share_quietly(world: World, sentence: str | None) -> None:
    """Rank 0's ``sentence`` given to the others, its own error kept whatever their wait says (a
    rank whose process ended: ``World.waiting_for``'s sentence)."""
    try:
        world.share(sentence, KEEPING)
    except (ObjrecError, RuntimeError) as failed:
        log.debug("the other ranks did not take rank 0's sentence (%s)", failed)


def before_the_epochs(run: RunStops, stop: BaseException) -> None:
    """Ctrl-C as the run opens or in its frozen pass: :func:`interrupted_outside_epochs`."""
    if isinstance(stop, KeyboardInterrupt):
        raise outside_the_epochs(run, stop) from None


def outside_the_epochs(run: RunStops, stop: KeyboardInterrupt) -> Interrupted:
    """What Ctrl-C outside the head's epochs says (:func:`interrupted_outside_epochs`): the
    training state in the run folder, when it is this run's, said as what it holds; the features
    this process stored since the run began counted (:func:`store_rows`); a stop in the int8 copy
    of the body says what it left of it (:func:`with_copy_left`)."""
    ours, folders = run.ours(), run.folders
    stored = rows_since(run.cache_dir, run.rows_before)  # this process's
    tuned = tuned_epoch(folders.run) if ours else None
    said = interrupted_outside_epochs(
        folders.data, folders.run, ours, *stored, world=run.world, tuned=tuned
    )
    return with_copy_left(said, stop)


def in_the_head_epochs(run: RunStops, stop: BaseException) -> None:
    """Ctrl-C or a diverged loss in the head's epochs: the last completed epoch's state written
    (rank 0's saver, :func:`flushed_on_a_stop`), then :func:`save_on_stop`; a full disk writing
    the state, in the epochs or on the stop: :func:`full_disk_in_the_epochs`, after the stop's
    own words."""
    saver, so_far, out = run.saver, run.so_far, run.folders.run
    if saver is None or so_far is None:  # given with the phase, on rank 0
        return
    if isinstance(stop, (KeyboardInterrupt, Diverged)):
        flushed_on_a_stop(run, saver, so_far, stop)
        save_on_stop(stop, so_far, out, ours=run.ours())
    if isinstance(stop, OSError) and fills_the_run_disk(out, stop):
        kept = kept_epoch(saver, so_far)
        raise full_disk_in_the_epochs(stop, saver.path, kept, so_far.meta.data_dir) from stop


def flushed_on_a_stop(
    run: RunStops, saver: EpochSaver, so_far: RunSoFar, stop: KeyboardInterrupt | Diverged
) -> None:
    """The last completed epoch's state written on Ctrl-C or a diverged loss (``stop``). A full
    disk of the run folder raises :func:`full_disk_in_the_epochs` with the stop's words in front
    (it said the full disk alone, the stop lost); another OSError is logged, and the stop goes on
    to say what the run folder keeps (it was raised bare, the stop lost)."""
    try:
        saver.flush()
    except OSError as failed:
        if not fills_the_run_disk(run.folders.run, failed):
            log.error("the training state could not be written (%s)", failed)
            return
        kept, data = kept_epoch(saver, so_far), so_far.meta.data_dir
        after = (stop, saver.pending_epoch, so_far.lr)
        raise full_disk_in_the_epochs(failed, saver.path, kept, data, after) from failed


def kept_epoch(saver: EpochSaver, so_far: RunSoFar) -> int | None:
    """The epoch of the training state last written whole in the run folder: this run's, else
    the resumed run's (None: none)."""
    return saver.written_epoch if saver.written_epoch is not None else so_far.resumed_epoch


def after_the_head(run: RunStops, stop: BaseException) -> None:
    """Any stop while fine-tuning or calibrating writes the head's training state first
    (:func:`write_state_on_stop`); then Ctrl-C puts the blocks back and writes the run as of the
    head's end (:func:`save_after_the_head`), or says that nothing was saved when the state could
    not be written; a full disk of the run folder is one sentence (:func:`full_disk`)."""
    write_state_on_stop(run.saver, stop)
    if isinstance(stop, KeyboardInterrupt):
        if run.blocks is not None:
            run.blocks.put_back()
        if not state_written(run.saver, run.folders.run):
            raise unsaved_after_the_head() from None
        with said_on_a_full_disk(run):
            raise save_after_the_head(run) from None
    if isinstance(stop, OSError):
        said_of_a_full_disk(run, stop)


def writing(run: RunStops, stop: BaseException) -> None:
    """Any stop as the run is written writes the head's training state first
    (:func:`write_state_on_stop`); then Ctrl-C says what the run folder holds
    (:func:`outside_the_epochs`), or, when it holds no state of this run's (its write failed),
    that nothing was saved after the head's epochs, as Ctrl-C while calibrating says then; a full
    disk of the run folder is one sentence (:func:`full_disk`)."""
    write_state_on_stop(run.saver, stop)
    if isinstance(stop, KeyboardInterrupt):
        if not run.ours():
            raise unsaved_after_the_head() from None
        raise outside_the_epochs(run, stop) from None
    if isinstance(stop, OSError):
        said_of_a_full_disk(run, stop)


def written(run: RunStops, stop: BaseException) -> None:
    """Ctrl-C once the run is written whole (its last log line): nothing is lost, and it says so
    (:func:`runs.run_written`); not "nothing was saved", nor a training state removed with the
    run's end."""
    if isinstance(stop, KeyboardInterrupt):
        raise Interrupted(run_written(run.folders.run, finished=True)) from None


BY_PHASE: dict[Phase, Callable[[RunStops, BaseException], None]] = {
    Phase.OPENING: before_the_epochs,
    Phase.FROZEN_PASS: before_the_epochs,
    Phase.HEAD_EPOCHS: in_the_head_epochs,
    Phase.FINE_TUNING: after_the_head,
    Phase.CALIBRATING: after_the_head,
    Phase.WRITING: writing,
    Phase.WRITTEN: written,
}
"""What a stop in each phase keeps and says: each raises what the stop says, or returns, and the
stop is raised as it is."""


def with_copy_left(said: Interrupted, stop: KeyboardInterrupt) -> Interrupted:
    """``said``, and what a stop in the int8 copy of the body left of it (``CopyStopped``): it
    starts over, and is made once per network and cache folder."""
    if not isinstance(stop, CopyStopped):
        return said
    return Interrupted(f"{said}; {stop.said()}", said.values, said.summary, said.left)


def store_rows(cache_dir: PathGiven | None) -> tuple[int, int]:
    """Feature rows this process has written into the cache folder's store, and those its frozen
    passes found there already, stored by earlier commands."""
    cache = open_cache(cache_dir)
    return cache.rows_written, cache.rows_reused


def rows_since(cache_dir: PathGiven | None, before: tuple[int, int]) -> tuple[int, int]:
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


def save_after_the_head(run: RunStops) -> Interrupted:
    """Ctrl-C after the head's epochs (fine-tuning or calibrating, the body's tuned blocks put
    back as they were): write the run as of the head's end, the training state ``fit_head`` left
    in the run folder (the best model so far, ``finished`` False), as a stop in the head's epochs
    does (``run.so_far``), so that ``train --json`` prints it; then say how to go on. A forced run
    over an earlier one writes nothing: the earlier model stays until this run's is written
    whole."""
    folders = run.folders
    tuned = tuned_epoch(folders.run)
    if run.so_far is None or run.so_far.replaces:
        return interrupted_outside_epochs(folders.data, folders.run, True, tuned=tuned)
    kept = run.so_far.keep(ours=True)
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


def state_written(saver: EpochSaver | None, out: Path) -> bool:
    """Whether the head's training state is in ``out`` for a resume: not when its last write
    failed (a full disk, logged by :func:`write_state_on_stop`), nor when none was ever written."""
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
    a resumed run stopped before its epochs went on), else fine-tuning's last epoch (``tuned``)
    or the head's epochs; ``summary``: the run as written then."""
    values = {"resume": str(out), "data": str(data_dir)}
    state = f"its training state is in {out / LAST}: continue it with `resume=True`"
    epoch = head_epoch_in_fit(out)
    if epoch is not None:
        return Interrupted(f"interrupted after epoch {epoch}; {state}", values=values)
    best = f"the head's best model is in {out / BEST} and " if summary is not None else ""
    if tuned is not None:  # not "after the head's epochs ... goes on after fine-tuning's epoch"
        said = f"interrupted after fine-tuning's epoch {tuned}; {best}{state}, which goes on "
        said += "after that epoch"
    else:
        said = f"interrupted after the head's epochs; {best}{state} (fine-tuning, if asked for, "
        said += "starts again)"
    return Interrupted(said, values, summary=summary)


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


def said_of_a_full_disk(run: RunStops, stop: OSError) -> None:
    """A full disk (or quota) met writing the run folder after the head's epochs (its model, the
    curves, a record; :func:`fills_the_run_disk`) is one sentence (:func:`full_disk`), said once
    the training state is written or has failed (:func:`write_state_on_stop`); another OSError
    is left as it is. It was the OSError alone ("run/model.safetensors: no space left on
    device"), said after the failed state's own logged error, its raw ``[Errno 28]`` text, and
    neither said what was kept nor how to go on."""
    out = run.folders.run
    if fills_the_run_disk(out, stop):
        replaces = run.so_far is not None and run.so_far.replaces
        saved = state_written(run.saver, out)
        raise full_disk(stop, out, run.folders.data, saved=saved, replaces=replaces) from stop


@contextmanager
def said_on_a_full_disk(run: RunStops) -> Iterator[None]:
    """:func:`said_of_a_full_disk` of an OSError met in the block (writing the run so far)."""
    try:
        yield
    except OSError as stop:
        said_of_a_full_disk(run, stop)
        raise


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


StopWords = tuple[KeyboardInterrupt | Diverged, int | None, float]
"""A stop a full disk met as it wrote the training state: Ctrl-C or a diverged loss, the epoch
after which it came and the run's learning rate."""


def full_disk_in_the_epochs(
    stop: OSError,
    path: Path,
    kept: int | None,
    data_dir: str | None,
    after: StopWords | None = None,
) -> ObjrecError:
    """What a full disk met writing the training state ``path`` in the head's epochs says: the
    state of epoch ``kept``, the last written whole, stays as it was (a state is written apart
    and renamed over it: ``resume_state.write_training_state``), and a resume goes on from it;
    with none written yet, nothing of the run was saved, and the features are in the store.
    ``after``: the stop whose state met the disk, said first (:func:`stop_words`); after a
    diverged loss a resume would diverge again, so it says to train again with a lower ``lr``."""
    said = f"{full_disk_words(stop, path.parent, path)} in the head's epochs"
    if after is not None:
        said = f"{stop_words(after[0], after[1])}; {said}"
    diverged = after is not None and isinstance(after[0], Diverged)
    lower = f" with a lower `lr` than {after[2]:g}" if after is not None and diverged else ""
    if kept is None:
        return ObjrecError(
            f"{said}, before any of its training state was: nothing of the run was saved: free "
            "some space on that disk, or give `out` a folder on a disk with room, and train it "
            f"again{lower}: the features of its images are in the store, so it starts from them"
        )
    if diverged:
        return ObjrecError(
            f"{said}; its training state as of epoch {kept} is kept in {path}, but a resume "
            f"would diverge again: free some space on that disk, then train it again{lower} and "
            "`force=True`"
        )
    return ObjrecError(
        f"{said}; its training state as of epoch {kept} is kept in {path}: free some space on "
        "that disk, then continue it with `resume=True`",
        values={"resume": str(path.parent), "data": data_dir or "DATA"},
    )


def stop_words(stop: KeyboardInterrupt | Diverged, epoch: int | None) -> str:
    """What a stop in the head's epochs says first: "interrupted after epoch 3" (``epoch``: the
    last completed), "the validation loss is NaN at epoch 3: training diverged"."""
    if isinstance(stop, Diverged):
        return f"the {stop.which} loss is {stop.value} at epoch {stop.epoch}: training diverged"
    return "interrupted" if epoch is None else f"interrupted after epoch {epoch}"


def write_state_on_stop(saver: EpochSaver | None, stop: BaseException) -> None:
    """The head's training state as of its last epoch (``saver``'s, rank 0's) written to
    ``last.safetensors`` when what follows the head's epochs stops (``stop``: Ctrl-C or an error,
    fine-tuning, calibrating, writing the run), so that ``resume`` goes on from it. A run that
    ends writes none, since its model is written whole and the state would be removed: 80 MB for
    the default head, 0.14 s of writing, hashing and syncing of a 10.6 s warm retrain of the
    100-class protocol; once the run's files are in place, a stop held back meanwhile writes none
    either (``runs.put_in_place`` lets it go: ``EpochSaver.let_go``). A crash (``kill -9``)
    meanwhile loses at most ``resume_state.SAVE_EVERY`` seconds of training, as one within the
    epochs does. A state that cannot be written either (the full disk that stopped the run) is
    logged, and the stop's own error raised by the caller: it says what went wrong first."""
    if saver is None:
        return
    try:
        saver.flush()
    except Exception as exc:
        if not fills_the_run_disk(saver.path.parent, stop):  # its sentence says it
            log.error(
                "the training state could not be written either (%s): the run cannot be resumed",
                exc,
            )


def save_on_stop(stop: BaseException, so_far: RunSoFar, out: Path, *, ours: bool) -> NoReturn:
    """Ctrl-C or a diverged loss (``stop``) in the head's fit: write the run as of its last
    completed epoch (``so_far.keep``: ``runs.keep_best_so_far``; ``ours``: the training state in
    ``out`` is this run's), then say what was kept: how to resume after Ctrl-C, to lower ``lr``
    after a divergence (a resume would diverge again: it keeps the run's settings). A forced run
    over an earlier one writes nothing (:func:`kept_the_earlier_run`)."""
    if so_far.replaces:
        raise kept_the_earlier_run(stop, so_far.lr, so_far.meta, out, ours) from None
    state = so_far.keep(ours=ours)
    if isinstance(stop, Diverged):
        raise diverged(stop, "lr", so_far.lr, kept_words(out, state), holds_run(out)) from None
    raise interrupted_in_fit(out, so_far.meta, state) from None


def kept_the_earlier_run(
    stop: BaseException, lr: float, meta: RunMeta, out: Path, ours: bool
) -> Exception:
    """What Ctrl-C or a diverged loss (``stop``) in a forced run's fit says: the earlier run in
    ``out`` stays whole, its model and what was made from it, until this run's model is written;
    this run's training state (``ours``: it wrote one) is there for ``resume=True``."""
    earlier = f"{out / BEST} is still the earlier run's model"
    if isinstance(stop, Diverged):
        return diverged(stop, "lr", lr, f"; {earlier}")
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

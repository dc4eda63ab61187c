"""What the commands show and where they write: the stdout and stderr consoles, progress (bars
in a terminal, plain lines in a log), paths and JSON as printed, logged warnings as sentences, and
the default output folders beside DATA.
"""

from __future__ import annotations

import codecs
import copy
import io
import json
import logging
import os
import re
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import (
    AbstractContextManager,
    ExitStack,
    closing,
    contextmanager,
    redirect_stdout,
    suppress,
)
from pathlib import Path
from typing import Any

import click
from rich.console import Console, ConsoleRenderable
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from objrec.cli.messages import to_cli, under_torchrun
from objrec.errors import LOGGED_VALUES, WORK_IN_HAND
from objrec.outputs import finite_or_null
from objrec.progress import IN_RESULT, Reporter, TqdmReporter
from objrec.words import duration, on_lines


class EscapingConsole(Console):
    """A console whose tables hold each character its stream's encoding lacks as the stream writes
    it (``\\xe9``, :func:`escape_unencodable`), so that rich measures their columns by what is
    written: under ``PYTHONIOENCODING=ascii`` a table row naming a class ``café`` was 3 columns
    wider than the others. Every text it prints has its control characters escaped
    (:func:`printable`): train's ``classes: 2 (...)`` printed a class folder named ``ESC]0;...``
    raw, which set the terminal's title and cleared its screen (rich drops BEL, not ESC)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(self.as_printed(o) for o in objects), **kwargs)

    def as_printed(self, renderable: Any) -> Any:
        if isinstance(renderable, Table):
            return as_written_table(renderable, self.encoding)
        return printable(renderable) if isinstance(renderable, str) else renderable

    def on_broken_pipe(self) -> None:
        """The reader of this console's stream went away (``objrec check X | head -1``): rich
        exits 1, which reads as check's "something unusable"; exit as a shell reports a command
        a closed pipe stopped, :data:`CLOSED_PIPE`, saying nothing (no one reads it). Not made
        quiet, as rich's is: the console is the next command's too (``main([...])`` in a test);
        what it writes goes to /dev/null now."""
        silence(self.file)
        raise SystemExit(CLOSED_PIPE)


CLOSED_PIPE = 128 + signal.SIGPIPE
"""The exit code of a command whose output's reader went away (``objrec check X | head -1``,
``| grep -q``): 141, as a shell reports any command a closed pipe stopped (``yes | head``)."""


def reader_gone(stream: Any) -> bool:
    """Whether the reader of ``stream`` (stdout) went away, as the system tells it without a
    write: a pipe or socket whose other end closed (poll's POLLERR or POLLHUP on Linux, kqueue's
    EV_EOF on macOS). A broken pipe a command meets is its output's only then, else another's (a
    process or connection it wrote to); False for a stream without a file descriptor (a test's),
    a terminal or a file."""
    fd = file_descriptor(stream)
    if fd is None:
        return False
    try:
        if sys.platform == "darwin":  # kqueue documents EV_EOF for a pipe's closed reader
            with closing(select.kqueue()) as queue:
                events = queue.control([select.kevent(fd, select.KQ_FILTER_WRITE)], 1, 0)
            return any(event.flags & select.KQ_EV_EOF for event in events)
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0))
    except (OSError, ValueError):
        return False


def silence(stream: Any) -> None:
    """``stream`` (a closed pipe's end) pointed at /dev/null, so that what is written to it later
    (a flush, Python's at exit) fails no more; a stream without a file descriptor is left."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
    finally:
        os.close(devnull)


console = EscapingConsole(soft_wrap=True)
err = EscapingConsole(stderr=True, soft_wrap=True)


class Notes:
    """What a command says on stderr that is neither a warning, an error nor its result: its
    progress, train's epoch table, its notes, what it waits for. ``objrec -q`` (``quiet``) leaves
    them out, for a script or a repeat user who reads the result, the warnings and the errors
    alone: ``2>/dev/null`` hid the errors too."""

    def __init__(self) -> None:
        self.quiet = False

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """``err.print(*objects, **kwargs)``, unless quiet."""
        if not self.quiet:
            err.print(*objects, **kwargs)


notes = Notes()
"""The running command's notes on stderr (quiet or not: set by the ``objrec`` group's ``-q``)."""
PIPED_WIDTH = 10_000
"""Output width when stdout is not a terminal (a pipe, a log file): tables are never cut there."""


INTERRUPTED = 128 + signal.SIGINT
"""The exit code of a command stopped by Ctrl-C (130, as shells report it); one stopped by SIGTERM
exits with 128 + SIGTERM (143) instead, having cleaned up the same way."""


def is_main_rank() -> bool:
    """False in the ranks other than 0 of a ``torchrun`` job."""
    return os.environ.get("RANK", "0") == "0"


def rank_prefix(environ: Mapping[str, str] = os.environ) -> str:
    """``rank 1 of 2: `` before what a torchrun rank other than 0 says (an error): each rank says
    its own, so that a failure of one rank alone is seen, and the prefix tells the ranks' lines
    apart, where an error came twice, unmarked, as if said twice; nothing elsewhere."""
    if not under_torchrun(environ) or environ.get("RANK", "0") == "0":
        return ""
    return f"rank {environ['RANK']} of {environ['WORLD_SIZE']}: "


def print_error(sentence: str) -> None:
    """``error: sentence`` on stderr (``sentence`` plain text, not rich markup), after this rank's
    :func:`rank_prefix`, wrapped on a terminal (:func:`on_stderr`)."""
    err.print(on_stderr("error", "red", sentence), highlight=False)


WRAP_WIDTH = 96
"""The width warnings and errors are wrapped at on a terminal (docs/commands.md, "Output"): a
terminal of 100 columns shows each line whole."""


def on_stderr(kind: str, style: str, sentence: str) -> str:
    """``kind: sentence`` (``sentence`` plain text) as rich markup for stderr, after this rank's
    :func:`rank_prefix`: on a terminal, on lines of at most :data:`WRAP_WIDTH` characters (the
    terminal's width, where narrower), the later ones indented and a `quoted command` kept whole
    (:func:`objrec.words.on_lines`); on a pipe or in a file, as it is, which grep finds whole.
    The console never wraps (``soft_wrap``): the terminal cut split's 470-character warning
    mid-word, where the sentences of training and evaluation came wrapped."""
    prefix, head = rank_prefix(), f"{kind}:"
    text = f"{prefix}{head} {sentence}"
    if err.is_terminal:
        width = max(40, min(WRAP_WIDTH, err.width - 1))
        text = "\n".join(on_lines(line, width=width) for line in text.split("\n"))
    rest = text[len(prefix) + len(head) :]
    return f"{escape(prefix)}[{style}]{head}[/]{escape(rest)}"


PLAIN_PROGRESS_SECONDS = 5.0
"""When stderr is not a terminal (a pipe, a log file), a progress line at most this often."""
EPOCH_LINES_EVERY = 10
"""Epoch lines: the first this command runs (a resumed run's comes after its last completed
one), each epoch kept so far (a new lowest valid loss), and every this many."""
KEPT_MARK = "kept so far"
"""The mark of an epoch line whose epoch the run would keep were the fit to end there (the
lowest valid loss so far; while fine-tuning, one below the head's by more than ``min_delta``):
the last line so marked is the epoch kept, which the line under the table names
(:func:`kept_epoch_line`). Each new lowest was marked "best", and the legend said the last one was
kept: six lines said "best" of which one was."""
ETA_AFTER = 0.1
"""A progress display says how long is left once this share of the steps is done: before, the
first steps' start-up makes it wild (16/260 done in 5 s reads "about 1m23s left" of 9 s)."""
ETA_STEPS = 2
"""Nor before this many steps after the first are timed: in a task of few steps (report's 12
Grad-CAM images) the pace of one step would say "2/12 (17%), 15s, about 4s left"."""


EPOCH_LEGEND = (
    "epoch: one pass over the training images; loss: how wrong the guesses are (lower is better)\n"
    "acc: the share guessed right (train's counted as the head learns, so at first below valid's)\n"
    "valid: the validation images, never learnt from, so they show how it does on new photos"
)
"""Said once before the first epoch line, for whoever does not read "valid loss" at a glance:
three lines a terminal of 100 columns shows whole (one line of 322 characters was cut
mid-word)."""


def epoch_lines_say(first: int, before: tuple[int, float] | None = None) -> str:
    """Said once before the first epoch line, as the lines skip epochs; ``first``: the first epoch
    this command runs, 1 but on a resume (a new run's fit always begins at epoch 1); ``before``:
    a resumed run's kept epoch and valid loss, which a new one must be below. The run keeps the
    lowest, by however little (``--min-delta`` decides when training stops, not which epoch is
    kept): each new lowest is marked :data:`KEPT_MARK`, and the line under the table names the
    one kept (:func:`kept_epoch_line`)."""
    start = "epoch 1" if first == 1 else f"epoch {first} (the first of this resume)"
    which = f'marked "{KEPT_MARK}": the run keeps the lowest, named under the table'
    if before is not None:
        which += f"; below epoch {before[0]}'s {loss_text(before[1])}, kept before this resume"
    return (
        f"showing {start}, every {EPOCH_LINES_EVERY}th epoch, each new lowest valid loss "
        f"({which}) and the last; every epoch is in history.csv in the run folder"
    )


def kept_epoch_line(kept: tuple[int, float], shown: str | None = None) -> str:
    """The line under the epoch table: the epoch the fit ended with ``kept`` (epoch, valid
    loss), the last line marked :data:`KEPT_MARK`, or the resumed run's kept epoch where this
    resume marked none; its loss as that line ``shown`` it."""
    return f"kept: epoch {kept[0]}, valid loss {shown or loss_text(kept[1])}"


def loss_text(loss: float, more: int = 0) -> str:
    """A loss to four decimals, or to three significant digits when that would print 0.0000;
    ``more`` digits than that."""
    return f"{loss:.{4 + more}f}" if loss >= 0.001 else f"{loss:.{2 + more}e}"


def loss_apart(loss: float, before: float | None) -> str:
    """A new lowest ``loss`` (:data:`KEPT_MARK`) as :func:`loss_text` says it, with as many more
    digits as tell it from ``before``, the lowest before it: epochs 13 and 15 both said
    "valid loss 0.0444 ... kept so far", as if the same loss were kept twice (newcomer61b)."""
    more = 0
    while before is not None and more < 4 and loss_text(loss, more) == loss_text(before, more):
        more += 1
    return loss_text(loss, more)


class SteadyTimeRemaining(TimeRemainingColumn):
    """Rich's time left, blank until ``ETA_AFTER`` of the steps are done, and the first
    ``ETA_STEPS`` after the first one; counted down from the last step (the task's ``stepped``
    field, :meth:`RichReporter.shown`) while the next is awaited, and blank once it is overdue:
    rich's own stood still through a long step."""

    def render(self, task: Any) -> Text:
        if task.total and task.completed < max(ETA_AFTER * task.total, ETA_STEPS + 1):
            return Text("")
        stepped, left = task.fields.get("stepped"), task.time_remaining
        if stepped is None or left is None or task.finished:
            return super().render(task)
        left -= task.get_time() - stepped
        if left < 1:
            return Text("")
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours:d}:{minutes:02d}:{seconds:02d}", style="progress.remaining")


STOPPING = "stopping (Ctrl-C): the step in hand is cut short, then what the command kept is said"
"""The line Ctrl-C gets at once (:class:`CtrlCReply`)."""


class CtrlCReply:
    """Ctrl-C answered the moment it comes: :data:`STOPPING` said, no more progress lines, and
    the work in hand cut short (``errors.WORK_IN_HAND``), from whichever thread hears it first:
    the CLI's watcher of the signal (the main thread may be inside an engine's batch, where
    Python's handler waits: a user saw progress lines for 10 to 17 s, "interrupted" at the end)
    or the handler itself. Said once a command, on rank 0 alone under torchrun."""

    def __init__(self) -> None:
        self.listening: Callable[[], None] | None = None
        """Waits until the signals that came so far are heard, while a command listens for them
        (``cli.ctrl_c_heard_at_once``)."""
        self.reset()

    def reset(self) -> None:
        """Nothing heard yet: a new command begins."""
        self.taken = threading.Lock()
        self.said = threading.Event()
        self.stopping = threading.Event()
        """Set as the reply begins: plain progress lines are written no more."""

    def reply(self) -> None:
        if not self.taken.acquire(blocking=False):  # said, or being said by another thread
            return
        try:
            self.stopping.set()
            if is_main_rank():
                err.print(f"[yellow]{STOPPING}[/]", highlight=False)
            WORK_IN_HAND.stop()
        finally:
            self.said.set()

    def catch_up(self) -> None:
        """Until every signal that came so far has been heard (and replied to, where the CLI's
        handler was SIGINT's as it is heard): before a command's last line, so that the reply to
        a Ctrl-C a server raised again as it stopped comes before it. Nothing to wait for unless
        a command is listening."""
        if self.listening is not None:
            self.listening()

    def wait_said(self) -> None:
        """Until the reply begun in another thread is said: it comes before what was kept."""
        if self.taken.locked():
            self.said.wait(REPLY_WAIT)


REPLY_WAIT = 5.0
"""Seconds the sentence saying what a stopped command kept waits for the reply to Ctrl-C."""
CTRL_C = CtrlCReply()
"""The running command's reply to Ctrl-C (a new one for each command: ``cli.sigterm_as_ctrl_c``)."""


class PlainProgress:
    """Progress for logs and pipes: a plain line every few seconds, and one when a task that
    printed any is done, as pip and torchrun users expect (no bars, no control characters)."""

    def __init__(
        self,
        description: str,
        total: int | None,
        interval: float = PLAIN_PROGRESS_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] = lambda line: err.print(line, markup=False, highlight=False),
    ):
        self.description, self.total, self.interval = description, total, interval
        self.unit = ""
        """What a step is, said after the count (:meth:`Reporter.counts`); "" unsaid."""
        self.base = description
        """The description as the task began (:meth:`doing` adds to it)."""
        self.clock, self.said = clock, ""
        """``said``: the last line written."""

        def written(line: str) -> None:
            if CTRL_C.stopping.is_set():  # stopping: a line of progress would say it goes on
                return
            self.said = line
            write(line)

        self.write = written
        self.done, self.printed, self.steps = 0, False, 0
        self.start = self.last = self.stepped = clock()
        """When the task began; its last line was written; its last step ended."""
        self.first: tuple[float, int] | None = None
        """When the first step ended and how many it counted: the pace is measured from there"""
        self.stopped = threading.Event()
        self.beating: threading.Thread | None = None
        self.writing = threading.Lock()
        """Held while a line is written: by a step, or by ``beat``'s thread."""

    def line(self, final: bool = False) -> str:
        elapsed = self.clock() - self.start
        if not self.total:
            done = f"{self.done}, " if self.done else ""
            return f"{self.description}: {done}{duration(elapsed)}"
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.description}: {self.done}/{self.total}{unit} ({self.done / self.total:.0%})"
        text += f", {duration(elapsed)}"
        if ETA_AFTER * self.total <= self.done < self.total and not final:
            text += self.time_left(self.total)
        return text

    def time_left(self, total: int) -> str:
        """``, about 8s left`` at the pace from the first step's end to the last's, as rich's bar
        measures it: the first step carries the task's start-up (workers, the body's runner: a
        demo's first 16 of 60 images took 17 s, and "about 46s left" came 1 s before the end).
        Counted down while the next step is awaited: measured to now, so that a long last step
        (the int8 copy's "36/46 (78%) ... about 23s left") does not make the time left grow. Nothing
        before ``ETA_STEPS`` steps after the first, nor when what is left rounds to 0 s (overdue:
        a long step outlasting the pace)."""
        if self.first is None or self.steps - 1 < ETA_STEPS:
            return ""
        since, counted = self.stepped - self.first[0], self.done - self.first[1]
        left = since * (total - self.done) / counted - (self.clock() - self.stepped)
        return f", about {duration(left)} left" if round(left) >= 1 else ""  # never "about 0s"

    def advance(self, n: int = 1) -> None:
        self.done, self.steps, self.stepped = self.done + n, self.steps + 1, self.clock()
        if self.first is None:
            self.first = (self.clock(), self.done)
        if self.clock() - self.last < self.interval:
            return
        if self.total and self.done >= self.total:  # the last step: finish's line says it once
            self.printed = True
            return
        with self.writing:
            self.write(self.line())
            self.last, self.printed = self.clock(), True

    def doing(self, what: str) -> None:
        """Its lines say ``what`` after the description from now on: at once when the task has
        said nothing yet or none for an interval, else in its next line (a step that counts
        nothing for a while says why in a log too, by ``beat``'s). A line at each step's words
        repeated the int8 copy's line 8 times in 16 s, export's check 7 times in 9 s
        (newcomer62, 7): a log gets a line at the start, the end, and one an interval at most."""
        with self.writing:
            self.description = f"{self.base}: {what}"
            if self.printed and self.clock() - self.last < self.interval:
                return
            self.write(self.line())
            self.last, self.printed = self.clock(), True

    def counts(self, unit: str) -> None:
        """Its count says what a step is from now on: "3/46 steps"."""
        self.unit = unit

    def beat(self) -> None:
        """A line every interval from a thread until ``finish``, so that a log shows the work
        going on: for a task without steps (``total`` None), and for a counted one while no
        step wrote a line for an interval (its first step carries its start-up: the demo's
        first frozen pass sat 46 s at "0/60" on a busy machine, and a log said nothing)."""

        def lines() -> None:
            while not self.stopped.wait(self.interval):
                self.tick()

        self.beating = threading.Thread(target=lines, daemon=True)
        self.beating.start()

    def tick(self) -> None:
        """``beat``'s line: always for a task without steps; for a counted one, only when no
        line came for an interval and its last step is not done (``finish`` says that one)."""
        with self.writing:
            quiet = self.clock() - self.last >= self.interval
            if self.total is not None and (not quiet or self.done >= self.total):
                return
            self.write(self.line())
            self.last, self.printed = self.clock(), True

    def stop(self) -> None:
        """No more lines from ``beat``'s thread, one it is writing included."""
        self.stopped.set()
        if self.beating is not None:
            self.beating.join()

    def finish(self) -> None:
        self.stop()  # so that "done" is the last line
        self.description = self.base  # done: the task's, not its last step's
        if not self.printed:
            return
        line = self.line(final=True)
        # a task without steps whose last line showed this time: "loading ...: 10s" then
        # "loading ...: 10s, done" would read as stuck
        self.write(
            f"{self.base}: done" if self.total is None and line == self.said else line + ", done"
        )


class ProgressSeen:
    """How far the command's progress got, as its bars and lines showed it: the task going on
    (the innermost), or the last that ended; what a Ctrl-C says first (:meth:`where`)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Nothing seen yet: a new command begins."""
        self.going: list[list[Any]] = []
        """Each task begun and not ended, innermost last: its description, steps done, total."""
        self.ended: str | None = None
        """The description of the last task that ended."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """The task ``description`` going on while the block runs; yields ``count(n)``, which
        counts its steps done. A task the block leaves by an exception stays going."""
        state: list[Any] = [description, 0, total]
        self.going.append(state)

        def count(n: int = 1) -> None:
            state[1] += n

        yield count
        self.going.remove(state)
        self.ended = description

    def wrote_nothing(self) -> bool:
        """Whether the command's work has not begun: no task yet, or only its libraries loading
        (:data:`LOADING`, the first task, which writes nothing). A stop later, even outside the
        library's work (printing what it wrote), may have left files."""
        return self.ended is None and [state[0] for state in self.going] in ([], [LOADING])

    def where(self) -> str:
        """``at reading images (1,104 of 1,515 done)``; ``after hashing files``; ``before its
        work began`` (no progress shown yet: loading its libraries, checking its options)."""
        if self.going:
            description, done, total = self.going[-1]
            return f"at {description}" + (f" ({done:,} of {total:,} done)" if total else "")
        return f"after {self.ended}" if self.ended else "before its work began"


LOADING = "loading the libraries"
"""The task of a command's heavy imports (seconds of PyTorch), said rather than seconds of
silence; its first task, before any work (:meth:`RichReporter.loading`)."""
PROGRESS = ProgressSeen()
"""The running command's progress (a new one for each command: ``cli.command_code``)."""


def progress_counted(advance: Callable[..., Any], count: Callable[[int], None]) -> Any:
    """``advance`` (a bar's or a line's), which ``count`` hears of too."""

    def both(n: int = 1) -> None:
        count(n)
        advance(n)

    return both


class RichReporter(Reporter):
    """Progress bars and epoch lines on stderr (plain progress lines when stderr is not a
    terminal), with ``--json`` too: its answer is on stdout alone."""

    def __init__(self) -> None:
        self.said_which = False
        """Whether the line saying which epochs get a line was printed (once, before the first)."""
        self.first_epoch: int | None = None
        """The first epoch reported: 1, or on a resume the one after the last completed."""
        self.resumed_best: tuple[int, float] | None = None
        """A resumed run's best epoch and valid loss (:meth:`best_before`), before any line."""
        self.renames: list[Callable[[str], None]] = []
        """How each task shown says what it is doing now (:meth:`doing`), innermost last."""
        self.units: list[Callable[[str], None]] = []
        """How each task shown says what its steps are (:meth:`counts`), innermost last."""
        self.unshown: dict[str, Any] | None = None
        """The last epoch reported, when the table gave it no line (:meth:`last_epoch`)."""
        self.kept: tuple[int, float] | None = None
        """The epoch kept so far and its valid loss: the last marked :data:`KEPT_MARK`, else a
        resumed run's (:meth:`best_before`)."""
        self.kept_text: str | None = None
        """The kept epoch's valid loss as its line showed it (:func:`loss_apart`)."""
        self.fitting = False
        """Whether a fit's epochs were reported and its table not yet closed (:meth:`last_epoch`
        says which epoch it kept)."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        if not description.startswith(TqdmReporter.EPOCH_TASK):
            self.last_epoch()  # the fit is over: its last line before the next stage's
        with PROGRESS.task(description, total) as count, self.shown(description, total) as shown:
            yield progress_counted(shown, count)

    def loading(self) -> AbstractContextManager[Any]:
        """The command's libraries loading (:data:`LOADING`): said while they load, and a Ctrl-C
        then says that nothing was written."""
        return self.task(LOADING, None)

    def doing(self, what: str) -> None:
        """The innermost task's bar, or its next plain line, says ``what`` after its
        description: a step that counts nothing for a while says why its count stands still."""
        if self.renames:
            self.renames[-1](what)

    def counts(self, unit: str) -> None:
        """The innermost task's count says what its steps are: "3/46 steps"."""
        if self.units:
            self.units[-1](unit)

    @contextmanager
    def shown(self, description: str, total: int | None) -> Iterator[Any]:
        """The task's bar in a terminal, else its plain lines, none when quiet; yields its
        ``advance(n)``."""
        if notes.quiet:
            with self.renaming(lambda what: None, lambda unit: None):
                yield lambda n=1: None
            return
        if not err.is_terminal:
            if total is None:  # no steps to count: say what is going on before it takes a while
                err.print(f"{description} ...", markup=False, highlight=False)
            plain = PlainProgress(description, total, PLAIN_PROGRESS_SECONDS)
            if total is None or plain.interval > 0:  # 0: a line at every step already
                plain.beat()
            try:
                with self.renaming(plain.doing, plain.counts):
                    yield plain.advance
            finally:
                plain.stop()  # a failed task: no more lines, and no "done"
            plain.finish()
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            SteadyTimeRemaining(),
        )
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task(escape(description), total=total, unit="")  # may name a folder

            def rename(what: str) -> None:
                progress.update(task, description=escape(f"{description}: {what}"))

            def advance(n: int = 1) -> None:
                progress.update(task, advance=n, stepped=progress.get_time())

            with self.renaming(rename, lambda unit: progress.update(task, unit=escape(unit))):
                yield advance

    @contextmanager
    def renaming(
        self, rename: Callable[[str], None], recount: Callable[[str], None]
    ) -> Iterator[None]:
        """``rename`` and ``recount`` are how :meth:`doing` and :meth:`counts` reach the innermost
        task while the block runs."""
        self.renames.append(rename)
        self.units.append(recount)
        try:
            yield
        finally:
            self.renames.remove(rename)
            self.units.remove(recount)

    def best_before(self, epoch: int, valid_loss: float) -> None:
        """A resumed run's best so far, which the legend says a new best must beat (before
        fine-tuning, the head's lines already said theirs)."""
        if self.resumed_best is None and self.first_epoch is None:
            self.resumed_best = self.kept = (epoch, valid_loss)

    def epoch(self, r: dict[str, Any]) -> None:
        if self.first_epoch is None:
            self.first_epoch = r["epoch"]
        first = r["epoch"] == self.first_epoch
        self.fitting = True
        if r["best"]:
            before = None if self.kept is None else self.kept[1]
            r = {**r, "valid_text": loss_apart(r["valid_loss"], before)}
            self.kept, self.kept_text = (r["epoch"], r["valid_loss"]), r["valid_text"]
        self.unshown = None if r["best"] or first or r["epoch"] % EPOCH_LINES_EVERY == 0 else r
        if self.unshown is None:
            self.epoch_line(r)

    def last_epoch(self) -> None:
        """The last epoch's line, when the table skipped it: "stopped after 21 epochs" under a
        table that ended at epoch 20 would leave a reader looking for epoch 21. Said when the fit
        ends (the next task or note), not once the run is written, so that it comes before the
        calibration's paragraph and "writing the run". Then the line that names the epoch the
        fit kept (:func:`kept_epoch_line`), once a fit."""
        if self.unshown is not None:
            self.epoch_line(self.unshown)
            self.unshown = None
        if self.fitting and self.kept is not None:
            notes.print(kept_epoch_line(self.kept, self.kept_text), markup=False, highlight=False)
        self.fitting = False

    def epoch_line(self, r: dict[str, Any]) -> None:
        """One epoch's line of the table (the legend and which epochs get one, before the first)."""
        if not self.said_which:  # the lines skip epochs: say which before the first one
            self.said_which = True
            said = epoch_lines_say(self.first_epoch or r["epoch"], self.resumed_best)
            notes.print(EPOCH_LEGEND, markup=False, highlight=False)
            notes.print(said, markup=False, highlight=False)
        valid = r.get("valid_text") or loss_text(r["valid_loss"])
        notes.print(
            f"epoch {r['epoch']:3d}  train loss {loss_text(r['train_loss'])} "
            f"acc {r['train_acc']:6.2%}  valid loss {valid} "
            f"acc {r['valid_acc']:6.2%}  {r['seconds']:5.1f}s"
            + (f"  [green]{KEPT_MARK}[/]" if r["best"] else "")
        )

    def note(self, message: str) -> None:
        self.last_epoch()  # notes come between a fit and the next step, as tasks do
        notes.print(message, markup=False)  # plain text: "[draft] a.png" is no markup


@contextmanager
def task_from_first_step(
    reporter: Reporter, description: str
) -> Iterator[Callable[[int, int], None]]:
    """A progress task begun at its first step, ``step(done, total)``: the checks a library call
    makes before its slow work (of SRC, OUT, the options) refuse with nothing shown before them."""
    with ExitStack() as stack:
        advance: list[Callable[[int], None]] = []

        def step(done: int, total: int) -> None:
            if not advance:
                advance.append(stack.enter_context(reporter.task(description, total)))
            advance[0](1)

        yield step


def waiting_line(folder: Path, readers: bool = False) -> Callable[[], None]:
    """What a command says when it waits for another objrec process holding ``folder``'s lock,
    before it waits: a wait with nothing said looks hung. A reader (audit, apply-plan) waits for
    a writer (an ``add``); a writer (``readers``) waits for readers too: an add beside an audit
    heard "to stop writing in", where the audit only read."""
    doing = "reading or writing" if readers else "writing in"

    def wait() -> None:
        from objrec.locks import holders

        notes.print(f"waiting for {holders(folder)} to stop {doing} {shown(folder)}", markup=False)

    return wait


def shown(path: str | Path | None) -> str:
    """A path as objrec prints it to a person: relative to the working folder when inside it,
    else absolute, whatever form the library or the user gave it in; a byte of a name that is
    not UTF-8 (an old zip's Latin-1 ``café``) shown escaped (``caf\\xe9``), as a terminal's
    encoding refuses it."""
    if path is None:
        return "-"
    absolute = Path(os.path.abspath(path))
    try:
        text = str(absolute.relative_to(Path.cwd()))
    except ValueError:
        text = str(absolute)
    return printable(text)


CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""The control characters a terminal acts on (ESC starts a sequence that colours, moves the
cursor, sets the title; CR goes back over the line), but tab and newline, and the bidi
embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which show the text after
them reversed (``photo\\u202egpj.exe`` reads photoexe.jpg): a name holding one is printed with
it escaped, so that an upload's name in serve's log, or a file's in predict's answer, cannot
rewrite the terminal that shows it nor disguise itself."""


def printable(text: str) -> str:
    """``text`` with each byte of a name that is not UTF-8 escaped (``caf\\xe9``), as a terminal's
    encoding refuses it raw, and each of :data:`CONTROL_CHARACTERS` (``\\x1b``, ``\\u202e``)."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return CONTROL_CHARACTERS.sub(escaped_character, text)


def escaped_character(found: re.Match[str]) -> str:
    """The character ``found`` as Python writes it in a string: ``\\x1b``, ``\\u202e``."""
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """:func:`printable` ``text`` on one line: a newline in a file's name escaped (``\\n``), so
    that one answer is one line, as a script that reads predict's output line by line expects."""
    return printable(text).replace("\n", "\\n")


PACKAGE = Path(__file__).resolve().parent.parent
SAMPLE = PACKAGE / "sample" / "caltech101_mini"
"""The built-in sample's folder (``objrec.demo.sample_dir``, without importing torch for --help)."""


def output_folder(out: Path | None, data: Path, suffix: str, force: bool) -> tuple[Path, bool]:
    """--out (``out``) or DATA's default output folder (``-explore``, ``-audit``), and whether to
    write again over objrec's own unchanged outputs there without --force (``refreshing``)."""
    from objrec.outputs import AUDIT_FILES, EXPLORE_FILES

    out_dir = out or default_out(data, suffix)
    names = {"-explore": EXPLORE_FILES, "-audit": AUDIT_FILES}[suffix]
    return out_dir, not force and refreshing(out, out_dir, names)


def refuse_given_out(
    out: Path | None, force: bool, names: Sequence[str], read: Path | None = None, what: str = ""
) -> None:
    """A --out given (``out``) that the command would refuse, refused before the libraries load
    (seconds of PyTorch): not empty without --force, or a file of the user's of a name in
    ``names``, or inside the folder ``read`` that the command reads (its ``what``: ``image
    folder``). The library checks it again, as it does for a caller."""
    from objrec.outputs import check_output_dir, output_path, refuse_inside

    if out is None:
        return
    out = output_path(out)  # a loop of links said as the library says it
    if read is not None:
        refuse_inside(out, read, what=what or "data folder")
    check_output_dir(out, force, names=names)


def refreshing(out: Path | None, out_dir: Path, names: Sequence[str]) -> bool:
    """Whether a command writes again into its default output folder ``out_dir`` without --force
    (``out``: the --out given, if any): it does when objrec made that folder for its outputs, as
    evaluate refreshes its eval-* folder; a folder of the user's of that name stays refused, and
    so does an output of ``names`` that is not as objrec recorded writing it (a plan.csv under
    review is the user's work; ``outputs.users_file``), checked again before each write."""
    from objrec.outputs import check_output_dir, holds_objrecs_outputs

    if out is not None or not holds_objrecs_outputs(out_dir):
        return False
    check_output_dir(out_dir, names=names, refresh=True)
    notes.print(f"writing again into {shown(out_dir)} (objrec's earlier outputs)", markup=False)
    return True


def default_out(data: Path, suffix: str) -> Path:
    """``DATA<suffix>`` beside DATA as given (beside a link, not the folder it points to, where
    the user's next command looks for it), or in the current folder when DATA is inside objrec's
    own package (the built-in sample): a command never writes into the installed package."""
    if in_package(data):
        data = data.resolve()
        out = Path.cwd() / (data.name + suffix)
        notes.print(
            f"{shown(data)} is inside objrec's package: writing to {shown(out)} in the current "
            "folder instead of beside it",
            markup=False,
            highlight=False,
        )
        return out
    data = Path(os.path.abspath(data))
    return data.with_name(data.name + suffix)


def in_package(data: Path) -> bool:
    """Whether ``data`` lies inside objrec's own package (the built-in sample), whose default
    output folder goes in the current folder, not beside it (:func:`default_out`)."""
    return data.resolve().is_relative_to(PACKAGE)


HELD_JSON: list[list[Any]] = []
"""The answers :func:`print_json` holds while :func:`stdout_for_json_only` runs a command, one list
per block (the innermost last)."""


def print_json(data: Any) -> None:
    """``data`` as JSON that every parser reads: a number that is not finite (NaN, infinity), which
    ``json`` would write as the non-standard ``NaN``, is written as ``null``; text as it is
    (``"Défaut-3"``, so that grep finds it), or escaped (``"D\\u00e9faut-3"``) where stdout's
    encoding cannot write it (:func:`json_text`). Inside :func:`stdout_for_json_only`, held and
    written to stdout when the command ends."""
    if HELD_JSON:
        HELD_JSON[-1].append(data)
        return
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    click.echo(json_text(finite_or_null(data), encoding))


@contextmanager
def stdout_for_json_only() -> Iterator[None]:
    """A ``--json`` command's stdout holds its JSON answer alone: what anything else writes to
    stdout while the block runs (torch's hub prints ``Downloading: "https://..."`` there, a native
    library may write to file descriptor 1) goes to stderr, and the answers :func:`print_json`
    was given are written to stdout when the block ends, failed or not (predict prints its answer,
    then exits 1)."""
    held: list[Any] = []
    HELD_JSON.append(held)
    try:
        with stdout_fd_to_stderr(), redirect_stdout(sys.stderr):
            yield
    finally:
        HELD_JSON[:] = [h for h in HELD_JSON if h is not held]  # not remove(): it compares
        for data in held:
            print_json(data)


def file_descriptor(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return None


@contextmanager
def stdout_fd_to_stderr() -> Iterator[None]:
    """File descriptor 1 made stderr's while the block runs, when it is stdout's (not a test's
    StringIO): what native code writes there (C's ``printf``, flushed before it is given back)
    goes to stderr too, and so does what was written to stdout's own stream object (held by a
    library that took ``sys.stdout`` before the block: a handler, a progress bar), still in its
    buffer when the block ends."""
    stdout = sys.stdout
    out, to = file_descriptor(stdout), file_descriptor(sys.stderr)
    if out is None or to is None or not os.path.samestat(os.fstat(out), os.fstat(1)):
        yield
        return
    stdout.flush()
    saved = os.dup(1)
    os.dup2(to, 1)
    try:
        yield
    finally:
        with suppress(OSError, ValueError):  # a closed pipe, a closed stream
            stdout.flush()
        flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)


def flush_c_stdio() -> None:
    """C's buffered stdout written out now, while it still goes where the block sent it."""
    import ctypes

    with suppress(OSError, AttributeError, TypeError):  # no C library by that name (Windows)
        ctypes.CDLL(None).fflush(None)


def as_written_table(table: Table, encoding: str) -> Table:
    """``table`` (changed in place) with its title, caption, headers and cells as a stream in
    ``encoding`` writes them (:func:`as_written`)."""
    table.title, table.caption = (
        as_written(table.title, encoding),
        as_written(table.caption, encoding),
    )
    for column in table.columns:
        column.header = as_written(column.header, encoding)
        column._cells = [as_written(cell, encoding) for cell in column.cells]
    return table


def as_written(renderable: Any, encoding: str) -> Any:
    """A text (``str`` or rich ``Text``; anything else as it is) as a stream in ``encoding``
    writes it: a name's byte that is not UTF-8 escaped (:func:`printable`), then each character
    the encoding lacks (``\\xe9``, as :func:`escape_unencodable` has the streams write them).
    A ``Text`` that changes keeps its style, not its spans (their places moved)."""
    plain = renderable.plain if isinstance(renderable, Text) else renderable
    if not isinstance(plain, str):
        return renderable
    try:
        written = printable(plain).encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:
        return renderable
    if written == plain:
        return renderable
    if isinstance(renderable, Text):
        return Text(written, style=renderable.style, justify=renderable.justify)
    return written


def escape_unencodable() -> None:
    """The program's stdout and stderr write a character their encoding lacks escaped (``\\xe9``)
    instead of raising: a folder named ``rvé`` crashed ``check``'s text output with a
    UnicodeEncodeError under ``PYTHONIOENCODING=ascii`` (or a C locale). ``--json`` is unchanged:
    :func:`json_text` writes such text as JSON escapes, in ASCII, before it reaches the stream."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # None: no stream, or not a text file
        if reconfigure is not None:
            with suppress(ValueError, OSError):  # a closed stream: nothing to write to
                reconfigure(errors="backslashreplace")


def legacy_names_warning(encoding: str | None = None) -> str | None:
    """The sentence for a Python that reads file names in another encoding than UTF-8 (a legacy
    locale's, ``fr_FR.ISO-8859-1`` or ``ja_JP.eucJP``; ASCII where its UTF-8 mode is off), which
    a UTF-8 name then reads garbled as (``café`` as ``cafÃ©``) into the classes, CSVs and models
    objrec writes; None under UTF-8 (``encoding``: the file system's, by default)."""
    encoding = encoding or sys.getfilesystemencoding()
    if codecs.lookup(encoding).name == "utf-8":
        return None
    garbled = "caf\u00e9".encode().decode(encoding, "replace")  # ASCII: caf\ufffd\ufffd
    return (
        f"this Python reads file names as {encoding} (its locale's encoding), where macOS, "
        f"Windows and today's Linux write them in UTF-8: a class folder caf\u00e9 reads as "
        f"{garbled} into the classes, CSVs and models objrec writes; run objrec with "
        f"PYTHONUTF8=1 (export PYTHONUTF8=1), unless this disk's names are in {encoding}"
    )


def json_text(data: Any, encoding: str) -> str:
    """``data`` as JSON with its text as it is, unless a character of it cannot be written in
    ``encoding`` (stdout's, as ``PYTHONIOENCODING=ascii`` sets it, or a name's byte that is not
    UTF-8): then all in ASCII, each other character escaped as ``\\uXXXX``, as every JSON parser
    reads it."""
    text = json.dumps(data, indent=2, default=str, allow_nan=False, ensure_ascii=False)
    try:
        text.encode(encoding)
    except (UnicodeError, LookupError):
        return json.dumps(data, indent=2, default=str, allow_nan=False)
    return text


def with_warnings(data: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """A command's ``--json`` object with its ``warnings``: always there, a list of sentences
    (empty ones left out), empty on a clean run, so that a script reads one key of one type
    whatever the command (docs/json.md)."""
    return data | {"warnings": [w for w in warnings if w]}


def print_warnings(sentences: Sequence[str]) -> None:
    """A command's own warnings (from its result) on stderr as the logged ones are, ``warning:
    ...``, with or without ``--json`` (whose ``warnings`` list holds them too: docs/json.md)."""
    for sentence in sentences:
        err.print(on_stderr("warning", "bold yellow", printable(sentence)), highlight=False)


def percent(x: float) -> str:
    return f"{x:.2%}"


def not_in_result(record: logging.LogRecord) -> bool:
    """False for a warning the library logged for what its result says too (``IN_RESULT``): the
    command prints its own sentence from the result, naming its options, so it is not shown twice
    (nor put twice into a ``--json`` answer's warnings)."""
    return not getattr(record, IN_RESULT, False)


def not_epoch_lines(record: logging.LogRecord) -> bool:
    """False for the training loop's INFO lines (each epoch, the stop): the CLI's reporter shows
    them as its own epoch lines, so ``-v`` does not show them twice."""
    return not (record.name == "objrec.engine" and record.levelno < logging.WARNING)


def not_printed_by_its_library(record: logging.LogRecord) -> bool:
    """False for a record of another library's logger that a handler of that library's own (no
    ``NullHandler``) on the way to the root has printed already: huggingface_hub's retries came
    twice, raw and as ``warning: ...``. objrec's own records are always True."""
    if record.name == "objrec" or record.name.startswith("objrec."):
        return True
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None and logger is not logging.root:
        if any(not isinstance(h, logging.NullHandler) for h in logger.handlers):
            return False
        logger = logger.parent if logger.propagate else None
    return True


class SentenceHandler(logging.Handler):
    """Logged warnings and errors as the CLI's own: ``warning: ...`` on stderr, one sentence in
    the CLI's terms (:func:`in_cli_terms`), no time stamp or padding (``-v`` brings back rich's
    timed log lines, as logged, for whoever debugs); none that another library printed itself
    (:func:`not_printed_by_its_library`). An INFO record reaches it only from a logger a command
    shows at its normal verbosity (:data:`SERVER_EVENTS`, what a server did): it is one line
    with its time, as :data:`LOG_LINE` without the level, and no ``warning:``."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(not_printed_by_its_library)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            said = in_cli_terms(self.format(record), logged_values(record))
            text = printable(said)  # a name not UTF-8, or an upload's named with ESC, escaped
            if record.levelno < logging.WARNING:
                line = f"[{EVENT_TIME.formatTime(record, EVENT_TIME.datefmt)}] {one_line(said)}"
                err.print(line, markup=False, highlight=False, soft_wrap=True)
                return  # one line, never wrapped: a server's log is read with grep
            kind, colour = (
                ("error", "red") if record.levelno >= logging.ERROR else ("warning", "yellow")
            )
            err.print(on_stderr(kind, f"bold {colour}", text), highlight=False)
        except Exception:  # logging must never raise: logging.Handler's own rule
            self.handleError(record)


SERVER_EVENTS = "objrec.serve.events"
"""The logger of what a running server did (``serve.served.events``: a model reloaded, an answer),
whose INFO lines ``serve`` shows at its normal verbosity (:func:`show_server_events`)."""


FORM_PARSERS = ("python_multipart", "multipart")
"""The loggers of python-multipart (named ``multipart`` before its 0.0.13), which logs a warning
in its own words (``Expected boundary character 45, got 103 at index 2``) for each form it cannot
read, with no time or client: the server's 400 and its log line say what was sent and what to
send instead (``serve.errors``), so ``serve`` shows them only with ``-v``."""


def show_server_events() -> dict[str, Any]:
    """Have the CLI's log show :data:`SERVER_EVENTS`' INFO lines (but with ``-q``) and not
    :data:`FORM_PARSERS`' warnings (but with ``-v``), in this process, and return the
    ``logging.config.dictConfig`` that sets up each of ``serve``'s worker processes as this one
    is (they are started afresh, without this process's logging): the CLI's handler for its
    ``-v`` count (:func:`log_handler`), at its level, and those loggers' levels."""
    ctx = click.get_current_context(silent=True)
    verbose = ctx.find_root().params.get("verbose", 0) if ctx is not None else 0
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    parsers = logging.ERROR if verbose == 0 else logging.NOTSET
    events = logging.WARNING if notes.quiet else logging.INFO
    levels = {SERVER_EVENTS: events} | dict.fromkeys(FORM_PARSERS, parsers)
    for name, at in levels.items():
        logging.getLogger(name).setLevel(at)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"cli": {"()": "objrec.cli.output.log_handler", "verbose": verbose}},
        "root": {"level": logging.getLevelName(level), "handlers": ["cli"]},
        "loggers": {name: {"level": logging.getLevelName(at)} for name, at in levels.items()},
    }


LOG_TIME = "%Y-%m-%d %H:%M:%S"
"""The log's times, ISO 8601's order: ``%x``, the locale's date, is 12/05/26 in the C locale,
which most of the world reads as the 12th of May."""
LOG_LINE = logging.Formatter("[%(asctime)s] %(levelname)-8s %(message)s", datefmt=LOG_TIME)
"""``-v``'s log line where stderr is not a terminal: rich's columns (time, level, message)."""
EVENT_TIME = logging.Formatter(datefmt=LOG_TIME)
"""The time of a server's event line at the normal verbosity, as :data:`LOG_LINE` gives it."""


class LogLineHandler(logging.Handler):
    """``-v``'s log records where stderr is not a terminal (a nightly job's ``2> log.txt``, a
    pipe): one line each (:data:`LOG_LINE`), never wrapped. Rich's handler lays a record out as a
    table as wide as the console, 80 columns there, so a long message was split over lines that
    grep missed (and a wider console pads every line to its width)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            err.file.write(printable(LOG_LINE.format(in_cli_record(record))) + "\n")
            err.file.flush()
        except Exception:  # logging must never raise: logging.Handler's own rule
            self.handleError(record)


def log_handler(verbose: int) -> logging.Handler:
    """How the CLI shows logged records: warnings as its own sentences, or with ``-v`` rich's
    timed log lines in a terminal and whole plain lines in a log file or a pipe."""
    if not verbose:
        return SentenceHandler()
    if err.is_terminal:
        return PrintableRichHandler(console=err, show_path=False, log_time_format=f"[{LOG_TIME}]")
    return LogLineHandler()


class PrintableRichHandler(RichHandler):
    """rich's timed log lines (``-v`` in a terminal), each message :func:`printable` as every
    other handler's: rich strips only BEL, BS, VT, FF and CR, and an upload named with ESC
    (``ESC c`` resets the terminal) reached the terminal of ``serve -v`` as its client sent it."""

    def render_message(self, record: logging.LogRecord, message: str) -> ConsoleRenderable:
        return super().render_message(
            record, printable(in_cli_terms(message, logged_values(record)))
        )


def in_cli_record(record: logging.LogRecord) -> logging.LogRecord:
    """A copy of ``record`` whose message is in the CLI's terms (:func:`in_cli_terms`): ``-v``'s
    lines said what the library logs for a Python caller, "train with `precision='fp32'`",
    where the command's own sentences say --precision fp32."""
    said = copy.copy(record)
    said.msg, said.args = in_cli_terms(record.getMessage(), logged_values(record)), None
    return said


class WarningList(logging.Handler):
    """Collects the messages of the warnings objrec logs, in the CLI's terms (they still reach
    stderr as well)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.addFilter(not_in_result)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(in_cli_terms(record.getMessage(), logged_values(record)))


def logged_values(record: logging.LogRecord) -> dict[str, str]:
    """The values a logged sentence gives for the options it names (``errors.LOGGED_VALUES``)."""
    return getattr(record, LOGGED_VALUES, None) or {}


def in_cli_terms(message: str, values: dict[str, str] | None = None) -> str:
    """A logged message with the API's names spelled as the running command's options and
    objrec's commands (:func:`messages.to_cli`): `force=True` -> --force; ``values``: those the
    record gives (`resume=True` -> the whole command that resumes the run)."""
    ctx = click.get_current_context(silent=True)
    return to_cli(message, ctx.command if ctx else None, values)


@contextmanager
def logged_warnings() -> Iterator[list[str]]:
    """The warnings objrec's library logs inside the block, for a ``--json`` answer to carry."""
    handler = WarningList()
    logger = logging.getLogger("objrec")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)

"""How long-running library calls report progress without printing: the caller passes a Reporter.

The library calls ``task(description, total)`` and advances it; the CLI's reporter draws rich
progress bars and epoch lines, :class:`TqdmReporter` tqdm's for a Python caller, the default one
does nothing. Its words (counts, names, durations) are in :mod:`objrec.words`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeGuard


class Reporter:
    """The silent reporter, and the interface a display implements."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        """A unit of work of ``total`` steps; yields a callable ``advance(n=1)``."""
        yield lambda n=1: None

    def epoch(self, record: dict[str, Any]) -> None:
        """One finished epoch: its number, losses and accuracies."""

    def best_before(self, epoch: int, valid_loss: float) -> None:
        """The best epoch, and its validation loss, of those before the first this fit runs (a
        resumed run's, as recorded; the head's, before fine-tuning): told before that first."""

    def note(self, message: str) -> None:
        """A one-line message worth showing a person (also logged by the caller)."""

    def doing(self, what: str) -> None:
        """What the innermost task is doing now, in a few words, shown with its description
        until the next: for a step that counts nothing for a while (one long library call), so
        that its bar says why it stands still."""

    def counts(self, unit: str) -> None:
        """What the innermost task's steps are, shown after its count ("3/46 steps"), for a task
        whose steps are not the images its words name."""


SILENT = Reporter()


class Prefixed(Reporter):
    """``reporter``'s tasks and notes, each led by ``prefix``: the work of one command done again
    inside it, for another object, is told apart: ``evaluate --against``'s evaluation of the
    earlier run says "loading the model" and "writing the tables and plots" a second time, which
    unprefixed would read as though the first had been redone."""

    def __init__(self, reporter: Reporter, prefix: str) -> None:
        self.reporter, self.prefix = reporter, prefix

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        with self.reporter.task(self.prefix + description, total) as advance:
            yield advance

    def note(self, message: str) -> None:
        self.reporter.note(self.prefix + message)

    def doing(self, what: str) -> None:
        self.reporter.doing(what)

    def counts(self, unit: str) -> None:
        self.reporter.counts(unit)


COMPARE_PASSES = ("comparing images", "comparing turned and trimmed", "comparing crops")
"""The near-duplicate search's passes (``dedup.PAIR_PASSES``) as ``split`` and ``evaluate`` show
them (every image against every other, but those compared before: minutes for 60,000 images):
whole hashes, the images turned a quarter or half turn and with flat borders trimmed, then
centre crops and cut edges (``dedup.split_pairs``)."""


@contextmanager
def passes_from_first_step(
    reporter: Reporter, descriptions: Sequence[str]
) -> Iterator[Callable[[int, int], None]]:
    """``cli.output.task_from_first_step`` for work that passes over the same files once per
    description (split and add hash every file, then read each image): ``step(done, total)``,
    ``total`` being the files times the passes, shown as one task a pass that counts files (one
    task of two steps a file would say "hashing files: 12358/12358" of 6,179). ``done`` may jump
    (the files an add's store knew)."""
    with ExitStack() as stack:
        current: list[Any] = []  # the pass shown, its advance, the steps shown, its ExitStack

        def step(done: int, total: int) -> None:
            files = -(-total // len(descriptions))
            index = min(max(done - 1, 0) // max(files, 1), len(descriptions) - 1)
            if not current or current[0] != index:
                if current:
                    current[3].close()  # its last line before the next pass's first
                inner = stack.enter_context(ExitStack())
                advance = inner.enter_context(reporter.task(descriptions[index], files))
                current[:] = [index, advance, index * files, inner]
            current[1](done - current[2])
            current[2] = done
            if done >= total:
                current[3].close()  # done before the work that follows (add's copying)

        yield step


NOTEBOOK_INTERVAL = 1.0
"""Seconds at least between two drawings of a text bar in a Jupyter notebook without
ipywidgets (tqdm's own default, 0.1 s, sent a notebook a stream message at each: hundreds a
training)."""


def in_notebook() -> bool:
    """Whether this Python is a Jupyter kernel whose output is a notebook's (JupyterLab, Notebook,
    VS Code, Colab), as ``tqdm.auto`` tells it: a kernel's module loaded, and no console
    frontend's variables (Qt console, Spyder) in the environment."""
    if "ipykernel.zmqshell" not in sys.modules:
        return False
    return not any(name == "QT_API" or name.startswith("SPYDER") for name in os.environ)


def widgets_installed() -> bool:
    """Whether ipywidgets can be imported: ``tqdm.auto`` draws a notebook's bars as its widgets."""
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):
        return False


def bar_maker() -> tuple[Any, dict[str, Any]]:
    """The tqdm class to draw a bar with here, and the options each bar takes besides its own.

    ``tqdm.auto``'s class (a widget in a notebook, a text bar in a terminal) but in a notebook
    without ipywidgets: there ``tqdm.auto`` warned "IProgress not found" into the cell and drew
    text bars below each other by moving the cursor up a line (``ESC[A``), which a notebook's
    output cannot do, each drawing a message of its own: stray and repeated lines, hundreds of
    them a training. There every bar is drawn on the one line the notebook redraws in place
    (``position=0``: the bar drawn last shows; one that ends stays as a line above the next)
    and at most once a second (:data:`NOTEBOOK_INTERVAL`), by tqdm's plain text class."""
    if in_notebook() and not widgets_installed():
        from tqdm.std import tqdm as plain

        return plain, {"position": 0, "mininterval": NOTEBOOK_INTERVAL}
    from tqdm.auto import tqdm  # not at import: the CLI draws its own bars

    return tqdm, {}


class AboveBars(logging.Filter):
    """A filter put last on ``handler``, a handler writing to the console, while ``drawn()``
    says bars are drawn: the record ``handler`` would write goes above them by ``tqdm.write``
    (the bars cleared, the line written, the bars drawn again below) and not by ``handler``
    itself. Written straight to the terminal, a warning logged while a bar was drawn ran on into
    the bar's line (``... best 0.0350]training stopped at ...``). ``handler``'s level, its other
    filters and its format still apply."""

    def __init__(self, handler: logging.StreamHandler[Any], drawn: Callable[[], bool]) -> None:
        super().__init__()
        self.handler, self.drawn = handler, drawn

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.drawn():
            return True
        tqdm, _ = bar_maker()
        tqdm.write(self.handler.format(record), file=self.handler.stream)  # stderr: read now
        return False


class TqdmReporter(Reporter):
    """Progress bars for a Python caller, drawn by tqdm (``tqdm.auto``: a widget in Jupyter with
    ipywidgets, a text bar elsewhere: in a notebook without ipywidgets one line redrawn in place,
    :func:`bar_maker`), on ``file`` (None: stderr): a bar per task (the pretrained network's pass
    over the images, hashing, predicting...), the bar of each epoch's batches cleared when it
    ends; one bar counting a fit's epochs, its latest losses and accuracies beside it; ``notes``
    (a one-line message of the library's) above the bars, unless False::

        objrec.train("data", "run", reporter=objrec.TqdmReporter())
    """

    EPOCH_TASK = "epoch "
    """How the task of one epoch's batches is named (``engine.fit``): ``epoch 3``."""

    def __init__(self, file: Any = None, notes: bool = True) -> None:
        self.file, self.notes = file, notes
        self.epochs: Any = None
        """The bar counting the epochs of the fit going on (None between fits)."""
        self.best = float("inf")
        """The fit's lowest validation loss so far."""
        self.best_earlier = float("inf")
        """The best told by :meth:`best_before` (a resumed run's), for the next fit's bar."""
        self.bars: list[tuple[Any, str]] = []
        """Each task's bar and description, innermost last (:meth:`doing`)."""
        self.logging: ExitStack | None = None
        """Logged lines put above the bars (:func:`logging_above_bars`) while one is drawn."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        tqdm, options = bar_maker()
        per_epoch = description.startswith(self.EPOCH_TASK)
        if not per_epoch:
            self.end_fit()  # the fit is over: its epochs bar stays as it ended
        shown = self.UNCOUNTED if total is None else None  # tqdm's own bar where there is a total
        with tqdm(
            desc=description,
            total=total,
            leave=not per_epoch,
            file=self.file,
            bar_format=shown,
            **options,
        ) as bar:
            self.bars.append((bar, description))
            self.log_above_bars()
            try:
                yield bar.update if total is not None else self.counting(bar)
            finally:
                self.bars.remove((bar, description))
                self.log_above_bars()

    UNCOUNTED = "{desc} [{elapsed}]"
    """How a task without a total shows until it counts something: its description and the time
    it has taken ("loading the model [00:03]"), where tqdm drew "loading the model: 0it [00:03,
    ?it/s]"."""
    COUNTED = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}]"
    """How a task without a total shows once it counts: the count so far, and its rate."""

    def counting(self, bar: Any) -> Callable[[int], None]:
        """The ``advance(n=1)`` of ``bar``, a task without a total: its count is shown from the
        first step on (:data:`COUNTED`)."""

        def advance(n: int = 1) -> None:
            bar.bar_format = self.COUNTED
            bar.update(n)

        return advance

    def doing(self, what: str) -> None:
        if self.bars:
            bar, description = self.bars[-1]
            bar.set_description_str(f"{description}: {what}")

    def epoch(self, record: dict[str, Any]) -> None:
        """The epochs bar counts to ``record``'s epoch (a lower one starts the next fit's: the
        next head's) and shows its losses and accuracies, and the best validation loss so far."""
        if self.epochs is not None and record["epoch"] <= self.epochs.n:
            self.end_fit()
        if self.epochs is None:
            tqdm, options = bar_maker()
            shown = "{desc}: {n_fmt} [{elapsed}{postfix}]"  # no rate: seconds per epoch vary
            self.epochs = tqdm(desc="epochs", file=self.file, bar_format=shown, **options)
            self.best = float("inf")  # a new fit's
            self.log_above_bars()
        self.best = min(self.best, self.best_earlier, record["valid_loss"])
        self.best_earlier = float("inf")
        self.epochs.set_postfix_str(
            f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.3f}, valid loss "
            f"{record['valid_loss']:.4f} acc {record['valid_acc']:.3f}, best {self.best:.4f}",
            refresh=False,
        )
        # drawn once, count and losses together (update() drew the count beside the last losses)
        self.epochs.n = record["epoch"]
        self.epochs.refresh()

    def best_before(self, epoch: int, valid_loss: float) -> None:
        """The best so far of the run the next fit resumes (``train --resume``): its bar's best
        starts there, not at the first epoch it runs (it showed that epoch's loss as the best)."""
        self.best_earlier = valid_loss

    def end_fit(self) -> None:
        """Close the epochs bar, if any, as it stands."""
        if self.epochs is not None:
            self.epochs.close()
            self.epochs = None
            self.log_above_bars()

    @staticmethod
    def on_console(handler: logging.Handler, bars: Any) -> TypeGuard[logging.StreamHandler[Any]]:
        """Whether ``handler`` writes to the console (stdout, stderr or ``bars``, the bars' own
        file): a log file is left as it is."""
        if isinstance(handler, logging.FileHandler):
            return False
        return isinstance(handler, logging.StreamHandler) and handler.stream in (
            sys.stdout,
            sys.stderr,
            bars or sys.stderr,
        )

    @contextmanager
    def logging_above_bars(self) -> Iterator[None]:
        """While the block runs, what the console handlers of the root logger and objrec's
        loggers write, and Python's last-resort handler (no logging set up: a warning to
        stderr), goes above the bars while one is drawn (:class:`AboveBars`)."""
        named = logging.root.manager.loggerDict.values()
        loggers = [logging.root] + [
            lg
            for lg in named
            if isinstance(lg, logging.Logger) and f"{lg.name}.".startswith("objrec.")
        ]
        handlers: list[logging.StreamHandler[Any]] = [
            h for lg in loggers for h in lg.handlers if self.on_console(h, self.file)
        ]
        if isinstance(logging.lastResort, logging.StreamHandler):  # its stream: stderr, read then
            handlers.append(logging.lastResort)
        mine = weakref.WeakMethod(self.drawn)  # a reporter dropped with a bar left: none drawn

        def drawn() -> bool:
            method = mine()
            return method is not None and method()

        filters = [AboveBars(handler, drawn) for handler in handlers]
        for handler, above in zip(handlers, filters, strict=True):
            handler.addFilter(above)
        try:
            yield
        finally:
            for handler, above in zip(handlers, filters, strict=True):
                handler.removeFilter(above)

    def drawn(self) -> bool:
        """Whether a bar of this reporter's is drawn: a task's, or the epochs bar."""
        return bool(self.bars) or self.epochs is not None

    def log_above_bars(self) -> None:
        """Logged lines go above the bars from the first bar drawn until none is left (the
        epochs bar stays between a fit's epochs): a warning the fit logs as it ends is a line of
        its own, not the rest of the epochs bar's."""
        drawn = self.drawn()
        if drawn and self.logging is None:
            self.logging = ExitStack()
            self.logging.enter_context(self.logging_above_bars())
        elif not drawn and self.logging is not None:
            self.logging.close()
            self.logging = None

    def note(self, message: str) -> None:
        """``message`` above the bars (the library's notes come between a fit and the next
        step: the fit's epochs bar ends as it stands, its last line not run into by the note)."""
        self.end_fit()
        if self.notes:
            tqdm, _ = bar_maker()
            tqdm.write(message, file=self.file or sys.stderr)  # the bars' file: drawn again below


def or_silent(reporter: Reporter | None) -> Reporter:
    """``reporter``, or for None the silent one: the public functions' default (``reporter=None``
    reads as such in their signatures, where ``SILENT`` read ``<Reporter object at 0x...>``)."""
    return SILENT if reporter is None else reporter


IN_RESULT = "objrec_in_result"
"""The ``extra`` key marking a logged warning that the returned result says too (a field of it):
the CLI leaves such records out, as it prints its own sentence from the result (naming its
options), so that a warning is shown once."""


def log_result_warnings(logger: logging.Logger, sentences: Iterable[str]) -> None:
    """Log each of ``sentences`` at WARNING, marked ``IN_RESULT``: a Python caller sees what the
    CLI shows from the same result."""
    for sentence in sentences:
        logger.warning("%s", sentence, extra={IN_RESULT: True})

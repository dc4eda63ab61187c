"""The ``objrec`` command: each subcommand parses its options and calls one API function.

Heavy modules (torch, torchvision, pandas) are imported inside the commands, so ``--help`` is fast.
Results go to stdout (``--json`` for scripts); progress bars, notes and errors go to stderr.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
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

from objrec.config import (
    AUGMENTATIONS,
    BALANCES,
    BATCHNORM_MODES,
    DEFAULT_BACKBONE,
    FEATURE_DTYPES,
    PRECISIONS,
    UNKNOWN_SCORES,
    EvaluateConfig,
    SplitConfig,
    TrainConfig,
    field_docs,
    field_help,
)
from objrec.errors import Interrupted, ObjrecError
from objrec.progress import IN_RESULT, Reporter, plural, some_of

if TYPE_CHECKING:
    from objrec.check import CheckResult
    from objrec.evaluate import EvaluationResult

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
PIPED_WIDTH = 10_000
"""Output width when stdout is not a terminal (a pipe, a log file): tables are never cut there."""

GREEDY_OPTIONS = ("--exclude",)
TRAIN = TrainConfig()  # the CLI shows and uses the library's own defaults
SERVE_MAX_UPLOAD_MIB = 10.0
"""``serve``'s upload limit in MiB: ``serve.MAX_UPLOAD_BYTES``, here since the CLI does not import
FastAPI for ``--help`` (a test checks that the two agree)."""
DIR = click.Path(path_type=Path, file_okay=False)
FORCE_OUT = (
    "Write into --out when it is not empty: over objrec's earlier outputs, beside other files; "
    "a file of yours of a name objrec writes is refused, and so is a link of such a name."
)
EXISTING = click.Path(path_type=Path, exists=True)


class FiniteFloat(click.ParamType):
    """A number that is finite: a threshold of NaN answers nothing, silently (``nan < x`` is
    never true)."""

    name = "number"

    def convert(self, value, param, ctx) -> float:
        number = value if isinstance(value, float) else click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE = FiniteFloat()


# Here, not in ``devices``: that module imports torch, which the CLI loads only when a command runs.
DEVICE_HELP = (
    "Where to compute: auto uses an NVIDIA GPU when PyTorch sees one, else the CPU (nothing to set "
    "on a machine without one); cpu always uses the CPU; cuda the first GPU, cuda:N GPU number N "
    "(counted from 0)."
)
TRAIN_DEVICE_HELP = DEVICE_HELP + (
    " To train on N GPUs at once: torchrun --nproc-per-node N -m objrec train ... "
    "(docs/scaling.md); there auto and cuda mean each process's own GPU (LOCAL_RANK)."
)


def config_option(flag: str, **kwargs):
    """A ``train`` option whose type, default and help are those of the TrainConfig field it sets
    (the help: the first sentence of the field's documentation)."""
    name = flag.lstrip("-").replace("-", "_")
    default = getattr(TRAIN, name)
    if default is None:
        return click.option(flag, help=field_help(TrainConfig, name), **kwargs)
    kwargs.setdefault("type", type(default))
    help = field_help(TrainConfig, name)
    return click.option(flag, default=default, show_default=True, help=help, **kwargs)


def device_option(command):
    """``--device``; ``train``'s help also says how to use several GPUs (the others run on one)."""
    text = TRAIN_DEVICE_HELP if command.__name__ == "train" else DEVICE_HELP
    return click.option("--device", default="auto", show_default=True, help=text)(command)


def is_main_rank() -> bool:
    """False in the ranks other than 0 of a ``torchrun`` job."""
    return os.environ.get("RANK", "0") == "0"


PLAIN_PROGRESS_SECONDS = 5.0
"""When stderr is not a terminal (a pipe, a log file), a progress line at most this often."""
EPOCH_LINES_EVERY = 10
"""Epoch lines: the first this command runs (a resumed run's comes after its last completed
one), each improvement by ``BEST_LINE_GAIN`` or more, and every this many."""
TOP5_CLASSES = 5
"""Top-5 is printed only for models of more classes than this (with fewer it is always 100%)."""
BEST_LINE_GAIN = 0.001
"""An improvement gets its own epoch line when it lowers the last printed best loss by this much."""


def epoch_lines_say(first: int, before: tuple[int, float] | None = None) -> str:
    """Said once before the first epoch line, as the lines skip epochs; ``first``: the first epoch
    this command runs, 1 but on a resume (a new run's fit always begins at epoch 1); ``before``:
    a resumed run's best epoch and valid loss, which a new best line must beat."""
    start = "epoch 1" if first == 1 else f"epoch {first} (the first of this resume)"
    than = ""
    if before is not None:
        than = (
            f" than the last shown, at first epoch {before[0]}'s {loss_text(before[1])}, the run's "
            "best before this resume"
        )
    return (
        f"showing {start}, every {EPOCH_LINES_EVERY}th epoch and each new best valid loss (lower "
        f"by {BEST_LINE_GAIN} or more{than}); every epoch is in history.csv in the run folder"
    )


def loss_text(loss: float) -> str:
    """A loss to four decimals, or to three significant digits when that would print 0.0000."""
    return f"{loss:.4f}" if loss >= 0.001 else f"{loss:.2e}"


def duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


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
        self.clock, self.write = clock, write
        self.done, self.printed = 0, False
        self.start = self.last = clock()
        self.stopped = threading.Event()
        self.beating: threading.Thread | None = None

    def line(self, final: bool = False) -> str:
        elapsed = self.clock() - self.start
        if not self.total:
            done = f"{self.done}, " if self.done else ""
            return f"{self.description}: {done}{duration(elapsed)}"
        text = f"{self.description}: {self.done}/{self.total} ({self.done / self.total:.0%})"
        text += f", {duration(elapsed)}"
        if 0 < self.done < self.total and not final:
            text += f", about {duration(elapsed * (self.total - self.done) / self.done)} left"
        return text

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.clock() - self.last < self.interval:
            return
        if self.total and self.done >= self.total:  # the last step: finish's line says it once
            self.printed = True
            return
        self.write(self.line())
        self.last, self.printed = self.clock(), True

    def beat(self) -> None:
        """For a task without steps (``total`` None): a line every interval from a thread until
        ``finish``, so that a log shows the work going on."""

        def lines() -> None:
            while not self.stopped.wait(self.interval):
                self.write(self.line())
                self.printed = True

        self.beating = threading.Thread(target=lines, daemon=True)
        self.beating.start()

    def stop(self) -> None:
        """No more lines from ``beat``'s thread, one it is writing included."""
        self.stopped.set()
        if self.beating is not None:
            self.beating.join()

    def finish(self) -> None:
        self.stop()  # so that "done" is the last line
        if self.printed:
            self.write(self.line(final=True) + ", done")


class RichReporter(Reporter):
    """Progress bars and epoch lines on stderr (plain progress lines when stderr is not a
    terminal); silent when ``quiet``."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.shown_best: float | None = None
        """The best validation loss last printed (an epoch line per tiny gain says nothing)."""
        self.shown_best_epoch: int | None = None
        """The epoch of that line: the last line marked best (``print_trained`` says when the
        epoch whose head is kept came after it)."""
        self.said_which = False
        """Whether the line saying which epochs get a line was printed (once, before the first)."""
        self.first_epoch: int | None = None
        """The first epoch reported: 1, or on a resume the one after the last completed."""
        self.resumed_best: tuple[int, float] | None = None
        """A resumed run's best epoch and valid loss (:meth:`best_before`), before any line."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        if self.quiet:
            yield lambda n=1: None
            return
        if not err.is_terminal:
            if total is None:  # no steps to count: say what is going on before it takes a while
                err.print(f"{description} ...", markup=False, highlight=False)
            plain = PlainProgress(description, total, PLAIN_PROGRESS_SECONDS)
            if total is None:
                plain.beat()
            try:
                yield plain.advance
            finally:
                plain.stop()  # a failed task: no more lines, and no "done"
            plain.finish()
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task(escape(description), total=total)  # may name a folder
            yield lambda n=1: progress.advance(task, n)

    def best_before(self, epoch: int, valid_loss: float) -> None:
        """A resumed run's best so far counts as the last shown best, so a new best line must
        lower it by ``BEST_LINE_GAIN`` (before fine-tuning, the head's lines already did)."""
        if self.shown_best is None and self.first_epoch is None:
            self.shown_best, self.shown_best_epoch = valid_loss, epoch
            self.resumed_best = (epoch, valid_loss)

    def epoch(self, r: dict[str, Any]) -> None:
        if self.first_epoch is None:
            self.first_epoch = r["epoch"]
        gained = r["best"] and (
            self.shown_best is None or r["valid_loss"] <= self.shown_best - BEST_LINE_GAIN
        )
        first = r["epoch"] == self.first_epoch
        if self.quiet or not (gained or first or r["epoch"] % EPOCH_LINES_EVERY == 0):
            return
        if not self.said_which:  # the lines skip epochs: say which before the first one
            self.said_which = True
            said = epoch_lines_say(self.first_epoch, self.resumed_best)
            err.print(said, markup=False, highlight=False)
        if r["best"]:
            self.shown_best, self.shown_best_epoch = r["valid_loss"], r["epoch"]
        err.print(
            f"epoch {r['epoch']:3d}  train loss {loss_text(r['train_loss'])} "
            f"acc {r['train_acc']:6.2%}  valid loss {loss_text(r['valid_loss'])} "
            f"acc {r['valid_acc']:6.2%}  {r['seconds']:5.1f}s"
            + ("  [green]best[/]" if r["best"] else "")
        )

    def note(self, message: str) -> None:
        if not self.quiet:  # plain text: file names such as "[draft] a.png" are not markup
            err.print(message, markup=False)


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


def printable(text: str) -> str:
    """``text`` with each byte of a name that is not UTF-8 escaped (``caf\\xe9``), as a terminal's
    encoding refuses it raw."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
    err.print(f"writing again into {shown(out_dir)} (objrec's earlier outputs)", markup=False)
    return True


def default_out(data: Path, suffix: str) -> Path:
    """``DATA<suffix>`` beside DATA, or in the current folder when DATA is inside objrec's own
    package (the built-in sample): a command never writes into the installed package."""
    data = data.resolve()
    if data.is_relative_to(PACKAGE):
        out = Path.cwd() / (data.name + suffix)
        err.print(
            f"{shown(data)} is inside objrec's package: writing to {shown(out)} in the current "
            "folder instead of beside it",
            markup=False,
            highlight=False,
        )
        return out
    return data.with_name(data.name + suffix)


def print_json(data: Any) -> None:
    """``data`` as JSON that every parser reads: a number that is not finite (NaN, infinity), which
    ``json`` would write as the non-standard ``NaN``, is written as ``null``."""
    click.echo(json.dumps(finite_or_null(data), indent=2, default=str, allow_nan=False))


def finite_or_null(data: Any) -> Any:
    """``data`` with every float that is not finite replaced by None, in lists and dicts too; a
    numpy or torch scalar becomes the Python number it holds (``default=str`` made it a string)."""
    if callable(getattr(data, "item", None)) and getattr(data, "shape", None) == ():
        data = data.item()
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_or_null(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_or_null(value) for value in data]
    return data


def percent(x: float) -> str:
    return f"{x:.2%}"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="objrec")
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
def cli(verbose: int) -> None:
    """Transfer learning for image classification on a CPU.

    Point objrec at a folder with one sub-folder per class:

    \b
      objrec check PHOTOS               # unreadable or ignored files, empty classes
      objrec split PHOTOS data          # leak-free train/valid/test
      objrec explore data               # images per class, image sizes
      objrec train data --out run       # frozen pretrained body + new head
      objrec evaluate run data          # top-1/top-5, per class, confusions
      objrec predict run photo.jpg      # top-k classes with probabilities
    """
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    if not is_main_rank():  # under torchrun only rank 0 talks
        level = logging.ERROR
    handler = RichHandler(console=err, show_path=False) if verbose else SentenceHandler()
    handler.addFilter(not_in_result)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler])


def not_in_result(record: logging.LogRecord) -> bool:
    """False for a warning the library logged for what its result says too (``IN_RESULT``): the
    command prints its own sentence from the result, naming its options, so it is not shown twice
    (nor put twice into a ``--json`` answer's warnings)."""
    return not getattr(record, IN_RESULT, False)


class SentenceHandler(logging.Handler):
    """Logged warnings and errors as the CLI's own: ``warning: ...`` on stderr, one sentence, no
    time stamp or padding (``-v`` brings back rich's timed log lines, for whoever debugs)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            raw = self.format(record).encode("utf-8", "surrogateescape")
            text = raw.decode("utf-8", "backslashreplace")  # a name that is not UTF-8, escaped
            kind, colour = (
                ("error", "red") if record.levelno >= logging.ERROR else ("warning", "yellow")
            )
            err.print(f"[bold {colour}]{kind}:[/] {escape(text)}", highlight=False)
        except Exception:  # logging must never raise: logging.Handler's own rule
            self.handleError(record)


RATIOS_OPTION = click.option(
    "--ratios",
    type=float,
    nargs=3,
    default=SplitConfig.ratios,
    show_default=True,
    help=field_help(SplitConfig, "ratios"),
)
SEED_OPTION = click.option(
    "--seed", type=int, default=0, show_default=True, help=field_help(SplitConfig, "seed")
)
COPY_OPTION = click.option(
    "--copy/--link",
    "copy",
    default=True,
    show_default=True,
    help=field_help(SplitConfig, "mode"),
)
"""``split``'s and ``add``'s options of the same meaning."""


@cli.command()
@click.argument("src", type=EXISTING)
@click.argument("out", type=DIR)
@RATIOS_OPTION
@SEED_OPTION
@click.option(
    "--exclude",
    multiple=True,
    metavar="CLASS...",
    help=field_help(SplitConfig, "exclude") + " Several may follow one --exclude.",
)
@COPY_OPTION
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier split in OUT, or what a stopped one left there.",
)
@click.option("--strict", is_flag=True, help=field_help(SplitConfig, "strict"))
@click.option(
    "--near-duplicates/--exact-duplicates",
    "near",
    default=True,
    show_default=True,
    help=field_help(SplitConfig, "near_duplicates"),
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def split(src: Path, out: Path, ratios, seed, exclude, copy, force, strict, near, as_json) -> None:
    """Split SRC (one sub-folder per class) into OUT/train, OUT/valid, OUT/test.

    Stratified per class and seeded; byte-identical files and near-duplicates (resized,
    re-encoded, mirrored or recoloured copies, by perceptual hash) always land in the same split.
    SRC is only read. OUT also receives manifest.csv (file, class, split, sha256).
    """
    from objrec.split import split_folder

    config = SplitConfig(ratios, seed, exclude, "copy" if copy else "link", strict, near)
    reporter = RichReporter(quiet=as_json)
    with logged_warnings() as logged, task_from_first_step(reporter, "hashing files") as on_file:
        result = split_folder(src, out, config, force=force, on_file=on_file)
    if as_json:
        print_json(
            {
                "out": str(result.out),
                "totals": result.totals(),
                "classes": result.counts,
                "small_classes": result.small_classes,
                "min_images": result.min_images,
                "empty_classes": result.empty_classes,
                "unreadable_files": result.unreadable_files,
                "duplicate_files": result.duplicate_files,
                "near_duplicate_files": result.near_duplicate_files,
                "duplicate_groups": result.duplicate_groups,
                "cross_class_duplicates": [list(pair) for pair in result.cross_class_duplicates],
                "warnings": logged + split_warnings(result),
            }
        )
        return
    totals = result.totals()
    console.print(
        f"split {plural(len(result.counts), 'class')} into {shown(result.out)}: "
        + ", ".join(f"{k} {v}" for k, v in totals.items()),
        markup=False,
    )
    if result.duplicate_files:
        console.print(
            f"{plural(result.duplicate_files, 'duplicate file')} kept together in one split "
            f"({result.near_duplicate_files} by perceptual hash rather than identical bytes): "
            + escape(some_of([" = ".join(group) for group in result.duplicate_groups])),
            highlight=False,
        )
    for warning in split_warnings(result):
        err.print(warning, style="yellow", markup=False, highlight=False)


def split_warnings(result) -> list[str]:
    """What the user should know about a split, one sentence each (names as they are): a single
    class, classes left out or missing from some split."""
    warnings = []
    if len(result.counts) == 1:
        (name,) = result.counts
        warnings.append(
            f"only one class ({name}): `objrec train` will refuse this split "
            "(a classifier needs at least two classes)"
        )
    if result.empty_classes:
        warnings.append(
            "left out class folders without images (`--strict` refuses them): "
            + some_of(result.empty_classes)
        )
    if result.unreadable_files:
        warnings.append(
            f"left out {plural(len(result.unreadable_files), 'image file')} that cannot be read "
            "(`--strict` refuses them): " + some_of(result.unreadable_files)
        )
    if result.cross_class_duplicates:
        pairs = result.cross_class_duplicates
        warnings.append(
            f"pictures in two classes that are the same or look alike ({plural(len(pairs), 'pair')}"
            "; one of the two labels is probably wrong, and each pair was kept in one split): "
            + some_of([f"{a} = {b}" for a, b in pairs])
        )
    if result.small_classes:
        warnings.append(
            f"classes with fewer than {plural(result.min_images, 'distinct image')} cannot appear "
            "in every split (add images or change --ratios): " + ", ".join(result.small_classes)
        )
    return warnings


@cli.command()
@click.argument("data", type=EXISTING)
@click.argument("new", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--class",
    "class_name",
    metavar="NAME",
    help="Every image of NEW is of class NAME (new or not): NEW is then a folder of images, or "
    "one or more image files.",
)
@click.option(
    "--ratios",
    type=float,
    nargs=3,
    default=None,
    help="Train, validation and test fractions to place the new images toward. Default: DATA's "
    "own (each split's share of its images), so a split DATA has no image in gets none.",
)
@SEED_OPTION
@COPY_OPTION
@click.option(
    "--dry-run", is_flag=True, help="Print where each image would go; write nothing in DATA."
)
@click.option(
    "--cache-dir",
    type=DIR,
    help=field_help(TrainConfig, "cache_dir")
    + " add reads the digests of DATA's files from the feature store there: give the --cache-dir "
    "train was given, and no file it hashed is read again.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts and files as JSON.")
def add(data: Path, new, class_name, ratios, seed, copy, dry_run, cache_dir, as_json) -> None:
    """Add the images of NEW to DATA (a folder made by `objrec split`), as split would place them.

    NEW holds one sub-folder per class, as split's SRC; with --class NAME, images of that class.
    An image already in DATA (the same bytes) is skipped; a near-duplicate of one goes to its
    split; the others are placed, seeded, so that each class comes as close as it can to the
    ratios. The files are copied (never moved) under names no file in DATA has, and
    DATA/manifest.csv gets their rows. `objrec train DATA --out RUN` (a new RUN, or the earlier
    one with --force; the same --cache-dir, if any) then computes only the new images.
    """
    from objrec.add import add_images

    settings = {"ratios": ratios or None, "seed": seed, "mode": "copy" if copy else "link"}
    reporter = RichReporter(quiet=as_json)
    verb = "copying" if copy else "linking"

    def wait() -> None:
        err.print(
            f"waiting for other objrec processes to stop writing in {shown(data)}", markup=False
        )

    with (
        logged_warnings() as logged,
        task_from_first_step(reporter, "hashing files") as on_file,
        task_from_first_step(reporter, f"{verb} files") as on_write,
    ):
        result = add_images(
            data,
            new,
            class_name=class_name,
            dry_run=dry_run,
            on_file=on_file,
            on_write=on_write,
            on_wait=wait,
            cache_dir=cache_dir,
            **settings,
        )
    if as_json:
        print_json(add_json(result, logged + add_warnings(result)))
        return
    print_added(result, cache_dir)
    for warning in add_warnings(result):
        err.print(warning, style="yellow", markup=False, highlight=False)


def add_json(result, warnings: list[str]) -> dict[str, Any]:
    """``add``'s answer for scripts: what ``print_added`` shows, every file named."""
    return {
        "data": str(result.data),
        "dry_run": result.dry_run,
        "totals": result.totals(),
        "classes": {
            name: counts | {"copies": result.copies.get(name, 0)}
            for name, counts in result.counts.items()
        },
        "new_classes": result.new_classes,
        "ratios": list(result.ratios),
        "own_ratios": result.own_ratios,
        "files": [{"source": a, "file": b} for a, b in result.files],
        "copies": [{"source": a, "copy_of": b} for a, b in result.copy_files],
        "near_duplicate_files": result.near_duplicate_files,
        "cross_class_duplicates": [list(pair) for pair in result.cross_class_duplicates],
        "spread_groups": [{"source": a, "in_data": b} for a, b in result.spread_groups],
        "small_classes": result.small_classes,
        "min_images": result.min_images,
        "unreadable_files": result.unreadable_files,
        "empty_classes": result.empty_classes,
        "warnings": warnings,
    }


def print_added(result, cache_dir: Path | None = None) -> None:
    """Per class, the images added to each split and those skipped as copies; what to run next,
    with add's --cache-dir (a dry run: each file and where it would go)."""
    table = Table("class", "train", "valid", "test", "copies skipped")
    for name, counts in sorted(result.counts.items()):
        label = Text(name + (" (new)" if name in result.new_classes else ""))
        table.add_row(label, *map(str, counts.values()), str(result.copies.get(name, 0)))
    console.print(table)
    totals = ", ".join(f"{k} {v}" for k, v in result.totals().items())
    verb = "would add" if result.dry_run else "added"
    added = plural(sum(result.totals().values()), "image")
    console.print(f"{verb} {added} to {shown(result.data)}: {totals}", markup=False)
    console.print(ratios_line(result), highlight=False)
    if result.near_duplicate_files:
        console.print(
            f"{plural(result.near_duplicate_files, 'image')} "
            + ("would go" if result.dry_run else "went")
            + " to the split of a near-duplicate "
            "already in the data folder",
            highlight=False,
        )
    if result.copy_files:
        console.print(
            f"skipped {plural(len(result.copy_files), 'image')} already there (the same bytes): "
            + some_of([f"{a} = {b}" for a, b in result.copy_files]),
            markup=False,
            highlight=False,
        )
    if result.dry_run:
        for source, target in result.files:
            console.print(f"{source} -> {target}", markup=False, highlight=False)
        console.print("nothing written (--dry-run)", highlight=False)
    elif result.files:
        console.print(train_again(result.data, cache_dir), markup=False)


def train_again(data: Path, cache_dir: Path | None) -> str:
    """What to run after an add: train on DATA, with the cache folder add was given (whose store
    holds the features of the images but the new ones)."""
    cache = f" --cache-dir {shlex.quote(shown(cache_dir))}" if cache_dir else ""
    return (
        f"now train again: `objrec train {shlex.quote(shown(data))} --out NEW_RUN{cache}` "
        "(or --out of the earlier run with --force): it computes only the new images' features"
    )


def ratios_line(result) -> str:
    """Which ratios the new images were placed toward, and whence they came."""
    text = "/".join(f"{r:.2f}".rstrip("0").rstrip(".") for r in result.ratios)
    whence = "the data folder's own proportions" if result.own_ratios else "--ratios"
    return f"placed toward the ratios {text} (train/valid/test, {whence})"


def add_warnings(result) -> list[str]:
    """What the user should know about an add, one sentence each (names as they are)."""
    warnings = []
    if result.empty_classes:
        warnings.append("left out class folders without images: " + some_of(result.empty_classes))
    if result.unreadable_files:
        warnings.append(
            f"left out {plural(len(result.unreadable_files), 'image file')} that cannot be read: "
            + some_of(result.unreadable_files)
        )
    if result.cross_class_duplicates:
        pairs = result.cross_class_duplicates
        warnings.append(
            f"pictures in two classes that are the same or look alike ({plural(len(pairs), 'pair')}"
            "; one of the two labels is probably wrong; a copy already in the data folder was "
            "not added, a near one went to its split): " + some_of([f"{a} = {b}" for a, b in pairs])
        )
    if result.small_classes:
        warnings.append(
            f"classes with fewer than {plural(result.min_images, 'distinct image')} cannot appear "
            "in every split (add images or change --ratios): " + ", ".join(result.small_classes)
        )
    if result.spread_groups:
        data = shlex.quote(shown(result.data))
        warnings.append(
            "near-duplicates of images the data folder already has in two splits (changed by hand:"
            " a leak; each new one goes to the split holding most of them, or the first of a"
            " tie; run `objrec audit "
            f"{data}`): " + some_of([f"{a} ~ {', '.join(b)}" for a, b in result.spread_groups])
        )
    if test := result.totals()["test"]:
        warnings.append(test_change_warning(test, f"{test} added", result.data, result.dry_run))
    return warnings


def test_change_warning(n: int, how: str, data: Path, dry_run: bool = False) -> str:
    """``add``'s and ``apply-plan``'s sentence when the test split of ``data`` (the folder
    written) gains, loses or relabels images: scores before and after are not comparable."""
    changed, are = ("would change", "would be") if dry_run else ("changed", "are")
    return (
        f"{plural(n, 'test image')} {changed} ({how}): scores before and after {are} on "
        "different test sets; to compare, evaluate the old run on the new folder too: "
        f"`objrec evaluate OLD_RUN {shlex.quote(shown(data))}` (evaluate's 'test set' "
        "fingerprint is the same only when the images and their labels are)"
    )


class WarningList(logging.Handler):
    """Collects the messages of the warnings objrec logs (they still reach stderr as well)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.addFilter(not_in_result)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


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


@cli.command()
@click.argument("data", type=EXISTING)
@click.option(
    "--out",
    type=DIR,
    help="Folder for the CSVs and plots [default: DATA-explore beside DATA, written again on a "
    "re-run over the files objrec recorded writing, unless you changed one since; in the current "
    "folder "
    "for the built-in sample].",
)
@click.option("--force", is_flag=True, help=FORCE_OUT)
@click.option("--json", "as_json", is_flag=True, help="Print the per-class counts as JSON.")
def explore(data: Path, out: Path | None, force: bool, as_json: bool) -> None:
    """Count images per class (per split for a split folder) and summarise image sizes.

    Writes counts.csv, size_stats.csv, sizes.csv, images_per_class.png and image_sizes.png.
    """
    from objrec.explore import explore as run_explore

    out_dir, refresh = output_folder(out, data, "-explore", force)
    result = run_explore(data, out_dir, RichReporter(quiet=as_json), force, refresh)
    if as_json:
        print_json(
            {
                "out": str(out_dir),
                "counts": result.counts.to_dict(orient="index"),
                "unreadable": result.unreadable,
            }
        )
        return
    table = Table(
        "class", *map(str, result.counts.columns), "mean size (w x h)", title="Images per class"
    )
    for name, row in result.counts.iterrows():
        stats = result.size_stats.loc[name]
        table.add_row(
            Text(str(name)),  # a class name is never markup
            *map(str, row.tolist()),
            f"{stats.width_mean:.0f} x {stats.height_mean:.0f}",
        )
    console.print(table)
    console.print(
        f"{plural(len(result.sizes), 'image')} in {plural(len(result.counts), 'class')}; "
        f"CSVs and plots in {shown(out_dir)}",
        markup=False,
    )
    for problem in result.unreadable:
        console.print(f"[yellow]unreadable:[/] {escape(problem)}")


@cli.command()
@click.argument("data", type=EXISTING)
@click.option(
    "--out",
    "run",
    type=DIR,
    metavar="RUN",
    help="Run folder for the checkpoint and logs: required, unless --resume RUN continues one.",
)
@config_option("--backbone")
@config_option("--weights", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@config_option("--mean", type=float, nargs=3)
@config_option("--std", type=float, nargs=3)
@config_option("--epochs")
@config_option("--patience")
@config_option("--min-delta")
@config_option("--batch-size")
@config_option("--lr")
@config_option("--weight-decay")
@config_option("--hidden")
@config_option("--dropout")
@config_option("--heads")
@config_option("--aug-views")
@config_option("--augment", type=click.Choice(AUGMENTATIONS))
@config_option("--label-smoothing")
@config_option("--balance", type=click.Choice(BALANCES))
@config_option("--finetune-blocks")
@config_option("--finetune-epochs")
@config_option("--finetune-lr")
@config_option("--finetune-batchnorm", type=click.Choice(BATCHNORM_MODES))
@config_option("--precision", type=click.Choice(PRECISIONS))
@config_option("--unknown-score", type=click.Choice(UNKNOWN_SCORES))
@config_option("--seed")
@config_option("--num-workers", type=click.IntRange(min=0))
@device_option
@config_option("--cache-dir", type=DIR)
@config_option("--feature-dtype", type=click.Choice(FEATURE_DTYPES))
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite a model already in --out, or write into a folder of other files.",
)
@click.option(
    "--resume",
    metavar="RUN",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Continue the interrupted run in this folder after its last completed epoch, with its "
    "own settings (the other options are ignored).",
)
@click.option(
    "--strict", is_flag=True, help="Refuse to start while `objrec check` finds unusable files."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON.")
def train(
    data: Path,
    run: Path | None,
    resume: Path | None,
    strict: bool,
    as_json: bool,
    force: bool,
    device: str,
    **options,
) -> None:
    """Train a classifier on the split folder DATA: a frozen pretrained body and a new head.

    The frozen body's features are computed once (the centre view plus --aug-views augmented views
    of each training image) and cached; the head then trains for as many epochs as early stopping on
    the validation loss wants. RUN receives model.safetensors (the best epoch), config.json,
    history.csv, curves.png, summary.json and seen_digests.csv (the images it trained and
    validated on, by content, for evaluate's check).
    """
    from objrec.train import train as run_train

    if (run is None) == (resume is None):
        raise click.UsageError("give --out RUN for a new run, or --resume RUN to continue one")
    options["weights"] = str(options["weights"]) if options["weights"] else None
    options["cache_dir"] = str(options["cache_dir"]) if options["cache_dir"] else None
    config = TrainConfig(**options)
    reporter = RichReporter(quiet=as_json)
    target = run or resume
    assert target is not None
    result = run_train(data, target, config, reporter, force, bool(resume), strict, device)
    if not is_main_rank():
        return
    if as_json:
        print_json(result.summary())
    else:
        print_trained(result, reporter)
        console.print(evaluate_next(result.run, data), markup=False, highlight=False)


def evaluate_next(run: Path, data: Path) -> str:
    """What to run after ``train``: evaluate, and how to see what "unknown" catches (its
    threshold is only said in words on the probabilities line)."""
    where = " ".join(shlex.quote(shown(p)) for p in (run, data))
    return (
        f"next: objrec evaluate {where}; add --unknown FOLDER (photos of none of the classes) "
        "to see how many of them would still get a class, and a stricter threshold if one helps"
    )


def print_trained(result, reporter: RichReporter | None = None) -> None:
    """What a finished ``train`` says: the best epoch (the head kept), why it stopped, the time,
    the model."""
    console.print(
        f"best epoch {result.best_epoch} of {len(result.history)}, the head kept: valid loss "
        f"{result.best_valid_loss:.4f}, valid accuracy {percent(result.best_valid_acc)}"
        + unshown_best(result, reporter)
    )
    losses = [row["valid_loss"] for row in result.history]
    stopped = early_stop_sentence(
        result.best_epoch, len(result.history), run_config(result.run), losses
    )
    if stopped:
        console.print(stopped)
    quantized = result.seconds.get("quantize", 0.0)
    console.print(
        f"{result.seconds['total']:.0f}s in all "
        f"({result.seconds['features']:.0f}s frozen features, "
        f"{result.precision.get('used', 'fp32')} body"
        + (f", {quantized:.0f}s of it making the int8 body" if quantized >= 1 else "")
        + f"); model saved to {shown(result.run / 'model.safetensors')}",
        markup=False,
        highlight=False,
    )


def unshown_best(result, reporter: RichReporter | None) -> str:
    """Why the epoch log's last line marked best is another epoch's than the one kept: the kept
    epoch's gain over it was too small for a line (``BEST_LINE_GAIN``); empty when it is not."""
    if reporter is None or reporter.shown_best is None:
        return ""
    shown, loss = reporter.shown_best_epoch, reporter.shown_best
    if shown == result.best_epoch:
        return ""
    return (
        f"; epoch {result.best_epoch} has no line above: it lowered epoch {shown}'s valid loss "
        f"({loss:.4f}) by only {loss - result.best_valid_loss:.2g}, less than the "
        f"{BEST_LINE_GAIN:g} a new best line needs"
    )


def run_config(run: Path) -> dict[str, Any]:
    """The settings a run was trained with (its config.json), or none when it cannot be read."""
    try:
        return json.loads((Path(run) / "config.json").read_text())
    except (OSError, ValueError):
        return {}


LITTLE_GAIN = 1e-3
"""A validation loss that fell by less than this over the last --patience epochs has little left
to gain from more epochs (the epoch log shows losses to 4 decimals)."""


def lowest(losses: Sequence[float]) -> float:
    """The lowest of ``losses``, NaN (a diverged epoch) left out; infinity when none is left."""
    return min((x for x in losses if not math.isnan(x)), default=math.inf)


def early_stop_sentence(
    best: int, ran: int, config: dict[str, Any], losses: Sequence[float] = ()
) -> str | None:
    """Why the head stopped where it did, in words: early, or at --epochs while the validation
    loss was still improving (it improved within the last --patience epochs, or early stopping
    would have ended it); ``losses``, each epoch's validation loss, tell whether by much."""
    epochs, patience = config.get("epochs"), config.get("patience")
    if config.get("finetune_blocks") or not epochs or not patience:
        return None
    if ran >= epochs and ran - best < patience:
        head = (
            f"ran all --epochs {epochs} without stopping early: the validation loss last improved"
        )
        gain = lowest(losses[: ran - patience]) - lowest(losses)
        small = config.get("min_delta", 0.0) < LITTLE_GAIN  # else every gain counted was larger
        if len(losses) == ran > patience and small and gain < LITTLE_GAIN:
            return (
                f"{head} at epoch {best}, but by less than {LITTLE_GAIN:g} in the last "
                f"{plural(patience, 'epoch')}, so a larger --epochs would gain little "
                f"(--min-delta {LITTLE_GAIN:g} stops on gains this small)"
            )
        return f"{head} at epoch {best}, so a larger --epochs may lower it further"
    early = "early " if ran < epochs else ""  # at --epochs, early stopping ended it all the same
    return (
        f"stopped {early}at epoch {ran} of --epochs {epochs}: the validation loss did not improve "
        f"in the {plural(ran - best, 'epoch')} after epoch {best} (--patience {patience})"
    )


@cli.command()
@click.argument("run", type=EXISTING)
@click.argument("data", type=EXISTING)
@click.option(
    "--split",
    type=click.Choice(["train", "valid", "test"]),
    default=EvaluateConfig.split,
    show_default=True,
    help=field_help(EvaluateConfig, "split"),
)
@click.option(
    "--out",
    type=DIR,
    help="Folder for the tables and plots [default: RUN/eval-SPLIT for the run's own data folder, "
    "RUN/eval-NAME-HASH for any other; with --tta, the same name ending in -tta; so that no "
    "evaluation replaces another's; an evaluation of the same folder there is refreshed "
    "without --force].",
)
@click.option(
    "--worst", type=int, default=10, show_default=True, help="How many worst classes to list."
)
@click.option(
    "--force",
    is_flag=True,
    help=f"{FORCE_OUT} Not needed to refresh RUN's own eval-*.",
)
@click.option(
    "--tta",
    is_flag=True,
    help=field_docs(EvaluateConfig)["tta"],
)
@click.option(
    "--unknown",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A folder of images of classes the model was not taught: how well its unknown score "
    "tells them from DATA's (AUROC, false positives at 95% true positives, at the threshold); "
    "when a stricter threshold catches more of them, the one that keeps 95% of the run's "
    "validation images, its cost on DATA and the predict/serve/export --threshold that use it.",
)
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
def evaluate(
    run: Path,
    data: Path,
    split: str,
    out: Path | None,
    worst: int,
    force: bool,
    tta: bool,
    unknown: Path | None,
    device: str,
    as_json: bool,
) -> None:
    """Evaluate the model in RUN on DATA: loss, top-1/top-5 overall and per class, confusions,
    calibration (ECE before and after, reliability.png) and the unknown threshold's cost."""
    from objrec.evaluate import evaluate as run_evaluate

    refuse_swapped("evaluate", run, data)
    reporter = RichReporter(quiet=as_json)
    config = EvaluateConfig(split=split, tta=tta, unknown=unknown, device=device)
    result = run_evaluate(run, data, config, out=out, reporter=reporter, force=force)
    if as_json:
        print_json(result.to_json())
        if result.warning:
            err.print(f"[bold red]warning:[/] {result.warning}", highlight=False)
        return
    print_evaluation(result, worst, run)
    if result.warning:
        err.print(f"[bold red]warning:[/] {result.warning}", highlight=False)


def print_evaluation(result: EvaluationResult, worst: int, run: Path | None = None) -> None:
    """``objrec evaluate``'s text: the overall metrics, the worst classes, the classes it had no
    image of, the averages and the confidence lines."""
    m = result.metrics
    console.print(
        f"evaluated {shown(result.folder)}: {image_set_words(result)}",
        markup=False,
        highlight=False,
    )
    n_classes = len(result.classes)
    console.print(
        f"{plural(int(m['n']), 'image')}: top-1 {percent(m['top1'])}"
        f"{top5_text(m['top5'], n_classes)}, loss {m['loss']:.4f}; mean per class: "
        f"top-1 {percent(m['mean_class_top1'])}{top5_text(m['mean_class_top5'], n_classes)}"
    )
    if result.metrics_plain:
        p = result.metrics_plain
        console.print(f"without TTA: top-1 {percent(p['top1'])}{top5_text(p['top5'], n_classes)}")
    if missing := result.classes_without_images:
        console.print(
            f"no image of {plural(len(missing), 'class', 'classes')} in {shown(result.folder)}, so "
            f"not in the per-class tables and means: {some_of(missing)}",
            markup=False,
            highlight=False,
        )
    print_worst(result, worst)
    console.print(averages_table(m))
    for line in confidence_lines(m, f"the images of {shown(result.folder)}", run):
        console.print(line, markup=False, highlight=False)
    console.print(
        f"per-class table, confusion matrix and plots in {shown(result.out)}",
        markup=False,
        highlight=False,
    )


def image_set_words(result: EvaluationResult) -> str:
    """The evaluated images' fingerprint, named after their split (``test set 3f9a1c2b``), and
    what it is for: scores compare only between evaluations that show the same one."""
    from objrec.data import SPLITS

    folder = result.folder.name if result.folder else ""
    kind = folder if folder in SPLITS else "image"
    return f"{kind} set {result.image_set}, the same only when the images and their labels are"


def refuse_swapped(command: str, run: Path, second: Path) -> None:
    """``objrec evaluate DATA RUN`` or ``objrec predict IMAGE RUN``: when RUN holds no checkpoint
    but is a file or looks like a data folder (class or split folders, images) and the second
    argument holds one, say which comes first, before anything reads the second's files."""
    from objrec.checkpoint import BEST, is_checkpoint

    if is_checkpoint(run) or not is_checkpoint(second):  # the usual order reads no second
        return
    swapped = " ".join(shlex.quote(str(p)) for p in (second, run))
    hint = f"({second} comes first: objrec {command} {swapped})"
    if run.is_file():
        raise ObjrecError(f"{run} is not an objrec checkpoint {hint}")
    if looks_like_data(run):
        raise ObjrecError(f"no checkpoint at {run / BEST} {hint}")


def looks_like_data(folder: Path) -> bool:
    """True for a folder holding visible sub-folders or images; False where it cannot be listed
    (the library's own error then says what it is)."""
    from objrec.images import is_hidden, is_image_file

    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return any((p.is_dir() and not is_hidden(p)) or is_image_file(p) for p in entries)


def score_words(score: str, threshold: float, readable: bool) -> str:
    """The unknown threshold in words: on the top probability, on the familiarity, or on the raw
    feature score of a run trained before the familiarity (no scale to explain)."""
    if score == "msp":
        return f"a top probability of {threshold:.4f}"
    if readable:
        return f"familiarity {threshold:.2f} ({score}; 1 is a typical valid image of the classes)"
    return f"score {threshold:.4g} ({score})"


def confidence_lines(
    m: dict[str, Any], evaluated: str = "these images", run: Path | None = None
) -> list[str]:
    """Calibration, the unknown threshold's cost, and the open-set figures, in words; the
    temperature and threshold come from the validation split, the figures from ``evaluated``;
    and a stricter threshold when one catches more unknown images (:func:`stricter_line`)."""
    kept = "; 1 leaves the model's probabilities as they are" if m["temperature"] == 1 else ""
    lines = [
        f"calibration: temperature {m['temperature']:.3f} (chosen on the validation split{kept}); "
        f"expected calibration error on {evaluated}: "
        f"{m['ece_before_calibration']:.4f} before, {m['ece']:.4f} after"
    ]
    if m.get("unknown_threshold") is not None:
        readable = m.get("unknown_score_readable", False)  # absent from older metrics.json
        words = score_words(m["unknown_score"], m["unknown_threshold"], readable)
        lines.append(
            f"unknown below {words}: {percent(m['known_kept'])} of {evaluated} get an "
            f"answer, the rest are said to be unknown; top-1 is {percent(m['top1_at_threshold'])} "
            "when an unknown counts as wrong"
        )
    if "open_set" in m:
        o = m["open_set"]
        accepted = o.get("unknown_accepted")
        at = f", {percent(accepted)} at the threshold" if accepted is not None else ""
        lines.append(
            f"unknown images ({o['n_unknown']}): AUROC {o['auroc']:.4f}; accepted as known "
            f"{percent(o['fpr_at_95_tpr'])} at 95% of known kept{at}"
        )
        stricter = o.get("stricter")
        if stricter and accepted is not None and stricter["unknown_accepted"] < accepted:
            lines.append(stricter_line(m, evaluated, run))
    return lines


def stricter_line(m: dict[str, Any], evaluated: str, run: Path | None) -> str:
    """The threshold that keeps 95% of the run's validation images, what it does on ``evaluated``
    and the unknown images, and how to use it (predict, serve and export take ``--threshold``)."""
    o, s = m["open_set"], m["open_set"]["stricter"]
    value = repr(s["threshold"])
    if m["unknown_score"] == "msp":
        words = f"a top probability of {value}"
    else:
        readable = m.get("unknown_score_readable", False)  # False: a raw score, older runs
        words = f"{'familiarity' if readable else 'score'} {value}"
    where = shlex.quote(str(run)) if run is not None else "RUN"
    return (
        f"a stricter threshold, {words}, keeps {percent(s['valid_kept'])} of the validation "
        f"images (chosen on them, as the run's own was): {percent(s['known_kept'])} of "
        f"{evaluated} get an answer, top-1 {percent(s['top1_at_threshold'])} when an unknown "
        f"counts as wrong, and {percent(s['unknown_accepted'])} of the unknown images are "
        f"accepted, against {percent(o['unknown_accepted'])} at the run's threshold; to use it: "
        f"objrec predict {where} PHOTOS --threshold {value} (objrec serve {where} --threshold "
        f"{value}; objrec export {where} --threshold {value} writes it in the sidecar)"
    )


def top5_text(value: float, n_classes: int) -> str:
    """ ", top-5 X%", or nothing for a model of at most five classes (where it is always 100%)."""
    return f", top-5 {percent(value)}" if n_classes > TOP5_CLASSES else ""


def print_worst(result: EvaluationResult, worst: int) -> None:
    """The worst classes' table, or one line when every evaluated image was predicted right (a
    table of classes at 100% ordered by a loss it does not show read as noise)."""
    per_class = result.per_class
    if len(per_class) and (per_class["top1"] == 1).all():
        every = plural(int(per_class["n_test"].sum()), "image")
        console.print(f"Worst classes: none; all {every} of the {len(per_class)} classes right")
        return
    console.print(worst_table(result.worst(worst), with_top5=len(result.classes) > TOP5_CLASSES))


def worst_table(rows, with_top5: bool = True) -> Table:
    """The worst classes: support (the class's evaluated images, test or not), top-1 (= recall),
    top-5, precision, F1, commonest confusion."""
    top5 = ("top-5",) if with_top5 else ()
    columns = ("class", "n_train", "images", "top-1 (recall)", *top5, "precision", "F1")
    caption = "worst first: by top-1, then by mean loss"
    table = Table(*columns, "most confused with", title="Worst classes", caption=caption)
    for r in rows.itertuples():
        table.add_row(
            Text(str(r._1)),  # class names are never markup
            str(r.n_train),
            str(r.n_test),
            percent(r.top1),
            *((percent(r.top5),) if with_top5 else ()),
            f"{r.precision:.3f}",
            f"{r.f1:.3f}",
            Text(str(r.most_confused_with)),
        )
    return table


def averages_table(m: dict[str, Any]) -> Table:
    """Macro (each class counts once) and weighted (by images) precision, recall and F1."""
    table = Table("average", "precision", "recall", "F1", "images")
    for kind in ("macro", "weighted"):
        values = (f"{m[f'{kind}_{name}']:.3f}" for name in ("precision", "recall", "f1"))
        table.add_row(kind, *values, str(m["n"]))
    return table


def unknown_options(command):
    """``--threshold`` and ``--no-unknown``, shared by predict and serve."""
    command = click.option(
        "--no-unknown",
        "no_unknown",
        is_flag=True,
        help="Never answer unknown: always the top classes, however unfamiliar the image.",
    )(command)
    return click.option(
        "--threshold",
        type=FINITE,
        help="Answer unknown below this score instead of the run's own threshold (chosen on the "
        "valid split). The score is the familiarity: 1 for a typical image of the known classes, "
        "0 at the run's threshold (a run with --unknown-score msp: the top probability; a run "
        "trained before the familiarity: its raw feature score, with its own threshold); "
        "`objrec serve` /info (unknown_score_readable) and predict --json show it.",
    )(command)


@cli.command()
@click.argument("run", type=EXISTING)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--topk",
    type=int,
    default=5,
    show_default=True,
    help="How many classes per image, most probable first; the printed lines count those under "
    "0.005% instead of listing them (--json lists every one).",
)
@click.option(
    "--plot",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Draw each image beside a bar chart of its top-k into this PNG.",
)
@click.option(
    "--plot-max",
    type=int,
    default=8,
    show_default=True,
    help="Draw at most this many images into --plot (the first ones); the rest are counted.",
)
@click.option(
    "--runtime",
    type=click.Choice(["torch", "onnx"]),
    default="torch",
    show_default=True,
    help="Run the model in eager PyTorch, as evaluate does, or through ONNX Runtime (CPU only; "
    "exported on first use, then cached). Both run the same checkpoint, its int8 body included, "
    "and agree within 1e-4 (checked at export). torch is the default here: it needs no export "
    "and was quicker on one photo, and as quick on a folder with an int8 body; onnx took 0.6 "
    "of the time on 120 photos with an fp32 body (benchmarks/README.md). serve defaults to onnx, "
    "as a server exports once and answers many.",
)
@device_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print a list of {"filename", "path", "unknown", "score", "topk": [{"class", "prob"}]} '
    '("filename": the base name, as serve\'s /predict answers; "error" instead for a bad input).',
)
@click.option(
    "--tta",
    is_flag=True,
    help="Average over test-time views (the view, its mirror, the other framing and its mirror).",
)
@click.option(
    "--explain",
    type=DIR,
    help="Write a Grad-CAM overlay of each image into this (new or empty) folder.",
)
@click.option(
    "--force", is_flag=True, help="Overwrite an existing --plot file or --explain folder."
)
@unknown_options
def predict(
    run: Path,
    paths: Sequence[Path],
    topk: int,
    plot: Path | None,
    plot_max: int,
    runtime: str,
    device: str,
    tta: bool,
    explain: Path | None,
    as_json: bool,
    threshold: float | None,
    no_unknown: bool,
    force: bool,
) -> None:
    """Predict the classes of the images in PATHS (files or folders) with the model in RUN.

    An image that looks like none of the model's classes (its unknown score below the run's
    threshold) is said to be unknown, and its top classes are still given. One answered though
    barely familiar (its familiarity within 0.25 of the unknown line, where a typical valid
    image scores 1 and the line is 0) says so after its classes, as in the --plot:
    "(barely familiar: 0.02, unknown below 0)".
    """
    from objrec.predict import predict as run_predict

    if len(paths) == 1:
        refuse_swapped("predict", run, paths[0])
    reporter = RichReporter(quiet=as_json)
    results = run_predict(
        run,
        paths,
        topk,
        plot=plot,
        reporter=reporter,
        runtime=runtime,
        tta=tta,
        explain=explain,
        plot_max=plot_max,
        threshold=threshold,
        unknown=not no_unknown,
        device=device,
        force=force,
    )
    show_predictions(results, as_json, plot, plot_max, explain)


def show_predictions(
    results, as_json: bool, plot: Path | None, plot_max: int, explain: Path | None = None
) -> None:
    """The predictions as JSON or as lines, where the plot and the Grad-CAM overlays went; exit 1
    when any input failed."""
    failed = [r for r in results if r.error]
    if as_json:
        print_json([r.to_json() for r in results])
        if plot:
            err.print(plot_sentence(results, plot, plot_max), markup=False, highlight=False)
    else:
        print_predictions(results, plot, plot_max)
    if explain is not None and any(r.explanation for r in results):
        sentence = explain_sentence(results, explain)
        (err if as_json else console).print(sentence, markup=False, highlight=False)
    if failed:
        err.print(
            f"[red]{len(failed)} of {plural(len(results), 'input')} could not be predicted[/]"
        )
        sys.exit(1)


def print_predictions(results, plot: Path | None, plot_max: int) -> None:
    """One line per input on stdout (a failure on stderr, once), then where the plot went."""
    for r in results:
        if r.error:
            err.print(printable(f"{r.path}: {r.error}"), style="red", markup=False, highlight=False)
            continue
        unknown = "unknown (like none of the classes); closest: " if r.unknown else ""
        note = f" ({r.familiarity_note})" if r.familiarity_note else ""
        line = f"{r.path}: {unknown}{topk_line(r.topk)}{note}"
        console.print(printable(line), markup=False, highlight=False)
    if plot:
        console.print(plot_sentence(results, plot, plot_max), markup=False, highlight=False)


def topk_line(topk: Sequence[dict]) -> str:
    """An image's top classes as a person reads them: the most probable always, then those whose
    probability shows as more than 0.00%; the others are counted, not listed (on a 5-class model
    the default top 5 was mostly 0.00%). ``--json`` keeps every one, with its exact value."""
    zero = percent(0.0)
    shown = [t for i, t in enumerate(topk) if i == 0 or percent(float(t["prob"])) != zero]
    line = ", ".join(f"{t['class']} {percent(float(t['prob']))}" for t in shown)
    hidden = len(topk) - len(shown)
    return line + (f", and {plural(hidden, 'more class')} under 0.005%" if hidden else "")


def explain_sentence(results, explain: Path) -> str:
    """Where ``--explain`` wrote its overlays and how many."""
    written = sum(r.explanation is not None for r in results)
    return f"Grad-CAM overlays of {plural(written, 'image')} written to {explain}"


def plot_sentence(results, plot: Path, plot_max: int) -> str:
    """Where ``--plot`` went and how many images it shows."""
    readable = sum(r.error is None for r in results)
    drawn = min(readable, plot_max)
    left = f"; {readable - drawn} more left out (--plot-max)" if readable > drawn else ""
    return f"plot of {drawn} of {plural(readable, 'readable image')} written to {plot}{left}"


@cli.command()
@click.argument("run", type=EXISTING)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The HTML file [default: RUN/report.html, refreshed without --force].",
)
@click.option(
    "--data", type=EXISTING, help="The split folder [default: the one the run trained on]."
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite another --out file, and replace an evaluation of another folder in "
    "RUN/eval-test (RUN's own report.html and eval-* are refreshed without it).",
)
def report(run: Path, out: Path | None, data: Path | None, force: bool) -> None:
    """Write one self-contained HTML page about RUN (opens from disk, no network needed).

    Data (counts, sizes, samples, augmentation), training curves, overall and per-class results, the
    confusion heatmap and most confused pairs, the top losses, the worst classes' hardest images,
    and Grad-CAM saliency for right and wrong predictions. Runs `evaluate` first if needed.
    """
    from objrec.report import build_report

    path = build_report(run, out, data, RichReporter(), force).resolve()
    size = path.stat().st_size / 1e6
    console.print(
        printable(f"report written to {path} ({size:.1f} MB); open {path.as_uri()} in a browser"),
        markup=False,
        highlight=False,
        soft_wrap=True,  # the link whole on one line in a narrow terminal, to click or copy
    )


@cli.command()
@click.argument("run", type=EXISTING)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx"]),
    default="onnx",
    show_default=True,
    help="The file format (ONNX, opset 17, dynamic batch axis).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The model file [default: RUN/model.onnx], not a .json name: the JSON sidecar goes "
    "beside it under its name with .json.",
)
@click.option(
    "--softmax/--logits",
    default=True,
    show_default=True,
    help="Output probabilities, or raw logits.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite an earlier export (RUN/model.onnx too: an export is never refreshed "
    "without it); a JSON file beside it that no export wrote is never replaced.",
)
@click.option(
    "--threshold",
    type=FINITE,
    help="The unknown threshold the sidecar gives, instead of the run's own (chosen on the valid "
    "split; the sidecar keeps it as run_threshold), on the run's score: the familiarity, as "
    "predict's and serve's --threshold (evaluate --unknown offers a stricter one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the paths and the check as JSON.")
def export(
    run: Path,
    fmt: str,
    out: Path | None,
    softmax: bool,
    force: bool,
    threshold: float | None,
    as_json: bool,
) -> None:
    """Export the model in RUN (body + head) for other runtimes, with a dynamic batch axis.

    The export checks itself: ONNX Runtime must reproduce PyTorch's probabilities within 1e-4 on
    sample inputs, or the file is removed and the command fails. A JSON file beside the model holds
    the class names and the preprocessing (resize, crop, mean, std).
    """
    from objrec.export import export_model

    result = export_model(run, out, fmt, softmax, force, threshold)
    if as_json:
        print_json(
            {
                "model": str(result.path),
                "sidecar": str(result.sidecar),
                "max_abs_diff": result.max_diff,
            }
        )
        return
    console.print(
        f"exported {shown(result.path)} and {shown(result.sidecar)}; ONNX Runtime matches PyTorch "
        f"within {result.max_diff:.1e}",
        markup=False,
        highlight=False,
    )


@cli.command()
@click.argument("run", type=EXISTING)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; the default serves this machine only.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option("--workers", type=int, default=1, show_default=True, help="Server processes.")
@click.option(
    "--runtime",
    type=click.Choice(["onnx", "torch"]),
    help="Run the model through ONNX Runtime (exported once, checked against PyTorch within "
    "1e-4, cached) or eager PyTorch; both run the same checkpoint, its int8 body included "
    "[default: onnx on the CPU, as a server pays the export once and then answers faster; torch "
    "on a GPU, as onnx runs on the CPU only; predict defaults to torch, quicker for a few photos].",
)
@click.option(
    "--max-upload-mib",
    type=float,
    default=SERVE_MAX_UPLOAD_MIB,
    show_default=True,
    help="The largest upload /predict takes, in MiB (0.5 is 512 KiB); a larger one is answered "
    "413 with an error that names the limit.",
)
@unknown_options
@device_option
def serve(
    run: Path,
    host: str,
    port: int,
    workers: int,
    runtime: str | None,
    max_upload_mib: float,
    threshold: float | None,
    no_unknown: bool,
    device: str,
) -> None:
    """Serve the model in RUN: a page to try it at / and a JSON API at /predict.

    \b
      POST /predict   multipart field "file" (an image), optional "topk", "tta" ->
                      {"filename", "unknown", "score", "topk": [{"class", "prob"}]}
      GET  /          a page: pick or drop an image, see its top-5 as bars
      GET  /health, GET /info (classes, backbone, version), GET /docs (the API)

    \b
    For example: curl -F file=@photo.jpg http://127.0.0.1:8000/predict
    """
    from objrec.serve import serve as run_serve

    if workers < 1:
        raise ObjrecError("--workers must be at least 1")
    max_upload_bytes = upload_limit_bytes(max_upload_mib)

    def ready(url: str) -> None:
        err.print(f"serving {shown(run)} on {url} (Ctrl-C stops)", markup=False, highlight=False)

    run_serve(
        run,
        host,
        port,
        workers,
        runtime,
        on_ready=ready,
        threshold=threshold,
        unknown=not no_unknown,
        device=device,
        max_upload_bytes=max_upload_bytes,
    )


def upload_limit_bytes(max_upload_mib: float) -> int:
    """``--max-upload-mib`` in bytes; one sentence when it is not a positive size, or is one that
    rounds to no byte at all (a typo for a size in MiB, most likely)."""
    if not (math.isfinite(max_upload_mib) and max_upload_mib > 0):
        raise ObjrecError(f"--max-upload-mib must be a positive size in MiB, not {max_upload_mib}")
    max_upload_bytes = round(max_upload_mib * 1024 * 1024)
    if max_upload_bytes < 1:
        raise ObjrecError(
            f"--max-upload-mib {max_upload_mib} is less than one byte "
            f"({max_upload_mib * 1024 * 1024:.2g} bytes): the size is in MiB (0.5 is 512 KiB)"
        )
    return max_upload_bytes


@cli.command()
@click.argument("data", type=EXISTING)
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def check(data: Path, as_json: bool) -> None:
    """List every problem in DATA (a class or split folder) without training.

    Every image is decoded as training would. Unusable: files that cannot be decoded (HEIC
    without a Pillow plugin among them) or are too large to decode safely, images whose name is
    not UTF-8, empty class folders, a folder of only one class (train refuses it: a
    classifier needs two), and in a split folder a class of valid or test that train lacks (train
    or evaluate refuses it; the class it probably is, renamed or misspelt, is named). Noted:
    hidden files and folders (and __MACOSX, @eaDir), other files and files outside class folders
    (all ignored), images without an extension (read anyway), a class of train missing from
    valid or test, and in a class folder a class with fewer readable images than split needs to
    put one in each of train, valid and test. Exits with 1 when anything is unusable.

    The last line counts the image files in class folders (readable ones and unusable ones, which
    add up to it), the classes that hold any, and apart the unusable folders; --json has the same.
    """
    from objrec.check import check_folder

    result = check_folder(data, RichReporter(quiet=as_json))
    if as_json:
        print_json(result.to_json())
    else:
        for p in result.problems:
            style = "red" if p.unusable else "yellow"
            where = escape(f"{shown(p.path)}: {p.message}")  # names are never markup
            console.print(f"[{style}]{p.kind}[/] {where}", highlight=False)
        console.print(check_summary(result))
    if result.unusable:
        sys.exit(1)


def check_summary(result: CheckResult) -> str:
    """The image files in class folders, readable and not (they add up), then any unusable
    folders (empty classes, classes train lacks, a single class), each listed above it."""
    per_split = ", ".join(f"{k} {v}" for k, v in result.splits.items())
    return (
        f"{plural(result.images, 'image file')} in {plural(result.classes, 'class', 'classes')}"
        + (f" ({per_split})" if per_split else "")
        + f": {result.readable} readable, {result.unusable_files} unusable"
        + (
            f"; {plural(result.unusable_folders, 'unusable folder')}"
            if result.unusable_folders
            else ""
        )
    )


@cli.command()
@click.option(
    "--cache-dir", type=DIR, help="The cache folder [default: $OBJREC_CACHE or ~/.cache/objrec]."
)
@click.option(
    "--clear",
    is_flag=True,
    help="Delete every stored feature, image fact and exported graph (files objrec did not write "
    "are left).",
)
@click.option("--prune", is_flag=True, help="Remove features not used for --days or not in --keep.")
@click.option(
    "--days",
    type=click.FloatRange(min=0),
    help="With --prune: remove features no run has used for this many days.",
)
@click.option(
    "--keep",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="With --prune: keep only the features of images found in this folder (any depth).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def cache(cache_dir: Path | None, clear: bool, prune: bool, days, keep, as_json: bool) -> None:
    """Show the feature store and the image facts store: their sizes and how many images they hold;
    prune or clear them.

    Features are stored per image content, body, data config and view, so renaming, moving or
    relabelling an image never recomputes it. --prune removes what no run used for --days days
    or what belongs to no image in --keep (features and the image facts of audit and split alike),
    then compacts the store, and removes the folders of
    objrec's earlier cache format. --clear removes only the files objrec writes there, leaving
    (and naming) any other, and follows no link (one of objrec's names is removed itself).
    Pruning or clearing waits for other objrec processes using the store or writing image facts;
    it is always safe: anything needed again is recomputed.
    """
    from objrec.features import FeatureCache

    refuse_cache_options(clear, prune, days, keep)
    store = FeatureCache(cache_dir)
    say = err if as_json else console  # with --json, stdout carries the JSON alone

    def wait():
        err.print("waiting for other objrec processes to stop using the store or image facts")

    done: dict[str, Any] = {}
    if clear:
        if not store.root.is_dir():
            say.print(f"nothing to clear: there is no cache folder {store.root}", markup=False)
        else:
            done.update(clear_cache(store, wait, say))
        if not as_json:
            return
    if prune:
        if not store.root.is_dir():
            say.print(f"nothing to prune: there is no cache folder {store.root}", markup=False)
        else:
            done["pruned"] = prune_store(store, days, keep, wait, say)
    print_cache_summary(store.summary(), as_json, done)


def clear_cache(store, wait, say: Console) -> dict:
    """``store.clear``, said in a sentence, and another naming what it left (what objrec did not
    write); returns both counts (for ``--json``)."""
    done = store.clear(wait)
    if store.root / "store" in done.links:  # its features are where the link pointed, kept
        said = f"removed {plural(done.removed, 'entry')}"
    else:
        said = f"removed every stored feature and {plural(done.removed, 'other entry')}"
    say.print(f"{said} from {store.root}", markup=False)
    for link, target in done.links.items():
        say.print(
            f"removed the link {link} only: its target {target} is left as it was", markup=False
        )
    names = [str(p.relative_to(store.root)) for p in done.left]
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        say.print(
            f"left {plural(len(names), 'entry')} that objrec did not write: {shown}", markup=False
        )
    links = {str(p.relative_to(store.root)): str(t) for p, t in done.links.items()}
    return {"cleared_other_entries": done.removed, "left_entries": names, "removed_links": links}


def prune_store(store, days: float | None, keep: Path | None, wait, say: Console) -> dict:
    """``store.prune``, said in two sentences; returns what it removed (for ``--json``)."""
    done = store.prune(days, keep, wait)
    pruned = {
        "feature_rows": done.store.entries,
        "old_format_entries": done.old_entries,
        "store_bytes_freed": done.store.bytes_before - done.store.bytes_after,
        "image_fact_rows": done.facts_removed,
        "facts_bytes_freed": done.facts_before.bytes - done.facts_after.bytes,
    }
    say.print(
        f"removed {plural(pruned['feature_rows'], 'feature row')} and "
        f"{plural(pruned['old_format_entries'], 'entry')} of the "
        f"old cache format; the store shrank by {pruned['store_bytes_freed'] / 1e6:.1f} MB"
    )
    say.print(
        f"removed {plural(pruned['image_fact_rows'], 'image fact row')} of the image facts store "
        f"({pruned['facts_bytes_freed'] / 1e6:.1f} MB)"
    )
    return pruned


def refuse_cache_options(clear: bool, prune: bool, days: float | None, keep: Path | None) -> None:
    """Options of ``cache`` that mean something only with another are refused without it."""
    for flag, value in (("--days", days), ("--keep", keep)):
        if value is not None and not prune:
            raise click.UsageError(f"{flag} needs --prune (it says what --prune removes)")
    if clear and prune:
        raise click.UsageError("--clear and --prune do not go together: --clear removes everything")
    if prune and days is None and keep is None:
        raise click.UsageError("--prune needs --days N, --keep FOLDER or both")


def print_cache_summary(summary, as_json: bool, done: dict | None = None) -> None:
    """The store's table, or with ``as_json`` its summary and ``done`` (what was removed)."""
    if as_json:
        print_json(summary.to_json() | (done or {}))
        return
    if not summary.exists:
        console.print(
            f"there is no cache folder {summary.root}: nothing is stored yet", markup=False
        )
        return
    table = Table("body", "features", "dtype", "images", "rows", "size", "last used")
    same = Counter((s.label, s.dtype) for s in summary.spaces)  # e.g. int8 bodies calibrated apart
    for s in summary.spaces:
        used = time_ago(s.last_used)
        table.add_row(
            Text(s.label if same[s.label, s.dtype] == 1 else f"{s.label} (id {s.id[:8]})"),
            str(s.dim),
            s.dtype,
            f"{s.images:,}",
            f"{s.entries:,}",
            f"{s.bytes / 1e6:.1f} MB",
            used,
        )
    console.print(f"feature store in {summary.root / 'store'}", markup=False)
    console.print(table)
    console.print(
        f"file index: {plural(summary.files, 'file')} ({summary.index_bytes / 1e6:.1f} MB); "
        f"exported graphs: {summary.onnx_bytes / 1e6:.1f} MB"
    )
    console.print(
        f"image facts (perceptual hashes of audit and split): "
        f"{plural(summary.facts.rows, 'image')} ({summary.facts.bytes / 1e6:.1f} MB)"
    )
    if summary.old_entries:
        console.print(
            f"{plural(summary.old_entries, 'entry')} of the old cache format "
            f"({summary.old_bytes / 1e6:.1f} MB) {'is' if summary.old_entries == 1 else 'are'} "
            "no longer read: `objrec cache --prune --days 30` removes them"
        )


def time_ago(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    import time

    hours = (time.time() - timestamp) / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def backbones(as_json: bool) -> None:
    """List the registered backbones and whether their weights are available offline now.

    Any torchvision classification model name also works with --backbone (weights from --weights,
    the torch hub cache or the network), timm:NAME when timm is installed, and names joined by '+'
    (a feature ensemble: each body sees the same image, their features are concatenated).
    """
    from objrec.backbones import list_backbones

    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "input_size": s.data_config.input_size,
            "offline": s.offline(),
            "default": s.name == DEFAULT_BACKBONE,
            "description": s.description,
        }
        for s in list_backbones()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table()
    table.add_column("name", overflow="fold")  # folded, never cut: a name must stay whole to copy
    for header in ("input", "offline now", "description"):
        table.add_column(header)
    for r in rows:
        offline = "yes" if r["offline"] else "no"
        description = str(r["description"]) + ("; objrec's default" if r["default"] else "")
        table.add_row(str(r["name"]), f"{r['input_size']} px", offline, description)
    console.print(table)


@cli.command(
    help="Run the whole pipeline on the built-in sample (five Caltech-101 classes, 24 images "
    "each), offline.\n\nThe sample is a class folder inside objrec's package; any command that "
    "reads one takes it, e.g. `objrec audit` or `objrec explore` (their output then goes to the "
    f"current folder). It is here:\n\n\b\n{SAMPLE}"
)
@click.option(
    "--out",
    type=DIR,
    default=Path("objrec-demo"),
    show_default=True,
    help="Folder for the demo's split, run and outputs.",
)
@click.option("--force", is_flag=True, help="Replace an earlier demo in --out.")
def demo(out: Path, force: bool) -> None:
    from objrec.demo import run_demo

    summary = run_demo(out, RichReporter(), force=force)
    console.print(
        f"[green]demo finished[/] in {summary['seconds']:.0f}s: test top-1 "
        f"{percent(summary['top1'])}{top5_text(summary['top5'], summary['classes'])}; "
        f"everything is in {escape(shown(out))}"
    )
    console.print("next, try:", highlight=False)
    for command, what in demo_next_steps(summary):
        console.print(f"  {escape(command)}  [dim]# {escape(what)}[/]", highlight=False)


def demo_next_steps(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Commands to try on what the demo made, each with what it shows."""
    run, data = shlex.quote(shown(summary["run"])), shlex.quote(shown(summary["data"]))
    steps = [(f"objrec report {run}", f"{shown(summary['run'])}/report.html: one page about it")]
    if summary.get("image"):
        image = shlex.quote(shown(summary["image"]))
        steps.append((f"objrec predict {run} {image}", "the top classes of one image"))
    audit = f"objrec audit {data} --run {run}"  # its features, its body: nothing to compute
    steps.append((audit, "likely wrong labels, near-duplicates, outliers"))
    return steps


@cli.command()
@click.argument("data", type=EXISTING)
@click.option("--run", type=EXISTING, help="Use this run's body and preprocessing (and its cache).")
@click.option(
    "--backbone",
    default=DEFAULT_BACKBONE,
    show_default=True,
    help="The frozen body, when no --run is given.",
)
@click.option(
    "--out",
    type=DIR,
    help="Folder for the findings [default: DATA-audit beside DATA, written again on a re-run "
    "over the files objrec recorded writing, unless you changed one since (plan.csv, say); "
    "in the current folder for the "
    "built-in sample].",
)
@click.option("--folds", type=int, default=5, show_default=True, help="Out-of-fold heads.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same folds.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="auto",
    show_default=True,
    help="The body's precision when no --run is given; auto decides as `train` does, so the "
    "audit reads the features a default training run stored.",
)
@click.option("--force", is_flag=True, help=FORCE_OUT)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as one JSON object.")
def audit(data: Path, run, backbone, out, folds, seed, precision, force, as_json) -> None:
    """Find likely wrong labels, near-duplicates (and leaks across splits) and outliers in DATA.

    DATA is a class folder or a split folder (all three splits are audited together). Wrong
    labels: out-of-fold probabilities of several heads on the cached frozen features, ranked by
    cleanlab. Near-duplicates: feature similarity and a perceptual hash (resized, re-encoded,
    cropped, mirrored or recoloured copies); images only moderately alike by both are listed
    apart as look-alikes, to check (often different photos of one kind). Outliers: far from
    their class or from everything, tiny, blank or oddly shaped images. DATA is only read; --out
    receives label_issues.csv, near_duplicates.csv, look_alikes.csv, outliers.csv, audit.json,
    audit.html (thumbnails side by side) and plan.csv, which `objrec apply-plan` applies into a
    new folder once you have reviewed it.
    """
    from objrec.audit import AuditConfig, unjudged_note
    from objrec.audit import audit as run_audit

    out_dir, refresh = output_folder(out, data, "-audit", force)
    config = AuditConfig(backbone=backbone, folds=folds, seed=seed, precision=precision)
    result = run_audit(data, out_dir, config, run, RichReporter(quiet=as_json), force, refresh)
    if as_json:
        print_json(result.to_json())
        return
    console.print(
        f"audited {plural(result.n_images, 'image')}: "
        f"{plural(len(result.label_issues), 'likely wrong label')}, "
        f"{plural(len(result.near_duplicates), 'near-duplicate group')}, "
        f"{plural(len(result.look_alikes), 'group')} of look-alikes, "
        f"{plural(len(result.outliers), 'outlier')} in {result.seconds['total']:.0f}s ("
        + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items() if k != "total")
        + ")"
    )
    print_duplicates(result.near_duplicates, data)
    print_look_alikes(result.look_alikes, data)
    if result.unjudged:
        console.print(unjudged_note(result.unjudged), markup=False, highlight=False)
    print_label_issues(result.label_issues, data)
    console.print(
        f"see {shown(out_dir / 'audit.html')}; review {shown(out_dir / 'plan.csv')}, then "
        f"`objrec apply-plan {shown(data)} {shown(out_dir / 'plan.csv')} NEW_FOLDER` writes a "
        "corrected copy",
        markup=False,
        highlight=False,
    )


def print_duplicates(groups: Sequence[dict], data: Path) -> None:
    """The near-duplicate groups under their heading: how many, how many span two splits (in
    red: possible leaks), where all of them are; then the first few (those across splits first)."""
    if not groups:
        return
    leaks = sum(g["kind"] == "across splits" for g in groups)
    spans = (
        f", [bold red]{leaks} spanning two splits[/] (possible leaks: one picture trained on and "
        "tested on; look at them in audit.html)"
        if leaks
        else ""
    )
    console.print(
        f"{plural(len(groups), 'near-duplicate group')} (copies of one picture: resized, "
        f"re-encoded, cropped){spans}, all in near_duplicates.csv:",
        highlight=False,
    )
    print_groups(groups, data, "near_duplicates.csv")


def print_look_alikes(groups: Sequence[dict], data: Path) -> None:
    """The groups of look-alikes that span two splits under their heading, in yellow (to check:
    most are different photos of one kind), where all of them are; then the first few."""
    across = [g for g in groups if g["kind"] == "across splits"]
    if not across:
        return
    console.print(
        f"[yellow]{plural(len(across), 'group')} of look-alikes "
        f"{'spans' if len(across) == 1 else 'span'} two splits[/] (usually different photos of "
        "one kind, a leak only if two are the same picture: check them in audit.html), all in "
        "look_alikes.csv:",
        highlight=False,
    )
    print_groups(across, data, "look_alikes.csv")


def print_groups(groups: Sequence[dict], data: Path, file: str, limit: int = 2) -> None:
    """The first ``limit`` groups, one line each: their files relative to ``data``, kind and
    similarity; the rest counted (all are in ``file`` and audit.html)."""
    from objrec.outputs import shown_name

    for group in groups[:limit]:
        names = [shown_name(path, [data]) for path in group["paths"]]
        more = f" and {len(names) - 4} more" if len(names) > 4 else ""
        line = (
            f"  {', '.join(names[:4])}{more}: {group['kind']}, similarity {group['similarity']:.3f}"
        )
        console.print(printable(line), markup=False, highlight=False)
    if len(groups) > limit:
        console.print(f"  and {len(groups) - limit:,} more in {file}")


def print_label_issues(rows: Sequence[dict], data: Path, limit: int = 5) -> None:
    """The likely wrong labels under their heading: how many, the first ``limit`` (most likely
    first) with the class each looks like, the rest counted."""
    from objrec.outputs import shown_name

    if not rows:
        return
    console.print(
        f"{plural(len(rows), 'likely wrong label')} (most likely first), all in label_issues.csv:",
        highlight=False,
    )
    for row in rows[:limit]:
        name = shown_name(row["path"], [data])
        line = f"  {name}: labelled {row['given']}, looks like {row['suggested']}"
        console.print(printable(line), markup=False, highlight=False)
    if len(rows) > limit:
        console.print(f"  and {len(rows) - limit:,} more in label_issues.csv")


@cli.command("apply-plan")
@click.argument("data", type=EXISTING)
@click.argument("plan", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("out", type=DIR)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def apply_plan(data: Path, plan: Path, out: Path, as_json: bool) -> None:
    """Copy DATA into OUT with a reviewed audit PLAN applied (remove, relabel); DATA is not changed.

    PLAN is the plan.csv of `objrec audit` (columns file, action, new_class), edited by you:
    keep copies the file, remove leaves it out, relabel copies it into the new_class folder.
    OUT must be new or empty; a split folder's copy gets its own manifest.csv.
    """
    from objrec.audit_report import apply_plan as run_apply

    counts = run_apply(data, plan, out)
    changed = {verb: counts[f"test_{verb}"] for verb in ("relabelled", "removed")}
    how = ", ".join(f"{n} {verb}" for verb, n in changed.items() if n)
    warnings = [test_change_warning(sum(changed.values()), how, out)] if how else []
    if as_json:
        print_json(counts | {"warnings": warnings})
        return
    console.print(
        f"copied {plural(counts['copied'], 'image')} into {shown(out)} "
        f"({counts['relabelled']} relabelled"
        + (f", {counts['renamed']} of them renamed" if counts["renamed"] else "")
        + "), "
        f"left out {counts['removed']}; {shown(data)} is unchanged",
        markup=False,
    )
    for warning in warnings:
        err.print(warning, style="yellow", markup=False, highlight=False)


@cli.command()
@click.argument("run", type=EXISTING)
@click.argument("unlabelled", type=EXISTING)
@click.option("-n", "n", type=int, default=50, show_default=True, help="How many images to list.")
@click.option(
    "--diversity",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="The share of an image's informativeness lost by resembling an image already listed "
    "(0: informativeness alone; 1: a copy of one counts for nothing).",
)
@click.option(
    "--out",
    type=DIR,
    help="Folder for the list [default: RUN/suggest, or NAME-suggest beside a checkpoint file "
    "NAME.safetensors other than a run's model.safetensors; written again on a re-run over the "
    "files objrec recorded writing, unless you changed one since].",
)
@click.option("--force", is_flag=True, help=FORCE_OUT)
@click.option("--json", "as_json", is_flag=True, help="Print the ranked list as JSON.")
def suggest(run: Path, unlabelled: Path, n, diversity, out, force, as_json) -> None:
    """Which images in UNLABELLED to label next to improve the model in RUN the most.

    Each image is ranked by its informativeness, the larger of two reasons to label it, each 0
    to 1: its uncertainty (one minus the margin between its two best classes) and its
    unfamiliarity (1 for an image the run answers unknown: a class it lacks, or a view it has not
    seen; else one minus its familiarity, 0 for an image as familiar as a typical one). So an
    unknown image comes before every image the run is sure of and finds familiar, however clear
    its top class. Picked so that no two are near-copies of one hard case. Writes suggestions.csv
    (ranked) and suggestions.html (thumbnails), each image with its reason. UNLABELLED is only
    read; its sub-folders are searched too. A folder of only unknown images is said so.
    """
    from objrec.outputs import SUGGEST_FILES
    from objrec.suggest import default_suggest_dir
    from objrec.suggest import suggest as run_suggest

    if n < 1:
        raise ObjrecError("-n must be at least 1")
    if not force:  # says so when it writes again into its default folder
        refreshing(out, default_suggest_dir(run), SUGGEST_FILES)
    result = run_suggest(
        run, unlabelled, n, out, diversity, reporter=RichReporter(as_json), force=force
    )
    if as_json:
        print_json(result.table.to_dict(orient="records"))
        return
    if result.all_unknown:
        every = "the only image is" if result.readable == 1 else f"all {result.readable} images are"
        console.print(
            f"[yellow]{every} answered unknown by the run[/]: they look like none of its classes, "
            "so all are as informative: each is listed the least like those above it"
        )
    for r in result.table.head(10).itertuples():
        console.print(
            f"{r.rank:3d}. {r.path}: {r.predicted} {r.prob:.0%} or {r.second} {r.prob_second:.0%}"
            f"; informativeness {r.informativeness:.2f}: {r.reason}",
            markup=False,
        )
    ranked = shown(f"{result.out}/suggestions.csv")
    console.print(
        f"{plural(len(result.table), 'image')} ranked in {ranked}", markup=False, highlight=False
    )


def expand_greedy(argv: list[str]) -> list[str]:
    """``--exclude A B`` -> ``--exclude A --exclude B``: several values may follow one flag."""
    result: list[str] = []
    flag = None
    for arg in argv:
        if arg in GREEDY_OPTIONS:
            flag = arg
            continue
        if flag and not arg.startswith("-"):
            result += [flag, arg]
            continue
        flag = None
        result.append(arg)
    return result


API_NAME = re.compile(r"`([a-z_]+)(?:=([^`]*))?`")
"""A parameter named in an ObjrecError as the Python API spells it: `force=True`, `epochs`."""
QUOTES = "\"'"
API_ALIASES = {"data_dir": "data", "folder": "data"}
"""API parameters that the CLI calls by another name."""


def cli_spelling(
    command: click.Command | None, name: str, value: str | None, values: dict[str, str]
) -> str:
    """How ``command`` spells the API parameter ``name`` (set to ``value``): ``force=True`` ->
    ``--force``, ``copy=False`` -> ``--link``, ``epochs`` -> ``--epochs``, ``run`` -> ``RUN``;
    ``resume=True`` -> ``--resume PATH`` with the error's own value, else ``--resume RUN``, and
    the whole command (``train DATA --resume PATH``) when the error's values name its data."""
    params = list(command.params) if command else []
    name = API_ALIASES.get(name, name)
    flag = "--" + name.replace("_", "-")
    param = next((p for p in params if p.name == name), None)
    param = param or next((p for p in params if flag in p.opts), None)
    if isinstance(param, click.Argument):
        return param.human_readable_name
    if isinstance(param, click.Option):
        if param.is_flag and value == "False" and param.secondary_opts:
            return param.secondary_opts[0]
        if param.is_flag or value is None:
            return param.opts[0]
        if value == "True":  # an API switch whose option takes a value: --resume RUN
            given = shlex.quote(values[name]) if name in values else None
            option = f"{param.opts[0]} {given or param.metavar or name.upper()}"
            if "data" in values and command is not None:  # the whole command: it needs DATA too
                return f"`objrec {command.name} {shlex.quote(values['data'])} {option}`"
            return option
        return f"{param.opts[0]} {value.strip(QUOTES)}"
    return name if value is None else f"{name}={value}"


def to_cli(
    message: str, command: click.Command | None, values: dict[str, str] | None = None
) -> str:
    """An ObjrecError's message with the API's parameter names spelled as ``command``'s options
    (``values``: the error's values for options that take one, e.g. the run to resume)."""
    return API_NAME.sub(
        lambda m: cli_spelling(command, m.group(1), m.group(2), values or {}), message
    )


def os_error_sentence(exc: OSError) -> str:
    """Which file the operating system refused, and why: ``/data/cats: permission denied`` (an
    error without the system's reason keeps its own words, first line only: ``-vv`` logs the
    traceback)."""
    words = str(exc).splitlines() or [type(exc).__name__]
    reason = exc.strerror.lower() if exc.strerror else words[0]
    if exc.filename is None:
        return reason
    files = " and ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    return f"{files}: {reason}"


def usage_sentence(exc: click.ClickException) -> str:
    """Click's own errors in objrec's form: one lower-case sentence, then where help is."""
    text = exc.format_message().strip().rstrip(".")
    text = text[:1].lower() + text[1:]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        text += f" (see {ctx.command_path} --help)"
    return text


def invoked_command(args: Sequence[str]) -> click.Command | None:
    return next((cli.commands[a] for a in args if a in cli.commands), None)


INTERRUPTED = 128 + signal.SIGINT
"""The exit code of a command stopped by Ctrl-C (130, as shells report it); one stopped by SIGTERM
exits with 128 + SIGTERM (143) instead, having cleaned up the same way."""


@contextmanager
def sigterm_as_ctrl_c(caught: list[int]) -> Iterator[None]:
    """While the block runs, SIGTERM (a job scheduler, ``kill``, torchrun stopping a worker) stops
    the command as Ctrl-C does: KeyboardInterrupt in the main thread, so that a failed command
    takes back its folders, train saves its state and says how to resume, demo removes what it
    made. The signals received are appended to ``caught``. A forked child (a data loader's
    worker) keeps SIGTERM's default: it ends at once, its parent cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    pid = os.getpid()

    def stop(signum: int, frame: object) -> None:
        if os.getpid() != pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        caught.append(signum)
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the clean-up at once
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 1 error, 2 usage, 130 interrupted by Ctrl-C,
    143 stopped by SIGTERM)."""
    args = expand_greedy(list(sys.argv[1:] if argv is None else argv))
    caught: list[int] = []
    with sigterm_as_ctrl_c(caught):
        code = run_command(args)
    return 128 + caught[0] if code == INTERRUPTED and caught else code


def run_command(args: list[str]) -> int:
    """Run the command line ``args``; errors and interruptions become a sentence and a code."""
    try:
        cli.main(args=args, prog_name="objrec", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:  # `objrec` alone asks what there is
        console.print(exc.ctx.get_help(), markup=False, highlight=False)
        return 0
    except click.ClickException as exc:
        err.print(f"[red]error:[/] {escape(usage_sentence(exc))}", highlight=False)
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
        return INTERRUPTED
    except Interrupted as exc:
        message = escape(to_cli(str(exc), invoked_command(args), exc.values))
        err.print(f"[yellow]{message}[/]", highlight=False)
        return INTERRUPTED
    except ObjrecError as exc:
        message = escape(to_cli(str(exc), invoked_command(args), exc.values))
        err.print(f"[red]error:[/] {message}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted")
        return INTERRUPTED
    except OSError as exc:  # the file system refused: a folder it may not read, a full disk
        logging.getLogger("objrec").debug("the operating system refused", exc_info=True)
        err.print(f"[red]error:[/] {escape(os_error_sentence(exc))}", highlight=False)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

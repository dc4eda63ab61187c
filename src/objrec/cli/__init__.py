"""The ``objrec`` command: each subcommand parses its options and calls one API function.

Heavy modules (torch, torchvision, pandas) are imported inside the commands, so ``--help`` is fast.
Results go to stdout (``--json`` for scripts); progress bars, notes and errors go to stderr.

This module holds the click group ``cli``, ``main`` (the console script) and what every command
shares when it runs: Ctrl-C and SIGTERM, and errors turned into one sentence and an exit code. The
commands live by pipeline stage: ``data`` (split, explore, check), ``adding`` (add), ``auditing``
(audit), ``applying`` (apply-plan), ``training`` (train), ``evaluation`` (evaluate, report),
``prediction`` (predict), ``delivery`` (export, share, serve) and ``tools`` (cache, backbones,
demo, suggest);
``options`` holds the options several commands share, ``output`` what they print and where they
write, ``messages`` how the library's sentences are spelled in the CLI's terms.
"""

from __future__ import annotations

import _thread
import importlib.util
import logging
import os
import re
import shlex
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from objrec import __version__
from objrec.cli import (
    adding,
    applying,
    auditing,
    data,
    delivery,
    evaluation,
    prediction,
    tools,
    training,
)
from objrec.cli.heap import end_program, freeze_heap, run_as_program
from objrec.cli.messages import to_cli, under_torchrun, usage_sentence
from objrec.cli.options import GREEDY_OPTIONS, expand_greedy, refuse_bare_greedy
from objrec.cli.output import (
    CLOSED_PIPE,
    CTRL_C,
    INTERRUPTED,
    PIPED_WIDTH,
    PROGRESS,
    REPLY_WAIT,
    console,
    err,
    escape_unencodable,
    is_main_rank,
    legacy_names_warning,
    log_handler,
    not_epoch_lines,
    not_in_result,
    notes,
    print_error,
    print_warnings,
    printable,
    reader_gone,
    silence,
    stdout_for_json_only,
)
from objrec.cli.sections import HELP_ALL, HELP_FLAGS, show_all
from objrec.cores import limit_thread_pools, wait_passively
from objrec.errors import (
    FULL_DISK,
    WORK_IN_HAND,
    Interrupted,
    ObjrecError,
    UsageRefused,
    full_disk_words,
    is_out_of_memory,
    os_error_sentence,
    unexpected_error,
)
from objrec.outputs import MARKER

__all__ = ["cli", "main"]


class InOrder(click.Group):
    """The ``objrec`` group, whose ``--help`` lists the commands in the order a user meets them
    (``COMMANDS``: README.md's "The commands at a glance"), not alphabetically: check, split,
    train, evaluate came out scattered between add, apply-plan, audit and backbones."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


class PipeBroke(Exception):
    """A broken pipe met inside click's ``main``, carried past it (:class:`PipesSaid`) to
    :func:`broken_pipe`: not an OSError, which click's ``main`` would end as a silent exit 1."""

    def __init__(self, error: BrokenPipeError):
        super().__init__(error)
        self.error = error


@contextmanager
def pipes_carried() -> Iterator[None]:
    """A broken pipe in the block raised as :class:`PipeBroke`."""
    try:
        yield
    except BrokenPipeError as exc:
        raise PipeBroke(exc) from exc


class PipesSaid(InOrder):
    """objrec's group of commands (:class:`InOrder`), whose broken pipes reach
    :func:`command_code`: click's ``main`` ends any broken pipe met parsing a command line or
    running a command as a silent exit 1, whichever pipe broke (``--help`` read by ``| head -1``,
    a process the command wrote to that died), before objrec's handler sees it."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with pipes_carried():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with pipes_carried():
            return super().invoke(ctx)


@click.group(
    cls=PipesSaid,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(version=__version__, package_name="objrec")
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Say only the warnings, the errors and the result: no progress or notes.",
)
@click.option(
    HELP_ALL,
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=show_all,
    help="This help; objrec COMMAND --help-all shows a command in full.",
)
def cli(verbose: int, quiet: bool = False) -> None:
    """Transfer learning for image classification on a CPU.

    Point objrec at a folder with one sub-folder per class:

    \b
      objrec check PHOTOS               # unreadable or ignored files, empty classes
      objrec split PHOTOS data          # leak-free train/valid/test
      objrec explore data               # images per class, image sizes
      objrec train data --out run       # pretrained networks, kept as they are, + new heads
      objrec evaluate run data          # top-1/top-5, per class, confusions
      objrec predict run photo.jpg      # top-k classes with probabilities
    """
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    if quiet and verbose:
        raise click.UsageError("-q and -v do not go together: give one")
    notes.quiet = quiet
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    if not is_main_rank():  # under torchrun only rank 0 talks
        level = logging.ERROR
    handler = log_handler(verbose)
    handler.addFilter(not_in_result)
    handler.addFilter(not_epoch_lines)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler])


COMMANDS = (
    *(tools.demo, data.check, data.split, data.explore, training.train, evaluation.evaluate),
    *(evaluation.report, prediction.predict, delivery.serve, delivery.share, delivery.export),
    *(adding.add, auditing.audit, applying.apply_plan, tools.suggest, tools.cache, tools.backbones),
)
"""Every subcommand, in the order ``objrec --help`` lists them: README.md's "The commands at a
glance", the first run's steps, what sends a model on, then the loop that improves it and the
tools."""
for command in COMMANDS:
    cli.add_command(command)


def invoked_command(args: Sequence[str]) -> click.Command | None:
    return next((cli.commands[a] for a in args if a in cli.commands), None)


class FirstCtrlC:
    """Ctrl-C (SIGINT) while a command runs: the first raises KeyboardInterrupt in the main
    thread, as Python's own handler does; later ones are recorded in ``caught`` and not raised,
    so that the clean-up and the sentence that says what the command left finish (a run is
    never left written half way, nor the user unsure what is on disk); a third ends the
    process at once, as a second SIGTERM does. The first one's KeyboardInterrupt, raised where
    Python cannot raise it (a finalizer, ProcessPoolExecutor's weakref callback), is not printed
    as an "Exception ignored" traceback: it is raised again where the command runs."""

    def __init__(self, caught: list[int]) -> None:
        self.caught = caught
        self.pid = os.getpid()
        self.raised: KeyboardInterrupt | None = None
        self.later = 0  # Ctrl-Cs recorded, not raised
        self.again = False  # the first one's KeyboardInterrupt was lost: raised again
        self.in_hook = False
        self.hook = sys.unraisablehook

    def interrupt(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:  # a forked child (a data loader's worker)
            raise KeyboardInterrupt
        if self.in_hook:  # raised in the hook, it would be lost again: once the hook returns
            self.raise_again()
        elif self.raised is not None:
            self.caught.append(signum)
            self.later += 1
            if self.later >= 2:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
        else:
            self.caught.extend([] if self.again else [signum])
            if signum == signal.SIGINT:
                CTRL_C.reply()  # where the watcher thread did not hear it first
            self.again, self.raised = False, KeyboardInterrupt()
            raise self.raised

    def unraisable(self, unraisable: sys.UnraisableHookArgs) -> None:
        if self.raised is None or unraisable.exc_value is not self.raised:
            self.hook(unraisable)
            return
        self.in_hook = True
        try:
            self.raised, self.again = None, True  # the command never saw it
            self.raise_again()
        finally:
            self.in_hook = False

    def raise_again(self) -> None:
        """SIGINT handled again in the main thread, from another thread (it would run in this
        very call from this one)."""
        _thread.start_new_thread(_thread.interrupt_main, (signal.SIGINT,))


@contextmanager
def sigterm_as_ctrl_c(caught: list[int]) -> Iterator[None]:
    """While the block runs, SIGTERM (a job scheduler, ``kill``, torchrun stopping a worker) stops
    the command as Ctrl-C does: KeyboardInterrupt in the main thread, so that a failed command
    takes back its folders, train saves its state and says how to resume, demo removes what it
    made. The signals received are appended to ``caught``, Ctrl-C's (SIGINT) too, which
    :class:`FirstCtrlC` handles: one that came while a C extension was
    imported (numpy, torch, in a command's first second) could leave it half made, and the
    command failed later with a traceback (RecursionError) that :func:`main` now says as the
    interruption it was. A forked child (a data loader's worker) keeps SIGTERM's default: it
    ends at once, its parent cleans up."""
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

    ctrl_c = FirstCtrlC(caught)
    CTRL_C.reset()
    WORK_IN_HAND.reset()
    previous = signal.signal(signal.SIGTERM, stop)
    previous_int = signal.signal(signal.SIGINT, ctrl_c.interrupt)
    sys.unraisablehook = ctrl_c.unraisable
    try:
        with ctrl_c_heard_at_once(ctrl_c.interrupt):
            yield
    finally:
        WORK_IN_HAND.reset()  # the command is over: a Python caller's next work runs whole
        sys.unraisablehook = ctrl_c.hook
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        signal.signal(
            signal.SIGINT, signal.default_int_handler if previous_int is None else previous_int
        )


@contextmanager
def ctrl_c_heard_at_once(handler: object) -> Iterator[None]:
    """Ctrl-C replied to (``output.CTRL_C``) the moment it comes, by a thread reading the bytes
    Python's C-level handler writes to a pipe for each signal (``signal.set_wakeup_fd``): its
    Python-level ``handler`` runs only when the main thread next runs Python, which an engine's
    batch delays by seconds. Heard while ``handler`` is SIGINT's (a server has its own)."""
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        before = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread's interpreter: the handler replies alone
        before = None
    ended, caught_up = threading.Event(), threading.Event()

    def hear() -> None:
        while not ended.is_set() and (heard := os.read(read, 64)):
            if signal.SIGINT in heard and signal.getsignal(signal.SIGINT) == handler:
                CTRL_C.reply()
            if CAUGHT_UP[0] in heard:
                caught_up.set()

    def catch_up() -> None:
        caught_up.clear()
        with suppress(BlockingIOError):
            os.write(write, CAUGHT_UP)
            caught_up.wait(REPLY_WAIT)

    listener = threading.Thread(target=hear, name="objrec-ctrl-c", daemon=True)
    if before is not None:
        listener.start()
        CTRL_C.listening = catch_up
    try:
        yield
    finally:
        CTRL_C.listening = None
        if before is not None:
            signal.set_wakeup_fd(before)
            ended.set()
            with suppress(BlockingIOError):  # a full pipe wakes the listener as well
                os.write(write, b"\0")  # not closed: a forked worker holds it open too
            listener.join()
        os.close(write)
        os.close(read)


CAUGHT_UP = bytes([255])
"""Written to the signal pipe by ``CTRL_C.catch_up``: no signal's number, so read once every
signal's byte before it has been heard."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 1 error, 2 usage, 130 interrupted by Ctrl-C,
    143 stopped by SIGTERM, 141 its output's reader gone)."""
    run_as_program(argv is None)
    if argv is None:  # the program's own process: PyTorch and NumPy are not imported yet
        limit_thread_pools(os.environ)
        wait_passively(os.environ)
        escape_unencodable()
    typed = list(sys.argv[1:] if argv is None else argv)
    args = own_options_first(expand_greedy(typed))
    print_warnings([sentence] if (sentence := legacy_names_warning()) else [])
    caught: list[int] = []
    with sigterm_as_ctrl_c(caught):
        try:
            code = run_command(args, typed, caught)
        except Exception as exc:  # a bug, or Ctrl-C that left an import half made (it fails after)
            code = said_interrupted(None, args, caught) if caught else said_failed(exc, args, typed)
    freeze_heap()  # the program exits now: its last collection need not walk what lived
    code = 128 + caught[0] if code == INTERRUPTED and caught else code
    end_program(code)  # a command that wrote all: no teardown
    return code


OWN_OPTION = re.compile(r"-v+|--verbose|-q|--quiet|--version")
"""objrec's own options (the group's, not a command's), which a command line may give after the
command's name too: no command has an option so named."""


def own_options_first(args: list[str]) -> list[str]:
    """``args`` with objrec's own options (:data:`OWN_OPTION`) given after the command's name
    moved before it, where click reads them: ``objrec train data --out run -v``, as most users
    type it, was refused ("no such option '-v'"). One after ``--`` (a file's name) or given as an
    option's value (``--out -v``) stays where it is."""
    command = invoked_command(args)
    if command is None or command.name is None:
        return list(args)
    at = args.index(command.name) + 1
    after = args[at:]
    places = own_option_places(command, after)
    moved = [after[i] for i in places]
    left = [arg for i, arg in enumerate(after) if i not in places]
    return [*args[: at - 1], *moved, command.name, *left]


def own_option_places(command: click.Command, after: Sequence[str]) -> list[int]:
    """The places in ``after`` (the words after ``command``'s name) of objrec's own options: not
    after ``--``, nor where an option of ``command`` takes the word as its value."""
    takes = words_taken(command)
    places: list[int] = []
    values = 0
    for i, arg in enumerate(after):
        if arg == "--":
            break
        if values:
            values -= 1
        elif OWN_OPTION.fullmatch(arg):
            places.append(i)
        else:
            values = takes.get(arg, 0)
    return places


def words_taken(command: click.Command) -> dict[str, int]:
    """How many words each option of ``command`` takes after its name (``--ratios`` 3, a flag
    none), by each of its names."""
    return {
        name: 0 if param.is_flag or param.count else param.nargs
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    }


def asks_for_json(args: Sequence[str]) -> bool:
    """Whether the command line ``args`` gives ``--json`` to a command that has it (before a
    ``--``, after which it would be a file's name), and asks for no help: ``--help`` prints the
    help, no JSON, and on stdout, where ``objrec train --json --help | less`` reads it."""
    command = invoked_command(args)
    if command is None or not any("--json" in p.opts for p in command.params):
        return False
    given = list(args)
    given = given[given.index(command.name) + 1 :] if command.name in given else given
    given = given[: given.index("--")] if "--" in given else given
    return "--json" in given and not HELP_FLAGS & set(given)


def json_only(args: Sequence[str]) -> AbstractContextManager[None]:
    """Under ``--json``, stdout holds the JSON answer alone, whatever the command's work writes to
    it (docs/json.md): one rule for every command, here rather than in each."""
    return stdout_for_json_only() if asks_for_json(args) else nullcontext()


def greedy_note(exc: click.ClickException, args: Sequence[str]) -> str:
    """For an argument missing from a command line that gives ``--exclude`` or ``--classes``: it
    takes every word after it, so ``objrec split SRC --exclude A OUT`` took OUT as a class to leave
    out."""
    param = getattr(exc, "param", None)
    if not isinstance(exc, click.MissingParameter) or not isinstance(param, click.Argument):
        return ""
    flag = next((arg for arg in reversed(args) if arg in GREEDY_OPTIONS), None)  # the last
    if flag is None:
        return ""
    name = param.human_readable_name
    return f"; {flag} takes every word after it up to the next option: give {name} before {flag}"


def short_values_note(exc: click.ClickException, args: Sequence[str]) -> str:
    """For an option of several values given too few (``--ratios 0.5 0.5 --dry-run``): click
    took the next option as its last value and said only "'--dry-run' is not a number"."""
    param = getattr(exc, "param", None)
    if not isinstance(exc, click.BadParameter) or not isinstance(param, click.Option):
        return ""
    if param.nargs < 2:
        return ""
    at = next((n for n, arg in enumerate(args) if arg in param.opts), None)
    if at is None:
        return ""
    taken = list(args[at + 1 : at + 1 + param.nargs])
    word = next((w for w in taken if w.startswith("--")), None)
    if word is None:
        return ""
    return (
        f"; {args[at]} takes {param.nargs} values and was given {taken.index(word)}, so it took "
        f"{word} as one: give all {param.nargs}"
    )


def dash_file_note(exc: click.ClickException, args: Sequence[str]) -> str:
    """For an unknown option that is a file here (``-photo5.jpg``, as a camera or an editor may
    name a copy): click reads it as options and says "no such option '-p'", never that it took
    the file for them."""
    if not isinstance(exc, click.NoSuchOption):
        return ""
    before = args[: args.index("--")] if "--" in args else args
    name = next((a for a in before if a.startswith("-") and os.path.lexists(a)), None)
    if name is None:
        return ""
    return f"; {name} is a file here, read as options: give it as ./{name}, or put -- before it"


def run_command(
    args: list[str], typed: Sequence[str] | None = None, caught: Sequence[int] = ()
) -> int:
    """Run the command line ``args``; errors and interruptions become a sentence and a code. A
    ``--json`` answer is written to stdout as the command ends (:func:`json_only`), where stdout
    may refuse it (a full disk): said as the command's own refusals are; a closed pipe (``objrec
    check X --json | head -c 1``) ends it as a shell says it, :data:`output.CLOSED_PIPE`.
    ``typed``: the command line as given, before ``--exclude A B`` became ``--exclude A
    --exclude B`` (``options.command_line``); ``caught``: the signals that stopped it."""
    refused = refused_under_torchrun(args) or refused_without_file_locks(args)
    if refused is not None:
        return refused
    try:
        with json_only(args):
            return command_code(args, typed, caught)
    except BrokenPipeError as exc:
        return broken_pipe(exc)
    except OSError as exc:
        return refused_by_os(exc, args)


def refused_under_torchrun(args: Sequence[str]) -> int | None:
    """Under torchrun with several processes, a command other than ``train`` is refused as a
    usage error (2), said by rank 0 alone: every rank ran the whole command (``evaluate`` printed
    its results twice and both ranks wrote the same files at once). One process (``WORLD_SIZE``
    1) runs it, as it would alone. The sentence names the variables it went by, which a shell
    may hold without torchrun (a Kubeflow pod sets them for every process). None: it runs."""
    command = invoked_command(args)
    if command is None or command.name == "train" or not under_torchrun():
        return None
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return None
    if HELP_FLAGS & set(args):
        return None
    if is_main_rank():
        err.print(
            f"[red]error:[/] objrec {command.name} runs in one process, not under torchrun: run "
            f"it as objrec {command.name} ...; only objrec train shares its work among "
            "torchrun's processes (WORLD_SIZE and MASTER_ADDR are set: unset them where "
            "torchrun did not start objrec)",
            highlight=False,
        )
    return 2


NO_FILE_LOCKS = (
    "objrec needs POSIX file locks (Python's fcntl module), which this system lacks: it runs on "
    "Linux and macOS; on Windows, run it in WSL (the Windows Subsystem for Linux)"
)


def refused_without_file_locks(args: Sequence[str]) -> int | None:
    """A command is refused in one sentence (:data:`NO_FILE_LOCKS`, exit 1) where Python has no
    ``fcntl`` (Windows): the feature store, a run, a split and the ONNX cache are locked with it,
    and every command failed there with a traceback ending in ``No module named 'fcntl'``.
    ``--help`` and ``--version`` still answer. None: it runs."""
    if invoked_command(args) is None or HELP_FLAGS & set(args):
        return None
    if importlib.util.find_spec("fcntl") is not None:
        return None
    print_error(NO_FILE_LOCKS)
    return 1


def broken_pipe(exc: BrokenPipeError | PipeBroke) -> int:
    """A broken pipe (carried past click's ``main``, or met outside it): stdout's (its reader
    gone, ``objrec check X | head -1``) ends the command as a shell says it,
    :data:`output.CLOSED_PIPE`, saying nothing (no one reads it); another's (a process or
    connection the command wrote to went away) is an error, said in one sentence that names where
    it broke (exit 1), never taken for the output's reader gone."""
    if reader_gone(sys.stdout):
        silence(sys.stdout)
        return CLOSED_PIPE
    error = exc.error if isinstance(exc, PipeBroke) else exc
    logging.getLogger("objrec").debug("a pipe broke", exc_info=error)
    print_error(broken_pipe_sentence(error))
    return 1


def broken_pipe_sentence(exc: BrokenPipeError) -> str:
    """A broken pipe that is not stdout's in one sentence: the file it names, if any, and the
    innermost of objrec's functions it broke in (``-vv`` logs the whole trace)."""
    package = Path(__file__).resolve().parents[1]
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(package)]
    place = Path(ours[-1].filename).resolve().relative_to(package.parent) if ours else None
    where = f" in {place.as_posix()} ({ours[-1].name})" if place is not None else ""
    named = f" to {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
    return (
        f"a pipe{named} broke{where}: the process or connection reading it went away "
        f"({os_error_sentence(exc)}), not the reader of objrec's output"
    )


def refused_by_os(exc: OSError, args: Sequence[str] = ()) -> int:
    """The file system refused (a folder objrec may not read, a full disk): said, exit 1."""
    logging.getLogger("objrec").debug("the operating system refused", exc_info=True)
    said = full_disk_sentence(exc, args) if exc.errno in FULL_DISK else None
    print_error(said or os_error_sentence(exc))
    return 1


def full_disk_sentence(exc: OSError, args: Sequence[str]) -> str | None:
    """A full disk (or quota) met writing an output of the command line ``args``, in the words of
    train's (``errors.full_disk_words``) and what to do: the option whose path holds the refused
    file named (not a hidden marker file, ``ev/.objrec-output: no space left on device``, which
    says nothing of what to do). None: no file named."""
    if exc.filename is None:
        return None
    refused = Path(os.fsdecode(exc.filename))
    marker = refused.name == MARKER  # an output folder's marker: the folder is what was asked
    refused = refused.parent if marker else refused
    folder = refused if marker else refused.parent
    given = given_path(args, refused)
    then = f", or give {given[0]} a place on a disk with room" if given else ""
    return f"{full_disk_words(exc, folder, refused)}: free some space on that disk{then}"


def given_path(args: Sequence[str], refused: Path) -> tuple[str, str] | None:
    """The path option of ``args`` (``--out ev``, ``--csv=p.csv``) whose path is ``refused`` or
    holds it, and that path as given; None when none does. The command line is read by click's
    own parser for the command, which knows the options that take no value (``--json``,
    ``--force``) and how many each takes: ``--json RUN`` gives --json no path."""
    given = given_values(args)
    refused = Path(os.path.abspath(refused))
    for param, value in given:
        path = Path(os.path.abspath(value))
        if refused == path or path in refused.parents:
            return param.opts[0], value
    return None


def given_values(args: Sequence[str]) -> list[tuple[click.Option, str]]:
    """Each path the command line ``args`` gives an option of its command (one of ``multiple``
    or ``nargs`` options' several), as given; none where it names no command or does not
    parse."""
    command = invoked_command(args)
    if command is None or command.name is None:
        return []
    after = list(args)[list(args).index(command.name) + 1 :]
    ctx = click.Context(command, info_name=command.name, resilient_parsing=True)
    try:
        values = command.make_parser(ctx).parse_args(after)[0]
    except click.UsageError:
        return []
    options = [p for p in command.params if isinstance(p, click.Option)]
    paths = [p for p in options if isinstance(p.type, click.Path) and not p.is_flag]
    given = [(p, values.get(p.name)) for p in paths]
    return [
        (param, value)
        for param, found in given
        for value in (found if isinstance(found, (list, tuple)) else [found])
        if isinstance(value, str) and value
    ]


FROM_THE_COMMAND_LINE = (
    click.NoSuchOption,
    click.BadOptionUsage,
    click.BadArgumentUsage,
    click.MissingParameter,
)
"""Usage errors that the command line alone makes (as a plain ``click.UsageError``: an unknown
command, an extra argument, options that do not go together), the same on every torchrun rank;
a bad value (``click.BadParameter``: a folder missing on one machine) may be one rank's own."""


def refused(exc: ObjrecError, args: Sequence[str]) -> int:
    """The library's refusal said in the command's words (``messages.to_cli``), and its exit
    code: 1, or 2 for how the command was called (``errors.UsageRefused``: an output inside the
    folder it reads), which ends as click's usage errors do, with where help is."""
    command = invoked_command(args)
    said = to_cli(str(exc), command, exc.values)
    usage = isinstance(exc, UsageRefused)
    if usage and command is not None:
        said += f" (see objrec {command.name} --help)"
    print_error(said)
    return 2 if usage else 1


def usage_error(exc: click.ClickException, args: Sequence[str]) -> int:
    """A usage error said, and its exit code. Under torchrun one the command line alone makes
    (:data:`FROM_THE_COMMAND_LINE`) is said by rank 0 alone: every rank has the same command line,
    and its error came once a rank. Any other is said by each rank (``print_error``)."""
    same = isinstance(exc, FROM_THE_COMMAND_LINE) or type(exc) is click.UsageError
    if is_main_rank() or not same:
        note = greedy_note(exc, args) + dash_file_note(exc, args) + short_values_note(exc, args)
        command = invoked_command(args)
        named = f"objrec {command.name}" if command is not None else None
        print_error(usage_sentence(exc, named, note))
    return exc.exit_code


def said_interrupted(
    exc: Interrupted | None, args: Sequence[str], caught: Sequence[int] = ()
) -> int:
    """Ctrl-C said, and its exit code: how far the command's progress got, then what its work
    left (``errors.ctrl_c_leaves``), or all that train or demo said of themselves. Stopped
    outside the library's work (``exc`` None: click's ``Abort``) before any progress (checking
    its options) or as it loaded its libraries, it had written nothing; later (printing what it
    wrote), it may have written all, and says only how far it got."""
    CTRL_C.wait_said()
    began = PROGRESS.going or PROGRESS.ended
    if (exc is not None and exc.left is None) or (exc is not None and not began):
        text = str(exc)
    else:
        nothing = "nothing was written" if PROGRESS.wrote_nothing() else None
        left = exc.left if exc is not None else nothing
        text = f"interrupted {PROGRESS.where()}" + (f": {left}" if left else "")
    if signal.SIGTERM in caught and under_torchrun():
        text = stopped_by_torchrun(text)
    values = {} if exc is None else exc.values
    message = escape(to_cli(text, invoked_command(args), values))
    err.print(f"[yellow]{message}[/]", highlight=False)
    return INTERRUPTED


def stopped_by_torchrun(text: str) -> str:
    """An interruption's sentence ``text`` for a torchrun process its agent stopped (SIGTERM):
    "interrupted before its work began: nothing was written", said by rank 0 under another
    rank's error, would read as a Ctrl-C."""
    head = (
        "stopped by torchrun (another of its processes failed, its error above, or torchrun "
        "itself was stopped)"
    )
    return (
        head + text.removeprefix("interrupted")
        if text.startswith("interrupted ")
        else (f"{head}: {text}")
    )


MEMORY_OPTIONS = ("batch_size", "heads", "hidden", "aug_views")
"""The options whose lower values need less memory (train's: the head's batch, how many heads and
how wide, the views of each training image kept)."""


def said_failed(exc: Exception, args: Sequence[str], typed: Sequence[str]) -> int:
    """An error no command said itself: memory that ran out (:func:`said_out_of_memory`), or
    a bug (:func:`said_unexpected`)."""
    if is_out_of_memory(exc):
        return said_out_of_memory(exc, args)
    return said_unexpected(exc, args, typed)


def said_out_of_memory(exc: Exception, args: Sequence[str]) -> int:
    """Memory that ran out, in one sentence naming the options that need less of it, exit 1, not
    "an error objrec did not expect, a bug"; ``-v`` logs the trace."""
    logging.getLogger("objrec").debug("out of memory", exc_info=exc)
    command = invoked_command(args)
    named = "objrec" + (f" {command.name}" if command is not None else "")
    given = {p.name for p in command.params} if command is not None else set()
    lower = [f"--{name.replace('_', '-')}" for name in MEMORY_OPTIONS if name in given]
    where = "the GPU's memory" if "CUDA" in str(exc) else "memory"
    some = ", ".join(lower[:-1]) + " or " + lower[-1] if len(lower) > 1 else "".join(lower)
    mend = f"lower {some}, or close other programs" if lower else "close other programs"
    print_error(f"{named} ran out of {where} ({asked_for(exc)}): {mend}")
    return 1


def asked_for(exc: Exception) -> str:
    """How much an allocation that failed asked for (``an allocation of 3.7 GiB failed``), from
    PyTorch's words (``you tried to allocate 4000000000 bytes``, ``Tried to allocate 2.00 GiB``);
    the error's first line when they say none."""
    found = re.search(r"tried to allocate ([\d.]+) ?(bytes|[KMGT]iB)", str(exc), re.I)
    if found is None:
        return unexpected_error(exc)
    size, unit = float(found[1]), found[2]
    if unit.lower() == "bytes":
        size, unit = (size / 2**30, "GiB") if size >= 2**30 else (size / 2**20, "MiB")
    return f"an allocation of {size:.1f} {unit} failed"


def said_unexpected(exc: Exception, args: Sequence[str], typed: Sequence[str]) -> int:
    """An error objrec did not expect, a bug (numpy's "Singular matrix" in a figure), said in one
    sentence, exit 1: which command failed, on what, and the file its full trace went to
    (:func:`written_trace`; ``-v`` prints it here too), where a raw traceback of 60 lines, click's
    own frames among them, said none of that. ``typed``: the command line, for the report."""
    trace = "".join(traceback.format_exception(exc))
    if verbosity(args):
        err.print(trace, markup=False, highlight=False, end="")
    command = invoked_command(args)
    named = "objrec" + (f" {command.name}" if command is not None else "")
    print_error(
        printable(
            f"{named} stopped on an error objrec did not expect, a bug: "
            f"{unexpected_error(exc)}; {written_trace(trace, typed)}"
        )
    )
    return 1


def verbosity(args: Sequence[str]) -> int:
    """How many ``-v`` the command line gives objrec (before its command's name, where
    :func:`own_options_first` moved those given after it)."""
    command = invoked_command(args)
    given = list(args)
    before = given[: given.index(command.name)] if command and command.name else given
    flags = [a for a in before if a == "--verbose" or (a[:2] == "-v" and set(a[1:]) == {"v"})]
    return sum(1 if a == "--verbose" else len(a) - 1 for a in flags)


def written_trace(trace: str, typed: Sequence[str]) -> str:
    """Where the full ``trace`` of a bug was written, with the command line and the versions that
    a report of it needs (a new file in the temporary folder, the user's files untouched), said
    as the end of its sentence."""
    header = (
        f"objrec {__version__}, Python {sys.version.split()[0]}, {sys.platform}\n"
        f"command: objrec {shlex.join(typed)}\n\n"
    )
    try:
        handle, name = tempfile.mkstemp(prefix="objrec-error-", suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8", errors="backslashreplace") as file:
            file.write(header + trace)
    except OSError as exc:
        return f"its trace could not be written ({os_error_sentence(exc)}): -v prints it"
    return f"its full trace is in {name}: please report it with that file (-v prints it too)"


def command_code(
    args: list[str], typed: Sequence[str] | None = None, caught: Sequence[int] = ()
) -> int:
    """The exit code of the command line ``args``, its errors and interruptions said; ``typed``
    (``args`` as given) is the commands' ``options.command_line``."""
    PROGRESS.reset()
    notes.quiet = False  # until the group's -q says otherwise
    try:
        obj = list(args if typed is None else typed)
        refuse_bare_greedy(args, invoked_command(args))
        cli.main(args=args, prog_name="objrec", standalone_mode=False, obj=obj)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:  # `objrec` alone asks what there is
        console.print(exc.ctx.get_help(), markup=False, highlight=False)
        return 0
    except click.ClickException as exc:
        return usage_error(exc, args)
    except (click.exceptions.Abort, KeyboardInterrupt):  # Ctrl-C outside the library's work
        return said_interrupted(None, args, caught)
    except Interrupted as exc:
        return said_interrupted(exc, args, caught)
    except ObjrecError as exc:
        return refused(exc, args)
    except (PipeBroke, BrokenPipeError) as exc:
        return broken_pipe(exc)
    except OSError as exc:
        return refused_by_os(exc, args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0

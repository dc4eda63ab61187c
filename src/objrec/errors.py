"""The one exception type the CLI turns into a clear sentence and a non-zero exit, and the one
way a long command answers Ctrl-C (:func:`on_ctrl_c`)."""

import contextlib
import errno
import functools
import inspect
import itertools
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class ObjrecError(Exception):
    """A user-facing error: bad input, a missing file, a mismatch. The message is one sentence.

    It names parameters as the Python API spells them, in backticks (`force=True`, `epochs`); the
    CLI shows the same sentence with its own spelling of each (--force, --epochs, RUN), so a Python
    caller never reads a flag and a person at the shell never reads a keyword argument.

    ``values`` gives the value an option would take at the shell where the API names a switch:
    `resume=True` with ``values={"resume": "runs/a"}`` reads ``--resume runs/a`` in the CLI.
    """

    def __init__(self, message: str = "", values: dict[str, str] | None = None):
        super().__init__(message)
        self.values = dict(values or {})


class UsageRefused(ObjrecError):
    """A refusal of how a command was called, decided from the paths it was given alone: an
    output inside the folder it reads (``outputs.refuse_inside``), or one holding it; two
    arguments given in each other's place (``evaluate DATA RUN``). The CLI
    says it as it says a usage error, exit status 2 (docs/json.md), as it says an output below a
    file; from Python it is an :class:`ObjrecError` as any other."""


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


FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
"""The errors of a full disk, or of a quota reached: more room mends them."""


def full_disk_words(
    stop: OSError, folder: str | os.PathLike[str], refused: str | os.PathLike[str] | None = None
) -> str:
    """How a full disk (or quota) met writing in ``folder`` begins, whoever met it (a run folder,
    an evaluation's, a table): ``the disk of ev is full: ev/metrics.json could not be written (no
    space left on device)``; ``refused``: the file to name, where not ``stop``'s own."""
    reason = (stop.strerror or "no space left").lower()
    named = os.fsdecode(refused if refused is not None else stop.filename or folder)
    return f"the disk of {folder} is full: {named} could not be written ({reason})"


OUT_OF_MEMORY = re.compile(r"out of memory|can't allocate memory|cannot allocate memory", re.I)
"""What PyTorch says when an allocation fails: ``CUDA out of memory. Tried to allocate 2.00
GiB``, or on the CPU ``DefaultCPUAllocator: can't allocate memory: you tried to allocate 4000000
bytes`` (a RuntimeError; NumPy raises MemoryError)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed: the machine's (or the GPU's) memory is
    short, which a smaller setting or fewer other programs mend, not a bug."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and OUT_OF_MEMORY.search(str(exc)) is not None


def unexpected_error(exc: BaseException) -> str:
    """An error objrec did not expect (a bug), in one line: its kind and its first line
    (``LinAlgError: Singular matrix``), for a sentence that says what failed."""
    words = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {words[0]}" if words else type(exc).__name__


LOGGED_VALUES = "objrec_values"
"""The attribute of a logged record (``extra={LOGGED_VALUES: values}``) holding its ``values``, as
an ObjrecError's: the CLI spells `resume=True` in a warning with them too. ``launched``
(``alone`` or ``torchrun``, with ``WORLD_SIZE`` and ``LOCAL_WORLD_SIZE``) says how a command the
sentence gives is launched, when not as this one was."""


def strict_refusal(folder: object, problems: list[str]) -> ObjrecError:
    """The one wording of ``strict=True``'s error (``split`` and ``train``): the folder refused and
    its problems, each naming its first files and counting the rest."""
    return ObjrecError(f"`strict=True` refuses {folder}: " + "; ".join(problems))


class Interrupted(ObjrecError):
    """Ctrl-C during a long job, after its work so far was saved; the message says how to go on.

    ``summary``: a train stopped in the head's epochs, the run's summary.json as it was written
    then (``finished`` False), which ``train --json`` prints; None when none was written."""

    def __init__(
        self,
        message: str = "",
        values: dict[str, str] | None = None,
        summary: dict[str, Any] | None = None,
        left: str | None = None,
    ):
        super().__init__(message, values)
        self.summary = summary
        self.left = left
        """What :func:`on_ctrl_c` was told the work left (``message`` is "interrupted: " and it),
        which the CLI says after how far the command's progress got; None: ``message`` says it
        all (train's, predict's)."""


@contextlib.contextmanager
def ctrl_c_leaves(left: Callable[[], str]) -> Iterator[None]:
    """Ctrl-C (KeyboardInterrupt; SIGTERM too, under the CLI) in the block raises
    :class:`Interrupted` saying ``left()``: what the work had written, what it left as it was,
    how to go on ("nothing was written to data: run it again"). The CLI says it after how far the
    progress got ("interrupted at reading images (1,104 of 1,515 done): ...")."""
    try:
        yield
    except KeyboardInterrupt:
        said = left()
        raise Interrupted(f"interrupted: {said}", left=said) from None


def on_ctrl_c(left: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: Ctrl-C during the function says ``left`` (:func:`ctrl_c_leaves`), filled in
    with the call's arguments by name (``"nothing was written to {out}: run it again"``)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            with ctrl_c_leaves(lambda: left.format(**bound.arguments)):
                return function(*args, **kwargs)

        return call

    return decorate


class WorkInHand:
    """What a stop may cut short (an engine's batch, ONNX Runtime's or OpenVINO's, run in C
    where Python's Ctrl-C handler waits for it to end: 4 to 17 s a calibration batch of the int8
    copy, 10 s a batch of features, on a busy machine), told to end now by :meth:`stop`, which
    the CLI calls the moment Ctrl-C comes, from a thread of its own; Python's handler then raises
    KeyboardInterrupt as the cut work returns. Without the CLI nothing calls it: a Python
    caller's Ctrl-C waits for the batch, as before."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cancels: dict[int, Callable[[], object]] = {}
        self.keys = itertools.count()
        self.stopping = threading.Event()
        """Set by :meth:`stop` until :meth:`reset`: a thread that would wait for work a stop
        abandons (``loaders.prefetch``'s decoding) need not."""

    def reset(self) -> None:
        """No stop asked for: a new command begins."""
        self.stopping.clear()

    @contextlib.contextmanager
    def cut_by(self, cancel: Callable[[], object]) -> Iterator[None]:
        """``cancel()`` ends the work the block runs, should a stop come while it runs."""
        with self.lock:
            key = next(self.keys)
            self.cancels[key] = cancel
        try:
            yield
        finally:
            with self.lock:
                del self.cancels[key]

    def stop(self) -> None:
        """Cut short the work in hand: each block's ``cancel``, any thread."""
        self.stopping.set()
        with self.lock:
            cancels = list(self.cancels.values())
        for cancel in cancels:
            with contextlib.suppress(Exception):  # an engine already done with its batch
                cancel()


WORK_IN_HAND = WorkInHand()
"""The process's work a Ctrl-C cuts short (:class:`WorkInHand`)."""


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM"))


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back while the block runs (an epoch's end: its record, the saver's
    copy of it, its line; the renames that put a command's files in place together), then
    handled as they would have been, so that a stop never lands between an epoch's line and its
    record: ``train`` would print "epoch 11 ... best" and then "interrupted after epoch 10", the
    stop having come before the saver copied epoch 11. Python runs signal handlers in the main
    thread only, so elsewhere the block runs as it is; a thread mask would not do, as another
    thread (torch's) may take the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    before = {signum: signal.signal(signum, lambda n, _: came.append(n)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in came[:1]:
            handle_signal(signum, before[signum])


def handle_signal(signum: int, handler: Any) -> None:
    """What ``handler`` (as ``signal.signal`` returned it) does with ``signum``: calls it, sends
    the signal again for its default, or nothing when it is ignored."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)

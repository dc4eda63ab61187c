"""What several server processes (``serve``'s ``workers``) need beyond one: the settings checked
by loading the model once, in a spawned process deaf to Ctrl-C, before any worker starts
(uvicorn's supervisor restarts a worker that dies while starting, forever); the logging set-up
handed to each new process; the uploads they answered and refused, summed once they have
stopped (``objrec serve``'s last line)."""

from __future__ import annotations

import json
import logging
import logging.config
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict
from pathlib import Path
from traceback import format_exception
from typing import Any

from objrec.errors import ObjrecError
from objrec.serve.model import loaded_words
from objrec.serve.uploads import UploadCounts

log = logging.getLogger(__name__)

WORKER_LOGGING = "OBJREC_SERVE_LOGGING"
"""The environment variable that holds the logging set-up of ``serve.server.serve``'s workers
(JSON)."""

WORKER_COUNTS = "OBJREC_SERVE_COUNTS"
"""The environment variable naming the folder each of ``serve.server.serve``'s workers writes its
upload counts to (:func:`counted_across_workers`)."""


def set_up_worker_logging() -> None:
    """The logging set-up ``serve.server.serve`` hands its new processes in the environment
    (:data:`WORKER_LOGGING`), when it was given one."""
    if os.environ.get(WORKER_LOGGING):
        logging.config.dictConfig(json.loads(os.environ[WORKER_LOGGING]))


def check_settings(
    run: Path, runtime: str | None, device: str, threshold: float | None, unknown: bool
) -> tuple[str, str]:
    """Load the model once as each worker will (device, runtime, threshold, the checkpoint),
    so that a setting a worker would fail on is refused here, in one sentence: uvicorn's
    supervisor restarts a worker that dies while starting, forever, each with a traceback. The
    ONNX model a worker runs is exported here too, once, rather than by each worker at once.
    Returns what runs the model and why (``serve.model.start_words``); the workers load their own.

    It loads in a process of its own, started as uvicorn starts the workers (spawned: a fork of
    a process that has run PyTorch may hang), which ends once it has: the process that goes on
    to watch the workers kept what loading took otherwise (a default 10-class run: 0.82 GiB
    against 0.54 GiB for its imports; freeing the model gave back 0.11 GiB of it). Ctrl-C is
    this process's to answer: it stops that one at once, which never sees it (no traceback)."""
    spawned = multiprocessing.get_context("spawn")
    answer, sending = spawned.Pipe(duplex=False)
    checker = spawned.Process(
        target=send_loaded_words,
        args=(sending, Path(run), runtime, device, threshold, unknown),
        name="objrec-serve-check",
        daemon=True,
    )
    try:
        start_deaf_to_ctrl_c(checker)
        sending.close()
        words = answer.recv()
    except EOFError:
        words = RuntimeError(f"the process loading the model ended ({checker.exitcode})")
    finally:
        if checker.pid is not None:  # at once on Ctrl-C; else it has sent all it had to
            checker.terminate()
            checker.join()
    if isinstance(words, Exception):
        raise words
    return words


def start_deaf_to_ctrl_c(process: Any) -> None:
    """Start a spawned ``process`` with SIGINT held back (it inherits the mask: Ctrl-C never
    comes, not even while its interpreter starts, which printed a fatal error and a traceback).
    multiprocessing's resource tracker is started first: its own start unblocks SIGINT in this
    thread when done (CPython's fix of bpo-33613), which let the signal through to a process
    started in the same block."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    with ctrl_c_deferred(), signals_blocked([signal.SIGINT]):
        process.start()


@contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """A Ctrl-C while the block runs is answered when it ends, by the handler before it (Python's
    KeyboardInterrupt, or the CLI's, which notes it first), not in its middle: one raised between
    a spawned process's start and the data it is sent (its target, its arguments) left that
    process reading a closed pipe, which printed its EOFError traceback under 'interrupted'
    (seen in CI on a quiet machine). Only in the main thread, where Python answers signals, and
    where a handler answers Ctrl-C (not ignored, as in a job started in the background)."""
    before = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(before):
        yield
        return
    came: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
    if came:
        before(signal.SIGINT, None)


@contextmanager
def signals_blocked(signals: Sequence[int]) -> Iterator[None]:
    """``signals`` held back while the block runs (in this thread, and in a process it starts),
    then delivered if they came meanwhile. Where signals cannot be held back (Windows), as
    they come."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def send_loaded_words(
    sending: Any,
    run: Path,
    runtime: str | None,
    device: str,
    threshold: float | None,
    unknown: bool,
) -> None:
    """:func:`check_settings`'s work, in the process it starts: the model of ``run`` loaded as a
    worker loads it, and what runs it and why sent back (``serve.model.loaded_words``), or why it
    could not be (an unexpected failure with its traceback, for the log)."""
    set_up_worker_logging()
    try:
        words: Any = loaded_words(run, runtime, device, threshold, unknown)
    except ObjrecError as exc:
        words = exc
    except Exception as exc:
        words = RuntimeError(f"loading the model failed: {''.join(format_exception(exc))}")
    sending.send(words)


@contextmanager
def counted_across_workers() -> Iterator[Callable[[], UploadCounts]]:
    """The uploads several server processes answered and refused, summed by the function yielded
    once they have stopped: each writes its own into a temporary folder made here and named in
    the environment (:data:`WORKER_COUNTS`) as its app starts and again as it stops
    (:func:`counting_until_stopped`); one that never wrote the second (killed, or stopped twice,
    which skips its shutdown) is counted as ``uncounted``. The folder and the variable are
    removed when the block ends, however it ends."""
    folder = Path(tempfile.mkdtemp(prefix="objrec-serve-counts-"))
    os.environ[WORKER_COUNTS] = str(folder)
    try:
        yield lambda: summed_counts(folder)
    finally:
        os.environ.pop(WORKER_COUNTS, None)
        shutil.rmtree(folder, ignore_errors=True)


def summed_counts(folder: Path) -> UploadCounts:
    """The counts the server processes wrote into ``folder``; a file still empty (its process
    started, never said its counts) adds one ``uncounted``."""
    total = UploadCounts()
    for path in sorted(folder.glob("*.json")):
        try:
            said = json.loads(path.read_text(encoding="utf-8") or "null")
            total += UploadCounts(uncounted=1) if said is None else UploadCounts(**said)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("a server process's upload counts could not be read (%s): %s", path, exc)
            total += UploadCounts(uncounted=1)
    return total


def counting_until_stopped(app: Any) -> Any:
    """``app``, a worker's, writing its upload counts (``app.state.uploads``) into
    :func:`counted_across_workers`'s folder as it stops: its lifespan's end, once uvicorn has
    answered every request it had taken. Nothing changes outside such a folder's worker."""
    folder = os.environ.get(WORKER_COUNTS)
    if not folder:
        return app
    running = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        handle, name = tempfile.mkstemp(suffix=".json", dir=folder)  # empty: started
        os.close(handle)
        async with running(app):
            yield
        Path(name).write_text(json.dumps(asdict(app.state.uploads)), encoding="utf-8")

    app.router.lifespan_context = lifespan
    return app

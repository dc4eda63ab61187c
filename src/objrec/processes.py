"""Work on many image files in worker processes, one per core: ``split``'s and ``audit``'s image
facts (``image_facts.all_facts``), a first ``check``'s decodes (``check_decodes.decoded``). The
results come in the files' order, each worker's warnings (damaged EXIF data) logged by the
caller, once per file.

Not on threads: an image's short Pillow and NumPy calls each give the GIL back and take it
again, and 4 threads on 2 cores took 7.0 ms an image of facts against 3.9 ms on one
(``benchmarks/README.md``). Where no process can be started, the work is done in the caller.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from objrec.cores import usable_cores
from objrec.warned import HeldWarning, held_warnings, warn_once
from objrec.words import plural

log = logging.getLogger(__name__)

R = TypeVar("R")

PROCESS_MIN = 200
"""The fewest files worked on in worker processes, fewer in the caller's: starting the workers
takes about as long as measuring the image facts of 100 images."""
MAX_WORKERS = 8

_work: Callable[[Path], Any] | None = None
"""In a worker: what it does to each file (set when it starts, :func:`_start_worker`)."""


def each_file(
    work: Callable[[Path], R],
    paths: Sequence[Path],
    on_file: Callable[[], None] | None = None,
    *,
    workers: int | None = None,
    doing: str = "reading images",
) -> list[R]:
    """``work(path)`` of every path, in order: in worker processes, one per core (``workers`` at
    most), when there are ``PROCESS_MIN`` or more, else here (also where no process can be
    started); ``on_file()`` after each. ``doing``: what a worker does, for the warning that one
    ended abruptly. ``work`` is handed to forked workers as it is, never pickled (a lambda will
    do); its results travel back pickled."""
    workers = min(workers or usable_cores(), MAX_WORKERS)
    if workers > 1 and len(paths) >= PROCESS_MIN:
        found = in_processes(work, paths, on_file, workers, doing)
        if found is not None:
            return found
    return here(work, paths, on_file)


def here(
    work: Callable[[Path], R], paths: Sequence[Path], on_file: Callable[[], None] | None
) -> list[R]:
    """``work`` of every path, in this process."""
    results = []
    for path in paths:
        results.append(work(path))
        if on_file:
            on_file()
    return results


def in_processes(
    work: Callable[[Path], R],
    paths: Sequence[Path],
    on_file: Callable[[], None] | None,
    workers: int,
    doing: str,
) -> list[R] | None:
    """:func:`each_file` on ``workers`` forked processes, or None when they cannot be started.

    Forked, as PyTorch's data loaders are: a fork server or a spawned worker would import the
    caller's ``__main__`` again (the CLI, PyTorch with it, in each worker; a script without the
    ``if __name__ == "__main__"`` guard, over again). A worker only decodes and hashes, so the
    locks of the caller's other threads (PyTorch's) are never needed there. On Linux only: macOS
    makes spawn the default because a forked child of a process that used its system frameworks
    may crash (Python's multiprocessing docs), and Windows cannot fork. A worker that dies (the
    out-of-memory killer, a ``kill``) breaks the pool: the files it had not sent back are
    worked on here, with a warning."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    if sys.platform != "linux":
        return None
    context = multiprocessing.get_context("fork")
    try:  # forked: ``work`` reaches the workers as it is
        pool = ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(work,))
    except OSError as exc:  # no semaphores here (a sandbox): worked on in this process
        log.debug("%s in this process: no worker process (%s)", doing, exc)
        return None
    results: list[R] = []
    with pool:
        try:
            found = pool.map(_held_work, paths, chunksize=16)
        except OSError as exc:  # a process could not be started
            log.debug("%s in this process: no worker process (%s)", doing, exc)
            _end_started(pool)
            return None
        try:
            return _collect(found, pool, on_file, results)
        except BrokenProcessPool:
            log.warning(
                "a worker process %s ended abruptly (killed, or out of memory): the %s left "
                "are done in this process",
                doing,
                plural(len(paths) - len(results), "image"),
            )
    return results + here(work, paths[len(results) :], on_file)


def _end_started(pool) -> None:
    """End the workers ``pool`` started before one of them could not be: no manager thread
    ever tells them to stop, and at its exit the caller would wait for them forever
    (multiprocessing joins its children). The pool's own list of them is private."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
        process.join()


def _collect(found: Iterator, pool, on_file: Callable[[], None] | None, results: list) -> list:
    """The results ``found`` by the workers of ``pool``, appended to ``results`` (which keeps
    those sent before an error), their warnings logged here. Interrupted (Ctrl-C), the files not
    yet sent are dropped: the workers end after their last one."""
    try:
        for result, held in found:
            for kind, path, message, args in held:
                warn_once(kind, path, message, *args)
            results.append(result)
            if on_file:
                on_file()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    return results


def _start_worker(work: Callable[[Path], Any]) -> None:
    """In each worker: what it does to each file (``work``); Ctrl-C is the caller's to handle,
    and a worker whose caller is gone (killed) ends rather than waiting for work forever."""
    import signal
    import threading

    global _work
    _work = work
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    caller = os.getppid()

    def watch() -> None:
        while os.getppid() == caller:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _held_work(path: Path) -> tuple[Any, list[HeldWarning]]:
    """The worker's work on ``path``, with the warnings it gave, for the caller to log."""
    assert _work is not None
    with held_warnings() as held:
        return _work(path), held

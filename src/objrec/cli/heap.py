"""The garbage collector in a process that the CLI owns (``objrec ...``, ``python -m objrec``).

A command imports hundreds of thousands of Python objects that live until the process ends
(torch, scikit-learn, pandas, matplotlib: 470,000 in a warm ``train``). Python's full collections
walk every one of them again, and so does the collection at the interpreter's exit: 1.2 s of a
warm retrain's exit on the 100-class protocol, where nothing of that is garbage
(benchmarks/HISTORY.md, "The fixed costs of a warm retrain"). ``gc.freeze`` moves the objects alive
at that moment into a permanent generation that no collection walks; objects made later are
collected as before. Only the program itself freezes: ``main([...])`` called inside a
process that goes on (the tests, a notebook) leaves its garbage collector alone.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

_program = False
_done = False


def run_as_program(program: bool) -> None:
    """Whether the CLI runs as the program: ``main()`` reading ``sys.argv``, whose process exits
    when the command ends."""
    global _program
    _program = program


def is_program() -> bool:
    """Whether the CLI runs as the program (:func:`run_as_program`)."""
    return _program


def freeze_heap() -> None:
    """In the program only: every object alive now is left out of later collections (never freed
    before the exit, which frees everything), so that neither a full collection nor the exit
    walks it again."""
    if _program:
        gc.freeze()


@contextmanager
def imported_uncollected() -> Iterator[None]:
    """In the program only: no garbage collection while the block imports what the command
    runs on (PyTorch and the command's modules, which live until the process ends), then all
    of it frozen (:func:`freeze_heap`) and the collector on again. Importing them set off three
    full collections, each walking every object imported so far, none of it garbage: 0.14 s of
    a warm retrain (benchmarks/README.md, "A warm retrain's fixed costs, session 61"). A
    collector that is off already (the caller's) stays off; elsewhere the block runs as it is."""
    if not _program or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        freeze_heap()
        gc.enable()


def wrote_all() -> None:
    """The running command has written and said all it will: in the program, nothing is left
    for Python's teardown to do but free memory."""
    global _done
    _done = True


def end_program(code: int) -> None:
    """In the program, after a command that :func:`wrote_all`: exit with ``code`` as soon as its
    threads have ended, its exit handlers have run (logging's flush, weakref finalizers) and its
    output is flushed, skipping Python's teardown and the libraries' C++ destructors (torch's
    operator tables, OpenVINO's plugins): 0.25 of a warm retrain's 0.34 s after its last line
    (load 4-7). Elsewhere it returns, and the caller exits as usual."""
    shutdown = getattr(threading, "_shutdown", None)  # what Python's own exit runs first
    main = threading.current_thread() is threading.main_thread()
    if not (_program and _done and main and shutdown):
        return
    # Its threading exit calls first (they stop idle thread pools, whose workers a join alone
    # would wait for forever), then it waits for every thread that is not a daemon.
    shutdown()
    atexit._run_exitfuncs()
    with suppress(OSError, ValueError):  # a closed pipe: nothing more can be said there
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)

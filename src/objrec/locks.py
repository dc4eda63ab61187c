"""Advisory file locks: one objrec process at a time writes a folder (or the feature store), and
readers wait for writers.

:func:`locked` holds a folder's ``flock`` for a block (its :data:`LOCK_FILE`'s ``lockf`` where the
file system refuses that, unlocked and said once where it refuses both); :func:`take_lock` and
:func:`lock_exclusively` take one on an open file, :func:`held_elsewhere` asks whether another
process holds one; :func:`compiling_into` holds OpenVINO's compiled-graph folder while a compile
writes it (``runtime``) or a clear or prune removes from it (``cache``). The system lets a lock
go when its process ends however it ends, so a free lock tells a killed command's folder.
``fcntl`` is imported where a lock is taken: not on Windows, where objrec's CLI refuses to run
(``cli.NO_FILE_LOCKS``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def locked(
    folder: Path, wait: Callable[[], None] | None = None, shared: bool = False
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``folder`` for the block: the system releases it when the
    process ends however it ends, so a killed split's staging folder is told by its free lock.
    A split holds its output folder too while it writes there, as ``add`` does its data folder,
    and objrec an output folder while it updates its mark (:func:`record_output`). ``shared``:
    a shared one, to read the folder as no writer leaves it halfway (``train`` listing a split).
    ``wait()`` is called first when another process holds it. A file system refusing the
    folder's lock gets its :data:`LOCK_FILE`'s instead (:func:`_file_locked`).

    On NFS, Linux keeps a folder's ``flock`` to the machine that takes it (its folders have no
    lock of their own): the processes of one machine take turns, two machines' do not."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        refused = not _flocked(fd, mode, wait)
        file_lock = _file_locked(Path(folder), mode, wait) if refused else contextlib.nullcontext()
        with file_lock, _held_here(Path(folder)):
            yield
    finally:
        os.close(fd)


_HELD: Counter[str] = Counter()
"""The folders this process holds locked (:func:`locked`), by real path, and how many times."""
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def _held_here(folder: Path) -> Iterator[None]:
    """``folder`` counted as locked by this process for the block (:func:`holders`)."""
    key = os.path.realpath(folder)
    with _HELD_GUARD:
        _HELD[key] += 1
    try:
        yield
    finally:
        with _HELD_GUARD:
            _HELD[key] -= 1
            if not _HELD[key]:
                del _HELD[key]


def holders(folder: Path, many: bool = True) -> str:
    """Who a wait for ``folder``'s lock waits for, in words: ``other objrec processes``
    (``many``; else ``another objrec process``), or, where this process holds it already,
    ``another thread of this process``: a Python caller's two calls at once (a training beside
    a split of its folder) were told of another objrec process that was not there."""
    with _HELD_GUARD:
        here = os.path.realpath(folder) in _HELD
    if here:
        return "another thread of this process"
    return "other objrec processes" if many else "another objrec process"


def waiting_in(folder: Path) -> Callable[[], None]:
    """What a command writing its outputs into ``folder`` says, as a warning, before it waits for
    another objrec process holding the folder's lock (a split writing there, an audit or a
    train reading it, another command's outputs): it waited with nothing said, and looked hung.
    The CLI says split's and add's waits in the same words (``cli.output.waiting_line``)."""

    def wait() -> None:
        log.warning("waiting for %s to stop reading or writing %s", holders(folder), folder)

    return wait


LOCK_FILE = ".objrec-lock"
"""The file in a folder that :func:`locked` locks (a POSIX lock, ``lockf``, which NFS's lock
manager carries between machines) where the folder refuses ``flock``: made then, and kept (a
lock file removed while another process waits on it would let two in). Not the folder's
contents (:func:`own_contents`)."""


def _flocked(fd: int, mode: int, wait: Callable[[], None] | None) -> bool:
    """Whether ``flock`` ``mode`` was taken on ``fd`` (after waiting, ``wait()`` told); False where
    the file system refuses it."""
    try:
        take_lock(fd, mode, wait)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _file_locked(folder: Path, mode: int, wait: Callable[[], None] | None) -> Iterator[None]:
    """The block run holding ``folder``'s :data:`LOCK_FILE` locked with ``lockf`` in ``mode``
    (``wait()`` told first when another process holds it); where that is refused too, run
    unlocked, said once per folder (:func:`_say_unlocked`): it went on in silence, and two adds
    at once lost one's manifest rows. A POSIX lock is the process's: two threads share it."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        fd = -1
    try:
        if fd < 0 or not _lockf(fd, mode, wait):
            _say_unlocked(folder)
        yield
    finally:
        if fd >= 0:
            os.close(fd)  # lets go of the lock


def _lockf(fd: int, mode: int, wait: Callable[[], None] | None) -> bool:
    """Whether ``lockf`` ``mode`` was taken on ``fd``, waiting for another process's."""
    import fcntl

    try:
        try:
            fcntl.lockf(fd, mode | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: another process holds it
            if wait is not None:
                wait()
            fcntl.lockf(fd, mode)
    except OSError:
        return False
    return True


_UNLOCKED: set[str] = set()
"""The folders this process has said it writes into unlocked (:func:`_say_unlocked`)."""


def _say_unlocked(folder: Path) -> None:
    """Warn, once per folder, that its file system refuses every lock objrec takes."""
    if str(folder) in _UNLOCKED:
        return
    _UNLOCKED.add(str(folder))
    log.warning(
        "the file system of %s refuses file locks (flock and lockf): objrec goes on there "
        "unlocked, so run one command that writes into it at a time (two adds at once may lose "
        "one's manifest rows)",
        folder,
    )


def held_elsewhere(folder: Path, exclusive: bool = True) -> bool | None:
    """Whether another process holds an ``flock`` on ``folder`` that refuses one of ours, tried
    and let go at once (``exclusive``: any lock refuses it; else only an exclusive one does);
    None when that cannot be told (no such folder, no permission, a file system without flock)."""
    import fcntl  # not on Windows: objrec's CLI refuses to run there (cli.NO_FILE_LOCKS)

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # lets go of the lock, if taken
    return False


def lock_exclusively(lock, wait: Callable[[], None] | None) -> None:
    """Take ``lock`` (an open file, or its descriptor) exclusively; ``wait()`` is called first
    when another holds it."""
    import fcntl

    take_lock(lock, fcntl.LOCK_EX, wait)


def take_lock(lock, mode: int, wait: Callable[[], None] | None) -> None:
    """``flock`` ``lock`` in ``mode``; ``wait()`` is called first when that has to wait."""
    import fcntl

    try:
        fcntl.flock(lock, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        if wait is not None:
            wait()
        fcntl.flock(lock, mode)


COMPILE_WAIT = 60.0
"""Seconds a compile waits for another process compiling into the same cache folder before it
compiles without the cache."""


@contextlib.contextmanager
def compiling_into(
    folder: Path, wait: float = COMPILE_WAIT, waiting: Callable[[], None] | None = None
) -> Iterator[bool]:
    """Hold ``folder`` (an ``flock`` on the folder itself) while OpenVINO compiles into it; yields
    whether it is held (False after ``wait`` seconds of another process holding it).
    ``waiting()`` is called once, first, when another process holds it (``cache --prune`` says
    it waits).

    OpenVINO writes a compiled graph straight to its final name, with no lock between processes:
    under torchrun, or a ``predict`` beside a ``train``, a process could load a graph another is
    still writing, or have one mapped that another truncates to write it again. Held, the others
    wait (about 1.7 s for the three-body default), then load the graph rather than compile it."""
    import fcntl

    deadline = time.monotonic() + wait
    while True:
        folder.mkdir(parents=True, exist_ok=True)  # again, if ``objrec cache --clear`` removed it
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held: bool | None = held_folder(fd, folder)
        except BlockingIOError:
            held = None  # another process holds it
        except BaseException:
            os.close(fd)
            raise
        if held:
            break
        # closed before waiting, so that a Ctrl-C in ``waiting`` or the sleep leaks no descriptor:
        # lets go of the lock (or of a folder removed since: the new one is held next)
        os.close(fd)
        if held is None:
            if time.monotonic() >= deadline:
                yield False
                return
            if waiting is not None:
                waiting()
                waiting = None  # said once
            time.sleep(0.05)
    try:
        yield True
    finally:
        os.close(fd)


def held_folder(fd: int, folder: Path) -> bool:
    """Whether ``fd``, locked, is still ``folder``: a clear that held it first removes it, and
    the lock of a removed folder keeps no other process out of the new one."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(folder))
    except FileNotFoundError:
        return False

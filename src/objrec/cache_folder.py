"""The cache folder: where it is (``$OBJREC_CACHE``, :func:`default_cache_dir`; its feature store,
:func:`store_dir`), making it (:func:`make_cache_folder`), and what goes wrong in it said in one
sentence: an SQLite error of a database kept there (the feature store's index, the image facts:
:func:`database_error`), a full disk under it (:func:`full_cache_disk`); what objrec keeps there
by name, and a folder holding none of it refused as the cache folder
(:func:`refuse_foreign_folder`).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from objrec.errors import ObjrecError
from objrec.words import some_of

DAMAGED = {11, 26}
"""SQLite's primary result codes of a damaged database: SQLITE_CORRUPT, SQLITE_NOTADB."""
DISK = {10, 13}
"""... of a disk that failed or is full: SQLITE_IOERR, SQLITE_FULL."""
FULL = 13
"""SQLITE_FULL: "database or disk is full"."""
NEARLY_FULL = 64 << 20
"""Free bytes on the cache folder's disk under which SQLite's SQLITE_IOERR ("disk I/O error") is
said as the full disk it most likely is: SQLite reports a full disk so where it grows the
shared memory of a WAL index (``index.sqlite-shm``), not as SQLITE_FULL."""
BUSY = {5, 6}
"""... of a database another connection is using: SQLITE_BUSY, SQLITE_LOCKED."""
UNWRITABLE = {3, 8}
"""... of a database that cannot be written: SQLITE_PERM, SQLITE_READONLY."""
CANTOPEN = 14
MOVED = 1032
"""SQLite's extended code of a database whose file was removed or replaced while it was open
(SQLITE_READONLY_DBMOVED): ``objrec cache --clear`` beside a process using it, not permissions."""
SQLITE_BUGS = (sqlite3.ProgrammingError, sqlite3.InterfaceError)
"""SQLite errors of objrec's own mistakes (a closed connection, a wrong parameter): never turned
into advice about the file, they pass through as they are."""


FACTS_FILE = "facts.sqlite"
"""The facts store's file name in the cache folder (beside ``store/``; ``facts_store``)."""
FACTS_LOCK = "facts.lock"
"""Beside ``FACTS_FILE``: held shared while the facts store is open (``facts_store.open_facts``),
taken exclusively by ``objrec cache --clear`` and ``--prune`` (``facts_store.facts_lock``), as the
feature store's ``lock`` is: neither removes nor rewrites the file under a split or an audit
writing it. Never removed: a process waiting on a removed lock file would hold a lock no one else
sees."""
COMPILED_FOLDER = "openvino"
"""The folder of objrec's cache folder where OpenVINO keeps the graphs it compiled
(``<hash>.blob``, its ``CACHE_DIR``), beside the graphs objrec saves with their batch fixed for it
to compile from (``openvino_runtime.static_name``)."""
STORE_FOLDER = "store"
"""The feature store's folder in the cache folder (:func:`store_dir`)."""
OWN_FOLDERS = (STORE_FOLDER, "onnx", COMPILED_FOLDER)
"""The folders objrec makes in the cache folder: the feature store, the ONNX graphs, OpenVINO's."""
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a database file ``NAME`` (as ``NAME-wal`` and so on)."""
OLD_ENTRY = re.compile(
    r"[0-9a-f]{32}|\.tmp-[0-9a-f]{32}-[0-9a-f]{8}|\.shard-[0-9a-f]{32}-\d+-of-\d+\.npz"
)
"""The names of the cache format before the store: an entry's folder (its key), the temporary
folder it was written in, and a torchrun rank's shard file."""


_given: ContextVar[Path | None] = ContextVar("objrec_cache_dir", default=None)
"""The cache folder the running command was given (:func:`using_cache_dir`)."""


DEFAULT_WORDS = "$OBJREC_CACHE, else $XDG_CACHE_HOME/objrec, else ~/.cache/objrec"
"""Where the cache folder is when none is given (:func:`default_cache_dir`), in the words every
message, ``--help`` and page says it in: a user with ``XDG_CACHE_HOME`` set looks there."""


def default_cache_dir() -> Path:
    """The cache folder the running command was given (:func:`using_cache_dir`), else
    :data:`DEFAULT_WORDS`'s: ``$OBJREC_CACHE``, else ``$XDG_CACHE_HOME/objrec``, else
    ``~/.cache/objrec``."""
    given = _given.get()
    if given is not None:
        return given
    env = os.environ.get("OBJREC_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "objrec"


@contextmanager
def using_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Iterator[None]:
    """Within the block, the cache folder is ``cache_dir`` (None: left as it is) for everything
    that keeps something there (the file index, the image facts, the near pairs): a command given
    a cache folder keeps all of it there, never half in the default one."""
    if not cache_dir:
        yield
        return
    token = _given.set(Path(cache_dir))
    try:
        yield
    finally:
        _given.reset(token)


WRITABLE_CACHE = "point OBJREC_CACHE or `cache_dir` at a folder you can write to"
"""What to change when the cache folder cannot be made or written (a file on the way, a read-only
file system, another user's folder): the end of those errors' sentence."""


def make_cache_folder(folder: Path, root: Path | None = None) -> None:
    """Make ``folder`` in the cache (and the folders on the way), or say in one sentence why it
    cannot be made (a file on the way, no permission) instead of an OSError's traceback. The
    cache folder ``root`` it is in (``folder`` itself, or the folder of its ``store/``; None: a
    folder of objrec's own elsewhere, a temporary store) is refused first where it holds other
    things than objrec's (:func:`refuse_foreign_folder`): every command that writes in the cache
    makes its folders here, so none writes into a folder of photos given as the cache folder."""
    if root is not None:
        refuse_foreign_folder(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ObjrecError(
            f"cannot make the cache folder {folder}: {exc.strerror or exc}; {WRITABLE_CACHE}"
        ) from None


def can_write(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (made first where missing): not on a read-only
    file system, nor where permissions refuse it. A command that only reads (``check``,
    ``objrec cache``) then reads the cache folder as it is and keeps nothing there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def connect_read_only(path: Path, timeout: float = 600.0) -> sqlite3.Connection:
    """``path``'s SQLite database opened only to read. A WAL database opens so where its -shm
    file exists or can be made; on a read-only file system neither may hold, and no process can
    change it there: it is opened as immutable then."""
    uri = path.absolute().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        db.close()
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout, isolation_level=None)
    return db


def refuse_unmakeable_cache_folder(folder: Path) -> None:
    """Say in one sentence that ``folder`` could never be made (a file on the way to it), as
    :func:`make_cache_folder` would, but without making anything: for commands that only read."""
    nearest = Path(folder)
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise ObjrecError(
            f"cannot make the cache folder {folder}: {nearest} is a file; {WRITABLE_CACHE}"
        )


def store_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The feature store folder of the cache folder ``cache_dir`` (default: the default one's,
    :func:`default_cache_dir`), whose file index every command reads and fills."""
    return Path(cache_dir or default_cache_dir()) / STORE_FOLDER


def database_error(path: Path, what: str, cache_dir: Path, exc: sqlite3.Error) -> ObjrecError:
    """An SQLite error of a file in the cache folder ``cache_dir`` (``what``: the store's index,
    the image facts) as one sentence: the file, SQLite's reason, and the way out, which is
    ``objrec cache --clear`` only for a damaged file or a disk that failed (once there is room).
    Not for :data:`SQLITE_BUGS`, which callers let pass."""
    reason = str(exc) or type(exc).__name__
    clear = f"`open_cache(cache_dir={str(cache_dir)!r}).clear()`"
    code = getattr(exc, "sqlite_errorcode", 0)
    if code == MOVED:
        return ObjrecError(
            f"{what} {path} was removed while this command used it ({reason}), most likely by "
            f"{clear}: run the command again"
        )
    code &= 0xFF
    if code in DAMAGED:
        return ObjrecError(
            f"{what} {path} is damaged ({reason}): {clear} removes it, and what it held is "
            "computed again when needed"
        )
    if code == FULL or (code in DISK and is_nearly_full(cache_dir)):
        return full_cache_disk(cache_dir, f"{what} {path} could not be written ({reason})")
    if code in DISK:
        return ObjrecError(
            f"cannot use {what} {path} ({reason}): the disk failed to read or write it; if it "
            f"fails again, {clear} removes it, and what it held is computed again when needed"
        )
    if code in BUSY:
        return ObjrecError(
            f"{what} {path} is busy ({reason}): another objrec process is using it; try again "
            "when it ends"
        )
    if code in UNWRITABLE or code == CANTOPEN:
        verb = "opened" if code == CANTOPEN else "written"
        return ObjrecError(
            f"{what} {path} cannot be {verb} ({reason}): check the permissions of the file and "
            "of its folder"
        )
    return ObjrecError(f"cannot use {what} {path} ({reason})")


class FullCacheDisk(ObjrecError):
    """A full disk under the cache folder (:func:`full_cache_disk`): ``refused``, what could not
    be written and why, for a command that says it in its own words (``cache --prune``)."""

    def __init__(self, message: str, refused: str) -> None:
        super().__init__(message)
        self.refused = refused


def full_cache_disk(cache_dir: Path, refused: str) -> FullCacheDisk:
    """The one sentence of a full disk under the cache folder ``cache_dir``, whoever met it (the
    feature store's index or array files, the image facts store): which folder, what was
    ``refused`` and why, and the ways out: pruning or clearing the cache, or another disk for
    it. SQLite's "database or disk is full" was told "if the disk is full, free some space
    first; if it still fails, ... --clear removes it", neither naming the folder whose disk it
    was nor the cache's own ways to free space in it."""
    folder = repr(str(cache_dir))
    prune = f"`open_cache(cache_dir={folder}).prune(older_than_days=30)`"
    clear = f"`open_cache(cache_dir={folder}).clear()`"
    return FullCacheDisk(
        f"the disk of the cache folder {cache_dir} is full: {refused}; free some space on it "
        f"({prune} forgets what no command used for 30 days, once the disk has a little room; "
        f"{clear} forgets all of it; what is forgotten is computed again when needed), or point "
        "OBJREC_CACHE or `cache_dir` at a folder on a disk with room",
        refused,
    )


def full_disk_in_prune(cache_dir: Path, refused: str) -> ObjrecError:
    """A full disk met by a prune of the cache folder ``cache_dir``: :func:`full_cache_disk`
    told it to prune "once the disk has a little room", which is what failed. A prune writes
    (SQLite's journal, the store compacted into new files); a clear only removes, so it goes on
    where a prune cannot."""
    clear = f"`open_cache(cache_dir={str(cache_dir)!r}).clear()`"
    return ObjrecError(
        f"the disk of the cache folder {cache_dir} is full: {refused}, as the prune wrote: a "
        "prune needs a little room to write in (SQLite's journal, the store compacted into new "
        f"files), so free a few MB on that disk and prune again, or {clear} forgets all of it "
        "and needs none (what is forgotten is computed again when needed); what the prune had "
        "removed is gone, the rest is kept"
    )


def is_nearly_full(folder: Path) -> bool:
    """Whether the disk of ``folder`` (or of the nearest folder above it that exists) has less
    than :data:`NEARLY_FULL` bytes free for this user; False where that cannot be told."""
    for place in (Path(folder), *Path(folder).parents):
        try:
            return shutil.disk_usage(place).free < NEARLY_FULL
        except OSError:
            continue
    return False


def refuse_foreign_folder(root: Path) -> None:
    """Raise when ``root``, given as the cache folder, holds entries and none of objrec's: a
    folder of photos or runs named by mistake (``objrec cache --cache-dir PHOTOS`` showed an
    empty cache; a prune would have made a store in it, a split its image facts). A folder not
    there, empty, or holding only hidden entries is a cache not made yet."""
    try:
        names = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
    except OSError:  # not there, or no folder: each caller says what it does then
        return
    if names and not any(is_own_entry(name) for name in names):
        shown = some_of([f"{name}/" if (root / name).is_dir() else name for name in names], 3)
        raise ObjrecError(
            f"{root} is not a cache folder of objrec's: it holds {shown}, none of what objrec "
            f"keeps there (store/, {FACTS_FILE}, onnx/, {COMPILED_FOLDER}/): give "
            f"`cache_dir` the folder objrec keeps its cache in (by default {DEFAULT_WORDS})"
        )


def is_own_entry(name: str) -> bool:
    """Whether ``name`` in the cache folder is one objrec writes there."""
    return name in (FACTS_LOCK, *OWN_FOLDERS) or is_cache_file(name)


def is_cache_file(name: str) -> bool:
    """Whether ``name`` in the cache folder is one objrec writes there beside ``store/`` and
    ``onnx/``: the image facts store (and SQLite's files beside it), an old-format entry."""
    facts = name == FACTS_FILE or name in {FACTS_FILE + s for s in SQLITE_SIDE_FILES}
    return facts or OLD_ENTRY.fullmatch(name) is not None

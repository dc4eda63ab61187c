"""The file index: each file's content digest, and its whole SHA-256, by its path and stat, so that
a file unchanged since it was read is never read again (the ``files``, ``sha256s`` and ``kinds``
tables of the feature store's ``index.sqlite``: ``objrec.store``'s docstring says the layout).

:class:`FileIndex` holds its queries, a part of ``store.FeatureStore`` (which opens, locks and
closes the database), and what the store's other tables share with them: the index's
transactions and its SQLite errors said in one sentence (:func:`index_errors`). Hashing a file
(:func:`hash_file`, cut to :data:`DIGEST_CHARS`), a file known unchanged by its stamp where the
racy rule allows (:class:`Looked`: a served or shared model file), the copies a split or an add
tells the index (:class:`Copied`, :func:`copy_and_record`; each copy hashed as it is written,
:func:`copy_hashed`, :func:`copy_as_read`) are here too, and the one rule for
when a row's last use is written again (:func:`use_is_stale`), shared with the image facts store
(``facts_store``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from objrec.cache_folder import SQLITE_BUGS, database_error
from objrec.errors import ObjrecError
from objrec.heif import heif_kind
from objrec.images import file_head

DIGEST_CHARS = 32  # 128 bits of SHA-256, in hex
HASH_CHUNK = 1 << 20
INDEX_FILE = "index.sqlite"


def hash_bytes(data: bytes) -> str:
    """The content digest of ``data``, as :func:`hash_file` gives it for a file holding them."""
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


def hash_file(path: Path) -> str:
    """SHA-256 of a file's bytes, cut to 128 bits (hex)."""
    return hash_file_and_kind(path)[0][:DIGEST_CHARS]


def hash_file_and_kind(path: Path) -> tuple[str, str]:
    """The SHA-256 of a file's bytes (hex, whole: the file index keeps it so, for a split's
    manifest; :func:`hash_file` cuts it to the store's digest), and the kind of image its first
    bytes say (``heif.heif_kind``: HEIC, HEIF, AVIF or ""), read with them."""
    digest, head = hashlib.sha256(), b""
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            head = head or chunk[:12]
            digest.update(chunk)
    return digest.hexdigest(), heif_kind(head)


def copy_hashed(source: Path, destination: Path) -> str:
    """Copy ``source`` to ``destination`` as ``shutil.copy2`` does (its bytes, then its times
    and mode), and return the SHA-256 of the bytes copied: each photo read once, where the copy
    and then a hash of the copy read it twice (a second full read of a folder larger than the
    page cache)."""
    digest = hashlib.sha256()
    with open(source, "rb") as f, named_os_errors(destination), open(destination, "wb") as copy:
        while True:
            with named_os_errors(source):
                chunk = f.read(HASH_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            copy.write(chunk)  # a full disk here names no file: named_os_errors does
    shutil.copystat(source, destination)
    return digest.hexdigest()


@contextlib.contextmanager
def named_os_errors(path: Path) -> Iterator[None]:
    """An OSError of the block that names no file (a read or a write of a file open, a full
    disk met by a buffered write) names ``path``, as ``shutil.copy2``'s did: the user is told
    which file could not be written or read, and ``outputs.reported_as`` names it as the user
    will find it."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = os.fspath(path)
        raise


def copy_as_read(source: Path, destination: Path, sha256: str, reader: str) -> None:
    """``source`` copied to ``destination`` (:func:`copy_hashed`), refused where the bytes copied
    are not those ``reader`` (the API function: `split_folder`, `add_images`) read as
    ``sha256`` and placed by: a photo saved again meanwhile (an editor, a sync client) was
    copied with a manifest row naming bytes it does not hold, its new picture never grouped with
    its copies (one in train, another in test). The caller removes ``destination``: a split's
    stage, an add's temporary name."""
    if copy_hashed(source, destination) != sha256.lower():
        raise ObjrecError(
            f"{source} changed while {reader} copied it (its bytes are not those it read and "
            "placed: saved again by an editor or a sync?): once the file is saved, run "
            f"{reader} again"
        )


TRUSTED_FILES = 1_000_000
"""How many files' stats :func:`trust` keeps at most in one process (about 100 MB); beyond, the
oldest are dropped and their files hashed again as they are read."""

_trusted: dict[str, tuple[tuple[int, int, int, int], str]] = {}
"""Each file the file index trusted in this process (a forked worker inherits them): its stat
and content digest, by absolute path (:func:`read_as_indexed`)."""


def trust(name: str, stat: tuple[int, int, int, int], digest: str) -> None:
    """Note that the index trusts ``name`` (an absolute path) as holding ``digest`` while its stat
    (:func:`stat_key`) is ``stat``, for :func:`read_as_indexed`."""
    if len(_trusted) >= TRUSTED_FILES:
        del _trusted[next(iter(_trusted))]
    _trusted[name] = stat, digest[:DIGEST_CHARS]


def trust_unless_racy(name: str, stat: tuple[int, int, int, int], digest: str, looked: float):
    """:func:`trust` a file the index has just read, unless its row is racy (:func:`is_racy`:
    ``looked``, when it was looked at; 0, a row it knew)."""
    if not is_racy(stat[1], looked):
        trust(name, stat, digest)


def read_as_indexed(path: Path, digest: str) -> bytes | None:
    """The bytes of ``path`` if they are those of content digest ``digest``, else None (the file
    changed since it was hashed); an OSError where it cannot be read. Where this process's file
    index trusted the file under ``digest`` (:func:`trust`) and its stat is the same before and
    after the read, the bytes are trusted by the index's own rule, unhashed; else they are
    hashed."""
    name = os.path.abspath(path)
    stat, known = _trusted.get(name, (None, ""))
    trusted = known == digest[:DIGEST_CHARS] and stat_key(os.stat(name)) == stat
    data = Path(name).read_bytes()
    if trusted and stat_key(os.stat(name)) == stat:  # the same before and after the read
        return data
    return data if hash_bytes(data) == digest[:DIGEST_CHARS] else None


RACY_NS = 10_000_000
"""How much older than the moment the index looked at it (its row's ``seen``: just before its
stat, before it was read, :func:`looked_at`) a file's modification time must be for the row to
be trusted (:func:`is_racy`), where the file system keeps times finer than a second: Linux
stamps a file from its coarse clock, which moves every 1 to 10 ms (HZ 1000 to 100), so a time
it gives lags the moment by up to a tick."""
RACY_WHOLE_NS = 2_000_000_000
""":data:`RACY_NS` where the file system keeps whole seconds (a modification time of whole
seconds): FAT's times move every 2 s, ext3's and HFS+'s every second."""


def is_racy(mtime_ns: int, seen: float) -> bool:
    """Whether the row of a file modified at ``mtime_ns`` and looked at, before it was read, at
    ``seen`` cannot be trusted, as git's "racy clean" index entries: the file was modified
    within one timestamp tick of being looked at, so a rewrite of the same size in that tick
    (after the read, however long it took) left its size and times as recorded, and the row
    would keep the old digest, and with it the old features, for good. Such a file is hashed
    again the next time it is asked for, and trusted once it was looked at a tick after it last
    changed. A file dated over a tick after its row (a camera's clock ahead) is not racy: a
    rewrite would date it now, away from that time; nor is a row of no known ``seen`` (0)."""
    tick = RACY_WHOLE_NS if mtime_ns % 1_000_000_000 == 0 else RACY_NS
    return seen > 0 and -tick <= mtime_ns - seen * 1e9 <= tick


def stat_key(stat: os.stat_result) -> tuple[int, int, int, int]:
    """What the file index compares of a file to know it unchanged: its size, modification and
    change times and inode (with its path)."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """``path``'s inode, size and modification time (ns), which a rename over it or a write into
    it changes; None when it is not there (or cannot be looked at)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


@dataclass(frozen=True)
class Looked:
    """What tells a file's later version apart without reading it: its inode, size and
    modification time (:func:`file_stamp`: None, not there), and when it was looked at
    (``looked``, just before the stamp was taken). ``share`` and ``serve`` know a model file
    unchanged by it (its megabytes are not read again), as the file index knows a row."""

    looked: float
    stamp: tuple[int, int, int] | None

    @classmethod
    def now(cls, path: Path) -> Looked:
        """``path`` looked at now."""
        return cls(time.time(), file_stamp(path))

    def vouches(self) -> bool:
        """Whether the stamp tells every later version apart: not where the file was changed
        within a timestamp tick of the look (:func:`is_racy`, as the file index trusts a file),
        as a write into it of the same size in that tick (or a copy dating it back, ``cp -p``)
        leaves all three as they were; such a file is to be read again (:func:`reads_as`)."""
        return self.stamp is not None and not is_racy(self.stamp[2], self.looked)


def reads_as(path: Path, digest: str) -> bool:
    """Whether ``path``'s bytes have the content digest ``digest`` now (False: unreadable)."""
    try:
        return hash_file(path) == digest
    except OSError:
        return False


@dataclass(frozen=True)
class Copied:
    """A file written as a copy of another (or a link to it), for the file index to know by the
    digest it holds of the source (:meth:`FeatureStore.keep_copies`): a split's or an add's."""

    source: Path
    seen: os.stat_result
    """The source's stat, the same before and after it was copied."""
    copy: Path
    stat: os.stat_result
    """The copy's stat once written (a link's: its target's, the source's)."""


Hashed = tuple[Path, os.stat_result, str]
"""A file written, its stat once written, and the SHA-256 of the bytes written (whole, hex)."""


def copy_and_record(source: Path, write: Callable[[], Path]) -> tuple[Path, Copied | None]:
    """``write()``, which copies ``source`` (or links to it) and returns where; that path, and
    the copy as :meth:`FeatureStore.keep_copies` takes it, or None where ``source`` changed while
    it was copied (or either cannot be seen): that copy is hashed where it is read."""
    try:
        before = os.stat(source)
    except OSError:
        before = None
    copy = write()
    try:
        after, stat = os.stat(source), os.stat(copy)
    except OSError:
        return copy, None
    if before is None or stat_key(before) != stat_key(after):
        return copy, None
    return copy, Copied(Path(source), after, copy, stat)


def stat_or_keep(path: str, index: int, failures: dict[int, OSError]) -> os.stat_result | None:
    """``os.stat(path)``, or None with its OSError kept in ``failures`` at ``index``."""
    try:
        return os.stat(path)
    except OSError as exc:
        failures[index] = exc
        return None


def looked_at(
    names: Sequence[str], failures: dict[int, OSError]
) -> tuple[list[os.stat_result | None], list[float]]:
    """Each file's stat (:func:`stat_or_keep`), and when it was looked at, just before its
    stat: its row is dated so (``seen``, :func:`is_racy`), as git dates its index. Dated after
    a hash slower than a tick, a rewrite of the same size just before it would not be racy, and
    its old digest would be trusted for good; dated by one time for all, a file changed while
    thousands were looked at would read as dated ahead, never racy."""
    stats, times = [], []
    for i, name in enumerate(names):
        times.append(time.time())
        stats.append(stat_or_keep(name, i, failures))
    return stats, times


def hash_or_error(path: str) -> tuple[str, str] | OSError:
    """:func:`hash_file_and_kind` of ``path``, or the OSError reading it raised."""
    try:
        return hash_file_and_kind(Path(path))
    except OSError as exc:
        return exc


@dataclass(frozen=True)
class FirstRead:
    """A file the index did not know, read whole once by a caller that uses its bytes too
    (:func:`read_first`): what :meth:`FileIndex.keep_first_reads` keeps of it, as if the index
    had hashed it."""

    name: str
    """Its absolute path."""
    looked: float
    """When it was looked at, just before its stat (:func:`looked_at`)."""
    stat: os.stat_result
    sha256: str
    """The SHA-256 of the bytes read (whole, hex)."""
    kind: str
    """Their kind of image (``heif.heif_kind``)."""


def read_first(path: Path) -> tuple[bytes, FirstRead]:
    """``path``'s bytes, and what the file index keeps of them, from one read: a first ``check``
    or ``split`` of a folder decodes each file from the bytes it hashes (it read each twice); an
    OSError where it cannot be read."""
    name = os.path.abspath(path)
    looked = time.time()
    stat = os.stat(name)
    data = Path(name).read_bytes()
    return data, FirstRead(name, looked, stat, hashlib.sha256(data).hexdigest(), heif_kind(data))


class InStore(Protocol):
    """What :func:`index_errors` names a database error by: the store folder."""

    root: Path


P = ParamSpec("P")
R = TypeVar("R")
Index = TypeVar("Index", bound=InStore)


def index_errors(
    method: Callable[Concatenate[Index, P], R],
) -> Callable[Concatenate[Index, P], R]:
    """``method`` of the store, whose SQLite errors (a damaged index, a full disk, another process
    holding it) become one sentence (:func:`database_error`) instead of a traceback; those of
    objrec's own mistakes (:data:`SQLITE_BUGS`) pass as they are."""

    @functools.wraps(method)
    def checked(store: Index, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(store, *args, **kwargs)
        except SQLITE_BUGS:
            raise
        except sqlite3.Error as exc:
            index = store.root / INDEX_FILE
            raise database_error(
                index, "the feature store's index", store.root.parent, exc
            ) from exc

    return checked


@dataclass
class HashStats:
    """How many files were looked up, how many had to be hashed, and how long that took."""

    files: int = 0
    hashed: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        """For a log line: ``hashed 0 of 146 files in 0.01 s``."""
        return f"hashed {self.hashed:,} of {self.files:,} files in {self.seconds:.2f} s"


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            self.roll_back()
            return
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self.roll_back()
            raise

    def roll_back(self) -> None:
        """``ROLLBACK``, where the transaction is still open: SQLite ends one itself on some
        errors (SQLITE_FULL, a full disk), and a ROLLBACK then raises "cannot rollback - no
        transaction is active", which would take the full disk's place in the error said."""
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")


USE_REFRESH = 3600
"""Seconds a kept row's last use (``seen``, ``facts_used``) may lag: a row read again is
written again only once its last use is older, so a warm run rewrites no row it read within the
hour, and ``cache --prune --older-than DAYS`` never forgets a row used within DAYS less an
hour. One rule for every table of the facts store (a day for some, an hour for others, once)."""


def use_is_stale(seen: float) -> bool:
    """Whether a row last used at ``seen`` is written again (:data:`USE_REFRESH`)."""
    return seen < time.time() - USE_REFRESH


def fill_wanted(db: sqlite3.Connection, digests: Sequence[str]) -> None:
    """The temporary table ``wanted`` (position, digest) holding ``digests``, to join with."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted(i INTEGER, digest TEXT)")
    db.execute("DELETE FROM temp.wanted")
    db.executemany("INSERT INTO temp.wanted VALUES (?,?)", enumerate(digests))


class FileIndex:
    """The file index's queries on the feature store's index database: a part of
    ``store.FeatureStore`` (its ``files``), which opens, locks and closes that database; opened
    alone, read-only too, by ``store.open_file_index``."""

    def __init__(
        self, connection: Callable[[], sqlite3.Connection], root: Path, read_only: bool = False
    ):
        self._connection = connection
        self.root = root
        """The store folder."""
        self.read_only = read_only
        """Opened only to read: a file it does not know is hashed and not kept."""

    @property
    def db(self) -> sqlite3.Connection:
        """The index's connection (its store's, opened again where the store was closed)."""
        return self._connection()

    # content digests of files ---------------------------------------------------------------

    def _transaction(self) -> Transaction:
        return Transaction(self.db)

    @index_errors
    def indexed_files(self) -> int:
        """How many files the (path, size, times) -> content digest index holds."""
        return self.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    @index_errors
    def digests(
        self,
        paths: Sequence[Path],
        threads: int = 4,
        on_file: Callable[[int, int], None] | None = None,
    ) -> tuple[list[str], HashStats]:
        """The content digest of every file; files unchanged since last seen are not re-read.

        A file is unchanged when its absolute path, size, mtime, ctime and inode all match. A file
        that cannot be read is an OSError (:meth:`readable_digests` skips it instead).
        ``on_file(done, total)``: as in :meth:`readable_digests`.
        """
        digests, failures, stats = self.readable_digests(paths, threads, on_file)
        if failures:
            raise next(iter(failures.values()))
        return digests, stats

    @index_errors
    def readable_digests(
        self,
        paths: Sequence[Path],
        threads: int = 4,
        on_file: Callable[[int, int], None] | None = None,
        whole: bool = False,
        read_new: bool = True,
    ) -> tuple[list[str], dict[int, OSError], HashStats]:
        """:meth:`digests`, but a file that cannot be read now (removed since it was listed, no
        permission) has the digest "" and its OSError by its position, and is not recorded: for
        a reader that skips it, as it skips a file gone by the time it is decoded.
        ``on_file(done, total)`` is told the files the index knew, then after each file read: a
        folder the index has not seen is a full read.
        ``whole``: each file's whole SHA-256 (hex) instead, as a split's manifest records it
        (``check``, ``split`` and ``add`` read them so, from the same index as every other
        command): a file indexed by its content digest alone (by a train, or an objrec before
        6 December 2026) is read once. ``read_new`` False: the files the index does not know are
        not read, and have the digest "" (not in the errors): for a caller that reads each of
        them once for its own use and tells the index (:meth:`keep_first_reads`)."""
        found, failures, stats = self._indexed(paths, threads, on_file, whole, read_new)
        return [d if whole else d[:DIGEST_CHARS] for d in found], failures, stats

    def _indexed(
        self,
        paths: Sequence[Path],
        threads: int,
        on_file: Callable[[int, int], None] | None,
        whole: bool,
        read_new: bool = True,
    ) -> tuple[list[str], dict[int, OSError], HashStats]:
        """Each file's digest as the index keeps it (``whole``: its whole SHA-256, else its
        content digest), those it does not know read, hashed and kept, by both:
        :meth:`readable_digests`. A row read is written again (its last use, for ``prune``)
        only once that is older than :data:`USE_REFRESH`, as the image facts' rows are, so that
        a warm read writes nothing."""
        started = time.perf_counter()
        names = [os.path.abspath(p) for p in paths]
        failures: dict[int, OSError] = {}
        stats, looked = looked_at(names, failures)
        rows = self._known_rows(names, stats, whole)
        known: list[str | None] = [rows[i][0] if i in rows else None for i in range(len(names))]
        todo = [i for i, d in enumerate(known) if d is None and i not in failures and read_new]
        kinds = {}
        tell = on_file or (lambda done, total: None)
        tell(len(names) - len(todo), len(names))
        with ThreadPoolExecutor(threads) as pool:  # hashlib releases the GIL
            hashed = pool.map(hash_or_error, [names[i] for i in todo])
            for n, (i, result) in enumerate(zip(todo, hashed, strict=True), len(names) - len(todo)):
                if isinstance(result, OSError):
                    failures[i] = result
                else:
                    known[i] = result[0]
                    kinds[result[0][:DIGEST_CHARS]] = result[1]
                tell(n + 1, len(names))
        fresh = {i for i, (_, seen) in rows.items() if not use_is_stale(seen)}  # not rewritten
        kept = [
            (i, p, stat_key(s), d)
            for i, (p, s, d) in enumerate(zip(names, stats, known, strict=True))
            if s is not None and d is not None and i not in failures
        ]
        read = set(todo)
        for i, name, stat, digest in kept:  # a new file's row as the index will trust it
            trust_unless_racy(name, stat, digest, 0.0 if i in rows else looked[i])
        files = [(p, *s, d, looked[i]) for i, p, s, d in kept if i not in fresh]
        self._keep_read(kinds, files, [(p, *s, d) for i, p, s, d in kept if i in read])
        seconds = time.perf_counter() - started
        found = [d or "" for d in known]
        return found, dict(sorted(failures.items())), HashStats(len(names), len(todo), seconds)

    def _keep_read(self, kinds: dict[str, str], files: list, sha256s: list) -> None:
        """Keep what :meth:`_indexed` read (none where the index is open only to read)."""
        if self.read_only:
            return
        with self._transaction():
            self._keep_kinds(kinds)
            self._keep_files(files)
            self._keep_sha256s(sha256s)

    @index_errors
    def keep_first_reads(self, reads: Sequence[FirstRead]) -> None:
        """Keep the files a caller read once for the index and its own use (:func:`read_first`),
        as :meth:`readable_digests` keeps those it reads (none where the index is open only to
        read)."""
        for read in reads:
            trust_unless_racy(read.name, stat_key(read.stat), read.sha256, read.looked)
        rows = [(r.name, *stat_key(r.stat), r.sha256) for r in reads]
        kinds = {r.sha256[:DIGEST_CHARS]: r.kind for r in reads}
        self._keep_read(kinds, [(*row, r.looked) for row, r in zip(rows, reads, strict=True)], rows)

    @index_errors
    def keep_copies(self, copies: Sequence[Copied]) -> int:
        """Index each copy (or link) a split or an add wrote under the digest the index holds of
        its source, where it knows the source as it was copied (:attr:`Copied.seen`): a train
        after a split then reads no image the split hashed (it read every copy again). A copy
        of a source the index does not know so is hashed where it is read. How many it indexed."""
        sources = [os.path.abspath(c.source) for c in copies]
        seen = [c.seen for c in copies]
        known = self._known_digests(sources, seen, whole=False)
        wholes = self._known_digests(sources, seen, whole=True)
        now = time.time()
        copy = [(os.path.abspath(c.copy), *stat_key(c.stat)) for c in copies]
        rows = [(*f, d, now) for f, d in zip(copy, known, strict=True) if d is not None]
        with self._transaction():
            self._keep_files(rows)
            self._keep_sha256s([(*f, d) for f, d in zip(copy, wholes, strict=True) if d])
        return len(rows)

    @index_errors
    def keep_hashed(self, files: Sequence[Hashed]) -> int:
        """Index each file written whose SHA-256 the writer took of the very bytes it wrote
        (:func:`copy_hashed`), by its stat once written: ``train`` on ``apply-plan``'s copy
        reads none of them again. How many. Each row is dated when its file was last changed (its
        change time, before its stat: :func:`is_racy`), not when the index is told, once every
        file is written: dated so late, a rewrite of a copy within a tick of its change would be
        trusted for good."""
        now = time.time()
        rows = [(os.path.abspath(p), *stat_key(s), d) for p, s, d in files]
        dated = [(*row, min(now, row[3] / 1e9)) for row in rows]  # its change time
        with self._transaction():
            self._keep_files(dated)
            self._keep_sha256s(rows)
        return len(rows)

    def _keep_files(self, rows: Sequence[tuple[str, int, int, int, int, str, float]]) -> None:
        """Index files (path, size, mtime_ns, ctime_ns, inode, SHA-256, now) by their content
        digest: the SHA-256 cut to :data:`DIGEST_CHARS`, as every objrec reads ``files``."""
        self.db.executemany(
            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
            [(*row[:5], row[5][:DIGEST_CHARS], row[6]) for row in rows],
        )

    def _keep_sha256s(self, rows: Sequence[tuple[str, int, int, int, int, str]]) -> None:
        """Keep files' whole SHA-256 (path, size, mtime_ns, ctime_ns, inode, SHA-256)."""
        self.db.executemany("INSERT OR REPLACE INTO sha256s VALUES (?,?,?,?,?,?)", rows)

    @index_errors
    def adopt_files(self, rows: Sequence[tuple[str, int, int, int, int, str, float]]) -> None:
        """Take the rows of another index of files' SHA-256 (path, size, mtime_ns, ctime_ns,
        inode, SHA-256, last seen): ``check``'s and ``split``'s before 6 December 2026
        (``reading.adopt_old_index``). Where both know a path, the one seen last is kept;
        a whole SHA-256 the index keeps already is replaced only by one of the file as the index
        knows it then."""
        stat = "size, mtime_ns, ctime_ns, ino"
        theirs = "excluded.size, excluded.mtime_ns, excluded.ctime_ns, excluded.ino"
        with self._transaction():
            self.db.executemany(
                "INSERT INTO files VALUES (?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET "
                f"({stat})=({theirs}), digest=excluded.digest, seen=excluded.seen "
                "WHERE excluded.seen > files.seen",
                [(*row[:5], row[5][:DIGEST_CHARS], row[6]) for row in rows],
            )
            self.db.executemany(
                "INSERT INTO sha256s VALUES (?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET "
                f"({stat})=({theirs}), sha256=excluded.sha256 "
                f"WHERE ({theirs}) = (SELECT {stat} FROM files WHERE path=excluded.path)",
                [row[:6] for row in rows],
            )

    def _keep_kinds(self, kinds: dict[str, str]) -> None:
        """Keep each content digest's kind of image (``heif.heif_kind``), read from its file's
        first bytes: :meth:`digests` those of the files it hashes, :meth:`image_kinds` those of
        the images hashed before kinds were kept."""
        self.db.executemany("INSERT OR IGNORE INTO kinds VALUES (?,?)", kinds.items())

    @index_errors
    def image_kinds(self, paths: Sequence[Path], digests: Sequence[str]) -> dict[str, str]:
        """Each content digest's kind of image (``heif.heif_kind``) as the store keeps it, for
        a reader that tells HEIC photos apart without opening a file (``facts_store.cached_facts``,
        ``features.decodable_now``).
        An image hashed before kinds were kept has its file's (``paths``') first bytes read, once:
        its kind is kept then; one that cannot be read now, or has changed since it was hashed
        (:meth:`unchanged`: those bytes may be another photo's), is left out."""
        with self._transaction():
            fill_wanted(self.db, digests)
            cursor = self.db.execute(
                "SELECT w.digest, k.kind FROM temp.wanted w JOIN kinds k ON k.digest=w.digest"
            )
            kinds = dict(cursor.fetchall())
        files = {d: p for p, d in zip(paths, digests, strict=True) if d not in kinds}
        heads = {d: file_head(p) for d, p in files.items()}
        read = {d: heif_kind(head) for d, head in heads.items() if head is not None}
        read = {d: kind for d, kind in read.items() if d in self.unchanged(files)} if read else {}
        if read:
            with self._transaction():
                self._keep_kinds(read)
        return kinds | read

    def unchanged(self, files: dict[str, Path]) -> set[str]:
        """The digests of ``files`` (each digest's file) whose file the index still knows
        unchanged since it was hashed (:meth:`known_digests`, by its stat): asked after a file
        was read, so that what was read of one changed since (another photo's bytes) is never
        kept under its digest."""
        now = self.known_digests(list(files.values()))
        return {d for d, known in zip(files, now, strict=True) if known == d}

    @index_errors
    def known_digests(self, paths: Sequence[Path]) -> list[str | None]:
        """The content digest of each file that the file index knows unchanged (as
        :meth:`digests` reads it), None for the others (never seen, changed since, or gone):
        hashing none and recording only the last use of the rows it read (as :meth:`digests`
        does, for ``prune``), for a reader whose files are mostly new to the store (``predict``),
        for which hashing them would only cost time."""
        names = [os.path.abspath(p) for p in paths]
        stats: list[os.stat_result | None] = []
        looked = time.time()  # before the stats, as :func:`looked_at` dates them
        for name in names:
            try:
                stats.append(os.stat(name))
            except OSError:
                stats.append(None)
        rows = self._known_rows(names, stats, whole=False)
        stale = [(looked, names[i]) for i, (_, seen) in rows.items() if use_is_stale(seen)]
        if stale and not self.read_only:
            with self._transaction():
                self.db.executemany("UPDATE files SET seen=? WHERE path=?", stale)
        return [rows[i][0][:DIGEST_CHARS] if i in rows else None for i in range(len(names))]

    @index_errors
    def forget_files(self, paths: Sequence[Path]) -> None:
        """Forget the content digests of ``paths``, so that they are hashed again next time: files
        that changed since they were hashed, perhaps keeping their size and times."""
        if paths:
            names = [(os.path.abspath(p),) for p in paths]
            with self._transaction():
                self.db.executemany("DELETE FROM files WHERE path=?", names)
                self.db.executemany("DELETE FROM sha256s WHERE path=?", names)

    def _known_digests(
        self, paths: list[str], stats: Sequence[os.stat_result | None], whole: bool
    ) -> list[str | None]:
        """The digest the index keeps of each file as ``stats`` says it is (None: not known so):
        its content digest, or (``whole``) its whole SHA-256."""
        known: list[str | None] = [None] * len(paths)
        for i, (digest, _) in self._known_rows(paths, stats, whole).items():
            known[i] = digest
        return known

    def _known_rows(
        self, paths: list[str], stats: Sequence[os.stat_result | None], whole: bool
    ) -> dict[int, tuple[str, float]]:
        """:meth:`_known_digests` by position, with when each file's ``files`` row was last
        seen (0 where that row is of another stat than the whole SHA-256's, or gone: an older
        objrec's ``prune`` knows no ``sha256s``)."""
        query = (
            "SELECT w.i, s.size, s.mtime_ns, s.ctime_ns, s.ino, s.sha256, coalesce(f.seen, 0) "
            "FROM temp.wanted_files w JOIN sha256s s ON s.path=w.path LEFT JOIN files f "
            "ON f.path=w.path AND (f.size, f.mtime_ns, f.ctime_ns, f.ino) = "
            "(s.size, s.mtime_ns, s.ctime_ns, s.ino)"
            if whole
            else "SELECT w.i, f.size, f.mtime_ns, f.ctime_ns, f.ino, "
            f"substr(f.digest, 1, {DIGEST_CHARS}), f.seen "
            "FROM temp.wanted_files w JOIN files f ON f.path=w.path"
        )
        known: dict[int, tuple[str, float]] = {}
        with self._transaction():
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_files(i INTEGER, path TEXT)")
            self.db.execute("DELETE FROM temp.wanted_files")
            self.db.executemany("INSERT INTO temp.wanted_files VALUES (?,?)", enumerate(paths))
            for i, size, mtime, ctime, ino, digest, seen in self.db.execute(query):
                s = stats[i]
                unchanged = s is not None and (size, mtime, ctime, ino) == stat_key(s)
                if unchanged and not is_racy(mtime, seen):  # a racy one may have changed since
                    known[i] = digest, seen
        return known

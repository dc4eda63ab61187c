"""The per-image feature store: one row of features per (image content, body, data config, view).

A frozen body's output for an image depends on the image's bytes, the body, the data config and the
view, never on the file's path, its label or the other files. The store is keyed accordingly, so a
renamed, moved or relabelled image costs nothing, an added image costs its own frozen pass and a
removed one costs nothing.

Layout of a store folder (``$OBJREC_CACHE/store``):

* ``index.sqlite`` (SQLite, WAL): ``spaces`` (one per body fingerprint + data config + dtype +
  numerics + decoding rules + decoders' versions, :func:`space_id`: its row width, how many rows
  are reserved, the generation of its array file), ``entries`` (space, view, content digest ->
  row and the pixels the pixel limit counts the image at (``counted``: ``images.counted_size``),
  or the reason it could not be decoded; last use: the count lets a reader leave out, unopened,
  an image over today's pixel limit, ``features.within_pixel_limit``; NULL in an entry kept
  before it was kept, as counted now; :func:`uncounted` where its file's header could not be
  read then), ``files`` (path, size, mtime, ctime, inode -> content digest): the one file
  index every command reads and fills (a split's and an add's copies are told to it,
  :meth:`FeatureStore.keep_copies`), so unchanged files are never hashed again, and ``sha256s``
  (the same key -> the file's whole SHA-256, which ``check``, ``split`` and ``add`` read for a
  split's manifest: a table of its own, so that an older objrec sharing the cache folder
  reads and writes ``files`` as it always did); ``memos`` (a digest of what a
  small value is made from -> the value and its last read, for ``prune``:
  :func:`view_keys.remembered_fingerprint`, ``quantize.usable``); ``kinds``
  (content digest -> HEIC, HEIF, AVIF or "" for any other image, by its first bytes, kept as
  the file is hashed: :meth:`FeatureStore.image_kinds`), so that a reader where pillow-heif
  cannot decode HEIC tells such photos apart without opening a file (an image hashed before
  ``kinds`` was kept, or by an older objrec, is read once for it); ``identity``: the index's
  random id (:attr:`FeatureStore.index_id`), which a lookup's rows carry with their generation,
  so that rows looked up before a clear are never read from another writer's new array file.
* ``<space>-<generation>.<dtype>``: one flat array file per space, row ``r`` at byte
  ``r * dim * itemsize``: written with ``pwrite`` into rows reserved in the index, read with
  ``pread`` by row, so reading a batch costs the batch's memory, never the file's.
* ``lock``: every process using the store holds a shared ``flock`` on it (each thread of one
  with a store of its own, ``cache.thread_stores``, holds its own); only ``prune``, which
  rewrites array files, and :func:`remove_store` (``objrec cache --clear``) take it exclusively.
  ``open.lock``: held exclusively for the moment a process opens the index, since SQLite refuses
  (rather than waits) when two processes switch a new database to WAL at once.

Safety. A writer reserves rows in one transaction (so concurrent writers never share a row) and
writes them at once, but ``fsync``\\ s them and commits their entries only every ``SYNC_SECONDS``
within a frozen pass (:meth:`Space.syncing_seldom`; at its end, before any lookup and when the
store is closed too), not once a batch (``benchmarks/store_sync.py`` measures both). An entry is
still readable only once its row holds its features on disk: a process killed at any point, or a
write the disk cannot hold (an OSError naming the array file), leaves at most unreferenced rows,
never a readable wrong one; a kill loses at most the last second's rows, computed again next
time. Before its rows are indexed the writer checks that the array file it wrote into is still
the one in the store's folder, and before it writes it checks that the file holds every row
reserved before its own: a file removed or cut short by something other than objrec, then made
again by a write, would otherwise have its earlier entries read its hole, as zeros
(:meth:`FeatureStore.forget_lost_rows` forgets them instead, to be computed again). Two writers
computing the same image keep the first entry (``INSERT OR IGNORE``); both rows hold the same
features. Pruning writes the live rows into a new generation of the array file and switches
entries and generation in one transaction. SQLite's errors (a damaged index, a full disk, another
process holding it) are one sentence (:func:`database_error`). SQLite's locking needs a local
file system (not NFS).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Concatenate, ParamSpec, TypeVar

import numpy as np

from objrec.cache_folder import (
    SQLITE_SIDE_FILES,
    STORE_FOLDER,
    WRITABLE_CACHE,
    connect_read_only,
    full_cache_disk,
    make_cache_folder,
)
from objrec.errors import ObjrecError
from objrec.file_index import (
    DIGEST_CHARS,
    INDEX_FILE,
    Copied,
    FileIndex,
    Hashed,
    Transaction,
    fill_wanted,
    index_errors,
    use_is_stale,
)
from objrec.heif import register_heif_plugin
from objrec.images import PIXEL_RULES, decoder_missing
from objrec.locks import lock_exclusively, take_lock
from objrec.outputs import sync_folder as sync_folder  # add.pending's, runs'

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

STORE_VERSION = 2
DECODE_RULES = "decode-6"
"""What the reason an image could not be decoded is remembered with, beside the Pillow that
decoded it and pillow-heif, when installed (:func:`decode_tag`): the rules objrec decodes by
(``images.open_image``). A reason remembered without them, or under older ones, is forgotten and
the image decoded again, so an image the rules, a newer Pillow or a HEIC decoder installed since
now accept (a JPEG held to the pixel limit at the scale it is decoded at, an MPO JPEG reduced as
any JPEG is, AVIF with a Pillow that decodes it, an iPhone's HEIC photo) is no longer skipped from
the store. Change it whenever ``open_image`` comes to read images it refused; when it comes to
read an image it read before into other pixels, change ``images.PIXEL_RULES``. Under decode-6 a
file that cannot be opened or read is never remembered as undecodable (a missing file's or an I/O
error's reason would be kept forever); a TIFF of grey with associated (premultiplied) alpha,
Pillow's mode La, is read (Pillow converts La to LA only); and a JPEG counts at one scale against
the pixel limit (``images.LIMIT_SIDE``), so a view that decodes it larger (a backbone of larger
inputs) does not refuse it as too large."""
DTYPES = {"float32": np.float32, "float16": np.float16}
SYNC_SECONDS = 1.0
"""The least time a writer's rows wait, written but neither synced nor indexed, before it
``fsync``\\ s and indexes them (:meth:`Space.flush`): its first write that long after the oldest
of them does it (or the pass's end, a lookup), so a kill may cost about a second's rows computed
again, more where batches come slower (a big TIFF, a network disk), against one ``fsync`` a
batch."""
LOCK_FILES = ("lock", "open.lock")
ARRAY_NAME = re.compile(rf".+-[0-9]+\.(?:{'|'.join(DTYPES)})")
"""The names :meth:`FeatureStore.array_path` makes: ``<space>-<generation>.<dtype>``."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces(
    id TEXT PRIMARY KEY, label TEXT NOT NULL, dim INTEGER NOT NULL, dtype TEXT NOT NULL,
    rows INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 0, created REAL);
CREATE TABLE IF NOT EXISTS entries(
    space TEXT NOT NULL, view TEXT NOT NULL, digest TEXT NOT NULL,
    row INTEGER, error TEXT, used REAL NOT NULL, counted INTEGER,
    PRIMARY KEY(space, view, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER,
    digest TEXT NOT NULL, seen REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sha256s(
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER,
    sha256 TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memos(
    key TEXT PRIMARY KEY, value TEXT NOT NULL, made REAL NOT NULL, used REAL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kinds(digest TEXT PRIMARY KEY, kind TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identity(id TEXT NOT NULL);
"""


def decode_tag() -> str:
    """The prefix of a remembered reason: ``DECODE_RULES``, the pixel limit when it is not the
    default (``images.pixel_limit``), Pillow's version and pillow-heif's, when it is installed
    (the HEIC decoder objrec registers with Pillow)."""
    import PIL

    from objrec.heif import heif_plugin_version
    from objrec.images import MAX_PIXELS, pixel_limit

    heif = heif_plugin_version()
    limit = pixel_limit()  # another (OBJREC_MAX_PIXELS): a reason under the default is forgotten
    pixels = f" max-pixels {limit}" if limit != MAX_PIXELS else ""
    heif_text = f" pillow-heif {heif}" if heif else ""
    return f"{DECODE_RULES}{pixels} Pillow {PIL.__version__}{heif_text}: "


def readable_since(error: str) -> bool:
    """Whether ``error``, a remembered reason, says a HEIC or HEIF photo needs pillow-heif, which
    this Python can use now: remembered where pillow-heif was installed but failed to load, it
    bears the same :func:`decode_tag` once pillow-heif loads. pillow-heif is imported only when
    such a reason is met."""
    return decoder_missing(error) is not None and register_heif_plugin()


def remove_entry(path: Path) -> None:
    """Remove ``path`` without following a link: a link is removed itself, never what it points
    to; a folder with everything in it (``shutil.rmtree`` removes the links inside as links)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def is_store_file(name: str) -> bool:
    """Whether ``name`` in a store folder is one objrec writes there (the index, SQLite's files
    beside it, an array file), the lock files aside: what :func:`remove_store` removes."""
    index = name == INDEX_FILE or name in {INDEX_FILE + s for s in SQLITE_SIDE_FILES}
    return index or ARRAY_NAME.fullmatch(name) is not None


_HELD_HERE: set[Path] = set()
"""The store folders a thread of this process holds exclusively now (a prune, a clear:
:func:`held_here`), by absolute path: a store opening meanwhile in another thread waits for this
process, not another (:meth:`FeatureStore._say_waiting`), as a Python caller's threads each have
a store of their own (``cache.thread_stores``)."""


@contextmanager
def held_here(root: Path) -> Iterator[None]:
    """The block, in which this thread holds the store folder ``root`` exclusively, noted in
    :data:`_HELD_HERE`: the lock itself cannot say whose it is."""
    key = root.absolute()
    _HELD_HERE.add(key)
    try:
        yield
    finally:
        _HELD_HERE.discard(key)


def remove_store(root: Path, wait: Callable[[], None] | None = None) -> list[Path]:
    """Remove objrec's files of the store folder ``root`` but its lock files, whatever state its
    index is in (a damaged one cannot be pruned), and return what it left: the entries objrec
    did not write. The index goes first, so a clear cut short never leaves one pointing at
    missing rows. Under the store's lock taken exclusively, so once no other process has the
    store open (``wait()`` is called first when one has: another process, or another thread of
    this one with a store of its own). A link is never followed: a store folder that is one is
    removed as a link, an entry of objrec's that is one likewise."""
    if root.is_symlink():
        root.unlink()
        return []
    if not root.is_dir():
        return [root] if root.exists() else []
    with open(root / "lock", "a+b") as lock:
        lock_exclusively(lock, wait)
        index = [INDEX_FILE, *(INDEX_FILE + side for side in SQLITE_SIDE_FILES)]
        with held_here(root):
            for name in [*index, *sorted(set(os.listdir(root)) - set(index))]:
                if is_store_file(name):
                    remove_entry(root / name)
    return [root / n for n in sorted(os.listdir(root)) if n not in LOCK_FILES]


FLOAT32 = "float32"
"""The numerics of the CPU frozen pass (ONNX Runtime or eager PyTorch in float32)."""


def space_id(
    body_fingerprint: str, data: dict, dtype: str, numerics: str = FLOAT32, decoders: str = ""
) -> str:
    """The key of a space: everything but the image and the view that changes a feature row.

    ``numerics`` is how the rows are computed (``FLOAT32`` on the CPU, e.g. ``cuda:float16`` on a
    GPU), so features of different numerics never mix; ``dtype`` is how they are stored.
    ``PIXEL_RULES`` keeps out rows made from pixels that objrec decoded by other rules, and
    ``decoders`` (``view_keys.pixel_makers``: the versions of Pillow, its JPEG and WebP libraries,
    torchvision) rows made from pixels that another decoder or resize gave.
    """
    payload = {
        "version": STORE_VERSION,
        "pixels": PIXEL_RULES,
        "decoders": decoders,
        "body": body_fingerprint,
        "data": data,
        "dtype": dtype,
    }
    if numerics != FLOAT32:
        payload["numerics"] = numerics
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def uncounted() -> int:
    """An entry's ``counted`` where its file's header could not be read for it
    (``features.within_pixel_limit``): negative, one for each :func:`decode_tag` (the decoders'
    versions, the pixel limit), so that the header is not read again on every run, but is, once,
    under other decoders or another limit (pillow-heif installed; a lower ``OBJREC_MAX_PIXELS``,
    under which a cold run counts it). Such a row is used, as a file that cannot be read now
    keeps its rows."""
    return -1 - zlib.crc32(decode_tag().encode()) % 2**31


ADDED_COLUMNS = (("entries", "counted INTEGER"), ("memos", "used REAL"))
"""The columns an index made by an older objrec lacks, added to it as it opens to write, NULL in
its rows. ``entries.counted``: the pixels the limit counts each image at, which
``features.within_pixel_limit`` then reads once from the files (an older index's ``pixels``
column, the pixels each was decoded into at its view's own scale, stays unread: the limit counts a
JPEG at one scale for every command, ``images.LIMIT_SIDE``). ``memos.used``: a memo's last read,
its ``made`` until it is read (an older objrec sharing the cache folder writes memos without it)."""


def read_index_id(db: sqlite3.Connection) -> str:
    """The index's id (:attr:`FeatureStore.index_id`), "" where it has none (an index an older
    objrec made, opened read-only: opened to write, one is given it)."""
    try:
        row = db.execute("SELECT id FROM identity").fetchone()
    except sqlite3.OperationalError:  # no such table
        return ""
    return row[0] if row else ""


def add_new_columns(db: sqlite3.Connection) -> None:
    """Give an older index the columns of :data:`ADDED_COLUMNS` it lacks."""
    for table, column in ADDED_COLUMNS:
        if column.split()[0] not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


@dataclass(frozen=True)
class Generation:
    """Which array file a lookup's rows are in: the index's own id (:attr:`FeatureStore.index_id`,
    new with each index: a clear makes one, whose spaces start at generation 0 again, so that
    a number alone would let rows looked up before a clear read another writer's rows) and the
    space's generation (``prune`` moves rows into a new one)."""

    index: str
    number: int


@dataclass(frozen=True)
class Lookup:
    """Rows of a list of digests in one view of a space: ``-1`` where missing or unreadable."""

    rows: np.ndarray
    found: np.ndarray
    errors: dict[int, str]
    """Position -> why that image could not be decoded (found, no row)."""
    generation: Generation | None = None
    """The array file the rows belong to (a prune moves rows, a clear removes them)."""
    pixels: np.ndarray | None = None
    """The pixels the limit counts each image with a row at (``images.counted_size``), 0 where
    the store does not know them (an entry kept before it kept them), negative where its file's
    header could not be read for them (:func:`uncounted`)."""


@dataclass(frozen=True)
class SpaceInfo:
    """What ``objrec cache`` shows about one space."""

    id: str
    label: str
    dim: int
    dtype: str
    images: int
    entries: int
    bytes: int
    last_used: float | None


@dataclass(frozen=True)
class Pending:
    """Rows written into the array file, neither synced nor indexed yet (:meth:`Space.flush`)."""

    view: str
    digests: Sequence[str]
    rows: range
    pixels: Sequence[int] | np.ndarray | None


class Space:
    """One space's array file: rows written with ``pwrite`` and read with ``pread``."""

    def __init__(self, store: FeatureStore, sid: str, dim: int, dtype: str):
        self.store, self.id, self.dim, self.dtype = store, sid, dim, np.dtype(DTYPES[dtype])
        self.row_bytes = dim * self.dtype.itemsize
        self._fd: int | None = None
        self._generation: int | None = None
        self._path: Path | None = None
        self._pending: list[Pending] = []
        self._seldom = False
        """Within :meth:`syncing_seldom`: rows are synced and indexed every ``SYNC_SECONDS``."""
        self._oldest = 0.0
        """When the oldest of ``_pending`` was written (``time.monotonic``)."""

    def _file(self, create: bool = False) -> int:
        """The array file of the space's current generation, made when missing if ``create``
        (to write): a reader never makes one, which would hide that it was removed. Opened again
        when the one open is no longer in the store's folder (removed or replaced by something
        other than objrec): the rows written into it and not indexed yet are lost with it."""
        generation = self.store.generation(self.id)
        if self._fd is not None and (generation != self._generation or not self._still_there()):
            self._drop_pending()
            self.close()
        if self._fd is None:
            self._path = self.store.array_path(self.id, generation, self.dtype.name)
            try:
                self._fd = os.open(self._path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
            except FileNotFoundError:
                raise self._lost() from None
            self._generation = generation
            self.store._holding.add(self)  # closed with the store, whoever holds this space
        return self._fd

    def _still_there(self) -> bool:
        """Whether the array file open is the one its path names (not removed or replaced)."""
        assert self._fd is not None and self._path is not None
        try:
            named = os.stat(self._path)
        except FileNotFoundError:
            return False
        held = os.fstat(self._fd)
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def _drop_pending(self) -> None:
        """Forget the rows written and not indexed yet: their file was removed or replaced."""
        if self._pending:
            lost = sum(len(p.rows) for p in self._pending)
            log.warning(
                "the feature store's array file %s was removed or replaced while in use: the "
                "%s feature rows written into it last are computed again when next used",
                self._path,
                f"{lost:,}",
            )
            self._pending.clear()

    def _lost(self) -> ObjrecError:
        """The error of an array file removed or cut short, by something other than objrec,
        since its rows were looked up; the entries it lacks are forgotten, to be computed again."""
        path = self.store.array_path(self.id, self.store.generation(self.id), self.dtype.name)
        self.store.forget_lost_rows(self.id)
        return ObjrecError(
            f"the feature store's array file {path} was removed or cut short while in use: the "
            "features it lacked are forgotten and computed again when the images are next used"
        )

    def close(self) -> None:
        """Close the array file; rows written and not flushed are lost (never indexed)."""
        self._pending.clear()
        self.store._holding.discard(self)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read(
        self, rows: np.ndarray, generation: Generation | None = None, as_stored: bool = False
    ) -> np.ndarray:
        """Features (len(rows), dim) as float32; consecutive rows are read in one call.

        ``generation``: the array file the rows were looked up in (:attr:`Lookup.generation`); an
        error if a prune moved them since or a clear removed them, rather than another writer's
        rows read in their place.
        ``as_stored``: in the stored dtype, for a caller that converts them faster than NumPy
        (whose float16 to float32 conversion took a tenth of a warm retrain's head fit).
        """
        out = np.empty((len(rows), self.dim), dtype=self.dtype)
        if len(rows) == 0:
            return out if as_stored else out.astype(np.float32)
        if generation is not None and generation.index != self.store.index_id:
            raise self._moved("cleared")
        fd = self._file()
        if generation is not None and generation.number != self._generation:
            raise self._moved("pruned")
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        staging = np.empty_like(out)
        for run in np.split(np.arange(len(rows)), breaks):
            first = int(sorted_rows[run[0]])
            view = memoryview(staging[run[0] : run[-1] + 1]).cast("B")  # type: ignore[arg-type]
            if os.preadv(fd, [view], first * self.row_bytes) != len(view):
                raise self._lost()
        out[order] = staging
        return out if as_stored else out.astype(np.float32, copy=False)

    def _misfit(self, shape: tuple[int, ...]) -> ObjrecError:
        """The error of features whose width is not the space's: the body gave another width than
        the ``n_features`` it declares, by which the space (and the head) were made."""
        (label,) = self.store._space_row(self.id, "label")
        width = shape[1] if len(shape) == 2 else f"shape {shape}"
        return ObjrecError(
            f"the body {label or self.id} gives {width} features an image, not the {self.dim} "
            f"it declares (its n_features), by which its space in the feature store "
            f"{self.store.root} was made"
        )

    def _as_rows(self, features: np.ndarray) -> np.ndarray:
        """``features`` as the space's rows (its dtype), refused where a finite value is beyond
        that dtype's range: stored, it read as inf, and the training that followed failed with a
        NaN loss, blaming the learning rate (a user's body of unnormalised sums, float16's
        largest value 65504: review65a L1)."""
        with np.errstate(over="ignore", invalid="ignore"):  # said once, below, not as a warning
            data = np.ascontiguousarray(features, dtype=self.dtype)
        if np.isfinite(data).all() or not np.isfinite(given := np.asarray(features)).all():
            return data
        (label,) = self.store._space_row(self.id, "label")
        fix = (
            "store them as float32 (`feature_dtype='float32'`)"
            if self.dtype == np.float16
            else "scale the body's output"
        )
        raise ObjrecError(
            f"the body {label or self.id} gives features as large as {np.abs(given).max():.3g}, "
            f"beyond the range of the feature store's {self.dtype.name} "
            f"(±{np.finfo(self.dtype.type).max:.6g}): {fix}"
        )

    def _moved(self, how: str) -> ObjrecError:
        """The error of rows looked up before the store was ``how`` (pruned, cleared) by another
        process or another thread of this one (which, it cannot tell once done), in words for
        the user of the command that looked them up."""
        return ObjrecError(
            f"the feature store {self.store.root} was {how} by another process or thread after "
            "this one had looked up features in it: run it again"
        )

    def write(
        self,
        view: str,
        digests: Sequence[str],
        features: np.ndarray,
        pixels: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Store one feature row per digest, with the pixels the limit counts each image at
        (``pixels``, when known): reserve rows, write them, sync and index them (within
        :meth:`syncing_seldom`, with the rows written since, by the first write ``SYNC_SECONDS``
        or more later).
        A file that lacks rows reserved before these (removed or cut short since) has the
        entries of those rows forgotten first: this write would make them read as zeros."""
        if len(digests) == 0:
            return
        data = self._as_rows(features)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise self._misfit(data.shape)
        if len(data) != len(digests):
            raise ValueError(f"{len(data)} feature rows for {len(digests)} digests")
        first = self.store.reserve(self.id, len(digests))
        fd = self._file(create=True)
        if os.fstat(fd).st_size < first * self.row_bytes:  # no committed row lies past its end
            self.store.forget_lost_rows(self.id)
        try:
            write_all(fd, data.data.cast("B"), first * self.row_bytes)
        except OSError as exc:  # the rows stay unindexed: never read
            raise self._named(exc) from exc
        if not self._pending:
            self._oldest = time.monotonic()
        rows = range(first, first + len(digests))
        self._pending.append(Pending(view, list(digests), rows, pixels))
        if not self._seldom or time.monotonic() - self._oldest >= SYNC_SECONDS:
            self.flush()

    @contextmanager
    def syncing_seldom(self) -> Iterator[None]:
        """Writes within are synced and indexed together, every ``SYNC_SECONDS`` and at the end,
        even on a stop (a lookup or closing the store does it at once): for the frozen pass, which
        writes a batch of 16 rows at a time."""
        self._seldom = True
        try:
            yield
        finally:
            self._seldom = False
            self.flush()

    def flush(self) -> None:
        """Sync the rows written since the last flush, then index them: one ``fsync`` for them
        all. Rows whose file was removed or replaced since are not indexed (computed again)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        except OSError as exc:  # the rows stay unindexed: never read
            raise self._named(exc) from exc
        for done, batch in enumerate(pending):  # each batch its own transaction, as written
            # the file checked with the index locked: checked before, a file removed by hand and
            # made again by another writer in between (its forget_lost_rows committed first) left
            # these entries on the new file's hole, read as zeros
            indexed = self.store.add_entries(
                self.id,
                batch.view,
                batch.digests,
                batch.rows,
                None,
                only_if=self._still_there,
                pixels=batch.pixels,
            )
            if not indexed:
                self._pending = pending[done:]
                self._drop_pending()
                return
            self.store.rows_written += len(batch.digests)

    def _named(self, exc: OSError) -> OSError | ObjrecError:
        """``exc``, an error of the array file, naming it; a full disk (or quota) is said as the
        cache folder's (:func:`full_cache_disk`)."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            refused = f"the feature store's array file {self._path} could not be written"
            reason = (exc.strerror or "no space left").lower()
            return full_cache_disk(self.store.root.parent, f"{refused} ({reason})")
        return OSError(exc.errno or errno.EIO, exc.strerror or str(exc), str(self._path))

    def write_errors(self, view: str, digests: Sequence[str], messages: Sequence[str]) -> None:
        """Remember that these images cannot be decoded, so a warm run does not try again (under
        the same decoding rules and Pillow: :func:`decode_tag`)."""
        if not digests:
            return
        reasons = [decode_tag() + m for m in messages]
        self.store.add_entries(self.id, view, digests, [None] * len(digests), reasons)


def write_all(fd: int, data: memoryview, offset: int) -> None:
    """``pwrite`` ``data`` at ``offset``, call after call until every byte is written: a write cut
    short (a disk filling up) is followed by one that raises why (ENOSPC, EFBIG)."""
    while data:
        written = os.pwrite(fd, data, offset)
        if written == 0:
            raise OSError(errno.EIO, "the file system took none of the bytes written")
        data, offset = data[written:], offset + written


def of_files(
    method: Callable[Concatenate[FileIndex, P], R],
) -> Callable[Concatenate[FeatureStore, P], R]:
    """``method`` of the file index, called on the store that has it (its ``files``): by the
    name callers knew when the store was a file index itself."""

    @functools.wraps(method)
    def query(store: FeatureStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return method(store.files, *args, **kwargs)

    return query


_OPENINGS = itertools.count()
"""Numbers each opening of a store in this process (:attr:`FeatureStore.opening`)."""


class FeatureStore:
    """The store folder: its SQLite index, array files and lock (see the module docstring), and
    the file index kept in that index (:attr:`files`).

    Use as a context manager (or call ``close``); it holds a shared lock while open. A closed
    store opens again on its next use (taking the lock again), so that one user closing the store
    that a thread shares (``cache.FeatureCache.close``) breaks no other user's table, unless a
    prune or clear ran meanwhile: such a table refuses to read (:class:`Generation`).
    """

    digests = of_files(FileIndex.digests)
    readable_digests = of_files(FileIndex.readable_digests)
    known_digests = of_files(FileIndex.known_digests)
    indexed_files = of_files(FileIndex.indexed_files)
    image_kinds = of_files(FileIndex.image_kinds)
    unchanged = of_files(FileIndex.unchanged)
    keep_copies = of_files(FileIndex.keep_copies)
    keep_hashed = of_files(FileIndex.keep_hashed)
    keep_first_reads = of_files(FileIndex.keep_first_reads)
    adopt_files = of_files(FileIndex.adopt_files)
    forget_files = of_files(FileIndex.forget_files)

    def __init__(self, root: Path, timeout: float = 600.0, read_only: bool = False):
        self.root = Path(root)
        self._timeout = timeout
        self.read_only = read_only
        """Opened only to read (``objrec cache``'s summary): on a read-only file system too."""
        self.files = FileIndex(lambda: self.db, self.root, read_only)
        """The file index: each file's content digest by its path and stat."""
        self._spaces: dict[str, Space] = {}
        self._holding: set[Space] = set()
        """The spaces whose array file is open: those of :attr:`_spaces`, and any a table still
        reads from that an earlier opening made (a closed store forgets its spaces, so that a
        clear meanwhile makes them again), each closed with the store all the same."""
        self._lock: BinaryIO | None = None
        self._db: sqlite3.Connection | None = None
        self._index_id: str | None = None
        self.opening: tuple[int, int] | None = None
        """The thread that opened the store now open and the number of that opening in the
        process, None while closed: SQLite lets only that thread use or close its connection
        (each thread has its own store: ``cache.thread_stores``); ``cache.stores_held`` lets go of
        those opened within its block."""
        self.rows_written = 0
        """Feature rows written through this store object (each an image view's features):
        one thread's, since it first opened the folder (``cache.thread_stores``), kept across
        its closes (``cache.FeatureCache.rows_written``)."""
        self.rows_reused = 0
        """Feature rows the frozen passes of this store object's thread found stored already, by
        earlier commands (``features.feature_table``, counted once per image view it asked
        for), since it first opened the folder."""
        self._open()

    def _open(self) -> None:
        if not self.read_only:  # the cache folder of a store/ refused where it holds photos
            in_cache = self.root.name == STORE_FOLDER
            make_cache_folder(self.root, root=self.root.parent if in_cache else None)
        lock = self._open_lock()
        try:
            take_lock(lock, fcntl.LOCK_SH, self._say_waiting)
            self._db = self._connect_read_only() if self.read_only else self._connect(self._timeout)
        except BaseException:
            lock.close()
            raise
        self._lock = lock
        self.opening = (threading.get_ident(), next(_OPENINGS))

    def _open_lock(self) -> BinaryIO:
        """The store's lock file, opened (made if missing, unless read-only); a folder it cannot be
        made in is said in one sentence that names what to change."""
        try:
            return open(self.root / "lock", "rb" if self.read_only else "a+b")
        except OSError as exc:
            if self.read_only or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            raise ObjrecError(
                f"cannot write to the cache folder {self.root}: {exc.strerror}; {WRITABLE_CACHE}"
            ) from None

    @index_errors
    def _connect_read_only(self) -> sqlite3.Connection:
        return connect_read_only(self.root / INDEX_FILE, self._timeout)

    def _say_waiting(self) -> None:
        """Say, as a warning (which the CLI shows without -v: else the command would look hung),
        that the store is being pruned or cleared: by another thread of this process where one
        holds it (:func:`held_here`: a Python caller's), else by another process."""
        who = "thread of this program" if self.root.absolute() in _HELD_HERE else "objrec process"
        log.warning(
            "waiting for another %s to finish pruning or clearing the feature store %s",
            who,
            self.root,
        )

    @property
    def db(self) -> sqlite3.Connection:
        """The index's connection, opened again if ``close`` closed the store."""
        if self._db is None:
            self._open()
        assert self._db is not None
        return self._db

    @db.setter
    def db(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._index_id = None

    @property
    def is_open(self) -> bool:
        """Whether the store is open now (its lock held), not closed until its next use."""
        return self._db is not None

    @property
    def index_id(self) -> str:
        """The index's own random id, made with it (a clear removes the index, the next user
        makes a new one): what tells rows looked up before a clear from another writer's rows
        at the same place since (:class:`Generation`). "" for an index an older objrec made,
        read-only."""
        db = self.db
        if self._index_id is None:
            self._index_id = read_index_id(db)
        return self._index_id

    def _held_lock(self) -> BinaryIO:
        """The store's lock file, held shared (the store opened again if it was closed)."""
        if self._db is None:
            self._open()
        assert self._lock is not None
        return self._lock

    @index_errors
    def _connect(self, timeout: float) -> sqlite3.Connection:
        # Switching a new database to WAL needs an exclusive lock that SQLite does not wait for:
        # processes opening one store at once (torchrun's ranks) take turns here instead.
        with open(self.root / "open.lock", "a+b") as opening:
            fcntl.flock(opening, fcntl.LOCK_EX)
            db = sqlite3.connect(self.root / INDEX_FILE, timeout=timeout, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(SCHEMA)
                add_new_columns(db)
                db.execute(
                    "INSERT INTO identity(id) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM identity)",
                    (secrets.token_hex(16),),
                )
            except BaseException:
                db.close()
                raise
        return db

    def __enter__(self) -> FeatureStore:
        return self

    def _transaction(self) -> Transaction:
        return Transaction(self.db)

    def __exit__(self, *exc) -> None:
        self.close()

    def flush(self) -> None:
        """Sync and index the rows every space has written since its last flush."""
        for space in self._open_spaces():
            space.flush()

    def _open_spaces(self) -> list[Space]:
        """The spaces made since the store opened, then those a table held across a close
        opened again (:attr:`_holding`)."""
        return list(dict.fromkeys([*self._spaces.values(), *self._holding]))

    def close(self) -> None:
        """Sync and index the rows written, close the index and the array files and let go of
        the lock, until the next use."""
        try:
            self.flush()
        finally:
            self._close()

    def _close(self) -> None:
        for space in self._open_spaces():
            space.close()
        self._spaces.clear()
        if self._db is not None:
            self._db.close()
            self._db = None
        self._index_id = None
        self.opening = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def array_path(self, sid: str, generation: int, dtype: str) -> Path:
        return self.root / f"{sid}-{generation}.{dtype}"

    # spaces and rows ------------------------------------------------------------------------

    @index_errors
    def space(self, sid: str, dim: int, dtype: str = "float32", label: str = "") -> Space:
        """The space ``sid`` (created on first use) with rows of ``dim`` values of ``dtype``."""
        if dtype not in DTYPES:
            raise ValueError(f"feature dtype must be one of {', '.join(DTYPES)}, not {dtype}")
        if sid not in self._spaces:
            self.db.execute(
                "INSERT OR IGNORE INTO spaces(id, label, dim, dtype, created) VALUES (?,?,?,?,?)",
                (sid, label, dim, dtype, time.time()),
            )
            (stored_dim,) = self.db.execute("SELECT dim FROM spaces WHERE id=?", (sid,)).fetchone()
            if stored_dim != dim and not self._refit_empty(sid, dim):
                raise ValueError(f"space {sid} holds rows of {stored_dim} values, not {dim}")
            self._spaces[sid] = Space(self, sid, dim, dtype)
        return self._spaces[sid]

    def _refit_empty(self, sid: str, dim: int) -> bool:
        """Make space ``sid`` one of rows of ``dim`` values if it holds no row; returns whether it
        did. A body that declared the wrong feature size (timm's whose head has a hidden layer,
        before objrec read ``head_hidden_size``) made its space so, and its first write failed
        before any row was reserved: the same body, declaring its size right, takes it over."""
        with self._transaction():
            done = self.db.execute("UPDATE spaces SET dim=? WHERE id=? AND rows=0", (dim, sid))
        if done.rowcount:
            log.info("space %s held no row: its rows are of %d values now", sid, dim)
        return bool(done.rowcount)

    @index_errors
    def generation(self, sid: str) -> int:
        """The generation of space ``sid``'s array file (``prune`` makes a new one)."""
        return self._space_row(sid, "generation")[0]

    def _space_row(self, sid: str, columns: str) -> tuple:
        """``columns`` of space ``sid``; an ObjrecError when the store has no such space."""
        row = self.db.execute(f"SELECT {columns} FROM spaces WHERE id=?", (sid,)).fetchone()
        if row is None:
            raise ObjrecError(
                f"the feature store {self.root} has no space {sid}: it was cleared or pruned "
                "by another process or thread since the space was made: run it again"
            )
        return row

    @index_errors
    def reserve(self, sid: str, n: int) -> int:
        """Reserve ``n`` new rows of a space for this writer alone; returns the first. A space
        gone since it was made (a ``Space`` kept across a clear or prune by another process) is
        refused in one sentence (:meth:`_space_row`), as its rows looked up before are."""
        with self._transaction():
            (first,) = self._space_row(sid, "rows")
            self.db.execute("UPDATE spaces SET rows=rows+? WHERE id=?", (n, sid))
        return first

    @index_errors
    def add_entries(
        self,
        sid: str,
        view: str,
        digests: Sequence[str],
        rows: Sequence[int | None],
        errors: Sequence[str | None] | None,
        only_if: Callable[[], bool] | None = None,
        pixels: Sequence[int | None] | np.ndarray | None = None,
    ) -> bool:
        """Index ``digests`` in ``view`` of space ``sid``: each at its row (written and synced
        already) with the pixels the limit counts it at (``pixels``, when known), or with no row and
        the reason it could not be decoded (``errors``). An entry already there is kept: another
        writer's row holds the same features. With ``only_if``, nothing is indexed (False
        returned) unless it holds, asked once the index is locked."""
        now = time.time()
        errors = errors if errors is not None else [None] * len(digests)
        known = pixels if pixels is not None else [None] * len(digests)
        sizes = [int(n) if n else None for n in known]
        entries = zip(digests, rows, errors, sizes, strict=True)
        with self._transaction():
            if only_if is not None and not only_if():
                return False
            self.db.executemany(
                "INSERT OR IGNORE INTO entries(space, view, digest, row, error, used, counted) "
                "VALUES (?,?,?,?,?,?,?)",
                [(sid, view, d, r, e, now, n) for d, r, e, n in entries],
            )
        return True

    @index_errors
    def keep_pixels(self, sid: str, pixels: dict[str, int]) -> None:
        """Keep the pixels the limit counts each digest's image at (``pixels``, or
        :func:`uncounted`) in every view of space ``sid`` whose entry lacks them: entries kept
        before the store kept them, or whose file's header could not be read then."""
        with self._transaction():
            query = "SELECT DISTINCT view FROM entries WHERE space=?"
            views = [view for (view,) in self.db.execute(query, (sid,))]
            self.db.executemany(  # by the whole key: by space and digest alone, a scan each
                "UPDATE entries SET counted=? WHERE space=? AND view=? AND digest=? "
                "AND (counted IS NULL OR counted < 0) AND row IS NOT NULL",
                [(n, sid, view, d) for d, n in pixels.items() for view in views],
            )

    @index_errors
    def space_dim(self, sid: str) -> int | None:
        """The row width of space ``sid``, or None if the store has no such space."""
        known = self.db.execute("SELECT dim FROM spaces WHERE id=?", (sid,)).fetchone()
        return None if known is None else known[0]

    @index_errors
    def recall(self, key: str) -> str | None:
        """The value :meth:`remember` kept under ``key``, or None; marked as used (at most once
        an hour, as :meth:`lookup` marks entries), so that ``prune`` by days keeps it."""
        if self.read_only:  # an older index, never given ``used``: read it as it is
            known = self.db.execute("SELECT value FROM memos WHERE key=?", (key,)).fetchone()
            return None if known is None else known[0]
        known = self.db.execute(
            "SELECT value, coalesce(used, made) FROM memos WHERE key=?", (key,)
        ).fetchone()
        if known is None:
            return None
        if use_is_stale(known[1]):
            with self._transaction():
                self.db.execute("UPDATE memos SET used=? WHERE key=?", (time.time(), key))
        return known[0]

    @index_errors
    def remember(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``: a digest of everything the value is made from, so that
        the value read back under it is always the one computing it again would give."""
        with self._transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO memos(key, value, made, used) VALUES (?,?,?,?)",
                (key, value, time.time(), time.time()),
            )

    @index_errors
    def forget(self, key: str) -> None:
        """Forget what :meth:`remember` kept under ``key``."""
        with self._transaction():
            self.db.execute("DELETE FROM memos WHERE key=?", (key,))

    # lookups --------------------------------------------------------------------------------

    @index_errors
    def lookup(self, sid: str, view: str, digests: Sequence[str]) -> Lookup:
        """Where each digest's features are in ``view`` of space ``sid``; marks them as used (at
        most once an hour: an entry used within the hour keeps its time, all ``prune`` needs). A
        reason an image could not be decoded, remembered under other rules or another Pillow
        (:func:`decode_tag`), or that a HEIC photo needs pillow-heif where it works now
        (:func:`readable_since`), is forgotten here: the image counts as missing, to be decoded
        again; so are rows that the space's array file no longer holds (removed or cut short
        outside objrec: :meth:`forget_lost_rows`). The rows this process wrote are synced and
        indexed first (:meth:`flush`)."""
        self.flush()
        found = self._lookup(sid, view, digests)
        if found.rows.max(initial=-1) >= self._array_file(sid)[1]:
            self.forget_lost_rows(sid)
            found = self._lookup(sid, view, digests)
        return found

    def _array_file(self, sid: str) -> tuple[Path, int]:
        """The current array file of space ``sid``, and how many rows it holds."""
        dim, dtype, generation = self._space_row(sid, "dim, dtype, generation")
        path = self.array_path(sid, generation, dtype)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        return path, size // (dim * np.dtype(DTYPES[dtype]).itemsize)

    @index_errors
    def forget_lost_rows(self, sid: str) -> None:
        """Forget the entries of space ``sid`` whose rows its array file does not hold (removed or
        cut short by something other than objrec), so that they are computed again; says so."""
        with self._transaction():
            path, held = self._array_file(sid)
            gone = self.db.execute(
                "DELETE FROM entries WHERE space=? AND row>=?", (sid, held)
            ).rowcount
        if gone:
            rows = "feature row" if gone == 1 else f"{gone:,} feature rows"
            log.warning(
                "the feature store's array file %s was removed or cut short: forgot the %s it "
                "lacked, computed again when next used",
                path,
                rows,
            )

    @index_errors
    def _lookup(self, sid: str, view: str, digests: Sequence[str]) -> Lookup:
        n = len(digests)
        rows = np.full(n, -1, dtype=np.int64)
        pixels = np.zeros(n, dtype=np.int64)
        found = np.zeros(n, dtype=bool)
        errors: dict[int, str] = {}
        now = time.time()
        with self._transaction():
            fill_wanted(self.db, digests)
            cursor = self.db.execute(
                "SELECT w.i, e.row, e.error, e.counted FROM temp.wanted w JOIN entries e "
                "ON e.space=? AND e.view=? AND e.digest=w.digest",
                (sid, view),
            )
            stale, tag = [], decode_tag()
            for i, row, error, size in cursor:
                if row is None and (not (error or "").startswith(tag) or readable_since(error)):
                    stale.append(digests[i])  # refused under older rules: decode it again
                    continue
                found[i] = True
                if row is None:
                    errors[i] = error[len(tag) :]
                else:
                    rows[i], pixels[i] = row, size or 0
            self.db.executemany(
                "DELETE FROM entries WHERE space=? AND view=? AND digest=? AND row IS NULL",
                [(sid, view, d) for d in stale],
            )
            self.db.execute(
                "UPDATE entries SET used=? WHERE space=? AND view=? AND used<? "
                "AND digest IN (SELECT digest FROM temp.wanted)",
                (now, sid, view, now - 3600),
            )
            generation = Generation(self.index_id, self.generation(sid))
        return Lookup(rows, found, errors, generation, pixels)

    @index_errors
    def prune(
        self, older_than_days: float | None = None, keep: set[str] | None = None, wait=None
    ) -> PruneResult:
        """Remove entries not used for ``older_than_days`` or whose digest is not in ``keep``.

        Takes the store's lock exclusively (``wait()`` is called first when another process, or
        another thread of this one, holds it), so it waits for the others using the store to
        finish.
        """
        self.flush()
        lock = self._held_lock()
        lock_exclusively(lock, wait)
        try:
            # Each switch to a new array file is on the disk before the old file is removed: in
            # WAL mode, NORMAL syncs only at checkpoints, and a power cut could keep the removal
            # and lose the switch.
            self.db.execute("PRAGMA synchronous=FULL")
            with held_here(self.root):
                return Pruner(self).run(older_than_days, keep)
        finally:
            self.db.execute("PRAGMA synchronous=NORMAL")
            fcntl.flock(lock, fcntl.LOCK_SH)

    # what is stored -------------------------------------------------------------------------

    @index_errors
    def info(self) -> list[SpaceInfo]:
        """One line per space: its label, width, dtype, images, entries, bytes and last use."""
        result = []
        spaces = self.db.execute(
            "SELECT id, label, dim, dtype, rows, generation FROM spaces ORDER BY created"
        ).fetchall()
        for sid, label, dim, dtype, _rows, generation in spaces:
            images, entries, used = self.db.execute(
                "SELECT COUNT(DISTINCT digest), COUNT(*), MAX(used) FROM entries WHERE space=?",
                (sid,),
            ).fetchone()
            path = self.array_path(sid, generation, dtype)
            size = path.stat().st_blocks * 512 if path.exists() else 0
            result.append(SpaceInfo(sid, label, dim, dtype, images, entries, size, used))
        return result


@dataclass(frozen=True)
class PruneResult:
    """What ``prune`` removed: entries, file-index rows, and bytes of array files."""

    entries: int
    files: int
    bytes_before: int
    bytes_after: int


class Pruner:
    """Removes entries not used for some days or not in a set of digests, then compacts.

    Runs under the store's exclusive lock, so no other process reads or writes meanwhile.
    """

    def __init__(self, store: FeatureStore):
        self.store, self.db = store, store.db

    def run(self, older_than_days: float | None, keep: set[str] | None) -> PruneResult:
        before = sum(i.bytes for i in self.store.info())
        with self.store._transaction():
            entries, files = self._forget(older_than_days, keep)
        for sid, dim, dtype, generation in self.db.execute(
            "SELECT id, dim, dtype, generation FROM spaces"
        ).fetchall():
            self._compact(sid, dim, dtype, generation)
        self._remove_orphans()
        self.db.execute("VACUUM")
        after = sum(i.bytes for i in self.store.info())
        return PruneResult(entries, files, before, after)

    def _forget(self, older_than_days: float | None, keep: set[str] | None) -> tuple[int, int]:
        entries = files = 0
        if older_than_days is not None:
            cutoff = time.time() - older_than_days * 86400
            entries += self.db.execute("DELETE FROM entries WHERE used<?", (cutoff,)).rowcount
            files += self.db.execute("DELETE FROM files WHERE seen<?", (cutoff,)).rowcount
            self.db.execute("DELETE FROM memos WHERE coalesce(used, made)<?", (cutoff,))
        if keep is not None:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS keep(digest TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM temp.keep")
            self.db.executemany("INSERT OR IGNORE INTO temp.keep VALUES (?)", ((d,) for d in keep))
            gone = "NOT IN (SELECT digest FROM temp.keep)"
            entries += self.db.execute(f"DELETE FROM entries WHERE digest {gone}").rowcount
            cut = f"substr(digest, 1, {DIGEST_CHARS})"  # a digest kept whole cut too
            files += self.db.execute(f"DELETE FROM files WHERE {cut} {gone}").rowcount
        self.db.execute("DELETE FROM sha256s WHERE path NOT IN (SELECT path FROM files)")
        self.db.execute(
            "DELETE FROM kinds WHERE digest NOT IN (SELECT digest FROM entries) "
            f"AND digest NOT IN (SELECT substr(digest, 1, {DIGEST_CHARS}) FROM files)"
        )
        return entries, files

    def _compact(self, sid: str, dim: int, dtype: str, generation: int) -> None:
        """Copy the live rows of a space into a new generation of its array file."""
        live = self.db.execute(
            "SELECT view, digest, row FROM entries WHERE space=? AND row IS NOT NULL ORDER BY row",
            (sid,),
        ).fetchall()
        (reserved,) = self.db.execute("SELECT rows FROM spaces WHERE id=?", (sid,)).fetchone()
        if len(live) == reserved:
            return
        space = self.store.space(sid, dim, dtype)
        target = self.store.array_path(sid, generation + 1, dtype)
        copy_rows(space, [r for _, _, r in live], target)
        sync_folder(target.parent)  # its name too, before the index points to it
        with self.store._transaction():
            self.db.executemany(
                "UPDATE entries SET row=? WHERE space=? AND view=? AND digest=?",
                [(new, sid, view, digest) for new, (view, digest, _) in enumerate(live)],
            )
            self.db.execute(
                "UPDATE spaces SET rows=?, generation=? WHERE id=?",
                (len(live), generation + 1, sid),
            )
        space.close()

    def _remove_orphans(self) -> None:
        """Array files of older generations, and spaces left without entries."""
        with self.store._transaction():
            self.db.execute("DELETE FROM spaces WHERE id NOT IN (SELECT space FROM entries)")
        spaces = self.db.execute("SELECT id, generation, dtype FROM spaces").fetchall()
        current = {self.store.array_path(*space).name for space in spaces}
        for path in self.store.root.iterdir():
            if ARRAY_NAME.fullmatch(path.name) and path.name not in current:
                path.unlink()
        kept = {sid for sid, _, _ in spaces}
        for sid, space in list(self.store._spaces.items()):
            space.close()  # reopened on its next use, in its space's current generation
            if sid not in kept:  # made again on its next use
                del self.store._spaces[sid]


def copy_rows(space: Space, rows: Sequence[int], target: Path) -> None:
    """Write ``rows`` of ``space``, in order, into the new array file ``target``, synced. A copy
    cut short (a full disk, Ctrl-C) removes ``target``: no index points to it yet, and left, it
    held the disk a prune was freeing (up to the space's live rows) until a prune got through,
    each command meanwhile meeting a fuller disk."""
    try:
        with open(target, "wb") as out:
            for part in chunks(rows, 4096):
                out.write(space.read(np.array(part)).astype(space.dtype).tobytes())
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


@contextmanager
def open_file_index(folder: Path, read_only: bool = False) -> Iterator[FileIndex]:
    """The file index of the store folder ``folder``, for a command that hashes files and keeps
    no features (``check``, ``split``, ``add``): its database opened and held as the store holds
    it; ``read_only``: read as it is (a read-only disk too), nothing it hashes kept."""
    with FeatureStore(folder, read_only=read_only) as store:
        yield store.files


def index_written(
    index: Path, copies: Sequence[Copied] = (), hashed: Sequence[Hashed] = ()
) -> None:
    """Tell the feature store's file index in ``index`` the files a command wrote: ``copies``
    of files it knows (a split's, an add's: :meth:`FeatureStore.keep_copies`), files ``hashed``
    as they were written (apply-plan's: :meth:`FeatureStore.keep_hashed`). The files are in
    place by then: an index that cannot take them (a full disk) is a warning, the files being
    read again where they are used."""
    try:
        with FeatureStore(index) as store:
            kept = store.keep_copies(copies) + store.keep_hashed(hashed)
    except ObjrecError as exc:
        log.warning("%s; the files written are hashed again where they are read", exc)
        return
    log.info("the file index knows %d of the %d files written", kept, len(copies) + len(hashed))


def indexed_digests(index: Path, paths: Sequence[Path]) -> list[str]:
    """The content digest of each file, from the feature store's file index in ``index``: one
    it knows unchanged (an audit, a check or a train read it) is not read again, the others are
    hashed and kept there. A file that cannot be read raises its OSError."""
    if not paths:
        return []
    with FeatureStore(index) as store:
        return store.digests(list(paths))[0]


def chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

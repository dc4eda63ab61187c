"""The image facts store: the cache folder's ``facts.sqlite`` (:data:`FACTS_FILE`), which keeps
each image's facts (``image_facts.ImageFacts``) by content digest (:func:`cached_facts`), so that
a second split or audit decodes nothing and ``check`` reads what they measured
(:func:`kept_facts`).

Other modules keep tables of their own in the same file, each by content digest: the camera
times (``bursts``), check's decodes (``check_decodes``), split's pair sets (``near_pairs``).
Each such table is a :class:`KeptTable`, forgotten by one rule (:func:`prune_kept`) when the
cache folder is pruned with the feature store (:func:`prune_facts`). The file is open under its lock
(:func:`open_facts`, :data:`FACTS_LOCK`): shared by the commands that read and write it, taken
alone by a clear or a prune.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from objrec import image_facts
from objrec.cache_folder import FACTS_FILE as FACTS_FILE
from objrec.cache_folder import FACTS_LOCK
from objrec.errors import ObjrecError
from objrec.file_index import USE_REFRESH
from objrec.image_facts import ImageFacts, facts_key
from objrec.images import decoder_gone, kind_gone_reason, pixel_limit

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger(__name__)


@contextmanager
def _lock_file(path: Path, db_file: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for locking; one that cannot be (a read-only cache folder) is one sentence
    naming the facts store, as SQLite's own refusal to write it would be."""
    try:
        lock = open(path, "a+b")  # noqa: SIM115 (closed below, once the caller's block ends)
    except OSError as exc:
        raise ObjrecError(
            f"the image facts store {db_file} cannot be written ({exc.strerror or exc}: {path}): "
            "check the permissions of the cache folder"
        ) from exc
    with lock:
        yield lock


@contextmanager
def facts_lock(
    db_file: Path, exclusive: bool = False, wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold the facts store's lock (:data:`FACTS_LOCK`) for the block: shared, or ``exclusive``
    (``wait()`` is called first when another process, or another thread of this one, holds it),
    for a clear or a prune: that of a folder holding neither the facts store nor its lock (no
    one uses it) makes none there."""
    import fcntl

    from objrec.cache_folder import make_cache_folder
    from objrec.locks import lock_exclusively

    folder = Path(db_file).parent
    if exclusive and not (folder / FACTS_LOCK).exists() and not Path(db_file).exists():
        yield
        return
    make_cache_folder(folder)
    with _lock_file(folder / FACTS_LOCK, Path(db_file)) as lock:
        try:
            if exclusive:
                lock_exclusively(lock, wait)
            else:
                fcntl.flock(lock, fcntl.LOCK_SH)
        except OSError as exc:  # a file system without flock (some NFS): unlocked, as before
            log.debug("%s cannot be locked (%s): the facts store is used unlocked", lock.name, exc)
        yield


@contextmanager
def open_facts(
    db_file: Path, exclusive: bool = False, wait: Callable[[], None] | None = None
) -> Iterator[sqlite3.Connection]:
    """The ``facts`` table, and ``facts_used``: when each row was last read or written, for
    ``prune_facts`` (a table of its own, so that the ``facts`` rows keep their layout). Open for
    the block, under :func:`facts_lock` (``exclusive``, ``wait``: its own); its SQLite errors (a
    damaged file, a full disk) become one sentence, those of objrec's own mistakes pass as they
    are."""
    if not exclusive and read_only(Path(db_file)):
        yield from _read_only(Path(db_file))
        return
    with facts_lock(db_file, exclusive, wait):
        yield from _connected(Path(db_file))


def read_only(db_file: Path) -> bool:
    """Whether the facts store ``db_file`` is there but its folder cannot be written (a read-only
    disk): read as it is then, unlocked, and nothing is kept in it."""
    from objrec.cache_folder import can_write

    return db_file.is_file() and not can_write(db_file.parent)


def _read_only(db_file: Path) -> Iterator[sqlite3.Connection]:
    import sqlite3

    from objrec.cache_folder import SQLITE_BUGS, connect_read_only, database_error

    try:
        db = connect_read_only(db_file)
        try:
            yield db
        finally:
            db.close()
    except SQLITE_BUGS:
        raise
    except sqlite3.Error as exc:
        raise database_error(db_file, "the image facts store", db_file.parent, exc) from exc


def has_table(db: sqlite3.Connection, name: str) -> bool:
    """Whether ``db`` holds the table ``name``."""
    query = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
    return db.execute(query, (name,)).fetchone() is not None


def _connected(db_file: Path) -> Iterator[sqlite3.Connection]:
    import sqlite3

    from objrec.cache_folder import SQLITE_BUGS, database_error

    folder = db_file.parent
    try:
        db = sqlite3.connect(db_file, timeout=600, isolation_level=None)
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS facts(digest TEXT, key TEXT, facts TEXT, "
                "PRIMARY KEY(digest, key))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS facts_used(digest TEXT, key TEXT, used REAL, "
                "PRIMARY KEY(digest, key))"
            )
            yield db
        finally:
            db.close()
    except SQLITE_BUGS:
        raise
    except sqlite3.Error as exc:
        raise database_error(Path(db_file), "the image facts store", folder, exc) from exc


def cached_facts(
    paths: Sequence[Path],
    digests: Sequence[str],
    db_file: Path,
    on_file: Callable[[], None] | None = None,
    measured: Mapping[str, ImageFacts] | None = None,
    kinds: Mapping[str, str] | None = None,
) -> list[ImageFacts]:
    """``all_facts`` of ``paths``, kept in a small SQLite table keyed by each file's content digest
    (``digests``: ``file_index.hash_file``'s, as the feature store's file index and ``split`` give
    them), so a second audit or split decodes nothing. ``measured``: facts already taken by
    digest (the audit's frozen pass measures each image it decodes): kept, not taken again. An
    unreadable file is not kept: it is tried again next time. An invalid ``OBJREC_MAX_PIXELS``
    is refused first (``images.pixel_limit``), as when an image decodes: a split whose facts were
    all kept went on with it. ``kinds``: each digest's kind of image where the feature store
    keeps it (``store.FeatureStore.image_kinds``), so that no file is opened to tell the HEIC
    photos this Python cannot decode apart (:func:`_decodable`); the others' first bytes are read.
    """
    pixel_limit()
    fresh = {d: f for d, f in (measured or {}).items() if not f.error}
    key = facts_key()
    with open_facts(db_file) as db:  # closed while images decode: a clear may go on meanwhile
        found = _stored_facts(db, [d for d in dict.fromkeys(digests) if d not in fresh], key)
    found = _decodable(found, paths, digests, kinds or {}) | fresh
    todo = [i for i, d in enumerate(digests) if d not in found]
    for _ in range(len(paths) - len(todo) if on_file else 0):
        on_file()  # type: ignore[misc]
    measured_now = image_facts.all_facts(
        [paths[i] for i in todo], on_file, digests=[digests[i] for i in todo]
    )
    computed = dict(zip(todo, measured_now, strict=True))
    keep_facts(db_file, fresh | {digests[i]: f for i, f in computed.items()}, found)
    return [computed[i] if i in computed else found[d] for i, d in enumerate(digests)]


def keep_facts(db_file: Path, measured: Mapping[str, ImageFacts], read: Iterable[str] = ()) -> None:
    """Keep the facts ``measured`` of each content digest (not those with an error: tried again
    next time) in ``db_file``, and date them and those ``read`` there as used now (at most once
    an hour a row)."""
    import json

    key, now = facts_key(), time.time()
    rows = [(d, key, json.dumps(asdict(f))) for d, f in measured.items() if not f.error]
    with open_facts(db_file) as db:
        db.execute("BEGIN IMMEDIATE")  # one transaction: a commit per row costs an fsync each
        db.executemany("INSERT OR REPLACE INTO facts VALUES (?,?,?)", rows)
        db.executemany(  # last use, written at most once an hour per row
            "INSERT INTO facts_used VALUES (?,?,?) ON CONFLICT DO UPDATE SET used=excluded.used "
            f"WHERE used<excluded.used-{USE_REFRESH}",
            [(d, key, now) for d in {*read, *(r[0] for r in rows)}],
        )
        db.execute("COMMIT")


def digests_kept(db_file: Path, table: str, key: str) -> frozenset[str]:
    """The content digests whose rows ``table`` of the facts store ``db_file`` keeps under
    ``key``: what a first read of new files (``reading.first_read``) need not measure again (a
    folder moved or renamed holds the photos of another). One digest each, so as many bytes
    as the cache folder's facts, never the folder's files."""
    if not Path(db_file).is_file():
        return frozenset()
    with open_facts(db_file) as db:
        if not has_table(db, table):
            return frozenset()
        query = f"SELECT digest FROM {table} WHERE key=?"  # objrec's own names
        return frozenset(d for (d,) in db.execute(query, (key,)))


def kept_facts(
    paths: Sequence[Path], digests: Sequence[str], db_file: Path
) -> dict[str, ImageFacts]:
    """The facts ``db_file`` keeps of ``digests`` (those of ``paths``, by content) under today's
    :func:`facts_key`, less those of the photos this Python cannot decode now
    (:func:`_decodable`); nothing is measured: what ``check`` reads of the images a split or an
    audit measured."""
    if not Path(db_file).exists():
        return {}
    with open_facts(db_file) as db:
        found = _stored_facts(db, list(dict.fromkeys(digests)), facts_key())
    return _decodable(found, paths, digests, {})


def facts_of(digests: Sequence[str], db_file: Path) -> dict[str, ImageFacts]:
    """The facts ``db_file`` keeps of ``digests`` under today's :func:`facts_key`, measured by
    whoever measured them (a split of a run's images); no file is read, so none is left out as
    undecodable now: for images known by content only (a run's training images, by its record),
    whose hashes are compared, never decoded again."""
    if not Path(db_file).exists():
        return {}
    with open_facts(db_file) as db:
        return _stored_facts(db, list(dict.fromkeys(digests)), facts_key())


def _decodable(
    stored: dict[str, ImageFacts],
    paths: Sequence[Path],
    digests: Sequence[str],
    kinds: Mapping[str, str],
) -> dict[str, ImageFacts]:
    """``stored`` less the facts of the HEIC or HEIF photos this Python cannot decode now
    (:func:`objrec.images.decoder_gone`): kept by content while pillow-heif read them, they
    made ``split`` and ``add`` keep photos ``check`` called unusable once it could not. Measured
    again, they are unreadable, with the reason that says so. A digest's kind in ``kinds`` (the
    feature store's) is taken as it is; the file of one not in it is read for it."""
    gone = {
        d
        for p, d in zip(paths, digests, strict=True)
        if d in stored
        and (kind_gone_reason(kinds[d]) is not None if d in kinds else decoder_gone(p))
    }
    return {d: f for d, f in stored.items() if d not in gone}


@dataclass(frozen=True)
class FactsInfo:
    """What the facts store holds: rows (of any :func:`facts_key`) and bytes on disk."""

    rows: int
    bytes: int


def facts_info(db_file: Path) -> FactsInfo:
    if not db_file.exists():
        return FactsInfo(0, 0)
    with open_facts(db_file) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM facts").fetchone()
    return FactsInfo(rows, db_file.stat().st_blocks * 512)


@dataclass(frozen=True)
class KeptTable:
    """A table of the facts store whose rows are kept by content digest, as a prune
    (:func:`prune_kept`) forgets them: those measured under another :attr:`key`, not used for
    some days (:attr:`used`), or of a digest the prune does not keep (:attr:`kept`)."""

    name: str
    schema: str
    """Its ``CREATE ... IF NOT EXISTS`` statements: a prune may come before any row."""
    key: Callable[[], str] | None = None
    """What measures a row today (its ``key`` column): a row under another is never read again.
    None: the table has no key."""
    used: str = "seen"
    """SQL: when a row was last read or written (``time.time()``); NULL: used now."""
    kept: str = "digest IN temp.keep"
    """SQL: whether a row's images are all of digests a prune keeps (``temp.keep``: the
    feature store's, ``file_index.DIGEST_CHARS`` hex characters)."""
    then: tuple[str, ...] = ()
    """Statements run after the rows are removed, for what they leave (``:now``: the time)."""


FACTS = KeptTable(
    "facts",
    "",  # made with the connection (:func:`open_facts`)
    facts_key,
    used="(SELECT used FROM facts_used u WHERE u.digest=facts.digest AND u.key=facts.key)",
    then=(  # a row an older objrec wrote, without its use, counts as used now
        "INSERT OR IGNORE INTO facts_used SELECT digest, key, :now FROM facts",
        "DELETE FROM facts_used WHERE (digest, key) NOT IN (SELECT digest, key FROM facts)",
    ),
)
"""The image facts (:func:`cached_facts`), their last use in ``facts_used``."""


def prune_kept(
    db_file: Path,
    tables: Sequence[KeptTable],
    older_than_days: float | None = None,
    keep: set[str] | None = None,
    wait: Callable[[], None] | None = None,
    compact: bool = False,
) -> dict[str, int]:
    """Forget the rows of ``tables`` measured under another key, not used for
    ``older_than_days``, or of no digest in ``keep``, in one transaction, once no split or audit
    has the file open (``wait()`` is called first when one has); ``compact``: then compact the
    file. Returns how many rows of each table (by name). Safe at any time: what is forgotten is
    measured again."""
    removed = dict.fromkeys((t.name for t in tables), 0)
    if not Path(db_file).exists():
        return removed
    with open_facts(db_file, exclusive=True, wait=wait) as db:
        for table in tables:
            db.executescript(table.schema)
        db.execute("BEGIN IMMEDIATE")
        if keep is not None:
            db.execute("CREATE TEMP TABLE keep(digest TEXT PRIMARY KEY)")
            db.executemany("INSERT OR IGNORE INTO temp.keep VALUES (?)", ((d,) for d in keep))
        for table in tables:
            removed[table.name] = _forget_stale(db, table, older_than_days, keep is not None)
        db.execute("COMMIT")
        if compact:
            db.execute("VACUUM")
    return removed


def _forget_stale(db, table: KeptTable, older_than_days: float | None, keep: bool) -> int:
    """Remove ``table``'s rows :func:`prune_kept` forgets (``keep``: by ``temp.keep`` too); how
    many."""
    now = time.time()
    stale: list[str] = []
    args: list[object] = []
    if table.key is not None:
        stale.append("key<>?")
        args.append(table.key())
    if older_than_days is not None:
        stale.append(f"{table.used}<?")
        args.append(now - older_than_days * 86400)
    if keep:
        stale.append(f"NOT ({table.kept})")
    where = " OR ".join(stale) or "0"
    removed = db.execute(f"DELETE FROM {table.name} WHERE {where}", args).rowcount
    for statement in table.then:
        db.execute(statement, {"now": now})
    return removed


def prune_facts(
    db_file: Path,
    older_than_days: float | None = None,
    keep: set[str] | None = None,
    wait: Callable[[], None] | None = None,
    tables: Sequence[KeptTable] = (),
) -> tuple[int, FactsInfo, FactsInfo]:
    """:func:`prune_kept` of the image facts and the other ``tables``, the file compacted after.
    Returns the image facts' rows removed and the store before and after."""
    before = facts_info(db_file)
    removed = prune_kept(db_file, (FACTS, *tables), older_than_days, keep, wait, compact=True)
    return removed[FACTS.name], before, facts_info(db_file)


def _stored_facts(db, digests: list[str], key: str, chunk=500) -> dict[str, ImageFacts]:
    """The facts ``db`` keeps of ``digests`` under ``key``, less those of images over today's
    pixel limit (``images.pixel_limit``), which the key does not hold: kept under a higher
    ``OBJREC_MAX_PIXELS``, they made a split place an image train leaves out as too large.
    Measured again, they are refused in their own words. Counted as the limit counts them
    (:attr:`ImageFacts.counted`): by their whole size, a JPEG under the limit as it is counted
    (reduced) but not whole was measured again by every split."""
    import json

    found, limit = {}, pixel_limit()
    for start in range(0, len(digests), chunk):
        part = digests[start : start + chunk]
        marks = ",".join("?" * len(part))
        query = f"SELECT digest, facts FROM facts WHERE key=? AND digest IN ({marks})"
        for digest, text in db.execute(query, (key, *part)):
            values = json.loads(text)
            tuples = {name: tuple(values[name]) for name in ("crops", "turns")}
            if (values.get("counted") or values["width"] * values["height"]) <= limit:
                found[digest] = ImageFacts(**(values | tuples))
    return found

"""What ``check``'s decode of each image told (:class:`Decoded`: its contrast, its size as
decoded, why its EXIF data is damaged), each file read at most once (:func:`hashed_and_decoded`),
kept by content digest in the image facts store's ``check_decoded`` table (:data:`DECODED`): a
second check of an unchanged folder, or a check after a split, decodes no image again, reading
what an earlier check, or a split's or an audit's image facts, kept of its content.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from objrec.facts_store import KeptTable
from objrec.file_index import FirstRead, read_first, use_is_stale
from objrec.images import (
    DAMAGED_EXIF,
    IMAGE_ERRORS,
    UnreadableImageError,
    open_image,
    warn_damaged_exif,
)
from objrec.progress import Reporter


def hashed_and_decoded(
    classes: dict[str, list[Path]], reporter: Reporter
) -> tuple[dict[Path, str], dict[Path, Decoded | UnreadableImageError]]:
    """Each image's SHA-256 (those that cannot be read left out) and decode, each file read at
    most once. What the cache folder keeps is read, not measured again: each file's SHA-256 (by
    its path and stat, in the feature store's file index, which every command reads and fills:
    ``reading.hash_all``) and what its decode told (by its content, in the image facts
    store: :func:`decoded`), so that a second check of an unchanged folder, or a check after a
    split, reads no file again (decoding every image is 10 min for 60,000 phone photos, in the
    loop of fixing a folder and checking it again); a file the index does not know is hashed
    from the bytes it is decoded from (:func:`first_decoded`), and told to the index."""
    from objrec.cache_folder import store_dir
    from objrec.reading import facts_file, hash_all, keep_first_reads

    paths = [p for files in classes.values() for p in files]
    failed: dict[Path, OSError] = {}  # cannot be read: their decode says why, in its words
    with reporter.task("hashing files", len(paths)) as advance:
        told = [0]

        def hashed(done: int, _total: int) -> None:  # those known: the others are read below
            advance(done - told[0])
            told[0] = done

        hashes = hash_all(classes, hashed, store_dir(), failed, read_new=False)
    new = [p for p in paths if p not in hashes and p not in failed]
    with reporter.task("decoding images", len(paths)) as advance:
        tick = lambda: advance(1)  # noqa: E731
        found = decoded([p for p in paths if p not in new], hashes, facts_file(), tick)
        first, reads = first_decoded(new, facts_file(), tick)
    keep_first_reads(store_dir(), list(reads.values()))
    hashes |= {path: read.sha256 for path, read in reads.items()}
    known = [p for p in new if p not in first]  # their decode kept already: read from there
    found |= first | decoded(known, hashes, facts_file(), lambda: None)
    return hashes, found


DECODED_SCHEMA = """CREATE TABLE IF NOT EXISTS check_decoded(
    digest TEXT, key TEXT, contrast REAL NOT NULL, seen REAL NOT NULL, exif TEXT,
    width INTEGER, height INTEGER, PRIMARY KEY(digest, key)) WITHOUT ROWID"""
"""Each readable image's contrast and size as ``check`` decodes it (:class:`Decoded`), by content
digest, in the image facts store, under :func:`decoded_key`, when a check last read it, and why
its EXIF data is damaged ("" where it is not: ``images.exif_damage``), so that a check that
decodes it no more warns as the first did (NULL in a row kept before each was kept: decoded
again). Not the image facts
(``facts_store.cached_facts``), which ``check`` reads where a split or an audit kept them: their
perceptual hashes cost 8 times the decode's CPU (a first check of Caltech-101 took 122 s with
them, 11 s without), and check uses none of them. An unreadable image is not kept: it is decoded
again, as the facts store tries one again."""


def _decoded_table(db) -> None:
    """:data:`DECODED_SCHEMA`'s table, its ``exif``, ``width`` and ``height`` columns added to
    one made before them: in a write transaction that looks for them again, so that of two
    checks adding them at once the second adds none (rather than fail with "duplicate column
    name")."""
    db.execute(DECODED_SCHEMA)
    if not _missing_columns(db):
        return
    db.execute("BEGIN IMMEDIATE")
    for column, kind in _missing_columns(db):
        db.execute(f"ALTER TABLE check_decoded ADD COLUMN {column} {kind}")
    db.execute("COMMIT")


def _missing_columns(db) -> list[tuple[str, str]]:
    """The columns of :data:`DECODED_SCHEMA` added since it was first made that ``db``'s table
    lacks, with their kinds."""
    has = {row[1] for row in db.execute("PRAGMA table_info(check_decoded)")}
    added = (("exif", "TEXT"), ("width", "INTEGER"), ("height", "INTEGER"))
    return [(column, kind) for column, kind in added if column not in has]


def decoded_key() -> str:
    """How ``check`` decodes an image (``image_facts.DRAFT``, ``images.PIXEL_RULES``, the decoders'
    versions, the pixel limit it was refused over and, under another limit than the default, the
    side a JPEG counts at: ``images.LIMIT_SIDE``): kept under another key, it is decoded again.
    Under the default limit no JPEG counts over it at any side (65,535 pixels at most a side), so
    the key leaves the side out there and the images an earlier check kept (counted at
    ``image_facts.DRAFT``) stand."""
    from objrec import image_facts
    from objrec.images import LIMIT_SIDE, MAX_PIXELS, PIXEL_RULES, decoder_versions, pixel_limit

    limit = pixel_limit()
    counted = f" counted{LIMIT_SIDE}" if limit != MAX_PIXELS else ""
    return (
        f"draft{image_facts.DRAFT} pixels{PIXEL_RULES} limit{limit}{counted} {decoder_versions()}"
    )


DECODED = KeptTable("check_decoded", DECODED_SCHEMA, decoded_key)
"""What ``check`` decoded, as ``objrec cache --prune`` forgets it (``facts_store.prune_kept``): a
forgotten image is decoded again."""


class Decoded(NamedTuple):
    """What ``check`` keeps of a readable image's decode: its contrast (``image_facts.contrast``),
    its size as decoded, reduced at ``image_facts.DRAFT`` (a JPEG whose sides both stay that
    large: the file's own below it, where ``check.TINY_SIDE`` is told), and why its EXIF data is
    damaged ("": it is not)."""

    contrast: float
    width: int
    height: int
    exif: str


def decoded(
    paths: list[Path], hashes: dict[Path, str], kept: Path, advance: Callable[[], None]
) -> dict[Path, Decoded | UnreadableImageError]:
    """Each image's contrast and size (:class:`Decoded`, decoded at ``image_facts.DRAFT`` as the
    image facts are), or why it cannot be decoded (``open_image``'s error). Read from ``kept`` where
    an earlier check (:data:`DECODED_SCHEMA`) or a split's or an audit's image facts hold its
    content (``hashes``: each file's SHA-256, a file without one decoded, never kept), else decoded
    (:func:`_decode_one`) and kept there, in worker processes as ``split`` measures its image facts
    (``processes.each_file``); ``advance()`` after each. A damaged EXIF an earlier check kept is
    warned about again, as its decode warned (a split's facts know none)."""
    from objrec.file_index import DIGEST_CHARS
    from objrec.processes import each_file

    if not paths:
        return {}
    digests = {p: hashes[p][:DIGEST_CHARS] for p in paths if p in hashes}
    known = _known_decodes(kept, digests)
    found: dict[Path, Decoded | UnreadableImageError] = {}
    for path in paths:
        if (digest := digests.get(path, "")) in known:
            found[path] = was = known[digest][0]
            if was.exif:
                warn_damaged_exif(str(path), was.exif, path)
            advance()
    todo = [p for p in paths if p not in found]

    def decode(path: Path) -> Decoded | UnreadableImageError:
        return _decode_one(path, digests.get(path, ""))

    found |= zip(todo, each_file(decode, todo, advance, doing="decoding images"), strict=True)
    fresh = {  # those decoded now, and those whose last use is stale (pruned by it)
        d: look
        for p, d in digests.items()
        if isinstance(look := found[p], Decoded) and use_is_stale(known.get(d, (look, 0.0))[1])
    }
    _keep_decodes(kept, fresh)
    return {path: found[path] for path in paths}  # in the order of ``paths``


def first_decoded(
    paths: list[Path], kept: Path, advance: Callable[[], None]
) -> tuple[dict[Path, Decoded | UnreadableImageError], dict[Path, FirstRead]]:
    """What :func:`decoded` finds of files the file index does not know, from one read of each
    (``file_index.read_first``: a first check read each twice, to hash it, then to decode it),
    kept in ``kept``; and what the index keeps of each file read. Not the decodes ``kept`` holds
    of their contents already (a folder moved or renamed), read from there by the caller; a file
    that cannot be read is decoded from its path, for its error in ``open_image``'s words."""
    from objrec.file_index import DIGEST_CHARS
    from objrec.processes import each_file

    if not paths:
        return {}, {}
    known = _kept_digests(kept)

    def decode(path: Path) -> tuple[Decoded | UnreadableImageError | None, FirstRead | None]:
        try:
            data, read = read_first(path)
        except OSError:
            return _decode_one(path, ""), None
        if read.sha256[:DIGEST_CHARS] in known:
            return None, read
        return _decoded_from(path, data), read

    found = each_file(decode, paths, advance, doing="decoding images")
    reads = {p: read for p, (_, read) in zip(paths, found, strict=True) if read is not None}
    looks = {p: look for p, (look, _) in zip(paths, found, strict=True) if look is not None}
    digest = {p: read.sha256[:DIGEST_CHARS] for p, read in reads.items()}
    _keep_decodes(kept, {digest[p]: look for p, look in looks.items() if isinstance(look, Decoded)})
    return looks, reads


def _kept_digests(kept: Path) -> frozenset[str]:
    """The contents whose decode ``kept`` holds (:data:`DECODED_SCHEMA`), or a split's or an
    audit's image facts, under today's keys."""
    from objrec import facts_store, image_facts

    facts = facts_store.digests_kept(kept, "facts", image_facts.facts_key())
    return facts | facts_store.digests_kept(kept, "check_decoded", decoded_key())


def _decode_one(path: Path, digest: str) -> Decoded | UnreadableImageError:
    """``path``'s contrast, size and EXIF damage, decoded as training decodes it (reduced), or
    why it cannot be: decoded from the bytes read once that hash to ``digest``, its content
    digest, which the decode is kept under; a file changed since it was hashed is unreadable
    this time (:data:`CHANGED`), as for ``image_facts.hashed_facts``. A file without a
    ``digest`` (it could not be hashed) is decoded from its path (its error in ``open_image``'s
    words)."""
    from objrec import image_facts
    from objrec.file_index import read_as_indexed

    try:
        data = read_as_indexed(path, digest) if digest else None
    except OSError as exc:  # gone since it was hashed: said as the image facts say it
        reason = IMAGE_ERRORS["cannot_read"].format(reason=image_facts.why(exc))
        return UnreadableImageError(str(path), reason)
    if digest and data is None:
        return UnreadableImageError(str(path), CHANGED)
    return _decoded_from(path, path if data is None else data)


def _decoded_from(path: Path, source: Path | bytes) -> Decoded | UnreadableImageError:
    """The decode of ``path`` from ``source``, its bytes read already or the path itself."""
    from objrec import image_facts

    try:
        image = open_image(source, image_facts.DRAFT, name=str(path), from_file=source is not path)
    except UnreadableImageError as exc:
        return exc
    return Decoded(image_facts.contrast(image), *image.size, image.info[DAMAGED_EXIF])


CHANGED = "changed while check read it (nothing of it was kept): run check again"
"""Why :func:`_decode_one` decoded no image of a file: its bytes are not those it hashed."""


def _known_decodes(kept: Path, digests: dict[Path, str]) -> dict[str, tuple[Decoded, float]]:
    """What ``kept`` holds of the decode of each of ``digests``' contents (:class:`Decoded`) and
    when a check last saw it: an earlier check's, else a split's or an audit's image facts (seen
    now; their EXIF not known, said undamaged; not those of an image over today's pixel limit,
    decoded again to be refused in its words)."""
    from objrec import facts_store

    if not kept.exists():
        return {}
    wanted = list(dict.fromkeys(digests.values()))
    found: dict[str, tuple[Decoded, float]] = {}
    read_only = facts_store.read_only(kept)  # read as it is: an older table, or none, holds none
    with facts_store.open_facts(kept) as db:
        if not read_only:
            _decoded_table(db)
        if not read_only or (
            facts_store.has_table(db, "check_decoded") and not _missing_columns(db)
        ):
            found = _read_decodes(db, wanted)
    rest = {p: d for p, d in digests.items() if d not in found}
    facts = facts_store.kept_facts(list(rest), list(rest.values()), kept) if rest else {}
    now = time.time()
    return found | {d: (Decoded(f.contrast, f.width, f.height, ""), now) for d, f in facts.items()}


def _read_decodes(db, wanted: list[str]) -> dict[str, tuple[Decoded, float]]:
    """The decodes ``db`` keeps of the contents ``wanted``, and when a check last saw each."""
    found: dict[str, tuple[Decoded, float]] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        query = (
            "SELECT digest, contrast, width, height, exif, seen FROM check_decoded WHERE "
            "key=? AND exif IS NOT NULL AND width IS NOT NULL AND height IS NOT NULL AND "
            f"digest IN ({','.join('?' * len(part))})"
        )
        rows = db.execute(query, (decoded_key(), *part))
        found |= {d: (Decoded(*look), seen) for d, *look, seen in rows}
    return found


def _keep_decodes(kept: Path, looks: dict[str, Decoded]) -> None:
    """Keep each readable image's decode (``looks``, by its content digest) in ``kept``; none
    where its cache folder cannot be written (a read-only disk, a file on the way to it): the
    check goes on, as the file index's warning said it would (``reading.file_index``), where
    making the folder ended it."""
    from objrec import facts_store
    from objrec.cache_folder import can_write

    if not looks or not can_write(kept.parent):
        return
    now, key = time.time(), decoded_key()
    with facts_store.open_facts(kept) as db:
        _decoded_table(db)
        db.execute("BEGIN IMMEDIATE")  # one transaction: a commit per row costs an fsync each
        db.executemany(
            "INSERT OR REPLACE INTO check_decoded(digest, key, contrast, seen, exif, width, "
            "height) VALUES (?,?,?,?,?,?,?)",
            [(d, key, c, now, exif, w, h) for d, (c, w, h, exif) in looks.items()],
        )
        db.execute("COMMIT")

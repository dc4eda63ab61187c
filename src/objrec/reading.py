"""Reading the image files every command reads, each at most once: their SHA-256 from the feature
store's file index where it knows a file unchanged (:func:`hash_all`; an older objrec's index in
the facts store moved in, :func:`adopt_old_index`), a file it does not know hashed from the bytes
its image facts are measured from (:func:`first_read`), and the facts kept by content in the
cache folder's facts store (:func:`facts_file`). ``split`` and ``add`` read through
:func:`read_all`, ``check`` through :func:`hash_all`."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from objrec import bursts, facts_store, image_facts
from objrec.cache_folder import can_write, default_cache_dir
from objrec.file_index import DIGEST_CHARS, INDEX_FILE, FileIndex, FirstRead, read_first
from objrec.processes import each_file
from objrec.store import open_file_index

log = logging.getLogger(__name__)


def _decoded(
    files: dict[str, list[Path]], hashes: dict[Path, str], tick: Callable[[], None] | None
) -> dict[Path, Any]:
    """Every image's perceptual hashes, or why it cannot be read: decoded once (small) and kept
    by content digest (``hashes``' first 128 bits) in the cache folder's image facts, which
    ``objrec audit`` shares; ``tick()`` after each image."""
    paths = [p for group in files.values() for p in group]
    if not paths:
        return {}
    digests = [hashes[p][:DIGEST_CHARS] for p in paths]  # the feature store's digests
    return dict(
        zip(paths, facts_store.cached_facts(paths, digests, facts_file(), tick), strict=True)
    )


def read_all(
    files: dict[str, list[Path]],
    on_file: Callable[[int, int], None] | None,
    store: Path,
    times: bool = True,
) -> tuple[dict[Path, str], dict[Path, Any]]:
    """Each image's SHA-256 (whole, as the manifest records it) and image facts (its error where
    it cannot be decoded), each file read at most once: not at all where the file index of
    ``store`` knows it unchanged and the cache folder keeps its facts (:func:`_decoded`); a
    file the index does not know is hashed from the bytes its facts are measured from
    (:func:`first_read`), its camera time (``times``) read from them too. ``on_file(done,
    total)`` counts the files looked up in the index as the first half of the work, each image
    read and measured as the second. A file the operating system will not read (gone, EIO,
    no permission) has no SHA-256 and facts that say why (``image_facts.unreadable_facts``),
    left out by the caller as any unreadable image."""
    paths = [p for group in files.values() for p in group]
    failed: dict[Path, OSError] = {}
    hashes = hash_all(files, on_file, store, failed, read_new=False)  # the first half: looked up
    done = [len(paths)]

    def tick() -> None:  # the second half: read (hashed as they are, where new) and measured
        done[0] += 1
        if on_file:
            on_file(done[0], 2 * len(paths))

    known = {"known": [p for p in paths if p in hashes]}
    facts = _decoded(known, hashes, tick)
    new = [p for p in paths if p not in hashes and p not in failed]
    hashes |= first_read(new, store, facts, tick, times, failed)
    facts |= {p: image_facts.unreadable_facts(p, exc) for p, exc in failed.items()}
    facts |= _decoded({"new": [p for p in new if p not in facts]}, hashes, None)
    return hashes, {p: facts[p] for p in paths}


def first_read(
    paths: list[Path],
    store: Path,
    facts: dict[Path, Any],
    tick: Callable[[], None],
    times: bool = True,
    failed: dict[Path, OSError] | None = None,
) -> dict[Path, str]:
    """The SHA-256 of each of ``paths``, files the file index of ``store`` does not know, and
    their image facts into ``facts``, from one read of each (:func:`first_facts`; a split read
    each twice), the index told of them: not the facts the cache folder keeps of its content
    already (a folder moved or renamed), which the caller reads from there. With ``times``,
    each one's EXIF camera time is read from those bytes too and kept, for ``split``'s bursts
    (``bursts.read_times``), which then open no file. A file that cannot be read goes into
    ``failed`` with its error and is left out of the answer (without
    ``failed``, the first such error is raised); ``tick()`` after each."""
    if not paths:
        return {}
    kept = facts_store.digests_kept(facts_file(), "facts", image_facts.facts_key())
    found = each_file(
        lambda p: first_facts(p, kept, times), paths, tick, doing=image_facts.MEASURING
    )
    errors = {p: exc for p, exc in zip(paths, found, strict=True) if isinstance(exc, OSError)}
    if errors and failed is None:
        raise next(iter(errors.values()))
    if failed is not None:
        failed.update(errors)
    firsts = {p: first for p, first in zip(paths, found, strict=True) if isinstance(first, First)}
    keep_first_reads(store, [first.read for first in firsts.values()])
    hashes = {p: first.read.sha256 for p, first in firsts.items()}
    digests = {p: h[:DIGEST_CHARS] for p, h in hashes.items()}
    measured = {p: first.facts for p, first in firsts.items() if first.facts is not None}
    facts_store.keep_facts(facts_file(), {digests[p]: f for p, f in measured.items()})
    read = {digests[p]: first.time[0] for p, first in firsts.items() if first.time[1]}
    bursts.keep_times(facts_file(), read if times else {})
    facts |= measured
    return hashes


class First(NamedTuple):
    """What :func:`first_facts` took from one read of a file."""

    facts: image_facts.ImageFacts | None
    """Its image facts; None where they are kept already."""
    read: FirstRead
    time: tuple[bursts.CameraTime | None, bool]
    """Its camera time, and whether its EXIF could be read (``bursts.checked_time``)."""


def first_facts(path: Path, kept: frozenset[str], times: bool) -> First | OSError:
    """``image_facts.image_facts`` of a file the file index did not know, what the index keeps of it
    (``file_index.read_first``) and, with ``times``, its camera time (``(None, False)``
    without), from one read: its facts None where ``kept`` (the content digests whose facts are
    kept: ``facts_store.digests_kept``) holds its content; the OSError where it cannot be read."""
    try:
        data, read = read_first(path)
    except OSError as exc:
        return exc
    known = read.sha256[:DIGEST_CHARS] in kept
    taken = bursts.checked_time(path, data) if times else (None, False)
    return First(None if known else image_facts.image_facts(path, data), read, taken)


def keep_first_reads(store: Path, reads: Sequence[FirstRead]) -> None:
    """Tell the file index of ``store`` the files read once for their bytes and hashed
    (``file_index.read_first``), where its cache folder can be written."""
    if reads and can_write(store.parent):
        with open_file_index(store) as index:
            index.keep_first_reads(reads)


def facts_file() -> Path:
    """The image facts store of the cache folder (``$OBJREC_CACHE``): each image's facts and the
    pairs compared before (``near_pairs``)."""
    return default_cache_dir() / facts_store.FACTS_FILE


def hash_all(
    files: dict[str, list[Path]],
    on_file,
    store: Path,
    failed: dict[Path, OSError] | None = None,
    read_new: bool = True,
) -> dict[Path, str]:
    """The SHA-256 of every file (whole, as the manifest records it) that the file index of the
    feature store folder ``store`` knows unchanged, by its path, size, times and inode
    (``FeatureStore.readable_digests``, ``whole``): the index every command reads and fills, so
    a file an earlier check, split, add or train read is not read again (60,000 phone photos are
    some 240 GB to read). ``on_file(done, 2 * total)`` after each file looked up: the first half
    of :func:`read_all`'s work (split's, add's), its reads the second (``check_decodes``, check's,
    counts the lookups alone). ``read_new`` False, as both call it: the files the index does not
    know are left out of the answer, for the caller to read once, hashed from the bytes it
    measures (:func:`first_read`; check's ``first_decoded``); True reads and hashes them here, a
    second read of each where the caller then decodes it. ``failed``: where a file that cannot be
    read (gone, no permission) goes with its error, left out of the answer, for ``check`` to
    report; without it, the error is raised."""
    paths = [p for group in files.values() for p in group]
    told = None if on_file is None else lambda done, total: on_file(done, 2 * total)
    with file_index(store) as index:
        if not index.read_only:
            adopt_old_index(index, store.parent / facts_store.FACTS_FILE)
        found, failures, stats = index.readable_digests(
            paths, on_file=told, whole=True, read_new=read_new
        )
    log.info("%s", stats)
    if failures:
        if failed is None:
            raise next(iter(failures.values()))
        failed.update((paths[i], exc) for i, exc in failures.items())
    return {path: found[i] for i, path in enumerate(paths) if i not in failures and found[i]}


@contextmanager
def file_index(store: Path) -> Iterator[FileIndex]:
    """The file index of the feature store folder ``store``, for a command that hashes files;
    where its cache folder cannot be written (a read-only disk), the index as it is, opened only
    to read (or none), which hashes the files it does not know without keeping them."""
    if can_write(store.parent):
        with open_file_index(store) as index:
            yield index
        return
    log.warning(
        "the cache folder %s cannot be written: files its file index does not know are hashed, "
        "and nothing is kept there",
        store.parent,
    )
    with ExitStack() as held:
        folder = store if (store / INDEX_FILE).is_file() else None
        if folder is None:  # hashed through an index of its own, removed after
            folder = Path(held.enter_context(tempfile.TemporaryDirectory(prefix="objrec-")))
        yield held.enter_context(open_file_index(folder, read_only=folder == store))


def adopt_old_index(index: FileIndex, facts: Path) -> None:
    """The files' SHA-256 an objrec before 6 December 2026 kept for ``check`` and ``split`` in
    the image facts store ``facts`` (its table ``file_sha256``, by the same path, size, times
    and inode), moved into the feature store's file index, which every command reads now: read
    once, then dropped, so that no file it knew is read again. Read, moved and dropped in one
    write transaction of ``facts``: two commands that find the table at once (two checks, a
    check and a split) take turns, and the second finds it gone (rather than fail with "no such
    table")."""
    if not facts.is_file():
        return
    with facts_store.open_facts(facts) as db:
        if not _has_table(db, OLD_INDEX):  # moved already: no write lock taken
            return
        db.execute("BEGIN IMMEDIATE")
        if not _has_table(db, OLD_INDEX):  # moved by another command meanwhile
            db.execute("COMMIT")
            return
        columns = "path, size, mtime_ns, ctime_ns, ino, sha256, seen"
        index.adopt_files(db.execute(f"SELECT {columns} FROM {OLD_INDEX}").fetchall())
        db.execute(f"DROP TABLE {OLD_INDEX}")
        db.execute("COMMIT")
    log.info("moved the files' SHA-256 that %s kept into the feature store's file index", facts)


def _has_table(db, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name=?", (name,)).fetchone() is not None


OLD_INDEX = "file_sha256"
"""The table of the image facts store that kept ``check``'s and ``split``'s files' SHA-256 before
6 December 2026 (:func:`adopt_old_index`)."""

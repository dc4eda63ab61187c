"""Reading a split's source folder: its class folders (those ``classes`` and ``exclude`` leave,
two named alike refused, accents' encodings merged), their images, each file's SHA-256 and
perceptual hashes, what cannot be read, and the folders left without images."""

from __future__ import annotations

import logging
import shlex
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from objrec import bursts, facts_store, image_facts
from objrec.cache_folder import can_write, default_cache_dir
from objrec.data import (
    EMPTY_CLASS_ADVICE,
    alike_why,
    already_split,
    class_dirs,
    class_of_folder,
    look_alikes,
    no_class_folders,
    with_likely,
)
from objrec.errors import ObjrecError, strict_refusal
from objrec.file_index import DIGEST_CHARS, INDEX_FILE, FileIndex, FirstRead, read_first
from objrec.images import (
    IgnoredFiles,
    decoder_missing,
    ignored_files,
    is_hidden,
    list_images,
    path_order,
)
from objrec.manifest import (
    MANIFEST,
    is_split_manifest,
    manifest_rows,
    read_split_record,
)
from objrec.processes import each_file
from objrec.reviewed import REVIEWED_FILE
from objrec.store import open_file_index
from objrec.words import plural, some_of

if TYPE_CHECKING:
    from objrec.config import SplitConfig

log = logging.getLogger(__name__)


class Source(NamedTuple):
    """What a split reads of its source folder (:func:`read_source`)."""

    files: dict[str, list[Path]]
    """Each class's images that decode, in its folder's order."""
    hashes: dict[Path, str]
    """The SHA-256 of each of those images."""
    facts: dict[Path, Any]
    """What decoding each image told (``image_facts.ImageFacts``), those that do not decode too."""
    empty: list[str]
    """The class folders left without images (none at all, or none readable)."""
    unreadable: list[str]
    """The images (``class/file``) that do not decode."""
    too_large: list[str]
    """Those of ``unreadable`` over the pixel limit."""
    no_decoder: list[str]
    """Those of ``unreadable`` that need pillow-heif."""
    not_images: IgnoredFiles | None
    """The files of the class folders and beside them that are not images."""


def read_source(
    src: Path, config: SplitConfig, on_file: Callable[[int, int], None] | None, store: Path
) -> Source:
    """The class folders of ``src`` that ``config`` takes (``classes``, ``exclude``), each file
    hashed (through the file index of ``store``: an unchanged file is not read again) and each
    image decoded, small, from one read (:func:`read_all`, ``on_file(done, total)`` as there),
    what does not decode or is no image left out; refused, before anything is read, when
    ``src`` is no source folder, and with ``config.strict`` when an image does not decode or a
    class has none."""
    ignored: list[Path] = []
    files, empty = class_files(src, config.exclude, ignored, config.classes)
    refuse_wrong_source(src, files)
    images = [p for paths in files.values() for p in paths]
    not_images = ignored_files(src, ignored, images, loose_files(src, config.groups))
    log.info("reading the %s of %s: hashing and decoding each", plural(len(images), "image"), src)
    hashes, facts = read_all(files, on_file, store, times=config.burst_seconds > 0)
    files, unreadable, too_large, no_decoder = drop_unreadable(src, files, facts)
    if config.strict:
        refuse_problems(src, empty, unreadable)
    files, empty = without_empty(src, files, empty)
    hashes = {p: hashes[p] for paths in files.values() for p in paths}
    return Source(files, hashes, facts, empty, unreadable, too_large, no_decoder, not_images)


def loose_files(src: Path, groups: str | Path | None = None) -> list[Path]:
    """The visible files directly in ``src``, outside any class folder (images too), which no
    split holds; not the ``groups`` file, which the split reads, nor ``reviewed.csv``, which it
    carries (``reviewed``)."""
    given = Path(groups).resolve() if groups is not None else None
    files = (p for p in src.iterdir() if not is_hidden(p) and not p.is_dir())
    files = (p for p in files if p.name != REVIEWED_FILE)
    return sorted((p for p in files if p.resolve() != given), key=path_order)


def class_files(
    src: Path,
    exclude: Sequence[str],
    ignored: list[Path] | None = None,
    classes: Sequence[str] = (),
) -> tuple[dict[str, list[Path]], list[str]]:
    """The images of each class (:func:`objrec.data.class_of_folder`: two folders whose names differ
    only in how their accents are encoded, NFC and NFD ``Café``, are one class, written under its
    NFC name), of those ``classes`` names (every one when it names none) less those ``exclude``
    names, and the names of the class folders that have none; the other files in ``ignored``
    (:func:`objrec.images.list_images`)."""
    files: dict[str, list[Path]] = {}
    empty = []
    for folder in _select_classes(src, exclude, classes):
        paths = list_images(src / folder, ignored=ignored)
        if paths:
            files.setdefault(class_of_folder(folder), []).extend(paths)
        else:
            empty.append(folder)
    return {name: sorted(paths, key=path_order) for name, paths in files.items()}, empty


def refuse_wrong_source(src: Path, files: dict[str, list[Path]]) -> None:
    """Refuse a source folder that is not the one holding the class folders, before any image
    is read: a split folder (its classes would be train, valid and test), a dataset laid out as
    split without objrec (``train/ val/ test/``, each holding class folders:
    :func:`objrec.data.already_split`), or the folder above the class folders (one class, whose
    images all lie in sub-folders of it)."""
    if is_split_manifest(src / MANIFEST) and set(files) <= {"train", "valid", "test"}:
        origin = split_origin(src)
        raise ObjrecError(
            f"{src} is a split folder (it holds {MANIFEST}), so its classes would be "
            f"train, valid and test: split the photo folder it was made from"
            + (f", {origin}," if origin is not None else "")
            + " instead"
        )
    if (why := already_split(src, files)) is not None:
        raise ObjrecError(f"{src} is {why}")
    if len(files) != 1:
        return
    paths = next(iter(files.values()))
    folder = src / next(iter(paths)).relative_to(src).parts[0]
    below = sorted({p.relative_to(folder).parts[0] for p in paths if p.parent != folder})
    if len(below) > 1 and all(p.parent != folder for p in paths):
        raise ObjrecError(
            f"{src} holds one class folder, {folder.name}, whose images all lie in its "
            f"sub-folders ({some_of(below)}): if those are your classes, split {folder} instead"
        )


def split_origin(split: Path) -> Path | None:
    """The photo folder a split folder was made from: its ``split.json``'s ``source``, else (a
    split made before objrec recorded it) by its manifest's first row (the class folder above
    its ``source``); None when neither says."""
    source = (read_split_record(split) or {}).get("source")
    if isinstance(source, str) and source:
        return Path(source)
    rows = manifest_rows(split / MANIFEST)
    if not rows or not rows[0].get("source"):
        return None
    source = Path(rows[0]["source"])
    top = Path(rows[0]["file"]).parts[1:2]  # split/CLASS/...: the class folder's name
    found = [p for p in source.parents if top and p.name == top[0]]
    return found[0].parent if found else None


def merged_classes(src: Path, files: dict[str, list[Path]]) -> dict[str, int]:
    """The classes of ``files`` whose images come from several class folders of ``src`` (named
    alike but for how their accents are encoded, :func:`class_files`), with their count."""
    folders = {name: {p.relative_to(src).parts[0] for p in paths} for name, paths in files.items()}
    return {name: len(found) for name, found in folders.items() if len(found) > 1}


def without_empty(
    src: Path, files: dict[str, list[Path]], empty: list[str]
) -> tuple[dict[str, list[Path]], list[str]]:
    """Class folders left without images (none at all, or none readable) join ``empty``; refused
    when no class is left, saying that each needs photos: not check and train's "delete it"
    (``EMPTY_CLASS_ADVICE``), which would leave nothing to split."""
    empty = empty + [name for name, paths in files.items() if not paths]
    if not any(files.values()) and len(empty) == 1:
        raise ObjrecError(
            f"class folder {src / empty[0]} holds no images: put photos of its class in it"
        )
    if not any(files.values()):
        raise ObjrecError(
            f"all {len(empty)} class folders of {src} hold no images ({some_of(empty)}): "
            "put photos of each class in its folder"
        )
    return {name: paths for name, paths in files.items() if paths}, empty


def refuse_problems(src: Path, empty: Sequence[str], unreadable: Sequence[str]) -> None:
    """``strict``: one error telling every problem found in ``src`` (class folders without images,
    image files that cannot be read), each kind's first ``NAMED`` and a count of the rest."""
    problems = []
    if len(empty) == 1:
        problems.append(f"class folder {src / empty[0]} {EMPTY_CLASS_ADVICE}")
    elif empty:
        problems.append(
            f"{plural(len(empty), 'class folder')} hold no images ({some_of(empty)}): delete "
            "them, or put photos of their classes in them"
        )
    if unreadable:
        files = plural(len(unreadable), "image file")
        problems.append(f"{files} cannot be read: {some_of(unreadable)}")
    if problems:
        raise strict_refusal(src, problems)


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
    read and measured as the second; an OSError where one cannot be read."""
    paths = [p for group in files.values() for p in group]
    hashes = hash_all(files, on_file, store, read_new=False)  # the first half: looked up
    done = [len(paths)]

    def tick() -> None:  # the second half: read (hashed as they are, where new) and measured
        done[0] += 1
        if on_file:
            on_file(done[0], 2 * len(paths))

    known = {"known": [p for p in paths if p in hashes]}
    facts = _decoded(known, hashes, tick)
    new = [p for p in paths if p not in hashes]
    hashes |= first_read(new, store, facts, tick, times)
    facts |= _decoded({"new": [p for p in new if p not in facts]}, hashes, None)
    return hashes, {p: facts[p] for p in paths}


def first_read(
    paths: list[Path],
    store: Path,
    facts: dict[Path, Any],
    tick: Callable[[], None],
    times: bool = True,
) -> dict[Path, str]:
    """The SHA-256 of each of ``paths``, files the file index of ``store`` does not know, and
    their image facts into ``facts``, from one read of each (:func:`first_facts`; a split read
    each twice), the index told of them: not the facts the cache folder keeps of its content
    already (a folder moved or renamed), which the caller reads from there. With ``times``,
    each one's EXIF camera time is read from those bytes too and kept, for ``split``'s bursts
    (``bursts.read_times``), which then open no file. An OSError where one cannot be read;
    ``tick()`` after each."""
    if not paths:
        return {}
    kept = facts_store.digests_kept(facts_file(), "facts", image_facts.facts_key())
    found = each_file(
        lambda p: first_facts(p, kept, times), paths, tick, doing=image_facts.MEASURING
    )
    if errors := [exc for exc in found if isinstance(exc, OSError)]:
        raise errors[0]
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


def drop_unreadable(
    src: Path, files: dict[str, list[Path]], facts: dict[Path, Any]
) -> tuple[dict[str, list[Path]], list[str], list[str], list[str]]:
    """The files that decode, the names (``class/file``) of those that do not, and of those the
    names of the ones over the pixel limit, and of those that need pillow-heif."""
    bad = [p for paths in files.values() for p in paths if facts[p].error]
    names = [p.relative_to(src).as_posix() for p in bad]
    kept = {name: [p for p in paths if not facts[p].error] for name, paths in files.items()}
    too_large = [n for n, p in zip(names, bad, strict=True) if facts[p].too_large]
    heif = [n for n, p in zip(names, bad, strict=True) if decoder_missing(facts[p].error)]
    return kept, names, too_large, heif


def _select_classes(src: Path, exclude: Sequence[str], classes: Sequence[str] = ()) -> list[str]:
    """The class folders of ``src`` to split (their names): those ``classes`` names (every one
    when it names none), less those ``exclude`` names (in either encoding of their accents)."""
    names = [p.name for p in class_dirs(src)]
    if not names:
        raise no_class_folders(src)
    _named_classes(src, names, "classes", classes)
    _named_classes(src, names, "exclude", exclude)
    folders = [n for n in names if chosen_class(n, classes, exclude)]
    if not folders and classes:
        raise ObjrecError("`exclude` leaves out every class `classes` names: nothing to split")
    if not folders:
        raise ObjrecError(f"`exclude` leaves no class of {src} to split")
    refuse_alike_classes(src, folders)
    return folders


def chosen_class(name: str, classes: Sequence[str], exclude: Sequence[str]) -> bool:
    """Whether a split with the settings ``classes`` (none: every class) and ``exclude`` takes
    the class ``name`` (a folder's, in either encoding of its accents)."""
    key = class_of_folder(name)
    named = {class_of_folder(n) for n in classes}
    return (not named or key in named) and key not in {class_of_folder(n) for n in exclude}


def _named_classes(src: Path, names: Sequence[str], setting: str, named: Sequence[str]) -> None:
    """Refuse a class the ``setting`` (``classes`` or ``exclude``) names that ``src``'s class
    folders (``names``) lack, with the likely one meant (``cat (is it Cat?)``)."""
    given = {class_of_folder(n) for n in named}
    unknown = sorted(given - {class_of_folder(n) for n in names})
    if unknown:
        said = some_of(with_likely(unknown, names), len(unknown), quote=False)
        raise ObjrecError(f"`{setting}` names classes that {src} does not have: {said}")


def refuse_alike_classes(src: Path, names: Sequence[str]) -> None:
    """Refuse two class folders whose names differ only in case or in a space at either end
    (:func:`objrec.data.read_key`; those that differ only in how their accents are encoded are
    one class): one folder on macOS and Windows, where the split's copies would be one class, or
    two classes that read the same (a Mac's ``Stop signs `` folder beside ``Stop signs``)."""
    for other, name, how in look_alikes(names):
        why = f"which would be {alike_why(how)}"
        why += " (the split would write them as one folder)" if how == "case" else ""
        moved = shlex.quote(str(src / f"{name.strip()}-2"))
        raise ObjrecError(
            f"the class folders {other!r} and {name!r} of {src} differ only in {how}, {why}: "
            f"if they are one class, move the photos of one into the other; if two, rename one "
            f"(`mv {shlex.quote(str(src / name))} {moved}`), or leave one out with `exclude`"
        )


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

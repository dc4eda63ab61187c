"""Reading a split's source folder: its class folders (those ``classes`` and ``exclude`` leave,
two named alike refused, accents' encodings merged), their images, each file's SHA-256 and
perceptual hashes (read once, through ``reading.read_all``), what cannot be read, and the folders
left without images."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

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
from objrec.errors import ObjrecError, UsageRefused, strict_refusal
from objrec.images import decoder_missing
from objrec.listing import (
    BAD_FOLDER_NAME,
    BAD_NAME,
    IgnoredFiles,
    has_utf8_name,
    ignored_files,
    is_gone_folder,
    is_hidden,
    list_images,
    path_order,
    utf8_name,
)
from objrec.manifest import (
    MANIFEST,
    is_split_manifest,
    manifest_rows,
    read_split_record,
)
from objrec.paths import PathGiven
from objrec.reviewed import REVIEWED_FILE
from objrec.warned import warn_once
from objrec.words import plural, some_of

if TYPE_CHECKING:
    from objrec.config import SplitConfig

from objrec.reading import read_all

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
    bad: list[str] = []
    files, empty = class_files(src, config.exclude, ignored, config.classes, bad)
    refuse_wrong_source(src, files)
    images = [p for paths in files.values() for p in paths]
    loose = loose_files(src, config.groups)
    not_images = ignored_files(src, ignored, images, loose)
    log.info("reading the %s of %s: hashing and decoding each", plural(len(images), "image"), src)
    hashes, facts = read_all(files, on_file, store, times=config.burst_seconds > 0)
    files, unreadable, too_large, no_decoder = drop_unreadable(src, files, facts)
    if config.strict:
        gone = [p.name for p in loose if is_gone_folder(p)]
        refuse_problems(src, empty, unreadable, gone, bad)
    files, empty = without_empty(src, files, empty)
    hashes = {p: hashes[p] for paths in files.values() for p in paths}
    return Source(files, hashes, facts, empty, unreadable, too_large, no_decoder, not_images)


def loose_files(src: Path, groups: PathGiven | None = None) -> list[Path]:
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
    bad: list[str] | None = None,
) -> tuple[dict[str, list[Path]], list[str]]:
    """The images of each class (:func:`objrec.data.class_of_folder`: two folders whose names differ
    only in how their accents are encoded, NFC and NFD ``Café``, are one class, written under its
    NFC name), of those ``classes`` names (every one when it names none) less those ``exclude``
    names, and the names of the class folders that have none; the other files in ``ignored``
    (:func:`objrec.images.list_images`). A class folder or an image whose name is not UTF-8 is
    left out with a warning saying to rename it (a folder once, not called empty), and named in
    ``bad`` (relative to ``src``, escaped as printed), which ``strict`` refuses."""
    files: dict[str, list[Path]] = {}
    empty = []
    for folder in _select_classes(src, exclude, classes):
        paths = _folder_images(src, folder, ignored, [] if bad is None else bad)
        if paths is None:
            continue
        if paths:
            files.setdefault(class_of_folder(folder), []).extend(paths)
        else:
            empty.append(folder)
    return {name: sorted(paths, key=path_order) for name, paths in files.items()}, empty


def _folder_images(
    src: Path, folder: str, ignored: list[Path] | None, bad: list[str]
) -> list[Path] | None:
    """The images of the class folder ``folder`` of ``src`` whose names are UTF-8, each other
    warned of and named in ``bad``; None, the folder warned of once and named, where its own
    name is not UTF-8."""
    if not has_utf8_name(src / folder):  # one warning of the folder, not one of each photo
        warn_once(
            "bad name", src / folder, "class folder %s left out: %s", src / folder, BAD_FOLDER_NAME
        )
        bad.append(utf8_name(folder))
        return None
    named: list[Path] = []
    paths = list_images(src / folder, named, ignored=ignored)
    for path in named:
        warn_once("bad name", path, "%s left out: %s", path, BAD_NAME)
    bad += [utf8_name(path.relative_to(src).as_posix()) for path in named]
    return paths


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


def refuse_problems(
    src: Path,
    empty: Sequence[str],
    unreadable: Sequence[str],
    gone: Sequence[str] = (),
    bad: Sequence[str] = (),
) -> None:
    """``strict``: one error telling every problem found in ``src`` (links to class folders that
    are not there, ``gone``; class folders without images, image files that cannot be read; the
    images and class folders whose names are not UTF-8, ``bad``), each kind's first ``NAMED``
    and a count of the rest."""
    problems = []
    if gone:
        problems.append(
            f"{plural(len(gone), 'link')} to "
            + ("a folder that is" if len(gone) == 1 else "folders that are")
            + f" not there ({some_of(gone)}): plug in the drive a class folder is on, or remove "
            "the link"
        )
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
    if bad:
        names = plural(len(bad), "name") + (" is" if len(bad) == 1 else " are")
        them = "it" if len(bad) == 1 else "them"
        problems.append(
            f"{names} not UTF-8 ({some_of(bad)}): objrec cannot record {them}; rename {them}"
        )
    if problems:
        raise strict_refusal(src, problems)


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
        raise UsageRefused("`exclude` leaves out every class `classes` names: nothing to split")
    if not folders:
        raise UsageRefused(f"`exclude` leaves no class of {src} to split")
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
        raise UsageRefused(f"`{setting}` names classes that {src} does not have: {said}")


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

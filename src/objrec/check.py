"""``check``: every problem a data folder has, found without training.

Each file is decoded as training would decode it. A problem is *unusable* (the file or folder cannot
be trained on: undecodable, too large, an empty class, a folder of only one class) or a note (a file
objrec ignores, an image without an extension that it reads anyway). Camera RAW files and their
sidecars (``.xmp``), a photographer's folder holding one beside each JPEG, are one note each.
``train`` skips unusable files with one warning each and refuses a folder of one class;
``train --strict`` refuses to start while any exist.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from objrec.cache_folder import using_cache_dir
from objrec.check_decodes import hashed_and_decoded
from objrec.config import SplitConfig
from objrec.copies import originals_first
from objrec.data import (
    EMPTY_CLASS_ADVICE,
    SPLIT_NAMES,
    SPLITS,
    UNKNOWN_NAME_WHY,
    WINDOWS_WHY,
    alike_names,
    alike_why,
    already_split,
    class_dirs,
    class_of_folder,
    close_match,
    how_alike,
    imbalance_hint,
    is_split_folder,
    named_unknown,
    no_class_folders,
    present_splits,
    read_key,
    refuse_run_folder,
    split_then_balance,
    windows_unsafe,
)
from objrec.enough import FEWEST_WITHOUT_INTERVAL
from objrec.errors import ObjrecError, on_ctrl_c, strict_refusal
from objrec.images import UnreadableImageError, frame_count
from objrec.listing import (
    BAD_FOLDER_NAME,
    BAD_NAME,
    RAW_EXTENSIONS,
    SIDECAR_EXTENSIONS,
    SYSTEM_FOLDERS,
    broken_link_reason,
    has_utf8_name,
    is_gone_folder,
    is_hidden,
    is_image_file,
    is_link_loop,
    walk_tree,
)
from objrec.manifest import read_split_record
from objrec.paths import PathGiven
from objrec.progress import SILENT, Reporter, or_silent
from objrec.ratios import (
    allocate,
    few_train_why,
    larger_ratios_hint,
    min_class_size,
    photos_for,
)
from objrec.renames import renamed_arguments, renamed_attribute
from objrec.reviewed import REVIEWED_FILE
from objrec.words import joined, plural, quoted, some_of

log = logging.getLogger(__name__)


@dataclass
class Problem:
    path: str
    kind: str
    """unreadable, too_large, bad_name (not UTF-8), empty_class, one_class, alike_classes (named
    like another but for case; noted, but for accents' encoding), unknown_class (in valid or
    test, not in train), unknown_name (a class named unknown, the answer for none of them),
    no_class_folder, gone_folder (a link where class folders are, to a folder not there: a
    drive unplugged, a folder moved), bad_folder_name (a class folder whose name is not UTF-8),
    ignored_hidden, ignored_file, no_extension, link_loop,
    missing_class (a class of train that valid or test lacks), few_images (fewer than
    ``split`` needs, or fewer training images than it needs of a whole class), nested_folder
    (a sub-folder of a class folder holding images, trained as that class), already_split (the
    folder checked, laid out as ``train/ val/ test/`` of class folders) or imbalanced (the
    largest class 50 times the smallest or more: ``data.imbalance_hint``; else, in a class
    folder, classes of few images beside a large one: ``few_beside_many_hint``); raw_files and
    sidecar_files: one note of all the camera RAW files (``listing.RAW_EXTENSIONS``), or of all
    the sidecar files (``listing.SIDECAR_EXTENSIONS``), of the class folders, at the folder
    checked; blank_images: one note of all the nearly blank images (a camera's black failure
    frames), at the folder checked; tiny_images: one note of all the images a few pixels a side
    (``TINY_SIDE``), at the folder checked; paged_images: one note of all the images of several
    pages or frames (a multi-page TIFF, an animated GIF), only the first of which is read, at the
    folder checked; identical_files: one note of each group of files of
    the same bytes, at its first file; windows_name: a class folder whose name Windows cannot hold
    (``data.windows_unsafe``)"""
    message: str
    unusable: bool
    files: list[str] | None = None
    """Of a raw_files, sidecar_files, blank_images, tiny_images or paged_images note: every file
    it counts (its
    message names few); of an identical_files note, every file of the group."""
    without_image: list[str] | None = None
    """Of a raw_files note: its files with no image of the same name beside them (a photo that
    is not trained on unless converted), which its message names, the first 10."""


FILE_KINDS = ("unreadable", "too_large", "bad_name")
"""The kinds of unusable problem that are one image file each; the others are folders."""


@dataclass
class CheckResult:
    root: Path
    images: int = 0
    """Image files in class folders: ``readable`` ones and ``n_unreadable``."""
    readable: int = 0
    n_classes: int = 0
    """Distinct names of class folders holding image files (a class present in several splits
    counts once; an empty class folder is a problem, not a class); ``check --json``'s
    ``n_classes`` (``classes`` before 7 December 2026)."""
    splits: dict[str, int] = field(default_factory=dict)
    """Image files per split, for a split folder (or one laid out as split already, by its own
    folder names: ``val``); empty for a class folder."""
    problems: list[Problem] = field(default_factory=list)
    raw_files: list[Path] = field(default_factory=list)
    """Camera RAW files in class folders, noted together (:func:`_note_raw_and_sidecars`)."""
    sidecar_files: list[Path] = field(default_factory=list)
    """Sidecar files (``.xmp``) in class folders, noted together."""
    blank_images: list[Path] = field(default_factory=list)
    """Readable images of one colour all over (``image_facts.MIN_CONTRAST``), noted together."""
    tiny_images: list[tuple[Path, int, int]] = field(default_factory=list)
    """Readable images with a side under ``TINY_SIDE`` pixels, with their width and height,
    noted together (:func:`_note_tiny`)."""
    paged_images: list[tuple[Path, int]] = field(default_factory=list)
    """Readable images of several pages or frames (``images.frame_count``), with how many, noted
    together (:func:`_note_paged`): only the first of each is read."""
    split_record: dict[str, Any] | None = None
    """How a split folder was made, as its ``split.json`` says (``split.record``); None for a
    class folder, or a split folder made before objrec recorded it."""
    digests: dict[Path, str] = field(default_factory=dict, repr=False)
    """The SHA-256 of each readable image, as ``split`` hashes them: files of the same bytes are
    noted (:func:`_note_identical`)."""
    split_refused: bool = field(default=False, repr=False)
    """A class folder ``split_folder`` refuses as it stands, at its default ratios: no class has
    the readable images to give valid one (:data:`SPLIT_REFUSED`, noted on the folder), so that
    what comes next is adding photos, not a split that leaves the unusable files out."""

    def note(self, path: Path, kind: str, message: str) -> None:
        """Record a problem that does not stop training (a file or folder objrec ignores)."""
        self.problems.append(Problem(str(path), kind, message, False))

    classes = renamed_attribute("CheckResult", "classes", "n_classes")
    unusable_files = renamed_attribute("CheckResult", "unusable_files", "n_unreadable")

    @property
    def data(self) -> Path:
        """The folder checked, as ``check_folder(data)`` names it: ``root``, ``check --json``'s
        key (the one-line repr said ``root=`` where the parameter is ``data``)."""
        return self.root

    @property
    def unusable(self) -> list[Problem]:
        return [p for p in self.problems if p.unusable]

    @property
    def n_unreadable(self) -> int:
        """Image files that cannot be read (or named: not UTF-8), left out: ``images`` less
        ``readable``; ``check --json``'s ``n_unreadable`` (``unusable_files`` before 7 December
        2026)."""
        return sum(p.kind in FILE_KINDS for p in self.unusable)

    @property
    def unusable_folders(self) -> int:
        """The folders of the unusable problems that are not a file's (empty class folders,
        classes of valid or test that train lacks, a folder of one class, class folders named
        alike, a class named unknown, a folder laid out as split already, a link to a folder
        gone, a folder name that is not UTF-8): each once, though it may be several problems
        (an empty class train lacks is two)."""
        return len({p.path for p in self.unusable if p.kind not in FILE_KINDS})

    def __repr__(self) -> str:
        """One line, as the other results': the folder, its images and classes, and how many
        problems (``problems`` lists them, ``split_record`` and the notes are attributes)."""
        splits = "".join(f", {split}={n}" for split, n in self.splits.items())
        return (
            f"CheckResult(data={str(self.root)!r}, images={self.images}, "
            f"readable={self.readable}, n_classes={self.n_classes}{splits}, "
            f"n_problems={len(self.problems)}, n_unusable={len(self.unusable)})"
        )

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` answer (docs/json.md): each path relative to ``root`` (``lamp/a.jpg``;
        ``.`` for the folder itself), as the text names them and split's answer its files,
        however ``root`` was given (absolute, it made them absolute)."""
        return {
            "root": str(self.root),
            "images": self.images,
            "readable": self.readable,
            "n_unreadable": self.n_unreadable,
            "n_classes": self.n_classes,
            "splits": self.splits,
            "unusable_folders": self.unusable_folders,
            "unusable": len(self.unusable),
            "problems": [self.problem_json(p) for p in self.problems],
            "split_record": self.split_record,
        }

    def problem_json(self, problem: Problem) -> dict[str, Any]:
        """A problem's keys without those it lacks, its paths relative to ``root``."""
        found = {k: v for k, v in asdict(problem).items() if v is not None}
        found["path"] = self.relative(found["path"])
        for key in ("files", "without_image"):
            if key in found:
                found[key] = [self.relative(f) for f in found[key]]
        return found

    def relative(self, path: str) -> str:
        """``path`` relative to ``root`` (``.`` for root), or as it is when outside it."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return path


def _walk(folder: Path, result: CheckResult, above: frozenset[str]) -> list[Path]:
    """Image files below a class folder; hidden entries, other files and link loops are noted."""
    images = []
    for path, kind in walk_tree(folder, above):
        if kind == "hidden":
            _note_hidden(path, result)
        elif kind == "loop":
            result.note(path, "link_loop", "links back to a folder that contains it, not followed")
        elif is_image_file(path) and not has_utf8_name(path):
            result.problems.append(Problem(str(path), "bad_name", BAD_NAME, True))
        elif is_image_file(path):
            images.append(path)
            if not path.suffix:
                result.note(path, "no_extension", "no file extension, read as an image")
        else:
            _note_other(path, result)
    return images


def _note_other(path: Path, result: CheckResult) -> None:
    """A file of a class folder that is not an image: a camera RAW or sidecar file is kept for
    one note of them all (:func:`_note_raw_and_sidecars`), any other noted as ignored."""
    suffix = path.suffix.lower()
    if path.is_symlink() and not path.exists():
        result.note(path, "ignored_file", f"{broken_link_reason(path)}, ignored")
    elif suffix in RAW_EXTENSIONS:
        result.raw_files.append(path)
    elif suffix in SIDECAR_EXTENSIONS:
        result.sidecar_files.append(path)
    else:
        result.note(path, "ignored_file", "not an image file, ignored")


def _note_raw_and_sidecars(root: Path, images: Iterable[Path], result: CheckResult) -> None:
    """One note of the camera RAW files of the class folders, naming those with no image of the
    same name (any case) beside them: a photographer's folder holds a RAW file beside each JPEG,
    and one shot kept only as RAW is a photo left out of training. One note of the sidecars."""
    if result.raw_files:
        beside = {(p.parent, p.stem.casefold()) for p in images}
        alone = [p for p in result.raw_files if (p.parent, p.stem.casefold()) not in beside]
        message = raw_message(root, result.raw_files, alone)
        files, without = [str(p) for p in result.raw_files], [str(p) for p in alone]
        note = Problem(str(root), "raw_files", message, False, files, without)
        result.problems.append(note)
    if result.sidecar_files:
        counts = _by_extension(result.sidecar_files)
        if len(counts) == 1:
            message = f"{plural(len(result.sidecar_files), f'{next(iter(counts))} sidecar file')}"
        else:
            kinds = ", ".join(f"{n:,} {ext}" for ext, n in counts.items())
            message = f"{plural(len(result.sidecar_files), 'sidecar file')} ({kinds})"
        message += " ignored: a camera's or photo editor's notes on a photo, not images"
        files = [str(p) for p in result.sidecar_files]
        result.problems.append(Problem(str(root), "sidecar_files", message, False, files))


def _by_extension(paths: list[Path]) -> dict[str, int]:
    """How many of ``paths`` have each extension (any case), spelt as its first file spells it."""
    spelt: dict[str, str] = {}
    counts: dict[str, int] = {}
    for path in paths:
        ext = spelt.setdefault(path.suffix.lower(), path.suffix)
        counts[ext] = counts.get(ext, 0) + 1
    return counts


def raw_message(root: Path, raw: list[Path], alone: list[Path]) -> str:
    """The note of the camera RAW files ``raw`` below ``root``, naming those of them ``alone``
    (with no image of their name beside them)."""
    kinds = ", ".join(_by_extension(raw))
    head = (
        f"{plural(len(raw), 'camera RAW file')} ({kinds}) not read (objrec reads JPEG, PNG, TIFF, "
        "WebP and the like)"
    )
    paired, one = len(raw) - len(alone), len(raw) == 1
    image = "JPEG or other image of the same name beside it"
    if not alone:
        return f"{head}: {'it has' if one else 'each has'} a {image}"
    names = some_of([p.relative_to(root).as_posix() for p in alone])
    left = f"(left out of training unless converted to JPEG): {names}"
    if not paired:
        return f"{head}: {'it has no' if one else 'none has a'} {image} {left}"
    them = "it" if paired == 1 else "them"
    return f"{head}: {_has(paired)} a {image[:-2]}{them}, {_has(len(alone))} none {left}"


def _has(n: int) -> str:
    return f"{n:,} {'has' if n == 1 else 'have'}"


def _read_records(root: Path, result: CheckResult) -> None:
    """A split folder's ``split.json`` into ``result``; a killed add's files in no manifest row,
    and the add not in ``split.json``, noted with what lists them
    (:func:`objrec.add.pending.unfinished_add`), not the files counted as if all were well.
    Nothing of it while another process holds the folder (an add running: it lists them)."""
    from objrec.add.pending import PENDING, UnreadableNote, unfinished_add, unfinished_words
    from objrec.locks import held_elsewhere

    result.split_record = read_split_record(root)
    _note_manifest_classes(root, result)

    # an add running now holds the folder, its note there until it lists what it wrote
    try:
        found = None if held_elsewhere(root) else unfinished_add(root)
    except UnreadableNote as damaged:
        result.note(damaged.path, "unfinished_add", damaged.words)
        return
    if found is not None and (said := unfinished_words(found)):
        result.note(root / PENDING, "unfinished_add", said)


def _source(result: CheckResult) -> str:
    """The photo folder a split folder was split from, as its ``split.json`` records it, for the
    call a note gives (``PHOTOS`` where it records none: a split made before objrec did)."""
    return str((result.split_record or {}).get("source") or "PHOTOS")


def _note_killed_splits(root: Path, result: CheckResult) -> None:
    """Each staging folder a killed split left in the split folder ``root`` (``.objrec-split-``,
    hidden beside its splits: only the next split named it), with what it is and what to do with
    it, as that split says it."""
    from objrec.split.out import killed_split_words, leftover_stages

    src = _source(result)
    for stage in leftover_stages(root):
        result.note(stage, "killed_split", killed_split_words(stage, src, root))


def _note_manifest(root: Path, by_split: dict[str, dict[str, list[Path]]], result: CheckResult):
    """A damaged or missing ``manifest.csv`` noted (:func:`objrec.manifest.manifest_damage`), else
    images of the splits it has no row of: a manifest cut short mid-row looks whole to the
    eye, and add would append its rows after the half row. Not while an add writes
    there, nor beside a killed add's note (its files in no row are said already), nor for a class
    gone (said already)."""
    from objrec.add.pending import OLD_PENDING, PENDING
    from objrec.locks import held_elsewhere
    from objrec.manifest import MANIFEST, manifest_damage, manifest_listing

    if said := manifest_damage(root):
        result.note(root / MANIFEST, "manifest_damaged", said)
        return
    moved = _note_moved_images(root, result)  # listed by their content: not said twice
    noted = any(p.kind == "manifest_class_gone" for p in result.problems)
    adding = any((root / name).exists() for name in (PENDING, OLD_PENDING))
    if noted or adding or held_elsewhere(root):
        return
    renamed = {Path(p.path) for p in result.problems if p.kind == "unknown_class"}
    files = {  # not those of a class folder renamed in one split (unknown_class): said already
        path.relative_to(root).as_posix()
        for found in by_split.values()
        for paths in found.values()
        for path in paths
        if not any(path.is_relative_to(folder) for folder in renamed)
    }
    if said := manifest_listing(root, files - moved):
        result.note(root / MANIFEST, "manifest_unlisted", said)


def _note_manifest_classes(root: Path, result: CheckResult) -> None:
    """Each class the split folder's ``manifest.csv`` lists that no split of ``root`` has a
    folder of now, noted with where its files are now by name: a class folder renamed by hand
    inside a split folder is otherwise not seen. Not of a damaged one (noted:
    :func:`_note_manifest`), which may not be read as CSV."""
    from objrec.manifest import MANIFEST, manifest_damage, manifest_rows

    if manifest_damage(root):
        return
    present = {class_of_folder(f.name) for s in present_splits(root) for f in class_dirs(root / s)}
    missing: dict[str, list[tuple[str, str]]] = {}
    for row in manifest_rows(root / MANIFEST):
        name = class_of_folder(row.get("class") or "")
        if name and name not in present:
            missing.setdefault(name, []).append((row.get("file") or "", row.get("sha256") or ""))
    for name, files in missing.items():
        said = manifest_class_words(root, name, files, _source(result))
        result.note(root / MANIFEST, "manifest_class_gone", said)


def _note_moved_images(root: Path, result: CheckResult) -> set[str]:
    """The images of the split folder ``root`` in another class folder than ``manifest.csv``
    lists them under (:func:`moved_images`), noted with what that costs and how to record it: a
    photo moved by hand from ``test/crab`` to ``test/ibis`` is said, as the manifest still has
    it as a crab. Their paths (relative to ``root``)."""
    from objrec.manifest import MANIFEST

    if moved := moved_images(root):
        said = moved_words(root, moved, _source(result))
        result.note(root / MANIFEST, "manifest_class_moved", said)
    return {path for path, _ in moved}


def moved_images(root: Path) -> list[tuple[str, str]]:
    """Each image of a class folder of ``root`` that ``manifest.csv`` does not list and whose
    bytes it lists under another class, at a path where no file is now (the image's path
    relative to ``root``, and the class listed): a photo moved by hand between class folders of
    the manifest's classes, renamed or not. Only the images the manifest does not list are read.
    Those of a class no split has a folder of now are ``manifest_class_gone``'s, and a class
    folder renamed in one split (``unknown_class``) is not a move between two classes."""
    return sorted((now, was[1]) for now, was in _moved(root).items())


def moved_from(root: Path) -> dict[str, str]:
    """Where each image moved by hand between class folders of the split folder ``root`` (as
    :func:`moved_images` finds them) was, as ``manifest.csv`` lists it, and is now (both
    relative to ``root``): ``apply-plan`` follows a plan's row to it."""
    return {was[0]: now for now, was in _moved(root).items()}


def _moved(root: Path) -> dict[str, tuple[str, str]]:
    """:func:`moved_images`' images, each with the file and class ``manifest.csv`` lists it as."""
    from objrec.manifest import MANIFEST, manifest_rows

    rows = manifest_rows(root / MANIFEST)
    folders = [f for s in present_splits(root) for f in class_dirs(root / s)]
    present = {class_of_folder(f.name) for f in folders}
    gone = {
        row["sha256"]: (row["file"], row["class"])
        for row in rows
        if row.get("file") and row.get("sha256") and not os.path.lexists(root / row["file"])
        if class_of_folder(row.get("class") or "") in present
    }
    listed = {row.get("file") or "" for row in rows}
    known = {class_of_folder(row.get("class") or "") for row in rows}
    unlisted = {
        path: folder
        for folder in ([f for f in folders if class_of_folder(f.name) in known] if gone else [])
        for path, kind in walk_tree(folder)  # split keeps a class's sub-folders (2019/)
        if kind == "file" and path.relative_to(root).as_posix() not in listed
        if is_image_file(path)
    }
    moved = {}
    for (path, folder), sha256 in zip(unlisted.items(), _sha256s(list(unlisted)), strict=True):
        was = gone.get(sha256)
        if was is not None and class_of_folder(was[1]) != class_of_folder(folder.name):
            moved[path.relative_to(root).as_posix()] = was
    return moved


def _sha256s(paths: list[Path]) -> list[str]:
    """Each file's SHA-256 from the file index (check's listing has just read them through it),
    "" for one that cannot be read (said as unreadable elsewhere)."""
    from objrec.cache_folder import store_dir
    from objrec.reading import file_index

    if not paths:
        return []
    with file_index(store_dir()) as index:
        return index.readable_digests(paths, whole=True)[0]


def moved_words(root: Path, moved: list[tuple[str, str]], source: str = "PHOTOS") -> str:
    """The sentence for the images ``moved`` by hand between class folders (each path relative
    to ``root``, and the class ``manifest.csv`` lists it under); ``source``: the photo folder it
    was split from, in the call that records the move."""
    one = len(moved) == 1
    files = some_of(
        [f"{path} ({quoted(name)} in manifest.csv)" for path, name in moved], quote=False
    )
    them, their = ("it", "its") if one else ("them", "their")
    return (
        f"{plural(len(moved), 'image')} {'is' if one else 'are'} in another class folder than "
        f"manifest.csv lists {them} under (moved by hand?): {files}; train, evaluate, add and "
        f"audit take an image's class from its folder, so {'it is' if one else 'they are'} of "
        f"{their} new class to them, and only manifest.csv keeps the old one (a run's record of "
        "its split reads it, and evaluate, add and audit no longer find "
        f"{their} near-duplicate group{'' if one else 's'} there, read by path); to record the "
        "move, make it in the photo folder too and split again, which keeps every image's "
        f"split: `split_folder({source!r}, {str(root)!r}, force=True, like={str(root)!r})`"
    )


def manifest_class_words(
    root: Path, name: str, files: list[tuple[str, str]], source: str = "PHOTOS"
) -> str:
    """The sentence for the class ``name`` that ``manifest.csv`` lists with ``files`` (each
    relative to the split folder ``root``, and its SHA-256) and no split has a folder of: where
    they are now (the class folders of their splits holding a file of their name and bytes),
    what it costs, and what to do (the split again from ``source``, its photo folder)."""
    from objrec.manifest import sha256_file

    now: set[str] = set()
    for file, sha256 in files:
        parts = PurePosixPath(file).parts
        split = root / parts[0] if len(parts) > 1 else None
        for folder in class_dirs(split) if split is not None and split.is_dir() else []:
            same = folder.name not in now and (folder / parts[-1]).is_file()
            if same and sha256_file(folder / parts[-1]) == sha256:
                now.add(folder.name)
    where = f" (its files are in {_and(sorted(now))} now: renamed by hand?)" if now else ""
    return (
        f"manifest.csv lists {plural(len(files), 'image')} of class {quoted(name)}, which has no "
        f"folder in any split{where}: train reads the class folders, but add, audit and evaluate "
        "read each image's near-duplicate group from manifest.csv by its path, so these images "
        "lost theirs; to rename a class, rename its folder in the photo folder and split again, "
        f"which keeps every image's split: `split_folder({source!r}, {str(root)!r}, force=True, "
        f"like={str(root)!r})`"
    )


def _and(names: list[str]) -> str:
    """``names`` in a sentence, each :func:`quoted`: ``bird., red and "tree "``, where ``bird.
    and red and tree `` hid the last one's space (portable42)."""
    return joined([quoted(name) for name in names])


def _note_hidden(path: Path, result: CheckResult) -> None:
    what = "folder" if path.is_dir() else "file"
    system = path.name in SYSTEM_FOLDERS or not path.name.startswith(".")  # Windows' Thumbs.db
    what = f"system {what}" if system else f"hidden {what}"
    result.note(path, "ignored_hidden", f"{what} ignored")


def _passed_over(path: Path, result: CheckResult, split: bool) -> bool:
    """Whether ``path``, where class folders are, is passed over: hidden (noted as one inside a
    class folder is), a link to a folder that is not there (unusable: its whole class missing), a
    class folder whose name is not UTF-8 (unusable: rename it), or objrec's own ``reviewed.csv``
    (apply-plan wrote it, split carries it)."""
    if is_hidden(path):
        _note_hidden(path, result)
        return True
    if is_gone_folder(path):
        result.problems.append(Problem(str(path), "gone_folder", _gone_words(path, split), True))
        return True
    if path.is_dir() and not has_utf8_name(path):  # said once, not as an empty folder
        result.problems.append(Problem(str(path), "bad_folder_name", BAD_FOLDER_NAME, True))
        return True
    return not path.is_dir() and not split and path.name == REVIEWED_FILE


def _gone_words(path: Path, split: bool) -> str:
    """What check says of a link to a folder that is not there, where a class folder is looked
    for: a class folder on a drive unplugged, or moved, whose class is missing."""
    left = "`train` does not see its class" if split else "`split_folder` leaves its class out"
    return f"{broken_link_reason(path)}: a class folder on a drive unplugged, or moved? {left}"


def _check_class_root(root: Path, result: CheckResult, split: bool) -> dict[str, list[Path]]:
    """The image files of each class folder of ``root`` (one split of a split folder when
    ``split``); empty classes and loose files noted, and a folder laid out as split already."""
    classes: dict[str, list[Path]] = {}
    loose = 0
    above = frozenset({os.path.realpath(root)})
    for path in sorted(root.iterdir()):
        if _passed_over(path, result, split):
            continue
        if not path.is_dir():
            result.note(path, "no_class_folder", "file outside any class folder, ignored")
            loose += is_image_file(path)
            continue
        if is_link_loop(path, above):
            result.note(path, "link_loop", "links back to a folder that contains it, not followed")
            continue
        classes[path.name] = _walk(path, result, above)
        _note_nested(path, classes[path.name], result)
        if not classes[path.name]:
            message = f"class folder {EMPTY_CLASS_ADVICE} (" + (
                "`train` refuses it)" if split else "`split_folder` leaves it out, with a warning)"
            )
            result.problems.append(Problem(str(path), "empty_class", message, True))
        if named_unknown(path.name):
            message = f"`train` refuses a class named {path.name}: {UNKNOWN_NAME_WHY}"
            result.problems.append(Problem(str(path), "unknown_name", message, True))
    if not classes and (loose or not split):  # an empty split of a split folder is noted
        raise no_class_folders(root, loose)
    if not split:
        _note_already_split(root, classes, result)
    return classes


def _note_nested(folder: Path, images: list[Path], result: CheckResult) -> None:
    """Each sub-folder of the class folder ``folder`` holding images (at any depth): kept on
    purpose (``2019/``, ``2020/``), but a forgotten ``to sort/`` is trained as the class unsaid."""
    below: dict[str, int] = {}
    for path in images:
        parts = path.relative_to(folder).parts
        if len(parts) > 1:
            below[parts[0]] = below.get(parts[0], 0) + 1
    for name, count in below.items():
        result.note(
            folder / name,
            "nested_folder",
            f"sub-folder of class {folder.name} with {plural(count, 'image')}, all trained as "
            f"{folder.name} (as every image below a class folder is)",
        )


def _note_already_split(root: Path, found: dict[str, list[Path]], result: CheckResult) -> None:
    """A folder laid out as split without objrec (``train/ val/ test/`` of class folders:
    :func:`objrec.data.already_split`), unusable as it is, in place of a ``nested_folder`` note
    of each of its class folders ("sub-folder of class train ..., all trained as train")."""
    if (why := already_split(root, found)) is None:
        return
    result.problems = [p for p in result.problems if p.kind != "nested_folder"]
    result.problems.append(Problem(str(root), "already_split", why, True))


def _across_splits(
    root: Path, found: dict[str, list[Path]], result: CheckResult
) -> dict[str, list[Path]]:
    """The images of a folder laid out as split already (``train/ val/ test/`` of class folders,
    ``found`` by its split folders) by the class folders inside its splits, each split's count
    in ``result.splits``: the rest of the check reads it as the split folder it is (identical
    files across ``train/`` and ``val/`` a leak), not as classes named train, val and test."""
    order = list(SPLIT_NAMES)
    classes: dict[str, list[Path]] = {}
    for split in sorted(found, key=lambda name: (order.index(name.casefold()), name)):
        if found[split]:
            result.splits[split] = len(found[split])
        for path in found[split]:
            classes.setdefault(path.relative_to(root).parts[1], []).append(path)
    return classes


SPLIT_USE = {
    "valid": (
        "`train` refuses a validation class it has no training images of",
        "validated",
    ),
    "test": ("`evaluate` scores only the classes the model was trained on", "tested"),
}


def compare_splits(root: Path, by_split: dict[str, set[str]], result: CheckResult) -> None:
    """Classes of ``valid``/``test`` that ``train`` lacks (unusable: the model cannot know them)
    and classes of ``train`` missing from ``valid``/``test`` (noted), each with the likely match:
    class folders are made and renamed by hand, so ``Butterfly`` beside ``butterfly`` happens."""
    spelt = {s: {class_of_folder(n): n for n in sorted(names)} for s, names in by_split.items()}
    train = set(spelt.get("train", {}))  # by class: the NFC and NFD ``Café`` are one
    for split in ("valid", "test"):
        if split not in spelt:
            continue
        refuses, used = SPLIT_USE[split]
        extra, missing = set(spelt[split]) - train, train - set(spelt[split])
        for name in sorted(extra):
            match = close_match(name, missing or train)
            hint = f" (is it {match}?)" if match else ""
            message = f"class not in train{hint}: {refuses}"
            folder = root / split / spelt[split][name]
            result.problems.append(Problem(str(folder), "unknown_class", message, True))
        for name in sorted(missing):
            match = close_match(name, extra)
            hint = f" (is {split}/{match} it?)" if match else ""
            result.note(
                root / split,
                "missing_class",
                f"no folder of class {name}{hint}: it is never {used}",
            )


def _check_splits(
    root: Path, result: CheckResult, classes: dict[str, list[Path]]
) -> dict[str, int]:
    """Check a split folder's splits into ``result``, adding their images to ``classes``; returns
    the training images per class."""
    by_split = {
        split: _check_class_root(root / split, result, True) for split in present_splits(root)
    }
    for split, found in by_split.items():
        result.splits[split] = sum(map(len, found.values())) + _bad_names(result, root / split)
        for name, files in found.items():
            classes.setdefault(class_of_folder(name), []).extend(files)
    compare_splits(root, {split: set(found) for split, found in by_split.items()}, result)
    train = by_split.get("train", {})
    _note_few_train(root, train, result)
    _note_alike_classes(root / "train", list(train), result, "`train`")
    _note_windows_names(root / "train", train, result)
    _read_records(root, result)
    _note_killed_splits(root, result)
    _note_manifest(root, by_split, result)
    return {name: len(files) for name, files in train.items()}


@renamed_arguments(root="data")
@on_ctrl_c("{data} was only read, as check does: run it again")
def check_folder(
    data: PathGiven, reporter: Reporter | None = None, cache_dir: PathGiven | None = None
) -> CheckResult:
    """Decode every image below ``data`` (a class or split folder: ``objrec check DATA``;
    ``root`` before 7 December 2026, still taken, warning) and list the problems; ``reporter``
    shows progress (None: nothing is shown); ``cache_dir``: the cache folder whose file index
    and image facts it reads and fills (default: ``OBJREC_CACHE``'s)."""
    with using_cache_dir(cache_dir):
        return _check_folder(Path(data), or_silent(reporter))


def _check_folder(root: Path, reporter: Reporter) -> CheckResult:
    """:func:`check_folder` of ``root``, its cache folder settled."""
    if not root.is_dir():
        raise ObjrecError(f"{root} is not a folder")
    refuse_run_folder(root)
    result = CheckResult(root)
    classes: dict[str, list[Path]] = {}
    trained: dict[str, int] | None = None  # a split folder's training images per class
    if is_split_folder(root):
        trained = _check_splits(root, result, classes)
    else:
        found = _check_class_root(root, result, False)
        _note_alike_classes(root, list(found), result)
        _note_windows_names(root, found, result)
        if any(p.kind == "already_split" for p in result.problems):
            found = _across_splits(root, found, result)
        for name, files in found.items():  # a Mac's NFD café and an NFC one: one class, as split
            classes.setdefault(class_of_folder(name), []).extend(files)
    bad = [Path(p.path) for p in result.problems if p.kind == "bad_name"]
    _note_raw_and_sidecars(root, [*bad, *(p for files in classes.values() for p in files)], result)
    result.images = sum(map(len, classes.values())) + _bad_names(result, root)
    named = sorted(name for name, files in classes.items() if files)
    result.n_classes = len(named)
    if result.n_classes == 1:
        message = (
            f"only one class ({named[0]}): `train` refuses it, a classifier needs at least two"
        )
        result.problems.append(Problem(str(root), "one_class", message, True))
    readable = _decode(classes, result, reporter)
    _note_blank(root, classes, readable, result)
    _note_tiny(root, result)
    _note_paged(root, result)
    _note_identical(root, result)
    if not result.splits:
        _note_small_classes(root, classes, readable, result)
    _note_imbalance(root, readable if trained is None else trained, trained is not None, result)
    images = plural(result.images, "image")
    log.info("checked %s: %s, %d unusable", root, images, len(result.unusable))
    return result


FEW_BESIDE_RATIO = 10
"""The ratio of the largest class's images to a small class's from which check names, in a class
folder, the classes a default split tests on fewer than ``FEWEST_WITHOUT_INTERVAL`` photos: such
a class is hidden by the overall top-1, and is the first the unknown answer and the audit's
outliers fall on (airplanes 400, ant 15: 27 to 1, 4 test ants)."""


def few_beside_many_hint(counts: dict[str, int]) -> str | None:
    """One sentence naming the classes of a class folder (``counts``: readable images) that a
    default split gives fewer than ``FEWEST_WITHOUT_INTERVAL`` test photos while the largest has
    :data:`FEW_BESIDE_RATIO` times their images or more; None when there are none. A class too
    small for a split (``few_images``, noted apart) is not named again."""
    held = {name: n for name, n in counts.items() if n > 0}
    if len(held) < 2:
        return None
    large = max(held, key=held.__getitem__)
    ratios = SplitConfig().ratios
    need = min_class_size(ratios)  # fewer: the few_images note says it
    small = sorted(
        (n, name)
        for name, n in held.items()
        if need <= n <= held[large] / FEW_BESIDE_RATIO
        and allocate(n, ratios)[2] < FEWEST_WITHOUT_INTERVAL
    )
    if not small:
        return None
    named = some_of([f"{quoted(name)} ({n:,})" for n, name in small], quote=False)
    have = "has" if len(small) == 1 else "have"
    return (
        f"{plural(len(small), 'class', 'classes')} {have} few images beside {quoted(large)} with "
        f"{held[large]:,} ({held[large] / small[0][0]:,.0f} to 1 at most): {named}; a default "
        f"split tests each on fewer than {FEWEST_WITHOUT_INTERVAL} photos, so its top-1 moves by "
        "10 points or more a photo, and such classes are the first said unknown or flagged as "
        "outliers: more photos of them help most"
    )


def _note_imbalance(root: Path, counts: dict[str, int], split: bool, result: CheckResult) -> None:
    """The one note of a strong imbalance among the classes: of the readable images of a class
    folder, of the training images of a split folder (``split``); else, in a class folder, of
    classes of few images beside a large one (:func:`few_beside_many_hint`)."""
    how = "`train(data, out=run, balance='weights')`" if split else split_then_balance(root)
    hint = imbalance_hint(counts, "training image" if split else "image", how)
    if hint is None and not split:
        hint = few_beside_many_hint(counts)
    if hint:
        result.note(root / "train" if split else root, "imbalanced", hint)


def _note_alike_classes(
    root: Path, names: list[str], result: CheckResult, who: str = "`split_folder`"
) -> None:
    """Class folders named like an earlier one but for case (one folder on macOS and Windows) or
    a space at either end (the same words in every table), which ``who`` refuses (a class
    folder's ``split_folder``, a split folder's ``train``: ``data.read_key``); noted, those named
    alike but for how their accents are encoded (NFC and NFD ``Café``), which it makes one class."""
    for other, name in alike_names(names, key=read_key):
        if class_of_folder(other) == class_of_folder(name):
            message = (
                f"named as the class folder {other} but for how its accents are encoded (the "
                f"same name to a person): {who} makes one class "
                f"{class_of_folder(name)} of the two"
            )
            result.note(root / name, "alike_classes", message)
            continue
        how = how_alike(other, name)
        message = (
            f"named like the class folder {other!r} but for {how} ({alike_why(how)}): "
            f"{who} refuses the two; move the photos of one into the other, or rename one"
        )
        result.problems.append(Problem(str(root / name), "alike_classes", message, True))


def _note_windows_names(root: Path, names: Iterable[str], result: CheckResult) -> None:
    """Class folders whose name Windows cannot hold (``data.windows_unsafe``), noted, not
    refused: the split and the run work here, a copy to Windows loses or renames the class."""
    for name in names:
        if why := windows_unsafe(name):
            message = f"a name Windows cannot hold ({why}): {WINDOWS_WHY}"
            result.note(root / name, "windows_name", message)


def _bad_names(result: CheckResult, folder: Path) -> int:
    """Image files below ``folder`` whose name is not UTF-8: found, never decoded."""
    return sum(
        p.kind == "bad_name" and Path(p.path).is_relative_to(folder) for p in result.problems
    )


def _decode(
    classes: dict[str, list[Path]], result: CheckResult, reporter: Reporter
) -> dict[str, int]:
    """Hash and decode every image as ``split`` does (``check_decodes.hashed_and_decoded``); the
    readable images of each class. Those a few pixels a side go to ``result.tiny_images``, the
    others of one colour all over to ``result.blank_images`` (a 1x1 image is both: tiny says more of
    it)."""
    from objrec.image_facts import MIN_CONTRAST

    hashes, found = hashed_and_decoded(classes, reporter)
    readable = dict.fromkeys(classes, 0)
    for name, images in classes.items():
        for path in images:
            if isinstance(look := found[path], UnreadableImageError):
                kind = "too_large" if look.too_large else "unreadable"
                result.problems.append(Problem(str(path), kind, look.reason, True))
                continue
            readable[name] += 1
            if path in hashes:  # else unreadable when hashed, readable since
                result.digests[path] = hashes[path]
            if min(look.width, look.height) < TINY_SIDE:
                result.tiny_images.append((path, look.width, look.height))
            elif look.contrast < MIN_CONTRAST:
                result.blank_images.append(path)
    result.readable = sum(readable.values())
    return readable


TINY_SIDE = 16
"""An image with a side shorter than this many pixels is noted by ``check`` (``tiny_images``): a
few pixels a side, an icon or a tracking pixel rather than a photo, which training scales up to
the network's input (224 pixels or more) from next to nothing. ``audit`` lists those under
``audit.outliers.MIN_SIDE`` (32) among its outliers, for a person to look at; under this they are
most likely the wrong file."""


def _note_blank(
    root: Path, classes: dict[str, list[Path]], readable: dict[str, int], result: CheckResult
) -> None:
    """One note of the nearly blank images of the class folders, naming a few: a line camera's
    black failure frames in a class folder teach the model that a blank frame is that class. The
    blank images of a class of ``classes`` that are most of its ``readable`` images make a class
    of blank frames on purpose (``empty``: the camera saw nothing), said to stay as they are."""
    if not result.blank_images:
        return
    class_of = {path: name for name, files in classes.items() for path in files}
    blank = Counter(class_of[p] for p in result.blank_images)
    kept = sorted(name for name, n in blank.items() if n > readable[name] / 2)
    stray = [p for p in result.blank_images if class_of[p] not in kept]
    shown = stray + [p for p in result.blank_images if class_of[p] in kept]
    names = ", ".join(quoted(str(p.relative_to(root))) for p in shown[:3])
    more = ", ..." if len(shown) > 3 else ""
    message = f"{plural(len(shown), 'nearly blank image')} ({names}{more}): one colour all over"
    failure = blank_failure(len(stray))
    most = some_of(
        [f"{quoted(name)} ({blank[name]} of {plural(readable[name], 'image')})" for name in kept],
        quote=False,
    )
    purpose = (
        f"most of class{'es' if len(kept) > 1 else ''} {most}: a class of blank frames "
        "on purpose, it seems, so nothing to move there"
    )
    if not kept:
        message += f", as a camera's black failure frame; {failure}"
    elif not stray:
        message += f", {purpose}"
    else:
        look = (
            "looks like a camera's black failure frame"
            if len(stray) == 1
            else ("look like a camera's black failure frames")
        )
        message += f". {len(stray)} of them {look}; {failure}. The others are {purpose}"
    files = [str(p) for p in shown]
    result.problems.append(Problem(str(root), "blank_images", message, False, files))


def blank_failure(stray: int) -> str:
    """What ``stray`` blank frames among a class's photos teach the model, and what to do."""
    if stray == 1:
        return (
            "trained as its class folder's, it teaches the model that a blank frame is that "
            "class. Move it out, or into a class of its own"
        )
    return (
        "trained as their class folder's, they teach it that a blank frame is that class. Move "
        "them out, or into a class of their own"
    )


def _note_tiny(root: Path, result: CheckResult) -> None:
    """One note of the images a few pixels a side (``TINY_SIDE``), naming a few with their size:
    training scales each up to the network's input from next to nothing, and such a file is
    most often not the photo meant (an icon, a tracking pixel, a thumbnail saved in its place)."""
    if not result.tiny_images:
        return
    named = [f"{quoted(str(p.relative_to(root)))} {w}x{h}" for p, w, h in result.tiny_images]
    more = ", ..." if len(named) > 3 else ""
    message = (
        f"{plural(len(named), 'image')} under {TINY_SIDE} pixels a side "
        f"({', '.join(named[:3])}{more}): training scales each up to the network's input, 224 "
        "pixels or more, from next to nothing, and such a file is most often not the photo "
        "meant (an icon, a tracking pixel, a thumbnail). Replace them with the photos, or move "
        "them out"
    )
    files = [str(p) for p, _, _ in result.tiny_images]
    result.problems.append(Problem(str(root), "tiny_images", message, False, files))


def _note_paged(root: Path, result: CheckResult) -> None:
    """One note of the readable images of several pages or frames (``images.frame_count``),
    naming a few with how many: every use of an image reads only its first page or frame, so the
    others of a museum's multi-page TIFF (often other objects or views of one scan) are never
    trained on nor answered, which nothing said before."""
    result.paged_images = [(p, n) for p in result.digests if (n := frame_count(p)) > 1]
    if not result.paged_images:
        return
    named = [f"{quoted(str(p.relative_to(root)))} {n} {_pages(p)}" for p, n in result.paged_images]
    more = ", ..." if len(named) > 3 else ""
    message = (
        f"{plural(len(named), 'image')} of several pages or frames ({', '.join(named[:3])}{more}):"
        " only the first page or frame of each is read, for training and for every answer, the "
        "others never used. Save each page meant as a photo of its own"
    )
    files = [str(p) for p, _ in result.paged_images]
    result.problems.append(Problem(str(root), "paged_images", message, False, files))


def _pages(path: Path) -> str:
    """What a file's several pictures are called: a TIFF's pages, an animation's frames."""
    return "pages" if path.suffix.lower() in (".tif", ".tiff") else "frames"


def _note_identical(root: Path, result: CheckResult) -> None:
    """One note of each group of readable images of the same bytes, at its first copy, naming
    the original (``copies.originals_first``: in a split folder the one in the earliest split;
    then one not named as a copy, the older, the first in order) and any other copies: across
    splits of a split folder a leak (the scores count a picture trained or validated on as
    unseen), across classes one picture with two labels, in one class a picture trained on as
    several (``split`` keeps such copies in one split, as it does these)."""
    groups: dict[str, list[Path]] = {}
    for path, digest in result.digests.items():
        groups.setdefault(digest, []).append(path)
    rank = split_rank(root) if result.splits else (lambda path: 0)
    for files in (originals_first(group, rank) for group in groups.values() if len(group) > 1):
        names = [p.relative_to(root).parts for p in files]
        others = ["/".join(n) for n in names[2:]]
        message = f"the same bytes as {'/'.join(names[0])}" + (
            f" (as {some_of(others)} {'has' if len(others) == 1 else 'have'})" if others else ""
        )
        message += ": "
        splits = sorted({n[0] for n in names}) if result.splits else []
        classes = sorted({class_of_folder(n[1 if result.splits else 0]) for n in names})
        if len(splits) > 1:
            message += (
                f"one picture in {_and(splits)}, a leak: the scores count it as a "
                "picture the model has not seen; keep one copy"
            )
        elif len(classes) > 1:
            message += f"one picture under the classes {_and(classes)}: keep it in one"
        elif splits in ([], ["train"]):
            message += (
                f"one picture trained on as {len(files)}; delete the copies unless that is meant"
            )
        else:
            message += f"one picture counted as {len(files)} in {splits[0]}; keep one copy"
        listed = [str(p) for p in files]
        result.problems.append(Problem(str(files[1]), "identical_files", message, False, listed))


def split_rank(root: Path) -> Callable[[Path], int]:
    """The rank of a split folder's file by its split (train, valid, test; others after): of
    copies across splits, the one in the earliest is the original, as the audit's plan keeps it."""
    order = {split: n for n, split in enumerate(SPLITS)}

    def rank(path: Path) -> int:
        split = path.relative_to(root).parts[0]  # val/ of a folder split without objrec: valid
        return order.get(SPLIT_NAMES.get(split.casefold(), split), len(order))

    return rank


def _note_small_classes(
    root: Path, classes: dict[str, list[Path]], readable: dict[str, int], result: CheckResult
) -> None:
    """Classes of a class folder with too few readable images for ``split`` to give one to each
    of train, valid and test (its default ratios); an empty class is already unusable."""
    ratios = SplitConfig().ratios
    need = min_class_size(ratios)
    counts = [n for n in readable.values() if n]
    result.split_refused = not any(allocate(n, ratios)[1] for n in counts)
    for name, count in readable.items():
        if classes[name] and count < need:
            result.note(
                root / name,
                "few_images",
                f"only {plural(count, 'readable image')}: `split_folder` needs {need} to put one "
                "in each of train, valid and test",
            )
        elif classes[name] and (train := allocate(count, ratios)[0]) < need:
            result.note(root / name, "few_images", few_train_note(count, train, need, root))
    if result.split_refused:  # larger ratios would not help: say what split does instead
        result.note(root, "few_images", SPLIT_REFUSED.format(need=need))
    elif len(counts) < 2:  # one class: its own problem says train refuses it, split or not
        return
    elif hint := larger_ratios_hint(counts, ratios, larger_split(root)):
        result.note(root, "few_images", hint)  # split says it too


SPLIT_REFUSED = (
    "`split_folder` refuses this folder as it stands: no class has the {need} readable images it "
    "needs to put one in each of train, valid and test, so none would go to valid: add photos"
)
"""check's note on a class folder no class of which gives valid an image at split's default
ratios: it said instead that larger ratios would train on more of it, and that split would leave
the unusable files out and go on, where split refused it."""


def larger_split(root: Path) -> str:
    """The call that splits ``root`` at ``ratios.LARGER_RATIOS`` into README's ``data70``, as
    check's notes name it: the folder checked, where they said ``split_folder('PHOTOS', 'data',
    ...)`` (`objrec split PHOTOS data ...`) and split's own messages name the real folder."""
    return f"`split_folder({str(root)!r}, 'data70', ratios=(0.7, 0.15, 0.15))`"


def few_train_note(count: int | None, train: int, need: int, root: Path | None = None) -> str:
    """Why a class of ``count`` images (None: of a split folder) with ``train`` training images,
    fewer than ``need`` (``split.result.few_train``), is noted; of the class folder ``root``, why
    the split gives it so few and what larger ratios give (``ratios.few_train_why``)."""
    given, more, why = "", "", ""
    if count is not None:  # a class folder: how many photos would give it ``need`` in train
        given = f"{plural(count, 'readable image')}: split gives "
        enough = photos_for(SplitConfig().ratios, ["train"], need)
        more = f" (a class of {enough:,} or more gets {need})" if enough else ""
        why = f"; {few_train_why(count, SplitConfig().ratios, larger_split(root or Path('.')))}"
    return (
        f"{given}{plural(train, 'training image')}, fewer than {need}{more}: the model learns the "
        f"class from one or two photos, and its per-class results rest on as few test images{why}"
    )


def _note_few_train(root: Path, found: dict[str, list[Path]], result: CheckResult) -> None:
    """Classes of a split folder's train with fewer images than ``split.result.few_train``
    allows."""
    need = min_class_size(SplitConfig().ratios)
    for name, files in found.items():
        if 0 < len(files) < need:
            result.note(root / "train" / name, "few_images", few_train_note(None, len(files), need))


def require_clean(root: Path, reporter: Reporter = SILENT) -> None:
    """For ``--strict``: raise with the whole list when any file or folder is unusable."""
    if problem := unusable_problem(root, reporter):
        raise strict_refusal(root, [problem])


def unusable_problem(
    root: Path, reporter: Reporter = SILENT, cache_dir: str | os.PathLike[str] | None = None
) -> str | None:
    """What ``--strict`` refuses ``root`` for (every file opened, through ``cache_dir``): its
    unusable files and folders, the first named and the rest counted; None when there are none."""
    bad = check_folder(root, reporter, cache_dir).unusable
    if not bad:
        return None
    listing = some_of([f"{quoted(p.path)} ({p.kind})" for p in bad], quote=False)
    what = plural(len(bad), "unusable file or folder", "unusable files or folders")
    return f"{what}: {listing}"

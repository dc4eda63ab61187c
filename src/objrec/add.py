"""New photos -> an existing split folder, each where ``split`` would have put it (``objrec add``).

The loop after a first training: look at the errors, add photos of a weak class or a whole new
class, train again (the feature store computes only the new images). Leak-free, by ``split``'s own
hashing (SHA-256, and perceptual hashes kept in the cache folder's image facts; the data folder's
files through the feature store's file index, so only those no add or train hashed as they are
now are read):

* a new image byte-identical to one anywhere in the data folder is not added (it is counted and
  listed, and named as a picture in two classes when that copy is in another class);
* a near-duplicate of an image there (``split``'s rule, :func:`objrec.grouping.near_groups`) goes to
  that image's split, whatever its class, so no near-copy crosses train/test;
* near-duplicates among the new images stay together; so do a burst's frames (one camera's
  photos of a class within ``burst_seconds`` of each other, by EXIF time: ``objrec.bursts``),
  which go to the split of a frame already in the data folder; the rest are placed, seeded, so
  that each class's counts come as close as they can to the ratios (a new class as ``split``
  would fill it).

The images are copied (or linked), never moved, under names no file in the data folder has; each is
written under a hidden temporary name and renamed, while the data folder is locked as ``split``
locks its output, and ``manifest.csv`` (when there is one) gets their rows, each with its group
as ``split`` records it (:func:`_manifest_groups`). NEW is only read.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import functools
import io
import logging
import os
import random
import shlex
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from objrec.config import SplitConfig, settings
from objrec.data import (
    IMAGE_SET_MEANING,
    SPLITS,
    UNKNOWN_NAME_WHY,
    alike_names,
    alike_why,
    class_dirs,
    class_key,
    class_of_folder,
    how_alike,
    is_split_folder,
    named_unknown,
    no_class_folders,
    present_splits,
    read_key,
    refuse_run_folder,
    require_split_folder,
    windows_warning,
)
from objrec.errors import ObjrecError, ctrl_c_leaves, on_ctrl_c
from objrec.grouping import near_groups
from objrec.images import (
    SYSTEM_FOLDERS,
    decoder_missing,
    is_image_file,
    list_images,
    warned_once_per_file,
)
from objrec.labels import LabelledPhotos, left_out_words, read_labels
from objrec.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_GROUP,
    manifest_rows,
    read_split_record,
    sha256_file,
)
from objrec.outputs import (
    free_name,
    link_file,
    locked,
    name_key,
    remove_leftovers,
    staged,
    write_new,
)
from objrec.placement import (
    evaluated_pair,
    is_pair,
    nearer_split,
    no_empty_split,
)
from objrec.progress import listed, log_result_warnings, plural, quoted, some_of
from objrec.ratios import allocate, min_class_size
from objrec.split_record import added_entry, record_added
from objrec.split_result import no_decoder_sentence, two_groups_sentence
from objrec.split_source import chosen_class, decode_all
from objrec.store import DIGEST_CHARS, FeatureStore, default_cache_dir

log = logging.getLogger(__name__)

PENDING = ".objrec-add-pending.csv"
"""The manifest rows of the files an add is about to write, in the data folder: written before
the first file, removed once the manifest has the rows of those written. An add killed meanwhile
(kill -9, a power cut) leaves it, and the next add gives the files it wrote their rows
(:func:`_finish_killed_add`): they were in the splits, trained on, but in no manifest, and an add
of the same photos again skipped them as already there."""


@dataclass(frozen=True)
class NewImage:
    """An image to add: its file, its class, its path inside its class folder (kept in the data
    folder, sub-folders too) and its name as the user knows it (relative to NEW)."""

    path: Path
    name: str
    rel: Path
    shown: str


@dataclass
class AddResult:
    """What ``add_images`` did (or, ``dry_run``, would do): counts per class and split, and what
    the user should know."""

    data: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Images added per class and split (every class NEW holds, new ones too)."""
    copies: dict[str, int] = field(default_factory=dict)
    """Per class: new images byte-identical to one already in ``data``, not added."""
    copy_files: list[tuple[str, str]] = field(default_factory=list)
    """Each of those, and its copy in ``data`` (relative to it: ``test/red/a.jpg``)."""
    new_classes: list[str] = field(default_factory=list)
    """Classes ``data`` had in no split before."""
    left_out_classes: list[str] = field(default_factory=list)
    """Of ``new_classes``, those the split of ``data`` does not take (its ``split.json``'s
    ``classes`` or ``exclude``): added from the source folder again, they come in all the same."""
    near_duplicate_files: int = 0
    """Images added to the split of a near-duplicate already in ``data``."""
    cross_class_duplicates: list[tuple[str, str]] = field(default_factory=list)
    """Pictures in two classes: an image (of ``data``, or new) and a new image of another class
    that is the same or looks alike: one of the two labels is probably wrong."""
    small_classes: list[str] = field(default_factory=list)
    """Classes given images that still have none in some split whose ratio is not 0."""
    two_group_classes: list[str] = field(default_factory=list)
    """Of ``small_classes``, the new classes of only two groups whose images would fill every
    split that the rule placed, as ``split`` places them: the larger group in train, the other in
    test (``placement.evaluated_pair``); not a class whose group another class placed."""
    min_images: int = 1
    """The fewest distinct images a class needs to appear in every split of the ratios."""
    ratios: tuple[float, float, float] = SplitConfig.ratios
    """The ratios the new images were placed toward."""
    own_ratios: bool = False
    """Whether those are the data folder's own proportions (no ``ratios`` given)."""
    data_images: dict[str, int] = field(default_factory=dict)
    """The data folder's images per split before the add: its own proportions' counts."""
    unreadable_files: list[str] = field(default_factory=list)
    """New image files that cannot be decoded (as named relative to NEW), left out."""
    no_decoder_files: list[str] = field(default_factory=list)
    """Of ``unreadable_files``, the HEIC or HEIF photos refused because pillow-heif, which reads
    them, is not installed: no damaged files."""
    empty_classes: list[str] = field(default_factory=list)
    """Class folders of NEW without images, left out."""
    spread_groups: list[tuple[str, list[str]]] = field(default_factory=list)
    """Each new image near-duplicate of images of ``data`` already in two splits or more (put
    apart by hand, or two pictures the new one is like, each near it and not near each other: a
    leak either way), and those: it went to the split holding most of them."""
    files: list[tuple[str, str]] = field(default_factory=list)
    """Each image added, as named relative to NEW, and its file relative to ``data``."""
    bursts: list[list[str]] = field(default_factory=list)
    """Each burst holding a new image (one camera's photos of a class within ``burst_seconds``
    of each other, by EXIF time: ``objrec.bursts``), kept in one split: new images as named
    relative to NEW, the data folder's relative to it."""
    burst_files: int = 0
    """New images placed with their burst."""
    burst_held_files: int = 0
    """Of those, the images that went to the split of a burst-mate already in ``data``."""
    labels_left_out: dict[str, int] = field(default_factory=dict)
    """Rows of a labels table left out, by reason (:data:`objrec.labels.LEFT_OUT_REASONS`)."""
    dry_run: bool = False

    def totals(self) -> dict[str, int]:
        return {s: sum(c[s] for c in self.counts.values()) for s in SPLITS}


@dataclass
class _Plan:
    result: AddResult
    rows: list[tuple[NewImage, Path, str, str, str]]
    """Each image to write: its target (relative to the data folder), split, SHA-256 and
    manifest group."""


@on_ctrl_c("nothing was written to {data}: run it again")
@warned_once_per_file()
def add_images(
    data: Path,
    new: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = (),
    config: SplitConfig | None = None,
    *,
    class_name: str | None = None,
    dry_run: bool = False,
    on_file: Callable[[int, int], None] | None = None,
    on_write: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    command: Sequence[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    **keywords: Any,
) -> AddResult:
    """Add the images of ``new`` to ``data``, a folder made by ``split_folder``, leak-free.

    Args:
        data: holds ``train/``, ``valid/`` (and ``test/``) class folders, maybe ``manifest.csv``.
        new: a folder of class folders (``split_folder``'s ``src``; none with ``labels``); with
            ``class_name``, folders of images or image files, all of that class. Never modified.
        config: the ``ratios`` to come close to (by default, or ``ratios=None``, each split's
            share of ``data``'s images: a split it has none in gets none), ``seed``, ``mode``
            ``near_duplicates`` and ``burst_seconds``; or give those as keywords (its others do
            not apply).
        class_name: the class of every image of ``new`` (one ``data`` has, or a new one).
        dry_run: decide everything and write nothing.
        on_file, on_write: progress, called as ``(done, total)`` hashing, then writing.
        on_wait: called before waiting for another objrec process writing in ``data``.
        cache_dir: the cache folder whose store knows ``data``'s files (``train``'s ``cache_dir``).
        command: the CLI's command line, for the ``added`` of ``data``'s ``split.json``.
        labels: instead of ``new``, a table of photos and their classes (:mod:`objrec.labels`).

    Raises:
        ObjrecError: before anything is written, for a ``data`` that is not a split folder (or is
            a run folder, or its manifest is not as ``split`` writes it), a ``new`` that is
            missing, holds no images or lies inside ``data``, a ``class_name`` that cannot be a
            folder's name, and a class named like another but for case (not accents' encoding).
    """
    config, own = _add_settings(config, keywords)
    given, root, images, labelled = _asked(Path(data), new, class_name, labels)
    with contextlib.nullcontext() if dry_run else locked(root, on_wait):
        if not dry_run:
            _finish_killed_add(root)
        plan = _plan(root, images, config, on_file, own, _store_dir(cache_dir))
        if not dry_run:
            plan.result.files = _write(root, plan.rows, config.mode, on_write)
            _record(root, (given or [Path(labels or "")], class_name), config, plan.result, command)
    return _finish(plan.result, root, dry_run, (given, images, class_name), labelled)


def _finish(
    result: AddResult, root: Path, dry_run: bool, asked: tuple, labelled: LabelledPhotos | None
) -> AddResult:
    """``result`` told what the add leaves out (``asked``: the paths given, their images, the
    class; the rows of the ``labelled`` table) and what the split of ``root`` does not take, and
    logged."""
    result.dry_run, result.empty_classes = dry_run, _empty(*asked)
    result.labels_left_out = dict(labelled.left_out) if labelled is not None else {}
    result.left_out_classes = left_out_by_split(root, result.new_classes)
    _log_added(result, root)
    return result


def left_out_by_split(root: Path, new_classes: Sequence[str]) -> list[str]:
    """Of ``new_classes``, those the split of ``root`` does not take, as its ``split.json`` says
    (``exclude``, or not among ``classes``); none for a split folder without one."""
    record = read_split_record(root) or {}
    classes, exclude = record.get("classes") or [], record.get("exclude") or []
    return [name for name in new_classes if not chosen_class(name, classes, exclude)]


def _add_settings(config: SplitConfig | None, keywords: dict[str, Any]) -> tuple[SplitConfig, bool]:
    """``add_images``'s settings, and whether its ratios are the data folder's own (none given)."""
    if own := config is None and keywords.get("ratios") is None:  # the data folder's own
        keywords.pop("ratios", None)
    return settings(SplitConfig, config, keywords, "add_images"), own


def _record(
    root: Path,
    asked: tuple[list[Path], str | None],
    config: SplitConfig,
    result: AddResult,
    command: Sequence[str] | None,
) -> None:
    """This add in the ``added`` of ``root``'s ``split.json`` (when it has one and files were
    written): what was added (``asked``: the paths given, the class), with which settings."""
    if result.files:
        made: dict[str, Any] = {
            "ratios_used": list(result.ratios),
            "files": len(result.files),
        }
        said = f"{plural(len(result.files), 'image')} added to {root}, each whole and in its "
        with ctrl_c_leaves(lambda: said + "manifest; its split.json does not list this add"):
            record_added(root, added_entry(*asked, config, result.own_ratios, command, **made))


def _log_added(result: AddResult, root: Path) -> None:
    """Where the images went (or would go), how to train on all of them, and the warnings."""
    totals = listed(result.totals())
    log.info("%s %s: %s", "planned for" if result.dry_run else "added to", root, totals)
    for note in (shared_note(result), test_note(result)):
        if note:
            log.info("%s", note)
    log_result_warnings(log, add_warnings(result))


def add_warnings(result: AddResult) -> list[str]:
    """What the caller should know about an add, one sentence each, as logged: what was left out,
    pictures in two classes, classes missing from some split, near-duplicates across splits; a
    new class that train will refuse (named unknown, as split says). The test images added are
    what the caller asked for: :func:`test_note` says so, as information."""
    left_out = result.left_out_classes
    warnings = [left_out_warning(left_out)] if left_out else []
    for name in filter(named_unknown, result.new_classes):
        warnings.append(f"`train` will refuse the class named {name}: {UNKNOWN_NAME_WHY}")
    warnings += windows_warnings(result)
    if result.empty_classes:
        warnings.append("left out class folders without images: " + some_of(result.empty_classes))
    if result.no_decoder_files:
        warnings.append(no_decoder_sentence(result.no_decoder_files))
    if damaged := [f for f in result.unreadable_files if f not in set(result.no_decoder_files)]:
        warnings.append(
            f"left out {plural(len(damaged), 'image file')} that cannot be read: "
            + some_of(damaged)
        )
    if pairs := result.cross_class_duplicates:
        warnings.append(
            f"pictures in two classes that are the same or look alike ({plural(len(pairs), 'pair')}"
            "; one of the two labels is probably wrong; a copy already in the data folder was "
            "not added, a near one went to its split): "
            + some_of([f"{quoted(a)} = {quoted(b)}" for a, b in pairs], quote=False)
        )
    if small := [n for n in result.small_classes if n not in result.two_group_classes]:
        warnings.append(
            f"classes with fewer than {plural(result.min_images, 'distinct image')} cannot appear "
            "in every split (add images or change `ratios`): " + some_of(small, len(small))
        )
    if result.two_group_classes:
        warnings.append(two_groups_sentence(result.two_group_classes))
    if result.spread_groups:
        warnings.append(
            "near-duplicates of images the data folder already has in two splits (a leak whichever"
            " split each goes to: those images were put apart by hand, or each new one is like two"
            " pictures in different splits; it goes to the split holding most of them, or the"
            " first of a tie; run `audit_folder(data)`): "
            + some_of(
                [f"{quoted(a)} ~ {some_of(b, len(b))}" for a, b in result.spread_groups],
                quote=False,
            )
        )
    return warnings


def left_out_warning(names: Sequence[str]) -> str:
    """The new classes ``names`` that the data folder's split does not take
    (:func:`left_out_by_split`): the source folder added again for a few new photos brings them
    in too."""
    return (
        "new classes that the split of the data folder does not take, as its split.json says "
        f"(classes, exclude): {some_of(names)}; they come in with their images, and train learns "
        "them: to leave them out, add only the folders of the classes you meant"
    )


def windows_warnings(result: AddResult) -> list[str]:
    """The new classes and the files copied whose names Windows cannot hold
    (``data.windows_warning``), as ``split`` warns of its classes: ``add_images(class_name=
    "con")`` and a NEW file ``aux.png`` made a class folder and a file a copy to Windows loses."""
    files = {target: PurePosixPath(target).name for _, target in result.files}
    found = (windows_warning(result.new_classes), windows_warning(files, "file"))
    return [sentence for sentence in found if sentence]


def test_note(result: AddResult) -> str | None:
    """When images went (or would go) into test: that scores before and after the add are on
    different test sets, and how to compare two runs on the same images; None otherwise."""
    test = result.totals()["test"]
    return changed_test_warning(test, f"{test} added", result.dry_run) if test else None


def shared_note(result: AddResult) -> str | None:
    """When the new images of classes ``data`` already had went partly to valid or test (the
    default: the data folder's own proportions), where they went, why, and how to train on all
    of them instead; None otherwise."""
    shared = {
        name: counts
        for name, counts in sorted(result.counts.items())
        if name not in result.new_classes and (counts["valid"] or counts["test"])
    }
    if not shared or not result.own_ratios:
        return None
    went = "would go" if result.dry_run else "went"
    where = some_of([f"{quoted(name)} ({listed(c)})" for name, c in shared.items()], quote=False)
    return (
        f"the new images of {where} {went} partly to valid and test, as the data "
        "folder's own images are shared, so that `evaluate` measures each class on photos the "
        "model never trained on; to train on all the new images of a class instead (its valid "
        "and test images then stay as they are; a near-duplicate of one still goes to its "
        "split), add them with `ratios=(1, 0, 0)`, after `dry_run=True` to see where each goes"
    )


def changed_test_warning(n: int, how: str, dry_run: bool = False, folder: str = "data") -> str:
    """The sentence when the test split of a data folder (``folder``, the argument naming it)
    gains, loses or relabels ``n`` images (``how``), by ``add`` or ``apply_plan``: scores before
    and after are not comparable."""
    changed, are = ("would change", "would be") if dry_run else ("changed", "are")
    return (
        f"{plural(n, 'test image')} {changed} ({how}): scores before and after {are} on "
        "different test sets; to compare the run you train next with the old one, evaluate "
        f"both on the new folder: `evaluate(new_run, {folder}, against=old_run)` (evaluate's "
        f"'test set' is {IMAGE_SET_MEANING})"
    )


def _empty(given: list[Path], images: list[NewImage], class_name: str | None) -> list[str]:
    """The class folders of ``given``'s one folder of classes that hold no image (none when the
    images are all of ``class_name``)."""
    if class_name is not None or not given:
        return []
    held = {Path(image.shown).parts[0] for image in images}  # their class folders' names
    return sorted({d.name for d in class_dirs(given[0])} - held)


def _asked(
    data: Path,
    new: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    class_name: str | None,
    labels: str | os.PathLike[str] | None,
) -> tuple[list[Path], Path, list[NewImage], LabelledPhotos | None]:
    """What ``add_images`` is asked, checked before anything is written: the paths of ``new``,
    the split folder ``data`` resolved, the new images, and the photos the ``labels`` table gives
    a class (None without one)."""
    given = [Path(p) for p in ([new] if isinstance(new, str | os.PathLike) else new)]
    root = _split_folder(data, given)
    labelled = _labelled(labels, given, class_name)
    return given, root, _checked_images(given, class_name, data, root, labelled), labelled


def _labelled(
    labels: str | os.PathLike[str] | None, given: list[Path], class_name: str | None
) -> LabelledPhotos | None:
    """The photos the ``labels`` table gives a class (None without one), refused beside new
    images or a class: the table says each photo's class."""
    if labels is None:
        return None
    if given or class_name is not None:
        raise ObjrecError(
            f"`labels` {labels} says each photo and its class: give no new images or "
            "`class_name` with it"
        )
    found = read_labels(Path(labels))
    if not found.photos:
        left = left_out_words(found.left_out) or "no rows"
        raise ObjrecError(f"{labels} gives no photo a class to add ({left})")
    return found


def _checked_images(
    given: list[Path],
    class_name: str | None,
    data: Path,
    root: Path,
    labelled: LabelledPhotos | None = None,
):
    """The new images (``labelled``'s, when given), once the manifest is known to be readable,
    and their classes not to clash with the data folder's."""
    _check_manifest(root / MANIFEST)
    found = _new_images(given, class_name, data) if labelled is None else _of_labels(labelled, data)
    images = _as_data_classes(found, root)
    _refuse_look_alike_classes({image.name for image in images}, root)
    if class_name is not None:
        _refuse_class_folders(given, root, class_name)
    return images


def _as_data_classes(images: list[NewImage], data: Path) -> list[NewImage]:
    """``images``, each of the data folder's class whose name is its class's but for how the
    accents are encoded (a Mac's NFD ``Café`` folder of new photos, a data folder's NFC one: one
    name to a person) or for spaces at either end (``--class mugs`` for the data folder's
    ``mugs ``, split from a Mac's folder, a name ``--class`` refuses), as that folder is spelt,
    its exact name first; of a new class, in NFC."""
    known = sorted({f.name for split in present_splits(data) for f in class_dirs(data / split)})
    spelt = {class_of_folder(name): name for name in reversed(known)}  # the first spelling
    alike = {class_of_folder(name).strip(): name for name in reversed(known)}

    def as_spelt(name: str) -> str:
        name = class_of_folder(name)
        return spelt.get(name) or alike.get(name.strip(), name)

    return [dataclasses.replace(image, name=as_spelt(image.name)) for image in images]


def _split_folder(data: Path, given: list[Path]) -> Path:
    """``data`` resolved, once it is known to be a split folder and not a run folder (nor the
    new images, given after a split folder: the two swapped)."""
    if not data.exists():
        raise ObjrecError(f"the data folder {data} does not exist")
    if data.is_dir():
        refuse_run_folder(data)
    swapped = next((p for p in given if is_split_folder(p)), None)
    if swapped is not None and not is_split_folder(data):
        raise ObjrecError(
            f"{data} is not a split folder, but {swapped} is: the split folder comes first, "
            f"then the new images (`add_images({str(swapped)!r}, {str(data)!r})`)"
        )
    require_split_folder(data)
    return data.resolve()


def _new_images(paths: list[Path], class_name: str | None, data: Path) -> list[NewImage]:
    """The images of ``paths`` and their classes, each file once; refused when there are none."""
    if not paths:
        raise ObjrecError(
            "no new images given: name a folder of class folders, or images, or give `labels`, "
            "a table of photos and their classes"
        )
    for path in paths:
        if not path.exists():
            raise ObjrecError(f"{path} does not exist")
        _refuse_overlap(path, data)
    if class_name is None:
        if len(paths) > 1 or not paths[0].is_dir():
            raise ObjrecError(
                f"{paths[0]} is not one folder of class folders: give one, or name the class of "
                "these images with `class_name`"
            )
        images = _of_class_folders(paths[0])
    else:
        _check_class_name(class_name)
        images = [image for path in paths for image in _of_one_class(path, class_name)]
    if not images:
        raise ObjrecError(f"{some_of([str(p) for p in paths])} holds no images")
    return list({image.path: image for image in images}.values())


def _of_labels(labelled: LabelledPhotos, data: Path) -> list[NewImage]:
    """The photos of a labels table, each of its class, named in the data folder by their own
    file name."""
    for path, name in labelled.photos.items():
        _refuse_overlap(path, data)
        _check_class_name(name, f"the label of {labelled.shown[path]} in {labelled.table}")
    return [
        NewImage(path, name, Path(path.name), labelled.shown[path])
        for path, name in labelled.photos.items()
    ]


def _refuse_overlap(path: Path, data: Path) -> None:
    real, data_real = path.resolve(), data.resolve()
    if real == data_real or real.is_relative_to(data_real):
        raise ObjrecError(
            f"{path} lies inside the data folder {data}: the new images must come from outside it"
        )
    if data_real.is_relative_to(real):
        raise ObjrecError(f"the data folder {data} lies inside {path}: give the new images only")


def _refuse_look_alike_classes(new: set[str], data: Path) -> None:
    """Refuse a new class whose name differs from another's (of the data folder, or new) only in
    case: one folder on macOS and Windows, so its files would land in the other class's folder
    while the manifest names it apart (names that differ only in how their accents are encoded
    are one class already: :func:`_as_data_classes`, as are a new class and the data folder's
    alike but for a space at either end); or two new classes only in a space at either end (a
    Mac's ``Stop signs `` folder beside ``Stop signs``): two classes that read the same."""
    known = sorted({f.name for split in present_splits(data) for f in class_dirs(data / split)})
    for other, name in alike_names(sorted(new), known):
        where = "the data folder's class" if other in known else "the new class"
        raise ObjrecError(
            f"the new class {name!r} and {where} {other!r} differ only in case, "
            f"{alike_why('case')}: give both the same name ({other!r}), or two names"
        )
    for pair in alike_names(sorted(new), known, key=read_key):
        spaced, plain = sorted(pair, key=lambda n: n == n.strip())  # the one with a space first
        how = how_alike(spaced, plain)
        # the data folder's class, as add takes it (its spaces aside); else the new one's words
        name = next((n for n in (spaced, plain) if n in known), spaced).strip()
        raise ObjrecError(
            f"{_whose(spaced, known)} {spaced!r} and {_whose(plain, known)} {plain!r} differ "
            f"only in {how}, {alike_why(how)}: give both one name ({name!r})"
        )


def _whose(name: str, known: list[str]) -> str:
    return "the data folder's class" if name in known else "the new class"


def _refuse_class_folders(paths: list[Path], data: Path, class_name: str) -> None:
    """Refuse a folder given with ``class_name`` whose sub-folders are named like the data
    folder's classes: a folder of class folders, whose images would all get that one class; warn
    of other sub-folders (their images get it too: a folder of dated albums, or of new classes)."""
    known = {class_key(f.name) for split in present_splits(data) for f in class_dirs(data / split)}
    for path in (p for p in paths if p.is_dir()):
        alike = sorted(d.name for d in path.iterdir() if d.is_dir() and class_key(d.name) in known)
        if alike:
            raise ObjrecError(
                f"{path} holds folders named like the data folder's classes ({', '.join(alike)}): "
                "drop `class_name` to add class folders, each to its own class"
            )
        inside = sorted(d.name for d in path.iterdir() if d.is_dir() and d.name[0] != ".")
        if inside:
            log.warning(
                "%s holds sub-folders (%s): their images are added as class %s too",
                path,
                some_of(inside),
                class_name,
            )


def _check_class_name(name: str, given: str = "`class_name`") -> None:
    """Refuse a class name that cannot be a visible folder's name on every system objrec runs on:
    one with a space at either end too (a pasted ``"mugs "``), which made a second class that
    reads as the first in every table, and which Windows drops from a folder's name. ``given``:
    what gave it, as the refusal names it (a labels table's row)."""
    if name.strip() and name != name.strip():
        raise ObjrecError(
            f"{given} {name!r} begins or ends with a space, which makes it another class "
            f"than {name.strip()!r} that reads the same: give {shlex.quote(name.strip())}"
        )
    bad = (
        not name.strip()
        or name.startswith(".")
        or name in SYSTEM_FOLDERS
        or any(c in name for c in "/\\")
        or not name.isprintable()
        or len(os.fsencode(name)) > 255
    )
    if bad:
        raise ObjrecError(
            f"{name!r} is not a valid folder name for {given}: give a name without slashes "
            "or control characters that does not start with a dot"
        )


def _of_class_folders(given: Path) -> list[NewImage]:
    dirs = class_dirs(given)
    if not dirs and any(is_image_file(p) for p in given.iterdir()):
        name = given.resolve().name  # quoted as the shell takes it: "my camera" is one value
        raise ObjrecError(
            f"{given} holds images but no class folders: name their class with `class_name` "
            f"(`class_name` {shlex.quote(name)}, if {name} is their class)"
        )
    if not dirs:
        raise no_class_folders(given)
    folder = given.resolve()
    dirs = [folder / d.name for d in dirs]
    return [
        NewImage(p, d.name, p.relative_to(d), p.relative_to(folder).as_posix())
        for d in dirs
        for p in list_images(d)
    ]


def _of_one_class(path: Path, name: str) -> list[NewImage]:
    if path.is_dir():
        folder = path.resolve()
        found = list_images(folder)
        return [
            NewImage(p, name, p.relative_to(folder), p.relative_to(folder).as_posix())
            for p in found
        ]
    if not is_image_file(path):
        raise ObjrecError(f"{path} is not an image file")
    return [NewImage(Path(os.path.abspath(path)), name, Path(path.name), str(path))]


def _existing(data: Path) -> dict[Path, tuple[str, str]]:
    """Every image of the data folder and its split and class."""
    return {
        path: (split, folder.name)
        for split in present_splits(data)
        for folder in class_dirs(data / split)
        for path in list_images(folder)
    }


def _unreadable(images: list[NewImage], facts: dict) -> tuple[list[str], list[str]]:
    """The new images that cannot be read, and of those the HEIC or HEIF photos that only want
    pillow-heif, as named relative to NEW."""
    unreadable = [image.shown for image in images if facts[image.path].error]
    heif = [image.shown for image in images if decoder_missing(facts[image.path].error)]
    return unreadable, heif


def none_readable(unreadable: Sequence[str], heif: Sequence[str]) -> str:
    """Why nothing is added: no new image can be read, saying so of the HEIC or HEIF photos
    (``heif``) that only want pillow-heif."""
    said = f"none of the new images can be read: {some_of(unreadable)}"
    if heif:
        those = "is a HEIC or HEIF photo" if len(heif) == 1 else "are HEIC or HEIF photos"
        said += (
            f"; {len(heif)} of them {those}, which pillow-heif reads once installed (`pip install "
            f"pillow-heif`; or convert {'it' if len(heif) == 1 else 'them'} to JPEG or PNG)"
        )
    return said


def _plan(
    data: Path, images: list[NewImage], config: SplitConfig, on_file, own: bool, store_dir: Path
) -> _Plan:
    """Hash everything (facts from the cache where known), then decide each new image's fate;
    ``store_dir``: the feature store whose file index knows the data folder's files."""
    if config.groups is not None:
        raise ObjrecError(
            "`groups` is read by split_folder only: add_images places each new image alone, with "
            "its duplicates"
        )
    if config.like is not None:
        raise ObjrecError(
            "`like` is read by split_folder only: add_images keeps every image of the data folder "
            "where it is"
        )
    existing = _existing(data)
    config = dataclasses.replace(config, ratios=_own_ratios(existing)) if own else config
    files = {"data": list(existing), "new": [image.path for image in images]}
    hashes, sha256 = _digests(files, on_file, store_dir)
    facts = decode_all(files, hashes, on_file)
    unreadable, heif = _unreadable(images, facts)
    images = [image for image in images if not facts[image.path].error]
    if not images:
        raise ObjrecError(none_readable(unreadable, heif))
    readable = {k: [p for p in paths if not facts[p].error] for k, paths in files.items()}
    # the groups of the new images only: pairs among the data folder's images, whose place is
    # fixed, are never compared (on a large folder, most of the time, growing with its square)
    new = readable["new"]
    groups = near_groups(readable, hashes, facts, among=new) if config.near_duplicates else hashes
    in_data = {hashes[p]: p for p in reversed(list(existing))}  # the first copy of each
    fresh = [image for image in images if hashes[image.path] not in in_data]
    placing, found = _with_bursts(existing, images, groups, hashes, config.burst_seconds)
    held = _held_splits(existing, placing)
    split_of, paired = _place(fresh, placing, held, _counts(existing), config)
    splits = [split_of[placing[image.path]] for image in fresh]
    rows = _rows(
        data, fresh, splits, sha256, _manifest_groups(data, fresh, placing, existing, hashes)
    )
    result = AddResult(data, min_images=min_class_size(config.ratios), unreadable_files=unreadable)
    result.no_decoder_files = heif
    result.ratios, result.own_ratios = config.ratios, own
    _count(result, rows, existing, config.ratios, paired)
    near_held = _held_splits(existing, groups)
    result.near_duplicate_files = sum(groups[image.path] in near_held for image in fresh)
    _count_bursts(result, found, fresh, (placing, held, groups, near_held), existing)
    _count_copies(result, images, hashes, in_data)
    result.cross_class_duplicates = _cross_class(data, existing, images, groups)
    result.spread_groups = _spread(data, existing, fresh, groups)
    return _Plan(result, rows)


def _manifest_groups(data: Path, fresh: list[NewImage], placing, existing, hashes) -> dict:
    """Each new image's group in the manifest (:data:`objrec.manifest.MANIFEST_GROUP`), as ``split``
    records what it kept together: the group the manifest records for the data folder's images
    placed with it (its duplicates, its burst: ``placing``), unchanged since (``hashes``); else a
    number after the manifest's largest, one per placing key. Empty where they hold two recorded
    groups (split would have made them one): ``evaluate`` joins those itself, as it groups images
    no manifest records."""
    from objrec.manifest import manifest_groups

    recorded = manifest_groups(data)  # file -> (its SHA-256 then, its group)
    held: dict[str, set[str]] = {}
    for path in existing:
        then, group = recorded.get(path.relative_to(data).as_posix(), ("", ""))
        if path in placing and then.startswith(hashes[path]):
            held.setdefault(placing[path], set()).add(group)
    numbers = [int(group) for _, group in recorded.values() if group.isdigit()]
    new_numbers: dict[str, str] = {}
    found = {}
    for image in fresh:
        key = placing[image.path]
        if key not in held:
            new_numbers.setdefault(key, str(max(numbers, default=-1) + 1 + len(new_numbers)))
        groups = held.get(key, {new_numbers.get(key, "")})
        found[image.path] = next(iter(groups)) if len(groups) == 1 else ""
    return found


def _with_bursts(existing, images: list[NewImage], groups, hashes, seconds: float):
    """Each file's placing key: its duplicate group's (``groups``) united with its burst's, for
    the bursts holding a new image (:func:`objrec.bursts.bursts`, among the new images and the
    data folder's of their classes, whatever their split); and those bursts."""
    from objrec import bursts
    from objrec.grouping import join_groups

    if seconds <= 0:
        return groups, []
    classes: dict[str, list[Path]] = {image.name: [] for image in images}
    for path, (_, name) in existing.items():
        if name in classes:
            classes[name].append(path)
    for image in images:
        classes[image.name].append(image.path)
    times = bursts.camera_times(p for paths in classes.values() for p in paths)
    new = {image.path for image in images}
    found = [b for b in bursts.bursts(classes, times, seconds) if new.intersection(b)]
    if not found:
        return groups, []
    keys = {p: hashes[p] for burst in found for p in burst} | groups
    return join_groups(keys, bursts.burst_of(found))[0], found


def _count_bursts(result: AddResult, found, fresh: list[NewImage], keys, existing) -> None:
    """The bursts holding an image added (of ``found``; new images as named, the data folder's
    relative to it: a burst whose new images are all copies of the data folder's, not added, is
    not listed), the new images placed with one, and those that went to the split of a
    burst-mate already in the data folder (not counted when a near-duplicate took them there)."""
    placing, held, groups, near_held = keys
    shown = {image.path: image.shown for image in fresh}
    result.bursts = [
        [shown[p] if p in shown else p.relative_to(result.data).as_posix() for p in burst]
        for burst in ([p for p in b if p in shown or p in existing] for b in found)
        if any(p in shown for p in burst)
    ]
    in_burst = {p for burst in found for p in burst}
    mates = [image.path for image in fresh if image.path in in_burst]
    result.burst_files = len(mates)
    result.burst_held_files = sum(placing[p] in held and groups[p] not in near_held for p in mates)


def _store_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    """The feature store folder of the cache folder ``cache_dir`` (default: the default one's),
    whose file index gives the digests of the files an add or a train given that folder hashed
    (an add has no run to read ``train``'s ``cache_dir`` from, so it is given the folder too).
    The image facts stay in the default cache folder, where ``split`` keeps them."""
    return Path(cache_dir or default_cache_dir()) / "store"


def _digests(
    files: dict[str, list[Path]], on_file, store_dir: Path
) -> tuple[dict[Path, str], dict[Path, str]]:
    """Each file's content digest (SHA-256's first 128 bits, as the feature store keys images)
    and each new image's whole SHA-256, for its manifest row. The data folder's digests come from
    the file index (path, size, times, inode) of the feature store in ``store_dir``: only files
    an earlier add or train using that store did not see as they are now are read. ``on_file``
    counts them as the first half of the work."""
    data, new = files["data"], files["new"]
    total = 2 * (len(data) + len(new))
    with FeatureStore(store_dir) as store:
        known, stats = store.digests(data)
    log.info(
        "hashed %d of the data folder's %d files in %.1fs", stats.hashed, len(data), stats.seconds
    )
    if on_file and data:
        on_file(len(data), total)
    sha256: dict[Path, str] = {}
    for path in new:
        sha256[path] = sha256_file(path)
        if on_file:
            on_file(len(data) + len(sha256), total)
    digests = dict(zip(data, known, strict=True))
    return digests | {path: whole[:DIGEST_CHARS] for path, whole in sha256.items()}, sha256


def _count_copies(result: AddResult, images: list[NewImage], hashes, in_data) -> None:
    """The new images byte-identical to one of the data folder (``in_data``), per class."""
    for image in images:
        if hashes[image.path] in in_data:
            result.copies[image.name] = result.copies.get(image.name, 0) + 1
            copy = in_data[hashes[image.path]].relative_to(result.data).as_posix()
            result.copy_files.append((image.shown, copy))
            result.counts.setdefault(image.name, dict.fromkeys(SPLITS, 0))


def _spread(data: Path, existing, fresh: list[NewImage], groups) -> list[tuple[str, list[str]]]:
    """Each new image near-duplicate of images of the data folder that sit in more than one
    split (a leak made by hand, or one the new image makes, being like two pictures split apart),
    and those images."""
    members: dict[str, list[Path]] = {}
    for path in existing:
        if path in groups:
            members.setdefault(groups[path], []).append(path)
    spread = []
    for image in fresh:
        found = members.get(groups[image.path], [])
        if len({existing[p][0] for p in found}) > 1:
            spread.append((image.shown, [p.relative_to(data).as_posix() for p in found]))
    return spread


def _own_ratios(existing: dict[Path, tuple[str, str]]) -> tuple[float, float, float]:
    """Each split's share of the data folder's images, over all classes (0 for a split it has no
    image in: an add never creates one of those unless asked); ``SplitConfig``'s when empty."""
    per_split = Counter(split for split, _ in existing.values())
    total = sum(per_split.values())
    if not total:
        return SplitConfig.ratios
    train, valid, test = (per_split[s] / total for s in SPLITS)
    return (train, valid, test)


def _held_splits(existing: dict[Path, tuple[str, str]], groups: dict[Path, str]) -> dict[str, str]:
    """The split of each group that has images in the data folder: where most of them are (they
    are all in one, unless the folder was changed by hand)."""
    found: dict[str, Counter[str]] = {}
    for path, (split, _) in existing.items():
        if path in groups:
            found.setdefault(groups[path], Counter())[split] += 1
    return {
        key: min(counts, key=lambda s: (-counts[s], SPLITS.index(s)))
        for key, counts in found.items()
    }


def _counts(existing: dict[Path, tuple[str, str]]) -> dict[str, list[int]]:
    """Images per class and split (in ``SPLITS`` order) in the data folder."""
    counts: dict[str, list[int]] = {}
    for split, name in existing.values():
        counts.setdefault(name, [0] * len(SPLITS))[SPLITS.index(split)] += 1
    return counts


def _place(images, groups, held, counts, config: SplitConfig) -> tuple[dict[str, str], set[str]]:
    """The split of each new group, and the classes placed as a pair to evaluate
    (:func:`objrec.placement.evaluated_pair`): a group with images in the data folder goes where
    they are; per class (in name order, seeded), the others toward ``allocate``'s targets for its
    new total, as ``split`` places a class's groups (:func:`objrec.placement.nearer_split`):
    shuffled, largest first, a group of two images or more to the split lacking the largest share of
    its target among those it brings nearer, single images to train's, valid's, then test's places;
    then, as ``split`` does (:func:`objrec.placement.no_empty_split`), a split that ``allocate``
    gives one of the class's groups (its images in the data folder counted as groups) but that holds
    none of its images takes the smallest new group of a split holding two or more."""
    rng = random.Random(config.seed)
    split_of = dict(held)
    paired: set[str] = set()
    for name in sorted({image.name for image in images}):
        sizes = Counter(groups[image.path] for image in images if image.name == name)
        before = counts.get(name, [0] * len(SPLITS))
        placed, pair = _place_class(sizes, split_of, before, config, rng)
        split_of |= placed
        paired |= {name} if pair else set()
    return split_of, paired


def _place_class(
    sizes, split_of, before: list[int], config: SplitConfig, rng
) -> tuple[dict[str, str], bool]:
    """The split of each of one class's new groups (``sizes``) that ``split_of`` has not placed,
    the class holding ``before`` images in each split (:func:`_place`), and whether they were
    placed as a pair to evaluate (none held: a new class, no group placed by another)."""
    targets = allocate(sum(before) + sum(sizes.values()), config.ratios)
    left = [t - n for t, n in zip(targets, before, strict=True)]
    held = [split for split, n in zip(SPLITS, before, strict=True) if n]
    for key, n in sizes.items():
        if key in split_of:  # placed already: by the data folder, or by an earlier class
            left[SPLITS.index(split_of[key])] -= n
            held.append(split_of[key])
    free = sorted(key for key in sizes if key not in split_of)
    rng.shuffle(free)
    free.sort(key=lambda key: -sizes[key])  # stable: one size keeps its shuffled order
    placed = {}
    for key in free:
        split = nearer_split(left, targets, sizes[key])
        placed[key] = SPLITS[split]
        left[split] -= sizes[key]
    n_groups = len(sizes) + sum(before)
    wanted = [s for s, n in zip(SPLITS, allocate(n_groups, config.ratios), strict=True) if n]
    paired = not held and is_pair(placed, sizes, config.ratios)
    if paired:  # a new class: as split places a class of two groups
        placed = evaluated_pair(placed, sizes, config.ratios)
    return no_empty_split(placed, sizes, wanted, held, set()), paired


def _rows(data: Path, images: list[NewImage], splits: list[str], hashes, groups):
    """Each image's target: its path in its class folder of its split, or a free name beside it
    when a file there (or a new image before it) has that name; its split, SHA-256 and group."""
    taken = _taken(data)
    rows = []
    for image, split in zip(images, splits, strict=True):
        target = free_name(Path(split) / image.name / image.rel, taken)
        taken.add(name_key(target))
        rows.append((image, target, split, hashes[image.path], groups[image.path]))
    return rows


def _taken(data: Path) -> set[str]:
    """The names (:func:`name_key`) of every file and folder in the splits, those inside a class
    folder that is a symbolic link (to the user's photos elsewhere) too."""
    taken = set()
    for split in SPLITS:
        for path in (data / split).glob("**/*"):
            taken.add(name_key(path.relative_to(data)))
            if path.parent == data / split and path.is_symlink() and path.is_dir():
                real = path.resolve()
                taken |= {
                    name_key(path.relative_to(data) / p.relative_to(real))
                    for p in real.glob("**/*")
                }
    return taken


def _count(result: AddResult, rows, existing, ratios, paired: set[str]) -> None:
    """The counts, files, new classes and classes still missing from a split, from ``rows``; of
    those, the ones ``paired`` (placed as a pair to evaluate: ``two_group_classes``)."""
    before = _counts(existing)
    result.data_images = {s: sum(c[i] for c in before.values()) for i, s in enumerate(SPLITS)}
    for image, target, split, *_ in rows:
        result.counts.setdefault(image.name, dict.fromkeys(SPLITS, 0))[split] += 1
        result.files.append((image.shown, target.as_posix()))
    result.new_classes = sorted(set(result.counts) - set(before))
    for name, added in result.counts.items():
        final = [n + added[s] for n, s in zip(before.get(name, [0] * 3), SPLITS, strict=True)]
        if any(n == 0 for n, r in zip(final, ratios, strict=True) if r > 0):
            result.small_classes.append(name)
            if name in paired:
                result.two_group_classes.append(name)


def _cross_class(data: Path, existing, images: list[NewImage], groups) -> list[tuple[str, str]]:
    """A pair for each new image whose group holds an image of another class before it (in the
    data folder, or new): the first such, then the new image."""
    first: dict[str, dict[str, str]] = {}  # group -> class -> its first image's name
    for path, (_, name) in existing.items():
        if path in groups:
            first.setdefault(groups[path], {}).setdefault(name, path.relative_to(data).as_posix())
    pairs = []
    for image in images:
        classes = first.setdefault(groups[image.path], {})
        other = next((shown for name, shown in classes.items() if name != image.name), None)
        if other is not None:
            pairs.append((other, image.shown))
        classes.setdefault(image.name, image.shown)
    return pairs


def _write(data: Path, rows, mode: str, on_write=None) -> list[tuple[str, str]]:
    """Each file under a hidden temporary name, then linked to its target, never replacing a file
    (one there the plan did not see gets the next free name); the manifest gets the rows of the
    files written, even when a later one fails (or Ctrl-C): files and manifest always match.
    A killed add's temporary files in the class folders written go first, each folder looked
    through once (``write_new`` does not: a class folder of thousands, once per image).
    Returns each written file's name as shown and its path in ``data``."""
    for folder in sorted({(data / target).parent for _, target, *_ in rows}):
        remove_leftovers(folder)
    manifest = data / MANIFEST if (data / MANIFEST).is_file() else None
    if manifest:
        _write_pending(data / PENDING, [_manifest_row(*row) for row in rows])
    written: list[tuple[NewImage, Path, str, str, str]] = []
    try:
        with ctrl_c_leaves(lambda: added_so_far(data, len(written), len(rows))):
            for image, target, split, digest, group in rows:
                final = write_new(data / target, functools.partial(_put, image.path, mode, data))
                written.append((image, final.relative_to(data), split, digest, group))
                if on_write:
                    on_write(len(written), len(rows))
    finally:
        if written and manifest:
            _append_manifest(manifest, [_manifest_row(*row) for row in written])
        (data / PENDING).unlink(missing_ok=True)
    return [(image.shown, target.as_posix()) for image, target, *_ in written]


def _write_pending(path: Path, rows: list[dict[str, str]]) -> None:
    """:data:`PENDING`, written whole, before the files of its rows."""
    with staged(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, (*MANIFEST_COLUMNS, MANIFEST_GROUP))
        writer.writeheader()
        writer.writerows(rows)


def _finish_killed_add(data: Path) -> None:
    """The manifest rows of the files a killed add wrote (:data:`PENDING`): those of its rows
    whose file is in the splits with the bytes it planned, and not in the manifest yet."""
    pending = data / PENDING
    if not pending.is_file() or not (data / MANIFEST).is_file():
        return
    with pending.open(newline="", encoding="utf-8") as f:
        planned = list(csv.DictReader(f))
    listed = {row["file"] for row in manifest_rows(data / MANIFEST)}
    rows = [r for r in planned if r.get("file") not in listed and _holds(data, r)]
    if rows:
        _append_manifest(data / MANIFEST, rows)
        log.warning(
            "an earlier add into %s was stopped before it ended: the %s it had written are in "
            "its manifest now",
            data,
            plural(len(rows), "image"),
        )
    pending.unlink()


def _holds(data: Path, row: dict[str, str]) -> bool:
    """Whether ``data`` holds ``row``'s file, in a split, with its SHA-256."""
    name = Path(row.get("file") or "..")
    if ".." in name.parts or name.is_absolute() or name.parts[0] not in SPLITS:
        return False
    return (data / name).is_file() and sha256_file(data / name) == row.get("sha256")


def added_so_far(data: Path, done: int, total: int) -> str:
    """What an add stopped while writing left: its images written so far are in ``data``, each
    whole and in the manifest (:func:`_write`); the same add again adds the others, as it skips
    an image ``data`` holds already."""
    return (
        f"{done:,} of {plural(total, 'image')} added to {data}, each whole and in its manifest, "
        "the others not: the same add again adds them (it skips those added)"
    )


def _manifest_row(
    image: NewImage, target: Path, split: str, digest: str, group: str
) -> dict[str, str]:
    values = (target.as_posix(), image.name, split, digest, str(image.path), group)
    return dict(zip((*MANIFEST_COLUMNS, MANIFEST_GROUP), values, strict=True))


def _put(source: Path, mode: str, data: Path, tmp: Path) -> None:
    if mode == "copy":
        shutil.copy2(source, tmp)
    else:
        link_file(source, tmp, data)


def _check_manifest(manifest: Path) -> None:
    """Refuse, before anything is written, a ``manifest.csv`` that is not as ``split`` writes it
    (no header, another separator, a line it cannot read): rows appended to it would be wrong,
    and leaving it behind the files would make it wrong too. A UTF-8 BOM is allowed."""
    if not manifest.is_file():
        return
    try:
        with manifest.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ObjrecError(
            f"{manifest} cannot be read as a CSV file ({exc}): fix it or move it away, then add"
        ) from None
    missing = [c for c in MANIFEST_COLUMNS if c not in (rows[0] if rows else MANIFEST_COLUMNS)]
    if missing:
        raise ObjrecError(
            f"{manifest} is not a manifest as `split` writes it (its first line lacks the "
            f"comma-separated columns {', '.join(missing)}): fix it or move it away, then add"
        )


def _append_manifest(manifest: Path, rows: list[dict[str, str]]) -> None:
    """``rows`` after the manifest's own, under its columns (an older manifest's too); the file
    replaced whole, in its own encoding (a BOM kept)."""
    with manifest.open("rb") as f:
        raw = f.read()
    encoding = "utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8"
    text = raw.decode(encoding)
    header = next(csv.reader(io.StringIO(text)), None) if text.strip() else None
    with staged(manifest) as tmp, tmp.open("w", newline="", encoding=encoding) as f:
        f.write(text if not text or text.endswith(("\n", "\r")) else text + "\r\n")
        writer = csv.DictWriter(
            f, header or (*MANIFEST_COLUMNS, MANIFEST_GROUP), extrasaction="ignore"
        )
        if header is None:
            writer.writeheader()
        writer.writerows(rows)

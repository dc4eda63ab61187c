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
as ``split`` records it (:mod:`objrec.add.plan`). NEW is only read.

The stages, each its own module: what the add is given (:mod:`objrec.add.new`, a labels table's
photos :mod:`objrec.labels`), its plan (:mod:`objrec.add.plan`, placing by
:mod:`objrec.add.place`), writing it (:mod:`objrec.add.write`, a killed add's repair
:mod:`objrec.add.pending`), what it did and says (:mod:`objrec.add.result`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from objrec.add.new import (
    NewImage,
    as_data_classes,
    checked_split_folder,
    empty_class_folders,
    new_images,
    refuse_class_folders,
    refuse_look_alike_classes,
    split_classes,
)
from objrec.add.pending import finish_killed_add
from objrec.add.plan import Plan, plan_add
from objrec.add.result import (
    AddResult,
    add_warnings,
    left_out_by_split,
    linked_folders,
    shared_note,
    test_note,
)
from objrec.add.write import AddProgress, write_added
from objrec.cache_folder import store_dir, using_cache_dir
from objrec.config import SplitConfig, settings
from objrec.data import refuse_likely_misspelt
from objrec.errors import Interrupted, ObjrecError, ctrl_c_leaves, os_error_sentence
from objrec.labels import LabelledPhotos, labelled_images, labelled_photos
from objrec.locks import locked
from objrec.manifest import MANIFEST, check_manifest, manifest_damage, read_split_record
from objrec.paths import PathGiven, PathsGiven
from objrec.progress import log_result_warnings
from objrec.split.record import added_entry
from objrec.warned import warned_once_per_file
from objrec.words import listed

log = logging.getLogger(__name__)


@warned_once_per_file()
def add_images(
    data: PathGiven,
    new: PathsGiven = (),
    config: SplitConfig | None = None,
    *,
    class_name: str | None = None,
    dry_run: bool = False,
    on_file: Callable[[int, int], None] | None = None,
    on_write: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    cache_dir: PathGiven | None = None,
    command: Sequence[str] | None = None,
    labels: PathGiven | None = None,
    new_class: bool = False,
    **keywords: Any,
) -> AddResult:
    """Add the images of ``new`` to ``data``, a folder made by ``split_folder``, leak-free.

    Args:
        data: holds ``train/``, ``valid/`` (and ``test/``) class folders, maybe ``manifest.csv``.
        new: a folder of class folders (``split_folder``'s ``src``; none with ``labels``); with
            ``class_name``, folders of images or image files, all of that class. Never modified.
        config: the ``ratios`` to come close to (default or None: ``data``'s own), ``seed``,
            ``mode``, ``near_duplicates``, ``burst_seconds``; or those alone as keywords.
        class_name: the class of every image of ``new`` (one ``data`` has, or a new one).
        dry_run: decide everything and write nothing.
        on_file, on_write: progress, called as ``(done, total)`` hashing, then writing.
        on_wait: called before waiting for another objrec process writing in ``data``.
        cache_dir: the cache folder add keeps all it caches in (``train``'s ``cache_dir``).
        command: the CLI's command line, for the ``added`` of ``data``'s ``split.json``.
        labels: instead of ``new``, a table of photos and their classes (:mod:`objrec.labels`).
        new_class: make a new class named like one of ``data``'s (refused as a misspelling).

    Raises:
        ObjrecError: before anything is written, for ``data`` not a split folder (a run folder; a
            manifest cut short, unlike ``split``'s or missing beside ``split.json``), ``new``
            missing, imageless or inside ``data``, a ``class_name`` no folder can take, a class
            named like another but for case or like one of ``data``'s without ``new_class``."""
    progress = AddProgress(Path(data))
    with ctrl_c_leaves(progress.left), _failure_leaves(progress), using_cache_dir(cache_dir):
        config, own = _add_settings(config, keywords)
        given, root, images, labelled = _asked(Path(data), new, class_name, labels, new_class)
        index = store_dir()
        with _held(root, dry_run, on_wait, progress) as stopped:
            plan = plan_add(root, images, config, on_file, own, index, stopped)
            if not dry_run:
                entry = _entry(given, labels, class_name, config, plan.result, command)
                _write(root, plan, config.mode, entry, progress, on_write, index)
        return _finish(plan.result, root, dry_run, (given, images, class_name), labelled)


def _write(
    root: Path,
    plan: Plan,
    mode: str,
    entry: dict[str, Any],
    progress: AddProgress,
    on_write: Callable[[int, int], None] | None,
    index: Path,
) -> None:
    """Write ``plan``'s files into ``root`` (:func:`write_added`) and count them in its result."""
    plan.result.files = write_added(root, plan, mode, entry, progress, on_write, index)


@contextlib.contextmanager
def _failure_leaves(progress: AddProgress) -> Iterator[None]:
    """An error once files were written (a full disk, a file refused) says what the add left, as
    Ctrl-C does: the error alone would leave a user who freed space not knowing that 3 of 18
    images went in, each in the manifest, nor that the same add again goes on (it skips them)."""
    try:
        yield
    except (OSError, ObjrecError) as exc:
        if not progress.written or isinstance(exc, Interrupted):
            raise
        said = str(exc) if isinstance(exc, ObjrecError) else os_error_sentence(exc)
        values = exc.values if isinstance(exc, ObjrecError) else None
        raise ObjrecError(f"{said}; {progress.left()}", values) from exc


@contextlib.contextmanager
def _held(
    root: Path, dry_run: bool, on_wait: Callable[[], None] | None, progress: AddProgress
) -> Iterator[dict[str, str]]:
    """The data folder locked, and what an earlier, killed add wrote there listed first
    (``progress`` told; its files and their sources given to the block); a dry run: neither."""
    if dry_run:
        yield {}
        return
    with locked(root, on_wait):
        yield finish_killed_add(root, progress.listed_killed)


def _asked(
    data: Path,
    new: PathsGiven,
    class_name: str | None,
    labels: str | os.PathLike[str] | None,
    new_class: bool,
) -> tuple[list[Path], Path, list[NewImage], LabelledPhotos | None]:
    """What ``add_images`` is asked, checked before anything is written: the paths of ``new``,
    the split folder ``data`` resolved, the new images, and the photos the ``labels`` table gives
    a class (None without one)."""
    given = [Path(p) for p in ([new] if isinstance(new, str | os.PathLike) else new)]
    root = checked_split_folder(data, given)
    labelled = labelled_photos(labels, given, class_name)
    images = _checked_images(given, class_name, data, root, labelled)
    if not new_class:
        named = None if class_name is None else "`class_name`"  # an option's value: exit 2
        refuse_likely_misspelt({image.name for image in images}, split_classes(root), given=named)
    return given, root, images, labelled


def _checked_images(
    given: list[Path],
    class_name: str | None,
    data: Path,
    root: Path,
    labelled: LabelledPhotos | None = None,
):
    """The new images (``labelled``'s, when given), once the manifest is known to be readable,
    and their classes not to clash with the data folder's."""
    check_manifest(root / MANIFEST)
    if said := manifest_damage(root):
        raise ObjrecError(f"cannot add to {root}: {said}")
    found = (
        new_images(given, class_name, data) if labelled is None else labelled_images(labelled, data)
    )
    images = as_data_classes(found, root)
    named = None if class_name is None else "`class_name`"  # an option's value: exit 2
    refuse_look_alike_classes({image.name for image in images}, root, named)
    if class_name is not None:
        refuse_class_folders(given, root, class_name)
    return images


def _finish(
    result: AddResult, root: Path, dry_run: bool, asked: tuple, labelled: LabelledPhotos | None
) -> AddResult:
    """``result`` told what the add leaves out (``asked``: the paths given, their images, the
    class; the rows of the ``labelled`` table) and what the split of ``root`` does not take, and
    logged."""
    result.dry_run, result.empty_classes = dry_run, empty_class_folders(*asked)
    result.labels_left_out = dict(labelled.left_out) if labelled is not None else {}
    result.left_out_classes = left_out_by_split(root, result.new_classes)
    result.split_groups = _split_by_groups(root)
    result.linked_folders = linked_folders(root, result.files)
    _log_added(result, root)
    return result


def _split_by_groups(root: Path) -> str | None:
    """The ``groups`` file the data folder's ``split.json`` says it was split by, or None."""
    groups = (read_split_record(root) or {}).get("groups")
    return groups if isinstance(groups, str) else None


def _add_settings(config: SplitConfig | None, keywords: dict[str, Any]) -> tuple[SplitConfig, bool]:
    """``add_images``'s settings, and whether its ratios are the data folder's own (none given)."""
    if own := config is None and keywords.get("ratios") is None:  # the data folder's own
        keywords.pop("ratios", None)
    return settings(SplitConfig, config, keywords, "add_images"), own


def _entry(
    given: list[Path],
    labels: str | os.PathLike[str] | None,
    class_name: str | None,
    config: SplitConfig,
    result: AddResult,
    command: Sequence[str] | None,
) -> dict[str, Any]:
    """This add's entry in the ``added`` of the data folder's ``split.json``: what was added (the
    paths ``given``, else the ``labels`` table; the class), with which settings; how many files it
    wrote, and whether it was stopped before it wrote them all, are filled in once it has."""
    made: dict[str, Any] = {"ratios_used": list(result.ratios), "files": 0, "stopped": False}
    made |= {"near_apart": len(result.near_apart), "spread": len(result.spread_groups)}
    new = given or [Path(labels or "")]
    return added_entry(new, class_name, config, result.own_ratios, command, **made)


def _log_added(result: AddResult, root: Path) -> None:
    """Where the images went (or would go), how to train on all of them, and the warnings."""
    totals = listed(result.totals())
    log.info("%s %s: %s", "planned for" if result.dry_run else "added to", root, totals)
    for note in (shared_note(result), test_note(result)):
        if note:
            log.info("%s", note)
    log_result_warnings(log, add_warnings(result))

"""Folder -> train/valid/test: stratified per class, seeded, and duplicate-aware.

Byte-identical files (same SHA-256) form one group and always land in the same split, within a class
and across classes, so no image is both trained on and tested on. So do near-duplicates (a resized,
re-encoded, mirrored, turned, letterboxed, recoloured or cropped copy): images whose perceptual
hashes (of the image, its mirror, it turned a quarter or half turn, or with its flat border
trimmed) differ by at most ``dedup.HASH_SPLIT`` bits of 256, or one of which is the other's
centre crop, or the other with a strip cut off one edge, by its hash (``dedup.split_pairs``): the
hash half of ``objrec audit``'s check (the audit adds frozen-feature similarity). The hashes are
kept by content digest in the cache folder's image facts (``facts.sqlite``, shared with the audit).
A burst's frames, which the hash may see as different pictures, are kept in one split by their
EXIF camera and time (``objrec.bursts``). SRC is only ever read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from objrec.cache_folder import store_dir, using_cache_dir
from objrec.config import SplitConfig, settings
from objrec.data import require_split_folder
from objrec.errors import ObjrecError, on_ctrl_c
from objrec.grouping import burst_keys, join_groups, near_groups, read_groups
from objrec.images import first_pages_only
from objrec.outputs import takes_back_folders
from objrec.paths import PathGiven
from objrec.placement import assign
from objrec.progress import log_result_warnings
from objrec.ratios import min_class_size
from objrec.reading import facts_file
from objrec.reviewed import earlier_reviews
from objrec.split.like import Like, like_splits, moved_files
from objrec.split.out import (
    SplitRecords,
    check_out_folder,
    refuse_dropping_images,
    told_of_killed_splits,
    write_split,
)
from objrec.split.record import SplitRecord, left_out_entry, split_record
from objrec.split.result import (
    SplitResult,
    few_judged,
    few_train,
    require_train_and_valid,
    split_warnings,
    untimed_sentence,
)
from objrec.split.source import chosen_class, merged_classes, read_source
from objrec.warned import warned_once_per_file
from objrec.words import groups_words, listed, plural

log = logging.getLogger(__name__)


@takes_back_folders("out")
@on_ctrl_c("nothing was written to {out}: run it again")
@warned_once_per_file()
def split_folder(
    src: PathGiven,
    out: PathGiven,
    config: SplitConfig | None = None,
    *,
    force: bool = False,
    on_file: Callable[[int, int], None] | None = None,
    command: Sequence[str] | None = None,
    on_compare: Callable[[int, int], None] | None = None,
    on_camera: Callable[[int, int], None] | None = None,
    on_write: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    on_like: Callable[[int, int], None] | None = None,
    cache_dir: PathGiven | None = None,
    dry_run: bool = False,
    **keywords: Any,
) -> SplitResult:
    """Split the class folders of ``src`` into ``out/train``, ``out/valid``, ``out/test``; its
    undecodable images and empty class folders are left out (named), refused under ``strict``.
    Refused (ObjrecError) before writing where train or valid (``train`` needs both) is empty.

    Args:
        src: one sub-folder per class; never modified.
        out: receives the splits, ``manifest.csv`` and ``split.json`` (:mod:`objrec.split.record`).
        config: how to split (ratios, seed, exclude, classes, mode, strict, near_duplicates,
            groups, like), or those as keywords (``split_folder(src, out, seed=1)``); ``like``,
            an earlier split of ``src`` edited since, keeps its images in their splits.
        force: replace an earlier split in ``out`` (its splits and manifest, after every check).
        command: the command line that asked for it (the CLI's, ``objrec`` first), or None.
        on_file, on_compare, on_camera, on_write, on_like: a progress bar each: hashing then reading
            the images; comparing them; their EXIF camera times; copying them; hashing ``like``'s.
        on_wait: called before waiting for an objrec process reading ``out`` (audit, train).
        cache_dir: the cache folder it keeps its hashes and image facts in (``train``'s too).
        dry_run: plan it (refusals, warnings), write nothing in ``out`` (the cache keeps what
            was read: the split after reads no file again).
    """
    config = settings(SplitConfig, config, keywords, "split_folder")
    src, out = _resolved(Path(src)), Path(out).resolve()
    with told_of_killed_splits(src, out, force), using_cache_dir(cache_dir):
        check_out_folder(src, out, force)
        reviewed = earlier_reviews([src, *_likes(config), out])  # refused first when unreadable
        progress = Progress(on_file, on_compare, on_camera, on_like)
        assignment, (hashes, keys), result, record = _plan(src, out, config, progress, command)
        refuse_dropping_images(src, out, set(hashes.values()))
        records = SplitRecords(hashes, keys, reviewed)
        plan = (src, out, assignment, records, config.mode, record, on_write, on_wait, store_dir())
        result.reviewed, result.dry_run = (0, True) if dry_run else (write_split(*plan), False)
    _log_split(src, out, result, config)
    return result


def _log_split(src: Path, out: Path, result: SplitResult, config: SplitConfig) -> None:
    """What the split did, for the log: the totals, the images without a camera time, the
    warnings."""
    done = "would split" if result.dry_run else "split"
    log.info("%s %s into %s: %s", done, src, out, listed(result.totals()))
    if result.duplicate_groups:  # SplitResult(duplicate_files=1) alone named neither file
        log.info(
            "%s kept in one split with a file of their class: %s (duplicate_groups lists them)",
            plural(result.duplicate_files, "duplicate file"),
            groups_words(result.duplicate_groups),
        )
    if untimed := untimed_sentence(result, grouped=config.groups is not None):
        log.info(untimed)
    log_result_warnings(log, split_warnings(result))


SPLIT_READS = "read, for training and for every answer"
"""What becomes of the first page or frame of a split image (``images.first_pages_only``)."""


def _relative(src: Path, path: Path) -> str:
    """``path`` as the split's sentences name a file: relative to the source folder."""
    return path.relative_to(src).as_posix()


def _near_groups(
    files: dict[str, list[Path]],
    hashes: dict[Path, str],
    facts: dict[Path, Any],
    on_row: Callable[[int, int], None] | None,
    kept: Path,
) -> dict[Path, str]:
    """The images' near-duplicate groups (``grouping.near_groups``), the step said in the log."""
    log.info("comparing the %s for near-duplicates", plural(len(hashes), "readable image"))
    return near_groups(files, hashes, facts, on_row=on_row, kept=kept)


class Progress(NamedTuple):
    """``split_folder``'s callbacks for the passes of its plan, each ``(done, total)``."""

    on_file: Callable[[int, int], None] | None
    """Hashing the files, then reading the images."""
    on_compare: Callable[[int, int], None] | None
    """Comparing the images for near-duplicates."""
    on_camera: Callable[[int, int], None] | None
    """Reading each image's EXIF camera time, for bursts."""
    on_like: Callable[[int, int], None] | None = None
    """Hashing the images of ``like``, the earlier split."""


def _plan(
    src: Path, out: Path, config: SplitConfig, progress: Progress, command: Sequence[str] | None
) -> tuple[dict, tuple[dict[Path, str], dict[Path, str]], SplitResult, SplitRecord]:
    """Which split each readable image of ``src`` goes to, the images' hashes and placing keys
    (what is kept together: duplicates, bursts, a ``groups`` file's groups), the counts, and the
    split's record (``command``: the command line; what it left out among the rest); refused
    (nothing written) when ``train`` could not use the split (``progress``: callbacks)."""
    ratios, near = config.ratios, config.near_duplicates
    source = read_source(src, config, progress.on_file, store_dir())
    files, hashes, facts = source.files, source.hashes, source.facts
    kept = facts_file()  # the pairs compared before
    groups = _near_groups(files, hashes, facts, progress.on_compare, kept) if near else hashes
    keys, found, (timed, cameraless) = burst_keys(
        files, groups, config.burst_seconds, digests=hashes, kept=kept, on_file=progress.on_camera
    )
    keys, joined, unjoined = _file_groups(config, src, files, keys)
    like = _like(config, files, hashes, keys, facts, progress.on_like)
    assignment, result = assign(files, (groups, keys), ratios, config.seed, (src, out), like.held)
    result.file_groups, result.gone_files, result.groups_unjoined = joined, like.gone, unjoined
    result.relabelled = [(path.relative_to(src).as_posix(), was) for path, was in like.relabelled]
    result.gone_classes = like.gone_classes
    _tell_bursts(result, src, files, found, (timed, cameraless), config.burst_seconds)
    result.moved = moved_files(like.was, assignment, src)
    held = sum(keys[p] in like.held for paths in files.values() for p in paths)
    result.kept_files = held - len(result.moved)
    result.near_duplicate_files = len(set(hashes.values())) - len(set(groups.values()))
    result.identical_files = sum(len(p) - len({hashes[f] for f in p}) for p in files.values())
    result.empty_classes, result.min_images = source.empty, min_class_size(ratios)
    result.ratios = ratios
    result.few_train_classes = few_train(result.counts, result.small_classes, result.min_images)
    result.few_judged_classes = few_judged(assignment, keys, result)
    result.unreadable_files, result.ignored_files = source.unreadable, source.not_images
    result.too_large_files, result.no_decoder_files = source.too_large, source.no_decoder
    result.merged_classes = merged_classes(src, files)
    result.first_pages = first_pages_only(sorted(hashes), SPLIT_READS, partial(_relative, src))
    require_train_and_valid(result, ratios)
    return (
        assignment,
        (hashes, keys),
        result,
        split_record(src, config, command, left_out_entry(result)),
    )


def _file_groups(
    config: SplitConfig, src: Path, files: dict[str, list[Path]], keys: dict[Path, str]
) -> tuple[dict[Path, str], int, str]:
    """The placing ``keys`` united with the ``groups`` file's groups (none without one), how many
    of those hold two images or more, and why none does when none does ("": some do)."""
    if config.groups is None:
        return keys, 0, ""
    read = read_groups(Path(config.groups), src, files)
    keys, joined = join_groups(keys, read.group_of)
    return keys, joined, "" if joined else read.unjoined()


def _like(config: SplitConfig, files, hashes, keys, facts, on_file=None) -> Like:
    """What the earlier split folder ``config.like`` tells of ``files`` (nothing without one), of
    the classes the split takes (``classes``, ``exclude``); ``on_file``: hashing its images."""
    if config.like is None:
        return Like({}, 0, [], {}, {})
    taken = partial(chosen_class, classes=config.classes, exclude=config.exclude)
    return like_splits(Path(config.like), files, hashes, keys, facts, taken, on_file)


def _tell_bursts(
    result: SplitResult,
    src: Path,
    files: dict[str, list[Path]],
    found: list[list[Path]],
    timed: tuple[int, int],
    seconds: float,
) -> None:
    """The bursts ``found`` (``grouping.burst_keys``) in ``result``, and how many of ``files``
    have a camera time (``timed``: those, and those with a time but no camera)."""
    result.bursts = [[path.relative_to(src).as_posix() for path in burst] for burst in found]
    result.burst_files, result.timed_files = sum(map(len, found)), timed[0]
    result.burst_seconds = seconds
    result.untimed_files = sum(map(len, files.values())) - timed[0] if seconds else 0
    result.cameraless_files = timed[1]


def _likes(config: SplitConfig) -> list[Path]:
    """The earlier split folder ``like`` names, resolved, once it is known to be a split folder
    (none without it)."""
    if config.like is None:
        return []
    require_split_folder(Path(config.like), given_as="like")
    return [Path(config.like).resolve()]


def _resolved(src: Path) -> Path:
    """``src`` resolved, once it is known to be a folder: a source that is not one is named as
    given (a link's target means nothing to the person who typed the link)."""
    if not Path(src).is_dir():
        raise ObjrecError(f"{src} is not a folder")
    return Path(src).resolve()

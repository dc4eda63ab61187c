"""Folder -> train/valid/test: stratified per class, seeded, and duplicate-aware.

Byte-identical files (same SHA-256) form one group and always land in the same split, within a class
and across classes, so no image is both trained on and tested on. So do near-duplicates (a resized,
re-encoded, mirrored, recoloured or cropped copy): images whose perceptual hashes (of the image or
of its mirror) differ by at most ``dedup.HASH_SPLIT`` bits of 256, or one of which is the other's
centre crop, or the other with a strip cut off one edge, by its hash (``dedup.split_pairs``): the
hash half of ``objrec audit``'s check (the audit adds frozen-feature similarity). The hashes are
kept by content digest in the cache folder's image facts (``facts.sqlite``, shared with the audit).
A burst's frames, which the hash may see as different pictures, are kept in one split by their
EXIF camera and time (``objrec.bursts``). SRC is only ever read.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from objrec.config import SplitConfig, settings
from objrec.data import (
    EMPTY_CLASS_ADVICE,
    alike_names,
    alike_why,
    class_dirs,
    class_of_folder,
    how_alike,
    no_class_folders,
    read_key,
    require_split_folder,
    with_likely,
)
from objrec.errors import ObjrecError, strict_refusal
from objrec.grouping import burst_keys, join_groups, near_groups, read_groups
from objrec.images import (
    decoder_missing,
    ignored_files,
    is_hidden,
    list_images,
    path_order,
    warned_once_per_file,
)
from objrec.manifest import sha256_file
from objrec.outputs import takes_back_folders
from objrec.placement import assign
from objrec.progress import listed, log_result_warnings, plural, some_of
from objrec.ratios import min_class_size
from objrec.reviewed import REVIEWED_FILE, earlier_reviews
from objrec.split_like import Like, like_splits
from objrec.split_out import check_out, refuse_dropping_images, told_of_killed_splits, write
from objrec.split_result import (
    SplitResult,
    few_judged,
    few_train,
    require_train_and_valid,
    split_warnings,
    untimed_sentence,
)

log = logging.getLogger(__name__)


@takes_back_folders("out")
@warned_once_per_file()
def split_folder(
    src: Path,
    out: Path,
    config: SplitConfig | None = None,
    *,
    force: bool = False,
    on_file: Callable[[int, int], None] | None = None,
    **keywords: Any,
) -> SplitResult:
    """Split the class folders of ``src`` into ``out/train``, ``out/valid``, ``out/test``.

    Args:
        src: one sub-folder per class; never modified.
        out: receives the three split folders and ``manifest.csv`` (file, class, split, sha256).
        config: how to split (ratios, seed, exclude, mode, strict, near_duplicates, groups,
            like); or give those settings as keywords, e.g. ``split_folder(src, out, seed=1)``.
            ``like`` (an earlier split of ``src``, edited since) keeps each image it holds in
            its split (:func:`like_splits`).
        force: replace an earlier split in ``out`` (its splits and manifest, after every check).
        on_file: called as ``on_file(done, total)`` while hashing, for a progress bar.

    Image files that cannot be decoded are left out and named in ``unreadable_files``, as class
    folders without images are in ``empty_classes``; ``strict`` refuses both instead, with one
    error naming the first 10 of each kind and counting the rest (:func:`refuse_problems`).

    Raises:
        ObjrecError: before anything is written, when the split would have no training or no
            validation image (``train`` needs both): the message says how many images a class
            needs for ``ratios``.
    """
    config = settings(SplitConfig, config, keywords, "split_folder")
    src, out = _resolved(src), Path(out).resolve()
    with told_of_killed_splits(src, out, force):
        check_out(src, out, force)
        if config.like is not None:
            require_split_folder(Path(config.like))
        likes = [Path(config.like).resolve()] if config.like is not None else []
        reviewed = earlier_reviews([src, *likes, out])  # refused first when unreadable
        assignment, (hashes, keys), result = _plan(src, out, config, on_file)
        refuse_dropping_images(src, out, set(hashes.values()))
        result.reviewed = write(src, out, assignment, (hashes, keys, reviewed), config.mode)
    log.info("split %s into %s: %s", src, out, listed(result.totals()))
    if untimed := untimed_sentence(result, grouped=config.groups is not None):
        log.info(untimed)
    log_result_warnings(log, split_warnings(result))
    return result


def _plan(
    src: Path, out: Path, config: SplitConfig, on_file: Callable[[int, int], None] | None
) -> tuple[dict, tuple[dict[Path, str], dict[Path, str]], SplitResult]:
    """Which split each readable image of ``src`` goes to, the images' hashes and placing keys
    (what is kept together: duplicates, bursts, a ``groups`` file's groups), and the counts;
    refused (nothing written) when ``train`` could not use the split."""
    ratios = config.ratios
    ignored: list[Path] = []
    files, empty = _class_files(src, config.exclude, ignored)
    images = [p for paths in files.values() for p in paths]
    not_images = ignored_files(src, ignored, images, loose_files(src, config.groups))
    hashes = hash_all(files, on_file)
    facts = decode_all(files, hashes, on_file)
    files, unreadable, too_large, no_decoder = _drop_unreadable(src, files, facts)
    if config.strict:
        refuse_problems(src, empty, unreadable)
    files, empty = _without_empty(src, files, empty)
    hashes = {p: hashes[p] for paths in files.values() for p in paths}
    groups = near_groups(files, hashes, facts) if config.near_duplicates else hashes
    keys, found, (timed, cameraless) = burst_keys(files, groups, config.burst_seconds)
    joined = 0
    if config.groups is not None:
        keys, joined = join_groups(keys, read_groups(Path(config.groups), src, files))
    like = Like({}, 0, [])
    if config.like is not None:
        like = like_splits(Path(config.like), files, hashes, keys, facts)
    assignment, result = assign(files, (groups, keys), ratios, config.seed, (src, out), like.held)
    result.file_groups, result.gone_files = joined, like.gone
    result.relabelled = [(path.relative_to(src).as_posix(), was) for path, was in like.relabelled]
    result.bursts = [[path.relative_to(src).as_posix() for path in burst] for burst in found]
    result.burst_files, result.timed_files = sum(map(len, found)), timed
    result.burst_seconds = config.burst_seconds
    result.untimed_files = sum(map(len, files.values())) - timed if config.burst_seconds else 0
    result.cameraless_files = cameraless
    result.kept_files = sum(keys[p] in like.held for paths in files.values() for p in paths)
    result.near_duplicate_files = len(set(hashes.values())) - len(set(groups.values()))
    result.identical_files = sum(len(p) - len({hashes[f] for f in p}) for p in files.values())
    result.empty_classes, result.min_images = empty, min_class_size(ratios)
    result.ratios = ratios
    result.few_train_classes = few_train(result.counts, result.small_classes, result.min_images)
    result.few_judged_classes = few_judged(assignment, keys, result)
    result.unreadable_files, result.ignored_files = unreadable, not_images
    result.too_large_files, result.no_decoder_files = too_large, no_decoder
    result.merged_classes = merged_classes(src, files)
    require_train_and_valid(result, ratios)
    return assignment, (hashes, keys), result


def loose_files(src: Path, groups: str | Path | None = None) -> list[Path]:
    """The visible files directly in ``src``, outside any class folder (images too), which no
    split holds; not the ``groups`` file, which the split reads, nor ``reviewed.csv``, which it
    carries (``reviewed``)."""
    given = Path(groups).resolve() if groups is not None else None
    files = (p for p in src.iterdir() if not is_hidden(p) and not p.is_dir())
    files = (p for p in files if p.name != REVIEWED_FILE)
    return sorted((p for p in files if p.resolve() != given), key=path_order)


def _class_files(
    src: Path, exclude: Sequence[str], ignored: list[Path] | None = None
) -> tuple[dict[str, list[Path]], list[str]]:
    """The images of each class (:func:`objrec.data.class_of_folder`: two folders whose names differ
    only in how their accents are encoded, NFC and NFD ``Café``, are one class, written under its
    NFC name), and the names of the class folders that have none; the other files in ``ignored``
    (:func:`objrec.images.list_images`)."""
    files: dict[str, list[Path]] = {}
    empty = []
    for folder in _select_classes(src, exclude):
        paths = list_images(src / folder, ignored=ignored)
        if paths:
            files.setdefault(class_of_folder(folder), []).extend(paths)
        else:
            empty.append(folder)
    return {name: sorted(paths, key=path_order) for name, paths in files.items()}, empty


def merged_classes(src: Path, files: dict[str, list[Path]]) -> dict[str, int]:
    """The classes of ``files`` whose images come from several class folders of ``src`` (named
    alike but for how their accents are encoded, :func:`_class_files`), with their count."""
    folders = {name: {p.relative_to(src).parts[0] for p in paths} for name, paths in files.items()}
    return {name: len(found) for name, found in folders.items() if len(found) > 1}


def _without_empty(
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


def decode_all(files: dict[str, list[Path]], hashes: dict[Path, str], on_file) -> dict[Path, Any]:
    """Every image's perceptual hashes, or why it cannot be read: decoded once (small) and kept
    by content digest in the cache folder's image facts, which ``objrec audit`` shares."""
    from objrec import dedup
    from objrec.store import DIGEST_CHARS, default_cache_dir

    paths = [p for group in files.values() for p in group]
    done = [len(paths)]

    def tick() -> None:
        done[0] += 1
        if on_file:
            on_file(done[0], 2 * len(paths))

    digests = [hashes[p][:DIGEST_CHARS] for p in paths]  # the feature store's digests
    facts = dedup.cached_facts(paths, digests, default_cache_dir() / dedup.FACTS_FILE, tick)
    return dict(zip(paths, facts, strict=True))


def _drop_unreadable(
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


def _resolved(src: Path) -> Path:
    """``src`` resolved, once it is known to be a folder: a source that is not one is named as
    given (a link's target means nothing to the person who typed the link)."""
    if not Path(src).is_dir():
        raise ObjrecError(f"{src} is not a folder")
    return Path(src).resolve()


def _select_classes(src: Path, exclude: Sequence[str]) -> list[str]:
    """The class folders of ``src`` to split (their names), less those ``exclude`` names (in
    either encoding of their accents)."""
    names = [p.name for p in class_dirs(src)]
    if not names:
        raise no_class_folders(src)
    left_out = {class_of_folder(n) for n in exclude}
    unknown = sorted(left_out - {class_of_folder(n) for n in names})
    if unknown:
        named = ", ".join(with_likely(unknown, names))  # cat (is it Cat?)
        raise ObjrecError(f"`exclude` names classes that {src} does not have: {named}")
    folders = [n for n in names if class_of_folder(n) not in left_out]
    if not folders:
        raise ObjrecError(f"`exclude` leaves no class of {src} to split")
    refuse_alike_classes(src, folders)
    return folders


def refuse_alike_classes(src: Path, names: Sequence[str]) -> None:
    """Refuse two class folders whose names differ only in case or in a space at either end
    (:func:`objrec.data.read_key`; those that differ only in how their accents are encoded are
    one class): one folder on macOS and Windows, where the split's copies would be one class, or
    two classes that read the same (a Mac's ``Stop signs `` folder beside ``Stop signs``)."""
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(class_of_folder(name), name)
    for other, name in alike_names(first.values(), key=read_key):
        how = how_alike(other, name)
        why = f"which would be {alike_why(how)}"
        why += " (the split would write them as one folder)" if how == "case" else ""
        moved = shlex.quote(str(src / f"{name.strip()}-2"))
        raise ObjrecError(
            f"the class folders {other!r} and {name!r} of {src} differ only in {how}, {why}: "
            f"if they are one class, move the photos of one into the other; if two, rename one "
            f"(`mv {shlex.quote(str(src / name))} {moved}`), or leave one out with `exclude`"
        )


def hash_all(files: dict[str, list[Path]], on_file) -> dict[Path, str]:
    """The SHA-256 of every file; ``on_file(done, total)`` counts them as the first half of the
    work, :func:`decode_all` being the second."""
    total = sum(len(v) for v in files.values())
    hashes: dict[Path, str] = {}
    for paths in files.values():
        for path in paths:
            hashes[path] = sha256_file(path)
            if on_file:
                on_file(len(hashes), 2 * total)
    return hashes

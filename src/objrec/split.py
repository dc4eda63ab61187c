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

import contextlib
import csv
import fcntl
import logging
import os
import shlex
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from objrec.config import SplitConfig, settings
from objrec.data import (
    EMPTY_CLASS_ADVICE,
    SPLITS,
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
from objrec.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_GROUP,
    is_split_manifest,
    manifest_files,
    manifest_rows,
    sha256_file,
)
from objrec.outputs import (
    locked,
    refuse_overwrite,
    reported_as,
    settle_names,
    takes_back_folders,
)
from objrec.placement import assign
from objrec.progress import listed, log_result_warnings, plural, some_of
from objrec.ratios import min_class_size
from objrec.reviewed import REVIEWED_FILE, carry_reviewed, earlier_reviews
from objrec.split_like import Like, like_splits
from objrec.split_result import (
    SplitResult,
    few_judged,
    few_train,
    require_train_and_valid,
    split_warnings,
    untimed_sentence,
)
from objrec.store import DIGEST_CHARS
from objrec.tables import CSV_ENCODING

log = logging.getLogger(__name__)

STAGE = ".objrec-split-"
"""The start of the name of the hidden folder in OUT a split writes to before swapping it in."""
STAGE_GRACE = 60.0
"""Seconds a staging folder is taken as a running split's even when unlocked: the moments
between making it and locking it."""


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
        _check_out(src, out, force)
        if config.like is not None:
            require_split_folder(Path(config.like))
        likes = [Path(config.like).resolve()] if config.like is not None else []
        reviewed = earlier_reviews([src, *likes, out])  # refused first when unreadable
        assignment, (hashes, keys), result = _plan(src, out, config, on_file)
        refuse_dropping_images(src, out, set(hashes.values()))
        result.reviewed = _write(src, out, assignment, (hashes, keys, reviewed), config.mode)
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


def _check_out(src: Path, out: Path, force: bool) -> None:
    if out == src or out.is_relative_to(src) or src.is_relative_to(out):
        raise ObjrecError(f"the output folder {out} must lie outside the source folder {src}")
    if out.exists() and not out.is_dir():
        raise ObjrecError(f"{out} exists and is not a folder")
    partial = partial_split(out)
    if partial is not None and not force:
        raise ObjrecError(
            f"{out} holds what is left of a split that was stopped before it was done (its "
            f"manifest is in {partial.name}): pass `force=True` to split again, which replaces it"
        )
    if partial is None:
        refuse_users_split_names(out)
    if not force:
        refuse_only_leftovers(out)
    if not force and is_split_manifest(out / MANIFEST):
        raise ObjrecError(
            f"{out} holds an earlier split (its {MANIFEST}): pass `force=True` to replace it, or "
            "choose another folder; to keep each image it holds in its split (so that runs on "
            f"both are tested on the same images), `split_folder({str(src)!r}, {str(out)!r}, "
            f"force=True, like={str(out)!r})`; to add new photos to it, `add_images({str(out)!r}, "
            "new)`"
        )
    refuse_overwrite(out, force, "choose another folder or pass `force=True`")


@contextlib.contextmanager
def told_of_killed_splits(src: Path, out: Path, force: bool) -> Iterator[None]:
    """When the split in the block is done, or refused, or fails, name each staging folder a
    killed split left in ``out`` (but those the refusal names: :func:`partial_split`, or all of
    them when ``out`` holds nothing else, :func:`refuse_only_leftovers`) and what to do with it
    as ``out`` then stands (:func:`warn_of_killed_split`)."""
    refused = [] if force else only_leftovers(out)
    try:
        yield
    finally:
        partial = partial_split(out)
        for stage in leftover_stages(out):
            if stage != partial and stage not in refused:
                warn_of_killed_split(stage, src, out)


def only_leftovers(out: Path) -> list[Path]:
    """The staging folders killed splits left in ``out`` when ``out`` holds nothing else, and
    none of them is a split killed while moving in (:func:`partial_split`); else none."""
    stages = leftover_stages(out)
    if not stages or len(stages) < len(list(out.iterdir())) or partial_split(out) is not None:
        return []
    return stages


def refuse_only_leftovers(out: Path) -> None:
    """Refuse ``out`` in one sentence when all it holds is what killed splits left: staging
    folders that nothing needs, as no split of theirs was moved in. Deleting them lets a split
    in; ``force`` splits beside them (objrec never deletes them: :func:`warn_of_killed_split`)."""
    stages = only_leftovers(out)
    if not stages:
        return
    it, left = ("it", "a split that was") if len(stages) == 1 else ("them", "splits that were")
    names = " and ".join(stage.name for stage in stages)
    paths = " ".join(shlex.quote(str(stage)) for stage in stages)
    raise ObjrecError(
        f"{out} holds only {names}, left by {left} killed before moving anything in: nothing in "
        f"{it} is needed; delete {it} (rm -r {paths}) to split into {out}, or pass `force=True` "
        f"to split beside {it}"
    )


def warn_of_killed_split(stage: Path, src: Path, out: Path) -> None:
    """Name a staging folder a killed split left in ``out`` and what to do with it: while ``out``
    holds no whole split, its manifest may be all that tells which of ``out``'s folders that split
    moved in (killed while it moved them, over an earlier split), so it is kept until a forced
    split has replaced them; after that, nothing in it is needed, and the user deletes it (objrec
    never does: it cannot tell what else may have been put there)."""
    if holds_whole_split(out):
        log.warning(
            "%s was left by a split that was killed; nothing in it is needed, as %s holds a whole "
            "split: delete it (rm -r %s)",
            *(stage, out, shlex.quote(str(stage))),
        )
        return
    log.warning(
        "%s was left by a split that was killed: keep it until `split_folder(%r, %r, force=True)` "
        "has replaced what that split left in %s with a whole split; nothing in it is needed "
        "after that",
        *(stage, str(src), str(out), out),
    )


def refuse_users_split_names(out: Path) -> None:
    """Refuse ``out`` when it holds the names a split writes (``train``, ``valid``, ``test``,
    ``manifest.csv``) but no split of objrec's: ``force`` replaces an earlier split, and deleting
    the user's own ``train/`` would lose their files."""
    taken = sorted(name for name in (*SPLITS, MANIFEST) if _holds_something(out / name))
    if not taken or is_split_manifest(out / MANIFEST):
        return
    raise ObjrecError(
        f"{out} holds {', '.join(taken)} and no split of objrec's (no manifest.csv it wrote), "
        "which are not replaced even with `force=True`: choose another folder"
    )


def _holds_something(path: Path) -> bool:
    """Whether ``path`` is there and is not a folder of only empty folders (replacing which
    loses nothing)."""
    if path.is_dir() and not path.is_symlink():
        return any(not p.is_dir() or p.is_symlink() for p in path.rglob("*"))
    return path.exists() or path.is_symlink()


def partial_split(out: Path) -> Path | None:
    """The staging folder of a split killed while it moved its folders into ``out``
    (:func:`_swap_in`): ``out`` has no ``manifest.csv``, the stage has the split's, and every
    file in ``out``'s train, valid and test folders is one that manifest lists. None when there
    is no such leftover: a file the split did not write there is the user's."""
    if os.path.lexists(out / MANIFEST):
        return None
    for stage in leftover_stages(out):
        listed = manifest_files(stage / MANIFEST)
        if listed is not None and _split_files(out) <= listed:
            return stage
    return None


def holds_whole_split(out: Path) -> bool:
    """Whether ``out`` holds a whole split: a manifest a split wrote listing every file in its
    train, valid and test folders. A split killed while it moved its folders in over an earlier
    one left that one's manifest beside folders of both, files it does not list."""
    listed = manifest_files(out / MANIFEST)
    return listed is not None and _split_files(out) <= listed


def refuse_dropping_images(src: Path, out: Path, kept: set[str]) -> None:
    """Refuse to replace the earlier split in ``out`` when its manifest lists images that the new
    split of ``src`` would not hold (``kept``: the SHA-256 of those it holds) and that came from
    elsewhere (``objrec add`` put them there, or ``out`` is a split of another folder): replacing
    it deletes their copies (or links) in ``out``, and the new split would lack them unsaid. The
    photos ``src`` itself held and has lost since (deleted or edited there) go, as with ``like``,
    and so do those ``out`` no longer holds (deleted there since, or a link to nothing)."""
    rows = manifest_rows(out / MANIFEST)
    lost = [
        row
        for row in rows
        if row.get("source") and row.get("sha256") and row["sha256"] not in kept
        if not Path(row["source"]).is_relative_to(src)
    ]
    lost = _still_held(out, lost, {row["file"] for row in rows})
    if not lost:
        return
    them = "it" if len(lost) == 1 else "them"
    again = f"split_folder({str(src)!r}, {str(out)!r}, force=True, like={str(out)!r})"
    raise ObjrecError(
        f"{out} holds {plural(len(lost), 'image')} that {src} does not have, such as "
        f"{lost[0]['file']} (from {lost[0]['source']}): `force=True` would delete {them} from "
        f"{out} with the earlier split; to keep {them}, copy {them} into the class folders of "
        f"{src} first (`{again}` keeps every image in its split), or to split without {them}, "
        f"choose another folder or move {out} away first"
    )


def _still_held(out: Path, rows: list[dict[str, str]], listed: set[str]) -> list[dict[str, str]]:
    """The manifest ``rows`` whose photo ``out`` still holds: at its file, or in a file of
    ``out``'s splits that the manifest does not list (``listed``), of its content (moved there
    by hand). One deleted from ``out`` since, or a link to a photo deleted, holds nothing."""
    if all((out / row["file"]).exists() for row in rows):
        return rows
    unlisted = [out / name for name in sorted(_split_files(out) - listed)]
    moved = {sha256_file(path) for path in unlisted if path.is_file()}
    return [row for row in rows if (out / row["file"]).exists() or row["sha256"] in moved]


def _split_files(out: Path) -> set[str]:
    """Every file (or link) in ``out``'s train, valid and test folders, relative to ``out``; a
    split folder that is a link or a file counts as a file."""
    found: set[str] = set()
    for name in SPLITS:
        top = out / name
        if top.is_dir() and not top.is_symlink():
            found |= {p.relative_to(out).as_posix() for p in top.rglob("*") if not _folder(p)}
        elif os.path.lexists(top):
            found.add(name)
    return found


def _folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def leftover_stages(out: Path) -> list[Path]:
    """The staging folders in ``out`` that no running split holds: left by a split that was
    killed (SIGKILL, a crash) before it could remove its own. objrec never deletes them."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.glob(STAGE + "*") if p.is_dir() and not _in_use(p))


def _in_use(stage: Path) -> bool:
    """Whether a running split holds ``stage``'s lock, or may be about to (it is newer than
    ``STAGE_GRACE``); one that cannot be looked at counts as in use."""
    try:
        if time.time() - stage.stat().st_mtime < STAGE_GRACE:
            return True
        fd = os.open(stage, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the lock, if taken
    return False


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


def _write(src: Path, out: Path, assignment, records, mode: str) -> int:
    """Write the split beside any earlier one in ``out`` (in a hidden folder there), then swap it
    in: an earlier split (its train/valid/test folders and manifest, nothing else) is replaced
    only by a whole new one, after every check has passed; so is what a split killed while moving
    its folders in left (:func:`partial_split`), its staging folder too. Returns how many labels
    its ``reviewed.csv`` carries."""
    out.mkdir(parents=True, exist_ok=True)
    with locked(out):  # as ``add`` holds it: neither writes under the other
        partial = partial_split(out)  # a killed split's, replaced with it (``force`` checked)
        stage = out / f"{STAGE}{uuid.uuid4().hex[:8]}"
        stage.mkdir()
        with locked(stage):  # removed while still held: never seen as left by a killed split
            try:
                with reported_as(out, stage):
                    reviewed = _write_files(src, stage, assignment, records, mode)
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
            _swap_in_or_keep(stage, out)
            shutil.rmtree(stage, ignore_errors=True)
        if partial is not None:
            shutil.rmtree(partial)
            log.info("removed %s, the rest of the split that was stopped", partial)
    return reviewed


def _swap_in_or_keep(stage: Path, out: Path) -> None:
    """:func:`_swap_in`; stopped part way (Ctrl-C, an error), it keeps ``stage`` as a killed
    split leaves it, for the next split to name and replace (:func:`partial_split`), and says so:
    ``out`` then mixes this split's folders with an earlier one's, an image of one in train and of
    the other in test. (Removing the stage hid that: ``out`` looked like the earlier split.)"""
    try:
        _swap_in(stage, out)
    except BaseException:
        log.warning(
            "the split was stopped while moving its folders into %s, which now mixes them with "
            "an earlier split's (an image may be in train and in test): split again with "
            "`force=True` before using it; %s holds the rest of this one until then",
            out,
            stage,
        )
        raise


def _swap_in(stage: Path, out: Path) -> None:
    """The staged split's folders and manifest in place of any earlier split's in ``out``."""
    for name in SPLITS:
        if (out / name).is_dir():
            log.info("replacing the earlier split's %s", out / name)
            shutil.rmtree(out / name)
        if (stage / name).is_dir():
            (stage / name).rename(out / name)
    if (stage / REVIEWED_FILE).is_file():
        (stage / REVIEWED_FILE).replace(out / REVIEWED_FILE)
    elif (out / REVIEWED_FILE).is_file():  # read, and none of its images is in the new split
        (out / REVIEWED_FILE).unlink()
    (stage / MANIFEST).replace(out / MANIFEST)


def _write_files(src: Path, out: Path, assignment, records, mode: str) -> int:
    """Each image goes to ``out/SPLIT/CLASS/`` under its own path in its class folder, sub-folders
    kept: ``2019/IMG_1.jpg`` and ``2020/IMG_1.jpg`` of one class are two images, never one. The
    manifest records each one's content digest (``records``: hashes) and the group it was kept
    together with (placing keys: :data:`MANIFEST_GROUP`); ``reviewed.csv`` the labels a person
    settled of the images written (``records``' reviewed: ``reviewed.earlier_reviews``)."""
    out.mkdir(parents=True, exist_ok=True)
    (hashes, keys, reviewed), rows, numbers = records, [], dict[str, int]()
    files = sorted(assignment.items())
    wanted = [Path(split, name, *path.relative_to(src).parts[1:]) for path, (name, split) in files]
    # a name differing from another's only in case is another: the second gets a free name
    for (path, (name, split)), rel in zip(files, settle_names(wanted), strict=True):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "copy":
            shutil.copy2(path, target)
        else:
            os.symlink(path, target)
        group = numbers.setdefault(keys[path], len(numbers))
        rows.append([target.relative_to(out).as_posix(), name, split, hashes[path], str(path)])
        rows[-1].append(str(group))
    tmp = out / (MANIFEST + ".tmp")
    with tmp.open("w", newline="", encoding=CSV_ENCODING) as f:
        writer = csv.writer(f)
        writer.writerow([*MANIFEST_COLUMNS, MANIFEST_GROUP])
        writer.writerows(rows)
    carried = carry_reviewed(out, reviewed, {row[3][:DIGEST_CHARS]: row[0] for row in rows})
    tmp.replace(out / MANIFEST)
    return carried

"""``split``'s ``like``: what an earlier split folder of the source folder, edited since, tells of
its images: the split each placing group keeps (its content, or what looks like it), the images
gone, and those relabelled (moved to another class folder)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from objrec import dedup, facts_store
from objrec.cache_folder import default_cache_dir
from objrec.data import SPLITS, class_dirs, class_of_folder, present_splits
from objrec.file_index import DIGEST_CHARS, hash_file
from objrec.listing import is_broken_image_link, list_images
from objrec.manifest import MANIFEST, manifest_rows
from objrec.placement import majority_split
from objrec.store import FeatureStore


class Like(NamedTuple):
    """What an earlier split folder tells of the source folder's images (:func:`like_splits`)."""

    held: dict[str, str]
    """The split each placing group keeps."""
    gone: int
    """The earlier split's images, of the classes split, no file of the source folder has the
    content of any more."""
    relabelled: list[tuple[Path, str]]
    """Each file whose content the earlier split held under other classes only, and the first."""
    gone_classes: dict[str, int]
    """Of ``gone``, the images of each class (NFC), most first."""
    was: dict[Path, str]
    """The split each file had there (by its content, or the image it looks like): a file of a
    group the earlier split kept apart (an older objrec's rules grouped fewer near-duplicates)
    leaves it, to be with its group (:func:`moved_files`)."""


def like_splits(
    like: Path,
    files: dict[str, list[Path]],
    hashes: dict[Path, str],
    keys: dict[Path, str],
    facts: dict[Path, Any] | None = None,
    chosen: Callable[[str], bool] = lambda name: True,
    on_file: Callable[[int, int], None] | None = None,
) -> Like:
    """The split each placing group (``keys``) with an image ``like`` (an earlier split folder)
    holds had there: where most of its images were, train first on a tie; and how many of
    ``like``'s images (:func:`earlier_images`) no file of ``files`` has the content of or looks
    like, of its classes the split takes (``chosen``: those ``classes`` and ``exclude`` leave
    out are not gone, and need not be compared). With ``facts`` (the files' perceptual hashes),
    an image of ``like`` whose content no file has is found in the files that look like it (an
    edit since: re-saved, resized, cropped), as a near-duplicate of it in the folder would be
    (:func:`_looked_like`). ``on_file(done, total)``: hashing ``like``'s images."""
    earlier = earlier_images(like, on_file)
    paths = [p for group in files.values() for p in group]
    digest_of = {p: hashes[p][:DIGEST_CHARS] for p in paths}
    splits: dict[str, Counter[str]] = {}
    for digest, split, _, _ in earlier:
        splits.setdefault(digest, Counter())[split] += 1
    found: dict[str, Counter[str]] = {}
    for path in (p for p in paths if digest_of[p] in splits):
        found.setdefault(keys[path], Counter()).update(splits[digest_of[path]])
    present = set(digest_of.values())
    missing = [
        (path, split)
        for digest, split, path, name in earlier
        if digest not in present and chosen(name)
    ]
    edited = _looked_like(missing, paths, facts) if facts is not None else []
    for path, split, _ in edited:
        found.setdefault(keys[path], Counter())[split] += 1
    held = {key: majority_split(c) for key, c in found.items()}
    found_again = {index for _, _, index in edited}
    gone = len(missing) - len(found_again)
    names = [n for digest, _, _, n in earlier if digest not in present and chosen(n)]
    gone_classes = Counter(n for i, n in enumerate(names) if i not in found_again)
    was = {p: majority_split(splits[digest_of[p]]) for p in paths if digest_of[p] in splits}
    was |= {path: split for path, split, _ in edited}
    moved = relabelled(earlier, files, digest_of)
    return Like(held, gone, moved, dict(gone_classes.most_common()), was)


def moved_files(
    was: dict[Path, str], assignment: dict[Path, tuple[str, str]], src: Path
) -> list[tuple[str, str, str]]:
    """``(file, split there, split now)`` for each file (relative to ``src``) whose split
    (``assignment``: file -> class, split) is not the one the earlier split had it in
    (``was``): kept with a group the earlier split had apart."""
    return [
        (path.relative_to(src).as_posix(), split, assignment[path][1])
        for path, split in sorted(was.items())
        if path in assignment and assignment[path][1] != split
    ]


def relabelled(
    earlier: list[tuple[str, str, Path | None, str]],
    files: dict[str, list[Path]],
    digest_of: dict[Path, str],
) -> list[tuple[Path, str]]:
    """Each file of ``files`` (by class) whose content (``digest_of``) the earlier split's images
    (``earlier``: digest, split, file, class) held under other classes only, with the first of
    those: a photo moved to another class folder since, its label fixed. A copy of it still in
    one of those classes makes the others copies (split warns of them), not moves."""
    classes: dict[str, set[str]] = {}
    for digest, _, _, name in earlier:
        classes.setdefault(digest, set()).add(name)
    stayed = {
        digest_of[path]
        for name, paths in files.items()
        for path in paths
        if name in classes.get(digest_of[path], ())
    }
    return [
        (path, min(classes[digest_of[path]]))
        for name, paths in files.items()
        for path in paths
        if digest_of[path] in classes and digest_of[path] not in stayed
    ]


def _looked_like(
    missing: list[tuple[Path | None, str]], paths: list[Path], facts: dict[Path, Any]
) -> list[tuple[Path, str, int]]:
    """``(file, split, i)`` for each file of ``paths`` that looks like ``missing[i]`` (an image
    of the earlier split, and its split there, whose content no file has; None for one whose
    file is gone), as ``split`` links near-duplicates (``dedup.split_pairs``). Their hashes
    come from the image facts of the cache folder, where the earlier split kept them."""
    there = [(k, path) for k, (path, _) in enumerate(missing) if path is not None]
    if not there or not paths:
        return []
    measured = facts_store.cached_facts(
        [path for _, path in there],
        [hash_file(path)[:DIGEST_CHARS] for _, path in there],
        default_cache_dir() / facts_store.FACTS_FILE,
    )
    readable = [(k, f) for (k, _), f in zip(there, measured, strict=True) if not f.error]
    rows = range(len(paths), len(paths) + len(readable))
    pairs = dedup.split_pairs([facts[p] for p in paths] + [f for _, f in readable], rows=rows)
    return [
        (paths[i], missing[readable[j - len(paths)][0]][1], readable[j - len(paths)][0])
        for i, j in (sorted(pair) for pair in pairs)
        if i < len(paths) <= j
    ]


def earlier_images(
    like: Path, on_file: Callable[[int, int], None] | None = None
) -> list[tuple[str, str, Path | None, str]]:
    """The content digest, split, file and class of each image of the split folder ``like``, hashed
    through the default feature store's file index, as ``add`` hashes a data folder's (told to
    ``on_file(done, total)``: a split the index has not seen is read whole); a link to a photo
    moved or deleted since (a split made with links: the photo renamed, or moved to another
    class) by the SHA-256 ``like``'s manifest recorded for it, and no file."""
    earlier: dict[Path, str] = {}
    others: list[Path] = []  # links to nothing among them, passed over without a warning
    for split in present_splits(like):
        for folder in class_dirs(like / split):
            earlier.update(dict.fromkeys(list_images(folder, others=others), split))
    with FeatureStore(default_cache_dir() / "store") as store:
        digests = store.digests(list(earlier), on_file=on_file)[0]
    found = [
        (d, s, p, class_of_folder(p.relative_to(like).parts[1]))
        for d, (p, s) in zip(digests, earlier.items(), strict=True)
    ]
    broken = {p.relative_to(like).as_posix() for p in others if is_broken_image_link(p)}
    recorded = manifest_rows(like / MANIFEST) if broken else []
    moved = [r for r in recorded if r["file"] in broken and r["split"] in SPLITS and r["sha256"]]
    return found + [
        (row["sha256"][:DIGEST_CHARS], row["split"], None, row["class"]) for row in moved
    ]

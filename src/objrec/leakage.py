"""Which evaluated images a run has already seen: its training and validation images, by content.

Files are compared by the SHA-256 of their bytes (its first 128 bits, as the feature store keys
them), so a copy (``split`` copies by default), a link and the original all count as the same
image. The run's images are those now in its data folder's ``train/`` and ``valid/``; ``split``'s
``manifest.csv`` supplies the digests of the files it lists by path, and the others (added or moved
by hand since the split, as the edit-and-retrain loop does) are hashed. Given the feature store,
digests come from its file index (path, size, times -> digest), so files the store has seen
unchanged are not read again.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from objrec.images import list_images
from objrec.split import MANIFEST
from objrec.store import DIGEST_CHARS, FeatureStore, hash_file

log = logging.getLogger(__name__)

SEEN_SPLITS = ("train", "valid")


def digests(paths: Sequence[Path], store: FeatureStore | None) -> list[str]:
    """The content digest of each file: from the store's file index when given, else hashed."""
    if store is not None:
        return store.digests(list(paths))[0]
    return [hash_file(Path(p)) for p in paths]


def seen_hashes(data_dir: Path, store: FeatureStore | None = None) -> dict[str, str]:
    """Content digest -> split (``train`` or ``valid``) for every image now in the folder's
    ``train/`` and ``valid/``; the manifest gives the digests of the files it lists by path, the
    others (added or moved by hand since the split) are hashed."""
    data_dir = Path(data_dir)
    files = [
        (split, path)
        for split in SEEN_SPLITS
        if (data_dir / split).is_dir()
        for path in list_images(data_dir / split)
    ]
    listed = manifest_digests(data_dir)
    names = [path.relative_to(data_dir).as_posix() for _, path in files]
    unlisted = [path for (_, path), name in zip(files, names, strict=True) if name not in listed]
    hashed = dict(zip(unlisted, digests(unlisted, store), strict=True))
    return {
        listed.get(name) or hashed[path]: split
        for (split, path), name in zip(files, names, strict=True)
    }


def manifest_digests(data_dir: Path) -> dict[str, str]:
    """Path in the folder (``train/red/a.jpg``) -> content digest, from ``split``'s manifest."""
    manifest = data_dir / MANIFEST
    if not manifest.is_file():
        return {}
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "sha256"} <= set(rows[0]):
        return {}
    return {r["file"]: r["sha256"][:DIGEST_CHARS] for r in rows}


def seen_images(
    data_dir: str | Path | None,
    paths: Sequence[Path | str],
    store: FeatureStore | None = None,
) -> dict[str, list[str]]:
    """The ``paths`` that are training or validation images of the run, per split.

    Empty when the run's data folder is unknown or gone (nothing can be said then).
    """
    if data_dir is None or not Path(data_dir).is_dir():
        log.info("the run's data folder %s is not there: overlap with it not checked", data_dir)
        return {}
    known = seen_hashes(Path(data_dir), store)
    found: dict[str, list[str]] = {}
    for path, digest in zip(paths, digests([Path(p) for p in paths], store), strict=True):
        split = known.get(digest)
        if split:
            found.setdefault(split, []).append(str(path))
    return found

"""Which evaluated images a run has already seen: its training and validation images, by content.

Files are compared by the SHA-256 of their bytes (its first 128 bits, as the feature store keys
them), so a copy (``split`` copies by default), a link and the original all count as the same
image. The run's images are those of its data folder's ``train/`` and ``valid/`` as they are now,
and those ``split``'s ``manifest.csv`` lists there (it goes stale when images are added or moved by
hand after the split, which the edit-and-retrain loop does). Given the feature store, digests come
from its file index (path, size, times -> digest), so files the store has seen unchanged are not
read again.
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
    """Content digest -> split (``train`` or ``valid``) for every image the run trained or
    validated on: those now in the folder's ``train/`` and ``valid/``, then those the manifest
    lists there that are no longer in the folder."""
    data_dir = Path(data_dir)
    files = [
        (split, path)
        for split in SEEN_SPLITS
        if (data_dir / split).is_dir()
        for path in list_images(data_dir / split)
    ]
    found = digests([path for _, path in files], store)
    seen = {digest: split for (split, _), digest in zip(files, found, strict=True)}
    return manifest_hashes(data_dir) | seen


def manifest_hashes(data_dir: Path) -> dict[str, str]:
    """Content digest -> split of the training and validation images ``split``'s manifest lists."""
    manifest = data_dir / MANIFEST
    if not manifest.is_file():
        return {}
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"sha256", "split"} <= set(rows[0]):
        return {}
    return {r["sha256"][:DIGEST_CHARS]: r["split"] for r in rows if r["split"] in SEEN_SPLITS}


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

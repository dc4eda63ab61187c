"""Which evaluated images a run has already seen: its training and validation images, by content.

Files are compared by SHA-256, so a copy (``split`` copies by default), a link and the original
all count as the same image. The run's images are those of its data folder's ``train/`` and
``valid/``; ``manifest.csv`` (written by ``split``) supplies their hashes when it is there.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from objrec.images import list_images
from objrec.split import MANIFEST, sha256_file

log = logging.getLogger(__name__)

SEEN_SPLITS = ("train", "valid")


def seen_hashes(data_dir: Path) -> dict[str, str]:
    """SHA-256 -> split (``train`` or ``valid``) for every image the run trained or validated on."""
    data_dir = Path(data_dir)
    manifest = data_dir / MANIFEST
    if manifest.is_file():
        with manifest.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and {"sha256", "split"} <= set(rows[0]):
            return {r["sha256"]: r["split"] for r in rows if r["split"] in SEEN_SPLITS}
    return {
        sha256_file(path): split
        for split in SEEN_SPLITS
        if (data_dir / split).is_dir()
        for path in list_images(data_dir / split)
    }


def seen_images(data_dir: str | Path | None, paths: Sequence[Path | str]) -> dict[str, list[str]]:
    """The ``paths`` that are training or validation images of the run, per split.

    Empty when the run's data folder is unknown or gone (nothing can be said then).
    """
    if data_dir is None or not Path(data_dir).is_dir():
        log.info("the run's data folder %s is not there: overlap with it not checked", data_dir)
        return {}
    known = seen_hashes(Path(data_dir))
    found: dict[str, list[str]] = {}
    for path in paths:
        split = known.get(sha256_file(Path(path)))
        if split:
            found.setdefault(split, []).append(str(path))
    return found

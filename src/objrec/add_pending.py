"""What a killed add left: the note of the manifest rows an add is about to write
(:data:`PENDING`), and the next add's repair of the manifest from it."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from objrec.data import SPLITS
from objrec.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_GROUP,
    append_manifest,
    manifest_rows,
    sha256_file,
)
from objrec.outputs import staged
from objrec.progress import plural

log = logging.getLogger(__name__)


PENDING = ".objrec-add-pending.csv"
"""The manifest rows of the files an add is about to write, in the data folder: written before
the first file, removed once the manifest has the rows of those written. An add killed meanwhile
(kill -9, a power cut) leaves it, and the next add gives the files it wrote their rows
(:func:`finish_killed_add`): they were in the splits, trained on, but in no manifest, and an add
of the same photos again skipped them as already there."""


def write_pending(path: Path, rows: list[dict[str, str]]) -> None:
    """:data:`PENDING`, written whole, before the files of its rows."""
    with staged(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, (*MANIFEST_COLUMNS, MANIFEST_GROUP))
        writer.writeheader()
        writer.writerows(rows)


def finish_killed_add(data: Path) -> None:
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
        append_manifest(data / MANIFEST, rows)
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

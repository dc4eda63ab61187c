"""A split folder's ``manifest.csv``: its columns, the SHA-256 it records of each image, reading its
rows, checking it before rows are appended and appending them, and the group each image was kept
together with; reading its ``split.json``, how it was made (``split_record`` writes it)."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from objrec.errors import ObjrecError
from objrec.outputs import staged
from objrec.tables import CSV_ENCODING

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("file", "class", "split", "sha256", "source")
MANIFEST_GROUP = "group"
"""The manifest's last column, after :data:`MANIFEST_COLUMNS`: the number of the group each image
was kept together with (its duplicates, its burst, its group of a ``groups`` file), for
``evaluate`` to count distinct photos as the split kept them. ``add`` numbers its images so too
(``add_plan._manifest_groups``). Absent from the manifests of splits before it, empty where an image
``add`` placed joins two groups (and in rows an ``add`` before 3 December 2026 appended):
``evaluate`` groups those images itself."""


SPLIT_RECORD = "split.json"
"""The file of a split folder that says how it was made (``split_record.SplitRecord``)."""


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex, whole): what the manifest records of each image."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


MANIFEST_HEADER = "file,class,split,sha256"
"""How every ``manifest.csv`` a split wrote begins: what tells an earlier split from a folder of
the user's that holds a ``train/`` of their own."""


def is_split_manifest(path: Path) -> bool:
    """Whether ``path`` is a ``manifest.csv`` a split wrote (:data:`MANIFEST_HEADER`)."""
    try:
        with path.open(newline="", encoding=CSV_ENCODING) as f:  # a BOM or none
            return f.readline().startswith(MANIFEST_HEADER)
    except (OSError, UnicodeDecodeError):
        return False


def manifest_files(path: Path) -> set[str] | None:
    """The files a split's manifest lists (relative to its folder); None when ``path`` is not a
    manifest a split wrote."""
    if not is_split_manifest(path):
        return None
    return {row["file"] for row in manifest_rows(path)}


def manifest_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a split's manifest (file, class, split, sha256, source); none when ``path`` is
    not a manifest a split wrote."""
    if not is_split_manifest(path):
        return []
    with path.open(newline="", encoding=CSV_ENCODING) as f:
        return list(csv.DictReader(f))


def manifest_groups(folder: Path) -> dict[str, tuple[str, str]]:
    """Each file the manifest of the split folder ``folder`` lists with a group
    (:data:`MANIFEST_GROUP`): its SHA-256 then and its group, by its ``file``."""
    rows = manifest_rows(Path(folder) / MANIFEST)
    return {r["file"]: (r.get("sha256") or "", g) for r in rows if (g := r.get(MANIFEST_GROUP))}


def recorded_groups(paths: Sequence[Path], digests: Sequence[str]) -> list[str | None]:
    """Each image's group (:data:`MANIFEST_GROUP`) as recorded by the manifest of the split
    folder it is in (the nearest folder above it with a ``manifest.csv`` that lists it:
    ``DATA/manifest.csv`` for ``DATA/test/cat/a.jpg``), named with that manifest; None where no
    manifest records one, or records another content than ``digests`` (a SHA-256, or its start,
    as the feature store keeps it) says the file holds now."""
    manifests: dict[Path, dict[str, dict[str, str]]] = {}
    found: list[str | None] = []
    for path, digest in zip(paths, digests, strict=True):
        row, manifest = _listing_row(Path(os.path.abspath(path)), manifests)
        same = row is not None and (row.get("sha256") or "").startswith(digest)
        group = row.get(MANIFEST_GROUP) if row is not None and same else None
        found.append(f"{manifest} {group}" if group else None)
    return found


def _listing_row(
    path: Path, manifests: dict[Path, dict[str, dict[str, str]]]
) -> tuple[dict[str, str] | None, Path | None]:
    """The row of ``path`` (absolute) in the manifest of the nearest folder above it whose
    manifest lists it, and that manifest; ``manifests``: each folder's rows by file, as read."""
    for folder in path.parents:
        if folder not in manifests:
            manifests[folder] = {row["file"]: row for row in manifest_rows(folder / MANIFEST)}
        row = manifests[folder].get(path.relative_to(folder).as_posix())
        if row is not None:
            return row, folder / MANIFEST
    return None, None


def read_split_record(folder: Path | str) -> dict[str, Any] | None:
    """The ``split.json`` of the split folder ``folder`` as written (keys a later objrec adds
    kept); None when it has none (made before objrec recorded it, or not by ``split``) or it
    cannot be read as one."""
    path = Path(folder) / SPLIT_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s): how the split was made is not known", path, exc)
        return None
    return record if isinstance(record, dict) else None


def check_manifest(manifest: Path) -> None:
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


def append_manifest(manifest: Path, rows: list[dict[str, str]]) -> None:
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

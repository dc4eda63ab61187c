"""A split folder's ``manifest.csv``: its columns, the SHA-256 it records of each image, reading its
rows, checking it before rows are appended and appending them, and the group each image was kept
together with; reading its ``split.json``, how it was made (``split.record`` writes it)."""

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
from objrec.outputs import staged_file
from objrec.tables import CSV_ENCODING, csv_records, exact_cell, read_text, spreadsheet_cell
from objrec.words import plural

log = logging.getLogger(__name__)

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("file", "class", "split", "sha256", "source")
MANIFEST_GROUP = "group"
"""The manifest's last column, after :data:`MANIFEST_COLUMNS`: the number of the group each image
was kept together with (its duplicates, its burst, its group of a ``groups`` file), for
``evaluate`` to count distinct photos as the split kept them. ``add`` numbers its images so too
(``add.plan._manifest_groups``). Absent from the manifests of splits before it, empty where an image
``add`` placed joins two groups (and in rows an ``add`` before 3 December 2026 appended):
``evaluate`` groups those images itself."""


SPLIT_RECORD = "split.json"
"""The file of a split folder that says how it was made (``split.record.SplitRecord``)."""


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
    """The rows of a split's manifest (file, class, split, sha256, source) but blank ones; none
    when ``path`` is not a manifest a split wrote. One not UTF-8, or that the csv module cannot
    read (a cell over its length limit), is refused naming its line (:func:`tables.csv_records`),
    where it stopped ``check``, ``split`` and ``apply_plan`` as a bug."""
    if not is_split_manifest(path):
        return []
    text = read_text(path, "a split's manifest")
    return [_exact_row(row) for _, row in csv_records(text, path, MANIFEST_WHY)[1]]


def _exact_row(row: dict) -> dict[str, str]:
    """A manifest row's cells as they were before :func:`manifest_cells` guarded them."""
    return {k: exact_cell(v) if isinstance(v, str) else v for k, v in row.items()}


def manifest_cells(row: Sequence[str]) -> list[str]:
    """A manifest row's cells as written (``split``, ``apply_plan``, ``add``): one a spreadsheet
    would take for a formula (a class folder named ``=2+3``) with a ``'`` before it
    (``tables.spreadsheet_cell``), as objrec's other tables; :func:`manifest_rows` takes it off."""
    return [spreadsheet_cell(cell) for cell in row]


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


def listed_anywhere(paths: Sequence[Path]) -> bool:
    """Whether the manifest of a split folder above any of ``paths`` lists it (whatever content
    it records): images a split (or an add) placed, whose image facts it kept."""
    manifests: dict[Path, dict[str, dict[str, str]]] = {}
    return any(_listing_row(Path(os.path.abspath(p)), manifests)[0] is not None for p in paths)


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
    cannot be read as one, which is said once per command (``warned.warned_once_per_file``: an
    add reads it for its settings, then for its record)."""
    from objrec.warned import warn_once

    path = Path(folder) / SPLIT_RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        said = "%s cannot be read (%s): how the split was made is not known"
        warn_once("damaged split record", path, said, path, exc)
        return None
    return record if isinstance(record, dict) else None


def check_manifest(manifest: Path) -> None:
    """Refuse, before anything is written, a ``manifest.csv`` that is not as ``split`` writes it
    (no header, another separator, a line it cannot read, named by its number): rows appended to
    it would be wrong, and leaving it behind the files would make it wrong too. A UTF-8 BOM is
    allowed."""
    if not manifest.is_file():
        return
    rows = readable_rows(manifest)
    missing = [c for c in MANIFEST_COLUMNS if c not in (rows[0] if rows else MANIFEST_COLUMNS)]
    if missing:
        raise ObjrecError(
            f"{manifest} is not a manifest as `split` writes it (its first line lacks the "
            f"comma-separated columns {', '.join(missing)}): fix it or move it away, then add"
        )


def readable_rows(manifest: Path) -> list[list[str]]:
    """The rows of ``manifest`` (a UTF-8 BOM or none), or its refusal naming the line that cannot
    be read, numbered from 1 as an editor numbers it: "cannot be read as a CSV file" alone left
    a manifest of thousands of rows to search by hand."""
    data = manifest.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ObjrecError(unreadable_line(manifest, line, f"not UTF-8: {exc.reason}")) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        raise ObjrecError(unreadable_line(manifest, reader.line_num, str(exc))) from None


def unreadable_line(manifest: Path, line: int, why: str) -> str:
    """add's refusal of ``manifest``, whose ``line`` cannot be read, and ``why``."""
    return (
        f"{manifest}, line {line}: cannot be read as CSV ({why}): fix it or move it away, then add"
    )


MANIFEST_WHY = (
    "add, audit and evaluate read each image's near-duplicate group from it, and "
    "`split_folder(src, out, like=old_split)` reads the split each image was given: restore it "
    "from a copy, or split the photos again into a new folder"
)
"""What a damaged or missing ``manifest.csv`` costs, and what to do (:func:`manifest_damage`)."""


def manifest_damage(folder: Path) -> str | None:
    """One sentence when the ``manifest.csv`` of the split folder ``folder`` is damaged: missing
    where its ``split.json`` says ``split`` made the folder (and so wrote one), cut short (its
    last row ends mid-line: a copy that stopped), or holding rows without a file and SHA-256;
    None when it is whole, or the folder never had one (made by hand). ``check`` says it and
    ``add`` refuses such a folder before writing: rows appended after a half row were lost."""
    manifest = Path(folder) / MANIFEST
    if not manifest.exists():
        if (Path(folder) / SPLIT_RECORD).is_file():
            return (
                f"{manifest} is missing, though {SPLIT_RECORD} says `split_folder` made "
                f"{folder} (moved or deleted?): {MANIFEST_WHY}"
            )
        return None
    try:
        text = manifest.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None  # said by check_manifest, or the error reading it
    if not text.startswith(MANIFEST_HEADER):
        if MANIFEST_HEADER.startswith(text.strip()):  # empty, or cut within its first line
            return f"{manifest} is cut short before its first row (a copy that stopped?): " + (
                MANIFEST_WHY
            )
        return None  # not a split's: check_manifest refuses it for add
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as exc:
        return f"{manifest}, line {reader.line_num}: cannot be read as CSV ({exc}): {MANIFEST_WHY}"
    bad = [n for n, row in enumerate(rows[1:], 2) if row and not _whole_row(row)]
    if not bad:
        return None
    cut = bad[-1] == len(rows) and not text.endswith(("\n", "\r"))
    inner = bad[:-1] if cut else bad
    parts = ["its last row is cut short (a copy that stopped?)"] if cut else []
    if inner:
        lines = ", ".join(map(str, inner[:5])) + (", ..." if len(inner) > 5 else "")
        lack = "lacks" if len(inner) == 1 else "lack"
        parts.append(f"{plural(len(inner), 'line')} ({lines}) {lack} a file or its SHA-256")
    whole = plural(sum(map(_whole_row, rows[1:])), "image")
    return f"{manifest} is damaged: {' and '.join(parts)}; it lists {whole} whole: {MANIFEST_WHY}"


def _whole_row(row: list[str]) -> bool:
    """Whether a manifest row has a file, a class, a split and a whole SHA-256 (64 hex digits)."""
    if len(row) < 4 or not all(row[:3]):
        return False
    digest = row[3]
    return len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)


def manifest_listing(folder: Path, files: set[str]) -> str | None:
    """One sentence when the manifest of the split folder ``folder`` (whole, a split's) has no row
    of some of its image ``files`` (relative, ``train/cat/a.jpg``): put there by hand, or a
    manifest that lost rows; their groups are lost and ``split --like`` refuses the folder. None
    when it lists them all or it has no manifest of a split's (rows of files removed since cost
    nothing: they are not said)."""
    manifest = Path(folder) / MANIFEST
    if not is_split_manifest(manifest):
        return None
    unlisted = unlisted_in(manifest, files)
    if not unlisted:
        return None
    return (
        f"{manifest} lists {len(files) - len(unlisted):,} of the {plural(len(files), 'image')} in "
        f"the splits: it has no row of {plural(len(unlisted), 'image')} (such as {unlisted[0]}): "
        f"put there by hand? {ADD_THEM}; or a manifest that lost rows? {MANIFEST_WHY}"
    )


def unlisted_in(manifest: Path, files: set[str]) -> list[str]:
    """Of ``files`` (relative to the split folder, "/"-separated), those ``manifest`` has no row
    of, sorted."""
    return sorted(files - {row.get("file") or "" for row in manifest_rows(manifest)})


ADD_THEM = (
    "move them out of the split folder and add them with `add_images`, which places each where "
    "its near-duplicates are and lists it"
)
"""The cure for photos put into a split folder by hand (:func:`manifest_listing`,
:func:`hand_placed_words`)."""


def hand_placed_words(root: Path, paths: Sequence[Path], reader: str) -> str | None:
    """One sentence when the manifest of the split folder ``root`` (a split's) has no row of some
    of the images ``paths`` that ``reader`` (``train``, ``evaluate``) reads: photos put into a
    split by hand, whose near-duplicates nothing knows (a copy in another split goes unseen);
    only ``check`` said so, and its advice left out ``add``. None when it lists them all, or
    ``root`` has no manifest of a split's."""
    manifest = Path(root) / MANIFEST
    if not paths or not is_split_manifest(manifest):
        return None
    top = os.path.abspath(root)  # not resolved: a split --link's images point outside it
    files = {os.path.relpath(os.path.abspath(p), top).replace(os.sep, "/") for p in paths}
    unlisted = unlisted_in(manifest, files)
    if not unlisted:
        return None
    return (
        f"{reader} reads {plural(len(unlisted), 'image')} that {manifest} has no row of (such as "
        f"{unlisted[0]}): put there by hand? Their near-duplicates are unknown to add, audit and "
        f"evaluate (a copy in another split goes unseen): {ADD_THEM}"
    )


def append_manifest(manifest: Path, rows: list[dict[str, str]]) -> None:
    """``rows`` after the manifest's own, under its columns (an older manifest's too); the file
    replaced whole, in its own encoding (a BOM kept)."""
    with manifest.open("rb") as f:
        raw = f.read()
    encoding = "utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8"
    text = raw.decode(encoding)
    header = next(csv.reader(io.StringIO(text)), None) if text.strip() else None
    with staged_file(manifest) as tmp, tmp.open("w", newline="", encoding=encoding) as f:
        f.write(text if not text or text.endswith(("\n", "\r")) else text + "\r\n")
        writer = csv.DictWriter(
            f, header or (*MANIFEST_COLUMNS, MANIFEST_GROUP), extrasaction="ignore"
        )
        if header is None:
            writer.writeheader()
        writer.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in rows)

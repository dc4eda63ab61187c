"""What a killed add left: the note of what an add is about to write (:data:`PENDING`: its
manifest rows and its entry for ``split.json``), and the next add's repair from it."""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from objrec.data import SPLITS
from objrec.errors import ObjrecError
from objrec.manifest import (
    MANIFEST,
    SPLIT_RECORD,
    append_manifest,
    manifest_rows,
    read_split_record,
    sha256_file,
)
from objrec.outputs import numbered, staged_file
from objrec.split.record import record_added
from objrec.store import sync_folder
from objrec.words import plural

log = logging.getLogger(__name__)


PENDING = ".objrec-add-pending.json"
"""What an add is about to write, in the data folder: the manifest rows of its files and its
entry for the ``added`` of ``split.json`` (:func:`objrec.split.record.added_entry`). Written
before the first file, removed once the manifest has the rows of the files written and
``split.json`` the entry. An add killed meanwhile (kill -9, a power cut) leaves it, and the next
add lists what the killed one wrote (:func:`finish_killed_add`): its files were in the splits,
trained on, but in no manifest (an add of the same photos again skipped them as already there),
and ``split.json`` did not say that the folder had changed."""

OLD_PENDING = ".objrec-add-pending.csv"
"""The note an add of 5 December 2026 left before :data:`PENDING`: the manifest rows alone."""


def write_pending(data: Path, rows: list[dict[str, str]], entry: dict[str, Any]) -> None:
    """:data:`PENDING` in ``data``, written whole and on the disk (its bytes and its name synced)
    before the files of its ``rows``: renamed into place unsynced, a power cut could leave it
    empty beside the files it was to list."""
    with staged_file(data / PENDING) as tmp, tmp.open("w", encoding="utf-8") as note:
        json.dump({"rows": rows, "added": entry}, note)
        note.flush()
        os.fsync(note.fileno())
    sync_folder(data)


class UnreadableNote(ObjrecError):
    """A :data:`PENDING` that cannot be read (cut short, emptied, edited): what it is and what to
    do, in ``words``, about ``path``."""

    def __init__(self, path: Path):
        self.path = path
        self.words = (
            "the note of an add into this folder that was stopped (killed, or a power cut) "
            "cannot be read, so the images it wrote may be in no manifest row: delete the note, "
            "then `check_folder` names them"
        )
        super().__init__(f"{path}: {self.words}")


def remove_pending(data: Path) -> None:
    """The note gone: the manifest and ``split.json`` list all the add wrote."""
    for name in (PENDING, OLD_PENDING):
        (data / name).unlink(missing_ok=True)


@dataclass
class Unfinished:
    """What a killed add's note (:data:`PENDING`) says it wrote, and what of it is not listed."""

    held: list[dict[str, str]]
    """The manifest rows of the files it wrote: its rows whose file is in the splits with the
    bytes it planned."""
    unlisted: list[dict[str, str]]
    """Of those, the rows the manifest lacks (all of them without a manifest)."""
    entry: dict[str, Any] | None
    """Its entry for the ``added`` of ``split.json``, as it wrote it: ``files`` its files
    written, ``stopped`` whether it wrote fewer than planned; None when ``split.json`` lists it
    already, or it wrote nothing, or the folder has no ``split.json``."""


def unfinished_add(data: Path) -> Unfinished | None:
    """What a killed add into ``data`` left unlisted (None: no add was killed there)."""
    if not any((data / name).is_file() for name in (PENDING, OLD_PENDING)):
        return None
    rows, entry = _read_note(data)
    held = [found for found in (_held(data, row) for row in rows) if found is not None]
    listed = (
        {r["file"] for r in manifest_rows(data / MANIFEST)} if (data / MANIFEST).exists() else set()
    )
    if entry is not None:
        entry = entry | {"files": len(held), "stopped": len(held) < len(rows)}
        added = (read_split_record(data) or {}).get("added")
        recorded = isinstance(added, list) and added and added[-1] == entry
        entry = None if recorded or not held or not (data / SPLIT_RECORD).is_file() else entry
    return Unfinished(held, [row for row in held if row.get("file") not in listed], entry)


def unfinished_words(found: Unfinished) -> str | None:
    """What a killed add left unlisted (:func:`unfinished_add`), in one sentence naming what
    lists it (``check`` notes it, ``apply_plan`` refuses to copy such a folder); None when the
    records lack nothing (it wrote no file)."""
    parts = []
    if n := len(found.unlisted):
        parts.append(
            f"{plural(n, 'image')} it wrote {'is' if n == 1 else 'are'} in no manifest row"
        )
    if found.entry is not None:
        parts.append("its split.json does not list that add")
    if not parts:
        return None
    what = "both" if len(parts) == 2 else "them" if found.unlisted else "it"
    return (
        "an add into this folder was stopped before it listed what it wrote (killed, or a power "
        f"cut): {', and '.join(parts)}; the next `add_images` into this folder lists {what}"
    )


def finish_killed_add(data: Path, on_listed: Callable[[int], None] | None = None) -> dict[str, str]:
    """The files a killed add wrote listed (:func:`unfinished_add`): their manifest rows
    appended, those not there yet, and its entry in the ``added`` of ``split.json``, unless it is
    there already. ``on_listed`` is told how many files it had written once the manifest lists
    them (what a Ctrl-C then says: ``add.write.AddProgress``). Returns each of those files
    (relative to ``data``) and the new image it was copied from (its row's ``source``): the
    repairing add tells them from copies of the data folder's photos."""
    found = unfinished_add(data)
    if found is None:
        return {}
    if found.unlisted and (data / MANIFEST).is_file():
        append_manifest(data / MANIFEST, found.unlisted)
    if on_listed:
        on_listed(len(found.held))
    if found.entry is not None:
        record_added(data, found.entry)
    if found.held:
        log.warning(
            "an earlier add into %s was stopped before it ended: the %s it had written are in "
            "its manifest now%s",
            data,
            plural(len(found.held), "image"),
            ", and its split.json lists that add" if found.entry is not None else "",
        )
    remove_pending(data)
    return {row["file"]: row.get("source") or "" for row in found.held}


def _read_note(data: Path) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """The rows and ``split.json`` entry of a killed add's note (none without one; rows alone
    from an :data:`OLD_PENDING`)."""
    if (data / PENDING).is_file():
        return _note_of(data / PENDING)
    if (data / OLD_PENDING).is_file():
        with (data / OLD_PENDING).open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f)), None
    return [], None


def _note_of(path: Path) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """The rows and entry of the note ``path``, as :func:`write_pending` wrote them; an
    :class:`UnreadableNote` when it holds anything else."""
    try:
        note = json.loads(path.read_bytes())
    except ValueError:  # UnicodeDecodeError too
        note = None
    rows, entry = (note.get("rows"), note.get("added")) if isinstance(note, dict) else (0, 0)
    if not isinstance(rows, list) or not isinstance(entry, dict | None):
        raise UnreadableNote(path)
    if not all(isinstance(row, dict) and _all_text(row) for row in rows):
        raise UnreadableNote(path)
    return rows, entry


def _all_text(row: dict[Any, Any]) -> bool:
    return all(isinstance(v, str) for v in (*row, *row.values()))


def _held(data: Path, row: dict[str, str]) -> dict[str, str] | None:
    """``row`` with the name ``data`` holds its file under, in a split, with its SHA-256: the name
    planned, or the next free one ``outputs.write_new`` took when that was taken meanwhile
    (``name-1.ext``...); None when it holds none."""
    name = Path(row.get("file") or "..")
    if ".." in name.parts or name.is_absolute() or name.parts[0] not in SPLITS:
        return None
    candidate, n = name, 1
    while os.path.lexists(data / candidate):
        if (data / candidate).is_file() and sha256_file(data / candidate) == row.get("sha256"):
            return row | {"file": candidate.as_posix()}
        candidate, n = name.with_name(numbered(name.stem, n, name.suffix)), n + 1
    return None

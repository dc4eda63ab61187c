"""A table of labelled photos for ``add``: ``predict --csv``'s, reviewed in a spreadsheet.

Each row names a photo (``path``, as predict wrote it) and its class: the ``label`` a reviewer
wrote, else predict's ``answer``. A row is left out, and counted, when it gives no class to
trust: labelled or answered ``unknown``, answered though barely familiar (``barely_familiar``
true) with no ``label`` and the ``answer`` predict gave, or with no answer (an input predict
could not read).
So predict's table, as written, files its confident answers alone, and a photo set aside comes
in once a person labels it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from objrec.add.new import NewImage, check_class_name, refuse_overlap
from objrec.data import named_unknown
from objrec.errors import ObjrecError
from objrec.listing import is_image_file, list_images
from objrec.tables import csv_records, exact_cell, read_text

LEFT_OUT_REASONS = {
    "unknown": "answered unknown",
    "barely_familiar": "barely familiar, with no label",
    "no_answer": "with no answer",
    "labelled_unknown": "labelled unknown",
}
"""Why a row of the table is left out (:attr:`LabelledPhotos.left_out`'s keys), in words."""

TRUE_CELLS = {"true", "1", "yes"}
"""A ``barely_familiar`` cell that says so, in any case (a spreadsheet writes ``TRUE``)."""


@dataclass
class LabelledPhotos:
    """The photos a labels table gives a class, each once, and the rows it left out."""

    table: Path
    photos: dict[Path, str] = field(default_factory=dict)
    """Each photo's file (absolute, not resolved) and its class, in the table's order."""
    shown: dict[Path, str] = field(default_factory=dict)
    """Each photo's path as the table writes it."""
    left_out: Counter[str] = field(default_factory=Counter)
    """Rows left out, by reason (:data:`LEFT_OUT_REASONS`)."""


def read_labels(table: Path) -> LabelledPhotos:
    """The photos ``table`` labels: see the module. A relative ``path`` is read from the current
    folder, as predict wrote it from its own.

    Raises:
        ObjrecError: for a table without a ``path`` column or any of ``label`` and ``answer``, a
            photo that is not there, and one labelled twice with two classes.
    """
    found = LabelledPhotos(Path(table))
    for where, row in table_rows(Path(table))[1]:
        _take(found, row, where)
    return found


def table_rows(table: Path) -> tuple[set[str], list[tuple[str, dict]]]:
    """A labels table's columns, and each of its rows that is not blank with where it is
    (``TABLE, line N``, the line it ends on: a note may hold line breaks); refused without its
    ``path`` column and any of ``label`` and ``answer``, and where it cannot be read as CSV."""
    text = read_text(table, "a labels table")
    header, rows = csv_records(text, table, "correct that line, then save the table again")
    columns = set(header)
    if "path" not in columns or not columns & {"label", "answer"}:
        raise ObjrecError(
            f'{table} lacks a "path" column, or a "label" or "answer" column: give the table '
            '`predict(run, photos, csv=file)` wrote, with a "label" column for the classes you '
            "chose"
        )
    return columns, [(f"{table}, line {n}", row) for n, row in rows]


def unknown_photos(table: Path) -> list[Path]:
    """The photos a reviewed table says are of none of the classes, for evaluate's ``unknown``:
    its rows whose class (``label``, else ``answer``, as add reads them) is unknown, each once.

    Raises:
        ObjrecError: for a table without a ``label`` column (predict's answers alone: every
            photo it answered unknown would count as caught), a photo that is not there, and a
            table that names none.
    """
    table = Path(table)
    columns, rows = table_rows(table)
    if "label" not in columns:
        raise ObjrecError(
            f'{table} has no "label" column: its unknown rows are those the run answered '
            "unknown, each of which would count as caught; write each photo's class, or unknown, "
            'in a "label" column first, or give `unknown` a folder of photos of none of the classes'
        )
    found: dict[Path, None] = {}
    for where, row in rows:
        if named_unknown(_cell(row, "label") or _cell(row, "answer")):
            found.setdefault(_photo(_cell(row, "path"), where, "evaluate"), None)
    if not found:
        raise ObjrecError(f"{table} labels no photo unknown: `unknown` needs one at least")
    return list(found)


def _photo(shown: str, where: str, command: str = "add") -> Path:
    """The photo a row names (absolute, not resolved); refused when it is not there."""
    path = Path(os.path.abspath(shown)) if shown else None
    if path is None or not path.is_file():
        raise ObjrecError(
            f"{where}: the photo {shown!r} is not there (a relative path is read from the folder "
            f"{command} runs in, as predict wrote it from the folder it ran in)"
        )
    return path


def _take(found: LabelledPhotos, row: dict, where: str) -> None:
    """The row's photo and class into ``found``, or its reason to be left out counted."""
    label, answer = _cell(row, "label"), _cell(row, "answer")
    name = label or answer
    if not name:
        reason = "no_answer"
    elif named_unknown(name):  # a person's "Unknown" too: train refuses such a class
        reason = "labelled_unknown" if label else "unknown"
    elif not label and _doubted(row, answer):
        reason = "barely_familiar"
    else:
        return _add(found, _cell(row, "path"), name, where)
    found.left_out[reason] += 1


def _add(found: LabelledPhotos, shown: str, name: str, where: str) -> None:
    path = _photo(shown, where)
    other = found.photos.setdefault(path, name)
    if other != name:
        raise ObjrecError(f"{where}: {shown} is labelled {name!r} here and {other!r} above")
    found.shown.setdefault(path, shown)


def _doubted(row: dict, answer: str) -> bool:
    """Whether predict flagged the row's answer barely familiar and no person changed it since
    (an ``answer`` written over with another class than ``predicted`` is a person's)."""
    flagged = _cell(row, "barely_familiar").lower() in TRUE_CELLS
    return flagged and answer == (_cell(row, "predicted") or answer)


def _cell(row: dict, column: str) -> str:
    return exact_cell((row.get(column) or "").strip())


def left_out_words(left_out: Mapping[str, int]) -> str:
    """The rows left out, in words: "9 answered unknown, 2 with no answer"."""
    return ", ".join(f"{n} {LEFT_OUT_REASONS[k]}" for k, n in left_out.items() if n)


def refuse_labels_beside(
    labels: str | os.PathLike[str] | None, given: Sequence[object], class_name: str | None
) -> None:
    """Refuse a ``labels`` table given with new images or a class: the table says each photo's
    class (the CLI checks it before anything is read, as a usage error)."""
    if labels is not None and (given or class_name is not None):
        raise ObjrecError(
            f"`labels` {labels} says each photo and its class: give no new images or "
            "`class_name` with it"
        )


def labelled_photos(
    labels: str | os.PathLike[str] | None, given: list[Path], class_name: str | None
) -> LabelledPhotos | None:
    """The photos the ``labels`` table gives a class (None without one), refused beside new
    images or a class: the table says each photo's class."""
    if labels is None:
        return None
    refuse_labels_beside(labels, given, class_name)
    found = read_labels(Path(labels))
    if not found.photos:
        left = left_out_words(found.left_out) or "no rows"
        raise ObjrecError(f"{labels} gives no photo a class to add ({left})")
    return found


def labelled_images(labelled: LabelledPhotos, data: Path) -> list[NewImage]:
    """The photos of a labels table, each of its class, named in the data folder by their own
    file name."""
    for path, name in labelled.photos.items():
        refuse_overlap(path, data)
        check_class_name(name, f"the label of {labelled.shown[path]} in {labelled.table}")
    return [
        NewImage(path, name, Path(path.name), labelled.shown[path])
        for path, name in labelled.photos.items()
    ]


def unknown_images(folder: Path) -> list[Path]:
    """The image files under ``folder`` (the ``unknown`` option); refused when there are none.
    A file is a reviewed ``predict --csv`` table: the photos it labels unknown
    (``labels.unknown_photos``), those a person set aside as of none of the classes."""
    if is_image_file(folder):  # read as a table, it was "not a labels table in UTF-8"
        raise ObjrecError(
            f"`unknown` {folder} is a photo: give the folder that holds your photos of none of "
            "the classes, or the table `predict(run, photos, csv=file)` wrote with a label "
            "column saying which are unknown"
        )
    if folder.is_file():
        return unknown_photos(folder)
    files = list_images(folder) if folder.is_dir() else []
    if not files:
        raise ObjrecError(f"`unknown` {folder} holds no images")
    return files

"""The plan file read once and checked (:func:`read_plan`: known actions, a class for every relabel,
each file on one row, a file cut short refused), the rows a ``merge`` or ``accept`` reads as
relabels (:func:`with_merges`, :func:`with_accepted`), and each row's file as DATA names it
(:func:`as_data_files`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from objrec.applying.decisions import (
    ACCEPTED,
    MERGED_ALONG,
    NOT_ACCEPTED,
    as_proposed,
    not_about_the_label,
    suggested_p,
)
from objrec.audit.plan import (
    ACTIONS,
    FLAG_KIND,
    LABEL_FLAG_KINDS,
    MERGE,
    MERGE_KIND,
    RELABEL_MIN_PROB,
    REVIEW,
    REVIEWED,
    of_kind,
    proposal_of,
)
from objrec.errors import ObjrecError
from objrec.listing import is_hidden
from objrec.tables import blank_row, csv_separator, exact_cell, read_bytes, read_text, slashed
from objrec.words import plural

log = logging.getLogger(__name__)

PLAN_WHAT = "an audit plan"


class PlanRead(NamedTuple):
    """A plan file as :func:`apply_plan` read it, once: what it hashes, checks, applies and
    remembers in ``reviewed.csv`` is the same plan, though the file be saved again meanwhile (a
    spreadsheet holding it open)."""

    file: Path
    rows: dict[str, dict[str, str]]
    """Its rows by file (:func:`read_plan`)."""
    sha256: str
    """The SHA-256 of the bytes the rows were read from."""

    @classmethod
    def of(cls, plan_file: Path) -> PlanRead:
        """``plan_file`` read once, its rows checked (:func:`read_plan`) and its bytes hashed."""
        raw = read_bytes(plan_file, PLAN_WHAT)
        return cls(plan_file, read_plan(plan_file, raw), hashlib.sha256(raw).hexdigest())


def read_plan(path: Path, raw: bytes | None = None) -> dict[str, dict[str, str]]:
    """The plan's rows by file, checked: known actions, a class for every relabel, each file on
    one row (or on more with the same action). Rows of only empty cells (a spreadsheet's blank
    lines, saved as ``,,,,,``) are skipped. Each row's ``_line`` is its line in the file, for
    the errors that name it. ``raw``: the file's bytes, read already (``tables.read_bytes``)."""
    plan: dict[str, dict[str, str]] = {}
    header, lines = _plan_lines(path, raw)
    for n, row in lines:
        row = _checked_row(path, n, row, header)
        earlier = plan.setdefault(row["file"], row)
        if row_decision(earlier) != row_decision(row):
            raise ObjrecError(
                f"{path} line {n}: {row['file']!r} is on line {earlier['_line']} too, with "
                "another action: keep one of the two rows"
            )
    return plan


def _plan_lines(
    path: Path, raw: bytes | None
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The plan's header, and each row that is not blank with the line it ends on; refused when
    the file is not a CSV text (comma, semicolon or tab separated) with the columns file and
    action."""
    text = read_text(path, PLAN_WHAT, raw)
    try:
        with io.StringIO(text, newline="") as f:
            reader = csv.DictReader(f, delimiter=csv_separator(f))
            rows = [(reader.line_num, exact_row(row)) for row in reader if not blank_row(row)]
            header = list(reader.fieldnames or ())
    except csv.Error as exc:
        raise ObjrecError(f"{path} is not an audit plan: not a CSV text file ({exc})") from None
    if not {"file", "action"} <= set(header):  # checked with rows or without
        raise ObjrecError(f"{path} is not an audit plan: it needs the columns file and action")
    if rows:
        _refuse_cut_short(path, text, header, *rows[-1])
    return header, rows


def _refuse_cut_short(
    path: Path, text: str, header: list[str], n: int, row: dict[Any, Any]
) -> None:
    """Refuse a plan whose last row (line ``n``) is cut short: no line end after it, and fewer
    cells than the ``header`` or a quote left open (a copy or a save that stopped). It was
    applied as far as it went, its cut action read as keep, and the rows lost after it never
    said, where ``add`` refuses a manifest in that state."""
    if text.endswith(("\n", "\r")):
        return
    cells = sum(v is not None for k, v in row.items() if k is not None)
    if cells >= len(header) and text.count('"') % 2 == 0:
        return
    raise ObjrecError(
        f"{path} line {n} is cut short ({cells} of {len(header)} cells"
        + (", a quote left open" if text.count('"') % 2 else "")
        + "): if the file was not saved or copied whole, save or copy it again (rows after it "
        f"would be lost); if you wrote the row, give it every column ({row_like(row, header)})"
    )


def row_like(row: dict[Any, Any], header: list[str]) -> str:
    """``row`` as a plan's line with every column of ``header``, its file first and the action
    it holds in any cell (``remove`` where none) in ``action``: what a row written short meant."""
    said = [str(v).strip().casefold() for k, v in row.items() if k is not None and v is not None]
    action = next((word for word in said if word in ACTIONS), "remove")
    cells = {"file": str(row.get("file") or "").strip(), "action": action}
    return ",".join(cells.get(column, "") for column in header)


def exact_row(row: dict[Any, Any]) -> dict[Any, Any]:
    """A plan row's texts as they were before :func:`write_plan` made them safe for a
    spreadsheet (``tables.exact_cell``); the extra cells of a longer row as they are."""
    return {k: exact_cell(v) if isinstance(v, str) else v for k, v in row.items()}


def _checked_row(path: Path, n: int, row: dict[str, str], header: list[str]) -> dict[str, str]:
    """Line ``n`` of the plan, refused when it names no file, an unknown action, or a relabel
    without a class folder name; its action and new_class stripped, its ``_line`` added."""
    if not (row.get("file") or "").strip():
        raise ObjrecError(f"{path} line {n}: its file is empty (name the image it is about)")
    action = (row.get("action") or "").strip().casefold()  # a spreadsheet's Remove, KEEP
    if row.get("action") is None:  # ends before its action: `file,remove` put remove in class
        cells = sum(v is not None for k, v in row.items() if k is not None)
        raise ObjrecError(
            f"{path} line {n} has {cells} of the {len(header)} columns, so no action: give it "
            f"every column, empty where not needed ({row_like(row, header)})"
        )
    if not action:  # "not sure yet" is no keep: reviewed.csv would remember it as one
        raise ObjrecError(
            f"{path} line {n}: no action for {row['file'].strip()!r}: write keep, remove or "
            "relabel (an empty cell is not a decision)"
        )
    if action not in ACTIONS:
        raise ObjrecError(f"{path} line {n}: unknown action {action!r} ({', '.join(ACTIONS)})")
    new_class = (row.get("new_class") or "").strip()
    if action == "relabel" and not new_class:
        raise ObjrecError(f"{path} line {n}: relabel needs a new_class")
    if action == "relabel" and not is_folder_name(new_class):
        raise ObjrecError(
            f"{path} line {n}: new_class {new_class!r} is not a class folder "
            "name (one name: no slash, not hidden)"
        )
    return {**row, "action": action, "new_class": new_class, "_line": str(n)}


def row_decision(row: dict[str, str]) -> tuple[str, str]:
    """What a plan row does to its file: its action (a ``review`` keeps it), and the new class
    of a relabel."""
    if row["action"] == REVIEW:
        return "keep", ""
    return row["action"], row["new_class"] if row["action"] == "relabel" else ""


def is_folder_name(name: str) -> bool:
    """One visible folder name: a relabel's image goes into OUT's folder of that class, never
    beside it (``../x``), below another (``a/b``) or into a folder every command ignores (``.x``,
    ``__MACOSX``: ``listing.is_hidden``)."""
    return not any(c in name for c in "/\\") and not is_hidden(Path(name))


def with_merges(given: PlanRead, merge: Sequence[str]) -> PlanRead:
    """The plan ``given`` with the rows of each class of ``merge`` that the audit left to review
    as a likely merge (their reason begins :data:`MERGE`) read as relabels into their
    ``new_class``: one word carries a merge of a class of 30 photos, where it took 30 rows
    edited. The class's other rows the audit wrote (left to review as flagged as a third class
    or as none, an outlier or a copy kept) go with them (:func:`merged_along`): the merge left
    them in the class, so the copy still had it, of 2 photos. A class the plan proposes no merge
    of is refused; a row a person changed (a keep, a remove) stays as it is."""
    rows = dict(given.rows)
    for name in merge:
        mine = {
            file: row
            for file, row in rows.items()
            if (row.get("class") or "").strip() == name
            and row["action"] == REVIEW
            and of_merge(row)
        }
        if not mine:
            raise ObjrecError(
                f"`merge` {name}: {given.file} proposes no merge of {name} (its rows left to "
                f"review whose reason begins {MERGE.strip()!r}): merge a class the audit named "
                "as a likely merge, or relabel its rows in the plan"
            )
        rows |= {file: {**row, "action": "relabel"} for file, row in mine.items()}
        rows |= merged_along(given.file, rows, name, min(r["new_class"] for r in mine.values()))
    return given._replace(rows=rows)


def merged_along(
    plan_file: Path, rows: dict[str, dict[str, str]], name: str, into: str
) -> dict[str, dict[str, str]]:
    """The rows of class ``name`` the audit wrote and a person left as they were, but its merge
    rows (a flag left to review, an outlier or a copy kept), read as relabels into ``into``,
    marked :data:`MERGED_ALONG`: the merge says ``name`` is ``into``, so its label is ``into``,
    but their flag is still to judge, and the next audit judges it again (not remembered as
    settled: ``decisions.settles_label``)."""
    along = {
        file: {**row, "action": "relabel", "new_class": into, MERGED_ALONG: "yes"}
        for file, row in rows.items()
        if (row.get("class") or "").strip() == name
        and not of_merge(row)
        and (row["action"] == REVIEW or (row["action"] == "keep" and not_about_the_label(row)))
    }
    if along:
        lines = sorted((row["_line"] for row in along.values()), key=int)
        log.warning(
            "%s: %s of %s the audit flagged otherwise or kept apart (%s %s) go%s into %s with "
            "the merge, so that no class %s is left; %s to judge in the copy, which the next "
            "audit flags again if %s wrong",
            plan_file,
            plural(len(along), "image"),
            name,
            "line" if len(lines) == 1 else "lines",
            ", ".join(lines),
            "es" if len(along) == 1 else "",
            into,
            name,
            "its flag is still" if len(along) == 1 else "their flags are still",
            "it is" if len(along) == 1 else "they are",
        )
    return along


def of_merge(row: dict[str, str]) -> bool:
    """Whether a plan row is an image of a likely merge (its ``proposal``, else its reason begins
    :data:`MERGE`)."""
    return of_kind(row, {MERGE_KIND}, lambda reason: reason.startswith(MERGE))


def of_label_flag(row: dict[str, str]) -> bool:
    """Whether a plan row is a label flag left to review with a suggested class (its
    ``proposal``, else its reason begins :data:`REVIEWED`)."""
    return of_kind(row, LABEL_FLAG_KINDS, lambda reason: reason.startswith(REVIEWED))


def acceptable(row: dict[str, str]) -> bool:
    """Whether ``accept`` takes a label flag's suggested class: the plan itself would act on it
    (its ``proposal`` :data:`FLAG_KIND`: a suggested class at ``RELABEL_MIN_PROB`` or more, in a
    class of enough photos to judge). A plan without the column says no class of too few photos
    apart: there the probability its reason gives decides."""
    if (kind := proposal_of(row)) is not None:
        return kind == FLAG_KIND
    p = suggested_p(row)
    return p is not None and p >= RELABEL_MIN_PROB


def with_accepted(given: PlanRead, accept: bool) -> PlanRead:
    """The plan ``given`` with the audit's suggested classes accepted, where ``accept``: each row
    left to review a label flag (:func:`of_label_flag`, its ``new_class`` the suggested class)
    that the plan itself would act on (:func:`acceptable`) read as a relabel into it, and each
    relabel as the audit proposed it (:func:`as_proposed`), both marked :data:`ACCEPTED`: a
    person who agreed with the audit decided as much as one who edited a row, and the next audit
    keeps those labels. Without it a plan applied as it came remembers none of them (a plan
    applied unread must leave its flags to later audits). A flag under ``RELABEL_MIN_PROB`` or in
    a class of too few photos to judge stays to review, marked :data:`NOT_ACCEPTED`
    (``AppliedPlan.not_accepted``): `accept` took them, and the wrong labels it made were kept
    as settled by every later audit (session 61's review). The rows of a photo of no class, of
    one picture under two labels and of a likely merge stay as they are: their new_class is
    none, or a choice to make."""
    if not accept:
        return given
    rows = dict(given.rows)
    for file, row in rows.items():
        reviewed = row["action"] == REVIEW and of_label_flag(row)
        if reviewed and (row.get("new_class") or "").strip():
            mark = (
                {"action": "relabel", ACCEPTED: "yes"} if acceptable(row) else {NOT_ACCEPTED: "yes"}
            )
            rows[file] = {**row, **mark}
        elif as_proposed(row):
            rows[file] = {**row, ACCEPTED: "yes"}
    return given._replace(rows=rows)


def as_data_files(
    plan_file: Path, data: Path, plan: dict[str, dict[str, str]], known: set[str]
) -> dict[str, dict[str, str]]:
    """The rows of ``plan_file`` by the image of ``data`` each names: a file named by its
    absolute path inside ``data``, or but for how its accents are encoded (a name typed in NFC,
    a Mac's NFD one on disk: one name to a person), or with a Windows path's backslashes
    (:func:`objrec.tables.slashed`), is that image, when ``data`` has one such and not the name
    itself; two rows naming one image so, with two actions, are refused, as :func:`read_plan`
    refuses one file on two rows."""
    alike: dict[str, list[str]] = {}
    for rel in sorted(known):
        alike.setdefault(unicodedata.normalize("NFC", rel), []).append(rel)
    rows: dict[str, dict[str, str]] = {}
    for file, row in plan.items():
        name = _inside(data, file) if file not in known else file
        found = alike.get(slashed(unicodedata.normalize("NFC", name), alike), [])
        earlier = rows.setdefault(found[0] if name not in known and len(found) == 1 else name, row)
        if row_decision(earlier) != row_decision(row):
            raise ObjrecError(
                f"{plan_file} line {row['_line']}: {file!r} is the image of line "
                f"{earlier['_line']} (named there otherwise), with another action: keep one of "
                "the two rows"
            )
    return rows


def _inside(data: Path, file: str) -> str:
    """``file`` relative to ``data`` (resolved) when it is an absolute path inside it (through
    links to its folders too: ``/home/ana/data`` a link to ``/mnt/data``), as a person copies a
    path from a file manager; else ``file`` as it is."""
    path = Path(file)
    if not path.is_absolute():
        return file
    for folder in (path.parent, Path(os.path.realpath(path.parent))):
        if folder.is_relative_to(data):
            return (folder / path.name).relative_to(data).as_posix()
    return file

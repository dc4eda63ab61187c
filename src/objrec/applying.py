"""Applying a reviewed audit plan: ``plan.csv`` read and checked against DATA, then DATA copied
into a new folder with it applied (``objrec apply-plan``). DATA itself is never changed.

``audit.report`` writes the plan (its rows, their reasons); a person edits it, keeping, removing
or relabelling each image it names; :func:`apply_plan` reads it once, checks every row before a
file is copied, copies DATA under a shared lock through a staging folder, and writes OUT's
manifest, ``split.json`` and ``reviewed.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from objrec.add.pending import PENDING, unfinished_add, unfinished_words
from objrec.audit.plan import (
    ACTIONS,
    MERGE,
    NOT_ABOUT_THE_LABEL,
    RELABEL_SURE_PROB,
    REVIEW,
    REVIEWED,
    SUGGESTED_CLASS,
    SUGGESTED_P,
)
from objrec.cache_folder import store_dir
from objrec.config import SPLIT_MODES
from objrec.data import (
    SPLITS,
    alike_why,
    class_of_folder,
    class_spelling,
    is_split_folder,
    likely_misspelt,
    look_alikes,
    refuse_likely_misspelt,
    windows_warning,
)
from objrec.errors import ObjrecError, ctrl_c_leaves
from objrec.file_index import DIGEST_CHARS, Copied, Hashed, copy_hashed, hash_file
from objrec.images import (
    broken_link_reason,
    is_broken_image_link,
    is_hidden,
    list_images,
    warn_once,
    warned_once_per_file,
)
from objrec.locks import locked
from objrec.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_GROUP,
    SPLIT_RECORD,
    manifest_groups,
    sha256_file,
)
from objrec.outputs import (
    link_file,
    refuse_nested,
    refuse_overwrite,
    refuse_without_links,
    renamed_over,
    settle_names,
    staged,
    staged_folder,
    takes_back_folders,
    temporary_name,
)
from objrec.paths import PathGiven
from objrec.reviewed import REVIEWED_FILE, write_reviewed
from objrec.split.record import applied_entry, record_applied
from objrec.store import index_written, indexed_digests
from objrec.tables import (
    CSV_ENCODING,
    blank_row,
    csv_separator,
    exact_cell,
    misread,
    misread_sentence,
    read_bytes,
    read_text,
    slashed,
)
from objrec.words import plural, quoted, some_of

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
        if _decision(earlier) != _decision(row):
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


def _decision(row: dict[str, str]) -> tuple[str, str]:
    """What a plan row does to its file: its action (a ``review`` keeps it), and the new class
    of a relabel."""
    if row["action"] == REVIEW:
        return "keep", ""
    return row["action"], row["new_class"] if row["action"] == "relabel" else ""


def is_folder_name(name: str) -> bool:
    """One visible folder name: a relabel's image goes into OUT's folder of that class, never
    beside it (``../x``), below another (``a/b``) or into a folder every command ignores (``.x``,
    ``__MACOSX``: ``images.is_hidden``)."""
    return not any(c in name for c in "/\\") and not is_hidden(Path(name))


def _warn_new_classes(plan: dict[str, dict[str, str]], classes: set[str]) -> None:
    """Say which relabels go into a class DATA does not have: often a misspelt one; and which of
    those new classes Windows cannot hold (``data.windows_warning``: ``con``, ``barrel.``), as
    ``split`` does, since a copy of OUT to Windows would lose or rename the folder."""
    new = Counter(
        name
        for row in plan.values()
        if row["action"] == "relabel" and (name := row["new_class"].strip()) not in classes
    )
    for name, n in sorted(new.items()):
        log.warning(
            "the plan relabels %s into %s, a class the data does not have: it becomes a new class "
            "folder (check its spelling)",
            plural(n, "image"),
            name,
        )
    if unsafe := windows_warning(sorted(new)):  # as split warns of a class folder
        log.warning("%s", unsafe)


def _warn_unsure_relabels(plan: dict[str, dict[str, str]]) -> None:
    """List the plan's relabels as the audit proposed them (:func:`as_proposed`) below
    :data:`RELABEL_SURE_PROB`, least sure first, before any file is copied: an audit's plan
    before 6 December 2026 pre-filled relabels from 0.5, and a plan relabelled a correct image at
    p(suggested)=0.74 without a word of how sure each relabel was. Today's plan leaves those to
    review; a relabel a person made (from a row to review, of a copy under two labels, to
    another class, of their own) is theirs, and the probability its reason gives may be of
    another class or copy: not listed."""
    unsure = sorted(
        (p, int(row["_line"]), row["file"], row["new_class"])
        for row in plan.values()
        if as_proposed(row) and (p := suggested_p(row)) is not None and p < RELABEL_SURE_PROB
    )
    if not unsure:
        return
    named = [
        f"{quoted(file)} to {quoted(new)} (line {n}, p(suggested)={p:.2f})"
        for p, n, file, new in unsure
    ]
    log.warning(
        "%s of the plan %s less sure, the suggested class's probability under %s (about 1 in 4 "
        "such was wrong when measured): check %s before trusting the copy: %s",
        *(plural(len(unsure), "relabel"), "is" if len(unsure) == 1 else "are", RELABEL_SURE_PROB),
        *("it" if len(unsure) == 1 else "them", some_of(named, quote=False)),
    )


def reviewed_by_hand(row: dict[str, str]) -> bool:
    """Whether a relabel row goes to another class than the one its reason says the audit
    suggested (:data:`SUGGESTED_CLASS`), so that apply-plan does not flag a row a user set to
    pizza, "to pizza (p(suggested)=0.50)", the 0.50 being strawberry's, the audit's suggestion."""
    found = SUGGESTED_CLASS.search((row.get("reason") or "").strip())
    return found is not None and found.group(1).strip() != row["new_class"].strip()


def suggested_p(row: dict[str, str]) -> float | None:
    """The suggested class's probability a plan row's reason gives, if any (:data:`SUGGESTED_P`)."""
    found = SUGGESTED_P.search(row.get("reason") or "")
    return float(found.group(1)) if found else None


@dataclass(frozen=True)
class AppliedPlan:
    """What :func:`apply_plan` did, in counts (``objrec apply-plan --json``'s, in its order, and
    each plan's entry in the copy's ``split.json``: ``split.record.record_applied``)."""

    copied: int = 0
    """Images copied into ``out`` (or linked, ``mode="link"``)."""
    removed: int = 0
    """Images of ``data`` the plan left out."""
    relabelled: int = 0
    """Images copied into another class folder than their own."""
    renamed: int = 0
    """Images given a free name, as another file of their new folder had theirs (each logged)."""
    broken_links: int = 0
    """Links of ``data`` to an image that is not there, left out whatever the plan says."""
    replaced: int = 0
    """Rows skipped because their file is not the image the audit saw (its ``digest``)."""
    moved_by_hand: int = 0
    """The plan's rows done by hand already: a relabel's photo moved into the row's class, a
    review's into another class, copied where it is (warned of); not among ``relabelled``."""
    left_to_review: int = 0
    """The plan's rows left as the audit's ``review``: applied as keeps, but no decision, so
    ``reviewed.csv`` remembers none of their labels."""
    relabels_as_proposed: int = 0
    """Of ``relabelled``, the relabels as the audit pre-filled them (:func:`as_proposed`):
    applied, but nobody's decision, so ``reviewed.csv`` remembers none of their labels."""
    accepted: int = 0
    """The rows whose suggested class ``accept`` took as a person's decision
    (:func:`with_accepted`): the label flags left to review, relabelled to it, and the audit's
    own relabels, each remembered in ``reviewed.csv``; 0 without ``accept``."""
    test_removed: int = 0
    """Of ``removed``, in a split folder's test split: the test set changed."""
    test_relabelled: int = 0
    """Of ``relabelled``, in the test split (scores on ``out`` and ``data`` are not comparable
    when either test count is not 0)."""
    valid_removed: int = 0
    """Of ``removed``, in the validation split, which decides the next train's early stopping
    and unknown threshold."""
    valid_relabelled: int = 0
    """Of ``relabelled``, in the validation split."""
    reviewed: int = 0
    """Labels ``out/reviewed.csv`` remembers as settled by a person (:func:`settles_label`, and
    ``data``'s earlier ones): the next audit of ``out`` keeps them; 0, and no file, for none."""
    other_files: int = 0
    """Files of ``data`` that are not images (a ``notes.txt``), copied (or linked) where they
    are: ``out`` is the user's photo folder from then on, and a newcomer's notes were gone from
    it without a word. objrec's own (``manifest.csv``, ``split.json``, ``reviewed.csv``) are
    written for ``out`` instead."""

    def to_json(self) -> dict[str, int]:
        """As ``objrec apply-plan --json`` prints the counts, and ``split.json`` records them."""
        return asdict(self)

    def __repr__(self) -> str:
        """One line, as the other results': ``copied`` and every count that is not 0 (its
        sixteen counts, mostly 0, ran past a line once ``accepted`` joined them)."""
        said = [f"copied={self.copied}"]
        said += [f"{k}={n}" for k, n in asdict(self).items() if n and k != "copied"]
        return f"AppliedPlan({', '.join(said)})"

    def __getitem__(self, key: str) -> int:
        """``counts["copied"]``, as scripts read the dict this class replaced: the value of the
        attribute ``key``, with a :class:`DeprecationWarning` naming it."""
        value = self.to_json()[key]
        warnings.warn(
            f"apply_plan(...)[{key!r}] is deprecated: read its .{key}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value


@dataclass(frozen=True)
class Copying:
    """How :func:`apply_plan` copies ``data`` into ``out``, as it was asked to."""

    data: Path
    """The folder the plan is applied to (resolved), only read."""
    out: Path
    """The folder made (resolved): the copy is staged beside it, and renamed ``out`` once whole."""
    mode: str
    """``copy``, or ``link``: each image a symbolic link to the file ``data``'s is, or points to."""
    command: Sequence[str] | None
    """The CLI's command line, for ``split.json`` (None from a script)."""
    on_file: Callable[[int, int], None] | None
    """Told ``(done, total)`` after each file copied (or linked)."""


class Planned(NamedTuple):
    """What the plan does to DATA, as :func:`_planned_targets` found it."""

    targets: dict[Path, Path | None]
    """Where each image of DATA goes (relative to it; None: removed)."""
    rows: dict[str, dict[str, str]]
    """The plan's rows by the image of DATA each names, those of replaced files left out."""
    digests: dict[str, str]
    """The content digest of each file whose row was checked (``reviewed.csv`` reuses them)."""
    replaced: int
    """Rows skipped: their file is not the image the audit saw (:func:`_unreplaced`)."""
    by_hand: int
    """Relabels done by hand already: the photo moved into the class the row relabels it to
    (:func:`_follow_done_relabels`), copied where it is."""


def with_merges(given: PlanRead, merge: Sequence[str]) -> PlanRead:
    """The plan ``given`` with the rows of each class of ``merge`` that the audit left to review
    as a likely merge (their reason begins :data:`MERGE`) read as relabels into their
    ``new_class``: one word carries a merge of a class of 30 photos, where it took 30 rows
    edited. A class the plan proposes no merge of is refused; a row a person changed (a keep, a
    remove) stays as it is."""
    rows = dict(given.rows)
    for name in merge:
        mine = {
            file: row
            for file, row in rows.items()
            if (row.get("class") or "").strip() == name
            and row["action"] == REVIEW
            and (row.get("reason") or "").startswith(MERGE)
        }
        if not mine:
            raise ObjrecError(
                f"`merge` {name}: {given.file} proposes no merge of {name} (its rows left to "
                f"review whose reason begins {MERGE.strip()!r}): merge a class the audit named "
                "as a likely merge, or relabel its rows in the plan"
            )
        rows |= {file: {**row, "action": "relabel"} for file, row in mine.items()}
    return given._replace(rows=rows)


ACCEPTED = "_accepted"
"""The mark :func:`with_accepted` puts on a row whose suggested class a person accepted: its
relabel is theirs (:func:`as_proposed` is False), remembered in ``reviewed.csv``."""


def with_accepted(given: PlanRead, accept: bool) -> PlanRead:
    """The plan ``given`` with the audit's suggested classes accepted, where ``accept``: each row
    left to review a label flag (its reason begins :data:`REVIEWED`, its ``new_class`` the
    suggested class) read as a relabel into it, and each relabel as the audit proposed it
    (:func:`as_proposed`), both marked :data:`ACCEPTED`: a person who agreed with the audit
    decided as much as one who edited a row, and the next audit keeps those labels. Without it
    a plan applied as it came remembers none of them (a plan applied unread must leave its
    flags to later audits). The rows of a photo of no class, of one picture under two labels
    and of a likely merge stay as they are: their new_class is none, or a choice to make."""
    if not accept:
        return given
    rows = dict(given.rows)
    for file, row in rows.items():
        reviewed = row["action"] == REVIEW and (row.get("reason") or "").startswith(REVIEWED)
        if reviewed and (row.get("new_class") or "").strip():
            rows[file] = {**row, "action": "relabel", ACCEPTED: "yes"}
        elif as_proposed(row):
            rows[file] = {**row, ACCEPTED: "yes"}
    return given._replace(rows=rows)


def _planned_targets(
    given: PlanRead,
    data: Path,
    images: list[Path],
    at: int,
    new_class: bool = False,
    broken: Sequence[str] = (),
) -> Planned:
    """Where the plan ``given`` puts each image of ``data`` (relative to it; None: removed),
    once it is known to name only images of ``data`` (or its ``broken`` links, left out whatever
    their rows say) and relabels into a class named like no other (nor likely a misspelling of
    one, but with ``new_class``); ``at``: the index of the class folder in an image's path (1 in
    a split folder). A row whose file was replaced since the audit is skipped
    (:func:`_unreplaced`)."""
    plan_file = given.file
    rels = [p.relative_to(data) for p in images]
    known = {rel.as_posix() for rel in rels} | set(broken)
    plan = _as_data_files(plan_file, data, given.rows, known)
    moved = _moved_by_hand(data, plan, known, at)
    by_hand = _follow_done_relabels(plan_file, plan, moved, at)
    _refuse_missing(plan_file, plan, known, data, moved)
    digests, replaced = _unreplaced(plan_file, data, plan, set(broken))
    classes = {rel.parts[at] for rel in rels if len(rel.parts) > at + 1}
    _as_data_classes(plan, classes)
    _refuse_look_alike_classes(plan_file, plan, classes)
    if not new_class:
        _refuse_likely_misspelt(plan_file, plan, classes)
    _warn_new_classes(plan, classes)
    _warn_unsure_relabels(plan)
    targets = {rel: _target(plan_file, rel, plan.get(rel.as_posix()), at) for rel in rels}
    _warn_parted_pictures(plan_file, plan, targets, at)
    return Planned(targets, plan, digests, replaced, by_hand)


def _warn_parted_pictures(
    plan_file: Path, plan: dict[str, dict[str, str]], targets: dict[Path, Path | None], at: int
) -> None:
    """Say which pictures' rows (the files of one ``picture`` of the audit's plan: copies of one
    photo, decided together) the plan now puts in two classes or more, their copies kept: a
    person who set one frame of a burst to relabel and left the others was told nothing, and the
    copy came out with the picture under two labels, which the next audit flags again."""
    classes: dict[str, dict[str, list[str]]] = {}
    for rel, target in targets.items():
        row = plan.get(rel.as_posix())
        if row is None or target is None or not (picture := (row.get("picture") or "").strip()):
            continue
        where = target.parts[at] if len(target.parts) > at + 1 else ""
        classes.setdefault(picture, {}).setdefault(where, []).append(row["_line"])
    parted = [
        f"{quoted(picture)} ({_lines_by_class(at_class)})"
        for picture, at_class in classes.items()
        if len(at_class) > 1
    ]
    if parted:
        one = len(parted) == 1
        log.warning(
            "%s: the rows of %s (copies of one photo, decided together: plan.csv's picture "
            "column) put %s in two classes now: %s; give a picture's rows one action (or remove "
            "the copies you do not want), else the copy holds %s under two labels",
            *(plan_file, plural(len(parted), "picture"), "it" if one else "each"),
            *(some_of(parted, quote=False), "it" if one else "them"),
        )


def _lines_by_class(at_class: dict[str, list[str]]) -> str:
    """``lines 2, 3 in green; line 4 in red``: which of a picture's rows go to which class."""
    return "; ".join(
        f"{'line' if len(lines) == 1 else 'lines'} {', '.join(sorted(lines, key=int))} in {name}"
        for name, lines in sorted(at_class.items())
    )


DIGEST = re.compile(f"[0-9a-f]{{{DIGEST_CHARS}}}")
"""A plan's ``digest`` cell as the audit writes it (``audit.plan.PLAN_COLUMNS``); another text
(a spreadsheet's number made of an all-digit digest, a person's note) is no digest."""


def _unreplaced(
    plan_file: Path, data: Path, plan: dict[str, dict[str, str]], broken: set[str]
) -> tuple[dict[str, str], int]:
    """Drop, in place, each row of ``plan`` whose file's content digest is not its ``digest``:
    the image the audit saw was replaced since by another under its name (a relabel or remove
    nobody decided for that photo), so its file is copied as it is, named in a warning with how
    to review it. A row without a digest (a person's own) is applied unchecked, and so is every
    row of a plan without the column: one a person wrote (``file,action``), or an audit's
    before 6 December 2026 (it has the audit's ``reason``), which is said once. Returns the
    digest of each file checked, and how many rows were dropped."""
    if not any("digest" in row for row in plan.values()):
        if any("reason" in row for row in plan.values()):
            log.warning(
                "%s has no digest column (an audit's plan before 6 December 2026): its rows are "
                "applied to the files now at their paths, unchecked against the images the "
                "audit saw; the plan of a new audit (`audit_folder(data)`) has it",
                plan_file,
            )
        return {}, 0
    checked = [
        file
        for file, row in plan.items()
        if DIGEST.fullmatch((row.get("digest") or "").strip().lower()) and file not in broken
    ]  # by the file index: the audit read them, and the copy reads each once more
    found = indexed_digests(store_dir(), [data / file for file in checked])
    digests = dict(zip(checked, found, strict=True))
    replaced = [f for f in digests if digests[f] != plan[f]["digest"].strip().lower()]
    if replaced:
        _warn_replaced(plan_file, [plan.pop(file) for file in replaced])
    return digests, len(replaced)


def _warn_replaced(plan_file: Path, rows: Sequence[dict[str, str]]) -> None:
    """Name the plan's ``rows`` skipped as their files were replaced since the audit."""
    named = [
        f"{quoted(row['file'])} (line {row['_line']}, {_decision(row)[0]}"
        + (f" to {quoted(row['new_class'])})" if row["action"] == "relabel" else ")")
        for row in rows
    ]
    it = "it" if len(rows) == 1 else "them"
    log.warning(
        "skipped %s of %s whose file is not the image the audit saw (the same name, other bytes:"
        " replaced since), copied as %s now: %s; audit the data again to review %s "
        "(`audit_folder(data)`)",
        *(plural(len(rows), "row"), plan_file, "it is" if len(rows) == 1 else "they are"),
        *(some_of(named, quote=False), it),
    )


def _moved_by_hand(
    data: Path, plan: dict[str, dict[str, str]], known: set[str], at: int
) -> dict[str, str]:
    """Where each file the plan names and ``data`` lacks is now, moved by hand (both relative to
    ``data``): in a split folder, as ``check`` finds it by the SHA-256 ``manifest.csv`` lists
    (renamed too: ``check.moved_from``); else a file of its name in another class folder whose
    content digest is its row's ``digest``; else any file no row names whose content is that
    digest (:func:`_renamed_by_hand`)."""
    from objrec.check import moved_from

    missing = [file for file in plan if file not in known]
    found = moved_from(data) if missing and at == 1 else {}
    found = {file: found[file] for file in missing if file in found}
    alike: dict[tuple[str, ...], list[str]] = {}
    for rel in sorted(known) if len(found) < len(missing) else []:
        parts = Path(rel).parts
        alike.setdefault(parts[:at] + parts[at + 1 :], []).append(rel)
    for file in (f for f in missing if f not in found):
        digest = _row_digest(plan[file])
        parts = Path(file).parts
        if digest and len(parts) > at + 1:
            same = alike.get(parts[:at] + parts[at + 1 :], [])
            now = next((now for now in same if hash_file(data / now) == digest), None)
            found |= {file: now} if now is not None else {}
    rest = [file for file in missing if file not in found]
    return found | _renamed_by_hand(data, plan, rest, known - set(plan) - set(found.values()))


def _row_digest(row: dict[str, str]) -> str:
    """A plan row's ``digest`` as the audit writes it (:data:`DIGEST`), or ""."""
    digest = (row.get("digest") or "").strip().lower()
    return digest if DIGEST.fullmatch(digest) else ""


def _renamed_by_hand(
    data: Path, plan: dict[str, dict[str, str]], missing: list[str], unnamed: set[str]
) -> dict[str, str]:
    """Where each of the ``missing`` files of the plan is now, renamed as it was moved by hand
    (``crab/image_0901.jpg`` now ``sunflower/from_crab.jpg``): the file of ``unnamed`` (DATA's
    files no row names) whose content digest is its row's, by the file index (which the audit
    filled). The plan's row was refused as naming a file not there, though it carries that
    digest."""
    wanted = {digest: file for file in missing if (digest := _row_digest(plan[file]))}
    files = sorted(rel for rel in unnamed if (data / rel).is_file()) if wanted else []
    digests = indexed_digests(store_dir(), [data / rel for rel in files])
    return {wanted[d]: rel for rel, d in zip(files, digests, strict=True) if d in wanted}


def _follow_done_relabels(
    plan_file: Path, plan: dict[str, dict[str, str]], moved: dict[str, str], at: int
) -> int:
    """Each relabel of ``plan`` whose photo was ``moved`` by hand into the class it relabels
    it to, and each ``review`` whose photo was moved into another class, in place: done
    already, the row is the keep of the photo where it is now (a label a person settled, for
    ``reviewed.csv``), said; how many. A relabel of a photo a person fixed by hand (``check``
    says so) was refused as naming a file not there, with no way forward; so was a review a
    person decided by moving the photo. A review whose photo was only renamed, or moved to
    another split, in its own class is no decision: it is followed, left to review
    (:func:`_follow_undecided`)."""
    done = 0
    for file, now in moved.items():
        row = plan[file]
        if now in plan:
            continue  # a row of its own decides it: this one is refused as naming no file
        into = _class_at(now, at)
        review = row["action"] == REVIEW
        if review and into == _class_at(file, at):
            _follow_undecided(plan_file, plan, file, now)
            continue
        if not review and (row["action"] != "relabel" or into != class_of_folder(row["new_class"])):
            continue
        decided = {"action": "keep", "reason": f"moved by hand to {now}"} if review else {}
        plan[now] = {**plan.pop(file), "file": now, "action": "keep", **decided}
        done += 1
        log.warning(
            "%s line %s: %s is %s now (moved by hand?), %s, and the photo copied as it is",
            *(plan_file, row["_line"], quoted(file), quoted(now)),
            "a row to review: decided by that move, its label is remembered as yours"
            if review
            else "in the class the row relabels it to: its relabel is done already",
        )
    return done


def _class_at(rel: str, at: int) -> str:
    """The class of the image ``rel`` (relative to DATA; ``at``: the index of its class folder),
    as a person names it (:func:`class_of_folder`); "" for a file outside any class folder."""
    parts = Path(rel).parts
    return class_of_folder(parts[at]) if len(parts) > at + 1 else ""


def _follow_undecided(
    plan_file: Path, plan: dict[str, dict[str, str]], file: str, now: str
) -> None:
    """The ``review`` row of ``file`` moved, in place, to ``now``, where its photo is, renamed
    or moved within its own class: left to review as it was (its reason too), so that
    ``reviewed.csv`` remembers no label nobody decided; said."""
    row = plan.pop(file)
    plan[now] = {**row, "file": now}
    log.warning(
        "%s line %s: %s is %s now (moved by hand?), in its own class still: a row to review "
        "there, still undecided",
        *(plan_file, row["_line"], quoted(file), quoted(now)),
    )


def _as_data_files(
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
        if _decision(earlier) != _decision(row):
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


def _as_data_classes(plan: dict[str, dict[str, str]], classes: set[str]) -> None:
    """Each relabel's new class, in place: the class of DATA whose name is its but for how the
    accents are encoded (NFC and NFD ``Café``: one name to a person) or for spaces at either end
    (new_class is read stripped, and DATA's ``green ``, a Mac's folder, is the class the audit's
    own plan names), as that folder is spelt, its exact name first; a new class, in NFC
    (``data.class_spelling``, ``add``'s rule too)."""
    as_spelt = class_spelling(classes)
    for row in plan.values():
        if row["action"] == "relabel":
            row["new_class"] = as_spelt(row["new_class"])


def _refuse_look_alike_classes(
    plan_file: Path, plan: dict[str, dict[str, str]], classes: set[str]
) -> None:
    """Refuse a relabel into a class named like another (of DATA, or of an earlier row) but for
    case (``data.read_key``): one folder on macOS and Windows, where its images would join the
    other class while the manifest names them apart; DATA's ``green `` and a ``Green``, two
    classes that read alike, too. A name alike but for the spaces at its ends alone is DATA's
    class (:func:`_as_data_classes`)."""
    new = [row for row in plan.values() if row["action"] == "relabel"]
    new = [row for row in new if row["new_class"] not in classes]
    for other, name, how in look_alikes([row["new_class"] for row in new], sorted(classes)):
        line = next(row["_line"] for row in new if row["new_class"] == name)
        raise ObjrecError(
            f"{plan_file} line {line}: new_class {name!r} and the class {other!r} differ only in "
            f"{how}, {alike_why(how)}: give both the same name, or two names"
        )


def _refuse_likely_misspelt(
    plan_file: Path, plan: dict[str, dict[str, str]], classes: set[str]
) -> None:
    """Refuse relabels into a new class named like one of DATA's (``sunflowr`` beside
    ``sunflower``), in ``add``'s words (``data.refuse_likely_misspelt``), naming their lines:
    the copy would hold a class folder of its own, without a word but a warning among others."""
    relabels = [row for row in plan.values() if row["action"] == "relabel"]
    likely = likely_misspelt({row["new_class"] for row in relabels}, classes)
    lines = sorted({int(row["_line"]) for row in relabels if row["new_class"] in likely})
    where = (
        f"{plan_file} {'line' if len(lines) == 1 else 'lines'} {some_of(list(map(str, lines)))}: "
    )
    refuse_likely_misspelt(likely, classes, where)


def _target(plan_file: Path, rel: Path, row: dict[str, str] | None, at: int) -> Path | None:
    """Where the plan's ``row`` puts the image ``rel``; a relabel of a file in no class folder
    (loose in DATA, or in a split folder) is refused, naming its line."""
    if row is None or row["action"] in ("keep", REVIEW):
        return rel
    if row["action"] == "remove":
        return None
    if len(rel.parts) < at + 2:
        raise ObjrecError(
            f"{plan_file} line {row['_line']}: {rel.as_posix()!r} is in no class folder, so it "
            "cannot be relabelled (keep or remove it)"
        )
    parts = list(rel.parts)
    parts[at] = row["new_class"]
    return Path(*parts)


@takes_back_folders("out")
@warned_once_per_file()
def apply_plan(
    data: PathGiven,
    plan_file: PathGiven,
    out: PathGiven,
    mode: str = "copy",
    command: Sequence[str] | None = None,
    new_class: bool = False,
    on_wait: Callable[[], None] | None = None,
    on_file: Callable[[int, int], None] | None = None,
    merge: Sequence[str] = (),
    accept: bool = False,
) -> AppliedPlan:
    """Copy every image of ``data`` into ``out``, leaving out removed ones and moving relabelled
    ones into their new class folder; ``mode="link"`` makes each a symbolic link instead, as
    ``split`` and ``add`` do (to the file a link of ``data`` points to, so that ``out`` does not
    depend on a linked ``data``). ``data`` is only read; ``out`` must be new or empty. A
    split folder's copy gets its own ``manifest.csv`` (``split``'s columns): a row per file
    copied, under its new class, its source the file of ``data`` it was copied from, its group
    the one ``data``'s manifest records for it (unless the file changed since), so that
    ``evaluate`` counts distinct photos in ``out`` as in ``data``; and a ``split.json`` that says
    how: ``data``'s, with this plan's entry in ``applied`` (``split.record.record_applied``; the
    plan's SHA-256, the counts, ``command``: the CLI's command line, None from a script). A
    relabel into a new class named like one of ``data``'s (``sunflowr`` beside ``sunflower``) is
    refused before any file is copied, as ``add_images`` refuses one, unless ``new_class``.
    ``data`` is read under a shared lock (``locks.locked``), as ``train`` lists a split: an
    ``add`` writing there is waited for (``on_wait()`` called first), and none starts until the
    copy is whole; a ``data`` a killed add left half listed is refused, naming what lists it.
    ``on_file(done, total)`` is called after each file copied (or linked). ``merge``: the
    classes whose likely merge the audit's plan proposes (its rows left ``review`` whose reason
    begins :data:`MERGE`) to carry out, those rows read as relabels into their ``new_class``
    (:func:`with_merges`); without it they stay reviews, which move nothing. ``accept``: the
    audit's suggested classes taken as a person's decisions (:func:`with_accepted`).

    Returns an :class:`AppliedPlan`: what was done, in counts (its fields say each: the files
    copied, removed, relabelled and renamed, the plan's rows done by hand already or left to
    review, the changes to a split folder's test and validation images), and how many labels
    ``out/reviewed.csv`` remembers as settled by a person, which the next audit of ``out`` keeps,
    or of the split ``split`` makes of a class folder's ``out`` (it carries the file).
    """
    data, out = _checked_folders(Path(data), Path(out), mode)
    given = with_accepted(with_merges(PlanRead.of(Path(plan_file)), merge), accept)
    with locked(data, on_wait, shared=True):  # no add half written in the copy
        _refuse_unfinished_add(data)
        counts = _applied(given, Copying(data, out, mode, command, on_file), new_class)
    log.info("applied %s to %s into %s: %s", plan_file, data, out, counts)
    if note := test_change_note(counts):
        log.info("%s", note)
    return counts


def _applied(given: PlanRead, copying: Copying, new_class: bool) -> AppliedPlan:
    """:func:`apply_plan`'s copy, its ``data`` locked: the plan ``given`` checked against its
    images, then each copied as ``copying`` says; the counts."""
    data, out, mode = copying.data, copying.out, copying.mode
    split_folder = is_split_folder(data)
    at = 1 if split_folder else 0
    images, broken, others = _listed(data)
    planned = _planned_targets(given, data, images, at, new_class, broken)
    targets = planned.targets
    made = applied_entry(data, (given.file, given.sha256), mode, copying.command)
    counts = {"copied": 0, "removed": 0, "relabelled": 0, "renamed": len(_settle_names(targets))}
    counts["broken_links"], counts["replaced"] = len(broken), planned.replaced
    counts["moved_by_hand"] = planned.by_hand
    counts["left_to_review"] = sum(row["action"] == REVIEW for row in planned.rows.values())
    counts["relabels_as_proposed"] = sum(map(as_proposed, planned.rows.values()))
    counts["accepted"] = sum(ACCEPTED in row for row in planned.rows.values())
    counts |= _test_changes(targets if split_folder else {})
    if mode == "link":  # before anything is copied, in the sentence naming ``out``
        refuse_without_links(out)
    written: list[Hashed | Copied] = []
    with staged_folder(out) as stage:  # ``out`` whole or as it was: never half a copy
        copied = _copy_planned(copying, stage, targets, split_folder, counts, written)
        planned.digests.update(copied)  # reviewed.csv reads the copies' digests, not their files
        counts["other_files"] = _copy_others(data, stage, mode, others)
        counts["reviewed"] = _remember_review(data, stage, planned, at)
        if split_folder:
            record_applied(data, stage, made | counts)
    _tell_index(written, stage, out)
    return AppliedPlan(**counts)


def _tell_index(written: list[Hashed | Copied], stage: Path, out: Path) -> None:
    """Tell the file index each file ``written`` in ``stage``, now in ``out``: a copy by the
    SHA-256 of the bytes written, a link by the digest the index holds of its photo."""
    links = [w for w in written if isinstance(w, Copied)]
    copies = [replace(c, copy=out / c.copy.relative_to(stage)) for c in links]
    files = [w for w in written if not isinstance(w, Copied)]
    hashed = [(out / p.relative_to(stage), s, d) for p, s, d in files]
    index_written(store_dir(), copies=copies, hashed=hashed)


def _listed(data: Path) -> tuple[list[Path], list[str], list[Path]]:
    """The images of ``data``, and its links to an image that is not there (relative to it),
    each left out with ``list_images``' warning, as ``add`` and ``train`` warn of it: the
    summary said nothing was left out, so they are counted; and its other visible files but
    objrec's own (:data:`WRITTEN_FOR_OUT`) and links to nothing (left out with the same
    warning: there is nothing to copy), relative to it."""
    others: list[Path] = []
    images = list_images(data, others=others)
    gone = [p for p in others if p.is_symlink() and not p.exists()]
    for path in gone:
        warn_once("broken link", path, "%s left out: %s", path, broken_link_reason(path))
    broken = [p for p in gone if is_broken_image_link(p)]
    kept = [p.relative_to(data) for p in others if p not in gone]
    kept = [p for p in kept if p.as_posix() not in WRITTEN_FOR_OUT]
    return images, [p.relative_to(data).as_posix() for p in broken], kept


WRITTEN_FOR_OUT = (MANIFEST, SPLIT_RECORD, REVIEWED_FILE)
"""Files of DATA's top that apply-plan writes anew for OUT, never copies."""


def _copy_others(data: Path, stage: Path, mode: str, others: list[Path]) -> int:
    """Copy (or link, ``mode``) each of ``others``, files of ``data`` that are not images, to
    the same place in ``stage``; how many."""
    for rel in others:
        _copy(data / rel, stage, rel, mode, split_folder=False, recorded=None)
    if others:
        named = ", ".join(p.as_posix() for p in others)
        log.info("%s of %s copied along: %s", plural(len(others), "other file"), data, named)
    return len(others)


def _refuse_unfinished_add(data: Path) -> None:
    """Refuse a ``data`` that a killed add left half listed (``check`` notes it): its copy held
    the files the add wrote with no manifest row, a ``split.json`` without that add, and not the
    note the next add of ``data`` repairs both from, so the copy never got the repair."""
    found = unfinished_add(data)
    if found is not None and (said := unfinished_words(found)):
        raise ObjrecError(
            f"{data / PENDING}: {said}: run that add again (it adds only what is not there), "
            "then apply the plan"
        )


def _checked_folders(data: Path, out: Path, mode: str) -> tuple[Path, Path]:
    """``data`` and ``out`` resolved, once ``mode`` is known and ``out`` new or empty, outside
    ``data``."""
    if mode not in SPLIT_MODES:
        raise ObjrecError(f"unknown apply-plan `mode` {mode!r}: use copy or link")
    refuse_nested(out, data)
    data, out = data.resolve(), out.resolve()
    refuse_overwrite(out, hint="choose another folder")
    return data, out


def _copy_planned(
    copying: Copying,
    stage: Path,
    targets: dict[Path, Path | None],
    split_folder: bool,
    counts: dict[str, int],
    written: list[Hashed | Copied],
) -> dict[str, str]:
    """Copy (or link, ``copying.mode``) each image of ``data`` that ``targets`` keeps to its
    target in the staging folder ``stage`` of ``out``, adding to ``counts``; ``on_file(done,
    total)`` told after each file (a minute of silence for 60,000 photos); a split folder's copy
    gets the manifest of the files copied. Returns the content digest
    (``file_index.hash_file``'s) of each file copied that was read, by its path in ``data``;
    ``written`` gets each file written as the file index takes it (:func:`_written`: ``train``
    of ``out`` then reads none of them)."""
    data, out, on_file = copying.data, copying.out, copying.on_file
    rows: list[list[str]] = []
    digests: dict[str, str] = {}
    groups = manifest_groups(data) if split_folder else {}
    total = sum(target is not None for target in targets.values())
    with ctrl_c_leaves(lambda: applied_so_far(out, counts["copied"], targets)):
        for rel, target in targets.items():
            counts["removed"] += target is None
            if target is not None:
                recorded = groups.get(rel.as_posix())
                row, digest = _copy(data / rel, stage, target, copying.mode, split_folder, recorded)
                written.append(_written(data / rel, stage / target, copying.mode, digest))
                rows += row
                if digest is not None:
                    digests[rel.as_posix()] = digest[:DIGEST_CHARS]
                counts["copied"] += 1
                counts["relabelled"] += target.parent != rel.parent
                if on_file is not None:
                    on_file(counts["copied"], total)
    if split_folder and rows:
        _write_manifest(stage, rows)
    return digests


def _written(source: Path, path: Path, mode: str, digest: str | None) -> Hashed | Copied:
    """``path``, written from ``source``, as the file index takes it: a copy (``mode``) by the
    SHA-256 ``digest`` of the bytes written; a link by the digest the index holds of ``source``
    (``FeatureStore.keep_copies``) at the stat they share, that of the file both name."""
    stat = os.stat(path)
    if mode == "copy" and digest is not None:
        return path, stat, digest
    return Copied(source, stat, path, stat)


def applied_so_far(out: Path, done: int, targets: dict[Path, Path | None]) -> str:
    """What an apply-plan stopped while copying left: nothing in ``out``, as it was (the
    ``done`` files copied so far of those ``targets`` keeps were in its staging folder, removed
    with it), so the same command goes again."""
    total = sum(target is not None for target in targets.values())
    return (
        f"nothing was written to {out}, which is as it was (the {done:,} of "
        f"{plural(total, 'file')} copied so far were in a staging folder, removed): apply the "
        "plan again"
    )


def _remember_review(data: Path, out: Path, planned: Planned, at: int) -> int:
    """``out/reviewed.csv`` (``reviewed.write_reviewed``): the images the plan applied (its
    rows by the image of ``data`` each names) kept or relabelled by a row that settles a label
    (:func:`settles_label`), and ``data``'s earlier reviews; ``at``: which part of a path is the
    class (1 in a split folder, 0 in a class folder). The files whose digest the plan's check
    read are not hashed again."""
    plan, targets = planned.rows, planned.targets
    settled = [
        rel
        for rel, target in targets.items()
        if target is not None
        and len(target.parts) > at + 1
        and settles_label(plan.get(rel.as_posix()))
    ]
    return write_reviewed(data, out, targets, settled, at, planned.digests)


def settles_label(row: dict[str, str] | None) -> bool:
    """Whether a plan's ``row`` (None: none) is a label a person settled: a relabel a person
    made, or a keep of a row about the label (a relabel the person turned down, one kept to
    review) or of a person's own row. Not the keep of a row the audit wrote about copies,
    look-alikes or outliers (:data:`NOT_ABOUT_THE_LABEL`), which most apply untouched:
    remembered, it would let the next audit keep an outlier whose label is wrong as settled.
    Nor a ``review`` (the audit's, left undecided), nor a relabel as the audit proposed it
    (:func:`as_proposed`): a plan applied as it came must leave its flags, a wrong relabel's
    too, for later audits to flag again."""
    if row is None or row["action"] == REVIEW or as_proposed(row):
        return False
    return row["action"] == "relabel" or not NOT_ABOUT_THE_LABEL.match(row.get("reason") or "")


PROPOSED_RELABEL = re.compile(r"heads and neighbours give p\(given\)=")
"""How the reason of a relabel the audit pre-fills begins: the flag's evidence as
``audit.labels.label_issue_rows`` words it, where a row to review begins ``review:`` and a
person's row has a reason of its own, or none."""


def as_proposed(row: dict[str, str]) -> bool:
    """Whether a plan's ``row`` is a relabel as the audit pre-filled it: its reason the flag's
    evidence (:data:`PROPOSED_RELABEL`), its class the one the evidence suggests (not
    :func:`reviewed_by_hand`). Applied, but remembered as nobody's decision: a plan's automatic
    relabel of a photo of nothing (p(suggested)=0.76) went into ``reviewed.csv``, and every later
    audit kept the wrong label as "settled by your earlier plans"."""
    reason = (row.get("reason") or "").strip()
    return (
        row["action"] == "relabel"
        and not row.get(ACCEPTED)
        and PROPOSED_RELABEL.match(reason) is not None
        and not reviewed_by_hand(row)
    )


def _refuse_missing(
    plan_file: Path,
    plan: dict[str, dict[str, str]],
    known: set[str],
    data: Path,
    moved: dict[str, str],
) -> None:
    """Refuse a plan naming files that are not images of ``data``, naming the first one's line;
    of one ``moved`` by hand, where it is now and what to do."""
    missing = [file for file in plan if file not in known]  # in the plan's order
    if not missing:
        return
    line = plan[missing[0]]["_line"]
    if (now := moved.get(missing[0])) is not None:
        raise ObjrecError(_moved_sentence(f"{plan_file} line {line}", plan[missing[0]], now))
    meant = misread(missing[0], {class_of_folder(k) for k in known})
    if meant is not None:
        raise ObjrecError(misread_sentence(f"{plan_file} line {line}", missing[0], meant))
    more = len(missing) - 1
    raise ObjrecError(
        f"{plan_file} line {line}: {missing[0]!r} is not in {data} (no "
        "image there has that path, relative to it"
        + (
            f"; nor {'is' if more == 1 else 'are'} {plural(more, 'other file')} of the plan"
            if more
            else ""
        )
        + "): if you moved or renamed the photo, write its path now as the row's file; if you "
        "deleted it, delete the row"
    )


def _moved_sentence(where: str, row: dict[str, str], now: str) -> str:
    """The refusal of a plan ``row`` whose photo was moved by hand to ``now`` (relative to DATA),
    elsewhere than the class the row relabels it to, if it does."""
    action = row["action"] + (f" to {row['new_class']}" if row["action"] == "relabel" else "")
    return (
        f"{where}: {row['file']!r} is {now!r} now (moved by hand?), and the row says {action}: "
        f"write {now} as its file to apply the row to the photo there, or delete the row to "
        "keep it where it is"
    )


def test_change_note(counts: AppliedPlan) -> str | None:
    """``add``'s sentence when the plan removed or relabelled test images (``counts``' own
    ``test_removed`` and ``test_relabelled``): scores before and after are not comparable; the
    new folder is ``apply_plan``'s ``out``. Information, not a warning: the user's plan asked
    for those changes. None when the test split is unchanged."""
    from objrec.add.result import changed_test_warning

    changed = {"relabelled": counts.test_relabelled, "removed": counts.test_removed}
    how = ", ".join(f"{n} {verb}" for verb, n in changed.items() if n)
    return changed_test_warning(sum(changed.values()), how, folder="out") if how else None


def _test_changes(targets: dict[Path, Path | None]) -> dict[str, int]:
    """How many images of a split folder's test and valid splits ``targets`` remove and relabel
    (``test_removed``, ``valid_relabelled``...)."""
    counts = {}
    for split in ("test", "valid"):
        rows = [(rel, t) for rel, t in targets.items() if rel.parts[0] == split]
        counts[f"{split}_removed"] = sum(t is None for _, t in rows)
        counts[f"{split}_relabelled"] = sum(t is not None and t.parent != r.parent for r, t in rows)
    return counts


def valid_change_note(counts: AppliedPlan) -> str | None:
    """The sentence when the plan removed or relabelled validation images (``counts``'
    ``valid_removed`` and ``valid_relabelled``): they decide the next train's early stopping and
    its "unknown" threshold, which apply-plan said nothing of. None when valid is unchanged."""
    changed = {"relabelled": counts.valid_relabelled, "removed": counts.valid_removed}
    how = ", ".join(f"{n} {verb}" for verb, n in changed.items() if n)
    if not how:
        return None
    return (
        f"{plural(sum(changed.values()), 'validation image')} changed ({how}): they decide the "
        "next train's early stopping and its unknown threshold, so its validation figures are "
        "not comparable with the old run's"
    )


def _copy(
    source: Path,
    stage: Path,
    target: Path,
    mode: str,
    split_folder: bool,
    recorded: tuple[str, str] | None,
) -> tuple[list[list[str]], str | None]:
    """Copy ``source`` to ``stage/target`` (``mode="link"``: a symbolic link to the file
    ``source`` is, or points to); its row of the new manifest, for an image of a class folder of
    a split (``split/class/...``), with the group ``recorded`` for it (its SHA-256 and group in
    the source's manifest) where the copy still holds that content; and the copy's SHA-256,
    None for a link outside a split folder (not read)."""
    destination = stage / target
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = None
    with renamed_over(destination, temporary_name(destination)) as tmp:  # whole or not there
        if mode == "copy":
            digest = copy_hashed(source, tmp)
        else:
            link_file(os.path.realpath(source), tmp, stage)
    if not split_folder or len(target.parts) < 3 or target.parts[0] not in SPLITS:
        return [], digest
    split, name = target.parts[:2]
    digest = digest or sha256_file(destination)
    group = recorded[1] if recorded is not None and recorded[0] == digest else ""
    return [[target.as_posix(), name, split, digest, str(source), group]], digest


def _write_manifest(out: Path, rows: list[list[str]]) -> None:
    """``out/manifest.csv`` as ``split`` writes it (``MANIFEST_COLUMNS``, group), one row per file
    copied (even when a later one failed), under its class and split in ``out``: ``add`` appends
    to it, and ``split --force`` knows ``out`` for a split of objrec's."""
    with staged(out / MANIFEST) as tmp, tmp.open("w", newline="", encoding=CSV_ENCODING) as f:
        writer = csv.writer(f)
        writer.writerow([*MANIFEST_COLUMNS, MANIFEST_GROUP])
        writer.writerows(sorted(rows))


def _settle_names(targets: dict[Path, Path | None]) -> list[Path]:
    """Give each file whose place another file takes (by :func:`name_key`: case aside, as macOS
    and Windows compare names) a free name, in place, logged: files that stay where they were
    keep their names, whatever order the folders come in, but for the second of two named alike
    but for case. Returns the files renamed."""
    placed = [(rel, target) for rel, target in targets.items() if target is not None]
    placed.sort(key=lambda pair: pair[1] != pair[0])  # kept ones first
    renamed = []
    for (rel, target), free in zip(placed, settle_names([t for _, t in placed]), strict=True):
        if free != target:
            log.warning(
                "%s goes in as %s: %s is another image's name",
                rel.as_posix(),
                free.as_posix(),
                target.as_posix(),
            )
            targets[rel] = free
            renamed.append(rel)
    return renamed

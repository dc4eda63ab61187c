"""Where the plan puts each image of DATA (:func:`planned_targets`: ``Planned``), once its rows,
their files and their classes are checked, with the warnings about relabels left unsure and about
one picture's copies parted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from objrec.applying.classes import (
    as_data_classes,
    refuse_look_alike_classes,
    refuse_misspelt_relabels,
    warn_new_classes,
)
from objrec.applying.decisions import as_proposed, suggested_p
from objrec.applying.follow import follow_done_relabels, moved_by_hand, refuse_missing, unreplaced
from objrec.applying.plan_file import PlanRead, as_data_files
from objrec.audit.plan import RELABEL_SURE_PROB, REVIEW
from objrec.errors import ObjrecError
from objrec.words import plural, quoted, some_of

log = logging.getLogger(__name__)


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


class Planned(NamedTuple):
    """What the plan does to DATA, as :func:`planned_targets` found it."""

    targets: dict[Path, Path | None]
    """Where each image of DATA goes (relative to it; None: removed)."""
    rows: dict[str, dict[str, str]]
    """The plan's rows by the image of DATA each names, those of replaced files left out."""
    digests: dict[str, str]
    """The content digest of each file whose row was checked (``reviewed.csv`` reuses them)."""
    replaced: int
    """Rows skipped: their file is not the image the audit saw (:func:`unreplaced`)."""
    by_hand: int
    """Relabels done by hand already: the photo moved into the class the row relabels it to
    (:func:`follow_done_relabels`), copied where it is."""
    followed: dict[str, str]
    """Where each photo a person moved by hand since the audit is now -> where its row (and
    DATA's manifest) had it, for the rows followed there (:func:`follow_done_relabels`): what
    the move changed of the split, and the group the manifest recorded under the old path."""


def planned_targets(
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
    (:func:`unreplaced`)."""
    plan_file = given.file
    rels = [p.relative_to(data) for p in images]
    known = {rel.as_posix() for rel in rels} | set(broken)
    plan = as_data_files(plan_file, data, given.rows, known)
    moved = moved_by_hand(data, plan, known, at)
    by_hand = follow_done_relabels(plan_file, plan, moved, at)
    refuse_missing(plan_file, plan, known, data, moved)
    followed = {now: file for file, now in moved.items() if file not in plan and now in plan}
    digests, replaced = unreplaced(plan_file, data, plan, set(broken))
    classes = {rel.parts[at] for rel in rels if len(rel.parts) > at + 1}
    as_data_classes(plan, classes)
    refuse_look_alike_classes(plan_file, plan, classes)
    if not new_class:
        refuse_misspelt_relabels(plan_file, plan, classes)
    warn_new_classes(plan, classes)
    _warn_unsure_relabels(plan)
    targets = {rel: _target(plan_file, rel, plan.get(rel.as_posix()), at) for rel in rels}
    _warn_parted_pictures(plan_file, plan, targets, at)
    return Planned(targets, plan, digests, replaced, by_hand, followed)


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

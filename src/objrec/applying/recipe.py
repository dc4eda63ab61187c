"""Applying a reviewed audit plan (:func:`apply_plan`): ``plan.csv`` read and checked against DATA,
then DATA copied into a new folder with it applied. DATA itself is never changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from objrec.applying.copy import (
    Copying,
    checked_folders,
    copy_others,
    copy_planned,
    listed_files,
    refuse_unfinished_add,
    remember_review,
    settle_target_names,
    tell_index,
)
from objrec.applying.decisions import ACCEPTED, NOT_ACCEPTED, as_proposed
from objrec.applying.plan_file import PlanRead, with_accepted, with_merges
from objrec.applying.result import AppliedPlan, applied_notes, in_source, test_changes
from objrec.applying.targets import planned_targets
from objrec.audit.plan import REVIEW
from objrec.data import is_split_folder
from objrec.file_index import Copied, Hashed
from objrec.locks import locked
from objrec.outputs import refuse_without_links, staged_folder, takes_back_folders
from objrec.paths import PathGiven
from objrec.split.record import applied_entry, record_applied
from objrec.warned import warned_once_per_file

log = logging.getLogger(__name__)


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
    data, out = checked_folders(Path(data), Path(out), mode)
    given = with_accepted(with_merges(PlanRead.of(Path(plan_file)), merge), accept)
    with locked(data, on_wait, shared=True):  # no add half written in the copy
        refuse_unfinished_add(data)
        counts = _applied(given, Copying(data, out, mode, command, on_file), new_class)
    log.info("applied %s to %s into %s: %s", plan_file, data, out, counts)
    for note in applied_notes(data, out, counts):
        log.info("%s", note)
    return counts


def _applied(given: PlanRead, copying: Copying, new_class: bool) -> AppliedPlan:
    """:func:`apply_plan`'s copy, its ``data`` locked: the plan ``given`` checked against its
    images, then each copied as ``copying`` says; the counts."""
    data, out, mode = copying.data, copying.out, copying.mode
    split_folder = is_split_folder(data)
    at = 1 if split_folder else 0
    images, broken, others = listed_files(data)
    planned = planned_targets(given, data, images, at, new_class, broken)
    targets = planned.targets
    made = applied_entry(data, (given.file, given.sha256), mode, copying.command)
    counts = {
        "copied": 0,
        "removed": 0,
        "relabelled": 0,
        "renamed": len(settle_target_names(targets)),
    }
    counts["broken_links"], counts["replaced"] = len(broken), planned.replaced
    counts["moved_by_hand"] = planned.by_hand
    counts["left_to_review"] = sum(row["action"] == REVIEW for row in planned.rows.values())
    counts["relabels_as_proposed"] = sum(map(as_proposed, planned.rows.values()))
    counts["accepted"] = sum(ACCEPTED in row for row in planned.rows.values())
    counts["not_accepted"] = sum(NOT_ACCEPTED in row for row in planned.rows.values())
    counts |= test_changes(targets if split_folder else {}, planned.followed)
    counts["in_source"] = in_source(data, targets) if split_folder else 0
    if mode == "link":  # before anything is copied, in the sentence naming ``out``
        refuse_without_links(out)
    written: list[Hashed | Copied] = []
    with staged_folder(out) as stage:  # ``out`` whole or as it was: never half a copy
        copied = copy_planned(copying, stage, planned, split_folder, counts, written)
        planned.digests.update(copied)  # reviewed.csv reads the copies' digests, not their files
        counts["other_files"] = copy_others(data, stage, mode, others)
        counts["reviewed"] = remember_review(data, stage, planned, at)
        if split_folder:
            record_applied(data, stage, made | counts)
    tell_index(written, stage, out)
    return AppliedPlan(**counts)

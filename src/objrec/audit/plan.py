"""The audit's plan (``plan.csv``): one proposal per flagged image, its rules and their words.

``plan_rows`` proposes ``keep``, ``remove``, ``relabel`` (to ``new_class``) or ``review`` (a
person's to decide) for each image the audit flagged: a label flag relabelled only where its
evidence is sure (``label_proposal``), a group's copies of the one it keeps removed, outliers
and look-alikes kept, files no command can read removed. A person edits it, then
``applying.apply_plan`` copies DATA with those actions applied into a new folder; DATA itself is
never changed. ``audit.report`` writes it beside the audit's other outputs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from objrec import dedup
from objrec.audit.findings import (
    DuplicateGroup,
    LabelIssue,
    Outlier,
    Unreadable,
    one_per_picture,
    picture_key,
)
from objrec.images import decoder_missing
from objrec.reviewed import read_reviewed, settled_at
from objrec.tables import CSV_ENCODING, spreadsheet_cell
from objrec.words import plural, quoted

if TYPE_CHECKING:
    from objrec.audit.inventory import Inventory
    from objrec.audit.recipe import AuditResult

PLAN_COLUMNS = (
    *("file", "class", "split", "action", "new_class", "reason", "digest", "picture"),
    *("proposal", "suggested", "p_suggested"),
)
"""``digest``: the content digest of the image the audit saw (``file_index.hash_file``, as the
feature store names files), by which ``apply-plan`` skips a row whose file was replaced since;
"" where unknown. ``picture``: the file that stands for the row's picture
(``audit.copies.PictureNames``), the row's own for a photo of its own, as label_issues.csv and
outliers.csv name it: the rows of one picture's copies share it (added on 6 December 2026, last, so
that a script reading the columns by place reads the others where they were). ``proposal``: what
kind of proposal the row is (:data:`PROPOSALS`), ``suggested`` the class the audit suggests (a
label flag's, a merge's), ``p_suggested`` its probability (a label flag's, 4 places): what
``apply-plan`` reads of the row, where it read the ``reason``'s words back with patterns, which a
rewording changed silently and which could not tell a flag in a class of too few photos apart
(session 61's review; added on 7 December 2026, after ``picture``). A plan without them (older,
or a person's) is read by its reasons as before (``applying.decisions``)."""
RELABEL_KIND = "relabel"
FLAG_KIND = "flag"
WEAK_KIND = "weak"
TOO_FEW_KIND = "too_few"
NO_CLASS_KIND = "no_class"
TWO_LABELS_KIND = "two_labels"
MERGE_KIND = "merge"
SETTLED_KIND = "settled"
COPY_KIND = "copy"
LOOK_ALIKE_KIND = "look_alike"
OUTLIER_KIND = "outlier"
UNREADABLE_KIND = "unreadable"
PROPOSALS = {
    RELABEL_KIND: "a label flag sure enough to relabel unread (label_proposal)",
    FLAG_KIND: "a label flag left to review whose suggested class reaches RELABEL_MIN_PROB",
    WEAK_KIND: "a label flag left to review whose suggested class is under RELABEL_MIN_PROB",
    TOO_FEW_KIND: "a label flag in a class of too few photos to judge (LabelIssue.too_few)",
    NO_CLASS_KIND: "a photo like none of the classes (LabelIssue.no_class)",
    TWO_LABELS_KIND: "a copy of one picture under two labels",
    MERGE_KIND: "an image of a class of a likely merge",
    SETTLED_KIND: "a label flag a person settled in an earlier plan",
    COPY_KIND: "a copy of a picture: removed as a leak or a byte copy, or kept in its group",
    LOOK_ALIKE_KIND: "a look-alike, kept",
    OUTLIER_KIND: "an outlier, kept",
    UNREADABLE_KIND: "a file that cannot be read",
}
"""The plan's ``proposal`` column: each kind of row, and what it is. The last four are not about
the label (:data:`NOT_ABOUT_THE_LABEL_KINDS`)."""
NOT_ABOUT_THE_LABEL_KINDS = frozenset({COPY_KIND, LOOK_ALIKE_KIND, OUTLIER_KIND, UNREADABLE_KIND})
"""The ``proposal`` kinds of rows about copies, look-alikes, outliers and unreadable files, which
settle no label kept as they come (as :data:`NOT_ABOUT_THE_LABEL` reads an older plan)."""
LABEL_FLAG_KINDS = frozenset({FLAG_KIND, WEAK_KIND, TOO_FEW_KIND})
"""The ``proposal`` kinds of a label flag the plan leaves to review with a suggested class (its
reason begins :data:`REVIEWED`, "review: may be "), whatever its doubt."""


def proposal_of(row: Mapping[str, str]) -> str | None:
    """The kind of proposal the audit wrote in a row's ``proposal`` (:data:`PROPOSALS`), or None
    where the row has none (a plan written before 7 December 2026, a person's own row): then what
    the row is, is read from its reason's words, as before."""
    return (row.get("proposal") or "").strip() or None


def of_kind(row: Mapping[str, str], kinds: Collection[str], words: Callable[[str], bool]) -> bool:
    """Whether a plan row is of one of the proposal ``kinds``: as its ``proposal`` says, or, in a
    row without one (:func:`proposal_of`), as its reason's ``words`` say, the way it was read
    before the column."""
    kind = proposal_of(row)
    return kind in kinds if kind is not None else words(row.get("reason") or "")


NEAR_DUPLICATE_REASON = "{kind} near-duplicate of {first} (similarity {sim:.3f})"
WORDS = (
    "near-duplicates are close by their hashes or by their features, look-alikes only "
    "moderately alike by both, whatever the similarity"
)
"""What the plan's words for a copy mean, said in the reasons of the rows kept as copies or as
look-alikes: a pair at similarity 0.830 was a "near-duplicate" (``split`` grouped it by its
hashes) beside pairs at 0.931 that were "look-alikes", which docs/audit.md explained and the
plan did not."""
WITHIN_CLASS_REASON = (
    "{kind} near-duplicate of {first} (similarity {sim:.3f}; " + WORDS + "), {where}: it leaks "
    "nothing; remove it to count the picture once, keep it if it is another shot (a burst's "
    "frames)"
)
"""The plan's reason for keeping a copy within a class: ``where`` is :data:`WITHIN_SPLIT` in a
split folder, :data:`WITHIN_FOLDER` in a class folder, which has no splits yet."""
WITHIN_SPLIT = "in its split"
WITHIN_FOLDER = "which `split` will keep in one split with it"
IDENTICAL_REASON = (
    "the same bytes as {first}: one file twice, which counts one picture twice and adds "
    "nothing; apply-plan leaves it out of the copy it writes (your folder is never changed): "
    "set keep to have it there"
)
"""The plan's reason for removing a byte-identical copy within a class and split, which it once
kept as possibly another shot: a burst's frames are never the same bytes."""
IDENTICAL = IDENTICAL_REASON.partition("{")[0]
"""How the reason of each byte-identical copy the plan removes begins ("the same bytes as ")."""
LOOK_ALIKE_START = "looks like {first} (look-alikes {kind}, similarity {sim:.3f}): "
"""How a look-alike's reason begins, as plans have written it (``NOT_ABOUT_THE_LABEL``)."""
LOOK_ALIKE_REASON = LOOK_ALIKE_START + "remove it only if it is the same picture (" + WORDS + ")"
APART_REASON = (
    "{kind} near-duplicate of {first} (similarity {sim:.3f}), alike by its features only: "
    "`split` may put them in two splits (a leak)"
)
OTHER_LABEL_REASON = (
    "; the copies disagree on the label: this one is labelled {mine}, {kept} {theirs}, and the "
    "plan keeps {theirs}, the label of the copy it keeps (chosen as the original, not as the "
    "right label): if this is {mine}, set keep here and remove on {kept}"
)
"""What the plan's reason for removing a copy adds where the copy it keeps has another label and
no label flag chose between them (:func:`other_label_note`): a byte copy of a lotus photo among
the water lilies went by the original-first order alone, the label it dropped unsaid."""
OTHER_LABEL = OTHER_LABEL_REASON.partition(":")[0]
"""How the clause of a removed copy under another label than the copy kept begins."""
CHAIN_REASON = (
    "in a near-duplicate group ({kind}) with {first}, but like none of the images the plan keeps "
    "(only like images it removes): another picture, kept"
)
"""The plan's reasons for a group's other images (``remove`` and ``keep``): ``first`` is the
image it is a copy of, or looks like (kept), or the group's first image, kept."""
KEPT_REASON = (
    "the {one} the plan keeps of its {group} ({kind}, {n} images); its {others} ({names}) have "
    "rows of their own{then}"
)
"""The plan's reason for a group's first image, the one kept: without a row of its own, a person
who set the rows of a group of three copies to ``remove`` kept a copy in train, unawares."""
KEPT_COPY = ": set this row to remove as well to drop the picture altogether"
KEPT_NAMED = 3
"""How many of a kept image's copies its reason names; more are counted."""
REVIEW = "review"
ACTIONS = ("keep", "remove", "relabel", REVIEW)
"""A plan row's actions. ``review`` is the audit's own for a label flag it does not relabel
unread (:func:`label_proposal`): a person's to decide, which ``apply-plan`` applies as ``keep``
but does not remember in ``reviewed.csv`` as a label a person settled (a person's ``keep`` is
remembered), so that a plan applied unread never stops later audits flagging labels nobody
looked at."""
RELABEL_MIN_PROB = 0.5
"""The plan relabels a flagged image only where the heads and neighbours give its suggested class
at least this probability (``prob_suggested``); below it, it keeps the image and its reason says to
review it (``REVIEW_REASON``): a plan applied unread should not make labels worse, and a weak
suggestion is more often wrong than right. Chosen on the development injection
(``benchmarks/audit.py --seed 1 --relabel-table``: 5% wrong labels and 100 near-duplicates in a
copy of the 100-class protocol split, 346 label flags): the suggested class was the true one for
1 of the 3 flags below 0.3 and 5 of the 12 from 0.3 to 0.5 (of these 15, 5 were not injected at
all: a relabel there makes a right label wrong), against 14 of 17 from 0.5 to 0.7 and 308 of 314
at 0.7 or more. On the reported seed 0: 4 of 10 below 0.5 (4 not injected), 20 of 30 from 0.5 to
0.7, 305 of 309 above."""
RELABEL_SURE_PROB = 0.7
"""A relabel of the plan whose suggested class has a lower probability is less sure: the plan
leaves such flags to review (:func:`sure_doubt`), and apply-plan lists the relabels an older
plan pre-filled under it (``applying.targets._warn_unsure_relabels``). The edge of the same
measurement ``RELABEL_MIN_PROB`` was chosen on (``benchmarks/audit.py --relabel-table``): from
0.5 to 0.7 the suggested class was the true one for 14 of 17 flags (seed 1) and 20 of 30 (seed
0), about 3 in 4, against 308 of 314 and 305 of 309 at 0.7 or more. The plan carries the
probability in each relabel's reason (``audit.labels.label_issue_rows``' evidence:
``p(suggested)=0.62``)."""
RELABEL_MAX_Z = 2.25
"""The plan relabels a flagged image only where it lies among the suggested class's images as
they lie among each other: the robust z of its mean distance to the nearest of them, within that
class (``audit.distances.spread_z_within``), at most this (as ``audit.labels.FAR_Z``, "far from its
class"). Else it keeps the image, to be reviewed: a factory's headphone photo among 120 "ok" watches
and 25 headphones, unlike both (z 2.5 among the watches, 2.3 among the headphones), had the watches
as its 10 nearest images and 0.997 ok from the heads, and the plan relabelled it ok. On imbalanced
projects with planted wrong labels (``benchmarks/audit_imbalance.py``) the planted images lay at z
2.0 or less among their true class."""
RELABEL_MIN_CLASS = dedup.NEIGHBOURS + 1
"""The plan relabels a flagged image only from a class of at least this many readable images
(near-duplicates counted once): in a smaller one the image's own class cannot fill the neighbour
vote (``dedup.NEIGHBOURS`` nearest images) and the heads train on a handful of its images, so
the evidence against its label is weak; it keeps the image, to be reviewed (a 10-image class of
wrenches had one relabelled as its 15-image neighbour class of staplers at 0.90)."""
RELABEL_MIN_RATIO = 5.0
"""The plan relabels a flagged image only where its suggested class is at least this many times
as probable as its given class (``prob_suggested`` over ``prob_given``); below it the votes are
split between the two classes and it keeps the image, to be reviewed (``split_doubt``). A
teacher's origami ant (6 classes of 26-45 photos) was relabelled dragonfly at p(suggested)=0.51:
the label was right. Chosen on development projects (``benchmarks/audit_relabels.py``:
``audit_min_steps.py``'s 8 random and 8 alike-pairs projects, each unsplit and split, 5% of the
images planted in another class; ``benchmarks/README.md``), among the flags the plan relabelled
at 0.5 or more: under a ratio of 5, 41 were planted images going to their true class and 90 right
labels made wrong (alike pairs 41 / 84, random 0 / 6); from 5 to 8, 48 / 26; from 8 up, 374 / 27.
On the 100-class protocol (``benchmarks/audit.py --seed 1``, the development seed) every such flag
has a ratio over 50, p(given) near 0: nothing changes there."""
SUGGESTED_P = re.compile(r"p\(suggested\)=([0-9]*\.?[0-9]+)")
"""The suggested class's probability in a plan row's reason, as the audit writes it."""
SUGGESTED_CLASS = re.compile(
    r"nearest images are labelled (.+?)(?:; (?:the same picture as|one picture in) .*)?$"
)
"""The suggested class in a relabel's reason, as the audit writes it
(``audit.labels.label_issue_rows``' evidence ends "3 of its 10 nearest images are labelled
strawberry", or goes on to a picture's copies: ``audit.labels.copies_words``, :data:`PICTURE_NOTE`):
a row relabelled to another class was reviewed by a person, and its ``p(suggested)`` is not of the
class it goes to."""
REVIEW_REASON = "review: may be {suggested}, p(suggested)={p:.2f}; relabel if so ({evidence})"
"""The plan's reason for keeping a flagged image whose suggested class is below
``RELABEL_MIN_PROB``."""
REVIEWED = REVIEW_REASON.partition("{")[0]
"""How the reason of each flag the plan keeps to review begins ("review: may be ")."""
LESS_SURE = f", but under {RELABEL_SURE_PROB}, where about 1 in 4 relabels was wrong when measured"
"""The clause of a review row's reason whose suggested class reaches ``RELABEL_MIN_PROB`` but
not ``RELABEL_SURE_PROB`` (:func:`sure_doubt`): such a row is ``review``, not ``relabel``, since
the README's loop applies a plan as it comes and these relabels are wrong often enough to
need a person's eye."""
SETTLED_REASON = (
    "settled: a person kept it as {given} in an earlier plan ({file} in reviewed.csv); may be "
    "{suggested}, p(suggested)={p:.2f}; relabel if so ({evidence})"
)
"""The plan's reason for keeping a flagged image whose label as it is a person settled by an
applied plan (``reviewed.read_reviewed``), whatever the probability: pre-filling a relabel there
undoes that review when the plan is applied as it is."""
SETTLED = SETTLED_REASON.partition(":")[0] + ":"
"""How the reason of each flag kept as a person settled it begins ("settled:")."""
NO_CLASS_REASON = (
    "review: like none of the classes? it lies far from every class's photos (distance "
    "z={z:.1f} from the nearest), and the likeliest, {suggested}, gets {p:.2f}: remove it if it "
    "shows none of your classes, relabel it if it shows one ({evidence})"
)
"""The plan's reason for a label flag whose photo lies far from every class's photos
(``LabelIssue.no_class``), left to review with no new class: photos of nothing planted in a
folder (an astronaut, a screenshot) were pre-filled as relabels into the class their scattered
votes favoured, and a user who took the suggestion moved an astronaut into helicopter."""
NO_CLASS = NO_CLASS_REASON.partition("?")[0]
"""How the reason of each flag of none of the classes begins."""
MERGE_REASON = (
    "review: merge into {into}? {words}: apply-plan told to merge {name} relabels every row of "
    "{name} left to review into {into}, or set relabel here; left as review, nothing moves"
)
"""The plan's reason for each image of a class that looks like another in two folders
(``AuditResult.merges``): left to review, ``new_class`` the class to merge it into; apply-plan's
``--merge`` relabels them in one step, where a person asks for it. 12 of a split class's 30
photos had no row at all, and merging took them added by hand."""
MERGE = MERGE_REASON.partition("{")[0]
"""How the reason of each image of a likely merge begins ("review: merge into ")."""
OUTLIER = "outlier: "
"""How the plan's reason for keeping an outlier begins (``audit``'s own reason after it: far
from its class, an odd size...)."""
UNREADABLE = "unreadable: "
"""How the plan's reason for removing a file that cannot be read begins (why after it)."""
TWO_LABELS_REASON = (
    "review: one picture under two labels ({kind}): this copy is labelled {mine}, {others}; "
    "which class is it? set remove on the copy whose label is wrong; the plan removes neither, "
    "as {flags} not sure enough for it to relabel"
)
"""The plan's reason for each copy of a picture in two classes (or more), left to ``review``
(never remembered as a label settled unless a person writes keep), where a copy's
label flag looks like another copy's class but is not one the plan relabels on (:func:`acts_on`):
removing a copy there would choose its label on a flag the same plan calls too unreliable to
relabel by (lotus and water lily, mistaken for each other both ways, where a flag at
p(suggested)=0.75 named the wrong copy), so the plan keeps both and a person chooses."""
TWO_LABELS = TWO_LABELS_REASON.partition("(")[0]
"""How the reason of each copy under two labels the plan keeps begins."""


def reason_pattern(*templates: str) -> re.Pattern[str]:
    """What the beginning of a reason written from any of ``templates`` matches: each one's
    words, anything in place of its fields (``{first}``, ``{sim:.3f}``)."""
    texts = (".*?".join(map(re.escape, re.split(r"\{[^}]*\}", t))) for t in templates)
    return re.compile("|".join(f"(?:{text})" for text in texts), re.DOTALL)


NOT_ABOUT_THE_LABEL = reason_pattern(
    *(OUTLIER, UNREADABLE, NEAR_DUPLICATE_REASON, IDENTICAL_REASON, LOOK_ALIKE_START),
    *(CHAIN_REASON, KEPT_REASON),
)
"""The reasons the plan gives its rows about copies, look-alikes and outliers (a near-duplicate
of, within its class or apart, a byte copy, a look-alike, a chain's image, a group's first, an
outlier, a file that cannot be read), not about the label: kept as they come, such a row settles
no label (``applying.decisions.settles_label``). A copy under two labels is a ``review`` row,
which settles none as it comes, and a person's keep of it settles its label."""


def plan_rows(result: AuditResult, inv: Inventory) -> list[dict[str, str]]:
    """One proposal per flagged image: relabel label issues (:func:`label_proposal`), remove a
    group's copies of the one kept (``audit.copies.keep_order``'s first; not
    :func:`harmless_copies`, nor :func:`undecided`), keep outliers and look-alikes; none for a file
    unreadable when hashed."""
    rows: dict[int, dict[str, str]] = {}

    def propose(index: int, action: str, new_class: str, reason: str, mark: Mark) -> None:
        if not inv.digests or inv.digests[index]:
            picture = result.picture_of.get(index)
            row = plan_row(inv, index, action, new_class, reason, picture)
            rows.setdefault(index, row | dict(zip(MARK_COLUMNS, mark, strict=True)))

    def propose_group(groups: list[DuplicateGroup], action: str, reason: str, kind: str) -> list:
        said, chained = group_proposals(groups, action, reason, inv, (flagged, pictures))
        for proposal in said:
            propose(*proposal, marked(kind))
        return chained

    flagged = {issue.index: issue.suggested for issue in result.label_issues}
    pictures = {i: p for i, p in result.picture_of.items() if i in flagged}  # flagged together
    for index, reason in two_labels_keeps(result, inv):
        propose(index, REVIEW, "", reason, marked(TWO_LABELS_KIND))
    groups = [g for g in result.near_duplicates if not undecided(g, result.label_issues, inv)]
    leaks, apart, within = harmless_copies(groups, flagged, inv.is_split)
    chained = propose_group(leaks, "remove", NEAR_DUPLICATE_REASON, COPY_KIND)
    chained += propose_group(apart, "remove", APART_REASON, COPY_KIND)
    copy, merge = marked(COPY_KIND), MERGE_KIND
    # a byte-identical copy's remove first: an outlier's keep took its row (the same file twice)
    proposals = [(i, action, "", why, copy) for i, action, why in identical_copies(within, inv)]
    proposals += [(*m, marked(merge, m[2])) for m in merge_proposals(result, inv)]
    proposals += label_proposals(
        result, inv, {i for i, r in rows.items() if r["action"] == "remove"}
    )
    proposals += [(o.index, *outlier_proposal(o), marked(OUTLIER_KIND)) for o in result.outliers]
    unreadable = marked(UNREADABLE_KIND)
    proposals += [(f.index, *unreadable_proposal(f), unreadable) for f in result.unreadable]
    proposals += [(i, "keep", "", why, copy) for i, why in chained]
    for proposal in proposals:
        propose(*proposal)
    where = WITHIN_SPLIT if inv.is_split else WITHIN_FOLDER
    propose_group(within, "keep", WITHIN_CLASS_REASON.replace("{where}", where), COPY_KIND)
    propose_group(result.look_alikes, "keep", LOOK_ALIKE_REASON, LOOK_ALIKE_KIND)
    for index, reason, kind in kept_firsts(result, inv):
        propose(index, "keep", "", reason, marked(kind))
    return list(rows.values())


MARK_COLUMNS = PLAN_COLUMNS[-3:]
"""The plan's columns that say what a row is (``proposal``, ``suggested``, ``p_suggested``)."""
Mark = tuple[str, str, str]
"""A row's cells of :data:`MARK_COLUMNS`."""


def marked(kind: str, suggested: str = "", p: float | None = None) -> Mark:
    """A row's :data:`MARK_COLUMNS`: its ``kind`` of proposal (:data:`PROPOSALS`), the class the
    audit suggests and its probability (4 places; "" for none)."""
    return kind, suggested, "" if p is None else f"{p:.4f}"


def merge_proposals(result: AuditResult, inv: Inventory) -> list[tuple[int, str, str, str]]:
    """``review`` into the other class for each readable image of a class of a likely merge
    (``AuditResult.merges``; :data:`MERGE_REASON`), but those flagged as another class or as
    none of the classes, whose own rows say so."""
    unreadable = {file.index for file in result.unreadable}
    no_class = {i.index for i in result.label_issues if i.no_class}
    proposals = []
    for merge in result.merges:
        own = no_class | {i.index for i in result.label_issues if i.suggested != merge.into}
        reason = MERGE_REASON.format(into=merge.into, words=merge.words(), name=merge.class_name)
        label = inv.classes.index(merge.class_name)
        proposals += [
            (index, REVIEW, merge.into, reason)
            for index, item in enumerate(inv.items)
            if item.label == label and index not in unreadable | own
        ]
    return proposals


def group_proposals(
    groups: list[DuplicateGroup],
    action: str,
    reason: str,
    inv: Inventory,
    flags: tuple[dict[int, str], Mapping[int, int]],
) -> tuple[list[tuple[int, str, str, str]], list[tuple[int, str]]]:
    """``action`` for each image of a group but its first, linked to one kept before it (or, for
    ``keep``, to any), which ``reason`` names, saying when the image was flagged as a wrong label
    too (``flags``: the flagged images' suggested classes, and the files of pictures flagged
    together -> the file standing for each: :func:`copy_reason`); and the images of a chain like
    none kept before them, to keep, with their reason."""
    proposals, chained = [], []
    for group in groups:
        first = inv.rel(inv.items[group.indices[0]])
        stays = at_home(group, flags[0]) if action == "remove" else []
        for index, twin, sim in group_links(group, remove=action == "remove", stays=stays):
            if twin is None:
                chained.append((index, CHAIN_REASON.format(first=first, kind=group.kind)))
                continue
            said = copy_reason(reason, (index, twin, sim), group, inv, *flags, action=action)
            proposals.append((index, action, "", said))
    return proposals, chained


def acts_on(issue: LabelIssue) -> bool:
    """Whether the plan relabels on the label flag ``issue`` (:func:`label_proposal` by the flag
    alone, wherever the image is: :func:`held_out_doubt` is about whose decision a test label
    is, not about how sure the flag is): one rule for relabelling a flagged image and for
    choosing, of a picture's copies in two classes, the one in the class its flag suggests
    (``audit.copies.keep_order``)."""
    return label_proposal(issue, held_out=False)[0] == "relabel"


def undecided(group: DuplicateGroup, issues: Sequence[LabelIssue], inv: Inventory) -> bool:
    """Whether the copies of a near-duplicate ``group`` lie in two classes or more and one of
    them has a label flag (of ``issues``) that looks like another copy's class, which the plan
    does not act on (:func:`acts_on`): which label is right is a person's to choose."""
    return bool(weak_flags(group, issues, inv))


def weak_flags(
    group: DuplicateGroup, issues: Sequence[LabelIssue], inv: Inventory
) -> list[LabelIssue]:
    """The label flags (of ``issues``) of a ``group``'s copies that look like another copy's
    class and that the plan does not act on; none where the copies are in one class."""
    classes = {inv.items[m].label: inv.classes[inv.items[m].label] for m in group.indices}
    members = set(group.indices)
    return [
        issue
        for issue in issues
        if issue.index in members
        and issue.suggested in classes.values()
        and len(classes) > 1
        and not acts_on(issue)
    ]


def two_labels_keeps(result: AuditResult, inv: Inventory) -> list[tuple[int, str]]:
    """Each copy of the near-duplicate groups whose label is a person's to choose
    (:func:`undecided`) and its reason (``TWO_LABELS_REASON``)."""
    found = []
    for group in result.near_duplicates:
        if flags := weak_flags(group, result.label_issues, inv):
            found += [(m, two_labels_reason(m, group, flags, inv)) for m in group.indices]
    return found


def two_labels_reason(
    index: int, group: DuplicateGroup, flags: Sequence[LabelIssue], inv: Inventory
) -> str:
    """``TWO_LABELS_REASON`` for the copy ``index`` of ``group``: which copy is labelled what, and
    the label ``flags`` the plan would not relabel on."""

    def label(m: int) -> str:
        return inv.classes[inv.items[m].label]

    others = [m for m in group.indices if m != index]
    copies = ", ".join(f"{inv.rel(inv.items[m])} is labelled {label(m)}" for m in others)
    named = "; ".join(
        f"{inv.rel(inv.items[f.index])} may be {f.suggested}, p(suggested)={f.prob_suggested:.2f}"
        for f in flags
    )
    said = f"the label flag ({named}) is" if len(flags) == 1 else f"the label flags ({named}) are"
    return TWO_LABELS_REASON.format(
        kind=group.kind,
        mine=label(index),
        others=f"{'its copy' if len(others) == 1 else 'its copies'} {copies}",
        flags=said,
    )


def label_proposals(
    result: AuditResult, inv: Inventory, removed: Collection[int] = ()
) -> list[tuple[int, str, str, str, Mark]]:
    """The plan's image, action, new class and reason for each label flag: relabel or keep, or
    keep as a person settled it in an earlier plan (``reviewed.csv``). The copies of a picture
    flagged together take one decision, the one of the file standing for it
    (``LabelIssue.picture``), not each its own: each copy lies a little nearer or farther from
    the suggested class, and near a threshold one frame of a burst would be relabelled and the
    next left to review. A copy whose label a person settled keeps it. Each row says so
    (:data:`PICTURE_NOTE`), with how many of the copies the plan ``removed`` as copies."""
    reviewed = read_reviewed(inv.root)
    standing = {picture_key(issue): issue for issue in one_per_picture(result.label_issues)}
    copies: dict[int | str, list[int]] = {}
    for issue in result.label_issues:
        copies.setdefault(picture_key(issue), []).append(issue.index)
    proposals = []
    for issue in result.label_issues:
        decided = standing[key := picture_key(issue)]
        settled = settled_at(inv, issue.index, reviewed)
        action, new_class, reason = label_proposal(replace(decided, split=issue.split), settled)
        note = picture_note(decided, copies[key], removed, inv)
        mark = marked(
            label_kind(decided, action, settled), decided.suggested, decided.prob_suggested
        )
        proposals.append((issue.index, action, new_class, reason + note, mark))
    return proposals


def label_kind(issue: LabelIssue, action: str, settled: str | None) -> str:
    """The ``proposal`` of a label flag's row (:data:`PROPOSALS`), as :func:`label_proposal`
    decided it (``action``; ``settled``: where a person settled its label)."""
    if settled is not None:
        return SETTLED_KIND
    if issue.no_class:
        return NO_CLASS_KIND
    if action == "relabel":
        return RELABEL_KIND
    if issue.too_few:
        return TOO_FEW_KIND
    return FLAG_KIND if issue.prob_suggested >= RELABEL_MIN_PROB else WEAK_KIND


PICTURE_NOTE = "; one picture in {n} files (plan.csv's picture: {picture}): {how}"
"""What the plan's reason of a label flag adds where the flag's picture is in copies flagged
together (:func:`picture_note`): that one decision covers them, and what the plan does with
each."""


def picture_note(
    standing: LabelIssue, copies: Sequence[int], removed: Collection[int], inv: Inventory
) -> str:
    """:data:`PICTURE_NOTE` for a label flag of the picture ``standing`` stands for (the flag
    the picture's decision is taken on), flagged in ``copies`` (their places in the inventory),
    "" for a photo of its own: the plan keeps one of them and ``removed`` the others as copies,
    or proposes the same for each file it keeps."""
    if len(copies) < 2:
        return ""
    gone = sum(index in removed for index in copies)
    kept = len(copies) - gone
    if kept == 1:
        how = f"the plan keeps one file of it and removes the other {gone} as copies"
    else:
        how = f"the plan proposes the same for each of the {kept} it keeps" + (
            f" and removes the other {gone} as copies" if gone else ""
        )
        how += ": change them together"
    picture = inv.rel(inv.items[standing.index])
    return PICTURE_NOTE.format(n=len(copies), picture=picture, how=how)


UNREADABLE_REMOVED = (
    "; no command can read it (split and train leave it out): removed, set keep to copy it all "
    "the same"
)
"""The end of the reason of a file the plan removes as unreadable."""


def outlier_proposal(outlier: Outlier) -> tuple[str, str, str]:
    """The plan's action, new class and reason for an outlier: ``keep``, to look at."""
    return "keep", "", OUTLIER + outlier.reason


UNREADABLE_KEPT = (
    "; a photo, not a damaged file: once pillow-heif is installed (`pip install "
    "'objrec[heic]'`) every command reads it: kept, set remove to leave it out"
)
"""The end of the reason of a HEIC or HEIF photo the plan keeps, unreadable only for want of
pillow-heif (``images.decoder_missing``)."""


def unreadable_proposal(file: Unreadable) -> tuple[str, str, str]:
    """The plan's action, new class and reason for a file that cannot be read (an empty one, a
    text file named .jpg): ``remove``; kept, it travels into the fixed copy, where every command
    leaves it out again. But ``keep`` a HEIC or HEIF photo that only wants pillow-heif
    (``images.decoder_missing``): removed, a person's good photos were lost from the copy, and
    stayed lost once pillow-heif was installed (session 61's review)."""
    if decoder_missing(file.reason):
        return "keep", "", file.reason + UNREADABLE_KEPT
    return "remove", "", file.reason + UNREADABLE_REMOVED


def identical_copies(groups: list[DuplicateGroup], inv: Inventory) -> list[tuple[int, str, str]]:
    """Each image of the ``groups`` (within a class and split) with the same bytes as one before
    it in its group (``audit.copies.keep_order``: the original first, as ``check`` and ``split``
    name it), the plan's ``remove`` and its reason naming that one. None where the digests are
    unknown (``inv.digests`` empty)."""
    return [
        (index, "remove", IDENTICAL_REASON.format(first=inv.rel(inv.items[original])))
        for group in groups
        for index, original in byte_copies(group, inv).items()
    ]


def byte_copies(group: DuplicateGroup, inv: Inventory) -> dict[int, int]:
    """Each image of ``group`` with the same bytes as one before it in the group, and that one
    (the first of those bytes); none where the digests are unknown (``inv.digests`` empty)."""
    first: dict[str, int] = {}
    copies = {}
    for index in group.indices if inv.digests else []:
        original = first.setdefault(inv.digests[index], index)
        if original != index:
            copies[index] = original
    return copies


def kept_firsts(result: AuditResult, inv: Inventory) -> list[tuple[int, str, str]]:
    """The first image of each near-duplicate and look-alike group, the one the plan keeps, its
    reason (``KEPT_REASON``, naming the first few others) and its kind of proposal."""
    found = []
    for groups, words, kind in (
        (result.near_duplicates, ("copy", "near-duplicate group", "copies", KEPT_COPY), COPY_KIND),
        (result.look_alikes, ("image", "look-alike group", "look-alikes", ""), LOOK_ALIKE_KIND),
    ):
        for group in groups:
            first, *others = group.indices
            names = ", ".join(quoted(inv.rel(inv.items[m])) for m in others[:KEPT_NAMED])
            if len(others) > KEPT_NAMED:
                names += f" and {len(others) - KEPT_NAMED} more"
            said = dict(zip(("one", "group", "others", "then"), words, strict=True))
            n = len(others) + 1
            reason = KEPT_REASON.format(kind=group.kind, n=n, names=names, **said)
            found.append((first, reason, kind))
    return found


def plan_row(
    inv: Inventory,
    index: int,
    action: str,
    new_class: str,
    reason: str,
    picture: int | None = None,
) -> dict:
    """The plan's row proposing ``action`` for the image ``index`` of ``inv``; ``picture``: the
    file that stands for its picture (``audit.copies.PictureNames``; None: the image, a photo of its
    own)."""
    item = inv.items[index]
    return {
        "file": inv.rel(item),
        "class": inv.classes[item.label],
        "split": item.split or "",
        "action": action,
        "new_class": new_class,
        "reason": reason,
        "digest": inv.digests[index] if inv.digests else "",  # the audit's, not hashed again
        "picture": inv.rel(inv.items[index if picture is None else picture]),
    }


def harmless_copies(
    groups: list[DuplicateGroup], flagged: dict[int, str], is_split: bool
) -> tuple[list[DuplicateGroup], list[DuplicateGroup], list[DuplicateGroup]]:
    """The near-duplicate ``groups`` whose copies the plan removes as leaks (across splits or
    classes, or with an image ``flagged`` as a wrong label); those within one class of a folder
    not split yet that ``split`` would not keep in one split (alike by their features only:
    ``split_keeps``), removed too; and those it keeps: within one class and split, which leak
    nothing (and a burst's frames are training data). Of a group across splits or classes, only
    the copies outside the kept copy's split and class leak: those in them (:func:`at_home`) are
    kept as a group within one class and split too (:func:`home_group`), so that the one leaking
    copy of a burst in test no longer costs train the burst's other frames."""

    def fate(group: DuplicateGroup) -> int:
        if group.kind != "within class" or flagged.keys() & set(group.indices):
            return 0
        return 2 if is_split or group.split_keeps else 1

    parts: tuple[list[DuplicateGroup], list[DuplicateGroup], list[DuplicateGroup]] = ([], [], [])
    for group in groups:
        parts[fate(group)].append(group)
        if home := at_home(group, flagged):
            parts[2].append(home_group(group, home))
    return parts


def at_home(group: DuplicateGroup, flagged: Mapping[int, str]) -> list[int]:
    """The copies of a near-duplicate ``group`` across splits or classes that lie in the split
    and class of the copy the plan keeps (its first), which leak nothing (docs/audit.md's
    "copies within one class and one split"); none for a group within one class, or with an
    image ``flagged`` as a wrong label, whose copies the plan removes whatever their place."""
    if group.kind == "within class" or flagged.keys() & set(group.indices):
        return []
    places = list(zip(group.indices, group.splits, group.classes, strict=True))
    _, split, label = places[0]
    return [index for index, s, c in places[1:] if (s, c) == (split, label)]


def home_group(group: DuplicateGroup, home: Collection[int]) -> DuplicateGroup:
    """The part of ``group`` in its kept copy's split and class: its first and ``home``
    (:func:`at_home`), the pairs linking them, a group within one class, whose copies the plan
    keeps (or removes as the same bytes: :func:`identical_copies`)."""
    keep = [k for k, index in enumerate(group.indices) if k == 0 or index in home]
    members = {group.indices[k] for k in keep}
    return replace(
        group,
        paths=[group.paths[k] for k in keep],
        splits=[group.splits[k] for k in keep],
        classes=[group.classes[k] for k in keep],
        kind="within class",
        indices=[group.indices[k] for k in keep],
        pairs={pair: sim for pair, sim in group.pairs.items() if members.issuperset(pair)},
    )


def label_proposal(
    issue: LabelIssue, settled: str | None = None, held_out: bool = True
) -> tuple[str, str, str]:
    """The plan's action, new class and reason for a flagged label: ``relabel`` to the suggested
    class where its probability reaches ``RELABEL_SURE_PROB``, else ``review`` (a person's to
    decide, the suggested class its new_class: :data:`ACTIONS`), less sure from
    ``RELABEL_MIN_PROB`` (:func:`sure_doubt`); review too, whatever the probability, where the
    evidence says more about the classes' sizes than about the image (:func:`size_doubt`), the
    votes are split between the given and the suggested class (:func:`split_doubt`), or the two
    are a pair the heads mistake for each other both ways (:func:`mixed_doubt`); kept as a
    person ``settled`` it (where the image was then: :func:`settled_at`) whatever they say;
    review with no new class where the photo lies far from every class's photos
    (:data:`NO_CLASS_REASON`); review, with ``held_out``, in the test or validation split
    (:func:`held_out_doubt`)."""
    p, suggested = issue.prob_suggested, issue.suggested
    if settled is not None:
        said = {"given": issue.given, "file": settled, "evidence": issue.evidence}
        return "keep", "", SETTLED_REASON.format(suggested=suggested, p=p, **said)
    if issue.no_class:
        z = issue.nearest_z or 0.0
        return (
            REVIEW,
            "",
            NO_CLASS_REASON.format(z=z, suggested=suggested, p=p, evidence=issue.evidence),
        )
    doubt = size_doubt(issue) or split_doubt(issue) or mixed_doubt(issue) or sure_doubt(issue)
    if p >= RELABEL_MIN_PROB and held_out:  # a relabel but for where the image is
        doubt = doubt or held_out_doubt(issue)
    if p >= RELABEL_MIN_PROB and not doubt:
        return "relabel", suggested, issue.evidence
    reason = REVIEW_REASON.format(suggested=suggested, p=p, evidence=issue.evidence)
    return REVIEW, suggested, reason.replace("; relabel if so", f"{doubt}; relabel if so", 1)


HELD_OUT = {
    "test": "a test image: its label is what the model is scored against",
    "valid": (
        "a validation image: its label chooses the run's epoch, temperature and unknown threshold"
    ),
}
"""Why a flag of the split is left to review (:func:`held_out_doubt`), by split."""


def held_out_doubt(issue: LabelIssue) -> str:
    """The clause of the plan's reason when the flagged image is in the test or the validation
    split, or "": its label is changed by a person, not by the frozen features the model answers
    with. A relabel wrong there (about 1 in 20 at p(suggested) 0.7 or more, ``RELABEL_MIN_PROB``'s
    measurement) turns the label into what those features say, flattering every later score;
    a plan of a split folder pre-filled `test/crab/image_0901.jpg relabel sunflower` unread."""
    if issue.split not in HELD_OUT:
        return ""
    return (
        f", but it is {HELD_OUT[issue.split]}, so a person changes it, not the features the "
        "model answers with (a wrong relabel would flatter every later score)"
    )


def sure_doubt(issue: LabelIssue) -> str:
    """The clause of the plan's reason (:data:`LESS_SURE`) when the suggested class's
    probability reaches ``RELABEL_MIN_PROB`` but not ``RELABEL_SURE_PROB``, or "": from 0.5 to
    0.7, 34 of 47 such suggestions were the true class (``benchmarks/audit.py
    --relabel-table``, seeds 1 and 0), so a plan applied as it comes made right labels wrong."""
    if RELABEL_MIN_PROB <= issue.prob_suggested < RELABEL_SURE_PROB:
        return LESS_SURE
    return ""


def sureness_counts(
    plan: list[dict[str, str]], result: AuditResult, inv: Inventory
) -> dict[str, int]:
    """Of the plan's rows to review a label flag, how many suggest a class from
    ``RELABEL_MIN_PROB`` to ``RELABEL_SURE_PROB`` (``less_sure``) and how many below it
    (``unsure``), whatever doubt their reason gives first: counting the rows whose reason says
    :data:`LESS_SURE` said "1 less sure, p(suggested) under 0.7" of 35 rows, 15 of them under
    0.7, the split votes' and the weak suggestions' not counted. A row is a label flag by its
    ``proposal`` (:data:`LABEL_FLAG_KINDS`) and its p by its ``p_suggested``; a row without them
    by its reason (:data:`REVIEWED`) and its flag in ``result``."""
    probs = {inv.rel(inv.items[i.index]): i.prob_suggested for i in result.label_issues}
    flags = [
        r
        for r in plan
        if r["action"] == REVIEW
        and of_kind(r, LABEL_FLAG_KINDS, lambda reason: reason.startswith(REVIEWED))
    ]
    p = [q for r in flags if (q := flag_p(r, probs)) is not None]
    less_sure = sum(RELABEL_MIN_PROB <= q < RELABEL_SURE_PROB for q in p)
    return {"less_sure": less_sure, "unsure": sum(q < RELABEL_MIN_PROB for q in p)}


def flag_p(row: Mapping[str, str], probs: Mapping[str, float]) -> float | None:
    """A label flag's p(suggested): its row's ``p_suggested``, else (a row without it) its
    flag's in ``probs`` (file -> p), else None."""
    if proposal_of(row) is not None and (p := (row.get("p_suggested") or "").strip()):
        return float(p)
    return probs.get(row["file"])


def split_doubt(issue: LabelIssue) -> str:
    """The clause of the plan's reason when the votes are split between the given and the
    suggested class (the suggested one under ``RELABEL_MIN_RATIO`` times as probable), or "".
    It names no probability: the evidence that follows gives both, rounded from the unrounded
    ones (``prob_given`` is rounded to 4 places, and 0.2050 would show as 0.20 beside 0.21). Its
    first words say what to do with it (the label may be right), the measure after them: a student
    read "scissors is not far behind (p(given) over a fifth of p(suggested))" and had still to
    work out that the scissors were likely scissors (newcomer61b)."""
    if issue.prob_suggested >= RELABEL_MIN_RATIO * issue.prob_given:
        return ""
    return (
        f", but {issue.given} is close behind, so it may well be {issue.given} as labelled (the "
        "votes are split between the two classes, p(given) over a fifth of p(suggested), as for "
        "an unusual picture of either)"
    )


def mixed_doubt(issue: LabelIssue) -> str:
    """The clause of the plan's reason when the given and the suggested class are mistaken for
    each other both ways by the heads and neighbours that never saw the photos (``mixed``:
    ``audit.labels.mixed_both_ways``), or "". Between such look-alikes (a crocodile and a
    crocodile's head) the relabels were right for 37 of 85 planted-noise flags
    (``benchmarks/audit_planted.py --plan-pairs 1``, pairs regime, seeds 1-12), against 203 of 230
    between other classes."""
    if not issue.mixed:
        return ""
    return (
        f", but {issue.given} and {issue.suggested} are mistaken for each other both ways "
        "(a look-alike pair, where such relabels were wrong more often than right)"
    )


def size_doubt(issue: LabelIssue) -> str:
    """Why a flagged label's evidence is not enough to relabel it unread (a clause of the plan's
    reason), or "": the image is unlike the suggested class's images too (``suggested_z`` above
    ``RELABEL_MAX_Z``: an unusual picture's nearest images, and the heads, lean to whichever
    class is most of the folder), or its class has too few images for the neighbour vote to
    vouch for it (``class_images`` under ``RELABEL_MIN_CLASS``)."""
    z, n = issue.suggested_z, issue.class_images
    if z is not None and z > RELABEL_MAX_Z:
        return (
            f", but it is unlike {issue.suggested}'s images too (distance z={z:.1f} among "
            "them): an unusual picture, which the votes give to the class most of its "
            "surroundings are"
        )
    if n is not None and n < RELABEL_MIN_CLASS:
        return (
            f", but {issue.given} has only {plural(n, 'image')}: too few to fill the "
            f"{dedup.NEIGHBOURS} nearest images the vote counts without the image itself"
        )
    return ""


def group_links(
    group: DuplicateGroup, remove: bool, stays: Collection[int] = ()
) -> list[tuple[int, int | None, float]]:
    """Each image of a group but its first (``audit.copies.keep_order``'s), the image its reason
    names, and their similarity: the first, the copy the plan keeps, where the two are linked
    directly (two copies of a group of three named each other, not the one kept), else the one it is
    most like of those it is linked to directly. ``remove``: of those kept before it, and None for
    one like none of them: in a chain (A like B, B like C, C unlike A), C was removed as a copy of
    A, though another picture; it is kept, and counts as kept after it. ``stays``: images kept
    whatever they are like (:func:`at_home`), left out, and counted as kept from the start."""
    first, *others = group.indices
    kept = [first, *stays]
    found: list[tuple[int, int | None, float]] = []
    for index in (m for m in others if m not in stays):
        sims = group.pairs
        near = [
            (sims[key], other)
            for other in (kept if remove else group.indices)
            if (key := dedup.pair_key(index, other)) in sims
        ]
        if near:  # the first kept where linked to it, else the most alike (of equals, the first)
            sim, twin = max(
                near, key=lambda pair: (pair[1] == first, pair[0], -group.indices.index(pair[1]))
            )
            found.append((index, twin, sim))
        else:
            kept.append(index)
            found.append((index, None, 0.0))
    return found


def flagged_note(
    index: int,
    group: DuplicateGroup,
    inv: Inventory,
    flagged: dict[int, str],
    together: bool = False,
) -> str:
    """What the plan's reason for removing ``index``, a copy in ``group``, adds when the label
    audit flagged it (``flagged``: index -> suggested class): that it was flagged ``together``
    with the copy the plan keeps, one picture, whose row decides the picture's label; that a copy
    is already in the class it looks like (why ``audit.copies.keep_order`` removed this copy and
    kept that one); or only that it was flagged (a removed copy needs no relabel). Nothing for a
    copy not flagged."""
    suggested = flagged.get(index)
    if suggested is None:
        return ""
    if together:
        kept = inv.rel(inv.items[group.indices[0]])
        return (
            f"; flagged with {kept} as one picture (looks like {suggested}): {kept}'s row "
            "decides the picture's label"
        )
    classes = {inv.classes[inv.items[m].label] for m in group.indices if m != index}
    if suggested in classes:
        return (
            f"; flagged as a wrong label (looks like {suggested}), and a copy of it is in "
            f"{suggested} already: this copy is removed, not relabelled"
        )
    return f"; also flagged as a wrong label (looks like {suggested})"


def copy_reason(
    reason: str,
    link: tuple[int, int, float],
    group: DuplicateGroup,
    inv: Inventory,
    flagged: dict[int, str],
    pictures: Mapping[int, int] | None = None,
    *,
    action: str,
) -> str:
    """The plan's reason for the copy ``link`` names in ``group`` (its index, the image it is
    like and their similarity) from the group's ``reason``, and what it adds: when the
    ``action`` is ``remove``, the label the copy drops (:func:`other_label_note`); when ``keep``
    and the image named is not the copy the plan keeps of the group (its first), that one;
    whether it was flagged as a wrong label (:func:`flagged_note`), and with the copy kept, as
    one picture (``pictures``: the files of pictures flagged together -> the file standing for
    each)."""
    index, twin, sim = link
    kind = link_kind(group, index, twin) if action == "remove" else group.kind
    said = reason.format(first=inv.rel(inv.items[twin]), kind=kind, sim=sim)
    dropped = other_label_note(index, twin, inv, flagged) if action == "remove" else ""
    kept = group.indices[0]
    if action == "keep" and twin != kept:  # like another copy only: the one kept named too
        dropped += f"; the copy the plan keeps of its group is {inv.rel(inv.items[kept])}"
    together = (pictures or {}).get(index, -1) == (pictures or {}).get(kept, -2)
    return said + dropped + flagged_note(index, group, inv, flagged, together)


def link_kind(group: DuplicateGroup, index: int, twin: int) -> str:
    """Whether the copy ``index`` of ``group`` and ``twin``, the copy its reason names, lie
    ``across splits``, ``across classes`` or ``within class``: the pair's own, which a removed
    copy's reason says (a group across splits has copies in one split and class too)."""
    a, b = group.indices.index(index), group.indices.index(twin)
    if group.splits[a] != group.splits[b]:
        return "across splits"
    return "across classes" if group.classes[a] != group.classes[b] else "within class"


def other_label_note(index: int, kept: int, inv: Inventory, flagged: dict[int, str]) -> str:
    """What the plan's reason for removing ``index``, a copy of ``kept`` (the copy it keeps), adds
    where the two are labelled differently (``OTHER_LABEL_REASON``): which label the plan keeps,
    and how to keep the other. Nothing where they agree, where ``index``'s label flag looks like
    ``kept``'s class (:func:`flagged_note` says why that copy goes), or where ``kept`` is flagged
    (its own row relabels it, or says to review its label)."""
    mine, theirs = (inv.classes[inv.items[m].label] for m in (index, kept))
    if mine == theirs or flagged.get(index) == theirs or kept in flagged:
        return ""
    return OTHER_LABEL_REASON.format(mine=mine, theirs=theirs, kept=inv.rel(inv.items[kept]))


def write_plan(rows: list[dict[str, str]], path: Path) -> None:
    """The plan's ``rows``, each text that a spreadsheet would take for a formula (a file named
    ``=cmd.png``) with a ``'`` before it (``tables.spreadsheet_cell``), which
    ``applying.plan_file.read_plan`` takes off again."""
    with path.open("w", newline="", encoding=CSV_ENCODING) as f:  # read_plan reads both
        writer = csv.DictWriter(f, PLAN_COLUMNS)
        writer.writeheader()
        writer.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in rows)

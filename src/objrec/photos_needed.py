"""Which classes most need more or better photos, and why, from the audit's out-of-fold evidence.

The audit judges every image by heads that never saw it and by its nearest other images
(``audit.labels.judge_labels``); how often those recognise a class's own photos is a cross-validated
recall that needs no test split, and which class takes its photos says what it is confused with.
``class_evidence`` measures every class, ``in_need`` lists those more photos would help (few
photos, photos not recognised), ranked by those reasons (the least recognised of those not
recognised enough first, then the fewest photos of those with few), and says them in words, with
the class each is confused with and its label flags to fix first: a wrong label is fixed in the
plan, not by more photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from objrec.audit.findings import ClassRecall, PhotosNeeded
from objrec.dedup import NEIGHBOURS
from objrec.words import plural

FEW_PHOTOS = NEIGHBOURS + 1
"""Distinct photos under which a class is said to have few: it cannot fill the 10 nearest images
the audit's neighbour vote counts (``audit.plan.RELABEL_MIN_CLASS``), and a default 50/25/25
split gives it fewer than 3 validation and 3 test photos (``ratios.photos_for``)."""
RECOGNISED_SHARE = 0.8
"""Share of a class's unflagged photos the heads and neighbours must recognise for it not to be
listed for that reason."""
CONFUSED_MIN = 2
"""Photos of a class another class must take for it to be named as confused with it."""
LEAST_NAMED = 3
"""Classes named as the least recognised when none is listed (:func:`none_listed_words`)."""


@dataclass
class ClassNeed:
    """One class's evidence: its distinct photos and its images, how many of its unflagged
    photos the out-of-fold answer recognised, its label flags, and the class that takes most of
    the rest. Photos are distinct (near-duplicates counted once: the audit judges one row a
    picture, ``audit.copies.Pictures``), ``images`` and ``missed_images`` count files."""

    name: str
    photos: int
    images: int
    judged: int
    recognised: int
    flagged: int
    confused_with: str = ""
    confused: int = 0
    confused_images: list[int] = field(default_factory=list)
    """The indices of the ``confused`` photos, those that look like ``confused_with``."""
    reasons: list[str] = field(default_factory=list)
    missed_images: int = 0
    """The files of its unflagged photos not recognised, their copies included."""

    def listed(
        self, paths: Sequence[str] = (), places: Sequence[int] | np.ndarray = ()
    ) -> PhotosNeeded:
        """The class as ``photos_needed.csv`` lists it: the images that look like the class it
        is confused with named by ``paths`` (each image's) and placed by ``places`` (each
        image's place in the audit's inventory, which the page reads). "2 of its images look
        like it" alone names no photo anywhere."""
        return PhotosNeeded(
            class_name=self.name,
            photos=self.photos,
            images=self.images,
            recognised=self.recognised,
            judged=self.judged,
            flagged=self.flagged,
            confused_with=self.confused_with,
            confused_photos=[paths[i] for i in self.confused_images] if paths else [],
            reason="; ".join(self.reasons),
            confused=[int(places[i]) for i in self.confused_images] if len(places) else [],
        )


def in_need(evidence: Sequence[ClassNeed]) -> list[ClassNeed]:
    """The classes of ``evidence`` with a reason to add or retake photos, most in need first."""
    return sorted((need for need in evidence if need.reasons), key=need_rank)


def class_evidence(
    labels: np.ndarray,
    answers: np.ndarray,
    photos: np.ndarray,
    flagged: np.ndarray,
    classes: Sequence[str],
    sizes: np.ndarray | None = None,
) -> list[ClassNeed]:
    """Every class's evidence and reasons to add or retake photos (none for most), in class order.

    ``labels`` and ``answers`` (each photo's given class and the out-of-fold answer's), ``photos``
    (each class's distinct photos), ``flagged`` (a mask of the photos flagged as wrong labels,
    left out of the recognised share: a wrong label says nothing of its class's photos),
    ``sizes`` (each photo's files, its copies included; 1 each when None)."""
    sizes = np.ones(len(labels), dtype=np.int64) if sizes is None else np.asarray(sizes)
    needs = []
    for c in np.unique(labels).tolist():
        mine = (labels == c) & ~flagged
        taken = np.bincount(answers[mine & (answers != c)], minlength=len(classes))
        need = ClassNeed(
            classes[c],
            int(photos[c]),
            int(sizes[labels == c].sum()),
            int(mine.sum()),
            int((answers[mine] == c).sum()),
            int(((labels == c) & flagged).sum()),
            missed_images=int(sizes[mine & (answers != c)].sum()),
        )
        if taken.max(initial=0) >= CONFUSED_MIN:
            other = int(taken.argmax())
            need.confused_with, need.confused = classes[other], int(taken.max())
            need.confused_images = np.flatnonzero(mine & (answers == other)).tolist()
        need.reasons = need_reasons(need)
        needs.append(need)
    return needs


def least_recognised(evidence: Sequence[ClassNeed], count: int = LEAST_NAMED) -> list[ClassRecall]:
    """The ``count`` classes whose photos heads that never saw them recognised least (by share,
    then by name), of those with photos judged: what an audit that lists no class in
    photos_needed.csv can still name. A class recognised above :data:`RECOGNISED_SHARE` is not
    short of photos by the audit's measure, but may score lower on a test split of few photos
    (docs/audit.md), and these are the first to look at. A class whose every photo was
    recognised is never named: "recognised least: ant, 10 of 10 photos (100%)" says nothing."""
    judged = [need for need in evidence if need.recognised < need.judged]
    judged.sort(key=lambda need: (need.recognised / need.judged, need.name))
    return [ClassRecall(need.name, need.recognised, need.judged) for need in judged[:count]]


def none_listed_words(
    least: Sequence[ClassRecall], not_judged: str = "", merged: Sequence[str] = ()
) -> str:
    """Why photos_needed.csv lists no class, in one sentence for the page and the terminal, and
    the least recognised classes (``least``): the page said "None: no class lacks photos, is
    poorly recognised or has label flags" of an audit with 10 label flags (which list no class
    since), and the terminal said nothing, while a class scored 71-77% on test (newcomer58, 2).
    ``not_judged``: why the audit judged no label, when it did not (nothing is measured then);
    ``merged``: the classes a likely merge leaves out of the list."""
    if not_judged:
        return f"none listed, as nothing was measured ({not_judged})"
    share = f"{RECOGNISED_SHARE:.0%}"
    but = f" but {', '.join(merged)} (likely merged)" if merged else ""
    said = (
        f"none listed: every class{but} has {FEW_PHOTOS} or more distinct photos, and heads that "
        f"never saw them recognised {share} or more of each class's photos (label flags list no "
        "class: a wrong label is fixed in plan.csv, not by more photos)"
    )
    named = "; ".join(recall.words() for recall in least if recall.class_name not in merged)
    if not named:
        return said
    return (
        f"{said}. Recognised least: {named}; a class that scores lower on its test photos is "
        "worth more photos even so"
    )


def need_rank(need: ClassNeed) -> tuple:
    """Where a class comes in the list: by its reasons, each counted only as a reason (a share
    recognised over :data:`RECOGNISED_SHARE`, or photos of :data:`FEW_PHOTOS` or more, ranks none
    above another), then by its share and photos. Its label flags rank it nowhere: more photos
    do not fix them."""
    share = need.recognised / max(need.judged, 1)
    few = min(need.photos, FEW_PHOTOS)
    return (min(share, RECOGNISED_SHARE), few, share, need.photos, need.name)


def need_reasons(need: ClassNeed) -> list[str]:
    """What a class lacks, in words: few photos, its photos not recognised, the class most of its
    unrecognised photos look like, and its label flags to fix first; none without one of the
    first two, the reasons more photos would fix (a confusion alone, one or two photos of a well
    recognised class, is not a reason to list it, nor are label flags alone: those relabelling
    fixes, not photos).
    Distinct photos (a picture's copies once) are said as photos, files as images, so that one
    word counts one thing in a line. The photos are counted by those missed, the reason the
    class is listed ("6 of its 27 photos not recognised"; the CSV's ``recognised``
    and ``of`` give the others), their files too where copies make them more."""
    reasons = []
    if need.photos < FEW_PHOTOS:
        reasons.append(f"only {few_photos_words(need)} (add photos: {FEW_PHOTOS} or more)")
    if need.judged and need.recognised < RECOGNISED_SHARE * need.judged:
        missed = need.judged - need.recognised
        files = f" ({plural(need.missed_images, 'image')} with their copies)"
        reasons.append(
            f"{missed} of its {plural(need.judged, 'photo')}"
            f"{files if need.missed_images > missed else ''} not recognised by heads that never "
            "saw them (add varied photos)"
        )
    if reasons and need.confused_with:
        reasons.append(
            f"confused with {need.confused_with} ({need.confused} of its photos look like it: "
            "add photos that tell them apart)"
        )
    if reasons and need.flagged:
        labels = "label" if need.flagged == 1 else "labels"
        them = "it" if need.flagged == 1 else "them"
        reasons.append(
            f"{need.flagged} {labels} flagged as likely wrong: fix {them} in plan.csv first "
            "(label_issues.csv; more photos do not fix a label)"
        )
    return reasons


def few_photos_words(need: ClassNeed) -> str:
    """``6 photos``, or ``3 distinct photos in 12 images`` where near-duplicates are many."""
    if need.images <= need.photos:
        return plural(need.photos, "photo")
    return f"{plural(need.photos, 'distinct photo')} in {plural(need.images, 'image')}"

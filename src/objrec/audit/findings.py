"""The audit's findings as typed records, read by attribute across ``audit``, ``audit.report``
and the CLI; each one's ``row()`` gives the columns its CSV and ``--json`` show."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from objrec.words import plural


@dataclass(frozen=True)
class DuplicateGroup:
    """A group of near-duplicates (or of look-alikes): its images, the copy to keep first
    (``audit.copies.keep_order``), and what links them."""

    paths: list[str]
    """Each image's path in the audited folder as given (``data/test/red/x.png``)."""
    splits: list[str | None]
    """Each image's split (None in a folder not split)."""
    classes: list[str]
    """Each image's class."""
    similarity: float
    """The lowest feature similarity of the pairs linked directly, rounded to 4 places."""
    hash_distance: int
    """The largest perceptual-hash distance of those pairs, in bits."""
    crop_distance: int
    """The largest crop-hash distance of those pairs, in bits."""
    kind: str
    """``across splits``, ``across classes`` or ``within class``."""
    indices: list[int] = field(default_factory=list)
    """Each image's place in the audit's inventory, which the plan and the page read."""
    pairs: Mapping[tuple[int, int], float] = field(default_factory=dict)
    """The similarity of each pair of them linked directly, by ``dedup.pair_key`` of their
    ``indices``."""
    split_keeps: bool = False
    """Whether ``split`` keeps them in one split (``audit.copies.split_keeps``)."""

    def row(self) -> dict[str, Any]:
        """The group as near_duplicates.csv (or look_alikes.csv) and ``--json`` show it, before
        the paths are made relative and the lists joined."""
        return {
            "paths": list(self.paths),
            "splits": list(self.splits),
            "classes": list(self.classes),
            "similarity": self.similarity,
            "hash_distance": self.hash_distance,
            "crop_distance": self.crop_distance,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Outlier:
    """An image far from its class or from everything, or degenerate (tiny, nearly blank, oddly
    shaped)."""

    path: str
    """Its path in the audited folder as given."""
    score: float
    """The larger of its two robust z-scores (far from every image, far within its class), 0 at
    least; 0 for a degenerate image whose distances are ordinary."""
    reason: str
    """Why, in words (``far from its class (k-NN distance z=4.1 within class)``, ``tiny (...)``)."""
    class_name: str
    """Its class."""
    split: str | None
    """Its split (None in a folder not split)."""
    index: int = -1
    """Its place in the audit's inventory, which the plan and the page read."""
    degenerate: bool = False
    """Tiny, nearly blank or oddly shaped, rather than far."""
    picture: int = -1
    """The place in the audit's inventory of the file that stands for its picture
    (``audit.copies.Pictures``, ``audit.copies.PictureNames``): the copies of one photo share it,
    and are one finding (-1: its own)."""
    copies: int = 1
    """The outliers of its picture, itself included: one finding said once."""
    picture_path: str = ""
    """The path, as given, of the file ``picture`` places ("": its own)."""

    def row(self) -> dict[str, Any]:
        """The outlier as outliers.csv and ``--json`` show it, before its paths are made
        relative."""
        return {
            "path": self.path,
            "score": self.score,
            "reason": self.reason,
            "class": self.class_name,
            "split": self.split,
            **picture_columns(self),
        }


@dataclass(frozen=True)
class LabelIssue:
    """An image whose label the audit flags as likely wrong (``audit.labels.label_issue_rows``): the
    columns label_issues.csv shows, where the image is in the audit's inventory, and what makes
    its flag doubtful (``audit.labels.with_doubts``), which the plan weighs
    (``audit.plan.label_proposal``)."""

    path: str
    """Its path in the audited folder as given."""
    given: str
    """Its label."""
    suggested: str
    """The class it looks like: the most probable other than its label."""
    score: float = 0.0
    """How likely its label is wrong (cleanlab's, 0-1), rounded to 4 places."""
    split: str | None = None
    """Its split (None in a folder not split)."""
    prob_given: float = 0.0
    """The heads' and neighbours' probability of its label, rounded to 4 places."""
    prob_suggested: float = 0.0
    """Their probability of ``suggested``, rounded to 4 places."""
    evidence: str = ""
    """Those probabilities and the neighbours' vote, in words."""
    index: int = -1
    """Its place in the audit's inventory, which the plan and the page read."""
    like: list[int] = field(default_factory=list)
    """The places of up to 3 of its nearest images labelled ``suggested`` (the page's tiles)."""
    class_images: int | None = None
    """Its class's distinct images (None: not counted)."""
    suggested_z: float | None = None
    """How far it lies from the ``suggested`` class's images, as a robust z (None: not
    measured)."""
    too_few: bool = False
    """In a class of too few photos to judge it (``audit.labels.too_few_to_judge``)."""
    mixed: bool = False
    """Its class and ``suggested`` are mistaken for each other both ways
    (``audit.labels.mixed_both_ways``)."""
    nearest_z: float | None = None
    """How far it lies from the class it is nearest, as a robust z among that class's images
    (``audit.labels.nearest_class_z``; None: not measured)."""
    no_class: bool = False
    """It lies far from every class's images and no class claims it
    (``audit.labels.of_no_class``): a photo of none of the classes, to remove, rather than a
    wrong label to fix."""
    picture: int = -1
    """The place in the audit's inventory of the file that stands for its picture
    (``audit.copies.Pictures``, ``audit.copies.PictureNames``): the copies of one photo share it,
    and are flagged together (-1: its own)."""
    copies: int = 1
    """The files of its picture, itself included, each flagged with it: one flag said once."""
    picture_path: str = ""
    """The path, as given, of the file ``picture`` places ("": its own)."""

    def row(self) -> dict[str, Any]:
        """The flag as label_issues.csv and ``--json`` show it, before its paths are made
        relative."""
        return {
            "path": self.path,
            "given": self.given,
            "suggested": self.suggested,
            "score": self.score,
            "split": self.split,
            "prob_given": self.prob_given,
            "prob_suggested": self.prob_suggested,
            "evidence": self.evidence,
            **picture_columns(self),
        }


Finding = TypeVar("Finding", "LabelIssue", "Outlier")


def picture_columns(finding: LabelIssue | Outlier) -> dict[str, Any]:
    """The columns that tie a finding to its picture: ``picture``, the path of the file that
    stands for it (the finding's own for a photo of its own), and ``copies``, how many of the
    list's rows are that picture, itself included. A script groups the rows by ``picture``; a
    person reads ``copies`` above 1 as files flagged together, one finding."""
    return {"picture": finding.picture_path or finding.path, "copies": finding.copies}


def picture_key(finding: LabelIssue | Outlier) -> int | str:
    """What the findings of one picture share: its ``picture``, or a finding's own path where
    it has none (-1)."""
    return finding.picture if finding.picture >= 0 else finding.path


def one_per_picture(issues: Sequence[Finding]) -> list[Finding]:
    """One of each picture's flags or outliers (by :func:`picture_key`), in the place of its
    first: the file that stands for the picture where it is among them, else the first. A photo
    in 60 copies is one finding said once, by the name every output gives its picture, with its
    count of copies (``copies``)."""
    place: dict[int | str, int] = {}
    once: list[Finding] = []
    for issue in issues:
        key = picture_key(issue)
        if key not in place:
            place[key] = len(once)
            once.append(issue)
        elif issue.index == issue.picture:
            once[place[key]] = issue
    return once


@dataclass(frozen=True, kw_only=True)
class PhotosNeeded:
    """A class that needs more or better photos, as photos_needed.csv lists it
    (``photos_needed.ClassNeed.listed``): its evidence, its reasons in words, and the images
    that look like the class it is confused with."""

    class_name: str
    """The class."""
    photos: int = 0
    """Its distinct photos (near-duplicates counted once)."""
    images: int = 0
    """Its images."""
    recognised: int = 0
    """How many of its unflagged images the out-of-fold heads and neighbours recognised..."""
    judged: int = 0
    """... of how many (the CSV's ``of``)."""
    flagged: int = 0
    """Its label flags."""
    confused_with: str = ""
    """The class that takes most of the rest ("" when none takes 2)."""
    confused_photos: list[str] = field(default_factory=list)
    """Those images' paths in the audited folder as given."""
    reason: str = ""
    """Why it is listed, in words ("; " between reasons)."""
    confused: list[int] = field(default_factory=list)
    """Those images' places in the audit's inventory, which the page reads."""

    def row(self) -> dict[str, Any]:
        """The class as photos_needed.csv and ``--json`` show it, before its paths are made
        relative and joined."""
        return {
            "class": self.class_name,
            "photos": self.photos,
            "images": self.images,
            "recognised": self.recognised,
            "of": self.judged,
            "flagged": self.flagged,
            "confused_with": self.confused_with,
            "confused_photos": list(self.confused_photos),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ClassRecall:
    """How many of a class's unflagged distinct photos heads that never saw them recognised
    (``photos_needed.least_recognised``): said when no class is listed in photos_needed.csv, so
    that an empty list still names the classes to look at first."""

    class_name: str
    """The class."""
    recognised: int
    """Its unflagged photos recognised ..."""
    judged: int
    """... of how many."""

    def words(self) -> str:
        """``umbrella, 48 of 55 photos (87%)``."""
        share = self.recognised / max(self.judged, 1)
        return (
            f"{self.class_name}, {self.recognised} of {plural(self.judged, 'photo')} ({share:.0%})"
        )


@dataclass(frozen=True)
class LikelyMerge:
    """Two classes that look like one class in two folders (``audit.labels.likely_merges``):
    most of ``class_name``'s photos are taken for ``into`` by heads that never saw them, and lie
    among ``into``'s photos as its own do."""

    class_name: str
    """The class whose photos are taken for the other: the one to merge."""
    into: str
    """The class they are taken for: the one to merge it into."""
    taken: int
    """``class_name``'s distinct photos the out-of-fold answer takes for ``into``..."""
    photos: int
    """... of its distinct photos."""
    taken_back: int
    """``into``'s distinct photos taken for ``class_name``..."""
    into_photos: int
    """... of its distinct photos."""

    def row(self) -> dict[str, Any]:
        """The pair as ``--json``'s ``likely_merges`` and ``audit.json`` show it."""
        return {
            "class": self.class_name,
            "into": self.into,
            "taken": self.taken,
            "photos": self.photos,
            "taken_back": self.taken_back,
            "into_photos": self.into_photos,
        }

    def words(self) -> str:
        """The pair in words, as the terminal and the plan say it."""
        return (
            f"{self.class_name} and {self.into} look like one class in two folders: {self.taken} "
            f"of {self.class_name}'s {self.photos} photos are taken for {self.into} and lie among "
            f"its photos as its own do ({self.taken_back} of {self.into}'s {self.into_photos} "
            f"taken for {self.class_name})"
        )


@dataclass(frozen=True)
class Unreadable:
    """A file of the audited folder that no command can read (``audit.outliers.unreadable_rows``):
    left out of every finding, removed by the plan."""

    path: str
    """Its path in the audited folder as given."""
    reason: str
    """Why, in words (``unreadable: cannot identify image file``)."""
    class_name: str
    """Its class folder."""
    split: str | None
    """Its split (None in a folder not split)."""
    index: int = -1
    """Its place in the audit's inventory, which the plan reads."""

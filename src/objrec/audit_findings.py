"""The audit's findings as typed records, read by attribute across ``audit``, ``audit_report``
and the CLI; each one's ``row()`` gives the columns its CSV and ``--json`` show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DuplicateGroup:
    """A group of near-duplicates (or of look-alikes): its images, the copy to keep first
    (``audit.keep_order``), and what links them."""

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
    """Whether ``split`` keeps them in one split (``audit.split_keeps``)."""

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

    def row(self) -> dict[str, Any]:
        """The outlier as outliers.csv and ``--json`` show it, before its path is made
        relative."""
        return {
            "path": self.path,
            "score": self.score,
            "reason": self.reason,
            "class": self.class_name,
            "split": self.split,
        }

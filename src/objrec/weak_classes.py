"""The classes an evaluation finds weak beyond chance, and what may help each: the step after
``evaluate`` for its worst classes.

An evaluation named lobster its worst class (4 of 8 test photos right, most taken for crayfish)
and advised the audit only in general, whose ``photos_needed.csv`` had not listed lobster: the
audit judges all of a class's photos, and recognised 23 of lobster's 28 (82%), above its bar
(newcomer60, 2). The rule here is the audit's, not a new one tuned on test photos: a class is
weak where even the top of its test top-1's 95% interval (``top1_high``, on its distinct photos)
is under :data:`photos_needed.RECOGNISED_SHARE`, the share of a class's photos the audit asks to
be recognised; the class that took most of its images is named where it took
:data:`photos_needed.CONFUSED_MIN` or more, as the audit names one. A class within chance of the
bar is not named: its test photos are too few to say it falls short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from objrec.photos_needed import CONFUSED_MIN, RECOGNISED_SHARE
from objrec.words import plural

if TYPE_CHECKING:
    from objrec.evaluate import EvaluationResult

MOST_NAMED = 3
"""The weak classes named at most, worst first: evaluate's advice is a few lines."""


@dataclass(frozen=True)
class WeakClass:
    """One class an evaluation found weak beyond chance (:func:`weak_classes`)."""

    name: str
    images: int
    """Its evaluated images."""
    right: int
    """Of ``images``, those answered right (its top-1)."""
    top1_high: float
    """The top of its top-1's 95% interval: on many more photos like these it would likely get
    at most this share right, under :data:`photos_needed.RECOGNISED_SHARE`."""
    confused_with: str = ""
    """The class that took most of its images, where it took :data:`photos_needed.CONFUSED_MIN`
    or more; "" where its misses went to several."""
    taken: int = 0
    """Of ``images``, those answered ``confused_with``."""

    def words(self, image: str = "image") -> str:
        """What the evaluation found and what may help, in one sentence without a command
        (``image``: what each of its images is, "test image"): more photos of the class, telling
        it from the class that takes them where one does."""
        mine = f"of its {plural(self.images, image)}"
        if self.confused_with:
            found = f"{self.taken} {mine} taken for {self.confused_with}"
            helps = f"more photos of {self.name} that tell it from {self.confused_with}"
        else:
            found = f"{self.images - self.right} {mine} answered as other classes"
            helps = f"more varied photos of {self.name}"
        return (
            f"{self.name}: {found} (likely at most {self.top1_high:.0%} right on many more "
            f"photos, under the {RECOGNISED_SHARE:.0%} the audit asks): {helps}"
        )


def weak_classes(result: EvaluationResult, most: int = MOST_NAMED) -> list[WeakClass]:
    """The classes of ``result`` weak beyond chance (the module's rule), worst first (its
    ``per_class`` order), at most ``most``; none in a table without intervals (an older one)."""
    table = result.per_class
    if not len(table) or "top1_high" not in table:
        return []
    weak: list[WeakClass] = []
    for row in table.itertuples(index=False):
        if len(weak) == most:
            break
        if float(row.top1_high) < RECOGNISED_SHARE and not getattr(row, "too_few_to_trust", False):
            weak.append(_weak(result, str(row[0]), int(row.n_test), float(row.top1), row.top1_high))
    return weak


def _weak(result: EvaluationResult, name: str, images: int, top1: float, high: float) -> WeakClass:
    """The class ``name`` as :class:`WeakClass`, with the class that took most of its images
    from ``result``'s confusion matrix (rows: the true class)."""
    index = result.classes.index(name)
    row = result.confusion[index].clone()
    row[index] = 0
    taken = int(row.max()) if len(row) else 0
    other = result.classes[int(row.argmax())] if taken >= CONFUSED_MIN else ""
    return WeakClass(name, images, round(top1 * images), float(high), other, taken if other else 0)

"""A split's ratios as counts: how many of a class's groups go to each split, the fewest photos a
class needs to fill every split or to have some in each of several, and the hint toward larger
ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from objrec.config import SplitConfig
from objrec.data import SPLITS
from objrec.enough import FEWEST_TO_TRUST
from objrec.errors import ObjrecError
from objrec.words import plural


def allocate(n: int, ratios: tuple[float, float, float]) -> list[int]:
    """How many of ``n`` groups go to each split: rounded, every split non-empty when n >= 3, and
    train never empty while its ratio is not 0 (two groups at valid and test ratios above 0.25
    went one each to valid and test, and ``train`` refused the class: train takes valid's, test
    being what ``evaluate`` judges)."""
    counts = [round(n * ratios[1]), round(n * ratios[2])]
    if n >= 3:
        counts = [max(c, 1) if r > 0 else 0 for c, r in zip(counts, ratios[1:], strict=True)]
    counts = [min(c, n) for c in counts]
    train = n - sum(counts)
    if train < 0:  # tiny classes: valid and test cannot both have one
        counts[1] += train
        train = 0
    if n and not train and ratios[0] > 0:
        counts[0 if counts[0] else 1] -= 1
        train = 1
    return [train, *counts]


def photos_for(ratios: tuple[float, float, float], splits: Sequence[str], need: int) -> int | None:
    """The fewest distinct photos from which on every class size gives at least ``need`` in each
    of ``splits`` at ``ratios`` (:func:`allocate`); None when a split's ratio is 0. From which
    on: rounding is not monotonic, 5 photos giving 3 / 1 / 1 at the default ratios and 6 giving
    2 / 2 / 2, so "5 give 3 in train" would be false of a class of 6. Past ``(need + 2) / ratio``
    photos a split's count, rounded and less at most 2 for the others' rounding, is ``need``."""
    at = [SPLITS.index(split) for split in splits]
    if not at or any(ratios[i] <= 0 for i in at):
        return None
    past = math.ceil((need + 2) / min(ratios[i] for i in at)) + 1
    short = [n for n in range(1, past) if any(allocate(n, ratios)[i] < need for i in at)]
    return short[-1] + 1 if short else 1


LARGER_RATIOS = (0.7, 0.15, 0.15)
"""The ratios ``split`` and ``check`` point a folder of mostly small classes to
(:func:`larger_ratios_hint`), as the README does for the model one keeps."""


def larger_ratios_hint(
    sizes: Sequence[int], ratios: tuple[float, float, float], how: str = ""
) -> str | None:
    """One sentence when most classes (``sizes``: each class's photos, their median) are smaller
    than the default ``ratios`` need to give a class 3 valid and 3 test photos (11): such a split
    keeps about half the photos out of training to test each class on 2 or so, too few to judge
    a class by (``evaluate`` calls them too few to trust), and :data:`LARGER_RATIOS` trains on
    more. A catalogue of 101 classes of 6 to 10 photos heard of neither; on it, 70/15/15's run
    got 88.7% of 808 other photos right, the default's 84.2% (benchmarks/README.md, "Few photos
    a class"). ``how``: the call that splits so (``check`` names ``split_folder``'s); else the
    option. None for other ratios, which the user chose, and where the larger ratios would train
    on no more photos than these (classes of 4 photos go 2 / 1 / 1 either way): a change that
    gains nothing is no advice."""
    if tuple(ratios) != SplitConfig().ratios or not sizes:
        return None
    judged = photos_for(ratios, ["valid", "test"], FEWEST_TO_TRUST)
    if judged is None or (middle := statistics.median(sizes)) >= judged:
        return None
    trained = sum(allocate(n, ratios)[0] for n in sizes)
    more = sum(allocate(n, LARGER_RATIOS)[0] for n in sizes)
    if more <= trained:
        return None
    held = sum(sizes) - trained
    return (
        f"most classes have fewer than {judged} photos (median {middle:g}): the default ratios "
        f"keep {held:,} of the {sum(sizes):,} out of training and still give each class fewer "
        f"than {FEWEST_TO_TRUST} in valid and test to judge it by; "
        f"{how or f'`ratios={LARGER_RATIOS}`'} trains on about {more:,} "
        '(README, "Your own photos")'
    )


def few_train_why(n: int, ratios: tuple[float, float, float], how: str = "") -> str:
    """Why a class of ``n`` photos gets few training images at ``ratios``, and what
    :data:`LARGER_RATIOS` give it where that is more in train (``how``: the call that splits
    so; else the option): ``its 6
    photos go 2 / 2 / 2 as valid and test get 25% of 6 each, 1.5 rounded to 2;
    `ratios=(0.7, 0.15, 0.15)` gives 4 / 1 / 1``. A newcomer's class of 6 went 2 / 2 / 2
    with no word why."""
    counts = allocate(n, ratios)
    shares = []
    for i in (1, 2):
        exact = n * ratios[i]
        how_many = f"{exact:g}" if exact == counts[i] else f"{exact:g} rounded to {counts[i]}"
        if exact < counts[i] and round(exact) < counts[i]:
            how_many = f"{exact:g}, raised to 1 (each split gets one)"
        shares.append(f"{ratios[i]:.0%} of {n}, {how_many}")
    each = f"{shares[0]}, each" if shares[0] == shares[1] else " and ".join(shares)
    said = (
        f"its {plural(n, 'photo')} go {' / '.join(map(str, counts))} as valid and test get {each}"
    )
    if (larger := allocate(n, LARGER_RATIOS))[0] > counts[0]:
        said += f"; {how or f'`ratios={LARGER_RATIOS}`'} gives {' / '.join(map(str, larger))}"
    return said


def min_class_size(ratios: tuple[float, float, float]) -> int:
    """The fewest distinct images a class needs to have one in every split whose ratio is not 0."""
    for n in range(1, 10_000):
        if all(c > 0 for c, r in zip(allocate(n, ratios), ratios, strict=True) if r > 0):
            return n
    raise ObjrecError(f"`ratios` {list(ratios)}: no class size fills every split")

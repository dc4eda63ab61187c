"""Which split each new group of ``add`` goes to: a group with images in the data folder where
they are, the others per class toward ``allocate``'s targets for its new total, as ``split``
places a class's groups (:mod:`objrec.placement`); and the data folder's own ratios, the
default."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from objrec.config import SplitConfig
from objrec.data import SPLITS
from objrec.placement import (
    evaluated_pair,
    is_pair,
    majority_split,
    nearer_split,
    no_empty_split,
    placing_order,
)
from objrec.ratios import allocate


def own_ratios(existing: dict[Path, tuple[str, str]]) -> tuple[float, float, float]:
    """Each split's share of the data folder's images, over all classes (0 for a split it has no
    image in: an add never creates one of those unless asked); ``SplitConfig``'s when empty."""
    per_split = Counter(split for split, _ in existing.values())
    total = sum(per_split.values())
    if not total:
        return SplitConfig.ratios
    train, valid, test = (per_split[s] / total for s in SPLITS)
    return (train, valid, test)


def held_splits(existing: dict[Path, tuple[str, str]], groups: dict[Path, str]) -> dict[str, str]:
    """The split of each group that has images in the data folder: where most of them are
    (:func:`objrec.placement.majority_split`; all in one, unless the folder was changed by
    hand)."""
    found: dict[str, Counter[str]] = {}
    for path, (split, _) in existing.items():
        if path in groups:
            found.setdefault(groups[path], Counter())[split] += 1
    return {key: majority_split(counts) for key, counts in found.items()}


def class_counts(existing: dict[Path, tuple[str, str]]) -> dict[str, list[int]]:
    """Images per class and split (in ``SPLITS`` order) in the data folder."""
    counts: dict[str, list[int]] = {}
    for split, name in existing.values():
        counts.setdefault(name, [0] * len(SPLITS))[SPLITS.index(split)] += 1
    return counts


def place_groups(
    images, groups, held, counts, config: SplitConfig
) -> tuple[dict[str, str], set[str]]:
    """The split of each new group, and the classes placed as a pair to evaluate
    (:func:`objrec.placement.evaluated_pair`): a group with images in the data folder goes where
    they are; per class, the others toward ``allocate``'s targets for its new total, as ``split``
    places a class's groups (:func:`objrec.placement.nearer_split`): in their seeded order
    (:func:`objrec.placement.placing_order`: a class's own, whatever the others add), largest
    first, a group of two images or more to the split lacking the largest share of
    its target among those it brings nearer, single images to train's, valid's, then test's places;
    then, as ``split`` does (:func:`objrec.placement.no_empty_split`), a split that ``allocate``
    gives one of the class's groups (its images in the data folder counted as groups) but that holds
    none of its images takes the smallest new group of a split holding two or more."""
    split_of = dict(held)
    paired: set[str] = set()
    for name in sorted({image.name for image in images}):
        sizes = Counter(groups[image.path] for image in images if image.name == name)
        before = counts.get(name, [0] * len(SPLITS))
        placed, pair = _place_class(sizes, split_of, before, config)
        split_of |= placed
        paired |= {name} if pair else set()
    return split_of, paired


def _place_class(
    sizes, split_of, before: list[int], config: SplitConfig
) -> tuple[dict[str, str], bool]:
    """The split of each of one class's new groups (``sizes``) that ``split_of`` has not placed,
    the class holding ``before`` images in each split (:func:`place_groups`), and whether they were
    placed as a pair to evaluate (none held: a new class, no group placed by another)."""
    targets = allocate(sum(before) + sum(sizes.values()), config.ratios)
    left = [t - n for t, n in zip(targets, before, strict=True)]
    held = [split for split, n in zip(SPLITS, before, strict=True) if n]
    for key, n in sizes.items():
        if key in split_of:  # placed already: by the data folder, or by an earlier class
            left[SPLITS.index(split_of[key])] -= n
            held.append(split_of[key])
    free = placing_order((key for key in sizes if key not in split_of), config.seed)
    free.sort(key=lambda key: -sizes[key])  # stable: one size keeps its seeded order
    placed = {}
    for key in free:
        split = nearer_split(left, targets, sizes[key])
        placed[key] = SPLITS[split]
        left[split] -= sizes[key]
    n_groups = len(sizes) + sum(before)
    wanted = [s for s, n in zip(SPLITS, allocate(n_groups, config.ratios), strict=True) if n]
    paired = not held and is_pair(placed, sizes, config.ratios)
    if paired:  # a new class: as split places a class of two groups
        placed = evaluated_pair(placed, sizes, config.ratios)
    return no_empty_split(placed, sizes, wanted, held, set()), paired

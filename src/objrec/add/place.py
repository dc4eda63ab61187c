"""Which split each new group of ``add`` goes to: a group with images in the data folder where
they are, the others per class toward ``allocate``'s targets for its new total, by ``split``'s
own rule (:func:`objrec.placement.place_classes`); and the data folder's own ratios, the
default."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from objrec.config import SplitConfig
from objrec.data import SPLITS
from objrec.placement import majority_split, place_classes


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
    (:func:`objrec.placement.evaluated_pair`), by ``split``'s rule
    (:func:`objrec.placement.place_classes`): a group with images in the data folder goes where
    they are (``held``); the others, a class at a time in name order, toward ``allocate``'s
    targets for the class's new total, the data folder's images (``counts``, per class and split)
    counted where they are, each as a group, and a group of new images in several classes (copies
    of one picture) planned by the room left in every class it touches, as ``split`` plans it."""
    members: dict[str, list[str]] = {}
    for image in images:
        members.setdefault(image.name, []).append(groups[image.path])
    members = {name: members[name] for name in sorted(members)}
    return place_classes(members, held, counts, config.ratios, config.seed)

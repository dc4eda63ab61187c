"""Which split each group of a class's images goes to: ``allocate``'s targets counted in images,
the groups in their seeded order (:func:`placing_order`) placed largest first
(:func:`nearer_split`), the groups with images in several classes planned across them
(``_Room``), and no wanted split left without a group; a class of only two groups has one in
train and the other in test (:func:`evaluated_pair`). ``split`` (:func:`assign`) and ``add``
(:func:`place_classes`) place each class by one rule, :func:`place_class`."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from objrec.copies import originals_first
from objrec.data import SPLITS
from objrec.listing import path_order
from objrec.ratios import allocate
from objrec.split.result import SplitResult

PLACEMENT = 2
"""The order ``split`` and ``add`` place groups in, recorded in ``split.json`` as ``placement``
(and in each ``add``'s entry): 2, each group by its own seeded draw (:func:`placing_order`),
since 6 December 2026; 1, a ``split.json`` without it: one shuffle drawn class after class, so
that a photo added to one class (or a class added, removed or excluded) moved photos of every
class after it, as the same ``seed`` gave them other draws."""


def majority_split(counts: Counter[str]) -> str:
    """The split a group keeps whose images ``counts`` (by split) has in several: where most of
    them are, train first on a tie (then valid). The one rule of ``split``'s ``like`` (a group
    of an earlier split) and ``add`` (a new image's group with images in the data folder): all in
    one split unless a folder was changed by hand."""
    return min(counts, key=lambda split: (-counts[split], SPLITS.index(split)))


def placing_order(keys: Iterable[str], seed: int) -> list[str]:
    """``keys`` (placing groups) in the order a class's groups of one size are placed in: by the
    SHA-256 of ``"{seed}/{key}"``, each group's own draw, so that another group added or gone
    moves no other in the order, and a class's order is its own groups' alone. A group added to a
    class then moves only what it pushes across a split's boundary, in that class; but a group
    spanning classes is planned by the room left in each class it touches (``_Room``), so an
    edit of one of them can move it, and the other's groups placed around it."""
    return sorted(keys, key=lambda key: hashlib.sha256(f"{seed}/{key}".encode()).digest())


def assign(files, group_keys, ratios, seed, folders, held=None) -> tuple[dict, SplitResult]:
    """Decide each file's split: per class, the groups in their seeded order fill the targets.
    ``group_keys``: each file's duplicate group (identical or near, what the result reports) and the
    group it is placed with (those united with the ``groups`` file's); ``folders``: the source and
    output folders; ``held``: the split of each placing group that keeps its earlier one
    (``like``)."""
    src, out = folders
    hashes, keys = group_keys
    split_of_hash: dict[str, str] = dict(held or {})  # by placing key
    members = {name: [keys[path] for path in paths] for name, paths in files.items()}
    room = _Room(members, ratios, split_of_hash, seed)
    # the first file of each duplicate group, in the first class
    first_of_hash: dict[str, Path] = {}
    result = SplitResult(out=out, counts={})
    for name, paths in files.items():
        groups: dict[str, list[Path]] = {}
        for path in paths:
            groups.setdefault(hashes[path], []).append(path)
        result.duplicate_files += sum(len(g) - 1 for g in groups.values())
        kept = [originals_first(g) for g in groups.values() if len(g) > 1]  # as check names them
        result.duplicate_groups += [[path.relative_to(src).as_posix() for path in g] for g in kept]
        result.cross_class_duplicates += sorted(
            (
                (first_of_hash[h].relative_to(src).as_posix(), group[0].relative_to(src).as_posix())
                for h, group in groups.items()
                if h in first_of_hash
            ),
            key=lambda pair: (path_order(pair[0]), path_order(pair[1])),
        )
        for h, group in groups.items():
            first_of_hash.setdefault(h, group[0])
        sizes = Counter(members[name])
        placed, paired = place_class(sizes, split_of_hash, room, name, ratios, seed)
        split_of_hash.update(placed)
        counts = dict.fromkeys(SPLITS, 0)
        for path in paths:
            counts[split_of_hash[keys[path]]] += 1
        result.counts[name] = counts
        if any(counts[s] == 0 for s, r in zip(SPLITS, ratios, strict=True) if r > 0):
            result.small_classes.append(name)
            if paired:  # placed by the rule, not where ``held`` or another class put its groups
                result.two_group_classes.append(name)
    assignment = {
        path: (name, split_of_hash[keys[path]]) for name, paths in files.items() for path in paths
    }
    return assignment, result


def place_classes(
    members: dict[str, list[str]],
    held: dict[str, str],
    before: dict[str, list[int]],
    ratios: tuple[float, float, float],
    seed: int,
) -> tuple[dict[str, str], set[str]]:
    """The split of each placing group of ``members`` (each class's images' placing keys, the
    classes in the order they are placed) and the classes placed as a pair to evaluate, as
    :func:`assign` places them, ``held`` where they are, each class holding ``before`` images
    in each split already (``add``'s data folder): a class at a time (:func:`place_class`), the
    groups spanning classes planned across them first (``_Room``)."""
    split_of = dict(held)
    room = _Room(members, ratios, held, seed, before)
    paired: set[str] = set()
    for name, keys in members.items():
        placed, pair = place_class(
            Counter(keys), split_of, room, name, ratios, seed, before.get(name)
        )
        split_of |= placed
        paired |= {name} if pair else set()
    return split_of, paired


def place_class(
    sizes: Counter[str],
    split_of: dict[str, str],
    room: _Room,
    name: str,
    ratios: tuple[float, float, float],
    seed: int,
    before: list[int] | None = None,
) -> tuple[dict[str, str], bool]:
    """Splits for class ``name``'s unplaced groups (``sizes``: each group's images in this
    class), and whether they were placed as a pair to evaluate (:func:`evaluated_pair`);
    ``before``: the class's images in each split already (``add``'s data folder, each counted
    as a group). ``split`` and ``add`` place by it, one rule. ``allocate``'s targets count
    images, less those of groups placed already (by other classes, held, or planned by
    ``room``); the groups in their seeded order (:func:`placing_order`), largest first, each go
    to a split whose target it brings nearer (:func:`nearer_split`: a larger group to the one
    lacking the largest share of its target, so every split takes its share of the bursts;
    one-image groups then fill train's, then valid's, then test's), else to train. A burst or a
    camera site of half a class does not count as one image of its split's share. A group with
    images in later classes too, which ``room`` left to this class, is sorted by its largest
    share of one and goes where it brings them all nearest (:meth:`_Room.split`)."""
    before = before or [0] * len(SPLITS)
    targets = allocate(sum(before) + sum(sizes.values()), ratios)
    left = [t - n for t, n in zip(targets, before, strict=True)]
    held = [split for split, n in zip(SPLITS, before, strict=True) if n]
    for h in sizes:
        if h in split_of or h in room.planned:
            left[SPLITS.index(split_of.get(h) or room.planned[h])] -= sizes[h]
        held += [split_of[h]] if h in split_of else []
    free = placing_order((h for h in sizes if h not in split_of), seed)
    free.sort(key=lambda h: -room.weight(h, sizes[h]))  # stable: one size keeps the seeded order
    placed = {h: room.planned[h] for h in free if h in room.planned}
    for h in (h for h in free if h not in placed):
        split = nearer_split(left, targets, sizes[h])
        if h in room.shares:
            split = room.split(h, name, left, split)
        placed[h] = SPLITS[split]
        left[split] -= sizes[h]
        room.place(h, split)
    n_groups = len(sizes) + sum(before)
    wanted = [s for s, n in zip(SPLITS, allocate(n_groups, ratios), strict=True) if n]
    paired = not held and not room.shares.keys() & placed.keys() and is_pair(placed, sizes, ratios)
    if paired:
        placed = evaluated_pair(placed, sizes, ratios)
    return no_empty_split(placed, sizes, wanted, held, room.shares), paired


def pair_to_evaluate(sizes: dict[str, int], ratios: tuple[float, float, float]) -> bool:
    """Whether a class of these groups (``sizes``: each one's images) is two groups whose images
    would fill every split of ``ratios`` (:func:`allocate`), which ``allocate`` gives both to
    train when counting groups (two bursts of 5 photos each at the default ratios)."""
    images = allocate(sum(sizes.values()), ratios)
    fills = all(n > 0 for n, r in zip(images, ratios, strict=True) if r > 0)
    return len(sizes) == 2 and fills and allocate(2, ratios)[0] == 2 and ratios[1] + ratios[2] > 0


def second_split(ratios: tuple[float, float, float]) -> str:
    """Where the smaller group of a pair goes (:func:`evaluated_pair`): test, which ``evaluate``
    judges by default, or valid where test's ratio is 0."""
    return "test" if ratios[2] > 0 else "valid"


def evaluated_pair(placed: dict[str, str], sizes, ratios) -> dict[str, str]:
    """``placed`` (every group of a class, none placed before, none with images in another class)
    with the larger group in train and the other in test (:func:`second_split`) where the class
    is a pair to evaluate (:func:`pair_to_evaluate`): before, both went to train where neither
    brought valid or test nearer its share (two groups of 5), so ``evaluate`` never judged the
    class; of two of 6, the second went to valid, never judged either. Of two equal groups the
    one placed first stays in train."""
    if not is_pair(placed, sizes, ratios):
        return placed
    large, small = sorted(placed, key=lambda h: -sizes[h])  # stable: a tie keeps placed order
    return {large: "train", small: second_split(ratios)}


def is_pair(placed: dict[str, str], sizes, ratios) -> bool:
    """Whether :func:`evaluated_pair` places ``placed``, a class's groups (none placed before,
    none with images in another class): two, a pair to evaluate (:func:`pair_to_evaluate`).
    ``split`` and ``add`` name the classes it placed, not those that ended in train and test."""
    return len(placed) == 2 and pair_to_evaluate({h: sizes[h] for h in placed}, ratios)


def nearer_split(left: list[int], targets: list[int], size: int) -> int:
    """The split a group of ``size`` images goes to among those whose target it brings nearer
    (``left``: images each still wants, of ``targets``), else train. A single image goes to the
    first (train's, then valid's, then test's: as before groups were counted); a larger group to
    the one that lacks the largest share of its target (the first on a tie), so that each split
    takes its share of the bursts, of each size, and not train all of them, the others the singles
    left (a camera trap's class: valid and test held no burst). ``split`` and ``add`` place a
    class's groups by it, largest first."""
    nearer = [i for i, n in enumerate(left) if n > 0 and 2 * n >= size]
    if not nearer:
        return 0
    if size == 1:
        return nearer[0]
    return max(nearer, key=lambda i: left[i] / targets[i])


def _gains(left: list[int], size: int) -> list[int]:
    """How much nearer its target (``left``: images still wanted) each split comes, in images,
    when it takes a group of ``size``; negative when it moves away."""
    return [abs(n) - abs(n - size) for n in left]


class _Room:
    """Where the groups with images in two classes or more go (a picture in two class folders, a
    camera site of the ``groups`` file): by their images in every class they touch. Placed by its
    first class alone, a site of 1 image of one class and 15 of the next went wherever that one
    image fitted, valid or test included.

    Before any class is placed, in their seeded order (:func:`placing_order`), those with the most
    images of one class first, each is planned into the split that brings all the classes it touches
    nearest ``allocate``'s targets in all, in images (``left``: counting ``like``'s held groups and
    those planned before). One that several splits bring as near (a picture in two classes with room
    in every split) is left to its first class, which places it among its own
    (:func:`place_class`)."""

    def __init__(
        self,
        members: dict[str, list[str]],
        ratios: tuple[float, float, float],
        held: dict[str, str],
        seed: int,
        before: dict[str, list[int]] | None = None,
    ) -> None:
        """``members``: each class's images' placing keys; ``held``: the groups placed already;
        ``before``: each class's images in each split already (``add``'s data folder)."""
        classes_of: dict[str, Counter[str]] = {}
        for name, keys in members.items():
            for key in keys:
                classes_of.setdefault(key, Counter())[name] += 1
        self.shares = {key: c for key, c in classes_of.items() if len(c) > 1}
        touched = {name for share in self.shares.values() for name in share}
        self.left = {
            name: _room_left(members[name], ratios, held, (before or {}).get(name))
            for name in touched
        }
        free = placing_order((key for key in self.shares if key not in held), seed)
        free.sort(key=lambda key: -max(self.shares[key].values()))
        self.planned: dict[str, str] = {}
        for key in free:
            gains = self.gains(key)
            if gains.count(max(gains)) == 1:
                self.planned[key] = SPLITS[gains.index(max(gains))]
                self.place(key, gains.index(max(gains)))

    def gains(self, key: str, name: str = "", left: list[int] | None = None) -> list[int]:
        """:func:`_gains` summed over the classes group ``key`` touches; ``left``: what class
        ``name``, placing it, still wants (its own groups are not counted in ``self.left``)."""
        gains = [0, 0, 0]
        for other, size in self.shares[key].items():
            wanted = left if other == name and left is not None else self.left[other]
            gains = [a + b for a, b in zip(gains, _gains(wanted, size), strict=True)]
        return gains

    def weight(self, key: str, size: int) -> int:
        """What a group of ``size`` images in the class placing it is sorted by: the most images
        it holds of any class it touches."""
        return max(self.shares[key].values()) if key in self.shares else size

    def split(self, key: str, name: str, left: list[int], own: int) -> int:
        """The split class ``name`` places group ``key`` in: ``own``, the class's own choice,
        unless another split brings the classes the group touches nearer in all."""
        gains = self.gains(key, name, left)
        return own if gains[own] == max(gains) else gains.index(max(gains))

    def place(self, key: str, split: int) -> None:
        """Count a placed group's images in the classes it touches."""
        for name, size in self.shares.get(key, {}).items():
            self.left[name][split] -= size


def _room_left(
    keys: list[str],
    ratios: tuple[float, float, float],
    held: dict[str, str],
    before: list[int] | None,
) -> list[int]:
    """What a class of images of ``keys`` (and ``before`` in each split already) still wants in
    each split toward ``allocate``'s targets, its images of ``held`` groups counted where they
    are."""
    before = before or [0] * len(SPLITS)
    left = [t - n for t, n in zip(allocate(len(keys) + sum(before), ratios), before, strict=True)]
    for key in keys:
        if key in held:
            left[SPLITS.index(held[key])] -= 1
    return left


def no_empty_split(placed, sizes, wanted, held, fixed) -> dict[str, str]:
    """``placed`` where each split of ``wanted`` (those ``allocate`` gives a group of the class)
    holds one of the class's groups (``held``: the splits of those other classes placed) when it
    can: the smallest group of a split with two or more moves to one with none. A group of
    ``fixed`` (with images in other classes) stays, as their counts were planned with it."""
    for split in wanted:
        groups = Counter(placed.values()) + Counter(held)
        if groups[split]:
            continue
        movable = [h for h in placed if groups[placed[h]] >= 2 and h not in fixed]
        if not movable:
            break
        placed[min(movable, key=lambda h: sizes[h])] = split
    return placed

"""The audit's copies of one picture: near-duplicates (feature neighbours and perceptual
hashes, ``objrec.dedup``) and a burst's frames, linked into copy groups (:func:`copy_groups`); the
rows seen one per picture (:class:`Pictures`), so that a photo's copies count once wherever the
audit counts images, each picture named by the file standing for it (:class:`PictureNames`); each
row's nearest rows outside its own group (:func:`outside_groups`); and the near-duplicate and
look-alike groups the audit reports, the copy to keep first (:func:`duplicate_groups`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from objrec import dedup, image_facts
from objrec.audit.findings import DuplicateGroup, Finding, LabelIssue
from objrec.audit.inventory import Inventory, Item
from objrec.audit.plan import acts_on
from objrec.copies import copy_named, modified
from objrec.data import SPLITS


def copy_groups(
    n: int, pairs: Sequence[dedup.Pair], bursts: Sequence[tuple[int, int]] = ()
) -> np.ndarray:
    """Each of ``n`` rows' group: near-duplicates (``pairs`` not ``look_alike``) and a burst's
    frames (``bursts``: :func:`burst_pairs`), linked directly or through each other, share their
    first row's number, any other row has its own. The out-of-fold heads keep a group in one
    fold, and the neighbour vote and the outliers' distances leave an image's group out: a burst
    of a wrong label's frames would otherwise vouch for it."""
    group = np.arange(n)
    links = [(p.i, p.j) for p in pairs if not p.look_alike] + list(bursts)
    for members in dedup.groups_of(n, links):
        group[members] = members[0]
    return group


def split_copies(
    pairs: Sequence[dedup.Pair], paths: Sequence[Path], digests: Sequence[str]
) -> list[dedup.Pair]:
    """``pairs`` (of the images at ``paths``, of content ``digests``), each look-alike pair that
    split pairs by its hashes (``kept_by_split``) and kept in one group of one class folder (its
    manifest's ``group`` column, of the files as they are now) made a near-duplicate pair:
    split calls such a pair duplicates and keeps them together, so the audit does not call it
    look-alikes, "remove it only if it is the same picture" (one drawing recoloured, say). In
    one class and split, the plan keeps it ("it leaks nothing"). A pair across classes stays a
    look-alike, which the plan does not remove as a leak; a burst's frames, grouped by split too,
    are not paired by hash."""
    from objrec.manifest import recorded_groups

    if not any(p.look_alike and p.kept_by_split for p in pairs) or len(digests) != len(paths):
        return list(pairs)
    groups = recorded_groups(paths, digests)

    def kept(p: dedup.Pair) -> bool:
        return (
            p.look_alike
            and p.kept_by_split
            and groups[p.i] is not None
            and groups[p.i] == groups[p.j]
            and paths[p.i].parent == paths[p.j].parent
        )

    return [replace(p, look_alike=False) if kept(p) else p for p in pairs]


def burst_pairs(inv: Inventory, idx: np.ndarray, kept: Path | None = None) -> list[tuple[int, int]]:
    """Pairs of rows (of ``idx``, the readable images) linking each burst's frames: one camera's
    photos of a class within ``bursts.BURST_SECONDS`` of each other, by EXIF time, whatever
    their split (:func:`objrec.bursts.bursts`, as ``split`` keeps them in one). With ``kept``
    (the image facts store) each photo's camera time is read there by its content digest
    (``inv.digests``) where a split, an add or an earlier audit kept it, and kept there, so that
    an audit does not open every photo again for its EXIF."""
    from objrec import bursts

    row = {inv.items[i].path: r for r, i in enumerate(idx)}
    classes: dict[str, list[Path]] = {}
    for i in idx:
        classes.setdefault(inv.classes[inv.items[i].label], []).append(inv.items[i].path)
    digests = [inv.digests[i] for i in idx] if kept is not None and inv.digests else None
    found = bursts.bursts(classes, bursts.camera_times(row, digests=digests, kept=kept))
    return [(row[burst[0]], row[path]) for burst in found for path in burst[1:]]


@dataclass(frozen=True)
class Pictures:
    """The audit's rows seen one per picture: each copy group (``copy_groups``' numbers: one
    photo's near-duplicates, a burst's frames) as one row, so that many copies of one photo count
    once wherever the audit counts images: cleanlab's thresholds, the neighbour vote, the spreads
    behind the z-scores, photos_needed.csv. Counted once, many copies of a mislabelled photo
    cannot outvote its own label check, nor the right photos' of the class they sit in."""

    first: np.ndarray
    """Each picture's first row, in row order: the row that stands for it."""
    of: np.ndarray
    """Each row's picture (an index into ``first``)."""

    @classmethod
    def of_groups(cls, group: np.ndarray, labels: np.ndarray | None = None) -> Pictures:
        """The pictures of ``copy_groups``' numbers (any numbers: rows of one number are one);
        with ``labels``, a group's rows of each label are a picture of their own: a photo in
        ant/ and in bee/ is judged once as an ant and once as a bee."""
        key = np.asarray(group) if labels is None else np.stack([group, labels], axis=1)
        _, first, of = np.unique(key, axis=0, return_index=True, return_inverse=True)
        return cls(first.astype(np.int64), of.reshape(-1).astype(np.int64))

    @property
    def sizes(self) -> np.ndarray:
        """Each picture's rows: 1 for a photo of its own, 60 for one in 60 copies."""
        return np.bincount(self.of, minlength=len(self.first))

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Each picture's mean of its rows' ``values`` (one a row, or a row of them)."""
        sums = np.zeros((len(self.first), *values.shape[1:]), dtype=np.float64)
        np.add.at(sums, self.of, values)
        return sums / self.sizes.reshape(-1, *[1] * (values.ndim - 1))

    def rows(self, pictures: np.ndarray) -> np.ndarray:
        """The rows of ``pictures``, picture by picture in their order, each one's in row order."""
        order = np.argsort(self.of, kind="stable")
        starts = np.concatenate([[0], np.cumsum(self.sizes)])
        parts = [order[starts[p] : starts[p + 1]] for p in np.asarray(pictures).tolist()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


OUTSIDE_CHUNK = 256
"""Rows searched again at a time by :func:`outside_groups`: each a row of similarities to every
row (256 x 60,000 float32 is 61 MB)."""


def outside_groups(unit: np.ndarray, near: dedup.Neighbours, group) -> dedup.Neighbours:
    """Each row's nearest rows outside its own group (``copy_groups``), one of each other group
    (its nearest member: 600 copies of one photo are one neighbour, not 10), as many as ``near``
    has (fewer where the groups leave fewer): ``near`` itself where it holds no row of a row's own
    group and no two of one group. Only the rows whose ``near`` does are searched again, a chunk
    of them at a time against every row, so that the search stays as wide as ``near`` however
    many copies one group holds."""
    of = Pictures.of_groups(group).of
    pictures = int(of.max()) + 1 if len(of) else 0
    if pictures == len(of):
        return near
    width = min(near.idx.shape[1], pictures - 1)
    theirs = of[near.idx]
    twice = (np.diff(np.sort(theirs, axis=1), axis=1) == 0).any(1)
    again = np.flatnonzero((theirs == of[:, None]).any(1) | twice)
    sims, idx = near.sims[:, :width].copy(), near.idx[:, :width].copy()
    by_group = np.argsort(of, kind="stable")
    starts = np.flatnonzero(np.diff(of[by_group], prepend=-1))
    for rows in np.array_split(again, max(1, math.ceil(len(again) / OUTSIDE_CHUNK))):
        if rows.size:
            found = nearest_of_other_groups(unit, rows, of, (by_group, starts), width)
            sims[rows], idx[rows] = found
    return dedup.Neighbours(sims, idx)


def nearest_of_other_groups(
    unit: np.ndarray, rows: np.ndarray, of: np.ndarray, sorted_by: tuple, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``, its ``width`` nearest groups but its own (``of``: each row's), each
    by its nearest member: their similarities and members, nearest first. ``sorted_by``: the
    rows in group order and where each group starts in it."""
    by_group, starts = sorted_by
    sims = unit[rows] @ unit[by_group].T
    best = np.maximum.reduceat(sims, starts, axis=1)
    lengths = np.diff(np.append(starts, len(by_group)))
    hit = np.where(sims == np.repeat(best, lengths, axis=1), np.arange(len(by_group)), len(of))
    member = by_group[np.minimum.reduceat(hit, starts, axis=1)]
    best[np.arange(len(rows)), of[rows]] = -np.inf
    top = np.argsort(-best, axis=1, kind="stable")[:, :width]
    return np.take_along_axis(best, top, 1), np.take_along_axis(member, top, 1)


def duplicate_groups(
    inv: Inventory,
    idx,
    unit,
    facts,
    rule,
    near,
    label_issues: Sequence[LabelIssue] = (),
    pairs: Sequence[dedup.Pair] | None = None,
) -> tuple[list[DuplicateGroup], list[DuplicateGroup]]:
    """Groups of near-duplicates, and groups of look-alikes (pairs only alike by
    ``DuplicateRule.look_alike``, not already in one near-duplicate group): each list with leaks
    across splits first, then across classes, then within a class. ``label_issues`` (rows of
    ``label_issue_rows``) the plan relabels on (``audit.plan.acts_on``) decide which copy of a
    group across classes is kept (``keep_order``);
    ``pairs``: ``dedup.duplicate_pairs`` of the rows, when already found."""
    suggested = {issue.index: issue.suggested for issue in label_issues if acts_on(issue)}
    sub_facts = [facts[i] for i in idx]
    if pairs is None:
        pairs = dedup.duplicate_pairs(unit, sub_facts, rule, near)
    copies = [p for p in pairs if not p.look_alike]
    copy_groups = dedup.groups_of(len(idx), [(p.i, p.j) for p in copies])
    group_of = {m: k for k, members in enumerate(copy_groups) for m in members}
    alike = [p for p in pairs if p.look_alike and group_of.get(p.i, -1) != group_of.get(p.j, -2)]
    alike_groups = dedup.groups_of(len(idx), [(p.i, p.j) for p in alike])
    return (
        group_rows(inv, idx, sub_facts, copies, copy_groups, suggested),
        group_rows(inv, idx, sub_facts, alike, alike_groups, suggested),
    )


def group_rows(inv: Inventory, idx, sub_facts, pairs, groups, suggested) -> list[DuplicateGroup]:
    """One :class:`DuplicateGroup` per group: its members (the copy to keep first:
    ``keep_order``), splits, classes and signals, and the similarity of each pair of them linked
    directly."""
    sims = {(p.i, p.j): p for p in pairs}
    rows = []
    for group in groups:
        members = keep_order(inv, idx, sub_facts, group, suggested)
        items = [inv.items[idx[m]] for m in members]
        linked = [sims[(a, b)] for a in members for b in members if (a, b) in sims]
        rows.append(
            DuplicateGroup(
                paths=[it.shown for it in items],
                splits=[it.split for it in items],
                classes=[inv.classes[it.label] for it in items],
                similarity=round(min(p.similarity for p in linked), 4),
                hash_distance=max(p.hash_distance for p in linked),
                crop_distance=max(p.crop_distance for p in linked),
                kind=_group_kind(items),
                indices=[int(idx[m]) for m in members],
                pairs={dedup.pair_key(int(idx[p.i]), int(idx[p.j])): p.similarity for p in linked},
                split_keeps=split_keeps(group, linked),
            )
        )
    order = {"across splits": 0, "across classes": 1, "within class": 2}
    return sorted(rows, key=lambda g: (order[g.kind], -g.similarity))


def split_keeps(group: list[int], pairs: Sequence[dedup.Pair]) -> bool:
    """Whether ``split`` keeps the images of ``group`` in one split: linked, directly or through
    each other, by ``pairs`` it pairs too (``dedup.Pair.kept_by_split``: ``dedup.split_pairs``,
    split's own rule). The audit also links copies by their features alone, which a split of the
    folder may put on either side."""
    position = {m: k for k, m in enumerate(group)}
    seen = [(position[p.i], position[p.j]) for p in pairs if p.kept_by_split]
    return [sorted(position.values())] == dedup.groups_of(len(group), seen)


def keep_order(inv: Inventory, idx, sub_facts, group, suggested: dict[int, str]) -> list[int]:
    """A group's members, the copy to keep first: a copy flagged as a wrong label whose
    ``suggested`` class another copy is in goes last (keeping the correctly labelled copy needs
    no relabel, and keeps the user's file where it is); otherwise, and among the rest,
    ``keep_first``'s order (then the folder's, so the same folder always gives the same order).
    ``suggested``: the flags the plan relabels on (``audit.plan.acts_on``) alone; where a
    weaker flag names another copy's class, the plan keeps every copy for a person to choose
    (``audit.plan.undecided``), whatever the order."""
    classes = {inv.classes[inv.items[idx[m]].label] for m in group}
    stems = {inv.items[idx[m]].path.stem.casefold() for m in group}

    def key(m: int) -> tuple[bool, int, bool, int, int]:
        misplaced = suggested.get(int(idx[m])) in classes
        return (misplaced, *keep_first(inv.items[idx[m]], sub_facts[m], stems))

    return sorted(group, key=key)


def keep_first(
    item: Item, facts: image_facts.ImageFacts, stems: frozenset[str] | set[str] = frozenset()
) -> tuple[int, bool, int, int]:
    """A group's order, the copy to keep first: the earliest split (train before valid before
    test, so a leak is removed from the evaluation side), then a name without a copy's mark
    (``copies.copy_named``; ``stems``: the group's file names without suffix, casefolded), then
    the most pixels, then the file modified first: of byte-identical files, the one ``check`` and
    ``split`` name as the original too (``copies.originals_first``)."""
    split = SPLITS.index(item.split) if item.split in SPLITS else 0
    pixels = -facts.width * facts.height
    return split, copy_named(item.path.stem, stems), pixels, modified(item.path)


def _group_kind(items: list[Item]) -> str:
    if len({it.split for it in items}) > 1:
        return "across splits"
    if len({it.label for it in items}) > 1:
        return "across classes"
    return "within class"


@dataclass(frozen=True)
class PictureNames:
    """The file that stands for each picture of two files or more (``Pictures``): of its files,
    the one its near-duplicate group keeps (``keep_order``'s first: the plan keeps it, and its
    row carries the picture's label decision), else its first in the folder's order. Every
    output names a picture by it: the findings' ``picture``, the CSVs' and the plan's."""

    inv: Inventory
    pictures: Pictures
    standing: dict[int, int]
    """Each file of such a picture (its place in the inventory) -> the file standing for it."""

    @classmethod
    def of(
        cls, inv: Inventory, idx: np.ndarray, pictures: Pictures, groups: Sequence[DuplicateGroup]
    ) -> PictureNames:
        """The names of the ``pictures`` of the readable rows ``idx``, by the near-duplicate
        ``groups`` (``duplicate_groups``': each one's copy to keep first)."""
        files = np.asarray(idx).tolist()
        chosen = np.asarray(idx)[pictures.first]
        row = {i: r for r, i in enumerate(files)}
        taken = np.zeros(len(chosen), dtype=bool)
        for index in (i for group in groups for i in group.indices):
            picture = pictures.of[row[index]]
            if not taken[picture]:
                chosen[picture], taken[picture] = index, True
        many = pictures.sizes[pictures.of] > 1
        standing = {i: int(chosen[pictures.of[r]]) for r, i in enumerate(files) if many[r]}
        return cls(inv, pictures, standing)

    def findings(self, found: Sequence[Finding]) -> list[Finding]:
        """``found`` (label flags or outliers), each of a picture of two files or more given the
        file standing for it (``picture``, ``picture_path``)."""
        named = []
        for finding in found:
            if (index := self.standing.get(finding.index)) is not None:
                finding = replace(finding, picture=index, picture_path=self.inv.items[index].shown)
            named.append(finding)
        return named

    def photos(self, labels: np.ndarray) -> np.ndarray:
        """Each class's distinct photos (``labels``: the readable rows')."""
        return np.bincount(labels[self.pictures.first], minlength=len(self.inv.classes))

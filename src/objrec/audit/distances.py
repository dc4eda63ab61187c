"""How far each image lies from its nearest images: its mean distance to the nearest of its
class outside its own copy group (:func:`knn_distance`), and robust z-scores of such distances
(median and MAD, taken over one row a picture), against every image's or its class's
(:func:`robust_z`, :func:`class_spread_z`). :class:`Around` holds what the label check and the
outliers read of each image's nearest images, each worked out once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from objrec import dedup
from objrec.audit.copies import Pictures, outside_groups


@dataclass
class Around:
    """What the audit's stages read of each image's nearest images, each worked out once, when
    first read: the label check and the outliers read the same two (they were each computed
    two or three times, benchmarks/README.md). ``unit``: the readable rows' unit features,
    ``near``: their nearest images, ``group``: ``copy_groups``' numbers (None: none joined),
    ``k``: ``AuditConfig.neighbours``."""

    unit: np.ndarray
    near: dedup.Neighbours
    labels: np.ndarray
    group: np.ndarray | None
    k: int

    @cached_property
    def outside(self) -> dedup.Neighbours:
        """Each row's nearest images outside its own group (:func:`outside_groups`)."""
        return self.near if self.group is None else outside_groups(self.unit, self.near, self.group)

    @cached_property
    def within(self) -> np.ndarray:
        """Each row's mean distance to its ``k`` nearest of its class outside its own group
        (:func:`knn_distance`): computed class by class, so the rows of whole classes read their
        own part of it (``judge_labels``' judged classes)."""
        return knn_distance(self.unit, self.labels, self.k, self.group)


def knn_distance(
    unit: np.ndarray, labels: np.ndarray | None, k: int, group: np.ndarray | None = None
) -> np.ndarray:
    """Mean cosine distance to the ``k`` nearest other images (of the same class, when labels;
    outside its own group, with ``group``: ``outside_groups``)."""
    if labels is None:
        near = dedup.feature_neighbours(unit, k)
        sims = near.sims if group is None else outside_groups(unit, near, group).sims
        return 1 - sims.mean(1) if sims.size else np.zeros(len(unit))
    result = np.zeros(len(unit))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) > 1:
            mine = None if group is None else group[members]
            result[members] = knn_distance(unit[members], None, k, mine)
    return result


SPREAD_FLOOR = 1e-3
"""The least spread (1.4826 MAD, in cosine distance) a z-score divides by: where most distances
are equal (copies of one photo) the MAD is 0 or nearly, and a z over it would be no measure."""


MIN_CLASS_SPREAD = 5
"""Judged images a class needs for its own MAD; a smaller class uses every judged image's."""


def robust_z(values: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """(value - median) / (1.4826 MAD), and 0 for values under twice the median: a spread that
    is tiny everywhere does not make ordinary images outliers. ``first``: the rows the median
    and MAD are taken over (``Pictures.first``: one per picture), all when None."""
    z = spread_z(values, first)
    if not values.size:
        return z
    median = np.median(values if first is None else values[first])
    return np.where(values > 2 * median, z, np.minimum(z, 0.0))


def spread_z(values: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """(value - median) / (1.4826 MAD, ``SPREAD_FLOOR`` at least): how far each value lies out
    of the bulk, the median and MAD over the rows ``first`` (all when None)."""
    if not values.size:  # no readable image: numpy's median of nothing warns
        return values.astype(np.float64)
    bulk = values if first is None else values[first]
    median = np.median(bulk)
    mad = np.median(np.abs(bulk - median)) * 1.4826
    return (values - median) / max(mad, SPREAD_FLOOR)


def class_spread_z(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(value - its class's median) / (1.4826 MAD), the MAD the class's own or every value's,
    whichever is larger (``SPREAD_FLOOR`` at least): a class broad by nature (a catch-all
    background) does not stand out as a whole, nor does an ordinary image of a tight class; a
    class under ``MIN_CLASS_SPREAD`` values takes every value's MAD. One value a picture
    (``Pictures``): the caller's rows."""
    z = np.zeros(len(values))
    for c, (median, scale) in class_spreads(values, labels).items():
        members = labels == c
        z[members] = (values[members] - median) / scale
    return z


def class_spreads(values: np.ndarray, labels: np.ndarray) -> dict[int, tuple[float, float]]:
    """Each class's median of ``values`` and the scale :func:`class_spread_z` divides by."""
    if not values.size:
        return {}
    overall = np.median(np.abs(values - np.median(values))) * 1.4826
    spreads = {}
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        median = np.median(values[members])
        mad = np.median(np.abs(values[members] - median)) * 1.4826
        if len(members) < MIN_CLASS_SPREAD:  # too few for a MAD of their own
            mad = overall
        spreads[int(c)] = (float(median), float(max(mad, overall, SPREAD_FLOOR)))
    return spreads


def spread_z_within(
    unit: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    classes: np.ndarray,
    k: int,
    group,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """For each of ``rows``, the robust z (:func:`class_spread_z`'s, the class's own images' as
    the reference) of its mean distance to its ``k`` nearest images of ``classes`` (one a row),
    its own ``group`` left out: how far it lies from that class's images, as though it were one
    of them, each group once. A picture unlike both its class and the class the votes give it
    lies far out. The class's spread is taken over one row a picture (``Pictures``).
    ``within``: :func:`knn_distance`'s answer for these, where the caller has it."""
    within = knn_distance(unit, labels, k, group) if within is None else within
    first = Pictures.of_groups(group, labels).first
    spreads = class_spreads(within[first], labels[first])
    z = np.zeros(len(rows))
    for n, (r, c) in enumerate(zip(rows.tolist(), classes.tolist(), strict=True)):
        members = np.flatnonzero((labels == c) & (group != group[r]))
        if not members.size:
            continue
        sims = unit[members] @ unit[r]
        order = np.argsort(-sims, kind="stable")
        _, once = np.unique(group[members][order], return_index=True)  # each group's nearest
        median, scale = spreads[int(c)]
        z[n] = (1 - np.sort(sims[order][once])[::-1][:k].mean() - median) / scale
    return z

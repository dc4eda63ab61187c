"""The training features an unknown score is fitted on, read as a stream of batches: the source
(:data:`Batches`, read more than once), each batch's rows normalised as every score reads them
(:func:`normalise`), and a seeded sample of each class's rows drawn in one pass whatever the size
of the training set (:func:`class_sample`: the kNN centroids' rows, ``kmeans_bank``). Below
``eigenpairs``, ``kmeans_bank`` and ``unknown_scores``; nothing here prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F


def normalise(features: torch.Tensor) -> torch.Tensor:
    return F.normalize(features.float(), dim=1)


Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""A source of (features, labels) batches that can be read more than once (e.g. from the store)."""


def in_batches(features: torch.Tensor, labels: torch.Tensor, size: int = 4096) -> Batches:
    """Features and labels in memory as a :data:`Batches` source."""
    return lambda: zip(features.split(size), labels.split(size), strict=True)


def one_class(batches: Batches) -> Batches:
    """``batches`` with every label 0: all the training images as one class (ViM's centre and
    scatter, the relative Mahalanobis score's background)."""
    return lambda: ((x, torch.zeros_like(y)) for x, y in batches())


CLASS_SAMPLE = 64
"""Training images per class (a seeded random sample) that a class's kNN centroids are fitted on."""


class ClassSample:
    """The ``per_class`` lowest-keyed images of each class seen so far, by their positions in
    the stream, in preallocated slots: adding a batch compares its keys with the slots of the
    classes it holds and keeps only the positions it takes, so its cost depends on the batch, not
    on the sample. Positions, not rows: the rows a slot took and gave up again were copied into
    slots of 100 MB for the 100-class protocol (zeroed first), then gathered class by class and
    joined, three copies of the sample; :func:`class_sample` reads the kept rows once."""

    def __init__(self, per_class: int):
        self.per_class = per_class
        self.keys = torch.full((0, per_class), math.inf)  # inf: an empty slot
        self.positions = torch.full((0, per_class), -1, dtype=torch.long)

    def add(self, positions: torch.Tensor, y: torch.Tensor, keys: torch.Tensor) -> None:
        n_classes = int(y.max()) + 1 if len(y) else 0
        if n_classes > len(self.keys):
            grown = torch.full((n_classes - len(self.keys), self.per_class), math.inf)
            self.keys = torch.cat([self.keys, grown])
            self.positions = torch.cat([self.positions, torch.full_like(grown, -1).long()])
        present = y.unique()
        n_slots = len(present) * self.per_class
        candidates = torch.cat([self.keys[present].flatten(), keys])
        owner = torch.cat([present.repeat_interleave(self.per_class), y])
        order = candidates.argsort(stable=True)
        order = order[owner[order].argsort(stable=True)]  # by class, then by key
        starts = torch.cumsum(torch.bincount(owner), 0) - torch.bincount(owner)
        kept = torch.zeros(len(candidates), dtype=torch.bool)
        kept[order] = torch.arange(len(order)) - starts[owner[order]] < self.per_class
        freed = (~kept[:n_slots]).nonzero().squeeze(1)  # class by class, as ``present``
        taken = kept[n_slots:].nonzero().squeeze(1)
        taken = taken[y[taken].argsort(stable=True)]  # as many per class as freed slots
        classes, slots = present[freed // self.per_class], freed % self.per_class
        self.keys[classes, slots] = keys[taken]
        self.positions[classes, slots] = positions[taken]

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept images' positions and their classes, by class, then by key."""
        kept, ys = [], []
        for c in range(len(self.keys)):
            order = self.keys[c].argsort()[: int(self.keys[c].isfinite().sum())]
            kept.append(self.positions[c][order])
            ys.append(torch.full((len(order),), c, dtype=torch.long))
        if not kept:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        return torch.cat(kept), torch.cat(ys)


def class_sample(
    batches: Batches, per_class: int = CLASS_SAMPLE, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A uniform random sample of at most ``per_class`` normalised training features per class:
    each image gets a seeded random key as it streams by, each class keeps its lowest keys (one
    pass over the labels), then the kept rows are read into one tensor (a second pass), so
    memory is bounded by classes x ``per_class`` rows whatever the size of the training set."""
    g = torch.Generator().manual_seed(seed)
    sample = ClassSample(per_class)
    start = 0
    for _, labels in batches():
        positions = torch.arange(start, start + len(labels))
        sample.add(positions, labels, torch.rand(len(labels), generator=g))
        start += len(labels)
    positions, y = sample.result()
    return rows_at(batches, positions), y


def rows_at(batches: Batches, positions: torch.Tensor) -> torch.Tensor:
    """The normalised features of the images at ``positions`` of ``batches``, in that order:
    each batch normalised whole, as every pass over it is (the same numbers), and only its
    wanted rows copied."""
    by_position = positions.argsort()
    ordered = positions[by_position]
    out: torch.Tensor | None = None
    start = 0
    for features, labels in batches():
        end = start + len(labels)
        lo, hi = (int(i) for i in torch.searchsorted(ordered, torch.tensor([start, end])))
        if hi > lo:
            rows = normalise(features)
            if out is None:
                out = rows.new_empty(len(positions), rows.shape[1])
            out[by_position[lo:hi]] = rows[ordered[lo:hi] - start]
        start = end
    return out if out is not None else torch.zeros(0)

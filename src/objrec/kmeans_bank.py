"""The kNN bank of the ``mahalanobis+knn`` score: ``per_class`` k-means centroids of each class's
sampled training features (``feature_stream.class_sample``), so that its size is bounded by the
number of classes, not of images; in NumPy alone, so that ``unknown_scores.fit_sum`` runs it in a
second thread beside the Mahalanobis part. Nothing here prints.
"""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import numpy as np
import torch

from objrec.feature_stream import normalise
from objrec.kmeans import kmeans_centres


def class_centroids(x: torch.Tensor, y: torch.Tensor, per_class: int) -> torch.Tensor:
    """``per_class`` k-means centroids of each class's (normalised) features, L2-normalised: a kNN
    bank whose size is bounded by the number of classes, not of images. A class with fewer
    distinct images (copies of one photo stay in one split) gets one centroid per distinct image:
    k-means asked for more repeated one (counted twice by the ``k``-th neighbour) and warned.
    The k-means is scikit-learn's ``KMeans(k, n_init=3, random_state=0)``, computed as it computes
    it without importing it (``objrec.kmeans``: 0.7 to 1.6 s of a warm retrain's calibration)."""
    return normalise(torch.from_numpy(class_centres(x.float().numpy(), y.numpy(), per_class)))


def class_centres(
    x: np.ndarray, y: np.ndarray, per_class: int, stop: threading.Event | None = None
) -> np.ndarray:
    """:func:`class_centroids`' centroids before their normalising (float64), in NumPy alone, no
    PyTorch operation: :func:`~objrec.unknown_scores.fit_sum` runs it in a second thread, where
    each PyTorch operation would start a team of threads of its own. ``stop``, once set, ends it
    before the next class (CancelledError): it returns every class's centroids or none."""
    bank = []
    for c in np.unique(y):
        if stop is not None and stop.is_set():
            raise CancelledError("the k-means was called off")
        xc = x[y == c].astype(np.float64)  # float32 to float64 exactly, as ``Tensor.double``
        k = min(per_class, distinct_rows(xc))
        bank.append(kmeans_centres(xc, k, n_init=3, seed=0))
    return np.concatenate(bank)


def distinct_rows(x: np.ndarray) -> int:
    """How many distinct rows the 2-D float array ``x`` has, counted as ``np.unique(x, axis=0)``
    counts them (by value: -0.0 equals 0.0, a row holding a NaN equals no other), by hashing each
    row's bytes instead of sorting the rows as records of 3,840 fields: 0.94 s of a warm retrain's
    calibration on the 100-class protocol (101 classes), now a few milliseconds."""
    rows = np.ascontiguousarray(x + 0.0)  # -0.0 + 0.0 is 0.0: equal values, equal bytes
    nan = np.isnan(rows).any(axis=1)
    return len({row.tobytes() for row in rows[~nan]}) + int(nan.sum())

"""k-means as scikit-learn's ``KMeans(k, n_init=n_init, random_state=seed)`` fits it on dense
float64 rows with unit weights (k-means++ seeding, then Lloyd's iterations), in NumPy.

Why not scikit-learn itself: the unknown score's centroids (``kmeans_bank.class_centroids``) were
its only use in ``train``, and importing ``sklearn.cluster`` took 0.7 to 1.6 s of a warm retrain
of the 100-class protocol (``sklearn.utils.fixes`` imports ``scipy.stats`` whatever is used),
more than the 100 small fits themselves. This is the same algorithm step for step (scikit-learn
1.9's ``_kmeans_plusplus``, ``_kmeans_single_lloyd`` and its Cython iteration): the same random
draws from ``np.random.RandomState(seed)``, the same centring of the rows on their mean, the
same distances, tie-breaks, empty-cluster relocation, tolerance and convergence tests, and the
same choice among the ``n_init`` runs. Only the order of some floating-point sums may differ
(BLAS blocking, threads), by about 1e-16 relative: the centroids equal scikit-learn's to float64
rounding, and a choice decided by a difference that small (a tie) is the only way they could
part (tested against scikit-learn on random and on clustered data).
"""

from __future__ import annotations

import numpy as np

MAX_ITER = 300
TOL = 1e-4


def kmeans_centres(x: np.ndarray, k: int, n_init: int = 3, seed: int = 0) -> np.ndarray:
    """The ``k`` centroids (k, features) of the rows of ``x`` (at least ``k`` of them): of the
    ``n_init`` seeded runs, the first of lowest inertia (a later run replaces an earlier one only
    when its inertia is lower and its clustering differs), as scikit-learn chooses."""
    x = np.array(x, dtype=np.float64, order="C")  # a copy: centred in place below
    if x.ndim != 2 or not 1 <= k <= len(x):
        raise ValueError(f"k-means needs at least k={k} rows, got an array of shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("k-means got features that are NaN or infinite")
    tol = float(np.mean(np.var(x, axis=0)) * TOL)
    mean = x.mean(axis=0)
    x -= mean  # as scikit-learn does, for more accurate distances
    norms = np.einsum("ij,ij->i", x, x)
    random = np.random.RandomState(seed)
    best: tuple[np.ndarray, float, np.ndarray] | None = None
    for _ in range(n_init):
        labels, inertia, centres = lloyd(x, plus_plus(x, k, norms, random), tol)
        if best is None or (inertia < best[1] and not same_clustering(labels, best[0], k)):
            best = (labels, inertia, centres)
    assert best is not None
    return best[2] + mean


def squared_distances(a: np.ndarray, x: np.ndarray, x_norms: np.ndarray) -> np.ndarray:
    """(len(a), len(x)) squared distances, as scikit-learn's ``_euclidean_distances`` for float64:
    -2 a.x + |a|^2 + |x|^2, at least 0."""
    distances = -2 * (a @ x.T)
    distances += np.einsum("ij,ij->i", a, a)[:, None]
    distances += x_norms[None, :]
    return np.maximum(distances, 0, out=distances)


def plus_plus(x: np.ndarray, k: int, norms: np.ndarray, random: np.random.RandomState):
    """k-means++ seeds (greedy, ``2 + log(k)`` candidates a centre), scikit-learn's draws."""
    n = len(x)
    trials = 2 + int(np.log(k))
    weight = np.ones(n)
    chosen = [int(random.choice(n, p=weight / weight.sum()))]
    closest = squared_distances(x[chosen], x, norms)
    potential = closest @ weight
    for _ in range(1, k):
        draws = random.uniform(size=trials) * potential
        candidates = np.searchsorted(np.cumsum(weight * closest), draws)
        np.clip(candidates, None, closest.size - 1, out=candidates)
        distances = squared_distances(x[candidates], x, norms)
        np.minimum(closest, distances, out=distances)
        potentials = distances @ weight.reshape(-1, 1)
        best = int(np.argmin(potentials))
        potential, closest = potentials[best], distances[best]
        chosen.append(int(candidates[best]))
    return x[chosen].copy()


def nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each row's centre (the first of the smallest), by |c|^2 - 2 x.c, as Lloyd's step ranks."""
    scores = np.einsum("ij,ij->i", centres, centres)[None, :] + -2.0 * (x @ centres.T)
    return scores.argmin(axis=1).astype(np.int32)


def lloyd(x: np.ndarray, centres: np.ndarray, tol: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Lloyd's iterations from ``centres`` until the labels stop changing, the centres' squared
    shift is at most ``tol``, or :data:`MAX_ITER`: the labels, inertia and centres."""
    labels_old = np.full(len(x), -1, dtype=np.int32)
    strict = False
    for _ in range(MAX_ITER):
        labels = nearest(x, centres)
        moved = updated_centres(x, centres, labels)
        shift = np.sqrt(((moved - centres) ** 2).sum(axis=1))
        centres = moved
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if (shift**2).sum() <= tol:
            break
        labels_old[:] = labels
    if not strict:
        labels = nearest(x, centres)
    off = x - centres[labels]
    return labels, float(np.einsum("ij,ij->", off, off)), centres


def updated_centres(x: np.ndarray, old: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each cluster's mean; an empty cluster takes the rows farthest from their centres (taken
    out of their clusters), and one still empty the largest cluster's centre, as scikit-learn's
    ``_relocate_empty_clusters_dense`` and ``_average_centers`` do."""
    k = len(old)
    sums = np.zeros_like(old)
    for j in range(k):  # row after row, as scikit-learn adds them (``np.add.reduceat`` does not)
        sums[j] = x[labels == j].sum(axis=0)
    weights = np.bincount(labels, minlength=k).astype(np.float64)
    empty = np.flatnonzero(weights == 0)
    if len(empty):
        distances = ((x - old[labels]) ** 2).sum(axis=1)
        far = np.argpartition(distances, -len(empty))[: -len(empty) - 1 : -1]
        if distances.max() != 0:
            for cluster, row in zip(empty, far, strict=True):
                sums[labels[row]] -= x[row]
                sums[cluster] = x[row]
                weights[cluster] = 1.0
                weights[labels[row]] -= 1.0
    largest = int(np.argmax(weights))
    for j in range(k):
        if weights[j] > 0:
            sums[j] *= 1.0 / weights[j]
        else:
            sums[j] = sums[largest]
    return sums


def same_clustering(a: np.ndarray, b: np.ndarray, k: int) -> bool:
    """Whether two labellings are the same partition up to the clusters' names."""
    mapping = np.full(k, -1)
    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        if mapping[i] == -1:
            mapping[i] = j
        elif mapping[i] != j:
            return False
    return True

"""Nearest neighbours for the audit: scikit-learn's NearestNeighbors against faiss-cpu, and numpy.

The audit asks each image for its 10 nearest neighbours by cosine similarity (unit vectors,
Euclidean distance). This times exact search in a 100,000-image index of random unit vectors of
the Lite0 feature width (1280) for ``--queries`` of them, three repeats, medians printed side by
side with their ratio to scikit-learn; the answers must agree.

    flock /tmp/objrec-cpu.lock python benchmarks/neighbors.py

faiss-cpu is not an objrec dependency: ``pip install faiss-cpu`` to run this.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def sklearn_knn(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k).fit(base)
    return index.kneighbors(queries, return_distance=False)


def faiss_knn(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    return index.search(queries, k)[1]


def numpy_knn(base: np.ndarray, queries: np.ndarray, k: int, chunk: int = 512) -> np.ndarray:
    result = []
    for start in range(0, len(queries), chunk):
        sims = queries[start : start + chunk] @ base.T
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, 1), axis=1)
        result.append(np.take_along_axis(part, order, 1))
    return np.concatenate(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="synthetic feature rows indexed")
    parser.add_argument("--dim", type=int, default=1280, help="feature dimensions")
    parser.add_argument("--queries", type=int, default=2_000, help="rows queried")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per library (the median is printed)"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    base = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[: args.queries]
    methods = {
        "scikit-learn NearestNeighbors": sklearn_knn,
        "faiss IndexFlatIP": faiss_knn,
        "numpy matmul + argpartition": numpy_knn,
    }
    times, answers = {}, {}
    for name, fn in methods.items():
        runs = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            answers[name] = fn(base, queries, 11)
            runs.append(time.perf_counter() - t)
        times[name] = statistics.median(runs)
    reference = answers["scikit-learn NearestNeighbors"]
    print(
        f"{args.n:,} x {args.dim} unit vectors, 11 nearest of {args.queries:,} queries, "
        f"median of {args.repeats}"
    )
    for name in methods:
        agree = (answers[name] == reference).mean()
        print(
            f"{name:32s} {times[name]:7.2f} s  x{times[name] / times[next(iter(methods))]:.2f}  "
            f"same neighbours {agree:.1%}"
        )


if __name__ == "__main__":
    main()

"""The calibration's steps at the end of ``train``, before and after, side by side.

    OBJREC_CACHE=C python benchmarks/calibration_steps.py --data /work/splits/s0 [--repeats 5] \\
        [--steps NAME ...]

Needs a store holding every feature of DATA (run one ``objrec train DATA`` first). Reads the
training and validation images' centre-view features as ``train``'s calibration reads them, then
times, taking turns (before, now, before, now, ...), medians of ``--repeats``:

* ``k-means``: the default score's 4 centroids a class, each in a fresh Python that has imported
  ``objrec.confidence`` (and torch) untimed: before, ``import sklearn.cluster`` and scikit-learn's
  ``KMeans(k, n_init=3, random_state=0)`` a class, as ``class_centroids`` did; now,
  ``class_centroids`` (``objrec.kmeans``, no scikit-learn). The two banks are checked equal, and
  their float32 bytes compared (what the model stores).

* ``eigenpairs``: the Mahalanobis part's top 256 eigenpairs of the class-centred training
  features (``scatter_eigenpairs``, their trace too): before, the 3,840 x 3,840 scatter summed
  batch by batch and its float32 eigensolve; now, the route ``scatter_eigenpairs`` takes (for
  split s0's 3,095 images, the Gram matrix of the centred images, ``gram_eigenpairs``). Checked
  against the float64 eigensolve of the scatter: the eigenvalues' largest relative error, and the
  Mahalanobis score of every validation image, before and now, as a share of the float64
  score's standard deviation.

Prints seconds, the ratio of now to before, and what was checked. Run it under the CPU lock.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from _sampling import SPLIT, SPLIT_HELP, timed

KMEANS = """
import sys, time, torch
from objrec.confidence import class_centroids, normalise
x, y = torch.load(sys.argv[1])
start = time.perf_counter()
if sys.argv[2] == "before":
    from sklearn.cluster import KMeans
    from objrec.confidence import distinct_rows
    bank = []
    for c in y.unique():
        xc = x[y == c].double().numpy()
        k = min(4, distinct_rows(xc))
        bank.append(torch.from_numpy(KMeans(k, n_init=3, random_state=0).fit(xc).cluster_centers_))
    bank = normalise(torch.cat(bank))
else:
    bank = class_centroids(x, y, 4)
seconds = time.perf_counter() - start
torch.save(bank, sys.argv[3])
print(seconds)
"""


def held_features(data: Path):
    """The centre-view features of the training and validation images, as ``calibrate`` reads
    them from the store, each (features, labels)."""
    from objrec.config import TrainConfig
    from objrec.distributed import SINGLE
    from objrec.progress import SILENT
    from objrec.quantize import int8_engine
    from objrec.train import FeatureSource, prepare, settle_head_precision, settle_precision

    config, _ = settle_precision(TrainConfig(), SINGLE)
    config = replace(config, int8_engine=int8_engine(config.int8_engine))
    config, _ = settle_head_precision(config, SINGLE, False)
    prep = prepare(data, config, SILENT)
    source = FeatureSource(prep.train, prep.valid)
    joined = []
    for stack in (source.train, source.valid):
        xs, ys = zip(*source.batches(stack), strict=True)
        joined.append((torch.cat(xs), torch.cat(ys)))
    return joined


def digest(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.contiguous().numpy().tobytes()).hexdigest()


def kmeans_step(train, folder: Path):
    """The k-means before and now, each a fresh Python (its imports timed)."""
    from objrec.confidence import class_sample

    sample = folder / "sample.pt"
    batches = lambda: zip(train[0].split(1024), train[1].split(1024), strict=True)  # noqa: E731
    torch.save(class_sample(batches), sample)

    def run(which: str) -> float:
        bank = folder / f"{which}.pt"
        command = [sys.executable, "-c", KMEANS, str(sample), which, str(bank)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return float(done.stdout.split()[-1])

    def check() -> str:
        before, now = (torch.load(folder / f"{w}.pt") for w in ("before", "now"))
        worst = float((before - now).abs().max())
        same = digest(before) == digest(now)
        return f"{len(now)} centroids, largest difference {worst:.1e}, same float32 bytes: {same}"

    return (lambda: run("before")), (lambda: run("now")), check


def old_eigenpairs(batches, means, n, k, single=False):
    """``confidence.scatter_eigenpairs`` before the Gram matrix: the scatter at 960 images and
    more (``SVD_IMAGES_PER_FEATURE``)."""
    from objrec import confidence

    scatter = confidence.centred_scatter(batches, means)
    return float(scatter.trace()), *confidence.top_eigenpairs(scatter, k, single)


def float64_eigenpairs(batches, means, n, k, single=False):
    return old_eigenpairs(batches, means, n, k, single=False)


def mahalanobis_with(eigenpairs, batches):
    """``fit_mahalanobis_batches`` with ``eigenpairs`` as its ``scatter_eigenpairs``."""
    from objrec import confidence

    kept = confidence.scatter_eigenpairs
    confidence.scatter_eigenpairs = eigenpairs
    try:
        return confidence.fit_mahalanobis_batches(batches, 256)
    finally:
        confidence.scatter_eigenpairs = kept


def eigen_step(train, valid):
    """The eigenpairs before and now, and how far each score is from float64's."""
    from objrec import confidence

    batches = confidence.in_batches(*train, size=1024)
    sums, counts = confidence.class_sums(batches)
    means, n = sums / counts.clamp(min=1)[:, None], int(counts.sum())
    single = n - len(counts) > 2 * 256
    before_way = lambda: old_eigenpairs(batches, means, n, 256, single)  # noqa: E731
    now_way = lambda: confidence.scatter_eigenpairs(batches, means, n, 256, single)  # noqa: E731

    @torch.inference_mode()
    def check() -> str:
        exact = float64_eigenpairs(batches, means, n, 256)[1]
        errors = [float(((way()[1] - exact).abs() / exact).max()) for way in (before_way, now_way)]
        fitted = [
            mahalanobis_with(way, batches)
            for way in (old_eigenpairs, confidence.scatter_eigenpairs, float64_eigenpairs)
        ]
        scores = [confidence.score_in_chunks(score, valid[0]) for score in fitted]
        spread = float(scores[2].std())
        apart = [float((s - scores[2]).abs().max()) / spread for s in scores[:2]]
        return (
            f"eigenvalues' largest relative error against float64: before {errors[0]:.1e}, now "
            f"{errors[1]:.1e}; validation scores' largest difference from float64's, in its "
            f"standard deviations: before {apart[0]:.1e}, now {apart[1]:.1e}"
        )

    return (lambda: timed(before_way)), (lambda: timed(now_way)), check


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each")
    parser.add_argument("--steps", nargs="*", default=[], help="the steps to time (default: all)")
    args = parser.parse_args()
    train, valid = held_features(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        made = {
            "k-means": lambda: kmeans_step(train, Path(tmp)),
            "eigenpairs": lambda: eigen_step(train, valid),
        }
        for name in args.steps or made:
            before, now, check = made[name]()
            times: dict[str, list[float]] = {"before": [], "now": []}
            for _ in range(args.repeats):
                times["before"].append(before())
                times["now"].append(now())
            old, new = (statistics.median(times[k]) for k in ("before", "now"))
            print(
                f"{name}: before {old:.3f} s, now {new:.3f} s ({new / old:.2f}), medians of "
                f"{args.repeats}; {check()}"
            )


if __name__ == "__main__":
    main()

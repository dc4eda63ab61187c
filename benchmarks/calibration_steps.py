"""The calibration's steps at the end of ``train``, before and after, side by side.

    OBJREC_CACHE=C python benchmarks/calibration_steps.py --data /work/splits/s0 [--repeats 5] \\
        [--steps NAME ...]

Needs a store holding every feature of DATA (run one ``objrec train DATA`` first). Reads the
training and validation images' centre-view features as ``train``'s calibration reads them, then
times, taking turns (before, now, before, now, ...), medians of ``--repeats``:

* ``k-means``: the default score's 4 centroids a class, each in a fresh Python that has imported
  ``objrec.kmeans_bank`` (and torch) untimed: before, ``import sklearn.cluster`` and scikit-learn's
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

* ``gram``: the same eigenpairs by the Gram matrix's route (``gram_eigenpairs``): before, the
  Gram matrix summed in float64 (``rows @ rows.T``) and rounded to float32 for the solve, the
  scatter's vectors from the float64 rows; now, ``scatter_eigenpairs`` as it is (the Gram matrix
  summed in float32 by ``ssyrk``). Checked as ``eigenpairs`` is, and with ``--unknown FOLDER``
  (class folders of images the model is not taught, e.g. a folder holding a link to Caltech-101's
  ``BACKGROUND_Google``) the default score (``mahalanobis+knn``) fitted each way and in
  float64: its threshold keeping 95% of the validation images, the images on another side of it than
  float64's score puts them, and its AUROC and FPR at 95% TPR against FOLDER's images.

* ``beside``: the default score (``mahalanobis+knn``, not yet standardised) fitted from its class
  sample on: before, the classes' k-means and then the Mahalanobis part, one after the other, as
  ``fit_sum`` did; now, ``fit_sum`` as it is (the k-means in a second thread while the
  Mahalanobis part is fitted). Checked: the two scores' tensors are the same bits.

Prints seconds, the ratio of now to before, and what was checked. PyTorch's and OpenBLAS's idle
threads sleep as in ``objrec`` (``cores.wait_passively``). Run it under the CPU lock.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from objrec.cores import wait_passively

wait_passively(os.environ)  # before PyTorch and NumPy start their threads, as ``objrec`` does

import torch  # noqa: E402
from _sampling import SPLIT, SPLIT_HELP, timed  # noqa: E402

KMEANS = """
import sys, time, torch
from objrec.feature_stream import normalise
from objrec.kmeans_bank import class_centroids
x, y = torch.load(sys.argv[1])
start = time.perf_counter()
if sys.argv[2] == "before":
    from sklearn.cluster import KMeans
    from objrec.kmeans_bank import distinct_rows
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


def held_features(data: Path, unknown: Path | None = None):
    """The centre-view features of the training and validation images, as ``calibrate`` reads
    them from the store, each (features, labels), and of ``unknown``'s images (computed if the
    store lacks them) when given."""
    from objrec.batches import CALIBRATION_BATCH
    from objrec.config import TrainConfig
    from objrec.distributed import SINGLE
    from objrec.int8_body import int8_engine
    from objrec.precision import settle_head_precision, settle_precision
    from objrec.progress import SILENT
    from objrec.train import prepare

    config, _ = settle_precision(TrainConfig(), SINGLE)
    config = replace(config, int8_engine=int8_engine(config.int8_engine))
    config, _ = settle_head_precision(config, SINGLE, False)
    prep, live = prepare(data, replace(config, aug_views=0), SILENT)  # the centre view alone
    stacks = [prep.train, prep.valid]
    if unknown is not None:
        stacks.append(centre_stack(unknown, prep, live.model.body, config))
    joined = []
    for stack in stacks:  # read as calibrate reads the stored rows
        xs, ys = zip(*stack.batches(CALIBRATION_BATCH), strict=True)
        joined.append((torch.cat(xs), torch.cat(ys)))
    return joined


def centre_stack(folder: Path, prep, body, config):
    """The centre view of ``folder``'s images (class folders) through the run's ``body`` (with
    ``prep``'s data config), from the store (what it lacks computed first)."""
    from objrec.batches import ViewStack
    from objrec.cache import open_cache
    from objrec.data import scan_class_folder
    from objrec.features import feature_table
    from objrec.frozen import FrozenBody
    from objrec.views import ViewSpec

    cache = open_cache(config.cache_dir, config.feature_dtype)
    frozen = FrozenBody(body, prep.data.input_size, cache, name=config.backbone)
    table = feature_table(frozen, scan_class_folder(folder).samples, ViewSpec(prep.data))
    return ViewStack([table]).hold()


def digest(tensor: torch.Tensor) -> str:
    return hashlib.sha1(tensor.contiguous().numpy().tobytes()).hexdigest()


def kmeans_step(train, folder: Path):
    """The k-means before and now, each a fresh Python (its imports timed)."""
    from objrec.feature_stream import class_sample

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
    """``eigenpairs.scatter_eigenpairs`` before the Gram matrix: the scatter at 960 images and
    more (``SVD_IMAGES_PER_FEATURE``)."""
    from objrec import eigenpairs as solvers

    scatter = solvers.centred_scatter(batches, means)
    return float(scatter.trace()), *solvers.top_eigenpairs(scatter, k, single)


def float64_eigenpairs(batches, means, n, k, single=False):
    return old_eigenpairs(batches, means, n, k, single=False)


def float64_gram_eigenpairs(batches, means, n, k, single=False):
    """``eigenpairs.scatter_eigenpairs`` on the Gram matrix's route before it was summed in
    float32: ``rows @ rows.T`` in float64, rounded to float32 for the solve (sessions 27 to 29)."""
    from objrec import eigenpairs as solvers

    rows = solvers.centred_rows(batches, means, n)
    trace = float(rows.pow(2).sum())
    values, vectors = solvers.top_eigenpairs(rows @ rows.t(), k, single=True)
    return trace, values, (rows.t() @ vectors) / values.sqrt()


def mahalanobis_with(eigenpairs, batches):
    """``fit_mahalanobis_batches`` with ``eigenpairs`` as its ``scatter_eigenpairs``."""
    from objrec import unknown_scores

    kept = unknown_scores.scatter_eigenpairs
    unknown_scores.scatter_eigenpairs = eigenpairs
    try:
        return unknown_scores.fit_mahalanobis_batches(batches, 256)
    finally:
        unknown_scores.scatter_eigenpairs = kept


def eigen_step(train, valid, unknown=None, old=old_eigenpairs):
    """The eigenpairs before (``old``) and now, and how far each score is from float64's; with
    ``unknown`` features, the default score's threshold and open-set figures each way too."""
    from objrec import confidence, unknown_scores
    from objrec.eigenpairs import scatter_eigenpairs
    from objrec.feature_stream import in_batches

    batches = in_batches(train[0], train[1], size=1024)
    sums, counts = unknown_scores.class_sums(batches)
    means, n = sums / counts.clamp(min=1)[:, None], int(counts.sum())
    single = n - len(counts) > 2 * 256
    before_way = lambda: old(batches, means, n, 256, single)  # noqa: E731
    now_way = lambda: scatter_eigenpairs(batches, means, n, 256, single)  # noqa: E731

    @torch.inference_mode()
    def check() -> str:
        exact = float64_eigenpairs(batches, means, n, 256)[1]
        errors = [float(((way()[1] - exact).abs() / exact).max()) for way in (before_way, now_way)]
        ways = (old, scatter_eigenpairs, float64_eigenpairs)
        fitted = [mahalanobis_with(way, batches) for way in ways]
        scores = [confidence.score_in_chunks(score, valid[0]) for score in fitted]
        spread = float(scores[2].std())
        apart = [float((s - scores[2]).abs().max()) / spread for s in scores[:2]]
        said = (
            f"eigenvalues' largest relative error against float64: before {errors[0]:.1e}, now "
            f"{errors[1]:.1e}; validation scores' largest difference from float64's, in its "
            f"standard deviations: before {apart[0]:.1e}, now {apart[1]:.1e}"
        )
        if unknown is None:
            return said
        return said + "".join(unknown_lines(ways, batches, valid, unknown))

    return (lambda: timed(before_way)), (lambda: timed(now_way)), check


def unknown_lines(ways, batches, valid, unknown):
    """The default score (``mahalanobis+knn``) fitted with each way's eigenpairs (before, now,
    float64), standardised on the validation images: its threshold keeping 95% of them, the
    validation and unknown images it puts on another side than float64's, AUROC and FPR."""
    from objrec import confidence, unknown_scores
    from objrec.feature_stream import in_batches
    from objrec.thresholds import open_set_metrics

    options = unknown_scores.SCORE_OPTIONS["mahalanobis+knn"]
    known, other, thresholds = [], [], []
    for way in ways:
        score = mahalanobis_with_sum(way, batches, options)
        known.append(score.standardised_scores(in_batches(valid[0], valid[1], size=1024)))
        other.append(confidence.score_in_chunks(score, unknown[0]))
        ordered = known[-1].double().sort().values  # keeping_threshold's, not rounded
        rejected = int(0.05 * len(ordered))
        thresholds.append(float(ordered[rejected - 1] + ordered[rejected]) / 2)
    for name, i in (("before", 0), ("now", 1), ("float64", 2)):
        metrics = open_set_metrics(known[i], other[i])
        moved = sum(
            int(((s[i] < thresholds[i]) != (s[2] < thresholds[2])).sum()) for s in (known, other)
        )
        yield (
            f"\n  {name}: threshold (95% kept) {thresholds[i]!r}, images on another side than "
            f"float64's {moved} of {len(known[i]) + len(other[i])}, AUROC {metrics['auroc']!r}, "
            f"FPR at 95% TPR {metrics['fpr_at_95_tpr']!r}"
        )


def mahalanobis_with_sum(eigenpairs, batches, options):
    """``fit_sum`` (the default score, not yet standardised) with ``eigenpairs``."""
    from objrec import unknown_scores

    kept = unknown_scores.scatter_eigenpairs
    unknown_scores.scatter_eigenpairs = eigenpairs
    try:
        return unknown_scores.fit_feature_score_batches("mahalanobis+knn", batches, **options)
    finally:
        unknown_scores.scatter_eigenpairs = kept


def beside_step(train):
    """The default score fitted before (the k-means, then the Mahalanobis part) and now
    (``fit_sum``: the k-means beside it), and whether the two are the same bits."""
    from objrec import unknown_scores
    from objrec.feature_stream import class_sample, in_batches
    from objrec.kmeans_bank import class_centroids

    batches = in_batches(train[0], train[1], size=1024)
    options = unknown_scores.SCORE_OPTIONS["mahalanobis+knn"]
    k, dims, centroids = options["k"], options["dims"], options["centroids"]

    def before():
        bank = class_centroids(*class_sample(batches), centroids)
        mahalanobis = unknown_scores.fit_mahalanobis_batches(batches, dims)
        return unknown_scores.SumScore(
            [mahalanobis, unknown_scores.KnnScore(bank, k, normalised=True)]
        )

    def now():
        return unknown_scores.fit_sum(batches, k, dims, centroids)

    @torch.inference_mode()
    def check() -> str:
        old, new = before().state_dict(), now().state_dict()
        same = old.keys() == new.keys() and all(torch.equal(old[n], new[n]) for n in old)
        return f"the score's {len(new)} tensors the same bits: {same}"

    return (lambda: timed(before)), (lambda: timed(now)), check


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each")
    parser.add_argument("--steps", nargs="*", default=[], help="the steps to time (default: all)")
    parser.add_argument(
        "--unknown", type=Path, help="class folders of untaught images, for the gram step's check"
    )
    args = parser.parse_args()
    train, valid, *rest = held_features(args.data, args.unknown)
    unknown = rest[0] if rest else None
    with tempfile.TemporaryDirectory() as tmp:
        made = {
            "k-means": lambda: kmeans_step(train, Path(tmp)),
            "eigenpairs": lambda: eigen_step(train, valid),
            "gram": lambda: eigen_step(train, valid, unknown, old=float64_gram_eigenpairs),
            "beside": lambda: beside_step(train),
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

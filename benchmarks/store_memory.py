"""Peak memory of head training that streams its batches from the feature store.

Builds a synthetic store of ``--images`` images (random features, ``--views`` views each, rows of
``--dim`` values in ``--dtype``) in a temporary folder, then trains objrec's default head (five
heads, ``--classes`` classes) for ``--batches`` batches of an epoch (default: the whole epoch)
through ``batches.feature_batches`` on a ``ViewStack``, exactly as ``objrec train`` does. Prints
the process's peak resident memory after building the store, after looking up the tables, and
after training, beside what stacking every view in memory (the earlier design) would have needed.
With ``--calibrate SCORE`` it then runs ``train``'s calibration (``confidence.fit_confidence``,
reading the store batch by batch) with the first ``--valid`` images as the validation set, and
prints the peak after it.

    flock /tmp/objrec-cpu.lock python benchmarks/store_memory.py --images 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from objrec.batches import ViewStack, feature_batches
from objrec.confidence import fit_confidence
from objrec.engine import train_one_epoch
from objrec.features import FeatureTable
from objrec.model import build_head
from objrec.store import FeatureStore
from objrec.unknown_scores import SCORES


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def digest(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()[:32]


def build(store: FeatureStore, n: int, dim: int, dtype: str, views: int, chunk: int = 8192):
    space = store.space("synthetic", dim, dtype, "synthetic")
    rng = np.random.default_rng(0)
    for view in range(views):
        for start in range(0, n, chunk):
            ids = range(start, min(start + chunk, n))
            features = rng.standard_normal((len(ids), dim), dtype=np.float32)
            space.write(f"v{view}", [digest(i) for i in ids], features)
    return space


def tables(store: FeatureStore, space, n: int, views: int, classes: int) -> list[FeatureTable]:
    digests = [digest(i) for i in range(n)]
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, classes, n))
    result = []
    for view in range(views):
        found = store.lookup(space.id, f"v{view}", digests)
        ok = torch.from_numpy(found.rows >= 0)
        result.append(FeatureTable(space=space, rows=found.rows, labels=labels, ok=ok))
    return result


def reporting(batches, every: int = 1000):
    """The batches, with a line (batches so far, peak RSS) every ``every`` of them."""
    started = time.perf_counter()
    for i, batch in enumerate(batches, 1):
        yield batch
        if i % every == 0:
            seconds = time.perf_counter() - started
            print(f"  {i:,} batches, {seconds:.0f} s, peak RSS {peak_mib():,.0f} MiB", flush=True)


def calibrate(head, stack: ViewStack, n_valid: int, score: str) -> str:
    """``train``'s calibration on the store: the first ``n_valid`` images stand for the valid set."""
    valid = ViewStack(
        [
            FeatureTable(
                space=t.space, rows=t.rows[:n_valid], labels=t.labels[:n_valid], ok=t.ok[:n_valid]
            )
            for t in stack.tables[:1]
        ]
    )
    t0 = time.perf_counter()
    fitted = fit_confidence(
        head.cpu(), lambda: stack.batches(1024), lambda: valid.batches(1024), score
    )
    return (
        f"peak RSS after calibrating ({score} on {len(stack):,} images, temperature and threshold "
        f"on {len(valid):,}; {time.perf_counter() - t0:.0f} s, threshold {fitted.threshold:.4f}): "
        f"{peak_mib():,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--images", type=int, default=1_000_000, help="synthetic images in the store"
    )
    parser.add_argument("--dim", type=int, default=1280, help="feature dimensions")
    parser.add_argument("--dtype", default="float16", help="stored feature type")
    parser.add_argument("--views", type=int, default=2, help="views per image")
    parser.add_argument("--classes", type=int, default=1000, help="synthetic classes")
    parser.add_argument("--batch-size", type=int, default=128, help="head batch size")
    parser.add_argument("--batches", type=int, default=0, help="0: the whole epoch")
    parser.add_argument("--calibrate", choices=SCORES, help="then calibrate with this score")
    parser.add_argument("--valid", type=int, default=50_000, help="validation images (calibrate)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="objrec-store-memory-"))
    try:
        with FeatureStore(root) as store:
            t0 = time.perf_counter()
            space = build(store, args.images, args.dim, args.dtype, args.views)
            built, build_s = peak_mib(), time.perf_counter() - t0
            print(f"built in {build_s:.0f} s, peak RSS {built:,.0f} MiB", flush=True)
            stack = ViewStack(tables(store, space, args.images, args.views, args.classes))
            looked_up = peak_mib()
            head = build_head(args.dim, args.classes, 256, 0.4, 5)
            optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
            batches = feature_batches(stack, stack.labels, args.batch_size, seed=0)
            if args.batches:
                batches = (b for b, _ in zip(batches, range(args.batches), strict=False))
            batches = reporting(batches)
            t0 = time.perf_counter()
            metrics = train_one_epoch(head, batches, optimizer)
            train_s = time.perf_counter() - t0
            trained = peak_mib()
            if args.calibrate:
                calibrated = calibrate(head, stack, args.valid, args.calibrate)
            on_disk = sum(p.stat().st_blocks * 512 for p in root.iterdir())
    finally:
        shutil.rmtree(root)
    stacked = args.images * args.views * args.dim * 4 / 2**20
    print(
        f"synthetic store: {args.images:,} images x {args.views} views x {args.dim} {args.dtype}"
        f" = {on_disk / 2**30:.2f} GiB on disk, built in {build_s:.0f} s"
    )
    print(f"peak RSS after building the store:      {built:,.0f} MiB")
    print(f"peak RSS after looking up its tables:   {looked_up:,.0f} MiB")
    print(f"peak RSS after training {metrics['n']:,} images ({train_s:.0f} s): {trained:,.0f} MiB")
    if args.calibrate:
        print(calibrated)
    print(
        f"the views stacked in memory as float32 (the earlier design) would take {stacked:,.0f} MiB"
    )


if __name__ == "__main__":
    main()

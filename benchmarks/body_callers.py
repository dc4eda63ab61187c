"""One batch in the ONNX Runtime body at a time, with every thread, against two at once; or, with
``--batches``, the frozen pass's batch size (``frozen.FROZEN_BATCH``).

    python benchmarks/body_callers.py [--data /work/splits/s0] [--images 256] [--repeats 3]
        [--precision int8 fp32] [--callers 1 2 | --batches 16 8 4]

The frozen pass decodes images in a thread beside the body. With one batch at a time, ONNX Runtime
splits each operator over all PyTorch's threads, and each operator waits for the slowest of them,
which is the one whose core the decoding thread has just taken. With ``frozen.BODY_CALLERS``
batches at once (objrec's default, 2), the batches share one session's threads (one each on 2
cores, no pool) and nothing waits for another. On a fixed sample of ``--images`` training images
of the split (seeded), with the default body in int8 and in fp32 (graphs made once per cache
folder and kept in the feature store's folder), this times ``frozen.compute_features`` (files to
features, no store) with 1 and 2 batches at once, for the centre view and the first augmented view. Each arm
runs in a process of its own (so that its peak memory is its own); the two arms run each view back
to back, each first in turn. It prints images/s of every run, their medians and ratio, the median
of each repeat's ratio (steadier on a shared machine), whether the features are identical, and
each process's peak resident memory. Run it alone, under the CPU lock.

With ``--batches``, the arms are objrec's frozen pass (``BODY_CALLERS`` batches at once) in batches
of each size, the first size the one the others are compared with; "same features" then says
whether they are identical to its features, and if not, by how much the largest difference is.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
from _sampling import sample_parser, seeded_sample

import objrec.frozen as frozen_module
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.cache import FeatureCache
from objrec.cache_folder import default_cache_dir
from objrec.config import DEFAULT_BACKBONE
from objrec.frozen import FrozenBody, compute_features
from objrec.quantize import quantize_body
from objrec.views import ViewSpec

VIEWS = ("centre", "augmented")
_ARM: dict = {}


def set_up(precision: str, callers: int, batch: int, data_dir: Path, images: int) -> None:
    """Build the arm's body in this worker process and run it once (sessions made, warm)."""
    frozen_module.BODY_CALLERS, frozen_module.FROZEN_BATCH = callers, batch
    spec = get_backbone(DEFAULT_BACKBONE)
    data = resolve_data_config(spec)
    body = build_body(spec)
    if precision == "int8":
        body = quantize_body(body, data, default_cache_dir())
    samples = seeded_sample(data_dir / "train", images)
    frozen = FrozenBody(body, data.input_size, FeatureCache(None), name=precision)
    views = {
        "centre": (ViewSpec(data), None),
        "augmented": (ViewSpec(data, "article", 1), list(range(len(samples)))),
    }
    compute_features(frozen, samples[:32], views["centre"][0])
    _ARM.update(frozen=frozen, samples=samples, views=views)


def timed(view: str) -> tuple[float, torch.Tensor, tuple[int, int]]:
    """Images/s of one files-to-features run of ``view``, its features and the body's callers
    and batch size."""
    spec, seeds = _ARM["views"][view]
    start = time.perf_counter()
    frozen = _ARM["frozen"]
    got = compute_features(frozen, _ARM["samples"], spec, seeds=seeds).features
    rate = len(_ARM["samples"]) / (time.perf_counter() - start)
    return rate, got, (frozen.callers, frozen.batch_size)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sameness(got: torch.Tensor, reference: torch.Tensor) -> str:
    if torch.equal(got, reference):
        return "identical"
    return f"largest difference {float((got - reference).abs().max()):.2e}"


def compare(precision: str, arms: dict[str, tuple[int, int]], args: argparse.Namespace) -> None:
    """Time every arm (a name: its callers and batch size) against the first, view by view."""
    pools: dict[str, ProcessPoolExecutor] = {}
    try:
        for name, (callers, batch) in arms.items():
            pools[name] = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
            pools[name].submit(set_up, precision, callers, batch, args.data, args.images).result()
        rates: dict[tuple[str, str], list[float]] = {}
        outputs: dict[tuple[str, str], torch.Tensor] = {}
        for repeat in range(args.repeats):
            for view in VIEWS:
                names = list(pools)
                for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
                    rate, got, used = pools[name].submit(timed, view).result()
                    assert used == arms[name], f"{name}: asked for {arms[name]}, got {used}"
                    rates.setdefault((name, view), []).append(rate)
                    outputs.setdefault((name, view), got)
        peaks = {name: pool.submit(peak_mib).result() for name, pool in pools.items()}
    finally:
        for pool in pools.values():
            pool.shutdown()
    first = next(iter(arms))
    for view in VIEWS:
        for name in arms:
            runs = " ".join(f"{r:.1f}" for r in rates[name, view])
            median = statistics.median(rates[name, view])
            print(f"{precision} {view:10s} {name:12s} {runs}  median {median:.1f} images/s")
        for name in list(arms)[1:]:
            pairs = zip(rates[first, view], rates[name, view], strict=True)
            ratio = statistics.median(rates[name, view]) / statistics.median(rates[first, view])
            paired = statistics.median(b / a for a, b in pairs)
            print(
                f"{precision} {view:10s} {name} / {first}: {ratio:.3f} (medians), {paired:.3f} "
                f"(median of each repeat's ratio); features: "
                + sameness(outputs[name, view], outputs[first, view])
            )
    print(f"{precision} peak memory: " + ", ".join(f"{n} {m:.0f} MiB" for n, m in peaks.items()))


def main() -> None:
    parser = sample_parser(__doc__, images=256, repeats=3)
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=("int8", "fp32"),
        default=["int8", "fp32"],
        help="body precisions measured",
    )
    parser.add_argument(
        "--callers", type=int, nargs="+", default=[1, 2], help="compare these batches at once"
    )
    parser.add_argument("--batches", type=int, nargs="+", help="compare these batch sizes")
    args = parser.parse_args()
    print(f"{args.images} images of {args.data}, {torch.get_num_threads()} threads")
    if args.batches:
        arms = {f"batch {b}": (frozen_module.BODY_CALLERS, b) for b in args.batches}
    else:
        arms = {f"{c} at once": (c, frozen_module.FROZEN_BATCH) for c in args.callers}
    for precision in args.precision:
        compare(precision, arms, args)


if __name__ == "__main__":
    main()

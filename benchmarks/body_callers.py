"""One batch in the ONNX Runtime body at a time, with every thread, against two at once.

    python benchmarks/body_callers.py [--data /work/splits/s0] [--images 256] [--repeats 3]
        [--precision int8 fp32]

The frozen pass decodes images in a thread beside the body. With one batch at a time, ONNX Runtime
splits each operator over all PyTorch's threads, and each operator waits for the slowest of them,
which is the one whose core the decoding thread has just taken. With ``features.BODY_CALLERS``
batches at once (objrec's default, 2), the batches share one session's threads (one each on 2
cores, no pool) and nothing waits for another. On a fixed sample of ``--images`` training images
of the split (seeded), with the default body in int8 and in fp32 (graphs made once per cache
folder and kept in the feature store's folder), this times ``features.compute_features`` (files to
features, no store) with 1 and 2 batches at once, for the centre view and the first augmented view. Each arm
runs in a process of its own (so that its peak memory is its own); the two arms run each view back
to back, each first in turn. It prints images/s of every run, their medians and ratio, the median
of each repeat's ratio (steadier on a shared machine), whether the features are identical, and
each process's peak resident memory. Run it alone, under the CPU lock.
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
from sampling import sample_parser, seeded_sample

import objrec.features as features
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.config import DEFAULT_BACKBONE
from objrec.features import FeatureCache, FrozenBody, ViewSpec, compute_features
from objrec.quantize import quantize_body
from objrec.store import default_cache_dir

VIEWS = ("centre", "augmented")
_ARM: dict = {}


def set_up(precision: str, callers: int, data_dir: Path, images: int) -> None:
    """Build the arm's body in this worker process and run it once (sessions made, warm)."""
    features.BODY_CALLERS = callers
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


def timed(view: str) -> tuple[float, torch.Tensor, int]:
    """Images/s of one files-to-features run of ``view``, its features and the body's callers."""
    spec, seeds = _ARM["views"][view]
    start = time.perf_counter()
    got = compute_features(_ARM["frozen"], _ARM["samples"], spec, seeds=seeds).features
    return len(_ARM["samples"]) / (time.perf_counter() - start), got, _ARM["frozen"].callers


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compare(precision: str, args: argparse.Namespace) -> None:
    arms = {}
    try:
        for callers in (1, 2):
            pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
            pool.submit(set_up, precision, callers, args.data, args.images).result()
            arms[callers] = pool
        rates: dict[tuple[int, str], list[float]] = {}
        outputs: dict[tuple[int, str], torch.Tensor] = {}
        for repeat in range(args.repeats):
            for view in VIEWS:
                order = list(arms.items())[:: -1 if repeat % 2 else 1]  # each arm first in turn
                for callers, pool in order:
                    rate, got, used = pool.submit(timed, view).result()
                    assert used == callers, f"asked for {callers} batches at once, got {used}"
                    rates.setdefault((callers, view), []).append(rate)
                    outputs.setdefault((callers, view), got)
        peaks = {callers: pool.submit(peak_mib).result() for callers, pool in arms.items()}
    finally:
        for pool in arms.values():
            pool.shutdown()
    for view in VIEWS:
        medians = [statistics.median(rates[callers, view]) for callers in arms]
        for callers, median in zip(arms, medians, strict=True):
            runs = " ".join(f"{r:.1f}" for r in rates[callers, view])
            print(f"{precision} {view:10s} {callers} at once  {runs}  median {median:.1f} images/s")
        same = torch.equal(outputs[1, view], outputs[2, view])
        paired = statistics.median(
            two / one for one, two in zip(rates[1, view], rates[2, view], strict=True)
        )
        print(
            f"{precision} {view:10s} 2 / 1: {medians[1] / medians[0]:.3f} (medians), "
            f"{paired:.3f} (median of each repeat's ratio); same features: {same}"
        )
    print(
        f"{precision} peak memory: "
        + ", ".join(f"{c} at once {m:.0f} MiB" for c, m in peaks.items())
    )


def main() -> None:
    parser = sample_parser(__doc__, images=256, repeats=3)
    parser.add_argument(
        "--precision", nargs="+", choices=("int8", "fp32"), default=["int8", "fp32"]
    )
    args = parser.parse_args()
    print(f"{args.images} images of {args.data}, {torch.get_num_threads()} threads")
    for precision in args.precision:
        compare(precision, args)


if __name__ == "__main__":
    main()

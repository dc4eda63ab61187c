"""The views' float conversion and normalisation once an image against once a batch, files to features.

    python benchmarks/batch_finish.py [--data /work/splits/s0] [--images 384] [--repeats 5]
        [--precision int8 fp32]

The frozen pass decodes and transforms images in a thread beside the body, on the same two cores.
Each view ends with ``ToDtype`` and ``Normalize``; with ``frozen.BATCH_FINISH`` (objrec's
default) the loader stacks the uint8 views and runs those two steps once on the batch
(``transforms.build_batch_finish``) instead of once on each image before the stack. On a fixed
sample of ``--images`` training images of the split (seeded):

1. In this process, both ways' batches of the sample (centre view, and the first augmented view
   seeded by position) are compared with ``torch.equal``, and the decoding thread's work alone
   (the loader, no body, one thread) is timed in CPU milliseconds per view, each way in turn.
2. With the default body in int8 and in fp32 (graphs made once per cache folder and kept in the
   feature store's folder), ``frozen.compute_features`` (files to features, no store) is timed
   both ways, each way in a process of its own, the two back to back for each view, each first in
   turn. It prints images/s of every run, their medians and ratio, the median of each repeat's
   ratio (steadier on a shared machine), and whether the features are identical.

Run it alone, under the CPU lock.
"""

from __future__ import annotations

import argparse
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
from objrec.loaders import make_loader, openmp_threads
from objrec.quantize import quantize_body
from objrec.transforms import build_batch_finish, draft_size
from objrec.views import SeededViewDataset, ViewSpec

VIEWS = ("centre", "augmented")
WAYS = {"per image": False, "per batch": True}
_ARM: dict = {}


def view_specs(data, n: int) -> dict:
    """Each view's spec and seeds (the augmented view seeded by position, as the tests do)."""
    return {
        "centre": (ViewSpec(data), None),
        "augmented": (ViewSpec(data, "article", 1), list(range(n))),
    }


def loader_batches(samples, spec: ViewSpec, seeds, per_batch: bool) -> list[torch.Tensor]:
    """The frozen pass's batches of ``samples`` made one way, decoded on one thread."""
    finish = build_batch_finish(spec.data) if per_batch else None
    transform = spec.transform(finish=not per_batch)
    dataset = SeededViewDataset(samples, transform, spec.view, draft_size(spec.data), seeds)
    with openmp_threads(1):
        return [b.images for b in make_loader(dataset, frozen_module.FROZEN_BATCH, finish=finish)]


def check_and_time_decoding(samples, data, repeats: int) -> None:
    """Both ways' batches compared, and the decoding alone timed (CPU ms a view, median)."""
    for view, (spec, seeds) in view_specs(data, len(samples)).items():
        made = {way: loader_batches(samples, spec, seeds, b) for way, b in WAYS.items()}
        same = all(map(torch.equal, *made.values()))
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(repeats):
            for way, per_batch in WAYS.items():
                start = time.process_time()
                loader_batches(samples, spec, seeds, per_batch)
                times[way].append((time.process_time() - start) / len(samples) * 1e3)
        medians = {way: statistics.median(t) for way, t in times.items()}
        runs = "; ".join(
            f"{way} {' '.join(f'{t:.2f}' for t in times[way])} ({medians[way]:.2f})" for way in WAYS
        )
        print(f"decoding alone, {view:9s} CPU ms a view: {runs}; identical batches: {same}")


def set_up(precision: str, per_batch: bool, data_dir: Path, images: int) -> None:
    """Build the arm's body in this worker process and run it once (sessions made, warm)."""
    frozen_module.BATCH_FINISH = per_batch
    spec = get_backbone(DEFAULT_BACKBONE)
    data = resolve_data_config(spec)
    body = build_body(spec)
    if precision == "int8":
        body = quantize_body(body, data, default_cache_dir())
    samples = seeded_sample(data_dir / "train", images)
    frozen = FrozenBody(body, data.input_size, FeatureCache(None), name=precision)
    views = view_specs(data, len(samples))
    compute_features(frozen, samples[:32], views["centre"][0])
    _ARM.update(frozen=frozen, samples=samples, views=views)


def timed(view: str) -> tuple[float, torch.Tensor]:
    """Images/s of one files-to-features run of ``view``, and its features."""
    spec, seeds = _ARM["views"][view]
    start = time.perf_counter()
    got = compute_features(_ARM["frozen"], _ARM["samples"], spec, seeds=seeds).features
    return len(_ARM["samples"]) / (time.perf_counter() - start), got


def run_arms(precision: str, args: argparse.Namespace) -> tuple[dict, dict]:
    """Every repeat of both ways, each way in a process of its own: rates and first features."""
    arms = {}
    rates: dict[tuple[str, str], list[float]] = {}
    outputs: dict[tuple[str, str], torch.Tensor] = {}
    try:
        for way, per_batch in WAYS.items():
            pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
            pool.submit(set_up, precision, per_batch, args.data, args.images).result()
            arms[way] = pool
        for repeat in range(args.repeats):
            for view in VIEWS:
                order = list(arms.items())[:: -1 if repeat % 2 else 1]  # each way first in turn
                for way, pool in order:
                    rate, got = pool.submit(timed, view).result()
                    rates.setdefault((way, view), []).append(rate)
                    outputs.setdefault((way, view), got)
    finally:
        for pool in arms.values():
            pool.shutdown()
    return rates, outputs


def compare(precision: str, args: argparse.Namespace) -> None:
    rates, outputs = run_arms(precision, args)
    for view in VIEWS:
        medians = [statistics.median(rates[way, view]) for way in WAYS]
        for way, median in zip(WAYS, medians, strict=True):
            runs = " ".join(f"{r:.1f}" for r in rates[way, view])
            print(f"{precision} {view:9s} {way:9s}  {runs}  median {median:.1f} images/s")
        before, after = (rates[way, view] for way in WAYS)
        paired = statistics.median(b / a for a, b in zip(before, after, strict=True))
        same = torch.equal(*(outputs[way, view] for way in WAYS))
        print(
            f"{precision} {view:9s} per batch / per image: {medians[1] / medians[0]:.3f} "
            f"(medians), {paired:.3f} (median of each repeat's ratio); same features: {same}"
        )


def main() -> None:
    parser = sample_parser(__doc__, images=384, repeats=5)
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=("int8", "fp32"),
        default=["int8", "fp32"],
        help="body precisions measured",
    )
    args = parser.parse_args()
    print(f"{args.images} images of {args.data}, {torch.get_num_threads()} threads")
    samples = seeded_sample(args.data / "train", args.images)
    check_and_time_decoding(samples, resolve_data_config(get_backbone(DEFAULT_BACKBONE)), 3)
    for precision in args.precision:
        compare(precision, args)


if __name__ == "__main__":
    main()

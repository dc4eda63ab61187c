"""Frozen-pass batch size against speed and peak memory, ONNX Runtime, the default backbone.

    python benchmarks/frozen_batch.py [--batches 16 32 64] [--repeats 3] [--backbone NAME]

Each batch size runs in its own process (peak memory is per process): the body is built and
exported to ONNX as ``objrec train`` does it (``runtime.make_runner``), one warm-up batch runs, then
``--repeats`` timed batches. Prints each size's images/s (the median of its timed batches) and the
process's peak resident memory as it ends, then the sizes' medians side by side, each with its
ratio to the first size's.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _medians import median_table

from objrec.backbones import build_body, get_backbone
from objrec.config import DEFAULT_BACKBONE
from objrec.runtime import make_runner


def measure(backbone: str, batch: int, repeats: int, onnx_path: Path) -> dict:
    spec = get_backbone(backbone)
    size = spec.data_config.input_size
    run, used = make_runner(build_body(spec).eval(), size, "auto", onnx_path)
    x = torch.randn(batch, 3, size, size)
    run(x)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        rates.append(batch / (time.perf_counter() - start))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"batch": batch, "runner": used, "images_s": rates, "peak_gib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=[16, 32, 64],
        help="frozen-pass batch sizes compared",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed passes per batch size (the median is printed)"
    )
    parser.add_argument(
        "--backbone", default=DEFAULT_BACKBONE, help="body measured [default: objrec's default]"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process's batch
    parser.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.backbone, args.one, args.repeats, args.onnx)))
        return
    print(
        f"{args.backbone}: {args.repeats} timed batches after a warm-up, each size in its process"
    )
    print(f"{'batch':>6s} {'images/s':>9s} {'peak GiB':>9s}")
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "body.onnx"  # exported by the first child, reused by the others
        for batch in args.batches:
            child = ["--backbone", args.backbone, "--one", str(batch), "--onnx", str(onnx_path)]
            out = subprocess.run(
                [sys.executable, __file__, *child, "--repeats", str(args.repeats)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rates[f"batch {batch}"] = r["images_s"]
            median = statistics.median(r["images_s"])
            print(f"{batch:6d} {median:9.1f} {r['peak_gib']:9.2f}  ({r['runner']})", flush=True)
    print(f"\nimages/s, medians of {args.repeats} batches:")
    print("\n".join(median_table(rates, "images/s", digits=1)))


if __name__ == "__main__":
    main()

"""Wall time of the frozen pass in 1 process against 2 torchrun processes, on the same images.

    python benchmarks/ddp_frozen_pass.py [--classes 20] [--repeats 3]

Splits ``--classes`` Caltech-101 classes, then runs ``objrec train --epochs 1 --aug-views 1`` from an
empty feature cache, alone and under ``torchrun --nproc-per-node 2`` (each rank one thread, as
torchrun sets it), and prints the median time of the frozen pass (``seconds.features`` of the
run's summary) and of the whole command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from objrec.data import class_dirs
from objrec.split.recipe import split_folder

CALTECH = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech101"


def one_run(work: Path, data: Path, procs: int) -> tuple[float, float]:
    cache, run = work / "cache", work / "run"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)
    launcher = (
        [sys.executable, "-m", "objrec"]
        if procs == 1
        else [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(procs),
            "-m",
            "objrec",
        ]
    )
    start = time.perf_counter()
    subprocess.run(
        [*launcher, "train", str(data), "--out", str(run), "--epochs", "1", "--aug-views", "1"],
        check=True,
        capture_output=True,
        env={**os.environ, "OBJREC_CACHE": str(cache)},
    )
    total = time.perf_counter() - start
    return json.loads((run / "summary.json").read_text())["seconds"]["features"], total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--classes",
        type=int,
        default=20,
        help="Caltech-101 classes whose images go through the body",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each arm (the median is printed)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        names = [
            p.name for p in class_dirs(CALTECH) if p.name not in ("Faces", "BACKGROUND_Google")
        ]
        pool = work / "pool"
        pool.mkdir()
        for name in names[: args.classes]:
            (pool / name).symlink_to(CALTECH / name, target_is_directory=True)
        split_folder(pool, work / "data", mode="link")
        n = sum(1 for _ in (work / "data" / "train").rglob("*.jpg")) * 2 + sum(
            1 for _ in (work / "data" / "valid").rglob("*.jpg")
        )
        print(f"{n} images through the frozen body per run; median of {args.repeats} runs")
        results = {}
        for procs in (1, 2):
            runs = [one_run(work, work / "data", procs) for _ in range(args.repeats)]
            results[procs] = (
                statistics.median(r[0] for r in runs),
                statistics.median(r[1] for r in runs),
            )
            print(
                f"{procs} process(es): frozen pass {results[procs][0]:6.1f}s ({n / results[procs][0]:5.1f} img/s), "
                f"whole command {results[procs][1]:6.1f}s",
                flush=True,
            )
        print(f"speed-up of the frozen pass with 2 processes: {results[1][0] / results[2][0]:.2f}x")


if __name__ == "__main__":
    main()

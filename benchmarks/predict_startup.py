"""Wall time of `objrec predict RUN IMAGE` for one image, as a person at the shell waits for it.

Each variant is a source tree of objrec (``NAME=SRC``, put first on PYTHONPATH) and optional extra
predict arguments; the variants run in turn, ``--repeats`` rounds, each run a new process, and the
median of each is printed beside the first's. A warm-up run of each variant comes first (untimed),
so files the OS caches and an ONNX export cached by objrec are there for every timed run. A variant
named by ``--fresh-cache`` runs each time, its warm-up too, with ``OBJREC_CACHE`` a new empty
folder: a machine's first predict, with nothing cached (no OpenVINO compiled graph, no export).

    python benchmarks/predict_startup.py RUN IMAGE --variant before=/tmp/before/src \\
        --variant after=src --variant "after-onnx=src --runtime onnx" --repeats 3
    python benchmarks/predict_startup.py RUN IMAGE --variant before=/tmp/before/src \\
        --variant after=src --variant after-cold=src --fresh-cache after-cold --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(src: str, extra: list[str], run: Path, image: Path, fresh: bool = False) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    command = [sys.executable, "-m", "objrec", "predict", str(run), str(image), *extra]
    with tempfile.TemporaryDirectory(prefix="predict-startup-") as empty:
        if fresh:
            env["OBJREC_CACHE"] = empty
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (objrec train's --out)")
    parser.add_argument("image", type=Path, help="the image predicted")
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="NAME=SRC [ARGS...]",
        help="a source tree of objrec to time (SRC: its src folder, put first on PYTHONPATH) and "
        "extra predict arguments, named NAME in the table; give one --variant per arm",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per variant (the median is printed)"
    )
    parser.add_argument(
        "--fresh-cache",
        action="append",
        default=[],
        metavar="NAME",
        help="run the variant NAME with a new empty OBJREC_CACHE each time (nothing cached)",
    )
    args = parser.parse_args()
    variants = {}
    for spec in args.variant:
        name, rest = spec.split("=", 1)
        src, *extra = rest.split()
        variants[name] = (src, extra)
    fresh = set(args.fresh_cache)
    for name, (src, extra) in variants.items():
        run_once(src, extra, args.run, args.image, name in fresh)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (src, extra) in variants.items():
            times[name].append(run_once(src, extra, args.run, args.image, name in fresh))
    first = statistics.median(next(iter(times.values())))
    print(f"| variant | median of {args.repeats} (s) | runs (s) | vs first |")
    print("| --- | ---: | --- | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(f"| {name} | {median:.2f} | {runs} | {median / first:.2f}x |")


if __name__ == "__main__":
    main()

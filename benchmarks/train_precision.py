"""One run: a default `objrec train` (``--precision auto``: int8 on a CPU with 8-bit dot-product
instructions) against the same with ``--precision fp32``, side by side, each as its own process.

Issue 19's goal: a default `train` on the 100-class protocol in at most half the wall time of the
fp32 default. Four arms a round, in the order fp32, default, default, fp32 (so each precision
runs first in one of the two cache states: fp32 with an empty cache, the default with the graphs
cached), each with the kernel's page cache emptied first (``--drop-caches``, needs root) so that
every arm reads the images from disk:

* **empty cache**: a new ``$OBJREC_CACHE``, as on a machine that never ran objrec: the arm pays the
  ONNX export of the body and, in int8, making the int8 body (calibrating and quantizing it);
* **graphs cached**: a new ``$OBJREC_CACHE`` holding only the ``onnx`` folder the empty-cache arm of
  the same precision left (the exported graph and, in int8, the int8 graph): what every `train`
  after the first on a machine pays. No feature is in either store.

Prints each arm's wall seconds and train's own split of them (``summary.json``), and the default's
wall over fp32's for both cases (medians over ``--repeats`` rounds). Each arm's output is in
``--work``'s ``run-*.log``; without ``--work`` the temporary folder is removed at the end.

    flock /tmp/objrec-cpu.lock python benchmarks/train_precision.py --data /work/splits/s0 \\
        --drop-caches [--repeats 2]
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

OBJREC = [sys.executable, "-m", "objrec"]
ARMS = (
    ("fp32", "empty cache"),
    ("default", "empty cache"),
    ("default", "graphs cached"),
    ("fp32", "graphs cached"),
)


def run_arm(data: Path, precision: str, cache: Path, out: Path, drop: bool) -> tuple[float, dict]:
    """Wall seconds of one `objrec train` with ``$OBJREC_CACHE=cache`` and its summary's seconds."""
    command = [*OBJREC, "train", str(data), "--out", str(out)]
    if precision == "fp32":
        command += ["--precision", "fp32"]
    if drop:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    env = os.environ | {"OBJREC_CACHE": str(cache)}
    started = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    return wall, summary


def describe(summary: dict) -> str:
    seconds = summary.get("seconds", {})
    parts = [f"{name} {value:.1f}" for name, value in seconds.items()]
    used = summary.get("precision", {}).get("used", "?")
    return f"{used} body, best valid loss {summary['best_valid_loss']:.4f}; train's seconds: " + (
        ", ".join(parts)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/splits/s0"))
    parser.add_argument("--work", type=Path, help="Work folder (default: a new temporary one).")
    parser.add_argument("--drop-caches", action="store_true", help="Empty the page cache first.")
    parser.add_argument("--repeats", type=int, default=1, help="Rounds of the four arms.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="objrec-train-precision-"))
    work.mkdir(parents=True, exist_ok=True)
    walls: dict[tuple[str, str], list[float]] = {arm: [] for arm in ARMS}
    for repeat in range(args.repeats):
        for precision, state in ARMS:
            tag = f"{repeat}-{precision}-{state.split()[0]}"
            cache = work / f"cache-{tag}"
            if state == "graphs cached":
                shutil.copytree(work / f"cache-{repeat}-{precision}-empty" / "onnx", cache / "onnx")
            load = os.getloadavg()[0]
            out = work / f"run-{tag}"
            wall, summary = run_arm(args.data, precision, cache, out, args.drop_caches)
            walls[precision, state].append(wall)
            print(
                f"{repeat + 1}: {precision:8s} {state:14s} {wall:7.1f} s  (load average {load:.1f} "
                f"before, {os.getloadavg()[0]:.1f} after)\n    {describe(summary)}",
                flush=True,
            )
    print(f"median of {args.repeats}:")
    for state in ("empty cache", "graphs cached"):
        default, fp32 = (statistics.median(walls[p, state]) for p in ("default", "fp32"))
        print(f"{state:14s} default {default:7.1f} s / fp32 {fp32:7.1f} s = {default / fp32:.3f}")
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

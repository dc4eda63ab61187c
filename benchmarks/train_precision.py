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

``--baseline SRC`` compares the default with the default of an earlier source tree (its ``src``
folder, run with this Python) instead of today's ``--precision fp32``: the fp32 default as it was
when issue 19 was filed (commit 9c53234, whose default `train` took 309 s of frozen pass in 344 s).
``--evaluate`` adds, after the first round, each empty-cache run's test top-1 and top-5 (`objrec
evaluate`, of that arm's source tree; not timed), for "at the same accuracy".

    flock /tmp/objrec-cpu.lock python benchmarks/train_precision.py --data /work/splits/s0 \\
        --drop-caches [--repeats 2]
    git worktree add /tmp/filed 9c53234
    flock /tmp/objrec-cpu.lock python benchmarks/train_precision.py --data /work/splits/s0 \\
        --drop-caches --baseline /tmp/filed/src --evaluate [--repeats 2]
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

from _sampling import SPLIT, SPLIT_HELP

OBJREC = [sys.executable, "-m", "objrec"]


def arms(other: str) -> tuple[tuple[str, str], ...]:
    """A round: ``other`` (fp32 or the baseline) and the default, each first in one cache state."""
    return (
        (other, "empty cache"),
        ("default", "empty cache"),
        ("default", "graphs cached"),
        (other, "graphs cached"),
    )


def arm_env(cache: Path, src: Path | None) -> dict[str, str]:
    """The environment of an arm: its cache and, for the baseline, its source tree first."""
    return os.environ | {"OBJREC_CACHE": str(cache)} | ({"PYTHONPATH": str(src)} if src else {})


def run_arm(
    data: Path, precision: str, env: dict[str, str], out: Path, drop: bool
) -> tuple[float, dict]:
    """Wall seconds of one `objrec train` in ``env`` and its summary's seconds."""
    command = [*OBJREC, "train", str(data), "--out", str(out)]
    if precision == "fp32":
        command += ["--precision", "fp32"]
    if drop:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    started = time.perf_counter()
    with (out.parent / f"{out.name}.log").open("w") as log:
        subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    return wall, summary


def evaluated_accuracy(run: Path, data: Path, env: dict[str, str]) -> str:
    """`objrec evaluate RUN DATA --json` on the test split: top-1 and top-5 (not timed)."""
    done = subprocess.run(
        [*OBJREC, "evaluate", str(run), str(data), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    metrics = json.loads(done.stdout)
    return (
        f"test top-1 {metrics['top1']:.2%}, top-5 {metrics['top5']:.2%} "
        f"({metrics['n']} images, loss {metrics['loss']:.4f})"
    )


def describe(summary: dict) -> str:
    seconds = summary.get("seconds", {})
    parts = [f"{name} {value:.1f}" for name, value in seconds.items()]
    used = summary.get("precision", {}).get("used", "?")
    return f"{used} body, best valid loss {summary['best_valid_loss']:.4f}; train's seconds: " + (
        ", ".join(parts)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--work", type=Path, help="Work folder (default: a new temporary one).")
    parser.add_argument("--drop-caches", action="store_true", help="Empty the page cache first.")
    parser.add_argument("--repeats", type=int, default=1, help="Rounds of the four arms.")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="SRC",
        help="Compare with the default of this earlier source tree's src folder, not fp32.",
    )
    parser.add_argument(
        "--evaluate", action="store_true", help="Test top-1/top-5 of the first round's runs."
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="objrec-train-precision-"))
    work.mkdir(parents=True, exist_ok=True)
    other = "baseline" if args.baseline else "fp32"
    sources = {other: args.baseline.resolve() if args.baseline else None, "default": None}
    walls: dict[tuple[str, str], list[float]] = {arm: [] for arm in arms(other)}
    for repeat in range(args.repeats):
        for arm, state in arms(other):
            tag = f"{repeat}-{arm}-{state.split()[0]}"
            cache = work / f"cache-{tag}"
            if state == "graphs cached":
                shutil.copytree(work / f"cache-{repeat}-{arm}-empty" / "onnx", cache / "onnx")
            load = os.getloadavg()[0]
            out, env = work / f"run-{tag}", arm_env(cache, sources[arm])
            wall, summary = run_arm(args.data, arm, env, out, args.drop_caches)
            walls[arm, state].append(wall)
            print(
                f"{repeat + 1}: {arm:8s} {state:14s} {wall:7.1f} s  (load average {load:.1f} "
                f"before, {os.getloadavg()[0]:.1f} after)\n    {describe(summary)}",
                flush=True,
            )
        if repeat == 0 and args.evaluate:
            for arm in (other, "default"):
                env = arm_env(work / f"cache-0-{arm}-empty", sources[arm])
                accuracy = evaluated_accuracy(work / f"run-0-{arm}-empty", args.data, env)
                print(f"   {arm:8s} {accuracy}", flush=True)
    print(f"median of {args.repeats}:")
    for state in ("empty cache", "graphs cached"):
        default, base = (statistics.median(walls[p, state]) for p in ("default", other))
        print(
            f"{state:14s} default {default:7.1f} s / {other} {base:7.1f} s = {default / base:.3f}"
        )
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

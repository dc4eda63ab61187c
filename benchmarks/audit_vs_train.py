"""`objrec audit` from a cold cache, a default `objrec train` from a cold cache, and the audit again
on its now warm cache, each as its own process with its own empty feature store, in repeated rounds.

Issue 16's performance point: the audit of the 100-class protocol folder takes no longer than one
default `train` from a cold cache, and seconds on a warm one. Each arm gets a fresh temporary
``$OBJREC_CACHE`` (never the shared store), so each computes every feature (and exports its ONNX
body) itself; nothing else differs from what a user runs. Each of ``--repeats`` rounds runs the
three arms in turn, each round with new caches; printed: each arm's seconds as it ends, then the
medians over the rounds side by side, each with its ratio to the cold train's (the ratio of the
medians, and the median of each round's own ratio).

    flock /tmp/objrec-cpu.lock python benchmarks/audit_vs_train.py --data /work/splits/s0 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _medians import median_table
from _sampling import SPLIT, SPLIT_HELP

OBJREC = [sys.executable, "-m", "objrec"]
TRAIN = "train (defaults), cold cache"


def timed(command: list[str], cache: Path, log: Path) -> float:
    """Wall seconds of ``command`` run with ``$OBJREC_CACHE=cache``; its output goes to ``log``."""
    env = os.environ | {"OBJREC_CACHE": str(cache)}
    started = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--work", type=Path, help="Work folder (default: a new temporary one).")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    parser.add_argument(
        "--train-first", action="store_true", help="Run the cold train before the cold audit."
    )
    parser.add_argument(
        "--drop-caches",
        action="store_true",
        help="Empty the kernel's page cache before each cold arm (needs root), so that neither "
        "reads the images from memory that the other arm loaded.",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of the three arms (medians are printed)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="objrec-audit-vs-train-"))
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[float]] = {}
    for number in range(args.repeats):
        print(f"round {number + 1} of {args.repeats}:", flush=True)
        for name, seconds in one_round(args, work / f"round-{number + 1}"):
            runs.setdefault(name, []).append(seconds)
    print(f"\n{args.data}, medians of {args.repeats} rounds:")
    print("\n".join(median_table(runs, "s", baseline=TRAIN, digits=1)))
    if not args.keep and not args.work:
        shutil.rmtree(work)


def one_round(args: argparse.Namespace, work: Path) -> list[tuple[str, float]]:
    """The three arms in turn, in ``work`` (new caches): each arm's name and seconds."""
    work.mkdir(parents=True, exist_ok=True)
    data = str(args.data)
    arms = {
        "audit, cold cache": ([*OBJREC, "audit", data, "--out", str(work / "audit-cold")], "a"),
        TRAIN: ([*OBJREC, "train", data, "--out", str(work / "run")], "t"),
        "audit, warm cache": ([*OBJREC, "audit", data, "--out", str(work / "audit-warm")], "a"),
    }
    order = list(arms)
    if args.train_first:
        order = [order[1], order[0], order[2]]
    rows = []
    for name in order:
        command, cache = arms[name]
        log = work / (name.split(",")[0].split(" ")[0] + "-" + name.split(" ")[-2] + ".log")
        if args.drop_caches and "cold" in name:
            os.sync()
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        load = os.getloadavg()[0]
        seconds = timed(command, work / f"cache-{cache}", log)
        rows.append((name, seconds))
        print(
            f"{name:32s} {seconds:8.1f} s  (load average {load:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after)",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()

"""The near-duplicate search's memory: ``dedup.split_pairs`` of N images (every image against every
other), as this tree runs it and as an earlier objrec did (``--before``: the ``src`` folder of a
checkout of it, e.g. ``git worktree add /tmp/before COMMIT``).

Random facts (``pairs_scale.random_facts``). Each tree runs in a process of its own: the peak of
NumPy's memory during the search (``tracemalloc``), the process's peak RSS, and the median wall
seconds of ``--repeats`` searches; then each against the earlier tree's.

    flock /tmp/objrec-cpu.lock python benchmarks/pairs_memory.py --sizes 4000 8000 --before /tmp/before/src
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path


def measure(n: int, repeats: int) -> dict[str, float]:
    """In this process: the search's traced peak (MiB), the peak RSS (MiB), median seconds."""
    from pairs_scale import random_facts

    from objrec import dedup

    facts = random_facts(n)
    tracemalloc.start()
    dedup.split_pairs(facts)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        dedup.split_pairs(facts)
        seconds.append(time.perf_counter() - started)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"traced": peak, "rss": rss, "seconds": statistics.median(seconds)}


def in_process(tree: Path, n: int, repeats: int) -> dict[str, float]:
    """:func:`measure` in a new process running the objrec of ``tree`` (a ``src`` folder)."""
    here = Path(__file__).resolve().parent
    env = os.environ | {"PYTHONPATH": f"{tree}{os.pathsep}{here}"}
    command = [sys.executable, __file__, "--measure", str(n), "--repeats", str(repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000], help="images")
    parser.add_argument("--before", type=Path, required=False, help="an earlier objrec's src")
    parser.add_argument("--repeats", type=int, default=3, help="searches timed (median shown)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeats)))
        return
    this = Path(__file__).resolve().parents[1] / "src"
    trees = {"before": args.before, "now": this} if args.before else {"now": this}
    print(
        "| images | tree | search's peak MiB | peak RSS MiB | wall s | x before's (peak, RSS, s) |"
    )
    print("| ---: | --- | ---: | ---: | ---: | --- |")
    for n in args.sizes:
        found = {name: in_process(tree, n, args.repeats) for name, tree in trees.items()}
        for name, got in found.items():
            was = found.get("before", got)
            ratio = ", ".join(f"{was[k] / got[k]:.2f}" for k in ("traced", "rss", "seconds"))
            print(
                f"| {n:,} | {name} | {got['traced']:.0f} | {got['rss']:.0f} | "
                f"{got['seconds']:.2f} | {ratio} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

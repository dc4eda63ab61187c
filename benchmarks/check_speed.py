"""`objrec check` of a photo folder: first (empty cache), again, and after a split, against an
earlier source tree.

A round runs both trees, in turn first (baseline then this tree, then the other way round), each
check as its own process (`python -m objrec check DATA --json`): ``first`` with a new, empty
``$OBJREC_CACHE``, ``again`` with the cache that run left, and ``after split`` with a new cache
that one `objrec split DATA` (not timed) filled. Prints each arm's wall seconds and CPU seconds
(the check's process and its workers), their medians over ``--repeats`` rounds and new / old,
and checks that every check found the same (its ``--json`` answer).

``--baseline SRC`` is the earlier tree's ``src`` folder, run with this Python; ``--lock FILE``
holds ``flock FILE`` for each timed check alone (not for the split before one); ``--arms first``
times the first check alone:

    git archive 6a8abd9 src | tar -x -C /tmp/base
    python benchmarks/check_speed.py /work/shared/data/caltech101 --baseline /tmp/base/src \\
        --lock /tmp/objrec-cpu.lock
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"
ARMS = ("first", "again", "after split")


@contextlib.contextmanager
def locked(lock: Path | None):
    """``flock`` on ``lock`` for the block (nothing without one)."""
    if lock is None:
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def objrec(
    tree: Path, cache: Path, *args: str, lock: Path | None = None
) -> tuple[float, float, str]:
    """Wall and CPU seconds of one ``objrec ARGS`` of ``tree`` with the cache folder ``cache``
    (``lock`` held), and what it printed."""
    env = os.environ | {"PYTHONPATH": str(tree), "OBJREC_CACHE": str(cache)}
    command = [sys.executable, "-m", "objrec", *args]
    with locked(lock):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode not in (0, 1):  # 1: check found an unusable file
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return wall, cpu, done.stdout


def round_of(
    data: Path, tree: Path, work: Path, lock: Path | None, arms: list[str]
) -> dict[str, tuple[float, float, str]]:
    """Each of ``arms``' wall and CPU seconds and ``--json`` answer, for one tree."""
    found = {}
    for arm in arms:
        cache = work / ("split-cache" if arm == "after split" else "cache")
        if arm == "after split":
            objrec(tree, cache, "split", str(data), str(work / "split"), "--link", "--json")
        found[arm] = objrec(tree, cache, "check", str(data), "--json", lock=lock)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the folder to check (one sub-folder per class)")
    parser.add_argument("--baseline", type=Path, required=True, help="the earlier tree's src")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument("--lock", type=Path, help="a file to flock for each timed check")
    parser.add_argument(
        "--arms", nargs="+", choices=ARMS, default=list(ARMS), help="the checks to time (all)"
    )
    args = parser.parse_args()
    trees = {"old": args.baseline.resolve(), "new": HERE}
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    answers = set()
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="check-speed-") as work:
        for r in range(args.repeats):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                where = Path(work) / f"{name}-{r}"
                found = round_of(args.data, trees[name], where, args.lock, args.arms)
                for arm, (wall, cpu, answer) in found.items():
                    times.setdefault((name, arm), []).append((wall, cpu))
                    answers.add(json.dumps(json.loads(answer), sort_keys=True))
                    print(f"round {r + 1} {name} {arm}: {wall:.1f} s ({cpu:.1f} s CPU)", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"\nevery check found the same: {len(answers) == 1}")
    print(f"| check ({args.repeats} rounds) | old s (CPU) | new s (CPU) | new / old |")
    print("| --- | --- | --- | --- |")
    for arm in args.arms:
        old, new = (
            [statistics.median(t[k] for t in times[(n, arm)]) for k in (0, 1)] for n in trees
        )
        print(
            f"| {arm} | {old[0]:.1f} ({old[1]:.1f}) | {new[0]:.1f} ({new[1]:.1f}) | "
            f"{new[0] / old[0]:.2f} |"
        )
    if len(answers) != 1:
        raise SystemExit("the checks found different problems")


if __name__ == "__main__":
    main()

"""``objrec backbones --measure`` cold and warm: each network's pass, and what making the int8 copies
adds to the command, side by side in one run.

    flock /tmp/objrec-cpu.lock python benchmarks/backbones_measure.py [--repeats 2] \\
        [--names efficientnet_lite0+efficientnet_lite1+efficientnet_lite2 efficientnet_lite0 ...]

Each round runs ``objrec backbones NAMES --measure --json`` (a new process, as a user runs it)
twice on a new empty cache folder: "cold" makes each network's int8 copy (once per network and
cache folder) as it measures, "warm" finds them made. Printed: each command's wall seconds as it
ends, then the medians over ``--repeats`` rounds of the two walls (the warm one's ratio to the
cold one's; their difference is the copies' time) and of each network's milliseconds per image in
fp32 and int8 (every measure of the round, cold and warm), each beside its ratio to the first
network's. docs/backbones.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _medians import median_table

NAMES = [
    "efficientnet_lite0+efficientnet_lite1+efficientnet_lite2",
    "efficientnet_lite0+efficientnet_lite1",
    "efficientnet_lite0",
]
"""The default first (the baseline of the ratios), then the two lighter choices the page names."""


def measure(names: list[str], cache: Path, images: int) -> tuple[float, list[dict]]:
    """The wall seconds of ``objrec backbones NAMES --measure --json`` with ``cache`` as its cache
    folder, and what it printed."""
    command = [sys.executable, "-m", "objrec", "backbones", *names, "--measure", "--json"]
    env = {**os.environ, "OBJREC_CACHE": str(cache)}
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--images", str(images)], env=env, check=True, capture_output=True, text=True
    )
    return time.perf_counter() - started, json.loads(done.stdout)


def speeds_of(listed: list[dict], into: dict[str, list[float]]) -> None:
    """Each network's milliseconds per image, by ``name precision``, added to ``into``."""
    for entry in listed:
        for speed in entry.get("speeds") or []:
            into.setdefault(f"{entry['name']} {speed['precision']}", []).append(
                speed["ms_per_image"]
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--names", nargs="+", default=NAMES, help="networks measured (the first the baseline)"
    )
    parser.add_argument("--images", type=int, default=128, help="objrec backbones' --images")
    parser.add_argument(
        "--repeats", type=int, default=2, help="rounds, a new cache each (medians are printed)"
    )
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"cold": [], "warm": []}
    speeds: dict[str, list[float]] = {}
    for number in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="objrec-backbones-") as cache:
            for arm in walls:
                wall, listed = measure(args.names, Path(cache), args.images)
                walls[arm].append(wall)
                speeds_of(listed, speeds)
                print(f"round {number + 1} {arm}: {wall:.1f} s", flush=True)
    print(f"\nthe command's wall, medians of {args.repeats} rounds:")
    print("\n".join(median_table(walls, "s", digits=1)))
    for precision in ("fp32", "int8"):
        rows = {k.rsplit(" ", 1)[0]: v for k, v in speeds.items() if k.endswith(precision)}
        if rows:
            print(f"\n{precision} ms per image, medians of every measure:")
            print("\n".join(median_table(rows, "ms", digits=1)))


if __name__ == "__main__":
    main()

"""`objrec split` of a folder, first (empty cache) and cached, against an earlier source tree.

A round runs both trees, in turn first (baseline then this tree, then the other way round), each
as its own process (`python -m objrec split`): first with a new, empty ``$OBJREC_CACHE`` (every
image decoded and hashed: the image facts), then again with the cache that run left (the facts
read from ``facts.sqlite``). Prints each arm's wall seconds, their medians over ``--repeats``
rounds and new / old, and checks that every run split every file alike: the same ``manifest.csv``
rows (file, class, split, source) and the same ``--json`` answer (duplicate groups included).

``--baseline SRC`` is the earlier tree's ``src`` folder, run with this Python:

    git archive aa09c22 src | tar -x -C /tmp/base
    flock /tmp/objrec-cpu.lock python benchmarks/split_speed.py /work/shared/data/caltech101 \\
        --baseline /tmp/base/src --exclude Faces BACKGROUND_Google
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"


def split_once(
    src: Path, tree: Path, cache: Path, out: Path, extra: list[str]
) -> tuple[float, dict]:
    """Wall seconds of one ``objrec split SRC OUT --json`` of ``tree``, and what it wrote."""
    env = os.environ | {"PYTHONPATH": str(tree), "OBJREC_CACHE": str(cache)}
    command = [sys.executable, "-m", "objrec", "split", str(src), str(out), "--json", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    answer = json.loads(done.stdout)
    answer.pop("out")
    with open(out / "manifest.csv", newline="", encoding="utf-8-sig") as f:  # a BOM
        rows = sorted((r["file"], r["class"], r["split"], r["source"]) for r in csv.DictReader(f))
    return wall, {"json": answer, "manifest": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="the folder to split (one sub-folder per class)")
    parser.add_argument("--baseline", type=Path, required=True, help="the earlier tree's src")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument("--seed", default="0", help="split's --seed")
    parser.add_argument(
        "--exclude", nargs="*", default=[], help="split's --exclude: classes to leave out"
    )
    args = parser.parse_args()
    extra = ["--seed", args.seed, *(["--exclude", *args.exclude] if args.exclude else [])]
    trees = {"old": args.baseline.resolve(), "new": HERE}
    walls: dict[tuple[str, str], list[float]] = {}
    outputs = []
    with tempfile.TemporaryDirectory(prefix="split-speed-") as work:
        for r in range(args.repeats):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                cache = Path(work) / f"cache-{name}-{r}"
                for kind in ("first", "cached"):
                    out = Path(work) / f"out-{name}-{r}-{kind}"
                    wall, written = split_once(args.src, trees[name], cache, out, extra)
                    walls.setdefault((name, kind), []).append(wall)
                    outputs.append(written)
                    print(f"round {r + 1} {name} {kind}: {wall:.1f} s", flush=True)
    same = all(o == outputs[0] for o in outputs)
    groups = len(outputs[0]["json"]["duplicate_groups"])
    print(
        f"\nevery run split alike (manifest rows, --json answer, {groups} duplicate groups): {same}"
    )
    print(f"| split ({args.repeats} rounds) | old s | new s | new / old |")
    print("| --- | --- | --- | --- |")
    for kind in ("first", "cached"):
        old, new = (statistics.median(walls[(n, kind)]) for n in ("old", "new"))
        runs = ", ".join(f"{w:.1f}" for w in walls[("old", kind)]) + " / "
        runs += ", ".join(f"{w:.1f}" for w in walls[("new", kind)])
        print(f"| {kind} ({runs}) | {old:.1f} | {new:.1f} | {new / old:.2f} |")
    if not same:
        raise SystemExit("the runs split the files differently")


if __name__ == "__main__":
    main()

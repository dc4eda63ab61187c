"""`objrec split` of a folder, first (empty cache) and cached, against an earlier source tree.

A round runs both trees, in turn first (baseline then this tree, then the other way round), each
as its own process (`python -m objrec split`): first with a new, empty ``$OBJREC_CACHE`` (every
image decoded and hashed: the image facts), then again with the cache that run left (the facts
read from ``facts.sqlite``). Prints each arm's wall and CPU seconds (the CPU moves less with
other work on the machine), their medians over ``--repeats`` rounds and new / old, and checks
that every run of a tree split every file alike: the same ``manifest.csv`` rows (file, class,
split, source) and the same ``--json`` answer (duplicate groups included). Where the trees
split differently (a change of the grouping), it prints the duplicate groups each finds that
the other does not. On a busy machine, ``--repeats 1 --first-round N`` runs one round at a
time (each a short hold of the CPU lock), the order still in turns.

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
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"


def split_once(
    src: Path, tree: Path, cache: Path, out: Path, extra: list[str]
) -> tuple[float, float, dict]:
    """Wall and CPU seconds (the process's and its workers', user and system) of one ``objrec
    split SRC OUT --json`` of ``tree``, and what it wrote."""
    env = os.environ | {"PYTHONPATH": str(tree), "OBJREC_CACHE": str(cache)}
    command = [sys.executable, "-m", "objrec", "split", str(src), str(out), "--json", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    answer = json.loads(done.stdout)
    answer.pop("out")
    with open(out / "manifest.csv", newline="", encoding="utf-8-sig") as f:  # a BOM
        rows = sorted((r["file"], r["class"], r["split"], r["source"]) for r in csv.DictReader(f))
    return wall, cpu, {"json": answer, "manifest": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="the folder to split (one sub-folder per class)")
    parser.add_argument("--baseline", type=Path, required=True, help="the earlier tree's src")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument(
        "--first-round",
        type=int,
        default=1,
        help="the first round's number: an even one runs this tree first (a run of one round at "
        "a time, on a busy machine, keeps the order in turns)",
    )
    parser.add_argument("--seed", default="0", help="split's --seed")
    parser.add_argument(
        "--exclude", nargs="*", default=[], help="split's --exclude: classes to leave out"
    )
    args = parser.parse_args()
    extra = ["--seed", args.seed, *(["--exclude", *args.exclude] if args.exclude else [])]
    trees = {"old": args.baseline.resolve(), "new": HERE}
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    outputs: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="split-speed-") as work:
        for r in range(args.first_round, args.first_round + args.repeats):
            for name in ("old", "new") if r % 2 == 1 else ("new", "old"):
                cache = Path(work) / f"cache-{name}-{r}"
                for kind in ("first", "cached"):
                    out = Path(work) / f"out-{name}-{r}-{kind}"
                    wall, cpu, written = split_once(args.src, trees[name], cache, out, extra)
                    walls.setdefault((name, kind), []).append(wall)
                    cpus.setdefault((name, kind), []).append(cpu)
                    outputs[name].append(written)
                    print(f"round {r} {name} {kind}: {wall:.1f} s ({cpu:.1f} s CPU)", flush=True)
    same = all(o == runs[0] for runs in outputs.values() for o in runs)
    print(f"\nevery run of a tree split alike (manifest rows, --json answer): {same}")
    print_groups(outputs["old"][0], outputs["new"][0])
    print(f"| split ({args.repeats} rounds) | old s | new s | new / old |")
    print("| --- | --- | --- | --- |")
    for kind in ("first", "cached"):
        for what, seconds in (("wall", walls), ("CPU", cpus)):
            old, new = (statistics.median(seconds[(n, kind)]) for n in ("old", "new"))
            runs = ", ".join(f"{w:.1f}" for w in seconds[("old", kind)]) + " / "
            runs += ", ".join(f"{w:.1f}" for w in seconds[("new", kind)])
            print(f"| {kind}, {what} ({runs}) | {old:.1f} | {new:.1f} | {new / old:.2f} |")
    if not same:
        raise SystemExit("the runs of one tree split the files differently")


def print_groups(old: dict, new: dict) -> None:
    """How many duplicate groups each tree found, whether they split alike, and the groups
    one found that the other did not."""
    found = {
        name: {tuple(g) for g in run["json"]["duplicate_groups"]}
        for name, run in (("old", old), ("new", new))
    }
    print(f"duplicate groups: old {len(found['old'])}, new {len(found['new'])}")
    print(f"old and new split alike: {old == new}")
    for name, other in (("new", "old"), ("old", "new")):
        for group in sorted(found[name] - found[other]):
            print(f"  only {name}: {', '.join(group)}")


if __name__ == "__main__":
    main()

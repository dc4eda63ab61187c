"""`dedup.crop_pairs` or `dedup.hash_pairs` (split's and the audit's hash products) against an
earlier source tree.

The folder's image facts come from the cache's ``facts.sqlite`` (a split folder's digests from its
``manifest.csv``, any other folder's files hashed), measured by this tree. A round runs both trees,
each as its own process, in turn first (baseline then this tree, then the other way round): each
times ``crop_pairs(facts, CROP_SPLIT)`` (or, with ``--pairs hash_pairs``, ``hash_pairs(facts,
HASH_SPLIT)``), then takes ``crop_pairs`` at ``CROP_SPLIT``, ``hash_pairs`` (with distances) at
``HASH_SPLIT`` and at 72 bits (the audit benchmarks' limit) and ``split_pairs(facts)`` of every
image. Prints each arm's CPU seconds (every thread) and wall seconds of the timed call, their
medians over ``--repeats`` rounds and new / old, and checks that every run found the same pairs.

    git archive main src | tar -x -C /tmp/base
    flock /tmp/objrec-cpu.lock python benchmarks/crop_pairs_speed.py /work/splits/s0 \\
        --baseline /tmp/base/src [--pairs hash_pairs]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"


def facts_of(folder: Path) -> list:
    from objrec import facts_store
    from objrec.cache_folder import default_cache_dir
    from objrec.file_index import hash_file
    from objrec.listing import list_images

    manifest = folder / "manifest.csv"
    if manifest.exists():
        with open(manifest, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        paths, digests = [folder / r["file"] for r in rows], [r["sha256"] for r in rows]
    else:
        paths = list_images(folder)
        digests = [hash_file(p) for p in paths]
    return facts_store.cached_facts(paths, digests, default_cache_dir() / "facts.sqlite")


def child(facts_file: Path, out: Path, pairs: str) -> None:
    """One arm: the seconds of ``pairs`` (crop_pairs or hash_pairs) and every pair list, as JSON
    in ``out``."""
    from objrec import dedup

    facts = pickle.loads(facts_file.read_bytes())
    limit = dedup.CROP_SPLIT if pairs == "crop_pairs" else dedup.HASH_SPLIT
    cpu, wall = time.process_time(), time.perf_counter()
    getattr(dedup, pairs)(facts, limit)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    found = {
        "crop": dedup.crop_pairs(facts, dedup.CROP_SPLIT).tolist(),
        "hash": dedup.hash_pairs(facts, dedup.HASH_SPLIT).tolist(),
        "hash72": dedup.hash_pairs(facts, 72).tolist(),
        "split": [list(p) for p in dedup.split_pairs(facts)],
    }
    out.write_text(json.dumps({"cpu": cpu, "wall": wall, **found}))


def arm(tree: Path, facts_file: Path, out: Path, pairs: str) -> dict:
    env = os.environ | {"PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--child", str(facts_file), str(out), pairs]
    subprocess.run(command, env=env, check=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a class folder or a split folder")
    parser.add_argument("--baseline", type=Path, required=True, help="the earlier tree's src")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument(
        "--pairs", choices=("crop_pairs", "hash_pairs"), default="crop_pairs", help="what to time"
    )
    args = parser.parse_args()
    trees = {"old": args.baseline.resolve(), "new": HERE}
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        facts = facts_of(args.folder)
        facts_file = Path(tmp) / "facts.pickle"
        facts_file.write_bytes(pickle.dumps(facts))
        for r in range(args.repeats):
            for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                runs[name].append(arm(trees[name], facts_file, Path(tmp) / "out.json", args.pairs))
    limit = "CROP_SPLIT" if args.pairs == "crop_pairs" else "HASH_SPLIT"
    print(
        f"{args.folder}: {len(facts)} images, {args.pairs}(facts, {limit}), {args.repeats} rounds"
    )
    for key in ("cpu", "wall"):
        old, new = ([r[key] for r in runs[n]] for n in ("old", "new"))
        each = ", ".join(f"{o:.1f}/{n:.1f}" for o, n in zip(old, new, strict=True))
        o, n = statistics.median(old), statistics.median(new)
        print(
            f"  {key} s, each round old/new ({each}): old {o:.1f}, new {n:.1f}, new/old {n / o:.2f}"
        )
    every = runs["old"] + runs["new"]
    lists = ("crop", "hash", "hash72", "split")
    same = all(r[k] == every[0][k] for r in every for k in lists)
    counts = ", ".join(f"{k} {len(every[0][k])}" for k in lists)
    print(f"  pairs: {counts}, the same in every run: {same}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:  # one arm, run by ``arm``
        child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
    else:
        main()

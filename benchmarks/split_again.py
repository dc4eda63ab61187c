"""A second ``objrec split`` of an unchanged folder: with the pairs and file digests an earlier
split kept (``near_pairs``, the feature store's file index) against the facts alone kept (what every
split did before: each file read for its SHA-256, every image compared with every other).

Splits ``--src`` once into an empty cache folder (decoding every image: not timed), then times
each arm ``--repeats`` times, alternating, each a ``--link`` split into a new folder; before each
run of the first arm the kept pairs and digests are forgotten (``objrec cache --prune`` forgets
them so). Prints the median wall and CPU seconds of each arm, their ratio, and whether both
arms wrote the same split (each image's split and group).

    flock /tmp/objrec-cpu.lock python benchmarks/split_again.py --src ../shared/data/caltech101
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path


def placed(out: Path) -> list[tuple[str, str, str]]:
    """Each image of a split's manifest: its source, split and group."""
    with (out / "manifest.csv").open(encoding="utf-8-sig") as f:
        return sorted((r["source"], r["split"], r["group"]) for r in csv.DictReader(f))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, required=True, help="a folder of class folders")
    parser.add_argument("--repeats", type=int, default=3, help="runs an arm (median shown)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the folder's own warnings, once a split
    with tempfile.TemporaryDirectory(prefix="split-again-") as folder:
        os.environ["OBJREC_CACHE"] = str(Path(folder) / "cache")
        from objrec import facts_store, near_pairs
        from objrec.cache_folder import default_cache_dir, store_dir
        from objrec.split.recipe import split_folder
        from objrec.store import FeatureStore

        facts = default_cache_dir() / facts_store.FACTS_FILE
        files = [p for p in args.src.rglob("*") if p.is_file()]
        result = split_folder(args.src, Path(folder) / "first", mode="link")
        print(f"{args.src}: {sum(result.totals().values())} images", flush=True)
        times: dict[str, list[tuple[float, float]]] = {"facts alone kept": [], "all kept": []}
        splits = {}
        for n in range(args.repeats):
            for arm in times:
                if arm == "facts alone kept":
                    facts_store.prune_kept(facts, (near_pairs.PAIR_SETS,), keep=set())
                    with FeatureStore(store_dir()) as store:  # the file index's digests
                        store.forget_files(files)
                out = Path(folder) / f"{arm[:4]}-{n}"
                wall, cpu = time.perf_counter(), time.process_time()
                split_folder(args.src, out, mode="link")
                times[arm].append((time.perf_counter() - wall, time.process_time() - cpu))
                splits[arm] = placed(out)
    medians = {
        arm: [statistics.median(t[k] for t in runs) for k in (0, 1)] for arm, runs in times.items()
    }
    before, after = medians.values()
    for arm, (wall, cpu) in medians.items():
        print(f"{arm:>18}: {wall:7.2f} s wall ({cpu:.2f} s CPU), median of {args.repeats}")
    print(
        f"second split: {before[0] / after[0]:.1f}x less wall time ({before[1] / after[1]:.1f}x CPU)"
    )
    print(f"same split and groups: {len(set(map(tuple, splits.values()))) == 1}")


if __name__ == "__main__":
    main()

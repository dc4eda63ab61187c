"""A second split of a folder: its near-duplicate search with the pairs kept
(``near_pairs.kept_split_pairs``) against comparing every image with every other again
(``dedup.split_pairs``, what every split did before).

Random facts (``pairs_scale.random_facts``: the search's time is its matrix products, the same for
any hashes). Each size: every pair compared; the kept pairs' first split (an empty facts store:
every pair compared, and the set kept); the second split of the same images; and one with 1% new
images (compared with all). Median wall and CPU seconds of ``--repeats`` runs each (the first
two arms in turns first), and each against every pair's: the same groups each time, checked.

    flock /tmp/objrec-cpu.lock python benchmarks/pairs_kept.py --sizes 2000 4000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pairs_scale import random_facts

from objrec import dedup, near_pairs


def seconds(work) -> tuple[tuple[float, float], object]:
    """Wall and CPU seconds (every thread's: the products run on both cores) of ``work()``, and
    what it returned: on a shared machine the CPU seconds move less with the load."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return (time.perf_counter() - wall, time.process_time() - cpu), result


def one_size(n: int, repeats: int) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of every pair, the first kept split, the second, and one with
    1% new images."""
    facts = random_facts(n + n // 100)
    digests = [f"{i:032x}" for i in range(len(facts))]
    old, new = slice(0, n), slice(0, n + n // 100)
    runs = []
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            db = Path(folder) / "facts.sqlite"

            def kept(part: slice, db: Path = db) -> list:
                pairs = near_pairs.kept_split_pairs(facts[part], digests[part], db)
                return dedup.groups_of(part.stop, pairs)

            if repeat % 2:  # the first kept split before every pair, the other way round next
                first, groups = seconds(lambda: kept(old))
            every, expected = seconds(lambda: dedup.groups_of(n, dedup.split_pairs(facts[old])))
            if not repeat % 2:
                first, groups = seconds(lambda: kept(old))
            second, again = seconds(lambda: kept(old))
            added, _ = seconds(lambda: kept(new))
        assert groups == again == expected, "the kept pairs grouped otherwise"
        runs.append((every, first, second, added))
    return [
        (statistics.median(run[k][0] for run in runs), statistics.median(run[k][1] for run in runs))
        for k in range(4)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 4000], help="images")
    parser.add_argument("--repeats", type=int, default=3, help="runs a size (median shown)")
    args = parser.parse_args()
    print("Wall seconds (CPU seconds), median of each; x: every pair's over it, wall (CPU)")
    print("| images | every pair s | kept: first split s, x | second split s, x | 1% new s, x |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        every, *kept = one_size(n, args.repeats)
        cells = [f"{w:.2f} ({c:.2f}), {every[0] / w:.1f}x ({every[1] / c:.1f}x)" for w, c in kept]
        print(
            f"| {n:,} | {every[0]:.2f} ({every[1]:.2f}) | " + " | ".join(cells) + " |", flush=True
        )


if __name__ == "__main__":
    main()

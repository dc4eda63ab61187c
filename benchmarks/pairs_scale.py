"""How split's near-duplicate search grows with the number of images: ``dedup.split_pairs`` of
N images (every image against every other), N doubling.

The facts are random hashes (20 crop hashes an image, as ``image_facts`` measures): the search's
time is its matrix products, the same for any hashes, and random ones have no pairs to add. Prints
each size's median wall seconds over ``--repeats`` runs (the whole hashes, the crops, both, and
both's CPU seconds), and each against the size before it: about 4 when N doubles (quadratic), so
60,000 images take about 100 times 6,000's.

    flock /tmp/objrec-cpu.lock python benchmarks/pairs_scale.py --sizes 2000 4000 8000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from objrec import dedup, image_facts


def random_facts(n: int, seed: int = 0) -> list[image_facts.ImageFacts]:
    """``n`` images' facts of random 256-bit hashes, ``image_facts.CROP_COUNT`` crops each."""
    rng = random.Random(seed)
    bits = image_facts.HASH_SIZE**2

    def one() -> int:
        return rng.getrandbits(bits)

    crops = image_facts.CROP_COUNT
    return [
        image_facts.ImageFacts(96, 96, one(), one(), 30.0, tuple(one() for _ in range(crops)))
        for _ in range(n)
    ]


def timed(pairs, facts, limit: int) -> tuple[float, float]:
    """Wall and CPU seconds (every thread's) of ``pairs(facts, limit)``: on a shared machine the
    CPU seconds move less with the load."""
    wall, cpu = time.perf_counter(), time.process_time()
    pairs(facts, limit)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[2000, 4000, 8000], help="image counts to time"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs a size (median shown)")
    args = parser.parse_args()
    print("| images | whole hashes s | crops s | both s (CPU s) | both / previous size's (CPU) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    previous = None
    for n in args.sizes:
        facts = random_facts(n)
        runs = [
            (
                timed(dedup.hash_pairs, facts, dedup.HASH_SPLIT),
                timed(dedup.crop_pairs, facts, dedup.CROP_SPLIT),
            )
            for _ in range(args.repeats)
        ]
        whole, crops = (statistics.median(r[k][0] for r in runs) for k in (0, 1))
        both = [statistics.median(a[k] + b[k] for a, b in runs) for k in (0, 1)]
        ratio = f"{both[0] / previous[0]:.2f} ({both[1] / previous[1]:.2f})" if previous else "-"
        print(
            f"| {n:,} | {whole:.2f} | {crops:.2f} | {both[0]:.2f} ({both[1]:.2f}) | {ratio} |",
            flush=True,
        )
        previous = both


if __name__ == "__main__":
    main()

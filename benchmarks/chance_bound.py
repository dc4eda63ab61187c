"""The "too noisy to judge" bound (``calibration.ece_by_chance``): its Monte Carlo error and its
cost, the 200 draws of every image it took before against the exact count of right answers per
bin it draws from now.

The confidences are a run's real top probabilities (an evaluation's ``predictions.csv``,
``prob_predicted``), and the same repeated to 10,000 images. The reference is 20,000 draws of
every image (its own seed). Each method is drawn with 20 seeds: the spread of its bound is its
Monte Carlo error; the time is the median of ``--repeats`` calls with objrec's own seed.

    flock /tmp/objrec-cpu.lock python benchmarks/chance_bound.py --predictions RUN/eval-valid/predictions.csv
"""

from __future__ import annotations

import argparse
import csv
import statistics
from pathlib import Path

import numpy as np
import torch
from _sampling import timed

from objrec.calibration import count_right, ece_by_chance

BINS, QUANTILE = 15, 0.95


def each_image(confidence: np.ndarray, repeats: int, seed: int) -> float:
    """The bound as objrec drew it before: every image right with its top probability,
    ``repeats`` times, 20 at a time."""
    sure = torch.from_numpy(confidence)
    one_hot = torch.nn.functional.one_hot((sure * BINS).long().clamp(max=BINS - 1), BINS).double()
    generator, gaps = torch.Generator().manual_seed(seed), []
    for _ in range(0, repeats, 20):
        right = torch.rand(20, len(sure), generator=generator, dtype=torch.double) < sure
        gaps.append(((sure[None] - right.double()) @ one_hot).abs().sum(1))
    return float(torch.cat(gaps)[:repeats].quantile(QUANTILE)) / len(sure)


def per_bin(confidence: np.ndarray, repeats: int, seed: int) -> float:
    """The bound as objrec draws it now (``ece_by_chance``), with another seed."""
    index = np.minimum((confidence * BINS).astype(np.int64), BINS - 1)
    generator, gaps = np.random.default_rng(seed), np.zeros(repeats)
    for b in np.unique(index):
        sure = confidence[index == b]
        chances = count_right(sure)
        gaps += np.abs(sure.sum() - generator.choice(len(chances), repeats, p=chances))
    return float(np.quantile(gaps, QUANTILE)) / len(confidence)


def as_probs(confidence: np.ndarray) -> torch.Tensor:
    """Probabilities over 100 classes whose top one is ``confidence``."""
    rest = np.repeat(((1 - confidence) / 99)[:, None], 99, 1)
    return torch.from_numpy(np.concatenate([confidence[:, None], rest], 1))


def report(confidence: np.ndarray, repeats: int) -> None:
    reference = each_image(confidence, 20_000, seed=12345)
    print(f"\n{len(confidence):,} images; reference (20,000 draws of every image): {reference:.5f}")
    print("| method | draws | bound (objrec's seed) | seeds: 5th-95th percentile | seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    methods = [
        ("every image (before)", each_image, 200),
        ("every image", each_image, 2_000),
        ("count per bin (now)", per_bin, 20_000),
    ]
    probs = as_probs(confidence)
    for name, draw, draws in methods:
        bounds = [draw(confidence, draws, seed) for seed in range(1, 21)]
        low, high = np.percentile(bounds, [5, 95]) / reference
        if draw is per_bin:
            own = ece_by_chance(probs)
            seconds = statistics.median(timed(lambda: ece_by_chance(probs)) for _ in range(repeats))
        else:
            own = draw(confidence, draws, 0)
            seconds = statistics.median(
                timed(lambda d=draw, n=draws: d(confidence, n, 0)) for _ in range(repeats)
            )
        print(
            f"| {name} | {draws:,} | {own:.5f} ({own / reference:.3f}x) "
            f"| {low:.3f}x-{high:.3f}x | {seconds:.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--predictions",
        type=Path,
        required=True,
        help="an evaluation's predictions.csv (its prob_predicted column: the top probabilities)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per method")
    args = parser.parse_args()
    with args.predictions.open(newline="", encoding="utf-8-sig") as f:
        confidence = np.array([float(row["prob_predicted"]) for row in csv.DictReader(f)])
    report(confidence, args.repeats)
    report(np.resize(confidence, 10_000), args.repeats)


if __name__ == "__main__":
    main()

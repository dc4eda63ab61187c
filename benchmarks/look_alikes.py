"""How predict's look-alike floors were chosen, on a run's validation split (never its test
split): the fewest mistakes each way that name a pair (``metrics.MIXED_FEWEST``, with
``MIXED_SHARE``), and the least probability a partner has in an answer (``prediction.MIXED_PROB``).

Counts: the run's validation confusions against chance, each wrong answer sent to a random other
class (``--draws`` times): how often a rule pairs two classes by chance, beside the pairs it
finds. Probability: predict on the validation photos of the classes of the pairs found; for each
floor, how many answers name the partner and how many of those are of the partner class.

    objrec evaluate RUN /work/splits/s0 --split valid
    python benchmarks/look_alikes.py --run RUN --data /work/splits/s0
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from _sampling import SPLIT, SPLIT_HELP

RULES = {"1 each way": (1, 0.0), "2 each way and 5%": (2, 0.05)}
FLOORS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)


def paired(truth: np.ndarray, answer: np.ndarray, k: int, rule: tuple[int, float]) -> list:
    """The pairs (a, b) whose images were taken for each other by ``rule``: (count, share)."""
    fewest, share = rule
    n = np.bincount(truth, minlength=k)
    counts = np.zeros((k, k), int)
    np.add.at(counts, (truth, answer), 1)
    np.fill_diagonal(counts, 0)
    enough = (counts >= fewest) & (counts >= share * n[:, None])
    return list(zip(*np.nonzero(np.triu(enough & enough.T, 1)), strict=True))


def by_chance(truth: np.ndarray, answer: np.ndarray, k: int, draws: int) -> None:
    generator, wrong = np.random.default_rng(0), np.flatnonzero(truth != answer)
    print(f"{len(truth):,} validation images, {k} classes, {len(wrong)} wrong answers")
    for name, rule in RULES.items():
        found = len(paired(truth, answer, k, rule))
        chance = []
        for _ in range(draws):
            shuffled = answer.copy()
            other = generator.integers(k - 1, size=len(wrong))
            shuffled[wrong] = other + (other >= truth[wrong])
            chance.append(len(paired(truth, shuffled, k, rule)))
        print(
            f"  {name}: {found} pairs; by chance, a pair in {np.mean(np.array(chance) > 0):.1%} "
            f"of {draws:,} draws ({np.mean(chance):.3f} pairs on average)"
        )


def floors(run: Path, data: Path, pairs: list[tuple[str, str]]) -> None:
    from objrec.predict import predict

    partner = {a: b for a, b in pairs} | {b: a for a, b in pairs}
    folders = [data / "valid" / name for name in partner]
    answers = []
    for r in predict(run, folders, topk=5):
        if r.error is None and str(r.topk[0]["class"]) in partner:
            other = partner[str(r.topk[0]["class"])]
            prob = next((float(t["prob"]) for t in r.topk if t["class"] == other), 0.0)
            answers.append((prob, Path(r.path).parent.name == other))
    truly = sum(t for _, t in answers)
    print(f"{len(answers)} answers of {', '.join(partner)}; {truly} of the partner class")
    for floor in FLOORS:
        named = [t for p, t in answers if p >= floor]
        right = sum(named)
        f1 = 2 * right / (len(named) + truly) if named else 0.0
        print(f"  partner at {floor:.0%} or more: {len(named)} named, {right} of it (F1 {f1:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a run evaluated on --split valid")
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--draws", type=int, default=2000, help="chance draws of the counts")
    args = parser.parse_args()
    with (args.run / "eval-valid" / "predictions.csv").open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["true"] for r in rows})
    index = {name: i for i, name in enumerate(classes)}
    truth = np.array([index[r["true"]] for r in rows])
    answer = np.array([index.get(r["predicted"], -1) for r in rows])
    by_chance(truth, answer, len(classes), args.draws)
    pairs = [(classes[a], classes[b]) for a, b in paired(truth, answer, len(classes), (1, 0.0))]
    floors(args.run, args.data, pairs)


if __name__ == "__main__":
    main()

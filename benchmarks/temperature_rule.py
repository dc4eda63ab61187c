"""When is a fitted temperature worth applying? Rules compared on the same runs.

Makes small Caltech-101 folders (for each ``--draws`` size, ``CLASSESxPHOTOS``, else ``--classes``
and ``--photos``: that many classes drawn with each ``--seeds`` seed, or ``--names``, the first
photos of each, linked), splits each with its seed, trains objrec's default configuration on it,
and reads the run's validation and test outputs before calibration (the feature store's, no
second pass). For each run it prints the temperature the validation images fit
(``_temperature.allowed_temperature``: the maximum-likelihood one, 1 from too few errors to
sharpen), the loss it takes off them, the loss a temperature fitted on half of them takes off the
other half (``calibration.held_out_gain``, both ways, with its standard error), what objrec's rule
chooses (``temperature_fit``), and the test split's loss and ECE with T = 1 and with the fitted T.
``--split`` runs an existing split folder (e.g. ``/work/splits/s0``) as one more row.

Then, over every run, each rule (:data:`RULES`: never apply the fit, objrec's, the held-out gain
above 1 or 2 standard errors, always apply it): on how many runs it applies the fit, and the mean
and worst change it makes to the test loss and ECE (0 where it keeps T = 1). The test splits
judge the rules; they never choose a temperature. Runs already trained in ``--out`` are read
again, not retrained.

    OBJREC_CACHE=/tmp/tr-cache python benchmarks/temperature_rule.py \\
        --caltech ../shared/data/caltech101 --out /tmp/tr --draws 5x25 60x15 --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from _temperature import allowed_temperature
from temperature_demo import outputs  # the validation and test outputs, read the same way

from objrec.calibration import (
    MIN_ERRORS_TO_SHARPEN,
    expected_calibration_error,
    held_out_gain,
    mean_nll,
    temperature_fit,
)
from objrec.inference import Recognizer
from objrec.split.recipe import split_folder
from objrec.train import train

LEFT_OUT = {"BACKGROUND_Google", "Faces", "Faces_easy"}


@dataclass(frozen=True)
class Measured:
    """One run: the validation images' fit, and the test split's loss and ECE (a share) at T = 1
    and at the fit."""

    name: str
    valid: int
    errors: int
    fitted: float
    valid_gain: float
    held_out: float
    error: float
    chosen: float
    test: int
    at_one: tuple[float, float]
    at_fit: tuple[float, float]

    def line(self) -> str:
        at_one, at_fit = (
            f"{loss:.4f} {100 * ece:5.2f}" for loss, ece in (self.at_one, self.at_fit)
        )
        return (
            f"{self.name:<16} {self.valid:>5} {self.errors:>4} {self.fitted:6.3f} "
            f"{self.valid_gain:+.4f} {self.held_out:+.4f} {self.error:.4f} "
            f"{'T' if self.chosen != 1.0 else '1':>4}  {self.test:>5} {at_one}  {at_fit}"
        )


RULES: dict[str, Callable[[Measured], bool]] = {
    "never": lambda m: False,
    "held-out gain > 0 (objrec's)": lambda m: m.held_out > 0,
    "held-out gain > 1 s.e.": lambda m: m.held_out > m.error,
    "held-out gain > 2 s.e.": lambda m: m.held_out > 2 * m.error,
    "always": lambda m: True,
}
"""When each rule applies the fitted temperature (where it is not 1)."""


def small_folder(out: Path, seed: int, classes: int, photos: int, args: argparse.Namespace) -> Path:
    """``classes`` Caltech-101 classes of at least ``photos`` photos drawn with ``seed`` (or
    ``args.names``), the first ``photos`` of each linked into ``out``."""
    caltech = args.caltech
    names = sorted(
        d.name
        for d in caltech.iterdir()
        if d.is_dir() and d.name not in LEFT_OUT and len(list(d.iterdir())) >= photos
    )
    for name in args.names or random.Random(seed).sample(names, classes):
        (out / name).mkdir(parents=True)
        for photo in sorted((caltech / name).iterdir())[:photos]:
            (out / name / photo.name).symlink_to(photo)
    return out


def scores(logits: torch.Tensor, labels: torch.Tensor, t: float) -> tuple[float, float]:
    """The loss and the ECE (a share) of ``softmax(logits / t)``."""
    probs = (logits / t).softmax(1)
    return mean_nll(probs, labels), expected_calibration_error(probs, labels)


def measure(name: str, data: Path, run: Path) -> Measured:
    """One run's fit and test figures (trained here unless ``run`` holds one)."""
    if not (run / "summary.json").exists():
        train(data, run)
    recognizer = Recognizer.load(run)
    logits, labels = outputs(recognizer, data / "valid")
    test_logits, test_labels = outputs(recognizer, data / "test")
    t = allowed_temperature(logits, labels)
    valid_gain = mean_nll(logits.softmax(1), labels) - mean_nll((logits / t).softmax(1), labels)
    errors = int((logits.argmax(1) != labels).sum())
    gain, error = held_out_gain(logits, labels, errors >= MIN_ERRORS_TO_SHARPEN)
    return Measured(
        name,
        len(labels),
        errors,
        t,
        valid_gain,
        gain,
        error,
        temperature_fit(logits, labels).temperature,
        len(test_labels),
        scores(test_logits, test_labels, 1.0),
        scores(test_logits, test_labels, t),
    )


def changes(rows: list[Measured], applies: Callable[[Measured], bool]) -> list[tuple[float, float]]:
    """What a rule does to each run's test loss and ECE: the fit's change where it applies it."""
    return [
        (m.at_fit[0] - m.at_one[0], m.at_fit[1] - m.at_one[1])
        if m.fitted != 1.0 and applies(m)
        else (0.0, 0.0)
        for m in rows
    ]


def rules_table(rows: list[Measured]) -> str:
    """Each rule's count of runs applied, and its mean and worst change of test loss and ECE."""
    lines = [
        f"over {len(rows)} runs ({sum(m.fitted != 1.0 for m in rows)} with a fit other than 1):",
        "rule                          applied  loss: mean    worst  raised  ECE (points): mean"
        "  worst",
    ]
    for name, applies in RULES.items():
        changed = changes(rows, applies)
        loss = [c[0] for c in changed]
        ece = [100 * c[1] for c in changed]
        applied = sum(m.fitted != 1.0 and applies(m) for m in rows)
        lines.append(
            f"{name:<30} {applied:>6}  {sum(loss) / len(rows):+.5f} {max(loss):+.4f} "
            f"{sum(x > 0 for x in loss):>6}  {sum(ece) / len(rows):+.3f} {max(ece):+.2f}"
        )
    return "\n".join(lines)


def draw(text: str) -> tuple[int, int]:
    """``CLASSESxPHOTOS`` as two numbers."""
    classes, photos = text.split("x")
    return int(classes), int(photos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caltech", type=Path, help="Caltech-101's class folders")
    parser.add_argument("--out", type=Path, required=True, help="a folder for splits and runs")
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="one run each per draw")
    parser.add_argument("--draws", type=draw, nargs="*", help="CLASSESxPHOTOS each, e.g. 5x25")
    parser.add_argument("--classes", type=int, default=10, help="classes, without --draws")
    parser.add_argument("--photos", type=int, default=30, help="photos a class, without --draws")
    parser.add_argument("--names", nargs="*", default=[], help="these classes, not drawn ones")
    parser.add_argument("--split", type=Path, help="an existing split folder: one more row")
    args = parser.parse_args()
    print(
        "run              valid errs  T fit  valid gain  held-out   s.e.  rule   test  "
        "loss/ECE at 1  loss/ECE at T"
    )
    rows = []
    for classes, photos in args.draws or [(args.classes, args.photos)]:
        for seed in args.seeds:
            base = args.out / f"c{classes}p{photos}" / f"seed{seed}"
            if not (base / "data").exists():
                source = small_folder(base / "photos", seed, classes, photos, args)
                split_folder(source, base / "data", seed=seed, mode="link")
            rows.append(measure(f"{classes}x{photos} seed {seed}", base / "data", base / "run"))
            print(rows[-1].line(), flush=True)
    if args.split:
        rows.append(measure(args.split.name, args.split, args.out / f"run-{args.split.name}"))
        print(rows[-1].line(), flush=True)
    print(rules_table(rows))


if __name__ == "__main__":
    main()

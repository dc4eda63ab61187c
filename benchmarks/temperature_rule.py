"""When is a fitted temperature worth applying? The held-out rule against the plain fit.

Makes small Caltech-101 folders (``--classes`` classes drawn with each ``--seeds`` seed, or ``--names``, the
first ``--photos`` photos of each, linked), splits each with its seed, trains objrec's default
configuration on it, and reads the run's validation and test outputs before calibration (the
feature store's, no second pass). For each run it prints the temperature the validation images
fit (``calibration.allowed_temperature``: the maximum-likelihood one, 1 from too few errors to
sharpen), the loss it takes off them, the loss a temperature fitted on half of them takes off the
other half (``calibration.held_out_gain``, both ways, with its standard error), what the rule
chooses (``temperature_fit``: the temperature where that gain is above 0), and the test split's
loss and ECE with T = 1 and with the fitted T. The test split judges the rule; it never chooses.
``--split`` runs an existing split folder (e.g. ``/work/splits/s0``) as one more row.

    OBJREC_CACHE=/tmp/tr-cache flock /tmp/objrec-cpu.lock python benchmarks/temperature_rule.py \\
        --caltech ../shared/data/caltech101 --out /tmp/tr --seeds 0 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
from temperature_demo import outputs  # the validation and test outputs, read the same way

from objrec.calibration import (
    MIN_ERRORS_TO_SHARPEN,
    allowed_temperature,
    expected_calibration_error,
    held_out_gain,
    mean_nll,
    temperature_fit,
)
from objrec.inference import Recognizer
from objrec.split import split_folder
from objrec.train import train

LEFT_OUT = {"BACKGROUND_Google", "Faces", "Faces_easy"}


def small_folder(out: Path, seed: int, args: argparse.Namespace) -> Path:
    """``args.classes`` Caltech-101 classes of at least ``args.photos`` photos drawn with
    ``seed`` (or ``args.names``), the first ``args.photos`` of each linked into ``out``."""
    caltech, photos = args.caltech, args.photos
    names = sorted(
        d.name
        for d in caltech.iterdir()
        if d.is_dir() and d.name not in LEFT_OUT and len(list(d.iterdir())) >= photos
    )
    for name in args.names or random.Random(seed).sample(names, args.classes):
        (out / name).mkdir(parents=True)
        for photo in sorted((caltech / name).iterdir())[:photos]:
            (out / name / photo.name).symlink_to(photo)
    return out


def figures(logits: torch.Tensor, labels: torch.Tensor, t: float) -> str:
    probs = (logits / t).softmax(1)
    return f"{mean_nll(probs, labels):.4f} {100 * expected_calibration_error(probs, labels):5.2f}"


def row(name: str, data: Path, run: Path) -> str:
    """One run's line of the table (trained here unless ``run`` holds one)."""
    if not (run / "summary.json").exists():
        train(data, run)
    recognizer = Recognizer.load(run)
    logits, labels = outputs(recognizer, data / "valid")
    test_logits, test_labels = outputs(recognizer, data / "test")
    t = allowed_temperature(logits, labels)
    valid_gain = mean_nll(logits.softmax(1), labels) - mean_nll((logits / t).softmax(1), labels)
    errors = int((logits.argmax(1) != labels).sum())
    gain, error = held_out_gain(logits, labels, errors >= MIN_ERRORS_TO_SHARPEN)
    chosen = temperature_fit(logits, labels).temperature
    return (
        f"{name:<10} {len(labels):>5} {errors:>4} {t:6.3f} {valid_gain:+.4f} {gain:+.4f} "
        f"{error:.4f} {'T' if chosen != 1.0 else '1':>4}  {len(test_labels):>5} "
        f"{figures(test_logits, test_labels, 1.0)}  {figures(test_logits, test_labels, t)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caltech", type=Path, help="Caltech-101's class folders")
    parser.add_argument("--out", type=Path, required=True, help="a folder for splits and runs")
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="one small run each")
    parser.add_argument("--classes", type=int, default=10, help="classes of each small run")
    parser.add_argument("--photos", type=int, default=30, help="photos of each class")
    parser.add_argument("--names", nargs="*", default=[], help="these classes, not drawn ones")
    parser.add_argument("--split", type=Path, help="an existing split folder: one more row")
    args = parser.parse_args()
    print(
        "run        valid errs  T fit  valid gain  held-out   s.e.  rule   test  "
        "loss/ECE at 1  loss/ECE at T"
    )
    for seed in args.seeds:
        base = args.out / f"seed{seed}"
        if not (base / "data").exists():
            source = small_folder(base / "photos", seed, args)
            split_folder(source, base / "data", seed=seed, mode="link")
        print(row(f"seed {seed}", base / "data", base / "run"), flush=True)
    if args.split:
        print(row(args.split.name, args.split, args.out / f"run-{args.split.name}"), flush=True)


if __name__ == "__main__":
    main()

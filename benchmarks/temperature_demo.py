"""The temperature on an easy set: maximum likelihood alone against objrec's rule, on the demo.

Splits the built-in sample (``objrec demo``'s five classes) with each ``--seeds`` seed, trains the
demo's configuration on it, and reads the run's validation outputs before calibration. It prints the
validation errors, the maximum-likelihood temperature (``fit_temperature_mle``) and objrec's
(``fit_temperature``: at least 1 from fewer than ``MIN_ERRORS_TO_SHARPEN`` errors), and for each the
validation split's ECE and NLL, and the top probability given to three images of none of the classes
(mid grey, uniform noise, a smooth colour gradient). The test split is read only with ``--test``, to
report, never to choose.

    flock /tmp/objrec-cpu.lock python benchmarks/temperature_demo.py --seeds 0 --out /tmp/tdemo
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _temperature import fit_temperature
from PIL import Image

from objrec.answering import table_answers, view_tables
from objrec.calibration import expected_calibration_error, fit_temperature_mle
from objrec.config import EvaluateConfig
from objrec.data import scan_class_folder
from objrec.demo import DEMO_CONFIG, sample_dir
from objrec.inference import Recognizer
from objrec.progress import SILENT
from objrec.split.recipe import split_folder
from objrec.train import train


def outputs(recognizer: Recognizer, folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities before calibration and labels of the images of ``folder``."""
    images = scan_class_folder(folder, recognizer.classes)
    tables = view_tables(recognizer, images, folder.name, EvaluateConfig(), SILENT)
    ok = tables[0].ok
    _, _, uncalibrated = table_answers(recognizer, tables, ok)
    return uncalibrated.log(), tables[0].labels[ok]


def strangers() -> list[Image.Image]:
    """Three images of none of the classes."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 224, dtype=np.uint8)
    gradient = np.stack(
        [
            np.tile(ramp, (224, 1)),
            np.tile(ramp[:, None], (1, 224)),
            128 + 0 * np.tile(ramp, (224, 1)),
        ],
        2,
    )
    return [
        Image.new("RGB", (224, 224), (128, 128, 128)),
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)),
        Image.fromarray(gradient.astype(np.uint8)),
    ]


def figures(logits: torch.Tensor, labels: torch.Tensor, t: float) -> str:
    probs = (logits / t).softmax(1)
    nll = F.cross_entropy(logits / t, labels).item()
    return f"ECE {expected_calibration_error(probs, labels):.4f}, NLL {nll:.4f}"


def one_seed(seed: int, out: Path, test: bool) -> None:
    data, run = out / f"data-{seed}", out / f"run-{seed}"
    split_folder(sample_dir(), data, seed=seed)
    train(data, run, DEMO_CONFIG)
    recognizer = Recognizer.load(run)
    logits, labels = outputs(recognizer, data / "valid")
    errors = int((logits.argmax(1) != labels).sum())
    mle, rule = fit_temperature_mle(logits, labels), fit_temperature(logits, labels)
    raw = recognizer.logits(recognizer.preprocess(strangers()))
    print(f"seed {seed}: {len(labels)} valid images, {errors} errors")
    for name, t in (("T = 1", 1.0), ("maximum likelihood", mle), ("objrec's rule", rule)):
        top = recognizer.combine([raw], temperature=t).max(1).values.tolist()
        shown = ", ".join(f"{p:.2%}" for p in top)
        print(f"  {name:<19} T {t:.3f}  valid {figures(logits, labels, t)}  strangers' top {shown}")
        if test:
            test_logits, test_labels = outputs(recognizer, data / "test")
            wrong = int((test_logits.argmax(1) != test_labels).sum())
            print(
                f"  {'':<19} test ({len(test_labels)}, {wrong} errors) {figures(test_logits, test_labels, t)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="split seeds of the demo sample, one run each",
    )
    parser.add_argument("--out", type=Path, required=True, help="a new folder for splits and runs")
    parser.add_argument("--test", action="store_true", help="also report the test split")
    args = parser.parse_args()
    for seed in args.seeds:
        one_seed(seed, args.out, args.test)


if __name__ == "__main__":
    main()

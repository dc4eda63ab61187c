"""Seconds to draw and save each of objrec's figures (``objrec.plots``), on made-up inputs.

Each figure function is called as ``train``, ``explore``, ``evaluate`` and ``predict`` call it,
on inputs shaped like those of a ``--classes``-class project (seeded random numbers, flat-colour
images); prints the median CPU seconds of the process (matplotlib draws in one thread; CPU time
moves less than wall time with other work beside it) of ``--repeats`` saves of each, after one
untimed save of each (imports, fonts). ``--out`` keeps the PNGs, to look at them or to compare
two trees' pixels.

    python benchmarks/figures.py --classes 5
    python benchmarks/figures.py --classes 100 --out /tmp/figures-100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from objrec import plots
from objrec.calibration import reliability_table


def names(classes: int) -> list[str]:
    return [f"class_{i:03d}_{'long_name' if i % 7 == 0 else 'cls'}" for i in range(classes)]


def tile(i: int) -> Image.Image:
    """A 256 x 192 image, as ``evaluate`` reads its tiles (``draft_size=256``)."""
    return Image.new("RGB", (256, 192), ((40 * i) % 256, (90 * i) % 256, 160))


def figures(classes: int, rng: np.random.Generator) -> dict[str, Callable[[Path], object]]:
    """Each figure's name and a call saving it to a path."""
    labels = names(classes)
    n_train = rng.integers(20, 60, classes)
    counts = pd.DataFrame(
        {"train": n_train, "valid": n_train // 2, "test": n_train // 2}, index=labels
    )
    sizes = pd.DataFrame(
        {
            "class": np.repeat(labels, 30),
            "width": rng.integers(150, 500, 30 * classes),
            "height": rng.integers(150, 500, 30 * classes),
        }
    )
    epochs = np.arange(1, 31)
    history = pd.DataFrame(
        {"epoch": epochs, "train_loss": 1 / epochs, "valid_loss": 1.2 / epochs}
        | {"train_acc": 1 - 0.5 / epochs, "valid_acc": 1 - 0.6 / epochs}
    )
    table = pd.DataFrame(
        {"class": labels, "n_train": n_train, "top1": rng.uniform(0.5, 1, classes), "top5": 1.0}
    )
    truth = torch.as_tensor(rng.integers(0, classes, 30 * classes))
    guess = torch.where(torch.rand(len(truth)) < 0.9, truth, torch.randint(classes, truth.shape))
    matrix = torch.zeros(classes, classes, dtype=torch.long)
    matrix.index_put_((truth, guess), torch.ones(len(truth), dtype=torch.long), accumulate=True)
    probs = torch.softmax(3 * torch.randn(len(truth), classes), 1)
    reliability = {
        "before calibration": reliability_table(probs, truth),
        "after calibration": reliability_table(probs.sqrt(), truth),
    }
    tiles = [(tile(i), f"true {labels[i % classes]}\npredicted x (40%)", True) for i in range(12)]
    top = [(labels[i % classes], p) for i, p in enumerate((0.6, 0.2, 0.1, 0.05, 0.05))]
    rows = [(tile(i), f"image_{i}.jpg", top, i == 1) for i in range(plots_max())]
    return {
        "curves.png": lambda p: plots.training_curves(history, p, best=20),
        "images_per_class.png": lambda p: plots.images_per_class(counts, p),
        "image_sizes.png": lambda p: plots.image_sizes(sizes, p),
        "confusion.png": lambda p: plots.confusion_heatmap(matrix, labels, p),
        "top_losses.png": lambda p: plots.gallery(tiles, p, "Top losses: the wrong predictions"),
        "accuracy_vs_train.png": lambda p: plots.accuracy_vs_train_size(table, p),
        "reliability.png": lambda p: plots.reliability_diagram(reliability, p),
        "predictions.png": lambda p: plots.predictions(rows, p, "Top-5 predictions"),
    }


def plots_max() -> int:
    from objrec.predict_outputs import PLOT_MAX

    return PLOT_MAX


def median_seconds(save: Callable[[Path], object], path: Path, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        save(path)
        seconds.append(time.process_time() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=5, help="classes of the made-up project")
    parser.add_argument("--repeats", type=int, default=5, help="timed saves of each figure")
    parser.add_argument("--out", type=Path, help="folder to keep the PNGs in (default: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        saves = figures(args.classes, np.random.default_rng(0))
        for name, save in saves.items():
            save(out / name)  # imports, fonts: not timed
        total = 0.0
        for name, save in saves.items():
            seconds = median_seconds(save, out / name, args.repeats)
            total += seconds
            print(f"{name:24s} {seconds:7.3f} s")
        print(f"{'all eight':24s} {total:7.3f} s")


if __name__ == "__main__":
    main()

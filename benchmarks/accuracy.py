"""Accuracy of each setting on the Caltech-101 protocol, with its CPU wall time.

    python benchmarks/accuracy.py [--src ../shared/data/caltech101] [--seed 0] [--only NAME ...]

Splits the 100 classes (all but Faces and BACKGROUND_Google) 50/25/25 with ``objrec split --seed``,
then for each setting trains from an empty feature cache and evaluates on the test split. Prints
valid loss/accuracy (what defaults are chosen on), test top-1/top-5, mean per-class top-1 and the wall
time of train + evaluate. TTA rows reuse the run above them and time only the extra evaluation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from objrec.config import TrainConfig
from objrec.evaluate import evaluate
from objrec.split import split_folder
from objrec.train import train

ROOT = Path(__file__).resolve().parents[1]
CALTECH = ROOT.parent / "shared" / "data" / "caltech101"

SETTINGS: dict[str, dict] = {
    "lite0 frozen, centre crop only": {"aug_views": 0},
    "lite0 frozen + 4 augmented views (default)": {},
    "lite0 + label smoothing 0.1": {"label_smoothing": 0.1},
    "lite0 + class-weighted loss": {"balance": "weights"},
    "lite0 + TrivialAugmentWide views": {"augment": "trivial"},
    "lite0 + fine-tune last 2 blocks": {"finetune_blocks": 2},
    "lite1 frozen + 4 views": {"backbone": "efficientnet_lite1"},
    "lite2 frozen + 4 views": {"backbone": "efficientnet_lite2"},
}
TTA_AFTER = {
    "lite0 frozen + 4 augmented views (default)",
    "lite0 + fine-tune last 2 blocks",
    "lite2 frozen + 4 views",
}


def row(name: str, result, metrics: dict, seconds: float) -> str:
    valid = f"{result.best_valid_loss:.4f} {result.best_valid_acc:7.2%}" if result else " " * 15
    return (
        f"{name:46s} {valid} {metrics['top1']:7.2%} {metrics['top5']:7.2%} "
        f"{metrics['mean_class_top1']:8.2%} {seconds:7.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--src", type=Path, default=CALTECH)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", nargs="*", help="run only settings whose name contains one of these"
    )
    args = parser.parse_args()
    settings = {
        k: v for k, v in SETTINGS.items() if not args.only or any(o in k for o in args.only)
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        split_folder(
            args.src,
            work / "data",
            seed=args.seed,
            exclude=["Faces", "BACKGROUND_Google"],
            mode="link",
        )
        print(
            f"split seed {args.seed}; {'setting':37s} {'valid loss/acc':>15s} {'top-1':>7s} {'top-5':>7s} "
            f"{'class-avg':>8s} {'wall s':>7s}",
            flush=True,
        )
        for i, (name, overrides) in enumerate(settings.items()):
            cache = work / f"cache-{i}"
            start = time.perf_counter()
            config = TrainConfig(cache_dir=str(cache), **overrides)
            result = train(work / "data", work / f"run-{i}", config)
            metrics = evaluate(work / f"run-{i}", work / "data", cache_dir=cache).metrics
            print(row(name, result, metrics, time.perf_counter() - start), flush=True)
            if name in TTA_AFTER:
                start = time.perf_counter()
                tta = evaluate(
                    work / f"run-{i}",
                    work / "data",
                    cache_dir=cache,
                    tta=True,
                    out=work / f"tta-{i}",
                ).metrics
                print(
                    row("  + TTA (flip, wider crop)", None, tta, time.perf_counter() - start),
                    flush=True,
                )


if __name__ == "__main__":
    main()

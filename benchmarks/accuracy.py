"""Accuracy of each setting on the Caltech-101 protocol, with its CPU wall time.

    python benchmarks/accuracy.py [--src ../shared/data/caltech101] [--seed 0] [--only NAME ...]
                                  [--no-tta] [--data SPLIT]

Splits the 100 classes (all but Faces and BACKGROUND_Google) 50/25/25 with ``objrec split --seed``
(or takes the split folder ``--data``), then for each setting trains and evaluates on its test
split. Prints valid loss/accuracy (what defaults are chosen on), test top-1/top-5, mean
per-class top-1 and the wall time of train + evaluate (and of train alone). The first setting of each backbone starts from an empty feature
cache; the others reuse the features already computed (said on their row). TTA rows reuse the
run above them and time only the extra evaluation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from objrec.config import TrainConfig
from objrec.evaluate import evaluate
from objrec.run_record import RunSeconds
from objrec.split.recipe import split_folder
from objrec.train import train

ROOT = Path(__file__).resolve().parents[1]
LITE0 = {"backbone": "efficientnet_lite0"}
PAIR = "efficientnet_lite0+efficientnet_lite1"
CALTECH = ROOT.parent / "shared" / "data" / "caltech101"

# (name, TrainConfig overrides, cache group): settings of one group share the feature cache, so
# only the first of a group pays the whole frozen pass; the table says which rows reused features.
SETTINGS: list[tuple[str, dict, str]] = [
    ("default: lite0+lite1+lite2, 1 augmented view, 5 heads", {}, "ensemble"),
    ("  1 head", {"heads": 1}, "ensemble"),
    ("  4 augmented views", {"aug_views": 4}, "ensemble"),
    ("  label smoothing 0.1", {"label_smoothing": 0.1}, "ensemble"),
    ("  class-weighted loss", {"balance": "weights"}, "ensemble"),
    ("  TrivialAugmentWide view", {"augment": "trivial"}, "ensemble"),
    ("fp32 frozen pass (--precision fp32)", {"precision": "fp32"}, "ensemble-fp32"),
    ("  fine-tune last block", {"precision": "fp32", "finetune_blocks": 1}, "ensemble-fp32"),
    (
        "  fine-tune last block, BatchNorm statistics updated",
        {"precision": "fp32", "finetune_blocks": 1, "finetune_batchnorm": "train"},
        "ensemble-fp32",
    ),
    (
        "  fine-tune last 2 blocks, lr 3e-4",
        {"precision": "fp32", "finetune_blocks": 2, "finetune_lr": 3e-4},
        "ensemble-fp32",
    ),
    ("int8 frozen pass (--precision int8)", {"precision": "int8"}, "ensemble-int8"),
    ("lite0+lite1 (the previous default)", {"backbone": PAIR}, "pair"),
    ("lite0 alone, centre view only, 1 head", LITE0 | {"aug_views": 0, "heads": 1}, "lite0"),
    ("lite0 alone", LITE0, "lite0"),
    ("lite1 alone", {"backbone": "efficientnet_lite1"}, "lite1"),
    ("lite2 alone (260 px)", {"backbone": "efficientnet_lite2"}, "lite2"),
]
"""Rows run with ``--precision auto`` (all but those that say otherwise, fine-tuning's included,
which auto runs in fp32) say on their second line which precision it chose on this machine."""
TTA_AFTER = {SETTINGS[0][0], "lite2 alone (260 px)"}


def row(
    name: str, result, metrics, seconds: float, note: str = "", train_s: float | None = None
) -> str:
    valid = f"{result.best_valid_loss:.4f} {result.best_valid_acc:7.2%}" if result else " " * 15
    train_wall = f"{train_s:8.0f}" if train_s is not None else " " * 8
    return (
        f"{name:50s} {valid} {metrics.top1:7.2%} {metrics.top5:7.2%} "
        f"{metrics.mean_class_top1:8.2%} {seconds:7.0f}{train_wall} {note}"
    )


def stages(seconds: RunSeconds | None) -> str:
    """Where train's time went: the frozen pass (quantizing included), head fit, calibration."""
    if seconds is None:
        return "not measured"
    parts = [f"{name} {value:.0f}" for name, value in seconds.to_json().items()]
    quantized = seconds.quantize is not None
    return ", ".join(parts) + (" (quantize is part of features)" if quantized else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=CALTECH,
        help="the Caltech-101 class folder [default ../shared/data/caltech101 beside the repository; see README.md]",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of objrec split (when --data is not given)"
    )
    parser.add_argument(
        "--only", nargs="*", help="run only settings whose name contains one of these"
    )
    parser.add_argument("--no-tta", action="store_true", help="leave out the TTA rows")
    parser.add_argument("--data", type=Path, help="an existing split folder (--src is not read)")
    args = parser.parse_args()
    settings = [s for s in SETTINGS if not args.only or any(o in s[0] for o in args.only)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = args.data or work / "data"
        if args.data is None:
            exclude = ["Faces", "BACKGROUND_Google"]
            split_folder(args.src, data, seed=args.seed, exclude=exclude, mode="link")
        where = f"setting ({args.data or f'split seed {args.seed}'})"
        print(
            f"{where:50s} {'valid loss/acc':>15s} {'top-1':>7s} "
            f"{'top-5':>7s} {'class-avg':>8s} {'wall s':>7s} {'train s':>7s}",
            flush=True,
        )
        seen_groups: set[str] = set()
        for i, (name, overrides, group) in enumerate(settings):
            cache = work / f"cache-{group}"
            note = "(reused the cached features of rows above)" if group in seen_groups else ""
            seen_groups.add(group)
            start = time.perf_counter()
            config = TrainConfig(cache_dir=str(cache), **overrides)
            result = train(data, work / f"run-{i}", config)
            train_s = time.perf_counter() - start
            metrics = evaluate(work / f"run-{i}", data, cache_dir=cache).metrics.overall
            seconds = time.perf_counter() - start
            print(row(name, result, metrics, seconds, note, train_s), flush=True)
            used = result.precision.body.used if result.precision is not None else "?"
            print(f"    {used} body; train's seconds: {stages(result.seconds)}", flush=True)
            if name in TTA_AFTER and not args.no_tta:
                start = time.perf_counter()
                tta = evaluate(
                    work / f"run-{i}",
                    data,
                    cache_dir=cache,
                    tta=True,
                    out=work / f"tta-{i}",
                ).metrics.overall
                print(
                    row("  + TTA (mirror, other framing)", None, tta, time.perf_counter() - start),
                    flush=True,
                )


if __name__ == "__main__":
    main()

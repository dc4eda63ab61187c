"""Fewer optimizer steps for the head: larger batches, scaled learning rates, a shorter patience
and a cosine schedule against today's default, on the validation split only.

Each split folder's features are prepared exactly as ``objrec train`` prepares them
(``train.prepare`` with the precision settled as ``train`` settles it: the int8 body where
``--precision auto`` picks it, the float16 store, the features held in memory); nothing is
computed when the shared store holds them, and the count of image views pushed through the body
is printed. Then every variant fits the default five heads for each head seed, seeded, batched,
stopped early and scored as ``train.fit_head`` does; only the variant's batch size, learning
rate, patience, schedule and head precision (fp32, or bf16 as ``head_precision="auto"`` trains
on a CPU with AMX) differ. The test split is never read.

Printed, per split and variant: best valid loss per head seed and their median, the best epochs,
epochs run, the fit's seconds (median), Adam steps (median), and the valid accuracy at the best
epoch (median); then the rule's verdict per variant. A variant qualifies when, on every split,
its median best valid loss exceeds today's by no more than today's head-seed spread (max - min of
today's losses) on that split, and its median fit is clearly faster (under 0.8 of today's on
every split).

    flock /tmp/objrec-cpu.lock python benchmarks/head_steps.py --splits /work/splits/s0 \\
        /work/splits/s1 /work/splits/s2 --seeds 0 1 2 --variants 1 2 3 4 5 6 7 8

(``--variants``: indices into ``VARIANTS``; today's, 0, always runs; all of them when omitted, about
20 minutes on 2 cores, so the measured tables in benchmarks/README.md come from three runs of a
few each.)
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

from objrec.config import TrainConfig
from objrec.distributed import SINGLE
from objrec.engine import fit
from objrec.features import feature_batches
from objrec.finetune import warmup_cosine
from objrec.model import build_head
from objrec.progress import SILENT
from objrec.train import (
    head_optimizer,
    prepare,
    seed_everything,
    settle_head_precision,
    settle_precision,
    training_loss,
    trains_in,
)

FASTER = 0.8
"""A variant is clearly faster when its median fit takes under this share of today's."""


@dataclass(frozen=True)
class Variant:
    name: str
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5
    cosine_epochs: int = 0
    """0: a constant learning rate; N: cosine decay to zero over N epochs (at most N epochs)."""
    head_precision: str = "fp32"
    """``bf16``: the training forward under bfloat16 autocast (``train.trains_in``), as
    ``head_precision="auto"`` trains on a CPU with AMX."""


VARIANTS = [
    Variant("today: batch 128, lr 1e-3, patience 5"),
    Variant("batch 256, lr 1.41e-3 (sqrt)", 256, 1e-3 * math.sqrt(2)),
    Variant("batch 256, lr 2e-3 (linear)", 256, 2e-3),
    Variant("batch 512, lr 2e-3 (sqrt)", 512, 2e-3),
    Variant("batch 512, lr 4e-3 (linear)", 512, 4e-3),
    Variant("batch 128, lr 1e-3, patience 3", patience=3),
    Variant("batch 128, lr 2e-3, cosine over 12 epochs", 128, 2e-3, cosine_epochs=12),
    Variant("batch 256, lr 4e-3, cosine over 12 epochs", 256, 4e-3, cosine_epochs=12),
    Variant("batch 512, lr 8e-3, cosine over 12 epochs", 512, 8e-3, cosine_epochs=12),
    Variant("batch 128, lr 1e-3, cosine over 16 epochs", 128, 1e-3, cosine_epochs=16),
    Variant("batch 128, lr 2e-3, cosine over 16 epochs", 128, 2e-3, cosine_epochs=16),
    Variant("batch 128, lr 1.5e-3, cosine over 14 epochs", 128, 1.5e-3, cosine_epochs=14),
    Variant("batch 128, lr 1.5e-3, patience 5", 128, 1.5e-3),
    Variant("batch 128, lr 2e-3, patience 5", 128, 2e-3),
    Variant("today in bf16 (bfloat16 autocast, AMX)", head_precision="bf16"),
]


@dataclass
class Fit:
    loss: float
    best_epoch: int
    epochs: int
    seconds: float
    steps: int
    acc: float


def fit_variant(prep, config: TrainConfig, variant: Variant, seed: int) -> Fit:
    """The default head fitted with ``variant``'s settings and head seed ``seed``."""
    config = replace(
        config,
        seed=seed,
        batch_size=variant.batch_size,
        lr=variant.lr,
        patience=variant.patience,
        head_precision=variant.head_precision,
    )
    seed_everything(seed)  # as train.prepare builds the head
    head = build_head(
        prep.model.body.n_features, len(prep.classes), config.hidden, config.dropout, config.heads
    )
    optimizer = head_optimizer(head, config)
    steps_per_epoch = -(-len(prep.train_y) // config.batch_size)
    epochs, scheduler = config.epochs, None
    if variant.cosine_epochs:
        epochs = variant.cosine_epochs
        scheduler = warmup_cosine(optimizer, 0, epochs * steps_per_epoch)
    seed_everything(seed)  # as train.fit_head does
    start = time.perf_counter()
    state = fit(
        trains_in(head, config.head_precision),
        lambda epoch: feature_batches(
            prep.train, prep.train_y, config.batch_size, config.seed * 100_003 + epoch
        ),
        lambda: prep.valid.batches(1024),
        optimizer,
        epochs=epochs,
        patience=config.patience,
        min_delta=config.min_delta,
        loss_fn=training_loss(config, prep.train_y, len(prep.classes)),
        scheduler=scheduler,
    )
    seconds = time.perf_counter() - start
    best = state.history[state.best_epoch - 1]
    return Fit(
        state.best_valid_loss,
        state.best_epoch,
        state.epoch,
        seconds,
        state.epoch * steps_per_epoch,
        best["valid_acc"],
    )


def row(split: str, variant: Variant, fits: list[Fit]) -> str:
    losses = ", ".join(f"{f.loss:.4f}" for f in fits)
    median = statistics.median(f.loss for f in fits)
    best = ", ".join(str(f.best_epoch) for f in fits)
    ran = ", ".join(str(f.epochs) for f in fits)
    seconds = statistics.median(f.seconds for f in fits)
    steps = statistics.median(f.steps for f in fits)
    acc = statistics.median(f.acc for f in fits)
    return (
        f"| {split} | {variant.name} | {losses} | {median:.4f} | {best} | {ran} | "
        f"{seconds:.1f} | {steps:.0f} | {acc:.2%} |"
    )


def verdicts(results: dict[str, dict[str, list[Fit]]]) -> list[str]:
    """The rule, per variant: within today's head-seed spread on every split, and faster."""
    lines = []
    today = VARIANTS[0].name
    ran = {name for by_variant in results.values() for name in by_variant}
    for variant in (v for v in VARIANTS[1:] if v.name in ran):
        ok_loss, ok_speed, notes = True, True, []
        for split, by_variant in results.items():
            base = [f.loss for f in by_variant[today]]
            spread = max(base) - min(base)
            excess = statistics.median(f.loss for f in by_variant[variant.name])
            excess -= statistics.median(base)
            ratio = statistics.median(f.seconds for f in by_variant[variant.name])
            ratio /= statistics.median(f.seconds for f in by_variant[today])
            ok_loss &= excess <= spread
            ok_speed &= ratio < FASTER
            notes.append(f"{split}: {excess:+.4f} vs spread {spread:.4f}, fit x{ratio:.2f}")
        verdict = "qualifies" if ok_loss and ok_speed else "does not qualify"
        lines.append(f"* {variant.name}: {verdict} ({'; '.join(notes)})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--splits",
        type=Path,
        nargs="+",
        required=True,
        help="split folders to fit on (their valid split only)",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="head seeds per variant"
    )
    parser.add_argument(
        "--variants", type=int, nargs="*", help="indices into VARIANTS (0, today's, always runs)"
    )
    args = parser.parse_args()
    chosen = sorted({0, *(args.variants or range(len(VARIANTS)))})
    config, precision = settle_precision(TrainConfig(), SINGLE)
    head = settle_head_precision(config, SINGLE)[1]  # each variant sets its own
    print(f"frozen body in {precision['used']} ({precision['why']}); head seeds {args.seeds}")
    print(f"auto would train the head in {head['head']} ({head['head_why']})")
    print(
        "| split | variant | best valid loss per head seed | median | best epochs | epochs run | "
        "fit s (median) | Adam steps (median) | valid acc at best (median) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    results: dict[str, dict[str, list[Fit]]] = {}
    for data_dir in args.splits:
        prep = prepare(data_dir, config, SILENT)
        computed = int(prep.frozen_pass["computed"])
        results[data_dir.name] = {}
        for i in chosen:
            variant = VARIANTS[i]
            fits = [fit_variant(prep, config, variant, seed) for seed in args.seeds]
            results[data_dir.name][variant.name] = fits
            print(row(data_dir.name, variant, fits), flush=True)
        print(f"<!-- {data_dir}: {computed} image views computed -->", flush=True)
    print()
    print("\n".join(verdicts(results)))


if __name__ == "__main__":
    main()

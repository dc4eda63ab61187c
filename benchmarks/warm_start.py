"""A retrain after an edit, its head started from the previous run's (the previous head counted as
epoch 0 of early stopping, a given learning rate) against a head from scratch, on held-out
validation loss.

Both pick their best epoch on the validation images, and the warm start also keeps the previous
head when no epoch beats it: its best validation loss is then lower by construction, so comparing
best validation losses would flatter it. This script therefore splits each split folder's
validation images in two fixed halves (seed 0): early stopping watches half A; the loss reported
is the chosen head's on half B, which no choice saw. The test split is never read.

For each split folder and head seed, two edits of the training images (chosen with the head seed):
``relabel``: the previous run had 60 training images in a wrong class (a random other one), the
retrain has them right (label fixes); ``add``: the previous run lacked 100 training images, the
retrain has them. The previous head is trained from scratch (objrec's defaults) on the previous
data; then the retrain runs from scratch and warm-started with each ``--lrs``. Features come from
the store as ``benchmarks/head_speed.py`` reads them (float32 rounded to float16).

    flock /tmp/objrec-cpu.lock python benchmarks/warm_start.py --splits /work/splits/s0 \\
        /work/splits/s1 /work/splits/s2 --seeds 0 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from head_speed import split_features

from objrec.batches import feature_batches
from objrec.cache import FeatureCache
from objrec.config import TrainConfig
from objrec.engine import EarlyStopping, FitState, Stopping, evaluate_loss, fit
from objrec.model import build_head
from objrec.train import head_optimizer, seed_everything, training_loss


def halves(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    return order[::2], order[1::2]


def edited(train_y: torch.Tensor, edit: str, seed: int, n_classes: int):
    """The previous run's training rows and labels for ``edit``."""
    g = torch.Generator().manual_seed(1000 + seed)
    keep, labels = torch.arange(len(train_y)), train_y.clone()
    if edit == "add":
        keep = torch.randperm(len(train_y), generator=g)[100:].sort().values
    else:
        moved = torch.randperm(len(train_y), generator=g)[:60]
        shift = torch.randint(1, n_classes, (60,), generator=g)
        labels[moved] = (labels[moved] + shift) % n_classes
    return keep, labels[keep]


def warm_state(head, valid_batches, patience: int, min_delta: float) -> FitState:
    """A fit state whose epoch 0 is ``head`` as it stands (started from the previous run's): its
    validation loss is the one to beat, and its weights are kept when no epoch beats it."""
    valid = evaluate_loss(head, valid_batches())
    state = FitState(
        stopper=EarlyStopping(patience, min_delta), best_state=copy.deepcopy(head.state_dict())
    )
    state.stopper.step(valid["loss"], 0)
    state.history.append({"epoch": 0, "valid_loss": valid["loss"], "valid_acc": valid["acc"]})
    return state


def run_fit(head, x, y, valid, config: TrainConfig, lr: float, warm: bool):
    """``fit`` as ``objrec train`` runs it; ``warm``: from ``head`` as it is, counted as epoch 0.
    Returns the epochs run (not counting epoch 0) and the seconds."""
    n_classes = head.out_bias.shape[-1]
    optimizer = head_optimizer(head, replace(config, lr=lr))
    batches = lambda: [(valid[0], valid[1])]  # noqa: E731
    start = time.perf_counter()
    state = warm_state(head, batches, config.patience, config.min_delta) if warm else None
    seed_everything(config.seed)
    state = fit(
        head,
        lambda epoch: feature_batches(x, y, config.batch_size, config.seed * 100_003 + epoch),
        batches,
        optimizer,
        Stopping(config.epochs, config.patience, min_delta=config.min_delta),
        loss_fn=training_loss(config, y, n_classes),
        state=state,
    )
    return state.epoch, time.perf_counter() - start


def fresh_head(config: TrainConfig, dim: int, n_classes: int):
    seed_everything(config.seed)
    return build_head(dim, n_classes, config.hidden, config.dropout, config.heads)


def one_edit(
    features, edit: str, seed: int, lrs: list[float], epochs: int
) -> list[tuple[str, float, int, float]]:
    """(variant, loss on valid half B, epochs run, fit seconds) of each retrain."""
    train_x, train_y, valid_x, valid_y, _ = features
    n_classes, dim = int(train_y.max()) + 1, train_x.shape[-1]
    a, b = halves(valid_y)
    valid_a, valid_b = (valid_x[a], valid_y[a]), [(valid_x[b], valid_y[b])]
    config = TrainConfig(seed=seed, epochs=epochs)
    keep, labels = edited(train_y, edit, seed, n_classes)
    previous = fresh_head(config, dim, n_classes)
    run_fit(previous, train_x[:, keep], labels, valid_a, config, config.lr, warm=False)
    results = []
    head = fresh_head(config, dim, n_classes)
    epochs, seconds = run_fit(head, train_x, train_y, valid_a, config, config.lr, warm=False)
    results.append(("scratch", evaluate_loss(head, valid_b)["loss"], epochs, seconds))
    for lr in lrs:
        head = fresh_head(config, dim, n_classes)
        head.load_state_dict(previous.state_dict())
        epochs, seconds = run_fit(head, train_x, train_y, valid_a, config, lr, warm=True)
        results.append((f"warm, lr {lr:g}", evaluate_loss(head, valid_b)["loss"], epochs, seconds))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--splits", type=Path, nargs="+", required=True, help="split folders to fit on"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="head seeds per arm")
    parser.add_argument(
        "--edits", nargs="+", default=["relabel", "add"], help="edits made before the retrain"
    )
    parser.add_argument(
        "--lrs",
        type=float,
        nargs="+",
        default=[1e-3, 3e-4, 1e-4],
        help="learning rates of the warm-started head",
    )
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs, help="at most")
    parser.add_argument("--cache-dir", type=Path, help="feature store [default: objrec's]")
    args = parser.parse_args()
    cache = FeatureCache(args.cache_dir)
    print("| split | edit | head seed | retrain | loss on valid half B | epochs run | fit s |")
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    gaps: dict[str, list[float]] = {}
    for data_dir in args.splits:
        features = split_features(data_dir, TrainConfig(), cache)
        for edit in args.edits:
            for seed in args.seeds:
                results = one_edit(features, edit, seed, args.lrs, args.epochs)
                for name, loss, epochs, seconds in results:
                    gaps.setdefault(name, []).append(loss - results[0][1])
                    print(
                        f"| {data_dir.name} | {edit} | {seed} | {name} | {loss:.4f} | {epochs} | "
                        f"{seconds:.1f} |",
                        flush=True,
                    )
    for name, values in gaps.items():
        print(
            f"{name}: minus scratch on half B: mean {statistics.mean(values):+.4f}, "
            f"min {min(values):+.4f}, max {max(values):+.4f} ({len(values)} retrains)"
        )


if __name__ == "__main__":
    main()

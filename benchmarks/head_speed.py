"""The default head's epoch before and after its five members' weights were stacked, and what it
learns: seconds per epoch on synthetic features, and best validation loss on real ones.

Before: five ``build_head`` heads run one by one (``HeadEnsemble`` until this change), PyTorch's
default Adam. After: ``model.HeadEnsemble`` (the members' weights stacked: one matrix product for
the five first layers, one batched product for the last) and ``train.head_optimizer`` (Adam's
fused kernel), as ``objrec train`` runs them now. The middle row is the stacked heads with the
default Adam. Both start from the same weights and draw the same dropout masks.

Speed (default): ``--rows`` x ``--dim`` random features, ``--classes`` classes; one epoch is
``engine.train_one_epoch`` over the rows (batch 128) and ``engine.evaluate_loss`` over
``--valid`` rows, as ``fit`` runs them (the rows are in memory: reading them from the store costs
the same before and after). The variants take turns, an epoch each, ``--repeats`` times after a
warm-up epoch; the medians are printed side by side, with how far the weights of the after rows
are from the before row's after the first epoch.

    flock /tmp/objrec-cpu.lock python benchmarks/head_speed.py

Validation loss (``--splits``): the default head, before and after, trained for each head seed
with ``objrec train``'s head fit (its seeding, batches, early stopping and loss) on each split
folder's stored features of the fp32 body (``float16.split_tables``: read as float32 and rounded
to float16, what the default float16 store serves); the test split is never read. These are the
features of ``objrec train --precision fp32``, not of the default ``--precision auto`` where it
settles on int8 (a CPU with 8-bit dot-product instructions, as this machine's): the rows compare
the two heads on the same features; they are not the best validation loss ``objrec train`` reports
there, which int8 features move (benchmarks/README.md, the int8 sections). Nothing is computed
when the store holds the fp32 body's features.

    flock /tmp/objrec-cpu.lock python benchmarks/head_speed.py --splits /work/splits/s0 \\
        /work/splits/s1 /work/splits/s2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from float16 import split_tables
from torch import nn

from objrec.batches import feature_batches
from objrec.cache import FeatureCache
from objrec.config import TrainConfig
from objrec.engine import Stopping, evaluate_loss, fit, train_one_epoch
from objrec.model import build_head, mean_log_probs
from objrec.train import head_optimizer, seed_everything, training_loss


class PerMemberHeads(nn.Module):
    """``HeadEnsemble`` as it was: one ``build_head`` per member, run one after the other."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([member(x) for member in self.members])
        return logits if self.training else mean_log_probs(logits)


def build(variant: str, dim: int, classes: int, config: TrainConfig):
    """The head and optimizer of ``variant``, initialised from ``config.seed``."""
    seed_everything(config.seed)
    if variant == "before":
        members = [build_head(dim, classes, config.hidden, config.dropout) for _ in range(5)]
        head: nn.Module = PerMemberHeads(members)
        return head, torch.optim.Adam(head.parameters(), lr=config.lr)
    head = build_head(dim, classes, config.hidden, config.dropout, config.heads)
    if variant == "stacked, Adam":
        return head, torch.optim.Adam(head.parameters(), lr=config.lr)
    return head, head_optimizer(head, config)


VARIANTS = {
    "before": "5 heads one by one, Adam (before)",
    "stacked, Adam": "stacked heads, Adam",
    "after": "stacked heads, fused Adam (after: objrec train now)",
}


def stacked_weights(head: nn.Module) -> torch.Tensor:
    """Every weight of ``head`` as one vector, in the stacked layout."""
    if isinstance(head, PerMemberHeads):
        layers = [[p for p in m.parameters()] for m in head.members]
        return torch.cat([torch.stack(ps).flatten() for ps in zip(*layers, strict=True)])
    return torch.cat([p.detach().flatten() for p in head.parameters()])


def speed(args: argparse.Namespace) -> None:
    config = TrainConfig()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.rows, args.dim, generator=g)
    y = torch.randint(0, args.classes, (args.rows,), generator=g)
    valid = [(torch.randn(args.valid, args.dim, generator=g), y[: args.valid])]
    runs = {v: build(v, args.dim, args.classes, config) for v in VARIANTS}
    seconds: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for repeat in range(args.repeats + 1):
        for variant, (head, optimizer) in runs.items():
            torch.manual_seed(repeat)  # the same dropout masks in every variant
            batches = feature_batches(x[None], y, config.batch_size, repeat)
            start = time.perf_counter()
            train_one_epoch(head, batches, optimizer)
            trained = time.perf_counter()
            evaluate_loss(head, valid)
            if repeat:
                seconds[variant].append((trained - start, time.perf_counter() - trained))
        if repeat == 0:
            first = stacked_weights(runs["before"][0])
            apart = {
                v: (stacked_weights(h) - first).abs().max().item() for v, (h, _) in runs.items()
            }
    print(
        f"{args.rows:,} x {args.dim:,} features, {args.classes} classes, batch "
        f"{config.batch_size}, {args.valid:,} valid rows; median of {args.repeats} epochs each"
    )
    print(
        "| head and optimizer | train s / epoch | valid pass s | epoch s | speed-up | "
        "max weight difference after epoch 1 |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    base = statistics.median(t + v for t, v in seconds["before"])
    for variant, name in VARIANTS.items():
        train_s = statistics.median(t for t, _ in seconds[variant])
        valid_s = statistics.median(v for _, v in seconds[variant])
        epoch = statistics.median(t + v for t, v in seconds[variant])
        print(
            f"| {name} | {train_s:.3f} | {valid_s:.3f} | {epoch:.3f} | {base / epoch:.2f} | "
            f"{apart[variant]:.1e} |"
        )


def split_features(data_dir: Path, config: TrainConfig, cache: FeatureCache):
    """Train views (V, N, F), train labels, valid features and labels, as float16 serves them."""
    tables, valid_table, _ = split_tables(data_dir, config, cache)
    computed = sum(t.computed for t in [*tables, valid_table])
    ok = torch.stack([t.ok for t in tables]).all(0)
    sets = [t.load() for t in tables]
    train_x = torch.stack([s.features[ok] for s in sets]).half().float()
    valid_set = valid_table.load()
    valid_x = valid_set.features[valid_set.ok].half().float()
    return train_x, sets[0].labels[ok], valid_x, valid_set.labels[valid_set.ok], computed


def best_valid(variant: str, features, seed: int) -> tuple[float, int, float]:
    """Best valid loss, its epoch and the fit's seconds of ``variant`` with head seed ``seed``."""
    train_x, train_y, valid_x, valid_y, _ = features
    config = TrainConfig(seed=seed)
    n_classes = int(train_y.max()) + 1
    head, optimizer = build(variant, train_x.shape[-1], n_classes, config)
    seed_everything(config.seed)  # as train.fit_head does
    start = time.perf_counter()
    state = fit(
        head,
        lambda epoch: feature_batches(
            train_x, train_y, config.batch_size, config.seed * 100_003 + epoch
        ),
        lambda: zip(valid_x.split(1024), valid_y.split(1024), strict=True),
        optimizer,
        Stopping(config.epochs, config.patience, min_delta=config.min_delta),
        loss_fn=training_loss(config, train_y, n_classes),
    )
    return state.best_valid_loss, state.best_epoch, time.perf_counter() - start


def validation(args: argparse.Namespace) -> None:
    cache = FeatureCache(args.cache_dir)
    print("| split | head | best valid loss per head seed | median | best epochs | fit s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for data_dir in args.splits:
        features = split_features(data_dir, TrainConfig(), cache)
        for variant in ("before", "after"):
            runs = [best_valid(variant, features, seed) for seed in args.seeds]
            losses = ", ".join(f"{loss:.4f}" for loss, _, _ in runs)
            median = statistics.median(r[0] for r in runs)
            epochs = ", ".join(str(e) for _, e, _ in runs)
            fit_s = ", ".join(f"{s:.1f}" for _, _, s in runs)
            print(f"| {data_dir.name} | {variant} | {losses} | {median:.4f} | {epochs} | {fit_s} |")
        print(f"<!-- {data_dir}: {features[4]} image views computed -->")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=6000, help="synthetic training rows")
    parser.add_argument("--dim", type=int, default=3840, help="synthetic feature dimensions")
    parser.add_argument("--classes", type=int, default=100, help="synthetic classes")
    parser.add_argument("--valid", type=int, default=1000, help="synthetic validation rows")
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed epochs per variant (the median is printed)"
    )
    parser.add_argument("--splits", type=Path, nargs="*", help="split folders: valid loss instead")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="head seeds per variant (with --splits)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="feature store to read and fill [default: objrec's]"
    )
    args = parser.parse_args()
    if args.splits:
        validation(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()

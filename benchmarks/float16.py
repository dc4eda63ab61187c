"""Float16 feature storage against float32, on validation loss only.

Storing a feature row as float16 rounds each value once; reading it back as float32 is exact. So
training the default heads on float32 features rounded to float16 and back gives exactly what a
float16 store would give, without a second frozen pass. This script reads the float32 features of
a split folder's train (centre + augmented view) and valid images from the feature store
(computing any that are missing), then trains objrec's default heads with ``--seeds`` seeds on
each, and prints the best validation loss and accuracy of each seed and their medians side by side.
The test split is never read.

    flock /tmp/objrec-cpu.lock python benchmarks/float16.py /work/splits/s0 --cache-dir DIR
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.batches import ViewStack, feature_batches
from objrec.cache import FeatureCache
from objrec.config import TrainConfig
from objrec.data import scan_class_folder
from objrec.engine import Stopping, fit
from objrec.features import feature_table
from objrec.frozen import FrozenBody
from objrec.model import build_head
from objrec.train import seed_everything, training_loss
from objrec.views import ViewSpec


class Rounded:
    """A ``ViewStack`` whose features pass through float16 on the way out."""

    def __init__(self, stack: ViewStack):
        self.stack, self.n_views, self.labels = stack, stack.n_views, stack.labels

    def gather(self, views, idx):
        return self.stack.gather(views, idx).half().float()

    def __len__(self) -> int:
        return len(self.stack)


def split_tables(data_dir: Path, config: TrainConfig, cache: FeatureCache):
    """The store's tables of a split folder's training views and valid centre view, as train
    reads them, and the number of classes."""
    train = scan_class_folder(data_dir / "train")
    valid = scan_class_folder(data_dir / "valid", train.classes)
    spec = get_backbone(config.backbone)
    data = resolve_data_config(spec)
    body = FrozenBody(build_body(spec), data.input_size, cache, name=config.backbone)
    views = [
        ViewSpec(data, config.augment if v else "none", v) for v in range(config.aug_views + 1)
    ]
    train_tables = [feature_table(body, train.samples, v) for v in views]
    return train_tables, feature_table(body, valid.samples, views[0]), len(train.classes)


def stacks(data_dir: Path, config: TrainConfig, cache: FeatureCache):
    train_tables, valid_table, n_classes = split_tables(data_dir, config, cache)
    return ViewStack(train_tables), ViewStack([valid_table]), n_classes


def best_valid(train, valid, n_classes: int, seed: int) -> tuple[float, float]:
    config = TrainConfig(seed=seed)  # the head's defaults
    seed_everything(seed)
    head = build_head(valid.tables[0].dim, n_classes, config.hidden, config.dropout, config.heads)
    valid_x = torch.cat([x for x, _ in valid.batches(1024)])
    if isinstance(train, Rounded):
        valid_x = valid_x.half().float()
    state = fit(
        head,
        lambda epoch: feature_batches(
            train, train.labels, config.batch_size, config.seed * 100_003 + epoch
        ),
        lambda: [(valid_x, valid.labels)],
        torch.optim.Adam(head.parameters(), lr=config.lr),
        Stopping(config.epochs, config.patience),
        loss_fn=training_loss(config, train.labels, n_classes),
    )
    best = next(r for r in state.history if r["epoch"] == state.best_epoch)
    return best["valid_loss"], best["valid_acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a split folder")
    parser.add_argument(
        "--cache-dir", type=Path, help="feature store to read and fill [default: objrec's]"
    )
    parser.add_argument("--seeds", type=int, default=5, help="head seeds per arm")
    parser.add_argument(
        "--backbone",
        default=TrainConfig().backbone,
        help="body of the features [default: train's default]",
    )
    args = parser.parse_args()
    config = TrainConfig(backbone=args.backbone)
    train, valid, n_classes = stacks(args.data, config, FeatureCache(args.cache_dir))
    print(f"{args.data}: {len(train)} train images, {len(valid)} valid; default heads per seed")
    print("| storage | valid loss per seed | median valid loss | median valid accuracy |")
    print("| --- | --- | --- | --- |")
    for name, source in (("float32", train), ("float16", Rounded(train))):
        runs = [best_valid(source, valid, n_classes, seed) for seed in range(args.seeds)]
        losses = ", ".join(f"{loss:.4f}" for loss, _ in runs)
        loss = statistics.median(r[0] for r in runs)
        acc = statistics.median(r[1] for r in runs)
        print(f"| {name} | {losses} | {loss:.4f} | {acc:.2%} |")


if __name__ == "__main__":
    main()

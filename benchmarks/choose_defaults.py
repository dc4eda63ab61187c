"""How objrec's defaults were chosen: on the validation split only, never on test.

    python benchmarks/choose_defaults.py [--src ../shared/data/caltech101] [--seed 0]
                                         [--data SPLIT] [--cache-dir DIR] [--seeds 5]
                                         [--only SECTION ...]

Splits the 100 Caltech-101 classes 50/25/25 (``objrec split --seed``; or uses the split folder
``--data``), computes frozen features with objrec's own cache (``--cache-dir`` keeps them between
runs), then trains objrec's head on them exactly as ``objrec train`` does (``engine.fit``, Adam,
early stopping on validation loss) with ``--seeds`` seeds per setting, and prints the median best
validation loss and accuracy. The test split is never read. Sections (``--only``): framing,
input_size, ensembles, views (augmented views), heads (number, shape, label smoothing, class
weights), default (two bodies or three, one head or five: the choice checked on the valid splits
of several split seeds) and precision (the default's frozen pass in fp32 or int8, with the valid
loss of every head seed, whose spread is what int8 is judged against). "Whole image" means the short side resized to the input size and the
centre square kept; "crop" resizes to 1/0.875 of it first, the usual 87.5% centre crop.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.batches import feature_batches
from objrec.cache import FeatureCache
from objrec.config import DEFAULT_BACKBONE, TrainConfig
from objrec.data import scan_class_folder
from objrec.engine import Stopping, fit
from objrec.features import cached_features
from objrec.frozen import FrozenBody
from objrec.model import build_head
from objrec.quantize import quantize_body
from objrec.split.recipe import split_folder
from objrec.train import seed_everything, training_loss
from objrec.views import ViewSpec

ROOT = Path(__file__).resolve().parents[1]
CALTECH = ROOT.parent / "shared" / "data" / "caltech101"
LITE = {n: f"efficientnet_lite{n}" for n in (0, 1, 2)}


class Features:
    """Cached frozen features of the train and valid splits, per backbone, size and view."""

    def __init__(self, data_dir: Path, cache: FeatureCache):
        self.train = scan_class_folder(data_dir / "train")
        self.valid = scan_class_folder(data_dir / "valid", self.train.classes)
        self.cache = cache
        self.bodies: dict[tuple[str, int], FrozenBody] = {}

    def get(self, lite: int, split: str, size: int, resize: int, view: int = 0) -> torch.Tensor:
        spec = get_backbone(LITE[lite])
        data = dataclasses.replace(resolve_data_config(spec), input_size=size, resize_size=resize)
        key = (spec.name, size)
        if key not in self.bodies:
            self.bodies[key] = FrozenBody(build_body(spec), size, self.cache)
        folder = self.train if split == "train" else self.valid
        view_spec = ViewSpec(data, "article" if view else "none", view)
        features = cached_features(self.bodies[key], folder.samples, view_spec)
        if not features.ok.all():
            raise SystemExit(f"{split}: unreadable images; run objrec check first")
        return features.features

    def default_features(self, precision: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(2, N, F) train features (centre view, one augmented view) and (N, F) valid features
        of objrec's default body in ``precision``, computed and cached exactly as ``train``
        does (the same cache entries)."""
        spec = get_backbone(DEFAULT_BACKBONE)
        data = resolve_data_config(spec)
        body = build_body(spec)
        if precision == "int8":  # calibrated exactly as train does: the same cached graph
            body = quantize_body(body, data, self.cache.root)
        frozen = FrozenBody(body, data.input_size, self.cache)
        config = TrainConfig()
        sets = [
            cached_features(frozen, folder.samples, ViewSpec(data, augment, view))
            for folder, augment, view in (
                (self.train, "none", 0),
                (self.train, config.augment, 1),
                (self.valid, "none", 0),
            )
        ]
        if not all(s.ok.all() for s in sets):
            raise SystemExit("unreadable images; run objrec check first")
        return torch.stack([sets[0].features, sets[1].features]), sets[2].features

    def labels(self, split: str) -> torch.Tensor:
        folder = self.train if split == "train" else self.valid
        return torch.tensor([s.label for s in folder.samples])

    def stacked(self, lites, size: int, resize: int, views: int = 0):
        """(V, N, F) training features of the bodies ``lites`` side by side, and (N, F) valid."""
        train = torch.stack(
            [
                torch.cat([self.get(n, "train", size, resize, v) for n in lites], 1)
                for v in range(views + 1)
            ]
        )
        valid = torch.cat([self.get(n, "valid", size, resize) for n in lites], 1)
        return train, valid


def epoch_batches(
    train_x, train_y: torch.Tensor, config: TrainConfig
) -> Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """``fit``'s training batches of an epoch, shuffled as ``train`` shuffles them."""
    return lambda epoch: feature_batches(
        train_x, train_y, config.batch_size, config.seed * 100_003 + epoch
    )


def fit_heads(feats: Features, train_x, valid_x, seeds: int, **overrides) -> tuple[float, float]:
    """Median best valid loss and accuracy of objrec's head over ``seeds`` seeds."""
    losses, accs = fit_heads_each(feats, train_x, valid_x, seeds, **overrides)
    return statistics.median(losses), statistics.median(accs)


def fit_heads_each(
    feats: Features, train_x, valid_x, seeds: int, **overrides
) -> tuple[list[float], list[float]]:
    """Best valid loss and accuracy of objrec's head for each of ``seeds`` seeds."""
    train_y, valid_y = feats.labels("train"), feats.labels("valid")
    losses, accs = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the heads are small; the frozen pass keeps every core
    for seed in range(seeds):
        config = TrainConfig(seed=seed, **overrides)
        seed_everything(seed)
        head = build_head(
            train_x.shape[-1], len(feats.train.classes), config.hidden, config.dropout, config.heads
        )
        state = fit(
            head,
            epoch_batches(train_x, train_y, config),
            lambda: [(valid_x, valid_y)],
            torch.optim.Adam(head.parameters(), lr=config.lr),
            Stopping(config.epochs, config.patience),
            loss_fn=training_loss(config, train_y, len(feats.train.classes)),
        )
        best = next(r for r in state.history if r["epoch"] == state.best_epoch)
        losses.append(best["valid_loss"])
        accs.append(best["valid_acc"])
    torch.set_num_threads(threads)
    return losses, accs


def show(name: str, result: tuple[float, float], note: str = "") -> None:
    print(f"  {name:44s} {result[0]:.4f} {result[1]:7.2%} {note}".rstrip(), flush=True)


ONE = {"heads": 1}


def name_of(lites) -> str:
    return "+".join(f"lite{n}" for n in lites)


def framing(feats: Features, seeds: int) -> None:
    print("framing (centre view, one head): 87.5% centre crop against the whole image")
    for lite, size in ((0, 224), (2, 260)):
        for resize, label in ((round(size / 0.875), "crop"), (size, "whole image")):
            train_x, valid_x = feats.stacked([lite], size, resize)
            show(f"lite{lite} {size} px, {label}", fit_heads(feats, train_x, valid_x, seeds, **ONE))


def input_size(feats: Features, seeds: int) -> None:
    print("input size (whole image, one head; centre view unless said)")
    for lites, sizes, views in (
        ([0], (240, 260, 280), 0),
        ([1], (240, 260, 280), 0),
        ([0, 1], (240, 260, 280), 0),
        ([0, 1, 2], (240, 260), 0),
        ([0, 1, 2], (240, 260), 1),
    ):
        for size in sizes:
            train_x, valid_x = feats.stacked(lites, size, size, views)
            name = f"{name_of(lites)} {size} px" + (f", {views} augmented view" if views else "")
            show(name, fit_heads(feats, train_x, valid_x, seeds, **ONE))


def ensembles(feats: Features, seeds: int) -> None:
    print("backbones and their ensembles (240 px whole image, centre view, one head)")
    for lites in ([0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]):
        train_x, valid_x = feats.stacked(lites, 240, 240)
        show(name_of(lites), fit_heads(feats, train_x, valid_x, seeds, **ONE))


def views(feats: Features, seeds: int) -> None:
    print("augmented views (lite0+lite1, 240 px, one head)")
    for n in (0, 1, 2, 4):
        train_x, valid_x = feats.stacked([0, 1], 240, 240, n)
        show(f"{n} augmented views", fit_heads(feats, train_x, valid_x, seeds, **ONE))


def heads(feats: Features, seeds: int) -> None:
    print("heads and head settings (lite0+lite1, 240 px, 1 augmented view)")
    train_x, valid_x = feats.stacked([0, 1], 240, 240, 1)
    for name, overrides in (
        ("1 head", ONE),
        ("3 heads", {"heads": 3}),
        ("5 heads", {}),
        ("5 heads, label smoothing 0.1", {"label_smoothing": 0.1}),
        ("5 heads, class-weighted loss", {"balance": "weights"}),
        ("1 head, hidden 512, dropout 0.5", {**ONE, "hidden": 512, "dropout": 0.5}),
        ("1 head, linear", {**ONE, "hidden": 0, "dropout": 0.5}),
    ):
        show(name, fit_heads(feats, train_x, valid_x, seeds, **overrides))


def default(feats: Features, seeds: int) -> None:
    print("two bodies or three (240 px, 1 augmented view); run on several split seeds")
    for lites in ([0, 1], [0, 1, 2]):
        train_x, valid_x = feats.stacked(lites, 240, 240, 1)
        for overrides in (ONE, {}):
            n = overrides.get("heads", TrainConfig.heads)
            name = f"{name_of(lites)}, {n} head" + ("s" if n > 1 else "")
            show(name, fit_heads(feats, train_x, valid_x, seeds, **overrides))


def precision(feats: Features, seeds: int) -> None:
    print("fp32 or int8 frozen pass (the default: three bodies, 240 px, 1 augmented view, 5 heads)")
    print(f"  {'':44s} {'median':>6s} {'acc':>7s}   valid loss of each head seed")
    for name in ("fp32", "int8"):
        train_x, valid_x = feats.default_features(name)
        losses, accs = fit_heads_each(feats, train_x, valid_x, seeds)
        each = " ".join(f"{v:.4f}" for v in losses)
        show(f"{name}   ", (statistics.median(losses), statistics.median(accs)), each)


SECTIONS = {
    f.__name__: f for f in (framing, input_size, ensembles, views, heads, default, precision)
}


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
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.add_argument("--seeds", type=int, default=5, help="head seeds per setting")
    parser.add_argument("--data", type=Path, help="an existing split folder (--src is not read)")
    parser.add_argument("--cache-dir", type=Path, help="keep the features here between runs")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run these sections")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "data"
        if args.data is None:
            exclude = ["Faces", "BACKGROUND_Google"]
            split_folder(args.src, data, seed=args.seed, exclude=exclude, mode="link")
        feats = Features(data, FeatureCache(args.cache_dir or Path(tmp) / "cache"))
        split = args.data or f"split seed {args.seed}"
        print(f"{split}; median of {args.seeds} head seeds: valid loss, valid acc")
        for name in args.only or SECTIONS:
            SECTIONS[name](feats, args.seeds)


if __name__ == "__main__":
    main()

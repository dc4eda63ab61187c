"""``train``: split folder in, run folder out (checkpoint, config, history, curves, summary)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from objrec import plots
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.checkpoint import BEST, model_meta, save_checkpoint
from objrec.config import DataConfig, TrainConfig
from objrec.data import ClassFolder, require_split_folder, scan_class_folder
from objrec.engine import fit
from objrec.errors import ObjrecError
from objrec.features import (
    FeatureCache,
    FeatureSet,
    FrozenBody,
    ViewSpec,
    cached_features,
    default_cache_dir,
)
from objrec.model import Classifier, build_head, count_parameters
from objrec.progress import SILENT, Reporter

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced and measured."""

    run: Path
    classes: list[str]
    history: list[dict[str, Any]]
    best_epoch: int
    best_valid_loss: float
    best_valid_acc: float
    params: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    n_images: dict[str, int] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_run_folder(out: Path, force: bool) -> Path:
    out = Path(out)
    if (out / BEST).exists() and not force:
        raise ObjrecError(
            f"{out} already holds a trained model: choose another --out or pass --force"
        )
    if out.exists() and not out.is_dir():
        raise ObjrecError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def feature_cache(cache_dir: str | Path | None) -> FeatureCache:
    return FeatureCache(Path(cache_dir) if cache_dir else default_cache_dir())


def frozen_features(
    body: FrozenBody,
    folder: ClassFolder,
    data: DataConfig,
    config: TrainConfig,
    views: list[int],
    reporter: Reporter,
    name: str,
) -> list[FeatureSet]:
    """The cached features of ``folder`` for each view number (0 = centre crop)."""
    results = []
    for view in views:
        spec = ViewSpec(data, config.augment if view else "none", view)
        label = f"{name} features" + (f" (augmented view {view})" if view else "")
        results.append(
            cached_features(
                body,
                folder.samples,
                spec,
                batch_size=64,
                num_workers=config.num_workers,
                reporter=reporter,
                description=label,
            )
        )
    return results


def feature_batches(
    views: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch over cached features: shuffled, each image in one randomly chosen view."""
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    order = torch.randperm(n, generator=g)
    choice = torch.randint(views.shape[0], (n,), generator=g)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        yield views[choice[idx], idx], labels[idx]


def stack_views(sets: list[FeatureSet]) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, N, F) features of the images readable in every view, and their labels."""
    ok = torch.stack([s.ok for s in sets]).all(0)
    return torch.stack([s.features[ok] for s in sets]), sets[0].labels[ok]


def train(
    data_dir: Path,
    out: Path,
    config: TrainConfig | None = None,
    reporter: Reporter = SILENT,
    force: bool = False,
) -> TrainResult:
    """Train a new head on the frozen backbone's cached features; save the best epoch's model.

    Args:
        data_dir: a split folder (``train/``, ``valid/``, ``test/``), e.g. from ``split_folder``.
        out: the run folder; refused when it already holds a model, unless ``force``.
        config: the settings; default ``TrainConfig()``.
        reporter: receives progress and epoch lines.
    """
    config = config or TrainConfig()
    started = time.perf_counter()
    require_split_folder(data_dir)
    out = prepare_run_folder(out, force)
    train_set = scan_class_folder(Path(data_dir) / "train")
    valid_set = scan_class_folder(Path(data_dir) / "valid", train_set.classes)
    spec = get_backbone(config.backbone)
    data = resolve_data_config(spec, config.mean, config.std)
    body = build_body(spec, pretrained=True, weights=config.weights)
    seed_everything(config.seed)
    head = build_head(body.n_features, len(train_set.classes), config.hidden, config.dropout)
    model = Classifier(body, head).freeze_body()
    params = count_parameters(model)
    reporter.note(f"parameters: {params['total']:,} total, {params['trainable']:,} trainable")

    t0 = time.perf_counter()
    frozen = FrozenBody(body, data.input_size, feature_cache(config.cache_dir))
    views = list(range(config.aug_views + 1))
    train_x, train_y = stack_views(
        frozen_features(frozen, train_set, data, config, views, reporter, "train")
    )
    (valid_fs,) = frozen_features(frozen, valid_set, data, config, [0], reporter, "valid")
    valid_fs = valid_fs.readable()
    features_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = fit(
        head,
        lambda epoch: feature_batches(
            train_x, train_y, config.batch_size, config.seed * 100_003 + epoch
        ),
        lambda: zip(valid_fs.features.split(1024), valid_fs.labels.split(1024), strict=True),
        optimizer,
        epochs=config.epochs,
        patience=config.patience,
        steps_per_epoch=-(-len(train_y) // config.batch_size),
        reporter=reporter,
    )
    fit_seconds = time.perf_counter() - t0

    best = next(r for r in result.history if r["epoch"] == result.best_epoch)
    n_train = train_set.counts()
    meta = model_meta(
        train_set.classes, config.backbone, data, body.n_features, config.hidden, config.dropout
    )
    meta.update(
        train_config=config.to_dict(),
        n_train=n_train,
        params=params,
        best_epoch=result.best_epoch,
        valid={"loss": best["valid_loss"], "acc": best["valid_acc"]},
    )
    save_checkpoint(out / BEST, model, meta)
    history = pd.DataFrame(result.history)
    history.to_csv(out / "history.csv", index=False)
    plots.training_curves(history, out / "curves.png")
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    seconds = {
        "features": features_seconds,
        "fit": fit_seconds,
        "total": time.perf_counter() - started,
    }
    summary = TrainResult(
        run=out,
        classes=list(train_set.classes),
        history=result.history,
        best_epoch=result.best_epoch,
        best_valid_loss=best["valid_loss"],
        best_valid_acc=best["valid_acc"],
        params=params,
        seconds=seconds,
        n_images={"train": len(train_set.samples), "valid": len(valid_set.samples)},
    )
    (out / "summary.json").write_text(json.dumps(summary_dict(summary), indent=2))
    log.info(
        "trained %s: best epoch %d, valid loss %.4f", out, result.best_epoch, best["valid_loss"]
    )
    return summary


def summary_dict(result: TrainResult) -> dict[str, Any]:
    return {
        "run": str(result.run),
        "classes": len(result.classes),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "best_valid_loss": result.best_valid_loss,
        "best_valid_acc": result.best_valid_acc,
        "params": result.params,
        "seconds": result.seconds,
        "n_images": result.n_images,
    }

"""``train``: split folder in, run folder out (checkpoint, config, history, curves, summary)."""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from objrec import plots
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.check import require_clean
from objrec.checkpoint import (
    BEST,
    LAST,
    load_training_state,
    model_meta,
    restore_training_state,
    save_checkpoint,
    save_training_state,
)
from objrec.config import DataConfig, TrainConfig
from objrec.data import ClassFolder, require_split_folder, scan_class_folder
from objrec.distributed import SINGLE, World, process_group
from objrec.engine import EarlyStopping, FitState, fit
from objrec.errors import Interrupted, ObjrecError
from objrec.features import (
    FeatureCache,
    FeatureTable,
    FrozenBody,
    ViewSpec,
    ViewStack,
    feature_batches,
    feature_table,
    sharded_feature_batches,
)
from objrec.finetune import FinetuneModel, optimizer_for, split_body, unfreeze, warmup_cosine
from objrec.model import Classifier, build_head, count_parameters
from objrec.progress import SILENT, Reporter
from objrec.quantize import QuantizedBody, quantize_body

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
    finished: bool = True
    """False for the model saved on Ctrl-C: the run can be resumed."""
    frozen_pass: dict[str, int] = field(default_factory=dict)
    """Image views pushed through the frozen body (``computed``), read from the store, hashed."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


SUMMARY = "summary.json"


def run_status(out: Path) -> str:
    """What ``out`` holds: ``finished`` (a run that ended), ``interrupted`` (one that can be
    resumed: stopped by Ctrl-C or killed) or ``none``."""
    out = Path(out)
    if (out / SUMMARY).is_file():
        try:
            summary = json.loads((out / SUMMARY).read_text())
        except (OSError, ValueError):
            summary = {}
        # runs written before "finished" existed: an interrupted one recorded no times
        return (
            "finished" if summary.get("finished", bool(summary.get("seconds"))) else "interrupted"
        )
    if (out / LAST).exists():
        return "interrupted"
    return "finished" if (out / BEST).exists() else "none"


def refuse_out_inside_data(data_dir: Path, out: Path) -> None:
    """A run folder inside the data folder would be read as a class (or split) folder."""
    data, run = Path(data_dir).resolve(), Path(out).resolve()
    if run == data or run.is_relative_to(data):
        raise ObjrecError(
            f"the run folder {out} lies inside the data folder {data_dir}: choose one outside it"
        )


def prepare_run_folder(out: Path, force: bool) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ObjrecError(f"--out {out} exists and is not a folder")
    status = run_status(out)
    if status == "interrupted" and not force:
        raise ObjrecError(
            f"{out} holds an interrupted run: continue it with --resume {out}, "
            "or pass --force to start it over"
        )
    if status == "finished" and not force:
        raise ObjrecError(
            f"{out} already holds a trained model: choose another --out or pass --force"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def resumable(out: Path) -> Path:
    """``out`` when it holds an interrupted run; a finished run is left exactly as it is."""
    status = run_status(out)
    if status == "finished":
        raise ObjrecError(
            f"{out} is a finished run: there is nothing to resume, and nothing was changed"
        )
    if status == "none":
        raise ObjrecError(f"{out} holds no run to resume")
    return Path(out)


def feature_cache(cache_dir: str | Path | None) -> FeatureCache:
    return FeatureCache(Path(cache_dir) if cache_dir else None)


def frozen_features(
    body: FrozenBody,
    folder: ClassFolder,
    data: DataConfig,
    config: TrainConfig,
    views: list[int],
    reporter: Reporter,
    name: str,
    world: World = SINGLE,
) -> list[FeatureTable]:
    """The feature store's tables of ``folder`` for each view number (0 = centre crop)."""
    results = []
    for view in views:
        spec = ViewSpec(data, config.augment if view else "none", view)
        label = f"{name} features" + (f" (augmented view {view})" if view else "")
        table = feature_table(
            body,
            folder.samples,
            spec,
            num_workers=config.num_workers,
            reporter=reporter,
            description=label,
            world=world,
        )
        computed = world.sum(table.computed)
        reporter.note(
            f"{label}: {len(table)} images, {computed} pushed through the frozen body, "
            f"{len(table) - computed} from the feature store"
        )
        results.append(table)
    return results


def frozen_pass_counts(tables: list[FeatureTable], world: World) -> dict[str, int]:
    """Image views pushed through the frozen body (all ranks), read from the store, and hashed."""
    computed = world.sum(sum(t.computed for t in tables))
    return {
        "computed": computed,
        "from_store": sum(len(t) for t in tables) - computed,
        "hashed": world.sum(sum(t.hashing.hashed for t in tables)),
    }


@dataclass
class Prepared:
    """The model and the cached features a run trains on."""

    model: Classifier
    data: DataConfig
    train: ViewStack
    valid: ViewStack
    fingerprint: str
    train_set: ClassFolder
    valid_set: ClassFolder
    frozen_pass: dict[str, int] = field(default_factory=dict)

    @property
    def train_y(self) -> torch.Tensor:
        return self.train.labels

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train_set.classes


def prepare(
    data_dir: Path, config: TrainConfig, reporter: Reporter, world: World = SINGLE
) -> Prepared:
    """Build the model and compute (or load) the frozen features of train and valid."""
    train_set = scan_class_folder(Path(data_dir) / "train")
    valid_set = scan_class_folder(Path(data_dir) / "valid", train_set.classes)
    spec = get_backbone(config.backbone)
    data = resolve_data_config(spec, config.mean, config.std)
    weights = Path(config.weights) if config.weights else None
    body = build_body(spec, pretrained=True, weights=weights)
    if config.precision == "int8":
        body = int8_body(body, data, train_set, config, world)
    seed_everything(config.seed)
    head = build_head(
        body.n_features, len(train_set.classes), config.hidden, config.dropout, config.heads
    )
    model = Classifier(body, head).freeze_body()
    cache = feature_cache(config.cache_dir)
    name = config.backbone + (" (int8)" if config.precision == "int8" else "")
    frozen = FrozenBody(body, data.input_size, cache, name=name)
    views = list(range(config.aug_views + 1))
    train_sets = frozen_features(frozen, train_set, data, config, views, reporter, "train", world)
    (valid,) = frozen_features(frozen, valid_set, data, config, [0], reporter, "valid", world)
    report_unreadable([*train_sets, valid], reporter)
    return Prepared(
        model,
        data,
        ViewStack(train_sets),
        ViewStack([valid]),
        frozen.fingerprint,
        train_set,
        valid_set,
        frozen_pass_counts([*train_sets, valid], world),
    )


def int8_body(
    body: nn.Module, data: DataConfig, train_set: ClassFolder, config: TrainConfig, world: World
) -> QuantizedBody:
    """The body quantized to int8, calibrated on a sample of the training images; under torchrun
    rank 0 quantizes and the others read its graph from the cache."""
    root = feature_cache(config.cache_dir).root
    assert root is not None
    if world.main:
        quantize_body(body, data, train_set.samples, root)
    world.barrier()
    return quantize_body(body, data, train_set.samples, root)


def report_unreadable(sets: list[FeatureTable], reporter: Reporter) -> None:
    """One warning per unreadable file (not one per view), and a count for the person watching."""
    messages = list(dict.fromkeys(m for s in sets for m in s.errors))
    for message in messages:
        log.warning("skipped %s", message)
    if messages:
        reporter.note(f"skipped {len(messages)} unreadable files (`objrec check` lists them)")


def train(
    data_dir: Path,
    out: Path,
    config: TrainConfig | None = None,
    reporter: Reporter = SILENT,
    force: bool = False,
    resume: bool = False,
    strict: bool = False,
) -> TrainResult:
    """Train a new head on the frozen backbone's cached features; save the best epoch's model.

    Args:
        data_dir: a split folder (``train/``, ``valid/``, ``test/``), e.g. from ``split_folder``.
        out: the run folder; refused when it already holds a model, unless ``force``.
        config: the settings; default ``TrainConfig()``. Ignored when resuming (the run's own).
        reporter: receives progress and epoch lines.
        resume: continue the run in ``out`` after its last completed epoch.
        strict: refuse to start while ``objrec check`` finds unusable files.

    Under ``torchrun`` the ranks share the frozen pass and train the head with
    DistributedDataParallel; only rank 0 reports and writes (see ``objrec.distributed``).

    Raises:
        Interrupted: on Ctrl-C, after saving the best model so far; resume with ``resume``.
    """
    with process_group() as world:
        reporter = reporter if world.main else SILENT
        return _train(Path(data_dir), Path(out), config, reporter, force, resume, strict, world)


def _train(data_dir, out, config, reporter, force, resume, strict, world: World) -> TrainResult:
    started = time.perf_counter()
    require_split_folder(data_dir)
    refuse_out_inside_data(data_dir, out)
    saved = load_training_state(resumable(out) / LAST) if resume else None
    if saved:
        config = TrainConfig.from_dict(saved[1]["train_config"])
        reporter.note(f"resuming {out} after epoch {saved[1]['epoch']}")
    else:
        out = prepare_run_folder(out, force)
    config = config or TrainConfig()
    if strict:
        require_clean(data_dir, reporter)
    t0 = time.perf_counter()
    prep = prepare(data_dir, config, reporter, world)
    try:
        return fit_and_finish(prep, data_dir, out, config, saved, reporter, world, started, t0)
    finally:
        feature_cache(config.cache_dir).close()  # lets `objrec cache --prune` go on


def fit_and_finish(prep, data_dir, out, config, saved, reporter, world, started, t0):
    """Fit the head (and fine-tune), then write the run folder."""
    features_seconds = time.perf_counter() - t0
    params = count_parameters(prep.model)
    reporter.note(f"parameters: {params['total']:,} total, {params['trainable']:,} trainable")
    meta = model_meta(
        prep.classes,
        config.backbone,
        prep.data,
        prep.model.body.n_features,
        config.hidden,
        config.dropout,
        config.heads,
    )
    meta |= {
        "train_config": config.to_dict(),
        "n_train": prep.train_set.counts(),
        "params": params,
        "body_fingerprint": prep.fingerprint,
        "data_dir": str(Path(data_dir).resolve()),
    }
    t0 = time.perf_counter()
    state = fit_head(prep, config, meta, Path(out), saved, reporter, world)
    if config.finetune_blocks:
        state = finetune_phase(prep, config, state, reporter, world)
    seconds = {"features": features_seconds, "fit": time.perf_counter() - t0}
    seconds["total"] = time.perf_counter() - started
    result = finish_run(Path(out), prep, config, meta, state, params, seconds, write=world.main)
    world.barrier()
    return result


def epoch_sources(prep: Prepared, config: TrainConfig, world: World):
    """What trains (the head, wrapped in DDP under torchrun) and its train and valid batches."""
    batch = max(1, config.batch_size // world.size)  # the same global batch on any number of ranks
    valid = prep.valid
    if not world.distributed:

        def train_batches(epoch):
            return feature_batches(prep.train, prep.train_y, batch, config.seed * 100_003 + epoch)

        def valid_batches():
            return valid.batches(1024)

        return prep.model.head, train_batches, valid_batches

    def sharded_train_batches(epoch):
        return sharded_feature_batches(prep.train, prep.train_y, batch, config.seed, epoch, world)

    def sharded_valid_batches():
        share = torch.arange(world.rank, len(valid), world.size)
        for idx in share.split(1024):
            yield valid.gather(torch.zeros(len(idx), dtype=torch.long), idx), valid.labels[idx]

    return DistributedDataParallel(prep.model.head), sharded_train_batches, sharded_valid_batches


def fit_head(
    prep: Prepared, config: TrainConfig, meta, out: Path, saved, reporter, world: World = SINGLE
) -> FitState:
    """Run ``fit`` on the cached features, saving the training state after every epoch."""
    head = prep.model.head
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = None
    if saved:
        if saved[1]["body_fingerprint"] != prep.fingerprint:
            raise ObjrecError(f"{out}: the backbone's weights changed since this run started")
        state = restore_training_state(*saved, head, optimizer)
    else:
        seed_everything(config.seed)  # dropout draws the same whether features were cached or not
    model, train_batches, valid_batches = epoch_sources(prep, config, world)

    def save(s: FitState) -> None:
        if world.main:
            save_training_state(out / LAST, head, optimizer, s, meta)

    try:
        return fit(
            model,
            train_batches,
            valid_batches,
            optimizer,
            epochs=config.epochs,
            patience=config.patience,
            min_delta=config.min_delta,
            steps_per_epoch=-(-len(prep.train_y) // config.batch_size),
            reporter=reporter,
            loss_fn=training_loss(config, prep.train_y, len(prep.classes)),
            state=state,
            on_epoch_end=save,
            world=world,
        )
    except KeyboardInterrupt:
        if world.main:
            stop_after_interrupt(prep, config, meta, out, optimizer)
        raise


def training_loss(config: TrainConfig, labels: torch.Tensor, n_classes: int) -> nn.Module:
    """Cross-entropy with the configured label smoothing and class weighting."""
    weight = None
    if config.balance == "weights":
        counts = torch.bincount(labels, minlength=n_classes).float()
        weight = counts.sum() / (n_classes * counts.clamp(min=1))
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


def finetune_phase(
    prep: Prepared, config: TrainConfig, head_state: FitState, reporter: Reporter, world: World
) -> FitState:
    """Train the body's last blocks and the head on cached activations at the cut (see finetune)."""
    if world.distributed:
        raise ObjrecError("--finetune-blocks does not run under torchrun yet: train in one process")
    stem, top = split_body(prep.model.body, config.finetune_blocks, prep.data.input_size)
    name = f"{config.backbone} cut {config.finetune_blocks}"
    frozen = FrozenBody(stem, prep.data.input_size, feature_cache(config.cache_dir), name=name)
    views = list(range(config.aug_views + 1))
    sets = frozen_features(
        frozen, prep.train_set, prep.data, config, views, reporter, "train (cut)"
    )
    (valid_table,) = frozen_features(
        frozen, prep.valid_set, prep.data, config, [0], reporter, "valid (cut)"
    )
    train_x = ViewStack(sets)
    train_y = train_x.labels
    valid = ViewStack([valid_table])
    unfreeze(top)
    model = FinetuneModel(top, prep.model.head, config.finetune_batchnorm)
    optimizer = optimizer_for(model, config.finetune_lr)
    steps = -(-len(train_y) // config.batch_size)
    scheduler = warmup_cosine(optimizer, steps, steps * config.finetune_epochs)
    stopper = EarlyStopping(config.patience)
    stopper.load_state_dict({**head_state.stopper.state_dict(), "bad_epochs": 0})
    start = FitState(
        head_state.epoch, list(head_state.history), stopper, copy.deepcopy(model.state_dict())
    )
    seed_everything(config.seed)
    state = fit(
        model,
        lambda epoch: feature_batches(
            train_x, train_y, config.batch_size, config.seed * 100_003 + epoch
        ),
        lambda: valid.batches(256),
        optimizer,
        epochs=head_state.epoch + config.finetune_epochs,
        patience=config.patience,
        min_delta=config.min_delta,
        steps_per_epoch=steps,
        reporter=reporter,
        loss_fn=training_loss(config, train_y, len(prep.classes)),
        scheduler=scheduler,
        state=start,
    )
    prep.model.freeze_body()
    for record in state.history[head_state.epoch :]:
        record["phase"] = "finetune"
    return state


def stop_after_interrupt(prep: Prepared, config: TrainConfig, meta, out: Path, optimizer) -> None:
    """Ctrl-C: write the best model of the last completed epoch, then say how to resume."""
    last = load_training_state(out / LAST) if (out / LAST).exists() else None
    if last is None:
        raise Interrupted("interrupted before the first epoch ended; nothing saved") from None
    state = restore_training_state(*last, prep.model.head, optimizer)
    prep.model.head.load_state_dict(state.best_state)
    finish_run(out, prep, config, meta, state, count_parameters(prep.model), {}, finished=False)
    raise Interrupted(
        f"interrupted after epoch {state.epoch}; the best model so far is in {out / BEST}; "
        f"continue with: objrec train DATA --resume {out}"
    ) from None


def finish_run(
    out: Path,
    prep: Prepared,
    config,
    meta,
    state: FitState,
    params,
    seconds,
    write: bool = True,
    finished: bool = True,
) -> TrainResult:
    """Write the best model, history, curves, config and summary of a run (unless not ``write``)."""
    best = next(r for r in state.history if r["epoch"] == state.best_epoch)
    meta = {
        **meta,
        "best_epoch": state.best_epoch,
        "valid": {"loss": best["valid_loss"], "acc": best["valid_acc"]},
    }
    history = pd.DataFrame(state.history)
    if write:
        save_checkpoint(out / BEST, prep.model, meta)
        history.to_csv(out / "history.csv", index=False)
        plots.training_curves(history, out / "curves.png")
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    result = TrainResult(
        run=out,
        classes=list(prep.classes),
        history=state.history,
        best_epoch=state.best_epoch,
        best_valid_loss=best["valid_loss"],
        best_valid_acc=best["valid_acc"],
        params=params,
        seconds=seconds,
        n_images={"train": len(prep.train_y), "valid": len(prep.valid.labels)},
        finished=finished,
        frozen_pass=prep.frozen_pass,
    )
    if write:
        (out / SUMMARY).write_text(json.dumps(summary_dict(result), indent=2))
    log.info(
        "trained %s: best epoch %d, valid loss %.4f", out, state.best_epoch, best["valid_loss"]
    )
    return result


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
        "finished": result.finished,
        "frozen_pass": result.frozen_pass,
    }

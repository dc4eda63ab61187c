"""Fewer optimizer steps for the head: larger batches, scaled learning rates, a shorter patience
and a cosine schedule against today's default, on the validation split only.

Each split folder's features are prepared exactly as ``objrec train`` prepares them
(``train.prepare`` with the precision settled as ``train`` settles it: the int8 body where
``--precision auto`` picks it, the float16 store, the features held in memory); nothing is
computed when the shared store holds them, and the count of image views pushed through the body
is printed. Then every variant fits the default five heads for each head seed, seeded, batched,
stopped early and scored as ``train.fit_head`` does; only the variant's batch size, learning
rate, patience, schedule and head precision (fp32, or bf16 as ``head_precision="auto"`` trains
on a CPU with bfloat16 matrix instructions: AMX, AVX-512 BF16) differ. The test split is never read.

The PCA variants (15 to 17; 18 keeps every component, a rotation only, as a control) fit the same
head on the training features projected onto their top k principal components (centred on the
training rows' mean, every view of every training image; the 3,840 x 3,840 covariance and its
eigensolve in float64, once a split, and the time it took counted as each fit's), then fold the
projection into the first layer (``W P^T``, ``b - W P^T mean``), so that the head kept is an
ordinary one on the 3,840 features. The fold is checked: the folded head's logits on the full
validation features against the fitted head's on the projected ones, and its validation loss
against the fit's best. A second table gives, per split and k, the variance kept, the seconds of
the float64 PCA, of a float32 one and of ``torch.svd_lowrank`` (only timed, not fitted), the
projection's, and the fold's check.

Printed, per split and variant: best valid loss per head seed and their median, the best epochs,
epochs run, the fit's seconds (median), Adam steps (median), and the valid accuracy at the best
epoch (median); then the rule's verdict per variant. A variant qualifies when, on every split,
its median best valid loss exceeds the baseline's (today's) by no more than the baseline's
head-seed spread (max - min of its losses) on that split, and its median fit is clearly faster
(under 0.8 of the baseline's on every split); a PCA variant, also that its fold holds (logits
within ``FOLD_TOLERANCE``). A PCA variant's verdict also gives its ratio with the PCA, the
projection and the fold counted.

    flock /tmp/objrec-cpu.lock python benchmarks/head_steps.py --splits /work/splits/s0 \\
        /work/splits/s1 /work/splits/s2 --seeds 0 1 2 --variants 15 16 17 --baseline 14

    flock /tmp/objrec-cpu.lock python benchmarks/head_steps.py --splits /work/splits/s0 \\
        /work/splits/s1 /work/splits/s2 --seeds 0 1 2 --variants 1 2 3 4 5 6 7 8

(``--variants``: indices into ``VARIANTS``; all of them when omitted, about 20 minutes on 2 cores,
so the measured tables in benchmarks/README.md come from runs of a few each. ``--baseline``: the
variant the rule compares with, which always runs: 0, today's recipe in fp32, unless given; 14,
today's in bf16, is what ``objrec train`` fits on a CPU with AMX or AVX-512 BF16.)
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from objrec.batches import ViewStack, feature_batches, trains_in
from objrec.config import TrainConfig
from objrec.distributed import SINGLE
from objrec.engine import EarlyStopping, FitState, Stopping, evaluate_loss, fit
from objrec.finetune import warmup_cosine
from objrec.model import HeadEnsemble, build_head
from objrec.precision import settle_head_precision, settle_precision
from objrec.progress import SILENT
from objrec.train import (
    Prepared,
    head_optimizer,
    prepare,
    seed_everything,
    training_loss,
)

FASTER = 0.8
"""A variant is clearly faster when its median fit takes under this share of today's."""

FOLD_TOLERANCE = 1e-4
"""A PCA variant's folded head must give the fitted head's logits within this (absolute)."""

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Variant:
    name: str
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5
    cosine_epochs: int = 0
    """0: a constant learning rate; N: cosine decay to zero over N epochs (at most N epochs)."""
    head_precision: str = "fp32"
    """``bf16``: the training forward under bfloat16 autocast (``batches.trains_in``), as
    ``head_precision="auto"`` trains on a CPU with AMX or AVX-512 BF16."""
    pca: int = 0
    """0: the features as they are; k: the head fitted on their top k principal components, its
    first layer folded back onto the features afterwards."""
    min_delta: float = 0.0
    """How much an epoch must lower the best validation loss by to count (``--min-delta``)."""
    rel_delta: float = 0.0
    """An epoch counts only when it also lowers the best validation loss by more than this share
    of it (:class:`RelativeStopping`; a candidate rule, not objrec's)."""


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
    Variant("bf16, PCA to 512 dims, folded", head_precision="bf16", pca=512),
    Variant("bf16, PCA to 768 dims, folded", head_precision="bf16", pca=768),
    Variant("bf16, PCA to 1024 dims, folded", head_precision="bf16", pca=1024),
    Variant(
        "bf16, PCA to all 3840 dims (a rotation only), folded", head_precision="bf16", pca=3840
    ),
    Variant("bf16, min-delta 0.001 (the demo's)", head_precision="bf16", min_delta=1e-3),
    Variant("bf16, improvement over 0.5% of the best", head_precision="bf16", rel_delta=0.005),
    Variant("bf16, improvement over 1% of the best", head_precision="bf16", rel_delta=0.01),
    Variant("bf16, improvement over 2% of the best", head_precision="bf16", rel_delta=0.02),
    Variant("bf16, min-delta 0.0005", head_precision="bf16", min_delta=5e-4),
]


@dataclass
class RelativeStopping(EarlyStopping):
    """Early stopping whose epoch counts as better only when it lowers the best value by more than
    ``min_delta`` and by more than ``rel_delta`` times the best value (a candidate stopping rule,
    measured against ``--min-delta`` in benchmarks/README.md, "The stopping rule")."""

    rel_delta: float = 0.0

    def step(self, value: float, epoch: int) -> bool:
        best: float = self.best
        needed = max(self.min_delta, self.rel_delta * best) if best < math.inf else 0.0
        return super().step(value if value < best - needed else max(value, best), epoch)


def variant_state(variant: Variant, config: TrainConfig, head: nn.Module) -> FitState | None:
    """A new fit's state with :class:`RelativeStopping` for a variant with ``rel_delta``; else
    None (``fit`` makes its own, with ``--min-delta``)."""
    if not variant.rel_delta:
        return None
    stopper = RelativeStopping(config.patience, config.min_delta, rel_delta=variant.rel_delta)
    return FitState(stopper=stopper, best_state=copy.deepcopy(head.state_dict()))


@dataclass
class Fit:
    loss: float
    best_epoch: int
    epochs: int
    seconds: float
    steps: int
    acc: float
    pca_seconds: float = 0.0
    """A PCA variant's: the split's PCA (once a split here; each fit would pay it)."""
    project_seconds: float = 0.0
    """A PCA variant's: projecting the training and validation features onto the k components."""
    fold_seconds: float = 0.0
    """A PCA variant's: folding the projection into the first layer."""
    fold_error: float = 0.0
    """The largest absolute difference between the folded head's logits and the fitted head's."""
    fold_loss: float = 0.0
    """The folded head's validation loss on the features, minus the fit's best."""
    fp32_loss: float = math.nan
    """The kept head's validation loss scored in float32 by the unwrapped head, whatever the
    precision ``fit``'s own validation pass ran in (a bf16 head's is in bf16)."""

    @property
    def extra_seconds(self) -> float:
        """What a PCA variant adds to the fit's own clock."""
        return self.pca_seconds + self.project_seconds + self.fold_seconds


@dataclass(frozen=True)
class Basis:
    """The training features' mean and principal components (columns, by descending variance),
    float64, and the seconds the covariance and its eigensolve took."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor
    seconds: float

    def project(self, features: torch.Tensor, k: int) -> torch.Tensor:
        """(..., features) -> (..., k) float32: centred on the mean, onto the top k components."""
        return (features.float() - self.mean.float()) @ self.components[:, :k].float()

    def kept(self, k: int) -> float:
        """The share of the training features' variance the top k components keep."""
        return float(self.variances[:k].sum() / self.variances.sum())


def principal_components(views: torch.Tensor) -> Basis:
    """PCA of every row of the (views, images, features) training stack: the covariance around
    their mean and its full eigensolve, in float64."""
    start = time.perf_counter()
    x = views.flatten(0, 1).double()
    mean = x.mean(0)
    x -= mean
    variances, vectors = torch.linalg.eigh(x.t() @ x / len(x))
    return Basis(mean, vectors.flip(1), variances.flip(0), time.perf_counter() - start)


def float32_pca_seconds(views: torch.Tensor) -> float:
    """Seconds of the same PCA in float32 (timed only, never fitted on)."""
    start = time.perf_counter()
    x = views.flatten(0, 1).float()
    x -= x.mean(0)
    torch.linalg.eigh(x.t() @ x / len(x))
    return time.perf_counter() - start


def lowrank_pca_seconds(views: torch.Tensor, k: int) -> float:
    """Seconds of ``torch.svd_lowrank`` for the top k components, 2 power iterations (timed
    only, never fitted on)."""
    start = time.perf_counter()
    x = views.flatten(0, 1).float()
    torch.svd_lowrank(x, q=k, niter=2, M=x.mean(0, keepdim=True))
    return time.perf_counter() - start


def held_views(stack: ViewStack) -> torch.Tensor:
    """The stack's (views, images, features) held in memory, as stored."""
    if stack.in_memory is None:
        raise SystemExit("head_steps.py: the PCA variants need the features held in memory")
    return stack.in_memory


def tensor_batches(x: torch.Tensor, y: torch.Tensor, size: int) -> Iterator[Batch]:
    for start in range(0, len(y), size):
        yield x[start : start + size], y[start : start + size]


@dataclass
class Inputs:
    """What a variant's head is fitted on: the training views, the validation batches, their
    width, and (a PCA variant) the seconds the projection took."""

    train: ViewStack | torch.Tensor
    valid: Callable[[], Iterator[Batch]]
    width: int
    seconds: float = 0.0


def fit_inputs(prep: Prepared, variant: Variant, basis: Basis | None, width: int) -> Inputs:
    """The features themselves (``width`` of them, the body's), or (a PCA variant) their
    projection onto the top components."""
    if not variant.pca:
        return Inputs(prep.train, lambda: prep.valid.batches(1024), width)
    assert basis is not None
    start = time.perf_counter()
    train = basis.project(held_views(prep.train), variant.pca)
    valid = basis.project(held_views(prep.valid)[0], variant.pca)
    seconds = time.perf_counter() - start
    labels = prep.valid.labels
    return Inputs(train, lambda: tensor_batches(valid, labels, 1024), variant.pca, seconds)


def folded(head: HeadEnsemble, basis: Basis, k: int) -> HeadEnsemble:
    """``head``, fitted on ``basis.project(x, k)``, as an ordinary head on the features ``x``:
    its first layer ``W`` becomes ``W P^T`` and its bias ``b - W P^T mean`` (float64, then
    float32 as the head keeps them)."""
    full = copy.deepcopy(head)
    weight = head.hidden_weight.detach().double() @ basis.components[:, :k].t()
    bias = head.hidden_bias.detach().double() - weight @ basis.mean
    full.hidden_weight = nn.Parameter(weight.float())
    full.hidden_bias = nn.Parameter(bias.float())
    return full


def check_fold(
    result: Fit, head: HeadEnsemble, prep: Prepared, basis: Basis, inputs: Inputs
) -> None:
    """Fold ``head`` (timed), then compare the folded head with it on the validation features:
    every member's logits, and the validation loss against the fit's best; ``result`` gets the
    seconds of the PCA, the projection and the fold, and the comparison."""
    k = inputs.width
    result.pca_seconds, result.project_seconds = basis.seconds, inputs.seconds
    start = time.perf_counter()
    full = folded(head, basis, k)
    result.fold_seconds = time.perf_counter() - start
    x, y = held_views(prep.valid)[0].float(), prep.valid.labels
    head.eval()
    full.eval()
    with torch.no_grad():
        error = full.member_logits(x) - head.member_logits(basis.project(x, k))
    result.fold_error = float(error.abs().max())
    result.fold_loss = evaluate_loss(full, tensor_batches(x, y, 1024))["loss"] - result.loss


def fit_variant(
    prep: Prepared,
    config: TrainConfig,
    variant: Variant,
    seed: int,
    width: int,
    basis: Basis | None = None,
) -> Fit:
    """The default head fitted with ``variant``'s settings and head seed ``seed`` on ``prep``'s
    features (``width`` of them, the body's); a PCA variant's on ``basis``'s top components, then
    folded back and checked."""
    config = replace(
        config,
        seed=seed,
        batch_size=variant.batch_size,
        lr=variant.lr,
        patience=variant.patience,
        head_precision=variant.head_precision,
        min_delta=variant.min_delta,
    )
    inputs = fit_inputs(prep, variant, basis, width)
    seed_everything(seed)  # as train.prepare builds the head
    head = build_head(inputs.width, len(prep.classes), config.hidden, config.dropout, config.heads)
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
            inputs.train, prep.train_y, config.batch_size, config.seed * 100_003 + epoch
        ),
        inputs.valid,
        optimizer,
        Stopping(epochs, config.patience, min_delta=config.min_delta),
        state=variant_state(variant, config, head),
        loss_fn=training_loss(config, prep.train_y, len(prep.classes)),
        scheduler=scheduler,
    )
    seconds = time.perf_counter() - start
    best = state.history[state.best_epoch - 1]
    result = Fit(
        state.best_valid_loss,
        state.best_epoch,
        state.epoch,
        seconds,
        state.epoch * steps_per_epoch,
        best["valid_acc"],
    )
    result.fp32_loss = evaluate_loss(head, inputs.valid())["loss"]
    if variant.pca:
        assert basis is not None and isinstance(head, HeadEnsemble)
        check_fold(result, head, prep, basis, inputs)
    return result


def row(split: str, variant: Variant, fits: list[Fit]) -> str:
    losses = ", ".join(f"{f.loss:.4f}" for f in fits)
    median = statistics.median(f.loss for f in fits)
    best = ", ".join(str(f.best_epoch) for f in fits)
    ran = ", ".join(str(f.epochs) for f in fits)
    seconds = statistics.median(f.seconds for f in fits)
    steps = statistics.median(f.steps for f in fits)
    acc = statistics.median(f.acc for f in fits)
    fp32 = ", ".join(f"{f.fp32_loss:.4f}" for f in fits)
    return (
        f"| {split} | {variant.name} | {losses} | {median:.4f} | {best} | {ran} | "
        f"{seconds:.1f} | {steps:.0f} | {acc:.2%} | {fp32} |"
    )


def split_note(base: list[Fit], fits: list[Fit], split: str) -> tuple[bool, str]:
    """One split's part of the rule: within the baseline's head-seed spread, clearly faster
    (and a PCA variant's fold holding); and what was measured, with its PCA counted too."""
    spread = max(f.loss for f in base) - min(f.loss for f in base)
    excess = statistics.median(f.loss for f in fits) - statistics.median(f.loss for f in base)
    today = statistics.median(f.seconds for f in base)
    ratio = statistics.median(f.seconds for f in fits) / today
    ok = excess <= spread and ratio < FASTER
    note = f"{split}: {excess:+.4f} vs spread {spread:.4f}, fit x{ratio:.2f}"
    if any(f.extra_seconds for f in fits):
        total = statistics.median(f.seconds + f.extra_seconds for f in fits) / today
        error = max(f.fold_error for f in fits)
        note += f" (x{total:.2f} with the PCA, projection and fold), fold within {error:.1e}"
        ok = ok and error <= FOLD_TOLERANCE
    return ok, note


def verdicts(results: dict[str, dict[str, list[Fit]]], baseline: Variant) -> list[str]:
    """The rule, per variant: within the baseline's head-seed spread on every split, and faster."""
    lines = []
    ran = {name for by_variant in results.values() for name in by_variant}
    for variant in (v for v in VARIANTS if v.name in ran and v != baseline):
        checks = [
            split_note(by_variant[baseline.name], by_variant[variant.name], split)
            for split, by_variant in results.items()
        ]
        verdict = "qualifies" if all(ok for ok, _ in checks) else "does not qualify"
        lines.append(f"* {variant.name}: {verdict} ({'; '.join(note for _, note in checks)})")
    return lines


def pca_rows(split: str, prep: Prepared, basis: Basis, fits: dict[int, list[Fit]]) -> list[str]:
    """Per k: the variance kept, the PCA's seconds three ways, the projection's, the fold's, and
    how closely the folded head gives the fitted one's logits and validation loss."""
    views = held_views(prep.train)
    single = float32_pca_seconds(views)
    rows = []
    for k, by_seed in fits.items():
        lowrank = lowrank_pca_seconds(views, k) if k < views.shape[-1] else math.nan
        project = statistics.median(f.project_seconds for f in by_seed)
        fold = statistics.median(f.fold_seconds for f in by_seed)
        error = max(f.fold_error for f in by_seed)
        loss = max(abs(f.fold_loss) for f in by_seed)
        rows.append(
            f"| {split} | {k} | {basis.kept(k):.1%} | {basis.seconds:.2f} | {single:.2f} | "
            f"{lowrank:.2f} | {project:.2f} | {fold:.2f} | {error:.1e} | {loss:.1e} |"
        )
    return rows


def print_pca_table(rows: list[str]) -> None:
    print()
    print(
        "| split | k | variance kept | PCA s (float64, fitted on) | PCA s (float32) | "
        "svd_lowrank s | projection s (median) | fold s (median) | fold: max abs logit "
        "difference | fold: max abs valid loss difference |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


def print_settings(seeds: list[int]) -> TrainConfig:
    """The settled precisions, the seeds and the main table's header; the settled config."""
    config, precision = settle_precision(TrainConfig(), SINGLE)
    head = settle_head_precision(config, SINGLE)[1]  # each variant sets its own
    print(f"frozen body in {precision.used} ({precision.why}); head seeds {seeds}")
    print(f"auto would train the head in {head.used} ({head.why})")
    print(
        "| split | variant | best valid loss per head seed | median | best epochs | epochs run | "
        "fit s (median) | Adam steps (median) | valid acc at best (median) | "
        "kept head's valid loss in fp32 per head seed |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    return config


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
        "--variants", type=int, nargs="*", help="indices into VARIANTS (the baseline always runs)"
    )
    parser.add_argument(
        "--baseline",
        type=int,
        default=0,
        help="index into VARIANTS of the recipe the rule compares with (0: today's in fp32; "
        "14: today's in bf16, what train fits on a CPU with AMX or AVX-512 BF16)",
    )
    args = parser.parse_args()
    baseline = VARIANTS[args.baseline]
    chosen = [baseline, *(VARIANTS[i] for i in sorted(set(args.variants or range(len(VARIANTS)))))]
    chosen = list(dict.fromkeys(chosen))
    config = print_settings(args.seeds)
    results: dict[str, dict[str, list[Fit]]] = {}
    pca_table: list[str] = []
    for data_dir in args.splits:
        prep, live = prepare(data_dir, config, SILENT)
        width = live.model.body.n_features
        computed = prep.frozen_pass.computed if prep.frozen_pass is not None else 0
        basis = None
        if any(v.pca for v in chosen):
            basis = principal_components(held_views(prep.train))
        results[data_dir.name] = {}
        for variant in chosen:
            fits = [fit_variant(prep, config, variant, seed, width, basis) for seed in args.seeds]
            results[data_dir.name][variant.name] = fits
            print(row(data_dir.name, variant, fits), flush=True)
        print(f"<!-- {data_dir}: {computed} image views computed -->", flush=True)
        if basis is not None:
            pca_fits = {v.pca: results[data_dir.name][v.name] for v in chosen if v.pca}
            pca_table += pca_rows(data_dir.name, prep, basis, pca_fits)
    if pca_table:
        print_pca_table(pca_table)
    print()
    print("\n".join(verdicts(results, baseline)))


if __name__ == "__main__":
    main()

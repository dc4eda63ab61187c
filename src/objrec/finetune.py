"""Fine-tuning the last blocks of the body, on cached activations at the cut.

After the head has converged on the frozen body, ``--finetune-blocks N`` unfreezes the last N blocks
of an EfficientNet-Lite body (and its final 1x1 convolution), or of each body of an ensemble of
them. The body below the cut stays frozen, so its output, like the features before, is computed
once per image view and cached; each fine-tuning epoch then runs only the top of the network, a
few percent of the whole on a CPU.

Choices: the unfrozen blocks learn at ``finetune_lr`` and the head at ten times that (discriminative
learning rates), with a one-epoch linear warm-up and a cosine decay, both decayed by AdamW's fixed
``FINETUNE_WEIGHT_DECAY`` (1e-4, not the head's fit's ``weight_decay``); BatchNorm keeps its
ImageNet running statistics by default (the unfrozen layers' BatchNorms stay in eval mode), or
updates them from the training batches with ``finetune_batchnorm="train"`` (both measured in
benchmarks/README.md).

The phase in ``train`` (``train.finetune_phase`` cuts the body and stores the activations at
the cut): the epochs (:func:`tune_blocks`), kept only when they lower the head's best validation
loss (:func:`unless_below_the_head`), what fine-tuning did and says (:class:`FinetuneRecord`,
:func:`finetune_record`, :func:`finetune_outcome`), the body a kept fine-tuning leaves the run
(:func:`body_kept`).
"""

from __future__ import annotations

import copy
import functools
import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from objrec import cores
from objrec.backbones import get_backbone
from objrec.batches import ViewStack, feature_batches
from objrec.bodies import Body, ConcatBody, LiteBody, body_key, fingerprint_module
from objrec.config import TrainConfig
from objrec.distributed import World, epoch_seed
from objrec.engine import (
    Diverged,
    EarlyStopping,
    FitState,
    Stopping,
    diverged,
    evaluate_loss,
    fit,
    seed_everything,
    training_loss,
)
from objrec.errors import ObjrecError
from objrec.features import derived_rows
from objrec.frozen import FrozenBody
from objrec.int8_body import QuantizedBody
from objrec.meta import RunMeta
from objrec.model import Classifier
from objrec.precision import Settled
from objrec.prepared import Prepared, RunContext
from objrec.progress import Reporter
from objrec.resume_state import FinetuneSaver
from objrec.runtime import Runner, onnx_runner, onnxruntime_available
from objrec.store import Space
from objrec.words import plural

log = logging.getLogger(__name__)


NOT_LITE = "`finetune_blocks` works with the EfficientNet-Lite backbones and ensembles of them"


def require_blocks(backbone: str, n: int) -> None:
    """Refuse ``finetune_blocks`` ``n`` (above 0) that ``backbone``'s body cannot fine-tune, from
    its spec, before any work: no frozen pass or head's fit is spent, and no training state
    written, for a run that could never finish, nor any resume of it."""
    if n <= 0:
        return
    spec = get_backbone(backbone)
    if not spec.blocks:
        raise ObjrecError(f"{NOT_LITE}, not with {backbone}")
    if n > spec.blocks:
        body = "its smallest body has" if spec.source == "ensemble" else "it has"
        raise ObjrecError(
            f"`finetune_blocks` must be between 1 and {spec.blocks} for the backbone {backbone}: "
            f"{body} {spec.blocks} blocks"
        )


FINETUNE_IN_ONE_PROCESS = "`finetune_blocks` does not run under torchrun yet: train in one process"


def refuse_finetune_under_torchrun(blocks: int, world: World) -> None:
    """Fine-tuning (``blocks`` above 0) runs in one process only: under torchrun it is refused
    before any work, a resume too, so that no rank spends the frozen pass and the head's fit on a
    run that no torchrun could finish or resume."""
    if blocks and world.distributed:
        raise ObjrecError(FINETUNE_IN_ONE_PROCESS)


def _check(body: nn.Module, n: int) -> LiteBody:
    if not isinstance(body, LiteBody):
        raise ObjrecError(f"{NOT_LITE}, not with {type(body).__name__}")
    if not 1 <= n <= len(body.net._blocks):
        raise ObjrecError(f"`finetune_blocks` must be between 1 and {len(body.net._blocks)}")
    return body


def tuned_parameters(body: nn.Module, n: int) -> int:
    """How many parameters fine-tuning ``n`` blocks trains in ``body``: its top's, as
    :func:`split_body` cuts it (the last ``n`` blocks, the final convolution and its BatchNorm;
    each body's, for an ensemble; an int8 body's fp32 one, which is tuned), counted without the
    pass that cut makes; 0 for ``n`` 0."""
    if n <= 0:
        return 0
    if isinstance(body, QuantizedBody):
        body = body.float_body
    if isinstance(body, ConcatBody):
        return sum(tuned_parameters(part, n) for part in body.parts)
    net = _check(body, n).net
    modules = [*net._blocks[len(net._blocks) - n :], net._conv_head, net._bn1]
    return sum(p.numel() for module in modules for p in module.parameters())


class LiteStem(Body):
    """The frozen part: stem and all blocks before the cut; output flattened to (N, C*H*W)."""

    def __init__(self, body: LiteBody, cut: int, n_features: int):
        super().__init__()
        self.net, self.cut = body.net, cut
        self.n_features = n_features

    def extra_repr(self) -> str:
        return f"cut={self.cut}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[: self.cut]:
            x = block(x)
        return x.flatten(1)


class LiteTop(nn.Module):
    """The unfrozen part: the blocks from the cut, the final convolution, pooling."""

    def __init__(self, body: LiteBody, cut: int, shape: tuple[int, int, int]):
        super().__init__()
        self.blocks = nn.ModuleList(body.net._blocks[cut:])
        self.conv_head, self.bn, self.act = body.net._conv_head, body.net._bn1, body.net._swish
        self.pool, self.shape = body.pool, shape
        self.first, self.total = cut, len(body.net._blocks)
        self.drop_connect = body.net._global_params.drop_connect_rate or 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, *self.shape)
        for i, block in enumerate(self.blocks):
            x = block(x, drop_connect_rate=self.drop_connect * (self.first + i) / self.total)
        return self.pool(self.act(self.bn(self.conv_head(x)))).flatten(1)


class ConcatStem(Body):
    """The stems of an ensemble's bodies, their flattened outputs side by side."""

    def __init__(self, stems: list[Body]):
        super().__init__()
        self.stems = nn.ModuleList(stems)
        self.n_features = sum(s.n_features for s in stems)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([stem(x) for stem in self.stems], dim=1)


class ConcatTop(nn.Module):
    """The tops of an ensemble's bodies, each on its own stem's part of the input."""

    def __init__(self, tops: list[LiteTop | ConcatTop], sizes: list[int]):
        super().__init__()
        self.tops, self.sizes = nn.ModuleList(tops), sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.split(self.sizes, dim=1)
        return torch.cat([top(part) for top, part in zip(self.tops, parts, strict=True)], dim=1)


def split_body(body: nn.Module, n: int, input_size: int) -> tuple[Body, LiteTop | ConcatTop]:
    """The frozen stem and the trainable top of ``body``, cut ``n`` blocks from its end (from the
    end of each of its bodies, for an ensemble).

    ``top(stem(x))`` equals ``body(x)`` in eval mode; both share the body's modules.
    """
    if isinstance(body, ConcatBody):
        pairs = [split_body(part, n, input_size) for part in body.parts]
        stems = [stem for stem, _ in pairs]
        return ConcatStem(stems), ConcatTop(
            [top for _, top in pairs], [s.n_features for s in stems]
        )
    body = _check(body, n)
    cut = len(body.net._blocks) - n
    with torch.inference_mode():
        x = body.net._swish(
            body.net._bn0(body.net._conv_stem(torch.zeros(1, 3, input_size, input_size)))
        )
        for block in body.net._blocks[:cut]:
            x = block(x)
    stem = LiteStem(body, cut, x[0].numel()).eval()
    return stem, LiteTop(body, cut, (x.shape[1], x.shape[2], x.shape[3]))


class FromTheCut:
    """The pretrained body's rows made from fine-tuning's activations at the cut
    (``features.Derive``, :func:`features.derived_rows`): the stored rows of ``stem`` through the
    pretrained ``top`` in ONNX Runtime, as the frozen pass runs the whole body. A cold fine-tuned
    run so pushes each view through the frozen blocks once, where the body's pass and the cut's
    each did. They are the body's own features up to ONNX Runtime fusing operators across the
    cut: the same bits cut one block from the end (Lite0, the three-body default), whatever the
    batch and the threads; cut two or three blocks from it within 1.2e-6 (float16 rows one unit
    in the last place apart in about 0.2% of their values), a hundredth of
    ``runtime.TOLERANCE``, within which the store already takes eager PyTorch's rows for ONNX
    Runtime's (docs/feature-store.md), but kept in a space of their own, which a plain run never
    reads (``train_features.EXACT_CUT``). ``source``: the store's space of ``stem``'s rows. Its
    runner is made at its first use: a run whose body's rows are all stored exports nothing."""

    def __init__(self, source: str, top: nn.Module, stem: FrozenBody):
        self.source, self.top, self.stem = source, top, stem

    @functools.cached_property
    def runner(self) -> Runner | None:
        """The top in ONNX Runtime; None where it is not installed or cannot run the top, or where
        the stem ran in eager PyTorch: rows derived then would be the body's only within
        ``runtime.TOLERANCE``, so the body's pass computes them."""
        stem = self.stem
        if stem.backend_used == "torch" or not onnxruntime_available():
            return None
        path = stem.cache.onnx_path(graph_key(self.top), stem.input_size)
        shape = (stem.n_features,)
        try:
            return onnx_runner(self.top, path, stem.input_size, cores.cpu_threads(), shape)
        except Exception as exc:  # exporter and runtime raise many types; any means "not usable"
            log.info("the blocks above the cut do not run in ONNX Runtime (%s)", exc)
            return None

    def __call__(self, space: Space, view: str, digests: list[str]) -> list[str]:
        runner = self.runner
        if runner is None:
            return digests
        return derived_rows(space.store, self.source, runner, space, view, digests)


def graph_key(top: nn.Module) -> str:
    """What the top's ONNX graph is kept by in the cache folder: ``bodies.body_key``, as every
    graph of a body is. By the fingerprint alone, a code change to the blocks above the cut (an
    objrec or package upgrade) reused the graph of the old code, and the rows derived through it
    were stored under the new code's key."""
    return body_key(top)


def unfreeze(top: nn.Module) -> list[nn.Parameter]:
    """Make exactly the top's parameters trainable; its BatchNorms keep their running statistics."""
    top.requires_grad_(True)
    return list(top.parameters())


class FinetuneModel(nn.Module):
    """Top + head on cut activations; ``train()`` keeps the top's BatchNorm layers in eval mode
    (their ImageNet statistics) unless ``batchnorm="train"``, which lets batches update them."""

    def __init__(self, top: nn.Module, head: nn.Module, batchnorm: str = "frozen"):
        super().__init__()
        self.top, self.head = top, head
        self.batchnorm = batchnorm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.top(x))

    def train(self, mode: bool = True) -> FinetuneModel:
        super().train(mode)
        if self.batchnorm == "frozen":
            for module in self.top.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self


FINETUNE_WEIGHT_DECAY = 1e-4
"""Fine-tuning's weight decay (AdamW's, decoupled), for the tuned blocks and the head alike,
whatever ``weight_decay`` (the head's fit's, default 0) is: fine-tuning has always used it, and
what it learns with another has not been measured on validation."""


def optimizer_for(
    model: FinetuneModel, lr: float, weight_decay: float = FINETUNE_WEIGHT_DECAY
) -> torch.optim.AdamW:
    """Two parameter groups: the unfrozen blocks at ``lr``, the head at ten times ``lr``, both
    decayed by ``weight_decay``."""
    return torch.optim.AdamW(
        [
            {"params": list(model.top.parameters()), "lr": lr, "name": "body"},
            {"params": list(model.head.parameters()), "lr": 10 * lr, "name": "head"},
        ],
        weight_decay=weight_decay,
    )


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to each group's learning rate, then a cosine decay towards zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# ---------------------------------------------------------------- the phase in train


def body_to_tune(body: nn.Module) -> nn.Module:
    """The fp32 body fine-tuning trains: an int8 body's own fp32 body
    (``QuantizedBody.float_body``), or the body itself."""
    return body.float_body if isinstance(body, QuantizedBody) else body


def cut_parts(run: RunContext) -> tuple[nn.Module, tuple[ViewStack, ViewStack]]:
    """What fine-tuning trains on: the blocks above the cut (``run.live.top``) and the stored
    activations at the cut (``run.prep.cut``: the training views and the validation images);
    refused under torchrun, where the run has neither."""
    top, stacks = run.live.top, run.prep.cut
    if run.told.world.distributed or top is None or stacks is None:
        raise ObjrecError(FINETUNE_IN_ONE_PROCESS)
    return top, stacks


def tune_blocks(
    run: RunContext, head_state: FitState, saver: FinetuneSaver | None = None
) -> tuple[FitState, FinetuneRecord]:
    """Train the body's last blocks (above the cut: :func:`cut_parts`) and the head
    (``run.live.model``'s), from the head's own fit (``head_state``), on the stored activations at
    the cut; ``run.told``: where it is said, and the ranks; ``saver``: writes the training state
    after each epoch, and goes on from a resumed run's. Returns the fit and what fine-tuning did
    (:func:`finetune_record`); not kept, the blocks and the head are given back the weights they
    had."""
    (reporter, world), config, model = run.told, run.config, run.live.model
    top, (_, valid_stack) = cut_parts(run)
    unfreeze(top)
    tuned = FinetuneModel(top, model.head, config.finetune_batchnorm).to(world.device)
    untuned = saver.resumed_untuned if saver else None
    if untuned is None:  # one validation pass: the untuned model as fine-tuning's epochs run it
        with torch.no_grad():
            untuned = evaluate_loss(tuned, valid_stack.batches(256))["loss"]
    start = finetune_start(head_state, tuned, config, untuned)
    reporter.note(finetune_begins(config, head_state, saver))
    untouched = start.best_state  # ``fit`` replaces the state's copy as epochs improve on it
    state = finetune_fit(run, tuned, start, saver)
    state = unless_below_the_head(state, head_state, tuned, untouched)
    model.cpu().freeze_body()
    return state, finetune_told(head_state, state, config, reporter, untuned)


def finetune_begins(config: TrainConfig, head_state: FitState, saver: FinetuneSaver | None) -> str:
    """What fine-tuning's first line says: its blocks, that it starts from the head's best epoch
    (the weights ``finetune_start`` takes), its epochs at most, numbered on after the head's last
    (``head_state.epoch``, which can be later than its best), and, resumed, the epoch it goes on
    after (``saver``'s resumed state)."""
    said = (
        f"fine-tuning the body's {last_blocks(config.finetune_blocks)} with the head "
        f"from the head's best epoch ({head_state.best_epoch}): at most "
        f"{plural(config.finetune_epochs, 'epoch')}, numbered from {head_state.epoch + 1}"
    )
    resumed = saver.resumed.progress.finetune if saver and saver.resumed else None
    return f"{said}; resumed after epoch {resumed.epoch}" if resumed else said


def last_blocks(n: int) -> str:
    """``last block``, ``last 2 blocks``: the blocks fine-tuning adjusts, in words."""
    return "last block" if n == 1 else f"last {n} blocks"


def finetune_fit(
    run: RunContext, model: FinetuneModel, start: FitState, saver: FinetuneSaver | None = None
) -> FitState:
    """Fine-tuning's epochs (``engine.fit``) of ``model`` from ``start``, on ``run``'s cut
    activations (:func:`cut_parts`: training and validation) of its classes' images; ``saver``
    writes the training state after each epoch, and restores a resumed run's first (its weights,
    optimizer, schedule, early stopping and RNG), so that it ends as it would have
    uninterrupted."""
    (reporter, world), config, n_classes = run.told, run.config, len(run.prep.classes)
    train_x, valid_stack = cut_parts(run)[1]
    train_y = train_x.labels
    optimizer = optimizer_for(model, config.finetune_lr)
    steps = -(-len(train_y) // config.batch_size)
    scheduler = warmup_cosine(optimizer, steps, steps * config.finetune_epochs)
    seed_everything(config.seed)
    limit = ("finetune_epochs", config.finetune_epochs)  # named if it stops the fit
    stopping = Stopping(
        start.epoch + config.finetune_epochs, config.patience, config.min_delta, limit
    )
    if saver is not None:
        untuned = start.stopper.reference  # where ``finetune_start`` began early stopping
        start = saver.attach((model, optimizer, scheduler), start, untuned)
    with finetune_divergence(config):
        return fit(
            model,
            lambda epoch: feature_batches(
                train_x, train_y, config.batch_size, epoch_seed(config.seed, epoch)
            ),
            lambda: valid_stack.batches(256),
            optimizer,
            stopping,
            steps_per_epoch=steps,
            reporter=reporter,
            loss_fn=training_loss(config, train_y, n_classes).to(world.device),
            scheduler=scheduler,
            state=start,
            on_epoch_end=saver,
        )


def finetune_told(
    head_state: FitState,
    state: FitState,
    config: TrainConfig,
    reporter: Reporter,
    untuned: float | None = None,
) -> FinetuneRecord:
    """What fine-tuning did (:func:`finetune_record`), said: a note when its weights are kept, a
    warning (which --json's ``warnings`` carries too) when not; every history row names its
    phase, since an empty cell reads as missing."""
    for record in state.history:
        record["phase"] = "finetune" if record["epoch"] > head_state.epoch else "head"
    outcome = finetune_record(head_state, state, config.finetune_blocks, untuned)
    said = finetune_outcome(outcome, config.min_delta)
    if outcome.kept:
        reporter.note(said)
    else:
        log.warning("%s", said)
    return outcome


def finetune_start(
    head_state: FitState, model: nn.Module, config: TrainConfig, untuned: float | None = None
) -> FitState:
    """Where fine-tuning starts: after the head's epochs, from the loss of the ``untuned`` model
    as its epochs run it (the fp32 body and head: an int8 body's run, or a bf16 head's, measured
    the head's best otherwise), so that its epochs, and its patience, judge its own progress;
    without it, from the head's best (lowest) loss. Its epochs are marked best only below the
    head's best by more than ``min_delta`` (``FitState.to_beat``), as only those can be kept: the
    table's last mark is the kept epoch."""
    stopper = EarlyStopping(config.patience)
    stopper.load_state_dict({**head_state.stopper.state_dict(), "bad_epochs": 0})
    stopper.start_from(head_state.best_valid_loss if untuned is None else untuned)
    history, best = list(head_state.history), copy.deepcopy(model.state_dict())
    return FitState(
        stopper,
        epoch=head_state.epoch,
        history=history,
        best_state=best,
        began_from=head_state.epoch,
        to_beat=head_state.best_valid_loss,
    )


def unless_below_the_head(
    state: FitState, head_state: FitState, model: nn.Module, untouched: dict[str, torch.Tensor]
) -> FitState:
    """``state``, or, when fine-tuning's lowest loss did not lower the head's by more than
    ``min_delta``, the head's: ``model`` given back its ``untouched`` weights (the run keeps the
    network as it was, and its head). Fine-tuning improved on its own start, an untuned model that
    scored worse than the head's (an fp32 body against the int8 one it trained on), without
    beating the model it would replace."""
    if improved_on_the_head(state, head_state):
        return state
    model.load_state_dict(untouched)  # fit's best: these, or an epoch short of the head's loss
    state.stopper.load_state_dict(head_state.stopper.state_dict())
    state.best_state = untouched  # none of its epochs was marked best (``finetune_start``)
    return state


def improved_on_the_head(state: FitState, head_state: FitState) -> bool:
    """Fine-tuning's lowest loss is below the head's lowest by more than ``min_delta``: a gain
    that small is not worth a body in fp32 (slower than an int8 one), nor is it clear of the two
    bodies' own difference in loss."""
    tuned = state.best_epoch > head_state.epoch
    return tuned and state.best_valid_loss < head_state.best_valid_loss - state.stopper.min_delta


@contextmanager
def finetune_divergence(config: TrainConfig) -> Iterator[None]:
    """A diverged fine-tuning (``engine.Diverged``) as one error that names ``finetune_lr``: the
    head's own training state stays in the run folder, as after Ctrl-C while fine-tuning."""
    try:
        yield
    except Diverged as stop:
        kept = " while fine-tuning (the head's training state is kept)"
        raise diverged(stop, "finetune_lr", config.finetune_lr, kept) from None


@dataclass(frozen=True, kw_only=True)
class FinetuneRecord:
    """What fine-tuning did (:func:`finetune_record`): read by attribute, written in the run's
    ``summary.json`` as ``finetune`` (:meth:`to_json`, docs/json.md) and read back from it
    (:meth:`from_json`, the report)."""

    blocks: int
    """The body's last blocks tuned (``finetune_blocks``)."""
    epochs_run: int
    """Fine-tuning's own epochs."""
    kept: bool
    """The run keeps the fine-tuned model: it lowered the head's best (lowest) validation loss by
    more than ``min_delta``; False: the pretrained network as it was, and its head."""
    best_valid_loss_before: float
    """The head's best validation loss, before fine-tuning."""
    best_valid_loss_after: float
    """The lowest of fine-tuning's own epochs (NaN: none ran): the kept model's, when kept."""
    best_epoch_before: int
    """The head's best epoch."""
    valid_loss_untuned: float | None = None
    """The untuned model's loss as fine-tuning's epochs run it (the fp32 body and head), where
    they start from; None: not measured (a summary written before it was)."""
    seconds: float | None = None
    """Fine-tuning's time, its epochs (part of the run's ``seconds.fit``, which the heads' fit
    alone did not take); None: not measured."""
    below_seconds: float | None = None
    """The pass computing (or reading) the features below the tuned blocks, which ``train`` runs
    before the body's own, to make them from it (part of the run's ``seconds.features``)."""

    def to_json(self) -> dict[str, Any]:
        """As ``summary.json`` holds it: each field by its name, in this order, those not
        measured (None) left out."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> FinetuneRecord:
        """The record a summary holds (:meth:`to_json`), that of an earlier objrec too (without
        ``valid_loss_untuned``); keys it does not know are left out."""
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})


def finetune_record(
    head_state: FitState, state: FitState, blocks: int, untuned: float | None = None
) -> FinetuneRecord:
    """What fine-tuning did: the ``blocks`` tuned, its epochs, whether the run keeps the
    fine-tuned model (it lowered the head's best validation loss by more than ``min_delta``), the
    best loss before it, the ``untuned`` model's its epochs start from (when
    measured) and the lowest of its own epochs."""
    tuned = [r["valid_loss"] for r in state.history if r["epoch"] > head_state.epoch]
    return FinetuneRecord(
        blocks=blocks,
        epochs_run=len(tuned),
        kept=state.best_epoch > head_state.epoch,
        best_valid_loss_before=head_state.stopper.best,
        best_valid_loss_after=min(tuned, default=math.nan),
        best_epoch_before=head_state.best_epoch,
        valid_loss_untuned=untuned,
    )


def finetune_outcome(outcome: FinetuneRecord, min_delta: float = 0.0) -> str:
    """Whether fine-tuning lowered the best validation loss (by more than ``min_delta``), so
    which model the run keeps (``outcome``: :func:`finetune_record`), the lowest of its epochs
    when kept. The untuned model's loss, where it reads otherwise than the head's best (an int8
    body, a bf16 head), is said too: the epochs started from it."""
    before, after = outcome.best_valid_loss_before, outcome.best_valid_loss_after
    untuned = outcome.valid_loss_untuned
    start = "" if untuned is None or f"{untuned:.4f}" == f"{before:.4f}" else f"{untuned:.4f}"
    if outcome.kept:
        started = f" (its epochs started from {start}: the untuned network in fp32)" * bool(start)
        return (
            f"fine-tuning lowered the best valid loss from {before:.4f} to {after:.4f}{started}: "
            "the run keeps the fine-tuned blocks"
        )
    by = f" by more than {min_delta:g}" if min_delta else ""
    started = f", from {start} untuned in fp32" if start else ""
    return (
        f"fine-tuning did not lower the best valid loss ({before:.4f}, the head's epoch "
        f"{outcome.best_epoch_before}){by} in its {plural(outcome.epochs_run, 'epoch')} "
        f"(its lowest: {after:.4f}{started}): the run keeps the pretrained network as it was, "
        "and its head"
    )


def body_kept(
    prep: Prepared,
    model: Classifier,
    config: TrainConfig,
    meta: RunMeta,
    finetune: FinetuneRecord,
) -> tuple[Prepared, TrainConfig, RunMeta]:
    """The run's body, precision and settings once fine-tuning is done (``finetune``: its record):
    the run's ``model`` given the body it goes on with, ``prep`` as the run records it (a new one
    where its precision changes), the config and the metadata. Kept, the
    run records float32 features (``feature_dtype``): its tuned blocks and head were trained and
    are calibrated on the top's unrounded output, so every command answers on those, not on
    float16-rounded ones no fit saw; the fp32 body it tuned becomes the run's in place of an
    int8 one (whose graph holds the untuned weights), recorded as fp32 with why; and the run's
    ``body_fingerprint`` (its provenance's too) is the tuned body's, the one the model file holds
    and answers with, not the pretrained or int8 body's it named. Not kept, the run stays as it
    would be without fine-tuning, its int8 body, precision and stored features included."""
    if not finetune.kept:
        return prep, config, meta
    config = replace(config, feature_dtype="float32")
    body = model.body
    if isinstance(body, QuantizedBody):
        # In place, as the run's model is one module from the head's fit to the file written: its
        # head trained in place, the tuned blocks are this float body's own, and a stop after this
        # (train_stops.BlocksBefore) puts the int8 body back on it to write the
        # run as of the head's end, as it puts back the blocks' weights.
        model.body = body.float_body
        config = replace(config, precision="fp32")
        if prep.precision is not None:
            fp32 = Settled("fp32", "fine-tuning was kept: its tuned blocks run in fp32")
            prep = replace(prep, precision=replace(prep.precision, body=fp32, engine=None))
    tuned = fingerprint_module(model.body)
    params = meta.params and replace(
        meta.params, trainable=meta.params.trainable + tuned_parameters(model.body, finetune.blocks)
    )
    return (
        prep,
        config,
        replace(
            meta, train_config=config, body_fingerprint=tuned, float_fingerprint=None, params=params
        ),
    )

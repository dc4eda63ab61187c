"""The training loop as plain functions: an epoch, a validation pass, and early-stopping ``fit``."""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from objrec.config import TrainConfig
from objrec.distributed import SINGLE, World
from objrec.errors import ObjrecError, stops_held
from objrec.fit_end import FitEnd, limit_said, stop_line
from objrec.metrics import answered
from objrec.model import mean_log_probs
from objrec.progress import SILENT, Reporter
from objrec.words import duration

log = logging.getLogger(__name__)
"""Each epoch's summary and why the fit stopped, at INFO, for a Python caller's logging (the
CLI shows them through its reporter instead, and its log handler leaves these out)."""

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class EarlyStopping:
    """Stop when the monitored value has not improved for ``patience`` epochs, and note its lowest.

    An epoch improves when it lowers the ``reference``, the value of the last epoch that
    improved, by more than ``min_delta``; with 0, any drop counts, so a loss creeping down by
    0.00001 an epoch never stops. ``min_delta`` decides when to stop, not which epoch is best:
    ``best`` and ``best_epoch`` are the lowest value and its epoch, lower by however little (on
    held-out validation halves the lowest epoch's head was never worse than the last improving
    one's: benchmarks/README.md, "The stopping rule").
    """

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    reference: float = math.inf

    def step(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; True when training should stop."""
        if value < self.best:
            self.best, self.best_epoch = value, epoch
        if value < self.reference - self.min_delta:
            self.reference, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def start_from(self, value: float) -> None:
        """Judge the epochs to come from ``value`` (fine-tuning's: the untuned model's loss), as
        the lowest and the reference alike, keeping ``best_epoch``."""
        self.best = self.reference = value

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "min_delta": self.min_delta,
            "reference": self.reference,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A state :meth:`state_dict` gave; one an earlier objrec saved has no ``reference``: its
        ``best`` was both, the epoch kept being the last that improved."""
        self.best, self.best_epoch, self.bad_epochs = (
            state["best"],
            state["best_epoch"],
            state["bad_epochs"],
        )
        self.min_delta = state.get("min_delta", 0.0)
        self.reference = state.get("reference", self.best)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters are (the CPU for a model without any)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def on_device(batches: Batches, device: torch.device) -> Iterator[tuple[torch.Tensor, ...]]:
    """``batches`` copied to ``device`` (nothing is copied on the CPU)."""
    for x, y in batches:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def model_batches(model: nn.Module, batches: Batches) -> Iterator[tuple[torch.Tensor, ...]]:
    """``batches`` on ``model``'s device, less the empty ones (none of their images readable)."""
    return ((x, y) for x, y in on_device(batches, model_device(model)) if len(y))


class Diverged(ObjrecError):
    """An epoch's loss that is not a finite number: training diverged (a learning rate too high,
    most often), and every later epoch would carry the NaN on. ``setting``: the learning rate to
    lower, as the API names it."""

    def __init__(self, epoch: int, which: str, loss: float, setting: str = "lr"):
        self.epoch, self.which, self.loss = epoch, which, loss
        self.value = "NaN" if math.isnan(loss) else "infinite"
        super().__init__(
            f"the {which} loss is {self.value} at epoch {epoch}: training diverged; start it "
            f"again with a lower `{setting}`"
        )


def require_finite(epoch: int, train: dict[str, float], valid: dict[str, float]) -> None:
    """Raise :class:`Diverged` when epoch ``epoch``'s training or validation loss is NaN or
    infinite."""
    for which, metrics in (("training", train), ("validation", valid)):
        if not math.isfinite(metrics["loss"]):
            raise Diverged(epoch, which, metrics["loss"])


@dataclass
class Tally:
    """The loss and accuracy of one pass over batches, summed as they come."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    counted: int | None = None
    """How many images, the first ones, count (None: all): under torchrun those after them are a
    DistributedSampler's padding (``batches.sampled_images``)."""

    def add(self, loss: float, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One batch: its summed loss, its outputs and labels."""
        self.loss += loss
        self.correct += int((answered(logits.detach()) == y).sum())
        self.seen += len(y)

    def add_trained(
        self, measured: torch.Tensor | None, logits: torch.Tensor, y: torch.Tensor
    ) -> None:
        """One training batch, its mean cross-entropy ``measured`` (None: measured here from
        ``logits``): the rows that count (:attr:`counted`), whose loss is measured again when the
        batch ends with padding."""
        kept = len(y) if self.counted is None else max(0, min(len(y), self.counted - self.seen))
        if kept < len(y):  # padding, trained on as DDP does: the images it repeats count once
            if not kept:
                return
            logits, y, measured = logits[:kept], y[:kept], None
        if measured is None:
            with torch.no_grad():
                measured = F.cross_entropy(logits.detach(), y)
        self.add(measured.item() * kept, logits, y)

    def means(self) -> dict[str, float]:
        """Mean loss and accuracy, and how many images (``n``)."""
        n = max(self.seen, 1)
        return {"loss": self.loss / n, "acc": self.correct / n, "n": self.seen}


def train_one_epoch(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    advance: Callable[[int], None] = lambda n: None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    counted: int | None = None,
) -> dict[str, float]:
    """One pass over ``batches``; returns the mean loss and accuracy seen while training.

    ``loss_fn`` may smooth labels or weight classes; ``scheduler`` is stepped after every batch.
    The batches are moved to the model's device. The loss returned is plain cross-entropy
    whatever ``loss_fn`` trains on, the one :func:`evaluate_loss` measures, so that history.csv
    and curves.png compare like with like. A ``HeadEnsemble``'s members each train on their own
    loss, but the loss and accuracy returned are those of their averaged prediction (the mean of
    the members' losses is higher). ``counted``: how many of the epoch's images, the first ones,
    the loss, accuracy and ``n`` returned count (None: all); every image trains.
    """
    model.train()
    tally = Tally(counted=counted)
    plain = is_plain_cross_entropy(loss_fn)
    for x, y in model_batches(model, batches):
        logits = model(x)
        if logits.dim() == 3:  # a HeadEnsemble: each member's own loss, scored as the ensemble
            loss = members_loss(loss_fn, logits, y)
            logits, measured = mean_log_probs(logits.detach()), None
        else:
            loss = loss_fn(logits, y)
            measured = loss if plain else None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        tally.add_trained(measured, logits, y)
        advance(1)
    return tally.means()


def is_plain_cross_entropy(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Whether ``loss_fn`` is the mean cross-entropy :func:`evaluate_loss` measures (no label
    smoothing, no class weights): a training batch's loss then needs no second measuring."""
    if loss_fn is F.cross_entropy:
        return True
    return (
        isinstance(loss_fn, nn.CrossEntropyLoss)
        and loss_fn.weight is None
        and loss_fn.label_smoothing == 0
        and loss_fn.reduction == "mean"
    )


def members_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    logits: torch.Tensor,
    y: torch.Tensor,
) -> torch.Tensor:
    """The mean of a ``HeadEnsemble``'s members' losses (``logits``: members, N, classes), as one
    call of ``loss_fn`` on every member's rows at once: a mean over the rows (cross-entropy, with
    or without class weights and label smoothing: every member's rows weigh the same in all) is
    the mean of the members' means. The same numbers as one call per member, bit for bit without
    class weights or label smoothing (their sums add up in another order: 4e-7 apart after 8
    steps), in one kernel's time instead of five (0.25 ms against 0.67 ms a step, forward and
    backward, for the default head)."""
    return loss_fn(logits.flatten(0, 1), y.repeat(len(logits)))


@torch.inference_mode()
def evaluate_loss(model: nn.Module, batches: Batches) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` over ``batches`` (moved to its device)."""
    model.eval()
    tally = Tally()
    for x, y in model_batches(model, batches):
        logits = model(x)
        tally.add(F.cross_entropy(logits, y, reduction="sum").item(), logits, y)
    return tally.means()


@dataclass
class FitState:
    """Where training stands after a completed epoch: enough to resume exactly. ``stopper``: the
    run's early stopping (its patience and ``min_delta``), and its count so far."""

    stopper: EarlyStopping
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    stopped_early: bool = False
    began_from: int | None = None
    """The epoch of another fit's best this fit started from (fine-tuning starts from the
    head's), or None for a fit of its own (a resumed one too)."""
    to_beat: float = math.inf
    """The loss an epoch must lower by more than ``min_delta`` to be marked best: another fit's
    best this fit started from (the head's lowest, which fine-tuning's epochs must beat to be
    kept, while its early stopping judges them from the untuned model's loss). An epoch marked
    best is then one the run may keep, so the last line marked is the kept epoch's."""

    @property
    def best_epoch(self) -> int:
        return self.stopper.best_epoch

    @property
    def best_valid_loss(self) -> float:
        return self.stopper.best


@dataclass(frozen=True)
class Stopping:
    """When a fit stops: after ``epochs`` (the last epoch's number: a resumed fit counts those it
    ran before), or sooner once the validation loss has not dropped by more than ``min_delta``
    for ``patience`` epochs (:class:`EarlyStopping`)."""

    epochs: int
    patience: int
    min_delta: float = 0.0
    """The drop in the best validation loss that counts."""
    limit: tuple[str, int] | None = None
    """The setting behind ``epochs``, (name, value), named if it stops the fit (None:
    ``epochs``): fine-tuning's ``finetune_epochs`` sets the last of the epochs it adds to the
    head's."""


@dataclass(frozen=True)
class Shards:
    """How a fit is shared among ranks under ``torchrun``: ``world``'s ranks average their losses
    and accuracies and share rank 0's early stop; ``counted`` (None: all) of an epoch's first
    training images count on each rank, not a DistributedSampler's padding."""

    world: World = SINGLE
    counted: int | None = None


ONE_PROCESS = Shards()
"""A fit in one process: nothing shared."""


def fit(
    model: nn.Module,
    train_batches: Callable[[int], Batches],
    valid_batches: Callable[[], Batches],
    optimizer: torch.optim.Optimizer,
    stopping: Stopping,
    steps_per_epoch: int | None = None,
    reporter: Reporter = SILENT,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    state: FitState | None = None,
    on_epoch_end: Callable[[FitState], None] | None = None,
    shards: Shards = ONE_PROCESS,
) -> FitState:
    """Train until ``stopping`` says (its epochs, or early stopping on validation loss); the best
    weights are restored.

    ``train_batches(epoch)`` yields an epoch's (input, target) batches, shuffled and augmented by
    the caller; ``valid_batches()`` the validation set's. ``state`` resumes after its last epoch;
    ``on_epoch_end(state)`` runs after each, to save it. A loss not finite raises :class:`Diverged`.
    ``shards``: the ranks under ``torchrun``, and the training images each counts."""
    net = getattr(model, "module", model)  # the module itself under DistributedDataParallel
    epochs, world = stopping.epochs, shards.world
    stopper = EarlyStopping(stopping.patience, stopping.min_delta)
    state = starting_state(state, net, stopper, reporter)
    for epoch in range(state.epoch + 1, epochs + 1):
        if state.stopped_early:
            break
        start = time.perf_counter()
        with reporter.task(epoch_task(state, epoch, epochs), steps_per_epoch) as advance:
            train = train_one_epoch(
                model, train_batches(epoch), optimizer, advance, loss_fn, scheduler, shards.counted
            )
        train = world.reduce_metrics(train)  # the same on every rank: all of them stop
        valid = world.reduce_metrics(evaluate_loss(model, valid_batches()))
        require_finite(epoch, train, valid)
        with stops_held():  # the epoch said is the epoch kept: Ctrl-C waits for both
            record = end_epoch(state, net, epoch, train, valid, world, start)
            if on_epoch_end:
                on_epoch_end(state)
            reporter.epoch(record)
            log_epoch(record)
    log_stop(why_stopped(state, stopping), world)
    net.load_state_dict(state.best_state)
    return state


SHOWN_EPOCH = 0.1
"""The shortest epoch (in seconds) whose time :func:`epoch_task` says: a task shown for less is
never read."""


def epoch_task(state: FitState, epoch: int, epochs: int) -> str:
    """What epoch ``epoch``'s progress is called: ``epoch 17 of at most 25``, and once this fit
    has timed an epoch (``state.history``'s ``seconds``; fine-tuning's own, after
    ``began_from``), their mean, ``epoch 17 of at most 25, ~41s each`` (not under
    :data:`SHOWN_EPOCH`): fine-tuning takes 27 s to 2 min an epoch on 2 busy cores, so the
    line says how long the rest may take. Not the most it may take (``up to 6m09s more``),
    which would push the bar's own times off an 80-column terminal."""
    task = f"epoch {epoch} of at most {epochs}"
    since = state.began_from or 0
    timed = [r["seconds"] for r in state.history if r["epoch"] > since and r.get("seconds")]
    each = sum(timed) / len(timed) if timed else 0.0
    return task if each < SHOWN_EPOCH else f"{task}, ~{duration(each, tenths=True)} each"


def log_epoch(record: dict[str, Any]) -> None:
    """One epoch's line in the log (INFO), for a Python caller."""
    log.info(
        "epoch %d: train loss %.4f acc %.3f, valid loss %.4f acc %.3f%s",
        *(record[k] for k in ("epoch", "train_loss", "train_acc", "valid_loss", "valid_acc")),
        " (best)" if record["best"] else "",
    )


def why_stopped(state: FitState, stopping: Stopping) -> FitEnd:
    """Why the fit on ``state`` stopped where it did (``stopping``: its limits), the record its
    end is said from (:func:`log_stop`; ``fit_end``: train's line under its best epoch too)."""
    return FitEnd(
        epoch=state.epoch,
        best_epoch=state.best_epoch,
        last=stopping.epochs,
        limit=stopping.limit or ("epochs", stopping.epochs),
        patience=state.stopper.patience,
        min_delta=state.stopper.min_delta,
        losses=tuple(record["valid_loss"] for record in state.history),
        stopped_early=state.stopped_early,
        never_improved=never_improved(state),
    )


def log_stop(end: FitEnd, world: World = SINGLE) -> None:
    """Why the fit stopped (INFO, ``fit_end.stop_line``), and on rank 0 whether more of the limit
    that stopped it may help (``fit_end.limit_said``: a warning, or INFO that more would gain
    little)."""
    log.info("%s", stop_line(end))
    said = limit_said(end) if world.main else None
    if said is not None:
        log.log(said[0], "%s", said[1])


def never_improved(state: FitState) -> bool:
    """Whether the fit started from another fit's best (``began_from``) and never lowered it by
    more than ``min_delta``, as early stopping counts progress: a fine-tuning whose epochs fell
    below its start by a hair (a learning rate of 1e-9) is not told that more epochs may help.
    Its count of epochs without improvement alone did not tell: it starts at 0 after the head's
    last epoch, which was the head's best when the head ran to its limit still improving."""
    counted = state.epoch - state.stopper.bad_epochs  # the last epoch that counted as progress
    return state.began_from is not None and counted <= state.began_from


def starting_state(
    state: FitState | None, net: nn.Module, stopper: EarlyStopping, reporter: Reporter
) -> FitState:
    """``state`` to resume, its best told to ``reporter`` (a new best is one lower than the run's
    recorded best); else a new one, ``stopper`` and ``net``'s weights as they are."""
    if state is None:
        return FitState(stopper=stopper, best_state=copy.deepcopy(net.state_dict()))
    if state.epoch and state.best_epoch:
        reporter.best_before(state.best_epoch, state.best_valid_loss)
    return state


def end_epoch(
    state: FitState,
    net: nn.Module,
    epoch: int,
    train: dict[str, float],
    valid: dict[str, float],
    world: World,
    started: float,
) -> dict[str, Any]:
    """Record epoch ``epoch`` in ``state``: early stopping's verdict, the weights of the lowest
    validation loss so far, history (its seconds since ``started``, a ``time.perf_counter()``),
    marked best where its loss is the lowest so far and beats ``state.to_beat``."""
    state.stopped_early = world.decide(state.stopper.step(valid["loss"], epoch))
    new_low = state.stopper.best_epoch == epoch
    if new_low:
        state.best_state = copy.deepcopy(net.state_dict())
    record = {
        "epoch": epoch,
        "train_loss": train["loss"],
        "train_acc": train["acc"],
        "valid_loss": valid["loss"],
        "valid_acc": valid["acc"],
        "seconds": time.perf_counter() - started,
        "best": new_low and valid["loss"] < state.to_beat - state.stopper.min_delta,
    }
    state.history.append(record)
    state.epoch = epoch
    return record


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def training_loss(config: TrainConfig, labels: torch.Tensor, n_classes: int) -> nn.Module:
    """Cross-entropy with the configured label smoothing and class weighting."""
    weight = None
    if config.balance == "weights":
        counts = torch.bincount(labels, minlength=n_classes).float()
        weight = counts.sum() / (n_classes * counts.clamp(min=1))
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)


def diverged(stop: Diverged, setting: str, lr: float, kept: str, force: bool = True) -> ObjrecError:
    """The error of a diverged fit (``stop``), in one sentence: the epoch and the loss, what was
    ``kept``, and to start again with a lower ``setting`` than ``lr`` (the run's own settings are
    what a resume uses); ``force``: the run folder holds a run, so a new one needs
    ``force=True``."""
    again = " and `force=True`" if force else ""
    return ObjrecError(
        f"the {stop.which} loss is {stop.value} at epoch {stop.epoch}: training diverged{kept}; "
        f"start it again with a lower `{setting}` than {lr:g}{again}"
    )

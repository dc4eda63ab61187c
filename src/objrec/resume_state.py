"""A run's training state, for resuming it: everything needed to continue after an epoch (the
head, the best head, the optimizer, the RNG, early stopping's count, the history), written beside
the run's model (``last.safetensors``) after every epoch, sealed with its SHA-256 as a model file
is, and read back into the head and its optimizer. Written and read as ``checkpoint`` writes and
reads model files; above the training loop (``engine``), whose state it holds, where
``checkpoint`` is below it.

Its two writers are here, one beside the other: :class:`EpochSaver` after each of the head's
epochs, and :class:`FinetuneSaver` after each of fine-tuning's, which writes its state beside
the head's last epoch's (``EpochSaver.last``)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from objrec.checkpoint import atomic_save, read_state
from objrec.engine import EarlyStopping, FitState, model_device
from objrec.leakage import seen_tensors
from objrec.meta import FinetuneProgress, Processes, RunMeta, TrainingProgress
from objrec.model import HeadEnsemble
from objrec.model_file import (
    META_KEY,
    SEAL_KEY,
    STATE_DAMAGED,
    UNSEALED,
    Damaged,
    training_progress,
)
from objrec.run_files import LAST, trained_on


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in info["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": info["param_groups"]}


def stacked_optimizer(state: dict, head: torch.nn.Module) -> dict:
    """An optimizer state saved before ``HeadEnsemble`` stacked its members' weights (one
    parameter per member and layer, member by member) for the stacked parameters."""
    groups = state["param_groups"]
    n_members = len(head) if isinstance(head, HeadEnsemble) else 1
    per_member = len(list(head.parameters()))
    if n_members == 1 or len(groups) != 1 or len(groups[0]["params"]) != n_members * per_member:
        return state
    old = [state["state"].get(i, {}) for i in groups[0]["params"]]
    new = {}
    for j in range(per_member):
        members = old[j::per_member]
        if members[0]:
            new[j] = {
                name: torch.stack([m[name] for m in members])
                if is_array(value)
                else detached(value)
                for name, value in members[0].items()
            }
    return {"state": new, "param_groups": [{**groups[0], "params": list(range(per_member))}]}


KERNEL_FLAGS = ("fused", "foreach")
"""Optimizer settings that choose how the update runs, not what it computes."""


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict, head: torch.nn.Module) -> None:
    """Load a saved optimizer ``state`` (a per-member one converted, see ``stacked_optimizer``)
    into ``optimizer``, keeping its own ``KERNEL_FLAGS``: a state saved before Adam ran fused says
    ``fused: None``, which ``load_state_dict`` would otherwise take, switching the fused kernel
    off."""
    state = stacked_optimizer(state, head)
    kept = [{k: g[k] for k in KERNEL_FLAGS if k in g} for g in optimizer.param_groups]
    groups = [{**g, **k} for g, k in zip(state["param_groups"], kept, strict=False)]
    optimizer.load_state_dict({**state, "param_groups": groups})


def detached(value: Any) -> Any:
    """A tensor copied (a loaded optimizer may count its steps in place), anything else as is."""
    return value.clone() if torch.is_tensor(value) else value


def is_array(value: Any) -> bool:
    return torch.is_tensor(value) and value.dim() > 0


@dataclass
class SavedTraining:
    """A training state as read back: tensors, the run's metadata, and where training stood."""

    tensors: dict[str, torch.Tensor]
    meta: RunMeta
    progress: TrainingProgress
    header: dict[str, Any] = field(default_factory=dict)
    """The objrec header as written (:func:`head_part` writes it again)."""


TrainingState = tuple[dict[str, torch.Tensor], dict[str, str]]
"""The tensors and header of a saved training state."""


def training_state(
    head: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    fit_state: FitState,
    meta: RunMeta,
    into: Mapping[str, torch.Tensor] | None = None,
    processes: Processes | None = None,
) -> TrainingState:
    """Everything needed to continue after ``fit_state.epoch`` (head, best head, optimizer, RNG),
    copied: training may go on while it waits to be written. The RNG is the CPU's, and for a head
    on a GPU that GPU's too (``rng.cuda``): its dropout draws from it. ``into``: an earlier
    state's tensors, written, to copy the head's and optimizer's into (see :func:`cpu_copy`).
    ``processes``: how many trained it (None: not known), which a resume compares."""
    into = into or {}
    tensors = {
        f"head.{k}": cpu_copy(v, into.get(f"head.{k}")) for k, v in head.state_dict().items()
    }
    tensors |= {f"best.{k}": v.detach().cpu().contiguous() for k, v in fit_state.best_state.items()}
    optim_tensors, optim_info = _flatten_optimizer(optimizer.state_dict())
    tensors |= {k: cpu_copy(v, into.get(k)) for k, v in optim_tensors.items()}
    tensors |= rng_tensors(head)
    progress = TrainingProgress(
        fit_state.epoch,
        list(fit_state.history),
        fit_state.stopper.state_dict(),
        fit_state.stopped_early,
        optim_info,
        processes,
    )
    info = {**meta.to_json(), "kind": "training_state", **asdict(progress)}
    return tensors, {META_KEY: json.dumps(info)}


def cpu_copy(tensor: torch.Tensor, into: torch.Tensor | None = None) -> torch.Tensor:
    """A CPU copy of ``tensor`` that later in-place updates of it leave alone; written into
    ``into`` when it is one of the same shape and dtype. The training state is copied after
    every epoch: 60 MB for the default head, whose fresh pages cost 119,000 page faults a fit
    of 27 epochs (0.3 s of the 100-class protocol's retrain, benchmarks/HISTORY.md's "The
    training state copied into the same tensors"); copied into earlier tensors, none."""
    source = tensor.detach()
    if into is not None and into.shape == source.shape and into.dtype == source.dtype:
        return into.copy_(source)
    return source.to("cpu", copy=True).contiguous()


def write_training_state(path: Path, state: TrainingState) -> None:
    """Write a ``training_state`` to ``path`` atomically, sealed with its SHA-256 as a model file
    is (:data:`SEAL_KEY`): a resume read a changed byte of a weight or of the optimizer's moments
    as it was, and trained on from it without a word."""
    tensors, header = state
    atomic_save(path, tensors, header | {SEAL_KEY: UNSEALED.decode()}, sealed=True)


def load_training_state(path: Path) -> SavedTraining:
    """The training state written by :func:`write_training_state`, refused in one sentence when
    its bytes no longer match its SHA-256 (:data:`STATE_DAMAGED`; one an earlier objrec
    wrote has none, and is read as it is)."""
    try:
        tensors, header, _ = read_state(path, STATE_DAMAGED, digested=False)
    except Damaged as exc:  # the run's own folder and data in the command it gives
        data = trained_on(path)
        values = {"run": str(path.parent)} | ({"data": data} if data else {})
        raise Damaged(str(exc), values) from None
    return SavedTraining(tensors, *training_progress(path, header), header)


def restore_training_state(
    saved: SavedTraining, head: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> FitState:
    """Load a saved training state into ``head``, ``optimizer`` and RNG; return the fit state.
    The GPU's RNG is set for a head on a GPU from a state saved on one (a state saved on the CPU,
    or by an objrec before it saved it, has none: that RNG is left as it is)."""
    tensors, progress = saved.tensors, saved.progress
    head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    load_optimizer(optimizer, _unflatten_optimizer(tensors, progress.optimizer), head)
    set_rng(tensors, head)
    assert saved.meta.train_config is not None
    stopper = EarlyStopping(saved.meta.train_config.patience)
    stopper.load_state_dict(progress.stopper)
    return FitState(
        epoch=progress.epoch,
        history=progress.history,
        stopper=stopper,
        best_state={k[5:]: v for k, v in tensors.items() if k.startswith("best.")},
        stopped_early=progress.stopped_early,
    )


# ---------------------------------------------------------------- the head's epochs


SAVE_EVERY = 30.0
"""Seconds between two writes of ``last.safetensors`` while a head trains: the default head's
state is 80 MB (about 0.1 s to write and sync), so writing it after every epoch of a 15 s fit would
cost a tenth of it. A crash loses at most this much training; Ctrl-C loses none."""


class EpochSaver:
    """``on_epoch_end`` for ``fit``: after every epoch the training state is copied in memory, and
    written to ``last.safetensors`` (atomically) once ``SAVE_EVERY`` seconds have passed since the
    last write; ``flush`` (on Ctrl-C, and on a stop in what follows the fit, so that it can be
    resumed: ``train_stops.write_state_on_stop``) writes the last completed epoch's: beside a
    finished run's files, a forced run's state is all it adds until its model is written
    (``runs.run_status``). ``seen``: the digests of the images the run trained and validated on,
    kept in the state (``leakage.seen_tensors``) for the record of a resumed run.
    ``processes``: how many train it (None: not known), recorded in the state for a resume to
    compare (``runs.warn_of_other_processes``)."""

    def __init__(
        self,
        out: Path,
        head: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        meta: RunMeta,
        seen: Mapping[str, Sequence[str]] | None = None,
        processes: Processes | None = None,
    ):
        self.path, self.head, self.optimizer, self.meta = out / LAST, head, optimizer, meta
        self.processes = processes
        self.pending: TrainingState | None = None
        self.last: TrainingState | None = None
        """The last epoch's state, written or not (fine-tuning's is written beside it)."""
        self.failed: Exception | None = None
        """Why the last write failed (a full disk): not tried again, nor logged twice."""
        self.pending_epoch: int | None = None
        self.written_epoch: int | None = None
        """The epoch of the state last written whole by this saver (None: none yet)."""
        self.written = time.monotonic()
        self.seen = seen_tensors(seen or {})
        self.copies: dict[str, torch.Tensor] = {}
        """The last epoch's copies, which ``pending`` may hold."""
        self.spare: dict[str, torch.Tensor] = {}
        """The copies of the epoch before, written or replaced by then: the next epoch's go into
        them, not into ``copies``, so that a Ctrl-C during the copy flushes a whole epoch."""

    def __call__(self, state: FitState) -> None:
        tensors, header = training_state(
            self.head, self.optimizer, state, self.meta, self.spare, self.processes
        )
        self.pending, self.copies, self.spare = (tensors | self.seen, header), tensors, self.copies
        self.last = self.pending
        self.pending_epoch = state.epoch
        if time.monotonic() - self.written >= SAVE_EVERY:
            self.flush()

    def let_go(self) -> None:
        """The run is written whole: the last epoch's state is not needed, nor written."""
        self.pending, self.last, self.copies, self.spare = None, None, {}, {}

    def fit_ended(self) -> None:
        """The fit is over: the copies of the epoch before the last are let go (60 MB for the
        default head), the last epoch's kept for a :meth:`flush` until the run is written."""
        self.spare = {}

    def flush(self) -> None:
        """Write the last completed epoch's state, unless it is written already; a write that
        fails is not tried again (``failed`` says why; ``last.safetensors`` stays as it was)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            try:
                write_training_state(self.path, pending)
            except Exception as exc:
                self.failed = exc
                raise
            self.written, self.written_epoch = time.monotonic(), self.pending_epoch


# ---------------------------------------------------------------- fine-tuning's epochs


TUNED = "finetune."
"""The prefix of fine-tuning's tensors in a training state, beside the head's."""

Tuned = tuple[torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]
"""What fine-tuning trains and how: its model (the body's top and the head), optimizer and
learning-rate schedule."""


def head_part(saved: SavedTraining) -> TrainingState:
    """The head's training state in ``saved``, as the head's last epoch wrote it, without
    fine-tuning's: what :class:`FinetuneSaver` writes fine-tuning's state beside."""
    tensors = {k: v for k, v in saved.tensors.items() if not k.startswith(TUNED)}
    return tensors, {META_KEY: json.dumps({**saved.header, "finetune": None})}


def tuned_state(
    tuned: Tuned, state: FitState, untuned: float | None, since: int
) -> tuple[dict[str, torch.Tensor], FinetuneProgress]:
    """Fine-tuning's state after ``state.epoch``: the model's weights, its best, the optimizer's
    moments and the RNG as tensors (not copied: they are written at once); early stopping, the
    schedule, fine-tuning's epochs (those after the head's epoch ``since``) and the ``untuned``
    loss they started from."""
    model, optimizer, scheduler = tuned
    weights = {f"model.{k}": v for k, v in model.state_dict().items()}
    weights |= {f"best.{k}": v for k, v in state.best_state.items()}
    optim_tensors, optim_info = _flatten_optimizer(optimizer.state_dict())
    weights |= optim_tensors | rng_tensors(model)
    progress = FinetuneProgress(
        state.epoch,
        [record for record in state.history if record["epoch"] > since],
        state.stopper.state_dict(),
        state.stopped_early,
        optim_info,
        scheduler.state_dict(),
        untuned,
    )
    return {TUNED + k: v.detach().cpu().contiguous() for k, v in weights.items()}, progress


def restore_tuned(saved: SavedTraining, tuned: Tuned, start: FitState) -> FitState:
    """Fine-tuning's state in ``saved`` loaded into ``tuned``'s model, optimizer and schedule,
    and the RNG; returns fine-tuning's ``start`` (after the head's epochs) gone on to where it
    stood."""
    progress = saved.progress.finetune
    assert progress is not None
    model, optimizer, scheduler = tuned
    ours = {k[len(TUNED) :]: v for k, v in saved.tensors.items() if k.startswith(TUNED)}
    model.load_state_dict(prefixed(ours, "model."))
    optimizer.load_state_dict(_unflatten_optimizer(ours, progress.optimizer))
    scheduler.load_state_dict(progress.scheduler)
    set_rng(ours, model)
    stopper = EarlyStopping(start.stopper.patience)
    stopper.load_state_dict(progress.stopper)
    return replace(
        start,
        stopper=stopper,
        epoch=progress.epoch,
        history=[*start.history, *progress.history],
        best_state=prefixed(ours, "best."),
        stopped_early=progress.stopped_early,
    )


def prefixed(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names begin with ``prefix``, named without it."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def rng_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The RNG's state: the CPU's, and for a ``model`` on a GPU that GPU's too (``rng.cuda``):
    dropout draws from it."""
    tensors = {"rng.torch": torch.get_rng_state()}
    device = model_device(model)
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    return tensors


def set_rng(tensors: Mapping[str, torch.Tensor], model: torch.nn.Module) -> None:
    """The RNG set as :func:`rng_tensors` saved it; the GPU's for a ``model`` on a GPU from a
    state saved on one (saved on the CPU, or by an objrec before it saved it: left as it is)."""
    torch.set_rng_state(tensors["rng.torch"])
    device = model_device(model)
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)


class FinetuneSaver:
    """``on_epoch_end`` for fine-tuning's fit: after every epoch (27 s to 2 min of a CPU's, where
    writing the state takes a fraction of a second) the run's training state is written to
    ``path`` atomically, the head's as its epochs left it (``base``) with fine-tuning's beside
    it (:func:`tuned_state`), so that a stop, a kill or a crash in fine-tuning or in the
    calibration after it loses none of its epochs, and a resume goes on after the last.
    ``resumed``: a resumed run's state, which :meth:`attach` restores when it holds
    fine-tuning's epochs."""

    def __init__(self, path: Path, base: TrainingState, resumed: SavedTraining | None = None):
        self.path, self.base = path, base
        tuned = resumed is not None and resumed.progress.finetune is not None
        self.resumed = resumed if tuned else None
        self.tuned: Tuned | None = None
        self.untuned: float | None = None
        self.since = 0

    @property
    def resumed_untuned(self) -> float | None:
        """The untuned model's loss the resumed fine-tuning started from (None: not resumed in
        fine-tuning, or not measured)."""
        progress = self.resumed.progress.finetune if self.resumed else None
        return progress.untuned if progress else None

    def attach(self, tuned: Tuned, start: FitState, untuned: float | None) -> FitState:
        """Write ``tuned``'s state from now on, fine-tuning's epochs being those after
        ``start``'s, from the ``untuned`` loss; returns ``start``, or where the resumed run's
        fine-tuning stood, restored into ``tuned``."""
        self.tuned, self.since, self.untuned = tuned, start.epoch, untuned
        if self.resumed is None:
            return start
        return restore_tuned(self.resumed, tuned, start)

    def __call__(self, state: FitState) -> None:
        assert self.tuned is not None, "attach() first"
        tensors, progress = tuned_state(self.tuned, state, self.untuned, self.since)
        base, header = self.base
        info = json.loads(header[META_KEY]) | {"finetune": asdict(progress)}
        write_training_state(self.path, (base | tensors, {META_KEY: json.dumps(info)}))

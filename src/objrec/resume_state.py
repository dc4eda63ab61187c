"""A run's training state, for resuming it: everything needed to continue after an epoch (the
head, the best head, the optimizer, the RNG, early stopping's count, the history), written beside
the run's model (``last.safetensors``) after every epoch, sealed with its SHA-256 as a model file
is, and read back into the head and its optimizer. Written and read as ``checkpoint`` writes and
reads model files; above the training loop (``engine``), whose state it holds, where
``checkpoint`` is below it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from objrec.checkpoint import atomic_save, read_state
from objrec.engine import EarlyStopping, FitState, model_device
from objrec.meta import Processes, RunMeta, TrainingProgress, trained_on
from objrec.model import HeadEnsemble
from objrec.model_file import (
    META_KEY,
    SEAL_KEY,
    STATE_DAMAGED,
    UNSEALED,
    Damaged,
    training_progress,
)


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
    tensors["rng.torch"] = torch.get_rng_state()
    device = model_device(head)
    if device.type == "cuda":
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
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
    return SavedTraining(tensors, *training_progress(path, header))


def restore_training_state(
    saved: SavedTraining, head: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> FitState:
    """Load a saved training state into ``head``, ``optimizer`` and RNG; return the fit state.
    The GPU's RNG is set for a head on a GPU from a state saved on one (a state saved on the CPU,
    or by an objrec before it saved it, has none: that RNG is left as it is)."""
    tensors, progress = saved.tensors, saved.progress
    head.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("head.")})
    load_optimizer(optimizer, _unflatten_optimizer(tensors, progress.optimizer), head)
    torch.set_rng_state(tensors["rng.torch"])
    device = model_device(head)
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
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

"""Data-parallel training under ``torchrun``: process group, sharding, collectives.

``torchrun --nproc-per-node N -m objrec train ...`` sets ``WORLD_SIZE``/``RANK``; ``train`` then
shards the frozen pass across the ranks (rank 0 hashes the image files and shares their digests,
so that every rank trains on the same images; each computes its share of the images the feature
store lacks and writes them to the store itself), trains the head under DistributedDataParallel
with a DistributedSampler, and all-reduces losses and accuracies so that every rank takes the
same early-stopping decision (rank 0's, broadcast). Only rank 0 reports progress and writes
files. On GPUs each rank computes on GPU ``LOCAL_RANK`` and the backend is NCCL, whose
collectives take only tensors on that GPU; on the CPU it is gloo. A single process (no
``WORLD_SIZE``) uses none of this, only the device it chose.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.distributed as dist

from objrec.devices import backend_for, resolve_device
from objrec.errors import ObjrecError
from objrec.meta import Processes

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    """Where this rank computes, and where its collectives' tensors live (NCCL: the rank's GPU)."""
    local_size: int = 1
    """Ranks on this machine (torchrun's ``LOCAL_WORLD_SIZE``): they share its CPU cores."""
    launched: bool = False
    """Started by torchrun: in a process group even alone (``--nproc-per-node 1`` runs the sharded
    pass, DDP and the collectives as more ranks would)."""

    @property
    def distributed(self) -> bool:
        return self.size > 1 or self.launched

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def processes(self) -> Processes:
        """How many processes train, as the training state records them."""
        return Processes(self.size, self.local_size, self.distributed)

    def barrier(self) -> None:
        if not self.distributed:
            return
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def reduce_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Loss and accuracy averaged over all ranks, weighted by how many samples each saw."""
        if not self.distributed:
            return metrics
        n = metrics["n"]
        values = [metrics["loss"] * n, metrics["acc"] * n, n]
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        loss, acc, seen = t.tolist()
        total = max(seen, 1)
        return {"loss": loss / total, "acc": acc / total, "n": seen}

    def sum(self, value: int) -> int:
        """The sum of ``value`` over all ranks (a count)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.all_reduce(t)
        return int(t.item())

    def share(self, value: T) -> T:
        """Rank 0's ``value`` (any picklable object), the same on every rank; the others' is
        not looked at (pass None)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def decide(self, value: bool) -> bool:
        """Rank 0's decision, the same on every rank."""
        if not self.distributed:
            return value
        flag = torch.tensor([int(value)], device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())


SINGLE = World()


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's random draws over the training images (which view of each, and in
    one process their order), from the run's ``seed``, on every path alike: far apart for
    neighbouring seeds, so that seed s + 1 never replays seed s's draws an epoch later, as
    ``seed + epoch`` would."""
    return seed * 100_003 + epoch


def world_from_env(device: str = "auto") -> World:
    """This process's place in the job torchrun describes (or a single process), and its device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1:
        require_torchrun_variables(size)
    launched = "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ  # as torchrun sets them
    if size <= 1 and not launched:
        return World(device=resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return World(
        int(os.environ.get("RANK", "0")),
        size,
        local_rank,
        resolve_device(device, local_rank),
        int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
        launched,
    )


TORCHRUN_VARIABLES = ("RANK", "MASTER_ADDR", "MASTER_PORT")
"""What torch's ``env://`` rendezvous needs beside ``WORLD_SIZE``, as torchrun sets them."""


def require_torchrun_variables(size: int) -> None:
    """Refuse a ``WORLD_SIZE`` of ``size`` (> 1) without the rest of what torchrun sets: torch's
    rendezvous would fail with a traceback, or wait for ranks that were never started."""
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        raise ObjrecError(
            f"WORLD_SIZE is {size}, but {names} {'are' if len(missing) > 1 else 'is'} not set: "
            "launch the ranks with torchrun, which sets them all, or unset WORLD_SIZE to run "
            "in one process"
        )


@contextmanager
def process_group(device: str = "auto") -> Iterator[World]:
    """Join the process group that torchrun describes (or none), and always leave it cleanly.

    ``device`` is ``--device``: under torchrun on GPUs each rank takes GPU ``LOCAL_RANK`` and the
    group is NCCL; on the CPU it is gloo.
    """
    world = world_from_env(device)
    if not world.distributed or dist.is_initialized():
        yield world
        return
    backend = backend_for(world.device)
    if backend == "nccl":
        torch.cuda.set_device(world.device)
    dist.init_process_group(backend)
    log.info("rank %d of %d joined (%s)", world.rank, world.size, backend)
    try:
        yield world
    finally:
        dist.destroy_process_group()

"""Data-parallel training under ``torchrun``: process group, sharding, collectives.

``torchrun --nproc-per-node N -m objrec train ...`` sets ``WORLD_SIZE``/``RANK``; ``train`` then
shards the frozen pass across the ranks (each computes its share of the images the feature store
lacks and writes them to the store itself), trains the head under DistributedDataParallel with a
DistributedSampler, and
all-reduces losses and accuracies so that every rank takes the same early-stopping decision (rank
0's, broadcast). Only rank 0 reports progress and writes files. Backend: nccl on CUDA, gloo on CPU.
A single process (no ``WORLD_SIZE``) uses none of this.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def reduce_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Loss and accuracy averaged over all ranks, weighted by how many samples each saw."""
        if not self.distributed:
            return metrics
        n = metrics["n"]
        t = torch.tensor([metrics["loss"] * n, metrics["acc"] * n, n], dtype=torch.float64)
        dist.all_reduce(t)
        total = max(t[2].item(), 1)
        return {"loss": t[0].item() / total, "acc": t[1].item() / total, "n": t[2].item()}

    def sum(self, value: int) -> int:
        """The sum of ``value`` over all ranks (a count)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.int64)
        dist.all_reduce(t)
        return int(t.item())

    def decide(self, value: bool) -> bool:
        """Rank 0's decision, the same on every rank."""
        if not self.distributed:
            return value
        flag = torch.tensor([int(value)])
        dist.broadcast(flag, src=0)
        return bool(flag.item())


SINGLE = World()


def world_from_env() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


@contextmanager
def process_group() -> Iterator[World]:
    """Join the process group that torchrun describes (or none), and always leave it cleanly."""
    world = world_from_env()
    if not world.distributed or dist.is_initialized():
        yield world
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(backend)
    log.info("rank %d of %d joined (%s)", world.rank, world.size, backend)
    try:
        yield world
    finally:
        dist.destroy_process_group()

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

Some of the work is rank 0's alone (hashing every file, ``--strict``'s check, calibrating and
writing the run), and some uneven (each rank's share of the frozen pass): the other ranks wait
for it in :meth:`World.share` and :meth:`World.barrier`, in a gloo group beside NCCL's, not in a
collective on their GPU, for at most ``OBJREC_TORCHRUN_TIMEOUT`` seconds (:data:`TIMEOUT`,
3 hours by default, where torch's own were 10 minutes for NCCL and 30 for gloo); a wait that
outlasts it says what it waited for (:func:`waited_too_long`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, NamedTuple, TypeVar

import torch
import torch.distributed as dist

from objrec.cores import rank_threads
from objrec.devices import backend_for, resolve_device
from objrec.errors import ObjrecError
from objrec.meta import Processes
from objrec.progress import Reporter
from objrec.words import duration

log = logging.getLogger(__name__)

T = TypeVar("T")

TIMEOUT_VARIABLE = "OBJREC_TORCHRUN_TIMEOUT"
TIMEOUT = 3 * 3600.0
"""How long, in seconds, a rank waits for the others (``OBJREC_TORCHRUN_TIMEOUT``), in any one
collective: hours, since rank 0 does some of the work alone; a first run on 140 GB of images
hashes them all on rank 0, 23 minutes at 100 MB/s, and ``--strict`` decodes every one."""

MAX_TIMEOUT = 1e9
"""The longest ``OBJREC_TORCHRUN_TIMEOUT`` taken (about 32 years): torch's process group fails
with a traceback from about 9.2e9 seconds, and ``timedelta`` overflows beyond."""


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
    timeout: float = TIMEOUT
    """The longest a collective waits, in seconds (``OBJREC_TORCHRUN_TIMEOUT``)."""
    waits: Any = None
    """The gloo group the ranks wait for each other's work in (:meth:`share`, :meth:`barrier`)
    where the process group is NCCL's: a rank waiting there for rank 0's hashing holds no
    collective on its GPU. None: the process group itself (gloo on the CPU)."""

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

    def barrier(self, doing: str) -> None:
        """Wait until every rank is here; ``doing``: what the ranks here first wait for, as
        :func:`waited_too_long` names it (``rank 0 calibrating and writing the run``)."""
        if not self.distributed:
            return
        with self.waiting_for(doing):
            if self.waits is not None:
                dist.barrier(group=self.waits)
            elif self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    @contextmanager
    def waiting_for(self, doing: str) -> Iterator[None]:
        """A wait for ``doing``: one that lasted the whole :attr:`timeout` and failed is said in
        one sentence (:func:`waited_too_long`), and so is one another rank's end cut short
        (:func:`peer_ended`), not as an error objrec did not expect."""
        started = time.monotonic()
        try:
            yield
        except RuntimeError as error:  # torch.distributed.DistBackendError is one
            waited = time.monotonic() - started
            if waited >= self.timeout:
                raise ObjrecError(waited_too_long(self, doing, waited)) from error
            if peer_ended(error):
                raise ObjrecError(
                    f"another rank ended while this rank waited for {doing}: its own error "
                    "says why, and this rank stops with it"
                ) from error
            raise

    def reduce_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Loss and accuracy averaged over all ranks, weighted by how many samples each saw."""
        if not self.distributed:
            return metrics
        n = metrics["n"]
        values = [metrics["loss"] * n, metrics["acc"] * n, n]
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        with self.waiting_for(OTHERS):
            dist.all_reduce(t)
        loss, acc, seen = t.tolist()
        total = max(seen, 1)
        return {"loss": loss / total, "acc": acc / total, "n": seen}

    def sum(self, value: int) -> int:
        """The sum of ``value`` over all ranks (a count)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.int64, device=self.device)
        with self.waiting_for(OTHERS):
            dist.all_reduce(t)
        return int(t.item())

    def share(self, value: T, doing: str) -> T:
        """Rank 0's ``value`` (any picklable object), the same on every rank; the others' is
        not looked at (pass None). ``doing``: what rank 0 does before it shares it, which the
        others wait for (:meth:`barrier`)."""
        if not self.distributed:
            return value
        box = [value]
        device = self.device if self.waits is None else torch.device("cpu")
        with self.waiting_for(doing):
            dist.broadcast_object_list(box, src=0, group=self.waits, device=device)
        return box[0]

    def gather(self, value: T, doing: str) -> list[T]:
        """Every rank's ``value`` (any picklable object), by rank, on every rank. ``doing``: what
        the ranks do before they send it, which the others wait for (:meth:`barrier`)."""
        if not self.distributed:
            return [value]
        box: list[Any] = [None] * self.size
        with self.waiting_for(doing):
            dist.all_gather_object(box, value, group=self.waits)
        return box

    def decide(self, value: bool) -> bool:
        """Rank 0's decision, the same on every rank."""
        if not self.distributed:
            return value
        flag = torch.tensor([int(value)], device=self.device)
        with self.waiting_for(OTHERS):
            dist.broadcast(flag, src=0)
        return bool(flag.item())


SINGLE = World()


class Told(NamedTuple):
    """Where a stage of the recipe says what it does, and the ranks it runs among: passed
    together down ``train``'s stages (a plain pair before, read as ``told[1]``)."""

    reporter: Reporter
    """Rank 0's progress and notes; the other ranks' say nothing (``progress.SILENT``)."""
    world: World


OTHERS = "the other ranks"
"""What a rank waits for in the training's own collectives (each rank's epoch, its counts)."""

PEER_ENDED = (
    "Connection closed by peer",
    "Connection reset by peer",
    "Broken pipe",
    "remote process exited",
)
"""How gloo says that the other end of a collective went, its process ended (and NCCL, where it
notices: not seen here, no two GPUs). A rank that failed alone ends at once (its error said, its
process gone), and gloo finds its sockets closed within a second; without this, each other rank
said gloo's words as "an error objrec did not expect, a bug"."""


def peer_ended(error: RuntimeError) -> bool:
    """Whether a collective's ``error`` says that another rank's process ended."""
    return any(words in str(error) for words in PEER_ENDED)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's random draws over the training images (their order and which view
    of each: ``batches.epoch_draws``; a rank takes its share of that order), from the run's
    ``seed``, on every path alike: far apart for
    neighbouring seeds, so that seed s + 1 never replays seed s's draws an epoch later, as
    ``seed + epoch`` would."""
    return seed * 100_003 + epoch


def waited_too_long(world: World, doing: str, waited: float) -> str:
    """Why a rank stopped after waiting ``waited`` seconds for ``doing``, the whole of
    ``world``'s timeout, and what to do: one sentence (the CLI names the rank before it)."""
    return (
        f"this rank waited {duration(waited, tenths=True)} for {doing}, as long as "
        f"{TIMEOUT_VARIABLE} ({world.timeout:g} seconds) lets the ranks wait for each other: "
        f"set it higher where torchrun starts, {TIMEOUT_VARIABLE}={round(world.timeout * 4)} "
        "for four times as long"
    )


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
        torchrun_timeout(),
    )


def torchrun_timeout() -> float:
    """``OBJREC_TORCHRUN_TIMEOUT``'s seconds, or :data:`TIMEOUT` where it is not set."""
    given = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not given:
        return TIMEOUT
    try:
        seconds = float(given)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= MAX_TIMEOUT:
        raise ObjrecError(
            f"{TIMEOUT_VARIABLE} is {given!r}: give the seconds a rank may wait for the others, "
            f"a number above 0 and at most {MAX_TIMEOUT:g} ({TIMEOUT:g}, 3 hours, when it is "
            "not set)"
        )
    return seconds


def share_cores(world: World) -> int | None:
    """Give this rank its share of the machine's cores as PyTorch's threads (which the CPU
    engines take: ``cores.cpu_threads``) where torchrun chose one thread for it
    (:func:`cores.rank_threads`); the count set, or None."""
    threads = rank_threads(os.environ)
    if threads is None or threads == torch.get_num_threads():
        return None
    torch.set_num_threads(threads)
    log.info(
        "rank %d computes on %d threads, its share of the cores of this machine's %d ranks "
        "(torchrun set OMP_NUM_THREADS=1)",
        world.rank,
        threads,
        world.local_size,
    )
    return threads


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
    group is NCCL, with a gloo group beside it for the waits (:attr:`World.waits`); on the CPU
    it is gloo. Both wait ``OBJREC_TORCHRUN_TIMEOUT`` seconds at most (:data:`TIMEOUT`).
    """
    world = world_from_env(device)
    if not world.distributed or dist.is_initialized():
        yield world
        return
    share_cores(world)
    backend = backend_for(world.device)
    if backend == "nccl":
        torch.cuda.set_device(world.device)
    timeout = timedelta(seconds=world.timeout)
    dist.init_process_group(backend, timeout=timeout)
    if backend != "gloo":
        world = replace(world, waits=dist.new_group(backend="gloo", timeout=timeout))
    log.info("rank %d of %d joined (%s)", world.rank, world.size, backend)
    try:
        yield world
    finally:
        dist.destroy_process_group()

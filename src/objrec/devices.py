"""Which device objrec computes on (``--device auto|cpu|cuda[:N]``), and what follows from it.

``auto`` is the GPU when PyTorch sees one, else the CPU. On the CPU nothing changes: the frozen pass
runs on ONNX Runtime and images are decoded by a thread beside it. On a GPU the frozen pass runs in
PyTorch on the card (``device_runner.DeviceRunner``), fed by DataLoader worker processes into pinned
memory, in batches sized to the card's free memory; the head, the heads ensemble and fine-tuning
train there too. Under ``torchrun`` each rank takes GPU ``LOCAL_RANK`` and the process group is NCCL
(gloo on the CPU).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from objrec.config import require_device
from objrec.cores import usable_cores
from objrec.errors import ObjrecError

log = logging.getLogger(__name__)

GPU_BATCH_RANGE = (16, 128)
"""Frozen-pass batches on a GPU: the largest power of two in this range that fits half the card's
free memory. The top bounds host memory: a 240 px image is 0.69 MB in float32 and every DataLoader
worker holds two batches ahead, so 15 workers hold 2.7 GB at batch 128."""


def resolve_device(spec: str = "auto", local_rank: int | None = None) -> torch.device:
    """The device that ``--device spec`` names; ``local_rank`` is set under ``torchrun``.

    Raises:
        ObjrecError: a malformed ``spec``, CUDA asked for where there is none, a GPU index this
            machine does not have, or ``cuda:N`` that is not the rank's ``LOCAL_RANK``.
    """
    name = require_device(spec)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ObjrecError(
            f"`device` {spec}: PyTorch sees no CUDA GPU here (no GPU, or a CPU-only build of "
            "PyTorch); use cpu or auto"
        )
    asked = int(name[5:]) if name.startswith("cuda:") else None
    if local_rank is not None and asked is not None and asked != local_rank:
        raise ObjrecError(
            f"`device` {spec}: under torchrun each rank uses GPU LOCAL_RANK ({local_rank}); "
            "use cuda or auto"
        )
    index = asked if asked is not None else (local_rank or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ObjrecError(missing_gpu(spec, index, count, local_rank if asked is None else None))
    return torch.device("cuda", index)


def missing_gpu(spec: str, index: int, count: int, local_rank: int | None) -> str:
    """Why GPU ``index`` cannot be had on a machine of ``count`` GPUs: the one ``spec`` named, or
    (``local_rank`` set) the rank's own under torchrun, where more processes were started on the
    machine than it has GPUs, which no ``device`` of a GPU mends."""
    if local_rank is None:
        return f"`device` {spec}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}"
    return (
        f"torchrun's rank of LOCAL_RANK {local_rank} takes cuda:{index}, but this machine has "
        f"{count} GPU(s): start at most {count} processes a machine (torchrun's "
        "--nproc-per-node), or use `device` cpu"
    )


def backend_for(device: torch.device) -> str:
    """The process-group backend whose collectives take tensors on ``device``."""
    return "nccl" if device.type == "cuda" else "gloo"


@dataclass(frozen=True)
class LoaderSettings:
    """How images reach the frozen body: decoding processes and pinned memory."""

    num_workers: int
    pin_memory: bool


def loader_settings(
    device: torch.device, num_workers: int | None = None, ranks_here: int = 1
) -> LoaderSettings:
    """``num_workers`` as asked, or (None) chosen for the device; pinned memory on a GPU.

    On the CPU the default stays 0 (a decoding thread beside ONNX Runtime measured fastest on 2
    cores). On a GPU decoding is the bottleneck, so the default is every core this rank's share of
    the machine has but one (``ranks_here``: the processes torchrun started on this machine).
    """
    gpu = device.type == "cuda"
    if num_workers is None:
        num_workers = max(2, usable_cores() // max(ranks_here, 1) - 1) if gpu else 0
    return LoaderSettings(num_workers, pin_memory=gpu)


def batch_for_memory(
    free_bytes: int, bytes_per_image: float, fraction: float = 0.5, bounds=GPU_BATCH_RANGE
) -> int:
    """The largest power of two within ``bounds`` whose images take at most ``fraction`` of
    ``free_bytes``, or the lower bound when not even that fits."""
    low, high = bounds
    fit = int(free_bytes * fraction // max(bytes_per_image, 1.0))
    size = low
    while size * 2 <= min(fit, high):
        size *= 2
    return size

"""A frozen module on a GPU (``DeviceRunner``): PyTorch on the card, channels-last, under autocast
in float16 or bfloat16 where, on a probe batch of real images (the first batch, unless ``choose``
was given one before), that precision's outputs stay within ``PRECISION_TOLERANCE`` of float32's
(``choose_precision``, against float32 on the CPU); else in float32. Its batches are padded to the
sizes it has run (``pad_images``) and sized to the card's free memory. The CPU's runners are
``runtime``'s."""

from __future__ import annotations

import copy
import logging
import threading

import torch
from torch import nn

from objrec.devices import GPU_BATCH_RANGE, batch_for_memory

log = logging.getLogger(__name__)

PRECISION_TOLERANCE = 2e-2
"""Largest relative error (per image: |low - fp32| / |fp32|, L2 over the features) at which a GPU
runs the frozen pass in float16 or bfloat16 (tried in that order). Measured on the CPU with the
three-body default on 40 Caltech-101 photos (``benchmarks/precision.py``): float16 at most 1.1e-2
(no top-1 changed, no probability by more than 6e-4), bfloat16 up to 1.0e-1; the tolerance keeps
the first and refuses the second. On an H200 (``benchmarks/gpu_check.py``) float16's largest error
was 4.6e-3 on a run's first 8 images, 6.4e-3 on 64 validation images."""


LOW_PRECISIONS = (torch.float16, torch.bfloat16)


REFERENCE_IMAGES = 8
"""At most this many images of the precision check's probe are compared (``DeviceRunner.choose``):
their float32 reference runs on the CPU, where ``predict``'s whole first batch (32 images) of a
large backbone would cost seconds."""


def relative_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    """The largest per-row relative L2 error of ``output`` against ``reference``."""
    ref = reference.float().flatten(1)
    diff = output.float().flatten(1) - ref
    return float((diff.norm(dim=1) / ref.norm(dim=1).clamp_min(1e-12)).max())


def pad_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` (a batch of images) with zero images after it up to ``size`` images, channels-last;
    ``x`` itself when it has that many or more (or is not a batch of images). The card's libraries
    set up their kernels for each new input shape, seconds each on an H200 (cuDNN compiling them
    at run time: docs/scaling.md); in eval mode no operator mixes the images of a batch (BatchNorm
    uses its running statistics), so the real images' outputs are those of ``x`` alone."""
    missing = size - x.shape[0]
    if missing <= 0 or x.dim() != 4:
        return x
    zeros = x.new_zeros((missing, *x.shape[1:]))
    return torch.cat([x, zeros]).contiguous(memory_format=torch.channels_last)


def precision_supported(device: torch.device, dtype: torch.dtype) -> bool:
    if device.type == "cuda" and dtype == torch.bfloat16:
        return torch.cuda.is_bf16_supported()
    return torch.amp.is_autocast_available(device.type)


@torch.inference_mode()
def float32_on_cpu(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module``'s float32 output on ``x``, computed on the CPU (``module`` is there in float32
    and eval mode: :func:`float32_eval_on_cpu`): a GPU's precision check compares its candidates
    with it, so that the card runs no float32 shape of its own (each new shape or precision costs
    the card seconds on its first call: docs/scaling.md)."""
    return module(x.float().cpu())


def float32_eval_on_cpu(module: nn.Module) -> bool:
    """Whether ``module`` computes in float32 on the CPU in eval mode as it is: every floating
    point parameter and buffer float32 on the CPU, every submodule in eval mode."""
    tensors = [*module.parameters(), *module.buffers()]
    on_cpu = all(t.device.type == "cpu" for t in tensors)
    float32 = all(t.dtype == torch.float32 for t in tensors if t.is_floating_point())
    return on_cpu and float32 and not any(m.training for m in module.modules())


def copy_to(module: nn.Module, device: torch.device) -> nn.Module:
    """A deep copy of ``module`` on ``device``, each parameter and buffer copied there directly:
    ``copy.deepcopy(module).to(device)`` first copied all of them on the module's own device (a
    body's bytes of host memory more for a GPU, until moved)."""
    memo: dict[int, object] = {}
    for p in module.parameters():
        memo[id(p)] = type(p)(p.detach().to(device, copy=True), p.requires_grad)
    for b in module.buffers():
        memo[id(b)] = b.detach().to(device, copy=True)
    return copy.deepcopy(module, memo)


@torch.inference_mode()
def choose_precision(
    module: nn.Module,
    x: torch.Tensor,
    tolerance: float = PRECISION_TOLERANCE,
    candidates: tuple[torch.dtype, ...] = LOW_PRECISIONS,
    batch: int | None = None,
    reference: torch.Tensor | None = None,
) -> tuple[torch.dtype, dict[str, float]]:
    """The first of ``candidates`` whose autocast output on ``x`` stays within ``tolerance`` of
    float32's (else float32), and each tried precision's relative error.

    ``batch``: the candidates run on ``x`` followed by zero images up to that many (the working
    batch size, ``pad_images``), sliced off before the error: the shape the pass then runs in, so
    that a GPU sets up its kernels for it once, not once more for ``x``'s size. ``reference``: the
    float32 output on ``x`` when computed elsewhere (``DeviceRunner`` computes it on the CPU,
    :func:`float32_on_cpu`); else ``module`` computes it on ``x``."""
    device, n = x.device, x.shape[0]
    if reference is None:
        reference = module(x)
    reference = reference.to(device)
    wide = pad_images(x, batch or n)
    errors: dict[str, float] = {}
    for dtype in candidates:
        if not precision_supported(device, dtype):
            continue
        with torch.autocast(device.type, dtype=dtype):
            error = relative_error(module(wide)[:n], reference)
        errors[str(dtype).removeprefix("torch.")] = error
        if error <= tolerance:
            return dtype, errors
    return torch.float32, errors


def first_low_precision(device: torch.device) -> torch.dtype:
    """The precision the precision check tries first on ``device`` (float32 when none is run)."""
    return next((d for d in LOW_PRECISIONS if precision_supported(device, d)), torch.float32)


class DeviceRunner:
    """A copy of ``module`` on ``device`` (channels-last), run in the precision chosen on the first
    batch; returns float32 on the CPU (``features`` keeps the result on the device)."""

    def __init__(self, module: nn.Module, device: torch.device, tolerance=PRECISION_TOLERANCE):
        self.device, self.tolerance = device, tolerance
        self.module = copy_to(module, device).eval().to(memory_format=torch.channels_last)
        self._float32: nn.Module | None = module
        """The module on the CPU in float32, until the precision check has computed its reference
        with it: ``module`` itself (not to be changed until then) where it is so already (a frozen
        body, a loaded model), else a copy made so."""
        if not float32_eval_on_cpu(module):
            self._float32 = copy_to(module, torch.device("cpu")).float().eval()
        self.dtype: torch.dtype | None = None
        self.errors: dict[str, float] = {}
        self._batch: int | None = None
        self._choosing = threading.Lock()
        """Held while the precision is chosen: another thread's first batch waits for it."""

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x

    def choose(self, probe: torch.Tensor) -> torch.dtype:
        """Choose the precision on ``probe`` (a batch of real images; its first
        :data:`REFERENCE_IMAGES` compared), once; returns it. The float32 reference is computed on
        the CPU (:func:`float32_on_cpu`), the low precisions on
        the card at the working batch size once ``batch_size`` has measured it, else at the
        probe's: a frozen pass then meets one shape on the card, the chosen precision at the
        working size (``FrozenBody.numerics``). Two threads sending their first batch at once: one
        chooses, the other waits for its choice."""
        if self.dtype is None:
            with self._choosing:
                if self.dtype is None:
                    self._choose(probe)
        assert self.dtype is not None
        return self.dtype

    def _choose(self, probe: torch.Tensor) -> None:
        assert self._float32 is not None
        sample = probe[:REFERENCE_IMAGES]  # compared; the candidates run at the probe's size
        reference = float32_on_cpu(self._float32, sample)
        self._float32 = None
        self.dtype, self.errors = choose_precision(
            self.module,
            self._input(sample),
            self.tolerance,
            batch=self._batch or len(probe),
            reference=reference,
        )
        log.info("%s runs in %s (relative error %s)", self.device, self.dtype, self.errors)

    def take(self, numerics: str) -> None:
        """Run in the precision of ``numerics`` (another runner's :attr:`numerics`), unchosen."""
        precision = getattr(torch, numerics.rpartition(":")[2], None)
        if not isinstance(precision, torch.dtype):
            raise ValueError(f"no precision in {numerics!r}")
        with self._choosing:
            self.dtype, self._float32 = precision, None

    @property
    def numerics(self) -> str:
        """``<device type>:<precision>`` (once chosen), e.g. ``cuda:float16``."""
        return f"{self.device.type}:{str(self.dtype).removeprefix('torch.')}"

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (on the device) with zero images after it up to the batch size measured
        (``batch_size``), so that every call after it has one shape (``pad_images``)."""
        return pad_images(x, self._batch or 0)

    @torch.inference_mode()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features of ``x``, computed in a batch of the measured size (``_padded``)."""
        self.choose(x)
        n = x.shape[0]
        self._batch = max(self._batch or 0, n)  # none measured: the largest run, smaller padded
        x = self._padded(self._input(x))
        low = self.dtype != torch.float32
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=low):
            return self.module(x)[:n].float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).cpu()

    @torch.inference_mode()
    def batch_size(self, input_size: int) -> int:
        """Images per batch that fit the card (``batch_for_memory``), measured once."""
        if self.device.type != "cuda":
            self._batch = GPU_BATCH_RANGE[0]
        if self._batch is None:
            self._batch = self._fitting_batch(input_size)
        return self._batch

    def _fitting_batch(self, input_size: int) -> int:
        """Measured on zero images at the largest batch size (halved while the card runs out of
        memory), in the precision the check tries first: the shape and precision the pass most
        likely runs in, so that measuring sets up no kernels the pass does not use. Float32 takes
        about twice a half precision's bytes: the batch is sized for twice the bytes measured in
        one, so that a pass that falls back to float32 fits too."""
        dtype, size = first_low_precision(self.device), GPU_BATCH_RANGE[1]
        while True:
            try:
                peak = self._peak_bytes(size, input_size, dtype)
                break
            except torch.cuda.OutOfMemoryError:
                if size <= GPU_BATCH_RANGE[0]:
                    raise
            torch.cuda.empty_cache()  # out of the except block: the failed call's tensors are gone
            size //= 2
        per_image = peak / size * (2 if dtype != torch.float32 else 1)
        torch.cuda.empty_cache()  # the probe's bytes, cached, are free for the pass: count them
        free, _ = torch.cuda.mem_get_info(self.device)
        batch = min(size, batch_for_memory(free, per_image))
        log.info(
            "%s: %.1f MB per image in float32, batches of %d", self.device, per_image / 1e6, batch
        )
        return batch

    def _peak_bytes(self, size: int, input_size: int, dtype: torch.dtype) -> int:
        """The card's memory that ``size`` zero images in ``dtype`` take above what it held."""
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        base = torch.cuda.memory_allocated(self.device)
        x = self._input(torch.zeros(size, 3, input_size, input_size))
        with torch.autocast(self.device.type, dtype=dtype, enabled=dtype != torch.float32):
            self.module(x)
        return torch.cuda.max_memory_allocated(self.device) - base

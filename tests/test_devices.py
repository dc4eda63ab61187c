"""The device plumbing, tested on the CPU: which device each --device names (CUDA mocked), the
process group's backend and the device of its collectives' tensors, loader and batch settings, and
the float16/bfloat16 precision check (autocast runs on the CPU too)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from objrec import device_runner, image_facts, inference
from objrec.backbones import build_body, get_backbone
from objrec.checkpoint import load_model
from objrec.cores import (
    cgroup_cpu_limit,
    cpu_threads,
    limit_thread_pools,
    rank_threads,
    set_by_parent,
    usable_cores,
    wait_passively,
)
from objrec.device_runner import PRECISION_TOLERANCE, DeviceRunner, choose_precision, relative_error
from objrec.devices import (
    backend_for,
    batch_for_memory,
    loader_settings,
    resolve_device,
)
from objrec.distributed import World, process_group, share_cores, world_from_env
from objrec.engine import model_device, on_device
from objrec.errors import ObjrecError
from objrec.inference import Recognizer, resolve_runtime
from objrec.precision import bf16_matrix_unit
from objrec.run_files import BEST

from .conftest import CALTECH, fake_checkpoint, make_image

CPU, META = torch.device("cpu"), torch.device("meta")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.usefixtures("no_gpu")
def test_without_a_gpu_auto_is_the_cpu_and_cuda_is_a_clear_error():
    assert resolve_device("auto") == CPU
    assert resolve_device("cpu") == CPU
    for spec in ("cuda", "cuda:0"):
        with pytest.raises(ObjrecError, match=f"`device` {spec}: PyTorch sees no CUDA GPU"):
            resolve_device(spec)


@pytest.mark.usefixtures("two_gpus")
def test_with_gpus_auto_is_the_first_gpu_or_the_ranks_own():
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:1", local_rank=1) == torch.device("cuda", 1)


@pytest.mark.usefixtures("two_gpus")
def test_a_gpu_the_machine_lacks_or_not_the_ranks_own_is_refused():
    with pytest.raises(ObjrecError, match=r"has 2 GPU\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:2")
    with pytest.raises(ObjrecError, match="LOCAL_RANK"):
        resolve_device("cuda:0", local_rank=1)
    with pytest.raises(ObjrecError, match="must be auto, cpu, cuda or cuda:N, not 'gpu'"):
        resolve_device("gpu")


@pytest.mark.usefixtures("two_gpus")
@pytest.mark.parametrize("spec", ["auto", "cuda"])
def test_more_torchrun_ranks_than_gpus_are_told_so_not_blamed_on_device(spec):
    """review61b L1: a third rank on a machine of 2 GPUs was told "`device` auto: this machine
    has 2 GPU(s)", though it named no GPU: the cause is the processes started a machine."""
    with pytest.raises(ObjrecError) as refused:
        resolve_device(spec, local_rank=2)
    assert str(refused.value) == (
        "torchrun's rank of LOCAL_RANK 2 takes cuda:2, but this machine has 2 GPU(s): start at "
        "most 2 processes a machine (torchrun's --nproc-per-node), or use `device` cpu"
    )


def test_nccl_on_gpus_gloo_on_the_cpu():
    assert backend_for(torch.device("cuda", 3)) == "nccl"
    assert backend_for(CPU) == "gloo"


WAITS = object()
"""The gloo group that ``dist.new_group`` gives, as tests stand it in."""

HOURS_3 = timedelta(hours=3)
"""How long the ranks wait for each other by default (``OBJREC_TORCHRUN_TIMEOUT`` not set)."""


def _torchrun_env(monkeypatch, rank=1, size=2):
    for name, value in {
        "WORLD_SIZE": size,
        "RANK": rank,
        "LOCAL_RANK": rank,
        "LOCAL_WORLD_SIZE": size,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
    }.items():
        monkeypatch.setenv(name, str(value))
    calls = {}
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(
        dist,
        "init_process_group",
        lambda backend, **kwargs: calls.update(backend=backend, **kwargs),
    )
    monkeypatch.setattr(dist, "new_group", lambda **kwargs: calls.update(waits=kwargs) or WAITS)
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.update(destroyed=True))
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.update(set_device=device))
    return calls


@pytest.mark.usefixtures("two_gpus")
def test_under_torchrun_on_gpus_each_rank_takes_its_local_gpu_and_nccl(monkeypatch):
    calls = _torchrun_env(monkeypatch)
    with process_group("auto") as world:
        assert (world.rank, world.size, world.local_size) == (1, 2, 2)
        assert world.device == torch.device("cuda", 1) and world.waits is WAITS
    assert calls == {
        "backend": "nccl",
        "timeout": HOURS_3,
        "waits": {"backend": "gloo", "timeout": HOURS_3},  # beside NCCL's, for the waits
        "set_device": torch.device("cuda", 1),
        "destroyed": True,
    }


@pytest.mark.usefixtures("two_gpus")
def test_under_torchrun_device_cpu_is_gloo_even_on_a_gpu_machine(monkeypatch):
    calls = _torchrun_env(monkeypatch)
    with process_group("cpu") as world:
        assert world.device == CPU and world.waits is None  # the group itself
    assert calls == {"backend": "gloo", "timeout": HOURS_3, "destroyed": True}


@pytest.mark.usefixtures("no_gpu")
def test_torchrun_with_one_process_still_joins_a_group(monkeypatch):
    calls = _torchrun_env(monkeypatch, rank=0, size=1)
    with process_group("auto") as world:
        assert world.distributed and world.device == CPU and world.main
    assert calls == {"backend": "gloo", "timeout": HOURS_3, "destroyed": True}


@pytest.mark.usefixtures("no_gpu")
def test_the_ranks_wait_for_each_other_for_hours_or_as_long_as_objrec_torchrun_timeout_says(
    monkeypatch,
):
    """The group was made without a timeout: torch's 10 minutes for NCCL and 30 for gloo, which
    rank 0's work alone outlasts at scale (hashing every file of a first run, calibrating), and
    the other ranks then stopped a finished training with a timeout taken for a bug."""
    calls = _torchrun_env(monkeypatch)
    monkeypatch.setenv("OBJREC_TORCHRUN_TIMEOUT", "90.5")
    with process_group("cpu") as world:
        assert world.timeout == 90.5
    assert calls["timeout"] == timedelta(seconds=90.5)
    for wrong in ("0", "-3", "an hour", "inf", "1e10"):  # 1e10: torch's group fails
        monkeypatch.setenv("OBJREC_TORCHRUN_TIMEOUT", wrong)
        with pytest.raises(ObjrecError, match=rf"OBJREC_TORCHRUN_TIMEOUT is '{wrong}': give the "):
            world_from_env("cpu")
    monkeypatch.setenv("OBJREC_TORCHRUN_TIMEOUT", "")
    assert world_from_env("cpu").timeout == HOURS_3.total_seconds()


@pytest.mark.usefixtures("no_gpu")
def test_a_single_process_joins_no_group_but_has_its_device(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: pytest.fail("no group"))
    with process_group("auto") as world:
        assert not world.distributed and world.device == CPU


@pytest.mark.parametrize(
    ("unset", "named"),
    [
        (("RANK", "MASTER_ADDR", "MASTER_PORT"), "RANK, MASTER_ADDR and MASTER_PORT are not set"),
        (("MASTER_PORT",), "MASTER_PORT is not set"),
    ],
)
def test_world_size_without_the_rest_of_torchruns_variables_is_one_clear_error(
    monkeypatch, unset, named
):
    """WORLD_SIZE=2 alone gave a raw ValueError traceback from torch's env:// rendezvous."""
    _torchrun_env(monkeypatch)
    for name in unset:
        monkeypatch.delenv(name)
    with pytest.raises(ObjrecError, match=rf"WORLD_SIZE is 2, but {named}: .*torchrun"):
        world_from_env("cpu")


class Recorded(Exception):
    pass


def test_collectives_create_their_tensors_on_the_groups_device(monkeypatch):
    """NCCL takes only tensors on the rank's GPU: every collective's tensor is on world.device
    (here the meta device stands in for a GPU; the collective is stopped once it has the tensor)."""
    seen = []

    def record(tensor, *args, **kwargs):
        seen.append(tensor.device)
        raise Recorded

    monkeypatch.setattr(dist, "all_reduce", record)
    monkeypatch.setattr(dist, "broadcast", record)
    world = World(rank=0, size=2, device=META)
    with pytest.raises(Recorded):
        world.reduce_metrics({"loss": 1.0, "acc": 0.5, "n": 4})
    with pytest.raises(Recorded):
        world.decide(True)
    assert seen == [META, META]


def test_barrier_names_the_ranks_gpu_under_nccl(monkeypatch):
    calls = []
    monkeypatch.setattr(dist, "barrier", lambda **kwargs: calls.append(kwargs))
    World(rank=1, size=2, device=torch.device("cuda", 1)).barrier("x")
    World(rank=1, size=2).barrier("x")
    assert calls == [{"device_ids": [1]}, {}]


def test_under_nccl_the_ranks_wait_for_each_other_in_the_gloo_group_not_on_their_gpu(monkeypatch):
    """A rank waiting for rank 0's hashing or calibration sat in an NCCL collective on its GPU."""
    calls = []
    monkeypatch.setattr(dist, "barrier", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(dist, "broadcast_object_list", lambda box, **kwargs: calls.append(kwargs))
    world = World(rank=1, size=2, device=torch.device("cuda", 1), waits=WAITS)
    world.barrier("rank 0 hashing the test split")
    world.share(None, "rank 0 hashing 3 image files")
    assert calls == [{"group": WAITS}, {"src": 0, "group": WAITS, "device": CPU}]


@pytest.mark.slow
def test_a_wait_as_long_as_the_timeout_says_what_it_waited_for(monkeypatch):
    """The rank that gave up said "objrec train stopped on an error objrec did not expect, a bug:
    RuntimeError: ... Timed out waiting 15000ms for recv"; torchrun then stopped rank 0 while it
    calibrated. An error before the timeout is left as it is."""

    def timed_out(**kwargs):
        time.sleep(0.3)
        raise RuntimeError("[gloo] Timed out waiting 250ms for recv operation to complete")

    def failed_at_once(**kwargs):
        raise RuntimeError("[gloo] Timed out waiting 60000ms for recv operation to complete")

    monkeypatch.setattr(dist, "barrier", timed_out)
    world = World(rank=1, size=2, timeout=0.25)
    with pytest.raises(ObjrecError) as said:
        world.barrier("rank 0 calibrating and writing the run")
    assert re.fullmatch(
        r"this rank waited \d+\.\ds for rank 0 calibrating and writing the run, as long as "
        r"OBJREC_TORCHRUN_TIMEOUT \(0\.25 seconds\) lets the ranks wait for each other: set it "
        r"higher where torchrun starts, OBJREC_TORCHRUN_TIMEOUT=1 for four times as long",
        str(said.value),
    )
    monkeypatch.setattr(dist, "barrier", failed_at_once)  # no wait: the error came first
    with pytest.raises(RuntimeError, match="Timed out"):
        replace(world, timeout=60.0).barrier("rank 0 calibrating and writing the run")


def test_metrics_are_reduced_on_cpu_as_before(monkeypatch):
    monkeypatch.setattr(dist, "all_reduce", lambda t: t.mul_(2))  # two identical ranks
    reduced = World(rank=0, size=2).reduce_metrics({"loss": 1.5, "acc": 0.25, "n": 4})
    assert reduced == {"loss": 1.5, "acc": 0.25, "n": 8}


def test_loader_settings_keep_the_cpu_as_it_was_and_feed_a_gpu(monkeypatch):
    monkeypatch.setattr("objrec.devices.usable_cores", lambda: 16)
    gpu = torch.device("cuda", 0)
    assert loader_settings(CPU) == loader_settings(CPU, 0)
    assert (loader_settings(CPU).num_workers, loader_settings(CPU).pin_memory) == (0, False)
    assert (loader_settings(gpu).num_workers, loader_settings(gpu).pin_memory) == (15, True)
    assert loader_settings(gpu, ranks_here=8).num_workers == 2
    assert loader_settings(gpu, 3).num_workers == 3
    assert loader_settings(CPU, 3).num_workers == 3


def test_batches_are_sized_to_the_free_memory_within_bounds():
    mb = 1e6
    assert batch_for_memory(140_000 * mb, 10 * mb) == 128  # a large card: the host-memory cap
    assert batch_for_memory(2_000 * mb, 10 * mb) == 64  # 100 fit in half: 64
    assert batch_for_memory(200 * mb, 10 * mb) == 16  # fewer than 16 fit: the floor
    assert batch_for_memory(4_000 * mb, 10 * mb, fraction=0.25) == 64


def test_batches_move_to_the_models_device():
    head = nn.Linear(3, 2)
    assert model_device(head) == CPU and model_device(nn.ReLU()) == CPU
    x, y = torch.ones(2, 3), torch.zeros(2, dtype=torch.long)
    ((bx, by),) = list(on_device([(x, y)], META))
    assert bx.device == META and by.device == META


@pytest.mark.usefixtures("two_gpus")
def test_onnx_runtime_is_for_the_cpu_only():
    gpu = torch.device("cuda", 0)
    assert resolve_runtime(None, CPU, default="onnx") == "onnx"
    assert resolve_runtime("torch", CPU, default="onnx") == "torch"
    assert resolve_runtime(None, gpu, default="onnx") == "torch"
    with pytest.raises(ObjrecError, match="`runtime` onnx runs on the CPU only"):
        resolve_runtime("onnx", gpu)


def tiny_body() -> nn.Module:
    torch.manual_seed(0)
    return build_body(get_backbone("tiny_test"), pretrained=False).eval()


def test_the_precision_probe_builds_no_graph_for_a_module_that_trains():
    """The probe runs the body at the working batch (up to 128 images on a card): a body whose
    weights train would keep every activation for a backward pass no one makes. Each layer's
    output is seen by a hook: none has a gradient function, float32 and autocast alike."""
    body = build_body(get_backbone("tiny_test"), pretrained=False).requires_grad_(True)
    runner = DeviceRunner(body, CPU)
    seen: list[bool] = []
    for layer in runner.module.modules():
        layer.register_forward_hook(lambda m, i, out: seen.append(out.requires_grad))
    runner.choose(torch.randn(4, 3, 32, 32))
    assert seen and not any(seen)
    assert all(p.requires_grad for p in runner.module.parameters())  # it would have built one


def test_precision_is_low_within_the_tolerance_and_float32_beyond_it():
    body, x = tiny_body(), torch.randn(4, 3, 32, 32)
    dtype, errors = choose_precision(body, x)
    assert dtype == torch.float16  # the first candidate, within tolerance on CPU autocast
    assert 0 < errors["float16"] <= PRECISION_TOLERANCE
    dtype, errors = choose_precision(body, x, tolerance=0.0)
    assert dtype == torch.float32
    assert set(errors) == {"float16", "bfloat16"} and min(errors.values()) > 0


def test_device_runner_leaves_the_model_alone_and_returns_float32_on_the_cpu():
    body = tiny_body()
    before = {k: v.clone() for k, v in body.state_dict().items()}
    runner = DeviceRunner(body, CPU)  # the GPU path, run on the CPU
    x = torch.randn(4, 3, 32, 32)
    out = runner(x)
    assert runner.dtype == torch.float16 and out.dtype == torch.float32
    with torch.inference_mode():
        assert relative_error(out, body(x)) <= PRECISION_TOLERANCE
    assert runner.module is not body
    assert all(torch.equal(v, before[k]) for k, v in body.state_dict().items())
    assert next(iter(runner.module.parameters())).is_contiguous(memory_format=torch.channels_last)


class HostTensors(TorchDispatchMode):
    """Counts the bytes of the new tensors that operators make in host memory (outputs that
    share no storage with their inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if is_t(t)}
        for t in tree_leaves(out):
            if is_t(t) and t.device.type == "cpu" and t.untyped_storage().data_ptr() not in inputs:
                self.bytes += t.untyped_storage().nbytes()
        return out


def is_t(value) -> bool:
    return isinstance(value, torch.Tensor)


def test_the_precision_check_of_a_float32_body_uses_the_body_itself_not_a_copy():
    """The runner kept a copy of the body on the CPU for the precision check's float32 reference
    until its first batch (all through evaluate, whose recognizer runs none on the card): a body's
    bytes of host memory (1.2 GB for a ViT-L). A body in float32 and eval mode (a frozen body, a
    loaded model) is now used as it is; any other is copied, never changed. The meta device
    stands in for the card: it holds no bytes anywhere."""
    body = tiny_body()
    runner = DeviceRunner(body, META)
    assert runner._float32 is body and all(p.is_meta for p in runner.module.parameters())
    trains = tiny_body().train()
    copied = DeviceRunner(trains, META)._float32
    assert copied is not None and copied is not trains and not copied.training and trains.training


@pytest.mark.slow
def test_a_runner_for_a_card_makes_no_tensor_in_host_memory():
    """Nor is the card's copy first made whole on the CPU (``copy.deepcopy(body).to(card)``, a
    body's bytes more until moved): each tensor is copied to the card directly. Slow: the first
    dispatch mode imports the compiler's modules (seconds)."""
    body = tiny_body()
    with HostTensors() as made:
        DeviceRunner(body, META)
    assert made.bytes == 0


def test_a_recognizer_on_a_card_builds_its_runner_at_its_first_image_not_before(
    trained_once, monkeypatch
):
    """``evaluate`` on a GPU held the body on the card twice: its recognizer built a runner (a
    copy on the card) that it never ran, its answers coming from the frozen pass's features. The
    runner is now built at the first image (``predict``; ``serve``'s warm-up), once. The meta
    device stands in for the card; the runner built runs on the CPU."""
    built: list[torch.device] = []

    def counted(body: nn.Module, device: torch.device) -> DeviceRunner:
        built.append(device)
        return DeviceRunner(body, CPU)  # the GPU path, run on the CPU

    monkeypatch.setattr(inference, "DeviceRunner", counted)
    model, meta = load_model(trained_once / BEST)
    recognizer = Recognizer(model, meta, device=META)
    assert built == []
    recognizer._head, recognizer._familiarity = model.head, model.familiarity  # off the meta device
    x = torch.randn(2, 3, meta.data.input_size, meta.data.input_size)
    with torch.inference_mode():
        recognizer.answer_from_features([model.body(x)])  # evaluate's way: from features
    assert built == []
    recognizer.warm_up()
    recognizer.logits(x)
    assert built == [META]


def test_device_runner_runs_a_short_batch_padded_to_the_measured_size():
    """A pass's last, smaller batch runs at the measured batch size, zero images after it, so that
    the card meets one input shape a process; the features of the real images are unchanged."""
    runner, x = DeviceRunner(tiny_body(), CPU), torch.randn(3, 3, 32, 32)
    size = runner.batch_size(32)
    seen: list[int] = []
    runner.module.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[0]))
    out = runner(x)
    assert out.shape[0] == 3 and seen[-1] == size > 3
    with torch.inference_mode(), torch.autocast("cpu", dtype=runner.dtype):
        alone = runner.module(x.contiguous(memory_format=torch.channels_last)).float()
    assert torch.allclose(out, alone, atol=1e-3)
    assert runner(torch.randn(size, 3, 32, 32)).shape[0] == size and seen[-1] == size


def test_the_low_precisions_are_tried_at_the_working_batch_size_with_the_same_outcome():
    """Given the working batch size, the candidates run on the probe padded with zero images to
    it (the shape the pass runs in), float32 on the probe alone; the padding changes neither the
    precision chosen nor its error (no operator mixes a batch's images in eval mode)."""
    body, x = tiny_body(), torch.randn(5, 3, 32, 32)
    seen: list[int] = []
    body.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[0]))
    alone = choose_precision(body, x)
    seen.clear()
    padded = choose_precision(body, x, batch=16)
    assert seen == [5, 16]  # float32 on the probe, float16 (within tolerance) at the batch size
    assert padded[0] == alone[0] == torch.float16
    assert padded[1]["float16"] == pytest.approx(alone[1]["float16"], rel=1e-3)


def cuda_like(body: nn.Module, monkeypatch, per_image_mb=10, free_mb=400) -> DeviceRunner:
    """A ``DeviceRunner`` that takes its GPU branches (the memory probe, autocast for ``cuda``)
    and computes on the CPU: the card's memory figures are made up (``free_mb`` free; the probe's
    128 half-precision images take half of float32's ``per_image_mb`` each: by default 16 images
    of float32 fit in half the free memory, batches of 16)."""
    runner = DeviceRunner(body, CPU)
    runner.device = torch.device("cuda", 0)
    runner._input = lambda x: x.contiguous(memory_format=torch.channels_last)  # type: ignore[method-assign]
    mb = 1_000_000
    fakes = {
        "synchronize": lambda device=None: None,
        "reset_peak_memory_stats": lambda device=None: None,
        "empty_cache": lambda: None,
        "memory_allocated": lambda device=None: 0,
        "max_memory_allocated": lambda device=None: 128 * per_image_mb * mb // 2,
        "mem_get_info": lambda device=None: (free_mb * mb, 2 * free_mb * mb),
    }
    for name, fake in fakes.items():
        monkeypatch.setattr(torch.cuda, name, fake)
    # autocast for cuda on: it only marks the state (read by the test), the CPU computes float32
    monkeypatch.setattr(torch.cuda.amp.common, "amp_definitely_not_available", lambda: False)
    return runner


def shapes_met(runner: DeviceRunner) -> list[tuple[torch.dtype, int]]:
    """The (precision, batch size) of each call of the card's copy of the body, as it comes."""
    met: list[tuple[torch.dtype, int]] = []

    def record(_module, args):  # the precision check's autocast is the input's device's, the CPU
        low = [torch.get_autocast_dtype(d) for d in ("cuda", "cpu") if torch.is_autocast_enabled(d)]
        met.append(((low or [torch.float32])[0], len(args[0])))

    runner.module.register_forward_pre_hook(record)
    return met


def gpu_pass(tmp_path, monkeypatch, per_class: int, free_mb: int):
    """A frozen pass over ``per_class`` x 3 images through a ``cuda_like`` runner: its table and
    the shapes the card's copy of the body met."""
    from objrec.cache import FeatureCache
    from objrec.data import scan_class_folder
    from objrec.features import feature_table
    from objrec.frozen import FrozenBody
    from objrec.views import ViewSpec

    from .conftest import make_class_folder

    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=per_class)).samples
    data = get_backbone("tiny_test").data_config
    body = FrozenBody(tiny_body(), data.input_size, FeatureCache(tmp_path / "cache"), "torch")
    body.device = torch.device("cuda", 0)
    body._runner = runner = cuda_like(body.body, monkeypatch, free_mb=free_mb)
    met = shapes_met(runner)
    try:
        table = feature_table(body, samples, ViewSpec(data))
    finally:
        body.cache.close()
    assert table.computed == len(samples) and runner.dtype == torch.float16
    return met


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_a_pass_on_a_large_gpu_meets_one_shape_float16_at_the_batch_size(tmp_path, monkeypatch):
    """Each (precision, batch size) the body meets costs seconds on its first call on an H200
    (cuDNN compiling kernels: docs/scaling.md). A frozen pass over 21 images on a card where 128
    images fit meets one: float16 at 128 (the memory probe, the precision check's candidate,
    every batch padded). The float32 reference is computed on the CPU. Before: float32 at the
    8-image memory probe and the reference too, seconds more a process."""
    met = gpu_pass(tmp_path, monkeypatch, per_class=7, free_mb=4_000)
    assert set(met) == {(torch.float16, 128)}, met


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
def test_a_small_gpu_measures_at_128_then_runs_the_batch_that_fits(tmp_path, monkeypatch):
    """Where 128 images do not fit half the card, the pass runs at the size that does (16 here),
    and a probe of fewer than 8 readable images adds no shape of its own."""
    met = gpu_pass(tmp_path, monkeypatch, per_class=2, free_mb=400)
    assert met[0] == (torch.float16, 128) and set(met[1:]) == {(torch.float16, 16)}, met
    net, x = tiny_body(), torch.randn(5, 3, 32, 32)  # the same error as unpadded
    padded = choose_precision(net, x, batch=16)[1]["float16"]
    assert padded == pytest.approx(choose_precision(net, x)[1]["float16"], rel=1e-3)


def test_the_memory_probe_halves_its_batch_while_the_card_runs_out_of_memory(monkeypatch):
    runner = cuda_like(tiny_body(), monkeypatch, free_mb=100_000)
    met = shapes_met(runner)

    def out_of_memory(_module, args):
        if len(args[0]) > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    runner.module.register_forward_pre_hook(out_of_memory)
    assert runner.batch_size(32) == 32
    assert [n for _, n in met] == [128, 64, 32]


def test_the_memory_probe_s_own_cached_bytes_count_as_free(monkeypatch):
    """The probe's 128 images leave their bytes in PyTorch's cache, which the card's free memory
    (``mem_get_info``) does not count until the cache is emptied: read before, a card where 128
    images fit half its free memory (2,600 MB, 10 MB an image in float32) got batches of 64."""
    mb, cached = 1_000_000, [0]
    runner = cuda_like(tiny_body(), monkeypatch, per_image_mb=10)

    def probe_cached(_module, _args):
        cached[0] = 128 * 10 * mb // 2  # the probe's peak, kept by the cache once it is done

    runner.module.register_forward_pre_hook(probe_cached)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: cached.__setitem__(0, 0))
    monkeypatch.setattr(
        torch.cuda, "mem_get_info", lambda device=None: (2_600 * mb - cached[0], 8_000 * mb)
    )
    assert runner.batch_size(32) == 128


def test_the_precision_check_runs_only_the_candidates_on_the_card():
    """The float32 reference comes from the CPU: the card's copy of the body runs float16 alone
    (within the tolerance), where it ran float32 first, a shape of its own on a GPU."""
    runner = DeviceRunner(tiny_body(), CPU)
    met = shapes_met(runner)
    x = torch.randn(4, 3, 32, 32)
    assert runner.choose(x) == torch.float16 and met == [(torch.float16, 4)]
    assert runner.errors["float16"] == choose_precision(tiny_body(), x)[1]["float16"]


def test_without_a_measured_batch_size_later_batches_are_padded_to_the_first():
    """``predict`` and ``serve`` never measure a batch size: the first batch's size is the one
    later, smaller batches run at (predict's last batch), so the card meets one shape."""
    runner = DeviceRunner(tiny_body(), CPU)
    met = shapes_met(runner)
    first, last = torch.randn(6, 3, 32, 32), torch.randn(2, 3, 32, 32)
    runner(first)
    out = runner(last)
    assert out.shape[0] == 2 and [n for _, n in met] == [6, 6, 6]  # the check, first, last
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.float16):
        alone = runner.module(last.contiguous(memory_format=torch.channels_last)).float()
    assert torch.allclose(out, alone, atol=1e-3)


class WatchedLock:
    """A lock that says when a thread had to wait for it (``waited``)."""

    def __init__(self) -> None:
        self.lock, self.waited = threading.Lock(), threading.Event()

    def __enter__(self) -> WatchedLock:
        if not self.lock.acquire(blocking=False):
            self.waited.set()
            self.lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()


def test_two_threads_sending_the_first_batch_at_once_share_one_precision_choice(monkeypatch):
    """The second thread found the float32 reference taken by the first, whose choice was not yet
    made, and failed (``assert self._float32 is not None``). The first thread's choice is held
    until the second has either failed (before) or waits for it (the lock, watched)."""
    runner, x = DeviceRunner(tiny_body(), CPU), torch.randn(2, 3, 32, 32)
    runner._choosing = watched = WatchedLock()  # type: ignore[assignment]
    inside, release, calls = threading.Event(), threading.Event(), []

    def held(*args, **kwargs):
        calls.append(1)
        inside.set()
        release.wait(timeout=10)
        return choose_precision(*args, **kwargs)

    monkeypatch.setattr(device_runner, "choose_precision", held)
    chosen: list[object] = []

    def first_batch() -> None:
        try:
            chosen.append(runner.choose(x))
        except Exception as exc:  # what the thread met is the test's result
            chosen.append(exc)

    first = threading.Thread(target=first_batch)
    first.start()
    assert inside.wait(timeout=10)
    second = threading.Thread(target=first_batch)
    second.start()
    while second.is_alive() and not watched.waited.is_set():
        time.sleep(0.001)
    release.set()
    first.join(timeout=10), second.join(timeout=10)
    assert chosen == [torch.float16, torch.float16] and calls == [1]


def test_two_threads_making_a_recognizer_s_first_call_on_a_card_build_one_runner(
    trained_once, monkeypatch
):
    """Built at the first call, the runner is built once when two threads make theirs at once:
    the first thread's build is held until the second waits for it (the lock, watched)."""
    inside, release, built = threading.Event(), threading.Event(), []

    def held(body: nn.Module, device: torch.device) -> DeviceRunner:
        built.append(device)
        inside.set()
        release.wait(timeout=10)
        return DeviceRunner(body, CPU)

    monkeypatch.setattr(inference, "DeviceRunner", held)
    model, meta = load_model(trained_once / BEST)
    recognizer = Recognizer(model, meta, device=META)
    recognizer._building = watched = WatchedLock()  # type: ignore[assignment]
    runners: list[DeviceRunner] = []
    threads = [threading.Thread(target=lambda: runners.append(recognizer._device_body()))]
    threads[0].start()
    assert inside.wait(timeout=10)
    threads.append(threading.Thread(target=lambda: runners.append(recognizer._device_body())))
    threads[1].start()
    while threads[1].is_alive() and not watched.waited.is_set():
        time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert built == [META] and len(runners) == 2 and runners[0] is runners[1]


@pytest.mark.slow
@pytest.mark.skipif(
    not CALTECH.is_dir(), reason=f"needs {CALTECH} (OBJREC_TEST_SHARED names its folder)"
)
def test_real_lite0_features_are_computed_in_float16_within_the_tolerance():
    """On real photos the default's first body keeps float16 within the tolerance (on the CPU);
    bfloat16, with 8 bits of mantissa against 11, is measured beyond it and never chosen first."""
    from objrec.data import scan_class_folder
    from objrec.loaders import ImageDataset
    from objrec.transforms import build_transforms

    spec = get_backbone("efficientnet_lite0")
    body = build_body(spec).eval()
    folder = scan_class_folder(CALTECH)
    samples = [folder.samples[i] for i in range(0, len(folder.samples), len(folder.samples) // 8)]
    dataset = ImageDataset(samples, build_transforms(spec.data_config, train=False))
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    dtype, errors = choose_precision(body, x)
    assert dtype == torch.float16 and errors["float16"] <= PRECISION_TOLERANCE
    _, both = choose_precision(body, x, tolerance=0.0)
    assert both["bfloat16"] > PRECISION_TOLERANCE > both["float16"]


@pytest.mark.usefixtures("no_gpu")
def test_the_cli_refuses_cuda_without_a_gpu_in_one_sentence_naming_the_option(tmp_path, capsys):
    """Said once there is an image to predict, before the model file is read (predict of
    missing files alone says so without loading PyTorch)."""
    from objrec.cli import main

    fake_checkpoint(tmp_path / "model.safetensors")  # not read: the device is refused first
    make_image((200, 30, 30)).save(tmp_path / "red.png")
    args = ["predict", str(tmp_path), str(tmp_path / "red.png"), "--device", "cuda:1"]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "--device cuda:1: PyTorch sees no CUDA GPU here" in err
    assert "Traceback" not in err


def test_bf16_matrix_instructions_are_read_from_the_cpus_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    onednn = torch.backends.mkldnn.is_available()
    cpuinfo.write_text("flags\t\t: fpu avx2 avx512f avx512_vnni amx_tile amx_int8\n")
    assert bf16_matrix_unit(cpuinfo) is None  # 8-bit dot products and tiles, but no bfloat16
    amd = "flags\t\t: fpu avx512f avx512_vnni avx512_bf16\n"  # the AMD EPYC of benchmarks/README
    cpuinfo.write_text(amd)
    assert bf16_matrix_unit(cpuinfo) == ("avx512_bf16" if onednn else None)
    cpuinfo.write_text("flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n")
    assert bf16_matrix_unit(cpuinfo) == ("amx_bf16" if onednn else None)  # the tiles named first
    cpuinfo.write_text("flags\t\t: fpu avx512f amx_bf16_extra\n")
    assert bf16_matrix_unit(cpuinfo) is None  # whole flags only
    assert bf16_matrix_unit(tmp_path / "missing") is None


def fake_cgroup(root, membership: str, files: dict[str, str]):
    """A cgroup tree under ``root``: ``membership`` as /proc/self/cgroup reads, ``files`` by path."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "self-cgroup").write_text(membership)
    return root, root / "self-cgroup"


def test_the_cgroup_quota_is_the_least_of_a_cgroup_and_those_above_it(tmp_path):
    v2 = {"cpu.max": "max 100000\n", "job/cpu.max": "250000 100000\n", "job/a/cpu.max": "max 1"}
    assert cgroup_cpu_limit(*fake_cgroup(tmp_path / "v2", "0::/job/a\n", v2)) == 3
    v1 = {"cpu,cpuacct/cpu.cfs_quota_us": "100000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}
    # a container sees its own cgroup at the root, whatever path /proc/self/cgroup names
    membership = "4:memory:/docker/x\n3:cpu,cpuacct:/docker/x\n0::/\n"
    assert cgroup_cpu_limit(*fake_cgroup(tmp_path / "v1", membership, v1)) == 1
    # CentOS 7 names the hierarchy cpuacct,cpu and mounts cpu,cpuacct, with a link cpu to it
    centos = fake_cgroup(tmp_path / "c7", "3:cpuacct,cpu:/system.slice/docker-x.scope\n", v1)
    (tmp_path / "c7" / "cpu").symlink_to("cpu,cpuacct")
    assert cgroup_cpu_limit(*centos) == 1
    none = {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000", "cpu.max": "max 1"}
    assert cgroup_cpu_limit(*fake_cgroup(tmp_path / "no", "1:cpu:/\n0::/\n", none)) is None
    assert cgroup_cpu_limit(tmp_path, tmp_path / "not-linux") is None


@pytest.fixture
def eight_cores_quota_two(tmp_path, monkeypatch):
    """A container on 8 cores with a quota of 2 (``docker run --cpus 2``)."""
    root, membership = fake_cgroup(tmp_path, "0::/\n", {"cpu.max": "200000 100000\n"})
    monkeypatch.setattr("objrec.cores.CGROUP_ROOT", root)
    monkeypatch.setattr("objrec.cores.PROC_SELF_CGROUP", membership)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)


def test_workers_and_threads_follow_the_cgroup_quota(eight_cores_quota_two, monkeypatch):
    assert usable_cores() == 2
    assert loader_settings(torch.device("cuda", 0)).num_workers == 2  # 7 before
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert cpu_threads() == 2
    environ = {"PATH": "/bin"}
    assert limit_thread_pools(environ) == 2
    assert environ["OMP_NUM_THREADS"] == environ["OPENBLAS_NUM_THREADS"] == "2"
    users = {"OMP_NUM_THREADS": "4"}
    assert limit_thread_pools(users) is None and users == {"OMP_NUM_THREADS": "4"}


def test_split_measures_images_on_as_many_processes_as_the_quota_allows(
    eight_cores_quota_two, monkeypatch
):
    from objrec import processes

    started = []
    monkeypatch.setattr(processes, "in_processes", lambda w, p, f, n, d: started.append(n) or [])
    image_facts.all_facts([Path("x.jpg")] * processes.PROCESS_MIN)
    assert started == [2]


GPU_IMAGE_LACKS = (
    "imagehash",
    "pywt",
    "openvino",
    "fastapi",
    "starlette",
    "uvicorn",
    "multipart",
    "python_multipart",
    "cleanlab",
    "pillow_heif",
)
"""objrec's dependencies that a GPU machine's image holding PyTorch, ONNX Runtime and the
scientific stack may lack (the one ``benchmarks/gpu_check.py`` was prepared for did)."""


@pytest.mark.slow  # a new process, forked from one that imported torch
def test_train_and_evaluate_import_without_the_packages_a_gpu_image_may_lack(preloaded_python):
    """`objrec train` failed at its first import on such an image: features imported dedup,
    which imported imagehash at module level, for the perceptual hashes only split, audit and
    evaluate's grouping of images no manifest records compute."""
    code = f"""
import sys
for name in {GPU_IMAGE_LACKS!r}:
    sys.modules[name] = None  # importing it now fails, as where it is not installed
import objrec.cli.training, objrec.cli.evaluation, objrec.train, objrec.evaluate, objrec.features
from objrec.runtime import openvino_available
assert not openvino_available()
"""
    done = preloaded_python.run(code)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_ctrl_c_under_torchrun_says_its_stored_features_are_this_process_s(
    monkeypatch, tmp_path, split_dir
):
    """Under torchrun, Ctrl-C before the head's first epoch ended said "the features of the 7
    image views computed so far are in the store" (or "no features were stored yet") from rank
    0's own count, though each rank stores its share itself. Summing over the ranks would take a
    collective at interruption, which can wait for ever on a rank gone or inside another: the
    sentence says whose count it is, and that the other ranks' features are there too."""
    import importlib

    from objrec.cache import open_cache
    from objrec.errors import Interrupted
    from objrec.train import train

    from .conftest import tiny_train_config

    _torchrun_env(monkeypatch, rank=0, size=2)
    # no process group: rank 0's broadcast (its settled precisions, 527fc31) leaves its own value
    monkeypatch.setattr(dist, "broadcast_object_list", lambda box, **kwargs: None)
    module = importlib.import_module("objrec.train")  # `objrec.train`: the function
    config = tiny_train_config(cache_dir=str(tmp_path / "cache"))
    said = []
    for rows in (7, 0):

        def ctrl_c_after_storing(data_dir, config, *args, rows=rows, **kwargs):
            open_cache(config.cache_dir).store.rows_written += rows  # this rank's share so far
            raise KeyboardInterrupt

        monkeypatch.setattr(module, "prepare", ctrl_c_after_storing)
        with pytest.raises(Interrupted) as caught:
            train(split_dir, tmp_path / f"run{rows}", config, device="cpu")
        said.append(str(caught.value).split("nothing of the run was saved")[1])
    assert said == [
        ", but the features of the 7 image views this process (rank 0 of 2) computed so far are "
        "in the store, with those of the other ranks, so the same command starts again from them",
        "; this process (rank 0 of 2) had stored no features yet, and those the other ranks "
        "computed so far, if any, are in the store",
    ]


def test_the_float32_reference_of_a_large_first_batch_runs_on_8_images_only():
    """predict's first batch (32 images) was all computed in float32 on the CPU for the check:
    seconds for a large backbone. The reference now takes its first 8; the candidate still runs
    at the batch's size on the card (the shape the batch then runs in)."""
    runner = DeviceRunner(tiny_body(), CPU)
    assert runner._float32 is not None
    seen: list[int] = []
    runner._float32.register_forward_pre_hook(lambda _m, args: seen.append(len(args[0])))
    met = shapes_met(runner)
    runner(torch.randn(20, 3, 32, 32))
    assert seen == [8] and [n for _, n in met] == [20, 20]


def test_without_a_measured_batch_size_a_larger_batch_sets_the_size_later_ones_are_padded_to():
    """predict's first batch is the readable images of its first 32 files: 2 when 30 of them
    cannot be read. Its later batches of 32 then ran at 32, and its last (3) at 3, a third shape
    on the card; the size padded to is now the largest batch run, so the last runs at 32."""
    runner = DeviceRunner(tiny_body(), CPU)
    met = shapes_met(runner)
    for n in (2, 6, 3):
        assert runner(torch.randn(n, 3, 32, 32)).shape[0] == n
    assert [n for _, n in met] == [2, 2, 6, 6]  # the check, then each batch


def test_a_torchrun_rank_takes_its_share_of_the_cores_where_torchrun_chose_one_thread(
    tmp_path, monkeypatch
):
    """review61b L2: torchrun sets OMP_NUM_THREADS=1 for each process where it starts more than
    one a machine and the variable is not set, and the CPU engines took PyTorch's count: 2 CPU
    ranks on 16 cores used 2 of them. A rank takes its share of the cores, the user's own
    OMP_NUM_THREADS kept (torchrun's launcher was started with it)."""
    import os

    monkeypatch.setattr("objrec.cores.usable_cores", lambda: 16)
    torchrun = {"TORCHELASTIC_RUN_ID": "none", "OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "2"}
    assert rank_threads(torchrun, lambda name: True) == 8
    assert rank_threads({**torchrun, "LOCAL_WORLD_SIZE": "32"}, lambda name: True) == 1
    assert rank_threads(torchrun, lambda name: False) is None  # the user's own 1
    assert rank_threads({**torchrun, "OMP_NUM_THREADS": "4"}, lambda name: True) is None
    no_agent = {"OMP_NUM_THREADS": "1", "LOCAL_WORLD_SIZE": "2"}
    assert rank_threads(no_agent, lambda name: True) is None
    parent = tmp_path / str(os.getppid())  # as /proc/PPID/environ reads
    parent.mkdir()
    (parent / "environ").write_bytes(b"PATH=/bin\0HOME=/root\0")
    assert set_by_parent("OMP_NUM_THREADS", tmp_path)
    (parent / "environ").write_bytes(b"PATH=/bin\0OMP_NUM_THREADS=1\0")
    assert not set_by_parent("OMP_NUM_THREADS", tmp_path)
    assert not set_by_parent("OMP_NUM_THREADS", tmp_path / "not-linux")
    for name, value in torchrun.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("objrec.cores.set_by_parent", lambda name: True)
    threads = torch.get_num_threads()
    try:
        assert share_cores(World(rank=1, size=2, local_size=2)) == 8
        assert torch.get_num_threads() == cpu_threads() == 8
    finally:
        torch.set_num_threads(threads)


def test_idle_threads_sleep_unless_the_user_says_otherwise():
    environ = {"PATH": "/bin"}
    assert wait_passively(environ) == ["OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT"]
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
    users = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert wait_passively(users) == ["OPENBLAS_THREAD_TIMEOUT"]
    assert users["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.slow
def test_the_program_sets_the_wait_policy_before_pytorch_starts_its_threads():
    code = (
        "import os, sys; sys.argv = ['objrec', '--version']\n"
        "from objrec.cli import main\n"
        "imported = 'torch' in sys.modules\n"
        "main()\n"
        "print(os.environ['OMP_WAIT_POLICY'], imported)\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[-2:] == ["PASSIVE", "False"]  # set before torch is imported


def test_a_torchrun_rank_takes_rank_0_s_precision_rather_than_choosing_its_own(tmp_path):
    """On GPUs each rank chose its precision on its own probe (review56a L2): two ranks near the
    tolerance, or on different cards, keyed different spaces of the store and each found the
    others' shares missing. Rank 1 here takes rank 0's bfloat16 (its own choice is float16, as
    the test above shows) and never probes."""
    from objrec.cache import FeatureCache
    from objrec.distributed import World
    from objrec.features import agreed_numerics
    from objrec.frozen import FrozenBody

    class Rank1(World):
        def share(self, value, doing):
            return "cpu:bfloat16"  # rank 0's choice

    body = FrozenBody(tiny_body(), 32, FeatureCache(tmp_path / "cache"), "torch")
    body._runner = runner = DeviceRunner(body.body, CPU)  # the GPU path, run on the CPU
    runner.choose = lambda probe: pytest.fail("rank 1 chose its own precision")
    data = get_backbone("tiny_test").data_config
    assert agreed_numerics(body, [], data, Rank1(rank=1, size=2)) == "cpu:bfloat16"
    assert runner.dtype == torch.bfloat16

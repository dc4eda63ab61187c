"""Fast inference for a frozen module: on the CPU, ONNX Runtime when it agrees with PyTorch, else
eager PyTorch; on a GPU, PyTorch on the card in the lowest precision that keeps its outputs close.

On this kind of machine ONNX Runtime runs EfficientNet-Lite0 about five times faster than eager
PyTorch (see ``benchmarks/frozen_pass.py``). The exported graph is cached by the module's
fingerprint, and every new session is checked against PyTorch on a sample batch: if the outputs
differ by more than ``TOLERANCE`` or anything fails, objrec logs why and uses eager PyTorch.

On a GPU (``DeviceRunner``) the module runs channels-last under autocast in float16 or bfloat16
when, on a probe batch of real images (the first batch, unless ``choose`` was given one before),
that precision's outputs stay within ``PRECISION_TOLERANCE`` of float32's; else in float32.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import importlib.util
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from objrec.cache import use_marker
from objrec.cores import cpu_threads
from objrec.devices import GPU_BATCH_RANGE, batch_for_memory
from objrec.errors import WORK_IN_HAND
from objrec.locks import COMPILE_WAIT, compiling_into, held_folder
from objrec.outputs import staged

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
BACKENDS = ("auto", "onnx", "torch")
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
STATIC_FORMAT = 1
"""The version of how :meth:`OpenVinoModel.static` builds the graph saved in the compiled-graph
folder, part of its name (:func:`static_key`). Bump it whenever ``static()`` changes what it
builds: a graph saved by the earlier code is then saved again, not compiled as if it were new."""


Runner = Callable[[torch.Tensor], torch.Tensor]


# The exporter's own notes (e.g. "Constant folding - Only steps=1 ...") mean nothing to a user. They
# are filtered here once, not only inside ``export_onnx``'s ``catch_warnings``: that context manager
# is not thread-safe, and the image-decoding thread entering and leaving its own one while an export
# runs restores the filters without the "ignore" (seen on Caltech-101 runs).
warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx")


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def export_onnx(
    module: nn.Module,
    path: Path,
    input_size: int,
    opset: int = 17,
    sample_shape: tuple[int, ...] | None = None,
    output_names: Sequence[str] = ("output",),
) -> Path:
    """Export ``module`` (eval mode) with a dynamic batch axis, atomically; its input is an image
    batch of ``input_size`` pixels square unless ``sample_shape`` gives another (without batch)."""
    sample = torch.randn(2, *(sample_shape or (3, input_size, input_size)))
    module = module.eval()
    with staged(Path(path)) as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (sample,),
            str(tmp),
            input_names=["input"],
            output_names=list(output_names),
            dynamic_axes={name: {0: "batch"} for name in ("input", *output_names)},
            opset_version=opset,
            dynamo=False,
        )
    return Path(path)


EXTERNAL_KEY = b"location"
"""The key under which an ONNX tensor kept outside its graph names its file: every such tensor
has one (ONNX's external data), so a graph whose bytes lack it reads no file."""


def external_files(graph: bytes) -> list[str]:
    """The files an ONNX graph's bytes name for tensors kept outside it (ONNX's external data),
    which ONNX Runtime and OpenVINO read, for a graph given as bytes, from the current folder
    (``secret.txt``, ``.ssh/id_rsa``): [] for every graph objrec makes. Parsed only when its
    bytes hold :data:`EXTERNAL_KEY` (importing onnx costs 0.12 to 0.19 s)."""
    if EXTERNAL_KEY not in graph:
        return []
    import onnx

    tensors = _tensors(onnx.load_from_string(graph))
    return [
        next((e.value for e in t.external_data if e.key == "location"), "?")
        for t in tensors
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data)
    ]


def _tensors(model) -> Iterator:
    """Every tensor of an ONNX ``model``: its graph's, its functions' and those of the graphs
    inside their nodes (an If's branches, a Loop's body), sparse ones as their two parts."""
    graphs, nodes = [model.graph], [node for f in model.functions for node in f.node]
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            yield from graph.initializer
            yield from (t for s in graph.sparse_initializer for t in (s.values, s.indices))
            nodes += graph.node
            continue
        for a in nodes.pop().attribute:
            yield from (a.t, *a.tensors)
            yield from (
                t for s in (a.sparse_tensor, *a.sparse_tensors) for t in (s.values, s.indices)
            )
            graphs += [a.g, *a.graphs] if a.HasField("g") else list(a.graphs)


def onnx_session(path: Path | bytes, threads: int | None = None, spin: bool = True):
    """An ONNX Runtime CPU session for a graph file, or for a graph's bytes.

    ``spin=False`` stops its threads busy-waiting for work between operators, which leaves the
    cores to whatever else runs beside it (the image-decoding thread of the frozen pass)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_threads()
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """An ONNX graph (a file, or its bytes) with one input, run like a module: tensor in and out.

    The one place objrec runs an ONNX Runtime session; safe to call from several threads at once.
    """

    def __init__(self, graph: Path | bytes, threads: int | None = None, spin: bool = True):
        self.session = onnx_session(
            graph if isinstance(graph, bytes) else Path(graph), threads, spin
        )
        self.input_name: str = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The graph's first output for ``x``, on ``x``'s device (ONNX Runtime runs on the CPU)."""
        return self.outputs(x)[0]

    def outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every output of the graph, in its order, on ``x``'s device."""
        feed = {self.input_name: x.detach().float().cpu().contiguous().numpy()}
        return [torch.from_numpy(out).to(x.device) for out in run_cut_by_ctrl_c(self.session, feed)]


def run_cut_by_ctrl_c(session: Any, feed: dict, outputs: list[str] | None = None) -> list:
    """``session.run(outputs, feed)``, ended at its next operator by a Ctrl-C (ONNX Runtime's
    ``terminate``, set by ``errors.WORK_IN_HAND``): a batch of a loaded machine ran 10 s on
    after the key was pressed, Python's handler waiting for it."""
    import onnxruntime as ort

    options = ort.RunOptions()
    with WORK_IN_HAND.cut_by(lambda: setattr(options, "terminate", True)):
        return session.run(outputs, feed, options)


ENGINE_NAMES = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}
"""The engines that run a graph, as a message names them."""
SMALL_BATCH = 2
"""The static batch OpenVINO runs one or two images in: not 1, at which an ONNX ``Squeeze`` without
axes (as the exporter writes for ``Tensor.squeeze()``) would drop the batch axis too."""


def compiled_cache(folder: Path) -> Path | None:
    """``folder``, made if missing, for OpenVINO's compiled graphs; None, with a warning, where it
    cannot be made or written (a read-only cache folder): OpenVINO then compiles each time."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
        reason = "it is not writable"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    log.warning(
        "OpenVINO's compiled graphs cannot be kept in %s (%s): each process compiles them again",
        folder,
        reason,
    )
    return None


def static_name(key: str, n: int) -> str:
    """The file name of the graph named ``key`` (:func:`static_key`) with its batch fixed to
    ``n`` (OpenVINO's IR: this ``.xml`` and its weights, a ``.bin`` of the same name) in the
    compiled-graph folder."""
    return f"{key}-{n}.xml"


def static_key(graph: bytes) -> str:
    """The name, in the compiled-graph folder, of the ONNX ``graph`` as OpenVINO reads it: the
    graph's hash with the version of OpenVINO, whose reading of it is saved (another version
    reads the ONNX graph its own way: after an upgrade, the earlier one's is not compiled), and
    :data:`STATIC_FORMAT`, the version of objrec's way of fixing its batch."""
    import openvino as ov

    digest = hashlib.sha256(graph)
    digest.update(f"\nopenvino {ov.get_version()}\nstatic {STATIC_FORMAT}".encode())
    return digest.hexdigest()[:32]


def save_static(model, path: Path) -> Path:
    """Save ``model`` as OpenVINO's IR at ``path`` (and its ``.bin``): written under temporary
    names, the weights renamed into place before the graph, so that a graph at ``path`` has its
    weights; a save that fails leaves no temporary file. Called with the folder held
    (:func:`compiling_into`)."""
    import openvino as ov

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.xml")
    try:
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written graph left in the cache folder
        for part in (tmp, tmp.with_suffix(".bin")):
            part.unlink(missing_ok=True)
        raise
    return path


def compiled_blobs(folder: Path) -> set[str]:
    """The names of the graphs OpenVINO compiled into ``folder`` (``<its hash>.blob``)."""
    return {path.name for path in folder.glob("*.blob")}


def record_compiled(graph: Path, blobs: set[str]) -> None:
    """Record the use of the saved ``graph`` now (its :func:`use_marker`'s time) and, in that
    record, the compiled graphs OpenVINO wrote from it (``blobs``, new at this compile): OpenVINO
    names a compiled graph by its own hash, and loads it without a trace on a file system mounted
    ``noatime``, so ``objrec cache --prune`` judges it by the record of the graph it came from.
    Called with the folder held (:func:`compiling_into`); a folder that cannot be written keeps
    none, and its graphs are pruned by their files' times."""
    marker = use_marker(graph)
    with suppress(OSError, ValueError):
        named = set(marker.read_text(encoding="utf-8").split()) if marker.is_file() else set()
        if blobs - named:
            marker.write_text("".join(f"{name}\n" for name in sorted(named | blobs)))
        else:
            marker.touch()


FIRST_CALLS = threading.Lock()
"""Held by a thread while it compiles, makes its infer request and runs it once: several threads
making their first OpenVINO calls at once could hang the process for good (gdb: one thread held
the GIL in OpenVINO's Python bindings, waiting on a C++ one-time initialisation that a thread
waiting for the GIL was running: 4 and 6 of 15 processes of 8 threads over two models, in two
runs of a cold review's repro; 0 of 15 with this lock)."""


CORE: list = []
"""The process's one OpenVINO ``Core`` (:func:`openvino_core`), once made."""
MAKING_CORE = threading.Lock()


def openvino_core():
    """The process's one OpenVINO ``Core``, made at the first call and kept until the process
    exits. Each Core's CPU plugin gives the thread that makes it an alternate signal stack of its
    own (room for AMX's larger signal frames) and puts back the one it found when that Core goes:
    Cores that went in another order than they came left the thread on a stack already unmapped,
    and the next signal Python handled there (Ctrl-C, SIGTERM: its handlers run on that stack)
    ended the process with a segmentation fault, cleaning nothing up. One Core never goes."""
    with MAKING_CORE:
        if not CORE:
            import openvino as ov

            CORE.append(ov.Core())
        return CORE[0]


class OpenVinoModel:
    """An ONNX graph's bytes run by OpenVINO on the CPU, like :class:`OnnxModel`: tensor in,
    outputs out; safe to call from several threads at once (each has its own infer requests).

    The graph runs at static batch sizes only: one or two images as a batch of
    :data:`SMALL_BATCH`, more in batches of ``batch``, the last one padded with zeros. On an int8
    graph OpenVINO's kernels for a dynamic batch differ from its static ones (features up to 2%
    apart on Caltech-101 photos), while its static kernels give every image the same features at
    any batch size, padded or not, and run faster (200 against 168 images a second on 2 cores;
    ``benchmarks/README.md``). So a photo gets the same features in ``predict`` as in ``train``.
    Float operators run in float32 (``INFERENCE_PRECISION_HINT``), not in the bfloat16 OpenVINO
    picks by default on CPUs with AMX.

    ``cache``: the folder where OpenVINO keeps what it compiled (``cache.COMPILED_FOLDER`` of
    objrec's cache folder), keyed by the graph and its batch (the path of the graph saved there
    with its batch fixed, :meth:`_compile_saved`), the device and the settings that change the
    compiled code (not the thread count), so that the next process loads it (0.25 s) rather than
    compiling it again (1.7 s for the three-body default); None compiles each time. A graph
    loaded from it gives the features a compiled one gives, bit for bit."""

    def __init__(
        self, graph: bytes, threads: int | None = None, batch: int = 16, cache: Path | None = None
    ):
        self.core = openvino_core()
        self.graph = graph
        self.key = static_key(graph)
        self.batch = batch
        self.cache = compiled_cache(cache) if cache is not None else None
        # a graph that does not open raises here; one saved from these bytes opened before
        self._model = None if self.saved(batch) else self.core.read_model(graph)
        self.settings = {
            "INFERENCE_NUM_THREADS": threads or cpu_threads(),
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            # under torchrun each rank would pin its threads without knowing of the others
            "ENABLE_CPU_PINNING": int(os.environ.get("WORLD_SIZE", "1")) == 1,
        }
        self._compiled: dict[int, object] = {}
        self._compiling = threading.Lock()
        self._local = threading.local()

    @property
    def model(self):
        """The graph as OpenVINO reads it (read at the first need: 0.2 s for the default)."""
        if self._model is None:
            self._model = self.core.read_model(self.graph)
        return self._model

    def static(self, n: int):
        """The graph with its batch axis fixed to ``n`` (0.3 to 0.5 s for the default)."""
        model = self.model.clone()
        shape = model.input(0).get_partial_shape()
        shape[0] = n
        model.reshape({model.input(0): shape})
        return model

    def saved(self, n: int) -> Path | None:
        """Where the cache folder keeps the graph fixed to batches of ``n``, if it does."""
        path = self.cache / static_name(self.key, n) if self.cache is not None else None
        return path if path is not None and path.is_file() else None

    def static_batch(self, images: int) -> int:
        """The static batch ``images`` images run in (the last of them padded to it)."""
        return SMALL_BATCH if images <= SMALL_BATCH else self.batch

    def compile_for(self, images: int) -> None:
        """Compile (or load from the cache folder) the graph batches of ``images`` images run in,
        now rather than at their first call (``Recognizer.get_ready``)."""
        with FIRST_CALLS, self._compiling:
            self._compiled_for(self.static_batch(images))

    def _compiled_for(self, n: int):
        """The graph compiled for batches of ``n``, compiled at the first need (the caller holds
        ``FIRST_CALLS`` and ``_compiling``)."""
        if n not in self._compiled:
            self._compiled[n] = self._compile(n)
        return self._compiled[n]

    def _infer(self, n: int, chunk: np.ndarray) -> list[np.ndarray]:
        """The outputs for ``chunk``, a batch of ``n``, by this thread's infer request for batches
        of ``n``; the graph compiled for ``n`` at the first (0.25 s from the cache folder, about
        1.7 s without, for the three-body int8 default), whose first run is ``chunk`` itself."""
        requests = self._local.__dict__.setdefault("requests", {})
        if n in requests:
            with WORK_IN_HAND.cut_by(requests[n].cancel):  # Ctrl-C ends the batch at once
                result = requests[n].infer({0: chunk})
        else:
            with FIRST_CALLS, self._compiling:
                request = self._compiled_for(n).create_infer_request()
                with WORK_IN_HAND.cut_by(request.cancel):
                    result = request.infer({0: chunk})
            requests[n] = request
        return [np.array(result[i]) for i in range(len(result))]

    def _compile(self, n: int):
        """The graph compiled for batches of ``n``, through the cache where there is one; without
        it where the cache fails (a full disk, a folder made read-only since), with a warning."""
        started = time.perf_counter()
        if self.cache is None:
            return self.core.compile_model(self.static(n), "CPU", self.settings)
        try:
            with compiling_into(self.cache, COMPILE_WAIT) as held:
                if held:
                    compiled = self._compile_saved(n)
                    how = "loaded" if compiled.get_property("LOADED_FROM_CACHE") else "compiled"
                    seconds = time.perf_counter() - started
                    log.info("OpenVINO %s the graph for batches of %d in %.1f s", how, n, seconds)
                    return compiled
        except Exception as exc:  # OpenVINO raises RuntimeError for anything; never fatal here
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = f"another process held it for {COMPILE_WAIT:.0f} s"
        # raises if it cannot
        compiled = self.core.compile_model(self.static(n), "CPU", self.settings)
        log.warning("OpenVINO compiled without its cache %s (%s)", self.cache, reason)
        return compiled

    def _compile_saved(self, n: int):
        """The graph for batches of ``n`` compiled from its file in the cache folder, saved there
        first where missing (or unreadable). Given a file, OpenVINO keys its compiled graph on
        the file's path and loads it without reading the graph: 0.25 s for the three-body
        default, against 1.1 s to read the graph, fix its batch and hash it for the key (the
        file's name is the graph's hash and OpenVINO's version, :func:`static_key`, so a path
        names one graph). The same features, bit for bit: the file holds the graph as fixed to
        ``n``."""
        settings = {**self.settings, "CACHE_DIR": str(self.cache)}
        path = self.saved(n)
        if path is not None:
            try:
                return self.compile_recorded(path, settings)
            except Exception as exc:  # a file cut short, its weights pruned: saved again
                log.info("OpenVINO could not read %s (%s): saving it again", path, exc)
        path = save_static(self.static(n), self.cache / static_name(self.key, n))  # type: ignore[operator]
        return self.compile_recorded(path, settings)

    def compile_recorded(self, path: Path, settings: dict):
        """The saved graph ``path`` compiled (or its compiled graph loaded) through the cache
        folder, its use recorded with the compiled graphs it gave (:func:`record_compiled`)."""
        before = compiled_blobs(path.parent)
        compiled = self.core.compile_model(str(path), "CPU", settings)
        record_compiled(path, compiled_blobs(path.parent) - before)
        return compiled

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The graph's first output for ``x``, on ``x``'s device (OpenVINO runs on the CPU)."""
        return self.outputs(x)[0]

    def outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every output of the graph, in its order, on ``x``'s device."""
        images = x.detach().float().cpu().contiguous().numpy()
        size = self.static_batch(len(images))
        parts = []
        for start in range(0, max(len(images), 1), size):  # no image: a padded batch, for shapes
            chunk = images[start : start + size]
            if len(chunk) < size:
                chunk = np.concatenate(
                    [chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), chunk.dtype)]
                )
            parts.append(self._infer(size, chunk))
        n = len(images)
        return [
            torch.from_numpy(np.concatenate(out)[:n]).to(x.device)
            for out in zip(*parts, strict=True)
        ]


def torch_runner(module: nn.Module) -> Runner:
    module = module.eval().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def run(x: torch.Tensor) -> torch.Tensor:
        return module(x.contiguous(memory_format=torch.channels_last))

    return run


def onnx_runner(
    module: nn.Module,
    onnx_path: Path,
    input_size: int,
    threads: int | None = None,
    sample_shape: tuple[int, ...] | None = None,
) -> Runner:
    """An ONNX Runtime runner for ``module``, exported to ``onnx_path`` unless already there
    (``sample_shape``: its input's without the batch, when not an image's: ``export_onnx``)."""
    with using_graph(onnx_path):
        if not onnx_path.is_file():
            export_onnx(module, onnx_path, input_size, sample_shape=sample_shape)
        return OnnxModel(onnx_path, threads)


@contextmanager
def using_graph(graph: Path) -> Iterator[None]:
    """Hold ``graph``'s folder (a shared ``flock`` on it) while a cached graph is looked for,
    made and opened, and record its use (:func:`use_marker`) once it is there: ``objrec cache
    --prune`` removes graphs not used for days holding it exclusively, so no process finds a graph
    and then cannot open it. A folder that cannot be made (a read-only cache) is not held."""
    fd = hold_shared(graph.parent)
    try:
        yield
        if graph.is_file():
            record_use(graph)
    finally:
        if fd is not None:
            os.close(fd)


def hold_shared(folder: Path) -> int | None:
    """An open descriptor of ``folder``, made if missing, holding a shared ``flock`` on it; None
    where it cannot be made or opened (a read-only cache). A prune or clear holding it alone is
    waited for; a clear then removes it, and the lock of the folder removed keeps no other
    process out of the one made again (:func:`held_folder`): that one is held."""
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if held_folder(fd, folder):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def record_use(graph: Path) -> None:
    """Set ``graph``'s last use to now (:func:`use_marker`); a cache folder that cannot be written
    keeps none, and its graphs are pruned by the time they were written."""
    with suppress(OSError):
        use_marker(graph).touch()  # its times set to now, made where missing


def agrees(runner: Runner, module: nn.Module, input_size: int) -> float:
    """Largest absolute difference between ``runner`` and eager ``module`` on a random batch."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, input_size, input_size, generator=g)
    with torch.inference_mode():
        reference = module.eval()(x)
    return float((runner(x) - reference).abs().max())


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


def make_runner(
    module: nn.Module,
    input_size: int,
    backend: str = "auto",
    onnx_path: Path | None = None,
    device: torch.device | None = None,
    threads: int | None = None,
) -> tuple[Runner, str]:
    """The fastest runner for ``module`` that reproduces it within ``TOLERANCE``, and its name.

    ``backend="auto"`` tries ONNX Runtime (when installed and ``onnx_path`` is given) and falls back
    to eager PyTorch; ``"onnx"`` and ``"torch"`` force one (``"onnx"`` still falls back on failure).
    ``threads``: ONNX Runtime's intra-op threads, the calling thread included (default: PyTorch's
    thread count); calls at once share them, each adding its own calling thread.
    A GPU ``device`` always runs PyTorch on the card (``DeviceRunner``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}")
    if device is not None and device.type != "cpu":
        return DeviceRunner(module, device), f"PyTorch on {device}"
    if backend != "torch" and onnx_path is not None and onnxruntime_available():
        try:
            runner = onnx_runner(module, onnx_path, input_size, threads)
            diff = agrees(runner, module, input_size)
            if diff <= TOLERANCE:
                return runner, "onnxruntime"
            log.warning("ONNX Runtime differs from PyTorch by %.2g; using PyTorch", diff)
        except Exception as exc:  # exporter and runtime raise many types; any means "not usable"
            log.warning("ONNX Runtime not usable for this backbone (%s); using PyTorch", exc)
        onnx_path.unlink(missing_ok=True)
    return torch_runner(module), "torch"

"""Fast inference for a frozen module: on the CPU, ONNX Runtime when it agrees with PyTorch, else
eager PyTorch; on a GPU, PyTorch on the card in the lowest precision that keeps its outputs close.

On this kind of machine ONNX Runtime runs EfficientNet-Lite0 about five times faster than eager
PyTorch (see ``benchmarks/frozen_pass.py``). The exported graph is cached by the module's
fingerprint, and every new session is checked against PyTorch on a sample batch: if the outputs
differ by more than ``TOLERANCE`` or anything fails, objrec logs why and uses eager PyTorch.

On a GPU ``make_runner`` gives ``device_runner.DeviceRunner`` (PyTorch on the card in the lowest
precision that keeps its outputs close). Here too: exporting a module to ONNX and refusing a graph
that reads external data, ONNX Runtime's session (``onnx_session``, ``OnnxModel``), and holding a
cached graph while it is used (``using_graph``). OpenVINO's runner is ``openvino_runtime``'s.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch
from torch import nn

from objrec.cache import use_marker
from objrec.cores import cpu_threads
from objrec.device_runner import DeviceRunner
from objrec.errors import WORK_IN_HAND
from objrec.locks import held_folder
from objrec.outputs import staged_file

log = logging.getLogger(__name__)

TOLERANCE = 1e-4
BACKENDS = ("auto", "onnx", "torch")


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
    with staged_file(Path(path)) as tmp, warnings.catch_warnings(), torch.no_grad():
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

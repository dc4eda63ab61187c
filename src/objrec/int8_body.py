"""The int8 body a checkpoint carries: ``QuantizedBody``, its graph and engine, run as a frozen
module; what a loaded one is checked for (a graph reading files outside the checkpoint, a damaged
graph or engine name) and which engine runs it. ``quantize`` makes the graph; this module is what
``load_model`` and every command that runs a model need of it, without ONNX Runtime's quantizer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from objrec.bodies import Body
from objrec.cache import COMPILED_FOLDER
from objrec.cache_folder import default_cache_dir
from objrec.config import INT8_ENGINES
from objrec.errors import ObjrecError
from objrec.openvino_runtime import OpenVinoModel
from objrec.runtime import OnnxModel, external_files, onnxruntime_available, openvino_available

if TYPE_CHECKING:
    from objrec.quantize import Fidelity

log = logging.getLogger(__name__)

GRAPH_KEY = "int8_graph"


ENGINE_KEY = "int8_engine"


ENGINES = INT8_ENGINES
"""What runs an int8 body: ``openvino`` (where it is installed, as it is with objrec) or
``onnxruntime``. OpenVINO runs a QDQ graph, ONNX Runtime a QOperator one of the same calibration;
OpenVINO about 1.5 times faster on 2 cores of an AVX-512 VNNI CPU with AMX, with features as close
to fp32's (``benchmarks/README.md``)."""


def int8_numerics(engine: str) -> str:
    """How an int8 body run by ``engine`` computes its rows, part of the store's key
    (``FrozenBody.numerics``, ``store.space_id``): the engine and its version, and the CPU's int8
    path (its 8-bit dot-product instructions, ``precision.int8_dot_product``, else the
    saturating multiply-adds of AVX2 and older): another engine's kernels, or another CPU's, give
    other rows, so a cache folder shared by several machines, or kept over an engine upgrade,
    never serves one's int8 rows to another (review60a L1)."""
    from importlib import metadata

    from objrec import precision

    try:
        version = metadata.version(engine)
    except metadata.PackageNotFoundError:  # installed otherwise (onnxruntime-gpu, say)
        version = "unknown"
    return f"int8:{engine} {version}:{precision.int8_dot_product() or 'no-dot-product'}"


def int8_engine(engine: str = "auto") -> str:
    """The engine that runs an int8 body: ``engine`` itself, or for ``auto`` OpenVINO where it is
    installed, else ONNX Runtime."""
    if engine not in ENGINES:
        raise ObjrecError(f"the int8 engine must be one of {', '.join(ENGINES)}")
    if engine == "openvino" and not openvino_available():
        raise ObjrecError("the int8 engine openvino is not installed: pip install openvino")
    if engine == "auto":
        return "openvino" if openvino_available() else "onnxruntime"
    return engine


NO_ONNXRUNTIME = "this model's int8 body needs onnxruntime to run: pip install onnxruntime"


def damaged_graph(exc: Exception) -> ObjrecError:
    """The error for an int8 body whose graph does not open or parse (``exc`` says why)."""
    return ObjrecError(
        "this model's int8 body cannot be run: the ONNX graph its checkpoint holds is damaged or "
        f"not ONNX ({type(exc).__name__})"
    )


def refuse_external_data(graph: bytes) -> None:
    """Refuse an int8 body whose graph reads tensors from files (ONNX's external data): the
    engines read them from the current folder, so an edited checkpoint could have any file there
    (``.ssh/id_rsa``) read into the model, and its answers tell of it. objrec's graphs hold every
    tensor in themselves."""
    try:
        files = external_files(graph)
    except Exception as exc:  # onnx's DecodeError, or any failure to parse: not a graph
        raise damaged_graph(exc) from exc
    if files:
        raise ObjrecError(
            f"this model's int8 body is refused: its ONNX graph reads weights from files outside "
            f"the checkpoint ({', '.join(sorted(set(files))[:3])}), which objrec never writes; "
            "the checkpoint was edited, perhaps to read files of yours"
        )


class QuantizedBody(Body):
    """A frozen body run as an int8 ONNX graph by ``engine`` (OpenVINO or ONNX Runtime);
    ``float_body``: the fp32 body it came from.

    The graph travels in the module's state (buffer ``int8_graph``, its bytes as uint8), and so
    does an OpenVINO body's engine (buffer ``int8_engine``; none for ONNX Runtime, whose bodies
    keep the state they had before engines were recorded), so ``state_dict`` and the checkpoint
    hold exactly the body that computed the features, and its fingerprint, the store's key,
    differs between engines: their features differ slightly (cosine median 0.998 on Caltech-101).
    """

    def __init__(
        self,
        float_body: Body,
        graph: bytes = b"",
        engine: str = "onnxruntime",
        float_fingerprint: str | None = None,
    ):
        super().__init__()
        self.float_body = float_body.eval()
        self.float_fingerprint = float_fingerprint
        """``float_body``'s fingerprint where :func:`quantize_body` computed it (a run records it:
        a resume compares it before quantizing again); None for a body loaded from a file."""
        self.n_features = float_body.n_features
        self.register_buffer(
            GRAPH_KEY, torch.frombuffer(bytearray(graph or b"\0"), dtype=torch.uint8)
        )
        if engine != "onnxruntime":  # ONNX Runtime's bodies keep the state they always had
            self.register_buffer(ENGINE_KEY, _name_tensor(engine))
        self._session: OnnxModel | OpenVinoModel | None = None
        self.fidelity: Fidelity | None = None
        """How closely its features follow ``float_body``'s, in its engine, where
        ``quantize.quantize_body`` measured or remembered it; None for a body loaded from a
        checkpoint, or one whose figure is not known."""

    def graph_bytes(self) -> bytes:
        return getattr(self, GRAPH_KEY).cpu().numpy().tobytes()

    @property
    def engine(self) -> str:
        """``onnxruntime`` (no ``int8_engine`` buffer, as in every checkpoint saved before it) or
        ``openvino``; anything else a damaged checkpoint's, refused in one sentence."""
        if ENGINE_KEY not in self._buffers:
            return "onnxruntime"
        name = getattr(self, ENGINE_KEY).cpu().numpy().tobytes().decode(errors="replace")
        if name not in ENGINES[1:]:
            raise ObjrecError("this model's int8 body names no engine objrec knows: damaged")
        return name

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the loaded state decides the buffers (the graph's size, whether an engine is named)
        self._buffers.pop(ENGINE_KEY, None)
        for key in (GRAPH_KEY, ENGINE_KEY):
            if prefix + key in state_dict:
                tensor = state_dict[prefix + key].detach().clone().to(torch.uint8)
                self.register_buffer(key, tensor)
                self._session = None
        refuse_external_data(self.graph_bytes())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __getstate__(self) -> dict:
        """Copied or pickled without its session, which neither can be: the copy opens its own
        at its first call."""
        return {**super().__getstate__(), "_session": None}

    def runnable(self) -> QuantizedBody:
        """This body, or where its engine is missing the same graph on ONNX Runtime, with a
        warning: so that features are stored, and answers given, under the engine that ran."""
        engine = graph_engine(self)
        if engine == self.engine:
            return self
        log.warning(
            "this model's int8 body ran on OpenVINO, which is not installed: it runs on ONNX "
            "Runtime, whose features differ slightly (pip install openvino)"
        )
        return self.on_engine(engine)

    def on_engine(self, engine: str) -> QuantizedBody:
        """The same graph, run by ``engine``."""
        return QuantizedBody(self.float_body, self.graph_bytes(), engine)

    def session(self) -> OnnxModel | OpenVinoModel:
        """The graph's session, made at the first call (:meth:`open`, OpenVINO's compiled graphs
        kept in the default cache folder, as ``predict``'s exported models are)."""
        if self._session is None:
            self._session = self.open()
        return self._session

    def open(
        self, threads: int | None = None, spin: bool = True, cache_dir: Path | None = None
    ) -> OnnxModel | OpenVinoModel:
        """A new session of the graph in its engine (ONNX Runtime, with a warning, for an
        OpenVINO body where OpenVINO is missing; ``spin``: ONNX Runtime's threads busy-wait
        between operators), the one way objrec opens it: without onnxruntime, or for a graph
        that does not open (a damaged or edited checkpoint's), one sentence, not the engine's
        traceback at the first image. OpenVINO keeps what it compiles in ``cache_dir`` (objrec's
        cache folder; default :func:`cache_folder.default_cache_dir`), in
        ``cache.COMPILED_FOLDER``."""
        engine = self.runnable().engine
        if engine == "onnxruntime" and not onnxruntime_available():
            raise ObjrecError(NO_ONNXRUNTIME)
        try:
            if engine == "openvino":
                compiled = Path(cache_dir or default_cache_dir()) / COMPILED_FOLDER
                return OpenVinoModel(self.graph_bytes(), threads, cache=compiled)
            return OnnxModel(self.graph_bytes(), threads, spin)
        except Exception as exc:  # the engines raise many types: any means "cannot run"
            raise damaged_graph(exc) from exc

    @torch.no_grad()  # not inference_mode: its inference tensors broke a head after it
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.session()(x)  # the engine runs it on the CPU, whatever the device


def graph_engine(body: Body) -> str:
    """What runs ``body``'s graphs, and a whole-model graph made from it: an int8 body's engine
    where it is installed, else ONNX Runtime."""
    if isinstance(body, QuantizedBody) and body.engine == "openvino" and openvino_available():
        return "openvino"
    return "onnxruntime"


def _name_tensor(name: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(name.encode()), dtype=torch.uint8)


def is_quantized(state: dict[str, torch.Tensor]) -> bool:
    """Whether a checkpoint's tensors hold an int8 body."""
    return f"body.{GRAPH_KEY}" in state

"""OpenVINO as objrec runs a graph: ``OpenVinoModel`` (an ONNX graph's bytes at static batch sizes,
float operators in float32), the process's one ``Core`` (``openvino_core``), the compiled-graph
folder of the cache (the graph saved with its batch fixed, ``static_name`` and ``static_key``;
``save_static``; which compiled graphs came from it, ``record_compiled``) and the lock its first
calls take (``FIRST_CALLS``). ONNX Runtime's runner and the export are ``runtime``'s."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import torch

from objrec.cache import use_marker
from objrec.cores import cpu_threads
from objrec.errors import WORK_IN_HAND
from objrec.locks import COMPILE_WAIT, compiling_into

log = logging.getLogger(__name__)

STATIC_FORMAT = 1
"""The version of how :meth:`OpenVinoModel.static` builds the graph saved in the compiled-graph
folder, part of its name (:func:`static_key`). Bump it whenever ``static()`` changes what it
builds: a graph saved by the earlier code is then saved again, not compiled as if it were new."""


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

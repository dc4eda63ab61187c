"""The model a server answers with: loaded for ``serve``'s settings (runtime, device, threshold),
made to answer a first image on an answering thread before anyone's, loaded again when its files
are replaced (``serve.served.ServedModel``); and what runs it and why, in words (``/info``, the line
``serve`` prints at start)."""

from __future__ import annotations

import logging
import logging.config
import math
import time
from concurrent.futures import Executor
from functools import partial
from pathlib import Path
from typing import Any

from objrec import __version__
from objrec.devices import resolve_device
from objrec.errors import ObjrecError
from objrec.file_index import file_stamp
from objrec.inference import Recognizer, resolve_runtime
from objrec.int8_body import QuantizedBody, graph_engine
from objrec.kept import kept_path
from objrec.model_graph import GraphUnmade
from objrec.prediction import evaluation_records, mixed_partners, tested_top1
from objrec.run_files import checkpoint_file
from objrec.runtime import ENGINE_NAMES
from objrec.serve.served import Beside, ServedModel

log = logging.getLogger(__name__)


def load_recognizer(
    run: Path, runtime: str | None, device: str, threshold: float | None, unknown: bool
) -> Recognizer:
    """The served model: ``runtime`` defaults to ONNX Runtime on the CPU, PyTorch on a GPU, but an
    int8 body that OpenVINO ran in training runs in OpenVINO whatever the runtime
    (:func:`runs_why`). An infinite ``threshold`` is refused: ``/info`` gives it in JSON, which
    holds no infinity (null would read as no unknown answer, while inf answers every image
    unknown). ``runtime``
    onnx on a GPU is refused for a float body only: an int8 body runs on the CPU, where ONNX
    Runtime runs (``inference.int8_placement``), so it is not refused before it is read. The default
    runtime's graph that cannot be made says that PyTorch serves without it: the user asked for
    no ONNX Runtime. The pairs the run's evaluation of this model mistook both ways are read
    with it, for each answer's ``confused_with``, as ``predict`` reads them."""
    if threshold is not None and math.isinf(threshold):
        raise ObjrecError(
            f"`threshold` must be a finite number, not {threshold}: the app's /info gives it in "
            "JSON, which holds no infinity (`unknown=False` answers no image unknown)"
        )
    where = resolve_device(device)
    asked = runtime
    if runtime != "onnx":  # onnx asked for on a GPU: refused by the recognizer unless int8
        runtime = resolve_runtime(runtime, where, default="onnx")
    try:
        recognizer = Recognizer.load(run, runtime, threshold, unknown, where)
    except GraphUnmade as exc:
        if asked is not None:
            raise
        raise ObjrecError(f"{exc}; `runtime='torch'` serves without it", exc.values) from exc
    read_mixed(run, recognizer)
    return recognizer


def read_mixed(run: Path, recognizer: Recognizer) -> None:
    """The pairs of classes the run's evaluation of ``recognizer``'s model mixed up, read into it
    for each answer's ``confused_with``, as ``predict`` reads them
    (``prediction.mixed_partners``); and its test split's top-1 for ``/info``
    (``prediction.tested_top1``)."""
    data_dir, digest = recognizer.meta.data_dir, recognizer.model_digest
    recognizer.mixed = mixed_partners(run, data_dir, digest)
    recognizer.tested_top1 = tested_top1(run, data_dir, digest)


def unknown_info(recognizer: Recognizer) -> dict[str, Any]:
    """What ``/info`` says of the unknown answer: the score, its threshold, and whether the score
    is the readable familiarity (False for ``msp`` and for runs trained before it); when the
    threshold is one ``evaluate --keep-threshold`` kept, when it was kept."""
    return {
        "unknown_score": recognizer.unknown_score,
        "unknown_threshold": recognizer.threshold,
        "unknown_score_readable": recognizer.score_is_familiarity,
        "unknown_threshold_kept_on": recognizer.threshold_kept_on,
    }


def model_info(
    recognizer: Recognizer, max_upload_bytes: int, max_pixels: int, asked: str | None = None
) -> dict[str, Any]:
    """``GET /info``: the model (its validation accuracy: None for a run that does not say; its
    test top-1 where the run's evaluation of its test split of this model measured one),
    what runs it and why (``asked``: the runtime the server was given, None for its default), the
    server's limits and the unknown answer."""
    runs, why = runs_and_why(recognizer, asked)
    return {
        "classes": recognizer.classes,
        "valid_accuracy": recognizer.meta.valid_acc,
        "test_top1": recognizer.tested_top1,
        "backbone": recognizer.meta.backbone,
        "runtime": info_runtime(recognizer),
        "int8_engine": int8_engine(recognizer),
        "runs": runs,
        "runs_why": why,
        "version": __version__,
        "max_upload_bytes": max_upload_bytes,
        "max_pixels": max_pixels,
    } | unknown_info(recognizer)


def info_runtime(recognizer: Recognizer) -> str:
    """``/info``'s ``runtime``: what runs the model's network, ``onnx`` or ``torch`` (the
    runtime it is served in), or ``openvino`` for an OpenVINO int8 body, which runs there
    whatever the runtime (the head, a layer, in PyTorch beside it): the runtime that runs the
    network is the one its speed and answers depend on."""
    return "openvino" if int8_engine(recognizer) == "openvino" else recognizer.runtime


def int8_engine(recognizer: Recognizer) -> str | None:
    """What runs the model's int8 body (``openvino`` or ``onnxruntime``; None for a float body),
    for ``/info``: an OpenVINO body runs in OpenVINO whatever the runtime, which then says
    ``torch``, the head's, and alone read as though eager PyTorch ran the whole model."""
    body = recognizer.model.body
    return graph_engine(body) if isinstance(body, QuantizedBody) else None


def runs_words(runtime: str, engine: str | None, device: str = "cpu") -> str:
    """What runs the served model, in words, for ``/info``'s ``runs``: ``runtime`` (the one the
    recognizer runs, not the one asked for: an OpenVINO int8 body makes onnx torch) and the int8
    body's ``engine`` (:func:`int8_engine`). ``/info`` said only ``"runtime": "torch"`` where
    ``serve --help`` promised ONNX Runtime by default."""
    if runtime == "onnx":
        return "the whole model in ONNX Runtime, on the CPU"
    if engine is not None:
        return f"the int8 body in {ENGINE_NAMES.get(engine, engine)}, the head in PyTorch"
    where = "the CPU" if device == "cpu" else device
    return f"the whole model in PyTorch, on {where}"


IN_OPENVINO_WHY = (
    "whichever runtime is asked for, so that it answers as it did when trained and evaluated"
)
"""Why an int8 body OpenVINO ran runs in OpenVINO when served: after "this run's int8 network runs
in OpenVINO" in ``/info``'s ``runs_why``, alone after serve's "running the int8 body in
OpenVINO, the head in PyTorch:", which says where it runs already."""


def runs_why(
    runtime: str, engine: str | None, device: str = "cpu", asked: str | None = None
) -> str:
    """Why the served model runs as :func:`runs_words` says, for ``/info``'s ``runs_why`` and the
    line ``serve`` prints at start: ``asked`` is the runtime the server was given (None: its
    default). A default run's /info says ``"runtime": "openvino"`` where README and ``--help``
    say serve defaults to ONNX Runtime, so the why is said. An ONNX Runtime int8 body on a
    machine with a GPU runs on the CPU under PyTorch, the GPU's runtime
    (``inference.int8_placement``): its why agrees with ``runs``, which says the head runs in
    PyTorch, rather than "serve's default on the CPU ... one ONNX graph"."""
    if engine == "openvino":  # after "the int8 body in OpenVINO": "int8" and "as it did" once
        return f"this run's int8 network runs in OpenVINO {IN_OPENVINO_WHY}"
    if device != "cpu":
        return f"on {device} the model runs in PyTorch, as ONNX Runtime runs on the CPU only here"
    if engine is not None and runtime == "torch" and asked is None:  # a GPU chose torch
        return (
            "this run's pretrained network is in 8-bit integers (int8), which run on the CPU "
            "only, in ONNX Runtime as in training; serve runs PyTorch where it finds a GPU, so "
            "the head runs in PyTorch beside it, on the CPU too (served on the CPU, the whole "
            "model runs in ONNX Runtime, serve's default there)"
        )
    if asked is not None:
        return f"runtime {asked} was asked for"
    why = (
        "serve's default on the CPU, as ONNX Runtime answers faster than PyTorch once the model "
        "is made into one ONNX graph (once, kept in the cache folder)"
    )
    return why + ("; this run's int8 network ran in ONNX Runtime in training too" if engine else "")


def runs_and_why(recognizer: Recognizer, asked: str | None) -> tuple[str, str]:
    """:func:`runs_words` and :func:`runs_why` of ``recognizer``."""
    facts = (recognizer.runtime, int8_engine(recognizer), str(recognizer.device))
    return runs_words(*facts), runs_why(*facts, asked=asked)


def warm_up(recognizer: Recognizer, answering: Executor) -> None:
    """The model's first answer (:meth:`Recognizer.warm_up`), given before the server answers
    anyone, on a thread that answers uploads: a default run's first ``/predict`` took 2.3 s
    against 0.12 s for the next ones (OpenVINO loading its compiled graph, and making the
    thread's infer request, at the first call). A model that loads but cannot answer is refused
    here, in one sentence, rather than at each request. One thread only: the pool makes another
    only for an upload that comes while every thread it has is answering (uploads one after
    another all go to this one), and that thread's first answer then makes its own infer
    request, once: 0.043 s against 0.023 s (a default run, benchmarks/serve_threads.py), at most
    3 times in a server's life. Warming all 4 would make them, and their 29 MiB, at every start."""
    started = time.perf_counter()
    try:
        answering.submit(recognizer.warm_up).result()
    except Exception as exc:  # any runtime's failure: the server would answer nothing but 500s
        raise ObjrecError(f"the model loaded but failed on a first test image: {exc}") from exc
    log.info("the model answered a first image in %.2f s", time.perf_counter() - started)


def evaluations_stamp(run: Path) -> tuple[tuple[str, Any], ...]:
    """Which version of the run's evaluation records there is (each one's path and stamp,
    ``prediction.evaluation_records``): one listing and a ``stat`` per evaluation, at each look
    of the server at its files."""
    return tuple(sorted((str(path), file_stamp(path)) for path in evaluation_records(run)))


def mixed_beside(run: Path) -> Beside:
    """The pairs of classes the run's evaluation of the model served mixed up (:func:`read_mixed`),
    read again when an evaluation is written (``evaluate`` into the run served): each answer's
    ``confused_with`` then says what ``predict`` says, where it said null until a restart."""
    return Beside(partial(evaluations_stamp, run), partial(read_mixed, run))


def served_files(run: Path) -> list[Path]:
    """The files whose change brings a new model to a running server: the checkpoint, then the
    threshold ``evaluate --keep-threshold`` keeps beside it (read as the model loads)."""
    return [checkpoint_file(Path(run)), kept_path(Path(run))]


def serve_model(
    run: Path,
    runtime: str | None,
    device: str,
    threshold: float | None,
    unknown: bool,
    answering: Executor,
) -> ServedModel:
    """The model of ``run``, loaded and run once on an ``answering`` thread (:func:`warm_up`),
    now and whenever its files are replaced (:func:`served_files`); the pairs its evaluation mixed
    up read again when an evaluation is written (:func:`mixed_beside`)."""

    def load() -> Recognizer:
        recognizer = load_recognizer(run, runtime, device, threshold, unknown)
        warm_up(recognizer, answering)
        return recognizer

    return ServedModel(load, served_files(run), mixed_beside(run))


def loaded_words(
    run: Path, runtime: str | None, device: str, threshold: float | None, unknown: bool
) -> tuple[str, str]:
    """The model of ``run`` loaded as a worker loads it, and what runs it and why
    (:func:`start_words`)."""
    return start_words(load_recognizer(run, runtime, device, threshold, unknown), runtime)


def start_words(recognizer: Recognizer, runtime: str | None) -> tuple[str, str]:
    """What ``serve`` says once the model has loaded, with one worker or several: what runs it
    and why (:func:`runs_and_why`), and on a line of its own the threshold ``evaluate
    --keep-threshold`` kept for the run, when it uses one (one kept for another model, not used,
    ``kept.read_kept`` warns of)."""
    runs, why = runs_and_why(recognizer, runtime)
    kept = recognizer.kept
    return runs, why + (f"\n{kept.words()}" if kept is not None and kept.current else "")

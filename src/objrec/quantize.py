"""int8 frozen bodies: ONNX Runtime static quantization, calibrated on a fixed, bundled sample.

On CPUs with 8-bit dot-product instructions (AVX-512 VNNI or AVX-VNNI on x86, dot-product on ARM)
ONNX Runtime runs int8 convolutions far faster than fp32 ones. ``quantize_body`` exports the
frozen body to ONNX (the fp32 graph objrec already caches), runs a fixed sample of images through
it to measure each activation's range (the calibration) and writes an int8 graph beside the fp32
one. The calibration images are the 120 photos of objrec's built-in sample (24 of each of five
Caltech-101 classes, ``objrec/sample``, the ones ``objrec demo`` trains on), never the user's
training images: the int8 graph depends only on the body, the preprocessing and the quantization
settings, so it is made once per network (body) and cache folder and cached, and adding,
removing or relabelling training images keeps it, and with it every stored feature.
``QuantizedBody`` (``int8_body``) wraps that graph as a frozen module: its state holds the graph
bytes (and the fp32 body it came from), so a checkpoint carries exactly the body that produced the
training features, and ``evaluate``, ``predict``, ``serve`` and ``export`` run it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from objrec.bodies import Body, body_key, fingerprint_module
from objrec.cache_folder import COMPILED_FOLDER
from objrec.config import DataConfig
from objrec.data import scan_class_folder
from objrec.errors import ObjrecError
from objrec.file_index import hash_file
from objrec.images import PIXEL_RULES, UnreadableImageError, open_image
from objrec.int8_body import QuantizedBody, int8_engine, int8_numerics
from objrec.openvino_runtime import OpenVinoModel
from objrec.ort_quantizer import quantization_api, quiet
from objrec.outputs import staged_file
from objrec.progress import SILENT, Reporter
from objrec.runtime import (
    OnnxModel,
    export_onnx,
    onnx_session,
    onnxruntime_available,
    run_cut_by_ctrl_c,
    using_graph,
)
from objrec.store import FeatureStore
from objrec.transforms import build_transforms, draft_size
from objrec.words import plural

log = logging.getLogger(__name__)

METHODS = ("minmax", "entropy", "percentile")
FORMATS = ("qdq", "qoperator")
KEEPABLE = ("stem", "head")
RANGE_BATCH = 4
"""Images a step of the int8 copy's calibration (the activations' ranges measured): the histogram
calibrators hold every activation of a batch, and the calibration graph ran faster on 4 than on 8
(10.8 against 12.9 s, medians of 3). Not ``batches.CALIBRATION_BATCH``, the store rows a batch of
the confidence calibration (the temperature), which "calibration" also names."""


def calibration_set() -> list:
    """The fixed calibration images: objrec's built-in sample (120 downscaled Caltech-101 photos,
    24 of each of airplanes, Motorbikes, sunflower, watch and grand_piano; ``ATTRIBUTION.txt``)."""
    folder = Path(str(resources.files("objrec") / "sample" / "caltech101_mini"))
    return list(scan_class_folder(folder).samples)


@dataclass(frozen=True)
class QuantConfig:
    """How a body is quantized; every field changes the int8 graph, so all are in its cache key."""

    method: str = "minmax"
    """Calibration: ``minmax`` (observed range), ``entropy`` or ``percentile`` (histograms)."""
    calibration_images: int = 120
    """Images (centre view) run through the fp32 body to measure activation ranges, drawn by
    content from the calibration set (the built-in sample's 120: all of them by default)."""
    per_channel: bool = True
    """One weight scale per output channel rather than per tensor."""
    fmt: str = "qoperator"
    """``qoperator`` (QLinearConv and ONNX Runtime's other integer operators) or ``qdq``
    (QuantizeLinear/DequantizeLinear pairs around float operators, fused by the runtime when it
    loads the graph). OpenVINO runs QDQ only, so its bodies are quantized so
    (:func:`quantize_body`); in ONNX Runtime the two gave the same features and QOperator ran 3 to
    5% faster on the default body (``benchmarks/README.md``, 2 December; an earlier 2.3 times,
    ``int8_speed.py``, was measured before ``prepare`` folded the pads)."""
    prepare: bool = True
    """Run ONNX Runtime's ``quant_pre_process`` first (shape inference and its basic graph
    optimisations). On the default body this folds the ``Pad`` before each "same"-padded
    convolution into the convolution; quantized without it, each of the 59 pads stays a float
    operator between a DequantizeLinear and a QuantizeLinear."""
    activations: str = "uint8"
    """``uint8`` (asymmetric; ONNX Runtime's advice for x86 with VNNI) or ``int8``."""
    keep_fp32: tuple[str, ...] = ()
    """Layers left in fp32: ``stem`` (each body's first convolution), ``head`` (its last)."""
    seed: int = 0
    """Which images of the calibration set are drawn when ``calibration_images`` is fewer."""

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ObjrecError(f"calibration method must be one of {', '.join(METHODS)}")
        if self.fmt not in FORMATS:
            raise ObjrecError(f"quantization format must be one of {', '.join(FORMATS)}")
        if self.activations not in ("uint8", "int8"):
            raise ObjrecError("activations must be uint8 or int8")
        if self.calibration_images < 1:
            raise ObjrecError("calibration needs at least one image")
        if not set(self.keep_fp32) <= set(KEEPABLE):
            raise ObjrecError(f"keep_fp32 takes {', '.join(KEEPABLE)}")
        object.__setattr__(self, "keep_fp32", tuple(sorted(set(self.keep_fp32))))


def calibration_sample(
    samples: Sequence, n: int, seed: int = 0, digests: Sequence[str] | None = None
) -> tuple[list, list[str]]:
    """``n`` samples of distinct content drawn by content, and their digests (all when fewer).

    Each image ranks by a hash of ``seed`` and its content digest (``digests``, one per sample,
    as the feature store gives them; else each file is hashed): the draw depends on what the
    images are, not on their names or folders, so renaming or moving images keeps it.
    """
    digests = list(digests) if digests is not None else [hash_file(s.path) for s in samples]
    by_digest = dict(zip(digests, samples, strict=True))

    def rank(digest: str) -> str:
        return hashlib.sha256(f"{seed}|{digest}".encode()).hexdigest()

    chosen = sorted(by_digest, key=rank)[:n]
    return [by_digest[d] for d in chosen], chosen


READ_STEP = 60
"""Calibration images read per step of the task :data:`QUANTIZING`: a step about as long as a
calibration batch's (120 images read in 4.4 s, a batch calibrated in 2.3 s, at a load of 4), so
that the time left it shows holds (a step per 4 images read, 30 quick steps, said 28 s were left
of 150)."""


def calibration_batches(
    samples: Sequence, data: DataConfig, advance: Callable[[], object] = lambda: None
) -> list[np.ndarray]:
    """The centre views of ``samples``, preprocessed as for inference, in batches; unreadable
    files are left out. ``advance`` is called once per :data:`READ_STEP` samples read."""
    transform = build_transforms(data, train=False)
    images = []
    for start in range(0, len(samples), READ_STEP):
        for s in samples[start : start + READ_STEP]:
            try:
                images.append(transform(open_image(s.path, draft_size(data))))
            except UnreadableImageError:
                continue
        advance()
    if not images:
        raise ObjrecError("no readable image to calibrate the int8 body on")
    stacked = torch.stack(images).numpy()
    return [stacked[i : i + RANGE_BATCH] for i in range(0, len(stacked), RANGE_BATCH)]


class _Reader:
    """ONNX Runtime's CalibrationDataReader over prepared batches (strided: one batch at a time)."""

    def __init__(self, name: str, batches: list[np.ndarray]):
        self.name, self.batches = name, batches
        self.start, self.end = 0, len(batches)

    def get_next(self) -> dict | None:
        if self.start >= self.end:
            return None
        self.start += 1
        return {self.name: self.batches[self.start - 1]}

    def __len__(self) -> int:
        return len(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self.start, self.end = start_index, min(end_index, len(self.batches))


def kept_nodes(model, keep: Sequence[str]) -> list[str]:
    """Names of the convolutions ``keep`` names: ``stem`` (those reading the graph input) and
    ``head`` (the last convolution before each global pooling)."""
    nodes = list(model.graph.node)
    producer = {out: node for node in nodes for out in node.output}
    inputs = {i.name for i in model.graph.input}
    names = []
    if "stem" in keep:
        names += [n.name for n in nodes if n.op_type == "Conv" and n.input[0] in inputs]
    if "head" in keep:
        for pool in (n for n in nodes if n.op_type in ("GlobalAveragePool", "ReduceMean")):
            node = producer.get(pool.input[0])
            while node is not None and node.op_type != "Conv":
                node = producer.get(node.input[0])
            if node is not None:
                names.append(node.name)
    return names


@dataclass(frozen=True)
class Calibrated:
    """What :func:`activation_ranges` measured: each activation's range, written to ``ranges``,
    and the graph's own output of every calibration image (``features``, in order: the fp32
    features its calibration computed anyway, which the int8 copy is compared with)."""

    ranges: Path
    features: np.ndarray | None
    """None where the calibrator ran the graph otherwise than for every output (``CutByCtrlC``
    keeps those runs only): nothing to compare the copy with (:func:`said_fidelity`)."""


def activation_ranges(
    model: Path,
    batches: list[np.ndarray],
    config: QuantConfig,
    out: Path,
    advance: Callable[[], object] = lambda: None,
    say: Callable[[str], object] = lambda what: None,
) -> Calibrated:
    """Measure each activation's range on ``batches`` and write them to ``out`` (ONNX Runtime's
    calibration cache, which ``quantize_static`` reads); the graph's own outputs of the batches
    come back beside them.

    ONNX Runtime's calibrator adds a ReduceMin and a ReduceMax after every tensor and runs that
    graph with every graph optimisation off, which on the default body took 18 s for the 120
    images (the body alone runs them in about 2). Its graph runs here in a session with ONNX
    Runtime's full optimisations instead, as any objrec session: 10 s, the same ranges within
    ``6e-5`` (``benchmarks/int8_quantize_time.py``). One batch per pass, as ``quantize_static``'s
    ``CalibStridedMinMax`` does: the histogram methods hold every activation of a pass;
    ``advance`` is called after each, and after the calibration graph is made and after it is
    loaded (:data:`PROBE_STEPS`: 12 and 7 s at a load of 18, with nothing counted); ``say`` is
    told each of the three parts as it begins."""
    api = quantization_api()
    say("adding a range probe after each layer")
    calibrator = api.create_calibrator(
        model,
        [],
        augmented_model_path=str(out.with_suffix(".augmented.onnx")),
        calibrate_method=_method(api, config),
    )
    advance()
    say("loading the probed graph")
    session = CutByCtrlC(onnx_session(Path(calibrator.augmented_model_path)), graph_output(model))
    calibrator.infer_session = session
    advance()
    name = session.get_inputs()[0].name
    say(f"measuring the activations' ranges, {RANGE_BATCH} images a step")
    for batch in batches:
        calibrator.collect_data(_Reader(name, [batch]))
        advance()
    api.save_tensors_data(calibrator.compute_data(), out)
    return Calibrated(out, np.concatenate(session.kept) if session.kept else None)


def graph_output(model: Path) -> str:
    """The name of the first output of the graph at ``model`` (the body's features)."""
    import onnx

    return onnx.load(str(model), load_external_data=False).graph.output[0].name


class CutByCtrlC:
    """An ONNX Runtime session whose runs a Ctrl-C ends at once (``runtime.run_cut_by_ctrl_c``),
    as the calibrator runs it: Ctrl-C during the int8 copy was answered after the batch in hand,
    17 s on a loaded machine, its progress lines going on meanwhile."""

    def __init__(self, session: Any, keep: str | None = None) -> None:
        self.session = session
        names = [output.name for output in session.get_outputs()]
        self.index = names.index(keep) if keep in names else None
        self.kept: list[np.ndarray] = []
        """The output named ``keep`` of each run that asked for every output, in order."""

    def run(self, outputs: list[str] | None, feed: dict, options: Any = None) -> list:
        got = run_cut_by_ctrl_c(self.session, feed, outputs)
        if outputs is None and self.index is not None:
            self.kept.append(got[self.index])
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def _method(api, config: QuantConfig):
    methods = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
    return getattr(api.CalibrationMethod, methods[config.method])


def quantize_graph(
    fp32_path: Path,
    out: Path,
    batches: list[np.ndarray],
    config: QuantConfig,
    advance: Callable[..., object] = lambda n=1: None,
    say: Callable[[str], object] = lambda what: None,
    engine: str = "onnxruntime",
    compiled: Path | None = None,
) -> Fidelity | None:
    """Write the int8 version of the graph at ``fp32_path`` to ``out`` (atomically); how closely
    its features follow fp32's on ``batches`` as ``engine`` runs it (:func:`compare_features`;
    ``compiled``: OpenVINO's compiled graphs), None where the calibration kept no fp32 features.
    ``advance`` counts :data:`QUANTIZE_STEPS` steps plus one per calibration batch; ``say`` is
    told each part as it begins (``Reporter.doing``): the graph quantized and written is one call
    of ONNX Runtime's that counts nothing for 15 to 40 s."""
    import onnx

    api = quantization_api()
    with tempfile.TemporaryDirectory() as tmp_dir, staged_file(out) as tmp, quiet():
        source = Path(tmp_dir) / "prepared.onnx" if config.prepare else fp32_path
        if config.prepare:
            say("preparing the graph")
            api.quant_pre_process(str(fp32_path), str(source))
        advance()
        ranges = Path(tmp_dir) / "ranges.json"
        calibrated = activation_ranges(source, batches, config, ranges, advance, say)
        say("quantizing the weights and writing the graph (one long step)")
        model = onnx.load(str(source))
        api.quantize_static(
            model,
            str(tmp),
            None,
            quant_format=api.QuantFormat.QDQ if config.fmt == "qdq" else api.QuantFormat.QOperator,
            per_channel=config.per_channel,
            activation_type=(
                api.QuantType.QUInt8 if config.activations == "uint8" else api.QuantType.QInt8
            ),
            weight_type=api.QuantType.QInt8,
            nodes_to_exclude=kept_nodes(model, config.keep_fp32),
            calibrate_method=_method(api, config),
            calibration_cache_path=ranges,
        )
        advance(WRITE_STEPS)
        say("comparing its features with the fp32 network's")
        kept = calibrated.features  # None: nothing to compare with
        fidelity = None if kept is None else compare_features(tmp, batches, kept, engine, compiled)
        advance()
    return fidelity


@dataclass(frozen=True)
class Fidelity:
    """How closely an int8 graph's features follow its fp32 graph's on the same images: the
    cosine similarity of each image's two feature vectors, on average and at its lowest, the
    int8 graph run by ``engine``, the one that runs the copy (their kernels differ: cosine
    median 0.998 between the two engines' features)."""

    images: int
    mean: float
    lowest: float
    engine: str = "onnxruntime"
    """``openvino`` or ``onnxruntime``."""

    def to_json(self) -> dict[str, Any]:
        """As ``objrec backbones --json`` gives it (docs/json.md), kept with the copy's graph."""
        return asdict(self) | {"mean": round(self.mean, 4), "lowest": round(self.lowest, 4)}

    @classmethod
    def from_json(cls, data: Any) -> Fidelity | None:
        """The figure :meth:`to_json` gave; None for anything else (a damaged memo)."""
        try:
            mean, lowest = float(data["mean"]), float(data["lowest"])
            return cls(int(data["images"]), mean, lowest, str(data["engine"]))
        except (KeyError, TypeError, ValueError):
            return None

    def strays(self) -> bool:
        """Whether the int8 features stray beyond what objrec's own bodies showed
        (:data:`LEAST_MEAN_COSINE`)."""
        return self.mean < LEAST_MEAN_COSINE


LEAST_MEAN_COSINE = 0.95
"""The lowest mean cosine similarity of an int8 copy's features to fp32's on the calibration images
taken without a warning. objrec's own bodies keep 0.987 to 0.991 there (Lite0 0.9906, Lite1
0.9871, Lite2 0.9901, the default three at 240 px 0.9890), and 0.990 to 0.993 on 240 Caltech-101
validation photos in either engine; at the lowest image, 0.87 to 0.97 and 0.84 to 0.96: a mean,
not the lowest, is what tells a copy that strays from one odd image. Room is left for other CPUs'
int8 kernels (session 62, under the CPU lock)."""


def compare_features(
    graph: Path,
    batches: list[np.ndarray],
    reference: np.ndarray,
    engine: str = "onnxruntime",
    compiled: Path | None = None,
) -> Fidelity:
    """How closely the int8 graph at ``graph`` follows ``reference``, the fp32 features of
    ``batches`` (those the calibration computed): the batches run through it once more (the
    images are not decoded again) by ``engine``, the one that will run the copy, its answers
    measured as they will be given (:func:`int8_features`)."""
    got = int8_features(graph, batches, engine, compiled)
    got, reference = got.reshape(len(got), -1), reference.reshape(len(reference), -1)
    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1)
    cosines = (got * reference).sum(axis=1) / np.maximum(norms, 1e-12)
    return Fidelity(len(cosines), float(cosines.mean()), float(cosines.min()), engine)


def int8_features(
    graph: Path, batches: list[np.ndarray], engine: str, compiled: Path | None = None
) -> np.ndarray:
    """The features of ``batches`` by the int8 graph at ``graph`` in ``engine``: ONNX Runtime a
    batch at a time; OpenVINO all at once, in the static batches the frozen pass runs (its
    graph compiled for them kept in ``compiled``, the cache folder's, where the frozen pass that
    follows loads it rather than compiling it again)."""
    if engine == "openvino":
        model = OpenVinoModel(graph.read_bytes(), cache=compiled)
        return model(torch.from_numpy(np.concatenate(batches))).numpy()
    onnx = OnnxModel(graph)
    return np.concatenate([onnx(torch.from_numpy(batch)).numpy() for batch in batches])


def calibration_key(
    body: str, digests: Sequence[str], data: DataConfig, config: QuantConfig
) -> str:
    """The int8 graph's cache key: the body (``bodies.body_key``: its weights, code and
    PyTorch), the preprocessing, the settings and the contents of the calibration images (their
    order does not matter), and the rules they are decoded by."""
    payload = {
        "pixels": PIXEL_RULES,
        "body": body,
        "calibration": sorted(digests),
        "data": asdict(data),
        "quant": asdict(config),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


QUANTIZING = (
    "making the 8-bit (int8) copy of the pretrained weights (once per network and cache folder)"
)
"""The task shown while an int8 graph is made (it is cached afterwards), counting its steps."""
WRITE_STEPS = 10
"""Steps the int8 graph's writing counts for in the task :data:`QUANTIZING`, as long as about
ten calibration batches: ONNX Runtime quantizes and writes the whole graph in one call, 43.0 s
against 4.22 s a batch on average (30 batches, 126.7 s; quantize_body of the default ensemble
into an empty cache folder under the CPU lock, load 8.8 to 13: 200.3 s in all; 35 s against
4 to 5 at a load of 9 to 10). Counted as one step, the bar would sit at 34/35, "about 5s left",
for those 35 s; it still stands for that call, saying what it does
(``Reporter.doing``: "quantizing the weights and writing the graph (one long step)")."""
PROBE_STEPS = 2
"""Steps of the calibration graph before its first batch (:func:`activation_ranges`): made (a
range probe after each layer), then loaded; the bar sat at 4/44 for both, 19 s at a load of 18."""
QUANTIZE_STEPS = 1 + PROBE_STEPS + WRITE_STEPS + 1
"""Steps of :func:`quantize_graph` besides the calibration batches: the graph prepared (one),
the calibration graph (:data:`PROBE_STEPS`), the int8 graph written (:data:`WRITE_STEPS`), its
features compared with fp32's (one)."""


class CopyStopped(KeyboardInterrupt):
    """Ctrl-C while the int8 copy was being made, with how far it got (``done`` of ``total``
    steps): the copy is written only at its end, so train says that it starts over and that
    letting it finish once serves every later train ("nothing of the run was saved" alone would
    hide a one-off step that may have run a minute)."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total

    def said(self) -> str:
        """What the stop left of the copy, one clause."""
        return (
            f"the 8-bit (int8) copy of the pretrained weights was {self.done} of {self.total} "
            "steps done and starts over next time: it is made once per network and cache folder, "
            "so let it finish once and every later train of these networks skips it"
        )


FP32 = '`precision="fp32"`'
"""How :func:`said_fidelity` tells a caller to run a body in fp32 instead: train's and audit's
setting (the CLI spells it ``--precision fp32``); a caller without it names another way."""


def quantize_body(
    body: Body,
    data: DataConfig,
    cache_root: Path,
    config: QuantConfig | None = None,
    samples: Sequence | None = None,
    reporter: Reporter = SILENT,
    engine: str = "auto",
    store: FeatureStore | None = None,
    name: str = "the body",
    fp32: str = FP32,
) -> QuantizedBody:
    """The int8 version of ``body``, calibrated on ``samples`` (default: ``calibration_set()``),
    run by ``engine`` (``int8_body.ENGINES``; ``auto``: :func:`int8_engine`); ``store``: where a
    cached graph found whole is remembered (:func:`usable`), and how closely it follows ``body``
    (its :class:`Fidelity`, measured in ``engine`` as the copy is made: the body's ``fidelity``,
    None where not known); ``name``: the body as a warning names it (its backbone), where its
    int8 copy strays from it (:func:`said_fidelity`; ``fp32``: how the caller's user runs it in
    fp32 instead, in the API's words).

    The int8 graph is cached in ``cache_root/onnx`` beside the fp32 graph, under a key covering
    the body, ``data``, ``config`` and the calibration images' contents; with the default
    calibration set that key, and so the graph, does not depend on the user's images. Making it
    (about 20 s for the default three-body ensemble) is shown to ``reporter`` as a task
    (``QUANTIZING``).
    """
    if not onnxruntime_available():
        raise ObjrecError('`precision="int8"` needs onnxruntime: pip install onnxruntime')
    engine = int8_engine(engine)
    config = config or QuantConfig()
    if engine == "openvino":  # it runs QDQ graphs only
        config = replace(config, fmt="qdq")
    samples = calibration_set() if samples is None else samples
    chosen, chosen_digests = calibration_sample(samples, config.calibration_images, config.seed)
    body_fp = fingerprint_module(body)
    graphed = body_key(body, body_fp)  # its code too: a changed forward is exported again
    key = calibration_key(graphed, chosen_digests, data, config)
    folder = Path(cache_root) / "onnx"
    path = folder / f"{graphed[:32]}-{data.input_size}-int8-{key}.onnx"
    float_graph = folder / f"{graphed[:32]}-{data.input_size}.onnx"  # cache.onnx_path's
    making = Int8Copy(chosen, float_graph, path, engine)
    with using_graph(path):
        fidelity = found_or_made(body, data, config, making, (reporter, store), (name, fp32))
        copy = QuantizedBody(body, path.read_bytes(), engine, body_fp)
        copy.fidelity = fidelity
        return copy


def found_or_made(
    body: Body,
    data: DataConfig,
    config: QuantConfig,
    making: Int8Copy,
    shown: tuple[Reporter, FeatureStore | None],
    said: tuple[str, str],
) -> Fidelity | None:
    """The int8 graph ``making`` says, found cached and whole (its :class:`Fidelity` recalled
    from the store, ``shown[1]``) or made (:func:`make_int8_graph`, shown to ``shown[0]``): its
    fidelity measured, said (:func:`said_fidelity`, ``said``: the body's name, and how its user
    runs it in fp32) and remembered."""
    reporter, store = shown
    if usable(making.out, store):
        log.info("the int8 body calibrated earlier, kept in %s, is reused", making.out.parent)
        return recalled_fidelity(store, making.out, making.engine)
    with using_graph(making.fp32):
        fidelity = make_int8_graph(body, data, config, making, reporter, store)
    said_fidelity(fidelity, *said)
    remember_fidelity(store, making.out, making.engine, fidelity)
    return fidelity


def fidelity_key(graph: Path, engine: str) -> str:
    """The store's key of the :class:`Fidelity` of the int8 graph at ``graph`` (its file's name
    holds its cache key: the body, the settings, the calibration images) as ``engine`` runs it,
    in its version, on this CPU's int8 path (``int8_body.int8_numerics``)."""
    return f"fidelity:{graph.name}:{int8_numerics(engine)}"


def remember_fidelity(
    store: FeatureStore | None, graph: Path, engine: str, fidelity: Fidelity | None
) -> None:
    """Keep ``fidelity`` in ``store`` for the copy's later uses, which find its graph cached and
    measure nothing (:func:`recalled_fidelity`)."""
    if store is not None and fidelity is not None:  # whole: recalled as measured
        store.remember(fidelity_key(graph, engine), json.dumps(asdict(fidelity)))


def recalled_fidelity(store: FeatureStore | None, graph: Path, engine: str) -> Fidelity | None:
    """The :class:`Fidelity` :func:`remember_fidelity` kept for the graph at ``graph`` run by
    ``engine``; None where none is kept (no store, a graph an objrec before 7 December 2026
    made, another engine's version)."""
    known = store.recall(fidelity_key(graph, engine)) if store is not None else None
    if known is None:
        return None
    try:
        return Fidelity.from_json(json.loads(known))
    except ValueError:
        return None


@dataclass(frozen=True)
class Int8Copy:
    """An int8 graph to make: its calibration images, the body's fp32 graph (exported where
    missing), where the int8 graph goes and the engine that runs it."""

    images: Sequence
    fp32: Path
    out: Path
    engine: str = "onnxruntime"
    """What runs the copy, in which its features are compared with fp32's."""


def make_int8_graph(
    body: Body,
    data: DataConfig,
    config: QuantConfig,
    making: Int8Copy,
    reporter: Reporter,
    store: FeatureStore | None,
) -> Fidelity | None:
    """The int8 graph of ``body`` that ``making`` says, and how closely it follows ``body``,
    shown as the task :data:`QUANTIZING`; logged as the one-time step it is, with its seconds and
    how long it may take: a Python caller saw "calibrating the int8 body on 120 images" and about
    20 s of nothing, unaware that later trains skip it; each part is logged as it begins
    (:func:`doing_logged`): at INFO a newcomer saw nothing else for 174 s."""
    images, fp32, out = making.images, making.fp32, making.out
    folder = out.parent
    log.info(
        "calibrating the int8 body on %s, once per network and cache folder (about half a minute "
        "on 2 idle cores, a few minutes on busy ones): kept in %s for later runs",
        plural(len(images), "image"),
        folder,
    )
    doing = doing_logged(reporter)
    started = time.perf_counter()
    # a step for each batch of images read, the fp32 graph (exported unless cached) and
    # quantize_graph's: the first train on a new cache folder showed this line alone for about
    # 40 s, with no share done or time left; the images read before it began, its time said
    # 4m02s where train's summary said 286 s of it (at a load of 16)
    read, calibrated = -(-len(images) // READ_STEP), -(-len(images) // RANGE_BATCH)
    total = read + 1 + QUANTIZE_STEPS + calibrated
    with reporter.task(QUANTIZING, total) as shown, counted(shown, total) as advance:
        reporter.counts("steps")  # not images: "reading the calibration images: 0/46" read so
        doing("reading the calibration images")
        batches = calibration_batches(images, data, advance)
        if not usable(fp32, store):
            doing("exporting the pretrained networks")
            export_onnx(body, fp32, data.input_size)
        advance()
        compiled = folder.parent / COMPILED_FOLDER  # where the frozen pass's OpenVINO looks
        fidelity = quantize_graph(
            fp32, out, batches, config, advance, doing, making.engine, compiled
        )
        advance(calibrated - len(batches))  # the batches its unreadable images left unfilled
    log.info(
        "int8 body calibrated in %.1f s (once: later runs reuse it)", time.perf_counter() - started
    )
    return fidelity


def said_fidelity(fidelity: Fidelity | None, name: str, fp32: str = FP32) -> None:
    """Log how closely the int8 copy of the body ``name`` follows its fp32 features, in the
    engine that runs it, and warn where it strays (:meth:`Fidelity.strays`): int8 was validated
    on objrec's own bodies, and a body of other weights (a fine-tuned or domain-specific one) may
    lose what tells its classes apart in 8 bits. ``fp32``: how the user runs it in fp32 instead
    (:data:`FP32`). Where the calibration kept no fp32 features (an ONNX Runtime whose
    calibrator runs the graph otherwise), one sentence says it was not compared."""
    if fidelity is None:
        log.warning(
            "the int8 copy of %s was not compared with its fp32 features: ONNX Runtime's "
            "calibrator kept none (another onnxruntime version?), so whether it strays is unknown",
            name,
        )
        return
    engine = ENGINE_NAMES.get(fidelity.engine, fidelity.engine)
    log.info(
        "int8 copy of %s, run by %s: its features against fp32's on %s, cosine similarity %.4f "
        "on average, %.4f at the lowest",
        name,
        engine,
        plural(fidelity.images, "calibration image"),
        fidelity.mean,
        fidelity.lowest,
    )
    if fidelity.strays():
        log.warning(
            "the int8 copy of %s, run by %s, strays from its fp32 features on objrec's "
            "calibration images (cosine similarity %.3f on average, below %.2f; objrec's own "
            "bodies keep about 0.99), so its answers may differ from fp32's: %s runs it as it is",
            name,
            engine,
            fidelity.mean,
            LEAST_MEAN_COSINE,
            fp32,
        )


ENGINE_NAMES = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}
"""The int8 engines as a sentence names them."""


def doing_logged(reporter: Reporter) -> Callable[[str], None]:
    """``reporter.doing``, each part of the int8 step also logged at INFO as it begins ("int8
    copy: measuring the activations' ranges, ..."): a script that only logs saw one line and
    then minutes of nothing. A part at a time, never an image or batch."""

    def doing(what: str) -> None:
        log.info("int8 copy: %s", what)
        reporter.doing(what)

    return doing


@contextlib.contextmanager
def counted(advance: Callable[..., object], total: int) -> Iterator[Callable[..., None]]:
    """``advance``, counting the steps done, so that Ctrl-C in the block raises
    :class:`CopyStopped` saying how far the int8 copy got."""
    done = 0

    def step(n: int = 1) -> None:
        nonlocal done
        done += n
        advance(n)

    try:
        yield step
    except KeyboardInterrupt:
        raise CopyStopped(done, total) from None


def usable(graph: Path, store: FeatureStore | None = None) -> bool:
    """Whether a cached graph is there and opens in ONNX Runtime (12 ms for EfficientNet-Lite0's
    int8 graph, 0.15 to 0.2 s for the default three bodies'); one that does not (cut short by a
    crash before the disk held it whole) is logged, to be made again. With ``store``, a graph
    found whole is remembered there (:func:`remember_whole`) and not opened again while its
    file is the same (:func:`graph_stamp`)."""
    if not graph.is_file():
        return False
    key = graph_stamp(graph) if store is not None else None
    if store is not None and key is not None and store.recall(key) == WHOLE:
        return True
    try:
        onnx_session(graph, threads=1)
    except Exception as exc:  # ONNX Runtime raises many types: any means "not usable"
        log.warning("the cached graph %s does not open (%s): making it again", graph, exc)
        return False
    if store is not None and key is not None:
        remember_whole(graph, key, store)
    return True


WHOLE = "opens"
"""What :func:`usable` remembers of a graph found whole."""


def graph_stamp(graph: Path) -> str | None:
    """A digest of the graph file's path, size, times and inode, and of the ONNX Runtime that
    opened it (:func:`runtime_file`), None when either cannot be read: objrec writes a graph to
    another name and renames it into place, so any new graph, or a file changed in place, reads
    as another key (its ctime moves with any write); so does another runtime installed, which
    may not open the same graph (an older one refuses a newer IR version)."""
    try:
        stat, runtime = os.stat(graph), runtime_file()
    except OSError:
        return None
    if runtime is None:
        return None
    times = (stat.st_mtime_ns, stat.st_ctime_ns)
    made_of = (str(graph.absolute()), stat.st_size, *times, stat.st_ino, stat.st_dev, runtime)
    return "graph:" + hashlib.sha256(repr(made_of).encode()).hexdigest()


def runtime_file() -> tuple[str, int, int, int, int] | None:
    """The path, size, times and inode of ONNX Runtime's ``__init__.py`` (found, not imported),
    which any install rewrites (it holds the version); None when it is not installed as a file."""
    import importlib.util

    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or spec.origin is None:
        return None
    stat = os.stat(spec.origin)
    return (spec.origin, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


def remember_whole(graph: Path, key: str, store: FeatureStore) -> None:
    """Remember under ``key`` that ``graph`` opens, once the disk holds it (``fsync``): a crash
    may leave a graph cut short on disk, never remembered as whole. Not when the file changed
    since ``key`` was read (the graph checked may be another)."""
    try:
        with open(graph, "rb") as file:
            os.fsync(file.fileno())
    except OSError:
        return
    if graph_stamp(graph) == key:
        store.remember(key, WHOLE)

"""The int8 input quantizer's rounding ties: ONNX Runtime against OpenVINO, the input moved or not.

    python benchmarks/int8_ties.py [--data /work/splits/s0] [--images 64]
    OBJREC_CACHE=FOLDER python benchmarks/int8_ties.py --shifted-objrec train DATA --out RUN ...

First every pixel value (0 to 255, each channel) is normalised as objrec normalises the default
body's input and placed on the int8 graph's input quantizer (step 2/255, zero point 128): how far
each lands from ``p + 0.5``, and what a QuantizeLinear/DequantizeLinear pair makes of it in ONNX
Runtime and in OpenVINO (run as objrec runs it, float operators in float32), without and with the
input moved half a step down (:func:`shift_tied_input`). Then the default three-body ensemble is
quantized as OpenVINO's bodies are (QDQ, in a temporary folder), its input moved or not, and its
features on ``--images`` valid images of ``--data`` (centre view) compared: each graph in ONNX
Runtime against the same graph in OpenVINO, each against the fp32 body, and ONNX Runtime without
its graph optimisations (:func:`unfused`) against both (cosine per image).

``--shifted-objrec ARGS`` runs ``objrec ARGS`` with every int8 graph it makes moved so (cached
under another key, so that a cache folder never mixes the two): how the moved arm of a ``train``
was measured. objrec itself does not move its input: the move did not bring the exported file's
answers in ONNX Runtime closer to objrec's (``benchmarks/README.md``, "The int8 input
quantizer's rounding ties").
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _sampling import sample_parser

from objrec import quantize
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.config import DEFAULT_BACKBONE, DataConfig
from objrec.data import scan_class_folder
from objrec.int8_body import QuantizedBody
from objrec.openvino_runtime import OpenVinoModel
from objrec.outputs import staged_file
from objrec.quantize import (
    QuantConfig,
    calibration_batches,
    calibration_sample,
    calibration_set,
    quantize_body,
)
from objrec.runtime import OnnxModel
from objrec.transforms import build_batch_finish

QUANTIZE_GRAPH, CALIBRATION_KEY = quantize.quantize_graph, quantize.calibration_key

TIE = 1e-3
"""How close to ``k + 0.5`` of the input quantizer a pixel counts as on a tie: float32's
rounding of the normalised pixels moves them by up to 1.5e-5 of a step."""


def input_quantizer(model) -> tuple[Any, float, int] | None:
    """The node quantizing the graph's input (after the ``Pad``s ONNX Runtime's QOperator graphs
    keep in front of it), with its scale and zero point; None when the input stays float (the
    stem kept in fp32, ``keep_fp32``)."""
    from onnx import numpy_helper

    constants = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    tensor = model.graph.input[0].name
    while True:
        readers = [n for n in model.graph.node if tensor in n.input[:1]]
        quantizer = next((n for n in readers if n.op_type == "QuantizeLinear"), None)
        if quantizer is not None:
            scale, zero_point = (constants.get(name) for name in quantizer.input[1:3])
            if scale is None or zero_point is None or scale.size != 1:
                return None
            return quantizer, float(scale), int(zero_point)
        if len(readers) != 1 or readers[0].op_type != "Pad":
            return None
        tensor = readers[0].output[0]


def shift_tied_input(model, batches: Sequence[np.ndarray]):
    """``model`` with its input moved half a quantizer step down (an ``Add`` before everything
    that reads it) when every value of the calibration ``batches`` sits on a rounding tie of the
    input quantizer, else None (nothing to move).

    The EfficientNet-Lite bodies read pixels ``p`` (0 to 255) as ``2p/255 - 1``; their
    calibrated range [-1, 1] gives the input quantizer a step of 2/255 and a zero point of
    round(127.5) = 128, so pixel ``p`` is quantized from ``p + 0.5``: a tie for every pixel, which
    ONNX Runtime and OpenVINO compute and round differently (one pixel value in five apart). Moved half a step
    down, pixel ``p`` is quantized from ``p`` itself: the same integer in any engine, none lost
    (0 to 255), the body reading each pixel half a step (1/255) low, where it read it half a step
    low or high by how the tie fell. Zero padding is added after the move, and stays zero."""
    from onnx import helper, numpy_helper

    found = input_quantizer(model)
    if found is None:
        return None
    _, scale, zero_point = found
    values = np.unique(np.concatenate([np.unique(batch) for batch in batches]))
    position = values.astype(np.float64) / scale + zero_point
    if not np.all(np.abs(position - np.floor(position) - 0.5) < TIE):
        return None
    graph, name = model.graph, model.graph.input[0].name
    moved, offset = f"{name}_shifted", f"{name}_half_step"
    for node in graph.node:
        node.input[:] = [moved if i == name else i for i in node.input]
    graph.initializer.append(numpy_helper.from_array(np.array(-scale / 2, np.float32), offset))
    graph.node.insert(0, helper.make_node("Add", [name, offset], [moved], name=f"{name}_Shift"))
    return model


def shifted_quantize_graph(
    fp32_path: Path,
    out: Path,
    batches: list[np.ndarray],
    config: QuantConfig,
    advance: Callable[..., object] = lambda n=1: None,
    say: Callable[[str], object] = lambda what: None,
    engine: str = "onnxruntime",
    compiled: Path | None = None,
) -> quantize.Fidelity | None:
    """``quantize.quantize_graph``, its graph's input then moved (:func:`shift_tied_input`)."""
    import onnx

    fidelity = QUANTIZE_GRAPH(fp32_path, out, batches, config, advance, say, engine, compiled)
    moved = shift_tied_input(onnx.load(str(out)), batches)
    if moved is not None:
        with staged_file(out) as tmp:
            onnx.save(moved, str(tmp))
    return fidelity  # the graph's before it was moved


def shifted_key(body: str, digests: Sequence[str], data: DataConfig, config: QuantConfig) -> str:
    """``quantize.calibration_key``, made another: moved graphs are cached apart."""
    key = CALIBRATION_KEY(body, digests, data, config)
    return hashlib.sha256(f"moved|{key}".encode()).hexdigest()[:32]


def shifted_objrec(args: list[str]) -> int:
    """``objrec ARGS`` with every int8 graph it makes moved half a step (cached apart)."""
    from objrec.cli import main

    quantize.quantize_graph, quantize.calibration_key = shifted_quantize_graph, shifted_key
    sys.argv = ["objrec", *args]
    return main()


SCALE, ZERO_POINT = np.float32(2 / 255), 128
"""The default bodies' input quantizer, as their calibrated graphs hold it."""


def quantizer_graph(shift: bool) -> bytes:
    """Input -> (Add -scale/2) -> QuantizeLinear -> DequantizeLinear, as the int8 graph starts."""
    from onnx import TensorProto, helper, numpy_helper

    shape = [1, 3, 16, 16]
    constants = [
        numpy_helper.from_array(np.array(SCALE, np.float32), "scale"),
        numpy_helper.from_array(np.array(ZERO_POINT, np.uint8), "zero_point"),
        numpy_helper.from_array(np.array(-SCALE / 2, np.float32), "half_step"),
    ]
    shifted = [helper.make_node("Add", ["x", "half_step"], ["moved"])] if shift else []
    nodes = [
        *shifted,
        helper.make_node(
            "QuantizeLinear", ["moved" if shift else "x", "scale", "zero_point"], ["q"]
        ),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero_point"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "input_quantizer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)],
        constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def pixel_ties(data) -> None:
    """Where each pixel value lands on the input quantizer, and what each engine rounds it to."""
    pixels = torch.arange(256, dtype=torch.uint8).repeat(3, 1).reshape(1, 3, 16, 16)
    x = build_batch_finish(data)(pixels.clone()).numpy()
    p = pixels.numpy().astype(np.int64)
    position = x.astype(np.float64) / float(SCALE) + ZERO_POINT - p
    print(
        f"normalised pixel / {float(SCALE):.8f} + {ZERO_POINT} - pixel: "
        f"{position.min():.6f} to {position.max():.6f} (every one of 3 x 256 on a tie)"
    )
    for shift in (False, True):
        graph = quantizer_graph(shift)
        levels = {
            name: np.rint(model(torch.from_numpy(x)).numpy() / SCALE).astype(np.int64) + ZERO_POINT
            for name, model in (
                ("ONNX Runtime", OnnxModel(graph)),
                ("OpenVINO", OpenVinoModel(graph)),
            )
        }
        counts = ", ".join(
            f"{name} p+1 {int((q == p + 1).sum())} p {int((q == p).sum())}"
            for name, q in levels.items()
        )
        apart = levels["ONNX Runtime"] != levels["OpenVINO"]
        which = np.unique(p[apart])
        print(
            f"{'moved half a step' if shift else 'as calibrated':18s} {counts}; rounded apart: "
            f"{int(apart.sum())} of {p.size}"
            + (f" (pixel values {which[:8].tolist()}...)" if which.size else "")
        )


def cosines(a: torch.Tensor, b: torch.Tensor) -> str:
    c = torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1)
    return f"median {c.median():.6f} min {c.min():.6f}"


def features(args, data) -> None:
    """The default ensemble's int8 features in both engines, without and with the move."""
    import onnx

    spec = get_backbone(DEFAULT_BACKBONE)
    body = build_body(spec).eval()
    valid, _ = calibration_sample(scan_class_folder(args.data / "valid").samples, args.images, 1)
    batches = [torch.from_numpy(b) for b in calibration_batches(valid, data)]
    with torch.no_grad():
        fp32 = torch.cat([body(b) for b in batches])
    with tempfile.TemporaryDirectory() as folder:
        plain = quantize_body(body, data, Path(folder), engine="openvino")
        calibration = calibration_sample(calibration_set(), QuantConfig().calibration_images)[0]
        moved = shift_tied_input(
            onnx.load_from_string(plain.graph_bytes()), calibration_batches(calibration, data)
        )
        graphs = {False: plain, True: QuantizedBody(body, moved.SerializeToString(), "openvino")}
        for shift, openvino in graphs.items():
            engines = {
                "ov": openvino,
                "ort": openvino.on_engine("onnxruntime"),
                "unfused": unfused(openvino.graph_bytes()),
            }
            got = {e: torch.cat([m(b) for b in batches]) for e, m in engines.items()}
            print(
                f"{'moved half a step' if shift else 'as calibrated':18s} ONNX Runtime vs OpenVINO "
                f"{cosines(got['ort'], got['ov'])}; OpenVINO vs fp32 {cosines(got['ov'], fp32)}; "
                f"ONNX Runtime vs fp32 {cosines(got['ort'], fp32)}; unfused ONNX Runtime vs "
                f"OpenVINO {cosines(got['unfused'], got['ov'])}, vs ONNX Runtime "
                f"{cosines(got['unfused'], got['ort'])}",
                flush=True,
            )


def unfused(graph: bytes):
    """The graph in ONNX Runtime with its graph optimisations off: QuantizeLinear and
    DequantizeLinear run as the float operators the ONNX standard defines, no fused integer
    kernels (the reference both engines' int8 arithmetic approximates)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def main() -> None:
    if sys.argv[1:2] == ["--shifted-objrec"]:
        sys.exit(shifted_objrec(sys.argv[2:]))
    args = sample_parser(__doc__, images=64, split="valid").parse_args()
    data = resolve_data_config(get_backbone(DEFAULT_BACKBONE))
    print(f"{DEFAULT_BACKBONE}, {data.input_size} px, {args.images} valid images of {args.data}")
    pixel_ties(data)
    features(args, data)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

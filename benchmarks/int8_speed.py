"""Why is (or isn't) the int8 body faster? Graph preparation, format and operators side by side.

    python benchmarks/int8_speed.py [--data /work/splits/s0] [--images 128] [--repeats 3]
                                    [--batch 16] [--only NAME ...]

Exports the default three-body ensemble (240 px) to ONNX and quantizes it with ONNX Runtime's
``quantize_static`` in several ways, each calibrated (MinMax) on the same 64 training images:
on the graph as exported, or on the graph first prepared by ONNX Runtime's ``quant_pre_process``
(shape inference and its basic optimisations: constant folding, the explicit ``Pad`` before each
"same"-padded convolution folded into the convolution), QDQ or QOperator, uint8 or int8
activations, every supported operator or only the convolutions. For each it prints the body's
images/s on ``--images`` ready tensors of the valid split (batch ``--batch``, median of
``--repeats`` runs after a warm-up; ONNX Runtime's threads spinning between operators, objrec's
default, and not spinning), the agreement of the features with fp32's (median and minimum cosine
per image) and what ONNX Runtime runs after its own optimisations: the count of each operator of
the optimised graph that matters here (int8 convolutions, float convolutions, the quantize and
dequantize operators left between them).
"""

from __future__ import annotations

import collections
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from int8_choices import setup

from objrec.backbones import build_body
from objrec.config import DEFAULT_BACKBONE
from objrec.ort_quantizer import quantization_api, quiet
from objrec.quantize import calibration_batches, calibration_sample
from objrec.runtime import export_onnx

SHOWN = (
    "QLinearConv",
    "Conv",
    "FusedConv",
    "NchwcConv",
    "QuantizeLinear",
    "DequantizeLinear",
    "Pad",
    "QLinearAdd",
    "Add",
    "QGemm",
    "QLinearGlobalAveragePool",
    "GlobalAveragePool",
)


def session(graph: Path, threads: int, spin: bool, dump: Path | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if dump is not None:
        options.optimized_model_filepath = str(dump)
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def rate(sess, batches: list[np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    name = sess.get_inputs()[0].name
    out = np.concatenate([sess.run(None, {name: b})[0] for b in batches])
    n, rates = sum(len(b) for b in batches), []
    for _ in range(repeats):
        start = time.perf_counter()
        for b in batches:
            sess.run(None, {name: b})
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates), out


def op_counts(graph: Path, tmp: Path) -> str:
    import onnx

    dump = tmp / "optimised.onnx"
    session(graph, 1, False, dump)
    counts = collections.Counter(n.op_type for n in onnx.load(str(dump)).graph.node)
    return ", ".join(f"{op} {counts[op]}" for op in SHOWN if counts[op])


def cosine(got: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12)
    return float(np.median(cos)), float(cos.min())


class Reader:
    def __init__(self, name, batches):
        self.items = iter([{name: b} for b in batches])

    def get_next(self):
        return next(self.items, None)


def quantize(src: Path, out: Path, batches, fmt: str, act: str, ops: list[str] | None) -> Path:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    with quiet():
        quantize_static(
            str(src),
            str(out),
            Reader("input", batches),
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            per_channel=True,
            activation_type=QuantType.QUInt8 if act == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=ops,
        )
    return out


VARIANTS = [
    # name, prepared graph, format, activations, operators
    ("as exported, QDQ, uint8 act. (objrec now)", False, "qdq", "uint8", None),
    ("as exported, QDQ, int8 act.", False, "qdq", "int8", None),
    ("prepared, QDQ, uint8 act.", True, "qdq", "uint8", None),
    ("prepared, QDQ, int8 act.", True, "qdq", "int8", None),
    ("prepared, QOperator, uint8 act.", True, "qoperator", "uint8", None),
    ("prepared, QDQ, uint8 act., Conv only", True, "qdq", "uint8", ["Conv"]),
]


def main() -> None:

    quantization_api()  # loads ONNX Runtime's quantization modules from the right folder
    from onnxruntime.quantization import quant_pre_process

    args, spec, data, train, batches = setup(__doc__)
    threads = torch.get_num_threads()
    calib = calibration_batches(calibration_sample(train, 64, 0)[0], data)
    print(
        f"{DEFAULT_BACKBONE} at {data.input_size} px, batch {args.batch}, {threads} threads, "
        f"{sum(map(len, batches))} valid images of {args.data}, median of {args.repeats}; images/s"
    )
    print(f"load average at the start {os.getloadavg()[0]:.1f}", flush=True)
    r = args.repeats
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        raw = export_onnx(build_body(spec).eval(), tmp / "fp32.onnx", data.input_size)
        prepared = tmp / "prepared.onnx"
        with quiet():
            quant_pre_process(str(raw), str(prepared))
        spin, ref = rate(session(raw, threads, True), batches, r)
        calm, _ = rate(session(raw, threads, False), batches, r)
        print(f"{'fp32 as exported':44s} spin {spin:6.1f}  no spin {calm:6.1f}")
        print(f"    ops: {op_counts(raw, tmp)}", flush=True)
        for i, (name, prep, fmt, act, ops) in enumerate(VARIANTS):
            if args.only and not any(o in name for o in args.only):
                continue
            start = time.perf_counter()
            out = quantize(prepared if prep else raw, tmp / f"{i}.onnx", calib, fmt, act, ops)
            seconds = time.perf_counter() - start
            s, got = rate(session(out, threads, True), batches, r)
            c, _ = rate(session(out, threads, False), batches, r)
            med, low = cosine(got, ref)
            print(
                f"{name:44s} spin {s:6.1f}  no spin {c:6.1f}  ({s / spin:.2f}x, {c / calm:.2f}x)"
                f"  cos median {med:.4f} min {low:.4f}  quantized in {seconds:.0f} s"
            )
            print(f"    ops: {op_counts(out, tmp)}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Making the int8 body: ONNX Runtime's own calibration session against objrec's, side by side.

    python benchmarks/int8_quantize_time.py [--data /work/splits/s0] [--images 128] [--repeats 3]

Exports the default three-body ensemble once, then makes its int8 graph with ``QuantConfig()``'s
settings and calibration images, two ways, taking turns ``--repeats`` times:

* ``ort``: ``quantize_static`` calibrating itself (what ``quantize_graph`` did before): its
  calibration graph runs with every ONNX Runtime graph optimisation off;
* ``objrec``: ``quantize_graph`` now: the same calibration graph in a session with ONNX Runtime's
  full optimisations, its ranges handed to ``quantize_static`` as a calibration cache.

Prints each arm's seconds (median), the largest difference between the two arms' activation
ranges, whether the two int8 graphs are byte-identical, and the cosine similarity of their
features to each other and to fp32's on ``--images`` valid images of ``--data`` (centre view).
Nothing is cached: every graph is made in a temporary folder.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _sampling import sample_parser

from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.config import DEFAULT_BACKBONE
from objrec.data import scan_class_folder
from objrec.ort_quantizer import quantization_api, quiet
from objrec.quantize import (
    QuantConfig,
    _Reader,
    activation_ranges,
    calibration_batches,
    calibration_sample,
    calibration_set,
    kept_nodes,
    quantize_graph,
)
from objrec.runtime import OnnxModel, export_onnx


def ort_quantize(fp32: Path, out: Path, batches: list[np.ndarray], config: QuantConfig) -> None:
    """The int8 graph as ``quantize_graph`` made it before: ``quantize_static`` calibrating."""
    import onnx

    api = quantization_api()
    with tempfile.TemporaryDirectory() as tmp, quiet():
        prepared = Path(tmp) / "prepared.onnx"
        api.quant_pre_process(str(fp32), str(prepared))
        model = onnx.load(str(prepared))
        api.quantize_static(
            model,
            str(out),
            _Reader(model.graph.input[0].name, batches),
            quant_format=api.QuantFormat.QOperator,
            per_channel=config.per_channel,
            activation_type=api.QuantType.QUInt8,
            weight_type=api.QuantType.QInt8,
            nodes_to_exclude=kept_nodes(model, config.keep_fp32),
            calibrate_method=api.CalibrationMethod.MinMax,
            extra_options={"CalibStridedMinMax": 1},
        )


def ort_ranges(prepared: Path, batches: list[np.ndarray], out: Path) -> Path:
    """The activation ranges as ``quantize_static`` measured them (optimisations off)."""
    api = quantization_api()
    calibrator = api.create_calibrator(
        prepared, [], augmented_model_path=str(out.with_suffix(".augmented.onnx"))
    )
    name = calibrator.infer_session.get_inputs()[0].name
    for batch in batches:
        calibrator.collect_data(_Reader(name, [batch]))
    api.save_tensors_data(calibrator.compute_data(), out)
    return out


def largest_range_difference(a: Path, b: Path) -> float:
    api = quantization_api()
    ra, rb = api.load_tensors_data(a).data, api.load_tensors_data(b).data
    assert ra.keys() == rb.keys()
    return max(
        float(np.max(np.abs(np.asarray(ra[k].range_value) - np.asarray(rb[k].range_value))))
        for k in ra
    )


def features(graph: Path, batches: list[np.ndarray]) -> torch.Tensor:
    model = OnnxModel(graph)
    return torch.cat([model(torch.from_numpy(b)) for b in batches])


def cosine(a: torch.Tensor, b: torch.Tensor) -> str:
    cos = torch.nn.functional.cosine_similarity(a, b)
    return f"median {cos.median():.5f} min {cos.min():.5f}"


def time_arms(arms: dict, tmp: Path, repeats: int) -> None:
    """Each arm makes its graph ``repeats`` times, taking turns (the order swapped each round)."""
    seconds: dict[str, list[float]] = {name: [] for name in arms}
    for round_ in range(repeats):
        for name, make in list(arms.items())[:: 1 if round_ % 2 == 0 else -1]:
            start = time.perf_counter()
            make(tmp / f"{name}.onnx")
            seconds[name].append(time.perf_counter() - start)
            print(f"  round {round_ + 1}, {name:6s} {seconds[name][-1]:5.1f} s", flush=True)
    ort_s, objrec_s = (statistics.median(seconds[name]) for name in ("ort", "objrec"))
    print(
        f"making the int8 graph, median of {repeats}: ort {ort_s:.1f} s, objrec "
        f"{objrec_s:.1f} s, ratio {objrec_s / ort_s:.3f}"
    )


def agreement(body, fp32: Path, tmp: Path, calibration, batches, config: QuantConfig) -> None:
    """The two arms' ranges, graphs and features compared."""
    api = quantization_api()
    prepared = tmp / "prepared.onnx"
    api.quant_pre_process(str(fp32), str(prepared))
    with quiet():
        difference = largest_range_difference(
            ort_ranges(prepared, calibration, tmp / "ort.json"),
            activation_ranges(prepared, calibration, config, tmp / "objrec.json").ranges,
        )
    print(f"activation ranges: largest difference {difference:.2e}")
    same = (tmp / "ort.onnx").read_bytes() == (tmp / "objrec.onnx").read_bytes()
    with torch.inference_mode():
        reference = torch.cat([body(torch.from_numpy(b)) for b in batches])
    ort_f, objrec_f = features(tmp / "ort.onnx", batches), features(tmp / "objrec.onnx", batches)
    print(
        f"int8 graphs byte-identical: {same}; cosine over {sum(map(len, batches))} valid "
        f"images: objrec to ort {cosine(objrec_f, ort_f)}; ort to fp32 "
        f"{cosine(ort_f, reference)}; objrec to fp32 {cosine(objrec_f, reference)}"
    )


def main() -> None:
    parser = sample_parser(__doc__, images=128, repeats=3, split="valid")
    args = parser.parse_args()
    spec = get_backbone(DEFAULT_BACKBONE)
    data = resolve_data_config(spec)
    body = build_body(spec).eval()
    config = QuantConfig()
    calibration = calibration_batches(
        calibration_sample(calibration_set(), config.calibration_images, config.seed)[0], data
    )
    valid, _ = calibration_sample(scan_class_folder(args.data / "valid").samples, args.images, 1)
    batches = calibration_batches(valid, data)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        fp32 = export_onnx(body, tmp / "fp32.onnx", data.input_size)
        print(
            f"{DEFAULT_BACKBONE}, {data.input_size} px, {sum(map(len, calibration))} calibration "
            f"images, {torch.get_num_threads()} threads (load average {os.getloadavg()[0]:.1f})"
        )
        arms = {
            "ort": lambda out: ort_quantize(fp32, out, calibration, config),
            "objrec": lambda out: quantize_graph(fp32, out, calibration, config),
        }
        time_arms(arms, tmp, args.repeats)
        agreement(body, fp32, tmp, calibration, batches, config)


if __name__ == "__main__":
    main()

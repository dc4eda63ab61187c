"""Which int8 quantization of the default body? Speed and agreement with fp32, side by side.

    python benchmarks/int8_choices.py [--data /work/splits/s0] [--images 128] [--batch 16]
                                      [--repeats 3] [--only NAME ...]

Exports the default three-body ensemble (240 px) to ONNX, then quantizes it with ONNX Runtime's
static quantization: objrec's settings (``objrec.quantize.QuantConfig``), then each choice changed
alone (format, activation type, per-channel weights, graph preparation, calibration method and
size, layers kept in fp32), calibrated as ``objrec train`` calibrates: on objrec's calibration set
(``quantize.calibration_set``, the built-in sample), drawn by content. For each it prints the time
to calibrate and quantize, the body's images/s on ``--images`` ready tensors (a fixed sample of the
valid split; batch ``--batch``, median of ``--repeats`` runs after a warm-up, ONNX Runtime's
threads = torch's) and the agreement of its features with fp32's on those images: the median and
minimum cosine similarity per image, and the largest absolute difference relative to fp32's
largest feature. Images per CPU-second (this process's CPU time; ONNX Runtime's threads set not
to spin) is printed beside images/s: on a shared, busy machine it is the steadier of the two.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _sampling import SPLIT, SPLIT_HELP

from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.config import DEFAULT_BACKBONE
from objrec.data import scan_class_folder
from objrec.quantize import (
    QuantConfig,
    calibration_batches,
    calibration_sample,
    calibration_set,
    quantize_graph,
)
from objrec.runtime import export_onnx, onnx_session

DEFAULT = QuantConfig()

VARIANTS: list[tuple[str, QuantConfig]] = [
    (
        f"objrec's int8 ({DEFAULT.fmt}, {DEFAULT.method}, {DEFAULT.calibration_images} images)",
        DEFAULT,
    ),
    ("  QDQ", replace(DEFAULT, fmt="qdq")),
    ("  int8 activations", replace(DEFAULT, activations="int8")),
    ("  per-tensor weights", replace(DEFAULT, per_channel=False)),
    ("  not prepared (quant_pre_process)", replace(DEFAULT, prepare=False)),
    ("  Entropy calibration", replace(DEFAULT, method="entropy")),
    ("  64 calibration images", replace(DEFAULT, calibration_images=64)),
    ("  stem and last convolution kept fp32", replace(DEFAULT, keep_fp32=("stem", "head"))),
]
"""objrec's ``QuantConfig`` defaults, then each choice changed alone."""


def time_session(
    session, batches: list[np.ndarray], repeats: int
) -> tuple[float, float, np.ndarray]:
    """Median images/s and images per CPU-second (this process's) over ``repeats`` passes of
    ``batches`` after a warm-up, and the outputs."""
    name = session.get_inputs()[0].name
    outputs = np.concatenate([session.run(None, {name: b})[0] for b in batches])
    n = sum(len(b) for b in batches)
    rates, cpu_rates = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        for b in batches:
            session.run(None, {name: b})
        rates.append(n / (time.perf_counter() - start))
        cpu_rates.append(n / (time.process_time() - cpu))
    return statistics.median(rates), statistics.median(cpu_rates), outputs


def agreement(got: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Median and minimum per-image cosine similarity, and max |diff| / max |reference|."""
    cos = (got * reference).sum(1) / (
        np.linalg.norm(got, axis=1) * np.linalg.norm(reference, axis=1) + 1e-12
    )
    rel = float(np.abs(got - reference).max() / np.abs(reference).max())
    return float(np.median(cos)), float(cos.min()), rel


def setup(description: str | None):
    """The options both int8 scripts take; the default body, its data config, the training
    samples (``int8_speed.py`` calibrates on them; this script on objrec's calibration set) and ``--images`` valid images in ``--batch``-sized arrays to time."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--images", type=int, default=128, help="training images used")
    parser.add_argument("--batch", type=int, default=16, help="batch size")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed passes per variant (the median is printed)"
    )
    parser.add_argument("--only", nargs="*", help="run only variants whose name contains these")
    args = parser.parse_args()
    spec = get_backbone(DEFAULT_BACKBONE)
    data = resolve_data_config(spec)
    train = scan_class_folder(args.data / "train").samples
    valid, _ = calibration_sample(scan_class_folder(args.data / "valid").samples, args.images, 1)
    ready = np.concatenate(calibration_batches(valid, data))
    batches = [ready[i : i + args.batch] for i in range(0, len(ready), args.batch)]
    return args, spec, data, train, batches


def main() -> None:
    args, spec, data, _, batches = setup(__doc__)
    calibration = calibration_set()
    threads = torch.get_num_threads()
    print(f"{DEFAULT_BACKBONE} at {data.input_size} px, batch {args.batch}, {threads} threads,")
    print(f"{sum(map(len, batches))} valid images of {args.data}; calibration on objrec's set")
    print(f"load average at the start {os.getloadavg()[0]:.1f}")
    print(
        f"{'setting':46s} {'quantize s':>10s} {'images/s':>9s} {'vs fp32':>8s} {'img/CPU-s':>8s} "
        f"{'vs fp32':>8s} {'cos median':>10s} {'cos min':>8s} {'max rel':>8s}",
        flush=True,
    )
    r = args.repeats
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(build_body(spec).eval(), Path(tmp) / "fp32.onnx", data.input_size)
        base, base_cpu, reference = time_session(onnx_session(fp32, spin=False), batches, r)
        print(
            f"{'fp32 (--precision fp32)':46s} {'':>10s} {base:9.1f} {1:7.2f}x {base_cpu:8.1f} "
            f"{1:7.2f}x",
            flush=True,
        )
        for i, (name, config) in enumerate(VARIANTS):
            if args.only and not any(o in name for o in args.only):
                continue
            start = time.perf_counter()
            chosen, _ = calibration_sample(calibration, config.calibration_images, config.seed)
            out = Path(tmp) / f"{i}.onnx"
            quantize_graph(fp32, out, calibration_batches(chosen, data), config)
            seconds = time.perf_counter() - start
            rate, cpu_rate, got = time_session(onnx_session(out, spin=False), batches, r)
            med, low, rel = agreement(got, reference)
            print(
                f"{name:46s} {seconds:10.1f} {rate:9.1f} {rate / base:7.2f}x {cpu_rate:8.1f} "
                f"{cpu_rate / base_cpu:7.2f}x {med:10.4f} {low:8.4f} {rel:8.3f}",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

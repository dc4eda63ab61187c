"""Which images calibrate the int8 body? The user's training images against the built-in sample.

    python benchmarks/int8_calibration.py [--data /work/splits/s0] [--images 128]
                                          [--cache-dir ~/.cache/objrec] [--backbone NAME]

Quantizes the default three-body ensemble (240 px, ``QuantConfig``'s other settings) calibrated on
(a) 64 of the split's training images drawn by content (what ``train --precision int8`` did
before), (b) the same with one of those 64 removed from the training set (an edit of the kind
issue 15's edit-and-retrain loop makes), (c) all 120 images of objrec's built-in sample (the
default now) and (d) 64 of them, and prints, for each, the seconds to calibrate and quantize (0
when the graph was cached), whether its graph equals (a)'s, and the agreement of its features
with fp32's on ``--images`` valid images (centre view): median and minimum cosine similarity.
The graphs are cached in ``--cache-dir``'s ``onnx`` folder, where ``train`` looks for them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from _sampling import SPLIT, SPLIT_HELP

from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.cache_folder import default_cache_dir
from objrec.config import DEFAULT_BACKBONE
from objrec.data import scan_class_folder
from objrec.quantize import (
    QuantConfig,
    calibration_batches,
    calibration_sample,
    calibration_set,
    quantize_body,
)
from objrec.runtime import OnnxModel


def features(graph: bytes, batches) -> torch.Tensor:
    model = OnnxModel(graph)
    return torch.cat([model(torch.from_numpy(b)) for b in batches])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--images", type=int, default=128, help="training images used")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="feature store [default: objrec's]"
    )
    parser.add_argument(
        "--backbone", default=DEFAULT_BACKBONE, help="body quantized [default: objrec's default]"
    )
    args = parser.parse_args()
    root = args.cache_dir or default_cache_dir()
    spec = get_backbone(args.backbone)
    data = resolve_data_config(spec)
    body = build_body(spec).eval()
    train = scan_class_folder(args.data / "train").samples
    chosen, _ = calibration_sample(train, 64)
    edited = [s for s in train if s.path != chosen[0].path]
    valid, _ = calibration_sample(scan_class_folder(args.data / "valid").samples, args.images, 1)
    batches = calibration_batches(valid, data)
    print(
        f"{args.backbone}, {data.input_size} px; cosine to fp32 over {len(valid)} valid images "
        f"of {args.data} (load average {os.getloadavg()[0]:.1f})"
    )
    variants = [
        ("64 training images (before)", QuantConfig(calibration_images=64), train),
        ("64 training images, one removed", QuantConfig(calibration_images=64), edited),
        ("built-in sample, all 120 (now)", QuantConfig(), calibration_set()),
        ("built-in sample, 64 of 120", QuantConfig(calibration_images=64), calibration_set()),
    ]
    with torch.inference_mode():
        reference = torch.cat([body(torch.from_numpy(b)) for b in batches])
    first = None
    for name, config, samples in variants:
        start = time.perf_counter()
        graph = quantize_body(body, data, root, config, samples).graph_bytes()
        seconds = time.perf_counter() - start
        first = first or graph
        cos = torch.nn.functional.cosine_similarity(features(graph, batches), reference)
        print(
            f"  {name:34s} quantized in {seconds:5.1f} s  same graph as the first: "
            f"{graph == first!s:5s}  cosine median {cos.median():.4f} min {cos.min():.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

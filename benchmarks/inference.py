"""Whole-model inference on this CPU: eager PyTorch against ONNX Runtime, batch 1 and batch 32.

    python benchmarks/inference.py RUN [--repeats 5] [--seconds 3]

Times ``Recognizer.probabilities`` on ready images (decoding excluded, preprocessing included), the
median images/s of ``--repeats`` timed runs of about ``--seconds`` each, for both runtimes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from PIL import Image

from objrec.inference import Recognizer


def rate(recognizer: Recognizer, images, seconds: float) -> float:
    recognizer.probabilities(images)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        recognizer.probabilities(images)
        done += len(images)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a run folder (objrec train's --out)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="measurements per arm (the median is printed)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds each measurement runs")
    args = parser.parse_args()
    image = Image.new("RGB", (320, 240), (120, 80, 40))
    runtimes = {name: Recognizer.load(args.run, name) for name in ("torch", "onnx")}
    print(f"{'batch':>5s} {'torch img/s':>12s} {'onnx img/s':>12s} {'onnx/torch':>11s}")
    for batch in (1, 32):
        images = [image] * batch
        medians = {
            name: statistics.median(rate(p, images, args.seconds) for _ in range(args.repeats))
            for name, p in runtimes.items()
        }
        print(
            f"{batch:5d} {medians['torch']:12.1f} {medians['onnx']:12.1f} {medians['onnx'] / medians['torch']:10.2f}x"
        )


if __name__ == "__main__":
    main()

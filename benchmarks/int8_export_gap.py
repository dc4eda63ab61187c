"""How far an exported file's answers are from ``objrec predict``'s, in ONNX Runtime and OpenVINO.

    python benchmarks/int8_export_gap.py RUN [RUN ...] [--data /work/splits/s0] [--images 100]

Exports each run's model to a temporary folder (as ``objrec export`` writes it) and answers
``--images`` photos of ``--data``'s valid split, spread evenly over it, three ways: objrec's own
answer (the recognizer ``predict`` uses, centre view, the body in the engine it trained on), the
file in ONNX Runtime, and the file in OpenVINO as objrec runs an OpenVINO body (static batch,
float operators in float32: ``openvino_runtime.OpenVinoModel``). Prints, for each engine, the largest and
the 90th percentile, the median and the mean over photos of a photo's largest |difference| of a
probability, how many photos are over export's warning (``export.check.PHOTO_TOLERANCE``), and how many
photos' top class differs from objrec's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from _sampling import SPLIT, SPLIT_HELP

from objrec.checkpoint import load_model
from objrec.export.check import PHOTO_BATCH, PHOTO_TOLERANCE, opened_images
from objrec.export.exporter import export_checked
from objrec.inference import Recognizer
from objrec.listing import list_images
from objrec.openvino_runtime import OpenVinoModel
from objrec.runtime import OnnxModel


def gaps(run: Path, photos: list[Path], folder: Path) -> dict[str, tuple[list[float], int]]:
    """Each engine's per-photo largest |difference| of a probability, and its top-1 changes."""
    model, meta = load_model(run)
    path = export_checked(model, meta, folder / f"{run.name}.onnx").path
    recognizer = Recognizer(model, meta, unknown=False)
    engines: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "onnxruntime": OnnxModel(path),
        "openvino": OpenVinoModel(path.read_bytes()),
    }
    found: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in engines}
    for start in range(0, len(photos), PHOTO_BATCH):
        images = opened_images(photos[start : start + PHOTO_BATCH], recognizer.draft)
        expected, x = recognizer.answer(images).probs, recognizer.preprocess(images)
        for name, engine in engines.items():
            got = engine(x)
            apart, changed = found[name]
            apart += (got - expected).abs().amax(1).tolist()
            changed += int((got.argmax(1) != expected.argmax(1)).sum())
            found[name] = (apart, changed)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (objrec train --out)")
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--images", type=int, default=100, help="valid photos answered")
    args = parser.parse_args()
    found = list_images(args.data / "valid", others=[])  # never its test split
    step = max(len(found) / args.images, 1.0)
    photos = [found[int(i * step)] for i in range(min(args.images, len(found)))]
    print(f"{len(photos)} valid photos of {args.data}")
    with tempfile.TemporaryDirectory() as folder:
        for run in args.runs:
            for name, (apart, changed) in gaps(run, photos, Path(folder)).items():
                deciles = statistics.quantiles(apart, n=10)
                over = sum(a > PHOTO_TOLERANCE for a in apart)
                print(
                    f"{run.name:28s} {name:12s} max |dp| {max(apart):.4f} p90 {deciles[-1]:.2e} "
                    f"median {statistics.median(apart):.2e} mean {statistics.mean(apart):.2e} "
                    f"over {PHOTO_TOLERANCE:g} {over} top-1 changed {changed} of {len(apart)}",
                    flush=True,
                )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

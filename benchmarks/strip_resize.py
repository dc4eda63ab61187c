"""One evaluation view of a strip of an image (20,000 x 2 pixels), with and without the aspect cap.

Without the cap the short side's resize to 240 pixels makes the strip 2.4 million pixels long; with
it (``transforms.MAX_ASPECT``) its centre part is resized. Prints the median seconds of ``--repeat``
views and the peak memory each way added (the capped way first, so that its peak is its own), then
the medians side by side with the uncapped way's ratio to the capped one's.

    python benchmarks/strip_resize.py
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _medians import median_table
from PIL import Image
from torchvision.transforms import v2

from objrec.config import DataConfig
from objrec.images import open_image
from objrec.transforms import build_transforms


def uncapped(data: DataConfig) -> v2.Compose:
    """The evaluation transform as it was: resize the short side whatever the aspect."""
    capped = build_transforms(data)
    steps = [s for s in capped.transforms if not isinstance(s, v2.Lambda)]
    return v2.Compose(steps)


def measure(transform, image, repeat: int) -> tuple[list[float], float]:
    """The seconds of each view, and the peak memory (MiB) the views added."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        transform(image)
        seconds.append(time.perf_counter() - start)
    added = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return seconds, added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per arm (the median is printed)"
    )
    args = parser.parse_args()
    data = DataConfig(input_size=240, resize_size=240)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "strip.png"
        Image.new("RGB", (20_000, 2), (200, 40, 40)).save(path)
        image = open_image(path)
    build_transforms(data)(Image.new("RGB", (300, 200)))  # imports and kernels, not timed
    runs: dict[str, list[float]] = {}
    for name, transform in (("capped", build_transforms(data)), ("uncapped", uncapped(data))):
        runs[name], added = measure(transform, image, args.repeat)
        median = statistics.median(runs[name])
        print(f"{name:9s} {median:8.3f} s per view   peak memory +{added:6.0f} MiB")
    print(f"\nseconds per view, medians of {args.repeat}:")
    print("\n".join(median_table(runs, "s", digits=4)))


if __name__ == "__main__":
    main()

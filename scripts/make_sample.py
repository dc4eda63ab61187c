"""Rebuild the demo sample shipped in the package from the Caltech-101 images in ../shared.

    python scripts/make_sample.py [--src ../shared/data/caltech101]

Takes the first 24 images (by file name) of five classes, downscales them to at most 160 px on the
long side and saves them as JPEG (quality 85): about 0.6 MB in all.
"""

import argparse
import shutil
from pathlib import Path

from PIL import Image

CLASSES = ("airplanes", "Motorbikes", "sunflower", "watch", "grand_piano")
PER_CLASS = 24
ATTRIBUTION = """Caltech-101 sample (downscaled) used by `objrec demo`.

Source: the original `101_ObjectCategories` (L. Fei-Fei, R. Fergus, P. Perona, 2004; CC BY 4.0 per
CaltechDATA), as committed in the public repository MachineLearning2020/Homework2-Caltech101.
Classes: {classes}; the first {n} images of each by file name, at most 160 px on the long side.
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--src", type=Path, default=root.parent / "shared" / "data" / "caltech101")
    parser.add_argument(
        "--out", type=Path, default=root / "src" / "objrec" / "sample" / "caltech101_mini"
    )
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    for name in CLASSES:
        (args.out / name).mkdir(parents=True)
        for path in sorted((args.src / name).glob("*.jpg"))[:PER_CLASS]:
            with Image.open(path) as opened:
                img = opened.convert("RGB")
                img.thumbnail((160, 160))
                img.save(args.out / name / path.name, quality=85)
    (args.out.parent / "ATTRIBUTION.txt").write_text(
        ATTRIBUTION.format(classes=", ".join(CLASSES), n=PER_CLASS)
    )


if __name__ == "__main__":
    main()

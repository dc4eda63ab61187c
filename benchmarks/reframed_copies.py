"""Copies turned or letterboxed: which ones `split` keeps with their photo, and what else it pairs.

Draws ``--photos`` photos at random (``--seed``) from SRC's class folders and writes copies of
each as JPEGs (quality 90): re-saved as it is (a control), padded to a square with black bars and
with white bars (a dataset's letterbox, a scan's margin), padded to 16:9 with black bars (a
pillarbox or a letterbox), and turned a quarter, a half and three quarters of a turn (a photo
stored sideways or upside down, its EXIF orientation lost). Counts, per kind, the copies kept
with their photo by the whole and crop hashes alone (split's rule before session 48) and with
the turned and trimmed hashes (``dedup.split_paired``, either order), side by side.

Then, over every image of SRC (``--exclude`` classes left out), the pairs and groups
``dedup.split_pairs`` finds without and with the turned and trimmed hashes, and the pairs only the
second finds, to look at: a false pair costs a less random split, a missed one a leak.

    flock /tmp/objrec-cpu.lock python benchmarks/reframed_copies.py /work/shared/data/caltech101 \\
        --exclude Faces BACKGROUND_Google
"""

from __future__ import annotations

import argparse
import random
import tempfile
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageOps

from objrec import dedup, image_facts
from objrec.listing import list_images


def copies_of(image: Image.Image) -> dict[str, Image.Image]:
    """Each kind of copy of ``image`` (RGB), by name."""
    w, h = image.size
    side, wide = max(w, h), (max(w, round(h * 16 / 9)), max(h, round(w * 9 / 16)))
    turns = {"turned 90": Image.Transpose.ROTATE_90, "turned 180": Image.Transpose.ROTATE_180}
    turns["turned 270"] = Image.Transpose.ROTATE_270
    return {
        "re-saved": image,
        "square, black bars": ImageOps.pad(image, (side, side), color="black"),
        "square, white bars": ImageOps.pad(image, (side, side), color="white"),
        "16:9, black bars": ImageOps.pad(image, wide, color="black"),
        **{name: image.transpose(turn) for name, turn in turns.items()},
    }


def whole_and_crops(a: image_facts.ImageFacts, b: image_facts.ImageFacts) -> bool:
    """Split's rule before the turned and trimmed hashes, either order of the two."""
    before = [replace(f, turns=(), trimmed=0) for f in (a, b)]
    return dedup.split_paired(*before) or dedup.split_paired(*reversed(before))


def kept_copies(photos: list[Path], work: Path) -> dict[str, tuple[int, int]]:
    """Per kind of copy: how many of the copies of ``photos`` each rule keeps with their photo."""
    kept: dict[str, tuple[int, int]] = {}
    for n, photo in enumerate(photos):
        original = image_facts.image_facts(photo)
        for kind, copy in copies_of(Image.open(photo).convert("RGB")).items():
            path = work / f"{n}.jpg"
            copy.save(path, quality=90)
            facts = image_facts.image_facts(path)
            new = dedup.split_paired(original, facts) or dedup.split_paired(facts, original)
            old_count, new_count = kept.get(kind, (0, 0))
            kept[kind] = (old_count + whole_and_crops(original, facts), new_count + new)
    return kept


def folder_pairs(paths: list[Path], root: Path) -> None:
    """Print the pairs and groups of ``paths`` without and with the turned and trimmed hashes,
    and each pair only the second finds."""
    facts = image_facts.all_facts(paths)
    before = dedup.split_pairs([replace(f, turns=(), trimmed=0) for f in facts])
    after = dedup.split_pairs(facts)
    trimmed = sum(bool(f.trimmed) for f in facts)
    print(f"\n{len(paths)} images, {trimmed} of them with a flat border trimmed")
    print("| split's hashes | pairs | groups |\n| --- | ---: | ---: |")
    for name, pairs in (("whole and crops", before), ("with turned and trimmed", after)):
        print(f"| {name} | {len(pairs)} | {len(dedup.groups_of(len(paths), pairs))} |")
    print(f"pairs lost: {len(set(before) - set(after))}; pairs only with turned and trimmed:")
    for i, j in sorted(set(after) - set(before)):
        a, b = facts[i], facts[j]
        distance = dedup.reframed_distance(a, b)
        names = f"{paths[i].relative_to(root)}, {paths[j].relative_to(root)}"
        print(f"  {names}: whole {dedup.hash_distance(a, b)} bits, turned or trimmed {distance}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="a folder of class folders of photos")
    parser.add_argument("--photos", type=int, default=100, help="photos to copy, at random")
    parser.add_argument("--seed", type=int, default=0, help="the draw of the photos")
    parser.add_argument(
        "--exclude", nargs="*", default=[], help="class folders to leave out, as split's"
    )
    args = parser.parse_args()
    root = args.src.resolve()
    paths = [p for p in list_images(root) if p.relative_to(root).parts[0] not in args.exclude]
    photos = random.Random(args.seed).sample(paths, args.photos)
    with tempfile.TemporaryDirectory(prefix="reframed-") as work:
        kept = kept_copies(photos, Path(work))
    print(f"copies of {len(photos)} photos of {root} (seed {args.seed}) kept with their photo:")
    print("| copy | whole and crops | with turned and trimmed |\n| --- | ---: | ---: |")
    for kind, (old, new) in kept.items():
        print(f"| {kind} | {old} | {new} |")
    folder_pairs(paths, root)


if __name__ == "__main__":
    main()

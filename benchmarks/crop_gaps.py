"""Which centre crops ``split`` keeps with their photo, share by share, and what more it groups.

A copy with a share cut off each side (1% to 12%) of a seeded sample of photos, one a class, is
"kept" when ``dedup.split_pairs`` pairs it with its original (the whole hash, or one image's whole
hash against the other's crop hashes). ``--keep`` measures other ``dedup.CROP_KEEP`` tuples beside
the current one. ``--pairs`` also counts every pair ``split_pairs`` makes on the whole folder, with
the seconds it took, and writes them to a JSON file to compare two versions.

    flock /tmp/objrec-cpu.lock python benchmarks/crop_gaps.py /work/shared/data/caltech101 \\
        --exclude Faces BACKGROUND_Google --keep "0.9,0.8" --pairs /tmp/pairs.json
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from PIL import Image

from objrec import dedup
from objrec.data import class_dirs
from objrec.images import list_images
from objrec.store import default_cache_dir, hash_file

SHARES = (
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.035,
    0.04,
    0.05,
    0.06,
    0.065,
    0.07,
    0.075,
    0.08,
    0.09,
    0.1,
    0.11,
    0.12,
)


def copies(photos: list[Path], work: Path) -> dict[float, list[Path]]:
    """Each photo with each share of ``SHARES`` cut off each side, JPEG quality 90."""
    made: dict[float, list[Path]] = {s: [] for s in SHARES}
    for i, photo in enumerate(photos):
        image = Image.open(photo).convert("RGB")
        w, h = image.size
        for share in SHARES:
            dx, dy = round(w * share), round(h * share)
            target = work / f"{i}_{share}.jpg"
            image.crop((dx, dy, w - dx, h - dy)).save(target, quality=90)
            made[share].append(target)
    return made


def kept_row(photos: list[Path], made: dict[float, list[Path]]) -> str:
    """How many copies of each share ``split_pairs`` keeps with their photo, at today's crops."""
    originals = [dedup.image_facts(p) for p in photos]
    counts = []
    for share in SHARES:
        pairs = [[a, dedup.image_facts(c)] for a, c in zip(originals, made[share], strict=True)]
        counts.append(f"{100 * share:g}%:{sum(bool(dedup.split_pairs(p)) for p in pairs)}")
    return " ".join(counts)


def all_pairs(paths: list[Path], root: Path, cache: Path, out: Path) -> None:
    digests = [hash_file(p) for p in paths]
    started = time.perf_counter()
    facts = dedup.cached_facts(paths, digests, cache / "facts.sqlite")
    facts_s = time.perf_counter() - started
    started = time.perf_counter()
    pairs = dedup.split_pairs(facts)
    pairs_s = time.perf_counter() - started
    print(
        f"{len(paths)} images: facts {facts_s:.1f} s, split_pairs {pairs_s:.1f} s, "
        f"{len(pairs)} pairs"
    )
    named = [
        [paths[i].relative_to(root).as_posix(), paths[j].relative_to(root).as_posix()]
        for i, j in pairs
    ]
    out.write_text(json.dumps(named))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a class folder (Caltech-101)")
    parser.add_argument("--exclude", nargs="*", default=[], help="classes left out")
    parser.add_argument("--photos", type=int, default=60, help="classes sampled, a photo each")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled photos")
    parser.add_argument("--keep", nargs="*", default=[], help='other CROP_KEEP, "0.9,0.8"')
    parser.add_argument("--pairs", type=Path, help="JSON file for the whole folder's pairs")
    parser.add_argument(
        "--cache-dir", type=Path, default=default_cache_dir(), help="where the facts are kept"
    )
    args = parser.parse_args()
    dirs = [d for d in class_dirs(args.data) if d.name not in args.exclude]
    rng = random.Random(args.seed)
    photos = [rng.choice(list_images(d)) for d in rng.sample(dirs, args.photos)]
    current = dedup.CROP_KEEP
    with tempfile.TemporaryDirectory() as tmp:
        made = copies(photos, Path(tmp))
        for keep in [current, *(tuple(map(float, k.split(","))) for k in args.keep)]:
            dedup.CROP_KEEP = keep
            print(f"CROP_KEEP {keep}: {kept_row(photos, made)} (of {len(photos)})")
    dedup.CROP_KEEP = current  # the folder's facts are stored under today's FACTS_KEY
    if args.pairs:
        paths = [p for d in dirs for p in list_images(d)]
        all_pairs(paths, args.data, args.cache_dir, args.pairs)


if __name__ == "__main__":
    main()

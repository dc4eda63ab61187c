"""Which centre crops ``split`` keeps with their photo, share by share, and what more it groups.

A copy with a share cut off each side (1% to 12%) of a seeded sample of photos, one a class, is
"kept" when ``dedup.split_pairs`` pairs it with its original (the whole hash, or one image's whole
hash against the other's crop hashes). ``--keep`` measures other ``image_facts.CROP_KEEP`` tuples beside
the current one. Each share is also measured on mirrored copies, and each count taken by both of
``RULES``: every crop hash against the other image's whole hash and its mirror's (04d2255), or the
mirrored centre crops against the mirrored whole only (``image_facts.mirrored_crop``). ``--pairs`` also
counts every pair ``split_pairs`` makes on the whole folder, with its seconds (median of
``--repeats``), before 04d2255 (90% and 80% kept), at 04d2255, without the mirrored centre crops,
and today, taking turns, prints how their pairs differ, and writes today's to a JSON file.

    flock /tmp/objrec-cpu.lock python benchmarks/crop_gaps.py /work/shared/data/caltech101 \\
        --exclude Faces BACKGROUND_Google --keep "0.9,0.8" --pairs /tmp/pairs.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageOps

from objrec import dedup, facts_store, image_facts
from objrec.cache_folder import default_cache_dir
from objrec.data import class_dirs
from objrec.file_index import hash_file
from objrec.listing import list_images

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


def copies(photos: list[Path], work: Path) -> dict[tuple[float, bool], list[Path]]:
    """Each photo with each share of ``SHARES`` cut off each side, and that crop mirrored, JPEG
    quality 90: keyed by (share, mirrored)."""
    made: dict[tuple[float, bool], list[Path]] = {(s, m): [] for s in SHARES for m in (False, True)}
    for i, photo in enumerate(photos):
        image = Image.open(photo).convert("RGB")
        w, h = image.size
        for share in SHARES:
            dx, dy = round(w * share), round(h * share)
            crop = image.crop((dx, dy, w - dx, h - dy))
            for mirrored, copy in ((False, crop), (True, ImageOps.mirror(crop))):
                target = work / f"{i}_{share}_{int(mirrored)}.jpg"
                copy.save(target, quality=90)
                made[share, mirrored].append(target)
    return made


MIRRORED_CROP = image_facts.mirrored_crop


def every_crop(c: int) -> bool:
    """No crop hash is compared with one whole hash only (04d2255's rule)."""
    return False


RULES = {
    "every crop against both wholes (04d2255)": every_crop,
    "mirrored centre crops against the mirrored whole only": MIRRORED_CROP,
}
"""How ``crop_distance`` and ``crop_pairs`` compare the crop hashes (``image_facts.mirrored_crop``)."""


def kept_rows(photos: list[Path], made: dict[tuple[float, bool], list[Path]]) -> None:
    """How many copies of each share ``split_pairs`` keeps with their photo, at today's crops,
    plain and mirrored, by each of ``RULES``."""
    originals = [image_facts.image_facts(p) for p in photos]
    measured = {key: [image_facts.image_facts(c) for c in paths] for key, paths in made.items()}
    for mirrored in (False, True):
        for name, rule in RULES.items():
            image_facts.mirrored_crop = rule
            counts = []
            for share in SHARES:
                pairs = zip(originals, measured[share, mirrored], strict=True)
                counts.append(f"{100 * share:g}%:{sum(bool(dedup.split_pairs(p)) for p in pairs)}")
            copy = "mirrored copies" if mirrored else "copies"
            print(f"  {copy}, {name}: {' '.join(counts)} (of {len(photos)})")
    image_facts.mirrored_crop = MIRRORED_CROP


def narrowed(
    facts: list[image_facts.ImageFacts], keep: tuple[float, ...], mirrors: bool = True
) -> list[image_facts.ImageFacts]:
    """``facts`` with the crop hashes of the ``keep`` centre crops (a subset of ``CROP_KEEP``)
    and their mirrors (``mirrors``), then the edge cuts': as measured with ``CROP_KEEP = keep``."""
    scales = [image_facts.CROP_KEEP.index(k) for k in keep]
    take = [c for k in scales for c in (2 * k, 2 * k + 1)[: 1 + mirrors]]
    edges = 2 * len(image_facts.CROP_KEEP)
    return [
        replace(f, crops=(*(f.crops[c] for c in take), *f.crops[edges:])) if f.crops else f
        for f in facts
    ]


def timed_pairs(facts, keep, rule, times: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """``split_pairs`` of ``facts`` as measured with ``CROP_KEEP = keep``, compared by ``rule``;
    its wall and CPU seconds (every thread's: steadier than the wall's on a shared machine) go to
    ``times``."""
    current = image_facts.CROP_KEEP
    image_facts.CROP_KEEP, image_facts.mirrored_crop = keep, rule
    started, cpu = time.perf_counter(), time.process_time()
    pairs = dedup.split_pairs(facts)
    times.append((time.perf_counter() - started, time.process_time() - cpu))
    image_facts.CROP_KEEP, image_facts.mirrored_crop = current, MIRRORED_CROP
    return pairs


def all_pairs(paths: list[Path], root: Path, cache: Path, out: Path, repeats: int) -> None:
    """Every pair ``split_pairs`` makes on the folder, with its seconds (median of ``repeats``,
    the variants taking turns): before 04d2255 (90% and 80% kept), 04d2255 (every crop against
    both wholes), without the mirrored centre crops, and today. Today's pairs go to ``out``; the
    others' differences are printed."""
    digests = [hash_file(p) for p in paths]
    started = time.perf_counter()
    facts = facts_store.cached_facts(paths, digests, cache / "facts.sqlite")
    print(f"{len(paths)} images: facts {time.perf_counter() - started:.1f} s")
    variants = {
        "before 04d2255 (90%, 80%)": (narrowed(facts, (0.9, 0.8)), (0.9, 0.8), every_crop),
        RULE_04D: (facts, image_facts.CROP_KEEP, every_crop),
        "without the mirrored centre crops": (
            narrowed(facts, image_facts.CROP_KEEP, False),
            (),
            every_crop,
        ),
        RULE_NOW: (facts, image_facts.CROP_KEEP, MIRRORED_CROP),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    found = {}
    for _ in range(repeats):
        for name, (measured, keep, rule) in variants.items():
            found[name] = set(timed_pairs(measured, keep, rule, times[name]))
    for name, seconds in times.items():
        wall, cpu = ([s[k] for s in seconds] for k in (0, 1))
        more, fewer = found[name] - found[RULE_NOW], found[RULE_NOW] - found[name]
        print(
            f"  {name}: split_pairs {statistics.median(wall):.1f} s (median of {repeats}, "
            f"{min(wall):.1f}-{max(wall):.1f}; CPU {statistics.median(cpu):.1f} s, "
            f"{min(cpu):.1f}-{max(cpu):.1f}), {len(found[name])} pairs; "
            f"beside today's, more: {named(more, paths, root)}, fewer: {named(fewer, paths, root)}"
        )
    out.write_text(json.dumps(named(found[RULE_NOW], paths, root)))


RULE_04D = "04d2255 (95%, 90%, 85%, 80%; every crop against both wholes)"
RULE_NOW = "today (mirrored centre crops against the mirrored whole only)"


def named(pairs, paths: list[Path], root: Path) -> list[list[str]]:
    return [[paths[i].relative_to(root).as_posix() for i in pair] for pair in sorted(pairs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a class folder (Caltech-101)")
    parser.add_argument("--exclude", nargs="*", default=[], help="classes left out")
    parser.add_argument("--photos", type=int, default=60, help="classes sampled, a photo each")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled photos")
    parser.add_argument("--keep", nargs="*", default=[], help='other CROP_KEEP, "0.9,0.8"')
    parser.add_argument("--pairs", type=Path, help="JSON file for the whole folder's pairs")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each, for --pairs")
    parser.add_argument(
        "--cache-dir", type=Path, default=default_cache_dir(), help="where the facts are kept"
    )
    args = parser.parse_args()
    dirs = [d for d in class_dirs(args.data) if d.name not in args.exclude]
    rng = random.Random(args.seed)
    photos = [rng.choice(list_images(d)) for d in rng.sample(dirs, args.photos)]
    current = image_facts.CROP_KEEP
    with tempfile.TemporaryDirectory() as tmp:
        made = copies(photos, Path(tmp))
        for keep in [current, *(tuple(map(float, k.split(","))) for k in args.keep)]:
            image_facts.CROP_KEEP = keep
            print(f"CROP_KEEP {keep}:")
            kept_rows(photos, made)
    image_facts.CROP_KEEP = current  # the folder's facts are stored under today's FACTS_KEY
    if args.pairs:
        paths = [p for d in dirs for p in list_images(d)]
        all_pairs(paths, args.data, args.cache_dir, args.pairs, args.repeats)


if __name__ == "__main__":
    main()

"""How many pairs the centre-crop hash alone (no feature gate) would group in ``split``.

``objrec audit`` trusts the centre-crop hash (``dedup.crop_distance``) only between images whose
features are already similar (>= 0.85); ``split`` has no features. This measures, on a real folder,
how many pairs each feature-free crop rule would group beyond the whole-image hash, and how many
10%-cropped copies (5% off each side, as ``benchmarks/audit.py`` makes them) of a seeded sample it
finds. It writes a contact sheet of the pairs each rule groups (``--sheet``) to look at them.

    flock /tmp/objrec-cpu.lock python benchmarks/split_crop_hash.py \\
        /work/shared/data/caltech101 --exclude Faces BACKGROUND_Google

Image facts come from (and go to) the cache's ``facts.sqlite``, keyed by content digest, as the
audit's and split's do.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

from objrec import dedup, facts_store, image_facts
from objrec.cache_folder import default_cache_dir
from objrec.data import class_dirs
from objrec.file_index import hash_file
from objrec.listing import list_images

THRESHOLDS = (16, 24, 32)


def scale_agreement(a: image_facts.ImageFacts, b: image_facts.ImageFacts) -> int:
    """A stricter crop check, measured here for ``split`` and not used there: it dropped two true
    duplicate pairs of Caltech-101 and no unrelated one (``benchmarks/split_crop_hash.py``).

    How well one image is a ``image_facts.CROP_KEEP[0]`` centre crop of the other, checked at two scales: the
    larger of (its whole hash against the other's first crop) and (its own first crop against the
    other's second crop, then the same region: 0.9 x 0.9 = 0.81 of the original), in the best
    orientation and direction. ``image_facts.HASH_SIZE ** 2`` when there are no crops."""
    if len(a.crops) < 4 or len(b.crops) < 4:
        return image_facts.HASH_SIZE * image_facts.HASH_SIZE
    best = image_facts.HASH_SIZE * image_facts.HASH_SIZE
    for x, y in ((a, b), (b, a)):
        for mirrored in (0, 1):  # y's mirrored crops match a mirrored copy x
            big, small = y.crops[mirrored], y.crops[2 + mirrored]
            worse = max(int(x.phash ^ big).bit_count(), int(x.crops[0] ^ small).bit_count())
            best = min(best, worse)
    return best


def facts_of(paths: list[Path], cache: Path) -> list[image_facts.ImageFacts]:
    digests = [hash_file(p) for p in paths]
    return facts_store.cached_facts(paths, digests, cache / "facts.sqlite")


def injected(
    paths: list[Path], n: int, seed: int, work: Path, keep: float
) -> list[tuple[int, Path]]:
    """``n`` seeded originals, each cropped to ``keep`` of each side (every other one mirrored)."""
    rng = random.Random(seed)
    out = []
    for k, i in enumerate(rng.sample(range(len(paths)), n)):
        image = Image.open(paths[i]).convert("RGB")
        w, h = image.size
        dx, dy = round((1 - keep) / 2 * w), round((1 - keep) / 2 * h)
        image = image.crop((dx, dy, w - dx, h - dy))
        if k % 2:
            image = ImageOps.mirror(image)
        target = work / f"crop_{k:03d}.jpg"
        image.save(target, "JPEG", quality=90)
        out.append((i, target))
    return out


def sheet(paths: list[Path], pairs, file: Path, size: int = 96) -> None:
    """Each pair side by side, one pair per row (at most 40 rows)."""
    pairs = pairs[:40]
    canvas = Image.new("RGB", (2 * size + 8, max(1, len(pairs)) * (size + 4)), "white")
    for row, (i, j) in enumerate(pairs):
        for col, k in enumerate((i, j)):
            thumb = ImageOps.contain(Image.open(paths[k]).convert("RGB"), (size, size))
            canvas.paste(thumb, (col * (size + 8), row * (size + 4)))
    canvas.save(file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a class folder (Caltech-101)")
    parser.add_argument("--exclude", nargs="*", default=[], help="classes left out")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir(),
        help="feature store [default: objrec's]",
    )
    parser.add_argument("--crops", type=int, default=100, help="cropped copies to inject")
    parser.add_argument("--seed", type=int, default=0, help="seed of the injected crops")
    parser.add_argument("--sheet", type=Path, help="folder for contact sheets of the pairs")
    args = parser.parse_args()
    paths = [p for d in class_dirs(args.data) if d.name not in args.exclude for p in list_images(d)]
    started = time.perf_counter()
    facts = facts_of(paths, args.cache_dir)
    print(f"{len(paths)} images, facts in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    whole = {(int(i), int(j)) for i, j, _ in dedup.hash_pairs(facts, dedup.HASH_SPLIT)}
    print(
        f"whole-image hash <= {dedup.HASH_SPLIT}: {len(whole)} pairs "
        f"({time.perf_counter() - started:.1f} s)"
    )
    started = time.perf_counter()
    candidates = {(int(i), int(j)) for i, j in dedup.crop_pairs(facts, max(THRESHOLDS))} - whole
    print(
        f"crop-hash candidates <= {max(THRESHOLDS)} beyond those: {len(candidates)} "
        f"({time.perf_counter() - started:.1f} s)"
    )
    crop = {p: dedup.crop_distance(facts[p[0]], facts[p[1]]) for p in candidates}
    agree = {p: scale_agreement(facts[p[0]], facts[p[1]]) for p in candidates}
    cls = [p.parent.name for p in paths]
    rules = {}
    for t in THRESHOLDS:
        rules[f"crop <= {t}"] = sorted(p for p in candidates if crop[p] <= t)
        rules[f"two scales <= {t}"] = sorted(p for p in candidates if agree[p] <= t)
    with tempfile.TemporaryDirectory() as tmp:
        recall = {keep: recall_of(paths, facts, args, Path(tmp), keep) for keep in (0.9, 0.88)}
    print("\nrule (beyond the whole hash)   pairs  same class  found 10% crops  found 12% crops")
    for name, pairs in rules.items():
        same = sum(cls[i] == cls[j] for i, j in pairs)
        found = "  ".join(f"{recall[k][name]:>3} of {args.crops}" for k in (0.9, 0.88))
        print(f"{name:<30} {len(pairs):>5}  {same:>10}  {found}")
        for i, j in pairs[:12]:
            print(
                f"    crop {crop[(i, j)]:3d} two-scale {agree[(i, j)]:3d}  "
                f"{paths[i].relative_to(args.data)}  {paths[j].relative_to(args.data)}"
            )
        if args.sheet:
            args.sheet.mkdir(parents=True, exist_ok=True)
            sheet(paths, pairs, args.sheet / (name.replace(" ", "_").replace("<=", "le") + ".png"))


def recall_of(paths, facts, args, work: Path, keep: float) -> dict[str, int]:
    copies = injected(paths, args.crops, args.seed, work, keep)
    copy_facts = image_facts.all_facts([c for _, c in copies])
    found = {}
    for t in THRESHOLDS:
        pairs = [(facts[i], f) for (i, _), f in zip(copies, copy_facts, strict=True)]
        found[f"crop <= {t}"] = sum(dedup.crop_distance(a, b) <= t for a, b in pairs)
        found[f"two scales <= {t}"] = sum(scale_agreement(a, b) <= t for a, b in pairs)
    return found


if __name__ == "__main__":
    main()

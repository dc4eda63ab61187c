"""How `objrec split` shares a class's bursts and singletons among train, valid and test.

Builds a grouped folder from Caltech-101 (in ``--work``, a new temporary folder by default): from
each of ``--classes`` classes (seeded, among those with 60 photos or more), up to 80 photos, linked;
a share of them (0, 10%, 25% or 50% by class, in turn) each becomes a burst of 2 to 8 frames: the
photo and frames made from it (1% to 3% cut off each side, brightness 0.9 to 1.1, resized by 0.9
to 1, JPEG quality 80 to 95), as a camera trap's burst without EXIF, written to ``--work``. A
``groups.csv`` names each burst, as split advises for such photos. Then `python -m objrec split
PHOTOS OUT --link --groups groups.csv --json --seed S` runs with each tree (this one, and
``--baseline SRC``, an earlier tree's ``src``, when given), ``$OBJREC_CACHE`` in ``--work``.

Per class, from each ``manifest.csv`` (its ``group`` column): images and groups per split against
``allocate``'s targets, and the share of burst images (in a group of 2 or more) in each split.
Prints the seed's per-class table for the first seed, and a summary over ``--seeds``:

    git archive main src | tar -x -C /tmp/base
    python benchmarks/split_groups.py /work/shared/data/caltech101 --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from PIL import Image, ImageEnhance

from objrec.ratios import allocate

HERE = Path(__file__).resolve().parent.parent / "src"
SPLITS = ("train", "valid", "test")
RATIOS = (0.5, 0.25, 0.25)
BURST_SHARES = (0.0, 0.1, 0.25, 0.5)
PER_CLASS = 80


def frame(photo: Image.Image, draw: random.Random) -> Image.Image:
    """One burst frame made from ``photo``: cropped, brightened or darkened, resized."""
    w, h = photo.size
    cut = [round(s * draw.uniform(0.01, 0.03)) for s in (w, h, w, h)]
    image = photo.crop((cut[0], cut[1], w - cut[2], h - cut[3]))
    image = ImageEnhance.Brightness(image).enhance(draw.uniform(0.9, 1.1))
    scale = draw.uniform(0.9, 1.0)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def build(caltech: Path, work: Path, classes: int, seed: int) -> tuple[Path, Path]:
    """The grouped photo folder and its groups file, made in ``work``."""
    draw = random.Random(seed)
    folders = sorted(
        p for p in caltech.iterdir() if p.is_dir() and p.name not in ("Faces", "BACKGROUND_Google")
    )
    big = [p for p in folders if sum(1 for _ in p.iterdir()) >= 60]
    photos, rows = work / "photos", []
    for i, folder in enumerate(sorted(draw.sample(big, classes))):
        share = BURST_SHARES[i % len(BURST_SHARES)]
        rows += build_class(folder, photos / folder.name, share, draw)
    groups = work / "groups.csv"
    with groups.open("w", newline="") as f:
        csv.writer(f).writerows([("file", "group"), *rows])
    return photos, groups


def build_class(folder: Path, out: Path, share: float, draw: random.Random) -> list[tuple]:
    """Link up to ``PER_CLASS`` photos of ``folder`` into ``out``, ``share`` of them bursts:
    their frames written beside them. The groups file's rows (file, group) of the bursts."""
    out.mkdir(parents=True)
    photos = sorted(folder.glob("*.jpg"))
    photos = sorted(draw.sample(photos, min(PER_CLASS, len(photos))))
    rows = []
    for photo in photos:
        (out / photo.name).symlink_to(photo)
        if draw.random() >= share:
            continue
        group = f"{out.name}/{photo.stem}"
        rows.append((f"{out.name}/{photo.name}", group))
        image = Image.open(photo).convert("RGB")
        for k in range(draw.randint(1, 7)):
            name = f"{photo.stem}_f{k}.jpg"
            frame(image, draw).save(out / name, quality=draw.randint(80, 95))
            rows.append((f"{out.name}/{name}", group))
    return rows


def split(photos: Path, groups: Path, tree: Path, out: Path, seed: int, cache: Path) -> list[dict]:
    """The manifest rows of `objrec split` of ``photos`` by ``tree``."""
    env = os.environ | {"PYTHONPATH": str(tree), "OBJREC_CACHE": str(cache)}
    command = [sys.executable, "-m", "objrec", "split", str(photos), str(out), "--link"]
    command += ["--groups", str(groups), "--json", "--seed", str(seed), "--force"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    json.loads(done.stdout)
    with (out / "manifest.csv").open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def per_class(rows: list[dict]) -> dict[str, dict]:
    """Per class: images, groups and burst images per split, and the targets."""
    size = Counter(r["group"] for r in rows)
    table: dict[str, dict] = {}
    for r in rows:
        c = table.setdefault(r["class"], {k: Counter() for k in ("images", "bursty")})
        c.setdefault("groups", {s: set() for s in SPLITS})[r["split"]].add(r["group"])
        c["images"][r["split"]] += 1
        c["bursty"][r["split"]] += size[r["group"]] > 1
        if size[r["group"]] > 1:
            c.setdefault("bursts", {s: {} for s in SPLITS})[r["split"]][r["group"]] = size[
                r["group"]
            ]
    for c in table.values():
        c["target"] = dict(zip(SPLITS, allocate(sum(c["images"].values()), RATIOS), strict=True))
    return table


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def class_rows(table: dict[str, dict]) -> list[str]:
    """One markdown row a class: images (targets), groups, burst share, per split."""
    lines = []
    for name, c in sorted(table.items(), key=lambda kv: (share_of(kv[1]), kv[0])):
        images = " / ".join(f"{c['images'][s]} ({c['target'][s]})" for s in SPLITS)
        groups = " / ".join(str(len(c["groups"][s])) for s in SPLITS)
        bursty = " / ".join(share(c["bursty"][s], c["images"][s]) for s in SPLITS)
        whole = share(sum(c["bursty"].values()), sum(c["images"].values()))
        lines.append(f"| {name} | {images} | {groups} | {whole} | {bursty} |")
    return lines


def share_of(c: dict) -> float:
    return sum(c["bursty"].values()) / sum(c["images"].values())


def summary(table: dict[str, dict]) -> dict[str, float]:
    """Over the classes with bursts: images off target per image (mean, worst), the burst share of
    valid and test less the class's (mean absolute, in points), classes whose valid or test holds
    no burst image, distinct photos (groups) in train as a share of the class's, and the mean
    frames of a burst in each split."""
    grouped = [c for c in table.values() if share_of(c) > 0.2]
    off = [
        sum(abs(c["images"][s] - c["target"][s]) for s in SPLITS) / sum(c["images"].values())
        for c in grouped
    ]
    gap = [
        abs(c["bursty"][s] / c["images"][s] - share_of(c)) * 100
        for c in grouped
        for s in ("valid", "test")
        if c["images"][s]
    ]
    empty = sum(1 for c in grouped if not (c["bursty"]["valid"] and c["bursty"]["test"]))
    groups_train = [
        len(c["groups"]["train"]) / sum(len(g) for g in c["groups"].values()) for c in grouped
    ]
    sizes = {s: [n for c in grouped for n in c["bursts"][s].values()] for s in SPLITS}
    frames = {s: statistics.mean(sizes[s]) if sizes[s] else 0.0 for s in SPLITS}
    return {
        "frames": " / ".join(f"{frames[s]:.1f}" for s in SPLITS),
        "classes": len(grouped),
        "off_mean": statistics.mean(off),
        "off_max": max(off),
        "gap_mean": statistics.mean(gap),
        "gap_max": max(gap),
        "no_bursts": empty,
        "train_groups": statistics.mean(groups_train),
    }


def print_summaries(found: dict[tuple[str, int], dict]) -> None:
    print(
        "\n| tree, seed | classes with bursts | images off target per image (mean / worst) "
        "| burst share of valid and test less the class's, points (mean / worst) "
        "| classes whose valid or test holds no burst image | train's share of distinct photos "
        "| frames a burst, train / valid / test |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (name, seed), s in found.items():
        print(
            f"| {name}, {seed} | {s['classes']} | {s['off_mean']:.3f} / {s['off_max']:.3f} "
            f"| {s['gap_mean']:.1f} / {s['gap_max']:.1f} | {s['no_bursts']} "
            f"| {100 * s['train_groups']:.0f}% | {s['frames']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("caltech", type=Path, help="the Caltech-101 folder (one folder a class)")
    parser.add_argument("--baseline", type=Path, help="an earlier tree's src, measured beside")
    parser.add_argument("--classes", type=int, default=16, help="classes in the grouped folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split's seeds")
    parser.add_argument(
        "--work",
        type=Path,
        help="where to build (default: a new temp folder); one built before is reused",
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="split-groups-"))
    photos, groups = work / "photos", work / "groups.csv"
    if not groups.exists():  # an earlier run's folder is measured again as it is
        photos, groups = build(args.caltech, work, args.classes, seed=0)
    trees = {"old": args.baseline, "new": HERE} if args.baseline else {"this": HERE}
    found = {}
    for name, tree in trees.items():
        for seed in args.seeds:
            rows = split(
                photos, groups, tree.resolve(), work / f"out-{name}-{seed}", seed, work / "cache"
            )
            table = per_class(rows)
            if seed == args.seeds[0]:
                print(
                    f"\n{name} tree, seed {seed}: images (target) / groups / burst share, train / valid / test"
                )
                print("| class | images (target) | groups | burst share | burst share by split |")
                print("| --- | --- | --- | ---: | --- |")
                print("\n".join(class_rows(table)))
            found[name, seed] = summary(table)
    print_summaries(found)
    print(f"\nbuilt in {work}")


if __name__ == "__main__":
    main()

"""What an edit of a photo folder moves when it is split again with the same seed.

Each tree (this one, and ``--baseline SRC``, an earlier tree's ``src``, when given) splits with
`python -m objrec split PHOTOS OUT --link --seed S`, ``$OBJREC_CACHE`` in ``--work``, each of
``--seeds``, and the manifests are compared by source file:

- one photo added: Caltech-101 copied into ``--work`` (``--exclude`` left out of the split: by
  default the 100-class protocol's), split; then ``--photo`` (by default a BACKGROUND_Google
  photo, of no class split) copied into each class of ``--grow`` in turn, split again. The photos
  of that class, and of every other, that changed split.
- five classes edited: the first 28 photos of each of ``--edited``, split; then 2 removed from
  each, the next 8 added to each (40 in all) and one photo of the first moved into the second,
  split again. How many of the 130 still there changed split.

Also whether both trees give each class the same count in each split (its ratios kept). No time
is measured. Example:

    git archive main src | tar -x -C /tmp/base
    python benchmarks/split_stability.py /work/shared/data/caltech101 --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"
ADDED = "added_photo.jpg"


def split(tree: Path, photos: Path, out: Path, seed: int, args: argparse.Namespace) -> dict:
    """``file -> (class, split)`` of `objrec split` of ``photos`` by ``tree``, each file named by
    the manifest's column ``args.key``: its ``source``, or its content's ``sha256``."""
    env = os.environ | {"PYTHONPATH": str(tree), "OBJREC_CACHE": str(args.work / "cache")}
    command = [sys.executable, "-m", "objrec", "split", str(photos), str(out), "--link"]
    command += ["--seed", str(seed), "--force"]
    command += ["--exclude", *args.exclude] if args.exclude else []
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    with (out / "manifest.csv").open(newline="", encoding="utf-8-sig") as f:
        return {r[args.key]: (r["class"], r["split"]) for r in csv.DictReader(f)}


def moved(before: dict, after: dict) -> Counter[str]:
    """Per class, the files of both splits whose split changed."""
    return Counter(c for f, (c, s) in before.items() if f in after and after[f][1] != s)


def counts(rows: dict) -> dict[str, Counter[str]]:
    """Per class, its images in each split."""
    found: dict[str, Counter[str]] = {}
    for name, split_name in rows.values():
        found.setdefault(name, Counter())[split_name] += 1
    return found


def one_photo_added(trees: dict[str, Path], photos: Path, args: argparse.Namespace) -> None:
    """Print, per seed, class grown and tree, the photos of it and of the others that moved."""
    print("\n| seed | class grown (photos) | tree | its photos moved | other classes' moved |")
    print("| ---: | --- | --- | ---: | --- |")
    balance = []
    for seed in args.seeds:
        base = {
            name: split(tree, photos, args.work / f"{name}-{seed}", seed, args)
            for name, tree in trees.items()
        }
        if len(trees) == 2:
            old, new = base.values()
            balance.append(counts(old) == counts(new))
        for grown in args.grow:
            size = sum(1 for _, (c, _) in next(iter(base.values())).items() if c == grown)
            shutil.copy(args.photo, photos / grown / ADDED)
            for name, tree in trees.items():
                again = split(tree, photos, args.work / f"{name}-{seed}-{grown}", seed, args)
                found = moved(base[name], again)
                others = {c: n for c, n in found.items() if c != grown}
                said = f"{sum(others.values())} in {len(others)} classes"
                print(f"| {seed} | {grown} ({size}) | {name} | {found[grown]} | {said} |")
            (photos / grown / ADDED).unlink()
    if balance:
        print(f"\nevery class's count in each split the same in both trees, per seed: {balance}")


def edited_folder(caltech: Path, folder: Path, classes: list[str], edited: bool) -> None:
    """Five classes' first 28 photos; ``edited``: 2 removed and 8 added each, one moved."""
    shutil.rmtree(folder, ignore_errors=True)
    for name in classes:
        (folder / name).mkdir(parents=True)
        files = sorted((caltech / name).iterdir())
        for path in files[2:36] if edited else files[:28]:
            shutil.copy(path, folder / name / path.name)
    if edited:
        first = sorted((folder / classes[0]).iterdir())[0]
        shutil.move(first, folder / classes[1] / f"moved_{first.name}")


def five_classes_edited(trees: dict[str, Path], args: argparse.Namespace) -> None:
    """Print, per seed and tree, how many photos still there changed split after the edit."""
    before, after = args.work / "five", args.work / "five-edited"
    edited_folder(args.caltech, before, args.edited, edited=False)
    edited_folder(args.caltech, after, args.edited, edited=True)
    print("\n| seed | tree | photos still there that changed split |")
    print("| ---: | --- | ---: |")
    by_content = argparse.Namespace(**{**vars(args), "exclude": [], "key": "sha256"})
    for seed in args.seeds:
        for name, tree in trees.items():
            a = split(tree, before, args.work / f"five-{name}-{seed}", seed, by_content)
            b = split(tree, after, args.work / f"five-edited-{name}-{seed}", seed, by_content)
            both = [d for d in a if d in b]
            changed = sum(a[d][1] != b[d][1] for d in both)
            print(f"| {seed} | {name} | {changed} of {len(both)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("caltech", type=Path, help="the Caltech-101 folder (one folder a class)")
    parser.add_argument("--baseline", type=Path, help="an earlier tree's src, measured beside")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="seeds")
    parser.add_argument(
        "--exclude",
        nargs="*",
        default=["Faces", "BACKGROUND_Google"],
        help="classes the one-photo split leaves out",
    )
    parser.add_argument(
        "--grow", nargs="+", default=["accordion", "crab"], help="classes given one photo more"
    )
    parser.add_argument(
        "--photo", type=Path, help="the photo added (default: BACKGROUND_Google's first)"
    )
    parser.add_argument(
        "--edited",
        nargs=5,
        default=["butterfly", "chair", "crab", "dolphin", "elephant"],
        help="the five classes edited",
    )
    parser.add_argument(
        "--work", type=Path, help="where to copy and split (default: a new temp folder)"
    )
    args = parser.parse_args()
    args.work = (args.work or Path(tempfile.mkdtemp(prefix="split-stability-"))).resolve()
    args.photo = args.photo or args.caltech / "BACKGROUND_Google" / "image_0001.jpg"
    args.key = "source"
    photos = args.work / "photos"
    if not photos.exists():
        shutil.copytree(args.caltech, photos)
    trees = {"old": args.baseline.resolve(), "new": HERE} if args.baseline else {"this": HERE}
    one_photo_added(trees, photos, args)
    five_classes_edited(trees, args)
    print(f"\nsplit in {args.work}")


if __name__ == "__main__":
    main()

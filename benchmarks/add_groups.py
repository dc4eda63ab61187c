"""How `objrec add` shares a class's new bursts among train, valid and test.

``split_groups.py``'s grouped folder (built in ``--work``, or one built before reused): 16
Caltech-101 classes, a share of each class's photos made bursts of 2 to 8 frames, named in
``groups.csv``. Per class, half its photos (a burst with its frames), seeded, are split first
(`objrec split OLD DATA --link --groups groups-old.csv`), the other half added later (`objrec add
DATA NEW --link --ratios 0.5 0.25 0.25`), as a second batch of a camera trap's photos; add, which
reads no groups file, finds the frames as near-duplicates of each other. Both run with each tree
(this one, and ``--baseline SRC``, an earlier tree's ``src``), ``$OBJREC_CACHE`` in ``--work``.

Per class, from ``DATA/manifest.csv``: the added images per split and their burst share in each
(a burst: a group of ``groups.csv``, as built), against the share among the class's added images;
and the class's images per split against ``allocate``'s targets. Prints a summary per tree and
seed:

    git archive main src | tar -x -C /tmp/base
    python benchmarks/add_groups.py /work/shared/data/caltech101 --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from split_groups import RATIOS, SPLITS, build

from objrec.ratios import allocate

HERE = Path(__file__).resolve().parent.parent / "src"


def read_groups(groups: Path) -> dict[str, str]:
    """``groups.csv``: each burst frame's group, by ``class/name``."""
    with groups.open(newline="") as f:
        return {row["file"]: row["group"] for row in csv.DictReader(f)}


def halves(photos: Path, group_of: dict[str, str], work: Path) -> None:
    """``work/old`` and ``work/new`` (links to ``photos``' files), half of each class's photos
    and bursts in each, and OLD's groups file ``work/groups-old.csv``."""
    draw, rows = random.Random(0), []
    old, new = work / "old", work / "new"
    for folder in sorted(p for p in photos.iterdir() if p.is_dir()):
        units: dict[str, list[str]] = {}
        for path in sorted(folder.iterdir()):
            name = f"{folder.name}/{path.name}"
            units.setdefault(group_of.get(name, name), []).append(name)
        keys = sorted(units)
        draw.shuffle(keys)
        for n, key in enumerate(keys):
            for name in units[key]:
                link = (old if n % 2 == 0 else new) / name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to((photos / name).resolve())
                if n % 2 == 0 and name in group_of:
                    rows.append((name, group_of[name]))
    with (work / "groups-old.csv").open("w", newline="") as f:
        csv.writer(f).writerows([("file", "group"), *rows])


def run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")


def split_then_add(folders, tree: Path, out: Path, seed: int, cache: Path) -> list[dict]:
    """The manifest rows after `objrec split OLD` and `objrec add NEW` by ``tree``."""
    old, new, old_groups = folders
    env = os.environ | {"PYTHONPATH": str(tree), "OBJREC_CACHE": str(cache)}
    objrec = [sys.executable, "-m", "objrec"]
    seeded = ["--link", "--seed", str(seed)]
    run(
        [*objrec, "split", str(old), str(out), *seeded, "--groups", str(old_groups), "--force"], env
    )
    run([*objrec, "add", str(out), str(new), *seeded, "--ratios", *map(str, RATIOS)], env)
    with (out / "manifest.csv").open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@dataclass
class Added:
    """A class's added images in each split: every one, those of a burst, each one's frames."""

    images: Counter[str] = field(default_factory=Counter)
    bursty: Counter[str] = field(default_factory=Counter)
    frames: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in SPLITS})


def summary(rows: list[dict], new: Path, bursts: dict[str, int]) -> dict:
    """Over the classes whose added images are over 20% burst frames: the added burst share of
    valid and test less the class's added share (mean, worst, points), classes whose added valid
    or test images hold no burst frame, the mean frames of an added burst in each split, and the
    class's images off ``allocate``'s targets per image (mean, worst)."""
    added: dict[str, Added] = {}
    every: dict[str, Counter[str]] = {}
    for r in rows:
        every.setdefault(r["class"], Counter())[r["split"]] += 1
        if Path(r["source"]).is_relative_to(new):
            name = Path(r["source"]).relative_to(new).as_posix()
            c = added.setdefault(r["class"], Added())
            c.images[r["split"]] += 1
            c.bursty[r["split"]] += bursts.get(name, 1) > 1
            c.frames[r["split"]].append(bursts.get(name, 1))
    grouped = [c for c in added.values() if sum(c.bursty.values()) > 0.2 * c.images.total()]
    gap = [
        abs(c.bursty[s] / c.images[s] - c.bursty.total() / c.images.total()) * 100
        for c in grouped
        for s in ("valid", "test")
        if c.images[s]
    ]
    off = []
    for counts in every.values():
        targets = allocate(counts.total(), RATIOS)
        apart = sum(abs(counts[s] - t) for s, t in zip(SPLITS, targets, strict=True))
        off.append(apart / counts.total())
    frames = {s: [n for c in grouped for n in c.frames[s] if n > 1] for s in SPLITS}
    return {
        "classes": len(grouped),
        "gap": f"{statistics.mean(gap):.1f} / {max(gap):.1f}",
        "no_bursts": sum(1 for c in grouped if not (c.bursty["valid"] and c.bursty["test"])),
        "frames": " / ".join(f"{statistics.mean(frames[s] or [0]):.1f}" for s in SPLITS),
        "off": f"{statistics.mean(off):.3f} / {max(off):.3f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("caltech", type=Path, help="the Caltech-101 folder (one folder a class)")
    parser.add_argument("--baseline", type=Path, help="an earlier tree's src, measured beside")
    parser.add_argument("--classes", type=int, default=16, help="classes in the grouped folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split's seeds")
    parser.add_argument("--work", type=Path, help="where to build (default: a new temp folder)")
    args = parser.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="add-groups-"))).resolve()
    photos, groups = work / "photos", work / "groups.csv"
    if not groups.exists():  # an earlier run's folder is measured again as it is
        photos, groups = build(args.caltech, work, args.classes, seed=0)
    group_of = read_groups(groups)
    if not (work / "groups-old.csv").exists():
        halves(photos, group_of, work)
    old, new, old_groups = work / "old", work / "new", work / "groups-old.csv"
    size = Counter(group_of.values())
    bursts = {name: size[group] for name, group in group_of.items()}
    trees = {"old": args.baseline, "new": HERE} if args.baseline else {"this": HERE}
    print(
        "| tree, seed | classes (added over 20% bursts) | added burst share of valid and test "
        "less the class's added share, points (mean / worst) | classes whose added valid or "
        "test holds no burst frame | frames an added burst, train / valid / test "
        "| class images off target per image (mean / worst) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, tree in trees.items():
        for seed in args.seeds:
            out = work / f"data-{name}-{seed}"
            rows = split_then_add((old, new, old_groups), tree.resolve(), out, seed, work / "cache")
            s = summary(rows, new, bursts)
            print(
                f"| {name}, {seed} | {s['classes']} | {s['gap']} | {s['no_bursts']} "
                f"| {s['frames']} | {s['off']} |",
                flush=True,
            )
    print(f"\nbuilt in {work}")


if __name__ == "__main__":
    main()

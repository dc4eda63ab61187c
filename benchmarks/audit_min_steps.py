"""Small folders: the audit's label flags with a floor on its heads' optimizer steps, and without.

Builds one small project per ``--projects`` seed under ``--work``: 8-12 Caltech-101 classes of the
100-class protocol (drawn with the seed), 30-60 of each class's images (linked to the shared files;
only images of ``--split``, ``/work/splits/s0`` by default, whose features the store holds), then moves 5% of the images
into another class folder of the project (wrong labels, named ``wrong_*``) and splits it with
``objrec split SRC OUT --link``. Each project is audited twice, unsplit (``SRC``) and split
(``OUT``), once per ``--min-steps`` value (``AuditConfig.min_steps``; 0: off), and prints per
folder and value: the heads' epochs and steps, precision and recall among the N highest-ranked
label flags (N = wrong labels planted) and of every flag, and the audit's seconds.

    flock /tmp/objrec-cpu.lock python benchmarks/audit_min_steps.py --projects 1 2 3 4 \\
        --min-steps 0 300 600 1200 --work /tmp/objrec-min-steps

Development seeds choose the value; report seeds are run once after, with the value fixed.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import time
from pathlib import Path

from objrec.audit.heads import head_epochs
from objrec.audit.recipe import AuditConfig, audit
from objrec.split.recipe import split_folder

SPLIT = Path("/work/splits/s0")
"""The default ``--split``: the team's split seed 0 of the 100-class protocol (README.md)."""
SPLIT_HELP = "a split folder [default: /work/splits/s0, the team's; see README.md]"
PAIRS = (
    ("crayfish", "lobster"),
    ("ketch", "schooner"),
    ("chair", "windsor_chair"),
    ("cougar_body", "cougar_face"),
    ("crocodile", "crocodile_head"),
    ("flamingo", "flamingo_head"),
    ("kangaroo", "gerenuk"),
    ("Leopards", "wild_cat"),
    ("brontosaurus", "stegosaurus"),
    ("lotus", "water_lilly"),
    ("dragonfly", "mayfly"),
    ("elephant", "rhino"),
    ("emu", "ibis"),
    ("dolphin", "bass"),
)
"""Caltech-101 classes alike enough to be mistaken for each other: ``--confusable`` projects."""


def protocol_images(split: Path) -> dict[str, list[Path]]:
    """The shared files of each class of the 100-class protocol ``split`` (its manifest's
    sources)."""
    by_class: dict[str, list[Path]] = {}
    with (split / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            by_class.setdefault(row["class"], []).append(Path(row["source"]))
    return {c: sorted(paths) for c, paths in sorted(by_class.items())}


def host(path: Path, classes: list[str], rng: random.Random, confusable: bool) -> str:
    """The class a planted image is moved into: its pair's other class, or any other."""
    if confusable:
        return next(
            b if a == path.parent.name else a for a, b in PAIRS if path.parent.name in (a, b)
        )
    return rng.choice([c for c in classes if c != path.parent.name])


def draw_classes(rng: random.Random, pool, confusable: bool) -> list[str]:
    """8-12 classes: any, or 4-6 of the confusable pairs."""
    if confusable:
        return [c for pair in rng.sample(PAIRS, rng.randint(4, 6)) for c in pair]
    return rng.sample(sorted(pool), rng.randint(8, 12))


def build(
    work: Path, seed: int, pool: dict[str, list[Path]], confusable: bool
) -> tuple[Path, Path, int]:
    """The project of ``seed``: its class folder, its split folder, and the labels planted."""
    name = f"{'c' if confusable else 'p'}{seed}"
    src, out = work / name / "src", work / name / "split"
    rng = random.Random(seed)
    classes = draw_classes(rng, pool, confusable)
    if not src.exists():
        for c in classes:
            (src / c).mkdir(parents=True)
            for path in rng.sample(pool[c], min(len(pool[c]), rng.randint(30, 60))):
                (src / c / path.name).symlink_to(path)
        files = sorted(src.glob("*/*"))
        for path in rng.sample(files, round(0.05 * len(files))):
            other = host(path, classes, rng, confusable)
            path.rename(src / other / f"wrong_{path.parent.name}_{path.name}")
        split_folder(src, out, seed=seed, mode="link")
    return src, out, len(list(src.glob("*/wrong_*")))


def score(result, n: int) -> tuple[int, int, int]:
    """Planted among the N highest-ranked flags, flags, planted among every flag."""
    flagged = [Path(r.path).name.startswith("wrong_") for r in result.label_issues]
    return sum(flagged[:n]), len(flagged), sum(flagged)


def fold_images(folder: Path, folds: int) -> int:
    """Images a head trains on: all but one fold's."""
    n = sum(1 for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".jpg")
    return math.floor(n * (folds - 1) / folds)


HEADER = (
    "project layout  images planted min_steps seed epochs steps  top-N     flags        "
    "labels_s total_s"
)


def audit_folder(name: str, layout: str, folder: Path, n: int, args) -> None:
    """One line per floor and audit seed: the heads' epochs and steps, what was found, seconds."""
    fit = fold_images(folder, AuditConfig().folds)
    for floor in args.min_steps:
        for audit_seed in args.audit_seeds:
            config = AuditConfig(min_steps=floor, seed=audit_seed)
            epochs = head_epochs(fit, config)
            steps = epochs * math.ceil(fit / config.batch_size)
            started = time.perf_counter()
            result = audit(folder, None, config)
            seconds = time.perf_counter() - started
            top, flags, hits = score(result, n)
            print(
                f"{name:7s} {layout:7s} {result.n_images:6d} {n:7d} {floor:9d} {audit_seed:4d} "
                f"{epochs:6d} {steps:5d} {top:3d}/{n:<3d} {hits:3d}/{flags:<3d} flagged "
                f"{result.seconds['labels']:8.1f} {seconds:7.1f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--projects",
        type=int,
        nargs="+",
        default=[1, 2, 3, 4],
        help="seeds of the small projects built, one project each",
    )
    parser.add_argument(
        "--min-steps",
        type=int,
        nargs="+",
        default=[0, 300, 600, 1200],
        help="AuditConfig.min_steps values compared (0: off)",
    )
    parser.add_argument(
        "--audit-seeds",
        type=int,
        nargs="+",
        default=[0],
        help="audit seeds run on each project and value",
    )
    parser.add_argument(
        "--confusable",
        action="store_true",
        help="Projects of 4-6 pairs of alike classes (PAIRS), each planted image moved into the "
        "other class of its pair.",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/objrec-min-steps"),
        help="folder for the projects (kept)",
    )
    parser.add_argument("--split", type=Path, default=SPLIT, help=SPLIT_HELP)
    args = parser.parse_args()
    pool = protocol_images(args.split)
    print(HEADER)
    for seed in args.projects:
        src, out, n = build(args.work, seed, pool, args.confusable)
        name = f"{'c' if args.confusable else 'p'}{seed}"
        for layout, folder in (("unsplit", src), ("split", out)):
            audit_folder(name, layout, folder, n, args)


if __name__ == "__main__":
    main()

"""Imbalanced folders: the audit's label flags and its plan's relabels, where one class is most
of the images.

Builds one project per ``--projects`` seed under ``--work``, shaped like a factory's defect photos
(a large "ok" class and a few small defect classes): one class of 120 images (drawn among the
100-class protocol's five of 120 or more) and classes of 40, 25, 15 and 10 images, plus 0-2 more
of 10-30, each class drawn with the seed (images linked to the shared files of ``--split``,
``/work/splits/s0`` by default, whose features the store holds); then moves 5% of the images
into another class folder of the project (wrong labels, named ``wrong_CLASS_*``, most of them
out of the large class, as the large class holds most images). Each project is audited once,
unsplit, and the line printed per project says (``--grey``: greyscale copies, as a factory
camera's, harder to tell apart):

* ``top-N``: planted among the N highest-ranked label flags (N = wrong labels planted);
* ``flags``: planted among every flag (precision and recall of the flagged set);
* ``relabel right``: the plan's pre-filled relabels (``plan.csv``) into the planted image's true
  class; ``relabel wrong``: relabels of a planted image into another class than its own;
  ``relabel harm``: relabels of an image that was not planted (a right label made wrong), and
  how many of those go into the large class (a defect photo made "ok");
* ``review``: flags the plan keeps, to be reviewed, planted and not.

    flock /tmp/objrec-cpu.lock python benchmarks/audit_imbalance.py --projects 1 2 3 4 5 6 \\
        --work /tmp/objrec-imbalance

Run it at two commits (``PYTHONPATH=.../src``) to compare them on the same projects.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

from PIL import Image

from objrec.audit.recipe import AuditConfig, audit

SPLIT = Path("/work/splits/s0")
"""The default ``--split``: the team's split seed 0 of the 100-class protocol (README.md)."""
SIZES = (120, 40, 25, 15, 10)
"""The persona's class sizes (ok, scratched part, Fissure, Défaut-3, bent pin)."""


def protocol_images(split: Path) -> dict[str, list[Path]]:
    """The shared files of each class of the protocol ``split`` (its manifest's sources)."""
    by_class: dict[str, list[Path]] = {}
    with (split / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            by_class.setdefault(row["class"], []).append(Path(row["source"]))
    return {c: sorted(paths) for c, paths in sorted(by_class.items())}


def draw_sizes(rng: random.Random, pool: dict[str, list[Path]]) -> dict[str, int]:
    """Each class of the project and its number of images: ``SIZES`` and 0-2 more of 10-30."""
    sizes = list(SIZES) + [rng.randint(10, 30) for _ in range(rng.randint(0, 2))]
    drawn: dict[str, int] = {}
    for n in sizes:
        drawn[rng.choice(sorted(c for c in pool if len(pool[c]) >= n and c not in drawn))] = n
    return drawn


def build(
    work: Path, seed: int, pool: dict[str, list[Path]], grey: bool = False
) -> tuple[Path, str, int]:
    """The project of ``seed``: its class folder, its large class, the labels planted. ``grey``:
    each image a greyscale JPEG copy (as a factory camera's), not a link."""
    src = work / f"{'g' if grey else 'i'}{seed}" / "src"
    rng = random.Random(seed)
    sizes = draw_sizes(rng, pool)
    if not src.exists():
        for c, n in sizes.items():
            (src / c).mkdir(parents=True)
            for path in rng.sample(pool[c], n):
                if grey:
                    with Image.open(path) as image:
                        image.convert("L").save(src / c / path.name, quality=90)
                else:
                    (src / c / path.name).symlink_to(path)
        files = sorted(src.glob("*/*"))
        for path in rng.sample(files, round(0.05 * len(files))):
            other = rng.choice([c for c in sizes if c != path.parent.name])
            path.rename(src / other / f"wrong_{path.parent.name}_{path.name}")
    return src, next(iter(sizes)), len(list(src.glob("*/wrong_*")))


def true_class(file: str, classes: list[str]) -> str | None:
    """A planted image's true class, from its name (``wrong_CLASS_NAME``), else None."""
    name = Path(file).name
    fits = [c for c in classes if name.startswith(f"wrong_{c}_")]
    return max(fits, key=len) if fits else None


def plan_counts(plan: Path, classes: list[str], large: str) -> dict[str, int]:
    """The plan's relabels: right, wrong (planted, another class), harm (not planted) and harm
    into ``large``; its flags kept to review, planted and not."""
    counts = dict.fromkeys(("right", "wrong", "harm", "harm_large", "review", "review_planted"), 0)
    with plan.open(newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            true = true_class(row["file"], classes)
            if row["action"] == "relabel":
                kind = "harm" if true is None else "right" if row["new_class"] == true else "wrong"
                counts[kind] += 1
                counts["harm_large"] += kind == "harm" and row["new_class"] == large
            elif row["reason"].startswith("review"):
                counts["review"] += 1
                counts["review_planted"] += true is not None
    return counts


HEADER = (
    "project images planted  top-N    flags    relabel right/wrong/harm (into large)  review "
    "(planted)  audit_s"
)


def audit_project(name: str, src: Path, large: str, n: int, work: Path) -> list[int]:
    """Audit one project; print its line; return its counts, to be summed."""
    started = time.perf_counter()
    result = audit(src, work / f"{name}-audit", AuditConfig(), force=True)
    seconds = time.perf_counter() - started
    planted = [Path(r.path).name.startswith("wrong_") for r in result.label_issues]
    top, flags, hits = sum(planted[:n]), len(planted), sum(planted)
    c = plan_counts(work / f"{name}-audit" / "plan.csv", result.classes, large)
    print(
        f"{name:7s} {result.n_images:6d} {n:7d} {top:3d}/{n:<3d} {hits:3d}/{flags:<3d}  "
        f"{c['right']:13d}/{c['wrong']}/{c['harm']} ({c['harm_large']}){'':16s}"
        f"{c['review']:4d} ({c['review_planted']}){'':5s}{seconds:7.1f}",
        flush=True,
    )
    return [n, top, flags, hits, c["right"], c["wrong"], c["harm"], c["harm_large"], c["review"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--projects", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6], help="project seeds"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/objrec-imbalance"),
        help="folder for the projects and their audits (kept; a project is reused)",
    )
    parser.add_argument(
        "--split",
        type=Path,
        default=SPLIT,
        help="a split folder with a manifest [default: /work/splits/s0, the team's]",
    )
    parser.add_argument(
        "--grey",
        action="store_true",
        help="greyscale JPEG copies of the images (projects g1, g2, ...), as the persona's photos",
    )
    args = parser.parse_args()
    pool = protocol_images(args.split)
    print(HEADER)
    totals = [0] * 9
    for seed in args.projects:
        src, large, n = build(args.work, seed, pool, args.grey)
        counts = audit_project(src.parent.name, src, large, n, args.work)
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
    n, top, flags, hits, right, wrong, harm, harm_large, review = totals
    print(
        f"all: planted {n}; top-N {top}/{n} ({top / max(1, n):.1%}); flags: precision "
        f"{hits / max(1, flags):.1%}, recall {hits / max(1, n):.1%} ({hits}/{flags}); relabels "
        f"right {right}, wrong {wrong}, harm {harm} ({harm_large} into the large class); "
        f"kept to review {review}"
    )


if __name__ == "__main__":
    main()

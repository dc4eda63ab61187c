"""Small folders: how often the audit's plan pre-fills a relabel that is right, and one that makes
a right label wrong.

Builds ``audit_min_steps.py``'s small projects under ``--work`` (8-12 Caltech-101 classes of
30-60 images, or with ``--confusable`` 4-6 pairs of alike classes; 5% of the images moved into
another class folder, named ``wrong_CLASS_*``; each also split with ``objrec split --link``),
audits each project unsplit and split with the audit's defaults, and prints per folder what its
``plan.csv`` pre-fills (``audit_imbalance.plan_counts``): relabels into a planted image's true
class (right), into another class (wrong), of an image that was not planted (harm: a right label
made wrong), and the label flags it keeps to review (planted among them).

    flock /tmp/objrec-cpu.lock python benchmarks/audit_relabels.py --projects 1 2 3 4 5 6 7 8 \\
        --work /tmp/objrec-relabels          # and --confusable

Run it at two commits (``PYTHONPATH=.../src``) to compare their plans on the same projects. The
projects are the development set the plan's ``RELABEL_MIN_RATIO`` was chosen on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audit_imbalance import plan_counts
from audit_min_steps import SPLIT, SPLIT_HELP, build, protocol_images

from objrec.audit.recipe import AuditConfig, audit

KINDS = ("right", "wrong", "harm", "review", "review_planted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--projects",
        type=int,
        nargs="+",
        default=list(range(1, 9)),
        help="seeds of the small projects (audit_min_steps.py's build), one project each",
    )
    parser.add_argument(
        "--confusable", action="store_true", help="Projects of pairs of alike classes."
    )
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/objrec-relabels"), help="folder (kept)"
    )
    parser.add_argument("--split", type=Path, default=SPLIT, help=SPLIT_HELP)
    args = parser.parse_args()
    pool = protocol_images(args.split)
    totals = dict.fromkeys(KINDS, 0)
    print("project layout  planted  relabel right/wrong/harm  review (planted)")
    for seed in args.projects:
        src, out, n = build(args.work, seed, pool, args.confusable)
        name = f"{'c' if args.confusable else 'p'}{seed}"
        for layout, folder in (("unsplit", src), ("split", out)):
            into = args.work / f"{name}-{layout}-audit"
            result = audit(folder, into, AuditConfig(), force=True)
            c = plan_counts(into / "plan.csv", result.classes, "")
            totals = {k: totals[k] + c[k] for k in KINDS}
            print(
                f"{name:7s} {layout:7s} {n:7d}  {c['right']:13d}/{c['wrong']}/{c['harm']:<4d}"
                f"  {c['review']:6d} ({c['review_planted']})",
                flush=True,
            )
    print(
        f"all: relabels right {totals['right']}, wrong {totals['wrong']}, harm {totals['harm']}; "
        f"kept to review {totals['review']} ({totals['review_planted']} planted)"
    )


if __name__ == "__main__":
    main()

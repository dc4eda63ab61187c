"""Outliers in folders of classes of very different sizes: the audit's scale (every image's
distances) against each class judged by its own spread.

For a folder (``DATA``: a class folder or a split folder whose features the store holds, the
audit's default body), computes the audit's two outlier distances (mean cosine distance to the 5
nearest images, and to the 5 nearest of its own class, copies left out) and flags an image where
either z is over ``OUTLIER_Z``, two ways:

* ``every image``: z against every image's median and MAD (``audit.distances.robust_z``, the audit's);
* ``own class``: z against its class's median and MAD, at least every image's
  (``audit.distances.class_spread_z``, as ``FAR_Z`` judges a label).

Truth: images named ``foreign_*`` (photos of no class of the folder, placed by hand) and
``--plant`` (a share of the images given another class's label, in the labels only). The line per
way: flagged, planted found, and flagged that were not planted, by class.

    python benchmarks/audit_outliers.py /tmp/imbalanced --plant 0
    python benchmarks/audit_outliers.py /work/splits/s0 --plant 0.05
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from pathlib import Path

import numpy as np

from objrec import dedup, image_facts
from objrec.audit import copies as audit_copies
from objrec.audit import distances as audit_distances
from objrec.audit import inventory as audit_inventory
from objrec.audit import outliers as audit_outliers
from objrec.audit import recipe as A
from objrec.progress import SILENT


def audit_rows(data: Path):
    """The audit's readable rows of ``data`` as ``audit.recipe.find_issues`` makes them: the inventory,
    the rows (indices into it), their labels, unit features, nearest images and copy groups
    (copies and bursts), and their features."""
    config = A.AuditConfig()
    inv = audit_inventory.inventory(data)
    measured: dict[str, image_facts.ImageFacts] = {}
    features, ok, _ = audit_inventory.audit_features(inv, config, None, SILENT, measured)
    facts = audit_inventory.inventory_facts(inv, config, lambda: None, measured)
    idx = np.flatnonzero(ok & np.array([not f.error for f in facts]))
    labels = np.array([inv.items[i].label for i in idx], dtype=np.int64)
    unit = dedup.normalise(features[idx])
    near = dedup.feature_neighbours(unit, max(dedup.NEIGHBOURS, config.neighbours))
    pairs = dedup.duplicate_pairs(unit, [facts[i] for i in idx], config.duplicates, near)
    group = audit_copies.copy_groups(len(idx), pairs, audit_copies.burst_pairs(inv, idx))
    return inv, idx, labels, unit, near, group, features[idx]


def distances(data: Path):
    """The inventory, readable labels and each image's two outlier distances (every image, own
    class), copies and bursts left out as the audit leaves them."""
    inv, idx, labels, unit, near, group, _ = audit_rows(data)
    return inv, idx, labels, unit, audit_copies.outside_groups(unit, near, group), group


def flagged(labels, unit, near, group, way: str, k: int = 5) -> np.ndarray:
    """Rows flagged far from every image or from their class, judged ``way``."""
    every = 1 - near.sims[:, :k].mean(1)
    own = audit_distances.knn_distance(unit, labels, k, group)
    if way == "every image":
        z_every, z_own = audit_distances.robust_z(every), audit_distances.robust_z(own)
    else:
        z_every, z_own = (
            audit_distances.class_spread_z(every, labels),
            audit_distances.class_spread_z(own, labels),
        )
    return np.flatnonzero((z_every > audit_outliers.OUTLIER_Z) | (z_own > audit_outliers.OUTLIER_Z))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a class folder or split folder")
    parser.add_argument("--plant", type=float, default=0.0, help="share of labels changed")
    args = parser.parse_args()
    inv, idx, labels, unit, near, group = distances(args.data)
    planted = {r for r, i in enumerate(idx) if inv.items[i].path.name.startswith("foreign_")}
    rng, given = random.Random(0), labels.copy()
    for r in rng.sample(range(len(given)), round(args.plant * len(given))):
        given[r] = rng.choice([c for c in np.unique(labels) if c != labels[r]])
        planted.add(r)
    print(
        f"{args.data}: {len(idx)} images, {len(np.unique(labels))} classes, planted {len(planted)}"
    )
    for way in ("every image", "own class"):
        rows = flagged(given, unit, near, group, way)
        others = Counter(inv.classes[given[r]] for r in rows if r not in planted)
        found = sum(r in planted for r in rows)
        print(
            f"{way:11s}: flagged {len(rows)}, planted found {found} of {len(planted)}, "
            f"not planted {sum(others.values())} {dict(others.most_common())}"
        )


if __name__ == "__main__":
    main()

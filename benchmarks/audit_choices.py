"""Choose the audit's label ranking and duplicate rule on a development injection.

The reported benchmark is ``benchmarks/audit.py --seed 0``; the choices are made here on another
injection (``--seed 1`` by default, same recipe: 5% wrong labels, 100 near-duplicates), with the
default three-body features, so that the reported figures are not the ones the choices were fitted
on. Prints, for the wrong labels, precision among the N highest-ranked flags for each way of
getting out-of-fold probabilities and each way of ranking them; for the near-duplicates, the
signals of the injected pairs by kind and of every other close pair, and what each rule finds.

    flock /tmp/objrec-cpu.lock python benchmarks/audit_choices.py --seed 1
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from audit import SOURCE, TRANSFORMS, prepare

from objrec import dedup, image_facts
from objrec.audit.heads import out_of_fold_probs
from objrec.audit.inventory import audit_features, inventory
from objrec.audit.recipe import AuditConfig
from objrec.progress import SILENT


def log(*args) -> None:
    print(*args, flush=True)


def knn_probs(unit: np.ndarray, labels: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """Each image's class distribution among its ``k`` nearest other images (similarity-weighted)."""
    sims, idx = dedup.feature_neighbours(unit, k)
    probs = np.full((len(unit), n_classes), 1e-3)
    for j in range(idx.shape[1]):
        np.add.at(probs, (np.arange(len(unit)), labels[idx[:, j]]), np.maximum(sims[:, j], 0))
    return probs / probs.sum(1, keepdims=True)


def temperature(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``probs`` rescaled by the temperature that minimises their own log loss (one scalar)."""
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(probs, 1e-12, 1))

    def nll(t: float) -> float:
        z = logp / t
        z = z - z.max(1, keepdims=True)
        z = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -z[np.arange(len(labels)), labels].mean()

    t = minimize_scalar(nll, bounds=(0.05, 20), method="bounded").x
    z = logp / t
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def rankings(labels: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray]:
    """Indices ranked most likely wrong first, by each cleanlab filter and ranking."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    present = np.unique(labels)
    sub = probs[:, present] / probs[:, present].sum(1, keepdims=True)
    remap = np.searchsorted(present, labels)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rank_by in ("self_confidence", "normalized_margin"):
            scores = get_label_quality_scores(remap, sub, method=rank_by)
            out[f"all, by {rank_by}"] = np.argsort(scores, kind="stable")
            for filter_by in ("prune_by_noise_rate", "both", "confident_learning"):
                out[f"{filter_by}, by {rank_by}"] = find_label_issues(
                    remap, sub, filter_by=filter_by, return_indices_ranked_by=rank_by, n_jobs=1
                )
    return out


def label_choices(features, unit, labels, n_classes, names, injected, config) -> None:
    n = len(injected)
    log(f"\nwrong labels: precision among the {n} highest-ranked flags (flagged in brackets)")
    variants = {
        "5 folds, 1 head, pca 256, 20 ep (previous)": config,
        "10 folds": replace(config, folds=10),
        "5 folds, 3 heads per fold": replace(config, heads=3),
        "5 folds, all 3,840 features": replace(config, pca=0),
        "5 folds, 40 epochs": replace(config, epochs=40),
    }
    knn = knn_probs(unit, labels, n_classes, 10)
    results: dict[str, np.ndarray] = {"10-NN labels alone": knn}
    for name, setting in variants.items():
        t = time.perf_counter()
        results[name] = out_of_fold_probs(features, labels, n_classes, setting)
        log(f"  ({name}: {time.perf_counter() - t:.0f} s)")
    base = results["5 folds, 1 head, pca 256, 20 ep (previous)"]
    results["previous + 10-NN, mean"] = (base + knn) / 2
    results["previous, temperature-scaled"] = temperature(base, labels)
    results["10 folds + 10-NN, mean"] = (results["10 folds"] + knn) / 2
    results["3 heads + 10-NN, mean"] = (results["5 folds, 3 heads per fold"] + knn) / 2
    for name, probs in results.items():
        log(f"\n{name}: out-of-fold accuracy {(probs.argmax(1) == labels).mean():.3f}")
        for how, ranked in rankings(labels, probs).items():
            top = names[ranked[:n]]
            hits = sum(p in injected for p in top)
            log(f"  {how:42s} {hits / n:6.1%}  ({len(ranked)} flagged)")


def crop_hashes(path: Path) -> tuple[int, ...]:
    """pHash of the centre 90% and 80% of the image, and of their mirrors."""
    from PIL import ImageOps

    from objrec.images import open_image

    try:
        grey = open_image(path, draft_size=image_facts.DRAFT).convert("L")
    except Exception:
        return (0, 0, 0, 0)
    out = []
    for keep in (0.9, 0.8):
        w, h = grey.size
        dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
        crop = grey.crop((dx, dy, w - dx, h - dy))
        out += [image_facts.hash_bits(crop), image_facts.hash_bits(ImageOps.mirror(crop))]
    return tuple(out)


def bits(a: int, b: int) -> int:
    return int(a ^ b).bit_count()


def crop_distance(fa, fb, ca, cb) -> int:
    """Smallest distance between one image's whole hash and the other's centre-crop hashes."""
    return min(
        min(
            bits(fa.phash, c), bits(fa.phash_mirror, c), bits(fb.phash, d), bits(fb.phash_mirror, d)
        )
        for c, d in zip(cb, ca, strict=True)
    )


def duplicate_choices(inv, unit, facts, truth) -> None:
    from concurrent.futures import ThreadPoolExecutor

    t = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        crops = list(pool.map(crop_hashes, [it.path for it in inv.items]))
    log(f"\ncentre-crop hashes: {time.perf_counter() - t:.0f} s")
    index = {inv.rel(it): i for i, it in enumerate(inv.items)}
    injected = {}
    for p in truth["duplicates"]:
        i, j = sorted((index[p["original"]], index[p["copy"]]))
        injected[(i, j)] = p
    sims, idx = dedup.feature_neighbours(unit, 10)
    close = {
        (min(i, int(j)), max(i, int(j)))
        for i in range(len(unit))
        for j, s in zip(idx[i], sims[i], strict=True)
        if s >= 0.8
    }
    close |= {(int(i), int(j)) for i, j, _ in dedup.hash_pairs(facts, 72)}
    rows = {}
    for i, j in close | set(injected):
        rows[(i, j)] = (
            float(unit[i] @ unit[j]),
            dedup.hash_distance(facts[i], facts[j]),
            crop_distance(facts[i], facts[j], crops[i], crops[j]),
        )
    log("\ninjected pairs by kind: similarity, hash distance, centre-crop hash distance")
    for kind in TRANSFORMS:
        values = sorted((rows[k] for k, p in injected.items() if p["kind"] == kind), reverse=True)
        log(f"  {kind:7s} " + " ".join(f"{s:.3f}/{d}/{c}" for s, d, c in values))
    other = [v for k, v in rows.items() if k not in injected]
    sim_bins = [0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98, 1.01]
    crop_bins = [0, 17, 25, 33, 41, 49, 65, 257]
    table = np.zeros((len(sim_bins) - 1, len(crop_bins) - 1), dtype=int)
    for s, _, c in other:
        table[np.digitize(s, sim_bins) - 1, np.digitize(c, crop_bins) - 1] += 1
    log("\nother close pairs: rows similarity >= bin, columns centre-crop distance <= bin")
    log("sim \\ crop " + " ".join(f"<={b - 1:>4}" for b in crop_bins[1:]))
    for b, row in zip(sim_bins, table, strict=False):
        log(f">= {b:<7.2f} " + " ".join(f"{v:>6d}" for v in row))
    rule_choices(rows, injected)


def or_close(
    rule: dedup.DuplicateRule, s_min: float, c_max: int
) -> Callable[[float, int, int], bool]:
    """``rule``, or a similarity of at least ``s_min`` with a crop hash distance of at most
    ``c_max``."""
    return lambda s, d, c: rule(s, d) or (s >= s_min and c <= c_max)


def rule_choices(rows, injected) -> None:
    # the rule before the crop hash: similarity 0.93, or hash 24, or 0.90 and hash 64
    current = dedup.DuplicateRule(sim_strict=0.93, sim_crop=2.0)
    rules: dict[str, Callable[[float, int, int], bool]] = {
        "previous rule": lambda s, d, c: current(s, d)
    }
    for s_min in (0.80, 0.85, 0.88):
        for c_max in (16, 24, 32, 40):
            rules[f"previous, or sim >= {s_min} and crop <= {c_max}"] = or_close(
                current, s_min, c_max
            )
    for sim_strict in (0.95, 0.97):
        for c_max in (24, 32):
            strict = replace(current, sim_strict=sim_strict)
            rules[f"sim >= {sim_strict} or hash rule, or sim >= 0.85 and crop <= {c_max}"] = (
                or_close(strict, 0.85, c_max)
            )
    log("\nrule                                                       injected  other pairs")
    for name, rule in rules.items():
        hits = [k for k, v in rows.items() if rule(*v)]
        found = [injected[k] for k in hits if k in injected]
        crops_found = sum(p["kind"] == "crop" for p in found)
        log(f"  {name:58s} {len(found):3d} (crops {crops_found:2d})  {len(hits) - len(found):6d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="Seed of the development injection.")
    parser.add_argument(
        "--work", type=Path, help="Work folder (default /tmp/objrec-audit-bench-sN)."
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=SOURCE,
        help="The split folder to copy [default: /work/splits/s0, the team's; see README.md].",
    )
    parser.add_argument("--duplicates", type=int, default=100, help="Near-duplicates to inject.")
    parser.add_argument(
        "--backbone",
        default=AuditConfig().backbone,
        help="body of the audit's features [default: the audit's default]",
    )
    parser.add_argument(
        "--skip-labels",
        action="store_true",
        help="leave out the wrong-label rankings (duplicates only)",
    )
    args = parser.parse_args()
    work = args.work or Path(f"/tmp/objrec-audit-bench-s{args.seed}")
    work.mkdir(parents=True, exist_ok=True)
    data, truth = prepare(work, args.seed, args.source, args.duplicates)
    config = AuditConfig(backbone=args.backbone)
    t = time.perf_counter()
    inv = inventory(data)
    features, ok, _ = audit_features(inv, config, None, SILENT)
    log(f"seed {args.seed}: {len(inv.items)} images, features {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    facts = image_facts.all_facts([it.path for it in inv.items])
    log(f"hashes {time.perf_counter() - t:.0f} s")
    assert ok.all() and not any(f.error for f in facts), "expected every image readable"
    unit = dedup.normalise(features)
    duplicate_choices(inv, unit, facts, truth)
    if not args.skip_labels:
        labels = np.array([it.label for it in inv.items])
        names = np.array([inv.rel(it) for it in inv.items])
        injected = set(truth["wrong_labels"])
        injected |= {p["copy"] for p in truth["duplicates"] if p["placement"] == "other class"}
        label_choices(features, unit, labels, len(inv.classes), names, injected, config)


if __name__ == "__main__":
    main()

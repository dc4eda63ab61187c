"""Planted wrong labels: precision and recall of the audit's label flags in three regimes, before
and after the flags in classes of too few photos are set apart, side by side on the same projects.

Projects are drawn from the images of ``--split`` (the 100-class protocol, every split pooled as
one photo folder; their features and image facts are read from the store, nothing is copied):

- ``random``: 8-12 classes of 30-60 images, 5% of the images planted in another class;
- ``pairs``: 5 pairs of look-alike classes and 2 other classes, 22-65 images a class, 6% planted,
  half in the other class of the image's pair, half in any other class. The pairs are the
  classes a head trained on the split's train images confuses most on its VALIDATION images
  (``alike_pairs``), never on its test images;
- ``few``: every class, 6-10 images each (2-3 for training once split 50/25/25, as a catalogue of
  few photos a product), 3% planted in any other class.

A planted image keeps its file; only its label in the audit's inventory changes
(``objrec.audit.recipe.find_issues`` on the subset, as ``audit`` calls it). Its flags are scored:
precision (planted among the flags), recall (planted flagged), before and after the flags "too
few photos to judge" are set apart (``VARIANTS``). Medians over the project seeds. ``--needs``
checks ``photos_needed.csv`` instead (``needs_check``); ``--plan`` the plan's pre-filled relabels
between classes the audit mistakes both ways (``plan_check``).

    flock /tmp/objrec-cpu.lock python benchmarks/audit_planted.py --seeds 1 2 3 \\
        --regimes random pairs few

Development seeds choose a rule's thresholds; report seeds are run once after, with them fixed.
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _sampling import SPLIT, SPLIT_HELP

from objrec.audit.heads import reduce, train_fold_head
from objrec.audit.inventory import Inventory, Item, audit_features, inventory, inventory_facts
from objrec.audit.plan import label_proposal
from objrec.audit.recipe import AuditConfig, find_issues
from objrec.progress import SILENT

VARIANTS = ("before", "after")
"""``before``: every label flag counted (``AuditConfig(few_photos_p=0)``, as before the rule);
``after``: the flags ``AuditResult.too_few`` sets apart left out. The rule only sets flags apart
(their ranking and the heads are the same), so one audit per project scores both."""


@dataclass
class Pool:
    """The split's images, their features and facts, and the look-alike pairs."""

    inv: Inventory
    features: np.ndarray
    ok: np.ndarray
    facts: list
    pairs: list[tuple[int, int]]


def load_pool(split: Path) -> Pool:
    """Every image of ``split`` with its stored features and facts, and its look-alike pairs."""
    config = AuditConfig()
    inv = inventory(split)
    features, ok, _ = audit_features(inv, config, None, SILENT, {})
    facts = inventory_facts(inv, config, lambda: None)
    return Pool(inv, features, ok, facts, alike_pairs(inv, features, config))


def alike_pairs(inv: Inventory, features: np.ndarray, config: AuditConfig) -> list[tuple[int, int]]:
    """Disjoint class pairs, most confused first: a head trained on the train images, counted on
    the validation images (errors either way)."""
    x = torch.from_numpy(reduce(features, config))
    split = np.array([it.split for it in inv.items])
    y = torch.tensor([it.label for it in inv.items])
    train, valid = np.flatnonzero(split == "train"), np.flatnonzero(split == "valid")
    head = train_fold_head(x[train], y[train], len(inv.classes), config, seed=0)
    with torch.inference_mode():
        guess = head(x[valid]).argmax(1).numpy()
    counts: dict[tuple[int, int], int] = {}
    for a, b in zip(y[valid].numpy().tolist(), guess.tolist(), strict=True):
        if a != b:
            key = (min(a, b), max(a, b))
            counts[key] = counts.get(key, 0) + 1
    taken: set[int] = set()
    pairs = []
    for (a, b), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n >= 2 and a not in taken and b not in taken:
            pairs.append((a, b))
            taken |= {a, b}
    return pairs


@dataclass
class Project:
    rows: list[int]
    given: list[int]
    true: list[int]
    classes: list[int]


def by_class(pool: Pool) -> dict[int, list[int]]:
    rows: dict[int, list[int]] = {}
    for i, it in enumerate(pool.inv.items):
        rows.setdefault(it.label, []).append(i)
    return rows


def draw(pool: Pool, regime: str, seed: int) -> tuple[dict[int, int], float, float]:
    """Each class of the project with its size, the share planted, the share of it in pairs."""
    rng, rows = random.Random(seed), by_class(pool)
    if regime == "random":
        classes = rng.sample(sorted(rows), rng.randint(8, 12))
        return {c: rng.randint(30, 60) for c in classes}, 0.05, 0.0
    if regime == "pairs":
        paired = [c for p in rng.sample(pool.pairs[:12], 5) for c in p]
        others = rng.sample([c for c in sorted(rows) if c not in paired], 2)
        return {c: rng.randint(22, 65) for c in paired + others}, 0.06, 0.5
    return {c: rng.randint(6, 10) for c in sorted(rows)}, 0.03, 0.0


def build(pool: Pool, regime: str, seed: int) -> Project:
    """The project of ``regime`` and ``seed``: its images, given and true labels."""
    sizes, share, paired = draw(pool, regime, seed)
    rng, rows = random.Random(seed * 7 + 1), by_class(pool)
    chosen = [(r, c) for c, n in sizes.items() for r in rng.sample(rows[c], min(n, len(rows[c])))]
    partner = {a: b for p in pool.pairs for a, b in (p, p[::-1])}
    planted = rng.sample(range(len(chosen)), round(share * len(chosen)))
    given = [c for _, c in chosen]
    for k, i in enumerate(planted):
        c = given[i]
        if k < paired * len(planted) and partner.get(c) in sizes:
            given[i] = partner[c]
        else:
            given[i] = rng.choice([o for o in sizes if o != c])
    return Project([r for r, _ in chosen], given, [c for _, c in chosen], list(sizes))


def run(pool: Pool, project: Project, config: AuditConfig):
    """The audit's findings on the project (labels as given)."""
    names = [pool.inv.classes[c] for c in project.classes]
    at = {c: k for k, c in enumerate(project.classes)}
    items = [
        Item(pool.inv.items[r].path, f"{k}", at[g], None)
        for k, (r, g) in enumerate(zip(project.rows, project.given, strict=True))
    ]
    inv = Inventory(pool.inv.root, tuple(names), items, False)
    inv.digests = [pool.inv.digests[r] for r in project.rows]
    rows = np.array(project.rows)
    facts = [pool.facts[r] for r in project.rows]
    return find_issues(inv, pool.features[rows], pool.ok[rows], facts, config, SILENT)


def score(project: Project, result, variant: str) -> dict[str, float]:
    """Precision and recall of the flags (with ``after``, those set apart not counted)."""
    wrong = {k for k, (g, t) in enumerate(zip(project.given, project.true, strict=True)) if g != t}
    kept = set(result.too_few) if variant == "after" else set()
    flags = {int(r.path) for r in result.label_issues if r.path not in kept}
    hits = len(flags & wrong)
    return {
        "planted": len(wrong),
        "flags": len(flags),
        "precision": hits / len(flags) if flags else 1.0,
        "recall": hits / len(wrong) if wrong else 1.0,
        "false": len(flags - wrong),
    }


def plan_check(pool: Pool, project: Project) -> dict[str, list[int]]:
    """The flags the plan would pre-fill ``relabel`` or ``keep`` without ``mixed_doubt``, split by
    whether the given and the suggested class are a pair the audit's out-of-fold answers mistake
    both ways (``mixed``: ``audit.labels.mixed_both_ways``): [flags, planted, suggested the true class,
    relabelled with the rule]."""
    result = run(pool, project, AuditConfig())
    at = {name: k for k, name in enumerate(pool.inv.classes[c] for c in project.classes)}
    true = {at[pool.inv.classes[c]]: c for c in project.classes}
    out: dict[str, list[int]] = {}
    for issue in result.label_issues:
        k, suggested = int(issue.path), at[issue.suggested]
        before = label_proposal(replace(issue, mixed=False))[0]
        row = out.setdefault(f"{before} {'mixed' if issue.mixed else 'other'}", [0] * 4)
        row[0] += 1
        row[1] += project.given[k] != project.true[k]
        row[2] += true[suggested] == project.true[k]
        row[3] += label_proposal(issue)[0] == "relabel"
    return out


def needs_check(pool: Pool, seed: int) -> dict[str, float]:
    """Does ``photos_needed.csv`` name the classes a model trained on the photos recognises
    worst? A ``few`` project of the train and valid images only (6-10 a class, none planted) is
    audited; a head trained on the same photos is scored per class on every test image. The test
    recall (mean over classes) of the first 10 classes the audit lists, against the first 10 by
    fewest photos (the audit's order without its recognised share), and every class's."""
    rng, split = random.Random(seed), [it.split for it in pool.inv.items]
    rows = by_class(pool)
    chosen = [
        (r, c)
        for c in sorted(rows)
        for r in rng.sample([r for r in rows[c] if split[r] != "test"], rng.randint(6, 10))
    ]
    labels = [c for _, c in chosen]
    project = Project([r for r, _ in chosen], labels, labels, sorted(rows))
    listed = [row.class_name for row in run(pool, project, AuditConfig()).photos_needed]
    recall = test_recall(pool, project, seed)
    fewest = sorted(rows, key=lambda c: (labels.count(c), rng.random()))
    by_name = {pool.inv.classes[c]: recall[c] for c in rows}
    return {
        "audit's first 10": float(np.mean([by_name[c] for c in listed[:10]])),
        "fewest photos' first 10": float(np.mean([recall[c] for c in fewest[:10]])),
        "all classes": float(np.mean(list(recall.values()))),
    }


NEEDS_RULES = {
    "now: few photos, or recognised under 80%": lambda n: bool(n.reasons),
    "or a taker of 2 photos and 10%": lambda n: (
        bool(n.reasons) or (n.confused >= 2 and n.confused >= 0.1 * n.judged)
    ),
    "or recognised under 85%": lambda n: bool(n.reasons) or n.recognised < 0.85 * n.judged,
}
"""The rules ``--needs-rule`` scores side by side: which classes photos_needed.csv lists."""


def needs_rule_check(pool: Pool, seed: int) -> dict[str, tuple[int, float, int]]:
    """photos_needed.csv's rule on the split's train images (the audit of a folder of them,
    ``AuditConfig(seed=seed)``), scored on its VALIDATION images, never its test images: a head
    trained on the train images, each class's validation recall. For each rule of
    ``NEEDS_RULES``: how many classes it lists, their mean validation recall, and how many of the
    classes under 80% on validation it lists."""
    import objrec.audit.labels as audit_labels

    seen: dict[str, Any] = {}
    real = audit_labels.class_evidence

    def every_class(*args, **kwargs):  # every class's evidence, listed or not
        seen["all"] = real(*args, **kwargs)
        return seen["all"]

    audit_labels.class_evidence = every_class
    train = [r for r, it in enumerate(pool.inv.items) if it.split == "train"]
    labels = [pool.inv.items[r].label for r in train]
    project = Project(train, labels, labels, sorted(set(labels)))
    try:
        run(pool, project, AuditConfig(seed=seed))
    finally:
        audit_labels.class_evidence = real
    valid = valid_recall(pool, seed)
    needs = seen["all"]
    weak = {n.name for n in needs if valid[n.name] < 0.8}
    out = {}
    for name, rule in NEEDS_RULES.items():
        listed = [n.name for n in needs if rule(n)]
        mean = float(np.mean([valid[c] for c in listed])) if listed else float("nan")
        out[name] = (len(listed), mean, len(weak & set(listed)))
    out["classes under 80% on validation"] = (len(weak), float("nan"), len(weak))
    return out


def needs_rule_report(pool: Pool, seeds: list[int]) -> None:
    """``--needs-rule``: each rule's listing, seed by seed (``needs_rule_check``)."""
    for seed in seeds:
        for name, (n, mean, weak) in needs_rule_check(pool, seed).items():
            print(
                f"needs rule seed {seed}: {name}: {n} classes listed, mean validation recall "
                f"{100 * mean:.1f}%, {weak} of the classes under 80% on validation",
                flush=True,
            )


def valid_recall(pool: Pool, seed: int) -> dict[str, float]:
    """Each class's recall on the split's validation images, of a head trained on its train
    images."""
    config = AuditConfig()
    x = torch.from_numpy(np.ascontiguousarray(pool.features, dtype=np.float32))
    split = np.array([it.split for it in pool.inv.items])
    y = np.array([it.label for it in pool.inv.items])
    train, valid = np.flatnonzero(split == "train"), np.flatnonzero(split == "valid")
    head = train_fold_head(x[train], torch.tensor(y[train]), len(pool.inv.classes), config, seed)
    with torch.inference_mode():
        guess = head(x[valid]).argmax(1).numpy()
    truth = y[valid]
    return {pool.inv.classes[c]: float((guess[truth == c] == c).mean()) for c in np.unique(truth)}


def test_recall(pool: Pool, project: Project, seed: int) -> dict[int, float]:
    """Each class's recall on the split's test images, of a head trained on the project's photos."""
    config = AuditConfig()
    x = torch.from_numpy(np.ascontiguousarray(pool.features, dtype=np.float32))
    rows = torch.tensor(project.rows)
    y = torch.tensor(project.given)
    head = train_fold_head(x[rows], y, len(pool.inv.classes), config, seed)
    test = np.flatnonzero(np.array([it.split == "test" for it in pool.inv.items]))
    truth = np.array([pool.inv.items[r].label for r in test])
    with torch.inference_mode():
        guess = head(x[test]).argmax(1).numpy()
    return {c: float((guess[truth == c] == c).mean()) for c in np.unique(truth).tolist()}


NO_CLASS_RULES = {
    "nearest_z > 2": lambda f: f["nearest_z"] > 2.0,
    "nearest_z > 3": lambda f: f["nearest_z"] > 3.0,
    "p(sugg) < 0.5, p(given) < chance": lambda f: (
        f["p_suggested"] < 0.5 and f["p_given"] < f["chance"]
    ),
    "p(sugg) < 0.6, p(given) < chance": lambda f: (
        f["p_suggested"] < 0.6 and f["p_given"] < f["chance"]
    ),
    "p(sugg) < 0.5, p(given) < chance, z(sugg) > 0.5": lambda f: (
        f["p_suggested"] < 0.5 and f["p_given"] < f["chance"] and f["suggested_z"] > 0.5
    ),
    "p(sugg) < 0.5, p(given) < chance, nearest_z > 0.5": lambda f: (
        f["p_suggested"] < 0.5 and f["p_given"] < f["chance"] and f["nearest_z"] > 0.5
    ),
}
"""The rules ``--nothing`` scores side by side for a flag of none of the classes (one audit a
project): ``chance`` is 1 / the project's classes."""


def nothing_check(pool: Pool, nothing: Pool, seed: int) -> list[dict[str, Any]]:
    """A ``random`` project of the split's train and valid images only (never its test images;
    5% planted in another class) with 4-8 photos of nothing (``nothing``'s images: Caltech-101's
    BACKGROUND_Google) labelled as a random class of it: each label flag's kind (``nothing``,
    ``planted``: a photo of another class of the project, or ``right``: a label not planted) and
    its evidence; and a row of kind ``missed`` for each photo of nothing not flagged, of kind
    ``unflagged`` for each planted photo not flagged."""
    rng, split = random.Random(seed), [it.split for it in pool.inv.items]
    rows = {c: [r for r in rs if split[r] != "test"] for c, rs in by_class(pool).items()}
    classes = rng.sample(sorted(rows), rng.randint(8, 12))
    chosen = [
        (r, c) for c in classes for r in rng.sample(rows[c], min(rng.randint(30, 60), len(rows[c])))
    ]
    given = [c for _, c in chosen]
    for i in rng.sample(range(len(chosen)), round(0.05 * len(chosen))):
        given[i] = rng.choice([o for o in classes if o != given[i]])
    extra = rng.sample(range(len(nothing.inv.items)), rng.randint(4, 8))
    result = run_with(pool, nothing, (chosen, given, extra, [rng.choice(classes) for _ in extra]))
    kinds = ["right" if g == c else "planted" for (_, c), g in zip(chosen, given, strict=True)]
    kinds += ["nothing"] * len(extra)
    found = [
        {
            "kind": kinds[int(i.path)],
            "seed": seed,
            "nearest_z": i.nearest_z or 0.0,
            "suggested_z": i.suggested_z or 0.0,
            "p_given": i.prob_given,
            "p_suggested": i.prob_suggested,
            "chance": 1 / len(classes),
            "relabel": label_proposal(replace(i, no_class=False))[0] == "relabel",
            "no_class": i.no_class,
        }
        for i in result.label_issues
    ]
    flagged = {int(i.path) for i in result.label_issues}
    missed = [k for k in range(len(chosen), len(kinds)) if k not in flagged]
    unflagged = [k for k, kind in enumerate(kinds) if kind == "planted" and k not in flagged]
    return found + [{"kind": "missed"}] * len(missed) + [{"kind": "unflagged"}] * len(unflagged)


def run_with(pool: Pool, nothing: Pool, project: tuple) -> Any:
    """The audit's findings on ``chosen`` (pool rows, true class) labelled ``given``, with the
    ``extra`` images of ``nothing`` labelled as ``as_class``: each row's path is its place."""
    chosen, given, extra, as_class = project
    classes = sorted(set(c for _, c in chosen))
    at = {c: k for k, c in enumerate(classes)}
    sources = [(pool, r, g) for (r, _), g in zip(chosen, given, strict=True)]
    sources += [(nothing, r, g) for r, g in zip(extra, as_class, strict=True)]
    items = [
        Item(src.inv.items[r].path, f"{k}", at[g], None) for k, (src, r, g) in enumerate(sources)
    ]
    inv = Inventory(pool.inv.root, tuple(pool.inv.classes[c] for c in classes), items, False)
    inv.digests = [src.inv.digests[r] for src, r, _ in sources]
    features = np.stack([src.features[r] for src, r, _ in sources])
    ok = np.array([src.ok[r] for src, r, _ in sources])
    facts = [src.facts[r] for src, r, _ in sources]
    return find_issues(inv, features, ok, facts, AuditConfig(), SILENT)


def nothing_report(pool: Pool, folder: Path, seeds: list[int]) -> None:
    """``--nothing``: each flag's evidence (one line a flag), then for the audit's own rule (the
    flag's ``no_class``, as the objrec imported sets it) and each rule of ``NO_CLASS_RULES`` how
    many flags it says are of none of the classes, by kind, and how many
    of the plan's right relabels (a planted photo relabelled as its true class) it would turn
    to reviews, summed over the seeds (``nothing_check``)."""
    config = AuditConfig()
    inv = inventory(folder)
    features, ok, _ = audit_features(inv, config, None, SILENT, {})
    nothing = Pool(inv, features, ok, inventory_facts(inv, config, lambda: None), [])
    found = []
    for seed in seeds:
        rows = nothing_check(pool, nothing, seed)
        for f in rows:
            if f["kind"] not in ("missed", "unflagged"):
                print(
                    f"seed {seed} {f['kind']:8s} p(given) {f['p_given']:.3f} p(sugg) "
                    f"{f['p_suggested']:.2f} z(sugg) {f['suggested_z']:5.2f} nearest_z "
                    f"{f['nearest_z']:5.2f} relabel {f['relabel']} no_class {f['no_class']}",
                    flush=True,
                )
        found += rows
    total = {k: sum(f["kind"] == k for f in found) for k in ("nothing", "planted", "right")}
    missed = sum(f["kind"] == "missed" for f in found)
    planted = total["planted"] + sum(f["kind"] == "unflagged" for f in found)
    print(
        f"seeds {seeds}: photos of nothing planted {total['nothing'] + missed}, flagged "
        f"{total['nothing']}; wrong labels planted {planted}, flagged {total['planted']} (relabelled "
        f"{sum(f['kind'] == 'planted' and f['relabel'] for f in found)}), of right labels "
        f"{total['right']}"
    )
    rules = {"the audit's (no_class)": lambda f: f["no_class"], **NO_CLASS_RULES}
    for name, rule in rules.items():
        said = [f for f in found if f["kind"] not in ("missed", "unflagged") and rule(f)]
        counts = {k: sum(f["kind"] == k for f in said) for k in total}
        lost = sum(f["kind"] == "planted" and f["relabel"] for f in said)
        print(
            f"  {name}: of no class: nothing {counts['nothing']}/{total['nothing']}, planted "
            f"{counts['planted']}/{total['planted']} ({lost} relabels lost), right "
            f"{counts['right']}/{total['right']}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 2, 3], help="project seeds, one project each"
    )
    parser.add_argument(
        "--regimes",
        nargs="+",
        default=["random", "pairs", "few"],
        help="which projects: random classes, look-alike pairs, few photos a class",
    )
    parser.add_argument("--split", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument(
        "--needs", action="store_true", help="Check photos_needed.csv's order (needs_check)."
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="Score the plan's pre-filled actions apart for flags between a pair the audit "
        "mistakes both ways (plan_check)",
    )
    parser.add_argument(
        "--needs-rule",
        action="store_true",
        help="Score photos_needed.csv's listing rule and variants on the split's train images "
        "against validation recall (needs_rule_check)",
    )
    parser.add_argument(
        "--nothing",
        type=Path,
        help="a class folder of photos of nothing (Caltech-101's BACKGROUND_Google in one class "
        "folder): plant 4-8 in each random project and score the flags said of no class "
        "(nothing_report)",
    )
    args = parser.parse_args()
    pool = load_pool(args.split)
    if args.needs_rule:
        needs_rule_report(pool, args.seeds)
        return
    if args.nothing:
        nothing_report(pool, args.nothing, args.seeds)
        return
    if args.plan:
        plan_report(pool, args.regimes, args.seeds)
        return
    if args.needs:
        for seed in args.seeds:
            found = needs_check(pool, seed)
            print(
                f"needs seed {seed}: test recall, "
                + ", ".join(f"{k} {100 * v:.1f}%" for k, v in found.items()),
                flush=True,
            )
        return
    names = [f"{pool.inv.classes[a]}/{pool.inv.classes[b]}" for a, b in pool.pairs[:12]]
    print("look-alike pairs (validation confusions):", ", ".join(names))
    for regime in args.regimes:
        table: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
        for seed in args.seeds:
            project = build(pool, regime, seed)
            result = run(pool, project, AuditConfig())
            for variant in VARIANTS:
                s = score(project, result, variant)
                table[variant].append(s)
                print(f"{regime:6s} seed {seed} {variant:7s} {fmt(s)}", flush=True)
        for variant, scores in table.items():
            median = {k: statistics.median(s[k] for s in scores) for k in scores[0]}
            print(f"{regime:6s} median  {variant:7s} {fmt(median)}", flush=True)


def plan_report(pool: Pool, regimes: list[str], seeds: list[int]) -> None:
    """``--plan``: per seed and summed, each action the plan would pre-fill without
    ``mixed_doubt``, between pairs mistaken both ways or not (``plan_check``)."""
    for regime in regimes:
        total: dict[str, list[int]] = {}
        for seed in seeds:
            found = plan_check(pool, build(pool, regime, seed))
            for key, row in sorted(found.items()):
                print(f"{regime:6s} seed {seed} {key:13s} {plan_fmt(row)}", flush=True)
                total[key] = [a + b for a, b in zip(total.get(key, [0] * 4), row, strict=True)]
        for key, row in sorted(total.items()):
            print(f"{regime:6s} all     {key:13s} {plan_fmt(row)}", flush=True)


def plan_fmt(row: list[int]) -> str:
    n, planted, right, kept = row
    return (
        f"flags {n:3d} planted {planted:3d} ({100 * planted / n:5.1f}%) "
        f"suggested true {right:3d} relabelled now {kept:3d}"
    )


def fmt(s: dict[str, float]) -> str:
    return (
        f"planted {s['planted']:4.0f} flags {s['flags']:4.0f} false {s['false']:4.0f} "
        f"precision {100 * s['precision']:5.1f}% recall {100 * s['recall']:5.1f}%"
    )


if __name__ == "__main__":
    main()

"""The audit's label check: the out-of-fold heads' probabilities (``audit.heads``) averaged
with the labels of each image's nearest images, one picture at a time; cleanlab (confident
learning) flags as many images as it estimates are wrong, those whose given label the
probabilities support least, plus images far from their class whose label gets under twice
chance, and under half (:func:`far_limit`, :func:`far_from_label`); each flag with what makes it
doubtful, and the classes that most need photos (``photos_needed.csv``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from objrec import dedup
from objrec.audit.copies import Pictures
from objrec.audit.distances import (
    Around,
    class_spread_z,
    class_spreads,
    knn_distance,
    spread_z_within,
)
from objrec.audit.findings import ClassRecall, LabelIssue, LikelyMerge, PhotosNeeded
from objrec.audit.heads import layout_free_probs
from objrec.audit.inventory import Inventory
from objrec.audit.report import MIN_JUDGED, none_judged_note
from objrec.photos_needed import FEW_PHOTOS, class_evidence, in_need, least_recognised
from objrec.reviewed import settled_paths
from objrec.words import plural

if TYPE_CHECKING:
    from objrec.audit.recipe import AuditConfig

log = logging.getLogger(__name__)


FAR_CHANCE = 2.0
"""An image far from its class (``FAR_Z``) whose heads and neighbours give its label less than
this many times chance (1 / classes) is flagged as a wrong label even when cleanlab does not count
it. Chosen on the development injection (``benchmarks/README.md``, "small folders")."""


FAR_MAX_P = 0.5
"""The most ``far_from_label``'s limit can be, whatever ``FAR_CHANCE`` times chance comes to. With
two classes twice chance is 1.0 and with three 0.67, so an unusual photo its label was given at
0.99 was flagged as a wrong label ("like none of the classes": 7 correct photos of a folder of 60
Leopards and 60 laptops, session 61's review); under 0.5 another class is at least as likely.
With 4 classes or more twice chance is at most 0.5, and the limit is unchanged."""


def far_limit(n_classes: int) -> float:
    """The probability of its label under which an image far from its class is flagged:
    ``FAR_CHANCE`` times chance, at most ``FAR_MAX_P``."""
    return min(FAR_CHANCE / n_classes, FAR_MAX_P)


FAR_Z = 2.25
"""Robust z-score (within its class: ``class_spread_z``) of the mean distance to the nearest images
of its own class above which an image counts as far from its class, for ``FAR_CHANCE``."""


CLAIM_Z = 1.0
"""The ``FAR_Z`` that suffices for an image ``claimed_by_other``: its most probable other class
gets at least ``CLAIM_SHARE`` of that class's confident threshold. Chosen with ``CLAIM_SHARE`` on
the development injection (``benchmarks/README.md``, "claimed by another class")."""


CLAIM_SHARE = 0.8
"""Share of a class's confident threshold (cleanlab's: the mean probability its own images get)
another class's image must get to be ``claimed_by_other``."""


@dataclass
class LabelFindings:
    """``judge_labels``' answer: the ranked rows, the baseline's flags, unjudged classes, why no
    label was judged ("" when labels were)."""

    issues: list[LabelIssue] = field(default_factory=list)
    baseline: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)
    none_judged: str = ""
    needs: list[PhotosNeeded] = field(default_factory=list)
    least: list[ClassRecall] = field(default_factory=list)
    merges: list[LikelyMerge] = field(default_factory=list)


def judge_labels(
    inv: Inventory, idx, labels, features, near, config, reporter, group=None, around=None
) -> LabelFindings:
    """Label issues among the readable rows (``idx``) of classes with ``MIN_JUDGED`` images or
    more, judged one row a picture (``Pictures``: an image's near-duplicates in ``group``,
    ``copy_groups``' numbers, counted once; no group, none joined), each flag given to all the
    picture's copies; the heads train on every readable row, a smaller class's too. ``around``:
    the rows' :class:`Around`, where the caller has it."""
    group = np.arange(len(labels)) if group is None else group
    around = around or Around(dedup.normalise(features), near, labels, group, config.neighbours)
    pictures = Pictures.of_groups(group, labels)
    counts = np.bincount(labels[pictures.first], minlength=len(inv.classes))
    present = {it.label for it in inv.items}
    unjudged = [inv.classes[c] for c in sorted(present) if counts[c] < MIN_JUDGED]
    found = LabelFindings(unjudged=unjudged)
    judged = np.flatnonzero(counts[labels] >= MIN_JUDGED)
    if len(judged_classes := np.unique(labels[judged])) < 2:  # no two classes to tell apart
        names = [inv.classes[c] for c in judged_classes]
        found.none_judged = none_judged_note([inv.classes[c] for c in sorted(present)], names)
        return found
    heads = layout_free_probs(inv, idx, features, labels, config, reporter, group)
    wrong = judged[heads[judged].argmax(1) != labels[judged]]
    found.baseline = [inv.items[idx[r]].shown for r in wrong]
    probs = voted_probs(heads, around, pictures, config)
    ranked, scores = ranked_pictures(labels, probs, pictures, counts, config, around.within)
    near = around.outside
    found.issues = label_issue_rows(inv, idx, labels, probs, ranked, scores, near, pictures)
    suggested = np.array([inv.classes.index(i.suggested) for i in found.issues], dtype=int)
    z = spread_z_within(
        around.unit, labels, ranked, suggested, config.neighbours, group, around.within
    )
    mixed = mixed_both_ways(labels, probs.argmax(1), np.isin(np.arange(len(labels)), ranked))
    found.issues = with_doubts(found.issues, labels[ranked], suggested, z, counts, mixed, config)
    apart = nearest_class_z(around, ranked, config.neighbours, group)
    found.issues = [
        replace(
            issue,
            nearest_z=round(far, 2),
            no_class=of_no_class(far, issue.prob_given, issue.prob_suggested),
        )
        for issue, far in zip(found.issues, apart.tolist(), strict=True)
    ]
    flagged = unsettled(inv, found.issues, ranked)
    found.needs, found.least = needs_rows(labels, probs, counts, flagged, (inv, idx), pictures)
    found.merges = likely_merges(probs.argmax(1), pictures, around, inv.classes, config.neighbours)
    return found


def voted_probs(heads: np.ndarray, around: Around, pictures: Pictures, config) -> np.ndarray:
    """Each row's class probabilities: the out-of-fold ``heads``' mixed with its neighbours' vote
    (``config.knn_weight``; each neighbouring picture one vote: ``Around.outside``), averaged
    over its picture's rows (``pictures``), so that a picture's copies are judged as one."""
    probs = heads
    if config.knn_weight:
        knn = neighbour_probs(around.outside, around.labels, heads.shape[1])
        probs = (1 - config.knn_weight) * heads + config.knn_weight * knn
    return pictures.mean(probs)[pictures.of]


def neighbour_probs(near: dedup.Neighbours, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Each image's class distribution among its nearest other images, weighted by similarity."""
    probs = np.full((len(labels), n_classes), 1e-3)
    rows = np.arange(len(labels))
    for j in range(near.idx.shape[1]):
        np.add.at(probs, (rows, labels[near.idx[:, j]]), np.maximum(near.sims[:, j], 0))
    return probs / probs.sum(1, keepdims=True)


def ranked_pictures(
    labels: np.ndarray,
    probs: np.ndarray,
    pictures: Pictures,
    counts: np.ndarray,
    config: AuditConfig,
    within: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The flagged rows, most likely first, each picture's copies together, and every row's issue
    score: cleanlab's flags and ``far_from_label``'s among the pictures of classes of
    ``MIN_JUDGED`` distinct ones or more (``counts``), one row a picture, so that the copies of
    one photo weigh once in cleanlab's thresholds and in the spreads of the distances to their
    class (``within``: each row's, ``knn_distance``'s)."""
    mine, theirs = labels[pictures.first], probs[pictures.first]
    judged = np.flatnonzero(counts[mine] >= MIN_JUDGED)
    ranked, judged_scores = rank_label_issues(mine[judged], theirs[judged], config)
    scores = np.zeros(len(pictures.first))
    scores[judged] = judged_scores
    distances = pictures.mean(within)[judged]
    far = judged[far_from_label(mine[judged], theirs[judged], None, config, None, distances)]
    ranked = add_far_issues(judged[ranked], far, scores)
    return pictures.rows(ranked), scores[pictures.of]


def rank_label_issues(
    labels: np.ndarray, probs: np.ndarray, config: AuditConfig
) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's flagged indices (most likely first) and every image's issue score (0-1)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    present = np.unique(labels)
    sub = probs[:, present] / probs[:, present].sum(1, keepdims=True)
    remap = np.searchsorted(present, labels)
    ranked = find_label_issues(
        remap, sub, filter_by=config.filter_by, return_indices_ranked_by=config.rank_by, n_jobs=1
    )
    quality = get_label_quality_scores(remap, sub, method=config.rank_by)
    return np.asarray(ranked, dtype=np.int64), 1 - quality


def far_from_label(
    labels: np.ndarray,
    probs: np.ndarray,
    features: np.ndarray | None,
    config: AuditConfig,
    group: np.ndarray | None = None,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of images far from their own class (robust z within the class of the distance to
    its nearest images of that class above ``FAR_Z``, or above ``CLAIM_Z`` where
    ``claimed_by_other``) to which the heads and neighbours give their label less than
    ``FAR_CHANCE`` times chance, at most ``FAR_MAX_P`` (:func:`far_limit`). cleanlab counts an
    image as a wrong label only where another class is confident; a picture of a class the
    folder does not have is confidently none of them, so on a small folder its estimate can be 0
    while such an image ranks first. The distance leaves out an image's own ``group``
    (``copy_groups``): its copies are not its class. ``within``: :func:`knn_distance`'s answer
    for these, where the caller has it."""
    given = probs[np.arange(len(labels)), labels]
    if within is None:
        if features is None:
            raise ValueError("far_from_label needs the features or their distances (within)")
        within = knn_distance(dedup.normalise(features), labels, config.neighbours, group)
    z = class_spread_z(within, labels)
    far = (z > FAR_Z) | ((z > CLAIM_Z) & claimed_by_other(labels, probs))
    return np.flatnonzero((given < far_limit(probs.shape[1])) & far)


def claimed_by_other(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Whether each image's most probable other class gets at least ``CLAIM_SHARE`` of that
    class's confident threshold (the mean probability its own images get).

    cleanlab misses such a wrong label two ways. Its ``low_self_confidence`` filter flags the
    images of lowest p(given), as many as it counts (those where another class reaches its whole
    threshold), so an image it counted loses its place to lower ones it did not count (pictures
    of no class of the folder, or of a class of it short of the threshold). And on a small folder,
    where the neighbours give a typical image its class at nearly 1, the thresholds are high: an
    elephant in dolphin/ given elephant at 0.75, under elephant's 0.86, is not counted at all."""
    rows = np.arange(len(labels))
    n_classes = probs.shape[1]
    sums = np.bincount(labels, weights=probs[rows, labels], minlength=n_classes)
    counts = np.bincount(labels, minlength=n_classes)
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    other = probs.copy()
    other[rows, labels] = -1.0
    best = other.argmax(1)
    return other[rows, best] >= CLAIM_SHARE * thresholds[best]


def add_far_issues(ranked: np.ndarray, far: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """cleanlab's flagged rows and those ``far_from_label`` adds, most likely first."""
    extra = far[~np.isin(far, ranked)]
    if extra.size:
        log.info(
            "%s far from %s labelled class also flagged as likely wrong, besides those cleanlab "
            "ranked",
            *(plural(int(extra.size), "image"), "its" if extra.size == 1 else "their"),
        )
    merged = np.concatenate([ranked, extra])
    return merged[np.argsort(-scores[merged], kind="stable")]


def label_issue_rows(
    inv, idx, labels, probs, ranked, scores, neighbours, pictures: Pictures | None = None
) -> list[LabelIssue]:
    """A :class:`LabelIssue` for each of the ``ranked`` rows, most likely first; with
    ``pictures``, each row's picture and its copies (``LabelIssue.picture``, ``copies``)."""
    pictures = pictures or Pictures.of_groups(np.arange(len(labels)))
    sizes, rows = pictures.sizes, []
    for r in ranked:
        item = inv.items[idx[r]]
        suggested = suggested_label(probs[r], labels[r])
        near = neighbours.idx[r]
        agree = int((labels[near] == suggested).sum())
        copies = int(sizes[pictures.of[r]])
        # one value each, said alike everywhere: the plan's reason formats the rounded ones
        given_p, suggested_p = (round(float(probs[r, c]), 4) for c in (labels[r], suggested))
        rows.append(
            LabelIssue(
                path=item.shown,
                given=inv.classes[labels[r]],
                suggested=inv.classes[suggested],
                score=round(float(scores[r]), 4),
                split=item.split,
                prob_given=given_p,
                prob_suggested=suggested_p,
                evidence=f"heads and neighbours give p(given)={given_p:.2f}, "
                f"p(suggested)={suggested_p:.2f}; {agree} of its {len(near)} nearest "
                f"images are labelled {inv.classes[suggested]}{copies_words(copies)}",
                index=int(idx[r]),
                like=[int(idx[j]) for j in near if labels[j] == suggested][:3],
                picture=int(idx[pictures.first[pictures.of[r]]]),
                copies=copies,
            )
        )
    return rows


NO_CLASS_Z = 1.0
"""A label flag whose picture lies farther than this from every class's images (the least robust
z of its distance to the nearest images of each class, among that class's own:
:func:`nearest_class_z`), and that no class claims (:func:`of_no_class`), is said to be of none
of the classes: a photo to remove, not a label to fix (``LabelIssue.no_class``). Photos of
nothing planted in a folder (a screenshot, a building) came out as relabels into whichever
class their scattered votes favoured. Chosen with ``NO_CLASS_P`` on development seeds 1-6 of
``benchmarks/audit_planted.py --nothing`` (random projects of /work/splits/s0's train and valid
photos, 5% planted in another class, 4-8 photos of Caltech-101's BACKGROUND_Google each): of
26 flagged photos of nothing, 20 said of none of the classes, of 96 flags of planted photos of
another class none (``docs/audit.md``)."""

NO_CLASS_P = 0.5
"""The probability under which no class claims a flagged photo, for :func:`of_no_class`: the
plan's ``RELABEL_MIN_PROB``, under which most suggestions were wrong when measured."""


def of_no_class(nearest_z: float, prob_given: float, prob_suggested: float) -> bool:
    """Whether a flagged photo is of none of the classes: it lies farther than
    :data:`NO_CLASS_Z` from every class's photos and neither its label nor the likeliest class
    other than it gets :data:`NO_CLASS_P`. A photo of another class lies among that class's photos
    and gets it at 0.5 or more, mostly; a photo of nothing gets a scattered vote. One its own
    label claims is an unusual photo of its class (two classes: one given 1.00, said to be like
    neither, session 61's review)."""
    return nearest_z > NO_CLASS_Z and max(prob_given, prob_suggested) < NO_CLASS_P


def nearest_class_z(around: Around, rows: np.ndarray, k: int, group) -> np.ndarray:
    """For each of ``rows``, how far it lies from the class it is nearest: the least, over the
    classes, of the robust z of its mean distance to a class's ``k`` nearest pictures (each
    picture's nearest copy, its own copies left out) among that class's own distances
    (``spread_z_within``'s measure, every class at once: one product of the rows with each
    class's features, so that 1,000 classes cost one pass over the images, not a loop a row a
    class). A photo of one of the classes, rightly labelled or not, lies among that class's
    photos (z near 0); a photo of none of them lies away from all."""
    labels, unit = around.labels, around.unit
    group = np.arange(len(labels)) if group is None else np.asarray(group)
    first = Pictures.of_groups(group, labels).first
    spreads = class_spreads(around.within[first], labels[first])
    best = np.full(len(rows), np.inf)
    for c, (median, scale) in spreads.items():
        members = np.flatnonzero(labels == c)
        members = members[np.argsort(group[members], kind="stable")]
        sims = unit[rows] @ unit[members].T
        sims[group[rows][:, None] == group[members][None, :]] = -np.inf  # its own copies
        starts = np.flatnonzero(np.diff(group[members], prepend=-1))
        nearest = np.maximum.reduceat(sims, starts, axis=1)  # each picture's nearest copy
        top = -np.sort(-nearest, axis=1)[:, :k]
        seen = np.isfinite(top)
        mean = np.where(seen, top, 0).sum(1) / np.maximum(seen.sum(1), 1)
        z = np.where(seen.any(1), (1 - mean - median) / scale, np.inf)
        best = np.minimum(best, z)
    return np.where(np.isfinite(best), best, 0.0)


MERGE_SHARE = 0.5
"""The least share of a class's photos the out-of-fold answers take for one other class for
the two to be a likely merge (:func:`likely_merges`): most of them."""

MERGE_Z = 1.0
"""The most the median robust z of a class's photos among the other class's photos
(``spread_z_within``) may be for the two to be a likely merge: they lie among its photos as its
own do."""


def likely_merges(
    answers: np.ndarray, pictures: Pictures, around: Around, classes: Sequence[str], k: int
) -> list[LikelyMerge]:
    """The pairs of classes that look like one class in two folders (a class split into
    ``car_side`` and ``cars``): the out-of-fold ``answers`` take :data:`MERGE_SHARE` or more of
    one class's photos for the other, the two are mistaken for each other both ways as
    evaluate names a pair of look-alikes (``metrics.often_mixed``), and the first class's photos
    lie among the other's as its own do (median z :data:`MERGE_Z` at most). One photo a picture.
    The audit named no such pair: it flagged 18 of ``cars``' 30 photos as likely wrong labels
    and advised photos to tell the two apart."""
    from objrec.metrics import often_mixed

    first, labels = pictures.first, around.labels
    group = np.arange(len(labels)) if around.group is None else np.asarray(around.group)
    mine, said = labels[first], answers[first]
    photos = np.bincount(mine, minlength=len(classes))
    taken = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(taken, (mine, said), 1)
    found = []
    for a, b in zip(
        *np.nonzero(taken >= np.maximum(MERGE_SHARE * photos[:, None], 2)), strict=True
    ):
        pair = {"a_as_b": int(taken[a, b]), "b_as_a": int(taken[b, a])}
        if a == b or not often_mixed(pair | {"n_a": int(photos[a]), "n_b": int(photos[b])}):
            continue
        rows = first[mine == a]
        z = spread_z_within(
            around.unit, labels, rows, np.full(len(rows), b), k, group, around.within
        )
        if np.median(z) <= MERGE_Z:
            counts = (pair["a_as_b"], int(photos[a]), pair["b_as_a"], int(photos[b]))
            found.append(LikelyMerge(classes[a], classes[b], *counts))
    return found


def suggested_label(probs: np.ndarray, given: int) -> int:
    """The most probable class other than the given one, of those tied the first in the classes'
    order (``metrics.answered``'s rule): NumPy's default sort gives tied values in no promised
    order (on an AVX-512 CPU, not the classes')."""
    order = np.argsort(-probs, kind="stable")
    return int(order[0] if order[0] != given else order[1])


def copies_words(copies: int) -> str:
    """What a label flag's evidence says of its picture's copies ("" for a photo of its own)."""
    if copies < 2:
        return ""
    others = plural(copies - 1, "other file")
    return f"; the same picture as {others} here, flagged with {'it' if copies == 2 else 'them'}"


def with_doubts(
    issues: Sequence[LabelIssue], given, suggested, z, counts, mixed, config: AuditConfig
) -> list[LabelIssue]:
    """The flagged ``issues``, each with what makes its flag doubtful: its class's distinct
    images (``counts`` of its ``given`` label), how far it lies from the ``suggested`` class
    (``z``), a class too small to judge, a pair of classes ``mixed`` both ways."""
    noted = []
    for issue, label, s, far_out in zip(issues, given.tolist(), suggested, z.tolist(), strict=True):
        issue = replace(
            issue, class_images=int(counts[label]), suggested_z=round(float(far_out), 2)
        )
        too_few = too_few_to_judge(issue, config)
        noted.append(replace(issue, too_few=too_few, mixed=(int(label), int(s)) in mixed))
    return noted


def too_few_to_judge(issue: LabelIssue, config: AuditConfig) -> bool:
    """Whether a label flag is too weak to count as a likely wrong label: its class has fewer than
    ``FEW_PHOTOS`` distinct photos and no class claims it (``config.few_photos_p``)."""
    few = issue.class_images is not None and issue.class_images < FEW_PHOTOS
    return few and issue.prob_suggested < config.few_photos_p


def mixed_both_ways(labels, answers, flagged) -> set[tuple[int, int]]:
    """The class pairs (both orders) the out-of-fold ``answers`` mistake for each other both
    ways: at least one photo of each, not ``flagged``, taken for the other (as
    ``metrics.mixed_pairs`` on a test split). A relabel between them is more often wrong than
    right (``audit.plan.mixed_doubt``)."""
    taken = {(int(a), int(b)) for a, b in zip(labels[~flagged], answers[~flagged], strict=True)}
    return {(a, b) for a, b in taken if a != b and (b, a) in taken}


def unsettled(inv: Inventory, issues: Sequence[LabelIssue], ranked: np.ndarray) -> np.ndarray:
    """The rows (``ranked``) of the flagged ``issues`` but those whose label a person settled in
    an earlier plan (``reviewed.csv``): a settled photo is of its class, so photos_needed.csv
    counts it among the class's photos, recognised or not, never as a label likely wrong."""
    settled = set(settled_paths(inv, issues))
    keep = [issue.path not in settled for issue in issues]
    return ranked[np.array(keep, dtype=bool)] if keep else ranked


def needs_rows(
    labels,
    probs,
    counts,
    ranked,
    rows: tuple[Inventory, np.ndarray],
    pictures: Pictures | None = None,
) -> tuple[list[PhotosNeeded], list[ClassRecall]]:
    """``photos_needed.csv``'s classes: those that most need more or better photos, by the
    out-of-fold answers (``probs``' best class) of their photos not flagged (``ranked``), one row
    a picture (``pictures``: a photo's copies count once, as the audit's other counts);
    ``rows``: the inventory and the index in it of each row of ``labels``, which
    the photos that look like another class are named and placed by (each picture's first
    file: ``PhotosNeeded.confused``); and the classes recognised least, which an audit that
    lists none names (``photos_needed.least_recognised``)."""
    inv, idx = rows
    pictures = pictures or Pictures.of_groups(np.arange(len(labels)))
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[ranked] = True
    first = pictures.first
    picked = pictures.mean(flagged) > 0  # a picture with a flagged copy is flagged
    answers = probs[first].argmax(1)
    evidence = class_evidence(labels[first], answers, counts, picked, inv.classes, pictures.sizes)
    needs = in_need(evidence)
    places = np.asarray(idx)[first]
    shown = [inv.items[i].shown for i in places]
    return [need.listed(shown, places) for need in needs], least_recognised(evidence)

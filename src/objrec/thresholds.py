"""The unknown answer's threshold: the one ``train`` chooses, the stricter one
``evaluate --unknown`` offers, whether trading up to it is worth it, and the words for what a
threshold rests on.

A threshold applies to an unknown score (``unknown_scores``): below it the answer is "unknown".
Pure functions; nothing here prints.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from objrec.chance import CHANCE, trade_by_chance
from objrec.enough import FEWEST_FOR_A_THRESHOLD
from objrec.errors import ObjrecError
from objrec.metrics import answered
from objrec.words import plural

KEEP_KNOWN = 0.95
"""The default threshold keeps at least this share of the validation images of known classes..."""
MAX_COST = 0.005
"""... and answers "unknown" for at most this share of them that the model classifies right."""


def resting_words(n: int, cure: bool = True) -> str:
    """``chosen on 512 validation images``, or under ``FEWEST_FOR_A_THRESHOLD``, that so few make
    the threshold shaky: a clear photo of a known class can come out "unknown" (familiarity
    -0.21) from a threshold chosen on 36 validation images, and the user is to know it might.
    ``cure``: in full, what it risks and what steadies it, said where the threshold is chosen
    (train) and in the report; without (evaluate and predict, and the exported script, worded as
    predict, run again and again on one run), a clause: ``chosen on only 36 validation images
    (under 100: shaky)``, as the model card says it. Its three or four lines at every command
    were noise after the first (newcomer63b)."""
    return " ".join(resting_clauses(n, cure))


def resting_clauses(n: int, cure: bool = True) -> list[str]:
    """:func:`resting_words` in the clauses it is made of, each under 80 characters, for
    evaluate's short lines (broken where the sentence pauses, not mid-phrase)."""
    images = plural(n, "validation image")  # 1,542, as every other count
    if n >= FEWEST_FOR_A_THRESHOLD:
        return [f"chosen on {images}"]
    if not cure:
        return [f"chosen on only {images} (under {FEWEST_FOR_A_THRESHOLD}: shaky)"]
    shaky = f"chosen on only {images}, under {FEWEST_FOR_A_THRESHOLD}, so it is shaky:"
    return [
        shaky,
        "clear photos of your classes may come out unknown,",
        "and more validation images (more photos per class) steady it",
    ]


def choose_threshold(
    scores: torch.Tensor,
    correct: torch.Tensor,
    keep: float = KEEP_KNOWN,
    max_cost: float = MAX_COST,
) -> float:
    """The highest threshold on known-class validation images that keeps at least ``keep`` of them
    and turns at most ``max_cost`` of them from right answers into "unknown".

    Under 1 / ``max_cost`` images (200) not one right answer may go, so the threshold sits just
    below the lowest right-answered image. That is not stricter than the rule means: a threshold
    at the lowest of ``n`` right answers still turns about 1 / (``n`` + 1) of new images' right
    answers into "unknown" (the share of a distribution below the least of ``n`` draws), 0.9% at
    ~110; a quantile interpolated between the two lowest (rejecting the lowest) loses more
    (resampling 216 known images of an 11-class Caltech run into 108 to choose on and 108 to
    measure on, 2,000 times: 0.96% lost now, 1.27% interpolated, and 58.8% against 52.3% of 135
    untaught photos accepted). A threshold that catches far more untaught images costs far more
    right answers: :func:`keeping_threshold` (5.17% lost, 22.9% accepted there)."""
    if len(scores) == 0:
        return float("-inf")
    order = scores.double().argsort()
    sorted_scores = scores.double()[order]
    # rejecting the i lowest-scoring images costs the right answers among them
    cost = torch.cat([torch.zeros(1), correct[order].double().cumsum(0)]) / len(scores)
    allowed = int((cost <= max_cost).nonzero().max())  # how many may be rejected at most
    allowed = min(allowed, int((1 - keep) * len(scores)))
    if allowed == 0:
        return below_every_image(sorted_scores)
    return float((sorted_scores[allowed - 1] + sorted_scores[allowed]) / 2)


def below_every_image(sorted_scores: torch.Tensor) -> float:
    """A threshold just below the lowest of ``sorted_scores``: by a hundredth of its distance to
    their median, so that the lowest image is answered as known again when its features are
    computed once more in another batch (the rounding of another batch's kernels moved it by 3e-4
    of that distance on a 2-core Xeon with AMX, which a margin of 1e-6 of the score let across)."""
    lowest = float(sorted_scores[0])
    margin = (float(sorted_scores.quantile(0.5)) - lowest) / 100
    return lowest - (margin if margin > 0 else 1e-6 * (1 + abs(lowest)))


def keeping_threshold(scores: torch.Tensor, keep: float = KEEP_KNOWN) -> float | None:
    """The threshold that keeps ``keep`` of ``scores`` (known-class validation images) and rejects
    the rest, whatever the right answers among them (:func:`choose_threshold` without its
    ``max_cost``), written with the fewest decimals (up to 9) that keep and reject the very same
    images, so that a person can type it. None when there are too few scores to reject one; a
    ``keep`` too small to keep one image keeps the highest, as a share just under one image's
    does (a threshold above every image would answer nothing)."""
    ordered = scores.double().sort().values
    # (1 - 0.9) * 10 is 0.9999999999999998 in floats: a share a person types rejects its whole
    # images, not one fewer (a hair above a whole number stays that number)
    rejected = min(math.floor((1 - keep) * len(ordered) + 1e-9), len(ordered) - 1)
    if rejected == 0:
        return None
    low, high = float(ordered[rejected - 1]), float(ordered[rejected])
    for decimals in range(1, 10):
        short = round((low + high) / 2, decimals)
        if low < short <= high:
            return short
    return (low + high) / 2


def open_set_metrics(known: torch.Tensor, unknown: torch.Tensor, tpr: float = 0.95) -> dict:
    """AUROC of known (positive) against unknown images, and the share of unknown images still
    accepted at the threshold that keeps ``tpr`` of the known ones (FPR at 95% TPR)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.ones(len(known)), np.zeros(len(unknown))]
    s = np.r_[known.double().numpy(), unknown.double().numpy()]
    fpr, tpr_curve, _ = roc_curve(y, s)
    return {
        "auroc": float(roc_auc_score(y, s)),
        "fpr_at_95_tpr": float(fpr[np.searchsorted(tpr_curve, tpr, side="left")]),
        "n_known": len(known),
        "n_unknown": len(unknown),
    }


def threshold_trade(
    known: torch.Tensor, unknown: torch.Tensor, current: float, offered: float
) -> dict[str, Any]:
    """What moving the unknown threshold from ``current`` to ``offered`` does, both sides: the
    ``known`` images (of taught classes) said to be unknown, wrongly, and the ``unknown`` ones
    (of classes never taught) said to be unknown, caught, at each (an image below a threshold is
    unknown, as ``Recognizer`` answers); ``p_value``: :func:`trade_by_chance`; ``recommended``:
    :func:`worth_trading`, and more than chance (``p_value`` under ``chance.CHANCE``)."""

    def below(scores: torch.Tensor, threshold: float) -> int:
        return int(below_threshold(scores, threshold).sum())

    lost_now, lost = below(known, current), below(known, offered)
    caught_now, caught = below(unknown, current), below(unknown, offered)
    counts = ((lost_now, lost), len(known), (caught_now, caught), len(unknown))
    p_value = trade_by_chance(*counts)
    return {
        "known_rejected_now": lost_now,
        "known_rejected": lost,
        "unknown_caught_now": caught_now,
        "unknown_caught": caught,
        "p_value": p_value,
        "recommended": worth_trading(*traded_shares(*counts)) and p_value < CHANCE,
    }


def traded_shares(
    lost: tuple[int, int], n_known: int, caught: tuple[int, int], n_unknown: int
) -> tuple[float, float]:
    """The share of the ``n_known`` known images a stricter threshold newly calls unknown, and of
    the ``n_unknown`` unknown ones it newly catches, from their counts (``lost``, ``caught``) at
    the run's threshold and at it (what :func:`worth_trading` weighs)."""
    return (lost[1] - lost[0]) / max(n_known, 1), (caught[1] - caught[0]) / max(n_unknown, 1)


def advice_rests_on(
    unknown: int, valid: int | None, known: int | None = None
) -> tuple[str, int | None]:
    """What the stricter threshold's advice rests on, in words (``10 unknown and 36 validation
    images``), and the fewest of those counts when under ``FEWEST_FOR_A_THRESHOLD``, the advice
    then shaky (else None). ``known``: the evaluated images an evaluation made before the advice
    was judged on the validation images weighed (its ``stricter`` has no ``valid_rejected``; in
    an older one still, ``valid`` is None).
    The fewest of all, not the unknown images alone: the trade weighs a share of the unknown
    images against a share of the validation ones, so 36 validation images (2.8 points each) can
    turn it as surely as 36 strangers. evaluate and the report both judge by it."""
    counts = [(unknown, "unknown")]
    counts += [] if known is None else [(known, "evaluated")]
    counts += [] if valid is None else [(valid, "validation")]
    said = ", ".join(f"{c} {what}" for c, what in counts[:-1])
    last = plural(counts[-1][0], f"{counts[-1][1]} image")
    words = f"{said} and {last}" if said else last
    fewest = min(c for c, _ in counts)
    return words, (fewest if fewest < FEWEST_FOR_A_THRESHOLD else None)


def worth_trading(more_lost: float, more_caught: float) -> bool:
    """objrec's rule for a stricter threshold: recommended only when the share of unknown images
    it newly catches is at least the share of known images it newly calls unknown (both of their
    own folder: 4 more of 100 strangers caught never pays for 24 more of 100 real photos lost;
    ``evaluate`` weighs the run's validation images as the known ones, never the evaluated).
    Without this rule a threshold that catches 1 stranger of 25 for a quarter of the real photos
    would be offered with no word that the trade is a poor one."""
    return more_caught > 0 and more_caught >= more_lost


def top_probability(probs: torch.Tensor) -> torch.Tensor:
    """The ``msp`` score: the top class probability (calibrated when ``probs`` are)."""
    return probs.max(1).values


def applied_score(score: str, familiarity: object | None) -> str:
    """The name of the score the threshold applies to, :func:`threshold_values`' rule by name:
    the run's feature ``score`` where the model computes its ``familiarity``, else ``msp`` (a
    run of ``msp``, or one trained before the feature scores). ``Recognizer.unknown_score`` and
    the export's sidecar say it so."""
    return score if familiarity is not None else "msp"


def require_threshold_for(threshold: float | None, score: str) -> float | None:
    """``threshold``, given for a run whose threshold applies to ``score`` (:func:`applied_score`),
    refused outside 0 to 1 where that is ``msp``: no top probability is above 1 or below 0, so
    such a threshold answers every photo unknown, or none, silently. The one check of
    ``Recognizer`` (predict, serve, evaluate) and of the export's sidecar, which the exported
    script's ``--threshold`` mirrors (review62a L1)."""
    if threshold is not None and score == "msp" and not 0 <= threshold <= 1:
        raise ObjrecError(
            f"`threshold` {threshold}: this model's unknown score is the top probability, so "
            "its threshold is between 0 and 1"
        )
    return threshold


def threshold_values(
    score: str, probs: torch.Tensor, familiarity: torch.Tensor | None
) -> torch.Tensor:
    """What the threshold applies to, the one rule (``train`` chooses the threshold on these
    values, and ``Recognizer.decide`` and the export's check judge by them): the top calibrated
    probability (``probs``) for ``msp`` or where no ``familiarity`` was computed, else the
    familiarity, the feature ``score``. The exported script has its copy of it (it cannot import
    objrec), held to this one by ``tests/test_export.py``."""
    if score == "msp" or familiarity is None:
        return top_probability(probs)
    return familiarity


def below_threshold(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Which ``scores`` are under ``threshold``: the images answered "unknown". The one rule of
    every place that judges by a threshold (predict, serve, evaluate and its trade figures, the
    export's check), and the exported script's, which compares Python floats."""
    # In float64: a float32 tensor against a Python float rounds the threshold to float32, so a
    # score of exactly float32(0.39) was answered by predict and called unknown by the script.
    return scores.double() < threshold


def share_kept(scores: torch.Tensor, threshold: float) -> float:
    """The share of ``scores`` at or above ``threshold``: answered, not unknown
    (:func:`below_threshold`)."""
    return float((~below_threshold(scores, threshold)).double().mean())


def accuracy_at_threshold(
    probs: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor, threshold: float
) -> dict[str, float]:
    """Known-class images: top-1 accuracy, the share kept (score at or above ``threshold``), and
    the share both kept and right (an image answered "unknown" counts as wrong); and where they
    went, counted (``evaluation_metrics.WENT_KEYS``): kept and right, kept and wrong (a wrong
    class given), not kept (answered "unknown")."""
    correct = answered(probs) == labels  # the top-1 rule of every figure of an evaluation
    kept = ~below_threshold(scores, threshold)
    return {
        "top1": correct.double().mean().item(),
        "kept": kept.double().mean().item(),
        "top1_at_threshold": (correct & kept).double().mean().item(),
        "right_at_threshold": int((correct & kept).sum()),
        "wrong_at_threshold": int((~correct & kept).sum()),
        "unknown_at_threshold": int((~kept).sum()),
    }

"""Pure functions from logits and targets to numbers and tables; nothing here prints or plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    import pandas as pd  # imported where a table is made: confidence's top-1 rule needs none


def ranked(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The indices of each row's ``k`` highest ``scores`` (at most its classes), highest first,
    an exact tie in the classes' order (a stable sort of the whole row): the order never depends
    on ``k``, so the first column is :func:`answered`'s for every ``k``, and ``predict`` asked
    for 8 classes names the class an evaluation counts. ``topk`` breaks a tie by how many
    classes it is asked for: of 12 equal probabilities, class 9 first for ``k`` up to 6, class 6
    for 7 or more, on a CPU. Only the rows with a tie among their ``k + 1`` highest are sorted
    whole (the rest have one order, which ``topk`` gives): sorting every row of 50,000 images
    of 1,000 classes took 3.5 s where ``argmax`` takes 0.05."""
    k = min(k, scores.shape[1])
    if k == 1:
        return scores.argmax(dim=1, keepdim=True)  # the first of the highest, the classes' order
    top = scores.topk(min(k + 1, scores.shape[1]), dim=1)
    tied = (top.values[:, 1:] == top.values[:, :-1]).any(dim=1)
    indices = top.indices[:, :k]
    if tied.any():
        whole = scores[tied].sort(dim=1, descending=True, stable=True).indices[:, :k]
        indices = indices.index_put((tied.nonzero()[:, 0],), whole)
    return indices


def answered(scores: torch.Tensor) -> torch.Tensor:
    """Each row's top-1 class, one rule for every figure and table (top-1, the per-class recall,
    precision and F1, the confusion matrix, ``predictions.csv``'s ``predicted``, training's
    accuracy, predict's answer): the first of :func:`ranked`'s order, on an exact tie the class
    first in the classes' order, as ``argmax`` takes it. Two rules mixed would count an image
    right in top-1 and wrong in recall and the confusion matrix."""
    return ranked(scores, 1)[:, 0]


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """A boolean per row: is the target among the ``k`` highest logits (:func:`ranked`)?"""
    return (ranked(logits, k) == targets[:, None]).any(dim=1)


def summarize(
    logits: torch.Tensor, targets: torch.Tensor, n_classes: int | None = None
) -> dict[str, float]:
    """Loss, top-1 and top-5 overall (micro) and averaged over the classes present (macro).

    Every rate is a count divided by a count in float64, as :func:`averaged_prf`'s and
    :func:`per_class_table`'s, so that one quantity under two names has one value: ``top1`` is
    ``weighted_recall`` and ``mean_class_top1`` is ``macro_recall``, to the last digit."""
    n_classes = n_classes or logits.shape[1]
    if len(targets) == 0:
        return {
            "n": 0,
            "loss": float("nan"),
            "top1": float("nan"),
            "top5": float("nan"),
            "mean_class_top1": float("nan"),
            "mean_class_top5": float("nan"),
            **averaged_prf(targets, targets, n_classes),
        }
    top1, top5 = (topk_correct(logits, targets, k).double() for k in (1, 5))
    counts = torch.bincount(targets, minlength=n_classes).double()
    present = counts > 0
    per1 = torch.bincount(targets, weights=top1, minlength=n_classes)[present] / counts[present]
    per5 = torch.bincount(targets, weights=top5, minlength=n_classes)[present] / counts[present]
    return {
        "n": len(targets),
        "loss": F.cross_entropy(logits, targets).item(),
        "top1": top1.sum().item() / len(targets),
        "top5": top5.sum().item() / len(targets),
        "mean_class_top1": per1.mean().item(),
        "mean_class_top5": per5.mean().item(),
        **averaged_prf(answered(logits), targets, n_classes),
    }


def precision_recall_f1(
    preds: torch.Tensor, targets: torch.Tensor, n_classes: int
) -> dict[str, torch.Tensor]:
    """Per class (n_classes,): precision, recall, F1 and support (true images) of top-1 answers.

    The precision of a class never answered is NaN, undefined: no answer was right or wrong
    (scikit-learn's ``zero_division=np.nan``; 0 read as "every answer wrong"). Its F1 is 0, as
    scikit-learn's ``2 tp / (2 tp + fp + fn)`` gives, since its recall is. A class without images
    (in no table) has recall 0.
    """
    matrix = confusion_matrix(preds, targets, n_classes).double()
    tp = matrix.diagonal()
    support, predicted = matrix.sum(1), matrix.sum(0)
    precision = tp / predicted.clamp(min=1)
    recall = tp / support.clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    precision[predicted == 0] = float("nan")
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def averaged_prf(preds: torch.Tensor, targets: torch.Tensor, n_classes: int) -> dict[str, float]:
    """Macro (unweighted mean) and weighted (by support) precision, recall and F1 over the classes
    that have images, as scikit-learn's ``average="macro"``/``"weighted"`` with those labels and
    ``zero_division=np.nan``: the precision over those answered at least once, a class never
    answered having none (NaN when no class has one)."""
    prf = precision_recall_f1(preds, targets, n_classes)
    support = prf["support"]
    present = support > 0
    result = {}
    for name in ("precision", "recall", "f1"):
        values, counts = prf[name][present], support[present]
        defined = ~values.isnan()  # a class never answered has no precision
        values, counts = values[defined], counts[defined]
        weights = counts / counts.sum().clamp(min=1)
        empty = not len(values)
        result[f"macro_{name}"] = float("nan") if empty else values.mean().item()
        result[f"weighted_{name}"] = float("nan") if empty else (values * weights).sum().item()
    if bool(present.any()):  # the share of images right, as summarize's top1: to the last digit
        result["weighted_recall"] = (preds == targets).sum().item() / support.sum().item()
    return result


def per_class_table(
    logits: torch.Tensor,
    targets: torch.Tensor,
    classes: Sequence[str],
    n_train: dict[str, int] | None = None,
) -> pd.DataFrame:
    """One row per class with images: n_train, n_test (its support), top1 (its recall), top5,
    precision, F1, mean loss, and its commonest confusion (every class tied for it, by name).

    Each column is counted for every class at once (``bincount``): a loop over the classes
    indexing every image took 29.5 s at 1,000 classes of 50,000 images, after evaluate's bar
    had ended (``benchmarks/per_class_speed.py``)."""
    n = len(classes)
    losses = F.cross_entropy(logits, targets, reduction="none")
    top1, top5 = topk_correct(logits, targets, 1), topk_correct(logits, targets, 5)
    preds = answered(logits)
    prf = precision_recall_f1(preds, targets, n)
    counts = torch.bincount(targets, minlength=n)
    present = torch.nonzero(counts).flatten()

    def mean(values: torch.Tensor) -> list[float]:
        """Each present class's mean of ``values`` over its images, summed in float64."""
        summed = torch.bincount(targets, weights=values.double(), minlength=n)[present]
        return (summed / counts[present].double()).tolist()

    import pandas as pd

    names = [classes[i] for i in present.tolist()]
    return pd.DataFrame(
        {
            "class": names,
            "n_train": [(n_train or {}).get(name, 0) for name in names],
            "n_test": counts[present].tolist(),
            "top1": mean(top1),  # counts divided in float64, as recall
            "top5": mean(top5),
            "precision": prf["precision"][present].tolist(),
            "recall": prf["recall"][present].tolist(),
            "f1": prf["f1"][present].tolist(),
            "loss": mean(losses),
            "most_confused_with": commonest_confusions(preds, targets, top1, classes, present),
        }
    )


def commonest_confusions(
    preds: torch.Tensor,
    targets: torch.Tensor,
    right: torch.Tensor,
    classes: Sequence[str],
    rows: torch.Tensor,
) -> list[str]:
    """For each class of ``rows``, the class its images not ``right`` were most often answered
    (``preds``), the tied ones by name joined by ", " ("" for none wrong): one error each in
    crayfish and crocodile_head named only crayfish."""
    wrong = ~right
    matrix = confusion_matrix(preds[wrong], targets[wrong], len(classes))[rows]
    best = matrix.max(1, keepdim=True).values
    tied: list[list[str]] = [[] for _ in range(len(rows))]
    for row, column in torch.nonzero((matrix == best) & (best > 0)).tolist():
        tied[row].append(classes[column])
    return [", ".join(sorted(names)) for names in tied]


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Counts (n_classes, n_classes): row = true class, column = predicted class."""
    index = targets * n_classes + preds
    return torch.bincount(index, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def photo_confusion(
    preds: torch.Tensor, targets: torch.Tensor, groups: Sequence[int], n_classes: int
) -> tuple[torch.Tensor, list[int]]:
    """:func:`confusion_matrix` of distinct photos: each photo (a class's images of one
    near-duplicate group, as evaluate's "rests on N distinct photos" counts them) counted once in
    each class its images were taken for; and each class's distinct photos. Eight copies of one
    crocodile taken for its head are one photo taken for it, not eight."""
    rows = torch.stack([targets, torch.as_tensor(list(groups), dtype=torch.long), preds], 1)
    once = torch.unique(rows, dim=0) if len(rows) else rows
    matrix = confusion_matrix(once[:, 2], once[:, 0], n_classes)
    photos = torch.unique(once[:, :2], dim=0)[:, 0] if len(once) else once[:, 0]
    return matrix, torch.bincount(photos, minlength=n_classes).tolist()


def most_confused(matrix: torch.Tensor, classes: Sequence[str], top: int = 10) -> pd.DataFrame:
    """The off-diagonal cells with the highest counts: (true, predicted, count)."""
    off = matrix.clone()
    off.fill_diagonal_(0)
    flat = off.flatten()
    k = min(top, int((flat > 0).sum()))
    values, index = flat.topk(k) if k else (flat[:0], flat[:0])
    n = matrix.shape[0]
    import pandas as pd

    return pd.DataFrame(
        {
            "true": [classes[int(i) // n] for i in index],
            "predicted": [classes[int(i) % n] for i in index],
            "count": [int(v) for v in values],
        }
    )


def mixed_pairs(
    matrix: torch.Tensor, classes: Sequence[str], sizes: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """The pairs of classes mistaken for each other both ways, most mistaken first: each class's
    images (``sizes``; None: the matrix's row sums), and how many of each were taken for the
    other (``a_as_b``, ``b_as_a``); evaluate counts distinct photos (:func:`photo_confusion`). A
    pair confused both ways is one the model cannot yet tell apart (a crocodile and a
    crocodile's head), which a one-way confusion of a class may not be. Found in one pass over
    the matrix: a loop over the pairs (499,500 of 1,000 classes) took seconds, three times an
    evaluate."""
    both = torch.triu((matrix > 0) & (matrix.T > 0), diagonal=1)
    sizes = matrix.sum(1).tolist() if sizes is None else list(sizes)
    pairs = []
    for a, b in torch.nonzero(both).tolist():  # row by row: the loop's order (a < b)
        pair = (classes[a], classes[b], int(matrix[a, b]), int(matrix[b, a]), sizes[a], sizes[b])
        pairs.append(dict(zip(("a", "b", "a_as_b", "b_as_a", "n_a", "n_b"), pair, strict=True)))
    return sorted(pairs, key=lambda p: -(p["a_as_b"] + p["b_as_a"]) / (p["n_a"] + p["n_b"]))


MIXED_FEWEST = 2
"""The fewest images (distinct photos, in an evaluation since 6 December 2026: two frames of one
burst are one) of each class of a pair that an evaluation took for the other, for
evaluate to list the pair as look-alikes and predict to name it beside an answer
(:func:`often_mixed`): on s0's validation split (100 classes, 71 wrong answers), each wrong
answer sent to a random other class paired two classes one each way in 21% of 2,000 draws, two
each way (and :data:`MIXED_SHARE`) in none, and both kept the split's two real pairs (lotus and
water_lilly 4 of 12 and 3 of 7; crocodile and crocodile_head 2 and 3 of 10). With a handful of
classes, one mistake each way is what chance gives (a 6-image fixture would pair airplanes
with sunflower). ``benchmarks/look_alikes.py`` measures both floors."""

MIXED_SHARE = 0.05
"""The least share of each class's evaluated images taken for the other, for evaluate and predict
to name the pair: 2 of 150 airplanes are not often."""


def often_mixed(pair: dict[str, Any]) -> bool:
    """Whether a row of :func:`mixed_pairs` is evidence enough to name, one rule for evaluate's
    look-alikes and predict's hint: each class's images taken for the other at least
    :data:`MIXED_FEWEST` times and :data:`MIXED_SHARE` of them (crocodile and crocodile_head
    named on 1 and 1 of 10 would rest on what chance gives)."""
    counts = [pair.get(key) for key in ("a_as_b", "b_as_a", "n_a", "n_b")]
    if not all(isinstance(count, int) for count in counts):
        return False
    a_as_b, b_as_a, n_a, n_b = (int(count or 0) for count in counts)
    fewest = min(a_as_b, b_as_a) >= MIXED_FEWEST
    return fewest and a_as_b >= MIXED_SHARE * n_a and b_as_a >= MIXED_SHARE * n_b


def wilson_interval(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Where a ``share`` right of ``n`` images would likely lie on many more images like them: the
    Wilson score interval (95% for ``z`` 1.96), which stays honest at 0% and 100%, where the
    normal approximation's is 0 wide. ``(0, 1)`` for no image."""
    if n <= 0:
        return 0.0, 1.0
    scale = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / scale
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / scale
    return max(0.0, centre - half), min(1.0, centre + half)

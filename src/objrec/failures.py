"""The failures behind an evaluation's numbers, chosen once for evaluate's figures
(``top_losses.png``, ``worst_classes.png``) and the report's tiles alike: the wrong answers of
highest loss, the worst classes' hardest images, one image of each near-duplicate group, and
what it stands for. Pure pandas, so that ``report`` reads them without the evaluation's
recipe."""

from __future__ import annotations

from typing import Any

import pandas as pd

from objrec.words import joined, plural


def top_losses(predictions: pd.DataFrame, n: int = 12) -> pd.DataFrame:
    """The ``n`` wrong predictions of highest loss, highest first, one per near-duplicate group
    (:func:`one_per_group`): a right answer is no failure, whatever its loss (``evaluate``'s
    ``top_losses.png`` and the report's Top losses alike)."""
    wrong = predictions[predictions["true"] != predictions["predicted"]]
    return one_per_group(wrong.nlargest(len(wrong), "loss"), predictions).head(n)


WORST_CLASSES = 5
"""How many of the worst classes (those with a wrong answer) show their hardest images, in
``worst_classes.png`` and on the report's page alike: they drew 4 and 5 (review62b L1)."""


def worst_class_rows(
    predictions: pd.DataFrame, per_class: pd.DataFrame, classes: int = WORST_CLASSES, n: int = 4
) -> list[tuple[str, pd.DataFrame]]:
    """The ``n`` hardest images (right ones too) of each of the first ``classes`` classes of
    ``per_class`` (worst first) that have a wrong prediction, one per near-duplicate group
    (:func:`one_per_group`); none when every image is right."""
    wrong = predictions["true"] != predictions["predicted"]
    with_errors = set(predictions.loc[wrong, "true"])
    worst = [c for c in per_class["class"] if c in with_errors][:classes]
    rows = ((c, predictions[predictions["true"] == c]) for c in worst)
    return [(c, one_per_group(r.nlargest(len(r), "loss"), predictions).head(n)) for c, r in rows]


def one_per_group(rows: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """``rows`` of ``predictions`` (the most telling first) with only the first of each
    near-duplicate ``group``, and how many of ``predictions`` are its near-duplicates
    (``near_duplicates``) and how many of those were predicted wrong (``near_duplicates_wrong``):
    the top losses showed five frames of one burst as five failures; and the other classes its
    near-duplicates are labelled with (``also_labelled``, joined by "|"; "" for none): one picture
    under two classes. Without a ``group`` column (a ``predictions.csv`` written before it) every
    image is its own."""
    if "group" not in predictions:
        return rows.assign(near_duplicates=0, near_duplicates_wrong=0, also_labelled="")
    wrong = (predictions["true"] != predictions["predicted"]).astype(int)
    size = predictions.groupby("group").size()
    wrongs = wrong.groupby(predictions["group"]).sum()
    labels = predictions.groupby("group")["true"].agg(set)
    kept = rows.drop_duplicates("group")
    own = (kept["true"] != kept["predicted"]).astype(int)
    also = [
        "|".join(sorted(labels[group] - {true}, key=str.casefold))
        for group, true in zip(kept["group"], kept["true"], strict=True)
    ]
    return kept.assign(
        near_duplicates=kept["group"].map(size) - 1,
        near_duplicates_wrong=kept["group"].map(wrongs) - own,
        also_labelled=also,
    )


WRONG_BY_CONSTRUCTION = "one answer is wrong whatever the model does"
"""What a picture filed under two classes costs an evaluation, as its caption says."""


def near_duplicate_words(row: Any) -> str:
    """``+4 near-duplicates (3 wrong)`` for a gallery row of :func:`one_per_group` standing for
    its group, and ``, also labelled lotus: one answer is wrong whatever the model does`` where
    its near-duplicates are filed under another class too; "" for an image with none."""
    others = int(getattr(row, "near_duplicates", 0))
    if not others:
        return ""
    said = f"+{plural(others, 'near-duplicate')} ({int(row.near_duplicates_wrong)} wrong)"
    if also := str(getattr(row, "also_labelled", "") or ""):
        said += f", also labelled {joined(also.split('|'))}: {WRONG_BY_CONSTRUCTION}"
    return said

"""``evaluate --unknown``: how well the run's unknown answer tells the evaluated images from
photos of none of its classes, and the stricter threshold the run's validation images offer.

The ``--unknown`` folder is refused before anything is read when it holds photos of the model's
classes (:func:`refuse_unknown_of_classes`, :func:`refuse_known_unknown`); its images are
answered as the evaluated ones are (:func:`open_set_result`). A stricter threshold is chosen and
judged on the run's validation images, never on the evaluated ones, which it is only measured on
(:func:`stricter_result`); where none is offered, :func:`no_stricter` says why. The images said
to be unknown are counted by class (:func:`unknown_by_class`), at the run's threshold too (with or
without ``--unknown``), and a class left mostly unanswered is named
(:func:`mostly_unknown_words`)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from objrec.answering import answers_read_in_every_view, table_answers, view_tables
from objrec.cache import open_cache
from objrec.config import EvaluateConfig
from objrec.data import ClassFolder, Sample, class_of_folder, scan_class_folder
from objrec.distinct import distinct_per_class, readable_groups
from objrec.enough import FEWEST_TO_TRUST
from objrec.errors import ObjrecError
from objrec.evaluation_metrics import (
    WENT_KEYS,
    NoStricter,
    OpenSet,
    OpenSetFigures,
    StricterThreshold,
)
from objrec.features import report_unreadable, require_readable
from objrec.inference import Answers, Recognizer
from objrec.labels import unknown_images
from objrec.leakage import known_hashes
from objrec.metrics import answered
from objrec.progress import Reporter
from objrec.thresholds import (
    KEEP_KNOWN,
    accuracy_at_threshold,
    below_threshold,
    keeping_threshold,
    open_set_metrics,
    share_kept,
    threshold_trade,
)
from objrec.untaught import untaught_images
from objrec.words import grouped, joined, plural, some_of


def open_set_measured(
    recognizer: Recognizer,
    known: tuple[Answers, torch.Tensor],
    config: EvaluateConfig,
    reporter: Reporter,
    photos: dict[str, int] | None,
) -> tuple[OpenSet, Strangers]:
    """``evaluate --unknown``'s figures (:func:`open_set_result`) of the ``known`` images
    (answers, labels; ``photos``, each class's distinct photos) against the ``unknown`` folder's,
    with the stricter threshold the run's validation images offer, or why none is; and the run's
    answer to each of the folder's photos (:class:`Strangers`: ``unknown_predictions.csv``)."""
    folder = Path(str(config.unknown))
    strangers = stranger_answers(recognizer, folder, config, reporter)
    unknown = strangers.answers
    figures = open_set_result(recognizer, known[0], unknown)
    valid = valid_images(recognizer, config, reporter)
    found = valid if isinstance(valid, ValidImages) else None
    stricter = stricter_result(recognizer, known, unknown, found, photos)
    why_not = None
    if stricter is None:
        scores, why = (found.scores, "") if found is not None else (None, str(valid))
        why_not = no_stricter(recognizer, scores, why)
    open_set = OpenSet(figures, stricter, why_not, str(folder.resolve()))  # report measures again
    return open_set, strangers


def refuse_unknown_of_classes(config: EvaluateConfig, classes: Sequence[str]) -> None:
    """Refused before any image is read: an ``unknown`` folder with sub-folders named as the
    model's ``classes`` (its data folder's ``test/`` given by mistake), whose photos would count
    as strangers the model missed, "0 of 40 caught", without a word."""
    folder = Path(config.unknown) if config.unknown is not None else None
    if folder is None or not folder.is_dir():
        return
    taught = {class_of_folder(name) for name in classes}
    with os.scandir(folder) as entries:
        named = [e.name for e in entries if e.is_dir() and class_of_folder(e.name) in taught]
    if named:
        raise ObjrecError(
            f"`unknown` {folder} has {plural(len(named), 'folder')} named as the model's classes "
            f"({some_of(sorted(named))}): it is for photos of none of its classes; give a folder "
            "of those only"
        )


OWN_IMAGES = {
    "train": "run's own training images",
    "valid": "run's own validation images",
    "evaluated": "images evaluated",
}
"""What :func:`refuse_known_unknown` calls each kind of the run's own images."""


def refuse_known_unknown(
    run: Path, recognizer: Recognizer, evaluated: Sequence[str], config: EvaluateConfig
) -> None:
    """Refused before the ``unknown`` folder's pass: one holding the run's own training or
    validation images (its record, ``leakage.known_hashes``) or the ``evaluated`` images (their
    content digests), photos of its classes that its figures would count as strangers the model
    missed. Its files are hashed through the feature store's file index, as
    their pass would hash them: read once."""
    if config.unknown is None:
        return
    files = unknown_images(Path(config.unknown))
    store = open_cache(config.cache_dir or recognizer.meta.cache_dir).store
    digests = store.readable_digests(files)[0]  # the store held: the evaluation reads on
    own = dict.fromkeys(filter(None, evaluated), "evaluated")
    folder = run if run.is_dir() else run.parent
    own |= known_hashes(folder, recognizer.meta.data_dir, store)
    found = [(path, own[d]) for path, d in zip(files, digests, strict=True) if d in own]
    if found:
        counts = Counter(kind for _, kind in found)
        kinds = [f"{n} of the {OWN_IMAGES[k]}" for k, n in counts.most_common()]
        raise ObjrecError(
            f"`unknown` {config.unknown} holds {plural(len(found), 'photo')} of the model's "
            f"classes, {joined(kinds)} (such as {found[0][0]}): it is for photos of none of its "
            "classes, which its figures count as strangers; give a folder of those only"
        )


@dataclass(frozen=True)
class Strangers:
    """The ``--unknown`` folder's images read in every view (``paths``) and the run's ``answers``
    to them, computed once for the figures and ``unknown_predictions.csv``'s rows: the figures
    named no photo ("the 8 missed went to: sunflower 3, ..."), and finding them took a
    ``predict`` of the folder."""

    paths: list[Path]
    answers: Answers


def stranger_answers(
    recognizer: Recognizer, folder: Path, config: EvaluateConfig, reporter: Reporter
) -> Strangers:
    """The run's answers to every image under ``folder`` (classes the model was not taught)."""
    files = unknown_images(folder)
    images = ClassFolder(folder, ("unknown",), tuple(Sample(f, 0) for f in files))
    tables = view_tables(recognizer, images, "unknown", config, reporter)
    report_unreadable(tables)
    require_readable(tables[0], folder)
    ok = torch.stack([t.ok for t in tables]).all(0).tolist()
    paths = [f for f, read in zip(files, ok, strict=True) if read]
    return Strangers(paths, answers_read_in_every_view(recognizer, tables))


def open_set_result(recognizer: Recognizer, known: Answers, unknown: Answers) -> OpenSetFigures:
    """How well the unknown score tells the evaluated images (``known``, the positives) from the
    unknown folder's: AUROC and FPR at 95% TPR (``open_set_metrics``). With a threshold, also
    the share of unknown images it still accepts (``unknown_accepted``) and the classes those
    were answered as (``metrics.answered``, as ``unknown_predictions.csv``'s ``predicted``), with
    their counts, most first (``unknown_answered_as``): the share alone does not show that one
    class (a catch-all such as "empty") takes most of them."""
    figures = OpenSetFigures(**open_set_metrics(known.scores, unknown.scores))
    if recognizer.threshold is None:
        return figures
    missed = ~unknown.unknown.bool()
    top = answered(unknown.probs[missed]).tolist() if bool(missed.any()) else []
    counts = Counter(recognizer.classes[i] for i in top)
    accepted = float(missed.double().mean())
    return replace(
        figures, unknown_accepted=accepted, unknown_answered_as=dict(counts.most_common())
    )


@dataclass(frozen=True)
class ValidImages:
    """The run's own validation images, on which a stricter threshold is chosen and judged: each
    one's unknown ``scores`` (centre view, as the run's threshold was chosen on them), its class
    (``labels``), and each class's distinct ``photos`` (None: every image one)."""

    scores: torch.Tensor
    labels: torch.Tensor
    photos: dict[str, int] | None = None


def valid_images(
    recognizer: Recognizer, config: EvaluateConfig, reporter: Reporter
) -> ValidImages | str:
    """The run's own validation images (:class:`ValidImages`), read from the feature store, those
    of class folders it was not taught left out (``add`` of a new class puts some there), as the
    evaluated folder's are; else why there are none, in words that follow "and" ("" for a run
    that answers no "unknown"): "could not be read (moved, or its classes changed)" only of a
    folder that is gone or cannot be read, never of one there and readable. Their distinct
    photos are counted (near-duplicates grouped) only when they offer a stricter threshold
    (:func:`stricter_result`), which alone reads them."""
    folder = Path(recognizer.meta.data_dir or "") / "valid"
    if recognizer.threshold is None:
        return ""
    if not recognizer.meta.data_dir:
        return "the run does not name its split folder"
    if not folder.is_dir():
        return f"{folder} is not there (moved, or removed)"
    try:
        untaught = untaught_images(folder, recognizer.classes)
        images = scan_class_folder(folder, recognizer.classes, leave_out=untaught)
    except ObjrecError as exc:
        return f"{folder} could not be read: {exc}"
    tables = view_tables(recognizer, images, "valid", replace(config, tta=False), reporter)
    ok = tables[0].ok
    if not bool(ok.any()):
        return f"none of the images of {folder} could be read"
    labels, scores = tables[0].labels[ok], table_answers(recognizer, tables, ok)[0].scores
    stricter = keeping_threshold(scores)
    if stricter is None or stricter <= recognizer.threshold:  # no stricter one to judge
        return ValidImages(scores, labels)
    _, _, groups = readable_groups(recognizer, images.samples, tables[0], ok, config)
    return ValidImages(scores, labels, distinct_per_class(labels, groups, recognizer.classes))


def stricter_result(
    recognizer: Recognizer,
    known: tuple[Answers, torch.Tensor],
    unknown: Answers,
    valid: ValidImages | None,
    photos: dict[str, int] | None = None,
) -> StricterThreshold | None:
    """The threshold that keeps ``KEEP_KNOWN`` of the run's ``valid`` images (chosen on them, as
    the run's own threshold was; ``keeping_threshold``) and whether objrec recommends it, judged
    on them too and on the ``unknown`` folder's (``thresholds.threshold_trade``; the strangers
    have no other images): never when it ``silences`` a class (:func:`silenced_classes`). Its
    figures on the evaluated ``known`` images (answers, labels; ``photos``: distinct photos per
    class) are measured, never weighed: weighing the test images it newly calls unknown, a test
    split would choose the threshold a later evaluation of it measures. None when not stricter."""
    if valid is None or recognizer.threshold is None:
        return None
    threshold = keeping_threshold(valid.scores)
    if threshold is None or threshold <= recognizer.threshold:
        return None
    answers, labels = known
    kept = accuracy_at_threshold(answers.probs, labels, answers.scores, threshold)
    unknowns = below_threshold(answers.scores, threshold)
    by_class = unknown_by_class(unknowns, labels, recognizer.classes, photos)
    measured = threshold_trade(answers.scores, unknown.scores, recognizer.threshold, threshold)
    trade = threshold_trade(valid.scores, unknown.scores, recognizer.threshold, threshold)
    valid_by_class, silences = silenced_classes(
        recognizer.classes, valid, (recognizer.threshold, threshold)
    )
    return StricterThreshold(
        threshold=threshold,
        keep_valid=KEEP_KNOWN,
        valid_kept=share_kept(valid.scores, threshold),
        valid_images=len(valid.scores),
        valid_rejected_now=trade["known_rejected_now"],
        valid_rejected=trade["known_rejected"],
        valid_unknown_by_class=valid_by_class,
        known_kept=kept["kept"],
        top1_at_threshold=kept["top1_at_threshold"],
        unknown_accepted=share_kept(unknown.scores, threshold),
        unknown_by_class=by_class,
        known_rejected_now=measured["known_rejected_now"],
        known_rejected=measured["known_rejected"],
        unknown_caught_now=trade["unknown_caught_now"],
        unknown_caught=trade["unknown_caught"],
        silences=silences,
        recommended=trade["recommended"] and not silences,
        p_value=trade["p_value"],
        **{key: int(kept[key]) for key in WENT_KEYS},
    )


def silenced_classes(
    classes: Sequence[str], valid: ValidImages, thresholds: tuple[float, float]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``valid`` images the stricter of ``thresholds`` (the run's, the stricter) says unknown,
    by class (:func:`unknown_by_class`), and the classes it would leave mostly unanswered where
    the run's threshold did not: half or more
    of their validation images unknown (:func:`mostly_unknown`), of :data:`FEWEST_TO_TRUST`
    distinct photos or more (:func:`judged`: of 2, 1 is half), or all of them (:func:`weighed`).
    A newcomer's recommended one
    caught 36 points more strangers for 4.13 points of the test images, which were all 4 test
    ants and all 4 crabs: the model would have answered neither class."""
    (current, threshold), scores = thresholds, valid.scores.double()
    rows = unknown_by_class(below_threshold(scores, threshold), valid.labels, classes, valid.photos)
    at_current = unknown_by_class(below_threshold(scores, current), valid.labels, classes)
    now = set(mostly_unknown(at_current))
    return rows, [name for name in mostly_unknown(weighed(rows)) if name not in now]


def weighed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of :func:`unknown_by_class` that count against a stricter threshold: those
    :func:`judged`, and those of fewer photos of which every image is said unknown (two at least,
    :func:`mostly_unknown`): of 2, 1 is half by chance, both is the class never answered. A
    newcomer's Wild Cat, 2 of 2 unknown, was said too few to judge by, then "no class left mostly
    unanswered: recommended", the rarest class answered "unknown" every time."""
    return [r for r in rows if r in judged(rows) or r["unknown"] == r["images"]]


def no_stricter(recognizer: Recognizer, valid: torch.Tensor | None, why: str = "") -> NoStricter:
    """Why :func:`stricter_result` offered none, for ``--json`` and the line ``evaluate`` prints
    in its place (a newcomer read silence as a missing promise): ``valid``, the run's validation
    images' scores (None: they could not be read, ``why``: :func:`valid_images`' words)."""
    if recognizer.threshold is None:
        return NoStricter(reason="no_threshold")
    if valid is None:
        data_dir = recognizer.meta.data_dir
        folder = str(Path(data_dir) / "valid") if data_dir else None
        return NoStricter(reason="no_validation_images", valid_folder=folder, why=why)
    reason = "few_validation_images" if keeping_threshold(valid) is None else "not_stricter"
    return NoStricter(
        reason=reason,
        valid_images=len(valid),
        valid_kept=share_kept(valid, recognizer.threshold),
        keep_valid=KEEP_KNOWN,
    )


def unknown_by_class(
    unknown: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    photos: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Each class with an evaluated image said to be unknown (``unknown``: one bool per image,
    ``labels`` its class): ``class``, its ``images``, its distinct ``photos`` (``photos``, the
    per-class table's ``n_groups``: a burst's frames count once; without it, every image is one)
    and how many were said ``unknown``, the largest share first. The share of all images hid
    where it falls: on the classes of fewest photos (a newcomer's 4 test ants: 2 said unknown at
    the run's threshold, 4 at the stricter one evaluate recommended, while 0 of the 237 of the
    three largest classes were)."""
    rows = []
    for index, name in enumerate(classes):
        mine = labels == index
        said = int((unknown.bool() & mine).sum())
        if said:
            images = int(mine.sum())
            distinct = images if photos is None else photos.get(name, images)
            rows.append({"class": name, "images": images, "photos": distinct, "unknown": said})
    return sorted(rows, key=lambda r: (-r["unknown"] / r["images"], -r["unknown"], r["class"]))


def mostly_unknown(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The classes of :func:`unknown_by_class`'s ``rows`` of which half or more of the images
    (two at least) were said to be unknown: in use, those would often get no answer."""
    return [r["class"] for r in rows if r["images"] > 1 and 2 * r["unknown"] >= r["images"]]


def judged(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of :func:`unknown_by_class` of classes of :data:`FEWEST_TO_TRUST` distinct photos
    or more (``photos``; ``images`` in a row of an older ``metrics.json``): those of fewer are too
    few to judge by, as their per-class results are too few to trust (``enough.too_few_to_trust``:
    5 frames of one burst are one photo, in both)."""
    return [r for r in rows if r.get("photos", r["images"]) >= FEWEST_TO_TRUST]


def mostly_unknown_words(rows: Sequence[dict[str, Any]], stricter: bool = False) -> str:
    """The classes of :func:`mostly_unknown`, each with its count (``bonsai 1 of 2``), in words
    (``stricter``: at the stricter threshold), those of fewer than :data:`FEWEST_TO_TRUST` photos
    said too few to judge by, as their per-class results are said too few to trust: a catalogue
    of 2 test photos a class was told "half or more of the images of bonsai, cup, wheelchair are
    said to be unknown: in use, those classes would often get no answer" of 1 photo of 2 each
    (persona39c). At the stricter threshold, that those do not count against it
    (:func:`stricter_result`). "" when no class is."""
    most, enough = set(mostly_unknown(rows)), {r["class"] for r in judged(rows)}
    few = {r["class"]: r for r in rows if r["class"] in most and r["class"] not in enough}
    said = {r["class"]: r for r in rows if r["class"] in most and r["class"] in enough}
    lead, verb = ("with it, ", "would be") if stricter else ("", "are")
    words = []
    if said:
        those = "that class" if len(said) == 1 else "those classes"
        words.append(
            f"{lead}half or more of the images of {unknown_counts(said)} {verb} said to be "
            f"unknown: in use, {those} would often get no answer"
        )
    if few:
        counts = unknown_counts(few)
        named = f"{counts} too" if said else f"{lead}half or more of the images of {counts}"
        named += "" if said else f" {verb} said to be unknown"
        words.append(
            f"{named}, but fewer than {plural(FEWEST_TO_TRUST, 'distinct photo')} a class are too "
            "few to judge by (as their per-class results)"
            + (
                ", and count against it only where it says all of their validation images unknown"
                if stricter
                else ""
            )
        )
    return "; ".join(words)


def unknown_counts(rows: dict[str, dict[str, Any]]) -> str:
    """Classes with how many of their images were said unknown, one count said once for the
    classes that share it: ``bonsai, cup (1 of 2 each); ant (2 of 4)``."""
    return grouped({name: unknown_count(r) for name, r in rows.items()})


def unknown_count(row: dict[str, Any]) -> str:
    """A row of :func:`unknown_by_class` as :func:`unknown_counts` says it: ``2 of 4``, with its
    distinct photos when fewer than its images (``3 of 5, 1 distinct``)."""
    count, photos = f"{row['unknown']} of {row['images']}", row.get("photos", row["images"])
    return count if photos >= row["images"] else f"{count}, {photos} distinct"

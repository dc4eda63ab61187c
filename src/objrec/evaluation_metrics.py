"""The evaluation's overall figures as typed data: ``EvaluationResult.metrics``, and the first keys
of ``metrics.json`` and ``evaluate --json`` (the per-class tables and what was evaluated follow
them there, from the result's other fields).

Written as JSON in one place (:meth:`EvaluationMetrics.to_json`, the keys and their order as
docs/json.md lists them) and read back by :meth:`EvaluationMetrics.from_json`, which takes the
files of earlier versions too, without the figures they did not measure yet. A ``metrics.json``
written to disk is read once, whole, as an :class:`EvaluationRecord`: the figures, and what was
evaluated (:func:`read_record`)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self


def shown_fields(record: Any, names: tuple[str, ...], counted: tuple[str, ...] = ()) -> str:
    """``record``'s fields of ``names`` for a one-line repr, ``name=value`` (a float to four
    places, a group of figures as its kind and ``(...)``; a field that is None left out), then
    ``n_`` and the name of each of ``counted`` and its length: a nested result printed every
    class's dict, thousands of characters (newcomer55's 9)."""
    shown = []
    for name in names:
        value = getattr(record, name)
        if value is None:
            continue
        if isinstance(value, float):
            shown.append(f"{name}={value:.4f}")
        elif hasattr(value, "__dataclass_fields__"):
            shown.append(f"{name}={type(value).__name__}(...)")
        else:
            shown.append(f"{name}={value!r}")
    shown += [f"n_{name}={len(getattr(record, name))}" for name in counted]
    return f"{type(record).__name__}({', '.join(shown)})"


@dataclass(frozen=True)
class Scores:
    """Top-1 and top-5 on every evaluated image (micro) and averaged over the classes present
    (macro), as ``metrics.summarize`` measures them; top-5's figures are None for a model of at
    most five classes (every class is then among the first five)."""

    n: int
    loss: float
    top1: float
    top5: float | None
    mean_class_top1: float
    mean_class_top5: float | None
    macro_precision: float | None
    """None (NaN in a result) where no class was ever answered: none has a precision."""
    weighted_precision: float | None
    macro_recall: float
    weighted_recall: float
    macro_f1: float
    weighted_f1: float

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """From ``metrics.json``'s keys; a figure an older file lacks is NaN."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        nan = float("nan")
        for name in ("loss", "top1", "top5", "mean_class_top1", "mean_class_top5"):
            values.setdefault(name, nan)
        for name in (f"{kind}_{what}" for what in ("precision", "recall", "f1") for kind in KINDS):
            values.setdefault(name, nan)
        return cls(**{"n": 0, **values})


@dataclass(frozen=True)
class Overall(Scores):
    """:class:`Scores` on the distinct photos too: how many, and top-1 and top-5's intervals."""

    n_groups: int
    """The distinct photos among the ``n`` images (near-duplicates counted once)."""
    top1_photos: float | None = None
    """The share of the distinct photos right at top-1, each photo one vote of the share of its
    copies right: ``top1`` where no image has a near-duplicate (None in older files)."""
    top5_photos: float | None = None
    """As ``top1_photos``, at top-5 (None for at most five classes)."""
    top1_low: float | None = None
    """The 95% Wilson interval of ``top1_photos`` on the ``n_groups`` photos (of ``top1`` in
    older files; None in the oldest)."""
    top1_high: float | None = None
    top5_low: float | None = None
    top5_high: float | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """From ``metrics.json``'s keys; ``n_groups`` is ``n`` in a file from before it was."""
        return super().from_json({"n_groups": data.get("n", 0), **data})


KINDS = ("macro", "weighted")
"""How ``Overall``'s precision, recall and F1 are averaged over the classes."""


@dataclass(frozen=True)
class CalibrationFigures:
    """How far the probabilities are from the share of answers right, before and after the run's
    temperature (``calibration.expected_calibration_error``, ``mean_nll``)."""

    temperature: float
    ece_before_calibration: float
    ece: float
    ece_by_chance: float | None
    """The ECE exactly calibrated probabilities would show on these images by chance."""
    overconfidence: float | None
    nll_before_calibration: float | None
    nll: float | None


@dataclass(frozen=True)
class UnknownAnswer:
    """The run's unknown answer as evaluated: its score and threshold (``unknown_*`` keys)."""

    score: str | None
    threshold: float | None
    readable: bool
    """Whether the score is a familiarity to read in [0, 1] (False in older files)."""
    kept_on: str | None
    """The folder a kept threshold (``RUN/threshold.json``) was judged on, or None."""
    images: int | None
    """How many validation images the threshold was chosen on (None in older files)."""
    scaled_on: str | None = None
    """The images a familiarity of 1 is typical of (``meta.Calibration.scaled_on``: validation
    or training), where ``readable``; None in older files (validation). Not written when None,
    so that an older file is written again byte for byte."""


UNKNOWN_KEYS = {
    "score": "unknown_score",
    "threshold": "unknown_threshold",
    "readable": "unknown_score_readable",
    "kept_on": "unknown_threshold_kept_on",
    "images": "unknown_threshold_images",
    "scaled_on": "unknown_scaled_on",
}
""":class:`UnknownAnswer`'s fields as ``metrics.json`` names them."""


WENT_KEYS = ("right_at_threshold", "wrong_at_threshold", "unknown_at_threshold")
"""Where the evaluated images went at a threshold, as ``metrics.json`` counts them (at the
run's threshold among the first keys, at the stricter one in ``open_set.stricter``): given their
own class, given another, answered "unknown" (sent to a person). Top-1 with an unknown counted
as wrong ran the last two together: a line operator's 97.85% was the same figure whether the
one image missed went into the wrong bin or to a person."""


def went_of(record: Any) -> tuple[int, int, int] | None:
    """``record``'s counts of :data:`WENT_KEYS` (an :class:`AtThreshold` or a
    :class:`StricterThreshold`), None where an evaluation written before them has none."""
    counts = tuple(getattr(record, key) for key in WENT_KEYS)
    return None if None in counts else (counts[0], counts[1], counts[2])


def went_parts(went: tuple[int, int, int]) -> list[str]:
    """``right class 91 (97.85%)``, ``wrong class 1 (1.08%)``, ``unknown 1 (1.08%)``: where the
    evaluated images went (:func:`went_of`), each count beside its share of them all."""
    n = max(sum(went), 1)
    names = ("right class", "wrong class", "unknown")
    return [f"{name} {c} ({c / n:.2%})" for name, c in zip(names, went, strict=True)]


def without_none(record: Any, keys: tuple[str, ...] = WENT_KEYS) -> dict[str, Any]:
    """``record``'s fields as ``metrics.json`` writes them: those of ``keys`` left out where
    None (an evaluation written before them is written again byte for byte)."""
    return {k: v for k, v in asdict(record).items() if k not in keys or v is not None}


@dataclass(frozen=True)
class AtThreshold:
    """The run's threshold's cost on the evaluated images, when it has one."""

    known_kept: float
    """The share of them it answers (not "unknown")."""
    top1_at_threshold: float
    """Their top-1 when an "unknown" answer counts as wrong."""
    unknown_by_class: list[dict[str, Any]]
    """Those it says unknown, by class (``open_set.unknown_by_class``)."""
    right_at_threshold: int | None = None
    """How many it answers with their own class (None in files before 8 December 2026)."""
    wrong_at_threshold: int | None = None
    """How many it answers with another class: a wrong bin, not a person's look."""
    unknown_at_threshold: int | None = None
    """How many it answers "unknown"."""

    def __repr__(self) -> str:
        """One line: the figures, and how many classes it says unknown of (a row each)."""
        names = ("known_kept", "top1_at_threshold", *WENT_KEYS)
        return shown_fields(self, names, ("unknown_by_class",))


@dataclass(frozen=True)
class StricterThreshold:
    """A threshold stricter than the run's, chosen to keep ``keep_valid`` of the run's validation
    images, and what it trades (``open_set.stricter_result``): judged on the validation images
    and the ``--unknown`` folder's, measured on the evaluated images, never weighed by them.
    ``--json``'s and ``metrics.json``'s ``open_set.stricter`` is :meth:`to_json`: its fields, in
    this order (docs/json.md)."""

    threshold: float
    """The threshold, on the run's unknown score (its familiarity, or a raw score)."""
    keep_valid: float
    """The share of the validation images it was chosen to keep (``thresholds.KEEP_KNOWN``)."""

    # on the run's validation images: chosen and judged on them
    valid_kept: float
    """The share of them it keeps."""
    valid_images: int
    """How many there are."""
    valid_rejected_now: int
    """How many the run's threshold says unknown."""
    valid_rejected: int
    """How many this one says unknown."""
    valid_unknown_by_class: list[dict[str, Any]]
    """Those this one says unknown, by class (``open_set.unknown_by_class``)."""

    # on the evaluated images: measured, never weighed
    known_kept: float
    """The share of them it answers (not "unknown")."""
    top1_at_threshold: float
    """Their top-1 when an "unknown" answer counts as wrong."""

    # on the unknown folder's images: judged on them
    unknown_accepted: float
    """The share of them it still gives a class."""

    # the evaluated images again (the order is --json's)
    unknown_by_class: list[dict[str, Any]]
    """The evaluated images it says unknown, by class (``open_set.unknown_by_class``)."""
    known_rejected_now: int
    """How many evaluated images the run's threshold says unknown, wrongly."""
    known_rejected: int
    """How many evaluated images this one says unknown, wrongly."""

    # the unknown folder's images again
    unknown_caught_now: int
    """How many of them the run's threshold says unknown."""
    unknown_caught: int
    """How many of them this one says unknown."""

    # the verdict
    silences: list[str]
    """The classes it would leave mostly unanswered where the run's threshold did not: half or
    more of their validation images said unknown, of ``FEWEST_TO_TRUST`` distinct photos or more
    (``open_set.silenced_classes``)."""
    recommended: bool
    """Whether objrec recommends it: the share of unknown images it newly catches is at least
    the share of validation images it newly says unknown, by more than chance (``p_value``
    under ``chance.CHANCE``: ``thresholds.threshold_trade``), and it ``silences`` no class."""
    p_value: float | None = None
    """How often a threshold no better at telling the unknown images from the validation ones
    would trade at least this unevenly (``chance.trade_by_chance``: an exact binomial test,
    as ``Comparison.p_value``); ``recommended`` needs it under ``chance.CHANCE``. An
    evaluation written before 7 December 2026 has none: it is worked out from its counts as it
    is read (:func:`judged_by_chance`), and its ``recommended`` with it."""

    # the evaluated images at it, counted (None in files before 8 December 2026)
    right_at_threshold: int | None = None
    """How many it answers with their own class."""
    wrong_at_threshold: int | None = None
    """How many it answers with another class."""
    unknown_at_threshold: int | None = None
    """How many it answers "unknown" (``known_rejected``, beside the other two)."""

    def __repr__(self) -> str:
        """One line: the threshold, whether it is recommended, and what it trades, each count
        beside the run's threshold's (``_now``); the per-class rows counted (its fields made 1,138
        characters)."""
        caught = ("threshold", "recommended", "p_value", "unknown_caught", "unknown_caught_now")
        rejected = ("known_rejected", "known_rejected_now", "valid_rejected", "valid_images")
        return shown_fields(self, caught + rejected, ("silences", "unknown_by_class"))

    def to_json(self) -> dict[str, Any]:
        """As ``open_set.stricter`` in ``metrics.json`` and ``--json``."""
        return without_none(self)


NO_STRICTER_FIELDS = {
    "no_threshold": (),
    "no_validation_images": ("valid_folder", "why"),
    "few_validation_images": ("valid_images", "valid_kept", "keep_valid"),
    "not_stricter": ("valid_images", "valid_kept", "keep_valid"),
}
"""The fields of :class:`NoStricter` that ``metrics.json`` holds beside ``reason``, by reason."""


@dataclass(frozen=True, kw_only=True)
class NoStricter:
    """Why ``evaluate --unknown`` offers no stricter threshold (``open_set.no_stricter``): read by
    attribute, written in ``--json``'s and ``metrics.json``'s ``open_set.no_stricter`` as
    :meth:`to_json` (``reason`` and the fields it comes with, docs/json.md), read back by
    :meth:`from_json`."""

    reason: str
    """``no_threshold`` (the run answers no "unknown"), ``no_validation_images`` (the run's
    validation split could not be read), ``few_validation_images`` (too few of them to reject
    one in twenty) or ``not_stricter`` (the threshold in use keeps no more than ``keep_valid``
    of them already)."""
    valid_folder: str | None = None
    """``no_validation_images``: the run's validation folder (None: its run names no data)."""
    why: str | None = None
    """``no_validation_images``: what could not be read, and why (``open_set.valid_images``'
    words; None from an evaluation before objrec said it)."""
    valid_images: int = 0
    """The last two reasons: how many validation images there are."""
    valid_kept: float = 0.0
    """The last two reasons: the share of them the threshold in use keeps."""
    keep_valid: float = 0.0
    """The last two reasons: the share a stricter threshold is chosen to keep
    (``thresholds.KEEP_KNOWN``)."""

    def to_json(self) -> dict[str, Any]:
        """As ``open_set.no_stricter`` in ``metrics.json`` and ``--json``: ``reason``, then the
        fields of its reason (:data:`NO_STRICTER_FIELDS`), in this order."""
        named = NO_STRICTER_FIELDS.get(self.reason, ())
        return {"reason": self.reason} | {name: getattr(self, name) for name in named}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NoStricter:
        """From ``open_set.no_stricter`` of ``metrics.json``; a field it does not hold (its
        reason's others; ``why``, which an earlier version did not write) keeps its default."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class OpenSetFigures:
    """How well the unknown score tells the evaluated images from the ``--unknown`` folder's
    (``open_set.open_set_result``): the first keys of ``metrics.json``'s ``open_set``, in this
    order; a figure a file of an earlier version lacks is NaN (a count, 0)."""

    auroc: float
    """How well the score tells the unknown images from the known ones, whatever the threshold."""
    fpr_at_95_tpr: float
    """The share of the unknown images accepted at the threshold that keeps 95% of the known."""
    n_known: int
    """The evaluated images (the positives)."""
    n_unknown: int
    """The unknown folder's images."""
    unknown_accepted: float | None = None
    """The share of the unknown images the run's threshold still gives a class (None: the run
    has no threshold, and the file no key)."""
    unknown_answered_as: dict[str, int] | None = None
    """With a threshold, the classes those were answered as, and how many, most first."""

    @property
    def unknown_caught(self) -> int | None:
        """How many of the unknown images the run's threshold answered "unknown" (None: the run
        has no threshold)."""
        if self.unknown_accepted is None:
            return None
        return self.n_unknown - round(self.n_unknown * self.unknown_accepted)

    def __repr__(self) -> str:
        """The fields, :attr:`unknown_caught` first: the count the evaluation's repr gives
        (``unknown_caught=13/21``), which the fields hold only as the share
        ``unknown_accepted``; the classes those were answered as counted (a class each)."""
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)][:-1]
        if self.unknown_answered_as is not None:
            shown.append(f"n_unknown_answered_as={len(self.unknown_answered_as)}")
        return f"OpenSetFigures(unknown_caught={self.unknown_caught!r}, {', '.join(shown)})"

    def to_json(self) -> dict[str, Any]:
        """As ``open_set``'s first keys: the last two only where the run has a threshold."""
        data = asdict(self)
        return {k: v for k, v in data.items() if v is not None or k not in OPTIONAL_FIGURES}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpenSetFigures:
        """From ``metrics.json``'s ``open_set``, of this version or an earlier one."""
        nan = float("nan")
        accepted, answered = data.get("unknown_accepted"), data.get("unknown_answered_as")
        return cls(
            float(data.get("auroc", nan)),
            float(data.get("fpr_at_95_tpr", nan)),
            int(data.get("n_known") or 0),
            int(data.get("n_unknown") or 0),
            None if accepted is None else float(accepted),
            None if answered is None else {str(k): int(n) for k, n in dict(answered).items()},
        )


OPTIONAL_FIGURES = ("unknown_accepted", "unknown_answered_as")
""":class:`OpenSetFigures`' keys that ``metrics.json`` holds only with a threshold."""


@dataclass(frozen=True)
class OpenSet:
    """``evaluate --unknown``'s figures: the known images against the unknown folder's
    (:class:`OpenSetFigures`), the stricter threshold the run's validation images offer, or why
    none is."""

    figures: OpenSetFigures
    stricter: StricterThreshold | None
    no_stricter: NoStricter | None
    """Why none is offered (:class:`NoStricter`; None where ``stricter`` is)."""
    folder: str | None
    """The unknown folder, resolved (report measures it again)."""

    @property
    def unknown_accepted(self) -> float | None:
        """The share of the unknown images the run's threshold still gives a class."""
        return self.figures.unknown_accepted

    def __repr__(self) -> str:
        """One line: its groups by kind (each read by attribute), and the folder."""
        return shown_fields(self, ("figures", "stricter", "no_stricter", "folder"))

    def to_json(self) -> dict[str, Any]:
        """As ``open_set`` in ``metrics.json``: the figures, then ``stricter``,
        ``no_stricter`` and ``folder``."""
        stricter = None if self.stricter is None else self.stricter.to_json()
        return {**self.figures.to_json(), **self.trailer(stricter)}

    def trailer(self, stricter: dict[str, Any] | None) -> dict[str, Any]:
        """The keys after the figures."""
        why_not = None if self.no_stricter is None else self.no_stricter.to_json()
        return {"stricter": stricter, "no_stricter": why_not, "folder": self.folder}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpenSet:
        """From ``metrics.json``'s ``open_set``; a stricter threshold of an evaluation written
        before the chance rule judged by it (:func:`judged_by_chance`)."""
        stricter = data.get("stricter")
        figures = OpenSetFigures.from_json(data)
        typed = judged_by_chance(stricter_of(stricter), figures) if stricter else None
        return cls(figures, typed, no_stricter_of(data.get("no_stricter")), data.get("folder"))


def stricter_of(data: Mapping[str, Any]) -> StricterThreshold:
    """``open_set.stricter`` of ``metrics.json``; a field an earlier version did not write is
    empty (a list) or None."""
    values = {
        f.name: data.get(f.name, [] if str(f.type).startswith("list") else None)
        for f in fields(StricterThreshold)
    }
    return StricterThreshold(**values)


def judged_by_chance(stricter: StricterThreshold, figures: OpenSetFigures) -> StricterThreshold:
    """``stricter`` as the rule since 7 December 2026 judges it: one read from an evaluation
    written before has no ``p_value``, and its ``recommended`` weighed the shares alone (a
    stranger more caught for 4 validation images more lost, 5.00 points against 4.94, was
    recommended): report's page and the CLI took it as today's advice. Its ``p_value`` is worked
    out from the counts it recorded (``chance.trade_by_chance``: the validation images', or
    the evaluated images' where it weighed those, before 5 December 2026), and it is recommended
    only where that is under ``chance.CHANCE`` too; not where the counts are missing."""
    if stricter.p_value is not None:
        return stricter
    s = stricter
    if s.valid_rejected is not None and s.valid_images is not None:
        lost, n_known = (s.valid_rejected_now, s.valid_rejected), s.valid_images
    else:
        lost, n_known = (s.known_rejected_now, s.known_rejected), figures.n_known
    caught = (s.unknown_caught_now, s.unknown_caught)
    if None in (*lost, *caught):
        return replace(s, recommended=False)
    from objrec.chance import CHANCE, trade_by_chance  # SciPy loads for such a file alone

    p_value = trade_by_chance(lost, n_known, caught, figures.n_unknown)
    return replace(s, p_value=p_value, recommended=s.recommended and p_value < CHANCE)


def no_stricter_of(data: Mapping[str, Any] | None) -> NoStricter | None:
    """``open_set.no_stricter`` of ``metrics.json`` (None: a stricter threshold was offered, or
    an evaluation before objrec said why not)."""
    return NoStricter.from_json(data) if data else None


@dataclass(frozen=True)
class EvaluationMetrics:
    """An evaluation's overall figures; each group None where it was not measured (a result of
    logits alone has no calibration; a run without a threshold no ``at_threshold``; an evaluation
    without ``unknown`` no ``open_set``)."""

    overall: Overall
    tta: bool | None = None
    """Whether the probabilities are averaged over the test-time views (None: not said)."""
    calibration: CalibrationFigures | None = None
    unknown: UnknownAnswer | None = None
    at_threshold: AtThreshold | None = None
    open_set: OpenSet | None = None
    without_tta: Scores | None = None
    """With ``tta``, the scores of one view of each image (the centre one) alone."""

    @property
    def n(self) -> int:
        """The evaluated images."""
        return self.overall.n

    @property
    def n_groups(self) -> int:
        """Their distinct photos."""
        return self.overall.n_groups

    @property
    def top1(self) -> float:
        """The share of them whose first answer is their class."""
        return self.overall.top1

    def __repr__(self) -> str:
        """One line: the images, top-1, and the groups of figures measured, by kind (each read
        by attribute: ``metrics.calibration.ece``), where every figure of every group made 2,449
        characters."""
        names = ("n", "n_groups", "top1", "tta", "overall", "calibration", "unknown")
        return shown_fields(self, (*names, "at_threshold", "open_set", "without_tta"))

    def to_json(self) -> dict[str, Any]:
        """As the first keys of ``metrics.json`` and ``--json``, in their order."""
        data: dict[str, Any] = asdict(self.overall)
        if self.tta is not None:
            data["tta"] = self.tta
        if self.calibration is not None:
            data |= asdict(self.calibration)
        if self.unknown is not None:
            data |= {
                UNKNOWN_KEYS[key]: value
                for key, value in asdict(self.unknown).items()
                if key != "scaled_on" or value is not None  # absent: of the validation images
            }
        if self.at_threshold is not None:
            data |= without_none(self.at_threshold)
        if self.open_set is not None:
            data["open_set"] = self.open_set.to_json()
        if self.without_tta is not None:
            data["without_tta"] = asdict(self.without_tta)
        return data

    def __getitem__(self, key: str) -> Any:
        """``metrics["top1"]``, as scripts read the dict this class replaced: the value
        :meth:`to_json` writes under ``key``, with a :class:`DeprecationWarning` naming the
        attribute that holds it."""
        value = self.to_json()[key]
        warnings.warn(
            f"metrics[{key!r}] is deprecated: read metrics.{attribute_of(key)}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvaluationMetrics:
        """From ``metrics.json`` (or ``--json``'s output), of this version or an earlier one."""
        open_set, plain = data.get("open_set"), data.get("without_tta")
        return cls(
            Overall.from_json(data),
            data.get("tta"),
            calibration_from_json(data),
            unknown_of(data),
            at_threshold_of(data),
            OpenSet.from_json(open_set) if open_set else None,
            Scores.from_json(plain) if plain else None,
        )


def attribute_of(key: str) -> str:
    """Where :class:`EvaluationMetrics` holds what ``metrics.json`` writes under ``key``."""
    if key in ("top1", "n", "n_groups", "tta", "open_set", "without_tta"):
        return key
    unknown = {name: field for field, name in UNKNOWN_KEYS.items()}
    if key in unknown:
        return f"unknown.{unknown[key]}"
    groups = {"overall": Overall, "calibration": CalibrationFigures, "at_threshold": AtThreshold}
    group = next(name for name, kind in groups.items() if key in {f.name for f in fields(kind)})
    return f"{group}.{key}"


def calibration_from_json(data: Mapping[str, Any]) -> CalibrationFigures | None:
    """``metrics.json``'s calibration, None where it has none."""
    if "ece" not in data:
        return None
    return CalibrationFigures(
        float(data.get("temperature", 1.0)),
        data.get("ece_before_calibration", data["ece"]),
        data["ece"],
        *(data.get(name) for name in ("ece_by_chance", "overconfidence")),
        *(data.get(name) for name in ("nll_before_calibration", "nll")),
    )


def unknown_of(data: Mapping[str, Any]) -> UnknownAnswer | None:
    """``metrics.json``'s unknown answer, None where it says nothing of one."""
    if "unknown_score" not in data and "unknown_threshold" not in data:
        return None
    return UnknownAnswer(
        data.get("unknown_score"),
        data.get("unknown_threshold"),
        bool(data.get("unknown_score_readable", False)),
        data.get("unknown_threshold_kept_on"),
        data.get("unknown_threshold_images"),
        data.get("unknown_scaled_on"),
    )


def at_threshold_of(data: Mapping[str, Any]) -> AtThreshold | None:
    """``metrics.json``'s cost of the run's threshold, None where it has none."""
    if "known_kept" not in data:
        return None
    by_class = list(data.get("unknown_by_class") or [])
    went = (data.get(key) for key in WENT_KEYS)
    top1 = data.get("top1_at_threshold", float("nan"))
    return AtThreshold(data["known_kept"], top1, by_class, *went)


@dataclass(frozen=True)
class OwnEvaluation:
    """The earlier run's own evaluation of the split ``evaluate --against`` compares, of its
    present model (``compare.own_evaluation``)."""

    out: str
    """Its ``eval-*`` folder."""
    top1: float
    folder: str | None
    """The class folder it evaluated."""
    image_set: str
    """The images and labels it was scored on then ("" where unrecorded): after a label fix,
    not those compared now."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OwnEvaluation:
        """From ``against.own_evaluation`` of ``metrics.json``."""
        folder = data.get("folder")
        return cls(
            str(data.get("out") or ""),
            float(data.get("top1", float("nan"))),
            None if folder is None else str(folder),
            str(data.get("image_set") or ""),
        )


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """``evaluate --against``'s comparison (``compare.compare_runs``): this run and the earlier
    one (``run``) on the same images of the classes both know. ``metrics.json``'s and
    ``--json``'s ``against`` is :meth:`to_json`: its fields, in this order (docs/json.md); read
    back by :meth:`from_json`, a field a file of an earlier version lacks keeps its default."""

    run: str = ""
    """The earlier run, as given."""
    out: str | None = None
    """Where the earlier run's evaluation for this comparison was written."""
    classes: list[str] = field(default_factory=list)
    """The classes both runs know, as this run spells them."""
    only_here: list[str] = field(default_factory=list)
    """The classes only this run knows: their images left out."""
    only_against: list[str] = field(default_factory=list)
    """The classes only the earlier run knows: their images left out."""
    renamed: dict[str, str] = field(default_factory=dict)
    """The earlier run's classes renamed since, old -> new."""
    merged: dict[str, str] = field(default_factory=dict)
    """The earlier run's classes merged since into one it knew too, old -> new."""
    split: dict[str, dict[str, int]] = field(default_factory=dict)
    """The earlier run's classes split since, old -> each class now -> its images here (left
    out)."""
    untold: list[str] = field(default_factory=list)
    """The earlier run's classes missing here whose photos could not be looked for."""
    n: int = 0
    """The images compared."""
    top1: float = float("nan")
    top1_against: float = float("nan")
    mean_class_top1: float = float("nan")
    mean_class_top1_against: float = float("nan")
    fixed: int = 0
    """The images this run gets right and the earlier one wrong."""
    broken: int = 0
    """The images the earlier run gets right and this one wrong."""
    fixed_photos: int | None = None
    """The distinct photos among ``fixed`` (None in an earlier version's: each image one)."""
    broken_photos: int | None = None
    """The distinct photos among ``broken``."""
    p_value: float | None = None
    """McNemar's exact test on the photos (``chance.changed_by_chance``; None: not judged)."""
    within_chance: bool | None = None
    """Whether ``p_value`` is at least ``chance.CHANCE`` (None: not judged, an older file)."""
    answered_only_here: int = 0
    """The compared images this run answered with a class the earlier one lacks."""
    seen_here: int = 0
    """The compared images this run trained or validated on."""
    seen_against: int = 0
    """The compared images the earlier run trained or validated on."""
    per_class: list[dict[str, Any]] = field(default_factory=list)
    """Each class's rows (``class``, ``n``, ``top1``, ``top1_against``, ``change`` and the
    chance fields), the most lost first."""
    image_set: str | None = None
    """The fingerprint of the images and labels the earlier run was scored on here."""
    own_evaluation: OwnEvaluation | None = None

    def __repr__(self) -> str:
        """One line: the earlier run, the images compared and both runs' top-1, the changes and
        whether chance explains them, how many classes both know, and how many were left out,
        renamed, merged or split, where any were (every class's row made 3,796 characters);
        ``per_class`` has the rows."""
        names = ("run", "n", "top1", "top1_against", "fixed", "broken", "p_value")
        moved = ("only_here", "only_against", "renamed", "merged", "split")  # where any
        counted = ("classes", *(name for name in moved if getattr(self, name)))
        return shown_fields(self, (*names, "within_chance"), counted)

    def to_json(self) -> dict[str, Any]:
        """As ``against`` in ``metrics.json`` and ``--json``."""
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        """``against["top1"]``, as scripts read the dict this class replaced (docs/python-api.md
        showed it): the value :meth:`to_json` writes under ``key``, with a
        :class:`DeprecationWarning` naming the attribute."""
        value = self.to_json()[key]
        warnings.warn(
            f"against[{key!r}] is deprecated: read against.{key}", DeprecationWarning, stacklevel=2
        )
        return value

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        """From ``metrics.json``'s ``against``, of this version or an earlier one."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        own = values.get("own_evaluation")
        values["own_evaluation"] = OwnEvaluation.from_json(own) if own else None
        return cls(**values)


METRICS = "metrics.json"
"""The file in an evaluation's folder that :class:`EvaluationRecord` reads."""


@dataclass(frozen=True)
class EvaluationRecord:
    """An evaluation's ``metrics.json`` as ``evaluate`` wrote it (``EvaluationResult.to_json``):
    the figures, then what was evaluated, of which model, and what it found on the way; a field
    a file of an earlier version (or one a test writes) lacks is empty."""

    metrics: EvaluationMetrics
    folder: str = ""
    """The evaluated class folder, resolved ("" where unrecorded)."""
    model_digest: str = ""
    """The content digest of the model file evaluated ("" where unrecorded): ``model_digest``,
    ``model`` in a file written before 7 December 2026."""
    image_set: str = ""
    """The fingerprint of the evaluated images and their labels ("" where unrecorded)."""
    per_class: list[dict[str, Any]] = field(default_factory=list)
    """The per-class table's rows (``per_class.csv``'s)."""
    classes_without_images: list[str] = field(default_factory=list)
    worst_classes: list[dict[str, Any]] = field(default_factory=list)
    mixed_pairs: list[dict[str, Any]] | None = None
    """The classes mistaken for each other both ways (None: an earlier version's, unrecorded)."""
    seen_in_training: dict[str, int] = field(default_factory=dict)
    """Per split of the run's, the evaluated images that are its own (the same bytes)."""
    near_seen_in_training: dict[str, int] = field(default_factory=dict)
    """Per split of the run's, the evaluated images that are near-duplicates of its own."""
    untaught_classes: dict[str, int] = field(default_factory=dict)
    """The evaluated folder's class folders the model was not taught, and their images."""
    untaught_unknown: int | None = None
    """How many of those the model answered "unknown" (None: none, or no threshold)."""
    against: Comparison | None = None
    """``evaluate --against``'s comparison (:class:`Comparison`), where it made one."""
    unreadable_files: list[str] = field(default_factory=list)
    """``path: reason`` for each image of the folder that could not be read, left out:
    ``unreadable_files``, ``unreadable`` in a file written before 7 December 2026."""
    near_duplicates: str | None = None
    warning: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvaluationRecord:
        """From ``metrics.json``'s object, of this version or an earlier one."""
        pairs, against = data.get("mixed_pairs"), data.get("against")
        unreadable = data.get("unreadable_files", data.get("unreadable"))  # its name till 7 Dec
        return cls(
            EvaluationMetrics.from_json(data),
            folder=str(data.get("folder") or ""),
            model_digest=str(data.get("model_digest") or data.get("model") or ""),
            image_set=str(data.get("image_set") or ""),
            per_class=list(data.get("per_class") or []),
            classes_without_images=list(data.get("classes_without_images") or []),
            worst_classes=list(data.get("worst_classes") or []),
            mixed_pairs=pairs if isinstance(pairs, list) else None,
            seen_in_training=counts(data.get("seen_in_training")),
            near_seen_in_training=counts(data.get("near_seen_in_training")),
            untaught_classes=counts(data.get("untaught_classes")),
            untaught_unknown=data.get("untaught_unknown"),
            against=Comparison.from_json(against) if against else None,
            unreadable_files=[str(entry) for entry in unreadable or []],
            near_duplicates=data.get("near_duplicates"),
            warning=data.get("warning"),
        )

    @classmethod
    def read(cls, folder: Path) -> EvaluationRecord:
        """The evaluation in ``folder``; OSError when its ``metrics.json`` cannot be read,
        ValueError when it holds no evaluation's JSON object (damaged, cut short, edited)."""
        path = Path(folder) / METRICS
        try:
            return cls.from_json(json_object(path))
        except (AttributeError, TypeError) as exc:  # a value of another type than evaluate's
            raise ValueError(f"{path} is no evaluation's record: {exc}") from exc


def read_record(folder: Path) -> EvaluationRecord | None:
    """The evaluation in ``folder`` (:meth:`EvaluationRecord.read`); None where there is none to
    read: its ``metrics.json`` absent, unreadable, damaged, or an empty object."""
    try:
        data = json_object(Path(folder) / METRICS)
        return EvaluationRecord.from_json(data) if data else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; OSError when it cannot be read, ValueError when it holds
    no JSON object."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except ValueError as exc:  # damaged or cut short
        raise ValueError(f"{path} holds no JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds no JSON object")
    return data


def counts(data: Any) -> dict[str, int]:
    """A ``{name: count}`` object of ``metrics.json`` (none: empty)."""
    return {str(name): int(count or 0) for name, count in dict(data or {}).items()}

"""One image's answer as ``predict``, ``serve`` and ``evaluate`` show it: the :class:`Prediction`
(its top-k, unknown or not, its familiarity and the threshold that judged it) filled in from the
recognizer's answers, its row of ``predict --csv``, the answers counted, the familiarity and its
line in words, and the classes the run's evaluation often mixed up. ``predict`` (the command) is
above it; ``serve``, ``evaluate`` and ``suggest`` read these without importing the command."""

from __future__ import annotations

import glob
import math
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any, TypedDict

from objrec.data import UNKNOWN
from objrec.evaluation_metrics import EvaluationRecord, read_record
from objrec.listing import utf8_name
from objrec.run_files import checkpoint_file, output_beside

if TYPE_CHECKING:
    from objrec.inference import Answers, Recognizer


def base_name(path: str | None) -> str:
    """The last part of ``path``, split at either slash, as ``predict --json`` and ``serve``'s
    ``/predict`` both give it in ``filename`` (a client may send a Windows path); "" for none."""
    return PureWindowsPath(path or "").name


NEAR_LINE = 0.25
"""How far above the unknown line (in familiarity, where a typical valid image scores 1 and the
run's line is 0) an answered image is said to be barely familiar."""


def barely_familiar(score: float | None, line: float | None, unknown: bool) -> bool | None:
    """Whether an image answered with a class (not ``unknown``) is only barely familiar: its
    familiarity ``score`` under :data:`NEAR_LINE` above the unknown ``line``, so its answer
    deserves a second look however high its probability (the probabilities are among the classes
    only). None when there is no line to judge by (the score is not a familiarity, or unknown
    answers are off). What the CLI's "barely familiar" and ``predict --json`` both say."""
    if line is None or score is None:
        return None
    return not unknown and score < line + NEAR_LINE


def score_and_line(score: float, line: float) -> tuple[str, str]:
    """A familiarity and the unknown line as printed side by side: to two decimals and three
    significant digits ("0.18", "0"), or, when those would not show which side of the line the
    score is on ("barely familiar: 0.00, unknown below 0" for 0.0004; "0.22" under "0.224" for
    0.2239, above it), both to as many decimals as tell them apart ("0.0004", "0.0000")."""
    shown, at = f"{score:.2f}", f"{line:.3g}"
    if score == line:  # on the line, so answered: "0.25, unknown below 0.25"
        return shown, shown
    if float(shown) != float(at) and (float(shown) < float(at)) == (score < line):
        return shown, at
    for decimals in range(2, 9):  # rounding keeps the order, once the two differ
        shown, at = f"{score:.{decimals}f}", f"{line:.{decimals}f}"
        if float(shown) != float(at):
            break
    return shown, at


TopClass = TypedDict("TopClass", {"class": str, "prob": float})
"""One of an image's closest classes, as ``--json``'s ``topk`` holds it: a dict of its name
(``"class"``) and its probability (``"prob"``), each typed as it is: typed as one
``dict[str, float | str]``, ``topk[0]["prob"] > 0.5`` and ``topk[0]["class"].upper()`` failed
mypy (notebook63). The functional form: ``class`` is a keyword."""


@dataclass
class Prediction:
    path: str
    topk: list[TopClass] = field(default_factory=list)
    error: str | None = None
    explanation: str | None = None
    explained: str | None = None
    """The class the Grad-CAM map in ``explanation`` shows: the reported top class."""
    unknown: bool = False
    """The image looks like none of the classes (its unknown score is below the threshold)."""
    score: float | None = None
    """Its unknown score (the run's ``unknown_score``: familiarity or top probability)."""
    line: float | None = None
    """The familiarity below which it is unknown, when ``score`` is the familiarity (1 for a
    typical valid image, the run's own line 0) and unknown images are answered; else None."""
    too_large: bool = False
    """Its ``error``: over the pixel limit (``images.pixel_limit``), not a damaged file."""
    unknown_threshold: float | None = None
    """The unknown threshold it was judged by, on ``score``'s scale: the run's own, the one
    ``evaluate`` kept with it (``keep_threshold``), or the one given; None: no unknown answer.
    ``--json``'s and ``--csv``'s ``unknown_threshold`` (``threshold`` before 6 December 2026)."""
    unknown_threshold_kept_on: str | None = None
    """When ``unknown_threshold`` is the one kept with the run: when it was kept (ISO 8601, UTC),
    as ``--json`` and ``--csv`` say it (``threshold_kept_on`` before 6 December 2026)."""
    threshold_images: int | None = None
    """How many validation images the run's own ``unknown_threshold`` was chosen on (None: a
    kept or given one, or an older run); few make it shaky (``enough.FEWEST_FOR_A_THRESHOLD``)."""
    unknown_score: str | None = None
    """The run's unknown score (``unknown_score``: ``msp`` is the top probability), the scale
    of ``unknown_threshold`` when ``line`` is None."""
    scaled_on: str | None = None
    """The images a familiarity of 1 is typical of (``Recognizer.scaled_on``: validation or
    training), for the sentence that says so (``unknown_scores.typical_image``)."""
    confused_with: list[str] | None = None
    """The classes the run's evaluation mistook its top class for and was mistaken for by, both
    ways (:func:`mixed_partners`): the other may be the right answer. None when the run records
    no such evaluation (none yet, an older one, of another model)."""

    def __repr__(self) -> str:
        """One line: the file, its answer, the closest class when that is "unknown", its
        probability and the unknown score, and ``barely_familiar=True`` where the CLI marks it
        "barely familiar" (an untaught watch answered "cup" at 0.92, just over the line, showed
        nothing to distrust); or the error. The top-k and threshold, the same down a list of
        predictions, are in the attributes."""
        if self.error or not self.topk:
            return f"Prediction(path={self.path!r}, error={self.error!r})"
        closest = f", predicted={self.predicted!r}" if self.unknown else ""
        score = f", score={self.score:.4f}" if self.score is not None else ""
        barely = ", barely_familiar=True" if self.barely_familiar else ""
        return (
            f"Prediction(path={self.path!r}, answer={self.answer!r}{closest}, "
            f"prob_predicted={self.prob_predicted:.4f}{score}{barely})"
        )

    @property
    def threshold(self) -> float | None:
        """:attr:`unknown_threshold`, by its earlier name, with a :class:`DeprecationWarning`."""
        warnings.warn(
            "Prediction.threshold is deprecated: read unknown_threshold, as predict's JSON and "
            "CSV name it",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.unknown_threshold

    @property
    def threshold_kept_on(self) -> str | None:
        """:attr:`unknown_threshold_kept_on`, by its earlier name, with a
        :class:`DeprecationWarning`."""
        warnings.warn(
            "Prediction.threshold_kept_on is deprecated: read unknown_threshold_kept_on, as "
            "predict's JSON and CSV name it",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.unknown_threshold_kept_on

    @property
    def predicted(self) -> str | None:
        """The closest class, whether or not the answer is "unknown" (``--csv``'s ``predicted``);
        None for an input that failed."""
        return str(self.topk[0]["class"]) if self.topk else None

    @property
    def prob_predicted(self) -> float | None:
        """The probability of :attr:`predicted` (``--csv``'s ``prob_predicted``), among the
        classes only; None for an input that failed."""
        return float(self.topk[0]["prob"]) if self.topk else None

    @property
    def barely_familiar(self) -> bool | None:
        """Answered (not unknown) though barely familiar: its familiarity within
        :data:`NEAR_LINE` of the unknown line (:func:`barely_familiar`), as the CLI marks it
        "barely familiar"; None when the run has no familiarity to judge by, or the image could
        not be read."""
        return None if self.error else barely_familiar(self.score, self.line, self.unknown)

    @property
    def familiarity_note(self) -> str:
        """The familiarity, in words, of an image answered unknown, "familiarity -0.21, unknown
        below 0" (its closest class may still have 98%: the probabilities are among the classes
        only), or known within :data:`NEAR_LINE` of the line (it looks as confident as any other),
        "barely familiar: 0.02, unknown below 0"; else ""."""
        if self.line is None or self.score is None or self.error:
            return ""
        score, line = score_and_line(self.score, self.line)
        if self.unknown:
            return f"familiarity {score}, unknown below {line}"
        return f"barely familiar: {score}, unknown below {line}" if self.barely_familiar else ""

    @property
    def filename(self) -> str:
        """The file's base name (:func:`base_name`): the key ``serve``'s ``/predict`` answers
        with too."""
        return base_name(self.path) or self.path

    def to_json(self) -> dict:
        """``filename`` (as ``serve`` answers), ``path`` (as given), ``answer`` (what a script acts
        on: :attr:`answer`, None for an input that failed), and the rest of the answer; an input
        that failed has every key an answer has, None (``topk`` empty), then its ``error``: a
        script reading ``row["unknown"]`` of each row never meets a row without it."""
        where = {"filename": self.filename, "path": self.path, "answer": self.answer or None}
        if self.error:
            nulls = dict.fromkeys(("unknown", "score", "barely_familiar", *THRESHOLD_KEYS))
            return {**where, **nulls, "topk": self.topk, "confused_with": None, "error": self.error}
        extra = (
            {"explanation": self.explanation, "explained": self.explained}
            if self.explanation
            else {}
        )
        return {
            **where,
            "unknown": self.unknown,
            "score": self.score,
            "barely_familiar": self.barely_familiar,
            "unknown_threshold": self.unknown_threshold,
            "unknown_threshold_kept_on": self.unknown_threshold_kept_on,
            "topk": self.topk,
            "confused_with": self.confused_with,
            **extra,
        }

    @property
    def answer(self) -> str:
        """The answer in one word, as the CLI's lines say it: :data:`UNKNOWN` for an image
        the recognizer judged unknown (its unknown score under the threshold), else its top class;
        "" for an input that failed. ``--json``'s ``answer`` (null for "") and ``--csv``'s."""
        if self.error or not self.topk:
            return ""
        return UNKNOWN if self.unknown else str(self.topk[0]["class"])

    def to_row(self) -> dict[str, Any]:
        """The prediction as one row of ``predict --csv`` (:data:`CSV_COLUMNS`, then
        ``class_1``, ``prob_1`` ... for its top-k, then ``error``): ``answer`` is the class or
        "unknown" (:attr:`answer`), ``predicted`` and ``prob_predicted`` its top class whether or
        not it is ``unknown``, ``unknown_threshold`` and ``unknown_threshold_kept_on`` as
        ``--json``'s, on every row: a row sorted, filtered or pasted among another predict's
        keeps the threshold that made its answer; an input that failed has its ``filename``,
        ``path`` and ``error`` only. A name that is not UTF-8 is written escaped
        (:func:`~objrec.images.utf8_name`): the table's UTF-8 cannot hold its bytes."""
        row: dict[str, Any] = {"filename": utf8_name(self.filename), "path": utf8_name(self.path)}
        if self.error:
            return {**row, "error": self.error}
        top = self.topk[0]
        row |= {"answer": self.answer, "predicted": top["class"], "prob_predicted": top["prob"]}
        row |= {"unknown": self.unknown}
        row |= {"barely_familiar": self.barely_familiar, "score": self.score}
        row |= threshold_cells(self.unknown_threshold, self.unknown_threshold_kept_on)
        for i, t in enumerate(self.topk, start=1):
            row[f"class_{i}"], row[f"prob_{i}"] = t["class"], t["prob"]
        return row


def threshold_cells(threshold: float | None, kept_on: str | None) -> dict[str, Any]:
    """The unknown threshold an answer was judged by, as the last two of :data:`CSV_COLUMNS`
    (``--json``'s keys): ``predict --csv`` and ``evaluate``'s ``predictions.csv`` give it on every
    row, so that a row sorted, filtered, or joined to another table's still says which threshold
    made its "unknown"; None (an empty cell) for no unknown answer, or a threshold not kept."""
    return {"unknown_threshold": threshold, "unknown_threshold_kept_on": kept_on}


THRESHOLD_KEYS = tuple(threshold_cells(None, None))
"""The keys of the threshold an answer was judged by, in ``--json`` and ``--csv`` alike."""

CSV_COLUMNS = (
    *("filename", "path", "answer", "predicted", "prob_predicted"),
    *("unknown", "barely_familiar", "score", *THRESHOLD_KEYS),
)
"""The first columns of ``predict --csv``'s table, named as ``--json``'s keys and
:class:`Prediction`'s attributes where they are the same (``filename``, the base name, was
``file`` before 6 December 2026: a ``file`` of objrec's other tables is a path in the data
folder); the top-k classes and probabilities follow as ``class_1``, ``prob_1`` ..., then
``error``."""


def csv_columns(results: Sequence[Prediction]) -> list[str]:
    """The columns of ``predict --csv``'s table of ``results``: :data:`CSV_COLUMNS`, then
    ``class_N``, ``prob_N`` for as many as the longest top-k, then ``error``."""
    k = max((len(r.topk) for r in results), default=0)
    tops = [f"{what}_{i}" for i in range(1, k + 1) for what in ("class", "prob")]
    return [*CSV_COLUMNS, *tops, "error"]


def tally(results: Sequence[Prediction]) -> dict[str, int]:
    """How many images got each answer (:attr:`Prediction.answer`): the classes answered, most
    first (ties in name order), then :data:`UNKNOWN` whenever a threshold judged the answers,
    even at 0 (none was like none of the classes); inputs that failed are not counted. What
    predict's lines end with, and ``--json``'s ``answer`` counted."""
    answered = [r for r in results if not r.error and r.topk]
    counts = Counter(r.answer for r in answered if not r.unknown)
    tallied = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    if any(r.unknown_threshold is not None for r in answered):
        tallied[UNKNOWN] = sum(r.unknown for r in answered)
    return tallied


class Predictions(list[Prediction]):
    """What ``predict`` returns: a list of :class:`Prediction`, one per input in order, that
    :meth:`table` gives as a pandas DataFrame and :meth:`tally` counts by answer."""

    plotted: int | None = None
    """How many images ``predict``'s ``plot`` shows: None without one, 0 where none could be
    read and nothing was drawn."""

    def __repr__(self) -> str:
        """One line: how many inputs, how many were given a class, said unknown, or failed
        (a list of 1,000 printed every :class:`Prediction`; each is ``predictions[i]``, and
        :meth:`table` has them all)."""
        failed = sum(bool(r.error) for r in self)
        unknown = sum(r.unknown for r in self if not r.error)
        return (
            f"Predictions(inputs={len(self)}, given_a_class={len(self) - failed - unknown}, "
            f"unknown={unknown}, failed={failed})"
        )

    def tally(self) -> dict[str, int]:
        """How many images got each answer, the class or "unknown" (:func:`tally`)."""
        return tally(self)

    def table(self) -> Any:
        """A pandas DataFrame of one row per input, as ``predict --csv`` writes it
        (:meth:`Prediction.to_row`, :func:`csv_columns`): what is left empty there (the answer of
        an input that failed, the ``error`` of one that did not) is missing (NaN) here."""
        import pandas as pd  # not at import: `objrec predict` needs no pandas

        return pd.DataFrame([r.to_row() for r in self], columns=csv_columns(self))


def fill_prediction(
    entry: Prediction, recognizer: Recognizer, answers: Answers, i: int, k: int
) -> Prediction:
    """``entry`` filled in with the ``i``-th image of ``answers``: its top ``k``, whether the
    recognizer judged it unknown, its score and the threshold that judged it. ``predict`` and
    ``serve``'s ``/predict`` both answer through it, so their JSON is one."""
    entry.topk = recognizer.topk(answers.probs[i], k)
    entry.unknown = bool(answers.unknown[i])
    entry.score, entry.line = float(answers.scores[i]), familiarity_line(recognizer)
    entry.unknown_threshold = recognizer.threshold
    entry.unknown_threshold_kept_on = recognizer.threshold_kept_on
    entry.unknown_score = recognizer.unknown_score
    entry.threshold_images = recognizer.threshold_images
    entry.scaled_on = recognizer.scaled_on
    entry.confused_with = mixed_in(recognizer, answers.probs[i], entry.topk)
    return entry


def familiarity_line(recognizer: Recognizer) -> float | None:
    """The threshold when the score is the familiarity and unknown is answered; else None (the
    top probability is already on the line; a raw feature score has no scale to read)."""
    familiar = recognizer.unknown_score != "msp" and recognizer.score_is_familiarity
    return recognizer.threshold if familiar else None


MIXED_PROB = 0.05
"""The least probability a partner has in an answer for predict to name it: an answer of lotus at
100% has no water lily to look at. Chosen on s0's validation split: of its 37 answers of a class
of its two pairs, the 12 whose true class was the partner had it at 1.8% to 32%; named from 5%
up, the hint fits them best (F1 0.77: 10 of 14 named; 0.69 from 1%, 0.71 from 2%, 0.64 from
10%)."""


def mixed_partners(
    run: Path, data_dir: str | None = None, model: str | None = None
) -> dict[str, list[str]] | None:
    """Each class's partners in the pairs the run's evaluation of the model of digest ``model``
    (the one loaded) mistook for each other often both ways (:func:`recorded_pairs`,
    :func:`often_mixed`; ``data_dir``: the run's split folder), or None when no evaluation
    records them. A row that names no two classes or their counts (a metrics.json edited by
    hand) is passed over: it stopped predict with a KeyError."""
    from objrec.metrics import often_mixed  # pandas: once an image was predicted

    pairs = recorded_pairs(run, data_dir, model)
    if pairs is None:
        return None
    partners: dict[str, list[str]] = {}
    for pair in pairs:
        a, b = (pair.get(key) if isinstance(pair, dict) else None for key in ("a", "b"))
        if isinstance(a, str) and isinstance(b, str) and often_mixed(pair):
            partners.setdefault(a, []).append(b)
            partners.setdefault(b, []).append(a)
    return partners


def evaluation_records(run: Path) -> list[Path]:
    """The ``metrics.json`` of each evaluation of the model ``run`` (its ``eval*`` folders,
    beside it as ``meta.output_beside`` places them): what :func:`recorded_pairs` reads, and
    what ``serve`` looks at to read them again."""
    evaluations = output_beside(run, "eval")
    return list(evaluations.parent.glob(f"{glob.escape(evaluations.name)}*/metrics.json"))


def recorded_pairs(
    run: Path, data_dir: str | None = None, model: str | None = None
) -> list[dict[str, Any]] | None:
    """The pairs of classes the run's evaluation mistook for each other both ways (an
    ``eval-*`` folder's ``metrics.json``, ``mixed_pairs``: ``metrics.mixed_pairs``), of its test
    split's evaluation (``data_dir``'s ``test``) when there is one, else of its latest, only of
    the model of digest ``model`` (the one loaded, ``RunMeta.digest``; None: the one now in the
    run). None when no evaluation records them (none yet, one made before
    they were recorded, or of a model trained since). Another folder named ``test`` is not the
    run's test split: its evaluation had outranked a later one of the run's own. An evaluation
    of images the run trained on (``evaluate --split train``) is none: its confusions are of
    images the model learnt, and named partners no new photo is mistaken for (review62b L3)."""
    found = model_evaluations(run, data_dir, model, of_unseen_pairs)
    return found[-1][1].mixed_pairs if found else None


def of_unseen_pairs(record: EvaluationRecord) -> bool:
    """Whether ``record`` is of an evaluation that recorded its look-alike pairs on images the
    run did not train on (:func:`recorded_pairs`)."""
    return record.mixed_pairs is not None and not record.seen_in_training.get("train")


def tested_top1(run: Path, data_dir: str | None = None, model: str | None = None) -> float | None:
    """The top-1 of the run's latest evaluation of its test split (``data_dir``'s ``test``) of
    the model of digest ``model`` (None: the one now in the run), for ``serve``'s page: a
    headline of the validation accuracy where evaluate had measured the test's (90.7% beside
    91.39%, newcomer60). None where there is none (or its top-1 is not a number)."""
    found = [f for f in model_evaluations(run, data_dir, model) if f[0]]
    top1 = found[-1][1].metrics.top1 if found else None
    return float(top1) if isinstance(top1, int | float) and math.isfinite(top1) else None


def model_evaluations(
    run: Path,
    data_dir: str | None,
    model: str | None,
    keep: Callable[[EvaluationRecord], bool] = lambda record: True,
) -> list[tuple[bool, EvaluationRecord]]:
    """The run's evaluations (``eval-*`` folders' ``metrics.json``) that ``keep`` keeps, of the
    model of digest ``model`` (None: the one now in the run), each with whether it is of the
    run's test split (``data_dir``'s ``test``), those of the test split last, each kind oldest
    first. Another folder named ``test`` is not the run's test split."""
    test = (Path(data_dir) / "test").resolve() if data_dir else None
    found = []
    for path in evaluation_records(run):
        record = read_record(path.parent)
        if record is not None and keep(record):
            folder = record.folder
            tested = test is not None and bool(folder) and Path(folder).resolve() == test
            found.append((tested, path.stat().st_mtime, record))
    if not found:
        return []
    from objrec.checkpoint import model_digest

    model = model or model_digest(checkpoint_file(run))
    current = sorted((f for f in found if f[2].model_digest == model), key=lambda f: f[:2])
    return [(tested, record) for tested, _, record in current]


def mixed_in(recognizer: Recognizer, probs: Any, topk: Sequence[TopClass]) -> list[str] | None:
    """An answer's :attr:`Prediction.confused_with`: its top class's partners in the pairs the
    run's evaluation mixed up (``recognizer.mixed``) that hold :data:`MIXED_PROB` or more of
    its probabilities ``probs`` (every class's, not its top-k alone: with a top-1 the partner at
    30% was never named); ``[]`` for none; None when the run records none."""
    partners = recognizer.mixed
    if partners is None or not topk:
        return None
    index = {name: i for i, name in enumerate(recognizer.classes)}
    named = [c for c in partners.get(str(topk[0]["class"]), []) if c in index]
    return [c for c in named if float(probs[index[c]]) >= MIXED_PROB]

"""An export's check on real photos (the file against the same graph in PyTorch on noise is
``export.graph.check_onnx``): its answers against objrec's own on real photos of the run's data
folder (:func:`photo_agreement`: in ONNX Runtime, and in OpenVINO for a body OpenVINO ran),
each photo batch said as it is compared; a file whose answers are apart is said so
(:func:`warn_if_apart`), in words that name the figures (:func:`apart_words`).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from objrec.config import CHECK_PHOTOS
from objrec.export.graph import largest_gap
from objrec.export.sidecar import confidence_sidecar
from objrec.images import UnreadableImageError, open_image
from objrec.int8_body import graph_engine
from objrec.listing import list_images
from objrec.meta import RunMeta
from objrec.metrics import answered
from objrec.model import Classifier
from objrec.progress import Reporter, or_silent
from objrec.quantize import calibration_set
from objrec.runtime import ENGINE_NAMES, OnnxModel
from objrec.thresholds import below_threshold, threshold_values
from objrec.words import joined, plural, span

if TYPE_CHECKING:
    from objrec.inference import Answers, Recognizer

log = logging.getLogger(__name__)


@dataclass
class Agreement:
    """The exported file's answers against objrec's own on real photos (:func:`photo_agreement`)."""

    runtime: str
    """What ran the file: ``onnxruntime``, or ``openvino`` as objrec runs an OpenVINO body."""
    photos: int
    max_prob_diff: float
    """The largest absolute difference of a probability, over every photo and class."""
    top_class_changed: int
    """Photos whose most probable class differs from objrec's."""
    max_score_diff: float = 0.0
    """The largest difference of the unknown score, read from the file as the sidecar says (its
    familiarity output, or the top probability), relative to the score's size where over 1 (as
    ``export.graph.FAMILIARITY_RTOL`` measures it): what ``predict``'s "unknown" answer is
    decided on."""
    unknown_changed: int = 0
    """Photos the file answers "unknown" and objrec not, or the reverse, at the sidecar's
    threshold."""
    changed_photos: tuple[int, ...] = ()
    """Which photos ``top_class_changed`` counts, by their place in the check's order: a photo
    changed in two runtimes is one (``ExportResult.top_class_changed``)."""

    @property
    def apart(self) -> bool:
        """Whether the file does not give objrec's answers: a probability over
        :data:`PHOTO_TOLERANCE` from objrec's, or an unknown score over :data:`SCORE_TOLERANCE`."""
        return self.max_prob_diff > PHOTO_TOLERANCE or self.max_score_diff > SCORE_TOLERANCE

    def as_dict(self) -> dict[str, Any]:
        return {
            "photos": self.photos,
            "max_prob_diff": self.max_prob_diff,
            "top_class_changed": self.top_class_changed,
            "max_score_diff": self.max_score_diff,
            "unknown_changed": self.unknown_changed,
        }


PHOTO_TOLERANCE = 1e-3
"""Above this difference of a probability from objrec's own answers on real photos, export warns
that the file does not give objrec's answers."""
SCORE_TOLERANCE = 1e-3
"""Above this difference of the unknown score from objrec's on real photos (relative to its size
where over 1: on the familiarity's scale, a thousandth of a typical image's score), export warns
as for a probability: the file would answer "unknown" otherwise than ``predict`` near the
threshold."""
SAMPLE_SHARE = 4
"""One photo in this many of the check comes from the built-in sample, the rest from the run's
data (the built-in sample's fill the check when the data has too few, or is not there)."""
PHOTO_BATCH = 16
"""Photos the check answers at a time: the batch OpenVINO runs an int8 body in (at 32, the
default 32 photos were one step of the check's progress)."""


def check_photos(meta: RunMeta, n: int = CHECK_PHOTOS) -> list[Path]:
    """The ``n`` real photos (fewer where there are not so many) export checks its file on: most
    of them from the run's data (:func:`data_photos`), the rest from the built-in sample's 120
    (downscaled Caltech-101 photos, ``quantize.calibration_set``), each spread over its classes."""
    sample = [s.path for s in calibration_set()]
    data = data_photos(meta.data_dir, n - n // SAMPLE_SHARE)
    return data + across_classes(sample, n - len(data))


def data_photos(data_dir: str | None, n: int = CHECK_PHOTOS) -> list[Path]:
    """Up to ``n`` images of ``data_dir``'s test split, else its valid split, spread over its
    classes (:func:`across_classes`); none when neither is there (a run moved to another
    machine)."""
    folders = [Path(data_dir) / split for split in ("test", "valid")] if data_dir else []
    folder = next((f for f in folders if f.is_dir()), None)
    if folder is None:
        return []
    try:
        found = list_images(folder, others=[])
    except OSError:
        return []
    return across_classes(found, n)


def across_classes(photos: Sequence[Path], n: int) -> list[Path]:
    """Up to ``n`` of ``photos`` (sorted, each in its class's folder), as many of each class as
    can be (one of each before a second of any), spread evenly over each class's photos; of more
    classes than ``n``, one of each of ``n`` classes spread evenly over them (not the first ``n``
    by name: a file wrong on a later class only went unmet)."""
    by_class: dict[Path, list[Path]] = {}
    for photo in photos:
        by_class.setdefault(photo.parent, []).append(photo)
    quota = dict.fromkeys(evenly(list(by_class), min(n, len(by_class))), 0)
    while sum(quota.values()) < min(n, len(photos)):
        for folder in quota:
            if quota[folder] < len(by_class[folder]) and sum(quota.values()) < n:
                quota[folder] += 1
    return [photo for folder, k in quota.items() for photo in evenly(by_class[folder], k)]


def evenly(items: Sequence[Path], k: int) -> list[Path]:
    """``k`` of ``items``, evenly spaced over them."""
    step = len(items) / k if k else 1.0
    return [items[int(i * step)] for i in range(k)]


def photo_agreement(
    model: Classifier,
    meta: RunMeta,
    path: Path,
    softmax: bool,
    photos: Sequence[Path],
    reporter: Reporter | None = None,
    confidence: dict[str, Any] | None = None,
) -> list[Agreement]:
    """The file at ``path`` against objrec's own answers (``predict``'s: the recognizer, its
    centre view, the body in the engine it trained on) on the readable ``photos``: run in ONNX
    Runtime, as an app runs it, and for a body OpenVINO ran, in OpenVINO as the script beside it
    runs it by default (:class:`ScriptEngine`: a static batch, float operators in float32, as
    objrec runs the body). Its probabilities and
    its unknown score, read as the sidecar's ``confidence`` entries say (:func:`file_answer`;
    default: the run's own, :func:`confidence_sidecar`), and whether that score is under the
    sidecar's threshold, against ``predict``'s. ``reporter`` counts the photos (minutes on a CPU
    for a large body: objrec's answers run PyTorch)."""
    from objrec.inference import Recognizer  # it imports this module

    recognizer = Recognizer(model, meta, unknown=False)
    onnx_model = OnnxModel(path)
    outputs = [o.name for o in onnx_model.session.get_outputs()]
    runners: dict[str, OnnxModel | ScriptEngine] = {"onnxruntime": onnx_model}
    if graph_engine(recognizer.model.body) == "openvino":
        runners["openvino"] = ScriptEngine(path, "openvino", outputs)
    if confidence is None:
        confidence = confidence_sidecar(meta, model, softmax, outputs)
    tallies = {name: Tally() for name in runners}
    reading, steps = (softmax, confidence), len(photos) * (1 + len(runners))
    reporter = or_silent(reporter)
    with reporter.task(checking_words(photos, runners), steps) as advance:
        reporter.counts("steps")  # a photo answered by one engine: not answers that agree
        for start in range(0, len(photos), PHOTO_BATCH):
            batch = photos[start : start + PHOTO_BATCH]
            answered = functools.partial(advance, len(batch))  # objrec's, then each engine's
            if images := opened_images(batch, recognizer.draft):
                photos_now = f"photos {span(start, len(batch), len(photos))}"
                doing = functools.partial(said_doing, reporter.doing, first=start == 0)
                doing = functools.partial(doing, photos=photos_now)
                compare_batch(recognizer, runners, images, reading, tallies, answered, doing)
            else:
                advance(len(batch) * (1 + len(runners)))
    return [tally.agreement(name) for name, tally in tallies.items()]


class ScriptEngine:
    """The file at ``path`` run by ``runtime`` as the script export writes beside it runs it
    (``export.script.ENGINES``: OpenVINO at objrec's static batches, float operators in float32),
    like :class:`~objrec.runtime.OnnxModel`: a tensor in, the ``names`` outputs out. The check
    measures the path a user of the script runs, not a like one of objrec's."""

    def __init__(self, path: Path, runtime: str, names: list[str]):
        from objrec.export.script import ENGINES

        self.engine, self.names = ENGINES[runtime](path), names

    def outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        images = x.detach().float().cpu().contiguous().numpy()
        return [torch.from_numpy(out) for out in self.engine.run(self.names, images)]


def checking_words(photos: Sequence[Path], runners: Mapping[str, object]) -> str:
    """The check's progress task: it counts steps, each photo answered by objrec and then by
    each engine (``checking the export: objrec, ONNX Runtime and OpenVINO answering 32 real photos
    each``: 48/96 steps), as the engines' first calls (OpenVINO compiling the file: 8 s) made one
    batch of every photo sit at "0/32" for 37 s; "32 real photos in objrec, ONNX Runtime and
    OpenVINO: 48/96" read as 96 of 32 photos, and "objrec's answers: 0/64 (0%)" as none of 64
    answers agreeing (review60b F17)."""
    names = ["objrec", *(ENGINE_NAMES.get(name, name) for name in runners)]
    return (
        f"checking the export: {joined(names)} answering {plural(len(photos), 'real photo')} each"
    )


def said_doing(
    say: Callable[[str], None], name: str, first: bool = False, photos: str = ""
) -> None:
    """Who the check's bar waits for (``Reporter.doing``), answering which ``photos`` (``photos
    17-32 of 32``), so that a bar standing at "32/96" for 35 s says OpenVINO is compiling the
    file, at its first batch, and "OpenVINO answering: 32/96" then "objrec answering: 48/96"
    does not read as going back."""
    if name == "objrec":
        said = "objrec answering"
    elif first and name == "openvino":
        said = "OpenVINO compiling the file, then answering"
    else:
        said = f"{ENGINE_NAMES.get(name, name)} answering"
    say(f"{photos}: {said}" if photos else said)


@dataclass
class Tally:
    """One runtime's differences from objrec's answers so far (:class:`Agreement`'s)."""

    photos: int = 0
    prob: float = 0.0
    changed: list[int] = field(default_factory=list)
    score: float = 0.0
    unknown_changed: int = 0

    def add(self, got: Answers, expected: Answers, threshold: float | None) -> None:
        """A batch's probabilities and unknown scores, the file's (``got``) and objrec's."""
        tops = (answered(got.probs) != answered(expected.probs)).nonzero().flatten()
        self.changed += [self.photos + int(i) for i in tops]  # their places in the check
        self.photos += len(expected.probs)
        self.prob = max(self.prob, largest_gap((got.probs - expected.probs).abs()))
        apart = (got.scores - expected.scores).abs() / expected.scores.abs().clamp(min=1)
        self.score = max(self.score, largest_gap(apart))
        if threshold is not None:
            flipped = below_threshold(got.scores, threshold) != below_threshold(
                expected.scores, threshold
            )
            self.unknown_changed += int(flipped.sum())

    def agreement(self, runtime: str) -> Agreement:
        changed = (len(self.changed), self.score, self.unknown_changed, tuple(self.changed))
        return Agreement(runtime, self.photos, self.prob, *changed)


def compare_batch(
    recognizer: Recognizer,
    runners: Mapping[str, OnnxModel | ScriptEngine],
    images: list,
    reading: tuple[bool, dict[str, Any]],
    tallies: dict[str, Tally],
    answered: Callable[[], object] = lambda: None,
    doing: Callable[[str], object] = lambda name: None,
) -> None:
    """Each runner's answers on ``images`` against the ``recognizer``'s, read as ``reading``
    (softmax, the sidecar's confidence entries) says, added to its tally; ``answered`` is called
    after objrec's answers and after each runner's, ``doing`` with the name of each (``objrec``,
    then each runner's) before its answers."""
    softmax, confidence = reading
    doing("objrec")
    expected, x = recognizer.answer(images), recognizer.preprocess(images)
    answered()
    for name, runner in runners.items():
        doing(name)
        got = file_answer(runner.outputs(x), confidence, recognizer, softmax)
        tallies[name].add(got, expected, confidence["unknown"]["threshold"])
        answered()


def file_answer(
    outputs: Sequence[torch.Tensor],
    confidence: dict[str, Any],
    recognizer: Recognizer,
    softmax: bool,
) -> Answers:
    """The file's probabilities and unknown scores from its ``outputs``, read as the sidecar's
    ``confidence`` entries tell a caller to (as ``model_infer.py`` reads them): the scores are
    the output the unknown entry's ``from`` names, else the top probability."""
    from objrec.inference import Answers

    probs = outputs[0] if softmax else recognizer.combine([outputs[0]])
    named = dict(zip(confidence["outputs"], outputs, strict=True))
    unknown = confidence["unknown"]
    scores = threshold_values(unknown["score"], probs, named.get(unknown["from"]))
    return Answers(probs, scores.float(), torch.zeros(len(probs), dtype=torch.bool))


def opened_images(paths: Sequence[Path], draft: int | None) -> list:
    """The images of ``paths`` that open, decoded as objrec decodes them."""
    images = []
    for photo in paths:
        try:
            images.append(open_image(photo, draft))
        except UnreadableImageError:
            log.info("%s left out of the export's check: unreadable", photo)
    return images


def warn_if_apart(answers: Sequence[Agreement]) -> None:
    """Warn, in one sentence, when the file as the script beside it runs it by default (the last
    of ``answers``: in OpenVINO for an int8 body OpenVINO ran, else in ONNX Runtime) is
    :attr:`~Agreement.apart` from objrec's answers. ONNX Runtime apart where OpenVINO is not is
    no warning: the script runs the file in OpenVINO, and export's lines say how far ONNX Runtime
    alone (an app's) is (:func:`onnxruntime_words`)."""
    default = answers[-1]
    if default.apart:
        log.warning(
            "the exported file, run in %s as %s runs it, %s: it does not give objrec's answers; "
            "predict and serve do",
            ENGINE_NAMES[default.runtime],
            SCRIPT_NAME,
            apart_words(default),
        )
    elif answers[0].apart:
        log.info("%s", onnxruntime_words(answers[0]))


SCRIPT_NAME = "model_infer.py"
"""The script export writes beside the model, as its messages name it."""


def onnxruntime_words(a: Agreement) -> str:
    """How far ONNX Runtime alone is from objrec's answers on an int8 body OpenVINO ran, and
    what gives them in any runtime: a new run, beside this one, as README and docs/export.md
    say (``out=run`` named the run just exported, which train refuses, or with ``force``
    replaces; and ``data_dir``, the parameter's name before 7 December 2026)."""
    return (
        f"in ONNX Runtime alone (an app's, or {SCRIPT_NAME} without openvino), "
        f"the file {apart_words(a)}, as objrec ran this int8 body in OpenVINO, whose 8-bit "
        "arithmetic rounds otherwise; for a file that any runtime reproduces, train an fp32 run "
        "beside this one, `train(data, out='run-fp32', precision='fp32')`, and export that"
    )


UNREADABLE_CHECK = (
    "%s records its export's check (answers_checked) in a form this objrec cannot read (%s): "
    "its figures are not said"
)
"""The WARNING of a sidecar whose check this objrec cannot read: the file, then why."""


def recorded_check(sidecar: Path) -> dict[str, Agreement]:
    """The export's check as its sidecar records it (``answers_checked``, written by
    ``export.sidecar.checked_record``), by runtime: what ``share`` says of an export it copied,
    which it did not check itself. Nothing where the sidecar or its entry is missing (an older
    objrec's export); nothing and a WARNING where they are not as export writes them
    (:func:`checked_in`)."""
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except OSError:
        return {}
    except ValueError as exc:
        log.warning(UNREADABLE_CHECK, sidecar, exc)
        return {}
    return checked_in(record, sidecar)


def checked_in(record: Any, sidecar: Path) -> dict[str, Agreement]:
    """The export's check in ``record``, the sidecar ``sidecar`` as read (``share`` reads it once
    and passes it on, so that its WARNING is said once), by runtime: nothing where its entry is
    missing; nothing and a WARNING naming ``sidecar`` where it is not as export writes it, so
    that a record this objrec cannot read again (a figure ``Agreement`` does not take) is not
    taken silently for no check at all."""
    try:
        checked = record.get("answers_checked") or {}
        return {runtime: Agreement(runtime, **figures) for runtime, figures in checked.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        log.warning(UNREADABLE_CHECK, sidecar, exc)
        return {}


def onnxruntime_gap(checked: Mapping[str, Agreement]) -> Agreement | None:
    """ONNX Runtime's agreement, where the script runs the file in OpenVINO by default (an int8
    body OpenVINO ran: an ``openvino`` check) and ONNX Runtime alone is apart from objrec's
    answers: the gap export's line of ONNX Runtime names (``onnxruntime_words``)."""
    alone = checked.get("onnxruntime")
    return alone if "openvino" in checked and alone is not None and alone.apart else None


def apart_words(a: Agreement, score: bool = False) -> str:
    """How far the file's answers are from objrec's: "differs from objrec's answers by up to
    0.072 in a probability on 32 real photos (2 top classes differ)", the unknown score and its
    answers named too where the score is over :data:`SCORE_TOLERANCE`, or where ``score`` asks
    (export's line of a runtime that agrees)."""
    far = [f"{a.max_prob_diff:.2g} in a probability"]
    with_score = score or a.max_score_diff > SCORE_TOLERANCE
    if with_score:
        far.append(f"{a.max_score_diff:.2g} in the unknown score")
    return (
        f"differs from objrec's answers by up to {' and '.join(far)} on "
        f"{plural(a.photos, 'real photo')} ({changed_words(a, with_score)})"
    )


def changed_words(a: Agreement, with_score: bool) -> str:
    """``2 top classes differ, 1 unknown answer differs``, each count above 0 (the unknown
    answers ``with_score``), or ``no top class or unknown answer differs``: "0 top classes
    differ, 0 unknown answers differ" read oddly, beside export's other line, which said the
    same as "top class changed: 0, unknown answer changed: 0"."""
    counts = [(a.top_class_changed, "top class", "top classes")]
    counts += [(a.unknown_changed, "unknown answer", "unknown answers")] if with_score else []
    said = [differ(n, noun, nouns) for n, noun, nouns in counts if n]
    return ", ".join(said) if said else f"no {' or '.join(c[1] for c in counts)} differs"


def differ(n: int, noun: str, nouns: str | None = None) -> str:
    """``2 top classes differ``, ``1 unknown answer differs``."""
    return f"{plural(n, noun, nouns)} {'differs' if n == 1 else 'differ'}"

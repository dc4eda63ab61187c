"""``export``: the whole model (body + head, softmax optional) as ONNX, checked against PyTorch.

Beside ``model.onnx`` goes ``model.json``: the class names in output order and the preprocessing a
caller must apply (resize the short side, centre crop, RGB scaled to [0, 1], normalise, NCHW).
An export whose ONNX Runtime output differs from PyTorch's by more than ``TOLERANCE`` (max absolute
difference of probabilities) is deleted and reported as an error.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from objrec import __version__, images
from objrec.checkpoint import load_model, model_digest, warn_if_unfinished
from objrec.config import CHECK_PHOTOS, require_number
from objrec.data import SPLITS
from objrec.errors import ObjrecError
from objrec.images import (
    IMAGE_ERRORS,
    MAX_PIXELS,
    UnreadableImageError,
    list_images,
    open_image,
)
from objrec.kept import KeptThreshold, usable_kept
from objrec.manifest import sha256_file
from objrec.meta import Calibration, RunMeta
from objrec.model import Classifier, HeadEnsemble, as_stored
from objrec.model_file import refuse_run_file
from objrec.outputs import (
    FILES_SHA256,
    default_out,
    discard,
    is_export_script,
    is_export_sidecar,
    is_plain_file,
    json_dict,
    new_folders,
    output_path,
    refuse_overwrite,
    reported_as,
    script_path,
    staged_together,
    temporary_name,
    writing_outputs,
)
from objrec.progress import Reporter, joined, or_silent, plural, span
from objrec.quantize import QuantizedBody, calibration_set, damaged_graph, graph_engine
from objrec.runtime import (
    ENGINE_NAMES,
    TOLERANCE,
    OnnxModel,
    export_onnx,
    onnxruntime_available,
)
from objrec.transforms import MAX_ASPECT, TTA_VIEWS, draft_size, tta_view_geometry
from objrec.unknown_scores import Readable

if TYPE_CHECKING:
    from objrec.inference import Answers, Recognizer

log = logging.getLogger(__name__)

FORMATS = ("onnx",)


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
    :data:`FAMILIARITY_RTOL` measures it): what ``predict``'s "unknown" answer is decided on."""
    unknown_changed: int = 0
    """Photos the file answers "unknown" and objrec not, or the reverse, at the sidecar's
    threshold."""

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


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    max_diff: float
    """The file against the same graph in PyTorch (ONNX Runtime for an int8 body), on noise."""
    answers: list[Agreement] = field(default_factory=list)
    """The file against objrec's answers on real photos: in ONNX Runtime, then in OpenVINO for a
    body OpenVINO ran."""
    kept: KeptThreshold | None = None
    """The run's kept threshold, when there is one (the sidecar's unless ``current`` is False)."""
    script: Path | None = None
    """The script beside the model that runs it without objrec (:func:`script_path`)."""


class Tail(nn.Module):
    """Body features -> the exported outputs: the head's probabilities, calibrated by the run's
    temperature (or the uncalibrated scores they come from: the log of the heads' averaged
    probabilities, output as ``logits``), and the familiarity score when the run has one."""

    def __init__(
        self, model: Classifier, temperature: float, softmax: bool, feature_dtype: str = "float32"
    ):
        super().__init__()
        self.head, self.familiarity = model.head, model.familiarity
        self.temperature, self.softmax = temperature, softmax
        self.feature_dtype = feature_dtype
        """The run's stored features' dtype: float16 rows are rounded to (``as_stored``)."""

    @property
    def output_names(self) -> tuple[str, ...]:
        first = "probabilities" if self.softmax else "logits"
        return (first,) if self.familiarity is None else (first, "familiarity")

    def forward(self, features: torch.Tensor):
        features = as_stored(features, self.feature_dtype)
        logits = head_scores(self.head, features)
        out = (logits / self.temperature).softmax(1) if self.softmax else logits
        return out if self.familiarity is None else (out, self.familiarity(features))


def head_scores(head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """``head(features)``, the heads' averaged probabilities' log written without
    ``torch.logsumexp``: the ONNX ``ReduceLogSumExp`` it exports to loses its axis in OpenVINO
    (2026.4 reduces over every axis), and then OpenVINO refuses the file. The same sum, as
    ``logsumexp`` computes it: the members' largest log-probability, then the log of the sum of
    the exponentials above it."""
    if not isinstance(head, HeadEnsemble):
        return head(features)
    members = head.member_logits(features).log_softmax(-1)
    top = members.amax(0)
    return top + (members - top).exp().sum(0).log() - math.log(len(members))


def as_tuple(outputs) -> tuple[torch.Tensor, ...]:
    return outputs if isinstance(outputs, tuple) else (outputs,)


FAMILIARITY_RTOL = 1e-3
"""How closely ONNX Runtime must reproduce the familiarity score, relative to its size: the score
sums squares over thousands of features, so float32 rounding (and an int8 body's two runtimes) move
it by about 1e-4 of its size."""


def onnx_differences(
    module: nn.Module, path: Path, input_size: int, softmax: bool
) -> tuple[float, float]:
    """ONNX Runtime against PyTorch on sample inputs: the max absolute difference of
    probabilities, and the max difference of familiarity scores relative to their size (0 without
    one)."""
    onnx_model = OnnxModel(path)
    g = torch.Generator().manual_seed(0)
    worst, familiarity = 0.0, 0.0
    for batch in (1, 5):
        x = torch.randn(batch, 3, input_size, input_size, generator=g)
        with torch.inference_mode():
            expected = as_tuple(module(x))
        got = onnx_model.outputs(x)
        e, o = (expected[0], got[0]) if softmax else (expected[0].softmax(1), got[0].softmax(1))
        worst = max(worst, largest_gap((e - o).abs()))
        if len(expected) > 1:
            relative = (expected[1] - got[1]).abs() / expected[1].abs().clamp(min=1)
            familiarity = max(familiarity, largest_gap(relative))
    return worst, familiarity


def largest_gap(gaps: torch.Tensor) -> float:
    """The largest of ``gaps`` (differences from objrec's answers), infinite where one is NaN: a
    file answering NaN is not close, and ``max(worst, nan)`` keeps ``worst``, so a check that
    took the largest with ``max`` passed such a file as agreeing."""
    return float(gaps.nan_to_num(nan=math.inf).max())


def check_onnx(module: nn.Module, path: Path, input_size: int, softmax: bool) -> float:
    """Max absolute difference of probabilities, ONNX Runtime against PyTorch, on sample inputs;
    a familiarity score further off than ``FAMILIARITY_RTOL`` counts as a difference of 1."""
    diff, familiarity = onnx_differences(module, path, input_size, softmax)
    return diff if familiarity <= FAMILIARITY_RTOL else 1.0


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
        for start in range(0, len(photos), PHOTO_BATCH):
            batch = photos[start : start + PHOTO_BATCH]
            answered = functools.partial(advance, len(batch))  # objrec's, then each engine's
            if images := readable(batch, recognizer.draft):
                photos_now = f"photos {span(start, len(batch), len(photos))}"
                doing = functools.partial(said_doing, reporter.doing, first=start == 0)
                doing = functools.partial(doing, photos=photos_now)
                compare_batch(recognizer, runners, images, reading, tallies, answered, doing)
            else:
                advance(len(batch) * (1 + len(runners)))
    return [tally.agreement(name) for name, tally in tallies.items()]


class ScriptEngine:
    """The file at ``path`` run by ``runtime`` as the script export writes beside it runs it
    (``export_script.ENGINES``: OpenVINO at objrec's static batches, float operators in float32),
    like :class:`~objrec.runtime.OnnxModel`: a tensor in, the ``names`` outputs out. The check
    measures the path a user of the script runs, not a like one of objrec's."""

    def __init__(self, path: Path, runtime: str, names: list[str]):
        from objrec.export_script import ENGINES

        self.engine, self.names = ENGINES[runtime](path), names

    def outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        images = x.detach().float().cpu().contiguous().numpy()
        return [torch.from_numpy(out) for out in self.engine.run(self.names, images)]


def checking_words(photos: Sequence[Path], runners: Mapping[str, object]) -> str:
    """The check's progress task: it counts answers, each photo's objrec's and then each
    engine's (``checking the export: objrec's, ONNX Runtime's and OpenVINO's answers to 32 real
    photos``: 48/96), as the engines' first calls (OpenVINO compiling the file: 8 s) made one
    batch of every photo sit at "0/32" for 37 s; "32 real photos in objrec, ONNX Runtime and
    OpenVINO: 48/96" read as 96 of 32 photos."""
    names = ["objrec", *(ENGINE_NAMES.get(name, name) for name in runners)]
    answers = joined([name + "'s" for name in names]) + " answers"
    return f"checking the export: {answers} to {plural(len(photos), 'real photo')}"


def said_doing(
    say: Callable[[str], None], name: str, first: bool = False, photos: str = ""
) -> None:
    """Whose answers the check's bar waits for (``Reporter.doing``), of which ``photos`` (``photos
    17-32 of 32``): the file standing at "32/96" for 35 s said nothing of OpenVINO compiling it,
    at its first batch (newcomer50), and "OpenVINO's answers: 32/96" then "objrec's answers:
    48/96" read as going back where the batch was not said (newcomer51)."""
    if name == "objrec":
        said = "objrec's answers"
    elif first and name == "openvino":
        said = "OpenVINO compiling the file, then its answers"
    else:
        said = f"{ENGINE_NAMES.get(name, name)}'s answers"
    say(f"{photos}: {said}" if photos else said)


@dataclass
class Tally:
    """One runtime's differences from objrec's answers so far (:class:`Agreement`'s)."""

    photos: int = 0
    prob: float = 0.0
    top_changed: int = 0
    score: float = 0.0
    unknown_changed: int = 0

    def add(self, got: Answers, expected: Answers, threshold: float | None) -> None:
        """A batch's probabilities and unknown scores, the file's (``got``) and objrec's."""
        self.photos += len(expected.probs)
        self.prob = max(self.prob, largest_gap((got.probs - expected.probs).abs()))
        self.top_changed += int((got.probs.argmax(1) != expected.probs.argmax(1)).sum())
        apart = (got.scores - expected.scores).abs() / expected.scores.abs().clamp(min=1)
        self.score = max(self.score, largest_gap(apart))
        if threshold is not None:
            flipped = (got.scores < threshold) != (expected.scores < threshold)
            self.unknown_changed += int(flipped.sum())

    def agreement(self, runtime: str) -> Agreement:
        return Agreement(
            runtime, self.photos, self.prob, self.top_changed, self.score, self.unknown_changed
        )


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
    scores = named.get(confidence["unknown"]["from"], probs.max(1).values)
    return Answers(probs, scores.float(), torch.zeros(len(probs), dtype=torch.bool))


def readable(paths: Sequence[Path], draft: int | None) -> list:
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
    what gives them in any runtime."""
    return (
        f"in ONNX Runtime alone (an app's, or {SCRIPT_NAME} where openvino is not installed), "
        f"the file {apart_words(a)}, as objrec ran this int8 body in OpenVINO, whose 8-bit "
        "arithmetic rounds otherwise; retrain with `train(data_dir, out=run, precision='fp32')` "
        "for a file that any runtime reproduces"
    )


def apart_words(a: Agreement) -> str:
    """How far the file's answers are from objrec's: "differs from objrec's answers by up to
    0.072 in a probability on 32 real photos (2 top classes differ)", the unknown score and its
    answers named too where the score is over :data:`SCORE_TOLERANCE`."""
    far = [f"{a.max_prob_diff:.2g} in a probability"]
    changed = [differ(a.top_class_changed, "top class", "top classes")]
    if a.max_score_diff > SCORE_TOLERANCE:
        far.append(f"{a.max_score_diff:.2g} in the unknown score")
        changed.append(differ(a.unknown_changed, "unknown answer"))
    return (
        f"differs from objrec's answers by up to {' and '.join(far)} on "
        f"{plural(a.photos, 'real photo')} ({', '.join(changed)})"
    )


def differ(n: int, noun: str, nouns: str | None = None) -> str:
    """``2 top classes differ``, ``1 unknown answer differs``."""
    return f"{plural(n, noun, nouns)} {'differs' if n == 1 else 'differ'}"


OPENVINO_RUN = (
    "model_infer.py runs this file in OpenVINO where openvino is installed (as it is with objrec; "
    "--runtime onnxruntime for ONNX Runtime), as objrec ran this int8 body: at a static batch "
    "(its kernels for a dynamic batch axis differ) with INFERENCE_PRECISION_HINT f32 (on CPUs "
    "with AMX it would pick bfloat16), checked as answers_checked.openvino; ONNX Runtime's "
    "8-bit arithmetic rounds otherwise (answers_checked.onnxruntime)"
)
"""The sidecar's word on an OpenVINO body's export: what the script runs it in, and how."""


def int8_sidecar(body: nn.Module) -> dict[str, Any]:
    """Which engine ran an int8 body in training (nothing for an fp32 body), and for OpenVINO how
    to run the file as objrec does (:data:`OPENVINO_RUN`)."""
    if not isinstance(body, QuantizedBody):
        return {}
    return {"int8_engine": body.engine} | (
        {"openvino": OPENVINO_RUN} if body.engine == "openvino" else {}
    )


def preprocessing(meta: RunMeta, softmax: bool, digest: str | None = None) -> dict[str, Any]:
    """What a caller of the exported model needs besides the graph; ``digest`` (the model file's)
    tells ``share --onnx`` the export is of that model (:func:`reusable_export`)."""
    data = meta.data
    return {
        "objrec_version": __version__,
        **({"model_digest": digest} if digest else {}),
        "backbone": meta.backbone,
        "precision": meta.train_config.precision if meta.train_config else "fp32",
        "classes": list(meta.classes),
        "output": "probabilities" if softmax else "logits",
        "input": {
            "layout": "NCHW",
            "colour": "RGB, scaled to [0, 1] before normalisation",
            "resize_short_side": data.resize_size,
            "resize": "the short side to resize_short_side, the long side in proportion, rounded "
            "down (as torchvision does), antialiased, on the uint8 pixels as PyTorch does: across, "
            "then down, each pass to uint8; each output pixel's filter weights (widened by the "
            "reduction, then normalised) as 16-bit integers (the most bits, at most 22, that keep "
            "the largest weight under 2**15), the sum rounded half up; Pillow's resize rounds "
            "otherwise (a value in a few hundred a level of 255 off). nearest: the pixel at "
            "floor(i * in / out). The script written beside the model (model_infer.py) does all "
            "of this in NumPy",
            "center_crop": data.input_size,
            "crop": "the centre center_crop square, offsets round((side - center_crop) / 2)",
            "interpolation": data.interpolation,
            "mean": list(data.mean),
            "std": list(data.std),
            "decode": "turn upright by the EXIF orientation, convert to RGB: transparent "
            "pixels laid over white, 16-bit grey divided by 256, 32-bit grey (a TIFF of integers "
            "or floats): floats all within 0..1 times 255, any other scaled by its own range, "
            "(value - darkest) * (255 / (brightest - darkest)), each rounded down, a flat image "
            "and values that are no number 0 (PIL's image.convert('RGB') does none of these); "
            "decode a JPEG (MPO ones too) at the smallest DCT scale (1/2, 1/4, 1/8) that keeps "
            "both sides at least jpeg_draft_min_side pixels, as PIL's image.draft('RGB', (n, n)) "
            "does",
            "jpeg_draft_min_side": draft_size(data),
            "max_aspect": MAX_ASPECT,
            "aspect": "before resizing the short side, an image whose long side is over "
            "max_aspect short sides keeps only its centre part that long",
        },
        "test_time_views": [
            {"name": name, "resize_short_side": resize, "flip_horizontal": flip}
            for name in TTA_VIEWS
            for resize, flip in [tta_view_geometry(data, name)]
        ],
        "test_time_augmentation": "optional: run each view (resize the short side, centre crop "
        "center_crop, mirror when flip_horizontal) and average the output probabilities",
    }


CALIBRATION = (
    "the probabilities are softmax(scores / temperature), where scores is the head's output: the "
    "log of its heads' averaged probabilities (the log-softmax of the logits with one head), not "
    "the raw logits"
)
"""The sidecar's calibration rule: the head answers ``model.mean_log_probs``, not logits."""


def calibration_text(softmax: bool, outputs: list[str]) -> str:
    """:data:`CALIBRATION` and which of the exported ``outputs`` holds what: the probabilities
    (the graph applied the temperature) or the scores to apply it to."""
    if softmax:
        return (
            CALIBRATION + f"; the graph applies it: the {outputs[0]} output holds the probabilities"
        )
    return CALIBRATION + f"; the {outputs[0]} output holds these scores: apply it to them"


def confidence_sidecar(
    meta: RunMeta,
    model: Classifier,
    softmax: bool,
    outputs: list[str],
    threshold: float | None = None,
    kept_on: str | None = None,
) -> dict[str, Any]:
    """What another runtime needs to give objrec's calibrated probabilities and unknown answer;
    ``threshold`` replaces the run's own (``export --threshold``, then ``threshold_given``, even
    when equal to it; or the one ``evaluate --keep-threshold`` kept on ``kept_on``), which is
    kept beside it."""
    calibration = meta.calibration or Calibration()
    feature_score = model.familiarity is not None
    score = calibration.unknown_score if feature_score else "msp"
    return {
        "outputs": outputs,
        "temperature": calibration.temperature,
        "temperature_applied": softmax,
        "calibration": calibration_text(softmax, outputs),
        "unknown": {
            "score": score,
            "from": outputs[1] if feature_score else "the top probability",
            "scale": "1: a typical validation image of the known classes; 0: the run's threshold"
            if isinstance(model.familiarity, Readable)
            else None,
            "threshold": calibration.unknown_threshold if threshold is None else threshold,
            "threshold_given": threshold is not None and kept_on is None,
            "run_threshold": calibration.unknown_threshold,
            "validation_images": calibration.validation_images,
            "threshold_kept_on": kept_on,
            "rule": "the image looks like none of the classes when its score is below the "
            "threshold; with test-time views too, the score is the centre view's (the first "
            "test-time view, the one the threshold was fitted on); report the top classes all "
            "the same",
        },
    }


def rename_tensors(graph, names: dict[str, str]) -> None:
    """Rename the tensors ``names`` maps wherever ``graph`` names them (nodes, inputs, outputs)."""
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for info in (*graph.input, *graph.output, *graph.value_info):
        info.name = names.get(info.name, info.name)


def node_domains(graph) -> set[str]:
    """The operator domains ``graph``'s nodes use, in the graphs their attributes hold too (an
    ``If``'s branches); ``""`` and ``ai.onnx`` are one domain, the default."""
    domains = set()
    for node in graph.node:
        domains.add(node.domain or "")
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                domains |= node_domains(sub)
    return {"" if d == "ai.onnx" else d for d in domains}


def drop_unused_opsets(model) -> None:
    """Keep only the opset imports of the domains ``model``'s nodes and functions use (and the
    default domain's), once each. ONNX Runtime's pre-processing stamps the int8 body with nine
    (ai.onnx.ml 5, com.microsoft.nchwc, ...), and an ONNX Runtime before 1.18 refuses a file
    that imports an opset newer than it knows, used or not: a default run's int8 export did not
    load in 1.16 or 1.17 (a small board's may be older than objrec's), its fp32 export did."""
    used = node_domains(model.graph) | {""}
    for function in model.functions:
        used |= {function.domain} | node_domains(function)
    kept = {}  # the first import of a domain: the joined graph imports the default one twice
    for opset in model.opset_import:
        domain = "" if opset.domain == "ai.onnx" else opset.domain
        if domain in used and domain not in kept:
            kept[domain] = opset
    del model.opset_import[:]
    model.opset_import.extend(kept.values())


def int8_graph(body: QuantizedBody):
    """The int8 body's graph as an ONNX model; refused in one sentence when it does not parse."""
    import onnx

    try:
        return onnx.load_from_string(body.graph_bytes())
    except Exception as exc:  # protobuf's DecodeError and onnx's own: any means "damaged"
        raise damaged_graph(exc) from exc


def export_quantized(body: QuantizedBody, head: Tail, path: Path) -> Path:
    """One graph: the int8 body exactly as trained, then the fp32 head (joined by onnx.compose).

    Its input and outputs have the names an fp32 body's export gives them (``input``, then the
    head's ``probabilities`` or ``logits`` and ``familiarity``), not the prefixed names joining
    the two graphs gives them, so a caller reads any export by the same names."""
    import onnx
    from onnx import compose

    head_path = temporary_name(path)
    try:
        with reported_as(path, head_path):  # a full disk: the file asked for, not the head's
            export_onnx(
                head.eval(),
                head_path,
                body.n_features,
                sample_shape=(body.n_features,),
                output_names=head.output_names,
            )
        body_graph = int8_graph(body)
        head_graph = onnx.load(str(head_path))
    finally:
        discard(head_path)
    head_graph = compose.add_prefix(head_graph, "head/")
    head_graph.ir_version = body_graph.ir_version
    joined = compose.merge_models(
        body_graph,
        head_graph,
        io_map=[(body_graph.graph.output[0].name, "head/input")],
        prefix1="body/",
    )
    names = {joined.graph.input[0].name: "input"}
    names |= {f"head/{name}": name for name in head.output_names}
    rename_tensors(joined.graph, names)
    drop_unused_opsets(joined)
    onnx.save(joined, str(path))
    return path


def export_model(
    run: Path,
    out: Path | None = None,
    fmt: str = "onnx",
    softmax: bool = True,
    force: bool = False,
    threshold: float | None = None,
    reporter: Reporter | None = None,
    photos: int = CHECK_PHOTOS,
) -> ExportResult:
    """Export the model of ``run`` to ``out`` (default :func:`default_out`) and check it, on
    ``photos`` real photos (:func:`check_photos`); the sidecar's unknown threshold is
    ``threshold`` when given (on the run's score), else the one ``evaluate --keep-threshold`` kept
    for the run (``kept``), else the run's. ``reporter`` shows the writing and the check on real
    photos (None: silent)."""
    require_number(threshold, finite=True)
    if isinstance(photos, bool) or not isinstance(photos, int) or photos < 1:
        raise ObjrecError(f"`photos` must be a whole number of at least 1, not {photos!r}")
    if fmt not in FORMATS:
        raise ObjrecError(f"`fmt` must be one of {', '.join(FORMATS)}")
    require_onnxruntime()
    reporter = or_silent(reporter)
    with reporter.task("loading the model", None):  # seconds: the checkpoint, torchvision
        model, meta = load_model(run)
    return export_loaded(
        run,
        model,
        meta,
        out,
        reporter,
        softmax=softmax,
        threshold=threshold,
        force=force,
        photos=photos,
    )


def require_onnxruntime() -> None:
    """Refuse to export without ONNX Runtime, which checks the file written."""
    if not onnxruntime_available():
        raise ObjrecError("exporting needs onnxruntime: pip install onnxruntime")


def export_loaded(
    run: Path,
    model: Classifier,
    meta: RunMeta,
    out: Path | None = None,
    reporter: Reporter | None = None,
    *,
    softmax: bool = True,
    threshold: float | None = None,
    force: bool = False,
    photos: int = CHECK_PHOTOS,
) -> ExportResult:
    """:func:`export_model` of ``model`` and ``meta``, the model of ``run`` already read, whose
    digest ``meta.digest`` is: the threshold kept for it, and the sidecar names it. ``share``
    exports the model it read so, never the run's file read again, which a retrain may have
    replaced meanwhile."""
    require_onnxruntime()
    warn_if_unfinished(Path(run))
    path = onnx_named(output_path(out)) if out else default_out(Path(run))
    sidecar, script = export_names(path, Path(run), meta.data_dir, force)
    kept = usable_kept(run, threshold, model=meta.digest)
    kept_on = kept.kept_on if kept is not None and kept.current else None
    if kept is not None and kept.current:
        threshold = kept.threshold
    with (
        writing_outputs(path.parent),
        new_folders(path.parent),
        staged_together([path, sidecar, script]) as (*parts, script_part),
    ):
        script_part.write_text(script_text(path.name))
        checked = check_photos(meta, photos)
        settings = (softmax, threshold, checked, reporter, kept_on)
        digest = meta.digest  # of the bytes loaded: the file may hold a retrain's model by now
        result = export_checked(
            model, meta, path, *settings, parts=parts, digest=digest, beside={script: script_part}
        )
    return replace(result, kept=kept, script=script)


def files_sha256(written: Mapping[Path, Path]) -> dict[str, str]:
    """Each file's SHA-256 by its name (of the file it becomes), read from where it was written."""
    return {path.name: sha256_file(part) for path, part in written.items()}


def reusable_export(run: Path, model: str | None = None) -> list[Path] | None:
    """The three files of the export in ``run`` (``objrec export RUN``), where its sidecar says
    this objrec made it from the run's model of digest ``model`` (the one ``share`` read; None:
    the model file as it is now), as
    ``share --onnx`` exports it: probabilities, the run's threshold or the one kept now, and the
    graph and the script as written (their ``files_sha256``: a script the user edited, with a path
    of their machine perhaps, or a damaged graph is never shipped). Share copies them rather than
    export and check again (a minute on a CPU); None otherwise, and share exports afresh into its
    own folder, the run's files left as they are."""
    path = default_out(Path(run))
    sidecar, script = path.with_suffix(".json"), script_path(path)
    if not (is_plain_file(path) and is_export_sidecar(sidecar) and is_export_script(script)):
        return None
    written = json_dict(sidecar)
    unknown = written.get("unknown") or {}
    model = model or model_digest(Path(run))
    kept = usable_kept(run, None, model=model)
    same = (
        written.get("model_digest") == model
        and written.get("objrec_version") == __version__
        and written.get("output") == "probabilities"
        and not unknown.get("threshold_given")
        and unknown.get("threshold_kept_on") == (kept.kept_on if kept and kept.current else None)
    )
    return [path, sidecar, script] if same and as_written(written, [path, script]) else None


def as_written(sidecar: Mapping[str, Any], paths: Sequence[Path]) -> bool:
    """Whether each of ``paths`` holds the bytes its export wrote, by the SHA-256 the ``sidecar``
    records (:data:`FILES_SHA256`; an export made before 5 December 2026 records none)."""
    recorded = sidecar.get(FILES_SHA256)
    if not isinstance(recorded, dict):
        return False
    return all(recorded.get(path.name) == sha256_file(path) for path in paths)


def onnx_named(path: Path) -> Path:
    """``path`` with ``.onnx`` added when its name has no extension (and it is no folder):
    ``export --out exp2`` wrote an ONNX file named ``exp2``, beside ``exp2.json`` and
    ``exp2_infer.py``, which tools that know a model by its extension do not open (newcomer48)."""
    if path.suffix or path.is_dir():
        return path
    named = path.with_name(f"{path.name}.onnx")
    log.info("`out` %s has no extension: the model goes to %s", path, named)
    return named


def export_names(path: Path, run: Path, data_dir: str | None, force: bool) -> tuple[Path, Path]:
    """The sidecar and the script an export to ``path`` writes beside it, once the three names
    are checked: none may be a file of the user's, nor, without ``force``, an earlier export."""
    sidecar = path.with_suffix(".json")
    if path.suffix.lower() == ".json":  # the sidecar's own name (a case-blind disk's too)
        raise ObjrecError(
            f"`out` {path} ends in .json, the name of the JSON file the export writes beside the "
            f"model: name the model {path.with_suffix('.onnx').name} instead"
        )
    refuse_in_the_splits(path, data_dir, run)
    refuse_run_file(path, run, "out")
    script = script_path(path)
    refuse_users_sidecar(sidecar, path, run)  # first: `force` cannot lift these, so never advise it
    refuse_users_script(script, path)
    for target in (path, sidecar, script):
        refuse_overwrite(target, force)
    return sidecar, script


def refuse_in_the_splits(path: Path, data_dir: str | None, run: Path) -> None:
    """Refuse a model ``path`` inside a split (train, valid or test) of ``data_dir``, the split
    folder ``run`` was trained on: in a class folder there, the three files were warned of by
    every command as files that are not images, and the next ``split`` into that folder with
    ``force`` (the way to split it again) replaced the class folder whole, the export with it.
    The split folder itself is left allowed: ``split`` keeps what lies beside its splits, and
    no command reads it."""
    if data_dir is None:
        return
    for split in SPLITS:
        if path.parent.resolve().is_relative_to((Path(data_dir) / split).resolve()):
            raise ObjrecError(
                f"`out` {path} lies inside {Path(data_dir) / split}, a split of the folder {run} "
                "was trained on, where the next split into it with `force=True` would delete the "
                "export and every command warns of its files: choose a folder outside the splits"
            )


def refuse_users_sidecar(sidecar: Path, path: Path, run: Path) -> None:
    """Refuse, even with ``force``, a file at ``sidecar`` (the JSON name beside the model
    ``path``) that no export wrote: ``force`` replaces an earlier export, never a file of the
    user's that happens to share its name, nor one ``train`` wrote into the run ``run`` (its
    ``config.json``, ``summary.json``), which moved out would break the run."""
    if os.path.lexists(sidecar) and not is_export_sidecar(sidecar):
        try:
            refuse_run_file(sidecar, run, "out")
        except ObjrecError:
            raise ObjrecError(
                f"`out` {path} would write its JSON sidecar over {sidecar}, a file `train` wrote "
                "into the run: choose another `out`"
            ) from None
        raise ObjrecError(
            f"{sidecar} is not a sidecar `export_model` wrote, and the export of {path.name} "
            "writes its own there: `force=True` does not replace it; move it, or choose another "
            "`out`"
        )


SCRIPT_MODEL = 'MODEL = "model.onnx"'
"""The line of ``export_script.py`` that names the model it runs, given the model's name."""
SCRIPT_MAX_PIXELS = re.compile(r"^MAX_PIXELS = [0-9_]+$", re.MULTILINE)
"""The line of ``export_script.py`` that holds its pixel limit, given objrec's own
(``images.MAX_PIXELS``): one limit, objrec's, wherever the script is copied."""
SCRIPT_ERRORS = re.compile(r"^ERRORS = \{\n(?:    .*\n)*\}$", re.MULTILINE)
"""The lines of ``export_script.py`` that hold its words for a photo it cannot read, given
objrec's own (``images.IMAGE_ERRORS``): the script says what ``predict`` says of a file."""
LEFT_OUT = ("SYSTEM_FOLDERS", "SYSTEM_FILES", "ZONE_MARK")
"""The names of ``images``' lists of what a folder's listing leaves out unsaid, which
``export_script.py`` holds lines of the same names for, given objrec's own: the script lists
a folder as ``predict`` does, warning of none of them (``Thumbs.db``)."""
SCRIPT_LEFT_OUT = re.compile(rf"^({'|'.join(LEFT_OUT)}) = .*$", re.MULTILINE)


def script_text(model_name: str) -> str:
    """``export_script.py``, the standalone script, naming ``model_name`` as the model beside it,
    its usage (``python model_infer.py``, ``import model_infer``) under the script's own name,
    objrec's pixel limit, its words for a photo it cannot read and its lists of the files a
    folder's listing leaves out (:data:`LEFT_OUT`) as its own."""
    template = (Path(__file__).parent / "export_script.py").read_text(encoding="utf-8")
    lines = (SCRIPT_MAX_PIXELS, SCRIPT_ERRORS)
    whole = SCRIPT_MODEL in template and all(line.search(template) for line in lines)
    if not whole or {found[1] for found in SCRIPT_LEFT_OUT.finditer(template)} != set(LEFT_OUT):
        raise ObjrecError(
            f"objrec's export_script.py lacks `{SCRIPT_MODEL}`, or its MAX_PIXELS, ERRORS, "
            f"{', '.join(LEFT_OUT)} lines: reinstall objrec"
        )
    template = SCRIPT_MAX_PIXELS.sub(f"MAX_PIXELS = {MAX_PIXELS:_}", template, count=1)
    template = SCRIPT_ERRORS.sub(lambda _: errors_lines(), template, count=1)
    template = SCRIPT_LEFT_OUT.sub(lambda found: left_out_line(found[1]), template)
    # the usage first: a model's own name may hold "model_infer" (model_inference.onnx)
    text = template.replace("model_infer", script_path(Path(model_name)).stem)
    return text.replace(SCRIPT_MODEL, f"MODEL = {json.dumps(model_name)}", 1)


def left_out_line(name: str) -> str:
    """``images``' list ``name`` (of :data:`LEFT_OUT`) as the script's line of that name."""
    value = getattr(images, name)
    if isinstance(value, frozenset):
        return f"{name} = frozenset({{{', '.join(json.dumps(v) for v in sorted(value))}}})"
    return f"{name} = {json.dumps(value)}"


def errors_lines() -> str:
    """``images.IMAGE_ERRORS`` as the script's ``ERRORS`` (Python, one entry a line)."""
    entries = "".join(f"    {json.dumps(k)}: {json.dumps(v)},\n" for k, v in IMAGE_ERRORS.items())
    return f"ERRORS = {{\n{entries}}}"


def refuse_users_script(script: Path, path: Path) -> None:
    """Refuse, even with ``force``, a file at ``script`` that no export wrote
    (:func:`refuse_users_sidecar`'s rule, for the script), or the script of another model's
    export (``my-model.onnx`` and ``my_model.onnx`` share ``my_model_infer.py``)."""
    if not os.path.lexists(script):
        return
    if not is_export_script(script):
        raise ObjrecError(
            f"{script} is not a script `export_model` wrote, and the export of {path.name} "
            "writes its own there: `force=True` does not replace it; move it, or choose another "
            "`out`"
        )
    runs = script_model(script)
    if runs is not None and not same_name(runs, path.name, script):
        raise ObjrecError(
            f"{script} runs {runs}, not {path.name}, whose export would write its script there: "
            "`force=True` does not replace it; choose another `out`"
        )


def same_name(name: str, other: str, beside: Path) -> bool:
    """Whether ``name`` and ``other`` name one file in the folder of the file ``beside``, as its
    disk tells names apart: by case too, unless it is case-blind (macOS, Windows), which
    ``beside``'s name in the other case finding the same file shows."""
    if name == other:
        return True
    try:
        blind = os.path.samefile(beside, beside.with_name(beside.name.swapcase()))
    except OSError:  # not there: a case-sensitive disk
        blind = False
    return blind and name.casefold() == other.casefold()


def script_model(script: Path) -> str | None:
    """The model an export's ``script`` runs (its ``MODEL`` line), None where it names none."""
    try:
        text = script.read_text(encoding="utf-8")
        found = re.search(r'^MODEL = ("[^\n]*")$', text, re.MULTILINE)
        return str(json.loads(found[1])) if found else None
    except (OSError, ValueError):  # unreadable, not UTF-8, a MODEL line edited to no string
        return None


def write_onnx_checked(
    model: Classifier, module: nn.Module, tail: Tail, part: Path, size: int, softmax: bool
) -> float:
    """``module`` (the body as the file runs it, then ``tail``) written to ``part`` and checked
    against PyTorch: its largest difference, refused over ``TOLERANCE``."""
    if isinstance(model.body, QuantizedBody):
        export_quantized(model.body, tail, part)
    else:
        export_onnx(module, part, size, output_names=tail.output_names)
    diff = check_onnx(module, part, size, softmax)
    if diff > TOLERANCE:
        raise ObjrecError(
            f"the ONNX export differs from PyTorch by {diff:.2g} (over {TOLERANCE}); "
            "nothing written"
        )
    return diff


def checked_module(model: Classifier, tail: Tail) -> nn.Module:
    """The body, then ``tail``, as the exported file runs them: an int8 body on ONNX Runtime, so
    that the check runs the graph as the file is run."""
    body = model.body
    if isinstance(body, QuantizedBody):
        body = body.on_engine("onnxruntime")
    return nn.Sequential(body, tail).eval()


def export_checked(
    model: Classifier,
    meta: RunMeta,
    path: Path,
    softmax: bool = True,
    threshold: float | None = None,
    photos: Sequence[Path] = (),
    reporter: Reporter | None = None,
    kept_on: str | None = None,
    parts: Sequence[Path] = (),
    digest: str | None = None,
    beside: Mapping[Path, Path] | None = None,
) -> ExportResult:
    """Export, verify against PyTorch within ``TOLERANCE``, measure the file against objrec's own
    answers on ``photos`` (:func:`photo_agreement`; none: not measured), write the sidecar JSON
    (its unknown threshold ``threshold`` when given, else the run's; ``kept_on``: when
    ``threshold`` is the one kept with the run, when it was kept; ``digest``: the model file's;
    :data:`FILES_SHA256` of the graph and the files ``beside`` it, by name -> written as);
    ``reporter`` shows each. The model and its sidecar replace the files at their names together
    (``outputs.staged_together``); with ``parts``, they are written to those temporary names
    instead, for the caller to rename (the script)."""
    if not parts:
        with staged_together([path, path.with_suffix(".json")]) as parts:
            settings = (softmax, threshold, photos, reporter, kept_on, parts, digest, beside)
            return export_checked(model, meta, path, *settings)
    calibration = meta.calibration or Calibration()
    tail = Tail(model, calibration.temperature, softmax, meta.feature_dtype)
    module = checked_module(model, tail)
    part, text = parts
    with or_silent(reporter).task("writing the ONNX file and checking it", None):
        diff = write_onnx_checked(model, module, tail, part, meta.data.input_size, softmax)
    outputs = [o.name for o in OnnxModel(part).session.get_outputs()]
    confidence = confidence_sidecar(meta, model, softmax, outputs, threshold, kept_on)
    answers = (
        photo_agreement(model, meta, part, softmax, photos, reporter, confidence) if photos else []
    )
    answer = {
        **preprocessing(meta, softmax, digest),
        **int8_sidecar(model.body),
        **confidence,
        "max_abs_diff": diff,
        **({"answers_checked": {a.runtime: a.as_dict() for a in answers}} if answers else {}),
        FILES_SHA256: files_sha256({path: part, **(beside or {})}),
    }
    text.write_text(json.dumps(answer, indent=2))
    log.info("exported %s (max |diff| %.2g)", path, diff)
    if answers:
        warn_if_apart(answers)
    return ExportResult(path, path.with_suffix(".json"), diff, answers)

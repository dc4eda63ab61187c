"""The model's answer, defined once: pixels -> class probabilities.

:class:`Recognizer` owns every step between a decoded image and the probabilities objrec reports:
the views (the evaluation view, or the test-time views with ``tta``), their preprocessing, the
runtime that runs the model (eager PyTorch or ONNX Runtime), and how the views' outputs become one
answer (:meth:`Recognizer.combine`, where calibration applies). ``predict``, ``serve`` and
``report`` call it on images; ``evaluate`` calls :meth:`Recognizer.outputs_from_features`
with the frozen body's cached features of the same views, a speed-up that ends in the same
``combine``, and so does ``predict`` for the images whose features the store holds already
(:meth:`Recognizer.stored_views`). A test checks that all of them, and the exported ONNX file,
agree on real images.

The same object gives the "unknown" answer (:meth:`Recognizer.answer`): the run's unknown score
(the top calibrated probability, or a feature-space familiarity computed in the same pass, see
``objrec.confidence``) against its threshold, which a caller may override or turn off.
"""

from __future__ import annotations

import copy
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from objrec.cache import open_cache
from objrec.checkpoint import load_model, warn_if_unfinished
from objrec.confidence import score_in_chunks
from objrec.config import require_number
from objrec.data import UNKNOWN, Sample
from objrec.device_runner import DeviceRunner
from objrec.errors import ObjrecError
from objrec.features import FeatureTable, stored_tables
from objrec.frozen import FrozenBody
from objrec.images import MAX_PIXELS, open_image
from objrec.int8_body import QuantizedBody, graph_engine
from objrec.kept import KeptThreshold, threshold_source, usable_kept
from objrec.meta import Calibration, RunMeta
from objrec.metrics import ranked
from objrec.model import Classifier, as_stored
from objrec.model_graph import Outputs, graph_runner
from objrec.openvino_runtime import OpenVinoModel
from objrec.paths import PathGiven
from objrec.renames import warn_renamed
from objrec.run_files import BEST
from objrec.runtime import OnnxModel
from objrec.thresholds import (
    applied_score,
    below_threshold,
    require_threshold_for,
    threshold_values,
)
from objrec.transforms import TTA_VIEWS, build_tta_transform, draft_size, model_view
from objrec.unknown_scores import Readable, tie_head
from objrec.views import ViewSpec

if TYPE_CHECKING:
    from objrec.prediction import TopClass

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")
"""How a :class:`Recognizer` runs its model (``runtime``), the answers the same within 1e-4 (the
engines' rounding): "torch" (also None, predict's default) runs the run's model in this process
as ``evaluate`` does, its head in PyTorch and its body in PyTorch, or an int8 body in the engine
that ran it in training (OpenVINO, else ONNX Runtime): "torch" is PyTorch alone only for a
32-bit body. "onnx" runs the whole model as one ONNX graph in ONNX Runtime, made at its first use
and kept in the cache folder (CPU only), but for an int8 body OpenVINO ran, which runs as under
"torch". On a GPU the model runs in PyTorch (an int8 body on the CPU)."""
CENTRE = ("centre",)
Photo = Image.Image | np.ndarray | PathGiven | bytes
"""What :meth:`Recognizer.answer` takes of one image: its file (a path, or the file's bytes),
opened as ``predict`` opens it (:meth:`Recognizer.open`), or an RGB image decoded already (a
PIL image, or a height x width x 3 ``uint8`` numpy array, as ``np.asarray`` gives of one)."""


def resolve_runtime(runtime: str | None, device: torch.device, default: str = "torch") -> str:
    """``runtime`` on ``device``: ONNX Runtime runs on the CPU only, so a GPU means PyTorch."""
    if runtime is not None and runtime not in RUNTIMES:
        raise ObjrecError(f"`runtime` must be one of {', '.join(RUNTIMES)}")
    if device.type == "cpu":
        return runtime or default
    if runtime == "onnx":
        raise ObjrecError(
            f"`runtime` onnx runs on the CPU only: on device {device} the model runs in PyTorch "
            "on the GPU (leave the runtime out, or use the cpu device)"
        )
    return "torch"


def sample_photo() -> Path:
    """A photo of objrec's built-in sample (a downscaled Caltech-101 watch), for a first answer."""
    folder = Path(str(resources.files("objrec") / "sample" / "caltech101_mini" / "watch"))
    return min(folder.glob("*.jpg"))


def int8_placement(
    model: Classifier, device: torch.device, runtime: str | None
) -> tuple[torch.device, str]:
    """Where and how ``model`` runs (:func:`resolve_runtime`), an int8 body on the CPU and in the
    engine it trained on (ONNX Runtime, with a warning, where OpenVINO is missing): ``runtime``
    onnx would run an OpenVINO body's whole-model graph on ONNX Runtime, so such a body runs as
    ``torch`` runs it, in OpenVINO."""
    if not isinstance(model.body, QuantizedBody):
        return device, resolve_runtime(runtime, device)
    if device.type != "cpu":
        log.warning("this run's body is int8, which runs on the CPU only: it runs on the CPU")
        device = torch.device("cpu")
    runtime = resolve_runtime(runtime, device)
    model.body = model.body.runnable()  # says so where its engine is missing
    if runtime == "onnx" and graph_engine(model.body) == "openvino":
        log.info(
            "this run's int8 body ran on OpenVINO in training: it runs so, not on ONNX Runtime"
        )
        runtime = "torch"
    return device, runtime


def require_rgb(image: Image.Image) -> Image.Image:
    """``image``, refused in one sentence unless it is RGB: made RGB by a caller's own rule, a
    16-bit grey or a transparent image is not what ``predict`` sees of its file (and a
    four-channel one does not fit the model at all)."""
    if image.mode != "RGB":
        raise ObjrecError(
            f"the recognizer takes RGB images, not this {image.mode} one: give it the image's file "
            "(its path or bytes), which it opens as predict does (Recognizer.open)"
        )
    return image


def from_array(photo: Photo, index: int = 0) -> Image.Image | PathGiven | bytes:
    """``photo``, the ``index``-th of :meth:`Recognizer.answer`'s, as a PIL RGB image where it is
    a numpy array: height x width x 3 ``uint8`` (RGB, as ``np.asarray`` gives of an RGB image),
    else refused in one sentence naming it, where Python's pathlib said only "expected str,
    bytes or os.PathLike object, not ndarray"; any other photo as it is."""
    if not isinstance(photo, np.ndarray):
        return photo
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ObjrecError(
            f"image {index} of `images` is a numpy array of shape {photo.shape} and dtype "
            f"{photo.dtype}: the recognizer takes height x width x 3 uint8 RGB arrays, "
            "as np.asarray(image) gives of an RGB image (or the image's file)"
        )
    return Image.fromarray(np.ascontiguousarray(photo))  # RGB: height x width x 3 uint8


@dataclass
class Answers:
    """A batch's answer: probabilities (N, classes), the unknown score (N,) that the threshold
    applies to, and which images are "unknown" (all False when the check is off); ``classes``,
    the class of each column of ``probs`` (the run's, from :meth:`Recognizer.answer`).
    :attr:`answered` says each image's answer in a word, :meth:`table` all of it, as
    ``Predictions`` does for ``predict``."""

    probs: torch.Tensor
    scores: torch.Tensor
    unknown: torch.Tensor
    classes: Sequence[str] = ()

    SHOWN = 5
    """How many images' answers the repr names: a batch of 1,000 is one line too."""

    def __repr__(self) -> str:
        """One line: how many images and classes, and the first :data:`SHOWN` answers
        (:attr:`answered`); a notebook showed the three tensors whole (api64)."""
        answered = self.answered
        shown = ", ".join(repr(answer) for answer in answered[: self.SHOWN])
        more = len(answered) - self.SHOWN
        return (
            f"Answers(n_images={len(answered)}, n_classes={self.probs.shape[-1]}, "
            f"answered=[{shown}{f', ... ({more:,} more)' if more > 0 else ''}])"
        )

    @property
    def answered(self) -> list[str]:
        """Each image's answer in one word, as ``Prediction.answer`` says it: "unknown" for an
        image judged unknown, else its most probable class."""
        return [
            UNKNOWN if unknown else top[0]["class"]
            for top, unknown in zip(self.topk(1), self.unknown.tolist(), strict=True)
        ]

    def topk(self, k: int) -> list[list[dict[str, Any]]]:
        """Each image's ``k`` most probable classes, most probable first, as
        ``Recognizer.topk`` gives them (``{"class": ..., "prob": ...}``; a tie broken as an
        evaluation breaks it). A class is its column's number where ``classes`` is empty."""
        probs = self.probs.detach().float().cpu()
        names = list(self.classes) or [str(i) for i in range(probs.shape[-1])]
        if not len(probs):
            return []
        index = ranked(probs, k)
        values = probs.gather(1, index)
        return [
            [{"class": names[int(i)], "prob": float(v)} for v, i in zip(row, idx, strict=True)]
            for row, idx in zip(values, index, strict=True)
        ]

    def table(self, k: int = 5) -> Any:
        """A pandas DataFrame of one row per image, in ``predict --csv``'s columns for what an
        answer holds (``answer``, ``predicted``, ``prob_predicted``, ``unknown``, ``score``, then
        ``class_1``, ``prob_1`` ... for its top ``k``): no file names, which the images given
        may not have."""
        import pandas as pd  # not at import: serve needs no pandas

        rows = []
        for top, unknown, score in zip(
            self.topk(k), self.unknown.tolist(), self.scores.tolist(), strict=True
        ):
            row = {"answer": UNKNOWN if unknown else top[0]["class"]}
            row |= {"predicted": top[0]["class"], "prob_predicted": top[0]["prob"]}
            row |= {"unknown": bool(unknown), "score": float(score)}
            for i, t in enumerate(top, start=1):
                row[f"class_{i}"], row[f"prob_{i}"] = t["class"], t["prob"]
            rows.append(row)
        k = min(k, self.probs.shape[-1])
        tops = [f"{what}_{i}" for i in range(1, k + 1) for what in ("class", "prob")]
        columns = ["answer", "predicted", "prob_predicted", "unknown", "score", *tops]
        return pd.DataFrame(rows, columns=columns)


class Recognizer:
    """A loaded model and everything that turns images into its class probabilities.

    ``runtime="onnx"`` runs the whole model through ONNX Runtime: it is exported once per
    checkpoint into the feature cache folder (checked against PyTorch) and reused after that.
    On a GPU ``device`` the body runs as in the frozen pass (``device_runner.DeviceRunner``) and the
    head and familiarity score in float32 beside it (an int8 body keeps all of it on the CPU);
    Grad-CAM runs on the CPU. Safe to call from several threads at once, its answers and its
    Grad-CAM maps alike (``saliency.explain_all``, whose ``grad_cams`` hooks its own thread's
    pass through the shared body alone).
    """

    mixed: dict[str, list[str]] | None = None
    """The classes the run's evaluation mistook for each other both ways
    (``prediction.mixed_partners``), where the caller read them (``serve`` at each load, and
    again after each evaluation of the run): each answer's ``confused_with`` comes from them;
    None: none read or recorded."""

    tested_top1: float | None = None
    """The top-1 of the run's evaluation of its test split of this model
    (``prediction.tested_top1``), where the caller read it (``serve``, with :attr:`mixed`, for
    its page's headline); None: none read or recorded."""

    def __init__(
        self,
        model: Classifier,
        meta: RunMeta,
        runtime: str | None = None,
        threshold: float | None = None,
        unknown: bool = True,
        device: torch.device | None = None,
        kept: KeptThreshold | None = None,
    ):
        self.device, runtime = int8_placement(model, device or torch.device("cpu"), runtime)
        self.model, self.meta, self.runtime = model.eval(), meta, runtime
        self.classes = list(meta.classes)
        self.data = meta.data
        self.draft = draft_size(self.data)
        self.feature_dtype = meta.feature_dtype
        """How the run stored its features: the head sees the body's rounded so (``as_stored``)."""
        self.calibration = meta.calibration or Calibration()
        self.temperature = self.calibration.temperature
        self.kept = kept
        """The run's kept threshold, when :meth:`load` found one (used only when ``current``)."""
        require_threshold_for(require_number(threshold), self.unknown_score)
        self.threshold_source = threshold_source(threshold, kept)
        """Where :attr:`threshold` comes from (``kept.ThresholdSource``), decided here once."""
        self.threshold = self._chosen_threshold(threshold) if unknown else None
        """Below it, "unknown"; None (or ``unknown=False``): never."""
        self._transforms: dict[str, Callable[[Image.Image], torch.Tensor]] = {}
        """Each view's preprocessing, built at its first image (:meth:`_transform`)."""
        if runtime == "torch" and self.device.type == "cpu":
            self.model.body.to(memory_format=torch.channels_last)  # see ``_torch``
        self._run: Callable[[torch.Tensor, bool], Outputs] = (
            graph_runner(self.model, self.meta) if runtime == "onnx" else self._torch
        )
        """(logits, familiarity) of a preprocessed batch; the familiarity only when asked for
        (:meth:`_from_features`)."""
        self._head, self._familiarity = self.model.head, self.model.familiarity
        self._body: DeviceRunner | None = None
        """The body on the card, built at the first batch run there (:meth:`_device_body`):
        ``evaluate`` answers from the frozen pass's features, whose own runner holds the body on
        the card, so that its recognizer, which runs no image there, holds no second copy."""
        self._building = threading.Lock()
        if self.device.type != "cpu":
            self._head = copy.deepcopy(self._head).to(self.device)
            self._familiarity = copy.deepcopy(self._familiarity)
            if self._familiarity is not None:
                self._familiarity.to(self.device)
                tie_head(self._familiarity, self._head)  # the copy on the device
            self._run = self._on_device

    def __repr__(self) -> str:
        """One line, each name an attribute holding the value shown (``n_classes``: ``classes``
        counted): the body, how and where the model runs, the unknown threshold, where it comes
        from and the score it applies to, and the calibration's temperature. A notebook showed
        ``<objrec.inference.Recognizer object at 0x7fa965f18290>`` (notebook63)."""
        threshold = "None" if self.threshold is None else f"{self.threshold:.4g}"
        return (
            f"Recognizer(backbone={self.backbone!r}, n_classes={len(self.classes)}, "
            f"runtime={self.runtime!r}, device={str(self.device)!r}, threshold={threshold}, "
            f"threshold_source={self.threshold_source!r}, "
            f"unknown_score={self.unknown_score!r}, temperature={self.temperature:.4g})"
        )

    @property
    def backbone(self) -> str:
        """The name of the run's body in objrec's registry (``get_backbone``)."""
        return self.meta.backbone

    def _chosen_threshold(self, given: float | None) -> float | None:
        """The threshold of :attr:`threshold_source`: ``given``, the kept one, or the run's own."""
        if self.threshold_source == "given":
            return given
        if self.threshold_source == "kept" and self.kept is not None:
            return self.kept.threshold
        return self.calibration.unknown_threshold

    @classmethod
    def load(
        cls,
        run: PathGiven,
        runtime: str | None = None,
        threshold: float | None = None,
        unknown: bool = True,
        device: torch.device | None = None,
        read: tuple[dict[str, torch.Tensor], RunMeta] | None = None,
    ) -> Recognizer:
        """The recognizer of a run folder or checkpoint file, running its model as ``runtime``
        says (:data:`RUNTIMES`; None: "torch", as ``evaluate`` runs it); unless given
        ``threshold`` (or ``unknown`` False), with the threshold ``evaluate --keep-threshold``
        kept for it (``kept.read_kept``), if any. ``read``: its model as the caller read it already
        (``checkpoint.read_checkpoint``), not read again: a command's every part is then of
        one model, whatever a retrain renames over the file meanwhile."""
        require_number(threshold)  # before the model loads
        run = Path(run)
        path = run / BEST if run.is_dir() else run
        model, meta = load_model(path, read)
        warn_if_unfinished(run)
        kept = usable_kept(run, threshold, unknown, meta.digest)
        return cls(model, meta, runtime, threshold, unknown, device, kept)

    @property
    def model_digest(self) -> str | None:
        """The content digest of the model file loaded (``RunMeta.digest``, of the bytes its
        tensors came from): what a record of this recognizer's work names, whatever the file
        holds by then (a retrain may have renamed its model over it). None for a model not read
        from a file."""
        return self.meta.digest

    @property
    def threshold_kept_on(self) -> str | None:
        """When :attr:`threshold` is the one ``evaluate --keep-threshold`` kept with the run: when
        it was kept (ISO 8601, UTC); None when it is the run's own, or one given."""
        kept = self.kept if self.threshold_source == "kept" else None
        return kept.kept_on if kept is not None and self.threshold is not None else None

    @property
    def threshold_images(self) -> int | None:
        """How many validation images :attr:`threshold` was chosen on, when it is the run's own
        (``Calibration.validation_images``); None for a kept or given one (one given equal to
        the run's own too: :attr:`threshold_source`), or an older run."""
        own = self.threshold is not None and self.threshold_source == "own"
        return self.calibration.validation_images if own else None

    @property
    def unknown_score(self) -> str:
        """``msp`` or the name of the feature score the threshold applies to."""
        return applied_score(self.calibration.unknown_score, self.model.familiarity)

    @property
    def scaled_on(self) -> str | None:
        """The images a familiarity of 1 is typical of (``Calibration.scaled_on``), where the
        score is the familiarity (:attr:`score_is_familiarity`); else None."""
        return self.calibration.scaled_on if self.score_is_familiarity else None

    @property
    def score_is_familiarity(self) -> bool:
        """Whether the feature score is the familiarity (0 at the run's threshold, 1 for a typical
        valid image): False for ``msp`` and for a run trained before it (checkpoint format 1),
        whose score and threshold are the raw feature score's."""
        return isinstance(self.model.familiarity, Readable)

    @torch.inference_mode()
    def _from_features(self, features: torch.Tensor, familiar: bool = True) -> Outputs:
        """(logits, familiarity or None) of the body's features, computed on the head's device;
        ``familiar`` False: no familiarity (the score costs more than the head, and only the
        first view's is read, :meth:`decide`)."""
        features = as_stored(features.to(next(self._head.parameters()).device), self.feature_dtype)
        scorer = self._familiarity if familiar else None
        familiarity = score_in_chunks(scorer, features).cpu() if scorer is not None else None
        return self._head(features).cpu(), familiarity

    def _on_device(self, x: torch.Tensor, familiar: bool) -> Outputs:
        return self._from_features(self._device_body().features(x), familiar)

    def _device_body(self) -> DeviceRunner:
        """The body's runner on the card, built at the first call (from one thread when several
        make their first at once: one copy on the card)."""
        if self._body is None:
            with self._building:
                if self._body is None:
                    self._body = DeviceRunner(self.model.body, self.device)
        return self._body

    @torch.inference_mode()
    def _torch(self, x: torch.Tensor, familiar: bool) -> Outputs:
        """Eager PyTorch on the CPU, channels-last as the frozen pass's eager runner
        (``runtime.torch_runner``): the demo's predict step (30 images, the default three-body
        model) took 4.25 s against 6.17 s channels-first (medians of 3), its probabilities within
        1e-10 and unknown scores within 1e-6 (relative) of those (``benchmarks/demo_time.py``)."""
        features = self.model.body(x.contiguous(memory_format=torch.channels_last))
        return self._from_features(features, familiar)

    def frozen_body(self, cache_dir: PathGiven | None = None) -> FrozenBody:
        """The body as the frozen pass runs it, on this recognizer's device, with the feature store
        of ``cache_dir`` (default: the run's, else ``$OBJREC_CACHE``'s) in the dtype the run's
        features were stored in: what keys this recognizer's features there."""
        cache = open_cache(cache_dir or self.meta.cache_dir, self.feature_dtype)
        size, name = self.data.input_size, self.meta.backbone
        return FrozenBody(self.model.body, size, cache, name=name, device=self.device)

    def stored_views(self, paths: Sequence[Path], tta: bool = False) -> list[FeatureTable] | None:
        """The feature store's rows of the images ``paths`` in each of :meth:`view_names`, where
        they are this recognizer's own computation: the body eager on the CPU (``torch``), whose
        float32 features the store keeps beside ONNX Runtime's, the frozen pass's, as one
        (``store.FLOAT32``: they agree within ``runtime.TOLERANCE``), keyed by the body's
        fingerprint (an int8 body's names its engine), the data config, the view and what
        decodes the pixels. None when there are none to read: another runtime (``onnx``, a GPU,
        whose precision is chosen apart), no store, or one that cannot be read (read-only,
        damaged: said at info; one being pruned or cleared is waited for, as every user does).
        Reads only: nothing computed, no file hashed (those its file index does not know are
        missing), nothing written but the last use of the rows read, as every reader of the
        store marks it (what ``objrec cache --prune --days N`` goes by). The tables read from the
        store, which stays open (its lock, which a prune or clear waits for, held) until the
        caller lets go of it once they are read: ``tables[0].space.store.close()``, as
        ``predict`` does, or a block of ``cache.stores_held``."""
        if self.runtime != "torch" or self.device.type != "cpu":
            return None
        body = self.frozen_body()
        specs = [ViewSpec(self.data, tta=view) for view in self.view_names(tta)]
        try:
            return stored_tables(body, [Sample(Path(p), 0) for p in paths], specs)
        except (ObjrecError, OSError, sqlite3.Error) as exc:
            log.info("the feature store is not read: %s", exc)
            body.cache.close()
            return None

    # ------------------------------------------------------------ the definition

    @staticmethod
    def view_names(tta: bool = False) -> tuple[str, ...]:
        """The views averaged into one answer: the evaluation view, or every test-time view."""
        return TTA_VIEWS if tta else CENTRE

    def get_ready(self, images: int, tta: bool = False) -> None:
        """Make now what the first batch of ``images`` images computed from their pixels would
        make (each view's preprocessing, which imports torchvision; an int8 body's session on
        the CPU, OpenVINO's graph compiled for that batch), so that a caller can show it as a
        step of its own: a first batch of 16 photos took 4.8 s, the next, as large, 1.3 s."""
        for view in self.view_names(tta):
            self._transform(view)
        session = self.int8_session()
        if isinstance(session, OpenVinoModel):
            session.compile_for(images)

    def int8_session(self) -> OnnxModel | OpenVinoModel | None:
        """The session that runs an int8 body on the CPU (an ``OpenVinoModel``, else ONNX
        Runtime's), opened now (OpenVINO reading the graph); None where this recognizer runs no
        int8 body there (an fp32 body, the ``onnx`` runtime, a GPU)."""
        body = self.model.body
        on_engine = self.runtime == "torch" and self.device.type == "cpu"
        return body.session() if isinstance(body, QuantizedBody) and on_engine else None

    def open(self, source: PathGiven | bytes) -> Image.Image:
        """An image file (its path or its bytes) decoded as ``predict`` and ``serve`` decode it
        for this model (``images.open_image``): turned upright by its EXIF orientation, made RGB
        from any mode (16-bit grey, transparency, CMYK), a large JPEG decoded reduced toward the
        model's input size, within the pixel limit. ``Image.open(path).convert("RGB")`` does
        not turn a phone's photo upright, and answers it otherwise."""
        return open_image(source if isinstance(source, bytes) else Path(source), self.draft)

    def preprocess(self, images: Sequence[Image.Image], view: str = "centre") -> torch.Tensor:
        """RGB images -> the normalised batch (N, 3, S, S) the model sees in ``view``; an image
        of another mode is refused (:func:`require_rgb`)."""
        transform = self._transform(view)
        return torch.stack([transform(require_rgb(image)) for image in images])

    def _transform(self, view: str) -> Callable[[Image.Image], torch.Tensor]:
        """``view``'s preprocessing, built at its first image, not with the recognizer: building
        one imports torchvision (and with it ``torch._dynamo``, 1.4 to 3.6 s), which answers
        from stored features (``evaluate``, ``predict`` of photos the store holds) never need.
        Two threads building one at once build the same."""
        transform = self._transforms.get(view)
        if transform is None:
            transform = self._transforms[view] = build_tta_transform(self.data, view)
        return transform

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output for a preprocessed batch, on this recognizer's runtime."""
        return self._run(x, False)[0]

    def combine(
        self, view_logits: Sequence[torch.Tensor], temperature: float | None = None
    ) -> torch.Tensor:
        """One answer from each view's logits: softmax (calibrated), then the mean over views.

        The only place where outputs become probabilities: calibration applies here, so every
        path (images, cached features, any runtime) gets it.
        """
        t = self.temperature if temperature is None else temperature
        probs = [(logits.float() / t).softmax(1) for logits in view_logits]
        return torch.stack(probs).mean(0)

    def probabilities(self, images: Iterable[Photo], tta: bool = False) -> torch.Tensor:
        """Class probabilities (N, classes) of ``images`` (:meth:`answer`); ``tta``: over the
        test-time views."""
        return self.answer(images, tta).probs

    def answer(self, images: Iterable[Photo], tta: bool = False) -> Answers:
        """Probabilities, unknown scores and "unknown" flags of ``images``: image files (paths
        or bytes), each opened as ``predict`` opens it (:meth:`open`), or RGB images decoded
        already, taken as they are (PIL images, or height x width x 3 ``uint8`` numpy arrays;
        a batch array N x height x width x 3 is its N images). Each file is made into its views
        (:meth:`inputs`) before the next is opened: one image at its decoded size is held at a
        time, whatever the batch. The familiarity is the first view's alone, as
        :meth:`outputs_from_features` computes it."""
        one = isinstance(images, np.ndarray) and images.ndim == 3
        if one or isinstance(images, str | os.PathLike | bytes | Image.Image):
            raise ObjrecError("`answer` takes a list of images or files, not one: give [photo]")
        photos = (from_array(photo, index) for index, photo in enumerate(images))
        return self.answer_inputs([self.inputs(photo, tta) for photo in photos])

    def inputs(self, photo: Photo, tta: bool = False) -> list[torch.Tensor]:
        """One image's input to the model (3, S, S) in each of :meth:`view_names`, the image
        opened first where it is a file (:meth:`open`): a caller that decodes the images itself
        makes each one's inputs as it decodes it, and holds no decode longer."""
        image = self._image(photo)
        return [self._transform(view)(image) for view in self.view_names(tta)]

    def _image(self, photo: Photo) -> Image.Image:
        """``photo`` as an RGB image: a file opened (:meth:`open`), an image refused unless RGB
        (an array unless height x width x 3 ``uint8``: :func:`from_array`)."""
        photo = from_array(photo)
        return require_rgb(photo if isinstance(photo, Image.Image) else self.open(photo))

    def answer_inputs(self, inputs: Sequence[Sequence[torch.Tensor]]) -> Answers:
        """:meth:`answer` of images made into their inputs (:meth:`inputs`: a list of each
        image's views, all of the same views); no image, no answer."""
        if not inputs:
            empty = torch.zeros(0)
            return Answers(torch.zeros(0, len(self.classes)), empty, empty.bool(), self.classes)
        batches = [torch.stack(view) for view in zip(*inputs, strict=True)]
        return self.decide([self._run(x, i == 0) for i, x in enumerate(batches)])

    @torch.inference_mode()
    def answer_from_features(self, view_features: Sequence[torch.Tensor]) -> Answers:
        """The same answers from the frozen body's features of each of ``view_names(tta)``."""
        return self.decide(self.outputs_from_features(view_features))

    @torch.inference_mode()
    def outputs_from_features(self, view_features: Sequence[torch.Tensor]) -> list[Outputs]:
        """Each view's (logits, familiarity) from its features, the familiarity of the first
        alone (:meth:`decide` reads no other): what :meth:`decide` and :meth:`uncalibrated` take,
        computed once for both (``evaluate`` wants both)."""
        return [self._from_features(f, familiar=i == 0) for i, f in enumerate(view_features)]

    def uncalibrated(self, views: Sequence[Outputs]) -> torch.Tensor:
        """The probabilities before calibration (temperature 1) of each view's outputs, to
        measure what calibration changed."""
        return self.combine([logits for logits, _ in views], temperature=1.0)

    def decide(self, views: Sequence[Outputs]) -> Answers:
        """Each view's (logits, familiarity) -> one answer: the probabilities (``combine``), the
        unknown score and the threshold's verdict.

        The unknown score is the first (centre) view's, with test-time views too: the threshold
        was fitted on the centre view's scores of the validation images, so it applies to those
        (an average over views scores lower and would turn known images "unknown").
        """
        probs = self.combine([logits for logits, _ in views])
        logits, familiarity = views[0]
        centre = probs if len(views) == 1 else self.combine([logits])
        scores = threshold_values(self.unknown_score, centre, familiarity).float()
        if self.threshold is None:
            unknown = torch.zeros(len(scores), dtype=torch.bool)
        else:
            unknown = below_threshold(scores, self.threshold)
        return Answers(probs, scores, unknown, self.classes)

    def warm_up(self) -> None:
        """Answer one photo of the built-in sample (:func:`sample_photo`), and drop the answer:
        what the runtime does at its first call (OpenVINO compiling or loading its graph and
        making this thread's infer request, ONNX Runtime and PyTorch setting up their kernels) is
        then done, on the calling thread, before a caller's first image. A real photo, not a
        blank one: on a GPU the first batch builds the body's copy on the card and chooses its
        precision (``device_runner.DeviceRunner``). objrec's own photo, not the user's, is decoded
        within objrec's default pixel limit, not ``OBJREC_MAX_PIXELS``: a limit under its 160x129
        pixels stopped serve from starting."""
        self.answer([open_image(sample_photo(), draft_size=self.draft, max_pixels=MAX_PIXELS)])

    # ------------------------------------------------------------ presenting it

    def topk(self, probs: torch.Tensor, k: int) -> list[TopClass]:
        """The ``k`` most probable classes of one image's probabilities, most probable first,
        the first ``metrics.answered``'s (the one top-1 rule: an exact tie is broken as an
        evaluation breaks it, whatever ``k``)."""
        index = ranked(probs[None], k)[0]
        values = probs[index]
        return [
            {"class": self.classes[int(i)], "prob": float(v)}
            for v, i in zip(values, index, strict=True)
        ]

    def explained(self, photo: Photo) -> tuple[torch.Tensor, Image.Image]:
        """One image's input in the evaluation view, and its picture as the model sees it, which
        its Grad-CAM map is drawn on (:meth:`picture`; ``saliency.explain_made``)."""
        image = self._image(photo)
        return self._transform(CENTRE[0])(image), self.picture(image)

    def picture(self, image: Image.Image) -> Image.Image:
        """The part of ``image`` the model sees in the evaluation view, at its input size
        (``transforms.model_view``): what a Grad-CAM map is drawn on."""
        return model_view(self.data, image)

    def explain(self, image: Image.Image, target: int | None = None) -> tuple[Image.Image, int]:
        """Deprecated: ``saliency.explain_all(recognizer, [image], [target])[0]``, where the
        Grad-CAM maps moved (a definition of the answers draws none); kept for a release, with a
        :class:`DeprecationWarning`, so that a script calling it runs while it is changed."""
        from objrec.saliency import explain_all  # not at the top: saliency is below Recognizer

        warn_renamed(
            "Recognizer.explain", "objrec.saliency.explain_all(recognizer, [image], [target])[0]"
        )
        return explain_all(self, [image], [target])[0]

    def explain_all(
        self, images: Sequence[Photo], targets: Sequence[int | None]
    ) -> list[tuple[Image.Image, int]]:
        """Deprecated: ``saliency.explain_all(recognizer, images, targets)``, with a
        :class:`DeprecationWarning` (as :meth:`explain`)."""
        from objrec.saliency import explain_all

        warn_renamed(
            "Recognizer.explain_all", "objrec.saliency.explain_all(recognizer, images, targets)"
        )
        return explain_all(self, images, targets)

    def explain_made(
        self, made: Sequence[tuple[torch.Tensor, Image.Image]], targets: Sequence[int | None]
    ) -> list[tuple[Image.Image, int]]:
        """Deprecated: ``saliency.explain_made(recognizer, made, targets)``, with a
        :class:`DeprecationWarning` (as :meth:`explain`)."""
        from objrec.saliency import explain_made

        warn_renamed(
            "Recognizer.explain_made", "objrec.saliency.explain_made(recognizer, made, targets)"
        )
        return explain_made(self, made, targets)

    def ready_words(self, images: int) -> str:
        """Deprecated: ``predict.ready_words(recognizer, images)``, where predict's progress words
        moved, with a :class:`DeprecationWarning` (as :meth:`explain`)."""
        from objrec.predict_outputs import ready_words  # predict's, which imports Recognizer

        warn_renamed("Recognizer.ready_words", "objrec.predict.ready_words(recognizer, images)")
        return ready_words(self, images)

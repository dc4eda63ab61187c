"""``predict``: class probabilities for new images, one bad file never stopping the rest."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from objrec import plots
from objrec.checkpoint import BEST, load_model
from objrec.config import DataConfig
from objrec.errors import ObjrecError
from objrec.images import UnreadableImageError, is_image_file, list_images, open_image
from objrec.model import Classifier
from objrec.outputs import prepare_output_dir
from objrec.progress import SILENT, Reporter
from objrec.quantize import QuantizedBody
from objrec.runtime import onnx_session
from objrec.saliency import grad_cam, overlay
from objrec.transforms import (
    TTA_VIEWS,
    build_transforms,
    build_tta_transform,
    draft_size,
    model_view,
)

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    path: str
    topk: list[dict[str, float | str]] = field(default_factory=list)
    error: str | None = None
    explanation: str | None = None

    def to_json(self) -> dict:
        extra = {"error": self.error} if self.error else {}
        if self.explanation:
            extra["explanation"] = self.explanation
        return {"path": self.path, "topk": self.topk, **extra}


def expand_paths(paths: Sequence[Path]) -> list[Prediction]:
    """One entry per image: files as given, folders as the images below them.

    A missing path, or a folder without images, becomes an entry with an ``error`` (reported once,
    in the results) so that the other images are still predicted.
    """
    entries: list[Prediction] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = list_images(path)
            entries += [Prediction(str(p)) for p in found]
            if not found:
                entries.append(Prediction(str(path), error="no image files in this folder"))
        elif path.is_file():
            entries.append(Prediction(str(path)))
        else:
            entries.append(Prediction(str(path), error="no such file or folder"))
    return entries


RUNTIMES = ("torch", "onnx")
PLOT_MAX = 8
"""How many images ``--plot`` draws unless told otherwise (one row of the figure each)."""


class Predictor:
    """A loaded model and its transform: ``probabilities(images)`` for a batch of PIL images.

    ``runtime="onnx"`` runs the whole model through ONNX Runtime: it is exported once per
    checkpoint into the feature cache folder (checked against PyTorch) and reused after that.
    Safe to call from several threads at once.
    """

    def __init__(
        self, model: Classifier, meta: dict, runtime: str = "torch", checkpoint: Path | None = None
    ):
        if runtime not in RUNTIMES:
            raise ObjrecError(f"--runtime must be one of {', '.join(RUNTIMES)}")
        self.model, self.meta, self.runtime = model.eval(), meta, runtime
        self.classes: list[str] = meta["classes"]
        self.data = DataConfig.from_dict(meta["data_config"])
        self.transform = build_transforms(self.data, train=False)
        self.draft = draft_size(self.data)
        self._session = self._onnx_session(checkpoint) if runtime == "onnx" else None

    @classmethod
    def load(cls, run: Path, runtime: str = "torch") -> Predictor:
        path = Path(run) / BEST if Path(run).is_dir() else Path(run)
        return cls(*load_model(path), runtime=runtime, checkpoint=path)

    def _onnx_session(self, checkpoint: Path | None):
        from objrec.export import export_checked
        from objrec.features import default_cache_dir

        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:32] if checkpoint else "model"
        path = default_cache_dir() / "onnx" / f"model-{digest}.onnx"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            export_checked(self.model, self.meta, path, softmax=True)
        return onnx_session(path)

    def preprocess(self, images, transform=None) -> torch.Tensor:
        return torch.stack([(transform or self.transform)(im) for im in images])

    @torch.inference_mode()
    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self._session is not None:
            name = self._session.get_inputs()[0].name
            return torch.from_numpy(self._session.run(None, {name: x.numpy()})[0])
        return self.model(x).softmax(1)

    def probabilities(self, images, tta: bool = False) -> torch.Tensor:
        """Class probabilities (N, classes); with ``tta``, averaged over the test-time views."""
        if not tta:
            return self._run(self.preprocess(images))
        views = [build_tta_transform(self.data, name) for name in TTA_VIEWS]
        return torch.stack([self._run(self.preprocess(images, t)) for t in views]).mean(0)

    def explain(self, image) -> tuple[Image.Image, int]:
        """A Grad-CAM overlay on the model's view of ``image``, and the class it explains (for an
        int8 model: of its fp32 body, which the int8 one approximates)."""
        model = self.model
        if isinstance(model.body, QuantizedBody):  # Grad-CAM needs gradients: the fp32 body's
            model = Classifier(model.body.float_body, model.head).freeze_body().eval()
        cam, target = grad_cam(model, self.preprocess([image]))
        return overlay(model_view(self.data, image), cam), target

    def topk(self, probs: torch.Tensor, k: int) -> list[dict[str, float | str]]:
        values, index = probs.topk(min(k, len(self.classes)))
        return [
            {"class": self.classes[int(i)], "prob": float(v)}
            for v, i in zip(values, index, strict=True)
        ]


def predict(
    run: Path,
    paths: Sequence[Path],
    topk: int = 5,
    batch_size: int = 32,
    plot: Path | None = None,
    reporter: Reporter = SILENT,
    runtime: str = "torch",
    tta: bool = False,
    explain: Path | None = None,
    plot_max: int = PLOT_MAX,
) -> list[Prediction]:
    """Top-k classes for each image in ``paths`` (files or folders).

    A missing, unreadable or non-image path gets an ``error`` instead and the others are still
    predicted. ``tta`` averages over test-time views; ``explain`` is a folder that receives a
    Grad-CAM overlay per image (``<name>.gradcam.png``), made in PyTorch whatever the runtime;
    ``plot`` draws the first ``plot_max`` readable images.
    """
    if topk < 1:
        raise ObjrecError("--topk must be at least 1")
    if plot_max < 1:
        raise ObjrecError("`plot_max` must be at least 1")
    results = expand_paths(paths)
    todo = [r for r in results if r.error is None]
    predictor = Predictor.load(run, runtime)
    if explain is not None:
        explain = prepare_output_dir(explain)
    with reporter.task("predicting", len(todo)) as advance:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            _predict_chunk(predictor, chunk, topk, tta)
            advance(len(chunk))
    if explain is not None:
        write_explanations(predictor, results, explain, reporter)
    if plot is not None:
        plot_predictions(results, plot, plot_max)
    return results


def write_explanations(predictor: Predictor, results, folder: Path, reporter: Reporter) -> None:
    readable = [r for r in results if r.error is None]
    with reporter.task("Grad-CAM", len(readable)) as advance:
        for index, r in enumerate(readable):
            picture, _ = predictor.explain(open_image(r.path, predictor.draft))
            r.explanation = str(folder / f"{index:04d}-{Path(r.path).stem}.gradcam.png")
            picture.save(r.explanation)
            advance(1)


def _predict_chunk(predictor: Predictor, chunk: list[Prediction], k: int, tta: bool) -> None:
    """Fill in ``topk`` for each entry of ``chunk``, or its ``error`` when it cannot be read."""
    images, readable = [], []
    for entry in chunk:
        path = Path(entry.path)
        if not is_image_file(path) and path.suffix:
            entry.error = f"not an image file extension ({path.suffix})"
            continue
        try:
            images.append(open_image(path, predictor.draft))
            readable.append(entry)
        except UnreadableImageError as exc:
            entry.error = exc.reason
    if images:
        probs = predictor.probabilities(images, tta)
        for entry, p in zip(readable, probs, strict=True):
            entry.topk = predictor.topk(p, k)


def plot_predictions(results: list[Prediction], path: Path, limit: int = PLOT_MAX) -> Path:
    """The article's figure for the first ``limit`` readable images, one row each."""
    rows = []
    for r in [r for r in results if r.error is None][:limit]:
        pairs = [(str(t["class"]), float(t["prob"])) for t in r.topk]
        rows.append((open_image(r.path), Path(r.path).name, pairs))
    if not rows:
        raise ObjrecError("no readable image to plot")
    return plots.predictions(rows, Path(path))

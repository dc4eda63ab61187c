"""The model's answer, defined once: pixels -> class probabilities.

:class:`Recognizer` owns every step between a decoded image and the probabilities objrec reports:
the views (the evaluation view, or the test-time views with ``tta``), their preprocessing, the
runtime that runs the model (eager PyTorch or ONNX Runtime), and how the views' outputs become one
answer (:meth:`Recognizer.combine`, where calibration applies). ``predict``, ``serve`` and
``report`` call it on images; ``evaluate`` calls :meth:`Recognizer.probabilities_from_features`
with the frozen body's cached features of the same views, a speed-up that ends in the same
``combine``. A test checks that all of them, and the exported ONNX file, agree on real images.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image

from objrec.checkpoint import BEST, load_model
from objrec.errors import ObjrecError
from objrec.meta import RunMeta
from objrec.model import Classifier
from objrec.quantize import QuantizedBody
from objrec.runtime import OnnxModel
from objrec.saliency import grad_cam, overlay
from objrec.transforms import TTA_VIEWS, build_tta_transform, draft_size, model_view

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")
CENTRE = ("centre",)


class Recognizer:
    """A loaded model and everything that turns images into its class probabilities.

    ``runtime="onnx"`` runs the whole model through ONNX Runtime: it is exported once per
    checkpoint into the feature cache folder (checked against PyTorch) and reused after that.
    Safe to call from several threads at once.
    """

    def __init__(
        self,
        model: Classifier,
        meta: RunMeta,
        runtime: str = "torch",
        checkpoint: Path | None = None,
    ):
        if runtime not in RUNTIMES:
            raise ObjrecError(f"`runtime` must be one of {', '.join(RUNTIMES)}")
        self.model, self.meta, self.runtime = model.eval(), meta, runtime
        self.classes = list(meta.classes)
        self.data = meta.data
        self.draft = draft_size(self.data)
        self.temperature = meta.calibration.temperature if meta.calibration else 1.0
        self._transforms = {name: build_tta_transform(self.data, name) for name in TTA_VIEWS}
        self._run: Callable[[torch.Tensor], torch.Tensor] = (
            self._onnx_model(checkpoint) if runtime == "onnx" else self._torch
        )

    @classmethod
    def load(cls, run: Path, runtime: str = "torch") -> Recognizer:
        """The recognizer of a run folder or checkpoint file."""
        path = Path(run) / BEST if Path(run).is_dir() else Path(run)
        model, meta = load_model(path)
        return cls(model, meta, runtime=runtime, checkpoint=path)

    def _onnx_model(self, checkpoint: Path | None) -> OnnxModel:
        from objrec.export import export_checked
        from objrec.features import open_cache

        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest() if checkpoint else "model"
        path = open_cache().model_onnx_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            export_checked(self.model, self.meta, path, softmax=False)
        return OnnxModel(path)

    @torch.inference_mode()
    def _torch(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    # ------------------------------------------------------------ the definition

    @staticmethod
    def view_names(tta: bool = False) -> tuple[str, ...]:
        """The views averaged into one answer: the evaluation view, or every test-time view."""
        return TTA_VIEWS if tta else CENTRE

    def preprocess(self, images: Sequence[Image.Image], view: str = "centre") -> torch.Tensor:
        """PIL images -> the normalised batch (N, 3, S, S) the model sees in ``view``."""
        return torch.stack([self._transforms[view](image) for image in images])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's output for a preprocessed batch, on this recognizer's runtime."""
        return self._run(x)

    def combine(self, view_logits: Sequence[torch.Tensor]) -> torch.Tensor:
        """One answer from each view's logits: softmax (calibrated), then the mean over views.

        The only place where outputs become probabilities: calibration applies here, so every
        path (images, cached features, any runtime) gets it.
        """
        probs = [(logits.float() / self.temperature).softmax(1) for logits in view_logits]
        return torch.stack(probs).mean(0)

    def probabilities(self, images: Sequence[Image.Image], tta: bool = False) -> torch.Tensor:
        """Class probabilities (N, classes) of PIL images; ``tta``: over the test-time views."""
        views = self.view_names(tta)
        return self.combine([self.logits(self.preprocess(images, v)) for v in views])

    @torch.inference_mode()
    def probabilities_from_features(self, view_features: Sequence[torch.Tensor]) -> torch.Tensor:
        """The same answer from the frozen body's features of each of ``view_names(tta)``."""
        return self.combine([self.model.head(features) for features in view_features])

    # ------------------------------------------------------------ presenting it

    def topk(self, probs: torch.Tensor, k: int) -> list[dict[str, float | str]]:
        """The ``k`` most probable classes of one image's probabilities, most probable first."""
        values, index = probs.topk(min(k, len(self.classes)))
        return [
            {"class": self.classes[int(i)], "prob": float(v)}
            for v, i in zip(values, index, strict=True)
        ]

    def explain(self, image: Image.Image) -> tuple[Image.Image, int]:
        """A Grad-CAM overlay on the model's view of ``image``, and the class it explains (for an
        int8 model: of its fp32 body, which the int8 one approximates)."""
        model = self.model
        if isinstance(model.body, QuantizedBody):  # Grad-CAM needs gradients: the fp32 body's
            model = Classifier(model.body.float_body, model.head).freeze_body().eval()
        cam, target = grad_cam(model, self.preprocess([image]))
        return overlay(model_view(self.data, image), cam), target

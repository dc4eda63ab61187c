"""The exported model's sidecar (``model.json``) beside the graph: the preprocessing a caller must
apply (:func:`preprocessing`), the calibration and the unknown answer's score and threshold
(:func:`confidence_sidecar`), and how an int8 body was run (:func:`int8_sidecar`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torch import nn

from objrec import __version__
from objrec.int8_body import QuantizedBody
from objrec.meta import Calibration, RunMeta, typical_image
from objrec.model import Classifier
from objrec.thresholds import applied_score
from objrec.transforms import MAX_ASPECT, TTA_VIEWS, draft_size, tta_view_geometry
from objrec.unknown_scores import Readable

if TYPE_CHECKING:
    from objrec.export.check import Agreement

OPENVINO_RUN = (
    "model_infer.py runs this file in OpenVINO where openvino is installed (as it is with objrec; "
    "--runtime onnxruntime for ONNX Runtime), as objrec ran this int8 body: at a static batch "
    "(its kernels for a dynamic batch axis differ) with INFERENCE_PRECISION_HINT f32 (on CPUs "
    "with AMX it would pick bfloat16), checked as answers_checked.openvino; ONNX Runtime's "
    "8-bit arithmetic rounds otherwise (answers_checked.onnxruntime)"
)
"""The sidecar's word on an OpenVINO body's export: what the script runs it in, and how."""
SIDECAR_VERSION = 2
"""The sidecar's shape, its ``sidecar_version``: 2 since 7 December 2026, when its ``output``
(``probabilities`` or ``logits``) went, which said again what ``outputs``' first name and
``temperature_applied`` say, and named ``logits`` a graph output that holds the log of the heads'
averaged probabilities; a reader asks ``temperature_applied`` whether the first output holds
probabilities. Before, there was no ``sidecar_version``."""


def checked_record(answers: Sequence[Agreement]) -> dict[str, dict[str, Any]]:
    """The sidecar's ``answers_checked``: each runtime's check (``Agreement.as_dict``), by
    runtime, as ``export.check.recorded_check`` reads it back for ``share``'s card and lines."""
    return {a.runtime: a.as_dict() for a in answers}


def int8_sidecar(body: nn.Module) -> dict[str, Any]:
    """Which engine ran an int8 body in training (nothing for an fp32 body), and for OpenVINO how
    to run the file as objrec does (:data:`OPENVINO_RUN`)."""
    if not isinstance(body, QuantizedBody):
        return {}
    return {"int8_engine": body.engine} | (
        {"openvino": OPENVINO_RUN} if body.engine == "openvino" else {}
    )


def preprocessing(meta: RunMeta, digest: str | None = None) -> dict[str, Any]:
    """What a caller of the exported model needs besides the graph; ``digest`` (the model file's)
    tells ``share --onnx`` the export is of that model (:func:`reusable_export`)."""
    data = meta.data
    return {
        "objrec_version": __version__,
        "sidecar_version": SIDECAR_VERSION,
        **({"model_digest": digest} if digest else {}),
        "backbone": meta.backbone,
        "precision": meta.train_config.precision if meta.train_config else "fp32",
        "classes": list(meta.classes),
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
    score = applied_score(calibration.unknown_score, model.familiarity)
    return {
        "outputs": outputs,
        "temperature": calibration.temperature,
        "temperature_applied": softmax,
        "calibration": calibration_text(softmax, outputs),
        "unknown": {
            "score": score,
            "from": outputs[1] if feature_score else "the top probability",
            "scale": f"1: {typical_image(calibration.scaled_on)} of the known classes; 0: the "
            "run's threshold"
            if isinstance(model.familiarity, Readable)
            else None,
            "scaled_on": calibration.scaled_on if isinstance(model.familiarity, Readable) else None,
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

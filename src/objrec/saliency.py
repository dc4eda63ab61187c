"""Grad-CAM: where in the image the body's last convolutional features drove the predicted class.

Selvaraju et al. 2017: weight each channel of the last convolution's output by the mean gradient of
the class score over that channel, sum, keep the positive part, upsample to the input size. The
maps of a recognizer's images (:func:`explain_all`, :func:`explain_made`: ``predict --explain``,
the report's), drawn on its view of each, live here beside it, not in the ``Recognizer``, which
defines the answer alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from objrec.errors import ObjrecError
from objrec.int8_body import QuantizedBody
from objrec.metrics import answered
from objrec.model import Classifier

if TYPE_CHECKING:
    from objrec.inference import Photo, Recognizer


def explain_all(
    recognizer: Recognizer, images: Sequence[Photo], targets: Sequence[int | None]
) -> list[tuple[Image.Image, int]]:
    """A Grad-CAM overlay on ``recognizer``'s view of each image (a file, opened as
    ``Recognizer.open`` opens it, or an RGB image), and the class it explains: its target, where
    None the recognizer's top class of the evaluation view (on its own runtime: for an int8
    model the int8 answer, explained through its fp32 body, which the int8 one approximates, as
    Grad-CAM needs gradients). A caller that reported another top class (test-time views, an
    evaluation's predictions) passes it, so that the map shows the class it reported, and the
    int8 runtime is never opened for it. Each image is made into its input and view before the
    next is opened; one pass for them all (:func:`grad_cams`)."""
    return explain_made(recognizer, [recognizer.explained(photo) for photo in images], targets)


def explain_made(
    recognizer: Recognizer,
    made: Sequence[tuple[torch.Tensor, Image.Image]],
    targets: Sequence[int | None],
) -> list[tuple[Image.Image, int]]:
    """:func:`explain_all` of images made into their input in the evaluation view and their
    picture already (``Recognizer.explained``; predict makes them as it decodes an image to
    answer it, and decodes none again for its map)."""
    if not made:
        return []
    x, pictures = torch.stack([view for view, _ in made]), [picture for _, picture in made]
    model, missing = recognizer.model, [i for i, t in enumerate(targets) if t is None]
    top = answered(recognizer.logits(x[missing])).tolist() if missing else []
    chosen = list(targets)
    for i, t in zip(missing, top, strict=True):
        chosen[i] = int(t)
    if isinstance(model.body, QuantizedBody):
        model = Classifier(model.body.float_body, model.head).freeze_body().eval()
    cams, explained = grad_cams(model, x, chosen)
    return [
        (overlay(picture, cam), target)
        for picture, cam, target in zip(pictures, cams, explained, strict=True)
    ]


def last_conv(module: nn.Module) -> nn.Conv2d:
    """The last ``Conv2d`` of ``module`` in registration order (the body's last feature map)."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ObjrecError("Grad-CAM needs a convolutional backbone")
    return convs[-1]


def cam_layers(body: nn.Module) -> list[nn.Conv2d]:
    """The last convolution of the body, or of each body of a feature ensemble."""
    parts = getattr(body, "parts", None)
    return [last_conv(p) for p in parts] if parts is not None else [last_conv(body)]


def grad_cam(
    model: nn.Module, x: torch.Tensor, target: int | None = None
) -> tuple[torch.Tensor, int]:
    """A heatmap (H, W) in [0, 1] for one image ``x`` (1, 3, H, W), and the class it explains
    (``target``, by default the predicted class): :func:`grad_cams` of a batch of one."""
    cams, targets = grad_cams(model, x, None if target is None else [target])
    return cams[0], targets[0]


def grad_cams(
    model: nn.Module, x: torch.Tensor, targets: Sequence[int | None] | None = None
) -> tuple[torch.Tensor, list[int]]:
    """A heatmap (N, H, W), each in [0, 1], for each image of ``x`` (N, 3, H, W), and the class
    each explains: its ``targets``' (None: the predicted class).

    One forward pass for the batch (the body's forward is nearly all of a map's time, and a batch
    of several runs faster than as many images one at a time); the sum of each image's target
    logit is differentiated once: in eval mode no image's output depends on another's, so each
    image's gradient is its own. Each hooked activation is made a leaf that asks for its
    gradient, so the backward pass stops there: the layers before it (most of the body, frozen or
    not) are never differentiated, which halves a map's time on the default ensemble, for the
    same gradients. For a feature ensemble the maps of its bodies are added, each upsampled to
    the input size.

    Safe to call from several threads at once on a model in eval mode (a ``Recognizer``'s),
    while others answer with it: the hooks act on this thread's forward pass alone
    (:func:`own_hook`), and the model's mode is left as it is. Two threads' maps hooked each
    other's activations, whose gradients never came ("the hooked activation took part in the
    backward pass", 7 of 40 calls).
    """
    layers = cam_layers(getattr(model, "body", model))
    saved: list[torch.Tensor] = []
    handles = [layer.register_forward_hook(own_hook(saved)) for layer in layers]
    try:
        was_training = model.training
        if was_training:
            model.eval()
        with torch.enable_grad():
            logits = model(x.detach())
            chosen = chosen_classes(logits, targets)
            logits[torch.arange(len(x)), chosen].sum().backward()
        if was_training:
            model.train()
    finally:
        for handle in handles:
            handle.remove()
    return normalised(summed_maps(saved, x.shape[-2:])), chosen.tolist()


def own_hook(saved: list[torch.Tensor]) -> Callable[..., torch.Tensor | None]:
    """A forward hook that makes the hooked layer's output a leaf asking for its gradient, kept
    in ``saved``, in the thread that made the hook alone: another thread's pass through the
    same layer (an answer, another map) goes through untouched (None: the output as it is)."""
    owner = threading.get_ident()

    def keep(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        if threading.get_ident() != owner:
            return None
        leaf = output.detach().requires_grad_(True)  # what follows it is all that is derived
        saved.append(leaf)
        return leaf

    return keep


def chosen_classes(logits: torch.Tensor, targets: Sequence[int | None] | None) -> torch.Tensor:
    """Each image's class to explain: its target, or its top class where it has none
    (``metrics.answered``, the one top-1 rule)."""
    top = answered(logits)
    if targets is None:
        return top
    given = [int(t) if t is not None else int(top[i]) for i, t in enumerate(targets)]
    return torch.tensor(given, dtype=torch.long)


def summed_maps(saved: Sequence[torch.Tensor], size: Sequence[int]) -> torch.Tensor:
    """The class activation maps (N, H, W) of each hooked activation, upsampled and added."""
    cam = torch.zeros(saved[0].shape[0], *size)
    for activation in saved:
        grad = activation.grad
        assert grad is not None, "the hooked activation took part in the backward pass"
        weights = grad.mean(dim=(2, 3), keepdim=True)
        part = F.relu((weights * activation).sum(1, keepdim=True)).detach()
        cam += F.interpolate(part, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    return cam


def normalised(cam: torch.Tensor) -> torch.Tensor:
    """Each map divided by its own peak (a map with no positive part left at zero)."""
    peak = cam.amax(dim=(1, 2), keepdim=True)
    return torch.where(peak > 0, cam / peak.clamp_min(1e-30), cam)


def overlay(image: Image.Image, cam: torch.Tensor, alpha: float = 0.45) -> Image.Image:
    """``image`` (resized to the heatmap) with the heatmap laid over it in inferno: the hotter,
    the brighter (dark purple to pale yellow), in grey as for a red-green colour-blind eye too;
    jet's red and blue, most and least, were one dark grey."""
    from matplotlib import colormaps

    size = (cam.shape[1], cam.shape[0])
    base = np.asarray(image.convert("RGB").resize(size), dtype=np.float32) / 255
    heat = colormaps["inferno"](cam.numpy())[..., :3]
    mixed = (1 - alpha) * base + alpha * heat
    return Image.fromarray((mixed * 255).clip(0, 255).astype(np.uint8))

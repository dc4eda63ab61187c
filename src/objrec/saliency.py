"""Grad-CAM: where in the image the body's last convolutional features drove the predicted class.

Selvaraju et al. 2017: weight each channel of the last convolution's output by the mean gradient of
the class score over that channel, sum, keep the positive part, upsample to the input size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from objrec.errors import ObjrecError


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
    """A heatmap (H, W) in [0, 1] for one image ``x`` (1, 3, H, W), and the class it explains.

    ``target`` defaults to the predicted class. Each hooked activation is made a leaf that asks
    for its gradient, so the backward pass stops there: the layers before it (most of the body,
    frozen or not) are never differentiated, which halves a map's time on the default ensemble,
    for the same gradients. For a feature ensemble the maps of its bodies are added, each
    upsampled to the input size.
    """
    layers = cam_layers(getattr(model, "body", model))
    saved: list[torch.Tensor] = []

    def keep(_module, _inputs, output):
        leaf = output.detach().requires_grad_(True)  # what follows it is all that is derived
        saved.append(leaf)
        return leaf

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        was_training = model.training
        model.eval()
        with torch.enable_grad():
            logits = model(x.detach())
            target = int(logits.argmax(1)) if target is None else target
            logits[0, target].backward()
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    cam = torch.zeros(x.shape[-2:])
    for activation in saved:
        grad = activation.grad
        assert grad is not None, "the hooked activation took part in the backward pass"
        weights = grad.mean(dim=(2, 3), keepdim=True)
        part = F.relu((weights * activation).sum(1, keepdim=True)).detach()
        cam += F.interpolate(part, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    return (cam / peak if peak > 0 else cam), target


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

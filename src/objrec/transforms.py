"""One factory for every stage's transforms, derived from the backbone's data config.

torchvision is imported when a transform is built, not with this module: importing it (and the
``torch._dynamo`` it brings) took about 1.3 s, which a retrain that reads every feature from the
store never needs.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import TYPE_CHECKING

import torch

from objrec.config import DataConfig
from objrec.errors import ObjrecError

if TYPE_CHECKING:
    from torchvision.transforms import InterpolationMode, v2


def _interpolation(data: DataConfig) -> InterpolationMode:
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(data.interpolation)


def _warp_interpolation(data: DataConfig) -> InterpolationMode:
    """The interpolation of rotations and shears: torchvision warps a tensor with nearest or
    bilinear only (bicubic is refused: efficientnet_b3's, a ViT's), so bicubic warps bilinear."""
    from torchvision.transforms import InterpolationMode

    mode = _interpolation(data)
    return InterpolationMode.BILINEAR if mode == InterpolationMode.BICUBIC else mode


def _finish(data: DataConfig, inplace: bool = False) -> list:
    from torchvision.transforms import v2

    return [
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(data.mean), list(data.std), inplace=inplace),
    ]


def build_batch_finish(data: DataConfig) -> v2.Compose:
    """A batch of views made with ``finish=False`` (uint8, stacked) -> the normalised float batch
    the full transforms would have stacked: their last two steps, the same elementwise operations
    in the same order, so the same bits, once a batch instead of once an image.

    The frozen pass decodes beside the body, on the same cores. Once an image, the centre view's
    ``Normalize`` ran on the channels-last strides ``ToImage`` gives (three times the augmented
    view's time), and the float views were copied again by the stack; once a batch, on the stacked
    (contiguous) uint8 views, the decoding took 1.62 ms of CPU a centre view instead of 2.14, 4.89
    an augmented one instead of 5.15 (``benchmarks/batch_finish.py``). The stack is a new tensor,
    so ``Normalize`` works in place.
    """
    from torchvision.transforms import v2

    return v2.Compose(_finish(data, inplace=True))


MAX_ASPECT = 20
"""The long side an image keeps for a resize of its short side, in short sides: a strip (20,000 x
2 pixels, a 100-byte PNG) resized to a 240-pixel short side would be 2.4 million pixels long: one
view of it took 1.8 GiB more memory and 1.3 s, 8 MiB and 0.005 s with the cap
(``benchmarks/strip_resize.py``). Its centre part of this shape is resized instead (the centre
crop after the resize takes less); a 10:1 panorama is resized whole, as before."""


def cap_aspect(image):
    """The centre part of ``image`` (a tensor or PIL image) at most ``MAX_ASPECT`` short sides
    long; the image itself when it is no longer than that."""
    from torchvision.transforms.v2 import functional as F

    height, width = F.get_size(image)
    if max(height, width) <= MAX_ASPECT * min(height, width):
        return image
    return F.center_crop(image, [min(height, MAX_ASPECT * width), min(width, MAX_ASPECT * height)])


def torchvision_version() -> str:
    """The version of the torchvision whose transforms make every view (its resize among them),
    without the build's local part (``+cpu``, ``+cu121``: the same transforms): the imported
    module's, else the installed package's metadata, read without importing it (1.3 s, which a
    retrain that reads every feature from the store never pays)."""
    module = sys.modules.get("torchvision")
    if module is not None:
        return module.__version__.split("+")[0]
    try:
        return metadata.version("torchvision").split("+")[0]
    except metadata.PackageNotFoundError:  # no metadata beside it: ask the module itself
        import torchvision

        return torchvision.__version__.split("+")[0]


def resize_short_side(size: int, interpolation) -> list:
    """Resize the short side to ``size`` (of the image's centre part: :func:`cap_aspect`)."""
    from torchvision.transforms import v2

    return [v2.Lambda(cap_aspect), v2.Resize(size, interpolation, antialias=True)]


def build_transforms(
    data: DataConfig, train: bool = False, augment: str = "article", finish: bool = True
) -> v2.Compose:
    """PIL image -> normalised float tensor of ``data.input_size`` pixels square (``finish=False``:
    the uint8 tensor before the last two steps, :func:`build_batch_finish`, done once a batch).

    Evaluation: resize the short side to ``resize_size``, centre crop ``input_size``. Training
    with ``augment="article"``: the article's augmentation, scaled to the backbone's sizes: random
    resized crop to ``resize_size``, rotation by up to 15 degrees, colour jitter, horizontal flip,
    centre crop. ``augment="trivial"`` uses TrivialAugmentWide after a random resized crop;
    ``"none"`` is the evaluation transform.
    """
    from torchvision.transforms import v2

    interp, start, end = _interpolation(data), [v2.ToImage()], _finish(data) if finish else []
    if not train or augment == "none":
        crop = [*resize_short_side(data.resize_size, interp), v2.CenterCrop(data.input_size)]
        return v2.Compose([*start, *crop, *end])
    if augment == "article":
        return v2.Compose(
            [
                *start,
                v2.RandomResizedCrop(
                    data.resize_size, scale=(0.8, 1.0), interpolation=interp, antialias=True
                ),
                v2.RandomRotation(degrees=15, interpolation=_warp_interpolation(data)),
                v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
                v2.RandomHorizontalFlip(),
                v2.CenterCrop(data.input_size),
                *end,
            ]
        )
    if augment == "trivial":
        return v2.Compose(
            [
                *start,
                v2.RandomResizedCrop(
                    data.input_size, scale=(0.35, 1.0), interpolation=interp, antialias=True
                ),
                v2.RandomHorizontalFlip(),
                v2.TrivialAugmentWide(interpolation=_warp_interpolation(data)),
                *end,
            ]
        )
    raise ObjrecError(f"unknown augmentation {augment!r}")


TTA_VIEWS = ("centre", "flip", "reframed", "reframed_flip")


def reframed_size(data: DataConfig) -> int:
    """The other framing's resize: the full centre square when evaluation crops 87.5% of it, else
    that usual 87.5% centre crop."""
    if data.resize_size > data.input_size:
        return data.input_size
    return round(data.input_size / 0.875)


def tta_view_geometry(data: DataConfig, name: str) -> tuple[int, bool]:
    """The short-side resize of test-time view ``name`` and whether it is mirrored."""
    if name not in TTA_VIEWS:
        raise ObjrecError(f"unknown test-time view {name!r}")
    resize = reframed_size(data) if name.startswith("reframed") else data.resize_size
    return resize, name.endswith("flip")


def build_tta_transform(data: DataConfig, name: str, finish: bool = True) -> v2.Compose:
    """A deterministic test-time view: the evaluation view (``centre``), its mirror (``flip``), or
    the other framing of the image (``reframed``, ``reframed_flip``; see ``reframed_size``).
    ``finish=False``: as for :func:`build_transforms`."""
    from torchvision.transforms import v2

    resize, flip = tta_view_geometry(data, name)
    steps = [
        v2.ToImage(),
        *resize_short_side(resize, _interpolation(data)),
        v2.CenterCrop(data.input_size),
    ]
    if flip:
        steps.append(v2.RandomHorizontalFlip(p=1.0))
    return v2.Compose([*steps, *(_finish(data) if finish else [])])


def model_view(data: DataConfig, image):
    """The part of ``image`` the model sees at evaluation, as a PIL image (resize + centre crop)."""
    from torchvision.transforms import v2

    steps = [*resize_short_side(data.resize_size, _interpolation(data))]
    return v2.Compose([*steps, v2.CenterCrop(data.input_size)])(image)


def draft_size(data: DataConfig) -> int:
    """The smallest side a JPEG may be decoded at without losing detail for these transforms."""
    return max(data.resize_size, reframed_size(data))

import pytest
import torch

from objrec.config import DataConfig
from objrec.errors import ObjrecError
from objrec.transforms import build_transforms

from .conftest import make_image


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("augment", ["article", "trivial", "none"])
def test_every_preset_gives_the_backbones_input_size(augment, interpolation):
    data = DataConfig(48, 56, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), interpolation)
    torch.manual_seed(0)
    for train in (True, False) * 4:  # several draws: TrivialAugment warps in some only
        x = build_transforms(data, train=train, augment=augment)(
            make_image((10, 200, 30), size=(90, 70))
        )
        assert x.shape == (3, 48, 48) and x.dtype == torch.float32


def test_evaluation_transform_normalises_with_the_data_config():
    data = DataConfig(input_size=8, resize_size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    from PIL import Image

    x = build_transforms(data)(Image.new("RGB", (8, 8), (255, 0, 127)))
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, -1.0, 127 / 255 * 2 - 1]), atol=1e-6)


def test_training_transform_is_random_and_evaluation_is_not():
    data = DataConfig(input_size=32, resize_size=36)
    image = make_image((100, 100, 100), size=(60, 50))
    train, plain = build_transforms(data, train=True), build_transforms(data)
    assert not torch.equal(train(image), train(image))
    assert torch.equal(plain(image), plain(image))


def test_bad_data_configs_are_refused():
    with pytest.raises(ObjrecError):
        DataConfig(input_size=224, resize_size=200)
    with pytest.raises(ObjrecError):
        DataConfig(interpolation="lanczos7")


def resized_sizes(transform, image) -> list[tuple[int, int]]:
    """(height, width) of what each Resize step of ``transform`` makes of ``image``."""
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as F

    sizes = []
    for step in transform.transforms:
        image = step(image)
        if isinstance(step, v2.Resize):
            sizes.append(tuple(F.get_size(image)))
    return sizes


def test_a_strip_is_resized_by_its_centre_part_and_a_panorama_whole():
    """A 20,000 x 2 strip resized to a 240-pixel short side took 1.8 GiB and 2 s for one view."""
    from PIL import Image

    from objrec.transforms import MAX_ASPECT, build_tta_transform

    data = DataConfig(input_size=32, resize_size=36)
    strip = Image.new("RGB", (4000, 1), (200, 40, 40))
    panorama = make_image((200, 40, 40), size=(360, 36))
    for transform in (build_transforms(data), build_tta_transform(data, "reframed")):
        (size,) = resized_sizes(transform, strip)
        assert max(size) <= MAX_ASPECT * min(size) and transform(strip).shape == (3, 32, 32)
        ((height, width),) = resized_sizes(transform, panorama)
        assert width == 10 * height  # 10:1, resized whole


VIEW_CONFIGS = {"crop": DataConfig(16, 18), "whole": DataConfig(16, 16)}
"""A data config whose evaluation view crops 87.5% of the resized image and one that keeps it
whole: ``reframed`` frames each the other way (``transforms.reframed_size``)."""

PINNED_VIEWS = {
    "crop centre photo": "127.6 125.2 127.2 25.5 25.5 140.2 122.1 139.5 116.8 125.2 135.2 121.4 124.1 99.9 148.8 102.8 141.5 132.2 127.3 127.3 122.6",
    "crop centre strip": "169.5 122.2 129.1 5.1 8.3 76.6 93.9 133.8 198.1 78.9 96.2 136.0 200.5 140.4 157.8 159.2 144.4 154.5 171.8 166.0 136.2",
    "crop flip photo": "127.6 125.2 127.2 25.5 25.5 116.8 139.5 122.1 140.2 124.1 121.4 135.2 125.2 141.5 102.8 148.8 99.9 122.6 127.3 127.3 132.2",
    "crop flip strip": "169.5 122.2 129.1 5.1 8.3 198.1 133.8 93.9 76.6 200.5 136.0 96.2 78.9 144.4 159.2 157.8 140.4 136.2 166.0 171.8 154.5",
    "crop reframed photo": "127.8 125.6 127.4 23.7 26.8 145.3 120.2 137.5 120.0 132.1 124.6 125.5 128.2 122.6 138.0 109.2 137.3 112.0 129.9 128.5 119.6",
    "crop reframed strip": "169.5 122.6 129.3 5.1 8.8 72.8 92.3 138.6 201.2 75.2 94.7 141.0 203.8 137.9 157.5 158.1 147.4 151.6 171.2 163.8 140.2",
    "crop reframed_flip photo": "127.8 125.6 127.4 23.7 26.8 120.0 137.5 120.2 145.3 128.2 125.5 124.6 132.1 137.3 109.2 138.0 122.6 119.6 128.5 129.9 112.0",
    "crop reframed_flip strip": "169.5 122.6 129.3 5.1 8.8 201.2 138.6 92.3 72.8 203.8 141.0 94.7 75.2 147.4 158.1 157.5 137.9 140.2 163.8 171.2 151.6",
    "whole centre photo": "127.8 125.6 127.4 23.7 26.8 145.3 120.2 137.5 120.0 132.1 124.6 125.5 128.2 122.6 138.0 109.2 137.3 112.0 129.9 128.5 119.6",
    "whole centre strip": "169.5 122.6 129.3 5.1 8.8 72.8 92.3 138.6 201.2 75.2 94.7 141.0 203.8 137.9 157.5 158.1 147.4 151.6 171.2 163.8 140.2",
    "whole flip photo": "127.8 125.6 127.4 23.7 26.8 120.0 137.5 120.2 145.3 128.2 125.5 124.6 132.1 137.3 109.2 138.0 122.6 119.6 128.5 129.9 112.0",
    "whole flip strip": "169.5 122.6 129.3 5.1 8.8 201.2 138.6 92.3 72.8 203.8 141.0 94.7 75.2 147.4 158.1 157.5 137.9 140.2 163.8 171.2 151.6",
    "whole reframed photo": "127.6 125.2 127.2 25.5 25.5 140.2 122.1 139.5 116.8 125.2 135.2 121.4 124.1 99.9 148.8 102.8 141.5 132.2 127.3 127.3 122.6",
    "whole reframed strip": "169.5 122.2 129.1 5.1 8.3 76.6 93.9 133.8 198.1 78.9 96.2 136.0 200.5 140.4 157.8 159.2 144.4 154.5 171.8 166.0 136.2",
    "whole reframed_flip photo": "127.6 125.2 127.2 25.5 25.5 116.8 139.5 122.1 140.2 124.1 121.4 135.2 125.2 141.5 102.8 148.8 99.9 122.6 127.3 127.3 132.2",
    "whole reframed_flip strip": "169.5 122.2 129.1 5.1 8.3 198.1 133.8 93.9 76.6 200.5 136.0 96.2 78.9 144.4 159.2 157.8 140.4 136.2 166.0 171.8 154.5",
}
"""Each deterministic view of the two images of :func:`view_images` under each of
``VIEW_CONFIGS`` (:func:`view_summary`), as objrec made it when ``images.PIXEL_RULES`` was last
changed; print them again with ``pinned_views(folder)``."""
PINNED_UNDER = "Pillow 13.0.0 libjpeg 3.2.0 libwebp 1.6.0 libavif 1.4.2 torchvision 0.29.1"
"""The decoders and torchvision ``PINNED_VIEWS`` were made with (``view_keys.pixel_makers``): under
others (an upgrade within pyproject's range), moved pixels may be theirs, not objrec's."""


def view_images(folder):
    """A photo (a JPEG large enough to be decoded at an eighth of its size: the draft) and a strip
    (a PNG longer than ``transforms.MAX_ASPECT`` short sides), of colours that change within a few
    pixels of the view (a shifted crop or another resize moves them)."""
    import numpy as np
    from PIL import Image

    def pattern(width, height, scale):
        y, x = np.mgrid[0:height, 0:width] / scale
        red = (x * 7 + y * 3) % 256
        green = np.where((x // 9 + y // 7) % 2, 230, 20)
        blue = (np.hypot(x - width / scale * 0.3, y - height / scale * 0.6) * 11) % 256
        return Image.fromarray(np.stack([red, green, blue], -1).astype(np.uint8))

    folder.mkdir(parents=True, exist_ok=True)
    pattern(320, 240, 3).save(folder / "photo.jpg", quality=95)
    pattern(410, 13, 1).save(folder / "strip.png")
    return {"photo": folder / "photo.jpg", "strip": folder / "strip.png"}


def view_summary(path, data, view):
    """The view's pixels as the frozen pass makes them (the file decoded at its draft size, the
    uint8 view before the batch's normalisation), in 21 numbers: each channel's mean, the mean
    step between neighbouring grey pixels down and across (how sharp), the 16 means of its 4 x 4
    blocks of grey pixels (where what is)."""
    from objrec.data import Sample
    from objrec.transforms import draft_size
    from objrec.views import SeededViewDataset, ViewSpec

    transform = ViewSpec(data, tta=view).transform(finish=False)
    pixels = SeededViewDataset([Sample(path, 0)], transform, 0, draft_size(data))[0][0].float()
    grey = pixels.mean(0)
    blocks = grey.reshape(4, 4, 4, 4).mean((1, 3)).flatten()
    steps = torch.stack([grey.diff(dim=0).abs().mean(), grey.diff(dim=1).abs().mean()])
    return torch.cat([pixels.mean((1, 2)), steps, blocks]).tolist()


def pinned_views(folder) -> str:
    """``PINNED_VIEWS``' lines, as this objrec makes the views (``PINNED_UNDER``: pin it too)."""
    from objrec.transforms import TTA_VIEWS
    from objrec.view_keys import pixel_makers

    images, lines = view_images(folder), []
    for config, data in VIEW_CONFIGS.items():
        for view in TTA_VIEWS:
            for image, path in images.items():
                numbers = " ".join(f"{x:.1f}" for x in view_summary(path, data, view))
                lines.append(f'    "{config} {view} {image}": "{numbers}",')
    return "\n".join([*lines, f'PINNED_UNDER = "{pixel_makers()}"'])


@pytest.mark.slow
def test_the_centre_and_test_time_views_make_the_pixels_pinned(tmp_path):
    """The store keys the centre and test-time views' rows by their names alone
    (``views.ViewSpec.key``): a change to how they frame or resize an image
    (``transforms.reframed_size``, ``resize_short_side``, ``draft_size``, a crop) served every
    user's rows of the old pixels unless ``images.PIXEL_RULES`` changed too, and no test failed
    (``reframed_size``'s ``/ 0.875`` made ``/ 0.85`` here: the reframed views of "whole" move by
    up to 7.8 levels of 255; the JPEG decoded at its full size instead of its draft, 2.3). A
    library's upgrade alone (Pillow, libjpeg-turbo, torchvision) is in the store's key already
    (``view_keys.pixel_makers``): it needs only the new numbers."""
    from objrec.view_keys import pixel_makers

    images = view_images(tmp_path)
    moved = []
    for name, pinned in PINNED_VIEWS.items():
        config, view, image = name.split()
        made = view_summary(images[image], VIEW_CONFIGS[config], view)
        if max(abs(a - float(b)) for a, b in zip(made, pinned.split(), strict=True)) > 0.75:
            moved.append(name)
    assert len(PINNED_VIEWS) == 16 and not moved, moved_pixels_said(moved, pixel_makers())


def moved_pixels_said(moved, makers):
    """Why the pixels of the views ``moved`` changed, and what to do, under ``makers``
    (``view_keys.pixel_makers()`` now): a library's upgrade needs only the new numbers."""
    said = f"the pixels of {', '.join(moved)} changed"
    repin = "pin the new numbers (tests.test_transforms.pinned_views(folder) prints them)"
    if makers != PINNED_UNDER:
        return (
            f"{said}, pinned under {PINNED_UNDER}, made under {makers}: where objrec's own views "
            "(transforms, images) did not change, the libraries did, and the store's key has them "
            f"already (view_keys.pixel_makers): {repin} with PINNED_UNDER, leaving "
            "images.PIXEL_RULES; else check them under the pinned libraries"
        )
    return (
        f"{said}: change images.PIXEL_RULES, so that the feature store computes these views' rows "
        f"again instead of serving the old ones, then {repin}"
    )


def test_pinned_pixels_moved_by_a_library_upgrade_say_re_pin_not_change_the_rules():
    """review3-46 nit 10: pyproject allows other Pillows; a JPEG decoded at its draft by another
    libjpeg-turbo moves a block's mean, and the message said to change images.PIXEL_RULES, which a
    library's upgrade does not need (it is in the store's key)."""
    upgraded = PINNED_UNDER.replace("Pillow 13.0.0", "Pillow 13.1.0")
    said = moved_pixels_said(["crop centre photo"], upgraded)
    assert "with PINNED_UNDER, leaving images.PIXEL_RULES" in said and upgraded in said
    said = moved_pixels_said(["crop centre photo"], PINNED_UNDER)
    assert said.startswith("the pixels of crop centre photo changed: change images.PIXEL_RULES")

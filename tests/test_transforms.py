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

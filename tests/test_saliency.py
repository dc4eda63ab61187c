"""Grad-CAM: the heatmap points at what decided the class."""

import pytest
import torch
from torch import nn

from objrec.saliency import grad_cam, grad_cams, overlay


def patch_images(n, size=32, seed=0):
    """Grey noise with one 8x8 patch, red (class 1) or green (class 0), at a random place."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 0.4 + 0.3
    y = torch.randint(0, 2, (n,), generator=g)
    corners = torch.randint(0, size - 8, (n, 2), generator=g)
    for i in range(n):
        r, c = corners[i].tolist()
        colour = torch.tensor([1.0, 0.0, 0.0]) if y[i] else torch.tensor([0.0, 1.0, 0.0])
        x[i, :, r : r + 8, c : c + 8] = colour[:, None, None]
    return x, y, corners


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))

    def forward(self, x):
        return self.head(self.body(x))


@pytest.mark.slow
def test_grad_cam_highlights_the_patch_that_decides_the_class():
    torch.manual_seed(0)
    model = SmallNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    x, y, _ = patch_images(128)  # 128 images, 100 steps: 40 of 40 hits, as 256 and 150 gave
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    tx, ty, corners = patch_images(40, seed=1)
    assert (model(tx).argmax(1) == ty).float().mean() > 0.9
    hits = 0
    for i in range(40):
        cam, _ = grad_cam(model, tx[i : i + 1])
        r, c = corners[i].tolist()
        inside = cam[r : r + 8, c : c + 8].mean()
        mask = torch.ones_like(cam, dtype=torch.bool)
        mask[r : r + 8, c : c + 8] = False
        peak = divmod(int(cam.argmax()), cam.shape[1])
        hits += bool(
            inside > 1.5 * cam[mask].mean()
            and r - 2 <= peak[0] < r + 10
            and c - 2 <= peak[1] < c + 10
        )
    assert hits >= 36


def test_overlay_keeps_the_image_size_and_tints_the_hot_region():
    from PIL import Image

    image = Image.new("RGB", (40, 30), (128, 128, 128))
    cam = torch.zeros(30, 40)
    cam[:10, :10] = 1.0
    out = overlay(image, cam)
    assert out.size == image.size
    assert out.getpixel((2, 2)) != out.getpixel((35, 25))


def full_backward_cam(model, x, target):
    """Grad-CAM as first written: the input asks for its gradient, so the backward pass runs
    through the whole body; the reference the faster map must equal."""
    saved = []

    def keep(_module, _inputs, output):
        output.retain_grad()
        saved.append(output)

    handle = model.body[-2].register_forward_hook(keep)  # the last convolution
    model(x.clone().requires_grad_(True))[0, target].backward()
    handle.remove()
    weights = saved[0].grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * saved[0]).sum(1))[0].detach()
    return cam / cam.max()


def test_grad_cam_differentiates_only_what_follows_the_hooked_layer():
    """`report` spent most of its Grad-CAM time differentiating the whole body down to the input
    image; the backward pass now stops at the hooked activation, with the same map."""
    torch.manual_seed(0)
    model = SmallNet().requires_grad_(False).eval()  # a frozen body, as a trained run's
    x, _, _ = patch_images(1)
    first = model.body[0]
    ran = []
    first.register_full_backward_hook(lambda *args: ran.append(1))
    cam, target = grad_cam(model, x)
    assert not ran  # the first convolution was never differentiated
    assert torch.allclose(cam, full_backward_cam(model, x, target), atol=1e-6)


def test_a_batch_of_maps_is_each_image_s_own_map_of_its_own_target():
    """report drew its maps one image at a time (61 s for 7 on the default ensemble, 26 s in one
    pass): the batch's maps equal each image's alone, each of the class it was given, or of its
    top class where given None."""
    torch.manual_seed(0)
    model = SmallNet().requires_grad_(False).eval()
    x, _, _ = patch_images(3)
    top = model(x).argmax(1).tolist()
    cams, targets = grad_cams(model, x, [1 - top[0], None, top[2]])
    assert targets == [1 - top[0], top[1], top[2]]
    for i, target in enumerate(targets):
        alone, _ = grad_cam(model, x[i : i + 1], target)
        assert torch.allclose(cams[i], alone, atol=1e-6)


def test_the_overlay_grows_brighter_with_the_heat_as_a_grey_print_shows_it():
    """jet drew the hottest region dark red and the coldest dark blue: in grey, or to a red-green
    colour-blind eye, most and least looked alike (a11y40 #4). The overlay's lightness now rises
    with the heat all the way, on a grey photo."""
    import numpy as np
    from PIL import Image

    image = Image.new("RGB", (50, 4), (128, 128, 128))
    cam = torch.linspace(0, 1, 50).repeat(4, 1)
    grey = np.asarray(overlay(image, cam).convert("L"), dtype=float)[0]
    assert (np.diff(grey) >= 0).all() and grey[-1] - grey[0] > 60, grey


@pytest.mark.slow  # 0.5 s
def test_maps_made_in_several_threads_at_once_are_each_threads_own():
    """review59a M3: `Recognizer`'s docstring promised it safe in several threads, but two
    threads' Grad-CAM hooked the shared body's layer at once, each catching the other's
    activation too, and a thread answering through it fed them more: 7 of 40 maps failed ("the
    hooked activation took part in the backward pass"). Two threads of maps and one of answers
    on one model: no error, and every map as one thread alone makes it."""
    import threading

    torch.manual_seed(0)
    model = SmallNet().requires_grad_(False).eval()
    x, _, _ = patch_images(8, size=96)
    alone, targets = grad_cams(model, x)
    errors, done, stop = [], [], threading.Event()

    def maps():
        for _ in range(20):
            try:
                cams, chosen = grad_cams(model, x)
                done.append(chosen == targets and torch.allclose(cams, alone, atol=1e-6))
            except Exception as exc:  # what the test counts
                errors.append(repr(exc))

    def answers():
        while not stop.is_set():
            with torch.no_grad():
                model(x)

    answering = threading.Thread(target=answers)
    threads = [threading.Thread(target=maps) for _ in range(2)]
    answering.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    answering.join()
    assert not errors and done == [True] * 40, errors[:3]

"""Grad-CAM, test-time augmentation and the HTML report (rendered in a real headless browser)."""

import json
import shutil

import pytest
import torch
from torch import nn

from objrec.evaluate import evaluate
from objrec.predict import predict
from objrec.report import build_report
from objrec.saliency import grad_cam


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


def test_grad_cam_highlights_the_patch_that_decides_the_class():
    torch.manual_seed(0)
    model = SmallNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    x, y, _ = patch_images(256)
    for _ in range(150):
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


def test_tta_reports_with_and_without(trained_run, split_dir):
    result = evaluate(trained_run, split_dir, tta=True)
    assert result.metrics["tta"] and result.metrics_plain is not None
    plain = evaluate(trained_run, split_dir)
    assert result.metrics_plain["top1"] == pytest.approx(plain.metrics["top1"])
    assert result.metrics_plain["loss"] == pytest.approx(plain.metrics["loss"], rel=1e-5)
    saved = json.loads((trained_run / "eval-test" / "metrics.json").read_text())
    assert "without_tta" not in saved  # the last evaluation (without TTA) is the one on disk
    images = list((split_dir / "test" / "red").iterdir())
    with_tta = predict(trained_run, images, tta=True)
    without = predict(trained_run, images)
    assert [p.topk[0]["prob"] for p in with_tta] != [p.topk[0]["prob"] for p in without]


def test_predict_explain_writes_one_overlay_per_image(trained_run, split_dir, tmp_path):
    images = sorted((split_dir / "test" / "green").iterdir())
    results = predict(trained_run, images, explain=tmp_path / "cams")
    assert [r.explanation is not None for r in results] == [True] * len(images)
    assert len(list((tmp_path / "cams").glob("*.gradcam.png"))) == len(images)


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_is_one_self_contained_file(trained_run, tmp_path):
    path = build_report(trained_run, tmp_path / "r.html")
    html = path.read_text()
    for section in (
        "overview",
        "data",
        "training",
        "classes",
        "confusions",
        "failures",
        "saliency",
        "config",
    ):
        assert f'id="{section}"' in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from anywhere
    assert html.count("data:image/") >= 10


@pytest.mark.skipif(
    not chromium(), reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_report_renders_in_headless_chromium(trained_run, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    path = build_report(trained_run, tmp_path / "report.html")
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        for heading in (
            "Overview",
            "Data",
            "Training",
            "Per class",
            "Confusions",
            "Failures",
            "Saliency (Grad-CAM)",
        ):
            assert page.locator("h2", has_text=heading).count() == 1, heading
        broken = page.evaluate(
            "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        first = page.locator("#per-class tbody tr td").first.text_content()
        page.locator("#per-class th", has_text="class").first.click()
        sorted_first = page.locator("#per-class tbody tr td").first.text_content()
        shot = page.screenshot(full_page=True)
        browser.close()
    assert errors == [] and broken == 0
    assert sorted_first == "blue" and first in ("blue", "green", "red")
    from io import BytesIO

    from PIL import Image, ImageStat

    picture = Image.open(BytesIO(shot)).convert("L")
    assert picture.height > 2000 and ImageStat.Stat(picture).stddev[0] > 20  # not a blank page


def test_a_report_without_errors_says_none_instead_of_empty_tables_and_galleries(
    trained_run, split_dir, tmp_path
):
    metrics = evaluate(trained_run, split_dir).metrics
    assert metrics["top1"] == 1.0  # the colours are separable
    html = build_report(trained_run, tmp_path / "r.html").read_text()
    failures = html[html.index('<section id="failures">') : html.index('<section id="saliency">')]
    assert "<figure" not in failures
    assert f"None: all {metrics['n']} test images were predicted right" in failures
    assert '<p id="most-confused">None' in html and '<table id="most-confused">' not in html
    assert "None: no test image was predicted wrong" in html


def test_failure_galleries_show_the_classes_that_have_errors(split_dir):
    import pandas as pd

    from objrec.report import failure_tiles

    rows = [
        (str(path), path.parent.name, "green" if path.parent.name == "red" and i == 0 else None)
        for folder in sorted((split_dir / "test").iterdir())
        for i, path in enumerate(sorted(folder.iterdir()))
    ]
    predictions = pd.DataFrame(
        {
            "path": [r[0] for r in rows],
            "true": [r[1] for r in rows],
            "predicted": [r[2] or r[1] for r in rows],
            "prob_predicted": 0.9,
            "loss": [2.0 if r[2] else 0.1 for r in rows],
        }
    )
    per_class = pd.DataFrame({"class": ["blue", "red", "green"]})  # worst first
    top, worst = failure_tiles(predictions, per_class)
    n_red = sum(r[1] == "red" for r in rows)
    assert [name for name, _ in worst] == ["red"] and len(worst[0][1]) == n_red
    assert top[0].wrong and "predicted green" in top[0].caption and len(top) == len(rows)
    right = predictions.assign(predicted=predictions["true"])
    assert failure_tiles(right, per_class) == ([], [])

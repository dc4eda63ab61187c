"""One answer: evaluate, predict (PyTorch and ONNX Runtime), the exported ONNX file run with its
sidecar's preprocessing, and serve give the same probabilities for the same real images."""

import json
import platform
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from objrec.evaluate import evaluate
from objrec.export.check import SCORE_TOLERANCE
from objrec.export.exporter import export_model
from objrec.images import open_image
from objrec.inference import Recognizer
from objrec.predict import predict
from objrec.runtime import OnnxModel
from objrec.serve.server import create_app

from .conftest import followed_by, local_client, own_copy, retrain_of

TOLERANCE = 1e-4
"""Largest difference allowed between evaluate's probability of any class for any image and any
other path's. The paths differ only by float rounding (ONNX Runtime against PyTorch; evaluate's
cached features come from the body run by ONNX Runtime)."""


def probability_rows(results, classes):
    """{path: probabilities in class order} from predict's or serve's top-k lists."""
    rows = {}
    for path, topk in results:
        probs = dict((t["class"], t["prob"]) for t in topk)
        rows[path] = np.array([probs[c] for c in classes])
    return rows


def sidecar_views(sidecar, tta):
    """The views a caller runs, from the sidecar alone: all test-time views, or the plain one."""
    info = json.loads(sidecar.read_text())
    plain = [{"resize_short_side": info["input"]["resize_short_side"], "flip_horizontal": False}]
    return info["input"], info["test_time_views"] if tta else plain


def sidecar_input_torchvision(image, spec, view):
    """The sidecar's recipe with torchvision's functions (tensor resize, antialiased)."""
    from torchvision.transforms.v2 import functional as F  # not at collection: 2 s of CPU

    x = F.to_image(image)
    x = F.resize(x, view["resize_short_side"], antialias=True)
    x = F.center_crop(x, spec["center_crop"])
    if view["flip_horizontal"]:
        x = F.horizontal_flip(x)
    return F.normalize(F.to_dtype(x, torch.float32, scale=True), spec["mean"], spec["std"])


def sidecar_input_pil(image, spec, view):
    """The sidecar's recipe as a caller without torch writes it: PIL and numpy only."""
    w, h = image.size
    s = view["resize_short_side"]
    size = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
    resized = image.resize(size, Image.Resampling.BILINEAR)
    c = spec["center_crop"]
    left, top = round((size[0] - c) / 2), round((size[1] - c) / 2)
    crop = resized.crop((left, top, left + c, top + c))
    if view["flip_horizontal"]:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    x = (np.asarray(crop, dtype=np.float32) / 255 - spec["mean"]) / spec["std"]
    return torch.from_numpy(x.transpose(2, 0, 1).astype(np.float32))


def sidecar_decode(path, spec):
    """The sidecar's decoding step with PIL: JPEG draft scale, EXIF orientation, RGB."""
    with Image.open(path) as image:
        if image.format in ("JPEG", "MPO"):
            image.draft("RGB", (spec["jpeg_draft_min_side"],) * 2)
        return ImageOps.exif_transpose(image).convert("RGB")


def sidecar_answer(onnx, sidecar, path, tta):
    """The exported file run on the sidecar's preprocessing, views averaged as it says, and its
    unknown answer as the sidecar's rule says: (probabilities, the centre view's score, unknown)."""
    spec, views = sidecar_views(sidecar, tta)
    image = sidecar_decode(path, spec)
    x = [sidecar_input_torchvision(image, spec, view)[None] for view in views]
    outputs = [onnx.outputs(v) for v in x]
    probs = torch.stack([out[0] for out in outputs]).mean(0).numpy()[0]
    rule = json.loads(sidecar.read_text())["unknown"]
    centre = outputs[0]
    score = float(centre[1][0] if rule["score"] != "msp" else centre[0][0].max())
    threshold = rule["threshold"]
    return probs, score, threshold is not None and score < threshold


def answer_rows(results, classes):
    """{path: (probabilities in class order, unknown score, unknown)} of predict's results or
    serve's JSON answers, each given as (path, top-k list, score, unknown)."""
    probs = probability_rows([(path, topk) for path, topk, _, _ in results], classes)
    return {path: (probs[path], score, unknown) for path, _, score, unknown in results}


def scores_apart(score: float, reference: float) -> float:
    """How far ``score`` is from evaluate's, relative where that is over 1 (``SCORE_TOLERANCE``'s
    scale, the export's own check)."""
    return abs(score - reference) / max(1.0, abs(reference))


@pytest.mark.slow
@pytest.mark.parametrize("tta", [False, True], ids=["plain", "tta"])
def test_evaluate_predict_onnx_export_and_serve_agree_on_real_images(sample_run, tmp_path, tta):
    """Each path gives evaluate's probabilities, and its unknown score and verdict too (review57a
    L2: a familiarity computed otherwise on serve's ONNX graph, or on another view, passed when
    the probabilities alone were compared). A verdict may differ only for a score within the
    tolerance of the threshold."""
    run, data = own_copy(sample_run[0], tmp_path / "own", tmp_path / "cache-own"), sample_run[1]
    recognizer = Recognizer.load(run)
    classes, threshold = list(recognizer.classes), recognizer.threshold
    evaluation = evaluate(run, data, out=tmp_path / "eval", tta=tta, cache_dir=tmp_path / "cache")
    table = evaluation.predictions
    paths = table["path"].tolist()
    assert len(paths) >= 25  # every test image of the sample
    reference = {
        p: (probs, float(score), bool(unknown))
        for p, probs, score, unknown in zip(
            paths, evaluation.probabilities.numpy(), table["score"], table["unknown"], strict=True
        )
    }
    answers = {}
    for runtime in ("torch", "onnx"):
        results = predict(run, [data / "test"], topk=len(classes), runtime=runtime, tta=tta)
        answers[f"predict --runtime {runtime}"] = answer_rows(
            [(r.path, r.topk, r.score, r.unknown) for r in results], classes
        )
    exported = export_model(run, tmp_path / "model.onnx")
    onnx = OnnxModel(exported.model)
    answers["exported ONNX + sidecar"] = {
        p: sidecar_answer(onnx, exported.sidecar, p, tta) for p in paths
    }
    client = local_client(create_app(run))
    served = []
    for p in paths:
        with open(p, "rb") as f:
            files = {"file": ("image.jpg", f, "image/jpeg")}
            body = {"topk": str(len(classes)), "tta": str(tta).lower()}
            said = client.post("/predict", files=files, data=body).json()
            served.append((p, said["topk"], said["score"], said["unknown"]))
    answers["serve"] = answer_rows(served, classes)
    assert threshold is not None  # the verdicts compared are the threshold's
    for name, rows in answers.items():
        assert set(rows) == set(reference), name
        worst = max(float(np.abs(rows[p][0] - reference[p][0]).max()) for p in paths)
        assert worst <= TOLERANCE, f"{name} differs from evaluate by {worst:.2g}"
        worst = max(scores_apart(rows[p][1], reference[p][1]) for p in paths)
        assert worst <= SCORE_TOLERANCE, f"{name}'s unknown score differs by {worst:.2g}"
        near = {p for p in paths if scores_apart(threshold, reference[p][1]) <= SCORE_TOLERANCE}
        verdicts = [p for p in paths if p not in near and rows[p][2] != reference[p][2]]
        assert verdicts == [], f"{name} answers unknown otherwise than evaluate: {verdicts}"


def sideways_photo(path: Path) -> Path:
    """A JPEG stored turned, with the EXIF orientation (6) a phone writes to show it upright."""
    upright = np.zeros((200, 320, 3), dtype=np.uint8)
    upright[:70] = (220, 40, 40)  # a red band on top, green below: a turn changes the view
    upright[70:] = (40, 200, 60)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    stored.save(path, quality=95, exif=exif)
    return path


def test_the_python_api_page_s_recognizer_answers_a_phone_photo_as_predict_does(
    trained_run, tmp_path, monkeypatch
):
    """docs/python-api.md answered `Recognizer.answer([Image.open(p).convert("RGB")])`: a phone's
    photo, stored sideways with its EXIF orientation, was answered sideways, otherwise than
    predict answers it (review57a H1). The page's block, as written, on such a photo now gives
    predict's probabilities and unknown score."""
    import objrec

    shutil.copytree(trained_run, tmp_path / "here" / "run")
    photo = sideways_photo(tmp_path / "here" / "photo.jpg")
    monkeypatch.chdir(tmp_path / "here")
    page = (Path(__file__).parents[1] / "docs" / "python-api.md").read_text()
    block = next(b for b in re.findall(r"(?ms)^```python\n(.*?)^```", page) if "Recognizer" in b)
    namespace = {"objrec": objrec}
    exec(compile(block, "python-api.md", "exec"), namespace)
    recognizer, answers = namespace["recognizer"], namespace["answers"]
    expected = predict(Path("run"), [photo], topk=len(recognizer.classes))[0]
    got = recognizer.topk(answers.probs[0], len(recognizer.classes))
    assert [t["class"] for t in got] == [t["class"] for t in expected.topk]
    assert np.allclose([t["prob"] for t in got], [t["prob"] for t in expected.topk], atol=1e-6)
    assert float(answers.scores[0]) == pytest.approx(expected.score, abs=1e-5)
    sideways = recognizer.answer([Image.open(photo).convert("RGB")])  # the page's old recipe
    assert float((sideways.probs[0] - answers.probs[0]).abs().max()) > 1e-3


@pytest.mark.parametrize("mode", ["RGBA", "CMYK", "I;16", "F", "L"])
def test_the_recognizer_refuses_an_image_that_is_not_rgb_in_one_sentence(trained_once, mode):
    """`answer` took any PIL image: RGBA and CMYK stopped on torch's "The size of tensor a (4)
    must match the size of tensor b (3)", and 16-bit grey answered another class than predict
    (review57a H1). Only RGB is taken; a file is opened as predict opens it."""
    from objrec.errors import ObjrecError

    from .conftest import make_image

    recognizer = Recognizer.load(trained_once)
    image = make_image((200, 40, 40))
    with pytest.raises(ObjrecError, match=f"takes RGB images, not this {re.escape(mode)} one"):
        recognizer.answer([image.convert(mode)])
    with pytest.raises(ObjrecError, match="a list of images or files, not one"):
        recognizer.answer(image)
    assert recognizer.answer([image]).probs.shape == (1, len(recognizer.classes))


def test_the_recognizer_answers_a_numpy_array_as_its_file_and_refuses_other_arrays(
    trained_once, tmp_path
):
    """python-api.md says `answer` takes RGB images decoded already: a PIL image worked, but a
    numpy array, the usual decoded image, stopped in pathlib ("expected str, bytes or
    os.PathLike object, not ndarray"). A height x width x 3 uint8 array is answered as its file
    is (a batch array as its images); another shape or dtype is one sentence naming its index."""
    from objrec.errors import ObjrecError

    from .conftest import make_image

    recognizer = Recognizer.load(trained_once)
    make_image((200, 40, 40), size=(64, 48)).save(tmp_path / "photo.png")
    pixels = np.asarray(Image.open(tmp_path / "photo.png").convert("RGB"))
    from_file = recognizer.answer([tmp_path / "photo.png"])
    for given in ([pixels], [pixels[:, ::-1][:, ::-1]], pixels[None]):  # strided; a batch of 1
        answers = recognizer.answer(given)
        assert float((answers.probs - from_file.probs).abs().max()) < 1e-6
        assert float((answers.scores - from_file.scores).abs().max()) < 1e-6
    wrong = [pixels[:, :, 0], np.dstack([pixels, pixels[:, :, :1]]), pixels.astype(np.float32)]
    for array in wrong:
        with pytest.raises(ObjrecError, match=r"^image 1 of `images` is a numpy array of shape"):
            recognizer.answer([pixels, array])
    with pytest.raises(ObjrecError, match="a list of images or files, not one"):
        recognizer.answer(pixels)


def test_the_recognizer_s_moved_methods_still_answer_by_their_earlier_names_and_warn(
    trained_once, tmp_path
):
    """Recognizer.explain, explain_all, explain_made and ready_words went from the public class
    in session 59 (to saliency and predict) with no word, so a script calling them stopped on an
    AttributeError (late59b L3): each still answers as its new place does, for a release, with a
    DeprecationWarning naming that place."""
    from objrec import saliency
    from objrec.predict import ready_words

    from .conftest import make_image

    recognizer = Recognizer.load(trained_once)
    make_image((200, 40, 40), size=(64, 48)).save(tmp_path / "photo.png")
    image = recognizer.open(tmp_path / "photo.png")
    made = [recognizer.explained(image)]
    calls = {
        "explain": (lambda: [recognizer.explain(image)], saliency.explain_all, [image]),
        "explain_all": (
            lambda: recognizer.explain_all([image], [None]),
            saliency.explain_all,
            [image],
        ),
        "explain_made": (
            lambda: recognizer.explain_made(made, [None]),
            saliency.explain_made,
            made,
        ),
    }
    for old, (call, new, given) in calls.items():
        with pytest.warns(
            DeprecationWarning,
            match=rf"Recognizer\.{old} is deprecated: use objrec\.saliency\.{new.__name__}\(recognizer",
        ):
            ((picture, target),) = call()
        ((expected, expected_target),) = new(recognizer, given, [None])
        assert target == expected_target
        assert np.array_equal(np.asarray(picture), np.asarray(expected))
    with pytest.warns(
        DeprecationWarning, match=r"use objrec\.predict\.ready_words\(recognizer, images\)"
    ):
        assert recognizer.ready_words(4) == ready_words(recognizer, 4)


@pytest.mark.slow
def test_tta_changes_the_answer_and_plain_is_the_centre_view(sample_run, tmp_path):
    run, data = sample_run
    recognizer = Recognizer.load(run)
    image = open_image(next((data / "test").rglob("*.jpg")))
    plain, tta = recognizer.probabilities([image]), recognizer.probabilities([image], tta=True)
    assert torch.allclose(plain.sum(1), torch.ones(1)) and torch.allclose(tta.sum(1), torch.ones(1))
    assert not torch.allclose(plain, tta)
    centre = recognizer.logits(recognizer.preprocess([image], "centre"))
    assert torch.allclose(plain, (centre / recognizer.temperature).softmax(1))


@pytest.mark.parametrize("score", ["msp", "knn"])
def test_a_score_exactly_at_the_float32_threshold_is_answered_alike_by_predict_and_the_script(
    score,
):
    """review62c L1: ``decide`` compared a float32 score with the threshold rounded to float32,
    the exported script in float64, so a score of exactly float32(0.39) was answered by predict
    and called unknown by model_infer.py. Both compare in float64 now
    (``thresholds.below_threshold``), as evaluate's figures did."""
    from types import SimpleNamespace

    from objrec.export.script import Model
    from objrec.thresholds import below_threshold, share_kept

    tie = torch.tensor([0.39], dtype=torch.float32)
    assert float(tie[0]) < 0.39 and not bool(tie < 0.39)  # the tie: float32(0.39) < 0.39
    probs = torch.tensor([[0.39, 0.305, 0.305]])  # msp: a top probability of float32(0.39)
    recognizer = SimpleNamespace(
        threshold=0.39, unknown_score=score, classes=["cup", "lamp", "mug"]
    )
    recognizer.combine = lambda views, temperature=None: probs
    answers = Recognizer.decide(recognizer, [(probs.log(), tie)])  # type: ignore[arg-type]
    unknown = {"score": score, "scale": None, "threshold": 0.39}
    stub = SimpleNamespace(spec={"classes": ["cup", "lamp", "mug"], "unknown": unknown})
    entry = Model.entry(stub, "a.jpg", answers.probs[0].numpy(), float(answers.scores[0]), 1)  # type: ignore[arg-type]
    assert answers.unknown.tolist() == [entry["unknown"]] == [bool(below_threshold(tie, 0.39))]
    assert share_kept(tie, 0.39) == 0.0


@pytest.mark.parametrize("score", ["msp", "knn"])
def test_with_test_time_views_the_unknown_score_is_the_centre_views(score):
    """The threshold was fitted on the centre view's scores, so with ``tta`` the answer averages
    the views but the unknown score stays the centre view's (the averaged answer's top
    probability, lower, would turn known images "unknown")."""
    from types import SimpleNamespace

    recognizer = SimpleNamespace(
        temperature=1.0, threshold=0.6, unknown_score=score, classes=["a", "b"]
    )
    recognizer.combine = lambda views, temperature=None: Recognizer.combine(recognizer, views)
    centre, mirrored = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    familiarity = torch.tensor([0.9]), torch.tensor([0.1])
    views = [(centre, familiarity[0]), (mirrored, familiarity[1])]
    answers = Recognizer.decide(recognizer, views)  # type: ignore[arg-type]
    torch.testing.assert_close(answers.probs, torch.tensor([[0.5, 0.5]]))
    centre_score = 1 / (1 + np.exp(-2.0)) if score == "msp" else 0.9  # softmax([2, 0])[0]
    assert answers.scores.tolist() == pytest.approx([centre_score])
    assert answers.unknown.tolist() == [False]  # 0.5 or the views' mean would be below 0.6


def test_test_time_views_score_the_first_views_familiarity_alone(trained_once, monkeypatch):
    """``answer`` with test-time views (``serve --tta``, ``predict --tta`` of photos the store
    lacks) scored the familiarity of all 4 views and read the first's alone (:meth:`decide`). It
    scores the first's now, as the stored features' path does, and answers the same."""
    import objrec.inference

    recognizer = Recognizer.load(trained_once)
    assert recognizer.model.familiarity is not None
    paths = sorted((trained_once.parent / "data" / "test").rglob("*.png"))[:3]
    images = [open_image(path) for path in paths]
    views = recognizer.view_names(tta=True)
    assert len(views) == 4 and len(images) == 3
    with torch.inference_mode():  # each view's features as ``_torch`` computes them, scored
        batches = [recognizer.preprocess(images, view) for view in views]
        body = recognizer.model.body
        features = [body(x.contiguous(memory_format=torch.channels_last)) for x in batches]
        every_view_scored = recognizer.decide([recognizer._from_features(f) for f in features])
    scored = []
    score = objrec.inference.score_in_chunks
    monkeypatch.setattr(
        objrec.inference, "score_in_chunks", lambda *args: scored.append(1) or score(*args)
    )
    answers = recognizer.answer(images, tta=True)
    assert len(scored) == 1
    assert torch.equal(answers.probs, every_view_scored.probs)
    assert torch.equal(answers.scores, every_view_scored.scores)
    assert torch.equal(answers.unknown, every_view_scored.unknown)


@pytest.mark.slow
def test_a_temperature_in_the_metadata_applies_to_images_and_features_alike(sample_run):
    from dataclasses import replace

    from objrec.meta import Calibration

    run, data = sample_run
    plain = Recognizer.load(run)
    hot = Recognizer(plain.model, replace(plain.meta, calibration=Calibration(temperature=2.0)))
    image = open_image(next((data / "test").rglob("*.jpg")))
    x = hot.preprocess([image])
    logits = plain.logits(x)
    assert torch.allclose(hot.probabilities([image]), (logits / 2).softmax(1), atol=1e-6)
    features = plain.model.body(x)
    assert torch.allclose(
        hot.answer_from_features([features]).probs, hot.probabilities([image]), atol=1e-6
    )
    assert hot.probabilities([image]).max() < plain.probabilities([image]).max()


@pytest.mark.slow
def test_the_sidecar_recipe_without_torch_reproduces_the_input_within_one_pixel_level(
    sample_run, tmp_path
):
    """A caller using PIL's resize instead of torchvision's gets the same crop, each value within
    one level of 255 (the two libraries round their antialiased bilinear filters differently)."""
    run, data = sample_run
    exported = export_model(run, tmp_path / "model.onnx")
    spec, views = sidecar_views(exported.sidecar, tta=True)
    one_level = 1.001 / 255 / min(spec["std"])
    for path in sorted((data / "test").rglob("*.jpg"))[:10]:
        image = open_image(path)
        for view in views:
            ours = sidecar_input_torchvision(image, spec, view)
            theirs = sidecar_input_pil(image, spec, view)
            assert ours.shape == theirs.shape
            assert float((ours - theirs).abs().max()) <= one_level


@pytest.mark.slow
def test_the_torch_runtime_runs_the_body_channels_last_on_the_cpu(sample_run):
    """As the frozen pass's eager runner: channels-first, predict on the built-in sample's 120
    photos took 22.46 s against 15.58 s (benchmarks/README.md, medians of 3; the answer is the
    same to float rounding: the agreement test above holds it within TOLERANCE of evaluate's)."""
    run, data = sample_run
    recognizer = Recognizer.load(run)
    seen = []
    recognizer.model.body.register_forward_pre_hook(
        lambda _, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    image = open_image(next((data / "test").rglob("*.jpg")))
    recognizer.probabilities([image, image])
    assert seen == [True]
    convolutions = [m for m in recognizer.model.body.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convolutions)


def test_a_threshold_that_is_nan_is_refused_by_the_library_too(trained_run):
    """The CLI refused `--threshold nan`, but `predict()` and `create_app()` took it and answered
    nothing unknown (`score < nan` is never true), silently."""
    from objrec.checkpoint import load_model
    from objrec.errors import ObjrecError
    from objrec.run_files import BEST

    threshold = float("nan")
    with pytest.raises(ObjrecError, match="`threshold` must be a number, not nan"):
        predict(trained_run, [trained_run / "x.png"], threshold=threshold)
    with pytest.raises(ObjrecError, match="`threshold` must be a number, not nan"):
        create_app(trained_run, threshold=threshold)
    model, meta = load_model(trained_run / BEST)
    with pytest.raises(ObjrecError, match="`threshold` must be a number, not nan"):
        Recognizer(model, meta, threshold=threshold)
    for taken in (0.25, float("inf"), float("-inf")):  # inf: every image unknown, -inf: none
        assert Recognizer(model, meta, threshold=taken).threshold == taken


def export_block(heading: str) -> str:
    """The first Python block of docs/export.md's section under ``heading``."""
    text = (Path(__file__).parents[1] / "docs" / "export.md").read_text()
    section = text[text.index(f"\n{heading}\n") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("\n```", start)]


def torchvision_resizes_uint8() -> bool:
    """Whether torchvision's bilinear resize works on the uint8 pixels here, with 16-bit integer
    weights (the export's script's filter); on an x86 CPU without AVX2 it works in float32."""
    capability = torch.backends.cpu.get_cpu_capability()
    return capability in ("AVX2", "AVX512") or platform.machine() in ("aarch64", "arm64")


def int8_copy(run: Path, out: Path, engine: str = "auto") -> Path:
    """A copy of ``run`` whose body is int8, as a default run's on a CPU with int8 dot products
    (``engine``: what runs it, ``quantize.quantize_body``'s)."""
    from objrec.checkpoint import load_model, save_checkpoint
    from objrec.quantize import quantize_body
    from objrec.run_files import BEST

    model, meta = load_model(run)
    model.body = quantize_body(model.body, meta.data, out / "cache", engine=engine)
    assert meta.train_config is not None
    config = replace(meta.train_config, precision="int8")
    save_checkpoint(out / BEST, model, replace(meta, train_config=config))
    return out


def line_camera_pngs(data: Path, folder: Path) -> list[Path]:
    """A 16-bit grey PNG (a line camera's, mode I;16) and a half-transparent RGBA PNG, from a
    photo of ``data``'s test split."""
    photo = open_image(sorted((data / "test").rglob("*.jpg"))[-1])
    grey = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    alpha = np.linspace(0, 255, photo.width, dtype=np.uint8)[None].repeat(photo.height, 0)
    rgba = np.dstack([np.asarray(photo), alpha])
    paths = [folder / "grey16.png", folder / "rgba.png"]
    Image.fromarray(grey).save(paths[0])
    Image.fromarray(rgba).save(paths[1])
    assert Image.open(paths[0]).mode == "I;16"
    return paths


def exported_script(path: Path):
    """The script an export wrote at ``path``, imported as a module (as docs/export.md shows)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_export_s_script_gives_predict_s_answer(sample_run, tmp_path, precision):
    """A newcomer following model.json outside objrec got 68.9% where objrec said 62.5%: the
    sidecar did not say how the long side is rounded. The script export writes beside the model
    (model_infer.py, once a block of docs/export.md), run on the built-in sample's photos, gives
    objrec's input and predict's class with its probability.

    An int8 body's export (the default run's on a CPU with int8 dot products) named its input
    ``body/input`` and its outputs ``head/probabilities`` and ``head/familiarity``: the block
    failed, ``KeyError: 'probabilities'``. Any export's names are now the same.

    The block resized with Pillow, whose antialiased filter rounds otherwise than PyTorch's
    (objrec's): a pixel value in two hundred differed by a level of 255, and a Caltech-101 crab
    photo's probability by 0.0145. It now resizes as PyTorch does: the same input, bit for bit.

    A line camera's 16-bit grey PNG came out near white (``convert("RGB")`` clips it), and a
    defect "ok" at 98%: the script divides 16-bit grey by 256 and lays transparent pixels over
    white, as objrec does."""
    run, data = own_copy(sample_run[0], tmp_path / "own", tmp_path / "cache-own"), sample_run[1]
    exact = torchvision_resizes_uint8()
    if precision == "int8":
        run = int8_copy(run, tmp_path / "run")
    exported = export_model(run, tmp_path / "model.onnx")
    session = OnnxModel(exported.model).session
    assert [i.name for i in session.get_inputs()] == ["input"]
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == json.loads(exported.sidecar.read_text())["outputs"]
    assert outputs == ["probabilities", "familiarity"]
    assert exported.script is not None
    model = exported_script(exported.script).Model()
    recognizer = Recognizer.load(run)
    one_level = 1.001 / 255 / min(model.spec["input"]["std"])
    for photo in sorted((data / "test").rglob("*.jpg"))[:6] + line_camera_pngs(data, tmp_path):
        (ours,) = predict(run, [photo], topk=1)
        x = recognizer.preprocess([open_image(photo, recognizer.draft)]).numpy()
        got = model.prepare(photo)[None]
        assert got.dtype == np.float32 and got.shape == x.shape
        assert np.abs(got - x).max() <= (0 if exact else one_level)
        (theirs,) = model.answer([photo], k=1)
        assert theirs["topk"][0]["class"] == ours.topk[0]["class"]
        assert theirs["unknown"] == ours.unknown
        tolerance = 1e-4 if exact else 0.01
        assert abs(theirs["topk"][0]["prob"] - float(ours.topk[0]["prob"])) < tolerance


@pytest.mark.slow
def test_docs_export_md_s_python_block_runs_the_script(trained_run, split_dir, tmp_path, capsys):
    """docs/export.md shows how to call model_infer.py from one's own code: it runs as written,
    a file that is no image given its error beside the photo's answer."""
    export_model(trained_run, tmp_path / "model.onnx")
    block = export_block("## Using the export without objrec")
    assert 'RUN = "run"' in block
    photo = sorted((split_dir / "test").rglob("*.png"))[0]
    (tmp_path / "scan.tif").write_text("not an image")
    (ours,) = predict(trained_run, [photo], topk=1)
    code = block.replace('"run"', repr(str(tmp_path))).replace('"photo.jpg"', repr(str(photo)))
    code = code.replace('"scan.tif"', repr(str(tmp_path / "scan.tif")))
    import sys

    path = list(sys.path)
    try:
        exec(compile(code, "docs/export.md", "exec"), {})
    finally:
        sys.path[:] = path
        sys.modules.pop("model_infer", None)
    said, unread = capsys.readouterr().out.splitlines()
    answer, name, prob, score = said.split()[1:]
    assert unread == f"{tmp_path / 'scan.tif'} cannot read image (not a recognised image format)"
    assert name == ours.topk[0]["class"] and answer == ours.answer
    assert abs(float(prob) - float(ours.topk[0]["prob"])) < 1e-5
    assert abs(float(score) - ours.score) <= SCORE_TOLERANCE * max(1.0, abs(ours.score))


@pytest.mark.parametrize("kind", ["bilinear", "bicubic", "nearest"])
def test_the_export_s_script_resizes_as_torchvision_does(kind):
    """The script's ``resized`` gives torchvision's resize (objrec's) of uint8 pixels bit for
    bit, for each interpolation a sidecar may name: smaller, larger, one side only."""
    from torchvision.transforms.v2 import functional as F

    from objrec.export.script import resized

    if kind == "bilinear" and not torchvision_resizes_uint8():
        pytest.skip("torchvision resizes bilinear in float32 on this CPU")
    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    pixels[10:20] = 255  # edges, where the cubic filter overshoots
    for size in [(30, 17), (106, 41), (53, 11), (8, 37), (91, 90)]:
        ours = F.resize(F.to_image(pixels), list(size), F.InterpolationMode(kind), antialias=True)
        theirs = resized(resized(pixels, size[1], 1, kind), size[0], 0, kind)
        assert np.array_equal(theirs, ours.permute(1, 2, 0).numpy())


def test_the_export_s_script_cuts_a_strip_to_its_centre_part_as_objrec_does():
    """The docs/export.md block left out ``max_aspect``: a strip 32 short sides long was resized
    whole, where objrec keeps its centre part 20 short sides long (here 60 of 97 pixels)."""
    from objrec.config import DataConfig
    from objrec.export.script import prepared
    from objrec.transforms import MAX_ASPECT, build_transforms

    data = DataConfig(input_size=8, resize_size=10)
    pixels = np.random.default_rng(1).integers(0, 256, (3, 97, 3), dtype=np.uint8)
    spec = {"max_aspect": MAX_ASPECT, "resize_short_side": 10, "center_crop": 8}
    spec |= {"interpolation": data.interpolation, "mean": data.mean, "std": data.std}
    ours = build_transforms(data)(Image.fromarray(pixels)).numpy()
    assert np.allclose(prepared(pixels, spec), ours, atol=1e-6)


def cached_graph(recognizer: Recognizer) -> Path:
    """Where ``recognizer``'s whole-model ONNX graph is cached: the run's cache folder."""
    from objrec.cache import open_cache
    from objrec.model_graph import graph_key

    key = graph_key(recognizer.model, recognizer.meta)
    return open_cache(recognizer.meta.cache_dir).model_onnx_path(key)


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [1.5, -0.1])
def test_a_threshold_on_the_top_probability_outside_0_to_1_is_refused_as_the_script_does(threshold):
    """review62a L1: the exported script refused ``--threshold 1.5`` on a top-probability run
    "as objrec refuses it", while predict and serve took it and answered every photo unknown.
    Recognizer (predict, serve, evaluate) refuses it now, in the script's words; a familiarity's
    threshold, on no fixed scale, is taken."""
    from objrec.bodies import TinyBody
    from objrec.config import DataConfig
    from objrec.errors import ObjrecError
    from objrec.export import script as export_script
    from objrec.meta import Calibration, HeadConfig, RunMeta
    from objrec.model import Classifier, build_head

    calibration = Calibration(1.0, 0.5, "msp")
    meta = RunMeta(
        "tiny_test", ("a", "b"), DataConfig(), HeadConfig(16, 2), calibration=calibration
    )
    model = Classifier(TinyBody(), build_head(16, 2))
    assert Recognizer(model, meta, threshold=1.0).threshold == 1.0
    with pytest.raises(ObjrecError, match=r"^`threshold` .*: .* top probability") as refused:
        Recognizer(model, meta, threshold=threshold)
    with pytest.raises(ValueError) as theirs:
        export_script.given_threshold({"unknown": {"score": "msp"}}, threshold)
    assert str(refused.value).replace("`threshold`", "--threshold") == str(theirs.value)
    model.familiarity = torch.nn.Identity()  # a feature score: any number is a line on it
    knn = replace(meta, calibration=Calibration(1.0, 0.0, "knn"))
    assert Recognizer(model, knn, threshold=threshold).threshold == threshold


def test_the_whole_model_s_graph_is_keyed_by_its_code_and_pytorch_s_version(monkeypatch):
    """store60: ``runtime="onnx"``'s whole-model graph was keyed by the model file's digest and
    objrec's version alone, not as every other graph of ``onnx/`` (``bodies.body_key``), so a
    PyTorch or timm upgrade (or a body's forward changed) answered with the graph the old code
    had exported."""
    from types import SimpleNamespace

    from objrec.model import Classifier
    from objrec.model_graph import graph_key

    from .test_quantize import alike_but_forward

    meta: Any = SimpleNamespace(digest="ab" * 32, data=None)
    old, new = (Classifier(alike_but_forward(p), torch.nn.Linear(4, 2)) for p in ("mean", "amax"))
    new.load_state_dict(old.state_dict())
    key = graph_key(old, meta)
    assert graph_key(old, meta) == key != graph_key(new, meta)
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert graph_key(old, meta) != key


@pytest.mark.slow
def test_a_damaged_or_foreign_cached_onnx_model_is_made_again(trained_run, split_dir, caplog):
    """The whole model that ``runtime="onnx"`` (serve's default) caches was reused whenever its
    file existed: a damaged one (a full disk, a killed copy) gave an InvalidProtobuf traceback
    on every predict and serve, and was never made again. Now a graph that does not open, or
    whose outputs are not this model's (here: probabilities without the familiarity), is
    exported again, with a warning naming it; the answers are as before."""
    from objrec.checkpoint import load_model
    from objrec.export.exporter import export_checked

    image = open_image(next((split_dir / "test" / "red").iterdir()))
    recognizer = Recognizer.load(trained_run, "onnx")
    expected, cached = recognizer.probabilities([image]), cached_graph(recognizer)
    model, meta = load_model(trained_run)
    model.familiarity = None

    def answered_again_saying_so():
        with caplog.at_level("WARNING", logger="objrec.model_graph"):
            again = Recognizer.load(trained_run, "onnx").probabilities([image])
        assert torch.allclose(again, expected, atol=1e-6)
        assert f"the cached ONNX model {cached} is not usable" in caplog.text
        caplog.clear()

    cached.write_bytes(cached.read_bytes()[:100])  # damaged
    answered_again_saying_so()
    export_checked(model, meta, cached)  # another graph: probabilities only
    answered_again_saying_so()


@pytest.mark.slow
def test_the_onnx_graph_of_a_run_trained_with_a_cache_folder_is_kept_in_that_folder(
    trained_run, tmp_path
):
    """``runtime="onnx"`` cached the whole model's graph in the default cache folder whatever
    the run was trained with (review52a L5): ``objrec cache`` of the run's ``--cache-dir``
    neither showed nor cleared it. It is kept in the run's cache folder, as its body's graphs
    (``Recognizer.frozen_body``) are."""
    from dataclasses import replace

    from objrec.cache import open_cache
    from objrec.checkpoint import load_model

    model, meta = load_model(trained_run)
    (folder := tmp_path / "runs-cache").mkdir()
    meta = replace(meta, train_config=replace(meta.train_config, cache_dir=str(folder)))
    before = set((open_cache().root / "onnx").glob("model-*.onnx"))
    Recognizer(model, meta, "onnx")
    assert len(list((folder / "onnx").glob("model-*.onnx"))) == 1
    assert set((open_cache().root / "onnx").glob("model-*.onnx")) == before


@pytest.mark.slow
def test_a_retrain_landing_while_a_run_loads_leaves_each_model_its_own_cached_graph(
    trained_run, split_dir, tmp_path, monkeypatch
):
    """review2-46 finding 1: ``Recognizer.load`` keyed the cached whole-model graph by the model
    file read again after loading it, so a retrain renaming its model over the file in between
    filed the old model's graph under the new model's key; every later serve or predict
    --runtime onnx of the new model then answered with the old network and the new calibration,
    until the cache was pruned. The key is now the digest of the bytes loaded."""
    from objrec import inference

    loading = inference.load_model
    lands_after_the_read = followed_by(loading, retrain_of(trained_run, tmp_path / "b.safetensors"))
    image = open_image(next((split_dir / "test" / "red").iterdir()))
    monkeypatch.setattr(inference, "load_model", lands_after_the_read)
    old = Recognizer.load(trained_run, "onnx").probabilities([image])  # the model read before
    monkeypatch.setattr(inference, "load_model", loading)
    new = Recognizer.load(trained_run, "onnx").probabilities([image])  # a serve started since
    assert torch.allclose(new, Recognizer.load(trained_run).probabilities([image]), atol=1e-5)
    assert not torch.allclose(new, old, atol=1e-2)


@pytest.mark.slow
def test_a_cached_onnx_graph_recorded_as_another_model_s_is_made_again(
    trained_run, split_dir, tmp_path, caplog
):
    """A cached whole-model graph was trusted by its file name: one filed under another model's
    key (as the race above did) answered with its own network. Its record (the sidecar written
    with it) names the model file it was made from, compared when it is opened: another's is
    exported again, with a warning."""

    other = Path(shutil.copytree(trained_run, tmp_path / "other"))
    retrain_of(trained_run, tmp_path / "b.safetensors")()
    image = open_image(next((split_dir / "test" / "red").iterdir()))
    recognizer = Recognizer.load(trained_run, "onnx")
    expected, key = recognizer.probabilities([image]), cached_graph(recognizer)
    graph = cached_graph(Recognizer.load(other, "onnx"))
    for suffix in (".onnx", ".json"):  # the other model's graph, filed under this one's key
        shutil.copyfile(graph.with_suffix(suffix), key.with_suffix(suffix))
    with caplog.at_level("WARNING", logger="objrec.model_graph"):
        answered = Recognizer.load(trained_run, "onnx").probabilities([image])
    assert torch.allclose(answered, expected, atol=1e-5)
    assert f"the cached ONNX model {key} is not usable (it was made from another" in caplog.text


@pytest.mark.slow
def test_a_cached_onnx_model_that_cannot_be_made_again_is_one_sentence_naming_it(
    trained_run, monkeypatch
):
    from objrec import model_graph
    from objrec.errors import ObjrecError

    cached = cached_graph(Recognizer.load(trained_run, "onnx"))
    cached.write_bytes(b"damaged")

    def fails(*args, **kwargs):
        raise RuntimeError("the exporter failed")

    monkeypatch.setattr(model_graph, "write_checked", fails)
    with pytest.raises(ObjrecError, match=f"cannot make the ONNX model {cached}"):
        Recognizer.load(trained_run, "onnx")


@pytest.mark.slow
def test_evaluate_predict_and_the_export_agree_where_answers_are_not_near_certain(
    trained_run, tmp_path
):
    """evaluate reads the feature store's float16 rows, predict, serve and the export computed
    float32 features: on unfamiliar Caltech images, whose answers are not near-certain, they
    differed by up to 1.3e-4 (over ``TOLERANCE``), where the tiny run's near-certain answers hid
    it. A run whose features were stored as float16 (the default; its head was fitted on them)
    now rounds its body's features so on every path. Images of two colours mixed leave the
    colour model unsure."""
    from .conftest import COLOURS, make_image

    folder, mixes = tmp_path / "mixed", [("red", "green"), ("green", "blue"), ("blue", "red")]
    for i, (a, b) in enumerate(mixes):
        (folder / a).mkdir(parents=True)
        for seed in range(4):
            colour = [(x + y) / 2 for x, y in zip(COLOURS[a], COLOURS[b], strict=True)]
            make_image(colour, seed=10 * i + seed).save(folder / a / f"{b}-{seed}.png")
    classes = list(Recognizer.load(trained_run).classes)
    evaluation = evaluate(trained_run, folder, out=tmp_path / "eval")
    paths = evaluation.predictions["path"].tolist()
    reference = dict(zip(paths, evaluation.probabilities.numpy(), strict=True))
    assert min(float(p.max()) for p in reference.values()) < 0.9  # not near-certain
    answers = {}
    for runtime in ("torch", "onnx"):
        results = predict(trained_run, [folder], topk=len(classes), runtime=runtime)
        answers[runtime] = probability_rows([(r.path, r.topk) for r in results], classes)
    exported, recognizer = (
        export_model(trained_run, tmp_path / "m.onnx"),
        Recognizer.load(trained_run),
    )
    onnx = OnnxModel(exported.model)
    answers["export"] = {p: onnx(recognizer.preprocess([open_image(p)]))[0].numpy() for p in paths}
    for name, rows in answers.items():
        worst = max(float(np.abs(rows[p] - reference[p]).max()) for p in paths)
        assert worst <= TOLERANCE, f"{name} differs from evaluate by {worst:.2g}"


def test_the_export_s_script_decodes_photos_as_objrec_does(tmp_path):
    """The script's ``decoded`` gives objrec's pixels for every kind of file objrec reads: a
    16-bit PGM (Pillow's mode I) and 32-bit TIFFs were clipped to near white by the script
    (``convert("RGB")``), where objrec keeps 16 bits' range and scales the others by theirs; a
    16-bit grey PNG with a transparent value, CMYK, transparency of every sort as objrec does."""
    from objrec.export.script import decoded

    rng = np.random.default_rng(2)
    grey = rng.integers(0, 65536, (9, 14)).astype(np.uint16)
    colour = Image.fromarray(rng.integers(0, 256, (9, 14, 3), dtype=np.uint8))
    (tmp_path / "a.pgm").write_bytes(b"P5\n14 9\n65535\n" + grey.astype(">u2").tobytes())
    Image.fromarray(grey.astype(np.int32) * 3).save(tmp_path / "b.tif")
    Image.fromarray(grey.astype(np.float32) / 65535).save(tmp_path / "c.tif")
    Image.fromarray(grey.astype(np.float32) - 9.5).save(tmp_path / "d.tif")
    Image.fromarray(grey).save(tmp_path / "e.png", transparency=int(grey[0, 0]))
    colour.convert("CMYK").save(tmp_path / "f.jpg")
    colour.convert("LA").save(tmp_path / "g.png")
    colour.convert("P").save(tmp_path / "h.png", transparency=0)
    colour.save(tmp_path / "i.png", transparency=tuple(np.asarray(colour)[0, 0].tolist()))
    alpha = (grey[..., None] >> 8).astype(np.uint8)
    Image.fromarray(np.dstack([np.asarray(colour), alpha])).save(tmp_path / "j.png")
    for path in sorted(tmp_path.iterdir()):
        ours = np.asarray(open_image(path, 64))
        assert np.array_equal(decoded(path, 64), ours), path.name


@pytest.mark.parametrize("limit_from", ["constant", "environment"])
def test_the_export_s_script_decodes_no_larger_an_image_than_objrec(
    tmp_path, monkeypatch, limit_from
):
    """The script left the size of an image to Pillow: a PNG between objrec's limit and twice
    Pillow's (89 and 179 million pixels) was decoded whole (0.3 to 0.5 GB), where objrec
    refuses it, and a baseline JPEG over twice Pillow's (a 200-megapixel phone's) refused, where
    objrec reads it at 1/8. The script now counts pixels at the size it decodes at, against
    objrec's limit (its constant, written into the script by export, or ``OBJREC_MAX_PIXELS``),
    and opens such a JPEG as objrec does: here, the limits scaled down to 10,000 pixels, each
    image is read, or refused, by both, into the same pixels."""
    import objrec.images
    from objrec.export import script as export_script
    from objrec.images import UnreadableImageError

    pillows = 10_000 if limit_from == "constant" else 5_000  # Pillow's own, raised to the limit
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillows)
    for module in (objrec.images, export_script):
        monkeypatch.setattr(module, "MAX_PIXELS", pillows, raising=False)  # the script had none
        monkeypatch.setattr(module, "LIMIT_SIDE", 64)  # a JPEG counted as decoded here
    if limit_from == "environment":
        monkeypatch.setenv("OBJREC_MAX_PIXELS", "10,000")
    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    photo.save(tmp_path / "baseline.jpg")  # 120,000 pixels: 100 x 75 read at 1/4
    photo.save(tmp_path / "progressive.jpg", progressive=True)  # its decoder holds them all
    photo.resize((120, 100)).save(tmp_path / "over.png")  # 12,000 pixels
    photo.resize((100, 100)).save(tmp_path / "within.png")
    read = {}
    for path in sorted(tmp_path.iterdir()):
        try:
            ours = np.asarray(open_image(path, 64))
        except UnreadableImageError:
            with pytest.raises(export_script.UNREADABLE):
                export_script.decoded(path, 64)
            read[path.name] = False
            continue
        assert np.array_equal(export_script.decoded(path, 64), ours), path.name
        read[path.name] = True
    assert read == {
        "baseline.jpg": True,
        "over.png": False,
        "progressive.jpg": False,
        "within.png": True,
    }


def test_the_export_writes_objrec_s_pixel_limit_into_its_script(monkeypatch):
    """One limit: the script's is objrec's, written into it when it is exported."""
    import objrec.export.exporter
    from objrec.export import script as export_script
    from objrec.export.exporter import script_text
    from objrec.images import MAX_PIXELS

    assert export_script.MAX_PIXELS == MAX_PIXELS
    assert f"\nMAX_PIXELS = {MAX_PIXELS:_}\n" in script_text("m.onnx")
    monkeypatch.setattr(objrec.export.exporter, "MAX_PIXELS", 1_234_567)
    text = script_text("m.onnx")
    assert "\nMAX_PIXELS = 1_234_567\n" in text and f"{MAX_PIXELS:_}" not in text


def test_the_export_s_script_refuses_a_pixel_limit_that_is_no_number(monkeypatch, capsys):
    """``OBJREC_MAX_PIXELS`` as objrec reads it: a value that is no number of pixels is refused
    in one line naming it, before any photo, as objrec refuses it."""
    from objrec.export.script import main

    monkeypatch.setenv("OBJREC_MAX_PIXELS", "lots")
    with pytest.raises(SystemExit) as stop:
        main(["photo.jpg"])
    assert stop.value.code == 2
    assert "OBJREC_MAX_PIXELS=lots is not a number of pixels" in capsys.readouterr().err


def test_the_export_s_script_refuses_a_topk_under_1(capsys):
    """``--topk 0`` printed each photo's name with no class, ``--topk -1`` all classes but one."""
    from objrec.export.script import main

    for k in ("0", "-1"):
        with pytest.raises(SystemExit) as stop:
            main(["photo.jpg", "--topk", k])
        assert stop.value.code == 2 and f"--topk is {k}: give 1 or more" in capsys.readouterr().err


def test_the_export_s_script_says_a_photo_too_large_to_decode_and_answers_the_others(
    tmp_path, monkeypatch, capsys
):
    """A photo Pillow refuses as a decompression bomb (over twice ``Image.MAX_IMAGE_PIXELS``: a
    12,000 x 15,000 scan) raised ``DecompressionBombError``, not an ``OSError``: the script
    stopped with a traceback, and the photos after it, given in the same call, got no answer."""
    from objrec.export import script as export_script

    class Answering(export_script.Model):  # the model's answer for a photo it could read
        def __init__(self, path=None, runtime="auto", say=None, threshold=None):
            self.spec = {"classes": ["a"], "unknown": {"threshold": None, "score": "msp"}}
            self.runtime = "onnxruntime"
            self.openvino_failed = ""

        def prepare(self, path):
            return export_script.decoded(path, 64)[:1, :1].astype(np.float32)

        def probabilities(self, x):
            return np.ones((len(x), 1)), np.ones(len(x))

    Image.new("RGB", (40, 30)).save(tmp_path / "large.png")
    Image.new("RGB", (4, 3)).save(tmp_path / "small.png")
    monkeypatch.setattr(export_script, "Model", Answering)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 1,200 pixels: over twice the limit
    assert export_script.main([str(tmp_path / "large.png"), str(tmp_path / "small.png")]) == 1
    out, err = capsys.readouterr()
    assert out == f"{tmp_path / 'small.png'}: a 100.00%\n"
    too_large = f"{tmp_path / 'large.png'}: 1,200 pixels is over the limit of "  # as objrec
    assert err.startswith(too_large) and "Traceback" not in err


def test_the_export_s_script_names_a_missing_or_damaged_model_in_one_line(tmp_path, capsys):
    """``--model nothere.onnx`` said ``No such file or directory: 'nothere.json'`` under a
    traceback (the sidecar, not the model given); a model copied without its sidecar, or not
    ONNX, ended in a traceback too. Each is one line naming the file, exit 2."""
    from objrec.export.script import main

    (tmp_path / "alone.onnx").write_bytes(b"")
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    (tmp_path / "bad.json").write_text("{}")
    cases = {
        "nothere.onnx": "no model at {}",
        "alone.onnx": "no sidecar at {}",
        "bad.onnx": "cannot load the model {}",
    }
    for name, said in cases.items():
        model = tmp_path / name
        with pytest.raises(SystemExit) as stop:
            main(["--model", str(model), "photo.jpg"])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and len(err.strip().splitlines()) == 1, err
        shown = model if name != "alone.onnx" else model.with_suffix(".json")
        assert said.format(shown) in err and "Traceback" not in err


def test_the_export_s_script_names_a_damaged_sidecar(tmp_path, capsys):
    """A sidecar cut short in the copy said "cannot load the model m.onnx: Expecting value: line
    1 column 1 (char 0)", json's words, naming neither the sidecar nor what it should be."""
    from objrec.export.script import main

    (tmp_path / "m.onnx").write_bytes(b"not onnx")
    (tmp_path / "m.json").write_text('{"classes": ["a"', encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        main(["--model", str(tmp_path / "m.onnx"), "photo.jpg"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{tmp_path / 'm.json'} is not the JSON sidecar an export writes" in err


def test_the_export_s_script_reads_a_heic_photo_as_objrec_does(tmp_path, monkeypatch):
    """An iPhone's photos are HEIC: objrec reads them once pillow-heif is installed (its ``heic``
    extra), and the script said "not read: cannot identify image file" of every one, pillow-heif
    installed or not. It registers pillow-heif's opener where it is installed, and gives
    objrec's pixels."""
    pillow_heif = pytest.importorskip("pillow_heif")
    from objrec.export.script import decoded

    photo = tmp_path / "IMG_0001.HEIC"
    pixels = np.random.default_rng(3).integers(0, 256, (30, 44, 3), dtype=np.uint8)
    pillow_heif.from_pillow(Image.fromarray(pixels)).save(photo, quality=90)
    ours = np.asarray(open_image(photo, 64))  # objrec registers pillow-heif's opener
    monkeypatch.setattr(Image, "ID", [kind for kind in Image.ID if kind != "HEIF"])
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "HEIF"})
    assert np.array_equal(decoded(photo, 64), ours)


def test_a_views_preprocessing_is_built_at_its_first_image_not_with_the_recognizer(
    trained_once, monkeypatch
):
    """The recognizer built all four test-time views' preprocessing when made, which imports
    torchvision (and torch._dynamo, 1.4 to 3.6 s): evaluate and predict answering from stored
    features paid it for nothing. Built at a view's first image now, once."""
    import objrec.inference
    from objrec.checkpoint import load_model

    built = []
    build = objrec.inference.build_tta_transform
    monkeypatch.setattr(
        objrec.inference,
        "build_tta_transform",
        lambda data, name: built.append(name) or build(data, name),
    )
    model, meta = load_model(trained_once)
    recognizer = Recognizer(model, meta)
    recognizer.answer_from_features([torch.zeros(2, meta.head.n_features)])
    assert built == []
    image = Image.new("RGB", (40, 30), "red")
    first, again = (recognizer.preprocess([image]) for _ in range(2))
    assert built == ["centre"] and torch.equal(first, again)
    assert torch.equal(first[0], build(meta.data, "centre")(image))


@pytest.mark.slow  # open_set_metrics imports scikit-learn: 0.9 s
def test_every_top_class_breaks_an_exact_tie_as_the_evaluation_does(monkeypatch):
    """review59a L3: `metrics.answered` is the one top-1 rule (argmax takes the first of tied
    values, topk on a CPU another), but `evaluate --unknown`'s `unknown_answered_as`, Grad-CAM's
    class where none was given, the export check's changed answers and `Recognizer.topk` for a
    top-1 used argmax or topk(k): on an exact tie they named another class than
    `unknown_predictions.csv`'s `predicted` and predict's answer. loose60: the rule is argmax's
    now (the first tied class), topk's no longer."""
    from types import SimpleNamespace

    from objrec import saliency
    from objrec.export.check import Tally
    from objrec.inference import Answers
    from objrec.metrics import answered
    from objrec.open_set import open_set_result
    from objrec.saliency import chosen_classes

    tied = torch.full((1, 8), 0.125)
    top = int(answered(tied)[0])  # the first tied class (loose60: topk's before), argmax's
    assert top == 0 == int(tied.argmax(1)[0])
    classes = list("abcdefgh")
    fake = SimpleNamespace(classes=classes, threshold=0.1, logits=lambda x: tied)
    assert [t["class"] for t in Recognizer.topk(fake, tied[0], 1)] == [classes[top]]
    known = Answers(torch.eye(8)[:2], torch.tensor([0.9, 0.8]), torch.zeros(2, dtype=torch.bool))
    unknown = Answers(tied, torch.tensor([0.5]), torch.zeros(1, dtype=torch.bool))
    assert open_set_result(fake, known, unknown).unknown_answered_as == {classes[top]: 1}
    assert chosen_classes(tied, None).tolist() == chosen_classes(tied, [None]).tolist() == [top]
    tally, leaning = Tally(), torch.eye(8)[top][None] * 0.1 + 0.1  # the same answer, untied
    tally.add(unknown, Answers(leaning, unknown.scores, unknown.unknown), None)
    assert tally.changed == []
    explained = []

    def grad_cams(model, x, chosen):  # the class each map is of, kept
        explained.extend(chosen)
        return torch.zeros(len(x), 2, 2), chosen

    monkeypatch.setattr(saliency, "grad_cams", grad_cams)
    monkeypatch.setattr(saliency, "overlay", lambda picture, cam: picture)
    recognizer = SimpleNamespace(**vars(fake), model=SimpleNamespace(body=None))
    saliency.explain_made(recognizer, [(torch.zeros(3, 2, 2), None)], [None])
    assert explained == [top]


@pytest.mark.parametrize("n_classes", [8, 12])
def test_training_the_temperature_and_the_exported_script_break_a_tie_as_answered(n_classes):
    """loose60: training's accuracy (``engine.Tally``) took argmax's class where every figure
    took topk's, and ``model_infer.py`` the last tied class (a reversed ``argsort``); the
    temperature's error count is held to the rule as well."""
    from types import SimpleNamespace

    from objrec.calibration import temperature_fit
    from objrec.engine import Tally
    from objrec.export import script as export_script
    from objrec.metrics import answered

    tied = torch.full((1, n_classes), 1 / n_classes)
    top, label = int(answered(tied)[0]), torch.tensor([int(answered(tied)[0])])
    counted = Tally()
    counted.add(0.0, tied.log(), label)
    assert counted.correct == 1
    assert temperature_fit(tied.log(), label).errors == 0
    classes = [f"c{i}" for i in range(n_classes)]
    spec = {"classes": classes, "unknown": {"threshold": None, "score": "msp"}}
    entry = export_script.Model.entry(SimpleNamespace(spec=spec), "x.jpg", tied[0].numpy(), 0, 3)
    assert [t["class"] for t in entry["topk"]] == classes[top : top + 3]


def test_the_recognizer_s_answers_read_in_one_line_and_as_predict_s_table(trained_run, tmp_path):
    """api64: `Recognizer.answer`'s `Answers` printed as its three tensors whole, and had no
    `.table()`, which `predict`'s `Predictions` has: it reads in one line naming the first
    answers, and its table has predict's table's columns for what an answer holds, with the
    same values as predict's."""
    from pandas.api.types import is_numeric_dtype

    import objrec

    from .conftest import make_image

    recognizer = Recognizer.load(trained_run)
    paths = []
    for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)] * 3):
        make_image(colour, seed=i).save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    answers = recognizer.answer(paths)
    shown = repr(answers)
    assert "tensor" not in shown and "\n" not in shown, shown
    first = ", ".join(repr(answer) for answer in answers.answered[:5])
    classes = len(recognizer.classes)
    assert shown == f"Answers(n_images=9, n_classes={classes}, answered=[{first}, ... (4 more)])"
    table = answers.table(k=2)
    predicted = objrec.predict(trained_run, paths, topk=2).table()
    assert list(table.columns) == [c for c in predicted.columns if c in table.columns]
    assert list(table.columns)[:5] == ["answer", "predicted", "prob_predicted", "unknown", "score"]
    assert len(table.columns) == 9 and list(table["answer"]) == answers.answered
    for column in table.columns:
        if is_numeric_dtype(table[column]):
            assert np.allclose(table[column], predicted[column].astype(float), atol=1e-5), column
        else:
            assert list(table[column]) == list(predicted[column]), column
    assert repr(recognizer.answer([])) == f"Answers(n_images=0, n_classes={classes}, answered=[])"

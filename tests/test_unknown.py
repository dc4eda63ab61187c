"""Calibration and the unknown answer through every path: predict, the API, serve and ONNX."""

import importlib
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from objrec.checkpoint import load_model, read_checkpoint, save_checkpoint
from objrec.errors import ObjrecError
from objrec.evaluation_metrics import EvaluationMetrics
from objrec.inference import Recognizer
from objrec.kept import KeptThreshold
from objrec.predict import predict

from .conftest import (
    TaskRecorder,
    confidence_lines_of,
    counted_familiarity,
    followed_by,
    local_client,
    retrain_of,
)


def planted(path):
    """An out-of-distribution input: a black and white checkerboard, unlike any colour folder."""
    board = (np.indices((48, 48)).sum(0) // 4 % 2 * 255).astype(np.uint8)
    Image.fromarray(np.stack([board] * 3, -1)).save(path)
    return path


def known_images(split_dir):
    return sorted((split_dir / "test").rglob("*.*"))


def test_train_stores_temperature_threshold_and_familiarity(trained_once):
    _, meta = read_checkpoint(trained_once)
    assert meta.calibration is not None and meta.calibration.temperature > 0
    assert meta.calibration.unknown_score == "mahalanobis+knn"
    assert meta.calibration.unknown_threshold == 0.0  # the readable score's threshold
    model, _ = load_model(trained_once)  # the familiarity tensors load back into their module
    assert model.familiarity is not None and model.familiarity.raw.parts[0].means.shape[0] == 3


def test_the_score_reads_1_for_typical_known_images_and_below_0_for_unknown(trained_once, tmp_path):
    data = trained_once.parent / "data"
    recognizer = Recognizer.load(trained_once)
    valid = [Image.open(p).convert("RGB") for p in sorted((data / "valid").rglob("*.*"))]
    # 1 up to the store's float16 rounding of the features the median was taken on
    assert float(recognizer.answer(valid).scores.median()) == pytest.approx(1.0, abs=1e-2)
    odd = Image.open(planted(tmp_path / "odd.png")).convert("RGB")
    assert recognizer.answer([odd]).scores.item() < 0


@pytest.mark.slow
def test_the_planted_input_is_unknown_through_predict_and_known_images_are_not(
    trained_run, split_dir, tmp_path
):
    """The planted input is unknown, far under every known photo; of the 9 known test photos at
    most a third are called unknown: the threshold rests on 9 validation photos, and which of
    the fixture's photos are under it is chance (the split's own order for each class put 3 of
    9 there, two within 0.5 of it, where the old order put at most 2: a bound of a quarter)."""
    odd = planted(tmp_path / "odd.png")
    results = predict(trained_run, [odd, *known_images(split_dir)])
    assert results[0].unknown and len(results[0].topk) == 3  # top-k still given
    assert results[0].score < min(r.score for r in results[1:]) - 10
    assert sum(r.unknown for r in results[1:]) <= len(results[1:]) // 3
    onnx = predict(trained_run, [odd], runtime="onnx")[0]
    assert onnx.unknown and onnx.score == pytest.approx(results[0].score, rel=1e-3, abs=1e-4)
    assert not predict(trained_run, [odd], unknown=False)[0].unknown
    assert not predict(trained_run, [odd], threshold=-1e12)[0].unknown  # a lower threshold
    with_tta = predict(trained_run, [odd, *known_images(split_dir)], tta=True)
    assert with_tta[0].unknown  # the threshold applies to the centre view's score, as fitted:
    assert [r.score for r in with_tta] == pytest.approx([r.score for r in results], rel=1e-5)
    assert results[0].to_json()["unknown"] is True


@pytest.mark.slow
def test_the_api_and_serve_say_unknown(trained_run, tmp_path):
    from objrec.serve.server import create_app

    odd = planted(tmp_path / "odd.png").read_bytes()
    for runtime in ("torch", "onnx"):
        client = local_client(create_app(trained_run, runtime=runtime))
        body = client.post("/predict", files={"file": ("odd.png", odd, "image/png")}).json()
        assert body["unknown"] is True and len(body["topk"]) == 3
        assert client.get("/info").json()["unknown_score"] == "mahalanobis+knn"
    client = local_client(create_app(trained_run, runtime="torch", unknown=False))
    body = client.post("/predict", files={"file": ("odd.png", odd, "image/png")}).json()
    assert body["unknown"] is False
    page = client.get("/").text
    assert "Unknown: this image is unlike the photos the model learned" in page


@pytest.mark.slow
def test_the_exported_file_and_its_sidecar_give_the_same_answer(trained_run, tmp_path):
    import onnxruntime as ort

    from objrec.export.exporter import export_model

    result = export_model(trained_run, tmp_path / "model.onnx")
    sidecar = json.loads(result.sidecar.read_text())
    _, meta = read_checkpoint(trained_run)
    assert sidecar["temperature"] == meta.calibration.temperature
    assert sidecar["unknown"]["threshold"] == meta.calibration.unknown_threshold
    assert sidecar["outputs"] == ["probabilities", "familiarity"]
    recognizer = Recognizer.load(trained_run)
    image = Image.open(planted(tmp_path / "odd.png")).convert("RGB")
    x = recognizer.preprocess([image]).numpy()
    session = ort.InferenceSession(str(result.model), providers=["CPUExecutionProvider"])
    probs, familiarity = session.run(None, {session.get_inputs()[0].name: x})
    answer = recognizer.answer([image])
    assert familiarity[0] < sidecar["unknown"]["threshold"]  # unknown, by the sidecar's rule
    np.testing.assert_allclose(probs, answer.probs.numpy(), atol=1e-4)
    # the score sums squares over thousands of features: float32 moves it by a part in 1e5 to
    # 1e4 of its size (export.graph.FAMILIARITY_RTOL), here -55.5886 against -55.5879; 1e-4 absolute
    # held for small scores only
    np.testing.assert_allclose(familiarity, answer.scores.numpy(), rtol=1e-4)


def test_calibrated_probabilities_use_the_stored_temperature(trained_run, split_dir):
    from dataclasses import replace

    loaded = Recognizer.load(trained_run)  # its valid split has no error: its temperature is 1
    calibration = replace(loaded.meta.calibration, temperature=0.5)
    recognizer = Recognizer(loaded.model, replace(loaded.meta, calibration=calibration))
    images = [Image.open(p).convert("RGB") for p in known_images(split_dir)[:4]]
    logits = recognizer.logits(recognizer.preprocess(images))
    expected = (logits / 0.5).softmax(1)
    torch.testing.assert_close(recognizer.probabilities(images), expected)
    assert recognizer.temperature == 0.5 and loaded.temperature == 1.0


@pytest.mark.slow
def test_evaluate_measures_calibration_and_the_unknown_folder(trained_run, split_dir, tmp_path):
    from objrec.evaluate import evaluate

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for i in range(3):
        planted(unknown / f"odd{i}.png")
    result = evaluate(trained_run, split_dir, out=tmp_path / "eval", unknown=unknown)
    m, open_set = result.metrics.calibration, result.metrics.open_set
    assert m is not None and 0 <= m.ece <= 1 and 0 <= m.ece_before_calibration <= 1
    assert open_set is not None and open_set.unknown_accepted == 0.0
    assert open_set.figures.n_unknown == 3 and open_set.figures.auroc > 0.9
    assert open_set.stricter is None  # 9 validation images: 95% of them rejects none
    assert (tmp_path / "eval" / "reliability.png").exists()
    assert "stricter" in json.loads((tmp_path / "eval" / "metrics.json").read_text())["open_set"]


@pytest.mark.slow  # a model loaded, test/ and 3 unknown images evaluated
def test_evaluate_keeps_the_recommended_threshold_from_python(
    trained_run, split_dir, tmp_path, monkeypatch, caplog
):
    """newcomer57 (1): the CLI said "add --keep-threshold to this evaluate", while
    `evaluate(..., keep_threshold=True)` was a TypeError: a Python caller passed `threshold=` to
    predict, serve and export by hand. The API keeps it (the CLI calls it) and says so; without
    `unknown` there is nothing to keep, refused before anything is read."""
    import logging

    from objrec import kept as kept_module
    from objrec.evaluate import evaluate
    from objrec.kept import read_kept

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for i in range(3):
        planted(unknown / f"odd{i}.png")
    with pytest.raises(ObjrecError, match=r"`keep_threshold=True` needs `unknown`"):
        evaluate(trained_run, split_dir, out=tmp_path / "none", keep_threshold=True)
    assert not (tmp_path / "none").exists()
    offered = EvaluationMetrics.from_json(stricter_metrics(0.25)).open_set
    assert offered is not None  # 9 validation images recommend none: as one recommended
    monkeypatch.setattr(kept_module, "stricter_offered", lambda metrics: offered.stricter)
    monkeypatch.setattr(kept_module, "recommended_threshold", lambda metrics: 0.25)
    with caplog.at_level(logging.INFO, logger="objrec"):
        result = evaluate(
            trained_run, split_dir, out=tmp_path / "eval", unknown=unknown, keep_threshold=True
        )
    kept = read_kept(trained_run)
    assert kept is not None and kept.threshold == 0.25 and kept.current
    assert result.threshold_kept is not None and result.threshold_kept.threshold == 0.25
    assert f"kept unknown below 0.25 with {trained_run}" in caplog.text
    assert predict(trained_run, [next(unknown.iterdir())])[0].unknown_threshold == 0.25


@pytest.mark.slow  # a model loaded, test/ and 3 unknown images evaluated
def test_evaluate_unknown_writes_each_unknown_photo_s_answer_and_names_the_file(
    trained_run, split_dir, tmp_path, capsys
):
    """newcomer53 (6): `evaluate --unknown` said "the 8 missed went to: sunflower 3, ..." and
    named no photo; finding them took a `predict` of the folder. unknown_predictions.csv has a
    row per photo (predictions.csv's columns that apply), and the closing line names it."""
    import pandas as pd

    from objrec.cli import main

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    photos = [planted(unknown / f"odd{i}.png") for i in range(3)]
    out = tmp_path / "eval"
    argv = ["evaluate", str(trained_run), str(split_dir), "--out", str(out)]
    assert main([*argv, "--unknown", str(unknown)]) == 0
    table = pd.read_csv(out / "unknown_predictions.csv", encoding="utf-8-sig")
    assert list(table.columns) == [
        *("path", "answer", "predicted", "prob_predicted", "unknown", "barely_familiar"),
        *("score", "unknown_threshold", "unknown_threshold_kept_on", "top5"),
    ]
    assert sorted(table["path"]) == [str(p) for p in photos]
    assert list(table["answer"]) == ["unknown"] * 3 and table["unknown"].all()
    said = " ".join(capsys.readouterr().out.split())
    assert (
        f"each unknown image's answer, the missed first, in {out}/unknown_predictions.csv" in said
    )
    assert main([*argv, "--force"]) == 0  # without --unknown: no stale table of its photos
    assert not (out / "unknown_predictions.csv").exists()


def test_the_unknown_photos_table_lists_the_missed_first_the_surest_first():
    """unknown_predictions.csv's order: the photos the run gave a class (what a user looks for)
    first, the surest first, then those answered unknown, from the answers already computed."""
    from types import SimpleNamespace

    from objrec.evaluate import stranger_table
    from objrec.inference import Answers
    from objrec.open_set import Strangers

    probs = torch.tensor([[0.6, 0.4], [0.1, 0.9], [0.3, 0.7], [0.8, 0.2]])
    answers = Answers(probs, torch.tensor([0.1, 0.8, 0.9, 0.2]), torch.tensor([1, 0, 0, 1]).bool())
    paths = [Path(f"u/{name}.jpg") for name in "abcd"]
    recognizer = SimpleNamespace(
        classes=["ant", "bee"], threshold=0.5, threshold_kept_on=None, unknown_score="msp"
    )
    table = stranger_table(recognizer, Strangers(paths, answers))  # type: ignore[arg-type]
    assert list(table["path"]) == ["u/b.jpg", "u/c.jpg", "u/d.jpg", "u/a.jpg"]
    assert list(table["answer"]) == ["bee", "bee", "unknown", "unknown"]
    assert list(table["predicted"]) == ["bee", "bee", "ant", "ant"]
    assert list(table["unknown_threshold"]) == [0.5] * 4


def test_evaluate_given_a_table_as_data_says_where_a_reviewed_table_goes(capsys, tmp_path):
    """`objrec evaluate RUN reviewed.csv` said only "reviewed.csv is a file, not a folder": the
    table a person reviewed goes to add --labels (its labelled photos) and --unknown (those
    labelled unknown), which the one sentence now names, before the model is loaded."""
    from objrec.cli import main

    table = tmp_path / "reviewed.csv"
    table.write_text("path,answer,label\n")
    assert main(["evaluate", str(tmp_path), str(table)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{table} is a table, not a folder of classes" in err
    assert f"objrec add DATA --labels {table}" in err and f"--unknown {table}" in err


def test_a_photo_given_to_unknown_is_not_called_a_table(tmp_path):
    """--unknown takes a folder or a reviewed table since 8c53490: a photo given to it was read
    as a table and refused as "not a labels table in UTF-8 ... save it as CSV UTF-8", which
    sent the user to a spreadsheet; it is named as a photo, and what --unknown takes is said."""
    from objrec.cli.messages import to_cli
    from objrec.labels import unknown_images

    photo = tmp_path / "stranger.jpg"
    Image.new("RGB", (8, 8)).save(photo)
    with pytest.raises(ObjrecError) as caught:
        unknown_images(photo)
    said = str(caught.value)
    assert f"`unknown` {photo} is a photo" in said and "UTF-8" not in said
    assert "folder" in said and "`predict(run, photos, csv=file)`" in said  # the CLI's flags:
    assert "objrec predict RUN PHOTOS --csv FILE" in to_cli(said, None)  # messages.to_cli


@pytest.mark.slow
def test_evaluate_unknown_reads_the_reviewed_table_add_labels_reads(
    capsys, trained_run, split_dir, tmp_path, monkeypatch
):
    """The table a person reviews (predict --csv's, with a label column), which add --labels
    reads, was refused by --unknown ("is a file, not a folder"). Its photos whose label, else
    answer, is unknown are the unknown images; one without a label column, predict's own
    answers, is refused in one sentence: each of its unknown photos would count as caught."""
    from objrec.cli import main

    monkeypatch.chdir(tmp_path)
    odd = [planted(tmp_path / f"odd{i}.png").name for i in range(3)]
    known = known_images(split_dir)[0]
    rows = [  # path, answer, label
        (odd[0], "red", "Unknown"),  # a stranger the run took for red, set aside by a person
        (odd[1], "unknown", ""),  # answered unknown, left so
        (odd[2], "unknown", "green"),  # answered unknown, labelled green by a person
        (str(known), "red", ""),
    ]
    table = tmp_path / "reviewed.csv"
    table.write_text("path,answer,label\n" + "".join(f"{p},{a},{b}\n" for p, a, b in rows))
    argv = ["evaluate", str(trained_run), str(split_dir), "--out", "eval", "--json"]
    assert main([*argv, "--unknown", str(table)]) == 0
    assert json.loads(capsys.readouterr().out)["open_set"]["n_unknown"] == 2
    table.write_text("path,answer\n" + "".join(f"{p},{a}\n" for p, a, _ in rows))
    assert main([*argv, "--force", "--unknown", str(table)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f'{table} has no "label" column: its unknown rows are those the run answered' in err


@pytest.mark.slow
def test_the_validation_images_are_grouped_only_when_they_offer_a_stricter_threshold(
    trained_run, monkeypatch
):
    """``valid_images`` grouped the validation images' near-duplicates
    before knowing whether a stricter threshold exists, though only that threshold's silenced
    classes count their photos: 9 validation images offer none (95% of them rejects none)."""
    from objrec.config import EvaluateConfig
    from objrec.progress import SILENT

    evaluation = importlib.import_module("objrec.open_set")

    def never(*args):
        raise AssertionError("grouped for nothing")

    monkeypatch.setattr(evaluation, "readable_groups", never)
    recognizer = Recognizer.load(trained_run)
    valid = evaluation.valid_images(recognizer, EvaluateConfig(), SILENT)
    assert valid is not None and len(valid.scores) == 9 and valid.photos is None
    assert evaluation.stricter_result(recognizer, None, None, valid) is None


@pytest.mark.slow
def test_a_mahalanobis_only_run_travels_through_the_checkpoint_and_onnx(split_dir, tmp_path):
    from objrec.train import train
    from objrec.unknown_scores import MahalanobisScore

    from .conftest import tiny_train_config

    run = tmp_path / "run"
    config = tiny_train_config(cache_dir=str(tmp_path / "cache"), unknown_score="mahalanobis")
    train(split_dir, run, config)
    model, meta = load_model(run / "model.safetensors")
    assert isinstance(model.familiarity.raw, MahalanobisScore)
    assert meta.calibration.unknown_threshold == 0
    odd_is_unknown_in_torch_and_onnx(run, planted(tmp_path / "odd.png"), split_dir)


def odd_is_unknown_in_torch_and_onnx(run, odd, split_dir) -> None:
    """``odd`` is answered unknown by PyTorch and ONNX Runtime alike, and both give the known
    images the same scores."""
    torch_answer = predict(run, [odd, *known_images(split_dir)])
    onnx_answer = predict(run, [odd, *known_images(split_dir)], runtime="onnx")
    assert torch_answer[0].unknown and onnx_answer[0].unknown
    assert [r.score for r in onnx_answer] == pytest.approx(
        [r.score for r in torch_answer], rel=1e-3, abs=1e-3
    )


def run_before_the_familiarity(run):
    """``run`` as trained before the readable familiarity: the raw score and its raw threshold."""
    from dataclasses import replace

    from objrec.checkpoint import save_checkpoint
    from objrec.run_files import BEST

    model, meta = load_model(run)
    readable = model.familiarity
    model.familiarity = readable.raw
    calibration = replace(meta.calibration, unknown_threshold=float(readable.offset))
    save_checkpoint(run / BEST, model, replace(meta, calibration=calibration))
    return run


@pytest.mark.slow
def test_a_run_trained_before_the_familiarity_is_said_to_have_a_score_without_a_scale(
    trained_run, tmp_path
):
    from objrec.serve.server import create_app

    assert Recognizer.load(trained_run).score_is_familiarity
    info = local_client(create_app(trained_run, runtime="torch")).get("/info").json()
    assert info["unknown_score_readable"] is True
    old = run_before_the_familiarity(trained_run)
    assert not Recognizer.load(old).score_is_familiarity
    info = local_client(create_app(old, runtime="torch")).get("/info").json()
    assert info["unknown_score_readable"] is False and info["unknown_threshold"] != 0
    metrics = {
        "temperature": 1.0,
        "ece_before_calibration": 0.1,
        "ece": 0.05,
        "unknown_score": "mahalanobis",
        "unknown_threshold": -7546.13,
        "unknown_score_readable": False,
        "known_kept": 0.95,
        "top1_at_threshold": 0.9,
    }
    line = " ".join(confidence_lines_of(metrics)[1:])
    assert "score -7546 (distance to the nearest class's centre, mahalanobis)" in line
    assert "familiarity" not in line
    assert "typical" not in line
    readable = confidence_lines_of(
        metrics | {"unknown_threshold": 0.0, "unknown_score_readable": True}
    )
    assert readable[2] == (
        "  unknown below familiarity 0.00 (a typical validation image scores 1), the run's "
        "threshold"
    )
    kept = confidence_lines_of(
        metrics
        | {"unknown_threshold": 0.23, "unknown_score_readable": True}
        | {"unknown_threshold_kept_on": "2026-12-04T10:00:00Z"}
    )
    assert kept[2] == (
        "  unknown below familiarity 0.23 (a typical validation image scores 1), kept from "
        "evaluate --unknown on 2026-12-04"
    )


@pytest.mark.slow
def test_a_vim_run_uses_its_own_head_in_predict_and_onnx(split_dir, tmp_path):
    """ViM's energy part holds no copy of the head: after loading it runs the model's own head,
    and the exported file carries the head's weights once."""
    import onnx

    from objrec.export.exporter import export_model
    from objrec.train import train
    from objrec.unknown_scores import VimScore

    from .conftest import tiny_train_config

    run = tmp_path / "run"
    train(split_dir, run, tiny_train_config(cache_dir=str(tmp_path / "cache"), unknown_score="vim"))
    model, meta = load_model(run / "model.safetensors")
    assert isinstance(model.familiarity.raw, VimScore) and meta.calibration.unknown_score == "vim"
    assert model.familiarity.raw.energy._head[0] is model.head
    odd_is_unknown_in_torch_and_onnx(run, planted(tmp_path / "odd.png"), split_dir)
    graph = onnx.load(str(export_model(run, tmp_path / "model.onnx").model)).graph
    stored = sum(int(np.prod(t.dims)) for t in graph.initializer)
    weights = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for b in model.familiarity.buffers()
    )
    assert stored <= weights * 1.05


def test_an_unknown_folder_without_images_is_refused_before_the_evaluation(
    capsys, trained_run, split_dir, tmp_path, monkeypatch
):
    from objrec.cli import main

    monkeypatch.setattr(
        importlib.import_module("objrec.evaluate"),
        "view_tables",
        lambda *a, **k: pytest.fail("read"),
    )
    empty = tmp_path / "odd"
    empty.mkdir()
    code = main(["evaluate", str(trained_run), str(split_dir), "--unknown", str(empty)])
    err = capsys.readouterr().err
    assert code == 1 and f"--unknown {empty} holds no images" in err, err


@pytest.mark.slow
def test_the_familiarity_sees_a_bounded_chunk_of_a_large_batch_of_features(trained_once):
    """suggest gave the recognizer a whole folder's features at once, and evaluate 1,024 images:
    a Mahalanobis forward holds (images, classes, dims) numbers, 1.6 GB more memory for 5,000
    images of 101 classes. The score is now taken in chunks, with the same values."""
    from objrec.confidence import SCORE_CHUNK

    model, meta = load_model(trained_once)
    calls, score = counted_familiarity(model)
    recognizer = Recognizer(model, meta)
    features = torch.rand(1000, meta.head.n_features, generator=torch.Generator().manual_seed(0))
    features = features.half().float()  # as the store keeps them: the recognizer rounds so
    answers = recognizer.answer_from_features([features])
    assert max(calls) <= SCORE_CHUNK and len(answers.scores) == 1000
    with torch.no_grad():
        torch.testing.assert_close(answers.scores, score(features), rtol=1e-5, atol=1e-5)


def stricter_metrics(threshold, recommended=True):
    """``evaluate --unknown``'s metrics offering ``threshold`` (it catches more unknown images)."""
    stricter = {"threshold": threshold, "unknown_accepted": 0.1, "recommended": recommended}
    stricter |= {"p_value": 0.001}  # judged by chance, as this objrec writes it
    return {
        "unknown_score": "mahalanobis+knn",
        "unknown_threshold": 0.0,
        "open_set": {"unknown_accepted": 0.5, "stricter": stricter | {"valid_kept": 0.96}},
    }


def test_a_stricter_threshold_is_offered_and_kept_by_one_rule():
    """evaluate shows a stricter threshold, and --keep-threshold keeps it, when it catches more of
    the unknown images than the run's (``kept.stricter_offered``), kept only when recommended
    too: the rule was spelled in cli/evaluation and kept apart."""
    from objrec.kept import recommended_threshold, stricter_offered

    offered = stricter_metrics(0.3)
    offer = stricter_offered(EvaluationMetrics.from_json(offered))
    assert offer is not None and offer.threshold == offered["open_set"]["stricter"]["threshold"]
    assert recommended_threshold(EvaluationMetrics.from_json(offered)) == 0.3
    assert recommended_threshold(EvaluationMetrics.from_json(stricter_metrics(0.3, False))) is None
    none_more = stricter_metrics(0.3)
    none_more["open_set"]["stricter"]["unknown_accepted"] = 0.5  # catches no more
    assert (
        stricter_offered(EvaluationMetrics.from_json(none_more)) is None
        and recommended_threshold(EvaluationMetrics.from_json(none_more)) is None
    )
    assert (
        stricter_offered(EvaluationMetrics.from_json({"open_set": {"unknown_accepted": 0.5}}))
        is None
    )
    assert stricter_offered(EvaluationMetrics.from_json({})) is None


def kept_middle_threshold(
    run: Path, images: list[Path], tmp_path: Path
) -> tuple[float, KeptThreshold]:
    """The middle of ``images``' unknown scores, kept for ``run`` as evaluate --keep-threshold
    keeps a recommended one, after 0.22; nothing of the run changes, nor when the threshold
    offered is not recommended (nothing is kept then)."""
    from objrec.kept import keep_recommended, read_kept

    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    scores = sorted(r.score for r in predict(run, images))
    middle = round((scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2, 6)
    assert (
        keep_recommended(
            run, EvaluationMetrics.from_json(stricter_metrics(middle, False)), tmp_path, None
        )
        is None
    )
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files
    keep_recommended(run, EvaluationMetrics.from_json(stricter_metrics(0.22)), tmp_path, None)
    kept = keep_recommended(
        run, EvaluationMetrics.from_json(stricter_metrics(middle)), tmp_path, run.parent
    )
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.name in files} == files
    assert kept is not None and read_kept(run) == kept and kept.current
    assert [p.threshold for p in kept.previous] == [0.22]  # the one before stays
    return middle, kept


@pytest.mark.slow  # two predictions of 21 images (0.2 s)
def test_a_kept_threshold_is_what_predict_uses_until_told_otherwise(
    tmp_path, trained_once, trained_run
):
    """A user passed evaluate's recommended --threshold to every predict by hand, and once an
    older run's 0.22 by mistake. `evaluate --unknown OTHER --keep-threshold` keeps it beside the
    model: predict answers as with --threshold then, an explicit one still wins, the one kept
    before stays recorded, and nothing of the run changes unless it is asked to keep one."""
    from objrec.serve.model import unknown_info
    from objrec.serve.predict import answer_json

    run = trained_run  # its own cache folder: predict reads and writes there
    images = [*known_images(trained_once.parent / "data"), planted(tmp_path / "board.png")]
    middle, kept = kept_middle_threshold(run, images, tmp_path)
    answers = [r.to_json() for r in predict(run, images)]
    given = [r.to_json() for r in predict(run, images, threshold=middle)]
    assert {(a["unknown_threshold"], a["unknown_threshold_kept_on"]) for a in answers} == {
        (middle, kept.kept_on)  # predict --json says the kept one was used, as its note does
    }
    assert [a | {"unknown_threshold_kept_on": None} for a in answers] == given
    assert 0 < sum(a["unknown"] for a in answers) < len(answers)
    assert Recognizer.load(run, threshold=0.5).threshold == 0.5
    info = unknown_info(Recognizer.load(run))  # serve's /info, and its /predict's answer
    assert info["unknown_threshold"] == middle and info["unknown_threshold_kept_on"] == kept.kept_on
    served = answer_json(Recognizer.load(run), Image.open(images[0]).convert("RGB"), 1, False)
    assert served["unknown_threshold_kept_on"] == kept.kept_on
    assert Recognizer.load(run, unknown=False).threshold is None
    assert kept.words().startswith(
        f"unknown below {middle!r}, kept by `evaluate` from photos of none of the classes on "
    )


@pytest.mark.slow  # a prediction of 21 images and one of 1 (0.15 s)
def test_a_threshold_kept_for_an_earlier_model_is_said_once_and_not_used(
    tmp_path, trained_once, trained_run, caplog
):
    """A threshold kept for a model that `train --force` has since replaced: predict warned, then
    noted it again; it is said once, with what to do, and the run's own threshold is used. A
    damaged file is refused; removing it (docs/confidence.md's way back) restores the run's own."""
    from objrec.kept import read_kept

    run = trained_run  # its own cache folder: predict reads and writes there
    images = [*known_images(trained_once.parent / "data"), planted(tmp_path / "board.png")]
    _, kept = kept_middle_threshold(run, images, tmp_path)
    model, meta = load_model(run)  # train --force since: another model in the run
    save_checkpoint(run / "model.safetensors", model, replace(meta, best_epoch=99))
    caplog.clear()
    recorder = TaskRecorder()
    assert predict(run, images[:1], reporter=recorder)[0].line == 0.0
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [read_kept(run).words()] and said[0] not in recorder.notes
    assert said[0].endswith(
        "keep one for this model with `evaluate(run, data, unknown=folder, keep_threshold=True)`"
    )
    assert Recognizer.load(run).threshold == 0.0 and not read_kept(run).current
    kept.path.write_text('{"threshold": "x"}')
    with pytest.raises(ObjrecError, match='gives the threshold "x", not a number'):
        Recognizer.load(run)
    kept.path.unlink()  # the way back docs/confidence.md gives: the run's own threshold
    assert (own := Recognizer.load(run)).threshold == 0.0 and own.kept is None


def test_a_threshold_kept_for_the_model_loaded_is_used_when_a_retrain_lands_meanwhile(
    trained_run, tmp_path, monkeypatch
):
    """review2-46 finding 1: a command's kept threshold was judged ``current`` against the model
    file read again after the model was loaded: a retrain landing in between left the loaded
    model without its own kept threshold (and the new one with the old one's). It is judged
    against the digest of the bytes loaded."""
    from objrec import inference
    from objrec.kept import keep_threshold

    keep_threshold(trained_run, 0.25, {"replaced": 0.0})
    loading = inference.load_model
    lands_after_the_read = followed_by(loading, retrain_of(trained_run, tmp_path / "b.safetensors"))
    monkeypatch.setattr(inference, "load_model", lands_after_the_read)
    recognizer = Recognizer.load(trained_run)
    assert recognizer.kept is not None and recognizer.kept.current
    assert recognizer.threshold == 0.25


def test_keep_threshold_needs_unknown_and_says_what_it_kept(tmp_path, capsys):
    """``--keep-threshold`` alone is refused before anything is evaluated (exit 2), and its line
    says what was kept, what it replaced, and that the model file is unchanged."""
    from objrec.cli import cli, main
    from objrec.cli.evaluation import kept_threshold_line
    from objrec.cli.messages import to_cli
    from objrec.kept import EarlierKept, KeptThreshold

    (tmp_path / "run").mkdir(), (tmp_path / "data").mkdir()
    assert (
        main(["evaluate", str(tmp_path / "run"), str(tmp_path / "data"), "--keep-threshold"]) == 2
    )
    assert "--keep-threshold needs --unknown FOLDER|CSV" in capsys.readouterr().err  # its metavar
    assert kept_threshold_line(Path("run2"), None).endswith(
        "nothing kept, no stricter threshold is recommended here; run2 is unchanged"
    )
    earlier = {"threshold": 0.22, "kept_on": "2026-12-01T10:00:00Z", "model": "ab12"}
    record = {"replaced": 0.22, "previous": [earlier], "model": "ab12"}
    kept = KeptThreshold(0.2, "2026-12-03T14:00:00Z", Path("run2/threshold.json"), True, record)
    assert (kept.replaced, kept.model, kept.sealed) == (0.22, "ab12", False)  # read by attribute
    assert kept.previous == [EarlierKept(0.22, "2026-12-01T10:00:00Z", "ab12")]
    assert kept_threshold_line(Path("run2"), kept) == (
        "kept unknown below 0.2 with run2, in run2/threshold.json (it was 0.22, kept on "
        "2026-12-01, now under previous; the model file, with the run's own threshold, is "
        "unchanged): predict, serve and export use it unless given --threshold; remove the file "
        "to give the run its own back"
    )
    # kept for a model train --force replaced since: not used, so 'it was' is the run's own
    # (0.0), not the 0.22 'kept on 2026-12-01' the line said
    other = KeptThreshold(0.2, kept.kept_on, kept.path, True, record | {"replaced": 0.0})
    other.record["previous"] = [earlier | {"model": "cd34"}]
    assert kept_threshold_line(Path("run2"), other).startswith(
        "kept unknown below 0.2 with run2, in run2/threshold.json (it was 0.0, the run's own; the "
        "one kept on 2026-12-01 for an earlier model is now under previous; the model file"
    )
    # review3-46 LOW 3: kept for the model evaluated while a retrain landed: not used
    stale = KeptThreshold(0.2, kept.kept_on, kept.path, False, record)
    assert kept_threshold_line(Path("run2"), stale) == (
        "kept unknown below 0.2 with run2, in run2/threshold.json (it was 0.22, kept on "
        "2026-12-01, now under previous; kept for the model evaluated, which run2 no longer "
        "holds: a retrain replaced it since): predict, serve and export do not use it; evaluate "
        "the run again with --keep-threshold to keep one for its model now"
    )
    # what predict, serve and export note, with the way back (in docs/confidence.md as -v's)
    assert kept.words().startswith("unknown below 0.2, kept by `evaluate` from photos of none")
    assert "2026-12-03 (run2/threshold.json; `threshold` overrides it; removing" in kept.words()
    confidence = " ".join((Path(__file__).parents[1] / "docs/confidence.md").read_text().split())
    assert f"`{to_cli(kept.words(), cli.commands['predict'])}`" in confidence  # -v predict's


def test_keep_threshold_says_an_export_in_the_run_still_answers_by_its_own(tmp_path):
    """`export run2`, then `evaluate run2 ... --keep-threshold` kept 0.18 and said
    "predict, serve and export use it", while run2/model_infer.py (and the model.json a
    colleague was sent) still answered unknown below 0: nothing said the export was stale."""
    import json

    from objrec.cli.evaluation import kept_threshold_line
    from objrec.kept import KeptThreshold

    run = tmp_path / "run2"
    run.mkdir()
    record = {"replaced": 0.0, "previous": [], "model": "ab12"}
    kept = KeptThreshold(0.18, "2026-12-05T13:43:05Z", run / "threshold.json", True, record)
    assert kept_threshold_line(run, kept).endswith("remove the file to give the run its own back")
    sidecar = {"objrec_version": "0.1.0", "unknown": {"threshold": 0.0}}
    (run / "model.json").write_text(json.dumps(sidecar))
    assert kept_threshold_line(run, kept).endswith(
        f"remove the file to give the run its own back; the export in {run} still answers "
        f"unknown below 0.0, as {run}/model.json says: `objrec export {run} --force` writes it "
        "again with the kept one"
    )
    (run / "model.json").write_text(json.dumps(sidecar | {"unknown": {"threshold": 0.18}}))
    assert kept_threshold_line(run, kept).endswith("remove the file to give the run its own back")


def test_keeping_a_threshold_over_one_kept_for_an_earlier_model_warns_nothing_more(
    tmp_path, caplog
):
    """`evaluate --unknown OTHER --keep-threshold` on a run whose threshold.json was kept for a
    model train --force replaced: loading the run warned that it is not used, "remove it, or keep
    one for this model with evaluate --unknown OTHER --keep-threshold", and keeping the new one,
    which reads the file to move it under previous, said it all again while doing just that."""
    from objrec.kept import keep_threshold, read_kept

    from .conftest import fake_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / "model.safetensors")
    keep_threshold(run, 0.2, {"replaced": 0.0})
    save_file({"x": torch.ones(1)}, run / "model.safetensors", metadata={"objrec": "{}"})
    with caplog.at_level("WARNING"):
        assert not read_kept(run).current  # what loading the run warns of, once
        caplog.clear()
        again = keep_threshold(run, 0.3, {"replaced": 0.0})
    assert again.current and [p.threshold for p in again.previous] == [0.2]
    assert [r.getMessage() for r in caplog.records] == []


def test_a_kept_threshold_s_date_is_a_date_not_text_for_the_terminal(tmp_path):
    """A run from elsewhere is read as data: its threshold.json's kept_on, printed in predict's,
    serve's and export's note, was any text, terminal escapes too (clearing the screen and its
    scrollback, warnings with them). It must be the time evaluate wrote, else the file is
    refused, the text escaped in the sentence."""
    from objrec.checkpoint import model_digest
    from objrec.kept import keep_threshold, read_kept

    from .conftest import fake_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / "model.safetensors")
    kept = keep_threshold(run, 0.2, {"replaced": 0.0})
    assert read_kept(run) == kept and kept.record["model"] == model_digest(run)
    kept.path.write_text(json.dumps(kept.record | {"kept_on": "\x1b[2J\x1b[3J"}))
    with pytest.raises(ObjrecError, match="is not a threshold that evaluate kept") as refused:
        read_kept(run)
    assert "\x1b" not in str(refused.value)


def test_a_kept_threshold_changed_by_hand_is_used_with_a_warning_naming_it(tmp_path, caplog):
    """threshold.json is JSON still with its threshold changed (0.25 -> 0.65 is one bit, or a
    person's edit): it holds its own SHA-256 of its fields, checked as it is read. One that no
    longer matches was refused as damaged, which made every command fail on a number a person
    had changed on purpose: it is used as it reads, with a warning naming the file, saying its
    digest no longer matches and what to do either way. Its layout is free; one without
    ``sha256`` (kept before 5 December 2026, or the line removed) is read as it is, unsaid."""
    from objrec.kept import keep_threshold, read_kept

    from .conftest import fake_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / "model.safetensors")
    kept = keep_threshold(run, 0.25, {"replaced": 0.0})
    text = kept.path.read_text()
    kept.path.write_text(text.replace('"threshold": 0.25', '"threshold": 0.65'))
    caplog.clear()
    edited = read_kept(run)
    assert edited is not None and (edited.threshold, edited.current, edited.edited) == (
        0.65,
        True,
        True,
    )
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{kept.path} was changed since evaluate kept it (its fields no longer match the SHA-256 "
        "recorded in it): unknown below 0.65 is used, as it now reads. Changed on purpose, "
        'remove its "sha256" line to use it without this warning; else (a bad copy or disk) '
        "copy it again from where it came, or remove the file to use the run's own threshold"
    ]
    assert edited.words().startswith(
        "unknown below 0.65, edited by hand since `evaluate` kept one on "
    )
    caplog.clear()
    kept.path.write_text(text.replace("\n", "\r\n").replace("  ", "\t"))  # laid out otherwise
    assert read_kept(run).threshold == 0.25 and not read_kept(run).edited
    unsealed = {k: v for k, v in kept.record.items() if k != "sha256"} | {"threshold": 0.65}
    kept.path.write_text(json.dumps(unsealed | {"kept_on": "2026-12-04T10:00:00Z"}))
    assert read_kept(run).threshold == 0.65 and not read_kept(run).edited  # kept before digests
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.parametrize(
    "edit, said",
    [
        (
            lambda text: text.replace('"threshold": 0.25,', '"threshold": 0.3'),
            "is not JSON any more (line 3, column 3: expecting ',' delimiter), as a slip in an "
            "edit leaves it: mend it there, or remove the file to use the run's own threshold",
        ),
        (
            lambda text: text.replace("0.25", "0.3O"),
            "is not JSON any more (line 2, column 19: expecting ',' delimiter)",
        ),
        (
            lambda text: text.replace("0.25", '"0.3"'),
            'gives the threshold "0.3", not a number: write one ("threshold": 0.25), or remove',
        ),
        (lambda text: "[0.3]", "holds a JSON array, not the object of fields evaluate keeps"),
        (lambda text: '"0.3"', "holds a JSON string, not the object of fields evaluate keeps"),
        (lambda text: "null", "holds null, not the object of fields evaluate keeps"),
        (
            lambda text: text.replace('"threshold": 0.25,', ""),
            'gives no threshold: write one ("threshold": 0.25), or remove the file to use the '
            "run's own threshold",
        ),
    ],
)
def test_a_kept_threshold_an_edit_left_no_json_is_refused_naming_the_file_and_where(
    tmp_path, edit, said
):
    """A typo in an edit of threshold.json (a comma lost, a letter O for a zero) was refused as
    "is not a threshold that evaluate kept (JSONDecodeError("Expecting ',' delimiter: line 3
    column 3 (char 24)"))": the decoder's repr, and only the file's removal as the way out. The
    sentence names the file, where it stops being JSON and both ways out: mend it, or remove it."""
    from objrec.kept import keep_threshold, read_kept

    from .conftest import fake_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / "model.safetensors")
    kept = keep_threshold(run, 0.25, {"replaced": 0.0})
    kept.path.write_text(edit(kept.path.read_text()))
    with pytest.raises(ObjrecError) as refused:
        read_kept(run)
    assert str(refused.value).startswith(f"{kept.path} ") and said in str(refused.value)
    assert "Error(" not in str(refused.value)


def test_a_kept_threshold_whose_sha256_line_was_removed_as_advised_is_still_edited_by_hand(
    tmp_path, caplog
):
    """The warning's advice for a threshold changed on purpose, "remove its sha256 line", made it
    read as one kept before digests began: "kept from evaluate --unknown". One kept since without
    it is edited by hand, with no warning."""
    from objrec.kept import keep_threshold, read_kept

    from .conftest import fake_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / "model.safetensors")
    kept = keep_threshold(run, 0.25, {"replaced": 0.0})
    unsealed = {k: v for k, v in kept.record.items() if k != "sha256"} | {"threshold": 0.65}
    kept.path.write_text(json.dumps(unsealed | {"kept_on": "2026-12-05T10:00:00Z"}))
    caplog.clear()
    edited = read_kept(run)
    assert edited is not None and (edited.threshold, edited.edited) == (0.65, True)
    assert edited.words().startswith("unknown below 0.65, edited by hand since `evaluate` kept")
    assert edited.fields()["edited_by_hand"] is True
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


@pytest.mark.slow  # a prediction of one image, three times (0.3 s)
def test_predict_says_the_kept_threshold_only_when_asked(
    tmp_path, trained_once, trained_run, capsys, caplog
):
    """A user predicting again and again read "unknown below 0.2, kept from evaluate --unknown
    on ..." above the answers on every call: it is said with -v only, and every answer still
    carries it where it matters (--json's ``unknown_threshold_kept_on``)."""
    from objrec.cli import main
    from objrec.kept import keep_recommended

    caplog.set_level("INFO", logger="objrec.predict")
    run = trained_run  # its own cache folder: predict reads and writes there
    kept = keep_recommended(
        run, EvaluationMetrics.from_json(stricter_metrics(-5.0)), tmp_path, run.parent
    )
    image = str(known_images(trained_once.parent / "data")[0])
    assert kept is not None and main(["predict", str(run), image]) == 0
    said = capsys.readouterr()
    assert "kept by" not in said.out + said.err and image in said.out
    # at info, what -v shows, once (beside what else predict says there, e.g. the features it
    # read from the store, which holds what the run stored as it trained)
    logged = [r for r in caplog.records if r.name == "objrec.predict"]
    assert [r.levelname for r in logged if r.getMessage() == kept.words()] == ["INFO"]
    assert main(["predict", str(run), image, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["unknown_threshold_kept_on"] == kept.kept_on


def test_an_image_scored_exactly_at_the_threshold_is_known(trained_once):
    """An image is "unknown" when its score is below the threshold: one at it is answered. It
    matters: the threshold ``keeping_threshold`` offers is the shortest number that keeps the same
    images, which may be the lowest score it keeps (``low < short <= high``)."""
    data = trained_once.parent / "data"
    photo = Image.open(sorted((data / "valid").rglob("*.*"))[0]).convert("RGB")
    recognizer = Recognizer.load(trained_once)
    score = recognizer.answer([photo]).scores[0]
    recognizer.threshold = float(score)
    assert not recognizer.answer([photo]).unknown[0]
    recognizer.threshold = float(np.nextafter(score.numpy(), np.float32(np.inf)))
    assert recognizer.answer([photo]).unknown[0]


def test_a_threshold_kept_for_an_earlier_model_is_warned_of_once_per_command(tmp_path, caplog):
    """`report RUN --force` read the kept threshold twice (whether its evaluation is at the
    threshold now, then loading the model) and warned twice of one kept for an earlier model:
    within one command (a :func:`warned_once_per_file` block) it is said once; a later command
    says it again."""
    from objrec.kept import keep_threshold, read_kept
    from objrec.warned import warned_once_per_file

    from .conftest import fake_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / "model.safetensors")
    keep_threshold(run, 0.25, {"replaced": 0.0})
    save_file({"x": torch.ones(1)}, run / "model.safetensors", metadata={"objrec": "{}"})
    caplog.clear()
    with warned_once_per_file():
        assert not read_kept(run).current and not read_kept(run).current
    with warned_once_per_file():
        read_kept(run)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [read_kept(run, warn=False).words()] * 2


def test_an_export_in_the_run_written_with_another_threshold_than_the_kept_one_is_found(tmp_path):
    """evaluate --keep-threshold says an export in the run still answers by its old threshold;
    the CLI read the export's sidecar itself: the library says which and by what."""
    from objrec.kept import stale_export

    assert stale_export(tmp_path, 0.2) is None  # no export
    sidecar = tmp_path / "model.json"
    sidecar.write_text(json.dumps({"objrec_version": "1", "unknown": {"threshold": 0.1}}))
    assert stale_export(tmp_path, 0.2) == (sidecar, 0.1)
    assert stale_export(tmp_path, 0.1) is None  # written with the kept one


def test_an_export_answers_another_threshold_by_value_and_never_one_given_by_hand(tmp_path):
    """check compared the dates the thresholds were kept on, evaluate's note their values: the
    same value kept again was "unknown below 0.25, not below 0.25". One rule, by value; with no
    kept threshold, the run's own (recorded as run_threshold); one given to export is the user's."""
    from objrec.kept import export_answers_other

    def sidecar(**unknown: object) -> dict:
        return {"unknown": {"threshold": 0.25, "run_threshold": 0.1, **unknown}}

    assert (
        export_answers_other(tmp_path, sidecar(threshold_kept_on="2026-12-05T10:00:00Z"), 0.25)
        is None
    )
    assert export_answers_other(tmp_path, sidecar(), 0.3) == 0.25
    assert export_answers_other(tmp_path, sidecar()) == 0.25  # no kept one: the run's own, 0.1
    assert export_answers_other(tmp_path, sidecar(threshold=0.1)) is None
    assert export_answers_other(tmp_path, sidecar(threshold_given=True), 0.3) is None
    assert export_answers_other(tmp_path, {"unknown": None}) is None


@pytest.mark.slow
def test_a_plain_evaluate_says_it_replaced_an_earlier_unknown_result(
    trained_run, split_dir, tmp_path, caplog
):
    """`evaluate RUN DATA --unknown FOLDER`, then a plain `evaluate RUN DATA` (CLI or
    objrec.evaluate): the open-set results went without a word and the next report lost its
    section on photos of none of the classes. It is said, naming the folder
    to give again; an evaluate with --unknown again says nothing of it."""
    from objrec.evaluate import evaluate

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for i in range(3):
        planted(unknown / f"odd{i}.png")
    out = tmp_path / "eval"
    evaluate(trained_run, split_dir, out=out, unknown=unknown)
    evaluate(trained_run, split_dir, out=out, unknown=unknown, force=True)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert not [m for m in said if "`unknown=" in m]
    caplog.clear()
    evaluate(trained_run, split_dir, out=out, force=True)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    given = f"`unknown={str(unknown.resolve())!r}`"  # from Python it said --unknown, a flag
    assert [m for m in said if "`unknown=" in m] == [
        f"replaced the results of an earlier evaluation with {given} in {out} (3 images of none "
        f"of the classes): give {given} again to keep them (report shows them only then), or "
        "another `out` to write elsewhere"
    ]
    assert "open_set" not in json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_evaluating_the_run_again_keeps_its_current_unknown_results_unless_forced(
    trained_run, split_dir, tmp_path, capsys, caplog
):
    """newcomer52 4: train's own "next: objrec evaluate RUN DATA" after `evaluate --against
    --unknown` removed both results, saying so only after. While they are current (this model,
    these images) a plain evaluate into the run's own folder is refused, saying how to keep them
    or replace them, before the model loads; --force replaces them, as a model changed since
    does, each said."""
    from objrec.cli import main
    from objrec.outputs import fingerprint, record_output

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for i in range(3):
        planted(unknown / f"odd{i}.png")
    run, data = str(trained_run), str(split_dir)
    assert main(["evaluate", run, data, "--unknown", str(unknown)]) == 0
    out = trained_run / "eval-test"
    written = (out / "metrics.json").read_bytes()
    capsys.readouterr()
    assert main(["evaluate", run, data]) == 1
    err = capsys.readouterr().err
    assert err.endswith(
        f"error: {out} holds the results of {unknown.resolve()} (photos of none of the "
        "classes), current for this model and these images, which an evaluation without "
        f"--unknown {unknown.resolve()} drops: give it again to keep it, --force to replace "
        "it, or another --out to write elsewhere\n"
    )
    assert "loading" not in err  # cli53: decided from the files, before the libraries load
    assert (out / "metrics.json").read_bytes() == written
    stale = json.loads(written) | {"model_digest": "0" * 64}  # of a model train --force replaced
    (out / "metrics.json").write_text(json.dumps(stale))
    record_output(out, {"metrics.json": fingerprint(out / "metrics.json")})  # as evaluate wrote it
    assert main(["evaluate", run, data]) == 0
    assert "replaced the results of an earlier evaluation" in caplog.text
    assert main(["evaluate", run, data, "--unknown", str(unknown)]) == 0
    assert main(["evaluate", run, data, "--force"]) == 0
    assert "open_set" not in json.loads((out / "metrics.json").read_text())


def test_a_rerun_drops_the_comparison_with_another_run_and_the_unknown_results_in_words(
    tmp_path, monkeypatch
):
    """What an evaluation without `against` (or with another run) and `unknown` would drop of
    the run's earlier one, in the API's words (the CLI spells them as its options); only what
    could be made again counts: the other run there with the model it was compared as
    (``compared_now``), the unknown folder still holding images."""
    from objrec.config import EvaluateConfig
    from objrec.eval_dir import asked_results_dropped
    from objrec.outputs import mark_output_dir

    (tmp_path / "old").mkdir()  # the earlier run
    (tmp_path / "bg").mkdir()
    out = tmp_path / "eval-test"
    (out / "against-old").mkdir(parents=True)
    mark_output_dir(out / "against-old")
    bg = str(tmp_path / "bg")
    earlier = {"against": {"run": str(tmp_path / "old")}, "open_set": {"folder": bg}}
    (out / "metrics.json").write_text(json.dumps(earlier))
    (out / "against-old/metrics.json").write_text(json.dumps({"top1": 1.0, "per_class": []}))
    assert asked_results_dropped(out, EvaluateConfig()) == []  # old has no model, bg no images
    planted(tmp_path / "bg" / "odd.png")
    monkeypatch.setattr(sys.modules["objrec.eval_dir"], "compared_now", lambda *_: True)
    assert asked_results_dropped(out, EvaluateConfig()) == [
        (f"the comparison with {tmp_path / 'old'}", f"against={str(tmp_path / 'old')!r}"),
        (f"the results of {bg} (photos of none of the classes)", f"unknown={bg!r}"),
    ]
    again = EvaluateConfig(against=str(tmp_path / "old"), unknown="/p/other")
    assert asked_results_dropped(out, again) == []
    (out / "against-old/metrics.json").unlink()  # none kept to drop
    assert asked_results_dropped(out, EvaluateConfig(unknown=bg)) == []


@pytest.mark.slow
def test_a_rerun_is_not_refused_for_results_that_could_not_be_made_again(
    trained_run, split_dir, tmp_path
):
    """late52 M1: after `evaluate RUN DATA --against RUN2 --unknown FOLDER`, with RUN2 deleted,
    `evaluate RUN DATA --unknown FOLDER` was refused for dropping the comparison with RUN2,
    current by RUN's model alone, and giving `--against RUN2` again failed: RUN2 is not there.
    A comparison counts only while its run is there with the model compared; likewise the
    unknown results only while FOLDER holds images."""
    import shutil

    from objrec.errors import ObjrecError
    from objrec.evaluate import evaluate

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    for i in range(3):
        planted(unknown / f"odd{i}.png")
    other = Path(shutil.copytree(trained_run, tmp_path / "run2"))
    evaluate(trained_run, split_dir, against=other, unknown=unknown)
    with pytest.raises(ObjrecError, match="holds the comparison with"):
        evaluate(trained_run, split_dir, unknown=unknown)  # run2 is there: refused, as before
    shutil.rmtree(other)
    evaluate(trained_run, split_dir, unknown=unknown)
    for image in unknown.iterdir():
        image.unlink()
    evaluate(trained_run, split_dir)


def test_the_replaced_results_sentence_names_the_option_in_the_cli_and_the_argument_in_python(
    tmp_path, monkeypatch
):
    """`objrec.evaluate(run, data)` from Python warned "give --unknown bg again to keep them": a
    flag a Python caller has not got. The library names its arguments, which the
    CLI spells as evaluate's options."""
    from objrec.cli import cli
    from objrec.cli.messages import to_cli
    from objrec.evaluate import unknown_dropped

    monkeypatch.chdir(tmp_path)
    out = Path("run/eval-test")
    out.mkdir(parents=True)
    earlier = {"open_set": {"folder": "/photos/bg", "n_unknown": 30}}
    (out / "metrics.json").write_text(json.dumps(earlier))
    said = unknown_dropped(out, EvaluationMetrics.from_json({}))
    assert said is not None and "give `unknown='/photos/bg'` again to keep them" in said
    assert to_cli(said, cli.commands["evaluate"]) == (
        "replaced the results of an earlier evaluation with --unknown /photos/bg in "
        "run/eval-test (30 images of none of the classes): give --unknown /photos/bg again to "
        "keep them (report shows them only then), or another --out to write elsewhere"
    )


@pytest.mark.slow  # a model loaded, test/ evaluated
def test_an_unknown_folder_of_the_model_s_classes_or_its_own_images_is_refused(
    capsys, trained_run, split_dir, tmp_path
):
    """`evaluate --unknown` took the run's own training images, or its data folder's test/, as
    photos of none of its classes: "0 of 40 caught", no word. Class folders
    named as the model's are refused before any image is read; the run's own training or
    validation images, or the evaluated ones, before the unknown folder's pass."""
    from objrec.cli import main

    test = split_dir / "test"
    code = main(["evaluate", str(trained_run), str(split_dir), "--unknown", str(test)])
    err = " ".join(capsys.readouterr().err.split())
    assert (
        code == 1
        and f"--unknown {test} has 3 folders named as the model's classes (blue, green, red)" in err
    )
    own = tmp_path / "odd"
    own.mkdir()
    for i, image in enumerate([*(split_dir / "train").rglob("*.*")][:2]):
        shutil.copy(image, own / f"train{i}{image.suffix}")
    for i, image in enumerate([*(split_dir / "test").rglob("*.*")][:1]):
        shutil.copy(image, own / f"test{i}{image.suffix}")
    planted(own / "odd.png")
    code = main(["evaluate", str(trained_run), str(split_dir), "--unknown", str(own)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1, err
    assert (
        f"--unknown {own} holds 3 photos of the model's classes, 2 of the run's own training "
        "images and 1 of the images evaluated (such as" in err
    ), err


@pytest.mark.slow  # a model loaded, 9 validation images read
def test_the_validation_images_beside_a_class_folder_the_run_was_not_taught_are_read(
    trained_run, split_dir
):
    """A class folder the run was not taught in its valid/ (``add`` of a new class puts one
    there) made valid_images give up: "no stricter threshold is suggested: ... valid could not
    be read (moved, or its classes changed)" of a folder there and readable.
    Its images are left out, as the evaluated folder's are; a folder gone is said as such."""
    from objrec.config import EvaluateConfig
    from objrec.progress import SILENT

    evaluation = importlib.import_module("objrec.open_set")
    (split_dir / "valid" / "purple").mkdir()
    planted(split_dir / "valid" / "purple" / "new.png")
    recognizer = Recognizer.load(trained_run)
    valid = evaluation.valid_images(recognizer, EvaluateConfig(), SILENT)
    assert isinstance(valid, evaluation.ValidImages) and len(valid.scores) == 9
    shutil.rmtree(split_dir / "valid")
    why = evaluation.valid_images(recognizer, EvaluateConfig(), SILENT)
    assert why == f"{split_dir.resolve() / 'valid'} is not there (moved, or removed)"


@pytest.mark.slow  # loads the model twice (0.5 s)
def test_serve_stops_using_a_threshold_kept_for_the_model_a_retrain_replaced(trained_run, caplog):
    """threshold.json names the model it was kept for; a retrain into the run a server serves
    (train --force) loads the new model, which must not answer by the old one's threshold. The
    reload drops it with the sentence predict says (kept.KeptThreshold.words), and the run's
    own threshold answers; serve's start lines no longer name it."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from objrec.kept import keep_threshold, read_kept
    from objrec.serve.model import serve_model, start_words

    keep_threshold(trained_run, 0.25, {"replaced": 0.0})
    with ThreadPoolExecutor(1) as pool:
        served = serve_model(trained_run, "torch", "cpu", None, True, pool)
        assert served.recognizer.threshold == 0.25 and served.recognizer.kept.current
        model, meta = load_model(trained_run)  # train --force since: another model in the run
        save_checkpoint(trained_run / "model.safetensors", model, replace(meta, best_epoch=99))
        caplog.clear()
        time.sleep(0.05)  # past the file's modification tick, as a server's 2 s looks are
        assert served.check() or served.check()  # the second look: the file held still
    assert served.recognizer.threshold == meta.calibration.unknown_threshold != 0.25
    assert not served.recognizer.kept.current
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert read_kept(trained_run, warn=False).words() in said
    assert "keeps a threshold chosen for an earlier model of this run: not used" in said[-1]
    assert "kept by" not in " ".join(start_words(served.recognizer, "torch"))

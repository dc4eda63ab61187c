"""split -> train -> save -> load -> evaluate -> predict on a toy set the tiny body can separate."""

import re

import pandas as pd
import pytest

from objrec.evaluate import evaluate
from objrec.predict import predict
from objrec.split.recipe import split_folder
from objrec.train import train


@pytest.mark.slow
def test_pipeline_learns_a_separable_toy_set(tmp_path, image_folder, tiny_config):
    split_folder(image_folder, tmp_path / "data", seed=1)
    result = train(tmp_path / "data", tmp_path / "run", tiny_config)
    assert result.best_valid_acc > 0.6  # chance is 1/3
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    kept = history.loc[history["epoch"] == result.best_epoch, "valid_loss"].item()
    # the kept epoch is the lowest, though --min-delta (0.001 by default) stops the fit
    assert len(history) == len(result.history) and kept == result.best_valid_loss
    assert history["valid_loss"].min() == kept
    evaluation = evaluate(tmp_path / "run", tmp_path / "data")
    assert evaluation.metrics.top1 > 0.6 and evaluation.metrics.n == 9
    written = {p.name for p in (tmp_path / "run" / "eval-test").iterdir()}
    assert {
        "top_losses.png",
        "worst_classes.png",
        "confusion.png",
        "confusion_normalised.csv",
        "predictions.csv",
    } <= written
    normalised = pd.read_csv(
        tmp_path / "run" / "eval-test" / "confusion_normalised.csv", index_col=0
    )
    assert (normalised.sum(axis=1).round(3) == 1).all()
    table = pd.read_csv(tmp_path / "run" / "eval-test" / "per_class.csv")
    assert set(table.columns) >= {"class", "n_train", "n_test", "top1", "top5", "loss"}
    assert table["n_train"].tolist() == [6, 6, 6]
    predictions = predict(tmp_path / "run", [tmp_path / "data" / "test"], topk=3)
    correct = sum(p.topk[0]["class"] == p.path.split("/")[-2] for p in predictions)
    assert correct / len(predictions) > 0.6


@pytest.mark.slow
def test_a_second_train_with_another_head_reuses_the_feature_cache(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    train(split_dir, tmp_path / "a", tiny_config)
    import objrec.features as features

    def no_compute(*args, **kwargs):
        raise AssertionError("the frozen body ran again")

    monkeypatch.setattr(features, "views_pass", no_compute)
    tiny_config.hidden, tiny_config.lr, tiny_config.seed = 0, 3e-3, 7
    train(split_dir, tmp_path / "b", tiny_config)
    evaluate(tmp_path / "b", split_dir, split="valid")


@pytest.mark.slow
def test_train_on_a_warm_store_equals_train_on_a_cold_one(tmp_path, split_dir, tiny_config):
    import torch
    from safetensors.torch import load_file

    from objrec.run_files import BEST

    cold = train(split_dir, tmp_path / "cold", tiny_config)
    warm = train(split_dir, tmp_path / "warm", tiny_config)
    assert cold.frozen_pass.computed > 0 and warm.frozen_pass.computed == 0
    assert warm.frozen_pass.from_store == cold.frozen_pass.computed
    assert cold.history == [
        {**r, "seconds": c["seconds"]} for r, c in zip(warm.history, cold.history, strict=True)
    ]
    a, b = load_file(tmp_path / "cold" / BEST), load_file(tmp_path / "warm" / BEST)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_forced_retrain_leaves_no_earlier_results_and_its_report_works(
    tmp_path, trained_run, split_dir, tiny_config
):
    """`train --force` over an evaluated, reported run on other data left eval-test and
    report.html of the earlier model; `report` then refused that eval-test, with or without
    --force."""
    import json

    from objrec.cli import main
    from objrec.outputs import EVALUATION_FILES, MARKER

    from .conftest import make_class_folder

    assert main(["evaluate", str(trained_run), str(split_dir)]) == 0
    assert main(["report", str(trained_run)]) == 0
    written = {p.name for p in (trained_run / "eval-test").iterdir()}
    assert written <= {*EVALUATION_FILES, MARKER}  # objrec's mark goes with them
    for args in (["evaluate", trained_run, split_dir], ["report", trained_run]):
        assert main([str(a) for a in args]) == 0, args  # the run's own: refreshed, no --force
    fixed = tmp_path / "data-fixed"
    split_folder(make_class_folder(tmp_path / "fixed", classes=("red", "green")), fixed, seed=0)
    train(fixed, trained_run, tiny_config, force=True)
    assert not (trained_run / "eval-test").exists()
    assert not (trained_run / "report.html").exists()
    assert main(["report", str(trained_run)]) == 0
    metrics = json.loads((trained_run / "eval-test" / "metrics.json").read_text())
    assert metrics["folder"] == str((fixed / "test").resolve()) and len(metrics["per_class"]) == 2


@pytest.mark.slow
def test_the_log_lines_say_counts_and_times_in_words(tmp_path, image_folder, tiny_config, caplog):
    """A user logging at INFO read `hashing HashStats(files=146, hashed=0,
    seconds=0.010186198000155855)`, `train: seconds {'features': 1.8559211129977484, ...}` and
    `split ... : {'train': 18, ...}`: Python objects, not sentences."""
    tiny_config.epochs = 1
    with caplog.at_level("INFO", logger="objrec"):
        split_folder(image_folder, tmp_path / "data", seed=1)
        train(tmp_path / "data", tmp_path / "run", tiny_config)
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if "{" in line or "HashStats" in line]
    assert any(line.endswith(": train 18, valid 9, test 9") for line in lines)
    assert any(
        re.search(
            r"train features: 18 images, 18 computed, hashed \d+ of 18 files in "
            r"\d+\.\d\d s",
            line,
        )
        for line in lines
    )
    assert any(
        re.fullmatch(
            r"train: seconds: features \d+\.\d, fit \d+\.\d, calibrate \d+\.\d, "
            r"total \d+\.\d; writing the run \d+\.\d",
            line,
        )
        for line in lines
    )

"""Fine-tuning the last blocks: exactly those train, at the intended learning rates."""

import importlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from objrec.backbones import build_body, get_backbone
from objrec.bodies import ConcatBody
from objrec.checkpoint import load_model
from objrec.config import DEFAULT_BACKBONE, TrainConfig
from objrec.errors import ObjrecError
from objrec.finetune import FinetuneModel, optimizer_for, split_body, unfreeze, warmup_cosine
from objrec.model import Classifier, build_head
from objrec.precision import Settled
from objrec.train import train

from .conftest import TaskRecorder, made_once, own_cache


@pytest.fixture(scope="module")
def lite():
    return build_body(get_backbone("efficientnet_lite0")).eval()


@pytest.mark.slow
def test_stem_then_top_is_the_whole_body(lite):
    stem, top = split_body(lite, 3, 224)
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(top.eval()(stem(x)), lite(x), atol=1e-5)
    assert stem.n_features == 192 * 7 * 7


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 5])
def test_unfreezing_n_blocks_makes_exactly_those_parameters_trainable(lite, n):
    model = Classifier(lite, build_head(1280, 4)).freeze_body()
    _, top = split_body(model.body, n, 224)
    unfreeze(top)
    blocks = model.body.net._blocks
    expected = {id(p) for b in blocks[len(blocks) - n :] for p in b.parameters()}
    expected |= {
        id(p) for m in (model.body.net._conv_head, model.body.net._bn1) for p in m.parameters()
    }
    trainable = {id(p) for p in model.body.parameters() if p.requires_grad}
    assert trainable == expected
    model.freeze_body()
    assert not any(p.requires_grad for p in model.body.parameters())


@pytest.mark.slow
def test_an_ensemble_splits_into_each_bodys_stem_and_top():
    torch.manual_seed(0)
    lites = [build_body(get_backbone("efficientnet_lite0"), pretrained=False) for _ in range(2)]
    body = ConcatBody(lites).eval().requires_grad_(False)
    stem, top = split_body(body, 2, 64)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(top.eval()(stem(x)), body(x), atol=1e-5)
    unfreeze(top)
    trainable = {id(p) for p in body.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in top.parameters()}
    assert trainable < {id(p) for p in body.parameters()}


@pytest.mark.slow
def test_optimizer_groups_carry_discriminative_learning_rates_with_warmup(lite):
    _, top = split_body(lite, 2, 224)
    model = FinetuneModel(top, build_head(1280, 4))
    optimizer = optimizer_for(model, lr=1e-4)
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["body"]["lr"] == pytest.approx(1e-4) and groups["head"]["lr"] == pytest.approx(
        1e-3
    )
    assert {id(p) for p in groups["body"]["params"]} == {id(p) for p in top.parameters()}
    scheduler = warmup_cosine(optimizer, warmup_steps=10, total_steps=100)
    assert groups["body"]["lr"] == pytest.approx(1e-5)  # first warm-up step
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    assert groups["body"]["lr"] == pytest.approx(1e-4) and groups["head"]["lr"] == pytest.approx(
        1e-3
    )
    for _ in range(90):
        optimizer.step()
        scheduler.step()
    assert groups["body"]["lr"] < 1e-6


def test_batchnorm_statistics_stay_frozen_while_finetuning(lite):
    _, top = split_body(lite, 1, 224)
    model = FinetuneModel(top, build_head(1280, 2)).train()
    assert model.head.training and all(
        not m.training for m in top.modules() if isinstance(m, torch.nn.BatchNorm2d)
    )


def test_batchnorm_statistics_may_follow_the_batches_when_asked(lite):
    _, top = split_body(lite, 1, 224)
    model = FinetuneModel(top, build_head(1280, 2), batchnorm="train").train()
    norms = [m for m in top.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.training for m in norms)
    model.eval()
    assert not any(m.training for m in norms)


def barely_trained_then_tuned() -> TrainConfig:
    """One epoch of a head at a tiny learning rate, then two of fine-tuning the last block: the
    fine-tuning certainly lowers the validation loss, so its blocks are kept."""
    return TrainConfig(
        backbone="efficientnet_lite0",
        epochs=1,
        lr=1e-5,
        batch_size=8,
        aug_views=0,
        finetune_blocks=1,
        finetune_epochs=2,
        finetune_lr=1e-3,
        precision="fp32",  # the body the head trains on; int8's: test_an_int8_body_...
    )


@pytest.mark.slow
def test_finetuning_changes_only_the_last_blocks_and_answers_on_the_features_it_was_calibrated_on(
    tmp_path, split_dir, lite, monkeypatch
):
    """A barely trained head, so that fine-tuning certainly lowers the validation loss: only the
    last blocks change, and the run is calibrated on the tuned model. The tuned blocks and head
    are trained and calibrated on the top's unrounded output, so the run records float32
    features: predict's logits of the validation images are calibration's, up to the cut's own
    arithmetic (1.7e-5), where rounding them to float16 as a head-only run does moved them by
    3.4e-4 from the ones the temperature and threshold were fitted on. One run for both (Lite0's
    fine-tuning is seconds of CPU)."""
    import sys

    import pandas as pd

    train_module = sys.modules["objrec.train"]  # ``objrec.train`` is the function
    calibrated = {}

    def fit_confidence(head, train_batches, valid_batches, score):
        calibrated["logits"] = torch.cat([head(x) for x, _ in valid_batches()])
        return real(head, train_batches, valid_batches, score)

    real, notes = train_module.fit_confidence, TaskRecorder()
    monkeypatch.setattr(train_module, "fit_confidence", fit_confidence)
    result = train(split_dir, tmp_path / "run", barely_trained_then_tuned(), reporter=notes)
    assert [r["phase"] for r in result.history] == ["head", "finetune", "finetune"]
    # the head's epochs had an empty cell: pandas read NaN, which groupby("phase") drops
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(history["phase"]) == ["head", "finetune", "finetune"]
    said = [n for n in notes.notes if n.startswith("fine-tuning")]  # announced, then its outcome
    assert said[0].startswith("fine-tuning the body's last block with the head from")
    assert "lowered the best valid loss" in said[1] and "keeps the fine-tuned blocks" in said[1]
    assert result.best_epoch > 1 and result.finetune and result.finetune.kept is True
    model, _ = load_model(tmp_path / "run")
    before, after = lite.state_dict(), model.body.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    last = f"net._blocks.{len(lite.net._blocks) - 1}."
    assert changed and all(k.startswith((last, "net._conv_head", "net._bn1")) for k in changed)
    assert not any(k.endswith(("running_mean", "running_var")) for k in changed)
    tuned_body_named(tmp_path / "run", lite)
    calibrated_on_the_tuned_model(tmp_path / "run", split_dir)
    answers_as_calibrated(tmp_path / "run", split_dir, calibrated["logits"])


def tuned_body_named(run, pretrained):
    """The run's model file and provenance name the body it holds, the tuned one."""
    import json

    from objrec.bodies import fingerprint_module

    model, meta = load_model(run)
    assert meta.body_fingerprint == fingerprint_module(model.body) != fingerprint_module(pretrained)
    made = json.loads((run / "summary.json").read_text())["provenance"]
    assert made["body_fingerprint"] == meta.body_fingerprint


@pytest.mark.slow
def test_ctrl_c_while_fine_tuning_writes_the_run_with_the_body_as_it_was(tmp_path, split_dir, lite):
    """A stop in fine-tuning writes the run as of the head's end (train --json prints it): its
    body is the one the head was trained on, not blocks tuned halfway."""
    from objrec.errors import Interrupted

    class StopInFineTuning(TaskRecorder):
        def epoch(self, record):
            if record["epoch"] == 2:  # the first of fine-tuning, after the head's one
                raise KeyboardInterrupt

    config = TrainConfig(
        backbone="efficientnet_lite0", epochs=1, aug_views=0, finetune_blocks=1, finetune_lr=1e-3
    )
    config.precision = "fp32"  # as auto chose before int8 took fine-tuning (where int8 pays)
    stopper = StopInFineTuning()
    with pytest.raises(Interrupted, match="interrupted after fine-tuning's epoch 2; ") as stopped:
        train(split_dir, tmp_path / "run", config, reporter=stopper)
    assert stopped.value.summary is not None and stopped.value.summary["finished"] is False
    # review53b nit 3: the passes below the tuned blocks were "train (cut) features", unexplained
    assert "train features below the fine-tuned blocks" in stopper.tasks, stopper.tasks
    assert "valid features below the fine-tuned blocks" in stopper.tasks
    model, _ = load_model(tmp_path / "run")
    before, after = lite.state_dict(), model.body.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_ctrl_c_while_calibrating_the_tuned_model_writes_the_body_the_head_was_trained_on(
    tmp_path, split_dir, lite
):
    """Fine-tuning kept its blocks, then a stop while calibrating: the run written as of the
    head's end pairs the head's best with the body it was trained on, not with the tuned blocks
    (which its training state does not hold)."""
    from objrec.errors import Interrupted

    class StopInCalibration(TaskRecorder):
        def task(self, description, total):
            if description.startswith("calibrating"):
                raise KeyboardInterrupt
            return super().task(description, total)

    config = barely_trained_then_tuned()
    notes = StopInCalibration()
    with pytest.raises(Interrupted, match="interrupted after fine-tuning's epoch ") as stopped:
        train(split_dir, tmp_path / "run", config, reporter=notes)
    assert any("keeps the fine-tuned blocks" in n for n in notes.notes)  # tuned, then stopped
    assert stopped.value.summary is not None and stopped.value.summary["finished"] is False
    model, meta = load_model(tmp_path / "run")
    before, after = lite.state_dict(), model.body.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert meta.calibration is None


@pytest.mark.slow
def test_a_run_stopped_in_fine_tuning_or_its_calibration_resumes_after_its_last_tuned_epoch(
    tmp_path, split_dir, monkeypatch
):
    """A stop in fine-tuning's epochs, or in the calibration after them, kept none of them: a
    resume fine-tuned again from the head's end. Stopped after its first tuned epoch (epoch 2),
    the run resumes after it (a resume stopped before its epochs says so too), runs epochs 3 and
    4 alone, is stopped while calibrating, resumes
    again with no tuned epoch to run, and ends with the model, calibration and losses of an
    uninterrupted run."""
    from objrec.errors import Interrupted

    class StopInCalibration(EpochTable):
        def task(self, description, total):
            if description.startswith("calibrating"):
                raise KeyboardInterrupt
            return super().task(description, total)

    config = replace(barely_trained_then_tuned(), finetune_epochs=3)
    whole = train(split_dir, tmp_path / "whole", config)
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="interrupted after fine-tuning's epoch 2; "):
        train(split_dir, run, config, reporter=StopAfter(2))
    with monkeypatch.context() as stopped, pytest.raises(Interrupted) as before_the_epochs:
        stopped.setattr(importlib.import_module("objrec.train"), "prepare", ctrl_c)
        train(split_dir, run, resume=True)  # said "fine-tuning ... starts again" (review58a M-1)
    assert "interrupted after fine-tuning's epoch 2; " in str(before_the_epochs.value)
    resumed = StopInCalibration()
    with pytest.raises(Interrupted, match="interrupted after fine-tuning's epoch 4; "):
        train(split_dir, run, resume=True, reporter=resumed)
    assert [line["epoch"] for line in resumed.lines] == [3, 4]
    assert any("resumed after epoch 2" in note for note in resumed.notes)
    last = EpochTable()
    result = train(split_dir, run, resume=True, reporter=last)
    assert last.lines == [] and result.finetune is not None and result.finetune.kept
    losses = [(r["epoch"], r["valid_loss"], r["phase"]) for r in result.history]
    assert losses == [(r["epoch"], r["valid_loss"], r["phase"]) for r in whole.history]
    (model, meta), (whole_model, whole_meta) = load_model(run), load_model(tmp_path / "whole")
    assert meta.calibration == whole_meta.calibration
    ours, theirs = model.state_dict(), whole_model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def calibrated_on_the_tuned_model(run, split_dir):
    """Temperature, familiarity and threshold fitted on the final (tuned) model's valid outputs:
    the stored temperature is the one its valid logits give, and the familiarity is 1 at the
    median valid image (``Readable``), which features of the untuned body would not give."""
    from objrec.calibration import temperature_fit
    from objrec.images import open_image
    from objrec.inference import Recognizer

    recognizer = Recognizer.load(run)
    assert recognizer.unknown_score == "mahalanobis+knn" and recognizer.threshold == 0.0
    paths = sorted((split_dir / "valid").rglob("*.*"))
    labels = torch.tensor([recognizer.classes.index(p.parent.name) for p in paths])
    images = [open_image(p) for p in paths]
    logits = recognizer.logits(recognizer.preprocess(images))
    fitted = temperature_fit(logits, labels).temperature
    assert fitted == pytest.approx(recognizer.temperature, rel=1e-3)
    scores = recognizer.answer(images).scores
    assert float(scores.median()) == pytest.approx(1.0, abs=1e-2)  # float16 stored features


def answers_as_calibrated(run, split_dir, calibrated: torch.Tensor) -> None:
    """Predict's logits of the validation images are ``calibrated`` (those calibration fitted
    on), and the run records float32 features."""
    from objrec.images import open_image
    from objrec.inference import Recognizer

    recognizer = Recognizer.load(run)
    paths = sorted((split_dir / "valid").rglob("*.*"))  # the order calibration reads them in
    answered = recognizer.logits(recognizer.preprocess([open_image(p) for p in paths]))
    torch.testing.assert_close(answered, calibrated, rtol=0, atol=1e-4)
    assert recognizer.meta.feature_dtype == "float32"


@pytest.mark.slow
def test_a_kept_fine_tuning_counts_the_blocks_it_tuned_as_trainable(lite):
    """params.trainable and train's "parameters" line counted the heads alone where
    --finetune-blocks 2 trained and kept 2 blocks of the body too (newcomer60b, 6): the line
    says what fine-tuning trains, and a kept fine-tuning's run counts its blocks as trainable."""
    from types import SimpleNamespace

    from objrec.config import DataConfig
    from objrec.finetune import FinetuneRecord, body_kept, tuned_parameters
    from objrec.int8_body import QuantizedBody
    from objrec.meta import HeadConfig, ParameterCounts, RunMeta
    from objrec.train import parameters_line

    top = split_body(lite, 2, 224)[1]
    tuned = sum(p.numel() for p in top.parameters())
    assert tuned_parameters(lite, 2) == tuned_parameters(QuantizedBody(lite), 2) == tuned
    assert tuned_parameters(ConcatBody([lite, lite]), 2) == 2 * tuned
    heads = ParameterCounts(total=5_000_000, trainable=3)
    assert parameters_line(heads, SimpleNamespace(body=lite), 2) == (  # type: ignore[arg-type]
        f"parameters: 5,000,000 total, 3 trainable, and {tuned:,} more in fine-tuning "
        "(2 blocks of the network)"
    )
    assert parameters_line(heads, SimpleNamespace(body=lite), 0).endswith("3 trainable")  # type: ignore[arg-type]
    meta = RunMeta("efficientnet_lite0", ("a", "b"), DataConfig(), HeadConfig(8, 2), params=heads)
    losses = {"best_valid_loss_before": 0.5, "best_valid_loss_after": 0.4}
    for kept, trainable in ((True, 3 + tuned), (False, 3)):
        record = FinetuneRecord(blocks=2, epochs_run=1, kept=kept, best_epoch_before=1, **losses)
        prep, model = SimpleNamespace(precision=None), SimpleNamespace(body=lite)
        config = TrainConfig(backbone="efficientnet_lite0", finetune_blocks=2)
        _, _, after = body_kept(prep, model, config, meta, record)  # type: ignore[arg-type]
        assert after.params == ParameterCounts(total=5_000_000, trainable=trainable)


def test_a_kept_fine_tuning_records_the_fingerprint_of_the_body_it_tuned():
    """The run's ``body_fingerprint`` (and its provenance's) named the pretrained body, or for an
    int8 run the int8 one with its float_fingerprint, while the model file holds the tuned fp32
    body; a fine-tuning not kept leaves them as they were."""
    from types import SimpleNamespace

    from objrec.bodies import fingerprint_module
    from objrec.config import DataConfig
    from objrec.finetune import FinetuneRecord, body_kept
    from objrec.int8_body import QuantizedBody
    from objrec.meta import HeadConfig, RunMeta

    tuned = build_body(get_backbone("tiny_test")).eval()
    meta = RunMeta(
        "tiny_test",
        ("a", "b"),
        DataConfig(),
        HeadConfig(8, 2),
        body_fingerprint="int8 body",
        float_fingerprint="pretrained body",
    )
    losses = {"best_valid_loss_before": 0.5, "best_valid_loss_after": 0.4}
    for kept in (True, False):
        record = FinetuneRecord(blocks=1, epochs_run=1, kept=kept, best_epoch_before=1, **losses)
        prep = SimpleNamespace(precision=None)
        model = SimpleNamespace(body=QuantizedBody(tuned))
        _, _, after = body_kept(prep, model, TrainConfig(backbone="tiny_test"), meta, record)  # type: ignore[arg-type]
        if kept:
            assert model.body is tuned
            assert after.body_fingerprint == fingerprint_module(tuned)
            assert after.float_fingerprint is None  # a float body's
        else:
            assert (after.body_fingerprint, after.float_fingerprint) == (
                "int8 body",
                "pretrained body",
            )


def test_a_kept_fine_tuning_of_an_int8_body_gives_a_new_prepared_and_leaves_the_heads_own():
    """``Prepared`` was a mutable bag written after it was built by train, finetune and
    train_stops: a kept fine-tuning set its precision to fp32, and a stop afterwards set it back.
    It is frozen: ``body_kept`` returns a new one with the fp32 precision, and the one a stop
    writes the run as of the head's end from keeps the int8 body's. The run's model is not in it
    (``LiveParts``): the fp32 body is given to the model itself."""
    import dataclasses
    from types import SimpleNamespace

    from objrec.config import DataConfig
    from objrec.finetune import FinetuneRecord, body_kept
    from objrec.int8_body import QuantizedBody
    from objrec.meta import HeadConfig, RunMeta
    from objrec.precision import Precision, Settled
    from objrec.prepared import Prepared

    tuned = build_body(get_backbone("tiny_test")).eval()
    int8 = Precision(body=Settled("int8", "asked"), head=Settled("fp32", "asked"), engine="x")
    parts = dict(data=None, train=None, valid=None, fingerprint="", train_set=None, valid_set=None)
    model = SimpleNamespace(body=QuantizedBody(tuned))
    head_s = Prepared(precision=int8, **parts)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        head_s.precision = None  # type: ignore[misc]
    meta = RunMeta("tiny_test", ("a", "b"), DataConfig(), HeadConfig(8, 2))
    losses = {"best_valid_loss_before": 0.5, "best_valid_loss_after": 0.4}
    record = FinetuneRecord(blocks=1, epochs_run=1, kept=True, best_epoch_before=1, **losses)
    kept, _, _ = body_kept(head_s, model, TrainConfig(backbone="tiny_test"), meta, record)  # type: ignore[arg-type]
    assert kept is not head_s and model.body is tuned
    assert (kept.precision.body.used, kept.precision.engine) == ("fp32", None)
    assert head_s.precision == int8


@pytest.mark.slow
def test_finetuning_needs_a_lite_backbone(tmp_path, split_dir, tiny_config):
    """Refused before any work: it ran the frozen pass and fitted the head first, leaving the
    run's training state in a folder a failed train should not leave; a count of blocks beyond
    the body's likewise."""
    tiny_config.finetune_blocks = 1
    with pytest.raises(ObjrecError, match=r"EfficientNet-Lite backbones .*, not with tiny_test"):
        train(split_dir, tmp_path / "run", tiny_config)
    lite = TrainConfig(backbone="efficientnet_lite0+efficientnet_lite1", finetune_blocks=17)
    with pytest.raises(ObjrecError, match=r"between 1 and 16 .*: its smallest body has 16 blocks"):
        train(split_dir, tmp_path / "run", lite)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_each_lite_backbone_knows_its_blocks_before_it_is_built():
    """``BackboneSpec.blocks``, which refuses a --finetune-blocks too large before any work, is the
    count of blocks the built architecture has."""
    for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"):
        body = build_body(get_backbone(name), pretrained=False)
        assert get_backbone(name).blocks == len(body.net._blocks) > 0
    assert get_backbone(DEFAULT_BACKBONE).blocks == 16 and get_backbone("tiny_test").blocks == 0


def test_a_diverged_finetuning_names_finetune_lr_and_keeps_the_heads_state():
    from objrec.engine import Diverged
    from objrec.finetune import finetune_divergence

    config = TrainConfig(backbone="tiny_test", finetune_blocks=1, finetune_lr=0.5)
    with pytest.raises(ObjrecError) as caught, finetune_divergence(config):
        raise Diverged(7, "validation", float("nan"))
    assert str(caught.value) == (
        "the validation loss is NaN at epoch 7: training diverged while fine-tuning (the head's "
        "training state is kept); start it again with a lower `finetune_lr` than 0.5 and "
        "`force=True`"
    )


def fit_states(head_losses, tuned_losses, best_epoch):
    """The head's fit (its best at ``best_epoch``) and the fine-tuning's after it, as train has
    them: the fine-tuning's history follows the head's, its best the head's unless beaten."""
    from objrec.engine import EarlyStopping, FitState

    def rows(losses, first):
        return [{"epoch": e, "valid_loss": v} for e, v in enumerate(losses, first)]

    best = head_losses[best_epoch - 1]
    head = FitState(EarlyStopping(5, best=best, best_epoch=best_epoch), len(head_losses))
    head.history = rows(head_losses, 1)
    tuned_best = min([best, *tuned_losses])
    tuned_epoch = (
        best_epoch if tuned_best == best else len(head_losses) + 1 + tuned_losses.index(tuned_best)
    )
    tuned = FitState(EarlyStopping(5, best=tuned_best, best_epoch=tuned_epoch))
    tuned.epoch = len(head_losses) + len(tuned_losses)
    tuned.history = head.history + rows(tuned_losses, len(head_losses) + 1)
    return head, tuned


def test_fine_tuning_s_first_line_names_the_head_s_best_epoch_it_starts_from():
    """The head stopped at epoch 25 and kept epoch 20: fine-tuning starts from epoch 20's
    weights, and its epochs are numbered from 26. The line once said "from epoch 25", which
    read as the weights it started from."""
    from objrec.engine import EarlyStopping, FitState
    from objrec.finetune import finetune_begins

    stopper = EarlyStopping(5)
    for epoch in range(1, 26):  # lower each epoch to the 20th, then higher
        stopper.step(1 / epoch if epoch <= 20 else 0.5, epoch)
    head = FitState(stopper, epoch=25)
    said = finetune_begins(TrainConfig(finetune_blocks=2, finetune_epochs=3), head, None)
    assert head.best_epoch == 20
    assert said == (
        "fine-tuning the body's last 2 blocks with the head from the head's best epoch (20): "
        "at most 3 epochs, numbered from 26"
    )


def test_a_fine_tuning_that_did_not_help_says_in_plain_words_what_the_run_keeps():
    """It said the run keeps 'the frozen body and its head'; and --json did not say so at all
    (only the text output did): finetune_record is the summary's `finetune`."""
    from objrec.finetune import finetune_outcome, finetune_record

    head, tuned = fit_states([0.9, 0.5, 0.6], [0.7, 0.55, 0.65], best_epoch=2)
    record = finetune_record(head, tuned, 1)
    assert record.to_json() == {
        "blocks": 1,
        "epochs_run": 3,
        "kept": False,
        "best_valid_loss_before": 0.5,
        "best_valid_loss_after": 0.55,
        "best_epoch_before": 2,
    }
    assert finetune_outcome(record) == (
        "fine-tuning did not lower the best valid loss (0.5000, the head's epoch 2) in its 3 "
        "epochs (its lowest: 0.5500): the run keeps the pretrained network as it was, and its head"
    )
    head, tuned = fit_states([0.9, 0.5, 0.6], [0.7, 0.4, 0.45], best_epoch=2)
    record = finetune_record(head, tuned, 2)
    assert record.kept and record.best_valid_loss_after == 0.4
    assert finetune_outcome(record) == (
        "fine-tuning lowered the best valid loss from 0.5000 to 0.4000: the run keeps the "
        "fine-tuned blocks"
    )


def test_a_fine_tuning_record_is_written_and_read_back_as_summary_json_always_held_it():
    """What fine-tuning did is read by attribute (``FinetuneRecord``); a run's summary holds it
    as before, key for key in the same order (docs/json.md), ``valid_loss_untuned`` only where
    measured, and a summary an earlier objrec wrote, without it, still reads (the report)."""
    import json
    import math

    from objrec.finetune import FinetuneRecord, finetune_record

    head, tuned = fit_states([0.9, 0.5], [0.45, 0.6], best_epoch=2)
    record = finetune_record(head, tuned, 2, untuned=0.52)
    written = json.loads(json.dumps(record.to_json()))
    assert list(written.items()) == [
        ("blocks", 2),
        ("epochs_run", 2),
        ("kept", True),
        ("best_valid_loss_before", 0.5),
        ("best_valid_loss_after", 0.45),
        ("best_epoch_before", 2),
        ("valid_loss_untuned", 0.52),
    ]
    assert FinetuneRecord.from_json(written) == record
    earlier = {k: v for k, v in written.items() if k != "valid_loss_untuned"}
    assert FinetuneRecord.from_json(earlier).valid_loss_untuned is None
    assert list(FinetuneRecord.from_json(earlier).to_json().items()) == list(earlier.items())
    none_ran = finetune_record(head, fit_states([0.9, 0.5], [], best_epoch=2)[1], 1)
    read = FinetuneRecord.from_json(json.loads(json.dumps(none_ran.to_json())))  # NaN in JSON
    assert math.isnan(read.best_valid_loss_after) and read.epochs_run == 0


def test_a_kept_fine_tuning_s_note_quotes_its_lowest_loss_the_kept_model_s():
    """With --min-delta 0.01, fine-tuning epochs of 0.45 (0.05 below the head's 0.5) then 0.445
    (lower by less than 0.01) kept the 0.45 epoch, and the note said why a lower one was not
    kept. The lowest is kept now, lower by however little: the note quotes it, the summary's
    best_valid_loss_after (docs/json.md)."""
    from types import SimpleNamespace

    from objrec.finetune import finetune_told

    head, tuned = fit_states([0.9, 0.5], [0.45, 0.445], best_epoch=2)
    notes = TaskRecorder()
    config = SimpleNamespace(finetune_blocks=1, min_delta=0.01)
    record = finetune_told(head, tuned, config, notes)
    assert record.kept and record.best_valid_loss_after == tuned.best_valid_loss == 0.445
    assert notes.notes == [
        "fine-tuning lowered the best valid loss from 0.5000 to 0.4450: the run keeps the "
        "fine-tuned blocks"
    ]


@pytest.mark.slow
def test_train_json_says_a_fine_tuning_that_did_not_help_was_not_kept(capsys, tmp_path, split_dir):
    """A persona's `train --finetune-blocks 1 --finetune-epochs 3 --json`: its one warning blamed
    --patience (5) for the 3-epoch fine-tuning and named a head epoch, and nothing in the JSON
    said the fine-tuned network was thrown away (only the text output did). A fine-tuning that
    cannot gain --min-delta (a learning rate of 1e-9) now has `finetune.kept` false, and the
    text's sentence is its warning. In fp32: on a CPU with 8-bit dot products ``auto`` took int8
    and calibrated Lite0's int8 graph (two thirds of this test's time), which the int8 run of a
    fine-tuning not kept checks (``test_a_fine_tuning_not_kept_leaves_...``)."""
    import json

    from objrec.cli import main

    args = ["train", split_dir, "--out", tmp_path / "run", "--backbone", "efficientnet_lite0"]
    args += ["--epochs", "3", "--aug-views", "0", "--min-delta", "0.5", "--finetune-blocks", "1"]
    args += ["--finetune-epochs", "2", "--finetune-lr", "1e-9", "--precision", "fp32", "--json"]
    assert main([str(a) for a in args]) == 0
    answer = json.loads(capsys.readouterr().out)
    finetune = answer["finetune"]
    assert finetune["blocks"] == 1 and finetune["epochs_run"] == 2 and finetune["kept"] is False
    assert finetune["best_epoch_before"] == answer["best_epoch"] <= 3
    assert finetune["best_valid_loss_before"] == pytest.approx(answer["best_valid_loss"])
    said = [w for w in answer["warnings"] if "fine-tun" in w]  # the head's own limit may warn
    assert len(said) == 1 and said[0].startswith("fine-tuning did not lower the best valid loss (")
    assert not [w for w in answer["warnings"] if "--finetune-epochs limit" in w]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["finetune"] == finetune


def test_fine_tuning_short_of_the_head_s_loss_gives_back_the_untuned_weights(caplog):
    """Fine-tuning's epochs start from the untuned model's loss (fp32, as they run it); one that
    improved on that start without lowering the head's best (measured on the int8 body) is not
    kept, and the model gets its untuned weights back."""
    import copy
    from functools import partial

    from objrec.distributed import SINGLE
    from objrec.engine import end_epoch as ended
    from objrec.finetune import finetune_start, finetune_told, unless_below_the_head

    end_epoch = partial(ended, world=SINGLE, started=0.0)
    head, _ = fit_states([0.9, 0.5], [], best_epoch=2)
    head.stopper.min_delta = 0.01  # the run's, which fine-tuning's stopper takes from the head's
    model = torch.nn.Linear(2, 2)
    config = TrainConfig(backbone="tiny_test", patience=3, min_delta=0.01)
    start = finetune_start(head, model, config, untuned=0.6)
    assert (start.stopper.best, start.best_epoch, start.epoch) == (0.6, 2, 2)
    untouched = copy.deepcopy(start.best_state)
    with torch.no_grad():
        model.weight.add_(1.0)  # what the fine-tuning's best epoch left
    # 0.105 below its start, 0.005 below the head's: not a gain, nor marked best
    tuned = end_epoch(start, model, 3, {"loss": 0.4, "acc": 1.0}, {"loss": 0.495, "acc": 1.0})
    state = unless_below_the_head(start, head, model, untouched)
    assert (state.best_epoch, state.best_valid_loss, tuned["best"]) == (2, 0.5, False)
    assert all(torch.equal(v, untouched[k]) for k, v in model.state_dict().items())
    record = finetune_told(head, state, config, TaskRecorder(), untuned=0.6)
    assert record.kept is False and record.valid_loss_untuned == 0.6
    assert "(its lowest: 0.4950, from 0.6000 untuned in fp32): the run keeps" in caplog.text


@pytest.mark.parametrize("tuned, kept", [(0.9989, False), (0.998, True)])
def test_fine_tuning_must_lower_the_head_s_lowest_loss_by_more_than_min_delta(tuned, kept):
    """A head whose losses went 1.0 then 0.9995 (lower by less than --min-delta 0.001) kept epoch
    1, and fine-tuning had to beat 1.0: a tuned 0.9989 was kept, no better than the head's own
    epoch 2 by --min-delta. The head keeps its lowest epoch now, which fine-tuning starts from
    and must lower by more than --min-delta: 0.9989 is not kept, 0.998 is."""
    import copy
    from functools import partial

    from objrec.distributed import SINGLE
    from objrec.engine import EarlyStopping, FitState
    from objrec.engine import end_epoch as ended
    from objrec.finetune import finetune_record, finetune_start, unless_below_the_head

    end_epoch = partial(ended, world=SINGLE, started=0.0)
    stopper = EarlyStopping(5, 0.001)
    for epoch, loss in ((1, 1.0), (2, 0.9995)):
        stopper.step(loss, epoch)
    head = FitState(stopper, epoch=2, history=[{"epoch": 1}, {"epoch": 2}])
    model = torch.nn.Linear(2, 2)
    config = TrainConfig(backbone="tiny_test", patience=5, min_delta=0.001)
    start = finetune_start(head, model, config, untuned=1.01)
    untouched = copy.deepcopy(start.best_state)
    line = end_epoch(start, model, 3, {"loss": 0.4, "acc": 1.0}, {"loss": tuned, "acc": 1.0})
    state = unless_below_the_head(start, head, model, untouched)
    record = finetune_record(head, state, 1, untuned=1.01)
    assert (record.best_epoch_before, record.best_valid_loss_before) == (2, 0.9995)
    assert (record.kept, line["best"]) == (kept, kept)
    assert (state.best_epoch, state.best_valid_loss) == ((3, tuned) if kept else (2, 0.9995))


class EpochTable(TaskRecorder):
    """The epoch table as it is printed: each record as ``reporter.epoch`` had it then (a copy:
    a line printed marked best stays so, whatever is done to its record afterwards)."""

    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []

    def epoch(self, record):
        self.lines.append(dict(record))


@pytest.mark.parametrize("head_best", [0.1, 10.0], ids=["not_kept", "kept"])
def test_the_last_epoch_marked_best_is_the_one_whose_head_the_run_keeps(head_best):
    """Fine-tuning's early stopping judges its epochs from the untuned model's loss, above the
    head's best here (as an int8 body's can be): its epochs that lowered that start were printed
    marked best, then the fine-tuning was not kept and history.csv's marks were taken back, so
    the table's last mark was an epoch the run did not keep. Now a tuned epoch is marked only
    below the head's best, as only it can be kept: not kept, no tuned line is marked (the last
    mark is the head's best epoch); kept, the last one marked is the kept epoch."""
    from types import SimpleNamespace

    from objrec.distributed import SINGLE
    from objrec.engine import EarlyStopping, FitState
    from objrec.finetune import tune_blocks

    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 3
    head_lines = [
        {"epoch": e, "valid_loss": v, "best": True} for e, v in [(1, 2.0), (2, head_best)]
    ]
    head_state = FitState(EarlyStopping(5, 0.001, head_best, 2), 2, head_lines)
    head = build_head(12, 3)
    model = SimpleNamespace(head=head, cpu=lambda: SimpleNamespace(freeze_body=lambda: None))
    config = TrainConfig(finetune_blocks=1, finetune_epochs=3, finetune_lr=1e-3, batch_size=16)
    table = EpochTable()
    top, stacks = torch.nn.Linear(16, 12), (held_stack(centres, 96, 4), held_stack(centres, 48, 4))
    run = tuning_run(config, model, top, stacks, (table, SINGLE))
    state, outcome = tune_blocks(run, head_state)  # type: ignore[arg-type]
    untuned = outcome.valid_loss_untuned
    assert untuned is not None and (head_best < untuned) is (head_best == 0.1)
    assert outcome.best_valid_loss_after < untuned - 0.001  # early stopping counted a gain
    marked = [line["epoch"] for line in [*head_lines, *table.lines] if line["best"]]
    assert outcome.kept is (head_best == 10.0)
    assert marked[-1] == state.best_epoch  # the head's epoch 2 where not kept
    assert outcome.kept or marked == [1, 2]
    assert [r["best"] for r in state.history[2:]] == [line["best"] for line in table.lines]


def tuning_run(config, model, top, stacks, told):
    """What ``tune_blocks`` reads of a run (``prepared.RunContext``): its settings, the classes
    a, b and c, its ``model`` (its head), the blocks above the cut (``top``), the activations at
    the cut (``stacks``) and where it says what it does (``told``: reporter, world)."""
    from types import SimpleNamespace

    from objrec.distributed import Told

    prep = SimpleNamespace(classes=("a", "b", "c"), cut=stacks)
    live = SimpleNamespace(model=model, top=top)
    return SimpleNamespace(prep=prep, live=live, config=config, told=Told(*told))


class StopAfter(EpochTable):
    """Ctrl-C once epoch ``epoch`` has ended (its training state written first, as ``fit``
    writes it before the line is printed)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.stop = epoch

    def epoch(self, record):
        super().epoch(record)
        if record["epoch"] == self.stop:
            raise KeyboardInterrupt


def tuned_from_the_head(made, stacks, reporter, path, resumed=None):
    """``tune_blocks`` of copies of ``made`` (head, top) from a head's fit of 2 epochs (best 10.0,
    so that fine-tuning is kept) on ``stacks``, for 4 epochs, its state written to ``path``
    (``resumed``: a saved state it goes on from). Returns its fit, outcome and final weights."""
    import copy
    from types import SimpleNamespace

    from objrec.config import DataConfig
    from objrec.distributed import SINGLE
    from objrec.engine import EarlyStopping, FitState
    from objrec.finetune import tune_blocks
    from objrec.meta import RunMeta
    from objrec.resume_state import FinetuneSaver, head_part, training_state

    config = TrainConfig(
        backbone="tiny_test", finetune_blocks=1, finetune_epochs=4, finetune_lr=1e-3, batch_size=16
    )
    head, top = copy.deepcopy(made)
    lines = [{"epoch": e, "valid_loss": v, "best": True} for e, v in [(1, 20.0), (2, 10.0)]]
    head_state = FitState(EarlyStopping(5, 0.001, 10.0, 2), 2, lines)
    head_state.best_state = copy.deepcopy(head.state_dict())
    meta = RunMeta.for_model("tiny_test", ["a", "b", "c"], DataConfig(), 12, config)
    base = training_state(head, torch.optim.Adam(head.parameters()), head_state, meta)
    saver = FinetuneSaver(path, head_part(resumed) if resumed else base, resumed)
    model = SimpleNamespace(head=head, cpu=lambda: SimpleNamespace(freeze_body=lambda: None))
    run = tuning_run(config, model, top, stacks, (reporter, SINGLE))
    state, outcome = tune_blocks(run, head_state, saver)  # type: ignore[arg-type]
    return state, outcome, {**top.state_dict(), **head.state_dict()}


def test_fine_tuning_stopped_after_an_epoch_resumes_from_it_to_the_uninterrupted_end(tmp_path):
    """Fine-tuning saved nothing: a stop or a kill in its epochs, or in the calibration after
    them, lost every tuned epoch, and a resume fine-tuned again from the head's end. Its state
    (weights, best, AdamW, the schedule, early stopping, the RNG its dropout draws from) is now
    written beside the head's after each epoch; stopped after its 2nd of 4 epochs and resumed
    (the RNG drawn from meanwhile), it runs only the 3rd and 4th, to the very weights, losses
    and outcome of an uninterrupted fine-tuning."""
    from objrec.resume_state import head_part, load_training_state, write_training_state

    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 3
    stacks = (held_stack(centres, 96, 4), held_stack(centres, 48, 4))
    made = (build_head(12, 3), torch.nn.Linear(16, 12))  # the head's dropout draws from the RNG
    whole, whole_outcome, whole_weights = tuned_from_the_head(
        made, stacks, EpochTable(), tmp_path / "whole"
    )
    path = tmp_path / "last.safetensors"
    with pytest.raises(KeyboardInterrupt):
        tuned_from_the_head(made, stacks, StopAfter(4), path)
    saved = load_training_state(path)
    assert saved.progress.epoch == 2 and saved.progress.last_epoch == 4
    torch.rand(100)  # the RNG drawn from between the stop and the resume
    again = EpochTable()
    state, outcome, weights = tuned_from_the_head(made, stacks, again, path, saved)
    assert [line["epoch"] for line in again.lines] == [5, 6]  # none of epochs 3 and 4 again
    assert [r["valid_loss"] for r in state.history] == [r["valid_loss"] for r in whole.history]
    assert state.best_epoch == whole.best_epoch and outcome.kept
    assert replace(outcome, seconds=None) == replace(whole_outcome, seconds=None)
    assert weights.keys() == whole_weights.keys()
    assert all(torch.equal(weights[k], whole_weights[k]) for k in weights)
    assert load_training_state(path).progress.last_epoch == 6
    write_training_state(tmp_path / "head", head_part(load_training_state(path)))
    assert load_training_state(tmp_path / "head").progress.finetune is None


@pytest.mark.slow
@pytest.mark.usefixtures("auto_is_int8")  # its int8 graph made once for the run, not here
def test_a_fine_tuning_that_learns_nothing_is_not_said_to_lower_the_loss(
    tmp_path, split_dir, monkeypatch
):
    """Fine-tuning had to beat the head's best loss, measured on the int8 body in bf16, while its
    epochs run the fp32 body in fp32: where the untuned fp32 model scores better, a fine-tuning
    that learns nothing was kept, the run's body switched to fp32, and the note said it "lowered
    the best valid loss". Here the head's best reads 0.5 higher than its fp32
    model's, as another arithmetic could make it, and fine-tuning's learning rate is 1e-12."""
    import importlib

    recipe = importlib.import_module("objrec.train")
    fit_head = recipe.fit_head

    def read_higher(*args, **kwargs):
        state, saver = fit_head(*args, **kwargs)
        state.stopper.best += 0.5
        return state, saver

    monkeypatch.setattr(recipe, "fit_head", read_higher)
    config = TrainConfig(**barely_trained_then_tuned().to_dict() | {"finetune_lr": 1e-12})
    result = train(split_dir, tmp_path / "run", config)
    assert result.finetune is not None and result.finetune.kept is False
    untuned = result.finetune.valid_loss_untuned
    assert untuned is not None and untuned < result.finetune.best_valid_loss_before - 0.4


@pytest.fixture(scope="session")
def lite0_int8_graphs(request) -> Path:
    """The ``onnx`` folder of a cache holding Lite0's int8 graph as train makes it: calibrating
    it was two thirds of each test below (how it is made is test_quantize's). Made once for the
    run (``made_once``)."""
    from objrec.backbones import resolve_data_config
    from objrec.quantize import quantize_body

    def make(cache: Path) -> None:
        spec = get_backbone("efficientnet_lite0")
        with own_cache(cache), torch.random.fork_rng():
            quantize_body(build_body(spec), resolve_data_config(spec), cache)

    return made_once(request, "lite0-int8", make) / "onnx"


@pytest.fixture
def auto_is_int8(monkeypatch, lite0_int8_graphs):
    """A CPU with 8-bit dot products, where ``precision="auto"`` takes int8 for a Lite body; this
    test's cache holds Lite0's int8 graph already (``lite0_int8_graphs``)."""
    import objrec.precision
    from objrec.cache_folder import default_cache_dir

    monkeypatch.setattr(objrec.precision, "int8_dot_product", lambda: "avx512_vnni")
    shutil.copytree(lite0_int8_graphs, default_cache_dir() / "onnx")


@pytest.mark.slow
def test_a_fine_tuning_not_kept_leaves_the_run_a_head_only_run_saves(
    tmp_path, split_dir, auto_is_int8
):
    """--finetune-blocks not kept saved an fp32 body (it took fp32 for any fine-tuning) and
    ran the frozen pass again, though the head-only run's int8 features were in the store: with
    ``precision="int8"`` (auto's fp32 with fine-tuning: test_quantize) the head trains on the int8
    body, and a fine-tuning not kept leaves that run as it is, int8 body, head, calibration and
    stored features all a head-only run's."""
    import json

    from objrec.int8_body import QuantizedBody

    head_only = TrainConfig(
        backbone="efficientnet_lite0", epochs=2, aug_views=0, min_delta=0.5, precision="int8"
    )
    train(split_dir, tmp_path / "head", head_only)
    tuned = TrainConfig(**head_only.to_dict() | {"finetune_blocks": 1, "finetune_lr": 1e-9})
    result = train(split_dir, tmp_path / "tuned", tuned)
    assert result.finetune is not None and result.finetune.kept is False
    assert result.frozen_pass.computed == 0 and result.frozen_pass.from_store > 0
    (model, meta), (base, base_meta) = load_model(tmp_path / "tuned"), load_model(tmp_path / "head")
    assert isinstance(model.body, QuantizedBody) and meta.train_config.precision == "int8"
    state, base_state = model.state_dict(), base.state_dict()
    assert state.keys() == base_state.keys()
    assert all(torch.equal(state[k], base_state[k]) for k in state)
    assert meta.calibration == base_meta.calibration
    summary, base_summary = (
        json.loads((tmp_path / r / "summary.json").read_text()) for r in ("tuned", "head")
    )
    assert summary["precision"] == base_summary["precision"]


@pytest.mark.slow
def test_an_int8_body_s_kept_fine_tuning_makes_the_run_fp32(
    tmp_path, split_dir, lite, auto_is_int8
):
    """The head trains on the int8 body; a fine-tuning kept makes the run's body the fp32 one it
    tuned, recorded as fp32 with why. A stop while calibrating it writes the run as of the head's
    end: the int8 body the head was trained on, as recorded then."""
    import json

    from objrec.errors import Interrupted
    from objrec.int8_body import QuantizedBody
    from objrec.train import FP32_FROM_HERE

    class StopInCalibration(TaskRecorder):
        def task(self, description, total):
            if description.startswith("calibrating"):
                raise KeyboardInterrupt
            return super().task(description, total)

    config = TrainConfig(**barely_trained_then_tuned().to_dict() | {"precision": "int8"})
    with pytest.raises(Interrupted, match="interrupted after fine-tuning's epoch ") as stopped:
        train(split_dir, tmp_path / "run", config, reporter=StopInCalibration())
    assert stopped.value.summary["precision"]["used"] == "int8"
    model, meta = load_model(tmp_path / "run")
    assert isinstance(model.body, QuantizedBody) and meta.train_config.precision == "int8"
    assert all(
        torch.equal(v, lite.state_dict()[k]) for k, v in model.body.float_body.state_dict().items()
    )
    told = TaskRecorder()
    result = train(split_dir, tmp_path / "run", resume=True, reporter=told)  # tunes, keeps it
    assert result.finetune is not None and result.finetune.kept is True
    # said once, as it happens: nothing else printed said the run's network became fp32
    assert told.notes.count(FP32_FROM_HERE) == 1
    tuning, below = result.finetune.seconds, result.finetune.below_seconds
    assert tuning is not None and 0 < tuning <= result.seconds.fit  # its epochs
    assert below is not None and 0 < below < result.seconds.features  # first, with the body's
    assert result.precision is not None and result.precision.engine is None  # no int8 body
    assert result.precision.body == Settled(
        "fp32", "fine-tuning was kept: its tuned blocks run in fp32"
    )
    # its features were computed by the int8 body all the same
    assert result.seconds.quantize is not None
    model, meta = load_model(tmp_path / "run")
    assert not isinstance(model.body, QuantizedBody) and meta.train_config.precision == "fp32"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == "fp32"
    before, after = lite.state_dict(), model.body.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    tuned_body_named(tmp_path / "run", lite)
    assert meta.float_fingerprint is None  # the int8 body's source, no longer the run's


class HeldRows:
    """What ``ViewStack`` reads of a ``FeatureTable`` once its rows are held: which images are
    readable, and their labels."""

    def __init__(self, labels: torch.Tensor):
        self.ok, self.labels = torch.ones(len(labels), dtype=torch.bool), labels


def held_stack(centres: torch.Tensor, n: int, noise: float = 1.0):
    """A held ``ViewStack`` of ``n`` float16 rows, each its class's row of ``centres`` (the
    classes in turn) plus Gaussian ``noise``."""
    from objrec.batches import ViewStack

    labels = torch.arange(n) % len(centres)
    rows = ViewStack([HeldRows(labels)])
    rows.in_memory = (centres[labels] + torch.randn(n, centres.shape[1]) * noise).half()[None]
    return rows


def clustered_rows(centres: torch.Tensor, n: int):
    """A ``ViewStack`` of ``n`` stored rows (float16) around ``centres``, labelled in turn."""
    from objrec.batches import ViewStack

    labels = torch.arange(n) % len(centres)
    rows = ViewStack([HeldRows(labels)])
    rows.in_memory = (centres[labels] + torch.randn(n, centres.shape[1])).half()[None]
    return rows


def reads_counted(rows) -> list[int]:
    """The batch sizes each read of ``rows`` (a ``ViewStack``) asks for, from now on."""
    reads, batches = [], rows.batches
    rows.batches = lambda size: reads.append(size) or batches(size)
    return reads


@pytest.mark.slow
@pytest.mark.parametrize(("score", "passes"), [("mahalanobis+knn", [1, 1]), ("msp", [0, 1])])
def test_a_fine_tuned_run_s_calibration_runs_the_tuned_top_once_over_each_set(score, passes):
    """The default score reads the training features four times and the validation features
    twice; a fine-tuned run's are the tuned top's outputs, which calibration computes once per
    set, with the numbers it fitted when the top ran at every read. With ``msp`` nothing reads
    the training features, and the top ran over every training image for nothing (runs55's
    notes): it runs over the validation images alone."""
    from types import SimpleNamespace

    from objrec.batches import FeatureSource
    from objrec.confidence import fit_confidence
    from objrec.config import DataConfig
    from objrec.meta import Calibration, HeadConfig, ParameterCounts, RunMeta
    from objrec.progress import SILENT
    from objrec.train import calibrate

    torch.manual_seed(0)
    centres = torch.randn(3, 16) * 3
    train_set, valid_set = clustered_rows(centres, 60), clustered_rows(centres, 30)
    top, head = torch.nn.Linear(16, 12).eval(), build_head(12, 3).eval()
    with torch.inference_mode():  # the top at every read, as calibration ran it
        every_read = fit_confidence(
            head,
            lambda: ((top(x), y) for x, y in train_set.batches(256)),
            lambda: ((top(x), y) for x, y in valid_set.batches(256)),
            score,
        )
    reads = reads_counted(train_set), reads_counted(valid_set)
    model = SimpleNamespace(head=head, cpu=lambda: head, familiarity=None)
    params = ParameterCounts(total=2, trainable=1)
    meta = RunMeta("tiny_test", ("a", "b", "c"), DataConfig(), HeadConfig(12, 3), params=params)
    source = FeatureSource(train_set, valid_set, top)
    config = TrainConfig(unknown_score=score)
    calibrated, fitted = calibrate(model, config, meta, source, SILENT)  # type: ignore[arg-type]
    assert [len(r) for r in reads] == passes  # 4 and 2 when the top ran at every read
    numbers = (every_read.temperature, every_read.threshold, every_read.score, every_read.n_valid)
    assert calibrated.calibration == Calibration(*numbers)
    assert fitted.temperature_fit == every_read.temperature_fit and model.familiarity is None
    if score == "msp":
        assert fitted.familiarity is None is every_read.familiarity
        return
    assert fitted.familiarity.state_dict().keys() == every_read.familiarity.state_dict().keys()
    for name, value in fitted.familiarity.state_dict().items():
        assert torch.equal(value, every_read.familiarity.state_dict()[name]), name


class LiveRows:
    """The rows of the tensors :meth:`track` was given that are alive now, and the most alive at
    once (``peak``)."""

    def __init__(self):
        self.alive: dict[int, int] = {}
        self.peak = 0

    def track(self, rows: torch.Tensor) -> torch.Tensor:
        import weakref

        if id(rows) not in self.alive:
            self.alive[id(rows)] = len(rows)
            weakref.finalize(rows, self.alive.pop, id(rows), None)
            self.peak = max(self.peak, sum(self.alive.values()))
        return rows


@pytest.mark.slow
def test_a_fine_tuned_run_s_calibration_holds_as_few_rows_of_the_tuned_top_at_any_size(
    tmp_path, monkeypatch
):
    """Calibration computed the tuned top's outputs of each set once and held them all (1.5 GB
    at 100,000 images of 3,840 features), where every other feature streams from the store
    (issue #15: memory stays bounded as the data set grows). They are now kept in a scratch file
    in the cache folder and read back a batch at a time: the rows alive at once, the top's
    outputs and the batches calibration reads, are a few batches (three at most: a pass's last
    is still held as the next pass reads) at 1,000 images as at 4,000, and the file leaves
    nothing in the folder."""
    import sys
    from types import SimpleNamespace

    from objrec.batches import CALIBRATION_BATCH, FeatureSource
    from objrec.config import DataConfig
    from objrec.meta import HeadConfig, ParameterCounts, RunMeta
    from objrec.progress import SILENT
    from objrec.train import calibrate

    train_module, live = sys.modules["objrec.train"], LiveRows()
    real = train_module.fit_confidence

    def tracked(batches):
        return lambda: ((live.track(x), y) for x, y in batches())

    def fit_confidence(head, train_batches, valid_batches, score):
        return real(head, tracked(train_batches), tracked(valid_batches), score)

    monkeypatch.setattr(train_module, "fit_confidence", fit_confidence)
    torch.manual_seed(0)
    centres, peaks = torch.randn(3, 16) * 3, []
    linear, head = torch.nn.Linear(16, 12).eval(), build_head(12, 3).eval()
    model = SimpleNamespace(head=head, cpu=lambda: head)
    params = ParameterCounts(total=2, trainable=1)
    meta = RunMeta("tiny_test", ("a", "b", "c"), DataConfig(), HeadConfig(12, 3), params=params)
    for n in (1000, 4000):
        live.peak = 0
        sets = held_stack(centres, n), held_stack(centres, n // 2)
        source = FeatureSource(*sets, lambda x: live.track(linear(x)), tmp_path)
        calibrated, _ = calibrate(model, TrainConfig(), meta, source, SILENT)  # type: ignore[arg-type]
        assert (
            calibrated.calibration is not None
            and calibrated.calibration.validation_images == n // 2
        )
        peaks.append(live.peak)
    assert max(peaks) <= 3 * (CALIBRATION_BATCH // 4), peaks  # 1,000 and 4,000 before
    assert not list(tmp_path.iterdir())


def counted_passes(monkeypatch) -> list[tuple[str, int]]:
    """Each frozen pass a train runs, as (its body's class, its image views: a pass makes every
    view an image is wanted in, ``features.feature_tables``): a ``LiteBody`` pass (the pretrained
    body's) and a ``LiteStem`` one (fine-tuning's) each push their image views through the frozen
    blocks."""
    import objrec.features

    passes, real = [], objrec.features.views_pass

    def counting(body, samples, specs, *args, **kwargs):
        wanted = kwargs.get("wanted") or [specs] * len(samples)
        passes.append((type(body.body).__name__, sum(len(views) for views in wanted)))
        return real(body, samples, specs, *args, **kwargs)

    monkeypatch.setattr(objrec.features, "views_pass", counting)
    return passes


def split_images(split_dir: Path) -> tuple[list, list]:
    from objrec.data import scan_class_folder

    train_set = scan_class_folder(split_dir / "train")
    return train_set.samples, scan_class_folder(split_dir / "valid", train_set.classes).samples


@pytest.mark.slow
def test_a_cold_fine_tuned_run_pushes_each_view_through_the_frozen_blocks_once(
    tmp_path, split_dir, lite, monkeypatch
):
    """The pretrained body's features of a cold fine-tuned run are the cut's rows through the
    pretrained blocks above it, bit for bit the float16 rows a plain frozen pass stores: each view
    goes through the frozen blocks once, where the body's pass and the cut's each pushed it (2x).
    Its lines and summary say where they came from."""
    from dataclasses import replace

    from objrec.backbones import resolve_data_config
    from objrec.cache import open_cache
    from objrec.features import stored_tables
    from objrec.frozen import FrozenBody, compute_features
    from objrec.views import ViewSpec, view_seed

    passes, notes = counted_passes(monkeypatch), TaskRecorder()
    config = replace(barely_trained_then_tuned(), aug_views=1, finetune_epochs=1)
    result = train(split_dir, tmp_path / "run", config, reporter=notes)
    train_samples, valid_samples = split_images(split_dir)
    views = 2 * len(train_samples) + len(valid_samples)
    assert sum(n for _, n in passes) == views, passes  # 2 x views before
    assert {body for body, _ in passes} == {"LiteStem"}
    counts = result.frozen_pass
    assert counts is not None and (counts.computed, counts.derived) == (0, views)
    assert counts.from_store == 0 and counts.to_json()["derived"] == views
    assert counts.hashed == len(train_samples) + len(valid_samples)  # by the cut's pass, first
    n = len(valid_samples)
    assert (
        f"valid features: {n} images, 0 run through the pretrained network, {n} from the "
        "fine-tuning's cut, 0 from the feature store" in notes.notes
    )
    data = resolve_data_config(get_backbone("efficientnet_lite0"), None, None)
    frozen = FrozenBody(lite, data.input_size, open_cache(None, "float16"), name="plain")
    specs = [ViewSpec(data, "none", 0), ViewSpec(data, config.augment, 1)]
    for samples in (train_samples, valid_samples):
        tables = stored_tables(frozen, samples, specs[: 2 if samples is train_samples else 1])
        assert tables is not None
        for spec, table in zip(specs, tables, strict=False):
            seeds = [view_seed(d, spec.view) for d in table.digests]
            plain = compute_features(frozen, samples, spec, seeds=seeds).features
            assert table.ok.all() and torch.equal(table.load().features, plain.half().float())


@pytest.mark.slow
def test_a_plain_run_trains_the_same_model_on_a_store_a_fine_tuned_run_filled(tmp_path, split_dir):
    """review64a M2: the rows a cold fine-tuned run derives from a cut three blocks down are the
    body's own within 1.2e-6, not bit for bit; stored in the plain space, a plain run that read
    them trained a model up to 2e-5 from the one it trains on an empty store, where the docs
    promise the same tensors whether the store was full or empty. They are kept apart now, and
    the plain run computes its own rows."""
    from objrec.checkpoint import read_checkpoint
    from objrec.run_files import BEST

    plain = TrainConfig(
        backbone="efficientnet_lite0",
        precision="fp32",
        head_precision="fp32",
        epochs=3,
        patience=100,
        heads=1,
        aug_views=1,
        batch_size=8,
    )
    train(split_dir, tmp_path / "empty", replace(plain, cache_dir=str(tmp_path / "a")))
    tuned = replace(plain, finetune_blocks=3, finetune_epochs=1, cache_dir=str(tmp_path / "b"))
    filled = train(split_dir, tmp_path / "tuned", tuned).frozen_pass
    assert filled is not None and filled.derived > 0 and filled.computed == 0
    after = train(split_dir, tmp_path / "after", replace(plain, cache_dir=str(tmp_path / "b")))
    first, _ = read_checkpoint(tmp_path / "empty" / BEST)
    second, _ = read_checkpoint(tmp_path / "after" / BEST)
    heads = [key for key in first if key.startswith("head.")]
    assert heads and all(torch.equal(first[key], second[key]) for key in heads)
    assert after.frozen_pass is not None and after.frozen_pass.from_store == 0


@pytest.mark.slow
def test_fine_tuning_derives_only_what_the_store_lacks_and_a_run_without_it_never_cuts(
    tmp_path, split_dir, monkeypatch
):
    """A run without ``finetune_blocks`` never touches a cut's space; a fine-tuned run whose
    body's rows are all stored computes the cut's rows once, for its fine-tuning, and derives
    none: nothing is given to ``derived_rows``, and the blocks above the cut are not exported."""
    from dataclasses import replace

    import objrec.finetune
    from objrec.cache import open_cache

    plain = train(
        split_dir, tmp_path / "plain", replace(barely_trained_then_tuned(), finetune_blocks=0)
    )
    assert plain.frozen_pass is not None and plain.frozen_pass.derived == 0
    spaces, _ = open_cache(None).stored()
    assert [info.label.split(",")[0] for info in spaces] == ["efficientnet_lite0 @ 224px"]
    derived, exported = [], []
    real_rows, real_runner = objrec.finetune.derived_rows, objrec.finetune.onnx_runner
    monkeypatch.setattr(
        objrec.finetune, "derived_rows", lambda *a: derived.append(a[-1]) or real_rows(*a)
    )
    monkeypatch.setattr(
        objrec.finetune, "onnx_runner", lambda *a: exported.append(a) or real_runner(*a)
    )
    passes = counted_passes(monkeypatch)
    tuned = train(split_dir, tmp_path / "tuned", barely_trained_then_tuned())
    train_samples, valid_samples = split_images(split_dir)
    assert passes == [("LiteStem", len(train_samples)), ("LiteStem", len(valid_samples))]
    assert derived == [] and exported == []
    counts = tuned.frozen_pass
    assert counts is not None and (counts.computed, counts.derived) == (0, 0)
    assert counts.from_store == len(train_samples) + len(valid_samples)


@pytest.mark.slow
def test_fine_tuning_trains_the_top_its_cut_s_pass_split_off_the_body(
    tmp_path, split_dir, monkeypatch
):
    """The body was split at the cut twice: once for the pass below the tuned blocks
    (``train_features.cut_features``), and again, inside the Ctrl-C handler, for the top that
    fine-tuning trains. It is split once, and fine-tuning trains that top."""
    import importlib

    passes, recipe = (importlib.import_module(f"objrec.{m}") for m in ("train_features", "train"))
    splits, trained = [], []

    def split(*args):
        splits.append(passes_split(*args))
        return splits[-1]

    def tune(run, *args):
        trained.append(run.live.top)
        raise StopAtFineTuning

    passes_split = passes.split_body
    monkeypatch.setattr(passes, "split_body", split)
    monkeypatch.setattr(recipe, "tune_blocks", tune)
    with pytest.raises(StopAtFineTuning):
        train(split_dir, tmp_path / "run", barely_trained_then_tuned())
    assert len(splits) == 1 and len(trained) == 1 and trained[0] is splits[0][1]


def ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


class StopAtFineTuning(Exception):
    """Raised where fine-tuning would begin, once the top it trains is known."""


class ToyTop(torch.nn.Module):
    """Blocks above a cut, in a test: one linear layer on 8 activations."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def doubled_relu_forward(self, x: torch.Tensor) -> torch.Tensor:
    """ToyTop's forward after an upgrade: same repr, same weights, other outputs."""
    return torch.relu(self.lin(x)) * 2


@pytest.mark.slow
def test_the_top_s_graph_is_made_again_when_the_code_above_the_cut_changes(tmp_path, monkeypatch):
    """A code change to the blocks above the cut (their repr and weights the same) makes their
    ONNX graph again, as the store computes the body's rows again (``bodies.code_digest``): the
    rows derived through the top are the new code's, not the graph cached for the old one
    (review58a H-2: 1.21 from the new eager top before, 6e-8 from the old)."""
    from types import SimpleNamespace

    from objrec.cache import open_cache
    from objrec.finetune import FromTheCut
    from objrec.runtime import onnxruntime_available

    if not onnxruntime_available():
        pytest.skip("ONNX Runtime is not installed")
    torch.manual_seed(0)
    top = ToyTop().eval()
    stem = SimpleNamespace(
        backend_used="onnxruntime", cache=open_cache(tmp_path), input_size=224, n_features=8
    )
    x = torch.randn(3, 8)
    old = FromTheCut("space", top, stem).runner  # type: ignore[arg-type]
    with torch.inference_mode():
        assert old is not None and torch.allclose(torch.as_tensor(old(x)), top(x), atol=1e-6)
    monkeypatch.setattr(ToyTop, "forward", doubled_relu_forward)
    new = FromTheCut("space", top, stem).runner  # type: ignore[arg-type]
    with torch.inference_mode():
        assert new is not None and torch.allclose(torch.as_tensor(new(x)), top(x), atol=1e-6)


def test_on_a_gpu_the_body_s_precision_is_left_to_its_pass_over_the_photos():
    """Whether the pretrained body's features are derived from the cut is told by its device:
    ``FrozenBody.numerics`` is not asked before the body's pass, which asks it on the photos (on a
    GPU, asked with no photos it chose the body's precision once, on random pixels: review58a
    M-2). On the CPU the rows are derived; on a GPU the body's pass computes them."""
    from types import SimpleNamespace

    from objrec.finetune import FromTheCut
    from objrec.store import FLOAT32
    from objrec.train_features import from_the_cut

    asked = []
    cut = SimpleNamespace(tables=[SimpleNamespace(space=SimpleNamespace(id="cut"))], top=None)
    cut.stem, cut.blocks = None, 1
    for device, numerics in (("cpu", FLOAT32), ("cuda", "cuda:float16")):
        frozen = SimpleNamespace(
            device=torch.device(device), numerics=lambda *a, n=numerics: asked.append(a) or n
        )
        derive = from_the_cut(cut, torch.nn.Identity(), frozen)  # type: ignore[arg-type]
        assert isinstance(derive, FromTheCut) is (device == "cpu")
    assert asked == []


def test_fine_tuning_s_weight_decay_is_the_fixed_one_weight_decay_s_help_names(capsys):
    """Fine-tuning decays the tuned blocks and the head by a fixed 1e-4, whatever
    ``weight_decay`` (the head's fit's, default 0): no page said so, and the option's help spoke
    of the head alone (review58a L-1). The help names the value fine-tuning's optimizer uses."""
    from objrec.cli import main
    from objrec.finetune import FINETUNE_WEIGHT_DECAY

    model = FinetuneModel(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    groups = optimizer_for(model, 1e-4).param_groups
    assert [g["weight_decay"] for g in groups] == [FINETUNE_WEIGHT_DECAY] * 2
    assert main(["train", "--help-all"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "decays the tuned blocks and the head by a fixed 1e-4" in said
    assert float("1e-4") == FINETUNE_WEIGHT_DECAY

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from objrec.engine import EarlyStopping, FitState, Stopping, fit
from objrec.model import build_head
from objrec.optimizers import HeadAdam
from objrec.progress import Reporter


def test_early_stopping_counts_epochs_without_improvement_and_resumes():
    stopper = EarlyStopping(patience=2)
    assert [stopper.step(v, e) for e, v in enumerate([3.0, 2.0, 2.5, 1.5, 1.6, 1.7], 1)] == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]
    assert stopper.best_epoch == 4 and stopper.best == 1.5
    level = EarlyStopping(patience=2)  # an equal loss is no improvement: the first stays best
    assert [level.step(v, e) for e, v in enumerate([2.0, 2.0, 2.0], 1)] == [False, False, True]
    assert level.best_epoch == 1 and level.bad_epochs == 2
    again = EarlyStopping(patience=2)
    again.load_state_dict(stopper.state_dict())
    assert again.state_dict() == stopper.state_dict()


def test_early_stopping_keeps_the_lowest_value_and_counts_patience_from_its_reference():
    """--min-delta decided the epoch kept: 0.9995 after 1.0, lower by less than 0.001, was no
    best, so a fit kept epoch 1. It now decides only when the fit stops: patience still counts
    from epoch 1 (the reference), and the best is the lowest value, epoch 2's. A state saved
    before the reference was (an earlier objrec's ``last.safetensors``) resumes from its best."""
    stopper = EarlyStopping(patience=3, min_delta=0.001)
    assert [stopper.step(v, e) for e, v in enumerate([1.0, 0.9995, 1.1, 1.2], 1)] == [
        *(False, False, False),
        True,
    ]
    assert (stopper.best_epoch, stopper.best, stopper.reference) == (2, 0.9995, 1.0)
    again = EarlyStopping(patience=3)
    again.load_state_dict(stopper.state_dict())  # a resume counts from the same reference
    assert again.state_dict() == stopper.state_dict()
    earlier = {"best": 1.0, "best_epoch": 1, "bad_epochs": 1, "min_delta": 0.001}
    again.load_state_dict(earlier)
    assert (again.best, again.reference, again.best_epoch) == (1.0, 1.0, 1)


def test_a_fit_keeps_the_lowest_loss_lower_by_less_than_min_delta(monkeypatch):
    """Valid losses 1.0, 0.9995 (lower by less than --min-delta 0.001), then worse until patience
    ran out: the fit kept, reported and marked epoch 1's head, the last early stopping counted,
    where on held-out validation halves the lowest epoch's was never worse (benchmarks/README.md,
    "The stopping rule"). It now keeps epoch 2's weights; it still stops after epoch 4."""
    from objrec import engine

    losses = iter([1.0, 0.9995, 1.1, 1.2])
    monkeypatch.setattr(engine, "evaluate_loss", lambda model, batches: scored(next(losses)))
    x, y = separable_points()
    model = nn.Linear(4, 2)
    weights = {}

    def after(state):
        weights[state.epoch] = copy.deepcopy(model.state_dict())

    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    state = fit(
        model,
        lambda e: [(x, y)],
        lambda: [],
        optimizer,
        Stopping(10, 3, min_delta=0.001),
        on_epoch_end=after,
    )
    assert (state.epoch, state.stopped_early) == (4, True)
    assert (state.best_epoch, state.best_valid_loss) == (2, 0.9995)
    assert [r["epoch"] for r in state.history if r["best"]] == [1, 2]
    assert all(torch.equal(v, weights[2][k]) for k, v in model.state_dict().items())


def scored(loss: float) -> dict[str, float]:
    """A validation pass's figures with ``loss``."""
    return {"loss": loss, "acc": 0.5, "n": 16}


def test_fit_stops_early_and_restores_the_best_weights():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(4, 2)
    valid_x, valid_y = torch.randn(32, 4), torch.randint(0, 2, (32,))  # noise: valid loss will rise
    snapshots = {}

    def train_batches(epoch):
        snapshots[epoch] = {k: v.clone() for k, v in model.state_dict().items()}
        return [(x, y)]

    result = fit(
        model,
        train_batches,
        lambda: [(valid_x, valid_y)],
        torch.optim.SGD(model.parameters(), lr=1.0),
        Stopping(50, 3),
    )
    assert result.stopped_early and len(result.history) < 50
    best = min(result.history, key=lambda r: r["valid_loss"])
    assert result.best_epoch == best["epoch"]
    # the restored weights are those after the best epoch, i.e. before the next one started
    after_best = snapshots[result.best_epoch + 1]
    assert all(torch.equal(v, after_best[k]) for k, v in model.state_dict().items())


def test_a_loss_creeping_down_stops_once_drops_are_below_min_delta():
    creeping = [1.0, 0.5, 0.3, 0.2, 0.1998, 0.1996, 0.1994, 0.1992, 0.199, 0.1988]
    stopper = EarlyStopping(patience=3, min_delta=0.001)
    stopped_at = next(e for e, v in enumerate(creeping, 1) if stopper.step(v, e))
    assert stopped_at == 7 and stopper.reference == 0.2  # patience counted from epoch 4
    assert stopper.best_epoch == 7 and stopper.best == 0.1994  # lower by less: kept all the same
    every_drop = EarlyStopping(patience=3)
    assert not any(every_drop.step(v, e) for e, v in enumerate(creeping, 1))
    again = EarlyStopping(patience=3)
    again.load_state_dict(stopper.state_dict())  # a resumed run keeps its min_delta
    assert again.min_delta == 0.001


def creeping_loss(start: float = 0.0031, step: float = 1e-5, epochs: int = 100) -> list[float]:
    """A validation loss at 100% validation accuracy on a small, easy folder (a user's retrain
    after adding a class, history.csv: 0.003125 at epoch 90 ... 0.003011 at epoch 100), falling
    0.00001 an epoch from its first."""
    return [start - step * e for e in range(epochs)]


def test_trains_default_stops_a_loss_creeping_down_by_a_hundred_thousandth_an_epoch():
    """``objrec train``'s default counted any drop (--min-delta 0), so this loss ran all 100
    --epochs (45-59 s of a retrain where --min-delta 0.001 took 10 s); the default now stops it
    after --patience epochs, keeping its last, lowest epoch."""
    from objrec.config import TrainConfig

    config = TrainConfig()
    stopper = EarlyStopping(config.patience, config.min_delta)
    losses = creeping_loss(epochs=config.epochs)
    ran = next((e for e, v in enumerate(losses, 1) if stopper.step(v, e)), config.epochs)
    assert ran == 1 + config.patience and stopper.best_epoch == ran
    every_drop = EarlyStopping(config.patience, 0.0)  # the old default: never stops
    assert not any(every_drop.step(v, e) for e, v in enumerate(losses, 1))
    falling = EarlyStopping(config.patience, config.min_delta)  # 0.16, 1.5% lower an epoch
    assert not any(falling.step(0.16 * 0.985**e, e) for e in range(1, 31))
    assert falling.best_epoch == 30  # a loss still learning (0.0024 an epoch) is not stopped


@pytest.mark.slow
def test_fit_on_separable_data_converges_and_stops_with_min_delta():
    """Separable data: the loss falls for ever by smaller and smaller steps (the demo's case)."""

    def epochs_run(min_delta):
        torch.manual_seed(0)
        x = torch.randn(64, 4)
        y = (x[:, 0] > 0).long()
        model = nn.Linear(4, 2)
        state = fit(
            model,
            lambda epoch: [(x, y)],
            lambda: [(x, y)],
            torch.optim.Adam(model.parameters(), lr=0.05),
            Stopping(300, 5, min_delta=min_delta),
        )
        return len(state.history)

    assert epochs_run(0.0) == 300 and epochs_run(0.01) < 100


@pytest.mark.slow
def test_train_passes_min_delta_to_early_stopping(split_dir, tmp_path, tiny_config):
    from dataclasses import replace

    from objrec.train import train

    config = replace(tiny_config, min_delta=10.0, patience=2, aug_views=0)
    result = train(split_dir, tmp_path / "run", config)
    assert len(result.history) == 3  # no drop is ever large enough: patience counts from epoch 1
    lowest = min(result.history, key=lambda r: r["valid_loss"])
    assert result.best_epoch == lowest["epoch"]  # the lowest is kept all the same


@pytest.mark.slow
def test_train_shows_the_calibration_as_a_task(tmp_path, split_dir):
    """The calibration ran for up to a minute on a loaded machine with nothing on screen."""
    from objrec.train import train

    from .conftest import TaskRecorder, tiny_train_config

    reporter = TaskRecorder()
    train(split_dir, tmp_path / "run", tiny_train_config(epochs=2), reporter)
    assert [t.split()[0] for t in reporter.tasks[-2:]] == ["calibrating", "writing"]


def test_the_tqdm_reporters_best_on_a_resume_is_the_runs_best_so_far():
    """``train --resume`` in a notebook: the epochs bar's "best" started again at the first
    epoch the resumed fit ran (0.9), not the run's best so far (0.3, epoch 12), which ``fit``
    tells the reporter first. The next fit (the next head's) has a best of its own."""
    import io

    from objrec import TqdmReporter

    def record(epoch, valid_loss):
        losses = {"train_loss": 0.5, "valid_loss": valid_loss, "train_acc": 0.8, "valid_acc": 0.7}
        return {"epoch": epoch, **losses, "best": False}

    shown = io.StringIO()
    reporter = TqdmReporter(file=shown)
    reporter.best_before(12, 0.3)
    reporter.epoch(record(13, 0.9))
    assert reporter.best == 0.3 and shown.getvalue().rstrip().endswith("best 0.3000]")
    reporter.epoch(record(14, 0.2))
    assert reporter.best == 0.2
    reporter.epoch(record(1, 0.9))  # the next head's fit, not resumed
    assert reporter.best == 0.9


def test_improved_lately_reads_the_heads_default_patience_from_the_config(monkeypatch):
    """engine.LATELY repeated TrainConfig's default patience, 5: a default changed in one place
    would have left the other. improved_lately reads config.PATIENCE, the field's default."""
    from objrec import config
    from objrec.config import TrainConfig
    from objrec.fit_end import improved_lately

    assert TrainConfig().patience == config.PATIENCE
    assert improved_lately(best=91, ran=95, patience=300)
    assert not improved_lately(best=90, ran=95, patience=300)
    monkeypatch.setattr(config, "PATIENCE", 8)
    assert improved_lately(best=88, ran=95, patience=300)
    assert not improved_lately(best=88, ran=95, patience=7)


def test_a_resumed_fit_tells_the_reporter_the_runs_best_before_it():
    """The epoch lines of a resumed run compare each new best with the run's recorded best (its
    early-stopping state), which ``fit`` tells the reporter before the first epoch it runs."""

    class Told(Reporter):
        def __init__(self):
            self.said = []

        def best_before(self, epoch, valid_loss):
            self.said.append(("best_before", epoch, valid_loss))

        def epoch(self, record):
            self.said.append(("epoch", record["epoch"]))

    model = nn.Linear(2, 2)
    stopper = EarlyStopping(5)
    stopper.load_state_dict({"best": 0.3, "best_epoch": 12, "bad_epochs": 0})
    state = FitState(stopper, epoch=12, best_state=model.state_dict())
    told = Told()
    batches = [(torch.zeros(2, 2), torch.tensor([0, 1]))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(
        model,
        lambda e: batches,
        lambda: batches,
        optimizer,
        Stopping(13, 5),
        reporter=told,
        state=state,
    )
    assert told.said == [("best_before", 12, 0.3), ("epoch", 13)]
    told.said.clear()
    fit(
        model, lambda e: batches, lambda: batches, optimizer, Stopping(1, 5), reporter=told
    )  # a new run
    assert told.said == [("epoch", 1)]


def test_each_epochs_progress_says_how_many_epochs_there_may_be():
    """Fine-tuning 14 look-alike classes on 2 busy cores took 30 s to 2 min an epoch, its progress
    said only 'epoch 17: 3/3 (100%), 2m01s, done': not how many epochs may follow (10 at most)."""
    from contextlib import contextmanager

    class Told(Reporter):
        def __init__(self):
            self.tasks = []

        @contextmanager
        def task(self, description, total):
            self.tasks.append(description)
            yield lambda n=1: None

    told = Told()
    model = nn.Linear(2, 2)
    batches = [(torch.zeros(2, 2), torch.tensor([0, 1]))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, lambda e: batches, lambda: batches, optimizer, Stopping(2, 5), reporter=told)
    assert [task.split(",")[0] for task in told.tasks] == [
        "epoch 1 of at most 2",
        "epoch 2 of at most 2",
    ]


def test_each_epochs_progress_says_how_long_one_takes_and_the_most_the_rest_may():
    """finegrain40: fine-tuning took 27 s to 2 min an epoch on 2 busy cores, and its progress
    said 'epoch 17 of at most 25' without how long the rest might take. From its second epoch
    on, a fit's task says how long its epochs take; fine-tuning's mean is of its own epochs, not
    the head's before it (``began_from``)."""
    from objrec.engine import EarlyStopping, FitState, epoch_task

    state = FitState(EarlyStopping(5))
    assert epoch_task(state, 1, 25) == "epoch 1 of at most 25"
    state.history = [{"epoch": 1, "seconds": 40.0}, {"epoch": 2, "seconds": 42.0}]
    assert epoch_task(state, 3, 25) == "epoch 3 of at most 25, ~41s each"
    state.history = [{"epoch": 1, "seconds": 0.002}]  # never read: not said
    assert epoch_task(state, 2, 25) == "epoch 2 of at most 25"
    head = [{"epoch": e, "seconds": 0.4} for e in range(1, 21)]
    tuned = FitState(EarlyStopping(5), epoch=20, history=head, began_from=20)
    assert epoch_task(tuned, 21, 30) == "epoch 21 of at most 30"
    assert epoch_task(FitState(EarlyStopping(5), history=head), 21, 30) == (
        "epoch 21 of at most 30, ~0.4s each"
    )
    tuned.history = [*head, {"epoch": 21, "seconds": 95.0}]
    assert epoch_task(tuned, 22, 30) == "epoch 22 of at most 30, ~1m35s each"


def test_fit_logs_each_epoch_and_why_it_stopped_for_a_python_caller(caplog):
    """Training from Python with logging at INFO was silent between its first line and the end:
    the epochs and the stop reason went only to the CLI's reporter."""
    import logging

    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    model = nn.Linear(4, 2)
    with caplog.at_level(logging.INFO, logger="objrec.engine"):
        state = fit(
            model,
            lambda e: [(x, y)],
            lambda: [(x, y)],
            torch.optim.SGD(model.parameters()),
            Stopping(3, 5),
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "objrec.engine"]
    assert [line.split(":")[0] for line in lines[:3]] == ["epoch 1", "epoch 2", "epoch 3"]
    assert "valid loss" in lines[0] and "acc" in lines[0]
    assert (
        lines[3]
        == f"stopped at the epoch limit, epochs=3; the best epoch, {state.best_epoch}, is kept"
    )


def test_fit_stops_at_the_first_epoch_whose_loss_is_not_a_number():
    """A head whose loss was NaN from epoch 1 never had a best epoch: it ran until patience ended,
    and writing the run then failed with a StopIteration."""
    from objrec.engine import Diverged

    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e38)
    with pytest.raises(
        Diverged, match=r"loss is (NaN|infinite) at epoch 1: .*lower `lr`"
    ) as caught:
        fit(model, lambda e: [(x, y)] * 3, lambda: [(x, y)], optimizer, Stopping(8, 3))
    assert caught.value.epoch == 1


def test_an_ensembles_train_loss_is_that_of_its_averaged_prediction_as_the_valid_loss_is():
    """The train loss of the default 5 heads was the mean of the members' losses, the valid loss
    that of their averaged prediction: history.csv showed a gap between the two that was not
    there. Each member still trains on its own loss."""
    from objrec.engine import evaluate_loss, train_one_epoch
    from objrec.model import build_head

    torch.manual_seed(0)
    head = build_head(6, 3, 0, 0.0, 5)  # no dropout: training and evaluation see the same model
    batches = [(torch.randn(16, 6), torch.randint(0, 3, (16,)))]
    before = {k: v.clone() for k, v in head.state_dict().items()}
    trained = train_one_epoch(head, batches, torch.optim.SGD(head.parameters(), lr=0.0))
    assert all(torch.equal(v, before[k]) for k, v in head.state_dict().items())
    assert trained["loss"] == pytest.approx(evaluate_loss(head, batches)["loss"], rel=1e-6)


@pytest.mark.parametrize("members", [1, 5])
@pytest.mark.parametrize("weighted, smoothing", [(False, 0.2), (True, 0.0), (True, 0.1)])
def test_the_train_loss_is_the_cross_entropy_the_valid_loss_is_whatever_the_head_trains_on(
    members, weighted, smoothing
):
    """history.csv and curves.png put the train and valid losses on one axis: with label
    smoothing or class weights the head trains on another loss, but the train loss recorded is
    plain cross-entropy, as the valid loss is."""
    from objrec.engine import evaluate_loss, train_one_epoch

    torch.manual_seed(0)
    head = build_head(6, 3, 0, 0.0, members)  # no dropout: training and evaluation see the same
    batches = [(torch.randn(16, 6), torch.randint(0, 3, (16,))) for _ in range(3)]
    weight = torch.tensor([0.5, 1.0, 3.0]) if weighted else None
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)
    trained = train_one_epoch(
        head, batches, torch.optim.SGD(head.parameters(), lr=0.0), loss_fn=criterion
    )
    assert trained["loss"] == pytest.approx(evaluate_loss(head, batches)["loss"], rel=1e-6)


@pytest.mark.parametrize("members", [1, 5])
def test_an_epochs_figures_leave_a_distributed_samplers_padding_out(members):
    """Under torchrun the DistributedSampler evens the ranks' shares by repeating images, and the
    epoch's training loss and accuracy counted the repeats: 21 images on 2 ranks gave a
    training accuracy of 10 of 22. Only the first ``counted`` images count now;
    the repeats still train, as DDP trains on them."""
    from objrec.engine import evaluate_loss, train_one_epoch
    from objrec.model import build_head

    torch.manual_seed(0)
    head = build_head(6, 3, 0, 0.0, members)  # no dropout: training and evaluation see the same
    x, y = torch.randn(11, 6), torch.randint(0, 3, (11,))
    x[10], y[10] = x[0], y[0]  # the padding: the first image again
    batches = [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])]
    trained = train_one_epoch(head, batches, torch.optim.SGD(head.parameters(), lr=0.0), counted=10)
    own = evaluate_loss(head, [(x[:10], y[:10])])
    assert trained["n"] == own["n"] == 10
    assert trained["acc"] == own["acc"]
    assert trained["loss"] == pytest.approx(own["loss"], rel=1e-6)
    counted, every = copy.deepcopy(head), copy.deepcopy(head)
    train_one_epoch(counted, batches, torch.optim.SGD(counted.parameters(), lr=0.1), counted=10)
    train_one_epoch(every, batches, torch.optim.SGD(every.parameters(), lr=0.1))
    trained_on = every.state_dict()  # the repeat trained: the same weights as every image counted
    assert all(torch.equal(v, trained_on[k]) for k, v in counted.state_dict().items())


def test_a_fit_state_is_made_with_its_early_stopping():
    """FitState made an ``EarlyStopping(5)`` of its own, whatever the run's patience: every caller
    replaced it, so the default only misled."""
    with pytest.raises(TypeError, match="stopper"):
        FitState()
    assert FitState(EarlyStopping(3)).stopper.patience == 3


def adam_pair(fused: bool = True):
    """A small ensemble head and its copy, one under ``torch.optim.Adam``, one under ``HeadAdam``."""
    torch.manual_seed(0)
    head = build_head(24, 5, 16, 0.2, 3)
    twin = copy.deepcopy(head)
    settings = {"lr": 1e-2, "weight_decay": 1e-4, "fused": fused}
    return (head, torch.optim.Adam(head.parameters(), **settings)), (
        twin,
        HeadAdam(twin.parameters(), **settings),
    )


def adam_steps(head, optimizer, steps: int, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 24, generator=generator)
        y = torch.randint(0, 5, (8,), generator=generator)
        optimizer.zero_grad(set_to_none=True)
        torch.stack([F.cross_entropy(m, y) for m in head(x)]).mean().backward()
        optimizer.step()


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_head_adam_steps_and_saves_as_torchs_adam_does_bit_for_bit():
    """HeadAdam skips the torch._dynamo wrappers of torch.optim's methods (0.9 s of importing in a
    warm retrain): its weights, moments and state_dict after five steps equal Adam's bit for bit,
    and each loads the other's state and goes on as the other does."""
    (head, adam), (twin, ours) = adam_pair()
    torch.manual_seed(2)
    adam_steps(head, adam, 5)
    torch.manual_seed(2)  # dropout draws the same masks
    adam_steps(twin, ours, 5)
    assert same_weights(head, twin)
    theirs, mine = adam.state_dict(), ours.state_dict()
    assert theirs["param_groups"] == mine["param_groups"]
    assert theirs["state"].keys() == mine["state"].keys()
    for i, state in theirs["state"].items():
        assert state.keys() == mine["state"][i].keys()
        assert all(torch.equal(state[k], mine["state"][i][k]) for k in state)
    (head2, adam2), (twin2, ours2) = adam_pair()
    head2.load_state_dict(twin.state_dict()), twin2.load_state_dict(head.state_dict())
    adam2.load_state_dict(mine), ours2.load_state_dict(theirs)  # each the other's
    torch.manual_seed(3)
    adam_steps(head2, adam2, 2, seed=4)
    torch.manual_seed(3)
    adam_steps(twin2, ours2, 2, seed=4)
    assert same_weights(head2, twin2)


@pytest.mark.slow  # a new process, forked from one that imported torch
def test_training_a_head_and_calibrating_it_never_import_torch_dynamo(preloaded_python):
    """torch.optim's optimizers import torch._dynamo (0.9 s) at their first call; HeadAdam and the
    temperature's LBFGS do not, so a warm retrain does not pay it. Nor does the unknown score's
    k-means import scikit-learn (0.7 to 1.6 s: ``objrec.kmeans``), nor the calibration error
    pandas (0.25 to 0.5 s)."""
    code = """
import sys, torch
import torch.nn.functional as F
from objrec.calibration import expected_calibration_error, fit_temperature_mle
from objrec.kmeans_bank import class_centroids
from objrec.optimizers import HeadAdam
from objrec.model import build_head
head = build_head(24, 5, 16, 0.2, 3)
optimizer = HeadAdam(head.parameters(), lr=1e-3, fused=True)
x, y = torch.randn(8, 24), torch.randint(0, 5, (8,))
for _ in range(2):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = torch.stack([F.cross_entropy(m.float(), y) for m in head(x)]).mean()
    loss.backward()
    optimizer.step()
optimizer.load_state_dict(optimizer.state_dict())
fit_temperature_mle(torch.randn(40, 5) * 3, torch.randint(0, 5, (40,)))
assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported"
class_centroids(torch.randn(30, 24), torch.arange(30) % 3, 4)
assert "sklearn" not in sys.modules, "scikit-learn was imported"
expected_calibration_error(torch.randn(40, 5).softmax(1), torch.randint(0, 5, (40,)))
assert "pandas" not in sys.modules, "pandas was imported"
"""
    done = preloaded_python.run(code)
    assert done.returncode == 0, done.stderr


def separable_points() -> tuple[torch.Tensor, torch.Tensor]:
    """64 points in 4 dimensions, and their labels: the sign of the first coordinate."""
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    return x, (x[:, 0] > 0).long()


def fit_warned(caplog, train, valid, epochs: int, **options) -> tuple[FitState, list[str]]:
    """A linear model fit on the batch ``train`` for up to ``epochs``, validated on ``valid``
    (``options``: fit's); its final state and the warnings the fit logged."""
    caplog.clear()
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    with caplog.at_level("WARNING", logger="objrec.engine"):
        state = fit(
            model, lambda e: [train], lambda: [valid], optimizer, Stopping(epochs, **options)
        )
    return state, [r.getMessage() for r in caplog.records]


def in_train_words(message: str) -> str:
    """``message`` as the CLI's train prints it (options as its flags)."""
    from objrec.cli import cli
    from objrec.cli.messages import to_cli

    return to_cli(message, cli.commands["train"])


def test_a_fit_the_epoch_limit_stopped_says_so_naming_epochs(caplog):
    """train ended at its epochs cap ("best_epoch":100,"epochs_run":100) with the validation loss
    still falling, and "warnings": []. A fit that early stopping did not end now warns, naming
    `epochs` (the CLI's --epochs); one it ended does not."""
    x, y = separable_points()
    state, (warned,) = fit_warned(caplog, (x, y), (x, y), 8, patience=3)  # the loss always falls
    assert not state.stopped_early and state.best_epoch == 8
    assert warned.startswith("training stopped at the `epochs` limit (8) before early stopping")
    assert "the validation loss last improved at epoch 8 (the last);" in warned
    assert "at the --epochs limit (8)" in in_train_words(warned)
    noise = torch.randn(32, 4), torch.randint(0, 2, (32,))
    state, warned_of_noise = fit_warned(caplog, (x, y), noise, 50, patience=3)
    assert state.stopped_early and warned_of_noise == []
    # labels flipped: worse after epoch 1, not "improving"
    worse, (warned,) = fit_warned(caplog, (x, y), (x, 1 - y), 2, patience=3)
    assert worse.best_epoch == 1 and "still improving" not in warned
    assert "the validation loss last improved at epoch 1;" in warned


def test_a_fine_tuning_fit_the_limit_stopped_names_finetune_epochs(caplog):
    """Fine-tuning's limit is `finetune_epochs` (--finetune-epochs): the warning called it "the
    --epochs limit (21)" and advised more --epochs."""
    x, y = separable_points()  # 3 --finetune-epochs after the head's 5 epochs
    options = {"patience": 3, "limit": ("finetune_epochs", 3)}
    _, (warned,) = fit_warned(caplog, (x, y), (x, y), 8, **options)
    warned = in_train_words(warned)
    assert warned.startswith("training stopped at the --finetune-epochs limit (3) before early")
    assert warned.endswith("; more --finetune-epochs may give a better model")  # said --epochs 8


def test_a_fine_tuning_fit_s_stop_line_names_finetune_epochs(caplog):
    """Fine-tuning's INFO stop line named its ``epochs``, the head's epochs added (review58a
    L-3: "epochs=28" for ``epochs`` 25 and ``finetune_epochs`` 3): it names the limit that
    stopped it, as the warning does."""
    import logging

    from objrec.engine import log_stop, why_stopped

    stopper = EarlyStopping(patience=5)
    stopper.best_epoch, stopper.bad_epochs = 25, 3
    history = [{"epoch": e, "valid_loss": 1.0} for e in range(1, 29)]
    state = FitState(stopper=stopper, epoch=28, history=history, began_from=25)
    with caplog.at_level(logging.INFO, logger="objrec.engine"):
        log_stop(why_stopped(state, Stopping(28, 5, limit=("finetune_epochs", 3))))
        log_stop(why_stopped(state, Stopping(28, 5)))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines == [
        "stopped at the epoch limit, finetune_epochs=3; the best epoch, 25, is kept",
        "stopped at the epoch limit, epochs=28; the best epoch, 25, is kept",
    ]


def test_a_patience_that_ran_out_at_the_last_epoch_is_the_limit_s_stop_in_the_log_and_printed():
    """Early stopping's count ran out at the very epoch the limit ended: the INFO line said
    "stopped early at epoch 20" while train printed "stopped at the epoch limit, `epochs` 20"."""
    from objrec.fit_end import FitEnd, early_stop_sentence, stop_line

    losses = (1.0, 0.5, *([0.6] * 18))
    end = FitEnd(20, 2, 20, ("epochs", 20), 5, losses=losses, stopped_early=True)
    assert stop_line(end) == "stopped at the epoch limit, epochs=20; the best epoch, 2, is kept"
    assert early_stop_sentence(end) == (
        "stopped at the epoch limit, `epochs` 20; the best epoch, the one kept, was 2"
    )
    before = FitEnd(15, 2, 20, ("epochs", 20), 5, losses=losses[:15], stopped_early=True)
    assert stop_line(before).startswith("stopped early at epoch 15: the validation loss")


@pytest.mark.parametrize("head_best", [26, 31])
def test_a_fine_tuning_that_never_beat_the_heads_best_warns_of_nothing(caplog, head_best):
    """A fit started from the head's best (its patience count at 0, as fine-tuning starts) that
    never lowers it in its 3 epochs. Head best 26 of 31: the warning said "--finetune-epochs limit
    (3) only because --patience (5) kept it running: ... improved at epoch 26, 8 epochs before
    the end", a head epoch and a patience that could not have ended 3 epochs. Head best 31, its
    last (the head ran to its --epochs limit still improving): it warned "stopped at the
    --finetune-epochs limit (3) before early stopping ended it: ... last improved at epoch 31;
    more --finetune-epochs may give a better model" (the rule, fewer epochs without gain than
    since the best, missed it: both counts were 3). The caller (train) says what the run keeps;
    the fit says nothing."""
    x, y = separable_points()
    model = nn.Linear(4, 2)
    stopper = EarlyStopping(patience=5)
    stopper.load_state_dict({"best": 0.0, "best_epoch": head_best, "bad_epochs": 0})
    best = copy.deepcopy(model.state_dict())
    start = FitState(stopper, epoch=31, best_state=best, began_from=31)  # from the head's best
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    with caplog.at_level("WARNING", logger="objrec.engine"):
        state = fit(
            model,
            lambda e: [(x, y)],
            lambda: [(x, y)],
            optimizer,
            Stopping(34, 5, limit=("finetune_epochs", 3)),
            state=start,
        )
    assert state.epoch == 34 and state.best_epoch == head_best and not state.stopped_early
    assert [r.getMessage() for r in caplog.records] == []


def test_a_fine_tuning_lower_by_less_than_min_delta_is_not_told_more_epochs_may_help(
    caplog, monkeypatch
):
    """A fine-tuning whose epochs fall below its start by a hair (a learning rate of 1e-9) keeps
    its lowest epoch, but early stopping counted no progress: no "more --finetune-epochs may
    give a better model" at its limit."""
    from objrec import engine

    losses = iter([0.4999, 0.4998, 0.4997])
    monkeypatch.setattr(engine, "evaluate_loss", lambda model, batches: scored(next(losses)))
    x, y = separable_points()
    model = nn.Linear(4, 2)
    stopper = EarlyStopping(patience=5, min_delta=0.01, best=0.5, best_epoch=31, reference=0.5)
    start = FitState(stopper, epoch=31, best_state=model.state_dict(), began_from=31)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    with caplog.at_level("WARNING", logger="objrec.engine"):
        state = fit(
            model,
            lambda e: [(x, y)],
            lambda: [],
            optimizer,
            Stopping(34, 5, limit=("finetune_epochs", 3)),
            state=start,
        )
    assert state.best_epoch == 34 and [r.getMessage() for r in caplog.records] == []


def test_a_fit_patience_kept_running_says_more_epochs_would_not_help(caplog):
    """Labels flipped: the best is epoch 1, and --patience 50 kept the fit going to the limit; the
    warning said more --epochs may give a better model."""
    x, y = separable_points()
    _, (warned,) = fit_warned(caplog, (x, y), (x, 1 - y), 8, patience=50)
    assert in_train_words(warned) == (
        "training stopped at the --epochs limit (8) only because --patience (50) kept it running: "
        "the validation loss last improved at epoch 1, 7 epochs before the end, so more --epochs "
        "would not help (a lower --patience stops sooner)"
    )


def test_the_tqdm_reporter_draws_a_bar_per_task_and_counts_each_fits_epochs():
    """A notebook user saw nothing for the ~90 s of the pretrained network's pass: the Python API
    offered no reporter but the silent one. TqdmReporter draws tqdm's bars: one per task, the
    notes above them, and one counting each fit's epochs (a head's) with its losses."""
    import io

    from objrec import TqdmReporter

    shown = io.StringIO()
    reporter = TqdmReporter(file=shown)
    with reporter.task("train features", 3) as advance:
        advance(3)
    reporter.note("train features: 3 computed")
    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    model = nn.Linear(4, 2)
    for _ in range(2):  # two heads, two fits
        optimizer = torch.optim.SGD(model.parameters())
        fit(
            model,
            lambda e: [(x, y)],
            lambda: [(x, y)],
            optimizer,
            Stopping(3, 5),
            reporter=reporter,
        )
    reporter.note("training stopped")  # after the bar's last line, not run into it
    assert reporter.epochs is None
    with reporter.task("calibrating", None):
        reporter.doing("writing the graph")
    text = shown.getvalue()
    last = text.split("\ntraining stopped\n")[0].split("\r")[-1]  # the bar's last line, whole
    assert last.startswith("epochs: 3 [") and last.endswith("]")
    assert "train features: 100%" in text and "3/3" in text
    assert "\ntrain features: 3 computed\n" in text
    assert text.count("epochs: 0 [") == 2 and text.count("epochs: 3 [") >= 2
    assert "valid loss" in text and "best " in text and "calibrating [00:00]" in text
    assert "calibrating: writing the graph [00:00]" in text  # what its long step is doing
    assert "calibrating: 0it" not in text and "graph: 0it" not in text


def test_a_head_whose_loss_barely_fell_at_the_limit_is_not_told_more_epochs_may_help(caplog):
    """A teacher's 5 classes ran all --epochs 100, the valid loss falling by 1e-5 an epoch at
    100% valid accuracy: train warned "more --epochs may give a better model" and then said "a
    larger --epochs would gain little". A loss that fell by less than 0.001 over the last
    --patience epochs gets no warning; the fit says so at INFO. A loss falling faster still does."""
    x, y = separable_points()
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)  # falls, by ~1e-4 an epoch
    with caplog.at_level("INFO", logger="objrec.engine"):
        state = fit(model, lambda e: [(x, y)], lambda: [(x, y)], optimizer, Stopping(10, 3))
    assert not state.stopped_early and state.best_epoch == 10
    said = [r.getMessage() for r in caplog.records if "epoch limit" not in r.getMessage()]
    assert [r.levelname for r in caplog.records if r.levelname == "WARNING"] == []
    assert said[-1] == (  # train prints `epochs` as --epochs, `min_delta` as --min-delta
        "the validation loss still fell at the `epochs` limit, by less than 0.001 in the last 3 "
        "epochs: more `epochs` would gain little (`min_delta` 0, the one set, let it run on; "
        "`min_delta` 0.001 stops on gains this small)"
    )
    _, (warned,) = fit_warned(caplog, (x, y), (x, y), 8, patience=3)  # lr 0.5: 0.02 an epoch
    assert warned.endswith("more `epochs` may give a better model")


def test_would_gain_little_names_the_fit_s_own_min_delta(caplog):
    """The INFO line said "`min_delta` 0.001 stops on gains this small" whatever the fit's
    ``min_delta``: at 0.00002 it named another value than the one set; at 0.001 or more, where
    the setting had not stopped the fit (a gain under 0.001 from the lowest can be more than
    ``min_delta`` from the epoch early stopping counted from), it advised what was set. The
    value set is named where it let the small gains run on; at 0.001 or more nothing is said."""
    from objrec.fit_end import little_gain_why

    x, y = separable_points()
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)  # falls, by ~1e-4 an epoch
    with caplog.at_level("INFO", logger="objrec.engine"):
        fit(model, lambda e: [(x, y)], lambda: [(x, y)], optimizer, Stopping(10, 3, min_delta=2e-5))
    said = [r.getMessage() for r in caplog.records if "gain little" in r.getMessage()]
    assert len(said) == 1 and said[0].endswith(
        "would gain little (`min_delta` 0.00002, the one set, let it run on; `min_delta` 0.001 "
        "stops on gains this small)"
    )
    assert little_gain_why(0.001) == little_gain_why(0.01) == ""


@pytest.mark.slow  # 2.5 s: importing objrec.cli for its SIGTERM handler
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_as_an_epoch_is_said_stops_the_fit_with_that_epoch_kept(signame, monkeypatch):
    """SIGTERM between an epoch's line ("epoch 11 ... best") and the saver's copy of it stopped
    train with "interrupted after epoch 10", epoch 10's model kept: the saver now copies the
    epoch before its line is said, and a stop that comes meanwhile waits for both."""
    import os
    import signal

    from objrec.cli import sigterm_as_ctrl_c

    said, kept = [], []

    class StoppingReporter(Reporter):
        def epoch(self, record):
            said.append(record["epoch"])
            if record["epoch"] == 2:  # the stop comes as the line is said, deterministically
                os.kill(os.getpid(), getattr(signal, signame))

    model = nn.Linear(2, 2)
    batches = [(torch.zeros(2, 2), torch.tensor([0, 1]))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with sigterm_as_ctrl_c([]), pytest.raises(KeyboardInterrupt):
        fit(
            model,
            lambda e: batches,
            lambda: batches,
            optimizer,
            Stopping(5, 5),
            reporter=StoppingReporter(),
            on_epoch_end=lambda state: kept.append(state.epoch),
        )
    assert said == kept == [1, 2]

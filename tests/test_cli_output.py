"""What the CLI prints (``cli/output.py``): progress, epoch lines, JSON, logs, escapes."""

import io
import json
import logging
import math
import sys
from pathlib import Path

import click
import pytest

from objrec.cli.output import SentenceHandler

from .test_cli import after_legend, ctrl_c_at_epoch_3, run


def test_plain_progress_prints_a_line_every_few_seconds_and_when_done():
    from types import SimpleNamespace

    from objrec.cli.output import PlainProgress, SteadyTimeRemaining

    now, lines = [0.0], []
    early = PlainProgress("start", 260, 5.0, clock=lambda: now[0], write=lines.append)
    now[0] = 5
    early.advance(16)  # 6%: its start-up's pace said "about 1m23s left" (all took 9 s)
    assert lines == ["start: 16/260 (6%), 5s"]
    assert not SteadyTimeRemaining().render(SimpleNamespace(total=260, completed=16)).plain
    now[0], lines[:] = 0.0, []
    progress = PlainProgress("frozen pass", 100, 5.0, clock=lambda: now[0], write=lines.append)
    for t in (1, 2, 6, 7, 8, 12):
        now[0] = t
        progress.advance(10)
    progress.finish()
    assert lines == [  # the pace from the first step's end (1 s): 20 in 5 s, then 50 in 11 s
        "frozen pass: 30/100 (30%), 6s, about 18s left",
        "frozen pass: 60/100 (60%), 12s, about 9s left",
        "frozen pass: 60/100 (60%), 12s, done",
    ]
    quick = PlainProgress("quick", 3, 5.0, clock=lambda: 0.0, write=lines.append)
    quick.advance(3)
    quick.finish()
    assert len(lines) == 3  # a task shorter than the interval prints nothing


def test_plain_progress_tells_the_time_left_from_the_pace_after_the_first_step():
    """A newcomer's demo log read "train features: 16/60 (27%), 17s, about 46s left", then
    "60/60 (100%), 18s, done" a second later: the first batch carries the pass's start-up (the
    workers, the body's runner), and the pace counted it. The time left is now told from the
    pace after the first step, as rich's bar does, and not before a second step."""
    from objrec.cli.output import PlainProgress

    now, lines = [0.0], []
    progress = PlainProgress("train features", 60, 0.3, clock=lambda: now[0], write=lines.append)
    for t, n in ((17.0, 16), (17.6, 32), (18.0, 12)):
        now[0] = t
        progress.advance(n)
    progress.finish()
    assert lines == [
        "train features: 16/60 (27%), 17s",  # was ", about 46s left"
        "train features: 48/60 (80%), 18s",  # 0.3 s left: not "about 0s left"
        "train features: 60/60 (100%), 18s, done",
    ]


def test_progress_of_few_steps_tells_no_time_left_from_one_step_s_pace():
    """report's Grad-CAM said "2/12 (17%), 15s, about 4s left": the pace of one step after the
    first, which carries the start-up. The time left waits for two."""
    from types import SimpleNamespace

    from objrec.cli.output import PlainProgress, SteadyTimeRemaining

    now, lines = [0.0], []
    progress = PlainProgress("grad-cam", 12, 1.0, clock=lambda: now[0], write=lines.append)
    for t in (13.0, 15.0):
        now[0] = t
        progress.advance()
    assert lines == ["grad-cam: 1/12 (8%), 13s", "grad-cam: 2/12 (17%), 15s"]  # no "about 4s"
    now[0] = 16.0
    progress.advance()
    assert lines[-1] == "grad-cam: 3/12 (25%), 16s, about 14s left"  # 2 steps in 3 s
    assert not SteadyTimeRemaining().render(SimpleNamespace(total=12, completed=2)).plain


def test_the_time_left_counts_down_through_a_long_step_and_is_not_said_once_overdue():
    """The int8 copy sat at "36/46 (78%)" for 16 s while "about 23s left" grew to 27s: the pace
    was measured to now, not to the last step. The time left is counted down from
    the last step, and not said once a step outlasts it; rich's bar counts it down too."""
    from types import SimpleNamespace

    from objrec.cli.output import PlainProgress, SteadyTimeRemaining

    now, lines = [0.0], []
    progress = PlainProgress("int8 copy", 46, 5.0, clock=lambda: now[0], write=lines.append)
    for t in range(1, 37):  # a step a second
        now[0] = float(t)
        progress.advance()
    assert lines[-1] == "int8 copy: 35/46 (76%), 35s, about 11s left"
    progress.doing("writing the graph (one long step)")  # said in the next line, 5 s on at most
    for t in (41.0, 46.0, 52.0):
        now[0] = t
        progress.tick()
    assert lines[-4:] == [
        "int8 copy: 35/46 (76%), 35s, about 11s left",
        "int8 copy: writing the graph (one long step): 36/46 (78%), 41s, about 5s left",
        "int8 copy: writing the graph (one long step): 36/46 (78%), 46s",  # overdue: no claim
        "int8 copy: writing the graph (one long step): 36/46 (78%), 52s",
    ]

    def task(now: float, stepped: float | None) -> SimpleNamespace:
        fields = {} if stepped is None else {"stepped": stepped}
        # rich's own estimate from the pace to the last step: 10 s
        return SimpleNamespace(
            total=46,
            completed=36,
            finished=False,
            fields=fields,
            time_remaining=10.0,
            get_time=lambda: now,
            finished_time=None,
        )

    column = SteadyTimeRemaining()
    assert column.render(task(36.0, 36.0)).plain == "0:00:10"
    assert column.render(task(41.0, 36.0)).plain == "0:00:05"
    assert column.render(task(46.0, 36.0)).plain == ""


def test_a_task_without_steps_does_not_say_its_time_twice_as_it_ends():
    """The demo printed "loading the 3 pretrained networks: 10s" then "...: 10s, done", which
    read as stuck: a task without steps whose last line showed the time it ends at
    says "done" alone."""
    from objrec.cli.output import PlainProgress

    now, lines = [0.0], []
    progress = PlainProgress("loading", None, 5.0, clock=lambda: now[0], write=lines.append)
    now[0] = 10.0
    progress.tick()
    now[0] = 10.4
    progress.finish()
    assert lines == ["loading: 10s", "loading: done"]
    lines.clear()
    progress = PlainProgress("loading", None, 5.0, clock=lambda: now[0], write=lines.append)
    now[0] = 15.0
    progress.tick()
    now[0] = 17.0
    progress.finish()
    assert lines == ["loading: 5s", "loading: 7s, done"]


def test_a_task_says_what_a_long_step_of_it_is_doing_in_its_lines_until_it_is_done(capsys):
    """The int8 copy's bar sat at 34/44 for 15 to 40 s with nothing said, one call of ONNX
    Runtime's: ``Reporter.doing`` puts the step's words after the task's
    description, in a log's next line (at once when none came for an interval: newcomer62's 7)
    and in each line after it; the last says the task."""
    from objrec.cli.output import PlainProgress, RichReporter

    now, lines = [0.0], []
    progress = PlainProgress("int8 copy", 4, 1.0, clock=lambda: now[0], write=lines.append)
    now[0] = 2.0
    progress.advance()
    progress.doing("writing the graph")
    now[0] = 9.0
    progress.tick()
    progress.advance(3)
    progress.finish()
    assert lines == [
        "int8 copy: 1/4 (25%), 2s",
        "int8 copy: writing the graph: 1/4 (25%), 9s",
        "int8 copy: 4/4 (100%), 9s, done",
    ]
    reporter = RichReporter()
    reporter.doing("nothing going on: said nowhere")
    with reporter.task("int8 copy", 4) as advance:
        reporter.doing("writing the graph")
        advance(4)
    said = capsys.readouterr().err
    assert "int8 copy: writing the graph: 0/4 (0%)" in said and "said nowhere" not in said


def test_a_log_gets_a_task_s_line_at_its_start_its_end_and_one_an_interval_at_most(capsys):
    """Captured to a file, the int8 copy's line came 8 times in 16 s and export's check's 7
    times in 9 s: each step's words (``Reporter.doing``) wrote a line at once (newcomer62, 7).
    Where stderr is not a terminal, a task says a line as it starts, one each interval at
    most (5 s: ``PLAIN_PROGRESS_SECONDS``), its next one naming the step it is at, and one
    as it ends."""
    from objrec.cli.output import PlainProgress, RichReporter

    now, lines = [0.0], []
    progress = PlainProgress("int8 copy", 46, 5.0, clock=lambda: now[0], write=lines.append)
    progress.counts("steps")
    steps = [(0, 0, "reading"), (2, 3, "preparing"), (3, 1, "probing"), (4, 1, "loading")]
    steps += [(4, 1, "measuring"), (9, 20, "measuring"), (12, 10, "writing")]
    for t, n, what in steps:
        now[0] = float(t)
        if n:
            progress.advance(n)
        progress.doing(what)
    now[0] = 14.0
    progress.tick()  # beat's thread: 5 s without a line
    now[0] = 16.0
    progress.advance(10)
    progress.finish()
    assert [line.split(" (")[0] for line in lines] == [
        "int8 copy: reading: 0/46 steps",
        "int8 copy: measuring: 26/46 steps",
        "int8 copy: writing: 36/46 steps",
        "int8 copy: 46/46 steps",
    ]
    reporter = RichReporter()  # capsys: stderr is not a terminal
    with reporter.task("checking the export", 96) as advance:
        for n in range(6):
            reporter.doing(f"photos {n}: answering")
            advance(16)
    said = capsys.readouterr().err.splitlines()
    assert said == [
        "checking the export: photos 0: answering: 0/96 (0%), 0s",
        "checking the export: 96/96 (100%), 0s, done",
    ]


def test_plain_progress_of_a_task_without_steps_still_prints_a_line_every_few_seconds():
    import threading

    from objrec.cli.output import PlainProgress

    now, lines, written = [0.0], [], threading.Event()

    def write(line):
        lines.append(line)
        written.set()

    progress = PlainProgress("quantizing", None, 0.01, clock=lambda: now[0], write=write)
    now[0] = 12.0  # before the thread starts: its first line may come at once on a loaded machine
    progress.beat()
    assert written.wait(60)  # the thread's first line, however loaded the machine is
    progress.finish()
    assert lines[0] == "quantizing: 12s" and lines[-1] == "quantizing: done"  # 12s said


@pytest.mark.slow
def test_plain_progress_says_done_after_a_line_its_thread_was_writing():
    import threading
    import time

    from objrec.cli.output import PlainProgress

    lines, writing, release = [], threading.Event(), threading.Event()

    def write(line):
        if threading.current_thread() is not threading.main_thread():
            writing.set()
            release.wait(60)  # the thread is held inside its write while the task finishes
        lines.append(line)

    progress = PlainProgress("quantizing", None, 0.01, clock=lambda: 12.0, write=write)
    progress.beat()
    assert writing.wait(60)
    threading.Timer(0.2, release.set).start()
    progress.finish()
    release.set()
    for _ in range(50):  # without the join, the held line lands after "done" (or alone)
        if len(lines) == 2:
            break
        time.sleep(0.1)
    assert lines == ["quantizing: 0s", "quantizing: done"]


def test_plain_progress_prints_the_last_step_once():
    from objrec.cli.output import PlainProgress

    now, lines = [0.0], []
    progress = PlainProgress("predicting", 30, 5.0, clock=lambda: now[0], write=lines.append)
    for t in (6, 8):
        now[0] = t
        progress.advance(15)
    progress.finish()
    assert lines == [  # one step done: no pace yet to tell the time left by
        "predicting: 15/30 (50%), 6s",
        "predicting: 30/30 (100%), 8s, done",
    ]
    now[0], last = 0.0, []
    slow = PlainProgress("Grad-CAM", 2, 5.0, clock=lambda: now[0], write=last.append)
    now[0] = 12.0
    slow.advance(2)  # the only step past the interval is the last one: shown once, as done
    slow.finish()
    assert last == ["Grad-CAM: 2/2 (100%), 12s, done"]


def test_plain_progress_of_a_counted_task_says_it_is_going_on_before_its_first_step(
    capsys, monkeypatch
):
    """The demo's first frozen pass sat 46 s at its first step (its start-up) on a busy machine,
    and a log said nothing between "the new head trains in ..." and "train features: 16/60":
    a line every interval was written only by a step."""
    import time

    import objrec.cli.output
    from objrec.cli.output import RichReporter

    monkeypatch.setattr(objrec.cli.output, "PLAIN_PROGRESS_SECONDS", 0.01)
    err, deadline = "", time.monotonic() + 60
    with RichReporter().task("train features", 60) as advance:
        while "train features: 0/60 (0%)" not in err and time.monotonic() < deadline:
            time.sleep(0.01)  # the start-up: no step yet
            err += capsys.readouterr().err
        advance(60)
    err += capsys.readouterr().err
    assert "train features: 0/60 (0%), 0s" in err
    assert err.splitlines()[-1].startswith("train features: 60/60 (100%)")


def report_epochs(reporter, epochs, improved) -> None:
    """``reporter`` told of each epoch, its valid loss falling, ``improved`` marked best."""
    for epoch in epochs:
        record = {"epoch": epoch, "train_loss": 0.5, "train_acc": 0.9, "seconds": 0.1}
        record |= {"valid_loss": 0.4 - 0.01 * epoch, "valid_acc": 0.9, "best": epoch in improved}
        reporter.epoch(record)


def test_epoch_lines_are_the_first_the_improvements_and_every_tenth(capsys):
    """... and they say so before the first, as a newcomer missed epochs 4 to 6 without a word."""
    from objrec.cli.output import RichReporter

    report_epochs(RichReporter(), range(1, 26), improved={1, 2, 3, 7, 12})
    said, *lines = after_legend(capsys.readouterr().err)
    assert said.startswith("showing epoch 1, every 10th epoch, each new lowest valid loss")
    assert said.endswith("every epoch is in history.csv in the run folder")
    assert [int(line.split()[1]) for line in lines] == [1, 2, 3, 7, 10, 12, 20]
    assert [line.endswith("kept so far") for line in lines] == [True] * 4 + [False, True, False]


def test_the_epoch_lines_begin_with_what_their_words_mean(capsys):
    """A newcomer (Teachable Machine, not ML) read 'epoch 1  train loss 2.0800 acc 13.75%  valid
    loss 1.4281 acc 92.50%' without a word of what an epoch, a loss or 'valid' is, nor why train's
    accuracy is the lower (15.38% against 100.00%, read as a bug)."""
    from objrec.cli.output import RichReporter

    report_epochs(RichReporter(), range(1, 4), improved={1, 2})
    err = capsys.readouterr().err
    legend = err.splitlines()[:3]  # three lines a terminal of 100 columns shows whole: it was one
    assert max(map(len, legend)) <= 100  # of 322 characters, cut mid-word
    assert legend[0].startswith("epoch: one pass over the training images; loss: how wrong")
    assert legend[1].startswith("acc: the share guessed right (train's counted as the head learns")
    assert legend[1].endswith("so at first below valid's)") and legend[2].startswith("valid: the")
    said, first, *_ = after_legend(err)
    assert said.startswith("showing epoch 1") and first.split()[:2] == ["epoch", "1"]


def test_a_resumed_run_shows_and_names_its_first_epoch(capsys):
    """A run resumed after epoch 12 said 'showing epoch 1, ...' and showed its epoch 13 only if
    that was a new best: its first line could be any later epoch, without a word."""
    from objrec.cli.output import RichReporter

    report_epochs(RichReporter(), range(13, 26), improved={15, 16, 22})
    said, *lines = after_legend(capsys.readouterr().err)
    assert said.startswith(
        "showing epoch 13 (the first of this resume), every 10th epoch, each new lowest valid loss"
    )
    assert [int(line.split()[1]) for line in lines] == [13, 15, 16, 20, 22]


def test_a_resumed_runs_legend_names_the_best_its_first_best_line_must_beat(capsys):
    """A run interrupted with its best, 0.3000, at epoch 12 and resumed: the legend started from
    nothing. It names the run's best before the resume, which the next best is below."""
    from objrec.cli.output import RichReporter

    reporter = RichReporter()
    reporter.best_before(12, 0.3)
    for epoch, loss in ((13, 0.31), (14, 0.3004), (15, 0.2992), (16, 0.2980)):
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": loss < 0.3})
    said, *lines = after_legend(capsys.readouterr().err)
    assert said.startswith(
        "showing epoch 13 (the first of this resume), every 10th epoch, each new lowest valid loss "
        '(marked "kept so far": the run keeps the lowest, named under the table; below epoch '
        "12's 0.3000, kept before this resume)"
    )
    assert [int(line.split()[1]) for line in lines] == [13, 15, 16]


def test_two_lines_marked_kept_so_far_never_show_the_same_loss(capsys):
    """newcomer61b: epochs 13 and 15 both said "valid loss 0.0444 ... kept so far", as if the
    same loss were kept twice (15's was lower by less than 0.00005). A new lowest that four
    decimals would show as the last one's is shown with the digits that tell them apart, and
    so is the line under the table; other lines keep four."""
    from objrec.cli.output import RichReporter

    reporter = RichReporter()
    losses = {1: 0.5, 2: 0.04441, 3: 0.0445, 4: 0.04437, 5: 0.00012, 6: 0.000118}
    for epoch, loss in losses.items():
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": epoch != 3})
    reporter.last_epoch()
    _, *lines = after_legend(capsys.readouterr().err)
    shown = [line.split("valid loss ")[1].split()[0] for line in lines if line.startswith("epoch")]
    assert shown == ["0.5000", "0.0444", "0.04437", "1.20e-04", "1.18e-04"]
    assert lines[-1] == "kept: epoch 6, valid loss 1.18e-04"
    reporter = RichReporter()
    for epoch, loss in ((1, 0.5), (2, 0.0444), (3, 0.04438)):
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": True})
    reporter.last_epoch()
    _, *lines = after_legend(capsys.readouterr().err)
    assert lines[-2].split("valid loss ")[1].startswith("0.04438 ")
    assert lines[-1] == "kept: epoch 3, valid loss 0.04438"


def test_the_table_names_the_epoch_kept_under_it_with_one_kind_of_mark(capsys):
    """Each new lowest valid loss was marked "best" (six lines of nine), the legend saying the
    last one marked was kept: a reader decoded which. Each is marked "kept so far", true of it
    when printed, and the line under the table names the epoch kept, once a fit (before
    fine-tuning's note, then after its epochs); a resume that marks none names the run's kept
    epoch from before it."""
    from objrec.cli.output import RichReporter

    reporter = RichReporter()
    losses = {1: 0.5, 2: 0.3, 3: 0.2, 4: 0.25, 5: 0.26}
    for epoch, loss in losses.items():
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": loss, "valid_acc": 0.9, "best": epoch <= 3})
    reporter.note("fine-tuning the last block from epoch 3")
    for epoch, best in ((6, False), (7, True), (8, False)):  # a tuned epoch below the head's
        record = {"epoch": epoch, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
        reporter.epoch(record | {"valid_loss": 0.19, "valid_acc": 0.9, "best": best})
    reporter.last_epoch()
    reporter.last_epoch()  # once
    said, *lines = after_legend(capsys.readouterr().err)
    table = [line for line in lines if line.startswith("epoch")]
    assert all(line.endswith(("0.1s", "0.1s  kept so far")) for line in table)
    assert [line.endswith("kept so far") for line in table] == [True] * 3 + [False, True, False]
    assert "best" not in " ".join(lines)
    assert [line for line in lines if not line.startswith("epoch")] == [
        "kept: epoch 3, valid loss 0.2000",
        "fine-tuning the last block from epoch 3",
        "kept: epoch 7, valid loss 0.1900",
    ]
    assert lines[-2].startswith("epoch   8") and "under the table" in said
    resumed = RichReporter()
    resumed.best_before(12, 0.3)
    record = {"epoch": 13, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1}
    resumed.epoch(record | {"valid_loss": 0.31, "valid_acc": 0.9, "best": False})
    resumed.last_epoch()
    assert after_legend(capsys.readouterr().err)[-1] == "kept: epoch 12, valid loss 0.3000"


def test_no_library_log_sentence_names_a_cli_flag_and_the_cli_spells_them_as_flags(capsys):
    """A notebook's log said "for ONNX Runtime, train with --precision fp32" and "evaluated
    again without --unknown ...": the library logs the arguments' names (`precision='fp32'`),
    which the CLI spells as its flags, in its ``-v`` lines too. The server's own log lines
    (serve_*), logged where the CLI's translation does not reach, keep theirs."""
    import ast
    import logging
    import re

    from objrec.cli import cli
    from objrec.cli.output import LogLineHandler
    from objrec.config import TrainConfig
    from objrec.precision import settle_precision

    from .conftest import source_nodes

    flags = {o for c in cli.commands.values() for p in c.params for o in p.opts if o[:2] == "--"}
    flag = re.compile(rf"(?<![\w-])({'|'.join(map(re.escape, sorted(flags)))})\b(?!-)")
    found = []
    for path, nodes in source_nodes():
        if path.parts[0] in ("cli", "serve"):
            continue
        constants = {
            target.id: node.value
            for node in nodes[0].body  # the module
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in nodes:
            logged = isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            if not logged or getattr(call.func.value, "id", None) != "log":
                continue
            named = [constants.get(a.id) for a in call.args if isinstance(a, ast.Name)]
            for node in [*call.args, *(n for n in named if n is not None)]:
                for text in ast.walk(node):
                    if isinstance(text, ast.Constant) and flag.search(str(text.value)):
                        found.append(f"{path.as_posix()}:{text.lineno}: {text.value}")
    assert found == []
    assert settle_precision(TrainConfig(precision="fp32"), None)[1].why == "asked for"  # type: ignore[arg-type]
    record = logging.LogRecord("objrec.train", logging.INFO, "", 0, "%s", (EXPORT_WORDS,), None)
    with click.Context(cli.commands["train"]):
        LogLineHandler().emit(record)
    assert "for ONNX Runtime, train with --precision fp32 (see" in capsys.readouterr().err


EXPORT_WORDS = "for ONNX Runtime, train with `precision='fp32'` (see docs/export.md)"


def test_a_task_without_steps_says_what_it_does_in_a_pipe(capsys):
    """Quantizing the int8 body (no steps to count) left a piped `train` silent for 40 s."""
    from objrec.cli.output import RichReporter

    with RichReporter().task("quantizing the frozen body to int8", None):
        pass
    assert "quantizing the frozen body to int8 ..." in capsys.readouterr().err


def test_json_output_writes_numbers_that_are_not_finite_as_null(capsys):
    """predict --json wrote "score": NaN, which JSON parsers (jq, a browser) refuse."""
    from objrec.cli.output import print_json

    print_json({"score": float("nan"), "scores": [1.5, float("inf")], "row": ({"x": -math.inf},)})
    assert json.loads(capsys.readouterr().out, parse_constant=lambda name: pytest.fail(name)) == {
        "score": None,
        "scores": [1.5, None],
        "row": [{"x": None}],
    }


def test_json_output_writes_numpy_and_torch_scalars_as_numbers(capsys):
    """A numpy float32 or int64 (not a float or int subclass) was written by default=str: "0.5",
    "3" and "nan" as strings."""
    import numpy as np
    import torch

    from objrec.cli.output import print_json

    print_json(
        {"p": np.float32(0.5), "n": np.int64(3), "t": torch.tensor(2), "x": np.float32("nan")}
    )
    assert json.loads(capsys.readouterr().out) == {"p": 0.5, "n": 3, "t": 2, "x": None}


def test_json_output_writes_text_as_it_is_and_escapes_what_stdout_cannot_write(capsys, monkeypatch):
    """predict --json wrote "class": "D\\u00e9faut-3", which grep for Défaut-3 does not find.
    Where stdout cannot write a character (PYTHONIOENCODING=ascii, a latin-1 terminal, a name's
    byte that is not UTF-8) the whole answer is ASCII with escapes, and it does not crash."""
    from objrec.cli.output import print_json

    print_json({"class": "Défaut-3", "top": ["Défaut-3", "Kratzer ✓"]})
    out = capsys.readouterr().out
    assert '"class": "Défaut-3"' in out and '"Kratzer ✓"' in out
    for encoding, text in (("ascii", "Défaut-3"), ("latin-1", "Défaut ✓"), ("utf-8", "caf\udce9")):
        stream = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
        monkeypatch.setattr(sys, "stdout", stream)
        print_json({"class": text})
        raw = stream.buffer.getvalue()
        assert raw.isascii() and json.loads(raw) == {"class": text}, encoding


def test_a_json_block_inside_another_lets_go_of_its_own_held_answers_only(capsys):
    """stdout_for_json_only let go of its held answers with list.remove, which compares lists:
    an inner block holding what the outer one held (both nothing) took the outer's list away,
    and the outer block's answer, held in the inner's list, was never printed."""
    from objrec.cli.output import print_json, stdout_for_json_only

    with stdout_for_json_only():
        with stdout_for_json_only():
            pass
        print_json({"answer": 1})
    assert json.loads(capsys.readouterr().out) == {"answer": 1}


def test_log_times_are_year_month_day(monkeypatch):
    """serve's log said `[12/05/26 16:20:05]` (``%x``, the C locale's date), which most of the
    world reads as the 12th of May: every log time is 2026-12-05 16:20:05."""
    import datetime

    from objrec.cli.output import EVENT_TIME, LOG_LINE, err, log_handler

    record = logging.LogRecord("objrec", logging.INFO, __file__, 1, "answered", None, None)
    record.created = datetime.datetime(2026, 12, 5, 16, 20, 5).timestamp()
    assert LOG_LINE.format(record).startswith("[2026-12-05 16:20:05] INFO")
    assert EVENT_TIME.formatTime(record, EVENT_TIME.datefmt) == "2026-12-05 16:20:05"
    monkeypatch.setattr(type(err), "is_terminal", property(lambda console: True))
    assert log_handler(1)._log_render.time_format == "[%Y-%m-%d %H:%M:%S]"  # rich's, -v


def stated_as_torchrun(state_file: Path, ranks: int) -> None:
    """Rewrite the training state in ``state_file`` as written by ``ranks`` torchrun processes on
    one machine (the in-process tests cannot run torchrun; tests/test_distributed.py does)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from objrec.checkpoint import save_model_state

    with safe_open(str(state_file), framework="pt") as handle:
        header = json.loads(handle.metadata()["objrec"])
    header["processes"] = {"ranks": ranks, "per_node": ranks, "torchrun": True}
    save_model_state(state_file, load_file(str(state_file)), header)  # sealed, as objrec writes


@pytest.mark.slow
def test_a_resume_in_another_number_of_processes_says_how_to_resume_as_it_started(
    capsys, tmp_path, split_dir, monkeypatch
):
    """A run started by `torchrun --nproc-per-node 2`, resumed by `objrec train data --resume
    run`, trained on to other weights (best epoch 386 against 249, weights up to 0.056 apart)
    without a word: one process draws each epoch's batches otherwise than 2 ranks. The training
    state now records how many processes wrote it, and a resume in another number says so."""
    from objrec.cli.output import RichReporter
    from objrec.meta import Processes
    from objrec.resume_state import load_training_state

    shown = ctrl_c_at_epoch_3(monkeypatch)
    args = ["--backbone", "tiny_test", "--epochs", "5", "--aug-views", "1"]
    run_dir = tmp_path / "run"
    code, _, err = run(capsys, "train", split_dir, "--out", run_dir, *args)
    assert code == 130, err
    assert load_training_state(run_dir / "last.safetensors").progress.processes == Processes()
    stated_as_torchrun(run_dir / "last.safetensors", 2)
    monkeypatch.setattr(RichReporter, "epoch", shown)
    handler = SentenceHandler()  # as `objrec` installs it (pytest's own handler comes first here)
    log = logging.getLogger("objrec.runs")
    log.addHandler(handler)
    try:
        code, out, err = run(capsys, "train", split_dir, "--resume", run_dir, "--json")
    finally:
        log.removeHandler(handler)
    said = " ".join(err.split())
    assert code == 0, err
    warning = (
        f"warning: {run_dir} started in 2 processes under torchrun and resumes in 1 process: each "
        "epoch's batches are drawn otherwise, so it will not end with the weights it would have "
        "had uninterrupted; resume it as it started with `torchrun --nproc-per-node 2 -m objrec "
        f"train {split_dir} --resume {run_dir}`"
    )
    assert said.count(warning) == 1, said
    assert json.loads(out)["warnings"][0] == warning.removeprefix("warning: ")


def test_a_class_named_with_control_characters_is_escaped_in_every_printed_line(capsys):
    """train's ``classes: 2 (...)`` (a reporter's note) printed a class folder named
    ``ESC]0;...`` raw: the terminal's title set, its screen cleared (security40 #4). The CLI's
    consoles escape every text they print, as they escaped their tables' cells."""
    from objrec.cli.output import RichReporter, console

    RichReporter().note("classes: 2 (\x1b]0;pwned\x07\x1b[2Jbad, ant)")  # train.classes_note
    console.print("[bold]a[/] \x1b[31mred")
    out, err = capsys.readouterr()
    assert err == "classes: 2 (\\x1b]0;pwned\\x07\\x1b[2Jbad, ant)\n"
    assert out == "a \\x1b[31mred\n"


@pytest.mark.parametrize("encoding", ["iso8859-1", "euc_jp", "ascii"])
def test_a_python_reading_file_names_in_a_legacy_encoding_is_told_so(capsys, monkeypatch, encoding):
    """Under LANG=fr_FR.ISO-8859-1 (ja_JP.eucJP, or a C locale with UTF-8 mode off) Python reads
    a UTF-8 folder café as cafÃ©: split wrote class cafÃ© into manifest.csv, train would into
    the model, without a word. Every command now says it first, and the cure."""
    from objrec.cli.output import legacy_names_warning

    assert legacy_names_warning("utf-8") is None and legacy_names_warning("UTF8") is None
    monkeypatch.setattr(sys, "getfilesystemencoding", lambda: encoding)
    code, _, err = run(capsys, "--version")
    err = " ".join(err.split())
    assert code == 0 and f"warning: this Python reads file names as {encoding}" in err
    garbled = "caf\u00e9".encode().decode(encoding, "replace")
    assert f"café reads as {garbled} into the classes" in err and "PYTHONUTF8=1" in err
    assert ("cafÃ©" in err) == (encoding == "iso8859-1")


def test_a_command_catches_up_with_the_signals_heard_before_its_last_line():
    """serve's Ctrl-C, which uvicorn raises again as it stops, was replied to by the listening
    thread whenever it ran: on a loaded machine after "stopped serving ...", the line its test
    reads as the last (4 of 6 runs at load 22). CTRL_C.catch_up returns once every signal that
    came before it has been heard, and replied to."""
    import signal

    from objrec.cli import ctrl_c_heard_at_once
    from objrec.cli.output import CTRL_C
    from objrec.errors import WORK_IN_HAND

    def handler(signum, frame):
        pass

    CTRL_C.reset()
    before = signal.signal(signal.SIGINT, handler)
    try:
        with ctrl_c_heard_at_once(handler):
            for _ in range(20):
                signal.raise_signal(signal.SIGINT)
                CTRL_C.catch_up()
                assert CTRL_C.said.is_set()
                CTRL_C.reset()
    finally:
        signal.signal(signal.SIGINT, before)
        CTRL_C.reset()
        WORK_IN_HAND.reset()  # each reply stopped the work in hand
    CTRL_C.catch_up()  # no command listening: returns at once

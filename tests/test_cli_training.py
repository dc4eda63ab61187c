"""train through the CLI (``cli/training.py``)."""

import importlib
import json
import logging
import math
import os
import shutil
import sys
from pathlib import Path

import click
import pytest
import torch

from objrec.checkpoint import load_model
from objrec.cli import main
from objrec.config import DEFAULT_BACKBONE, TrainConfig
from objrec.errors import ObjrecError
from objrec.meta import ParameterCounts
from objrec.run_record import RunSeconds

from .conftest import fake_checkpoint, make_class_folder
from .test_cli import alike_split, as_split_folder, as_torchrun_rank, ctrl_c_at_epoch_3, run

PARAMS = ParameterCounts(total=2, trainable=1)
"""A model's parameter counts, for a ``TrainResult`` a test makes."""


def test_train_help_fits_two_screens_with_each_option_in_one_sentence(capsys, monkeypatch):
    """`objrec train --help` was 195 lines at 80 columns (serve 105, predict 101), every option's
    whole explanation in one list: a newcomer could not find the two options they needed. It
    shows the options a first run needs first, the rest under headings, each in its first
    sentence with its default; --help-all shows the whole text. Every command's fits 80 lines."""
    from objrec.cli import cli
    from objrec.cli.sections import first_sentences

    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "train", "--help")
    headings = [line for line in out.splitlines() if line.endswith(":") and line[0] != " "]
    assert code == 0 and headings[0] == "Options:" and "Fine-tuning:" in headings
    first = out[out.index("Options:") : out.index(headings[1])]
    assert "--out RUN" in first and "--epochs" in first and "--finetune-blocks" not in first
    for name, command in cli.commands.items():
        code, out, _ = run(capsys, name, "--help")
        assert code == 0 and len(out.splitlines()) <= 80, (name, len(out.splitlines()))
        page = "".join(out.split())
        for option in command.params:
            if isinstance(option, click.Option) and option.help and ". " in option.help:
                assert "".join(first_sentences(option.help).split()) in page, option.name
                assert "".join(option.help.split()) not in page, (name, option.name)


def test_train_help_says_out_is_required(capsys, monkeypatch):
    """`train --help` listed `--out RUN  The new run's folder.` as any other option: a newcomer
    learnt it was needed from `objrec train data`'s error (newcomer62b, 4). Its line says so,
    whole at 80 columns."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "train", "--help")
    (line,) = [line for line in out.splitlines() if line.lstrip().startswith("--out RUN")]
    assert code == 0 and line.endswith("The new run's folder (required, unless --resume RUN).")


def test_objrec_help_says_train_s_default_reads_with_several_networks_and_heads(capsys):
    """`objrec --help` said train fits "a pretrained network, kept as is, + a new head", where its
    default reads each photo with three pretrained networks and averages five heads (the README:
    "pretrained networks read the photos; small heads learn your classes")."""
    from objrec.config import TrainConfig

    code, out, _ = run(capsys, "--help")
    line = next(line for line in out.splitlines() if "objrec train " in line)
    default = TrainConfig()
    assert code == 0 and "+" in default.backbone and default.heads > 1
    assert "pretrained networks" in line and "heads" in line


def test_backbone_help_says_it_may_be_several_networks_as_its_default_is(capsys):
    """train's and audit's --backbone said "The pretrained network that reads the images" beside
    a default of three networks joined by + (newcomer58, 7): the line says it may be several."""
    for command in ("train", "audit"):
        code, out, _ = run(capsys, command, "--help")
        said = " ".join(out.split())
        assert code == 0 and "+" in DEFAULT_BACKBONE
        assert "--backbone NAME The pretrained network, or networks joined by +, that read" in said
        assert "The pretrained network that reads" not in said, command


def test_finetune_blocks_help_and_pages_say_which_bodies_it_fine_tunes(capsys):
    """--finetune-blocks fine-tunes EfficientNet-Lite bodies only: the refusal said so and sent
    the user to train --help, which did not, nor commands.md or backbones.md (newcomer60b, 2). A
    user choosing a backbone reads it in each before trying."""
    docs = Path(__file__).parents[1] / "docs"
    code, out, _ = run(capsys, "train", "--help")
    said = " ".join(out.split())
    assert code == 0 and "--finetune-blocks N Fine-tune EfficientNet-Lite's last N" in said
    code, out, _ = run(capsys, "train", "--help-all")
    assert code == 0 and "a backbone other than the EfficientNet-Lite ones" in " ".join(out.split())
    commands = (docs / "commands.md").read_text()
    row = next(line for line in commands.splitlines() if line.startswith("| `--finetune-blocks"))
    assert "EfficientNet-Lite bodies only" in row
    paragraph = " ".join(commands[commands.index("**Fine-tuning**") :].split("\n\n")[0].split())
    assert "Only the EfficientNet-Lite bodies" in paragraph
    backbones = " ".join((docs / "backbones.md").read_text().split())
    assert (
        "Only the EfficientNet-Lite bodies, alone or in an ensemble of them, can be fine-tuned"
        in (backbones)
    )


@pytest.mark.slow  # imports objrec.train
def test_json_md_names_every_stage_train_times():
    """train --json's `seconds` has `quantize` for an int8 body (the default on a CPU with VNNI),
    which docs/json.md did not name."""
    from types import SimpleNamespace

    from objrec.train import run_seconds

    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    row = next(r for r in page.split("\n## train\n")[1].splitlines() if r.startswith("| `seconds`"))
    prep = SimpleNamespace(seconds=3.0, quantize_seconds=1.0)
    for precision in ("fp32", "int8"):
        stages = run_seconds(prep, precision, (0.0, 3.0, 4.0, 5.0)).to_json()
        assert not [s for s in stages if f"`{s}`" not in row], precision


CPU_OUT_OF_MEMORY = (
    "[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: you "
    "tried to allocate 4000000000 bytes. Error code 12 (Cannot allocate memory)"
)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            RuntimeError(CPU_OUT_OF_MEMORY),
            "objrec train ran out of memory (an allocation of 3.7 GiB failed): lower "
            "--batch-size, --heads, --hidden or --aug-views, or close other programs",
        ),
        (
            RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.2 GiB total)"),
            "objrec train ran out of the GPU's memory (an allocation of 2.0 GiB failed): lower",
        ),
        (MemoryError(), "objrec train ran out of memory (MemoryError): lower --batch-size,"),
    ],
)
def test_memory_that_runs_out_is_said_with_what_to_lower_not_called_a_bug(
    capsys, tmp_path, monkeypatch, error, said
):
    """train --heads 1000000 said "objrec train stopped on an error objrec did not expect, a bug:
    RuntimeError: [enforce fail at alloc_cpu.cpp:127] ...", as if memory running
    out were a bug."""
    from objrec.cli import training

    def run_train(*args, **kwargs):
        raise error

    monkeypatch.setattr(training, "loaded_train", lambda *args: run_train)
    as_split_folder(tmp_path / "data")
    code, out, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    err = " ".join(err.split())
    assert code == 1 and out == "" and err.startswith(f"error: {said}"), err
    assert "a bug" not in err and "Traceback" not in err


@pytest.mark.slow  # train's refusal comes after its libraries: 1 s
def test_train_on_a_class_folder_gives_the_split_command_that_makes_one(
    capsys, tmp_path, monkeypatch
):
    """Its refusal "photos is not a split folder ...; `objrec split` makes them" left the user
    to find its arguments, where split's own errors give them: the command, into a
    folder named after the photos' in the current one (`data` beside the photos was
    outside it), never one that exists."""
    make_class_folder(tmp_path / "photos", per_class=2)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    photos = tmp_path / "photos"
    code, _, err = run(capsys, "train", photos, "--out", "run")
    assert code == 2 and " ".join(err.split()).endswith(  # a DATA that cannot be right: usage
        "(train/ and valid/ are needed, test/ is optional); "
        f"`objrec split {photos} photos-split` makes them (see objrec train --help)"
    )
    (here / "photos-split").mkdir()
    code, _, err = run(capsys, "train", photos, "--out", "run")
    assert code == 2 and f"`objrec split {photos} photos-split-2` makes them" in err
    assert not (tmp_path / "data").exists() and not (here / "data").exists()


def test_an_empty_class_folder_is_a_clear_error(capsys, tmp_path, split_dir):
    (split_dir / "train" / "purple").mkdir()
    code, _, err = run(
        capsys, "train", split_dir, "--out", tmp_path / "run", "--backbone", "tiny_test"
    )
    assert code == 1 and "purple holds no images" in err


@pytest.mark.slow
def test_train_names_the_classes_it_learns(capsys, tmp_path, split_dir, trained_once, monkeypatch):
    """After adding a class, the only change train showed was its parameter count."""
    cache = shutil.copytree(trained_once.parent / "cache", tmp_path / "cache")
    monkeypatch.setenv("OBJREC_CACHE", str(cache))  # the session run's features: no frozen pass
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "0")
    code, _, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0 and "classes: 3 (blue, green, red)\n" in err, err


@pytest.mark.slow
def test_train_counts_a_truncated_file_as_unreadable_not_pushed_through_the_body(
    capsys, tmp_path, split_dir, trained_once, monkeypatch
):
    """It said "145 images, 1 pushed through the frozen body" of a truncated file it then said
    it skipped."""
    cache = shutil.copytree(trained_once.parent / "cache", tmp_path / "cache")
    monkeypatch.setenv("OBJREC_CACHE", str(cache))  # every other image's features are stored
    whole = next((split_dir / "train" / "red").iterdir()).read_bytes()
    (split_dir / "train" / "red" / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "0")
    code, _, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0, err
    said = (
        "train features: 19 images, 0 run through the pretrained network, 18 from the feature store"
    )
    assert said + ", 1 unreadable\n" in err
    counts = json.loads((tmp_path / "run" / "summary.json").read_text())["frozen_pass"]
    assert (counts["computed"], counts["from_store"], counts["n_unreadable"]) == (0, 27, 1)
    _, meta = load_model(tmp_path / "run" / "model.safetensors")  # the head learned from 6 reds
    assert meta.n_train == {"blue": 6, "green": 6, "red": 6}
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "1")
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "views", *args, "--json")
    answer = json.loads(out)
    assert code == 0 and any("skipped 1 unreadable file" in w for w in answer["warnings"])
    # files, as the warning counts them: not the file's 2 views (centre and augmented)
    assert answer["frozen_pass"]["n_unreadable"] == 1


@pytest.mark.slow
def test_train_skips_and_counts_a_file_removed_before_it_is_hashed(
    capsys, tmp_path, split_dir, trained_once, monkeypatch
):
    """A training photo removed between train's listing and its hashing stopped the train ("no
    such file or directory", exit 1); removed a moment later it was skipped and reported."""
    import importlib

    recipe = importlib.import_module("objrec.train")  # the module: objrec.train is the function
    cache = shutil.copytree(trained_once.parent / "cache", tmp_path / "cache")
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    gone = sorted((split_dir / "train" / "red").iterdir())[0]
    listed_split = recipe.listed_split

    def listed_then_removed(*args):
        listed = listed_split(*args)
        gone.unlink()  # the user tidies the folder as train starts
        return listed

    monkeypatch.setattr(recipe, "listed_split", listed_then_removed)
    args = ("--backbone", "tiny_test", "--epochs", "1", "--aug-views", "1", "--json")
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0, err
    answer = json.loads(out)
    said = f"skipped 1 unreadable file (`objrec check` lists them): {gone}: cannot read the file"
    assert any(w.startswith(said) for w in answer["warnings"]), answer["warnings"]
    assert answer["frozen_pass"]["n_unreadable"] == 1  # once, not once per view
    assert answer["n_images"]["train"] == 17  # of 18 listed
    from objrec.leakage import read_seen

    seen = read_seen(tmp_path / "run")  # the 17 trained on, and no empty digest for the one gone
    assert seen is not None and list(seen.values()).count("train") == 17


def test_train_shows_the_last_epoch_s_line_where_the_table_skipped_it(
    capsys, monkeypatch, tmp_path
):
    """ "stopped after 21 epochs (best 16)" under a table that ended at epoch 20: a reader looked
    for epoch 21. The last epoch gets its line, once, when the fit ends: before
    the next stage (calibration, writing the run), where it came after them."""
    from objrec.run_record import TrainResult

    history = [
        {"epoch": e, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1, "valid_acc": 0.9}
        | {"valid_loss": 0.9 - 0.03 * min(e, 16), "best": e in (1, 2, 16)}
        for e in range(1, 22)
    ]

    def fake_train(data, out, config, reporter, *args, **kwargs):
        for record in history:
            reporter.epoch(record)
        with reporter.task('calibrating probabilities and "unknown"', None):
            reporter.note("temperature 1.2")
        seconds = RunSeconds(features=0.5, fit=0.0, calibrate=0.0, total=1.0)
        return TrainResult(out, ["a", "b"], history, 16, 0.42, 0.9, PARAMS, seconds)

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", fake_train)
    as_split_folder(tmp_path)
    code, out, err = run(capsys, "train", tmp_path, "--out", tmp_path / "run")
    lines = err.splitlines()
    shown = [int(line.split()[1]) for line in lines if line.startswith("epoch ")]
    assert code == 0 and shown == [1, 2, 10, 16, 20, 21]
    calibrating = next(i for i, line in enumerate(lines) if line.startswith("calibrating"))
    assert lines[calibrating - 2].startswith("epoch  21")
    assert lines[calibrating - 1] == "kept: epoch 16, valid loss 0.4200"  # once, after the last
    assert "best epoch 16 of 21" in " ".join(out.split())


def test_quiet_leaves_out_progress_and_notes_not_warnings_errors_or_the_result(
    capsys, monkeypatch, tmp_path
):
    """review60b F24: a 3-epoch train wrote 29 lines to stderr (its progress, the epoch legend
    and table, the calibration's notes), and only `2>/dev/null`, which hides the errors too,
    quietened it. `objrec -q` (before or after the command) says the warnings, the errors and the
    result alone; -q with -v is refused."""
    from objrec.cli import output
    from objrec.run_record import TrainResult

    monkeypatch.setattr(output, "PLAIN_PROGRESS_SECONDS", 0.0)  # a line at every step
    history = [
        {"epoch": e, "train_loss": 0.1, "train_acc": 1.0, "seconds": 0.1, "valid_acc": 0.9}
        | {"valid_loss": 0.9 - 0.03 * e, "best": True}
        for e in range(1, 4)
    ]

    def fake_train(data, out, config, reporter, *args, **kwargs):
        with reporter.task("fitting", 3) as advance:
            for record in history:
                reporter.epoch(record)
                advance(1)
        reporter.note("temperature 1.2")
        seconds = RunSeconds(features=0.5, fit=0.0, calibrate=0.0, total=1.0)
        return TrainResult(out, ["a", "b"], history, 3, 0.81, 0.9, PARAMS, seconds)

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", fake_train)
    as_split_folder(tmp_path / "data")
    code, loud, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    assert code == 0 and "epoch   1" in err and "temperature 1.2" in err and "fitting" in err
    for quiet in (["-q", "train"], ["train", "--quiet"]):
        args = [tmp_path / "data", "--out", tmp_path / "run", "--force"]
        code, out, err = run(capsys, *quiet, *args)
        assert code == 0 and err == "" and out == loud, (quiet, err)
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    code, out, err = run(capsys, "-q", "split", photos, tmp_path / "split")
    assert code == 0 and out.startswith("split 3 classes into ")
    assert err and all(line.startswith(("warning:", " ")) for line in err.splitlines()), err
    code, _, err = run(capsys, "-q", "split", tmp_path / "nosuch", tmp_path / "split2")
    assert code == 2 and err.startswith("error: invalid value for 'PHOTOS'"), err
    code, _, err = run(capsys, "-q", "-v", "check", photos)
    assert code == 2 and err.startswith("error: -q and -v do not go together"), err


def test_a_kept_fine_tuning_is_named_in_the_best_epoch_line(capsys, tmp_path):
    """After --finetune-blocks 1 was kept (valid loss 0.1396 -> 0.1353), train's last lines said
    'best epoch 19 of 24, the head kept': as if the body's tuned block had not been."""
    from dataclasses import replace

    from objrec.cli.training import print_trained
    from objrec.finetune import FinetuneRecord
    from objrec.run_record import TrainResult

    record = {"epoch": 1, "train_loss": 0.1, "train_acc": 1.0, "valid_loss": 0.2}
    record |= {"valid_acc": 0.9, "seconds": 0.1, "best": True}
    seconds = RunSeconds(features=0.5, fit=0.0, calibrate=0.0, total=1.0)
    losses = {"best_valid_loss_before": 0.3, "best_valid_loss_after": 0.2}
    tuned = FinetuneRecord(blocks=1, epochs_run=1, kept=True, best_epoch_before=1, **losses)
    for finetune, said in (
        (tuned, "the head and its fine-tuned blocks kept"),
        (replace(tuned, kept=False), "the head kept"),
        (None, "the head kept"),
    ):
        result = TrainResult(tmp_path, ["a", "b"], [record], 1, 0.2, 0.9, PARAMS, seconds)
        result.finetune = finetune
        print_trained(result)
        assert f"best epoch 1 of 1, {said}: valid loss 0.2000" in " ".join(
            capsys.readouterr().out.split()
        )


@pytest.mark.slow
@pytest.mark.figures
def test_the_curves_mark_the_epoch_whose_head_was_kept(capsys, monkeypatch, tmp_path, split_dir):
    """With --min-delta, curves.png marked the lowest valid loss as the best epoch, a later one than
    the summary's (its gain was under --min-delta, so early stopping kept the earlier head). The
    run keeps the lowest now: the curves mark it, the summary's epoch."""
    import pandas as pd

    import objrec.plots

    marked = []

    def save(fig, path):
        marked.append(fig.axes[0].get_legend_handles_labels()[1][-1])
        Path(path).write_bytes(b"")  # train renames what it saved into the run folder
        return path

    monkeypatch.setattr(objrec.plots, "save", save)
    args = ["--backbone", "tiny_test", "--aug-views", "1", "--batch-size", "8", "--lr", "0.01"]
    args += ["--epochs", "12", "--min-delta", "0.05", "--json"]
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    best = json.loads(out)["best_epoch"]
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert code == 0 and history.loc[history["valid_loss"].idxmin(), "epoch"] == best
    assert marked == [f"best epoch ({best})"]


@pytest.mark.slow
def test_train_ends_with_the_evaluate_to_run_and_how_to_try_unknown_photos(
    capsys, tmp_path, split_dir, monkeypatch
):
    """A newcomer found the stricter threshold only by chance: train said nothing of
    `evaluate --unknown`, which measures what "unknown" catches and offers it."""
    monkeypatch.chdir(tmp_path)
    args = ["--out", "my run", "--backbone", "tiny_test", "--epochs", "1"]
    code, out, _ = run(capsys, "train", split_dir, *args)
    last = " ".join(out.split()).rsplit("next: ", 1)[-1]
    assert code == 0 and last.startswith("objrec evaluate 'my run' data; add --unknown")


@pytest.mark.slow
def test_train_on_a_full_disk_at_its_end_says_one_sentence_last(
    capsys, monkeypatch, tmp_path, split_dir
):
    """A full disk as train wrote its run, its training state failing too, printed "error: the
    training state could not be written either ([Errno 28] No space left on device: '...')"
    and then "error: run/model.safetensors: no space left on device": the consequence before
    the cause, in the system's raw words. One error line ends the output now, exit 1."""
    import errno

    runs = importlib.import_module("objrec.runs")
    resume_state = importlib.import_module("objrec.resume_state")

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(runs, "save_checkpoint", full)
    monkeypatch.setattr(resume_state, "write_training_state", full)
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # one stream, as a terminal shows both
    out = tmp_path / "run"
    code = main(
        ["train", str(split_dir), "--out", str(out), "--backbone", "tiny_test", "--epochs", "3"]
    )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert code == 1 and errors == [len(lines) - 1], lines
    assert lines[-1].startswith(f"error: the disk of {out} is full: {out / 'model.safetensors'}")
    assert "give --out a folder on a disk with room" in lines[-1] and "Errno" not in lines[-1]


def test_train_says_why_it_stopped_where_it_did():
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 100, "patience": 5, "finetune_blocks": 0}
    assert early_stop_sentence(10, 15, config) == (
        "stopped early at epoch 15 of at most 100 (--epochs): the validation loss did not improve "
        "in the 5 epochs after epoch 10 (--patience 5), so more epochs were unlikely to help"
    )
    # a tiny set: the loss still fell. The warning says "training stopped at the --epochs limit
    # (100) before early stopping ended it: the validation loss last improved at epoch 98; more
    # --epochs may give a better model": this line said so again ("ran all --epochs 100 without
    # stopping early: the validation loss last improved at epoch 98, the one kept", review60b F24)
    assert early_stop_sentence(98, 100, config) is None
    assert early_stop_sentence(13, 300, {**config, "epochs": 300, "patience": 300}) == (
        "stopped at the epoch limit, --epochs 300; the best epoch, the one kept, was 13"
    )  # not "... last improved at epoch 13, so a larger --epochs may lower it further"
    assert early_stop_sentence(95, 100, config) == (  # patience ran out at the last epoch
        "stopped at the epoch limit, --epochs 100; the best epoch, the one kept, was 95"
    )  # not "stopped at epoch 100 of --epochs 100: ... did not improve in the 5 epochs after"
    assert early_stop_sentence(3, 8, {**config, "finetune_blocks": 2}) is None
    still = [1 / (1 + e) for e in range(100)]  # the last 5 epochs: 0.0104 to 0.0100, 4e-4 less
    assert early_stop_sentence(100, 100, config, still) == (  # a tiny set, learned already
        "ran all --epochs 100 without stopping early: the validation loss last improved at epoch "
        "100, but by less than 0.001 in the last 5 epochs, so a larger --epochs would gain little "
        "(--min-delta 0, the one set, let it run on; --min-delta 0.001 stops on gains this small)"
    )
    falling = [1 - e / 100 for e in range(100)]  # 0.01 less an epoch: more epochs may help
    assert early_stop_sentence(100, 100, config, falling) is None
    counted = {**config, "min_delta": 0.001}  # the lowest is kept, however little lower
    assert early_stop_sentence(100, 100, counted, still).endswith("would gain little")
    diverged = [math.nan, *still[1:]]  # a NaN first epoch does not hide the small gain
    assert "would gain little" in early_stop_sentence(100, 100, config, diverged)


def test_would_gain_little_names_the_min_delta_the_user_set():
    """ "--min-delta 0.001 stops on gains this small" was said whatever --min-delta the run had:
    with 0.00001 it named 0.001 as if in use, and with 0.001 or 0.01, which had not stopped the
    fit, it told the user to set what they had. The value set is named where it let the small
    gains run on; at 0.001 or more nothing is said of it."""
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 100, "patience": 5, "finetune_blocks": 0}
    still = [1 / (1 + e) for e in range(100)]  # the last 5 epochs: 0.0104 to 0.0100, 4e-4 less
    small = early_stop_sentence(100, 100, {**config, "min_delta": 0.00001}, still)
    assert small.endswith(
        "would gain little (--min-delta 0.00001, the one set, let it run on; --min-delta 0.001 "
        "stops on gains this small)"
    )
    for larger in (0.001, 0.01):
        said = early_stop_sentence(100, 100, {**config, "min_delta": larger}, still)
        assert said.endswith("so a larger --epochs would gain little")


def test_train_s_early_stop_says_by_how_much_the_loss_did_not_improve():
    """With --min-delta 0.001 (the default since d21a7f1) a loss still falling by less than that
    stops the fit: "the validation loss did not improve in the 5 epochs after epoch 16" read as
    untrue beside the table, whose epoch 20 had 0.0010 against epoch 16's 0.0015 (the sample)."""
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 30, "patience": 5, "finetune_blocks": 0, "min_delta": 0.001}
    assert early_stop_sentence(16, 21, config) == (
        "stopped early at epoch 21 of at most 30 (--epochs): in the 5 epochs after epoch 16 "
        "(--patience 5), the validation loss never fell more than 0.001 (--min-delta) below "
        "epoch 16's, so more epochs were unlikely to help"
    )
    tiny = early_stop_sentence(16, 21, {**config, "min_delta": 0.00001})  # was "1e-05"
    assert "more than 0.00001 (--min-delta)" in tiny


def test_train_s_early_stop_names_the_epoch_patience_counted_from_and_the_lowest_kept():
    """Epoch 18 lower than epoch 16 by less than --min-delta is the one kept; patience still
    counted from epoch 16. The sentence said "did not fall below epoch 18's by more than 0.001
    in the 3 epochs after it (--patience 5)": neither the epoch nor the count patience ran on."""
    from objrec.cli.training import early_stop_sentence

    config = {"epochs": 30, "patience": 5, "finetune_blocks": 0, "min_delta": 0.001}
    assert early_stop_sentence(18, 21, config) == (
        "stopped early at epoch 21 of at most 30 (--epochs): in the 5 epochs after epoch 16 "
        "(--patience 5), the validation loss never fell more than 0.001 (--min-delta) below "
        "epoch 16's, so more epochs were unlikely to help; epoch 18, lower than epoch 16 by less "
        "than that, is the one kept"
    )


def test_train_s_next_step_without_a_test_split_is_not_an_evaluate_that_refuses_it(tmp_path):
    """After `split --ratios 0.85 0.15 0` (the final model, trained on most photos), train said
    "next: objrec evaluate run85 data85", which answered "data85 has no test split"
    (teachable42): it names the page and predict, and evaluate's --split valid."""
    from objrec.cli.training import evaluate_next

    run_dir, data = tmp_path / "run85", tmp_path / "data85"
    for split in ("train", "valid"):
        (data / split).mkdir(parents=True)
    without = " ".join(evaluate_next(run_dir, data).split())
    (data / "test").mkdir()
    said = " ".join(evaluate_next(run_dir, data).split())
    assert said.startswith(f"next: objrec evaluate {run_dir} {data};")
    relative = evaluate_next(Path("run"), Path("data")).splitlines()
    assert relative == [  # it was one line of 171 characters
        "next: objrec evaluate run data; add --unknown FOLDER (photos of none of the classes) to see how",
        "  many of them would still get a class, and a stricter threshold if one helps",
    ]
    assert without.startswith(f"next: {data} has no test split to score the model on;")
    assert f"objrec serve {run_dir} (a page" in without and f"objrec predict {run_dir} " in without
    assert f"objrec evaluate {run_dir} {data} --split valid" in without


@pytest.mark.slow
def test_a_failed_train_takes_back_only_the_folders_it_created(capsys, tmp_path, split_dir):
    weights = tmp_path / "bad.safetensors"
    weights.write_bytes(b"not a state dict")
    bad = ["--backbone", "tiny_test", "--weights", weights]
    new = tmp_path / "new" / "run"
    code, _, err = run(capsys, "train", split_dir, "--out", new, *bad)
    assert code == 1 and "not a readable state dict" in err
    assert not (tmp_path / "new").exists()  # neither the run folder nor its new parent
    empty, used = tmp_path / "empty", tmp_path / "used"
    empty.mkdir()
    used.mkdir()
    (used / "notes.txt").write_text("the user's")
    for theirs in (empty, used):
        code, _, _ = run(capsys, "train", split_dir, "--out", theirs, *bad)
        assert code == 1 and theirs.is_dir()
    assert (used / "notes.txt").read_text() == "the user's"
    again = run(capsys, "train", split_dir, "--out", new, *bad)
    assert again[0] == 1 and again[2] == err and not (tmp_path / "new").exists()  # as the first


@pytest.mark.slow
def test_resume_warns_once_of_the_options_it_ignores(capsys, caplog, tmp_path, split_dir):
    """--resume continues with the run's own settings: --epochs, --cache-dir (and --force) given
    beside it were dropped without a word. --device and --json are not settings of the run."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    given = ["--epochs", "9", "--cache-dir", tmp_path / "cache", "--force", "--device", "cpu"]
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, _, err = run(capsys, "train", split_dir, "--resume", run_dir, *given, "--json")
    assert code == 1 and "holds no run to resume" in err
    assert caplog.messages == [
        f"--resume continues {run_dir} with the settings it started with: --epochs, --cache-dir "
        "and --force are ignored"
    ]


@pytest.mark.slow
@pytest.mark.parametrize("blocks", [[], ["--finetune-blocks", "0"], ["--finetune-blocks", "2"]])
def test_fine_tuning_options_without_blocks_to_tune_are_named_as_ignored(
    capsys, caplog, tmp_path, blocks
):
    """train --finetune-epochs 20 trained the head alone and said nothing: without
    --finetune-blocks N the body stays frozen and the fine-tuning options change nothing."""
    empty = tmp_path / "empty"
    for split in ("train", "valid"):  # a split folder of no images: refused after the options
        (empty / split).mkdir(parents=True)
    given = ["--finetune-epochs", "20", "--finetune-lr", "0.001", *blocks]
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, _, _ = run(capsys, "train", empty, "--out", tmp_path / "run", *given)
    assert code == 1
    warned = [m for m in caplog.messages if "--finetune-blocks is 0" in m]
    assert warned == (
        []
        if "2" in blocks
        else [
            "--finetune-epochs and --finetune-lr are ignored: --finetune-blocks is 0, so the body "
            "stays frozen and only the head trains (--finetune-blocks N fine-tunes its last N blocks)"
        ]
    )


def test_the_program_imports_train_with_the_collector_off_then_frozen(monkeypatch):
    """`objrec train` as the program imports PyTorch and train's modules with the garbage
    collector off (importing them set off three full collections, each walking every object
    imported so far, none of it garbage: 0.14 s of a warm retrain), then freezes them and turns
    it on again; main([...]) in a process that goes on, as here, leaves the collector alone."""
    import gc

    from objrec.cli import heap, training
    from objrec.cli.output import RichReporter

    collecting: list[bool] = []
    frozen: list[bool] = []
    monkeypatch.setattr(
        training, "refuse_what_the_body_cannot", lambda config: collecting.append(gc.isenabled())
    )
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(gc.isenabled()))
    training.loaded_train(TrainConfig(), True, RichReporter())
    assert collecting == [True] and frozen == [] and gc.isenabled()
    monkeypatch.setattr(heap, "_program", True)
    training.loaded_train(TrainConfig(), True, RichReporter())
    assert collecting == [True, False] and frozen == [False] and gc.isenabled()


def test_train_s_last_line_says_in_plain_words_what_its_feature_seconds_went_to(
    trained_run, capsys
):
    """It said '(4s frozen features, int8 body, 2s of it making the int8 body)'; then "2s of it
    making its int8 copy" on every warm retrain, where the copy made once per network and cache folder is
    found (the body's fingerprint, its key, taking those seconds); then "made once per
    cache folder and found after", where "found after" was unclear."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled

    losses = [{"valid_loss": 0.5}, {"valid_loss": 0.4}]
    seconds = RunSeconds(features=4.0, fit=0.0, calibrate=0.0, quantize=2.0, total=10.0)
    result = SimpleNamespace(
        best_epoch=2, history=losses, best_valid_loss=0.4, best_valid_acc=0.9, run=trained_run
    )
    head = Settled("fp32", "asked for")
    int8 = Precision(body=Settled("int8", "auto"), head=head, engine="openvino")
    print_trained(SimpleNamespace(**vars(result), seconds=seconds, precision=int8))
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "10s in all (4s computing features with the pretrained network in 8-bit integers (int8), "
        "2s of it getting its int8 copy, made once per network and cache folder and loaded by "
        "later runs) model saved to" in said
    )
    tuned = Precision(
        body=Settled("fp32", "fine-tuning was kept: its tuned blocks run in fp32"), head=head
    )
    print_trained(SimpleNamespace(**vars(result), seconds=seconds, precision=tuned))
    said = " ".join(capsys.readouterr().out.split())  # the features were the int8 body's
    assert "(4s computing features with the pretrained network in 8-bit integers (int8)" in said


def test_train_s_closing_lines_fit_a_terminal_of_100_columns_the_model_on_its_own(
    trained_run, capsys
):
    """A cold int8 run closed with one line of 297 characters (the seconds in all, where they
    went, the int8 copy made once, and the model's path), which a terminal of 100 columns cut
    mid-word; the model file, what a user needs next, was at its very end."""
    import time
    from types import SimpleNamespace

    from objrec.cli.training import Waited, print_trained
    from objrec.precision import Precision, Settled

    seconds = RunSeconds(features=191.0, fit=6.0, calibrate=0.0, quantize=144.0, total=203.0)
    int8 = Precision(body=Settled("int8", "auto"), head=Settled("fp32", "asked for"))
    ran = dict(best_epoch=25, history=[{"valid_loss": 0.5}] * 30, run=trained_run)
    ran |= dict(best_valid_loss=0.0162, best_valid_acc=1.0, seconds=seconds, precision=int8)
    print_trained(SimpleNamespace(**ran), None, Waited(time.monotonic() - 208, 5))
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines[:-1]) <= 100, lines  # the last: the path's length
    assert lines[-1] == f"model saved to {trained_run / 'model.safetensors'}"
    assert lines[-2].startswith("    by later runs, 6s fitting the")


def test_train_s_last_line_counts_the_seconds_the_user_waited_starting_included(
    trained_run, capsys, monkeypatch
):
    """A warm retrain said "4s in all" after 12.8 s: summary.json's total, which leaves out
    Python's start and the libraries' import (6.6 s at a load of 7) and the run's writing.
    The CLI says the seconds since the process began, and how many went to
    starting."""
    import time
    from types import SimpleNamespace

    from objrec.cli.training import Waited, print_trained
    from objrec.precision import Precision, Settled

    result = SimpleNamespace(
        best_epoch=1,
        history=[{"valid_loss": 0.5}],
        best_valid_loss=0.5,
        best_valid_acc=0.9,
        run=trained_run,
        seconds=RunSeconds(features=1.0, fit=2.2, calibrate=0.4, total=4.0),
        precision=Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for")),
    )
    print_trained(result, None, Waited(time.monotonic() - 12.8, 6.6))
    said = " ".join(capsys.readouterr().out.split())
    assert "13s in all (7s starting, 1s computing features with the pretrained" in said
    # the head's fit is said, what a retrain waits for; calibrating's 0.4 s is not
    heads = json.loads((trained_run / "config.json").read_text())["heads"]
    fitting = f"fitting the {heads} heads" if heads > 1 else "fitting the head"
    # and the 2 s past train's own work, writing the run: "31s in all (11s starting, 3s
    # computing features, 12s fitting the 5 heads)" left 5 s unsaid under torchrun
    assert f"32-bit floats (fp32), 2s {fitting}, 2s writing the run) model saved to" in said
    print_trained(result, None, Waited(time.monotonic() - 4.2, 0.3))  # under a second: unsaid
    said = " ".join(capsys.readouterr().out.split())
    assert "4s in all (1s computing features with the pretrained" in said
    assert "writing the run" not in said
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun, rank 0's line
    print_trained(result, None, Waited(time.monotonic() - 12.8, 6.6))
    said = " ".join(capsys.readouterr().out.split())
    assert ", 2s writing the run and ending its 2 processes (torchrun)) model saved to" in said


def test_train_s_last_line_names_fine_tuning_apart_from_the_heads_fit(trained_run, capsys):
    """A fine-tuned run closed with "352s fitting the 5 heads" where those seconds were its
    fine-tuning: a pass through the networks below the tuned blocks, then its epochs. Each stage
    is named for what it was, and --help gives --finetune-blocks' cost."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.finetune import FinetuneRecord
    from objrec.precision import Precision, Settled

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=89.0, fit=288.0, calibrate=12.0, total=390.0)
    ran = dict(best_epoch=9, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    ran |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    tuned = dict(blocks=1, epochs_run=8, kept=True, best_epoch_before=1)
    tuned |= dict(best_valid_loss_before=0.6, best_valid_loss_after=0.5)
    finetune = FinetuneRecord(**tuned, seconds=268.0, below_seconds=84.0)
    print_trained(SimpleNamespace(**ran, finetune=finetune))
    said = " ".join(capsys.readouterr().out.split())
    heads = json.loads((trained_run / "config.json").read_text())["heads"]
    fitting = f"fitting the {heads} heads" if heads > 1 else "fitting the head"
    assert (  # the pass below the tuned blocks runs first, with the body's features
        "89s computing features with the pretrained network in 32-bit floats (fp32), 84s of it "
        f"the pass below the tuned blocks, 20s {fitting}, 268s fine-tuning the network's last "
        "block, 12s calibrating) model saved to" in said
    )
    assert FinetuneRecord.from_json(finetune.to_json()) == finetune  # summary.json's record
    _, page, _ = run(capsys, "train", "--help")
    cost = "Fine-tune EfficientNet-Lite's last N blocks (slow; kept, run in fp32)."
    assert cost in " ".join(page.split())


def test_train_s_last_line_says_features_read_from_the_store_were_not_computed(trained_run, capsys):
    """A retrain whose every feature came from the feature store (under torchrun, on a resume,
    in one process: "0 run through the 3 pretrained networks" in its lines per view) closed with
    "3s computing features with the 3 pretrained networks"; one that computed some did not say
    how many of them, nor that it read the others."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled
    from objrec.run_record import FrozenPassCounts

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=3.0, fit=0.0, calibrate=0.0, total=5.0)
    run = dict(best_epoch=1, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    run |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    read = FrozenPassCounts(
        computed=0, from_store=192, copies=0, n_unreadable=0, hashed=0, digest_seconds=0.0
    )
    print_trained(SimpleNamespace(**run, frozen_pass=read))
    said = " ".join(capsys.readouterr().out.split())
    assert "computing" not in said
    assert (
        "5s in all (3s getting the 192 image features, every one from the feature store) "
        "model saved to" in said
    )
    some = FrozenPassCounts(
        computed=36, from_store=330, copies=0, n_unreadable=0, hashed=30, digest_seconds=0.1
    )
    print_trained(SimpleNamespace(**run, frozen_pass=some))
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "(3s computing 36 image features with the pretrained network in 32-bit floats (fp32) and "
        "reading 330 from the feature store) model saved to" in said
    )


def test_train_s_last_line_counts_features_made_from_the_fine_tuning_s_cut_as_computed(
    trained_run, capsys
):
    """A fine-tuned run whose new images' features were made from its cut's rows (``derived``),
    none run through the body, read the others from the store: its last line said "reading the
    330 image features from the feature store, none computed"."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled
    from objrec.run_record import FrozenPassCounts

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=3.0, fit=0.0, calibrate=0.0, total=5.0)
    run = dict(best_epoch=1, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    run |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    made = FrozenPassCounts(
        computed=0,
        from_store=330,
        copies=0,
        derived=36,
        n_unreadable=0,
        hashed=30,
        digest_seconds=0,
    )
    print_trained(SimpleNamespace(**run, frozen_pass=made))
    said = " ".join(capsys.readouterr().out.split())
    assert "none computed" not in said
    assert "(3s computing 36 image features with the pretrained network in 32-bit floats" in said


def test_train_s_last_line_counts_the_views_a_fine_tuned_retrain_computed_below_its_blocks(
    trained_run, capsys
):
    """late54 M1: a fine-tuned retrain after a plain run read every body feature from the store
    and computed its views below the tuned blocks; its last line said "every one from the
    feature store" (before: "none computed") of 10 s, 9.6 of them computing."""
    from types import SimpleNamespace

    from objrec.cli.training import print_trained
    from objrec.precision import Precision, Settled
    from objrec.run_record import FrozenPassCounts

    fp32 = Precision(body=Settled("fp32", "asked for"), head=Settled("fp32", "asked for"))
    seconds = RunSeconds(features=10.0, fit=0.0, calibrate=0.0, total=12.0)
    run = dict(best_epoch=1, history=[{"valid_loss": 0.5}], best_valid_loss=0.5)
    run |= dict(best_valid_acc=0.9, run=trained_run, seconds=seconds, precision=fp32)
    made = FrozenPassCounts(
        computed=0,
        from_store=18,
        copies=0,
        cut_computed=18,
        n_unreadable=0,
        hashed=0,
        digest_seconds=0,
    )
    print_trained(SimpleNamespace(**run, frozen_pass=made))
    said = " ".join(capsys.readouterr().out.split())
    assert "none computed" not in said and "every one from the feature store" not in said
    assert (
        "10s getting the 18 image features from the feature store and computing 18 below the "
        "tuned blocks"
    ) in said


@pytest.mark.slow
def test_train_says_it_wrote_all_once_it_has_said_all(capsys, tmp_path, monkeypatch):
    """train lets the program end at once after its last line, not before: a failed or stopped
    run exits as Python does."""
    from types import SimpleNamespace

    from objrec.cli import heap, training

    monkeypatch.setattr(heap, "_done", False)
    result = SimpleNamespace(run=tmp_path / "run")
    monkeypatch.setattr(
        importlib.import_module("objrec.train"), "train_as_asked", lambda *a, **k: result
    )
    monkeypatch.setattr(training, "print_trained", lambda *args: print("trained"))
    as_split_folder(tmp_path / "data")
    code, out, _ = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    assert code == 0 and "trained" in out and heap._done
    monkeypatch.setattr(heap, "_done", False)

    def refused(*args, **kwargs):
        raise ObjrecError("run already holds a trained model")

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", refused)
    code, _, _ = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    assert code == 1 and not heap._done


@pytest.mark.slow
def test_train_json_shows_on_stderr_what_a_logged_run_without_it_shows(capsys, tmp_path, split_dir):
    """`train --json` wrote nothing to stderr until it ended (44 s of silence in a nightly log;
    minutes on a real data set): --json now changes stdout alone, and stderr shows the progress,
    notes and epoch lines a run without it shows in a log (stderr not a terminal)."""
    args = ["--backbone", "tiny_test", "--epochs", "2", "--aug-views", "1", "--json"]
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    assert code == 0 and json.loads(out)["epochs_run"] == 2
    lines = err.splitlines()
    assert any(line.startswith("train features: 18 images") for line in lines)
    assert any(line.startswith("parameters: ") for line in lines)
    assert [line.split()[:2] for line in lines if line.startswith("epoch ")] == [
        ["epoch", "1"],
        ["epoch", "2"],
    ]


@pytest.mark.slow
def test_train_warns_once_of_a_mean_unlike_the_backbones_own(capsys, tmp_path, split_dir):
    """--mean or --std unlike the normalisation the body's weights were trained with: one
    warning naming both, with the option as the command spells it; none for a file of weights
    of the user's, whose normalisation objrec cannot know."""
    args = ["--backbone", "tiny_test", "--epochs", "1", "--aug-views", "0", "--json"]
    args += ["--mean", "0.5", "0.5", "0.5"]
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    said = [w for w in json.loads(out)["warnings"] if "normalisation" in w]
    assert code == 0 and said == [
        "--mean 0.5 0.5 0.5 differs from the normalisation the pretrained weights of tiny_test "
        "were trained with (mean 0.485 0.456 0.406), so the network reads your images unlike the "
        "images it learnt from, which usually costs accuracy (leave out --mean to use theirs)"
    ]
    from objrec.bodies import TinyBody

    torch.save(TinyBody().state_dict(), tmp_path / "mine.pth")
    args += ["--weights", tmp_path / "mine.pth"]
    code, out, _ = run(capsys, "train", split_dir, "--out", tmp_path / "mine", *args)
    assert code == 0 and not [w for w in json.loads(out)["warnings"] if "normalisation" in w]


def test_an_ensemble_of_two_normalisations_says_each_and_what_to_give_for_all(
    capsys, tmp_path, split_dir
):
    """`--backbone mobilenet_v2+efficientnet_lite0 --mean 0.5 0.5 0.5 --std 0.5 0.5 0.5` was
    refused as normalising differently, though one normalisation was given, with nothing of what
    would work (newcomer60b, 5). The bodies now read the normalisation given for all of them
    (test_backbones, and the run below); the refusal without it names each body's, why one is
    needed and what to give: here --std, --mean being given."""
    args = ["train", split_dir, "--out", tmp_path / "run", "--backbone"]
    code, out, err = run(
        capsys, *args, "efficientnet_lite0+resnet18", "--mean", "0.5", "0.5", "0.5"
    )
    said = " ".join(err.split())
    assert (code, out) == (2, "") and not (tmp_path / "run").exists()
    assert (
        "normalise their inputs differently (efficientnet_lite0: mean 0.5 0.5 0.5, std 0.5 0.5 "
        "0.5; resnet18: mean 0.485 0.456 0.406, std 0.229 0.224 0.225), and an ensemble's bodies "
        "all read one image, normalised once: give --std for all of them (each body then reads "
        "images normalised unlike some it learnt from), or join bodies normalised alike (see "
    ) in said


@pytest.mark.slow
def test_a_timm_backbone_is_looked_up_not_built_before_train_starts(
    capsys, tmp_path, split_dir, monkeypatch
):
    """`--backbone timm:NAME` was checked by building the model (timm.create_model), which train
    then built again: seconds and memory for a large ViT. The name is looked up in timm's list;
    an unknown one is still a usage error naming --backbone, exit 2."""
    import importlib.machinery
    import types

    built = []
    timm = types.ModuleType("timm")
    timm.__spec__ = importlib.machinery.ModuleSpec("timm", None)
    timm.is_model = lambda name: name == "vit_huge_patch14_224"
    timm.list_models = lambda: ["vit_huge_patch14_224", "resnet50"]
    timm.create_model = lambda name, *args, **kwargs: built.append(name)
    timm.data = types.ModuleType("timm.data")  # what building the spec reads from the model
    timm.data.resolve_data_config = lambda *a, **k: {
        "input_size": (3, 224, 224), "crop_pct": 0.9, "mean": (0.5,) * 3, "std": (0.5,) * 3,
        "interpolation": "bicubic",
    }  # fmt: skip
    monkeypatch.setitem(sys.modules, "timm", timm)
    monkeypatch.setitem(sys.modules, "timm.data", timm.data)

    def train_stand_in(data, out, config, *args, **kwargs):
        raise ObjrecError(f"train was called with {config.backbone}")

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", train_stand_in)
    args = ["train", split_dir, "--out", tmp_path / "run", "--backbone"]
    code, _, err = run(capsys, *args, "timm:vit_huge_patch14_224")
    assert (code, built) == (1, []) and "train was called with timm:vit_huge" in err
    code, out, err = run(capsys, *args, "timm:nosuchvit")
    assert (code, out) == (2, "")
    assert "invalid value for '--backbone': timm has no model named 'nosuchvit'; " in err
    assert not (tmp_path / "run").exists()
    code, out, err = run(capsys, *args, "timm:vit_huge_patch14_22")  # newcomer60b, 4
    said = " ".join(err.split())
    assert (code, out) == (2, "")
    assert "'vit_huge_patch14_22' (is it timm:vit_huge_patch14_224?);" in said
    assert "timm.list_models() lists its 2 models" in said
    assert "`objrec backbones` lists them" not in said  # it lists no timm model
    code, _, err = run(capsys, "backbones", "timm:resnet5")
    assert code == 2 and "(is it timm:resnet50?)" in err


@pytest.mark.slow
def test_an_interrupted_train_json_prints_the_run_so_far_with_finished_false(
    capsys, tmp_path, split_dir, monkeypatch
):
    """docs/json.md documented `finished: false` ("interrupted, resumable") for train --json, but
    an interrupted train printed no JSON: only summary.json ever held it. Ctrl-C in the head's
    epochs now prints the run so far as saved, finished false, and exits 130 as before."""
    ctrl_c_at_epoch_3(monkeypatch)
    args = ["--backbone", "tiny_test", "--epochs", "9", "--aug-views", "1", "--json"]
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    answer = json.loads(out)
    assert code == 130 and "interrupted after epoch 3" in err and "--resume" in err
    assert (answer["finished"], answer["epochs_run"], answer["warnings"]) == (False, 3, [])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert answer == summary | {"warnings": []}
    records_the_seconds_and_precision_so_far(summary, calibrated=False)
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "early", *args[:-1])
    assert code == 130 and out == ""  # without --json: the sentence on stderr alone, as before


@pytest.mark.slow
def test_train_json_stopped_after_the_head_s_epochs_prints_the_run_saved_then(
    capsys, tmp_path, split_dir, monkeypatch
):
    """Ctrl-C in calibration (or fine-tuning), after the head's epochs, printed no JSON and saved
    only the training state, where a stop in the head's epochs prints the run so far: the run is
    now written as of the head's end (finished false) and printed, and exits 130 as before."""

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("objrec.train"), "calibrate", ctrl_c)
    args = ["--backbone", "tiny_test", "--epochs", "3", "--aug-views", "1", "--json"]
    code, out, err = run(capsys, "train", split_dir, "--out", tmp_path / "run", *args)
    answer = json.loads(out)
    assert code == 130 and "interrupted after the head's epochs" in err and "--resume" in err
    assert (answer["finished"], answer["epochs_run"]) == (False, 3)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert answer == summary | {"warnings": answer["warnings"]}
    assert load_model(tmp_path / "run")  # the head's best model, as after a stop in its epochs
    records_the_seconds_and_precision_so_far(summary, calibrated=True)
    assert (summary["calibration"], summary["finetune"]) == ({}, None)  # as docs/json.md says


def records_the_seconds_and_precision_so_far(summary, calibrated):
    """A stopped run's summary had `seconds` {} and `precision` {used, why: ""} (docs/json.md
    said so): it has a finished run's stages, the time spent in each so far (none in calibration
    before it began), and the precision settled, the head's too."""
    seconds, precision = summary["seconds"], summary["precision"]
    assert {"features", "fit", "calibrate", "total"} <= set(seconds)
    assert seconds["features"] > 0 and seconds["fit"] > 0
    assert (seconds["calibrate"] > 0) is calibrated
    assert seconds["total"] >= seconds["features"] + seconds["fit"] + seconds["calibrate"]
    assert {"used", "why", "head", "head_why"} <= set(precision) and all(precision.values())


def test_train_refuses_a_split_folder_of_classes_named_alike(capsys, tmp_path, split_dir):
    code, out, err = run(capsys, "train", alike_split(split_dir), "--out", tmp_path / "run")
    refusal = "the class folders 'Red ' and 'red' of " + str(split_dir / "train")
    assert code == 1 and out == "" and refusal in " ".join(err.split())
    assert "differ only in case and a space at either end" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # imports objrec.train (torch): 0.1 s alone
def test_ctrl_c_under_torchrun_leaves_the_other_ranks_silent(capsys, monkeypatch, tmp_path):
    """Ctrl-C under `torchrun --nproc-per-node 2` printed a blank line and 'aborted' (rank 1's
    KeyboardInterrupt, which click turns into Abort) beside rank 0's 'interrupted after epoch 102
    ...; continue it with ...', as if something had failed: only rank 0 says what was kept."""
    import importlib

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", interrupted)
    monkeypatch.setenv("RANK", "1")
    as_split_folder(tmp_path)
    code, out, err = run(capsys, "train", tmp_path, "--out", tmp_path / "run")
    assert (code, out, err) == (130, "", "")


def test_under_torchrun_only_train_runs(capsys, monkeypatch, tmp_path):
    """`torchrun --nproc-per-node 2 -m objrec evaluate run data` evaluated twice: every result
    printed twice, and both ranks wrote run/eval-test at once. Refused, by rank 0 alone."""
    for name, value in {"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "evaluate", tmp_path / "run", tmp_path / "data")
    said = " ".join(err.split())
    assert code == 2 and "objrec evaluate runs in one process, not under torchrun" in said
    assert "WORLD_SIZE and MASTER_ADDR are set: unset them where torchrun did not" in said
    monkeypatch.setenv("RANK", "1")
    assert run(capsys, "evaluate", tmp_path / "run", tmp_path / "data") == (2, "", "")
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: it runs, as alone (here: no such run)
    monkeypatch.setenv("RANK", "0")
    said = " ".join(run(capsys, "evaluate", tmp_path / "run", tmp_path / "data")[2].split())
    assert "not under torchrun" not in said and "run does not exist" in said


@pytest.mark.slow  # imports objrec.train (torch): 0.1 s alone
def test_under_torchrun_another_rank_than_0_says_which_it_is_before_its_error(
    capsys, monkeypatch, tmp_path
):
    """Under torchrun every rank printed 'error: ... run already holds a trained model ...',
    the same line twice, unmarked. An error one rank alone meets must
    still show, so each rank says its own, marked; a bad option, the same command line on every
    rank, is said by rank 0 alone."""

    def refused(*args, **kwargs):
        raise ObjrecError("run already holds a trained model")

    monkeypatch.setattr(importlib.import_module("objrec.train"), "train_as_asked", refused)
    as_split_folder(tmp_path)
    lines = {}
    for rank in (0, 1):
        as_torchrun_rank(monkeypatch, rank)
        code, _, err = run(capsys, "train", tmp_path, "--out", tmp_path / "run")
        _, _, bad_option = run(capsys, "train", tmp_path, "--out", "run", "--epoch", "3")
        _, _, bad_value = run(capsys, "train", tmp_path / "gone", "--out", "run")
        lines[rank] = (code, err, bad_option, bad_value.split(":")[:2])
    assert lines[0][:2] == (
        1,
        "loading the libraries ...\nerror: run already holds a trained model\n",
    )
    assert lines[1][:2] == (1, "rank 1 of 2: error: run already holds a trained model\n")
    assert lines[0][2].startswith("error: no such option '--epoch'") and lines[1][2] == ""
    assert lines[0][3] == ["error", " invalid value for 'DATA'"]
    assert lines[1][3] == ["rank 1 of 2", " error"]  # a folder one machine may lack


def test_train_given_both_out_and_resume_says_not_both(capsys, tmp_path):
    """mistakes41: `train data --out run2 --resume run` was told to give --out or --resume, as
    if it had given neither."""
    (tmp_path / "run").mkdir()
    code, _, err = run(
        capsys, "train", tmp_path, "--out", tmp_path / "run2", "--resume", tmp_path / "run"
    )
    assert code == 2 and err.startswith(
        "error: give --out RUN for a new run, or --resume RUN to continue one, not both (a "
        "resumed run stays in its folder) (see objrec train --help)"
    ), err


@pytest.mark.slow  # two fresh interpreters importing objrec's CLI (1 to 5 s)
def test_train_refuses_its_data_or_out_from_paths_alone_before_loading_the_libraries(tmp_path):
    """`objrec train data-r2 --out run2` (run2 holding a model) said "run2/model.safetensors
    exists" after 28 s of "loading the libraries", and a
    DATA that is no split folder as late: both are said from paths and headers alone, at once."""
    import subprocess

    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "valid").mkdir()
    (tmp_path / "photos" / "red").mkdir(parents=True)
    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    (tmp_path / "run" / "summary.json").write_text('{"finished": true}')
    (tmp_path / "busy").mkdir()  # a run another train holds, its training state there
    fake_checkpoint(tmp_path / "busy" / "last.safetensors")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    said = {
        ("photos", "new"): (2, "error: photos is not a split folder: it has no train and no valid"),
        ("data", "run"): (
            1,
            f"error: {tmp_path.resolve() / 'run' / 'model.safetensors'} exists: "
            "run already holds a trained model; choose another --out or pass --force",
        ),
    }
    for (data, out), (code, sentence) in said.items():
        command = [sys.executable, "-m", "objrec", "train", data, "--out", out]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
        err = " ".join(done.stderr.split())
        assert done.returncode == code and err.startswith(sentence), err
        assert "loading the libraries" not in err and not (tmp_path / "new").exists()
    import fcntl

    other = os.open(tmp_path / "busy", os.O_RDONLY)
    try:  # not "holds an interrupted run: continue it with --resume": the library's RUN_BUSY
        fcntl.flock(other, fcntl.LOCK_EX)
        command = [sys.executable, "-m", "objrec", "train", "data", "--out", "busy"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    finally:
        os.close(other)
    assert "interrupted run" not in done.stderr and "loading the libraries" in done.stderr


def test_a_torchrun_process_its_agent_stops_says_so_not_interrupted(capsys, monkeypatch, tmp_path):
    """Under torchrun, one rank's error, then rank 0 (stopped by torchrun's SIGTERM) said
    "interrupted before its work began: nothing was written", read as a Ctrl-C."""
    import signal

    def stopped_by_the_agent(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    class Unhandled(Exception):
        pass

    def unhandled(*args):
        raise Unhandled("objrec left SIGTERM to its default: the process would have ended")

    for name, value in {"WORLD_SIZE": "2", "MASTER_ADDR": "localhost", "RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(
        importlib.import_module("objrec.train"), "train_as_asked", stopped_by_the_agent
    )
    as_split_folder(tmp_path / "data")
    previous = signal.signal(signal.SIGTERM, unhandled)  # never end pytest itself
    try:
        code, _, err = run(capsys, "train", tmp_path / "data", "--out", tmp_path / "run")
    finally:
        signal.signal(signal.SIGTERM, previous)
    said = " ".join(err.split())
    assert code == 128 + signal.SIGTERM and "interrupted" not in said, said
    assert "stopped by torchrun (another of its processes failed, its error above, or " in said


def test_train_serve_and_device_options_say_what_they_take_not_click_s_type_names():
    """`train --help` showed `--epochs INTEGER`, `--lr FLOAT`, `--backbone TEXT` and `--device
    TEXT`, serve `--max-upload-mib FLOAT` and `--max-pixels INTEGER`: how Python stores a value,
    not what to give. Each says it in a word (N, RATE, NAME, DEVICE, MIB), as split's do."""
    from objrec.cli import cli

    typed = []
    for name in ("train", "serve", "evaluate", "predict", "export"):
        ctx = click.Context(cli.commands[name], info_name=name)
        for option in cli.commands[name].params:
            if isinstance(option, click.Option) and not option.is_flag:
                metavar = option.make_metavar(ctx)
                if any(raw in metavar for raw in ("INTEGER", "FLOAT", "TEXT", "PATH")):
                    typed.append((name, option.opts[0], metavar))
    assert typed == []
    help_of = {name: cli.commands[name].params for name in ("train", "serve")}
    metavars = {o.opts[0]: o.metavar for params in help_of.values() for o in params}
    assert metavars["--lr"] == "RATE" and metavars["--device"] == "DEVICE"
    assert metavars["--max-upload-mib"] == "MIB" and metavars["--max-pixels"] == "N"

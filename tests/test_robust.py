"""Bad and unusual files: reported by check, skipped by train, the source never touched."""

import importlib
import io
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from objrec.check import check_folder
from objrec.checkpoint import read_checkpoint
from objrec.cli import main
from objrec.config import TrainConfig
from objrec.errors import Interrupted, ObjrecError
from objrec.leftovers import is_leftover
from objrec.resume_state import load_training_state
from objrec.run_files import BEST, LAST, SEEN_RECORD
from objrec.runs import run_status
from objrec.split.recipe import split_folder
from objrec.train import train

from .conftest import fake_checkpoint, make_class_folder, make_image
from .test_split import tree_digest


def add_bad_and_unusual_files(folder) -> dict[str, str]:
    """Fourteen kinds of trouble in ``folder/red``; returns file name -> the kind check must report."""
    red = folder / "red"
    expected = {}

    def bad(name, content, kind="unreadable"):
        (red / name).write_bytes(content)
        expected[name] = kind

    jpeg = io.BytesIO()
    make_image((200, 30, 30), size=(64, 64)).save(jpeg, "JPEG")
    bad("zero_bytes.jpg", b"")
    bad("truncated.jpg", jpeg.getvalue()[:300])
    bad("text.png", b"this is not a picture\n")
    bad("unsupported.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    bad("garbage.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 junk")
    bomb = io.BytesIO()
    Image.new("1", (12_000, 8_000)).save(bomb, "PNG")
    bad("bomb.png", bomb.getvalue(), "too_large")
    (red / "notes.txt").write_text("not an image")
    expected["notes.txt"] = "ignored_file"
    (red / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    expected[".DS_Store"] = "ignored_hidden"
    (red / ".ipynb_checkpoints").mkdir()
    make_image((1, 2, 3)).save(red / ".ipynb_checkpoints" / "copy.png")
    expected[".ipynb_checkpoints"] = "ignored_hidden"
    (red / "dangling.jpg").symlink_to(folder / "nowhere.jpg")
    expected["dangling.jpg"] = "ignored_file"
    make_image((200, 30, 30)).save(red / "no_extension", format="JPEG")
    expected["no_extension"] = "no_extension"
    (folder / "stray.jpg").write_bytes(jpeg.getvalue())
    expected["stray.jpg"] = "no_class_folder"
    # unusual but fine: every mode, EXIF rotation, upper-case extension, 16 bit, palette, CMYK
    make_image((200, 30, 30)).convert("CMYK").save(red / "cmyk.jpg")
    make_image((200, 30, 30)).convert("P").save(red / "palette.gif")
    make_image((200, 30, 30)).convert("LA").save(red / "grey_alpha.png")
    make_image((200, 30, 30)).convert("RGBA").save(red / "alpha.PNG")
    deep = np.linspace(20000, 60000, 900).reshape(30, 30).astype(np.uint16)  # not blank
    Image.fromarray(deep).save(red / "deep.png")
    exif = Image.Exif()
    exif[0x0112] = 8
    make_image((200, 30, 30), size=(50, 30)).save(red / "rotated.JPG", exif=exif)
    return expected


@pytest.mark.slow
def test_check_reports_every_kind_and_train_completes_on_the_good_ones(
    tmp_path, tiny_config, capsys, caplog
):
    photos = make_class_folder(tmp_path / "photos", per_class=8)
    expected = add_bad_and_unusual_files(photos)
    before = tree_digest(photos)
    result = check_folder(photos)
    found = {os.path.basename(p.path): p.kind for p in result.problems}
    assert found == expected | {"photos": "few_images"}  # most classes small: larger ratios
    assert {os.path.basename(p.path) for p in result.unusable} == {
        n for n, k in expected.items() if k in ("unreadable", "too_large")
    }
    assert main(["check", str(photos)]) == 1
    assert "bomb.png" in capsys.readouterr().out

    split = split_folder(photos, tmp_path / "data", seed=0)
    unusable = {os.path.basename(p.path) for p in result.unusable}
    assert {name.split("/")[-1] for name in split.unreadable_files} == unusable  # named, left out
    assert check_folder(tmp_path / "data").unusable == []
    add_bad_and_unusual_files(tmp_path / "data" / "train")  # put there later: train skips them
    with caplog.at_level(logging.WARNING, logger="objrec"):
        run = train(tmp_path / "data", tmp_path / "run", tiny_config)
    assert run.n_images.train == check_folder(tmp_path / "data" / "train").readable
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1 and "6 unreadable files" in skipped[0] and "bomb.png" in skipped[0]
    assert (tmp_path / "run" / BEST).exists()
    with pytest.raises(ObjrecError, match=r"`strict=True` refuses .*: 6 unusable"):
        train(tmp_path / "data", tmp_path / "run2", tiny_config, strict=True)
    assert tree_digest(photos) == before


def test_an_empty_class_is_reported_not_a_silent_label_shift(tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    (photos / "aardvark").mkdir()
    (photos / "aardvark" / "readme.txt").write_text("to do")
    result = check_folder(photos)
    assert [(os.path.basename(p.path), p.kind) for p in result.unusable] == [
        ("aardvark", "empty_class")
    ]


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_payload_is_refused_by_every_entry_point(tmp_path, split_dir, capsys):
    import pickle

    from objrec.checkpoint import load_model
    from objrec.evaluate import evaluate
    from objrec.predict import predict

    marker = tmp_path / "marker"
    run = tmp_path / "evil_run"
    run.mkdir()
    payload = pickle.dumps(Payload(str(marker)))
    for name in (BEST, LAST, "model.pt"):
        (run / name).write_bytes(payload)
    image = next((split_dir / "test" / "red").iterdir())
    calls = [
        lambda: load_model(run),
        lambda: load_model(run / "model.pt"),
        lambda: load_training_state(run / LAST),
        lambda: evaluate(run, split_dir),
        lambda: predict(run, [image]),
        lambda: train(split_dir, run, resume=True),
    ]
    for call in calls:
        with pytest.raises(ObjrecError):
            call()
    for args in (
        ["evaluate", run, split_dir],
        ["predict", run, image],
        ["train", split_dir, "--resume", run],
    ):
        assert main([str(a) for a in args]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert not marker.exists()


def comparable(run):
    state, meta = read_checkpoint(run / BEST)
    return state, meta.best_epoch


def same_result(a, b):
    state_a, best_a = comparable(a)
    state_b, best_b = comparable(b)
    assert best_a == best_b
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    ha = [line.split(",")[:5] for line in (a / "history.csv").read_text().splitlines()]
    hb = [line.split(",")[:5] for line in (b / "history.csv").read_text().splitlines()]
    assert ha == hb


@pytest.mark.slow
def test_ctrl_c_saves_and_a_resume_ends_like_an_uninterrupted_run(tmp_path, split_dir, tiny_config):
    tiny_config.patience = 100
    tiny_config.epochs = 12
    train(split_dir, tmp_path / "whole", tiny_config)

    with pytest.raises(Interrupted, match="after epoch 4") as caught:
        train(split_dir, tmp_path / "cut", tiny_config, reporter=StopAt(5))
    assert Path(caught.value.values["data"]).resolve() == split_dir.resolve()  # the whole command
    assert load_training_state(tmp_path / "cut" / LAST).progress.epoch == 4
    assert (tmp_path / "cut" / BEST).exists()  # the best model so far, usable at once
    record = (tmp_path / "cut" / SEEN_RECORD).read_text()  # for evaluate's leak check
    assert record == (tmp_path / "whole" / SEEN_RECORD).read_text() and record.count("\n") == 28
    train(split_dir, tmp_path / "cut", resume=True)
    same_result(tmp_path / "whole", tmp_path / "cut")


@pytest.mark.slow
def test_a_resumed_run_records_the_images_it_saw_before_the_resume(
    tmp_path, split_dir, tiny_config
):
    """A resumed run's seen_digests.csv listed only the images there at the resume: one it
    trained on before, removed or changed since, was missing, so evaluate's leak check missed it.
    The record is the union; the training state carries it (a run killed mid-fit writes none)."""
    from objrec.file_index import hash_file
    from objrec.leakage import read_seen

    tiny_config.patience, tiny_config.epochs = 100, 8
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="after epoch 4"):
        train(split_dir, run, tiny_config, reporter=StopAt(5))
    before = read_seen(run)
    (run / SEEN_RECORD).unlink()  # as a run killed mid-fit leaves it: no record
    removed, changed = sorted((split_dir / "train" / "red").iterdir())[:2]
    digests = [hash_file(removed), hash_file(changed)]
    removed.unlink()
    make_image((10, 200, 30), seed=7).save(
        changed, format="PNG" if changed.suffix == ".png" else "JPEG"
    )
    train(split_dir, run, resume=True)
    seen = read_seen(run)
    assert seen is not None and all(seen.get(digest) == "train" for digest in digests)
    assert before is not None and seen == before | {hash_file(changed): "train"}


@pytest.mark.slow
def test_the_training_state_waits_save_every_seconds_between_writes(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    tiny_config.epochs = 3
    writes = []
    monkeypatch.setattr(
        "objrec.resume_state.write_training_state", lambda path, state: writes.append(1)
    )
    monkeypatch.setattr("objrec.resume_state.SAVE_EVERY", float("inf"))
    result = train(split_dir, tmp_path / "a", tiny_config)
    assert writes == []  # none: a run that finishes writes its state only on a stop (dc131b6)
    monkeypatch.setattr("objrec.resume_state.SAVE_EVERY", 0)
    train(split_dir, tmp_path / "b", tiny_config)
    assert len(writes) == len(result.history)  # after every epoch


@pytest.mark.slow
def test_ctrl_c_in_the_calibration_after_a_short_fit_can_be_resumed(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    tiny_config.epochs = 3

    def ctrl_c(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(importlib.import_module("objrec.train"), "calibrate", ctrl_c)
        with pytest.raises(Interrupted, match=r"after the head's epochs.*`resume=True`"):
            train(split_dir, tmp_path / "run", tiny_config)
        # again, resumed: it writes no new state before calibrating, and its own still counts
        with pytest.raises(Interrupted, match="after the head's epochs") as again:
            train(split_dir, tmp_path / "run", resume=True)
    assert again.value.values["resume"] == str(tmp_path / "run")
    assert last_epoch(tmp_path / "run") == 3  # the fit's end was written, SAVE_EVERY or not
    result = train(split_dir, tmp_path / "run", resume=True)
    assert len(result.history) == 3
    assert (tmp_path / "run" / BEST).exists() and not (tmp_path / "run" / LAST).exists()


@pytest.mark.slow
def test_ctrl_c_before_a_resumed_run_s_epochs_says_the_epoch_its_state_holds(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    """A run stopped after epoch 2 of 6, resumed and stopped again before its epochs went on
    (computing features, quantizing again) said it was interrupted "after the head's epochs"
    and that fine-tuning "starts again": its state holds epoch 2 of the head's fit (review58a
    M-1). It says so, and the resume it advises goes on after it."""
    tiny_config.patience, tiny_config.epochs = 100, 6
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="after epoch 2"):
        train(split_dir, run, tiny_config, reporter=StopAt(3))
    with monkeypatch.context() as stopped:
        stopped.setattr(importlib.import_module("objrec.train"), "prepare", ctrl_c)
        with pytest.raises(Interrupted) as caught:
            train(split_dir, run, resume=True)
    said = str(caught.value)
    assert said.startswith("interrupted after epoch 2;") and "`resume=True`" in said, said
    assert "head's epochs" not in said and "starts again" not in said
    assert caught.value.values == {"resume": str(run), "data": str(split_dir)}
    assert last_epoch(run) == 2
    assert len(train(split_dir, run, resume=True).history) == 6


def last_epoch(run):
    return load_training_state(run / LAST).progress.epoch


KILL_AFTER_EPOCH = """
import importlib, os, signal, sys

import objrec.resume_state
from objrec.cli import main
from objrec.config import TrainConfig

train_module = importlib.import_module("objrec.train")  # `objrec.train` is the function
kill_after, stop, saver = int(sys.argv[1]), getattr(signal, sys.argv[2]), train_module.EpochSaver


def epoch_saver(*args):
    save = saver(*args)

    def save_then_die(state):
        save(state)
        if state.epoch == kill_after:
            os.kill(os.getpid(), stop)

    save_then_die.flush = save.flush  # train flushes the saver when the fit ends
    return save_then_die


train_module.EpochSaver = epoch_saver
objrec.resume_state.SAVE_EVERY = 0  # the training state written after every epoch
sys.exit(main(sys.argv[3:]))
"""


def train_arguments(data, run, kill_after, resume, stop):
    """``KILL_AFTER_EPOCH``'s arguments: ``objrec train``'s, after the epoch and the signal."""
    return [
        *(str(kill_after), stop, "train", str(data), "--resume" if resume else "--out", str(run)),
        *("--backbone", "tiny_test", "--epochs", "12", "--patience", "100"),
        *("--batch-size", "4", "--aug-views", "1", "--lr", "0.01"),
    ]


def train_process(data, run, kill_after=0, resume=False, stop="SIGKILL"):
    """``objrec train`` in a new process, sent ``stop`` (a signal's name) by itself right after
    epoch ``kill_after`` is saved."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            KILL_AFTER_EPOCH,
            *train_arguments(data, run, kill_after, resume, stop),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=600,
    )
    return done.returncode, done.stderr.decode()


def run_script(script, argv):
    sys.argv = ["-c", *argv]
    exec(compile(script, "<string>", "exec"), {"__name__": "__main__"})


def train_forked(data, run, kill_after, resume=False):
    """``train_process``'s SIGKILL in a process forked from this one, whose start imports nothing
    (a new interpreter's imports took seconds, most of such a process's time); its exit code.
    This process lets go of its feature store first, which the forked one opens as its own."""
    from objrec.cache import FeatureCache

    FeatureCache().close()
    argv = train_arguments(data, run, kill_after, resume, "SIGKILL")
    return forked_exit_code(run_script, (KILL_AFTER_EPOCH, argv))


def forked_exit_code(target, args, seconds=600):
    """``target(*args)`` in a process forked from this one: its exit code. One still running
    after ``seconds`` is killed and waited for, and the test fails (a SIGKILL of ours is no
    answer): left running, pytest's exit would wait on it, as multiprocessing joins children."""
    process = multiprocessing.get_context("fork").Process(target=target, args=args)
    process.start()
    process.join(seconds)
    if process.exitcode is None:
        process.kill()
        process.join()
        pytest.fail(f"the forked process did not end within {seconds} s")
    return process.exitcode


@pytest.mark.slow
def test_a_forked_child_that_hangs_fails_its_test_and_is_ended():
    """A forked train that hung was left running after ``join`` gave up: the test compared its
    exit code (None), and pytest's exit then waited on the child for ever (multiprocessing joins
    its children), holding the CPU lock. A SIGKILL of ours must not read as the one expected."""
    import time

    with pytest.raises(pytest.fail.Exception, match=r"did not end within 0\.2 s"):
        forked_exit_code(time.sleep, (60,), seconds=0.2)
    assert multiprocessing.active_children() == []


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_matches_an_uninterrupted_run(tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=12)
    split_folder(photos, tmp_path / "data", seed=0)
    # The uninterrupted run in this process (a process's start costs seconds): train_process's
    # settings, as the command line gives them to `train`
    whole = TrainConfig(
        backbone="tiny_test", epochs=12, patience=100, batch_size=4, aug_views=1, lr=0.01
    )
    train(tmp_path / "data", tmp_path / "whole", whole)
    run = tmp_path / "killed"
    assert train_forked(tmp_path / "data", run, kill_after=3) == -signal.SIGKILL
    assert last_epoch(run) == 3 and not (run / BEST).exists()
    assert train_forked(tmp_path / "data", run, kill_after=7, resume=True) == -signal.SIGKILL
    assert last_epoch(run) == 7
    train(tmp_path / "data", run, resume=True)  # the last resume here: a new process adds nothing
    assert not (run / LAST).exists()  # the finished run no longer keeps its training state
    left = [p.name for p in run.iterdir() if ".tmp" in p.name or is_leftover(p)]
    assert not left  # no temporary file left
    same_result(tmp_path / "whole", run)


@pytest.mark.slow
def test_sigterm_mid_training_saves_and_says_how_to_resume_as_ctrl_c_does(tmp_path):
    """SIGTERM (a scheduler, `kill`, torchrun) killed train at once: no best model, no hint."""
    photos = make_class_folder(tmp_path / "photos", per_class=12)
    data, run = tmp_path / "data", tmp_path / "run"
    split_folder(photos, data, seed=0)
    code, err = train_process(data, run, kill_after=4, stop="SIGTERM")
    assert code == 128 + signal.SIGTERM, err
    err = " ".join(err.split())
    assert "interrupted after epoch 4" in err and f"objrec train {data} --resume {run}" in err
    assert last_epoch(run) == 4 and (run / BEST).exists()  # the best model so far, usable at once
    result = train(data, run, resume=True)
    assert len(result.history) == 12 and not (run / LAST).exists()


def test_check_follows_linked_class_folders_and_reports_link_loops(tmp_path):
    real = make_class_folder(tmp_path / "real", per_class=3)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("red", "green"):
        (photos / name).symlink_to(real / name, target_is_directory=True)
    (photos / "everything").symlink_to(photos, target_is_directory=True)
    (real / "red" / "again").symlink_to(real / "red", target_is_directory=True)
    result = check_folder(photos)
    assert (result.images, result.n_classes, result.unusable) == (6, 2, [])
    loops = sorted(os.path.basename(p.path) for p in result.problems if p.kind == "link_loop")
    assert loops == ["again", "everything"]


def test_resume_on_a_finished_run_changes_nothing_and_says_so(capsys, trained_run, split_dir):
    before = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    code = main(["train", str(split_dir), "--resume", str(trained_run)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "is a finished run: there is nothing to resume" in err
    assert {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()} == before


def test_training_into_an_interrupted_run_points_to_resume(tmp_path, split_dir, tiny_config):
    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / BEST)
    (run / "summary.json").write_text('{"seconds": {}}')  # a stopped run's, its state gone:
    with pytest.raises(ObjrecError, match=r"training state is gone and cannot be resumed"):
        train(split_dir, run, tiny_config)  # nothing to resume from (runs56)
    fake_checkpoint(run / LAST)  # as Ctrl-C leaves it
    with pytest.raises(ObjrecError, match=r"interrupted run: continue it with `resume=True`"):
        train(split_dir, run, tiny_config)
    (run / "summary.json").unlink()
    fake_checkpoint(run / LAST)  # as a killed run leaves it
    with pytest.raises(ObjrecError, match=r"interrupted run: continue it with `resume=True`"):
        train(split_dir, run, tiny_config)


class StopAt:
    """A reporter that raises ``stop`` (KeyboardInterrupt: Ctrl-C) as epoch ``at`` starts: the
    fit stopped during that epoch, the one before it saved (a stop as an epoch is said comes
    after the saver's copy of it: test_engine's test_a_stop_as_an_epoch_is_said_...)."""

    def __init__(self, at, stop=KeyboardInterrupt):
        self.at, self.stop = at, stop

    def task(self, description, *a):
        from objrec.progress import SILENT

        if description.split()[:2] == ["epoch", str(self.at)]:  # "epoch 5 of at most 12"
            raise self.stop
        return SILENT.task(description, *a)

    def note(self, m):
        pass

    def epoch(self, record):
        pass


class Killed(BaseException):
    """A process killed mid-fit: nothing of train's own handling runs."""


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.slow
def test_resuming_after_the_classes_changed_is_refused_and_changes_nothing(
    tmp_path, split_dir, tiny_config, capsys
):
    """A renamed class folder resumed into a model whose head answered with the old class order
    (valid top-1 0.0); an added one gave a raw size-mismatch traceback."""
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="after epoch 4"):
        train(split_dir, run, tiny_config, reporter=StopAt(5))
    before = folder_bytes(run)
    splits = [split_dir / name for name in ("train", "valid", "test")]
    for split in splits:
        (split / "red").rename(split / "amber")
    with pytest.raises(ObjrecError, match=r"red is gone, amber is new.*`force=True`"):
        train(split_dir, run, resume=True)
    assert folder_bytes(run) == before
    for split in splits:
        (split / "amber").rename(split / "red")
        (split / "amber").mkdir()
        make_image((250, 190, 0)).save(split / "amber" / "img.png")
    assert main(["train", str(split_dir), "--resume", str(run)]) == 1  # at the shell, too
    err = " ".join(capsys.readouterr().err.split())
    assert "(amber is new)" in err and "start it over with --force" in err
    assert folder_bytes(run) == before
    for split in splits:
        (split / "amber" / "img.png").unlink()
        (split / "amber").rmdir()
    assert len(train(split_dir, run, resume=True).history) > 4  # the run itself was left as it was


@pytest.mark.slow
def test_ctrl_c_early_in_a_forced_restart_does_not_report_the_earlier_run(
    tmp_path, split_dir, tiny_config
):
    """Ctrl-C in the first epoch of a --force restart over an interrupted run said "interrupted
    after epoch 4" and wrote the earlier run's head beside the new run's config.json."""
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="after epoch 4"):
        train(split_dir, run, tiny_config, reporter=StopAt(5))
    before = folder_bytes(run)
    again = replace(tiny_config, lr=5e-3)
    with pytest.raises(Interrupted, match="before the first epoch ended; nothing saved") as caught:
        train(split_dir, run, again, reporter=StopAt(1), force=True)
    assert f"the earlier run's {run / LAST} is kept" in str(caught.value)
    assert folder_bytes(run) == before  # no new run was written, the earlier one is as it was


@pytest.mark.slow
def test_ctrl_c_in_the_first_epoch_of_a_forced_restart_keeps_the_earlier_runs_state(
    tmp_path, split_dir, tiny_config
):
    """--force removed the earlier interrupted run's last.safetensors once the frozen pass was
    done: Ctrl-C in the new run's first epoch then lost it, saying only "nothing saved"."""
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="after epoch 4"):
        train(split_dir, run, tiny_config, reporter=StopAt(5))
    with pytest.raises(Interrupted, match="nothing saved"):
        train(split_dir, run, tiny_config, reporter=StopAt(1), force=True)
    assert run_status(run) == "interrupted" and last_epoch(run) == 4
    result = train(split_dir, run, resume=True)  # the earlier run goes on where it stopped
    assert result.finished and result.history[4]["epoch"] == 5


@pytest.mark.slow
def test_ctrl_c_takes_only_a_training_state_the_run_wrote_itself(tmp_path, split_dir, tiny_config):
    """A forced run keeps the earlier run's state until it writes its own: Ctrl-C before then
    does not take it for this run's; once it wrote its own, that one counts."""
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="after epoch 4"):
        train(split_dir, run, tiny_config, reporter=StopAt(5))
    with pytest.raises(Interrupted, match="before the first epoch ended; nothing saved"):
        train(split_dir, run, tiny_config, reporter=StopAt(1), force=True)
    with pytest.raises(Interrupted, match="after epoch 2"):
        train(split_dir, run, tiny_config, reporter=StopAt(3), force=True)
    assert last_epoch(run) == 2 and run_status(run) == "interrupted"


@pytest.mark.slow
def test_a_forced_retrain_killed_mid_fit_can_be_resumed(
    trained_run, split_dir, tiny_config, monkeypatch
):
    """A --force retrain over a finished run, killed mid-fit, left its new last.safetensors beside
    the earlier run's summary.json: `--resume` refused it as "a finished run"."""
    before = folder_bytes(trained_run)
    with monkeypatch.context() as patch:
        patch.setattr("objrec.resume_state.SAVE_EVERY", 0)  # the state written after every epoch
        with pytest.raises(Killed):  # before its first training state: the earlier run stays
            train(split_dir, trained_run, tiny_config, reporter=StopAt(1, Killed), force=True)
        assert folder_bytes(trained_run) == before and run_status(trained_run) == "finished"
        with pytest.raises(Killed):
            train(split_dir, trained_run, tiny_config, reporter=StopAt(3, Killed), force=True)
    assert run_status(trained_run) == "interrupted" and last_epoch(trained_run) == 2
    result = train(split_dir, trained_run, resume=True)
    assert result.finished and len(result.history) > 2 and not (trained_run / LAST).exists()


def earlier_outputs_of(run, split_dir):
    """What objrec made from the model in ``run``: an evaluation, a report, an export."""
    from objrec.evaluate import evaluate

    evaluate(run, split_dir / "test")
    (run / "report.html").write_text("<html><head><title>objrec report: run</title>")
    (run / "model.onnx").write_bytes(b"the earlier model's graph")
    (run / "model.json").write_text('{"objrec_version": "0", "classes": ["a"]}')
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}


def disk_full(*args):
    raise OSError(28, "No space left on device")


def ctrl_c(*args):
    raise KeyboardInterrupt


STOPS = {
    "failed": ("objrec.train", "calibrate", disk_full, OSError, "No space left"),
    "model unwritten": ("objrec.runs", "save_checkpoint", disk_full, ObjrecError, "is full"),
    "curves unwritten": ("objrec.runs", "draw_curves", disk_full, ObjrecError, "is full"),
    "ctrl-c calibrating": ("objrec.train", "calibrate", ctrl_c, Interrupted, "`resume=True`"),
    "ctrl-c writing": ("objrec.runs", "draw_curves", ctrl_c, Interrupted, "`resume=True`"),
}
"""Where a forced retrain stops after its fit: failing as it calibrates or writes its model or
its curves (a full disk: the model and history are written by then; one met writing the run is
said in a sentence of its own, ``train_stops.full_disk``), or Ctrl-C as it calibrates or draws
its curves; what it raises, and says."""


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["killed", "ctrl-c", *STOPS])
def test_a_forced_retrain_stopped_before_its_model_leaves_the_earlier_run_whole(
    trained_run, split_dir, tiny_config, monkeypatch, stop
):
    """train --force over a finished run removed its summary.json, evaluations, report and export
    as soon as it wrote its first training state: a retrain killed then, or failing after its fit
    (a full disk), left the earlier model without its record and what was made from it; one whose
    model could not be written (a full disk) had removed the earlier seen_digests.csv first;
    Ctrl-C wrote its best model so far over the earlier one. They go once the new model is
    written whole; until then only the new run's last.safetensors is added, for --resume. A run's
    files were written one by one: a stop or a failure after its model (drawing its curves) left
    the new model beside the earlier run's summary, config and record; they take their names
    together now."""
    before = earlier_outputs_of(trained_run, split_dir)
    with monkeypatch.context() as patch:
        patch.setattr("objrec.resume_state.SAVE_EVERY", 0)  # its training state after every epoch
        if stop in ("killed", "ctrl-c"):
            stopping = (Killed, None) if stop == "killed" else (Interrupted, "after epoch 2; ")
            reporter = StopAt(3, Killed if stop == "killed" else KeyboardInterrupt)
            with pytest.raises(stopping[0], match=stopping[1]):
                train(split_dir, trained_run, tiny_config, reporter=reporter, force=True)
        else:
            module, name, raises, error, says = STOPS[stop]
            patch.setattr(importlib.import_module(module), name, raises)
            with pytest.raises(error, match=says):
                train(split_dir, trained_run, tiny_config, force=True)
    after = {
        p.relative_to(trained_run).as_posix(): p for p in trained_run.rglob("*") if p.is_file()
    }
    assert {name: after[name].read_bytes() for name in before} == before
    assert set(after) - set(before) == {LAST} and run_status(trained_run) == "interrupted"
    result = train(split_dir, trained_run, resume=True)  # the new run, once written, replaces it
    left = {p.name for p in trained_run.iterdir()}
    assert result.finished and not left & {"eval-test", "report.html", "model.onnx", LAST}


def test_a_forced_train_into_a_folder_of_the_users_files_keeps_their_summary_json(
    tmp_path, split_dir, tiny_config
):
    """--force into a folder holding no run removed the user's own summary.json as soon as the
    frozen pass was done, taking it for an earlier run's; then its model.safetensors (downloaded,
    not objrec's) was replaced. Such a folder is now refused before anything is read or written."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.json").write_text('{"my": "numbers"}')
    (mine / BEST).write_bytes(b"a model downloaded from elsewhere, not objrec's")
    before = folder_bytes(mine)
    with pytest.raises(ObjrecError, match=r"names a run writes \(model.safetensors, summary.json"):
        train(split_dir, mine, tiny_config, force=True)
    assert folder_bytes(mine) == before


@pytest.mark.slow
@pytest.mark.parametrize("inside", [".", "run", "train/run"])
def test_a_run_folder_inside_the_data_folder_is_refused(tmp_path, split_dir, tiny_config, inside):
    before = tree_digest(split_dir)
    with pytest.raises(ObjrecError, match=r"(lies inside|is) the data folder"):
        train(split_dir, split_dir / inside, tiny_config)
    assert tree_digest(split_dir) == before


def test_a_finished_run_no_longer_keeps_its_training_state(trained_once):
    names = {p.name for p in trained_once.iterdir()}
    assert BEST in names and "summary.json" in names and LAST not in names


def test_strict_train_names_the_first_ten_unusable_files_and_counts_the_rest(tmp_path):
    from objrec.check import require_clean

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    for i in range(12):
        (photos / "red" / f"broken_{i:02d}.jpg").write_bytes(b"not a picture")
    with pytest.raises(ObjrecError, match="12 unusable files or folders") as error:
        require_clean(photos)
    assert "broken_09.jpg (unreadable) and 2 more" in str(error.value)
    assert "broken_10" not in str(error.value)


def test_split_and_train_strict_refuse_in_one_wording(tmp_path):
    from objrec.check import require_clean
    from objrec.split.recipe import split_folder

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    (photos / "red" / "broken.jpg").write_bytes(b"not a picture")
    refused = f"`strict=True` refuses {photos.resolve()}: "
    with pytest.raises(ObjrecError) as by_split:
        split_folder(photos, tmp_path / "data", strict=True)
    with pytest.raises(ObjrecError) as by_train:
        require_clean(photos.resolve())
    assert str(by_split.value).startswith(refused) and str(by_train.value).startswith(refused)


@pytest.mark.slow
def test_the_split_warning_names_the_first_ten_unreadable_files_and_counts_the_rest(
    tmp_path, capsys
):
    from objrec.cli import main

    photos = make_class_folder(tmp_path / "photos", per_class=4)
    for i in range(12):
        (photos / "red" / f"broken_{i:02d}.jpg").write_bytes(b"not a picture")
    assert main(["split", str(photos), str(tmp_path / "data")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "red/broken_09.jpg and 2 more" in err and "broken_10" not in err


def test_ctrl_c_outside_the_heads_epochs_says_what_was_kept(tmp_path, split_dir, tiny_config):
    """Ctrl-C in the frozen pass (or fine-tuning, calibrating) said only "aborted"."""
    from objrec.train_stops import interrupted_outside_epochs

    class CtrlCInTheFrozenPass:
        def task(self, *a):
            raise KeyboardInterrupt

        def note(self, m):
            pass

    with pytest.raises(
        Interrupted, match=r"before the head.s first epoch ended.*no features of its images were"
    ):
        train(split_dir, tmp_path / "cut", tiny_config, reporter=CtrlCInTheFrozenPass())
    assert not (tmp_path / "cut").exists()  # nothing of it was kept
    run = tmp_path / "run"
    run.mkdir()
    (run / LAST).write_bytes(b"the head's state")
    assert "nothing of the run was saved" in str(interrupted_outside_epochs(split_dir, run, False))
    saved = interrupted_outside_epochs(split_dir, run, True)
    assert "`resume=True`" in str(saved) and saved.values == {
        "resume": str(run),
        "data": str(split_dir),
    }


@pytest.mark.slow
def test_ctrl_c_while_train_opens_its_run_says_what_was_kept(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    """Ctrl-C as the run opens (``strict``'s check of every file, seconds to minutes of a large
    folder): a new run keeps nothing, and its folder goes; a resumed run's state stays as it
    was, said as what it holds (the head's epoch 2), with the resume that goes on from it."""
    module = importlib.import_module("objrec.train")
    with monkeypatch.context() as patch:
        patch.setattr(module, "refuse_unusable_files", ctrl_c)
        with pytest.raises(Interrupted) as caught:
            train(split_dir, tmp_path / "new", tiny_config, strict=True)
    assert str(caught.value) == (
        "interrupted before the head's first epoch ended: nothing of the run was saved, and no "
        "features of its images were stored or found yet"
    )
    assert not (tmp_path / "new").exists() and not caught.value.values
    run = tmp_path / "run"
    with pytest.raises(Interrupted, match="after epoch 2"):
        train(split_dir, run, replace(tiny_config, epochs=6, patience=100), reporter=StopAt(3))
    before = folder_bytes(run)
    with monkeypatch.context() as patch:
        patch.setattr(module, "refuse_unusable_files", ctrl_c)
        with pytest.raises(Interrupted) as caught:
            train(split_dir, run, resume=True, strict=True)
    assert str(caught.value) == (
        f"interrupted after epoch 2; its training state is in {run / LAST}: continue it with "
        "`resume=True`"
    )
    assert caught.value.values == {"resume": str(run), "data": str(split_dir)}
    assert folder_bytes(run) == before


@pytest.mark.slow
def test_ctrl_c_while_the_run_is_written_keeps_the_heads_state_and_says_so(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    """Ctrl-C while a new run's files are written (its curves drawn): none of them is put in
    place, the head's training state is written for a resume, and the stop says so; the resume
    ends the run with the epochs of the one stopped."""
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(importlib.import_module("objrec.runs"), "draw_curves", ctrl_c)
        with pytest.raises(Interrupted) as caught:
            train(split_dir, run, replace(tiny_config, epochs=3))
    assert str(caught.value) == (
        f"interrupted after the head's epochs; its training state is in {run / LAST}: continue "
        "it with `resume=True` (fine-tuning, if asked for, starts again)"
    )
    assert caught.value.values == {"resume": str(run), "data": str(split_dir)}
    assert caught.value.summary is None and sorted(folder_bytes(run)) == [LAST]
    assert last_epoch(run) == 3
    result = train(split_dir, run, resume=True)
    assert result.finished and len(result.history) == 3 and not (run / LAST).exists()


@pytest.mark.slow
def test_ctrl_c_while_the_run_is_written_with_an_unwritable_state_says_it_came_after_the_head(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    """Ctrl-C while a new run's files were written, its training state failing to be written too
    (a full disk), said "interrupted before the head's first epoch ended: nothing of the run was
    saved, but the store holds the features ...": its epochs had all run. It says what Ctrl-C
    while calibrating says then: nothing of the run was saved, after the head's epochs."""
    run = tmp_path / "run"

    def full_disk(path, state):
        raise OSError(28, "No space left on device", str(path))

    with monkeypatch.context() as patch:
        patch.setattr("objrec.resume_state.write_training_state", full_disk)
        patch.setattr(importlib.import_module("objrec.runs"), "draw_curves", ctrl_c)
        with pytest.raises(Interrupted) as caught:
            train(split_dir, run, replace(tiny_config, epochs=3))
    assert str(caught.value) == (
        "interrupted after the head's epochs, whose training state could not be written (the "
        "log says why): nothing of the run was saved; train it again"
    )
    assert not caught.value.values and not (run / LAST).exists()


class Failed(Exception):
    """An error no stop of train's handles: a bug, say."""


def fails(*args, **kwargs):
    raise Failed("a bug")


FAILURES = {
    "opening": ("objrec.train", "refuse_unusable_files", None),
    "frozen pass": ("objrec.train", "prepare", None),
    "head epochs": ("objrec.engine", "evaluate_loss", None),
    "calibrating": ("objrec.train", "calibrate", 3),
    "writing": ("objrec.runs", "draw_curves", 3),
}
"""Where an error no stop handles comes, in each phase of a train, and the epoch of the training
state it leaves in the run folder (None: none)."""


@pytest.mark.slow
@pytest.mark.parametrize("phase", FAILURES)
def test_an_error_in_any_phase_of_train_is_raised_as_it_is(
    tmp_path, split_dir, tiny_config, monkeypatch, phase
):
    """An error that is neither Ctrl-C, a diverged loss nor a full disk is raised as it is,
    wherever it comes: in the head's epochs (whose state is written every ``SAVE_EVERY``
    seconds, not on such an error) no state is written; after them, the head's state is, for a
    resume."""
    module, name, kept = FAILURES[phase]
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr("objrec.resume_state.SAVE_EVERY", float("inf"))
        patch.setattr(importlib.import_module(module), name, fails)
        with pytest.raises(Failed, match="a bug"):
            train(split_dir, run, replace(tiny_config, epochs=3), strict=True)
    if kept is None:
        assert not (run / LAST).exists()
        return
    assert sorted(folder_bytes(run)) == [LAST] and last_epoch(run) == kept


@pytest.mark.slow
def test_macos_zip_and_nas_thumbnail_folders_are_neither_classes_nor_images(tmp_path):
    """A zip made on a Mac holds ``__MACOSX`` (``._name`` files beside each photo); a Synology
    server puts ``@eaDir`` thumbnails (real JPEGs) beside them: both are skipped like hidden ones."""
    photos = make_class_folder(tmp_path / "photos", per_class=4, classes=("red", "green"))
    (photos / "__MACOSX" / "red").mkdir(parents=True)
    (photos / "__MACOSX" / "red" / "._img_00.jpg").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    thumbs = photos / "red" / "@eaDir" / "img_00.jpg"
    thumbs.mkdir(parents=True)
    make_image((200, 30, 30)).save(thumbs / "SYNOFILE_THUMB_M.jpg")
    result = check_folder(photos)
    assert result.unusable == [] and result.n_classes == 2 and result.images == 8
    notes = [p for p in result.problems if p.kind != "few_images"]  # 4 images: 2 to train on
    assert {os.path.basename(p.path): p.message for p in notes} == {
        "@eaDir": "system folder ignored",
        "__MACOSX": "system folder ignored",  # beside the class folders, noted as inside them
    }
    split = split_folder(photos, tmp_path / "data", seed=0)
    assert sorted(split.counts) == ["green", "red"] and sum(split.totals().values()) == 8
    assert split.empty_classes == []


@pytest.mark.slow
def test_windows_thumbnails_settings_and_download_marks_are_ignored_as_a_mac_s_files_are(
    tmp_path,
):
    """Photos copied from Windows into WSL bring Thumbs.db, desktop.ini and, beside each photo
    downloaded, ``IMG.jpg:Zone.Identifier``: check named each "not an image file, ignored" and
    split warned "ignored 4 files", where a Mac's .DS_Store and ._IMG.jpg go unsaid by split
    (portable42). They are system files now, as @eaDir is a system folder."""
    photos = make_class_folder(tmp_path / "photos", per_class=4, classes=("red", "green"))
    names = ("Thumbs.db", "desktop.ini", "img_00.jpg:Zone.Identifier", "THUMBS.DB")
    for name, folder in zip(names, ("red", "red", "red", "green"), strict=True):
        (photos / folder / name).write_bytes(b"[ZoneTransfer]\r\nZoneId=3\r\n")
    notes = [p for p in check_folder(photos).problems if p.kind != "few_images"]
    assert sorted((os.path.basename(p.path), p.kind, p.message) for p in notes) == sorted(
        (name, "ignored_hidden", "system file ignored") for name in names
    )
    split = split_folder(photos, tmp_path / "data", seed=0)
    assert not split.ignored_files and sum(split.totals().values()) == 8


def test_an_iphone_heic_photo_is_named_by_check_and_split_not_silently_left_out(tmp_path):
    from .test_images import HEIC

    photos = make_class_folder(tmp_path / "photos", per_class=4, classes=("red", "green"))
    (photos / "red" / "IMG_0001.HEIC").write_bytes(HEIC)
    (problem,) = check_folder(photos).unusable
    assert os.path.basename(problem.path) == "IMG_0001.HEIC" and "HEIC image" in problem.message
    assert split_folder(photos, tmp_path / "data", seed=0).unreadable_files == ["red/IMG_0001.HEIC"]


@pytest.mark.slow
def test_iphone_heic_photos_are_checked_split_trained_and_predicted_with_pillow_heif(
    tmp_path, heif_unregistered, caplog
):
    """``pip install pillow-heif`` did not make objrec read them: its opener was never registered."""
    from objrec.predict import predict

    from .conftest import save_heic

    photos = make_class_folder(tmp_path / "photos", per_class=6, classes=("red", "green"))
    for n, colour in enumerate([(220, 20, 20), (200, 40, 30), (230, 10, 40)]):
        save_heic(make_image(colour, seed=n), photos / "red" / f"IMG_000{n}.HEIC")
    result = check_folder(photos)
    assert result.unusable == [] and result.images == 15
    split = split_folder(photos, tmp_path / "data", seed=0)
    assert split.unreadable_files == [] and sum(split.counts["red"].values()) == 9
    config = TrainConfig(backbone="tiny_test", epochs=2, batch_size=8, aug_views=1)
    train(tmp_path / "data", tmp_path / "run", config)
    assert "unreadable" not in caplog.text and "cannot read" not in caplog.text
    (found,) = predict(tmp_path / "run", [photos / "red" / "IMG_0000.HEIC"])
    assert found.error is None and found.topk[0]["class"] in ("red", "green")


@pytest.mark.slow
def test_a_split_none_of_whose_images_can_be_read_is_refused_in_one_sentence(
    tmp_path, split_dir, tiny_config
):
    """Every validation image unreadable (HEIC photos, say) ended in a traceback in the
    calibration, after the epochs; now it is refused before them, and no run folder is left."""
    for image in (split_dir / "valid").rglob("*.*"):
        image.write_bytes(b"")
    with pytest.raises(ObjrecError, match=r"no image of .*valid can be read: .*empty file"):
        train(split_dir, tmp_path / "run", tiny_config)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_class_none_of_whose_training_images_can_be_read_is_refused(
    tmp_path, split_dir, tiny_config
):
    """It was trained as a class the head never saw, with one warning about skipped files."""
    for image in (split_dir / "train" / "green").iterdir():
        image.write_bytes(b"")
    with pytest.raises(ObjrecError, match=r"no image of .*train/green can be read: the model"):
        train(split_dir, tmp_path / "run", tiny_config)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_an_image_whose_name_is_not_utf8_is_named_and_left_out_not_a_traceback(tmp_path, caplog):
    """``unzip`` of an old Windows zip writes "café" in Latin-1: split, train, evaluate, audit,
    explore and suggest ended in a UnicodeEncodeError writing it to a CSV or the feature index."""
    photos = make_class_folder(tmp_path / "photos", per_class=4, classes=("red", "green"))
    latin1 = photos / "red" / os.fsdecode(b"caf\xe9.jpg")
    make_image((200, 30, 30)).save(latin1, "JPEG")
    (problem,) = check_folder(photos).unusable
    assert (problem.path, problem.kind) == (str(latin1), "bad_name")
    assert "name is not UTF-8" in problem.message
    with caplog.at_level(logging.WARNING, logger="objrec"):
        split = split_folder(photos, tmp_path / "data", seed=0)
    assert sum(split.totals().values()) == 8
    assert any("left out: its name is not UTF-8" in r.getMessage() for r in caplog.records)


def test_the_classes_without_a_validation_image_are_named_once():
    from types import SimpleNamespace

    from objrec.train_features import warn_no_valid_image

    valid = SimpleNamespace(labels=torch.tensor([0, 0, 2, 1]), ok=torch.tensor([1, 1, 1, 0]) > 0)
    assert warn_no_valid_image(valid, Path("v"), ["red", "green", "blue"]) == ["green"]
    valid.ok[:] = True
    assert warn_no_valid_image(valid, Path("v"), ["red", "green", "blue"]) == []


@pytest.mark.slow
def test_train_warns_of_a_class_without_a_validation_image(tmp_path, split_dir, caplog):
    import shutil

    from .conftest import tiny_train_config

    missing = sorted(p.name for p in (split_dir / "valid").iterdir())[0]
    shutil.rmtree(split_dir / "valid" / missing)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        train(split_dir, tmp_path / "run", tiny_train_config(epochs=2))
    said = [r.getMessage() for r in caplog.records if "no validation image" in r.getMessage()]
    assert said == [
        f"1 class has no validation image in {split_dir / 'valid'}: {missing}; trained all the "
        "same, but its validation loss and accuracy cannot be measured"
    ]
    assert (tmp_path / "run" / BEST).is_file()


def test_check_notes_a_hidden_file_beside_the_class_folders_as_one_inside_them(tmp_path):
    """`objrec check photos` named photos/watch/.DS_Store as ignored, not photos/.DS_Store."""
    photos = tmp_path / "photos"
    for name in ("red", "watch"):
        (photos / name).mkdir(parents=True)
        make_image((200, 30, 30)).save(photos / name / "a.png")
        (photos / name / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (photos / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    noted = [p for p in check_folder(photos).problems if p.kind == "ignored_hidden"]
    assert sorted(p.path for p in noted) == [
        str(photos / ".DS_Store"),
        str(photos / "red" / ".DS_Store"),
        str(photos / "watch" / ".DS_Store"),
    ]
    assert {p.message for p in noted} == {"hidden file ignored"}


@pytest.mark.slow
def test_a_loss_that_is_nan_from_the_first_epoch_is_one_clear_error(capsys, tmp_path, split_dir):
    """--lr 1e38 trained 4 NaN epochs, calibrated, then wrote the run: a StopIteration
    traceback, and a run folder holding only last.safetensors."""
    run = tmp_path / "run5"
    args = ["--backbone", "tiny_test", "--epochs", "8", "--patience", "3", "--precision", "fp32"]
    code = main(["train", str(split_dir), "--out", str(run), *args, "--lr", "1e38"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "Traceback" not in err
    assert "loss is NaN at epoch 1" in err and "a lower --lr than 1e+38" in err, err
    assert not run.exists()  # nothing of the run was saved: the folder it made is taken back


def nan_at_epoch_3(monkeypatch):
    """The validation loss of the fit's third epoch made NaN: a fit that diverges there."""
    engine = importlib.import_module("objrec.engine")
    evaluate_loss, calls = engine.evaluate_loss, []

    def third_is_nan(model, batches):
        calls.append(1)
        measured = evaluate_loss(model, batches)
        return measured | {"loss": float("nan")} if len(calls) == 3 else measured

    monkeypatch.setattr(engine, "evaluate_loss", third_is_nan)


@pytest.mark.slow
def test_a_loss_that_turns_nan_keeps_the_best_model_before_it(tmp_path, split_dir, monkeypatch):
    """Divergence after some epochs keeps what a Ctrl-C there keeps: the best model of the epochs
    before, and their training state."""
    nan_at_epoch_3(monkeypatch)
    run = tmp_path / "run"
    config = TrainConfig(backbone="tiny_test", epochs=8, patience=100, batch_size=8, lr=1e-2)
    with pytest.raises(ObjrecError, match="loss is NaN at epoch 3") as caught:
        train(split_dir, run, config)
    assert f"the best model before it (epoch 2) is in {run / BEST}" in str(caught.value)
    assert "`lr` than 0.01 and `force=True`" in str(caught.value)
    assert run_status(run) == "interrupted" and last_epoch(run) == 2
    assert read_checkpoint(run / BEST)[1].best_epoch == 2


@pytest.mark.slow
def test_a_forced_retrain_that_diverges_keeps_the_earlier_model(
    trained_run, split_dir, tiny_config, monkeypatch
):
    """A forced retrain whose loss turned NaN wrote its best model before it over the earlier
    (finished) run's: the earlier run stays whole, the new state beside it."""
    nan_at_epoch_3(monkeypatch)
    monkeypatch.setattr("objrec.resume_state.SAVE_EVERY", 0)
    before = folder_bytes(trained_run)
    config = replace(tiny_config, epochs=8, patience=100)
    with pytest.raises(ObjrecError, match="loss is NaN at epoch 3") as caught:
        train(split_dir, trained_run, config, force=True)
    assert f"; {trained_run / BEST} is still the earlier run's model;" in str(caught.value)
    after = folder_bytes(trained_run)
    assert {name: after[name] for name in before} == before and set(after) - set(before) == {LAST}


@pytest.mark.slow
def test_ctrl_c_before_the_first_epoch_says_what_the_store_kept(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    """Ctrl-C while a first train was still making the int8 copy of the body said "the features
    computed so far are in the store, so the same command starts again from them": none were,
    and the next run computed all 394 views again. It says what this train stored: none, or
    how many image views' features; and a train that found every feature stored by an earlier
    one said "no features were stored yet", though the next run computed none: it says so."""
    module = importlib.import_module("objrec.train")

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # before the frozen pass stored anything
        patch.setattr(module, "prepare", ctrl_c)
        with pytest.raises(Interrupted) as caught:
            train(split_dir, tmp_path / "early", tiny_config)
    said = str(caught.value)
    assert said.endswith(
        "nothing of the run was saved, and no features of its images were stored or found yet"
    )
    assert "in the store" not in said
    said = []
    for run in ("late", "again"):  # after it: 18 training images x 2 views + 9 valid
        with monkeypatch.context() as patch:
            patch.setattr(module, "fit_head", ctrl_c)
            with pytest.raises(Interrupted) as caught:
                train(split_dir, tmp_path / run, tiny_config)
        said.append(str(caught.value).split("nothing of the run was saved, but ")[1])
    assert said[0].startswith("the features of the 45 image views computed so far are in the store")
    assert said[1] == (  # all stored by the first: the second computed none ("none were stored")
        "the store holds the features of the 45 image views looked up so far, stored by earlier "
        "commands, so the same command starts again from them"
    )


def test_ctrl_c_before_the_first_epoch_counts_views_computed_and_stored_earlier():
    from objrec.train_stops import interrupted_outside_epochs

    said = str(interrupted_outside_epochs("data", "run", False, stored=5, earlier=40))
    assert said.endswith(
        "the store holds the features of the 45 image views looked up or computed so far (5 "
        "computed now, 40 stored by earlier commands), so the same command starts again from them"
    )


@pytest.mark.slow
def test_a_train_killed_while_it_writes_its_files_leaves_none_of_them_half_written(
    trained_run, split_dir, tiny_config, monkeypatch
):
    """`kill -9` while train wrote summary.json left half of it: `objrec report` then failed
    with a JSONDecodeError traceback. The run's files are written in a hidden folder and renamed
    in, so a kill leaves the earlier file or none, never part of one."""
    json_write = Path.write_text

    def killed_half_way(path, text, *args, **kwargs):  # half the bytes reach the disk, then death
        if trained_run not in path.parents or not path.name.endswith(".json"):
            return json_write(path, text, *args, **kwargs)
        json_write(path, text[: len(text) // 2])
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", killed_half_way)
        with pytest.raises(Killed):
            train(split_dir, trained_run, tiny_config, force=True)
    for name in ("config.json", "summary.json"):
        assert not (trained_run / name).exists() or json.loads((trained_run / name).read_text())
    assert run_status(trained_run) == "interrupted"  # resumable: its training state is there
    assert train(split_dir, trained_run, resume=True).finished


@pytest.mark.slow
def test_a_report_of_a_run_whose_summary_is_broken_leaves_out_its_times(trained_run, capsys):
    """A summary.json broken by a crash of an earlier objrec, or an edit, made `objrec report`
    end in a JSONDecodeError traceback; the page is written without the run's times."""
    (trained_run / "summary.json").write_text('{\n  "run": "run",\n  "classes": ')
    assert main(["report", str(trained_run)]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (trained_run / "report.html").is_file()


@pytest.mark.slow
def test_a_train_into_a_run_folder_another_train_holds_is_refused_at_once(
    tmp_path, split_dir, tiny_config
):
    """Two `objrec train data --out run` started together both trained, and the later one's
    files replaced the earlier one's, which had said 'model saved to run/model.safetensors'
    (`--epochs 8` and `--seed 3`: the folder ended with seed 3's run); one started during a train
    was told to resume the run being trained. Each is refused in one sentence, before any work."""
    import fcntl

    run = tmp_path / "run"
    run.mkdir()
    other = os.open(run, os.O_RDONLY)  # what the other train holds
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        for resume in (False, True):
            with pytest.raises(ObjrecError, match=f"another objrec is training into {run} now"):
                train(split_dir, run, tiny_config, resume=resume)
    finally:
        os.close(other)
    assert os.listdir(run) == []
    assert train(split_dir, run, tiny_config).finished  # the lock goes with the train
    assert train(split_dir, tmp_path / "new", tiny_config).finished

"""Two objrec processes at once on one split folder, run folder or feature store (concurrency42):
what the second one sees, and that neither leaves the other's results wrong."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
from pathlib import Path

import pytest

from objrec.progress import Reporter
from tests.conftest import COLOURS, make_image, taken_before


class Notes(Reporter):
    """A reporter that keeps its notes and runs ``on_note`` (once) at the first."""

    def __init__(self, on_note=None):
        self.notes: list[str] = []
        self.on_note = on_note

    def note(self, message: str) -> None:
        self.notes.append(message)
        if self.on_note is not None:
            self.on_note, on_note = None, self.on_note
            on_note()


def new_photos(root: Path, per_class: int = 2) -> Path:
    """Photos of each colour class, none of them the split's own (seeds of their own)."""
    for c, name in enumerate(COLOURS):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            make_image(COLOURS[name], seed=5000 + 100 * c + i).save(root / name / f"new_{i}.png")
    return taken_before(root)


@pytest.mark.slow
def test_a_run_records_the_split_it_listed_not_an_add_made_while_it_trained(
    monkeypatch, tmp_path, split_dir, tiny_config
):
    """`objrec add data more/` while `objrec train data` computed its features: the run trained
    on the images listed before the add, but its summary recorded the split's fingerprint and
    split.json as the add left them (the add's 36 photos listed as part of the split trained
    on). It records the split as it listed it."""
    from objrec.add.recipe import add_images
    from objrec.provenance import split_fingerprint

    training = importlib.import_module("objrec.train")
    before = split_fingerprint(split_dir / "manifest.csv")
    frozen_pass = importlib.import_module("objrec.train_features")
    real = frozen_pass.frozen_features

    def add_meanwhile(*args, **kwargs):
        if not (tmp_path / "more").exists():
            add_images(split_dir, new_photos(tmp_path / "more"))
        return real(*args, **kwargs)

    monkeypatch.setattr(frozen_pass, "frozen_features", add_meanwhile)
    result = training.train(split_dir, tmp_path / "run", tiny_config)
    assert split_fingerprint(split_dir / "manifest.csv") != before  # the add was made
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    assert recorded["split_fingerprint"] == before
    assert not recorded["split_record"].get("added"), recorded["split_record"].get("added")
    assert result.n_images.train == len(list((split_dir / "train").rglob("img_*")))


@pytest.mark.slow
def test_train_waits_for_an_add_writing_in_its_split_before_listing_it(split_dir, tiny_config):
    """An add holds the split folder while it writes files and then the manifest; a train that
    listed the folder meanwhile could take some of the new photos without their manifest rows.
    Train waits for it, saying so, and lists what the add left."""
    from objrec.train import prepare

    writer = os.open(split_dir, os.O_RDONLY)  # what `objrec add` holds
    fcntl.flock(writer, fcntl.LOCK_EX)

    def add_ends() -> None:
        (split_dir / "train" / "red" / "added.png").write_bytes(
            (split_dir / "train" / "red" / "img_00.jpg").read_bytes()
        )
        os.close(writer)

    reporter = Notes(on_note=add_ends)
    listed = prepare(split_dir, tiny_config, reporter)[0].train_set
    assert (
        reporter.notes[0] == f"waiting for another objrec process to finish writing in {split_dir}"
    )
    assert split_dir / "train" / "red" / "added.png" in [s.path for s in listed.samples]


def objrec(capsys, *args) -> tuple[int, str]:
    """``objrec ARGS`` in this process: its exit code and what it printed on stderr, unwrapped,
    from its error on (the steps it showed before, "loading the model" and the like, left out)."""
    from objrec.cli import main

    code = main([str(a) for a in args])
    said = " ".join(capsys.readouterr().err.split())
    return code, said[said.find("error: ") :] if "error: " in said else said


@pytest.mark.slow
def test_predict_on_a_run_another_train_is_writing_says_so(capsys, tmp_path, split_dir):
    """`objrec predict run photos` while `objrec train data --out run` trained (the folder held,
    no model in it yet) said "no checkpoint at run/model.safetensors: give a run folder written
    by `objrec train`", of a folder objrec train was writing. It says a train is writing it."""
    from objrec.runs import locked_run

    run, photo = tmp_path / "run", next((split_dir / "test").rglob("*.png"))
    with locked_run(run, make=True):
        for command in (("predict", run, photo), ("evaluate", run, split_dir), ("export", run)):
            code, said = objrec(capsys, *command)
            assert code == 1, command
            assert said == (
                f"error: {run} has no model yet: another objrec is training into it now, and "
                f"writes {run / 'model.safetensors'} when it ends"
            ), command
    code, said = objrec(capsys, "predict", run, photo)  # the train has ended
    assert code == 1 and said.startswith(f"error: no checkpoint at {run / 'model.safetensors'}")


@pytest.mark.slow  # two CLI calls, 0.2 s
def test_predict_on_a_killed_run_with_no_model_yet_says_how_to_continue_it(
    capsys, tmp_path, split_dir
):
    """A train killed (kill -9, a power cut) before it wrote its model leaves only its training
    state: predict said "give a run folder written by `objrec train`" of one. It says how to
    continue it, as a command that parses (it said `objrec train --resume RUN`, missing DATA),
    naming the data folder the training state records."""
    import torch
    from safetensors.torch import save_file

    from objrec.run_files import LAST
    from tests.conftest import fake_checkpoint

    run, photo = tmp_path / "run", next((split_dir / "test").rglob("*.png"))
    run.mkdir()
    fake_checkpoint(run / LAST)  # a state that does not say its data folder
    code, said = objrec(capsys, "predict", run, photo)
    assert code == 1
    assert said == (
        f"error: {run} holds an interrupted run and no model yet: continue it with "
        f"`objrec train DATA --resume {run}`"
    )
    header = {"objrec": json.dumps({"data_dir": str(split_dir), "kind": "training_state"})}
    save_file({"x": torch.zeros(1)}, run / LAST, metadata=header)
    code, said = objrec(capsys, "predict", run, photo)
    assert code == 1 and said.endswith(f"`objrec train {split_dir} --resume {run}`")


@pytest.mark.slow  # waits PROBE_WAIT for the refusal
def test_a_train_starting_while_a_command_probes_its_run_folder_is_not_refused(
    tmp_path, monkeypatch
):
    """predict, evaluate and serve probe a run with no model (is a train writing it?) with a
    shared lock held for microseconds; a train starting in that moment was refused as if
    another train held the folder. A lock let go within the probe's wait is waited
    for; one held on is still refused."""
    import time
    import types

    from objrec import runs
    from objrec.errors import ObjrecError
    from objrec.runs import locked_run

    run = tmp_path / "run"
    run.mkdir()
    probe = os.open(run, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(probe, fcntl.LOCK_SH)
    waited = []

    def probe_lets_go(seconds: float) -> None:  # during the train's first wait, whatever the load
        if not waited:
            os.close(probe)
        waited.append(seconds)

    clock = types.SimpleNamespace(monotonic=time.monotonic, sleep=probe_lets_go)
    with monkeypatch.context() as patched:
        patched.setattr(runs, "time", clock)
        with locked_run(run, make=False):
            pass
    assert len(waited) == 1
    other = os.open(run, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(other, fcntl.LOCK_SH)  # held on: another train
    try:
        with pytest.raises(ObjrecError, match="another"), locked_run(run, make=False):
            pass
    finally:
        os.close(other)


@pytest.mark.slow  # gives the second command a second to go first
def test_two_commands_moving_the_older_file_index_at_once_take_turns(tmp_path, monkeypatch):
    """The first check or split after an upgrade moves the files' SHA-256 an older objrec kept in
    facts.sqlite into the feature store, then drops that table. Two at once (two checks, a check
    and a split) both found the table, and the slower failed with "cannot use the image facts
    store ... (no such table: file_sha256)". A second command starting while the first moves it
    waits for it, then finds nothing to move."""
    import sqlite3
    import threading

    from objrec.cache_folder import store_dir
    from objrec.reading import OLD_INDEX, adopt_old_index, facts_file
    from objrec.store import FeatureStore

    photo = tmp_path / "photo.png"
    make_image((200, 40, 40), seed=1).save(photo)
    s = photo.stat()
    row = (str(photo), s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino, "ab" * 32, 1.0)
    facts_file().parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(facts_file()) as db:
        db.execute(
            f"CREATE TABLE {OLD_INDEX}(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "ctime_ns INTEGER, ino INTEGER, sha256 TEXT NOT NULL, seen REAL NOT NULL)"
        )
        db.execute(f"INSERT INTO {OLD_INDEX} VALUES (?,?,?,?,?,?,?)", row)
    failed: list[BaseException] = []

    def command() -> None:
        try:
            with FeatureStore(store_dir()) as index:
                adopt_old_index(index, facts_file())
        except BaseException as exc:
            failed.append(exc)

    second = threading.Thread(target=command)
    adopt = FeatureStore.adopt_files

    def adopt_while_another_starts(store, rows):
        if not second.is_alive() and second.ident is None:
            second.start()
            second.join(timeout=1.0)  # the second's whole move, where nothing makes it wait
        adopt(store, rows)

    monkeypatch.setattr(FeatureStore, "adopt_files", adopt_while_another_starts)
    command()
    second.join()
    assert failed == []
    with FeatureStore(store_dir()) as index:
        assert index.readable_digests([photo], whole=True)[0] == ["ab" * 32]

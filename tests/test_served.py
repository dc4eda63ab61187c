"""The served model: loaded again when its files are replaced, never by a broken one."""

import os
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from objrec.serve.served import ServedModel, checking_lifespan


class Loads:
    """A stand-in for loading a model: the checkpoint's text as the model's classes, or its
    error for a file that says ``broken``."""

    def __init__(self, path):
        self.path, self.count = path, 0

    def __call__(self):
        self.count += 1
        text = self.path.read_text()
        if "broken" in text:
            raise ValueError("not a checkpoint")
        return SimpleNamespace(classes=text.split())


def write(path, text, mtime_ns):
    """``text`` into ``path`` in place, with a given modification time (a write in the same
    clock tick would otherwise leave it unchanged)."""
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def served(tmp_path):
    checkpoint = tmp_path / "model.safetensors"
    write(checkpoint, "cat dog", 10**18)
    return ServedModel(Loads(checkpoint), [checkpoint, tmp_path / "threshold.json"])


def test_a_replaced_checkpoint_is_loaded_once_it_holds_still(served, tmp_path, caplog):
    """A file written in place is loaded only once two looks find it the same (whole)."""
    checkpoint = tmp_path / "model.safetensors"
    assert served.check() is False and served.load.count == 1  # nothing changed
    write(checkpoint, "cat", 2 * 10**18)
    assert served.check() is False  # changed since the last look: maybe still being written
    write(checkpoint, "cat dog emu", 3 * 10**18)
    assert served.check() is False
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        assert served.check() is True
    assert served.recognizer.classes == ["cat", "dog", "emu"] and served.load.count == 2
    assert served.now()[2]["checkpoint_modified"] == "2065-01-24T05:20:00Z"
    assert f"reloaded {checkpoint} (written 2065-01-24T05:20:00Z)" in caplog.text
    assert served.check() is False and served.load.count == 2


def test_a_checkpoint_that_fails_to_load_leaves_the_model_served_warned_once(
    served, tmp_path, caplog
):
    checkpoint = tmp_path / "model.safetensors"
    write(checkpoint, "broken", 2 * 10**18)
    with caplog.at_level("WARNING", logger="objrec.serve.served"):
        results = [served.check() for _ in range(4)]
    assert results == [False] * 4 and served.recognizer.classes == ["cat", "dog"]
    assert served.load.count == 2  # tried once for that file, not at every look
    assert caplog.text.count("changed, but its model could not be used (not a checkpoint)") == 1
    assert "still answering with the model loaded at " + served.loaded_at in caplog.text
    write(checkpoint, "emu", 3 * 10**18)
    assert [served.check(), served.check()] == [False, True]
    assert served.recognizer.classes == ["emu"]


def test_a_kept_threshold_written_beside_the_model_loads_it_again(served, tmp_path, caplog):
    """``evaluate --keep-threshold`` after serve started: the threshold is read as the model
    loads, so the model is loaded again. The log's line named the checkpoint and its old time
    alone, as though it had been loaded again for nothing; it names the threshold's file too."""
    threshold = tmp_path / "threshold.json"
    write(threshold, "{}", 2 * 10**18)
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        assert [served.check(), served.check()] == [False, True] and served.load.count == 2
        threshold.unlink()
        assert [served.check(), served.check()] == [False, True] and served.load.count == 3
    checkpoint = tmp_path / "model.safetensors"
    assert (
        f"reloaded {checkpoint} with {threshold} (written 2033-05-18T03:33:20Z) in" in caplog.text
    )
    assert f"reloaded {checkpoint} with {threshold} (removed) in" in caplog.text


@pytest.mark.slow
def test_a_checkpoint_rewritten_in_the_tick_of_the_look_before_its_load_is_loaded_again(
    tmp_path, monkeypatch
):
    """share's hole (racy55) in serve: a model written into the checkpoint in place with the same
    size and modification time (``cp -p``, or a second write within the tick of the file clock)
    as the served one was loaded, changed within a tick of the look before its load, left its
    inode, size and time as they were, and the server answered with the old model for good.
    Such a file is hashed at the next look and loaded again when it is not the model served; a
    look a tick after the change that finds it so vouches for it, and it is not read again."""
    from objrec.file_index import hash_file
    from objrec.serve import served as served_module

    class Digested(Loads):
        def __call__(self):
            model = super().__call__()
            model.model_digest = hash_file(self.path)  # Recognizer.model_digest's
            return model

    checkpoint, now = tmp_path / "model.safetensors", time.time_ns()
    clock = [now / 1e9]
    monkeypatch.setattr(
        served_module,
        "time",
        SimpleNamespace(time=lambda: clock[0], perf_counter=time.perf_counter),
    )
    write(checkpoint, "cat dog", now)  # written as the server looks at it
    served = ServedModel(Digested(checkpoint), [checkpoint, tmp_path / "threshold.json"])
    stamp = served.stamp
    write(checkpoint, "cat emu", now)  # the same size, dated back
    assert served.stamps() == stamp
    clock[0] += 0.001
    assert served.check() is True and served.recognizer.classes == ["cat", "emu"]
    reads = []
    monkeypatch.setattr(
        served_module, "reads_as", lambda p, d: reads.append(p) or hash_file(p) == d
    )
    for seconds in (0.002, 5, 6, 7):  # within the tick of the change, then after it
        clock[0] = now / 1e9 + seconds
        assert served.check() is False
    assert len(reads) == 2 and served.load.count == 2


def test_a_running_app_looks_at_its_files_until_it_stops():
    """Every few seconds (here 0.01) while it runs, on a thread of its own; never once stopped."""
    looked = []
    app = FastAPI(
        lifespan=checking_lifespan(
            SimpleNamespace(check=lambda: looked.append(1), stop=lambda: None), 0.01
        )
    )
    with TestClient(app):
        deadline = time.monotonic() + 60
        while len(looked) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(looked) >= 2
    time.sleep(0.05)  # a look begun as it stopped has ended
    stopped = len(looked)
    time.sleep(0.05)
    assert len(looked) == stopped


@pytest.mark.slow
def test_a_look_that_fails_is_logged_and_the_app_looks_again(caplog):
    """A failure in a look outside the model's loading (which ``check`` answers itself) ended the
    looking task, unseen: the server never loaded a retrained model again, and said nothing."""
    looked = []

    def check():
        looked.append(1)
        if len(looked) < 3:
            raise OSError("the disk went away")

    app = FastAPI(lifespan=checking_lifespan(SimpleNamespace(check=check, stop=lambda: None), 0.01))
    with caplog.at_level("WARNING", logger="objrec.serve.served"), TestClient(app):
        deadline = time.monotonic() + 60
        while len(looked) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(looked) >= 4  # looked again after two failures
    assert caplog.text.count("could not look at the served model's files (the disk went away)") == 1


@pytest.mark.slow
def test_a_model_loaded_as_the_server_stops_is_not_served_nor_said_to_be(served, tmp_path, caplog):
    """Ctrl-C while a retrained model loaded: the stop waited for the load (its thread cannot be
    stopped midway), which then said "reloaded ...: answering with it now" after the server had
    stopped. The stop now says it waits for the load, and the model loaded is dropped."""
    loading, release = threading.Event(), threading.Event()
    load = served.load
    served.load = lambda: loading.set() or (release.wait(60) and load())
    write(tmp_path / "model.safetensors", "emu", 2 * 10**18)
    client = TestClient(FastAPI(lifespan=checking_lifespan(served, 0.01)))
    client.__enter__()
    assert loading.wait(60)
    stopping = threading.Thread(target=client.__exit__, args=(None, None, None))
    with caplog.at_level("INFO", logger="objrec.serve.events"):
        stopping.start()
        assert served.stopped.wait(60)
        release.set()
        stopping.join(60)
    assert f"stopping once the model being loaded ({tmp_path / 'model.safetensors'})" in caplog.text
    assert served.recognizer.classes == ["cat", "dog"] and "reloaded" not in caplog.text


STAMPS = [((n, 0, n * 10**9), None) for n in range(2)]
"""Two versions of the served files, their checkpoints written a second apart."""


def mixed_while_replaced(served, read) -> list:
    """What ``read(served)`` (a list of what did not match) gives while a thread replaces the
    model 2,000 times, switching threads every microsecond, between the versions of
    :data:`STAMPS` (the model's ``version`` says which)."""
    versions = iter(range(10**9))
    served.load = lambda: SimpleNamespace(version=next(versions) % 2, classes=[])
    served.reload(STAMPS[0])
    done, mixed = threading.Event(), []

    def replace():
        for n in range(1, 2001):
            served.reload(STAMPS[n % 2])
        done.set()

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        thread = threading.Thread(target=replace)
        thread.start()
        while not done.is_set():
            mixed += read(served)
        thread.join()
    finally:
        sys.setswitchinterval(switching)
    return mixed


def test_the_model_served_and_its_mark_are_read_together_while_it_is_replaced(served):
    """``/predict`` sends which model answered in a header; it read the mark, then the model, so
    a reload between the two sent the new model's answer under the old model's mark, and the
    page drew it against the old model's unknown line. A thread replaces the model
    again and again (switching threads every microsecond) while ``now`` is read."""

    def read(served):
        recognizer, mark, _ = served.now()
        return [mark] if mark != served.mark_of(STAMPS[recognizer.version]) else []

    assert mixed_while_replaced(served, read) == []


def test_info_says_the_model_of_its_mark_while_it_is_replaced(served):
    """``/info`` read the mark with the model, then the load and checkpoint times apart, so a
    reload between them said the new model's times under the old model's mark, and the page,
    seeing no new mark after, kept them. ``now`` reads them together."""

    def read(served):
        recognizer, mark, info = served.now()
        stamp = STAMPS[recognizer.version]
        said = (mark, info["checkpoint_modified"])
        return [mark] if said != (served.mark_of(stamp), served.checkpoint_time(stamp)) else []

    assert mixed_while_replaced(served, read) == []

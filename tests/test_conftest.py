"""What ``tests/conftest.py`` and pytest's settings in ``pyproject.toml`` do to every test's
set-up, checked where it is cheap to get wrong: a quick-tier test pays it 1,962 times."""

import os
import time

import pytest


def test_a_tests_tmp_path_has_no_link_beside_it_naming_the_newest(tmp_path, tmp_path_factory):
    """pytest wrote a ``<name>current`` link beside each folder ``tmp_path`` and ``mktemp`` made
    (0.6 ms a symlink on the 2-core machine's ext4); ``conftest.without_current_links`` leaves
    them out."""
    prefix = tmp_path.name.rstrip("0123456789")
    assert not (tmp_path.parent / f"{prefix}current").is_symlink()
    made = tmp_path_factory.mktemp("made")
    assert not (made.parent / f"{made.name.rstrip('0123456789')}current").is_symlink()


def test_anyio_s_plugin_wraps_no_fixture(pytestconfig):
    """anyio's pytest plugin (installed with FastAPI) wrapped every fixture's set-up, 0.4 ms a
    test, and no test here is async: ``addopts`` turns it off."""
    assert not pytestconfig.pluginmanager.has_plugin("anyio")


def test_a_test_that_opens_a_session_run_s_cache_fails_once_at_its_end(tmp_path):
    """predict on the session's run (``trained_once``), or on a plain copy of it, opened the
    session's feature store: SQLite made and removed ``index.sqlite-wal`` and ``-shm`` while
    tests in the other worker copied that cache folder (``own_copy``), which then met a file
    gone, now and then (1 copy in 16 in a loop). ``conftest.left_as_made`` fails the test that
    did it, at its end, and only that one; a run made with a database still open is refused."""
    import sqlite3
    from types import SimpleNamespace

    from .conftest import keep_state, left_as_made, made_state

    session = tmp_path / "trained"
    (session / "run").mkdir(parents=True)
    (session / "cache" / "store").mkdir(parents=True)
    index = session / "cache" / "store" / "index.sqlite"
    db = sqlite3.connect(index)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE files (path TEXT)")
    with pytest.raises(AssertionError, match="still open"):
        keep_state(session)
    db.close()
    hour_ago = time.time() - 3600  # made long before the tests that take it
    for path in [session / "run", index, index.parent, index.parent.parent]:
        os.utime(path, (hour_ago, hour_ago))
    keep_state(session)
    request = SimpleNamespace(node=SimpleNamespace(funcargs={"trained_once": session / "run"}))
    left_as_made(request)  # nothing changed
    reader = sqlite3.connect(index)
    reader.execute("SELECT * FROM files").fetchall()  # only read, and closed: -wal made, removed
    reader.close()
    with pytest.raises(pytest.fail.Exception, match=r"trained_once .* changed \(cache/store\)"):
        left_as_made(request)
    left_as_made(request)  # said by the test that did it, not by each one after
    made_state.cache_clear()


def test_a_sync_in_a_test_waits_for_no_disk_and_still_refuses_a_closed_descriptor(tmp_path):
    """The quick tier's 1,730 ``os.fsync`` calls waited 3.3 ms each on a busy disk, for what no
    test can see (a file whole after a power cut): ``conftest.without_disk_syncs``."""
    import errno

    assert os.fsync.__name__ == "sync_not_waited"
    fd = os.open(tmp_path, os.O_RDONLY)  # a folder, as a sync of a folder's entries opens it
    os.fsync(fd)
    os.close(fd)
    with pytest.raises(OSError) as refused:
        os.fsync(fd)
    assert refused.value.errno == errno.EBADF
    with open(tmp_path / "f", "wb") as file:
        os.fsync(file)  # as the real one, a file object too


def test_a_copy_of_a_session_run_holds_the_model_save_checkpoint_writes_and_names_it(
    trained_once, tmp_path
):
    """``conftest.own_copy`` writes the copy's model from the tensors it read, without building
    the model (19 of a copy's 30 ms): the same bytes as ``save_checkpoint`` of the loaded model,
    its summary naming them, its cache folder and data folder its own."""
    import json

    from objrec.checkpoint import load_model, model_digest, save_checkpoint
    from objrec.run_files import BEST

    from .conftest import own_copy

    copy = own_copy(trained_once, tmp_path / "run", tmp_path / "cache", tmp_path / "data")
    model, meta = load_model(copy)
    assert (meta.train_config.cache_dir, meta.data_dir) == (
        str(tmp_path / "cache"),
        str((tmp_path / "data").resolve()),
    )
    save_checkpoint(tmp_path / "again.safetensors", model, meta)
    assert (tmp_path / "again.safetensors").read_bytes() == (copy / BEST).read_bytes()
    summary = json.loads((copy / "summary.json").read_text())
    assert summary["model_digest"] == model_digest(copy)
    assert json.loads((copy / "config.json").read_text())["cache_dir"] == str(tmp_path / "cache")

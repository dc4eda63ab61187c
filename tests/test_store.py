"""The feature store under concurrent writers, a SIGKILL mid-write, pruning, and the file index."""

import errno
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from objrec.backbones import get_backbone
from objrec.bodies import TinyBody
from objrec.cache import FeatureCache
from objrec.cache_folder import database_error, store_dir
from objrec.data import scan_class_folder
from objrec.errors import ObjrecError
from objrec.features import feature_table, stored_tables
from objrec.file_index import hash_file
from objrec.frozen import FrozenBody, PassSettings, compute_features
from objrec.store import FLOAT32, FeatureStore, Lookup, Space
from objrec.views import ViewSpec, view_seed

from .conftest import make_class_folder, make_image, taken_before

DATA = get_backbone("tiny_test").data_config
VIEW = ViewSpec(DATA, "article", 1)

FORK = multiprocessing.get_context("fork")


def writer(cache, folder, first, last, mode, said):
    """Store the article view of the folder's images ``first:last`` from a process forked from
    this one (each image's features computed by this process or another, written to ``cache``);
    ``mode``: ``race``, wait for ``cache/go`` first; ``kill``, spoil the third batch's rows once
    written, before they are indexed, and wait to be killed. Says on ``said`` how far it got."""
    import objrec.store as store

    samples = scan_class_folder(folder).samples[first:last]
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(cache), "torch")
    real, calls = store.FeatureStore.add_entries, [0]

    def hook(self, sid, view, digests, rows, errors, **checks):
        calls[0] += 1
        if mode == "kill" and calls[0] == 3:
            # the batch's rows are reserved and written: spoil them, then wait to be killed
            space = self._spaces[sid]
            garbage = b"\xff" * space.row_bytes * len(digests)
            store.os.pwrite(space._file(), garbage, rows[0] * space.row_bytes)
            said.send("written, not indexed")
            time.sleep(600)
        return real(self, sid, view, digests, rows, errors, **checks)

    store.FeatureStore.add_entries = hook  # in the forked process only
    if mode == "race":
        said.send("ready")
        while not (cache / ".go").exists():
            time.sleep(0.01)
    table = feature_table(body, samples, VIEW, PassSettings(batch_size=2))
    said.send(f"computed {table.computed}")


def child(cache, folder, first, last, mode):
    """:func:`writer` in a forked process, started; ``heard(child)`` is the next thing it says.

    Forked, as PyTorch's data loaders are, not a new interpreter: importing torch, torchvision and
    objrec again took seconds a process, twice the time of each of these tests' own work."""
    ours, theirs = FORK.Pipe(duplex=False)
    process = FORK.Process(target=writer, args=(cache, folder, first, last, mode, theirs))
    process.daemon = True  # a child left waiting by a failed test ends with the test's process
    process.start()
    theirs.close()  # the child's end: reading ours ends when the child does
    process.said = ours
    return process


def heard(process, seconds=300):
    """The next thing ``process`` says, or what it ended with (its exit code) if it says nothing
    more."""
    try:
        if process.said.poll(seconds):
            return process.said.recv()
    except EOFError:
        pass
    process.join(seconds)
    return f"nothing more: exit code {process.exitcode}"


def expected(samples, spec=VIEW):
    seeds = [view_seed(hash_file(s.path), spec.view) for s in samples]
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(None), "torch")
    features = compute_features(body, samples, spec, seeds=seeds).features
    return {hash_file(s.path): f for s, f in zip(samples, features, strict=True)}


def every_readable_row(cache):
    """(digest, features) of every entry the store would serve."""
    with FeatureStore(cache / "store") as store:
        rows = store.db.execute("SELECT space, digest, row FROM entries").fetchall()
        spaces = {
            sid: store.space(sid, dim, dtype)
            for sid, dim, dtype in store.db.execute("SELECT id, dim, dtype FROM spaces")
        }
        return [(d, torch.from_numpy(spaces[s].read(np.array([r])))[0]) for s, d, r in rows]


@pytest.mark.slow
def test_two_concurrent_writers_leave_only_correct_rows(tmp_path):
    folder = make_class_folder(tmp_path / "photos", per_class=10)
    samples = scan_class_folder(folder).samples
    cache = tmp_path / "cache"
    cache.mkdir()
    a, b = child(cache, folder, 0, 20, "race"), child(cache, folder, 10, 30, "race")
    assert heard(a) == "ready" and heard(b) == "ready"
    (cache / ".go").touch()
    outs = [heard(p) for p in (a, b)]
    for p in (a, b):
        p.join(300)
    assert a.exitcode == 0 and b.exitcode == 0, outs
    computed = [int(out.split()[-1]) for out in outs]
    assert sum(computed) >= 30  # every image by one of them, the shared ten maybe by both
    rows = every_readable_row(cache)
    want = expected(samples)
    assert sorted(d for d, _ in rows) == sorted(want)
    for digest, features in rows:
        assert torch.allclose(features, want[digest], atol=1e-6)


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_no_wrong_row(tmp_path):
    folder = make_class_folder(tmp_path / "photos", per_class=4)
    samples = scan_class_folder(folder).samples
    cache = tmp_path / "cache"
    killed = child(cache, folder, 0, len(samples), "kill")
    assert heard(killed) == "written, not indexed"
    os.kill(killed.pid, signal.SIGKILL)
    killed.join()
    rows = every_readable_row(cache)
    want = expected(samples)
    assert len(rows) == 4  # two batches of two were indexed; the spoiled third one is not
    for digest, features in rows:
        assert torch.allclose(features, want[digest], atol=1e-6)

    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(cache), "torch")
    table = feature_table(body, samples, VIEW)
    assert table.computed == len(samples) - 4
    loaded = table.load().features
    for s, f in zip(samples, loaded, strict=True):
        assert torch.allclose(f, want[hash_file(s.path)], atol=1e-6)


def stored(tmp_path, samples, dtype="float32"):

    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache", dtype), "torch")
    return body, [feature_table(body, samples, ViewSpec(DATA, "article", v)) for v in (0, 1)]


@pytest.mark.slow
def test_prune_keeps_a_folder_and_compacts_without_changing_a_row(tmp_path):
    keep = make_class_folder(tmp_path / "keep", per_class=3)
    drop = make_class_folder(tmp_path / "drop", per_class=3, classes=("red",))
    for p in drop.rglob("*.*"):  # other content than keep's red images
        p.write_bytes(p.read_bytes() + b"\0")
    kept = scan_class_folder(keep).samples
    body, _ = stored(tmp_path, [*scan_class_folder(drop).samples, *kept])
    held = stored(tmp_path, kept)[1]
    before = [t.load().features for t in held]
    cache = body.cache
    arrays = cache.root / "store"
    size = sum(p.stat().st_size for p in arrays.glob("*.float32"))
    (cache.root / "0123456789abcdef0123456789abcdef").mkdir()  # an entry of the old format
    done = cache.prune(None, keep)
    assert done.store.entries == 6 and done.old_entries == 1  # 3 images x 2 views
    assert sum(p.stat().st_size for p in arrays.glob("*.float32")) == size * 9 // 12
    _after_body, after = stored(tmp_path, kept)
    assert [t.computed for t in after] == [0, 0]
    for table, old in zip(after, before, strict=True):
        assert torch.equal(table.load().features, old)
    assert len(list((cache.root / "store").glob("*.float32"))) == 1
    said = "was pruned by another process or thread after this one had looked up features in it"
    with pytest.raises(ObjrecError, match=f"{said}: run it again$"):
        held[0].load()  # rows looked up before the compaction are never read from the new file


def kept_across_a_clear(root: Path, sid: str) -> tuple[FeatureStore, Space, Lookup]:
    """The store ``root`` that wrote image a's row in space ``sid``, its space and a's lookup,
    kept as the store is let go of (as a command's step lets it go) and cleared
    (``cache --clear``)."""
    from objrec.store import remove_store

    store = FeatureStore(root)
    space = store.space(sid, 4)
    space.write("centre", ["a" * 32], np.full((1, 4), 1.0, np.float32))
    found = store.lookup(sid, "centre", ["a" * 32])
    store.close()
    remove_store(root)
    return store, space, found


def test_rows_looked_up_before_a_clear_are_never_read_from_another_writers_rows(tmp_path):
    """review60a M1: a lookup kept its space's generation alone, which a new index (after a
    clear) starts at 0 again, so rows looked up before a clear read what another writer put at
    the same place since (image a's lookup read z's features, with no error)."""
    root, sid = tmp_path / "cache" / "store", "s" * 32
    reader, space, found = kept_across_a_clear(root, sid)
    with FeatureStore(root) as other:  # another writer of the same space
        other.space(sid, 4).write("centre", ["z" * 32], np.full((1, 4), 9.0, np.float32))
    said = f"the feature store {root} was cleared by another process or thread after this one "
    with pytest.raises(ObjrecError, match=f"^{said}had looked up features in it: run it again$"):
        space.read(found.rows, found.generation)
    reader.close()


def test_a_table_read_after_its_store_was_let_go_of_leaves_no_array_file_open(tmp_path):
    """A store let go of (``FeatureCache.close``) opens again on its next use, a table looked up
    before reading on from its space; but a closed store forgets its spaces, so the space's
    array file, opened again by that read, was closed by no later close: one descriptor a space
    left open for the life of the process (a Python caller's thread too). The store closes it
    with the rest."""
    root, sid = tmp_path / "cache" / "store", "s" * 32
    store = FeatureStore(root)
    space = store.space(sid, 4)
    space.write("centre", ["a" * 32], np.full((1, 4), 1.0, np.float32))
    found = store.lookup(sid, "centre", ["a" * 32])
    store.close()
    assert space.read(found.rows, found.generation).tolist() == [[1.0] * 4]  # opened again
    store.close()
    assert not store.is_open and space._fd is None


def test_a_space_kept_across_a_clear_refuses_to_write_in_one_sentence(tmp_path):
    """store60: a ``Space`` kept from before another process's clear wrote into the new index,
    which lacks its space, and failed with a TypeError (``reserve`` unpacked None)."""
    root, sid = tmp_path / "cache" / "store", "s" * 32
    writer, space, _ = kept_across_a_clear(root, sid)
    said = f"the feature store {root} has no space {sid}: it was cleared or pruned by another "
    with pytest.raises(
        ObjrecError, match=f"^{said}process or thread since the space was made: run it again$"
    ):
        space.write("centre", ["b" * 32], np.full((1, 4), 2.0, np.float32))
    writer.close()


def test_rows_wider_or_narrower_than_their_space_are_refused_naming_the_body(tmp_path):
    """review61b H1: a timm body declaring the wrong feature size failed in the frozen pass with
    a bare ``AssertionError: ((16, 1024), 288)`` (gone under ``python -O``): one sentence now,
    naming the body by its space's label and both widths, and nothing is written."""
    root = tmp_path / "store"
    with FeatureStore(root) as store:
        space = store.space("s" * 32, 288, label="timm:mobilenetv3_small_050 @ 224px")
        with pytest.raises(ObjrecError) as refused:
            space.write("centre", ["a" * 32] * 2, np.ones((2, 1024), np.float32))
        assert str(refused.value) == (
            "the body timm:mobilenetv3_small_050 @ 224px gives 1024 features an image, not the "
            f"288 it declares (its n_features), by which its space in the feature store {root} "
            "was made"
        )
        assert store.lookup("s" * 32, "centre", ["a" * 32]).rows.tolist() == [-1]


@pytest.mark.slow
def test_features_beyond_float16_are_refused_naming_the_fix_and_never_stored(tmp_path):
    """review65a L1: a user's body giving features of a million was stored in float16 as inf
    (numpy's RuntimeWarning the only word of it), and the training then failed with a NaN loss,
    telling the user to lower lr, which never helped. One sentence now names the body and
    float32, nothing is warned or written; float32 stores them, and a body's own inf is stored
    as it comes (the store does not judge the body)."""
    root = tmp_path / "store"
    big = np.full((2, 4), 1.5e6, np.float32)
    with FeatureStore(root) as store, warnings.catch_warnings():
        warnings.simplefilter("error")
        space = store.space("s" * 32, 4, "float16", label="big_test @ 32px")
        with pytest.raises(ObjrecError) as refused:
            space.write("centre", ["a" * 32, "b" * 32], big)
        assert str(refused.value) == (
            "the body big_test @ 32px gives features as large as 1.5e+06, beyond the range of "
            "the feature store's float16 (±65504): store them as float32 "
            "(`feature_dtype='float32'`)"
        )
        assert store.lookup("s" * 32, "centre", ["a" * 32]).rows.tolist() == [-1]
        wide = store.space("w" * 32, 4, "float32")
        wide.write("centre", ["a" * 32], big[:1])
        space.write("centre", ["c" * 32], np.full((1, 4), np.inf, np.float32))
        assert store.lookup("w" * 32, "centre", ["a" * 32]).rows.tolist() == [0]


def test_a_space_made_for_a_wrong_width_and_left_empty_takes_the_right_one(tmp_path):
    """review61b H1: the crash of a body declaring the wrong feature size left its space made
    with that width and no row; the same body, declaring its width right after the fix, was
    refused ("space ... holds rows of 288 values, not 1024"). An empty space takes the width
    now; one holding rows still refuses another."""
    with FeatureStore(tmp_path / "store") as store:
        store.space("e" * 32, 288)
        store.space("f" * 32, 4).write("centre", ["a" * 32], np.ones((1, 4), np.float32))
    with FeatureStore(tmp_path / "store") as store:
        space = store.space("e" * 32, 1024)
        space.write("centre", ["a" * 32], np.ones((1, 1024), np.float32))
        assert store.space_dim("e" * 32) == 1024
        with pytest.raises(ValueError, match="holds rows of 4 values, not 8"):
            store.space("f" * 32, 8)


def test_a_command_lets_go_of_the_stores_it_opened_and_of_no_other(tmp_path):
    """``cache.stores_held`` closed every store of the process at evaluate's end: one another
    thread had opened (a served model's) was closed from the wrong thread, a ProgrammingError
    that failed the evaluation."""
    from objrec.cache import stores_held

    before, inside = FeatureCache(tmp_path / "a"), FeatureCache(tmp_path / "b")
    assert before.store.is_open  # its holder's, open before the command
    with stores_held():
        assert inside.store.is_open and before.store.is_open
    assert before.store.is_open and not inside.store.is_open
    before.close()


def test_a_command_lets_go_of_every_store_it_opened_though_closing_one_fails(tmp_path, monkeypatch):
    """A command's stores were closed one after the other at its end (``stores_held``), and the
    first whose close raised (its last rows synced on a full disk) left the others open, their
    locks held, which a prune or clear waits for (``evaluate --against`` opens the earlier run's
    cache folder beside its own). Each is closed; the first error is raised after."""
    from objrec import store as store_module
    from objrec.cache import stores_held

    from .conftest import store_held

    first, second = FeatureCache(tmp_path / "a"), FeatureCache(tmp_path / "b")

    def full(store: FeatureStore) -> None:
        if store.root.parent == first.root:
            raise ObjrecError("the disk of the cache folder is full")

    monkeypatch.setattr(store_module.FeatureStore, "flush", full)
    with pytest.raises(ObjrecError, match="is full"), stores_held():
        assert first.store.is_open and second.store.is_open
    assert not store_held(tmp_path / "a") and not store_held(tmp_path / "b")


def test_a_store_that_fails_to_close_after_a_command_s_error_keeps_that_error(
    tmp_path, monkeypatch, caplog
):
    """A command's error (a damaged image, a refused setting) was replaced by its store's close
    failing as the command ended (its last rows synced on a full disk): the user read of the
    disk, never of what stopped the command. The close's error is logged; the command's is
    raised, and the store is still let go of."""
    from objrec import store as store_module
    from objrec.cache import stores_held

    from .conftest import store_held

    def full(store: FeatureStore) -> None:
        raise ObjrecError("the disk of the cache folder is full")

    monkeypatch.setattr(store_module.FeatureStore, "flush", full)
    cache = FeatureCache(tmp_path / "a")
    with pytest.raises(ValueError, match="the command's own error"), stores_held():
        assert cache.store.is_open
        raise ValueError("the command's own error")
    assert "failed too: the disk of the cache folder is full" in caplog.text
    assert not store_held(tmp_path / "a")


def test_checking_an_evaluation_s_images_keeps_a_store_its_caller_holds(tmp_path):
    """``current.same_contents`` (is an evaluation of the images there now? the report's and
    the model card's question) closed the thread's store as it returned, one its caller held
    open too (a Python caller reading a table, then building a report): a prune elsewhere could
    go on under the caller's lookups. It lets go of a store it opened, and of no other."""
    from objrec.current import image_set_fingerprint, same_contents

    from .conftest import record_of

    photos = make_class_folder(tmp_path / "photos", per_class=2, classes=("red",))
    paths = sorted((photos / "red").iterdir())
    digests = [hash_file(p) for p in paths]
    record = record_of({"image_set": image_set_fingerprint(digests, ["red"] * 2)})
    cache = FeatureCache(tmp_path / "cache")
    assert same_contents(record, paths, ["red"] * 2, cache.root)
    assert not cache.store.is_open  # opened by the check: let go of
    assert cache.store.indexed_files() == 2  # the caller's, open now
    assert same_contents(record, paths, ["red"] * 2, cache.root) and cache.store.is_open
    cache.close()


def test_a_command_lets_go_of_no_store_another_thread_opened_meanwhile(tmp_path):
    """late60 L4: ``cache.stores_held`` let go of every store opened during the block, one that
    another thread of the process opened meanwhile (a Python API caller's) too: closed from the
    wrong thread, SQLite's ProgrammingError ended the command, and the other thread's store."""
    import threading

    from objrec.cache import stores_held

    mine, theirs = FeatureCache(tmp_path / "a"), FeatureCache(tmp_path / "b")
    opened, done, still_open = threading.Event(), threading.Event(), []

    def other_caller():
        store = theirs.store
        assert store.is_open
        opened.set()
        done.wait(60)
        still_open.append(store.is_open)
        theirs.close()
        still_open.append(store.is_open)

    thread = threading.Thread(target=other_caller)
    with stores_held():
        assert mine.store.is_open
        thread.start()
        assert opened.wait(60)
    assert not mine.store.is_open
    done.set()
    thread.join(60)
    assert still_open == [True, False]


def in_threads(*work: Callable[[], object]) -> list[str]:
    """Run each of ``work`` in a thread of its own, all at once; what each raised (its repr)."""
    import threading

    failed: list[str] = []

    def running(one: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                one()
            except Exception as exc:
                failed.append(repr(exc))

        return run

    threads = [threading.Thread(target=running(one)) for one in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return failed


def test_threads_opening_one_cache_folder_at_once_each_use_a_store_of_their_own(tmp_path):
    """store61's item 3, left: a process had one store a folder, made by a check-then-create that
    two threads could both pass, and shared by every thread, where SQLite lets only the thread
    that opened a connection use it: another thread's use raised ProgrammingError (a Python API
    caller training in one thread and predicting in another). Two threads opening the folder at
    once (a barrier), then each writing and looking up rows, each get their own rows, from one
    store of their own however often they ask for it."""
    import threading

    at_once, found = threading.Barrier(2, timeout=60), {}

    def use(name: str) -> None:
        cache = FeatureCache(tmp_path / "cache")
        try:
            at_once.wait()
            store = cache.store
            at_once.wait()  # both opened before either uses it
            space = store.space("s" * 32, 4)
            space.write("centre", [name * 32], np.full((1, 4), ord(name), np.float32))
            looked = cache.store.lookup("s" * 32, "centre", [name * 32])
            rows = space.read(looked.rows, looked.generation).tolist()
            found[name] = (cache.store is store, rows)
            at_once.wait()  # both used before either lets go
        except BaseException:
            at_once.abort()  # the other thread's wait ends too
            raise
        cache.close()

    assert in_threads(lambda: use("a"), lambda: use("b")) == []
    assert found == {"a": (True, [[97.0] * 4]), "b": (True, [[98.0] * 4])}


def test_rows_written_count_each_thread_s_own_rows_however_the_others_write(tmp_path):
    """store62 left unsure: since each thread has a store of its own, ``rows_written`` counts
    per thread. That is the tally ``train``'s Ctrl-C sentence takes a difference of (what this
    run left for the next), which a training in another thread must not move; a caller reads a
    call's own counts from its result. Two threads writing 2 and 3 rows into one folder at once
    each count theirs, and the main thread, which wrote none, 0."""
    import threading

    at_once, counted = threading.Barrier(2, timeout=60), {}

    def write(n: int) -> None:
        cache = FeatureCache(tmp_path / "cache")
        space = cache.store.space("s" * 32, 4)
        at_once.wait()
        for i in range(n):
            space.write("centre", [f"{n}{i}" * 16], np.ones((1, 4), np.float32))
        at_once.wait()  # both wrote before either counts
        cache.close()
        counted[n] = cache.rows_written

    assert in_threads(lambda: write(2), lambda: write(3)) == []
    assert counted == {2: 2, 3: 3} and FeatureCache(tmp_path / "cache").rows_written == 0


def test_a_clear_in_one_thread_waits_for_another_thread_s_store(tmp_path):
    """A clear (or prune) in one thread of a process takes the store's lock as another process's
    would, so it waits for another thread using the store to let go of it, as it waits for
    another process; it closed the process's one store from the wrong thread instead
    (ProgrammingError), or would have pruned under the other thread's reads."""
    import threading

    cache = FeatureCache(tmp_path / "cache")
    opened, told, order = threading.Event(), threading.Event(), []

    def other_caller() -> None:
        store = cache.store
        store.space("s" * 32, 4).write("centre", ["a" * 32], np.ones((1, 4), np.float32))
        opened.set()
        assert told.wait(60)
        order.append("let go")
        cache.close()

    def clearing() -> None:
        assert opened.wait(60)
        try:
            cache.clear(wait=told.set)
        finally:
            told.set()  # a clear that failed ends the other thread's wait too
        order.append("cleared")

    assert in_threads(other_caller, clearing) == []
    assert order == ["let go", "cleared"] and cache.summary().spaces == []


def test_a_prune_lets_go_of_the_feature_store_it_opened(tmp_path):
    """``open_cache(...).prune()`` (the way out a full disk's sentence names) opened the store
    and kept it, its lock among it, until the caller's thread ended: a command elsewhere that
    prunes or clears waited for a prune long done, and an ending thread left the store's files
    open. It lets go as it returns; a store its caller had open before stays open."""
    from .conftest import store_held

    cache = FeatureCache(tmp_path / "cache")
    cache.store.space("s" * 32, 4).write("centre", ["a" * 32], np.ones((1, 4), np.float32))
    cache.close()
    cache.prune(7, None)
    assert (tmp_path / "cache" / "store" / "lock").is_file() and not store_held(tmp_path / "cache")
    held = cache.store
    assert held.indexed_files() == 0  # opened again: this caller's, held across the prune
    cache.prune(7, None)
    assert held.is_open and store_held(tmp_path / "cache")
    cache.close()


@pytest.mark.slow
def test_prune_by_age_forgets_what_no_run_used(tmp_path):
    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    body, _ = stored(tmp_path, samples)
    body.cache.close()
    with sqlite3.connect(tmp_path / "cache" / "store" / "index.sqlite") as db:
        db.execute("UPDATE entries SET used=? WHERE view='centre'", (time.time() - 10 * 86400,))
    done = FeatureCache(tmp_path / "cache").prune(7, None)
    assert done.store.entries == len(samples)
    _, again = stored(tmp_path, samples)
    assert [t.computed for t in again] == [len(samples), 0]


def test_unchanged_files_are_not_hashed_again(tmp_path):
    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    paths = [s.path for s in samples]
    with FeatureStore(tmp_path / "cache" / "store") as store:
        first, stats = store.digests(paths)
        assert stats.hashed == len(paths) and first == [hash_file(p) for p in paths]
        again, stats = store.digests(paths)
        assert stats.hashed == 0 and again == first
        paths[0].write_bytes(paths[0].read_bytes() + b"\0")
        os.utime(paths[0], ns=(time.time_ns(), time.time_ns() + 10**9))
        changed, stats = store.digests(paths)
        assert stats.hashed == 1 and changed[0] != first[0] and changed[1:] == first[1:]


def change_time_kept(monkeypatch, path: Path, ctime_ns: int) -> None:
    """``os.stat`` of ``path`` gives ``ctime_ns`` as its change time, as a rewrite within the
    tick it was recorded in leaves it: no call sets a file's change time."""
    from types import SimpleNamespace

    real_stat = os.stat

    def in_that_tick(name, *args, **kwargs):
        now = real_stat(name, *args, **kwargs)
        if os.fspath(name) != str(path):
            return now
        times = {"st_mtime_ns": now.st_mtime_ns, "st_ctime_ns": ctime_ns}
        return SimpleNamespace(st_size=now.st_size, st_ino=now.st_ino, **times)

    monkeypatch.setattr(os, "stat", in_that_tick)


def test_a_file_rewritten_in_the_tick_it_was_indexed_in_is_read_again(tmp_path, monkeypatch):
    """review54a L6: the index trusts a file's size, times and inode, and a rewrite of the same
    size within the timestamp tick the index read it in (FAT keeps whole seconds, 2 s apart;
    Linux's coarse clock moves every few ms: an EXIF orientation changed by a script) left all
    four as recorded, so the index kept the old digest, and the old features with it, for good.
    As git's "racy clean" rule, a file whose time is not a tick older than its row is hashed
    again the next time. One older (or dated well ahead) is trusted: read once, then never
    again (issue #15)."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"A" * 100)
    tick = (time.time_ns() // 10**9 + 1) * 10**9  # a FAT drive's time: a whole second
    os.utime(path, ns=(tick, tick))
    with FeatureStore(tmp_path / "cache" / "store") as store:
        (first,), _ = store.digests([path])
        recorded = path.stat()
        path.write_bytes(b"B" * 100)  # the same size, in the same tick: the same times
        os.utime(path, ns=(tick, tick))
        change_time_kept(monkeypatch, path, recorded.st_ctime_ns)
        (now,), stats = store.digests([path])
        monkeypatch.undo()
        assert (now, stats.hashed) == (hash_file(path), 1) and now != first
        taken_before(path)  # an hour older: read once for its new times, then trusted
        assert [store.digests([path])[1].hashed for _ in range(2)] == [1, 0]
        ahead = time.time_ns() + 3600 * 10**9  # a camera's clock an hour ahead: trusted too
        os.utime(path, ns=(ahead, ahead))
        assert [store.digests([path])[1].hashed for _ in range(2)] == [1, 0]


def test_a_file_rewritten_in_its_tick_while_a_slow_hash_read_it_is_read_again(
    tmp_path, monkeypatch
):
    """The index dated a row when it wrote it, once its file was hashed: a file modified just
    before a hash slower than a tick (a large photo, a busy disk) and rewritten with the same
    size within that tick, after the read, was recorded over a tick after its change, so not
    racy, and trusted with the digest of the bytes before the rewrite (and their features) for
    good. A row is dated when its file was looked at, before it is read, as git dates its index
    by when it looked at the files: the file is read again, once."""
    from objrec import file_index

    path = tmp_path / "photo.jpg"
    path.write_bytes(b"A" * 100)
    before = path.stat()
    clock = [before.st_mtime_ns / 1e9 + 0.001]  # looked at a millisecond after it changed
    monkeypatch.setattr(file_index.time, "time", lambda: clock[0])
    real_hash = file_index.hash_or_error

    def slow_hash(name):  # read, then rewritten in the tick it changed in, 5 s on
        read = real_hash(name)
        path.write_bytes(b"B" * 100)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        clock[0] += 5.0
        return read

    with FeatureStore(tmp_path / "cache" / "store") as store:
        monkeypatch.setattr(file_index, "hash_or_error", slow_hash)
        (first,), _ = store.digests([path])
        monkeypatch.setattr(file_index, "hash_or_error", real_hash)
        change_time_kept(monkeypatch, path, before.st_ctime_ns)
        looked = [store.digests([path]) for _ in range(2)]  # then dated 5 s after it changed
        monkeypatch.undo()
    assert first != hash_file(path)
    assert [(d, stats.hashed) for (d,), stats in looked] == [
        (hash_file(path), 1),
        (hash_file(path), 0),
    ]


def test_a_copy_of_a_photo_changed_in_the_tick_it_was_copied_in_is_read_again(
    tmp_path, monkeypatch
):
    """apply-plan tells the file index each copy it wrote by the SHA-256 of the bytes written,
    its times the photo's (``copystat``), once every photo is copied: the row was dated then,
    minutes after a copy of a photo changed just before it was copied, so a rewrite of the copy
    of the same size in that tick was trusted for good. A copy's row is dated when the copy was
    last changed (its change time, before its stat), not when the index is told of it."""
    from objrec import file_index
    from objrec.applying.copy import copy_hashed

    photo, copy = tmp_path / "photo.jpg", tmp_path / "copy.jpg"
    photo.write_bytes(b"A" * 100)
    sha256 = copy_hashed(photo, copy)
    written = copy.stat()
    changed = written.st_mtime_ns + 1_000_000  # copied a millisecond after the photo changed
    change_time_kept(monkeypatch, copy, changed)
    clock = [changed / 1e9 + 300]  # told five minutes on, every photo copied
    monkeypatch.setattr(file_index.time, "time", lambda: clock[0])
    with FeatureStore(tmp_path / "cache" / "store") as store:
        store.keep_hashed([(copy, os.stat(copy), sha256)])
        copy.write_bytes(b"B" * 100)  # in the tick it was written in: its times as they were
        os.utime(copy, ns=(written.st_atime_ns, written.st_mtime_ns))
        (now,), stats = store.digests([copy])
    assert (now, stats.hashed) == (hash_file(copy), 1) and now != sha256[:32]


@pytest.mark.slow
def test_a_warm_lookup_writes_again_only_the_rows_last_used_over_an_hour_ago(tmp_path):
    """The file index rewrote every row it read, on every command (60,000 rows for a warm read
    of 60,000 photos), where the image facts' tables refresh a row's last use once an hour
    (``file_index.USE_REFRESH``): one rule for both, now that check and split read this index."""
    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    paths = [os.path.abspath(s.path) for s in samples]
    half_an_hour_ago, two_hours_ago = time.time() - 1800, time.time() - 7200
    with FeatureStore(tmp_path / "cache" / "store") as store:
        store.digests(paths)
        store.db.execute("UPDATE files SET seen=?", (half_an_hour_ago,))
        store.db.execute("UPDATE files SET seen=? WHERE path=?", (two_hours_ago, paths[0]))
        store.digests(paths)
        seen = dict(store.db.execute("SELECT path, seen FROM files").fetchall())
    assert seen.pop(paths[0]) > two_hours_ago + 3600
    assert set(seen.values()) == {half_an_hour_ago}


def test_a_file_gone_before_it_is_hashed_is_skipped_by_readable_digests_and_recorded_by_none(
    tmp_path,
):
    """``readable_digests`` gives "" and the OSError for a file gone since it was listed (train
    skips it, as one gone before decoding); ``digests`` raises that OSError as before."""
    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    paths = [s.path for s in samples]
    paths[1].unlink()
    with FeatureStore(tmp_path / "cache" / "store") as store:
        digests, failures, stats = store.readable_digests(paths)
        assert digests[1] == "" and list(failures) == [1]
        assert isinstance(failures[1], FileNotFoundError) and failures[1].filename == str(paths[1])
        assert [digests[0], *digests[2:]] == [hash_file(p) for p in [paths[0], *paths[2:]]]
        assert stats.hashed == len(paths) - 1 and store.indexed_files() == len(paths) - 1
        with pytest.raises(FileNotFoundError):
            store.digests(paths)


def test_known_digests_are_the_file_index_s_alone_hashing_and_recording_nothing(tmp_path):
    """What ``predict`` looks its files up by: the digests of files the index knows unchanged,
    None for a file it never saw, one changed since and one gone; none hashed, none recorded."""
    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    paths = [s.path for s in samples]
    with FeatureStore(tmp_path / "cache" / "store") as store:
        first, _ = store.digests(paths[1:])
        paths[1].write_bytes(paths[1].read_bytes() + b"\0")
        os.utime(paths[1], ns=(time.time_ns(), time.time_ns() + 10**9))
        paths[2].unlink()
        known = store.known_digests(paths)
        assert known == [None, None, None, *first[2:]]
        assert store.indexed_files() == len(paths) - 1  # as before: nothing recorded


SHA256_READERS = (
    ("objrec.file_index", "hash_file_and_kind"),  # the file index's, for a file it does not know
    ("objrec.reading", "read_first"),  # check's, split's and add's first read: hash and facts
    ("objrec.check_decodes", "read_first"),  # check's first decode: hash and pixels
)
"""Where each whole-file SHA-256 read of a photo is looked up (module, name): what
:func:`read_for_sha256` spies on."""


def read_for_sha256(monkeypatch) -> list[Path]:
    """Every file read whole for its SHA-256 from now on, by any command: the feature store's
    file index hashes with ``file_index.hash_file_and_kind``, a first check, split or add with
    ``file_index.read_first`` (each module its own name: :data:`SHA256_READERS`). A name gone
    from its module is an AttributeError here, not a spy that silently counts nothing: till
    late59b L5 it skipped ``split.source`` and ``add.plan``'s ``sha256_file``, gone since
    ``objrec.reading`` hashes for them."""
    import importlib

    read: list[Path] = []

    def counting(hash_function):
        return lambda path: read.append(Path(path)) or hash_function(path)

    for module_name, name in SHA256_READERS:
        module = importlib.import_module(module_name)
        monkeypatch.setattr(module, name, counting(getattr(module, name)))
    return read


@pytest.mark.slow
def test_the_sha256_spy_watches_every_module_that_reads_a_photo_for_its_sha256(monkeypatch):
    """``read_for_sha256`` listed modules that no longer had the name it patched and skipped them
    silently (late59b L5): a module that imports ``read_first`` or ``hash_file_and_kind`` is one
    it spies on, and a name moved away fails it, so that no move leaves a "read once" test
    counting fewer reads than were made."""
    import ast
    import types

    from .conftest import source_trees
    from .test_layout import module_name

    readers = {"read_first", "hash_file_and_kind"}
    importing = {
        (module_name(path), alias.name)
        for path, tree in source_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "objrec.file_index"
        for alias in node.names
        if alias.name in readers
    }
    assert importing <= set(SHA256_READERS)
    gone = types.ModuleType("objrec.gone")
    monkeypatch.setitem(sys.modules, "objrec.gone", gone)
    monkeypatch.setattr(sys.modules[__name__], "SHA256_READERS", (("objrec.gone", "read_first"),))
    with pytest.raises(AttributeError, match="read_first"):
        read_for_sha256(monkeypatch)


def test_the_files_every_command_reads_are_read_by_reading_not_by_a_split_stage():
    """check, check_decodes, add and ``cache --prune`` read files through ``split.source``, one
    of split's stages (data59 D2): the reading they share (each file's SHA-256 from the file
    index, a new file read once for its hash and its facts, the facts store) is the module
    ``objrec.reading``, beside ``file_index`` and ``facts_store``; ``split.source`` keeps the
    source folder's classes and reads through it."""
    import objrec.reading
    import objrec.split.source

    shared = ("hash_all", "read_all", "first_read", "first_facts", "keep_first_reads")
    shared += ("facts_file", "file_index", "adopt_old_index", "OLD_INDEX", "First")
    for name in shared:
        assert hasattr(objrec.reading, name), name
        assert getattr(objrec.split.source, name, None) in (None, objrec.reading.read_all), name
    assert objrec.split.source.read_all is objrec.reading.read_all
    assert objrec.reading.hash_all.__module__ == "objrec.reading"


@pytest.mark.slow
def test_check_split_train_add_train_read_each_photo_once_for_its_sha256(tmp_path, monkeypatch):
    """check and split kept the files' SHA-256 in an index of their own (facts.sqlite), train and
    add in the feature store's, and train hashed the split's copies of the photos split had just
    hashed: each photo was read twice for its SHA-256, each added one twice too. One index now,
    which a split and an add tell of the files they write."""
    from objrec.cli import main

    photos = make_class_folder(tmp_path / "photos", per_class=6)
    new = make_class_folder(tmp_path / "new", per_class=1, classes=("red",))
    for path in new.rglob("*.*g"):  # other bytes than the photos'
        make_image((90, 20, 20), seed=700 + len(path.name)).save(path)
    taken_before(new)
    read = read_for_sha256(monkeypatch)
    run = ["--out", tmp_path / "run", "--backbone", "tiny_test", "--epochs", "1"]
    data = tmp_path / "data"
    for command in (
        ["check", photos],
        ["split", photos, data],
        ["train", data, *run],
        ["add", data, new],
        ["train", data, *run, "--force"],
    ):
        assert main([str(a) for a in command]) == 0, command

    def contents(paths):
        return Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in paths)

    # train names its own model file by digest (summary.json's model_digest) from the bytes its
    # seal read as it wrote them, never hashing the file again
    assert not [p for p in read if tmp_path / "run" in p.parents]
    assert contents(read) == contents([*photos.rglob("*.*g"), *new.rglob("*.*g")])


@pytest.mark.slow
def test_a_first_check_split_and_train_hash_each_photo_once(tmp_path, monkeypatch):
    """Each decode after the hashing pass (check's, split's image facts, train's frozen pass)
    hashed its file's bytes again to know them unchanged: every photo of a first run was hashed
    twice, by check and by split (review56a M4). A decode trusts the bytes as the file index
    does, by the file's stat before and after the read, and hashes only a file changed since."""
    import objrec.file_index
    from objrec.cli import main

    photos = taken_before(make_class_folder(tmp_path / "photos", per_class=3))
    whole = read_for_sha256(monkeypatch)
    again: list[int] = []
    original = objrec.file_index.hash_bytes  # views' and image_facts' decodes hash through it
    monkeypatch.setattr(
        objrec.file_index, "hash_bytes", lambda data: again.append(1) or original(data)
    )
    run = [
        "--out",
        tmp_path / "run",
        "--backbone",
        "tiny_test",
        "--epochs",
        "1",
        "--num-workers",
        "0",
    ]
    for command in (["check", photos], ["split", photos, tmp_path / "data"]):
        assert main([str(a) for a in command]) == 0, command
    assert (len(whole), len(again)) == (len(list(photos.rglob("*.*g"))), 0)  # 18 again before
    assert main([str(a) for a in ["train", tmp_path / "data", *run]]) == 0
    assert len(again) == 0


def test_the_file_index_opens_alone_and_read_only_keeping_nothing(tmp_path):
    """The file index was the feature store itself (``FeatureStore(FileIndex)``), so hashing a
    folder opened "the feature store" (review56a L5). It is a part the store has (``files``,
    its queries still called on the store by their names), opened alone by
    ``open_file_index``: read-only, it reads the digests it keeps and keeps none it hashes."""
    from objrec.file_index import FileIndex
    from objrec.store import open_file_index

    paths = sorted(make_class_folder(tmp_path / "photos", per_class=2).rglob("*.*g"))
    with open_file_index(tmp_path / "cache" / "store") as index:
        assert isinstance(index, FileIndex) and not isinstance(index, FeatureStore)
        digests = index.digests(paths[:3])[0]
    with open_file_index(tmp_path / "cache" / "store", read_only=True) as index:
        assert index.read_only and index.digests(paths)[0][:3] == digests
    with FeatureStore(tmp_path / "cache" / "store") as store:
        assert store.files.indexed_files() == store.indexed_files() == 3
        assert store.known_digests(paths) == [*digests, *[None] * (len(paths) - 3)]


def photo_reads(monkeypatch, photos: Path) -> Counter:
    """How many times each photo of ``photos`` is opened from now on (``open``, pathlib's,
    Pillow's), by its path below ``photos``."""
    import builtins
    import io

    opened: Counter = Counter()
    real = io.open

    def counted(file, *args, **kwargs):
        if isinstance(file, str | Path) and photos in Path(file).parents:
            opened[Path(file).relative_to(photos).as_posix()] += 1
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counted)
    monkeypatch.setattr(io, "open", counted)
    return opened


def test_a_first_check_or_split_reads_each_photo_once(tmp_path, monkeypatch):
    """A first check or split of a folder read each photo whole twice: to hash it, then to
    decode it (review56a M4; store56 took the second SHA-256 away, not the second read), and
    split its first bytes a third time, for its camera time. Each is now taken from the bytes
    the photo is hashed from."""
    from objrec.cli import main

    photos = taken_before(make_class_folder(tmp_path / "photos", per_class=3)).resolve()
    names = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.*g"))
    for command in (["check", photos], ["split", photos, tmp_path / "data", "--link"]):
        monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / f"cache-{command[0]}"))
        with monkeypatch.context() as patch:
            opened = photo_reads(patch, photos)
            assert main([str(a) for a in command]) == 0, command
        assert {name: opened[name] for name in names} == dict.fromkeys(names, 1), command
    assert main(["check", str(photos)]) == 0  # knows each from the split's first read
    with monkeypatch.context() as patch:
        opened = photo_reads(patch, photos)
        assert main(["check", str(photos)]) == 0
    assert not +opened


@pytest.mark.slow
def test_a_copy_is_known_by_its_sources_digest_only_if_the_source_stayed_as_hashed(tmp_path):
    """A split's or an add's copy is indexed under its source's digest where the source was, as
    it was copied, as the index knows it: one changed before or while it was copied is not."""
    from objrec.file_index import copy_and_record

    photos = [make_image((200, 40, 40), seed=s) for s in range(3)]
    sources = [tmp_path / f"img_{n}.png" for n in range(3)]
    for image, path in zip(photos, sources, strict=True):
        image.save(path)
    taken_before(*sources)

    def copy(source: Path, edit: bool = False) -> Callable[[], Path]:
        def write() -> Path:
            if edit:  # changed while copied: the copy holds bytes the index never hashed
                source.write_bytes(source.read_bytes() + b"\0")
            return Path(shutil.copy2(source, tmp_path / f"copy_{source.name}"))

        return write

    with FeatureStore(tmp_path / "cache" / "store") as store:
        hashed, _ = store.digests(sources)
        sources[1].write_bytes(sources[1].read_bytes() + b"\0")  # changed since it was hashed
        made = [
            copy_and_record(sources[0], copy(sources[0])),
            copy_and_record(sources[1], copy(sources[1])),
        ]
        made.append(copy_and_record(sources[2], copy(sources[2], edit=True)))
        assert made[2][1] is None
        assert store.keep_copies([c for _, c in made if c is not None]) == 1
        assert store.known_digests([path for path, _ in made]) == [hashed[0], None, None]


@pytest.mark.slow
def test_an_older_objrecs_indexes_are_read_not_hashed_again(tmp_path, monkeypatch):
    """check's and split's index before 6 December 2026 (``file_sha256`` in facts.sqlite) is
    moved into the feature store's, then dropped: no file it knew is read again; one the
    feature store knows by the cut digest alone (an older train's) is read once, by the first
    command that needs its whole SHA-256 (a check), and by none after."""
    from objrec.check import check_folder
    from objrec.facts_store import FACTS_FILE

    cache = tmp_path / "cache"
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    photos = make_class_folder(tmp_path / "photos", per_class=2, classes=("red", "blue"))
    reds, blues = sorted((photos / "red").iterdir()), sorted((photos / "blue").iterdir())
    cache.mkdir()
    with sqlite3.connect(cache / FACTS_FILE) as db:  # as check left it: the red photos hashed
        db.execute(
            "CREATE TABLE file_sha256(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "ctime_ns INTEGER, ino INTEGER, sha256 TEXT NOT NULL, seen REAL NOT NULL) WITHOUT ROWID"
        )
        for path in reds:
            s = path.stat()
            row = (str(path), s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            seen = time.time()  # when check read it
            db.execute("INSERT INTO file_sha256 VALUES (?,?,?,?,?,?,?)", (*row, digest, seen))
    with FeatureStore(cache / "store") as store:  # as a train left it: the blue photos hashed
        cut, _ = store.digests(blues)
        store.db.execute("DELETE FROM sha256s")  # kept by a train since 6 December 2026 only
    read = read_for_sha256(monkeypatch)
    with FeatureStore(cache / "store") as store:
        assert store.digests(blues)[0] == cut and read == []  # what a train needs: all there
    check_folder(photos)
    assert sorted(read) == blues  # the red photos' from facts.sqlite, the blue's read once
    read.clear()
    check_folder(photos)
    assert read == []
    with sqlite3.connect(cache / FACTS_FILE) as db:
        assert (
            db.execute("SELECT name FROM sqlite_master WHERE name='file_sha256'").fetchall() == []
        )


def test_an_older_objrec_sharing_the_cache_reads_the_file_index_as_it_wrote_it(
    tmp_path, monkeypatch
):
    """An objrec before 6 December 2026 reads ``files.digest`` as the store's 128-bit key, and
    writes ``files`` rows as 7 values: the whole SHA-256 written there for check, split and add
    was a key no feature row has, so such an objrec sharing the cache folder computed and stored
    every image again, silently. The index keeps the content digest there, as that objrec did,
    and the whole SHA-256 beside it, still served to check, split and add without a read."""
    from objrec.file_index import copy_and_record

    sources = [tmp_path / f"img_{n}.png" for n in range(4)]
    for n, path in enumerate(sources):
        make_image((200, 40, 40), seed=n).save(path)
    taken_before(*sources)
    old = [(str(sources[3]), *stat_tuple(sources[3]), sha256_of(sources[3]), time.time())]
    with FeatureStore(tmp_path / "cache" / "store") as store:
        store.readable_digests(sources[:2], whole=True)  # check's, split's
        copies = [
            copy_and_record(s, lambda s=s: Path(shutil.copy2(s, f"{s}.copy"))) for s in sources[:2]
        ]
        store.keep_copies([c for _, c in copies if c is not None])  # split's copies
        written = tmp_path / "written.png"  # apply-plan's, hashed as it wrote it
        shutil.copy2(sources[2], written)
        store.keep_hashed([(written, written.stat(), sha256_of(written))])
        store.adopt_files(old)  # check's own index before 6 December 2026
    files = [*sources[:2], *(Path(f"{s}.copy") for s in sources[:2]), written, sources[3]]
    index = tmp_path / "cache" / "store" / "index.sqlite"
    with sqlite3.connect(index) as db:  # as the older objrec reads
        rows = db.execute("SELECT path, size, mtime_ns, ctime_ns, ino, digest FROM files")
        assert {path: (*key, digest) for path, *key, digest in rows} == {
            str(f): (*stat_tuple(f), hash_file(f)) for f in files
        }
        db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)", ("x", 1, 2, 3, 4, "a", 5))
    read = read_for_sha256(monkeypatch)
    with FeatureStore(tmp_path / "cache" / "store") as store:
        whole, failures, stats = store.readable_digests(files, whole=True)
    assert whole == [sha256_of(f) for f in files] and not failures
    assert stats.hashed == 0 and read == []


def stat_tuple(path: Path) -> tuple[int, int, int, int]:
    s = path.stat()
    return s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_the_same_body_and_config_share_one_array_file_across_views(tmp_path):
    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    body, _tables = stored(tmp_path, samples)
    (info,) = body.cache.store.info()
    assert (info.images, info.entries) == (len(samples), 2 * len(samples))
    assert info.bytes >= 2 * len(samples) * info.dim * 4
    assert textwrap.dedent(info.label).startswith("TinyBody")


@pytest.mark.slow
def test_features_of_another_precision_get_rows_of_their_own(tmp_path):
    """The GPU path in half precision (DeviceRunner, here run on the CPU in float16 autocast) is
    never served the float32 rows of the CPU path, nor the CPU path its rows."""
    from objrec.device_runner import DeviceRunner

    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    body, (fp32, _) = stored(tmp_path, samples)
    half = FrozenBody(TinyBody(), DATA.input_size, body.cache, "torch")
    half._runner = DeviceRunner(half.body, torch.device("cpu"))
    table = feature_table(half, samples, ViewSpec(DATA))
    assert half.numerics() == "cpu:float16" and table.computed == len(samples)
    assert not torch.equal(table.load().features, fp32.load().features)
    again = feature_table(
        FrozenBody(TinyBody(), DATA.input_size, body.cache, "torch"), samples, ViewSpec(DATA)
    )
    assert again.computed == 0 and torch.equal(again.load().features, fp32.load().features)
    from objrec.features import numbers

    labels = sorted(info.label for info in body.cache.store.info())
    normalised = f"mean {numbers(DATA.mean)} std {numbers(DATA.std)}"  # ImageNet's
    plain = f"TinyBody @ 32px, weights {body.fingerprint[:8]}, {normalised}"
    assert labels == [plain, f"{plain}, cpu:float16"]


def test_two_spaces_of_one_network_given_other_weights_or_normalisation_are_told_apart(tmp_path):
    """`objrec cache` labelled a space "mobilenet_v2 @ 224px" whatever weights, mean and std gave
    it, so two runs' spaces of other weights read as one body (newcomer60b, 6): a label names
    the weights' fingerprint (a run's body_fingerprint starts with it) and the normalisation."""
    import dataclasses

    from objrec.features import numbers, space_label

    cache = FeatureCache(tmp_path / "cache")
    body = FrozenBody(TinyBody(), DATA.input_size, cache, "torch")
    other = TinyBody()
    with torch.no_grad():
        other.features[0].weight.add_(1)
    retrained = FrozenBody(other, DATA.input_size, cache, "torch")
    view = ViewSpec(DATA)
    labels = {
        space_label(body, view, FLOAT32),
        space_label(retrained, view, FLOAT32),
        space_label(body, ViewSpec(dataclasses.replace(DATA, mean=(0.4, 0.5, 0.6))), FLOAT32),
    }
    assert len(labels) == 3
    said = " ".join(labels)
    assert f"weights {retrained.fingerprint[:8]}, mean {numbers(DATA.mean)} std " in said
    assert f"weights {body.fingerprint[:8]}, mean 0.4 0.5 0.6 std {numbers(DATA.std)}" in said


@pytest.mark.slow
def test_a_float16_store_rounds_the_float32_rows_it_has_instead_of_computing(tmp_path):

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    (photos / "red" / "broken.jpg").write_bytes(b"not an image")  # its reason travels too
    samples = scan_class_folder(photos).samples
    _, wide = stored(tmp_path, samples)  # float32 rows of both views
    _, narrow = stored(tmp_path, samples, "float16")
    assert [t.computed for t in narrow] == [0, 0] and [t.failed for t in narrow] == [0, 0]
    for w, n in zip(wide, narrow, strict=True):
        assert torch.equal(n.load().features, w.load().features.half().float())
        assert n.errors == w.errors and len(w.errors) == 1 and "broken.jpg" in w.errors[0]
    fresh = FrozenBody(
        TinyBody(), DATA.input_size, FeatureCache(tmp_path / "fresh", "float16"), "torch"
    )
    computed = feature_table(fresh, samples, ViewSpec(DATA, "article", 1))
    assert computed.computed == len(samples) - 1 and computed.failed == 1  # broken.jpg
    assert torch.equal(computed.load().features, narrow[1].load().features)


class Doubled(TinyBody):
    """TinyBody's features doubled: what :func:`derived_rows` makes of TinyBody's rows through a
    top that doubles them, exactly (a doubling rounds nothing)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


def test_a_body_s_rows_derived_from_another_space_are_its_own_and_a_warm_table_derives_none(
    tmp_path,
):
    """``feature_table``'s ``derive`` (train's fine-tuning: the cut's rows through the top) fills
    the rows the store lacks, rounded to the store's dtype as computing them would be, the pixels
    the limit counts travelling with them and the images the source cannot decode remembered so;
    nothing is run through the body. A table whose rows are stored derives none: only the digests
    the space lacks are given to ``derive``."""
    from functools import partial

    from objrec.features import derived_rows
    from objrec.view_keys import view_key

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    (photos / "red" / "broken.jpg").write_bytes(b"not an image")
    samples = scan_class_folder(photos).samples
    source, below = stored(tmp_path, samples)  # TinyBody's float32 rows of both views
    sid, asked = below[0].space.id, []

    def derive(space, view, digests):
        asked.append(list(digests))
        return derived_rows(space.store, sid, lambda x: 2 * x, space, view, digests)

    cache = FeatureCache(tmp_path / "cache", "float16")
    doubled = partial(FrozenBody, Doubled(), DATA.input_size, cache, "torch")
    specs = [ViewSpec(DATA, "article", v) for v in (0, 1)]
    tables = [feature_table(doubled(), samples, spec, derive=derive) for spec in specs]
    assert [(t.computed, t.failed, t.derived) for t in tables] == [(0, 0, len(samples) - 1)] * 2
    computed = [feature_table(doubled(), samples, spec) for spec in specs]  # a fresh body's
    for made, cut in zip(tables, below, strict=True):
        assert torch.equal(made.load().features, (2 * cut.load().features).half().float())
        assert made.errors == cut.errors and "broken.jpg" in made.errors[0]
    assert [t.computed for t in computed] == [0, 0]  # found: the rows derived are the store's
    key = view_key(specs[0], cache.store)
    pixels = cache.store.lookup(tables[0].space.id, key, tables[0].digests).pixels
    assert pixels is not None and (pixels[tables[0].ok.numpy()] > 0).all()
    asked.clear()
    warm = [feature_table(doubled(), samples, spec, derive=derive) for spec in specs]
    assert asked == [] and [(t.computed, t.derived) for t in warm] == [(0, 0), (0, 0)]
    assert source.cache.store.space_dim(sid) == TinyBody.n_features


@pytest.mark.slow
def test_prune_covers_the_image_facts_by_age_and_by_folder(tmp_path):
    from objrec import facts_store

    photos = make_class_folder(tmp_path / "photos", per_class=2)
    paths = [s.path for s in scan_class_folder(photos).samples]
    cache = FeatureCache(tmp_path / "cache")
    facts = facts_store.cached_facts(paths, [hash_file(p) for p in paths], cache.facts_file)
    assert not any(f.error for f in facts)
    summary = cache.summary()
    assert summary.facts.rows == len(paths) and summary.facts.bytes > 0
    assert summary.to_json()["facts_rows"] == len(paths)
    with sqlite3.connect(cache.facts_file) as db:  # one image's facts unused for 10 days
        db.execute(
            "UPDATE facts_used SET used=? WHERE digest=?",
            (time.time() - 864000, hash_file(paths[0])),
        )
    done = cache.prune(7, None)
    assert done.facts_removed == 1 and done.facts_after.rows == len(paths) - 1
    kept = photos / paths[1].parent.name
    done = cache.prune(None, kept)  # only the images of one class folder
    assert done.facts_after.rows == len([p for p in paths[1:] if p.parent == kept])
    assert cache.summary().facts.rows == done.facts_after.rows


KEPT_TABLES = {  # each table kept by digest in facts.sqlite, and its column of last use
    "facts": "facts_used",
    "camera_times": "camera_times",
    "check_decoded": "check_decoded",
    "pair_sets": "pair_sets",
}


@pytest.mark.slow
def test_prune_forgets_every_kept_table_by_age_and_by_folder(tmp_path, monkeypatch):
    """`cache --prune` forgets the rows of every table split, check and audit keep by content in
    `facts.sqlite` (facts, camera times, check's decodes, the pair sets) by one rule: not used
    for N days, or of no image of the folder kept; a pair set goes with its images and pairs;
    and the files' SHA-256 in the feature store's file index, whole as split keeps them."""
    from objrec import bursts, check_decodes, facts_store, near_pairs
    from objrec.reading import hash_all
    from objrec.split.source import class_files

    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "cache"))
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    cache = FeatureCache(tmp_path / "cache")
    kept = cache.facts_file
    files = class_files(photos, [])[0]
    paths = [p for group in files.values() for p in group]
    hashes = hash_all(files, None, store_dir())
    check_decodes.decoded(
        paths, hashes, kept, lambda: None
    )  # before the facts, which it would read
    digests = [hashes[p][:32] for p in paths]
    facts = facts_store.cached_facts(paths, digests, kept)
    near_pairs.kept_split_pairs(facts, digests, kept)
    bursts.read_times(paths, digests=digests, kept=kept)

    def rows() -> dict[str, int]:
        with sqlite3.connect(kept) as db:
            found = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in KEPT_TABLES}
            found["pair_members"] = db.execute("SELECT COUNT(*) FROM pair_members").fetchone()[0]
        found["files"] = cache.store.indexed_files()
        return found

    one = {t: len(paths) for t in [*KEPT_TABLES, "files"]}
    one |= {"pair_sets": 1, "pair_members": len(paths)}
    assert rows() == one
    assert cache.prune(7, None).facts_removed == 0 and rows() == one
    red = photos / "red"
    cache.prune(None, red)  # the red images alone: the set holding the others goes whole
    reds = len(files["red"])
    left = {t: reds for t in [*KEPT_TABLES, "files"]}
    assert rows() == left | {"pair_sets": 0, "pair_members": 0}
    with sqlite3.connect(kept) as db:  # all unused for 10 days
        db.execute("UPDATE facts_used SET used=?", (time.time() - 864000,))
        for table in ("camera_times", "check_decoded"):
            db.execute(f"UPDATE {table} SET seen=?", (time.time() - 864000,))
    with sqlite3.connect(tmp_path / "cache" / "store" / "index.sqlite") as db:
        db.execute("UPDATE files SET seen=?", (time.time() - 864000,))
    assert cache.prune(7, None).facts_removed == reds
    assert rows() == dict.fromkeys([*KEPT_TABLES, "pair_members", "files"], 0)


RACE = """
import multiprocessing, sqlite3, sys
from pathlib import Path
from objrec.store import FeatureStore


def open_often(barrier, root, errors):
    barrier.wait()
    try:
        for _ in range(30):
            FeatureStore(root).close()
    except sqlite3.OperationalError as e:
        errors.put(f"opening: {e}")


def reserve_often(barrier, root, errors):
    barrier.wait()
    try:
        with FeatureStore(root) as store:
            store.space("s", 4)
            for _ in range(200):
                store.reserve("s", 1)
    except sqlite3.OperationalError as e:
        errors.put(f"writing: {e}")


context = multiprocessing.get_context("fork")
errors = context.Queue()
for attempt in range(80):
    barrier = context.Barrier(3)
    workers = [
        context.Process(target=f, args=(barrier, Path(sys.argv[1], str(attempt)), errors))
        for f in (open_often, open_often, reserve_often)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    print("exit codes", *[w.exitcode for w in workers], flush=True)
while not errors.empty():
    print("refused", errors.get(), flush=True)
"""
"""Three processes open one new store 80 times over, forked from a process that imported only
``objrec.store``: forking the test's own process (torch and every test module loaded) took
twice as long as the store's work."""


@pytest.mark.slow
def test_processes_opening_a_new_store_at_once_are_never_refused(tmp_path):
    """torchrun's ranks open one new store together: SQLite refused one with "database is locked"
    (without waiting) when it switched the database to WAL while another held it. Timing-dependent:
    without the fix this test failed in 6 runs of 6."""
    done = subprocess.run(
        [sys.executable, "-c", RACE, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    codes = [line for line in lines if line.startswith("exit codes")]
    assert codes == ["exit codes 0 0 0"] * 80  # none died of anything else, or hung
    assert [line for line in lines if line.startswith("refused")] == []


def test_a_cache_folder_below_a_file_is_one_sentence(tmp_path, capsys, monkeypatch):
    from objrec.cli import main

    (tmp_path / "notes.txt").write_text("mine")
    code = main(["cache", "--cache-dir", str(tmp_path / "notes.txt" / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and "'--cache-dir'" in err and "is a file, not a folder" in err
    assert "Traceback" not in err
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "notes.txt" / "cache"))
    photos = make_class_folder(tmp_path / "photos", per_class=3)
    code = main(["split", str(photos), str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 1 and "cannot make the cache folder" in err and "Traceback" not in err
    assert "point OBJREC_CACHE or --cache-dir at a folder you can write to" in err  # split has it


def read_only_files(monkeypatch):
    """The store's files as on a read-only file system: opening one to write is refused (EROFS)."""
    import builtins

    import objrec.store as store

    def refusing(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(store, "open", refusing, raising=False)


def test_files_only_looked_up_are_not_forgotten_by_a_prune_of_unused_rows(tmp_path):
    """``known_digests`` (predict's look-up) never refreshed a file row's last use, while the
    rows it led to were marked used: ``cache --prune --days 30`` forgot the files of a folder only
    predicted on, and their kept features could no longer be reached (review56a L1)."""
    photos = taken_before(make_class_folder(tmp_path / "photos", per_class=2))
    paths = sorted(photos.rglob("*.*g"))
    month = time.time() - 40 * 86400
    with FeatureStore(tmp_path / "cache" / "store") as store:
        digests, _ = store.digests(paths)
        store.db.execute("UPDATE files SET seen=?", (month,))  # last hashed 40 days ago
        assert store.known_digests(paths) == digests  # predict's look-up, today
        store.prune(older_than_days=30)
        assert store.known_digests(paths) == digests


OLD_MEMOS = (
    "CREATE TABLE memos(key TEXT PRIMARY KEY, value TEXT NOT NULL, made REAL NOT NULL) "
    "WITHOUT ROWID"
)
"""``memos`` as objrec made it before 7 December 2026: no last use."""


def test_memos_unused_for_the_days_are_pruned_and_those_read_are_kept(tmp_path):
    """``memos`` (a graph found whole, an augmentation's definition, one key per onnxruntime
    install) grew for good: ``cache --prune --days`` never removed one (review56a L4). A memo
    read counts as used (at most once an hour); an index made before memos kept a last use is
    read as it is, then given the column, its memos dated as made, as are an older objrec's."""
    root, month = tmp_path / "cache" / "store", time.time() - 40 * 86400
    root.mkdir(parents=True)
    (root / "lock").touch()
    with sqlite3.connect(root / "index.sqlite") as db:
        db.execute(OLD_MEMOS)
        db.executemany("INSERT INTO memos VALUES (?,?,?)", [("read", "a", month), ("not", "b", 0)])
    db.close()
    with FeatureStore(root, read_only=True) as store:
        assert store.recall("read") == "a"
    with FeatureStore(root) as store:
        assert store.recall("read") == "a"  # used today
        changes = store.db.total_changes
        assert store.recall("read") == "a"
        assert store.db.total_changes == changes  # read again within the hour: not written
        store.db.execute(  # as an older objrec sharing the cache folder writes one
            "INSERT INTO memos(key, value, made) VALUES ('older', 'c', ?)", (month,)
        )
        store.remember("new", "d")
        store.prune(older_than_days=30)
        kept = [store.recall(key) for key in ("read", "not", "older", "new")]
    assert kept == ["a", None, None, "d"]


def test_a_read_only_cache_is_shown_and_what_to_change_is_said(tmp_path, capsys, monkeypatch):
    """`objrec cache` only shows: it opens a read-only store read-only; a command that writes
    there names OBJREC_CACHE and --cache-dir as what to change, not only the lock file."""
    from objrec.cli import main

    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    FeatureCache(tmp_path / "cache").store.digests([s.path for s in samples])
    FeatureCache(tmp_path / "cache").close()
    read_only_files(monkeypatch)
    code = main(["cache", "--json", "--cache-dir", str(tmp_path / "cache")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f'"indexed_files": {len(samples)},' in out
    code = main(["cache", "--prune", "--days", "0", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert f"cannot write to the cache folder {tmp_path / 'cache' / 'store'}: " in err
    assert "point OBJREC_CACHE or --cache-dir at a folder you can write to" in err


def cache_files(cache: Path) -> dict[str, tuple[int, int]]:
    """Each file of ``cache`` (SQLite's own -wal and -shm files left out) by its path: its size
    and modification time."""
    files = [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(("-wal", "-shm"))]
    return {str(p.relative_to(cache)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def check_and_cache_on_a_read_only_cache(tmp_path, monkeypatch, capsys, refuse) -> None:
    """``check`` of a folder the cache knows, then of one it does not, and ``objrec cache``, on a
    cache that a first check filled, once ``refuse()`` made it read-only: each exits 0, and the
    cache is as it was."""
    from objrec.cli import main

    cache = tmp_path / "cache"
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    known = make_class_folder(tmp_path / "photos", per_class=2)
    new = make_class_folder(tmp_path / "new", per_class=2, classes=("red", "blue"))
    make_image((10, 200, 10), seed=77).save(new / "red" / "other.png")  # bytes the cache lacks
    assert main(["check", str(known)]) == 0
    assert (cache / "facts.sqlite").is_file() and (cache / "store" / "index.sqlite").is_file()
    before = cache_files(cache)
    refuse()
    capsys.readouterr()
    for command in (["check", str(known)], ["check", str(new)], ["cache", "--json"]):
        code = main(command)
        err = capsys.readouterr().err
        assert code == 0, (command, err)
    assert cache_files(cache) == before


def test_check_and_cache_read_a_read_only_cache_and_keep_nothing_there(
    tmp_path, monkeypatch, capsys
):
    """On a read-only file system `objrec cache` (documented as read-only-safe) failed once
    facts.sqlite existed, its lock file not writable, and `check`, which only reads, refused
    outright, opening the feature store to write to hash a folder (review56a M2). Here every
    file objrec opens to write in the cache is refused (EROFS), as the reviewer's read-only mount
    did: the store's, the image facts' lock, the probe of the folder."""
    import builtins
    import tempfile

    import objrec.cache_folder
    import objrec.facts_store

    def refuse() -> None:
        def refusing(file, mode="r", *args, **kwargs):
            if any(c in mode for c in "wax+"):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
            return builtins.open(file, mode, *args, **kwargs)

        def no_temporary_file(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        read_only_files(monkeypatch)
        monkeypatch.setattr(objrec.facts_store, "open", refusing, raising=False)
        fake = type(tempfile)("tempfile")
        fake.TemporaryFile = no_temporary_file  # type: ignore[attr-defined]
        monkeypatch.setattr(objrec.cache_folder, "tempfile", fake, raising=False)

    check_and_cache_on_a_read_only_cache(tmp_path, monkeypatch, capsys, refuse)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a folder without write permission")
def test_check_and_cache_read_a_cache_folder_without_write_permission(
    tmp_path, monkeypatch, capsys
):
    """:func:`test_check_and_cache_read_a_read_only_cache_and_keep_nothing_there` with the
    cache's folders made read-only by their permissions."""

    def refuse() -> None:
        for folder in [
            tmp_path / "cache",
            *(p for p in (tmp_path / "cache").rglob("*") if p.is_dir()),
        ]:
            folder.chmod(0o555)

    try:
        check_and_cache_on_a_read_only_cache(tmp_path, monkeypatch, capsys, refuse)
    finally:
        for folder in (tmp_path / "cache").rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
        (tmp_path / "cache").chmod(0o755)


@pytest.mark.slow
def test_rows_made_from_pixels_of_older_decoding_rules_are_computed_anew(tmp_path, monkeypatch):
    """Once ``PIXEL_RULES`` changes (a 32-bit TIFF scaled by its own range, say), no row made
    from the old pixels is read: every image is computed again, then read as before."""
    import objrec.store as store

    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=2)).samples
    _, before = stored(tmp_path, samples)
    assert [t.computed for t in before] == [len(samples)] * 2
    monkeypatch.setattr(store, "PIXEL_RULES", store.PIXEL_RULES + 1)  # the name space_id reads
    assert [t.computed for t in stored(tmp_path, samples)[1]] == [len(samples)] * 2
    assert [t.computed for t in stored(tmp_path, samples)[1]] == [0, 0]


@pytest.mark.slow
def test_an_image_refused_under_older_decoding_rules_is_decoded_again(tmp_path):
    """A reason remembered before the decoding rules changed (a 108-megapixel JPEG refused
    before it was counted at its decoded scale) is forgotten; one under today's rules is kept."""

    folder = make_class_folder(tmp_path / "data", per_class=2, classes=("red", "green"))
    (folder / "red" / "broken.jpg").write_bytes(b"not a jpeg")
    samples = scan_class_folder(folder).samples
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), "torch")
    first = feature_table(body, samples, VIEW)
    assert first.ok.sum() == 4 and "broken.jpg: cannot read image" in first.errors[0]
    old = "img_00.jpg: 12000x9000 pixels is over the limit of 89,478,485 pixels"
    with sqlite3.connect(tmp_path / "cache" / "store" / "index.sqlite") as db:
        (digest,) = db.execute(  # the file's whole SHA-256, the store's digest its start
            "SELECT substr(digest, 1, 32) FROM files WHERE path LIKE '%red/img_00.jpg'"
        ).fetchone()
        db.execute("UPDATE entries SET row=NULL, error=? WHERE digest=?", (old, digest))
    again = feature_table(body, samples, VIEW)
    assert again.ok.sum() == 4 and again.computed == 1  # img_00 again; broken.jpg not tried
    assert again.failed == 0
    assert again.errors == first.errors


@pytest.mark.slow
def test_an_image_refused_by_another_pillow_is_decoded_again(tmp_path, monkeypatch):
    """A newer Pillow may read what an older one refused (AVIF): the reason an image could not be
    decoded is remembered with Pillow's version, and tried again under another."""
    import PIL

    folder = make_class_folder(tmp_path / "data", per_class=2, classes=("red", "green"))
    (folder / "red" / "photo.avif").write_bytes(b"not decodable here")
    samples = scan_class_folder(folder).samples
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), "torch")
    first = feature_table(body, samples, VIEW)
    assert (first.computed, first.failed) == (4, 1)  # photo.avif tried, not pushed through
    assert feature_table(body, samples, VIEW).computed == 0  # remembered: not tried again
    monkeypatch.setattr(PIL, "__version__", "99.0.0")
    again = feature_table(body, samples, VIEW)
    assert again.failed == 1 and len(again.errors) == 1 and again.ok.sum() == 4  # tried again
    assert feature_table(body, samples, VIEW).computed == 0


@pytest.mark.slow  # 0.10 s on 2 cores (three runs of the quick tier)
def test_a_heic_photo_refused_before_pillow_heif_was_installed_is_decoded_once_it_is(
    tmp_path, monkeypatch
):
    """The reason was remembered under the same Pillow, so the photo stayed refused for good."""

    from .conftest import save_heic, unregister_heif

    folder = make_class_folder(tmp_path / "data", per_class=2, classes=("red", "green"))
    save_heic(make_image((200, 30, 30)), folder / "red" / "IMG_0001.HEIC")
    taken_before(folder / "red" / "IMG_0001.HEIC")
    samples = scan_class_folder(folder).samples
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), "torch")
    with monkeypatch.context() as before:
        unregister_heif(before, installed=False)
        first = feature_table(body, samples, VIEW)
    assert first.ok.sum() == 4 and "IMG_0001.HEIC: cannot read image" in first.errors[0]
    unregister_heif(monkeypatch)  # installed now, not yet registered
    again = feature_table(body, samples, VIEW)
    assert again.ok.sum() == 5 and again.computed == 1 and again.errors == []


@pytest.mark.slow  # 1.2 s alone (importing pillow-heif), 0.07 s after another HEIC test
def test_a_heic_photos_stored_rows_are_not_read_where_pillow_heif_cannot_decode_it_now(
    tmp_path, monkeypatch
):
    """The store's key leaves pillow-heif out, so train, evaluate and predict read a HEIC photo's
    rows where pillow-heif is installed but unusable, while check (and computing) refuse it: now
    the readers refuse it with computing's reason, and the rows stay for when it works again."""
    from objrec import heif

    from .conftest import save_heic, unregister_heif

    folder = make_class_folder(tmp_path / "data", per_class=2, classes=("red", "green"))
    save_heic(make_image((200, 30, 30)), folder / "red" / "IMG_0001.HEIC")
    taken_before(folder / "red" / "IMG_0001.HEIC")
    samples = scan_class_folder(folder).samples
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), "torch")
    assert feature_table(body, samples, VIEW).ok.sum() == 5
    with monkeypatch.context() as gone:
        unregister_heif(gone)  # installed (same version, same key) but cannot be used
        gone.setattr(heif, "_register_heif", lambda: False)
        table = feature_table(body, samples, VIEW)
        stored = stored_tables(body, samples, [VIEW])
    reason = "IMG_0001.HEIC: cannot read image (a HEIC image, which needs pillow-heif"
    assert table.ok.sum() == 4 and table.computed == 0 and reason in table.errors[0]
    assert stored is not None and stored[0].ok.sum() == 4 and reason in stored[0].errors[0]
    again = feature_table(body, samples, VIEW)
    assert again.ok.sum() == 5 and again.computed == 0 and again.errors == []


def heic_table_reads(tmp_path, monkeypatch, forget_kinds: bool) -> list[tuple[int, int]]:
    """A folder of 4 PNGs and a HEIC photo, stored with pillow-heif, then read twice where it
    cannot be used (``forget_kinds``: the store's kinds removed between, as a store written
    before they were kept): each read's readable images and files whose first bytes it read."""
    from objrec import heif, images

    from .conftest import save_heic, unregister_heif

    folder = make_class_folder(tmp_path / "data", per_class=2, classes=("red", "green"))
    save_heic(make_image((200, 30, 30)), folder / "red" / "IMG_0001.HEIC")
    taken_before(folder / "red" / "IMG_0001.HEIC")
    samples = scan_class_folder(folder).samples
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), "torch")
    assert feature_table(body, samples, VIEW).ok.sum() == 5
    if forget_kinds:
        body.cache.store.db.execute("DELETE FROM kinds")
    heads = []
    monkeypatch.setattr(
        images, "_head", lambda path, head=images._head: heads.append(path) or head(path)
    )
    unregister_heif(monkeypatch)
    monkeypatch.setattr(heif, "_register_heif", lambda: False)
    reads = []
    for _ in range(2):
        table = feature_table(body, samples, VIEW)
        assert "IMG_0001.HEIC: cannot read image (a HEIC image" in table.errors[0]
        reads.append((int(table.ok.sum()), len(heads)))
        heads.clear()
    return reads


def test_a_kind_read_of_a_file_changed_since_it_was_hashed_is_not_kept(tmp_path, monkeypatch):
    """A store without kinds read each file's first bytes and kept the kind they said under the
    digest the file had when it was hashed: a photo replaced by a HEIC one in between was kept
    as a HEIC, and refused as one wherever pillow-heif is missing, for good (review52a M1). A
    kind is kept only of a file the index still knows unchanged; the others are left out."""
    import objrec.file_index

    photos = make_class_folder(tmp_path / "photos", per_class=1)
    paths = [s.path for s in scan_class_folder(photos).samples]
    store = FeatureCache(tmp_path / "cache").store
    digests = store.digests(paths)[0]
    store.db.execute("DELETE FROM kinds")  # as a store written before kinds were kept
    victim, original, head = paths[0], paths[0].read_bytes(), objrec.file_index.file_head

    def replaced(path):  # by a HEIC photo, once hashed
        if path == victim:
            victim.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(20))
        return head(path)

    monkeypatch.setattr(objrec.file_index, "file_head", replaced)
    kinds = store.image_kinds(paths, digests)
    monkeypatch.undo()
    victim.write_bytes(original)
    taken_before(victim)
    assert digests[0] not in kinds and [kinds[d] for d in digests[1:]] == [""] * (len(paths) - 1)
    assert store.digests(paths)[0] == digests  # the photo back, hashed again
    assert store.image_kinds(paths, digests) == dict.fromkeys(digests, "")


@pytest.mark.slow  # 1.2 s alone (importing pillow-heif)
def test_where_pillow_heif_cannot_decode_a_warm_read_opens_no_file_to_tell_heic_apart(
    tmp_path, monkeypatch
):
    """4b5bb0d read each stored image's first 12 bytes, every view table, to find the HEIC
    photos to refuse: the store now keeps each image's kind as its file is hashed."""
    assert heic_table_reads(tmp_path, monkeypatch, forget_kinds=False) == [(4, 0), (4, 0)]


@pytest.mark.slow  # 1.2 s alone (importing pillow-heif)
def test_a_store_without_kinds_reads_each_files_first_bytes_once_and_keeps_their_kinds(
    tmp_path, monkeypatch
):
    """A store written before kinds were kept (or whose images an older objrec hashed) tells the
    HEIC photo apart by its first bytes, as before, and keeps every kind it read for next time."""
    assert heic_table_reads(tmp_path, monkeypatch, forget_kinds=True) == [(4, 5), (4, 0)]


@pytest.mark.slow  # 1.2 s alone (importing pillow-heif)
def test_a_heic_photo_refused_while_pillow_heif_failed_to_load_is_decoded_once_it_loads(
    tmp_path, monkeypatch
):
    """Its reason was remembered under pillow-heif's version (installed, but failing to load),
    the same once it loads again: the photo stayed unreadable to train while check read it."""
    from objrec import heif

    from .conftest import save_heic, unregister_heif

    folder = make_class_folder(tmp_path / "data", per_class=2, classes=("red", "green"))
    save_heic(make_image((200, 30, 30)), folder / "red" / "IMG_0001.HEIC")
    taken_before(folder / "red" / "IMG_0001.HEIC")
    samples = scan_class_folder(folder).samples
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), "torch")
    unregister_heif(monkeypatch)  # installed, not yet registered
    with monkeypatch.context() as broken:
        broken.setattr(heif, "_register_heif", lambda: False)
        broken.setattr(heif, "_heif_registered", [])  # this process's answer, not kept
        first = feature_table(body, samples, VIEW)
    assert first.ok.sum() == 4 and "needs pillow-heif" in first.errors[0]
    again = feature_table(body, samples, VIEW)
    assert again.ok.sum() == 5 and again.computed == 1 and again.errors == []


@contextmanager
def file_size_limit(size: int):
    """Files of this process cannot grow past ``size`` bytes: a stand-in for a full disk (a write
    past it fails with EFBIG; SIGXFSZ, which would end the process, is ignored meanwhile)."""
    limits, handler = resource.getrlimit(resource.RLIMIT_FSIZE), signal.getsignal(signal.SIGXFSZ)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)


def open_files(folder) -> list[str]:
    """The files in ``folder`` this process has open."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the descriptor listdir itself used, closed since
            continue
    return [n for n in names if n.startswith(str(folder) + os.sep)]


ROWS = np.random.default_rng(0).standard_normal((2000, 256)).astype(np.float32)
DIGESTS = [f"{i:032x}" for i in range(len(ROWS))]


def test_rows_the_disk_cannot_hold_are_an_error_naming_the_file_and_never_read(tmp_path):
    """A full disk (the file size limit stands in for one) cut ``pwrite`` short: the rest of the
    rows went unwritten, yet fsync passed and every row was indexed; 976 of 2000 read back as
    zeros once a later write extended the file."""
    with FeatureStore(tmp_path / "cache" / "store") as store:
        space = store.space("s", 256)
        with file_size_limit(1 << 20), pytest.raises(OSError) as caught:
            space.write("v", DIGESTS, ROWS)  # 2 MB
        assert caught.value.errno == errno.EFBIG
        assert caught.value.filename == str(tmp_path / "cache" / "store" / "s-0.float32")
        assert not store.lookup("s", "v", DIGESTS).found.any()  # no row of them is served
        space.write("v", [f"{i:032x}" for i in range(5000, 5005)], np.ones((5, 256), np.float32))
        space.write("v", DIGESTS, ROWS)  # with room, as if nothing had happened
        found = store.lookup("s", "v", DIGESTS)
        assert found.found.all() and np.array_equal(space.read(found.rows), ROWS)


def test_rows_are_written_whole_however_few_bytes_each_write_takes(tmp_path, monkeypatch):
    import objrec.store as store_module

    real = os.pwrite
    monkeypatch.setattr(store_module.os, "pwrite", lambda fd, data, at: real(fd, data[:4000], at))
    with FeatureStore(tmp_path / "cache" / "store") as store:
        space = store.space("s", 256)
        space.write("v", DIGESTS[:50], ROWS[:50])
        found = store.lookup("s", "v", DIGESTS[:50])
        assert found.found.all() and np.array_equal(space.read(found.rows), ROWS[:50])
        monkeypatch.setattr(store_module.os, "pwrite", lambda fd, data, at: 0)
        with pytest.raises(OSError, match="took none of the bytes") as caught:
            space.write("v", DIGESTS[50:60], ROWS[50:60])
        assert caught.value.filename == str(tmp_path / "cache" / "store" / "s-0.float32")
        assert not store.lookup("s", "v", DIGESTS[50:60]).found.any()


def test_prune_leaves_no_array_file_open(tmp_path):
    """Each open, write, prune and close left one more descriptor of the array file open: prune
    forgot the spaces it had not compacted without closing them."""
    root = tmp_path / "cache" / "store"
    for n in range(3):
        with FeatureStore(root) as store:
            store.space("s", 4).write("v", [f"{n:032x}"], np.ones((1, 4), np.float32))
            store.prune(older_than_days=1)  # nothing to forget: no space is compacted
            assert store.space("s", 4).read(np.array([n])).tolist() == [[1.0] * 4]
        assert open_files(root) == [], n


def test_a_damaged_index_is_one_sentence_and_leaves_nothing_open(tmp_path):
    root = tmp_path / "cache" / "store"
    FeatureStore(root).close()
    (root / "index.sqlite").write_bytes(b"not a database " * 300)
    with pytest.raises(ObjrecError) as caught:
        FeatureStore(root)
    message = str(caught.value)
    assert f"the feature store's index {root / 'index.sqlite'} is damaged" in message
    call = f"open_cache(cache_dir={str(tmp_path / 'cache')!r}).clear()"  # CLI: cache --clear
    assert f"`{call}` removes it" in message
    assert open_files(root) == []  # the lock was held on until the process ended


def test_an_index_the_disk_cannot_hold_is_one_sentence(tmp_path, monkeypatch):
    """A full disk while rows are reserved raised SQLite's OperationalError: disk I/O error. On a
    disk with room it failed, which clearing the cache mends; on one nearly full, it is full."""
    import objrec.store as store_module

    with FeatureStore(tmp_path / "cache" / "store") as store:
        store.space("s", 4)
        with file_size_limit(1000), pytest.raises(ObjrecError) as caught:
            store.reserve("s", 1)
        index = tmp_path / "cache" / "store" / "index.sqlite"
        assert str(caught.value).startswith(
            f"cannot use the feature store's index {index} (disk I/O error): the disk failed to "
            "read or write it; if it fails again, `open_cache(cache_dir="
        )
        assert store.reserve("s", 1) == 0  # with room again, the failed reservation left nothing
        full = shutil.disk_usage(tmp_path)._replace(free=4096)
        monkeypatch.setattr(store_module.shutil, "disk_usage", lambda path: full)
        with file_size_limit(1000), pytest.raises(ObjrecError) as caught:
            store.reserve("s", 1)
        assert str(caught.value) == full_disk_sentence(
            tmp_path / "cache",
            f"the feature store's index {index} could not be written (disk I/O error)",
        )


def full_disk_sentence(cache: Path, refused: str) -> str:
    """What a full disk under the cache folder ``cache`` says, ``refused`` being what failed."""
    prune = f"`open_cache(cache_dir={str(cache)!r}).prune(older_than_days=30)`"
    clear = f"`open_cache(cache_dir={str(cache)!r}).clear()`"
    return (
        f"the disk of the cache folder {cache} is full: {refused}; free some space on it ({prune} "
        f"forgets what no command used for 30 days, once the disk has a little room; {clear} "
        "forgets all of it; what is forgotten is computed again when needed), or point "
        "OBJREC_CACHE or `cache_dir` at a folder on a disk with room"
    )


@contextmanager
def sqlite_full(monkeypatch, pages: int | None = None):
    """SQLite's own full disk, "database or disk is full" (SQLITE_FULL): every database opened
    in the block holds no more pages than it has (``pages``: than that)."""
    connect = sqlite3.connect

    def limited(*args, **kwargs):
        db = connect(*args, **kwargs)
        (has,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count={has if pages is None else pages}")
        return db

    with monkeypatch.context() as patched:
        patched.setattr(sqlite3, "connect", limited)
        yield


def test_a_full_disk_under_the_index_says_the_cache_folders_disk_is_full(tmp_path, monkeypatch):
    """SQLite's "database or disk is full" as the store's rows are indexed was "cannot use the
    feature store's index ...: if the disk is full, free some space first; if it still fails,
    objrec cache --clear removes it": it names the cache folder's full disk, how to prune it and
    OBJREC_CACHE now."""
    cache = tmp_path / "cache"
    with FeatureStore(cache / "store") as store:
        store.space("s", 4)
    with sqlite_full(monkeypatch), FeatureStore(cache / "store") as store:
        with pytest.raises(ObjrecError) as caught:
            store.space("s", 4).write("v", DIGESTS[:300], ROWS[:300, :4])
        refused = (
            f"the feature store's index {cache / 'store' / 'index.sqlite'} could not be written "
            "(database or disk is full)"
        )
        assert str(caught.value) == full_disk_sentence(cache, refused)
    with FeatureStore(cache / "store") as store:  # with room again, as if nothing had happened
        store.space("s", 4).write("v", DIGESTS[:300], ROWS[:300, :4])
        assert store.lookup("s", "v", DIGESTS[:300]).found.all()


@pytest.mark.slow
def test_a_full_disk_under_the_image_facts_says_the_cache_folders_disk_is_full(
    tmp_path, monkeypatch
):
    """The image facts store (``facts.sqlite``: split's, audit's and check's facts) full."""
    from objrec.facts_store import cached_facts

    photos = make_class_folder(tmp_path / "photos", per_class=2, classes=("red",))
    paths = sorted((photos / "red").iterdir())
    digests = [hash_file(p) for p in paths]
    db_file = tmp_path / "cache" / "facts.sqlite"
    with sqlite_full(monkeypatch, pages=1), pytest.raises(ObjrecError) as caught:
        cached_facts(paths, digests, db_file)
    refused = f"the image facts store {db_file} could not be written (database or disk is full)"
    assert str(caught.value) == full_disk_sentence(tmp_path / "cache", refused)
    assert [f.error for f in cached_facts(paths, digests, db_file)] == ["", ""]  # with room


def test_a_compaction_a_full_disk_cuts_short_leaves_no_half_written_array_file(
    tmp_path, monkeypatch
):
    """A prune whose compaction a full disk (or Ctrl-C) cut short left the new generation's array
    file half written: no index pointed to it and only a prune that got through removed it, so
    it held the room the prune was to free (up to the space's live rows), and every command met
    a fuller disk meanwhile. It is removed; the rows kept read from the file as it was."""
    import objrec.store as store_module

    root = tmp_path / "cache" / "store"
    with FeatureStore(root) as store:
        store.space("s", 4).write("v", DIGESTS[:6], ROWS[:6, :4])

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with FeatureStore(root) as store:
        monkeypatch.setattr(store_module.os, "fsync", full)
        with pytest.raises(OSError, match="No space left"):
            store.prune(keep=set(DIGESTS[:3]))  # the other 3 rows go: compacted into s-1
        monkeypatch.undo()
        assert sorted(p.name for p in root.glob("s-*")) == ["s-0.float32"]
        found = store.lookup("s", "v", DIGESTS[:3])  # the rows kept, in the file as it was
        assert found.found.all()
        assert np.array_equal(store.space("s", 4).read(found.rows, found.generation), ROWS[:3, :4])


def test_rows_a_full_disk_cannot_hold_say_the_cache_folders_disk_is_full(tmp_path, monkeypatch):
    """An array file's write that a full disk refused (ENOSPC) was its OSError alone, which the
    CLI said as "CACHE/store/s-0.float32: no space left on device"."""
    import objrec.store as store_module

    def full(fd, data, at):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with FeatureStore(tmp_path / "cache" / "store") as store:
        space = store.space("s", 4)
        monkeypatch.setattr(store_module.os, "pwrite", full)
        with pytest.raises(ObjrecError) as caught:
            space.write("v", DIGESTS[:5], ROWS[:5, :4])
        refused = (
            f"the feature store's array file {tmp_path / 'cache' / 'store' / 's-0.float32'} "
            "could not be written (no space left on device)"
        )
        assert str(caught.value) == full_disk_sentence(tmp_path / "cache", refused)
        assert not store.lookup("s", "v", DIGESTS[:5]).found.any()


def test_clear_removes_the_store_s_own_files_index_first_and_leaves_the_rest(tmp_path, monkeypatch):
    """remove_store deleted every file and folder of store/ but the lock files: a user's file
    in it went with the features, and a linked folder stopped the clear halfway."""
    import objrec.store as store_module

    root, elsewhere = tmp_path / "cache" / "store", tmp_path / "elsewhere"
    with FeatureStore(root) as store:
        store.space("s", 4).write("v", DIGESTS[:2], ROWS[:2, :4])
    (root / "notes.txt").write_text("mine")
    (root / "keep").mkdir()
    (root / "keep" / "thesis.tex").write_text("mine too")
    elsewhere.mkdir()
    (elsewhere / "rows.float32").write_bytes(b"\0" * 16)
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "t-0.float32").symlink_to(elsewhere / "rows.float32")  # one of objrec's names
    removed, remove = [], store_module.remove_entry
    monkeypatch.setattr(store_module, "remove_entry", lambda p: (removed.append(p.name), remove(p)))
    left = store_module.remove_store(root)
    assert removed[0] == "index.sqlite"  # first: never an index pointing at removed rows
    assert "t-0.float32" in removed and "s-0.float32" in removed
    assert left == [root / "keep", root / "linked", root / "notes.txt"]
    kept = ["keep", "linked", "lock", "notes.txt", "open.lock"]
    assert sorted(p.name for p in root.iterdir()) == kept
    assert (root / "keep" / "thesis.tex").read_text() == "mine too"
    assert (elsewhere / "rows.float32").stat().st_size == 16  # the link's target untouched
    with FeatureStore(root) as store:  # a store again, empty
        assert store.space_dim("s") is None and store.indexed_files() == 0


@pytest.mark.slow
def test_a_store_another_process_holds_is_busy_not_something_to_clear(tmp_path):
    """A locked index was 'if the disk is full, free some space, else objrec cache --clear
    removes it': advice to delete a store another objrec process was using."""
    root = tmp_path / "cache" / "store"
    with FeatureStore(root, timeout=0.2) as store:
        store.space("s", 4)
        other = sqlite3.connect(root / "index.sqlite", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(ObjrecError) as caught:
                store.reserve("s", 1)
        finally:
            other.execute("ROLLBACK")
            other.close()
        message = str(caught.value)
        assert message == (
            f"the feature store's index {root / 'index.sqlite'} is busy (database is locked): "
            "another objrec process is using it; try again when it ends"
        )
        assert store.reserve("s", 1) == 0


def test_a_file_replaced_keeping_its_size_and_mtime_is_hashed_again(tmp_path):
    """A file's digest is reused only when its size, mtime, ctime and inode all match: another
    file moved over it with the same size and mtime (``cp -p``, ``rsync -t``) is read again."""
    path, other = tmp_path / "a.jpg", tmp_path / "b.jpg"
    path.write_bytes(b"first")
    with FeatureStore(tmp_path / "cache" / "store") as store:
        (before,), _ = store.digests([path])
        other.write_bytes(b"other")  # the same size
        kept = path.stat()
        os.utime(other, ns=(kept.st_atime_ns, kept.st_mtime_ns))
        os.replace(other, path)
        (after,), stats = store.digests([path])
    assert after != before
    assert (after, stats.hashed) == (hash_file(path), 1)


def test_an_index_that_cannot_be_written_names_permissions_and_bugs_pass(tmp_path):
    root = tmp_path / "cache" / "store"
    with FeatureStore(root) as store:
        store.space("s", 4)
        writable, store.db = (
            store.db,
            sqlite3.connect(
                f"file:{root / 'index.sqlite'}?mode=ro", uri=True, isolation_level=None
            ),
        )
        try:
            with pytest.raises(ObjrecError) as caught:
                store.reserve("s", 1)
        finally:
            store.db.close()
            store.db = writable
        message = str(caught.value)
        assert f"the feature store's index {root / 'index.sqlite'} cannot be written" in message
        assert "readonly database" in message and "permissions" in message
        assert "--clear" not in message
        store.db.close()
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            store.indexed_files()  # objrec's own mistake: SQLite's error as it is
        store.db = sqlite3.connect(root / "index.sqlite", isolation_level=None)


def test_a_facts_store_that_cannot_be_opened_says_so_not_to_clear_it(tmp_path):
    from objrec.facts_store import cached_facts

    facts = tmp_path / "cache" / "facts.sqlite"
    facts.mkdir(parents=True)  # SQLite cannot open a folder: SQLITE_CANTOPEN
    with pytest.raises(ObjrecError) as caught:
        cached_facts([], [], facts)
    message = str(caught.value)
    assert message.startswith(f"the image facts store {facts} cannot be opened (")
    assert "permissions" in message and "--clear" not in message


def test_a_database_removed_while_in_use_is_not_called_a_permissions_problem(tmp_path):
    """`objrec cache --clear` beside a split that was writing image facts: SQLite's
    READONLY_DBMOVED, masked to READONLY, sent the user to check permissions that were fine."""
    path = tmp_path / "facts.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t(x)")
    db.commit()
    path.unlink()
    with pytest.raises(sqlite3.OperationalError) as caught:
        db.execute("INSERT INTO t VALUES (1)")
        db.commit()
    said = str(database_error(path, "the image facts store", tmp_path, caught.value))
    assert "removed while this command used it" in said and "run the command again" in said
    assert "permissions" not in said


def test_a_clear_while_a_split_measures_image_facts_loses_none_of_them(tmp_path, monkeypatch):
    """`objrec cache --clear` while a split or an audit decoded images removed facts.sqlite under
    its open connection: the command failed at its write (the database was moved), after all its
    decoding. The facts store is open only to read and to write, never while images decode."""
    from objrec import facts_store, image_facts

    photos = make_class_folder(tmp_path / "photos", per_class=1)
    paths = [s.path for s in scan_class_folder(photos).samples]
    cache = FeatureCache(tmp_path / "cache")
    facts_store.cached_facts(paths[:1], [hash_file(paths[0])], cache.facts_file)
    measure = image_facts.all_facts

    def cleared_meanwhile(*args, **kwargs):
        cache.clear()
        return measure(*args, **kwargs)

    monkeypatch.setattr(image_facts, "all_facts", cleared_meanwhile)
    facts = facts_store.cached_facts(paths, [hash_file(p) for p in paths], cache.facts_file)
    assert not any(f.error for f in facts) and cache.summary().facts.rows == len(paths) - 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["clear", "prune"])
def test_clear_and_prune_wait_for_the_image_facts_store_in_use(tmp_path, command):
    """split and audit wrote facts.sqlite holding no lock, so `objrec cache --clear` removed it
    (or --prune rewrote it) under their connection; they hold the facts lock as the feature store's
    users hold its lock, and clear and prune take it exclusively, waiting (said) for them."""
    import threading

    from objrec import facts_store

    cache = FeatureCache(tmp_path / "cache")
    facts_store.cached_facts([], [], cache.facts_file)
    waited = threading.Event()

    def clear_or_prune():
        if command == "clear":
            cache.clear(waited.set)
        else:
            cache.prune(1, None, waited.set)
            cache.close()  # the store it opened belongs to this thread

    other = threading.Thread(target=clear_or_prune)
    with facts_store.open_facts(cache.facts_file) as db:  # as a split writing its facts holds it
        other.start()
        assert waited.wait(60)
        time.sleep(0.05)
        assert cache.facts_file.exists() and other.is_alive()
        db.execute("INSERT INTO facts VALUES ('d', 'k', '{}')")
    other.join(60)
    assert not other.is_alive() and cache.facts_file.exists() is (command == "prune")
    assert "facts.lock" not in [p.name for p in cache.clear().left]


def test_prune_makes_the_switch_to_a_new_array_file_durable_before_removing_the_old_one(
    tmp_path, monkeypatch
):
    """In WAL mode with synchronous=NORMAL a commit is not synced: a power cut after prune removed
    the old array file could lose the switch to the new one and keep the removal. What this can
    show: the order (sync setting, switch, commit, folder synced, removal); not that the disk
    honours fsync, which only pulling the plug shows."""
    from pathlib import Path

    events: list[str] = []
    with FeatureStore(tmp_path / "cache" / "store") as store:
        space = store.space("s", 4)
        space.write("v", DIGESTS[:2], np.ones((2, 4), np.float32))
        store.db.execute("DELETE FROM entries WHERE digest=?", (DIGESTS[0],))
        store.db.set_trace_callback(events.append)
        unlink, fsync = Path.unlink, os.fsync
        monkeypatch.setattr(
            Path,
            "unlink",
            lambda p, *a, **k: events.append(f"unlink {p.name}") or unlink(p, *a, **k),
        )
        monkeypatch.setattr(
            os,
            "fsync",
            lambda fd: events.append(f"fsync {os.readlink(f'/proc/self/fd/{fd}')}") or fsync(fd),
        )
        store.prune(older_than_days=1)
        switch = next(i for i, e in enumerate(events) if e.startswith("UPDATE spaces SET rows"))
        commit = events.index("COMMIT", switch)
        assert events.index("PRAGMA synchronous=FULL") < switch
        assert "PRAGMA synchronous" not in " ".join(
            events[events.index("PRAGMA synchronous=FULL") + 1 : commit]
        )
        assert f"fsync {tmp_path / 'cache' / 'store'}" in events[:switch]
        assert events.index("unlink s-0.float32") > commit
        assert store.db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL again
        assert store.space("s", 4).read(np.array([0])).tolist() == [[1.0] * 4]


def test_a_removed_array_file_is_never_made_again_empty_its_entries_are_computed_again(
    tmp_path, caplog
):
    """A reader opened the array file with O_CREAT: a removed one came back empty, and every
    later run failed with "short read in space ...", naming neither the file nor a remedy."""
    root = tmp_path / "cache" / "store"
    with FeatureStore(root) as store:
        store.space("s", 4).write("v", DIGESTS[:3], ROWS[:3, :4])
    (array := root / "s-0.float32").unlink()
    with FeatureStore(root) as store:
        space = store.space("s", 4)
        with pytest.raises(ObjrecError, match=f"{array} was removed or cut short"):
            space.read(np.array([0]))  # rows looked up before it was removed
        assert not array.exists()
        assert not store.lookup("s", "v", DIGESTS[:3]).found.any()  # to be computed again
        space.write("v", DIGESTS[:1], ROWS[:1, :4])
        found = store.lookup("s", "v", DIGESTS[:3])
        assert found.found.tolist() == [True, False, False]
        assert space.read(found.rows[:1]).tolist() == ROWS[:1, :4].tolist()
    with open(array, "r+b") as f:  # cut short: the row written last is lost
        f.truncate(4 * 4 * 3 + 2)
    with FeatureStore(root) as store, caplog.at_level("WARNING"):
        assert not store.lookup("s", "v", DIGESTS[:1]).found.any()
    assert f"{array} was removed or cut short: forgot the feature row it lacked" in caplog.text


def test_opening_a_store_being_pruned_says_it_waits_instead_of_looking_hung(tmp_path, caplog):
    import fcntl
    import threading

    root = tmp_path / "cache" / "store"
    FeatureStore(root).close()
    opened = threading.Event()

    def open_store():
        with FeatureStore(root):
            opened.set()

    with open(root / "lock", "a+b") as pruning, caplog.at_level("WARNING"):
        fcntl.flock(pruning, fcntl.LOCK_EX)  # as prune and clear hold it
        opener = threading.Thread(target=open_store)
        opener.start()
        deadline = time.monotonic() + 60
        while "waiting for another" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not opened.is_set()
        fcntl.flock(pruning, fcntl.LOCK_UN)
        opener.join()
    assert opened.is_set()
    assert caplog.messages == [
        f"waiting for another objrec process to finish pruning or clearing the feature store {root}"
    ]


def test_opening_a_store_another_thread_clears_says_it_waits_for_that_thread(
    tmp_path, caplog, monkeypatch
):
    """store62: a Python caller's thread opening the store while another of its threads cleared
    (or pruned) it warned that it waited for "another objrec process"; each thread has a store
    of its own, so the wait is for this program's other thread, and it says so."""
    import threading

    from objrec import store as store_module

    root = tmp_path / "cache" / "store"
    FeatureStore(root).close()
    clearing, real = threading.Event(), store_module.remove_entry

    def removed_once_the_opener_waits(path: Path) -> None:
        clearing.set()
        deadline = time.monotonic() + 60
        while "waiting for another" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        real(path)

    monkeypatch.setattr(store_module, "remove_entry", removed_once_the_opener_waits)

    def open_store() -> None:
        assert clearing.wait(60)
        FeatureStore(root).close()

    with caplog.at_level("WARNING"):
        assert in_threads(lambda: store_module.remove_store(root), open_store) == []
    assert caplog.messages == [
        f"waiting for another thread of this program to finish pruning or clearing the feature "
        f"store {root}"
    ]


def test_a_space_the_store_does_not_have_is_one_sentence_not_a_type_error(tmp_path):
    """``lookup`` and ``generation`` of an unknown space raised TypeError: 'NoneType' object is
    not subscriptable."""
    root = tmp_path / "cache" / "store"
    with FeatureStore(root) as store:
        for call in (
            lambda: store.lookup("gone", "v", DIGESTS[:1]),
            lambda: store.generation("gone"),
        ):
            with pytest.raises(ObjrecError, match=f"the feature store {root} has no space gone"):
                call()


def test_rows_missing_after_the_frozen_pass_are_explained_or_one_sentence(tmp_path):
    """It was a RuntimeError, "the feature store lost rows it was just given". Under torchrun a
    missing row was put down to "another torchrun rank could not read it" whatever the cause
    (review56a H1): the ranks' own reasons are gathered now, and a row none explains is the same
    one sentence as in one process."""
    from objrec.data import Sample
    from objrec.features import account_for_missing
    from objrec.store import Lookup

    samples = [Sample(tmp_path / "a.jpg", 0), Sample(tmp_path / "b.jpg", 0)]
    found = Lookup(np.array([0, -1]), np.array([True, False]), {})
    mine = account_for_missing(found, samples, ["d0", "d1"], {"d1": "cannot read the file"})
    assert mine.errors == {1: "cannot read the file"}
    with pytest.raises(ObjrecError, match=f"no features for {samples[1].path} though they were"):
        account_for_missing(found, samples, ["d0", "d1"], {})


def test_image_facts_measured_under_another_decoder_are_measured_again(tmp_path, monkeypatch):
    """The image facts (sizes, perceptual hashes) were kept by content and measuring rules only:
    after a Pillow or libjpeg-turbo upgrade, which may change a photo's pixels and so its hashes,
    split and check went on reading the facts the old decoder's pixels gave."""
    import PIL

    from objrec import facts_store, image_facts

    make_image((200, 40, 40), size=(40, 30), seed=1).save(tmp_path / "a.jpg")
    paths, db = [tmp_path / "a.jpg"], tmp_path / "cache" / "facts.sqlite"
    measure, measured = image_facts.all_facts, []

    def counted(paths, *args, **kwargs):
        measured.append(len(paths))
        return measure(paths, *args, **kwargs)

    monkeypatch.setattr(image_facts, "all_facts", counted)
    digests = [hash_file(paths[0])]
    first = facts_store.cached_facts(paths, digests, db)
    assert facts_store.cached_facts(paths, digests, db) == first and measured == [1, 0]
    monkeypatch.setattr(PIL, "__version__", "99.0.0")
    assert facts_store.cached_facts(paths, digests, db) == first and measured == [1, 0, 1]
    assert facts_store.prune_facts(db)[0] == 1  # the old decoder's row


@pytest.mark.slow
def test_rows_of_a_removed_array_file_are_not_read_from_the_file_a_later_write_makes(
    tmp_path, caplog
):
    """review46 finding 1: a write after the array file was removed made it again with a hole
    where the lost rows were (at their reserved offsets), and their entries read it as zeros;
    cut short in place and written again, likewise."""
    root = tmp_path / "cache" / "store"
    with FeatureStore(root) as store:
        store.space("s", 4).write("v", DIGESTS[:2], ROWS[:2, :4])
    (array := root / "s-0.float32").unlink()
    with FeatureStore(root) as store, caplog.at_level("WARNING"):
        space = store.space("s", 4)
        space.write("v", DIGESTS[2:3], ROWS[2:3, :4])  # e.g. an evaluate of other images
        found = store.lookup("s", "v", DIGESTS[:3])
        assert found.found.tolist() == [False, False, True]  # the lost two computed again
        assert space.read(found.rows[2:]).tolist() == ROWS[2:3, :4].tolist()
    assert f"{array} was removed or cut short: forgot the 2 feature rows it lacked" in caplog.text
    with open(array, "r+b") as f:
        f.truncate(0)
    with FeatureStore(root) as store:
        store.space("s", 4).write("v", DIGESTS[3:4], ROWS[3:4, :4])
        assert store.lookup("s", "v", DIGESTS[:4]).found.tolist() == [False] * 3 + [True]


def test_rows_written_into_an_array_file_removed_since_are_never_indexed(tmp_path, caplog):
    """A writer whose array file was removed (or replaced) while it held it open wrote on into
    the removed file, and indexed rows that the file in the folder lacks."""
    root = tmp_path / "cache" / "store"
    with FeatureStore(root) as store, caplog.at_level("WARNING"):
        space = store.space("s", 4)
        with space.syncing_seldom():
            space.write("v", DIGESTS[:2], ROWS[:2, :4])
            (root / "s-0.float32").unlink()
            (root / "s-0.float32").write_bytes(ROWS[:2, :4].tobytes() + bytes(16))  # by hand
        assert not store.lookup("s", "v", DIGESTS[:2]).found.any()
        space.write("v", DIGESTS[2:3], ROWS[2:3, :4])  # into the file now in the folder
        found = store.lookup("s", "v", DIGESTS[:3])
        assert found.found.tolist() == [False, False, True]
        assert space.read(found.rows[2:]).tolist() == ROWS[2:3, :4].tolist()
    assert "removed or replaced while in use: the 2 feature rows written into it" in caplog.text


def test_a_file_removed_and_made_again_in_the_window_before_indexing_gets_no_entries(tmp_path):
    """review3-46 LOW 2: the file was checked before the transaction that indexes its rows; removed
    by hand and made again by another writer in between (its forget_lost_rows run before these
    entries were), rows 0 and 1 were indexed on the new file's hole and read as zeros."""
    root = tmp_path / "cache" / "store"
    with FeatureStore(root) as store:
        space, real, armed = store.space("s", 4), store._transaction, []

        def transaction():  # the window: after the sync, before the index is locked
            if armed and armed.pop():
                (root / "s-0.float32").unlink()  # by hand
                with FeatureStore(root) as other:
                    other.space("s", 4).write("v", DIGESTS[2:3], ROWS[2:3, :4])
            return real()

        store._transaction = transaction
        with space.syncing_seldom():
            space.write("v", DIGESTS[:2], ROWS[:2, :4])
            armed.append(True)
        found = store.lookup("s", "v", DIGESTS[:3])
        assert found.found.tolist() == [False, False, True]
        assert space.read(found.rows[2:]).tolist() == ROWS[2:3, :4].tolist()


@pytest.mark.slow
def test_a_train_after_the_array_file_was_removed_and_made_again_computes_its_rows_again(
    capsys, caplog, tmp_path, split_dir
):
    """review46 finding 1, as a user meets it: the store's array file removed by hand, then an
    evaluate of the test images made it again; the next train found every training row in the
    store, read zeros for them and trained on those (valid accuracy at chance), saying every
    feature came from the store."""
    from objrec.cli import main

    cache, common = (
        tmp_path / "cache",
        ["--backbone", "tiny_test", "--aug-views", "0", "--epochs", "30"],
    )

    def train(out):
        args = ["train", split_dir, "--out", tmp_path / out, *common, "--cache-dir", cache]
        assert main([str(a) for a in [*args, "--json"]]) == 0
        return json.loads(capsys.readouterr().out)

    first = train("run1")
    for array in (cache / "store").glob("*-0.float*"):
        array.unlink()  # by hand: a disk-cleaning tool, rm of big files
    with caplog.at_level("WARNING"):
        assert main(["evaluate", str(tmp_path / "run1"), str(split_dir / "test")]) == 0
    capsys.readouterr()
    again = train("run2")
    assert again["frozen_pass"]["computed"] == first["frozen_pass"]["computed"] > 0
    assert again["best_valid_acc"] == first["best_valid_acc"]
    assert "was removed or cut short: forgot the" in caplog.text  # said by the evaluate


@pytest.mark.slow
def test_a_frozen_pass_syncs_its_rows_once_a_second_not_once_a_batch(tmp_path, monkeypatch):
    """review46 finding 5: each batch of rows had its own fsync (3.6 ms here, 10-20 ms on a
    spinning or network disk), 484 of them in a cold pass of the 100-class protocol."""
    import objrec.store as store_module

    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=4)).samples
    synced = []
    real = os.fsync
    monkeypatch.setattr(store_module.os, "fsync", lambda fd: synced.append(fd) or real(fd))
    monkeypatch.setattr(store_module, "SYNC_SECONDS", 3600.0, raising=False)
    body = FrozenBody(TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), "torch")
    table = feature_table(body, samples, VIEW, PassSettings(batch_size=2))
    assert table.computed == len(samples) > 2 * 2 and len(synced) == 1
    assert table.ok.all() and torch.allclose(
        table.load().features,
        torch.stack([expected(samples)[hash_file(s.path)] for s in samples]),
        atol=1e-6,
    )


@pytest.mark.slow
def test_a_frozen_pass_stopped_midway_indexes_the_batches_it_wrote(tmp_path, monkeypatch):
    """Rows synced and indexed once a second: a Ctrl-C between two of those keeps the batches
    written before it (what the stop's sentence says is kept), never a row not synced."""
    import objrec.store as store_module

    samples = scan_class_folder(make_class_folder(tmp_path / "photos", per_class=4)).samples
    monkeypatch.setattr(store_module, "SYNC_SECONDS", 3600.0, raising=False)
    real, writes = store_module.Space.write, []

    def write(self, view, digests, features, pixels=None):
        if len(writes) == 2:
            raise KeyboardInterrupt
        writes.append(list(digests))
        real(self, view, digests, features, pixels)

    monkeypatch.setattr(store_module.Space, "write", write)
    cache = FeatureCache(tmp_path / "cache")
    body = FrozenBody(TinyBody(), DATA.input_size, cache, "torch")
    with pytest.raises(KeyboardInterrupt):
        feature_table(body, samples, VIEW, PassSettings(batch_size=2))
    assert cache.rows_written == 4
    monkeypatch.setattr(store_module.Space, "write", real)
    table = feature_table(body, samples, VIEW, PassSettings(batch_size=2))
    assert table.computed == len(samples) - 4

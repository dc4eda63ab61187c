"""``pytest -n auto`` keeps the tests of ``xdist_groups.ONE_WORKER``'s modules on one worker."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from .xdist_groups import ONE_WORKER, load_scheduling_keeping_modules_whole, module_of

pytest.importorskip("xdist")


class Worker:
    """What the scheduler sees of a worker: the tests it is sent, in order."""

    def __init__(self, name: str):
        self.sent, self.shutting_down, self.gateway = [], False, SimpleNamespace(id=name)

    def send_runtest_some(self, indices):
        self.sent.extend(indices)

    def shutdown(self):
        self.shutting_down = True


def scheduled(collection: list[str]) -> list[list[str]]:
    """The tests each of two workers is sent, as ``--dist load`` with the hook sends them, each
    worker finishing every test it was sent before the other finishes one."""
    options = {"tx": ["2*popen"], "maxschedchunk": None}
    config = SimpleNamespace(getvalue=options.get, getoption=options.get)
    silent = SimpleNamespace(loadsched=lambda *words: None)
    scheduler = load_scheduling_keeping_modules_whole()(config, silent)
    workers = [Worker("gw0"), Worker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    while scheduler.pending or any(scheduler.node2pending.values()):
        for worker in workers:
            for index in list(scheduler.node2pending[worker]):
                scheduler.mark_test_complete(worker, index)
    return [[collection[i] for i in worker.sent] for worker in workers]


def test_a_module_kept_whole_runs_on_one_worker_and_the_others_on_both():
    assert (
        "test_page.py" in ONE_WORKER
        and module_of("tests/test_page.py::test_x[a]") == "test_page.py"
    )
    collection = [f"tests/test_a.py::test_{i}" for i in range(37)]
    collection += [f"tests/test_page.py::test_{i}" for i in range(30)]
    collection += [f"tests/test_z.py::test_{i}" for i in range(41)]
    sent = scheduled(collection)
    assert sorted(sent[0] + sent[1]) == sorted(collection)  # each test once
    assert [sum("test_page.py" in nodeid for nodeid in tests) for tests in sent] in (
        [30, 0],
        [0, 30],
    )
    for tests in sent:
        whole_then_the_rest = sorted(collection, key=lambda nodeid: "test_page.py" not in nodeid)
        assert tests == [nodeid for nodeid in whole_then_the_rest if nodeid in tests]  # in order
        assert any("test_a.py" in nodeid for nodeid in tests)
        assert any("test_z.py" in nodeid for nodeid in tests)


def test_the_modules_kept_whole_are_sent_first_and_the_run_ends_on_tests_either_worker_takes():
    """A module kept whole at the end of the collection (test_serve.py) was sent last, and one
    worker ran it alone, 20 s after the other had run out of tests: sent first, the last tests
    sent are small ones, to whichever worker runs low."""
    collection = [f"tests/test_a.py::test_{i}" for i in range(60)]
    collection += [f"tests/test_serve.py::test_{i}" for i in range(40)]
    sent = scheduled(collection)
    first = [tests[0] for tests in sent]
    assert "tests/test_serve.py::test_0" in first and "tests/test_a.py::test_0" in first
    assert all("test_serve.py" not in tests[-1] for tests in sent)


def test_a_folder_made_once_is_made_by_the_first_worker_to_ask_and_read_by_the_others(tmp_path):
    """``conftest.made_once``: the session's trained run, sample run and image facts were made
    again in each xdist worker; the first worker to ask makes them in the run's folder, the
    others find them there. A make that fails marks nothing made: the next worker makes it
    again, from an empty folder. Without xdist the folder is in the session's own."""
    from .conftest import made_once

    def request(basetemp, worker: bool):
        config = SimpleNamespace(workerinput={}) if worker else SimpleNamespace()
        factory = SimpleNamespace(getbasetemp=lambda: basetemp)
        return SimpleNamespace(config=config, getfixturevalue={"tmp_path_factory": factory}.get)

    made: list[Path] = []

    def make(folder: Path) -> None:
        assert list(folder.iterdir()) == []
        made.append(folder)
        (folder / "half").touch()
        if len(made) == 1:
            raise OSError("disk full")

    run = tmp_path / "pytest-7"
    (run / "popen-gw0").mkdir(parents=True)
    with pytest.raises(OSError, match="disk full"):
        made_once(request(run / "popen-gw0", worker=True), "trained", make)
    assert made_once(request(run / "popen-gw1", worker=True), "trained", make) == run / "trained"
    assert made_once(request(run / "popen-gw0", worker=True), "trained", make) == run / "trained"
    assert made == [run / "trained", run / "trained"]
    alone = tmp_path / "pytest-8"
    alone.mkdir()
    assert made_once(request(alone, worker=False), "trained", make) == alone / "trained"
    assert len(made) == 3

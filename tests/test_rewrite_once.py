"""The test modules' asserts rewritten once per xdist run (``tests/rewrite_once.py``)."""

import os
import subprocess
import sys
from importlib.util import source_hash
from pathlib import Path
from types import SimpleNamespace

import pytest
from _pytest.assertion import rewrite

from tests.rewrite_once import (
    FOLDER,
    KEPT,
    code_path,
    kept_folder,
    modules_to_import,
    pytest_configure,
    pytest_configure_node,
    taking_rewritten,
    write_rewritten,
)

FAILING = "def test_x():\n    a = 1\n    assert a == 2\n"


def counted(own, asked: list[Path]):
    """``own`` (pytest's rewriting), each module it is asked for noted in ``asked``."""

    def rewriting(module, config):
        asked.append(module)
        return own(module, config)

    return rewriting


def fails_saying(code, expected: str) -> None:
    """``code``, the rewritten module of :data:`FAILING` (its ``a`` maybe changed), run: its test
    fails with pytest's explanation ``expected``, as only rewritten code explains it."""
    namespace: dict = {}
    exec(code, namespace)
    with pytest.raises(AssertionError, match=expected):
        namespace["test_x"]()


def test_a_worker_takes_the_code_of_another_s_share_and_it_explains_its_failures(
    tmp_path, pytestconfig
):
    module, folder = tmp_path / "test_sample.py", tmp_path / "rewritten"
    module.write_text(FAILING)
    folder.mkdir()
    write_rewritten(folder, [module], pytestconfig)  # the share of worker 1
    asked: list[Path] = []
    rewritten = taking_rewritten(folder, {module: "gw1"}, counted(rewrite._rewrite_test, asked))
    _, code = rewritten(module, pytestconfig)  # in worker 0
    assert asked == []
    fails_saying(code, r"assert 1 == 2")  # rewritten: it says what a was


def test_a_module_changed_since_its_code_was_written_is_rewritten_as_it_reads_now(
    tmp_path, pytestconfig
):
    module, folder = tmp_path / "test_sample.py", tmp_path / "rewritten"
    module.write_text(FAILING)
    folder.mkdir()
    write_rewritten(folder, [module], pytestconfig)
    module.write_text(FAILING.replace("a = 1", "a = 3"))
    asked: list[Path] = []
    rewritten = taking_rewritten(folder, {module: "gw1"}, counted(rewrite._rewrite_test, asked))
    _, code = rewritten(module, pytestconfig)
    assert asked == [module]
    fails_saying(code, r"assert 3 == 2")


def test_a_worker_takes_its_share_from_a_run_before_and_rewrites_none_of_it(
    tmp_path, pytestconfig, monkeypatch
):
    """Where pytest keeps no rewritten code (``PYTHONDONTWRITEBYTECODE``), each run rewrote every
    module again (2 s of CPU in each of the quick tier's two workers); the folder that outlives
    the run now gives a worker the code of its share, written by a run before."""
    module, folder = tmp_path / "test_sample.py", tmp_path / "rewritten"
    module.write_text(FAILING)
    folder.mkdir()
    asked: list[Path] = []
    monkeypatch.setattr(rewrite, "_rewrite_test", counted(rewrite._rewrite_test, asked))
    write_rewritten(folder, [module], pytestconfig)  # the run before
    write_rewritten(folder, [module], pytestconfig)
    assert asked == [module]
    rewritten = taking_rewritten(folder, {}, counted(rewrite._rewrite_test, asked), keep=True)
    _, code = rewritten(module, pytestconfig)
    assert asked == [module]
    fails_saying(code, r"assert 1 == 2")


def test_kept_code_is_the_code_of_its_module_s_path_and_a_new_version_replaces_it(
    tmp_path, pytestconfig
):
    """The code names its module's path (a failure's traceback shows it): the same source at
    another path is rewritten for that path. A module changed is kept in its new version alone,
    and a module rewritten where it was not kept (outside any share) is kept for the next run."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "test_sample.py", tmp_path / "b" / "test_sample.py"
    folder = tmp_path / "rewritten"
    folder.mkdir()
    for module in (first, second):
        module.write_text(FAILING)
    write_rewritten(folder, [first], pytestconfig)
    asked: list[Path] = []
    rewritten = taking_rewritten(folder, {}, counted(rewrite._rewrite_test, asked), keep=True)
    _, code = rewritten(second, pytestconfig)
    assert asked == [second] and code.co_filename == str(second)
    assert len(list(folder.iterdir())) == 2  # each path's own
    first.write_text(FAILING.replace("a = 1", "a = 3"))
    _, code = rewritten(first, pytestconfig)
    assert asked == [second, first] and code.co_filename == str(first)
    kept = [
        code_path(folder, m, source_hash(m.read_bytes()), pytestconfig) for m in (first, second)
    ]
    assert sorted(folder.iterdir()) == sorted(kept)  # the first version's code gone
    assert rewritten(first, pytestconfig)[1].co_filename == str(first) and len(asked) == 2


def test_the_code_outlives_the_run_in_pytest_s_cache_only_where_pytest_keeps_none(
    pytestconfig, monkeypatch
):
    """``PYTHONDONTWRITEBYTECODE``: pytest keeps no rewritten code, so it is kept in pytest's own
    cache folder (never beside the sources); elsewhere pytest's ``__pycache__`` keeps it, and with
    ``-p no:cacheprovider`` nothing outlives the run."""
    if getattr(pytestconfig, "cache", None) is None:
        pytest.skip("pytest's cache is off (-p no:cacheprovider)")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    kept = kept_folder(pytestconfig)
    assert kept is not None and kept.is_dir() and kept.name == KEPT
    assert kept.is_relative_to(pytestconfig.cache._cachedir)
    assert kept_folder(SimpleNamespace(cache=None)) is None
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert kept_folder(pytestconfig) is None


def test_the_modules_to_import_are_those_of_the_paths_given_less_the_test_named(tmp_path):
    (tmp_path / "tests").mkdir()
    for name in ("test_b.py", "test_a.py", "helpers.py"):
        (tmp_path / "tests" / name).write_text("")

    given = SimpleNamespace(dir=tmp_path)
    config = SimpleNamespace(args=["tests", "tests/test_a.py::test_x"], invocation_params=given)
    found = modules_to_import(config)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "tests/test_a.py",
        "tests/test_b.py",
        "tests/test_a.py",
    ]


def test_a_pytest_whose_private_rewriting_changed_rewrites_as_its_own(
    monkeypatch, tmp_path, pytestconfig
):
    """``_rewrite_test`` is pytest's, private: a pytest whose one takes other arguments gets
    neither the folder (the controller) nor the module's stand-in (a worker), where it broke the
    run; each worker rewrites as pytest does."""
    changed = lambda fn, config, source: own(fn, config)  # noqa: E731
    own = rewrite._rewrite_test
    monkeypatch.setattr(rewrite, "_rewrite_test", changed)
    node = SimpleNamespace(config=pytestconfig, workerinput={"workercount": 2, "workerid": "gw0"})
    pytest_configure_node(node)
    assert FOLDER not in node.workerinput
    given = {FOLDER: str(tmp_path), "workercount": 2, "workerid": "gw0"}
    pytest_configure(SimpleNamespace(workerinput=given))
    assert rewrite._rewrite_test is changed and list(tmp_path.iterdir()) == []


COUNTING = """
import os
from _pytest.assertion import rewrite
from tests.rewrite_once import (
    pytest_configure,
    pytest_configure_node,
    pytest_testnodedown,
    pytest_testnodeready,
)

own = rewrite._rewrite_test


def counted(module, config):
    with open(os.environ["REWRITES"], "a") as noted:
        noted.write(module.name + "\\n")
    return own(module, config)


rewrite._rewrite_test = counted
"""


@pytest.mark.slow  # a pytest with two xdist workers: about 3 s of CPU
def test_two_workers_rewrite_each_module_once_and_a_failure_still_explains_itself(tmp_path):
    """Each worker rewrote every test module (6,000 asserts: 3 s of CPU per worker on idle
    cores); now each rewrites its share, and takes the other's share from the folder it wrote,
    which goes at the end of the run."""
    for n in range(4):
        (tmp_path / f"test_m{n}.py").write_text(FAILING if n == 2 else "def test_x():\n    pass\n")
    (tmp_path / "conftest.py").write_text(COUNTING)
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "tmp").mkdir()
    env = os.environ | {
        "REWRITES": str(tmp_path / "rewrites.txt"),
        "PYTHONPATH": str(root),
        "TMPDIR": str(tmp_path / "tmp"),
    }
    args = ["-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "."]
    done = subprocess.run(
        [sys.executable, *args, "--rootdir", str(tmp_path), "-c", os.devnull],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 3 passed" in done.stdout and "assert 1 == 2" in done.stdout
    rewrites = (tmp_path / "rewrites.txt").read_text().split()  # with plugins' modules
    assert sorted(r for r in rewrites if r.startswith("test_")) == [
        f"test_m{n}.py" for n in range(4)
    ]
    assert not any((tmp_path / "tmp").glob("objrec-rewritten-*"))


@pytest.mark.slow  # three pytests, two of them with two xdist workers: about 5 s of CPU
def test_a_run_after_another_rewrites_no_module_unchanged_where_pytest_keeps_no_code(tmp_path):
    """Under ``PYTHONDONTWRITEBYTECODE`` every run rewrote every module again; now a run, with
    xdist or without, rewrites only the modules changed since the last, and a failure still
    explains itself."""
    for n in range(4):
        (tmp_path / f"test_m{n}.py").write_text(FAILING if n == 2 else "def test_x():\n    pass\n")
    (tmp_path / "conftest.py").write_text(COUNTING)
    root = Path(__file__).resolve().parents[1]
    rewrites = tmp_path / "rewrites.txt"
    env = os.environ | {
        "REWRITES": str(rewrites),
        "PYTHONPATH": str(root),
        "PYTHONDONTWRITEBYTECODE": "1",
    }

    def run(*options: str) -> list[str]:
        rewrites.write_text("")
        args = ["-m", "pytest", *options, "-o", "cache_dir=.cache", "."]
        done = subprocess.run(
            [sys.executable, *args, "--rootdir", str(tmp_path), "-c", os.devnull],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "1 failed, 3 passed" in done.stdout and "assert 1 == 2" in done.stdout
        return sorted(r for r in rewrites.read_text().split() if r.startswith("test_"))

    assert run("-n", "2") == [f"test_m{n}.py" for n in range(4)]
    (tmp_path / "test_m1.py").write_text("def test_x():\n    assert True\n")
    assert run("-n", "2") == ["test_m1.py"]
    assert run() == []
    assert not any(tmp_path.glob("__pycache__/*pytest*"))  # pytest kept none, as asked

"""Under pytest-xdist, the test modules' asserts rewritten once per run, not once in each worker.

pytest rewrites every ``assert`` of a test module as it imports it, so that a failure explains
itself. The suite's 6,000 asserts took each worker 3 s of CPU on idle cores (6 s on busy ones,
half its collection), and every worker imports every module, whatever ``-m`` selects. pytest
keeps the rewritten code in ``__pycache__``, but not under ``PYTHONDONTWRITEBYTECODE``, and in a
fresh clone both workers rewrite the same modules at the same moment. Here each worker rewrites
its share of the modules (about as many bytes of them as each other worker) into a folder the controller
names, before it collects, and takes the others' code from there: the controller holds a lock
on each worker's share until that worker says it is ready, which it says once it wrote it. A
module it finds no code of there, a worker rewrites itself, as before. The code is pytest's own (``_rewrite_test``): the same asserts, the same explanations.
That function is private to pytest: a pytest that changed it (:func:`rewrites_as_known`) gets no
sharing, each worker rewriting every module as pytest does, rather than a broken run. It saved
each xdist worker 2.4 s of CPU before its first test (9.6 -> 7.2 s, the 2-core AMD EPYC at a load
of 11 to 15, 6 December); nothing where pytest keeps the code in ``__pycache__`` from a run before.
``tests/conftest.py`` registers the hooks; ``test_rewrite_once.py`` checks them.
"""

from __future__ import annotations

import fcntl
import gc
import inspect
import marshal
import os
import tempfile
from collections.abc import Callable
from importlib.util import MAGIC_NUMBER, source_hash
from pathlib import Path

import pytest
from _pytest.assertion import rewrite

FOLDER = "objrec_rewritten"
"""The key of ``workerinput`` that names the folder of rewritten code."""

_locks = pytest.StashKey[dict]()
"""In the controller: the folder (``"folder"``) and each worker's lock file (by its id), open
and locked until that worker is ready."""


def code_path(folder: Path, module: Path, source: bytes) -> Path:
    """Where the rewritten code of ``module`` (as ``source`` reads) is kept in ``folder``: named by
    the source's hash, so that a module changed since is never given code of another version."""
    return folder / f"{module.name}.{source_hash(source).hex()}"


def modules_to_import(config: pytest.Config) -> list[Path]:
    """The test files every worker will import: those of the paths pytest was given
    (``testpaths`` when none), less any ``::test`` part."""
    found: list[Path] = []
    for arg in config.args:
        path = config.invocation_params.dir / arg.split("::", 1)[0]
        found += sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
    return [path.resolve() for path in found if path.suffix == ".py"]


def rewritten_by_pytest(module: Path, source: bytes) -> bool:
    """Whether pytest's own cache (``__pycache__``, PEP 552's hash-checked pyc) holds the rewritten
    code of this very source, which pytest reads without asking for it again."""
    pyc = rewrite.get_cache_dir(module) / (module.name[:-3] + rewrite.PYC_TAIL)
    try:
        head = pyc.read_bytes()[:16]
    except OSError:
        return False
    return head[:4] == MAGIC_NUMBER and head[8:] == source_hash(source)[:8]


def write_rewritten(folder: Path, modules: list[Path], config: pytest.Config) -> None:
    """Each module's asserts rewritten as pytest rewrites them, its code written into ``folder``
    (the garbage collector off, as conftest's ``pytest_collection`` has it while pytest does),
    unless pytest keeps it already."""
    gc.disable()
    try:
        for module in modules:
            source = module.read_bytes()
            if rewritten_by_pytest(module, source):
                continue
            _, code = rewrite._rewrite_test(module, config)
            part = folder / f"{module.name}.part"
            part.write_bytes(marshal.dumps(code))
            os.replace(part, code_path(folder, module, source))
    finally:
        gc.enable()


def rewrites_as_known() -> bool:
    """Whether pytest's private rewriting is the one this module was written for:
    ``_rewrite_test(fn, config)``, two arguments, returning the source's hash and the code, with
    ``get_cache_dir`` and ``PYC_TAIL`` beside it."""
    try:
        parameters = inspect.signature(rewrite._rewrite_test).parameters.values()
    except (AttributeError, TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.kind in positional for p in parameters] == [True, True] and all(
        hasattr(rewrite, name) for name in ("get_cache_dir", "PYC_TAIL")
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """In xdist's controller, before a worker starts: the folder passed on to it. Before the
    first starts, the folder made and every worker's share locked, until that worker says it is
    ready (it wrote its share): a worker started early must not find a later one's unlocked.
    Nothing, where pytest's rewriting is not :func:`rewrites_as_known`."""
    if not rewrites_as_known():
        return
    config = node.config
    if _locks not in config.stash:
        folder = Path(tempfile.mkdtemp(prefix="objrec-rewritten-"))
        config.add_cleanup(lambda: remove(folder))
        config.stash[_locks] = {"folder": folder}
        for n in range(node.workerinput["workercount"]):
            lock = config.stash[_locks][f"gw{n}"] = open(folder / f"gw{n}.lock", "w")  # noqa: SIM115
            fcntl.flock(lock, fcntl.LOCK_EX)
    node.workerinput[FOLDER] = str(config.stash[_locks]["folder"])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node) -> None:
    """The lock on a worker's share let go: it wrote its share before it said it was ready."""
    let_go(node)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    let_go(node)


def let_go(node) -> None:
    lock = node.config.stash.get(_locks, {}).pop(node.workerinput["workerid"], None)
    if lock is not None:
        lock.close()


def remove(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def shares(modules: list[Path], count: int) -> dict[Path, str]:
    """Which worker rewrites each module: the largest first, each to the worker with the fewest
    bytes so far (``test_cli.py`` alone is a sixth of the asserts)."""
    load = dict.fromkeys((f"gw{n}" for n in range(count)), 0)
    owners: dict[Path, str] = {}
    for module in sorted(set(modules), key=lambda module: (-module.stat().st_size, module)):
        owners[module] = min(load, key=load.__getitem__)
        load[owners[module]] += module.stat().st_size
    return owners


def pytest_configure(config: pytest.Config) -> None:
    """In a worker: its share of the modules rewritten, then pytest's rewriting replaced by a look
    in the folder first."""
    given = getattr(config, "workerinput", {})
    if FOLDER not in given or not rewrites_as_known():
        return
    folder, worker = Path(given[FOLDER]), given["workerid"]
    owners = shares(modules_to_import(config), given["workercount"])
    write_rewritten(folder, [module for module, owner in owners.items() if owner == worker], config)
    others = {module: owner for module, owner in owners.items() if owner != worker}
    own = rewrite._rewrite_test
    rewrite._rewrite_test = taking_rewritten(folder, others, own)
    config.add_cleanup(lambda: setattr(rewrite, "_rewrite_test", own))


def taking_rewritten(folder: Path, owners: dict[Path, str], own: Callable) -> Callable:
    """pytest's ``_rewrite_test`` (``own``) made to take a module's code from ``folder``, once the
    worker whose share it is (``owners``, by worker id) wrote it (the controller let go of its
    lock), and to rewrite only what it finds not."""

    def rewritten(module: Path, config: pytest.Config):
        source = module.read_bytes()
        if module.resolve() in owners:
            with open(folder / f"{owners[module.resolve()]}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_SH)
        path = code_path(folder, module, source)
        if path.exists():
            return source_hash(source), marshal.loads(path.read_bytes())
        return own(module, config)

    return rewritten

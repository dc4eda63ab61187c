"""Under pytest-xdist, the test modules' asserts rewritten once per run, not once in each worker;
where pytest keeps no rewritten code (``PYTHONDONTWRITEBYTECODE``), kept for the next run.

pytest rewrites every ``assert`` of a test module as it imports it, so that a failure explains
itself. The suite's 6,000 asserts took each worker 3 s of CPU on idle cores (6 s on busy ones,
half its collection), and every worker imports every module, whatever ``-m`` selects. pytest
keeps the rewritten code in ``__pycache__``, but not under ``PYTHONDONTWRITEBYTECODE``, and in a
fresh clone both workers rewrite the same modules at the same moment. Here each worker rewrites
its share of the modules (about as many bytes of them as each other worker) into a folder the
controller names, before it collects, and takes the others' code from there: the controller
holds a lock on each worker's share until that worker says it is ready, which it says once it
wrote it. A module it finds no code of there, a worker rewrites itself, as before. The code is
pytest's own (``_rewrite_test``): the same asserts, the same explanations.

Where pytest keeps none (``sys.dont_write_bytecode``), the folder is in pytest's own cache
(``.pytest_cache``, never beside the sources; none with ``-p no:cacheprovider``) and outlives the
run: a run takes the code of every module unchanged since the last (:func:`code_path` names it
by the module's path, its source and the pytest and Python that rewrote it) and rewrites only
the others, a run without xdist too (``pytest tests/test_cli.py``: 1.2 s of CPU otherwise).
Elsewhere the folder is a temporary one, removed at the end of the run.

That function is private to pytest: a pytest that changed it (:func:`rewrites_as_known`) gets no
sharing, each worker rewriting every module as pytest does, rather than a broken run. It saved
each xdist worker 2.4 s of CPU before its first test (9.6 -> 7.2 s, the 2-core AMD EPYC at a load
of 11 to 15, 6 December); nothing where pytest keeps the code in ``__pycache__`` from a run before.
``tests/conftest.py`` registers the hooks; ``test_rewrite_once.py`` checks them.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import inspect
import marshal
import os
import sys
import tempfile
from collections.abc import Callable
from importlib.util import MAGIC_NUMBER, source_hash
from pathlib import Path
from types import CodeType

import pytest
from _pytest.assertion import rewrite

FOLDER = "objrec_rewritten"
"""The key of ``workerinput`` that names the folder of rewritten code."""
LOCKS = "objrec_rewritten_locks"
"""The key of ``workerinput`` that names the run's folder of the workers' lock files."""
KEPT = "objrec-rewritten"
"""The folder of pytest's cache (``config.cache.mkdir``) that keeps the code from run to run."""

_own = pytest.StashKey[Callable]()
"""In a process that takes rewritten code: pytest's own ``_rewrite_test``, given back after
collection."""
_locks = pytest.StashKey[dict]()
"""In the controller: the folder of code (``"folder"``), that of the lock files (``"locks"``)
and each worker's lock file (by its id), open and locked until that worker is ready."""


def code_path(folder: Path, module: Path, digest: bytes, config: pytest.Config) -> Path:
    """Where the rewritten code of ``module`` (its source's hash ``digest``) is kept in ``folder``:
    named by that hash, so that a module changed since is never given code of another version,
    and by what else the code holds: the module's path (its tracebacks name it), the pytest and
    Python that rewrote it and whether the asserts call pytest's hook when they pass."""
    made_by = f"{module.resolve()}\0{rewrite.PYC_TAIL}\0{MAGIC_NUMBER.hex()}\0{pass_hook(config)}"
    key = hashlib.sha256(made_by.encode()).hexdigest()[:16]
    return folder / f"{module.name}.{key}.{digest.hex()}"


def pass_hook(config: pytest.Config) -> bool:
    """Whether the rewritten asserts call ``pytest_assertion_pass`` (an ini setting)."""
    try:
        return bool(config.getini("enable_assertion_pass_hook"))
    except (AttributeError, ValueError):
        return False


def read_code(path: Path) -> CodeType | None:
    """The code kept in ``path``; None where there is none (or another run just replaced it)."""
    try:
        code = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def keep_code(path: Path, code: CodeType) -> None:
    """``code`` written to ``path`` whole (a run beside may read it at any moment), and the code
    of the module's other versions (:func:`code_path`'s names but for the source's hash) removed."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_bytes(marshal.dumps(code))
    os.replace(part, path)
    versions = path.name.rsplit(".", 1)[0]
    for other in path.parent.glob(f"{versions}.*"):
        if other != path:
            other.unlink(missing_ok=True)


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
    unless pytest keeps it already or the folder does from a run before."""
    gc.disable()
    try:
        for module in modules:
            source = module.read_bytes()
            if rewritten_by_pytest(module, source):
                continue
            if code_path(folder, module, source_hash(source), config).exists():
                continue
            digest, code = rewrite._rewrite_test(module, config)
            keep_code(code_path(folder, module, digest, config), code)
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


def kept_folder(config: pytest.Config) -> Path | None:
    """The folder of pytest's cache that keeps the rewritten code from run to run, where pytest
    keeps none itself (``sys.dont_write_bytecode``) and its cache is on; else None."""
    cache = getattr(config, "cache", None)
    if not sys.dont_write_bytecode or cache is None:
        return None
    try:
        return cache.mkdir(KEPT)
    except OSError:  # a checkout one may not write in: rewritten for this run only
        return None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """In xdist's controller, before a worker starts: the folders passed on to it. Before the
    first starts, the run's folder of lock files made and every worker's share locked, until
    that worker says it is ready (it wrote its share): a worker started early must not find a
    later one's unlocked. Nothing, where pytest's rewriting is not :func:`rewrites_as_known`."""
    if not rewrites_as_known():
        return
    config = node.config
    if _locks not in config.stash:
        locks = Path(tempfile.mkdtemp(prefix="objrec-rewritten-"))
        config.add_cleanup(lambda: remove(locks))
        config.stash[_locks] = {"folder": kept_folder(config) or locks, "locks": locks}
        for n in range(node.workerinput["workercount"]):
            lock = config.stash[_locks][f"gw{n}"] = open(locks / f"gw{n}.lock", "w")  # noqa: SIM115
            fcntl.flock(lock, fcntl.LOCK_EX)
    node.workerinput[FOLDER] = str(config.stash[_locks]["folder"])
    node.workerinput[LOCKS] = str(config.stash[_locks]["locks"])


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
    in the folder first. In a run without xdist, where pytest keeps no rewritten code: the
    rewriting replaced by a look in :func:`kept_folder` first, keeping what it rewrites there."""
    given = getattr(config, "workerinput", {})
    if not rewrites_as_known():
        return
    if FOLDER in given:
        rewriting = in_worker(config, given)
    elif (
        not given and getattr(config.option, "dist", "no") == "no" and (kept := kept_folder(config))
    ):
        rewriting = taking_rewritten(kept, {}, rewrite._rewrite_test, keep=True)
    else:  # xdist's controller, which imports no test module, or nothing to keep
        return
    own = rewrite._rewrite_test
    rewrite._rewrite_test = rewriting
    config.stash[_own] = own
    config.add_cleanup(lambda: setattr(rewrite, "_rewrite_test", own))


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """pytest's own rewriting back once the test modules are imported: a test that rewrites a
    module of its own (``test_rewrite_once.py``) gets pytest's, and keeps nothing."""
    own = session.config.stash.get(_own, None)
    if own is not None:
        rewrite._rewrite_test = own


def in_worker(config: pytest.Config, given: dict) -> Callable:
    """A worker's share written, and pytest's rewriting as this worker then takes it."""
    folder, worker = Path(given[FOLDER]), given["workerid"]
    locks = Path(given.get(LOCKS, folder))
    owners = shares(modules_to_import(config), given["workercount"])
    write_rewritten(folder, [module for module, owner in owners.items() if owner == worker], config)
    others = {module: owner for module, owner in owners.items() if owner != worker}
    return taking_rewritten(folder, others, rewrite._rewrite_test, locks, keep=folder != locks)


def taking_rewritten(
    folder: Path,
    owners: dict[Path, str],
    own: Callable,
    locks: Path | None = None,
    keep: bool = False,
) -> Callable:
    """pytest's ``_rewrite_test`` (``own``) made to take a module's code from ``folder``, once the
    worker whose share it is (``owners``, by worker id; its lock in ``locks``, ``folder`` when
    not given) wrote it (the controller let go of its lock), and to rewrite only what it finds
    not, keeping that in ``folder`` where it outlives the run (``keep``)."""

    def rewritten(module: Path, config: pytest.Config):
        source = module.read_bytes()
        if module.resolve() in owners:
            with open((locks or folder) / f"{owners[module.resolve()]}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_SH)
        code = read_code(code_path(folder, module, source_hash(source), config))
        if code is not None:
            return source_hash(source), code
        digest, code = own(module, config)
        if keep:
            keep_code(code_path(folder, module, digest, config), code)
        return digest, code

    return rewritten

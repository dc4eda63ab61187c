"""Shared fixtures: tiny image folders made in tmp dirs, the tiny test backbone, fixed RNG state.

PyTorch is imported by the functions that use it, not here: under xdist the controller, which
runs no test, loads this file too, and importing PyTorch was 2.2 s of its CPU in every run."""

from __future__ import annotations

import ast
import collections
import errno
import fcntl
import functools
import gc
import importlib
import inspect
import itertools
import json
import logging
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from objrec import heif, images
from objrec.config import TrainConfig
from objrec.progress import Reporter
from tests.preloaded import PreloadedPython
from tests.rewrite_once import (  # noqa: F401
    pytest_collection_finish,
    pytest_configure,
    pytest_configure_node,
    pytest_testnodedown,
    pytest_testnodeready,
)
from tests.xdist_groups import pytest_xdist_make_scheduler  # noqa: F401
from tests.xdist_text import pytest_report_to_serializable, pytest_warning_recorded  # noqa: F401

if TYPE_CHECKING:
    import torch

    from objrec.evaluation_metrics import EvaluationMetrics, EvaluationRecord

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 200)}


def shared_folder(environ=os.environ) -> Path:
    """The folder of the shared weights and photos the few tests on real ones read:
    ``OBJREC_TEST_SHARED`` where set, else ``shared`` beside the checkout (``/work/shared`` of
    ``/work/main``), so that a clone elsewhere, a CI's, can run them too."""
    named = environ.get("OBJREC_TEST_SHARED")
    return Path(named) if named else Path(__file__).resolve().parents[2] / "shared"


SHARED = shared_folder()
CALTECH = SHARED / "data" / "caltech101"
MOBILENET = SHARED / "weights" / "mobilenet_v2_imagenet_coral.pth"


@functools.cache
def source_trees() -> tuple[tuple[Path, ast.Module], ...]:
    """Each module of ``src/objrec`` (its sub-packages' too, as ``cli/train.py``: the path is
    relative to the package) and its syntax tree, parsed once for the tests that read the code's
    shape (the trees are only walked, never changed)."""
    import objrec

    root = Path(objrec.__file__).parent
    paths = sorted(root.rglob("*.py"))
    with frozen_heap():  # 340,000 nodes, kept for the worker's life: full collections walked
        return tuple((path.relative_to(root), ast.parse(path.read_text())) for path in paths)


@functools.cache
def source_nodes() -> tuple[tuple[Path, tuple[ast.AST, ...]], ...]:
    """Each module of :func:`source_trees` and every node of its tree, in ``ast.walk``'s order,
    walked once for the tests that look at every node (reading a tuple, not walking the tree
    again: a tenth of the time)."""
    with frozen_heap():
        return tuple((path, tuple(ast.walk(tree))) for path, tree in source_trees())


def drawn_weights(monkeypatch) -> list[bool]:
    """From now on, one entry per weight drawn at random (``kaiming_uniform_``, how every
    convolution and linear layer starts): whether it was drawn on the meta device, where a draw
    costs nothing (a body built to take a file's tensors draws no real weight)."""
    import torch

    drawn: list[bool] = []
    kaiming = torch.nn.init.kaiming_uniform_

    def drawing(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        drawn.append(tensor.is_meta)
        return kaiming(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", drawing)
    return drawn


def metrics_of(keys: dict) -> EvaluationMetrics:
    """The evaluation metrics of the figures ``keys`` holds as metrics.json keys them
    (``EvaluationMetrics.from_json``): a test names only the keys the code under test reads."""
    from objrec.evaluation_metrics import EvaluationMetrics

    return EvaluationMetrics.from_json(keys)


def record_of(keys: dict) -> EvaluationRecord:
    """The evaluation record of a metrics.json holding ``keys`` (``EvaluationRecord.from_json``)."""
    from objrec.evaluation_metrics import EvaluationRecord

    return EvaluationRecord.from_json(keys)


def confidence_lines_of(metrics: dict, *args, **options) -> list[str]:
    """``cli.evaluation.confidence_lines`` of the figures ``metrics`` holds as metrics.json keys
    them (:func:`metrics_of`)."""
    from objrec.cli.evaluation import confidence_lines

    return confidence_lines(metrics_of(metrics), *args, **options)


def make_image(colour, size=(40, 32), seed=0) -> Image.Image:
    """A noisy image of one dominant colour, different for every seed."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 30, (size[1], size[0], 3)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def make_large_image(colour, size: tuple[int, int]) -> Image.Image:
    """A photo-sized image of one dominant colour, for tests of what its size decides (pixel
    limits, JPEG draft scales): ``make_image``'s noise drawn at an eighth of each side and
    enlarged. Noise at every pixel of 2400x1800 took 2 s of CPU to draw and encode; this, 0.06."""
    small = make_image(colour, size=(max(1, size[0] // 8), max(1, size[1] // 8)))
    return small.resize(size)


def fake_checkpoint(path: Path) -> Path:
    """A file with objrec's checkpoint header and no model in it: what makes a folder a run
    (``runs.holds_run``), for tests of run folders that need no training."""
    import torch
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, path, metadata={"objrec": "{}"})
    return path


@contextmanager
def opens_counted(monkeypatch) -> Iterator[collections.Counter]:
    """How many times each file is opened in the block, by name (``open``, ``Path.open``,
    ``Path.read_bytes``, ``Image.open`` of a path, hashlib's file reads): each a read of the
    file, whole or its header; not a look at its first bytes with ``os.open``."""
    import builtins
    import io

    opened: collections.Counter = collections.Counter()
    real = io.open

    def counted(file, *args, **kwargs):
        if isinstance(file, str | Path):
            opened[Path(file).name] += 1
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counted)
    monkeypatch.setattr(io, "open", counted)  # pathlib's
    try:
        yield opened
    finally:
        monkeypatch.setattr(builtins, "open", real)
        monkeypatch.setattr(io, "open", real)


def fsyncs_seen(monkeypatch, look: Callable[[], object]) -> list[tuple[Path, object]]:
    """Each ``os.fsync`` from now on, in order: the file or folder synced and what ``look()``
    saw as it was (a manifest's rows, whether a note is there)."""
    seen: list[tuple[Path, object]] = []
    real = os.fsync

    def recorded(fd: int) -> None:
        seen.append((Path(os.readlink(f"/proc/self/fd/{fd}")), look()))
        real(fd)

    monkeypatch.setattr(os, "fsync", recorded)
    return seen


def make_class_folder(root: Path, per_class: int = 12, classes=tuple(COLOURS)) -> Path:
    """``root/<class>/img_NN.{png,jpg}``: one colour per class, sizes varying, both formats."""
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            image = make_image(
                COLOURS[name], size=(32 + 4 * (i % 4), 30 + 3 * (i % 3)), seed=100 * c + i
            )
            image.save(folder / f"img_{i:02d}.{'png' if i % 2 else 'jpg'}")
    return taken_before(root)


def store_held(cache: Path) -> bool:
    """Whether anyone, this process's own stores too, holds the feature store of the cache folder
    ``cache`` open (its lock, which a prune or clear waits for): an exclusive ``flock`` tried
    without waiting, through a file of its own, and let go at once."""
    with open(cache / "store" / "lock", "rb") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


@pytest.fixture
def stores_opened(monkeypatch) -> list:
    """Each feature store the test opens (``store.FeatureStore``; one opened again after a close
    counted again), in order: whether a call opened any, and whether it let go of each
    (``is_open``: its lock and its array files' descriptors, which an ending thread never
    closes)."""
    from objrec.store import FeatureStore

    opened: list = []
    real = FeatureStore._open

    def opening(store: FeatureStore) -> None:
        real(store)
        opened.append(store)

    monkeypatch.setattr(FeatureStore, "_open", opening)
    return opened


def in_ended_thread(call: Callable[[], object]) -> None:
    """``call()`` in a thread of its own, ended by the time this returns, as a Python caller's
    worker thread runs an objrec function and ends; what it raised is raised here."""
    import threading

    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if raised:
        raise raised[0]


def let_go(opened: list, cache: Path) -> bool:
    """Whether every store in ``opened`` (:func:`stores_opened`) was opened and let go of, and
    none holds the store of the cache folder ``cache`` (:func:`store_held`)."""
    return bool(opened) and not any(s.is_open for s in opened) and not store_held(cache)


def taken_before(*paths: Path) -> Path:
    """Each file of ``paths`` (or below it) dated an hour earlier, their order and gaps kept, as
    a user's photos are older than the command that reads them; the first path. The file index
    reads a file again while its time is within a timestamp tick of when the index recorded it
    (``file_index.is_racy``), as a file made just before is, on a fast machine."""
    for path in paths:
        for file in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
            stat = file.stat()
            hour = 3600 * 10**9
            os.utime(file, ns=(stat.st_atime_ns - hour, stat.st_mtime_ns - hour))
    return paths[0]


def without_current_links() -> None:
    """pytest's ``tmp_path`` (and ``tmp_path_factory.mktemp``) without the ``<name>current`` link
    it writes beside each numbered folder it makes, pointing at the newest of that name (its
    private ``_force_symlink``; nothing where a pytest has none): no test reads the links, and a
    symlink took 0.6 ms on the 2-core machine's ext4, five times a folder's mkdir, once for each
    of the quick tier's 1,025 tests that take a ``tmp_path``. The run's own ``pytest-current``
    link, beside its numbered base folder, is still made (``_pytest.pathlib``'s)."""
    from _pytest import tmpdir

    if hasattr(tmpdir, "_force_symlink"):
        tmpdir._force_symlink = lambda root, target, link_to: None


without_current_links()


def without_disk_syncs() -> None:
    """``os.fsync`` that waits for no disk in the test processes: what a sync is for, a file
    still whole after the machine loses power, no test can see, and the quick tier's 1,730
    syncs waited 3.3 ms each on the 2-core machine's busy disk (a write without one: 0.3 ms),
    about 3 s of each worker's wall. objrec still calls it where it did (a test that records
    the calls, or makes one fail, patches it as before), and a descriptor that is closed or
    none still fails as a real sync's would (``os.fstat``). The commands a test starts in a new
    process sync for real."""

    def sync_not_waited(fd) -> None:
        os.fstat(fd if isinstance(fd, int) else fd.fileno())

    os.fsync = sync_not_waited


without_disk_syncs()


@pytest.fixture(scope="session", autouse=True)
def _one_intra_op_thread() -> None:
    """One intra-op thread unless ``OMP_NUM_THREADS`` says otherwise: the tests' tiny tensors
    gain nothing from a second thread, and OpenMP's waiting threads slow every operator several
    times over whenever another process holds a core. A session fixture, not
    ``pytest_configure``: set where tests run, never in xdist's controller (this module's
    docstring)."""
    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def preloaded_python() -> Iterator[PreloadedPython]:
    """A Python that imported PyTorch once, forked for each test's ``python -c CODE`` that checks
    what its code imports (``tests/preloaded.py``): 2 to 3 s of CPU less for each."""
    python = PreloadedPython()
    yield python
    python.close()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """No garbage collection in the block, then every object alive frozen out of later
    collections (``gc.freeze``), as the CLI's ``heap.freeze_heap`` does: for a block that makes
    many objects which live as long as the process."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """No garbage collection while the test files are imported, then every object alive (the
    modules of torch, torchvision, pandas, the tests') frozen out of later collections
    (:func:`frozen_heap`): full collections walked them all again and again (2.6 s of a 13 s
    quick tier on an idle machine, 2.1 s of it while collecting; now 0.3 s)."""
    with frozen_heap():
        return (yield)


@pytest.fixture(scope="session")
def _caches(tmp_path_factory) -> Iterator[Path]:
    """Each test's own cache folder, numbered in one session folder (``mktemp`` per test lists
    the whole temporary folder each time)."""
    root = tmp_path_factory.mktemp("caches")

    def made(folder: Path) -> Path:
        folder.mkdir()
        return folder

    return (made(root / f"cache{n}") for n in itertools.count())


@pytest.fixture(autouse=True)
def _restore_rng_and_cache(_caches, monkeypatch, request):
    """Each test gets fresh RNG state afterwards and its own feature cache, and leaves the
    session's runs as they were made (:func:`left_as_made`)."""
    import torch

    monkeypatch.setenv("OBJREC_CACHE", str(next(_caches)))
    state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    yield
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.set_rng_state(state[2])
    left_as_made(request)


@pytest.fixture(autouse=True)
def _server_events_level():
    """``objrec serve`` shows a server's events by setting their logger to INFO for its process,
    and python-multipart's to ERROR (``cli.output.show_server_events``): a test that runs it
    leaves the next test's at their own."""
    loggers = [
        logging.getLogger(n) for n in ("objrec.serve.events", "python_multipart", "multipart")
    ]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        if logger.level != level:  # a level set clears every logger's cache: 0.035 ms each
            logger.setLevel(level)


@functools.cache
def blank_figures() -> dict[str, object]:
    """A stand-in for each function of ``objrec.plots`` that draws a figure and saves it to its
    ``path`` (every one made by ``plots.lettered`` that takes a ``path``: a new one is covered
    without being listed): it takes the same arguments (bound to the real signature, so a call
    the real one would refuse fails here too) and saves a blank one-inch figure to ``path`` with
    matplotlib's own ``savefig``, so the file is real, of the format its name asks for (a report
    still embeds a PNG), and a name matplotlib cannot write fails as it would."""
    from matplotlib.figure import Figure

    from objrec import plots

    def stand_in(draw, signature: inspect.Signature):
        @functools.wraps(draw)
        def drawn_blank(*args, **kwargs):
            path = signature.bind(*args, **kwargs).arguments["path"]
            Figure(figsize=(1, 1)).savefig(path, dpi=10)
            return path

        return drawn_blank

    drawers = {
        name: (function, inspect.signature(function))
        for name, function in vars(plots).items()
        if hasattr(function, "__wrapped__") and function.__module__ == plots.__name__
    }
    return {
        name: stand_in(function, signature)
        for name, (function, signature) in drawers.items()
        if "path" in signature.parameters
    }


def draw_blank(patch: pytest.MonkeyPatch) -> None:
    """``objrec.plots``' drawing functions replaced by ``blank_figures`` until ``patch`` undoes it."""
    from objrec import plots

    for name, drawn_blank in blank_figures().items():
        patch.setattr(plots, name, drawn_blank)


@contextmanager
def figures_blank():
    """``draw_blank`` for a session fixture's block: the runs it trains are for what tests do
    with a run, and their ``curves.png`` is a blank picture (the figure tests draw their own)."""
    with pytest.MonkeyPatch.context() as patch:
        draw_blank(patch)
        yield


@pytest.fixture(autouse=True)
def _figures_drawn_blank(request, monkeypatch):
    """Figures drawn blank (``blank_figures``) in every test not marked ``figures``.

    Laying a figure out is matplotlib's Python (its ticks, text and boxes; not the pixels) and
    was about half the time of the tests of evaluate and report, which check tables, files and
    words. The tests that look at figures (their text, ticks, fonts, formats, the report's
    pictures) are marked ``figures`` and draw them, and every drawing function is drawn by one."""
    if request.node.get_closest_marker("figures") is None:
        draw_blank(monkeypatch)


@contextmanager
def own_cache(folder: Path):
    """``$OBJREC_CACHE`` set to ``folder`` for a session fixture: session fixtures are set up
    before ``_restore_rng_and_cache`` gives a test its cache, and must not write into the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OBJREC_CACHE", str(folder))
        yield


def made_once(request: pytest.FixtureRequest, name: str, make: Callable[[Path], object]) -> Path:
    """The folder ``name``, filled by ``make(folder)`` once for the run, not once in each xdist
    worker: each looks for it in the run's temporary folder (above its own) under a lock, and
    the first to get there makes it while the others wait. What it holds is read, never written
    (a test copies it to change it), and comes out the same whichever worker made it."""
    root = request.getfixturevalue("tmp_path_factory").getbasetemp()
    root = root.parent if hasattr(request.config, "workerinput") else root  # in a worker
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a worker stopped half way left
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


COPIED = ("run", "cache")
"""What tests copy of a session run's folder: the run (``shutil.copytree``) and the cache folder
it was trained with (``own_copy``; test_audit's and test_cli_training's copies of the cache)."""

SESSION_RUNS = ("trained_once", "sample_run")
"""The session fixtures whose folder holds a run and its cache folder (:data:`COPIED`), checked
after each test that takes one (:func:`left_as_made`)."""


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file and folder of ``folder``'s :data:`COPIED` parts, by its path there: its size and
    modification time. A folder's time moves as a file is made or removed in it: SQLite's
    ``-wal`` and ``-shm`` files beside a database while it is open, even to read."""
    state = {}
    for top in (folder / part for part in COPIED if (folder / part).exists()):
        state[top.name] = stamp(str(top))
        for parent, folders, files in os.walk(top):
            for name in folders + files:
                path = os.path.join(parent, name)
                state[os.path.relpath(path, folder)] = stamp(path)
    return state


def stamp(path: str) -> tuple[int, int]:
    stat = os.lstat(path)
    return stat.st_size, stat.st_mtime_ns


def keep_state(folder: Path) -> None:
    """Write ``made.json`` into a session run's ``folder`` once made: its :func:`folder_state`,
    which each test that takes the run must leave as it is (:func:`left_as_made`). Nothing of it
    may still be open: a copy of a database's main file misses what its ``-wal`` file holds."""
    still_open = sorted(str(p) for p in folder.rglob("*") if p.name.endswith(("-wal", "-shm")))
    assert not still_open, f"a database is still open once the session's run was made: {still_open}"
    (folder / "made.json").write_text(json.dumps(folder_state(folder)))


@functools.cache
def made_state(folder: Path) -> dict[str, tuple[int, int]]:
    """:func:`keep_state`'s record of ``folder``, read once per worker."""
    return {
        path: (size, time)
        for path, (size, time) in json.loads((folder / "made.json").read_text()).items()
    }


def left_as_made(request: pytest.FixtureRequest) -> None:
    """Fail the test, at its end, where a session run it took (:data:`SESSION_RUNS`) or that
    run's cache folder changed. A command run on the session's run itself, or on a plain copy of
    its folder, whose model still names the session's cache folder, opened that cache's feature
    store and wrote into it while tests in the other worker copied the folder (``own_copy``):
    the copy met SQLite's ``index.sqlite-shm`` removed as it was copied (1 copy in 16 in a loop),
    and a database copied while it is written need not be whole. A test runs commands on its
    own copy (``trained_run``, ``own_copy``), whose model names a cache folder of its own."""
    taken = {name: request.node.funcargs.get(name) for name in SESSION_RUNS}
    for name, made in ((name, made) for name, made in taken.items() if made is not None):
        folder = (made[0] if isinstance(made, tuple) else made).parent
        now, then = folder_state(folder), made_state(folder)
        changed = sorted(
            path for path in now.keys() | then.keys() if now.get(path) != then.get(path)
        )
        if changed:
            then.clear()  # said once, by the first test to see it, not by every test after
            then.update(now)
            pytest.fail(
                f"the session's {name} in {folder} changed ({', '.join(changed[:5])}), by this "
                "test or one beside it in another worker: run commands on a copy of the run "
                "whose model names its own cache folder (trained_run, own_copy)",
                pytrace=False,
            )


TYPE_CHECKED = ("test_config.path_like_settings", "test_docs.python_api_page")
"""The scripts mypy checks in one run for the session, each ``MODULE.NAME``: the test module
``MODULE``'s ``NAME_script()`` gives its text. mypy takes 15 to 20 s from a cold cache and about
1 s from a warm one: a run of each with other options made the other's cache stale, and two
workers ran both."""


@pytest.fixture(scope="session")
def type_checked(request) -> dict[str, list[str]]:
    """What mypy said of each script of :data:`TYPE_CHECKED`, by its ``NAME``: the lines naming
    it (its path as ``NAME.py``) and any naming no script (objrec's own modules, mypy's own
    failure), empty where it type-checks. One run with the project's settings (``pyproject.toml``),
    made once for the run (``made_once``)."""

    def make(folder: Path) -> None:
        names = [entry.split(".")[1] for entry in TYPE_CHECKED]
        for entry, name in zip(TYPE_CHECKED, names, strict=True):
            module = importlib.import_module(f".{entry.split('.')[0]}", __package__)
            (folder / f"{name}.py").write_text(getattr(module, f"{name}_script")())
        said = type_check([folder / f"{name}.py" for name in names])
        (folder / "said.json").write_text(json.dumps(said))

    return json.loads((made_once(request, "type_checked", make) / "said.json").read_text())


def type_check(scripts: list[Path]) -> dict[str, list[str]]:
    """mypy's lines on each of ``scripts`` (by its stem; its path as its file name), each with
    the lines that name none of them and, where mypy failed, its error output."""
    root = Path(__file__).parents[1]
    options = ["--config-file", str(root / "pyproject.toml"), "--no-error-summary"]
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", *options, *map(str, scripts)],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "MYPYPATH": str(root / "src")},
    )
    said: dict[str, list[str]] = {script.stem: [] for script in scripts}
    others = [checked.stderr] if checked.returncode not in (0, 1) else []
    for line in checked.stdout.splitlines():
        for script in scripts:
            line = line.replace(str(script), script.name)
        said.get(line.split(":")[0].removesuffix(".py"), others).append(line)
    return {name: lines + others for name, lines in said.items()}


@pytest.fixture(scope="session")
def class_folder_template(request) -> Path:
    """``make_class_folder``'s images (``photos``) and their image facts (``cache``), made once."""
    from objrec.split.recipe import split_folder

    def make(root: Path) -> None:
        with own_cache(root / "cache"):
            split_folder(make_class_folder(root / "photos"), root / "data", seed=0)

    return made_once(request, "template", make)


def seed_facts(template_cache: Path, cache: Path | None = None) -> None:
    """Give ``cache`` (this test's ``$OBJREC_CACHE`` by default) the image facts a session
    fixture measured, unless it has its own: a split then decodes none of those images."""
    from objrec.cache_folder import default_cache_dir
    from objrec.facts_store import FACTS_FILE

    facts = (cache or default_cache_dir()) / FACTS_FILE
    if not facts.exists():
        facts.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_cache / FACTS_FILE, facts)


@pytest.fixture
def known_facts(class_folder_template) -> None:
    """This test's cache already holds the image facts of ``make_class_folder``'s images, for
    tests of what a split does with them, not of how it measures them (test_split covers that)."""
    seed_facts(class_folder_template / "cache")


@pytest.fixture(scope="session")
def sample_facts(request) -> Path:
    """A cache holding the image facts of the built-in sample, measured once."""
    from objrec.demo import sample_dir
    from objrec.split.recipe import split_folder

    def make(root: Path) -> None:
        with own_cache(root / "cache"):
            split_folder(sample_dir(), root / "data", seed=0)

    return made_once(request, "sample_facts", make) / "cache"


@pytest.fixture
def image_folder(tmp_path, class_folder_template) -> Path:
    """This test's own copy of ``make_class_folder``'s images (the same bytes, new files)."""
    return taken_before(
        Path(
            shutil.copytree(
                class_folder_template / "photos", tmp_path / "photos", copy_function=shutil.copy
            )
        )
    )


@pytest.fixture
def split_dir(tmp_path, image_folder, class_folder_template) -> Path:
    """``image_folder`` split with seed 0: the template's split of the same images, copied, its
    manifest naming this test's images as the sources: what ``split_folder`` writes for them
    (test_split checks that). Its image facts (kept by content) are the template's, as a split
    leaves them."""
    from objrec.manifest import MANIFEST, SPLIT_RECORD

    seed_facts(class_folder_template / "cache")
    data = Path(shutil.copytree(class_folder_template / "data", tmp_path / "data"))
    photos = str((class_folder_template / "photos").resolve()).encode()
    for name in (MANIFEST, SPLIT_RECORD):  # naming this test's photos as its source
        written = (data / name).read_bytes()
        (data / name).write_bytes(written.replace(photos, str(image_folder.resolve()).encode()))
    return data


def make_imbalanced(split_dir: Path, large: int = 50) -> None:
    """``split_dir``'s training split made ``large`` images of red (copies) against 1 of blue."""
    red = sorted((split_dir / "train" / "red").iterdir())
    for i in range(len(red), large):
        (red[0].parent / f"copy_{i:03d}{red[0].suffix}").write_bytes(red[0].read_bytes())
    for path in sorted((split_dir / "train" / "blue").iterdir())[1:]:
        path.unlink()


def tiny_train_config(**changes) -> TrainConfig:
    """The tiny_test backbone and a head that learns the colour folders in a few epochs."""
    settings = dict(backbone="tiny_test", epochs=30, patience=5, batch_size=8, lr=1e-2, aug_views=1)
    return TrainConfig(**(settings | changes))


@pytest.fixture
def tiny_config() -> TrainConfig:
    return tiny_train_config()


def checkout_head() -> str | None:
    """The commit objrec's checkout is at (``git rev-parse HEAD``); None outside a checkout."""
    import subprocess

    import objrec

    root = Path(objrec.__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True)
    return head.stdout.decode().strip() if head.returncode == 0 else None


@pytest.fixture(scope="session")
def trained_once(request, class_folder_template) -> Path:
    """A run trained on ``make_class_folder``'s images with ``tiny_config``, once per run; beside
    it, ``heads.json``: the checkout's commit before and after training, one of which its
    provenance names (a commit landed while the suite runs moves the checkout on)."""
    import torch

    from objrec.split.recipe import split_folder
    from objrec.train import train

    def make(root: Path) -> None:
        heads = [checkout_head()]
        seed_facts(class_folder_template / "cache", root / "cache")
        with own_cache(root / "cache"), torch.random.fork_rng(), figures_blank():
            split_folder(make_class_folder(root / "photos"), root / "data", seed=0)
            train(root / "data", root / "run", tiny_train_config(cache_dir=str(root / "cache")))
        (root / "heads.json").write_text(json.dumps([*heads, checkout_head()]))
        keep_state(root)

    return made_once(request, "trained", make) / "run"


def local_client(app, **options):
    """FastAPI's test client with its requests sent to localhost: ``serve`` answers no name of
    another's (the client's own default is testserver)."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://localhost", **options)


@pytest.fixture(scope="module")
def client(tmp_path_factory, trained_once):
    """An app serving the session's tiny run, copied for the module with its cache folder
    (:func:`own_copy`: ``objrec serve`` may write beside it, and keeps its graph in that cache),
    through FastAPI's test client; ``client.run`` is the copy."""
    from fastapi.testclient import TestClient

    from objrec.serve.server import create_app

    root = tmp_path_factory.mktemp("served")
    own_copy(trained_once, root / "run", root / "run-cache")
    app = create_app(root / "run", runtime="torch", max_upload_bytes=200_000, max_pixels=500 * 500)
    with TestClient(app, base_url="http://localhost") as c:
        c.run = root / "run"
        yield c


@pytest.fixture(scope="session")
def _run_caches(tmp_path_factory) -> Iterator[Path]:
    """Where each test's copy of a session run keeps its cache folder (:func:`own_copy`),
    numbered in one session folder, as :func:`_caches` numbers the tests' own: a path that names
    no test (a test of a sentence quoting the path looks for words its test's name may hold)."""
    root = tmp_path_factory.mktemp("run-caches")
    return (root / f"cache{n}" for n in itertools.count())


@pytest.fixture
def decoded(monkeypatch) -> list[str]:
    """The name of each image ``objrec.views`` decodes in the test (its ``open_image``'s
    ``name``), in order: a pass decodes through it every view an image is made in. Cleared by
    a test to count one pass's."""
    import objrec.views

    names: list[str] = []
    opened = objrec.views.open_image

    def counting(source, *args, **kwargs):
        names.append(kwargs["name"])
        return opened(source, *args, **kwargs)

    monkeypatch.setattr(objrec.views, "open_image", counting)
    return names


@pytest.fixture
def trained_run(tmp_path, split_dir, trained_once, _run_caches) -> Path:
    """This test's own copy of the session's trained run (:func:`own_copy`: it may write into it
    and into its cache folder), trained, as far as the run knows, on ``split_dir`` (the same
    images as the session's data folder)."""
    return own_copy(trained_once, tmp_path / "run", next(_run_caches), split_dir)


def own_copy(run: Path, copy: Path, cache: Path, data: Path | None = None) -> Path:
    """A session fixture's ``run`` copied to ``copy`` with the cache folder it was trained with
    (``cache_dir``) copied to ``cache``, which the copy's model and config.json name in its
    place (and ``data``, where given, as its data folder): what a command keeps of the run
    (features, image facts, graphs) goes there, never into the session's cache, which tests in
    other xdist workers copy whole meanwhile (``shutil.copytree``): written while it was copied,
    its index.sqlite was read now and then as "database disk image is malformed". The model
    file is written again from its tensors as read, byte for byte what ``save_checkpoint`` of the
    loaded model writes, without building the model (19 of the 30 ms a copy took)."""
    from dataclasses import replace

    from objrec.checkpoint import DIGEST_CHARS, read_checkpoint, save_model_state
    from objrec.run_files import BEST

    copy = Path(shutil.copytree(run, copy))
    state, meta = read_checkpoint(copy / BEST)
    cache = shutil.copytree(str(meta.cache_dir), cache)
    trained_with = replace(meta.train_config, cache_dir=str(cache))
    data_dir = str(data.resolve()) if data else meta.data_dir
    meta = replace(meta, data_dir=data_dir, train_config=trained_with)
    digest = save_model_state(copy / BEST, state, meta.to_json())[:DIGEST_CHARS]
    (copy / "config.json").write_text(json.dumps(trained_with.to_dict(), indent=2))
    summary = json.loads((copy / "summary.json").read_text())  # of the model written again
    summary["model_digest"] = digest
    (copy / "summary.json").write_text(json.dumps(summary, indent=2))
    return copy


def retrain_of(run: Path, stash: Path) -> Callable[[], None]:
    """What a ``train --force`` into ``run`` does at its end, as a call: another model (the
    run's, its heads' weights negated and its temperature doubled: other answers) renamed over
    the run's model file. Written once into ``stash``; each call puts it in place again."""
    from dataclasses import replace

    import torch

    from objrec.checkpoint import load_model, save_checkpoint
    from objrec.run_files import BEST

    model, meta = load_model(run)
    with torch.no_grad():
        for weight in model.head.parameters():
            weight.neg_()
    calibration = replace(meta.calibration, temperature=2 * meta.calibration.temperature)
    save_checkpoint(stash, model, replace(meta, calibration=calibration))

    def retrain() -> None:
        shutil.copyfile(stash, run / "retrained.part")
        os.replace(run / "retrained.part", run / BEST)

    return retrain


def followed_by(read: Callable, step: Callable[[], None]) -> Callable:
    """``read`` (a function that reads a model), then ``step``: a retrain landing just after."""

    def read_then(*args, **kwargs):
        done = read(*args, **kwargs)
        step()
        return done

    return read_then


@pytest.fixture(scope="session")
def sample_run(request, sample_facts) -> tuple[Path, Path]:
    """The built-in sample (real Caltech-101 photos) split, and a tiny_test run trained on it.

    Built once per run; tests read it and write only into their own folders.
    """
    import torch

    from objrec.demo import sample_dir
    from objrec.split.recipe import split_folder
    from objrec.train import train

    def make(root: Path) -> None:
        seed_facts(sample_facts, root / "cache")
        with own_cache(root / "cache"):
            split_folder(sample_dir(), root / "data", seed=0)
        config = TrainConfig(
            backbone="tiny_test",
            epochs=20,
            patience=5,
            batch_size=16,
            lr=1e-2,
            aug_views=1,
            cache_dir=str(root / "cache"),
        )
        with torch.random.fork_rng(), figures_blank():
            train(root / "data", root / "run", config)
        keep_state(root)

    root = made_once(request, "sample", make)
    return root / "run", root / "data"


class TaskRecorder(Reporter):
    """A reporter that records the descriptions of the tasks, each task's total and steps (its
    advances, in order), what a task said its steps are (``counts``), and the notes it is
    given."""

    def __init__(self):
        self.tasks: list[str] = []
        self.totals: dict[str, int | None] = {}
        self.steps: dict[str, list[int]] = {}
        self.units: dict[str, str] = {}
        self.notes: list[str] = []

    def counts(self, unit: str) -> None:
        self.units[self.tasks[-1]] = unit

    @contextmanager
    def task(self, description, total):
        self.tasks.append(description)
        self.totals[description] = total
        steps = self.steps.setdefault(description, [])
        yield lambda n=1: steps.append(n)

    def note(self, message: str) -> None:
        self.notes.append(message)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
"""A tiny PostScript picture, which Pillow's EPS reader hands to Ghostscript."""


def fake_ghostscript(tmp_path: Path, monkeypatch) -> Path:
    """Put a stand-in ``gs`` first on PATH, for Pillow to find; it notes each run's arguments in
    the file returned (which exists only once it ran)."""
    from PIL import EpsImagePlugin

    ran = tmp_path / "gs-ran"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo 10.0 && exit 0\necho "$@" >> {ran}\n')
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{gs.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # looked for again, on this PATH
    return ran


def unregister_heif(monkeypatch, installed: bool = True) -> None:
    """Pillow as it starts, without pillow-heif's opener, and objrec as if it had never met a HEIC
    file (whatever an earlier test of this process registered), until ``monkeypatch`` undoes it;
    not ``installed``: as if pillow-heif were not installed either (it may be in this venv)."""
    for extension, name in list(Image.EXTENSION.items()):
        if name == "HEIF":
            monkeypatch.delitem(Image.EXTENSION, extension)
    for table in (Image.OPEN, Image.MIME):
        monkeypatch.delitem(table, "HEIF", raising=False)
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "HEIF"])
    monkeypatch.setattr(heif, "_heif_registered", [], raising=False)
    if not installed:
        monkeypatch.setattr(heif, "_register_heif", lambda: False, raising=False)
        monkeypatch.setattr(heif, "heif_plugin_version", lambda: None, raising=False)
        monkeypatch.setattr(images, "heif_plugin_version", lambda: None, raising=False)


@pytest.fixture
def heif_unregistered(monkeypatch):
    unregister_heif(monkeypatch)


@pytest.fixture
def no_heif_plugin(monkeypatch):
    unregister_heif(monkeypatch, installed=False)


def save_heic(image: Image.Image, path: Path) -> Path:
    """``image`` written as a real HEIC file by pillow-heif, without registering its opener."""
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.from_pillow(image).save(path, quality=90)
    return path


def counted_familiarity(model: torch.nn.Module) -> tuple[list[int], torch.nn.Module]:
    """Put a recorder in place of ``model.familiarity``: each call's batch size goes into the
    list returned, beside the score it stands in for (to compare the answers with)."""
    import torch

    calls: list[int] = []
    score = model.familiarity

    class Recorder(torch.nn.Module):
        def forward(self, x):
            calls.append(len(x))
            return score(x)

    model.familiarity = Recorder()
    return calls, score


@pytest.fixture
def no_symlinks(monkeypatch):
    """``os.symlink`` refused as on a FAT or exFAT drive (EPERM), where ``--link`` cannot link."""

    def refuse(source, link, *args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(source), None, str(link))

    monkeypatch.setattr(os, "symlink", refuse)


@pytest.fixture
def ctrl_c_after_rename(monkeypatch) -> Iterator[Callable[[Callable[[Path, Path], bool]], None]]:
    """``arm(which)``: ``os.replace`` sends this process SIGINT (Ctrl-C) right after the first
    rename of a ``source`` onto a ``target`` that ``which(source, target)`` picks, as a user's
    Ctrl-C between the renames that put several files in place; Python's own handler answers it
    (xdist's workers, like a background job, ignore SIGINT)."""
    import signal

    replace, picked = os.replace, []

    def ctrl_c_after(source, target):
        replace(source, target)
        if not picked and armed and armed[0](Path(source), Path(target)):
            picked.append(1)
            os.kill(os.getpid(), signal.SIGINT)

    armed: list[Callable[[Path, Path], bool]] = []
    monkeypatch.setattr(os, "replace", ctrl_c_after)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield armed.append
    signal.signal(signal.SIGINT, before)

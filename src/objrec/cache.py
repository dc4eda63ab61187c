"""The cache folder (``open_cache``, ``FeatureCache``): the feature store (``store/``), the ONNX
graphs objrec exports into ``onnx/`` and those OpenVINO compiles into ``openvino/``; what each
holds, its summary, clearing and pruning."""

from __future__ import annotations

import datetime
import errno
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from objrec import facts_store, locks
from objrec.cache_folder import (
    COMPILED_FOLDER,
    OLD_ENTRY,
    FullCacheDisk,
    default_cache_dir,
    full_disk_in_prune,
    is_cache_file,
    refuse_foreign_folder,
    refuse_unmakeable_cache_folder,
)
from objrec.errors import FULL_DISK, on_ctrl_c
from objrec.leftovers import remove_leftovers
from objrec.listing import list_images
from objrec.locks import locked
from objrec.paths import PathGiven
from objrec.store import (
    FeatureStore,
    PruneResult,
    SpaceInfo,
    remove_entry,
    remove_store,
)
from objrec.words import some_of

log = logging.getLogger(__name__)

Wait = Callable[[], None] | None
"""What a clear or prune calls once before it waits on another process, or on another thread of
this one (a Python caller's: each has a store of its own, :func:`thread_stores`); the CLI, one
thread, says it waits for other objrec processes."""

_THREAD = threading.local()
"""Each thread's open stores (:func:`thread_stores`)."""


def thread_stores() -> dict[Path, FeatureStore]:
    """The feature stores this thread has open, by folder: one a folder and thread, shared by
    every ``FeatureCache`` of that folder in the thread. A thread has its own, never another's:
    SQLite lets only the thread that opened a connection use or close it, a store's spaces keep
    the rows written and not indexed yet, and each store holds the store's lock apart, so that a
    prune or clear in one thread waits for another thread's reads as for another process's.
    Let go of as the thread ends (its connection and lock file closed as they are collected)."""
    stores = getattr(_THREAD, "stores", None)
    if stores is None:
        stores = _THREAD.stores = {}
    return stores


@contextmanager
def stores_held() -> Iterator[None]:
    """The feature stores the block opens (:attr:`FeatureCache.store`) let go of at its end, not
    before (:meth:`FeatureCache.close`): a command's, so that a prune or clear waiting for it
    goes on once it is done, never between its looking features up and reading them (they would
    be gone). A store open before the block is its holder's to let go of; another thread's
    stores are its own (:func:`thread_stores`), never touched here. Usable as a decorator. Where
    the block raised, a close that fails too is logged, and the block's own error raised: the
    close's (a full disk as its last rows were synced) had taken the command's place."""
    stores = thread_stores()
    before = {key: store.opening for key, store in stores.items()}

    def opened() -> list[FeatureStore]:
        return [
            store
            for key, store in list(stores.items())
            if store.opening is not None and store.opening != before.get(key)
        ]

    try:
        yield
    except BaseException:
        try:
            let_go_of_all(opened())
        except Exception as exc:  # the block's error is the one to say
            log.warning("closing the feature store after the error below failed too: %s", exc)
        raise
    let_go_of_all(opened())


def let_go_of_all(stores: Iterable[FeatureStore]) -> None:
    """Close each of ``stores``, every one even where closing one raises (its last rows met a
    full disk as they were synced): one left open kept its lock, which a prune or clear waits
    for, and its array files. The first error is raised once all are closed."""
    failed: BaseException | None = None
    for store in stores:
        try:
            store.close()
        except BaseException as exc:
            failed = failed or exc
    if failed is not None:
        raise failed


class FeatureCache:
    """The cache folder: the feature store (``store/``), exported ONNX graphs (``onnx/``) and the
    graphs OpenVINO compiled from int8 bodies (``openvino/``, ``openvino_runtime.OpenVinoModel``).

    The store is opened on first use and stays open (holding its shared lock, which ``prune``
    waits for in other processes and threads) until ``close``; a thread has one store object
    per folder (:func:`thread_stores`).
    """

    def __init__(self, root: Path | None = None, dtype: str = "float32"):
        self.root = Path(root) if root else default_cache_dir()
        self.dtype = dtype

    @property
    def store(self) -> FeatureStore:
        """This folder's feature store, this thread's (:func:`thread_stores`), opened on its first
        use: two threads of a Python API caller (a training and a prediction, say) each use
        their own, as two processes do."""
        stores, key = thread_stores(), (self.root / "store").absolute()
        store = stores.get(key)
        if store is None:
            store = stores[key] = FeatureStore(key)
        return store

    @property
    def rows_written(self) -> int:
        """Feature rows this thread has written into this folder's store since the thread first
        opened it (0 before): a running tally, whose difference over a command is what that
        command left for the next to read (``train``'s Ctrl-C sentence), which another thread's
        command never moves. A call's own counts are in its result (``TrainResult.frozen_pass``:
        ``computed``, ``from_store``), the one place a Python caller reads them: a
        process-wide total would mix threads, and this one mixes a thread's calls."""
        store = thread_stores().get((self.root / "store").absolute())
        return store.rows_written if store is not None else 0

    @property
    def rows_reused(self) -> int:
        """Feature rows this thread's frozen passes found in this folder's store, stored by
        earlier commands, since the thread first opened it (0 before): a running tally, as
        :attr:`rows_written` is (a call's own count: ``TrainResult.frozen_pass.from_store``)."""
        store = thread_stores().get((self.root / "store").absolute())
        return store.rows_reused if store is not None else 0

    def close(self) -> None:
        """Let go of this folder's store in this thread (its lock, which ``prune`` and ``clear``
        wait for): it opens again on its next use, by this or any other user, and stays the
        thread's one store of the folder. A table looked up before is read on then, unless a
        prune or clear ran meanwhile: it refuses (run it again), so a command that reads tables
        lets go at its end (:func:`stores_held`), not between its lookups and its reads."""
        store = thread_stores().get((self.root / "store").absolute())
        if store is not None:
            store.close()

    @property
    def facts_file(self) -> Path:
        """The image facts (perceptual hashes, sizes) that ``audit`` and ``split`` keep by content
        digest (``facts_store.cached_facts``)."""
        return self.root / facts_store.FACTS_FILE

    def onnx_path(self, key: str, input_size: int) -> Path:
        """Where the frozen body of this key (``bodies.body_key``: its fingerprint, code and
        PyTorch) is kept as ONNX."""
        return self.root / "onnx" / f"{key[:32]}-{input_size}.onnx"

    def model_onnx_path(self, key: str) -> Path:
        """Where ``predict --runtime onnx`` keeps a whole model as ONNX, by its key
        (``model_graph.graph_key``: the checkpoint's digest, the model's code and PyTorch)."""
        return self.root / "onnx" / f"model-{key[:32]}.logits.onnx"

    @property
    def compiled_dir(self) -> Path:
        """Where OpenVINO keeps the graphs it compiled (``<hash>.blob``, its ``CACHE_DIR``)."""
        return self.root / COMPILED_FOLDER

    def compiled_graphs(self, saved: bool = False) -> list[Path]:
        """OpenVINO's compiled graphs in :attr:`compiled_dir` (none where it is missing); with
        ``saved``, the graphs objrec saved there to compile from too (:data:`STATIC_NAME`)."""
        folder = self.compiled_dir
        if not folder.is_dir() or folder.is_symlink():
            return []
        ours = is_compiled_graph if saved else COMPILED_NAME.fullmatch
        return sorted(p for p in folder.iterdir() if ours(p.name))

    def old_entries(self) -> list[Path]:
        """Entries of the cache format before the store (a folder per split and view, their
        temporary folders, torchrun's shard files): never read."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if OLD_ENTRY.fullmatch(p.name))

    def summary(self) -> CacheSummary:
        """What ``objrec cache`` shows: the store's spaces, file index, old entries, ONNX graphs.

        Only reads: a cache folder or store not made yet is summed up as empty, and nothing is
        created (opening the store would make its folder, lock files and index).
        """
        if not self.root.is_dir():
            refuse_unmakeable_cache_folder(self.root)
        refuse_foreign_folder(self.root)
        index = self.root / "store" / "index.sqlite"
        spaces: list[SpaceInfo] = []
        files = 0
        if index.is_file():
            spaces, files = self.stored()
        onnx = list((self.root / "onnx").glob("*.onnx"))
        compiled = self.compiled_graphs()
        kinds = graph_kinds(self.root / "onnx")
        return CacheSummary(
            self.root,
            spaces,
            files,
            sum(folder_bytes(p) for p in self.old_entries()),
            len(self.old_entries()),
            sum(map(file_size, onnx)),
            disk_bytes(index),
            facts_store.facts_info(self.facts_file),
            exists=self.root.is_dir(),
            compiled_bytes=sum(map(file_size, self.compiled_graphs(saved=True))),
            compiled_graphs=len(compiled),
            graphs=kinds,
        )

    def stored(self) -> tuple[list[SpaceInfo], int]:
        """The store's spaces and how many files its index knows, read from the store opened
        read-only (a cache on a read-only file system shows too)."""
        with FeatureStore(self.root / "store", read_only=True) as store:
            return store.info(), store.indexed_files()

    @on_ctrl_c("what it had removed is gone, the rest is kept: run it again to finish")
    @stores_held()
    def prune(
        self,
        older_than_days: float | None = None,
        keep_folder: Path | None = None,
        wait: Wait = None,
    ) -> PruneSummary:
        """Forget features not used for ``older_than_days`` or of no image in ``keep_folder``;
        compact the store; remove the folders of the old cache format, the graphs of ``onnx/``
        not used for ``older_than_days`` (:func:`prune_graphs`) and OpenVINO's compiled graphs
        not read for as long (:func:`prune_compiled`). The store it opened is let go of as it
        returns (:func:`stores_held`): a command elsewhere waits for a prune long done no more."""
        from objrec import bursts, check_decodes, near_pairs, reading

        refuse_foreign_folder(self.root)
        with said_as_the_prune_s(self.root):
            reading.adopt_old_index(self.store.files, self.facts_file)  # pruned with the rest
            keep = None
            if keep_folder is not None:
                keep = set(self.store.digests(list_images(Path(keep_folder)))[0])
            result = self.store.prune(older_than_days, keep, wait)
            tables = (near_pairs.PAIR_SETS, bursts.CAMERA_TIMES, check_decodes.DECODED)
            facts = facts_store.prune_facts(self.facts_file, older_than_days, keep, wait, tables)
            old = self.old_entries()
            for path in old:
                remove_entry(path)
            compiled = prune_compiled(self.compiled_dir, older_than_days, wait)
            leftovers = self.remove_leftovers()
            graphs = prune_graphs(self.root / "onnx", older_than_days, wait)
        return PruneSummary(result, len(old), *facts, compiled, leftovers, graphs)

    def remove_leftovers(self) -> int:
        """Remove the temporary files a stopped objrec left in ``onnx/`` (a graph it was
        writing: ``leftovers.remove_leftovers``, which keeps a running process's); how many."""
        onnx = self.root / "onnx"
        if not onnx.is_dir() or onnx.is_symlink():
            return 0
        return remove_leftovers(onnx)

    @on_ctrl_c("what it had removed is gone, the rest is kept: run it again to finish")
    def clear(self, wait: Wait = None) -> ClearResult:
        """Remove what objrec wrote in the cache folder (waiting for other users of the store), a
        damaged store or image facts store too, and leave anything else there, following no
        link: a link of one of objrec's names is removed itself."""
        if not self.root.is_dir():
            return ClearResult(0, [])
        refuse_foreign_folder(self.root)
        self.close()  # this thread's own hold on the store would keep the lock from it
        links = {p: link_target(p) for p in sorted(self.root.iterdir()) if p.is_symlink()}
        left = remove_store(self.root / "store", wait)
        with facts_store.facts_lock(
            self.facts_file, exclusive=True, wait=wait
        ):  # no split writes it
            removed, others = self._clear_beside_store(wait)
        gone = {link: target for link, target in links.items() if not link.is_symlink()}
        return ClearResult(removed, left + others, gone)

    def _clear_beside_store(self, wait: Wait = None) -> tuple[int, list[Path]]:
        """Remove objrec's entries of the cache folder but ``store/`` and the facts store's
        lock; returns how many, and what was left (what objrec did not write). ``onnx/`` is held
        as prune holds it (:func:`remove_held_graphs`), ``openvino/`` as a compile does
        (:func:`remove_compiled`), ``wait()`` called first when a process uses either."""
        removed, left = 0, list[Path]()
        for path in sorted(self.root.iterdir()):
            if path.name in ("store", facts_store.FACTS_LOCK):
                continue
            if path.name == COMPILED_FOLDER and path.is_dir() and not path.is_symlink():
                graphs, others = remove_compiled(path, wait)
                removed, left = removed + graphs, left + others
            elif path.name in GRAPH_FOLDERS and path.is_dir() and not path.is_symlink():
                graphs, others = remove_held_graphs(path, wait)
                removed, left = removed + graphs, left + others
            elif path.name in GRAPH_FOLDERS or is_cache_file(path.name):
                remove_entry(path)
                removed += 1
            else:
                left.append(path)
        return removed, left


def link_target(link: Path) -> Path:
    """Where the symbolic link ``link`` points, as a path from here (a relative one is read from
    the link's folder, ``..`` resolved in the text: ``c2/../disk`` is ``disk``)."""
    return Path(os.path.normpath(link.parent / link.readlink()))


GRAPH_NAME = re.compile(
    r"[0-9a-f]{32}-\d+(?:-int8-[0-9a-f]{32})?\.onnx"
    r"|model-(?:[0-9a-f]{32}|[0-9a-f]{64}|model)(?:\.logits)?\.(?:onnx|json)"
)
"""The graphs objrec keeps in ``onnx/``: a frozen body (:meth:`FeatureCache.onnx_path`), its int8
version (``quantize.quantize_body``), and a whole model with its sidecar JSON
(:meth:`FeatureCache.model_onnx_path`; ``model-<digest>.onnx`` before)."""
COMPILED_NAME = re.compile(r"[0-9]+\.blob")
"""The graphs OpenVINO compiles into ``openvino/`` (:attr:`FeatureCache.compiled_dir`): its hash
of the graph, device and settings, in decimal."""
STATIC_NAME = re.compile(r"\.?[0-9a-f]{32}-\d+(?:\.\d+)?\.(?:xml|bin)")
"""The graphs objrec saves into ``openvino/`` with their batch fixed, for OpenVINO to compile from
(``openvino_runtime.static_name``), and the temporary names they are written under."""
TEMPORARY = re.compile(r"\.(?P<of>.+)\.(?:\d+(?:-[0-9a-f]{8})?\.part|tmp-\d+|pre-\d+|head)")
"""A file written on the way to ``of`` (the names ``outputs.staged_file`` used before
:data:`STAGED`)."""
STAGED = re.compile(r"\.objrec-(?:[1-9][0-9]{0,9}-)?[0-9a-f]{32}\.part")
"""A file being written by ``outputs.staged_file`` (``outputs.temporary_name``): in ``onnx/``, a
graph."""


@contextmanager
def said_as_the_prune_s(cache_dir: Path) -> Iterator[None]:
    """A full disk (or quota) met in the block, a prune of ``cache_dir``, said in the prune's
    own words (``cache_folder.full_disk_in_prune``), whether the feature store or the image facts
    store said it (``FullCacheDisk``) or a file's write did (an OSError)."""
    try:
        yield
    except FullCacheDisk as exc:
        raise full_disk_in_prune(cache_dir, exc.refused) from exc
    except OSError as exc:
        if exc.errno not in FULL_DISK:
            raise
        reason = (exc.strerror or "no space left").lower()
        refused = f"{os.fsdecode(exc.filename or cache_dir)} could not be written ({reason})"
        raise full_disk_in_prune(cache_dir, refused) from exc


USED = re.compile(r"\.(?P<of>.+)\.used")
"""The file whose time is a graph's last use (:func:`use_marker`)."""


def use_marker(graph: Path) -> Path:
    """The empty file beside a cached ``graph`` whose modification time is its last use
    (``runtime.using_graph``): the graph's own times cannot say it, as a file system mounted
    ``noatime`` never moves its access time, and touching the graph moves the ctime its
    "opens whole" memo is keyed on (``quantize.graph_stamp``)."""
    return graph.with_name(f".{graph.name}.used")


def is_graph_file(name: str) -> bool:
    """Whether ``name`` in ``onnx/`` is a graph objrec writes there, a temporary file of one or
    the record of its last use."""
    if (used := USED.fullmatch(name)) is not None:
        name = used["of"]
    while (written := TEMPORARY.fullmatch(name)) is not None:
        name = written["of"]
    return GRAPH_NAME.fullmatch(name) is not None or STAGED.fullmatch(name) is not None


def is_compiled_graph(name: str) -> bool:
    """Whether ``name`` in ``openvino/`` is OpenVINO's compiled graph or a graph objrec saved."""
    return COMPILED_NAME.fullmatch(name) is not None or STATIC_NAME.fullmatch(name) is not None


def is_compiled_file(name: str) -> bool:
    """Whether ``name`` in ``openvino/`` is objrec's or OpenVINO's: a graph
    (:func:`is_compiled_graph`) or the record of a saved graph's use
    (``openvino_runtime.record_compiled``)."""
    used = USED.fullmatch(name)
    return is_compiled_graph(used["of"] if used is not None else name)


GRAPH_FOLDERS: dict[str, Callable[[str], bool]] = {
    "onnx": is_graph_file,
    COMPILED_FOLDER: is_compiled_file,
}
"""The folders of graphs in the cache folder, each with what tells objrec's files there."""


def remove_graphs(
    folder: Path, ours: Callable[[str], bool] = is_graph_file
) -> tuple[int, list[Path]]:
    """Remove objrec's graphs from ``folder`` (``onnx/``, or ``openvino/`` with ``ours``
    :func:`is_compiled_graph`), and the folder once empty; returns how many were removed and
    what was left."""
    removed, left = 0, []
    for path in sorted(folder.iterdir()):
        if ours(path.name):
            remove_entry(path)
            removed += 1
        else:
            left.append(path)
    if not left:
        remove_if_empty(folder)
    return removed, left


def remove_held_graphs(folder: Path, wait: Wait = None) -> tuple[int, list[Path]]:
    """:func:`remove_graphs` of ``onnx/`` (``folder``), held exclusively as
    :func:`prune_graphs` holds it: a process using a graph there (``runtime.using_graph``: an
    int8 body's calibration, a graph being exported and opened) holds it shared, and the clear
    waits for it (``wait()`` called first) rather than remove the graph from under it. A process
    that waited for the clear holds the folder made again, not the one removed
    (``runtime.hold_shared``)."""
    with locked(folder, wait):
        return remove_graphs(folder, is_graph_file)


def remove_compiled(folder: Path, wait: Wait = None) -> tuple[int, list[Path]]:
    """:func:`remove_graphs` of OpenVINO's ``folder``, held as a compile holds it
    (``locks.compiling_into``): OpenVINO writes a graph straight to its name, so a folder removed
    under a compile would let the next process write the same graph beside it, or load it half
    written. A compile still holding it after ``locks.COMPILE_WAIT`` seconds keeps it, said;
    ``wait()`` is called first when one holds it."""
    with locks.compiling_into(folder, locks.COMPILE_WAIT, wait) as held:
        if held:
            return remove_graphs(folder, is_compiled_file)
    log.warning("kept %s: an objrec process was compiling a graph into it", folder)
    return 0, [folder]


def prune_compiled(folder: Path, older_than_days: float | None, wait: Wait = None) -> int:
    """Remove the graphs of OpenVINO's ``folder`` not used for ``older_than_days``
    (:func:`compiled_last_use`), with the records of their use once their graph is gone; returns
    how many graphs. Held as a compile holds it (``locks.compiling_into``): none is removed as
    it is loaded; a compile still holding it after ``locks.COMPILE_WAIT`` seconds keeps them
    all, said (``wait()`` is called first when one holds it). None keeps them all."""
    if older_than_days is None or not folder.is_dir() or folder.is_symlink():
        return 0
    cutoff = time.time() - older_than_days * 86400
    with locks.compiling_into(folder, locks.COMPILE_WAIT, wait) as held:
        if held:
            return _prune_held_compiled(folder, cutoff)
    log.warning("kept %s: an objrec process was compiling a graph into it", folder)
    return 0


def _prune_held_compiled(folder: Path, cutoff: float) -> int:
    """:func:`prune_compiled`'s work, ``folder`` held: the graphs last used before ``cutoff``."""
    records = compiled_records(folder)
    removed = 0
    for path in sorted(folder.iterdir()):
        if is_compiled_graph(path.name) and compiled_last_use(path, records) < cutoff:
            path.unlink(missing_ok=True)  # another prune or clear may have been quicker
            removed += 1
    for path in folder.iterdir():  # a record goes with its graph
        used = USED.fullmatch(path.name)
        if used is not None and not (folder / used["of"]).exists():
            path.unlink(missing_ok=True)
    return removed


def compiled_records(folder: Path) -> dict[str, list[Path]]:
    """Each compiled graph of OpenVINO's ``folder`` that a record of use names
    (``openvino_runtime.record_compiled``: the saved graph it was compiled from), with those
    records."""
    records: dict[str, list[Path]] = {}
    for path in folder.iterdir():
        if USED.fullmatch(path.name) is None:
            continue
        try:
            names = path.read_text(encoding="utf-8").split()
        except (OSError, ValueError):  # gone since, or not objrec's text: it names none
            continue
        for name in names:
            if COMPILED_NAME.fullmatch(name):
                records.setdefault(name, []).append(path)
    return records


def compiled_last_use(path: Path, records: dict[str, list[Path]]) -> float:
    """When the graph ``path`` of OpenVINO's folder was last written, read or used: a graph saved
    to compile from (:data:`STATIC_NAME`) by its record of use (:func:`use_marker` of its
    ``.xml``, the ``.bin`` its weights), a compiled one by the records naming it (``records``,
    :func:`compiled_records`), as a file system mounted ``noatime`` never moves a file's access
    time; one no record names (compiled before objrec kept them) by its own times alone. A
    record's time is when it was written: prune reads it, which moves its access time."""
    marks = list(records.get(path.name, []))
    if STATIC_NAME.fullmatch(path.name):
        marks.append(use_marker(path.with_suffix(".xml")))
    return max(newest_time([path]), newest_time(marks, written=True))


def newest_time(paths: Sequence[Path], written: bool = False) -> float:
    """The latest access or modification time of ``paths`` (those there; ``written``: their
    modification times alone), as a Unix time; 0 when none is there."""
    times = [0.0]
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        times += [stat.st_mtime] if written else [stat.st_atime, stat.st_mtime]
    return max(times)


def prune_graphs(folder: Path, older_than_days: float | None, wait: Wait = None) -> int:
    """Remove the graphs of ``onnx/`` (``folder``) not used for ``older_than_days``
    (:func:`last_use`) with the records of their use, and records of graphs gone; returns how many
    graphs. Held exclusively (``runtime.using_graph``): a process that found a graph has opened
    it before it goes, one that comes after makes it again; ``wait()`` is called first when one
    holds it. None keeps them all."""
    if older_than_days is None or not folder.is_dir() or folder.is_symlink():
        return 0
    cutoff = time.time() - older_than_days * 86400
    removed = 0
    with locked(folder, wait):
        for path in sorted(folder.iterdir()):
            used = USED.fullmatch(path.name)
            if used is not None and not (folder / used["of"]).exists():
                path.unlink(missing_ok=True)
            elif GRAPH_NAME.fullmatch(path.name) and last_use(path) < cutoff:
                path.unlink(missing_ok=True)
                use_marker(path).unlink(missing_ok=True)
                removed += 1
    return removed


def last_use(graph: Path) -> float:
    """When ``graph`` was last written, read or used (:func:`use_marker`), as a Unix time;
    0 once gone. A whole model's sidecar JSON is as used as its graph."""
    paths = [graph, use_marker(graph)]
    if graph.suffix == ".json":
        paths += [graph.with_suffix(".onnx"), use_marker(graph.with_suffix(".onnx"))]
    return newest_time(paths)


def graph_kinds(folder: Path) -> dict[str, GraphCount]:
    """The graphs of ``onnx/`` (``folder``) by kind (:data:`GRAPH_KINDS`): how many, and bytes."""
    kinds = {kind: GraphCount() for kind in GRAPH_KINDS}
    if not folder.is_dir():
        return kinds
    for path in folder.iterdir():
        kind = next((k for k, named in GRAPH_KINDS.items() if named.fullmatch(path.name)), None)
        if kind is not None:
            kinds[kind] = GraphCount(kinds[kind].graphs + 1, kinds[kind].bytes + file_size(path))
    return kinds


GRAPH_KINDS = {
    "body": re.compile(r"[0-9a-f]{32}-\d+\.onnx"),
    "int8_body": re.compile(r"[0-9a-f]{32}-\d+-int8-[0-9a-f]{32}\.onnx"),
    "model": re.compile(r"model-(?:[0-9a-f]{32}|[0-9a-f]{64}|model)(?:\.logits)?\.onnx"),
}
"""The kinds of graph in ``onnx/``: a frozen body's (``frozen.py``), an int8 body's
(``quantize.quantize_body``), a whole model's (``predict --runtime onnx``)."""


@dataclass(frozen=True)
class GraphCount:
    """How many graphs of a kind the cache folder holds, and their bytes."""

    graphs: int = 0
    bytes: int = 0


def remove_if_empty(folder: Path) -> None:
    """Remove ``folder``, left by :func:`remove_graphs` with none but objrec's graphs in it: kept
    (and said) when another objrec process wrote one there meanwhile, none of its business to
    remove; gone already (another clear) is as good as removed."""
    try:
        folder.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise
        try:
            names = sorted(p.name for p in folder.iterdir())
        except OSError:  # removed in its turn since
            names = []
        log.warning(
            "kept %s: another objrec process wrote %s into it while it was cleared",
            folder,
            some_of(names) or "a file",
        )


@dataclass(frozen=True)
class ClearResult:
    """What :meth:`FeatureCache.clear` did beside removing the store's features."""

    removed: int
    """Entries removed beside the store: the image facts store's files, graphs, old entries."""
    left: list[Path]
    """Entries objrec did not write (in the cache folder, ``store/`` or ``onnx/``): left as they
    are."""
    links: dict[Path, Path] = field(default_factory=dict)
    """The symbolic links of objrec's names removed (``store/`` and ``onnx/`` among them), each
    with its target: a link is removed itself, what it points to is left as it was."""


def utc_time(timestamp: float | None) -> str | None:
    """A Unix time as ``--json`` gives it: ISO 8601 in UTC, to the second
    (``2026-12-02T07:30:00Z``); None stays None (a space never used)."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def open_cache(cache_dir: PathGiven | None = None, dtype: str = "float32") -> FeatureCache:
    """The cache in ``cache_dir`` (default :func:`default_cache_dir`), storing ``dtype`` rows."""
    return FeatureCache(Path(cache_dir) if cache_dir else None, dtype)


@dataclass(frozen=True)
class CacheSummary:
    """What the cache folder holds (``objrec cache``): feature spaces, indexes, graphs, facts."""

    root: Path
    spaces: list[SpaceInfo]
    files: int
    """Files in the (path, size, times) -> content index."""
    old_bytes: int
    old_entries: int
    onnx_bytes: int
    index_bytes: int
    facts: facts_store.FactsInfo = field(default_factory=lambda: facts_store.FactsInfo(0, 0))
    """The image facts store (``facts.sqlite``): rows and bytes."""
    exists: bool = True
    """Whether the cache folder exists (a missing one is summed up as empty, not made)."""
    compiled_bytes: int = 0
    """OpenVINO's compiled graphs (``openvino/``): their bytes, and how many."""
    compiled_graphs: int = 0
    graphs: dict[str, GraphCount] = field(default_factory=dict)
    """The graphs of ``onnx/`` by kind (:data:`GRAPH_KINDS`)."""

    def to_json(self) -> dict:
        return {
            "root": str(self.root),
            "exists": self.exists,
            "spaces": [asdict(s) | {"last_used": utc_time(s.last_used)} for s in self.spaces],
            "indexed_files": self.files,
            "index_bytes": self.index_bytes,
            "old_format_entries": self.old_entries,
            "old_format_bytes": self.old_bytes,
            "onnx_bytes": self.onnx_bytes,
            "openvino_graphs": self.compiled_graphs,
            "openvino_bytes": self.compiled_bytes,
            "graphs": {kind: asdict(count) for kind, count in self.graphs.items()},
            "facts_rows": self.facts.rows,
            "facts_bytes": self.facts.bytes,
        }


@dataclass(frozen=True)
class PruneSummary:
    """What ``objrec cache --prune`` removed."""

    store: PruneResult
    old_entries: int
    facts_removed: int = 0
    """Rows of the image facts store removed, and the store before and after."""
    facts_before: facts_store.FactsInfo = field(default_factory=lambda: facts_store.FactsInfo(0, 0))
    facts_after: facts_store.FactsInfo = field(default_factory=lambda: facts_store.FactsInfo(0, 0))
    compiled_removed: int = 0
    """OpenVINO's compiled graphs removed (:func:`prune_compiled`)."""
    leftovers_removed: int = 0
    """Temporary files a stopped objrec left (:meth:`FeatureCache.remove_leftovers`)."""
    graphs_removed: int = 0
    """Graphs of ``onnx/`` removed (:func:`prune_graphs`)."""


def file_size(path: Path) -> int:
    """``path``'s size, 0 once gone: a graph being saved into ``openvino/`` is listed under its
    temporary name, renamed within a second (``openvino_runtime.save_static``)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def disk_bytes(path: Path) -> int:
    """The bytes ``path`` takes on disk (its blocks), 0 when it is gone."""
    return path.stat().st_blocks * 512 if path.exists() else 0


def folder_bytes(folder: Path) -> int:
    """The bytes on disk of every file under ``folder`` (or of ``folder``, a file)."""
    if folder.is_file():
        return disk_bytes(folder)
    return sum(disk_bytes(p) for p in folder.rglob("*") if p.is_file())

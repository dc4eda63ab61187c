"""The frozen body and its pass (``FrozenBody``: a body, its fingerprint and a fast runner built
only when features are computed): one view of a list of images decoded beside the body and pushed
through it a batch at a time (``frozen_pass``), and features computed in memory without the
store (``compute_features``)."""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from objrec import cores
from objrec.backbones import network_words
from objrec.bodies import Body, body_key, code_digest, fingerprint_module
from objrec.cache import FeatureCache
from objrec.config import DataConfig
from objrec.data import Sample
from objrec.device_runner import DeviceRunner
from objrec.int8_body import QuantizedBody, int8_numerics
from objrec.loaders import Batch, ImageDataset, collate_views, make_loader, prefetch
from objrec.openvino_runtime import OpenVinoModel
from objrec.progress import SILENT, Reporter
from objrec.runtime import OnnxModel, Runner, make_runner
from objrec.store import FLOAT32
from objrec.transforms import build_batch_finish, build_transforms, draft_size
from objrec.views import ViewsDataset, ViewSpec
from objrec.words import plural

log = logging.getLogger(__name__)

FROZEN_BATCH = 16
"""Images per frozen-pass batch. ONNX Runtime keeps buffers for the largest batch it has run: with
the three-body default at 240 px, batch 64 peaked at 3.6 GiB (19.6 and 21.3 images/s in two runs),
batch 16 at 1.4 GiB (27.5 and 33.7 images/s) (``benchmarks/frozen_batch.py``)."""

BATCH_FINISH = True
"""Whether the frozen pass converts and normalises its views once a batch
(``transforms.build_batch_finish``) rather than once an image: the same features, the decoding
thread's CPU time a centre view 24% less; files to features in int8 3 to 5% faster in the centre
view, 1 to 4% in the augmented one, in fp32 0 to 2%, within the noise (two runs of
``benchmarks/batch_finish.py``, benchmarks/README.md)."""

BODY_CALLERS = 2
"""Batches in an ONNX Runtime body at once on the CPU. They share one session, whose thread pool
and their own calling threads together make PyTorch's thread count (``FrozenBody``). On 2 cores two
one-thread runs side by side beat one two-thread run, whose operators wait for the slower thread
each time the decoding thread takes its core: files to features 5 to 7% faster in the augmented
view in int8, 9 to 10% in fp32, no clear difference in the centre view (each repeat's ratio 0.97
to 1.07), the same features; peak memory 70 MiB more in int8, 480 MiB more in fp32
(``benchmarks/body_callers.py``; not measured on more cores)."""


def display_name(body: Body, name: str = "") -> str:
    """What ``objrec cache`` calls a body's features: ``name`` (the backbone's, or the class's),
    marked ``(int8)`` for an int8 body (``(int8, openvino)`` for one OpenVINO runs, whose features
    are stored apart), whichever command stored them first."""
    if isinstance(body, QuantizedBody):
        engine = ", openvino" if body.engine == "openvino" else ""
        return f"{display_name(body.float_body, name)} (int8{engine})"
    return name or type(body).__name__


class FrozenBody:
    """A frozen body, its fingerprint, and a fast runner built only when features are computed.

    On a GPU ``device`` the runner is PyTorch on the card (``device_runner.DeviceRunner``:
    channels-last, float16 or bfloat16 within ``PRECISION_TOLERANCE`` of float32) and batches are
    sized to its memory; on the CPU, ONNX Runtime in batches of ``FROZEN_BATCH``. int8 bodies run
    on the CPU whatever the device, on their engine (OpenVINO or ONNX Runtime).
    """

    def __init__(
        self,
        body: Body,
        input_size: int,
        cache: FeatureCache,
        backend: str = "auto",
        name: str = "",
        device: torch.device | None = None,
    ):
        if isinstance(body, QuantizedBody):
            body = body.runnable()  # keyed and named by the engine that runs it
        self.body = body.eval()
        self.name = display_name(body, name)
        self.n_features = body.n_features
        self.input_size = input_size
        self.cache = cache
        self.backend = backend
        self.device = device or torch.device("cpu")
        self.backend_used: str | None = None
        self.derived = ""
        """Where its rows are made from instead, when that is not bit for bit what it computes
        (``finetune.FromTheCut``: fine-tuning's cut more than one block below the end), so that
        they are kept in a space of their own (:meth:`numerics`); empty: computed, or made
        exactly."""
        self._runner: Runner | None = None
        self._making = threading.Lock()
        self._callers = 1

    @functools.cached_property
    def fingerprint(self) -> str:
        """The body's (``bodies.fingerprint_module``), computed at its first use: 0.17 s for
        the default body, which a predict whose photos the store has never seen does not need."""
        return fingerprint_module(self.body)

    @functools.cached_property
    def keyed(self) -> str:
        """What the feature store keys this body by (``store.space_id``): its fingerprint and
        the digest of the code that runs it (``bodies.code_digest``)."""
        return f"{self.fingerprint} {code_digest(self.body)}"

    @functools.cached_property
    def graph_key(self) -> str:
        """What its fp32 graph is kept by in the cache folder (``bodies.body_key``)."""
        return body_key(self.body, self.fingerprint)

    @property
    def ready(self) -> bool:
        """Whether its runner is made: the first pass makes it (an ONNX export and a session in a
        new cache folder: the demo's first pass sat 45 s at "0/60" while it was made)."""
        return self._runner is not None

    def get_ready(self, images: int) -> None:
        """Make its runner, and the graph OpenVINO runs a batch of ``images`` in (its first call
        would), so that a pass can show them as a step of its own; torchvision, which makes the
        pass's views, is imported beside them (:func:`importing_torchvision`)."""
        with importing_torchvision():
            runner = self.runner()
            if isinstance(runner, OpenVinoModel):
                runner.compile_for(images)

    @property
    def callers(self) -> int:
        """Batches in the body at once: ``BODY_CALLERS`` with ONNX Runtime (which runs on the CPU,
        int8 bodies whatever the device), else 1 (OpenVINO's int8 bodies too)."""
        self.runner()
        return self._callers

    def runner(self) -> Runner:
        with self._making:  # the first batches may arrive from several threads at once
            return self._make_runner() if self._runner is None else self._runner

    def _make_runner(self) -> Runner:
        on_cpu = self.device.type == "cpu" or isinstance(self.body, QuantizedBody)
        cpu_threads = cores.cpu_threads() if on_cpu else 1
        openvino = isinstance(self.body, QuantizedBody) and self.body.engine == "openvino"
        # OpenVINO runs one batch at a time on every thread: two at once were no faster from
        # files to features (benchmarks/README.md, 2 December)
        self._callers = 1 if openvino else max(1, min(BODY_CALLERS, cpu_threads))
        # One session serves the batches at once: they share its pool (``threads`` - 1 workers),
        # and each caller's own thread works too, so the threads at work are PyTorch's count.
        threads = cpu_threads - self._callers + 1
        if isinstance(self.body, QuantizedBody):
            # ONNX Runtime's threads do not spin between operators, which leaves the decoding
            # thread the cores: files to features 5% faster in the centre view, 7% in the
            # augmented one, the same features (benchmarks/frozen_pass_int8.py).
            self._runner = self.body.open(threads, spin=False, cache_dir=self.cache.root)
            self.backend_used = f"{self.body.engine} int8"
            log.info("frozen pass runs on %s", self.backend_used)
            return self._runner
        if self._runner is None:
            onnx_path = self.cache.onnx_path(self.graph_key, self.input_size)
            self._runner, self.backend_used = make_runner(
                self.body, self.input_size, self.backend, onnx_path, self.device, threads
            )
            log.info("frozen pass runs on %s", self.backend_used)
        if not isinstance(self._runner, OnnxModel):
            self._callers = 1  # PyTorch's operators share one thread pool, or run on a GPU
        return self._runner

    @property
    def batch_size(self) -> int:
        """Images per frozen-pass batch: ``FROZEN_BATCH`` on the CPU, sized to the card on a GPU."""
        runner = self.runner() if self.device.type != "cpu" else None
        if isinstance(runner, DeviceRunner):
            return runner.batch_size(self.input_size)
        return FROZEN_BATCH

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.runner()(x)

    def numerics(
        self, samples: Sequence[Sample] = (), data: DataConfig | None = None, chosen: str = ""
    ) -> str:
        """How this body computes features, part of the store's key (``store.space_id``):
        ``FLOAT32`` on the CPU (ONNX Runtime or eager PyTorch, equal within ``runtime.TOLERANCE``),
        followed by :attr:`derived` where rows are made otherwise, not bit for bit the same;
        an int8 body (a fingerprint of its own) its engine's version and the CPU's int8 path
        (``int8_body.int8_numerics``); on a GPU ``<device>:<precision>``, the
        precision chosen once, before anything is looked up, on the first images of ``samples``,
        or taken from ``chosen`` (torchrun's rank 0's numerics), so that every rank keys one
        space."""
        if isinstance(self.body, QuantizedBody):
            return int8_numerics(self.body.engine)
        runner = self.runner() if self.device.type != "cpu" else self._runner
        if not isinstance(runner, DeviceRunner):
            return f"{FLOAT32} {self.derived}" if self.derived else FLOAT32
        if runner.dtype is None:
            runner.batch_size(self.input_size)  # first: the precision is tried at that size
            if chosen:
                runner.take(chosen)
            else:
                runner.choose(probe_batch(samples, data, self.input_size))
        return runner.numerics


@contextmanager
def importing_torchvision() -> Iterator[None]:
    """Import torchvision in a thread while the block runs, done when it ends. A retrain that
    computes a few new images imports it first (its transforms make the views), and with it
    ``torch._dynamo`` (``torchvision.ops``): 1 to 2 s of Python that the body's session,
    OpenVINO's compiled graph read in C++, need not wait for (``benchmarks/few_new_images.py``).
    A failed import is left for the pass's own import to report."""

    def load() -> None:
        with suppress(Exception):
            import torchvision  # noqa: F401

    if "torchvision" in sys.modules:
        yield
        return
    thread = threading.Thread(target=load, name="objrec-import", daemon=True)
    thread.start()
    yield  # an error, or Ctrl-C, leaves it to end on its own (a daemon)
    thread.join()


def get_ready(body: FrozenBody, settings: PassSettings, images: int) -> None:
    """Make ``body``'s runner for a pass of ``images`` images, unless made: a step of its own,
    named, before the pass counts its images (the demo's first pass sat 45 s at "0/60" while its
    runner was made)."""
    if body.ready or not images:
        return
    with settings.reporter.task(f"loading {network_words(body.name)}", None):
        body.get_ready(min(settings.batch_size or body.batch_size, images))


def probe_batch(
    samples: Sequence[Sample], data: DataConfig | None, input_size: int, n: int = 8
) -> torch.Tensor:
    """The first ``n`` readable images of ``samples`` in the centre view (random pixels when there
    are none), on which a GPU chooses its precision."""
    images = []
    if data is not None:
        dataset = ImageDataset(samples[:n], build_transforms(data, train=False), draft_size(data))
        images = [x for x, _, _ in (dataset[i] for i in range(len(dataset))) if x is not None]
    if images:
        return torch.stack(images)
    return torch.randn(4, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))


@dataclass
class FeatureSet:
    """Features (N, F), labels (N,), which rows came from readable files, and why others did not."""

    features: torch.Tensor
    labels: torch.Tensor
    ok: torch.Tensor
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PassSettings:
    """How a frozen pass runs and reports, as opposed to what it computes (the body, the images,
    their view and seeds): one value passed by name through ``feature_table``,
    ``cached_features``, ``compute_features`` and ``frozen_pass``. Which images this process
    computes under ``torchrun`` (``world``) is the store's business, given to ``feature_table``."""

    batch_size: int | None = None
    """Images per batch; ``None``: the body's (``FrozenBody.batch_size``)."""
    num_workers: int = 0
    """Loader worker processes; 0 decodes in a thread beside the body (``loaders.prefetch``)."""
    reporter: Reporter = SILENT
    """Where the pass's progress goes."""
    description: str = "features"
    """The pass's name in its progress bar and log lines."""
    counted_after: bool = False
    """The caller says the pass's images once it ends (train's ``valid features: 11 images, 11
    run through ...``): a pass of one batch is then a step of that name alone, where a log said
    ``valid features: 11 images, one batch ...`` just before it (:func:`pass_task`)."""


@dataclass(frozen=True)
class Probe:
    """Something measured on every image the frozen pass decodes, in the same loader, so that it
    needs no pass of its own over the files: the audit's image facts (``image_facts.image_facts``).

    ``measure(path, data)`` runs in the loader (picklable for worker processes) on the bytes
    ``data`` the image was decoded from, which hash to its digest (``views.SeededViewDataset``);
    ``keep(digests, results)`` gets each batch's results in this process. Images whose features
    are already in the store are not decoded, so not measured.
    """

    measure: Callable[[Path, bytes | None], Any]
    keep: Callable[[list[str], list[Any]], None]


@dataclass(frozen=True, slots=True)
class PassedBatch:
    """One batch of :func:`frozen_pass`, read by name."""

    indices: np.ndarray
    """The positions in ``samples`` of the batch's images that were decoded."""
    features: np.ndarray | None
    """Their features (float32, a row each); None where none of them could be decoded."""
    failures: list[tuple[int, str]]
    """(position, message) of each file of the batch that could not be decoded."""
    measured: tuple
    """``measure``'s result for each decoded image (empty without ``measure``)."""
    pixels: tuple
    """The pixels each decoded image was decoded into."""
    slot: int = 0
    """Which of the pass's views the batch is in (:func:`views_pass`'s ``specs``)."""


def in_body(body: FrozenBody, batches: Iterable[Batch]) -> Iterator[tuple[Batch, Any]]:
    """Each batch with its features (a float32 array, ``None`` where none of its images could be
    read), in order, with ``body.callers`` batches in the body at once."""

    def run(batch: Batch) -> np.ndarray | None:
        return body(batch.images).float().numpy() if len(batch.indices) else None

    if body.callers == 1:
        yield from ((batch, run(batch)) for batch in batches)
        return
    with ThreadPoolExecutor(body.callers, thread_name_prefix="objrec-body") as pool:
        pending: deque = deque()

        def oldest() -> tuple[Batch, np.ndarray | None]:
            batch, features = pending.popleft()
            return batch, features.result()

        for batch in batches:
            pending.append((batch, pool.submit(run, batch)))
            if len(pending) == body.callers:
                yield oldest()
        while pending:
            yield oldest()


def frozen_pass(
    body: FrozenBody,
    samples: Sequence[Sample],
    spec: ViewSpec,
    settings: PassSettings = PassSettings(),
    *,
    seeds: Sequence[int] | None = None,
    measure: Callable[[Path, bytes | None], Any] | None = None,
    digests: Sequence[str] | None = None,
) -> Iterator[PassedBatch]:
    """Run the frozen body over ``samples`` in ``spec``'s view, yielding one batch at a time
    (:class:`PassedBatch`: the images decoded, their features, the files that could not be,
    ``measure``'s results, the pixels), in order: :func:`views_pass` of one view."""
    seeded = None if seeds is None else [seeds]
    yield from views_pass(
        body, samples, [spec], settings, seeds=seeded, measure=measure, digests=digests
    )


@torch.inference_mode()
def views_pass(
    body: FrozenBody,
    samples: Sequence[Sample],
    specs: Sequence[ViewSpec],
    settings: PassSettings = PassSettings(),
    *,
    wanted: Sequence[Sequence[int]] | None = None,
    seeds: Sequence[Sequence[int]] | None = None,
    measure: Callable[[Path, bytes | None], Any] | None = None,
    digests: Sequence[str] | None = None,
) -> Iterator[PassedBatch]:
    """Run the frozen body over ``samples`` in each of ``specs``' views (of one data config) that
    an image is ``wanted`` in (each image's slots of ``specs``; default: all), each image read and
    decoded once for all of them (``views.ViewsDataset``), yielding one batch of one view at a
    time (:class:`PassedBatch`, its ``slot`` the view's), a batch's images in each view in turn,
    in order (``body.callers`` of them in the body at once: ``in_body``). ``seeds``: each slot's
    seed of each image; ``measure``: run once on each image decoded; ``digests``: the images'
    content digests, which their bytes must hash to when decoded. On a GPU the batches come in
    pinned memory. The progress counts the image views made."""
    n = len(samples)
    if n == 0:
        return  # before the body's runner is made
    get_ready(body, settings, n)
    batch_size, num_workers = settings.batch_size or body.batch_size, settings.num_workers
    data = specs[0].data
    finish = build_batch_finish(data) if BATCH_FINISH else None
    transforms = [spec.transform(finish=finish is None) for spec in specs]
    views = [spec.view for spec in specs]
    dataset = ViewsDataset(
        samples, transforms, views, draft_size(data), seeds, measure, digests, wanted
    )
    pin = body.device.type == "cuda"
    collate = functools.partial(collate_views, slots=len(specs), finish=finish)
    loader = make_loader(dataset, batch_size, num_workers, pin_memory=pin, collate=collate)
    description, total = pass_task(settings.description, n, batch_size, settings.counted_after)
    if total is not None:
        total = sum(len(dataset.wants(i)) for i in range(n))
    with settings.reporter.task(description, total) as advance:
        # prefetched a view's batch at a time, not a chunk's batches of every view: TTA's four
        # views of two chunks ahead held 180 MB more than its own passes (decode60)
        views_made = (batch for chunk in loader for batch in chunk)
        batches = prefetch(views_made) if num_workers == 0 else views_made
        for batch, features in in_body(body, batches):
            failures = list(zip(batch.failed, batch.errors, strict=True))
            indices = batch.indices.numpy()
            yield PassedBatch(indices, features, failures, batch.measured, batch.pixels, batch.slot)
            if total is not None:
                advance(len(indices) + len(failures))


def pass_task(
    description: str, images: int, batch_size: int, counted_after: bool = False
) -> tuple[str, int | None]:
    """The task a pass of ``images`` shows: its images, counted a batch at a time; a pass of one
    batch, whose count would stand at 0 until it jumps to all, as a step named with its images
    (``train features: 5 images, one batch``): a user who added 5 photos watched "0/5". Where
    the caller says the images once the pass ends (``counted_after``), named ``description``
    alone: said twice, they read as two passes in a log."""
    if images > batch_size:
        return description, images
    if counted_after:
        return description, None
    return f"{description}: {plural(images, 'image')}, one batch", None


def compute_features(
    body: FrozenBody,
    samples: Sequence[Sample],
    spec: ViewSpec,
    settings: PassSettings = PassSettings(),
    *,
    seeds: Sequence[int] | None = None,
) -> FeatureSet:
    """The frozen body's features of ``samples`` in memory, without the store."""
    features = np.zeros((len(samples), body.n_features), dtype=np.float32)
    ok = np.zeros(len(samples), dtype=bool)
    errors: list[str] = []
    for batch in frozen_pass(body, samples, spec, settings, seeds=seeds):
        if len(batch.indices):
            features[batch.indices], ok[batch.indices] = batch.features, True
        errors += [message for _, message in batch.failures]
    labels = np.array([s.label for s in samples], dtype=np.int64)
    return FeatureSet(
        torch.from_numpy(features), torch.from_numpy(labels), torch.from_numpy(ok), errors
    )

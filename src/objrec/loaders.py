"""The dataset and loader that skip unreadable files (``ImageDataset``, ``make_loader``: one bad
file never stops an epoch), and batches decoded in a thread beside the model (``prefetch``)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from queue import Empty, Full, Queue
from typing import NamedTuple, TypeVar

import torch
from torch.utils.data import DataLoader, Dataset

from objrec.data import Sample
from objrec.errors import WORK_IN_HAND
from objrec.images import UnreadableImageError, open_image
from objrec.warned import carry_warned

T = TypeVar("T")


class Batch(NamedTuple):
    """Images, labels, their dataset indices, and the messages of files that could not be read;
    ``measured``: what a dataset that measures each image (``views.ViewsDataset``'s
    ``measure``) found, one per index; ``pixels``: the pixels each image was decoded into, where
    the dataset says them (``views.ViewsDataset``); ``slot``: which of the dataset's views the
    images are in, and ``failed``: the indices of the files that could not be read, one per error
    (both from :func:`collate_views`)."""

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor
    errors: list[str]
    measured: tuple = ()
    pixels: tuple = ()
    slot: int = 0
    failed: tuple = ()


class ImageDataset(Dataset):
    """Samples opened with :func:`open_image` and passed through ``transform``.

    An unreadable file yields ``(None, message, index)``; :func:`collate_skipping` leaves it out of
    the batch and reports it in ``Batch.errors``, so one bad file never stops an epoch.
    """

    def __init__(
        self, samples: Sequence[Sample], transform: Callable, draft_size: int | None = None
    ):
        self.samples = list(samples)
        self.transform = transform
        self.draft_size = draft_size

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        try:
            image = open_image(sample.path, draft_size=self.draft_size)
        except UnreadableImageError as exc:
            return None, str(exc), index
        return self.transform(image), sample.label, index


def collate_skipping(items, finish: Callable | None = None) -> Batch:
    """Stack (image, label, index[, pixels[, measured]]) items into a :class:`Batch`, setting
    unreadable files aside; ``finish`` (``transforms.build_batch_finish``) then makes the stacked
    images what the model reads."""
    errors = [item[1] for item in items if item[0] is None]
    good = [item for item in items if item[0] is not None]
    if not good:
        empty = torch.empty(0, dtype=torch.long)
        return Batch(torch.empty(0), empty, empty, errors)
    images, labels, indices, *more = zip(*good, strict=True)
    pixels, measured = (*more, (), ())[:2]
    stacked = torch.stack(images)
    return Batch(
        stacked if finish is None else finish(stacked),
        torch.tensor(labels),
        torch.tensor(indices),
        errors,
        measured,
        pixels,
    )


def collate_views(items, slots: int, finish: Callable | None = None) -> list[Batch]:
    """Items of ``views.ViewsDataset`` (each image's views, or why it could not be read and the
    slots it was wanted in) as one :class:`Batch` a slot of its ``slots`` views that an item is
    wanted in: the images made in that view, in order, and the files wanted in it that could not
    be read (``Batch.failed``, ``Batch.errors``); ``finish`` as for :func:`collate_skipping`."""
    batches = []
    for slot in range(slots):
        failed = [(item[2], item[1]) for item in items if item[0] is None and slot in item[3]]
        made = [
            (view, *rest)
            for views, *rest in (item for item in items if item[0] is not None)
            for at, view in views
            if at == slot
        ]
        if not made and not failed:
            continue
        batch = collate_skipping(made, finish)  # made alone: its errors are the failed ones
        errors, indices = [message for _, message in failed], tuple(i for i, _ in failed)
        batches.append(batch._replace(slot=slot, errors=errors, failed=indices))
    return batches


def make_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int = 0,
    shuffle: bool = False,
    seed: int = 0,
    pin_memory: bool = False,
    finish: Callable | None = None,
    collate: Callable | None = None,
) -> DataLoader:
    """Batches of ``dataset``; ``pin_memory`` (for a GPU) lets them reach it asynchronously;
    ``finish``: what each stacked batch goes through (``collate_skipping``); ``collate``: what
    makes the batches instead (``collate_views``, given its own ``finish``)."""
    generator = torch.Generator().manual_seed(seed)
    if collate is None:
        collate = collate_skipping if finish is None else partial(collate_skipping, finish=finish)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate,
        generator=generator,
        persistent_workers=False,
        pin_memory=pin_memory,
    )


def openmp_threads(threads: int) -> contextlib.AbstractContextManager:
    """OpenMP's thread count for the calling thread only (each thread has its own in OpenMP),
    restored on exit. PyTorch sets a new thread's count from its global one the first time the
    thread asks for it, which would undo the limit: asking first lets the limit stand."""
    from threadpoolctl import threadpool_limits

    torch.get_num_threads()
    return threadpool_limits(threads, user_api="openmp")


def prefetch(batches: Iterable[T], depth: int = 2, threads: int | None = 1) -> Iterator[T]:
    """Iterate ``batches`` in a background thread, ``depth`` batches ahead.

    With ``num_workers=0`` this keeps decoding (PIL and the transforms release the GIL) running
    while the frozen body works on the previous batch: faster on 2 cores than worker processes.
    ``threads``: the OpenMP threads PyTorch's operators may use in that thread (the transforms:
    rotation, colour jitter, normalisation), one by default so that decoding keeps to one core
    and leaves the others to the body: the augmented view's int8 frozen pass ran 8% faster so on 2
    cores, the centre view's as fast, with the same features (``benchmarks/decode_threads.py``).
    ``None`` leaves PyTorch's setting as it is. The limit is the thread's own; the caller's
    threads keep theirs.
    """
    queue: Queue = Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():  # a consumer gone for good (Ctrl-C) takes nothing more
            with contextlib.suppress(Full):
                queue.put(item, timeout=0.1)
                return

    def produce() -> None:
        try:
            with contextlib.nullcontext() if threads is None else openmp_threads(threads):
                for batch in batches:
                    if stop.is_set():
                        return
                    put(batch)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        put(done)

    thread = threading.Thread(target=carry_warned(produce), daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # after Ctrl-C, the batch being decoded is not waited for: it ends, unused, on its own
        while thread.is_alive() and not WORK_IN_HAND.stopping.is_set():
            with contextlib.suppress(Empty):
                queue.get_nowait()
            thread.join(timeout=0.05)

"""Batches of stored features for training the head: the training images readable in every view
(``ViewStack``, held in memory once when small enough, else read a batch at a time), and an epoch
over them, each image in a random view, in one process or sharded across ranks; what the head's
fit reads of them (``epoch_sources``: the head as it trains, its train and valid batches, each
rank's batch and steps); what calibration reads (``FeatureSource``: the final body's features of
the training and validation images, a fine-tuned run's computed once through its tuned top and
kept in scratch files, ``SpilledBatches``)."""

from __future__ import annotations

import copy
import errno
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from objrec.cache_folder import full_cache_disk
from objrec.config import TrainConfig
from objrec.distributed import World, epoch_seed
from objrec.errors import ObjrecError
from objrec.features import FeatureTable
from objrec.model import LowPrecisionTraining

if TYPE_CHECKING:
    from objrec.prepared import Prepared

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]

HELD_BYTES = 1 << 30
"""The most stored bytes one ``ViewStack`` holds in memory (``hold``); a larger one streams. Each
stack has its own budget (train's training and validation stacks, 59 MB together on the 100-class
protocol); torchrun's ranks on one machine, each holding its own copy, share it
(``train_features.stack_views``)."""


class ViewStack:
    """The training images readable in every view, each view a table of the store.

    ``hold`` reads every view into memory once, as stored, when that fits ``HELD_BYTES``: a head
    trained for twenty epochs then reads the store once instead of twenty times, one read call
    per row a batch (the batches are shuffled). A larger stack is read batch by batch, so memory
    stays bounded whatever the size of the data set."""

    def __init__(self, tables: Sequence[FeatureTable]):
        self.tables = list(tables)
        ok = torch.stack([t.ok for t in self.tables]).all(0)
        self.index = torch.nonzero(ok).flatten().numpy()
        self.labels = self.tables[0].labels[ok]
        self.in_memory: torch.Tensor | None = None
        """Every view's features in the stored dtype, (views, images, dim), once ``hold`` ran."""
        self.dtype = torch.float32
        """The dtype of the rows ``gather`` gives."""

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_views(self) -> int:
        return len(self.tables)

    @property
    def nbytes(self) -> int:
        """What the stack's features take in the stored dtype."""
        return sum(len(self) * t.dim * t.space.dtype.itemsize for t in self.tables)

    def hold(self, budget: int | None = None, share: int = 1) -> ViewStack:
        """Read every view into memory when it takes at most ``budget`` bytes (default
        ``HELD_BYTES``) divided by ``share`` (the processes holding a copy each; see above)."""
        limit = (HELD_BYTES if budget is None else budget) // share
        if self.in_memory is None and len(self) and self.nbytes <= limit:
            stored = torch.from_numpy(np.empty(0, self.tables[0].space.dtype)).dtype
            rows = torch.empty((self.n_views, len(self), self.tables[0].dim), dtype=stored)
            for view, table in enumerate(self.tables):  # filled in place: memory of one copy
                for start in range(0, len(self), 4096):
                    part = self.index[start : start + 4096]
                    rows[view, start : start + len(part)] = table.read(part, as_stored=True)
            self.in_memory = rows
        return self

    def rounded(self, dtype: torch.dtype) -> ViewStack:
        """This stack, held, with its rows rounded to ``dtype`` once (``gather`` gives them so):
        what a head trained under bfloat16 autocast rounds each batch to, after converting it to
        float32, every epoch; the same numbers (float16 to float32 is exact). A stack that is not
        held is returned as it is."""
        if self.in_memory is None:
            return self
        stack = copy.copy(self)
        stack.in_memory, stack.dtype = self.in_memory.to(dtype), dtype
        return stack

    def gather(self, views: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Features of images ``idx`` (positions among the readable ones), each in ``views[i]``."""
        if self.in_memory is not None:
            return TensorViews(self.in_memory).gather(views, idx).to(self.dtype)
        out = torch.empty(len(idx), self.tables[0].dim)
        for v, table in enumerate(self.tables):
            pick = torch.nonzero(views == v).flatten()
            if len(pick):
                out[pick] = table.read(self.index[idx[pick].numpy()])
        return out

    def batches(self, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The first view in order, ``size`` images at a time (validation). Held rows are sliced,
        not gathered: a head's validation pass reads its bfloat16 rows where they are held (to
        be read only), 12 MB not copied an epoch for the 100-class protocol."""
        for start in range(0, len(self), size):
            stop = min(start + size, len(self))
            if self.in_memory is not None:
                yield self.in_memory[0, start:stop].to(self.dtype), self.labels[start:stop]
                continue
            idx = torch.arange(start, stop)
            yield self.gather(torch.zeros(len(idx), dtype=torch.long), idx), self.labels[idx]


class SpilledBatches:
    """Batches computed once and read many times, kept in a scratch file in ``folder``, not in
    memory: each written as it comes, then read back at each pass, one batch in memory at a time,
    the same rows bit for bit in the same batches. ``train``'s calibration of a fine-tuned run
    reads the tuned top's outputs so (up to four passes): holding them would take 1.5 GB at
    100,000 images of 3,840 features, where every other feature streams from the store. The file
    has no name (removed as it is made: a killed run leaves none) and is closed at the block's
    end."""

    def __init__(self, batches: Batches, folder: Path | None = None):
        self.file = tempfile.TemporaryFile(dir=folder, buffering=0)  # noqa: SIM115 (see below)
        self.folder = folder
        self.parts: list[tuple[int, int, torch.Tensor]] = []
        """Each batch's place in the file, its rows and its labels (held: 8 bytes an image)."""
        self.dim = 0
        try:
            for x, y in batches:
                self.write(x, y)
        except BaseException:  # no block to close it yet
            self.file.close()
            raise

    def write(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        """Append the batch ``x`` (float32) to the file; a full disk said as the cache folder's."""
        rows = x.detach().float().contiguous().numpy()
        self.parts.append((self.file.tell(), len(rows), labels))
        self.dim = rows.shape[1]
        left = rows.data.cast("B")
        try:
            while len(left):  # unbuffered: a write may take part of it (a disk filling up)
                left = left[self.file.write(left) :]
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT) and self.folder is not None:
                raise spill_refused(exc, self.folder) from exc
            raise

    def __call__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for offset, n, labels in self.parts:  # sought each time: passes may interleave
            rows = torch.empty(n, self.dim)
            self.file.seek(offset)
            if self.file.readinto(rows.numpy().data.cast("B")) != rows.nbytes:
                raise OSError(errno.EIO, "a scratch file of the calibration was cut short")
            yield rows, labels

    def __enter__(self) -> SpilledBatches:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def spill_refused(exc: OSError, folder: Path) -> ObjrecError:
    """A full disk (or quota, ``exc``) met writing :class:`SpilledBatches` in the cache folder
    ``folder``, said as the cache folder's (``cache_folder.full_cache_disk``)."""
    reason = (exc.strerror or "no space left").lower()
    refused = "the tuned network's outputs that calibrating reads could not be written in it"
    return full_cache_disk(folder, f"{refused} ({reason})")


CALIBRATION_BATCH = 1024
"""Images per batch read from the store while calibrating."""


@dataclass
class FeatureSource:
    """The final body's features of the training (centre view) and validation images, a batch at
    a time: the stored features, or for a fine-tuned run the stored activations at the cut through
    the tuned ``top`` (``top(stem(x))`` is the tuned body's output)."""

    train: ViewStack
    valid: ViewStack
    top: nn.Module | None = None
    scratch: Path | None = None
    """Where the tuned ``top``'s outputs are kept while calibrating: the cache folder (None: the
    system's temporary folder)."""

    @contextmanager
    def read(
        self, training: bool = True
    ) -> Iterator[tuple[Callable[[], Batches], Callable[[], Batches]]]:
        """The training and validation features for ``fit_confidence``, which reads each set
        several times (the training images four times for the default score): the store's rows,
        read at each pass, or for a fine-tuned run the top's outputs, computed once (each pass
        would run the tuned blocks over every image again) and kept in scratch files, not in
        memory (:class:`SpilledBatches`: 1.5 GB at 100,000 images of 3,840 features), until
        the block ends. Not ``training``: the score fitted reads no training features
        (``confidence.reads_training_features``), and the tuned top does not run over them."""
        if self.top is None:
            yield (
                lambda: self.train.batches(CALIBRATION_BATCH),
                lambda: self.valid.batches(CALIBRATION_BATCH),
            )
            return
        top, scratch = self.top, self.scratch
        with ExitStack() as scratch_files:

            def spilled(stack: ViewStack) -> SpilledBatches:
                return scratch_files.enter_context(SpilledBatches(self.tuned(stack, top), scratch))

            yield (spilled(self.train) if training else unread), spilled(self.valid)

    @staticmethod
    def tuned(stack: ViewStack, top: nn.Module) -> Batches:
        """``stack``'s activations at the cut through ``top``, a quarter of a calibration's batch
        at a time: the batches calibration then reads."""
        return ((top(x), y) for x, y in stack.batches(CALIBRATION_BATCH // 4))


def unread() -> Batches:
    """The training features where the score fitted reads none (:meth:`FeatureSource.read`)."""
    raise AssertionError("the unknown score fitted reads no training features")


class TensorViews:
    """Features already in memory, (V, N, F), behind ``ViewStack``'s ``gather``."""

    def __init__(self, views: torch.Tensor):
        self.views = views
        self.n_views = views.shape[0]

    def gather(self, views: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Rows ``idx``, each in ``views[i]``: one ``index_select`` of whole rows of the (V x N)
        rows, a third of the time of indexing with two index tensors (0.03 against 0.14 ms for a
        batch of 128 of 3,840 float16 features), the same rows."""
        if not self.views.is_contiguous():
            return self.views[views, idx]
        return self.views.flatten(0, 1).index_select(0, views * self.views.shape[1] + idx)


def epoch_draws(n: int, n_views: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An epoch's order of ``n`` images and the view each is read in (of ``n_views``), drawn
    from one generator seeded ``seed`` (``distributed.epoch_seed``), the order first: a
    DistributedSampler shuffles with that very ``randperm``. One process and each rank draw
    both alike, so that a group of one rank trains as one process does."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    return order, torch.randint(n_views, (n,), generator=g)


def feature_batches(
    views, labels: torch.Tensor, batch_size: int, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch over stored features: shuffled, each image in one randomly chosen view
    (:func:`epoch_draws` of ``seed``).

    ``views`` is a :class:`ViewStack` (read from the store batch by batch) or a (V, N, F) tensor.
    """
    views = TensorViews(views) if isinstance(views, torch.Tensor) else views
    order, choice = epoch_draws(len(labels), views.n_views, seed)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield views.gather(choice[idx], idx), labels[idx]


def sharded_feature_batches(
    views, labels: torch.Tensor, batch_size: int, seed: int, epoch: int, world: World
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's part of an epoch: the order and views one process draws
    (:func:`epoch_draws`), shared out as a shuffling DistributedSampler of the same seed shares
    its order (each rank every ``world.size``-th image, the shares evened by repeating the first
    ones). The views come from the same draw as the order, never a generator of their own, so
    that ``torchrun --nproc-per-node 1`` reads each image in the view one process of the same
    seed does."""
    views = TensorViews(views) if isinstance(views, torch.Tensor) else views
    order, choice = epoch_draws(len(labels), views.n_views, epoch_seed(seed, epoch))
    indices = range(len(labels))  # any sized sequence does as the sampler's "dataset"
    sampler: DistributedSampler[int] = DistributedSampler(
        indices,  # type: ignore[arg-type]
        world.size,
        world.rank,
        shuffle=False,  # the positions in ``order`` this rank takes
    )
    order = order[torch.tensor(list(sampler), dtype=torch.long)]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield views.gather(choice[idx], idx), labels[idx]


def sampled_images(n: int, world: World) -> int:
    """How many of this rank's share of an epoch of ``n`` images are images of its own: the
    DistributedSampler of :func:`sharded_feature_batches` gives each rank ``n / world.size`` of
    them rounded up, evening the shares with the first images of its order again, one at most on
    a rank, at its share's end. They train, as DDP trains on them, but count in no figure, or
    21 images on 2 ranks would give an epoch's training accuracy as 10 of 22."""
    return len(range(world.rank, n, world.size))


def epoch_sources(
    prep: Prepared, head: nn.Module, config: TrainConfig, world: World
) -> tuple[nn.Module, Callable[[int], Batches], Callable[[], Batches]]:
    """What trains (the run's ``head``, wrapped in DDP under torchrun) and its train and valid
    batches (``prep``'s features)."""
    batch = rank_batch(config, world)
    valid = prep.valid
    if not world.distributed:
        train, valid = as_trained(prep.train, config, world), as_trained(valid, config, world)
        return (
            trains_in(head, config.head_precision),
            lambda epoch: feature_batches(
                train, prep.train_y, batch, epoch_seed(config.seed, epoch)
            ),
            lambda: valid.batches(1024),
        )

    def sharded_valid_batches() -> Batches:
        share = torch.arange(world.rank, len(valid), world.size)
        for idx in share.split(1024):
            yield valid.gather(torch.zeros(len(idx), dtype=torch.long), idx), valid.labels[idx]

    return (
        DistributedDataParallel(
            head,
            device_ids=[world.device.index] if world.device.type == "cuda" else None,
        ),
        lambda epoch: sharded_feature_batches(
            prep.train, prep.train_y, batch, config.seed, epoch, world
        ),
        sharded_valid_batches,
    )


def as_trained(stack: ViewStack, config: TrainConfig, world: World) -> ViewStack:
    """``stack`` as the head's epochs read it: for a head trained in bf16 on the CPU, its held
    rows rounded to bfloat16 once (``ViewStack.rounded``), the numbers bfloat16 autocast made of
    every batch, without converting each batch to float32 and then to bfloat16 (the same head
    bit for bit; for the 100-class protocol 59 MB more held during the fit). Not for a head
    without a hidden layer (``hidden`` 0): its dropout comes before the first matrix product,
    and on bfloat16 rows it would scale them in bfloat16 (1 / 0.6 is 1.6641 there), another
    head."""
    if config.head_precision == "bf16" and world.device.type == "cpu" and config.hidden > 0:
        return stack.rounded(torch.bfloat16)
    return stack


def trains_in(head: nn.Module, head_precision: str) -> nn.Module:
    """``head`` as ``fit`` trains it: under bfloat16 autocast for ``bf16``
    (``model.LowPrecisionTraining``: float32 weights and Adam, the validation pass in bf16 too), as
    it is for fp32."""
    return LowPrecisionTraining(head) if head_precision == "bf16" else head


def rank_batch(config: TrainConfig, world: World) -> int:
    """Each rank's share of ``batch_size`` (at least 1): the global batch is ``batch_size`` when
    the ranks divide it, a little less when they do not (128 on 3 ranks: 3 x 42 = 126)."""
    return max(1, config.batch_size // world.size)


def epoch_steps(n_images: int, config: TrainConfig, world: World) -> int:
    """The batches of one epoch of the head on this rank: of ``rank_batch`` images, from the
    rank's share of the ``n_images`` (a DistributedSampler's: ``n_images / world.size``, rounded
    up); all of them in one process."""
    share = -(-n_images // world.size)
    return -(-share // rank_batch(config, world))

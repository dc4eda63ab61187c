"""One view of a set of images (``ViewSpec``): the centre crop or an augmented view, each seeded by
the image's content and the view (``view_seed``), and the dataset that makes every view an image
is wanted in from one decode of bytes checked against their digest (``ViewsDataset``)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from objrec.config import DataConfig
from objrec.file_index import read_as_indexed
from objrec.images import COUNTED, UnreadableImageError, open_image
from objrec.loaders import ImageDataset
from objrec.transforms import build_transforms, build_tta_transform


@functools.cache
def augment_fingerprint(data: DataConfig, augment: str) -> str:
    """A short hash of what augmentation ``augment`` does (its transforms and their parameters,
    as torchvision shows them, and torchvision's version), so that augmented rows made by another
    definition of it (changed parameters, another torchvision) are never served as its own."""
    import torchvision

    version = torchvision.__version__.split("+")[0]  # a CUDA or CPU build: the same transforms
    definition = f"{build_transforms(data, True, augment)!r} torchvision {version}"
    return hashlib.sha256(definition.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ViewSpec:
    """One view of a set of images: the centre crop (``view=0``) or augmented view ``view``."""

    data: DataConfig
    augment: str = "none"
    view: int = 0
    tta: str = "centre"
    """For ``view=0``: which deterministic test-time view (see ``transforms.TTA_VIEWS``)."""

    @property
    def key(self) -> str:
        """The view's name in the store: ``centre``, ``tta:<view>`` or
        ``aug:<augment>@<definition>:<k>`` (:func:`augment_fingerprint`). A deterministic view's
        definition is not in its name: a change to its pixels changes ``images.PIXEL_RULES``,
        in the space's key (``tests/test_transforms.py`` pins them on two images). Naming it by
        a digest of its transforms, as an augmented view is, would compute every stored centre
        row again once, and miss what their text hides (``cap_aspect``'s code, the draft size)."""
        if self.view > 0:
            return f"aug:{self.augment}@{augment_fingerprint(self.data, self.augment)}:{self.view}"
        return "centre" if self.tta == "centre" else f"tta:{self.tta}"

    def transform(self, finish: bool = True):
        """PIL image -> the view's tensor (``finish=False``: before the float conversion and
        normalisation, which ``transforms.build_batch_finish`` does for a batch)."""
        if self.view == 0 and self.tta != "centre":
            return build_tta_transform(self.data, self.tta, finish)
        return build_transforms(self.data, self.view > 0, self.augment, finish)


def view_seed(digest: str, view: int) -> int:
    """The random seed of augmented view ``view`` of the image whose bytes hash to ``digest``."""
    return int.from_bytes(hashlib.sha256(f"{digest}|{view}".encode()).digest()[:8], "little")


class PassingFailure(str):
    """Why an image was not decoded this time that says nothing about its bytes (the file could
    not be opened or read, or it changed since it was hashed): reported, never remembered in the
    store, so the image is tried again next time."""


class ViewsDataset(ImageDataset):
    """Several views of each image from one decode (``views``: each a view number, 0 for a
    deterministic view, with its ``transforms``): the frozen pass of a cold ``train`` made each
    training image's centre crop and augmented view from a decode each, reading, hashing and
    decoding the file again for every view. An item is ``((slot, view), ...), label, index,
    pixels[, measured]``, one view for each slot of ``views`` the image is ``wanted`` in (default:
    all), or ``(None, why not, index, wanted)``; ``loaders.collate_views`` makes one batch a slot
    of them. Only the decoded image of the item being made is held, never a batch of them.

    An augmented view is seeded per image (``seeds[slot][index]``: ``view_seed`` of its content
    digest; default: its position), right before its transform and never before the decode, which
    draws no random number: the same view of the same content is the same pixels whichever views
    are made beside it.
    ``measure(path, data)``: called once on each image decoded, right after it (in the same loader
    thread or worker), with the bytes it was decoded from (with ``digests``; else None: it reads
    the file); its results reach ``Batch.measured``.
    ``digests``: each image's content digest as the store keys it: each file is then read once,
    its bytes hashed and decoded, so features (and what ``measure`` takes) are never filed under
    the digest of other bytes; a file that cannot be read, or whose bytes no longer hash to its
    digest, is a :class:`PassingFailure`.
    """

    def __init__(
        self,
        samples,
        transforms: Sequence[Callable],
        views: Sequence[int],
        draft: int | None,
        seeds: Sequence[Sequence[int]] | None = None,
        measure=None,
        digests=None,
        wanted: Sequence[Sequence[int]] | None = None,
    ):
        super().__init__(samples, transforms[0], draft)
        self.transforms, self.views = list(transforms), list(views)
        positions = list(range(len(samples)))
        self.seeds = [list(s) for s in seeds] if seeds is not None else [positions] * len(views)
        self.measure = measure
        self.digests = None if digests is None else list(digests)
        self.wanted = None if wanted is None else [tuple(w) for w in wanted]

    def wants(self, index: int) -> tuple[int, ...]:
        """The slots of ``views`` the image at ``index`` is made in."""
        return tuple(range(len(self.views))) if self.wanted is None else self.wanted[index]

    def _source(self, index: int) -> Path | bytes | PassingFailure:
        """What the image at ``index`` is decoded from: its file, or (with ``digests``) its bytes
        that hash to its digest, else why not (a :class:`PassingFailure`)."""
        path = Path(self.samples[index].path)
        return path if self.digests is None else read_as_hashed(path, self.digests[index])

    def __getitem__(self, index: int):
        sample, source = self.samples[index], self._source(index)
        if isinstance(source, PassingFailure):
            return None, source, index, self.wants(index)
        try:
            image = open_image(source, self.draft_size, name=str(sample.path), from_file=True)
        except UnreadableImageError as exc:
            return None, str(exc), index, self.wants(index)
        made = tuple((slot, self._view(slot, index, image)) for slot in self.wants(index))
        # the pixels the limit counted the image at (``images.COUNTED``): the store keeps them
        # with its rows, so that an image over a lower pixel limit is refused unopened
        item = (made, sample.label, index, image.info[COUNTED])
        if self.measure is None:
            return item
        return (*item, self.measure(sample.path, source if isinstance(source, bytes) else None))

    def _view(self, slot: int, index: int, image):
        """The image's view in ``slot``, an augmented one drawn from its own seed."""
        if self.views[slot] == 0:
            return self.transforms[slot](image)
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream untouched
            torch.manual_seed(self.seeds[slot][index])
            return self.transforms[slot](image)


class SeededViewDataset(ViewsDataset):
    """One view of each image (:class:`ViewsDataset` of one slot), an item
    ``(view, label, index, pixels[, measured])`` or ``(None, why not, index)``, as
    ``loaders.collate_skipping`` takes it: for a caller that stacks the views of one view alone
    (the benchmarks, the tests of a view's pixels)."""

    def __init__(
        self,
        samples,
        transform,
        view: int,
        draft: int | None,
        seeds=None,
        measure=None,
        digests=None,
    ):
        seeded = None if seeds is None else [list(seeds)]
        super().__init__(samples, [transform], [view], draft, seeded, measure, digests)
        self.view = view

    def __getitem__(self, index: int):
        item = super().__getitem__(index)
        if item[0] is None:
            return item[:3]
        ((_, view),), *rest = item
        return (view, *rest)


def cannot_read(exc: OSError) -> str:
    """Why a file whose reading raised ``exc`` was skipped (at hashing or at decoding alike)."""
    return f"cannot read the file ({exc.strerror or exc})"


def read_as_hashed(path: Path, digest: str) -> bytes | PassingFailure:
    """The bytes of ``path`` if they hash to ``digest``, else why not (a :class:`PassingFailure`:
    the file could not be read, or changed since it was hashed)."""
    try:
        data = read_as_indexed(path, digest)
    except OSError as exc:
        return PassingFailure(f"{path}: {cannot_read(exc)}")
    if data is None:
        return PassingFailure(f"{path}: changed while objrec read it (its features are not kept)")
    return data

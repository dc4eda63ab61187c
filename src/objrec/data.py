"""Class folders to labelled samples, and the datasets and loaders built on them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from objrec.errors import ObjrecError
from objrec.images import UnreadableImageError, list_images, open_image

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass(frozen=True)
class ClassFolder:
    """A folder with one visible sub-folder per class, read in sorted order."""

    root: Path
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.classes, 0)
        for sample in self.samples:
            counts[self.classes[sample.label]] += 1
        return counts


def class_dirs(root: Path) -> list[Path]:
    """The visible sub-folders of ``root``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise ObjrecError(f"{root} is not a folder")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_class_folder(root: Path, classes: Sequence[str] | None = None) -> ClassFolder:
    """Read the images of a class folder.

    Args:
        root: the folder, one sub-folder per class.
        classes: the class names in label order (e.g. a checkpoint's); default: the sub-folders.

    Raises:
        ObjrecError: no class folders, an empty class folder (it would silently shift labels), or a
            class folder that is not one of ``classes``.
    """
    root = Path(root)
    found = {p.name: p for p in class_dirs(root)}
    if not found:
        raise ObjrecError(f"{root} has no class sub-folders (expected one folder per class)")
    names = tuple(classes) if classes is not None else tuple(found)
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise ObjrecError(
            f"{root} has class folders the model does not know: {', '.join(unknown[:10])}"
        )
    samples: list[Sample] = []
    for label, name in enumerate(names):
        if name not in found:
            continue
        files = list_images(found[name])
        if not files:
            raise ObjrecError(f"class folder {found[name]} holds no images")
        samples.extend(Sample(path, label) for path in files)
    return ClassFolder(root, names, tuple(samples))


def is_split_folder(root: Path) -> bool:
    return all((Path(root) / split).is_dir() for split in SPLITS)


def require_split_folder(root: Path) -> None:
    root = Path(root)
    if not root.is_dir():
        raise ObjrecError(f"{root} is not a folder")
    if not is_split_folder(root):
        raise ObjrecError(
            f"{root} is not a split folder: run `objrec split` to make train/valid/test"
        )


class ImageDataset(Dataset):
    """Samples opened with :func:`open_image` and passed through ``transform``.

    An unreadable file yields ``None``; :func:`collate_skipping` drops it from the batch, so one bad
    file never stops an epoch. The paths skipped are logged once each.
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
            log.warning("skipping %s", exc)
            return None
        return self.transform(image), sample.label, index


def collate_skipping(batch):
    """Stack (image, label, index) triples, leaving out the ``None`` of unreadable files."""
    batch = [item for item in batch if item is not None]
    if not batch:
        return torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    images, labels, indices = zip(*batch, strict=True)
    return torch.stack(images), torch.tensor(labels), torch.tensor(indices)


def make_loader(
    dataset: Dataset, batch_size: int, num_workers: int = 0, shuffle: bool = False, seed: int = 0
) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_skipping,
        generator=generator,
        persistent_workers=False,
    )

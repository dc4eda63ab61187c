"""A run's record of the classes of its data folder's photos (``image_classes.csv``).

``train`` writes each image's split, class and content digest (the feature store's) as its data
folder held them: train and valid as the run listed them, and the test split beside them. So
``evaluate --against`` tells where an earlier run's class went since (renamed, merged, split
into several) by its photos' contents, whatever its data folder holds now, which an edit made
in place may have changed. Plain CSV, each row checked as it is read (a split, a class name, a
digest); a record that fails is said and not used.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from objrec.data import SPLITS, class_dirs, class_of_folder
from objrec.leakage import DIGEST, rows_after
from objrec.listing import list_images
from objrec.progress import Reporter, passes_from_first_step
from objrec.run_files import CLASSES_RECORD

if TYPE_CHECKING:
    from objrec.store import FeatureStore

log = logging.getLogger(__name__)

HEADER = ["split", "class", "digest"]
Row = tuple[str, str, str]
"""An image of the record: its split, its class (NFC) and its content digest."""


def folder_classes(
    data_dir: Path,
    store: FeatureStore,
    splits: Sequence[str] = SPLITS,
    classes: Collection[str] | None = None,
    on_file: Callable[[int, int], None] | None = None,
) -> list[Row]:
    """(split, class, digest) of each image of the split folder ``data_dir``'s ``splits`` now,
    by its class folders (``classes``: only those, NFC), through the store's file index (a file
    it has seen unchanged is not read); a file that cannot be read is left out."""
    files: list[tuple[str, str, Path]] = []
    for split in splits:
        for folder in class_dirs(data_dir / split) if (data_dir / split).is_dir() else []:
            name = class_of_folder(folder.name)
            if classes is None or name in classes:
                files += [(split, name, path) for path in list_images(folder)]
    if not files:
        return []
    digests = store.readable_digests([path for *_, path in files], on_file=on_file)[0]
    return [(s, c, d) for (s, c, _), d in zip(files, digests, strict=True) if d]


def with_test_split(
    listed: Iterable[Row], data_dir: Path, store: FeatureStore, reporter: Reporter
) -> list[Row]:
    """``listed`` (a run's train and valid images, as it listed and hashed them) and the test
    split of ``data_dir`` now, for the run's record: through the store's file index, which
    ``evaluate`` then reads too; shown as a task only when a file is to be read (a test split
    not hashed before, one read of each photo), never on a retrain."""
    with passes_from_first_step(reporter, ("hashing the test images",)) as step:
        shown: list[bool] = []

        def on_file(done: int, total: int) -> None:
            if done < total or shown:
                shown.append(True)
                step(done, total)

        return [*listed, *folder_classes(Path(data_dir), store, ("test",), on_file=on_file)]


def write_classes(run: Path, rows: Iterable[Row]) -> None:
    """Write ``CLASSES_RECORD`` into the run folder ``run``, atomically, each row once."""
    from objrec.checkpoint import atomic_write  # PyTorch: evaluate reads the record without it

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(sorted(set(rows)))
    atomic_write(Path(run) / CLASSES_RECORD, text.getvalue().encode())


def read_classes(run: Path) -> dict[str, str] | None:
    """Content digest -> class (NFC) of the run folder ``run``'s images as it recorded them; None
    when it has no record (a run of an older objrec) or one that cannot be read, which is said. A
    photo recorded under two classes (copies in two class folders) is left out: it says nothing
    of where a class went."""
    record = Path(run) / CLASSES_RECORD
    try:
        rows = classes_record(record)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, csv.Error) as exc:
        log.warning(
            "%s cannot be read (%s): the classes of the run's images are not known", record, exc
        )
        return None
    found: dict[str, str | None] = {}
    for _, name, digest in rows:
        found[digest] = name if found.get(digest, name) == name else None
    return {digest: name for digest, name in found.items() if name is not None}


def classes_record(record: Path) -> list[Row]:
    """The rows of the ``CLASSES_RECORD`` file ``record``; OSError, or ValueError (``csv.Error``)
    saying what is wrong with one that is not whole."""
    with Path(record).open(newline="", encoding="utf-8") as f:
        return checked_rows(csv.reader(f))


def checked_rows(reader: Iterable[list[str]]) -> list[Row]:
    """The rows of a record after its header; a ValueError naming the first that is not a split,
    a class name and a digest."""

    def whole(row: list[str]) -> bool:
        return (
            len(row) == 3 and row[0] in SPLITS and bool(row[1]) and bool(DIGEST.fullmatch(row[2]))
        )

    rows = rows_after(reader, HEADER, whole, "a split, a class and a digest")
    return [(split, class_of_folder(name), digest) for split, name, digest in rows]

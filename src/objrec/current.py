"""Whether an evaluation a run holds is current, one rule for ``report`` and the model card
(``share``): of the model now in the run (:func:`is_current`: the digest its ``metrics.json``
records), at the unknown threshold the run answers with now (:func:`at_threshold_now`), and of the
evaluated folder's images as they are now (:func:`same_images`: the (path, class) pairs of its
``predictions.csv`` against a listing of the folder, then the images' contents, through the feature
store's stat-keyed file index, against the image set it recorded: an unchanged folder reads no
file, a photo replaced under its own name is hashed again). ``report`` shows one only when
all three hold, else evaluates again; the card quotes one of the model shared and its images now,
and its figures at a threshold only when that threshold is the one in use.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from objrec.data import class_folders, class_of_folder
from objrec.errors import ObjrecError
from objrec.evaluation_metrics import EvaluationRecord, read_record
from objrec.listing import list_images
from objrec.model_file import model_digest
from objrec.outputs import json_dict
from objrec.run_files import checkpoint_file
from objrec.tables import CSV_ENCODING, exact_cell

PREDICTIONS = "predictions.csv"


@dataclass(frozen=True)
class Currency:
    """Which of the three an evaluation holds to: the model, the threshold, the images."""

    model: bool
    threshold: bool
    images: bool

    @property
    def holds(self) -> bool:
        """All three: the evaluation is what evaluating again would measure."""
        return self.model and self.threshold and self.images


def currency(folder: Path, run: Path, model: str | None = None) -> Currency:
    """How current the evaluation in ``folder`` is for ``run``'s model of digest ``model`` (None:
    the model file as it is now)."""
    return Currency(
        is_current(folder / PREDICTIONS, run, model),
        at_threshold_now(folder, run, model),
        same_images(folder, run_cache_dir(run)),
    )


def run_cache_dir(run: Path) -> str | None:
    """The cache folder ``train`` was given (its ``config.json``'s ``cache_dir``), while it exists
    here, as ``RunMeta.cache_dir`` says it without reading the model: the store whose file index
    knows the run's evaluated images. None: the default folder."""
    folder = json_dict((run if run.is_dir() else run.parent) / "config.json").get("cache_dir")
    return str(folder) if folder and Path(str(folder)).is_dir() else None


def is_current(predictions: Path, run: Path, model: str | None = None) -> bool:
    """An evaluation of the model now in the run, not of one that ``train --force`` has since
    replaced in the same folder (its tables would be another model's): told by the model's
    digest its ``metrics.json`` records (a copied run's files all have the copy's times); an
    evaluation that records none is current when made after the model was saved. ``model``: the
    digest of the model it is to be of (one a command read), by the digest recorded alone."""
    record = read_record(predictions.parent)  # read once: one file's answer
    if record is None:  # gone or damaged: nothing to show
        return False
    recorded = record.model_digest
    if model is not None:
        return recorded == model
    file = checkpoint_file(run)
    if not predictions.exists() or not file.exists():
        return predictions.exists()
    if recorded:
        return recorded == model_digest(file)
    return predictions.stat().st_mtime >= file.stat().st_mtime


def at_threshold_now(folder: Path, run: Path, model: str | None = None) -> bool:
    """Whether ``folder``'s evaluation measured at the unknown threshold the run answers with now:
    the one ``evaluate --keep-threshold`` kept (when, ``unknown_threshold_kept_on``, and which,
    ``unknown_threshold``: two kept within one second share the time, to the second), or the
    run's own (none recorded). An evaluation made before a threshold was kept, the ``evaluate
    --keep-threshold`` that kept it among them, measured at the run's own: its page would give
    the share of images answered, and top-1, at a threshold the run no longer uses. ``model``:
    the digest of the model the threshold is to be for (None: the run's file now)."""
    from objrec.kept import read_kept

    kept = read_kept(run, model=model)
    now = (kept.kept_on, kept.threshold) if kept is not None and kept.current else None
    record = read_record(folder)
    unknown = record.metrics.unknown if record is not None else None
    then = (unknown.kept_on, unknown.threshold) if unknown and unknown.kept_on is not None else None
    return then == now


def same_images(folder: Path, cache_dir: str | Path | None = None) -> bool:
    """Whether the evaluated folder (``metrics.json``'s ``folder``) holds the images the
    evaluation in ``folder`` measured, each in the class folder it was measured as and with the
    bytes it measured (:func:`same_contents`, by the store in ``cache_dir``): every row of
    its ``predictions.csv`` still there under its class, no image of the model's classes added
    (but those it could not read), and the class folders the model was not taught holding as many
    images as it counted (a class folder that is none of those it measured or named,
    ``classes_without_images``, is one). A photo moved to its right class folder after an audit, or
    removed, makes it False, and so do photos of its classes none of which it evaluated (every
    test photo replaced or renamed). True when the folder is not recorded, is gone or holds no
    image of the model's classes (a run copied to another machine): there is nothing to compare
    it with, and the page says so."""
    record = read_record(folder)
    if record is None or not record.folder or not Path(record.folder).is_dir():
        return True
    evaluated, rows = Path(record.folder), predicted_rows(folder / PREDICTIONS)
    try:
        listed, untaught = listing(evaluated, taught_classes(record, rows or []))
    except ObjrecError:  # no class folder left: evaluating again says so
        return False
    if rows is None or untaught != record.untaught_classes:
        return False
    if not listed:  # no image of its classes there (a copied run): as a folder gone
        return True
    keys = [listed_tail(path, listed) for path, _ in rows]
    if len(set(keys)) != len(rows) or any(
        key is None or listed[key] != class_of_folder(true)
        for key, (_, true) in zip(keys, rows, strict=True)
    ):
        return False
    if not all(was_unreadable(key, record.unreadable_files) for key in set(listed) - set(keys)):
        return False
    paths = [evaluated.joinpath(*key) for key in keys if key is not None]
    return same_contents(record, paths, [true for _, true in rows], cache_dir)


def same_contents(
    record: EvaluationRecord,
    paths: Sequence[Path],
    labels: Sequence[str],
    cache_dir: str | Path | None,
) -> bool:
    """Whether the images ``paths`` (labelled ``labels``) are, byte for byte, those the evaluation
    ``record`` measured: their fingerprint (:func:`image_set_fingerprint`) is the
    ``image_set`` it recorded. A photo replaced under its own name (re-shot, cropped, a wrong
    file overwritten with the right one) keeps the listing, and the report must not show the
    old photo's answer under the new one. The digests come from the feature
    store's file index (stat-keyed: an unchanged file is not read; a replaced one is hashed
    again); a file that cannot be read now makes it False. True for an evaluation that recorded
    no image set (made before they were): the listing is all there is to compare."""
    from objrec.cache import open_cache, stores_held

    recorded = record.image_set
    if not recorded:
        return True
    with stores_held():  # lets `objrec cache --prune` go on; a store its caller holds, held
        digests, failures, _ = open_cache(cache_dir).store.readable_digests(paths)
    return not failures and image_set_fingerprint(digests, labels) == recorded


IMAGE_SET_CHARS = 8


def image_set_fingerprint(digests: Sequence[str], labels: Sequence[str]) -> str:
    """A short fingerprint of a labelled set of images, whatever their paths, names and order:
    the first ``IMAGE_SET_CHARS`` hex digits of the SHA-256 of the sorted (content digest, label)
    pairs. A relabelled, an added or a removed image changes it; the same images renamed, moved
    within their class or copied elsewhere keep it. ``digests``: the feature store's
    (``FeatureTable.digests``, ``FeatureStore.digests``), so that no file is read again for it."""
    pairs = sorted(f"{digest}\t{label}" for digest, label in zip(digests, labels, strict=True))
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()[:IMAGE_SET_CHARS]


def taught_classes(record: EvaluationRecord, rows: Sequence[tuple[str, str]]) -> set[str]:
    """The model's classes an evaluation knew of (:func:`class_of_folder`'s spelling): those of
    its images, its per-class table and those it found no image of."""
    named = [row.get("class") for row in record.per_class if isinstance(row, dict)]
    named += [*record.classes_without_images, *(true for _, true in rows)]
    return {class_of_folder(str(name)) for name in named if name is not None}


def predicted_rows(predictions: Path) -> list[tuple[str, str]] | None:
    """The (path, true class) pairs of ``predictions.csv``; None when it cannot be read."""
    try:
        with predictions.open(newline="", encoding=CSV_ENCODING) as file:
            return [(exact_cell(r["path"]), exact_cell(r["true"])) for r in csv.DictReader(file)]
    except (OSError, KeyError, ValueError, csv.Error):
        return None


def listing(root: Path, taught: set[str]) -> tuple[dict[tuple[str, ...], str], dict[str, int]]:
    """The images of ``root``'s class folders of the ``taught`` classes, by their path's parts
    below ``root``, to their class; and how many images each other class folder holds."""
    listed: dict[tuple[str, ...], str] = {}
    untaught: dict[str, int] = {}
    for name, paths in class_folders(root).items():
        files = [f.relative_to(root).parts for path in paths for f in list_images(path)]
        if name in taught:
            listed.update(dict.fromkeys(files, name))
        elif files:
            untaught[name] = len(files)
    return listed, untaught


def listed_tail(path: str, listed: dict[tuple[str, ...], str]) -> tuple[str, ...] | None:
    """The longest tail of ``path`` (as evaluate wrote it: as given, relative to where it ran)
    that is an image of the listing; None when none is."""
    parts = Path(path).parts
    return next((parts[i:] for i in range(len(parts)) if parts[i:] in listed), None)


def was_unreadable(key: tuple[str, ...], unreadable: Sequence[str]) -> bool:
    """Whether the image ``key`` is among the evaluation's ``unreadable`` (``path: reason``)."""
    name = str(Path(*key)) + ": "
    return any(e.startswith(name) or f"/{name}" in e for e in unreadable)

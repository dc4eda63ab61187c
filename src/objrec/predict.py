"""``predict``: class probabilities for new images, one bad file never stopping the rest.

The command alone: its paths expanded, its outputs checked before any work and written
(``predict_outputs``: the CSV, the plot, the Grad-CAM maps), the answering loop (from the feature
store's rows where it holds them); each answer is a :class:`~objrec.prediction.Prediction`,
importable from here too, as is :class:`~objrec.prediction.Predictions`."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from objrec.cache import stores_held
from objrec.config import require_device, require_number, require_type
from objrec.errors import ObjrecError, ctrl_c_leaves
from objrec.file_index import INDEX_FILE, hash_bytes
from objrec.images import (
    IMAGE_ERRORS,
    IMAGE_EXTENSIONS,
    UnreadableImageError,
    first_pages_only,
    open_image,
)
from objrec.leakage import recorded_among, seen_words
from objrec.listing import (
    BAD_NAME,
    broken_link_reason,
    has_utf8_name,
    is_broken_image_link,
    list_images,
    missing_path,
    path_order,
)
from objrec.outputs import (
    takes_back_folders,
)
from objrec.paths import PathGiven, PathsGiven, as_path
from objrec.predict_outputs import (
    PLOT_MAX,
    Maps,
    PlotPictures,
    check_arguments,
    check_csv,
    check_outputs,
    plot_predictions,
    ready_words,
    write_csv,
)
from objrec.prediction import (
    Prediction,
    Predictions,
    fill_prediction,
    mixed_partners,
)
from objrec.progress import Reporter, log_result_warnings, or_silent
from objrec.run_files import SEEN_RECORD, require_checkpoint_file
from objrec.warned import warned_once_per_file
from objrec.words import plural, some_of

if TYPE_CHECKING:  # PyTorch's: imported once there is an image to predict
    import torch

    from objrec.features import FeatureTable
    from objrec.inference import Recognizer

log = logging.getLogger(__name__)


def path_list(paths: PathsGiven) -> list[Path]:
    """``paths`` as a list: one ``str`` or ``Path`` is one path (a str is not a list of letters),
    and any other iterable (a list, a set, ``Path("photos").glob("*.jpg")``) its paths. An image
    in memory (a PIL image, a numpy array, a file's bytes), alone or among the paths, is refused
    in one sentence, where ``Path`` raised Python's own TypeError: ``predict`` answers files,
    whose names its results, CSV and plot give; ``Recognizer.answer`` takes decoded images."""
    if isinstance(paths, str | os.PathLike):
        return [Path(paths)]
    if in_memory(paths) or not isinstance(paths, Iterable):
        raise ObjrecError(f"`paths` is {not_a_path(paths)}")
    given = list(paths)
    for index, path in enumerate(given):
        if not isinstance(path, str | os.PathLike):
            raise ObjrecError(f"`paths` item {index} is {not_a_path(path)}")
    return [Path(p) for p in given]


def in_memory(given: object) -> bool:
    """Whether ``given`` is an image in memory, which iterates but is no list of paths: a file's
    bytes, a PyTorch tensor, or whatever numpy reads as an array (a numpy array, a PIL image)
    but a one-dimensional array of strings or objects (``df["path"].to_numpy()``: paths)."""
    if isinstance(given, bytes | bytearray) or type(given).__module__.startswith("torch"):
        return True
    interface = getattr(given, "__array_interface__", None)
    if not isinstance(interface, dict):
        return False
    paths = len(interface["shape"]) == 1 and interface["typestr"][1:2] in ("U", "O")
    return not paths


def not_a_path(given: object) -> str:
    """The rest of the sentence refusing ``given`` as a path."""
    return (
        f"of type {type(given).__name__}, not a file or folder: predict takes image files; "
        "give images decoded already to Recognizer.answer"
    )


def expand_paths(paths: PathsGiven) -> list[Prediction]:
    """One entry per image: files as given, folders as the images below them; an image named
    twice (``["x/a.jpg", "x"]``) once, where it came first.

    A missing path, a folder without images, or a folder's link named as an image whose target
    is gone (an image moved since it was linked) becomes an entry with an ``error`` (reported
    once, in the results) so that the other images are still predicted and a script learns which
    were not. A folder's other files (not images) are left out with one warning per folder naming
    them (``warn_not_images``).
    """
    entries: list[Prediction] = []
    for path in path_list(paths):
        if path.is_dir():
            entries += folder_entries(path)
        elif path.is_file():
            entries.append(file_entry(path))
        elif path.is_symlink():
            entries.append(Prediction(str(path), error=broken_link_reason(path)))
        else:
            typed, why = missing_path(path)
            entries.append(Prediction(typed, error=why))
    return first_of_each(entries)


def file_entry(path: Path) -> Prediction:
    """A file given by name: its entry, with its ``error`` when it cannot be an image (a name
    that is not UTF-8, a suffix no image has: ``notes.txt``), known before the model loads, so
    that predict refuses such a file at once, not after seconds of loading the model. A hidden
    or suffixless file is tried as an image."""
    if not has_utf8_name(path):
        return Prediction(str(path), error=BAD_NAME)
    if path.suffix and path.suffix.lower() not in IMAGE_EXTENSIONS:
        return Prediction(
            str(path), error=IMAGE_ERRORS["not_image_file"].format(suffix=path.suffix)
        )
    return Prediction(str(path))


def folder_entries(folder: Path) -> list[Prediction]:
    """The images below ``folder``, in order, those that cannot be predicted (a name that is not
    UTF-8, a link to an image no longer there) with their ``error``; one entry with an error
    when it holds none."""
    bad: list[Path] = []
    others: list[Path] = []
    found = list_images(folder, bad, others)
    gone = [p for p in others if is_broken_image_link(p)]
    warn_not_images([p for p in others if p not in gone])
    named = [Prediction(str(p)) for p in found]
    named += [Prediction(str(p), error=BAD_NAME) for p in bad]
    named += [Prediction(str(p), error=broken_link_reason(p)) for p in gone]
    if not named:
        return [Prediction(str(folder), error=IMAGE_ERRORS["no_images"])]
    return sorted(named, key=lambda p: path_order(p.path))


def first_of_each(entries: list[Prediction]) -> list[Prediction]:
    """``entries`` without repeats of an image (its folder resolved, its own name as spelled:
    ``x/a.jpg`` given alone and found again in the folder ``x``), each where it came first; two
    names linking to one file (``cat.jpg``, ``dog.jpg``) are two images the user named."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        path = os.path.abspath(entry.path)
        key = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def warn_not_images(others: Sequence[Path]) -> None:
    """One warning naming a folder's files left out as not images (the first
    :data:`~objrec.words.NAMED`, then a count), so that none is skipped without a word, and one
    naming its links to nothing (a ``split --link`` whose photos were moved), as such."""
    files = [str(p) for p in others if p.exists()]
    broken = [str(p) for p in others if not p.exists()]
    if files:
        what = "an image file" if len(files) == 1 else "image files"
        log.warning("%s left out: not %s objrec reads", some_of(files), what)
    if broken:
        what = "a link to a file that is" if len(broken) == 1 else "links to files that are"
        log.warning("%s left out: %s not there", some_of(broken), what)


PREDICT_BATCH = 16
"""Images ``predict`` answers at a time: the batch OpenVINO runs an int8 body in (its default
engine, ``openvino_runtime.OpenVinoModel``), so that a smaller one would cost as much, and its
progress moves every 16 images (at 32, 20 photos would sit at "predicting 0/20" until all were
answered)."""


def loaded(
    run: Path, runtime: str | None, threshold: float | None, unknown: bool, device: str
) -> Recognizer:
    """The recognizer of ``run`` on ``device``, PyTorch imported and the checkpoint read (its
    SHA-256, its metadata) only now, once there is an image to predict, with the classes the
    run's evaluation mixed up (``mixed``: each answer's ``confused_with``); when it uses a threshold
    kept with the run, that is logged (at info: ``objrec -v predict``), not noted on the
    terminal, where a user predicting again and again would read the same sentence on every
    call; ``--json`` and ``--csv`` give it in every row. One kept for another model, not used,
    ``kept.read_kept`` warns of."""
    from objrec.devices import resolve_device
    from objrec.inference import Recognizer

    where = resolve_device(device)
    recognizer = Recognizer.load(run, runtime, threshold, unknown, where)
    if recognizer.kept is not None and recognizer.kept.current:
        log.info("%s", recognizer.kept.words())
    recognizer.mixed = mixed_partners(run, recognizer.meta.data_dir, recognizer.model_digest)
    return recognizer


_read_ahead: ContextVar[dict[str, tuple[bytes, str]] | None] = ContextVar(
    "objrec_read_ahead", default=None
)
"""The bytes and content digest of the image :func:`refuse_until_an_image` read, by its path as
given, for :func:`read_once` to give its decode: one dict a predict call (:func:`reads_ahead`),
so that two threads predicting at once never take each other's, dropped as the call returns so
that an image answered from the feature store, never decoded, is not held."""


@contextlib.contextmanager
def reads_ahead() -> Iterator[None]:
    """:data:`_read_ahead` a new dict for the block, dropped at its end, whatever ends it.
    Usable as a decorator."""
    token = _read_ahead.set({})
    try:
        yield
    finally:
        _read_ahead.reset(token)


@takes_back_folders("explain")
@warned_once_per_file()
@stores_held()
@reads_ahead()
def predict(
    run: PathGiven,
    paths: PathsGiven,
    topk: int = 5,
    batch_size: int = PREDICT_BATCH,
    plot: PathGiven | None = None,
    reporter: Reporter | None = None,
    runtime: str | None = None,
    tta: bool = False,
    explain: PathGiven | None = None,
    plot_max: int = PLOT_MAX,
    threshold: float | None = None,
    unknown: bool = True,
    device: str = "auto",
    force: bool = False,
    csv: PathGiven | None = None,
) -> Predictions:
    """Top-k classes for each image in ``paths`` (files or folders; one, or a list), as
    :class:`Predictions` (a list; ``table()`` is a DataFrame of the rows ``csv`` would hold).

    A missing, unreadable or non-image path gets an ``error`` (one WARNING names them) and the
    others are still predicted. ``runtime``: how the model runs, its answers the same within
    1e-4 (:data:`objrec.inference.RUNTIMES`): None or "torch", as ``evaluate`` runs it (an int8
    body in OpenVINO or ONNX Runtime, as in training), "onnx" as one ONNX graph in ONNX Runtime.
    ``tta`` averages over test-time views; ``explain``: a folder for a Grad-CAM overlay per image
    (``<name>.gradcam.png``), made in PyTorch whatever the runtime; ``plot`` draws up to
    ``plot_max`` readable images (``predict_outputs.plot_choice``). An image whose unknown score is
    below the run's threshold (or ``threshold``) is marked ``unknown``, its top-k still given;
    ``unknown=False`` never marks one. ``device``: ``auto``, ``cpu`` or ``cuda[:N]`` (a GPU runs
    PyTorch). ``csv``: a file for one row per input (:func:`write_csv`). An existing ``plot`` or
    ``csv`` file, or a non-empty ``explain`` folder, is refused unless ``force``."""
    run, plot, csv, explain = Path(run), as_path(plot), as_path(csv), as_path(explain)
    topk, plot_max = require_type("topk", topk, int), require_type("plot_max", plot_max, int)
    plot = check_arguments(topk, plot_max, plot, force, paths := path_list(paths), run)
    csv, reporter = check_csv(csv, plot, force, paths, run), or_silent(reporter)  # None: silent
    check_outputs(paths, explain, force)
    threshold, device = require_number(threshold), require_device(device)  # before PyTorch loads
    require_checkpoint_file(run)  # a folder that is no run: the first error, said at once
    results = expand_paths(paths)  # a missing file said at once, before the model is read
    refuse_until_an_image(results)
    pictures = PlotPictures(plot_max) if plot is not None else None
    if todo := [r for r in results if r.error is None]:  # none: no model read (seconds)
        with reporter.task("loading the model", None):  # seconds: PyTorch, the checkpoint
            recognizer = loaded(run, runtime, threshold, unknown, device)
        maps = None if explain is None else Maps(recognizer, explain, force, todo)
        how, outputs = (topk, tta, batch_size), {"csv": csv, "plot": plot}
        digests = predicted(recognizer, todo, how, reporter, (maps, outputs, pictures))
        note_answers(run, results, recognizer, digests)
    return written(results, csv, (plot, plot_max, pictures), force)


def refuse_until_an_image(results: list[Prediction]) -> None:
    """Each input read, in order, until one is an image: an input before it that is none (a
    text file named ``notes.jpg``) gets its error now, in the words its decode would give, so
    that predict refuses inputs of which none is an image without loading the model (seconds:
    "loading the model", then OpenVINO's compile, then "cannot read image"). The first image's
    bytes are kept for its decode (:data:`_read_ahead`): each photo is still read once; the
    inputs after it are read as the model answers them."""
    from objrec.images import unidentified_reason

    for entry in results:
        if entry.error is None:
            source, digest = read_once(Path(entry.path))
            entry.error = unidentified_reason(source)
            if entry.error is None:
                kept = _read_ahead.get()
                if kept is not None and digest is not None and isinstance(source, bytes):
                    kept[str(Path(entry.path))] = (source, digest)
                return


def written(
    results: list[Prediction],
    csv: Path | None,
    plot: tuple[Path | None, int, PlotPictures | None],
    force: bool,
) -> Predictions:
    """``results`` as :class:`Predictions` (:func:`failures_logged`), written to ``csv`` and drawn
    into ``plot``'s file (its first, of its ``plot_max`` images, from the pictures its last kept),
    where given: the CSV first, so that the answers are written whatever the plot meets."""
    if csv is not None:
        write_csv(results, csv, force)
    predictions, (drawn, plot_max, pictures) = failures_logged(results), plot
    if drawn is not None:
        predictions.plotted = plot_predictions(results, drawn, plot_max, force, pictures)
    return predictions


def predicted(
    recognizer: Recognizer,
    todo: list[Prediction],
    how: tuple[int, bool, int],
    reporter: Reporter,
    written: tuple[Maps | None, dict[str, Path | None], PlotPictures | None],
) -> dict[str, str]:
    """:func:`predict_all`, the maps (``written``'s first) recorded as written whatever stops it,
    and a Ctrl-C saying what it left of them and of the outputs (:func:`unwritten`); the
    pictures the plot draws kept as the images are answered (``written``'s last)."""
    maps, outputs, pictures = written
    try:
        with ctrl_c_leaves(lambda: unwritten(outputs, maps)):
            return predict_all(recognizer, todo, how, reporter, maps, pictures)
    finally:
        if maps is not None:
            maps.close()


def failures_logged(results: list[Prediction]) -> Predictions:
    """``results`` as :class:`Predictions`, the inputs that could not be predicted (a path that
    does not exist, an unreadable file) named in one WARNING, as the CLI names them: a script
    that misspelt a path read ``None`` answers with nothing said. No exception, as the CLI goes
    on with the other inputs; marked as said in the result, so that the CLI shows its own lines."""
    failed = [f"{r.path} ({r.error})" for r in results if r.error]
    if failed:
        inputs = f"{len(failed)} of {plural(len(results), 'input')}"
        sentence = f"{inputs} could not be predicted (each Prediction's error says why): "
        log_result_warnings(log, [sentence + some_of(failed, quote=False)])
    return Predictions(results)


def note_answers(
    run: Path, results: Sequence[Prediction], recognizer: Recognizer, digests: dict[str, str]
) -> None:
    """What predict notes of its answers once all are made: the images that are the run's own
    (:func:`warn_of_own_images`, by the ``digests`` :func:`predict_all` took), and those of
    several pages or frames, whose first alone was answered (``images.first_pages_only``)."""
    warn_of_own_images(run, results, recognizer.meta.cache_dir, digests)
    answered = [Path(r.path) for r in results if r.error is None and r.topk]
    if paged := first_pages_only(answered, "answered"):
        log.warning("%s", paged)


def warn_of_own_images(
    run: Path | str,
    results: Sequence[Prediction],
    cache_dir: str | Path | None = None,
    digests: dict[str, str] | None = None,
) -> None:
    """One warning when some images answered are the run's own training or validation images,
    by content, as ``evaluate`` warns of them in its folder (the run's record of the images it
    saw, ``leakage.recorded_among``; ``digests``, by path, those the answers took, else the file
    index of ``cache_dir``'s store, read only): their answers overstate how well it does on new
    photos (of one: its answer overstates). Named as given, three (a folder of training photos
    named 10 on one long line).
    Nothing for a run without the record (an older objrec's)."""
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    answered = [Path(r.path) for r in results if r.error is None and r.topk]
    if not answered or not (folder / SEEN_RECORD).is_file():
        return
    own = recorded_among_indexed(folder, answered, cache_dir, digests or {})
    if own:
        counts = {split: len(paths) for split, paths in own.items()}
        overstate = (
            "its answer overstates" if sum(counts.values()) == 1 else "their answers overstate"
        )
        log.warning(
            "%s (same file contents: %s): %s how well it does on new photos",
            seen_words(counts, f"the {plural(len(answered), 'image')} answered"),
            some_of([path for paths in own.values() for path in paths], 3),
            overstate,
        )


def recorded_among_indexed(
    run: Path, paths: list[Path], cache_dir: str | Path | None, digests: dict[str, str]
) -> dict[str, list[str]]:
    """``leakage.recorded_among`` of the ``digests`` given (by path), the others' from the file
    index of ``cache_dir``'s store (the run's; None: ``$OBJREC_CACHE``'s) where there is one to
    read, else each file hashed; the store let go of after, as :func:`predict_all` lets it go
    (``objrec cache --prune`` waits for it), and not opened when every digest is given."""
    import sqlite3

    from objrec.cache import open_cache

    if all(str(path) in digests for path in paths):
        return recorded_among(run, paths, digests=digests)
    cache = open_cache(cache_dir)
    try:
        indexed = (cache.root / "store" / INDEX_FILE).is_file()
        return recorded_among(run, paths, cache.store if indexed else None, digests)
    except (ObjrecError, sqlite3.Error) as exc:  # read-only, damaged: said at info, as predict_all
        log.info("the feature store's file index is not read: %s", exc)
        return recorded_among(run, paths, digests=digests)
    finally:
        cache.close()


def unwritten(outputs: dict[str, Path | None], maps: Maps | None = None) -> str:
    """What Ctrl-C while the images were answered left: none of the ``outputs`` asked for
    written (each is written after every image is answered), where the CLI said only "aborted"
    (mistakes41); how far it got, the CLI says before it. The ``maps`` of ``explain`` are
    written as their images are answered: those drawn are said, and kept."""
    asked = [f"`{name}` {path}" for name, path in outputs.items() if path is not None]
    drawn = f"{maps.words()}; " if maps is not None and maps.written else ""
    nothing = "nothing else was written" if drawn else "nothing was written"
    if not asked:
        return f"{drawn}{nothing}: run it again"
    written = f"{' and '.join(asked)} {'are' if len(asked) > 1 else 'is'}"
    return f"{drawn}{nothing} ({written} written once every image is answered): run it again"


def predict_all(
    recognizer: Recognizer,
    todo: list[Prediction],
    how: tuple[int, bool, int],
    reporter: Reporter,
    maps: Maps | None = None,
    pictures: PlotPictures | None = None,
) -> dict[str, str]:
    """Fill in each entry of ``todo``, ``batch_size`` at a time (``how``: top-k, tta, batch size),
    from the features the store holds (:meth:`Recognizer.stored_views`), else from its pixels,
    and draw each chunk's ``maps`` as it is answered (:class:`Maps`), keeping the ``pictures``
    the plot draws from the decode that answered them (:class:`PlotPictures`).
    Returns the content digest of each image answered, by path: the store's rows', else of the
    bytes decoded (:func:`read_once`), so that no check of them reads a file again."""
    topk, tta, batch_size = how
    digests: dict[str, str] = {}
    stored = recognizer.stored_views([Path(r.path) for r in todo], tta)
    try:
        if not Stored(stored).held(todo).all():  # some are computed from their pixels
            first = min(batch_size, len(todo))
            ready = f"getting the model ready: {ready_words(recognizer, first)}"
            with reporter.task(ready, None), logged_step(ready):
                recognizer.get_ready(first, tta)
        with reporter.task("predicting", len(todo)) as advance, logged_step(predicting(todo)):
            for start in range(0, len(todo), batch_size):
                chunk = todo[start : start + batch_size]
                made = _predict_chunk(
                    recognizer, chunk, (topk, tta), Stored(stored, start), digests, maps, pictures
                )
                if maps is not None:
                    maps.draw(chunk, made)
                if pictures is not None:
                    pictures.settle(chunk)
                advance(len(chunk))
    finally:
        if stored is not None:
            stored[0].space.store.close()  # lets `objrec cache --prune` go on
            log.info("%s", stored_words(stored))
    return digests


def predicting(todo: Sequence[Prediction]) -> str:
    """``predicting 44 images (up to about a second an image on 2 busy CPU cores, ...)``: the
    step's line at INFO (:func:`logged_step`); a newcomer's 44 took 47 s at a load of 11."""
    return (
        f"predicting {plural(len(todo), 'image')} (up to about a second an image on 2 busy CPU "
        "cores, less where the feature store holds them)"
    )


@contextlib.contextmanager
def logged_step(what: str) -> Iterator[None]:
    """``what`` logged at INFO as the step begins, and its seconds as it ends: a script at INFO
    saw nothing of a 47 s predict (the reporter, silent by default, draws the bars)."""
    log.info("%s", what)
    started = time.perf_counter()
    yield
    log.info("done in %.1f s: %s", time.perf_counter() - started, what.split(" (")[0])


@dataclass(frozen=True)
class Stored:
    """The feature store's rows of the images ``predict`` answers (``Recognizer.stored_views``:
    one table per view, None when there are none to read) and where a chunk starts among them."""

    tables: list[FeatureTable] | None
    start: int = 0

    def held(self, chunk: Sequence[Prediction]) -> np.ndarray:
        """Which images of the chunk the store holds in every view."""
        if self.tables is None:
            return np.zeros(len(chunk), dtype=bool)
        where = slice(self.start, self.start + len(chunk))
        return np.logical_and.reduce([t.ok[where].numpy() for t in self.tables])

    def features(self, chunk: Sequence[Prediction], held: np.ndarray) -> list[torch.Tensor]:
        """Each view's stored features of the chunk's images ``held``."""
        index = self.start + np.flatnonzero(held)
        return [table.read(index) for table in self.tables or ()]

    def digests(self, held: np.ndarray) -> list[str]:
        """The content digest of each of the chunk's images ``held``, as the store keys it."""
        index = self.start + np.flatnonzero(held)
        return [self.tables[0].digests[i] for i in index] if self.tables else []


def stored_words(tables: list[FeatureTable]) -> str:
    """How many of the images predict was given the store held, for its log (``-v``)."""
    held = np.logical_and.reduce([t.ok.numpy() for t in tables])
    known = sum(1 for digest in tables[0].digests if digest)
    return (
        f"read the features of {int(held.sum())} of {plural(len(held), 'image')} from the "
        "feature store "
        f"(its file index knew {known}; looked up in {tables[0].hashing.seconds:.2f} s)"
    )


def _predict_chunk(
    recognizer: Recognizer,
    chunk: list[Prediction],
    how: tuple[int, bool],
    stored: Stored,
    digests: dict[str, str],
    maps: Maps | None = None,
    pictures: PlotPictures | None = None,
) -> dict[int, tuple[torch.Tensor, Any]]:
    """Fill in ``topk`` for each entry of ``chunk``, or its ``error`` when it cannot be read; from
    the body's features in the store (``stored``) where it holds them in every view, the answer
    of those features (:meth:`Recognizer.answer_from_features`), else from its pixels (``how``:
    top-k, tta). ``digests`` gets the content digest of each one answered, by path. With
    ``maps``, returns the input and picture of each image answered from its pixels, for its
    map (:meth:`Maps.draw`), by ``id`` of its entry; ``pictures`` is offered each of those
    images as decoded (:meth:`PlotPictures.offer`)."""
    k = how[0]
    held = stored.held(chunk) & np.array([entry.error is None for entry in chunk], dtype=bool)
    if held.any():
        answers = recognizer.answer_from_features(stored.features(chunk, held))
        known = stored.digests(held)
        for i, entry in enumerate(e for e, h in zip(chunk, held, strict=True) if h):
            fill_prediction(entry, recognizer, answers, i, k)
            digests[entry.path] = known[i]
    pixels = [e for e, h in zip(chunk, held, strict=True) if not h]
    return _predict_pixels(recognizer, pixels, how, digests, (maps is not None, pictures))


def _predict_pixels(
    recognizer: Recognizer,
    chunk: list[Prediction],
    how: tuple[int, bool],
    digests: dict[str, str],
    wanted: tuple[bool, PlotPictures | None] = (False, None),
) -> dict[int, tuple[torch.Tensor, Any]]:
    """Fill in ``topk`` for each entry of ``chunk`` without an ``error`` from its pixels, or its
    ``error`` when it cannot be read. Each file is read once (:func:`read_once`), ``digests``
    getting the content digest of the bytes decoded, by path. ``wanted``: whether to return each
    one's input in the evaluation view (its first) and picture, by ``id`` of its entry (for
    ``explain``), and the plot's :class:`PlotPictures` (None: no plot), offered each decode."""
    (k, tta), inputs, readable, made = how, [], [], {}
    for entry in (e for e in chunk if e.error is None):
        views = entry_inputs(recognizer, entry, tta, digests, wanted)
        if views is not None:
            inputs.append(views[0])
            readable.append(entry)
            if views[1] is not None:
                made[id(entry)] = (views[0][0], views[1])
    answers = recognizer.answer_inputs(inputs)
    for i, entry in enumerate(readable):
        fill_prediction(entry, recognizer, answers, i, k)
    return made


def entry_inputs(
    recognizer: Recognizer,
    entry: Prediction,
    tta: bool,
    digests: dict[str, str],
    wanted: tuple[bool, PlotPictures | None] = (False, None),
) -> tuple[list[torch.Tensor], Any] | None:
    """The model's inputs of ``entry``'s image in each view (``Recognizer.inputs``), its file
    read once (:func:`read_once`) and its decode dropped as this returns: a batch of 16 PNG scans
    of 5000x5000 pixels held all 16 decodes at once (2.4 GB); with ``wanted``'s first, beside
    them the part of it the model sees, at its input size, for its map (``Recognizer.picture``),
    else None; ``wanted``'s second, the plot's :class:`PlotPictures`, is offered the decode (it
    keeps a small copy). None where it cannot be read, ``entry.error`` saying why; ``digests``
    gets the content digest of the bytes decoded."""
    picture, pictures = wanted
    path = Path(entry.path)
    source, digest = read_once(path)
    try:
        image = open_image(source, recognizer.draft, name=str(path), from_file=True)
    except UnreadableImageError as exc:
        entry.error, entry.too_large = exc.reason, exc.too_large
        return None
    if digest is not None:
        digests[entry.path] = digest
    if pictures is not None:
        pictures.offer(entry, image)
    return recognizer.inputs(image, tta), recognizer.picture(image) if picture else None


def read_once(path: Path) -> tuple[Path | bytes, str | None]:
    """``path``'s bytes and their content digest (``file_index.hash_bytes``): one read serves
    the decode and the check of the run's own images (the read :func:`refuse_until_an_image`
    made, where it made one); the path and None where it cannot be read, for ``open_image`` to
    say why as it says it of any file."""
    if (kept := (_read_ahead.get() or {}).pop(str(path), None)) is not None:
        return kept
    try:
        data = path.read_bytes()
    except OSError:
        return path, None
    return data, hash_bytes(data)

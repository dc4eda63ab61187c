"""What ``predict`` writes, checked before any work and then written: the CSV (one row per
input), the plot of the answers (its formats, its panels, the pictures kept for it as the images
are answered: :class:`PlotPictures`), the folder of Grad-CAM maps (:class:`Maps`, drawn as the
images are answered), and the words of its progress line for getting the model ready
(:func:`ready_words`, importable from ``predict``: ``Recognizer.ready_words``, deprecated, calls
it from here, as ``predict`` imports Recognizer). ``predict`` itself reads the inputs and answers
them; the CLI checks these outputs, and writes the CSV, from here."""

from __future__ import annotations

import csv as csv_module
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from objrec.errors import ObjrecError, UsageRefused
from objrec.images import IMAGE_EXTENSIONS, UnreadableImageError, open_image
from objrec.outputs import (
    check_output_dir,
    fingerprint,
    fitting,
    landing,
    new_folders,
    output_file,
    output_path,
    prepare_output_dir,
    record_output,
    refuse_inside,
    refuse_overwrite,
    refuse_users_file,
    refuse_users_files,
    same_file,
    writes_over,
)
from objrec.prediction import (
    Prediction,
    csv_columns,
)
from objrec.run_place import refuse_run_file
from objrec.tables import CSV_ENCODING, spreadsheet_cell
from objrec.words import plural, some_of

if TYPE_CHECKING:  # PyTorch's: imported once there is an image to predict
    import torch

    from objrec.inference import Recognizer

log = logging.getLogger(__name__)


EXPLAIN_HINT = "choose another `explain` or pass `force=True`"


PLOT_MAX = 8
"""How many images ``--plot`` draws unless told otherwise (one row of the figure each)."""


PLOT_DRAFT = 512
"""The least a JPEG's sides are decoded at for the plot (a row is a few hundred pixels wide): a
big photo is read at a reduced scale, as for the prediction, not whole. A picture kept from the
prediction's own decode for the plot (:class:`PlotPictures`) is at most this large a side."""


def check_outputs(paths: list[Path], explain: Path | None, force: bool) -> None:
    """Refuse, before any work, an ``explain`` folder inside an image folder of ``paths`` (what
    it draws would be read as images the next time), or not empty, unless ``force``."""
    if explain is None:  # made only when an image is readable
        return
    for folder in (p for p in paths if p.is_dir()):
        refuse_inside(explain, folder, "explain", "image folder")
    check_output_dir(explain, force, EXPLAIN_HINT, names=())  # one name per image


CSV_HINT = "choose another `csv`"


PLOT_HINT = "choose another `plot`"


def refuse_input(output: Path, paths: Sequence[Path], name: str) -> None:
    """Refuse, even with ``force``, an output file (the argument ``name``) that is one of the
    images ``paths`` names, or named as an image inside one of their folders: it would be written
    over a photo of the user's, or read as one the next time."""
    for path in paths:
        if path.is_dir():
            inside = landing(output).is_relative_to(path.resolve())
            if inside and output.suffix.lower() in IMAGE_EXTENSIONS:
                raise UsageRefused(
                    f"`{name}` {output} is named as an image inside the image folder {path}, "
                    f"whose images are predicted: choose another `{name}`"
                )
        elif writes_over(output, path):
            raise UsageRefused(
                f"`{name}` {output} is one of the images to predict: choose another `{name}`"
            )


def check_csv(
    csv: Path | None,
    plot: Path | None,
    force: bool,
    paths: Sequence[Path] = (),
    run: Path | None = None,
) -> Path | None:
    """The ``csv`` file to write (:func:`output_path`), refused before any work when it exists,
    unless ``force``; when it is a link or a folder, one of the images ``paths`` names or one
    named as an image in their folders (:func:`refuse_input`), or a file of the ``run`` read
    (:func:`~objrec.run_place.refuse_run_file`), even with ``force``
    (:func:`~objrec.outputs.refuse_users_file`); and when it is the ``plot`` file too."""
    if csv is None:
        return None
    csv = output_path(csv, "csv")
    refuse_input(csv, paths, "csv")
    if run is not None:
        refuse_run_file(csv, run, "csv")
    refuse_overwrite(csv, force, f"{CSV_HINT} or pass `force=True`")
    refuse_users_file(csv.parent, csv.name, True, CSV_HINT)  # True: any file but a link
    if plot is not None and same_file(csv, plot):
        raise ObjrecError(f"`csv` and `plot` are the same file, {csv}: {CSV_HINT}")
    return csv


def write_csv(results: Sequence[Prediction], path: Path, force: bool = False) -> Path:
    """One row per input, in their order (:meth:`Prediction.to_row`), with as many ``class_N``,
    ``prob_N`` columns as the longest top-k: a table to open in a spreadsheet, written in
    :data:`~objrec.tables.CSV_ENCODING` (Excel reads UTF-8 by its byte-order mark) whole or not
    at all, and checked again just before it takes its name (``outputs.output_file``): a file
    put there meanwhile is kept, unless ``force``."""
    path = Path(path)
    with (
        new_folders(path.parent),
        output_file(path.parent, path.name, force, record=False, other=CSV_HINT) as tmp,
        tmp.open("w", newline="", encoding=CSV_ENCODING) as f,
    ):
        writer = csv_module.DictWriter(f, csv_columns(results), restval="")
        writer.writeheader()
        writer.writerows({k: spreadsheet_cell(v) for k, v in r.to_row().items()} for r in results)
    return path


def check_arguments(
    topk: int,
    plot_max: int,
    plot: Path | None,
    force: bool,
    paths: Sequence[Path] = (),
    run: Path | None = None,
) -> Path | None:
    """Refuse counts below one, and, before any work, a ``plot`` file inside an image folder of
    ``paths``, one of their images (:func:`refuse_input`) or a file of the ``run`` read
    (:func:`~objrec.run_place.refuse_run_file`), even with ``force``, then one that
    exists, unless ``force`` (in that order: an image of the user's was refused as a file that
    exists, "or pass `force=True`"); the ``plot`` file to write (:func:`output_path`). Their
    types ``predict`` checked. No ``paths`` is refused too, as the CLI requires PATHS: an empty
    answer would say nothing was wrong."""
    if not paths:
        raise ObjrecError("`paths` is empty: give the images to predict, files or folders of them")
    if topk < 1:
        raise ObjrecError("`topk` must be at least 1")
    if plot_max < 1:
        raise ObjrecError("`plot_max` must be at least 1")
    if plot is None:
        return None
    plot = output_path(plot, "plot")
    refuse_plot_format(plot)
    for folder in (p for p in paths if p.is_dir()):
        refuse_inside(plot, folder, "plot", "image folder")
    refuse_input(plot, paths, "plot")
    if run is not None:
        refuse_run_file(plot, run, "plot")
    refuse_overwrite(plot, force, f"{PLOT_HINT} or pass `force=True`")
    refuse_users_file(plot.parent, plot.name, True, PLOT_HINT)  # True: any file but a link
    return plot


PLOT_FORMATS = ("png", "jpg", "jpeg", "webp", "tif", "tiff", "svg", "pdf")
"""The endings ``plot`` may have: the pictures matplotlib writes. Not its ``.raw`` and ``.rgba``
(bare pixel buffers no viewer opens), ``.eps`` and ``.ps`` (printer pages), nor ``.pgf`` (LaTeX
drawing commands, made only with a TeX system installed: without one, its traceback came after
every image was predicted)."""


def plot_format_problem(plot: Path) -> str | None:
    """Why ``plot`` cannot name the figure, in words the CLI's usage error and the library's
    refusal share: its name ends in none of :data:`PLOT_FORMATS`; None when it does. The figure
    is drawn under a temporary name with the same ending, and for ``figure`` matplotlib writes
    ``<temporary>.png`` (adding the ending), so the rename would fail with "no such file" and
    leave the drawing behind; ``fig.txt`` would end in matplotlib's traceback."""
    if plot.suffix[1:].lower() in PLOT_FORMATS:
        return None
    others = ", ".join(f".{f}" for f in PLOT_FORMATS[1:])
    png = plot.with_name(plot.stem.rstrip(".") + ".png")
    return f"{plot} does not end in an image format: name it {png}, or end it in one of {others}"


def refuse_plot_format(plot: Path) -> None:
    """Refuse, before any work, a ``plot`` named in no format of :data:`PLOT_FORMATS`
    (:func:`plot_format_problem`); the CLI refuses it as a usage error before anything loads."""
    problem = plot_format_problem(plot)
    if problem:
        raise ObjrecError(f"`plot` {problem}")


class Maps:
    """The Grad-CAM maps ``explain`` asks for, a chunk's drawn as predict answers it, from the
    inputs its answers were made of (``saliency.explain_made``): each image is decoded once,
    where the maps were drawn after every answer from a second decode of each file. An image
    answered from the feature store, never decoded to answer it, is decoded for its map. Each map
    is checked again just before it takes its name (``outputs.output_file``): never over a file
    that appeared meanwhile, nor through a link; the names of every image are checked before the
    first map is drawn, and a chunk's again before its maps are (an unreadable image renumbers
    those after it). The folder is made at the first readable image (none readable: none made).
    :meth:`close` records each map written (a map moved away meanwhile is no error), at the end
    or when the run stops: what it drew is recorded."""

    def __init__(
        self, recognizer: Recognizer, folder: Path, force: bool, todo: Sequence[Prediction]
    ) -> None:
        self.recognizer, self.folder, self.force = recognizer, Path(folder), force
        self.other = EXPLAIN_HINT.split(" or ", 1)[0]
        self.numbered = 0
        """How many readable images got a map's name so far (their number begins each name)."""
        self.ready = False
        """Whether the folder was prepared (``outputs.prepare_output_dir``)."""
        self.written: dict[str, dict[str, Any]] = {}
        """Each map written, by name: what :meth:`close` records."""
        if self.folder.is_dir():  # a link among them: refused before any image is answered
            refuse_users_files(self.folder, explanation_names(list(todo)), force, self.other)

    def draw(self, chunk: Sequence[Prediction], made: dict[int, tuple[torch.Tensor, Any]]) -> None:
        """The maps of ``chunk``'s readable images, each of the class it was answered (its top
        class), in one pass: ``made``, by ``id`` of its entry, the input and picture of each image
        predict decoded (``Recognizer.explained``'s), the others decoded here; each written."""
        readable = [r for r in chunk if r.error is None]
        if not readable:
            return
        if not self.ready:
            self.folder = prepare_output_dir(self.folder, self.force, EXPLAIN_HINT, names=())
            self.ready = True
        names = [map_name(self.numbered + i, r) for i, r in enumerate(readable)]
        self.numbered += len(readable)
        refuse_users_files(self.folder, names, self.force, self.other)
        from objrec import plots  # matplotlib: only when maps are asked for
        from objrec.saliency import explain_made  # PyTorch's, loaded with the model by now

        recognizer = self.recognizer
        pairs = [made.get(id(r)) or recognizer.explained(r.path) for r in readable]
        tops = [recognizer.classes.index(str(r.topk[0]["class"])) for r in readable]
        for r, name, (picture, target) in zip(
            readable, names, explain_made(recognizer, pairs, tops), strict=True
        ):
            with output_file(self.folder, name, self.force, False, self.other, tidy=False) as tmp:
                plots.heat_map(picture, map_caption(r), tmp)
                drawn = fingerprint(tmp)  # as the rename keeps it
            self.written[name], r.explanation = drawn, str(self.folder / name)
            r.explained = recognizer.classes[target]

    def words(self) -> str:
        """What was drawn, for a stop: "`explain` cams holds the maps of the 32 images answered"."""
        return (
            f"`explain` {self.folder} holds the maps of the "
            f"{plural(len(self.written), 'image')} answered"
        )

    def close(self) -> None:
        """Record each map written in the folder's mark (``outputs.record_output``)."""
        if self.written:
            record_output(self.folder, self.written)


def explanation_names(results: list[Prediction]) -> list[str]:
    """The Grad-CAM map's file name of each readable image, numbered in their order (a long
    image name shortened to fit the file system's limit)."""
    readable = [r for r in results if r.error is None]
    return [map_name(i, r) for i, r in enumerate(readable)]


def map_caption(result: Prediction) -> str:
    """The caption above an image's Grad-CAM map: the class it was answered and its probability
    (the map is of that class), "unknown" first for an image answered so."""
    top = result.topk[0]
    said = f"{top['class']} {float(top['prob']):.2%}"
    return f"unknown; closest: {said}" if result.unknown else said


def map_name(number: int, result: Prediction) -> str:
    """The Grad-CAM map's file name of the ``number``-th readable image (from 0)."""
    return fitting(f"{number:04d}-", Path(result.path).stem, ".gradcam.png")


def panel_names(paths: list[Path]) -> list[str]:
    """Each image's name in the plot: its file name, or, when two share one (``cat/1.jpg`` and
    ``dog/1.jpg``), as many of its last folders as tell them apart."""
    for parts in range(1, max((len(p.parts) for p in paths), default=1) + 1):
        names = ["/".join(p.parts[-parts:]) for p in paths]
        if len(set(names)) == len(names):
            break
    return names


def worth_a_look(r: Prediction) -> tuple[bool, bool, float]:
    """The order of the answers most worth a look, where not all are shown (``predict --csv``'s
    lines, ``--plot``'s panels): those answered unknown, then the barely familiar, then the
    least sure (lowest top probability); the first inputs given among equals. The plot drew the
    first inputs: with ``--plot-max 4``, the one unknown photo, given last, was left out of it
    while the terminal listed it first."""
    top = float(r.topk[0]["prob"]) if r.topk else 1.0
    return (not r.unknown, not r.barely_familiar, top)


KIND_WORDS = ("unknown", "barely familiar", "given a class")
"""The three kinds of answer the plot mixes (:func:`answer_kind`), as its heading counts them."""


def answer_kind(r: Prediction) -> int:
    """Which of :data:`KIND_WORDS` ``r`` is: answered unknown (0), barely familiar (1), or given
    a class plainly (2)."""
    return 0 if r.unknown else 1 if r.barely_familiar else 2


def plot_streams(r: Prediction) -> list[tuple[int, float]]:
    """The lists ``r`` is ranked in for the plot, each with its key (the lowest first): the
    unknown and the barely familiar each by their top probability; one given a class both among
    the least sure (list 2) and among the surest (list 3)."""
    top = float(r.topk[0]["prob"]) if r.topk else 1.0
    kind = answer_kind(r)
    return [(kind, top)] if kind < 2 else [(2, top), (3, -top)]


Ranked = dict[int, list[tuple[float, int, "Prediction"]]]
"""The plot's lists (:func:`plot_streams`), each of (key, place among the answers, answer)."""


def ranked_streams(placed: Sequence[tuple[int, Prediction]], limit: int) -> Ranked:
    """The ``limit`` first of each of the plot's lists among the ``placed`` answers (each with its
    place among the answers: the first given first among equals)."""
    streams: Ranked = {}
    for place, r in placed:
        for stream, key in plot_streams(r):
            streams.setdefault(stream, []).append((key, place, r))
    return {s: sorted(rows, key=lambda t: t[:2])[:limit] for s, rows in streams.items()}


def plot_choice(readable: Sequence[Prediction], limit: int) -> list[Prediction]:
    """The answers the plot draws: all of ``readable`` up to ``limit``, else ``limit`` of them
    taken in turn from each list of :func:`plot_streams` (the unknown, the barely familiar, the
    least sure and the surest given a class), so that every kind of answer shows; drawn as the
    lines list them (:func:`worth_a_look`). Unknown first alone drew 8 unknowns of a teacher's
    18 strangers, and never a confident answer to something untaught ("sunflower 99.00%" for a
    lotus), the ones a class needs to see (newcomer64b)."""
    if len(readable) <= limit:
        return list(readable)
    streams = ranked_streams(list(enumerate(readable)), limit)
    taken: dict[int, Prediction] = {}
    while len(taken) < limit and any(streams.values()):
        for stream in sorted(streams):
            rows = streams[stream]
            while rows and rows[0][1] in taken:
                rows.pop(0)
            if rows and len(taken) < limit:
                _, place, r = rows.pop(0)
                taken[place] = r
    return [taken[p] for p in sorted(taken, key=lambda p: (worth_a_look(taken[p]), p))]


def plot_mix_words(readable: Sequence[Prediction], drawn: Sequence[Prediction]) -> str:
    """How many of each kind of answer the plot drew of ``readable`` (:data:`KIND_WORDS`):
    ``2 of 11 unknown, 2 of 3 barely familiar, 4 of 9 given a class (the least and the most
    sure)``, the kinds there are only; what was left out is the rest of each."""
    counts = [0, 0, 0]
    shown = [0, 0, 0]
    for r in readable:
        counts[answer_kind(r)] += 1
    for r in drawn:
        shown[answer_kind(r)] += 1
    parts = [
        f"{shown[k]} of {counts[k]} {KIND_WORDS[k]}" for k in range(len(KIND_WORDS)) if counts[k]
    ]
    if shown[2] < counts[2] and shown[2] > 1:
        parts[-1] += " (the least and the most sure)"
    elif shown[2] < counts[2] and shown[2]:
        parts[-1] += " (the least sure)"
    return ", ".join(parts)


def plot_predictions(
    results: list[Prediction],
    path: Path,
    limit: int = PLOT_MAX,
    force: bool = True,
    pictures: PlotPictures | None = None,
) -> int:
    """The article's figure for the readable images, or ``limit`` of each kind of answer where
    there are more (:func:`plot_choice`, its heading counting each kind drawn and left out),
    in a grid of up to ``plots.PREDICTIONS_PER_ROW`` a row, headed by how many classes each
    shows and which images these are; drawn under a temporary name, then renamed ``path``
    (``outputs.output_file``: never drawn through a link named so, which savefig did, over
    the file it leads to), a file put there meanwhile kept unless ``force``. How many images
    it shows: an image that cannot be opened again (removed since it was answered) is left
    out, and with none to show nothing is drawn (0), one WARNING saying so: the answers, and
    each input's error, are never lost to the plot. Each image is drawn from the picture
    ``pictures`` kept of it as predict decoded it, else opened again (one the feature store
    answered)."""
    readable = [r for r in results if r.error is None]
    drawn = plot_choice(readable, limit)
    rows = plot_rows(drawn, path, pictures)
    if not rows:
        return 0
    from objrec import plots  # matplotlib and pandas: only when a plot is asked for

    k = max(len(r.topk) for r in drawn)
    heading = f"Top-{k} predictions"
    if len(readable) > len(rows):  # what was left out, of each kind
        left = len(readable) - len(rows)
        mix = plot_mix_words(readable, drawn)
        heading += f" of {len(rows)} of {len(readable)} images: {mix}; {left} more left out"
    path = Path(path)
    with (
        new_folders(path.parent),  # a folder made for it is taken back if drawing fails
        output_file(path.parent, path.name, force, record=False, other=PLOT_HINT) as tmp,
    ):
        plots.predictions(rows, tmp, heading)
    return len(rows)


def plot_rows(
    drawn: list[Prediction], path: Path, pictures: PlotPictures | None = None
) -> list[tuple[Any, str, list, bool]]:
    """The plot's panels of the answers ``drawn``: each image (:func:`plot_picture`: kept by
    ``pictures``, else opened again at :data:`PLOT_DRAFT`), its title and its top classes; one
    that cannot be opened again (gone or replaced since it was answered) left out, one WARNING
    naming them, or saying that the plot ``path`` is not drawn when none is left (no input could
    be read, or none again)."""
    rows, lost = [], []
    for r, name in zip(drawn, panel_names([Path(r.path) for r in drawn]), strict=True):
        pairs = [(str(t["class"]), float(t["prob"])) for t in r.topk]
        title = f"{name}\n{r.familiarity_note}" if r.familiarity_note else name
        try:
            rows.append((plot_picture(r, pictures), title, pairs, r.unknown))
        except UnreadableImageError as exc:
            lost.append(f"{r.path} ({exc.reason})")
    again = f"could not be read again since they were answered: {some_of(lost, quote=False)}"
    if not rows:
        why = f"its images {again}" if lost else "no input could be read"
        log.warning("`plot` %s not drawn: %s", path, why)
    elif lost:
        log.warning("%s left out of `plot` %s: they %s", plural(len(lost), "image"), path, again)
    return rows


def plot_picture(result: Prediction, pictures: PlotPictures | None) -> Image.Image:
    """The picture the plot draws of ``result``: the one ``pictures`` kept from predict's own
    decode, else its file decoded (:data:`PLOT_DRAFT`)."""
    kept = pictures.picture(result) if pictures is not None else None
    return kept if kept is not None else open_image(result.path, PLOT_DRAFT)


class PlotPictures:
    """The pictures ``plot`` draws, kept from the decode that answered each image: the plot
    opened and decoded each image it drew a second time, once every answer was in. The images
    to draw are known only then (:func:`plot_choice`: ``limit`` taken in turn from each of its
    lists), so after each batch (:meth:`settle`) only the ``limit`` first of each list so far
    keep theirs, ranked as :func:`plot_choice` ranks them (the first given among equals): one
    ranked lower then stays lower. Each is kept small (:meth:`offer`), so that a folder of
    thousands holds a batch's and four lists of ``limit`` pictures at most, not every decode:
    reduced at once by a whole factor (:class:`Shrinking`, cheap), and brought to its plot size
    only once ranked among those the plot may draw, not for every image (a 3000x2000 PNG's resize
    cost 18 ms, against 4 ms for its reduce). An image the feature store answered, never decoded,
    keeps none (the plot decodes it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: dict[int, Image.Image | Shrinking] = {}
        """Each picture kept, by ``id`` of its entry: a large one reduced until it is ranked."""
        self.ranked: list[tuple[int, Prediction]] = []
        """The readable answers among the ``limit`` first of a list of :func:`plot_streams` so
        far, each with its place among the answers (which breaks ties, as a stable sort does)."""
        self.answered = 0
        """How many answers (readable or not) were ranked."""

    def offer(self, entry: Prediction, image: Image.Image) -> None:
        """Keep ``entry``'s picture as predict decoded it, at most :data:`PLOT_DRAFT` a side (the
        plot's panels are a few hundred pixels wide) once :meth:`settle` ranks its answer among
        the plot's, until then a larger one reduced (:meth:`Shrinking.of`)."""
        self.kept[id(entry)] = image if max(image.size) <= PLOT_DRAFT else Shrinking.of(image)

    def settle(self, chunk: Sequence[Prediction]) -> None:
        """``chunk`` answered: keep the pictures of the answers the plot may still draw, the
        ``limit`` first of each of its lists (:func:`ranked_streams`)."""
        places = range(self.answered, self.answered + len(chunk))
        self.answered += len(chunk)
        new = [(n, r) for n, r in zip(places, chunk, strict=True) if not r.error]
        streams = ranked_streams(self.ranked + new, self.limit)
        ranked = {place: r for rows in streams.values() for _, place, r in rows}
        self.ranked = sorted(ranked.items(), key=lambda t: t[0])
        wanted = {id(r) for _, r in self.ranked}
        self.kept = {key: shrunk(image) for key, image in self.kept.items() if key in wanted}

    def picture(self, entry: Prediction) -> Image.Image | None:
        """The picture kept of ``entry``, None where none is."""
        kept = self.kept.get(id(entry))
        return shrunk(kept) if kept is not None else None


def shrunk(image: Image.Image | Shrinking) -> Image.Image:
    """``image`` at its plot size: as it is, or a :class:`Shrinking` one finished."""
    return image.finished() if isinstance(image, Shrinking) else image


@dataclass(frozen=True)
class Shrinking:
    """A picture on its way to :data:`PLOT_DRAFT` a side, in Pillow's two steps of
    ``resize(size, BICUBIC, reducing_gap=2.0)``: reduced by a whole factor (``Image.reduce``,
    cheap) when offered, the bicubic resize of what is left (:meth:`finished`) only for a picture
    the plot may draw; pixel for pixel the one-step resize, so the figure is as it was."""

    image: Image.Image
    """The decode, reduced (or itself where the resize reduces nothing first, or an image not
    RGB, whose resize Pillow does otherwise)."""
    size: tuple[int, int]
    """The plot size: the longer side :data:`PLOT_DRAFT`."""
    box: tuple[float, float, float, float] | None = None
    """The decode's whole area in the reduced ``image``'s pixels; None where not reduced."""

    @classmethod
    def of(cls, image: Image.Image) -> Shrinking:
        """``image`` reduced as ``resize``'s ``reducing_gap`` of 2 reduces it for ``size``."""
        scale = PLOT_DRAFT / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        factor = (int(image.width / size[0] / 2.0) or 1, int(image.height / size[1] / 2.0) or 1)
        if image.mode != "RGB" or factor == (1, 1):
            return cls(image, size)
        box = (0, 0, image.width / factor[0], image.height / factor[1])
        return cls(image.reduce(factor), size, box)

    def finished(self) -> Image.Image:
        """The picture at :attr:`size` (Pillow's bicubic resize of the reduced :attr:`image`)."""
        if self.box is None:  # not reduced: Pillow's own steps
            return self.image.resize(self.size, Image.Resampling.BICUBIC, reducing_gap=2.0)
        return self.image.resize(self.size, Image.Resampling.BICUBIC, box=self.box)


def ready_words(recognizer: Recognizer, images: int) -> str:
    """What ``Recognizer.get_ready`` does for a first batch of ``images`` images, in a few words
    for its progress line: a share recipient's first predict is told that OpenVINO compiles the
    8-bit networks, not 18 s of "getting the model ready". It compiles once per network, cache
    folder and batch size the photos run in (``OpenVinoModel.static_batch``): a first predict of
    one photo compiles for batches of 2, and a later one of more photos again, for its larger
    batch, which "once per network and cache folder" denied. The body's session is opened to
    tell (``Recognizer.int8_session``: OpenVINO reading the graph)."""
    from objrec.openvino_runtime import (
        OpenVinoModel,  # PyTorch's side: loaded with the model by now
    )

    session = recognizer.int8_session()
    if session is None:
        return "preparing how photos are resized and normalised"
    if not isinstance(session, OpenVinoModel):
        return "preparing the 8-bit networks in ONNX Runtime"
    batch = session.static_batch(images)
    if session.saved(batch) is None:
        return (
            f"compiling the 8-bit networks for this CPU in OpenVINO, for batches of {batch} "
            "(once per network, batch size and cache folder)"
        )
    return "loading the 8-bit networks OpenVINO compiled for this CPU"

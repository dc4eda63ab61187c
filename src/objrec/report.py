"""``report``: one self-contained HTML page about a run: data, training, results, saliency.

Every picture is embedded (base64 PNG/JPEG), so the file opens from disk with no network. The plots
come from the same functions the CLI uses (``explore``, ``evaluate``, ``plots``); the evaluation is
read from ``RUN/eval-test`` when present and current (``objrec.current.currency``), else run now.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from os.path import getmtime
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import torch
from jinja2 import Environment, Template, select_autoescape
from PIL import Image

from objrec import __version__
from objrec.checkpoint import read_checkpoint
from objrec.config import TOP5_CLASSES, DataConfig, unknown_score_words
from objrec.current import Currency, at_threshold_now, currency, is_current
from objrec.data import IMAGE_SET_MEANING, SPLITS, scan_class_folder
from objrec.enough import (
    FEWEST_FOR_A_THRESHOLD,
    FEWEST_TO_TRUST,
    FEWEST_WITHOUT_INTERVAL,
    too_few_to_trust,
)
from objrec.errors import ObjrecError, on_ctrl_c
from objrec.eval_dir import (
    default_eval_dir,
    earlier_unknown,
    evaluated_folder,
    evaluated_words,
    evaluation_of,
    resolve_eval_folder,
)
from objrec.evaluate import add_top1_interval, temperature_of
from objrec.evaluation_metrics import (
    METRICS,
    AtThreshold,
    EvaluationMetrics,
    EvaluationRecord,
    OpenSet,
    StricterThreshold,
    UnknownAnswer,
    read_record,
    went_of,
    went_parts,
)
from objrec.explore import explore
from objrec.failures import near_duplicate_words, top_losses, worst_class_rows
from objrec.finetune import FinetuneRecord
from objrec.images import UnreadableImageError, open_image
from objrec.inference import Recognizer
from objrec.listing import IGNORED_KINDS
from objrec.manifest import read_split_record
from objrec.meta import RunMeta, typical_image
from objrec.outputs import (
    refuse_inside,
    report_path,
    same_file,
    shown_name,
    staged_file,
    with_digest,
)
from objrec.paths import PathGiven, as_path
from objrec.progress import Reporter, or_silent
from objrec.renames import renamed_arguments
from objrec.run_files import BEST, SUMMARY, output_beside
from objrec.run_place import (
    UNFINISHED,
    damaged_record,
    describes_another_model,
    mismatched_summary,
)
from objrec.run_record import FrozenPassCounts
from objrec.runs import read_summary
from objrec.saliency import explain_all
from objrec.tables import exact_cell
from objrec.thresholds import advice_rests_on, resting_words
from objrec.thumbnails import embed_image, thumbnail
from objrec.transforms import TTA_VIEWS, build_transforms, draft_size
from objrec.untaught import untaught_note
from objrec.warned import warned_once_per_file
from objrec.words import below_one, joined, plural, quoted, some_of, span, three_places

log = logging.getLogger(__name__)

THUMB = 160


@dataclass
class Tile:
    """One picture in a gallery, with its caption."""

    src: str
    caption: str
    wrong: bool = False
    name: str = ""
    """The file it shows, relative to the data folder (or the evaluated one); "" for none."""


Names = Callable[[str | Path | None], str | None]
"""How the page names a folder of the machine (:class:`PageNames`); None for none."""


def as_is(path: str | Path | None) -> str | None:
    """``path`` as it is (a page's :data:`Names` where no page is written)."""
    return str(path) if path else None


@dataclass(frozen=True)
class PageNames:
    """How the page names a folder of the machine, so that a page moved or sent elsewhere shows
    no home folder or absolute path: a folder of the run relative to the page (``eval-test``
    beside ``RUN/report.html``), one of a folder the report reads by that folder's name (as
    given, where given relative) and the rest (``data/test``), any other by its own name."""

    page: Path
    """The page's folder, resolved."""
    run: Path
    """The run's folder, resolved."""
    roots: tuple[tuple[Path, str], ...] = ()
    """Each folder the report reads (resolved), the data folder first, and its name on the page."""

    def __call__(self, path: str | Path | None) -> str | None:
        if not path:
            return None
        where = Path(path).resolve()
        if where.is_relative_to(self.run):
            return relative_to(where, self.page)
        for root, name in self.roots:
            if where.is_relative_to(root):
                rest = where.relative_to(root).as_posix()
                return name if rest == "." else f"{name}/{rest}"
        return where.name


def relative_to(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` (``../run/eval-test``); its name where no relative path
    leads there (another drive)."""
    try:
        return Path(os.path.relpath(path, folder)).as_posix()
    except ValueError:
        return path.name


def page_names(out: Path, run: Path, folders: ReportFolders, given: Path | None) -> PageNames:
    """How the page ``out`` of ``run`` names the folders it shows (:class:`PageNames`), the
    folders it reads being ``folders`` and ``given`` the ``data`` the report was given."""
    read = dict.fromkeys(f for f in (folders.shown, folders.used, folders.of) if f is not None)
    roots = tuple((folder.resolve(), spelled(folder, given)) for folder in read)
    return PageNames(out.parent.resolve(), run.resolve(), roots)


def spelled(folder: Path, given: Path | None) -> str:
    """``folder`` as the page names it: as ``given`` spells it (it, or the split folder it is a
    split of) where ``given`` is relative, else by its name, never as an absolute path."""
    if given is not None and not given.is_absolute():
        for spelling in (given, given.parent):
            if spelling != Path(".") and spelling.resolve() == folder.resolve():
                return spelling.as_posix()
    return folder.name


def embed_file(path: Path) -> str:
    kind = "png" if path.suffix == ".png" else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def load_evaluation(
    run: Path,
    data_dir: Path | None,
    reporter: Reporter,
    run_data_dir: str | None = None,
    force: bool = False,
    of: Path | None = None,
    read: tuple[dict[str, Any], RunMeta] | None = None,
) -> Path:
    """The evaluation of ``data_dir``'s test split (run now when there is none yet, or it is not
    current, ``objrec.current.currency``: of an earlier model, another unknown threshold than the
    run's now, or test images moved, removed or added since); ``force``: replace an evaluation of
    another folder in its place; ``read``: the model it is of, read already (None: the file's).
    Without a test split (or a known data folder) the run's latest evaluation is shown, of
    whichever folder it was, or, ``of``, the latest of that folder (one with no splits, which
    ``evaluate RUN FOLDER`` evaluated whole); the page says which. Either is evaluated again, as
    the test split, when not current (the folder it evaluated still there), said first."""
    from objrec.config import EvaluateConfig
    from objrec.evaluate import run_evaluation

    model = read[1].digest if read is not None else None
    if data_dir is not None and (data_dir / "test").is_dir():
        target = resolve_eval_folder(data_dir, "test")
        folder = default_eval_dir(run, run_data_dir or data_dir, target)
        # an evaluation of another folder there (evaluate --out RUN/eval-test) is not the test's
        state, other = currency(folder, run, model), of_another(folder, target)
        if not state.holds or other:
            refuse_other_evaluation(folder, target, force)
            say_evaluating(run, target, reporter, stale_words(folder, state, other))
            again = earlier_unknown(folder)  # its evaluate --unknown result, measured again
            config = EvaluateConfig(**again)
            run_evaluation(run, data_dir, config, reporter=reporter, force=force, read=read)
        return require_of_model(folder, run, model)
    evaluations = output_beside(run, "eval")  # RUN/eval-*, or CKPT-eval-* beside a checkpoint
    made = sorted(evaluations.parent.glob(f"{evaluations.name}*/{PREDICTIONS}"), key=getmtime)
    done = evaluations_of(of, [p for p in made if is_current(p, run, model)], run)
    if done and not (state := currency(latest := done[-1].parent, run, model)).holds:
        evaluated = of or still_there(latest)
        if evaluated is not None:
            return evaluate_again(run, evaluated, (latest, state), reporter, run_data_dir, read)
    if done:
        return done[-1].parent
    where = f"{data_dir} has no test split" if data_dir else "its data folder is unknown"
    if made:
        where += "; its evaluations are of an earlier model (it was trained again since)"
    raise ObjrecError(
        f"{run} has no evaluation to report yet and {where}: evaluate it first on your test "
        f"images (`evaluate({str(run)!r}, folder)`)"
    )


def say_evaluating(run: Path, folder: Path, reporter: Reporter, why: str) -> None:
    """One line before the evaluation ``report`` makes of ``folder`` (``why``: why it is made):
    its only sign was "loading the pretrained network ... writing the tables and plots",
    though it takes as long as ``evaluate`` (review53b nit 1)."""
    line = f"evaluating {run} on {folder} first: {why}"
    log.info("%s", line)
    reporter.note(line)


def stale_words(folder: Path, state: Currency, other: bool) -> str:
    """Why the evaluation in ``folder`` (``state``: how current it is; ``other``: it is of
    another folder) is made again, in a few words."""
    if other or not (folder / PREDICTIONS).exists():
        return "no evaluation yet"
    if not state.model:
        return "its evaluation is of an earlier model"
    if not state.threshold:
        return "its evaluation counted unknown at another threshold than the run's now"
    return "its images changed since it was evaluated"


def require_of_model(folder: Path, run: Path, model: str | None) -> Path:
    """``folder``, the evaluation just made, when it is of the model of digest ``model`` (the
    one the page is of); else refused: evaluate measured another model (one a train landed in
    the run while the report read it, where the report gave it no model read), which the page
    would show beside the other's."""
    if model is not None and not is_current(folder / "predictions.csv", run, model):
        raise ObjrecError(
            f"the model of {run} was replaced while report read it (a train landed in it): the "
            "page would show one model's evaluation under another's name, so none was written: "
            "run report again"
        )
    return folder


def evaluate_again(
    run: Path,
    folder: Path,
    latest: tuple[Path, Currency],
    reporter: Reporter,
    run_data_dir: str | None,
    read: tuple[dict[str, Any], RunMeta] | None = None,
) -> Path:
    """``folder`` evaluated again, as the test split is, when its ``latest`` evaluation (and how
    current it is, said first: :func:`say_evaluating`) counted
    the unknown answers at a threshold the run no longer answers with (:func:`at_threshold_now`:
    `evaluate --keep-threshold` kept another since), or its images changed since; its evaluate
    --unknown result measured again too. Returns where it went (the folder's default one,
    refreshed); ``read``: the model evaluated, as the page read it (None: the file's), and the
    one it must be of (:func:`require_of_model`)."""
    from objrec.config import EvaluateConfig
    from objrec.evaluate import run_evaluation

    say_evaluating(run, folder, reporter, stale_words(*latest, False))
    config = EvaluateConfig(**earlier_unknown(latest[0]))
    run_evaluation(run, folder, config, reporter=reporter, read=read)
    model = read[1].digest if read is not None else None
    return require_of_model(default_eval_dir(run, run_data_dir, folder), run, model)


def still_there(latest: Path) -> Path | None:
    """The folder the evaluation in ``latest`` evaluated, to evaluate again at the run's
    threshold now; None, logged, when it is gone (or unknown): the page shows ``latest`` then, at
    the threshold it records."""
    folder = evaluated_folder(latest)
    if folder and Path(folder).is_dir():
        return Path(folder)
    log.warning(
        "%s counted the unknown answers at a threshold the run no longer answers with, and the "
        "folder it evaluated (%s) is not there to evaluate again: the page shows it as it was",
        latest,
        folder or "unknown",
    )
    return None


def evaluations_of(folder: Path | None, made: list[Path], run: Path) -> list[Path]:
    """Of the predictions.csv files ``made`` (oldest first), those of evaluations of ``folder``
    (all when None): `report RUN --data FOLDER`, as evaluate advises after `evaluate RUN
    FOLDER`, showed the run's latest evaluation, of its test split, when that came after. None
    of ``folder`` is refused, with the call that makes one."""
    if folder is None:
        return made
    found = [p for p in made if evaluated_folder(p.parent) == str(folder.resolve())]
    if not found:
        raise ObjrecError(
            f"{run} has no evaluation of {folder} by its model yet: evaluate it there first "
            f"(`evaluate({str(run)!r}, {str(folder)!r})`)"
        )
    return found


PREDICTIONS = "predictions.csv"


def open_set_found(
    run: Path, evaluation: Path, shown: EvaluationMetrics
) -> tuple[OpenSet | None, str | None]:
    """``evaluate --unknown``'s result for the page: the ``shown`` evaluation's own, else the
    latest of the run's other evaluations of its model and threshold now (``evaluate RUN DATA
    --split valid --unknown OTHER`` wrote ``eval-valid``; one made before ``--keep-threshold``
    kept the stricter threshold it offered counted the unknown images at the threshold replaced
    since: :func:`at_threshold_now`), with the folder of that other evaluation (None: the shown
    one's own); ``(None, None)`` when there is none."""
    if shown.open_set is not None:
        return shown.open_set, None
    evaluations = output_beside(run, "eval")
    made = sorted(
        evaluations.parent.glob(f"{evaluations.name}*/metrics.json"),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for path in made:
        if same_file(path.parent, evaluation) or not is_current(path.with_name(PREDICTIONS), run):
            continue
        if not at_threshold_now(path.parent, run):
            continue
        record = read_record(path.parent)
        if record is not None and record.metrics.open_set is not None:
            return record.metrics.open_set, str(path.parent)
    return None, None


def refuse_other_evaluation(folder: Path, target: Path, force: bool) -> None:
    """Refuse, unless ``force``, to replace ``folder``'s evaluation of another folder than
    ``target`` with the report's own: ``report --force`` replaces it (evaluate's advice, choose
    another ``out``, means the HTML file here and would not help)."""
    earlier = evaluated_folder(folder)
    if earlier is not None and earlier != str(target.resolve()) and not force:
        raise ObjrecError(
            f"{folder} holds {evaluation_of(folder, earlier)}, not of {target}: "
            "pass `force=True` to replace it with the report's"
        )


def of_another(folder: Path, target: Path) -> bool:
    """Whether ``folder`` holds an evaluation that records a folder other than ``target``."""
    return evaluated_folder(folder) not in (None, "", str(target.resolve()))


def sample_tiles(data_dir: Path, limit: int = 100) -> list[Tile]:
    """The first readable training image of each class (of the first ``limit``): training passes
    over an unreadable file, so a class whose first file is one still has its picture."""
    train = scan_class_folder(data_dir / "train")
    tiles: dict[int, Tile] = {}
    for sample in train.samples:
        if sample.label not in tiles and (src := thumbnail(str(sample.path), 96)):
            tiles[sample.label] = Tile(src, train.classes[sample.label])
            if len(tiles) == limit:
                break
    return list(tiles.values())


def first_readable(paths: Iterable[Path], data: DataConfig) -> Image.Image | None:
    """The first of ``paths`` that decodes, decoded as training decodes it; None if none does."""
    for path in paths:
        try:
            return open_image(path, draft_size(data))
        except UnreadableImageError:
            continue
    return None


def augmentation_tiles(data_dir: Path, data: DataConfig, augment: str, n: int = 7) -> list[Tile]:
    """A training image, then ``n`` augmented views of it; none when no image decodes."""
    samples = scan_class_folder(data_dir / "train").samples
    image = first_readable((sample.path for sample in samples), data)
    if image is None:
        return []
    transform = build_transforms(data, train=True, augment=augment)
    mean, std = torch.tensor(data.mean)[:, None, None], torch.tensor(data.std)[:, None, None]
    tiles = [Tile(embed_image(image, THUMB), "original")]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for i in range(n):
            x = (transform(image) * std + mean).clamp(0, 1)
            picture = Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype("uint8"))
            tiles.append(Tile(embed_image(picture, THUMB), f"augmented {i + 1}"))
    return tiles


def prediction_tiles(
    rows: pd.DataFrame, roots: Sequence[Path] = (), made: dict[str, str | None] | None = None
) -> list[Tile]:
    """A tile per row, captioned with its file and answer; a right answer says it is right; a
    row standing for its near-duplicates (``failures.one_per_group``) says how many. ``made``:
    the thumbnails made already, by path (None: unreadable), shared by the galleries so that an
    image in several is decoded once; those made here are added."""
    made = {} if made is None else made
    tiles = []
    for r in rows.itertuples():
        if r.path not in made:
            made[r.path] = thumbnail(r.path, THUMB)
        if src := made[r.path]:
            wrong = r.true != r.predicted
            said = f"true {r.true} · predicted {r.predicted}" if wrong else f"{r.true} · right"
            caption = f"{said} ({r.prob_predicted:.0%})"
            if others := near_duplicate_words(r):
                caption += f" · {others}"
            tiles.append(Tile(src, caption, wrong, shown_name(r.path, roots)))
    return tiles


def failure_tiles(
    predictions: pd.DataFrame, per_class: pd.DataFrame, roots: Sequence[Path] = (), top: int = 12
) -> tuple[list[Tile], list[tuple[str, list[Tile]]]]:
    """The wrong predictions of highest loss (only those: a right one is no failure), and the
    hardest images of the worst classes that have an error (their right ones captioned so); both
    empty when every image was predicted right (there is no failure to show). The same choice as
    ``evaluate``'s figures (``top_losses``, ``worst_class_rows``). An image in both is decoded
    once (a wrong answer of highest loss is most often among its class's hardest)."""
    made: dict[str, str | None] = {}
    losses = prediction_tiles(top_losses(predictions, top), roots, made)
    examples = [
        (c, prediction_tiles(rows, roots, made))
        for c, rows in worst_class_rows(predictions, per_class)
    ]
    return losses, examples


CAM_BATCH = 4
"""Grad-CAM maps drawn in one pass: on the default ensemble (2 busy cores) 7 maps took 26 s in
one pass against 61 s a map at a time, each answering its image first; a pass of 4 keeps the
count moving."""


def saliency_tiles(
    recognizer: Recognizer,
    shown: dict[str, pd.DataFrame],
    reporter: Reporter,
    roots: Sequence[Path] = (),
) -> dict[str, list[Tile]]:
    """Grad-CAM tiles of each of ``shown``'s rows, by the same keys (seconds each on a CPU: one
    task on screen for them all, where a pass per key showed two tasks of one name), drawn
    :data:`CAM_BATCH` at a time, each counted once drawn (counted before, the last map's minutes
    on a busy machine showed 12/12)."""
    tiles: dict[str, list[Tile]] = {key: [] for key in shown}
    rows = [(key, r) for key, frame in shown.items() for r in frame.itertuples()]
    with reporter.task("Grad-CAM maps", len(rows)) as advance:
        for start in range(0, len(rows), CAM_BATCH):
            batch = rows[start : start + CAM_BATCH]
            reporter.doing(f"drawing {span(start, len(batch), len(rows))} in one pass")
            for (key, _), tile in zip(batch, saliency_batch(recognizer, batch, roots), strict=True):
                tiles[key] += [tile] if tile is not None else []
            advance(len(batch))
    return tiles


def saliency_batch(
    recognizer: Recognizer, rows: Sequence[tuple[str, Any]], roots: Sequence[Path] = ()
) -> list[Tile | None]:
    """The Grad-CAM tile of each evaluated image (a row of predictions.csv), of the class the
    evaluation predicted (the page's, and no int8 answer computed again for it); None for one
    that cannot be read now."""
    images = [open_or_none(r.path, recognizer) for _, r in rows]
    opened = {i: image for i, image in enumerate(images) if image is not None}
    classes = recognizer.classes
    targets = [classes.index(r.predicted) if r.predicted in classes else None for _, r in rows]
    drawn = explain_all(recognizer, list(opened.values()), [targets[i] for i in opened])
    maps = dict(zip(opened, drawn, strict=True))
    return [
        cam_tile(r, *maps[i], classes, roots) if i in maps else None
        for i, (_, r) in enumerate(rows)
    ]


def cam_tile(
    r: Any, picture: Image.Image, target: int, classes: Sequence[str], roots: Sequence[Path]
) -> Tile:
    """The tile of one evaluated image's Grad-CAM map of class ``target``."""
    caption = f"true {r.true} · what made it {classes[target]}"
    return Tile(
        embed_image(picture, 200), caption, r.true != r.predicted, shown_name(r.path, roots)
    )


def open_or_none(path: str, recognizer: Recognizer) -> Image.Image | None:
    """The image at ``path`` as the recognizer opens it; None where it cannot be read now."""
    try:
        return open_image(path, recognizer.draft)
    except UnreadableImageError:
        return None


@renamed_arguments(data_dir="data")
def build_report(
    run: PathGiven,
    out: PathGiven | None = None,
    data: PathGiven | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    grad_cam: bool = True,
) -> Path:
    """Write the HTML report of ``run`` to ``out`` (default ``RUN/report.html``), evaluated on
    ``data`` (``report --data``; ``data_dir`` before 7 December 2026, still taken, warning;
    None: the run's own split folder's test split, where it is there); ``force``:
    write over ``out``, and replace an evaluation of another folder in ``RUN/eval-test``;
    ``grad_cam``: draw the Saliency section's Grad-CAM maps (seconds to minutes each on a busy
    CPU; False: the section says they were left out, and the model is not loaded for them);
    ``reporter`` shows progress (None: nothing is shown). Returns the page's path
    (:func:`write_report` also says which evaluation it shows)."""
    return write_report(run, out, data, reporter, force, grad_cam).out


class WrittenReport(NamedTuple):
    """What :func:`write_report` wrote: the page, and the evaluation whose scores it shows."""

    out: Path
    """The page (``out``, or ``RUN/report.html``)."""
    evaluation: Path
    """The evaluation's folder (``RUN/eval-test``, or the run's latest evaluation), evaluated
    now where it was not current; its ``metrics.json`` holds the page's scores."""


@on_ctrl_c("no page was written: run it again")
@warned_once_per_file()
def write_report(
    run: PathGiven,
    out: PathGiven | None = None,
    data: PathGiven | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    grad_cam: bool = True,
) -> WrittenReport:
    """:func:`build_report`, which returns the page alone, with the evaluation the page shows
    (``report --json`` says both, and the evaluation's headline scores). The page it would write
    over is checked as it starts and again just before the new one takes its name
    (``outputs.report_path``): a ``report.html`` edited during a report of minutes is kept."""
    run, data, reporter = Path(run), as_path(data), or_silent(reporter)
    given = as_path(out)
    out = report_path(run, given, force)
    _, meta = read = read_checkpoint(run)  # once: the page is of this model, whatever lands
    folders = report_folders(data, meta)
    refuse_inside_read(out, folders)
    used = folders.used
    evaluation = load_evaluation(run, used, reporter, meta.data_dir, force, folders.of, read)
    roots, names = [used] if used is not None else [], page_names(out, run, folders, data)
    evaluated, saliency_rows = evaluation_context(run, evaluation, meta.classes, roots, names)
    context = run_context(run, meta, names) | evaluated
    context |= what_to_report(
        meta, context["summary"], evaluated["metrics"], evaluated["evaluated"]
    )
    context["in_short"] = in_short(meta.classes, context)
    context |= saliency_context(run, saliency_rows, reporter, grad_cam, roots, read)
    if folders.shown is not None:
        context |= data_context(folders.shown, meta, reporter, names)
    template = report_template()
    with reporter.task("writing the page", None), staged_file(out) as part:
        # its folder made when new, the file whole or not at all
        if folders.shown is not None:
            context |= picture_context(folders.shown, meta)
        part.write_bytes(with_digest(template.render(**context)))  # an edit told by its digest
        report_path(run, given, force)  # again: a page edited while the report ran is kept
    log.info("wrote %s (%d bytes)", out, out.stat().st_size)
    return WrittenReport(out, evaluation)


class ReportFolders(NamedTuple):
    """The folders a report reads: those of ``report --data`` and the run's own split folder."""

    used: Path | None
    """The split folder whose test split is evaluated: the one given, else the run's, when it
    has a train split; None otherwise."""
    of: Path | None
    """A folder given that is no split folder (``evaluate RUN FOLDER`` evaluated it whole),
    whose latest evaluation the page shows; None otherwise."""
    shown: Path | None
    """The split folder the page's Data section shows (:func:`data_shown`), or None."""


def report_folders(data_dir: Path | None, meta: RunMeta) -> ReportFolders:
    """Which folders the report of the run of ``meta`` reads, ``data_dir`` given or not."""
    given = Path(data_dir) if data_dir is not None else None
    folder = given if given is not None else Path(meta.data_dir) if meta.data_dir else None
    used = folder if folder is not None and (folder / "train").is_dir() else None
    of = given if given is not None and used is None and given.is_dir() else None
    return ReportFolders(used, of, data_shown(used, given, meta))


def refuse_inside_read(out: Path, folders: ReportFolders) -> None:
    """Refuse the page ``out`` inside a folder the report reads (the run's split folder, a folder
    given as ``data``), as evaluate refuses its tables there (a usage error): a page in a class
    folder is a file that is no image, noted by every check of it, and split again with
    ``force`` it is gone with the class folder."""
    for folder in dict.fromkeys(f for f in folders if f is not None):
        refuse_inside(out, folder)


SHORT_NAMED = 12
"""The most classes the page's first words name; more are named as the first few and a count."""


def in_short(classes: Sequence[str], context: dict[str, Any]) -> list[str]:
    """The page's first words, for a reader who is no expert (a class of 15-year-olds, a
    manager): what the model tells apart, how often it was right, its weakest class, and what to
    be careful about, in sentences without a term of the trade; the sections after give the
    figures. The page opened on "What to report", a methods paragraph, F1 and 95% intervals, and
    had no view a teacher could show a class (newcomer64b)."""
    kinds = [str(name) for name in classes]
    named = joined(kinds) if len(kinds) <= SHORT_NAMED else f"{', '.join(kinds[:5])} and more"
    sentences = [f"This model tells apart {len(kinds)} kinds of thing: {named}."]
    sentences.append(right_words(context["metrics"], context["overall"], context["evaluated"]))
    if weakest := weakest_words(context["per_class"]):
        sentences.append(weakest)
    sentences.append(careful_words(len(kinds), context["open_set"]))
    return sentences


def right_words(metrics: EvaluationMetrics, overall: Any, evaluated: dict[str, str]) -> str:
    """How often the first answer was right on the evaluated photos, as a count and a share, and,
    on few, how far the share may be from what many more photos would give."""
    n = metrics.n
    right = round(metrics.top1 * n)
    said = (
        f"Shown {plural(n, evaluated['image'], evaluated['images'])} it was not trained on, its "
        f"first answer was right for {right} ({100 * metrics.top1:.1f}%)."
    )
    if overall.top1_low is None or overall.top1_high is None:
        return said
    low, high = 100 * overall.top1_low, 100 * overall.top1_high
    return f"{said} On many more such photos, expect between {low:.0f}% and {high:.0f}%."


def weakest_words(per_class: Sequence[dict[str, Any]]) -> str | None:
    """The class it got wrong most often (``per_class``: worst first) and what it took it for;
    that every photo was right when none was wrong; None with no class evaluated."""
    if not per_class:
        return None
    worst = per_class[0]
    if worst["top1"] >= 1:
        return "It got every one of those photos right."
    n = int(worst["n_test"])
    right = round(worst["top1"] * n)
    said = f"It did worst on {worst['class']}: right for {right} of its {n} photos"
    confused = str(worst.get("most_confused_with") or "").split(", ")[0]
    if confused and confused != "nan":
        said += f", most often taken for {confused}"
    few = " (too few photos to be sure)" if worst.get("too_few_to_trust") else ""
    return f"{said}{few}."


def careful_words(n_classes: int, open_set: Any) -> str:
    """What to be careful about: it knows only its classes, and a photo of anything else usually
    still gets one of them, however sure it says it is; with an ``evaluate --unknown`` result
    (``open_set``), how many such photos it called "unknown"."""
    said = (
        f"Be careful: it knows only these {n_classes} kinds. A photo of anything else usually "
        'still gets one of them, often with a high percentage; it says "unknown" only for a '
        "photo far from everything it was taught."
    )
    accepted = getattr(open_set, "unknown_accepted", None)
    if accepted is None:
        return said
    n = open_set.figures.n_unknown
    missed = round(n * accepted)
    return (
        f"{said} Of {plural(n, 'photo')} of other things it was tried on, it called "
        f'{n - missed} "unknown" and gave {missed} a class anyway.'
    )


def what_to_report(
    meta: RunMeta, summary: dict[str, Any], metrics: EvaluationMetrics, evaluated: dict[str, str]
) -> dict[str, Any]:
    """The Overview's "What to report": which figure answers which question
    (``methods.which_figure``) and a methods paragraph built from the run's records
    (``methods.methods_paragraph``), the evaluated images named as the page names them
    (``evaluated``: ``eval_dir.evaluated_words``)."""
    from objrec.methods import methods_paragraph, which_figure

    return {
        "which_figure": which_figure(metrics, evaluated["images"]),
        "methods": methods_paragraph(meta, summary, metrics, evaluated["images"]),
    }


def report_template() -> Template:
    """The page's template, with the filters it names classes by, and the words and numbers it
    says its figures with (its globals)."""
    env = Environment(
        autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True
    )
    env.filters["plural"] = plural  # "1 class", never "1 classes"
    env.filters["some_of"] = some_of  # as evaluate names them: "and 1 more" never
    env.filters["shaded"] = shaded_words
    env.filters["below_one"] = below_one  # 0.996, never "1.00, where 1 is always"
    env.filters["three_places"] = three_places  # "-" for a class never answered's precision
    env.globals |= {
        "image_set_meaning": IMAGE_SET_MEANING,
        "score_words": unknown_score_words,
        "typical_image": typical_image,
        "threshold_text": threshold_text,
        "resting_words": resting_words,
        "few_for_a_threshold": FEWEST_FOR_A_THRESHOLD,
        "shaky_advice": shaky_advice,
        "unknown_class_words": unknown_class_words,
        "went_words": went_words,
        "wall_time_words": wall_time_words,
        "finetune_words": finetune_words,
        "tta_views": len(TTA_VIEWS),
    }
    return env.from_string((resources.files("objrec") / "static" / "report.html.j2").read_text())


def shaded_words(few: Sequence[str], n_classes: int) -> str:
    """Which classes the per-class table shades as too few to trust, after its note's rule:
    ``1 of the 3 classes here, shaded: red.``. When every one is (101 classes of 2 test photos
    each, persona39c), "101 of the 101 classes here, shaded: ceiling_fan, ... and 91 more" named
    ten for nothing: it says all are, and which figures to read instead."""
    if len(few) == n_classes > 1:
        return (
            f"All {n_classes:,} classes here are, every row shaded: read the overall scores "
            "above, on all the images together, rather than a class's."
        )
    return (
        f"{len(few)} of the {plural(n_classes, 'class', 'classes')} here, shaded: {some_of(few)}."
    )


TREND_IMAGES = 20
"""The fewest evaluated images each half of the classes (by training images) must have for the
page to say in words what the accuracy-against-training-images plot shows."""


def train_size_words(per_class: pd.DataFrame) -> str:
    """What the accuracy-against-training-images plot shows, in one sentence of this run's
    figures: the classes cut where their training images split them most evenly in two, each
    half's top-1 on all its evaluated images together (``Classes trained on 2-3 images: 71.4% of
    84 test images right (42 classes); on 4-6: 90.8% of 118 (59 classes).``). A catalogue of 101
    classes of 2 to 6 training photos had only the dots, its most telling figure (persona39c).
    "" when the classes have fewer than two training sizes or a half has fewer than
    :data:`TREND_IMAGES` images: too few to say."""
    table = per_class[per_class["n_test"] > 0]
    sizes = sorted(table["n_train"].unique()) if "n_train" in table else []
    if len(sizes) < 2:
        return ""
    cut = min(sizes[1:], key=lambda c: abs(2 * int((table["n_train"] < c).sum()) - len(table)))
    parts = []
    for half in (table[table["n_train"] < cut], table[table["n_train"] >= cut]):
        n = int(half["n_test"].sum())
        if n < TREND_IMAGES:
            return ""
        low, high = int(half["n_train"].min()), int(half["n_train"].max())
        right = float((half["top1"] * half["n_test"]).sum()) / n
        classes = plural(len(half), "class", "classes")
        parts.append((f"{low}" if low == high else f"{low}-{high}", right, n, classes))
    (a, right_a, n_a, classes_a), (b, right_b, n_b, classes_b) = parts
    images = "image" if a == "1" else "images"
    return (
        f"Classes trained on {a} {images}: {100 * right_a:.1f}% of {n_a:,} images right "
        f"({classes_a}); on {b}: {100 * right_b:.1f}% of {n_b:,} ({classes_b}). Classes differ in "
        "more than their photos, so this is a trend across them, not what more photos of one "
        "class would give."
    )


def data_shown(used: Path | None, given: Path | None, meta: RunMeta) -> Path | None:
    """The split folder the page's Data section shows: ``used``, the one whose test split it
    evaluated; for an evaluation of one of a split folder's splits (``report --data DATA/valid``,
    as ``evaluate RUN DATA --split valid`` advises), that split folder, as ``report RUN`` shows it
    (the page had no Data section); for another folder of classes (``--data field-photos``), the
    one the run trained on. None when none of them has a train split."""
    if used is not None:
        return used
    folders = [given.parent] if given is not None and given.name in SPLITS else []
    folders += [Path(meta.data_dir)] if meta.data_dir else []
    return next((folder for folder in folders if (folder / "train").is_dir()), None)


def embed_if_there(path: Path) -> str | None:
    return embed_file(path) if path.exists() else None


def run_context(run: Path, meta: RunMeta, names: Names = as_is) -> dict[str, Any]:
    """The run itself: its metadata, settings (each path of the machine as ``names`` names it),
    summary and training curves."""
    config = meta.train_config.to_dict() if meta.train_config else {}
    return {
        "run": run.resolve(),
        "version": __version__,
        "meta": meta,
        "with_top5": len(meta.classes) > TOP5_CLASSES,  # else always 100%
        "config": {k: names(v) if is_path(v) else v for k, v in config.items()},
        "summary": summary_read(run, meta.digest),
        "curves": embed_if_there(run / "curves.png"),
        "explore": None,
    }


def is_path(value: Any) -> bool:
    """Whether a setting's ``value`` is an absolute path (``cache_dir``, ``weights``): the page
    names it (:class:`PageNames`); one given relative stays as given."""
    return isinstance(value, str) and os.path.isabs(value)


def summary_read(run: Path, model: str | None) -> dict[str, Any]:
    """The run's summary.json; empty, with a warning, when a user or a crash broke it, when it
    describes another model than the one of digest ``model`` (``run_place.mismatched_summary``),
    or when the run's model has none (``run_place.UNFINISHED``): the page leaves out the run's
    times, and says why (check alone said so)."""
    summary = read_summary(run)
    said = None
    if summary is None and (run / SUMMARY).is_file():
        said = damaged_record(run / SUMMARY, "not readable as a JSON object")
    elif summary is None and (run / BEST).is_file():
        said = UNFINISHED.format(run=run)
    elif summary is not None and describes_another_model(summary, model):
        said, summary = mismatched_summary(run), None
    if said is not None:
        log.warning("%s; the report leaves out the run's times", said)
    return summary or {}


WALL_TIME_PARTS = (
    ("features", "image features"),
    ("fit", "head fit"),
    ("calibrate", "calibration"),
)
"""The parts of a run's ``seconds`` (summary.json) the report names, in its words."""


def once_words(quantize: float) -> str:
    """The int8 copy's share of the features' seconds, as ``train`` says it: a first run's
    "Training took 128 s ... image features 124.3 s" hid the 89 s of a copy later runs load."""
    return (
        f"{quantize:.1f} s of the image features went to the body's int8 copy, made once per "
        "network and cache folder and loaded by later runs"
    )


def wall_time_words(summary: dict[str, Any]) -> str:
    """What the report's "Training took N s" covers (:data:`WALL_TIME_COVERS`), from the run's
    summary: where its image features came from (a retrain whose features all came from the
    feature store took 3 s, read as the cost of training), its parts' seconds ("...; every
    image's features from the feature store (263 reused, none computed), not a train from
    scratch; image features 1.0 s, head fit 1.5 s, calibration 0.4 s"), and what train's
    "in all" counts besides (:data:`WALL_TIME_LEAVES`)."""
    seconds = summary.get("seconds") or {}
    counts = FrozenPassCounts.from_json(summary.get("frozen_pass") or {})
    computed, stored = int(counts.computed) + int(counts.derived), int(counts.from_store)
    said = []
    if stored and not computed and counts.cut_computed:
        said.append(
            f"every image's features from the feature store ({stored} reused), fine-tuning's "
            f"{counts.cut_computed} views below its tuned blocks computed"
        )
    elif stored and not computed:
        said.append(
            f"every image's features from the feature store ({stored} reused, none computed), "
            "not a train from scratch, which computes them"
        )
    elif stored:
        said.append(f"{computed} image features computed, {stored} from the feature store")
    elif computed:
        said.append(f"every image's features computed ({computed}), none from the feature store")
    parts = [f"{words} {seconds[key]:.1f} s" for key, words in WALL_TIME_PARTS if key in seconds]
    if parts:
        said.append(", ".join(parts))
    if seconds.get("quantize", 0) >= 1:
        said.append(once_words(seconds["quantize"]))
    return WALL_TIME_COVERS + "".join(f"; {words}" for words in said) + f"; {WALL_TIME_LEAVES}"


WALL_TIME_COVERS = "train's own work, from opening the run to its calibration's end"
"""What the report's "Training took 173 s" counts (``summary.json``'s ``seconds.total``): unsaid,
it read as another total than train's "210s in all" of the same run (newcomer53)."""
WALL_TIME_LEAVES = (
    'train\'s closing "in all" counts its start too (Python and the libraries loading) and '
    "writing the run"
)
"""What train's closing "in all" counts that the run's ``seconds.total`` leaves out."""


def finetune_words(summary: dict[str, Any], min_delta: float = 0.0) -> str:
    """What fine-tuning did, for the page's Training section, from the run's summary (its
    ``finetune`` record, as ``train --json`` prints it): the blocks tuned and for how many epochs,
    the best validation loss before and after, and which model the run keeps. "" without
    fine-tuning (or for a run written before the record)."""
    if not summary.get("finetune"):
        return ""
    tuned = FinetuneRecord.from_json(summary["finetune"])
    before, after = tuned.best_valid_loss_before, tuned.best_valid_loss_after
    lowest = f"{after:.4f}" if isinstance(after, (int, float)) and math.isfinite(after) else "none"
    done = (
        f"Fine-tuning: the network's last {plural(tuned.blocks, 'block')} trained with the "
        f"head for {plural(tuned.epochs_run, 'epoch')} from the head's best epoch "
        f"{tuned.best_epoch_before} (valid loss {before:.4f})"
    )
    if tuned.kept:  # the run's model is the fine-tuned one: its loss is the run's
        kept = summary.get("best_valid_loss", after)
        return f"{done} and lowered its valid loss to {kept:.4f}: the model is the fine-tuned one."
    by = f" by more than {min_delta:g}" if min_delta else ""
    return (
        f"{done} and did not lower its valid loss{by} (their lowest: {lowest}): the model is the "
        f"pretrained network as it was, with the head of epoch {tuned.best_epoch_before}."
    )


PREDICTION_TEXT = ("path", "true", "answer", "predicted", "top5", "seen_in")
"""The columns of ``predictions.csv`` that hold words (class names, paths), never numbers."""


def saliency_context(
    run: Path,
    shown: dict[str, pd.DataFrame],
    reporter: Reporter,
    grad_cam: bool = True,
    roots: Sequence[Path] = (),
    read: tuple[dict[str, Any], RunMeta] | None = None,
) -> dict[str, Any]:
    """The Saliency section's Grad-CAM tiles of ``shown``'s rows (:func:`saliency_tiles`), the
    model loaded for them (from ``read``, ``checkpoint.read_checkpoint``'s, where the page read
    it); without ``grad_cam``, none, and the section says so."""
    if not grad_cam:
        return {key: [] for key in shown} | {"grad_cam_left_out": True}
    with reporter.task("loading the model", None):  # seconds: torchvision's import, the body
        recognizer = Recognizer.load(run, read=read)
    return saliency_tiles(recognizer, shown, reporter, roots)


def evaluation_context(
    run: Path,
    evaluation: Path,
    classes: Sequence[str],
    roots: Sequence[Path] = (),
    names: Names = as_is,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The evaluation's tables, plots and failure galleries, and the rows of its Grad-CAM maps
    (:func:`saliency_context`'s ``shown``); each picture named by its file relative to the first
    of ``roots`` (the data folder) or the evaluated folder, each folder as ``names`` names it;
    ``classes``: the run's."""
    with read_as_written(evaluation / METRICS, run):
        record = EvaluationRecord.read(evaluation)
    folder = record.folder or None
    if folder:
        roots = [*roots, Path(folder)]
    per_class = read_per_class(evaluation, run)
    with read_as_written(evaluation / "predictions.csv", run):
        predictions = read_table(evaluation / "predictions.csv", PREDICTION_TEXT)
    n_gone = find_photos(predictions, folder)
    with read_as_written(evaluation / "most_confused.csv", run):
        confused = read_table(evaluation / "most_confused.csv", ("true", "predicted"))
    wrong = predictions[predictions["true"] != predictions["predicted"]]
    right = predictions[predictions["true"] == predictions["predicted"]]
    top_tiles, worst_examples = failure_tiles(predictions, per_class, roots)
    shown = {
        "saliency_wrong": top_losses(predictions, 6),
        "saliency_right": right.sample(min(6, len(right)), random_state=0),
    }
    return record_context(run, evaluation, record, names) | {
        "evaluated_folder": names(folder),
        "evaluation_dir": names(evaluation),
        "per_class": per_class.to_dict(orient="records"),
        "few_images": FEWEST_TO_TRUST,
        "few_to_measure": FEWEST_WITHOUT_INTERVAL,
        "untested": untested_note(classes, per_class, folder, names(folder)),
        "confused": confused.to_dict(orient="records"),
        "confused_photos": "photos" in confused
        and bool((confused["photos"] != confused["count"]).any()),
        "confusion": embed_if_there(evaluation / "confusion.png"),
        "scatter": embed_if_there(evaluation / "accuracy_vs_train.png"),
        "scatter_words": train_size_words(per_class),
        "n_wrong": len(wrong),
        "n_gone": n_gone,
        "n_wrong_groups": wrong["group"].nunique() if "group" in wrong else len(wrong),
        "top_losses": top_tiles,
        "worst_examples": worst_examples,
    }, shown


def record_context(
    run: Path, evaluation: Path, record: EvaluationRecord, names: Names = as_is
) -> dict[str, Any]:
    """What the page says from the evaluation's ``record`` (its ``metrics.json``): its figures
    (``metrics``; ``overall``, with ``averaged`` where the file records the averages), the
    unknown images' result shown (``open_set``, of the folder ``unknown_folder``, from the
    evaluation in ``open_set_from`` when another's, each as ``names`` names it), the classes not
    taught, the calibration."""
    metrics, folder = record.metrics, record.folder or None
    open_set, open_set_from = open_set_found(run, evaluation, metrics)
    return {
        "record": record,
        "metrics": metrics,
        "overall": metrics.overall,
        "averaged": recorded(metrics.overall.macro_f1),
        "open_set": open_set,
        "open_set_from": names(open_set_from),
        "unknown_folder": names(open_set.folder if open_set else None),
        "untaught": untaught_note(record, evaluated_name(folder)),
        "evaluated": evaluated_words(folder),
        "reliability": reliability_picture(evaluation, temperature_of(metrics), run),
        "calibration": calibration_sentence(metrics),
    }


def read_per_class(evaluation: Path, run: Path) -> pd.DataFrame:
    """The evaluation's ``per_class.csv``, with what an older one lacks: ``n_groups`` (every
    image counted as distinct) and the top-1 interval; ``too_few_to_trust`` by today's rule."""
    with read_as_written(evaluation / "per_class.csv", run):
        per_class = read_table(evaluation / "per_class.csv", ("class", "most_confused_with"))
        if "n_groups" not in per_class:
            per_class["n_groups"] = per_class["n_test"]
        per_class["too_few_to_trust"] = too_few_to_trust(per_class)
        return add_top1_interval(per_class)


def calibration_sentence(m: EvaluationMetrics) -> str:
    """The calibration gap as evaluate, train and the model card say it
    (``calibration.calibration_words``), before the temperature too when there was one; "" for
    an evaluation without one."""
    from objrec.calibration import calibration_words

    c = m.calibration
    if c is None or c.ece is None:
        return ""
    before = c.ece_before_calibration if f"{c.temperature:.3f}" != "1.000" else None
    return calibration_words(c.ece, m.n, c.ece_by_chance, before, c.overconfidence)


def recorded(figure: float | None) -> bool:
    """Whether ``metrics.json`` records ``figure``: NaN is the figure of an earlier version's
    file, which had none (``Overall.from_json``)."""
    return not (isinstance(figure, float) and math.isnan(figure))


def reliability_picture(evaluation: Path, temperature: float | None, run: Path) -> str | None:
    """``reliability.png``, or at a temperature of 1 its one panel drawn again from
    ``reliability.csv`` (``evaluate.reliability_shown``): an evaluation made before evaluate drew
    one showed two identical panels, before and after a calibration that changed nothing."""
    from objrec import plots
    from objrec.evaluate import UNCHANGED, reliability_shown

    table = evaluation / "reliability.csv"
    if temperature is None or f"{temperature:.3f}" != "1.000" or not table.exists():
        return embed_if_there(evaluation / "reliability.png")
    with read_as_written(table, run):
        tables = pd.read_csv(table)
        first = tables[tables["model"] == tables["model"].iloc[0]]
        first = first[list(RELIABILITY_COLUMNS)].apply(pd.to_numeric)  # what the plot reads
    shown = reliability_shown({UNCHANGED: first, "after": first}, temperature)
    with tempfile.TemporaryDirectory() as tmp:
        return embed_file(plots.reliability_diagram(shown, Path(tmp) / "reliability.png"))


RELIABILITY_COLUMNS = ("low", "high", "confidence", "accuracy", "count")
"""The columns of ``reliability.csv`` a reliability diagram is drawn from (besides ``model``)."""


@contextmanager
def read_as_written(path: Path, run: Path) -> Iterator[None]:
    """Refuse, in one sentence naming it, an evaluation's file ``path`` that the block cannot
    read as ``evaluate`` writes it (damaged, cut short, edited): a damaged reliability.csv
    failed the report with pandas' traceback. json's and pandas' parse errors are ValueErrors;
    a missing column or row, a LookupError."""
    try:
        yield
    except (ValueError, LookupError) as exc:
        raise ObjrecError(
            f"{path} cannot be read as `evaluate` writes it (damaged or edited): evaluate the run "
            f"again to write it anew (`evaluate({str(run)!r}, folder)`)"
        ) from exc


def shaky_advice(open_set: OpenSet) -> dict[str, Any] | None:
    """For a stricter threshold's advice that is shaky, what it rests on (``words``) and how many
    points one image more or less moves a share (``points``); None when it is steady. Judged as
    evaluate judges it (``thresholds.advice_rests_on``): the page had looked at the untaught
    photos alone, steady with 500 of them where evaluate called the same advice on 36 test
    images shaky."""
    stricter, figures = open_set.stricter, open_set.figures
    valid = stricter.valid_images if stricter is not None else None
    weighed = stricter is None or stricter.valid_rejected is None  # older: the evaluated images
    known = figures.n_known if weighed else None
    words, fewest = advice_rests_on(figures.n_unknown, valid, known)
    return None if fewest is None else {"words": words, "points": 100 / max(fewest, 1)}


def unknown_class_words(rows: list[dict[str, Any]] | None, stricter: bool = False) -> str:
    """Which classes the images said to be unknown are of, as ``evaluate`` says it
    (``open_set.unknown_by_class``; ``stricter``: at the stricter threshold), and the classes of
    which half or more are, which in use would often get no answer; "" when it does not say. The
    page's "7 of the 315 test images" hid that 2 of them were 2 of the 4 ants (persona38b)."""
    from objrec.open_set import mostly_unknown_words

    if not rows:
        return ""
    named = some_of(
        [f"{quoted(r['class'])} {r['unknown']} of {r['images']}" for r in rows], quote=False
    )
    words = f"{'With it, by' if stricter else 'By'} class: {named}."
    if alarm := mostly_unknown_words(rows, stricter).removeprefix("with it, "):  # said above
        words += f" {alarm[0].upper()}{alarm[1:]}."
    return words


def went_words(
    at: AtThreshold | StricterThreshold | None, images: str, stricter: bool = False
) -> str:
    """Where the evaluated ``images`` went at the threshold of ``at`` (the run's
    ``AtThreshold``, or, ``stricter``, the stricter one offered), as ``evaluate`` counts them:
    their own class, another class, "unknown"; "" for an evaluation written before these
    counts. The page's top-1 with "unknown" counted wrong ran a wrong class and an unknown
    together (newcomer64: 97.85% either way)."""
    went = None if at is None else went_of(at)
    if went is None:
        return ""
    lead = "With it, the" if stricter else "Where the"
    verb = "would go" if stricter else "went"
    return f"{lead} {sum(went)} {images} {verb}: {', '.join(went_parts(went))}."


def threshold_text(unknown: UnknownAnswer | None, value: float) -> str:
    """An unknown threshold ``value`` of the evaluation's ``unknown`` answer as the page rounds
    it: a top probability to 4 decimals, a familiarity to 2, a raw score (older runs) to 4
    significant digits; as it is where that rounding would show it as the run's own threshold (a
    stricter one is above it, however little)."""
    if unknown is not None and unknown.score == "msp":
        form = "{:.4f}"
    else:
        form = "{:.2f}" if unknown is not None and unknown.readable else "{:.4g}"
    text, own = form.format(value), unknown.threshold if unknown is not None else None
    if own is not None and value != own and form.format(own) == text:
        return repr(value)
    return text


def find_photos(predictions: pd.DataFrame, folder: str | None) -> int:
    """Point ``predictions``' paths at their images where they are now (:func:`found_photo`);
    how many are nowhere to be found."""
    found = [found_photo(path, folder) for path in predictions["path"]]
    predictions["path"] = [
        now or path for now, path in zip(found, predictions["path"], strict=True)
    ]
    return found.count(None)


def found_photo(path: str, folder: str | None) -> str | None:
    """Where an image of predictions.csv is now: in the evaluated ``folder`` (absolute in
    metrics.json) by its class folder and name (``mine/ant/1.jpg`` of ``/home/ana/mine`` is
    ``/home/ana/mine/ant/1.jpg``, and so is ``ant/1.jpg``, evaluate run in the folder it
    evaluated: ``evaluate RUN .``), else, when that folder is gone or not recorded, at ``path``
    as evaluate wrote it (as given, relative to the folder evaluate ran in, which a report need
    not run in, so it is tried last, lest it picture another split's photo of the same name); None
    when neither is there (the photos moved, or the run came from another machine)."""
    parts = Path(path).parts
    for start in range(len(parts) - 1):  # the longest tail first, a class folder at least
        if folder and (candidate := Path(folder, *parts[start:])).is_file():
            return str(candidate)
    if (folder is None or not Path(folder).is_dir()) and Path(path).is_file():
        return path
    return None


def evaluated_name(folder: str | None) -> str:
    """``The test split``, or ``field`` for another folder (``evaluate RUN field``)."""
    name = Path(folder).name if folder else "test"
    return f"The {name} split" if name in SPLITS else name


def untested_note(
    classes: Sequence[str], per_class: pd.DataFrame, folder: str | None, shown: str | None = None
) -> str:
    """The run's ``classes`` that have no row in ``per_class`` (no test image in the evaluated
    ``folder``, named ``shown`` on the page), named in one sentence as ``evaluate`` prints it:
    the report's per-class table left them out without a word. "" when every class was
    tested."""
    tested = set(per_class["class"]) if "class" in per_class else set()
    if not (missing := [name for name in classes if name not in tested]):
        return ""
    where = f" in {shown or folder}" if folder else ""
    image = evaluated_words(folder)["image"].split(" of ")[0]  # "test image", "image"
    return (
        f"No {image} of {plural(len(missing), 'class', 'classes')}{where}, so not in this "
        f"table or its means: {some_of(missing, 30)}."
    )


def read_table(path: Path, text: Sequence[str]) -> pd.DataFrame:
    """An evaluation's CSV table, its ``text`` columns (class names, paths) as written: pandas by
    default reads a class named "None", "NA" or "null" as missing (so that its right answers
    compared unequal) and one named "007" as the number 7. An empty cell of them is "", and one
    that evaluate wrote with a ``'`` before it to keep a spreadsheet from taking it for a formula
    (``tables.spreadsheet_cell``) is read without it."""
    columns = pd.read_csv(path, nrows=0).columns
    missing = {c: ["", "nan", "NaN"] for c in columns if c not in text}
    kinds = {c: str for c in columns if c in text}
    table = pd.read_csv(path, dtype=kinds, keep_default_na=False, na_values=missing)
    for column in [c for c in columns if c in text]:
        table[column] = table[column].map(exact_cell)
    return table


def data_context(
    data_dir: Path, meta: RunMeta, reporter: Reporter, names: Names = as_is
) -> dict[str, Any]:
    """The data the run trained on (or the split folder evaluated), named as ``names`` names it:
    counts and sizes, explore's two figures drawn for the page alone, not explore's five files
    written into a folder thrown away: its "writing the tables and plots" on every run would read
    as the evaluation written again."""
    from objrec import plots

    result = explore(data_dir, None, reporter)
    with tempfile.TemporaryDirectory() as tmp, reporter.task("drawing the data's figures", None):
        counts, sizes = Path(tmp) / "counts.png", Path(tmp) / "sizes.png"
        plots.images_per_class(result.counts, counts)  # seconds: the bars of 100 classes
        plots.image_sizes(result.sizes, sizes)
        explored = {
            "counts": embed_file(counts),
            "sizes": embed_file(sizes),
            "n_images": len(result.sizes),
            "n_classes": len(result.counts),
            "totals": result.counts.sum().to_dict(),
            "folder": names(data_dir.resolve()),
        }
    return {"explore": explored, "left_out": left_out_words(read_split_record(data_dir))}


def left_out_words(record: dict[str, Any] | None) -> list[str]:
    """What the split that made the data folder left out of the photo folder, or found wrong in
    it, from its ``split.json`` (``record``: ``split.record.left_out_entry``), a sentence each,
    for the page: the split said it in the terminal only, and a manager read "271 images" never
    knowing that 3 of 274 files were not used, nor that one picture was filed under two
    classes. Nothing from a record without it (a split before 7 December 2026, or none)."""
    left = (record or {}).get("left_out")
    if not isinstance(left, dict):
        return []
    said = []
    if unreadable := left.get("unreadable"):
        one = len(unreadable) == 1
        could = (
            "could not be read as an image and was"
            if one
            else "could not be read as images and were"
        )
        said.append(f"{plural(len(unreadable), 'file')} {could} not used: {some_of(unreadable)}")
    if pairs := left.get("in_two_classes"):
        named = some_of([f"{a} and {b}" for a, b in pairs], quote=False)
        was = "was" if len(pairs) == 1 else "were"
        said.append(
            f"{plural(len(pairs), 'pair')} of pictures in two classes, the same or look-alikes, "
            f"{was} used with both labels, one of them probably wrong: {named}"
        )
    if ignored := left.get("ignored"):
        words = {k: n for k, n in ignored.items() if k in IGNORED_KINDS}
        kinds = [f"{n:,} {IGNORED_KINDS[k][n != 1]}" for k, n in words.items()]
        said.append(f"Other files not used: {'; '.join(kinds)}")
    if said and record and record.get("applied"):
        said.append("An audit plan applied since may have settled some of these")
    return said


def picture_context(data_dir: Path, meta: RunMeta) -> dict[str, Any]:
    """The data the run trained on in pictures: a sample image of each class, augmented views.
    ``augment_used`` is the augmentation the head really saw: ``none`` for a run of no
    augmented view (``aug_views`` 0), which trained on the centre crop alone whatever
    ``augment`` says."""
    config = meta.train_config
    augment = "article" if config is None else config.augment
    if config is not None and config.augmented_views == 0:
        augment = "none"
    return {
        "samples": sample_tiles(data_dir),
        "augmentation": augmentation_tiles(data_dir, meta.data, augment),
        "augment_used": augment,
    }

"""The ``evaluate`` command (metrics, worst classes, calibration, the unknown threshold, in
words) and ``report`` (one HTML page about a run).
"""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from objrec.cli.options import (
    EXISTING,
    FOLDER,
    OUT_DIR,
    OUT_FILE,
    Choice,
    device_option,
    force_option,
    json_option,
    option_help,
    refuse_cache_inside,
    refuse_swapped,
    require_folder,
)
from objrec.cli.output import (
    RichReporter,
    console,
    err,
    logged_warnings,
    percent,
    print_json,
    printable,
    refuse_given_out,
    shown,
    with_warnings,
)
from objrec.cli.sections import Sectioned
from objrec.config import (
    TOP5_CLASSES,
    EvaluateConfig,
    unknown_score_words,
)
from objrec.outputs import EVALUATION_FILES, output_path
from objrec.paths import PathGiven
from objrec.words import (
    NAMED,
    below_one,
    clauses_on_lines,
    joined,
    plural,
    points,
    quoted,
    some_of,
    three_places,
    with_distinct,
)

if TYPE_CHECKING:
    import torch

    from objrec.evaluate import EvaluationResult
    from objrec.evaluation_metrics import (
        AtThreshold,
        CalibrationFigures,
        Comparison,
        EvaluationMetrics,
        Overall,
        StricterThreshold,
        UnknownAnswer,
    )
    from objrec.keeping import KeepingThreshold
    from objrec.kept import KeptThreshold
    from objrec.meta import RunMeta
    from objrec.weak_classes import WeakClass


EVALUATE_SECTIONS = {
    "Options": ("split", "out", "worst", "force", "as_json"),
    "Unknown answer": ("unknown", "keep_threshold", "keep"),
    "Against an earlier run": ("against",),
    "How the answers are computed": ("tta", "device"),
}
"""``evaluate --help``'s headings: the scores first, then the unknown answer and comparisons."""


@click.command(
    cls=Sectioned,
    sections=EVALUATE_SECTIONS,
    short_help="Measure a trained model on a folder's test images.",
    examples=(
        "objrec evaluate run data                          # the test split",
        "objrec evaluate run2 data-fixed --against run     # two runs, same photos",
        "objrec evaluate run data --unknown other_things/  # photos of no class",
    ),
)
@click.argument("run", type=EXISTING)
@click.argument("data", type=EXISTING)
@click.option(
    "--split",
    type=Choice(["train", "valid", "test"]),
    default=EvaluateConfig.split,
    show_default=True,
    help=option_help("split", cls=EvaluateConfig),
)
@click.option(
    "--out",
    type=OUT_DIR,
    show_default="RUN/eval-SPLIT",
    help="Folder for the tables and plots. Without it, RUN/eval-SPLIT for the run's own data "
    "folder, RUN/eval-NAME-HASH for any other; with --tta, the same name ending in -tta; beside a "
    "checkpoint file CKPT.safetensors other than a run's model.safetensors, CKPT-eval-...; so "
    "that no evaluation replaces another's; an evaluation of the same folder there is refreshed "
    "without --force, but for a file you changed there since, which is named and kept.",
)
@click.option(
    "--worst",
    type=click.IntRange(min=1),
    metavar="N",
    default=10,
    show_default=True,
    help="How many worst classes to list. With at most this many classes, every class is listed "
    "(those all right too).",
)
@force_option("Also writes over a file you changed in RUN's own eval-*.")
@click.option(
    "--tta",
    is_flag=True,
    help=option_help("tta", cls=EvaluateConfig) + " The metrics without them are kept too.",
)
@click.option(
    "--unknown",
    type=EXISTING,
    metavar="FOLDER|CSV",
    help="Photos of none of the model's classes, to test the unknown answer. A folder of them, or "
    "predict --csv's table reviewed (a label column, as add --labels reads it): the photos "
    "whose label, else answer, is unknown. First how many of them the run's threshold catches "
    "(answers unknown), then which classes the missed ones got and how well the unknown score "
    "tells them from DATA's (AUROC: 1 tells all apart, 0.5 none; the share that still gets a "
    "class when 95% of DATA's images keep theirs). When a stricter threshold catches more of "
    "them, the one that keeps 95% of the run's validation images, whether it is recommended "
    "(only when it catches at least as large a share of unknown images as it loses of DATA's, "
    "and leaves no class mostly unanswered), both sides of the trade, and how to use it.",
)
@click.option(
    "--against",
    type=EXISTING,
    metavar="OLD_RUN",
    help=option_help("against", cls=EvaluateConfig)
    + " Prints both runs' top-1 side by side, and each class's.",
)
@click.option(
    "--keep-threshold",
    is_flag=True,
    help="Keep the stricter threshold --unknown recommends. With --unknown: keep the threshold it "
    "recommends with RUN (RUN/threshold.json; the model file is not changed), so that "
    "predict, serve and export use it unless given --threshold; a threshold kept before is "
    "recorded in it as previous; removing the file gives RUN its own threshold back. Nothing "
    "is written when none is recommended.",
)
@click.option(
    "--keep",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    metavar="SHARE",
    help="Say the threshold keeping SHARE of the run's validation images. 0.98 says unknown for "
    "at most 2% of them. It is chosen on them alone, whatever split is evaluated, and said with "
    "the share of new photos of its classes it would keep (a 95% interval, from how many "
    "validation images it rests on). Give it to predict, serve, export or the exported script "
    "as --threshold.",
)
@device_option
@json_option("the metrics")
def evaluate(
    run: Path,
    data: Path,
    split: str,
    out: Path | None,
    worst: int,
    force: bool,
    tta: bool,
    unknown: Path | None,
    against: Path | None,
    keep_threshold: bool,
    keep: float | None,
    device: str,
    as_json: bool,
) -> None:
    """Evaluate the model in RUN on DATA: how often it is right, overall and per class, and which
    classes it mistakes for which.
    \f
    Top-1 is the share of images whose most probable class is right; top-5, the share whose class
    is among its five most probable (shown for more than five classes). Calibration says how well
    a probability matches how often such answers are right (ECE: 0 is perfect; before and after
    objrec's correction; reliability.png). The cost of the unknown answer: DATA's images it would
    call unknown at the run's threshold.
    """
    config = EvaluateConfig(split=split, tta=tta, unknown=unknown, device=device, against=against)
    model = refuse_early(run, data, out, force, config, keep_threshold)
    reporter = RichReporter()
    with reporter.loading():  # seconds (torch): not in silence
        from objrec.evaluate import run_evaluation

    read = model_read(run, model)  # the model the refusal read, if it did: not read again
    keeping = keeping_for(run, keep, device, reporter)  # seconds, and refused before minutes
    with logged_warnings() as logged:
        result = run_evaluation(
            run,
            data,
            config,
            out=out,
            reporter=reporter,
            force=force,
            keep_threshold=keep_threshold,
            read=read,
        )
    kept = result.threshold_kept
    if as_json:
        print_json(evaluated_json(result, worst, keep_threshold, logged) | keeping_json(keeping))
    print_warning(result)  # before the scores it qualifies, where a reader meets it first
    if not as_json:
        print_evaluated(result, (run, data), split, worst, keep_threshold, kept, keeping)


def print_warning(result: EvaluationResult) -> None:
    """The result's warning on stderr, if any: a note where the images are the run's own
    validation images, evaluated on purpose (``own_validation_images``), else a warning."""
    if result.warning:
        said = "note:" if result.own_validation_images else "[bold red]warning:[/]"
        err.print(f"{said} {escape(result.warning)}", highlight=False)


def keeping_for(
    run: Path, keep: float | None, device: str, reporter: RichReporter
) -> KeepingThreshold | None:
    """``--keep``'s threshold (:func:`objrec.keeping.threshold_keeping`), None without it."""
    if keep is None:
        return None
    from objrec.keeping import threshold_keeping

    return threshold_keeping(run, keep, device=device, reporter=reporter)


def keeping_json(keeping: KeepingThreshold | None) -> dict[str, Any]:
    """``--json``'s ``keeping`` (with ``--keep`` only): the :class:`KeepingThreshold`'s fields."""
    from dataclasses import asdict

    return {} if keeping is None else {"keeping": asdict(keeping)}


def keeping_lines(k: KeepingThreshold, run: Path) -> list[str]:
    """``--keep``'s threshold in words, how far new photos may stray from its share, and how
    to use it."""
    n = k.validation_images
    value = repr(k.threshold)
    return [
        f"to keep {k.keep:.2%} of the run's validation images: threshold {value}, which keeps "
        f"{round(k.kept * n)} of {n} ({k.kept:.2%})",
        f"  on new photos of its classes, expect {k.kept_low:.1%} to {k.kept_high:.1%} kept "
        f"(95% interval, as it rests on {plural(n, 'validation image')});",
        "  a few dozen photos stray further from it by chance alone",
        f"  use it: objrec predict {shlex.quote(shown(run))} PHOTOS --threshold {value} "
        "(serve, export and the exported script take --threshold too)",
    ]


def evaluated_json(result, worst: int, keep_threshold: bool, logged: list[str]) -> dict:
    """evaluate's ``--json``: the metrics, the folder they were written to (``out``, as split's
    and audit's say theirs), what ``keep_threshold`` kept, and the warnings."""
    extra: dict[str, Any] = {"out": str(result.out) if result.out else None}
    if keep_threshold:
        kept = result.threshold_kept
        extra["threshold_kept"] = kept.record if kept else None
    return with_warnings(result.to_json(worst) | extra, [*logged, result.warning or ""])


def refuse_early(
    run: Path,
    data: Path,
    out: Path | None,
    force: bool,
    config: EvaluateConfig,
    keep_threshold: bool,
) -> tuple[RunMeta, bytes] | None:
    """What ``evaluate`` refuses from the command line and the files alone, before the libraries
    load, so that a refusal is answered at once: RUN and DATA given the other way round, a
    ``--keep-threshold`` without ``--unknown`` or an ``--unknown`` without images, a DATA that is
    no folder, a cache folder inside what it reads (``refuse_cache_inside``), then the folder it
    would write to (:func:`refuse_outputs`, which returns the model when it read it)."""
    from objrec.run_files import require_checkpoint_file

    refuse_swapped("evaluate", run, data)
    refuse_unknown(keep_threshold, config.unknown)
    refuse_data(data)
    require_checkpoint_file(run)  # a folder that is no run said at once, not after the import
    unknown = [Path(config.unknown)] if config.unknown is not None else []
    refuse_cache_inside(config.cache_dir, data, *unknown, run=run)
    return refuse_outputs(run, data, out, force, config)


def print_evaluated(
    result: EvaluationResult,
    folders: tuple[Path, Path],
    split: str,
    worst: int,
    keep_threshold: bool,
    kept: KeptThreshold | None,
    keeping: KeepingThreshold | None = None,
) -> None:
    """``evaluate``'s text, after its warning: the scores (:func:`print_evaluation`, ``worst``
    classes), what ``--keep-threshold`` kept (``kept``, None when nothing was), ``--keep``'s
    threshold (``keeping``), the comparison with ``--against``'s run, and what to run next on
    ``folders`` (RUN, DATA) and ``split``."""
    from objrec.weak_classes import weak_classes

    run, data = folders
    print_evaluation(result, worst, run, kept=kept is not None)
    if keep_threshold:
        console.print(kept_threshold_line(run, kept), markup=False, highlight=False)
    if keeping is not None:
        console.print("\n".join(keeping_lines(keeping, run)), markup=False, highlight=False)
    print_next_steps(run, data, result.out, split, weak_classes(result))


TABLES = (".csv", ".tsv")
"""The names of a table given as DATA (:func:`refuse_data`)."""


def refuse_data(data: Path) -> None:
    """DATA that is not a folder (exit 2, before anything is read); a table, as a reviewed
    ``predict --csv`` one is, which ``add --labels`` and ``--unknown`` read, said where it goes,
    not "a file, not a folder" alone."""
    if data.is_file() and data.suffix.lower() in TABLES:
        raise click.BadParameter(
            f"{data} is a table, not a folder of classes: a reviewed predict --csv table's "
            f"labelled photos go into a split folder with objrec add DATA --labels {data} (then "
            f"evaluate that folder), and its photos labelled unknown to --unknown {data}",
            param_hint="'DATA'",
        )
    require_folder(data, "DATA")


def refuse_outputs(
    run: Path, data: Path, out: Path | None, force: bool, config: EvaluateConfig
) -> tuple[RunMeta, bytes] | None:
    """The folder the evaluation writes to refused before the libraries load, from the files
    alone, so that the refusal is the first thing said, not after seconds of loading: a given
    --out (``refuse_given_out``; one inside the --unknown folder, whose charts would be read as
    photos the next time), else RUN's own eval-* folder (an evaluation of another folder
    there, or current results this one would drop: ``eval_dir.check_eval_dir``). The model, when
    it was read for that (its metadata and the file's bytes: :func:`model_read`)."""
    from objrec.eval_dir import refuse_inside_unknown, refuse_own_eval_dir

    if out is not None:
        refuse_inside_unknown(output_path(out), config.unknown)
    refuse_given_out(out, force, EVALUATION_FILES, data)
    if out is not None or force:
        return None
    return refuse_own_eval_dir(run, data, config)


def model_read(
    run: Path, model: tuple[RunMeta, bytes] | None
) -> tuple[dict[str, torch.Tensor], RunMeta] | None:
    """The model of ``run`` as the early refusal read it (:func:`refuse_outputs`), as
    ``evaluate`` takes it (``read``: its tensors and metadata), so that the file is not read
    and hashed again (None: it was not read)."""
    if model is None:
        return None
    from objrec.checkpoint import tensors_of
    from objrec.run_files import checkpoint_file

    meta, data = model
    return tensors_of(checkpoint_file(run), data), meta


def refuse_unknown(keep_threshold: bool, unknown: PathGiven | None) -> None:
    """``--keep-threshold`` without ``--unknown``: there is nothing it could keep (exit 2); an
    ``--unknown`` that holds no images (exit 1). Both from the command line and the folder alone,
    before the libraries load."""
    if keep_threshold and unknown is None:
        raise click.UsageError(
            "--keep-threshold needs --unknown FOLDER|CSV: the threshold it keeps is the stricter "
            "one evaluate recommends from photos of none of the classes"
        )
    if unknown is not None:
        from objrec.labels import unknown_images

        unknown_images(Path(unknown))


def kept_threshold_line(run: Path, kept: KeptThreshold | None) -> str:
    """What ``--keep-threshold`` did, in a sentence (``kept``: None when nothing was)."""
    if kept is None:
        return (
            "--keep-threshold: nothing kept, no stricter threshold is recommended here; "
            f"{shown(run)} is unchanged"
        )
    earlier = kept.previous
    was = f"it was {kept.replaced!r}"
    if earlier and earlier[0].model == kept.model:
        was += f", kept on {earlier[0].kept_on[:10]}, now under previous"
    elif earlier:  # kept for a model since replaced: evaluate used the run's own, not that one
        when = earlier[0].kept_on[:10]
        was += f", the run's own; the one kept on {when} for an earlier model is now under previous"
    said = (
        f"kept unknown below {kept.threshold!r} with {shown(run)}, in {shown(kept.path)} ({was}; "
    )
    if not kept.current:  # a retrain landed while it was evaluated
        return said + (
            f"kept for the model evaluated, which {shown(run)} no longer holds: a retrain replaced "
            "it since): predict, serve and export do not use it; evaluate the run again with "
            "--keep-threshold to keep one for its model now"
        )
    return said + (
        "the model file, with the run's own threshold, is unchanged): predict, serve and export "
        "use it unless given --threshold; remove the file to give the run its own back"
        + stale_export_note(run, kept.threshold)
    )


def stale_export_note(run: Path, threshold: float) -> str:
    """Where ``run`` holds an export written with another unknown threshold than the one just
    kept, that its files (model_infer.py, the sidecar) still answer by theirs, and how to write
    them again (:func:`kept.stale_export`); "" where it holds none, or one of this threshold."""
    from objrec.kept import stale_export

    stale = stale_export(run, threshold)
    if stale is None:
        return ""
    sidecar, written = stale
    return (
        f"; the export in {shown(run)} still answers unknown below {written!r}, as "
        f"{shown(sidecar)} says: `objrec export {shlex.quote(shown(run))} --force` writes it "
        "again with the kept one"
    )


WIDE_INTERVAL = 0.05
"""A top-1 whose 95% interval is wider than this (5 points: under about 300 test images at 95%)
says how far it may be from the truth."""


def few_images_line(m: Overall) -> str | None:
    """How far top-1 (``m``: the overall figures) on few test images may be from the model's
    share right on many more photos like them: 32 photos all right read "100.00%", and a user
    must be told that a second set of 32 could score several points lower. None when its
    interval is narrow.
    The interval rests on the distinct photos (near-duplicates count once), so when they are
    fewer than the images the line says they are few ("500 images are few" of 20 photos read
    wrong), after the near-duplicates line that said how many images they are (both lines said
    "117 images (116 distinct photos)", back to back), and what one photo weighs: "one is 0.2
    points" of 500 frames of 20 photos said the opposite of few, where a photo and its frames
    are 5 points. The interval is of the share of those photos right (``top1_photos``), said
    where near-duplicates make it another figure than top-1."""
    from objrec.metrics import wilson_interval

    n = m.n  # near-duplicates: the interval of the distinct photos, as wide as they say
    distinct = m.n_groups or n
    photos = m.top1 if m.top1_photos is None else m.top1_photos
    low, high = wilson_interval(photos, distinct)
    if not n or high - low <= WIDE_INTERVAL:
        return None
    counted = plural(distinct, "distinct photo") if distinct < n else plural(n, "image")
    few = f"{counted} {'is' if distinct == 1 else 'are'} few"
    one = "one is" if distinct == n else "a photo with its near-duplicates is on average"
    now = f" ({percent(photos)} of these photos now)" if photos_differ(m.top1, photos) else ""
    return (
        f"{few}: {one} {100 / distinct:.1f} points of top-1, and on many more photos like them the "
        f"model would likely get between {percent(low)} and {percent(high)} right{now} (a 95% "
        "interval)"
    )


def print_evaluation(
    result: EvaluationResult, worst: int, run: Path | None = None, kept: bool = False
) -> None:
    """``objrec evaluate``'s text: the overall metrics, ``--against``'s comparison (the question
    asked, next to the figures it compares), the worst classes, the classes it had no image of,
    the averages (not of every image right: all 1.000) and the confidence lines (``kept``: the
    recommended threshold was just kept with ``run``)."""
    print_scores(result)
    if result.against is not None and run is not None:
        print_against(result.against, run, worst)
    print_worst(result, worst)
    for line in mixed_pair_lines(result):
        console.print(line, markup=False, highlight=False)
    if result.metrics.overall.top1 < 1:  # every image right: precision, recall, F1 all 1.000
        console.print(averages_table(result.metrics.overall))
    evaluated = f"the images of {shown(result.folder)}"
    for line in confidence_lines(result.metrics, evaluated, run, kept):
        console.print(line, markup=False, highlight=False)
    console.print(files_line(result), markup=False, highlight=False)


def print_scores(result: EvaluationResult) -> None:
    """evaluate's first lines: the images evaluated (which set), the overall scores and how far
    they can be trusted on so few, without --tta's views, the classes it had no image of."""
    m, n_classes = result.metrics.overall, len(result.classes)
    console.print(
        f"evaluated {shown(result.folder)}: {image_set_words(result)}",
        markup=False,
        highlight=False,
    )
    console.print(
        f"{plural(m.n, 'image')}: top-1 {percent(m.top1)} (the first guess right)"
        f"{top5_text(m.top5, n_classes, explained=True)}, loss {m.loss:.4f} (lower is "
        f"better); mean per class, each counting the same: top-1 "
        f"{percent(m.mean_class_top1)}{top5_text(m.mean_class_top5, n_classes)}"
    )
    if result.near_duplicates:  # how many distinct photos, before the line saying they are few
        console.print(f"near-duplicates: {result.near_duplicates}", markup=False, highlight=False)
    if line := few_images_line(m):
        console.print(line, markup=False, highlight=False)
    if p := result.metrics.without_tta:
        from objrec.transforms import TTA_VIEWS

        console.print(
            f"without --tta (one view of each image, not {len(TTA_VIEWS)}): top-1 "
            f"{percent(p.top1)}{top5_text(p.top5, n_classes)}"
        )
    if missing := result.classes_without_images:
        console.print(
            f"no image of {plural(len(missing), 'class', 'classes')} in {shown(result.folder)}, so "
            f"not in the per-class tables and means: {some_of(missing)}",
            markup=False,
            highlight=False,
        )


def files_line(result: EvaluationResult) -> str:
    """Where the evaluation's files are; with ``--unknown``, the file that names each of its
    photos and the run's answer to it (the lines above count the missed by class only); with
    ``--against``, the earlier run's evaluation for the comparison (a line of its own, after the
    comparison's notes, made one more of the last)."""
    line = f"per-class table, confusion matrix and plots in {shown(result.out)}"
    if result.unknown_predictions is not None and result.out is not None:
        table = shown(result.out / "unknown_predictions.csv")
        line += f"; each unknown image's answer, the missed first, in {table}"
    c = result.against
    if c is not None and c.out:
        line += (
            f"; {shown(c.run)}'s evaluation for the comparison in {shown(c.out)} (its own eval-* "
            "folders left as they were)"
        )
    return line


def print_next_steps(
    run: Path, data: Path, out: Path | None, split: str = "test", weak: Sequence[WeakClass] = ()
) -> None:
    """What to run after ``evaluate``, as ``demo`` and ``train`` end: the HTML page about the run
    (``--data`` the evaluated folder unless ``out`` is the evaluation it shows already, the run's
    own test split's) and the audit of DATA for likely wrong labels (with the run's body and
    features); then for each class ``weak`` beyond chance (``weak_classes``), what may help it
    (:func:`weak_steps`). ``report --data DATA`` shows DATA's test split: after ``--split valid``
    it showed the test split's evaluation, not the one just made; ``--data DATA/valid`` shows
    that one. No report is advised for an evaluation it cannot find (:func:`report_finds`)."""
    from objrec.data import is_split_folder
    from objrec.outputs import same_file
    from objrec.run_files import output_beside

    where, folder = shlex.quote(shown(run)), shlex.quote(shown(data))
    test_split = split == "test" and is_split_folder(data)  # report evaluates it where missing
    evaluated = data / split if split != "test" and is_split_folder(data) else data
    shows_this = out is not None and same_file(Path(out), output_beside(run, "eval-test"))
    report = f"objrec report {where}"
    report += "" if shows_this else f" --data {shlex.quote(shown(evaluated))}"
    page = (report, "one HTML page: the results, the confusions and the images it got wrong")
    audit = (
        f"objrec audit {folder} --run {where}",
        "likely wrong labels, near-duplicates, outliers",
    )
    if weak:
        audit = (audit[0], f"{audit[1]}; fix a weak class's labels before adding photos")
    steps = [page, audit] if test_split or report_finds(run, out) else [audit]
    steps += [*weak_steps(weak, data, split), serve_step(where)]
    console.print("next, try:", highlight=False)
    for command, what in steps:
        said = f"{escape(command)}  " if command else ""
        console.print(f"  {said}[dim]# {escape(what)}[/]", highlight=False)


def weak_steps(weak: Sequence[WeakClass], data: Path, split: str) -> list[tuple[str, str]]:
    """For each class ``weak`` beyond chance, the add of more photos of it into DATA (a split
    folder: add places them in its splits) and what they should show (``WeakClass.words``);
    without a command where DATA is no split folder. evaluate named lobster its worst class,
    most taken for crayfish, and said nothing of what to do about it (newcomer60, 2)."""
    from objrec.data import is_split_folder

    split_folder = is_split_folder(data)
    image = f"{split} image" if split_folder else "image"
    folder = shlex.quote(shown(data))
    return [
        (
            f"objrec add {folder} NEW_PHOTOS --class {shlex.quote(w.name)}" if split_folder else "",
            w.words(image),
        )
        for w in weak
    ]


def serve_step(where: str) -> tuple[str, str]:
    """The page to try the model on, as the last step ``evaluate`` and ``demo`` advise: a
    Teachable Machine user looked for it and found it in no command's advice (teachable42)."""
    return f"objrec serve {where}", "a page in your browser to try it: drop photos on it"


def report_finds(run: Path, out: Path | None) -> bool:
    """Whether ``objrec report`` finds the evaluation written to ``out``: it reads ``RUN/eval*``
    (beside a checkpoint file, ``CKPT-eval*``), where evaluate writes unless given ``--out``.
    `evaluate RUN FOLDER --out elsewhere` advised `report RUN --data FOLDER`, which then said
    "no evaluation of FOLDER by its model yet: evaluate it there first"."""
    from objrec.run_files import output_beside

    if out is None:
        return True
    out, beside = Path(out).resolve(), output_beside(run, "eval")
    return out.parent == beside.parent.resolve() and out.name.startswith(beside.name)


def print_against(c: Comparison, run: Path, worst: int) -> None:
    """``--against``'s comparison: both runs' top-1 side by side on the same images of the
    classes both know, the images one got right and the other wrong, and the classes whose top-1
    changed most."""
    old, new = shown(c.run), shown(run)
    for line in against_heading(c, old):
        console.print(line, markup=False, highlight=False)
    table = Table("run", "top-1", "mean per class top-1")
    table.add_row(Text(old), percent(c.top1_against), percent(c.mean_class_top1_against))
    table.add_row(Text(new), percent(c.top1), percent(c.mean_class_top1))
    points = (c.top1 - c.top1_against, c.mean_class_top1 - c.mean_class_top1_against)
    table.add_row("change", *(f"{100 * value:+.2f} points" for value in points))
    console.print(table)
    for line in [chance_line(c, old, new), *against_notes(c, old, new)]:
        console.print(line, markup=False, highlight=False)
    changed = [row for row in c.per_class if row["change"] != 0]
    if changed:
        console.print(against_table(changed, old, new, worst))


def against_heading(c: Comparison, old: str) -> list[str]:
    """The comparison's first line: both runs scored now on the same images, and what ``old``
    scored on its own evaluation, when known (after a label fix, both are scored on the fixed
    test set: "+0.00 points" read as if the fix did nothing, while old's own score had been on
    the images as they were). The image sets' fingerprints are in ``--json`` and metrics.json:
    three of them in hex made the comparison hard to take in."""
    head = (
        f"against {old}: both runs on the same {plural(c.n, 'image')} of the "
        f"{plural(len(c.classes), 'class', 'classes')} both know, each scored now on their "
        "current files and labels"
    )
    own = c.own_evaluation
    if own is None:  # none, of another model, or an older metrics.json
        return [head]
    where = shown(own.out)
    if own.image_set and own.image_set == c.image_set:
        return [f"{head} ({old}'s own evaluation, {where}, was on these same ones)"]
    if not own.image_set:  # an evaluation from before image sets were recorded
        return [
            head,
            f"{old} scored {percent(own.top1)} top-1 on its own evaluation ({where}), which "
            "did not record which images and labels it was on; on these it scores "
            f"{percent(c.top1_against)}",
        ]
    now = percent(c.top1_against)
    why = (
        ", the same score"  # no difference to explain
        if now == percent(own.top1)
        else ": the same model, so that difference is the test set's, not a run's"
    )
    return [  # "..., of other images or labels than these; ..." was read twice
        head,
        f"{old}'s own evaluation ({where}) was on other images or labels than these: it "
        f"scored {percent(own.top1)} top-1 there and scores {now} on these{why}",
    ]


CHANCE_RULE = (
    "two equally good runs differ at least this much more often than 1 time in 20 (McNemar's "
    "exact test on the images only one run got right)"
)
"""What "could be chance" means in ``evaluate --against``'s output (``compare.chance_fields``)."""


def chance_line(c: Comparison, old: str, new: str) -> str:
    """The images one run got right and the other wrong, and whether the top-1 change is more
    than chance gives on that many: a 1-image change among 111 read as "-0.90 points" with no
    word that it shows nothing."""
    counted = (
        f"{images_words(c.fixed, c.fixed_photos)} right in {new} and wrong in {old}, "
        f"{images_words(c.broken, c.broken_photos)} wrong in {new} and right in {old}"
    )
    if c.within_chance is None or c.p_value is None:  # an older metrics.json
        return counted
    if not c.fixed + c.broken:
        return "no image right in one run and wrong in the other: no difference between them"
    if c.within_chance:
        these = "this image" if c.n == 1 else f"these {c.n:,} images"
        return (
            f"{counted}: within chance: on {these}, two equally good runs often "
            "differ this much; it does not show either run is better (McNemar's exact test, "
            f"{p_words(c.p_value, 2)})"
        )
    return (
        f"{counted}: more than chance, two equally good runs differ this much less than 1 time "
        f"in 20 (McNemar's exact test, {p_words(c.p_value)})"
    )


def images_words(images: int, photos: int | None = None) -> str:
    """``14 images (1 distinct photo)``: ``images``, and the distinct ``photos`` among them
    (which McNemar's test counts; None: each image one) where they are fewer."""
    photos = images if photos is None else int(photos)
    distinct = f" ({plural(photos, 'distinct photo')})" if photos != images else ""
    return plural(int(images), "image") + distinct


def p_words(p_value: float, places: int = 3) -> str:
    """``p = 0.031``, or ``p < 0.001`` below that: three decimals said 0.000, which it never is.
    A p that rounds to the cut-off but is not it gets more digits: at three decimals p = 0.0501,
    within chance, and 0.0499, more than chance, would both read "p = 0.05", the cut-off itself."""
    from objrec.chance import CHANCE

    if p_value < 0.001:
        return "p < 0.001"
    text = f"{p_value:.{places}f}"
    while float(text) == CHANCE != p_value and places < 12:
        places += 1
        text = f"{p_value:.{places}f}"
    return f"p = {text}"


def against_notes(c: Comparison, old: str, new: str) -> list[str]:
    """What the comparison leaves out, and the compared images either run trained on (where the
    earlier run's evaluation for it is: :func:`files_line`)."""
    notes = []
    if c.only_here:
        notes.append(
            f"left out: the images of {some_of(c.only_here)}, which {old} was not taught; "
            f"{new} answered {plural(c.answered_only_here, 'image')} of the compared ones "
            "with such a class (counted wrong)"
        )
    gone = [name for name in c.only_against if name not in c.untold]
    if gone:
        notes.append(f"left out: the images of {some_of(gone)}, unknown to {new}")
    notes += moved_note(c, old) + split_notes(c, old) + untold_note(c, old, new)
    for run, seen in ((old, c.seen_against), (new, c.seen_here)):
        if seen:
            are = f"{seen} of the {c.n} compared images {'is' if seen == 1 else 'are'}"
            notes.append(
                f"warning: {are} {run}'s own training or validation "
                f"{'image' if seen == 1 else 'images'} (the same file contents), so its top-1 "
                "here overstates it; "
                "a folder split again keeps each image's split with split --like OLD_SPLIT"
            )
    return notes


def moved_note(c: Comparison, old: str) -> list[str]:
    """One line for the earlier run's classes renamed or merged since (``compare.
    earlier_classes_moved``), or none: ``dolphin is now dolphins; windsor_chair is now part of
    chair``, and that ``old``'s answers of them count as the new names'."""
    said = [f"{was} is now {now}" for was, now in c.renamed.items()]
    said += [f"{was} is now part of {now}" for was, now in c.merged.items()]
    if not said:
        return []
    return [
        f"{'; '.join(said)} (the same photos, by their contents): {old}'s answers of the old "
        "name count as the new one's"
    ]


def split_notes(c: Comparison, old: str) -> list[str]:
    """One line per class of the earlier run split into several since (``compare.ClassesMoved``):
    ``seat is now chair (7 images) and stool (5 images) ...``, its images left out."""
    notes = []
    for was, now in c.split.items():
        total = sum(now.values())
        left_out = "this image is" if total == 1 else f"these {plural(total, 'image')} are"
        parts = joined(
            [f"{name} ({plural(n, 'image') if n else 'none here'})" for name, n in now.items()]
        )
        notes.append(
            f"{was} is now {parts} (the same photos, by their contents): {old} was taught them as "
            f"one class, so its answer {was} is neither right nor wrong on them; {left_out} "
            "left out of the comparison"
        )
    return notes


def untold_note(c: Comparison, old: str, new: str) -> list[str]:
    """The earlier run's classes missing here whose photos could not be looked for: it records
    no class of its images (an older objrec) and its data folder holds none of them now."""
    untold = c.untold
    if not untold:
        return []
    one = len(untold) == 1
    return [
        f"left out: the images of {some_of(untold)}, unknown to {new}; whether "
        f"{'it was' if one else 'they were'} renamed, merged or split since cannot be told: "
        f"{old} records no class of its images (an older objrec trained it) and its data folder "
        f"holds no such class folder now, so {'its' if one else 'their'} photos under another "
        f"class {old} knows count as {old}'s errors"
    ]


def against_table(changed: list[dict[str, Any]], old: str, new: str, shown: int) -> Table:
    """The first ``shown`` of the classes whose top-1 ``changed``, the biggest change first:
    images, top-1 before and now; the caption says whether all gained, all lost or some each."""
    gained = sum(row["change"] > 0 for row in changed)
    lost = len(changed) - gained
    caption = f"{plural(len(changed), 'class', 'classes')} changed"
    if lost and gained:
        caption += f": {gained} gained, {lost} lost; the biggest change first"
    else:
        way = "lost" if lost else "gained"
        caption += f", {way}" if len(changed) == 1 else f", all {way}; the biggest change first"
    judged = [row for row in changed if "within_chance" in row]  # absent: an older metrics.json
    if judged:
        chance = sum(bool(row["within_chance"]) for row in judged)
        caption += f"\n{chance} of {len(changed)} could be chance: {CHANCE_RULE}"
        caption += many_tests_note(judged)
    heads = ("class", "images", escape(old), escape(new), "change")  # paths are never markup
    table = Table(*heads, *(("could be chance",) if judged else ()), title="Top-1 per class")
    table.caption = caption
    for row in sorted(changed, key=lambda row: -abs(row["change"]))[:shown]:
        table.add_row(
            Text(str(row["class"])),
            str(row["n"]),
            percent(row["top1_against"]),
            percent(row["top1"]),
            f"{100 * row['change']:+.1f} points",
            *((chance_cell(row),) if judged else ()),
        )
    return table


def many_tests_note(judged: list[dict[str, Any]]) -> str:
    """When several classes could each read "no" (at least ``fewest_beyond_chance`` images
    changed), how many of them two equally good runs would show as "no" by chance alone (each
    class is tested at 1 in 20, so with 14 of them a "no" somewhere is more likely than not):
    a "no" among many classes showed less than it read as. "" for fewer than 2."""
    from objrec.compare import CHANCE, fewest_beyond_chance

    fewest = fewest_beyond_chance()
    tested = sum(photos_changed(row) >= fewest for row in judged)
    if tested < 2:
        return ""
    some = 1 - (1 - CHANCE) ** tested
    return (
        f"\n{tested} classes changed enough to be judged ({fewest} or more distinct photos "
        f"each): were the runs equally good, up to {tested * CHANCE:.2g} of them would read "
        f'"no" by chance alone on average, and at least one would up to {some:.0%} of the '
        'time, so a "no" among many classes is weak evidence on its own'
    )


def chance_cell(row: dict[str, Any]) -> str:
    """``yes, 1 image`` / ``no, 7 images`` / ``yes, 9 images (1 distinct photo)``: whether a
    class's change could be chance, and how many of its images (and distinct photos, where
    fewer) changed answer."""
    changed = int(row["fixed"]) + int(row["broken"])
    return (
        f"{'yes' if row['within_chance'] else 'no'}, {images_words(changed, photos_changed(row))}"
    )


def photos_changed(row: dict[str, Any]) -> int:
    """The distinct photos one run got right and the other wrong (images, in an older record)."""
    fixed, broken = row.get("fixed_photos", row["fixed"]), row.get("broken_photos", row["broken"])
    return int(fixed) + int(broken)


def image_set_words(result: EvaluationResult) -> str:
    """The evaluated images' fingerprint, named after their split (``test set 3f9a1c2b``), and
    what it is for: scores compare only between evaluations that show the same one."""
    from objrec.data import IMAGE_SET_MEANING, SPLITS

    folder = result.folder.name if result.folder else ""
    kind = folder if folder in SPLITS else "image"
    return f"{kind} set {result.image_set} ({IMAGE_SET_MEANING})"


def score_words(u: UnknownAnswer, threshold: float) -> tuple[str, str]:
    """The unknown threshold in words: on the top probability, on the familiarity (with its
    scale, of the images it was scaled on: ``u.scaled_on``; the score's name is in
    ``metrics.json``), or on the raw feature score of a run trained before the familiarity (no
    scale to explain, so the score is named); and that scale or name in brackets, or nothing."""
    from objrec.meta import typical_image

    if u.score == "msp":
        return f"a top probability of {threshold:.4f}", ""
    if u.readable:
        return f"familiarity {threshold:.2f}", f" ({typical_image(u.scaled_on)} scores 1)"
    return f"score {threshold:.4g}", f" ({unknown_score_words(str(u.score))})"


def threshold_words(u: UnknownAnswer) -> list[str]:
    """``  unknown below familiarity 0.00 (...), the run's threshold``: the threshold in use
    (``u``: the run's unknown answer), and whose: the run's own, or one ``evaluate
    --keep-threshold`` kept with the run (when). "Below familiarity 0.00" alone read as no
    threshold at all: the familiarity is scaled so that the run's own threshold is 0."""
    assert u.score is not None and u.threshold is not None  # an evaluation of a threshold
    value, scale = score_words(u, u.threshold)
    if u.kept_on:
        return [f"  unknown below {value}{scale}, kept from evaluate --unknown on {u.kept_on[:10]}"]
    lines = [f"  unknown below {value}{scale}, the run's threshold"]
    images = u.images  # None in older metrics.json
    if images is None:
        return lines
    from objrec.thresholds import resting_clauses

    return lines + [f"  {clause}" for clause in resting_clauses(images, cure=False)]


def confidence_lines(
    metrics: EvaluationMetrics,
    evaluated: str = "these images",
    run: Path | None = None,
    kept: bool = False,
) -> list[str]:
    """Calibration, then the unknown answer, each figure first and on a short line of its own:
    without ``--unknown``, the share of ``evaluated`` answered and the threshold; with it, what
    to do first (:func:`unknown_lead_lines`), the calibration, :func:`open_set_lines`, then a
    stricter threshold when one catches more unknown images (:func:`stricter_lines`; ``kept``:
    it was just kept with ``run``), else why none is suggested (:func:`no_stricter_lines`). The
    temperature and threshold come from the validation split, the figures from ``evaluated``.
    The calibration's sentence, 361 characters on one line, is on lines a terminal of 100
    columns shows whole, as train's is."""
    from objrec.kept import stricter_offered

    lines = [clauses_on_lines(calibration_line(metrics, evaluated))]
    if metrics.open_set is not None:
        lines = [*unknown_lead_lines(metrics, evaluated, kept), *lines]
        lines += open_set_lines(metrics, evaluated)
        if stricter := stricter_offered(metrics):
            lines += stricter_lines(metrics, stricter, evaluated, run, kept)
        elif metrics.open_set.unknown_accepted is not None:
            lines += no_stricter_lines(metrics)
    elif metrics.unknown is not None and metrics.unknown.threshold is not None:
        assert metrics.at_threshold is not None  # measured wherever there is a threshold
        lines += [
            unknown_answer_line(metrics.at_threshold, evaluated),
            *went_lines(metrics.at_threshold, evaluated),
            *unknown_class_lines(metrics.at_threshold.unknown_by_class),
            *threshold_words(metrics.unknown),
        ]
    from objrec.methods import report_line

    said = clauses_on_lines(report_line(metrics), width=94).splitlines()
    return lines + [f"  {line}" for line in said]


def unknown_lead_lines(
    metrics: EvaluationMetrics, evaluated: str = "these images", kept: bool = False
) -> list[str]:
    """``evaluate --unknown``'s sentence to act on, said before its figures: keep the stricter
    threshold recommended below (the flag, and both sides of its trade in two counts), that it
    was just kept (``kept``), or that there is nothing to do and why in a few words. A teacher
    read about 25 lines of figures (a p-value, "one image is 6.7 points of a share") before
    the one that said what to do (newcomer64b); the figures stay, after it. None where the run
    answers no "unknown"."""
    from objrec.kept import stricter_offered

    o, u = metrics.open_set, metrics.unknown
    if o is None or o.unknown_accepted is None or u is None or u.threshold is None:
        return []  # open_set_lines says the run answers no "unknown"
    stricter = stricter_offered(metrics)
    if stricter is None or not stricter.recommended:
        why = (
            "the run's threshold already catches every one of them"
            if o.unknown_accepted == 0
            else "the run's threshold stays, as no stricter one is recommended"
        )
        return [f"nothing to do about the unknown images: {why}"]
    value = offered_words(metrics.unknown, repr(stricter.threshold))
    if kept:
        return [f"nothing more to do: the stricter threshold, {value}, is kept with the run"]
    n, n_unknown = o.figures.n_known, o.figures.n_unknown
    known = (
        evaluated.replace("the images", f"the {n:,} images", 1)
        if evaluated.startswith("the images")
        else f"the {n:,} of {evaluated}"
    )
    said = (
        "what to do: add --keep-threshold to this evaluate to keep the stricter threshold "
        f"recommended below ({value}): it catches {stricter.unknown_caught} of the {n_unknown} "
        f"unknown images (now {stricter.unknown_caught_now}) and wrongly says "
        f"{stricter.known_rejected} of {known} are unknown (now {stricter.known_rejected_now})"
    )
    return wrapped_lead(said)


def wrapped_lead(text: str) -> list[str]:
    """A lead sentence on lines of at most 96 characters, the later ones indented by four, as
    train's lead and clauses are (``words.clauses_on_lines``), each flag kept whole."""
    return textwrap.wrap(
        text, 96, subsequent_indent="    ", break_on_hyphens=False, break_long_words=False
    )


def unknown_answer_line(a: AtThreshold, evaluated: str) -> str:
    """How many of the ``evaluated`` images get a class at the run's threshold (``a``: its cost),
    and top-1 counting an unknown answer as wrong; when every one gets a class, that alone
    ("100.00% ... get a class, the rest are said to be unknown" named a rest there was none of,
    and a top-1 the line above gave)."""
    if a.known_kept >= 1:
        return f"unknown answer: every one of {evaluated} gets a class, none is said to be unknown"
    return (
        f"unknown answer: {percent(a.known_kept)} of {evaluated} get a class, the rest are "
        f"said to be unknown; top-1 {percent(a.top1_at_threshold)} when an unknown counts as "
        "wrong"
    )


def went_lines(at: AtThreshold | StricterThreshold, evaluated: str, when: str = "") -> list[str]:
    """``  where data/test went: right class 91 (97.85%), wrong class 1 (1.08%), unknown 1
    (1.08%)``: the ``evaluated`` images given their class, another class, and "unknown" at the
    threshold of ``at`` (``when``: "with it", the stricter one's, after its lines of "now"
    and "with it"). Top-1 with an unknown
    counted as wrong ran a wrong class and a person's look together: a line operator's 97.85%
    and 97.85% "when an unknown counts as wrong" hid which the one image missed was. None from
    an evaluation written before these counts."""
    from objrec.evaluation_metrics import went_of, went_parts

    went = went_of(at)
    if went is None:
        return []
    return wrapped(
        f"{when}, {evaluated}: " if when else f"where {evaluated} went: ", went_parts(went)
    )


def open_set_lines(m: EvaluationMetrics, evaluated: str) -> list[str]:
    """``evaluate --unknown``'s figures, the count that matters first: how many of the unknown
    images the threshold caught and missed; the threshold; what it costs ``evaluated``; where
    the missed went (:func:`missed_lines`); how well the score separates the two, in words (its
    AUROC, and the share of unknown images accepted at 95% of known ones kept, whatever the
    threshold: exact in ``--json``'s ``open_set``)."""
    assert m.open_set is not None  # evaluate --unknown's
    o, accepted = m.open_set.figures, m.open_set.unknown_accepted
    n, auroc = o.n_unknown, o.auroc
    separation = [
        f"  how well it tells them from {evaluated}, whatever the threshold: {below_one(auroc)}",
        f"  (1: every time, 0.5: no better than guessing); a threshold set on {evaluated}",
        f"  to keep 95% of them would still give a class to {percent(o.fpr_at_95_tpr)} of the "
        "unknown images",
    ]
    if accepted is None or m.unknown is None or m.unknown.threshold is None:  # no "unknown"
        return [f'unknown images ({n}): the run answers no "unknown" (no threshold)', *separation]
    assert m.at_threshold is not None  # measured wherever there is a threshold
    missed = round(n * accepted)
    return [
        f"unknown images: {n - missed} of {n} caught ({percent(1 - accepted)}, said to be "
        f"unknown), {missed} missed",
        *threshold_words(m.unknown),
        f"  {evaluated}: {percent(m.at_threshold.known_kept)} still get an answer; top-1 "
        f"{percent(m.at_threshold.top1_at_threshold)} when an unknown counts as wrong",
        *went_lines(m.at_threshold, evaluated),
        *unknown_class_lines(m.at_threshold.unknown_by_class),
        *missed_lines(o.unknown_answered_as or {}),
        *separation,
    ]


def unknown_class_lines(rows: list[dict[str, Any]] | None, stricter: bool = False) -> list[str]:
    """``  said to be unknown, by class: ant 2 of 4, crab 1 of 4``: which classes the evaluated
    images said to be unknown are of (``open_set.unknown_by_class``, the largest share first;
    ``stricter``: at the stricter threshold offered), then the classes of which half or more
    were: in use, those would often get no answer. The overall share hid it: a newcomer's 2.22%
    was 2 of 4 ants and 0 of 237 of the largest classes, and the stricter threshold evaluate
    recommended said all 4 ants unknown (``open_set.mostly_unknown_words``: with the counts,
    and a class of too few distinct photos said too few to judge by). None when no image was (or an
    older ``metrics.json`` does not say)."""
    if not rows:
        return []
    parts = [f"{quoted(r['class'])} {r['unknown']} of {r['images']}" for r in rows[:NAMED]]
    if rest := rows[NAMED:]:
        images = plural(sum(r["unknown"] for r in rest), "image")
        parts.append(f"and {plural(len(rest), 'more class', 'more classes')} ({images})")
    lead = "with it, by class" if stricter else "said to be unknown, by class"
    lines = wrapped(f"{lead}: ", parts)
    from objrec.open_set import mostly_unknown_words

    alarm = mostly_unknown_words(rows, stricter)
    return lines + wrapped(alarm) if alarm else lines


def wrapped(text: str, parts: Sequence[str] = ()) -> list[str]:
    """``text``, then ``parts`` joined by commas, each kept whole on one line, on lines of at most
    90 characters, indented as the lines under a figure."""
    whole = [part.replace(" ", "\u00a0") for part in parts]  # textwrap breaks at ASCII spaces
    lines = textwrap.wrap(
        text + ", ".join(whole),
        90,
        initial_indent="  ",
        subsequent_indent="    ",
        break_on_hyphens=False,  # "per-\nclass"
    )
    return [line.replace("\u00a0", " ") for line in lines]


CATCH_ALL_FEWEST = 5
"""The fewest missed unknown images one class must take (and over half of them) before
``evaluate --unknown`` says why (a look-alike, or a catch-all class): 2 or 3 strangers going to
one class is what any look-alike class does (2 of a newcomer's 3 missed went to butterfly, and
the hint read as noise); 5 of them, over half, is a pattern worth a line (a camera trap's
"empty" took 98.8%)."""


def missed_lines(answered_as: dict[str, int]) -> list[str]:
    """Where the unknown images the threshold accepted went (:func:`missed_line`); when one class
    took at least ``CATCH_ALL_FEWEST`` of them and over half, why (:func:`catch_all_lines`).
    None when no image was missed (or an older ``metrics.json`` does not say)."""
    missed = sum(answered_as.values())
    if not missed:
        return []
    lines = [missed_line(answered_as)]
    top, most = next(iter(answered_as.items()))
    if most >= CATCH_ALL_FEWEST and most * 2 > missed:
        lines += catch_all_lines(top)
    return lines


def catch_all_lines(top: str) -> list[str]:
    """Why most missed unknown images went to ``top``: likely they look like it (a newcomer's
    emus went to ibis), the usual reason, said first with its fix; or ``top`` is a catch-all
    class, which takes in what the model was never taught, said as the other possibility only:
    counts cannot tell the two apart (an earlier wording, 'if ibis is one', read as if objrec
    thought ibis might be a catch-all)."""
    name = quoted(top)
    text = (
        f"likely they look like {name}: teach them as a class of their own; or {name} is a "
        "catch-all (such as empty or other), which takes in what the model was never taught "
        "(docs/confidence.md)"
    )
    indent = "  "
    return textwrap.wrap(
        text,
        90,
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,  # a class name kept whole
    )


def missed_line(answered_as: dict[str, int]) -> str:
    """``  the 18 missed went to: empty 15, deer 3``, most first: the first ``NAMED`` classes,
    then how many more and their images (a 100-class model's strangers spread over most of its
    classes)."""
    answers = list(answered_as.items())
    where = ", ".join(f"{quoted(name)} {count}" for name, count in answers[:NAMED])
    if rest := answers[NAMED:]:
        images = plural(sum(count for _, count in rest), "image")
        where += f" and {plural(len(rest), 'more class', 'more classes')} ({images})"
    return f"  the {sum(answered_as.values())} missed went to: {where}"


def calibration_line(m: EvaluationMetrics, evaluated: str) -> str:
    """How far the model's probabilities are from how often it is right on ``evaluated`` (the
    expected calibration error), in points as report.html says it, and how the temperature
    chosen on the validation split changed them: made surer (below 1), less sure (above 1), or
    not at all (1, to 3 decimals). The temperature lowers the validation split's loss, not this
    gap, which it can widen: the line gives the loss on ``evaluated`` before and after, and the
    gap's change as train judges it (``calibration.calibration_words``)."""
    temperature = measured_calibration(m).temperature
    if f"{temperature:.3f}" == "1.000":
        return (
            f"confidence: on {evaluated}, {gap_words(m)}; its probabilities are left as they are "
            "(temperature 1, chosen on the validation split)"
        )
    return tempered_calibration_line(m, evaluated, "less sure" if temperature > 1 else "surer")


def measured_calibration(m: EvaluationMetrics) -> CalibrationFigures:
    """``m``'s calibration, which every evaluation measures (metrics made from logits alone,
    ``evaluate.summarize_logits``'s, have none to say)."""
    if m.calibration is None:
        raise ValueError("these metrics have no calibration: they were made from logits alone")
    return m.calibration


def gap_words(m: EvaluationMetrics, before: bool = False) -> str:
    """An evaluation's calibration gap in words (``calibration.calibration_words``), with the
    gap ``before`` the temperature when asked: "11.63 points" on 12 test images read as badly
    calibrated, where exactly calibrated probabilities show up to 14.18 there by chance."""
    from objrec.calibration import calibration_words

    c = measured_calibration(m)
    was = c.ece_before_calibration if before else None
    return calibration_words(c.ece, m.n, c.ece_by_chance, was, c.overconfidence)


def tempered_calibration_line(m: EvaluationMetrics, evaluated: str, how: str) -> str:
    """:func:`calibration_line` of a temperature other than 1: the loss on ``evaluated`` (the
    proper score, the one the temperature lowers on the validation split) before and after, and
    the ECE's change judged against what exactly calibrated probabilities would show on as many
    images by chance too."""
    c = measured_calibration(m)
    assert c.nll is not None and c.nll_before_calibration is not None  # None in older files only
    fell = "lowers" if c.nll <= c.nll_before_calibration else "raises"
    return (
        f"confidence: the model's probabilities made {how} (temperature {c.temperature:.3f}, "
        f"chosen on the validation split): it {fell} their loss on {evaluated} ({m.n:,} "
        f"images) from {c.nll_before_calibration:.4f} to {c.nll:.4f}; "
        f"{gap_words(m, before=True)}"
    )


def no_stricter_lines(m: EvaluationMetrics) -> list[str]:
    """Why ``evaluate --unknown`` suggests no stricter threshold, in one sentence (said nothing,
    it read as a promise the README made and the command forgot): the run's threshold already
    catches every unknown image; the one keeping 95% of the validation images would catch no
    more of them; or ``open_set.no_stricter``'s reason. Nothing from an older ``metrics.json``
    without that reason."""
    assert m.open_set is not None  # evaluate --unknown's
    stricter, why = m.open_set.stricter, m.open_set.no_stricter
    start = "no stricter threshold is suggested:"
    if m.open_set.unknown_accepted == 0:
        return [f"{start} the one in use already catches every unknown image"]
    if stricter:
        keep = percent(stricter.keep_valid)
        return [
            f"{start} the one that keeps {keep} of the run's validation images",
            f"  ({offered_words(m.unknown, repr(stricter.threshold))}) would catch no more of the "
            "unknown images",
        ]
    if why is not None and why.reason == "no_validation_images":
        folder = why.valid_folder or "the run's split folder"
        words = why.why or f"{folder} could not be read (moved, or its classes changed)"
        return [f"{start} objrec chooses one on the run's validation images, and", f"  {words}"]
    if why is None or why.reason not in ("not_stricter", "few_validation_images"):
        return []
    kept, n, keep = percent(why.valid_kept), why.valid_images, percent(why.keep_valid)
    if why.reason == "few_validation_images":
        return [
            f"{start} objrec chooses one to keep {keep} of the run's validation images,",
            f"  and {n} are too few to leave any out ({round(1 / (1 - why.keep_valid))} or "
            "more are needed)",
        ]
    return [
        f"{start} the one in use already keeps {kept} of the run's {n}",
        f"  validation images, no more than the {keep} a suggested one would keep",
    ]


def stricter_lines(
    m: EvaluationMetrics,
    s: StricterThreshold,
    evaluated: str,
    run: Path | None,
    kept: bool = False,
) -> list[str]:
    """The threshold ``s`` that keeps 95% of the run's validation images (``m``'s
    ``open_set.stricter``, offered: ``kept.stricter_offered``): whether objrec recommends
    it first, and that it was set on those (the separation line's was set on ``evaluated``:
    unsaid, 0% of the unknown images given a class there read as contradicting 1 of 12 given
    one with it), then both sides of the trade at the run's threshold and at it (unknown images
    caught, ``evaluated`` images wrongly said to be unknown, top-1), the trade on the validation
    images and objrec's verdict on it (:func:`trade_lines`), and, recommended, how to use it
    (``--keep-threshold``, or predict, serve and export's ``--threshold``), or, ``kept``, that
    this evaluate's ``--keep-threshold`` just kept it (it suggested adding the flag it had been
    given)."""
    assert m.open_set is not None and m.at_threshold is not None  # evaluate --unknown's
    value, o = repr(s.threshold), m.open_set.figures
    n, u = o.n_known, o.n_unknown
    lost = (s.known_rejected_now, s.known_rejected)
    caught = (s.unknown_caught_now, s.unknown_caught)
    lines = [
        f"a stricter threshold {verdict_words(s, u)}: {offered_words(m.unknown, value)}"
        + ("" if s.recommended else "; the run's stays"),
        f"  set on the validation images, as the run's own was: it keeps {percent(s.valid_kept)}"
        " of them",
        kept_spread_line(s.valid_kept, s.valid_images),
        *advice_resting_lines(u, s.valid_images),
        f"  unknown images caught: {both_counts(caught, u)}",
        f"  {evaluated} said to be unknown, wrongly: {both_counts(lost, n)}",
        *unknown_class_lines(s.unknown_by_class, stricter=True),
        f"  top-1 when an unknown counts as wrong: {percent(m.at_threshold.top1_at_threshold)} "
        f"now, {percent(s.top1_at_threshold)} with it",
        *went_lines(s, evaluated, "with it"),
        *trade_lines(s, u, evaluated),
    ]
    if not s.recommended:
        return lines
    if kept:
        return [*lines, "  this evaluate's --keep-threshold kept it with the run, as said below"]
    return [
        *lines,
        "  to use it, add --keep-threshold to this evaluate, which keeps it with the run for",
        f"  predict, serve and export, or give each of them --threshold {value}",
    ]


def kept_spread_line(kept: float, n: int) -> str:
    """How far the share of new photos a threshold keeps may lie from the ``kept`` of the ``n``
    validation images it was set on: a newcomer's "keeps 95.38%" of 130 turned 5 of their 40
    taught photos unknown (87.5% kept), within chance, with nothing said of the spread."""
    from objrec.metrics import wilson_interval

    low, high = wilson_interval(kept, n)
    return f"  on new photos of the classes: {low:.1%} to {high:.1%} kept (95% interval)"


def verdict_words(s: StricterThreshold, unknown: int) -> str:
    """The stricter threshold's verdict, its strength in it: "is recommended", or, resting on
    under ``FEWEST_FOR_A_THRESHOLD`` ``unknown`` or validation images, "is recommended, as a
    hint (under 100 images)" (docs/confidence.md: a hint, not a measurement):
    "recommended", then "shaky" four lines down, read as a recommendation that cost 4 test
    points for 2 strangers caught; "is a hint", then a rule to apply, left the reader to work
    out whether it was recommended at all."""
    from objrec.enough import FEWEST_FOR_A_THRESHOLD
    from objrec.thresholds import advice_rests_on

    if not s.recommended:
        return "is not recommended"
    if advice_rests_on(unknown, s.valid_images)[1] is None:
        return "is recommended"
    return f"is recommended, as a hint (under {FEWEST_FOR_A_THRESHOLD} images)"


def trade_lines(s: StricterThreshold, unknown: int, evaluated: str = "") -> list[str]:
    """The trade the stricter threshold ``s`` makes, on the validation images it was set on
    (not ``evaluated``'s, counted above: a test split and a validation split of 79 images each,
    their lines alike, read as one set labelled twice): the ``unknown`` images it newly catches
    against the validation images it newly loses, counted and as shares, and the verdict
    objrec's rule gives (``thresholds.worth_trading`` and ``trade_by_chance``,
    docs/confidence.md), said, not left to the reader to apply; then the classes it would leave
    mostly unanswered (:func:`silenced_lines`)."""
    from objrec.chance import CHANCE, trade_by_chance
    from objrec.thresholds import traded_shares, worth_trading

    lost, caught = (
        (s.valid_rejected_now, s.valid_rejected),
        (s.unknown_caught_now, s.unknown_caught),
    )
    counts = (lost, s.valid_images, caught, unknown)
    more_lost, more_caught = traded_shares(*counts)
    worth, p_value = worth_trading(more_lost, more_caught), s.p_value
    p_value = trade_by_chance(*counts) if p_value is None else p_value  # one made by hand
    chance = worth and not s.recommended and p_value >= CHANCE
    if s.recommended:
        verdict = "no fewer caught than lost, more than chance"
        verdict += f" ({p_words(p_value)}), and no class left mostly unanswered: recommended"
    elif chance:  # a coin flip: as likely from a threshold no better at telling them apart
        verdict = f"no fewer caught than lost but within chance ({p_words(p_value, 2)}): not "
        verdict += "recommended, a threshold no better at telling them apart often trades as well"
    elif worth:
        verdict = "no fewer caught than lost,"  # silenced_lines goes on: "but not recommended"
    else:
        verdict = "fewer caught than lost: not recommended"
    not_these = f", not on {evaluated}" if evaluated else ""  # "the images of split/test"
    said = (
        f"weighed on the validation images{not_these}: it catches "
        f"{traded(caught, unknown, 'unknown images')} for "
        f"{traded(lost, s.valid_images, 'validation images said to be unknown')}, {verdict}"
    )
    return [
        *textwrap.wrap(said, 90, initial_indent="  ", subsequent_indent="  "),
        *(silenced_lines(s) if worth and not chance and not s.recommended else []),
    ]


def traded(counts: tuple[int, int], n: int, what: str) -> str:
    """``1 more of the 20 unknown images (5.00 points)``: how many more of ``n`` images (``what``)
    a stricter threshold says unknown than the run's (``counts``: at each), and the share."""
    more = counts[1] - counts[0]
    return f"{more} more of the {n} {what} ({points(more / max(n, 1))})"


def silenced_lines(s: StricterThreshold) -> list[str]:
    """Why a stricter threshold the shares alone would have recommended is not: the classes it
    would leave mostly unanswered (``open_set.stricter_result``'s ``silences``), with how many of
    their validation images it says unknown (``valid_unknown_by_class``): the class line above
    counts the evaluated images, which may not show it. Said only then: one the shares refuse is
    not recommended for them, and its class line names those classes."""
    from objrec.open_set import unknown_count

    silences = s.silences
    if not silences:
        return []
    rows = [r for r in s.valid_unknown_by_class or [] if r["class"] in silences]
    those, its = ("that class", "its") if len(silences) == 1 else ("those classes", "their")
    return wrapped(
        f"but not recommended: with it, {those} would often get no answer, half or more of "
        f"{its} validation images said to be unknown: ",
        [f"{r['class']} ({unknown_count(r)})" for r in rows],
    )


def offered_words(u: UnknownAnswer | None, value: str) -> str:
    """A threshold ``value`` (as typed: ``repr``) of the run's unknown score (``u``: its unknown
    answer), named: ``a top probability of 0.4``, ``familiarity 0.42``, or ``score 3.1`` (a raw
    score, older runs)."""
    assert u is not None  # a stricter threshold is one of the run's unknown score
    if u.score == "msp":
        return f"a top probability of {value}"
    return f"{'familiarity' if u.readable else 'score'} {value}"


def advice_resting_lines(unknown: int, valid: int) -> list[str]:
    """What the stricter threshold's advice rests on (``unknown`` and ``valid`` validation
    images: the evaluated ones are not weighed) and, under ``FEWEST_FOR_A_THRESHOLD`` of either
    (``thresholds.advice_rests_on``, the report's rule too), how far one image moves a share:
    10 strangers had recommended one as confidently as hundreds, where one stranger more or less
    caught is 10 points of the trade. That it is shaky is not said again: the verdict above says
    it is a hint (:func:`verdict_words`), and the run's threshold, chosen on as few validation
    images, was said to be shaky two lines before ("so it is shaky" twice, in one section)."""
    from objrec.thresholds import advice_rests_on

    words, fewest = advice_rests_on(unknown, valid)
    rests = f"  it rests on {words}"
    if fewest is None:
        return [rests]
    return [f"{rests} (one image is {100 / max(fewest, 1):.1f} points of a share)"]


def both_counts(counts: tuple[int, int], total: int) -> str:
    """``3 of 75 (4.00%) now, 19 of 75 (25.33%) with it``: at the run's threshold and another."""
    now, then = (f"{c} of {total} ({percent(c / max(total, 1))})" for c in counts)
    return f"{now} now, {then} with it"


def top5_text(value: float | None, n_classes: int, explained: bool = False) -> str:
    """ ", top-5 X%" (``explained``: with what it means, of how many classes: among 5 of 6 is
    only not last), or nothing for a model of at most five classes (where it is always 100%,
    and null in the metrics)."""
    if n_classes <= TOP5_CLASSES or value is None:
        return ""
    words = f" (the right class among the {TOP5_CLASSES} best guesses of {n_classes})"
    return f", top-5 {percent(value)}{words if explained else ''}"


def print_worst(result: EvaluationResult, worst: int) -> None:
    """The worst classes' table (only classes with an error: :meth:`EvaluationResult.worst`), or
    one line when every evaluated image was predicted right (a table of classes at 100% ordered
    by a loss it does not show read as noise). With at most ``worst`` classes (--worst, 10 by
    default) every class is listed, worst first, those all right too: how good each class is
    was only in per_class.csv and the report when 1 of 6 had an error, and the table is no
    longer than the worst classes' may be."""
    per_class, rows = result.per_class, result.worst(worst)
    if len(per_class) and not len(rows):
        every = plural(int(per_class["n_test"].sum()), "image")
        console.print(f"Worst classes: none; all {every} of the {len(per_class)} classes right")
        return
    title = "Every class" if len(per_class) <= worst else "Worst classes"
    with_top5 = len(result.classes) > TOP5_CLASSES
    console.print(worst_table(per_class if title == "Every class" else rows, with_top5, title))


def mixed_pair_lines(result: EvaluationResult) -> list[str]:
    """The pairs of classes mistaken for each other both ways, with their counts, and what may
    help: the worst classes' table named only each class's commonest confusion, without a count,
    so that a crocodile taken for its head and back read as two unrelated errors. Only pairs of
    real evidence (``metrics.often_mixed``, the rule predict names a pair by): one mistake each
    way is what chance gives, and nothing is said when no pair has more. Counted in distinct
    photos (``EvaluationResult.mixed_pairs``), said so where near-duplicates make them fewer than
    the images: 9 copies of one crocodile taken for its head are one mistake, not 9."""
    from objrec.metrics import often_mixed

    pairs = [p for p in result.mixed_pairs if often_mixed(p)]
    if not pairs:
        return []
    n = result.metrics.n
    counted = " (in distinct photos)" if result.metrics.n_groups < n else ""
    both = f"mistaken for each other both ways{counted}"
    lines = [f"{both}, so the model cannot yet tell them apart:"]
    for p in pairs[:5]:
        a, b = quoted(p["a"]), quoted(p["b"])
        lines.append(
            f"  {a} and {b}: {p['a_as_b']} of {p['n_a']} {a} taken for {b}, "
            f"{p['b_as_a']} of {p['n_b']} {b} for {a}"
        )
    if len(pairs) > 5:
        lines.append(f"  and {plural(len(pairs) - 5, 'pair')} more (confusion.csv)")
    lines.append(
        "  what may help: more training photos of both, showing what tells them apart; their "
        "labels checked (objrec audit); or one class for the two, if telling them apart does not "
        "matter to you"
    )
    return lines


def worst_table(rows, with_top5: bool = True, title: str = "Worst classes") -> Table:
    """The worst classes (or ``title``'s, worst first): support (the class's evaluated images,
    test or not, and its distinct ones when near-duplicates make them fewer), top-1 (= recall),
    top-5, precision, F1, commonest confusion."""
    from objrec.enough import FEWEST_WITHOUT_INTERVAL

    top5 = ("top-5",) if with_top5 else ()
    columns = ("class", "trained on", "images", "top-1 (recall)", *top5, "precision", "F1")
    caption = (
        "worst first: by top-1, then by mean loss; top-1 (recall): its images guessed right; "
        "precision: the images guessed as it that are it (-: it never was); F1: the two in one "
        "score"
    )
    if any(measured_on_few(r) for r in rows.itertuples()):
        caption += (
            f"; (low-high%) after a top-1: under {FEWEST_WITHOUT_INTERVAL} images, where it would "
            "likely lie on many more photos (95% interval)"
        )
    table = Table(*columns, "most confused with", title=title, caption=caption)
    for r in rows.itertuples():
        table.add_row(
            Text(str(r._1)),  # class names are never markup
            str(r.n_train),
            with_distinct(r.n_test, getattr(r, "n_groups", r.n_test)),
            top1_cell(r),
            *((percent(r.top5),) if with_top5 else ()),
            three_places(r.precision),
            f"{r.f1:.3f}",
            Text(str(r.most_confused_with)),
        )
    return table


def measured_on_few(r) -> bool:
    """Whether a per-class row's top-1 rests on fewer than ``enough.FEWEST_WITHOUT_INTERVAL``
    distinct images."""
    from objrec.enough import FEWEST_WITHOUT_INTERVAL

    return hasattr(r, "top1_low") and getattr(r, "n_groups", r.n_test) < FEWEST_WITHOUT_INTERVAL


def top1_cell(r) -> str:
    """A class's top-1, with its 95% interval where it rests on few images: ``75.00% (30-95%)``;
    where near-duplicates make its share of distinct photos another figure, that share, whose
    interval it is: ``90.00% (by photo 50%: 9-91%)``."""
    photos = getattr(r, "top1_photos", r.top1)
    by_photo = f"by photo {100 * photos:.0f}%" if photos_differ(r.top1, photos) else ""
    if not measured_on_few(r):
        return f"{percent(r.top1)} ({by_photo})" if by_photo else percent(r.top1)
    interval = f"{100 * r.top1_low:.0f}-{100 * r.top1_high:.0f}%"
    return (
        f"{percent(r.top1)} ({by_photo}: {interval})"
        if by_photo
        else (f"{percent(r.top1)} ({interval})")
    )


def photos_differ(top1: float, photos: float | None) -> bool:
    """Whether the share of distinct photos right (``photos``) reads as another figure than the
    share of images right (``top1``), a whole point or more apart: near-duplicates weigh."""
    return photos is not None and photos == photos and abs(top1 - photos) >= 0.005


def averages_table(m: Overall) -> Table:
    """Macro (each class counts once) and weighted (by images) precision, recall and F1."""
    caption = (
        "macro: each class counts the same; weighted: each image does; the precision leaves out a "
        "class never guessed, which has none"
    )
    table = Table("average", "precision", "recall", "F1", "images", caption=caption)
    for kind in ("macro", "weighted"):
        values = (
            three_places(getattr(m, f"{kind}_{name}")) for name in ("precision", "recall", "f1")
        )
        table.add_row(kind, *values, f"{m.n:,}")
    return table


@click.command(cls=Sectioned, short_help="Write one HTML page about a trained model.")
@click.argument("run", type=EXISTING)
@click.option(
    "--out",
    type=OUT_FILE,
    show_default="RUN/report.html",
    help="The HTML file. Without it, RUN/report.html; for a checkpoint file RUN other than a "
    "run's model.safetensors, NAME-report.html beside it; refreshed without --force, but for "
    "one you changed, which is named and kept.",
)
@click.option(
    "--data",
    type=FOLDER,
    help="The folder whose results the page shows. The split folder, whose test split it shows "
    "[default: the one the run trained on]; or a folder of classes `objrec evaluate RUN "
    "FOLDER` evaluated, whose latest evaluation it shows (DATA/valid for `objrec evaluate RUN "
    "DATA --split valid`'s; its Data section is then DATA's, for another folder the data the "
    "run trained on).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite another --out file. Also replace an evaluation of another folder in "
    "RUN/eval-test, and a file you changed in RUN's own eval-* or report.html (RUN's own "
    "report.html and eval-* are refreshed without it).",
)
@click.option(
    "--grad-cam/--no-grad-cam",
    default=True,
    show_default=True,
    help="Draw the Grad-CAM maps, or leave them out (minutes on a busy CPU). Up to 12 (the 6 "
    "wrong answers of highest loss, 6 right ones), seconds each on a CPU, in the page's "
    "Saliency section, which says when they were left out.",
)
@json_option("the paths and scores")
def report(
    run: Path, out: Path | None, data: Path | None, force: bool, grad_cam: bool, as_json: bool
) -> None:
    """Write one self-contained HTML page about RUN (opens from disk, no network needed).
    \f
    Data (counts, sizes, samples, augmentation), training curves, overall and per-class results, the
    table of which classes are mistaken for which (its confusion matrix, as a heat map) and the
    pairs most mistaken, the images it was most wrong about, the worst classes' hardest images, and
    for right and wrong answers a heat map of the regions that drove them (Grad-CAM). Confidence:
    how sure it says it is against how often it is right, its "unknown" answer, and the latest
    `evaluate --unknown` result of the model. Runs `evaluate` first if needed.
    """
    from objrec.outputs import report_path
    from objrec.run_files import require_checkpoint_file

    require_checkpoint_file(run)  # a folder that is no run said at once, not after the import
    report_path(run, out, force)  # and a page there already
    reporter = RichReporter()
    with reporter.loading():  # seconds (torch): not in silence
        from objrec.report import write_report

    with logged_warnings() as logged:
        written = write_report(run, out, data, reporter, force, grad_cam=grad_cam)
    path = written.out.resolve()
    if as_json:
        print_json(with_warnings(report_json(path, written.evaluation), logged))
        return
    size = path.stat().st_size / 1e6
    console.print(
        printable(f"report written to {path} ({size:.1f} MB); open {path.as_uri()} in a browser"),
        markup=False,
        highlight=False,
        soft_wrap=True,  # the link whole on one line in a narrow terminal, to click or copy
    )


REPORT_SCORES = ("n", "n_groups", "top1", "top1_low", "top1_high", "top5", "mean_class_top1")
"""The headline scores ``report --json`` gives of the evaluation its page shows (that
evaluation's ``metrics.json`` holds every figure: docs/json.md, ``## evaluate``)."""


def report_json(page: Path, evaluation: Path) -> dict[str, Any]:
    """``report --json``'s answer: the page written, the evaluation it shows (its folder, and the
    folder that was evaluated) and that evaluation's :data:`REPORT_SCORES`, None where its
    ``metrics.json`` cannot be read."""
    from objrec.evaluation_metrics import read_record

    record = read_record(evaluation)
    overall = record.metrics.overall if record is not None else None
    return {
        "out": str(page),
        "evaluation": str(evaluation.resolve()),
        "evaluated": (record.folder or None) if record is not None else None,
        **{key: getattr(overall, key, None) for key in REPORT_SCORES},
    }

"""The ``predict`` command: each image's top classes (or unknown) as lines or JSON, and
where the plot and the Grad-CAM overlays went.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from objrec.cli.options import (
    EXISTING,
    OUT_DIR,
    OUT_FILE,
    RUNTIMES,
    Choice,
    device_option,
    json_option,
    option_help,
    refuse_cache_inside,
    refuse_swapped,
    refuse_unknown_conflict,
    unknown_options,
)
from objrec.cli.output import (
    RichReporter,
    console,
    err,
    notes,
    one_line,
    percent,
    print_json,
    printable,
    shown,
)
from objrec.cli.sections import Sectioned
from objrec.config import EvaluateConfig
from objrec.words import on_lines, plural, quoted, some_of

FAILED_NAMED = 3
"""The most failed inputs ``predict --csv`` names on a line each: its table has every one."""

ANSWERS_SHOWN = 10
"""The most answers ``predict --csv`` prints a line each for, past :data:`ANSWERS_ALL`, so that
a user sees what it said: its table has every one."""

ANSWERS_ALL = 20
"""Up to this many answers ``predict --csv`` prints every one: cutting a few to
:data:`ANSWERS_SHOWN` would save a line or two and could hide the one answer that matters."""


PREDICT_SECTIONS = {
    "Options": ("topk", "as_json", "csv", "force"),
    "Unknown answer": ("threshold", "no_unknown"),
    "Pictures": ("plot", "plot_max", "explain"),
    "How the answers are computed": ("runtime", "device", "tta"),
}
"""``predict --help``'s headings: the answers first, then pictures of them and how they come."""


def plot_named_as_picture(ctx: click.Context, param: click.Parameter, plot: Path | None):
    """``--plot`` named in a picture format (``predict.plot_format_problem``), checked as the
    command line is read: a usage error (exit 2) before anything loads, where ``--plot out.txt``
    exited 1 once the model had loaded."""
    from objrec.predict_outputs import plot_format_problem

    problem = plot_format_problem(plot) if plot is not None else None
    if problem:
        raise click.BadParameter(problem, ctx, param)
    return plot


@click.command(
    cls=Sectioned,
    sections=PREDICT_SECTIONS,
    short_help="Predict the classes of photos, or of folders of them.",
    examples=(
        "objrec predict run photo.jpg",
        "objrec predict run new_photos/ --csv answers.csv --plot answers.png",
        "objrec predict run new_photos/ --json > answers.json",
    ),
)
@click.argument("run", type=EXISTING)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--topk",
    type=click.IntRange(min=1),
    metavar="N",
    default=5,
    show_default=True,
    help="How many classes per image, most probable first. The printed lines count those under "
    "0.005% instead of listing them (--json lists every one).",
)
@click.option(
    "--plot",
    type=OUT_FILE,
    callback=plot_named_as_picture,
    help="Draw the images and their top-k into this picture file. A PNG, or the format its "
    "extension names (.jpg, .webp, .tif, .svg or .pdf); each image over a bar chart of its "
    "top-k, 4 images to a row.",
)
@click.option(
    "--plot-max",
    type=click.IntRange(min=1),
    metavar="N",
    default=8,
    show_default=True,
    help="Draw at most this many images into --plot. Where there are more, some of each kind of "
    "answer, taken in turn: the unknown, the barely familiar, the least and the most sure given a "
    "class; the rest are counted.",
)
@click.option(
    "--runtime",
    type=Choice(RUNTIMES),
    default="torch",
    show_default=True,
    help="Which engine computes the answers. It changes how fast they come, not what they say "
    "(the two agree within 1e-4). torch, as evaluate runs the model (PyTorch, but an int8 network "
    "in the engine that ran it in training: OpenVINO or ONNX Runtime), needs nothing made first: "
    "quicker for one photo, and as quick for a folder when the pretrained network is in 8-bit "
    "integers (int8, train's default on a CPU with 8-bit dot products). onnx, ONNX Runtime "
    "(CPU only), runs a copy of the model made at its first use and kept in the cache folder: "
    "pick it for many photos of a 32-bit model, where it is quicker (benchmarks/README.md, "
    '"predict\'s default runtime"). An int8 network that OpenVINO ran in training runs in OpenVINO '
    "whichever you pick. serve picks onnx on the CPU, as a server makes the copy once and "
    "answers many. "
    "On the CPU, torch answers a photo whose features the feature store holds for this model "
    "(evaluate or train read it) from them, as evaluate answered it, without running the network; "
    "other photos are computed, and not stored. onnx reads none.",
)
@device_option
@json_option(
    "the answers",
    'A list of {"filename", "path", "answer", "unknown", "score", '
    '"barely_familiar", "unknown_threshold", "unknown_threshold_kept_on", '
    '"topk": [{"class", "prob"}], "confused_with"} ("filename": '
    'the base name, as serve\'s /predict answers; "answer": what to act on, the top class, or '
    '"unknown" for an image answered unknown, null for a bad input; '
    '"unknown_threshold_kept_on": when the '
    "threshold is one evaluate --keep-threshold kept with RUN, when it was kept, else null; "
    '"confused_with": the classes the run\'s evaluation often mistook the top class for both '
    "ways (at least 2 and 5% of each class's images) that have 5% or more in this answer "
    '(an answer of "unknown" too), null when no evaluation recorded them; '
    '"error" instead for a bad input).',
)
@click.option(
    "--csv",
    type=OUT_FILE,
    metavar="FILE",  # its own, so that a message naming `csv=file` says --csv FILE
    help="Also write the answers into this CSV file. One row per input, to open in a "
    "spreadsheet (UTF-8 with the byte-order mark Excel reads it by): filename, path, answer (the "
    'class, or "unknown"), predicted (the closest class, even when unknown), prob_predicted, '
    "unknown, barely_familiar, score, unknown_threshold and unknown_threshold_kept_on (as "
    "--json's, on every row), then class_1, prob_1 ... for the top-k, "
    "and error (the reason, for an input that failed; its other cells empty). An existing file "
    "is refused without --force. The terminal then gets a progress bar, a line for every answer "
    f"up to {ANSWERS_ALL}, else for the {ANSWERS_SHOWN} most worth a look (unknown, then barely "
    "familiar, then the least sure), and what the answers come to (how many given a class, how "
    "many unknown).",
)
@click.option("--tta", is_flag=True, help=option_help("tta", cls=EvaluateConfig))
@click.option(
    "--explain",
    type=OUT_DIR,
    metavar="FOLDER",
    help="The new or empty folder to write a heat map of each answer into. Each "
    "image with a heat map of the regions that drove its top class (Grad-CAM), captioned with "
    "that class and its probability, and a colour key from least to most.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite an existing --plot or --csv file. Or write into a non-empty --explain folder.",
)
@unknown_options
def predict(
    run: Path,
    paths: Sequence[Path],
    topk: int,
    plot: Path | None,
    plot_max: int,
    runtime: str,
    device: str,
    tta: bool,
    explain: Path | None,
    as_json: bool,
    csv: Path | None,
    threshold: float | None,
    no_unknown: bool,
    force: bool,
) -> None:
    """Predict the classes of the images in PATHS (files or folders) with the model in RUN.

    Exits with 0 when every image was answered (unknown is an answer); 1 when an input could not
    be (an image that cannot be read, a file or folder that is not there), after answering the
    others and writing them all (--csv, --json: each failed input with its reason), or when none
    could be (RUN not a model: --json prints nothing); 2: a wrong command line (RUN not there).
    \f
    An image like none of the model's classes (its unknown score below the run's threshold) is said
    to be unknown, its top classes still given; one barely familiar (its familiarity within 0.25
    of the line, where a typical valid image scores 1 and the line is 0) says so: "(barely
    familiar: 0.02)". When any image is answered unknown or barely familiar, the threshold that
    judged them is said once, under the lines. A look-alike pair's answer (evaluate mixed them up
    both ways) gets a line, and one hint that a class answered proves nothing until evaluate
    --unknown measured strangers: notes, on stderr (none under -q). Two answers or more: a tally."""
    table = checked_request(run, paths, threshold, no_unknown, csv, plot, force)
    from objrec.predict import predict as run_predict  # PyTorch comes with "loading the model"

    results = run_predict(
        run,
        paths,
        topk,
        plot=plot,
        reporter=RichReporter(),
        runtime=runtime,
        tta=tta,
        explain=explain,
        plot_max=plot_max,
        threshold=threshold,
        unknown=not no_unknown,
        device=device,
        force=force,
    )
    show_predictions(results, as_json, plot, plot_max, explain, table, threshold, force, run)


STRANGERS_HINT = (
    "a class answered does not prove the photo is one: a thing the model was never taught that "
    "looks like one of its classes usually gets that class, often above 90%, not unknown "
    "(docs/confidence.md); `objrec evaluate {run} DATA --unknown FOLDER`, FOLDER photos of such "
    "things, measures how often"
)
"""predict's one line under its answers while no evaluation of the run measured strangers."""


def strangers_hint(run: Path, results) -> str | None:
    """:data:`STRANGERS_HINT`, once under the lines, when an image was answered a class by a run
    with an unknown answer and none of its evaluations measured photos of untaught things
    (``evaluate --unknown``): 42 of 50 lotus photos came out "sunflower 93%" from a model
    never taught lotus, and only ``evaluate --unknown`` said why (newcomer62, 2). None
    otherwise: the user who measured it has read why."""
    import shlex

    from objrec.evaluation_metrics import read_record
    from objrec.prediction import evaluation_records

    answered = [r for r in results if not r.error and not r.unknown]
    if not answered or all(r.unknown_threshold is None for r in answered):
        return None
    records = (read_record(path.parent) for path in evaluation_records(run))
    if any(record is not None and record.metrics.open_set is not None for record in records):
        return None
    return STRANGERS_HINT.format(run=shlex.quote(shown(run)))


def checked_request(
    run: Path,
    paths: Sequence[Path],
    threshold: float | None,
    no_unknown: bool,
    csv: Path | None,
    plot: Path | None,
    force: bool,
) -> Path | None:
    """Refuse, before the model loads, a command line predict cannot answer (--threshold with
    --no-unknown, RUN and an image swapped, a cache folder inside a folder of PATHS, a --csv file
    it must not write); returns the --csv file, written once the lines are said."""
    refuse_unknown_conflict(threshold, no_unknown)
    if len(paths) == 1:
        refuse_swapped("predict", run, paths[0])
    refuse_cache_inside(None, *(p for p in paths if p.is_dir()), what="folder", run=run)
    from objrec.predict import path_list
    from objrec.predict_outputs import check_csv

    return check_csv(csv, plot, force, path_list(paths), run)


def show_predictions(
    results,
    as_json: bool,
    plot: Path | None,
    plot_max: int,
    explain: Path | None = None,
    csv: Path | None = None,
    given: float | None = None,
    force: bool = False,
    run: Path | None = None,
) -> None:
    """The CSV written (``csv``, checked), then the predictions as JSON or as lines, where the
    plot, the Grad-CAM overlays and the CSV went (on stderr with --json, which keeps stdout for
    the JSON); exit 1 when any input failed. ``given``: --threshold's value, which the lines name
    as the threshold used; ``run``: the run that answered (the lines' :func:`strangers_hint`).
    A CSV that cannot be written (a full disk) is raised once every answer
    is said, so that answers computed are never lost unprinted."""
    failed = [r for r in results if r.error]
    unwritten = written_table(results, csv, force)
    csv = None if unwritten else csv  # the lines give every answer where the table does not
    if as_json:
        print_json([r.to_json() for r in results])
        if plot and (sentence := plot_sentence(results, plot, plot_max)):
            err.print(sentence, markup=False, highlight=False)
    else:
        hint = strangers_hint(run, results) if run is not None else None
        print_predictions(results, plot, plot_max, given, table=csv, hint=hint)
    said = err if as_json else console
    if explain is not None and any(r.explanation for r in results):
        said.print(explain_sentence(results, explain), markup=False, highlight=False)
    if csv is not None:
        said.print(printable(table_sentence(results, csv)), markup=False, highlight=False)
    if failed:
        named = None if as_json else csv  # --json names none on a line each: its answers have each
        sentence = failed_sentence(failed, len(results), named)
        sentence += failed_in_json(failed) if as_json else ""
        err.print(sentence, style="red", markup=False)
    if unwritten is not None:
        raise unwritten
    if failed:
        sys.exit(1)


def written_table(results, csv: Path | None, force: bool) -> OSError | None:
    """``predict --csv``'s table written to ``csv`` (none without it); the OSError that refused
    it (a full disk), for the caller to raise once the answers are said."""
    from objrec.predict_outputs import write_csv

    if csv is None:
        return None
    try:
        write_csv(results, csv, force)
    except OSError as exc:
        return exc
    return None


def table_sentence(results, csv: Path) -> str:
    """Where ``--csv`` wrote the answers and what they come to: how many images were given a
    class (of how many classes, how many barely familiar) and how many were said to be unknown,
    the lines' tally in one line (the table has every answer)."""
    from objrec.data import UNKNOWN
    from objrec.prediction import tally

    counts = tally(results)
    unknown = counts.pop(UNKNOWN, None)
    barely = sum(bool(r.barely_familiar) for r in results if not r.error)
    named = f"{plural(sum(counts.values()), 'image')} given a class"
    named += f" ({plural(len(counts), 'class')} in all)" if len(counts) > 1 else ""
    named += f", {barely:,} of them barely familiar" if barely else ""
    if unknown is not None:
        named += f"; {unknown:,} said to be unknown (like none of the classes)"
    return f"{plural(len(results), 'row')} (one per input) written to {csv}: {named}"


def failed_sentence(failed: list, inputs: int, csv: Path | None = None) -> str:
    """How many inputs could not be predicted, and how many of them were too large to read: a
    10000x10000 PNG is no damaged file (a higher limit reads it). With ``csv``, more than
    :data:`FAILED_NAMED` of them are named in its error column, not on a line each."""
    from objrec.images import MAX_PIXELS_VARIABLE

    sentence = f"{len(failed)} of {plural(inputs, 'input')} could not be predicted"
    if csv is not None and len(failed) > FAILED_NAMED:
        sentence += f" (the first {FAILED_NAMED} named above; {csv}'s error column has each reason)"
    large = sum(r.too_large for r in failed)
    if large:
        them = "it" if large == 1 else "them"
        sentence += (
            f"; {large} of them too large to read, over the pixel limit (downscale {them}, or "
            f"raise the limit with {MAX_PIXELS_VARIABLE}, docs/folders.md)"
        )
    return sentence


def failed_in_json(failed: list) -> str:
    """Which inputs ``predict --json`` could not predict, for its line on stderr: "1 of 11 inputs
    could not be predicted" left the user to search the JSON."""
    named = some_of([r.path for r in failed], FAILED_NAMED)
    return f': {named} (the JSON\'s "error" of each says why)'


def shown_results(results) -> list:
    """The inputs ``predict --csv`` prints a line for: every one up to :data:`ANSWERS_ALL`
    answers, in their order, else the :data:`ANSWERS_SHOWN` most worth a look
    (:func:`worth_a_look`); and the first :data:`FAILED_NAMED` failed."""
    from objrec.predict_outputs import worth_a_look

    answered = [r for r in results if not r.error]
    failed = [r for r in results if r.error][:FAILED_NAMED]
    if len(answered) > ANSWERS_ALL:
        return [*sorted(answered, key=worth_a_look)[:ANSWERS_SHOWN], *failed]
    kept = {id(r) for r in (*answered, *failed)}
    return [r for r in results if id(r) in kept]


def more_line(results, table: Path) -> str | None:
    """How many more answers than those printed ``table`` holds, and which were printed; None
    when every one was."""
    more = sum(not r.error for r in results) - ANSWERS_SHOWN
    if sum(not r.error for r in results) <= ANSWERS_ALL or more <= 0:
        return None
    return (
        f"and {plural(more, 'more answer')} in {table} (above, the {ANSWERS_SHOWN} most worth a "
        "look: those answered unknown, then the barely familiar, then the least sure)"
    )


def print_predictions(
    results,
    plot: Path | None,
    plot_max: int,
    given: float | None = None,
    table: Path | None = None,
    hint: str | None = None,
) -> None:
    """One line per input on stdout (a failure on stderr, once), then, when any image was
    answered unknown or barely familiar, the threshold that judged them, once
    (:func:`threshold_sentence`; ``given``: --threshold's), the pairs the run mixes up and
    ``hint`` (:func:`strangers_hint`) before the tally, then where the plot went. The threshold,
    the pairs and the hint are notes (``output.notes``: stderr, none under ``objrec -q``), not
    answers: on stdout they reached a script reading the lines, and ``-q`` kept them. With
    ``table`` (``--csv``), which holds every answer, past :data:`ANSWERS_ALL` the
    :data:`ANSWERS_SHOWN` answers most worth a look and :data:`FAILED_NAMED` failures (5,000
    photos scrolled 5,000 lines past; :func:`shown_results`), then how many more the table holds:
    the progress bar, then :func:`table_sentence`, says what they come to."""
    shown = results if table is None else shown_results(results)
    for r in shown:
        if r.error:
            err.print(one_line(f"{r.path}: {r.error}"), style="red", markup=False, highlight=False)
            continue
        unknown = unknown_words(r.line is not None) if r.unknown else ""
        note = f" ({words})" if (words := familiarity_words(r)) else ""
        line = f"{r.path}: {unknown}{topk_line(r.topk)}{note}"
        console.print(one_line(line), markup=False, highlight=False)
    if table is not None and (more := more_line(results, table)):
        console.print(printable(more), markup=False, highlight=False)
    judged = [r for r in results if not r.error and (r.unknown or r.barely_familiar)]
    if judged:
        said = on_lines(threshold_sentence(judged[0], given))  # 205 characters on one line
        notes.print(said, markup=False, highlight=False)
    for extra in (mixed_sentence(results), hint):
        if extra:
            notes.print(printable(extra), markup=False, highlight=False)
    for line in [] if table is not None else tally_lines(results):
        console.print(printable(line), markup=False, highlight=False)
    if plot and (sentence := plot_sentence(results, plot, plot_max)):
        console.print(sentence, markup=False, highlight=False)


def unknown_words(familiar: bool) -> str:
    """How an image's line answered unknown begins, saying why and what its probabilities are:
    "unknown (like none of the classes); closest: crab 98.96%" read as a contradiction
    (newcomer55's 8). The probabilities share 100% among the classes taught, so they say which
    class it would be if it were one of them; the familiarity (``familiar``: the run's unknown
    score is one) says how unlike the photos the model learned from it is."""
    why = "unlike the photos the model learned from" if familiar else "like none of the classes"
    return f"unknown, {why}; if it is one of its classes: "


MIXED_NAMED = 3
"""The most pairs :func:`mixed_sentence` names: the line stays one line."""


def mixed_sentence(results) -> str | None:
    """One sentence when an answer is a class of a pair the run's evaluation mistook for each
    other both ways (``Prediction.confused_with``): a crocodile answered "crocodile 71%" alone
    gives no hint that the model mixes it up with crocodile_head, whose 24% is the second
    answer. None when none is, or the run records no such evaluation (older runs)."""
    mixed = [r for r in results if not r.error and not r.unknown and r.confused_with]
    if not mixed:
        return None
    pairs = list(
        dict.fromkeys(tuple(sorted((r.answer, c))) for r in mixed for c in r.confused_with)
    )
    named = "; ".join(f"{quoted(a)} and {quoted(b)}" for a, b in pairs[:MIXED_NAMED])
    more = len(pairs) - MIXED_NAMED
    named += f"; and {plural(more, 'pair')} more" if more > 0 else ""
    answered = sum(not r.error and not r.unknown for r in results)
    which = "" if answered == 1 else f" ({len(mixed)} of the {answered} answers here)"
    if len(pairs) == 1:
        return (
            f"the run's evaluation mistook {named} for each other both ways{which}: for an "
            "answer of either, the other deserves a look"
        )
    return (
        "the run's evaluation mistook the classes of each pair for each other both ways: "
        f"{named}{which}; for an answer of one, the other of its pair deserves a look"
    )


TALLY_FROM = 2
"""How many images answered make predict's lines end with a tally (:func:`tally_lines`)."""


def tally_lines(results) -> list[str]:
    """How many images went to each answer, under the lines of :data:`TALLY_FROM` answered images
    or more (a folder's lines run off the screen): a line per class answered, most first, with
    how many of them were barely familiar, then, when a threshold judged them, how many were
    like none of the classes (``prediction.tally``); the export's script ends its lines alike."""
    from objrec.data import UNKNOWN
    from objrec.prediction import tally

    counts = tally(results)
    if sum(counts.values()) < TALLY_FROM:
        return []
    barely = Counter(r.answer for r in results if r.barely_familiar)
    width, digits = max(map(len, counts)), len(str(max(counts.values())))
    lines = [f"{plural(sum(counts.values()), 'image')} answered:"]
    for answer, n in counts.items():
        note = f" ({barely[answer]} barely familiar)" if barely[answer] else ""
        note = " (like none of the classes)" if answer == UNKNOWN else note
        lines.append(f"  {answer:<{width}}  {n:>{digits}}{note}")
    return lines


def familiarity_words(r) -> str:
    """An image's familiarity on its line, "familiarity -0.21" when answered unknown, "barely
    familiar: 0.02" when answered though near the line; the line itself is said once, under the
    lines (:func:`threshold_sentence`), where every such line repeated "unknown below 0"."""
    from objrec.prediction import score_and_line

    if r.line is None or r.score is None or r.error:
        return ""
    score = score_and_line(r.score, r.line)[0]  # as many decimals as tell it from the line
    if r.unknown:
        return f"familiarity {score}"
    return f"barely familiar: {score}" if r.barely_familiar else ""


def threshold_sentence(r, given: float | None) -> str:
    """The unknown threshold that judged the answers (``r``'s, the same for all), once: on what
    score, and whose it is (given with --threshold, kept with the run, the run's own). Lines
    answered unknown said nothing of it for a top-probability run."""
    from objrec.config import unknown_score_words
    from objrec.meta import typical_image

    value = f"{r.unknown_threshold:g}"  # exactly: a given or kept one as typed, the run's own as 0
    value = value if float(value) == r.unknown_threshold else repr(r.unknown_threshold)
    if r.line is not None:
        what = f"familiarity {value} ({typical_image(r.scaled_on)} scores 1)"
    elif r.unknown_score == "msp":
        what = f"a top probability of {value}"
    else:
        what = f"score {value} ({unknown_score_words(str(r.unknown_score))})"
    if given is not None:
        whose = "given with --threshold"
    elif r.unknown_threshold_kept_on:
        whose = f"kept from evaluate --unknown on {r.unknown_threshold_kept_on[:10]}"
    else:
        whose = "the run's own threshold"
        if r.threshold_images is not None:
            from objrec.thresholds import resting_words

            whose += f", {resting_words(r.threshold_images, cure=False)}"
    return f"unknown below {what}: {whose}"


def topk_line(topk: Sequence[dict]) -> str:
    """An image's top classes as a person reads them: the most probable always, then those whose
    probability shows as more than 0.00%; the others are counted, not listed (on a 5-class model
    the default top 5 was mostly 0.00%). ``--json`` keeps every one, with its exact value."""
    zero = percent(0.0)
    shown = [t for i, t in enumerate(topk) if i == 0 or percent(float(t["prob"])) != zero]
    line = ", ".join(f"{quoted(t['class'])} {percent(float(t['prob']))}" for t in shown)
    hidden = len(topk) - len(shown)
    return line + (f", and {plural(hidden, 'more class')} under 0.005%" if hidden else "")


def explain_sentence(results, explain: Path) -> str:
    """Where ``--explain`` wrote its overlays and how many."""
    written = sum(r.explanation is not None for r in results)
    return f"Grad-CAM overlays of {plural(written, 'image')} written to {explain}"


def plot_sentence(results, plot: Path, plot_max: int) -> str:
    """Where ``--plot`` went and how many images it shows, of each kind of answer where it left
    some out (``predict_outputs.plot_mix_words``); nothing where it shows none (the library's
    warning said why it was not drawn)."""
    readable = sum(r.error is None for r in results)
    chosen = min(readable, plot_max)
    drawn = getattr(results, "plotted", None)  # None: as chosen (a list the CLI did not plot)
    drawn = chosen if drawn is None else drawn
    if not drawn:
        return ""
    if readable <= plot_max:
        return f"plot of {drawn} of {plural(readable, 'readable image')} written to {plot}"
    from objrec.predict_outputs import plot_choice, plot_mix_words

    answers = [r for r in results if r.error is None]
    mix = plot_mix_words(answers, plot_choice(answers, plot_max))
    return on_lines(
        f"plot of {drawn} of {plural(readable, 'readable image')} written to {plot}, some of each "
        f"kind of answer: {mix}; {readable - chosen} more left out (--plot-max)",
        whole=[str(plot)],
    )

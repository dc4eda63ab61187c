"""The ``train`` command, and what it says when done: the best epoch, why it stopped, what to
run next.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from objrec import fit_end
from objrec.cli.heap import imported_uncollected, is_program, wrote_all
from objrec.cli.messages import to_cli, under_torchrun
from objrec.cli.options import (
    CACHE_DEFAULT,
    DIR,
    FILE,
    FOLDER,
    OUT_DIR,
    Choice,
    command_line,
    config_option,
    device_option,
    from_options,
    given_options,
    json_option,
    refuse_cache_inside,
    refuse_unknown_backbone,
)
from objrec.cli.output import (
    INTERRUPTED,
    RichReporter,
    console,
    is_main_rank,
    logged_warnings,
    percent,
    print_json,
    shown,
    with_warnings,
)
from objrec.cli.sections import Sectioned
from objrec.config import (
    AUGMENTATIONS,
    BALANCES,
    BATCHNORM_MODES,
    FEATURE_DTYPES,
    HEAD_PRECISIONS,
    INT8_ENGINES,
    PRECISIONS,
    UNKNOWN_SCORES,
    TrainConfig,
    precision_words,
)
from objrec.errors import Interrupted
from objrec.fit_end import FitEnd
from objrec.paths import PathGiven
from objrec.words import clauses_on_lines, joined, on_lines, plural

if TYPE_CHECKING:
    from objrec.run_record import RunSeconds, TrainResult

log = logging.getLogger(__name__)


TRAIN_SECTIONS = {
    "Options": ("run", "resume", "epochs", "patience", "force", "as_json"),
    "Pretrained network": ("backbone", "weights", "mean", "std"),
    "Head": ("hidden", "dropout", "heads", "lr", "weight_decay", "batch_size", "min_delta", "seed"),
    "Training images": ("augment", "aug_views", "label_smoothing", "balance", "strict"),
    "Fine-tuning": ("finetune_blocks", "finetune_epochs", "finetune_lr", "finetune_batchnorm"),
    "Unknown answer": ("unknown_score",),
    "Speed and precision": (
        *("precision", "int8_engine", "head_precision", "device", "num_workers"),
        *("cache_dir", "feature_dtype"),
    ),
}
"""``train --help``'s headings: what a first run needs, then each part of the recipe."""


@click.command(
    cls=Sectioned,
    sections=TRAIN_SECTIONS,
    short_help="Train a classifier on a split folder.",
    examples=(
        "objrec train data --out run",
        "objrec train data --out run --force   # again: only new photos computed",
        "objrec train data --resume run        # go on with an interrupted run",
    ),
)
@click.argument("data", type=FOLDER)
@click.option(
    "--out",
    "run",
    type=OUT_DIR,
    metavar="RUN",
    help="The new run's folder (required, unless --resume RUN). It receives the checkpoint and "
    "logs.",
)
@config_option("--backbone")
@config_option("--weights", type=FILE)
@config_option("--mean", type=float, nargs=3)
@config_option("--std", type=float, nargs=3)
@config_option("--epochs")
@config_option("--patience")
@config_option("--min-delta")
@config_option("--batch-size")
@config_option("--lr")
@config_option("--weight-decay")
@config_option("--hidden")
@config_option("--dropout")
@config_option("--heads")
@config_option("--aug-views")
@config_option("--augment", type=Choice(AUGMENTATIONS))
@config_option("--label-smoothing")
@config_option("--balance", type=Choice(BALANCES))
@config_option("--finetune-blocks")
@config_option("--finetune-epochs")
@config_option("--finetune-lr")
@config_option("--finetune-batchnorm", type=Choice(BATCHNORM_MODES))
@config_option("--precision", type=Choice(PRECISIONS))
@config_option("--int8-engine", type=Choice(INT8_ENGINES))
@config_option("--head-precision", type=Choice(HEAD_PRECISIONS))
@config_option("--unknown-score", type=Choice(UNKNOWN_SCORES))
@config_option("--seed")
@config_option(
    "--num-workers",
    see="not serve's --workers",
    type=click.IntRange(min=0),
    metavar="N",
    show_default="0 on a CPU, every core but one on a GPU",
)
@device_option
@config_option("--cache-dir", type=DIR, show_default=CACHE_DEFAULT)
@config_option("--feature-dtype", type=Choice(FEATURE_DTYPES))
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite a model already in --out. It also lets the run be written beside other files "
    "in --out (never among photos, nor over files of the names a run writes).",
)
@click.option(
    "--resume",
    metavar="RUN",
    type=FOLDER,
    help="Continue an interrupted run. It goes on in this folder after its last completed epoch, "
    "with its own settings (its settings and --force given beside it are ignored, with a warning).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse to start on unusable files. It refuses while `objrec check` finds any (by default "
    "they are left out, each named in a warning).",
)
@json_option("the run's summary")
def train(
    data: Path,
    run: Path | None,
    resume: Path | None,
    strict: bool,
    as_json: bool,
    force: bool,
    device: str,
    **options,
) -> None:
    """Train a classifier on the split folder DATA: a new head on a pretrained network.

    A first run needs only DATA and --out: the defaults were chosen on validation data. --epochs
    and --patience say how long the head may train; the other options are for comparing settings
    (docs/caltech101.md, "Beyond the defaults"; benchmarks/README.md measures each).
    \f
    The pretrained network (the frozen body) is kept as it is: what it makes of each image (its
    features) is computed once (the centre view plus --aug-views augmented views of each training
    image) and cached; the head (small layers that learn your classes) then trains for as many
    epochs as early stopping on the validation loss wants. RUN receives model.safetensors (the
    best epoch), config.json, history.csv, curves.png, summary.json and seen_digests.csv (the
    images it trained and validated on, by content, for evaluate's check)."""
    began = command_began()
    target = run_folder(run, resume)  # before the heavy import: answered at once
    config = train_config(options, resume)
    refuse_from_paths(data, run, force)
    refuse_cache_inside(config.cache_dir, data)
    reporter = RichReporter()
    strict = strict and not checked_strictly(data, reporter, config.cache_dir)
    run_train = loaded_train(config, resume is None, reporter)
    starting = time.monotonic() - began
    with logged_warnings() as logged, silent_stop_off_rank_0(), json_if_stopped(as_json, logged):
        if resume is None:
            warn_of_unused_finetune(config.finetune_blocks)
        from objrec.train_open import RunRequest  # imported already, by loaded_train

        request = RunRequest(force=force, resume=bool(resume), strict=strict)
        result = run_train(data, target, config, reporter, request, device, command_line())
    if not is_main_rank():
        return
    if as_json:
        print_json(with_warnings(result.summary(), logged))
    else:
        print_trained(result, reporter, Waited(began, starting))
        console.print(evaluate_next(result.run, data), markup=False, highlight=False)
    wrote_all()  # the run is written: the process may end at once


def loaded_train(config: TrainConfig, new: bool, reporter: RichReporter):
    """objrec.train's ``train``, imported under a first line that says so (seconds of PyTorch:
    several seconds of silence otherwise, under load), by rank 0 alone under torchrun; a
    ``new`` run's network checked."""
    with reporter.loading() if is_main_rank() else nullcontext(), imported_uncollected():
        if new:
            refuse_what_the_body_cannot(config)  # builds on torch: after the line above
        from objrec.train import train_as_asked as run_train
    return run_train  # what train imported lives to the end, frozen: no collection walks it


def run_folder(run: Path | None, resume: Path | None) -> Path:
    """The run's folder: exactly one of --out and --resume, or a usage error saying so (both
    given: not both)."""
    if run is not None and resume is None:
        return run
    if resume is not None and run is None:
        return resume
    raise click.UsageError(
        "give --out RUN for a new run, or --resume RUN to continue one"
        + (", not both (a resumed run stays in its folder)" if run is not None else "")
    )


def refuse_from_paths(data: Path, run: Path | None, force: bool) -> None:
    """What a new run refuses from paths and files alone, said before the libraries load (5 to
    30 s of them first): a DATA that is not a split folder, an --out holding a run without
    --force, or photos (a class folder). The library checks them again, as it does for a
    caller."""
    from objrec.data import require_split_folder
    from objrec.locks import held_elsewhere
    from objrec.outputs import output_path
    from objrec.run_place import refuse_run_place

    require_split_folder(data)
    out = None if run is None else output_path(run)  # a loop of links said as the library does
    if out is not None and not held_elsewhere(out):  # one training now: the library says so
        refuse_run_place(out, force, data)


def checked_strictly(data: Path, reporter: RichReporter, cache_dir: PathGiven | None) -> bool:
    """--strict's check of DATA's files (``objrec check``'s, through ``cache_dir``), made before
    the libraries load, which it needs none of: unusable files are said at once, not after
    seconds of PyTorch.
    Whether it was made: under torchrun with several processes it is left to the library, where
    rank 0 checks and every rank refuses."""
    from objrec.check import unusable_problem
    from objrec.errors import strict_refusal

    if under_torchrun() and int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return False
    if problem := unusable_problem(data, reporter, cache_dir):
        raise strict_refusal(data, [problem])
    return True


@contextmanager
def silent_stop_off_rank_0() -> Iterator[None]:
    """Ctrl-C under torchrun: rank 0 says what was kept and how to resume; the other ranks exit
    with 130 (143 after SIGTERM) saying nothing, where click printed a blank line and 'aborted'."""
    try:
        yield
    except KeyboardInterrupt:
        if is_main_rank():
            raise
        raise SystemExit(INTERRUPTED) from None


@contextmanager
def json_if_stopped(as_json: bool, logged: list[str]) -> Iterator[None]:
    """With --json, the summary of a run stopped in the head's epochs (the run so far, resumable:
    ``Interrupted.summary``) printed by rank 0 before the stop is said, with the warnings
    ``logged``, as a finished run's is."""
    try:
        yield
    except Interrupted as exc:
        if as_json and exc.summary is not None and is_main_rank():
            print_json(with_warnings(exc.summary, logged))
        raise


def train_config(options: dict, resume: Path | None) -> TrainConfig:
    """The settings ``train``'s options give, a bad value refused as a usage error (no heavy
    import: said at once), and a resumed run's ignored options warned of."""
    if resume is not None:
        warn_of_ignored(resume, [*options, "force"])
    options["weights"] = str(options["weights"]) if options["weights"] else None
    options["cache_dir"] = str(options["cache_dir"]) if options["cache_dir"] else None
    return from_options(TrainConfig, **options)


def refuse_what_the_body_cannot(config: TrainConfig) -> None:
    """A new run's bad backbone or --finetune-blocks as a usage error before any work; both look
    the network up among those objrec builds, which imports PyTorch."""
    refuse_unknown_backbone(config.backbone, config.mean, config.std)
    refuse_blocks_beyond_the_body(config)


def refuse_blocks_beyond_the_body(config: TrainConfig) -> None:
    """A --finetune-blocks the backbone's body cannot fine-tune as a usage error before any work,
    as every other bad value: it refused after the frozen pass and the head's fit."""
    from objrec.finetune import require_blocks

    from_options(require_blocks, config.backbone, config.finetune_blocks)


def warn_of_ignored(resume: Path, names: Sequence[str]) -> None:
    """One warning naming the options among ``names`` (the run's settings, and --force) that were
    given beside --resume, which continues ``resume`` with its own settings and ignores them."""
    ignored = given_options(names)
    if ignored:
        log.warning(
            "--resume continues %s with the settings it started with: %s %s ignored",
            shown(resume),
            joined(ignored),
            "are" if len(ignored) > 1 else "is",
        )


FINETUNE_SETTINGS = ("finetune_epochs", "finetune_lr", "finetune_batchnorm")
"""``train``'s options that say how the body's last blocks are fine-tuned, when any are."""


def warn_of_unused_finetune(blocks: int) -> None:
    """One warning naming the fine-tuning options given while ``--finetune-blocks`` is 0: the
    body stays frozen and they change nothing (a sweep of blocks from 0 still runs)."""
    if blocks:
        return
    ignored = given_options(FINETUNE_SETTINGS)
    if ignored:
        log.warning(
            "%s %s ignored: --finetune-blocks is 0, so the body stays frozen and only the head "
            "trains (--finetune-blocks N fine-tunes its last N blocks)",
            joined(ignored),
            "are" if len(ignored) > 1 else "is",
        )


def evaluate_next(run: Path, data: Path) -> str:
    """What to run after ``train``: evaluate, and how to see what "unknown" catches (its
    threshold is only said in words on the probabilities line). A split folder without a test
    split (``split --ratios 0.85 0.15 0``, the final model) was told to evaluate, which refuses
    it: photos it never saw are then the page's and predict's to try (teachable42). On lines a
    terminal of 100 columns shows whole, each command on one (one line was 171 characters)."""
    from objrec.data import is_split_folder, present_splits

    where = " ".join(shlex.quote(shown(p)) for p in (run, data))
    if is_split_folder(data) and "test" not in present_splits(data):
        model = shlex.quote(shown(run))
        commands = [f"objrec serve {model}", f"objrec predict {model} PHOTOS"]
        commands.append(f"objrec evaluate {where} --split valid")
        return on_lines(
            f"next: {shown(data)} has no test split to score the model on; try it on photos it "
            f"never saw: {commands[0]} (a page to drop them on) or {commands[1]} "
            f"({commands[2]} scores the validation photos, which chose its epoch: a kinder score)",
            commands,
        )
    return on_lines(
        f"next: objrec evaluate {where}; add --unknown FOLDER (photos of none of the classes) "
        "to see how many of them would still get a class, and a stricter threshold if one helps",
        [f"objrec evaluate {where}"],
    )


class Waited(NamedTuple):
    """What the user of ``objrec train`` has waited: since ``began`` (``time.monotonic``), of it
    ``starting`` seconds before train's work (Python's start, the libraries' import)."""

    began: float
    starting: float

    def until_now(self) -> float:
        """The seconds since the command began."""
        return time.monotonic() - self.began


def command_began() -> float:
    """When the command began, on ``time.monotonic``'s clock: its process's start when the CLI
    is the program (Python's start and the imports before ``main`` included: the system dates
    it), else now (``main([...])`` in a process that goes on: a test, a notebook).

    summary.json's ``seconds.total`` counts train's own work only, which leaves out the
    seconds of starting (half of a warm retrain's wait: "4s in all" of 12.8 s waited)."""
    if is_program():
        with suppress(OSError, ValueError, IndexError, AttributeError):
            return time.monotonic() - process_age()
    return time.monotonic()


def process_age() -> float:
    """How long ago this process started, in seconds, from Linux's /proc (its ``starttime``, in
    clock ticks since boot); OSError or AttributeError (no ``CLOCK_BOOTTIME``) elsewhere."""
    after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(after_name[19])  # field 22 of the file, the 20th after the name's ')'
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    if not 0 <= age < 86_400 * 365:
        raise ValueError(f"a process age of {age} s")
    return age


def print_trained(
    result: TrainResult, reporter: RichReporter | None = None, waited: Waited | None = None
) -> None:
    """What a finished ``train`` says: the best epoch (the head kept, and the blocks a fine-tuning
    kept tuned), why it stopped, the time (``waited``'s, starting included, where the CLI has it;
    else the run's own), the model."""
    if reporter is not None:
        reporter.last_epoch()
    finetune = getattr(result, "finetune", None)
    tuned = finetune is not None and finetune.kept  # tuned blocks kept with the head
    console.print(
        f"best epoch {result.best_epoch} of {len(result.history)}, the head "
        f"{'and its fine-tuned blocks ' if tuned else ''}kept: valid loss "
        f"{result.best_valid_loss:.4f}, valid accuracy {percent(result.best_valid_acc)}"
    )
    losses = [row["valid_loss"] for row in result.history]
    config = run_config(result.run)
    stopped = early_stop_sentence(result.best_epoch, len(result.history), config, losses)
    if stopped:
        console.print(stopped)
    if result.seconds is not None:  # a run train wrote: where its time went
        line = time_line(result, result.seconds, config, waited)
        console.print(line, markup=False, highlight=False)


def time_line(
    result: TrainResult, seconds: RunSeconds, config: dict[str, Any], waited: Waited | None
) -> str:
    """The closing sentence: the seconds in all, those computing features (or reading them) and
    in what precision (an int8 frozen pass's ``quantize``: its body may be fp32 since, a
    fine-tuning kept; fine-tuning's pass below its blocks, which comes first), the fit's and the
    calibration's, on lines a terminal of 100 columns shows whole (one line was 300 characters);
    then, on a line of its own, where the model was saved."""
    quantized = seconds.quantize or 0.0
    features = features_words(result, seconds, config)
    finetune = getattr(result, "finetune", None)
    below = (finetune.below_seconds or 0.0) if finetune is not None else 0.0
    spent = (
        f"{in_all(seconds, waited)}{seconds.features:.0f}s {features}"
        + (f", {quantized:.0f}s of it getting its int8 copy{INT8_ONCE}" if quantized >= 1 else "")
        + (f", {below:.0f}s of it the pass below the tuned blocks" if below >= 1 else "")
        + fit_words(seconds, config, finetune)
        + writing_words(seconds, waited)
        + ")"
    )
    return f"{clauses_on_lines(spent)}\nmodel saved to {shown(result.run / 'model.safetensors')}"


def writing_words(seconds: RunSeconds, waited: Waited | None) -> str:
    """``, 5s writing the run``: the seconds waited past train's own work (``seconds.total``),
    writing the run, and under torchrun the processes waiting for rank 0 to write it and ending
    together: "31s in all (11s starting, 3s computing features, 12s fitting the 5 heads)" left
    5 s unsaid. Nothing under a second, nor where the CLI does not know the time waited."""
    if waited is None:
        return ""
    left = waited.until_now() - waited.starting - seconds.total
    processes = world_size()
    ending = f" and ending its {processes} processes (torchrun)" if processes > 1 else ""
    return f", {left:.0f}s writing the run{ending}" if left >= 1 else ""


def world_size() -> int:
    """How many processes torchrun started for this command (its ``WORLD_SIZE``), 1 without."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def features_words(result: TrainResult, seconds: RunSeconds, config: dict[str, Any]) -> str:
    """What the features' seconds went to, as the run's frozen pass counted it: getting them
    all from the feature store (those seconds load the networks too, which key the store),
    computing them with the network (in its precision), or how many of each, as the run's lines
    per view say. Features a fine-tuned run made from its cut's rows (``derived``) count as
    computed, though not by the body's own pass; a fine-tuned run that got them all from the
    store and computed its views below the tuned blocks (``cut_computed``) says both."""
    from objrec.backbones import network_words

    counts = getattr(result, "frozen_pass", None)
    computed, stored = (counts.computed + counts.derived, counts.from_store) if counts else (0, 0)
    if stored and not computed:  # its seconds load the networks too: not "reading" alone
        cut = counts.cut_computed if counts else 0
        getting = f"getting the {stored:,} image features"
        if cut:  # fine-tuning's views below its blocks were computed: not "every one" stored
            return f"{getting} from the feature store and computing {cut:,} below the tuned blocks"
        return f"{getting}, every one from the feature store"
    settled = result.precision.body.used if result.precision is not None else "fp32"
    frozen = "int8" if seconds.quantize is not None else settled
    network = f"{network_words(config.get('backbone', ''))} in {precision_words(frozen)}"
    if stored:
        return (
            f"computing {computed:,} image features with {network} and reading {stored:,} from "
            "the feature store"
        )
    return f"computing features with {network}"


def fit_words(seconds: RunSeconds, config: dict[str, Any], finetune: Any = None) -> str:
    """``, 36s fitting the 5 heads, 2s calibrating``: what a warm retrain's user mostly waits for,
    which "88s in all (30s starting, 5s computing features)" alone would not account for; a
    part under a second is left unsaid. A fine-tuning's epochs (``finetune``: its record) are a
    part of their own, apart from the heads' fit they would otherwise be taken for; its pass
    below the tuned blocks is said with the features (:func:`time_line`)."""
    heads = config.get("heads") or 1
    fitting = f"fitting the {heads} heads" if heads > 1 else "fitting the head"
    tuning = getattr(finetune, "seconds", None) or 0.0
    parts = [(seconds.fit - tuning, fitting)]
    if tuning:
        blocks = plural(finetune.blocks, "block") if finetune.blocks > 1 else "block"
        parts.append((tuning, f"fine-tuning the network's last {blocks}"))
    parts.append((seconds.calibrate, "calibrating"))
    return "".join(f", {spent:.0f}s {what}" for spent, what in parts if spent >= 1)


def in_all(seconds: RunSeconds, waited: Waited | None) -> str:
    """The closing sentence's start: the seconds in all, those the user waited where known, and
    how many of them went to starting when one or more."""
    if waited is None:
        return f"{seconds.total:.0f}s in all ("
    starting = f"{waited.starting:.0f}s starting, " if waited.starting >= 1 else ""
    return f"{waited.until_now():.0f}s in all ({starting}"


INT8_ONCE = ", made once per network and cache folder and loaded by later runs"
"""Of the seconds train spent on its int8 copy: a warm retrain's 1-2 s find the copy (the fp32
body's fingerprint is its key), so the words say the copy is made once and loaded after, not
"making its int8 copy" (as if made again) nor "found after" (unclear)."""


def run_config(run: Path) -> dict[str, Any]:
    """The settings a run was trained with (its config.json), or none when it cannot be read."""
    try:
        return json.loads((Path(run) / "config.json").read_text())
    except (OSError, ValueError):
        return {}


def early_stop_sentence(
    best: int, ran: int, config: dict[str, Any], losses: Sequence[float] = ()
) -> str | None:
    """Why the head stopped where it did (``fit_end.early_stop_sentence``) in the CLI's terms, for
    a run that stopped at epoch ``ran``, its best ``best``, trained with ``config`` (its
    config.json), ``losses`` each epoch's validation loss; None without ``epochs`` and
    ``patience``, or for a fine-tuned run."""
    epochs, patience = config.get("epochs"), config.get("patience")
    if config.get("finetune_blocks") or not epochs or not patience:
        return None
    min_delta = config.get("min_delta", 0.0)
    limit = ("epochs", epochs)
    end = FitEnd(ran, best, epochs, limit, patience, min_delta, tuple(losses))
    said = fit_end.early_stop_sentence(end)
    return to_cli(said, train) if said else None

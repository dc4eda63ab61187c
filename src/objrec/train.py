"""``train``: split folder in, run folder out. The recipe, in the order it runs:

1. :func:`prepare`: build the model, compute (or read from the feature store) the frozen body's
   features of every training view and of the validation images;
2. :func:`fit_head`: train the head on them with early stopping, saving every epoch;
3. :func:`finetune_phase`: optionally train the body's last blocks too (``--finetune-blocks``;
   its epochs, and what the run keeps of them, in ``finetune``);
4. :func:`calibrate`: fit the temperature, the unknown score and its threshold (``confidence``);
5. ``runs.write_run``: write the best model, history, curves, config and summary.

The run is opened first (its folder held, a resume's state, its settings and precision settled)
by ``train_open``; ``prepare``'s frozen pass (the body, the features of train and valid, the
fine-tuning's cut) is ``train_features``'s. Features come from ``features``, their batches (the
head's, calibration's) from ``batches``; the run folder's policy (what it may hold, resume, what
is written) from ``runs``; what a stop (Ctrl-C, a diverged loss, an error) keeps and says from
``train_stops``, by the phase of the run each step enters as it begins
(``RunStops.entering``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from objrec.backbones import (
    get_backbone,
    resolve_data_config,
)
from objrec.batches import (
    FeatureSource,
    epoch_sources,
    epoch_steps,
    sampled_images,
)
from objrec.bodies import Body
from objrec.cache import open_cache
from objrec.confidence import (
    FittedConfidence,
    calibration_note,
    fit_confidence,
    reads_training_features,
)
from objrec.config import TrainConfig
from objrec.distributed import SINGLE, Told, World, process_group
from objrec.engine import (
    FitState,
    Shards,
    Stopping,
    fit,
    seed_everything,
    training_loss,
)
from objrec.errors import ObjrecError
from objrec.finetune import (
    FinetuneRecord,
    body_kept,
    cut_parts,
    tune_blocks,
    tuned_parameters,
)
from objrec.int8_body import QuantizedBody
from objrec.leakage import seen_in_state, union_seen
from objrec.meta import Calibration, ParameterCounts, RunMeta
from objrec.model import Classifier, build_head, count_parameters
from objrec.optimizers import HeadAdam
from objrec.outputs import takes_back_folders
from objrec.paths import PathGiven
from objrec.precision import (
    Precision,
)
from objrec.prepared import LiveParts, Prepared, RunContext, Stages
from objrec.progress import SILENT, Reporter, or_silent
from objrec.renames import renamed_arguments
from objrec.resume_state import (
    EpochSaver,
    FinetuneSaver,
    SavedTraining,
    head_part,
    restore_training_state,
)
from objrec.run_files import LAST
from objrec.run_record import RunSeconds, TrainResult
from objrec.runs import RunFolders, keep_best_so_far, require_same_classes, write_run
from objrec.start_hints import (
    hint_balance,
    hint_few_train,
    hint_hand_placed,
    hint_normalisation,
)
from objrec.train_features import (
    changed_body,
    cut_features,
    from_the_cut,
    frozen_body,
    frozen_pass_counts,
    hashed,
    listed_split,
    require_readable_splits,
    run_body,
    run_classes,
    run_features,
    stack_views,
)
from objrec.train_open import (
    RunRequest,
    open_run,
    refuse_unusable_files,
    replaces_earlier,
    started_by,
    train_settings,
)
from objrec.train_stops import (
    BlocksBefore,
    Phase,
    RunSoFar,
    RunStops,
    StopParts,
    run_stops,
    said_on_a_stop,
)
from objrec.warned import warned_once_per_file
from objrec.words import listed, plural, quoted

log = logging.getLogger(__name__)

__all__ = ["TrainResult", "prepare", "seed_everything", "train", "training_loss"]


@renamed_arguments(data_dir="data")
def train(
    data: PathGiven,
    out: PathGiven,
    config: TrainConfig | Mapping[str, Any] | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    resume: bool = False,
    strict: bool = False,
    device: str = "auto",
    **keywords: Any,
) -> TrainResult:
    """Train a new head on the frozen backbone's cached features; save the best epoch's model.

    Args:
        data: a split folder (``train/``, ``valid/``, ``test/``), e.g. from ``split_folder``
            (``objrec train DATA``; ``data_dir`` before 7 December 2026, still taken, warning).
        out: the run folder; refused when it already holds a model, unless ``force``.
        config: the settings: a ``TrainConfig``, a mapping of its fields, or its fields as
            ``keywords``; default ``TrainConfig()``. Ignored when resuming.
        reporter: receives progress and epoch lines (None: nothing is shown; logged at INFO).
        force: replace a trained model already in ``out``.
        resume: continue the run in ``out`` after its last completed epoch.
        strict: refuse to start while ``objrec check`` finds unusable files.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (``objrec.devices``): where the frozen
            pass, the head and fine-tuning run; not a run setting, so a resume may move.
        keywords: ``TrainConfig``'s fields, each documented there (``help(objrec.TrainConfig)``):
            ``backbone``, ``weights``, ``mean``, ``std``, ``epochs``, ``patience``,
            ``min_delta``, ``batch_size``, ``lr``, ``weight_decay``, ``hidden``, ``dropout``,
            ``heads``, ``augment``, ``aug_views``, ``label_smoothing``, ``balance``,
            ``finetune_blocks``, ``finetune_epochs``, ``finetune_lr``, ``finetune_batchnorm``,
            ``precision``, ``int8_engine``, ``head_precision``, ``unknown_score``, ``seed``,
            ``num_workers``, ``cache_dir``, ``feature_dtype``.

    Under ``torchrun`` the ranks share the frozen pass and train the head with DDP, each on GPU
    ``LOCAL_RANK`` on a GPU machine; only rank 0 reports and writes (``objrec.distributed``).

    Raises:
        Interrupted: on Ctrl-C, after saving the best model so far (resume with ``resume``), or
            saying what was kept when the head had not trained an epoch yet.
    """
    config = train_settings(config, keywords)
    request = RunRequest(force=force, resume=resume, strict=strict)
    return train_as_asked(Path(data), Path(out), config, reporter, request, device)


@takes_back_folders("out", by_rank_0=True)
@warned_once_per_file()
def train_as_asked(
    data: Path,
    out: Path,
    config: TrainConfig | Mapping[str, Any] | None,
    reporter: Reporter | None,
    request: RunRequest,
    device: str = "auto",
    command: Sequence[str] | None = None,
) -> TrainResult:
    """:func:`train` as the CLI and the demo ask for it, with what a script's call has not: why
    the precision is what it is (``request.precision_why``, said and kept) and the ``command``
    line that started the run (kept in its ``provenance``; a resume keeps the one it recorded)."""
    started = started_by(out, request.resume, command)
    request = replace(request, command=started)
    config = train_settings(config, {})
    with (
        callers_random_kept(),
        process_group(device) as world,
        ExitStack() as run_scope,  # open until the run ends
    ):
        reporter = or_silent(reporter) if world.main else SILENT
        folders = RunFolders(run=Path(out), data=Path(data))
        stops = run_stops(folders, request.resume, config.cache_dir, world)
        with said_on_a_stop(stops):  # what a stop keeps and says, by the phase _train records
            return _train(
                folders.data, folders.run, config, reporter, request, world, run_scope, stops
            )


@contextmanager
def callers_random_kept() -> Iterator[None]:
    """The caller's global random streams as they were once the run ends, however it ends:
    Python's ``random``, NumPy's and PyTorch's (the CPU's, and each GPU's where CUDA is in use
    already), which the run seeds from its ``seed`` (:func:`seed_everything`) and a resume sets
    from its training state. A notebook that seeded its own streams drew the run's numbers
    after ``train`` (review64a L1)."""
    python, numpy = random.getstate(), np.random.get_state()
    gpus = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    try:
        with torch.random.fork_rng(devices=gpus):
            yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)


def _train(
    data_dir: Path,
    out: Path,
    config: TrainConfig | None,
    reporter: Reporter,
    request: RunRequest,
    world: World,
    run_scope: ExitStack,
    stops: RunStops,
) -> TrainResult:
    """The recipe, each step in the phase it enters in ``stops`` as it begins
    (``RunStops.entering``; ``train_stops.Phase``: what a stop in it keeps and says)."""
    started = time.perf_counter()
    out, saved, config, precision = open_run(
        data_dir, out, config, request, reporter, world, run_scope
    )
    if request.strict:
        refuse_unusable_files(data_dir, reporter, world, config.cache_dir)
    folders = RunFolders(run=out, data=data_dir)
    try:
        with stops.entering(Phase.FROZEN_PASS):
            run = prepared_run(folders, config, Told(reporter, world), saved, request)
            run = replace(run, prep=replace(run.prep, precision=precision))
            live = run.live
            live.stages = Stages(started, time.perf_counter())
        state, saver = fit_head(run, stops)  # the head's epochs: entered there
        source, finetune = FeatureSource(run.prep.train, run.prep.valid), None
        head_end = StopParts(so_far=run_so_far(run), blocks=BlocksBefore(live.model, live.top))
        if config.finetune_blocks:
            with stops.entering(Phase.FINE_TUNING, head_end):
                tuned = finetune_saver(out, saver, saved)
                state, source, finetune = finetune_phase(run, state, tuned)
                run = fine_tuned(run, finetune)
        with stops.entering(Phase.CALIBRATING, head_end):
            live.stages.calibrating = time.perf_counter()  # the run's one clock: see Stages
            meta, fitted = calibrate(live.model, run.config, run.meta, source, reporter, world)
    finally:
        open_cache(config.cache_dir).close()  # lets `objrec cache --prune` go on
    with stops.entering(Phase.WRITING):
        t2, prep = time.perf_counter(), run.prep
        seconds = run_seconds(prep, precision.body.used, live.stages.until(t2))
        with reporter.task("writing the run", None):  # seconds: the model file, the curves' plot
            trained = TrainedRun(run.config, meta, state, seconds, finetune, fitted)
            result = write_trained(out, prep, live.model, trained, world, saver)
            stops.enter(Phase.WRITTEN)  # in place: a stop from here on loses nothing
    log_seconds(result.seconds, time.perf_counter() - t2, world, prep.precision)
    return result


@dataclass(frozen=True)
class TrainedRun:
    """What a run ends with, for :func:`write_trained`: one object read by name, where two
    tuples of three stood in for it."""

    config: TrainConfig
    """Its settings (a kept fine-tuning's: ``body_kept``)."""
    meta: RunMeta
    """Its model's metadata, calibrated."""
    state: FitState
    """The head's fit: its epochs, its best."""
    seconds: RunSeconds
    """Where its time went."""
    finetune: FinetuneRecord | None
    """What fine-tuning did; None without it."""
    fitted: FittedConfidence | None
    """The temperature and familiarity score calibration fitted; None when not calibrated."""


def write_trained(
    out: Path,
    prep: Prepared,
    model: Classifier,
    trained: TrainedRun,
    world: World,
    saver: EpochSaver | None,
) -> TrainResult:
    """The run written into ``out`` (``runs.write_run``, by rank 0): its ``model`` given the
    familiarity score calibration fitted, its settings, metadata and fit state, and its record
    (``Prepared.record``) of the seconds spent, what fine-tuning did and how the temperature was
    chosen (``trained``). Rank 0's ``saver`` lets go of its copies once the run's files are in
    place."""
    fitted = trained.fitted
    model.familiarity = fitted.familiarity if fitted else None
    chosen = fitted.temperature_fit if fitted else None
    record = prep.record(trained.seconds, calibration=chosen, finetune=trained.finetune)
    return write_run(
        out,
        model,
        trained.config,
        trained.meta,
        trained.state,
        record,
        write=world.main,
        replaces=prep.replaces,
        in_place=saver.let_go if saver else lambda: None,
    )


def prepared_run(
    folders: RunFolders,
    config: TrainConfig,
    told: Told,
    saved: SavedTraining | None,
    request: RunRequest,
) -> RunContext:
    """The run's data, features and model (:func:`prepare` of ``folders.data``; a resumed run's
    body must be the one it ``saved``) and what the run records of them (``request``: its command
    line; whether it replaces an earlier run in ``folders.run``; for a resumed run, the images it
    saw before the resume and since: one it trained on that was removed or changed since stays
    in its record for the leak check); its classes and parameters said (``told``)."""
    data_dir, (reporter, world) = folders.data, told
    prep, live = prepare(data_dir, config, reporter, world, saved.meta if saved else None)
    seen = union_seen(prep.seen, seen_in_state(saved.tensors)) if saved else prep.seen
    replaces = replaces_earlier(folders.run, request)
    prep = replace(prep, command=request.command, replaces=replaces, seen=seen)
    reporter.note(classes_note(prep.classes))
    reporter.note(parameters_line(live.params, live.model, config.finetune_blocks))
    meta = run_meta(prep, live.model, config, data_dir)
    return RunContext(folders, prep, live, config, meta, told, saved)


def parameters_line(params: ParameterCounts, model: Classifier, blocks: int) -> str:
    """What train says of the model's parameters: every one, and those the heads train, and
    those fine-tuning ``blocks`` blocks trains too (the summary's ``params`` counts them where
    it is kept)."""
    line = f"parameters: {params.total:,} total, {params.trainable:,} trainable"
    tuned = tuned_parameters(model.body, blocks)
    if not tuned:
        return line
    return f"{line}, and {tuned:,} more in fine-tuning ({plural(blocks, 'block')} of the network)"


CLASS_NAMES_WIDTH = 160
"""How many characters of class names train's ``classes:`` line holds (two lines of a terminal)
before it counts the rest."""


def classes_note(classes: Sequence[str], width: int = CLASS_NAMES_WIDTH) -> str:
    """How many classes the run learns, named as far as ``width`` characters of names go, the
    rest counted: ``classes: 3 (blue, green, red)``, ``classes: 60 (ant, bee, ... and 41 more)``,
    so that a class added or gone shows in train's first lines. Names shown only for 10 classes
    or fewer would let an 11th class added hide them all."""
    names = [quoted(name) for name in classes]
    shown = 0
    while shown < len(names) and len(", ".join(names[: shown + 1])) <= width:
        shown += 1
    if shown == len(names):
        return f"classes: {len(classes)} ({', '.join(names)})"
    listed = f"{', '.join(names[:shown])} and {len(names) - shown:,} more" if shown else ""
    return f"classes: {len(classes)}" + (f" ({listed})" if listed else "")


def log_seconds(
    seconds: RunSeconds | None, writing: float, world: World, precision: Precision | None
) -> None:
    """Where the run's time went, logged by the rank that wrote it, once every rank is there;
    then, of a run whose int8 body OpenVINO ran, what that means for its export
    (:data:`EXPORT_IN_OPENVINO`): logged at the end, not as the run begins, where it would be the
    first line a Python user logging at INFO reads, an export note before a word of training."""
    if world.main:
        spent = listed(seconds.to_json(), ".1f") if seconds is not None else "none"
        log.info("train: seconds: %s; writing the run %.1f", spent, writing)
        if precision is not None and precision.engine == "openvino":
            log.info(EXPORT_IN_OPENVINO)
    world.barrier("rank 0 calibrating and writing the run")


def run_seconds(prep: Prepared, frozen: str, times: tuple[float, ...]) -> RunSeconds:
    """Where a run's time went, from its start and the ends of ``prepare``, the fit and the
    calibration (``time.perf_counter`` values); ``frozen``: the precision the frozen pass ran in
    (an int8 body's run keeps ``quantize`` when a fine-tuning kept has made it fp32 since)."""
    started, t0, t1, t2 = times
    quantize = prep.quantize_seconds if frozen == "int8" else None  # part of "features"
    return RunSeconds(
        features=prep.seconds, fit=t1 - t0, calibrate=t2 - t1, quantize=quantize, total=t2 - started
    )


EXPORT_IN_OPENVINO = (
    "the exported model gives objrec's answers in OpenVINO, not exactly in ONNX Runtime: "
    "for ONNX Runtime, train with `precision='fp32'` (see docs/export.md)"
)
"""What train logs (shown with ``-v``) at its end of an int8 body OpenVINO ran: its export's answers
differ in ONNX Runtime (docs/export.md measures by how much). Not a line shown by default: every
default train on a CPU with 8-bit dot products would print it before a user thinks of exporting;
export's help says it, and export warns when the file's answers in ONNX Runtime are apart."""


# ---------------------------------------------------------------- 1. prepare


def prepare(
    data_dir: Path,
    config: TrainConfig,
    reporter: Reporter,
    world: World = SINGLE,
    resumed: RunMeta | None = None,
) -> tuple[Prepared, LiveParts]:
    """Build the model and compute (or load) the frozen features of train and valid: the features
    and what the run records of them, and the model (with ``finetune_blocks``, the blocks above
    the cut too), which the run trains; ``resumed``: a resumed run's metadata, whose body (its
    fingerprint) is checked first."""
    started = time.perf_counter()
    resuming = resumed is not None and resumed.body_fingerprint is not None
    train_set, valid_set, split = listed_split(Path(data_dir), reporter, world)
    hint_balance(train_set, config, world, resumed=resuming)
    hint_few_train(train_set, split, world, resumed=resuming)
    hint_hand_placed(Path(data_dir), (train_set, valid_set), world, resumed=resuming)
    spec = get_backbone(config.backbone)
    hint_normalisation(spec, config, world, resumed=resuming)
    data = resolve_data_config(spec, config.mean, config.std)
    body, quantizing = run_body(spec, data, config, Told(reporter, world), resumed)
    model = new_model(body, len(train_set.classes), config)
    frozen = frozen_body(body, data, config, world, resumed)
    sets, told = (train_set, valid_set), Told(reporter, world)
    cut = cut_features(body, sets, data, config, told)
    derive = from_the_cut(cut, body, frozen)
    train_sets, valid = run_features(frozen, sets, data, config, told, derive=derive)
    require_readable_splits(Path(data_dir), train_sets, valid, train_set.classes)
    prep = Prepared(
        data=data,
        train=stack_views(train_sets, world),
        valid=stack_views([valid], world),
        cut=cut.stacks(world) if cut else None,
        cut_seconds=cut.seconds if cut else 0.0,
        fingerprint=frozen.fingerprint,
        train_set=train_set,
        valid_set=valid_set,
        frozen_pass=frozen_pass_counts([*train_sets, valid], world, cut),
        seconds=time.perf_counter() - started,
        quantize_seconds=quantizing,
        seen={"train": hashed(train_sets[0]), "valid": hashed(valid)},
        image_classes=run_classes(
            data_dir, (train_sets[0], valid), train_set, frozen.cache, reporter, world
        ),
        split=split,
    )
    return prep, LiveParts(model, cut.top if cut else None)


def new_model(body: Body, n_classes: int, config: TrainConfig) -> Classifier:
    """The run's model: ``body`` frozen, under a new head for ``n_classes`` classes, its weights
    drawn from ``config.seed``."""
    seed_everything(config.seed)
    head = build_head(body.n_features, n_classes, config.hidden, config.dropout, config.heads)
    return Classifier(body, head).freeze_body()


def trained_counts(prep: Prepared) -> dict[str, int]:
    """Training images per class the head learned from: readable in every view (a file that could
    not be decoded is in the folder, not in the head)."""
    counts = torch.bincount(prep.train_y, minlength=len(prep.classes)).tolist()
    return dict(zip(prep.classes, counts, strict=True))


def run_meta(prep: Prepared, model: Classifier, config: TrainConfig, data_dir: Path) -> RunMeta:
    """The metadata the run's checkpoints carry (``model``: the run's, as ``prepare`` made it)."""
    n_features = model.body.n_features
    meta = RunMeta.for_model(config.backbone, prep.classes, prep.data, n_features, config)
    return replace(
        meta,
        n_train=trained_counts(prep),
        params=count_parameters(model),
        body_fingerprint=prep.fingerprint,
        float_fingerprint=getattr(model.body, "float_fingerprint", None),
        data_dir=str(Path(data_dir).resolve()),
    )


# ---------------------------------------------------------------- 2. fit the head


def fit_head(run: RunContext, stops: RunStops | None = None) -> tuple[FitState, EpochSaver | None]:
    """Run ``fit`` on the cached features, the training state copied after every epoch (written
    every ``resume_state.SAVE_EVERY`` seconds); also returns rank 0's saver, which holds the last
    epoch's state until a stop writes it (``train_stops.write_state_on_stop``; at once when
    fine-tuning follows). ``run.live``: the run's model, whose head it trains; ``stops``: the
    run's, told as the epochs begin what a stop in them writes
    (``train_stops.in_the_head_epochs``)."""
    prep, config, saved, (reporter, world) = run.prep, run.config, run.saved, run.told
    head = run.live.model.head.to(world.device)
    optimizer = head_optimizer(head, config)
    state = resumed_state(saved, prep, config, run.out, head, optimizer) if saved else None
    if not saved:
        seed_everything(config.seed)  # dropout draws the same whether features were cached or not
    model, train_batches, valid_batches = epoch_sources(prep, head, config, world)
    saver = epoch_saver(run.out, head, optimizer, run.meta, prep, world)
    given = StopParts(saver=saver, so_far=run_so_far(run, optimizer))
    epochs = stops.entering(Phase.HEAD_EPOCHS, given) if stops else None
    with epochs or nullcontext():
        stopping = Stopping(config.epochs, config.patience, config.min_delta)
        counted = sampled_images(len(prep.train_y), world) if world.distributed else None
        state = fit(
            model,
            train_batches,
            valid_batches,
            optimizer,
            stopping,
            steps_per_epoch=epoch_steps(len(prep.train_y), config, world),
            reporter=reporter,
            loss_fn=training_loss(config, prep.train_y, len(prep.classes)).to(world.device),
            state=state,
            on_epoch_end=saver,
            shards=Shards(world, counted),
        )
    end_of_the_fit(saver, config)
    return state, saver


def end_of_the_fit(saver: EpochSaver | None, config: TrainConfig) -> None:
    """Rank 0's ``saver`` once the head's epochs are over: the copies of the epoch before the last
    let go, and the last epoch's state written at once when fine-tuning follows (minutes of it: a
    crash then loses none of the head's epochs)."""
    if saver is not None:
        saver.fit_ended()
        if config.finetune_blocks:
            saver.flush()


def run_so_far(run: RunContext, optimizer: torch.optim.Optimizer | None = None) -> RunSoFar:
    """How a stop writes ``run`` as it stands (``train_stops.RunSoFar``): :func:`keep_run_so_far`
    with the head's ``optimizer`` (None after its epochs), the settings and metadata its sentence
    names, and the epoch of the state a resumed run began from (``run.saved``)."""
    keep = partial(keep_run_so_far, run, optimizer)
    saved = run.saved
    resumed = saved.progress.epoch if saved is not None else None
    return RunSoFar(keep, run.meta, run.config.lr, run.prep.replaces, resumed)


def epoch_saver(
    out: Path,
    head: nn.Module,
    optimizer: torch.optim.Optimizer,
    meta: RunMeta,
    prep: Prepared,
    world: World,
) -> EpochSaver | None:
    """Rank 0's ``EpochSaver``, which records how many processes train (the others write none)."""
    if not world.main:
        return None
    return EpochSaver(out, head, optimizer, meta, prep.seen, world.processes)


def resumed_state(
    saved: SavedTraining,
    prep: Prepared,
    config: TrainConfig,
    out: Path,
    head: nn.Module,
    optimizer: torch.optim.Optimizer,
) -> FitState:
    """The fit state of ``saved`` (refused unless it is this run's) restored into ``head`` and
    ``optimizer``."""
    require_same_run(saved, prep, config, out)
    return restore_training_state(saved, head, optimizer)


def keep_run_so_far(
    run: RunContext, optimizer: torch.optim.Optimizer | None, *, ours: bool
) -> FitState | None:
    """``runs.keep_best_so_far`` for ``run``: its model (``run.live``'s) and its record so far
    (``Prepared.record``, the seconds spent until now, by ``run.live``'s clock); ``optimizer``:
    the head's (None after its epochs: a new one, which the training state's is read into, the
    state ``write_state_on_stop`` has just written, or the resumed run's own). ``train_stops``
    calls it (:func:`run_so_far`)."""
    prep, live, config = run.prep, run.live, run.config
    seconds = run_seconds(prep, config.precision, live.stages.until(time.perf_counter()))
    record = prep.record(seconds)
    optimizer = optimizer or head_optimizer(live.model.head, config)
    return keep_best_so_far(run.out, live.model, optimizer, config, run.meta, record, ours=ours)


def require_same_run(saved: SavedTraining, prep: Prepared, config: TrainConfig, out: Path) -> None:
    """Refuse to continue a run on another body, or other classes, than it trained on (the
    classes are checked again here, as the folder may have changed since the run was opened)."""
    if saved.meta.body_fingerprint != prep.fingerprint:
        raise ObjrecError(f"{out}: {changed_body(config, saved.meta)}")
    require_same_classes(out, saved.meta, prep.classes, prep.train_set.root)


def head_optimizer(head: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam over the head's weights, in PyTorch's fused kernel: one pass over each weight a step
    instead of several (the same update up to float32 rounding, about 4e-8 after five steps);
    ``HeadAdam``: without importing ``torch._dynamo``."""
    return HeadAdam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)


# ---------------------------------------------------------------- 3. fine-tune (optional)


FP32_FROM_HERE = (
    "the run's network is now fp32, not int8, since its tuned blocks are: predict, serve and "
    "export run it in 32-bit floats, slower, and its features are stored as float32"
)
"""Said once, as a kept fine-tuning makes an int8 run fp32 (``finetune.body_kept``): nothing
else printed said so, and predict, serve and the feature store's size change with it."""


def finetune_phase(
    run: RunContext, head_state: FitState, saver: FinetuneSaver | None = None
) -> tuple[FitState, FeatureSource, FinetuneRecord]:
    """Train the body's last blocks and the head on cached activations at the cut (see finetune;
    ``run.prep.cut``, stored by :func:`prepare`; ``run.live.top``: the blocks above the cut,
    which its pass split off the body; ``run.live.model``: the run's, whose head it trains too);
    the tuned body's features for calibration come from the same activations
    (``batches.FeatureSource``), unless it is not kept. Also returns what fine-tuning did
    (``finetune.finetune_record``), how long its epochs took and its pass below the tuned blocks,
    which ``prepare`` ran (``Prepared.cut_seconds``); a kept one that makes an int8 run fp32 says
    so (:data:`FP32_FROM_HERE`). ``saver``: writes fine-tuning's training state after each epoch
    (:func:`finetune_saver`)."""
    prep, live = run.prep, run.live
    top, stacks = cut_parts(run)
    began, below = time.perf_counter(), prep.cut_seconds
    state, outcome = tune_blocks(run, head_state, saver)
    outcome = replace(outcome, seconds=time.perf_counter() - began, below_seconds=below)
    if outcome.kept and isinstance(live.model.body, QuantizedBody):
        run.told.reporter.note(FP32_FROM_HERE)
    if not outcome.kept:  # the body as it was: its stored features, as without fine-tuning
        return state, FeatureSource(prep.train, prep.valid), outcome
    cache = open_cache(run.config.cache_dir).root
    return state, FeatureSource(*stacks, top.eval(), cache), outcome


def fine_tuned(run: RunContext, finetune: FinetuneRecord) -> RunContext:
    """``run`` as fine-tuning leaves it (``finetune.body_kept``): a new one, with a kept
    fine-tuning's record, settings and metadata; the one a stop after the head keeps is left
    as it was."""
    prep, config, meta = body_kept(run.prep, run.live.model, run.config, run.meta, finetune)
    return replace(run, prep=prep, config=config, meta=meta)


def finetune_saver(
    out: Path, saver: EpochSaver | None, saved: SavedTraining | None
) -> FinetuneSaver | None:
    """Fine-tuning's ``resume_state.FinetuneSaver`` (rank 0's: fine-tuning runs in one process),
    writing its state into ``out`` beside the head's last epoch's: the one ``saver`` copied, or,
    for a run resumed after the head's epochs, the ``saved`` one's, whose fine-tuning it goes on
    with when the state holds some."""
    base = saver.last if saver is not None else None
    if base is None and saved is not None:
        base = head_part(saved)
    return FinetuneSaver(out / LAST, base, saved) if base is not None else None


# ---------------------------------------------------------------- 4. calibrate


def calibrate(
    model: Classifier,
    config: TrainConfig,
    meta: RunMeta,
    source: FeatureSource,
    reporter: Reporter,
    world: World = SINGLE,
) -> tuple[RunMeta, FittedConfidence | None]:
    """Temperature, unknown score and threshold of the final ``model`` (``confidence``): the feature
    score on the training images, the temperature and threshold on the validation images' outputs,
    both read batch by batch (the centre view) from ``source``. Returns ``meta`` with them, and
    what was fitted: the familiarity score, for ``train`` to give the model it writes, and how the
    temperature was chosen, for ``summary.json``. Rank 0 alone calibrates (it writes the run);
    under torchrun the other ranks return at once, ``meta`` unchanged and nothing fitted, since
    nothing reads theirs."""
    if not world.main:
        return meta, None
    model.cpu().eval()  # the head may have trained on a GPU; the features are on the CPU
    task = reporter.task('calibrating probabilities and "unknown"', None)  # fits 80 columns
    training = reads_training_features(config.unknown_score)
    with task, torch.inference_mode(), source.read(training) as (train, valid):
        fitted = fit_confidence(model.head, train, valid, config.unknown_score)
    reporter.note(calibration_note(fitted))  # short lines, as evaluate's
    calibration = Calibration(
        fitted.temperature, fitted.threshold, fitted.score, fitted.n_valid, fitted.scaled_on
    )
    return replace(meta, calibration=calibration), fitted

"""A run of ``train`` opened: the folder held, a resume's saved state, its settings and
precision settled (:func:`open_run`); how it was asked for (:class:`RunRequest`) and the command
line that started it (:func:`started_by`); ``strict``'s check of every file
(:func:`refuse_unusable_files`). The recipe's steps (``train``) come after it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from objrec.config import TrainConfig, as_config, settings
from objrec.data import (
    class_folders,
    refuse_classes_named_alike,
    refuse_unknown_class,
    require_split_folder,
    require_two_classes,
)
from objrec.distributed import World
from objrec.errors import strict_refusal
from objrec.finetune import refuse_finetune_under_torchrun, require_blocks
from objrec.int8_body import int8_engine
from objrec.paths import PathGiven
from objrec.precision import Precision, precision_notes, settle_head_precision, settle_precision
from objrec.progress import Reporter
from objrec.provenance import CommandLine, Provenance, given_here
from objrec.resume_state import SavedTraining
from objrec.runs import (
    load_resume,
    locked_run,
    open_run_folder,
    read_summary,
    refuse_out_inside_data,
    replaces_a_finished_run,
    require_same_classes,
    warn_of_other_data,
    warn_of_other_processes,
)


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """How :func:`train` was asked to treat the run folder, the data and the precision: its
    arguments beside the folders, the settings, the reporter and the device."""

    force: bool = False
    """Replace a trained model already in the run folder."""
    resume: bool = False
    """Continue the run in the run folder after its last completed epoch."""
    strict: bool = False
    """Refuse to start while ``objrec check`` finds unusable files."""
    precision_why: str | None = None
    """Why ``config.precision`` is what it is, when not ``auto`` (None: ``--precision X``)."""
    command: CommandLine | None = None
    """The command line that started the run and its folder, for its provenance (None: a
    script's call)."""


def train_settings(
    config: TrainConfig | Mapping[str, Any] | None, keywords: dict[str, Any]
) -> TrainConfig:
    """``train``'s settings from ``config`` and ``keywords``; a cache folder as the absolute
    path it names now, since the run records it."""
    config = settings(TrainConfig, as_config(TrainConfig, config), keywords, "train")
    if config.cache_dir:
        config = replace(config, cache_dir=str(Path(config.cache_dir).resolve()))
    return config


def started_by(out: Path | str, resume: bool, command: Sequence[str] | None) -> CommandLine | None:
    """The command line that started the run in ``out`` and the folder it was given in, for its
    provenance: ``command`` here, or when it resumes the run, the one its summary recorded when
    it was stopped (``command`` when it has none: a run killed, or started before objrec
    recorded it)."""
    if resume and not replaces_a_finished_run(Path(out)):
        earlier = Provenance.from_json((read_summary(Path(out)) or {}).get("provenance"))
        if earlier is not None and earlier.command is not None:
            return CommandLine(earlier.command, earlier.cwd)
    return given_here(command)


def open_run(
    data_dir: Path,
    out: Path,
    config: TrainConfig | None,
    request: RunRequest,
    reporter: Reporter,
    world: World,
    run_scope: ExitStack | None = None,
) -> tuple[Path, SavedTraining | None, TrainConfig, Precision]:
    """The run folder (refused inside ``data_dir``; locked, ``runs.locked_run``, until
    ``run_scope`` closes), the saved state when resuming, the settings (a resumed run's own),
    their precision settled, and which precision and why (told to ``reporter``); first
    ``data_dir``: a split of 2+ classes."""
    hold = run_scope.enter_context if run_scope is not None and world.main else lambda manager: None
    require_split_folder(data_dir)
    require_two_classes(data_dir / "train")
    refuse_unknown_class(data_dir / "train")
    refuse_classes_named_alike(data_dir / "train")
    refuse_out_inside_data(data_dir, out)
    saved = None
    if request.resume:
        hold(locked_run(out, make=False))
        saved, config = load_resume(out)
        require_blocks(config.backbone, config.finetune_blocks)
        refuse_finetune_under_torchrun(config.finetune_blocks, world)
        train_dir = data_dir / "train"
        require_same_classes(out, saved.meta, list(class_folders(train_dir)), train_dir)
        if world.main:
            warn_of_other_data(out, saved.meta, data_dir)
            warn_of_other_processes(out, saved.progress.processes, world.processes, data_dir)
        reporter.note(f"resuming {out} after epoch {saved.progress.last_epoch}")
    else:
        settings = config or TrainConfig()
        require_blocks(settings.backbone, settings.finetune_blocks)  # before the folder is made
        refuse_finetune_under_torchrun(settings.finetune_blocks, world)
        hold(locked_run(out, make=True))
        out = open_run_folder(out, request.force, data_dir)
    config, precision = settled_precision(config or TrainConfig(), request, world)
    for note in precision_notes(precision, config.backbone):
        reporter.note(note)
    return out, saved, config, precision


def settled_precision(
    config: TrainConfig, request: RunRequest, world: World
) -> tuple[TrainConfig, Precision]:
    """``config`` with its body's and head's precisions (and an int8 body's engine) settled, and
    which and why; under torchrun rank 0's, shared: the body's precision is part of the store's
    key, and a rank settling its own (another machine's CPU, another engine installed) would look
    up and write another space than rank 0's."""
    config, body = settle_precision(config, world, request.precision_why)
    engine = None
    if config.precision == "int8":  # the engine too, so the run records the one used
        config = replace(config, int8_engine=int8_engine(config.int8_engine))
        engine = config.int8_engine
    config, head = settle_head_precision(config, world, request.resume)
    if request.resume:  # settled when the run started
        body = replace(body, why="the resumed run's own")
    precision = Precision(body=body, head=head, engine=engine)
    return world.share((config, precision), "rank 0 settling the run's precision")


def replaces_earlier(out: Path, request: RunRequest) -> bool:
    """Whether the run replaces an earlier run in ``out`` once its model is written: forced, or
    resuming a forced run stopped before then (``runs.replaces_a_finished_run``)."""
    if request.resume:
        return replaces_a_finished_run(out)
    return request.force


def refuse_unusable_files(
    data_dir: Path, reporter: Reporter, world: World, cache_dir: PathGiven | None = None
) -> None:
    """``strict``: refuse a data folder in which ``objrec check`` finds unusable files. Under
    torchrun rank 0 alone checks (every file opened, a worker per core, the facts it learns
    written) and every rank refuses with its sentence. ``check`` is imported here, not by a plain
    train."""
    from objrec.check import unusable_problem

    problem = unusable_problem(data_dir, reporter, cache_dir) if world.main else None
    problem = world.share(problem, f"rank 0 checking every file of {data_dir} first")
    if problem:
        raise strict_refusal(data_dir, [problem])

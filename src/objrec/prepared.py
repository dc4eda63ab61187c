"""What ``train.prepare`` made for a run to train on, in two parts: :class:`Prepared`, the
immutable record (the frozen body's features of the training views and the validation images, what
the run records of them: its frozen pass's counts, ``run_record.FrozenPassCounts``, and its
record, :meth:`Prepared.record`), and :class:`LiveParts`, passed beside it, what changes as the
run trains (its model, fine-tuning's blocks, :class:`Stages`, when the run and its stages
began); and :class:`RunContext`, the two with the rest of what the run's stages from the head's
fit on read. Their own module so that the stages after the head (``finetune``, ``train_stops``)
read them without importing ``train``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from objrec.batches import ViewStack
from objrec.config import DataConfig, TrainConfig
from objrec.data import ClassFolder
from objrec.meta import ParameterCounts, RunMeta
from objrec.model import Classifier, count_parameters
from objrec.precision import Precision
from objrec.provenance import CommandLine, SplitState
from objrec.run_record import FrozenPassCounts, ImageCounts, RunRecord, RunSeconds

if TYPE_CHECKING:
    from objrec.calibration import TemperatureFit
    from objrec.distributed import Told
    from objrec.finetune import FinetuneRecord
    from objrec.resume_state import SavedTraining
    from objrec.runs import RunFolders


@dataclass
class Stages:
    """When a run began and then its fit and its calibration (``time.perf_counter``): what its
    summary's ``seconds`` (:class:`RunSeconds`) are made of, so that a run stopped midway
    (Ctrl-C, a diverged loss) records the time spent so far as a finished run records it all.

    One for the run, in its :class:`LiveParts`: a stop while calibrating writes the run with the
    keep bound before fine-tuning (``train_stops.RunSoFar``), which reads when calibration began,
    set later (by ``train._train``, as it begins)."""

    started: float
    fitting: float | None = None
    calibrating: float | None = None

    def until(self, now: float) -> tuple[float, float, float, float]:
        """The times ``train.run_seconds`` takes, for a run stopped (or ended) at ``now``: a stage
        not begun yet took no time."""
        fitting = now if self.fitting is None else self.fitting
        calibrating = now if self.calibrating is None else self.calibrating
        return self.started, fitting, calibrating, now


@dataclass
class LiveParts:
    """What a run trains, changed in place as it does, passed beside its :class:`Prepared`: made
    by ``train.prepare``; its clock set by ``train._train`` as the head's fit begins."""

    model: Classifier
    """The run's model, one module from the head's fit to the file written: its head trained in
    place (the head's fit, fine-tuning), its body swapped for the fp32 one a kept fine-tuning of
    an int8 body tuned (``finetune.body_kept``) and put back by a stop after that
    (``train_stops.BlocksBefore``), its familiarity score given by ``train`` once calibrated."""
    top: torch.nn.Module | None = None
    """With ``finetune_blocks``, the blocks above the cut that fine-tuning trains: the top its pass
    split off the fp32 body (``finetune.split_body``, sharing the body's modules), which made the
    body's features from the activations at the cut first (``finetune.FromTheCut``)."""
    stages: Stages = field(default_factory=lambda: Stages(time.perf_counter()))
    """When the run and its stages began, for its summary's ``seconds``."""

    @property
    def params(self) -> ParameterCounts:
        """The model's parameters, total and trainable."""
        return count_parameters(self.model)


@dataclass(frozen=True)
class Prepared:
    """The cached features a run trains on, and what the run records of them: made by
    ``train.prepare``, then completed once by ``train.prepared_run`` (the command line, whether
    it replaces an earlier run, a resumed run's images seen) and ``train._train`` (the
    precision); a kept fine-tuning's fp32 precision is a new one (``finetune.body_kept``). What
    changes as the run trains is not here but in its :class:`LiveParts`."""

    data: DataConfig
    train: ViewStack
    valid: ViewStack
    fingerprint: str
    train_set: ClassFolder
    valid_set: ClassFolder
    cut: tuple[ViewStack, ViewStack] | None = None
    """With ``finetune_blocks``, the stored activations at the cut: the training views and the
    validation images (``train_features.cut_features``), which fine-tuning trains on."""
    cut_seconds: float = 0.0
    """How long the pass below the tuned blocks took, computing or reading them (part of
    ``seconds``)."""
    frozen_pass: FrozenPassCounts | None = None
    """What the frozen pass did: image views pushed through the body, read from the store,
    files hashed."""
    seconds: float = 0.0
    """How long the frozen pass (or reading the store) took, fine-tuning's pass below its blocks
    included."""
    quantize_seconds: float = 0.0
    """Of ``seconds``, how long quantizing the body to int8 took (calibration included)."""
    seen: dict[str, list[str]] = field(default_factory=dict)
    """The content digests of the training and validation images (``run_files.SEEN_RECORD``)."""
    image_classes: list[tuple[str, str, str]] | None = None
    """The split, class and content digest of each image of the data folder, train, valid and
    test (``class_record``; None under torchrun on ranks other than 0)."""
    precision: Precision | None = None
    """The body's and the head's precision and why (``train_open.open_run``), for its summary."""
    command: CommandLine | None = None
    """The command line that started the run and its folder, for its summary's
    ``provenance``."""
    split: SplitState | None = None
    """The split folder as the run listed its images, for its summary's ``provenance``."""
    replaces: bool = False
    """A forced run over an earlier run in its folder, whose evaluations, report and export go
    with this run's files, as they take their names (``runs.put_in_place``)."""

    @property
    def train_y(self) -> torch.Tensor:
        return self.train.labels

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train_set.classes

    @property
    def n_images(self) -> ImageCounts:
        """The images the run trains and validates on."""
        return ImageCounts(train=len(self.train_y), valid=len(self.valid.labels))

    def record(
        self,
        seconds: RunSeconds,
        calibration: TemperatureFit | None = None,
        finetune: FinetuneRecord | None = None,
    ) -> RunRecord:
        """What the run's summary and records say of it (counts, precision, the images seen, the
        command and the split) and its ``seconds``; the ``calibration`` and ``finetune`` of a
        run that got that far."""
        return RunRecord(
            n_images=self.n_images,
            frozen_pass=self.frozen_pass,
            seconds=seconds,
            precision=self.precision,
            seen=self.seen,
            image_classes=self.image_classes,
            command=self.command,
            split=self.split,
            calibration=calibration,
            finetune=finetune,
        )


@dataclass(frozen=True)
class RunContext:
    """What a run of ``train`` hands its stages from the head's fit on, read by name: its
    folders, what it trains on (:class:`Prepared`, :class:`LiveParts`), its settings and metadata,
    a resumed run's saved state and where it says what it does. Seven to nine of these went by
    position through ``train.fit_head``, ``train.run_so_far`` (called with a bare positional
    None), ``train.keep_run_so_far``, ``train.finetune_phase`` and ``finetune.tune_blocks``, so
    that one more thing a stage or a stop needed touched five signatures (review64a). A stage
    that changes the run's record makes a new one (``finetune.body_kept``); what a stop keeps
    (``train.run_so_far``) holds the one it was given."""

    folders: RunFolders
    """The run folder and the data folder."""
    prep: Prepared
    """The features the run trains on, and what it records of them."""
    live: LiveParts
    """Its model, fine-tuning's blocks and its clock, changed in place as it trains."""
    config: TrainConfig
    """Its settings."""
    meta: RunMeta
    """Its model's metadata, as its checkpoints carry it."""
    told: Told
    """Where it says what it does (rank 0's reporter), and the ranks it runs among."""
    saved: SavedTraining | None = None
    """A resumed run's training state as read from its folder; None for a new run."""

    @property
    def out(self) -> Path:
        """The run folder."""
        return self.folders.run

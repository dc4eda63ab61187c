"""``Prepared``: what ``train.prepare`` made for a run to train on (the model, the frozen body's
features of the training views and the validation images, what the run records of them), and
``Stages``, when the run and its stages began. Its own module so that the stages after the head
(``finetune``, ``train_stops``) read it without importing ``train``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from objrec.batches import ViewStack
from objrec.config import DataConfig
from objrec.data import ClassFolder
from objrec.model import Classifier, count_parameters
from objrec.precision import Precision
from objrec.provenance import CommandLine, SplitState


@dataclass
class Stages:
    """When a run began and then its fit and its calibration (``time.perf_counter``): what its
    summary's ``seconds`` are made of, so that a run stopped midway (Ctrl-C, a diverged loss)
    records the time spent so far as a finished run records it all."""

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
class Prepared:
    """The model and the cached features a run trains on."""

    model: Classifier
    data: DataConfig
    train: ViewStack
    valid: ViewStack
    fingerprint: str
    train_set: ClassFolder
    valid_set: ClassFolder
    frozen_pass: dict[str, float] = field(default_factory=dict)
    """Image views pushed through the frozen body (``computed``), read from the store, hashed."""
    seconds: float = 0.0
    """How long the frozen pass (or reading the store) took."""
    quantize_seconds: float = 0.0
    """Of ``seconds``, how long quantizing the body to int8 took (calibration included)."""
    seen: dict[str, list[str]] = field(default_factory=dict)
    """The content digests of the training and validation images (``leakage.SEEN_RECORD``)."""
    image_classes: list[tuple[str, str, str]] | None = None
    """The split, class and content digest of each image of the data folder, train, valid and
    test (``class_record``; None under torchrun on ranks other than 0)."""
    precision: Precision | None = None
    """The body's and the head's precision and why (``open_run``), for the run's summary."""
    stages: Stages = field(default_factory=lambda: Stages(time.perf_counter()))
    """When the run and its stages began, for its summary's ``seconds``."""
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
    def params(self) -> dict[str, int]:
        return count_parameters(self.model)

    @property
    def n_images(self) -> dict[str, int]:
        return {"train": len(self.train_y), "valid": len(self.valid.labels)}

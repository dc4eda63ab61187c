"""``Prepared``: what ``train.prepare`` made for a run to train on (the model, the frozen body's
features of the training views and the validation images, what the run records of them: its
frozen pass's counts, ``FrozenPassCounts``), and ``Stages``, when the run and its stages began.
Its own module so that the stages after the head (``finetune``, ``train_stops``) read it without
importing ``train``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch

from objrec.batches import ViewStack
from objrec.config import DataConfig
from objrec.data import ClassFolder
from objrec.meta import ParameterCounts, whole_counts
from objrec.model import Classifier, count_parameters
from objrec.precision import Precision
from objrec.provenance import CommandLine, SplitState
from objrec.renames import renamed_attribute


@dataclass(frozen=True, kw_only=True)
class FrozenPassCounts:
    """What a run's frozen pass did with its images' views
    (``train_features.frozen_pass_counts``, over every rank): read by attribute, written in the
    run's ``summary.json`` as ``frozen_pass`` (:meth:`to_json`, docs/json.md) and read back from
    it (:meth:`from_json`, the report)."""

    computed: int
    """Image views pushed through the frozen body."""
    from_store: int
    """Image views read from the feature store."""
    copies: int
    """Image views of a file whose bytes an earlier image of the run has: computed once."""
    derived: int = 0
    """Image views whose features were made from fine-tuning's activations at the cut, through
    the pretrained blocks above it: pushed through the frozen blocks once, for both."""
    cut_computed: int = 0
    """Image views fine-tuning's pass below its tuned blocks computed, the store lacking their
    activations at the cut: not the body's views (``computed`` counts those), yet computed."""
    n_unreadable: int
    """Files that could not be read, each once whatever its views (``summary.json``'s
    ``frozen_pass.n_unreadable``; ``unreadable`` before 7 December 2026, still read)."""
    hashed: int
    """Files read for their content digest (the others' came from the store's file index)."""
    digest_seconds: float
    """Seconds rank 0 spent looking up or computing content digests."""

    def to_json(self) -> dict[str, float]:
        """As ``summary.json`` holds it: each count by its name, in this order, ``derived`` and
        ``cut_computed`` only where some were."""
        counts = asdict(self)
        for key in ("derived", "cut_computed"):
            if not counts[key]:
                del counts[key]
        return counts

    unreadable = renamed_attribute("FrozenPassCounts", "unreadable", "n_unreadable")

    @classmethod
    def from_json(cls, counts: Mapping[str, Any]) -> FrozenPassCounts:
        """The counts a summary holds (:meth:`to_json`); one an earlier objrec wrote without
        some of them reads those as 0, its ``unreadable`` as ``n_unreadable``."""
        counts = {"n_unreadable": counts.get("unreadable", 0), **counts}
        return cls(**{f.name: counts.get(f.name, 0) for f in fields(cls)})


@dataclass(frozen=True, kw_only=True)
class ImageCounts:
    """How many images a run trained and validated on (``Prepared.n_images``): read by
    attribute, written in the run's ``summary.json`` as ``n_images`` (:meth:`to_json`)."""

    train: int
    """Training images (each once, whatever its augmented views)."""
    valid: int
    """Validation images."""

    def to_json(self) -> dict[str, int]:
        """As ``summary.json`` holds them: ``train``, then ``valid``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ImageCounts | None:
        """The counts a ``summary.json`` holds (:meth:`to_json`; read by the model card); None
        where it holds none, a count it lacks (or holds as no whole number: an edited file) 0."""
        counts = whole_counts(data, ("train", "valid"))
        return None if counts is None else cls(**counts)


@dataclass(frozen=True, kw_only=True)
class RunSeconds:
    """Where a run's time went (``train.run_seconds``; of a stopped run, until the stop): read by
    attribute, written in the run's ``summary.json`` as ``seconds`` (:meth:`to_json`,
    docs/json.md)."""

    features: float
    """The frozen pass, or reading its features from the store (``quantize`` included)."""
    fit: float
    """Fitting the head (and fine-tuning)."""
    calibrate: float
    """Calibrating: the temperature, the unknown score and its threshold."""
    quantize: float | None = None
    """Of ``features``, getting the body's int8 copy; None for a frozen pass in fp32."""
    total: float
    """The run's work from its start to its calibration's end (not writing the run)."""

    def __repr__(self) -> str:
        """One line: the total, then the parts it is made of, ``quantize`` inside ``features``:
        ``RunSeconds(total=433.87: features=380.17 (of it quantize=246.96), fit=26.96,
        calibrate=26.21)``. Listed beside them (the dataclass's repr), ``quantize`` read as a
        fourth part, and the parts added up to 681 s of a total of 434 s (newcomer55's 11)."""
        inside = f" (of it quantize={self.quantize:.2f})" if self.quantize is not None else ""
        return (
            f"RunSeconds(total={self.total:.2f}: features={self.features:.2f}{inside}, "
            f"fit={self.fit:.2f}, calibrate={self.calibrate:.2f})"
        )

    def to_json(self) -> dict[str, float]:
        """As ``summary.json`` holds it: each part by its name, in this order, ``quantize`` only
        for an int8 frozen pass."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: Any) -> RunSeconds | None:
        """The seconds a ``summary.json`` holds (:meth:`to_json`; ``runs.load_run``); None where
        it holds none, a part it lacks 0 (``quantize``: None)."""
        if not isinstance(data, Mapping) or not data:
            return None
        quantize = data.get("quantize")
        parts = {name: float(data.get(name) or 0) for name in ("features", "fit", "calibrate")}
        total = float(data.get("total") or 0)
        return cls(**parts, total=total, quantize=None if quantize is None else float(quantize))


@dataclass
class Stages:
    """When a run began and then its fit and its calibration (``time.perf_counter``): what its
    summary's ``seconds`` (:class:`RunSeconds`) are made of, so that a run stopped midway
    (Ctrl-C, a diverged loss) records the time spent so far as a finished run records it all.

    Mutable, and one for the run, shared by the copies of its :class:`Prepared`: a stop while
    calibrating writes the run from the ``Prepared`` of the head's end (``train_stops``' keep,
    bound to it before fine-tuning), which must read when calibration began, set later (by
    ``train._train``, as it begins), whichever copy the run has gone on with by then."""

    started: float
    fitting: float | None = None
    calibrating: float | None = None

    def until(self, now: float) -> tuple[float, float, float, float]:
        """The times ``train.run_seconds`` takes, for a run stopped (or ended) at ``now``: a stage
        not begun yet took no time."""
        fitting = now if self.fitting is None else self.fitting
        calibrating = now if self.calibrating is None else self.calibrating
        return self.started, fitting, calibrating, now


@dataclass(frozen=True)
class Prepared:
    """The model and the cached features a run trains on, and what the run records of them: made
    by ``train.prepare``, then completed once by ``train.prepared_run`` (the command line, whether
    it replaces an earlier run, a resumed run's images seen) and ``train._train`` (the precision,
    the stages' clock). Frozen: a later stage that changes one (``finetune.body_kept``: the
    precision of a kept fine-tuning) returns a new one. Its model is a module, trained in place
    (the head's fit, the tuned blocks), its body swapped in place when a fine-tuning of an int8
    body is kept (``finetune.body_kept`` says why), and given its familiarity score by ``train``
    once calibrated; ``stages`` is the run's one clock, shared by the copies (:class:`Stages`)."""

    model: Classifier
    data: DataConfig
    train: ViewStack
    valid: ViewStack
    fingerprint: str
    train_set: ClassFolder
    valid_set: ClassFolder
    cut: tuple[ViewStack, ViewStack] | None = None
    """With ``finetune_blocks``, the stored activations at the cut: the training views and the
    validation images (``train_features.cut_features``), which fine-tuning trains on."""
    cut_top: torch.nn.Module | None = None
    """With ``finetune_blocks``, the blocks above the cut that fine-tuning trains: the top its pass
    split off the fp32 body (``finetune.split_body``, sharing the body's modules), which made the
    body's features from the activations at the cut first (``finetune.FromTheCut``)."""
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
    def params(self) -> ParameterCounts:
        """The model's parameters, total and trainable."""
        return count_parameters(self.model)

    @property
    def n_images(self) -> ImageCounts:
        """The images the run trains and validates on."""
        return ImageCounts(train=len(self.train_y), valid=len(self.valid.labels))

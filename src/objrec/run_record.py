"""What a training run records of itself: :class:`TrainResult`, what ``train`` returns and the
run's ``summary.json`` holds (``runs.load_run`` reads it back), filled by :class:`RunRecord`,
what ``train`` measured (``prepared.Prepared.record``, for ``runs.write_run``); and the figures
they hold, each read by attribute and written in ``summary.json``: :class:`ImageCounts`
(``n_images``), :class:`FrozenPassCounts` (``frozen_pass``) and :class:`RunSeconds`
(``seconds``). Below both ``prepared`` and ``runs``, so that the run's preparation makes its
record and the run folder's module writes it, neither importing the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from objrec.meta import ParameterCounts, whole_counts
from objrec.precision import Precision
from objrec.provenance import CommandLine, Provenance, SplitState
from objrec.renames import renamed_attribute

if TYPE_CHECKING:
    from objrec.calibration import TemperatureFit
    from objrec.config import TrainConfig
    from objrec.finetune import FinetuneRecord


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
    """How many images a run trained and validated on (``prepared.Prepared.n_images``): read by
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
class TrainResult:
    """What a training run produced and measured."""

    run: Path
    classes: list[str]
    history: list[dict[str, Any]]
    best_epoch: int
    best_valid_loss: float
    best_valid_acc: float
    params: ParameterCounts
    """The model's parameters, total and trainable (``meta.ParameterCounts``)."""
    seconds: RunSeconds | None = None
    """Where the run's time went (:class:`RunSeconds`): the frozen pass, the head's fit, the
    calibration, in all; None only for a result made without them (``summary``: ``{}``)."""
    n_images: ImageCounts | None = None
    """The images it trained and validated on (:class:`ImageCounts`); None only for a result
    made without them (``summary``: ``{}``)."""
    finished: bool = True
    """False for the model saved on Ctrl-C: the run can be resumed."""
    frozen_pass: FrozenPassCounts | None = None
    """Image views pushed through the frozen body, read from the store, files hashed; None only
    for a result made without them (``summary``: ``{}``)."""
    precision: Precision | None = None
    """The frozen body's arithmetic (fp32 or int8) and the head's (fp32 or bf16), and why (asked
    for, or what ``auto`` found); None only for a result made without them (``summary``: ``{}``)."""
    calibration: TemperatureFit | None = None
    """How the temperature was chosen (``calibration.TemperatureFit``): the one used, the plain
    fit, the validation errors and why it was kept at 1 (or None); None for a run written before
    it was calibrated (``summary``: ``{}``)."""
    finetune: FinetuneRecord | None = None
    """What fine-tuning did (``finetune.FinetuneRecord``): whether the run keeps the fine-tuned
    model, the best validation loss before it and its own lowest; None without fine-tuning."""
    provenance: Provenance | None = None
    """What the run was made with (``provenance.Provenance``): objrec's version and commit, the
    libraries, the machine, the body's weights, the split's fingerprint; None under torchrun on
    the ranks that write nothing (``summary``: ``{}``)."""
    model_digest: str | None = None
    """The content digest of the run's model file (``model_file.model_digest``, as evaluations
    name it): the summary is of that model, and one beside another (a file copied in, or a run
    an earlier objrec was killed writing) is told by it; None under torchrun on the ranks that
    write nothing, and in a summary written before 6 December 2026."""

    @property
    def n_classes(self) -> int:
        """How many classes the model tells apart (``summary``'s ``n_classes``; the names are in
        ``classes``)."""
        return len(self.classes)

    @property
    def epochs_run(self) -> int:
        """How many epochs the head trained (``summary``'s ``epochs_run``; one row each in
        ``history``)."""
        return len(self.history)

    def __repr__(self) -> str:
        """One line: the run, how many classes (``n_classes``: ``classes`` holds their names) and
        its best epoch (the whole ``history`` is in the attribute and in history.csv, one row per
        epoch, too long for a repr)."""
        return (
            f"TrainResult(run={str(self.run)!r}, n_classes={self.n_classes}, "
            f"epochs_run={self.epochs_run}, best_epoch={self.best_epoch}, "
            f"best_valid_loss={self.best_valid_loss:.4f}, "
            f"best_valid_acc={self.best_valid_acc:.4f}, finished={self.finished})"
        )

    def summary(self) -> dict[str, Any]:
        """The run's ``summary.json`` (also ``objrec train --json``): every field, the run folder
        as a string, the classes counted (``n_classes``; ``classes`` before 7 December 2026)
        and the epochs run in place of ``history``."""
        head = {"run": str(self.run), "n_classes": self.n_classes, "best_epoch": self.best_epoch}
        rest = {f.name: summed(f.name, getattr(self, f.name)) for f in fields(self)}
        return head | {"epochs_run": self.epochs_run} | without(rest, NOT_SUMMED)


NOT_SUMMED = ("run", "classes", "history", "best_epoch")
"""The fields of :class:`TrainResult` that ``summary`` writes otherwise, or first."""


def summed(name: str, value: Any) -> Any:
    """A :class:`TrainResult` field as ``summary.json`` holds it: a record as its ``to_json()``
    (docs/json.md), one the result was made without as ``{}`` (``finetune``: null, a run
    without fine-tuning; ``model_digest``: null, a rank that wrote no model), a plain value as
    it is."""
    if value is None:
        return None if name in ("finetune", "model_digest") else {}
    to_json = getattr(value, "to_json", None)
    return to_json() if to_json is not None else value


def without(mapping: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """``mapping`` less the keys ``names``, in its order."""
    return {key: value for key, value in mapping.items() if key not in names}


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """What ``train`` measured of a run, for ``runs.write_run`` (and ``runs.keep_best_so_far``)
    beside its model (``RunMeta``) and its epochs (``FitState``): one object, so that a new
    figure of the run is one field here (and, for its summary, the :class:`TrainResult` field of
    the same name, which it fills), not a parameter more of every function on the way."""

    n_images: ImageCounts | None = None
    """Images trained and validated on."""
    frozen_pass: FrozenPassCounts | None = None
    """Image views pushed through the frozen body, read from the store, files hashed."""
    seconds: RunSeconds | None = None
    """Where the run's time went (of a stopped run, until the stop)."""
    finished: bool = True
    """False for a run written as of its last completed epoch (Ctrl-C, a diverged loss)."""
    precision: Precision | None = None
    """The body's and the head's precision and why (None: the config's, no reason given)."""
    calibration: TemperatureFit | None = None
    """How the temperature was chosen (None: not calibrated)."""
    finetune: FinetuneRecord | None = None
    """What fine-tuning did; None without it."""
    seen: Mapping[str, Sequence[str]] | None = None
    """The digests of the images it trained and validated on (``leakage.write_seen``; None:
    none to write)."""
    image_classes: Sequence[tuple[str, str, str]] | None = None
    """The split, class and digest of each image of its data folder (``class_record``; None:
    none to write)."""
    command: CommandLine | None = None
    """The command line that started the run and its folder, for its provenance."""
    split: SplitState | None = None
    """The split folder as the run listed it, for its provenance."""

    def result_fields(self, config: TrainConfig) -> dict[str, Any]:
        """The :class:`TrainResult` fields this record fills, each of its own name; a
        ``precision`` not given is ``config``'s."""
        precision = self.precision or Precision.configured(config)
        named = {f.name for f in fields(TrainResult)}
        given = {f.name: getattr(self, f.name) for f in fields(self) if f.name in named}
        return given | {"precision": precision}

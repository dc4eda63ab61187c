"""Run metadata: what a checkpoint says about its model, as one typed, frozen record.

Written in one place (``train``) and read by attribute everywhere else. On disk it is the JSON in
the checkpoint's safetensors header; :meth:`RunMeta.to_json` and :meth:`RunMeta.from_json` are the
only code that knows its keys.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from objrec import __version__
from objrec.config import DataConfig, TrainConfig, check_field_types, known_settings
from objrec.errors import ObjrecError

T = TypeVar("T")


FORMAT_VERSION = 3
"""Bumped whenever a checkpoint written by this objrec cannot be read by an older one. 2: the head
ensemble's members stacked (``head.hidden_weight``, ...; 1 had ``head.members.N.*``) and the ViM
unknown score. 3: each familiarity score's ``kind`` stored (``familiarity.kind``, ...: commit
8add1db4), which an objrec reading format 2 refused as tensors the model lacks, where "upgrade
objrec" is what its user needs to hear."""
READABLE_FORMATS = (1, 2, 3)
"""The formats this objrec reads (1 through the stacked head's key conversion)."""


@dataclass(frozen=True)
class HeadConfig:
    """The head's shape: enough to rebuild it before its weights are loaded."""

    n_features: int
    n_classes: int
    hidden: int = 256
    dropout: float = 0.4
    members: int = 1

    def __post_init__(self) -> None:
        """A checkpoint's head of impossible sizes (a damaged or edited file) is refused here, in
        a sentence, rather than by PyTorch building it (a traceback)."""
        check_field_types(self)
        for name in ("n_features", "n_classes", "hidden", "members"):
            least = 0 if name == "hidden" else 1  # hidden 0: the head is one linear layer
            if (value := getattr(self, name)) < least:
                raise ObjrecError(f"the head's `{name}` must be at least {least}, not {value}")
        if not 0 <= self.dropout < 1:
            raise ObjrecError(f"the head's `dropout` must be in [0, 1), not {self.dropout}")


@dataclass(frozen=True)
class Calibration:
    """How outputs become answers after the model (see ``inference.Recognizer`` and ``confidence``).

    ``temperature`` divides the model's log-probabilities before the softmax (1: unchanged);
    ``unknown_score`` names what the threshold applies to: ``msp`` (the top calibrated
    probability) or a feature-space score whose module travels in the checkpoint
    (``familiarity.*`` tensors); below ``unknown_threshold`` the answer is "unknown" (None: never).
    Fitted at the end of ``train`` on the validation split.
    """

    temperature: float = 1.0
    unknown_threshold: float | None = None
    unknown_score: str = "msp"
    validation_images: int | None = None
    """How many validation images the threshold was chosen on (None: a run trained before it was
    recorded); under ``enough.FEWEST_FOR_A_THRESHOLD`` the threshold is shaky, and the commands
    say so."""
    scaled_on: str = "validation"
    """The images a familiarity of 1 is typical of (:func:`typical_image`): the run's
    validation images, or ``training`` where those gave no spread of scores to scale it on
    (``confidence.rescaled_familiarity``). Written in the checkpoint as
    ``familiarity_scaled_on`` in that case alone, beside the entry every objrec reads."""

    EARLIER_KEYS = ("temperature", "unknown_threshold", "unknown_score")
    """What an objrec from before ``validation_images`` takes in a checkpoint's calibration entry,
    key for key (any other and it refuses the checkpoint as incomplete): ``RunMeta.to_json``
    writes only these there, the count beside it (``threshold_images``)."""

    def earlier_form(self) -> dict[str, Any]:
        """The checkpoint's calibration entry, which every objrec reads (:data:`EARLIER_KEYS`)."""
        return {key: getattr(self, key) for key in self.EARLIER_KEYS}

    @classmethod
    def from_json(
        cls,
        entry: Mapping[str, Any],
        images: int | None = None,
        source: str = "the checkpoint",
        scaled_on: str | None = None,
    ) -> Calibration:
        """A checkpoint's calibration entry, with ``images`` (its ``threshold_images``) or the
        count inside the entry (runs written before it moved out) and ``scaled_on`` (its
        ``familiarity_scaled_on``; None: the validation images); keys a later objrec adds are
        left out with a warning naming them and the file ``source`` (``config.known_settings``)."""
        entry = {"validation_images": images, "scaled_on": scaled_on or "validation"} | dict(entry)
        return cls(**known_settings(cls, entry, "calibration", source))

    def __post_init__(self) -> None:
        """Values a hand-edited model file may hold, refused: a temperature of NaN answered
        every class "nan%", of inf every class alike, a threshold of NaN nothing "unknown" and a
        string one stopped on a TypeError at the first answer. Not a number at all: a TypeError,
        which a checkpoint's reader words (``read_entry``)."""
        threshold = self.unknown_threshold
        if not is_number(self.temperature) or not (threshold is None or is_number(threshold)):
            raise TypeError("the temperature and the threshold are numbers")
        if not 0 < self.temperature < math.inf:
            raise ObjrecError(
                f"calibration temperature must be above zero and finite, not {self.temperature}"
            )
        if threshold is not None and math.isnan(threshold):
            raise ObjrecError("the calibration's unknown threshold must be a number, not nan")
        msp = self.unknown_score == "msp"
        if msp and self.unknown_threshold is not None and not 0 <= self.unknown_threshold <= 1:
            raise ObjrecError("the unknown threshold on the top probability must be in [0, 1]")
        if self.scaled_on not in ("validation", "training"):
            said = f"{self.scaled_on!r}, not validation or training images"
            raise ObjrecError(f"the familiarity is scaled on {said}")


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (an int, a float, a NumPy one), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def typical_image(scaled_on: str | None) -> str:
    """What a familiarity of 1 is, in words, for every sentence that says so: a typical image of
    the set the run scaled it on (:attr:`Calibration.scaled_on`: its validation images, or its
    training images where those gave no spread of scores,
    ``confidence.rescaled_familiarity``; None, a run that does not say: the validation
    images)."""
    return f"a typical {scaled_on or 'validation'} image"


@dataclass(frozen=True, kw_only=True)
class ParameterCounts:
    """How many parameters a model has (``model.count_parameters``): read by attribute, written
    in its checkpoint's metadata and its run's ``summary.json`` as ``params`` (:meth:`to_json`)."""

    total: int
    """Every parameter, the frozen body's too."""
    trainable: int
    """Those that train: the head's (and a fine-tuning's blocks')."""

    def to_json(self) -> dict[str, int]:
        """As a checkpoint and ``summary.json`` hold them: ``total``, then ``trainable``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> ParameterCounts | None:
        """The counts a checkpoint holds (:meth:`to_json`); None where it holds none (or not a
        mapping of them), a count it lacks or holds as no whole number 0."""
        counts = whole_counts(data, ("total", "trainable"))
        return None if counts is None else cls(**counts)


def whole_counts(data: Any, names: tuple[str, ...]) -> dict[str, int] | None:
    """The counts ``names`` of ``data``, a mapping read from JSON: each it lacks, or holds as no
    whole number (an edited file), 0; None where ``data`` is no mapping, or an empty one."""
    if not isinstance(data, Mapping) or not data:
        return None
    got = {name: data.get(name) for name in names}
    return {k: v if isinstance(v, int) and not isinstance(v, bool) else 0 for k, v in got.items()}


@dataclass(frozen=True)
class RunMeta:
    """Everything a checkpoint carries besides tensors: enough to rebuild, use and describe it."""

    backbone: str
    classes: list[str]
    """The class names, in the model's order: a list, as every record of objrec's names them
    (``TrainResult.classes``, ``Recognizer.classes``), so that they compare equal (a tuple here
    was never equal to a run's list of the same names)."""
    data: DataConfig
    head: HeadConfig
    train_config: TrainConfig | None = None
    n_train: Mapping[str, int] | None = None
    """Training images per class, for the per-class tables."""
    params: ParameterCounts | None = None
    """The model's parameters, total and trainable."""
    body_fingerprint: str | None = None
    """SHA-256 of the body the model file holds (``bodies.fingerprint_module``): the frozen body
    the head trained on, or the tuned one after a kept fine-tuning (in a run written before
    objrec recorded that, the pretrained one)."""
    float_fingerprint: str | None = None
    """An int8 body's: that of the float body it was quantized from, which a resume compares
    before quantizing again (a changed ``weights`` file). None for a float body, and in a run
    written before objrec recorded it."""
    data_dir: str | None = None
    """The split folder the run trained on (absolute)."""
    best_epoch: int | None = None
    valid_loss: float | None = None
    valid_acc: float | None = None
    calibration: Calibration | None = None
    format_version: int = FORMAT_VERSION
    objrec_version: str | None = field(default=None, compare=False)
    """The objrec that wrote the model file (None in a file written before objrec recorded
    it): it built the architecture the tensors were saved from, so ``check RUN`` of a sealed file
    that this objrec wrote need not build it again in PyTorch (``check_run``); one another objrec
    wrote, it does."""
    digest: str | None = field(default=None, compare=False)
    """The content digest of the model file this was read from (``checkpoint.model_digest``'s
    value, of the very bytes its tensors came from), never written into one: what every record
    of the model's use names (an evaluation, a kept threshold, an export, the cached ONNX
    graph), so that a retrain renaming its model over the file meanwhile is not named for this
    one's work. None for a model not read from a file (``train``'s own)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", list(self.classes))  # given as any sequence

    @property
    def feature_dtype(self) -> str:
        """The dtype the run's frozen features were stored in (float32 for runs that do not say):
        every command reading the run's features from the store reads them in it."""
        return self.train_config.feature_dtype if self.train_config else "float32"

    @property
    def cache_dir(self) -> str | None:
        """The cache folder ``train`` was given (``--cache-dir``), while it exists here: commands
        that read the run's features use its store unless told another. None (a run trained
        with the default, or moved to a machine without that folder): the default folder."""
        folder = self.train_config.cache_dir if self.train_config else None
        return str(folder) if folder and Path(folder).is_dir() else None

    @classmethod
    def for_model(
        cls,
        backbone: str,
        classes: Sequence[str],
        data: DataConfig,
        n_features: int,
        train_config: TrainConfig,
    ) -> RunMeta:
        """The metadata of a new model whose head ``train_config`` describes."""
        head = HeadConfig(
            n_features,
            len(classes),
            train_config.hidden,
            train_config.dropout,
            train_config.heads,
        )
        return cls(backbone, list(classes), data, head, train_config)

    def to_json(self) -> dict[str, Any]:
        """The JSON-able form stored in a checkpoint's header."""
        out: dict[str, Any] = {
            "format_version": FORMAT_VERSION,  # what this objrec writes, whatever it read
            "objrec_version": __version__,  # the model it saves is one it built
            "backbone": self.backbone,
            "classes": list(self.classes),
            "data_config": asdict(self.data),
            "head": asdict(self.head),
        }
        optional = {
            "train_config": earlier_train_config(self.train_config),
            "finetune_blocks": int8_blocks(self.train_config),
            "n_train": dict(self.n_train) if self.n_train is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
            "body_fingerprint": self.body_fingerprint,
            "float_fingerprint": self.float_fingerprint,
            "data_dir": self.data_dir,
            "best_epoch": self.best_epoch,
            "calibration": self.calibration.earlier_form() if self.calibration else None,
            "threshold_images": self.calibration.validation_images if self.calibration else None,
            "familiarity_scaled_on": scaled_on(self.calibration),
        }
        if self.valid_loss is not None:
            optional["valid"] = {"loss": self.valid_loss, "acc": self.valid_acc}
        return out | {k: v for k, v in optional.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "the checkpoint") -> RunMeta:
        """Read :meth:`to_json`'s form, from the file ``source``; a missing or malformed required
        key is an ObjrecError, a setting this objrec does not know (a later one's) a warning
        naming it and ``source`` (``config.known_settings``), and ignored."""
        warn_of_later_entries(data, source)
        entry = partial(read_entry, data)
        head = entry(
            "head", lambda: HeadConfig(**known_settings(HeadConfig, data["head"], "head", source))
        )
        valid = entry("valid", lambda: dict(data.get("valid") or {}))
        calibration = data.get("calibration")
        return cls(
            backbone=entry("backbone", lambda: str(data["backbone"])),
            classes=entry("classes", lambda: class_names(data["classes"])),
            data=entry("data_config", lambda: DataConfig.from_dict(data["data_config"], source)),
            head=head,
            train_config=entry("train_config", lambda: read_train_config(data, source)),
            n_train=data.get("n_train"),
            params=ParameterCounts.from_json(data.get("params")),
            body_fingerprint=data.get("body_fingerprint"),
            float_fingerprint=data.get("float_fingerprint"),
            data_dir=data.get("data_dir"),
            best_epoch=data.get("best_epoch"),
            valid_loss=valid.get("loss"),
            valid_acc=valid.get("acc"),
            calibration=entry(
                "calibration",
                lambda: (
                    Calibration.from_json(
                        calibration,
                        data.get("threshold_images"),
                        source,
                        data.get("familiarity_scaled_on"),
                    )
                    if calibration
                    else None
                ),
            ),
            format_version=entry(
                "format_version", lambda: int(data.get("format_version", FORMAT_VERSION))
            ),
            objrec_version=data.get("objrec_version"),
        )


def scaled_on(calibration: Calibration | None) -> str | None:
    """A checkpoint's ``familiarity_scaled_on``: written only where the familiarity was scaled on
    the training images (an objrec before it reads the validation images' scale, as it was)."""
    return "training" if calibration and calibration.scaled_on == "training" else None


EXPECTED = {
    "backbone": "a backbone's name",
    "classes": "a list of class names",
    "data_config": "an object of data settings",
    "head": "an object of head settings",
    "train_config": "an object of training settings",
    "valid": "an object of the validation loss and accuracy",
    "calibration": "an object of calibration settings, numbers (its temperature, its threshold)",
    "format_version": "a whole number",
}
"""What each entry of a checkpoint's metadata :meth:`RunMeta.from_json` reads is, in words."""


def read_entry(data: Mapping[str, Any], name: str, read: Callable[[], T]) -> T:
    """``read()``, which reads the entry ``name`` of a checkpoint's metadata ``data``: an entry
    missing or malformed refused in one sentence naming it and what it should be
    (:data:`EXPECTED`), where Python's exception text said neither ("the checkpoint's metadata
    is incomplete (TypeError("'int' object is not iterable"))"); ``named_in_errors`` names the
    file."""
    try:
        return read()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if name not in data:
            raise ObjrecError(f"its metadata lacks `{name}`") from exc
        raise ObjrecError(f"its metadata's `{name}` is not {EXPECTED[name]}") from exc


def class_names(value: Any) -> list[str]:
    """A checkpoint's ``classes``: a list of names, refused (TypeError) as anything else (a
    string would be read as one class per letter)."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise TypeError("classes is not a list of names")
    if twice := sorted(name for name, n in Counter(value).items() if n > 1):
        said = ", ".join(map(repr, twice))
        raise ObjrecError(f"its metadata's `classes` names {said} more than once: one class each")
    return list(value)


ENTRIES = (
    *("format_version", "objrec_version", "backbone", "classes", "data_config", "head"),
    "train_config",
    *("finetune_blocks", "n_train", "params", "body_fingerprint", "float_fingerprint"),
    *("data_dir", "best_epoch"),
    *("calibration", "threshold_images", "familiarity_scaled_on", "valid"),
)
"""The entries of a checkpoint's metadata (:meth:`RunMeta.to_json`)."""


def warn_of_later_entries(data: Mapping[str, Any], source: str) -> None:
    """Warn, naming them and the file ``source``, of entries of a checkpoint's metadata that this
    objrec does not read (a later objrec's, which may change its answers), as a later setting
    inside an entry is warned of."""
    progress = ("kind", *(f.name for f in fields(TrainingProgress)))  # a training state's
    if unknown := sorted(set(map(str, data)) - {*ENTRIES, *progress}):
        from objrec.warned import warn_once

        warn_once(
            "later entries",
            source,
            "%s: it holds entries this objrec does not know (a later objrec's?), ignored: %s",
            source,
            ", ".join(unknown),
        )


def read_train_config(
    data: Mapping[str, Any], source: str = "the checkpoint"
) -> TrainConfig | None:
    """The checkpoint's settings (``data``: its metadata, read from the file ``source``),
    ``finetune_blocks`` from beside them when there (:func:`earlier_train_config`)."""
    entry = data.get("train_config")
    if not entry:
        return None
    # runs from before float16 became the default stored float32 features
    entry = {"feature_dtype": "float32", **entry}
    if "finetune_blocks" in data:
        entry["finetune_blocks"] = data["finetune_blocks"]
    return TrainConfig.from_dict(entry, source)


def int8_blocks(config: TrainConfig | None) -> int | None:
    """``finetune_blocks`` of an int8 run (its fine-tuning was not kept, or was stopped), which
    the checkpoint keeps beside its train_config entry (:func:`earlier_train_config`); None
    otherwise."""
    if config is None or config.precision != "int8" or not config.finetune_blocks:
        return None
    return config.finetune_blocks


def earlier_train_config(config: TrainConfig | None) -> dict[str, Any] | None:
    """The checkpoint's train_config entry, which every objrec reads: an objrec from before an
    int8 body could be fine-tuned refuses precision int8 with ``finetune_blocks``, so such a run
    says 0 blocks there, true of its model (none of its blocks was tuned: a fine-tuning kept makes
    the run fp32), the setting beside it (:func:`int8_blocks`)."""
    if config is None:
        return None
    return config.to_dict() | ({"finetune_blocks": 0} if int8_blocks(config) else {})


@dataclass(frozen=True)
class Processes:
    """How many processes trained a run's head: ``ranks`` started by torchrun (``per_node`` on
    each machine), or one process without it. Their number decides which batches each epoch
    draws (one process shuffles every image; N ranks each draw a DistributedSampler's share, in
    batches of ``batch_size // N``), so a resume ends with the weights the run would have had
    uninterrupted only in as many; how they are spread over machines changes none of it."""

    ranks: int = 1
    per_node: int = 1
    torchrun: bool = False

    def draws_as(self, other: Processes) -> bool:
        """Whether ``other`` draws each epoch's batches as these processes do."""
        return (self.ranks, self.torchrun) == (other.ranks, other.torchrun)

    def words(self) -> str:
        """``in 2 processes under torchrun``, ``in 1 process``."""
        count = f"{self.ranks} process{'' if self.ranks == 1 else 'es'}"
        return f"in {count} under torchrun" if self.torchrun else f"in {count}"

    @classmethod
    def from_json(cls, entry: Any) -> Processes | None:
        """A training state's ``processes`` entry; None (not known) for a state written before
        objrec recorded it, or one it cannot read."""
        if not isinstance(entry, Mapping):
            return None
        try:
            return cls(int(entry["ranks"]), int(entry["per_node"]), bool(entry["torchrun"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class TrainingProgress:
    """What ``last.safetensors`` holds besides the run's metadata: where training stands."""

    epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    stopper: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    optimizer: dict[str, Any] = field(default_factory=dict)
    processes: Processes | None = None
    """The processes that wrote the state; None in a state written before objrec recorded them."""
    finetune: FinetuneProgress | None = None
    """Where fine-tuning stands, once an epoch of it has ended; None: the head's epochs alone (or
    a state written before objrec saved fine-tuning's)."""

    @property
    def last_epoch(self) -> int:
        """The last epoch the state holds: fine-tuning's when it has one, else the head's."""
        return self.finetune.epoch if self.finetune is not None else self.epoch


@dataclass
class FinetuneProgress:
    """Where fine-tuning stands in ``last.safetensors``, beside the head's state it started from
    (``resume_state.FinetuneSaver``): its epochs, numbered after the head's, and its optimizer's
    and schedule's state; its weights are the state's ``finetune.`` tensors."""

    epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    """Fine-tuning's epochs alone (the head's are the state's ``history``)."""
    stopper: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    optimizer: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    untuned: float | None = None
    """The untuned model's validation loss, where fine-tuning's early stopping started."""

    @classmethod
    def from_json(cls, entry: Any) -> FinetuneProgress | None:
        """A training state's ``finetune`` entry (None: none)."""
        if not isinstance(entry, Mapping):
            return None
        return cls(**{f.name: entry[f.name] for f in fields(cls) if f.name in entry})

"""Typed settings, one dataclass per stage, checked on creation and saved as JSON with every run."""

from __future__ import annotations

import ast
import functools
import inspect
import math
import numbers
import os
import re
import sys
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from objrec.errors import ObjrecError
from objrec.paths import PathGiven
from objrec.words import is_it

T = TypeVar("T")
C = TypeVar("C", bound=type)

WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "True or False"}


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` is of the annotated type ``hint``: an int is a float, a bool is no int,
    and a NumPy integer or float does for an int or a float (``numbers.Integral``, ``Real``), a
    NumPy bool for True or False, a 1-D NumPy array of numbers for a list of numbers."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, h) for h in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool) or numpy_bool(value)
    if isinstance(value, bool):
        return False
    if hint is int:
        return isinstance(value, numbers.Integral)
    if hint is float:
        return isinstance(value, numbers.Real)
    if origin is tuple:
        value = numbers_listed(value)
        return isinstance(value, tuple | list) and all(fits(v, args[0]) for v in value)
    if origin is os.PathLike:
        return path_like(value)
    return not isinstance(hint, type) or isinstance(value, hint)


def path_like(value: Any) -> bool:
    """Whether ``value`` is an ``os.PathLike[str]`` (``paths.PathGiven``'s other half): a
    ``Path``, or any object whose ``__fspath__`` gives a ``str`` (a bytes path is none)."""
    return isinstance(value, os.PathLike) and isinstance(os.fspath(value), str)


def numpy_bool(value: Any) -> bool:
    """Whether ``value`` is a NumPy bool (``np.True_``); NumPy is not imported to tell: a value
    cannot be one unless something imported it."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def numbers_listed(value: Any) -> Any:
    """A 1-D NumPy array of numbers (``np.array([0.5, 0.5, 0.5])``) as the list of its plain
    values, for a setting that takes a list; anything else (an array of strings or of bools, of
    more dimensions) as it is, which the setting refuses."""
    numpy = sys.modules.get("numpy")
    if numpy is None or not isinstance(value, numpy.ndarray):
        return value
    return value.tolist() if value.ndim == 1 and value.dtype.kind in "iuf" else value


def described(hint: Any) -> str:
    """``hint`` in words: "a whole number", "a number or None", "a list of numbers"..."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(described(h) for h in args)
    if typing.get_origin(hint) is tuple:
        return f"a list of {described(args[0]).removeprefix('a ')}s"
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) is os.PathLike:
        return "a path (os.PathLike)"
    return WORDS.get(hint) or f"a {getattr(hint, '__name__', hint)}"


def plain(value: Any, hint: Any) -> Any:
    """``value``, which fits ``hint``, as the plain Python value JSON writes: a NumPy integer as
    an int, a NumPy float as a float, a NumPy bool as a bool, a list or a 1-D NumPy array as a
    tuple (its items likewise)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return plain(value, next(h for h in typing.get_args(hint) if fits(value, h)))
    if typing.get_origin(hint) is tuple:
        return tuple(plain(v, typing.get_args(hint)[0]) for v in numbers_listed(value))
    if hint is bool:
        return bool(value)
    if typing.get_origin(hint) is os.PathLike:  # a Path, as every module below reads it
        return value if isinstance(value, Path) else Path(os.fspath(value))
    if hint is int and type(value) is not int:
        return int(value)
    if hint is float and type(value) not in (int, float):
        return float(value)
    return value


def require_type(name: str, value: Any, hint: Any) -> Any:
    """Refuse ``value`` for ``name`` unless of type ``hint``, in one sentence naming it; the value
    as a plain Python one (:func:`plain`)."""
    if not fits(value, hint):
        shown = re.sub(r"\n\s*", " ", repr(value))  # one line, as a 2-D array's is not
        raise ObjrecError(f"`{name}` must be {described(hint)}, not {shown}")
    return plain(value, hint)


def require_number(threshold: float | None, finite: bool = False) -> float | None:
    """``threshold`` itself, refused when it is NaN: below NaN nothing ever is (``score < nan``
    is never true), so it would answer nothing unknown, silently. ``finite``: infinities refused
    too (a JSON sidecar cannot hold them); otherwise -inf answers nothing unknown, inf all."""
    if threshold is not None and (math.isnan(threshold) or (finite and math.isinf(threshold))):
        raise ObjrecError(
            f"`threshold` must be a {'finite ' if finite else ''}number, not {threshold}"
        )
    return threshold


DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def require_device(spec: str) -> str:
    """``spec`` (``--device``) as a device name (lower case), refused when it is none: a typo is
    said at once, before PyTorch loads (seconds) or an input is looked at. Whether this machine
    has that GPU is ``devices.resolve_device``'s to say."""
    name = spec.strip().lower()
    if name not in ("auto", "cpu") and re.fullmatch(r"cuda(:\d+)?", name) is None:
        raise ObjrecError(f"`device` must be {DEVICE_CHOICES}, not {spec!r}")
    return name


@functools.cache
def field_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a config class, evaluated once: its string annotations
    (``from __future__ import annotations``) were evaluated again for every config made."""
    return typing.get_type_hints(cls)


def check_field_types(config: Any) -> None:
    """Refuse a field of a config dataclass whose value is not of its annotated type, and store
    each as a plain Python value (a NumPy integer as an int), so the config's JSON is written."""
    hints = field_hints(config.__class__)
    for f in fields(config):
        value = require_type(f.name, getattr(config, f.name), hints[f.name])
        object.__setattr__(config, f.name, value)  # the frozen dataclasses too


def as_config(cls: type[T], given: Any, name: str = "config") -> T | None:
    """``given`` as a ``cls``: itself, one made from a mapping of its settings, or None."""
    if given is None or isinstance(given, cls):
        return given
    if isinstance(given, Mapping):
        unknown = sorted(set(given) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise ObjrecError(f"`{name}` has no setting {', '.join(map(str, unknown))}")
        return cls(**given)
    raise ObjrecError(f"`{name}` must be a {cls.__name__} or a mapping of its settings")


def known_settings(
    cls: type, saved: Any, what: str, source: str, retired: Sequence[str] = ()
) -> dict[str, Any]:
    """The settings of ``saved`` (a config's JSON object, ``what`` in the file ``source``) that
    ``cls`` has fields for. A key it has none for, one a later objrec added, is ignored with a
    warning naming it and the file, so the file still loads here (``retired``, one an earlier
    objrec wrote, without one), once per command (``warned.warn_once``: report reads the
    checkpoint, then loads the model); a field without a default that is missing, or ``saved``
    not a JSON object, is refused in a sentence."""
    if not isinstance(saved, Mapping):
        raise ObjrecError(f"its {what} must be a JSON object, not {saved!r}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(map(str, saved)) - set(names) - set(retired))
    if unknown:
        from objrec.warned import warn_once

        warn_once(
            f"later {what}",
            source,
            "%s: its %s has settings this objrec does not know (a later objrec's?), ignored: %s",
            source,
            what,
            ", ".join(unknown),
        )
    required = [f.name for f in fields(cls) if MISSING is f.default is f.default_factory]
    if missing := [name for name in required if name not in saved]:
        raise ObjrecError(f"its {what} lacks {', '.join(f'`{name}`' for name in missing)}")
    return {name: saved[name] for name in names if name in saved}


@functools.cache
def module_classes(filename: str) -> dict[str, ast.ClassDef]:
    """The syntax trees of the classes a module file defines at its top level, by name: parsed
    once per file (``inspect.getsource`` parses the whole file again for every class it finds)."""
    tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Each field's documentation: the string literal under it in the class body, one line."""
    filename = inspect.getsourcefile(cls)
    node = module_classes(filename).get(cls.__name__) if filename else None
    if node is None:
        raise OSError(f"no source for {cls.__qualname__}")
    docs = {}
    for field_node, doc in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(field_node, ast.AnnAssign)
            and isinstance(field_node.target, ast.Name)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)
        ):
            docs[field_node.target.id] = " ".join(doc.value.value.split())
    return docs


def unknown_score_words(score: str) -> str:
    """``score`` in plain words, its name (as ``--unknown-score`` spells it) after."""
    words = UNKNOWN_SCORE_WORDS.get(score)
    return f"{words}, {score}" if words else score


def precision_words(precision: str) -> str:
    """``precision`` (fp32, bf16, int8) in plain words, its short name after."""
    return PRECISION_WORDS.get(precision, precision)


def documented(cls: C) -> C:
    """``cls`` with each setting's documentation (:func:`field_docs`: the string under it, which
    the CLI's ``--help`` reads too) appended to its docstring as ``Attributes:``, so that
    ``help(cls)`` explains every setting from the same single source."""
    try:
        docs = field_docs(cls)
    except (OSError, TypeError):  # no source to read (a frozen application): as it is
        return cls
    wrap = textwrap.TextWrapper(
        96, initial_indent="    ", subsequent_indent="        ", break_on_hyphens=False
    )
    entries = [wrap.fill(f"{name}: {doc}") for name, doc in docs.items()]
    if entries:
        head = (cls.__doc__ or cls.__name__).rstrip()
        cls.__doc__ = head + "\n\nAttributes:\n" + "\n".join(entries)
    return cls


INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
FEATURE_DTYPES = ("float32", "float16")
AUGMENTATIONS = ("none", "article", "trivial")
BALANCES = ("none", "weights")
BATCHNORM_MODES = ("frozen", "train")
UNKNOWN_SCORES = ("knn", "mahalanobis", "relative_mahalanobis", "mahalanobis+knn", "vim", "msp")
PRECISIONS = ("auto", "fp32", "int8")
HEAD_PRECISIONS = ("auto", "fp32", "bf16")
UNKNOWN_SCORE_WORDS = {
    "knn": "distance to the nearest training images",
    "mahalanobis": "distance to the nearest class's centre",
    "relative_mahalanobis": (
        "distance to the nearest class's centre, less the distance to all the training images' one"
    ),
    "mahalanobis+knn": "distance to the class centres and to the nearest training images",
    "vim": "the head's confidence, less how far the features lie off the training images' axes",
    "msp": "the top probability",
}
"""Each unknown score in plain words, for the people who read evaluate's lines and the report."""
PRECISION_WORDS = {
    "fp32": "32-bit floats (fp32)",
    "bf16": "16-bit floats (bf16)",
    "int8": "8-bit integers (int8)",
}
"""Each arithmetic in plain words, its short name (as the options spell it) after."""
INT8_ENGINES = ("auto", "openvino", "onnxruntime")
TOP5_CLASSES = 5
"""Top-5 is shown (``evaluate``, the report) only for models of more classes than this: with
fewer it is always 100%."""
CHECK_PHOTOS = 32
"""Real photos export checks its file on unless told (``photos`` of
``export.exporter.export_model``, ``export --check-photos``; here, as the CLI does not import torch
for ``--help``): the check compares every probability of every photo, so a graph, a weight or a
temperature that is not objrec's shows on each photo; an int8 body's other rounding put a fifth of
the photos over ``export.check.PHOTO_TOLERANCE`` on the runs measured (``benchmarks/README.md``), so
32 photos miss it with a chance near 0.8**32, under 1e-3. 150 photos, the number before, took most
of the export's time."""
PATIENCE = 5
"""The head's default ``patience`` (``TrainConfig.patience``), which also says how lately a fit
stopped by its epoch limit must have improved for more epochs to help
(``fit_end.improved_lately``)."""
DEFAULT_BACKBONE = "efficientnet_lite0+efficientnet_lite1+efficientnet_lite2"
"""The three offline EfficientNet-Lite bodies, their features concatenated. On the valid splits of
three Caltech-101 split seeds, five heads on them reached a median valid loss of 0.160, 0.163 and
0.148 against 0.170, 0.168 and 0.158 for Lite0 + Lite1, for 1.5 times the pair's frozen pass
(benchmarks/choose_defaults.py; benchmarks/README.md)."""


@documented
@dataclass(frozen=True)
class DataConfig:
    """How a backbone wants its input: the crop it sees, the resize before it, the normalisation."""

    input_size: int = 224
    """The side of the square the backbone sees: the centre crop (training: a random crop)."""
    resize_size: int = 256
    """The short side an image is resized to before the crop; at least ``input_size``."""
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    """Per RGB channel, subtracted from the pixels (in [0, 1]) before the backbone."""
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    """Per RGB channel, what the pixels are divided by after the mean is subtracted."""
    interpolation: str = "bilinear"
    """How images are resized: bilinear, bicubic or nearest."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.input_size <= 0 or self.resize_size < self.input_size:
            raise ObjrecError(
                f"resize size {self.resize_size} must be at least the input size {self.input_size}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ObjrecError("mean and std need three values each, std above zero")
        if self.interpolation not in INTERPOLATIONS:
            raise ObjrecError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "the checkpoint") -> DataConfig:
        """The data config saved in the file ``source`` (:func:`known_settings`)."""
        return cls(**known_settings(cls, data, "data_config", source))


SPLIT_MODES = ("copy", "link")


def as_fractions(ratios: Sequence[float]) -> str:
    """The fractions of ``ratios`` given as percentages (70 15 15, mistakes41), for the refusal
    of a sum that is not 1; nothing for any other sum."""
    if abs(sum(ratios) - 100) > 1e-6:
        return ""
    return ": as fractions, " + " ".join(f"{r / 100:g}" for r in ratios)


@documented
@dataclass(frozen=True)
class SplitConfig:
    """How ``split`` divides a class folder into train, valid and test."""

    ratios: tuple[float, float, float] = (0.5, 0.25, 0.25)
    """Fractions for train, valid and test. They must sum to 1 (50/25/25 by default, as in the
    article objrec follows)."""
    seed: int = 0
    """Same seed and same files, same split."""
    exclude: tuple[str, ...] = ()
    """Class folders to leave out. The article's protocol leaves out Faces and BACKGROUND_Google."""
    classes: tuple[str, ...] = ()
    """Split only these class folders. By default every one is split; name a few to try them first,
    as a large folder's, and ``exclude`` leaves out others beside them."""
    mode: str = "copy"
    """Copy the images, or link them. ``link`` makes symbolic links to the source files."""
    strict: bool = False
    """Refuse empty classes and unreadable files. Refuse class folders without images and image
    files that cannot be read, or whose names are not UTF-8, in one error naming the first 10 of
    each kind and counting the rest (by default they are left out with a warning)."""
    near_duplicates: bool = True
    """Keep near-duplicates in one split. Keep near-duplicates (resized, re-encoded, cropped,
    mirrored, turned, letterboxed or recoloured copies of one picture, found by perceptual hash)
    in one split, as byte-identical files always are."""
    groups: PathGiven | None = None
    """Keep each group in one split: a CSV of columns file and group.
    A row per image (its file as class/name relative to the source folder, ./class/name,
    class\\name as Windows writes it, or its absolute path inside the folder; other columns
    ignored; comma, semicolon or tab separated): every image of one group lands in one split,
    with its duplicates (burst frames, a camera's sequences or sites, which no hash sees); images
    it does not name are groups of their own. A group is any word: a site, a camera, a day. A row
    naming a file outside the source folder or that it lacks, or a file in two groups, is refused
    with its line (``grouping.read_groups``)."""
    like: PathGiven | None = None
    """Keep each image in its split of an earlier split. An earlier split folder of the same photos
    (the source folder edited since): every image it holds (by content, whatever its name or class
    now) keeps its split, with its duplicates; only the others are placed, toward the ratios. So a
    run on the new split is tested on no image an earlier run trained on, and the test split changes
    only by what was edited."""
    burst_seconds: float = 1.0
    """Keep a camera's bursts in one split. Photos of one class folder that one camera took within
    this many seconds of each other (by the time the camera wrote into each photo) land in one
    split, as a burst's frames may differ too much for the duplicate check (0: off). The camera is
    told by EXIF Make, Model and serial number, the time by EXIF DateTimeOriginal and its
    sub-seconds; chained: A ~ B, B ~ C. Photos without a camera time are in no burst
    (``objrec.bursts``)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        ratios = tuple(float(r) for r in self.ratios)
        if len(ratios) != 3 or any(r < 0 for r in ratios):
            raise ObjrecError(f"`ratios` needs three non-negative numbers, got {list(ratios)}")
        if abs(sum(ratios) - 1) > 1e-6:
            raise ObjrecError(
                f"`ratios` must sum to 1, got {sum(ratios):g} for {list(ratios)}"
                + as_fractions(ratios)
            )
        if self.mode not in SPLIT_MODES:
            raise ObjrecError(f"unknown split `mode` {self.mode!r}: use copy or link")
        if not 0 <= self.burst_seconds < math.inf:
            raise ObjrecError(f"`burst_seconds` must be 0 (off) or more, got {self.burst_seconds}")
        object.__setattr__(self, "ratios", ratios)
        object.__setattr__(self, "exclude", tuple(self.exclude))
        object.__setattr__(self, "classes", tuple(self.classes))


@documented
@dataclass(frozen=True)
class EvaluateConfig:
    """What ``evaluate`` measures and how it gets the features."""

    split: str = "test"
    """Which split of a split folder. Ignored when the folder is a class folder."""
    tta: bool = False
    """Average over the test-time views. The view, its mirror, the other framing and its mirror,
    their probabilities averaged. The metrics without them are kept too."""
    cache_dir: PathGiven | None = None
    """Where frozen features are cached; None: the run's, else
    :func:`objrec.cache_folder.default_cache_dir`."""
    num_workers: int | None = None
    """DataLoader worker processes decoding images (default: 0 on the CPU, on a GPU every core but
    one); 0 decodes in the main process."""
    device: str = "auto"
    """Where the frozen pass and the head run: auto (a GPU when PyTorch sees one), cpu, cuda[:N]."""
    unknown: PathGiven | None = None
    """A folder of images of classes the model was not taught, or a reviewed ``predict --csv``
    table (its photos whose ``label``, else ``answer``, is unknown: ``labels.unknown_photos``):
    how well the unknown score tells them from the evaluated ones (AUROC, false positives at 95%
    true positives, at the threshold)."""
    against: PathGiven | None = None
    """An earlier run to compare with. That run (or checkpoint) is compared on the same images:
    those whose class both runs know (after ``add`` brought in a class, the runs' own top-1 are over
    different classes). It is evaluated too, into ``against-<its name>`` inside this evaluation's
    folder, never over its own evaluations (from the stored features when both runs share their
    frozen body; else with a frozen pass of its own)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.split not in ("train", "valid", "test"):
            raise ObjrecError("`split` must be one of train, valid, test")
        if self.num_workers is not None and self.num_workers < 0:
            raise ObjrecError("`num_workers` must not be negative")


def one_of(name: str, value: str, choices: Sequence[str]) -> tuple[bool, str]:
    """A ``__post_init__`` check: ``value`` of setting ``name`` is one of ``choices``."""
    return value in choices, f"`{name}` must be one of {', '.join(choices)}"


def one_network(backbone: str) -> str:
    """Why ``weights`` cannot go with the ensemble ``backbone``: its file holds one network's."""
    return (
        f"`weights` loads one network, not the ensemble {backbone}: give `backbone` the name of "
        "the one network the file holds"
    )


@documented
@dataclass
class TrainConfig:
    """Everything ``train`` needs beyond the data folder; stored in every run and checkpoint."""

    backbone: str = DEFAULT_BACKBONE
    """The pretrained network, or networks joined by ``+``, that read the images. Each is
    a name ``objrec backbones`` lists, a torchvision model name or ``timm:NAME``, and the head sees
    all that several found; the default, three EfficientNet-Lite networks (a feature ensemble), was
    chosen on validation data."""
    weights: str | None = None
    """Weights for ``backbone`` from a file. A PyTorch state dict, for a network trained elsewhere;
    by default objrec uses the network's own pretrained weights."""
    mean: tuple[float, float, float] | None = None
    """Per-colour means in place of the network's own. The red, green and blue values subtracted
    from each pixel (in 0 to 1) before the network reads it: for ``weights`` trained on other
    pixel values (0.5 0.5 0.5 for pixels in [-1, 1]), or to compare;
    every feature changes, so the network reads every image again (an int8 copy of it is made again
    too). Overrides the backbone's normalisation mean; ``std`` may be given with it or alone. Train
    warns when it differs from the mean the network's own weights were trained with."""
    std: tuple[float, float, float] | None = None
    """Per-colour spreads in place of the network's own. What each pixel's red, green and blue
    values are then divided by (0.5 0.5 0.5 for pixels in [-1, 1]),
    with ``mean`` or alone; as with ``mean``, the network reads every image again. Overrides the
    backbone's normalisation std."""
    epochs: int = 100
    """At most this many epochs of the head. An epoch is a pass over the training images; training
    usually stops sooner, when the validation loss stops falling (``patience``)."""
    patience: int = PATIENCE
    """Epochs without progress before stopping. Training stops after this many epochs without a
    validation loss lower by more than ``min_delta``; the epoch of the lowest one is kept."""
    min_delta: float = 0.001
    """Least drop of the loss that counts. An epoch counts as progress (for ``patience``) only when
    it lowers the validation loss of the last one that did by more than this; 0 counts any drop.
    It decides when training stops, not which epoch is kept: the lowest validation loss is, lower
    by however little; a fine-tuning is kept only when it lowers the head's by more. With 0, a
    loss creeping towards zero on a small, easy folder (0.0031, then 0.00001 lower an epoch) never
    let early stopping end the fit, which ran every ``epochs``; on the 100-class Caltech-101
    protocol, 0.001 keeps the best validation loss within the heads' run-to-run spread
    (benchmarks/README.md, "The stopping rule")."""
    batch_size: int = 128
    """Images per training step of the head. Rarely worth changing."""
    lr: float = 1e-3
    """The head's learning rate. How large a step the head takes as it learns (the learning rate of
    its Adam optimiser): lower it when the validation loss jumps about. Adam's learning rate for the
    head."""
    weight_decay: float = 0.0
    """Weight decay, against overfitting. A pull of the head's weights toward zero at each step of
    its fit (0: none); fine-tuning (``finetune_blocks``) decays the tuned blocks and the head by a
    fixed 1e-4 whatever this is. Adam's L2 weight decay for the head's fit; fine-tuning's AdamW
    decouples its own (``finetune.FINETUNE_WEIGHT_DECAY``)."""
    hidden: int = 256
    """Size of the head's hidden layer. 256, as in the article objrec follows (docs/caltech101.md);
    0 makes the head a single layer."""
    dropout: float = 0.4
    """Dropout of the head's hidden layer. The share of the hidden layer's values switched off at
    random in each training step, against overfitting (0.4, as in the article). Dropout before the
    head's last layer."""
    heads: int = 5
    """How many heads to train and average. They train side by side on the same features, each from
    its own random start; the model averages their probabilities. Cheap (the features are shared)
    and measured on Caltech-101: median valid loss 0.160 with 5 against 0.171 with one, on split
    seed 0 (benchmarks/README.md)."""
    augment: str = "article"
    """How images are varied. Training images are varied so the head learns from more than one view
    of each: ``article`` (a random crop, rotation, colour change and mirror image), ``trivial`` (one
    random change of many, TrivialAugmentWide) or ``none``."""
    aug_views: int = 1
    """Varied views per image. How many varied views (``augment``) of each training image the head
    trains on beside the image itself, each read by the network once and stored; 0: the image alone,
    as with an ``augment`` of ``none``. (Its "augmented" views would be the
    centre view again.) On Caltech-101 (Lite0 + Lite1) the views differ by about the
    seed-to-seed spread (median valid loss 0.185, 0.182, 0.179, 0.180 for 0, 1, 2, 4 views) and each
    costs another frozen pass of the training images; one keeps the default within its budget
    (benchmarks/README.md)."""
    label_smoothing: float = 0.0
    """Label smoothing (0: none). How much of each training image's target is spread over the other
    classes, so that the head is less sure of itself (0: none; the validation loss is never
    smoothed). Cross-entropy label smoothing."""
    balance: str = "none"
    """Weigh rare classes more. ``none`` counts every training image alike; ``weights`` counts the
    images of a class the more, the fewer it has, for strongly imbalanced classes (``objrec check``
    says when). Weights each class's loss by the inverse of its training frequency."""
    finetune_blocks: int = 0
    """Fine-tune EfficientNet-Lite's last N blocks (slow; kept, run in fp32). Once the head has
    learned, also adjust the pretrained network's last N blocks of layers to your photos (an
    epoch takes tens of seconds to minutes on a CPU, where the head's take a second or two; in
    32-bit floats: a fine-tuning kept makes the whole run fp32, so predict, serve and export run
    slower than int8); 0 keeps the network as it is, and a backbone other than the
    EfficientNet-Lite ones (the default's three, alone or in an ensemble of them) is refused
    before any work."""
    finetune_epochs: int = 10
    """Most epochs of fine-tuning. With ``finetune_blocks``: at most this many epochs of adjusting
    the network (it stops sooner when the validation loss stops falling)."""
    finetune_lr: float = 1e-4
    """The blocks' learning rate. With ``finetune_blocks``: the learning rate of the adjusted blocks
    (the head's is ten times this), reached after one epoch, then lowered along a cosine."""
    finetune_batchnorm: str = "frozen"
    """How BatchNorm is treated. With ``finetune_blocks``: ``frozen`` keeps the statistics of the
    adjusted blocks' normalisation layers (BatchNorm) as ImageNet set them; ``train`` lets your
    training images update them."""
    precision: str = "auto"
    """How the network computes. For the pretrained network (the frozen body), ``auto`` uses 8-bit
    integers (int8) on a CPU with fast 8-bit instructions for EfficientNet-Lite networks (the
    default ones), else 32-bit floats (fp32); int8 runs the network about twice as fast and, on
    Caltech-101 (100 classes), scored test top-1 96.17% against fp32's 95.85%, its top-1 in the
    other measurements within 0.4 percentage points either way; ``fp32`` or ``int8`` forces one.
    ``auto`` picks int8 when the frozen pass runs on a CPU with 8-bit dot-product instructions
    (AVX-512 VNNI or AVX-VNNI on x86, ``asimddp`` on ARM), the body is an EfficientNet-Lite one (or
    an ensemble of them): int8's valid loss is within fp32's split-seed spread, and the run does
    not fine-tune (with ``finetune_blocks`` fine-tuning's pass to the cut makes the fp32 body's
    features as it goes, where int8 ran a second pass). With ``finetune_blocks`` and ``int8`` the
    head trains on the int8 body, the blocks are fine-tuned in fp32, and a fine-tuning kept makes
    the run's body fp32 (recorded so); one not kept leaves the run as it would be without it, an
    int8 body included. int8 is ONNX Runtime static quantization
    calibrated on the 120 images of the built-in sample (not on yours, so adding or removing
    training images keeps the int8 body and its stored features). The run records the precision used
    (``auto`` is settled before the frozen pass), the head trains on that body's features and the
    checkpoint carries the body, so evaluate, predict, serve and export run the same one
    (``objrec.quantize``; ``BackboneSpec.int8`` says which bodies int8 was validated on)."""
    int8_engine: str = "auto"
    """What runs an 8-bit network. The library that runs the network when it computes in 8-bit
    integers (``precision``): ``auto`` picks OpenVINO where it is installed (objrec installs it),
    else ONNX Runtime; ``openvino`` or ``onnxruntime`` picks one. Both run an int8 graph of the same
    calibration (QDQ, QOperator); OpenVINO made a default train's frozen pass about 1.4 times faster
    on 2 cores of a CPU with AMX, at the same validation loss; on 2 cores of an AMD EPYC without AMX
    (``avx512_vnni``), 1.1 to 1.3 times: 70 to 87 images/s against ONNX Runtime's 62 to 66 and
    fp32's 35 to 36 (benchmarks/README.md). The run records the engine with the body, so evaluate,
    predict and serve run the one it trained on."""
    head_precision: str = "auto"
    """How the head computes. While the new head trains, ``auto`` uses 16-bit floats (bf16: faster,
    its validation loss within the spread between seeds) on a CPU with instructions for them (recent
    Intel Xeons, AMD since Zen 4) when one process trains, else 32-bit floats (fp32); ``fp32`` or
    ``bf16`` forces one. ``auto``'s test is the CPU flag ``amx_bf16`` or ``avx512_bf16``; a GPU, and
    torchrun (which refuses bf16), train in fp32. bf16 runs the training steps' matrix products, and
    those of the validation pass that early stopping reads, under bfloat16 autocast; the weights and
    Adam stay float32, and so does the calibration. Figures are medians of three head seeds' best
    valid losses, on three split seeds, against fp32's. On 2 cores with ``amx_bf16`` it took a warm
    retrain's head fit on the 100-class protocol from 8.6 to 7.1 s (22 epochs), the medians within
    0.0002 of fp32's against head-seed spreads of 0.004 to 0.008; the validation pass in bf16 moved
    the kept heads' median float32 valid loss by at most 0.0002 more. On 2 cores of an AMD EPYC with
    ``avx512_bf16`` and no AMX an epoch took 0.59 to 0.67 of fp32's, the medians 0.0004 to 0.0011
    higher, within head-seed spreads of 0.006 to 0.008 (at most 0.14 of them; benchmarks/README.md).
    The run records the one used."""
    unknown_score: str = "mahalanobis+knn"
    """What decides "unknown". The way the model tells a photo of its classes from anything else, to
    answer "unknown" (its threshold is chosen on the valid split): the default, ``mahalanobis+knn``,
    measured best; the others (``mahalanobis``, ``knn``, ``relative_mahalanobis``, ``vim``, ``msp``)
    are for comparison, and docs/confidence.md, "An unknown score and its threshold", says what each
    measures. ``mahalanobis+knn``: distance to the class centres and to the nearest training images;
    ``msp``: the top probability. In detail (``objrec.unknown_scores``): ``mahalanobis+knn`` is the
    Mahalanobis score plus the cosine similarity to the third most similar of 4 k-means centroids
    per class, each standardised on the valid split; ``mahalanobis`` the distance to the nearest
    class mean of the training features; ``vim`` the heads' energy minus the features' norm off
    their top principal directions; ``msp`` the top calibrated probability. Chosen on held-out
    Caltech-101 classes (benchmarks/open_set.py): AUROC 0.978 against 0.937 for msp on the classes
    it was chosen on."""
    seed: int = 0
    """Same seed, same run. On this machine, the seed sets the head initialisation, dropout and
    batch order (another CPU may compute otherwise under the default ``precision`` and
    ``head_precision``: see docs/commands.md, Reproducing a result)."""
    num_workers: int | None = None
    """Extra processes that decode images. They decode while the network reads (default: none on a
    CPU, where that measured fastest; on a GPU every core but one). DataLoader worker processes (on
    a GPU every core of this rank's share of the machine but one). 0 decodes in a thread of the main
    process, which measured fastest on 2 cores, where ONNX Runtime already keeps both busy."""
    cache_dir: PathGiven | None = None
    """The folder where objrec keeps what it worked out. What the network found in each image is
    stored there for the next run (``objrec cache`` shows and prunes it). Recorded with the run:
    evaluate, suggest and audit --run read the run's features there. None:
    :func:`objrec.cache_folder.default_cache_dir`, which ``--help`` shows as the option's
    default."""
    feature_dtype: str = "float16"
    """How features are stored. The precision they are kept in: float16 (half the disk space of
    float32, for the same validation loss where measured) or float32. The feature store keeps the
    body's pooled features in float16 by default: half the disk and page cache of float32, for the
    same validation loss on three split seeds (benchmarks/README.md). Fine-tuning's activations at
    the cut stay float32."""

    @property
    def augmented_views(self) -> int:
        """The augmented views of each training image the run computes and trains on beside the
        centre view: ``aug_views``, none when ``augment`` is ``none``."""
        return 0 if self.augment == "none" else self.aug_views

    def __post_init__(self) -> None:
        check_field_types(self)
        checks = [
            (self.epochs >= 1, "`epochs` must be at least 1"),
            (self.patience >= 1, "`patience` must be at least 1"),
            (self.min_delta >= 0, "`min_delta` must not be negative"),
            (self.batch_size >= 1, "`batch_size` must be at least 1"),
            (self.lr > 0, "`lr` must be above zero"),
            (self.weight_decay >= 0, "`weight_decay` must not be negative"),
            (self.hidden >= 0, "`hidden` must not be negative"),
            (0 <= self.dropout < 1, "`dropout` must be in [0, 1)"),
            (self.heads >= 1, "`heads` must be at least 1"),
            (self.augment in AUGMENTATIONS, f"`augment` must be one of {', '.join(AUGMENTATIONS)}"),
            (self.aug_views >= 0, "`aug_views` must not be negative"),
            ((self.num_workers or 0) >= 0, "`num_workers` must not be negative"),
            (
                self.feature_dtype in FEATURE_DTYPES,
                f"`feature_dtype` must be one of {', '.join(FEATURE_DTYPES)}",
            ),
            (0 <= self.label_smoothing < 1, "`label_smoothing` must be in [0, 1)"),
            (self.balance in BALANCES, f"`balance` must be one of {', '.join(BALANCES)}"),
            (self.finetune_blocks >= 0, "`finetune_blocks` must not be negative"),
            (self.finetune_epochs >= 1, "`finetune_epochs` must be at least 1"),
            (self.finetune_lr > 0, "`finetune_lr` must be above zero"),
            (self.precision in PRECISIONS, f"`precision` must be one of {', '.join(PRECISIONS)}"),
            one_of("head_precision", self.head_precision, HEAD_PRECISIONS),
            one_of("int8_engine", self.int8_engine, INT8_ENGINES),
            (
                self.unknown_score in UNKNOWN_SCORES,
                f"`unknown_score` must be one of {', '.join(UNKNOWN_SCORES)}",
            ),
            (
                self.finetune_batchnorm in BATCHNORM_MODES,
                f"`finetune_batchnorm` must be one of {', '.join(BATCHNORM_MODES)}",
            ),
            (self.weights is None or "+" not in self.backbone, one_network(self.backbone)),
        ]
        for ok, message in checks:
            if not ok:
                raise ObjrecError(message)
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None:
                if len(value) != 3:
                    raise ObjrecError(f"`{name}` needs three values, one per RGB channel")
                if name == "std" and min(value) <= 0:  # each pixel is divided by it
                    raise ObjrecError(f"`std` must be above zero, not {' '.join(map(str, value))}")
                setattr(self, name, tuple(float(v) for v in value))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "the checkpoint") -> TrainConfig:
        """The settings a run saved in the file ``source`` (:func:`known_settings`); those an
        earlier objrec had (:data:`RETIRED_TRAIN_SETTINGS`) are left out without a word."""
        # runs saved before `precision` or `head_precision` existed ran in fp32
        earlier = {"precision": "fp32", "head_precision": "fp32", "int8_engine": "onnxruntime"}
        saved = earlier | dict(data)
        return cls(**known_settings(cls, saved, "train_config", source, RETIRED_TRAIN_SETTINGS))


RETIRED_TRAIN_SETTINGS = ("extra", "init_from")
"""Settings an earlier objrec wrote in a run's ``train_config`` and this one no longer has
(both removed on 30 November 2026): a run of then loads without a warning."""


def given_settings(cls: type[Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Those of ``values`` (settings given as a function's keyword parameters, each a field of
    ``cls``) that differ from the field's default: the ones a caller gave, as :func:`settings`
    takes them (its refusal of both a ``config`` and settings holds for the parameters too)."""
    defaults = {f.name: f.default for f in fields(cls)}
    return {name: value for name, value in values.items() if value != defaults[name]}


def settings(cls: type[T], config: T | None, keywords: dict[str, Any], stage: str) -> T:
    """``config``, or a ``cls`` made from the keyword settings a caller gave instead of one."""
    if config is not None and keywords:
        raise ObjrecError(f"give {stage} settings as `config` or as keywords, not both")
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    for name in sorted(set(keywords) - set(names)):  # Python's own error, naming the function
        hint = is_it(name, names)
        raise TypeError(f"{stage}() got an unexpected keyword argument {name!r}{hint}")
    return config if config is not None else cls(**keywords)

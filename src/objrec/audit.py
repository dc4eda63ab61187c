"""``audit``: likely wrong labels, near-duplicates, leaks across splits and outliers in a folder.

Everything rests on the frozen body's cached features (the same cache entries ``train`` and
``evaluate`` use) and a few facts per image (size, contrast, perceptual hashes), taken in the
frozen pass's loader as each image is decoded for the body, so a cold audit makes one pass over
the files (only the centre view: ``train`` also computes augmented views):

* **label issues**: ``folds`` heads, each trained on the other folds' features, give every image
  out-of-fold class probabilities, averaged with the labels of its nearest images (near-duplicates
  of one another, a burst's frames say, in one fold and never each other's neighbours here, so a
  wrong label's copies do not vouch for it: ``copy_groups``); cleanlab
  (confident learning: ``find_label_issues``, ``num_label_issues``) flags as many images as it
  estimates are wrong, those whose given label the probabilities support least, most likely first,
  plus images far from their class whose label gets under twice chance (``far_from_label``),
  nearer their class where another class claims them (``claimed_by_other``);
* **near-duplicates**: feature neighbours plus perceptual hashes of the whole image and of its
  crops (``objrec.dedup``), grouped; a group spanning two splits is a possible leak; pairs only
  moderately alike by both signals are **look-alikes**, grouped apart, to check (not leaks);
* **outliers**: images whose nearest neighbours (in their class, or anywhere) are unusually far,
  and degenerate images (tiny, nearly blank, extreme aspect ratio);
* **unreadable files**: those no command can read (``check`` calls them unusable, ``split`` and
  ``train`` leave them out), listed apart and not counted among the images.

The audit only reads DATA. It writes CSVs, ``audit.json``, ``audit.html`` and ``plan.csv`` (a
proposal a person reviews); ``apply_plan`` copies a corrected folder elsewhere.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

from objrec import dedup
from objrec.audit_findings import (
    DuplicateGroup,
    Finding,
    LabelIssue,
    Outlier,
    PhotosNeeded,
    Unreadable,
    one_per_picture,
)
from objrec.audit_report import (
    FINDING_KINDS,
    MIN_JUDGED,
    acts_on,
    finding_rows,
    findings_table,
    none_judged_note,
    write_audit,
)
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.bodies import Body
from objrec.cache import open_cache
from objrec.config import (
    DEFAULT_BACKBONE,
    FEATURE_DTYPES,
    PRECISIONS,
    DataConfig,
    TrainConfig,
    check_field_types,
    documented,
    precision_words,
)
from objrec.copies import copy_named, modified
from objrec.data import (
    SPLITS,
    Sample,
    class_dirs,
    is_split_folder,
    present_splits,
    scan_class_folder,
)
from objrec.engine import train_one_epoch
from objrec.errors import ObjrecError, on_ctrl_c
from objrec.features import cached_features, file_digests
from objrec.frozen import FrozenBody, PassSettings, Probe
from objrec.images import warned_once_per_file
from objrec.model import build_head
from objrec.outputs import takes_back_folders, writing_outputs
from objrec.photos_needed import FEW_PHOTOS, class_needs
from objrec.precision import auto_precision
from objrec.progress import SILENT, Reporter, or_silent, plural
from objrec.quantize import quantize_body
from objrec.reviewed import settled_paths
from objrec.views import ViewSpec

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MIN_SIDE = 32
"""Images with a side shorter than this many pixels are reported as tiny."""
MIN_CONTRAST = dedup.MIN_CONTRAST
"""Grey-level standard deviation (0-255) under which an image is reported as nearly blank."""
MAX_ASPECT = 4.0
FAR_CHANCE = 2.0
"""An image far from its class (``FAR_Z``) whose heads and neighbours give its label less than
this many times chance (1 / classes) is flagged as a wrong label even when cleanlab does not count
it. Chosen on the development injection (``benchmarks/README.md``, "small folders")."""
FAR_Z = 2.25
"""Robust z-score (within its class: ``class_spread_z``) of the mean distance to the nearest images
of its own class above which an image counts as far from its class, for ``FAR_CHANCE``."""
CLAIM_Z = 1.0
"""The ``FAR_Z`` that suffices for an image ``claimed_by_other``: its most probable other class
gets at least ``CLAIM_SHARE`` of that class's confident threshold. Chosen with ``CLAIM_SHARE`` on
the development injection (``benchmarks/README.md``, "claimed by another class")."""
CLAIM_SHARE = 0.8
"""Share of a class's confident threshold (cleanlab's: the mean probability its own images get)
another class's image must get to be ``claimed_by_other``."""
MIN_CLASS_SPREAD = 5
"""Judged images a class needs for its own MAD; a smaller class uses every judged image's."""
OUTLIER_Z = 3.5
"""Robust z-score (median and MAD) of the k-NN distance above which an image is an outlier."""
FAR_CLASS_SHARE = 0.1
"""Share of a class's images flagged far (from every image or from their class), 2 at least, from
which the audit says that a class of fewer images than the median class lies far as a whole
(``far_classes``). An image's distances are judged against every image's, and a class of few
photos has few of its own near each: on a collection of 4 classes of 179-400 Caltech-101 photos
and 6 of 15-30, 15 of the 16 outliers were photos of the small classes (crab 7 of its
18). Judging each class by its own spread instead was measured and not taken: it found 40 of 309
planted wrong labels among the outliers of /work/splits/s0 (3 now) and none of the small
classes' photos, but missed 7 of 12 photos of other objects placed in the small classes
(benchmarks/README.md, "outliers in classes of very different sizes")."""


@documented
@dataclass
class AuditConfig:
    """How the audit computes features and trains its out-of-fold heads."""

    backbone: str = DEFAULT_BACKBONE
    """The frozen body (ignored with ``run``: the run's own body is used)."""
    folds: int = 5
    """Heads trained, each on all folds but one and scoring the one it never saw."""
    heads: int = 1
    """Members of each fold's head (``model.HeadEnsemble``: own initialisation, same features)."""
    epochs: int = 20
    """Epochs per out-of-fold head (Adam, the article's head, no early stopping)."""
    min_steps: int = 0
    """Optimizer steps each out-of-fold head takes at least (0: off, the default): a small
    folder's head then trains more epochs than ``epochs`` (``head_epochs``). Off, as measured
    (``benchmarks/audit_min_steps.py``, ``benchmarks/HISTORY.md``, "a floor on the heads'
    optimizer steps"):
    on 16 small Caltech folders (300-460 images, 60 steps a head) a floor of 300, 600 or 1200
    found no more of the planted labels among the top N (random classes 99.3% at every value;
    pairs of alike classes 61.5% off, 61.5-63.8% with it, development projects), only flagged
    more of the alike classes' images (precision of the flagged set 51.1% -> 43.8% at 600), for
    3-4 times the audit's seconds; the 100-class protocol's heads take 800 steps (600: no change;
    1200: 96.8% -> 95.6% of the top 342 on seed 1)."""
    pca: int = 256
    """The heads train on this many principal components of the features (0: all features): the
    three-body default has 3,840, and the heads' first layer is most of their cost."""
    lr: float = 1e-3
    """Adam's learning rate for the out-of-fold heads."""
    batch_size: int = 128
    """Images per step of the out-of-fold heads' training."""
    hidden: int = 256
    """Width of the heads' hidden layer (0: one linear layer), as ``TrainConfig.hidden``."""
    dropout: float = 0.4
    """Dropout before the heads' last layer."""
    rank_by: str = "self_confidence"
    """How cleanlab ranks the flagged images (``get_label_quality_scores``' ``method``)."""
    filter_by: str = "low_self_confidence"
    """Which images cleanlab's ``find_label_issues`` flags (its ``filter_by``): by default the
    ``num_label_issues`` images (cleanlab's estimate of how many there are) of lowest
    self-confidence. Chosen on a development injection (``benchmarks/audit_choices.py --seed 1``,
    three-body features, 342 wrong labels): 95.3% of the 342 highest-ranked were injected this way,
    82.2% with cleanlab's default ``prune_by_noise_rate``, whose flagged set leaves out many of the
    least self-confident images; ``both`` and ``confident_learning`` did no better."""
    knn_weight: float = 0.5
    """Share of the class probabilities taken from the labels of each image's 10 nearest images
    (similarity-weighted, itself left out) rather than from the out-of-fold heads. On the
    development injection, half and half: 96.8% of the 342 highest-ranked injected (heads alone
    95.3%, neighbours alone 90.1%; 10 folds, 3 heads per fold, all features or 40 epochs instead
    of the default heads: 94.7-96.2%, at 4-13 times the heads' 10 s)."""
    few_photos_p: float = 0.25
    """In a class of fewer than ``photos_needed.FEW_PHOTOS`` (11) distinct photos, a label flag
    whose suggested class the heads and neighbours give less than this is set apart as "too few
    photos to judge" (``AuditResult.too_few``), not counted as a likely wrong label (0: off). Such
    a class cannot fill the neighbour vote nor teach the heads much, so its right photos get
    p(given) near 0 too, but no other class claims them. Chosen on development seeds 1-3 of
    ``benchmarks/audit_planted.py`` (``few``: 100 classes of 6-10 photos, 3% planted): precision
    of the flags 67.6% -> 88.0%, recall 100% -> 91.7% (0.2: 78.6% / 91.7%; 0.3: 91.3% / 87.5%);
    nothing changes in classes of 11 photos or more."""
    neighbours: int = 5
    """Neighbours whose mean distance scores an outlier."""
    duplicates: dedup.DuplicateRule = field(default_factory=dedup.DuplicateRule)
    """When two images are near-duplicates, and when they only look alike (``dedup``)."""
    seed: int = 0
    """Same seed, same folds, principal components and heads: the same findings."""
    cache_dir: str | Path | None = None
    """Where frozen features are cached; default ``$OBJREC_CACHE`` or ``~/.cache/objrec``."""
    num_workers: int = 0
    """DataLoader worker processes decoding images; 0 decodes in the main process."""
    feature_dtype: str = TrainConfig.feature_dtype
    """The store's rows without ``run`` (with one, the run's own): ``train``'s default, so an audit
    after a training run reads the features it stored (the store derives float16 rows from float32
    ones, never the reverse)."""
    precision: str = TrainConfig.precision
    """The body's precision without ``run`` (with one, the run's own): ``auto`` settles it as
    ``train`` does (``precision.auto_precision``), so an audit after a default training run reads
    the features that run stored instead of computing them again in another precision."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.folds < 2:
            raise ObjrecError("`folds` must be at least 2")
        if self.epochs < 1:
            raise ObjrecError("`epochs` must be at least 1")
        if self.min_steps < 0:
            raise ObjrecError("`min_steps` must be 0 (off) or more")
        if self.precision not in PRECISIONS:
            raise ObjrecError(f"`precision` must be one of {', '.join(PRECISIONS)}")
        if self.heads < 1:
            raise ObjrecError("`heads` must be at least 1")
        if not 0 <= self.few_photos_p <= 1:
            raise ObjrecError("`few_photos_p` must be in [0, 1]")
        if not 0 <= self.knn_weight <= 1:
            raise ObjrecError("`knn_weight` must be in [0, 1]")
        if self.feature_dtype not in FEATURE_DTYPES:
            raise ObjrecError(f"`feature_dtype` must be one of {', '.join(FEATURE_DTYPES)}")


@dataclass(frozen=True)
class Item:
    """One image of the audited folder: where it is, how to show it, its class and split."""

    path: Path
    shown: str
    label: int
    split: str | None


@dataclass
class Inventory:
    root: Path
    classes: tuple[str, ...]
    items: list[Item]
    is_split: bool
    digests: list[str] = field(default_factory=list)
    """Each item's content digest, once :func:`inventory_facts` has read them (empty before): which
    copies of a near-duplicate group are the same file, byte for byte."""

    def rel(self, item: Item) -> str:
        return item.path.relative_to(self.root).as_posix()


@dataclass
class AuditResult:
    """What the audit found; ``to_json`` gives the documented ``--json`` shape."""

    label_issues: list[LabelIssue]
    near_duplicates: list[DuplicateGroup]
    outliers: list[Outlier]
    n_images: int
    classes: list[str]
    out: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    baseline_flags: list[str] = field(default_factory=list)
    """Paths whose out-of-fold prediction differs from their label: the plain baseline."""
    look_alikes: list[DuplicateGroup] = field(default_factory=list)
    """Groups alike by both signals moderately (``dedup.DuplicateRule.look_alike``), or paired by
    ``split`` alone (``kept_by_split``), in the rows
    of ``near_duplicates``: one picture re-framed or edited, or different photos of one kind,
    which only a look tells; not counted as leaks."""
    unjudged: list[str] = field(default_factory=list)
    """Classes with fewer than ``MIN_JUDGED`` readable images: none of their images is ranked as
    a label issue, as nothing can judge them (``audit_report.unjudged_note`` says so)."""
    labels_not_judged: str = ""
    """Why no label was judged at all ("" when labels were): the folder holds one class, or
    fewer than two classes of ``MIN_JUDGED`` readable images (``audit_report.none_judged_note``):
    no label issue then means no label was looked at, not that none is wrong."""
    far_classes: dict[str, FarClass] = field(default_factory=dict)
    """Classes of few photos that lie far as a whole (``far_classes``): each one's pictures far
    from every image or from their class, its distinct photos and its images
    (``audit_report.far_classes_note`` says it)."""
    planned: dict[str, int] = field(default_factory=dict)
    """How many rows plan.csv pre-fills of each action (``relabel``, ``remove``, ``keep``), how
    many of its keeps are label flags to review (``review``) or kept as a person settled them
    (``settled``), and of its removes byte-identical copies (``identical``) and copies labelled
    otherwise than the copy kept (``other_label``); empty when nothing was written."""
    too_few: list[str] = field(default_factory=list)
    """The paths of ``label_issues`` in classes of too few photos to judge them
    (``AuditConfig.few_photos_p``): listed apart from the likely wrong labels, kept by the plan."""
    unreadable: list[Unreadable] = field(default_factory=list)
    """The files of the folder that cannot be read (as ``check``, ``split`` and ``train`` read
    them: :func:`unreadable_rows`), left out of ``n_images`` and of every finding; the plan
    removes them."""
    photos_needed: list[PhotosNeeded] = field(default_factory=list)
    """The classes that most need more or better photos, most in need first, each with its
    evidence and reasons in words (``photos_needed.class_needs``): ``photos_needed.csv``."""
    settled: list[str] = field(default_factory=list)
    """The paths of ``label_issues`` whose label as it is a person settled in an earlier plan
    (``reviewed.csv``): still flagged and ranked, but kept by the plan, so the summaries (the
    terminal's, ``--json``'s, audit.html's) say them apart from the likely wrong labels."""
    data: Path | None = None
    """The audited folder, as given: the rows' paths are in it (``data/test/red/x.png``), the
    CSVs' relative to it (``test/red/x.png``), as ``plan.csv`` names its files."""
    picture_of: dict[int, int] = field(default_factory=dict)
    """Each file of a picture of two files or more (its place in the audit's inventory) -> the
    file that stands for its picture (``PictureNames``), which the findings' ``picture`` and
    plan.csv's ``picture`` name: the files of one picture, one decision."""

    def to_json(self) -> dict[str, Any]:
        keys = {
            "label_issues": ("path", "given", "suggested", "score", "picture", "copies"),
            "near_duplicates": ("paths", "splits", "similarity"),
            "look_alikes": ("paths", "splits", "similarity"),
            "outliers": ("path", "score", "reason", "picture", "copies"),
        }
        found = {
            name: [{k: row[k] for k in wanted} for row in finding_rows(getattr(self, name))]
            for name, wanted in keys.items()
        }
        far = [
            {"class": name, "outliers": far.outliers, "photos": far.photos, "images": far.images}
            for name, far in self.far_classes.items()
        ]
        flags, settled, few = found.pop("label_issues"), set(self.settled), set(self.too_few)
        labels = {
            "label_issues": [row for row in flags if row["path"] not in settled | few],
            "settled_labels": [row for row in flags if row["path"] in settled],
            "too_few_to_judge": [row for row in flags if row["path"] in few - settled],
        }
        rest = {
            "unreadable_files": [file.path for file in self.unreadable],
            "labels_judged": not self.labels_not_judged,
            "labels_not_judged": self.labels_not_judged or None,
            "classes_not_judged": list(self.unjudged),
            "far_classes": far,
        }
        needs = [need.row() for need in self.photos_needed]
        return labels | found | rest | {"photos_needed": needs}

    def likely_wrong(self) -> list[LabelIssue]:
        """The label issues but those a person settled in an earlier plan (``settled``) and those
        in classes of too few photos to judge (``too_few``)."""
        apart = set(self.settled) | set(self.too_few)
        return [issue for issue in self.label_issues if issue.path not in apart]

    def too_few_apart(self) -> list[LabelIssue]:
        """The label issues in classes of too few photos to judge (``too_few``) but those a
        person settled in an earlier plan, which are said as settled: each flag is counted once,
        in the terminal's summary as in ``audit.html`` and ``--json``."""
        apart = set(self.too_few) - set(self.settled)
        return [issue for issue in self.label_issues if issue.path in apart]

    def __repr__(self) -> str:
        """One line: how many findings of each kind (a notebook cell ending in an audit showed
        every row of every list), each named ``n_`` and its list's name (``n_label_issues``)."""
        counts = ", ".join(f"n_{kind}={len(getattr(self, kind))}" for kind in FINDING_KINDS)
        where = f", out={str(self.out)!r}" if self.out is not None else ""
        return (
            f"AuditResult(n_images={self.n_images}, n_classes={len(self.classes)}, {counts}{where})"
        )

    def table(self, kind: str) -> pd.DataFrame:
        """The findings of ``kind`` (``label_issues``, ``near_duplicates``, ``look_alikes`` or
        ``outliers``, as the attributes) as a pandas DataFrame of the rows ``<kind>.csv`` holds
        (``audit_report.findings_table``): each image a ``file`` relative to ``data``, as
        ``plan.csv`` names it, a group's ``files`` joined by " | ", as there."""
        if kind not in FINDING_KINDS:
            raise ObjrecError(f"`kind` must be one of {', '.join(FINDING_KINDS)}, not {kind!r}")
        return findings_table(self, kind)


# ---------------------------------------------------------------- the folder


def inventory(data: Path) -> Inventory:
    """Every image of a class folder, or of all three splits of a split folder."""
    data = Path(data)
    if not data.is_dir():
        raise ObjrecError(f"{data} is not a folder")
    split = is_split_folder(data)
    if split:
        classes, items = _split_items(data)
    else:
        folder = scan_class_folder(data, skip_empty=True)
        classes, items = folder.classes, [_item(data, s, None) for s in folder.samples]
    if not items:
        raise ObjrecError(f"{data} holds no images")
    return Inventory(data, classes, items, split)


def _split_items(data: Path) -> tuple[tuple[str, ...], list[Item]]:
    """The classes of a split folder (those holding images in some split) and its images; an
    empty class folder is named in a warning and left out, as ``split`` leaves it out."""
    splits = [s for s in present_splits(data) if class_dirs(data / s)]
    folders = {split: scan_class_folder(data / split, skip_empty=True) for split in splits}
    names = sorted({name for folder in folders.values() for name in folder.classes})
    label = {name: i for i, name in enumerate(names)}
    items = [
        _item(data, Sample(s.path, label[folder.classes[s.label]]), split)
        for split, folder in folders.items()
        for s in folder.samples
    ]
    return tuple(names), items


def _item(root: Path, sample: Sample, split: str | None) -> Item:
    return Item(sample.path, str(root / sample.path.relative_to(root)), sample.label, split)


def split_samples(inv: Inventory) -> dict[str | None, list[Sample]]:
    """Samples per split in folder order: the same lists (so cache keys) that train uses."""
    groups: dict[str | None, list[Sample]] = {}
    for item in inv.items:
        groups.setdefault(item.split, []).append(Sample(item.path, item.label))
    return groups


# ---------------------------------------------------------------- features


def frozen_body(
    config: AuditConfig, run: Path | None, reporter: Reporter = SILENT
) -> tuple[FrozenBody, DataConfig]:
    """The run's own body and preprocessing, its features read from (and written to) the store in
    the dtype the run stored them in; else ``config.backbone``'s pretrained body, in
    ``config.feature_dtype``: its int8 graph, once found whole, remembered in the store as
    ``train`` remembers it (``quantize.usable``), not opened again to be checked at each audit."""
    if run is not None:
        from objrec.checkpoint import load_model

        model, meta = load_model(run)
        cache = open_cache(config.cache_dir or meta.cache_dir, meta.feature_dtype)
        return FrozenBody(model.body, meta.data.input_size, cache, name=meta.backbone), meta.data
    spec = get_backbone(config.backbone)
    data = resolve_data_config(spec)
    body: Body = build_body(spec, pretrained=True)
    cache = open_cache(config.cache_dir, config.feature_dtype)
    precision, why = config.precision, "asked for"
    if precision == "auto":
        precision, why = auto_precision(spec, torch.device("cpu"))
    log.info("the pretrained network runs in %s (%s)", precision_words(precision), why)
    if precision == "int8":
        body = quantize_body(body, data, cache.root, reporter=reporter, store=cache.store)
    return FrozenBody(body, data.input_size, cache, name=config.backbone), data


def audit_features(
    inv: Inventory,
    config: AuditConfig,
    run: Path | None,
    reporter: Reporter,
    measured: dict[str, dedup.ImageFacts] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (N, F) in inventory order, the readable mask and the unreadable files' messages.

    Only the centre view. Each image the frozen pass decodes is also measured there
    (``dedup.image_facts``, into ``measured`` by content digest), so a cold audit makes no second
    pass over the files for its image facts."""
    body, data = frozen_body(config, run, reporter)
    probe = None if measured is None else Probe(dedup.image_facts, keep_measured(measured))
    parts, ok, errors = [], [], []
    for split, samples in split_samples(inv).items():
        name = f"{split or inv.root.name} features"
        settings = PassSettings(num_workers=config.num_workers, reporter=reporter, description=name)
        result = cached_features(body, samples, ViewSpec(data), settings, probe=probe)
        parts.append(result.features.numpy())
        ok.append(result.ok.numpy())
        errors += result.errors
    return np.concatenate(parts), np.concatenate(ok), errors


def keep_measured(into: dict[str, dedup.ImageFacts]):
    """A ``Probe.keep`` that collects each batch's facts by digest."""

    def keep(digests: list[str], facts: list[dedup.ImageFacts]) -> None:
        into.update(zip(digests, facts, strict=True))

    return keep


def inventory_facts(
    inv: Inventory, config: AuditConfig, on_file, measured=None, skipped: Collection[str] = ()
) -> list[dedup.ImageFacts]:
    """Every image's size, hashes and contrast, kept beside the feature store by content digest
    (``facts.sqlite`` in the cache folder): a second audit of the same images decodes none, and
    those the frozen pass ``measured`` are not decoded again. The digests are kept in
    ``inv.digests``, for the plan to tell a byte-identical copy from a near-duplicate.

    A file that cannot be read now (removed since the frozen pass read it, by a user tidying the
    folder: the audit stopped on its OSError) is skipped as the frozen pass skips one, in its
    words (``features.file_digests``): its digest "", its facts unreadable (an outlier, as a
    file that fails to decode), a warning unless the frozen pass's ``skipped`` said it."""
    cache = open_cache(config.cache_dir)
    digests, unhashed, _ = file_digests(
        cache.store, [Sample(it.path, it.label) for it in inv.items]
    )
    inv.digests = digests
    readable = [i for i, digest in enumerate(digests) if digest]
    paths, known = [inv.items[i].path for i in readable], [digests[i] for i in readable]
    kinds = cache.store.image_kinds(paths, known)  # HEIC told apart without opening a file
    found = dedup.cached_facts(paths, known, cache.facts_file, on_file, measured, kinds)
    facts = dict(zip(readable, found, strict=True))
    for i, reason in unhashed.items():
        facts[i] = dedup.ImageFacts(error=f"{inv.items[i].path}: {reason}")
        if facts[i].error not in skipped:
            log.warning("skipped %s", facts[i].error)
        if on_file is not None:
            on_file()
    return [facts[i] for i in range(len(digests))]


# ---------------------------------------------------------------- label issues


def head_epochs(n_images: int, config: AuditConfig) -> int:
    """``config.epochs``, or as many more as ``config.min_steps`` optimizer steps need when a head
    trains on ``n_images`` (``ceil(n_images / batch_size)`` steps an epoch)."""
    batches = max(1, math.ceil(n_images / config.batch_size))
    return max(config.epochs, math.ceil(config.min_steps / batches))


def train_fold_head(
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    config: AuditConfig,
    seed: int,
    group: np.ndarray | None = None,
):
    """The article's head (``config.heads`` of them side by side) trained on features ``x`` for
    ``head_epochs`` by the engine's epoch loop: seeded, no early stopping. With ``group``
    (``copy_groups``' numbers of these rows) each epoch trains on one row of each group, drawn
    anew: 60 copies of a mislabelled photo taught the head its label 60 times over."""
    generator = torch.Generator().manual_seed(seed)
    pictures = None if group is None else Pictures.of_groups(group, y.numpy())
    if pictures is not None and len(pictures.first) == len(y):
        pictures = None  # no two rows of one picture: the rows as they are, as before
    with torch.random.fork_rng(devices=[]):  # initialisation and dropout: seeded, caller untouched
        torch.manual_seed(seed)
        head = build_head(x.shape[1], n_classes, config.hidden, config.dropout, config.heads)
        optimizer = torch.optim.Adam(head.parameters(), lr=config.lr)
        n = len(y) if pictures is None else len(pictures.first)
        for _ in range(head_epochs(n, config)):
            order = torch.randperm(len(y), generator=generator)
            if pictures is not None:  # each picture's first row in this epoch's random order
                _, once = np.unique(pictures.of[order.numpy()], return_index=True)
                order = order[torch.from_numpy(np.sort(once))]
            train_one_epoch(head, ((x[b], y[b]) for b in order.split(config.batch_size)), optimizer)
    return head.eval()


def reduces(features: np.ndarray, config: AuditConfig) -> bool:
    """Whether :func:`reduce` fits a PCA to ``features`` (seconds: scikit-learn's import too)."""
    return bool(config.pca) and config.pca < min(features.shape)


def reduce(features: np.ndarray, config: AuditConfig) -> np.ndarray:
    """The first ``config.pca`` principal components (fitted without labels), or the features."""
    if not reduces(features, config):
        return np.ascontiguousarray(features, dtype=np.float32)
    from sklearn.decomposition import PCA

    pca = PCA(config.pca, svd_solver="randomized", random_state=config.seed)
    return pca.fit_transform(features).astype(np.float32)


def out_of_fold_probs(
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    config: AuditConfig,
    reporter=SILENT,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """(N, classes) probabilities, each row from the head that did not train on that image (nor on
    any image of its group in ``groups``, ``copy_groups``' numbers: ``fold_splits``); a head
    trains on one row of each group an epoch (``train_fold_head``)."""
    splits = fold_splits(labels, groups, config)
    probs = np.zeros((len(labels), n_classes), dtype=np.float64)
    reduced = np.ascontiguousarray(features, dtype=np.float32)
    if reduces(features, config):  # seconds before the first head: said, not "0/5"
        with reporter.task(f"reducing the features to {config.pca} dimensions (PCA)", None):
            reduced = reduce(features, config)
    x, y = torch.from_numpy(reduced), torch.from_numpy(labels)
    with reporter.task("out-of-fold heads", len(splits)) as advance:
        for k, (fit_idx, held_idx) in enumerate(splits):
            mine = None if groups is None else groups[fit_idx]
            head = train_fold_head(
                x[fit_idx], y[fit_idx], n_classes, config, config.seed * 1000 + k, mine
            )
            with torch.inference_mode():
                probs[held_idx] = head(x[held_idx]).softmax(1).double().numpy()
            advance(1)
    return probs


def layout_free_probs(
    inv: Inventory, idx, features, labels, config: AuditConfig, reporter, group
) -> np.ndarray:
    """:func:`out_of_fold_probs` of the readable rows (``idx``) taken in :func:`content_order`,
    returned in row order: the folds (and each head's batches) follow the rows' order, so a split
    folder (train, valid, test, each by class) and the class folder it was split from drew other
    folds for the same photos, and one butterfly's out-of-fold probability was 0.24 in one, 0.52
    in the other (6 classes x 25 photos): flagged by ``audit data``, not by ``audit PHOTOS``."""
    order = content_order(inv, idx)
    probs = np.empty((len(idx), len(inv.classes)), dtype=np.float64)
    probs[order] = out_of_fold_probs(
        features[order], labels[order], len(inv.classes), config, reporter, group[order]
    )
    return probs


def content_order(inv: Inventory, idx) -> np.ndarray:
    """The rows ``idx`` ordered by their images' content digests (then class and file name, for
    byte-identical copies, or when the digests are not read): the same photos come in the same
    order whatever folder holds them."""
    digests = inv.digests or [""] * len(inv.items)
    keys = [(digests[i], inv.classes[inv.items[i].label], inv.items[i].path.name) for i in idx]
    return np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)


def fold_splits(
    labels: np.ndarray, groups: np.ndarray | None, config: AuditConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training and held-out rows of each fold: ``StratifiedKFold``'s, but each group of
    ``groups`` (``copy_groups``' numbers) held out whole, in its first row's fold, so no head
    trains on a copy of an image it scores (unless that leaves a class wholly in one fold:
    ``spread_classes``). Only the copies move: the other rows keep their
    folds, so a folder without near-duplicates keeps its findings (``StratifiedGroupKFold`` draws
    other folds for all, a group per image too)."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(
        fold_count(labels, config.folds), shuffle=True, random_state=config.seed
    )
    with warnings.catch_warnings():  # classes smaller than the number of folds are expected
        warnings.simplefilter("ignore", UserWarning)
        splits = list(folds.split(labels, labels))
    if groups is None:
        return splits
    fold = np.zeros(len(labels), dtype=np.int64)
    for k, (_, held) in enumerate(splits):
        fold[held] = k
    _, first, member_of = np.unique(groups, return_index=True, return_inverse=True)
    moved = spread_classes(fold[first][member_of], fold, labels, groups)
    held_out = [np.flatnonzero(moved == k) for k in range(len(splits))]
    return [(np.flatnonzero(moved != k), held) for k, held in enumerate(held_out) if held.size]


def spread_classes(
    fold: np.ndarray, plain: np.ndarray, labels: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """``fold`` (each row's fold, each group in its first row's) with one group moved out of the
    fold that holds all of a class of two groups or more: that fold's head would never see the
    class, and its right labels looked wrong (a class of two bursts, whose first frames shared a
    fold). The group moved is the class's last, into another fold one of its rows had in
    ``plain`` (``StratifiedKFold``'s), else the next fold; each group stays whole."""
    folds = int(plain.max()) + 1
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        mine = list(dict.fromkeys(groups[rows].tolist()))  # the class's groups, in row order
        if len(mine) < 2 or len(np.unique(fold[rows])) > 1:
            continue
        k, members = fold[rows[0]], groups == mine[-1]
        others = [f for f in plain[members].tolist() if f != k]
        fold[members] = others[0] if others else (k + 1) % folds
    return fold


def fold_count(labels: np.ndarray, folds: int) -> int:
    """``folds``, or fewer where no class has that many images: each fold scores at least one
    image of the largest class (scikit-learn's ``StratifiedKFold`` refuses more folds)."""
    most = int(np.bincount(labels).max()) if labels.size else 0
    if most < 2:
        raise ObjrecError(
            f"`folds` cannot be met: out-of-fold heads need a class of {MIN_JUDGED} or more "
            "readable images, and every class has fewer"
        )
    if most < folds:
        log.warning(
            "the audit trains %s, not %d: no class has more than %s",
            *(plural(most, "out-of-fold head"), folds, plural(most, "readable image")),
        )
    return min(folds, most)


def copy_groups(
    n: int, pairs: Sequence[dedup.Pair], bursts: Sequence[tuple[int, int]] = ()
) -> np.ndarray:
    """Each of ``n`` rows' group: near-duplicates (``pairs`` not ``look_alike``) and a burst's
    frames (``bursts``: :func:`burst_pairs`), linked directly or through each other, share their
    first row's number, any other row has its own. The out-of-fold heads keep a group in one
    fold, and the neighbour vote and the outliers' distances leave an image's group out: a burst
    of a wrong label's frames would otherwise vouch for it."""
    group = np.arange(n)
    links = [(p.i, p.j) for p in pairs if not p.look_alike] + list(bursts)
    for members in dedup.groups_of(n, links):
        group[members] = members[0]
    return group


def split_copies(
    pairs: Sequence[dedup.Pair], paths: Sequence[Path], digests: Sequence[str]
) -> list[dedup.Pair]:
    """``pairs`` (of the images at ``paths``, of content ``digests``), each look-alike pair that
    split pairs by its hashes (``kept_by_split``) and kept in one group of one class folder (its
    manifest's ``group`` column, of the files as they are now) made a near-duplicate pair:
    split calls such a pair duplicates and keeps them together, so the audit does not call it
    look-alikes, "remove it only if it is the same picture" (one drawing recoloured, say). In
    one class and split, the plan keeps it ("it leaks nothing"). A pair across classes stays a
    look-alike, which the plan does not remove as a leak; a burst's frames, grouped by split too,
    are not paired by hash."""
    from objrec.manifest import recorded_groups

    if not any(p.look_alike and p.kept_by_split for p in pairs) or len(digests) != len(paths):
        return list(pairs)
    groups = recorded_groups(paths, digests)

    def kept(p: dedup.Pair) -> bool:
        return (
            p.look_alike
            and p.kept_by_split
            and groups[p.i] is not None
            and groups[p.i] == groups[p.j]
            and paths[p.i].parent == paths[p.j].parent
        )

    return [replace(p, look_alike=False) if kept(p) else p for p in pairs]


def burst_pairs(inv: Inventory, idx: np.ndarray, kept: Path | None = None) -> list[tuple[int, int]]:
    """Pairs of rows (of ``idx``, the readable images) linking each burst's frames: one camera's
    photos of a class within ``bursts.BURST_SECONDS`` of each other, by EXIF time, whatever
    their split (:func:`objrec.bursts.bursts`, as ``split`` keeps them in one). With ``kept``
    (the image facts store) each photo's camera time is read there by its content digest
    (``inv.digests``) where a split, an add or an earlier audit kept it, and kept there, so that
    an audit does not open every photo again for its EXIF."""
    from objrec import bursts

    row = {inv.items[i].path: r for r, i in enumerate(idx)}
    classes: dict[str, list[Path]] = {}
    for i in idx:
        classes.setdefault(inv.classes[inv.items[i].label], []).append(inv.items[i].path)
    digests = [inv.digests[i] for i in idx] if kept is not None and inv.digests else None
    found = bursts.bursts(classes, bursts.camera_times(row, digests=digests, kept=kept))
    return [(row[burst[0]], row[path]) for burst in found for path in burst[1:]]


@dataclass(frozen=True)
class Pictures:
    """The audit's rows seen one per picture: each copy group (``copy_groups``' numbers: one
    photo's near-duplicates, a burst's frames) as one row, so that many copies of one photo count
    once wherever the audit counts images: cleanlab's thresholds, the neighbour vote, the spreads
    behind the z-scores, photos_needed.csv. Counted once, many copies of a mislabelled photo
    cannot outvote its own label check, nor the right photos' of the class they sit in."""

    first: np.ndarray
    """Each picture's first row, in row order: the row that stands for it."""
    of: np.ndarray
    """Each row's picture (an index into ``first``)."""

    @classmethod
    def of_groups(cls, group: np.ndarray, labels: np.ndarray | None = None) -> Pictures:
        """The pictures of ``copy_groups``' numbers (any numbers: rows of one number are one);
        with ``labels``, a group's rows of each label are a picture of their own: a photo in
        ant/ and in bee/ is judged once as an ant and once as a bee."""
        key = np.asarray(group) if labels is None else np.stack([group, labels], axis=1)
        _, first, of = np.unique(key, axis=0, return_index=True, return_inverse=True)
        return cls(first.astype(np.int64), of.reshape(-1).astype(np.int64))

    @property
    def sizes(self) -> np.ndarray:
        """Each picture's rows: 1 for a photo of its own, 60 for one in 60 copies."""
        return np.bincount(self.of, minlength=len(self.first))

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Each picture's mean of its rows' ``values`` (one a row, or a row of them)."""
        sums = np.zeros((len(self.first), *values.shape[1:]), dtype=np.float64)
        np.add.at(sums, self.of, values)
        return sums / self.sizes.reshape(-1, *[1] * (values.ndim - 1))

    def rows(self, pictures: np.ndarray) -> np.ndarray:
        """The rows of ``pictures``, picture by picture in their order, each one's in row order."""
        order = np.argsort(self.of, kind="stable")
        starts = np.concatenate([[0], np.cumsum(self.sizes)])
        parts = [order[starts[p] : starts[p + 1]] for p in np.asarray(pictures).tolist()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


OUTSIDE_CHUNK = 256
"""Rows searched again at a time by :func:`outside_groups`: each a row of similarities to every
row (256 x 60,000 float32 is 61 MB)."""


def outside_groups(unit: np.ndarray, near: dedup.Neighbours, group) -> dedup.Neighbours:
    """Each row's nearest rows outside its own group (``copy_groups``), one of each other group
    (its nearest member: 600 copies of one photo are one neighbour, not 10), as many as ``near``
    has (fewer where the groups leave fewer): ``near`` itself where it holds no row of a row's own
    group and no two of one group. Only the rows whose ``near`` does are searched again, a chunk
    of them at a time against every row, so that the search stays as wide as ``near`` however
    many copies one group holds."""
    of = Pictures.of_groups(group).of
    pictures = int(of.max()) + 1 if len(of) else 0
    if pictures == len(of):
        return near
    width = min(near.idx.shape[1], pictures - 1)
    theirs = of[near.idx]
    twice = (np.diff(np.sort(theirs, axis=1), axis=1) == 0).any(1)
    again = np.flatnonzero((theirs == of[:, None]).any(1) | twice)
    sims, idx = near.sims[:, :width].copy(), near.idx[:, :width].copy()
    by_group = np.argsort(of, kind="stable")
    starts = np.flatnonzero(np.diff(of[by_group], prepend=-1))
    for rows in np.array_split(again, max(1, math.ceil(len(again) / OUTSIDE_CHUNK))):
        if rows.size:
            found = nearest_of_other_groups(unit, rows, of, (by_group, starts), width)
            sims[rows], idx[rows] = found
    return dedup.Neighbours(sims, idx)


def nearest_of_other_groups(
    unit: np.ndarray, rows: np.ndarray, of: np.ndarray, sorted_by: tuple, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``, its ``width`` nearest groups but its own (``of``: each row's), each
    by its nearest member: their similarities and members, nearest first. ``sorted_by``: the
    rows in group order and where each group starts in it."""
    by_group, starts = sorted_by
    sims = unit[rows] @ unit[by_group].T
    best = np.maximum.reduceat(sims, starts, axis=1)
    lengths = np.diff(np.append(starts, len(by_group)))
    hit = np.where(sims == np.repeat(best, lengths, axis=1), np.arange(len(by_group)), len(of))
    member = by_group[np.minimum.reduceat(hit, starts, axis=1)]
    best[np.arange(len(rows)), of[rows]] = -np.inf
    top = np.argsort(-best, axis=1, kind="stable")[:, :width]
    return np.take_along_axis(best, top, 1), np.take_along_axis(member, top, 1)


@dataclass
class Around:
    """What the audit's stages read of each image's nearest images, each worked out once, when
    first read: the label check and the outliers read the same two (they were each computed
    two or three times, benchmarks/README.md). ``unit``: the readable rows' unit features,
    ``near``: their nearest images, ``group``: ``copy_groups``' numbers (None: none joined),
    ``k``: ``AuditConfig.neighbours``."""

    unit: np.ndarray
    near: dedup.Neighbours
    labels: np.ndarray
    group: np.ndarray | None
    k: int

    @cached_property
    def outside(self) -> dedup.Neighbours:
        """Each row's nearest images outside its own group (:func:`outside_groups`)."""
        return self.near if self.group is None else outside_groups(self.unit, self.near, self.group)

    @cached_property
    def within(self) -> np.ndarray:
        """Each row's mean distance to its ``k`` nearest of its class outside its own group
        (:func:`knn_distance`): computed class by class, so the rows of whole classes read their
        own part of it (``judge_labels``' judged classes)."""
        return knn_distance(self.unit, self.labels, self.k, self.group)


def neighbour_probs(near: dedup.Neighbours, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Each image's class distribution among its nearest other images, weighted by similarity."""
    probs = np.full((len(labels), n_classes), 1e-3)
    rows = np.arange(len(labels))
    for j in range(near.idx.shape[1]):
        np.add.at(probs, (rows, labels[near.idx[:, j]]), np.maximum(near.sims[:, j], 0))
    return probs / probs.sum(1, keepdims=True)


def rank_label_issues(
    labels: np.ndarray, probs: np.ndarray, config: AuditConfig
) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's flagged indices (most likely first) and every image's issue score (0-1)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    present = np.unique(labels)
    sub = probs[:, present] / probs[:, present].sum(1, keepdims=True)
    remap = np.searchsorted(present, labels)
    ranked = find_label_issues(
        remap, sub, filter_by=config.filter_by, return_indices_ranked_by=config.rank_by, n_jobs=1
    )
    quality = get_label_quality_scores(remap, sub, method=config.rank_by)
    return np.asarray(ranked, dtype=np.int64), 1 - quality


def copies_words(copies: int) -> str:
    """What a label flag's evidence says of its picture's copies ("" for a photo of its own)."""
    if copies < 2:
        return ""
    others = plural(copies - 1, "other file")
    return f"; the same picture as {others} here, flagged with {'it' if copies == 2 else 'them'}"


def suggested_label(probs: np.ndarray, given: int) -> int:
    """The most probable class other than the given one."""
    order = np.argsort(-probs)
    return int(order[0] if order[0] != given else order[1])


def label_issue_rows(
    inv, idx, labels, probs, ranked, scores, neighbours, pictures: Pictures | None = None
) -> list[LabelIssue]:
    """A :class:`LabelIssue` for each of the ``ranked`` rows, most likely first; with
    ``pictures``, each row's picture and its copies (``LabelIssue.picture``, ``copies``)."""
    pictures = pictures or Pictures.of_groups(np.arange(len(labels)))
    sizes, rows = pictures.sizes, []
    for r in ranked:
        item = inv.items[idx[r]]
        suggested = suggested_label(probs[r], labels[r])
        near = neighbours.idx[r]
        agree = int((labels[near] == suggested).sum())
        copies = int(sizes[pictures.of[r]])
        rows.append(
            LabelIssue(
                path=item.shown,
                given=inv.classes[labels[r]],
                suggested=inv.classes[suggested],
                score=round(float(scores[r]), 4),
                split=item.split,
                prob_given=round(float(probs[r, labels[r]]), 4),
                prob_suggested=round(float(probs[r, suggested]), 4),
                evidence=f"heads and neighbours give p(given)={probs[r, labels[r]]:.2f}, "
                f"p(suggested)={probs[r, suggested]:.2f}; {agree} of its {len(near)} nearest "
                f"images are labelled {inv.classes[suggested]}{copies_words(copies)}",
                index=int(idx[r]),
                like=[int(idx[j]) for j in near if labels[j] == suggested][:3],
                picture=int(idx[pictures.first[pictures.of[r]]]),
                copies=copies,
            )
        )
    return rows


# ---------------------------------------------------------------- near-duplicates


def duplicate_groups(
    inv: Inventory,
    idx,
    unit,
    facts,
    rule,
    near,
    label_issues: Sequence[LabelIssue] = (),
    pairs: Sequence[dedup.Pair] | None = None,
) -> tuple[list[DuplicateGroup], list[DuplicateGroup]]:
    """Groups of near-duplicates, and groups of look-alikes (pairs only alike by
    ``DuplicateRule.look_alike``, not already in one near-duplicate group): each list with leaks
    across splits first, then across classes, then within a class. ``label_issues`` (rows of
    ``label_issue_rows``) the plan relabels on (``audit_report.acts_on``) decide which copy of a
    group across classes is kept (``keep_order``);
    ``pairs``: ``dedup.duplicate_pairs`` of the rows, when already found."""
    suggested = {issue.index: issue.suggested for issue in label_issues if acts_on(issue)}
    sub_facts = [facts[i] for i in idx]
    if pairs is None:
        pairs = dedup.duplicate_pairs(unit, sub_facts, rule, near)
    copies = [p for p in pairs if not p.look_alike]
    copy_groups = dedup.groups_of(len(idx), [(p.i, p.j) for p in copies])
    group_of = {m: k for k, members in enumerate(copy_groups) for m in members}
    alike = [p for p in pairs if p.look_alike and group_of.get(p.i, -1) != group_of.get(p.j, -2)]
    alike_groups = dedup.groups_of(len(idx), [(p.i, p.j) for p in alike])
    return (
        group_rows(inv, idx, sub_facts, copies, copy_groups, suggested),
        group_rows(inv, idx, sub_facts, alike, alike_groups, suggested),
    )


def group_rows(inv: Inventory, idx, sub_facts, pairs, groups, suggested) -> list[DuplicateGroup]:
    """One :class:`DuplicateGroup` per group: its members (the copy to keep first:
    ``keep_order``), splits, classes and signals, and the similarity of each pair of them linked
    directly."""
    sims = {(p.i, p.j): p for p in pairs}
    rows = []
    for group in groups:
        members = keep_order(inv, idx, sub_facts, group, suggested)
        items = [inv.items[idx[m]] for m in members]
        linked = [sims[(a, b)] for a in members for b in members if (a, b) in sims]
        rows.append(
            DuplicateGroup(
                paths=[it.shown for it in items],
                splits=[it.split for it in items],
                classes=[inv.classes[it.label] for it in items],
                similarity=round(min(p.similarity for p in linked), 4),
                hash_distance=max(p.hash_distance for p in linked),
                crop_distance=max(p.crop_distance for p in linked),
                kind=_group_kind(items),
                indices=[int(idx[m]) for m in members],
                pairs={dedup.pair_key(int(idx[p.i]), int(idx[p.j])): p.similarity for p in linked},
                split_keeps=split_keeps(group, linked),
            )
        )
    order = {"across splits": 0, "across classes": 1, "within class": 2}
    return sorted(rows, key=lambda g: (order[g.kind], -g.similarity))


def split_keeps(group: list[int], pairs: Sequence[dedup.Pair]) -> bool:
    """Whether ``split`` keeps the images of ``group`` in one split: linked, directly or through
    each other, by ``pairs`` it pairs too (``dedup.Pair.kept_by_split``: ``dedup.split_pairs``,
    split's own rule). The audit also links copies by their features alone, which a split of the
    folder may put on either side."""
    position = {m: k for k, m in enumerate(group)}
    seen = [(position[p.i], position[p.j]) for p in pairs if p.kept_by_split]
    return [sorted(position.values())] == dedup.groups_of(len(group), seen)


def keep_order(inv: Inventory, idx, sub_facts, group, suggested: dict[int, str]) -> list[int]:
    """A group's members, the copy to keep first: a copy flagged as a wrong label whose
    ``suggested`` class another copy is in goes last (keeping the correctly labelled copy needs
    no relabel, and keeps the user's file where it is); otherwise, and among the rest,
    ``keep_first``'s order (then the folder's, so the same folder always gives the same order).
    ``suggested``: the flags the plan relabels on (``audit_report.acts_on``) alone; where a
    weaker flag names another copy's class, the plan keeps every copy for a person to choose
    (``audit_report.undecided``), whatever the order."""
    classes = {inv.classes[inv.items[idx[m]].label] for m in group}
    stems = {inv.items[idx[m]].path.stem.casefold() for m in group}

    def key(m: int) -> tuple[bool, int, bool, int, int]:
        misplaced = suggested.get(int(idx[m])) in classes
        return (misplaced, *keep_first(inv.items[idx[m]], sub_facts[m], stems))

    return sorted(group, key=key)


def keep_first(
    item: Item, facts: dedup.ImageFacts, stems: frozenset[str] | set[str] = frozenset()
) -> tuple[int, bool, int, int]:
    """A group's order, the copy to keep first: the earliest split (train before valid before
    test, so a leak is removed from the evaluation side), then a name without a copy's mark
    (``copies.copy_named``; ``stems``: the group's file names without suffix, casefolded), then
    the most pixels, then the file modified first: of byte-identical files, the one ``check`` and
    ``split`` name as the original too (``copies.originals_first``)."""
    split = SPLITS.index(item.split) if item.split in SPLITS else 0
    pixels = -facts.width * facts.height
    return split, copy_named(item.path.stem, stems), pixels, modified(item.path)


def _group_kind(items: list[Item]) -> str:
    if len({it.split for it in items}) > 1:
        return "across splits"
    if len({it.label for it in items}) > 1:
        return "across classes"
    return "within class"


# ---------------------------------------------------------------- outliers


SPREAD_FLOOR = 1e-3
"""The least spread (1.4826 MAD, in cosine distance) a z-score divides by: where most distances
are equal (copies of one photo) the MAD is 0 or nearly, and a z over it would be no measure."""


def robust_z(values: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """(value - median) / (1.4826 MAD), and 0 for values under twice the median: a spread that
    is tiny everywhere does not make ordinary images outliers. ``first``: the rows the median
    and MAD are taken over (``Pictures.first``: one per picture), all when None."""
    z = spread_z(values, first)
    if not values.size:
        return z
    median = np.median(values if first is None else values[first])
    return np.where(values > 2 * median, z, np.minimum(z, 0.0))


def spread_z(values: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """(value - median) / (1.4826 MAD, ``SPREAD_FLOOR`` at least): how far each value lies out
    of the bulk, the median and MAD over the rows ``first`` (all when None)."""
    if not values.size:  # no readable image: numpy's median of nothing warns
        return values.astype(np.float64)
    bulk = values if first is None else values[first]
    median = np.median(bulk)
    mad = np.median(np.abs(bulk - median)) * 1.4826
    return (values - median) / max(mad, SPREAD_FLOOR)


def class_spread_z(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(value - its class's median) / (1.4826 MAD), the MAD the class's own or every value's,
    whichever is larger (``SPREAD_FLOOR`` at least): a class broad by nature (a catch-all
    background) does not stand out as a whole, nor does an ordinary image of a tight class; a
    class under ``MIN_CLASS_SPREAD`` values takes every value's MAD. One value a picture
    (``Pictures``): the caller's rows."""
    z = np.zeros(len(values))
    for c, (median, scale) in class_spreads(values, labels).items():
        members = labels == c
        z[members] = (values[members] - median) / scale
    return z


def class_spreads(values: np.ndarray, labels: np.ndarray) -> dict[int, tuple[float, float]]:
    """Each class's median of ``values`` and the scale :func:`class_spread_z` divides by."""
    if not values.size:
        return {}
    overall = np.median(np.abs(values - np.median(values))) * 1.4826
    spreads = {}
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        median = np.median(values[members])
        mad = np.median(np.abs(values[members] - median)) * 1.4826
        if len(members) < MIN_CLASS_SPREAD:  # too few for a MAD of their own
            mad = overall
        spreads[int(c)] = (float(median), float(max(mad, overall, SPREAD_FLOOR)))
    return spreads


def spread_z_within(
    unit: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    classes: np.ndarray,
    k: int,
    group,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """For each of ``rows``, the robust z (:func:`class_spread_z`'s, the class's own images' as
    the reference) of its mean distance to its ``k`` nearest images of ``classes`` (one a row),
    its own ``group`` left out: how far it lies from that class's images, as though it were one
    of them, each group once. A picture unlike both its class and the class the votes give it
    lies far out. The class's spread is taken over one row a picture (``Pictures``).
    ``within``: :func:`knn_distance`'s answer for these, where the caller has it."""
    within = knn_distance(unit, labels, k, group) if within is None else within
    first = Pictures.of_groups(group, labels).first
    spreads = class_spreads(within[first], labels[first])
    z = np.zeros(len(rows))
    for n, (r, c) in enumerate(zip(rows.tolist(), classes.tolist(), strict=True)):
        members = np.flatnonzero((labels == c) & (group != group[r]))
        if not members.size:
            continue
        sims = unit[members] @ unit[r]
        order = np.argsort(-sims, kind="stable")
        _, once = np.unique(group[members][order], return_index=True)  # each group's nearest
        median, scale = spreads[int(c)]
        z[n] = (1 - np.sort(sims[order][once])[::-1][:k].mean() - median) / scale
    return z


def knn_distance(
    unit: np.ndarray, labels: np.ndarray | None, k: int, group: np.ndarray | None = None
) -> np.ndarray:
    """Mean cosine distance to the ``k`` nearest other images (of the same class, when labels;
    outside its own group, with ``group``: ``outside_groups``)."""
    if labels is None:
        near = dedup.feature_neighbours(unit, k)
        sims = near.sims if group is None else outside_groups(unit, near, group).sims
        return 1 - sims.mean(1) if sims.size else np.zeros(len(unit))
    result = np.zeros(len(unit))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) > 1:
            mine = None if group is None else group[members]
            result[members] = knn_distance(unit[members], None, k, mine)
    return result


class FarClass(NamedTuple):
    """A class of few photos that lies far as a whole (:func:`far_classes`)."""

    outliers: int
    """Its outliers far from every image or from their class, a picture's copies counted once."""
    photos: int
    """Its distinct photos (a picture's copies counted once)."""
    images: int
    """Its images (files)."""


def far_classes(
    outliers: list[Outlier],
    labels: np.ndarray,
    classes: Sequence[str],
    photos: np.ndarray | None = None,
) -> dict[str, FarClass]:
    """The classes of fewer photos (``photos``: each class's distinct ones; ``labels``: the
    readable rows', each row a photo where None) than the median class of which
    ``FAR_CLASS_SHARE`` or more, 2 at least, are outliers far from every image or from their
    class, most flagged share first. A picture's copies count once, as the outliers' heading
    counts them (``audit_findings.one_per_picture``). Such a class lies far from the rest as a
    whole, so its outliers may be ordinary photos of it."""
    images = np.bincount(labels, minlength=len(classes))
    sizes = images if photos is None else np.asarray(photos)
    if not (held := sizes[sizes > 0]).size:
        return {}
    median = np.median(held)
    far = Counter(r.class_name for r in one_per_picture(outliers) if not r.degenerate)
    found = {
        name: FarClass(n, int(sizes[c]), int(images[c]))
        for name, n in far.items()
        if sizes[c := classes.index(name)] < median and n >= max(2, FAR_CLASS_SHARE * sizes[c])
    }
    return dict(sorted(found.items(), key=lambda kv: -kv[1].outliers / kv[1].photos))


def unreadable_reason(facts: dedup.ImageFacts, path: Path | None = None) -> str:
    """Why the file at ``path`` cannot be read (its facts' error, without the path its row names
    already), or, where its facts were read but the frozen pass could not decode it, that."""
    return f"unreadable: {(facts.error or 'cannot read image').removeprefix(f'{path}: ')}"


def unreadable_rows(inv: Inventory, idx: np.ndarray, facts) -> list[Unreadable]:
    """An :class:`Unreadable` for each file of ``inv`` not among the readable rows ``idx``: its
    path, why it cannot be read, its class and split."""
    readable = set(idx.tolist())
    return [
        Unreadable(
            item.shown,
            unreadable_reason(facts[i], item.path),
            inv.classes[item.label],
            item.split,
            index=i,
        )
        for i, item in enumerate(inv.items)
        if i not in readable
    ]


def degenerate_reason(facts: dedup.ImageFacts) -> str | None:
    """Why a readable image is degenerate: tiny, nearly blank or oddly shaped; None when it is
    not."""
    if min(facts.width, facts.height) < MIN_SIDE:
        return f"tiny ({facts.width}x{facts.height} px)"
    if facts.contrast < MIN_CONTRAST:
        return f"nearly blank (colour spread {facts.contrast:.1f} of 255)"
    aspect = max(facts.width, facts.height) / max(1, min(facts.width, facts.height))
    if aspect > MAX_ASPECT:
        return f"extreme aspect ratio ({facts.width}x{facts.height} px)"
    return None


def outlier_rows(
    inv, idx, labels, unit, facts, k: int, near, group=None, around: Around | None = None
) -> list[Outlier]:
    """Degenerate images first, then those far from their class or from everything, by their
    nearest images outside their own ``group`` (``copy_groups``): a burst's frames, each other's
    nearest, made every burst's distances small and so every photo of its own an outlier.
    Readable images only (``idx``): a file that cannot be read is not an unusual image
    (:func:`unreadable_rows`). ``around``: the same rows' :class:`Around`, where the caller has
    it."""
    z = np.full(len(inv.items), np.nan)
    z_class = np.full(len(inv.items), np.nan)
    around = around or Around(unit, near, labels, group, k)
    sims = around.outside.sims[:, :k]
    pictures = Pictures.of_groups(np.arange(len(idx)) if group is None else group, labels)
    first = None if group is None else pictures.first  # one a picture
    z[idx] = robust_z(1 - sims.mean(1) if sims.size else np.zeros(len(idx)), first)
    z_class[idx] = robust_z(around.within, first)
    rows = []
    for r, i in enumerate(idx.tolist()):
        item, reason = inv.items[i], degenerate_reason(facts[i])
        if reason is None and z[i] > OUTLIER_Z:
            reason = f"far from every image (k-NN distance z={z[i]:.1f})"
        elif reason is None and z_class[i] > OUTLIER_Z:
            reason = f"far from its class (k-NN distance z={z_class[i]:.1f} within class)"
        if reason:
            score = np.nanmax([z[i], z_class[i], 0.0])
            rows.append(
                Outlier(
                    path=item.shown,
                    score=round(float(score), 3),
                    reason=reason,
                    class_name=inv.classes[item.label],
                    split=item.split,
                    index=i,
                    degenerate=not reason.startswith("far"),
                    picture=int(idx[pictures.first[pictures.of[r]]]),
                )
            )
    found = Counter(row.picture for row in rows)
    rows = [replace(row, copies=found[row.picture]) for row in rows]
    return sorted(rows, key=lambda r: (not r.degenerate, -r.score))


# ---------------------------------------------------------------- the audit


def find_issues(
    inv: Inventory, features: np.ndarray, ok: np.ndarray, facts, config: AuditConfig, reporter
) -> AuditResult:
    """Everything the audit reports, from features (readable rows) and per-image facts; each
    step that takes seconds shown to ``reporter`` as it runs."""
    clock = Stopwatch()
    idx = np.flatnonzero(ok & np.array([not f.error for f in facts]))
    labels = np.array([inv.items[i].label for i in idx], dtype=np.int64)
    unit = dedup.normalise(features[idx])
    with reporter.task("finding each image's nearest images and copies", None):
        around, pairs = nearest_and_copies(inv, idx, (unit, labels), facts, config, clock)
    near, group = around.near, np.asarray(around.group)
    found = judge_labels(inv, idx, labels, features[idx], near, config, reporter, group, around)
    clock.lap("labels")
    with reporter.task("grouping the copies and finding outliers", None):
        groups, alike = duplicate_groups(
            inv, idx, unit, facts, config.duplicates, near, found.issues, pairs
        )
        clock.lap("duplicates")
        outliers = outlier_rows(
            inv, idx, labels, unit, facts, config.neighbours, near, group, around
        )
        clock.lap("outliers")
    named = PictureNames.of(inv, idx, Pictures.of_groups(group, labels), groups)
    return AuditResult(
        label_issues=named.findings(found.issues),
        near_duplicates=groups,
        outliers=(outliers := named.findings(outliers)),
        look_alikes=alike,
        n_images=len(idx),
        unreadable=unreadable_rows(inv, idx, facts),
        classes=list(inv.classes),
        baseline_flags=found.baseline,
        seconds=clock.seconds,
        unjudged=found.unjudged,
        labels_not_judged=found.none_judged,
        far_classes=far_classes(outliers, labels, inv.classes, named.photos(labels)),
        photos_needed=found.needs,
        too_few=[issue.path for issue in found.issues if issue.too_few],
        data=inv.root,
        picture_of=named.standing,
    )


def nearest_and_copies(
    inv: Inventory, idx, rows: tuple[np.ndarray, np.ndarray], facts, config, clock: Stopwatch
) -> tuple[Around, list[dedup.Pair]]:
    """The readable rows' (``idx``: their unit features and labels, ``rows``) nearest images and
    copy groups (``copy_groups``: near-duplicates and bursts), and what the labels and the
    outliers read of them, worked out here; and the pairs of near-duplicates and look-alikes."""
    unit, labels = rows
    near = dedup.feature_neighbours(unit, max(dedup.NEIGHBOURS, config.neighbours))
    clock.lap("neighbours")
    pairs = dedup.duplicate_pairs(unit, [facts[i] for i in idx], config.duplicates, near)
    digests = [inv.digests[i] for i in idx] if inv.digests else []
    pairs = split_copies(pairs, [inv.items[i].path for i in idx], digests)
    kept = open_cache(config.cache_dir).facts_file
    group = copy_groups(len(idx), pairs, burst_pairs(inv, idx, kept))
    clock.lap("duplicates")
    around = Around(unit, near, labels, group, config.neighbours)
    _ = around.outside, around.within
    clock.lap("labels")
    return around, pairs


@dataclass(frozen=True)
class PictureNames:
    """The file that stands for each picture of two files or more (``Pictures``): of its files,
    the one its near-duplicate group keeps (``keep_order``'s first: the plan keeps it, and its
    row carries the picture's label decision), else its first in the folder's order. Every
    output names a picture by it: the findings' ``picture``, the CSVs' and the plan's."""

    inv: Inventory
    pictures: Pictures
    standing: dict[int, int]
    """Each file of such a picture (its place in the inventory) -> the file standing for it."""

    @classmethod
    def of(
        cls, inv: Inventory, idx, pictures: Pictures, groups: Sequence[DuplicateGroup]
    ) -> PictureNames:
        """The names of the ``pictures`` of the readable rows ``idx``, by the near-duplicate
        ``groups`` (``duplicate_groups``': each one's copy to keep first)."""
        files = np.asarray(idx).tolist()
        chosen = np.asarray(idx)[pictures.first]
        row = {i: r for r, i in enumerate(files)}
        taken = np.zeros(len(chosen), dtype=bool)
        for index in (i for group in groups for i in group.indices):
            picture = pictures.of[row[index]]
            if not taken[picture]:
                chosen[picture], taken[picture] = index, True
        many = pictures.sizes[pictures.of] > 1
        standing = {i: int(chosen[pictures.of[r]]) for r, i in enumerate(files) if many[r]}
        return cls(inv, pictures, standing)

    def findings(self, found: Sequence[Finding]) -> list[Finding]:
        """``found`` (label flags or outliers), each of a picture of two files or more given the
        file standing for it (``picture``, ``picture_path``)."""
        named = []
        for finding in found:
            if (index := self.standing.get(finding.index)) is not None:
                finding = replace(finding, picture=index, picture_path=self.inv.items[index].shown)
            named.append(finding)
        return named

    def photos(self, labels: np.ndarray) -> np.ndarray:
        """Each class's distinct photos (``labels``: the readable rows')."""
        return np.bincount(labels[self.pictures.first], minlength=len(self.inv.classes))


@dataclass
class LabelFindings:
    """``judge_labels``' answer: the ranked rows, the baseline's flags, unjudged classes, why no
    label was judged ("" when labels were)."""

    issues: list[LabelIssue] = field(default_factory=list)
    baseline: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)
    none_judged: str = ""
    needs: list[PhotosNeeded] = field(default_factory=list)


def judge_labels(
    inv: Inventory, idx, labels, features, near, config, reporter, group=None, around=None
) -> LabelFindings:
    """Label issues among the readable rows (``idx``) of classes with ``MIN_JUDGED`` images or
    more, judged one row a picture (``Pictures``: an image's near-duplicates in ``group``,
    ``copy_groups``' numbers, counted once; no group, none joined), each flag given to all the
    picture's copies; the heads train on every readable row, a smaller class's too. ``around``:
    the rows' :class:`Around`, where the caller has it."""
    group = np.arange(len(labels)) if group is None else group
    around = around or Around(dedup.normalise(features), near, labels, group, config.neighbours)
    pictures = Pictures.of_groups(group, labels)
    counts = np.bincount(labels[pictures.first], minlength=len(inv.classes))
    present = {it.label for it in inv.items}
    unjudged = [inv.classes[c] for c in sorted(present) if counts[c] < MIN_JUDGED]
    found = LabelFindings(unjudged=unjudged)
    judged = np.flatnonzero(counts[labels] >= MIN_JUDGED)
    if len(judged_classes := np.unique(labels[judged])) < 2:  # no two classes to tell apart
        names = [inv.classes[c] for c in judged_classes]
        found.none_judged = none_judged_note([inv.classes[c] for c in sorted(present)], names)
        return found
    heads = layout_free_probs(inv, idx, features, labels, config, reporter, group)
    wrong = judged[heads[judged].argmax(1) != labels[judged]]
    found.baseline = [inv.items[idx[r]].shown for r in wrong]
    probs = voted_probs(heads, around, pictures, config)
    ranked, scores = ranked_pictures(labels, probs, pictures, counts, config, around.within)
    near = around.outside
    found.issues = label_issue_rows(inv, idx, labels, probs, ranked, scores, near, pictures)
    suggested = np.array([inv.classes.index(i.suggested) for i in found.issues], dtype=int)
    z = spread_z_within(
        around.unit, labels, ranked, suggested, config.neighbours, group, around.within
    )
    mixed = mixed_both_ways(labels, probs.argmax(1), np.isin(np.arange(len(labels)), ranked))
    found.issues = with_doubts(found.issues, labels[ranked], suggested, z, counts, mixed, config)
    flagged = unsettled(inv, found.issues, ranked)
    found.needs = needs_rows(labels, probs, counts, flagged, (inv, idx), pictures)
    return found


def voted_probs(heads: np.ndarray, around: Around, pictures: Pictures, config) -> np.ndarray:
    """Each row's class probabilities: the out-of-fold ``heads``' mixed with its neighbours' vote
    (``config.knn_weight``; each neighbouring picture one vote: ``Around.outside``), averaged
    over its picture's rows (``pictures``), so that a picture's copies are judged as one."""
    probs = heads
    if config.knn_weight:
        knn = neighbour_probs(around.outside, around.labels, heads.shape[1])
        probs = (1 - config.knn_weight) * heads + config.knn_weight * knn
    return pictures.mean(probs)[pictures.of]


def ranked_pictures(
    labels: np.ndarray,
    probs: np.ndarray,
    pictures: Pictures,
    counts: np.ndarray,
    config: AuditConfig,
    within: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The flagged rows, most likely first, each picture's copies together, and every row's issue
    score: cleanlab's flags and ``far_from_label``'s among the pictures of classes of
    ``MIN_JUDGED`` distinct ones or more (``counts``), one row a picture, so that the copies of
    one photo weigh once in cleanlab's thresholds and in the spreads of the distances to their
    class (``within``: each row's, ``knn_distance``'s)."""
    mine, theirs = labels[pictures.first], probs[pictures.first]
    judged = np.flatnonzero(counts[mine] >= MIN_JUDGED)
    ranked, judged_scores = rank_label_issues(mine[judged], theirs[judged], config)
    scores = np.zeros(len(pictures.first))
    scores[judged] = judged_scores
    distances = pictures.mean(within)[judged]
    far = judged[far_from_label(mine[judged], theirs[judged], None, config, None, distances)]
    ranked = add_far_issues(judged[ranked], far, scores)
    return pictures.rows(ranked), scores[pictures.of]


def unsettled(inv: Inventory, issues: Sequence[LabelIssue], ranked: np.ndarray) -> np.ndarray:
    """The rows (``ranked``) of the flagged ``issues`` but those whose label a person settled in
    an earlier plan (``reviewed.csv``): a settled photo is of its class, so photos_needed.csv
    counts it among the class's photos, recognised or not, never as a label likely wrong."""
    settled = set(settled_paths(inv, issues))
    keep = [issue.path not in settled for issue in issues]
    return ranked[np.array(keep, dtype=bool)] if keep else ranked


def with_doubts(
    issues: Sequence[LabelIssue], given, suggested, z, counts, mixed, config: AuditConfig
) -> list[LabelIssue]:
    """The flagged ``issues``, each with what makes its flag doubtful: its class's distinct
    images (``counts`` of its ``given`` label), how far it lies from the ``suggested`` class
    (``z``), a class too small to judge, a pair of classes ``mixed`` both ways."""
    noted = []
    for issue, label, s, far_out in zip(issues, given.tolist(), suggested, z.tolist(), strict=True):
        issue = replace(
            issue, class_images=int(counts[label]), suggested_z=round(float(far_out), 2)
        )
        too_few = too_few_to_judge(issue, config)
        noted.append(replace(issue, too_few=too_few, mixed=(int(label), int(s)) in mixed))
    return noted


def too_few_to_judge(issue: LabelIssue, config: AuditConfig) -> bool:
    """Whether a label flag is too weak to count as a likely wrong label: its class has fewer than
    ``FEW_PHOTOS`` distinct photos and no class claims it (``config.few_photos_p``)."""
    few = issue.class_images is not None and issue.class_images < FEW_PHOTOS
    return few and issue.prob_suggested < config.few_photos_p


def mixed_both_ways(labels, answers, flagged) -> set[tuple[int, int]]:
    """The class pairs (both orders) the out-of-fold ``answers`` mistake for each other both
    ways: at least one photo of each, not ``flagged``, taken for the other (as
    ``metrics.mixed_pairs`` on a test split). A relabel between them is more often wrong than
    right (``audit_report.mixed_doubt``)."""
    taken = {(int(a), int(b)) for a, b in zip(labels[~flagged], answers[~flagged], strict=True)}
    return {(a, b) for a, b in taken if a != b and (b, a) in taken}


def needs_rows(
    labels,
    probs,
    counts,
    ranked,
    rows: tuple[Inventory, np.ndarray],
    pictures: Pictures | None = None,
) -> list[PhotosNeeded]:
    """``photos_needed.csv``'s classes: those that most need more or better photos, by the
    out-of-fold answers (``probs``' best class) of their photos not flagged (``ranked``), one row
    a picture (``pictures``: a photo's copies count once, as the audit's other counts);
    ``rows``: the inventory and the index in it of each row of ``labels``, which
    the photos that look like another class are named and placed by (each picture's first
    file: ``PhotosNeeded.confused``)."""
    inv, idx = rows
    pictures = pictures or Pictures.of_groups(np.arange(len(labels)))
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[ranked] = True
    first = pictures.first
    picked = pictures.mean(flagged) > 0  # a picture with a flagged copy is flagged
    answers = probs[first].argmax(1)
    needs = class_needs(labels[first], answers, counts, picked, inv.classes, pictures.sizes)
    places = np.asarray(idx)[first]
    return [need.listed([inv.items[i].shown for i in places], places) for need in needs]


def far_from_label(
    labels: np.ndarray,
    probs: np.ndarray,
    features: np.ndarray | None,
    config: AuditConfig,
    group: np.ndarray | None = None,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of images far from their own class (robust z within the class of the distance to
    its nearest images of that class above ``FAR_Z``, or above ``CLAIM_Z`` where
    ``claimed_by_other``) to which the heads and neighbours give their label less than
    ``FAR_CHANCE`` times chance. cleanlab counts an image as a wrong label only where another
    class is confident; a picture of a class the folder does not have is confidently none of
    them, so on a small folder its estimate can be 0 while such an image ranks first. The
    distance leaves out an image's own ``group`` (``copy_groups``): its copies are not its class.
    ``within``: :func:`knn_distance`'s answer for these, where the caller has it."""
    given = probs[np.arange(len(labels)), labels]
    if within is None:
        if features is None:
            raise ValueError("far_from_label needs the features or their distances (within)")
        within = knn_distance(dedup.normalise(features), labels, config.neighbours, group)
    z = class_spread_z(within, labels)
    far = (z > FAR_Z) | ((z > CLAIM_Z) & claimed_by_other(labels, probs))
    return np.flatnonzero((given < FAR_CHANCE / probs.shape[1]) & far)


def claimed_by_other(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Whether each image's most probable other class gets at least ``CLAIM_SHARE`` of that
    class's confident threshold (the mean probability its own images get).

    cleanlab misses such a wrong label two ways. Its ``low_self_confidence`` filter flags the
    images of lowest p(given), as many as it counts (those where another class reaches its whole
    threshold), so an image it counted loses its place to lower ones it did not count (pictures
    of no class of the folder, or of a class of it short of the threshold). And on a small folder,
    where the neighbours give a typical image its class at nearly 1, the thresholds are high: an
    elephant in dolphin/ given elephant at 0.75, under elephant's 0.86, is not counted at all."""
    rows = np.arange(len(labels))
    n_classes = probs.shape[1]
    sums = np.bincount(labels, weights=probs[rows, labels], minlength=n_classes)
    counts = np.bincount(labels, minlength=n_classes)
    thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    other = probs.copy()
    other[rows, labels] = -1.0
    best = other.argmax(1)
    return other[rows, best] >= CLAIM_SHARE * thresholds[best]


def add_far_issues(ranked: np.ndarray, far: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """cleanlab's flagged rows and those ``far_from_label`` adds, most likely first."""
    extra = far[~np.isin(far, ranked)]
    if extra.size:
        log.info(
            "%s far from %s labelled class also flagged as likely wrong, besides those cleanlab "
            "ranked",
            *(plural(int(extra.size), "image"), "its" if extra.size == 1 else "their"),
        )
    merged = np.concatenate([ranked, extra])
    return merged[np.argsort(-scores[merged], kind="stable")]


class Stopwatch:
    """Seconds per stage, each lap the time since the previous one."""

    def __init__(self) -> None:
        self._now = time.perf_counter
        self._start = self._last = self._now()
        self.seconds: dict[str, float] = {}

    @property
    def total(self) -> float:
        return self._now() - self._start

    def lap(self, name: str) -> None:
        """Add the time since the previous lap (or mark) to ``name``'s."""
        now = self._now()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def mark(self) -> None:
        """Start the next lap now (time measured elsewhere is not counted twice)."""
        self._last = self._now()


RERUN_HINT = (
    "it holds an earlier audit: pass `refresh=True` to write it again (a file you changed since, "
    "a reviewed plan.csv say, is refused and kept), choose another `out`, or pass `force=True` "
    "(an edited plan.csv is kept as plan.csv.bak)"
)
"""How a re-run into a folder of an earlier audit is told to go on: ``refresh`` first, as it
never loses an edit; ``force`` writes over objrec's outputs, keeping a reviewed plan aside."""


def rerun_hint(out: Path) -> str:
    """What to do about a non-empty ``out``: :data:`RERUN_HINT` where it holds an earlier audit
    of objrec's, else the usual choice of another folder or ``force``."""
    from objrec.outputs import HINT, holds_objrecs_outputs

    earlier = holds_objrecs_outputs(out) and (out / "audit.json").is_file()
    return RERUN_HINT if earlier else HINT


@takes_back_folders("out")
@on_ctrl_c("nothing was written: run it again")
@warned_once_per_file()
def audit(
    data: Path,
    out: Path | None = None,
    config: AuditConfig | None = None,
    run: Path | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    refresh: bool = False,
    on_wait: Callable[[], None] | None = None,
) -> AuditResult:
    """Audit ``data`` (a class folder or a split folder, only read); write the findings to ``out``
    (new or empty unless ``refresh``: over its unchanged outputs, refusing a file changed since
    (``outputs.users_file``), or ``force``: over objrec's outputs, an edited plan.csv kept as
    plan.csv.bak). A re-run into an earlier audit's folder wants ``refresh=True``.
    With ``run`` the run's own body and preprocessing make the features (its cache reused).
    ``out=None`` writes nothing. ``data`` is read under a shared lock (``locks.locked``), as
    ``apply_plan`` reads it and ``train`` lists a split: an ``add`` writing there is waited for
    (``on_wait()`` called first), and none starts until the audit is written (its page shows
    thumbnails of ``data``'s files), so the files it lists are the files it reads.
    """
    from objrec.locks import locked

    config, reporter = config or AuditConfig(), or_silent(reporter)  # None: nothing shown
    if not Path(data).is_dir():
        raise ObjrecError(f"{data} is not a folder")
    with locked(Path(data), on_wait, shared=True):
        return _audit(Path(data), out, config, run, reporter, force=force, refresh=refresh)


def _audit(
    data: Path,
    out: Path | None,
    config: AuditConfig,
    run: Path | None,
    reporter: Reporter,
    *,
    force: bool,
    refresh: bool,
) -> AuditResult:
    """:func:`audit`, ``data`` locked."""
    clock = Stopwatch()
    inv = inventory(data)
    if out is not None:
        from objrec.outputs import AUDIT_FILES, HINT, prepare_output_dir, refuse_inside

        refuse_inside(out, data)
        hint = rerun_hint(Path(out)) if not (force or refresh) else HINT
        prepare_output_dir(Path(out), force, hint, AUDIT_FILES, refresh)
    measured: dict[str, dedup.ImageFacts] = {}
    features, ok, errors = audit_features(inv, config, run, reporter, measured)
    for message in errors:
        log.warning("skipped %s", message)
    clock.lap("features")
    with reporter.task("hashing images", len(inv.items)) as advance:
        facts = inventory_facts(inv, config, lambda: advance(1), measured, errors)
    clock.lap("hashing")
    result = find_issues(inv, features, ok, facts, config, reporter)
    clock.seconds |= result.seconds
    result.settled = settled_paths(inv, result.label_issues)
    clock.mark()
    if out is not None:
        with writing_outputs(Path(out)):
            write_audit(result, inv, Path(out), reporter, force)
        result.out = Path(out)
        clock.lap("report")
    result.seconds = clock.seconds | {"total": clock.total}
    log_findings(data, result)
    return result


def log_findings(data: Path, result: AuditResult) -> None:
    """How many of each kind the audit of ``data`` found, each count in its right number, a
    picture's copies counted once."""
    issues = plural(len(one_per_picture(result.label_issues)), "label issue")
    log.info(
        "audited %s: %s, %s, %s, %s",
        *(data, "labels not judged" if result.labels_not_judged else issues),
        plural(len(result.near_duplicates), "duplicate group"),
        plural(len(result.look_alikes), "look-alike group"),
        plural(len(one_per_picture(result.outliers)), "outlier"),
    )

"""The audit's settings (:class:`AuditConfig`), apart from the recipe that runs it: light to
import, so that the CLI takes ``audit``'s options' defaults and help from the fields they set, as
``train``'s come from :class:`objrec.config.TrainConfig`, without importing the audit's jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from objrec import dedup
from objrec.backbones import BackboneSpec, DataConfig, NormalisedApart, resolve_data_config
from objrec.config import (
    DEFAULT_BACKBONE,
    FEATURE_DTYPES,
    PRECISIONS,
    TrainConfig,
    check_field_types,
    documented,
)
from objrec.errors import ObjrecError
from objrec.paths import PathGiven


@documented
@dataclass
class AuditConfig:
    """How the audit computes features and trains its out-of-fold heads."""

    backbone: str = DEFAULT_BACKBONE
    """The pretrained network, or networks joined by ``+``, that read the images. A name
    ``objrec backbones`` lists, used without ``run`` (with one, the run's own). The frozen body, as
    ``TrainConfig.backbone``."""
    folds: int = 5
    """Into how many parts the images are cut. Each part's labels are judged by a head trained
    on the other parts, so that no head judges a label it learnt. A head per fold, each trained on
    all folds but one, scores the one it never saw."""
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
    """Same seed, same findings. The same folds, principal components and heads."""
    cache_dir: PathGiven | None = None
    """Where frozen features are cached; None: ``run``'s, else
    :func:`objrec.cache_folder.default_cache_dir`."""
    num_workers: int = 0
    """DataLoader worker processes decoding images; 0 decodes in the main process."""
    feature_dtype: str = TrainConfig.feature_dtype
    """The store's rows without ``run`` (with one, the run's own): ``train``'s default, so an audit
    after a training run reads the features it stored (the store derives float16 rows from float32
    ones, never the reverse)."""
    precision: str = TrainConfig.precision
    """How the pretrained networks compute. Without ``run``, 8-bit integers (int8) or 32-bit
    floats (fp32), ``auto`` deciding as ``train`` does, so that the audit reads the features a
    default training run stored instead of computing them again in another precision; with
    ``run``, the run's own. ``auto`` settles it by ``precision.auto_precision``."""

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


def audit_data_config(spec: BackboneSpec) -> DataConfig:
    """``spec``'s data config as the audit reads images: with its bodies' own normalisation, as
    the audit is given none. An ensemble of bodies normalised apart needs one given
    (``backbones.resolve_data_config``), which the audit cannot take: it is refused in words its
    caller can act on (late61 M1: it was told to give a mean and std it has no way to)."""
    try:
        return resolve_data_config(spec)
    except NormalisedApart as exc:
        raise NormalisedApart(
            f"backbones {spec.name.replace('+', ', ')} normalise their inputs differently "
            f"({spec.normalisations}), and the audit reads images as its bodies' own weights "
            "want them: audit with bodies normalised alike, each body alone, or with `run`, a "
            "model trained on them"
        ) from exc

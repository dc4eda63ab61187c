"""The unknown scores: high for images like the classes the model was taught, low for anything else.

The scores (``SCORES``):

- ``msp``: the calibrated maximum softmax probability (Hendrycks & Gimpel, 2017), in
  ``thresholds.top_probability``;
- ``knn``: cosine similarity of the image's L2-normalised body features to the ``k``-th nearest
  training image's (Sun et al., 2022);
- ``mahalanobis``: minus the smallest Mahalanobis distance to a class mean under one shared
  covariance (Lee et al., 2018), modelled as probabilistic PCA (``MahalanobisScore``), not
  shrunk: with no more training images than ``dims`` plus the classes (the demo's 60), the
  directions left out have no variance measured, and their floor (1e-12) makes the score all
  but the distance off the span of the training images' variation (-4e11 for a valid image of
  5 synthetic classes of 12 training images, 3,840 features);
- ``vim``: virtual-logit matching (Wang et al., 2022): the heads' energy minus a weighted norm of
  the image's normalised features off the training features' top principal directions.

The feature scores are small ``nn.Module``s on the body's features, so they run inside the model
and its ONNX export; :class:`Readable` rescales one to the familiarity a user reads, and
:func:`score_from_state` rebuilds one from a checkpoint. They are fitted on the training features
read batch by batch (``feature_stream``); the Mahalanobis scores and ViM on the top eigenpairs of
their scatter (``eigenpairs``), ``mahalanobis+knn``'s kNN part on each class's k-means centroids
(``kmeans_bank``). ``benchmarks/open_set.py`` measures them on Caltech-101 classes the model was
not taught. Nothing here prints.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from objrec.config import UNKNOWN_SCORES
from objrec.eigenpairs import scatter_eigenpairs, well_inside_rank
from objrec.errors import ObjrecError
from objrec.feature_stream import Batches, class_sample, in_batches, normalise, one_class
from objrec.kmeans_bank import class_centres
from objrec.model import HeadEnsemble

SCORES = UNKNOWN_SCORES
"""The unknown scores: ``config.UNKNOWN_SCORES``, the one list (``--unknown-score`` offers it)."""
SCORE_OPTIONS: dict[str, dict[str, Any]] = {
    "knn": {"k": 10},
    "mahalanobis+knn": {"dims": 256, "k": 3, "centroids": 4},
    "mahalanobis": {"dims": 256},
    "relative_mahalanobis": {"dims": 256},
    "vim": {"dims": 256, "weight": 2.0},
}
"""Each score's options as ``train`` fits it, and the defaults of :func:`fit_feature_score` and
:func:`fit_vim`: one source, so that a caller who passes none gets the run's score."""


def score_options(kind: str, **given: Any) -> dict[str, Any]:
    """``kind``'s :data:`SCORE_OPTIONS` with the options ``given`` (those not None) over them."""
    return {**SCORE_OPTIONS.get(kind, {}), **{k: v for k, v in given.items() if v is not None}}


def mark_kind(module: nn.Module, kind: int) -> None:
    """Store ``kind``, the module's entry of :data:`REBUILT`, in its state, so that
    :func:`score_from_state` looks it up there: it guessed the class from which tensors were
    present, which worked only by the order of its checks (``Readable`` and ``VimScore`` both
    hold a ``scale``; review62c L3)."""
    module.register_buffer("kind", torch.tensor(kind))


def sub_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors of ``state`` under ``prefix``, named without it."""
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}


class KnnScore(nn.Module):
    """Cosine similarity to the ``k``-th most similar training image (higher: more familiar)."""

    KIND = 1
    bank: torch.Tensor

    def __init__(self, bank: torch.Tensor, k: int = 10, normalised: bool = False):
        super().__init__()
        mark_kind(self, self.KIND)
        self.k = min(k, len(bank))
        bank = bank.float() if normalised else normalise(bank)
        self.register_buffer("bank", bank.t().contiguous())
        self.register_buffer("k_value", torch.tensor(self.k))

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> KnnScore:
        return cls(state["bank"].t(), int(state["k_value"]), normalised=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        similarity = normalise(features) @ self.bank
        return similarity.topk(self.k, dim=1).values[:, -1]


class MahalanobisScore(nn.Module):
    """Minus the smallest squared Mahalanobis distance to a class mean (higher: more familiar).

    The shared covariance of the class-centred, normalised training features is modelled as
    probabilistic PCA (Tipping & Bishop, 1999): its top ``dims`` eigenvalues as measured, one
    average variance for every other direction. That keeps the inverse small enough to travel with
    the model ((features, dims) instead of (features, features)) and never discards a direction in
    which an unfamiliar image may differ.
    """

    KIND = 2
    means: torch.Tensor
    basis: torch.Tensor
    inv_sd: torch.Tensor
    inv_residual: torch.Tensor
    mean_basis: torch.Tensor
    residual_means: torch.Tensor

    def __init__(
        self, means: torch.Tensor, basis: torch.Tensor, variances: torch.Tensor, residual: float
    ):
        super().__init__()
        mark_kind(self, self.KIND)
        self.register_buffer("means", means.float())
        self.register_buffer("basis", basis.float())
        self.register_buffer("inv_sd", variances.float().rsqrt())
        self.register_buffer("inv_residual", torch.tensor(1.0 / residual, dtype=torch.float32))
        self.register_buffer("mean_basis", means.float() @ basis.float())
        residual_means = means.double() - (means.double() @ basis.double()) @ basis.double().t()
        self.register_buffer("residual_means", residual_means.float())
        self.register_load_state_dict_pre_hook(drop_residual_sq)

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> MahalanobisScore:
        variances = state["inv_sd"].double().pow(-2)
        return cls(state["means"], state["basis"], variances, 1.0 / float(state["inv_residual"]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Computed in float64, returned in float32. In float32, what the principal directions
        leave of an image kept the rounding of the part they take (about 1e-7 of the whole):
        where they hold almost all of it (the tests' tiny runs, 15 directions of 16 features), a
        large share of what is left, weighed by the inverse residual variance (up to 1e12). A
        familiarity moved by up to 5e-4 of its size, and ONNX Runtime, summing in another order,
        as far otherwise: export's check (``export.check.SCORE_TOLERANCE``, 1e-3) found a tiny run's
        file apart from ``predict``. Each class's squared distance is sums of products, never an
        (images, classes, dims) difference, as fast as float32's was (1,536 images of the
        100-class protocol in chunks of 128: medians 1.93 and 1.01 s against 1.89 and 0.97 s,
        two rounds at a load of 15 to 17)."""
        z = F.normalize(features.double(), dim=1)
        basis = self.basis.double()
        inside = z @ basis  # along the principal directions
        outside = z - inside @ basis.t()  # what they leave out
        weights, means = self.inv_sd.double().pow(2), self.mean_basis.double()
        along = (
            (inside.pow(2) @ weights)[:, None]
            - 2 * (inside * weights) @ means.t()
            + (means.pow(2) @ weights)[None]
        )
        residual_means = self.residual_means.double()
        rest = (
            outside.pow(2).sum(1, keepdim=True)
            - 2 * outside @ residual_means.t()
            + residual_means.pow(2).sum(1)[None]
        )
        distance = along.clamp(min=0) + rest.clamp(min=0) * self.inv_residual.double()
        return -distance.min(1).values.float()


def drop_residual_sq(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
    """Drop the ``residual_sq`` tensor of a checkpoint written before session 63 (the residual
    means' squared norms, which no forward read: it squares the float32 means as it reads them)
    from the state loaded into a :class:`MahalanobisScore`, so that the model still loads it
    strictly, key by key; a score now leaves it out."""
    state.pop(f"{prefix}residual_sq", None)


def class_sums(batches: Batches) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class (0 .. the largest label): the sum of the normalised features, and the count."""
    sums: torch.Tensor | None = None
    counts = torch.zeros(0, dtype=torch.long)
    for features, labels in batches():
        if len(labels) == 0:
            continue
        x = normalise(features).double()
        n = max(len(counts), int(labels.max()) + 1)
        if sums is None:
            sums = x.new_zeros(n, x.shape[1])
        sums = torch.cat([sums, sums.new_zeros(n - len(sums), x.shape[1])])
        counts = torch.cat([counts, counts.new_zeros(n - len(counts))])
        sums.index_add_(0, labels, x)
        counts += torch.bincount(labels, minlength=n)
    if sums is None:
        raise ValueError("no training features to fit the unknown score on")
    return sums, counts


def fit_mahalanobis(
    features: torch.Tensor, labels: torch.Tensor, dims: int = 256
) -> MahalanobisScore:
    """Class means and the shared covariance of the class-centred training features (see above)."""
    return fit_mahalanobis_batches(in_batches(features, labels), dims)


def fit_mahalanobis_batches(batches: Batches, dims: int = 256) -> MahalanobisScore:
    """``fit_mahalanobis`` in two passes over ``batches``, holding (features x features) numbers,
    never every image: the class means, then the class-centred scatter, whose eigenvectors are the
    centred features' right singular vectors and whose eigenvalues their squared singular values
    (with at most ``eigenpairs.SVD_IMAGES_PER_FEATURE`` images per feature, every centred image
    is held instead, fewer numbers than the scatter's, for their SVD:
    :func:`~objrec.eigenpairs.scatter_eigenpairs`). Only the top ``dims`` eigenpairs are
    computed; the others' sum is what the trace leaves."""
    sums, counts = class_sums(batches)
    means = sums / counts.clamp(min=1)[:, None]
    n, width = int(counts.sum()), means.shape[1]
    dims = max(min(dims, min(n, width) - 1, width - 1), 0)
    scale = max(n - len(counts), 1)
    single = well_inside_rank(n - len(counts), dims)
    trace, eigen, basis = scatter_eigenpairs(batches, means, n, dims, single)
    total, eigen = trace / scale, eigen / scale
    residual = max((total - float(eigen.sum())) / (width - dims), 1e-12)
    return MahalanobisScore(means, basis, eigen.clamp(min=residual), residual)


class RelativeMahalanobisScore(nn.Module):
    """The class score minus the same score under one Gaussian of all training images (Ren et
    al., 2021): what is common to every image (the backbone's own typical directions) cancels."""

    KIND = 3

    def __init__(self, classes: MahalanobisScore, background: MahalanobisScore):
        super().__init__()
        mark_kind(self, self.KIND)
        self.classes, self.background = classes, background

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> RelativeMahalanobisScore:
        classes = MahalanobisScore.from_state(sub_state(state, "classes."))
        return cls(classes, MahalanobisScore.from_state(sub_state(state, "background.")))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classes(features) - self.background(features)


class HeadEnergy(nn.Module):
    """The heads' energy (Liu et al., 2020): logsumexp of the logits, averaged over the members of
    a head ensemble (higher: more familiar).

    The head is the model's own, referenced, not owned: it is not part of this module's state (the
    checkpoint holds it once, as the model's head) and ``tie_head`` sets it after loading."""

    head_energy: torch.Tensor

    def __init__(self, head: nn.Module | None = None):
        super().__init__()
        self.register_buffer("head_energy", torch.ones(()))  # marks the part in a checkpoint
        self._head: list[nn.Module | None] = [head]  # a list: not a submodule

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        head = self._head[0]
        if head is None:
            raise RuntimeError("the energy score has no head: call unknown_scores.tie_head")
        return member_logits(head, features).logsumexp(-1).mean(0)


def member_logits(head: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """(members, N, classes): each member's logits (one member for a single head)."""
    if isinstance(head, HeadEnsemble):
        return head.member_logits(features)
    return head(features)[None]


def tie_head(score: nn.Module | None, head: nn.Module) -> None:
    """Give every ``HeadEnergy`` inside ``score`` the model's ``head``."""
    for part in score.modules() if score is not None else ():
        if isinstance(part, HeadEnergy):
            part._head[0] = head


class ResidualScore(nn.Module):
    """Minus the norm of the image's normalised features off the training features' top principal
    directions, around their mean: what the directions the training images vary in leave out."""

    centre: torch.Tensor
    basis: torch.Tensor

    def __init__(self, centre: torch.Tensor, basis: torch.Tensor):
        super().__init__()
        self.register_buffer("centre", centre.float())
        self.register_buffer("basis", basis.float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """In float64, returned in float32, as :meth:`MahalanobisScore.forward` and for its
        reason: what the directions leave out kept the rounding of what they take."""
        c = F.normalize(features.double(), dim=1) - self.centre.double()
        basis = self.basis.double()
        return -(c - (c @ basis) @ basis.t()).norm(dim=1).float()


class VimScore(nn.Module):
    """Virtual-logit matching (Wang et al., 2022): the heads' energy plus ``scale`` times the
    residual score (minus the norm off the principal subspace); ``scale`` is ``weight`` times ViM's
    own, the training images' mean top logit over their mean residual norm."""

    KIND = 4
    scale: torch.Tensor

    def __init__(self, energy: HeadEnergy, residual: ResidualScore, scale: float):
        super().__init__()
        mark_kind(self, self.KIND)
        self.energy, self.residual = energy, residual
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> VimScore:
        residual = ResidualScore(state["residual.centre"], state["residual.basis"])
        return cls(HeadEnergy(), residual, float(state["scale"]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.energy(features) + self.scale * self.residual(features)


@torch.no_grad()
def fit_vim(
    batches: Batches, head: nn.Module, dims: int | None = None, weight: float | None = None
) -> VimScore:
    """ViM fitted in three passes over the training features: their mean, the scatter around it
    (its top ``dims`` eigenvectors), then the mean top logit and residual norm (the scale).
    ``dims`` and ``weight`` default to ``train``'s (:data:`SCORE_OPTIONS`)."""
    options = score_options("vim", dims=dims, weight=weight)
    dims, weight = int(options["dims"]), float(options["weight"])
    whole = one_class(batches)
    sums, counts = class_sums(whole)
    centre = sums[0] / counts[0]
    dims = max(min(dims, int(counts[0]) - 1, len(centre) - 1), 0)
    basis = scatter_eigenpairs(whole, centre[None], int(counts[0]), dims)[2]
    residual = ResidualScore(centre, basis)
    top_logit, norm = 0.0, 0.0
    for x, _ in batches():
        top_logit += float(member_logits(head, x.float()).max(-1).values.mean(0).sum())
        norm -= float(residual(x).sum())
    scale = weight * top_logit / max(norm, 1e-12)
    return VimScore(HeadEnergy(head), residual, scale)


def fit_feature_score(
    kind: str,
    features: torch.Tensor,
    labels: torch.Tensor,
    k: int | None = None,
    dims: int | None = None,
    centroids: int | None = None,
    head: nn.Module | None = None,
    weight: float | None = None,
) -> nn.Module | None:
    """The feature-space score ``kind`` fitted on training features (None for ``msp``); ``vim``
    needs the model's ``head``. An option not given is ``train``'s (:data:`SCORE_OPTIONS`)."""
    batches = in_batches(features, labels)
    return fit_feature_score_batches(kind, batches, k, dims, centroids, head, weight)


def fit_feature_score_batches(
    kind: str,
    batches: Batches,
    k: int | None = None,
    dims: int | None = None,
    centroids: int | None = None,
    head: nn.Module | None = None,
    weight: float | None = None,
) -> nn.Module | None:
    """``fit_feature_score`` reading the training features batch by batch: the Mahalanobis scores
    and ``vim`` hold (features x features) numbers at most; ``knn`` holds its bank (every
    normalised training feature, which the model carries)."""
    if kind == "msp":
        return None
    if kind == "vim":
        if head is None:
            raise ValueError("the vim score needs the model's head")
        return fit_vim(batches, head, dims, weight)
    options = score_options(kind, k=k, dims=dims, centroids=centroids)
    return fitted_score(kind, batches, **options)


def fitted_score(
    kind: str, batches: Batches, k: int = 0, dims: int = 0, centroids: int = 0
) -> nn.Module:
    """:func:`fit_feature_score_batches` of a score other than ``msp`` and ``vim``, with the
    options ``kind`` uses (:data:`SCORE_OPTIONS`; the others unused)."""
    if kind == "knn":  # never more neighbours than the smallest class has images
        parts = [(normalise(x), y) for x, y in batches()]
        labels = torch.cat([y for _, y in parts])
        k = min(k, int(torch.bincount(labels).clamp(min=1).min()))
        return KnnScore(torch.cat([x for x, _ in parts]), k, normalised=True)
    if kind == "mahalanobis":
        return fit_mahalanobis_batches(batches, dims)
    if kind == "mahalanobis+knn":
        return fit_sum(batches, k, dims, centroids)
    if kind == "relative_mahalanobis":
        background = fit_mahalanobis_batches(one_class(batches), dims)
        return RelativeMahalanobisScore(fit_mahalanobis_batches(batches, dims), background)
    raise ValueError(f"unknown score {kind!r}; one of {', '.join(SCORES)}")


class SumScore(nn.Module):
    """The sum of several scores, each standardised by its mean and standard deviation on the known
    validation images (``standardise``), so that neither dominates by its units."""

    KIND = 5
    centre: torch.Tensor
    spread: torch.Tensor

    def __init__(
        self,
        parts: list[nn.Module],
        centre: torch.Tensor | None = None,
        spread: torch.Tensor | None = None,
    ):
        super().__init__()
        mark_kind(self, self.KIND)
        self.parts = nn.ModuleList(parts)
        self.register_buffer("centre", torch.zeros(len(parts)) if centre is None else centre)
        self.register_buffer("spread", torch.ones(len(parts)) if spread is None else spread)

    def components(self, features: torch.Tensor) -> torch.Tensor:
        return torch.stack([part(features) for part in self.parts], 1)

    def standardise(self, batches: Batches, chunk: int = 128) -> SumScore:
        """Set each part's mean and standard deviation from its scores on ``batches`` (the known
        validation images), ``chunk`` images per call (a Mahalanobis part holds (images, features)
        float64 arrays). With one validation image there is no spread to measure: each part keeps
        its own units (a spread of 1), rather than a NaN that would make every score NaN."""
        self.standardised_scores(batches, chunk)
        return self

    def standardised_scores(self, batches: Batches, chunk: int = 128) -> torch.Tensor:
        """:meth:`standardise`, returning this score of each image of ``batches`` once
        standardised, made of the parts' scores it standardised on: equal to calling it on each
        ``chunk`` (the same parts' scores, then the same arithmetic), without computing them
        again (0.2 s of a warm retrain's calibration on the 100-class protocol)."""
        values = torch.cat([self.components(part) for x, _ in batches() for part in x.split(chunk)])
        self.centre = values.mean(0)
        spread = values.std(0) if len(values) > 1 else torch.ones_like(self.centre)
        self.spread = spread.clamp(min=1e-12)
        return self.combined(values)

    def combined(self, values: torch.Tensor) -> torch.Tensor:
        """The score of the images whose parts' scores are ``values`` (images, parts)."""
        return ((values - self.centre) / self.spread).sum(1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.combined(self.components(features))


def fit_sum(batches: Batches, k: int, dims: int, centroids: int) -> SumScore:
    """Mahalanobis plus kNN on class-wise k-means centroids (not yet standardised).

    The k-means (:func:`~objrec.kmeans_bank.class_centres`) runs in a second thread while this
    one fits the Mahalanobis part, whose eigensolve (LAPACK,
    :func:`~objrec.eigenpairs.solved_top`) lets go of the GIL: the two took 0.46 and 1.16 s one
    after the other of a quiet warm retrain's 1.85 s calibration (the 100-class protocol). Each
    computes what it computed alone, the same bits (no number either uses is the other's).

    A stop (Ctrl-C, SIGTERM) or a failure in this thread calls the k-means off before its next
    class: the stop waits for one class's k-means (6 to 16 ms for 64 rows of 1,280 to 3,840
    features on 2 busy cores), where it waited for all of them (0.46 s quiet, seconds under
    load). The centroids it had are dropped with the thread, never returned."""
    x, y = class_sample(batches)
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="objrec-kmeans") as pool:
        centres = pool.submit(class_centres, x.float().numpy(), y.numpy(), centroids, stop)
        try:
            mahalanobis = fit_mahalanobis_batches(batches, dims)
            bank = normalise(torch.from_numpy(centres.result()))
        except BaseException:
            stop.set()  # before the pool's end waits for the thread: it ends at its next class
            raise
    return SumScore([mahalanobis, KnnScore(bank, k, normalised=True)])


class Readable(nn.Module):
    """A feature score rescaled so that a person can read it: 0 at the run's threshold, 1 at the
    median known-class validation image (typical images of the known classes score about 1; the
    answer is "unknown" below 0). The rescaling is affine and increasing, so every image keeps its
    rank (AUROC and FPR are the raw score's)."""

    KIND = 6
    offset: torch.Tensor
    scale: torch.Tensor

    def __init__(self, raw: nn.Module, offset: float, scale: float):
        super().__init__()
        mark_kind(self, self.KIND)
        self.raw = raw
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    @classmethod
    def fitted(cls, raw: nn.Module, valid_raw: torch.Tensor, threshold: float) -> Readable:
        """``raw`` rescaled from its scores on the known validation images and its threshold.
        The median of an even count is the midpoint of the middle two: the lower one (torch's
        ``median``) is, for two images, the lower image, which the threshold sits just below."""
        median = float(valid_raw.double().quantile(0.5))
        if not math.isfinite(threshold):
            threshold = median - 1.0
        return cls(raw, threshold, median - threshold if median > threshold else 1.0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (self.raw(features) - self.offset) / self.scale


FAMILIARITY_PREFIX = "familiarity."


def familiarity_from_state(state: dict[str, torch.Tensor]) -> nn.Module | None:
    """The familiarity module whose tensors a checkpoint's ``state`` holds (None when none). A
    checkpoint written before the scores stored their kind gains the kinds in ``state``, so that
    it loads into the module strictly; a score whose tensors are incomplete is refused in one
    sentence (:class:`ObjrecError`), which the loader prefixes with the file."""
    own = sub_state(state, FAMILIARITY_PREFIX)
    if not own:
        return None
    try:
        score = score_from_state(own)
    except KeyError as exc:
        raise ObjrecError(
            f"its familiarity score is incomplete: it lacks a {exc.args[0]!r} tensor"
        ) from exc
    for name, value in score.state_dict().items():
        if name.rsplit(".", 1)[-1] == "kind":
            state.setdefault(FAMILIARITY_PREFIX + name, value)
    return score


def score_from_state(own: dict[str, torch.Tensor]) -> nn.Module:
    """The score module whose own tensors (names without the prefix) are ``own``: the one its
    stored ``kind`` names (:data:`REBUILT`), or for a checkpoint written before the kinds, the
    one :func:`older_kind` recognises."""
    kind = int(own["kind"]) if "kind" in own else older_kind(own)
    if kind not in REBUILT:
        raise ObjrecError(f"its familiarity score is of a kind this objrec does not know ({kind})")
    return REBUILT[kind](own)


def older_kind(own: dict[str, torch.Tensor]) -> int:
    """The kind of a score stored without one, from which tensors it holds (in this order:
    ``Readable`` and ``VimScore`` both hold a ``scale``)."""
    for key, kind in (
        ("offset", Readable.KIND),
        ("centre", SumScore.KIND),
        ("scale", VimScore.KIND),
        ("bank", KnnScore.KIND),
        ("means", MahalanobisScore.KIND),
    ):
        if key in own:
            return kind
    return RelativeMahalanobisScore.KIND


def readable_from_state(own: dict[str, torch.Tensor]) -> Readable:
    raw = score_from_state(sub_state(own, "raw."))
    return Readable(raw, float(own["offset"]), float(own["scale"]))


def sum_from_state(own: dict[str, torch.Tensor]) -> SumScore:
    parts = [score_from_state(sub_state(own, f"parts.{i}.")) for i in range(len(own["centre"]))]
    return SumScore(parts, own["centre"], own["spread"])


REBUILT: dict[int, Callable[[dict[str, torch.Tensor]], nn.Module]] = {
    KnnScore.KIND: KnnScore.from_state,
    MahalanobisScore.KIND: MahalanobisScore.from_state,
    RelativeMahalanobisScore.KIND: RelativeMahalanobisScore.from_state,
    VimScore.KIND: VimScore.from_state,
    SumScore.KIND: sum_from_state,
    Readable.KIND: readable_from_state,
}
"""Each score's stored ``kind`` (its class's ``KIND``) and how it is rebuilt from its tensors."""

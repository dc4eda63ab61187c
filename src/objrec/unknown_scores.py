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
:func:`score_from_state` rebuilds one from a checkpoint. ``benchmarks/open_set.py`` measures them
on Caltech-101 classes the model was not taught. Nothing here prints.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from objrec.config import UNKNOWN_SCORES
from objrec.errors import ObjrecError
from objrec.kmeans import kmeans_centres
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


def normalise(features: torch.Tensor) -> torch.Tensor:
    return F.normalize(features.float(), dim=1)


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
    residual_sq: torch.Tensor

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
        # read by no forward (which squares the float32 means, as it reads them), but in every
        # checkpoint: a model is loaded strictly, key by key
        self.register_buffer("residual_sq", residual_means.pow(2).sum(1).float())

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


Batches = Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]
"""A source of (features, labels) batches that can be read more than once (e.g. from the store)."""


def in_batches(features: torch.Tensor, labels: torch.Tensor, size: int = 4096) -> Batches:
    """Features and labels in memory as a :data:`Batches` source."""
    return lambda: zip(features.split(size), labels.split(size), strict=True)


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


def centred_rows(batches: Batches, means: torch.Tensor, n: int) -> torch.Tensor:
    """Every image's normalised features minus its class mean, (images, features) in float64,
    written into one tensor of the ``n`` images (not a copy of each batch joined at the end)."""
    rows = means.new_empty(n, means.shape[1])
    start = 0
    for features, labels in batches():
        end = start + len(labels)
        torch.sub(normalise(features).double(), means[labels], out=rows[start:end])
        start = end
    return rows[:start]


def centred_scatter(batches: Batches, means: torch.Tensor) -> torch.Tensor:
    """The sum over images of (x - its class mean)(x - its class mean)^T, normalised features."""
    scatter = torch.zeros(means.shape[1], means.shape[1], dtype=torch.double)
    for features, labels in batches():
        centred = normalise(features).double() - means[labels]
        scatter.addmm_(centred.t(), centred)
    return scatter


def fit_mahalanobis(
    features: torch.Tensor, labels: torch.Tensor, dims: int = 256
) -> MahalanobisScore:
    """Class means and the shared covariance of the class-centred training features (see above)."""
    return fit_mahalanobis_batches(in_batches(features, labels), dims)


def fit_mahalanobis_batches(batches: Batches, dims: int = 256) -> MahalanobisScore:
    """``fit_mahalanobis`` in two passes over ``batches``, holding (features x features) numbers,
    never every image: the class means, then the class-centred scatter, whose eigenvectors are the
    centred features' right singular vectors and whose eigenvalues their squared singular values
    (with at most :data:`SVD_IMAGES_PER_FEATURE` images per feature, every centred image is held
    instead, fewer numbers than the scatter's, for their SVD: :func:`scatter_eigenpairs`).
    Only the top ``dims`` eigenpairs are computed; the others' sum is what the trace leaves."""
    sums, counts = class_sums(batches)
    means = sums / counts.clamp(min=1)[:, None]
    n, width = int(counts.sum()), means.shape[1]
    dims = max(min(dims, min(n, width) - 1, width - 1), 0)
    scale = max(n - len(counts), 1)
    # float32 only where the top ``dims`` are well inside the scatter's rank (n - classes): on a
    # few hundred images, where they reach into its null space, float32 moved the score by 2.6%
    trace, eigen, basis = scatter_eigenpairs(
        batches, means, n, dims, single=n - len(counts) > 2 * dims
    )
    total, eigen = trace / scale, eigen / scale
    residual = max((total - float(eigen.sum())) / (width - dims), 1e-12)
    return MahalanobisScore(means, basis, eigen.clamp(min=residual), residual)


SVD_IMAGES_PER_FEATURE = 0.25
"""Up to this many training images per feature (960 of 3,840), the scatter's eigenpairs come from
the centred images' SVD (:func:`scatter_eigenpairs`), beyond it from the scatter's own eigensolve.
One run each under the CPU lock, ``fit_mahalanobis`` on random features 3,840 wide, SVD against
eigensolve: 0.05 against 2.35 s at 60 images, 0.44 against 2.90 s at 500, 1.11 against 1.65 s at
1,000; but 2.57 against 1.75 s at 1,500 and 9.76 against 2.08 s at 3,095 (the 100-class protocol's
training images, which keep the float32 eigensolve)."""


def scatter_eigenpairs(
    batches: Batches, means: torch.Tensor, n: int, k: int, single: bool = False
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """The trace of the class-centred scatter of ``batches``' ``n`` normalised features (``means``
    per class) and its top ``k`` eigenpairs (:func:`top_eigenpairs`).

    With far fewer images than features (:data:`SVD_IMAGES_PER_FEATURE`) the scatter's rank is
    well below its size: its eigenpairs are then the centred rows' squared singular values and
    right singular vectors, from an (images x features) SVD. The demo (60 images of 3,840
    features, the top 59 eigenpairs) calibrates in 0.93 s against 3.09 s with the 3,840 x 3,840
    scatter's eigensolve (``benchmarks/demo_time.py``, medians of 3). The eigenvalues are the same
    to float64 rounding; the eigenvectors of a zero eigenvalue (when ``k`` reaches past the rank)
    are another orthonormal choice in the same null space, which the Mahalanobis score does not
    depend on (their variance is the residual's, as off the basis).

    With no more images than features and the top ``k`` well inside the rank (``single``), they
    come from the images' Gram matrix instead (:func:`gram_eigenpairs`): the 100-class protocol's
    3,095 training images of 3,840 features. Beyond that, from the scatter, summed batch by batch:
    what is held never grows past (features x features) numbers."""
    width = means.shape[1]
    if k == 0 or n > width or (n > width * SVD_IMAGES_PER_FEATURE and not single):
        scatter = centred_scatter(batches, means)
        return float(scatter.trace()), *top_eigenpairs(scatter, k, single)
    rows = centred_rows(batches, means, n)
    trace = float(rows.pow(2).sum())  # before the SVD, which may use the rows as its workspace
    if n > width * SVD_IMAGES_PER_FEATURE:
        return trace, *gram_eigenpairs(rows, k)
    _, values, vectors_t = scipy.linalg.svd(
        rows.numpy(), full_matrices=False, overwrite_a=True, check_finite=False
    )
    values = torch.from_numpy(values[:k].astype(np.float64))
    return trace, values.pow(2), torch.from_numpy(vectors_t[:k].T.copy())


def gram_eigenpairs(rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``k`` eigenpairs of ``rows.T @ rows`` (the scatter of the centred ``rows``, images
    x features, no more images than features) from the images' smaller Gram matrix
    ``rows @ rows.T``: it has the same nonzero eigenvalues, and its eigenvector ``u`` of
    eigenvalue ``s`` gives the scatter's, ``rows.T @ u / sqrt(s)``. Solved in float32 as the
    scatter's is (:func:`top_eigenpairs`), for the top ``k`` well inside the scatter's rank only
    (``scatter_eigenpairs``' ``single``), whose eigenvalues are far from 0. On the 100-class
    protocol (3,095 images, 3,840 features) the Gram matrix and its eigenpairs took 2.4 to 2.6 s
    against 3.9 to 5.4 s for the scatter and its own, as close to float64's (eigenvalues within
    1.2e-6 relative against 1.3e-6; ``benchmarks/calibration_steps.py``).

    Copies of a photo add (almost) nothing to the rank, which ``single`` counts by images: where
    the ``k``-th eigenvalue is a rounding error of the float32 solve (:data:`GRAM_RANK_TOLERANCE`),
    ``rows.T @ u / sqrt(s)`` is no unit vector (near-copies 1e-4 apart: scores 1,000 standard
    deviations off), and the scatter's own eigenpairs are solved, in float64, as they should be
    wherever the top ``k`` reach past the rank.

    The Gram matrix is summed in float32 (``ssyrk``, one triangle) and the scatter's vectors come
    from the float32 rows: 1.15 to 1.19 s against 1.66 to 1.72 s for the float64 product rounded
    to float32 on splits s0 to s2, as close to float64's (eigenvalues within 1.3e-6, validation
    scores within 2.2e-6 of their standard deviation; the same AUROC against untaught images and
    every image on the same side of the threshold: ``calibration_steps.py --steps gram``)."""
    single = rows.float()
    # the lower triangle of single @ single.T by ``ssyrk``: half the products of a full matrix
    # product, in float32 (the float32 solve's input, as float64's product rounded was); the
    # transpose of the C-ordered rows is Fortran-ordered: no copy
    gram = scipy.linalg.blas.ssyrk(1.0, single.numpy().T, trans=1, lower=1)
    values, vectors = solved_top(gram, k, lower=True)
    if values[-1] <= values[0] * GRAM_RANK_TOLERANCE:
        return top_eigenpairs(rows.t() @ rows, k)
    return values, (single.t() @ vectors).double() / values.sqrt()


GRAM_RANK_TOLERANCE = 1e-4
"""The smallest of the Gram matrix's top ``k`` eigenvalues, as a share of the largest, that
:func:`gram_eigenpairs` takes for one of the rank (float32's rounding is about 1e-6 of the
largest). On the 100-class protocol's 3,095 training images the 256th is 0.054 of the first."""


def top_eigenpairs(
    matrix: torch.Tensor, k: int, single: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest eigenvalues of a symmetric matrix (descending) and their eigenvectors, in
    float64. ``single``: solved in float32, half the time at 3,840 features (1.2 s against 2.6 s
    here on the 100-class protocol's scatter, eigenvalues within 4e-7 of float64's, relative).
    The matrix (or its float32 copy) is the workspace (its transpose, itself, is Fortran-ordered:
    no further copy)."""
    width = matrix.shape[0]
    if k == 0:
        return matrix.new_zeros(0, dtype=torch.double), matrix.new_zeros(width, 0)
    values, vectors = solved_top((matrix.float() if single else matrix).numpy().T, k)
    return values, vectors.double()


def solved_top(array: np.ndarray, k: int, lower: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest eigenvalues of the symmetric ``array`` (its ``lower`` triangle or its
    upper one is read), descending, in float64, and their eigenvectors in ``array``'s dtype;
    ``array`` is the workspace (LAPACK's ``evr``; a Fortran-ordered one is not copied)."""
    width = array.shape[0]
    values, vectors = scipy.linalg.eigh(
        array,
        lower=lower,
        subset_by_index=[width - k, width - 1],
        driver="evr",
        overwrite_a=True,
        check_finite=False,
    )
    return (
        torch.from_numpy(values[::-1].astype(np.float64)).clamp(min=0),
        torch.from_numpy(np.ascontiguousarray(vectors[:, ::-1])),
    )


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
    one_class = lambda: ((x, torch.zeros_like(y)) for x, y in batches())  # noqa: E731
    sums, counts = class_sums(one_class)
    centre = sums[0] / counts[0]
    dims = max(min(dims, int(counts[0]) - 1, len(centre) - 1), 0)
    basis = scatter_eigenpairs(one_class, centre[None], int(counts[0]), dims)[2]
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
        one_class = lambda: ((x, torch.zeros_like(y)) for x, y in batches())  # noqa: E731
        background = fit_mahalanobis_batches(one_class, dims)
        return RelativeMahalanobisScore(fit_mahalanobis_batches(batches, dims), background)
    raise ValueError(f"unknown score {kind!r}; one of {', '.join(SCORES)}")


CLASS_SAMPLE = 64
"""Training images per class (a seeded random sample) that a class's kNN centroids are fitted on."""


class ClassSample:
    """The ``per_class`` lowest-keyed images of each class seen so far, by their positions in
    the stream, in preallocated slots: adding a batch compares its keys with the slots of the
    classes it holds and keeps only the positions it takes, so its cost depends on the batch, not
    on the sample. Positions, not rows: the rows a slot took and gave up again were copied into
    slots of 100 MB for the 100-class protocol (zeroed first), then gathered class by class and
    joined, three copies of the sample; :func:`class_sample` reads the kept rows once."""

    def __init__(self, per_class: int):
        self.per_class = per_class
        self.keys = torch.full((0, per_class), math.inf)  # inf: an empty slot
        self.positions = torch.full((0, per_class), -1, dtype=torch.long)

    def add(self, positions: torch.Tensor, y: torch.Tensor, keys: torch.Tensor) -> None:
        n_classes = int(y.max()) + 1 if len(y) else 0
        if n_classes > len(self.keys):
            grown = torch.full((n_classes - len(self.keys), self.per_class), math.inf)
            self.keys = torch.cat([self.keys, grown])
            self.positions = torch.cat([self.positions, torch.full_like(grown, -1).long()])
        present = y.unique()
        n_slots = len(present) * self.per_class
        candidates = torch.cat([self.keys[present].flatten(), keys])
        owner = torch.cat([present.repeat_interleave(self.per_class), y])
        order = candidates.argsort(stable=True)
        order = order[owner[order].argsort(stable=True)]  # by class, then by key
        starts = torch.cumsum(torch.bincount(owner), 0) - torch.bincount(owner)
        kept = torch.zeros(len(candidates), dtype=torch.bool)
        kept[order] = torch.arange(len(order)) - starts[owner[order]] < self.per_class
        freed = (~kept[:n_slots]).nonzero().squeeze(1)  # class by class, as ``present``
        taken = kept[n_slots:].nonzero().squeeze(1)
        taken = taken[y[taken].argsort(stable=True)]  # as many per class as freed slots
        classes, slots = present[freed // self.per_class], freed % self.per_class
        self.keys[classes, slots] = keys[taken]
        self.positions[classes, slots] = positions[taken]

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept images' positions and their classes, by class, then by key."""
        kept, ys = [], []
        for c in range(len(self.keys)):
            order = self.keys[c].argsort()[: int(self.keys[c].isfinite().sum())]
            kept.append(self.positions[c][order])
            ys.append(torch.full((len(order),), c, dtype=torch.long))
        if not kept:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        return torch.cat(kept), torch.cat(ys)


def class_sample(
    batches: Batches, per_class: int = CLASS_SAMPLE, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A uniform random sample of at most ``per_class`` normalised training features per class:
    each image gets a seeded random key as it streams by, each class keeps its lowest keys (one
    pass over the labels), then the kept rows are read into one tensor (a second pass), so
    memory is bounded by classes x ``per_class`` rows whatever the size of the training set."""
    g = torch.Generator().manual_seed(seed)
    sample = ClassSample(per_class)
    start = 0
    for _, labels in batches():
        positions = torch.arange(start, start + len(labels))
        sample.add(positions, labels, torch.rand(len(labels), generator=g))
        start += len(labels)
    positions, y = sample.result()
    return rows_at(batches, positions), y


def rows_at(batches: Batches, positions: torch.Tensor) -> torch.Tensor:
    """The normalised features of the images at ``positions`` of ``batches``, in that order:
    each batch normalised whole, as every pass over it is (the same numbers), and only its
    wanted rows copied."""
    by_position = positions.argsort()
    ordered = positions[by_position]
    out: torch.Tensor | None = None
    start = 0
    for features, labels in batches():
        end = start + len(labels)
        lo, hi = (int(i) for i in torch.searchsorted(ordered, torch.tensor([start, end])))
        if hi > lo:
            rows = normalise(features)
            if out is None:
                out = rows.new_empty(len(positions), rows.shape[1])
            out[by_position[lo:hi]] = rows[ordered[lo:hi] - start]
        start = end
    return out if out is not None else torch.zeros(0)


def class_centroids(x: torch.Tensor, y: torch.Tensor, per_class: int) -> torch.Tensor:
    """``per_class`` k-means centroids of each class's (normalised) features, L2-normalised: a kNN
    bank whose size is bounded by the number of classes, not of images. A class with fewer
    distinct images (copies of one photo stay in one split) gets one centroid per distinct image:
    k-means asked for more repeated one (counted twice by the ``k``-th neighbour) and warned.
    The k-means is scikit-learn's ``KMeans(k, n_init=3, random_state=0)``, computed as it computes
    it without importing it (``objrec.kmeans``: 0.7 to 1.6 s of a warm retrain's calibration)."""
    return normalise(torch.from_numpy(class_centres(x.float().numpy(), y.numpy(), per_class)))


def class_centres(
    x: np.ndarray, y: np.ndarray, per_class: int, stop: threading.Event | None = None
) -> np.ndarray:
    """:func:`class_centroids`' centroids before their normalising (float64), in NumPy alone, no
    PyTorch operation: :func:`fit_sum` runs it in a second thread, where each PyTorch operation
    would start a team of threads of its own. ``stop``, once set, ends it before the next class
    (CancelledError): it returns every class's centroids or none."""
    bank = []
    for c in np.unique(y):
        if stop is not None and stop.is_set():
            raise CancelledError("the k-means was called off")
        xc = x[y == c].astype(np.float64)  # float32 to float64 exactly, as ``Tensor.double``
        k = min(per_class, distinct_rows(xc))
        bank.append(kmeans_centres(xc, k, n_init=3, seed=0))
    return np.concatenate(bank)


def distinct_rows(x: np.ndarray) -> int:
    """How many distinct rows the 2-D float array ``x`` has, counted as ``np.unique(x, axis=0)``
    counts them (by value: -0.0 equals 0.0, a row holding a NaN equals no other), by hashing each
    row's bytes instead of sorting the rows as records of 3,840 fields: 0.94 s of a warm retrain's
    calibration on the 100-class protocol (101 classes), now a few milliseconds."""
    rows = np.ascontiguousarray(x + 0.0)  # -0.0 + 0.0 is 0.0: equal values, equal bytes
    nan = np.isnan(rows).any(axis=1)
    return len({row.tobytes() for row in rows[~nan]}) + int(nan.sum())


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

    The k-means (:func:`class_centres`) runs in a second thread while this one fits the
    Mahalanobis part, whose eigensolve (LAPACK, :func:`solved_top`) lets go of the GIL: the
    two took 0.46 and 1.16 s one after the other of a quiet warm retrain's 1.85 s calibration
    (the 100-class protocol). Each computes what it computed alone, the same bits (no number
    either uses is the other's).

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

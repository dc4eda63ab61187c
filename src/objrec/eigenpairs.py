"""The top eigenpairs of the class-centred scatter of the training features, which the
Mahalanobis scores and ViM are fitted on (``unknown_scores``): one quantity, four ways to compute
it (the scatter's eigensolve in float32 or float64, the SVD of the centred rows, their Gram
matrix), each taken where it was measured fastest and close enough to float64, the choice made
in one place (:func:`eigen_route`, with :func:`well_inside_rank` for float32). Nothing here
prints.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.linalg
import torch

from objrec.feature_stream import Batches, normalise


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


SVD_IMAGES_PER_FEATURE = 0.25
"""Up to this many training images per feature (960 of 3,840), the scatter's eigenpairs come from
the centred images' SVD (:func:`scatter_eigenpairs`), beyond it from the scatter's own eigensolve.
One run each under the CPU lock, ``fit_mahalanobis`` on random features 3,840 wide, SVD against
eigensolve: 0.05 against 2.35 s at 60 images, 0.44 against 2.90 s at 500, 1.11 against 1.65 s at
1,000; but 2.57 against 1.75 s at 1,500 and 9.76 against 2.08 s at 3,095 (the 100-class protocol's
training images, which keep the float32 eigensolve)."""
EigenRoute = Literal["scatter", "svd", "gram"]
"""The ways :func:`scatter_eigenpairs` may take (:func:`eigen_route`)."""


def eigen_route(n: int, width: int, k: int, single: bool) -> EigenRoute:
    """How :func:`scatter_eigenpairs` computes the top ``k`` eigenpairs of the class-centred
    scatter of ``n`` images of ``width`` features: the one choice of its path, each way taken
    where it was measured faster and close enough to float64. ``single``: the top ``k`` are well
    inside the scatter's rank (:func:`well_inside_rank`), where float32 is close enough.

    - ``svd``: with far fewer images than features (:data:`SVD_IMAGES_PER_FEATURE`) the scatter's
      rank is well below its size: its eigenpairs are then the centred rows' squared singular
      values and right singular vectors, from an (images x features) SVD (:func:`svd_eigenpairs`).
      The demo (60 images of 3,840 features, the top 59 eigenpairs) calibrates in 0.93 s against
      3.09 s with the 3,840 x 3,840 scatter's eigensolve (``benchmarks/demo_time.py``, medians of
      3). The eigenvalues are the same to float64 rounding; the eigenvectors of a zero eigenvalue
      (when ``k`` reaches past the rank) are another orthonormal choice in the same null space,
      which the Mahalanobis score does not depend on (their variance is the residual's, as off
      the basis).
    - ``gram``: with no more images than features and ``single``, the images' Gram matrix
      (:func:`gram_eigenpairs`, which solves the scatter in float64 where the rank is short of
      ``k`` after all): the 100-class protocol's 3,095 training images of 3,840 features.
    - ``scatter``: beyond that, the scatter, summed batch by batch, and its own eigensolve
      (:func:`top_eigenpairs`, in float32 where ``single``): what is held never grows past
      (features x features) numbers."""
    if k == 0 or n > width or (n > width * SVD_IMAGES_PER_FEATURE and not single):
        return "scatter"
    return "gram" if n > width * SVD_IMAGES_PER_FEATURE else "svd"


def well_inside_rank(rank: int, k: int) -> bool:
    """Whether the top ``k`` eigenpairs of a scatter of rank ``rank`` (images less classes) are
    well inside it, so that float32 solves them (:func:`eigen_route`'s ``single``): on a few
    hundred images, where they reach into its null space, float32 moved the score by 2.6%."""
    return rank > 2 * k


def scatter_eigenpairs(
    batches: Batches, means: torch.Tensor, n: int, k: int, single: bool = False
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """The trace of the class-centred scatter of ``batches``' ``n`` normalised features (``means``
    per class) and its top ``k`` eigenpairs (eigenvalues descending, in float64), by the way
    :func:`eigen_route` chooses (``single``: float32 may solve them)."""
    route = eigen_route(n, means.shape[1], k, single)
    if route == "scatter":
        scatter = centred_scatter(batches, means)
        return float(scatter.trace()), *top_eigenpairs(scatter, k, single)
    rows = centred_rows(batches, means, n)
    trace = float(rows.pow(2).sum())  # before the SVD, which may use the rows as its workspace
    return trace, *(gram_eigenpairs(rows, k) if route == "gram" else svd_eigenpairs(rows, k))


def svd_eigenpairs(rows: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``k`` eigenpairs of ``rows.T @ rows`` (the scatter of the centred ``rows``) from
    the rows' SVD: its squared singular values and right singular vectors, in float64. ``rows``
    is the SVD's workspace."""
    _, values, vectors_t = scipy.linalg.svd(
        rows.numpy(), full_matrices=False, overwrite_a=True, check_finite=False
    )
    values = torch.from_numpy(values[:k].astype(np.float64))
    return values.pow(2), torch.from_numpy(vectors_t[:k].T.copy())


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

"""Confidence you can act on: ``train``'s last step fits calibrated probabilities and an
"unknown" answer (:func:`fit_confidence`).

Both are fitted on the validation split's cached outputs, never on test, from the three modules
that own each part: the temperature (``calibration``), a feature score on the body's features
(``unknown_scores``: kNN, Mahalanobis, ViM, their standardised sum) and the threshold below which
the answer is "unknown" (``thresholds``). What ``train`` keeps of the fit is a
:class:`FittedConfidence`.

Pure functions; nothing here prints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import torch
from torch import nn

from objrec.calibration import TemperatureFit, before_and_after, overconfidence, temperature_fit
from objrec.thresholds import choose_threshold, top_probability
from objrec.unknown_scores import (
    SCORE_OPTIONS,
    Batches,
    Readable,
    SumScore,
    fit_feature_score_batches,
    in_batches,
)

log = logging.getLogger(__name__)


@dataclass
class FittedConfidence:
    """What ``train`` fits after the head: the temperature, the unknown score and its threshold."""

    temperature: float
    score: str
    threshold: float
    familiarity: nn.Module | None
    """The feature-space score's module (None for ``msp``)."""
    valid_ece: tuple[float, float]
    """Validation ECE before and after the temperature."""
    temperature_fit: TemperatureFit | None = None
    """How the temperature was chosen (the plain fit, and why it was kept at 1 if it was)."""
    valid_loss: tuple[float, float] | None = None
    """Validation loss (:func:`mean_nll`) before and after the temperature."""
    ece_chance: float | None = None
    """The validation ECE exactly calibrated probabilities would show by chance
    (:func:`ece_by_chance`): ``valid_ece`` below it is too noisy to judge."""
    n_valid: int = 0
    """Validation images it was all measured on."""
    valid_over: float | None = None
    """:func:`overconfidence` on the validation images after the temperature."""


def threshold_values(
    score: str, probs: torch.Tensor, familiarity: torch.Tensor | None
) -> torch.Tensor:
    """What the threshold applies to: the top (calibrated) probability, or the feature score."""
    if score == "msp" or familiarity is None:
        return top_probability(probs)
    return familiarity


def as_batches(source: Batches | tuple[torch.Tensor, torch.Tensor]) -> Batches:
    """A :data:`Batches` source from itself or from (features, labels) in memory."""
    return in_batches(*source) if isinstance(source, tuple) else source


@torch.inference_mode()
def fit_confidence(
    head: nn.Module,
    train: Batches | tuple[torch.Tensor, torch.Tensor],
    valid: Batches | tuple[torch.Tensor, torch.Tensor],
    score: str,
) -> FittedConfidence:
    """Fit the feature score on the training features, the temperature on the validation features'
    outputs, and the threshold on the validation images (``choose_threshold``). Both sets are read
    batch by batch, ``train`` once for each statistic of the score (twice for a Mahalanobis
    score: the class means, then the scatter; four times for the default ``mahalanobis+knn``:
    its class sample's labels, then its rows, then the Mahalanobis part's two) and ``valid`` twice
    for a summed score (to standardise its parts, then for the outputs): what stays in memory is
    the score's own size and, per validation image, its outputs and score, never every feature at
    once. A source that computes its features (a fine-tuned run's) should hold them
    (``train.FeatureSource``).

    The features are the final model's (for a fine-tuned run, its tuned body's), and ``head`` its
    final head. A feature score is returned rescaled (``Readable``): its threshold is then 0."""
    options = SCORE_OPTIONS.get(score, {})
    raw = fit_feature_score_batches(score, as_batches(train), head=head, **options)
    summed = (
        raw.standardised_scores(as_batches(valid), SCORE_CHUNK)
        if isinstance(raw, SumScore)
        else None
    )
    logits, valid_y, feature_scores = valid_outputs(head, as_batches(valid), raw, summed)
    with torch.inference_mode(False):
        chosen = temperature_fit(logits.clone(), valid_y.clone())
    temperature = chosen.temperature
    probs = (logits / temperature).softmax(1)
    values = threshold_values(score, probs, feature_scores)
    threshold = choose_threshold(values, probs.argmax(1) == valid_y)
    familiarity = None
    if raw is not None and feature_scores is not None:
        familiarity, threshold = Readable.fitted(raw, feature_scores, threshold), 0.0
    ece, loss, chance = before_and_after(logits.softmax(1), probs, valid_y)
    # familiarity's threshold is 0 by its definition: the raw score's says where it fell
    raw_threshold = threshold if familiarity is None else float(familiarity.offset)
    where = "" if familiarity is None else " (familiarity 0)"
    log.info(
        "temperature %.3f, %s threshold %.4f%s, valid ECE %.4f -> %.4f, loss %.4f -> %.4f",
        *(temperature, score, raw_threshold, where, *ece, *loss),
    )
    fitted = FittedConfidence(temperature, score, threshold, familiarity, ece, chosen, loss)
    over = overconfidence(probs, valid_y)
    return replace(fitted, ece_chance=chance, n_valid=len(valid_y), valid_over=over)


SCORE_CHUNK = 128
"""Images per call of a feature score while calibrating: the Mahalanobis scores hold a few
(images, features) float64 arrays at once (4 MB each at 3,840 features)."""


def score_in_chunks(
    score: nn.Module, features: torch.Tensor, chunk: int = SCORE_CHUNK
) -> torch.Tensor:
    """``score(features)``, ``chunk`` images per call: a Mahalanobis forward holds a few
    (images, features) float64 arrays at once, so memory stays that of a chunk (4 MB each in
    chunks of 128 of 3,840 features) whatever the number of images (154 MB each for 5,000 in one
    call, a whole folder's for ``suggest``)."""
    if len(features) <= chunk:
        return score(features)
    return torch.cat([score(part) for part in features.split(chunk)])


def valid_outputs(
    head: nn.Module,
    batches: Batches,
    familiarity: nn.Module | None,
    scores: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The head's logits, the labels and the feature score (if any) of every validation image;
    ``scores``: the feature scores, already computed (``familiarity`` is then not called)."""
    logits, labels, computed = [], [], []
    head.eval()
    for x, y in batches():
        logits.append(head(x.float()))
        labels.append(y)
        if familiarity is not None and scores is None:
            computed.append(score_in_chunks(familiarity, x))
    if computed:
        scores = torch.cat(computed)
    return torch.cat(logits), torch.cat(labels), scores if familiarity is not None else None

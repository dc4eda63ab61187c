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

from objrec.calibration import (
    MIN_ERRORS_TO_SHARPEN,
    TemperatureFit,
    before_and_after,
    calibration_words,
    overconfidence,
    temperature_fit,
)
from objrec.meta import typical_image
from objrec.metrics import answered
from objrec.thresholds import choose_threshold, resting_words, threshold_values
from objrec.unknown_scores import (
    SCORE_OPTIONS,
    Batches,
    Readable,
    SumScore,
    fit_feature_score_batches,
    in_batches,
)
from objrec.words import clauses_on_lines, plural

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
    scaled_on: str = "validation"
    """The images a familiarity of 1 is typical of (``meta.Calibration.scaled_on``)."""


def reads_training_features(score: str) -> bool:
    """Whether :func:`fit_confidence` reads the training features for the unknown ``score``: a
    feature score is fitted on them (and its familiarity may be scaled on them); the top
    probability (``msp``) needs none, so a fine-tuned run need not run its tuned blocks over
    every training image for it (``batches.FeatureSource``)."""
    return score != "msp"


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
    once. A source that computes its features (a fine-tuned run's) should compute them once
    and keep them on disk (``batches.FeatureSource``, ``batches.SpilledBatches``).

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
    threshold = choose_threshold(values, answered(probs) == valid_y)
    familiarity, scaled_on = None, "validation"
    if raw is not None and feature_scores is not None:
        familiarity, scaled_on = rescaled_familiarity(
            raw, feature_scores, threshold, as_batches(train)
        )
        threshold = 0.0
    ece, loss, chance = before_and_after(logits.softmax(1), probs, valid_y)
    # familiarity's threshold is 0 by its definition: the raw score's says where it fell
    raw_threshold = threshold if familiarity is None else float(familiarity.offset)
    where = "" if familiarity is None else " (familiarity 0)"
    log.info(
        "temperature %.3f, %s threshold %.4f%s, valid ECE %.4f -> %.4f, loss %.4f -> %.4f",
        *(temperature, score, raw_threshold, where, *ece, *loss),
    )
    fitted = FittedConfidence(temperature, score, threshold, familiarity, ece, chosen, loss)
    over, n = overconfidence(probs, valid_y), len(valid_y)
    return replace(fitted, ece_chance=chance, n_valid=n, valid_over=over, scaled_on=scaled_on)


def rescaled_familiarity(
    raw: nn.Module, valid_scores: torch.Tensor, threshold: float, train: Batches
) -> tuple[Readable, str]:
    """``raw`` rescaled (``Readable``): 0 at ``threshold``, 1 at the median validation image;
    where the validation images' scores have no spread to scale it by (one image, or copies that
    score alike, half of them or more: the median is then the lowest score, the threshold just
    below it, and their gap, 1e-6 of the score, no scale), 1 at the median training image
    instead, which a warning says. With the images it was scaled on: ``validation`` or
    ``training`` (``meta.Calibration.scaled_on``)."""
    if float(valid_scores.double().quantile(0.5)) > float(valid_scores.min()):
        return Readable.fitted(raw, valid_scores, threshold), "validation"
    n = len(valid_scores)
    alike = (
        "the only validation image gives"
        if n == 1
        else f"{n} validation images, half of them or more alike, give"
    )
    log.warning(
        "the familiarity score is scaled on the training images (a typical one scores 1): "
        "%s no spread of scores to scale it on, so its figures are rougher than usual; more "
        "validation images (more photos per class) fix it",
        alike,
    )
    scores = torch.cat([score_in_chunks(raw, x) for x, _ in train()])
    return Readable.fitted(raw, scores, threshold), "training"


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


def calibrated_line(fitted: FittedConfidence) -> str:
    """What ``train`` says after calibrating, in plain words: how the probabilities were adjusted
    (:func:`adjusted_words`), when predict answers "unknown", and how many validation images
    that threshold was chosen on (few make it shaky: ``thresholds.resting_words``)."""
    unknown = (
        f"whose top probability is below {fitted.threshold:.4f}"
        if fitted.familiarity is None
        else "unlike the training images (its familiarity, a score of how much it looks like "
        f"them, is below 0, the run's threshold; {typical_image(fitted.scaled_on)} scores 1)"
    )
    line = f'{adjusted_words(fitted)}; predict answers "unknown" for an image {unknown}'
    if not fitted.n_valid:  # a FittedConfidence that does not say
        return line
    return f"{line}; that threshold was {resting_words(fitted.n_valid)}"


def calibration_note(fitted: FittedConfidence) -> str:
    """What ``train`` says after calibrating: :func:`calibrated_lead` first, ending in a colon,
    then the details (:func:`calibrated_line`), each clause on a line of its own under it."""
    lead, line = calibrated_lead(fitted), calibrated_line(fitted)
    if not lead:
        return clauses_on_lines(line)
    said = clauses_on_lines(f"{lead}; {line}")  # the lead's own line, the details under it
    return said.replace("closer look);", "closer look):", 1)


def calibrated_lead(fitted: FittedConfidence) -> str:
    """The sentence a user acts on, said before the calibration's details: nothing to do, and,
    where so few validation images make the threshold shaky, what would steady it. A teacher read
    the four clauses of ECE, chance and threshold and could not tell whether to act
    (newcomer64b); the details stay, under it. "" for a :class:`FittedConfidence` that does not
    say how many validation images it was fitted on."""
    from objrec.enough import FEWEST_FOR_A_THRESHOLD

    n = fitted.n_valid
    if not n:
        return ""
    images = plural(n, "validation image")
    said = f'probabilities and "unknown" set on the {images}: nothing to do'
    closer = "(the lines below are for a closer look)"
    if n >= FEWEST_FOR_A_THRESHOLD:
        return f"{said} {closer}"
    return f'{said} now, though more photos per class would make "unknown" steadier {closer}'


def unsharpened_words(chosen: TemperatureFit) -> str:
    """Why the probabilities were not made surer, in plain words rather than the fitting's terms
    (those are in summary.json's ``kept_at_1``): too few validation mistakes to learn from, or a
    temperature that fits only its own images' noise (``TemperatureFit.overfitted``), which would
    not help new images (1.174 lowered a newcomer's validation loss by 0.006 and raised the test
    loss by 0.012). The second says which way the temperature would have moved them, so that an
    "over-confident" beside it does not read as a fault left unfixed (newcomer60)."""
    if chosen.overfitted:
        how = "less sure" if chosen.fitted > 1 else "surer"
        return (
            f"a temperature of {chosen.fitted:.3f}, fitted on half the validation images, did "
            f"not lower the other half's loss: making them {how} would not help new images"
        )
    made = "none" if not chosen.errors else f"only {chosen.errors}"
    return (
        f"making them surer takes at least {MIN_ERRORS_TO_SHARPEN} mistakes on the validation "
        f"images to learn from, and the model made {made}"
    )


def adjusted_words(fitted: FittedConfidence) -> str:
    """How the probabilities were adjusted: made surer or less sure by the temperature, left as
    they are (a temperature of 1, and why the rule kept it there when it did), and how far they
    are from how often the model is right on the validation images (:func:`validation_gap`).
    The temperature minimises the validation images' loss (``calibration.temperature_fit``), not
    the ECE, which it can leave higher (1.107: 0.0105, 0.0045 before): the line says how far the
    loss fell."""
    chosen = fitted.temperature_fit
    if chosen and chosen.kept_at_one:
        why = unsharpened_words(chosen)
        return f"probabilities left as the model gives them ({why}); {validation_gap(fitted)}"
    if f"{fitted.temperature:.3f}" == "1.000":  # "rescaled (temperature 1.000)" said nothing
        return (
            "probabilities left as the model gives them (no rescaling needed); "
            f"{validation_gap(fitted)}"
        )
    how = "less sure" if fitted.temperature > 1 else "surer"
    made = f"probabilities made {how} (temperature {fitted.temperature:.3f}"
    if fitted.valid_loss is not None:
        n = fitted.n_valid
        made += f", chosen on the {n:,} validation images: it lowers their loss from "
        made += f"{fitted.valid_loss[0]:.4f} to {fitted.valid_loss[1]:.4f})"
    else:  # a FittedConfidence without the losses
        wider = fitted.valid_ece[1] > fitted.valid_ece[0]
        made += ", the one that lowers the validation images' loss most)" if wider else ")"
    return f"{made}; {validation_gap(fitted, before=True)}"


def validation_gap(fitted: FittedConfidence, before: bool = False) -> str:
    """The calibration gap on the validation images in evaluate's words
    (``calibration.calibration_words``), ``before`` the temperature too when asked: too noisy to
    judge when within what exactly calibrated probabilities show there by chance, so that train
    and evaluate agree: a first run's 20 validation images are not "19.76 percentage points off
    how often the model is right" where evaluate of the same images says "too noisy to judge ...
    up to 33.19 points by chance"."""
    was, ece = fitted.valid_ece
    earlier = was if before else None
    words = calibration_words(ece, fitted.n_valid, fitted.ece_chance, earlier, fitted.valid_over)
    return f"on the validation images, {words}"

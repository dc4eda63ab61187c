"""Calibration: probabilities that say how often the model is right, and whether they do.

**Temperature scaling** (Guo et al., 2017): the model's log-probabilities are divided by one
temperature ``T`` fitted to minimise the validation negative log-likelihood (never below 1 from
fewer than 10 validation errors: ``MIN_ERRORS_TO_SHARPEN``). The top-1 class never changes; the
probabilities say how often the model is right. Here too what judges it (the expected calibration
error, its reliability table, the error exactly calibrated probabilities would show by chance) and
the words that say so (:func:`gap_verdict`, :func:`calibration_words`).

Fitted at the end of ``train`` (``confidence.fit_confidence``) on the validation split's cached
outputs, never on test. Pure functions; nothing here prints.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from objrec.metrics import answered
from objrec.optimizers import PlainLBFGS
from objrec.words import plural, points

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


ECE_NAME = "called the expected calibration error"
"""How the gap's sentence names it: in plain words first, then, called so, the term an expert knows,
said as a name (a student read "the expected calibration error" as one more thing to know)."""
ECE_SAME = 0.0025
"""Calibration errors (ECE, a share) before and after the temperature closer than this (a quarter
of a percentage point) are said to be about the same: a gap such as 7.39 points against 7.26 is
no reason to act, and calling one of them closer would leave a user wondering whether to (for a
temperature that lowers the validation loss only from 0.1574 to 0.1573, say)."""


def gap_verdict(before: float, after: float, chance: float | None = None) -> str:
    """What the temperature did to the calibration gap (ECE) on some images, as train and
    evaluate say it: ``noisy`` (both within ``chance``, what exact calibration shows by chance
    there), ``same`` (less than :data:`ECE_SAME` apart), ``wider`` (the temperature is fitted to
    the loss, not this gap) or ``narrower``."""
    if chance is not None and max(before, after) <= chance:
        return "noisy"
    if abs(after - before) < ECE_SAME:
        return "same"
    return "wider" if after > before else "narrower"


def calibration_words(
    ece: float,
    n: int,
    chance: float | None,
    before: float | None = None,
    over: float | None = None,
) -> str:
    """The calibration gap (ECE, a share) on ``n`` images in words, in points, as train, evaluate,
    the report and the model card all say it: ``before`` the temperature when given, with
    :func:`gap_verdict`'s verdict, and too noisy to judge when within ``chance``
    (:func:`ece_by_chance`). One rule for the four places, so that train does not print "19.76
    percentage points off how often the model is right" where evaluate, on the same 20 images,
    says "too noisy to judge ... up to 33.19 points by chance". ``over``
    (:func:`overconfidence`), when given, says which way: "differ by 15.30 points, and left so"
    alone does not say whether to trust the percentages more or less."""
    gap = (
        f"how sure the model says it is and how often it is right differ by {points(ece)} on "
        "average"
    )
    verdict = gap_verdict(ece if before is None else before, ece, chance)
    if verdict == "noisy":
        was = "" if before is None else f"; {points(before)} before"
        return (
            f"{gap} ({ECE_NAME}{was}), too noisy to judge on "
            f"{plural(n, 'image')}: a model exactly as sure as it is right would show up to "
            f"{points(chance or 0)} by chance"
        )
    gap += f" (0 would be perfect; {ECE_NAME})"
    if before is None:  # not "noisy": more than chance shows, or chance not measured
        return gap + which_way(over, ece)
    gap += beyond_chance(ece, n, chance)
    said = {
        "same": f": the temperature changed it little (less than {points(ECE_SAME)})",
        "wider": ": the model's own were closer (the temperature is fitted to the loss, not this "
        "gap)",
    }
    return f"{gap}, {points(before)} before{said.get(verdict, '')}{which_way(over, ece)}"


def beyond_chance(ece: float, n: int, chance: float | None) -> str:
    """How the gap compares with what exactly calibrated probabilities show on ``n`` images by
    chance, for :func:`calibration_words` ("" where not known): said apart from what the
    temperature changed, since a gap the temperature left about the same may still be more than
    chance explains (28.82 points off where chance explains 20)."""
    if chance is None or not math.isfinite(chance):
        return ""
    than = "more than" if ece > chance else "within"
    return f", {than} the {points(chance)} chance alone would show on {plural(n, 'image')}"


def overconfidence(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """The mean top probability less the share of top answers right (a share, signed): above 0
    the model is surer than it is right (over-confident), below 0 less sure (under-confident),
    the direction the ECE, a mean of absolute gaps, does not say."""
    if len(labels) == 0:
        return float("nan")
    top = probs.max(1)
    return float(top.values.double().mean() - (top.indices == labels).double().mean())


def which_way(over: float | None, ece: float) -> str:
    """Which way the probabilities are off, and how to read them, for :func:`calibration_words`;
    "" where unknown or within :data:`ECE_SAME` of none. ``over`` is a second figure beside the
    gap ``ece`` on the same images, and smaller: the gaps of the levels of sureness, some one way
    and some the other, taken together. Said so, with ``ece`` named: "differ by 8.22 points on
    average" then "(1.85 points on average)" read as two answers to one question (newcomer60)."""
    if over is None or not abs(over) >= ECE_SAME:  # nan too
        return ""
    how, sure, trust = ("under", "less sure", "more") if over < 0 else ("over", "surer", "less")
    return (
        f"; {how}-confident: overall, {points(abs(over))} {sure} than it is right "
        f"({100 * ece:.2f} averages the gap at each level of sureness, either way): trust its "
        f"answers a little {trust}"
    )


MIN_ERRORS_TO_SHARPEN = 10
"""A temperature below 1 (sharper probabilities) is fitted only from at least this many validation
errors. The errors are what bounds the sharpening: with none, the cross-entropy keeps falling as
``T`` -> 0 and every answer, an unknown image's closest class too, reads 100%; with a few, ``T`` is
set by those few images. Ten events per fitted parameter is the usual floor for a logistic fit
(Peduzzi et al., 1996); softening (``T`` > 1) is always allowed: it only lowers confidence."""


@dataclass(frozen=True)
class TemperatureFit:
    """The temperature used, the maximum-likelihood one, and why they differ when they do."""

    temperature: float
    fitted: float
    """The plain maximum-likelihood temperature (:func:`fit_temperature_mle`)."""
    errors: int
    """Top-1 errors on the validation set it was fitted on."""
    kept_at_one: str | None = None
    """Why the temperature was kept at 1 instead of ``fitted`` (None when it was not)."""
    held_out: float | None = None
    """The loss a temperature fitted on half the validation images took off the other half
    (:func:`held_out_gain`), None where not measured (the fit kept at 1 by ``errors``)."""

    @property
    def overfitted(self) -> bool:
        """Kept at 1 because a temperature did not help the images it was not fitted on."""
        return self.kept_at_one is not None and self.held_out is not None

    def to_json(self) -> dict[str, Any]:
        """As a run's ``summary.json`` holds it (``calibration``), in this order."""
        return {
            "temperature": self.temperature,
            "fitted_temperature": self.fitted,
            "validation_errors": self.errors,
            "kept_at_1": self.kept_at_one,
            "held_out_gain": self.held_out,
        }

    @classmethod
    def from_json(cls, data: Any) -> TemperatureFit | None:
        """The calibration a ``summary.json`` holds (:meth:`to_json`; ``runs.load_run``); None
        where it holds none (a run written before it was calibrated)."""
        if not isinstance(data, Mapping) or "temperature" not in data:
            return None
        temperature = float(data["temperature"])
        held_out = data.get("held_out_gain")
        return cls(
            temperature,
            float(data.get("fitted_temperature", temperature)),
            int(data.get("validation_errors") or 0),
            data.get("kept_at_1"),
            None if held_out is None else float(held_out),
        )


def temperature_fit(logits: torch.Tensor, labels: torch.Tensor) -> TemperatureFit:
    """The temperature ``T`` that minimises the cross-entropy of ``softmax(logits / T)``, but 1
    when the validation set has fewer than :data:`MIN_ERRORS_TO_SHARPEN` top-1 errors to sharpen
    from, or when ``T`` fitted on half the validation images does not lower the other half's loss
    (:func:`held_out_gain`: the fit follows its images' noise, and would on new images too).
    One validation image in all has no other half: its fit is used unchecked, as said in the
    log."""
    fitted = fit_temperature_mle(logits, labels)
    errors = int((answered(logits.detach()) != labels.detach()).sum()) if len(labels) else 0
    why = too_few_errors(fitted, errors)
    if why is not None:
        log.info("temperature kept at 1 (fitted %.3f): %s", fitted, why)
        return TemperatureFit(1.0, fitted, errors, why)
    if len(labels) < 2:
        log.info(
            "temperature %.3f used unchecked: one validation image in all leaves none to hold out",
            fitted,
        )
        return TemperatureFit(fitted, fitted, errors)
    gain, _ = held_out_gain(logits, labels, errors >= MIN_ERRORS_TO_SHARPEN)
    if not gain > 0:
        why = held_out_words(gain)
        log.info("temperature kept at 1 (fitted %.3f): %s", fitted, why)
        return TemperatureFit(1.0, fitted, errors, why, gain)
    return TemperatureFit(fitted, fitted, errors, None, gain)


def held_out_words(gain: float) -> str:
    """Why a temperature that did not help held-out images is not used, for ``kept_at_1``."""
    if gain < 0:
        return (
            f"fitted on half the validation images, it raises the other half's loss by {-gain:.4f}"
        )
    return "fitted on half the validation images, it does not lower the other half's loss"


def too_few_errors(fitted: float, errors: int) -> str | None:
    """Why a temperature ``fitted`` below 1 is not used (:data:`MIN_ERRORS_TO_SHARPEN`), if so."""
    if fitted < 1.0 and errors < MIN_ERRORS_TO_SHARPEN:
        return f"{plural(errors, 'validation error')}, {MIN_ERRORS_TO_SHARPEN} needed to sharpen"
    return None


def halves(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation images' indices in two halves, no random draw: the images in order of
    class (each class's in their order) alternately, so every class of two or more is in both;
    the alternation runs on across classes, each class going on from where the one before it
    stopped (0, 1, 2 / 3, 4 / ...: 0, 2, 4 / 1, 3). Alternating within each class
    alone started every class in the first half: with one validation image a class, the second
    half was empty and nothing was held out (review62c M1)."""
    order = torch.sort(labels, stable=True).indices
    first = order[0::2].sort().values
    return first, order[1::2].sort().values


def held_out_gain(
    logits: torch.Tensor, labels: torch.Tensor, sharpen: bool = True
) -> tuple[float, float]:
    """What a fitted temperature does to the loss of images it was not fitted on: ``T`` fitted on
    one half of the validation images (:func:`halves`; at least 1 unless ``sharpen``, as
    :data:`MIN_ERRORS_TO_SHARPEN` decides for the whole) lowers the loss of the other half by
    this much, both ways, averaged over the images; and that mean's standard error. At or below
    0 the temperature fits its own images' noise: on 8 Caltech-101 classes of 30 photos one
    lowered the validation loss by 0.006 and raised the test loss by 0.012."""
    logits, labels = logits.detach().double(), labels.detach()
    gains = []
    for fit_on, judged in itertools.permutations(halves(labels)):
        t = fit_temperature_mle(logits[fit_on], labels[fit_on])
        t = t if sharpen else max(t, 1.0)
        judged_logits, judged_labels = logits[judged], labels[judged]
        plain = F.cross_entropy(judged_logits, judged_labels, reduction="none")
        scaled = F.cross_entropy(judged_logits / t, judged_labels, reduction="none")
        gains.append(plain - scaled)
    gain = torch.cat(gains)
    if len(gain) < 2:
        return 0.0, float("inf")
    return float(gain.mean()), float(gain.std() / math.sqrt(len(gain)))


def fit_temperature_mle(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The maximum-likelihood temperature alone (clamped to [0.05, 20]). On a perfectly separated
    set the likelihood keeps rising as ``T`` shrinks, so there is no optimum: the value is
    wherever LBFGS stops (0.30-0.38 on the demo's sample, below 0.1 on a test's), seldom the
    clamp's 0.05."""
    logits, labels = logits.detach().double(), labels.detach()
    if len(labels) == 0:
        return 1.0
    log_t = torch.zeros((), dtype=torch.double, requires_grad=True)
    optimizer = PlainLBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    temperature = float(log_t.detach().exp().clamp(0.05, 20.0))
    return temperature if math.isfinite(temperature) else 1.0


def calibration_bins(
    probs: torch.Tensor, labels: torch.Tensor, bins: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-1 confidence binned into ``bins`` equal-width bins: each bin's mean confidence and
    accuracy (float64) and its count (int64)."""
    confidence, predicted = probs.max(1)
    correct = (predicted == labels).double()
    index = (confidence.double() * bins).long().clamp(max=bins - 1)
    count = torch.bincount(index, minlength=bins).double()
    conf_sum = torch.bincount(index, weights=confidence.double(), minlength=bins)
    right = torch.bincount(index, weights=correct, minlength=bins)
    return (
        (conf_sum / count.clamp(min=1)).numpy(),
        (right / count.clamp(min=1)).numpy(),
        count.long().numpy(),
    )


def reliability_table(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> pd.DataFrame:
    """Top-1 confidence binned into ``bins`` equal-width bins: mean confidence, accuracy, count."""
    confidence, accuracy, count = calibration_bins(probs, labels, bins)
    import pandas as pd  # not at import time: predict and serve never need it

    return pd.DataFrame(
        {
            "low": np.arange(bins) / bins,
            "high": np.arange(1, bins + 1) / bins,
            "confidence": confidence,
            "accuracy": accuracy,
            "count": count,
        }
    )


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over equal-width bins
    (:func:`calibration_bins`; without pandas, which ``train``'s calibration would otherwise
    import for it alone: 0.25 to 0.5 s of a warm retrain)."""
    if len(labels) == 0:
        return float("nan")
    confidence, accuracy, count = calibration_bins(probs, labels, bins)
    return float((np.abs(confidence - accuracy) * count).sum() / count.sum())


def mean_nll(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """The loss of ``probs`` on ``labels``: the mean negative log-likelihood of the true class,
    what the temperature is fitted to minimise (a proper score: lowest for the true
    probabilities), and unlike the ECE not binned."""
    if len(labels) == 0:
        return float("nan")
    picked = probs.double().gather(1, labels[:, None]).squeeze(1)
    return float(-picked.clamp(min=1e-300).log().mean())


def ece_by_chance(
    probs: torch.Tensor, bins: int = 15, repeats: int = 20_000, quantile: float = 0.95
) -> float:
    """The calibration error (:func:`expected_calibration_error`) that exactly calibrated
    probabilities would still show on these images by chance: the ``quantile`` of its
    ``repeats`` draws (a fixed seed) when each image is right with its top probability. 15 bins
    of 53 images (a user's validation split) give about 0.09 for probabilities near 0.95,
    10,000 images 0.016. An ECE below it cannot tell probabilities from exactly calibrated ones.

    A bin's gap depends only on how many of its images are right, whose exact distribution
    (:func:`count_right`) is drawn from: 20,000 draws cost 0.1 s at 10,000 images, where 200
    draws of every image were 7% low on s0's test split (0.0141 for 0.0151) and 2,000 took 1.4 s.
    """
    if len(probs) == 0:
        return float("nan")
    confidence = probs.detach().double().max(1).values.numpy()
    index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    generator = np.random.default_rng(0)
    gaps = np.zeros(repeats)
    for b in np.unique(index):  # the bins are independent: their gaps add up
        sure = confidence[index == b]
        chances = count_right(sure)
        gaps += np.abs(sure.sum() - generator.choice(len(chances), repeats, p=chances))
    return float(np.quantile(gaps, quantile)) / len(confidence)


def count_right(chances: np.ndarray) -> np.ndarray:
    """The probability that 0, 1, ... of images right with these ``chances`` are right (the
    Poisson binomial distribution): their Bernoulli distributions convolved pairwise, long ones
    through the FFT (10,000 images: 20 ms)."""
    parts = [np.array([1 - p, p]) for p in chances]
    while len(parts) > 1:
        paired = [convolved(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = paired + parts[2 * len(paired) :]
    return parts[0] / parts[0].sum()


def convolved(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.convolve(a, b)`` of two distributions, through the FFT past 256 values (its tiny
    negative rounding errors set to 0)."""
    if min(len(a), len(b)) <= 256:
        return np.convolve(a, b)
    n = len(a) + len(b) - 1
    return np.fft.irfft(np.fft.rfft(a, n) * np.fft.rfft(b, n), n).clip(min=0)


def before_and_after(
    before: torch.Tensor, after: torch.Tensor, labels: torch.Tensor
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """The ECE and the loss of the probabilities ``before`` and ``after`` the temperature, and
    the ECE exactly calibrated ones would show on as many images by chance."""
    ece = (expected_calibration_error(before, labels), expected_calibration_error(after, labels))
    return ece, (mean_nll(before, labels), mean_nll(after, labels)), ece_by_chance(after)

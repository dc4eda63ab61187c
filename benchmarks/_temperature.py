"""A helper module, not a script (hence the leading underscore): the temperatures the benchmarks
compare with objrec's, kept out of ``objrec.calibration``, whose one temperature is
``temperature_fit``'s (a second definition in the library invited the wrong one: review55a L5).

Imported by the scripts beside it (``from _temperature import fit_temperature``): Python puts a
script's own folder first on ``sys.path``.
"""

from __future__ import annotations

import torch

from objrec.calibration import fit_temperature_mle, temperature_fit, too_few_errors


def allowed_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The rule before the held-out check: the maximum-likelihood temperature, or 1 where
    ``calibration.too_few_errors`` to sharpen."""
    fitted = fit_temperature_mle(logits, labels)
    errors = int((logits.argmax(1) != labels).sum())
    return 1.0 if too_few_errors(fitted, errors) else fitted


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature objrec chooses (``calibration.temperature_fit``), as a number."""
    return temperature_fit(logits, labels).temperature

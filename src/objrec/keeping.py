"""The unknown threshold that keeps a share of the run's validation images a user chooses ("say
unknown for at most 5% of my own photos"), and how far the share new photos keep may stray
from it.

The run's own threshold keeps about 99% of photos like its classes' (``thresholds.
choose_threshold``), and ``evaluate --unknown`` offers one keeping 95%; a user weighing their own
costs had no way to ask for 98% or 90%. The threshold is chosen on the validation images only,
as the run's own was, never on the test images, which stay an honest measure of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from objrec.cache import stores_held
from objrec.config import EvaluateConfig
from objrec.devices import resolve_device
from objrec.errors import ObjrecError
from objrec.inference import Recognizer
from objrec.metrics import wilson_interval
from objrec.open_set import ValidImages, valid_images
from objrec.paths import PathGiven
from objrec.progress import Reporter, or_silent
from objrec.thresholds import below_threshold, keeping_threshold
from objrec.words import plural


@dataclass(frozen=True)
class KeepingThreshold:
    """The threshold that keeps ``keep`` of the run's validation images (:func:`threshold_keeping`).

    Give ``threshold`` to predict, serve, export or the exported script as their threshold. The
    share of new photos of the run's classes it keeps is not ``kept`` exactly: ``kept_low`` to
    ``kept_high`` is where it lies, 95 times in 100, given how few validation images it rests
    on (the Wilson interval of ``kept`` of ``validation_images``); a handful of new photos
    strays further still, by chance alone."""

    threshold: float
    """The familiarity (or top probability, for an ``msp`` run) below which the answer is
    unknown."""
    keep: float
    """The share of the validation images asked to be kept."""
    kept: float
    """The share of them it keeps (at least ``keep``'s whole images: 124 of 130 for 0.95)."""
    validation_images: int
    """How many validation images it was chosen on."""
    kept_low: float
    """The 95% interval of the share of new photos of the run's classes it keeps: low end."""
    kept_high: float
    """... and high end."""

    @property
    def words(self) -> str:
        """``threshold 0.39 keeps 95.38% of the 130 validation images; on new photos of its
        classes expect 90.3%-97.9% kept (95% interval, from 130 images)``."""
        images = plural(self.validation_images, "validation image")
        spread = f"{self.kept_low:.1%}-{self.kept_high:.1%}"
        return (
            f"threshold {self.threshold!r} keeps {self.kept:.2%} of the {images}; on new photos "
            f"of its classes expect {spread} kept (95% interval, from {self.validation_images} "
            "images)"
        )


def kept_share(scores_kept: int, n: int, keep: float, threshold: float) -> KeepingThreshold:
    """The :class:`KeepingThreshold` of ``threshold``, which keeps ``scores_kept`` of ``n``
    validation images, asked to keep ``keep``."""
    low, high = wilson_interval(scores_kept / n, n)
    return KeepingThreshold(threshold, keep, scores_kept / n, n, low, high)


def threshold_keeping(
    run: PathGiven,
    keep: float = 0.95,
    *,
    device: str = "auto",
    cache_dir: PathGiven | None = None,
    reporter: Reporter | None = None,
) -> KeepingThreshold:
    """The unknown threshold that keeps ``keep`` (0.98: 98%) of the run's validation images
    and says unknown for the rest, with how far the share new photos keep may stray from it.

    Args:
        run: the run folder (or checkpoint file); its split folder's ``valid`` images are read
            (from the feature store, as ``evaluate`` reads them).
        keep: the share of the validation images to keep, above 0 and below 1.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        cache_dir: where frozen features are cached (default: the run's).
        reporter: receives progress (None: nothing is shown).
    """
    if not 0 < keep < 1:
        raise ObjrecError(f"`keep` is a share above 0 and below 1 (0.95 keeps 95%), not {keep}")
    with stores_held():
        recognizer = Recognizer.load(run, device=resolve_device(device))
        config = EvaluateConfig(split="valid", device=device, cache_dir=cache_dir)
        valid = valid_images(recognizer, config, or_silent(reporter))
    return from_valid(Path(run), valid, keep)


def from_valid(run: Path, valid: ValidImages | str, keep: float) -> KeepingThreshold:
    """:func:`threshold_keeping`'s threshold from ``valid`` (the run's validation images, or why
    there are none: :func:`open_set.valid_images`' words)."""
    if not isinstance(valid, ValidImages):
        why = valid or "its model answers no unknown (trained with it off)"
        raise ObjrecError(f"no threshold can be chosen for {run}: {why}")
    threshold = keeping_threshold(valid.scores, keep)
    n = len(valid.scores)
    if threshold is None:
        raise ObjrecError(
            f"keeping {keep:.2%} of {run}'s {plural(n, 'validation image')} leaves none "
            f"out: ask for a smaller share (at most {1 - 1 / n:.2%} with {n})"
        )
    kept = len(valid.scores) - int(below_threshold(valid.scores, threshold).sum())
    return kept_share(kept, n, keep, threshold)

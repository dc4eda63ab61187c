"""Whether a difference counted on few images is more than chance: one rule, an exact binomial
test on the images whose answer changed, for ``evaluate --against`` (two runs, McNemar's test)
and for the stricter unknown threshold's trade (``thresholds.threshold_trade``). Pure functions
of counts, without PyTorch: ``evaluation_metrics`` judges an older ``metrics.json``'s advice by
it as it reads one (SciPy loads only then)."""

from __future__ import annotations

CHANCE = 0.05
"""A difference between two runs is said to be within chance when two equally good runs would
show one at least as uneven more often than this (1 time in 20): :func:`changed_by_chance`."""


def changed_by_chance(fixed: int, broken: int, share: float = 0.5) -> float:
    """McNemar's exact test on the images only one run got right (``fixed``: only the new run,
    ``broken``: only the old): were both runs equally good, each such image would be as likely
    either way, so the split is binomial (``fixed + broken``, 1/2). Returns the two-sided p-value:
    how often two equally good runs split at least this unevenly (1.0 when none changed). The
    images both got right or both wrong say nothing about which run is better, so a 1-image
    change among 111 test images is 1 image, p = 1, however many points it reads as. ``share``:
    the chance a change goes the ``fixed`` way between two equally good choices when they are
    weighed on two folders of unequal size (a stricter unknown threshold's trade,
    :func:`trade_by_chance`: the unknown images' share of both folders)."""
    from scipy.stats import binomtest  # imported here: scipy.stats takes a while to import

    n = fixed + broken
    return float(binomtest(fixed, n, share).pvalue) if n else 1.0


def trade_by_chance(
    lost: tuple[int, int], n_known: int, caught: tuple[int, int], n_unknown: int
) -> float:
    """How often a threshold no better at telling the unknown images from the ``n_known`` known
    ones would trade at least this unevenly (the two-sided p-value), from the counts a stricter
    threshold newly loses and newly catches (``lost``, ``caught``: at the run's threshold and at
    it): the rule ``evaluate --against`` says "within chance" by
    (:func:`changed_by_chance`: an exact binomial test on the images whose answer changed,
    McNemar's when the two folders are of one size), each image it newly says unknown a stranger
    with the chance of the unknown images' share of both folders: a trade of an image or two
    either way is a coin flip."""
    share = n_unknown / max(n_known + n_unknown, 1)
    return changed_by_chance(caught[1] - caught[0], lost[1] - lost[0], share)

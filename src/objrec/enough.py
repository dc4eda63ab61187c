"""How many images a figure rests on before it is worth reading: the three "few" numbers of
objrec, each named by what it gates, in one place.

* :data:`FEWEST_TO_TRUST` (3): a class's results on fewer distinct photos are "too few to trust"
  (evaluate, report) or "too few to judge by" (split's warning, evaluate's unknown alarm, the
  stricter threshold's recommendation).
* :data:`FEWEST_WITHOUT_INTERVAL` (10): a class's top-1 on fewer is shown with its 95% interval.
* :data:`FEWEST_FOR_A_THRESHOLD` (100): a threshold, or the advice to take a stricter one, chosen
  on fewer images is shaky.

Plain numbers, imported by ``split`` and ``check`` as by ``evaluate``: this module imports
nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

FEWEST_TO_TRUST = 3
"""The fewest distinct photos a class's results on a split rest on to be worth reading (one or two
right or wrong say 0% or 100%, or 50%): as many as ``split`` needs of a whole class for its default
ratios (``ratios.min_class_size``, held equal by a test), so that the split it makes by default
gives every class this many to be judged by. ``evaluate`` calls a class evaluated on fewer "too
few to trust" (:func:`too_few_to_trust`), ``split`` warns of a class it gives fewer valid or test
photos, and evaluate's alarm of classes said mostly unknown calls them too few to judge by."""

FEWEST_WITHOUT_INTERVAL = 10
"""A class evaluated on fewer distinct images than this has its top-1 shown with its 95% interval
(``top1_low``, ``top1_high``: ``metrics.wilson_interval``) in evaluate's table and the report: one
image is over 10 points of it, and 3 right of 4, "75%", would likely lie anywhere from 30% to 95%
on many more photos. ``check`` names a class folder's small classes a default split tests on
fewer."""

FEWEST_FOR_A_THRESHOLD = 100
"""Under this many images a threshold, or the advice to take a stricter one, is shaky, and objrec
says so where it states or recommends one (``thresholds.resting_words``). Under 200 validation
images the run's threshold sits just below the least familiar right answer
(``thresholds.choose_threshold``), and the share of new photos of the known classes below the
least of ``n`` draws is, at 95%, up to 1 - 0.05^(1/n): 3% at 100 images, 8% at 36, 14% at 20 (1%
expected at 100). A share of ``n`` unknown images moves 100/n points per image, with a 95% margin
of up to about 1/sqrt(n): 10 points at 100 images, 31 at 10, where one image more or less caught
can turn the recommendation."""


def too_few_to_trust(per_class: pd.DataFrame) -> pd.Series:
    """Whether each row of a per-class table (its ``n_groups``: distinct photos, near-duplicates
    such as a burst's frames counted once) rests on fewer than :data:`FEWEST_TO_TRUST`: the
    ``too_few_to_trust`` column of ``per_class.csv``, the report's shading, evaluate's warning."""
    return per_class["n_groups"] < FEWEST_TO_TRUST

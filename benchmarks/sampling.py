"""The fixed images a benchmark times: a seeded sample of a class folder, the same every run.

Imported by the scripts beside it (``from sampling import seeded_sample``): Python puts a
script's own folder first on ``sys.path``.
"""

from __future__ import annotations

import random
from pathlib import Path

from objrec.data import Sample, scan_class_folder


def seeded_sample(folder: Path, n: int, seed: int = 0) -> list[Sample]:
    """The first ``n`` images of class folder ``folder`` (e.g. a split's ``train/``) after a
    shuffle seeded with ``seed``: every class drawn from, and the same images on every run."""
    samples = list(scan_class_folder(folder).samples)
    random.Random(seed).shuffle(samples)
    return samples[:n]

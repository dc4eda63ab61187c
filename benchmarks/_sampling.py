"""A helper module, not a script (hence the leading underscore): the fixed images a benchmark
times, a seeded sample of a class folder, the same every run, and the command line that chooses
them (``sample_parser``: ``--data``, the split folder, is a parameter of every script using it).

Imported by the scripts beside it (``from _sampling import seeded_sample``): Python puts a
script's own folder first on ``sys.path``. ``SPLIT`` and ``SPLIT_HELP`` (every script's ``--data``)
import nothing of objrec, for the scripts that run objrec only as a command.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from objrec.data import Sample

SPLIT = Path("/work/splits/s0")
"""The default ``--data``: split seed 0 of the 100-class protocol, where the team's benchmarks
run; anyone else makes one as README.md's "Reproduce these figures" says and passes it."""

SPLIT_HELP = (
    "a split folder of the 100-class Caltech-101 protocol [default: /work/splits/s0, the team's; "
    'make your own as benchmarks/README.md, "Reproduce these figures", says]'
)


COMPILE = (
    "import compileall, os, objrec; folder = os.path.dirname(objrec.__file__); "
    "compileall.compile_dir(folder, quiet=1); print(folder)"
)


def compiled_objrec(env: dict[str, str]) -> str:
    """Byte-compile the objrec that a process with ``env`` imports (``__pycache__`` beside its
    sources, as Python writes it at a first import, or pip when it installs), so that the
    commands a benchmark times read its bytecode, as a user's do from their second run on.
    Where ``PYTHONDONTWRITEBYTECODE`` is set (this project's machines) no bytecode is ever
    written, and each ``objrec`` process compiled objrec's sources again at its start: 0.2 to
    0.4 s of CPU that a user does not pay (benchmarks/README.md, "A warm retrain second by
    second"). Returns the package folder compiled."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", COMPILE], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def timed(work: Any) -> float:
    """Seconds ``work()`` took on the wall clock."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def seeded_sample(folder: Path, n: int, seed: int = 0) -> list[Sample]:
    """The first ``n`` images of class folder ``folder`` (e.g. a split's ``train/``) after a
    shuffle seeded with ``seed``: every class drawn from, and the same images on every run."""
    from objrec.data import scan_class_folder  # here: the scripts that run objrec as a command
    # import SPLIT from this module, and must not import objrec (or torch) themselves

    samples = list(scan_class_folder(folder).samples)
    random.Random(seed).shuffle(samples)
    return samples[:n]


def sample_parser(
    doc: str | None, images: int, repeats: int | None = None, split: str = "train"
) -> argparse.ArgumentParser:
    """A parser described by the script's ``doc``, with ``--data`` (a split folder), ``--images``
    (how many images of its ``split`` the script takes) and, unless ``repeats`` is None,
    ``--repeats``."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--images", type=int, default=images, help=f"{split} images used")
    if repeats is not None:
        parser.add_argument("--repeats", type=int, default=repeats, help="timed runs of each arm")
    return parser

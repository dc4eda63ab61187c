"""Which file of a group of copies is the original and which are its copies: one rule for
``check``, ``split`` and ``audit``, so that all three name the same file as the copy.

Sort order alone would call ``lamp/image_0004.jpg`` the copy of ``lamp/lamp_dup.jpg``. The
original is the file not named as a copy (:func:`copy_named`: ``X copy``, ``X (1)``,
``X_dup``, ...), then the one modified first (a copy made by ``cp`` or a file manager is newer;
one that keeps the time ties), then the first in the folder's order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from objrec.listing import path_order

COPY_MARKS = (
    re.compile(r"copy(?: \(\d+\))? of (.+)", re.IGNORECASE),
    re.compile(r"(.+?) \(\d+\)"),
    re.compile(r"(.+?)(?: - |[ _-])(?:copy|dup|duplicate)(?: ?\(?\d+\)?)?", re.IGNORECASE),
)
"""A file name (without suffix) that a system, a browser or a person gives a copy of another:
``Copy of X`` and ``Copy (2) of X`` (Windows), ``X (1)`` (browsers, Windows), ``X copy``,
``X copy 2`` (macOS), ``X - Copy`` (Windows), ``X-copy``, ``X_copy``, ``X_dup``, ``X_dup2``,
``X duplicate``."""
NUMBERED_COPY = re.compile(r"(.+)[_-]\d{1,2}")
"""``X_1`` or ``X-2``: a copy's name only where the group holds ``X`` too (``IMG_0001`` alone
is a camera's name)."""


def copy_named(stem: str, stems: frozenset[str] | set[str] = frozenset()) -> bool:
    """Whether ``stem`` (a file name without suffix) is named as a copy: one of ``COPY_MARKS``,
    or ``NUMBERED_COPY`` of another name in ``stems`` (casefolded)."""
    if any(mark.fullmatch(stem) for mark in COPY_MARKS):
        return True
    numbered = NUMBERED_COPY.fullmatch(stem)
    return numbered is not None and numbered[1].casefold() in stems


def modified(path: str | os.PathLike[str]) -> int:
    """When ``path`` (the file a link leads to) was last modified, in nanoseconds; 0 where it
    cannot be read (gone since it was listed), which then decides nothing."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def stems_of(paths: Sequence[Path]) -> set[str]:
    """The casefolded file names without suffix of a group, as :func:`copy_named` compares them."""
    return {Path(p).stem.casefold() for p in paths}


def originals_first(
    paths: Sequence[Path], rank: Callable[[Path], int] = lambda path: 0
) -> list[Path]:
    """A group of copies (same bytes, or alike), the original first: the lowest ``rank`` (a split
    folder's: train before valid before test), then a name not marked as a copy, then the file
    modified first, then the folder's order."""
    stems = stems_of(paths)
    return sorted(
        paths,
        key=lambda p: (rank(p), copy_named(p.stem, stems), modified(p), path_order(p)),
    )

"""The one type of a path the public API takes: a ``str`` or any ``os.PathLike[str]``
(``pathlib.Path``), as every example of docs/python-api.md passes a ``str``. Each public function
takes its paths so and makes each a ``Path`` once, where it is called; the modules below it work
with ``Path`` alone. A hint of ``Path`` alone made a type checker refuse the docs' own calls
(``objrec.train("data", "run")``) that ran."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import overload

PathGiven = str | os.PathLike[str]
"""A file or folder as a caller gives it: ``"data"``, ``Path("data")``."""

PathsGiven = PathGiven | Iterable[PathGiven]
"""One path (a file or folder) or several: a list, a tuple, a set, ``Path("photos").glob("*")``."""


@overload
def as_path(path: None) -> None: ...
@overload
def as_path(path: PathGiven) -> Path: ...
def as_path(path: PathGiven | None) -> Path | None:
    """``path`` as a ``Path``, None as None: an optional path parameter made a ``Path`` once."""
    return None if path is None else Path(path)

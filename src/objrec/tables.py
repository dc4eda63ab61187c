"""Reading the CSV tables a person writes or edits in a spreadsheet (an audit plan, a split's
groups file): the separator a spreadsheet chose, and the blank lines it leaves."""

from __future__ import annotations

import io
from typing import Any


def csv_separator(f: io.TextIOBase) -> str:
    """The table's separator: a comma, or the semicolon (or tab) a spreadsheet saves CSV with
    where its language writes decimal commas (German, French...), when its header has no comma."""
    header = f.readline()
    f.seek(0)
    return next((sep for sep in ",;\t" if sep in header), ",")


def blank_row(row: dict[Any, Any]) -> bool:
    """Whether every cell of a row is empty or spaces (cells past the header's too)."""
    cells = [v for k, v in row.items() if k is not None] + list(row.get(None) or ())
    return not any((cell or "").strip() for cell in cells)

"""How long-running library calls report progress without printing: the caller passes a Reporter.

The library calls ``task(description, total)`` and advances it; the CLI's reporter draws rich
progress bars and epoch lines, the default one does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Reporter:
    """The silent reporter, and the interface a display implements."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        """A unit of work of ``total`` steps; yields a callable ``advance(n=1)``."""
        yield lambda n=1: None

    def epoch(self, record: dict[str, Any]) -> None:
        """One finished epoch: its number, losses and accuracies."""

    def note(self, message: str) -> None:
        """A one-line message worth showing a person (also logged by the caller)."""


SILENT = Reporter()

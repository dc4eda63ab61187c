"""A file's warnings given once per command (a name that is not UTF-8, damaged EXIF data):
the block that remembers them (:func:`warned_once_per_file`), carried into threads
(:func:`carry_warned`) or held for another process (:func:`held_warnings`), and the warning
itself (:func:`warn_once`)."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import ParamSpec, TypeVar

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
_warned: ContextVar[set[tuple[str, str]] | None] = ContextVar("objrec_warned", default=None)
"""What was already warned about in the current :func:`warned_once_per_file` block: (kind, file)."""


@contextmanager
def warned_once_per_file() -> Iterator[None]:
    """Within this block (one library call: one command) each file is warned about once per kind
    (a name that is not UTF-8, damaged EXIF data), however often it is listed or opened: a command
    lists a folder more than once (``evaluate --unknown`` checks the folder before loading the
    model, ``report`` evaluates and then shows the training images) and opens an image several
    times (its facts, its features, the plot). A block inside another shares its memory; nothing
    outlives the outermost block, so a later call (or test) is warned again. Threads share it
    through :func:`carry_warned`. Usable as a decorator: ``@warned_once_per_file()``."""
    if _warned.get() is not None:
        yield
        return
    token = _warned.set(set())
    try:
        yield
    finally:
        _warned.reset(token)


def carry_warned(function: Callable[P, R]) -> Callable[P, R]:
    """``function``, run in any thread with this :func:`warned_once_per_file` block's memory of
    what was warned (a new thread, or a pool's, starts without it, and would warn again)."""
    warned = _warned.get()

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _warned.set(warned)
        try:
            return function(*args, **kwargs)
        finally:
            _warned.reset(token)

    return call


HeldWarning = tuple[str, "str | Path | None", str, tuple[object, ...]]
"""A :func:`warn_once` call held back (:func:`held_warnings`): kind, path, message, args."""
_held: ContextVar[list[HeldWarning] | None] = ContextVar("objrec_held", default=None)


@contextmanager
def held_warnings() -> Iterator[list[HeldWarning]]:
    """Within this block :func:`warn_once` logs nothing: its calls are appended to the list given,
    for another process to make (``warn_once(kind, path, message, *args)``), where they are logged
    where that process logs them, once per file as its own are."""
    held: list[HeldWarning] = []
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)


def warn_once(kind: str, path: str | Path | None, message: str, *args: object) -> None:
    """Log ``message`` unless this ``kind`` of warning about ``path`` was already given in this
    :func:`warned_once_per_file` block (always outside one, or for an upload: ``path`` None)."""
    held = _held.get()
    if held is not None:
        held.append((kind, path, message, args))
        return
    warned = _warned.get()
    key = (kind, os.path.abspath(path)) if path is not None else None
    if warned is None or key is None or key not in warned:
        log.warning(message, *args)
    if warned is not None and key is not None:
        warned.add(key)

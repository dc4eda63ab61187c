"""The Python API's earlier names, kept for one release with a :class:`DeprecationWarning`.

One name per thing across the CLI, its ``--json`` and Python: where a parameter or an attribute
was renamed to the name the others use (``data``, as the CLI's DATA; ``n_classes`` for a count),
its old name still works, warning, so that a script written against the earlier name runs while
it is changed. docs/python-api.md lists each old name that still works.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def warn_renamed(old: str, new: str) -> None:
    """The :class:`DeprecationWarning` of ``old``, now ``new``, pointed at the caller's line."""
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def renamed_attribute(owner: str, old: str, new: str) -> Any:
    """A read-only property ``old`` of class ``owner`` that gives its attribute ``new``, with a
    :class:`DeprecationWarning`."""

    def read(self: object) -> Any:
        warn_renamed(f"{owner}.{old}", f"{owner}.{new}")
        return getattr(self, new)

    return property(read, doc=f":attr:`{new}`, by its earlier name, with a DeprecationWarning.")


def renamed_arguments(
    *, public: str | None = None, **renames: str
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator taking each keyword argument named as a key of ``renames`` (the old name) as
    the parameter its value names, with a :class:`DeprecationWarning` naming the function as
    ``objrec`` exports it (``public``: ``suggest_images`` for ``suggest``); both given is a
    TypeError, as Python's for an argument given twice."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        name = public or function.__name__

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{name}() got both {old}= and {new}=: give {new}= alone")
                warn_renamed(f"{name}({old}=)", f"{name}({new}=)")
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return call

    return decorate

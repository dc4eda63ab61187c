"""Names a package gives whose modules are imported only when a name is first asked for."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, entry_points: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose names (``entry_points``: name ->
    module) are imported when first asked for, so that importing the package, or one of its
    light modules, imports nothing heavy.

    A package binds them under ``if not TYPE_CHECKING:``, beside a ``TYPE_CHECKING`` import of
    the same names: mypy then reads those imports, and refuses a name the package lacks, where a
    module ``__getattr__`` it could see would let any name through."""

    def get(name: str) -> Any:
        if name in entry_points:
            return getattr(importlib.import_module(entry_points[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def listed() -> list[str]:
        return sorted({*vars(sys.modules[package]), *entry_points})

    return get, listed

"""Names a package gives whose modules are imported only when a name is first asked for."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any


def lazy_names(
    package: str, entry_points: Mapping[str, str], listed: Collection[str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose names (``entry_points``: name ->
    module, or ``module:name`` where the module calls it otherwise) are imported when first
    asked for, so that importing the package, or one of its light modules, imports nothing heavy.

    A name once imported is kept in the package, so that the next lookup finds it there without
    this ``__getattr__``. ``__dir__`` gives ``listed`` where given (``objrec``'s public names),
    else the package's own names and its entry points.

    A package binds them under ``if not TYPE_CHECKING:``, beside a ``TYPE_CHECKING`` import of
    the same names: mypy then reads those imports, and refuses a name the package lacks, where a
    module ``__getattr__`` it could see would let any name through."""

    def get(name: str) -> Any:
        if name not in entry_points:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, own_name = entry_points[name].partition(":")
        value = getattr(importlib.import_module(module), own_name or name)
        vars(sys.modules[package])[name] = value  # past any __setattr__ the package has
        return value

    def names() -> list[str]:
        if listed is not None:
            return sorted(listed)
        return sorted({*vars(sys.modules[package]), *entry_points})

    return get, names

"""``add``: new photos into an existing split folder, each where ``split`` would have put it, one
module per stage.

``recipe`` runs the stages in order (``add_images``): what the add is given (``new``), its plan
(``plan``, placing each group by ``place``), writing it (``write``, and a killed add's repair,
``pending``), what it did and says (``result``: ``AddResult``).

Nothing is imported here: ``from objrec.add import add_images, AddResult`` imports their module
when the name is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from objrec.lazy import lazy_names

if TYPE_CHECKING:
    from objrec.add.recipe import add_images
    from objrec.add.result import AddResult

ENTRY_POINTS = {"add_images": "objrec.add.recipe", "AddResult": "objrec.add.result"}
"""Each name the package gives and the module that defines it."""

__all__ = ["AddResult", "add_images"]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_names(__name__, ENTRY_POINTS)

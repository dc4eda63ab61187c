"""``split``: a folder of class folders -> train/valid/test, stratified, seeded and duplicate-aware,
one module per stage.

``recipe`` runs the stages (``split_folder``): reading the source folder (``source``), what an
earlier split of it keeps (``like``), the output folder written and swapped in whole (``out``), how
the split was made, in ``split.json`` (``record``), and what it did and says (``result``:
``SplitResult``). What a split keeps together and where each group goes are ``grouping``'s and
``placement``'s, which ``add`` and ``evaluate`` read too.

Nothing is imported here: ``from objrec.split import split_folder, SplitResult`` imports their
module when the name is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from objrec.lazy import lazy_names

if TYPE_CHECKING:
    from objrec.split.recipe import split_folder
    from objrec.split.result import SplitResult

ENTRY_POINTS = {"split_folder": "objrec.split.recipe", "SplitResult": "objrec.split.result"}
"""Each name the package gives and the module that defines it."""

__all__ = ["SplitResult", "split_folder"]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_names(__name__, ENTRY_POINTS)

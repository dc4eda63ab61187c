"""``applying``: a reviewed audit plan applied to DATA, copied into a new folder (DATA itself is
never changed), one module per job.

``recipe`` runs the steps (``apply_plan``): the plan file read and checked (``plan_file``), which
rows are a person's decision (``decisions``), photos moved or renamed by hand since the audit
followed (``follow``), the relabels' class names checked (``classes``), where each image goes
(``targets``), DATA copied with it applied (``copy``), and what it did and says (``result``:
``AppliedPlan``). ``remember`` (``remember_plan``) remembers, in a copy made already, its plan's
relabels as the audit wrote them as a person's decisions.

Nothing is imported here: ``from objrec.applying import apply_plan, AppliedPlan`` imports their
module when the name is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from objrec.lazy import lazy_names

if TYPE_CHECKING:
    from objrec.applying.recipe import apply_plan
    from objrec.applying.remember import RememberedPlan, remember_plan
    from objrec.applying.result import AppliedPlan

ENTRY_POINTS = {
    "apply_plan": "objrec.applying.recipe",
    "AppliedPlan": "objrec.applying.result",
    "remember_plan": "objrec.applying.remember",
    "RememberedPlan": "objrec.applying.remember",
}
"""Each name the package gives and the module that defines it."""

__all__ = ["AppliedPlan", "RememberedPlan", "apply_plan", "remember_plan"]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_names(__name__, ENTRY_POINTS)

"""``audit``: likely wrong labels, copies, leaks across splits and outliers in a folder, and the
plan a person reviews, one module per job.

``recipe`` is the audit itself (``audit``, its settings ``AuditConfig`` from ``settings``, what it
found ``AuditResult``), which runs the jobs in turn: ``inventory`` (the folder's images, their
features and facts, one pass over the files), ``copies`` (near-duplicates and bursts grouped),
``distances`` (how far each image lies from its nearest), ``heads`` and ``labels`` (the label
check), ``outliers``; ``findings`` are what they found, as typed records, ``report`` writes them
and ``plan`` proposes what to do with each.

Nothing is imported here: ``from objrec.audit import audit, AuditConfig, AuditResult`` imports
``audit.recipe`` when the name is first asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from objrec.lazy import lazy_names

if TYPE_CHECKING:
    from objrec.audit.recipe import AuditConfig, AuditResult, audit

ENTRY_POINTS = {
    "AuditConfig": "objrec.audit.recipe",
    "AuditResult": "objrec.audit.recipe",
    "audit": "objrec.audit.recipe",
}
"""Each name the package gives and the module that defines it."""

__all__ = ["AuditConfig", "AuditResult", "audit"]

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_names(__name__, ENTRY_POINTS)

"""Which of a plan's rows are a person's decision: a label they kept or changed settles it
(:func:`settles_label`, remembered in ``reviewed.csv``), a relabel as the audit pre-filled it does
not (:func:`as_proposed`), but where ``accept`` took it (:data:`ACCEPTED`). What a row is, is read
from the columns the audit writes (``proposal``, ``suggested``, ``p_suggested``:
``audit.plan.PLAN_COLUMNS``); a row without them (an older plan's, a person's own) by its reason's
words, as before (``audit.plan.proposal_of``).
"""

from __future__ import annotations

import re

from objrec.audit.plan import (
    NOT_ABOUT_THE_LABEL,
    NOT_ABOUT_THE_LABEL_KINDS,
    RELABEL_KIND,
    REVIEW,
    SUGGESTED_CLASS,
    SUGGESTED_P,
    proposal_of,
)


def reviewed_by_hand(row: dict[str, str]) -> bool:
    """Whether a relabel row goes to another class than the one the audit suggested (its
    ``suggested``, else as its reason says: :data:`SUGGESTED_CLASS`), so that apply-plan does not
    flag a row a user set to pizza, "to pizza (p(suggested)=0.50)", the 0.50 being strawberry's,
    the audit's suggestion."""
    if proposal_of(row) is not None:
        suggested = (row.get("suggested") or "").strip()
        return bool(suggested) and suggested != row["new_class"].strip()
    found = SUGGESTED_CLASS.search((row.get("reason") or "").strip())
    return found is not None and found.group(1).strip() != row["new_class"].strip()


def suggested_p(row: dict[str, str]) -> float | None:
    """The suggested class's probability a plan row gives (its ``p_suggested``, else as its
    reason says: :data:`SUGGESTED_P`), if any."""
    if proposal_of(row) is not None:
        p = (row.get("p_suggested") or "").strip()
        try:
            return float(p) if p else None
        except ValueError:  # a person's text in the cell: as its reason says
            pass
    found = SUGGESTED_P.search(row.get("reason") or "")
    return float(found.group(1)) if found else None


def not_about_the_label(row: dict[str, str]) -> bool:
    """Whether a plan row is about copies, look-alikes, outliers or an unreadable file, not about
    the label (its ``proposal``: ``NOT_ABOUT_THE_LABEL_KINDS``, else its reason:
    :data:`NOT_ABOUT_THE_LABEL`)."""
    if (kind := proposal_of(row)) is not None:
        return kind in NOT_ABOUT_THE_LABEL_KINDS
    return NOT_ABOUT_THE_LABEL.match(row.get("reason") or "") is not None


ACCEPTED = "_accepted"
"""The mark :func:`with_accepted` puts on a row whose suggested class a person accepted: its
relabel is theirs (:func:`as_proposed` is False), remembered in ``reviewed.csv``."""


NOT_ACCEPTED = "_not_accepted"
"""The mark :func:`plan_file.with_accepted` puts on a label flag left to review whose suggested
class ``accept`` did not take (``AppliedPlan.not_accepted``)."""


MERGED_ALONG = "_merged_along"
"""The mark ``plan_file.merged_along`` puts on a row a merge relabels though the audit flagged it
otherwise (as a third class, as none) or kept it apart: its label follows its class, but nobody
judged its flag, so it is not remembered as settled."""


def settles_label(row: dict[str, str] | None) -> bool:
    """Whether a plan's ``row`` (None: none) is a label a person settled: a relabel a person
    made, or a keep of a row about the label (a relabel the person turned down, one kept to
    review) or of a person's own row. Not the keep of a row the audit wrote about copies,
    look-alikes or outliers (:data:`NOT_ABOUT_THE_LABEL`), which most apply untouched:
    remembered, it would let the next audit keep an outlier whose label is wrong as settled.
    Nor a ``review`` (the audit's, left undecided), nor a relabel as the audit proposed it
    (:func:`as_proposed`): a plan applied as it came must leave its flags, a wrong relabel's
    too, for later audits to flag again."""
    if row is None or row["action"] == REVIEW or as_proposed(row) or row.get(MERGED_ALONG):
        return False
    return row["action"] == "relabel" or not not_about_the_label(row)


PROPOSED_RELABEL = re.compile(r"heads and neighbours give p\(given\)=")
"""How the reason of a relabel the audit pre-fills begins: the flag's evidence as
``audit.labels.label_issue_rows`` words it, where a row to review begins ``review:`` and a
person's row has a reason of its own, or none."""


def as_proposed(row: dict[str, str]) -> bool:
    """Whether a plan's ``row`` is a relabel as the audit pre-filled it: its ``proposal`` a
    relabel (or none, in an older plan), its reason still the flag's evidence
    (:data:`PROPOSED_RELABEL`: a person who wrote their own words there made it theirs, as
    docs/audit.md says), its class the one the audit suggests (not :func:`reviewed_by_hand`).
    Applied, but remembered as nobody's decision: a plan's automatic relabel of a photo of
    nothing (p(suggested)=0.76) went into ``reviewed.csv``, and every later audit kept the wrong
    label as "settled by your earlier plans"."""
    reason = (row.get("reason") or "").strip()
    return (
        row["action"] == "relabel"
        and not row.get(ACCEPTED)
        and proposal_of(row) in (None, RELABEL_KIND)
        and PROPOSED_RELABEL.match(reason) is not None  # not a person's own words
        and not reviewed_by_hand(row)
    )

"""Which of a plan's rows are a person's decision: a label they kept or changed settles it
(:func:`settles_label`, remembered in ``reviewed.csv``), a relabel as the audit pre-filled it does
not (:func:`as_proposed`), but where ``accept`` took it (:data:`ACCEPTED`).
"""

from __future__ import annotations

import re

from objrec.audit.plan import NOT_ABOUT_THE_LABEL, REVIEW, SUGGESTED_CLASS, SUGGESTED_P


def reviewed_by_hand(row: dict[str, str]) -> bool:
    """Whether a relabel row goes to another class than the one its reason says the audit
    suggested (:data:`SUGGESTED_CLASS`), so that apply-plan does not flag a row a user set to
    pizza, "to pizza (p(suggested)=0.50)", the 0.50 being strawberry's, the audit's suggestion."""
    found = SUGGESTED_CLASS.search((row.get("reason") or "").strip())
    return found is not None and found.group(1).strip() != row["new_class"].strip()


def suggested_p(row: dict[str, str]) -> float | None:
    """The suggested class's probability a plan row's reason gives, if any (:data:`SUGGESTED_P`)."""
    found = SUGGESTED_P.search(row.get("reason") or "")
    return float(found.group(1)) if found else None


ACCEPTED = "_accepted"
"""The mark :func:`with_accepted` puts on a row whose suggested class a person accepted: its
relabel is theirs (:func:`as_proposed` is False), remembered in ``reviewed.csv``."""


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
    return row["action"] == "relabel" or not NOT_ABOUT_THE_LABEL.match(row.get("reason") or "")


PROPOSED_RELABEL = re.compile(r"heads and neighbours give p\(given\)=")
"""How the reason of a relabel the audit pre-fills begins: the flag's evidence as
``audit.labels.label_issue_rows`` words it, where a row to review begins ``review:`` and a
person's row has a reason of its own, or none."""


def as_proposed(row: dict[str, str]) -> bool:
    """Whether a plan's ``row`` is a relabel as the audit pre-filled it: its reason the flag's
    evidence (:data:`PROPOSED_RELABEL`), its class the one the evidence suggests (not
    :func:`reviewed_by_hand`). Applied, but remembered as nobody's decision: a plan's automatic
    relabel of a photo of nothing (p(suggested)=0.76) went into ``reviewed.csv``, and every later
    audit kept the wrong label as "settled by your earlier plans"."""
    reason = (row.get("reason") or "").strip()
    return (
        row["action"] == "relabel"
        and not row.get(ACCEPTED)
        and PROPOSED_RELABEL.match(reason) is not None
        and not reviewed_by_hand(row)
    )

"""The class names a plan's relabels give, checked against DATA's: spelt as DATA's folder
(:func:`as_data_classes`), refused when named like another but for case or likely misspelt
(:func:`refuse_look_alike_classes`, :func:`refuse_misspelt_relabels`), a new class warned of
(:func:`warn_new_classes`). The rules are ``data``'s; the sentences name the plan's lines.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from objrec.data import (
    alike_why,
    class_spelling,
    likely_misspelt,
    look_alikes,
    refuse_likely_misspelt,
    windows_warning,
)
from objrec.errors import ObjrecError
from objrec.words import plural, some_of

log = logging.getLogger(__name__)


def warn_new_classes(plan: dict[str, dict[str, str]], classes: set[str]) -> None:
    """Say which relabels go into a class DATA does not have: often a misspelt one; and which of
    those new classes Windows cannot hold (``data.windows_warning``: ``con``, ``barrel.``), as
    ``split`` does, since a copy of OUT to Windows would lose or rename the folder."""
    new = Counter(
        name
        for row in plan.values()
        if row["action"] == "relabel" and (name := row["new_class"].strip()) not in classes
    )
    for name, n in sorted(new.items()):
        log.warning(
            "the plan relabels %s into %s, a class the data does not have: it becomes a new class "
            "folder (check its spelling)",
            plural(n, "image"),
            name,
        )
    if unsafe := windows_warning(sorted(new)):  # as split warns of a class folder
        log.warning("%s", unsafe)


def as_data_classes(plan: dict[str, dict[str, str]], classes: set[str]) -> None:
    """Each relabel's new class, in place: the class of DATA whose name is its but for how the
    accents are encoded (NFC and NFD ``Café``: one name to a person) or for spaces at either end
    (new_class is read stripped, and DATA's ``green ``, a Mac's folder, is the class the audit's
    own plan names), as that folder is spelt, its exact name first; a new class, in NFC
    (``data.class_spelling``, ``add``'s rule too)."""
    as_spelt = class_spelling(classes)
    for row in plan.values():
        if row["action"] == "relabel":
            row["new_class"] = as_spelt(row["new_class"])


def refuse_look_alike_classes(
    plan_file: Path, plan: dict[str, dict[str, str]], classes: set[str]
) -> None:
    """Refuse a relabel into a class named like another (of DATA, or of an earlier row) but for
    case (``data.read_key``): one folder on macOS and Windows, where its images would join the
    other class while the manifest names them apart; DATA's ``green `` and a ``Green``, two
    classes that read alike, too. A name alike but for the spaces at its ends alone is DATA's
    class (:func:`as_data_classes`)."""
    new = [row for row in plan.values() if row["action"] == "relabel"]
    new = [row for row in new if row["new_class"] not in classes]
    for other, name, how in look_alikes([row["new_class"] for row in new], sorted(classes)):
        line = next(row["_line"] for row in new if row["new_class"] == name)
        raise ObjrecError(
            f"{plan_file} line {line}: new_class {name!r} and the class {other!r} differ only in "
            f"{how}, {alike_why(how)}: give both the same name, or two names"
        )


def refuse_misspelt_relabels(
    plan_file: Path, plan: dict[str, dict[str, str]], classes: set[str]
) -> None:
    """Refuse relabels into a new class named like one of DATA's (``sunflowr`` beside
    ``sunflower``), in ``add``'s words (``data.refuse_likely_misspelt``), naming their lines:
    the copy would hold a class folder of its own, without a word but a warning among others."""
    relabels = [row for row in plan.values() if row["action"] == "relabel"]
    likely = likely_misspelt({row["new_class"] for row in relabels}, classes)
    lines = sorted({int(row["_line"]) for row in relabels if row["new_class"] in likely})
    where = (
        f"{plan_file} {'line' if len(lines) == 1 else 'lines'} {some_of(list(map(str, lines)))}: "
    )
    refuse_likely_misspelt(likely, classes, where)

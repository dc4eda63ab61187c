"""The words objrec's messages are made of: counts with their nouns, lists of names cut short,
quoted names, durations, the one "is it X?" rule. Pure functions of their arguments, shared by the
library's sentences and the CLI's."""

from __future__ import annotations

import difflib
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def span(start: int, size: int, total: int) -> str:
    """Which of ``total`` things a batch of ``size`` from ``start`` (0-based) holds, for a bar's
    :meth:`Reporter.doing`: ``17-32 of 32``, ``5 of 8``. A counter that moves a batch at a time
    then says what it waits for, and its phases read in order (export's "OpenVINO's answers:
    32/96" then "objrec's answers: 48/96" would read as going back)."""
    last = min(start + size, total)
    return f"{start + 1}{f'-{last}' if last > start + 1 else ''} of {total}"


def with_distinct(n: int, distinct: int, noun: str | None = None) -> str:
    """``n`` images and, when fewer, how many are distinct (near-duplicates counted once): ``5 (1
    distinct)`` in a table; with ``noun``, in a sentence: ``5 images, 1 distinct``."""
    text = plural(n, noun) if noun else str(n)
    if distinct >= n:
        return text
    return f"{text}, {distinct} distinct" if noun else f"{text} ({distinct} distinct)"


def duration(seconds: float, tenths: bool = False) -> str:
    """A time for a progress line: ``8s``, ``6m09s``; ``tenths``: under 10 s with a tenth
    (``0.4s``: a head's epoch, where whole seconds said ``0s``)."""
    if tenths and seconds < 9.95:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def clauses_on_lines(sentence: str, width: int = 96) -> str:
    """``sentence`` with each of its clauses (joined by "; " outside brackets) on lines of its
    own, the later ones indented and each wrapped at ``width``: train's and demo's calibration
    note is four facts, too many for one line of 560 characters, and evaluate writes such facts
    on short indented lines too."""
    clauses, depth, start = [], 0, 0
    for i, char in enumerate(sentence):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and sentence.startswith("; ", i):
            clauses.append(sentence[start : i + 1])
            start = i + 2
    clauses.append(sentence[start:])
    lines = []
    for n, clause in enumerate(clauses):
        first = "" if n == 0 else "  "
        lines += textwrap.wrap(clause, width, initial_indent=first, subsequent_indent="    ")
    return "\n".join(lines)


def on_lines(text: str, whole: Sequence[str] = (), width: int = 96) -> str:
    """``text`` on lines of at most ``width`` characters, the later ones indented, as a terminal
    of 100 columns shows them whole (it cuts a longer line mid-word), each of ``whole`` (a
    command to copy, a path) and each `quoted command` kept on one line: export's line of ONNX
    Runtime was 409 characters."""
    for part in [*whole, *re.findall(r"`[^`]+`", text)]:
        text = text.replace(part, part.replace(" ", "\u00a0"))  # textwrap breaks at ASCII spaces
    lines = textwrap.wrap(
        text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
    )
    return "\n".join(lines).replace("\u00a0", " ")


def below_one(score: float) -> str:
    """``score`` (from 0 to 1, 1 the best: an AUROC) to two places, or to as many more as it
    takes, up to four, not to read as 1 when it is under: 0.996 shown "1.00, where 1 is always"
    would contradict 3 of 20 untaught photos given a class beside it."""
    for places in (2, 3, 4):
        shown = f"{score:.{places}f}"
        if score >= 1 or float(shown) < 1:
            return shown
    return "over 0.9999"


def three_places(ratio: float | None) -> str:
    """A precision, recall or F1 to three places, ``0.875``; ``-`` where it is undefined (None, as
    JSON has it, or NaN): the precision of a class never answered, which no answer made right or
    wrong."""
    return "-" if ratio is None or math.isnan(ratio) else f"{ratio:.3f}"


def points(share: float) -> str:
    """A share (or a change of one) in percentage points, ``24.00 points``: a calibration gap
    said as a share, "0.0105 off", read as a hundredth of a percent."""
    return f"{100 * share:.2f} points"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``n`` and ``noun`` in the right number for a message: ``1 image``, ``2 images``,
    ``1,542 classes``, ``3 entries``, ``5 epochs``; ``nouns`` gives any other plural."""
    if n == 1:
        return f"1 {noun}"
    if nouns is None:
        if noun.endswith(("s", "x")):  # "batch" -> "batches" needs nouns: "epoch" -> "epochs"
            nouns = noun + "es"
        elif noun.endswith("y") and noun[-2:-1] not in "aeiou":
            nouns = noun[:-1] + "ies"
        else:
            nouns = noun + "s"
    return f"{n:,} {nouns}"


NAMED = 10
"""A message names at most this many files or folders of one kind, then counts the rest."""


LIKELY = 0.75
"""How alike a name must be to a known one (difflib's ratio, case aside) for a message to ask
"is it X?". Measured on one-letter typos (a letter left out, added, changed or two swapped: 4 a
name, seed 0) of Caltech-101's 102 class names, every command's options, the commands and
the settings of train, split and evaluate (``benchmarks/close_match.py``): 0.75 suggests the name
meant for 99%, 100%, 98% and 97% of them (0.8: 96, 100, 95, 91%) and none of 51 class names for
the other 51 (0.6, click's and Python's own: 9 of 51, and '--out' for '--worts')."""


def close_match(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` is most likely a misspelling or a renaming of (case aside), if any:
    one rule for class names, options, commands and settings (:data:`LIKELY`)."""
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=LIKELY)
    return lowered[found[0]] if found else None


def is_it(name: str, candidates: Iterable[str]) -> str:
    """`` (is it X?)``, X the candidate ``name`` most likely means (:func:`close_match`), or
    nothing: how every message asks."""
    match = close_match(name, candidates)
    return f" (is it {match}?)" if match else ""


def quoted(name: str) -> str:
    """``name`` (a class, a file) as a list in a message says it: as it is, or in double quotes
    (a quote or backslash in it escaped by a backslash, as in JSON) when the list's own words
    would split or hide it: a comma or a semicolon, a space at either end, a leading quote, no
    character at all (``"crème, brûlée"``). ``classes: 7 (Cat, café, chien "dalmatien",
    tacheté, crème brûlée, ...)`` would read as 8 classes. A control character is left
    to the CLI, which shows every name's as ``\\x1b`` (docs/folders.md)."""
    plain = name == name.strip() and not name.startswith('"')
    if name and plain and "," not in name and ";" not in name:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def some_of(names: Sequence[str], limit: int = NAMED, *, quote: bool = True) -> str:
    """``names`` for a message, each :func:`quoted` (``quote``; False: items already worded,
    their names quoted): the first ``limit``, then ``and N more``; one more is named, as "and 1
    more" kept back a name in as many words (evaluate's classes too few to trust)."""
    shown = [quoted(name) for name in names] if quote else list(names)
    if len(shown) <= limit + 1:
        return ", ".join(shown)
    return ", ".join(shown[:limit]) + f" and {len(shown) - limit:,} more"


def grouped(labels: Mapping[str, str], limit: int = NAMED) -> str:
    """Names for a message, those sharing a label (``2 in train``) said once after them, each
    group in :func:`some_of`'s words: ``ant, bee (2 in train each); cat (1 in train)``. 80 of 101
    classes warned of as ``Faces (2 in valid, 2 in test), Leopards (2 in valid, 2 in test)...``
    said one count ten times and hid the other classes' counts behind "and 70 more"."""
    groups: dict[str, list[str]] = {}
    for name, label in labels.items():
        groups.setdefault(label, []).append(name)
    return "; ".join(
        f"{some_of(names, limit)} ({label}{' each' if len(names) > 1 else ''})"
        for label, names in groups.items()
    )


def joined(words: Sequence[str]) -> str:
    """Words in a sentence: ``a``, ``a and b``, ``a, b and c``."""
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def listed(values: Mapping[str, Any], spec: str = "") -> str:
    """A mapping for a message, each value formatted by ``spec``: ``train 18, valid 9, test 9``;
    ``listed(seconds, ".1f")``: ``features 1.9, fit 2.9``."""
    return ", ".join(f"{name} {value:{spec}}" for name, value in values.items())


def groups_words(groups: Sequence[Sequence[str]], shown: int = 3) -> str:
    """The first ``shown`` ``groups`` of copies, each its first two files (``cup/a.jpg =
    cup/b.jpg``, then how many more), the rest counted: split's log and the CLI's lines."""
    named = [
        " = ".join(group[:2]) + (f" and {len(group) - 2:,} more" if len(group) > 2 else "")
        for group in groups[:shown]
    ]
    rest = f"; and {plural(len(groups) - shown, 'more group')}" if len(groups) > shown else ""
    return "; ".join(named) + rest

"""How long-running library calls report progress without printing: the caller passes a Reporter.

The library calls ``task(description, total)`` and advances it; the CLI's reporter draws rich
progress bars and epoch lines, :class:`TqdmReporter` tqdm's for a Python caller, the default one
does nothing. ``plural`` counts things in messages; ``close_match`` is the one "is it X?" rule.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any


class Reporter:
    """The silent reporter, and the interface a display implements."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        """A unit of work of ``total`` steps; yields a callable ``advance(n=1)``."""
        yield lambda n=1: None

    def epoch(self, record: dict[str, Any]) -> None:
        """One finished epoch: its number, losses and accuracies."""

    def best_before(self, epoch: int, valid_loss: float) -> None:
        """The best epoch, and its validation loss, of those before the first this fit runs (a
        resumed run's, as recorded; the head's, before fine-tuning): told before that first."""

    def note(self, message: str) -> None:
        """A one-line message worth showing a person (also logged by the caller)."""

    def doing(self, what: str) -> None:
        """What the innermost task is doing now, in a few words, shown with its description
        until the next: for a step that counts nothing for a while (one long library call), so
        that its bar says why it stands still."""

    def counts(self, unit: str) -> None:
        """What the innermost task's steps are, shown after its count ("3/46 steps"), for a task
        whose steps are not the images its words name."""


SILENT = Reporter()


class Prefixed(Reporter):
    """``reporter``'s tasks and notes, each led by ``prefix``: the work of one command done again
    inside it, for another object, is told apart: ``evaluate --against``'s evaluation of the
    earlier run says "loading the model" and "writing the tables and plots" a second time, which
    unprefixed would read as though the first had been redone."""

    def __init__(self, reporter: Reporter, prefix: str) -> None:
        self.reporter, self.prefix = reporter, prefix

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        with self.reporter.task(self.prefix + description, total) as advance:
            yield advance

    def note(self, message: str) -> None:
        self.reporter.note(self.prefix + message)

    def doing(self, what: str) -> None:
        self.reporter.doing(what)

    def counts(self, unit: str) -> None:
        self.reporter.counts(unit)


COMPARE_PASSES = ("comparing images", "comparing turned and trimmed", "comparing crops")
"""The near-duplicate search's passes (``dedup.PAIR_PASSES``) as ``split`` and ``evaluate`` show
them (every image against every other, but those compared before: minutes for 60,000 images):
whole hashes, the images turned a quarter or half turn and with flat borders trimmed, then
centre crops and cut edges (``dedup.split_pairs``)."""


@contextmanager
def passes_from_first_step(
    reporter: Reporter, descriptions: Sequence[str]
) -> Iterator[Callable[[int, int], None]]:
    """``cli.output.task_from_first_step`` for work that passes over the same files once per
    description (split and add hash every file, then read each image): ``step(done, total)``,
    ``total`` being the files times the passes, shown as one task a pass that counts files (one
    task of two steps a file would say "hashing files: 12358/12358" of 6,179). ``done`` may jump
    (the files an add's store knew)."""
    with ExitStack() as stack:
        current: list[Any] = []  # the pass shown, its advance, the steps shown, its ExitStack

        def step(done: int, total: int) -> None:
            files = -(-total // len(descriptions))
            index = min(max(done - 1, 0) // max(files, 1), len(descriptions) - 1)
            if not current or current[0] != index:
                if current:
                    current[3].close()  # its last line before the next pass's first
                inner = stack.enter_context(ExitStack())
                advance = inner.enter_context(reporter.task(descriptions[index], files))
                current[:] = [index, advance, index * files, inner]
            current[1](done - current[2])
            current[2] = done
            if done >= total:
                current[3].close()  # done before the work that follows (add's copying)

        yield step


class TqdmReporter(Reporter):
    """Progress bars for a Python caller, drawn by tqdm (``tqdm.auto``: a widget in Jupyter with
    ipywidgets, a text bar elsewhere), on ``file`` (None: stderr): a bar per task (the pretrained
    network's pass over the images, hashing, predicting...), the bar of each epoch's batches
    cleared when it ends; one bar counting a fit's epochs, its latest losses and accuracies
    beside it; ``notes`` (a one-line message of the library's) above the bars, unless False::

        objrec.train("data", "run", reporter=objrec.TqdmReporter())
    """

    EPOCH_TASK = "epoch "
    """How the task of one epoch's batches is named (``engine.fit``): ``epoch 3``."""

    def __init__(self, file: Any = None, notes: bool = True) -> None:
        self.file, self.notes = file, notes
        self.epochs: Any = None
        """The bar counting the epochs of the fit going on (None between fits)."""
        self.best = float("inf")
        """The fit's lowest validation loss so far."""
        self.best_earlier = float("inf")
        """The best told by :meth:`best_before` (a resumed run's), for the next fit's bar."""
        self.bars: list[tuple[Any, str]] = []
        """Each task's bar and description, innermost last (:meth:`doing`)."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Any]:
        from tqdm.auto import tqdm  # not at import: the CLI draws its own bars

        per_epoch = description.startswith(self.EPOCH_TASK)
        if not per_epoch:
            self.end_fit()  # the fit is over: its epochs bar stays as it ended
        shown = self.UNCOUNTED if total is None else None  # tqdm's own bar where there is a total
        with tqdm(
            desc=description, total=total, leave=not per_epoch, file=self.file, bar_format=shown
        ) as bar:
            self.bars.append((bar, description))
            try:
                yield bar.update if total is not None else self.counting(bar)
            finally:
                self.bars.remove((bar, description))

    UNCOUNTED = "{desc} [{elapsed}]"
    """How a task without a total shows until it counts something: its description and the time
    it has taken ("loading the model [00:03]"), where tqdm drew "loading the model: 0it [00:03,
    ?it/s]"."""
    COUNTED = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}]"
    """How a task without a total shows once it counts: the count so far, and its rate."""

    def counting(self, bar: Any) -> Callable[[int], None]:
        """The ``advance(n=1)`` of ``bar``, a task without a total: its count is shown from the
        first step on (:data:`COUNTED`)."""

        def advance(n: int = 1) -> None:
            bar.bar_format = self.COUNTED
            bar.update(n)

        return advance

    def doing(self, what: str) -> None:
        if self.bars:
            bar, description = self.bars[-1]
            bar.set_description_str(f"{description}: {what}")

    def epoch(self, record: dict[str, Any]) -> None:
        """The epochs bar counts to ``record``'s epoch (a lower one starts the next fit's: the
        next head's) and shows its losses and accuracies, and the best validation loss so far."""
        from tqdm.auto import tqdm

        if self.epochs is not None and record["epoch"] <= self.epochs.n:
            self.end_fit()
        if self.epochs is None:
            shown = "{desc}: {n_fmt} [{elapsed}{postfix}]"  # no rate: seconds per epoch vary
            self.epochs = tqdm(desc="epochs", file=self.file, bar_format=shown)
            self.best = float("inf")  # a new fit's
        self.best = min(self.best, self.best_earlier, record["valid_loss"])
        self.best_earlier = float("inf")
        self.epochs.update(record["epoch"] - self.epochs.n)
        self.epochs.set_postfix_str(
            f"train loss {record['train_loss']:.4f} acc {record['train_acc']:.3f}, valid loss "
            f"{record['valid_loss']:.4f} acc {record['valid_acc']:.3f}, best {self.best:.4f}"
        )

    def best_before(self, epoch: int, valid_loss: float) -> None:
        """The best so far of the run the next fit resumes (``train --resume``): its bar's best
        starts there, not at the first epoch it runs (it showed that epoch's loss as the best)."""
        self.best_earlier = valid_loss

    def end_fit(self) -> None:
        """Close the epochs bar, if any, as it stands."""
        if self.epochs is not None:
            self.epochs.close()
            self.epochs = None

    def note(self, message: str) -> None:
        """``message`` above the bars (the library's notes come between a fit and the next
        step: the fit's epochs bar ends as it stands, its last line not run into by the note)."""
        self.end_fit()
        if self.notes:
            from tqdm.auto import tqdm

            tqdm.write(message, file=self.file or sys.stderr)  # the bars' file: drawn again below


def or_silent(reporter: Reporter | None) -> Reporter:
    """``reporter``, or for None the silent one: the public functions' default (``reporter=None``
    reads as such in their signatures, where ``SILENT`` read ``<Reporter object at 0x...>``)."""
    return SILENT if reporter is None else reporter


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


IN_RESULT = "objrec_in_result"
"""The ``extra`` key marking a logged warning that the returned result says too (a field of it):
the CLI leaves such records out, as it prints its own sentence from the result (naming its
options), so that a warning is shown once."""


def log_result_warnings(logger: logging.Logger, sentences: Iterable[str]) -> None:
    """Log each of ``sentences`` at WARNING, marked ``IN_RESULT``: a Python caller sees what the
    CLI shows from the same result."""
    for sentence in sentences:
        logger.warning("%s", sentence, extra={IN_RESULT: True})

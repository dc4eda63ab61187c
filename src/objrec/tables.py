"""Reading the CSV tables a person writes or edits in a spreadsheet (an audit plan, a split's
groups file): the separator a spreadsheet chose, and the blank lines it leaves."""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Collection
from pathlib import Path
from typing import Any

from objrec.errors import ObjrecError

CSV_ENCODING = "utf-8-sig"
"""The encoding of every CSV objrec writes with words in it (class names, paths): UTF-8 that
starts with its byte-order mark, by which Excel knows it is UTF-8 (without it, Excel shows
``Café`` as ``CafÃ©``, and saves it so). Read back with the same encoding, which takes a file
with the mark or without it."""


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""The first characters by which a spreadsheet takes a CSV cell for a formula (OWASP's "CSV
injection"): a file or class named ``=HYPERLINK(...)`` or ``-2+3`` would run as one in Excel."""


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as written into a CSV objrec writes: a text a spreadsheet would take for a
    formula (:data:`FORMULA_STARTS`, a file named ``=cmd.png``) gets a ``'`` before it, as OWASP
    advises, so that it is shown as text and runs nothing; one that starts with ``'`` before such
    a character gets one more, so that :func:`exact_cell` gives every text back as it was. Any
    other value as it is (a number's minus sign too)."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def exact_cell(text: str) -> str:
    """A cell's text as it was before :func:`spreadsheet_cell`: the ``'`` it put before a text
    that starts like a formula taken off; any other text as it is."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text


def spreadsheet_frame(table: Any) -> Any:
    """A copy of the pandas ``table`` with :func:`spreadsheet_cell` on every text cell, its
    index and its column names (a confusion matrix is labelled by class)."""
    from pandas.api.types import is_numeric_dtype

    table = table.copy()
    for column in [c for c in table.columns if not is_numeric_dtype(table[c])]:
        table[column] = table[column].map(spreadsheet_cell)
    table.index = table.index.map(spreadsheet_cell)
    table.columns = table.columns.map(spreadsheet_cell)
    return table


def write_table(table: Any, path: Path, index: bool = False) -> None:
    """The pandas ``table`` written as a CSV objrec writes: in :data:`CSV_ENCODING`, its texts
    safe to open in a spreadsheet (:func:`spreadsheet_frame`); ``index`` writes its index too."""
    spreadsheet_frame(table).to_csv(path, index=index, encoding=CSV_ENCODING)


def read_text(path: Path, what: str, raw: bytes | None = None) -> str:
    """The text of the table ``what`` (e.g. "an audit plan") at ``path``, decoded whole (a
    spreadsheet's "CSV UTF-8" byte-order mark dropped): a byte that is not UTF-8 is named by its
    line and its place in the file, not in a reader's chunk of it. ``raw``: the file's bytes,
    read already (:func:`read_bytes`), decoded instead of reading it again."""
    raw = read_bytes(path, what) if raw is None else raw
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = bom + exc.start
        line = raw[:at].count(b"\n") + 1
        raise ObjrecError(
            f"{path} is not {what} in UTF-8 (byte {raw[at]:#04x} at {at} is not UTF-8 text, on "
            f"line {line}): a spreadsheet's plain CSV may be in another encoding; save it as CSV "
            "UTF-8"
        ) from None


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of the table ``what`` at ``path``; a sentence naming it when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ObjrecError(f"cannot read {what} {path}: {exc}") from exc


def csv_separator(f: io.TextIOBase) -> str:
    """The table's separator: a comma, or the semicolon (or tab) a spreadsheet saves CSV with
    where its language writes decimal commas (German, French...), when its header has no comma."""
    header = f.readline()
    f.seek(0)
    return next((sep for sep in ",;\t" if sep in header), ",")


def csv_records(
    text: str, path: Path, then: str
) -> tuple[list[str], list[tuple[int, dict[Any, Any]]]]:
    """The header of the CSV ``text`` read from ``path`` (comma, semicolon or tab separated:
    :func:`csv_separator`), and each of its rows that is not blank with the line it ends on: a
    quoted cell may hold line breaks, so a row's number among the rows is not its line. A text the
    csv module cannot read (a cell longer than its 131,072-character limit, a quote left open
    before one) is refused naming ``path`` and the line, then ``then``, what to do."""
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f, delimiter=csv_separator(f))
        try:
            rows = [(reader.line_num, row) for row in reader if not blank_row(row)]
            return list(reader.fieldnames or ()), rows
        except csv.Error as exc:
            line = reader.reader.line_num  # the DictReader's own counts the rows it gave
            raise ObjrecError(
                f"{path}, line {line}: cannot be read as CSV ({exc}): {then}"
            ) from None


def blank_row(row: dict[Any, Any]) -> bool:
    """Whether every cell of a row is empty or spaces (cells past the header's too)."""
    cells = [v for k, v in row.items() if k is not None] + list(row.get(None) or ())
    return not any((cell or "").strip() for cell in cells)


def slashed(path: str, known: Collection[str]) -> str:
    """``path``, named in a table, with a Windows path's backslashes (``oak\\img_1.jpg``, as
    Explorer's "Copy as path" or a script run on Windows writes it) read as ``/`` when only so
    it is one of ``known``: on Linux and macOS a backslash may be part of a file's name, and a
    name that is one of ``known`` as written is kept as written."""
    if "\\" not in path or path in known:
        return path
    posix = path.replace("\\", "/")
    return posix if posix in known else path


SPREADSHEET_ENCODINGS = ("cp1252", "mac_roman")
"""The encodings a spreadsheet reads a CSV without a byte-order mark in (Excel on Windows in
western Europe and America, and on a Mac), where objrec's text is UTF-8."""


def misread(text: str, known: Collection[str]) -> str | None:
    """The one of ``known`` that ``text`` is, garbled by a spreadsheet that read UTF-8 in its own
    encoding and saved what it showed (``CafÃ©`` for ``Café``); None when it is none of them.
    ``known`` and the repaired text are compared in NFC."""
    for encoding in SPREADSHEET_ENCODINGS:
        try:
            repaired = unicodedata.normalize("NFC", text.encode(encoding).decode("utf-8"))
        except UnicodeError:
            continue
        if repaired != text and repaired in known:
            return repaired
    return None


def misread_sentence(where: str, text: str, meant: str) -> str:
    """The one sentence for a table whose ``text`` (on the line ``where`` names: file and line)
    is ``meant`` garbled (:func:`misread`)."""
    return (
        f"{where}: {text!r} is {meant!r} with its accents garbled, as a spreadsheet garbles a "
        "UTF-8 file it read in another encoding: fix the names (or start again from the file "
        'objrec wrote) and save it as CSV UTF-8 (in Excel: Save As, "CSV UTF-8")'
    )

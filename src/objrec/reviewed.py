"""The labels a person settled by applying an audit plan, remembered for the next audit.

``apply-plan`` writes ``OUT/reviewed.csv`` (beside a split folder's ``manifest.csv``, or among a
photo folder's class folders): a row per image its plan relabelled, or kept by a row about its
label or a person's own (``applying.decisions.settles_label``), by content digest, as the feature
store names files, with the class the image has in OUT, and the rows of DATA's own ``reviewed.csv``
for the images it still copies. ``split`` carries a photo folder's into the split
folder it writes, each row's file now the image's path there. The next audit of OUT (or of a
folder ``add`` grew from it, or of its split) reads it: a label flag on an image whose label a
person settled keeps the label, as a reason that says so, instead of pre-filling a relabel that
would undo the earlier review. In one loop of three rounds, the second audit pre-filled 11
relabels, 10 of them images the first review had kept as they were (right labels of look-alike
classes: ketch and schooner, lotus and water lily, lobster and crayfish).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from objrec.errors import ObjrecError
from objrec.outputs import staged_file
from objrec.tables import CSV_ENCODING, csv_separator, read_text
from objrec.words import plural

if TYPE_CHECKING:
    from objrec.audit.findings import LabelIssue
    from objrec.audit.inventory import Inventory

log = logging.getLogger(__name__)

REVIEWED_FILE = "reviewed.csv"
REVIEWED_COLUMNS = ("digest", "class", "file")
"""``digest``: the image's content digest (``file_index.hash_file``); ``class``: the label a person
settled; ``file``: where the image was, in the folder written then (for a person reading it)."""


def read_reviewed(folder: Path) -> dict[str, tuple[str, str]]:
    """``folder/reviewed.csv`` as digest -> (class, file); empty when there is none."""
    path = Path(folder) / REVIEWED_FILE
    if not path.is_file():
        return {}
    with io.StringIO(read_text(path, "a list of reviewed labels"), newline="") as f:
        reader = csv.DictReader(f, delimiter=csv_separator(f))
        rows = list(reader)
        if not {"digest", "class"} <= set(reader.fieldnames or ()):
            raise ObjrecError(
                f"{path} is not a list of reviewed labels: it needs the columns digest and class "
                "(apply-plan writes it; delete it to forget the earlier reviews)"
            )
    return {row["digest"]: (row["class"], row.get("file") or "") for row in rows if row["digest"]}


def write_reviewed(
    data: Path,
    out: Path,
    targets: Mapping[Path, Path | None],
    settled: Collection[Path],
    at: int,
    digests: Mapping[str, str] | None = None,
) -> int:
    """``out/reviewed.csv``: each image of ``data`` a plan row settled (``settled``, of
    ``targets``: its path in ``data`` -> its path in ``out``, whose part ``at`` is its class, or
    None when removed), and the earlier reviews of ``data/reviewed.csv`` but those of the
    pictures no image copied holds any more; none written when there are none. A row is by
    content, so removing one copy of a picture keeps the label a person settled for another
    (:func:`_forgotten`); two copies settled under two classes are warned of and neither kept
    (:func:`_settled_rows`). ``digests``: the content digests known already, by path in
    ``data`` (the plan's check read them, the copy hashed them), the others taken from the file
    index (``store.indexed_digests``: the audit read them). Returns how many rows it holds."""
    from objrec.cache_folder import store_dir
    from objrec.store import indexed_digests

    known = dict(digests or {})

    def digest(rels: Collection[Path]) -> list[str]:
        """The digests of ``rels``, those not known taken from the file index (together)."""
        missing = [rel for rel in rels if rel.as_posix() not in known]
        found = indexed_digests(store_dir(), [data / rel for rel in missing])
        known.update(zip((rel.as_posix() for rel in missing), found, strict=True))
        return [known[rel.as_posix()] for rel in rels]

    rows = read_reviewed(data)
    for gone in _forgotten(targets, rows, digest):
        rows.pop(gone)
    rows |= _settled_rows({rel: targets[rel] for rel in settled}, at, digest)
    return _write_rows(out, rows)


def _forgotten(
    targets: Mapping[Path, Path | None],
    rows: Mapping[str, tuple[str, str]],
    digest: Callable[[Collection[Path]], list[str]],
) -> set[str]:
    """The digests of ``rows`` whose every image ``targets`` removes: a row is forgotten only
    when no copy of its picture is left (the audit's plan removes byte-identical copies)."""
    if not rows:
        return set()
    gone = set(digest([rel for rel, target in targets.items() if target is None])) & set(rows)
    if gone:
        gone -= set(digest([rel for rel, target in targets.items() if target is not None]))
    return gone


def _settled_rows(
    settled: Mapping[Path, Path | None],
    at: int,
    digest: Callable[[Collection[Path]], list[str]],
) -> dict[str, tuple[str, str]]:
    """The rows of the images ``settled`` (path in ``data`` -> path in ``out``), by content;
    copies of one picture settled under two classes are warned of, naming them, and give no
    row: which label is right is the person's to say, and check says to keep it in one."""
    rows: dict[str, tuple[str, str]] = {}
    named: dict[str, list[Path]] = {}
    kept = {rel: target for rel, target in settled.items() if target is not None}
    for target, d in zip(kept.values(), digest(list(kept)), strict=True):
        rows.setdefault(d, (target.parts[at], target.as_posix()))
        named.setdefault(d, []).append(target)
    for d, targets in named.items():
        if len({t.parts[at] for t in targets}) > 1:
            rows.pop(d)
            log.warning(
                "the plan settled one picture (byte-identical copies) under %d classes: %s; "
                "neither label is remembered as settled: keep the picture in one class",
                len({t.parts[at] for t in targets}),
                ", ".join(t.as_posix() for t in targets),
            )
    return rows


def earlier_reviews(folders: Sequence[Path]) -> dict[str, tuple[str, str]]:
    """The rows of each folder's ``reviewed.csv`` (:func:`read_reviewed`), an image's row in an
    earlier folder of ``folders`` over its row in a later one."""
    rows: dict[str, tuple[str, str]] = {}
    for folder in reversed(folders):
        rows |= read_reviewed(folder)
    return rows


def carry_reviewed(
    out: Path, reviewed: Mapping[str, tuple[str, str]], placed: Mapping[str, str]
) -> int:
    """``out/reviewed.csv`` of a new split: the rows of ``reviewed`` (:func:`earlier_reviews`)
    of the images ``placed`` (content digest -> path in ``out``), each with its path there. The
    digest, not the path, says which image a row is: it survives ``split`` and ``add`` moving
    and renaming the file, and no other image has it. Returns how many rows it holds."""
    rows = {
        digest: (name, placed[digest]) for digest, (name, _) in reviewed.items() if digest in placed
    }
    return _write_rows(out, rows)


def add_reviewed(out: Path, rows: Mapping[str, tuple[str, str]]) -> int:
    """``out/reviewed.csv`` with ``rows`` (digest -> class, file) added to those it holds, a
    row of ``rows`` over an earlier one of the same picture: labels a person settled since the
    plan was applied (``applying.remember``). Returns how many rows it holds."""
    return _write_rows(out, read_reviewed(out) | dict(rows))


def _write_rows(out: Path, rows: Mapping[str, tuple[str, str]]) -> int:
    """``out/reviewed.csv`` holding ``rows`` (digest -> class, file); none when none. Logged
    without ``out``, where split and apply write it in a staging folder renamed when done: the
    line named "data/.objrec-split-e1575ca8/reviewed.csv", a folder that no longer was, and
    said "0 labels" of every new split."""
    if rows:
        with (
            staged_file(out / REVIEWED_FILE) as tmp,
            tmp.open("w", newline="", encoding=CSV_ENCODING) as f,
        ):
            writer = csv.writer(f)
            writer.writerow(REVIEWED_COLUMNS)
            writer.writerows((digest, *row) for digest, row in sorted(rows.items()))
        said = plural(len(rows), "label")
        log.info("%s: %s a person settled, kept for the next audit", REVIEWED_FILE, said)
    return len(rows)


def settled_paths(inv: Inventory, issues: Sequence[LabelIssue]) -> list[str]:
    """The paths of the flagged ``issues`` whose label as it is a person settled in an earlier
    plan (:func:`settled_at`): the plan keeps them, and the summaries say them apart."""
    reviewed = read_reviewed(inv.root)
    return [issue.path for issue in issues if settled_at(inv, issue.index, reviewed) is not None]


def settled_at(inv: Inventory, index: int, reviewed: dict[str, tuple[str, str]]) -> str | None:
    """Where ``reviewed`` (``reviewed.read_reviewed``) saw the image ``index`` when a person
    settled its label as it is now, or None (unsettled, relabelled since, digests unknown)."""
    found = reviewed.get(inv.digests[index]) if inv.digests else None
    if found is None or found[0] != inv.classes[inv.items[index].label]:
        return None
    return found[1] or "a file"

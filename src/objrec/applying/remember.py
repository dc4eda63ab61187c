"""A plan applied already, its relabels as the audit wrote them remembered as a person's
decisions in the copy it made (:func:`remember_plan`), nothing copied again.

Applied as it came, a plan's pre-filled relabel is not remembered (``decisions.as_proposed``):
nothing says a person read it. A person who did, and agreed by leaving the row as written, was
offered only ``accept`` into a new folder, which redoes a copy they may have trained on and
added photos to since (newcomer60, 1). :func:`remember_plan` takes their word for the copy as it
is: each such relabel whose photo OUT still holds in its new class is added to
``OUT/reviewed.csv``. A plan's rows left to review are not: their labels were never decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from objrec.applying.decisions import as_proposed
from objrec.applying.follow import row_digest
from objrec.applying.plan_file import PlanRead
from objrec.data import SPLITS, is_split_folder
from objrec.errors import ObjrecError
from objrec.listing import list_images
from objrec.locks import locked
from objrec.manifest import read_split_record
from objrec.paths import PathGiven
from objrec.reviewed import add_reviewed
from objrec.words import plural

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RememberedPlan:
    """What :func:`remember_plan` did, in counts."""

    remembered: int = 0
    """The plan's relabels as the audit wrote them, now remembered in ``OUT/reviewed.csv``."""
    not_found: int = 0
    """Such relabels whose photo ``out`` no longer holds in their new class (moved, removed or
    edited since), each warned of and not remembered."""
    reviewed: int = 0
    """The labels ``OUT/reviewed.csv`` remembers now, the earlier ones too."""

    def to_json(self) -> dict[str, int]:
        """As ``objrec apply-plan --remember --json`` prints the counts."""
        return asdict(self)


def remember_plan(
    data: PathGiven,
    plan_file: PathGiven,
    out: PathGiven,
    on_wait: Callable[[], None] | None = None,
) -> RememberedPlan:
    """Remember, in ``out/reviewed.csv``, each relabel of ``plan_file`` as the audit pre-filled it
    (``decisions.as_proposed``) as a person's decision: ``out`` is the folder ``apply_plan``
    made from ``data`` with this plan, and nothing is copied or moved. For a person who read the
    plan, agreed with those rows as written and applied it without ``accept``; the next audit of
    ``out`` (or of a folder ``add`` grew from it) keeps those labels. Each photo is found in
    ``out`` by the content digest the plan's row records, in its new class: one no longer there
    is warned of, not remembered. A split folder's ``out`` must record the apply of this plan,
    as it is now, to ``data`` in its ``split.json``; ``on_wait()`` is called before waiting for
    another command writing in ``out`` (``add``)."""
    data, out = Path(data).resolve(), Path(out).resolve()
    given = PlanRead.of(Path(plan_file))
    _refuse_not_applied(data, given, out)
    rows = [row for row in given.rows.values() if as_proposed(row)]
    digests = _row_digests(data, rows)
    with locked(out, on_wait):  # no add writing in ``out`` meanwhile
        wanted = {digest: row["new_class"] for digest, row in zip(digests, rows, strict=True)}
        found = _found_in_out(out, wanted)
        reviewed = add_reviewed(out, found)
    for row, digest in zip(rows, digests, strict=True):
        if digest not in found:
            log.warning(
                "%s (line %s of %s): no longer in %s as %s, so its relabel is not remembered",
                row["file"],
                row["_line"],
                given.file,
                out,
                row["new_class"],
            )
    done = RememberedPlan(len(found), len(rows) - len(found), reviewed)
    log.info("remembered %s of %s in %s: %s", plural(len(found), "relabel"), plan_file, out, done)
    return done


def _refuse_not_applied(data: Path, given: PlanRead, out: Path) -> None:
    """Refuse an ``out`` that is not a folder ``apply_plan`` made from ``data`` with the plan
    ``given``, as far as ``out`` tells: a split folder's ``split.json`` records each plan
    applied (its SHA-256), a class folder's copy records none."""
    if not out.is_dir():
        raise ObjrecError(
            f"`out` {out} is not a folder: `remember` records the relabels of a plan applied "
            "already, in the folder it made; apply the plan first"
        )
    if out == data:
        raise ObjrecError(f"`out` {out} is the folder the plan is about: name the copy it made")
    if not is_split_folder(out):
        return
    applied = (read_split_record(out) or {}).get("applied")
    entries = applied if isinstance(applied, list) else []
    if not any(
        isinstance(e, dict) and e.get("plan_sha256") == given.sha256 and e.get("data") == str(data)
        for e in entries
    ):
        raise ObjrecError(
            f"{out / 'split.json'} records no apply of {given.file}, as it is now, to {data}: "
            "`remember` records the relabels of that plan in the copy it made (a plan edited "
            "since: apply it again, into a new folder)"
        )


def _row_digests(data: Path, rows: list[dict[str, str]]) -> list[str]:
    """The content digest of each row's photo: the one the audit saw (the plan's ``digest``, read
    as the rest of apply-plan reads it: ``follow.row_digest``), else that of the file the row
    names in ``data`` (from the file index), "" where neither."""
    from objrec.cache_folder import store_dir
    from objrec.store import indexed_digests

    digests = [row_digest(row) for row in rows]
    unknown = [i for i, d in enumerate(digests) if not d and (data / rows[i]["file"]).is_file()]
    read = indexed_digests(store_dir(), [data / rows[i]["file"] for i in unknown])
    for i, digest in zip(unknown, read, strict=True):
        digests[i] = digest
    return digests


def _found_in_out(out: Path, wanted: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The rows ``reviewed.csv`` gets for the photos ``wanted`` (content digest -> new class)
    that ``out`` holds in that class: digest -> (class, path in ``out``); the digests of its
    files are read from the file index, where ``apply_plan`` told it each file it wrote."""
    from objrec.cache_folder import store_dir
    from objrec.store import indexed_digests

    wanted.pop("", None)
    at = 1 if is_split_folder(out) else 0
    files = [
        path.relative_to(out)
        for name in sorted(set(wanted.values()))
        for folder in ([out / s / name for s in SPLITS] if at else [out / name])
        if folder.is_dir()
        for path in list_images(folder)
    ]
    digests = indexed_digests(store_dir(), [out / rel for rel in files])
    found: dict[str, tuple[str, str]] = {}
    for rel, digest in zip(files, digests, strict=True):
        if wanted.get(digest) == rel.parts[at]:
            found.setdefault(digest, (rel.parts[at], rel.as_posix()))
    return found

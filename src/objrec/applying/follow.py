"""Photos moved or renamed by hand since the audit, followed: a row's file found where a person
moved it (:func:`moved_by_hand`), a relabel done by hand already (:func:`follow_done_relabels`), a
file missing refused naming its line (:func:`refuse_missing`), and a row whose file was replaced
since the audit skipped (:func:`unreplaced`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from objrec.applying.plan_file import row_decision
from objrec.audit.plan import REVIEW
from objrec.cache_folder import store_dir
from objrec.data import class_of_folder
from objrec.errors import ObjrecError
from objrec.file_index import DIGEST_CHARS, hash_file
from objrec.store import indexed_digests
from objrec.tables import misread, misread_sentence
from objrec.words import plural, quoted, some_of

log = logging.getLogger(__name__)


DIGEST = re.compile(f"[0-9a-f]{{{DIGEST_CHARS}}}")
"""A plan's ``digest`` cell as the audit writes it (``audit.plan.PLAN_COLUMNS``); another text
(a spreadsheet's number made of an all-digit digest, a person's note) is no digest."""


def unreplaced(
    plan_file: Path, data: Path, plan: dict[str, dict[str, str]], broken: set[str]
) -> tuple[dict[str, str], int]:
    """Drop, in place, each row of ``plan`` whose file's content digest is not its ``digest``:
    the image the audit saw was replaced since by another under its name (a relabel or remove
    nobody decided for that photo), so its file is copied as it is, named in a warning with how
    to review it. A row without a digest (a person's own) is applied unchecked, and so is every
    row of a plan without the column: one a person wrote (``file,action``), or an audit's
    before 6 December 2026 (it has the audit's ``reason``), which is said once. Returns the
    digest of each file checked, and how many rows were dropped."""
    if not any("digest" in row for row in plan.values()):
        if any("reason" in row for row in plan.values()):
            log.warning(
                "%s has no digest column (an audit's plan before 6 December 2026): its rows are "
                "applied to the files now at their paths, unchecked against the images the "
                "audit saw; the plan of a new audit (`audit_folder(data)`) has it",
                plan_file,
            )
        return {}, 0
    checked = [
        file
        for file, row in plan.items()
        if DIGEST.fullmatch((row.get("digest") or "").strip().lower()) and file not in broken
    ]  # by the file index: the audit read them, and the copy reads each once more
    found = indexed_digests(store_dir(), [data / file for file in checked])
    digests = dict(zip(checked, found, strict=True))
    replaced = [f for f in digests if digests[f] != plan[f]["digest"].strip().lower()]
    if replaced:
        _warn_replaced(plan_file, [plan.pop(file) for file in replaced])
    return digests, len(replaced)


def _warn_replaced(plan_file: Path, rows: Sequence[dict[str, str]]) -> None:
    """Name the plan's ``rows`` skipped as their files were replaced since the audit."""
    named = [
        f"{quoted(row['file'])} (line {row['_line']}, {row_decision(row)[0]}"
        + (f" to {quoted(row['new_class'])})" if row["action"] == "relabel" else ")")
        for row in rows
    ]
    it = "it" if len(rows) == 1 else "them"
    log.warning(
        "skipped %s of %s whose file is not the image the audit saw (the same name, other bytes:"
        " replaced since), copied as %s now: %s; audit the data again to review %s "
        "(`audit_folder(data)`)",
        *(plural(len(rows), "row"), plan_file, "it is" if len(rows) == 1 else "they are"),
        *(some_of(named, quote=False), it),
    )


def moved_by_hand(
    data: Path, plan: dict[str, dict[str, str]], known: set[str], at: int
) -> dict[str, str]:
    """Where each file the plan names and ``data`` lacks is now, moved by hand (both relative to
    ``data``): in a split folder, as ``check`` finds it by the SHA-256 ``manifest.csv`` lists
    (renamed too: ``check.moved_from``); else a file of its name in another class folder whose
    content digest is its row's ``digest``; else any file no row names whose content is that
    digest (:func:`_renamed_by_hand`)."""
    from objrec.check import moved_from

    missing = [file for file in plan if file not in known]
    found = moved_from(data) if missing and at == 1 else {}
    found = {file: found[file] for file in missing if file in found}
    alike: dict[tuple[str, ...], list[str]] = {}
    for rel in sorted(known) if len(found) < len(missing) else []:
        parts = Path(rel).parts
        alike.setdefault(parts[:at] + parts[at + 1 :], []).append(rel)
    for file in (f for f in missing if f not in found):
        digest = row_digest(plan[file])
        parts = Path(file).parts
        if digest and len(parts) > at + 1:
            same = alike.get(parts[:at] + parts[at + 1 :], [])
            now = next((now for now in same if hash_file(data / now) == digest), None)
            found |= {file: now} if now is not None else {}
    rest = [file for file in missing if file not in found]
    return found | _renamed_by_hand(data, plan, rest, known - set(plan) - set(found.values()))


def row_digest(row: dict[str, str]) -> str:
    """A plan row's ``digest`` as the audit writes it (:data:`DIGEST`: lower case, a spreadsheet's
    capitals and spaces taken off), or "" (one that is not a digest): one reading for every part
    of apply-plan (``remember_plan`` read it as it came)."""
    digest = (row.get("digest") or "").strip().lower()
    return digest if DIGEST.fullmatch(digest) else ""


def _renamed_by_hand(
    data: Path, plan: dict[str, dict[str, str]], missing: list[str], unnamed: set[str]
) -> dict[str, str]:
    """Where each of the ``missing`` files of the plan is now, renamed as it was moved by hand
    (``crab/image_0901.jpg`` now ``sunflower/from_crab.jpg``): the file of ``unnamed`` (DATA's
    files no row names) whose content digest is its row's, by the file index (which the audit
    filled). The plan's row was refused as naming a file not there, though it carries that
    digest."""
    wanted = {digest: file for file in missing if (digest := row_digest(plan[file]))}
    files = sorted(rel for rel in unnamed if (data / rel).is_file()) if wanted else []
    digests = indexed_digests(store_dir(), [data / rel for rel in files])
    return {wanted[d]: rel for rel, d in zip(files, digests, strict=True) if d in wanted}


def follow_done_relabels(
    plan_file: Path, plan: dict[str, dict[str, str]], moved: dict[str, str], at: int
) -> int:
    """Each relabel of ``plan`` whose photo was ``moved`` by hand into the class it relabels
    it to, and each ``review`` whose photo was moved into another class, in place: done
    already, the row is the keep of the photo where it is now (a label a person settled, for
    ``reviewed.csv``), said; how many. A relabel of a photo a person fixed by hand (``check``
    says so) was refused as naming a file not there, with no way forward; so was a review a
    person decided by moving the photo. A review whose photo was only renamed, or moved to
    another split, in its own class is no decision: it is followed, left to review
    (:func:`_follow_undecided`)."""
    done = 0
    for file, now in moved.items():
        row = plan[file]
        if now in plan:
            continue  # a row of its own decides it: this one is refused as naming no file
        into = _class_at(now, at)
        review = row["action"] == REVIEW
        if review and into == _class_at(file, at):
            _follow_undecided(plan_file, plan, file, now)
            continue
        if not review and (row["action"] != "relabel" or into != class_of_folder(row["new_class"])):
            continue
        decided = {"action": "keep", "reason": f"moved by hand to {now}"} if review else {}
        plan[now] = {**plan.pop(file), "file": now, "action": "keep", **decided}
        done += 1
        log.warning(
            "%s line %s: %s is %s now (moved by hand?), %s, and the photo copied as it is%s",
            *(plan_file, row["_line"], quoted(file), quoted(now)),
            "a row to review: decided by that move, its label is remembered as yours"
            if review
            else "in the class the row relabels it to: its relabel is done already",
            _split_moved(file, now, at),
        )
    return done


def _split_moved(file: str, now: str, at: int) -> str:
    """The clause saying a photo moved by hand into another split of a split folder too (``at``
    1), or "": moved from valid/watch to train/sunflower, it was taken for a relabel done, and
    the copy's validation split lost an image unsaid (session 61's review, L1)."""
    before, after = Path(file).parts[:at], Path(now).parts[:at]
    if at != 1 or before == after or not before or not after:
        return ""
    return (
        f"; it moved from the {before[0]} split to {after[0]} too, so the copy's {before[0]} "
        f"split holds it no more and its {after[0]} split does (move it back to keep the "
        "splits as they were)"
    )


def _class_at(rel: str, at: int) -> str:
    """The class of the image ``rel`` (relative to DATA; ``at``: the index of its class folder),
    as a person names it (:func:`class_of_folder`); "" for a file outside any class folder."""
    parts = Path(rel).parts
    return class_of_folder(parts[at]) if len(parts) > at + 1 else ""


def _follow_undecided(
    plan_file: Path, plan: dict[str, dict[str, str]], file: str, now: str
) -> None:
    """The ``review`` row of ``file`` moved, in place, to ``now``, where its photo is, renamed
    or moved within its own class: left to review as it was (its reason too), so that
    ``reviewed.csv`` remembers no label nobody decided; said."""
    row = plan.pop(file)
    plan[now] = {**row, "file": now}
    log.warning(
        "%s line %s: %s is %s now (moved by hand?), in its own class still: a row to review "
        "there, still undecided",
        *(plan_file, row["_line"], quoted(file), quoted(now)),
    )


def refuse_missing(
    plan_file: Path,
    plan: dict[str, dict[str, str]],
    known: set[str],
    data: Path,
    moved: dict[str, str],
) -> None:
    """Refuse a plan naming files that are not images of ``data``, naming the first one's line;
    of one ``moved`` by hand, where it is now and what to do."""
    missing = [file for file in plan if file not in known]  # in the plan's order
    if not missing:
        return
    line = plan[missing[0]]["_line"]
    if (now := moved.get(missing[0])) is not None:
        raise ObjrecError(_moved_sentence(f"{plan_file} line {line}", plan[missing[0]], now))
    meant = misread(missing[0], {class_of_folder(k) for k in known})
    if meant is not None:
        raise ObjrecError(misread_sentence(f"{plan_file} line {line}", missing[0], meant))
    if (kind := not_an_image(data, missing[0])) is not None:
        raise ObjrecError(
            f"{plan_file} line {line}: {missing[0]!r} in {data} is {kind}, not an image: a plan's "
            "rows are about images (other files are copied as they are); delete the row"
        )
    more = len(missing) - 1
    raise ObjrecError(
        f"{plan_file} line {line}: {missing[0]!r} is not in {data} (no "
        "image there has that path, relative to it"
        + (
            f"; nor {'is' if more == 1 else 'are'} {plural(more, 'other file')} of the plan"
            if more
            else ""
        )
        + "): if you moved or renamed the photo, write its path now as the row's file; if you "
        "deleted it, delete the row"
    )


def not_an_image(data: Path, file: str) -> str | None:
    """What the plan's ``file`` (relative to ``data``) is where it is there but not an image of
    it: "a folder" or "a file" (a ``notes.txt``); None where nothing is there. `notes.txt,remove`
    was refused as "not in DATA (no image there has that path ...)", the file being there
    (session 61's review, L3)."""
    path = Path(file)
    if path.is_absolute() or ".." in path.parts or not file.strip():
        return None
    found = data / path
    if found.is_dir():
        return "a folder"
    return "a file" if found.exists() else None


def _moved_sentence(where: str, row: dict[str, str], now: str) -> str:
    """The refusal of a plan ``row`` whose photo was moved by hand to ``now`` (relative to DATA),
    elsewhere than the class the row relabels it to, if it does."""
    action = row["action"] + (f" to {row['new_class']}" if row["action"] == "relabel" else "")
    return (
        f"{where}: {row['file']!r} is {now!r} now (moved by hand?), and the row says {action}: "
        f"write {now} as its file to apply the row to the photo there, or delete the row to "
        "keep it where it is"
    )

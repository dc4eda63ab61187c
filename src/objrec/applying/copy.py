"""DATA copied into OUT with the plan applied: the folders checked, the images and other files
copied (or linked) through a staging folder, each hashed as written and told to the file index, free
names given where two would clash, OUT's manifest and ``reviewed.csv`` written.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from objrec.add.pending import PENDING, unfinished_add, unfinished_words
from objrec.applying.decisions import settles_label
from objrec.applying.targets import Planned
from objrec.cache_folder import store_dir
from objrec.config import SPLIT_MODES
from objrec.data import SPLITS, is_split_folder
from objrec.errors import ObjrecError, ctrl_c_leaves
from objrec.file_index import DIGEST_CHARS, Copied, Hashed, copy_hashed
from objrec.listing import broken_link_reason, is_broken_image_link, list_images
from objrec.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_GROUP,
    SPLIT_RECORD,
    manifest_cells,
    manifest_groups,
    sha256_file,
)
from objrec.outputs import (
    link_file,
    refuse_nested,
    refuse_overwrite,
    renamed_over,
    settle_names,
    staged_file,
    temporary_name,
)
from objrec.reviewed import REVIEWED_FILE, write_reviewed
from objrec.store import index_written
from objrec.tables import CSV_ENCODING
from objrec.warned import warn_once
from objrec.words import plural, some_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Copying:
    """How :func:`apply_plan` copies ``data`` into ``out``, as it was asked to."""

    data: Path
    """The folder the plan is applied to (resolved), only read."""
    out: Path
    """The folder made (resolved): the copy is staged beside it, and renamed ``out`` once whole."""
    mode: str
    """``copy``, or ``link``: each image a symbolic link to the file ``data``'s is, or points to."""
    command: Sequence[str] | None
    """The CLI's command line, for ``split.json`` (None from a script)."""
    on_file: Callable[[int, int], None] | None
    """Told ``(done, total)`` after each file copied (or linked)."""


def tell_index(written: list[Hashed | Copied], stage: Path, out: Path) -> None:
    """Tell the file index each file ``written`` in ``stage``, now in ``out``: a copy by the
    SHA-256 of the bytes written, a link by the digest the index holds of its photo."""
    links = [w for w in written if isinstance(w, Copied)]
    copies = [replace(c, copy=out / c.copy.relative_to(stage)) for c in links]
    files = [w for w in written if not isinstance(w, Copied)]
    hashed = [(out / p.relative_to(stage), s, d) for p, s, d in files]
    index_written(store_dir(), copies=copies, hashed=hashed)


def listed_files(data: Path) -> tuple[list[Path], list[str], list[Path]]:
    """The images of ``data``, and its links to an image that is not there (relative to it),
    each left out with ``list_images``' warning, as ``add`` and ``train`` warn of it: the
    summary said nothing was left out, so they are counted; and its other visible files but
    objrec's own (:data:`WRITTEN_FOR_OUT`) and links to nothing (left out with the same
    warning: there is nothing to copy), relative to it."""
    others: list[Path] = []
    images = list_images(data, others=others)
    gone = [p for p in others if p.is_symlink() and not p.exists()]
    for path in gone:
        warn_once("broken link", path, "%s left out: %s", path, broken_link_reason(path))
    broken = [p for p in gone if is_broken_image_link(p)]
    kept = [p.relative_to(data) for p in others if p not in gone]
    written = WRITTEN_FOR_OUT if is_split_folder(data) else (REVIEWED_FILE,)
    kept = [p for p in kept if p.as_posix() not in written]
    return images, [p.relative_to(data).as_posix() for p in broken], kept


WRITTEN_FOR_OUT = (MANIFEST, SPLIT_RECORD, REVIEWED_FILE)
"""Files of a split folder's top that apply-plan writes anew for OUT, never copies; of a photo
folder's, only ``reviewed.csv``: a ``manifest.csv`` or ``split.json`` of the person's own there
was left out of OUT unsaid, none written for it (session 61's review, L5)."""


def copy_others(data: Path, stage: Path, mode: str, others: list[Path]) -> int:
    """Copy (or link, ``mode``) each of ``others``, files of ``data`` that are not images, to
    the same place in ``stage``; how many."""
    for rel in others:
        _copy(data / rel, stage, rel, mode, split_folder=False, recorded=None)
    if others:
        named = ", ".join(p.as_posix() for p in others)
        log.info("%s of %s copied along: %s", plural(len(others), "other file"), data, named)
    return len(others)


def refuse_unfinished_add(data: Path) -> None:
    """Refuse a ``data`` that a killed add left half listed (``check`` notes it): its copy held
    the files the add wrote with no manifest row, a ``split.json`` without that add, and not the
    note the next add of ``data`` repairs both from, so the copy never got the repair."""
    found = unfinished_add(data)
    if found is not None and (said := unfinished_words(found)):
        raise ObjrecError(
            f"{data / PENDING}: {said}: run that add again (it adds only what is not there), "
            "then apply the plan"
        )


def checked_folders(data: Path, out: Path, mode: str) -> tuple[Path, Path]:
    """``data`` and ``out`` resolved, once ``mode`` is known and ``out`` new or empty, outside
    ``data``."""
    if mode not in SPLIT_MODES:
        raise ObjrecError(f"unknown apply-plan `mode` {mode!r}: use copy or link")
    refuse_nested(out, data)
    data, out = data.resolve(), out.resolve()
    refuse_overwrite(out, hint="choose another folder")
    return data, out


def copy_planned(
    copying: Copying,
    stage: Path,
    planned: Planned,
    split_folder: bool,
    counts: dict[str, int],
    written: list[Hashed | Copied],
) -> dict[str, str]:
    """Copy (or link, ``copying.mode``) each image of ``data`` that ``planned.targets`` keeps to
    its target in the staging folder ``stage`` of ``out``, adding to ``counts``; ``on_file(done,
    total)`` told after each file (a minute of silence for 60,000 photos); a split folder's copy
    gets the manifest of the files copied, each with the group ``data``'s manifest recorded for
    it, under the path it had there for a photo moved by hand since the audit
    (``planned.followed``: its group was lost). Returns the content digest
    (``file_index.hash_file``'s) of each file copied that was read, by its path in ``data``;
    ``written`` gets each file written as the file index takes it (:func:`_written`: ``train``
    of ``out`` then reads none of them)."""
    data, out, on_file = copying.data, copying.out, copying.on_file
    rows: list[list[str]] = []
    digests: dict[str, str] = {}
    targets, followed = planned.targets, planned.followed
    groups = manifest_groups(data) if split_folder else {}
    total = sum(target is not None for target in targets.values())
    with ctrl_c_leaves(lambda: applied_so_far(out, counts["copied"], targets)):
        for rel, target in targets.items():
            counts["removed"] += target is None
            if target is not None:
                recorded = groups.get(followed.get(rel.as_posix(), rel.as_posix()))
                row, digest = _copy(data / rel, stage, target, copying.mode, split_folder, recorded)
                written.append(_written(data / rel, stage / target, copying.mode, digest))
                rows += row
                if digest is not None:
                    digests[rel.as_posix()] = digest[:DIGEST_CHARS]
                counts["copied"] += 1
                counts["relabelled"] += target.parent != rel.parent
                if on_file is not None:
                    on_file(counts["copied"], total)
    if split_folder and rows:
        _write_manifest(stage, rows)
    return digests


def _written(source: Path, path: Path, mode: str, digest: str | None) -> Hashed | Copied:
    """``path``, written from ``source``, as the file index takes it: a copy (``mode``) by the
    SHA-256 ``digest`` of the bytes written; a link by the digest the index holds of ``source``
    (``FeatureStore.keep_copies``) at the stat they share, that of the file both name."""
    stat = os.stat(path)
    if mode == "copy" and digest is not None:
        return path, stat, digest
    return Copied(source, stat, path, stat)


def applied_so_far(out: Path, done: int, targets: dict[Path, Path | None]) -> str:
    """What an apply-plan stopped while copying left: nothing in ``out``, as it was (the
    ``done`` files copied so far of those ``targets`` keeps were in its staging folder, removed
    with it), so the same command goes again."""
    total = sum(target is not None for target in targets.values())
    return (
        f"nothing was written to {out}, which is as it was (the {done:,} of "
        f"{plural(total, 'file')} copied so far were in a staging folder, removed): apply the "
        "plan again"
    )


def remember_review(data: Path, out: Path, planned: Planned, at: int) -> int:
    """``out/reviewed.csv`` (``reviewed.write_reviewed``): the images the plan applied (its
    rows by the image of ``data`` each names) kept or relabelled by a row that settles a label
    (:func:`settles_label`), and ``data``'s earlier reviews; ``at``: which part of a path is the
    class (1 in a split folder, 0 in a class folder). The files whose digest the plan's check
    read are not hashed again."""
    plan, targets = planned.rows, planned.targets
    settled = [
        rel
        for rel, target in targets.items()
        if target is not None
        and len(target.parts) > at + 1
        and settles_label(plan.get(rel.as_posix()))
    ]
    return write_reviewed(data, out, targets, settled, at, planned.digests)


def _copy(
    source: Path,
    stage: Path,
    target: Path,
    mode: str,
    split_folder: bool,
    recorded: tuple[str, str] | None,
) -> tuple[list[list[str]], str | None]:
    """Copy ``source`` to ``stage/target`` (``mode="link"``: a symbolic link to the file
    ``source`` is, or points to); its row of the new manifest, for an image of a class folder of
    a split (``split/class/...``), with the group ``recorded`` for it (its SHA-256 and group in
    the source's manifest) where the copy still holds that content; and the copy's SHA-256,
    None for a link outside a split folder (not read)."""
    destination = stage / target
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = None
    with renamed_over(destination, temporary_name(destination)) as tmp:  # whole or not there
        if mode == "copy":
            digest = copy_hashed(source, tmp)
        else:
            link_file(os.path.realpath(source), tmp, stage)
    if not split_folder or len(target.parts) < 3 or target.parts[0] not in SPLITS:
        return [], digest
    split, name = target.parts[:2]
    digest = digest or sha256_file(destination)
    group = recorded[1] if recorded is not None and recorded[0] == digest else ""
    return [[target.as_posix(), name, split, digest, str(source), group]], digest


def _write_manifest(out: Path, rows: list[list[str]]) -> None:
    """``out/manifest.csv`` as ``split`` writes it (``MANIFEST_COLUMNS``, group), one row per file
    copied (even when a later one failed), under its class and split in ``out``: ``add`` appends
    to it, and ``split --force`` knows ``out`` for a split of objrec's."""
    with staged_file(out / MANIFEST) as tmp, tmp.open("w", newline="", encoding=CSV_ENCODING) as f:
        writer = csv.writer(f)
        writer.writerow([*MANIFEST_COLUMNS, MANIFEST_GROUP])
        writer.writerows(manifest_cells(row) for row in sorted(rows))


def settle_target_names(targets: dict[Path, Path | None]) -> list[Path]:
    """Give each file whose place another file takes (by :func:`name_key`: case aside, as macOS
    and Windows compare names) a free name, in place, logged in one warning: files that stay
    where they were keep their names, whatever order the folders come in, but for the second of
    two named alike but for case. Returns the files renamed."""
    placed = [(rel, target) for rel, target in targets.items() if target is not None]
    placed.sort(key=lambda pair: pair[1] != pair[0])  # kept ones first
    moves = []
    for (rel, target), free in zip(placed, settle_names([t for _, t in placed]), strict=True):
        if free != target:
            moves.append((rel.as_posix(), free.as_posix(), target.as_posix()))
            targets[rel] = free
    if len(moves) == 1:
        log.warning("%s goes in as %s: %s is another image's name", *moves[0])
    elif moves:  # one line: merging a class of Caltech's names warned once a file (14 lines)
        said = [f"{rel} as {free} ({taken} taken)" for rel, free, taken in moves]
        log.warning(
            "%s go in under free names, as other images have theirs: %s",
            plural(len(moves), "image"),
            some_of(said, 3, quote=False),
        )
    return [Path(rel) for rel, _, _ in moves]

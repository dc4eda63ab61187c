"""A split's output folder: the checks before anything is written there, the split written in a
hidden staging folder beside any earlier one and swapped in whole (``manifest.csv`` last), and the
staging folders a killed split left, named and never deleted."""

from __future__ import annotations

import contextlib
import csv
import functools
import logging
import os
import shlex
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from objrec.add.pending import OLD_PENDING, PENDING
from objrec.data import SPLITS, run_checkpoint
from objrec.errors import FULL_DISK, Interrupted, ObjrecError, ctrl_c_leaves, stops_held
from objrec.file_index import DIGEST_CHARS, Copied, copy_and_record, copy_as_read
from objrec.listing import is_litter
from objrec.locks import held_elsewhere, locked
from objrec.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MANIFEST_GROUP,
    is_split_manifest,
    manifest_cells,
    manifest_files,
    manifest_rows,
    sha256_file,
)
from objrec.outputs import (
    link_file,
    name_key,
    refuse_nested,
    refuse_overwrite,
    reported_as,
    settle_names,
    sync_written,
)
from objrec.reviewed import REVIEWED_FILE, carry_reviewed
from objrec.split.record import SPLIT_RECORD, SplitRecord, write_split_record
from objrec.store import index_written
from objrec.tables import CSV_ENCODING
from objrec.words import plural

log = logging.getLogger(__name__)

STAGE = ".objrec-split-"
"""The start of the name of the hidden folder in OUT a split writes to before swapping it in."""
STAGE_GRACE = 60.0
"""Seconds a staging folder is taken as a running split's even when unlocked: the moments
between making it and locking it."""


def check_out_folder(src: Path, out: Path, force: bool) -> None:
    """Refuse an output folder the split may not write (inside ``src`` or holding it, a file,
    the user's own ``train/``, a stopped or an earlier split without ``force``), before anything
    is read or written."""
    refuse_nested(out, src, "source folder")
    if out.exists() and not out.is_dir():
        raise ObjrecError(f"{out} exists and is not a folder")
    refuse_run_out(out)
    partial = partial_split(out)
    if partial is not None and not force:
        raise ObjrecError(
            f"{out} holds what is left of a split that was stopped before it was done (its "
            f"manifest is in {partial.name}): pass `force=True` to split again, which replaces it"
        )
    if partial is None:
        refuse_users_split_names(out)
    if not force:
        refuse_only_leftovers(out)
    if not force and is_split_manifest(out / MANIFEST):
        raise ObjrecError(
            f"{out} holds an earlier split (its {MANIFEST}): pass `force=True` to replace it, or "
            "choose another folder; to keep each image it holds in its split (so that runs on "
            f"both are tested on the same images), `split_folder({str(src)!r}, {str(out)!r}, "
            f"force=True, like={str(out)!r})`; to add new photos to it, `add_images({str(out)!r}, "
            "new)`"
        )
    if force:
        refuse_unlisted_files(src, out)
    refuse_overwrite(out, force, "choose another folder or pass `force=True`")


def refuse_run_out(out: Path) -> None:
    """Refuse a run folder as a split's output, even with ``force``: ``add``, ``check`` and
    ``evaluate`` would take the split written beside its model for the run, and ``force``
    replaces only an earlier split."""
    held = run_checkpoint(out) if out.is_dir() else None
    if held:
        raise ObjrecError(
            f"{out} is a run folder (`train`'s output: it holds {held}): a split written there "
            "would be taken for the run; choose another folder"
        )


def refuse_unlisted_files(src: Path, out: Path) -> None:
    """Refuse to replace the earlier split in ``out`` when its train, valid and test folders hold
    files its manifest does not list (:func:`unlisted_files`): the user put them there (notes, a
    photo copied in by hand, what an ``add`` killed before it recorded them wrote), and replacing
    the split deletes those folders whole. ``force`` is about the earlier split, never about
    them."""
    unlisted = unlisted_files(out)
    if not unlisted:
        return
    them = "it" if len(unlisted) == 1 else "them"
    added = add_words(out)
    raise ObjrecError(
        f"{out} holds {plural(len(unlisted), 'file')} no split put there, such as {unlisted[0]} "
        f"(its {MANIFEST} does not list {them}{added}): `force=True` would delete {them} with "
        f"the earlier split: move {them} out of its train, valid and test folders first (a photo "
        f"into its class folder in {src}, where the split places it)"
    )


def add_words(out: Path) -> str:
    """Where the files no split put in ``out`` may come from, when an add's note is there: an add
    writing there now (it holds the folder, its note there until it lists what it wrote), or one
    stopped before listing its photos; "" without a note."""
    if not any(os.path.lexists(out / name) for name in (PENDING, OLD_PENDING)):
        return ""
    if held_elsewhere(out):
        return f"; an add is writing into {out} now: wait for it to end"
    return f"; an add into {out} was stopped before listing its photos"


def unlisted_files(out: Path) -> list[str]:
    """The files (and links) in the train, valid and test folders of the split in ``out`` that
    neither its manifest nor that of a split killed while moving its folders in (its staging
    folder's) lists, relative to ``out``, sorted; what a system or objrec writes of itself
    (``listing.is_litter``: ``.DS_Store``, objrec's temporary files) aside, never a hidden file
    or folder of the user's (``.notes.txt``), and a photo the manifest lists moved by hand to
    another folder of the split (its content listed: :func:`refuse_dropping_images` tells of
    one from elsewhere). None when ``out`` holds no manifest a split wrote."""
    listed = manifest_files(out / MANIFEST)
    if listed is None:
        return []
    for stage in leftover_stages(out):
        listed |= manifest_files(stage / MANIFEST) or set()
    known = {name_key(Path(name)) for name in listed}
    found = sorted(Path(name) for name in _split_files(out))
    unlisted = [
        path
        for path in found
        if name_key(path) not in known and not any(is_litter(Path(part)) for part in path.parts)
    ]
    digests = {row["sha256"] for row in manifest_rows(out / MANIFEST)}
    return [path.as_posix() for path in unlisted if not _holds_one_of(out / path, digests)]


def _holds_one_of(path: Path, digests: set[str]) -> bool:
    """Whether the file ``path`` holds a photo of one of those SHA-256 ``digests``."""
    return path.is_file() and sha256_file(path) in digests


@contextlib.contextmanager
def told_of_killed_splits(src: Path, out: Path, force: bool) -> Iterator[None]:
    """When the split in the block is done, or refused, or fails, name each staging folder a
    killed split left in ``out`` (but those the refusal names: :func:`partial_split`, or all of
    them when ``out`` holds nothing else, :func:`refuse_only_leftovers`) and what to do with it
    as ``out`` then stands (:func:`warn_of_killed_split`)."""
    refused = [] if force else only_leftovers(out)
    try:
        yield
    finally:
        partial = partial_split(out)
        for stage in leftover_stages(out):
            if stage != partial and stage not in refused:
                warn_of_killed_split(stage, src, out)


def only_leftovers(out: Path) -> list[Path]:
    """The staging folders killed splits left in ``out`` when ``out`` holds nothing else, and
    none of them is a split killed while moving in (:func:`partial_split`); else none."""
    stages = leftover_stages(out)
    if not stages or len(stages) < len(list(out.iterdir())) or partial_split(out) is not None:
        return []
    return stages


def refuse_only_leftovers(out: Path) -> None:
    """Refuse ``out`` in one sentence when all it holds is what killed splits left: staging
    folders that nothing needs, as no split of theirs was moved in. Deleting them lets a split
    in; ``force`` splits beside them (objrec never deletes them: :func:`warn_of_killed_split`)."""
    stages = only_leftovers(out)
    if not stages:
        return
    it, left = ("it", "a split that was") if len(stages) == 1 else ("them", "splits that were")
    names = " and ".join(stage.name for stage in stages)
    paths = " ".join(shlex.quote(str(stage)) for stage in stages)
    raise ObjrecError(
        f"{out} holds only {names}, left by {left} killed before moving anything in: nothing in "
        f"{it} is needed; delete {it} (rm -r {paths}) to split into {out}, or pass `force=True` "
        f"to split beside {it}"
    )


def warn_of_killed_split(stage: Path, src: Path, out: Path) -> None:
    """Name a staging folder a killed split left in ``out`` and what to do with it
    (:func:`killed_split_words`)."""
    log.warning("%s was %s", stage, killed_split_words(stage, str(src), out))


def killed_split_words(stage: Path, src: str, out: Path) -> str:
    """What the staging folder ``stage`` a killed split left in ``out`` is, and what to do with
    it: while ``out`` holds no whole split, its manifest may be all that tells which of ``out``'s
    folders that split moved in (killed while it moved them, over an earlier split), so it is
    kept until a forced split of ``src`` has replaced them; after that, nothing in it is needed,
    and the user deletes it (objrec never does: it cannot tell what else may have been put
    there)."""
    if holds_whole_split(out):
        return (
            f"left by a split that was killed; nothing in it is needed, as {out} holds a whole "
            f"split: delete it (rm -r {shlex.quote(str(stage))})"
        )
    return (
        f"left by a split that was killed: keep it until `split_folder({src!r}, {str(out)!r}, "
        f"force=True)` has replaced what that split left in {out} with a whole split; nothing in "
        "it is needed after that"
    )


def refuse_users_split_names(out: Path) -> None:
    """Refuse ``out`` when it holds the names a split writes (``train``, ``valid``, ``test``,
    ``manifest.csv``, ``split.json``) but no split of objrec's: ``force`` replaces an earlier
    split, and deleting the user's own ``train/`` would lose their files."""
    taken = sorted(
        name for name in (*SPLITS, MANIFEST, SPLIT_RECORD) if _holds_something(out / name)
    )
    if not taken or is_split_manifest(out / MANIFEST):
        return
    raise ObjrecError(
        f"{out} holds {', '.join(taken)} and no split of objrec's (no manifest.csv it wrote), "
        "which are not replaced even with `force=True`: choose another folder"
    )


def _holds_something(path: Path) -> bool:
    """Whether ``path`` is there and is not a folder of only empty folders (replacing which
    loses nothing)."""
    if path.is_dir() and not path.is_symlink():
        return any(not p.is_dir() or p.is_symlink() for p in path.rglob("*"))
    return path.exists() or path.is_symlink()


def partial_split(out: Path) -> Path | None:
    """The staging folder of a split killed while it moved its folders into ``out``
    (:func:`_swap_in`): ``out`` has no ``manifest.csv``, the stage has the split's, and every
    file in ``out``'s train, valid and test folders is one that manifest lists. None when there
    is no such leftover: a file the split did not write there is the user's."""
    if os.path.lexists(out / MANIFEST):
        return None
    for stage in leftover_stages(out):
        listed = manifest_files(stage / MANIFEST)
        if listed is not None and _split_files(out) <= listed:
            return stage
    return None


def holds_whole_split(out: Path) -> bool:
    """Whether ``out`` holds a whole split: a manifest a split wrote listing every file in its
    train, valid and test folders. A split killed while it moved its folders in over an earlier
    one left that one's manifest beside folders of both, files it does not list."""
    listed = manifest_files(out / MANIFEST)
    return listed is not None and _split_files(out) <= listed


def refuse_dropping_images(src: Path, out: Path, kept: set[str]) -> None:
    """Refuse to replace the earlier split in ``out`` when its manifest lists images that the new
    split of ``src`` would not hold (``kept``: the SHA-256 of those it holds) and that came from
    elsewhere (``objrec add`` put them there, or ``out`` is a split of another folder): replacing
    it deletes their copies (or links) in ``out``, and the new split would lack them unsaid. The
    photos ``src`` itself held and has lost since (deleted or edited there) go, as with ``like``,
    and so do those ``out`` no longer holds (deleted there since, or a link to nothing)."""
    rows = manifest_rows(out / MANIFEST)
    lost = [
        row
        for row in rows
        if row.get("source") and row.get("sha256") and row["sha256"] not in kept
        if not Path(row["source"]).is_relative_to(src)
    ]
    lost = _still_held(out, lost, {row["file"] for row in rows})
    if not lost:
        return
    them = "it" if len(lost) == 1 else "them"
    again = f"split_folder({str(src)!r}, {str(out)!r}, force=True, like={str(out)!r})"
    raise ObjrecError(
        f"{out} holds {plural(len(lost), 'image')} that {src} does not have, such as "
        f"{lost[0]['file']} (from {lost[0]['source']}): `force=True` would delete {them} from "
        f"{out} with the earlier split; to keep {them}, copy {them} into the class folders of "
        f"{src} first (`{again}` keeps every image in its split), or to split without {them}, "
        f"choose another folder or move {out} away first"
    )


def _still_held(out: Path, rows: list[dict[str, str]], listed: set[str]) -> list[dict[str, str]]:
    """The manifest ``rows`` whose photo ``out`` still holds: at its file, or in a file of
    ``out``'s splits that the manifest does not list (``listed``), of its content (moved there
    by hand). One deleted from ``out`` since, or a link to a photo deleted, holds nothing."""
    if all((out / row["file"]).exists() for row in rows):
        return rows
    unlisted = [out / name for name in sorted(_split_files(out) - listed)]
    moved = {sha256_file(path) for path in unlisted if path.is_file()}
    return [row for row in rows if (out / row["file"]).exists() or row["sha256"] in moved]


def _split_files(out: Path) -> set[str]:
    """Every file (or link) in ``out``'s train, valid and test folders, relative to ``out``; a
    split folder that is a link or a file counts as a file."""
    found: set[str] = set()
    for name in SPLITS:
        top = out / name
        if top.is_dir() and not top.is_symlink():
            found |= {p.relative_to(out).as_posix() for p in top.rglob("*") if not _folder(p)}
        elif os.path.lexists(top):
            found.add(name)
    return found


def _folder(path: Path) -> bool:
    """A real folder, not a link to one."""
    return path.is_dir() and not path.is_symlink()


def leftover_stages(out: Path) -> list[Path]:
    """The staging folders in ``out`` that no running split holds: left by a split that was
    killed (SIGKILL, a crash) before it could remove its own. objrec never deletes them."""
    if not out.is_dir():
        return []
    return sorted(p for p in out.glob(STAGE + "*") if p.is_dir() and not _in_use(p))


def _in_use(stage: Path) -> bool:
    """Whether a running split holds ``stage``'s lock, or may be about to (it is newer than
    ``STAGE_GRACE``); one that cannot be looked at counts as in use."""
    try:
        if time.time() - stage.stat().st_mtime < STAGE_GRACE:
            return True
    except OSError:
        return True
    return held_elsewhere(stage) is not False


def make_out(out: Path) -> None:
    """``out`` made, with its parents; where the system refuses, said as the folder it could not
    make (``split SRC /proc/foo`` said "/proc/foo: no such file or directory", as if a folder
    were missing). A full disk is said as such, by the CLI."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in FULL_DISK or exc.strerror is None:
            raise
        raise ObjrecError(f"cannot make the folder {out}: {exc.strerror.lower()}") from exc


class SplitRecords(NamedTuple):
    """What a split's records say of each image it writes, beside where it goes."""

    hashes: dict[Path, str]
    """Each source image's SHA-256 (whole), for the manifest."""
    keys: dict[Path, str]
    """Each image's placing key: the group it was kept together with, numbered in the
    manifest (:data:`MANIFEST_GROUP`)."""
    reviewed: dict[str, tuple[str, str]]
    """The labels a person settled, by content digest (``reviewed.earlier_reviews``), carried
    into the new ``reviewed.csv`` for the images written."""


def write_split(
    src: Path,
    out: Path,
    assignment: dict[Path, tuple[str, str]],
    records: SplitRecords,
    mode: str,
    record: SplitRecord | None = None,
    on_write: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    index: Path | None = None,
) -> int:
    """Write the split beside any earlier one in ``out`` (in a hidden folder there), then swap it
    in: an earlier split (its train/valid/test folders, manifest and ``split.json``, nothing else;
    ``record``: the new one's, :mod:`objrec.split.record`) is replaced
    only by a whole new one, after every check has passed; so is what a split killed while moving
    its folders in left (:func:`partial_split`), its staging folder too. Ctrl-C and SIGTERM wait
    while it moves in (renames, the earlier split's folders into the stage: ``errors.stops_held``),
    which a stop cut in two, an image of the new split in train and of the earlier one in test.
    ``on_write(done, total)`` after each image is copied or linked; ``on_wait()`` before waiting
    for another objrec process holding ``out`` (an audit reads it under its shared lock).
    ``index``: the feature store folder whose file index hashed ``src``'s files, told each copy
    (or link) written, so that ``train`` reads none of them for its digest. Returns how many
    labels its ``reviewed.csv`` carries. ``assignment``: each image's class and split."""
    make_out(out)
    copies: list[Copied] = []
    with locked(out, on_wait):  # as ``add`` holds it: neither writes under the other
        partial = partial_split(out)  # a killed split's, replaced with it (``force`` checked)
        with _new_stage(out) as stage:
            try:
                with reported_as(out, stage):
                    written = (assignment, records, mode, on_write, copies)
                    reviewed = _write_files(src, stage, out, *written)
                    if record is not None:
                        write_split_record(stage, record)
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
            _move_in(stage, out, partial, copies, index)
    return reviewed


@contextlib.contextmanager
def _new_stage(out: Path) -> Iterator[Path]:
    """A new staging folder in ``out``, locked while the block runs: removed while still held, it
    is never seen as left by a killed split (:func:`partial_split`)."""
    stage = out / f"{STAGE}{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    with locked(stage):
        yield stage


def _move_in(
    stage: Path, out: Path, partial: Path | None, copies: list[Copied], index: Path | None
) -> None:
    """The split written in ``stage`` swapped in for ``out``'s earlier one, Ctrl-C and SIGTERM
    held while it moves; then the stage removed, the earlier split's folders with it, and what a
    killed split left (``partial``); and each of the ``copies`` told to the file index of
    ``index`` (None: none) where it now is."""
    with ctrl_c_leaves(lambda: written_whole(out, stage)):
        with stops_held():
            _swap_in_or_keep(stage, out)
        shutil.rmtree(stage, ignore_errors=True)  # the earlier split's folders with it
        if partial is not None:
            shutil.rmtree(partial)
            log.info("removed %s, the rest of the split that was stopped", partial)
        if index is not None:
            moved = [replace(c, copy=out / c.copy.relative_to(stage)) for c in copies]
            index_written(index, moved)


def written_whole(out: Path, stage: Path) -> str:
    """What a Ctrl-C once the split has moved in (:func:`write_split`) leaves: the whole split in
    ``out``, and, stopped while removing them, what is left of the earlier split's folders."""
    done = f"the split was written to {out}, whole, before the stop"
    if not stage.exists():
        return f"{done}: nothing is left to do"
    return f"{done}; {stage} holds what is left of the earlier split: delete it (rm -r {stage})"


def _swap_in_or_keep(stage: Path, out: Path) -> None:
    """:func:`_swap_in`; stopped part way (an error; a Ctrl-C waits for its end: write_split),
    it keeps ``stage`` as a killed split leaves it, for the next split to name and replace
    (:func:`partial_split`), and says so: ``out`` then mixes this split's folders with an
    earlier one's, an image of one in train and of the other in test. (Removing the stage hid
    that: ``out`` looked like the earlier split.)"""
    mixed = (
        f"{out} now mixes the new split's folders with an earlier split's (an image may be in "
        f"train and in test): split again with `force=True` before using it; {stage} holds the "
        "rest of this one until then"
    )
    try:
        with ctrl_c_leaves(lambda: mixed):
            _swap_in(stage, out)
    except Interrupted:
        raise
    except BaseException:
        log.warning(
            "the split was stopped while moving its folders into %s, which now mixes them with "
            "an earlier split's (an image may be in train and in test): split again with "
            "`force=True` before using it; %s holds the rest of this one until then",
            out,
            stage,
        )
        raise


def _swap_in(stage: Path, out: Path) -> None:
    """The staged split's folders and manifest in place of any earlier split's in ``out``."""
    for name in SPLITS:
        if (out / name).is_dir():  # into the stage, removed with it: a rename, where the
            log.info("replacing the earlier split's %s", out / name)  # removal took seconds
            (out / name).rename(stage / f"earlier-{name}")
        if (stage / name).is_dir():
            (stage / name).rename(out / name)
    if (stage / REVIEWED_FILE).is_file():
        (stage / REVIEWED_FILE).replace(out / REVIEWED_FILE)
    elif (out / REVIEWED_FILE).is_file():  # read, and none of its images is in the new split
        (out / REVIEWED_FILE).unlink()
    if (stage / SPLIT_RECORD).is_file():
        (stage / SPLIT_RECORD).replace(out / SPLIT_RECORD)
    elif (out / SPLIT_RECORD).is_file():  # the earlier split's, which this one is not
        (out / SPLIT_RECORD).unlink()
    (stage / MANIFEST).replace(out / MANIFEST)


def _write_files(
    src: Path,
    stage: Path,
    out: Path,
    assignment: dict[Path, tuple[str, str]],
    records: SplitRecords,
    mode: str,
    on_write: Callable[[int, int], None] | None = None,
    copies: list[Copied] | None = None,
) -> int:
    """Each image goes to ``stage/SPLIT/CLASS/`` (the staging folder in ``out``, swapped in
    whole later) under its own path in its class folder, sub-folders kept: ``2019/IMG_1.jpg``
    and ``2020/IMG_1.jpg`` of one class are two images, never one. The manifest records each
    one's content digest (``records.hashes``) and the group it was kept together with
    (``records.keys``: :data:`MANIFEST_GROUP`); ``reviewed.csv`` the labels a person settled of
    the images written (``records.reviewed``); ``on_write(done, total)`` after each image;
    ``copies``: where each is put as the file index takes it (``file_index.copy_and_record``)."""
    stage.mkdir(parents=True, exist_ok=True)
    hashes, keys, reviewed = records
    rows: list[list[str]] = []
    numbers: dict[str, int] = {}
    targets: list[Path] = []
    files = sorted(assignment.items())
    wanted = [Path(split, name, *path.relative_to(src).parts[1:]) for path, (name, split) in files]
    # a name differing from another's only in case is another: the second gets a free name
    for (path, (name, split)), rel in zip(files, settle_names(wanted), strict=True):
        target = stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        targets.append(target)
        put = functools.partial(_put, path, target, mode, out, hashes[path])
        made = copy_and_record(path, put)[1]
        if made is not None and copies is not None:
            copies.append(made)
        group = numbers.setdefault(keys[path], len(numbers))
        rows.append([target.relative_to(stage).as_posix(), name, split, hashes[path], str(path)])
        rows[-1].append(str(group))
        if on_write:
            on_write(len(rows), len(files))
    sync_written(targets, stage)  # on the disk before the manifest lists them
    tmp = stage / (MANIFEST + ".tmp")
    with tmp.open("w", newline="", encoding=CSV_ENCODING) as f:
        writer = csv.writer(f)
        writer.writerow([*MANIFEST_COLUMNS, MANIFEST_GROUP])
        writer.writerows(manifest_cells(row) for row in rows)
    carried = carry_reviewed(stage, reviewed, {row[3][:DIGEST_CHARS]: row[0] for row in rows})
    tmp.replace(stage / MANIFEST)
    return carried


def _put(source: Path, target: Path, mode: str, folder: Path, sha256: str) -> Path:
    """``source`` copied to ``target`` (``mode`` copy), refused where its bytes are no longer
    those read as ``sha256`` (:func:`copy_as_read`: the stage is removed, nothing written), or
    linked there, for the split in ``folder`` (OUT, which a refusal of links names)."""
    if mode == "copy":
        copy_as_read(source, target, sha256, "`split_folder`")
    else:
        link_file(source, target, folder)
    return target

"""Output paths: objrec writes only where it was asked to and never overwrites without --force.

:func:`refuse_overwrite` is the one rule every command applies before writing: an existing file, or
a folder with anything in it, is written over only when the user passed ``--force``.
:func:`staged_file` writes a file whole or not at all, :func:`staged_outputs` a command's files all
together or none. :func:`new_folders` takes back, when a command fails, the folders it created
and left empty.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import inspect
import json
import logging
import math
import os
import re
import shutil
import stat
import sys
import unicodedata
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from objrec import __version__
from objrec.errors import ObjrecError, UsageRefused, ctrl_c_leaves, stops_held
from objrec.leftovers import host_tag, is_leftover, remove_leftovers
from objrec.locks import LOCK_FILE, locked, waiting_in
from objrec.run_files import output_beside

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

HINT = "choose another `out` or pass `force=True`"


def refuse_overwrite(path: Path, force: bool = False, hint: str = HINT) -> None:
    """Raise unless ``path`` is absent, an empty folder, or ``force`` is given; and unless it can
    be written at all (:func:`refuse_unwritable`).

    Args:
        path: the file or folder about to be written.
        force: the user's ``--force``: write over it anyway.
        hint: what the user can do instead, ending the error sentence.
    """
    path = Path(path)
    real = path.resolve()  # as the write will land: ``x/..`` is the current folder once x exists
    refuse_unwritable(path, real)
    if force or not real.exists():
        return
    if real.is_dir():
        if any(real.iterdir()):
            raise ObjrecError(f"{path} is not empty: {hint}")
        return
    raise ObjrecError(f"{path} exists: {hint}")


def refuse_unwritable(path: Path, real: Path) -> None:
    """Raise unless ``path`` (``real`` resolved) can be made or written: the nearest folder that
    exists on the way to it must be a folder, one the user may write in. Checked before any slow
    work, so a command never reads a whole data set only to fail on its first write."""
    nearest = real if real.is_dir() else real.parent  # a file is replaced from its folder
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise ObjrecError(f"{path} cannot be written: {nearest} is a file, not a folder")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ObjrecError(f"{path} cannot be written: no permission to write in {nearest}")


def refuse_inside(out: Path, source: Path, name: str = "out", what: str = "data folder") -> None:
    """Raise when the output ``out`` (the argument ``name``) is, or lies inside, the folder
    ``source`` the command reads: what it writes there (plots are images) would be read as data
    the next time, a new class of its own. A usage error (:class:`UsageRefused`)."""
    real, read = Path(out).resolve(), Path(source).resolve()
    if real == read:
        raise UsageRefused(f"`{name}` {out} is the {what}: choose a folder outside it")
    if real.is_relative_to(read):
        raise UsageRefused(f"`{name}` {out} lies inside the {what} {source}: choose one outside it")


def refuse_nested(out: Path, source: Path, what: str = "data folder") -> None:
    """:func:`refuse_inside`, and an ``out`` that holds ``source``: a folder written whole (a
    split, an applied plan) would be written around the one it copies."""
    refuse_inside(out, source, what=what)
    if Path(source).resolve().is_relative_to(Path(out).resolve()):
        raise UsageRefused(f"`out` {out} holds the {what} {source}: choose one outside it")


MARKER = ".objrec-output"
"""The hidden file objrec writes into each output folder it makes (``explore``, ``audit``,
``evaluate``, ``suggest``, ``predict --explain``): what tells a folder of objrec's outputs,
which ``force`` may write over, from a folder of the user's. It records each file objrec wrote
there (:func:`record_output`), so that a re-run tells the user's edits from its own outputs."""

EVALUATION_FILES = (
    *("metrics.json", "per_class.csv", "predictions.csv", "confusion.csv"),
    *("confusion_normalised.csv", "most_confused.csv", "confusion.png", "top_losses.png"),
    *("worst_classes.png", "accuracy_vs_train.png", "reliability.csv", "reliability.png"),
    "unknown_predictions.csv",
)
"""What ``evaluate`` writes into its folder (``evaluate.write_evaluation``)."""
EXPLORE_FILES = (
    "counts.csv",
    "sizes.csv",
    "size_stats.csv",
    "images_per_class.png",
    "image_sizes.png",
)
"""What ``explore`` writes into its folder."""
AUDIT_FILES = (
    *("label_issues.csv", "near_duplicates.csv", "look_alikes.csv", "outliers.csv"),
    *("audit.json", "plan.csv", "audit.html", "photos_needed.csv"),
)
"""What ``audit`` writes into its folder."""
SUGGEST_FILES = ("suggestions.csv", "suggestions.html")
"""What ``suggest`` writes into its folder."""
OUTPUT_NAMES = frozenset({*EVALUATION_FILES, *EXPLORE_FILES, *AUDIT_FILES, *SUGGEST_FILES})
"""What ``evaluate``, ``explore``, ``audit`` and ``suggest`` write into an output folder: in a
folder objrec has not marked (:data:`MARKER`), a file of one of these names is the user's
unless an earlier objrec (before the mark, or beside the user's files) wrote it
(:func:`earlier_outputs`)."""


def prepare_output_dir(
    path: Path,
    force: bool = False,
    hint: str = HINT,
    names: Collection[str] = OUTPUT_NAMES,
    refresh: bool = False,
) -> Path:
    """Create the folder ``path`` and mark it objrec's (:func:`mark_output_dir`); refuse when it
    exists with anything in it, unless ``force`` or ``refresh`` (:func:`check_output_dir`).

    With ``force`` the files objrec writes (``names``) replace those of the same name that objrec
    wrote there before; a file of the user's of such a name is refused, and nothing else is
    removed. ``refresh`` writes again over objrec's own outputs only as it recorded them
    (:func:`users_file`): a re-run into a default folder never loses an edit.
    """
    check_output_dir(path, force, hint, names, refresh)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    mark_output_dir(path)
    return path


def check_output_dir(
    path: Path,
    force: bool = False,
    hint: str = HINT,
    names: Collection[str] = OUTPUT_NAMES,
    refresh: bool = False,
) -> None:
    """Raise where :func:`prepare_output_dir` would, creating nothing: for a folder that is made
    only once there is something to put in it. A folder holding anything but objrec's mark is
    refused unless ``force`` or ``refresh``; with either, a file of a name the command writes
    (``names``) that is the user's is refused too (:func:`users_namesake`, :func:`users_file`)."""
    real = Path(path).resolve()
    if real.exists() and not real.is_dir():
        raise ObjrecError(f"{path} exists and is not a folder")
    if (force or refresh) and real.is_dir():  # ``hint``'s first half: how to choose another
        refuse_users_outputs(Path(path), names, force, hint.split(" or ", 1)[0])
    only_marked = real.is_dir() and not own_contents(real)
    refuse_overwrite(path, force or refresh or only_marked, hint)


def mark_output_dir(folder: Path) -> None:
    """Mark ``folder`` (an existing one) as holding objrec's outputs (:data:`MARKER`), when it
    holds nothing else, or only what an objrec before the mark wrote there (:func:`only_earlier`:
    then a forced run records what it writes, and the next plain one may refresh it): a folder of
    the user's that ``force`` writes beside stays theirs, on every forced run, so a file of theirs
    there is never taken for objrec's. The mark records no file yet."""
    folder = Path(folder)
    with locked(folder, waiting_in(folder)):  # another objrec's record is never replaced
        if (folder / MARKER).is_file():
            return
        if not own_contents(folder) or only_earlier(folder.resolve()):
            write_record(folder, {})


def only_earlier(real: Path) -> bool:
    """Whether the folder ``real`` holds an earlier objrec's outputs (:func:`earlier_outputs`)
    and nothing a person sees beside them: a folder of the user's that a forced run wrote beside
    holds their files too (hidden ones, ``.DS_Store`` say, do not count)."""
    ours = earlier_outputs(real)
    return bool(ours) and all(p.name in ours for p in real.iterdir() if not p.name.startswith("."))


def own_contents(folder: Path) -> list[str]:
    """The names in ``folder`` other than objrec's mark, lock file (:data:`LOCK_FILE`) and
    temporary files (:func:`is_leftover`): what makes it not empty."""
    ours = (MARKER, LOCK_FILE)
    return sorted(p.name for p in folder.iterdir() if p.name not in ours and not is_leftover(p))


def users_namesake(real: Path, names: Collection[str] = OUTPUT_NAMES) -> str | None:
    """The first file or folder in the folder ``real`` of a name the command writes (``names``)
    that is the user's: neither recorded in the folder's mark (:func:`recorded_outputs`) nor of a
    command whose earlier output is there (:func:`earlier_outputs`). None when there is none
    (files of other names are written beside), or when the mark of an earlier objrec recorded
    nothing to tell by. A recorded file the user changed is :func:`users_file`'s to tell."""
    if not real.is_dir():
        return None
    record = recorded_outputs(real)
    if record is None and (real / MARKER).is_file():
        return None
    taken = sorted(p.name for p in real.iterdir() if p.name in names)
    ours = earlier_outputs(real) | set(record or {})
    return next((n for n in taken if n not in ours or not is_plain_file(real / n)), None)


def holds_objrecs_outputs(folder: Path) -> bool:
    """Whether ``folder`` is one objrec made for its outputs: marked (:data:`MARKER`), or holding
    what an earlier objrec, before the mark, wrote there (:func:`earlier_outputs`)."""
    real = Path(folder).resolve()
    return real.is_dir() and ((real / MARKER).is_file() or bool(earlier_outputs(real)))


RECORD_KEYS = ("size", "mtime_ns", "sha256")
"""What the mark (:data:`MARKER`) records of each file objrec wrote into its folder. The content
hash decides (:func:`users_file`): the size and mtime alone miss an edit that keeps them (a file
restored with ``cp -p``, a clock set back, a coarse FAT clock), and outputs are small (CSVs, plots,
a page: milliseconds to hash). The mtime is kept for a person reading the mark."""


def recorded_outputs(folder: Path) -> dict[str, dict[str, Any]] | None:
    """The files objrec recorded writing into ``folder`` (name -> :data:`RECORD_KEYS`); None when
    there is no record: no mark, or the empty mark of an earlier objrec, which recorded no files."""
    marker = Path(folder) / MARKER
    files = json_dict(marker).get("files") if is_plain_file(marker) else None
    return files if isinstance(files, dict) else None


def write_record(folder: Path, files: dict[str, dict[str, Any]]) -> None:
    """The mark of ``folder`` recording ``files``, replaced whole (:func:`staged_file`)."""
    text = json.dumps({"objrec": __version__, "files": files}, indent=1, sort_keys=True)
    with staged_file(Path(folder) / MARKER) as tmp:
        tmp.write_text(f"{text}\n")


def fingerprint(path: Path) -> dict[str, Any]:
    """What :data:`RECORD_KEYS` records of the file ``path`` (not followed if a link)."""
    info = path.lstat()
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}


def record_output(folder: Path, written: dict[str, dict[str, Any]]) -> None:
    """Add the files objrec has just written (name -> :func:`fingerprint`) to the record of
    ``folder``'s mark, right after them (a run stopped half way leaves what it wrote recorded); a
    folder without a mark (the user's, written beside with ``force``) gets none. The folder is
    :func:`locked` meanwhile: two objrecs writing into one folder at once each add theirs, where
    one's record written over the other's lost its files (refused later as the user's)."""
    folder = Path(folder)
    with locked(folder, waiting_in(folder)):  # read, added to, written whole by one at a time
        if is_plain_file(folder / MARKER):
            write_record(folder, (recorded_outputs(folder) or {}) | written)


def users_file(folder: Path, name: str, force: bool = False) -> str | None:
    """Why writing the output ``name`` into ``folder`` would lose something of the user's, in
    words ("changed after objrec wrote it"); None when it may be written: absent (an earlier run
    stopped before it), or a plain file objrec recorded (:func:`recorded_outputs`) with the content
    recorded, or, with ``force``, any plain file. A link, or anything but a file, is never
    written over nor through, even with ``force``."""
    path = Path(folder) / name  # looked up as a write would: on a case-insensitive disk,
    try:  # the user's Counts.csv is what counts.csv names
        info = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return NEVER_LINK
    if not stat.S_ISREG(info.st_mode):
        return NEVER_OTHER
    if force:
        return None
    record = recorded_outputs(folder)
    if record is None:
        return "was written by an earlier objrec, which kept no record to tell your changes by"
    entry = record.get(name)
    if not isinstance(entry, dict):
        return "is not a file objrec wrote"
    now = fingerprint(path)
    if any(entry.get(key) != now[key] for key in ("size", "sha256")):
        return CHANGED
    return None


CHANGED = "changed after objrec wrote it"
"""Why a file of objrec's is kept (:func:`users_file`, :func:`edited_page`): a person edited it."""


NEVER_LINK = "is a link, which objrec never writes through nor replaces"
NEVER_OTHER = "is not a file (a folder, a pipe ...), which objrec never writes over"


def refuse_users_file(
    folder: Path, name: str, force: bool = False, other: str = "choose another `out`"
) -> None:
    """Raise, naming it, when the output ``name`` in ``folder`` is the user's (:func:`users_file`):
    a link or anything but a file can only be moved; a changed file is written over with
    ``force``. ``other``: how the user names another folder (``choose another `explain```)."""
    reason = users_file(folder, name, force)
    if reason is None:
        return
    path = Path(folder) / name
    if reason in (NEVER_LINK, NEVER_OTHER):
        raise ObjrecError(f"{path} {reason}, even with `force=True`: move it, or {other}")
    raise ObjrecError(f"{path} {reason}: pass `force=True` to write over it, or {other}")


def refuse_users_files(
    folder: Path, names: Collection[str], force: bool = False, other: str = "choose another `out`"
) -> None:
    """:func:`refuse_users_file` for each of ``names``, all before the first is written: a command
    refused for one of its outputs (a plan.csv saved during the audit) leaves the others as they
    were, not half of them replaced by the new run's."""
    for name in names:
        refuse_users_file(folder, name, force, other)


def refuse_users_outputs(
    folder: Path, names: Collection[str], force: bool = False, other: str = "choose another `out`"
) -> None:
    """:func:`refuse_users_files`, links first; then, with ``force``, a file of a name the command
    writes that is the user's (:func:`users_namesake`). Called when the command begins and again
    just before its first output is written: one the user saved meanwhile (a plan.csv saved
    during a long forced audit) is refused then, before this run's own outputs explain it."""
    refuse_users_files(folder, names, force, other)
    theirs = users_namesake(Path(folder).resolve(), names) if force else None
    if theirs is not None:
        raise ObjrecError(
            f"{Path(folder) / theirs} is not a file objrec wrote (no earlier output of a command "
            f"that writes it is there), and `force=True` writes over objrec's outputs only: "
            f"{other}, or move it"
        )


@contextlib.contextmanager
def output_file(
    folder: Path,
    name: str,
    force: bool = False,
    record: bool = True,
    other: str = "choose another `out`",
    tidy: bool = True,
) -> Iterator[Path]:
    """A temporary name in ``folder`` to write its output ``name`` to (its suffix kept, as
    plotting tells the format by it); it takes ``name`` when the block ends, checked again just
    before (:func:`refuse_users_file`): a file the user changed or put there meanwhile (a
    plan.csv saved during a long audit) is refused and kept; a link is refused, and were one made
    in the instant after that check, the rename replaces the link itself, never its target.
    Then recorded in the folder's mark (:func:`record_output`), unless ``record`` is False (a
    caller writing many files records them at once: the mark is rewritten whole each time).
    ``other``: how the user names another folder, in a refusal. A stopped objrec's temporary
    files in ``folder`` go first (:func:`remove_leftovers`), unless ``tidy`` is False (a caller
    writing many files removes them once: a listing of 10,000 names takes 11 ms)."""
    folder, path = Path(folder), Path(folder) / name
    folder.mkdir(parents=True, exist_ok=True)
    if tidy:
        remove_leftovers(folder)
    tmp = folder / f".objrec-{os.getpid()}-{uuid.uuid4().hex}{Path(name).suffix}"
    try:
        with reported_as(path, tmp):
            yield tmp
            written = fingerprint(tmp)  # as written: the rename keeps content, size and time
            refuse_users_file(folder, name, force, other)
            os.replace(tmp, path)
        if record:
            record_output(folder, {name: written})
    finally:
        discard(tmp)


@contextlib.contextmanager
def staged_outputs(
    folder: Path,
    names: Collection[str],
    force: bool = False,
    other: str = "choose another `out`",
    inner: Collection[str] = (),
    last: Callable[[], None] = lambda: None,
) -> Iterator[Callable[[str], Path]]:
    """``place(name)``: where to write the output ``name`` (one of ``names``, those the command
    writes), in a hidden folder in ``folder``; when the block ends they take their names together
    (:func:`swap_in_outputs`). Written one at a time, a re-run stopped half way (Ctrl-C, a plot
    that failed) left some of the new files beside the rest of the earlier run's, which read as
    one result; now it leaves the earlier one whole, and a first run nothing. Every name is
    refused first where it is the user's (:func:`refuse_users_outputs`), and again just before
    the files take their names.

    ``inner``: folders in ``folder`` that hold outputs of ``names`` too (``evaluate
    --against``'s ``against-NAME``), written over by the same rule as ``folder``, placed as
    ``place("against-NAME/metrics.json")`` and put in place in the same step, each whole and
    before the folder's own files (:func:`put_folder`): a kill between, which nothing holds back,
    leaves the earlier files beside an inner folder they do not name, never the new files naming
    one that is missing or half replaced. ``last()`` is called in that step, after the renames:
    what they made stale (an earlier ``--against``'s folder of another run) goes once the files
    naming it are replaced, never before."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    refuse_users_outputs(folder, names, force, other)
    for name in inner:
        refuse_users_outputs(refuse_unless_folder(folder / name, other), names, force, other)
    with staging_folder(folder) as stage:

        def place(name: str) -> Path:
            within, _, base = name.rpartition("/")
            if base not in names or (within and within not in inner):
                raise ValueError(f"{name} is not one of the outputs {sorted(names)}")
            (stage / within).mkdir(exist_ok=True)
            return stage / name

        yield place
        swap_in_outputs(stage, folder, names, force, other, inner, last)


def refuse_unless_folder(path: Path, other: str = "choose another `out`") -> Path:
    """``path``, refused, naming it, when it is there and is not a folder: a link (to a folder
    too: objrec never writes through one), a file."""
    if path.is_symlink() or (os.path.lexists(path) and not path.is_dir()):
        reason = NEVER_LINK if path.is_symlink() else "is not a folder"
        raise ObjrecError(f"{path} {reason}, even with `force=True`: move it, or {other}")
    return path


@contextlib.contextmanager
def staging_folder(folder: Path) -> Iterator[Path]:
    """A new hidden folder in ``folder`` (:func:`temporary_name`, ``.d``) for a command to write
    its files in before they take their names in ``folder`` together (:func:`staged_outputs`,
    ``runs.write_run``); removed with what is left in it when the block ends. An OSError about
    a file in it is raised about the file of that name in ``folder`` (:func:`reported_as`). A
    killed command's is removed by a later one writing there (:func:`remove_leftovers`)."""
    stage = temporary_name(Path(folder) / MARKER, ".d")
    stage.mkdir()
    try:
        with reported_as(Path(folder), stage):
            yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def swap_in_outputs(
    stage: Path,
    folder: Path,
    names: Collection[str],
    force: bool,
    other: str,
    inner: Collection[str] = (),
    last: Callable[[], None] = lambda: None,
) -> None:
    """The files written in ``stage`` put in place with Ctrl-C and SIGTERM held back meanwhile
    (milliseconds), each checked before (:func:`planned_swap`): first each of its ``inner``
    folders into ``folder``'s folder of that name, whole (:func:`put_folder`), then its own files
    renamed into ``folder``, each folder's mark recording its own; then ``last()``."""
    own = planned_swap(stage, folder, names, force, other)
    folders = [
        planned_folder(
            stage / name, refuse_unless_folder(folder / name, other), names, force, other
        )
        for name in inner
        if (stage / name).is_dir()
    ]
    held = locked(folder, waiting_in(folder))
    with held, ctrl_c_leaves(lambda: written_whole([folder])), stops_held():
        for source, target, written, stale in folders:
            put_folder(source, target, written, stale, names)
        swap_files(stage, folder, *own)
        last()


def planned_folder(
    source: Path, target: Path, names: Collection[str], force: bool, other: str
) -> tuple[Path, Path, dict[str, dict[str, Any]], list[str]]:
    """The staged inner folder ``source`` of ``target``, checked as :func:`planned_swap` checks
    files (without ``force``, a file changed since objrec wrote it is refused, as in the folder
    holding it), marked with its files recorded: as it is to stand in place."""
    written, stale = planned_swap(source, target, names, force, other)
    write_record(source, written)
    return source, target, written, stale


def put_folder(
    source: Path,
    target: Path,
    written: dict[str, dict[str, Any]],
    stale: Sequence[str],
    names: Collection[str],
) -> None:
    """The staged folder ``source`` (:func:`planned_folder`) put in place as ``target``, so that
    ``target`` is at every instant the earlier folder or the new one, whole: renamed where there
    is none; exchanged in one step with an earlier one holding only objrec's outputs
    (:func:`exchange`), which is left in the staging folder and removed with it.

    Where the file system cannot exchange two folders (NFS, SMB, most FUSE ones) the earlier
    one is renamed into the staging folder first: between that rename and the next (microseconds)
    ``target`` is missing, and a kill there leaves it so, the earlier one in the hidden staging
    folder, which the next command writing into ``target``'s folder removes. An earlier folder
    holding anything else (a file of the user's, which objrec never removes) stays, taking the new
    files one by one (:func:`swap_files`): a kill among those renames leaves it part earlier,
    part new."""
    if not os.path.lexists(target):
        os.replace(source, target)
    elif only_outputs(target, names):
        if not exchange(source, target):
            os.replace(target, temporary_name(source, ".d"))
            os.replace(source, target)
        said_stale(target, stale)
    else:
        mark_output_dir(target)
        swap_files(source, target, written, stale)


def only_outputs(folder: Path, names: Collection[str]) -> bool:
    """Whether ``folder`` holds nothing but objrec's mark and outputs of ``names`` that objrec
    recorded writing there, as they are (:func:`users_file`)."""
    return all(
        name == MARKER or (name in names and users_file(folder, name) is None)
        for name in os.listdir(folder)
    )


SWAP_CALLS = {"linux": ("renameat2", 2), "darwin": ("renamex_np", 2)}
"""The C library's call that exchanges two paths in one step, by platform, and its flag
(RENAME_EXCHANGE, RENAME_SWAP)."""
SWAP_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}
"""What the call answers where the kernel or the file system cannot exchange."""


def exchange(one: Path, other: Path) -> bool:
    """Exchange the paths ``one`` and ``other`` (two folders) in one step, as the system can on
    Linux (``renameat2``, glibc 2.28) and macOS (``renamex_np``): neither name is ever missing.
    False, nothing done, where it cannot (another system, an older kernel or C library, a file
    system without it); another failure is its OSError."""
    import ctypes  # not for ``objrec --help``

    call = SWAP_CALLS.get(sys.platform)
    function = None if call is None else getattr(ctypes.CDLL(None, use_errno=True), call[0], None)
    if call is None or function is None:
        return False
    paths = [os.fsencode(one), os.fsencode(other)]
    at = (-100, paths[0], -100, paths[1]) if call[0] == "renameat2" else paths  # AT_FDCWD
    if function(*at, ctypes.c_uint(call[1])) == 0:
        return True
    code = ctypes.get_errno()
    if code in SWAP_UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(other))


def planned_swap(
    stage: Path, folder: Path, names: Collection[str], force: bool, other: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The files written in ``stage`` (name -> :func:`fingerprint`), each checked
    (:func:`refuse_users_files`), and the earlier outputs of ``names`` in ``folder`` this run did
    not write (a reliability plot of a model since trained without calibration), which go too,
    where objrec recorded writing them as they are (:func:`users_file`): no earlier file is left
    to read as this run's."""
    written = {p.name: fingerprint(p) for p in sorted(stage.iterdir()) if p.is_file()}
    refuse_users_files(folder, written, force, other)
    stale = [
        name
        for name in sorted(set(names) - set(written))
        if os.path.lexists(folder / name) and users_file(folder, name) is None
    ]
    return written, stale


def swap_files(
    stage: Path, folder: Path, written: dict[str, dict[str, Any]], stale: Sequence[str]
) -> None:
    """:func:`planned_swap`'s files renamed from ``stage`` into ``folder``, its ``stale`` ones
    removed, and the folder's mark, if any, recording what it holds now."""
    for name in written:
        os.replace(stage / name, folder / name)
    for name in stale:
        (folder / name).unlink()
    if is_plain_file(folder / MARKER):
        kept = {k: v for k, v in (recorded_outputs(folder) or {}).items() if k not in stale}
        write_record(folder, kept | written)
    said_stale(folder, stale)


def said_stale(folder: Path, stale: Sequence[str]) -> None:
    """Log the earlier outputs of ``folder`` that went, as this run did not write them."""
    if stale:
        log.info("removed %s's earlier %s, which this run did not write", folder, ", ".join(stale))


def earlier_outputs(real: Path) -> set[str]:
    """The names written by each command whose earlier output the folder ``real`` holds, told by
    what one of its files holds (a user's own ``metrics.json`` is not taken for an evaluation,
    nor their ``plan.csv`` beside objrec's exploration for an audit's)."""
    found = (
        (EVALUATION_FILES, holds_evaluation(real)),
        (AUDIT_FILES, {"label_issues", "outliers"} <= json_dict(real / "audit.json").keys()),
        (EXPLORE_FILES, _starts(real / "sizes.csv", b"split,class,file,width,height")),
        (SUGGEST_FILES, b"<title>objrec suggest:" in _head(real / "suggestions.html")),
    )
    return {name for files, wrote in found if wrote for name in files}


def holds_evaluation(folder: Path) -> bool:
    """Whether ``folder``'s ``metrics.json`` is an evaluation's (a user's own is not)."""
    return {"top1", "per_class"} <= json_dict(Path(folder) / "metrics.json").keys()


def is_export_sidecar(path: Path) -> bool:
    """Whether ``path`` is a file (not a link) an export wrote: a JSON object naming the
    ``objrec_version`` that wrote it, as every export's sidecar does."""
    return is_plain_file(path) and bool(json_dict(path).get("objrec_version"))


FILES_SHA256 = "files_sha256"
"""The sidecar's key recording the SHA-256 of the files written with it (the graph, the script),
each by its name: ``check RUN`` tells a changed byte of either (exported since 5 December 2026)."""


def default_export_path(run: Path) -> Path:
    """Where an export goes unless told: ``RUN/model.onnx`` for a run folder; beside a checkpoint
    file, under its name with ``.onnx`` (``ckpt.safetensors`` -> ``ckpt.onnx``)."""
    return run / "model.onnx" if run.is_dir() else run.with_suffix(".onnx")


def script_path(path: Path) -> Path:
    """The script written beside the model ``path`` (``model.onnx`` -> ``model_infer.py``), named
    so that Python can import it: what a module name cannot hold becomes ``_``
    (``my-model.v2.onnx`` -> ``my_model_v2_infer.py``), and a name that starts with a digit
    gets ``model_`` before it (``2024.onnx`` -> ``model_2024_infer.py``)."""
    name = re.sub(r"\W", "_", path.stem)
    if not f"{name}_infer".isidentifier():  # a digit first, or a character \w lets through
        name = "model_" + re.sub(r"[^0-9A-Za-z_]", "_", name)
    return path.with_name(f"{name}_infer.py")


EXPORT_SCRIPT_START = b"# Written by objrec export"
"""How the script an export writes beside its model starts (``objrec/export/script.py``)."""


def is_export_script(path: Path) -> bool:
    """Whether ``path`` is a file (not a link) an export wrote: its script, by its first line."""
    return is_plain_file(path) and _starts(path, EXPORT_SCRIPT_START)


def is_plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _head(path: Path) -> bytes:
    """The first 4 KiB of ``path``; nothing when it cannot be read."""
    try:
        with path.open("rb") as f:
            return f.read(4096)
    except OSError:
        return b""


def _starts(path: Path, start: bytes) -> bool:
    """Whether ``path`` starts with ``start``, after the byte-order mark of a CSV objrec wrote
    (``tables.CSV_ENCODING``), if any."""
    return _head(path).removeprefix(b"\xef\xbb\xbf").startswith(start)


def json_dict(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty when there is none (absent, unreadable, not an object)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def new_folders(*paths: Path | None) -> Iterator[None]:
    """On an error (or Ctrl-C) in the block, remove each folder on the way to ``paths`` that did
    not exist when the block began (``paths`` themselves included), deepest first, each only while
    it is empty: a failed command leaves no empty folder of its own making behind, and a folder
    the user had, or one holding anything (a run that can be resumed, say), is never touched."""
    made: list[Path] = []
    for path in (Path(p).absolute() for p in paths if p is not None):
        made += [real for real in map(_real, (path, *path.parents)) if real and _absent(real)]
    try:
        yield
    except BaseException:
        for folder in sorted(set(made), key=lambda f: len(f.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty, or gone: left as it is
                if {p.name for p in folder.iterdir()} == {MARKER}:  # marked, nothing written
                    (folder / MARKER).unlink()
                folder.rmdir()
                log.info("removed the empty folder %s, made by the failed command", folder)
        raise


def _real(folder: Path) -> Path | None:
    """``folder`` as the file system will name it (``a/../b`` is ``b``), or None when that cannot
    be told (a loop of links): such a folder is never taken back."""
    try:
        return resolved(folder)
    except OSError:
        return None


def _absent(folder: Path) -> bool:
    """Whether ``folder`` is surely absent: one that cannot be looked at (no permission) counts
    as present, so it is never removed."""
    try:
        return not folder.exists()
    except OSError:
        return False


def output_path(path: Path, name: str = "out") -> Path:
    """The output ``path`` (the argument ``name``) checked before anything is written: one that
    leads into a loop of symbolic links is refused in a sentence naming it; one with a ``..`` part
    is resolved (``z/..`` is the folder z is in, whether or not z exists: making the folders on
    the way to it as spelled would leave an empty ``z`` behind)."""
    path = Path(path)
    try:
        real = resolved(path)
    except OSError:
        raise ObjrecError(
            f"`{name}` {path} leads into a loop of symbolic links: choose another path"
        ) from None
    return real if ".." in path.parts else path


def resolved(path: Path) -> Path:
    """``path`` made absolute, its links followed, as ``Path.resolve()`` makes it; a loop of
    links raises OSError (ELOOP) on every Python. Python 3.11 and 3.12's ``resolve()`` raise
    RuntimeError there, and 3.13's returns the path with the loop left in it, which a write then
    fails on with a sentence that does not say why ("file exists")."""
    real = Path(os.path.realpath(path))
    try:
        real.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise
    return real


def landing(path: Path) -> Path:
    """Where a write to ``path`` lands: its folder resolved (``.``, ``..``, links), its name as
    spelled (a link named like the file is what a write replaces, never its target). Raises
    OSError on a loop of links."""
    return resolved(Path(path).parent) / Path(path).name


def writes_over(output: Path, image: Path) -> bool:
    """Whether writing ``output`` replaces the file ``image`` names: by its name
    (:func:`~objrec.outputs.same_file`), or as the file that ``image``, a link or a hard link,
    leads to (a write replaces a link named as ``output``, not what it leads to)."""
    if same_file(output, image):
        return True
    try:
        target = landing(output)
        return not target.is_symlink() and os.path.samefile(target, image)
    except OSError:  # either is not there, or a loop of links
        return False


def same_file(a: Path, b: Path) -> bool:
    """Whether writing ``a`` and writing ``b`` land on the same file (:func:`landing`). Loops of
    links compare as different."""
    try:
        return landing(a) == landing(b)
    except OSError:
        return False


def shown_name(path: str, roots: Sequence[Path]) -> str:
    """``path`` as its user knows it: relative to the first of ``roots`` (the data folder, then
    the evaluated folder) that holds it, as spelled or resolved; else its class folder and name."""
    for candidate in (Path(os.path.abspath(path)), Path(path).resolve()):
        for root in roots:
            for base in (Path(os.path.abspath(root)), Path(root).resolve()):
                if candidate.is_relative_to(base):
                    return candidate.relative_to(base).as_posix()
    return "/".join(Path(path).parts[-2:])


def takes_back_folders(
    *names: str, by_rank_0: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: the function's arguments ``names`` (output folders) are checked
    (:func:`output_path`), and a call that fails leaves none of the folders it created on the way
    to them while they are empty (:func:`new_folders`). ``by_rank_0``: under torchrun, rank 0
    alone writes into them, so it alone takes them back: another rank, stopped by the same Ctrl-C,
    removed the run folder, still empty, as rank 0 wrote the run's state into it, and the run was
    lost."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            given = bound.arguments
            for name in (name for name in names if given.get(name) is not None):
                given[name] = output_path(given[name], name)
            if by_rank_0 and os.environ.get("RANK", "0") != "0":  # as torchrun numbers its ranks
                return function(*bound.args, **bound.kwargs)
            with new_folders(*(given.get(name) for name in names)):
                return function(*bound.args, **bound.kwargs)

        return call

    return decorate


@contextlib.contextmanager
def writing_outputs(out: Path) -> Iterator[None]:
    """Ctrl-C while the block writes a command's files for the folder ``out`` says that nothing
    was written there: they take their names together once all are written
    (:func:`staged_outputs`, :func:`staged_files`), whose renames say a stop themselves
    (:func:`written_whole`)."""
    with ctrl_c_leaves(lambda: f"nothing was written to {out}: run it again"):
        yield


def written_whole(folders: Sequence[Path]) -> str:
    """What a Ctrl-C held back while a command's files were renamed into ``folders`` leaves:
    all of them, whole (not "OUT holds 5 outputs of it, not the others: run it again")."""
    where = " and ".join(map(str, folders))
    return f"the files were written to {where}, whole, before the stop: nothing is left to do"


@contextlib.contextmanager
def reported_as(target: Path, temporary: Path) -> Iterator[None]:
    """An OSError raised in the block about ``temporary`` (a file, or a folder and what is in it),
    or about no file at all (a full disk met by a buffered write), is raised again about
    ``target``, the name the user gave: the temporary name means nothing to them and is gone by
    the time they read the message. A file in the folder ``temporary`` is named as it will be in
    ``target`` (``OUT/per_class.csv``, not OUT alone). An error about another file (a source
    that cannot be read), or one that is not the system's (no errno: Pillow's, say), goes on
    unchanged. The error is raised anew, not edited: a rename's ``filename2`` set to None still
    printed, as "'FILE' -> None"."""
    try:
        yield
    except OSError as exc:
        names = [Path(os.fsdecode(n)) for n in (exc.filename, exc.filename2) if n is not None]
        ours = [n for n in names if n == temporary or temporary in n.parents]
        if exc.errno is None or not (ours or not names):
            raise
        name = str(target / ours[0].relative_to(temporary) if ours else target)
        raise OSError(exc.errno, exc.strerror, name) from exc  # the errno's subclass, as raised


def name_key(path: Path) -> str:
    """A destination as a case-insensitive file system tells names apart (macOS, Windows): case
    aside, and on macOS how accents are encoded (a Mac's NFD ``été.jpg`` is an NFC one there)."""
    return unicodedata.normalize("NFC", path.as_posix()).casefold()


def free_name(path: Path, taken: set[str]) -> Path:
    """``path``, or ``name-1.ext``, ``name-2.ext``... the first whose :func:`name_key` is not in
    ``taken``: a new file never takes another's name."""
    candidate, n = path, 1
    while name_key(candidate) in taken:
        candidate = path.with_name(numbered(path.stem, n, path.suffix))
        n += 1
    return candidate


def settle_names(wanted: Sequence[Path]) -> list[Path]:
    """The names ``wanted`` get, in order: the first of those named alike (by :func:`name_key`)
    keeps its name, each later one a free name (:func:`free_name`) that no wanted name has, so a
    free name never takes the name of a file that comes later."""
    taken = {name_key(path) for path in wanted}
    seen: set[str] = set()
    names = []
    for path in wanted:
        key = name_key(path)
        if key in seen:
            path = free_name(path, taken)
            taken.add(name_key(path))
        seen.add(key)
        names.append(path)
    return names


NAME_MAX = 255
"""The longest file name, in bytes, of the file systems objrec writes to."""


def numbered(stem: str, n: int, suffix: str) -> str:
    """``stem-n.suffix``, the stem shortened (:func:`fitting`): a long legal name that is taken
    still gets a free one."""
    return fitting("", stem, f"-{n}{suffix}")


def fitting(head: str, stem: str, tail: str) -> str:
    """``head + stem + tail``, the stem shortened (whole characters) when the name would pass
    ``NAME_MAX`` bytes, as a name made from a long legal one by adding to it can."""
    while stem and len(os.fsencode(head + stem + tail)) > NAME_MAX:
        stem = stem[:-1]
    return head + stem + tail


@contextlib.contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """A temporary name in ``path``'s folder to write to; renamed onto ``path`` when the block
    ends without error, removed when it fails. Readers of ``path`` (another process reusing a
    cached graph, say) see the old file or the whole new one, never a part; writers in other
    processes or threads each get their own temporary name, a short one (:func:`temporary_name`).
    A stopped objrec's temporary files in that folder go first (:func:`remove_leftovers`): a
    ``report --out`` killed mid-write left one beside the user's files for good."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent)
    with renamed_over(path, temporary_name(path)) as tmp:
        yield tmp


@contextlib.contextmanager
def staged_files(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """:func:`staged_file` for files read together (an export's model, its JSON and its script): a
    temporary name beside each of ``paths`` for the block to write, all renamed onto them when
    it ends without error, with Ctrl-C and SIGTERM held back meanwhile
    (:func:`objrec.errors.stops_held`); all removed when it fails. Renamed as each was written,
    a stop between two renames left a new model beside the earlier one's JSON (its classes,
    its preprocessing), which nothing told apart."""
    paths = [Path(path) for path in paths]
    for folder in dict.fromkeys(path.parent for path in paths):
        folder.mkdir(parents=True, exist_ok=True)
        remove_leftovers(folder)
    tmps = [temporary_name(path) for path in paths]
    try:
        with contextlib.ExitStack() as named:
            for path, tmp in zip(paths, tmps, strict=True):
                named.enter_context(reported_as(path, tmp))
            yield tmps
            folders = list(dict.fromkeys(path.parent for path in paths))
            with ctrl_c_leaves(lambda: written_whole(folders)), stops_held():
                for path, tmp in zip(paths, tmps, strict=True):
                    os.replace(tmp, path)
    finally:
        for tmp in tmps:
            discard(tmp)


@contextlib.contextmanager
def renamed_over(path: Path, tmp: Path) -> Iterator[Path]:
    """``tmp`` for the block to write, renamed over ``path`` in one step when the block ends
    without error, removed when it fails; an OSError about it is raised about ``path``
    (:func:`reported_as`). What :func:`staged_file` and ``checkpoint.replacing`` share."""
    try:
        with reported_as(path, tmp):
            yield tmp
            os.replace(tmp, path)
    finally:
        discard(tmp)


def sync_folder(folder: Path) -> None:
    """``fsync`` ``folder``, so that the names made in it survive a power cut."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_written(paths: Collection[Path], root: Path) -> None:
    """``fsync`` each of ``paths``, files written below ``root`` (a symbolic link's target is
    the user's photo, not written here), then the folders holding them up to ``root``: a record
    written after them (a manifest, an add's note removed) never lists an empty file, or a name
    that is gone, after a power cut."""
    folders: set[Path] = set()
    for path in paths:
        if not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        folders.update(p for p in path.parents if p == root or root in p.parents)
    for folder in sorted(folders, reverse=True):  # the deepest first, ``root`` last
        sync_folder(folder)


def discard(tmp: Path) -> None:
    """Remove the temporary file ``tmp`` if it is there. On a read-only file system (a photo
    folder mounted read-only) removing a file that is not there fails too, with EROFS: raised
    from a ``finally``, that error would hide the one that stopped the write, naming ``tmp``
    instead of the file the user asked for."""
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        if os.path.lexists(tmp):
            raise


def temporary_name(path: Path, suffix: str = ".part") -> Path:
    """A name beside ``path`` to write it under first: hidden, unique to the call (a random
    UUID: other processes and threads get others), naming this process (so that a leftover of a
    process still running is never taken for a stopped one's: :func:`is_stale`), and short, so
    that any legal name of ``path`` (up to ``NAME_MAX`` bytes) can be written this way."""
    return path.with_name(f".objrec-{os.getpid()}-{uuid.uuid4().hex}{suffix}")


@contextlib.contextmanager
def temporary_folder(path: Path) -> Iterator[Path]:
    """A new folder beside ``path`` (``.objrec-PID-TAG....d``, :func:`host_tag`) for the block to
    write ``path``'s file in under a name of its choice, removed with what it holds when the block
    ends: for a writer that makes temporary files of its own names beside the file it is given
    (safetensors' ``.tmpXXXXXX``), which a stopped run would otherwise leave among the user's.
    Locked while the block runs, so a killed command's is removed at once by a later one writing
    beside it (:func:`remove_leftovers`, :func:`dead_stage`), not kept an hour."""
    folder = path.with_name(f".objrec-{os.getpid()}-{host_tag()}{uuid.uuid4().hex[8:]}.d")
    folder.mkdir()
    with locked(folder):  # removed while still held: never taken for a killed command's
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(path: Path) -> Iterator[Path]:
    """A new hidden folder beside ``path`` (:func:`temporary_folder`) for the block to fill,
    renamed ``path`` (absent, or an empty folder, which the rename replaces) when the block ends
    without error; removed with what it holds when the block fails or is stopped. A folder
    written whole or not at all: a command stopped half way never leaves half of one that looks
    whole, nor one that refuses the retry as not empty. A killed command's is removed at once by
    a later one writing beside it, not kept an hour: a full copy of a large folder, which the
    retry needed room for twice."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent)
    with temporary_folder(path) as stage, reported_as(path, stage):
        yield stage
        os.replace(stage, path)


NO_SYMBOLIC_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP}
"""Errors of ``os.symlink`` on a file system without symbolic links (FAT, exFAT, some network
shares)."""


def link_file(source: str | Path, link: Path, folder: Path) -> None:
    """A symbolic link at ``link`` to ``source``, for a split, an add or a plan applied into
    ``folder`` with links: refused in one sentence naming ``folder`` where its file system makes
    none, where the system's "operation not permitted" named the folder and not why."""
    try:
        os.symlink(source, link)
    except OSError as exc:
        if exc.errno not in NO_SYMBOLIC_LINKS:
            raise
        raise ObjrecError(
            f"{folder} is on a file system without symbolic links (a FAT or exFAT drive, some "
            "network shares): copy the files there (the default) instead of linking them"
        ) from None


def refuse_without_links(folder: Path) -> None:
    """Refuse ``folder`` (made if need be) in :func:`link_file`'s sentence, before anything is
    linked there, where its file system makes no symbolic link: a link made and removed at once
    tries it."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".objrec-link-{uuid.uuid4().hex[:8]}"
    link_file(".", probe, folder)
    probe.unlink()


NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}
"""Errors of ``os.link`` on a file system without hard links (FAT, some network shares)."""


def write_new(path: Path, write: Callable[[Path], None]) -> Path:
    """Write a new file at ``path`` whole or not at all, never replacing one: ``write(tmp)``
    makes it under a temporary name in ``path``'s folder, which is then linked to ``path``, or
    to ``name-1.ext``, ``name-2.ext``... when that is taken (by a file the caller did not know
    of: one in a linked folder, one written meanwhile). Returns the name it got."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        with reported_as(path, tmp):
            write(tmp)
            return _link_free(tmp, path)
    finally:
        discard(tmp)


def _link_free(tmp: Path, path: Path) -> Path:
    """``tmp`` (a file, or a symbolic link itself) under ``path``'s name or the first free one
    beside it; a link never replaces a file (``FileExistsError``: take the next name)."""
    candidate, n = path, 1
    while True:
        try:
            os.link(tmp, candidate, follow_symlinks=False)
            return candidate
        except FileExistsError:
            pass
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                raise
            if not os.path.lexists(candidate):  # no hard links here: a rename, checked first
                os.rename(tmp, candidate)
                return candidate
        candidate = path.with_name(numbered(path.stem, n, path.suffix))
        n += 1


def finite_or_null(data: Any) -> Any:
    """``data`` with every float that is not finite replaced by None, in lists and dicts too; a
    numpy or torch scalar becomes the Python number it holds (``default=str`` made it a string)."""
    if callable(getattr(data, "item", None)) and getattr(data, "shape", None) == ():
        data = data.item()
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_or_null(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_or_null(value) for value in data]
    return data


def report_path(run: Path, out: Path | None, force: bool = False) -> Path:
    """Where the report goes (``out``, default ``RUN/report.html``, or ``CKPT-report.html`` beside
    a checkpoint file other than a run's model), refused when it would write over a file without
    ``force``; the run's own earlier report is refreshed, however ``out`` spells it
    (``run/../run/report.html``, through a link to the run folder), unless changed since objrec
    wrote it (:func:`edited_page`: the rule of every output written again, review62b L4)."""
    own = output_beside(run, "report.html")
    out = output_path(out) if out else own
    if not same_file(out, own) and is_part_of(out, run):
        raise ObjrecError(
            f"{out} is part of the run {run}: a report is never written over it, even with "
            "`force=True`; choose another `out`"
        )
    refuse_overwrite(out, force or same_file(out, own))
    if not force and same_file(out, own) and edited_page(out):
        raise ObjrecError(
            f"{out} {CHANGED}: pass `force=True` to write over it, or choose another `out`"
        )
    return out


PAGE_START = '<meta charset="utf-8">\n'
"""Where a page objrec writes into a run (``report.html``) records its digest, just after."""
PAGE_DIGEST = re.compile(rb'<meta name="objrec-sha256" content="([0-9a-f]{64})">\n')


def with_digest(page: str) -> bytes:
    """``page`` as UTF-8, with the SHA-256 of the rest of it in a ``<meta>`` line after its
    charset's: the run's folder has no mark recording what objrec wrote (:data:`MARKER`), so
    its ``report.html`` records itself, by which a later report tells an edit
    (:func:`edited_page`)."""
    data = page.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    start = PAGE_START.encode()
    meta = f'<meta name="objrec-sha256" content="{digest}">\n'.encode()
    return data.replace(start, start + meta, 1) if start in data else data


def edited_page(path: Path) -> bool:
    """Whether the page ``path`` was changed after objrec wrote it (:func:`with_digest`): its
    bytes but the digest's line no longer hash to it. A page that records no digest (of an
    objrec before 7 December 2026, or no page of objrec's) is not told edited: the run's own
    ``report.html`` was always written again."""
    if not is_plain_file(path):
        return False
    data = path.read_bytes()
    found = PAGE_DIGEST.search(data)
    if found is None:
        return False
    rest = data[: found.start()] + data[found.end() :]
    return hashlib.sha256(rest).hexdigest() != found.group(1).decode()


def is_part_of(path: Path, run: Path) -> bool:
    """Whether ``path`` is the run folder or anything already in it (its model, settings,
    evaluations), as a write would land on it: its folder resolved, its own name as spelled."""
    try:
        target, folder = landing(path), resolved(run)
    except OSError:
        return False
    there = target.exists() or target.is_symlink()
    return there and target.is_relative_to(folder)

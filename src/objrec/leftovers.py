"""The temporary files and folders a stopped objrec left (:data:`LEFTOVER`): told from another
process's that is still writing (by its process id, its age, a staging folder's free lock) and
removed, saying so (:func:`remove_leftovers`), or kept and said (:func:`kept_stage`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path

from objrec.locks import held_elsewhere
from objrec.words import plural

log = logging.getLogger(__name__)


LEFTOVER = re.compile(
    r"\.objrec-(?P<pid>[1-9][0-9]{0,9})-(?P<hex>[0-9a-f]{32})(?P<suffix>\.[^./]+)?"
    r"|\.objrec-[0-9a-f]{32}(?P<unnamed>\.part|\.csv|\.json|\.png|\.html|\.d)"
    r"|\.(?:model\.safetensors|last\.safetensors|seen_digests\.csv)\.tmp-(?P<old>[1-9][0-9]{0,9})"
)
"""The name of a temporary file objrec writes an output under first (:func:`temporary_name`,
:func:`output_file`): hidden, the writing process's id, a random UUID's 32 hex digits, and the
ending of the file it writes, whatever it is (``predict --plot fig.pdf``, ``--csv x.tsv``: the
name is the user's), or ``.part``; ``.d`` a temporary folder (:func:`temporary_folder`:
safetensors writes a file of its own, ``.tmpXXXXXX``, beside the one it is given, which would be
no one's to remove). Before objrec named the process, the name had no id and one of the endings
objrec's own names had (``unnamed``); before that, a run's file had ``.tmp-<process id>``, as
objrec named the temporary checkpoint. A run killed mid-write (SIGKILL, a power loss) leaves it;
a failing run removes its own."""
LEFTOVER_AGE_S = 3600.0
"""How long ago a temporary file was last written for it to be a leftover: one younger may be
another objrec's, writing into the same folder now (each output takes well under that, and a
long write keeps its file's time moving)."""


def is_leftover(path: Path) -> bool:
    """Whether ``path`` is a temporary file of objrec's (:data:`LEFTOVER`): a plain file so
    named, or a folder so named (``.d``), never a link or anything else of the user's."""
    named = LEFTOVER.fullmatch(path.name)
    if named is None or path.is_symlink():
        return False
    return path.is_file() or (".d" in (named["suffix"], named["unnamed"]) and path.is_dir())


def is_stale(path: Path) -> bool:
    """Whether the temporary file or folder ``path`` (:func:`is_leftover`) is left by an objrec
    that stopped: last written more than :data:`LEFTOVER_AGE_S` ago, by a process that is no longer
    running where its name says which (:func:`process_alive`); or, at once, a staging folder of
    this machine whose process is gone and whose lock is free (:func:`dead_stage`)."""
    named = LEFTOVER.fullmatch(path.name)
    pid = named and (named["pid"] or named["old"])
    if pid and process_alive(int(pid)):
        return False
    return time.time() - path.lstat().st_mtime > LEFTOVER_AGE_S or bool(pid and dead_stage(path))


def dead_stage(path: Path) -> bool:
    """Whether ``path`` is a temporary folder of this machine (:func:`temporary_folder`, its name
    tagged by :func:`host_tag`) that no process holds: its own, whose id its name gives, is not
    running (:func:`is_stale` asks first), so it was killed. Another machine's, writing into a
    shared folder, is never this one's to tell (its process id means nothing here, its lock may
    not reach here): that is told by age alone."""
    named = LEFTOVER.fullmatch(path.name)
    if named is None or named["suffix"] != ".d" or not named["hex"].startswith(host_tag()):
        return False
    return held_elsewhere(path) is False


@functools.cache
def host_tag() -> str:
    """8 hex digits naming this machine (of its host name's SHA-256), which a temporary folder's
    name starts its random part with (:func:`temporary_folder`): one of this machine's is told
    from another's at a glance."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user's counts too; one of
    another machine, writing into a shared folder, is told by its file's age alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # not a process id at all
        return False
    return True


def remove_leftovers(folder: Path) -> int:
    """Remove the temporary files (:func:`is_leftover`) a stopped objrec left in ``folder``
    (:func:`is_stale`), saying so, and return how many; one written in the last
    :data:`LEFTOVER_AGE_S`, or by a process still running, is kept (another objrec may be writing
    it), a staging folder said with its age when its process is not running here. One that
    cannot be removed (another user's, in a shared folder such as /tmp) is kept: nothing else is
    touched, and the command goes on; so is a folder that is not there (one the command makes)
    or that may not be listed."""
    try:
        found = sorted(p for p in Path(folder).iterdir() if is_leftover(p))
    except OSError:
        return 0
    removed = [path.name for path in found if _removed(path)]
    if removed:
        more = " ..." if len(removed) > 3 else ""
        log.warning(
            "removed %s a stopped objrec left in %s (%s%s)",
            *(plural(len(removed), "temporary file"), folder, ", ".join(removed[:3]), more),
        )
    return len(removed)


def _removed(path: Path) -> bool:
    """Whether the leftover ``path`` was stale (:func:`is_stale`) and is removed now; a staging
    folder kept of a process not running here is said, with its age (:func:`kept_stage`)."""
    try:
        if not is_stale(path):
            kept_stage(path)
            return False
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:  # renamed meanwhile: not a leftover
        return False
    except OSError as exc:  # not this user's to remove: housekeeping never stops a command
        log.info("kept %s, a stopped objrec's temporary file: %s", path, exc.strerror)
        return False
    return True


def kept_stage(path: Path) -> None:
    """Say a temporary folder (a staging folder, a checkpoint's) kept though no process of this
    machine writes it (another machine's, or an objrec's from before they were locked, younger
    than :data:`LEFTOVER_AGE_S`): a killed command's full copy, kept unsaid, took its size again.
    It is said by its age, one stat: its size was a walk of the whole folder on every command
    beside it (seconds for another machine's large copy on a network share)."""
    named = LEFTOVER.fullmatch(path.name)
    if named is None or named["suffix"] != ".d" or not named["pid"] or not path.is_dir():
        return
    if process_alive(int(named["pid"])):
        return
    minutes = max(0, int(time.time() - path.lstat().st_mtime)) // 60
    log.warning(
        "kept %s (last written %d min ago), the temporary folder of an objrec not running on this "
        "machine: another machine's, which may still be writing it, or one stopped less than an "
        "hour ago. objrec removes it once it is an hour old; remove it yourself only if no objrec "
        "on any machine writes there",
        *(path, minutes),
    )

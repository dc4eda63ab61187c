"""Bursts: photos of one class folder that one camera took within a second of each other.

A burst's frames of a moving subject can be 30 bits of pHash apart, beyond ``dedup``'s reach, yet
they are one moment: one frame in train and the next in test makes the scores look better than
they are. Their EXIF says what no hash sees: the camera (Make, Model, and its serial number where
it writes one) and when it took each (DateTimeOriginal, with SubSecTimeOriginal where written).

The rule (``split`` and ``add`` keep each burst in one split, the audit keeps its frames out of
each other's neighbours): two photos of one class folder are a burst's when the same camera took
them within ``BURST_SECONDS`` of each other, chained (A ~ B, B ~ C: one burst), as near-duplicate
groups are. Continuous shooting is 2 to 30 frames a second, so a second holds every burst of it
and a camera trap's triggered series (1 frame a second); a time-lapse or a trap's series with
longer gaps is not chained (that could make one group of a day's photos): the ``groups`` file, or
a larger ``burst_seconds``, keeps those together. A camera that writes no sub-seconds stamps two
frames 0.1 s apart as one second or as the next: with either photo's time in whole seconds, they
are compared in whole seconds, up to ``ceil(seconds)`` apart. Photos without a camera time (most
downloaded images: Caltech-101 has no EXIF) are in no burst, and so are those with a time but no
camera (no Make, Model or serial number: an app that strips them): the photos of different devices
would be one camera's, any two taken within a second of each other chained into a burst, and a
whole class of them could be put in one split. A burst of such a device is missed (a ``groups``
file keeps its frames together); a copy among its frames is still found by its hash.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image

from objrec.facts_store import KeptTable
from objrec.file_index import use_is_stale

log = logging.getLogger(__name__)

BURST_SECONDS = 1.0
"""The default gap (seconds) at or under which two photos of one camera are a burst's."""
HEAD_BYTES = 1 << 17
"""The first bytes of a file, read to look for EXIF, and from which a JPEG's EXIF (its APP1
comes before the pixels) or a shorter file's is read (:func:`read_exif`): 128 KiB holds a phone
JPEG's markers."""
EXIF_MARKS = (b"Exif", b"EXIF", b"eXIf", b"II*\x00", b"MM\x00*")
"""What an image with EXIF holds in its first bytes (JPEG, HEIC, PNG, TIFF, a small WebP): a file
with none of them (nor :func:`webp_with_exif`'s flag) is passed over without being opened (every
Caltech-101 file: 0.27 ms each else)."""
WEBP_EXIF_FLAG = 0x08
"""The bit of a WebP ``VP8X`` header's flags (its byte 20) that says the file holds EXIF."""
SUBSEC_DIGITS = 9
"""The sub-seconds' digits read (nanoseconds): Python refuses to read more than 4,300 digits as
a number, and an odd EXIF with that many made split fail."""
MAKE, MODEL, EXIF_IFD = 0x010F, 0x0110, 0x8769
ORIGINAL, SUBSEC_ORIGINAL = 0x9003, 0x9291
SERIALS = (0xA431, 0xC62F)
"""BodySerialNumber, then DNG's CameraSerialNumber."""
READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
"""What reading a file or its EXIF raises (Pillow's as ``images.open_image`` catches them): the
photo was not read, which says nothing of its time."""


class TimeUnread(Exception):
    """A photo's file or EXIF could not be read (:data:`READ_ERRORS`): its time is unknown."""


@dataclass(frozen=True)
class CameraTime:
    """When and with what a photo was taken, from its EXIF."""

    camera: tuple[str, str, str]
    """Make, Model and serial number ('' where not written)."""
    seconds: float
    """DateTimeOriginal (and its sub-seconds) in seconds of the camera's clock."""
    whole: bool
    """No sub-seconds written: ``seconds`` is the whole second."""


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip("\x00 \t")


def parse_time(original: object, subsec: object = None) -> tuple[float, bool] | None:
    """Seconds of an EXIF ``YYYY:MM:DD HH:MM:SS`` and its sub-seconds (digits of a fraction), and
    whether it is whole seconds; None for a blank or malformed date (``0000:00:00 00:00:00``)."""
    try:
        taken = datetime.strptime(_text(original)[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    digits = "".join(c for c in _text(subsec) if c.isdigit())[:SUBSEC_DIGITS]
    seconds = (taken - datetime(1970, 1, 1)).total_seconds()
    return (seconds + int(digits) / 10 ** len(digits), False) if digits else (seconds, True)


def exif_time(path: Path, data: bytes | None = None) -> CameraTime | None:
    """``path``'s time from its EXIF with its camera, ``('', '', '')`` where none is named; None
    without a time (no EXIF, no date). Raises :class:`TimeUnread` when the file or its EXIF could
    not be read: that is no answer, to be kept as "no time" (the photo then left its burst for
    good, by its content, while a denied or failing read is often one of the moment). ``data``:
    the file's bytes, read already (a first split's one read of each photo)."""
    try:
        if data is None:
            with Path(path).open("rb") as f:
                head = f.read(HEAD_BYTES)
        else:
            head = data[:HEAD_BYTES]
        if not any(mark in head for mark in EXIF_MARKS) and not webp_with_exif(head):
            return None
        exif, inner = read_exif(path, head, data)
    except READ_ERRORS as exc:  # not a bug of the parser below: that fails loudly
        raise TimeUnread(f"{type(exc).__name__}: {exc}") from exc
    when = parse_time(inner.get(ORIGINAL), inner.get(SUBSEC_ORIGINAL))
    if when is None:
        return None
    serial = next((_text(s) for s in (inner.get(t) or exif.get(t) for t in SERIALS) if s), "")
    return CameraTime((_text(exif.get(MAKE)), _text(exif.get(MODEL)), serial), *when)


def read_exif(path: Path, head: bytes, data: bytes | None = None) -> tuple[Image.Exif, Mapping]:
    """``path``'s EXIF and its EXIF IFD (the camera's settings and times): from ``head``, the
    first bytes read of it, where they are the whole file or hold a JPEG's markers up to its
    pixels (its APP1 comes before them: the file was opened a second time for it), else from
    the file (a HEIC's, a PNG's or a WebP's EXIF may come after the pixels, a large ICC profile
    push a JPEG's past ``head``), or from ``data``, the whole file read already. A head that
    cannot be read is no answer: the file says."""
    import io

    from objrec.images import open_file, quiet_pillow

    quiet_pillow()
    if head[:3] == b"\xff\xd8\xff" or len(head) < HEAD_BYTES:
        try:
            with open_file(io.BytesIO(head), from_file=True) as img:
                exif = img.getexif()
                return exif, exif.get_ifd(EXIF_IFD)
        except READ_ERRORS:  # cut within its markers: opened whole below
            pass
    whole = Path(path) if data is None else io.BytesIO(data)
    with open_file(whole, from_file=data is not None) as img:
        exif = img.getexif()
        return exif, exif.get_ifd(EXIF_IFD)


def checked_time(path: Path, data: bytes | None = None) -> tuple[CameraTime | None, bool]:
    """:func:`exif_time` of ``path`` (from ``data``, its bytes, where they were read already),
    and whether it was read: one not read is warned of once per file (``warned.warn_once``) and
    is in no burst this time, read again by the next command."""
    try:
        return (exif_time(path) if data is None else exif_time(path, data)), True
    except TimeUnread as exc:
        from objrec.warned import warn_once

        message = "%s: its camera time could not be read (%s): in no burst this time"
        warn_once("camera time", path, message, path, exc)
        return None, False


def webp_with_exif(head: bytes) -> bool:
    """Whether ``head`` starts a WebP file whose extended header (``VP8X``) flags an EXIF chunk:
    that chunk comes after the image data, past ``HEAD_BYTES`` in a photo's file."""
    extended = head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8X" and len(head) > 20
    return extended and bool(head[20] & WEBP_EXIF_FLAG)


def camera_times(
    paths: Iterable[Path],
    on_file: Callable[[int, int], None] | None = None,
    digests: Sequence[str] | None = None,
    kept: Path | None = None,
) -> dict[Path, CameraTime]:
    """The camera and time of each of ``paths`` that has both in its EXIF (:func:`exif_time`; a
    time but no camera named: in no burst, as two phones' photos of one second are none)."""
    return timed_photos(paths, on_file, digests, kept)[0]


def timed_photos(
    paths: Iterable[Path],
    on_file: Callable[[int, int], None] | None = None,
    digests: Sequence[str] | None = None,
    kept: Path | None = None,
) -> tuple[dict[Path, CameraTime], int]:
    """:func:`camera_times`, and how many of ``paths`` have an EXIF time but name no camera (in
    no burst: ``split`` says so rather than that they have no time); read by :func:`read_times`
    (``on_file``, ``digests``, ``kept``: its own)."""
    paths = list(paths)
    found, cameraless = {}, 0
    for path, taken in zip(paths, read_times(paths, on_file, digests, kept), strict=True):
        if taken is not None and any(taken.camera):
            found[path] = taken
        elif taken is not None:
            log.debug("%s: a time but no camera (Make, Model or serial) in its EXIF", path)
            cameraless += 1
    return found, cameraless


CAMERA_SCHEMA = """CREATE TABLE IF NOT EXISTS camera_times(
    digest TEXT, key TEXT, make TEXT, model TEXT, serial TEXT, seconds REAL, whole INTEGER,
    seen REAL NOT NULL, PRIMARY KEY(digest, key)) WITHOUT ROWID"""
"""Each photo's :func:`exif_time` in the image facts store, by its content digest (``seconds``
NULL: no camera time), under :func:`camera_key`, and when a split or add last read it."""


def camera_key() -> str:
    """What :func:`exif_time` reads a file with: times read under another key are read again.
    v2: v1 kept a photo it could not read as one without a time, which cannot be told apart from
    a true "no time": every photo is read once more (as after a Pillow upgrade)."""
    from objrec.images import decoder_versions

    return f"exif head{HEAD_BYTES} subsec{SUBSEC_DIGITS} v2 {decoder_versions()}"


CAMERA_TIMES = KeptTable("camera_times", CAMERA_SCHEMA, camera_key)
"""The camera times as ``objrec cache --prune`` forgets them (``facts_store.prune_kept``): a
forgotten photo is read again."""


def read_times(
    paths: Sequence[Path],
    on_file: Callable[[int, int], None] | None = None,
    digests: Sequence[str] | None = None,
    kept: Path | None = None,
) -> list[CameraTime | None]:
    """:func:`exif_time` of each of ``paths``, ``on_file(done, total)`` after each. With ``kept``
    (the image facts store) and ``digests`` (each file's content digest, as the facts are kept),
    kept there (:data:`CAMERA_SCHEMA`): a photo an earlier split or add read is not opened again
    (2.5 ms a 1600x1200 JPEG: 150 s for 60,000 phone photos, which would be the largest share of
    a warm split)."""
    keys = list(digests) if kept is not None and digests else []
    known = _stored_times(kept, keys) if keys and kept is not None else {}
    found: list[CameraTime | None] = []
    unread: set[int] = set()  # not kept, as the facts store keeps no facts of an unread image
    for i, path in enumerate(paths):
        stored = bool(keys) and keys[i] in known
        taken, read = (known[keys[i]][0], True) if stored else checked_time(path)
        found.append(taken)
        if not read:
            unread.add(i)
        if on_file:
            on_file(i + 1, len(paths))
    if keys and kept is not None:  # those read now, and those whose last use is stale (pruned)
        fresh = [i for i, d in enumerate(keys) if d not in known or use_is_stale(known[d][1])]
        keep_times(kept, {keys[i]: found[i] for i in fresh if i not in unread})
    return found


def _stored_times(kept: Path, digests: Sequence[str], chunk: int = 500) -> dict[str, tuple]:
    """The camera time ``kept`` holds of each of ``digests`` (None: none), and when last seen."""
    from objrec.facts_store import open_facts

    wanted, found = list(dict.fromkeys(digests)), {}
    with open_facts(kept) as db:
        db.execute(CAMERA_SCHEMA)
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            query = (
                "SELECT digest, make, model, serial, seconds, whole, seen FROM camera_times "
                f"WHERE key=? AND digest IN ({','.join('?' * len(part))})"
            )
            for digest, make, model, serial, seconds, whole, seen in db.execute(
                query, (camera_key(), *part)
            ):
                taken = CameraTime((make, model, serial), seconds, bool(whole))
                found[digest] = (None if seconds is None else taken, seen)
    return found


def keep_times(kept: Path, times: Mapping[str, CameraTime | None]) -> None:
    """Keep the camera time of each digest of ``times`` (None: none) in ``kept``."""
    if not times:
        return
    from objrec.facts_store import open_facts

    now, key = time.time(), camera_key()
    rows = [
        (d, key, *t.camera, t.seconds, t.whole, now) if t else (d, key, "", "", "", None, 0, now)
        for d, t in times.items()
    ]
    with open_facts(kept) as db:
        db.execute(CAMERA_SCHEMA)
        db.execute("BEGIN IMMEDIATE")  # one transaction: a commit per row costs an fsync each
        db.executemany("INSERT OR REPLACE INTO camera_times VALUES (?,?,?,?,?,?,?,?)", rows)
        db.execute("COMMIT")


def close(a: CameraTime, b: CameraTime, seconds: float) -> bool:
    """Whether ``b`` (not earlier) was taken within ``seconds`` of ``a``: in whole seconds, up to
    ``ceil(seconds)``, when either time is in whole seconds."""
    if a.whole or b.whole:
        return math.floor(b.seconds) - math.floor(a.seconds) <= math.ceil(seconds)
    return b.seconds - a.seconds <= seconds


def bursts(
    classes: Mapping[str, Sequence[Path]],
    times: Mapping[Path, CameraTime],
    seconds: float = BURST_SECONDS,
) -> list[list[Path]]:
    """The bursts (two photos or more, in the order of ``classes``' lists) of each class's photos:
    one camera's photos chained by gaps of at most ``seconds`` (:func:`close`)."""
    found: list[list[Path]] = []
    if seconds <= 0:
        return found
    for paths in classes.values():
        order = {p: k for k, p in enumerate(paths)}
        by_camera: dict[tuple[str, str, str], list[Path]] = {}
        for path in (p for p in paths if p in times):
            by_camera.setdefault(times[path].camera, []).append(path)
        for shots in by_camera.values():
            shots.sort(key=lambda p: (times[p].seconds, order[p]))
            found += [sorted(run, key=order.__getitem__) for run in _chains(shots, times, seconds)]
    return found


def _chains(
    shots: list[Path], times: Mapping[Path, CameraTime], seconds: float
) -> list[list[Path]]:
    """The runs of two or more of one camera's ``shots`` (in time order) each within ``seconds``
    of the one before."""
    runs = [[shots[0]]]
    for before, path in itertools.pairwise(shots):
        if close(times[before], times[path], seconds):
            runs[-1].append(path)
        else:
            runs.append([path])
    return [run for run in runs if len(run) > 1]


def burst_of(groups: Sequence[Sequence[Path]]) -> dict[Path, str]:
    """Each photo of ``groups`` (:func:`bursts`) and its burst's name, for ``split``'s
    ``join_groups``."""
    return {path: f"burst {k}" for k, group in enumerate(groups) for path in group}

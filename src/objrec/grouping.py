"""What a split keeps together: near-duplicate groups (by perceptual hash), bursts (by EXIF camera
and time), the groups a ``groups`` file names, and their union into each image's placing key.
``split``, ``add`` and ``evaluate`` group by it."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from objrec import bursts, dedup, facts_store, image_facts, near_pairs
from objrec.data import class_of_folder
from objrec.errors import ObjrecError, UsageRefused
from objrec.file_index import DIGEST_CHARS
from objrec.listing import list_images
from objrec.tables import (
    blank_row,
    csv_separator,
    misread,
    misread_sentence,
    read_text,
)
from objrec.words import plural, some_of


def burst_keys(
    files: dict[str, list[Path]],
    keys: dict[Path, str],
    seconds: float,
    *,
    digests: Mapping[Path, str] | None = None,
    kept: Path | None = None,
    on_file: Callable[[int, int], None] | None = None,
) -> tuple[dict[Path, str], list[list[Path]], tuple[int, int]]:
    """Each file's placing key, its duplicate group's ``keys`` united with its burst's
    (:func:`objrec.bursts.bursts`: one camera's photos of a class within ``seconds`` of each
    other, by their EXIF); the bursts; and how many files have a camera time, and how many a time
    but no camera. ``keys`` itself when there is no burst (0 ``seconds``: none looked for).
    ``digests`` (each file's content digest, or its SHA-256) and ``kept`` (the image facts
    store): what each file's EXIF says is kept there (``bursts.read_times``); ``on_file(done,
    total)`` as the files are read."""
    if seconds <= 0:
        return keys, [], (0, 0)
    paths = [p for group in files.values() for p in group]
    contents = [digests[p][:DIGEST_CHARS] for p in paths] if digests is not None else None
    times, cameraless = bursts.timed_photos(paths, on_file, contents, kept)
    found = bursts.bursts(files, times, seconds)
    if found:
        keys = join_groups(keys, bursts.burst_of(found))[0]
    return keys, found, (len(times), cameraless)


def near_groups(
    files: dict[str, list[Path]],
    hashes: dict[Path, str],
    facts_of: dict[Path, Any],
    among: Sequence[Path] | None = None,
    on_row: Callable[[int, int], None] | None = None,
    kept: Path | None = None,
) -> dict[Path, str]:
    """Each file's group key: the smallest SHA-256 among the files its perceptual hash links it to
    (directly or through others), so near-duplicates share a key as identical files do.

    ``among``: only the keys of those files and of the files linked to them (or identical to
    one), as all pairs would give them; only their pairs are measured (``dedup.linked_pairs``),
    not all pairs: what ``add`` needs of a large data folder and a few new images. ``on_row``:
    ``dedup.split_pairs``' progress, measuring all pairs. ``kept``: the image facts store where
    the pairs compared before are kept (``near_pairs``): only the images no earlier split
    compared are compared with the rest, for the same keys."""
    paths = [p for group in files.values() for p in group]
    facts = [facts_of[p] for p in paths]
    if among is None and kept is not None:
        digests = [hashes[p][:DIGEST_CHARS] for p in paths]
        pairs = near_pairs.kept_split_pairs(facts, digests, kept, on_row)
    elif among is None:
        pairs = dedup.split_pairs(facts, on_row=on_row)
    else:
        wanted = set(among)
        pairs = dedup.linked_pairs(facts, [i for i, p in enumerate(paths) if p in wanted])
    keys = dict(hashes)
    for members in dedup.groups_of(len(paths), pairs):
        key = min(hashes[paths[m]] for m in members)
        for m in members:
            keys[paths[m]] = key
    same: dict[str, list[str]] = {}  # byte-identical files follow their twins into the group
    for path in paths:
        same.setdefault(hashes[path], []).append(keys[path])
    if among is not None:  # the others' keys are their groups' only when all pairs are measured
        linked = {hashes[p] for p in among} | {hashes[paths[i]] for pair in pairs for i in pair}
        paths = [p for p in paths if hashes[p] in linked]
    return {p: min(same[hashes[p]]) for p in paths}


@dataclass(frozen=True)
class GroupsRead:
    """A ``groups`` file as a split read it: the group it gives each image of the split, how
    many rows it has, and the files of those it passed over (images the split leaves out)."""

    file: Path
    src: Path
    group_of: dict[Path, str]
    rows: int
    passed_over: list[str]

    def unjoined(self) -> str:
        """Why the file kept no two images together, in one sentence: "kept 0 groups" was all a
        split said of a file whose rows all named files of an excluded class, or whose groups each
        named one image."""
        how = f"rows `file,group`, each file named as class/name relative to {self.src}"
        if not self.rows:
            return f"the `groups` file {self.file} kept nothing together: it has no rows ({how})"
        said = f"the `groups` file {self.file} kept nothing together: "
        if self.passed_over and not self.group_of:
            said += f"none of its {plural(self.rows, 'row')} names an image this split holds"
        else:
            groups = len(set(self.group_of.values()))
            said += (
                f"each of its {plural(groups, 'group')} names one image this split holds (a group "
                "keeps together the images of the rows that give it the same name)"
            )
        if self.passed_over:
            said += (
                f"; passed over, as the split leaves them out (a class `exclude` or `classes` "
                f"leaves out, an unreadable image): {some_of(self.passed_over)}"
            )
        return f"{said} ({how})"


def read_groups(path: Path, src: Path, files: dict[str, list[Path]]) -> GroupsRead:
    """The group the ``groups`` file gives each image of ``files`` it names: rows ``file,group``,
    the file relative to ``src`` (``class/name``, ``./class/name``, ``class\\name`` as Windows
    writes it) or an absolute path inside ``src`` (as ``find "$PWD/photos"`` writes it); other
    columns are ignored, blank rows skipped, and a spreadsheet's semicolons taken. Refused, naming
    the line, for a row without a file or a group, a file outside ``src`` or that ``src`` lacks,
    or a file in two groups; an image of ``src`` that the split leaves out (an excluded class, an
    unreadable image) is passed over. An absolute path is not looked up as a class folder's name
    (passed over when any file had it, ``/etc/passwd`` too, a site's photos would spread over the
    three splits, with "kept 0 groups" said): :meth:`GroupsRead.unjoined` says why a file joins
    nothing."""
    images = {
        class_of_folder(p.relative_to(src).as_posix()): p for paths in files.values() for p in paths
    }
    left_out = _LeftOut(src, images)
    group_of: dict[Path, str] = {}
    line_of: dict[str, int] = {}
    passed_over: list[str] = []
    rows = _group_rows(path)
    for n, row in rows:
        name, group = (row.get("file") or "").strip(), (row.get("group") or "").strip()
        if not name or not group:
            raise ObjrecError(f"`groups` file {path} line {n}: it needs both a file and a group")
        key = _image_key(path, n, name, src, images)
        if key not in images:
            left_out.require(path, n, name, key)
            passed_over.append(name)
            continue
        earlier = group_of.setdefault(images[key], group)
        line_of.setdefault(key, n)
        if earlier != group:
            raise ObjrecError(
                f"`groups` file {path} line {n}: {name!r} is in group {earlier!r} on line "
                f"{line_of[key]} and in {group!r} here: keep one of the two rows"
            )
    return GroupsRead(path, src, group_of, len(rows), passed_over)


def _image_key(path: Path, n: int, name: str, src: Path, images: Collection[str]) -> str:
    """The image line ``n`` of the ``groups`` file names, as ``class/name`` relative to ``src``
    (resolved): an absolute path inside ``src`` (a link in the folders above it followed) made
    relative, a ``./`` dropped, an accent encoded either way, a Windows path's backslashes read as
    ``/`` (``.\\oak\\a.jpg`` too) unless it names one of ``images`` as written (on Linux and
    macOS a backslash may be part of a name: ``tables.slashed``). Refused, naming the line, when
    outside ``src``."""
    given = Path(name)
    if given.is_absolute():
        inside = [p for p in (given, given.parent.resolve() / given.name) if p.is_relative_to(src)]
        if not inside:
            raise ObjrecError(
                f"`groups` file {path} line {n}: {name!r} is outside the source folder {src} "
                "(name each file as class/name, relative to it, or by its path inside it)"
            )
        given = inside[0].relative_to(src)
    key = class_of_folder(given.as_posix())
    if key in images or "\\" not in key:
        return key
    return class_of_folder(Path(key.replace("\\", "/")).as_posix())


def _group_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """Each row of the ``groups`` file that is not blank, and the line it ends on; refused when
    the file is not a CSV text (comma, semicolon or tab separated) with the columns file and
    group."""
    try:
        with io.StringIO(read_text(path, "a `groups` file"), newline="") as f:
            reader = csv.DictReader(f, delimiter=csv_separator(f))
            rows = [(reader.line_num, row) for row in reader if not blank_row(row)]
            header = {(name or "").strip() for name in reader.fieldnames or ()}
    except csv.Error as exc:
        raise ObjrecError(f"the `groups` file {path} is not a CSV text ({exc})") from None
    if not {"file", "group"} <= header:
        raise UsageRefused(f"the `groups` file {path} needs the columns file and group")
    return [(n, {(k or "").strip(): v for k, v in row.items()}) for n, row in rows]


class _LeftOut:
    """The images of ``src`` a split leaves out (of an excluded class, unreadable), listed once,
    when a row of the ``groups`` file first names a file the split does not hold."""

    def __init__(self, src: Path, images: Collection[str]) -> None:
        self.src, self.images = src, images
        self.listed: set[str] | None = None

    def require(self, path: Path, n: int, name: str, key: str) -> None:
        """Pass over line ``n`` of the ``groups`` file, naming ``name`` (``key`` relative to
        ``src``), when it is such an image; else refuse it, with the name likely meant."""
        if self.listed is None:
            found = (p.relative_to(self.src).as_posix() for p in list_images(self.src))
            self.listed = {class_of_folder(name) for name in found}
        if key in self.listed and key not in self.images:
            return
        meant = misread(key, self.listed)
        if meant is not None:
            raise ObjrecError(misread_sentence(f"`groups` file {path} line {n}", name, meant))
        raise ObjrecError(
            f"`groups` file {path} line {n}: {self.src} has no image {name!r} (name each file as "
            "class/name, relative to the source folder)"
        )


def join_groups(keys: dict[Path, str], group_of: dict[Path, str]) -> tuple[dict[Path, str], int]:
    """Each file's placing key: its duplicate group's ``keys`` united with the groups of
    ``group_of`` (the smallest key among the groups linked, directly or through others, as
    :func:`near_groups` keys them); and how many of those groups hold two files or more."""
    members: dict[str, list[Path]] = {}
    for path, group in group_of.items():
        members.setdefault(group, []).append(path)
    joined = [m for m in members.values() if len(m) > 1]
    names = sorted(set(keys.values()))
    index = {key: i for i, key in enumerate(names)}
    pairs = [(index[keys[m[0]]], index[keys[p]]) for m in joined for p in m[1:]]
    united = {key: key for key in names}
    for component in dedup.groups_of(len(names), pairs):
        smallest = min(names[i] for i in component)
        for i in component:
            united[names[i]] = smallest
    return {path: united[key] for path, key in keys.items()}, len(joined)


Measured = tuple[image_facts.ImageFacts, tuple[bursts.CameraTime | None, bool]]
"""What a frozen pass measures of an image for its grouping (:func:`facts_and_time`)."""


def facts_and_time(path: Path, data: bytes | None) -> Measured:
    """An image's facts (``image_facts.image_facts``) and its EXIF camera time, and whether that
    could be read (``bursts.checked_time``), both from ``data``, the bytes a frozen pass decoded
    (None: read from ``path``): what its near-duplicate group and burst are found by, with no
    read of the file of their own (a first audit read each photo three times, for its SHA-256,
    for the pass and for its EXIF; evaluate of a folder no split made four)."""
    return image_facts.image_facts(path, data), bursts.checked_time(path, data)


def keep_measured(
    into: dict[str, image_facts.ImageFacts], times: dict[str, bursts.CameraTime | None]
) -> Callable[[list[str], list[Measured]], None]:
    """A ``frozen.Probe.keep`` that collects each batch's facts by digest into ``into``, and the
    camera times it could read into ``times`` (one it could not is read again by the next
    command)."""

    def keep(digests: list[str], found: list[Measured]) -> None:
        for digest, (facts, (taken, read)) in zip(digests, found, strict=True):
            into[digest] = facts
            if read:
                times[digest] = taken

    return keep


def keep_in(
    facts_file: Path,
    facts: Mapping[str, image_facts.ImageFacts],
    times: Mapping[str, bursts.CameraTime | None],
) -> None:
    """Keep what a frozen pass measured (:func:`keep_measured`) in the cache folder's image facts
    store ``facts_file``, where the grouping reads it (``facts_store.cached_facts``,
    ``bursts.read_times``) instead of reading and decoding each file again."""
    if facts:
        facts_store.keep_facts(facts_file, facts)
    bursts.keep_times(facts_file, times)

"""An add's plan, decided before anything is written: every file hashed and its image facts (and
camera time) taken from one read of it, none where the feature store's file index and the cache
folder know it (:func:`objrec.reading.read_all`, as a split reads), the new images grouped
with their near-duplicates and bursts, placed (:mod:`objrec.add.place`), each given a free name
in its class folder and its manifest group, and all of it counted in an ``AddResult``."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from objrec.add.new import NewImage
from objrec.add.place import class_counts, held_splits, own_ratios, place_groups
from objrec.add.result import AddResult
from objrec.config import SplitConfig
from objrec.copies import originals_first
from objrec.data import SPLITS, class_dirs, present_splits
from objrec.errors import ObjrecError
from objrec.file_index import DIGEST_CHARS
from objrec.grouping import near_groups
from objrec.images import decoder_missing
from objrec.listing import list_images
from objrec.outputs import free_name, name_key
from objrec.ratios import min_class_size
from objrec.reading import facts_file, read_all
from objrec.words import plural, some_of

log = logging.getLogger(__name__)


@dataclass
class Plan:
    result: AddResult
    rows: list[tuple[NewImage, Path, str, str, str]]
    """Each image to write: its target (relative to the data folder), split, SHA-256 and
    manifest group."""


def plan_add(
    data: Path,
    images: list[NewImage],
    config: SplitConfig,
    on_file,
    own: bool,
    store_dir: Path,
    stopped: Mapping[str, str] | None = None,
) -> Plan:
    """Read every file once (:func:`_read`: none the file index and the cache folder know), then
    decide each new image's fate; ``store_dir``: the feature store whose file index knows the
    data folder's files; ``stopped``: the files a killed add wrote, listed just now, and their
    sources."""
    refuse_split_only(config)
    existing = _existing(data)
    config = dataclasses.replace(config, ratios=own_ratios(existing)) if own else config
    files = {"data": list(existing), "new": [image.path for image in images]}
    hashes, sha256, facts = _read(files, on_file, store_dir, config.burst_seconds > 0)
    existing = _read_existing(data, existing, hashes, facts)
    unreadable, heif = _unreadable(images, facts)
    images = [image for image in images if not facts[image.path].error]
    if not images:
        raise ObjrecError(none_readable(unreadable, heif))
    readable = {k: [p for p in paths if not facts[p].error] for k, paths in files.items()}
    # the groups of the new images only: pairs among the data folder's images, whose place is
    # fixed, are never compared (on a large folder, most of the time, growing with its square)
    new = readable["new"]
    groups = near_groups(readable, hashes, facts, among=new) if config.near_duplicates else hashes
    in_data = {hashes[p]: p for p in reversed(list(existing))}  # the first copy of each
    fresh = [image for image in images if hashes[image.path] not in in_data]
    placing, found = _with_bursts(existing, images, groups, hashes, config.burst_seconds)
    held = held_splits(existing, placing)
    split_of, paired = place_groups(fresh, placing, held, class_counts(existing), config)
    splits = [split_of[placing[image.path]] for image in fresh]
    rows = _rows(
        data, fresh, splits, sha256, _manifest_groups(data, fresh, placing, existing, hashes)
    )
    result = AddResult(data, min_images=min_class_size(config.ratios), unreadable_files=unreadable)
    result.no_decoder_files = heif
    result.ratios, result.own_ratios = config.ratios, own
    _count(result, rows, existing, config.ratios, paired)
    near_held = held_splits(existing, groups)
    _count_near(result, data, existing, rows, groups)
    _count_bursts(result, found, fresh, (placing, held, groups, near_held), existing)
    _count_copies(result, images, hashes, in_data, stopped or {})
    _count_twins(result, fresh, hashes)
    result.cross_class_duplicates = _cross_class(data, existing, images, groups)
    result.spread_groups = _spread(data, existing, fresh, groups)
    return Plan(result, rows)


def _read_existing(
    data: Path, existing: dict[Path, tuple[str, str]], hashes: dict[Path, str], facts: dict
) -> dict[Path, tuple[str, str]]:
    """The data folder's images whose bytes could be read (hashed), the others (EIO, no
    permission) named in a warning: the add places the new images as if they were not there,
    where it stopped with the operating system's error, naming no file."""
    if gone := [facts[path].error for path in existing if path not in hashes]:
        log.warning(
            "%s of the data folder cannot be read; the new images are placed as if %s not "
            "there: %s",
            plural(len(gone), "image"),
            "it were" if len(gone) == 1 else "they were",
            some_of(gone),
        )
    return {path: where for path, where in existing.items() if path in hashes}


def refuse_split_only(config: SplitConfig) -> None:
    """Refuse the settings only ``split_folder`` reads (``groups``, ``like``), said as such."""
    if config.groups is not None:
        raise ObjrecError(
            "`groups` is read by split_folder only: add_images places each new image alone, with "
            "its duplicates"
        )
    if config.like is not None:
        raise ObjrecError(
            "`like` is read by split_folder only: add_images keeps every image of the data folder "
            "where it is"
        )


def _existing(data: Path) -> dict[Path, tuple[str, str]]:
    """Every image of the data folder and its split and class."""
    return {
        path: (split, folder.name)
        for split in present_splits(data)
        for folder in class_dirs(data / split)
        for path in list_images(folder)
    }


def _unreadable(images: list[NewImage], facts: dict) -> tuple[list[str], list[str]]:
    """The new images that cannot be read, and of those the HEIC or HEIF photos that only want
    pillow-heif, as named relative to NEW."""
    unreadable = [image.shown for image in images if facts[image.path].error]
    heif = [image.shown for image in images if decoder_missing(facts[image.path].error)]
    return unreadable, heif


def none_readable(unreadable: Sequence[str], heif: Sequence[str]) -> str:
    """Why nothing is added: no new image can be read, saying so of the HEIC or HEIF photos
    (``heif``) that only want pillow-heif."""
    said = f"none of the new images can be read: {some_of(unreadable)}"
    if heif:
        those = "is a HEIC or HEIF photo" if len(heif) == 1 else "are HEIC or HEIF photos"
        said += (
            f"; {len(heif)} of them {those}, which pillow-heif reads once installed (`pip install "
            f"pillow-heif`; or convert {'it' if len(heif) == 1 else 'them'} to JPEG or PNG)"
        )
    return said


def _manifest_groups(data: Path, fresh: list[NewImage], placing, existing, hashes) -> dict:
    """Each new image's group in the manifest (:data:`objrec.manifest.MANIFEST_GROUP`), as ``split``
    records what it kept together: the group the manifest records for the data folder's images
    placed with it (its duplicates, its burst: ``placing``), unchanged since (``hashes``); else a
    number after the manifest's largest, one per placing key. Empty where they hold two recorded
    groups (split would have made them one): ``evaluate`` joins those itself, as it groups images
    no manifest records."""
    from objrec.manifest import manifest_groups

    recorded = manifest_groups(data)  # file -> (its SHA-256 then, its group)
    held: dict[str, set[str]] = {}
    for path in existing:
        then, group = recorded.get(path.relative_to(data).as_posix(), ("", ""))
        if path in placing and then.startswith(hashes[path]):
            held.setdefault(placing[path], set()).add(group)
    numbers = [int(group) for _, group in recorded.values() if group.isdigit()]
    new_numbers: dict[str, str] = {}
    found = {}
    for image in fresh:
        key = placing[image.path]
        if key not in held:
            new_numbers.setdefault(key, str(max(numbers, default=-1) + 1 + len(new_numbers)))
        groups = held.get(key, {new_numbers.get(key, "")})
        found[image.path] = next(iter(groups)) if len(groups) == 1 else ""
    return found


def _with_bursts(existing, images: list[NewImage], groups, hashes, seconds: float):
    """Each file's placing key: its duplicate group's (``groups``) united with its burst's, for
    the bursts holding a new image (:func:`objrec.bursts.bursts`, among the new images and the
    data folder's of their classes, whatever their split); and those bursts."""
    from objrec import bursts
    from objrec.grouping import join_groups

    if seconds <= 0:
        return groups, []
    classes: dict[str, list[Path]] = {image.name: [] for image in images}
    for path, (_, name) in existing.items():
        if name in classes:
            classes[name].append(path)
    for image in images:
        classes[image.name].append(image.path)
    paths = [p for group in classes.values() for p in group]
    digests = [hashes[p] for p in paths]  # the EXIF read kept by them: add read every one again
    times = bursts.camera_times(paths, digests=digests, kept=facts_file())
    new = {image.path for image in images}
    found = [b for b in bursts.bursts(classes, times, seconds) if new.intersection(b)]
    if not found:
        return groups, []
    keys = {p: hashes[p] for burst in found for p in burst} | groups
    return join_groups(keys, bursts.burst_of(found))[0], found


def _count_bursts(result: AddResult, found, fresh: list[NewImage], keys, existing) -> None:
    """The bursts holding an image added (of ``found``; new images as named, the data folder's
    relative to it: a burst whose new images are all copies of the data folder's, not added, is
    not listed), the new images placed with one, and those that went to the split of a
    burst-mate already in the data folder (not counted when a near-duplicate took them there)."""
    placing, held, groups, near_held = keys
    shown = {image.path: image.shown for image in fresh}
    result.bursts = [
        [shown[p] if p in shown else p.relative_to(result.data).as_posix() for p in burst]
        for burst in ([p for p in b if p in shown or p in existing] for b in found)
        if any(p in shown for p in burst)
    ]
    in_burst = {p for burst in found for p in burst}
    mates = [image.path for image in fresh if image.path in in_burst]
    result.burst_files = len(mates)
    result.burst_held_files = sum(placing[p] in held and groups[p] not in near_held for p in mates)


def _read(
    files: dict[str, list[Path]], on_file, store_dir: Path, times: bool
) -> tuple[dict[Path, str], dict[Path, str], dict[Path, Any]]:
    """Each file's content digest (SHA-256's first 128 bits, as the feature store keys images),
    each new image's whole SHA-256 (for its manifest row) and each file's image facts (its error
    where it does not decode), as a split reads its photos (:func:`read_all`): a file the file
    index of the feature store in ``store_dir`` knows unchanged, and whose facts the cache folder
    keeps, is not read; any other is read once, hashed, measured and (``times``) its camera time
    taken from those bytes (add read each new photo three times: to hash it, to decode it, for
    its camera time). ``on_file(done, total)``: the files looked up, then each one read."""
    whole, facts = read_all(files, on_file, store_dir, times)
    sha256 = {path: whole[path] for path in files["new"] if path in whole}
    return {path: digest[:DIGEST_CHARS] for path, digest in whole.items()}, sha256, facts


def _count_copies(
    result: AddResult, images: list[NewImage], hashes, in_data, stopped: Mapping[str, str]
) -> None:
    """The new images byte-identical to one of the data folder (``in_data``), per class; those
    whose file there a killed add wrote from them (``stopped``: file -> source) apart, as
    added by it: listed as copies of themselves, they read as photos the folder had."""
    for image in images:
        if hashes[image.path] in in_data:
            copy = in_data[hashes[image.path]].relative_to(result.data).as_posix()
            result.counts.setdefault(image.name, dict.fromkeys(SPLITS, 0))
            if stopped.get(copy) == str(image.path):
                result.stopped_add_files.append((image.shown, copy))
                continue
            result.copies[image.name] = result.copies.get(image.name, 0) + 1
            result.copy_files.append((image.shown, copy))


def _count_twins(result: AddResult, fresh: list[NewImage], hashes) -> None:
    """The new images byte-identical to another new image of their class (one picture twice in
    NEW), grouped, the original first (:func:`objrec.copies.originals_first`): each group is added
    whole to one split, as ``split`` keeps such copies, and said as ``split`` says them (not
    added unsaid, where a copy of the data folder's is skipped)."""
    by_bytes: dict[tuple[str, str], list[NewImage]] = {}
    for image in fresh:
        by_bytes.setdefault((image.name, hashes[image.path]), []).append(image)
    for group in (g for g in by_bytes.values() if len(g) > 1):
        shown = {image.path: image.shown for image in group}
        result.identical_groups.append([shown[path] for path in originals_first(list(shown))])
    result.identical_files = sum(len(group) - 1 for group in result.identical_groups)


def _members(existing, groups) -> dict[str, list[Path]]:
    """The data folder's images of each group."""
    members: dict[str, list[Path]] = {}
    for path in existing:
        if path in groups:
            members.setdefault(groups[path], []).append(path)
    return members


def _count_near(result: AddResult, data: Path, existing, rows, groups) -> None:
    """Each new image placed in the split of a near-duplicate already in the data folder (as
    named relative to NEW), that split, and the near-duplicate (relative to ``data``; one in that
    split where it has several), so that "1 image went to the split of a near-duplicate" can name
    both. One its burst placed in another split than all its near-duplicates is no such image,
    not said to go "to train (like test/red/a.png)": it is a leak, listed apart."""
    members = _members(existing, groups)
    pairs, apart = [], []
    for image, _, split, _, _ in rows:
        found = members.get(groups[image.path], [])
        if twin := next((p for p in found if existing[p][0] == split), None):
            pairs.append((image.shown, split, twin.relative_to(data).as_posix()))
        elif found:
            apart.append((image.shown, split, [p.relative_to(data).as_posix() for p in found]))
    result.near_duplicates, result.near_duplicate_files = pairs, len(pairs)
    result.near_apart = apart


def _spread(data: Path, existing, fresh: list[NewImage], groups) -> list[tuple[str, list[str]]]:
    """Each new image near-duplicate of images of the data folder that sit in more than one
    split (a leak made by hand, or one the new image makes, being like two pictures split apart),
    and those images."""
    members = _members(existing, groups)
    spread = []
    for image in fresh:
        found = members.get(groups[image.path], [])
        if len({existing[p][0] for p in found}) > 1:
            spread.append((image.shown, [p.relative_to(data).as_posix() for p in found]))
    return spread


def _rows(data: Path, images: list[NewImage], splits: list[str], hashes, groups):
    """Each image's target: its path in its class folder of its split, or a free name beside it
    when a file there (or a new image before it) has that name, in a free folder name where one
    of its sub-folders is named like such a file (:func:`_in_free_folders`); its split, SHA-256
    and group."""
    taken, files = _taken(data)
    moved: dict[str, Path] = {}
    rows = []
    for image, split in zip(images, splits, strict=True):
        wanted = _in_free_folders(Path(split) / image.name / image.rel, taken, files, moved)
        target = free_name(wanted, taken)
        taken.add(name_key(target))
        files.add(name_key(target))
        rows.append((image, target, split, hashes[image.path], groups[image.path]))
    return rows


def _in_free_folders(path: Path, taken: set[str], files: set[str], moved: dict[str, Path]) -> Path:
    """``path`` (split, class, sub-folders, file) with each sub-folder named like a file
    (``files``: the data folder's, the new images' before it) given a free name
    (:func:`free_name`), the same for every image in it (``moved``): NEW's
    ``ant/image_0002.jpg/x.jpg`` beside the data folder's ``train/ant/image_0002.jpg`` stopped
    the add with "file exists"."""
    parts = list(path.parts)
    for depth in range(3, len(parts)):
        folder = Path(*parts[:depth])
        key = name_key(folder)
        if key not in moved and key in files:
            moved[key] = free_name(folder, taken)
            taken.add(name_key(moved[key]))
        if key in moved:
            parts[:depth] = moved[key].parts
    return Path(*parts)


def _taken(data: Path) -> tuple[set[str], set[str]]:
    """The names (:func:`name_key`) of every file and folder in the splits, those inside a class
    folder that is a symbolic link (to the user's photos elsewhere) too; and of those, the
    files'. Listed by ``os.scandir``, which says what is a folder without a ``stat`` a file."""
    taken, files = set(), set()
    for split in SPLITS:
        for path, is_folder in _entries(data / split, depth=1):
            taken.add(key := name_key(path.relative_to(data)))
            if not is_folder:
                files.add(key)
    return taken, files


def _entries(folder: Path, depth: int = 0) -> Iterator[tuple[Path, bool]]:
    """Every file and folder under ``folder``, and whether it is a folder; a link to a folder is
    followed only ``depth`` levels down (a class folder that links to the user's photos)."""
    try:
        found = list(os.scandir(folder))
    except OSError:  # no such split
        return
    for entry in found:
        path, is_folder = Path(entry.path), entry.is_dir()
        yield path, is_folder
        if is_folder and (depth > 0 or not entry.is_symlink()):
            yield from _entries(path, depth - 1)


def _count(result: AddResult, rows, existing, ratios, paired: set[str]) -> None:
    """The counts, files, new classes and classes still missing from a split, from ``rows``; of
    those, the ones ``paired`` (placed as a pair to evaluate: ``two_group_classes``)."""
    before = class_counts(existing)
    result.data_images = {s: sum(c[i] for c in before.values()) for i, s in enumerate(SPLITS)}
    for image, target, split, *_ in rows:
        result.counts.setdefault(image.name, dict.fromkeys(SPLITS, 0))[split] += 1
        result.files.append((image.shown, target.as_posix()))
    result.new_classes = sorted(set(result.counts) - set(before))
    for name, added in result.counts.items():
        final = [n + added[s] for n, s in zip(before.get(name, [0] * 3), SPLITS, strict=True)]
        if any(n == 0 for n, r in zip(final, ratios, strict=True) if r > 0):
            result.small_classes.append(name)
            if name in paired:
                result.two_group_classes.append(name)


def _cross_class(data: Path, existing, images: list[NewImage], groups) -> list[tuple[str, str]]:
    """A pair for each new image whose group holds an image of another class before it (in the
    data folder, or new): the first such, then the new image."""
    first: dict[str, dict[str, str]] = {}  # group -> class -> its first image's name
    for path, (_, name) in existing.items():
        if path in groups:
            first.setdefault(groups[path], {}).setdefault(name, path.relative_to(data).as_posix())
    pairs = []
    for image in images:
        classes = first.setdefault(groups[image.path], {})
        other = next((shown for name, shown in classes.items() if name != image.name), None)
        if other is not None:
            pairs.append((other, image.shown))
        classes.setdefault(image.name, image.shown)
    return pairs

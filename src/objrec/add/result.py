"""``AddResult``, what an add did (or would do), and what it tells the user: its warnings, one
sentence each, and its notes (where the new images of known classes went, a test split changed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from objrec.config import SplitConfig
from objrec.data import (
    SPLITS,
    UNKNOWN_NAME_WHY,
    changed_test_warning,
    named_unknown,
    windows_warning,
)
from objrec.manifest import read_split_record
from objrec.split.result import no_decoder_sentence, two_groups_sentence
from objrec.split.source import chosen_class
from objrec.words import listed, plural, quoted, some_of


@dataclass
class AddResult:
    """What ``add_images`` did (or, ``dry_run``, would do): counts per class and split, and what
    the user should know."""

    data: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Images added per class and split (every class NEW holds, new ones too)."""
    copies: dict[str, int] = field(default_factory=dict)
    """Per class: new images byte-identical to one already in ``data``, not added."""
    copy_files: list[tuple[str, str]] = field(default_factory=list)
    """Each of those, and its copy in ``data`` (relative to it: ``test/red/a.jpg``)."""
    stopped_add_files: list[tuple[str, str]] = field(default_factory=list)
    """New images an earlier add into ``data``, killed, had written there (listed by this one
    first), and each one's file there: added by that add, neither added now nor copies."""
    new_classes: list[str] = field(default_factory=list)
    """Classes ``data`` had in no split before."""
    left_out_classes: list[str] = field(default_factory=list)
    """Of ``new_classes``, those the split of ``data`` does not take (its ``split.json``'s
    ``classes`` or ``exclude``): added from the source folder again, they come in all the same."""
    identical_files: int = 0
    """New images byte-identical to another new image of their class, less one per group: added
    all the same, to one split, as ``split`` keeps such copies (the picture counts more than
    once)."""
    identical_groups: list[list[str]] = field(default_factory=list)
    """Each group of those (as named relative to NEW), the original first
    (:func:`objrec.copies.originals_first`)."""
    near_duplicate_files: int = 0
    """Images added to the split of a near-duplicate already in ``data``."""
    near_duplicates: list[tuple[str, str, str]] = field(default_factory=list)
    """Each of those (as named relative to NEW), its split, and its near-duplicate in ``data``
    (relative to it)."""
    cross_class_duplicates: list[tuple[str, str]] = field(default_factory=list)
    """Pictures in two classes: an image (of ``data``, or new) and a new image of another class
    that is the same or looks alike: one of the two labels is probably wrong."""
    small_classes: list[str] = field(default_factory=list)
    """Classes given images that still have none in some split whose ratio is not 0."""
    two_group_classes: list[str] = field(default_factory=list)
    """Of ``small_classes``, the new classes of only two groups whose images would fill every
    split that the rule placed, as ``split`` places them: the larger group in train, the other in
    test (``placement.evaluated_pair``); not a class whose group another class placed."""
    min_images: int = 1
    """The fewest distinct images a class needs to appear in every split of the ratios."""
    ratios: tuple[float, float, float] = SplitConfig.ratios
    """The ratios the new images were placed toward."""
    own_ratios: bool = False
    """Whether those are the data folder's own proportions (no ``ratios`` given)."""
    data_images: dict[str, int] = field(default_factory=dict)
    """The data folder's images per split before the add: its own proportions' counts."""
    unreadable_files: list[str] = field(default_factory=list)
    """New image files that cannot be decoded (as named relative to NEW), left out."""
    no_decoder_files: list[str] = field(default_factory=list)
    """Of ``unreadable_files``, the HEIC or HEIF photos refused because pillow-heif, which reads
    them, is not installed: no damaged files."""
    empty_classes: list[str] = field(default_factory=list)
    """Class folders of NEW without images, left out."""
    spread_groups: list[tuple[str, list[str]]] = field(default_factory=list)
    """Each new image near-duplicate of images of ``data`` already in two splits or more (put
    apart by hand, or two pictures the new one is like, each near it and not near each other: a
    leak either way), and those: it went to the split holding most of them."""
    split_groups: str | None = None
    """The ``groups`` file the data folder was split by (its ``split.json`` records it), which an
    add does not read: its groups name the source folder's photos, not the new ones."""
    near_apart: list[tuple[str, str, list[str]]] = field(default_factory=list)
    """Each new image its burst placed in another split than every near-duplicate it has in
    ``data`` (a leak between splits), that split, and those near-duplicates."""
    files: list[tuple[str, str]] = field(default_factory=list)
    """Each image added, as named relative to NEW, and its file relative to ``data``."""
    bursts: list[list[str]] = field(default_factory=list)
    """Each burst holding a new image (one camera's photos of a class within ``burst_seconds``
    of each other, by EXIF time: ``objrec.bursts``), kept in one split: new images as named
    relative to NEW, the data folder's relative to it."""
    burst_files: int = 0
    """New images placed with their burst."""
    burst_held_files: int = 0
    """Of those, the images that went to the split of a burst-mate already in ``data``."""
    linked_folders: list[tuple[str, str, int]] = field(default_factory=list)
    """Each folder of ``data`` that new files went (or would go) into and that is a link to a
    folder outside it (``train/red`` -> ``~/photos/red``, set up by hand): the folder (relative to
    ``data``), where the files really are, and how many (:func:`linked_folders`)."""
    labels_left_out: dict[str, int] = field(default_factory=dict)
    """Rows of a labels table left out, by reason (:data:`objrec.labels.LEFT_OUT_REASONS`)."""
    dry_run: bool = False

    def totals(self) -> dict[str, int]:
        return {s: sum(c[s] for c in self.counts.values()) for s in SPLITS}

    def __repr__(self) -> str:
        """One line, as the other results': the data folder, the images added to each split,
        the new classes and the images not added (``print(objrec.add_images(...))`` would
        otherwise show every field, every file pair and empty list: 4,000 characters). A count
        of a field is named ``n_`` and the field's name (``n_new_classes``: ``new_classes`` holds
        their names)."""
        added = ", ".join(f"{split}={n}" for split, n in self.totals().items())
        left = f"n_copy_files={len(self.copy_files)}, n_unreadable={len(self.unreadable_files)}"
        would = ", dry_run=True" if self.dry_run else ""
        return (
            f"AddResult(data={str(self.data)!r}, {added}, "
            f"n_new_classes={len(self.new_classes)}, {left}{would})"
        )


def linked_folders(data: Path, files: Sequence[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """Of the folders of ``data`` (resolved) that ``files`` (``AddResult.files``) are written in,
    those a link leads outside ``data``, where they really are and how many files go there: the
    add writes into the user's own folder elsewhere, which they may not expect."""
    counts: dict[str, int] = {}
    for _, target in files:
        folder = PurePosixPath(target).parent.as_posix()
        counts[folder] = counts.get(folder, 0) + 1
    found = []
    for folder, n in sorted(counts.items()):
        real = (data / folder).resolve()
        if not real.is_relative_to(data):
            found.append((folder, str(real), n))
    return found


def linked_warning(result: AddResult) -> list[str]:
    """The sentence naming the folders of :attr:`AddResult.linked_folders` and the files the add
    wrote (or would write) there, outside the data folder; none when there are none."""
    if not result.linked_folders:
        return []
    went = "would go" if result.dry_run else "went"
    n = sum(count for *_, count in result.linked_folders)
    return [
        f"{plural(n, 'new file')} {went} outside the data folder, into the folders its class "
        "folders link to (nothing there is replaced; the manifest names each in the data "
        "folder): "
        + some_of(
            [f"{quoted(f)} -> {real} ({count})" for f, real, count in result.linked_folders],
            quote=False,
        )
    ]


def left_out_by_split(root: Path, new_classes: Sequence[str]) -> list[str]:
    """Of ``new_classes``, those the split of ``root`` does not take, as its ``split.json`` says
    (``exclude``, or not among ``classes``); none for a split folder without one."""
    record = read_split_record(root) or {}
    classes, exclude = record.get("classes") or [], record.get("exclude") or []
    return [name for name in new_classes if not chosen_class(name, classes, exclude)]


def add_warnings(result: AddResult) -> list[str]:
    """What the caller should know about an add, one sentence each, as logged: what was left out,
    pictures in two classes, classes missing from some split, near-duplicates across splits; a
    new class that train will refuse (named unknown, as split says). The test images added are
    what the caller asked for: :func:`test_note` says so, as information."""
    left_out = result.left_out_classes
    warnings = [left_out_warning(left_out)] if left_out else []
    for name in filter(named_unknown, result.new_classes):
        warnings.append(f"`train` will refuse the class named {name}: {UNKNOWN_NAME_WHY}")
    warnings += windows_warnings(result)
    if result.empty_classes:
        warnings.append("left out class folders without images: " + some_of(result.empty_classes))
    if result.no_decoder_files:
        warnings.append(no_decoder_sentence(result.no_decoder_files))
    if damaged := [f for f in result.unreadable_files if f not in set(result.no_decoder_files)]:
        warnings.append(
            f"left out {plural(len(damaged), 'image file')} that cannot be read: "
            + some_of(damaged)
        )
    if result.cross_class_duplicates:
        warnings.append(cross_class_warning(result.cross_class_duplicates, result.dry_run))
    if small := [n for n in result.small_classes if n not in result.two_group_classes]:
        warnings.append(
            f"classes with fewer than {plural(result.min_images, 'distinct image')} cannot appear "
            "in every split (add images or change `ratios`): " + some_of(small, len(small))
        )
    if result.two_group_classes:
        warnings.append(two_groups_sentence(result.two_group_classes))
    if result.spread_groups:
        warnings.append(
            "near-duplicates of images the data folder already has in two splits (a leak whichever"
            " split each goes to: those images were put apart by hand, or each new one is like two"
            " pictures in different splits; it goes to the split holding most of them, or the"
            " first of a tie; run `audit_folder(data)`): "
            + some_of(
                [f"{quoted(a)} ~ {some_of(b, len(b))}" for a, b in result.spread_groups],
                quote=False,
            )
        )
    return warnings + near_apart_warning(result) + groups_warning(result) + linked_warning(result)


def groups_warning(result: AddResult) -> list[str]:
    """The sentence, where the data folder was split by a ``groups`` file and new images went to
    valid or test, that the add placed them without its groups: split kept a specimen, patient or
    site in one split, and an add of three new photos of one specimen put them in train, valid
    and test, saying nothing (review65a M2)."""
    held_out = any(n for added in result.counts.values() for s, n in added.items() if s != "train")
    if result.split_groups is None or not held_out:
        return []
    return [
        f"the data folder was split by the groups file {result.split_groups}, which "
        "`add_images` does not read: each new image was placed with its duplicates and bursts "
        "only, so new photos of one group may sit in train, valid and test (a leak); to keep "
        "them in train, add them with `ratios=(1, 0, 0)`, or put them in the source folder and "
        "its groups file and split it again, `split_folder(src, out, groups=file)`"
    ]


def near_apart_warning(result: AddResult) -> list[str]:
    """The new images a burst placed apart from their near-duplicates in ``data`` (a leak the
    burst and the look-alike make together), each with its split and those images; none when
    there are none."""
    if not result.near_apart:
        return []
    went = "would go" if result.dry_run else "went"
    return [
        f"near-duplicates of images in another split {went} with their burst (a leak between "
        "the splits: move the images of one split to the other, or run `audit_folder(data)`): "
        + some_of(
            [f"{quoted(a)} to {b}, like {some_of(c, len(c))}" for a, b, c in result.near_apart],
            quote=False,
        )
    ]


def cross_class_warning(pairs: Sequence[tuple[str, str]], dry_run: bool = False) -> str:
    """The pictures in two classes (``pairs``: :attr:`AddResult.cross_class_duplicates`), and what
    the add did (or, ``dry_run``, would do) with each: a dry run said a copy "was not added"."""
    done = (
        "would not be added, a near one would go" if dry_run else "was not added, a near one went"
    )
    return (
        f"pictures in two classes that are the same or look alike ({plural(len(pairs), 'pair')}; "
        f"one of the two labels is probably wrong; a copy already in the data folder {done} to its "
        "split): " + some_of([f"{quoted(a)} = {quoted(b)}" for a, b in pairs], quote=False)
    )


def left_out_warning(names: Sequence[str]) -> str:
    """The new classes ``names`` that the data folder's split does not take
    (:func:`left_out_by_split`): the source folder added again for a few new photos brings them
    in too."""
    return (
        "new classes that the split of the data folder does not take, as its split.json says "
        f"(classes, exclude): {some_of(names)}; they come in with their images, and train learns "
        "them: to leave them out, add only the folders of the classes you meant"
    )


def windows_warnings(result: AddResult) -> list[str]:
    """The new classes and the files copied whose names Windows cannot hold
    (``data.windows_warning``), as ``split`` warns of its classes: ``add_images(class_name=
    "con")`` and a NEW file ``aux.png`` made a class folder and a file a copy to Windows loses.
    Both in one sentence: two, back to back, said the same of each."""
    classes = {name: name for name in result.new_classes}
    files = {target: PurePosixPath(target).name for _, target in result.files}
    found = [windows_warning(classes), windows_warning(files, "file")]
    if all(found):
        found = [windows_warning(classes | files, "class folder or file")]
    return [sentence for sentence in found if sentence]


def test_note(result: AddResult) -> str | None:
    """When images went (or would go) into test: that scores before and after the add are on
    different test sets, and how to compare two runs on the same images; None otherwise."""
    test = result.totals()["test"]
    return changed_test_warning(test, f"{test} added", result.dry_run) if test else None


def shared_classes(result: AddResult) -> list[str]:
    """The classes ``data`` already had whose new images went (or would go) partly to valid or
    test, placed toward the data folder's own proportions (no ``ratios`` given): those a
    ``ratios=(1, 0, 0)`` would have put all in train."""
    if not result.own_ratios:
        return []
    return [
        name
        for name, counts in sorted(result.counts.items())
        if name not in result.new_classes and (counts["valid"] or counts["test"])
    ]


def shared_note(result: AddResult) -> str | None:
    """When the new images of classes ``data`` already had went partly to valid or test (the
    default: the data folder's own proportions), where they went, why, and how to train on all
    of them instead, for a log (``objrec add`` says it with its table: ``cli.adding``'s
    ``placement_note``); None otherwise."""
    if not (shared := shared_classes(result)):
        return None
    went = "would go" if result.dry_run else "went"
    where = some_of([f"{quoted(n)} ({listed(result.counts[n])})" for n in shared], quote=False)
    return (
        f"the new images of {where} {went} partly to valid and test, as the data "
        "folder's own images are shared, so that `evaluate` measures each class on photos the "
        "model never trained on; to train on all the new images of a class instead (its valid "
        "and test images then stay as they are; a near-duplicate of one still goes to its "
        "split), add them with `ratios=(1, 0, 0)`, after `dry_run=True` to see where each goes"
    )

"""What a split did (``SplitResult``) and what it tells the user: its warnings, one sentence each
(classes and files left out, pictures in two classes, classes too small for a split or to be
judged on one, bursts not looked for), and the refusal of a split ``train`` could not use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from objrec.config import SplitConfig
from objrec.data import (
    SPLITS,
    UNKNOWN_NAME_WHY,
    class_of_folder,
    named_unknown,
    windows_warning,
)
from objrec.enough import FEWEST_TO_TRUST
from objrec.errors import ObjrecError
from objrec.images import MAX_PIXELS_VARIABLE, pixel_limit
from objrec.listing import IgnoredFiles
from objrec.ratios import LARGER_RATIOS, allocate, few_train_why, larger_ratios_hint, photos_for
from objrec.words import grouped, plural, quoted, some_of


@dataclass
class SplitResult:
    """What ``split_folder`` did: counts per class and split, and what the user should know."""

    out: Path
    counts: dict[str, dict[str, int]]
    small_classes: list[str] = field(default_factory=list)
    """Classes with too few distinct images to appear in every split of the ratios."""
    min_images: int = 1
    """The fewest distinct images a class needs to appear in every split of the ratios."""
    two_group_classes: list[str] = field(default_factory=list)
    """Of ``small_classes``, those of only two groups (duplicates, bursts, ``groups`` file groups),
    whose images would fill every split, that the rule placed: the larger group in train, the
    other in test, none in valid (``placement.evaluated_pair``); not one whose groups ``--like``
    or another class placed, wherever they ended."""
    ratios: tuple[float, float, float] = field(default_factory=lambda: SplitConfig().ratios)
    """The shares of train, valid and test the split was made with: its warnings say from them
    how many photos a class needs (:func:`photos_for`)."""
    few_train_classes: list[str] = field(default_factory=list)
    """Classes in every split but with fewer than ``min_images`` images in train (a class of 3
    split 1 / 1 / 1): the head learns them from one or two photos, and their per-class results
    rest on as few test images (:func:`few_train`)."""
    few_judged_classes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Classes in every split (and not among ``few_train_classes``) whose valid or test split
    holds fewer distinct photos than ``FEWEST_TO_TRUST``, with those splits' distinct photos: a
    class of 12 photos in 4 bursts, tested on 1 of them, which ``evaluate`` calls too few to
    trust (:func:`few_judged`)."""
    empty_classes: list[str] = field(default_factory=list)
    """Class folders without images, left out of the split (their names are in no split)."""
    unreadable_files: list[str] = field(default_factory=list)
    """Image files that cannot be decoded (``class/file``, relative to ``src``), left out; those
    over the pixel limit among them (``too_large_files``) too."""
    too_large_files: list[str] = field(default_factory=list)
    """Of ``unreadable_files``, those refused as over the pixel limit (``images.pixel_limit``):
    a 10000x10000 PNG reads, downscaled or under a higher limit."""
    no_decoder_files: list[str] = field(default_factory=list)
    """Of ``unreadable_files``, the HEIC or HEIF photos (an iPhone's) refused because pillow-heif,
    which reads them, is not installed: no damaged files."""
    duplicate_files: int = 0
    """Files in a group with another file of the same class (byte-identical or near-duplicate),
    less one per group: a copy in another class is not counted here, but named in
    ``cross_class_duplicates``."""
    identical_files: int = 0
    """Of ``duplicate_files``, those with the bytes of another file of their class; the others
    are alike by their perceptual hash."""
    near_duplicate_files: int = 0
    """Files grouped with another by their perceptual hash rather than their bytes (in one class
    or across classes): distinct file contents less the groups they form."""
    cross_class_duplicates: list[tuple[str, str]] = field(default_factory=list)
    """Pictures found in two classes: a file of one class and one of an earlier class that is the
    same or looks alike (paths relative to the source folder, the earlier class's first; one pair
    for each such picture and later class, naming the first of each class's copies, whether or
    not a class holds several, as ``duplicate_groups`` lists): one of the two labels is probably
    wrong."""
    duplicate_groups: list[list[str]] = field(default_factory=list)
    """Each group of files of one class kept together (paths relative to the source folder, such
    as ``red/album/a.jpg``), for a person to check."""
    file_groups: int = 0
    """Groups of the ``groups`` file with two images or more kept in one split (0 without one)."""
    groups_unjoined: str = ""
    """Why the ``groups`` file kept no two images together, when it kept none
    (``grouping.GroupsRead.unjoined``): its rows name images the split leaves out, or each group
    one image; "" without a file, or when it kept some."""
    kept_files: int = 0
    """With ``like``: images kept in the split they have there (the same content, or a
    near-duplicate of it); the others were placed toward the ratios, or ``moved``."""
    moved: list[tuple[str, str, str]] = field(default_factory=list)
    """With ``like``: each image (relative to the source folder) that left the split ``like``
    had it in, to be with the images it is grouped with now (near-duplicates an older objrec's
    rules did not group, a burst, a ``groups`` file's group), with that split and its new one."""
    gone_files: int = 0
    """With ``like``: its images whose content no image of the source folder has any more, of
    the classes split (not those ``classes`` or ``exclude`` leaves out)."""
    gone_classes: dict[str, int] = field(default_factory=dict)
    """Of ``gone_files``, the images of each class of ``like``, most first."""
    relabelled: list[tuple[str, str]] = field(default_factory=list)
    """With ``like``: each image (relative to the source folder) whose content ``like`` held
    under other classes only, and the first of those: a label fixed since."""
    ignored_files: IgnoredFiles | None = None
    """The files of the class folders that are not images (a RAW photo among them), left out."""
    merged_classes: dict[str, int] = field(default_factory=dict)
    """Classes made of several class folders named alike but for how their accents are encoded
    (a Mac's NFD ``café`` beside an NFC one: one name to a person), with their folders' count."""
    bursts: list[list[str]] = field(default_factory=list)
    """Each burst kept in one split (paths relative to the source folder): photos of one class
    that one camera took within ``burst_seconds`` of each other, chained (``objrec.bursts``)."""
    burst_files: int = 0
    """The photos in ``bursts``."""
    timed_files: int = 0
    """The images with a camera and a time in their EXIF, which bursts are looked for among."""
    burst_seconds: float = 0.0
    """The gap (seconds) within which bursts were looked for (0: not looked for)."""
    untimed_files: int = 0
    """The images without a camera and a time in their EXIF, among which no burst could be looked
    for (0 when none was looked for): :func:`untimed_sentence` says so when they are most."""
    cameraless_files: int = 0
    """Of ``untimed_files``, those with an EXIF time but no camera named (no Make, Model or serial
    number: an app stripped them), which bursts are told by."""
    reviewed: int = 0
    """The labels a person settled that ``out/reviewed.csv`` carries (``reviewed``: from the
    source folder's, ``like``'s and the replaced split's), which an audit of ``out`` keeps; 0 in
    a dry run, which writes none."""
    first_pages: str = ""
    """One sentence of the images of several pages or frames (a TIFF's pages, an animation's
    frames), whose first alone is read, naming how many and one (``images.first_pages_only``);
    "" for none."""
    dry_run: bool = False
    """Whether the split was only planned (``split_folder(dry_run=True)``): every figure is the
    split's, and nothing was written in ``out``."""

    def totals(self) -> dict[str, int]:
        return {s: sum(c[s] for c in self.counts.values()) for s in SPLITS}

    def __repr__(self) -> str:
        """One line, as the other results': the split folder, the images of each split, the
        classes, and what was left out or grouped (``print(objrec.split_folder(...))`` showed
        every class's counts and every field: hundreds of characters); a count of a field named
        ``n_`` and the field's name (``n_small_classes``: ``small_classes`` holds their names).
        Each count its warnings say is there: a class of 2 photos, missing from no split, is
        counted in ``few_train_classes``, a picture in two classes in ``cross_class_duplicates``
        (``duplicate_files`` counts copies within a class): shown with ``n_small_classes=0,
        duplicate_files=0`` alone, the line read as "no problem" under the two warnings. A dry
        run ends ``dry_run=True``, as ``AddResult``'s: its line read as a split written."""
        splits = ", ".join(f"{split}={n}" for split, n in self.totals().items())
        classes = f"n_small_classes={len(self.small_classes)}, "
        classes += f"n_few_train_classes={len(self.few_train_classes)}"
        files = f"n_unreadable={len(self.unreadable_files)}, duplicate_files={self.duplicate_files}"
        files += f", n_cross_class_duplicates={len(self.cross_class_duplicates)}"
        would = ", dry_run=True" if self.dry_run else ""
        return (
            f"SplitResult(out={str(self.out)!r}, {splits}, n_classes={len(self.counts)}, "
            f"{classes}, {files}{would})"
        )


def untimed_sentence(result: SplitResult, grouped: bool = False) -> str | None:
    """When most images (over half) have no EXIF camera and time, a sentence saying that no burst
    was looked for among them and what keeps a burst together instead (a camera trap's frames
    without EXIF went to different splits, unsaid); None otherwise, and when a ``groups`` file
    was given (``grouped``): the split that follows the advice is not given it again. When no
    image has an EXIF time at all (web photos, scans: every folder of Caltech-101), a short line
    (:data:`NO_EXIF_TIMES`): the whole sentence, said on every split of such a folder, was long
    for a split with nothing to do."""
    images = sum(result.totals().values())
    if grouped or 2 * result.untimed_files <= images:
        return None
    if result.untimed_files == images and not result.cameraless_files:
        return NO_EXIF_TIMES
    return (
        f"{untimed_which(result.untimed_files, result.cameraless_files, images)}, so bursts (rapid "
        "shots) go unseen: nothing to do if there are none; a `groups` file keeps each in one split"
    )


NO_EXIF_TIMES = (
    "no photo says when it was taken (EXIF), so rapid series (shots of one scene within a second) "
    "cannot be found: nothing to do if there are none; else a `groups` file keeps each in one split"
)
"""What a split of images without any EXIF time says of bursts (:func:`untimed_sentence`), in
words a student follows: "no EXIF camera times: no bursts looked for" named two things they did
not know (newcomer61b), and "no rapid series looked for (see `groups`)" left a teacher unsure
whether to act (newcomer64b): it says what a rapid series is, that nothing is to be done without
one, and when a ``groups`` file matters."""


def untimed_which(untimed: int, cameraless: int, images: int) -> str:
    """Which of ``images`` have no EXIF camera time (``untimed``), naming those with a time but
    no camera (``cameraless``): "none has an EXIF camera time" of photos whose EXIF shows a time
    (a camera trap's, Make and Model stripped by the software that copied them) read as untrue."""
    if cameraless == untimed == images:
        return (
            f"all {images:,} images have an EXIF time but name no camera (Make, Model), and a "
            "burst is one camera's photos"
        )
    if untimed == images:
        which = f"none of the {images:,} images has an EXIF camera time"
    else:
        which = f"{untimed:,} of {plural(images, 'image')} have no EXIF camera time"
    return f"{which} ({cameraless:,} a time but no camera)" if cameraless else which


def left_out_sentences(
    unreadable: Sequence[str], too_large: Sequence[str], no_decoder: Sequence[str] = ()
) -> list[str]:
    """The files left out as unreadable, one sentence, and those of them over the pixel limit
    (a 10000x10000 PNG) or without a decoder (an iPhone's HEIC) in their own, since neither is a
    damaged file: how to have them read."""
    damaged = [name for name in unreadable if name not in {*too_large, *no_decoder}]
    sentences = []
    if no_decoder:
        sentences.append(no_decoder_sentence(no_decoder, "; `strict` refuses them"))
    if damaged:
        sentences.append(
            f"left out {plural(len(damaged), 'image file')} that cannot be read "
            "(`strict` refuses them): " + some_of(damaged)
        )
    if too_large:
        them = "it" if len(too_large) == 1 else "them"
        sentences.append(
            f"left out {plural(len(too_large), 'image file')} too large to read, over the limit of "
            f"{pixel_limit():,} pixels (`strict` refuses them; downscale {them}, or raise the "
            f"limit with {MAX_PIXELS_VARIABLE}, docs/folders.md): " + some_of(too_large)
        )
    return sentences


def no_decoder_sentence(names: Sequence[str], note: str = "") -> str:
    """The HEIC or HEIF photos left out because pillow-heif is not installed, and how to have them
    read (``note``: what else to say in the parentheses)."""
    them = "it" if len(names) == 1 else "them"
    return (
        f"left out {plural(len(names), 'HEIC or HEIF photo')}, which pillow-heif reads once "
        f"installed (`pip install pillow-heif`; or convert {them} to JPEG or PNG{note}): "
        + some_of(names)
    )


def merged_sentences(merged: dict[str, int]) -> list[str]:
    """The one sentence naming the ``merged`` classes (``SplitResult.merged_classes``), if any:
    two folders that read the same became one class, which the user is told."""
    if not merged:
        return []
    return [
        "class folders named alike but for how their accents are encoded (a Mac writes them "
        "decomposed, other systems composed: one name to a person) were split as one class, "
        "under its composed name: "
        + some_of([f"{quoted(name)} ({n} folders)" for name, n in merged.items()], quote=False)
    ]


def split_warnings(result: SplitResult, chosen_ratios: bool = False) -> list[str]:
    """What the caller should know about a split, one sentence each, as logged: a single class,
    classes and files left out, pictures in two classes, classes missing from some split.
    ``chosen_ratios``: the caller chose ``result.ratios``, even the default ones (the CLI:
    ``--ratios`` typed), which :func:`larger_ratios_hint` then does not second-guess."""
    warnings = class_name_warnings(list(result.counts))
    if result.empty_classes:
        warnings.append(
            "left out class folders without images (`strict` refuses them): "
            + some_of(result.empty_classes)
        )
    warnings += merged_sentences(result.merged_classes)
    if result.ignored_files:
        warnings.append(result.ignored_files.sentence())
    warnings += left_out_sentences(
        result.unreadable_files, result.too_large_files, result.no_decoder_files
    )
    warnings += [result.first_pages] if result.first_pages else []
    if pairs := result.cross_class_duplicates:
        warnings.append(
            f"pictures in two classes that are the same or look alike ({plural(len(pairs), 'pair')}"
            "; one of the two labels is probably wrong, and each pair was kept in one split): "
            + some_of([f"{quoted(a)} = {quoted(b)}" for a, b in pairs], quote=False)
        )
    if result.groups_unjoined:
        warnings.append(result.groups_unjoined)
    warnings += short_class_sentences(result)
    if result.few_train_classes:
        warnings.append(few_train_sentence(result))
    if result.few_judged_classes:
        warnings.append(few_judged_sentence(result))
    sizes = [sum(counts.values()) for counts in result.counts.values()]
    if not chosen_ratios and (hint := larger_ratios_hint(sizes, result.ratios)):
        warnings.append(hint)
    return warnings


def short_class_sentences(result: SplitResult) -> list[str]:
    """The warnings on the classes missing from a split: too few images or groups, and where a
    class of two groups went (:func:`two_groups_sentence`)."""
    sentences = []
    if small := [n for n in result.small_classes if n not in result.two_group_classes]:
        sentences.append(
            f"classes with fewer than {plural(result.min_images, 'distinct image')}"
            f"{_or_groups(result)} cannot appear in every split (add images or change `ratios`): "
            + some_of(small, len(small))
        )
    if result.two_group_classes:
        sentences.append(two_groups_sentence(result.two_group_classes))
    return sentences


def two_groups_sentence(classes: list[str]) -> str:
    """The warning on classes of only two groups (``split``'s and ``add``'s
    ``two_group_classes``): where each went, and what fills valid. One sentence a user acts on:
    it said also why no split holds a third, and what `evaluate` judges by (330 characters)."""
    return (
        "classes whose photos make only two groups of copies or bursts, each kept in one split, "
        "have the larger group in train and the other in test, none in valid (add photos taken "
        "apart from these): " + some_of(classes, len(classes))
    )


def class_name_warnings(classes: Sequence[str]) -> list[str]:
    """The warnings on the classes a split made: one class only (``train`` refuses it), a class
    named ``unknown``, class names Windows cannot hold (``data.windows_warning``; noted, as the
    split works here, and the names are first seen by ``split``)."""
    warnings = []
    if len(classes) == 1:
        warnings.append(
            f"only one class ({next(iter(classes))}): `train` will refuse this "
            "split (a classifier needs at least two classes)"
        )
    for name in filter(named_unknown, classes):
        warnings.append(f"`train` will refuse the class named {name}: {UNKNOWN_NAME_WHY}")
    if unsafe := windows_warning(classes):
        warnings.append(unsafe)
    return warnings


def few_train_sentence(result: SplitResult) -> str:
    """The warning on classes with too few training images, fewest first, how many photos would
    give a class enough, and why the fewest that larger ratios would give more got so few
    (``ratios.few_train_why``)."""
    trained = {name: result.counts[name]["train"] for name in result.few_train_classes}
    said = few_train_words(trained, result.min_images, result.ratios)
    for name in sorted(trained, key=lambda name: trained[name]):
        n = sum(result.counts[name].values())
        train = allocate(n, result.ratios)[0]  # its photos each a group of their own
        if train == trained[name] and allocate(n, LARGER_RATIOS)[0] > train:
            return f"{said}; {quoted(name)}: {few_train_why(n, result.ratios)}"
    return said


def few_train_words(
    trained: Mapping[str, int], need: int, ratios: tuple[float, float, float]
) -> str:
    """:func:`few_train_sentence`'s words for the classes ``trained`` on fewer than ``need``
    images each (their counts), fewest first, a class's photos for ``need`` at ``ratios``:
    ``split`` says them, and ``train`` again, for whoever skipped split's warnings."""
    few = sorted(trained, key=lambda name: trained[name])
    return (
        f"classes with fewer than {plural(need, 'training image')}, learnt from one or two "
        f"photos (add photos{photos_needed(ratios, ['train'], need)}): "
        + grouped({name: f"{trained[name]} in train" for name in few})
    )


def few_judged_sentence(result: SplitResult) -> str:
    """The warning on classes with too few distinct photos in valid or test to judge them by,
    and how many a class needs. One sentence a user acts on: it said also what `evaluate` will
    call their results (330 characters on three classes)."""
    judged = result.few_judged_classes
    splits = [s for s in ("valid", "test") if any(s in counts for counts in judged.values())]
    return (
        f"classes with fewer than {plural(FEWEST_TO_TRUST, 'distinct photo')} in valid or test, "
        f"too few to judge them by (add photos"
        f"{photos_needed(result.ratios, splits, FEWEST_TO_TRUST)}): "
        + grouped(
            {name: judged_counts(counts, result.counts[name]) for name, counts in judged.items()}
        )
    )


def photos_needed(ratios: tuple[float, float, float], splits: Sequence[str], need: int) -> str:
    """How many distinct photos a class needs for ``need`` in each of ``splits`` at the split's
    ratios, for a warning's "add photos": ``: a class of 11 distinct photos gets 3 in valid and
    test``; empty when no class size does. 101 classes of 6 to 10 photos were told "add
    images", and not how many would do."""
    n = photos_for(ratios, splits, need)
    if n is None:
        return ""
    return f": a class of {n:,} distinct photos gets {need} in {' and '.join(splits)}"


def judged_counts(counts: dict[str, int], images: dict[str, int]) -> str:
    """A class's distinct photos in the splits it has too few in, and its images there when
    more (``images``: by split), as its folders show them: ``1 distinct of 3 in valid, 2 in
    test``."""
    return ", ".join(
        f"{n} in {split}" if images[split] <= n else f"{n} distinct of {images[split]:,} in {split}"
        for split, n in counts.items()
    )


def few_train(counts: dict[str, dict[str, int]], small: Sequence[str], need: int) -> list[str]:
    """The classes (not already ``small``: missing from a split) with fewer than ``need``
    training images, ``need`` being the fewest a whole class needs for a split
    (:func:`min_class_size`): too few to learn a class from or to judge it by."""
    return [n for n, c in counts.items() if n not in small and 0 < c["train"] < need]


def few_judged(assignment, keys: dict[Path, str], result: SplitResult) -> dict[str, dict[str, int]]:
    """The classes (neither missing from a split nor ``few_train``) whose valid or test images
    are fewer than ``FEWEST_TO_TRUST`` distinct photos (each placing group of ``keys``, as the
    manifest's ``group`` and ``evaluate``'s ``n_groups`` count them), with those splits' counts."""
    distinct: dict[str, dict[str, set[str]]] = {}
    for path, (name, split) in assignment.items():
        distinct.setdefault(name, {}).setdefault(split, set()).add(keys[path])
    skip = set(result.small_classes) | set(result.few_train_classes)
    few = {}
    for name, splits in distinct.items():
        counts = {
            s: len(splits[s])
            for s in ("valid", "test")
            if 0 < len(splits.get(s, ())) < FEWEST_TO_TRUST
        }
        if counts and name not in skip:
            few[name] = counts
    return few


def require_train_and_valid_shares(ratios: tuple[float, float, float]) -> None:
    """Refuse ``ratios`` that give train or valid no share: ``train`` would refuse the split (the
    CLI checks it before reading the photos, as a usage error)."""
    if missing := [s for s in ("train", "valid") if ratios[SPLITS.index(s)] == 0]:
        raise ObjrecError(
            f"no image would go to {' or '.join(missing)}, which `train` needs: `ratios` gives "
            f"{missing[0]} a share of 0"
        )


def require_train_and_valid(result: SplitResult, ratios: tuple[float, float, float]) -> None:
    """Refuse a split that ``train`` would refuse: no training or no validation image at all."""
    require_train_and_valid_shares(ratios)
    totals = result.totals()
    missing = [s for s in ("train", "valid") if totals[s] == 0]
    if not missing:
        return
    why = (
        f"every class has fewer than the {result.min_images} distinct images"
        f"{_or_groups(result)} these ratios need to fill every split: add images, or give train "
        "and valid larger ratios"
    )
    raise ObjrecError(f"no image would go to {' or '.join(missing)}, which `train` needs: {why}")


def _or_groups(result: SplitResult) -> str:
    """What a class also counts by where a ``groups`` file or a burst joined images: its groups,
    each of which lands whole in one split (a class of 12 photos in 2 groups fills 2 splits at
    most). A camera whose clock did not tick (15 photos, each at 2000:01:01 00:00:00) made one
    burst of a class, said to have "fewer than 3 distinct images"."""
    held = {class_of_folder(Path(burst[0]).parts[0]) for burst in result.bursts}
    joins = [
        name
        for name, joined in (
            ("`groups` file groups", result.file_groups),
            ("bursts", held.intersection(result.small_classes)),
        )
        if joined
    ]
    if not joins:
        return ""
    why = "each lands whole in one split"
    if "bursts" in joins:
        why += (
            ": a burst is one camera's photos within `burst_seconds` of each other by their EXIF "
            "time, all of them where its clock did not tick; `burst_seconds` 0 turns bursts off"
        )
    return f" or {' or '.join(joins)} ({why})"

"""What ``apply_plan`` did, in counts (:class:`AppliedPlan`), and the notes on a changed test or
validation split.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from objrec.words import plural

SPLIT_COUNTS = frozenset(
    {"test_removed", "test_relabelled", "test_moved_out"}
    | {"valid_removed", "valid_relabelled", "valid_moved_out"}
)
"""The counts of a split folder's test and validation images removed or relabelled: said by
:func:`test_change_note` and :func:`valid_change_note`, left out of :class:`AppliedPlan`'s repr."""
PARTS_SAID_APART = SPLIT_COUNTS | {"in_source"}
"""The counts :class:`AppliedPlan`'s repr leaves out, parts of ``removed`` and ``relabelled``
that a note says: the split counts, and ``in_source`` (:func:`source_note`); its seventeenth
count made the line 254 characters of four digits each."""


@dataclass(frozen=True)
class AppliedPlan:
    """What :func:`apply_plan` did, in counts (``objrec apply-plan --json``'s, in its order, and
    each plan's entry in the copy's ``split.json``: ``split.record.record_applied``)."""

    copied: int = 0
    """Images copied into ``out`` (or linked, ``mode="link"``)."""
    removed: int = 0
    """Images of ``data`` the plan left out."""
    relabelled: int = 0
    """Images copied into another class folder than their own."""
    renamed: int = 0
    """Images given a free name, as another file of their new folder had theirs (each logged)."""
    broken_links: int = 0
    """Links of ``data`` to an image that is not there, left out whatever the plan says."""
    replaced: int = 0
    """Rows skipped because their file is not the image the audit saw (its ``digest``)."""
    moved_by_hand: int = 0
    """The plan's rows done by hand already: a relabel's photo moved into the row's class, a
    review's into another class, copied where it is (warned of); not among ``relabelled``."""
    left_to_review: int = 0
    """The plan's rows left as the audit's ``review``: applied as keeps, but no decision, so
    ``reviewed.csv`` remembers none of their labels."""
    relabels_as_proposed: int = 0
    """Of ``relabelled``, the relabels as the audit pre-filled them (:func:`as_proposed`):
    applied, but nobody's decision, so ``reviewed.csv`` remembers none of their labels."""
    accepted: int = 0
    """The rows whose suggested class ``accept`` took as a person's decision
    (:func:`with_accepted`): the label flags left to review, relabelled to it, and the audit's
    own relabels, each remembered in ``reviewed.csv``; 0 without ``accept``."""
    not_accepted: int = 0
    """Of ``left_to_review``, the label flags with a suggested class that ``accept`` did not
    take: under ``RELABEL_MIN_PROB``, or in a class of too few photos to judge, which the
    audit itself says not to act on (session 61's review); 0 without ``accept``."""
    test_removed: int = 0
    """Of ``removed``, in a split folder's test split: the test set changed; and of
    ``moved_by_hand``, those a person moved out of the test split (:func:`test_changes`)."""
    test_relabelled: int = 0
    """Of ``relabelled``, in the test split, and of ``moved_by_hand``, those moved into another
    class of it (scores on ``out`` and ``data`` are not comparable when either test count is not
    0)."""
    test_moved_out: int = 0
    """Of ``test_removed``, the photos a person moved by hand out of the test split: in ``out``
    still, in the split they were moved to, where the plan removed the others."""
    valid_removed: int = 0
    """Of ``removed``, in the validation split, which decides the next train's early stopping
    and unknown threshold; and of ``moved_by_hand``, those moved out of it."""
    valid_relabelled: int = 0
    """Of ``relabelled``, in the validation split, and of ``moved_by_hand``, those moved into
    another class of it."""
    valid_moved_out: int = 0
    """Of ``valid_removed``, the photos a person moved by hand out of the validation split."""
    reviewed: int = 0
    """Labels ``out/reviewed.csv`` remembers as settled by a person (:func:`settles_label`, and
    ``data``'s earlier ones): the next audit of ``out`` keeps them; 0, and no file, for none."""
    in_source: int = 0
    """Of ``removed`` and ``relabelled``, the images of a split folder whose photo in the folder
    it was split from (``manifest.csv``'s ``source``) still carries what the plan fixed: a
    removed one still there, a relabelled one in another class than its new one. A photo moved
    by hand inside the split and relabelled back is not (:func:`in_source`): the photo folder
    held it right, and apply-plan said it held the mistake (newcomer62, 5)."""
    other_files: int = 0
    """Files of ``data`` that are not images (a ``notes.txt``), copied (or linked) where they
    are: ``out`` is the user's photo folder from then on, and a newcomer's notes were gone from
    it without a word. objrec's own (``manifest.csv``, ``split.json``, ``reviewed.csv``) are
    written for ``out`` instead."""

    def to_json(self) -> dict[str, int]:
        """As ``objrec apply-plan --json`` prints the counts, and ``split.json`` records them."""
        return asdict(self)

    def __repr__(self) -> str:
        """One line, as the other results': ``copied`` and every count that is not 0 (its
        sixteen counts, mostly 0, ran past a line once ``accepted`` joined them), but the test
        and validation splits' and ``in_source`` (:data:`PARTS_SAID_APART`): parts of
        ``removed`` and ``relabelled``, which the notes on a changed test or validation split
        and on the photo folder say. Every count not 0 made 255 characters of single digits, 303
        of four."""
        said = [f"copied={self.copied}"]
        said += [
            f"{k}={n}"
            for k, n in asdict(self).items()
            if n and k != "copied" and k not in PARTS_SAID_APART
        ]
        return f"AppliedPlan({', '.join(said)})"

    def __getitem__(self, key: str) -> int:
        """``counts["copied"]``, as scripts read the dict this class replaced: the value of the
        attribute ``key``, with a :class:`DeprecationWarning` naming it."""
        value = self.to_json()[key]
        warnings.warn(
            f"apply_plan(...)[{key!r}] is deprecated: read its .{key}",
            DeprecationWarning,
            stacklevel=2,
        )
        return value


def applied_notes(data: Path, out: Path, counts: AppliedPlan) -> list[str]:
    """What ``apply_plan`` says beside its ``counts``: a changed test split, a changed
    validation split (the counts its repr leaves out), the photo folder ``data`` came from."""
    notes = (test_change_note(counts), valid_change_note(counts), source_note(data, out, counts))
    return [note for note in notes if note]


def test_change_note(counts: AppliedPlan) -> str | None:
    """``add``'s sentence when the plan removed or relabelled test images (``counts``' own
    ``test_removed`` and ``test_relabelled``): scores before and after are not comparable; the
    new folder is ``apply_plan``'s ``out``. Information, not a warning: the user's plan asked
    for those changes. None when the test split is unchanged."""
    from objrec.data import changed_test_warning

    moved_out = counts.test_moved_out
    changed = changed_words("test", counts.test_relabelled, counts.test_removed, moved_out)
    how = ", ".join(f"{n} {verb}" for verb, n in changed.items() if n)
    return changed_test_warning(sum(changed.values()), how, folder="out") if how else None


def changed_words(split: str, relabelled: int, removed: int, moved_out: int) -> dict[str, int]:
    """The images of the ``split`` split (``test``, ``validation``) the plan changed, by what
    became of them: ``removed`` counts the photos moved by hand out of it (``moved_out``) too,
    which are in the copy still, in another split, so they are said apart ("1 removed" said of
    a photo moved to train, late62 L6)."""
    return {
        "relabelled": relabelled,
        "removed": removed - moved_out,
        f"moved by hand out of the {split} split": moved_out,
    }


def source_note(data: Path, out: Path, counts: AppliedPlan) -> str | None:
    """The sentence when images of a split folder ``data`` whose photo folder is still there
    (``split.json``'s ``source``, ``split.source.split_origin``) carry there what the plan fixed
    (``counts.in_source``): a new split of that folder brings those mistakes back; and the two
    ways on: ``out`` grown by ``add_images``, or a fixed copy of the photo folder split ``like``
    ``out``. A newcomer's photos/ kept 8 planted mistakes fixed in the split's copy, and nothing
    in the loop said so (newcomer60, 8). None otherwise."""
    from objrec.split.source import split_origin

    n = counts.in_source
    source = split_origin(data) if n else None
    if source is None or not source.is_dir() or source.resolve() == Path(out).resolve():
        return None
    return (
        f"{source}, which {data} was split from, still holds {plural(n, 'image')} this plan "
        f"relabelled or left out as {'it was' if n == 1 else 'they were'}: a new split of it "
        f"brings {'that mistake' if n == 1 else 'those mistakes'} back; "
        f"go on from {out} (`add_images(out, new_photos)` for more photos), or fix a copy of "
        "the photo folder too (`audit_folder(photos)`, then `apply_plan(photos, plan, "
        "photos_fixed)` and `split_folder(photos_fixed, new_data, like=out)`)"
    )


def in_source(data: Path, targets: Mapping[Path, Path | None]) -> int:
    """How many of the images ``targets`` remove or move to another class (each relative to the
    split folder ``data``) the photo folder ``data`` was split from still holds as they were:
    their ``manifest.csv`` row (by path, or where a photo moved by hand between class folders
    was listed: ``check.moved_from``) names a source file there that is still a file, of
    another class than a relabel's. Images an add brought from elsewhere are not counted: a
    new split of the photo folder never had them."""
    from objrec.check import moved_from
    from objrec.manifest import MANIFEST, manifest_rows
    from objrec.split.source import split_origin

    changed = {rel: to for rel, to in targets.items() if to is None or to.parent != rel.parent}
    origin = split_origin(data) if changed else None
    if origin is None or not origin.is_dir():
        return 0
    rows = {row["file"]: row for row in manifest_rows(data / MANIFEST)}
    was = {now: before for before, now in moved_from(data).items()}
    count = 0
    for rel, to in changed.items():
        row = rows.get(was.get(rel.as_posix(), rel.as_posix()))
        if row is not None and _source_carries(origin, row, to):
            count += 1
    return count


def _source_carries(origin: Path, row: Mapping[str, str], to: Path | None) -> bool:
    """Whether the source of the manifest ``row`` is a file of the photo folder ``origin``
    still, under another class than ``to``'s (a relabel's target), or at all (``to`` None)."""
    from objrec.data import class_of_folder

    source = Path(row.get("source") or "").resolve()
    if not source.is_relative_to(origin.resolve()) or not source.is_file():
        return False
    was = class_of_folder(row.get("class") or "")
    return to is None or len(to.parts) < 2 or was != class_of_folder(to.parts[1])


def test_changes(
    targets: dict[Path, Path | None], followed: Mapping[str, str] | None = None
) -> dict[str, int]:
    """How many images of a split folder's test and valid splits ``targets`` remove and relabel
    (``test_removed``, ``valid_relabelled``...). A photo a person moved by hand since the audit
    (``followed``: where it is now -> where it was) counts from where it was: moved out of the
    split, as one the split lost (and in ``test_moved_out`` or ``valid_moved_out``); into another
    class of it, as relabelled. Counted where it is
    now, a photo moved from valid/watch to train/sunflower left the copy's validation split
    one image short unsaid (session 61's review, L1)."""
    counts = dict.fromkeys(sorted(SPLIT_COUNTS), 0)
    for rel, target in targets.items():
        was = Path((followed or {}).get(rel.as_posix(), rel))
        if (split := was.parts[0]) not in ("test", "valid"):
            continue
        if target is None or target.parts[0] != split:
            counts[f"{split}_removed"] += 1
            counts[f"{split}_moved_out"] += target is not None
        elif target.parent != was.parent:
            counts[f"{split}_relabelled"] += 1
    return counts


def valid_change_note(counts: AppliedPlan) -> str | None:
    """The sentence when the plan removed or relabelled validation images (``counts``'
    ``valid_removed`` and ``valid_relabelled``): they decide the next train's early stopping and
    its "unknown" threshold, which apply-plan said nothing of. None when valid is unchanged."""
    moved_out = counts.valid_moved_out
    changed = changed_words("validation", counts.valid_relabelled, counts.valid_removed, moved_out)
    how = ", ".join(f"{n} {verb}" for verb, n in changed.items() if n)
    if not how:
        return None
    return (
        f"{plural(sum(changed.values()), 'validation image')} changed ({how}): they decide the "
        "next train's early stopping and its unknown threshold, so its validation figures are "
        "not comparable with the old run's"
    )

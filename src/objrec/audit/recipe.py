"""``audit``: likely wrong labels, near-duplicates, leaks across splits and outliers in a folder.

This module is the recipe: the command (:func:`audit`), its settings (:class:`AuditConfig`, from
``audit.settings``), what it found (:class:`AuditResult`) and :func:`find_issues`, which runs each
job of its own module in turn:

* ``audit.inventory``: the folder's images, their frozen body's cached features (the same cache
  entries ``train`` and ``evaluate`` use; only the centre view) and a few facts per image (size,
  contrast, perceptual hashes), taken as each image is decoded for the body, so a cold audit
  makes one pass over the files;
* ``audit.copies``: **near-duplicates** (feature neighbours plus perceptual hashes of the whole
  image and of its crops, ``objrec.dedup``) and a burst's frames, grouped; a group spanning two
  splits is a possible leak; pairs only moderately alike by both signals are **look-alikes**,
  grouped apart, to check (not leaks); the rows seen one per picture, so that a photo's copies
  count once wherever the audit counts images;
* ``audit.distances``: each image's nearest images outside its own copy group, and how far out
  its distances lie (robust z-scores);
* ``audit.heads`` and ``audit.labels``: **label issues**: ``folds`` heads, each trained on the
  other folds' features, give every image out-of-fold class probabilities, averaged with the
  labels of its nearest images (a copy group in one fold and never its own neighbours, so a
  wrong label's copies do not vouch for it); cleanlab (confident learning) flags as many images
  as it estimates are wrong, most likely first, plus images far from their class whose label
  gets under twice chance;
* ``audit.outliers``: **outliers**, images whose nearest neighbours (in their class, or anywhere)
  are unusually far, and degenerate images (tiny, nearly blank, extreme aspect ratio); and the
  **unreadable files**, those no command can read (``check`` calls them unusable, ``split`` and
  ``train`` leave them out), listed apart and not counted among the images.

The audit only reads DATA. ``audit.report`` writes its CSVs, ``audit.json``, ``audit.html`` and
``plan.csv`` (a proposal a person reviews, by ``audit.plan``'s rules); ``apply_plan`` copies a
corrected folder elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from objrec import dedup, image_facts
from objrec.audit.copies import (
    PictureNames,
    Pictures,
    burst_pairs,
    copy_groups,
    duplicate_groups,
    split_copies,
)
from objrec.audit.distances import Around
from objrec.audit.findings import (
    ClassRecall,
    DuplicateGroup,
    LabelIssue,
    LikelyMerge,
    Outlier,
    PhotosNeeded,
    Unreadable,
    one_per_picture,
)
from objrec.audit.inventory import Inventory, audit_features, inventory, inventory_facts
from objrec.audit.labels import judge_labels
from objrec.audit.outliers import FarClass, far_classes, outlier_rows, unreadable_rows
from objrec.audit.report import FINDING_KINDS, finding_rows, findings_table, write_audit
from objrec.audit.settings import AuditConfig
from objrec.cache import open_cache, stores_held
from objrec.cache_folder import using_cache_dir
from objrec.errors import ObjrecError, on_ctrl_c
from objrec.outputs import takes_back_folders, writing_outputs
from objrec.paths import PathGiven, as_path
from objrec.photos_needed import none_listed_words
from objrec.progress import Reporter, or_silent
from objrec.reviewed import settled_paths
from objrec.warned import warned_once_per_file
from objrec.words import plural, quoted, some_of

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


GROUP_KINDS = ("near_duplicates", "look_alikes")
"""The findings that are groups of images, each counted once whatever its files."""


@dataclass
class AuditResult:
    """What the audit found; ``to_json`` gives the documented ``--json`` shape."""

    label_issues: list[LabelIssue]
    near_duplicates: list[DuplicateGroup]
    outliers: list[Outlier]
    n_images: int
    classes: list[str]
    out: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    """Seconds per stage, each named once: ``features`` (the frozen pass), ``hashing``,
    ``neighbours`` (the nearest images), ``pairs`` (near-duplicate pairs and copy groups),
    ``distances`` (each image's to its class and the others), ``labels`` (the label check),
    ``duplicates`` (the groups), ``outliers``, ``report``, and ``total``."""
    baseline_flags: list[str] = field(default_factory=list)
    """Paths whose out-of-fold prediction differs from their label: the plain baseline."""
    look_alikes: list[DuplicateGroup] = field(default_factory=list)
    """Groups alike by both signals moderately (``dedup.DuplicateRule.look_alike``), or paired by
    ``split`` alone (``kept_by_split``), in the rows
    of ``near_duplicates``: one picture re-framed or edited, or different photos of one kind,
    which only a look tells; not counted as leaks."""
    unjudged: list[str] = field(default_factory=list)
    """Classes with fewer than ``MIN_JUDGED`` readable images: none of their images is ranked as
    a label issue, as nothing can judge them (``audit.report.unjudged_note`` says so)."""
    labels_not_judged: str = ""
    """Why no label was judged at all ("" when labels were): the folder holds one class, or
    fewer than two classes of ``MIN_JUDGED`` readable images (``audit.report.none_judged_note``):
    no label issue then means no label was looked at, not that none is wrong."""
    far_classes: dict[str, FarClass] = field(default_factory=dict)
    """Classes of few photos that lie far as a whole (``far_classes``): each one's pictures far
    from every image or from their class, its distinct photos and its images
    (``audit.report.far_classes_note`` says it)."""
    planned: dict[str, int] = field(default_factory=dict)
    """How many rows plan.csv pre-fills of each action (``relabel``, ``remove``, ``keep``), how
    many of its keeps are label flags to review (``review``) or kept as a person settled them
    (``settled``), and of its removes byte-identical copies (``identical``) and copies labelled
    otherwise than the copy kept (``other_label``); empty when nothing was written."""
    merges: list[LikelyMerge] = field(default_factory=list)
    """The pairs of classes that look like one class in two folders
    (``audit.labels.likely_merges``): their label flags from one into the other are said as the
    merge, not as likely wrong labels, and the plan leaves every image of the class to merge to
    review, which ``apply_plan(..., merge=[name])`` relabels (a person's choice: the plan's default
    moves nothing)."""
    no_class: list[str] = field(default_factory=list)
    """The paths of ``label_issues`` whose picture lies far from every class's images
    (``LabelIssue.no_class``): photos of none of the classes, to remove, listed apart from the
    likely wrong labels (a label a person settled stays settled); the plan leaves them to review,
    suggesting none of the classes."""
    too_few: list[str] = field(default_factory=list)
    """The paths of ``label_issues`` in classes of too few photos to judge them
    (``AuditConfig.few_photos_p``): listed apart from the likely wrong labels, kept by the plan."""
    unreadable: list[Unreadable] = field(default_factory=list)
    """The files of the folder that cannot be read (as ``check``, ``split`` and ``train`` read
    them: :func:`unreadable_rows`), left out of ``n_images`` and of every finding; the plan
    removes them."""
    photos_needed: list[PhotosNeeded] = field(default_factory=list)
    """The classes that most need more or better photos, most in need first, each with its
    evidence and reasons in words (``photos_needed.in_need``): ``photos_needed.csv``."""
    least_recognised: list[ClassRecall] = field(default_factory=list)
    """The classes whose photos heads that never saw them recognised least, least first
    (``photos_needed.least_recognised``): named when ``photos_needed`` is empty
    (:meth:`none_needed`)."""
    settled: list[str] = field(default_factory=list)
    """The paths of ``label_issues`` whose label as it is a person settled in an earlier plan
    (``reviewed.csv``): still flagged and ranked, but kept by the plan, so the summaries (the
    terminal's, ``--json``'s, audit.html's) say them apart from the likely wrong labels."""
    data: Path | None = None
    """The audited folder, as given: the rows' paths are in it (``data/test/red/x.png``), the
    CSVs' relative to it (``test/red/x.png``), as ``plan.csv`` names its files."""
    picture_of: dict[int, int] = field(default_factory=dict)
    """Each file of a picture of two files or more (its place in the audit's inventory) -> the
    file that stands for its picture (``PictureNames``), which the findings' ``picture`` and
    plan.csv's ``picture`` name: the files of one picture, one decision."""

    def to_json(self) -> dict[str, Any]:
        keys = {
            "label_issues": ("path", "given", "suggested", "score", "picture", "copies"),
            "near_duplicates": ("paths", "splits", "similarity"),
            "look_alikes": ("paths", "splits", "similarity"),
            "outliers": ("path", "score", "reason", "picture", "copies"),
        }
        found = {
            name: [{k: row[k] for k in wanted} for row in finding_rows(getattr(self, name))]
            for name, wanted in keys.items()
        }
        far = [
            {"class": name, "outliers": far.outliers, "photos": far.photos, "images": far.images}
            for name, far in self.far_classes.items()
        ]
        flags, settled = found.pop("label_issues"), set(self.settled)
        nothing = set(self.no_class) - settled
        merged = {issue.path for issue in self.merge_flags()}
        few = set(self.too_few) - settled - nothing - merged
        apart = settled | nothing | merged | few
        labels = {
            "label_issues": [row for row in flags if row["path"] not in apart],
            "settled_labels": [row for row in flags if row["path"] in settled],
            "merged_labels": [row for row in flags if row["path"] in merged],
            "of_no_class": [row for row in flags if row["path"] in nothing],
            "too_few_to_judge": [row for row in flags if row["path"] in few],
        }
        rest = {
            "unreadable_files": [file.path for file in self.unreadable],
            "labels_judged": not self.labels_not_judged,
            "labels_not_judged": self.labels_not_judged or None,
            "classes_not_judged": list(self.unjudged),
            "far_classes": far,
            "likely_merges": [merge.row() for merge in self.merges],
        }
        needs = [need.row() for need in self.photos_needed]
        least = [
            {"class": r.class_name, "recognised": r.recognised, "of": r.judged}
            for r in self.least_recognised
        ]
        return labels | found | rest | {"photos_needed": needs, "least_recognised": least}

    def none_needed(self) -> str:
        """Why ``photos_needed`` lists no class and which classes were recognised least, in one
        sentence (``photos_needed.none_listed_words``); "" when it lists one."""
        if self.photos_needed:
            return ""
        merged = sorted({merge.class_name for merge in self.merges})
        return none_listed_words(self.least_recognised, self.labels_not_judged, merged)

    def likely_wrong(self) -> list[LabelIssue]:
        """The label issues but those a person settled in an earlier plan (``settled``), those
        of none of the classes (``no_class``), those a likely merge explains (``merge_flags``)
        and those in classes of too few photos to judge (``too_few``)."""
        merged = {issue.path for issue in self.merge_flags()}
        apart = set(self.settled) | set(self.no_class) | merged | set(self.too_few)
        return [issue for issue in self.label_issues if issue.path not in apart]

    def settled_apart(self) -> list[LabelIssue]:
        """The label issues whose label a person settled in an earlier plan (``settled``)."""
        settled = set(self.settled)
        return [issue for issue in self.label_issues if issue.path in settled]

    def merge_flags(self) -> list[LabelIssue]:
        """The label issues a likely merge explains (``merges``): a photo of the class to merge
        flagged as the class to merge it into, but those a person settled and those of none of
        the classes."""
        pairs = {(merge.class_name, merge.into) for merge in self.merges}
        apart = set(self.settled) | set(self.no_class)
        return [
            issue
            for issue in self.label_issues
            if (issue.given, issue.suggested) in pairs and issue.path not in apart
        ]

    def no_class_apart(self) -> list[LabelIssue]:
        """The label issues of none of the classes (``no_class``) but those a person settled in
        an earlier plan, which are said as settled."""
        apart = set(self.no_class) - set(self.settled)
        return [issue for issue in self.label_issues if issue.path in apart]

    def too_few_apart(self) -> list[LabelIssue]:
        """The label issues in classes of too few photos to judge (``too_few``) but those a
        person settled in an earlier plan, which are said as settled: each flag is counted once,
        in the terminal's summary as in ``audit.html`` and ``--json``."""
        merged = {issue.path for issue in self.merge_flags()}
        apart = set(self.too_few) - set(self.settled) - set(self.no_class) - merged
        return [issue for issue in self.label_issues if issue.path in apart]

    def __repr__(self) -> str:
        """One line (a notebook cell ending in an audit showed every row of every list),
        counting what the terminal's summary counts: the likely wrong labels and the outliers as
        pictures, a photo's copies once (their lists hold a row a file: 60 copies of one photo
        flagged together read ``n_label_issues=60``), the labels settled and those of too few
        photos apart where there are any, the groups by ``n_`` and their list's name."""
        once = len(one_per_picture(self.likely_wrong()))
        counts = [f"n_images={self.n_images}", f"n_classes={len(self.classes)}"]
        counts.append(f"likely_wrong_labels={once}")
        if settled := len(one_per_picture(self.settled_apart())):
            counts.append(f"settled_labels={settled}")
        if self.merges:
            counts.append(f"n_merges={len(self.merges)}")
        if nothing := len(one_per_picture(self.no_class_apart())):
            counts.append(f"of_no_class={nothing}")
        if few := len(one_per_picture(self.too_few_apart())):
            counts.append(f"too_few_to_judge={few}")
        counts += [f"n_{kind}={len(getattr(self, kind))}" for kind in GROUP_KINDS]
        counts.append(f"outlier_pictures={len(one_per_picture(self.outliers))}")
        where = [f"out={str(self.out)!r}"] if self.out is not None else []
        return f"AuditResult({', '.join(counts + where)})"

    def table(self, kind: str) -> pd.DataFrame:
        """The findings of ``kind`` (``label_issues``, ``near_duplicates``, ``look_alikes`` or
        ``outliers``, as the attributes) as a pandas DataFrame of the rows ``<kind>.csv`` holds
        (``audit.report.findings_table``): each image a ``file`` relative to ``data``, as
        ``plan.csv`` names it, a group's ``files`` joined by " | ", as there."""
        if kind not in FINDING_KINDS:
            raise ObjrecError(f"`kind` must be one of {', '.join(FINDING_KINDS)}, not {kind!r}")
        return findings_table(self, kind)


def find_issues(
    inv: Inventory, features: np.ndarray, ok: np.ndarray, facts, config: AuditConfig, reporter
) -> AuditResult:
    """Everything the audit reports, from features (readable rows) and per-image facts; each
    step that takes seconds shown to ``reporter`` as it runs."""
    clock = Stopwatch()
    idx = np.flatnonzero(ok & np.array([not f.error for f in facts]))
    labels = np.array([inv.items[i].label for i in idx], dtype=np.int64)
    unit = dedup.normalise(features[idx])
    with reporter.task("finding each image's nearest images and copies", None):
        around, pairs = nearest_and_copies(inv, idx, (unit, labels), facts, config, clock)
    near, group = around.near, np.asarray(around.group)
    found = judge_labels(inv, idx, labels, features[idx], near, config, reporter, group, around)
    clock.lap("labels")
    with reporter.task("grouping the copies and finding outliers", None):
        groups, alike = duplicate_groups(
            inv, idx, unit, facts, config.duplicates, near, found.issues, pairs
        )
        clock.lap("duplicates")
        outliers = outlier_rows(
            inv, idx, labels, unit, facts, config.neighbours, near, group, around
        )
        clock.lap("outliers")
    named = PictureNames.of(inv, idx, Pictures.of_groups(group, labels), groups)
    return AuditResult(
        label_issues=named.findings(found.issues),
        near_duplicates=groups,
        outliers=(outliers := named.findings(outliers)),
        look_alikes=alike,
        n_images=len(idx),
        unreadable=unreadable_rows(inv, idx, facts),
        classes=list(inv.classes),
        baseline_flags=found.baseline,
        seconds=clock.seconds,
        unjudged=found.unjudged,
        labels_not_judged=found.none_judged,
        far_classes=far_classes(outliers, labels, inv.classes, named.photos(labels)),
        photos_needed=[n for n in found.needs if n.class_name not in merged_classes(found.merges)],
        least_recognised=found.least,
        merges=found.merges,
        too_few=[issue.path for issue in found.issues if issue.too_few],
        no_class=[issue.path for issue in found.issues if issue.no_class],
        data=inv.root,
        picture_of=named.standing,
    )


def merged_classes(merges: Sequence[LikelyMerge]) -> set[str]:
    """The classes a likely merge would merge into another: photos_needed.csv said of ``cars``
    "confused with car_side: add photos that tell them apart", where nothing tells them apart."""
    return {merge.class_name for merge in merges}


def nearest_and_copies(
    inv: Inventory,
    idx: np.ndarray,
    rows: tuple[np.ndarray, np.ndarray],
    facts: Sequence[image_facts.ImageFacts],
    config: AuditConfig,
    clock: Stopwatch,
) -> tuple[Around, list[dedup.Pair]]:
    """The readable rows' (``idx``: their unit features and labels, ``rows``) nearest images and
    copy groups (``copy_groups``: near-duplicates and bursts), and what the labels and the
    outliers read of them, worked out here; and the pairs of near-duplicates and look-alikes."""
    unit, labels = rows
    near = dedup.feature_neighbours(unit, max(dedup.NEIGHBOURS, config.neighbours))
    clock.lap("neighbours")
    pairs = dedup.duplicate_pairs(unit, [facts[i] for i in idx], config.duplicates, near)
    digests = [inv.digests[i] for i in idx] if inv.digests else []
    pairs = split_copies(pairs, [inv.items[i].path for i in idx], digests)
    kept = open_cache(config.cache_dir).facts_file
    group = copy_groups(len(idx), pairs, burst_pairs(inv, idx, kept))
    clock.lap("pairs")
    around = Around(unit, near, labels, group, config.neighbours)
    _ = around.outside, around.within
    clock.lap("distances")
    return around, pairs


class Stopwatch:
    """Seconds per stage, each lap the time since the previous one."""

    def __init__(self) -> None:
        self._now = time.perf_counter
        self._start = self._last = self._now()
        self.seconds: dict[str, float] = {}

    @property
    def total(self) -> float:
        return self._now() - self._start

    def lap(self, name: str) -> None:
        """Add the time since the previous lap (or mark) to ``name``'s."""
        now = self._now()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def mark(self) -> None:
        """Start the next lap now (time measured elsewhere is not counted twice)."""
        self._last = self._now()


RERUN_HINT = (
    "it holds an earlier audit: pass `refresh=True` to write it again (a file you changed since, "
    "a reviewed plan.csv say, is refused and kept), choose another `out`, or pass `force=True` "
    "(an edited plan.csv is kept as plan.csv.bak)"
)
"""How a re-run into a folder of an earlier audit is told to go on: ``refresh`` first, as it
never loses an edit; ``force`` writes over objrec's outputs, keeping a reviewed plan aside."""


def rerun_hint(out: Path) -> str:
    """What to do about a non-empty ``out``: :data:`RERUN_HINT` where it holds an earlier audit
    of objrec's, else the usual choice of another folder or ``force``."""
    from objrec.outputs import HINT, holds_objrecs_outputs

    earlier = holds_objrecs_outputs(out) and (out / "audit.json").is_file()
    return RERUN_HINT if earlier else HINT


@takes_back_folders("out")
@on_ctrl_c("nothing was written: run it again")
@warned_once_per_file()
@stores_held()
def audit(
    data: PathGiven,
    out: PathGiven | None = None,
    config: AuditConfig | None = None,
    run: PathGiven | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    refresh: bool = False,
    on_wait: Callable[[], None] | None = None,
) -> AuditResult:
    """Audit ``data`` (a class folder or a split folder, only read); write the findings to ``out``
    (new or empty unless ``refresh``: over its unchanged outputs, refusing a file changed since
    (``outputs.users_file``), or ``force``: over objrec's outputs, an edited plan.csv kept as
    plan.csv.bak). A re-run into an earlier audit's folder wants ``refresh=True``.
    With ``run`` the run's own body and preprocessing make the features (its cache reused).
    ``out=None`` writes nothing. ``data`` is read under a shared lock (``locks.locked``), as
    ``apply_plan`` reads it and ``train`` lists a split: an ``add`` writing there is waited for
    (``on_wait()`` called first), and none starts until the audit is written (its page shows
    thumbnails of ``data``'s files), so the files it lists are the files it reads.
    """
    from objrec.locks import locked

    config, reporter = config or AuditConfig(), or_silent(reporter)  # None: nothing shown
    data, out, run = Path(data), as_path(out), as_path(run)
    if not data.is_dir():
        raise ObjrecError(f"{data} is not a folder")
    with locked(data, on_wait, shared=True), using_cache_dir(config.cache_dir):
        return _audit(data, out, config, run, reporter, force=force, refresh=refresh)


def _audit(
    data: Path,
    out: Path | None,
    config: AuditConfig,
    run: Path | None,
    reporter: Reporter,
    *,
    force: bool,
    refresh: bool,
) -> AuditResult:
    """:func:`audit`, ``data`` locked."""
    clock = Stopwatch()
    inv = inventory(data)
    warn_moved_by_hand(data)
    if out is not None:
        from objrec.outputs import AUDIT_FILES, HINT, prepare_output_dir, refuse_inside

        refuse_inside(out, data)
        hint = rerun_hint(Path(out)) if not (force or refresh) else HINT
        prepare_output_dir(Path(out), force, hint, AUDIT_FILES, refresh)
    measured: dict[str, image_facts.ImageFacts] = {}
    features, ok, errors = audit_features(inv, config, run, reporter, measured)
    for message in errors:
        log.warning("skipped %s", message)
    clock.lap("features")
    with reporter.task("hashing images", len(inv.items)) as advance:
        facts = inventory_facts(inv, config, lambda: advance(1), measured, errors)
    clock.lap("hashing")
    result = find_issues(inv, features, ok, facts, config, reporter)
    clock.seconds |= result.seconds
    result.settled = settled_paths(inv, result.label_issues)
    clock.mark()
    if out is not None:
        with writing_outputs(Path(out)):
            write_audit(result, inv, Path(out), reporter, force)
        result.out = Path(out)
        clock.lap("report")
    result.seconds = clock.seconds | {"total": clock.total}
    log_findings(data, result)
    return result


def warn_moved_by_hand(data: Path) -> None:
    """Say the images of the split folder ``data`` moved by hand between class folders since the
    split (``check.moved_images``: manifest.csv lists their bytes under another class): the
    audit judges each as its folder's class, and only ``check`` said so. A newcomer planted a
    mistake so and the audit, where one looks for label problems, was silent (newcomer62, 5)."""
    from objrec.check import moved_images
    from objrec.data import is_split_folder

    moved = moved_images(data) if is_split_folder(data) else []
    if not moved:
        return
    one = len(moved) == 1
    named = some_of([f"{path} ({quoted(was)} in manifest.csv)" for path, was in moved], quote=False)
    log.warning(
        "%s of %s %s in another class folder than its manifest.csv lists %s under (moved by "
        "hand?): %s; the audit judged %s as %s folder's class: if the move was a mistake, "
        "relabel %s back in the plan (`apply_plan`), else make the same move in the photo "
        "folder too",
        *(plural(len(moved), "image"), data, "is" if one else "are", "it" if one else "them"),
        *(named, "it" if one else "each", "its", "it" if one else "them"),
    )


def log_findings(data: Path, result: AuditResult) -> None:
    """How many of each kind the audit of ``data`` found, each count in its right number, a
    picture's copies counted once."""
    issues = plural(len(one_per_picture(result.label_issues)), "label issue")
    log.info(
        "audited %s: %s, %s, %s, %s",
        *(data, "labels not judged" if result.labels_not_judged else issues),
        plural(len(result.near_duplicates), "duplicate group"),
        plural(len(result.look_alikes), "look-alike group"),
        plural(len(one_per_picture(result.outliers)), "outlier"),
    )

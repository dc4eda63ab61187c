"""The audit's outputs: its CSVs of findings, ``audit.json``, a page of thumbnails
(``audit.html``), ``photos_needed.csv`` and ``plan.csv``, written together (:func:`write_audit`).

The plan's rules, what it proposes for each flagged image and why, are ``audit.plan``'s; a
person edits the plan, then ``applying.apply_plan`` copies DATA with it applied into a new
folder. DATA itself is never changed.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, select_autoescape

from objrec.audit.findings import (
    DuplicateGroup,
    LabelIssue,
    Outlier,
    PhotosNeeded,
    one_per_picture,
)
from objrec.audit.plan import (
    ACTIONS,
    COPY_KIND,
    IDENTICAL,
    MERGE,
    MERGE_KIND,
    NO_CLASS,
    NO_CLASS_KIND,
    OTHER_LABEL,
    SETTLED,
    SETTLED_KIND,
    TWO_LABELS,
    TWO_LABELS_KIND,
    UNREADABLE_KIND,
    UNREADABLE_REMOVED,
    byte_copies,
    of_kind,
    plan_rows,
    proposal_of,
    sureness_counts,
    write_plan,
)
from objrec.data import SPLITS
from objrec.outputs import (
    AUDIT_FILES,
    NEVER_LINK,
    NEVER_OTHER,
    free_name,
    name_key,
    staged_outputs,
    users_file,
)
from objrec.progress import SILENT, Reporter
from objrec.tables import write_table
from objrec.thumbnails import thumbnail
from objrec.words import plural, quoted

if TYPE_CHECKING:
    from objrec.audit.inventory import Inventory
    from objrec.audit.outliers import FarClass
    from objrec.audit.recipe import AuditResult

log = logging.getLogger(__name__)


FINDING_KINDS = ("label_issues", "near_duplicates", "look_alikes", "outliers")
"""The kinds of findings: ``AuditResult``'s lists of them, each written to ``<kind>.csv``."""


MIN_JUDGED = 2
"""Readable images a class needs for its labels to be judged, near-duplicates of one another
counted once (``audit.copies.copy_groups``): a class's only image (or only burst) is never in a
head's training folds beside one of its own class and has no neighbour of its class, so it always
looked mislabelled. Here, beside :func:`unjudged_note`, which words it; ``audit`` imports it."""


def unjudged_note(classes: list[str]) -> str:
    """The sentence that says which classes' labels the audit could not judge, and why."""
    names = ", ".join(map(quoted, classes))
    return (
        f"labels not judged in {plural(len(classes), 'class', 'classes')} ({names}): fewer than "
        f"{MIN_JUDGED} readable images (near-duplicates counted once), so nothing of their own "
        "class to compare them with"
    )


def none_judged_note(classes: Sequence[str], judged: Sequence[str]) -> str:
    """The sentence that says why the audit judged no label at all: a label is judged against
    the photos of other classes, and the folder has one class, or fewer than two ``judged``
    (classes of ``MIN_JUDGED`` readable images or more)."""
    if len(classes) == 1:
        return (
            f"labels not judged: the folder holds one class ({quoted(classes[0])}), and a label "
            "is judged against the photos of other classes: audit it with them"
        )
    some = f"only {quoted(judged[0])} has" if judged else "no class has"
    return (
        "labels not judged: a label is judged against the photos of another class, and "
        f"{some} {MIN_JUDGED} readable images or more (near-duplicates counted once)"
    )


SPLIT_PAIRS = {
    ("train", "test"): "trained on and tested on",
    ("train", "valid"): "trained on and validated on",
    ("valid", "test"): "validated on and tested on, not trained on",
}
"""What is true of one picture in each pair of splits (a group in all three: train and test)."""


def leak_words(groups: Sequence[DuplicateGroup]) -> str:
    """How many of the ``groups`` (``audit.copies.group_rows``') lie in each pair of splits, each
    said as what is true of it: ``1 in train and test (trained on and tested on); 2 in valid and
    test (validated on and tested on, not trained on)``. A valid/test pair was called "trained on
    and tested on"; it leaks less (the checkpoint and the unknown threshold were chosen on a picture
    tested on), but is not trained on."""
    counts: dict[tuple[str, str], int] = dict.fromkeys(SPLIT_PAIRS, 0)
    for group in groups:
        present = [s for s in SPLITS if s in group.splits]
        if len(present) > 1:
            counts[("train", "test") if len(present) == 3 else (present[0], present[1])] += 1
    return "; ".join(
        f"{n} in {a} and {b} ({SPLIT_PAIRS[(a, b)]})" for (a, b), n in counts.items() if n
    )


def far_classes_note(found: dict[str, FarClass], outliers: Sequence[Outlier]) -> str:
    """The sentence that says how many of the ``outliers`` lie in classes of few photos that are
    far as a whole (``audit.outliers.far_classes``), naming them, and what that means for removing
    them; a picture's copies count once, in the classes' photos as in the outliers, as the
    outliers' heading counts them."""
    named = ", ".join(
        f"{quoted(name)} {far.outliers} of its {far.photos}" for name, far in found.items()
    )
    total = sum(far.outliers for far in found.values())
    pictures = plural(len(one_per_picture(outliers)), "outlier")
    return (
        f"{total} of the {pictures} are photos of classes of few images ({named}): a class of "
        "few photos lies far from the rest as a whole (each photo has few of its own class near "
        "it), so these may be ordinary photos of their class; look at them before removing any"
    )


GROUP_COLUMNS = (
    *("files", "splits", "classes", "similarity"),
    *("hash_distance", "crop_distance", "kind"),
)
TABLE_COLUMNS = {
    "label_issues.csv": (
        *("file", "given", "suggested", "score", "split"),
        *("prob_given", "prob_suggested", "evidence", "picture", "copies"),
    ),
    "near_duplicates.csv": GROUP_COLUMNS,
    "look_alikes.csv": GROUP_COLUMNS,
    "outliers.csv": ("file", "score", "reason", "class", "split", "picture", "copies"),
}
"""The columns of each CSV of findings, written as its header even when nothing was found
(``pd.read_csv`` of a file of one newline raises ``EmptyDataError``). Each image is a ``file``
relative to the audited folder, as ``plan.csv``'s and ``manifest.csv``'s, where ``audit.json``
and the findings' attributes have its ``path`` as given (``data/test/red/x.png``); the CSVs
said ``path`` and ``paths`` too before 6 December 2026. A label flag's and an outlier's
``picture`` (the file standing for its picture: ``audit.findings.picture_columns``, relative as
``file``) and ``copies`` (the rows of that picture in the file) were added last on 6 December
2026, so that a script reading the columns by place reads the others where they were."""
NEEDS_COLUMNS = (
    *("class", "photos", "images", "recognised", "of", "flagged", "confused_with"),
    *("confused_photos", "reason"),
)
"""``photos_needed.csv``'s columns (``audit.findings.PhotosNeeded.row``)."""
PAGE_LIMIT = 150
"""Findings of each kind shown with thumbnails on the page (the CSVs hold all of them)."""
THUMB = 150


def public(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the private (underscore) keys."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def write_audit(
    result: AuditResult, inv: Inventory, out: Path, reporter: Reporter = SILENT, force=False
):
    """label_issues.csv, near_duplicates.csv, look_alikes.csv, outliers.csv, audit.json,
    plan.csv, audit.html, photos_needed.csv: put in place together once all are written
    (``outputs.staged_outputs``), each refused first where it is the user's: a plan.csv the user
    saved during the audit is kept, refused, and nothing else replaced; an audit stopped while
    drawing its page leaves the earlier audit whole, never its plan beside the new findings."""
    with staged_outputs(out, AUDIT_FILES, force) as place:
        for kind in FINDING_KINDS:
            write_table(findings_table(result, kind), place(f"{kind}.csv"))
        write_table(needs_table(result), place("photos_needed.csv"))
        place("audit.json").write_text(json.dumps(result.to_json(), indent=2))
        plan = plan_rows(result, inv)
        write_plan(plan, place("plan.csv"))
        result.planned = planned_counts(plan) | sureness_counts(plan, result, inv)
        write_page(result, inv, place("audit.html"), reporter, plan)
        if force:
            keep_edited_plan(out)


PLANNED_KINDS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "two_labels": (TWO_LABELS_KIND, lambda reason: reason.startswith(TWO_LABELS)),
    "settled": (SETTLED_KIND, lambda reason: reason.startswith(SETTLED)),
    "no_class": (NO_CLASS_KIND, lambda reason: reason.startswith(NO_CLASS)),
    "merge": (MERGE_KIND, lambda reason: reason.startswith(MERGE)),
}
"""The plan's rows counted by their ``proposal`` (``AuditResult.planned``): each count's kind,
and the words that say it in the reason of a row without the column (an older plan)."""

COPY_CLAUSES: dict[str, Callable[[str], bool]] = {
    "identical": lambda reason: reason.startswith(IDENTICAL),
    "other_label": lambda reason: OTHER_LABEL in reason,
}
"""The copies counted apart (``AuditResult.planned``), each by the words of its reason: the
``proposal`` column says a row is a copy (``COPY_KIND``), not that it is the same bytes as the
one kept, nor that the one kept has another label."""


def planned_counts(plan: Sequence[dict[str, str]]) -> dict[str, int]:
    """How many of the plan's rows pre-fill each action, and how many are of each kind the
    terminal names (:data:`PLANNED_KINDS`, :data:`COPY_CLAUSES`, files that cannot be read
    removed), read from each row's ``proposal`` (``audit.plan.of_kind``): counted by the
    reasons' words alone, a reworded reason changed a count silently. A row without the column
    (an older plan) is counted by its reason, as before."""
    counts = {action: sum(row["action"] == action for row in plan) for action in ACTIONS}
    for name, (kind, words) in PLANNED_KINDS.items():
        counts[name] = sum(of_kind(row, {kind}, words) for row in plan)
    for name, words in COPY_CLAUSES.items():
        counts[name] = sum(
            of_kind(row, {COPY_KIND}, words) and words(row["reason"]) for row in plan
        )
    counts["unreadable"] = sum(
        of_kind(row, {UNREADABLE_KIND}, lambda reason: reason.endswith(UNREADABLE_REMOVED))
        and (proposal_of(row) is None or row["action"] == "remove")
        for row in plan
    )
    return counts


def keep_edited_plan(out: Path) -> Path | None:
    """Copy the plan.csv in ``out`` that is not as objrec recorded writing it (a person's review,
    ``outputs.users_file``) to plan.csv.bak (plan.csv-1.bak ... where taken), with a warning,
    before a forced audit writes its new plan over it: `force=True` replaces objrec's outputs
    and must not silently take a reviewed plan with them. The backup, or None when none was
    needed."""
    reason = users_file(out, "plan.csv")
    if reason is None or reason in (NEVER_LINK, NEVER_OTHER):
        return None  # objrec's own plan (or nothing there); a link is refused by staged_outputs
    backup = free_name(out / "plan.csv.bak", {name_key(p) for p in out.iterdir()})
    shutil.copy2(out / "plan.csv", backup)
    log.warning(
        "%s %s: kept as %s before the new plan replaced it (its edits are not in the new plan)",
        *(out / "plan.csv", reason, backup.name),
    )
    return backup


def findings_table(result: AuditResult, kind: str) -> pd.DataFrame:
    """The findings of ``kind`` (one of :data:`FINDING_KINDS`) as ``<kind>.csv`` holds them: its
    :data:`TABLE_COLUMNS`, each file relative to the audited folder (:func:`relative_rows`), a
    group's paths, splits and classes joined by " | " (:func:`duplicate_rows`), no private
    (underscore) key."""
    rows = relative_rows(finding_rows(getattr(result, kind)), result.data)
    rows = duplicate_rows(rows) if kind in ("near_duplicates", "look_alikes") else public(rows)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS[f"{kind}.csv"]))


def finding_rows(findings: Sequence[Any]) -> list[dict[str, Any]]:
    """``findings`` as rows of their columns: a :class:`LabelIssue`'s, a
    :class:`DuplicateGroup`'s or an :class:`Outlier`'s ``row()``, a row as it is."""
    return [
        f.row() if isinstance(f, LabelIssue | DuplicateGroup | Outlier) else f for f in findings
    ]


def needs_table(result: AuditResult) -> pd.DataFrame:
    """photos_needed.csv: its :data:`NEEDS_COLUMNS`, the images that look like the class each
    class is confused with (``confused_photos``) relative to the audited folder and joined by
    " | ", as a group's paths are."""
    rows = []
    for need in result.photos_needed:
        named = relative_rows([{"path": p} for p in need.confused_photos], result.data)
        rows.append(need.row() | {"confused_photos": " | ".join(r["file"] for r in named)})
    return pd.DataFrame(rows, columns=list(NEEDS_COLUMNS))


def relative_rows(rows: list[dict[str, Any]], data: Path | None) -> list[dict[str, Any]]:
    """``rows`` with their ``path`` and ``paths`` as the ``file`` and ``files`` relative to
    ``data`` (``test/red/x.png``), in their place, and their ``picture`` relative too, as
    plan.csv names its files: label_issues.csv said ``data/test/red/x.png``, and a path copied
    from it into a plan was refused as not in DATA. As they are where ``data`` is None."""

    def relative(path: str) -> str:
        if data is None or not Path(path).is_relative_to(data):
            return path
        return Path(path).relative_to(data).as_posix()

    def named(key: str, value: Any) -> tuple[str, Any]:
        if key == "path":
            return "file", relative(value)
        if key == "picture":
            return key, relative(value)
        return ("files", [relative(p) for p in value]) if key == "paths" else (key, value)

    return [dict(named(key, value) for key, value in row.items()) for row in rows]


def duplicate_rows(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """near_duplicates.csv's rows: a group's files, splits and classes joined by " | " (splits
    empty for a folder that is not split)."""
    return [
        {
            **g,
            "files": " | ".join(g["files"]),
            "splits": " | ".join(s or "" for s in g["splits"]) if any(g["splits"]) else "",
            "classes": " | ".join(g["classes"]),
        }
        for g in public(groups)
    ]


# ---------------------------------------------------------------- the page


class Tiles:
    """The page's tiles of ``inv``'s images, each image's thumbnail made once (a photo in two
    sections, a near-duplicate that is an outlier too, or a suggested class's image beside
    several flags, was decoded once a tile)."""

    def __init__(self, inv: Inventory) -> None:
        self.inv = inv
        self.made: dict[int, str | None] = {}
        """Each image's thumbnail (None: unreadable), by its index."""

    def __call__(self, index: int, caption: str) -> dict[str, Any]:
        """The tile of image ``index`` captioned ``caption``."""
        item = self.inv.items[index]
        if index not in self.made:
            self.made[index] = thumbnail(item.path, THUMB)
        return {"src": self.made[index], "caption": caption, "path": self.inv.rel(item)}


def page_sections(
    result: AuditResult,
    inv: Inventory,
    advance,
    actions: dict[str, str] | None = None,
    settled: dict[str, str] | None = None,
) -> dict[str, list]:
    """The page's findings with their thumbnails; ``actions``: the plan's action per file, which
    a near-duplicate group's byte-identical copies show beside their mark; ``settled``: the
    plan's words for each flagged file kept as a person settled it (:func:`settled_words`)."""
    issues, outliers, tile = [], [], Tiles(inv)
    merge_paths = {issue.path for issue in result.merge_flags()}
    for r in one_per_picture(result.label_issues)[:PAGE_LIMIT]:  # copies: one finding
        tiles = [tile(r.index, f"labelled {r.given}")]
        tiles += [tile(j, f"labelled {r.suggested}") for j in r.like]
        said = (settled or {}).get(inv.rel(inv.items[r.index]), "")
        nothing = not said and r.path in result.no_class
        merged = not said and not nothing and r.path in merge_paths
        few = not (said or nothing or merged) and r.path in result.too_few
        marks = {"settled": said, "no_class": nothing, "merged": merged, "too_few": few}
        issues.append({"row": r, "tiles": tiles, **marks})
        advance(1)
    groups = [_group(tile, g, advance, actions or {}) for g in result.near_duplicates[:PAGE_LIMIT]]
    alike = [_group(tile, g, advance) for g in result.look_alikes[:PAGE_LIMIT]]
    for o in one_per_picture(result.outliers)[:PAGE_LIMIT]:  # copies: one finding
        outliers.append({"row": o, "tiles": [tile(o.index, o.class_name)]})
        advance(1)
    needs = [_needed(tile, row, advance) for row in result.photos_needed]
    return {
        **{"issues": issues, "groups": groups, "alike": alike, "outliers": outliers},
        "needs": needs,
    }


def _needed(tile: Tiles, need: PhotosNeeded, advance) -> dict[str, Any]:
    """A class of photos_needed.csv with the tiles of its images that look like the class it is
    confused with: the terminal's "2 of its images look like it" alone names no photo."""
    like = f"looks like {need.confused_with}"
    tiles = [tile(i, like) for i in need.confused[:PAGE_LIMIT]]
    advance(1)
    return {"row": need, "tiles": tiles}


def settled_words(plan: Sequence[dict[str, str]]) -> dict[str, str]:
    """Each plan row kept as a person settled it (``SETTLED_REASON``), its file -> what the page
    says of it ("settled: a person kept it as schooner in an earlier plan (...)"): without it
    the page showed those flags as new ones, to look at again."""
    return {
        row["file"]: row["reason"].partition(";")[0]
        for row in plan
        if of_kind(row, {SETTLED_KIND}, PLANNED_KINDS["settled"][1])
    }


def _group(
    tile: Tiles, group: DuplicateGroup, advance, actions: dict[str, str] | None = None
) -> dict[str, Any]:
    """A group's tiles, each of a byte-identical copy marked (:func:`identical_marks`)."""
    tiles = [
        tile(i, f"{s + ' · ' if s else ''}{c}")
        for i, s, c in zip(group.indices, group.splits, group.classes, strict=True)
    ]
    for made, mark in zip(tiles, identical_marks(tile.inv, group, actions or {}), strict=True):
        made["identical"] = mark
    advance(1)
    return {"row": group, "tiles": tiles}


def identical_marks(inv: Inventory, group: DuplicateGroup, actions: dict[str, str]) -> list[str]:
    """For each image of a near-duplicate ``group``, "" or, when it has the same bytes as one
    before it, a mark saying so, and what the plan does with it ("same bytes as red_01.png, one
    file twice; plan.csv: remove"): the page showed such a copy as any near-duplicate, while the
    plan removed it. None marked where the digests are unknown (``inv.digests`` empty)."""
    copies, marks = byte_copies(group, inv), []
    for index in group.indices:
        if (original := copies.get(index)) is None:
            marks.append("")
            continue
        action = actions.get(inv.rel(inv.items[index]))
        mark = f"same bytes as {inv.rel(inv.items[original])}, one file twice"
        marks.append(mark + (f"; plan.csv: {action}" if action else ""))
    return marks


def flag_counts(result: AuditResult) -> dict[str, int]:
    """How many pictures the page says are likely wrong labels (``issues``), settled by a
    person (``settled``), of none of the classes (``no_class``) and in classes of too few photos
    (``too_few``): a picture's copies, flagged together, count once, as its one tile and the
    terminal's lists show them."""

    def pictures(flags: Sequence[LabelIssue]) -> int:
        return len(one_per_picture(flags))

    return {
        "issues": pictures(result.likely_wrong()),
        "settled": pictures(result.settled_apart()),
        "no_class": pictures(result.no_class_apart()),
        "merged": pictures(result.merge_flags()),
        "too_few": pictures(result.too_few_apart()),
    }


def write_page(
    result: AuditResult,
    inv: Inventory,
    path: Path,
    reporter: Reporter = SILENT,
    plan: Sequence[dict[str, str]] = (),
):
    """audit.html: the findings with their thumbnails; ``plan``'s rows (plan.csv) give the
    action a byte-identical copy's mark names."""
    flags = one_per_picture(result.label_issues)  # a picture's copies: one flag
    outliers = one_per_picture(result.outliers)  # and one outlier
    total = len(result.photos_needed) + sum(
        min(PAGE_LIMIT, len(x))
        for x in (flags, result.near_duplicates, result.look_alikes, outliers)
    )
    with reporter.task("thumbnails", total) as advance:
        actions = {row["file"]: row["action"] for row in plan}
        sections = page_sections(result, inv, advance, actions, settled_words(plan))
    env = Environment(autoescape=select_autoescape(default=True))
    env.filters["plural"] = plural  # "1 likely wrong label", never "1 ... labels"
    html = env.from_string(PAGE).render(
        root=str(inv.root),
        n=result.n_images,
        classes=len(result.classes),
        limit=PAGE_LIMIT,
        counts={
            **flag_counts(result),
            "groups": len(result.near_duplicates),
            "alike": len(result.look_alikes),
            "outliers": len(outliers),
            "unreadable": len(result.unreadable),
        },
        leaks=sum(g.kind == "across splits" for g in result.near_duplicates),
        leak_words=leak_words(result.near_duplicates),
        alike_across=sum(g.kind == "across splits" for g in result.look_alikes),
        unjudged=unjudged_note(result.unjudged) if result.unjudged else "",
        none_judged=result.labels_not_judged,
        none_needed=result.none_needed(),
        far=far_classes_note(result.far_classes, result.outliers) if result.far_classes else "",
        unreadable=result.unreadable,
        **sections,
    )
    path.write_text(html)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>objrec audit: {{ root }}</title>
<link rel="icon" href="data:,">
<style>
body { font-family: system-ui, sans-serif; margin: 1rem 2rem; color: #222; }
h2 { border-bottom: 2px solid #1f3b57; }
.finding { display: flex; gap: 1rem; align-items: flex-start; padding: .6rem 0;
  border-bottom: 1px solid #e3e3e3; }
.info { flex: none; width: 22rem; font-size: .85rem; overflow-wrap: anywhere; }
.tiles { display: flex; gap: .6rem; flex-wrap: wrap; min-width: 0; }
figure { margin: 0; width: 150px; font-size: .75rem; overflow-wrap: anywhere; }
.identical { color: #8a5a00; font-weight: 600; }
figure img { max-width: 150px; max-height: 150px; display: block; }
.leak { color: #b00020; font-weight: 600; }
.check { color: #8a5a00; font-weight: 600; }
.settled { color: #2a6a2a; }
.muted { color: #666; }
</style></head><body><main>
<h1>objrec audit</h1>
<p>{{ root }}: {{ n|plural("image") }}, {{ classes|plural("class", "classes") }}.
{% if none_judged %}labels not judged,{% else %}{{ counts.issues|plural("likely wrong label") }},
{% endif -%}
{% if counts.settled %}{{ counts.settled|plural("label") }} settled by your earlier plans (kept),
{% endif -%}
{% if counts.merged %}{{ counts.merged|plural("label flag") }} of classes that look like one
class in two folders (a likely merge: plan.csv leaves it to review),
{% endif -%}
{% if counts.no_class %}{{ counts.no_class|plural("photo") }} like none of the classes (to remove?),
{% endif -%}
{% if counts.too_few %}{{ counts.too_few|plural("label flag") }} in classes of too few photos to
judge (kept),
{% endif -%}
{{ counts.groups|plural("near-duplicate group") }}{% if leaks %}, <span class="leak">{{ leaks }}
of them across splits (possible leaks, images that look like copies of one picture:
{{ leak_words }}; look at them below)</span>{% endif %},
{{ counts.alike|plural("group") }} of look-alikes
{%- if alike_across %} ({{ alike_across }} across splits: to check, not leaks){% endif %},
{{ counts.outliers|plural("outlier") }}
{%- if counts.unreadable %}, and {{ counts.unreadable|plural("file") }} that cannot be read, left
out (<a href="#unreadable">below</a>){% endif %}. Nothing was changed;
<code>plan.csv</code> proposes actions to review, applied with <code>objrec apply-plan</code>
into a new folder. The first {{ limit }} of each kind are shown; the CSVs hold all of them.</p>
<h2 id="labels">Likely wrong labels</h2>
<p class="muted">The image, then images of the suggested class that look most like it.</p>
{% if none_judged %}<p class="check">{{ none_judged }}.</p>
{%- elif unjudged %}<p class="check">{{ unjudged }}.</p>{% endif %}
{% for f in issues %}<div class="finding"><div class="info"><b>{{ f.row.path }}</b><br>
labelled <b>{{ f.row.given }}</b>, suggested <b>{{ f.row.suggested }}</b>
(score {{ '%.3f' % f.row.score }})<br><span class="muted">{{ f.row.evidence }}</span>
{%- if f.settled %}<br><span class="settled">{{ f.settled }}: plan.csv keeps it</span>
{%- elif f.no_class %}<br><span class="check">far from every class's photos: like none of
the classes; plan.csv leaves it to review: remove it if it shows none of them</span>
{%- elif f.merged %}<br><span class="check">{{ f.row.given }} and {{ f.row.suggested }} look
like one class in two folders: plan.csv leaves every image of {{ f.row.given }} to review
(apply-plan told to merge {{ f.row.given }} merges them)</span>
{%- elif f.too_few %}<br><span class="settled">in a class of too few photos to judge:
plan.csv keeps it</span>{%- endif %}</div>
<div class="tiles">{% for t in f.tiles %}<figure>{% if t.src %}<img src="{{ t.src }}" alt="">
{% endif %}<figcaption>{{ t.caption }}<br><span class="muted">{{ t.path }}</span></figcaption>
</figure>{% endfor %}</div></div>{% else %}{% if not none_judged %}<p>None found.</p>{% endif %}
{%- endfor %}
<h2 id="duplicates">Near-duplicates</h2>
{% for f in groups %}<div class="finding"><div class="info">
<span class="{{ 'leak' if f.row.kind == 'across splits' else '' }}">{{ f.row.kind }}</span><br>
feature similarity {{ '%.3f' % f.row.similarity }},
hash distance {{ f.row.hash_distance|plural("bit") }},
crop hash distance {{ f.row.crop_distance|plural("bit") }}
</div><div class="tiles">{% for t in f.tiles %}<figure>{% if t.src %}
<img src="{{ t.src }}" alt="">{% endif %}<figcaption>{{ t.caption }}<br>
<span class="muted">{{ t.path }}</span>{% if t.identical %}<br>
<span class="identical">{{ t.identical }}</span>{% endif %}</figcaption></figure>{% endfor %}
</div></div>{% else %}<p>None found.</p>{% endfor %}
<h2 id="look-alikes">Look-alikes (to check)</h2>
<p class="muted">Alike by features and hash, but less than a copy is: one picture re-framed or
edited, another shot of the same thing, or different photos of one kind (two motorbikes of one
model on white). Only a look tells; across splits, the same picture would be a leak.</p>
{% for f in alike %}<div class="finding"><div class="info">
<span class="{{ 'check' if f.row.kind == 'across splits' else '' }}">{{ f.row.kind }}</span><br>
feature similarity {{ '%.3f' % f.row.similarity }},
hash distance {{ f.row.hash_distance|plural("bit") }}
</div><div class="tiles">{% for t in f.tiles %}<figure>{% if t.src %}
<img src="{{ t.src }}" alt="">{% endif %}<figcaption>{{ t.caption }}<br>
<span class="muted">{{ t.path }}</span></figcaption></figure>{% endfor %}</div></div>
{%- else %}<p>None found.</p>{% endfor %}
<h2 id="outliers">Outliers</h2>
{% if far %}<p class="check">{{ far }}.</p>{% endif %}
{% for f in outliers %}<div class="finding"><div class="info"><b>{{ f.row.path }}</b>
{%- if f.row.copies > 1 %} (and {{ (f.row.copies - 1)|plural("copy", "copies") }} of it)
{%- endif %}<br>
{{ f.row.reason }}</div><div class="tiles">{% for t in f.tiles %}<figure>{% if t.src %}
<img src="{{ t.src }}" alt="">{% endif %}<figcaption>{{ t.caption }}</figcaption></figure>
{% endfor %}</div></div>{% else %}<p>None found.</p>{% endfor %}
{% if unreadable %}<h2 id="unreadable">Files that cannot be read</h2>
<p class="muted">Left out, as <code>check</code>, <code>split</code> and <code>train</code> leave
them out; <code>plan.csv</code> removes them.</p>
<ul>{% for r in unreadable %}<li><b>{{ r.path }}</b>: {{ r.reason }}</li>{% endfor %}</ul>
{%- endif %}
<h2 id="photos-needed">Classes to add or retake photos of</h2>
<p class="muted">Most in need first, judged by heads that never saw each photo
(<code>photos_needed.csv</code>); under a class confused with another, its photos that look like
that class.</p>
{% for f in needs %}<div class="finding"><div class="info"><b>{{ f.row.class_name }}</b>:
{{ f.row.reason }}</div><div class="tiles">{% for t in f.tiles %}<figure>{% if t.src %}
<img src="{{ t.src }}" alt="">{% endif %}<figcaption>{{ t.caption }}<br>
<span class="muted">{{ t.path }}</span></figcaption></figure>{% endfor %}</div></div>
{%- else %}<p>{{ none_needed[:1]|upper }}{{ none_needed[1:] }}.</p>
{%- endfor %}
</main></body></html>
"""

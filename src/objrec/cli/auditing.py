"""``objrec audit``: a folder's likely wrong labels, near-duplicates and outliers, and the plan to
review, which ``objrec apply-plan`` applies (:mod:`objrec.cli.applying`); what it prints."""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from objrec.audit.findings import one_per_picture
from objrec.audit.settings import AuditConfig, audit_data_config
from objrec.cli.options import (
    EXISTING,
    FOLDER,
    Choice,
    cache_dir_option,
    force_option,
    given_options,
    json_option,
    option_help,
    out_option,
    refuse_cache_inside,
    refuse_unknown_backbone,
)
from objrec.cli.output import (
    RichReporter,
    console,
    logged_warnings,
    output_folder,
    print_json,
    printable,
    shown,
    waiting_line,
    with_warnings,
)
from objrec.cli.sections import Sectioned
from objrec.config import PRECISIONS
from objrec.words import joined, plural, some_of

AUDIT = AuditConfig()  # the CLI shows and uses the library's own defaults

if TYPE_CHECKING:
    from objrec.audit.findings import (
        DuplicateGroup,
        LabelIssue,
        Outlier,
        PhotosNeeded,
        Unreadable,
    )


AUDIT_SECTIONS = {
    "Options": ("run", "out", "refresh", "force", "as_json"),
    "Pretrained network": ("backbone",),
    "Label check": ("folds", "seed"),
    "Speed and precision": ("precision", "cache_dir"),
}
"""``audit --help``'s headings: what it reads and writes, then how. Under one heading, --backbone's
default (the three Lite bodies, 57 characters without a space) was cut mid-name at 80 columns,
its column narrowed by --precision [auto|fp32|int8]'s."""


def refuse_not_a_run(run: Path) -> None:
    """``--run`` that is no run folder nor an objrec model file, refused naming the option before
    the libraries load (it was said after them, naming no option, exit 1): a command-line value
    that cannot be right, exit 2, as predict says a RUN that is none at once."""
    from objrec.errors import ObjrecError, UsageRefused
    from objrec.model_file import is_checkpoint
    from objrec.run_files import require_checkpoint_file

    try:
        model = require_checkpoint_file(run)
    except ObjrecError as exc:
        raise UsageRefused(f"--run {run}: {exc}", values=exc.values) from None
    if not is_checkpoint(model):
        raise UsageRefused(
            f"--run {run} is not an objrec checkpoint (not a readable safetensors file): give a "
            "run folder written by `train`, or its model.safetensors"
        )


@click.command(
    cls=Sectioned,
    sections=AUDIT_SECTIONS,
    short_help="Find likely wrong labels, duplicates and outliers.",
    examples=(
        "objrec audit data              # findings and plan.csv in data-audit/",
        "objrec audit data --run run    # the run's networks and stored features",
        "objrec apply-plan data data-audit/plan.csv data-fixed  # the plan, reviewed",
    ),
)
@click.argument("data", type=FOLDER)
@click.option(
    "--run",
    type=EXISTING,
    metavar="RUN",
    help="Read the images as this run does. With the pretrained networks of this run and its "
    "settings (and its stored features), instead of --backbone.",
)
@click.option(
    "--backbone",
    metavar="NAME",
    default=AUDIT.backbone,
    show_default=True,
    help=option_help("backbone", cls=AuditConfig, options=("run",)),
)
@out_option(
    "the findings", "DATA-audit", "DATA-audit beside DATA", said=" (plan.csv, say)", sample=True
)
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    metavar="N",
    default=AUDIT.folds,
    show_default=True,
    help=option_help("folds", cls=AuditConfig),
)
@click.option(
    "--seed",
    type=int,
    metavar="N",
    default=AUDIT.seed,
    show_default=True,
    help=option_help("seed", cls=AuditConfig),
)
@click.option(
    "--precision",
    type=Choice(PRECISIONS),
    default=AUDIT.precision,
    show_default=True,
    help=option_help("precision", PRECISIONS, cls=AuditConfig, options=("run",)),
)
@cache_dir_option(
    "The audit reads and keeps the features and image facts there: give it the folder split and "
    "train were given. With --run, the run's own folder, unless given."
)
@click.option(
    "--refresh",
    is_flag=True,
    help="Write again over an earlier audit in --out. As a re-run into DATA-audit does: only "
    "over the files objrec recorded writing; one you changed since (plan.csv) is refused.",
)
@force_option("An edited plan.csv is kept as plan.csv.bak.")
@json_option("the findings")
def audit(
    data: Path, run, backbone, out, folds, seed, precision, cache_dir, refresh, force, as_json
) -> None:
    """Find likely wrong labels, near-duplicates (and leaks across splits) and outliers in DATA.
    \f
    DATA is a class folder or a split folder (all three splits are audited together). Wrong labels:
    each image is judged by a head that never learnt its label (--folds), and those whose label the
    heads find least likely come first (ranked by cleanlab). Near-duplicates: feature similarity and
    a perceptual hash (resized, re-encoded, cropped, mirrored, turned, letterboxed or recoloured
    copies); images only moderately alike by both are listed apart as look-alikes, to check (often
    different photos of one kind), as are copies `objrec split` keeps together by a crop hash alone
    whose features disagree (a drawing recoloured). Outliers: far from their class or from
    everything, tiny, blank or oddly shaped images. DATA is only read; --out receives
    label_issues.csv, near_duplicates.csv, look_alikes.csv, outliers.csv, audit.json, audit.html
    (thumbnails side by side), plan.csv, which `objrec apply-plan` applies into a new folder once
    you have reviewed it, and photos_needed.csv: the classes to add or retake photos of, and why.
    """
    if run is None:
        # a usage error, one line: before any progress
        refuse_unknown_backbone(backbone, data_config=audit_data_config)
    refuse_cache_inside(cache_dir, data, run=run)
    if run is not None:
        refuse_not_a_run(run)
    reporter = RichReporter()
    with reporter.loading():  # seconds (torch): not in silence
        from objrec.audit.recipe import audit as run_audit
    config = AuditConfig(
        backbone=backbone, folds=folds, seed=seed, precision=precision, cache_dir=cache_dir
    )
    out_dir, again = output_folder(out, data, "-audit", force)
    refresh = refresh or again
    with logged_warnings() as logged:
        if run is not None:
            warn_of_unused_body(run)
        result = run_audit(
            data, out_dir, config, run, reporter, force, refresh, on_wait=waiting_line(data)
        )
    if as_json:
        written: dict[str, object] = {"out": str(out_dir), "plan": str(out_dir / "plan.csv")}
        written["planned"] = dict(result.planned)  # how many rows of each action, less sure
        print_json(with_warnings(written | result.to_json(), logged + audit_notes(result)))
        return
    print_audit(result, data, out_dir)


def audit_notes(result) -> list[str]:
    """The sentences ``--json`` adds to its warnings: why no label was judged, or the classes
    whose labels were not, the classes of few images far as a whole (most of the outliers, say)."""
    from objrec.audit.report import far_classes_note

    notes = [note] if (note := not_judged_words(result)) else []
    if result.far_classes:
        notes.append(far_classes_note(result.far_classes, result.outliers))
    return notes


def print_audit(result, data: Path, out_dir: Path) -> None:
    """The audit's findings for the terminal: the counts and the seconds in all (each stage's,
    "features 1.2s, hashing 0.1s, neighbours 4.3s, ...", told a user nothing to act on: they are
    ``AuditResult.seconds``, which the benchmarks print), each list under its heading naming its
    file, the files written, and what plan.csv pre-fills (:func:`plan_words`)."""
    from objrec.audit.report import far_classes_note
    from objrec.outputs import AUDIT_FILES

    settled, few = one_per_picture(result.settled_apart()), one_per_picture(result.too_few_apart())
    nothing = one_per_picture(result.no_class_apart())
    console.print(
        f"audited {plural(result.n_images, 'image')}{left_out_words(result.unreadable)}: "
        f"{wrong_labels_words(result)}, "
        + (f"{plural(len(settled), 'label')} {SETTLED_WORDS}, " if settled else "")
        + (f"{merges_words(result.merges)}, " if result.merges else "")
        + (f"{plural(len(nothing), 'photo')} {NO_CLASS_WORDS}, " if nothing else "")
        + (f"{plural(len(few), 'flag')} {TOO_FEW_WORDS}, " if few else "")
        + f"{plural(len(result.near_duplicates), 'near-duplicate group')}, "
        f"{plural(len(result.look_alikes), 'group')} of look-alikes, "
        f"{plural(len(one_per_picture(result.outliers)), 'outlier')} in "
        f"{result.seconds['total']:.0f}s"
    )  # each stage's seconds: AuditResult.seconds, in Python
    print_duplicates(result.near_duplicates, data)
    print_look_alikes(result.look_alikes, data)
    if note := not_judged_words(result):
        console.print(note, markup=False, highlight=False)
    print_merges(result, data, out_dir)
    print_label_issues(result.likely_wrong(), data)
    print_settled(result, data)
    print_no_class(result, data)
    print_too_few(result, data)
    print_outliers(result.outliers, data)
    if result.far_classes:
        note = far_classes_note(result.far_classes, result.outliers)
        console.print(f"  {note}", markup=False, highlight=False)
    print_unreadable(result.unreadable, data)
    print_photos_needed(result.photos_needed, data, result.none_needed())
    files = sorted(AUDIT_FILES, key=lambda name: (name != "audit.html", name != "plan.csv"))
    console.print(f"written in {shown(out_dir)}: {', '.join(files)}", markup=False)
    console.print(plan_words(result, data, out_dir), markup=False, highlight=False)


def wrong_labels_words(result) -> str:
    """The summary's count of likely wrong labels, or "labels not judged" where the audit judged
    none (one class): "0 likely wrong labels" read as labels looked at and found right."""
    if result.labels_not_judged:
        return "labels not judged"
    return plural(len(one_per_picture(result.likely_wrong())), "likely wrong label")


def not_judged_words(result) -> str:
    """Why the audit judged no label (``AuditResult.labels_not_judged``), else which classes it
    could not judge (``audit.report.unjudged_note``), else ""."""
    from objrec.audit.report import unjudged_note

    if result.labels_not_judged:
        return str(result.labels_not_judged)
    return unjudged_note(result.unjudged) if result.unjudged else ""


def plan_words(result, data: Path, out_dir: Path) -> str:
    """The audit's last line: where to look, and what plan.csv pre-fills, every action counted
    (its removes were left unsaid, read as absent). Its relabels are said to be suggestions to
    check: a teacher's origami ant, rightly labelled, was pre-filled as a dragonfly, and a plan
    applied after a glance would have mislabelled it. The page is named once ("see
    audit.html; plan.csv pre-fills ...; look at each in audit.html" named it twice)."""
    plan, page = shown(out_dir / "plan.csv"), shown(out_dir / "audit.html")
    then = (
        f"then `objrec apply-plan {shown(data)} {plan} NEW_FOLDER` writes a corrected copy "
        f"({shown(data)} itself is never changed)"
    )
    if not result.planned:  # not counted (nothing written)
        return f"see {page}; review {plan}, {then}"
    rows = planned_rows(result.planned)
    if not rows:
        return f"see {page}; {plan} has no rows: the audit flagged no image"
    return f"{plan} pre-fills {', '.join(rows)}: look at each in {page}, {then}"


def planned_rows(planned: dict[str, int]) -> list[str]:
    """Each action plan.csv pre-fills, counted, with what its rows are: relabels suggestions to
    check, rows to review (:func:`review_words`), removes (:func:`removed_words`), keeps flagged
    images left as they are (how many as a plan applied before settled them)."""
    relabels, removes, keeps = (planned.get(a, 0) for a in ("relabel", "remove", "keep"))
    settled = planned.get("settled", 0)
    rows = []
    if relabels:
        rows.append(
            f"{plural(relabels, 'relabel')} (suggestions to check, not answers: the audit judges "
            "a photo by the photos it looks like, and an unusual picture of a class can look "
            "like another)"
        )
    if review := planned.get("review", 0):
        rows.append(f"{review} to review ({review_words(planned)})")
    if removes:
        rows.append(f"{plural(removes, 'remove')} ({removed_words(planned)})")
    if keeps:
        left = "a flagged image left as it is" if keeps == 1 else "flagged images left as they are"
        flags = ""
        if settled:
            label = "its label" if settled == 1 else "their labels"
            flags += f"; {settled} as a plan you applied before settled {label} (reviewed.csv)"
        rows.append(f"{plural(keeps, 'keep')} ({left}{flags})")
    return rows


def review_words(planned: dict[str, int]) -> str:
    """What plan.csv's review rows are: label flags it does not relabel unread, how many of them
    less sure (``audit.plan.LESS_SURE``), photos like none of the classes
    (``audit.plan.NO_CLASS_REASON``), copies of a picture under two labels, and what to do.
    The less sure are said here, before the plan is applied, since about 1 in 4 of their
    suggestions is wrong: a user learns it while a copy can still be left unwritten."""
    review, two = planned.get("review", 0), planned.get("two_labels", 0)
    nothing, merge = planned.get("no_class", 0), planned.get("merge", 0)
    said = []
    if flagged := review - two - nothing - merge:
        flags = "a label flag" if flagged == 1 else "label flags"
        sure = less_sure_words(planned.get("less_sure", 0), planned.get("unsure", 0))
        counted = f"{flagged} " if (two or nothing or merge) and flagged > 1 else ""
        said.append(f"{counted}{flags} it does not relabel unread{sure}")
    if nothing:
        said.append(f"{plural(nothing, 'photo')} like none of the classes, to remove if so")
    if merge:
        said.append(f"{plural(merge, 'image')} of a likely merge, which --merge relabels")
    if two:
        copies = "a copy" if two == 1 else f"{two} copies"
        said.append(f"{copies} of a picture under two labels, for you to choose between")
    them = "it" if review == 1 else "them"
    how = "relabel to new_class or keep" if not (two or nothing) else "relabel, keep or remove"
    return (
        f"{'; '.join(said)}: decide {them} in plan.csv, {how}; left as review, apply-plan keeps "
        "the image and remembers no label"
    )


def less_sure_words(less: int, unsure: int) -> str:
    """How many of the label flags to review suggest a class under ``RELABEL_SURE_PROB``, and
    how often such suggestions were wrong when measured: about 1 in 4 from ``RELABEL_MIN_PROB``
    (``less``), most below it (``unsure``); "" for none."""
    from objrec.audit.plan import RELABEL_MIN_PROB as low
    from objrec.audit.plan import RELABEL_SURE_PROB as high

    less_said = "where about 1 in 4 relabels was wrong when measured"
    unsure_said = "where most suggestions were wrong when measured"
    if less and unsure:
        return (
            f"; {less + unsure} less sure, p(suggested) under {high}: {less} from {low}, "
            f"{less_said}, {unsure} under {low}, {unsure_said}"
        )
    if less:
        return f"; {less} less sure, p(suggested) under {high}, {less_said}"
    return f"; {unsure} less sure, p(suggested) under {low}, {unsure_said}" if unsure else ""


def removed_words(planned: dict[str, int]) -> str:
    """What plan.csv's removes are: copies of a picture it keeps (how many of them
    byte-identical, how many labelled otherwise than the copy kept), and files no command can
    read: "5 removes (4 copies of a picture it keeps, 1 byte-identical; 1 file ...)" read as 6."""
    unreadable, identical = planned.get("unreadable", 0), planned.get("identical", 0)
    copied = planned.get("remove", 0) - unreadable
    said = [f"{plural(unreadable, 'file')} no command can read"] if unreadable else []
    if copied:
        same = "byte-identical " if identical == copied else ""
        counted = f"{copied} " if unreadable else ""  # "5 removes (copies ...)" says it
        copies = f"a {same}copy" if copied == 1 else f"{counted}{same}copies"
        some = f", {identical} of them byte-identical" if 0 < identical < copied else ""
        if other := planned.get("other_label", 0):
            which = "labelled" if copied == 1 else f"{other} labelled"
            some += f", {which} otherwise than the copy kept: check which label is right"
        said.insert(0, f"{copies} of a picture it keeps{some}")
    return "; ".join(said)


def print_photos_needed(
    rows: Sequence[PhotosNeeded], data: Path, none: str = "", limit: int = 5
) -> None:
    """The classes that most need more or better photos under their heading, naming
    photos_needed.csv: the first ``limit`` with their reasons and the photos that look like the
    class each is confused with (:func:`confused_line`, relative to ``data``), the rest
    counted; with none, ``none`` (``AuditResult.none_needed``: why, and the classes recognised
    least), where the terminal said nothing and the file held only its header."""
    if not rows:
        if none:
            said = f"Classes to add or retake photos of (photos_needed.csv): {none}"
            console.print(printable(said), markup=False, highlight=False)
        return
    console.print(
        f"{plural(len(rows), 'class', 'classes')} to add or retake photos of, most in need first "
        "(judged by heads that never saw each photo), all in photos_needed.csv:",
        highlight=False,
    )
    for row in rows[:limit]:
        console.print(printable(f"  {row.class_name}: {row.reason}"), markup=False)
        if row.confused_photos:
            console.print(printable(confused_line(row, data)), markup=False, highlight=False)
    if len(rows) > limit:
        console.print(f"  and {len(rows) - limit:,} more in photos_needed.csv")


def confused_line(row: PhotosNeeded, data: Path, named: int = 3) -> str:
    """The photos of a class of photos_needed.csv that look like the class it is confused with,
    the first ``named`` of them relative to ``data`` as every line of the audit names a file
    (``outputs.shown_name``), for the line under it: "confused with scorpion (2 of its images
    look like it ...)" alone names no photo, in any file or on the page."""
    from objrec.outputs import shown_name

    photos = [shown_name(path, [data]) for path in row.confused_photos]
    said = some_of(photos, named)
    where = " (all in photos_needed.csv and audit.html)" if len(photos) > named + 1 else ""
    return f"    those like {row.confused_with}: {said}{where}"


def print_outliers(rows: Sequence[Outlier], data: Path, limit: int = 3) -> None:
    """The outliers under their heading, naming outliers.csv (the audit counted them and said
    no more): how many, the first ``limit`` (blank or tiny ones first, then the farthest) with
    why, the rest counted. A picture's copies, far together, are one line with their count."""
    from objrec.outputs import shown_name

    if not rows:
        return
    once = one_per_picture(rows)
    console.print(
        f"{plural(len(once), 'outlier')} (unusual images: far from their class or from "
        "everything, tiny, blank or oddly shaped), all in outliers.csv:",
        highlight=False,
    )
    for row in once[:limit]:
        also = f" (and {plural(row.copies - 1, 'copy', 'copies')} of it)" if row.copies > 1 else ""
        line = f"  {shown_name(row.path, [data])}{also}: {row.reason}"
        console.print(printable(line), markup=False, highlight=False)
    if len(once) > limit:
        console.print(f"  and {len(once) - limit:,} more in outliers.csv")


def left_out_words(unreadable: Sequence[Unreadable]) -> str:
    """What the audit's first line adds after the images it audited: the files it left out as
    no command can read them (" (1 file that cannot be read left out)"), or ""."""
    if not unreadable:
        return ""
    return f" ({plural(len(unreadable), 'file')} that cannot be read left out)"


def print_unreadable(rows: Sequence[Unreadable], data: Path, limit: int = 3) -> None:
    """The files that cannot be read under their heading: not outliers (unusual images) but
    files no command reads, which ``check`` calls unusable and ``split`` and ``train`` leave
    out; the first ``limit`` with why, the rest counted."""
    from objrec.outputs import shown_name

    if not rows:
        return
    them = "it" if len(rows) == 1 else "them"
    console.print(
        f"{plural(len(rows), 'file')} that cannot be read, left out as check, split and train "
        f"leave {them} out ({unreadable_planned(rows)}):",
        markup=False,
        highlight=False,
    )
    for row in rows[:limit]:
        why = row.reason.removeprefix("unreadable: ")  # the heading says it
        line = f"  {shown_name(row.path, [data])}: {why}"
        console.print(printable(line), markup=False, highlight=False)
    if len(rows) > limit:
        console.print(f"  and {len(rows) - limit:,} more in plan.csv")


def unreadable_planned(rows: Sequence[Unreadable]) -> str:
    """What plan.csv does with the files that cannot be read: removes them, but keeps the HEIC
    or HEIF photos that only want pillow-heif (``images.decoder_missing``), said apart."""
    from objrec.images import decoder_missing

    heif = sum(decoder_missing(row.reason) is not None for row in rows)
    if not heif:
        return f"plan.csv removes {'it' if len(rows) == 1 else 'them'}"
    photos = "HEIC or HEIF photo" if heif == 1 else f"{heif} HEIC or HEIF photos"
    kept = (
        f"plan.csv keeps the {photos} that pillow-heif reads once installed (`pip install "
        "'objrec[heic]'`)"
    )
    if heif == len(rows):
        return kept
    return f"{kept} and removes the other {len(rows) - heif}"


def warn_of_unused_body(run: Path) -> None:
    """One warning naming --backbone and --precision when given beside --run: the audit uses the
    run's own body, in the run's own precision."""
    ignored = given_options(("backbone", "precision"))
    if ignored:
        logging.getLogger(__name__).warning(
            "%s %s ignored: the audit uses the body of --run %s, in the precision it trained with",
            joined(ignored),
            "are" if len(ignored) > 1 else "is",
            shown(run),
        )


def print_duplicates(groups: Sequence[DuplicateGroup], data: Path) -> None:
    """The near-duplicate groups under their heading: how many, how many span two splits (in
    red: possible leaks), where all of them are; then the first few (those across splits first)."""
    if not groups:
        return
    from objrec.audit.report import leak_words

    leaks = sum(g.kind == "across splits" for g in groups)
    spans = (
        f", [bold red]{leaks} spanning two splits[/] (possible leaks of one picture: "
        f"{escape(leak_words(groups))}; look at them in audit.html)"
        if leaks
        else ""
    )
    console.print(
        f"{plural(len(groups), 'near-duplicate group')} (copies of one picture: resized, "
        f"re-encoded, cropped){spans}, all in near_duplicates.csv:",
        highlight=False,
    )
    print_groups(groups, data, "near_duplicates.csv")


def print_look_alikes(groups: Sequence[DuplicateGroup], data: Path) -> None:
    """The groups of look-alikes under their heading, those that span two splits counted in
    yellow (to check: most are different photos of one kind) and listed first; then the first
    few. Only those were listed, and the summary counted a group within a class it never named."""
    if not groups:
        return
    across = [g for g in groups if g.kind == "across splits"]
    some = f"{plural(len(groups), 'group')} of look-alikes"
    span = f"{'spans' if len(across) == 1 else 'span'} two splits"
    counted = f"[yellow]{some} {span}[/]" if len(across) == len(groups) else some
    if across and len(across) < len(groups):
        counted += f", [yellow]{len(across)} {span}[/]"
    leak = ", a leak only if two are the same picture" if across else ""
    console.print(
        f"{counted} (usually different photos of one kind{leak}: check them in audit.html), "
        "all in look_alikes.csv:",
        highlight=False,
    )
    print_groups(across + [g for g in groups if g.kind != "across splits"], data, "look_alikes.csv")


def print_groups(groups: Sequence[DuplicateGroup], data: Path, file: str, limit: int = 2) -> None:
    """The first ``limit`` groups, one line each: their files relative to ``data``, kind and
    similarity; the rest counted (all are in ``file`` and audit.html)."""
    from objrec.outputs import shown_name

    for group in groups[:limit]:
        names = [shown_name(path, [data]) for path in group.paths]
        more = f" and {len(names) - 4} more" if len(names) > 4 else ""
        line = f"  {', '.join(names[:4])}{more}: {group.kind}, similarity {group.similarity:.3f}"
        console.print(printable(line), markup=False, highlight=False)
    if len(groups) > limit:
        console.print(f"  and {len(groups) - limit:,} more in {file}")


def print_label_issues(rows: Sequence[LabelIssue], data: Path, limit: int = 5) -> None:
    """The likely wrong labels under their heading: how many, the first ``limit`` (most likely
    first) with the class each looks like, the rest counted."""
    once = one_per_picture(rows)
    files = f"{len(rows):,} files with their copies; " if len(rows) > len(once) else ""
    heading = (
        f"{plural(len(once), 'likely wrong label')} ({files}most likely first), all in "
        "label_issues.csv:"
    )
    print_flags(rows, heading, data, limit, "label_issues.csv")


def print_flags(
    rows: Sequence[LabelIssue], heading: str, data: Path, limit: int, rest_in: str
) -> None:
    """Label flags under ``heading``: the first ``limit`` (:func:`flag_line`), the rest counted as
    in the file ``rest_in``; nothing when there are none. A picture's copies, flagged together,
    are one line (``audit.findings.one_per_picture``)."""
    if not rows:
        return
    console.print(heading, highlight=False)
    once = one_per_picture(rows)
    for row in once[:limit]:
        console.print(printable(flag_line(row, data)), markup=False, highlight=False)
    if len(once) > limit:
        console.print(f"  and {len(once) - limit:,} more in {rest_in}")


def flag_line(issue: LabelIssue, data: Path) -> str:
    """A label flag's line: its file relative to ``data``, its label and the class it looks like."""
    from objrec.outputs import shown_name

    name = shown_name(issue.path, [data])
    copies = issue.copies - 1
    also = f" (and {plural(copies, 'copy', 'copies')} of it, flagged with it)" if copies else ""
    if issue.no_class:
        return (
            f"  {name}{also}: labelled {issue.given}, far from every class's photos (distance "
            f"z={issue.nearest_z:.1f} from the nearest; {issue.suggested} likeliest, at "
            f"p={issue.prob_suggested:.2f})"
        )
    return f"  {name}{also}: labelled {issue.given}, looks like {issue.suggested}"


SETTLED_WORDS = "settled by your earlier plans (kept)"
"""How the audit's summary says the flags whose label a person settled in an earlier plan
(``reviewed.csv``): listed among the likely wrong labels, one read as the review ignored."""


def print_settled(result, data: Path, limit: int = 3) -> None:
    """The flags whose label a person settled, apart from the likely wrong labels: how many,
    the first ``limit``, the rest counted."""
    rows = result.settled_apart()
    once = len(one_per_picture(rows))
    heading = (
        f"{plural(once, 'label')} {SETTLED_WORDS}, flagged again (plan.csv keeps "
        f"{'it' if once == 1 else 'them'}; also in label_issues.csv):"
    )
    print_flags(rows, heading, data, limit, "plan.csv")


def merges_words(merges) -> str:
    """The summary's count of likely merges, each named: ``1 likely merge (cars into
    car_side)``."""
    named = ", ".join(f"{merge.class_name} into {merge.into}" for merge in merges)
    return f"{plural(len(merges), 'likely merge')} ({named})"


def print_merges(result, data: Path, out_dir: Path) -> None:
    """The pairs of classes that look like one class in two folders, each in words, and how to
    merge them: the plan leaves every image of the class to merge to review, and apply-plan's
    ``--merge CLASS`` relabels them (a person's choice, never the plan's default). Their label
    flags (18 of cars's 30 photos "may be car_side") are counted with the merge, not listed as
    likely wrong labels."""
    if not result.merges:
        return
    flags = len(one_per_picture(result.merge_flags()))
    console.print(
        f"{plural(len(result.merges), 'likely merge')}, classes that look like one class in two "
        f"folders ({plural(flags, 'label flag')} of theirs counted here, not as likely wrong "
        "labels; also in label_issues.csv):",
        highlight=False,
    )
    plan = shlex.quote(shown(out_dir / "plan.csv"))
    for merge in result.merges:
        console.print(f"  {merge.words()}", markup=False, highlight=False)
        console.print(
            f"    plan.csv leaves {merge.class_name}'s images to review; to merge them, "
            f"`objrec apply-plan {shlex.quote(shown(data))} {plan} NEW_FOLDER --merge "
            f"{shlex.quote(merge.class_name)}` relabels them all into {merge.into}",
            markup=False,
            highlight=False,
        )


NO_CLASS_WORDS = "like none of the classes"
"""How the audit's summary says the label flags of ``AuditResult.no_class``: photos far from
every class's photos, which came out as relabels into a class (an astronaut into helicopter)."""


def print_no_class(result, data: Path, limit: int = 3) -> None:
    """The label flags whose photos lie far from every class's photos, apart from the likely
    wrong labels (a screenshot in laptop/ read "labelled laptop, looks like helicopter"): how
    many, what to do, the first ``limit``, the rest counted."""
    rows = result.no_class_apart()
    once = len(one_per_picture(rows))
    heading = (
        f"{plural(once, 'photo')} {NO_CLASS_WORDS}, far from every class's photos (plan.csv "
        f"leaves {'it' if once == 1 else 'them'} to review: remove a photo that shows none of "
        "your classes, relabel one that shows one; also in label_issues.csv):"
    )
    print_flags(rows, heading, data, limit, "label_issues.csv")


TOO_FEW_WORDS = "in classes of too few photos to judge"
"""How the audit's summary says the label flags of ``AuditResult.too_few``."""


def print_too_few(result, data: Path, limit: int = 3) -> None:
    """The label flags in classes of too few photos to judge, apart from the likely wrong labels
    (18 right photos of a catalogue of 6-10 photos a product would be listed as likely wrong):
    how many, why, the first ``limit``, the rest counted."""
    from objrec.photos_needed import FEW_PHOTOS

    rows = result.too_few_apart()
    once = len(one_per_picture(rows))
    heading = (
        f"{plural(once, 'label flag')} {TOO_FEW_WORDS} (fewer than {FEW_PHOTOS} photos, and "
        f"no other class claims {'it' if once == 1 else 'them'}: a glance, not a relabel; "
        "add photos of these classes; also in label_issues.csv):"
    )
    print_flags(rows, heading, data, limit, "label_issues.csv")

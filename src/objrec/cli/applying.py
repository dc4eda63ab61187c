"""``objrec apply-plan``: a copy of a folder with the plan of ``objrec audit`` applied
(:mod:`objrec.cli.auditing`), or, with ``--remember``, its relabels remembered in that copy; what
it prints."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click

from objrec.cli.messages import to_cli
from objrec.cli.options import (
    COPY_OPTION,
    FILE,
    FOLDER,
    OUT_DIR,
    command_line,
    json_option,
    new_class_option,
)
from objrec.cli.output import (
    RichReporter,
    console,
    logged_warnings,
    print_json,
    shown,
    task_from_first_step,
    waiting_line,
    with_warnings,
)
from objrec.cli.sections import Sectioned
from objrec.words import plural, quoted, some_of

if TYPE_CHECKING:
    from objrec.applying.result import AppliedPlan


@click.command(
    "apply-plan", cls=Sectioned, short_help="Copy a folder with a reviewed audit plan applied."
)
@click.argument("data", type=FOLDER)
@click.argument("plan", type=FILE)
@click.argument("out", type=OUT_DIR)
@COPY_OPTION
@new_class_option("a relabel's new_class", "any file is copied")
@click.option(
    "--merge",
    metavar="CLASS",
    multiple=True,
    help="Merge CLASS as the audit's plan proposes. A likely merge (one class in two "
    "folders): its rows left to review are relabelled into their new_class. Again for another "
    "class.",
)
@click.option(
    "--accept",
    is_flag=True,
    help="Accept the audit's suggested classes as your decisions. Each row left review for a "
    'label flag (its reason begins "review: may be") whose suggested class has p 0.5 or more, '
    "in a class of enough photos to judge, is relabelled to its new_class, and every relabel, "
    "the audit's own too, is remembered in reviewed.csv, so the next audit keeps those labels; "
    "weaker flags, rows of a photo of no class, of one picture under two labels or of a likely "
    "merge (--merge) stay as they are, and the closing line counts them. The rows it accepts "
    "include the flags the audit is less sure of and those of validation and test images, which "
    "it left to review for that reason: read them in the plan first.",
)
@click.option(
    "--remember",
    is_flag=True,
    help="Remember the plan's relabels left as written, in the OUT it made. Nothing is copied: "
    "OUT is the copy apply-plan made with this plan already. For a plan you read and applied "
    "without --accept, agreeing with the relabels the audit wrote: each is remembered as your "
    "decision in OUT's reviewed.csv, so the next audit keeps those labels. Rows left to review "
    "stay undecided.",
)
@json_option("the counts")
def apply_plan(
    data: Path, plan: Path, out: Path, copy, new_class, merge, accept, remember, as_json
) -> None:
    """Copy DATA into OUT with a reviewed audit PLAN applied (remove, relabel); DATA is not changed.
    \f
    PLAN is the plan.csv of `objrec audit` (columns file, action, new_class), edited by you:
    keep copies the file, remove leaves it out, relabel copies it into the new_class folder
    (--link: links to DATA's files instead of copies, as split --link does); review, the
    audit's for a label flag it leaves to you, copies it as keep does but remembers no label.
    A row whose file is not the image the audit saw (its digest column: replaced since) is
    skipped, said. OUT must be new or empty; a split folder's copy gets its own manifest.csv,
    and a split.json: DATA's, with the plan applied (the file, its SHA-256, what it did), which
    objrec check OUT shows.

    OUT also gets reviewed.csv, the labels your plan changed or kept by a row about the label or
    of your own, not its rows left review or relabel as the audit wrote them, nor the audit's
    keeps of copies, look-alikes and outliers (and DATA's earlier ones): the next audit of OUT,
    or of a split of it, keeps those labels instead of suggesting them again. A relabel into a
    new class named like one of DATA's (sunflowr beside sunflower) is refused as a misspelling,
    but with --new-class. --merge CLASS carries out a merge the audit proposed (its rows of CLASS
    left to review as a likely merge become relabels); --accept, its suggested classes, as yours.
    """
    from objrec.applying.recipe import apply_plan as run_apply
    from objrec.applying.result import test_change_note, valid_change_note

    if remember:  # nothing to copy: none of the copy's options goes with it
        return remember_applied((data, plan, out), (copy, new_class, merge, accept), as_json)
    mode = "copy" if copy else "link"
    with (
        logged_warnings() as logged,
        task_from_first_step(RichReporter(), f"{mode}ing files") as on_file,
    ):
        counts = run_apply(
            *(data, plan, out, mode, command_line(), new_class),
            on_wait=waiting_line(data),
            on_file=on_file,
            merge=merge,
            accept=accept,
        )
    note = test_change_note(counts)
    note = note and to_cli(note, apply_plan, {"out": shown(out)})
    valid, source = valid_change_note(counts), source_words(data, out, counts)
    if as_json:
        notes = {"test_note": note, "valid_note": valid, "source_note": source}
        print_json(with_warnings({**counts.to_json(), **notes}, logged))
        return
    line = closing_lines(counts, (data, plan, out), copy, accept)
    reviewed = counts.reviewed and reviewed_line(out, counts.reviewed)
    print_said(line, note, valid, source, reviewed, after_plan(out))


def source_words(data: Path, out: Path, counts: AppliedPlan) -> str | None:
    """``applying.result.source_note`` in the CLI's words: its calls as the commands that make
    them, on OUT and the photo folder DATA was split from."""
    from objrec.applying.result import source_note
    from objrec.split.source import split_origin

    said = source_note(data, out, counts)
    if said is None:
        return None
    photos = split_origin(data) or Path("PHOTOS")
    values = {"out": shlex.quote(shown(out)), "photos": shlex.quote(shown(photos))}
    return to_cli(said, apply_plan, values)


def remember_applied(folders: tuple[Path, Path, Path], options: tuple, as_json: bool) -> None:
    """apply-plan --remember: the relabels of PLAN as the audit wrote them remembered in OUT,
    which apply-plan made from DATA with it (``folders``), as the person's decisions; refused
    beside an option of the copy (``options``: --copy/--link, --new-class, --merge, --accept),
    which it makes none of."""
    from objrec.applying.remember import remember_plan

    copy, *others = options
    if not copy or any(others):
        raise click.UsageError(
            "--remember copies nothing, so it takes none of --link, --new-class, --merge and "
            "--accept: give it alone, with the folders the plan was applied with"
        )
    data, plan, out = folders
    with logged_warnings() as logged:
        done = remember_plan(data, plan, out, on_wait=waiting_line(out))
    if as_json:
        print_json(with_warnings(done.to_json(), logged))
        return
    gone = f" ({done.not_found} no longer there, warned of)" if done.not_found else ""
    said = (
        f"{plural(done.remembered, 'relabel')} of {shown(plan)}, left as the audit wrote "
        f"{'it' if done.remembered == 1 else 'them'}, remembered as your decisions in "
        f"{shown(out)}{gone}; nothing was copied"
        if done.remembered or done.not_found
        else f"{shown(plan)} has no relabel as the audit wrote it: nothing to remember"
    )
    print_said(said, done.reviewed and reviewed_line(out, done.reviewed))


def print_said(*lines: str | int | None) -> None:
    """Each of ``lines`` that says something (not "", 0 or None), as it is: information, on
    stdout."""
    for said in lines:
        if said:
            console.print(said, markup=False, highlight=False)


def reviewed_line(out: Path, n: int) -> str:
    """Which labels OUT's reviewed.csv remembers, the first few named with their class: "the 2
    labels your plans kept or changed" left the user to guess which 2."""
    from objrec.reviewed import read_reviewed

    rows = sorted(read_reviewed(out).values(), key=lambda row: row[1])
    named = some_of([f"{quoted(file)} as {quoted(name)}" for name, file in rows], 3, quote=False)
    return (
        f"{shown(out / 'reviewed.csv')} remembers the {plural(n, 'label')} your plans kept or "
        f"changed ({named}): an audit of it keeps each instead of suggesting its relabel again"
    )


def closing_lines(
    counts: AppliedPlan, folders: tuple[Path, Path, Path], copy: bool, accepted: bool
) -> str:
    """What apply-plan did (:func:`applied_line`), then, in sentences of their own, its relabels
    applied as the audit pre-filled them and how to remember them (:func:`as_proposed_words`)."""
    said = applied_line(counts, folders, copy, accepted)
    proposed = as_proposed_words(counts.relabels_as_proposed, folders)
    return f"{said}\n{proposed}" if proposed else said


def applied_line(
    counts: AppliedPlan, folders: tuple[Path, Path, Path], copy: bool, accepted: bool = False
) -> str:
    """What apply-plan did, in one line: the images copied (or linked) into OUT, relabelled (and
    the relabels found done by hand), renamed, left out (by the plan, and DATA's links to a file
    not there); or, when the plan moved and left out none (``folders``: DATA, PLAN, OUT),
    that nothing was, because every row says keep (or review); and the rows left to review
    (:func:`left_to_review_words`; ``accepted``: applied with ``--accept``, which the rows left
    to review are none of). Of an audit's plan left as pre-filled, "remembers the 4 labels your
    plans settled" would read as a decision taken."""
    data, plan, out = folders
    verb = "copied" if copy else "linked"
    broken, replaced = counts.broken_links, counts.replaced
    skipped = f"; skipped {plural(replaced, 'row')} of files replaced since the audit (warned of)"
    skipped = skipped if replaced else ""
    by_hand = counts.moved_by_hand
    review = counts.left_to_review
    undecided = left_to_review_words(review, accepted, counts.not_accepted)
    if not any((counts.removed, counts.relabelled, by_hand, broken, replaced)):
        says = "says keep or review" if review else "says keep"
        return (
            f"every row of {shown(plan)} {says}, so nothing was moved or left out: "
            f"{verb} {plural(counts.copied, 'image')}{others_words(counts)} into {shown(out)} "
            f"as they are in {shown(data)}, which is unchanged{undecided}"
        )
    renamed = f", {counts.renamed} of them renamed" if counts.renamed else ""
    if by_hand:  # relabels the plan asks for that a person did first, reviews decided so
        where = "it is" if by_hand == 1 else "they are"
        done = f"{plural(by_hand, 'row')} done by hand already (the photo moved to its class)"
        renamed += f", {done}: copied where {where}"
    gone = (
        f" by the plan and {plural(broken, 'link')} to a file not there (warned of)"
        if broken
        else ""
    )
    return (
        f"{verb} {plural(counts.copied, 'image')}{others_words(counts)} into {shown(out)} "
        f"({counts.relabelled} relabelled{renamed}), left out {counts.removed}{gone}"
        f"{skipped}{undecided}; {shown(data)} is unchanged"
    )


def others_words(counts: AppliedPlan) -> str:
    """The files of DATA that are not images (a ``notes.txt``), copied along where they are:
    " and 1 other file (not an image)", or "". "copied 441 images" alone read as if a user's
    notes, gone from OUT, were never there."""
    n = counts.other_files
    if not n:
        return ""
    return f" and {plural(n, 'other file')} ({'not an image' if n == 1 else 'not images'})"


def left_to_review_words(n: int, accepted: bool = False, weak: int = 0) -> str:
    """The closing line's clause for the plan's ``n`` rows left as the audit's ``review``, or "":
    applied as keeps, but no decision, so reviewed.csv remembers none of their labels. After
    ``--accept`` (``accepted``) those left are rows it does not decide (a photo of no class, a
    picture under two labels, a likely merge, and the ``weak`` label flags it does not take:
    ``AppliedPlan.not_accepted``), so it is not offered again."""
    if not n:
        return ""
    them = ("it is", "it") if n == 1 else ("they are", "them")
    how = (
        "keep, relabel or remove"
        if accepted
        else "keep or relabel; or apply the plan again, into a new folder, with --accept to take "
        "the class the audit suggests for each label flag it would act on"
    )
    if weak:
        how += (
            f"; {weak} of them {'is a label flag' if weak == 1 else 'are label flags'} too weak "
            "to accept, the suggested class under p 0.5 or in a class of too few photos to judge"
        )
    return (
        f"; {plural(n, 'row')} left to review, copied as {them[0]} and no label remembered "
        f"(decide {them[1]} in the plan: {how})"
    )


def as_proposed_words(n: int, folders: tuple[Path, Path, Path]) -> str:
    """What to know of the plan's ``n`` relabels applied as the audit pre-filled them
    (``applying.decisions.as_proposed``), in short sentences of their own after the closing
    line, or "": what happened, what ``--remember`` does, the command (``folders``: DATA, PLAN,
    OUT). "remembers the 4 labels your plans kept or changed" would read an automatic relabel,
    applied unread, as a decision taken; a copy again with --accept was the only way offered,
    after a person had trained on OUT and added photos to it (newcomer60, 1); and one clause of
    four ideas read as if a relabel left as written had not been reviewed (newcomer63b)."""
    if not n:
        return ""
    one = n == 1
    command = " ".join(shlex.quote(shown(folder)) for folder in folders)
    photo, them = ("the photo", "it") if one else ("those photos", "them")
    return (
        f"{plural(n, 'relabel')} {'was' if one else 'were'} applied as the audit pre-filled "
        f"{them}. Nothing says you read {them}, so {'it is' if one else 'they are'} not "
        f"remembered as your decision: a later audit judges {photo} again. If you read and "
        f"agree with {them}, --remember remembers {them} in {shlex.quote(shown(folders[2]))}, "
        "copying nothing:\n"
        f"  objrec apply-plan {command} --remember"
    )


def after_plan(out: Path) -> str:
    """What to run after apply-plan: train on a split folder's copy (more photos added first,
    if any), or split a class folder's copy: plainly, and with --like for a person who split the
    folder before (objrec cannot tell: nothing in a photo folder records its splits), where it
    offered only --like OLD_DATA, to a person who had split nothing (session 61's review, L4)."""
    from objrec.data import is_split_folder

    folder = shlex.quote(shown(out))
    if not is_split_folder(out):
        return (
            f"next: `objrec split {folder} NEW_DATA`; if you split the folder the plan was "
            f"applied to before, `objrec split {folder} NEW_DATA --like OLD_SPLIT` keeps each "
            "photo in its split of OLD_SPLIT"
        )
    return (
        f"next: `objrec train {folder} --out NEW_RUN` (a relabelled or removed image costs no "
        f"frozen pass; `objrec add {folder} MORE_PHOTOS` first for more photos or a new class)"
    )

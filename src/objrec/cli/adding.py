"""``objrec add``: new photos into a split folder, as split would place them; what it prints."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from objrec.cli.data import BURST_OPTION, FILE_PASSES, RATIOS_METAVAR, SEED_OPTION, few_groups
from objrec.cli.messages import to_cli
from objrec.cli.options import (
    COPY_OPTION,
    EXISTING,
    FILE,
    FOLDER,
    cache_dir_option,
    command_line,
    from_options,
    json_option,
    new_class_option,
    refuse_cache_inside,
)
from objrec.cli.output import (
    RichReporter,
    console,
    logged_warnings,
    print_json,
    print_warnings,
    shown,
    task_from_first_step,
    waiting_line,
)
from objrec.cli.sections import Sectioned
from objrec.config import SplitConfig
from objrec.progress import passes_from_first_step
from objrec.words import listed, on_lines, plural, quoted, some_of


@click.command(
    cls=Sectioned,
    short_help="Add new photos to a split folder, as split would place them.",
    examples=(
        "objrec add data more_photos/             # class folders, new classes too",
        "objrec add data camera/ --class camera   # one class's photos",
        "objrec add data --labels inbox.csv       # predict --csv's table, reviewed",
    ),
)
@click.argument("data", type=FOLDER)
@click.argument("new", nargs=-1, type=EXISTING)
@click.option(
    "--labels",
    type=FILE,
    metavar="CSV",
    help="Add the photos a reviewed table labels. It is predict --csv's table, read in place of "
    "NEW: each row's photo (path) of its class (label, a column you add, else answer). Rows "
    "labelled or answered unknown, answered though barely familiar, or with no answer are left "
    "out (and counted): a class written in a row's label adds its photo.",
)
@click.option(
    "--class",
    "class_name",
    metavar="NAME",
    help="The class of every image of NEW. Every image of NEW is of class NAME (new or not): NEW "
    "is then a folder of images, or one or more image files.",
)
@new_class_option(
    "a --class, a class folder of NEW, a label", "anything is written (--dry-run too)"
)
@click.option(
    "--ratios",
    type=float,
    nargs=3,
    metavar=RATIOS_METAVAR,
    default=None,
    help="Fractions to place the new images toward. Train, validation and test; by default DATA's "
    "own (each split's share of its images), so a split DATA has no image in gets none, and the "
    "scores measure the new images too. --ratios 1 0 0 puts them all in train (but a "
    "near-duplicate of a valid or test image, which goes to its split).",
)
@SEED_OPTION
@COPY_OPTION
@BURST_OPTION
@click.option(
    "--dry-run", is_flag=True, help="Print where each image would go; write nothing in DATA."
)
@cache_dir_option(
    "add reads the digests of DATA's files from the feature store there: give the --cache-dir "
    "train was given, and no file it hashed is read again."
)
@json_option("the counts and files")
def add(data, new, copy, ratios, dry_run, cache_dir, as_json, **settings) -> None:
    """Add the images of NEW to DATA (a folder made by `objrec split`), as split would place them.

    NEW holds one sub-folder per class, as split's PHOTOS; with --class NAME, images of that class;
    with --labels CSV, none: the table names each photo and its class.
    \f
    An image already in DATA (the same bytes) is skipped; a near-duplicate of one goes to its
    split; the others are placed, seeded, so that each class comes as close as it can to the
    ratios. The files are copied (never moved) under names no file in DATA has (a name taken
    gets -1, said), DATA/manifest.csv gets their rows and DATA/split.json (if any) the add's
    options. A new class named like one of DATA's (sunflowr, sunflower) is refused as a
    misspelling, but with --new-class. `objrec train DATA --out RUN` (a new RUN, or the earlier
    one with --force; the same --cache-dir, if any) then computes only the new images.
    """
    refuse_bad_usage(new, ratios, settings)
    refuse_cache_inside(cache_dir, data, *new)
    settings |= {"ratios": ratios or None, "mode": "copy" if copy else "link"}
    result, logged = run_add(data, new, dry_run, cache_dir, settings)
    warnings = add_warnings(result)
    print_warnings(warnings)  # before the summary they qualify, as split's
    if as_json:
        print_json(add_json(result, logged + warnings))
    else:
        print_added(result, cache_dir)


def refuse_bad_usage(new, ratios, settings: dict[str, Any]) -> None:
    """--ratios that split would refuse, and --labels beside NEW or --class, as usage errors
    naming the option (exit status 2), before the images are read: they were failed runs; and no
    NEW without --labels."""
    from objrec.labels import refuse_labels_beside

    if not new and settings.get("labels") is None:
        raise click.UsageError(
            "no new images given: name a folder of class folders, or images, or give --labels, "
            "a table of photos and their classes"
        )

    if ratios:
        from_options(SplitConfig, ratios=ratios)
    from_options(refuse_labels_beside, settings.get("labels"), new, settings.get("class_name"))


def run_add(data, new, dry_run: bool, cache_dir, settings: dict[str, Any]) -> tuple[Any, list[str]]:
    """``add_images``'s result, with progress (hashing, then copying or linking) and a line
    while it waits for another add, and the warnings it logged."""
    from objrec.add.recipe import add_images

    reporter = RichReporter()
    verb = "copying" if settings["mode"] == "copy" else "linking"
    with (
        logged_warnings() as logged,
        passes_from_first_step(reporter, FILE_PASSES) as on_file,
        task_from_first_step(reporter, f"{verb} files") as on_write,
    ):
        result = add_images(
            data,
            new,
            dry_run=dry_run,
            on_file=on_file,
            on_write=on_write,
            on_wait=waiting_line(data, readers=True),
            cache_dir=cache_dir,
            command=command_line(),
            **settings,
        )
    return result, logged


def add_json(result, warnings: list[str]) -> dict[str, Any]:
    """``add``'s answer for scripts: what ``print_added`` shows, every file named."""
    return {
        "data": str(result.data),
        "dry_run": result.dry_run,
        "totals": result.totals(),
        "classes": {
            name: counts | {"copies": result.copies.get(name, 0)}
            for name, counts in result.counts.items()
        },
        "new_classes": result.new_classes,
        "ratios": [round(r, 4) for r in result.ratios],
        "own_ratios": result.own_ratios,
        "files": [{"source": a, "file": b} for a, b in result.files],
        "copies": [{"source": a, "copy_of": b} for a, b in result.copy_files],
        "stopped_add_files": [{"source": a, "file": b} for a, b in result.stopped_add_files],
        "identical_files": result.identical_files,
        "identical_groups": result.identical_groups,
        "near_duplicate_files": result.near_duplicate_files,
        "near_duplicates": [
            {"source": a, "split": b, "near_duplicate": c} for a, b, c in result.near_duplicates
        ],
        "bursts": result.bursts,
        "burst_files": result.burst_files,
        "burst_held_files": result.burst_held_files,
        "cross_class_duplicates": [list(pair) for pair in result.cross_class_duplicates],
        "spread_groups": [{"source": a, "in_data": b} for a, b in result.spread_groups],
        "near_apart": [{"source": a, "split": b, "in_data": c} for a, b, c in result.near_apart],
        "small_classes": result.small_classes,
        "two_group_classes": result.two_group_classes,
        "min_images": result.min_images,
        "unreadable_files": result.unreadable_files,
        "no_decoder_files": result.no_decoder_files,
        "empty_classes": result.empty_classes,
        "labels_left_out": result.labels_left_out,
        "renamed": [{"source": a, "file": b} for a, b in renamed_files(result)],
        "test_note": added_test_note(result),
        "warnings": warnings,
    }


def print_added(result, cache_dir: Path | None = None) -> None:
    """Per class, the images added to each split and those skipped as copies, and how to train
    on all of them; what to run next, with add's --cache-dir (a dry run: each file and where it
    would go)."""
    console.print(added_table(result))
    totals = ", ".join(f"{k} {v}" for k, v in result.totals().items())
    verb = "would add" if result.dry_run else "added"
    added = plural(sum(result.totals().values()), "image")
    none = none_to_words(result)
    whole = [shown(result.data), "--ratios 1 0 0"]  # on lines of 100 columns: one was 306
    said = f"{verb} {added} to {shown(result.data)}: {totals}{none}"
    console.print(on_lines(said, whole), markup=False)
    if any(result.totals().values()):  # an add of copies only placed nothing
        console.print(on_lines(placement_note(result), whole), highlight=False)
    if note := added_test_note(result):
        console.print(on_lines(note), markup=False, highlight=False)
    for line in added_notes(result):
        console.print(line, markup=False, highlight=False)
    if result.dry_run:
        near = {new: there for new, _, there in result.near_duplicates}
        for source, target in result.files:
            like = f" (like {near[source]}, already there)" if source in near else ""
            console.print(f"{source} -> {target}{like}", markup=False, highlight=False)
        console.print("nothing written (--dry-run)", highlight=False)
    elif result.files:
        console.print(train_again(result.data, cache_dir), markup=False)


def added_table(result) -> Table:
    """Per class, the images added to each split, and those skipped as copies where any were: a
    column of zeros on every add of new photos said nothing."""
    copies = any(result.copies.values())
    table = Table("class", "train", "valid", "test", *(("copies skipped",) if copies else ()))
    for name, counts in sorted(result.counts.items()):
        label = Text(name + (" (new)" if name in result.new_classes else ""))
        skipped = (str(result.copies.get(name, 0)),) if copies else ()
        table.add_row(label, *map(str, counts.values()), *skipped)
    return table


def added_notes(result) -> list[str]:
    """The lines under add's table: new images with the same bytes kept together, images placed
    with a near-duplicate or their burst, rows of a labels table left out, images renamed,
    copies skipped."""
    lines = [identical_line(result)] if result.identical_files else []
    if result.near_duplicate_files:
        lines.append(near_line(result))
    if result.burst_files:
        lines.append(added_bursts_line(result))
    found = (left_out_line(result), renamed_line(result), skipped_line(result))
    return lines + [line for line in (*found, stopped_add_line(result)) if line]


def stopped_add_line(result) -> str | None:
    """The new images a killed add had written into DATA (listed by this add first): neither
    added now nor copies of DATA's photos, where the table called them copies of themselves."""
    if not result.stopped_add_files:
        return None
    named = [f"{quoted(a)} = {quoted(b)}" for a, b in result.stopped_add_files]
    return (
        f"{plural(len(named), 'image')} the stopped add had written already (in the manifest "
        f"now): {some_of(named, quote=False)}"
    )


def identical_line(result) -> str:
    """The new images with the bytes of another new image of their class, added with it to one
    split, said as ``split`` says its identical files (``cli.data.duplicates_line``): the first
    few groups, the original first; ``--json`` lists them all."""
    whose = "its" if result.identical_files == 1 else "their"
    kept = "would be kept" if result.dry_run else "kept"
    return (
        f"{plural(result.identical_files, 'duplicate file')} {kept} together in one split with a "
        f"new file of {whose} class ({result.identical_files:,} identical: the picture counts "
        f"more than once), in {plural(len(result.identical_groups), 'group')}: "
        + few_groups(result.identical_groups)
    )


def near_line(result) -> str:
    """The images placed in the split of a near-duplicate already in DATA, each with its split
    and that near-duplicate, so that "1 image would go to the split of a near-duplicate already
    in the data folder" names both."""
    went = "would go" if result.dry_run else "went"
    pairs = [
        f"{quoted(new)} to {split} (like {quoted(there)})"
        for new, split, there in result.near_duplicates
    ]
    return (
        f"{plural(result.near_duplicate_files, 'image')} {went} to the split of a near-duplicate "
        f"already in the data folder: {some_of(pairs, quote=False)}"
    )


def skipped_line(result) -> str | None:
    """The images skipped (a dry run: would skip) as copies of DATA's, each with its copy; those
    of another class counted only: the warning of pictures in two classes, printed before this
    summary, names each (listed here too, the pair read twice, back to back)."""
    if not result.copy_files:
        return None
    crossed = {(new, there) for there, new in result.cross_class_duplicates}
    same = [pair for pair in result.copy_files if pair not in crossed]
    skipped = "would skip" if result.dry_run else "skipped"
    said = f"{skipped} {plural(len(result.copy_files), 'image')} already there (the same bytes)"
    if others := len(result.copy_files) - len(same):
        them = "it" if others == 1 else "them"
        said += f", {others} in another class (the warning above names {them})"
    if same:
        said += ": " + some_of([f"{quoted(a)} = {quoted(b)}" for a, b in same], quote=False)
    return said


def left_out_line(result) -> str | None:
    """The rows of a --labels table that gave no class, by reason, and how to add those no person
    labelled (a row labelled unknown was left out as its reviewer said)."""
    from objrec.labels import left_out_words

    left = result.labels_left_out
    if not (words := left_out_words(left)):
        return None
    said = f"left out {plural(sum(left.values()), 'row')} of the table ({words})"
    if sum(left.values()) == left.get("labelled_unknown", 0):
        return said
    return f"{said}: write a class in its label column to add one"


def renamed_files(result) -> list[tuple[str, str]]:
    """Each image added under another name than its own, or in a sub-folder of another name (a
    file of its name was there): its path in its class folder (``b``'s after split and class)
    is not the end of its name in NEW."""
    return [
        (a, b)
        for a, b in result.files
        if PurePath(a).parts[-(len(PurePath(b).parts) - 2) :] != PurePath(b).parts[2:]
    ]


def renamed_line(result) -> str | None:
    """The images given another name, a file of theirs being in the class folder already."""
    if not (renamed := renamed_files(result)):
        return None
    went = "would be" if result.dry_run else "was" if len(renamed) == 1 else "were"
    pairs = some_of([f"{quoted(a)} -> {quoted(b)}" for a, b in renamed], quote=False)
    return (
        f"{plural(len(renamed), 'image')} {went} renamed, a file of that name being there: " + pairs
    )


def added_bursts_line(result) -> str:
    """The new images placed with their bursts, those that joined a burst-mate already in DATA,
    the first few bursts (``--json`` has them all)."""
    went = "would go" if result.dry_run else "went"
    return (
        f"{plural(result.burst_files, 'new image')} {went} to one split with the rest of "
        f"{'its burst' if result.burst_files == 1 else 'their bursts'} (one camera's photos of a "
        f"class within --burst-seconds, by EXIF time; {result.burst_held_files} to the split of "
        f"a frame already in the data folder): {few_groups(result.bursts)}"
    )


def train_again(data: Path, cache_dir: Path | None) -> str:
    """What to run after an add: train on DATA, with the cache folder add was given (whose store
    holds the features of the images but the new ones)."""
    cache = f" --cache-dir {shlex.quote(shown(cache_dir))}" if cache_dir else ""
    return (
        f"now train again: `objrec train {shlex.quote(shown(data))} --out NEW_RUN{cache}` "
        "(or --out of the earlier run with --force): it computes only the new images' features"
    )


def placement_note(result) -> str:
    """Which ratios the new images were placed toward, whence they came and, for the data
    folder's own, why and how to put them all in train, in one note: it was two, the second
    saying again what the first had ("placed toward the data folder's own proportions ..." then
    "the new images of ... went partly to valid and test ..., as the data folder's own images
    are shared"). The own proportions as the counts they are (``placed toward the ratios
    0.5/0.24/0.25`` of 59/29/30 images sum to 0.99, which reads as a mistake), and the rule they
    place by (``add.place``): 2 photos a class going to valid and test, none to train, "toward
    train 152, valid 81, test 81", read as a contradiction where each class's valid and test,
    rounded from its new total, were short of one. Why some go to valid and test whenever some
    do, a new class's too (newcomer62, 4: the first add, of a new class, did not say it; the
    second did), but ``--ratios 1 0 0`` only for a class the data folder had, as a new class's
    images all in train would leave it unmeasured. Else ``--ratios``'s."""
    from objrec.add.result import shared_classes

    if not (result.own_ratios and result.data_images):
        return f"placed toward the ratios {ratios_text(result.ratios)} (train/valid/test, --ratios)"
    counts = result.data_images
    said = (
        f"placed toward the data folder's own proportions ({listed(counts, ',')} of its "
        f"{plural(sum(counts.values()), 'image')}): each class's new images go to the splits "
        "short of their share of its new total, rounded"
    )
    if not any(placed["valid"] or placed["test"] for placed in result.counts.values()):
        return said
    why = f"{said}, so that `objrec evaluate` measures each class on photos the model never "
    why += "trained on"
    return f"{why}; --ratios 1 0 0 puts them all in train" if shared_classes(result) else why


def none_to_words(result) -> str:
    """Why a split of a share above 0 got none of the images added, said in the line that counts
    them, where a 0 would otherwise read as photos lost: each class's train already held its
    share (the rule :func:`placement_note` states), and ``--ratios 1 0 0`` puts them all in
    train, unless that note says so. "" where each such split got some, or nothing was placed."""
    from objrec.add.result import shared_classes

    totals = result.totals()  # in train, valid, test order, as the ratios
    if not any(totals.values()):
        return ""
    skipped = [s for s, r in zip(totals, result.ratios, strict=True) if r and not totals[s]]
    if not skipped:
        return ""
    where = " or ".join(skipped)
    said_below = shared_classes(result) and result.data_images  # placement_note gives it
    hint = (
        "; --ratios 1 0 0 puts them all in train" if "train" in skipped and not said_below else ""
    )
    return f" (none to {where}: each class's {where} already held its share{hint})"


def ratios_text(ratios: Sequence[float]) -> str:
    """``0.7/0.15/0.15``: each ratio to 4 decimals at most, as ``add --json`` gives them."""
    return "/".join(f"{round(r, 4):g}" for r in ratios)


def added_test_note(result) -> str | None:
    """When images went into test (what the user asked for, so said as information, not as a
    warning): scores before and after are on different test sets, and how to compare two runs."""
    from objrec.add.result import test_note

    note = test_note(result)
    return to_cli(note, add, {"data": shown(result.data)}) if note else None


def add_warnings(result) -> list[str]:
    """What the user should know about an add, one sentence each (names as they are): the
    library's (``add.result.add_warnings``), naming add's options, objrec's commands and DATA."""
    from objrec.add.result import add_warnings as sentences

    values = {"data": shown(result.data)}
    return [to_cli(sentence, add, values) for sentence in sentences(result)]

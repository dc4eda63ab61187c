"""Commands on a folder of images: ``split`` writes one, ``check`` and ``explore`` read one and say
what they find (``add`` adds to one: :mod:`objrec.cli.adding`; ``audit``,
:mod:`objrec.cli.auditing`; ``apply-plan``, :mod:`objrec.cli.applying`).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from objrec.cli.messages import to_cli
from objrec.cli.options import (
    COPY_OPTION,
    FILE,
    FOLDER,
    OUT_DIR,
    FloatRange,
    cache_dir_option,
    command_line,
    force_option,
    from_options,
    given_options,
    json_option,
    option_help,
    out_option,
    refuse_cache_inside,
)
from objrec.cli.output import (
    WRAP_WIDTH,
    RichReporter,
    console,
    in_package,
    logged_warnings,
    output_folder,
    print_json,
    print_warnings,
    printable,
    refuse_given_out,
    shown,
    waiting_line,
    with_warnings,
)
from objrec.cli.sections import Sectioned
from objrec.config import SplitConfig
from objrec.outputs import EXPLORE_FILES
from objrec.progress import COMPARE_PASSES, passes_from_first_step
from objrec.words import groups_words, joined, on_lines, plural, quoted, some_of

if TYPE_CHECKING:
    from objrec.check import CheckResult, Problem
    from objrec.check_run import RunCheck

FILE_PASSES = ("hashing files", "reading images")
"""The two passes split and add make over the files, shown as a progress task each."""
CAMERA_TASK = "reading camera times"
"""Split's pass over the images' EXIF for bursts (each read once: the image facts store keeps
it), shown as a task as the others are: about 2.5 ms a photo, too long to pass unshown."""
LIKE_TASK = "hashing the earlier split"
"""``--like``'s pass over the earlier split's images (read only where the feature store's file
index has not seen them), shown as a task: a full read of a split is too long to pass unshown."""
RATIOS_METAVAR = "SHARE..."
"""``--ratios``' three values as ``--help`` names them (split's and add's): shares, as evaluate's
``--keep SHARE``, not ``FLOAT...``."""
RATIOS_OPTION = click.option(
    "--ratios",
    type=float,
    nargs=3,
    metavar=RATIOS_METAVAR,
    default=SplitConfig.ratios,
    show_default=True,
    help=option_help("ratios", cls=SplitConfig),
)
SEED_OPTION = click.option(
    "--seed",
    type=int,
    metavar="N",
    default=SplitConfig.seed,
    show_default=True,
    help=option_help("seed", cls=SplitConfig),
)
BURST_OPTION = click.option(
    "--burst-seconds",
    type=FloatRange(min=0, max_open=True, max=float("inf")),
    default=SplitConfig.burst_seconds,
    show_default=True,
    metavar="SECONDS",
    help=option_help("burst_seconds", cls=SplitConfig),
)
"""``split``'s and ``add``'s options of the same meaning."""


def class_names_option(flag: str):
    """A ``split`` option of class folder names (the SplitConfig field of its name), several of
    which follow one flag (``options.GREEDY_OPTIONS`` lists it)."""
    return click.option(
        flag,
        multiple=True,
        metavar="CLASS...",
        help=option_help(flag.removeprefix("--"), cls=SplitConfig)
        + f" Several may follow one {flag}, up to the next option: give PHOTOS and OUT before it.",
    )


SPLIT_SECTIONS = {
    "Options": ("ratios", "seed", "force", "dry_run", "as_json"),
    "Which classes": ("exclude", "classes"),
    "Photos kept together": ("near_duplicates", "groups", "burst_seconds", "like"),
    "Files": ("copy", "strict", "cache_dir"),
}
"""``split --help``'s headings: the split itself, then which classes and what stays together."""


@click.command(
    cls=Sectioned,
    sections=SPLIT_SECTIONS,
    short_help="Split a photo folder into train, valid and test, leak-free.",
    examples=(
        "objrec split PHOTOS data                          # 50/25/25",
        "objrec split PHOTOS data70 --ratios 0.7 0.15 0.15 # train on more photos",
        "objrec split PHOTOS data2 --like data             # each photo keeps its split",
    ),
)
@click.argument("src", type=FOLDER, metavar="PHOTOS")
@click.argument("out", type=OUT_DIR)
@RATIOS_OPTION
@SEED_OPTION
@class_names_option("--exclude")
@class_names_option("--classes")
@COPY_OPTION
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier split in OUT, or what a stopped one left there.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say how the split would fall, writing nothing in OUT. It prints the split's counts "
    "and warnings, reads every photo as the split does and refuses what the split would refuse; "
    "the cache folder keeps what it read, so the split after it reads no photo again.",
)
@click.option("--strict", is_flag=True, help=option_help("strict", cls=SplitConfig))
@click.option(
    "--near-duplicates/--exact-duplicates",
    "near_duplicates",
    default=True,
    show_default=True,
    help=option_help("near_duplicates", cls=SplitConfig),
)
@click.option(
    "--groups",
    type=FILE,
    metavar="FILE",
    help=option_help("groups", cls=SplitConfig),
)
@BURST_OPTION
@click.option(
    "--like",
    type=FOLDER,
    metavar="OLD_SPLIT",
    help=option_help("like", cls=SplitConfig)
    + " OUT may be OLD_SPLIT itself, with --force. To add photos to a split, `objrec add` "
    "leaves every other image where it is.",
)
@cache_dir_option(
    "split keeps the files' digests and image facts there: give train the same --cache-dir, and "
    "it reads none of the split's copies again."
)
@json_option("the counts")
def split(
    src: Path, out: Path, copy: bool, force: bool, as_json: bool, cache_dir: Path | None, **settings
) -> None:
    """Split PHOTOS (one sub-folder per class) into OUT/train, OUT/valid, OUT/test.

    Stratified per class and seeded; byte-identical files and near-duplicates (resized,
    re-encoded, cropped, mirrored, turned, letterboxed or recoloured copies, by perceptual hash)
    always land in the same split, and so do bursts (photos of one class one camera took within
    --burst-seconds of each other, by their EXIF time).
    \f
    PHOTOS is only read. OUT also receives manifest.csv (file,
    class, split, sha256, source, group: the number of what it was kept together with, which
    evaluate counts as one distinct photo) and split.json, how the split was made (PHOTOS, the
    options, objrec's version, this command line), which `objrec check OUT` shows.
    """
    from objrec.split.recipe import split_folder

    dry_run: bool = settings.pop("dry_run")  # split_folder's, not a SplitConfig field
    config = split_config(src, copy, cache_dir, settings)
    with (
        logged_warnings() as logged,
        passes_from_first_step(reporter := RichReporter(), FILE_PASSES) as on_file,
        passes_from_first_step(reporter, COMPARE_PASSES) as compared,
        passes_from_first_step(reporter, [CAMERA_TASK]) as on_camera,
        passes_from_first_step(reporter, [LIKE_TASK]) as on_like,
        passes_from_first_step(reporter, [f"{'copying' if copy else 'linking'} files"]) as on_write,
    ):
        result = split_folder(
            src,
            out,
            config,
            force=force,
            on_file=on_file,
            cache_dir=cache_dir,
            command=command_line(),
            on_compare=compared,
            on_camera=on_camera,
            on_like=on_like,
            on_write=on_write,
            on_wait=waiting_line(out, readers=True),
            dry_run=dry_run,
        )
    warnings = split_warnings(result, chosen_ratios=bool(given_options(["ratios"])))
    print_warnings(warnings)  # before the summary they qualify, as those logged as it worked
    if as_json:
        print_json(split_json(result, logged + warnings))
    else:
        like = settings["like"]
        print_split(result, settings["groups"], like and (src, like))


def split_config(src: Path, copy: bool, cache_dir: Path | None, settings) -> SplitConfig:
    """split's settings from its options, and what it refuses of them before reading a file, as
    usage errors (exit status 2): ratios that leave train or valid without an image, a cache
    folder that is PHOTOS or lies inside it (split only reads PHOTOS)."""
    from objrec.split.result import require_train_and_valid_shares

    config = from_options(SplitConfig, mode="copy" if copy else "link", **settings)
    from_options(require_train_and_valid_shares, config.ratios)
    refuse_cache_inside(cache_dir, src, what="source folder")
    return config


def print_split(result, groups: Path | None, like: tuple[Path, Path] | None = None) -> None:
    """The classes and images split placed, the groups kept together, the images kept in their
    split of ``--like``'s folder (``like``: PHOTOS and that folder), the duplicates and bursts,
    and whether most images had no EXIF time to find bursts by (not said with a ``groups`` file,
    which it would advise, nor with ``like``: a folder of scans heard it on every split, and the
    split it is like was told it when it was made)."""
    from objrec.split.result import untimed_sentence

    totals = result.totals()
    console.print(
        f"{'would split' if result.dry_run else 'split'} {plural(len(result.counts), 'class')} "
        f"into {shown(result.out)}: " + ", ".join(f"{k} {v:,}" for k, v in totals.items()),
        markup=False,
    )
    if groups is not None:
        console.print(
            f"kept {plural(result.file_groups, 'group')} from {groups.name} together", markup=False
        )
    if like is not None:
        console.print(like_line(result, *like), markup=False, highlight=False)
    for line in class_change_lines(result, like[1]) if like is not None else []:
        console.print(line, markup=False, highlight=False)
    if result.duplicate_files or result.cross_class_duplicates:
        console.print(duplicates_line(result), highlight=False)
    if result.bursts:
        console.print(bursts_line(result), markup=False, highlight=False)
    if result.reviewed:
        console.print(
            f"{shown(result.out / 'reviewed.csv')} carries the {plural(result.reviewed, 'label')} "
            "your plans settled: an audit of it keeps each",
            markup=False,
            highlight=False,
        )
    # said once per photo folder: its first split; one --like that split was told it then
    if like is None and (untimed := untimed_sentence(result, grouped=groups is not None)):
        console.print(on_lines(to_cli(untimed, split)), markup=False, highlight=False)
    if result.dry_run:
        console.print(f"nothing written in {shown(result.out)} (--dry-run)", markup=False)


def like_line(result, src: Path, like: Path) -> str:
    """How many images kept their split of ``like``, how many were placed, and how many it has
    that the source folder ``src`` no longer has, that clause only when there are any (never
    "no longer has 0 of its images"); the images moved to be with their group, named."""
    placed = sum(result.totals().values()) - result.kept_files - len(result.moved)
    kept = (
        f"kept {plural(result.kept_files, 'image')} in the split {shown(like)} had them in"
        if result.kept_files
        else f"none of the images is in {shown(like)}"
    )
    new = f"placed {plural(placed, 'new image')} toward the ratios" if placed else "none is new"
    gone = result.gone_files
    gone_words = (
        f"; {plural(gone, 'image')} of {shown(like)} {'is' if gone == 1 else 'are'} no longer in "
        f"{shown(src)}{gone_classes_words(result)}"
        if gone
        else ""
    )
    return f"{kept} (by content); {new}{gone_words}{moved_words(result.moved, like)}"


def moved_words(moved: Sequence[tuple[str, str, str]], like: Path) -> str:
    """The images ``split --like`` moved out of the split ``like`` had them in, to be with their
    group (an older objrec grouped fewer near-duplicates): counted among the kept, they changed
    the test split unsaid."""
    if not moved:
        return ""
    one = len(moved) == 1
    return (
        f"; moved {plural(len(moved), 'image')} to another split than {shown(like)} had "
        f"{'it' if one else 'them'} in, to keep {'it' if one else 'each'} with the images "
        "grouped with it now (near-duplicates, a burst): "
        + some_of([f"{printable(name)} ({was} -> {now})" for name, was, now in moved])
    )


def gone_classes_words(result) -> str:
    """``: lamp, a class no longer there (26), kangaroo (2)``: the classes of ``split --like``'s
    gone images (``gone_classes``), a class the source folder no longer has said so, so that
    "26 images ... are no longer in photos2" names lamp, the class deleted."""
    if not getattr(result, "gone_classes", None):
        return ""
    named = [
        f"{printable(name)}{'' if name in result.counts else ', a class no longer there'} ({n:,})"
        for name, n in result.gone_classes.items()
    ]
    return ": " + some_of(named, quote=False)


def class_change_lines(result, like: Path) -> list[str]:
    """What ``split --like`` found relabelled since ``like``, one line per class renamed (every
    image of a class now under a class all of whose images it holds) or merged into another (a
    class the source folder no longer has), then the other images whose class changed (labels
    fixed), named: a rename or a merge is one line, not its images listed one by one."""
    moves: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for file, was in result.relabelled:
        moves.setdefault((was, PurePosixPath(file).parts[0]), []).append((file, was))
    lines, rest = [], []
    for (was, now), files in moves.items():
        whole = was not in result.counts and len({n for w, n in moves if w == was}) == 1
        if whole and len(files) == sum(result.counts.get(now, {}).values()):
            lines.append(f"{was} renamed {now} since {shown(like)}: {plural(len(files), 'image')}")
        elif whole:
            lines.append(
                f"{was} merged into {now} since {shown(like)}: {plural(len(files), 'image')}"
            )
        else:
            rest += files
    return lines + ([relabelled_line(rest, like)] if rest else [])


def relabelled_line(relabelled: Sequence[tuple[str, str]], like: Path) -> str:
    """The images whose class changed since ``like`` (a label fixed by moving a photo), the first
    ``SHOWN_GROUPS`` named with their earlier class: nothing said the fix was seen."""
    named = [f"{printable(file)} (was {printable(was)})" for file, was in relabelled]
    more = len(named) - SHOWN_GROUPS
    rest = f" and {more:,} more (--json lists every one)" if more > 0 else ""
    changed = plural(len(named), "image")
    return f"{changed} changed class since {shown(like)}: {', '.join(named[:SHOWN_GROUPS])}{rest}"


SHOWN_GROUPS = 3
"""Groups (of duplicates, of a burst's frames) ``split`` names on the terminal: the others are
counted, and ``--json`` lists every one."""


def duplicates_line(result) -> str:
    """The files split kept together with another of their class, identical or alike (they add
    up; copies across classes are a warning of their own), how many groups, and the first few
    (markup escaped): ``--json`` lists them all. The pictures in two classes are counted after
    them: "0 identical" read as wrong beside check's 3 identical files, copies in another class
    that only a warning named. Each kind is counted where there are both, else named (a kind of
    none, "0 identical", and "in 1 group" of one file said nothing), and the groups counted
    where fewer than the files."""
    said = []
    if n := result.duplicate_files:
        whose = "its" if n == 1 else "their"
        groups = len(result.duplicate_groups)
        in_groups = f", in {plural(groups, 'group')}" if groups < n else ""
        said.append(
            f"{plural(n, 'duplicate file')} kept together in one split with a file of {whose} "
            f"class ({duplicate_kinds(n, result.identical_files)}){in_groups}: "
            + escape(few_groups(result.duplicate_groups))
        )
    if pairs := len(result.cross_class_duplicates):
        said.append(
            f"{plural(pairs, 'picture')} in two classes, identical or alike, each kept in one "
            "split with its copy (the warning names them)"
        )
    return "; and ".join(said)


def duplicate_kinds(files: int, identical: int) -> str:
    """``1 identical, 2 alike by perceptual hash``, or the one kind alone: ``identical``,
    ``alike by perceptual hash`` (a resized or re-encoded copy)."""
    alike = files - identical
    if not alike:
        return "identical"
    if not identical:
        return "alike by perceptual hash"
    return f"{identical:,} identical, {alike:,} alike by perceptual hash"


def bursts_line(result) -> str:
    """The bursts split kept together, how many photos, the first few; ``--json`` has them all."""
    return (
        f"kept {plural(len(result.bursts), 'burst')} in one split each ("
        f"{plural(result.burst_files, 'photo')} of one class that one camera took within "
        f"{result.burst_seconds:g} s of each other, by EXIF time): {few_groups(result.bursts)}"
    )


def few_groups(groups: Sequence[Sequence[str]], shown: int = SHOWN_GROUPS) -> str:
    """The first ``shown`` groups (``words.groups_words``) and where all of them are: a line of
    every group ran to 1,199 characters."""
    cut = len(groups) > shown or any(len(group) > 2 for group in groups[:shown])
    return groups_words(groups, shown) + ("; --json lists them all" if cut else "")


def split_json(result, warnings: list[str]) -> dict:
    """``split --json``'s keys (docs/json.md): the result and every warning the text gives."""
    return {
        "out": str(result.out),
        "dry_run": result.dry_run,
        "totals": result.totals(),
        "classes": result.counts,
        "small_classes": result.small_classes,
        "two_group_classes": result.two_group_classes,
        "min_images": result.min_images,
        "few_train_classes": result.few_train_classes,
        "few_judged_classes": result.few_judged_classes,
        "empty_classes": result.empty_classes,
        "merged_classes": result.merged_classes,
        "unreadable_files": result.unreadable_files,
        "too_large_files": result.too_large_files,
        "no_decoder_files": result.no_decoder_files,
        "duplicate_files": result.duplicate_files,
        "identical_files": result.identical_files,
        "near_duplicate_files": result.near_duplicate_files,
        "duplicate_groups": result.duplicate_groups,
        "bursts": result.bursts,
        "burst_files": result.burst_files,
        "timed_files": result.timed_files,
        "burst_seconds": result.burst_seconds,
        "untimed_files": result.untimed_files,
        "cameraless_files": result.cameraless_files,
        "cross_class_duplicates": [list(pair) for pair in result.cross_class_duplicates],
        "file_groups": result.file_groups,
        "kept_files": result.kept_files,
        "moved": [list(row) for row in result.moved],
        "gone_files": result.gone_files,
        "gone_classes": result.gone_classes,
        "relabelled": [list(pair) for pair in result.relabelled],
        "reviewed": result.reviewed,
        "ignored_files": result.ignored_files.to_json() if result.ignored_files else None,
        "warnings": warnings,
    }


def split_warnings(result, chosen_ratios: bool = False) -> list[str]:
    """What the user should know about a split, one sentence each (names as they are): the
    library's (``split.result.split_warnings``), naming split's options and objrec's commands;
    ``chosen_ratios``: ``--ratios`` was typed, even as the default (0.5 0.25 0.25), so the
    warning does not call typed ratios "the default ratios"."""
    from objrec.split.result import split_warnings as sentences

    return [to_cli(sentence, split) for sentence in sentences(result, chosen_ratios)]


@click.command(cls=Sectioned, short_help="Count the images per class and summarise their sizes.")
@click.argument("data", type=FOLDER)
@out_option("the CSVs and plots", "DATA-explore", "DATA-explore beside DATA", sample=True)
@force_option()
@json_option("the per-class counts")
def explore(data: Path, out: Path | None, force: bool, as_json: bool) -> None:
    """Count images per class (per split for a split folder) and summarise image sizes.

    Writes its CSVs and plots to DATA-explore, beside DATA wherever you run it from (--out for
    another folder).
    \f
    The sizes are read from the files' headers, without decoding the pixels: a truncated image
    with a whole header is counted, where check, which decodes each, calls it unusable.

    Writes counts.csv, size_stats.csv, sizes.csv, images_per_class.png and image_sizes.png.
    """
    out_dir, refresh = output_folder(out, data, "-explore", force)
    refuse_given_out(out, force, EXPLORE_FILES, data)
    reporter = RichReporter()
    with reporter.loading():  # seconds (pandas, matplotlib)
        from objrec.explore import explore as run_explore

    with logged_warnings() as logged:
        result = run_explore(data, out_dir, reporter, force, refresh)
    if as_json:
        counts = result.counts.to_dict(orient="index")
        found = {"out": str(out_dir), "counts": counts, "unreadable_files": result.unreadable_files}
        found["unreadable_reasons"] = result.unreadable_reasons
        found["ignored_files"] = result.ignored.to_json() if result.ignored else None
        print_json(with_warnings(found, logged))
        return
    counts, title = explore_rows(result.counts)
    table = Table("class", *map(str, counts.columns), "median size (w x h)", title=title)
    for name, row in counts.iterrows():
        stats = result.size_stats.loc[name] if name in result.size_stats.index else None
        size = "-" if stats is None else f"{stats.width_median:.0f} x {stats.height_median:.0f}"
        table.add_row(Text(str(name)), *map(str, row.tolist()), size)  # names are never markup
    console.print(table)
    if len(counts) < len(result.counts):
        console.print(rest_line(result.counts, len(counts)), markup=False, highlight=False)
    beside = " (beside DATA; --out for another)" if out is None and not in_package(data) else ""
    console.print(explore_summary(result), markup=False)
    console.print(f"CSVs and plots in {shown(out_dir)}{beside}", markup=False)
    for path, reason in result.unreadable_reasons.items():  # relative to DATA, as check's
        console.print(f"[yellow]unreadable:[/] {escape(f'{printable(path)}: {reason}')}")


EXPLORE_ROWS = 30
"""The most classes explore's table lists; past them, the ``EXPLORE_FEWEST`` with the fewest
images (500 class folders printed 506 lines, the summary scrolled away)."""
EXPLORE_FEWEST = 10


def explore_rows(counts):
    """The rows of explore's table and its title: every class, or past ``EXPLORE_ROWS`` those
    with the fewest images (the ones a person acts on), fewest first."""
    if len(counts) <= EXPLORE_ROWS:
        return counts, "Images per class"
    fewest = counts.sum(axis=1).sort_values(kind="stable").index[:EXPLORE_FEWEST]
    return counts.loc[fewest], f"The {EXPLORE_FEWEST} classes with the fewest images"


def rest_line(counts, shown: int) -> str:
    """The line under explore's table of the fewest: how many classes it leaves to counts.csv,
    and the largest of them with its images (per split of a split folder), the other end of the
    imbalance a table of the fewest hides (airplanes' 600 beside inline_skate's 23)."""
    rest = plural(len(counts) - shown, "more class", "more classes")
    totals = counts.sum(axis=1)
    largest = str(totals.idxmax())
    per_split = "/".join(f"{n:,}" for n in counts.loc[largest]) if counts.shape[1] > 1 else ""
    split_names = "/".join(map(str, counts.columns))
    of = f" ({per_split} in {split_names})" if per_split else ""
    return (
        f"and {rest} in counts.csv, the largest {printable(largest)} with "
        f"{int(totals[largest]):,} images{of}; every class in images_per_class.png"
    )


def explore_summary(result) -> str:
    """The image files explore found, as check counts them (per split of a split folder, as
    check's summary says them), and what it read of them: the sizes in their headers, never the
    pixels (a truncated file may have a whole header). Every one sized is ``each``: "120 image
    files in 5 classes: 120 sized from their headers" said the count twice."""
    files = len(result.sizes) + len(result.unreadable_files)
    classes = plural(len(result.counts), "class", "classes")
    if "all" not in result.counts.columns:  # a split folder: each split's image files
        read = result.sizes["split"].value_counts()
        left = [PurePosixPath(p).parts[0] for p in result.unreadable_files]
        per_split = ", ".join(
            f"{s} {int(read.get(s, 0)) + left.count(s):,}" for s in result.counts.columns
        )
        classes += f" ({per_split})"
    unreadable = f", {len(result.unreadable_files):,} unreadable" if result.unreadable_files else ""
    sized = (
        f": {len(result.sizes):,} sized from their headers{unreadable}"
        if result.unreadable_files
        else ", each sized from its header"
    )
    return (
        f"{plural(files, 'image file')} in {classes}{sized} (the pixels are not decoded: "
        "`objrec check` decodes every image)"
    )


CHECK_HELP = """List every problem of DATA (a class or split folder, or a run), without training.

Every image is decoded as training would decode it. The exit status, once everything is
listed: 0 when nothing is unusable (notes do not stop split or train). 1 when something is
unusable, or DATA cannot be read: split and train leave unusable files and empty class folders
out and go on, as the last lines say; any other unusable folder's line says which step it stops.
2 when the command line is wrong (DATA missing, say): nothing is checked.
\f
\b
Unusable (train leaves them out or refuses the folder):
  - files that cannot be decoded (HEIC photos need pillow-heif), or
    too large to decode safely; image files whose name is not UTF-8
  - empty class folders; a folder of only one class (a classifier
    needs two); class folders named alike but for upper and lower case;
    a class named unknown (the answer for an image like none of them)
  - in a split folder, a class of valid or test that train lacks (the
    class it probably is, renamed or misspelt, is named)

\b
Noted (training goes on):
  - what is ignored: hidden files and folders (__MACOSX, @eaDir too),
    files that are not images, files outside class folders; camera RAW
    files and sidecars (.xmp) in one line each, naming the RAW photos
    with no image of their name beside them
  - images without an extension (read anyway); nearly blank images;
    a link to a folder that holds it (not followed)
  - identical files: the same bytes under two names, within a class, in
    two classes, or in two splits of a split folder
  - a class of train missing from valid or test; a sub-folder of a class
    folder holding images (trained as that class)
  - a class with too few images for split to put one in each of train,
    valid and test; classes strongly imbalanced (the largest 50 times
    the smallest or more: train --balance weights may help); in a class
    folder, classes a default split tests on fewer than 10 photos beside
    one of 10 times their images or more

The last line counts the image files in class folders (readable ones and unusable ones, which
add up to it), the classes that hold any, and apart the unusable folders; --json has the same
(docs/json.md lists every kind of problem).

A run folder (train's output) is checked as the commands that use it read it: the SHA-256 of
model.safetensors and last.safetensors (the resume state), threshold.json's own digest and the
model it was kept for, config.json and summary.json against the model, and its export (objrec
export RUN) against the SHA-256 its model.json records of each of its files. Exits with 1 when a
file is damaged, unreadable, missing from an export (its script excepted: yours to adapt) or
describes another model.
"""
"""``check``'s help: two lists, which click prints as they are (``\\b``)."""


@click.command(
    cls=Sectioned,
    short_help="List every problem of a photo folder or a run, without training.",
    help=CHECK_HELP,
)
@click.argument("data", type=FOLDER)
@cache_dir_option(
    "check keeps the files' digests and what it decoded there: the next check, split or train "
    "given the same --cache-dir reads none of them again."
)
@json_option("the problems")
def check(data: Path, cache_dir: Path | None, as_json: bool) -> None:
    """List every problem of DATA (:data:`CHECK_HELP`); exit 1 when any is unusable."""
    from objrec.check import check_folder
    from objrec.run_files import BEST, LAST

    if any((data / name).is_file() for name in (BEST, LAST)):  # before torch is imported
        from objrec.check_run import is_run_folder

        if is_run_folder(data):
            return check_run_folder(data, as_json)
    refuse_cache_inside(cache_dir, data)
    with logged_warnings() as logged:
        result = check_folder(data, RichReporter(), cache_dir)
    for problem in result.problems:  # the library's `train` is objrec train here, in --json too
        problem.message = to_cli(problem.message, check)
    if as_json:
        print_json(with_warnings(result.to_json(), logged))
    else:
        for line in problem_lines(result.problems, data, on_terminal):
            console.print(line, highlight=False)
        console.print(on_terminal(check_summary(result)), markup=False, highlight=False)
        if result.split_record is not None:
            said = on_terminal(split_record_line(result.split_record))
            console.print(said, markup=False, highlight=False)
        if result.n_unreadable or left_out_folders(result) or result.split_refused:
            console.print(on_terminal(check_next(result)), markup=False, highlight=False)
    if result.unusable:
        sys.exit(1)


def check_run_folder(run: Path, as_json: bool) -> None:
    """``check RUN``: each problem of the run a line, then what was found intact; exit 1 when a
    file is unusable."""
    from objrec.check_run import check_run
    from objrec.cli import cli

    with logged_warnings() as logged:
        result = check_run(run, RichReporter())
    values = {"resume": str(run), "run": str(run), "data": result.trained_on or "DATA"}
    for problem in result.problems:  # what to do is said as train's options
        problem.message = to_cli(problem.message, cli.commands["train"], values)
    if as_json:
        print_json(with_warnings(result.to_json(), logged))
    else:
        for p in result.problems:
            style = "red" if p.unusable else "yellow"
            said = p.message if p.message.startswith(p.path) else f"{p.path}: {p.message}"
            said = on_terminal(f"{p.kind} {printable(said)}")[len(p.kind) + 1 :]
            console.print(f"[{style}]{p.kind}[/] {escape(said)}", highlight=False)
        console.print(on_terminal(run_check_summary(result)), markup=False, highlight=False)
    if result.unusable:
        sys.exit(1)


def run_check_summary(result: RunCheck) -> str:
    """``check RUN``'s last line: what the run is, the files whose SHA-256 matched, and how many
    are unusable."""
    what = {
        "finished": "a finished run",
        "interrupted": "an interrupted run",
        "unfinished": "a run",
    }.get(result.status, "no model or training state objrec can read")
    if result.classes:
        what += f" of {plural(len(result.classes), 'class', 'classes')} ({result.backbone})"
    if result.status == "unfinished":  # "a run that cannot be resumed of 5 classes" read wrong
        what += ", unfinished: it cannot be resumed"
    said = f"{shown(result.run)}: {what}"
    if result.intact:
        said += f"; SHA-256 as recorded: {joined(result.intact)}"
    bad = len(result.unusable)
    return said + (
        f"; {plural(bad, 'unusable file')}, listed above" if bad else "; nothing unusable"
    )


def on_terminal(text: str) -> str:
    """``text`` on lines a terminal shows whole, as the warnings on stderr are (``output.
    on_stderr``: check's lines of up to 420 characters were cut mid-word by the terminal), when
    stdout is one; as it is on a pipe or in a file, one line a problem for grep."""
    if not console.is_terminal:
        return text
    return on_lines(text, width=max(40, min(WRAP_WIDTH, console.width - 1)))


def problem_lines(
    problems: Sequence[Problem], data: Path, wrap: Callable[[str], str] = str
) -> list[str]:
    """check's lines, in rich markup: the unusable problems first, then the notes, each group
    of :func:`line_groups` one line (a Mac-copied folder of 24 photos printed 24
    ``ignored_hidden`` lines, 6,000 photos as many, the red lines among them and the summary
    scrolled away), ``wrap`` making its text lines a terminal shows whole (:func:`on_terminal`);
    ``--json`` keeps one problem per file."""
    ordered = sorted(problems, key=lambda p: not p.unusable)  # stable: found order within each
    lines = []
    for group in line_groups(ordered):
        first = group[0]
        style = "red" if first.unusable else "yellow"
        if first.kind in LISTED_KINDS and len(group) > LISTED_NAMED:
            said = listed_line(group, data)
        else:
            said = f"{', '.join(in_folder(q.path, data) for q in group)}: {first.message}"
        said = wrap(f"{first.kind} {said}")[len(first.kind) + 1 :]
        lines.append(f"[{style}]{first.kind}[/] {escape(said)}")  # never markup
    return lines


LISTED_NAMED = 3
"""How many files a kind of :data:`LISTED_KINDS` may have and still print one line each; of
more, one line names this many and counts the rest."""

LISTED_KINDS = {
    "ignored_hidden": "hidden files and folders ignored",
    "ignored_file": "files ignored, not images",
    "no_class_folder": "files outside any class folder, ignored",
    "nested_folder": "sub-folders of class folders holding images, each trained as its class",
    "no_extension": "files without an extension, read as images",
    "identical_files": "groups of files of the same bytes: keep each picture once",
}
"""The notes that name one file each and come by the hundred on a real folder (a ``._`` file
beside each photo of a Mac's copy, an ``@eaDir`` in each folder of a Synology share), each
kind's words for a line of them all."""


def line_groups(problems: Sequence[Problem]) -> list[list[Problem]]:
    """``problems`` as check prints them, a line a group, in the order of each group's first:
    the classes noted ``few_images`` with one message in one line (101 classes of 6 to 10
    photos printed 21 lines of "6 readable images: split gives 2 training images, ..."), a kind
    of :data:`LISTED_KINDS` with more than :data:`LISTED_NAMED` problems in one line, any other
    problem alone."""
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    groups: dict[tuple[str, str], list[Problem]] = {}
    for n, p in enumerate(problems):
        key = (p.kind, str(n))
        if p.kind == "few_images":
            key = (p.kind, p.message)
        elif p.kind in LISTED_KINDS and counts[p.kind] > LISTED_NAMED:
            key = (p.kind, "")
        groups.setdefault(key, []).append(p)
    return list(groups.values())


def listed_line(group: Sequence[Problem], data: Path) -> str:
    """One line for the many problems of a kind of :data:`LISTED_KINDS`: how many, what they
    are, the first :data:`LISTED_NAMED` files and how many more (``--json`` lists each)."""
    kind = group[0].kind
    what = LISTED_KINDS[kind]
    if kind == "ignored_file" and any(not p.message.startswith("not an image") for p in group):
        what += " or links to no file"
    if kind == "ignored_hidden" and any(Path(p.path).name.startswith("._") for p in group):
        what += " (macOS's ._ files among them, one beside each file a Mac copied)"
    if kind == "identical_files" and (leaks := sum("a leak" in p.message for p in group)):
        what += f" ({leaks:,} across splits, a leak: the scores count a picture trained on)"
    named = ", ".join(listed_name(p, data) for p in group[:LISTED_NAMED])
    more = len(group) - LISTED_NAMED
    return f"{len(group):,} {what}: {named} and {more:,} more (--json lists each)"


def listed_name(problem: Problem, data: Path) -> str:
    """A problem's file in a :func:`listed_line`; a group of identical files as its first two
    (``red/copy.jpg = red/img_00.jpg``)."""
    if problem.kind == "identical_files" and problem.files and len(problem.files) > 1:
        return f"{in_folder(problem.files[1], data)} = {in_folder(problem.files[0], data)}"
    return in_folder(problem.path, data)


def in_folder(path: str, data: Path) -> str:
    """A problem's ``path`` as check shows it: relative to the folder checked, as the files its
    message names are (``lamp/lamp_dup.jpg: the same bytes as lamp/image_0004.jpg``; it said
    ``PHOTOS/lamp/...`` before ``lamp/...``), the folder itself as given."""
    try:
        inside = Path(path).relative_to(data)
    except ValueError:
        return shown(path)
    return printable(inside.as_posix()) if inside.parts else shown(data)


def check_summary(result: CheckResult) -> str:
    """The image files in class folders, readable and not (they add up), then any unusable
    folders (empty classes, classes train lacks, a single class), each listed above it."""
    per_split = ", ".join(f"{k} {v:,}" for k, v in result.splits.items())
    return (
        f"{plural(result.images, 'image file')} in {plural(result.n_classes, 'class', 'classes')}"
        + (f" ({per_split})" if per_split else "")
        + f": {result.readable:,} readable, {result.n_unreadable:,} unusable"
        + "".join(f"; {part}" for part in folder_parts(result))
    )


def left_out_folders(result: CheckResult) -> int:
    """The empty class folders of a folder of class folders, which split leaves out with a
    warning and goes on, as it does with unusable files (in a split folder, train refuses one)."""
    return 0 if result.splits else sum(p.kind == "empty_class" for p in result.unusable)


def folder_parts(result: CheckResult) -> list[str]:
    """The summary's words for the unusable folders: the empty class folders split leaves out
    apart from the others, which stop a step ("1 unusable folder" said of an empty class folder
    whose own line said split leaves it out, with a warning)."""
    empty = left_out_folders(result)
    others = result.unusable_folders - empty
    parts = [f"{plural(empty, 'empty class folder')} that split leaves out"] if empty else []
    return parts + ([plural(others, "unusable folder")] if others else [])


def split_record_line(record: dict[str, Any]) -> str:
    """How a split folder was made, from its ``split.json``: the source, the settings, objrec's
    version, the command line when the CLI split it, how many ``add`` since (those stopped
    partway: ``stopped``), and the last audit plan applied when it is ``apply-plan``'s copy of
    one (with only that, for a copy of a split folder made before objrec recorded how)."""
    said = split_words(record) if "source" in record else "split before objrec recorded how"
    if added := record.get("added") or []:
        stopped = sum(isinstance(entry, dict) and entry.get("stopped") is True for entry in added)
        partway = f" ({stopped} stopped partway)" if stopped else ""
        said += f"; {plural(len(added), 'add')} since{partway}, listed in split.json"
    applied = [entry for entry in record.get("applied") or [] if isinstance(entry, dict)]
    if applied:
        said += "; " + applied_words(applied)
    return printable(said)


def applied_words(applied: list[dict[str, Any]]) -> str:
    """The last plan of ``applied`` (split.json's): "a copy of DATA with the audit plan PLAN
    (SHA-256 12 digits) applied: 3 relabelled, 2 left out"."""
    last = applied[-1]
    digest = str(last.get("plan_sha256") or "")[:12]
    said = (
        f"a copy of {last.get('data')} with the audit plan {last.get('plan')} (SHA-256 {digest}) "
        f"applied: {last.get('relabelled')} relabelled, {last.get('removed')} left out"
    )
    return said + (
        f" (the last of {len(applied)} plans, in split.json)" if len(applied) > 1 else ""
    )


def split_words(record: dict[str, Any]) -> str:
    """The source, settings, objrec's version and command of ``split.json``'s ``record``."""
    ratios = " ".join(map(number, record.get("ratios") or []))
    settings = [f"seed {record.get('seed')}{placement_words(record)}", f"ratios {ratios}"]
    if record.get("classes"):
        settings.append("only the classes " + joined([quoted(str(c)) for c in record["classes"]]))
    if record.get("exclude"):
        settings.append("excluding " + ", ".join(map(str, record["exclude"])))
    near = "near-duplicates" if record.get("near_duplicates") else "exact duplicates only"
    bursts = f"bursts within {number(record.get('burst_seconds'))} s"
    settings.append(f"{near} kept together, {bursts}")
    settings += [f"{key} {record[key]}" for key in ("groups", "like") if record.get(key)]
    said = f"split of {record.get('source')}: {', '.join(settings)} (objrec {record.get('objrec')})"
    if isinstance(command := record.get("command"), list):
        said += f", by {shlex.join(map(str, command))}"
        said += f" in {record['cwd']}" if isinstance(record.get("cwd"), str) else ""
    return said


def placement_words(record: dict[str, Any]) -> str:
    """What ``check`` says after the seed of a split placed in another order than this objrec's
    (``split.record.placement_of``): that the same photos and seed split again land elsewhere,
    and how to keep them where they are; nothing of a split placed in this objrec's order."""
    from objrec.placement import PLACEMENT
    from objrec.split.record import placement_of

    placement = placement_of(record)
    if placement == PLACEMENT:
        return ""
    order = "objrec's order before 6 December 2026" if placement == 1 else f"order {placement}"
    return (
        f" placed in {order} (split again with this objrec, the same photos and seed land in "
        "other splits; `split --like` keeps each where it is)"
    )


def number(value: Any) -> str:
    """``0.5``, ``1`` (a float as ``:g`` writes it); what is not a number, as it is."""
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def check_next(result: CheckResult) -> str:
    """What split and train do with the unusable files ('2 unusable' and exit 1 alone read as
    'fix them first'): they leave them out with a warning naming them; ``--strict`` refuses them
    instead. A split
    folder is not split again: train alone. Nothing is said to go on past an unusable folder (a
    folder of one class, which train refuses): its own line says what it stops. Nor past a
    folder split refuses as it stands (``split_refused``, its note says why): photos first."""
    if result.split_refused:
        return "what next: add photos; split refuses this folder as it stands (its note above)"
    left = [plural(result.n_unreadable, "unusable file")] * bool(result.n_unreadable)
    empty = left_out_folders(result)
    left += [plural(empty, "empty class folder")] * bool(empty)
    files = " and the ".join(left)
    them = "it" if result.n_unreadable + empty == 1 else "them"
    who, go = ("train leaves", "goes") if result.splits else ("split and train leave", "go")
    strict = "train --strict refuses to start while any exist"
    if not result.splits:
        strict = f"split --strict and train --strict refuse {them} instead"
    said = f"what next: {who} the {files} out, with a warning naming {them}"
    if not (folders := result.unusable_folders - empty):
        return f"{said}, and {go} on ({strict})"
    which = "the unusable folder is" if folders == 1 else f"the {folders} unusable folders are"
    lines = "its line" if folders == 1 else "their lines"
    return f"{said} ({strict}); {which} another matter ({lines} above)"

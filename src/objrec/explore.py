"""``explore``: images per class (per split for a split folder) and image sizes, with plots."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from objrec import plots
from objrec.data import (
    SPLITS,
    class_dirs,
    class_of_folder,
    imbalance_hint,
    is_split_folder,
    present_splits,
    split_then_balance,
)
from objrec.errors import ObjrecError, on_ctrl_c
from objrec.images import UnreadableImageError, image_size
from objrec.listing import IgnoredFiles, ignored_files, list_images
from objrec.outputs import (
    EXPLORE_FILES,
    prepare_output_dir,
    refuse_inside,
    staged_outputs,
    takes_back_folders,
    writing_outputs,
)
from objrec.paths import PathGiven, as_path
from objrec.progress import Reporter, or_silent
from objrec.renames import renamed_attribute
from objrec.split.source import loose_files
from objrec.tables import write_table
from objrec.warned import warned_once_per_file
from objrec.words import some_of

log = logging.getLogger(__name__)


@dataclass
class ExploreResult:
    counts: pd.DataFrame
    """Images per class (rows) and split (columns)."""
    size_stats: pd.DataFrame
    """Per class: images, mean/min/max width and height."""
    sizes: pd.DataFrame
    """Per image: split, class, file, width, height."""
    unreadable_files: list[str]
    """Each image file that could not be read, left out, relative to the folder explored (as
    ``split``'s and ``check``'s; ``path: reason`` with the folder's path before 8 December 2026);
    ``explore --json``'s ``unreadable_files`` (``unreadable`` before 7 December 2026, the
    attribute's old name)."""
    out: Path | None = None
    ignored: IgnoredFiles | None = None
    """The files left out of the counts: those of the class folders that are not images, and
    those outside any class folder (images too), as ``split`` names them."""
    unreadable_reasons: dict[str, str] = field(default_factory=dict)
    """Why each of ``unreadable_files`` could not be read, by its path there."""

    def __repr__(self) -> str:
        """One line, as the other results': the images counted, per split of a split folder, the
        classes and the files left out; the tables are in the attributes."""
        per_split = self.counts.drop(columns="all", errors="ignore").sum().items()
        splits = "".join(f", {split}={n}" for split, n in per_split)
        where = f", out={str(self.out)!r}" if self.out is not None else ""
        images = int(self.counts.to_numpy().sum())
        return (
            f"ExploreResult(images={images}{splits}, n_classes={len(self.counts)}, "
            f"n_unreadable={len(self.unreadable_files)}{where})"
        )

    unreadable = renamed_attribute("ExploreResult", "unreadable", "unreadable_files")


@takes_back_folders("out")
@on_ctrl_c("nothing was written: run it again")
@warned_once_per_file()
def explore(
    data: PathGiven,
    out: PathGiven | None = None,
    reporter: Reporter | None = None,
    force: bool = False,
    refresh: bool = False,
) -> ExploreResult:
    """Count the images of a class folder or split folder and read their sizes from the headers.

    Writes ``counts.csv``, ``sizes.csv``, ``size_stats.csv``, ``images_per_class.png`` and
    ``image_sizes.png`` to ``out`` when given (an empty or new folder, unless ``force``, or
    ``refresh``: over objrec's own outputs there only as it wrote them, ``outputs.users_file``).
    ``reporter`` shows progress (None: nothing is shown).
    """
    data, out, reporter = Path(data), as_path(out), or_silent(reporter)
    if not data.is_dir():
        raise ObjrecError(f"{data} is not a folder")
    if out is not None:
        refuse_inside(out, data)
        prepare_output_dir(out, force, names=EXPLORE_FILES, refresh=refresh)
    parts = {s: data / s for s in present_splits(data)} if is_split_folder(data) else {"all": data}
    ignored: list[Path] = []
    listing = list_classes(parts, ignored, data)
    if not listing:
        raise ObjrecError(f"{data} holds no images in class sub-folders")
    rows, reasons = [], {}
    with reporter.task("reading image sizes", len(listing)) as advance:
        for split, name, path in listing:
            try:
                width, height = image_size(path)
                rows.append((split, name, str(path), width, height))
            except UnreadableImageError as exc:
                reasons[path.relative_to(data).as_posix()] = exc.reason
            advance(1)
    frame = pd.DataFrame(rows, columns=["split", "class", "file", "width", "height"])
    result = summarise_sizes(frame, list(reasons), sorted({name for _, name, _ in listing}))
    result.unreadable_reasons = reasons
    loose = [path for root in parts.values() for path in loose_files(root)]
    result.ignored = ignored_files(data, ignored, [path for _, _, path in listing], loose)
    if result.ignored:
        log.warning("%s", result.ignored.sentence())
    warn_of_imbalance(result.counts, data)
    if said := few_tested_words(result.counts):
        log.warning("%s", said)
    if out is not None:
        with writing_outputs(Path(out)), reporter.task("writing the tables and plots", None):
            write_exploration(result, Path(out), force)  # seconds: the plots of 100 classes
    return result


def warn_of_imbalance(counts: pd.DataFrame, data: Path) -> None:
    """One warning when the classes are strongly imbalanced (``data.imbalance_hint``): in the
    training split of a split folder, in the whole of a class folder (``data``, which is split
    before a train weighs its classes)."""
    split = "train" if "train" in counts.columns else "all"
    if split not in counts.columns:  # a split folder without train/
        return
    images = "training image" if split == "train" else "image"
    how = (
        "`train(data, out=run, balance='weights')`"
        if split == "train"
        else split_then_balance(data)
    )
    hint = imbalance_hint({str(k): int(v) for k, v in counts[split].items()}, images, how)
    if hint:
        log.warning("%s", hint)


FEW_TESTED_RATIO = 5
"""How many times a small class's images the largest class of a split folder holds before
``explore`` names it when its test split holds fewer than ``FEWEST_WITHOUT_INTERVAL`` of them
(:func:`few_tested_words`). ``check``'s note of a class folder waits for 10 to 1
(``check.FEW_BESIDE_RATIO``): a recycling line's stapler, 18 photos beside 179 watches (9.9 to
1), was said by nothing until evaluate's table showed it 75% right on 4 test photos and the
stricter threshold refused for it."""


def few_tested_words(counts: pd.DataFrame) -> str | None:
    """One sentence naming the classes of a split folder (``counts``: images per class and
    split) whose test split holds fewer than ``FEWEST_WITHOUT_INTERVAL`` images while the largest
    class holds :data:`FEW_TESTED_RATIO` times their images or more, and what that does to their
    figures; None when there are none, or no test split."""
    from objrec.enough import FEWEST_WITHOUT_INTERVAL
    from objrec.words import plural, quoted

    if "test" not in counts.columns:
        return None
    totals = counts.drop(columns="all", errors="ignore").sum(axis=1)
    large = str(totals.idxmax())
    tested = {str(name): int(n) for name, n in counts["test"].items()}
    small = sorted(
        (int(n), str(name))
        for name, n in totals.items()
        if 0 < tested[str(name)] < FEWEST_WITHOUT_INTERVAL and n * FEW_TESTED_RATIO <= totals[large]
    )
    if not small:
        return None
    train = counts["train"] if "train" in counts.columns else None
    named = [
        f"{quoted(name)} ({'' if train is None else f'{int(train[name])} training, '}"
        f"{tested[name]} test)"
        for _, name in small
    ]
    have = "has" if len(small) == 1 else "have"
    return (
        f"{plural(len(small), 'class', 'classes')} {have} few images beside {quoted(large)} "
        f"with {int(totals[large]):,} ({totals[large] / small[0][0]:,.0f} to 1 at most): "
        f"{some_of(named, quote=False)}; each test photo moves such a class's top-1 by 10 points "
        "or more, the overall top-1 hides it, and it is the first said unknown (a stricter "
        "threshold may be refused for it): more photos of it help most"
    )


def list_classes(
    parts: dict[str, Path], ignored: list[Path] | None = None, data: Path | None = None
) -> list[tuple[str, str, Path]]:
    """(split, class, file) of every image in the class folders of ``parts`` (split -> folder),
    the other files in ``ignored`` (:func:`objrec.images.list_images`). A class folder without
    images is named in a warning: left out of the counts (as split does) when its class has no
    image in any split, else counted as 0 in its split. A Mac's NFD ``café`` folder and an NFC
    one are one class (:func:`objrec.data.class_of_folder`), as split and train count them.
    The warning names each folder relative to ``data`` when given, as the ignored files are."""
    listing, empty = [], []
    for split, root in parts.items():
        for cls in class_dirs(root):
            files = list_images(cls, ignored=ignored)
            listing += [(split, class_of_folder(cls.name), path) for path in files]
            empty += [] if files else [cls]
    counted = {name for _, name, _ in listing}
    for kept in (False, True):
        named = [
            str(f) if data is None else f.relative_to(data).as_posix()
            for f in empty
            if (class_of_folder(f.name) in counted) == kept
        ]
        if named:
            log.warning(
                "%s no images: %s (`check_folder` lists every problem): %s",
                "a class folder holds" if len(named) == 1 else f"{len(named)} class folders hold",
                "counted as 0 in its split" if kept else "left out",
                some_of(named),
            )
    return listing


def summarise_sizes(
    sizes: pd.DataFrame, unreadable: list[str], classes: Sequence[str] = ()
) -> ExploreResult:
    """Readable images per class and split, and each class's image-size statistics (the median
    too, which explore shows: one 8000x6000 photo among 25 of about 300 pixels makes the mean
    532 x 515); each of ``classes`` has a row of counts, 0 when none of its images
    could be read (it vanished)."""
    counts = sizes.pivot_table(
        index="class", columns="split", values="file", aggfunc="count", fill_value=0
    )
    counts = counts.reindex(sorted({*counts.index, *classes}), fill_value=0)
    counts = counts[[c for c in (*SPLITS, "all") if c in counts.columns]]
    stats = (
        sizes.groupby("class")
        .agg(
            images=("file", "count"),
            width_mean=("width", "mean"),
            width_median=("width", "median"),
            width_min=("width", "min"),
            width_max=("width", "max"),
            height_mean=("height", "mean"),
            height_median=("height", "median"),
            height_min=("height", "min"),
            height_max=("height", "max"),
        )
        .round(1)
    )
    return ExploreResult(counts, stats, sizes, unreadable)


def write_exploration(result: ExploreResult, out: Path, force: bool = False) -> None:
    """The five files, put in place together once all are written (``outputs.staged_outputs``):
    a re-run stopped half way leaves the earlier ones as they were."""
    with staged_outputs(out, EXPLORE_FILES, force) as place:
        write_table(result.counts, place("counts.csv"), index=True)
        write_table(result.size_stats, place("size_stats.csv"), index=True)
        write_table(result.sizes, place("sizes.csv"))
        plots.images_per_class(result.counts, place("images_per_class.png"))
        plots.image_sizes(result.sizes, place("image_sizes.png"))
    result.out = out

"""Matplotlib figures for runs, data and predictions, drawn without pyplot (no GUI, thread-safe)."""

from __future__ import annotations

import functools
import itertools
import logging
import re
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from PIL import Image

from objrec.words import plural

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

FALLBACK_FONTS = re.compile(
    r"CJK|Han Sans|Gothic|Mincho|Hei\b|Heiti|YaHei|JhengHei|Ming|Song|PingFang|Hiragino|Meiryo|"
    r"Malgun|Nanum|Unicode|Fallback|^Noto Sans"
)
"""Installed font families a name's characters fall back to, beside matplotlib's DejaVu Sans:
Chinese, Japanese and Korean fonts, and Noto's (Arabic, Hebrew, Thai, Devanagari...)."""
GLYPH_MISSING = re.compile(r"Glyph \d+ .*missing from font")
BOXES_NOTE = "some characters of file or class names have no font here; they show as boxes"
_noted: list[bool] = []
"""Whether ``BOXES_NOTE`` was logged already (once per process)."""


@functools.cache
def font_families() -> tuple[str, ...]:
    """The font family list figures are drawn with (matplotlib >= 3.6 takes each glyph from the
    first family that has it): the default, then the installed ``FALLBACK_FONTS``. With DejaVu
    Sans alone a katakana file name was drawn as boxes."""
    from matplotlib import font_manager, rcParams

    installed = sorted({font.name for font in font_manager.fontManager.ttflist})
    return (*rcParams["font.family"], *(n for n in installed if FALLBACK_FONTS.search(n)))


def lettered(draw: Callable[P, R]) -> Callable[P, R]:
    """``draw`` (a figure's function) with ``font_families``, and without matplotlib's warning for
    each character no font has (nine of them for a katakana file name): one note is logged
    instead, once, and other warnings pass as they were."""

    @functools.wraps(draw)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        from matplotlib import rc_context

        fonts = rc_context({"font.family": list(font_families())})
        with fonts, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            drawn = draw(*args, **kwargs)
        for w in caught:
            if not GLYPH_MISSING.search(str(w.message)):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            elif not _noted:
                _noted.append(True)
                log.warning(BOXES_NOTE)
        return drawn

    return call


DPI = 110
PAD_INCHES = 0.1
"""The blank kept around what a figure draws (savefig's own ``pad_inches``)."""


def save(fig: Figure, path: Path) -> Path:
    """``fig`` cropped to what it draws, as ``bbox_inches="tight"`` crops it, drawn once.

    savefig's "tight" draws the whole figure once only to measure it, then draws it again;
    measuring the extent directly, at the DPI it is saved at, gives the same box and the same
    pixels for a fifth to a quarter less time (``benchmarks/figures.py``)."""
    fig.set_dpi(DPI)
    extent = fig.get_tightbbox(FigureCanvasAgg(fig).get_renderer())
    fig.savefig(path, dpi=DPI, bbox_inches=extent.padded(PAD_INCHES))
    return path


def plain(text: str) -> str:
    """``text`` (a class or file name) drawn as written: matplotlib reads text between two dollar
    signs as mathtext, which drew "$a$ b" as an italic "a b" and stopped on "cost $x^$" with a
    parse error; an escaped dollar sign is drawn as one."""
    return str(text).replace("$", r"\$")


NAME_CHARACTERS = 34
"""The longest file name a gallery tile's caption shows whole (a 3.2-inch tile, 8-point text)."""


def shortened(name: str, limit: int = NAME_CHARACTERS) -> str:
    """``name`` cut in the middle to at most ``limit`` characters, its start (the class folder)
    and its end (the file's own name and extension) kept, so that a person can still find it."""
    if len(name) <= limit:
        return name
    head = limit // 3
    return f"{name[:head]}\u2026{name[len(name) - (limit - head - 1) :]}"


def count_axis(axis) -> None:
    """Whole-number ticks on an axis of counts (images, classes): matplotlib's default ticks put
    "2.5" images or "0.25" classes there when the counts are small."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def percent_axis(axis) -> None:
    """Ticks of an axis of shares (0 to 1) written as percentages, as the text beside them is."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def show_image(ax, image: Image.Image) -> None:
    """``image`` on axes that show no axis.

    Both axes are hidden as well as switched off: matplotlib places a title above an axis's tick
    labels, and makes and measures the ticks of an axis switched off to do it: half of a
    gallery's drawing time."""
    ax.imshow(image)
    ax.axis("off")
    ax.xaxis.set_visible(False)
    ax.yaxis.set_visible(False)


HEAT_KEY = ("least", "most")
"""The colour key's ends under a Grad-CAM map: how much each region drove the answer."""


@lettered
def heat_map(picture: Image.Image, caption: str, path: Path) -> Path:
    """A Grad-CAM overlay (``saliency.overlay``'s) saved to ``path`` with ``caption`` above it
    (the class answered and its probability) and a colour key beside it: a newcomer's map was a
    purple-tinted photo with no class, probability or key, read only by one who knew Grad-CAM
    (newcomer62, 6); the report's saliency says it in words."""
    fig = heat_map_figure(picture, caption)
    save(fig, path)
    return path


def heat_map_figure(picture: Image.Image, caption: str) -> Figure:
    """:func:`heat_map`'s figure: the picture under its caption, inferno's key beside it."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    width, height = picture.size
    fig = Figure(
        figsize=(3.6 * width / max(width, height) + 0.9, 3.6 * height / max(width, height))
    )
    ax = fig.add_subplot()
    show_image(ax, picture)
    ax.set_title(plain(caption), fontsize=9)
    key = fig.colorbar(
        ScalarMappable(Normalize(0, 1), colormaps["inferno"]), ax=ax, fraction=0.05, pad=0.03
    )
    key.set_ticks([0, 1], labels=list(HEAT_KEY))
    key.set_label("drove the answer", fontsize=8)
    key.ax.tick_params(labelsize=8)
    return fig


@lettered
def training_curves(history: Mapping[str, Sequence[Any]], path: Path, best: int) -> Path:
    """Loss and accuracy per epoch, train against valid (its line marked with squares, told
    apart in grey too), with the best epoch marked: ``best``, the one whose head the run keeps
    (its lowest valid loss).
    ``history``: a column per name (a ``DataFrame``, or ``runs.history_columns``)."""
    return save(training_curves_figure(history, best), path)


@lettered
def training_curves_figure(history: Mapping[str, Sequence[Any]], best: int) -> Figure:
    """:func:`training_curves`' figure. One legend for both panels, below them: in each, over
    the curves, it hid the accuracy's plateau where the best epoch is (review53b nit 13)."""
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    for ax, metric, label in zip(
        fig.subplots(1, 2), ("loss", "acc"), ("loss", "accuracy"), strict=True
    ):
        ax.plot(history["epoch"], history[f"train_{metric}"], label="train")
        ax.plot(history["epoch"], history[f"valid_{metric}"], "s-", markersize=3, label="valid")
        ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per epoch")
        ax.grid(alpha=0.3)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    return fig


SPLIT_HATCHES = ("", "///", "...")
"""The hatches of the splits' bars (train, valid, test) in ``images_per_class_figure``."""


@lettered
def images_per_class_figure(counts: pd.DataFrame) -> Figure:
    """Horizontal stacked bars, one per class (rows: class; columns: split), largest on top,
    classes of as many images alphabetical from the top (they read from the bottom up).

    The legend of the splits stands outside the axes, so it never hides a bar. Each split has a
    hatch of its own (``SPLIT_HATCHES``), not only a colour: in grey, or to a red-green
    colour-blind eye, train's blue and test's green were one colour.
    """
    totals = counts.sum(axis=1)
    counts = counts.loc[sorted(counts.index, key=lambda name: (-totals[name], str(name)))]
    height = max(3.0, 0.18 * len(counts) + 1.2)
    fig = Figure(figsize=(8, height))
    ax = fig.subplots()
    left, names = None, [plain(name) for name in counts.index]
    for split, hatch in zip(counts.columns, itertools.cycle(SPLIT_HATCHES)):
        ax.barh(names, counts[split], left=left, label=split, hatch=hatch, edgecolor="white")
        left = counts[split] if left is None else left + counts[split]
    ax.set_xlabel("images")
    count_axis(ax.xaxis)
    totals = f"{plural(len(counts), 'class')}, {plural(int(counts.values.sum()), 'image')}"
    ax.set_title(f"Images per class ({totals})")
    ax.tick_params(axis="y", labelsize=7 if len(counts) > 40 else 9)
    ax.margins(y=0.005)
    ax.invert_yaxis()  # the first row on top: most first, ties alphabetical read downwards
    if len(counts.columns) > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


@lettered
def images_per_class(counts: pd.DataFrame, path: Path) -> Path:
    """``images_per_class_figure`` saved to ``path``."""
    return save(images_per_class_figure(counts), path)


@lettered
def image_sizes(sizes: pd.DataFrame, path: Path) -> Path:
    """``image_sizes_figure`` saved to ``path``."""
    return save(image_sizes_figure(sizes), path)


@lettered
def image_sizes_figure(sizes: pd.DataFrame) -> Figure:
    """Image sizes: a width/height scatter and each class's median width and height (a row per
    class under ``FEW_CLASSES``, else a histogram of them, widths and heights in the same bins,
    whole numbers of classes on its count axis). Medians, as explore's table: one huge photo
    moves a class's mean, not its median. Axes in pixels go logarithmic when the sizes span
    ``LOG_AXIS_FROM`` times or more, so one 6000x4000 photo does not crush the rest into a
    corner. Laid out once, so that the right panel's class names stand clear of the left panel
    (a newcomer's "crocodile_head" ran into its x=300 column) and its legend outside the panel
    (it covered a median marker), before ``save`` measures the figure's extent."""
    layout = ConstrainedLayoutEngine()
    fig = Figure(figsize=(11, 4.2), layout=layout)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(sizes["width"], sizes["height"], s=4, alpha=0.3)
    ax1.set_xlabel("width (px)")
    ax1.set_ylabel("height (px)")
    ax1.set_title(f"Image sizes ({plural(len(sizes), 'image')})")
    if spans_widely(sizes[["width", "height"]].to_numpy(float)):
        log_pixels(ax1, "x")
        log_pixels(ax1, "y")
    medians = sizes.groupby("class")[["width", "height"]].median()
    if len(medians) < FEW_CLASSES:
        median_size_strip(ax2, medians)
    else:
        median_size_histogram(ax2, medians)
    legend_beside(ax2)
    layout.execute(fig)
    fig.set_layout_engine("none")
    return fig


def legend_beside(ax: Any) -> None:
    """``ax``'s legend to the right of it, outside, where it hides no marker or bar."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def median_size_histogram(ax2: Any, medians: pd.DataFrame) -> None:
    """The classes' median widths and heights (``medians``) as two histograms in the same bins,
    on a log axis when they span widely, whole numbers of classes on the count axis."""
    import numpy as np

    values = medians.to_numpy(float).ravel()
    wide = spans_widely(values)
    positive = values[values > 0]
    bins = (
        np.geomspace(positive.min(), positive.max(), 31)
        if wide
        else np.histogram_bin_edges(values, bins=30)
    )
    ax2.hist(medians["width"], bins=bins, alpha=0.6, label="median width")
    ax2.hist(medians["height"], bins=bins, alpha=0.6, label="median height", hatch="///")
    if wide:
        log_pixels(ax2, "x")
    ax2.set_xlabel("pixels (median per class)")
    ax2.set_ylabel("classes")
    count_axis(ax2.yaxis)
    ax2.set_title("Distribution of per-class median sizes")


def spans_widely(values: Any) -> bool:
    """Whether positive values span ``LOG_AXIS_FROM`` times or more (none: no)."""
    positive = values[values > 0]
    return bool(positive.size) and float(positive.max()) >= LOG_AXIS_FROM * float(positive.min())


def log_pixels(ax: Any, which: str) -> None:
    """``ax``'s ``which`` axis ("x" or "y") in pixels, logarithmic, ticked at 1, 2 and 5 of each
    decade in plain numbers (``200``, ``1,000``): matplotlib's own labels of a span under two
    decades overlapped (``3x10^4x10^2``)."""
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    ax.set(**{f"{which}scale": "log"})
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axis.set_minor_formatter(NullFormatter())


FEW_CLASSES = 20
"""Under this many classes ``image_sizes.png`` shows each class's median width and height on a row
of its own: a histogram of 4 values, one bar each, said nothing (review53b nit 13)."""


def median_size_strip(ax: Any, medians: pd.DataFrame) -> None:
    """Each class's median width and height (``medians``), a row per class, alphabetical from the
    top, told apart by marker as well as colour; on a log axis when they span widely."""
    names = [plain(str(name)) for name in medians.index]
    ax.scatter(medians["width"], names, marker="o", label="median width")
    ax.scatter(medians["height"], names, marker="s", label="median height")
    if spans_widely(medians.to_numpy(float)):
        log_pixels(ax, "x")
    ax.invert_yaxis()
    ax.set_xlabel("pixels (median per class)")
    ax.set_title("Median image size per class")
    ax.grid(axis="x", alpha=0.3)


PREDICTIONS_PER_ROW = 4
"""Images side by side in ``predict --plot``'s grid: 20 images were one column of 20 rows, a
figure 1085 x 7529 pixels to scroll through; 4 to a row makes it 5 rows, about as wide as tall."""


@lettered
def predictions(
    rows: Sequence[tuple[Image.Image, str, Sequence[tuple[str, float]], bool]],
    path: Path,
    heading: str | None = None,
) -> Path:
    """Each image above a bar chart of its top-k class probabilities (the article's figure), in
    a grid of up to ``PREDICTIONS_PER_ROW`` a row, under ``heading`` (which images these are).

    A row's last item says the image was answered unknown: its chart's title says so in red."""
    return save(predictions_figure(rows, heading), path)


@lettered
def predictions_figure(
    rows: Sequence[tuple[Image.Image, str, Sequence[tuple[str, float]], bool]],
    heading: str | None = None,
) -> Figure:
    """:func:`predictions`' figure: a cell per image, its picture over its chart."""
    columns = min(len(rows), PREDICTIONS_PER_ROW)
    lines = -(-len(rows) // columns)
    # the heading on lines as wide as the figure (about 9 characters an inch at 13 points): what
    # the plot left out, of each kind, made it wider than two panels
    said = textwrap.wrap(plain(heading), int(3.8 * columns * 9)) if heading else []
    size = (3.8 * columns, 4.4 * lines + 0.3 * len(said) + (0.2 if said else 0))  # inches
    layout = ConstrainedLayoutEngine()
    fig = Figure(figsize=size, layout=layout)
    if said:
        fig.suptitle("\n".join(said), fontsize=13)
    grid = fig.add_gridspec(lines, columns, hspace=0.08)
    for n, (image, title, topk, unknown) in enumerate(rows):
        cell = grid[divmod(n, columns)].subgridspec(2, 1, height_ratios=[1.6, 1], hspace=0)
        ax1 = fig.add_subplot(cell[0])
        show_image(ax1, image)
        ax1.set_title(plain(title), fontsize=9)
        draw_topk(fig.add_subplot(cell[1]), topk, unknown)
    layout.execute(fig)  # laid out once, before ``save`` measures its extent
    fig.set_layout_engine("none")
    return fig


def draw_topk(ax, topk: Sequence[tuple[str, float]], unknown: bool) -> None:
    """An image's top-k classes as horizontal bars, the likeliest on top, each with its
    percentage; titled as unknown (red, with the closest class) when it was answered so."""
    names = [plain(name) for name, _ in topk][::-1]
    probs = [p for _, p in topk][::-1]
    ax.barh(names, probs, color="tab:blue")
    ax.set_xlim(0, 1.25)
    ax.set_xticks([0, 0.5, 1], ["0", "50%", "100%"])
    ax.tick_params(labelsize=8)
    if unknown:
        name, prob = topk[0]
        ax.set_title(f"unknown - closest: {plain(name)} {prob:.0%}", color="tab:red", fontsize=9)
    for y, p in enumerate(probs):
        ax.text(p + 0.01, y, f"{p:.1%}", va="center", fontsize=7)


LOG_AXIS_FROM = 10
"""The ratio of the most to the fewest training images of a class from which the x axis of
:func:`accuracy_vs_train_size` is logarithmic: below it, a log axis has no decade in view, and
its ticks read '2.02x10^1' or are missing."""


@lettered
def accuracy_vs_train_size(table: pd.DataFrame, path: Path, on: str = "on the test split") -> Path:
    """Per-class top-1 against the number of training images, with a trend in log n; ``on``:
    the images evaluated, as the y axis names them (``eval_dir.evaluated_words``)."""
    return save(accuracy_vs_train_figure(table, on), path)


@lettered
def accuracy_vs_train_figure(table: pd.DataFrame, on: str = "on the test split") -> Figure:
    """:func:`accuracy_vs_train_size`'s figure: a log x axis over a decade or more of training
    images, else a linear one with whole-number ticks; the y axis within 0-100%, where
    matplotlib's margin around classes all at 100% labelled ticks 102% and 104% (review62b L5),
    the points at its edge drawn whole."""

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.scatter(table["n_train"], table["top1"], s=12, label="top-1 per class", clip_on=False)
    if "top5" in table and table["top5"].notna().any():  # none with five classes or fewer
        ax.scatter(
            table["n_train"],
            table["top5"],
            s=8,
            marker="x",
            alpha=0.5,
            label="top-5 per class",
            clip_on=False,
        )
    if table.loc[table["n_train"] > 0, "n_train"].nunique() >= 3:
        grid, trend = accuracy_trend(table)
        ax.plot(grid, trend, color="tab:red", label="top-1 trend (logistic in log n)")
    scale_train_axis(ax, table["n_train"].to_numpy(float))
    ax.set_xlabel("training images in the class")
    ax.set_ylabel(f"accuracy {on}")
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, 0.0), min(high, 1.0))
    percent_axis(ax.yaxis)
    ax.set_title("Accuracy against the number of training images")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def accuracy_trend(table: pd.DataFrame, at: Any = None) -> tuple[Any, Any]:
    """The share of test images right against a class's training images: a logistic regression
    of each image's answer on log(training images), its classes' images pooled (``n_test`` each,
    one each without it), so that the trend stays within 0-100% and weighs a class by its test
    images, as report.html's sentence pools them. A straight line through the classes' top-1
    reached 104.9% at 300 training images on the default s0 run. Returns the training images
    (50 points over their range, or ``at``) and the trend there."""
    import numpy as np

    rows = table[table["n_train"] > 0]
    x = np.log(rows["n_train"].to_numpy(float))
    total = rows["n_test"].to_numpy(float) if "n_test" in rows else np.ones(len(rows))
    beta, centre = logistic_fit(x, rows["top1"].to_numpy(float) * total, total)
    points = np.linspace(x.min(), x.max(), 50) if at is None else np.log(np.asarray(at, float))
    trend = 1 / (1 + np.exp(-(beta[0] + beta[1] * (points - centre))))
    return np.exp(points), trend


def logistic_fit(x: Any, right: Any, total: Any, ridge: float = 1e-6) -> tuple[Any, float]:
    """Intercept and slope of a binomial logistic regression (``right`` of ``total`` at each
    ``x``, centred on its mean, also returned) by Newton's steps, the slope held by a small
    ``ridge`` where the classes separate; all right (or all wrong) gives a flat 100% (0%).

    Each step is halved until it raises the (penalised) log-likelihood: a full step from the
    start can overshoot into p of 0 or 1 on a run whose one-image class is wrong and the others
    nearly all right, every weight p(1 - p) underflowing and the solve meeting a singular matrix,
    though the fit exists there."""
    import numpy as np

    share, centre = right.sum() / total.sum(), float(x.mean())
    if share in (0.0, 1.0):
        return np.array([40.0 if share else -40.0, 0.0]), centre
    design = np.column_stack([np.ones_like(x), x - centre])
    penalty = np.diag([0.0, ridge])

    def log_likelihood(beta: Any) -> float:
        eta = design @ beta
        return float((right * eta - total * np.logaddexp(0, eta)).sum() - beta @ penalty @ beta / 2)

    beta = np.array([np.log(share / (1 - share)), 0.0])
    for _ in range(100):
        p = np.exp(-np.logaddexp(0.0, -(design @ beta)))  # 1 / (1 + e^-eta), no overflow
        gradient = design.T @ (right - total * p) - penalty @ beta
        hessian = design.T @ (design * (total * p * (1 - p))[:, None]) + penalty
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        while log_likelihood(beta + step) < log_likelihood(beta) and np.abs(step).max() > 1e-10:
            step = step / 2
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return beta, centre


def scale_train_axis(ax, counts) -> None:
    """A log x axis when the counts span ``LOG_AXIS_FROM`` times or more, else a linear one with
    whole-number ticks, at least one image either side of the counts in view."""
    from matplotlib.ticker import MaxNLocator

    positive = counts[counts > 0]
    if len(positive) and positive.max() >= LOG_AXIS_FROM * positive.min():
        ax.set_xscale("log")
        return
    low, high = (counts.min(), counts.max()) if len(counts) else (0, 1)
    pad = max(1.0, 0.05 * (high - low))
    ax.set_xlim(low - pad, high + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def confused_order(matrix, classes: Sequence[str], limit: int = 30) -> list[int]:
    """Class indices for a readable heatmap: the commonest confusions, partners side by side.
    The pairs are found in one pass over the matrix (a loop over the 499,500 pairs of 1,000
    classes took 5 to 13 s)."""
    import torch

    off = matrix.clone()
    off.fill_diagonal_(0)
    rows, columns = torch.triu_indices(len(classes), len(classes), 1)
    both = (off + off.T)[rows, columns]
    kept = both > 0
    pairs = sorted(
        zip(both[kept].tolist(), rows[kept].tolist(), columns[kept].tolist(), strict=True),
        reverse=True,
    )
    return partners_side_by_side(pairs, len(classes), limit)


def partners_side_by_side(
    pairs: list[tuple[int, int, int]], n_classes: int, limit: int = 30
) -> list[int]:
    """The classes of ``pairs`` (count, i, j), most confused first, each pair's two side by side,
    at most ``limit``; the first ``limit`` classes when there is no pair."""
    order: list[int] = []
    for _, i, j in pairs:
        for k in (i, j):
            if k not in order and len(order) < limit:
                order.append(k)
    return order or list(range(min(limit, n_classes)))


DARK_CELL = 0.72
"""The share from which a heatmap cell (Blues) is written on in white: from there white stands
out of it more than black does, each by at least 4.5 to 1 (WCAG AA for text)."""


@lettered
def confusion_heatmap(matrix, classes: Sequence[str], path: Path, limit: int = 30) -> Path:
    """Row-normalised confusion among the (at most ``limit``) classes most involved in errors."""
    import numpy as np

    order = confused_order(matrix, classes, limit)
    counts = matrix.numpy().astype(float)
    rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    sub = rows[np.ix_(order, order)]
    names = [plain(classes[i]) for i in order]
    size = max(5.0, 0.32 * len(order) + 2)
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.subplots()
    image = ax.imshow(sub, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    title = "Confusion (each true class's row adds up to 100%)"
    if len(order) < len(classes):
        title += f": the {plural(len(order), 'class', 'classes')} most involved in errors"
    ax.set_title(title)
    for i in range(len(order)):
        for j in range(len(order)):
            if i != j and sub[i, j] >= 0.05:
                ink = "white" if sub[i, j] >= DARK_CELL else "black"  # black was lost on dark blue
                ax.text(j, i, f"{sub[i, j]:.0%}", ha="center", va="center", fontsize=6, color=ink)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    percent_axis(bar.ax.yaxis)
    return save(fig, path)


@lettered
def gallery(
    tiles: Sequence[tuple[Image.Image, str, bool]],
    path: Path,
    title: str,
    columns: int = 4,
    empty: str = "no image to show",
) -> Path:
    """Images in a grid, each with a caption (red when the prediction was wrong); without any,
    the sentence ``empty`` in their place."""
    rows = max(1, -(-len(tiles) // columns))
    fig = Figure(figsize=(3.2 * columns, 3.4 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(tiles) :]:
        ax.axis("off")
    if not tiles:
        fig.text(0.5, 0.5, empty, ha="center", va="center", fontsize=12)
    for ax, (image, caption, wrong) in zip(axes, tiles, strict=False):
        show_image(ax, image)
        ax.set_title(plain(caption), fontsize=8, color="tab:red" if wrong else "black")
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


@lettered
def reliability_diagram(tables: dict[str, pd.DataFrame], path: Path) -> Path:
    """Accuracy against confidence per bin, one panel per table (e.g. before and after
    calibration), with the diagonal a perfectly calibrated model would follow and the bin counts."""
    fig = Figure(figsize=(5 * len(tables), 4.6))
    axes = fig.subplots(1, len(tables), squeeze=False)[0]
    for ax, (title, table) in zip(axes, tables.items(), strict=True):
        used = table[table["count"] > 0]
        width = float((table["high"] - table["low"]).iloc[0])
        ax.bar(
            used["low"],
            used["accuracy"],
            width=width,
            align="edge",
            alpha=0.75,
            edgecolor="black",
            label="accuracy",
        )
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
        ax.plot(
            used["confidence"],
            used["accuracy"],
            "o",
            color="crimson",
            markersize=3,
            label="mean confidence",
        )
        for row in used.itertuples():
            ax.annotate(str(row.count), (row.low + width / 2, 0.02), ha="center", fontsize=6)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top-1 probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=8)
    return save(fig, path)

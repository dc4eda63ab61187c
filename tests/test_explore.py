import importlib

import pytest

from objrec.explore import explore


@pytest.mark.slow
def test_explore_counts_per_split_and_reads_sizes(tmp_path, split_dir):
    result = explore(split_dir, tmp_path / "out")
    assert result.counts.loc["red"].to_dict() == {"train": 6, "valid": 3, "test": 3}
    assert set(result.size_stats.columns) >= {"width_mean", "height_mean", "width_max"}
    assert (
        result.size_stats.loc["red", "width_min"] == 32
        and result.size_stats.loc["red", "width_max"] == 44
    )
    for name in (
        "counts.csv",
        "size_stats.csv",
        "sizes.csv",
        "images_per_class.png",
        "image_sizes.png",
    ):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_explore_a_plain_class_folder_reports_unreadable_files(tmp_path, image_folder, caplog):
    """... and names an empty class folder, which it leaves out (it was dropped without a word)."""
    (image_folder / "red" / "broken.jpg").write_bytes(b"nope")
    (image_folder / "empty_class").mkdir()
    with caplog.at_level("WARNING"):
        result = explore(image_folder)
    assert "a class folder holds no images: left out" in caplog.text
    assert caplog.text.rstrip().endswith(": empty_class")  # relative to DATA, as split's files
    assert "empty_class" not in result.counts.index
    assert list(result.counts.columns) == ["all"] and result.counts.loc["green", "all"] == 12
    assert result.unreadable_files == ["red/broken.jpg"]  # as split's and check's (review65b M3)
    assert result.unreadable_reasons["red/broken.jpg"].startswith("cannot read image")


@pytest.mark.slow
def test_explore_says_how_many_files_it_ignored(tmp_path, image_folder, caplog):
    """explore counted the images and passed over a RAW-only photo without a word."""
    (image_folder / "red" / "IMG_1.CR2").write_bytes(b"raw")
    with caplog.at_level("WARNING"):
        result = explore(image_folder)
    assert (result.ignored.files, result.ignored.example) == (1, "red/IMG_1.CR2")
    assert "ignored 1 file: red/IMG_1.CR2 (a camera RAW photo with no image of its" in caplog.text


def test_explore_names_a_link_to_a_class_folder_not_there(tmp_path, image_folder, caplog):
    """review63a M2: a class folder linked from a drive unplugged was called "outside a class
    folder"; explore says it is a link to a folder not there, whose class is left out."""
    (image_folder / "grey").symlink_to(tmp_path / "unplugged")
    with caplog.at_level("WARNING"):
        result = explore(image_folder)
    assert result.ignored is not None and result.ignored.by_kind() == {"gone_folder": ["grey"]}
    assert "grey (a link to a folder that is not there" in caplog.text


def test_explore_names_the_files_outside_the_class_folders_as_split_does(
    split_dir, image_folder, caplog
):
    """A photo beside the class folders (in a split folder's train/, or a class folder's top)
    was left out of explore's counts without a word, where split and check name it. It is named
    in the line of ignored files, as split's; the split folder's own manifest.csv is not."""
    import shutil

    for stray in (split_dir / "train" / "stray.png", image_folder / "stray.png"):
        shutil.copy(next((split_dir / "train" / "red").iterdir()), stray)
    (image_folder / "notes.txt").write_text("where the photos came from")
    with caplog.at_level("WARNING"):
        split, plain = explore(split_dir), explore(image_folder)
    assert split.ignored is not None and plain.ignored is not None
    assert split.ignored.outside_classes == 1 and plain.ignored.outside_classes == 2
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ignored")]
    assert said == [
        "ignored 1 file: train/stray.png (outside a class folder)",
        "ignored 2 files: notes.txt, stray.png (outside a class folder)",
    ]


def test_a_class_empty_in_one_split_only_is_counted_as_0_not_said_left_out(split_dir, caplog):
    """A split folder's class emptied in test was warned about as "left out", yet the table
    counted it (train 5, valid 2, test 0)."""
    for image in (split_dir / "test" / "red").iterdir():
        image.unlink()
    (split_dir / "test" / "purple").mkdir()
    with caplog.at_level("WARNING"):
        result = explore(split_dir)
    assert result.counts.loc["red", "test"] == 0 and result.counts.loc["red", "train"] > 0
    assert "purple" not in result.counts.index
    lines = caplog.text.splitlines()
    assert any("counted as 0 in its split" in ln and "red" in ln for ln in lines)
    assert any("left out" in ln and "purple" in ln and "red" not in ln for ln in lines)


@pytest.mark.slow
def test_explore_never_writes_into_a_non_empty_folder_without_force(tmp_path, split_dir):
    from objrec.errors import ObjrecError

    out = tmp_path / "mine"
    out.mkdir()
    (out / "counts.csv").write_text("my own file")
    with pytest.raises(ObjrecError, match="not empty"):
        explore(split_dir, out)
    assert (out / "counts.csv").read_text() == "my own file"
    with pytest.raises(ObjrecError, match=r"counts\.csv is not a file objrec wrote"):
        explore(split_dir, out, force=True)  # --force writes over objrec's outputs only
    assert (out / "counts.csv").read_text() == "my own file"
    explore(split_dir, tmp_path / "explored")
    explore(split_dir, tmp_path / "explored", force=True)


@pytest.mark.slow
@pytest.mark.figures
def test_the_legend_of_images_per_class_hides_no_bar():
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from objrec.plots import images_per_class_figure

    counts = pd.DataFrame(
        {"train": [12] * 6, "valid": [6] * 6, "test": [6] * 6},
        index=[f"class {i}" for i in range(6)],
    )
    fig = images_per_class_figure(counts)
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    bars = [bar.get_window_extent() for bar in ax.patches]
    assert len(bars) == 18 and not any(legend.overlaps(bar) for bar in bars)


@pytest.mark.slow
@pytest.mark.figures
def test_the_data_figures_read_top_down_and_their_legends_hide_no_curve():
    """review53b nit 13: "Images per class" listed classes of as many images bottom-up
    (accordion at the bottom); image_sizes.png drew the means of 4 classes as a histogram of one
    bar each, which said nothing; the accuracy curve's legend sat over the curves. Classes read
    most first, then alphabetical, from the top; under FEW_CLASSES a row per class with its median
    width and height; the training curves' one legend stands below both panels."""
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from objrec import plots

    counts = pd.DataFrame({"all": [5, 5, 9, 5]}, index=["cup", "accordion", "ant", "bonsai"])
    ax = plots.images_per_class_figure(counts).axes[0]
    ax.figure.draw_without_rendering()
    rows = sorted(ax.get_yticklabels(), key=lambda t: -t.get_window_extent().y0)
    assert [t.get_text() for t in rows] == ["ant", "accordion", "bonsai", "cup"]
    sizes = pd.DataFrame({"class": list("badc"), "width": [90, 120, 150, 160], "height": [8] * 4})
    ax = plots.image_sizes_figure(sizes).axes[1]
    ax.figure.draw_without_rendering()
    assert ax.get_title() == "Median image size per class"
    rows = sorted(ax.get_yticklabels(), key=lambda t: -t.get_window_extent().y0)
    assert [t.get_text() for t in rows] == list("abcd")
    history = {"epoch": list(range(1, 11)), "train_loss": [1 / e for e in range(1, 11)]}
    history |= {"valid_loss": history["train_loss"], "train_acc": [0.1 * e for e in range(1, 11)]}
    history["valid_acc"] = history["train_acc"]
    fig = plots.training_curves_figure(history, best=9)
    FigureCanvasAgg(fig).draw()
    legend = fig.legends[0].get_window_extent()
    assert not any(legend.overlaps(ax.get_window_extent()) for ax in fig.axes)
    assert not any(ax.get_legend() for ax in fig.axes)


@pytest.mark.slow
def test_an_output_refused_at_the_end_leaves_the_others_as_they_were(
    tmp_path, image_folder, monkeypatch
):
    """A re-run refused for the user's image_sizes.png (saved while it read the images) had
    already replaced counts.csv, size_stats.csv, sizes.csv and images_per_class.png: exit 1,
    yet half the folder new. Every output is checked before the first is written."""
    from objrec.errors import ObjrecError

    module = importlib.import_module("objrec.explore")  # `objrec.explore` is the function

    out = tmp_path / "photos-explore"
    explore(image_folder, out)
    before = {p.name: p.stat().st_ino for p in out.iterdir()}
    summarise = module.summarise_sizes

    def saved_meanwhile(*args, **kwargs):
        (out / "image_sizes.png").write_bytes(b"the user's own plot")
        return summarise(*args, **kwargs)

    monkeypatch.setattr(module, "summarise_sizes", saved_meanwhile)
    with pytest.raises(ObjrecError, match=r"image_sizes\.png changed after objrec wrote it"):
        explore(image_folder, out, refresh=True)
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == before
    assert (out / "image_sizes.png").read_bytes() == b"the user's own plot"


@pytest.mark.slow
def test_a_forced_run_keeps_a_namesake_the_user_saved_while_it_ran(
    tmp_path, image_folder, monkeypatch
):
    """--force writes over objrec's outputs only, told before the first is written: the user's
    counts.csv saved into an audit's folder (or a folder of theirs) while a forced explore read
    the images was written over, where one saved before the run was refused, 'not a file objrec
    wrote'. It is refused the same, and nothing is written."""
    import json

    from objrec.errors import ObjrecError
    from objrec.outputs import AUDIT_FILES, output_file, prepare_output_dir

    audited, mine = tmp_path / "photos-audit", tmp_path / "mine"
    prepare_output_dir(audited, names=AUDIT_FILES)  # what `audit --out photos-audit` made
    with output_file(audited, "audit.json") as tmp:
        tmp.write_text(json.dumps({"label_issues": [], "outliers": []}))
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    module = importlib.import_module("objrec.explore")  # `objrec.explore` is the function
    summarise = module.summarise_sizes
    for out in (audited, mine):

        def saved_meanwhile(*args, out=out, **kwargs):
            (out / "counts.csv").write_text("my own counts")
            return summarise(*args, **kwargs)

        monkeypatch.setattr(module, "summarise_sizes", saved_meanwhile)
        before = sorted(p.name for p in out.iterdir())
        with pytest.raises(ObjrecError, match=r"counts\.csv is not a file objrec wrote"):
            explore(image_folder, out, force=True)
        assert (out / "counts.csv").read_text() == "my own counts"
        assert sorted(p.name for p in out.iterdir() if p.name != "counts.csv") == before


@pytest.mark.slow
@pytest.mark.figures
def test_class_names_with_dollar_signs_are_drawn_as_named_not_as_mathtext(tmp_path):
    """A class named "cost $x^$" stopped explore and evaluate with matplotlib's mathtext
    ParseSyntaxException, and one named "$a$ b" was drawn as an italic "a b": names are text."""
    import pandas as pd
    import torch
    from PIL import Image

    from objrec import plots

    names = ["cost $x^$", "$a$ b", "c"]
    fig = plots.images_per_class_figure(pd.DataFrame({"all": [3, 4, 5]}, index=names))
    fig.draw_without_rendering()  # lays out (and parses) every text, paints no pixel
    drawn = [label.get_text() for label in fig.axes[0].get_yticklabels()]
    assert sorted(label.replace("\\$", "$") for label in drawn) == sorted(names)
    assert not any(
        label._preprocess_math(label.get_text())[1] for label in fig.axes[0].get_yticklabels()
    )
    plots.images_per_class(pd.DataFrame({"all": [3, 4, 5]}, index=names), tmp_path / "c.png")
    matrix = torch.tensor([[2, 1, 0], [1, 2, 0], [0, 0, 3]])
    plots.confusion_heatmap(matrix, names, tmp_path / "m.png")
    tile = (Image.new("RGB", (8, 8)), "true cost $x^$\npredicted $a$ b (90%)", True)
    plots.gallery([tile], tmp_path / "g.png", "Top losses")
    rows = [(Image.new("RGB", (8, 8)), "x.jpg", [("cost $x^$", 0.6), ("$a$ b", 0.4)], True)]
    plots.predictions(rows, tmp_path / "p.png")


@pytest.mark.slow
@pytest.mark.figures
def test_names_no_font_has_give_one_note_not_a_warning_per_character(tmp_path, caplog, monkeypatch):
    """evaluate of a file named in katakana printed 9 copies of matplotlib's "UserWarning: Glyph
    12459 (KATAKANA LETTER KA) missing from font(s) DejaVu Sans": now one note is logged, once,
    and a font that has them (a CJK one, where installed) draws them."""
    import logging
    import warnings

    import torch
    from PIL import Image

    from objrec import plots

    monkeypatch.setattr(plots, "_noted", [])
    tile = (Image.new("RGB", (8, 8)), "カタカナ/写真.jpg\npredicted カメラ (90%)", True)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        plots.gallery([tile, tile], tmp_path / "g.png", "Top losses")
        plots.confusion_heatmap(torch.eye(2, dtype=torch.long), ["カメラ", "b"], tmp_path / "m.png")
    assert [str(w.message) for w in caught] == []
    notes = [r.getMessage() for r in caplog.records if r.name == "objrec.plots"]
    assert notes in ([], [plots.BOXES_NOTE])  # none where a CJK font is installed


@pytest.mark.figures
def test_figures_fall_back_to_the_installed_fonts_of_other_scripts(monkeypatch):
    from types import SimpleNamespace

    from matplotlib import font_manager, rcParams

    from objrec import plots

    names = ["DejaVu Sans", "Noto Sans CJK JP", "Liberation Serif", "WenQuanYi Zen Hei"]
    monkeypatch.setattr(
        font_manager.fontManager, "ttflist", [SimpleNamespace(name=n) for n in names]
    )
    assert plots.font_families.__wrapped__() == (
        *rcParams["font.family"],
        "Noto Sans CJK JP",
        "WenQuanYi Zen Hei",
    )


@pytest.mark.slow
def test_a_class_whose_every_image_is_unreadable_is_counted_as_0_not_left_out(
    tmp_path, image_folder, capsys
):
    """A class folder of only unreadable files vanished from counts.csv, the plot and the table,
    the class train would find without a single image; the CLI's table is read by class too."""
    from objrec.cli import main

    (image_folder / "grey").mkdir()
    (image_folder / "grey" / "broken.jpg").write_bytes(b"nope")
    result = explore(image_folder)
    assert result.counts.loc["grey"].to_dict() == {"all": 0}
    assert result.counts.loc["red"].to_dict() == {"all": 12} and len(result.unreadable_files) == 1
    assert main(["explore", str(image_folder), "--out", str(tmp_path / "e")]) == 0
    assert "grey" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.figures
def test_count_axes_tick_whole_numbers_and_shares_read_as_percentages(monkeypatch):
    """With 20 images a class, images_per_class.png's axis read '2.5, 7.5, 12.5' images and
    image_sizes.png's '0.25, 0.75' classes; the confusion heatmap's colour bar and
    accuracy_vs_train.png read shares as '0.2' beside cells written '20%'."""
    import pandas as pd
    import torch

    from objrec import plots

    def ticks(axis) -> list[str]:
        axis.figure.draw_without_rendering()  # lays out the ticks' text, paints no pixel
        return [label.get_text() for label in axis.get_ticklabels() if label.get_text()]

    counts = pd.DataFrame({"train": [10] * 3, "valid": [5] * 3, "test": [5] * 3}, list("abc"))
    shown = ticks(plots.images_per_class_figure(counts).axes[0].xaxis)
    assert shown and all(text.isdigit() for text in shown), shown
    names = [f"c{i:02}" for i in range(plots.FEW_CLASSES)]  # a histogram: a count axis
    sizes = pd.DataFrame({"class": names, "width": range(90, 110), "height": range(70, 90)})
    shown = ticks(plots.image_sizes_figure(sizes).axes[1].yaxis)
    assert shown and all(text.isdigit() for text in shown), shown
    table = pd.DataFrame({"n_train": [3, 5, 8], "top1": [0.5, 0.8, 1.0]})
    shown = ticks(plots.accuracy_vs_train_figure(table).axes[0].yaxis)
    assert shown and all(text.endswith("%") for text in shown), shown
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig))
    plots.confusion_heatmap(torch.tensor([[4, 1], [1, 4]]), ["a", "b"], None)
    shown = ticks(figures[0].axes[1].yaxis)  # the colour bar
    assert shown and all(text.endswith("%") for text in shown), shown


def test_explore_warns_once_of_a_strongly_imbalanced_training_split(split_dir, caplog):
    """50 training images of red against 1 of blue: one warning naming class weighting."""
    from .conftest import make_imbalanced

    with caplog.at_level("WARNING"):
        explore(split_dir)
    assert "imbalanced" not in caplog.text  # 6 of each
    make_imbalanced(split_dir)
    with caplog.at_level("WARNING"):
        explore(split_dir)
    hints = [r.getMessage() for r in caplog.records if "imbalanced" in r.getMessage()]
    assert len(hints) == 1 and "red has 50 training images, blue 1 (50 to 1" in hints[0]
    assert "`train(data, out=run, balance='weights')` weighs each class's loss" in hints[0]


def test_explore_names_a_class_tested_on_few_photos_beside_a_large_one(split_dir, caplog):
    """newcomer64 (5): a stapler of 18 photos beside 179 watches (10 to 1, under the 50 to 1 of
    the imbalance warning and just under check's 10 to 1) was said by nothing until evaluate's
    table gave it 75% on 4 test photos and the stricter threshold was refused for it. explore,
    where the counts are first seen after split, names such a class and what it does to its
    figures."""
    with caplog.at_level("WARNING"):
        explore(split_dir)
    assert "few images beside" not in caplog.text  # 3 test images of each, none large
    for split, n in (("train", 50), ("valid", 25), ("test", 25)):
        red = sorted((split_dir / split / "red").iterdir())
        for i in range(len(red), n):
            (red[0].parent / f"copy_{i:03d}{red[0].suffix}").write_bytes(red[0].read_bytes())
    caplog.clear()
    with caplog.at_level("WARNING"):
        explore(split_dir)
    hints = [r.getMessage() for r in caplog.records if "few images beside" in r.getMessage()]
    assert hints == [
        "2 classes have few images beside red with 100 (8 to 1 at most): blue (6 training, 3 "
        "test), green (6 training, 3 test); each test photo moves such a class's top-1 by 10 "
        "points or more, the overall top-1 hides it, and it is the first said unknown (a "
        "stricter threshold may be refused for it): more photos of it help most"
    ]


def contrast(a, b) -> float:
    """WCAG's contrast ratio of two matplotlib colours (1 to 21)."""
    import numpy as np
    from matplotlib.colors import to_rgb

    def luminance(colour) -> float:
        c = np.array(to_rgb(colour))
        c = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return float(c @ [0.2126, 0.7152, 0.0722])

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.slow
@pytest.mark.figures
def test_the_shares_in_the_confusion_heatmap_stand_out_of_their_cells(monkeypatch):
    """A class taken for another every time had its "100%" written in black on the heatmap's
    darkest blue (1.7 to 1): unreadable (a11y40 #6). Each share stands out of its cell by at
    least WCAG AA's 4.5 to 1."""
    import torch

    from objrec import plots

    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig))
    matrix = torch.tensor([[0, 5, 0, 0], [0, 4, 1, 0], [0, 3, 3, 0], [0, 0, 1, 9]])
    plots.confusion_heatmap(matrix, list("abcd"), None)
    ax = figures[0].axes[0]
    cells = ax.images[0]
    shares = [(t.get_text(), t.get_color(), t.get_position()) for t in ax.texts]
    assert {text for text, _, _ in shares} == {"100%", "20%", "50%", "10%"}
    for text, ink, (column, row) in shares:
        cell = cells.cmap(cells.norm(cells.get_array()[round(row), round(column)]))
        assert contrast(ink, cell) >= 4.5, (text, ink, cell)


@pytest.mark.slow
@pytest.mark.figures
def test_the_series_of_a_figure_are_told_apart_without_their_colours(monkeypatch):
    """In grey, or to a red-green colour-blind eye, images_per_class.png's train (blue) and test
    (green) were one colour, as were the mean widths and heights of image_sizes.png and the two
    lines of curves.png told apart by colour alone (a11y40 #5): each has a hatch or a marker."""
    import pandas as pd

    from objrec import plots

    counts = pd.DataFrame({"train": [10] * 3, "valid": [5] * 3, "test": [5] * 3}, list("abc"))
    bars = plots.images_per_class_figure(counts).axes[0].containers
    assert len({bar.patches[0].get_hatch() or "" for bar in bars}) == 3
    names = [f"c{i:02}" for i in range(plots.FEW_CLASSES)]
    sizes = pd.DataFrame({"class": names, "width": range(90, 110), "height": range(70, 90)})
    hists = plots.image_sizes_figure(sizes).axes[1].containers
    assert len({hist.patches[0].get_hatch() or "" for hist in hists}) == 2
    sizes = pd.DataFrame({"class": list("ab"), "width": [90, 120], "height": [80, 90]})
    strips = plots.image_sizes_figure(sizes).axes[1].collections  # few classes: a row each
    assert len({tuple(strip.get_paths()[0].vertices.ravel()) for strip in strips}) == 2
    history = {
        "epoch": [1, 2],
        **{f"{s}_{m}": [0.5, 0.4] for s in ("train", "valid") for m in ("loss", "acc")},
    }
    for ax in plots.training_curves_figure(history, best=2).axes:
        train, valid = ax.lines[:2]
        assert (train.get_marker(), train.get_linestyle()) != (
            valid.get_marker(),
            valid.get_linestyle(),
        )


@pytest.mark.slow
@pytest.mark.figures
def test_one_huge_photo_does_not_crush_the_size_plot():
    """One 6000x4000 photo among 300-pixel ones drew image_sizes.png on linear axes, every other
    point in its bottom-left corner, and its class's mean moved to 1,250 (newcomer56 #6): the
    axes go logarithmic, ticked in plain numbers, and each class shows its median; sizes of one
    scale stay linear."""
    import pandas as pd

    from objrec import plots

    sizes = pd.DataFrame(
        {"class": ["ewer"] * 6 + ["cup"] * 3, "width": [300] * 5 + [6000] + [320] * 3}
    ).assign(height=lambda frame: frame.width * 3 // 4)
    scatter, strip = plots.image_sizes_figure(sizes).axes
    assert (scatter.get_xscale(), scatter.get_yscale()) == ("log", "log")
    scatter.figure.draw_without_rendering()  # plain labels, not overlapping "3x10^4x10^2"
    assert {"200", "1,000", "5,000"} <= {label.get_text() for label in scatter.get_xticklabels()}
    assert sorted(strip.collections[0].get_offsets()[:, 0]) == [300, 320]  # medians, not 1,250
    assert strip.get_xscale() == "linear"
    scatter, _ = plots.image_sizes_figure(sizes[sizes.width < 1000]).axes
    assert (scatter.get_xscale(), scatter.get_yscale()) == ("linear", "linear")
    names = [f"c{i:02}" for i in range(plots.FEW_CLASSES)]
    sizes = pd.DataFrame({"class": names, "width": [300] * 19 + [6000], "height": 200})
    assert plots.image_sizes_figure(sizes).axes[1].get_xscale() == "log"  # a histogram


@pytest.mark.slow
def test_explore_shows_its_plots_being_drawn(tmp_path, split_dir):
    """explore of the 100-class protocol's split sat 2.5 s after its last image, drawing its
    plots, with nothing on screen."""
    from .conftest import TaskRecorder

    reporter = TaskRecorder()
    explore(split_dir, tmp_path / "out", reporter)
    assert reporter.tasks == ["reading image sizes", "writing the tables and plots"]


def test_one_huge_photo_does_not_move_the_size_explore_shows():
    """A "mean size" read 532 x 515 for 25 photos of about 300 pixels and one of 8000x6000:
    explore shows the median, kept beside the mean in size_stats.csv."""
    import pandas as pd

    from objrec.explore import summarise_sizes

    widths = [300] * 5 + [8000]
    sizes = pd.DataFrame(
        {
            "class": "ewer",
            "split": "all",
            "file": [f"{i}.jpg" for i in range(6)],
            "width": widths,
            "height": [280] * 5 + [6000],
        }
    )
    stats = summarise_sizes(sizes, []).size_stats.loc["ewer"]
    assert (stats.width_median, stats.height_median) == (300, 280)
    assert stats.width_mean > 1000  # the mean a huge photo moves stays in the CSV


def text_boxes(fig) -> dict[str, list]:
    """Each panel's words as drawn (title, axis labels, tick labels; in window pixels, at the
    DPI ``plots.save`` draws at), and the legends', by owner."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from objrec import plots

    fig.set_dpi(plots.DPI)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    boxes: dict[str, list] = {}
    for n, ax in enumerate(fig.axes):
        texts = [ax.title, ax.xaxis.label, ax.yaxis.label]
        texts += [*drawn_ticks(ax.get_xticklabels(), ax.get_xlim(), 0)]
        texts += [*drawn_ticks(ax.get_yticklabels(), ax.get_ylim(), 1)]
        shown = [t for t in texts if t.get_visible() and t.get_text()]
        boxes[f"panel {n}"] = [t.get_window_extent(renderer) for t in shown]
        if ax.get_legend():
            boxes[f"legend {n}"] = [ax.get_legend().get_window_extent(renderer)]
    return boxes


def drawn_ticks(labels, limits, which: int) -> list:
    """The tick ``labels`` within an axis' ``limits`` (``which``: 0 for x, 1 for y), those drawn:
    matplotlib also lists a tick just outside them, never drawn."""
    low, high = sorted(limits)
    return [t for t in labels if low <= t.get_position()[which] <= high]


@pytest.mark.slow
@pytest.mark.parametrize("many", [False, True])
def test_image_sizes_words_stand_clear_of_the_other_panel_and_the_legend_of_the_markers(many):
    """A newcomer's image_sizes.png (explore's, and report.html's) drew the right panel's class
    names ("cougar_body", "crocodile_head", "flamingo_head") over the left panel's x=300 column,
    and its legend over cougar_body's median-height marker. Now no word of one panel overlaps the
    other panel or its words, and each legend lies outside every panel, where it hides no marker
    or bar (the row a class, and the histogram of FEW_CLASSES classes or more)."""
    import pandas as pd

    from objrec import plots

    names = ["cougar_body", "crocodile_head", "flamingo_head", "crayfish", "lobster", "ibis"]
    if many:
        names = [f"{name}_{n}" for name in names for n in range(4)]
    sizes = pd.DataFrame(
        {
            "class": [name for name in names for _ in range(3)],
            "width": [300, 300, 290] * len(names),
            "height": [230, 229, 300] * len(names),
        }
    )
    fig = plots.image_sizes_figure(sizes)
    boxes = text_boxes(fig)
    panels = [ax.get_window_extent() for ax in fig.axes]
    for owner, own in boxes.items():
        n = int(owner[-1])
        others = [p for m, p in enumerate(panels) if m != n or owner.startswith("legend")]
        others += [b for other, theirs in boxes.items() if other != owner for b in theirs]
        crossing = [(owner, box) for box in own for other in others if box.overlaps(other)]
        assert crossing == []

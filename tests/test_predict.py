"""predict: top-k per image, a bad input never stopping the rest, TTA, Grad-CAM overlays."""

import io
import json
import os
import sys
from collections import Counter
from itertools import product
from pathlib import Path

import pytest

from objrec.predict import expand_paths, predict
from objrec.progress import TqdmReporter

from .conftest import make_image


def test_predict_reports_an_unreadable_file_and_predicts_the_rest(tmp_path, trained_run, split_dir):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00\x01")
    good = next((split_dir / "test" / "red").iterdir())
    shown = io.StringIO()  # the reporter a notebook user passes: tqdm's bars
    results = predict(trained_run, [bad, good], reporter=TqdmReporter(file=shown))
    # the bad one is refused by its first bytes, before the model loads: one image to predict
    assert "predicting: 100%" in shown.getvalue() and "1/1" in shown.getvalue()
    assert results[0].path == str(bad) and not results[0].topk
    assert results[0].error.startswith("cannot read image")
    assert results[0].to_json()["filename"] == "bad.jpg"  # as for a readable image, and as serve
    assert results[1].error is None and len(results[1].topk) == 3
    table = results.table()  # a DataFrame, for a notebook: predict --csv's rows
    assert list(table["filename"]) == ["bad.jpg", good.name] and table["class_3"].notna()[1]
    assert table["error"][0] == results[0].error and table["answer"][1] == results[1].answer


def test_predict_warns_once_of_the_run_s_own_training_and_validation_images(
    tmp_path, trained_run, split_dir, caplog
):
    """evaluate warns of images the run trained or validated on; predict said nothing of them,
    and a user trying it on a training photo read its answer as a test of the model. It says so
    once, by content (a copy under another name too), from the run's record of what it saw;
    a test image, a new one and an unreadable file are not named."""
    import shutil

    train, valid = sorted((split_dir / "train" / "red").iterdir()), split_dir / "valid" / "blue"
    copy = Path(shutil.copyfile(train[0], tmp_path / "renamed.png"))
    new = tmp_path / "new.png"
    make_image((200, 40, 40), seed=99).save(new)
    (bad := tmp_path / "bad.jpg").write_bytes(b"\x00\x01")
    tested = next((split_dir / "test" / "red").iterdir())
    given = [copy, train[1], next(valid.iterdir()), tested, new, bad]
    with caplog.at_level("WARNING", "objrec"):
        predict(trained_run, given)
    said = [r.getMessage() for r in caplog.records if "the run's own" in r.getMessage()]
    assert said == [
        "3 of the 5 images answered are the run's own 2 training and 1 validation images (same "
        f"file contents: {copy}, {train[1]}, {next(valid.iterdir())}): their answers overstate "
        "how well it does on new photos"
    ]


def test_predict_reads_each_photo_once_for_its_answer_and_the_check_of_the_run_s_own_images(
    tmp_path, trained_run, split_dir, monkeypatch, caplog
):
    """predict's check of photos that are the run's own images hashed each photo the file index
    did not know with a read of its own, beside the decode's: a folder of new photos was read
    twice. The digest is taken from the bytes read to decode it (or from the index): each photo
    is read once, and a copy of a training photo is still named."""
    import shutil

    from .conftest import opens_counted

    copy = Path(
        shutil.copyfile(
            sorted((split_dir / "train" / "red").iterdir())[0], tmp_path / "renamed.png"
        )
    )
    make_image((200, 40, 40), seed=99).save(new := tmp_path / "new.png")
    with caplog.at_level("WARNING", "objrec"), opens_counted(monkeypatch) as opened:
        answers = predict(trained_run, [copy, new])
    assert [r.error for r in answers] == [None, None]
    assert (opened["renamed.png"], opened["new.png"]) == (1, 1)
    said = [r.getMessage() for r in caplog.records if "the run's own" in r.getMessage()]
    assert said == [
        "1 of the 2 images answered is one of the run's own training images (same file "
        f"contents: {copy}): its answer overstates how well it does on new photos"
    ]  # msgs55: "their answers overstate" of one image


@pytest.mark.slow
def test_predict_s_progress_moves_during_a_folder_of_20_photos(tmp_path, trained_run):
    """`objrec predict RUN folder_of_20_photos` sat at "predicting 0/20" until all 20 were
    answered (one batch of 32, its first call making the model's runtime ready too). Getting
    the model ready is a step of its own, named, and the photos are counted 16 at a time. Photos
    the store holds (answered from their features) need no such step."""
    from .conftest import TaskRecorder

    (photos := tmp_path / "photos20").mkdir()
    for i in range(20):
        make_image((200, 40, 40), seed=900 + i).save(photos / f"photo{i:02d}.png")
    reporter = TaskRecorder()
    results = predict(trained_run, photos, reporter=reporter)
    assert len(results) == 20 and all(r.error is None for r in results)
    # after the model's file was read, seconds too; what it does named
    ready = "getting the model ready: preparing how photos are resized and normalised"
    assert reporter.tasks == ["loading the model", ready, "predicting"]
    assert reporter.totals["loading the model"] is None and reporter.totals[ready] is None
    assert reporter.steps == {"loading the model": [], ready: [], "predicting": [16, 4]}


@pytest.mark.slow
def test_getting_an_int8_model_ready_names_openvino_s_compile_once_per_batch_size_and_cache_folder(
    tmp_path, trained_run
):
    """a share recipient's first predict said "getting the model ready" for 18 s,
    not what it did. For a body OpenVINO runs, it names OpenVINO compiling the 8-bit networks,
    and the next predict loading what it compiled. It said "once per network and cache folder",
    yet a predict of more photos than the first one's compiles again, for its larger batch: the
    line names the batch it compiles for, and says once per batch size."""
    pytest.importorskip("openvino")
    from .conftest import TaskRecorder
    from .test_inference import int8_copy

    run = int8_copy(trained_run, tmp_path / "run", engine="openvino")
    photos = [tmp_path / f"photo{k}.png" for k in range(3)]
    for k, photo in enumerate(photos):
        make_image((200, 40, 40 * k), seed=7 + k).save(photo)
    said = []
    for given in ([photos[0]], [photos[0]], photos, photos):
        reporter = TaskRecorder()
        predict(run, given, reporter=reporter)
        said += [t for t in reporter.tasks if t.startswith("getting the model ready")]
    compiling = "getting the model ready: compiling the 8-bit networks for this CPU in OpenVINO"
    loading = "getting the model ready: loading the 8-bit networks OpenVINO compiled for this CPU"
    once = "(once per network, batch size and cache folder)"
    assert said == [
        f"{compiling}, for batches of 2 {once}",
        loading,
        f"{compiling}, for batches of 16 {once}",
        loading,
    ]


@pytest.mark.slow
def test_predict_explain_writes_one_overlay_per_image(
    trained_run, split_dir, tmp_path, monkeypatch
):
    """One map per image; the folder is looked through for a killed objrec's temporary files
    a fixed number of times, not before each map as well (10,000 maps: 11 ms a listing at the
    end, some 55 s in all), and such a file there still goes."""
    from objrec import leftovers, outputs

    cams = tmp_path / "cams"
    cams.mkdir()
    killed = cams / ".objrec-4000000000-0123456789abcdef0123456789abcdef.png"
    killed.write_bytes(b"half a map")
    os.utime(killed, (0, 0))
    looked, remove_leftovers = [], leftovers.remove_leftovers

    def counted(folder):
        looked.append(Path(folder))
        return remove_leftovers(folder)

    monkeypatch.setattr(outputs, "remove_leftovers", counted)  # the name its callers use
    images = sorted((split_dir / "test").glob("*/*"))
    results = predict(trained_run, images, explain=cams)
    assert [r.explanation is not None for r in results] == [True] * len(images)
    assert len(list(cams.glob("*.gradcam.png"))) == len(images) > 2
    # once when the folder is prepared, then as its mark is written, before the maps and after
    assert not killed.exists() and looked.count(cams) == 3 < len(images)


@pytest.mark.slow
@pytest.mark.figures
def test_each_map_is_captioned_with_the_class_answered_and_has_a_colour_key(
    trained_run, split_dir, tmp_path, monkeypatch, capsys
):
    """A newcomer's --explain map was a purple-tinted photo with no class, probability or colour
    key: one had to know Grad-CAM to read it (newcomer62, 6). Each map says the class it was
    answered and its probability above it, "unknown" first for one answered so, and a key
    from least to most beside it (matplotlib's colorbar); --help says what --explain takes."""
    from dataclasses import replace
    from typing import Any

    from PIL import Image

    from objrec import plots
    from objrec.cli import main
    from objrec.predict_outputs import map_caption

    drawn: list[tuple[str, Any]] = []
    figure = plots.heat_map_figure

    def kept(picture, caption):
        drawn.append((caption, figure(picture, caption)))
        return drawn[-1][1]

    monkeypatch.setattr(plots, "heat_map_figure", kept)
    images = sorted((split_dir / "test").glob("*/*"))[:2]
    results = predict(trained_run, images, explain=tmp_path / "cams")
    assert [caption for caption, _ in drawn] == [map_caption(r) for r in results]
    top = results[0].topk[0]
    assert map_caption(results[0]).endswith(f"{top['class']} {float(top['prob']):.2%}")
    image_axes, key = drawn[0][1].axes
    assert image_axes.get_title() == drawn[0][0]
    assert [t.get_text() for t in key.get_yticklabels()] == ["least", "most"]
    with Image.open(results[0].explanation) as written:
        assert written.width > written.height  # the key beside a square map
    unknown = replace(results[0], unknown=True)
    assert map_caption(unknown).startswith("unknown; closest: ")
    assert main(["predict", "--help"]) == 0
    assert "--explain FOLDER  The new or empty folder to write" in capsys.readouterr().out


@pytest.mark.slow
def test_the_map_explains_the_class_predict_reported(trained_run, split_dir, tmp_path, monkeypatch):
    """The Grad-CAM map explained the fp32 body's top class of the centre view whatever predict
    reported: with an int8 body or test-time views (6 of 60 unfamiliar Caltech images) the map
    showed another class than the answer, and nothing said which. Here the reported answer is
    made another class than the float model's (its probabilities reversed); the map explains the
    reported one, and the JSON names it."""
    from objrec import saliency
    from objrec.inference import Recognizer

    decide, grad_cams, explained = Recognizer.decide, saliency.grad_cams, []

    def reversed_answer(self, views):
        answers = decide(self, views)
        answers.probs = answers.probs.flip(1)
        return answers

    def spied(model, x, targets=None):
        cams, targets = grad_cams(model, x, targets)
        explained.extend(targets)
        return cams, targets

    monkeypatch.setattr(Recognizer, "decide", reversed_answer)
    monkeypatch.setattr(saliency, "grad_cams", spied)
    images = sorted((split_dir / "test" / "red").iterdir())[:2]
    results = predict(trained_run, images, explain=tmp_path / "cams", tta=True)
    classes = Recognizer.load(trained_run).classes
    reported = [r.topk[0]["class"] for r in results]
    assert [classes[i] for i in explained] == reported != ["red", "red"]
    assert [r.to_json()["explained"] for r in results] == reported


def test_predict_holds_one_decoded_image_at_a_time_and_draws_a_batch_s_maps_in_one_pass(
    trained_run, tmp_path, monkeypatch
):
    """predict decoded a whole batch before making any image the model's input: 16 PNG scans of
    5000x5000 pixels peaked at 2.4 GB against 0.95 GB one at a time (review57a M1); and --explain
    drew one map per pass, each image decoded apart (L3). Each image is now made into its
    inputs as it is decoded, no two decodes alive at once, in predict and in its maps; a batch's
    maps come from one pass. And each is decoded once: its map is drawn from the input its
    answer was made of, where the maps were drawn after every answer from a second decode."""
    import weakref

    from objrec import images as images_module
    from objrec import inference, saliency

    from .conftest import make_image

    alive: list[weakref.ref] = []
    most, own, passes, grad_cams = [0], images_module.open_image, [], saliency.grad_cams
    decoded = []

    def opening(*args, **kwargs):
        image = own(*args, **kwargs)
        decoded.append(image.size)
        alive[:] = [ref for ref in alive if ref() is not None] + [weakref.ref(image)]
        most[0] = max(most[0], len(alive))
        return image

    def counted_pass(model, x, targets=None):
        passes.append(len(x))
        return grad_cams(model, x, targets)

    for module in (sys.modules["objrec.predict"], inference):
        monkeypatch.setattr(module, "open_image", opening)
    monkeypatch.setattr(saliency, "grad_cams", counted_pass)
    (tmp_path / "new").mkdir()
    for i in range(3):
        make_image((200, 40 * i, 40), size=(64, 48), seed=700 + i).save(tmp_path / f"new/{i}.png")
    results = predict(trained_run, [tmp_path / "new"], explain=tmp_path / "cams")
    assert [r.error for r in results] == [None] * 3 and all(r.explanation for r in results)
    assert most[0] == 1
    assert passes == [3]
    assert len(decoded) == 3  # once each: 6 when the maps decoded the files again


def test_topk_is_sorted_capped_at_the_classes_and_sums_to_one_over_all(trained_run, split_dir):
    image = next((split_dir / "test" / "blue").iterdir())
    (everything,) = predict(trained_run, [image], topk=50)
    probs = [t["prob"] for t in everything.topk]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    assert abs(sum(probs) - 1) < 1e-5
    (top1,) = predict(trained_run, [image], topk=1)
    assert top1.topk == everything.topk[:1]


def titled(titles: list[str], axes, path: Path) -> None:
    """A stand-in for ``plots.save`` that keeps ``axes``' title and writes a file, as it does."""
    titles.append(axes.get_title())
    path.write_bytes(b"a plot")


@pytest.mark.slow
@pytest.mark.figures
def test_the_plot_says_which_images_were_answered_unknown(
    monkeypatch, trained_run, split_dir, tmp_path
):
    from objrec import plots

    titles = []
    monkeypatch.setattr(plots, "save", lambda fig, path: titled(titles, fig.axes[1], path))
    image = next((split_dir / "test" / "red").iterdir())
    for threshold in (float("inf"), float("-inf")):  # answered unknown, then known
        (result,) = predict(
            trained_run, [image], plot=tmp_path / "p.png", threshold=threshold, force=True
        )
        assert result.unknown == (threshold > 0)
    top = result.topk[0]
    # a known answer's chart needs no title: the figure's heading says "Top-3 predictions"
    assert titles == [f"unknown - closest: {top['class']} {top['prob']:.0%}", ""]


@pytest.mark.slow
@pytest.mark.figures
def test_a_barely_familiar_answer_says_so_under_its_name_in_the_plot(
    monkeypatch, trained_run, split_dir, tmp_path
):
    from objrec import plots

    titles = []
    monkeypatch.setattr(plots, "save", lambda fig, path: titled(titles, fig.axes[0], path))
    image = next((split_dir / "test" / "red").iterdir())
    (typical,) = predict(trained_run, [image], plot=tmp_path / "p.png")
    assert typical.line == 0.0 and typical.score > 0.25 and not typical.familiarity_note
    line = typical.score - 0.05  # the same image, just above a higher line
    (near,) = predict(trained_run, [image], plot=tmp_path / "p.png", threshold=line, force=True)
    note = f"barely familiar: {near.score:.2f}, unknown below {line:.3g}"
    assert near.familiarity_note == note and titles == [image.name, f"{image.name}\n{note}"]
    (off,) = predict(trained_run, [image], threshold=line, unknown=False)
    assert off.line is None and not off.familiarity_note  # --no-unknown: no line to be near


@pytest.mark.slow
def test_an_unknown_answer_says_its_familiarity_beside_the_closest_class(
    trained_run, split_dir, capsys
):
    """'unknown (like none of the classes); closest: butterfly 98.00%' gave no familiarity, so the
    98% read as a contradiction; barely familiar answers gave theirs."""
    from objrec.cli import main

    image = next((split_dir / "test" / "red").iterdir())
    (typical,) = predict(trained_run, [image])
    line = typical.score + 0.5  # the same image, now below the line
    (unknown,) = predict(trained_run, [image], threshold=line)
    note = f"familiarity {typical.score:.2f}, unknown below {line:.3g}"
    assert unknown.unknown and unknown.familiarity_note == note
    assert main(["predict", str(trained_run), str(image), "--threshold", str(line)]) == 0
    out, err = capsys.readouterr()
    assert "unknown, unlike the photos the model learned from; if it is one of its classes: " in out
    assert out.endswith(f"(familiarity {typical.score:.2f})\n")
    assert f"unknown below familiarity {line!r} " in err  # the threshold's line: a note


def test_an_unknown_answer_says_why_beside_probabilities_shared_among_the_classes(capsys):
    """'c38.jpg: unknown (like none of the classes); closest: crab 98.96%' read as a
    contradiction with nothing saying why (newcomer55's 8). The line says the photo is unlike the
    photos the model learned from (its familiarity), and that the probabilities are the classes'
    were it one of them; a run whose score is no familiarity says it is like none of them."""
    from objrec.cli.prediction import print_predictions
    from objrec.predict import Prediction

    top = [{"class": "crab", "prob": 0.9896}, {"class": "lobster", "prob": 0.0104}]
    familiar = dict(topk=top, unknown=True, score=-0.2, line=0.0, unknown_threshold=0.0)
    msp = dict(topk=top[::-1], unknown=True, score=0.41, unknown_threshold=0.5, unknown_score="msp")
    print_predictions([Prediction("c38.jpg", **familiar), Prediction("a.jpg", **msp)], None, 20)
    said = capsys.readouterr().out.splitlines()
    assert said[:2] == [
        "c38.jpg: unknown, unlike the photos the model learned from; if it is one of its classes: "
        "crab 98.96%, lobster 1.04% (familiarity -0.20)",
        "a.jpg: unknown, like none of the classes; if it is one of its classes: lobster 1.04%, "
        "crab 98.96%",
    ]


def test_the_plot_says_how_many_classes_and_which_of_the_images_it_shows(tmp_path, monkeypatch):
    from objrec import plots
    from objrec.errors import ObjrecError
    from objrec.predict import Prediction
    from objrec.predict_outputs import plot_predictions

    from .conftest import make_image

    headings = []

    def draw(rows, path, heading):  # as savefig: opens the name it is given
        headings.append(heading)
        Path(path).write_bytes(b"a drawing")

    monkeypatch.setattr(plots, "predictions", draw)
    results = []
    for i in range(3):
        make_image((200, 40, 40), seed=i).save(tmp_path / f"{i}.png")
        topk = [{"class": "red", "prob": 0.9}, {"class": "blue", "prob": 0.1}]
        results.append(Prediction(str(tmp_path / f"{i}.png"), topk))
    plot_predictions(results, tmp_path / "p.png", limit=2)
    plot_predictions(results, tmp_path / "p.png", limit=8)
    assert headings == [  # what it left out, of each kind (newcomer64b)
        "Top-2 predictions of 2 of 3 images: 2 of 3 given a class (the least and the most sure); "
        "1 more left out",
        "Top-2 predictions",
    ]
    # newcomer56: --plot-max 4 left out the one unknown photo, given last, which the terminal
    # listed first: the plot draws the images most worth a look, as the terminal lists them
    drawn = []

    def draw_noting(rows, path, heading):
        drawn.extend(rows)
        draw(rows, path, heading)

    monkeypatch.setattr(plots, "predictions", draw_noting)
    results[2] = Prediction(str(tmp_path / "2.png"), topk, unknown=True)
    plot_predictions(results, tmp_path / "p.png", limit=2)
    assert [row[3] for row in drawn] == [True, False] and drawn[0][1].startswith("2")
    monkeypatch.setattr(plots, "predictions", draw)
    # savefig wrote through a link named as the plot, into the file it leads to
    (tmp_path / "link.png").symlink_to(tmp_path / "0.png")
    kept = (tmp_path / "0.png").read_bytes()
    with pytest.raises(ObjrecError, match=r"link\.png is a link, which objrec never writes"):
        plot_predictions(results, tmp_path / "link.png")
    assert (tmp_path / "0.png").read_bytes() == kept and (tmp_path / "p.png").is_file()


@pytest.mark.slow  # the CLI and the library: 0.16 s
def test_predict_with_a_plot_and_no_readable_input_still_writes_each_inputs_error(
    trained_run, tmp_path, capsys, caplog
):
    """review59a M2: `predict(run, [empty], plot=P, csv=C)` raised "no readable image to plot"
    before writing C, and `objrec predict RUN empty.jpg --plot P --csv C` said only that: the
    Predictions, each with its error, were lost. The plot is skipped with one warning."""
    import logging

    from objrec.cli import main

    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    plot, table = tmp_path / "p.png", tmp_path / "c.csv"
    with caplog.at_level(logging.WARNING, logger="objrec"):
        results = predict(trained_run, [empty], plot=plot, csv=table)
    assert [r.error for r in results] == ["cannot read image (empty file, 0 bytes)"]
    assert results.plotted == 0
    assert table.is_file() and "empty file" in table.read_text(encoding="utf-8-sig")
    assert not plot.exists()
    said = [r.getMessage() for r in caplog.records if "not drawn" in r.getMessage()]
    assert said == [f"`plot` {plot} not drawn: no input could be read"]
    plot, table = tmp_path / "p2.png", tmp_path / "c2.csv"
    given = ["predict", str(trained_run), str(empty), "--plot", str(plot), "--csv", str(table)]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="objrec"):  # pytest's, not the CLI's handler
        assert main(given) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"`plot` {plot} not drawn: no input could be read" in caplog.messages
    assert f"{empty}: cannot read image (empty file, 0 bytes)" in err and "plot of" not in err
    assert table.is_file() and not plot.exists()


def test_an_image_gone_before_the_plot_is_left_out_of_it_with_a_warning(
    tmp_path, monkeypatch, caplog
):
    """review59a M2: the plot opens each image again; one removed after it was answered raised
    UnreadableImageError out of `predict`, after all the work."""
    import logging

    from objrec import plots
    from objrec.predict import Prediction
    from objrec.predict_outputs import plot_predictions

    drawn = []
    monkeypatch.setattr(
        plots, "predictions", lambda rows, path, heading: drawn.append(len(rows)) or path.touch()
    )
    make_image((200, 40, 40)).save(tmp_path / "a.png")
    topk = [{"class": "red", "prob": 1.0}]
    here, gone = (Prediction(str(tmp_path / n), topk) for n in ("a.png", "gone.png"))
    with caplog.at_level(logging.WARNING, logger="objrec"):
        assert plot_predictions([here, gone], tmp_path / "p.png") == 1
        assert plot_predictions([gone], tmp_path / "q.png") == 0
    assert drawn == [1] and (tmp_path / "p.png").is_file() and not (tmp_path / "q.png").exists()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and said[0].startswith(
        f"1 image left out of `plot` {tmp_path / 'p.png'}: they could not be read again since "
        f"they were answered: {tmp_path / 'gone.png'} (cannot read image"
    )
    assert said[1].startswith(f"`plot` {tmp_path / 'q.png'} not drawn: its images could not be")


def test_ctrl_c_or_sigterm_while_predict_writes_its_csv_or_plot_leaves_no_temporary_file(
    tmp_path, monkeypatch
):
    """Stopped mid-write (SIGTERM, taken as the CLI takes it: as Ctrl-C), write_csv and
    plot_predictions remove the temporary file they write under, and the folder made for it."""
    import importlib
    import os
    import signal
    import time

    from objrec import plots
    from objrec.cli import sigterm_as_ctrl_c
    from objrec.predict import Prediction
    from objrec.predict_outputs import plot_predictions, write_csv

    from .conftest import make_image

    def sigterm(*args):
        written.append([p.name for p in (out / "new").iterdir()])  # the temporary file there
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises as soon as the signal arrives

    def drawn_then_stopped(rows, path, heading):  # as savefig: writes the name it is given
        Path(path).write_bytes(b"a drawing")
        sigterm()

    def pytests_own(*args):
        raise AssertionError("SIGTERM reached the handler objrec had replaced")

    make_image((200, 40, 40)).save(tmp_path / "a.png")
    results = [Prediction(str(tmp_path / "a.png"), [{"class": "red", "prob": 1.0}])]
    out, written, before = tmp_path / "out", [], signal.signal(signal.SIGTERM, pytests_own)
    monkeypatch.setattr(plots, "predictions", drawn_then_stopped)
    monkeypatch.setattr(
        importlib.import_module("objrec.predict_outputs"), "spreadsheet_cell", sigterm
    )
    try:
        for write, name in ((write_csv, "p.csv"), (plot_predictions, "p.png")):
            with sigterm_as_ctrl_c([]), pytest.raises(KeyboardInterrupt):
                write(results, out / "new" / name)
    finally:
        signal.signal(signal.SIGTERM, before)
    temporary = [[n[-4:] for n in names if n.startswith(".objrec-")] for names in written]
    assert temporary == [[".csv"], [".png"]] and not out.exists()


def test_a_killed_predicts_temporary_csv_or_plot_goes_with_the_next_one_there(
    tmp_path, monkeypatch
):
    """One a killed predict left (SIGKILL, a power loss) stayed beside the user's files for good:
    nothing looked in that folder again. The next --csv or --plot there removes it, as export
    does; a fresh one (another objrec's, writing now) is kept."""
    import os
    import time
    import uuid

    from objrec import plots
    from objrec.predict import Prediction
    from objrec.predict_outputs import plot_predictions, write_csv

    from .conftest import make_image

    monkeypatch.setattr(plots, "predictions", lambda rows, path, heading: path.write_text("."))
    make_image((200, 40, 40)).save(tmp_path / "a.png")
    results = [Prediction(str(tmp_path / "a.png"), [{"class": "red", "prob": 1.0}])]
    out = tmp_path / "out"
    out.mkdir()
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this id
    fresh = out / f".objrec-{gone}-{'f' * 32}.csv"
    fresh.write_text("being written")
    for write, name in ((write_csv, "p.csv"), (plot_predictions, "p.png")):
        killed = out / f".objrec-{gone}-{uuid.uuid4().hex}{Path(name).suffix}"
        killed.write_text("half a file")
        os.utime(killed, (time.time() - 7200,) * 2)
        write(results, out / name)
        assert not killed.exists() and fresh.exists(), name
    assert sorted(p.name for p in out.iterdir()) == sorted([fresh.name, "p.csv", "p.png"])


def test_predict_explain_makes_no_folder_when_no_image_can_be_read(trained_run, tmp_path):
    from objrec.errors import ObjrecError

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00\x01")
    results = predict(trained_run, [bad, tmp_path / "missing.jpg"], explain=tmp_path / "a" / "cams")
    assert all(r.error for r in results) and not (tmp_path / "a").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(ObjrecError, match="not empty"):  # still refused before any work
        predict(trained_run, [bad], explain=tmp_path / "mine")


def test_no_input_to_predict_is_said_without_reading_the_model(trained_run, tmp_path, monkeypatch):
    """`objrec predict run missing.jpg` built the model (seconds: 6 s at a load of 8) before
    saying "missing.jpg: no such file or folder", and then still imported PyTorch
    and read the checkpoint (its SHA-256) first. With no input it can predict, the model file is
    not read: the same answers, the same table; a folder that is no run, or a threshold that is
    not a number, is still the first error, and a damaged model is said once there is an image."""
    from objrec import checkpoint
    from objrec.errors import ObjrecError
    from objrec.images import IMAGE_ERRORS

    model = trained_run / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[-1] ^= 1  # a byte of its last tensor changed
    model.write_bytes(bytes(data))
    read = []
    monkeypatch.setattr(checkpoint, "read_model_state", spy(checkpoint.read_model_state, read))
    (tmp_path / "empty").mkdir()
    given = [tmp_path / "missing.jpg", tmp_path / "empty"]
    results = predict(trained_run, given, csv=tmp_path / "p.csv")
    assert [r.error for r in results] == ["no such file or folder", IMAGE_ERRORS["no_images"]]
    assert (tmp_path / "p.csv").read_text(encoding="utf-8-sig").count("no such file") == 1
    assert read == []  # the damaged model file was not read
    with pytest.raises(ObjrecError, match="no checkpoint at"):
        predict(tmp_path / "empty", given)
    with pytest.raises(ObjrecError, match="`threshold` must be a number"):
        predict(trained_run, given, threshold=float("nan"))
    make_image((200, 30, 30)).save(tmp_path / "red.png")
    with pytest.raises(ObjrecError, match="damaged"):
        predict(trained_run, [*given, tmp_path / "red.png"])
    assert read == [model]


def test_an_input_that_could_not_be_predicted_is_named_in_a_warning(trained_run, tmp_path, caplog):
    """objrec.predict(run, "does-not-exist") returned a Prediction with error 'no such file or
    folder' and logged nothing (newcomer55's 6): a script that misspelt its path printed None as
    the answer, though the CLI says "nope.jpg: no such file or folder". The inputs that failed
    are named in one WARNING, marked as said in the result (the CLI prints its own lines); the
    others are still answered, and an input answered is not named."""
    from objrec.progress import IN_RESULT

    make_image((200, 30, 30)).save(good := tmp_path / "red.png")
    gone = tmp_path / "does-not-exist"
    with caplog.at_level("WARNING", "objrec"):
        results = predict(trained_run, [gone, good])
    assert results[0].error == "no such file or folder" and results[1].answer is not None
    said = [r for r in caplog.records if "could not be predicted" in r.getMessage()]
    assert [r.getMessage() for r in said] == [
        "1 of 2 inputs could not be predicted (each Prediction's error says why): "
        f"{gone} (no such file or folder)"
    ]
    assert getattr(said[0], IN_RESULT) is True and str(good) not in said[0].getMessage()
    caplog.clear()
    with caplog.at_level("WARNING", "objrec"):
        predict(trained_run, [good])
    assert not [r for r in caplog.records if "could not be predicted" in r.getMessage()]


def test_the_python_api_page_names_each_key_of_predict_json_and_csv_as_the_command_writes_them(
    trained_run, tmp_path, capsys
):
    """docs/python-api.md named `predicted` and `prob_predicted` among `predict --json`'s keys,
    which its JSON lacks (newcomer55's 7: a script ported from Python broke on
    a["prob_predicted"]). Each key the page names for the JSON is in the command's JSON, each of
    the JSON's keys is named, the CSV's columns it names are the CSV's, and all are a
    Prediction's attributes."""
    import csv
    import json
    import re

    from objrec.cli import main

    page = " ".join((Path(__file__).parents[1] / "docs" / "python-api.md").read_text().split())
    said = re.search(r"named as `predict --json`'s keys: (.*?); `--csv`'s columns (.*?), the", page)
    assert said is not None
    json_keys = re.findall(r"`(\w+)`", said[1])
    csv_columns = re.findall(r"`(\w+)`", said[2])
    make_image((200, 30, 30)).save(good := tmp_path / "red.png")
    given = [str(good), str(tmp_path / "gone.jpg")]
    table = tmp_path / "p.csv"
    assert main(["predict", str(trained_run), *given, "--json", "--csv", str(table)]) == 1
    answered, failed = json.loads(capsys.readouterr().out)
    assert set(json_keys) == set(answered) | set(failed)
    commands = " ".join((Path(__file__).parents[1] / "docs" / "commands.md").read_text().split())
    listed = re.search(r"\*\*`--json`\*\* prints `\[\{(.*?)\}\]`", commands)
    assert listed is not None and set(re.findall(r'"(\w+)"', listed[1])) - {"class", "prob"} == set(
        answered
    )  # the keys of an answer, as predict's section of docs/commands.md lists them
    with table.open(encoding="utf-8-sig") as rows:
        header = next(csv.reader(rows))
    assert set(csv_columns) <= set(header) and not set(csv_columns) & set(answered)
    result = predict(trained_run, [good])[0]
    assert all(hasattr(result, name) for name in json_keys + csv_columns)


def spy(function, calls: list):
    """``function``, its first argument appended to ``calls`` at each call."""

    def called(first, *args, **kwargs):
        calls.append(first)
        return function(first, *args, **kwargs)

    return called


def test_predict_and_serve_name_a_file_alike():
    """One rule for "filename": the last part after either slash; serve's default for none."""
    from objrec.predict import Prediction
    from objrec.prediction import base_name
    from objrec.serve.uploads import upload_name

    for given in ["photos/red.png", "C:\\photos\\red.png", "photos\\day one/red.png", "red.png"]:
        assert Prediction(given).filename == upload_name(given) == base_name(given) == "red.png"
    assert upload_name(None) == upload_name("") == "upload"


@pytest.mark.slow
def test_a_photo_over_the_pixel_limit_whole_is_predicted_and_plotted(
    tmp_path, monkeypatch, trained_run
):
    """Read at a reduced scale, as a 108-megapixel phone photo is under the real limit."""

    from PIL import Image

    from objrec import images

    monkeypatch.setattr(images, "MAX_PIXELS", 2_000_000)
    Image.new("RGB", (2400, 1800), (200, 40, 40)).save(tmp_path / "big.jpg")
    (result,) = predict(trained_run, [tmp_path / "big.jpg"], plot=tmp_path / "plot.png")
    assert result.error is None and result.topk[0]["class"] == "red"
    assert (tmp_path / "plot.png").is_file()


def test_a_hidden_file_named_on_the_command_line_is_read_like_any_other(
    tmp_path, trained_run, split_dir
):
    """Folders skip hidden files; a file given by name is what the user asked for."""
    hidden = tmp_path / ".red.jpg"
    hidden.write_bytes(next((split_dir / "test" / "red").glob("*.jpg")).read_bytes())
    apple_double = tmp_path / "._red.jpg"  # what a Mac's zip keeps beside each photo
    apple_double.write_bytes(b"\x00\x05\x16\x07Mac OS X        \x00\x02")
    good, bad = predict(trained_run, [hidden, apple_double])
    assert good.error is None and good.topk[0]["class"] == "red"
    assert bad.error == "cannot read image (not a recognised image format)"


@pytest.mark.slow
def test_a_file_whose_name_is_not_utf8_is_reported_and_the_others_predicted(
    tmp_path, trained_run, split_dir
):
    """Its plot title ended in a traceback from matplotlib."""
    import os
    import shutil

    good = next((split_dir / "test" / "red").glob("*.jpg"))
    latin1 = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    shutil.copy(good, latin1)
    bad, fine = predict(trained_run, [latin1, good], plot=tmp_path / "plot.png")
    assert bad.error.startswith("its name is not UTF-8") and fine.error is None
    folder = tmp_path / "folder"  # in a folder too: an input that failed, not a warning
    folder.mkdir()
    shutil.copy(good, folder / "good.jpg")
    shutil.move(latin1, folder / latin1.name)
    bad, fine = predict(trained_run, [folder])  # sorted by name: caf.. before good
    assert bad.path == str(folder / latin1.name) and bad.error.startswith("its name is not")
    assert fine.error is None


def test_a_folder_is_listed_by_path_parts_a_folders_images_together(tmp_path):
    """Sorted as strings, ``a-b/x.jpg`` came between ``a/`` entries ("-" sorts before "/"), and
    a name that is not UTF-8 was put among them by its string too."""
    names = ["a/x.jpg", "a/z/y.jpg", "a/zz.jpg", "a-b/x.jpg", "b.jpg"]
    for name in [*names, os.fsdecode(b"a/caf\xe9.jpg")]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        make_image((200, 40, 40)).save(tmp_path / name, "JPEG")
    listed = [os.path.relpath(e.path, tmp_path) for e in expand_paths([tmp_path])]
    assert listed == [os.fsdecode(b"a/caf\xe9.jpg"), *names]


@pytest.mark.slow
def test_damaged_exif_is_warned_about_once_though_predict_opens_the_image_twice(
    tmp_path, trained_run, caplog
):
    """Once for the prediction, once for the plot: docs/folders.md says one warning per file."""

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Canon" * 10
    path = tmp_path / "damaged.jpg"
    make_image((200, 40, 40)).save(path, exif=exif.tobytes()[:-20])
    with caplog.at_level("WARNING", "objrec"):
        (result,) = predict(trained_run, [path], plot=tmp_path / "plot.png")
    assert result.error is None
    assert sum("damaged EXIF data" in r.getMessage() for r in caplog.records) == 1


def test_a_folders_broken_links_are_named_as_such_not_as_files_that_are_not_images(
    tmp_path, caplog
):
    """A split made with ``--link`` whose photos were moved away holds links to nothing: they were
    said to be "not an image file", which sent a newcomer looking at the wrong thing. A link named
    as an image is an input that failed, with its error, as a missing file named is (it was left
    out of ``predict --json`` with a warning on stderr only, the exit status 0); a link to nothing
    of another name is not an image, left out with a warning."""
    make_image((200, 40, 40)).save(tmp_path / "a.jpg", "JPEG")
    (tmp_path / "notes.txt").write_text("where these were taken")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "moved" / "gone.jpg")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "moved" / "gone.txt")
    with caplog.at_level("WARNING", "objrec"):
        listed = expand_paths([tmp_path])
    assert [(e.path, e.error) for e in listed] == [
        (str(tmp_path / "a.jpg"), None),
        (
            str(tmp_path / "gone.jpg"),
            f"a link to {tmp_path / 'moved' / 'gone.jpg'}, which is not "
            "there (moved or deleted since it was linked)",
        ),
    ]
    assert caplog.messages == [
        f"{tmp_path / 'notes.txt'} left out: not an image file objrec reads",
        f"{tmp_path / 'gone.txt'} left out: a link to a file that is not there",
    ]
    (named,) = expand_paths([tmp_path / "gone.jpg"])  # named on the command line: the same words
    assert named.error == listed[1].error


def test_plot_panels_of_images_sharing_a_file_name_name_their_folders_too():
    from pathlib import Path

    from objrec.predict_outputs import panel_names

    assert panel_names([Path("a/1.jpg"), Path("a/2.jpg")]) == ["1.jpg", "2.jpg"]
    shared = [Path("x/kangaroo/image_0006.jpg"), Path("x/llama/image_0006.jpg")]
    assert panel_names(shared) == ["kangaroo/image_0006.jpg", "llama/image_0006.jpg"]
    assert panel_names([Path("1.jpg"), Path("b/1.jpg")]) == ["1.jpg", "b/1.jpg"]
    deeper = [Path("a/cat/1.jpg"), Path("b/cat/1.jpg")]
    assert panel_names(deeper) == ["a/cat/1.jpg", "b/cat/1.jpg"]


def test_explain_shortens_a_long_image_name_to_fit_its_map_s_name(trained_run, tmp_path):
    """An image named with 240 bytes of 'é' (legal) crashed --explain part-way: its map's name,
    '0001-' + the name + '.gradcam.png', passed the file system's 255 bytes."""
    from pathlib import Path

    from PIL import Image

    long = tmp_path / "long names" / ("\u00e9" * 120 + ".png")
    long.parent.mkdir()
    Image.new("RGB", (40, 32), "red").save(long)
    (result,) = predict(trained_run, [long], explain=tmp_path / "cams")
    name = Path(result.explanation).name
    assert Path(result.explanation).is_file() and len(name.encode()) <= 255
    assert name.startswith("0000-\u00e9") and name.endswith("\u00e9.gradcam.png")


@pytest.mark.slow
def test_a_map_moved_away_during_explain_fails_nothing(
    trained_run, split_dir, tmp_path, monkeypatch
):
    """A map the user moved away (or deleted) while the next ones were drawn made predict
    --explain fail at the end, 'cams/0000-….gradcam.png: no such file or directory', exit 1, no
    prediction shown: the mark recorded the maps from the folder, after all were drawn. It
    records each as written, and a run stopped part-way records the maps it drew. (A batch's
    maps are drawn in one pass, then written one by one: the third is written once the first
    has been moved away, and the second's writing stops the run.)"""
    from objrec.outputs import recorded_outputs

    images = sorted((split_dir / "test" / "red").iterdir())[:3]
    module = sys.modules["objrec.predict_outputs"]  # where Maps writes them
    cams, fingerprint, drawn = tmp_path / "cams", module.fingerprint, []

    def looked_at_meanwhile(path):
        drawn.append(path)
        if len(drawn) == 3:
            sorted(cams.glob("*.gradcam.png"))[0].rename(tmp_path / "looked-at.png")
        return fingerprint(path)

    monkeypatch.setattr(module, "fingerprint", looked_at_meanwhile)
    results = predict(trained_run, images, explain=cams)
    assert [r.error for r in results] == [None] * 3 and len(recorded_outputs(cams) or {}) == 3
    drawn.clear()

    def stopped_at_the_second(path):
        drawn.append(path)
        return fingerprint(path) if len(drawn) == 1 else 1 / 0

    monkeypatch.setattr(module, "fingerprint", stopped_at_the_second)
    with pytest.raises(ZeroDivisionError):
        predict(trained_run, images, explain=tmp_path / "part")
    assert list(recorded_outputs(tmp_path / "part") or {}) == [
        "0000-" + images[0].stem + ".gradcam.png"
    ]


@pytest.mark.slow
def test_one_path_given_alone_is_one_image_not_a_list_of_letters(trained_run, split_dir):
    """`predict("run", "photo.jpg")` walked each letter as a path (`/` and on, up to a
    PermissionError in /proc); a `Path` alone was 'not iterable'."""
    image = next((split_dir / "test" / "red").iterdir())
    for given in (str(image), image):
        (result,) = predict(trained_run, given, topk=1)
        assert result.path == str(image) and result.error is None
    assert [p.path for p in expand_paths(str(image))] == [str(image)]


def test_an_image_named_twice_is_predicted_once_where_it_came_first(tmp_path):
    """`predict(run, ["x/a.jpg", "x"])` predicted a.jpg twice."""
    folder = tmp_path / "x"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        make_image((200, 30, 30)).save(folder / name)
    given = [folder / "b.png", folder, tmp_path / "x" / ".." / "x" / "a.png"]
    assert [e.path for e in expand_paths(given)] == [str(folder / "b.png"), str(folder / "a.png")]


def test_two_names_linking_to_one_image_are_both_predicted(tmp_path):
    """`predict(run, ["fav/cat.jpg", "fav/dog.jpg"])`, two links to one photo, gave one
    prediction, dog.jpg's left out without a word (images told apart by their resolved files);
    an image is told by its folder resolved and its own name, so both names are predicted."""
    folder = tmp_path / "fav"
    folder.mkdir()
    make_image((200, 30, 30)).save(tmp_path / "shared.png")
    for name in ("cat.png", "dog.png"):
        (folder / name).symlink_to(tmp_path / "shared.png")
    names = [str(folder / "cat.png"), str(folder / "dog.png")]
    assert [e.path for e in expand_paths(names)] == names
    assert [e.path for e in expand_paths(folder)] == names


def test_a_count_of_the_wrong_type_is_refused_naming_it(tmp_path):
    """`predict(..., topk="3")` raised "TypeError: '<' not supported between instances of 'str'
    and 'int'"."""
    from objrec.errors import ObjrecError

    with pytest.raises(ObjrecError, match="`topk` must be a whole number, not '3'"):
        predict(tmp_path, [], topk="3")


def test_counts_computed_with_numpy_are_taken(trained_run, split_dir):
    """`predict(run, images, topk=np.int64(2))` was refused, "`topk` must be a whole number, not
    np.int64(2)"."""
    np = pytest.importorskip("numpy")
    image = next((split_dir / "test" / "blue").iterdir())
    (result,) = predict(trained_run, [image], topk=np.int64(2), plot_max=np.int32(1))
    assert len(result.topk) == 2


def test_a_prediction_says_whether_it_is_barely_familiar():
    """`llama 0.88 (familiarity 0.18)` came back to Python with unknown=False and nothing else,
    while the CLI said "barely familiar": the judgement is a property, and in --json."""
    from objrec.predict import Prediction
    from objrec.prediction import NEAR_LINE

    barely = Prediction("a.jpg", score=0.18, line=0.0)
    assert barely.barely_familiar is True and barely.to_json()["barely_familiar"] is True
    assert barely.familiarity_note == "barely familiar: 0.18, unknown below 0"
    familiar = Prediction("b.jpg", score=0.59, line=0.0)
    assert familiar.barely_familiar is False and familiar.familiarity_note == ""
    assert Prediction("c.jpg", score=NEAR_LINE, line=0.0).barely_familiar is False
    assert Prediction("d.jpg", score=-0.2, line=0.0, unknown=True).barely_familiar is False
    assert Prediction("e.jpg", score=0.9).barely_familiar is None  # no familiarity to judge by
    assert Prediction("f.jpg", error="truncated").barely_familiar is None


def test_a_familiarity_next_to_the_line_shows_which_side_it_is_on():
    """`bent pin 50.18% (barely familiar: 0.00, unknown below 0)`: 0.0004 rounded to the line.
    Printed to as many decimals as tell the two apart, and the same for an unknown answer, for
    `suggest`'s reason, and for a line whose three digits round past the score."""
    from objrec.predict import Prediction
    from objrec.prediction import score_and_line
    from objrec.suggest import reason

    near = Prediction("a.jpg", score=0.0004, line=0.0)
    assert near.familiarity_note == "barely familiar: 0.0004, unknown below 0.0000"
    below = Prediction("b.jpg", score=-0.0004, line=0.0, unknown=True)
    assert below.familiarity_note == "familiarity -0.0004, unknown below 0.0000"
    assert reason(1.0, 1.0, True, -0.004, 0.0) == (
        "answered unknown (familiarity -0.004, unknown below 0.000)"
    )
    assert score_and_line(0.2239, 0.2236) == ("0.2239", "0.2236")  # not "0.22" under "0.224"
    assert score_and_line(0.25, 0.25) == ("0.25", "0.25")  # on the line (not below: answered)
    assert score_and_line(0.18, 0.0) == ("0.18", "0") and score_and_line(-0.6, 0.0)[0] == "-0.60"


def test_a_folder_that_is_no_run_is_refused_before_the_inputs_are_looked_at(tmp_path, caplog):
    """``predict NOT_A_RUN FOLDER`` warned about FOLDER's files (``notes.txt`` left out), then
    said there was no checkpoint: the run is checked first, and only its error is said."""
    from objrec.errors import ObjrecError

    (tmp_path / "photos").mkdir()
    make_image((200, 40, 40)).save(tmp_path / "photos" / "a.jpg", "JPEG")
    (tmp_path / "photos" / "notes.txt").write_text("where these were taken")
    (tmp_path / "not_a_run").mkdir()
    with caplog.at_level("WARNING", "objrec"), pytest.raises(ObjrecError, match="no checkpoint"):
        predict(tmp_path / "not_a_run", [tmp_path / "photos"])
    assert caplog.messages == []


def read_csv_rows(path):
    import csv

    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_predict_csv_is_one_flat_row_per_input_that_a_spreadsheet_opens(tmp_path):
    """A spreadsheet user had only --json, whose top-k is a nested list: `csv` writes one row
    per input (a failed one too, with its reason), the top-k as flat columns, in UTF-8 with the
    byte-order mark by which Excel reads "café" as written; each answered row says the threshold
    its answer was judged by, as --json does (none before: which one made an "unknown"?)."""
    import codecs

    from objrec.predict import Prediction, Predictions
    from objrec.predict_outputs import write_csv

    rust = [{"class": "rust", "prob": 0.75}, {"class": "café au lait", "prob": 0.25}]
    kept = dict(unknown_threshold=0.0, unknown_threshold_kept_on="2026-12-01T10:00:00Z")
    results = [
        Prediction(
            "leaves/a.jpg", rust, score=0.1, line=0.0, unknown_threshold=0.0
        ),  # barely familiar
        Prediction("leaves/b.jpg", rust[::-1], unknown=True, score=-0.5, line=0.0, **kept),
        Prediction("gone.jpg", error="no such file or folder", unknown_threshold=0.0),
    ]
    path = write_csv(results, tmp_path / "new folder" / "p.csv")
    assert path.read_bytes().startswith(codecs.BOM_UTF8)
    columns, rows = read_csv_rows(path)
    first = ["filename", "path", "answer", "predicted", "prob_predicted", "unknown"]
    first += ["barely_familiar", "score", "unknown_threshold", "unknown_threshold_kept_on"]
    assert columns == [*first, "class_1", "prob_1", "class_2", "prob_2", "error"]
    assert rows[0] == {
        **dict(filename="a.jpg", path="leaves/a.jpg", answer="rust", predicted="rust"),
        **dict(prob_predicted="0.75", unknown="False", barely_familiar="True", score="0.1"),
        **dict(unknown_threshold="0.0", unknown_threshold_kept_on=""),  # the run's own
        **dict(class_1="rust", prob_1="0.75", class_2="café au lait", prob_2="0.25", error=""),
    }
    assert [rows[1][k] for k in first[-2:]] == ["0.0", "2026-12-01T10:00:00Z"]
    # `predicted` is the closest class even when unknown: `answer` is what the lines say
    assert [rows[1][k] for k in ("answer", "predicted", "unknown", "barely_familiar")] == [
        *("unknown", "café au lait", "True", "False")
    ]
    assert rows[2]["error"] == "no such file or folder" and rows[2]["filename"] == "gone.jpg"
    assert not [k for k in columns[2:-1] if rows[2][k]]  # the rest left empty
    table = Predictions(results).table()  # the same rows, as a DataFrame (empty: missing)
    assert list(table.columns) == columns
    assert table.astype(object).where(table.notna(), "").astype(str).to_dict("records") == rows


def test_predict_csv_names_a_file_whose_name_is_not_utf8_escaped(tmp_path):
    """predict lists a file whose name is not UTF-8 (an old zip's Latin-1 ``caf\xe9.jpg``) with
    why it is not read, and prints its name escaped; --csv ended in a traceback
    (UnicodeEncodeError: surrogates not allowed) and wrote no table. The name is written as
    printed, its byte escaped."""
    from objrec.listing import BAD_NAME
    from objrec.predict import Prediction
    from objrec.predict_outputs import write_csv

    name = os.fsdecode(b"old/caf\xe9.jpg")
    path = write_csv([Prediction(name, error=BAD_NAME)], tmp_path / "p.csv")
    _, (row,) = read_csv_rows(path)
    assert (row["filename"], row["path"], row["error"]) == (
        "caf\\xe9.jpg",
        "old/caf\\xe9.jpg",
        BAD_NAME,
    )


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_written_as_text(tmp_path):
    """A file named ``=cmd.png`` (or a class ``-x``, ``@b``) in predict --csv or evaluate's tables
    was a formula when opened in Excel (CSV injection): such a cell gets a ``'`` before it, as
    OWASP advises, a number's minus sign does not, and objrec's readers (the report) take it off."""
    import pandas as pd

    from objrec.predict import Prediction
    from objrec.predict_outputs import write_csv
    from objrec.report import read_table
    from objrec.tables import exact_cell, spreadsheet_cell, write_table

    for name in ("=cmd.png", "'=x", "''@y", "'plain", "-1", "+a", "@b", "\tc", "plain", "", "'"):
        assert exact_cell(spreadsheet_cell(name)) == name
    topk = [{"class": "-x", "prob": 0.6}, {"class": "@b", "prob": 0.4}]
    path = write_csv([Prediction("=cmd.png", topk, score=-0.5, line=0.0)], tmp_path / "p.csv")
    row = read_csv_rows(path)[1][0]
    assert [row[k] for k in ("filename", "path", "answer", "class_2", "score")] == [
        *("'=cmd.png", "'=cmd.png", "'-x", "'@b", "-0.5")
    ]
    table = pd.DataFrame({"path": ["=a.png", "b.png"], "true": ["-x", "'=y"], "loss": [-1.0, 2.0]})
    write_table(table, tmp_path / "t.csv")
    assert "'=a.png,'-x,-1.0" in (tmp_path / "t.csv").read_text("utf-8-sig")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv", ("path", "true")), table)


def test_an_existing_csv_is_refused_before_any_work_unless_forced(tmp_path):
    """Checked before the run is even loaded: a file of the user's is kept, a link or a folder
    is refused even with `force`, and the plot's own file is no CSV."""
    from objrec.errors import ObjrecError

    mine = tmp_path / "mine.csv"
    mine.write_text("my notes")
    no_run = tmp_path / "no-run"
    with pytest.raises(
        ObjrecError, match=r"mine\.csv exists: choose another `csv` or pass `force=True`"
    ):
        predict(no_run, [tmp_path], csv=mine)
    assert mine.read_text() == "my notes"
    with pytest.raises(ObjrecError, match="no checkpoint"):  # forced: on to the run
        predict(no_run, [tmp_path], csv=mine, force=True)
    (tmp_path / "link.csv").symlink_to(mine)
    with pytest.raises(ObjrecError, match=r"link\.csv is a link, which objrec never writes"):
        predict(no_run, [tmp_path], csv=tmp_path / "link.csv", force=True)
    with pytest.raises(ObjrecError, match="`csv` and `plot` are the same file"):
        predict(no_run, [tmp_path / "mine.csv"], csv=tmp_path / "p.png", plot=tmp_path / "p.png")


def test_no_output_is_written_over_a_photo_to_predict_even_forced(tmp_path):
    """A photo to predict, named as the CSV (or the plot), was written over, even with `force`;
    without `force` the plot was refused as an existing file, "or pass `force=True`". An image
    given by a link (or a hard link) to the photo was no input named as the output, and a plot
    named as a link to the photo was drawn through the link, over the photo."""
    from objrec.errors import ObjrecError

    no_run = tmp_path / "no-run"
    photo = tmp_path / "photos" / "a.png"
    photo.parent.mkdir()
    make_image((200, 30, 30)).save(photo)
    kept = photo.read_bytes()
    (tmp_path / "latest.png").symlink_to(photo)
    os.link(photo, tmp_path / "hard.png")
    for output, force, given in product(("csv", "plot"), (False, True), ("a", "latest", "hard")):
        image = photo if given == "a" else tmp_path / f"{given}.png"
        with pytest.raises(ObjrecError, match=rf"`{output}` \S+a\.png is one of the images to"):
            predict(no_run, [image], **{output: photo}, force=force)
    with pytest.raises(ObjrecError, match=r"a\.png is named as an image inside the image folder"):
        predict(no_run, [photo.parent], csv=photo, force=True)
    with pytest.raises(ObjrecError, match=r"latest\.png is a link, which objrec never writes"):
        predict(no_run, [photo], plot=tmp_path / "latest.png", force=True)
    assert photo.read_bytes() == kept


def test_a_plot_named_without_an_image_format_is_refused_before_any_work(tmp_path):
    """`--plot figure` left a hidden .objrec-*.png (matplotlib added .png to the temporary name)
    and said "no such file"; `--plot fig.txt` ended in matplotlib's traceback; `--plot fig.pgf`
    (LaTeX drawing commands, which matplotlib makes with a TeX system) in "'xelatex' not found",
    after every image was predicted. All are refused before the run is even looked for."""
    from objrec.errors import ObjrecError

    photo = tmp_path / "a.png"
    make_image((200, 30, 30)).save(photo)
    names = ("figure", "figure.png"), ("fig.txt", "fig.png"), ("f.", "f.png"), ("g.pgf", "g.png")
    for name, other in names:
        with pytest.raises(
            ObjrecError, match=rf"does not end in an image format: name it \S+/{other}, "
        ):
            predict(tmp_path / "no-run", [photo], plot=tmp_path / name)


@pytest.mark.slow  # lays out 40 axes (about 1 s)
@pytest.mark.figures
def test_predict_plot_of_many_images_is_a_grid_not_one_long_column(tmp_path):
    """`predict --plot` of 20 images drew one column of 20 rows, 1085 x 7529 pixels: now a grid
    of 4 to a row, each picture over its chart, about as wide as tall."""
    from PIL import Image

    from objrec import plots

    topk = [("lamp", 0.6), ("chair", 0.3), ("cup", 0.1)]
    rows = [(Image.new("RGB", (30, 20)), f"{i}.jpg", topk, i == 3) for i in range(20)]
    fig = plots.predictions_figure(rows, "Top-3 predictions")
    pictures = [ax for ax in fig.axes if ax.images]
    columns = {round(ax.get_position().x0, 2) for ax in pictures}
    lines = {round(ax.get_position().y0, 2) for ax in pictures}
    assert len(pictures) == 20 and len(columns) == 4 and len(lines) == 5
    width, height = fig.get_size_inches()
    assert 0.5 < width / height < 2
    charts = [ax for ax in fig.axes if not ax.images]
    assert charts[3].get_title().startswith("unknown - closest: lamp")
    for picture, chart in zip(pictures, charts, strict=True):  # each chart under its picture
        assert picture.get_position().x0 == pytest.approx(chart.get_position().x0, abs=0.05)
        assert picture.get_position().y0 > chart.get_position().y1


def test_predict_s_lines_state_the_unknown_threshold_once(capsys):
    """predict's lines for images answered unknown said nothing of the threshold on a run that
    answers by the top probability ("unknown (like none of the classes); closest: cat 41.00%"),
    and repeated "unknown below 0" on every line of a familiarity run. One line under them says
    the threshold and whose it is; each image's line keeps its own familiarity."""
    from objrec.cli.prediction import print_predictions
    from objrec.predict import Prediction

    top = [{"class": "cat", "prob": 0.41}, {"class": "dog", "prob": 0.59}]
    msp = dict(topk=top, unknown=True, score=0.41, unknown_threshold=0.5, unknown_score="msp")
    print_predictions([Prediction("a.jpg", **msp), Prediction("b.jpg", **msp)], None, 20)
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == (
        "a.jpg: unknown, like none of the classes; if it is one of its classes: cat 41.00%, dog "
        "59.00%"
    )
    assert err.splitlines() == ["unknown below a top probability of 0.5: the run's own threshold"]
    familiar = dict(topk=top, score=-0.214, line=0.0, unknown_threshold=0.0, unknown_score="knn")
    near = Prediction("c.jpg", **(familiar | {"score": 0.02}))
    kept = dict(unknown_threshold_kept_on="2026-12-03T10:00:00+00:00")
    print_predictions([Prediction("b.jpg", unknown=True, **familiar, **kept), near], None, 20)
    out, err = capsys.readouterr()
    out = out.splitlines()
    assert out[0].endswith("cat 41.00%, dog 59.00% (familiarity -0.21)")
    assert out[1] == "c.jpg: cat 41.00%, dog 59.00% (barely familiar: 0.02)"
    assert err.splitlines() == [  # on lines a terminal of 100 columns shows whole
        "unknown below familiarity 0 (a typical validation image scores 1): kept from evaluate "
        "--unknown",
        "  on 2026-12-03",
    ]
    print_predictions([Prediction("d.jpg", **(familiar | {"score": 0.9}))], None, 20, given=0.3)
    assert "unknown below" not in str(capsys.readouterr())  # none judged: nothing said
    given = familiar | {"line": 0.3, "unknown_threshold": 0.3}
    print_predictions([Prediction("b.jpg", unknown=True, **given)], None, 20, given=0.3)
    assert capsys.readouterr().err.splitlines()[-1] == (
        "unknown below familiarity 0.3 (a typical validation image scores 1): given with "
        "--threshold"
    )
    shaky = Prediction("e.jpg", unknown=True, **familiar, threshold_images=20)
    print_predictions([shaky], None, 20)
    lines = capsys.readouterr().err.splitlines()  # it was one line of 205 characters
    assert max(map(len, lines)) <= 100 and len(lines) == 2 and lines[1].startswith("  chosen on")


def test_predict_s_notes_go_to_stderr_and_quiet_leaves_them_out(capsys, monkeypatch):
    """predict's threshold line, its mixed pairs' line and its hint on strangers were printed on
    stdout among the answers (cli62): a script reading the lines got them as answers, and
    `objrec -q` kept them. They are notes: on stderr, and none under -q; stdout keeps the
    answers and the tally."""
    from objrec.cli.output import notes
    from objrec.cli.prediction import print_predictions, tally_lines
    from objrec.predict import Prediction

    top = [{"class": "cup", "prob": 0.7}, {"class": "mug", "prob": 0.3}]
    mixed = Prediction(
        "m.jpg", top, score=0.5, line=0.0, unknown_threshold=0.0, confused_with=["mug"]
    )
    results = [tallied("u.jpg", "cup", -0.4), mixed]
    for quiet in (False, True):
        monkeypatch.setattr(notes, "quiet", quiet)
        print_predictions(results, None, 20, hint="a hint on strangers")
        out, err = capsys.readouterr()
        assert [line.split(":")[0] for line in out.splitlines()[:2]] == ["u.jpg", "m.jpg"]
        assert out.splitlines()[2:] == tally_lines(results)
        assert "unknown below" not in out and "both ways" not in out and "hint" not in out
        said = ["unknown below familiarity 0", "both ways", "a hint on strangers"]
        assert [part in err for part in said] == [not quiet] * 3, err


def test_predict_s_help_says_the_threshold_line_comes_only_when_an_answer_was_judged(capsys):
    """predict --help said the threshold that judged the answers "is said once, under the
    lines"; a newcomer whose 6 photos were all confidently answered looked for it in vain: it is
    printed only when some image is answered unknown or barely familiar (above), as help says."""
    from objrec.cli import main

    assert main(["predict", "--help-all"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "When any image is answered unknown or barely familiar, the threshold that judged them is "
        "said once, under the lines." in said
    )


def test_predict_s_help_says_it_exits_1_after_answering_the_other_inputs(capsys):
    """predict exits 1 when an input is unreadable, still writing the other answers: a `set -e`
    script stopped after a good run, and only docs/json.md said so."""
    from objrec.cli import main

    assert main(["predict", "--help"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "Exits with 0 when every image was answered (unknown is an answer); 1 when an" in said
    assert "input could not be" in said
    assert "after answering the others and writing them all" in said


def test_predict_s_threshold_line_says_how_many_validation_images_the_run_s_own_rests_on(capsys):
    """A newcomer's clear photo of a known class came out unknown (familiarity -0.21) from a run
    whose threshold rested on 36 validation images; predict's threshold line now says so."""
    from objrec.cli.prediction import print_predictions
    from objrec.predict import Prediction

    top = [{"class": "cup", "prob": 0.8}, {"class": "lamp", "prob": 0.2}]
    mug = dict(
        topk=top, unknown=True, score=-0.21, line=0.0, unknown_threshold=0.0, unknown_score="knn"
    )
    print_predictions([Prediction("mug.jpg", **mug, threshold_images=36)], None, 20)
    assert " ".join(capsys.readouterr().err.split()) == (  # as wrapped
        "unknown below familiarity 0 (a typical validation image scores 1): the run's own "
        "threshold, chosen on only 36 validation images (under 100: shaky)"  # in full: train's
    )


@pytest.mark.slow  # two predictions of 6 images (0.1 s)
def test_json_s_answer_is_the_class_or_unknown_as_the_threshold_judged_it(trained_run, split_dir):
    """A script acting on predict --json read `topk[0]` and `unknown` and applied the threshold
    rule again; `answer` is what to act on: the top class, "unknown" for an image the run's
    threshold judged unknown (its closest class still first in `topk`), null for an input that
    failed. At a threshold between the images' scores, some of each."""
    images = sorted((split_dir / "test").glob("*/*"))[:6]
    scores = sorted(p.score for p in predict(trained_run, images))
    middle = (scores[2] + scores[3]) / 2
    answers = [p.to_json() for p in predict(trained_run, [*images, "gone.jpg"], threshold=middle)]
    assert [a["answer"] for a in answers[:-1]] == [
        "unknown" if a["score"] < middle else a["topk"][0]["class"] for a in answers[:-1]
    ]
    assert {a["answer"] == "unknown" for a in answers[:-1]} == {True, False}
    assert [a["unknown"] for a in answers[:-1]] == [a["answer"] == "unknown" for a in answers[:-1]]
    assert answers[-1]["answer"] is None and answers[-1]["error"]
    assert list(answers[0])[:4] == ["filename", "path", "answer", "unknown"]  # as --csv's columns


def tallied(name: str, top: str, score: float | None, threshold: float | None = 0.0):
    """A prediction of ``top`` at familiarity ``score``, judged unknown under ``threshold``."""
    from objrec.predict import Prediction

    judged = threshold is not None and score is not None and score < threshold
    classes = [{"class": top, "prob": 0.9}, {"class": "other", "prob": 0.1}]
    return Prediction(
        name, classes, score=score, line=threshold, unknown_threshold=threshold, unknown=judged
    )


def test_predict_s_lines_end_with_a_tally_of_the_answers(capsys):
    """A user predicting a folder of 400 photos scrolled back through its lines to count them.
    The lines end with how many images went to each class, most first, with how many of them
    were barely familiar, and, when a threshold judged them, how many were like none of the
    classes (0 too); an input that failed is not counted, one image has no tally."""
    from objrec.cli.prediction import print_predictions
    from objrec.predict import Prediction, Predictions

    answered = [tallied("a.jpg", "lamp", 0.9), tallied("b.jpg", "cup", 0.1)]
    answered += [tallied("c.jpg", "cup", 0.8), tallied("d.jpg", "cup", -0.3)]
    results = Predictions([*answered, Prediction("e.jpg", error="truncated")])
    assert results.tally() == {"cup": 2, "lamp": 1, "unknown": 1}
    assert results.tally() == dict(Counter(r.to_json()["answer"] for r in results[:4]))
    print_predictions(results, None, 20)
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "4 images answered:",
        "  cup      2 (1 barely familiar)",
        "  lamp     1",
        "  unknown  1 (like none of the classes)",
    ]
    print_predictions(Predictions(results[:1]), None, 20)
    assert capsys.readouterr().out.splitlines() == ["a.jpg: lamp 90.00%, other 10.00%"]
    print_predictions(Predictions(results[:3:2]), None, 20)
    assert capsys.readouterr().out.splitlines()[-1] == "  unknown  0 (like none of the classes)"
    off = [tallied(f"{i}.jpg", "cup", None, None) for i in range(10)]  # --no-unknown
    print_predictions(Predictions(off), None, 20)
    assert capsys.readouterr().out.splitlines()[-2:] == ["10 images answered:", "  cup  10"]


def test_predict_points_once_to_why_a_stranger_gets_a_class_until_evaluate_measured_it(
    tmp_path,
):
    """42 of 50 lotus photos, never taught, came out "sunflower 93%" and predict gave no hint
    why; only evaluate --unknown said it (newcomer62, 2). One line under the answers says it
    and how to measure it, while no evaluation of the run measured strangers; none when every
    answer is unknown, with --no-unknown (no threshold), or once evaluate --unknown was run."""
    from objrec.cli.prediction import strangers_hint
    from objrec.predict import Predictions

    run = tmp_path / "run"
    run.mkdir()
    answers = Predictions([tallied(f"{i}.jpg", "sunflower", 0.8) for i in range(50)])
    said = strangers_hint(run, answers)
    assert said is not None and said.count("docs/confidence.md") == 1
    assert f"`objrec evaluate {run} DATA --unknown FOLDER`" in said
    assert strangers_hint(run, Predictions([tallied("u.jpg", "cup", -0.4)])) is None
    assert strangers_hint(run, Predictions([tallied("n.jpg", "cup", None, None)])) is None
    (run / "eval-test").mkdir()
    metrics = {"n": 70, "top1": 0.97, "open_set": {"auroc": 0.88}}
    (run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    assert strangers_hint(run, answers) is None


def test_commands_md_s_tally_is_the_one_predict_prints():
    """docs/commands.md shows a tally of 120 images: it is what predict prints for them."""
    from objrec.cli.prediction import tally_lines

    page = (Path(__file__).parents[1] / "docs" / "commands.md").read_text()
    shown = page.split("- **The tally.**")[1].split("```text\n")[1].split("  ```")[0]
    results = [tallied("c.jpg", "cup", 0.1)] * 3 + [tallied("c.jpg", "cup", 0.9)] * 68
    results += [tallied("l.jpg", "lamp", 0.9)] * 40 + [tallied("u.jpg", "cup", -0.5)] * 9
    assert [line.removeprefix("  ") for line in shown.splitlines()] == tally_lines(results)


def run_in_this_cache(run: Path, body_change: float = 0.0) -> Path:
    """``run`` (a test's copy) reading the feature store of ``$OBJREC_CACHE``, this test's own,
    rather than the session's folder it was trained with; ``body_change``: added to one weight
    of its frozen body (another body, another fingerprint)."""
    from dataclasses import replace

    import torch

    from objrec.checkpoint import load_model, save_checkpoint
    from objrec.run_files import BEST

    model, meta = load_model(run)
    if body_change:
        with torch.no_grad():
            next(model.body.parameters()).view(-1)[0] += body_change
    config = replace(meta.train_config, cache_dir=None)
    save_checkpoint(run / BEST, model, replace(meta, train_config=config))
    return run


def count_views(monkeypatch) -> list[int]:
    """The image views predict preprocesses from pixels (each view of each image once), counted
    into the list returned (one number)."""
    from objrec.inference import Recognizer

    counted, own = [0], Recognizer._transform

    def counting(self, view):
        transform = own(self, view)

        def counted_transform(image):
            counted[0] += 1
            return transform(image)

        return counted_transform

    monkeypatch.setattr(Recognizer, "_transform", counting)
    return counted


def answers_of(results) -> dict[str, tuple]:
    return {r.path: (r.answer, tuple(t["prob"] for t in r.topk), r.score) for r in results}


@pytest.mark.slow
def test_predict_reads_the_features_evaluate_stored_and_computes_only_the_others(
    trained_run, split_dir, tmp_path, monkeypatch
):
    """evaluate then predict on the same images (``objrec demo``'s last two steps): predict
    answers from the rows evaluate stored, evaluate's own answers, and pushes none of those
    images through the body; the images the store lacks (the valid ones) it computes, writing
    none of them into the store. Without the store (another cache folder), predict's answers are
    the same classes within ``test_inference.TOLERANCE``: the rows are ONNX Runtime's. Files the
    store's file index does not know are not hashed: they are computed."""
    from objrec.cache import open_cache
    from objrec.evaluate import evaluate

    from .test_inference import TOLERANCE

    run = run_in_this_cache(trained_run)
    evaluation = evaluate(run, split_dir, out=tmp_path / "eval")
    reference = dict(zip(evaluation.predictions["path"], evaluation.probabilities, strict=True))
    written = sum(s.entries for s in open_cache().summary().spaces)
    files = open_cache().store.indexed_files()
    counted = count_views(monkeypatch)
    results = predict(run, [split_dir / "test", split_dir / "valid"], topk=3)
    assert counted[0] == sum("/valid/" in r.path for r in results) >= 3
    assert sum(s.entries for s in open_cache().summary().spaces) == written
    assert open_cache().store.indexed_files() == files  # the valid images: none hashed
    tested = [r for r in results if "/test/" in r.path]
    assert len(tested) == len(reference) >= 3
    for r in tested:  # evaluate's answer, to the bit
        assert [t["prob"] for t in r.topk] == sorted(reference[r.path].tolist(), reverse=True)
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "empty"))
    computed = predict(run, [split_dir / "test", split_dir / "valid"], topk=3)
    assert counted[0] == len(results) + sum("/valid/" in r.path for r in results)
    for stored, fresh in zip(results, computed, strict=True):
        assert stored.answer == fresh.answer and stored.path == fresh.path
        worst = max(
            abs(a["prob"] - b["prob"]) for a, b in zip(stored.topk, fresh.topk, strict=True)
        )
        assert worst <= TOLERANCE
    assert not (tmp_path / "empty").exists()  # nothing made where nothing was stored


@pytest.mark.slow
@pytest.mark.parametrize("other", ["body", "view", "runtime"])
def test_predict_reads_no_stored_row_of_another_body_view_or_runtime(
    other, trained_run, split_dir, tmp_path, monkeypatch
):
    """Rows stored for the same images by another body (one weight changed), in the centre view
    alone when predict averages the test-time views, or for a predict that runs the whole model
    in ONNX Runtime are not its computation: it computes every view of every image."""
    from objrec.evaluate import evaluate
    from objrec.transforms import TTA_VIEWS

    run = run_in_this_cache(trained_run)
    evaluate(run, split_dir, out=tmp_path / "eval")
    if other == "body":
        run_in_this_cache(run, body_change=0.5)
    counted = count_views(monkeypatch)
    tta, runtime = other == "view", "onnx" if other == "runtime" else "torch"
    results = predict(run, [split_dir / "test"], tta=tta, runtime=runtime)
    assert counted[0] == len(results) * (len(TTA_VIEWS) if tta else 1) >= 3


@pytest.mark.slow
def test_predict_with_test_time_views_reads_them_all_once_stored(
    trained_run, split_dir, tmp_path, monkeypatch
):
    """``evaluate --tta`` stores every test-time view: predict ``tta`` then computes nothing, and
    answers as evaluate did."""
    from objrec.evaluate import evaluate

    run = run_in_this_cache(trained_run)
    evaluation = evaluate(run, split_dir, out=tmp_path / "eval", tta=True)
    reference = dict(zip(evaluation.predictions["path"], evaluation.probabilities, strict=True))
    counted = count_views(monkeypatch)
    results = predict(run, [split_dir / "test"], topk=3, tta=True)
    assert counted[0] == 0 and len(results) == len(reference)
    for r in results:
        assert [t["prob"] for t in r.topk] == sorted(reference[r.path].tolist(), reverse=True)


@pytest.mark.slow
def test_predict_in_one_thread_reads_the_store_another_thread_holds_open(
    trained_run, split_dir, tmp_path, monkeypatch
):
    """store61's item 3, left: a Python API caller training in one thread (its feature store
    open) and predicting in another. The process had one store a folder, the first thread's,
    whose SQLite connection no other thread may use: predict's read of the store failed, and
    letting go of it raised ProgrammingError, ending predict. Each thread has a store of its own
    now: predict answers every image from the rows evaluate stored, the other thread's store
    left open."""
    import threading

    from objrec.cache import open_cache
    from objrec.evaluate import evaluate

    run = run_in_this_cache(trained_run)
    evaluate(run, split_dir, out=tmp_path / "eval")
    held = open_cache().store  # this thread's, open, as a training's would be
    assert held.indexed_files() and held.is_open
    counted, answered, failed = count_views(monkeypatch), [], []

    def predicting() -> None:
        try:
            answered.extend(predict(run, [split_dir / "test"]))
        except Exception as exc:
            failed.append(repr(exc))

    thread = threading.Thread(target=predicting)
    thread.start()
    thread.join(300)
    assert failed == [] and len(answered) >= 3 and all(r.error is None for r in answered)
    assert counted[0] == 0 and held.is_open  # every image from the store
    open_cache().close()


@pytest.mark.slow
def test_a_store_that_cannot_be_read_leaves_predict_computing(
    trained_run, split_dir, tmp_path, monkeypatch, caplog
):
    """A damaged index (or a read-only one) is no error for predict, which only reads the store to save time: it computes, and says why at info."""
    import logging

    from objrec.cache import open_cache
    from objrec.evaluate import evaluate

    run = run_in_this_cache(trained_run)
    evaluate(run, split_dir, out=tmp_path / "eval")
    open_cache().close()
    index = open_cache().root / "store" / "index.sqlite"
    for side in ("-wal", "-shm"):
        Path(f"{index}{side}").unlink(missing_ok=True)
    index.write_bytes(b"not a database" * 100)
    counted = count_views(monkeypatch)
    with caplog.at_level(logging.INFO, logger="objrec.inference"):
        results = predict(run, [split_dir / "test"])
    assert counted[0] == len(results) and all(r.error is None for r in results)
    assert "the feature store is not read" in caplog.text and "damaged" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_an_int8_run_reads_its_engines_rows_and_answers_as_it_computes(
    engine, split_dir, tmp_path, tiny_config, monkeypatch
):
    """An int8 body (``train``'s default where it is faster) is keyed by its graph and engine:
    predict reads the rows evaluate stored for it, and answers as it does without them (the same
    graph in the same engine); the same body in float32 reads none of them."""
    from objrec.evaluate import evaluate
    from objrec.train import train

    tiny_config.precision, tiny_config.epochs, tiny_config.int8_engine = "int8", 3, engine
    tiny_config.cache_dir = None
    train(split_dir, tmp_path / "int8", tiny_config)
    evaluate(tmp_path / "int8", split_dir, out=tmp_path / "eval")
    counted = count_views(monkeypatch)
    stored = predict(tmp_path / "int8", [split_dir / "test"], topk=3)
    assert counted[0] == 0
    tiny_config.precision = "fp32"
    train(split_dir, tmp_path / "fp32", tiny_config)
    predict(tmp_path / "fp32", [split_dir / "test"], topk=3)
    assert counted[0] == len(stored) >= 3
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "empty"))
    computed = predict(tmp_path / "int8", [split_dir / "test"], topk=3)
    assert answers_of(stored) == answers_of(computed)


@pytest.mark.slow
def test_predict_says_when_its_answer_is_of_a_pair_the_evaluation_mistook_both_ways(
    trained_run, split_dir, capsys, monkeypatch
):
    """finegrain40: a crocodile answered "crocodile 71%" gave no hint that the run's evaluation
    mistook crocodile and crocodile_head for each other both ways. When the run's evaluation
    records such pairs, predict says so in one line and --json's confused_with names the other;
    nothing from a run without that record (older runs), or of a model trained since."""
    import json

    from objrec.checkpoint import model_digest
    from objrec.cli import main

    monkeypatch.setattr(sys.modules["objrec.prediction"], "MIXED_PROB", 0)  # a tiny run is sure
    image = next((split_dir / "test" / "red").iterdir())
    (first,) = predict(trained_run, [image])
    assert first.confused_with is None and first.to_json()["confused_with"] is None
    answer, other = (str(t["class"]) for t in first.topk[:2])
    pair = {"a": answer, "b": other, "a_as_b": 2, "b_as_a": 2, "n_a": 10, "n_b": 12}
    folder = str(split_dir / "test")
    metrics = {"model": model_digest(trained_run), "folder": folder, "mixed_pairs": [pair]}
    (trained_run / "eval-test").mkdir()
    (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    assert main(["predict", str(trained_run), str(image)]) == 0
    said = " ".join(capsys.readouterr().err.split())  # a note, on stderr
    a, b = sorted((answer, other))
    assert (
        f"the run's evaluation mistook {a} and {b} for each other both ways: for an answer of "
        "either, the other deserves a look"
    ) in said
    assert main(["predict", str(trained_run), str(image), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["confused_with"] == [other]
    for older in ({"model": "0" * 32}, {"mixed_pairs": None}):  # another model's; none recorded
        (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics | older))
        assert predict(trained_run, [image])[0].confused_with is None


def test_confused_with_prefers_the_run_s_own_test_split_to_another_folder_named_test(
    trained_run, split_dir, tmp_path, monkeypatch
):
    """recorded_pairs took any evaluated folder named test for the run's test split, so a later
    evaluation of ~/other/test outranked the run's own test split's."""
    import json
    import os

    from objrec.checkpoint import model_digest

    monkeypatch.setattr(sys.modules["objrec.prediction"], "MIXED_PROB", 0)  # a tiny run is sure
    image = next((split_dir / "test" / "red").iterdir())
    answer, other = (str(t["class"]) for t in predict(trained_run, [image])[0].topk[:2])
    pair = {"a": answer, "b": other, "a_as_b": 2, "b_as_a": 2, "n_a": 10, "n_b": 12}
    model = model_digest(trained_run)
    for n, (name, folder, pairs) in enumerate(
        (("eval-test", split_dir / "test", [pair]), ("eval-other", tmp_path / "other" / "test", []))
    ):
        (trained_run / name).mkdir()
        metrics = trained_run / name / "metrics.json"
        record = {"model": model, "folder": str(folder), "mixed_pairs": pairs}
        metrics.write_text(json.dumps(record))
        os.utime(metrics, (1e9 + n, 1e9 + n))  # the other folder's evaluation is the later
    assert predict(trained_run, [image])[0].confused_with == [other]


def test_mixed_pairs_rows_that_name_no_two_classes_are_passed_over(trained_run):
    """A metrics.json edited by hand (a row without "b", a row that is no object) stopped
    predict with a KeyError; those rows are passed over, the others read."""
    import json

    from objrec.checkpoint import model_digest
    from objrec.prediction import mixed_partners

    counts = {"a_as_b": 2, "b_as_a": 3, "n_a": 10, "n_b": 10}
    rows = [{"a": "red"}, "red/green", {"a": "red", "b": "green"} | counts]
    (trained_run / "eval-test").mkdir()
    metrics = {"model": model_digest(trained_run), "folder": "x", "mixed_pairs": rows}
    (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    assert mixed_partners(trained_run) == {"red": ["green"], "green": ["red"]}


def test_a_pair_is_named_on_real_evidence_and_only_beside_a_real_probability():
    """crocodile and crocodile_head were named for every answer of either on one
    mistake each way (1 and 1 of 10), and beside "crocodile 100%". A pair is named now when each
    class's images were taken for the other at least twice and 5% of them, and only to an answer
    that gives the partner 5% or more of its probabilities."""
    from types import SimpleNamespace

    from objrec.metrics import often_mixed
    from objrec.prediction import mixed_in

    def pair(a_as_b, b_as_a, n_a=10, n_b=10):
        return {
            "a": "croc",
            "b": "head",
            "a_as_b": a_as_b,
            "b_as_a": b_as_a,
            "n_a": n_a,
            "n_b": n_b,
        }

    assert not often_mixed(pair(1, 1)) and not often_mixed(pair(4, 1))
    assert often_mixed(pair(2, 3)) and not often_mixed(pair(2, 3, n_a=150))  # 2 of 150: 1.3%
    assert not often_mixed(pair(3, 2, n_b=150))  # each half of the pair: the other's 2 of 150
    assert not often_mixed({"a": "croc", "b": "head", "a_as_b": "2"})

    mixed = {"croc": ["head"], "head": ["croc"]}
    recognizer = SimpleNamespace(classes=["croc", "head", "dog"], mixed=mixed)

    def confused(probs):  # an answer's confused_with, of its top class and every probability
        top = max(probs, key=probs.get)
        every = [probs.get(c, 0.0) for c in recognizer.classes]
        return mixed_in(recognizer, every, [{"class": top, "prob": probs[top]}])

    sure, torn = confused({"croc": 1.0, "head": 0.0}), confused({"croc": 0.7, "head": 0.25})
    head, other = confused({"head": 0.9, "croc": 0.05}), confused({"dog": 0.9, "croc": 0.1})
    assert (sure, torn, head, other) == ([], ["head"], ["croc"], [])


def test_a_partner_is_named_from_every_probability_not_the_top_k_alone(
    trained_run, tmp_path, monkeypatch
):
    """review59a L2: `confused_with` looked the partner up among the top-k, so `predict(...,
    topk=1)` (and serve's `topk=1`) said `[]` for every answer, even where the partner held 30%.
    The partner is judged on the answer's probabilities of every class, whatever the top-k."""
    import importlib

    from objrec import prediction

    make_image((200, 40, 40), seed=5).save(image := tmp_path / "red.png")
    (first,) = predict(trained_run, [image], topk=3, unknown=False)
    top, (second, p) = first.answer, (first.topk[1]["class"], first.topk[1]["prob"])
    assert p > 0
    monkeypatch.setattr(prediction, "MIXED_PROB", p / 2)
    pairs = {top: [second], second: [top]}
    monkeypatch.setattr(
        importlib.import_module("objrec.predict"), "mixed_partners", lambda *a: pairs
    )
    for k in (3, 1):
        (answer,) = predict(trained_run, [image], topk=k, unknown=False)
        assert answer.answer == top and answer.confused_with == [second], k


def test_thin_pairs_of_the_run_s_evaluation_are_not_named(trained_run):
    """The pairs read from the run's evaluation are those of real evidence (:func:`often_mixed`)."""
    import json

    from objrec.checkpoint import model_digest
    from objrec.prediction import mixed_partners

    thin = {"a": "red", "b": "green", "a_as_b": 1, "b_as_a": 1, "n_a": 10, "n_b": 10}
    rows = [thin, thin | {"b": "blue", "a_as_b": 2, "b_as_a": 2}]
    (trained_run / "eval-test").mkdir()
    metrics = {"model": model_digest(trained_run), "folder": "x", "mixed_pairs": rows}
    (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    assert mixed_partners(trained_run) == {"red": ["blue"], "blue": ["red"]}


def test_the_mixed_pairs_line_stays_one_line_for_many_answers():
    """A folder's answers in four pairs: one line, three pairs named, how many answers of how
    many; an unknown answer, or one of a class in no pair, gives none."""
    from objrec.cli.prediction import mixed_sentence
    from objrec.predict import Prediction

    def answered(name, partners, unknown=False):
        top = [{"class": name, "prob": 0.7}]
        return Prediction("x.jpg", top, unknown=unknown, confused_with=partners)

    pairs = [("a", ["b"]), ("c", ["d"]), ("e", ["f"]), ("g", ["h"]), ("b", ["a"])]
    results = [answered(n, p) for n, p in pairs] + [answered("z", []), answered("a", ["b"], True)]
    assert mixed_sentence(results) == (
        "the run's evaluation mistook the classes of each pair for each other both ways: a and b; "
        "c and d; e and f; and 1 pair more (5 of the 6 answers here); for an answer of one, the "
        "other of its pair deserves a look"
    )
    assert mixed_sentence([answered("z", []), answered("a", ["b"], True)]) is None
    assert mixed_sentence([answered("z", None)]) is None


def test_a_web_address_or_a_quoted_tilde_is_said_as_such_not_as_a_missing_file(
    tmp_path, monkeypatch
):
    """mistakes41: `predict run https://example.com/cat.jpg` said "https:/example.com/cat.jpg:
    no such file or folder" (one slash lost on the way through Path), and a quoted "~/x.jpg" the
    same; now each says what it is and what to do. A folder named like a scheme stays a path."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    web, home, plain = expand_paths(["https://example.com/cat.jpg", "~/x.jpg", "gone.jpg"])
    assert (web.path, web.error) == (
        "https://example.com/cat.jpg",
        "a web address: objrec reads files on this computer, so download it first",
    )
    assert (home.path, home.error) == (
        "~/x.jpg",
        f"no such file or folder (~ is a home folder only unquoted: {tmp_path / 'x.jpg'})",
    )
    assert (plain.path, plain.error) == ("gone.jpg", "no such file or folder")
    (tmp_path / "c:").mkdir()
    (local,) = expand_paths(["c://gone.jpg"])
    assert local.error == "no such file or folder"


def test_ctrl_c_while_answering_says_how_far_it_got_and_that_nothing_was_written(
    tmp_path, trained_run, split_dir, monkeypatch
):
    """mistakes41: Ctrl-C in `predict run photos/ --csv p.csv` after 96 of 1,067 images said
    only "aborted"; now how far it got, and that the csv was not written, so run it again."""
    import sys

    from objrec.errors import Interrupted

    predicting = sys.modules["objrec.predict"]  # objrec.predict: the package's function

    answer = predicting._predict_chunk
    calls = []

    def stopped_second(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return answer(*args)

    monkeypatch.setattr(predicting, "_predict_chunk", stopped_second)
    images = sorted((split_dir / "train" / "red").iterdir())[:5]
    with pytest.raises(Interrupted) as caught:
        predict(trained_run, images, batch_size=2, csv=tmp_path / "p.csv")
    assert str(caught.value) == (  # how far it got, the CLI says (tests/test_cli.py)
        f"interrupted: nothing was written (`csv` {tmp_path / 'p.csv'} is written once every "
        "image is answered): run it again"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "data",
        "photos",
        "run",
    ]  # no p.csv, no part
    calls.clear()
    with pytest.raises(Interrupted) as caught:  # the maps are drawn as their images are answered
        predict(trained_run, images, batch_size=2, csv=tmp_path / "p.csv", explain=tmp_path / "m")
    assert str(caught.value) == (
        f"interrupted: `explain` {tmp_path / 'm'} holds the maps of the 2 images answered; nothing "
        f"else was written (`csv` {tmp_path / 'p.csv'} is written once every image is answered): "
        "run it again"
    )
    assert len(list((tmp_path / "m").glob("*.gradcam.png"))) == 2


@pytest.mark.parametrize("option", ["csv", "plot"])
def test_no_output_is_written_over_the_run_being_read_even_forced(tmp_path, option):
    """`predict RUN IMG --csv RUN/model.safetensors --force` replaced the model with a table (and
    `--plot RUN/curves.png --force` train's curves): the run a command reads is no earlier
    output of its own. Refused before any work, by name, through a linked run folder and as a
    hard link of the model, the files kept; another name in the run is the user's to choose."""
    import os

    from objrec.errors import ObjrecError
    from objrec.predict_outputs import check_csv

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"the model")
    (run / "curves.png").write_bytes(b"train's curves")
    (run / "summary.json").write_text("{}")
    (tmp_path / "linked").symlink_to(run)
    suffix = ".csv" if option == "csv" else ".png"
    os.link(run / "model.safetensors", tmp_path / f"hard{suffix}")
    outputs = {
        "csv": [
            (run / "model.safetensors", "is the model"),
            (tmp_path / "linked" / "model.safetensors", "is the model"),
            (run / "history.csv", "is a file `train` wrote"),
            (tmp_path / "linked" / "config.json", "is a file `train` wrote"),
        ],
        "plot": [
            (run / "curves.png", "is a file `train` wrote"),
            (tmp_path / "linked" / "curves.png", "is a file `train` wrote"),
        ],
    }[option] + [(tmp_path / f"hard{suffix}", "is the model")]
    for output, said in outputs:
        with pytest.raises(ObjrecError, match=f"`{option}` .* {said}"):
            predict(run, [tmp_path / "photo.png"], force=True, **{option: output})
    assert (run / "model.safetensors").read_bytes() == b"the model"
    assert (run / "curves.png").read_bytes() == b"train's curves"
    assert check_csv(run / "mine.csv", None, True, (), run) == run / "mine.csv"
    alone = tmp_path / "downloads"  # a model file kept alone: no run's files beside it
    alone.mkdir()
    (alone / "model.safetensors").write_bytes(b"a model")
    assert check_csv(alone / "history.csv", None, True, (), alone) == alone / "history.csv"


def test_a_file_no_image_has_is_refused_before_the_model_loads(trained_once, tmp_path, monkeypatch):
    """review53b M2: `predict run notes.txt` loaded the model and compiled OpenVINO's graph for
    it (20 s) to say "not an image file objrec reads (.txt)"; its suffix says so at once."""
    import importlib

    predict_module = importlib.import_module("objrec.predict")

    def not_loaded(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(predict_module, "loaded", not_loaded)
    notes = tmp_path / "notes.txt"
    notes.write_text("to do")
    (result,) = predict(trained_once, notes)
    assert (result.path, result.error) == (str(notes), "not an image file objrec reads (.txt)")


def test_a_file_named_as_an_image_that_is_none_is_refused_before_the_model_loads(
    trained_run, tmp_path, monkeypatch
):
    """`predict run notjpg/notes.jpg` loaded the model (and OpenVINO's compiled graph) before
    it said "cannot read image (not a recognised image format)" (newcomer62b, 3). Its first
    bytes say so at once: an empty one too; an image after it loads the model, and is answered."""
    import importlib

    predict_module = importlib.import_module("objrec.predict")
    loaded = predict_module.loaded

    def not_loaded(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(predict_module, "loaded", not_loaded)
    notes, empty = tmp_path / "notes.jpg", tmp_path / "empty.png"
    notes.write_text("to do")
    empty.write_bytes(b"")
    said, nothing = predict(trained_run, [notes, empty])
    assert (said.path, said.error) == (
        str(notes),
        "cannot read image (not a recognised image format)",
    )
    assert nothing.error == "cannot read image (empty file, 0 bytes)"
    monkeypatch.setattr(predict_module, "loaded", loaded)
    make_image((200, 30, 30)).save(tmp_path / "red.png")
    said, answered = predict(trained_run, [notes, tmp_path / "red.png"])
    assert said.error is not None and answered.error is None and answered.topk


def test_a_photo_read_ahead_by_one_predict_call_is_not_taken_by_another_thread(tmp_path):
    """The bytes predict read ahead to tell an image before loading the model (c7a7c9b7) were
    one dict for the whole process (store63, cli63): another thread's predict of the same path
    took them, stale. Each call has its own, and none is held once the call returns."""
    import threading

    from objrec.predict import _read_ahead, read_once, reads_ahead, refuse_until_an_image
    from objrec.prediction import Prediction

    photo = tmp_path / "red.png"
    make_image((200, 30, 30)).save(photo)
    before = photo.read_bytes()
    other: list[object] = []
    with reads_ahead():
        refuse_until_an_image([Prediction(path=str(photo))])
        make_image((30, 30, 200)).save(photo)  # changed on disk after this call read it
        thread = threading.Thread(target=lambda: other.append(read_once(photo)[0]))
        thread.start()
        thread.join()
        assert read_once(photo)[0] == before  # this call's own read, once
    assert other == [photo.read_bytes()] and other[0] != before
    assert _read_ahead.get() is None


def test_a_wildcard_no_shell_expanded_is_said_as_such(tmp_path, monkeypatch):
    """review53b L5: `predict run 'photos/*/t*.jpg'` (quoted, so the shell left it) said "no such
    file or folder", as if a file were missing; it says the pattern was not expanded."""
    monkeypatch.chdir(tmp_path)
    for name in ("a/t1.jpg", "b/t2.jpg"):
        (tmp_path / "photos" / name).parent.mkdir(parents=True)
        make_image((200, 30, 30)).save(tmp_path / "photos" / name)
    found, none = expand_paths(["photos/*/t*.jpg", "photos/*.png"])
    assert (found.path, found.error) == (
        "photos/*/t*.jpg",
        "no such file or folder: a wildcard pattern that no shell expanded (it matches 2 files "
        "here): leave it unquoted, or give the folder",
    )
    assert none.error == (
        "no such file or folder: a wildcard pattern that no shell expanded (it matches nothing "
        "here): leave it unquoted, or give the folder"
    )


def test_a_prediction_names_each_part_of_its_answer_as_its_csv_and_json_do():
    """`Prediction.threshold` and `.threshold_kept_on` were `--json`'s and `--csv`'s
    `unknown_threshold` and `unknown_threshold_kept_on`, and `--csv` called `file` what `--json`
    and the attribute call `filename` (where every other table's `file` is a path in the data
    folder). Each column of the CSV (but the top-k's and `error`) and each key of the JSON is now
    an attribute of the prediction holding the same; the old names still read, with a warning."""
    from objrec.predict import Prediction
    from objrec.prediction import CSV_COLUMNS

    topk: list[dict[str, float | str]] = [
        {"class": "cup", "prob": 0.75},
        {"class": "mug", "prob": 0.25},
    ]
    answer = Prediction(
        "photos/a.jpg",
        topk,
        unknown=True,
        score=-0.5,
        line=0.0,
        unknown_threshold=0.0,
        unknown_threshold_kept_on="2026-12-01T10:00:00Z",
        confused_with=["mug"],
    )
    row, said = answer.to_row(), answer.to_json()
    assert [column for column in CSV_COLUMNS if not hasattr(answer, column)] == []
    assert {k: getattr(answer, k) for k in CSV_COLUMNS} == {k: row[k] for k in CSV_COLUMNS}
    assert [key for key in said if not hasattr(answer, key)] == []
    assert {k: getattr(answer, k) for k in said} == said
    assert (answer.filename, answer.predicted, answer.prob_predicted) == ("a.jpg", "cup", 0.75)
    with pytest.warns(
        DeprecationWarning, match=r"Prediction.threshold is deprecated: read unknown_threshold"
    ):
        assert answer.threshold == 0.0
    with pytest.warns(DeprecationWarning, match="read unknown_threshold_kept_on"):
        assert answer.threshold_kept_on == "2026-12-01T10:00:00Z"


def test_the_own_images_check_takes_a_run_folder_named_by_a_string(tmp_path, caplog):
    """predict(run) takes the run as a string as the Python API page writes it ("run"): the
    check of photos that are the run's own images made a path of it only when it named a file,
    so a folder given as a string failed with a TypeError before any answer was returned."""
    from objrec.predict import Prediction, warn_of_own_images

    run = tmp_path / "run"
    run.mkdir()
    answered = [Prediction(str(tmp_path / "a.png"), [{"class": "red", "prob": 1.0}])]
    warn_of_own_images(str(run), answered)  # no record of the images it saw: nothing to say
    assert not caplog.records


def test_predict_s_log_of_stored_features_counts_one_image_in_the_singular():
    """predict -v on one photo logged "read the features of 1 of 1 images"."""
    from types import SimpleNamespace

    import torch

    from objrec.predict import stored_words

    table = SimpleNamespace(
        ok=torch.tensor([True]), digests=["ab"], hashing=SimpleNamespace(seconds=0.01)
    )
    assert stored_words([table]).startswith("read the features of 1 of 1 image from the feature")


def test_a_prediction_s_one_line_says_it_is_barely_familiar():
    """newcomer57 (7): `Prediction(path='.../watch_image_0234.jpg', answer='cup',
    prob_predicted=0.9235, score=0.0093)` was an untaught watch answered "cup" just over the
    unknown line: barely_familiar=True, which the CLI marks "barely familiar", and the one flag
    that says not to trust it was missing from the one line. A familiar answer leaves it out."""
    from objrec.predict import Prediction

    topk: list[dict[str, float | str]] = [{"class": "cup", "prob": 0.9235}]
    watch = Prediction("watch_image_0234.jpg", topk, score=0.0093, line=0.0)
    assert watch.barely_familiar is True
    assert repr(watch) == (
        "Prediction(path='watch_image_0234.jpg', answer='cup', prob_predicted=0.9235, "
        "score=0.0093, barely_familiar=True)"
    )
    cup = Prediction("cup.jpg", topk, score=0.93, line=0.0)
    assert cup.barely_familiar is False and "barely_familiar" not in repr(cup)


@pytest.mark.slow  # a model loaded, two images predicted
def test_predict_logs_its_long_steps_as_they_begin_and_end(trained_run, split_dir, caplog):
    """newcomer57 (8): a script at INFO (the docs' first snippet) saw nothing for the 47 s of a
    predict of 44 photos: the reporter, silent by default, drew the only signs. Each long step
    is logged as it begins, with how many and about how long, and as it ends, with its seconds;
    not each image."""
    import logging

    images = [p for p in sorted((split_dir / "test").glob("*/*")) if p.is_file()][:2]
    with caplog.at_level(logging.INFO, logger="objrec.predict"):
        predict(trained_run, images)
    said = [r.getMessage() for r in caplog.records if r.name == "objrec.predict"]
    begun = next(i for i, line in enumerate(said) if line.startswith("predicting 2 images ("))
    assert "up to about a second an image" in said[begun]
    assert said[begun + 1].startswith("done in ") and said[begun + 1].endswith(
        "s: predicting 2 images"
    )
    assert len(said) <= 6  # a line a step, none an image


def test_predict_refuses_an_image_in_memory_in_one_sentence_pointing_to_recognizer_answer(
    trained_run, tmp_path
):
    """`objrec.predict("run", [image])` with a PIL image or a numpy array stopped on Python's
    "expected str, bytes or os.PathLike object, not Image" (newcomer59): predict answers files,
    whose names its results, CSV and plot give. An image in memory, in a list or alone, is
    refused in one ObjrecError naming its place and Recognizer.answer, before the model loads."""
    import numpy as np
    import torch

    from objrec.errors import ObjrecError

    image = make_image((200, 30, 30))
    image.save(tmp_path / "red.png")
    given = [
        ([tmp_path / "red.png", image], "item 1 is of type Image"),
        ([np.asarray(image)], "item 0 is of type ndarray"),
        (image, "is of type Image"),
        (np.asarray(image), "is of type ndarray"),
        (torch.zeros(3, 8, 8), "is of type Tensor"),  # not its rows, each "item N"
        ((tmp_path / "red.png").read_bytes(), "is of type bytes"),
        ([(tmp_path / "red.png").read_bytes()], "item 0 is of type bytes"),
    ]
    for paths, said in given:
        with pytest.raises(ObjrecError, match=f"^`paths` {said}, not a file or folder: ") as e:
            predict(trained_run, paths)
        assert str(e.value).endswith("give images decoded already to Recognizer.answer")


def test_predict_takes_paths_from_any_iterable_a_glob_or_a_set(trained_run, tmp_path):
    """`objrec.predict(run, Path("photos").glob("*.png"))` answered each file until the refusal
    of images in memory took only a Sequence, and called the whole generator "item 0" (late59
    H1), and a numpy array of paths was taken for an image (late59b H1): any iterable of paths
    is a list of paths."""
    import numpy as np

    for colour in ("red", "green"):
        make_image((200, 30, 30) if colour == "red" else (30, 200, 30)).save(
            tmp_path / f"{colour}.png"
        )
    by_list = [p.path for p in predict(trained_run, sorted(tmp_path.glob("*.png")))]
    assert sorted(p.path for p in predict(trained_run, tmp_path.glob("*.png"))) == by_list
    assert sorted(p.path for p in predict(trained_run, set(tmp_path.glob("*.png")))) == by_list
    assert [p.path for p in predict(trained_run, {str(p): 0 for p in by_list}.keys())] == by_list
    named = np.array([str(p) for p in by_list])  # a table's column of paths (late59b H1)
    assert [p.path for p in predict(trained_run, named)] == by_list
    assert [p.path for p in predict(trained_run, named.astype(object))] == by_list


def runtimes_doc() -> str:
    """``inference.RUNTIMES``'s docstring, read from the source (Python keeps none for a
    constant)."""
    import ast

    from objrec import inference

    tree = ast.parse(Path(inference.__file__).read_text())
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "RUNTIMES":
            return ast.literal_eval(after.value)
    return ""


@pytest.mark.slow  # predicts twice: 0.2 s
def test_predict_s_runtime_is_documented_and_its_default_names_no_engine_it_may_not_use(
    trained_run, tmp_path
):
    """predict's `runtime` was missing from its docstring, and its default 'torch' still
    answered an int8 run through OpenVINO (newcomer59 #6): 'torch' runs the model as evaluate
    does, an int8 body in the engine that ran it in training. The default is None, which runs it
    so (the CLI passes 'torch': the same), and predict's and Recognizer.load's docstrings say
    what each value runs."""
    import inspect

    from objrec.inference import Recognizer

    for function in (predict, Recognizer.load):
        assert inspect.signature(function).parameters["runtime"].default is None
        assert "``runtime``" in function.__doc__ and "RUNTIMES" in function.__doc__
    said = " ".join(f"{predict.__doc__} {runtimes_doc()}".split())
    for words in ('"torch"', '"onnx"', "int8 body", "OpenVINO", "ONNX Runtime", "PyTorch alone"):
        assert words in said, words
    make_image((200, 30, 30)).save(tmp_path / "red.png")
    default, torch_ = (
        predict(trained_run, tmp_path / "red.png", runtime=r) for r in (None, "torch")
    )
    assert default[0].topk == torch_[0].topk


@pytest.mark.slow
@pytest.mark.figures
def test_the_plot_draws_the_pictures_predict_decoded_without_reading_them_again(
    tmp_path, trained_run, monkeypatch
):
    """``plot`` opened and decoded each image it drew again, once every answer was in, where
    predict had just decoded it to answer it. The pictures of the images most worth a look so
    far are kept as predict goes (never more than ``plot_max`` of them beside a batch's), and
    the plot draws those: each photo is opened once, a plotted one too, and the plot shows the
    same images in the same order, each as its own decode would show it."""
    import numpy as np

    from objrec import plots
    from objrec.images import open_image
    from objrec.predict_outputs import PLOT_DRAFT, plot_choice

    from .conftest import opens_counted

    (photos := tmp_path / "new").mkdir()
    for i in range(20):
        make_image((200, 40 + 5 * i, 40), seed=900 + i).save(photos / f"photo{i:02d}.png")
    drawn = []
    monkeypatch.setattr(
        plots, "predictions", lambda rows, path, heading: drawn.append(rows) or path.write_text(".")
    )
    with opens_counted(monkeypatch) as opened:
        results = predict(trained_run, photos, plot=tmp_path / "p.png", plot_max=3, batch_size=8)
    names = sorted(p.name for p in photos.iterdir())
    assert {name: opened[name] for name in names} == dict.fromkeys(names, 1)
    wanted = plot_choice(results, 3)
    shown = [title.split("\n")[0] for _, title, _, _ in drawn[0]]  # a line of familiarity
    assert shown == [Path(r.path).name for r in wanted]
    for (image, *_), r in zip(drawn[0], wanted, strict=True):
        assert np.array_equal(np.asarray(image), np.asarray(open_image(r.path, PLOT_DRAFT)))


def teachers_strangers(folder: Path) -> list:
    """newcomer64b's 18 answers to photos of untaught things, in kind: 11 unknown, 3 barely
    familiar, 4 given a class (a lotus as 99.00%, a background photo as 98.43%), each a file."""
    from objrec.predict import Prediction

    def answer(name: str, prob: float, unknown=False, barely=False) -> Prediction:
        topk = [{"class": "a", "prob": prob}, {"class": "b", "prob": 1 - prob}]
        make_image((200, 40, 40), seed=len(name)).save(folder / name)
        score = -0.5 if unknown else 0.1 if barely else 1.0  # the familiarity, its line 0
        return Prediction(str(folder / name), topk, unknown=unknown, score=score, line=0.0)

    unknown = [answer(f"u{i}.png", 0.4 + i / 100, unknown=True) for i in range(11)]
    barely = [answer(f"b{i}.png", 0.6 + i / 100, barely=True) for i in range(3)]
    given = [answer(n, p) for n, p in (("lotus.png", 0.99), ("bg.png", 0.6434), ("x.png", 0.8))]
    return [*unknown, *barely, *given, answer("bonsai.png", 0.9843)]


def test_the_plot_mixes_each_kind_of_answer_and_its_heading_says_what_it_left_out(
    tmp_path, monkeypatch
):
    """newcomer64b: of a teacher's 18 photos of untaught things, the plot drew "the 8 most worth
    a look", unknown first: all 8 were unknown, and the confident answers a class needs to see
    ("sunflower 99.00%" for a lotus) were among the 10 left out, unsaid which. It now takes in
    turn from the unknown, the barely familiar, the least sure and the surest given a class, and
    its heading counts each kind drawn and left out."""
    from objrec import plots
    from objrec.predict_outputs import plot_choice, plot_predictions

    results = teachers_strangers(tmp_path)
    chosen = [Path(r.path).name for r in plot_choice(results, 8)]
    assert chosen == [
        *("u0.png", "u1.png", "b0.png", "b1.png"),
        *("bg.png", "x.png", "bonsai.png", "lotus.png"),  # the least sure to the surest
    ]
    monkeypatch.setattr(  # as savefig: writes the name it is given
        plots, "predictions", lambda rows, path, heading: Path(path).write_text(heading)
    )
    plot_predictions(results, tmp_path / "p.png", limit=8)
    assert (tmp_path / "p.png").read_text() == (
        "Top-2 predictions of 8 of 18 images: 2 of 11 unknown, 2 of 3 barely familiar, 4 of 4 "
        "given a class; 10 more left out"
    )
    no_barely = [*results[:11], *results[14:]]
    plot_predictions(no_barely, tmp_path / "p.png", limit=3)
    heading = (tmp_path / "p.png").read_text()
    assert heading.endswith(
        "1 of 11 unknown, 2 of 4 given a class (the least and the most sure); 12 more left out"
    )


def test_the_plots_pictures_batch_by_batch_are_those_of_every_answer_it_draws(tmp_path):
    """:class:`PlotPictures`, ranking answers batch by batch, keeps the picture of every one
    :func:`plot_choice` draws of them all, and at most four lists of ``limit``."""
    from PIL import Image

    from objrec.predict_outputs import PlotPictures, plot_choice

    results = teachers_strangers(tmp_path)
    for limit in (1, 3, 8):
        pictures = PlotPictures(limit)
        for start in range(0, len(results), 5):
            batch = results[start : start + 5]
            for r in batch:
                pictures.offer(r, Image.new("RGB", (30, 20)))
            pictures.settle(batch)
        kept = [r for r in results if pictures.picture(r) is not None]
        assert set(map(id, plot_choice(results, limit))) <= set(map(id, kept))
        assert len(kept) <= 4 * limit


def test_the_plots_pictures_are_kept_small_and_only_for_the_answers_it_may_draw():
    """:class:`PlotPictures` keeps a picture at most ``PLOT_DRAFT`` a side (a 5000-pixel scan
    is not held whole), and after each batch only those of the ``limit`` first of each list the
    plot takes from so far (here the least sure and the surest given a class), the first given
    among equals, as ``plot_predictions`` picks them."""
    from PIL import Image

    from objrec.predict import Prediction
    from objrec.predict_outputs import PLOT_DRAFT, PlotPictures

    def answer(name: str, prob: float) -> Prediction:
        return Prediction(name, [{"class": "a", "prob": prob}, {"class": "b", "prob": 1 - prob}])

    pictures = PlotPictures(1)
    first = [answer("big.png", 0.9), answer("sure.png", 0.99), answer("unsure.png", 0.6)]
    pictures.offer(first[0], Image.new("RGB", (5000, 2500)))
    for r in first[1:]:
        pictures.offer(r, Image.new("RGB", (300, 200)))
    assert pictures.picture(first[0]).size == (PLOT_DRAFT, PLOT_DRAFT // 2)
    pictures.settle(first)
    assert [r.path for r in first if pictures.picture(r) is not None] == ["sure.png", "unsure.png"]
    second = [answer("equal.png", 0.6), answer("least.png", 0.55)]
    for r in second:
        pictures.offer(r, Image.new("RGB", (300, 200)))
    pictures.settle(second)
    kept = [r.path for r in first + second if pictures.picture(r) is not None]
    assert kept == ["sure.png", "least.png"] and len(pictures.kept) == 2


def test_the_plot_shrinks_only_the_pictures_it_may_draw(monkeypatch):
    """late59b M1: :class:`PlotPictures` resized each large decode to the plot's size when it
    was offered, where the plot draws ``limit`` of them: on 3000x2000 PNGs that cost more than
    the re-decodes it saved (18 ms an image). A large decode is reduced by a whole factor when
    offered and resized only once ranked among the ``limit`` first of a list the plot takes
    from: of 12 images where 4 make the cut (the 2 least sure, the 2 surest), 4 resizes (not
    12), and of a second batch none can enter, none; each picture is pixel for pixel Pillow's
    one-step resize, so the figure is as it was."""
    import numpy as np
    from PIL import Image

    from objrec.predict import Prediction
    from objrec.predict_outputs import PLOT_DRAFT, PlotPictures

    def answer(name: str, prob: float) -> Prediction:
        return Prediction(name, [{"class": "a", "prob": prob}, {"class": "b", "prob": 1 - prob}])

    rng = np.random.default_rng(59)
    images = [
        Image.fromarray(rng.integers(0, 256, (401, 1501, 3), dtype=np.uint8)) for _ in range(12)
    ]
    first = [answer(f"{i}.png", 0.6 if i in (3, 8) else 0.9) for i in range(12)]
    second = [answer(f"middling{i}.png", 0.85) for i in range(12)]
    real, shrinks = Image.Image.resize, []
    monkeypatch.setattr(
        Image.Image, "resize", lambda self, *a, **k: shrinks.append(self) or real(self, *a, **k)
    )
    pictures = PlotPictures(2)
    for batch in (first, second):
        for r, image in zip(batch, images, strict=True):
            pictures.offer(r, image)
        pictures.settle(batch)
    kept = {r.path: pictures.picture(r) for r in first + second}
    assert len(shrinks) == 4
    monkeypatch.undo()
    drawn = [path for path, picture in kept.items() if picture is not None]
    assert drawn == ["0.png", "1.png", "3.png", "8.png"]
    for i in (3, 8):
        whole = images[i].resize((PLOT_DRAFT, 137), Image.Resampling.BICUBIC, reducing_gap=2.0)
        assert np.array_equal(np.asarray(kept[f"{i}.png"]), np.asarray(whole))


def test_a_failed_inputs_json_has_every_key_of_an_answer_null():
    """review60b F14: predict --json's row of an input that failed had filename, path, answer,
    topk and error only: a script reading row["unknown"] of each row raised on a bad input, where
    the CSV keeps every column (empty). It has every key of an answer, null (topk []), and error."""
    from objrec.predict import Prediction

    answered = Prediction("a.jpg", [{"class": "x", "prob": 1.0}], score=1.0, line=0.0).to_json()
    failed = Prediction("gone.jpg", error="no such file").to_json()
    assert list(failed) == [*answered, "error"] and failed["error"] == "no such file"
    assert failed["topk"] == [] and all(
        failed[key] is None for key in answered if key not in ("filename", "path", "topk")
    )


@pytest.mark.slow  # a Python of its own: the warning comes as it exits
def test_predict_lets_go_of_the_feature_store_it_opened(tmp_path, trained_run, split_dir):
    """newcomer61: a script calling `objrec.predict` ended with `sys:1: ResourceWarning: unclosed
    file <_io.BufferedRandom name='.../store/lock'>`: predict left the feature store it opened
    open (its lock file among it) until Python exited, where evaluate lets go of its own
    (``cache.stores_held``). A script calling predict, then evaluate of the validation split
    (the newcomer's), ends with no ResourceWarning."""
    import subprocess

    script = tmp_path / "uses_objrec.py"
    run, test, data = str(trained_run), str(split_dir / "test"), str(split_dir)
    script.write_text(
        "import objrec\n"
        f"objrec.predict({run!r}, {test!r})\n"
        f"objrec.evaluate({run!r}, {data!r}, split='valid')\n"
    )
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    ran = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr
    assert "ResourceWarning" not in ran.stderr


@pytest.mark.slow  # two predicts
def test_confused_with_is_never_read_from_an_evaluation_of_the_training_images(
    trained_run, split_dir, monkeypatch
):
    """predict named look-alike partners from the run's latest evaluation when there was none of
    its test split, an `evaluate --split train` too: confusions on the images the model trained
    on (review62b L3). Such an evaluation records no pairs predict reads."""
    import json

    from objrec.checkpoint import model_digest

    monkeypatch.setattr(sys.modules["objrec.prediction"], "MIXED_PROB", 0)  # a tiny run is sure
    counts = {"a_as_b": 2, "b_as_a": 2, "n_a": 10, "n_b": 12}
    image = next((split_dir / "test" / "red").iterdir())
    answer, other = (str(t["class"]) for t in predict(trained_run, [image])[0].topk[:2])
    (trained_run / "eval-train").mkdir()
    record = {"model": model_digest(trained_run), "folder": str(split_dir / "train")}
    record |= {"mixed_pairs": [{"a": answer, "b": other} | counts]}
    record |= {"seen_in_training": {"train": 12}}
    (trained_run / "eval-train" / "metrics.json").write_text(json.dumps(record))
    assert predict(trained_run, [image])[0].confused_with is None


def test_predict_says_once_that_only_the_first_page_or_frame_of_some_images_was_answered(
    tmp_path, trained_run, caplog
):
    """words64: check notes a multi-page TIFF or an animated GIF, whose first page or frame alone
    is read, but predict answered it silently, as though the whole file was seen. It says so in
    one warning naming how many and one of them; a plain photo and a one-frame GIF add nothing."""
    folder = tmp_path / "new"
    folder.mkdir()
    pages = [make_image(colour, seed=i) for i, colour in enumerate([(200, 40, 40), (40, 40, 200)])]
    pages[0].save(folder / "a_scan.tif", save_all=True, append_images=pages[1:])
    pages[1].save(folder / "b_moving.gif", save_all=True, append_images=pages[:1])
    pages[0].save(folder / "c_still.gif")
    pages[1].save(folder / "d_photo.png")
    with caplog.at_level("WARNING", "objrec"):
        results = predict(trained_run, folder)
    assert [r.error for r in results] == [None] * 4
    said = [r.getMessage() for r in caplog.records if "pages or frames" in r.getMessage()]
    assert said == [
        f"2 images of several pages or frames ({folder / 'a_scan.tif'}, 2 pages, ...): only the "
        "first page or frame of each is answered"
    ]
    caplog.clear()
    with caplog.at_level("WARNING", "objrec"):
        predict(trained_run, [folder / "c_still.gif", folder / "d_photo.png"])
    assert not [r for r in caplog.records if "pages or frames" in r.getMessage()]

"""predict through the CLI (``cli/prediction.py``)."""

import importlib
import json
import logging
import os
import re
from pathlib import Path

import pytest

from .conftest import make_image
from .test_cli import run


def test_predicts_runtime_help_links_the_benchmark_and_quotes_no_figure():
    """predict --runtime's help said onnx "took 0.6 of torch's time on 120 (benchmarks/README.md)",
    a figure that drifts each time the benchmark is rerun (review60b, "In the code"): it names the
    section instead, which benchmarks/README.md has."""
    from objrec.cli.prediction import predict

    text = " ".join(next(p for p in predict.params if p.name == "runtime").help.split())
    assert not re.search(r"\b0\.\d+ of torch", text) and " on 120 " not in text
    section = re.search(r'benchmarks/README\.md, "([^"]+)"', text)
    assert section, text
    readme = (Path(__file__).parents[1] / "benchmarks" / "README.md").read_text()
    assert f"### {section[1]}" in readme


def test_a_photo_named_with_a_leading_dash_is_said_to_be_a_file(capsys, tmp_path, monkeypatch):
    """In her class folder, `objrec predict ../run -photo5.jpg` said only "no such option '-p'":
    the photo was read as options. The error now says it is a file and how to give it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-photo5.jpg").write_bytes(b"")
    code, _, err = run(capsys, "predict", "run", "-photo5.jpg")
    err = " ".join(err.split())
    assert code == 2 and "no such option '-p'" in err
    assert "-photo5.jpg is a file here, read as options: give it as ./-photo5.jpg, or put --" in err
    assert err.endswith("put -- before it (see objrec predict --help)")
    code, _, err = run(capsys, "predict", "run", "-x")  # no such file: click's sentence alone
    assert code == 2 and "a file here" not in err


@pytest.mark.slow
def test_predict_says_when_an_answered_image_is_barely_familiar(capsys, trained_run, split_dir):
    """`dolphin_image_0003.jpg: bonsai 50.64%, Leopards 40.06%` had familiarity 0.015, just
    above the line 0, and read like a confident answer; only --json showed the score."""
    image = sorted((split_dir / "test" / "red").iterdir())[0]
    code, out, _ = run(capsys, "predict", trained_run, image, "--json")
    score = json.loads(out)[0]["score"]
    for line, said in ((score - 0.1, True), (score - 0.5, False), (score + 0.1, False)):
        code, out, _ = run(capsys, "predict", trained_run, image, "--threshold", line)
        note = f"(barely familiar: {score:.2f})"
        assert code == 0 and (note in " ".join(out.split())) == said, (line, out)
    code, out, _ = run(capsys, "predict", "--help-all")
    assert "barely familiar" in out


@pytest.mark.slow
def test_predict_names_a_folders_files_that_are_not_images_and_predicts_the_rest(
    capsys, caplog, tmp_path, trained_run
):
    """A newcomer's notes.txt beside the photos was skipped without a word: now one warning (a
    line on stderr, through SentenceHandler) names it, and the image is predicted, exit 0."""
    photos = tmp_path / "new photos"
    photos.mkdir()
    make_image((200, 30, 30)).save(photos / "a.png")
    (photos / "notes.txt").write_text("where these were taken")
    (photos / ".DS_Store").write_bytes(b"\x00")  # hidden: skipped quietly, as everywhere
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, out, _ = run(capsys, "predict", trained_run, photos)
    assert code == 0 and out.startswith(f"{photos / 'a.png'}: ")
    assert caplog.messages == [f"{photos / 'notes.txt'} left out: not an image file objrec reads"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, out, _ = run(capsys, "predict", trained_run, photos, "--json")
    assert code == 0 and [r["filename"] for r in json.loads(out)] == ["a.png"]
    assert len(caplog.messages) == 1 and "notes.txt left out" in caplog.messages[0]
    # named on the command line, it is an input that failed, as an unreadable image is
    code, _, err = run(capsys, "predict", trained_run, photos / "notes.txt", photos / "a.png")
    assert code == 1 and "notes.txt: not an image file objrec reads (.txt)" in err


@pytest.mark.slow
def test_predict_reports_each_failed_input_once_and_predicts_the_rest(
    capsys, tmp_path, trained_run, split_dir
):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture")
    (tmp_path / "nothing").mkdir()
    good = sorted((split_dir / "test" / "red").iterdir())[0]
    inputs = (tmp_path / "missing.jpg", bad, good, tmp_path / "nothing")
    code, out, err = run(capsys, "predict", trained_run, *inputs)
    err = " ".join(err.split())
    assert code == 1 and out.count(": red") + out.count(": green") + out.count(": blue") == 1
    assert err.count("missing.jpg: no such file or folder") == 1
    assert err.count("bad.jpg") == 1 and "bad.jpg: cannot read image" in err
    assert "nothing: no image files in this folder" in err and "3 of 4 inputs" in err
    code, out, err = run(capsys, "predict", trained_run, *inputs, "--json")
    results = json.loads(out)
    assert code == 1 and [bool(r.get("error")) for r in results] == [True, True, False, True]
    assert "cannot read image" not in err and results[1]["error"].startswith("cannot read image")
    assert err.count("bad.jpg") == 1  # named once, in the last line: no line of its own


@pytest.mark.slow
def test_predict_s_exit_1_is_told_apart_by_its_json_and_an_unknown_answer_exits_0(
    capsys, tmp_path, trained_run, split_dir
):
    """predict exits 1 when an input failed (the others answered, its JSON printed) and when
    nothing could be answered (a folder that is no run): a `set -e` script could not tell them
    apart but by stdout, which --help did not say (newcomer62b, 1). It says so, and that an
    image answered unknown exits 0, as docs/commands.md and docs/json.md do; each holds."""
    good = sorted((split_dir / "test" / "red").iterdir())[0]
    code, out, _ = run(capsys, "predict", trained_run, good, "--threshold", "1e9", "--json")
    assert code == 0 and json.loads(out)[0]["answer"] == "unknown"
    code, out, _ = run(capsys, "predict", trained_run, good, tmp_path / "gone.jpg", "--json")
    assert code == 1 and [bool(r.get("error")) for r in json.loads(out)] == [False, True]
    (tmp_path / "no_run").mkdir()
    code, out, err = run(capsys, "predict", tmp_path / "no_run", good, "--json")
    assert code == 1 and out == "" and err.startswith("error: no checkpoint at")
    code, out, err = run(capsys, "predict", tmp_path / "gone_run", good, "--json")
    assert code == 2 and out == "" and "gone_run does not exist" in err
    code, out, _ = run(capsys, "predict", "--help")
    said = " ".join(out.split())
    assert "every image was answered (unknown is an answer)" in said
    assert "(RUN not a model: --json prints nothing)" in said
    assert "2: a wrong command line (RUN not there)" in said
    page = " ".join((Path(__file__).parents[1] / "docs" / "commands.md").read_text().split())
    assert "With `--json`, a script tells the two 1s apart by stdout" in page


def test_predict_of_missing_inputs_only_says_so_without_loading_the_model(
    capsys, tmp_path, trained_run, monkeypatch
):
    """`objrec predict run missing.jpg` said "loading the model ..." (6 s at a load of 8) before
    "missing.jpg: no such file or folder": the same lines, exit code and --json,
    the model never built."""
    from objrec import inference

    def never(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(inference, "load_model", never)
    code, out, err = run(capsys, "predict", trained_run, tmp_path / "missing.jpg")
    assert code == 1 and out == "" and "loading the model" not in err
    assert " ".join(err.split()).endswith(
        "missing.jpg: no such file or folder 1 of 1 input could not be predicted"
    )
    code, out, err = run(capsys, "predict", trained_run, tmp_path / "missing.jpg", "--json")
    assert code == 1 and json.loads(out)[0]["error"] == "no such file or folder"
    assert " ".join(err.split()).endswith(  # newcomer56: which input? the JSON had it
        f'1 of 1 input could not be predicted: {tmp_path / "missing.jpg"} (the JSON\'s "error" '
        "of each says why)"
    )


@pytest.mark.slow
def test_predict_of_a_folder_ends_with_the_tally_of_its_json_answers(
    capsys, trained_run, split_dir
):
    """A folder's lines end with how many images went to each answer, at a threshold between
    their scores (some unknown): the counts of --json's `answer`."""
    from collections import Counter

    test = split_dir / "test"
    scores = sorted(
        a["score"] for a in json.loads(run(capsys, "predict", trained_run, test, "--json")[1])
    )
    line = repr((scores[3] + scores[4]) / 2)
    code, out, _ = run(capsys, "predict", trained_run, test, "--json", "--threshold", line)
    counts = Counter(a["answer"] for a in json.loads(out))
    code, out, _ = run(capsys, "predict", trained_run, test, "--threshold", line)
    lines = out.splitlines()
    tally = lines[lines.index("9 images answered:") + 1 :]
    assert code == 0 and {t.split()[0]: int(t.split()[1]) for t in tally} == counts
    assert counts["unknown"] == 4 and tally[-1].endswith("(like none of the classes)")


@pytest.mark.slow
@pytest.mark.figures
def test_predict_plot_draws_up_to_plot_max_and_says_what_was_left_out(
    capsys, tmp_path, trained_run, split_dir
):
    from PIL import Image

    sizes = []
    for n in (2, 5):
        plot = tmp_path / f"plot{n}.png"
        code, out, _ = run(
            capsys, "predict", trained_run, split_dir / "test", "--plot", plot, "--plot-max", n
        )
        assert code == 0
        said = " ".join(out.split())  # newcomer64b: what it drew and left out, of each kind
        assert (
            f"plot of {n} of 9 readable images written to {plot}, some of each kind of answer: "
        ) in said
        assert f"; {9 - n} more left out (--plot-max)" in said
        sizes.append(Image.open(plot).size)
    (width2, height2), (width5, height5) = sizes  # 2 side by side; 4 in a row, then 1 below
    assert width5 > 1.7 * width2 and height5 > 1.7 * height2


@pytest.mark.slow
def test_predict_explain_says_where_the_overlays_went(capsys, tmp_path, trained_run, split_dir):
    images = split_dir / "test" / "green"
    n = len(list(images.iterdir()))
    code, out, _ = run(capsys, "predict", trained_run, images, "--explain", tmp_path / "cams")
    assert code == 0
    assert f"Grad-CAM overlays of {n} images written to {tmp_path / 'cams'}" in out
    code, out, err = run(
        capsys, "predict", trained_run, images, "--explain", tmp_path / "more", "--json"
    )
    assert code == 0 and len(json.loads(out)) == n  # stdout stays JSON
    assert f"Grad-CAM overlays of {n} images written to {tmp_path / 'more'}" in err
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    section = page.split("\n## predict\n")[1].split("\n## ")[0]
    keys = {key for answer in json.loads(out) for key in answer}
    assert "explained" in keys and not [k for k in keys if f"`{k}`" not in section]  # documented


@pytest.mark.slow
def test_predict_csv_writes_the_json_answers_as_rows_and_never_over_a_file_unforced(
    capsys, tmp_path, trained_run, split_dir
):
    """`predict --csv FILE`: the answers --json prints, one row per input, for a spreadsheet;
    where it went is said (on stderr with --json, whose stdout stays JSON); an existing file is
    refused in the CLI's words and kept, --force replaces it."""
    from .test_predict import read_csv_rows

    inputs = (split_dir / "test" / "red", tmp_path / "missing.jpg")
    table = tmp_path / "answers.csv"
    code, out, err = run(capsys, "predict", trained_run, *inputs, "--csv", table, "--json")
    answers = json.loads(out)
    assert code == 1 and f"4 rows (one per input) written to {table}" in " ".join(err.split())
    columns, rows = read_csv_rows(table)
    assert columns[-1] == "error" and [r["path"] for r in rows] == [a["path"] for a in answers]
    for row, answer in zip(rows[:3], answers, strict=False):
        assert row["unknown"] == str(answer["unknown"]) and row["error"] == ""
        assert [row["class_1"], row["class_2"], row["class_3"]] == [
            t["class"] for t in answer["topk"]
        ]
        assert float(row["prob_1"]) == answer["topk"][0]["prob"] == float(row["prob_predicted"])
    assert rows[3]["error"] == "no such file or folder" and rows[3]["predicted"] == ""
    table.write_text("mine")
    code, out, err = run(capsys, "predict", trained_run, inputs[0], "--csv", table)
    assert code == 1 and out == "" and table.read_text() == "mine"
    assert "answers.csv exists: choose another --csv or pass --force" in " ".join(err.split())
    code, out, _ = run(capsys, "predict", trained_run, inputs[0], "--csv", table, "--force")
    assert code == 0 and f"3 rows (one per input) written to {table}" in " ".join(out.split())
    assert len(read_csv_rows(table)[1]) == 3


@pytest.mark.slow
def test_predict_csv_says_what_the_answers_come_to_not_a_line_per_photo(
    capsys, tmp_path, trained_run, split_dir, monkeypatch
):
    """With --csv, a folder of 5,000 photos printed 5,000 lines: the table holds the answers, the
    terminal gets the first few (it printed none, so a user never saw what it said), one line of
    what they come to (how many given a class, how many unknown) and the first inputs that
    failed, the others counted."""
    from objrec.cli import prediction

    monkeypatch.setattr(prediction, "ANSWERS_SHOWN", 2)
    monkeypatch.setattr(prediction, "ANSWERS_ALL", 2)
    folder = split_dir / "test" / "red"
    missing = [tmp_path / f"gone{i}.jpg" for i in range(5)]
    table = tmp_path / "answers.csv"
    code, out, err = run(capsys, "predict", trained_run, folder, *missing, "--csv", table)
    n = len(list(folder.iterdir()))
    photos = sorted(str(p) for p in folder.iterdir())
    printed = [line.split(": ")[0] for line in out.splitlines()[:2]]
    assert set(printed) < set(photos)  # the two most worth a look (test_predict_csv_prints_...)
    out, err = " ".join(out.split()), " ".join(err.split())
    assert code == 1 and sum(p in out for p in photos) == 2 and "images answered:" not in out
    assert f"and {n - 2} more answer{'s' * (n != 3)} in {table} (above, the 2 most" in out
    said = re.search(
        rf"{n + 5} rows \(one per input\) written to {re.escape(str(table))}: (\d+) images? given "
        r"a class; (\d+) said to be unknown \(like none of the classes\)",
        out,
    )  # how many of red's test photos the tiny run calls unknown rests on which are in test
    assert said is not None and int(said[1]) + int(said[2]) == n
    assert [m.name in err for m in missing] == [True] * 3 + [False] * 2
    assert f"5 of {n + 5} inputs could not be predicted (the first 3 named above" in err
    argv = ["predict", trained_run, folder, *missing, "--csv", table, "--force", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 1 and len(json.loads(out)) == n + 5 and "named above" not in err  # none is
    assert f"5 of {n + 5} inputs could not be predicted" in " ".join(err.split())


def test_predict_csv_prints_every_answer_of_few_and_else_the_unknown_ones_first(capsys):
    """newcomer53 (7): `predict --csv` of 11 photos printed the first 10 and "and 1 more answer
    in pred.csv": the one left out was the only "unknown". Up to ANSWERS_ALL answers every one
    is printed; past it, the ANSWERS_SHOWN printed are those answered unknown, then the barely
    familiar, then the least sure, and the line says so."""
    from objrec.cli import prediction
    from objrec.predict import Prediction

    def answer(name: str, prob: float, score: float = 1.0, unknown: bool = False) -> Prediction:
        topk: list[dict[str, float | str]] = [{"class": "cup", "prob": prob}]
        return Prediction(name, topk, unknown=unknown, score=score, line=0.0, unknown_threshold=0.0)

    star = answer("star.jpg", 0.95, score=-0.3, unknown=True)
    eleven = [*(answer(f"p{i}.jpg", 0.99) for i in range(10)), star]
    table = Path("pred.csv")
    prediction.print_predictions(eleven, None, 20, table=table)
    out = capsys.readouterr().out
    assert "star.jpg: unknown" in out and "more answer" not in out
    sure = [answer(f"p{i:02}.jpg", 0.99) for i in range(25)]
    many = [*sure, answer("unsure.jpg", 0.4), answer("barely.jpg", 0.9, score=0.05)]
    many.append(star)
    prediction.print_predictions(many, None, 20, table=table)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:4]] == [
        *("star.jpg", "barely.jpg", "unsure.jpg", "p00.jpg")
    ]
    assert " ".join(lines).count(".jpg:") == prediction.ANSWERS_SHOWN
    assert " ".join(" ".join(lines).split()).count(
        "and 18 more answers in pred.csv (above, the 10 most worth a look: those answered "
        "unknown, then the barely familiar, then the least sure)"
    )


def test_predict_csvs_help_says_the_lines_it_prints_as_it_prints_them(capsys):
    """review60b F5: predict --help-all said --csv prints "not a line per image", where it prints
    every answer up to ANSWERS_ALL, else the ANSWERS_SHOWN most worth a look."""
    from objrec.cli import prediction

    code, out, _ = run(capsys, "predict", "--help-all")
    said = " ".join(out.split())
    assert code == 0 and "not a line per image" not in said
    assert (
        f"a line for every answer up to {prediction.ANSWERS_ALL}, else for the "
        f"{prediction.ANSWERS_SHOWN} most worth a look (unknown, then barely familiar, then the "
        "least sure)"
    ) in said


def test_a_file_before_the_run_says_the_run_comes_first(capsys, trained_run, split_dir):
    image = sorted((split_dir / "test" / "green").iterdir())[0]
    for command in ("predict", "evaluate"):
        code, out, err = run(capsys, command, image, trained_run)
        assert code == 2 and out == ""
        text = " ".join(err.split())
        assert (
            f"{image} is not an objrec checkpoint ({trained_run} comes first: "
            f"objrec {command} {trained_run} {image})"
        ) in text
        assert "not image files" not in text  # the run's files are not listed as photos


def test_predict_plot_not_named_as_a_picture_is_a_usage_error_before_anything_loads(
    capsys, tmp_path
):
    """review55b L9: `predict --plot out.txt` exited 1, refused by the library once the model had
    loaded, where an option value that names nothing objrec knows exits 2; and its endings
    offered .raw and .rgba (bare pixel buffers) for an option whose help says PNG. It is a usage
    error now, before the run is even read, offering the picture formats matplotlib writes."""
    from matplotlib.backend_bases import FigureCanvasBase

    from objrec.predict_outputs import PLOT_FORMATS

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("out.txt", "out.raw", "figure"):
        code, _, err = run(capsys, "predict", tmp_path, photos, "--plot", tmp_path / name)
        png = tmp_path / (name.split(".")[0] + ".png")
        assert code == 2 and err.startswith(
            f"error: invalid value for '--plot': {tmp_path / name} does not end in an image "
            f"format: name it {png}, or end it in one of .jpg, .jpeg, .webp, .tif, .tiff, .svg, "
            ".pdf"
        ), err
    assert set(PLOT_FORMATS) <= set(FigureCanvasBase.get_supported_filetypes())


@pytest.mark.slow
def test_predict_json_says_where_the_plot_went_on_stderr(capsys, tmp_path, trained_run, split_dir):
    plot = tmp_path / "p.png"
    code, out, err = run(
        capsys, "predict", trained_run, split_dir / "test" / "red", "--json", "--plot", plot
    )
    assert code == 0 and len(json.loads(out)) == 3 and plot.exists()
    assert f"plot of 3 of 3 readable images written to {plot}" in " ".join(err.split())


@pytest.mark.slow
def test_predict_plot_refuses_an_existing_file_unless_force(
    capsys, tmp_path, trained_run, split_dir
):
    plot = tmp_path / "predictions.png"
    plot.write_bytes(b"the user's own picture")
    images = split_dir / "test" / "red"
    code, _, err = run(capsys, "predict", trained_run, images, "--plot", plot)
    assert code == 1 and plot.read_bytes() == b"the user's own picture"
    assert f"{plot} exists" in err and "--force" in err
    code, _, _ = run(capsys, "predict", trained_run, images, "--plot", plot, "--force")
    assert code == 0 and plot.read_bytes() != b"the user's own picture"


def test_predict_prints_a_name_that_is_not_utf8_with_its_byte_escaped(
    capsys, tmp_path, trained_run
):
    """It printed the surrogate's code point ('caf\\udce9.jpg') where warnings give the byte."""
    latin1 = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    make_image((200, 40, 40)).save(latin1, "JPEG")
    code, _, err = run(capsys, "predict", trained_run, latin1)
    assert code == 1 and "caf\\xe9.jpg: its name is not UTF-8" in err and "udce9" not in err


def test_predict_counts_the_inputs_too_large_to_read_apart():
    """predict's last line counted a 10000x10000 PNG among the inputs that could not be
    predicted, with nothing said of how to have it read."""
    from objrec.cli.prediction import failed_sentence
    from objrec.predict import Prediction

    damaged = Prediction("a.jpg", error="cannot read image (empty file, 0 bytes)")
    large = Prediction("b.png", error="10000x10000 pixels is over the limit", too_large=True)
    assert failed_sentence([damaged], 18) == "1 of 18 inputs could not be predicted"
    assert failed_sentence([damaged, large], 18) == (
        "2 of 18 inputs could not be predicted; 1 of them too large to read, over the pixel "
        "limit (downscale it, or raise the limit with OBJREC_MAX_PIXELS, docs/folders.md)"
    )


def test_the_human_top_k_counts_the_classes_at_0_00_percent_instead_of_listing_them():
    from objrec.cli.prediction import topk_line

    topk = [
        {"class": "Motorbikes", "prob": 0.99993},
        {"class": "watch", "prob": 6e-5},
        {"class": "airplanes", "prob": 4e-5},
        {"class": "sunflower", "prob": 1e-6},
    ]
    assert topk_line(topk) == "Motorbikes 99.99%, watch 0.01%, and 2 more classes under 0.005%"
    assert topk_line(topk[:2]) == "Motorbikes 99.99%, watch 0.01%"
    assert topk_line(topk[:1] + topk[3:]) == "Motorbikes 99.99%, and 1 more class under 0.005%"
    assert topk_line([{"class": "a", "prob": 0.0}]) == "a 0.00%"  # the top class always shows


@pytest.mark.parametrize("command", ["predict", "serve", "export"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_threshold_that_is_not_a_finite_number_is_refused_naming_the_option(
    tmp_path, capsys, command, value
):
    """predict --threshold nan was taken, and answered nothing unknown ('unknown below nan')."""
    code, _, err = run(
        capsys, command, tmp_path, *(["x.jpg"] * (command == "predict")), "--threshold", value
    )
    assert code == 2 and "--threshold" in err and f"'{value}' is not a finite number" in err


@pytest.mark.parametrize("command", ["predict", "serve"])
def test_a_threshold_beside_no_unknown_is_refused_naming_both(tmp_path, capsys, command):
    """predict --threshold 0.5 --no-unknown took both and never answered unknown: the threshold
    was ignored without a word."""
    code, _, err = run(
        capsys,
        command,
        tmp_path,
        *(["x.jpg"] * (command == "predict")),
        "--threshold",
        "0.5",
        "--no-unknown",
    )
    assert code == 2 and "--threshold and --no-unknown do not go together" in err


@pytest.mark.slow
def test_explain_refuses_a_link_among_its_maps_before_drawing_any_naming_explain(
    capsys, tmp_path, trained_run, split_dir
):
    """A link among the maps was found only when its turn came, after earlier maps were drawn
    over, and the refusal said 'choose another out': predict has no --out."""
    images = sorted((split_dir / "test" / "red").iterdir())[:3]
    cams = tmp_path / "cams"
    assert run(capsys, "predict", trained_run, *images, "--explain", cams)[0] == 0
    first, third = sorted(cams.glob("*.gradcam.png"))[0], sorted(cams.glob("*.gradcam.png"))[2]
    before = first.stat().st_mtime_ns
    third.unlink()
    third.symlink_to(tmp_path / "elsewhere.png")
    code, _, err = run(capsys, "predict", trained_run, *images, "--explain", cams, "--force")
    said = " ".join(err.split())
    assert code == 1 and f"{third} is a link" in said and "choose another --explain" in said
    assert first.stat().st_mtime_ns == before and third.is_symlink()


@pytest.mark.slow
def test_predict_says_its_answers_before_a_full_disk_refuses_its_csv(
    capsys, monkeypatch, tmp_path, trained_run, split_dir
):
    """predict --csv on a full disk computed every answer and printed none: the table was
    written before the lines. The lines say every answer, then the error."""
    import errno

    table = tmp_path / "p.csv"

    def full(results, path, force=False):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(importlib.import_module("objrec.predict_outputs"), "write_csv", full)
    code, out, err = run(capsys, "predict", trained_run, split_dir / "test" / "red", "--csv", table)
    images = sorted((split_dir / "test" / "red").iterdir())
    assert code == 1 and all(image.name in out for image in images) and "written to" not in out
    assert f"the disk of {tmp_path} is full: {table} could not be written" in " ".join(err.split())
    assert "give --csv a place on a disk with room" in " ".join(err.split())

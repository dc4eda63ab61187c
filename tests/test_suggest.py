"""suggest: uncertain and unfamiliar images first, near-copies of one hard case not listed twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from objrec.cli import main
from objrec.suggest import pick_diverse, rank_table, uncertainty

from .conftest import COLOURS, make_image, store_held


def test_uncertainty_is_one_minus_the_margin():
    probs = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.6, 0.3, 0.1]])
    assert np.allclose(uncertainty(probs), [1.0, 0.15, 0.7])


def test_diversity_skips_copies_of_one_hard_case():
    unit = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    scores = np.array([0.9, 0.89, 0.88, 0.6])
    assert pick_diverse(scores, unit, 2, diversity=0.0)[0] == [0, 1]
    assert pick_diverse(scores, unit, 2, diversity=0.5)[0] == [0, 3]


def test_diversity_never_lifts_a_sure_image_above_an_uncertain_one():
    """With a fixed penalty (score - 0.5 * similarity) a sure image (0.0004) unlike the first pick
    came before an unknown one (0.21) like it: diversity promoted what teaches nothing."""
    unit = np.array([[1.0, 0.0], [0.9, 0.436], [0.0, 1.0]])
    scores = np.array([0.8, 0.21, 0.0004])
    assert pick_diverse(scores, unit, 3, diversity=0.5)[0] == [0, 1, 2]
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(60, 8))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    scores = np.where(np.arange(60) % 3 == 0, 0.0, rng.uniform(0.01, 1, 60))
    for diversity in (0.5, 0.9):
        chosen, _ = pick_diverse(scores, unit, 60, diversity)
        picked = scores[chosen]
        assert (picked[:40] > 0).all() and (picked[40:] == 0).all()
        # an image passes another only when that one is at most 1 / (1 - diversity) as uncertain
        assert all(b <= a / (1 - diversity) for i, a in enumerate(picked) for b in picked[i:])


def answers_of(probs, familiarity, line=0.0):
    import torch

    from objrec.inference import Answers

    scores = torch.tensor(familiarity)
    return Answers(torch.tensor(probs), scores, scores < line)


def test_an_unknown_image_the_model_is_sure_of_ranks_above_the_sure_familiar_ones():
    """Ranked by the margin alone, an image the run answers "unknown" (unlike anything it was
    taught: a class it lacks) but whose closest class is clear came after the images it is sure of
    and knows: a chair at 0.9999 "grand_piano" ranked 7th of 18 Caltech images, behind a sure
    airplane. Now its informativeness is the larger of uncertainty and unfamiliarity."""
    probs = [[0.999, 0.001, 0.0], [0.9999, 0.0001, 0.0], [0.8, 0.2, 0.0], [0.999, 0.001, 0.0]]
    familiarity = [1.4, -0.6, 1.2, 0.1]  # sure and typical, unknown, familiar but unsure, barely
    answers, unit = answers_of(probs, familiarity), np.eye(4)
    paths, classes = ["sure", "unknown", "unsure", "barely"], ["a", "b", "c"]
    table = rank_table(paths, answers, unit, classes, 4, 0.5)  # a score without a scale
    assert table["path"].tolist() == ["unknown", "unsure", "barely", "sure"]
    table = rank_table(paths, answers, unit, classes, 4, 0.5, line=0.0).set_index("path")
    assert table.index.tolist() == ["unknown", "barely", "unsure", "sure"]
    assert table["informativeness"].tolist() == [1.0, 0.9, 0.4, 0.002]
    assert table["unfamiliarity"].tolist() == [1.0, 0.9, 0.0, 0.0]
    assert table.loc["unknown", "uncertainty"] == 0.0002 and table.loc["unknown", "unknown"]
    assert table["reason"].tolist() == [
        "answered unknown (familiarity -0.60, unknown below 0)",
        "familiarity 0.10, a typical image 1",
        "margin 0.60 between its two best classes",
        "margin 1.00 between its two best classes",
    ]


def test_an_images_two_best_classes_tied_are_named_in_the_classes_order():
    """late60 L2: the predicted and second classes came from NumPy's default sort, which gives
    tied probabilities in no promised order (here class 3, then 2, of four tied at the top), so
    the class suggest named as the model's answer could be another than predict's. They are the
    first two tied classes in the classes' order, as ``metrics.answered`` answers."""
    probs = [[2 / 18, 2 / 18, 3 / 18, 3 / 18, 1 / 18, 1 / 18, 3 / 18, 3 / 18]]
    table = rank_table(["a"], answers_of(probs, [1.0]), np.eye(1), list("abcdefgh"), 1, 0.5)
    assert table.loc[0, ["predicted", "second"]].tolist() == ["c", "d"]


def test_equally_informative_images_go_least_familiar_first():
    probs = [[0.9, 0.1]] * 3
    answers = answers_of(probs, [-0.2, -1.5, -0.7])
    table = rank_table(["a", "b", "c"], answers, np.eye(3), ["x", "y"], 3, 0.5, line=0.0)
    assert table["path"].tolist() == ["b", "c", "a"]


def test_images_tied_in_informativeness_are_said_to_tie_and_close_ones_told_apart():
    """7 of 8 rows said "informativeness 1.00" in an order that said nothing: rows
    that tie are marked (``tied``, in suggestions.csv and --json too) and their order explained;
    those that differ but read the same in 2 decimals are shown in 4."""
    from objrec.suggest import tie_lines, worth_words

    probs = [[0.9, 0.1]] * 3 + [[0.5005, 0.4995], [0.502, 0.498]]
    answers = answers_of(probs, [-0.2, -1.5, -0.7, 1.0, 1.0])
    table = rank_table(list("abcde"), answers, np.eye(5), ["x", "y"], 5, 0.5, line=0.0)
    assert table["path"].tolist() == ["b", "c", "a", "d", "e"]  # 3 unknown, 2 barely sure
    assert table["tied"].tolist() == [True, True, True, False, False]
    worth = worth_words(list(table["informativeness"]), list(table["tied"]))
    assert worth == ["1.0000 (tied)", "1.0000 (tied)", "1.0000 (tied)", "0.9990", "0.9960"]
    assert tie_lines(table) == [
        "ranks 1 to 3 tie at informativeness 1.0000: among them, the image least like those "
        "ranked above it comes first, then the less familiar"
    ]


def test_the_page_shows_the_informativeness_and_the_ties_as_the_console_does(tmp_path):
    """suggestions.html read "1.00" for 0.9990 and 0.9960 (its own '%.2f') and had no tie line,
    where docs/audit.md says the console and the page show both: the page now shows the
    console's words (``worth_words``, ``tie_lines``)."""
    from objrec.suggest import Suggestions, write_suggestions

    probs = [[0.9, 0.1]] * 3 + [[0.5005, 0.4995], [0.502, 0.498]]
    answers = answers_of(probs, [-0.2, -1.5, -0.7, 1.0, 1.0])
    table = rank_table(list("abcde"), answers, np.eye(5), ["x", "y"], 5, 0.5, line=0.0)
    write_suggestions(Suggestions(table, []), tmp_path / "s", tmp_path)
    page = " ".join((tmp_path / "s" / "suggestions.html").read_text().split())
    assert page.count("informativeness 1.0000 (tied):") == 3
    assert "informativeness 0.9990:" in page and "informativeness 0.9960:" in page
    assert "<p>ranks 1 to 3 tie at informativeness 1.0000: among them, the image least" in page


def test_diversity_outside_zero_to_one_is_refused(trained_run, tmp_path, capsys):

    from objrec.errors import ObjrecError
    from objrec.suggest import suggest

    with pytest.raises(ObjrecError, match="`diversity` must lie between 0 and 1, not 2"):
        suggest(trained_run, tmp_path, diversity=2)
    assert main(["suggest", str(trained_run), str(tmp_path), "--diversity", "-1"]) == 2
    assert "--diversity" in capsys.readouterr().err


@pytest.mark.slow
def test_suggest_ranks_the_ambiguous_image_first(trained_run, tmp_path, capsys):
    folder = tmp_path / "unlabelled"
    (folder / "more").mkdir(parents=True)
    for i in range(4):
        make_image(COLOURS["red"], seed=500 + i).save(folder / f"red_{i}.png")
    mixed = (np.array(COLOURS["red"]) + np.array(COLOURS["green"])) // 2
    make_image(tuple(int(v) for v in mixed), seed=900).save(folder / "more" / "mixed.png")
    before = sorted(p.stat().st_mtime_ns for p in folder.rglob("*.png"))
    code = main(["suggest", str(trained_run), str(folder), "-n", "3", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["path"].endswith("mixed.png")
    page = (trained_run / "suggest" / "suggestions.html").read_text()
    assert "<body><main>\n<h1>" in page and "</main></body>" in page  # a landmark (a11y40 #12)
    assert sorted(p.stat().st_mtime_ns for p in folder.rglob("*.png")) == before
    assert Image.open(folder / "more" / "mixed.png").size


@pytest.mark.slow
def test_suggest_lets_go_of_the_feature_store_it_opened(trained_run, split_dir, tmp_path):
    """A script calling `objrec.suggest_images` kept the feature store it opened (its lock among
    it) until Python, or the thread, ended: a prune or clear elsewhere waited for a suggestion
    long made, and a thread ending left the store's files open. It lets go as it returns, as
    evaluate and predict do (``cache.stores_held``)."""
    from objrec.suggest import suggest

    cache = tmp_path / "cache"
    suggest(trained_run, split_dir / "test", n=3, out=tmp_path / "out", cache_dir=cache)
    assert (cache / "store" / "lock").is_file() and not store_held(cache)


def test_an_output_folder_that_is_not_empty_is_refused_before_any_image_is_read(
    trained_run, split_dir, tmp_path, monkeypatch
):

    from objrec.errors import ObjrecError
    from objrec.suggest import suggest

    monkeypatch.setattr("objrec.suggest.cached_features", lambda *a, **k: pytest.fail("read"))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ObjrecError, match="mine is not empty"):
        suggest(trained_run, split_dir / "test", out=mine)


@pytest.mark.slow
def test_unreadable_images_are_named_and_a_folder_of_only_those_is_refused(
    trained_run, tmp_path, caplog
):
    """They were left out without a word, and a folder of only those "ranked 0 images"."""

    from objrec.errors import ObjrecError
    from objrec.suggest import suggest

    folder = tmp_path / "unlabelled"
    folder.mkdir()
    make_image(COLOURS["red"]).save(folder / "red.png")
    (folder / "empty.jpg").write_bytes(b"")
    with caplog.at_level("WARNING", logger="objrec"):
        result = suggest(trained_run, folder, out=tmp_path / "s")
    assert result.table["path"].tolist() == [str(folder / "red.png")]
    assert any("skipped 1 unreadable file" in r.getMessage() for r in caplog.records)
    (folder / "red.png").unlink()
    with pytest.raises(ObjrecError, match=r"no image of .*unlabelled can be read: .*empty\.jpg"):
        suggest(trained_run, folder, out=tmp_path / "s2")
    assert not (tmp_path / "s2").exists()


@pytest.mark.slow
def test_a_folder_of_only_unknown_images_is_said_so_beside_the_same_ranking(
    trained_run, tmp_path, capsys
):
    """Checkerboards, like none of the run's classes, were ranked without a word: a ranking by
    the margin between two classes neither of which the images are."""
    from .test_unknown import planted

    folder = tmp_path / "odd"
    folder.mkdir()
    for i in range(2):
        planted(folder / f"board_{i}.png")
    args = ["suggest", str(trained_run), str(folder), "--out", str(tmp_path / "s"), "--force"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and all(r["unknown"] for r in rows)
    assert main(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "all 2 images are answered unknown by the run: they look like none of its" in out
    assert [line for line in out.split("  ") if "board_" in line]  # still ranked
    make_image(COLOURS["red"], seed=500).save(folder / "red.png")
    assert main(args) == 0  # beside a familiar image, the unknown one is marked in its line
    lines = capsys.readouterr().out.splitlines()
    assert all(
        ("answered unknown (familiarity" in line) == ("board_" in line)
        for line in lines
        if ". " in line
    )
    ranked = [line for line in lines if ". " in line]
    assert "red.png" in ranked[-1]  # an unknown image comes first, however sure its top class
    assert all("informativeness 1.00 (tied): answered unknown" in line for line in ranked[:-1])
    tie = "ranks 1 and 2 tie at informativeness 1.00: among them, the image least like those"
    assert any(line.startswith(tie) for line in lines)  # an order that said nothing
    page = (tmp_path / "s" / "suggestions.html").read_text()
    assert page.count("answered unknown (familiarity") == 2 and "informativeness" in page
    assert any("board_" in line for line in lines) and any("red.png" in line for line in lines)


def said(capsys) -> tuple[str, str]:
    captured = capsys.readouterr()
    return captured.out, " ".join(captured.err.split())


@pytest.mark.slow
def test_a_rerun_into_the_default_folder_keeps_an_edited_list(trained_run, split_dir, capsys):
    """RUN/suggest was written as with --force: a suggestions.csv the user edited (they label
    from it) went under a re-run's without a word, exit 0, and the folder got no mark. Now it is
    refreshed only while objrec's files are as it wrote them, as DATA-explore is."""
    from objrec.outputs import MARKER, recorded_outputs

    args = ["suggest", str(trained_run), str(split_dir / "test"), "-n", "3"]
    out = trained_run / "suggest"
    assert main(args) == 0
    assert set(recorded_outputs(out) or {}) == {"suggestions.csv", "suggestions.html"}
    assert main(args) == 0 and f"wrote again into {out}" in said(capsys)[1]
    edited = (out / "suggestions.csv").read_text() + "labelled up to rank 2\n"
    (out / "suggestions.csv").write_text(edited)
    html = (out / "suggestions.html").stat().st_mtime_ns
    assert main(args) == 1
    err = said(capsys)[1]
    assert f"{out / 'suggestions.csv'} changed after objrec wrote it: pass --force" in err
    assert (out / "suggestions.csv").read_text() == edited  # kept, and the page too
    assert (out / "suggestions.html").stat().st_mtime_ns == html and (out / MARKER).is_file()
    assert main([*args, "--force"]) == 0
    assert (out / "suggestions.csv").read_text() != edited
    assert main(args) == 0  # recorded again: refreshed


@pytest.mark.slow
def test_a_folder_of_the_users_named_like_the_default_is_refused(trained_run, split_dir, capsys):
    """A RUN/suggest objrec did not make is the user's: refused, and --force writes beside their
    files without marking the folder objrec's; a link named like an output is never written."""
    from objrec.errors import ObjrecError
    from objrec.outputs import MARKER
    from objrec.suggest import suggest

    out = trained_run / "suggest"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["suggest", str(trained_run), str(split_dir / "test"), "-n", "2"]
    assert main(args) == 1 and f"{out} is not empty" in said(capsys)[1]
    with pytest.raises(ObjrecError, match="not empty: choose another `out` or pass `force=True`"):
        suggest(trained_run, split_dir / "test", n=2)
    assert main([*args, "--force"]) == 0
    assert (out / "notes.txt").read_text() == "mine" and not (out / MARKER).exists()
    (out / "suggestions.csv").unlink()
    (out / "suggestions.csv").symlink_to(out / "notes.txt")
    assert main([*args, "--force"]) == 1 and "is a link" in said(capsys)[1]
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_default_folder_an_objrec_before_the_mark_wrote_is_refreshed_after_one_forced_run(
    trained_run, split_dir, capsys
):
    """As DATA-explore of an objrec before the mark: its outputs count as the user's (no record
    to tell an edit by) until one --force run records them."""
    args = ["suggest", str(trained_run), str(split_dir / "test"), "-n", "2"]
    assert main(args) == 0
    (trained_run / "suggest" / ".objrec-output").unlink()  # as an earlier objrec left it
    assert main(args) == 1 and "kept no record" in said(capsys)[1]
    assert main([*args, "--force"]) == 0
    assert main(args) == 0 and "wrote again into" in said(capsys)[1]


@pytest.mark.slow
def test_each_checkpoint_file_in_a_folder_gets_its_own_list(trained_run, split_dir, capsys):
    """`suggest run/model.safetensors` and `suggest run/epoch3.safetensors` both wrote
    run/suggest, each over the other's list."""
    import shutil

    shutil.copy(trained_run / "model.safetensors", trained_run / "epoch3.safetensors")
    images = str(split_dir / "test")
    assert main(["suggest", str(trained_run / "model.safetensors"), images, "-n", "2"]) == 0
    mine = (trained_run / "suggest" / "suggestions.csv").read_text() + "my edit\n"
    (trained_run / "suggest" / "suggestions.csv").write_text(mine)
    assert main(["suggest", str(trained_run / "epoch3.safetensors"), images, "-n", "2"]) == 0
    out, _ = said(capsys)
    assert f"ranked in {trained_run / 'epoch3-suggest' / 'suggestions.csv'}" in " ".join(
        out.split()
    )
    assert (trained_run / "epoch3-suggest" / ".objrec-output").is_file()
    assert (trained_run / "suggest" / "suggestions.csv").read_text() == mine


def test_the_default_folder_is_named_after_a_checkpoint_that_is_not_the_runs_model(tmp_path):
    from objrec.suggest import default_suggest_dir

    run = tmp_path / "run"
    run.mkdir()
    assert default_suggest_dir(run) == run / "suggest"
    assert default_suggest_dir(run / "model.safetensors") == run / "suggest"
    assert default_suggest_dir(run / "epoch3.safetensors") == run / "epoch3-suggest"
    assert default_suggest_dir(tmp_path / "best.v2.safetensors") == tmp_path / "best.v2-suggest"


@pytest.mark.slow  # writes a list and its page of thumbnails twice: 0.28 s
def test_a_list_stopped_before_its_page_leaves_the_earlier_list_and_page(tmp_path, monkeypatch):
    """suggest wrote suggestions.csv, then its page: Ctrl-C between left the new list beside the
    earlier page, which showed other images. Neither is replaced until both are written."""
    import jinja2
    import pandas as pd

    from objrec.outputs import SUGGEST_FILES, prepare_output_dir
    from objrec.suggest import Suggestions, write_suggestions

    image = tmp_path / "a.png"
    make_image(COLOURS["red"], size=(16, 16)).save(image)
    row = {"rank": 1, "path": str(image), "predicted": "red", "prob": 0.6, "second": "blue"}
    row |= {"prob_second": 0.4, "informativeness": 0.8, "reason": "margin 0.20", "tied": False}
    out = prepare_output_dir(tmp_path / "suggest", names=SUGGEST_FILES)
    write_suggestions(Suggestions(pd.DataFrame([row]), []), out, tmp_path)
    earlier = {p.name: p.stat().st_ino for p in out.iterdir()}

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jinja2.Environment, "from_string", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        write_suggestions(Suggestions(pd.DataFrame([row, row]), []), out, tmp_path, force=True)
    assert {p.name: p.stat().st_ino for p in out.iterdir()} == earlier


@pytest.mark.slow
def test_the_runs_own_training_images_are_left_out_and_said(
    trained_run, split_dir, tmp_path, capsys
):
    """An add copies its photos, so the folder a user suggests from may still hold photos the
    run trained on: they were ranked as if unlabelled (third of the list)."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    trained = sorted((split_dir / "train").rglob("*.png"))[:2]
    for i, path in enumerate(trained):
        shutil.copy(path, folder / f"copy_{i}.png")
    for i in range(3):
        make_image(COLOURS["red"], seed=700 + i).save(folder / f"new_{i}.png")
    args = ["suggest", str(trained_run), str(folder), "-n", "5"]
    assert main([*args, "--json", "--out", str(tmp_path / "a")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["path"]).name for r in rows) == ["new_0.png", "new_1.png", "new_2.png"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert f"2 images left out: {trained_run} trained or validated on them" in said(capsys)[0]
    for path in folder.glob("new_*.png"):
        path.unlink()
    assert main([*args, "--out", str(tmp_path / "c")]) == 1
    err = said(capsys)[1]
    assert f"every image in {folder} is one {trained_run} trained or validated on" in err


@pytest.mark.slow
def test_re_saved_copies_of_the_runs_own_images_are_left_out_and_said(
    trained_run, split_dir, tmp_path, capsys
):
    """suggest left out the run's own images by their exact bytes only: a phone's or gallery's
    export of training photos (re-saved, resized) was ranked as unlabelled, where evaluate
    warns of the same copies (near_seen_in_training). Found by the same code now, left out and
    said; a folder of nothing else is refused."""
    from PIL import Image

    folder = tmp_path / "inbox"
    folder.mkdir()
    trained = sorted((split_dir / "train").rglob("*.png"))[:3]
    shutil.copy(trained[0], folder / "copy.png")
    for i, path in enumerate(trained[1:]):
        image = Image.open(path).convert("RGB")
        image.resize((image.width * 2, image.height * 2)).save(
            folder / f"resaved_{i}.jpg", quality=90
        )
    for i in range(3):
        make_image(COLOURS["red"], seed=700 + i).save(folder / f"new_{i}.png")
    args = ["suggest", str(trained_run), str(folder), "-n", "9"]
    assert main([*args, "--json", "--out", str(tmp_path / "a")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["path"]).name for r in rows) == ["new_0.png", "new_1.png", "new_2.png"]
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    out = " ".join(said(capsys)[0].split())
    assert f"1 image left out: {trained_run} trained or validated on it (by content)" in out
    assert (
        "2 images left out: re-saved, resized or cropped copies of images "
        f"{trained_run} trained or validated on (by their perceptual hashes), so they are "
        "labelled already"
    ) in out
    for path in folder.glob("new_*.png"):
        path.unlink()
    assert main([*args, "--out", str(tmp_path / "c")]) == 1
    assert "(by content, or a re-saved, resized or cropped copy of one): they" in said(capsys)[1]


@pytest.mark.slow
def test_suggest_shows_the_model_loading_before_its_pass(trained_run, tmp_path):
    """suggest of 20 photos showed nothing for 7.8 s on a busy machine before its pass began:
    loading the model is a step of its own."""
    from objrec.suggest import suggest

    from .conftest import TaskRecorder

    (folder := tmp_path / "unlabelled").mkdir()
    for i in range(3):
        make_image(COLOURS["red"], seed=700 + i).save(folder / f"red_{i}.png")
    reporter = TaskRecorder()
    suggest(trained_run, folder, out=tmp_path / "suggested", reporter=reporter)
    assert reporter.tasks[:1] == ["loading the model"]  # then the pass, unless stored


def test_an_empty_folder_is_refused_without_saying_it_writes_again(trained_run, tmp_path, capsys):
    """review52b L6: suggest said "writing again into RUN/suggest (objrec's earlier outputs)",
    then refused an UNLABELLED that holds no image, keeping the earlier files: the first line was
    false. It says so only once it has written them."""
    from objrec.outputs import mark_output_dir

    (trained_run / "suggest").mkdir()
    mark_output_dir(trained_run / "suggest")  # objrec's earlier outputs
    (tmp_path / "empty").mkdir()
    assert main(["suggest", str(trained_run), str(tmp_path / "empty")]) == 1
    err = said(capsys)[1]
    assert "holds no images to suggest from" in err and "again into" not in err

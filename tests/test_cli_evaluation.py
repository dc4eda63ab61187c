"""evaluate and report through the CLI (``cli/evaluation.py``)."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from objrec.cli import main

from .conftest import fake_checkpoint, make_class_folder, metrics_of
from .test_cli import run


def test_help_says_the_runs_own_report_and_evaluations_are_refreshed_without_force(capsys):
    """report's --force said "Overwrite --out", yet RUN/report.html was refreshed without it, as
    evaluate refreshes RUN/eval-test: the help says which outputs need --force."""
    for name in ("report", "evaluate"):
        code, out, _ = run(capsys, name, "--help-all")
        assert code == 0 and "refreshed without" in " ".join(out.split()), name
    code, out, _ = run(capsys, "export", "--help-all")
    assert code == 0 and "never refreshed without" in " ".join(out.split())


@pytest.mark.slow  # a whole evaluate
def test_evaluate_writes_beside_a_checkpoint_file_and_its_help_says_so(
    capsys, trained_run, split_dir
):
    """`objrec evaluate RUN/epoch3.safetensors DATA` read every image, then failed: 'error:
    RUN/epoch3.safetensors/eval-test: not a directory', exit 1; --help said only RUN/eval-*."""
    shutil.copy(trained_run / "model.safetensors", trained_run / "epoch3.safetensors")
    code, out, _ = run(capsys, "evaluate", trained_run / "epoch3.safetensors", split_dir)
    assert code == 0 and str(trained_run / "epoch3-eval-test") in " ".join(out.split())
    code, out, _ = run(capsys, "evaluate", "--help-all")
    assert code == 0 and "CKPT.safetensors other than a run's model.safetensors, CKPT-eval-" in (
        " ".join(out.split())
    )


def test_report_says_where_it_wrote_as_an_absolute_path_and_a_link(capsys, tmp_path, monkeypatch):
    """Its "report written to run/report.html" could not be opened from elsewhere nor clicked."""
    import sys
    import types

    def write_report(run, out, data, reporter, force, grad_cam=True):
        (tmp_path / "my run" / "report.html").write_text("<html></html>")
        page = Path("my run") / "report.html"  # as the library returns it for a relative RUN
        return types.SimpleNamespace(out=page, evaluation=Path("my run") / "eval-test")

    (tmp_path / "my run").mkdir()
    fake_checkpoint(tmp_path / "my run" / "model.safetensors")
    monkeypatch.chdir(tmp_path)
    fake = types.ModuleType("objrec.report")  # the real one imports pandas: 1 s of this test
    fake.write_report = write_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "objrec.report", fake)
    code, out, err = run(capsys, "report", "my run")
    page = tmp_path.resolve() / "my run" / "report.html"
    assert code == 0 and f"report written to {page} (0.0 MB)" in out
    assert err.startswith("loading the libraries ...")  # at once: the import takes seconds
    assert f"open {page.as_uri()} in a browser" in out and "%20run/report.html" in out


def test_report_json_gives_the_page_its_evaluation_and_the_headline_scores(
    capsys, tmp_path, monkeypatch
):
    """review60b F23: report had no --json, where a script wants the page's path and the scores
    it shows (it printed a sentence to parse). --json gives them, as docs/json.md lists."""
    import sys
    import types

    evaluation = tmp_path / "run" / "eval-test"
    evaluation.mkdir(parents=True)
    figures = {"n": 12, "n_groups": 11, "top1": 0.75, "top1_low": 0.4, "top1_high": 0.9}
    record = figures | {"top5": None, "mean_class_top1": 0.7, "folder": str(tmp_path / "test")}
    (evaluation / "metrics.json").write_text(json.dumps(record))

    def write_report(run, out, data, reporter, force, grad_cam=True):
        (tmp_path / "run" / "report.html").write_text("<html></html>")
        return types.SimpleNamespace(out=tmp_path / "run" / "report.html", evaluation=evaluation)

    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    fake = types.ModuleType("objrec.report")  # the real one imports pandas: 1 s of this test
    fake.write_report = write_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "objrec.report", fake)
    code, out, _ = run(capsys, "report", tmp_path / "run", "--json")
    answer = json.loads(out)
    assert code == 0 and answer == {
        "out": str((tmp_path / "run" / "report.html").resolve()),
        "evaluation": str(evaluation.resolve()),
        "evaluated": str(tmp_path / "test"),
        **figures,
        "top5": None,
        "mean_class_top1": 0.7,
        "warnings": [],
    }
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    section = page.split("\n## report\n")[1].split("\n## ")[0]
    assert not [key for key in answer if f"`{key}`" not in section]


def test_report_no_grad_cam_leaves_the_maps_out(capsys, tmp_path, monkeypatch):
    """Grad-CAM took 3m45s for a report's 6 maps on a busy machine, with no way to
    skip it: --no-grad-cam passes ``grad_cam=False``, and --help says what it saves."""
    import sys
    import types

    given = []

    def write_report(run, out, data, reporter, force, grad_cam=True):
        given.append(grad_cam)
        (tmp_path / "run" / "report.html").write_text("<html></html>")
        page = tmp_path / "run" / "report.html"
        return types.SimpleNamespace(out=page, evaluation=tmp_path / "run" / "eval-test")

    (tmp_path / "run").mkdir()
    fake_checkpoint(tmp_path / "run" / "model.safetensors")
    fake = types.ModuleType("objrec.report")  # the real one imports pandas: 1 s of this test
    fake.write_report = write_report  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "objrec.report", fake)
    assert run(capsys, "report", tmp_path / "run", "--no-grad-cam")[0] == 0
    assert run(capsys, "report", tmp_path / "run")[0] == 0
    assert given == [False, True]
    helped = " ".join(run(capsys, "report", "--help")[1].split())
    assert "--grad-cam / --no-grad-cam Draw the Grad-CAM maps, or leave them out (minutes" in helped


def test_report_on_a_folder_that_is_no_run_says_so_before_loading_the_libraries(
    capsys, tmp_path, monkeypatch
):
    """`objrec report photos` spent 6 s importing torch and pandas before saying "no checkpoint";
    the folder is looked at first (the report's module cannot even be imported here)."""
    import sys

    monkeypatch.setitem(sys.modules, "objrec.report", None)  # importing it now fails
    (tmp_path / "photos" / "cat").mkdir(parents=True)
    code, _, err = run(capsys, "report", tmp_path / "photos")
    said = " ".join(err.split())
    assert code == 1 and f"no checkpoint at {tmp_path / 'photos' / 'model.safetensors'}" in said
    assert "loading the libraries" not in err and "Traceback" not in err


@pytest.mark.slow
def test_evaluating_another_folder_never_replaces_an_earlier_evaluation(
    capsys, tmp_path, trained_run, split_dir
):
    """The --json of each says where it wrote (review60b F12: no `out`, so a script rebuilt
    RUN/eval-NAME-HASH)."""
    code, out, _ = run(capsys, "evaluate", trained_run, split_dir, "--json")
    own = trained_run / "eval-test"
    assert code == 0 and json.loads(out)["folder"] == str((split_dir / "test").resolve())
    assert Path(json.loads(out)["out"]).resolve() == own.resolve()
    before = {p.name: p.read_bytes() for p in own.iterdir()}
    other = make_class_folder(tmp_path / "other", per_class=5)
    code, out, _ = run(capsys, "evaluate", trained_run, other, "--json")
    assert code == 0 and json.loads(out)["n"] == 15
    assert {p.name: p.read_bytes() for p in own.iterdir()} == before
    assert [p.name.startswith("eval-other-") for p in trained_run.glob("eval-*")].count(True) == 1
    assert [Path(json.loads(out)["out"]).resolve()] == [
        p.resolve() for p in trained_run.glob("eval-other-*")
    ]
    code, _, err = run(capsys, "evaluate", trained_run, other, "--out", own)
    assert code == 1 and "not empty" in err


def test_evaluate_says_its_results_overstate_accuracy_before_the_scores(
    monkeypatch, trained_run, split_dir
):
    """review52b L10: evaluating the run's own images printed the tables and "next, try:", and
    only then "these results overstate accuracy": the reader met the figure before the warning
    on it. The warning comes first (stdout and stderr into one stream here, as in a terminal)."""
    import io

    from rich.console import Console

    from objrec.cli import evaluation

    both = io.StringIO()
    monkeypatch.setattr(evaluation, "console", Console(file=both, width=300))
    monkeypatch.setattr(evaluation, "err", Console(file=both, width=300))
    assert main(["evaluate", str(trained_run), str(split_dir / "train"), "--force"]) == 0
    said = " ".join(both.getvalue().split())
    assert "overstate accuracy" in said and "next, try:" in said
    assert said.index("overstate accuracy") < said.index("top-1")


@pytest.mark.slow
def test_evaluate_warns_loudly_when_images_are_the_runs_own_training_images(
    capsys, trained_run, split_dir, image_folder
):
    code, out, err = run(capsys, "evaluate", trained_run, image_folder, "--json")
    result = json.loads(out)
    assert code == 0 and result["n"] == 36
    assert result["seen_in_training"] == {"train": 18, "valid": 9}
    assert (
        "27 of the 36 evaluated images are the run's own 18 training and 9 validation"
        in (result["warning"])
    )
    assert "warning:" in err and " ".join(err.split()).count("overstate accuracy") == 1
    code, out, err = run(capsys, "evaluate", trained_run, image_folder, "--force")
    assert code == 0 and " ".join(err.split()).count("overstate accuracy") == 1  # not logged too
    code, out, err = run(capsys, "evaluate", trained_run, split_dir, "--json")
    result = json.loads(out)
    assert result["seen_in_training"] == {"train": 0, "valid": 0} and "warning" not in result
    assert "warning" not in err


@pytest.mark.slow
def test_evaluate_ignores_an_empty_folder_that_split_left_out(capsys, tmp_path, trained_run):
    photos = make_class_folder(tmp_path / "photos2", per_class=2)
    (photos / "empty").mkdir()
    code, out, err = run(capsys, "evaluate", trained_run, photos, "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 6


@pytest.mark.slow  # a whole evaluate: 1.3-1.6 s
def test_evaluate_ends_with_the_report_and_the_audit_to_run_next(
    capsys, tmp_path, trained_run, split_dir, monkeypatch
):
    """A newcomer's evaluate ended on 'per-class table, confusion matrix and plots in ...',
    naming neither the HTML page (`objrec report`) nor the audit of likely wrong labels, as demo
    and train end with what to run next; nor, for a Teachable Machine user, the page to try the
    model on (teachable42); --json stays one JSON object."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "evaluate", "run", "data")
    said = [" ".join(line.split()) for line in out.splitlines()]
    assert code == 0 and said[-4:] == [
        "next, try:",
        "objrec report run # one HTML page: the results, the confusions and the images it got "
        "wrong",
        "objrec audit data --run run # likely wrong labels, near-duplicates, outliers",
        "objrec serve run # a page in your browser to try it: drop photos on it",
    ]
    assert said[1].startswith("9 images: top-1") and "(the first guess right)" in said[1]
    code, out, _ = run(capsys, "evaluate", "run", "data", "--split", "valid", "--json")
    assert code == 0 and "next" not in json.loads(out)


def test_evaluate_s_next_report_names_the_data_when_it_shows_another_evaluation(capsys, tmp_path):
    """`objrec report RUN` shows the run's own test split: after an evaluation of anything else
    (another split folder, --out elsewhere) it is given --data DATA, which reports that one."""
    from objrec.cli.evaluation import print_next_steps

    run_dir, data = tmp_path / "run", tmp_path / "my data"
    run_dir.mkdir()
    print_next_steps(run_dir, data, run_dir / "eval-my data-test-0123abcd")
    out = " ".join(capsys.readouterr().out.split())
    assert f"objrec report {run_dir} --data '{data}' #" in out
    assert f"objrec audit '{data}' --run {run_dir} #" in out
    print_next_steps(run_dir, data, run_dir / "eval-test")
    assert f"objrec report {run_dir} #" in " ".join(capsys.readouterr().out.split())


def test_evaluate_s_next_report_after_another_split_names_that_split(capsys, tmp_path):
    """After `evaluate RUN DATA --split valid` it advised `objrec report RUN --data DATA`, whose
    page shows DATA's test split, not the evaluation just made: it names DATA/valid, which report
    shows (test_report_shows_the_valid_evaluation_evaluate_advises_it_for runs both)."""
    from objrec.cli.evaluation import print_next_steps

    run_dir, data = tmp_path / "run", tmp_path / "my data"
    for folder in (run_dir, data / "train", data / "valid"):
        folder.mkdir(parents=True)
    print_next_steps(run_dir, data, run_dir / "eval-valid", "valid")
    out = " ".join(capsys.readouterr().out.split())
    assert f"objrec report {run_dir} --data '{data / 'valid'}' #" in out
    assert f"objrec audit '{data}' --run {run_dir} #" in out
    print_next_steps(run_dir, data, run_dir / "eval-my data-test-0123abcd", "test")
    assert f"--data '{data}' #" in " ".join(capsys.readouterr().out.split())
    classes = tmp_path / "classes"  # a folder of classes: evaluated whole, whatever --split says
    (classes / "valid").mkdir(parents=True)
    print_next_steps(run_dir, classes, run_dir / "eval-classes-0123abcd", "valid")
    assert f"--data {classes} #" in " ".join(capsys.readouterr().out.split())


def test_evaluate_advises_no_report_that_cannot_find_its_evaluation(capsys, tmp_path):
    """`evaluate run data/test --out elsewhere` advised `objrec report run --data data/test`,
    which said "run has no evaluation of data/test by its model yet: evaluate it there first":
    report reads RUN/eval-* only. No report is advised then; a split folder's test split (which
    report evaluates itself) and an evaluation in RUN/eval-* keep theirs."""
    from objrec.cli.evaluation import print_next_steps

    run_dir, data, classes = tmp_path / "run", tmp_path / "data", tmp_path / "data" / "test"
    for folder in (run_dir, data / "train", data / "valid", classes):
        folder.mkdir(parents=True, exist_ok=True)
    cases = [
        (classes, tmp_path / "elsewhere", "test", False),
        (data, tmp_path / "elsewhere", "valid", False),
        (classes, run_dir / "eval-test-0123abcd", "test", True),
        (data, tmp_path / "elsewhere", "test", True),
    ]
    for folder, out, split, advised in cases:
        print_next_steps(run_dir, folder, out, split)
        said = capsys.readouterr().out
        assert ("objrec report" in said) == advised, (folder, out, split, said)
        assert f"objrec audit {folder} --run {run_dir}" in " ".join(said.split())


@pytest.mark.slow  # an evaluate and a report: about 3 s
def test_report_shows_the_valid_evaluation_evaluate_advises_it_for(
    capsys, tmp_path, trained_run, split_dir, monkeypatch
):
    """The report command evaluate --split valid advises shows that evaluation, not the test's."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "evaluate", "run", "data", "--split", "valid")
    (advice,) = [line.split("#")[0].split() for line in out.splitlines() if "objrec report" in line]
    assert code == 0 and advice == ["objrec", "report", "run", "--data", "data/valid"]
    code, _, err = run(capsys, *advice[1:], "--out", "valid.html")
    assert code == 0, err
    html = " ".join((tmp_path / "valid.html").read_text().split())
    assert code == 0
    assert "Results of the evaluation of <code>data/valid</code>" in html  # as given


def test_top5_is_shown_only_for_models_of_more_than_five_classes():
    import pandas as pd

    from objrec.cli.evaluation import top5_text, worst_table

    assert top5_text(1.0, 5) == "" and "top-5" in top5_text(0.98, 6)
    said = top5_text(0.98, 6, explained=True)  # among 5 of 6: only not last
    assert said == ", top-5 98.00% (the right class among the 5 best guesses of 6)"
    rows = pd.DataFrame(
        {"n_train": [3], "n_test": [2], "top1": [0.5], "top5": [1.0], "precision": [0.5]}
        | {"f1": [0.5], "most_confused_with": ["b"]},
        index=pd.Index(["a"], name="class"),
    ).reset_index()
    headers = [[c.header for c in worst_table(rows, with_top5=w).columns] for w in (True, False)]
    assert "top-5" in headers[0] and "top-5" not in headers[1]
    assert "images" in headers[0] and "n_test" not in headers[0]  # the evaluated ones, test or not


def test_evaluate_s_tables_say_what_their_columns_and_rows_mean():
    """A newcomer could not parse 'n_train', 'precision', 'F1', 'macro' or 'weighted'."""
    import pandas as pd
    from rich.console import Console

    from objrec.cli.evaluation import averages_table, worst_table
    from objrec.evaluation_metrics import Overall

    rows = pd.DataFrame(
        {"class": ["a"], "n_train": [3], "n_test": [2], "top1": [0.5], "top5": [1.0]}
        | {"precision": [0.5], "f1": [0.5], "most_confused_with": ["b"]}
    )
    metrics = {
        f"{kind}_{name}": 0.5
        for kind in ("macro", "weighted")
        for name in ("precision", "recall", "f1")
    }
    console = Console(width=300, record=True)
    console.print(worst_table(rows), averages_table(Overall.from_json(metrics | {"n": 2})))
    said = " ".join(console.export_text().split())
    assert "trained on" in said and "n_train" not in said
    assert "top-1 (recall): its images guessed right" in said
    assert "precision: the images guessed as it that are it (-: it never was); F1" in said
    assert "macro: each class counts the same; weighted: each image does" in said


def test_evaluate_s_tables_show_a_class_never_answered_without_a_precision():
    """A class never answered showed precision 0.000 ("every answer of it wrong", yet there was
    none), and the macro precision counted it: "-" now, NaN in the per-class
    table, null in JSON; the averages' caption says the precision leaves such a class out."""
    import pandas as pd
    from rich.console import Console

    from objrec.cli.evaluation import averages_table, worst_table
    from objrec.evaluation_metrics import Overall

    rows = pd.DataFrame(
        {"class": ["green"], "n_train": [3], "n_test": [2], "top1": [0.0], "top5": [1.0]}
        | {"precision": [float("nan")], "f1": [0.0], "most_confused_with": ["red"]}
    )
    metrics = {
        f"{kind}_{name}": 0.5
        for kind in ("macro", "weighted")
        for name in ("precision", "recall", "f1")
    }
    console = Console(width=300, record=True)
    console.print(
        worst_table(rows),
        averages_table(Overall.from_json(metrics | {"macro_precision": None, "n": 2})),
    )
    said = console.export_text()
    rows = [line.strip("│ ").split("│") for line in said.splitlines() if line.startswith("│")]
    cells = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in rows}
    assert cells["green"][-3:] == ["-", "0.000", "red"] and "nan" not in said
    assert cells["macro"] == ["-", "0.500", "0.500", "2"]
    assert "the precision leaves out a class never guessed" in " ".join(said.split())


def test_a_top1_on_few_images_is_shown_with_its_interval():
    """evaluate's table showed crab's 3 right of 4 as a plain "75.00%": a class of
    fewer than 10 distinct images shows its 95% interval beside it, the caption says what it is,
    and a class of 45 stays as it was."""
    import pandas as pd
    from rich.console import Console

    from objrec.cli.evaluation import worst_table

    rows = pd.DataFrame(
        {"class": ["crab", "watch"], "n_train": [10, 89], "n_test": [4, 45], "n_groups": [4, 45]}
        | {"top1": [0.75, 1.0], "top1_low": [0.3006, 0.9213], "top1_high": [0.9544, 1.0]}
        | {"top5": [1.0, 1.0], "precision": [1.0, 1.0], "f1": [0.857, 1.0]}
        | {"most_confused_with": ["Motorbikes", ""]}
    )
    console = Console(width=300, record=True)
    console.print(worst_table(rows))
    said = console.export_text()
    assert "│ 75.00% (30-95%) " in said and "│ 100.00%  " in said and "(92-100%)" not in said
    caption = " ".join(said.split())
    # "(30-95%)" under a table whose only interval read "(70-100%)" read as a row's
    assert (
        "; (low-high%) after a top-1: under 10 images, where it would likely lie on many more "
        "photos (95% interval)" in caption
    )


def test_a_perfect_evaluation_says_so_instead_of_a_table_of_classes_at_100(capsys):
    """Every image right: the table listed 10 classes at 100% in an order nothing shown explains.
    The text said "Worst classes: none" while --json's `worst_classes` listed every class at
    100%, and a class at 100% was a worst class when fewer had an error: text and JSON list the
    classes below 100% only."""
    import torch

    from objrec.cli.evaluation import print_worst
    from objrec.evaluate import summarize_logits

    def result(predicted):
        logits = torch.nn.functional.one_hot(torch.tensor(predicted), 3).float() * 5
        return summarize_logits(logits, torch.tensor([0, 0, 1, 1, 2]), ["a", "b", "c"])

    perfect = result([0, 0, 1, 1, 2])
    print_worst(perfect, 10)
    out = " ".join(capsys.readouterr().out.split())
    assert out == "Worst classes: none; all 5 images of the 3 classes right"
    assert perfect.to_json()["worst_classes"] == []
    one_wrong = result([0, 0, 1, 0, 2])
    print_worst(one_wrong, 1)
    out = " ".join(capsys.readouterr().out.split())
    assert "Worst classes" in out and "worst first: by top-1, then by mean loss" in out
    assert [r["class"] for r in one_wrong.to_json()["worst_classes"]] == ["b"]
    assert list(one_wrong.worst(10)["class"]) == ["b"]  # the table's rows: no class at 100%


def test_evaluate_lists_every_class_when_there_are_no_more_than_worst(capsys):
    """With 6 classes and 1 of them wrong, the text's table held that one class: how good the
    other five were was in per_class.csv and the report only. At most --worst classes: every
    one, worst first (--json's worst_classes stays the classes with an error)."""
    import torch

    from objrec.cli.evaluation import print_worst
    from objrec.evaluate import summarize_logits

    classes = ["ant", "bee", "cat", "dog", "eel", "fox"]
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    predicted = labels.clone()
    predicted[3] = 0  # one bee taken for an ant
    logits = torch.nn.functional.one_hot(predicted, 6).float() * 5
    result = summarize_logits(logits, labels, classes)
    print_worst(result, 10)
    out = capsys.readouterr().out
    assert "Every class" in out and "Worst classes" not in out
    rows = [
        line.split()[1] for line in out.splitlines() if line.split()[1:2] in [[c] for c in classes]
    ]
    assert rows[0] == "bee" and sorted(rows) == classes  # worst first, every class
    assert [r["class"] for r in result.to_json()["worst_classes"]] == ["bee"]
    print_worst(result, 5)  # more classes than --worst: only those with an error
    out = capsys.readouterr().out
    assert "Worst classes" in out and "bee" in out and "fox" not in out


def test_evaluate_names_the_classes_mistaken_for_each_other_with_counts(capsys, monkeypatch):
    """Look-alike classes: the worst classes' table named crocodile_head as crocodile's commonest
    confusion and crocodile as crocodile_head's, without a count and apart: the two read as
    unrelated errors. evaluate says the pair is mixed both ways, how often, and what may help."""
    import torch

    from objrec.cli.evaluation import print_evaluation
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 5 + [1] * 5 + [2] * 4)
    predicted = labels.clone()
    predicted[[0, 1]] = 1  # 2 crocodiles taken for heads
    predicted[[5, 6]] = 0  # 2 heads for crocodiles
    predicted[10] = 0  # 1 emu for a crocodile: one way, no pair
    logits = torch.nn.functional.one_hot(predicted, 3).float() * 5
    result = summarize_logits(logits, labels, ["crocodile", "crocodile_head", "emu"])
    monkeypatch.setattr("objrec.cli.evaluation.confidence_lines", lambda *a: [])  # uncalibrated
    print_evaluation(result, 10)
    out = " ".join(capsys.readouterr().out.split())
    assert "mistaken for each other both ways" in out
    assert (
        "crocodile and crocodile_head: 2 of 5 crocodile taken for crocodile_head, "
        "2 of 5 crocodile_head for crocodile" in out
    )
    assert "emu and" not in out and "more training photos of both" in out


def test_the_classes_mistaken_both_ways_are_counted_in_distinct_photos():
    """evaluate said "11 of 18 crocodile taken for crocodile_head" where 9 were copies of one
    photo, and two frames of one burst met the floor of 2: the pair is counted in
    distinct photos, as the scores and McNemar's test are, and its lines say so."""
    from objrec.cli.evaluation import mixed_pair_lines
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 5 + [1] * 5)
    predicted = labels.clone()
    predicted[[0, 1]] = 1  # two frames of one crocodile photo taken for heads
    predicted[[5, 6]] = 0  # two head photos taken for crocodiles
    logits = torch.nn.functional.one_hot(predicted, 2).float() * 5
    classes = ["crocodile", "crocodile_head"]
    result = summarize_logits(logits, labels, classes, groups=[0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    pair = {"a": "crocodile", "b": "crocodile_head", "a_as_b": 1, "b_as_a": 2, "n_a": 4, "n_b": 5}
    assert result.to_json()["mixed_pairs"] == [pair]  # one photo of 4, not two images of 5
    assert mixed_pair_lines(result) == []  # one photo one way is what chance gives
    groups = [0, 1, 2, 3, 4, 5, 6, 7, 8, 8]  # two photos each way; two heads right are copies
    lines = mixed_pair_lines(summarize_logits(logits, labels, classes, groups=groups))
    assert lines[:2] == [
        "mistaken for each other both ways (in distinct photos), so the model cannot yet tell "
        "them apart:",
        "  crocodile and crocodile_head: 2 of 5 crocodile taken for crocodile_head, 2 of 4 "
        "crocodile_head for crocodile",
    ]


@pytest.mark.slow  # 1,200 images summarised: 0.5 s
def test_evaluate_counts_its_images_as_every_count_is():
    """evaluate on s0's test split said "1,542 images: top-1 ..." and then "1542 test images are
    1,519 distinct photos ... not 1542", "images 1542" in the averages table and "(1542 images)"
    in the confidence line: each count now has its thousands separator."""
    from objrec.cli.evaluation import averages_table, tempered_calibration_line
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0, 1] * 600)
    logits = torch.nn.functional.one_hot(labels, 2).float()
    groups = list(range(1100)) + list(range(100))  # 100 near-duplicates of the first 100
    result = summarize_logits(logits, labels, ["a", "b"], groups=groups)
    result.folder = Path("data/test")
    said = "1,200 test images are 1,100 distinct photos and 100 near-duplicates of them"
    assert result.near_duplicates is not None and result.near_duplicates.startswith(said)
    assert result.near_duplicates.endswith("not 1,200")
    table = averages_table(result.metrics.overall)
    assert table.columns[-1]._cells == ["1,200", "1,200"]
    m = {"n": 1200, "temperature": 0.9, "nll": 0.1, "nll_before_calibration": 0.2}
    m |= {"ece": 0.01, "ece_before_calibration": 0.02, "ece_by_chance": 0.005}
    assert "on the test images (1,200 images)" in tempered_calibration_line(
        metrics_of(m), "the test images", "surer"
    )


def test_evaluate_names_no_look_alikes_on_one_mistake_each_way(capsys, monkeypatch):
    """One mistake each way is what chance gives (s0's validation split: 21% of random draws
    paired two classes so): evaluate listed such a pair as classes the model cannot tell apart.
    The floor predict names a pair by (2 each way and 5% of each class) rules here too, and
    nothing is said when no pair reaches it."""
    from objrec.cli.evaluation import mixed_pair_lines, print_evaluation
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 5 + [1] * 5 + [2] * 40 + [3] * 40)
    predicted = labels.clone()
    predicted[0], predicted[5] = 1, 0  # 1 crocodile for a head, 1 head for a crocodile
    predicted[[10, 11]], predicted[[50, 51]] = 3, 2  # 2 of 40 each way: 5%, a pair
    result = summarize_logits(
        torch.nn.functional.one_hot(predicted, 4).float() * 5,
        labels,
        ["crocodile", "crocodile_head", "lotus", "water_lilly"],
    )
    lines = " ".join(mixed_pair_lines(result))
    assert "lotus and water_lilly: 2 of 40" in lines and "crocodile" not in lines
    predicted[[11, 51]] = torch.tensor([2, 3])  # 1 of 40 each way: no pair left
    result = summarize_logits(
        torch.nn.functional.one_hot(predicted, 4).float() * 5, labels, result.classes
    )
    monkeypatch.setattr("objrec.cli.evaluation.confidence_lines", lambda *a: [])
    print_evaluation(result, 10)
    assert "both ways" not in capsys.readouterr().out


@pytest.mark.slow
def test_a_plot_or_report_in_a_new_folder_makes_it(capsys, tmp_path, trained_run, image_folder):
    """``--plot new/p.png`` and ``report --out new/r.html`` failed with a FileNotFoundError
    traceback, where every output folder (explore --out new/x, say) is made when new."""
    plot, page = tmp_path / "new" / "p.png", tmp_path / "new2" / "deeper" / "r.html"
    code, _, err = run(capsys, "predict", trained_run, image_folder / "red", "--plot", plot)
    assert code == 0 and plot.is_file(), err
    code, _, err = run(capsys, "report", trained_run, "--out", page)
    assert code == 0 and page.is_file(), err
    assert [p.name for p in page.parent.iterdir()] == ["r.html"]  # no temporary file left


@pytest.mark.slow
def test_evaluate_refuses_its_run_folder_as_the_data(capsys, trained_run, tmp_path):
    code, _, err = run(capsys, "evaluate", trained_run, trained_run, "--out", tmp_path / "e")
    assert code == 1 and f"{trained_run} is a run folder (`objrec train`'s output" in " ".join(
        err.split()
    )
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
def test_evaluate_names_the_classes_it_had_no_image_of(capsys, tmp_path, trained_run):
    other = make_class_folder(tmp_path / "other", per_class=2, classes=("red", "green"))
    code, out, _ = run(capsys, "evaluate", trained_run, other, "--out", tmp_path / "e")
    said = " ".join(out.split())
    assert code == 0 and (
        f"no image of 1 class in {other}, so not in the per-class tables and means: blue" in said
    )
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["classes_without_images"] == [
        "blue"
    ]
    code, out, _ = run(capsys, "evaluate", trained_run, other, "--out", tmp_path / "e2", "--json")
    assert code == 0 and json.loads(out)["classes_without_images"] == ["blue"]


@pytest.mark.parametrize("worst", ["0", "-1"])
def test_evaluate_refuses_a_count_of_worst_classes_below_one(tmp_path, capsys, worst):
    """evaluate --worst -1 was taken and listed every class but the best one (pandas' head(-1))."""
    code, _, err = run(capsys, "evaluate", tmp_path, tmp_path, "--worst", worst)
    assert code == 2 and "invalid value for '--worst'" in err

"""The demo's own lines: what a person reads while it runs."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import objrec.demo
from objrec.evaluation_metrics import EvaluationMetrics

from .conftest import seed_facts


@pytest.mark.slow
def test_the_demo_speaks_in_sentences_not_python_data(tmp_path, monkeypatch, sample_facts):
    seed_facts(sample_facts)  # the split's reading of the sample's images is test_split's

    def fake_train(data, run, config, reporter, request, command=None):
        assert request.precision_why == "the demo's setting"  # not "--precision fp32": no flag
        return SimpleNamespace(
            history=[{}] * 12, best_epoch=9, best_valid_loss=0.1, best_valid_acc=1
        )

    evaluation = SimpleNamespace(
        metrics=EvaluationMetrics.from_json({"top1": 1.0, "top5": 1.0, "n": 30}),
        classes=list("abcde"),
        out=tmp_path / "eval",
    )
    monkeypatch.setattr(objrec.demo, "explore", lambda *a, **k: None)
    monkeypatch.setattr(objrec.demo, "train_as_asked", fake_train)
    monkeypatch.setattr(objrec.demo, "evaluate", lambda *a, **k: evaluation)
    answers = [SimpleNamespace(path=f"t/{i}.jpg", error=None) for i in range(30)]
    monkeypatch.setattr(objrec.demo, "predict", drawing(answers))
    notes = []
    reporter = SimpleNamespace(note=notes.append)
    summary = objrec.demo.run_demo(tmp_path / "demo", reporter)
    assert notes[0].endswith(": 60 train, 30 valid, 30 test images")
    assert not [n for n in notes if "{" in n or "'" in n]
    assert "top-5" not in notes[3]  # five classes: top-5 is 100% by definition
    # not "the first 8": the plot draws some of each kind of answer (newcomer64b)
    assert "30 test images; 8 of them, some of each kind, with their top 3 classes, are" in notes[4]
    assert summary["image"] == "t/0.jpg" and summary["data"] == str(tmp_path / "demo" / "data")
    assert summary["n_classes"] == 5 and "classes" not in summary  # a count: n_ (review55b M1)


def test_the_demo_ends_with_commands_to_try_on_what_it_made(tmp_path, monkeypatch):
    from objrec.cli.tools import demo_next_steps

    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "objrec-demo"
    image = demo / "data" / "test" / "Motorbikes" / "image 1.jpg"
    summary = {"run": str(demo / "run"), "data": str(demo / "data"), "image": str(image)}
    commands = [command for command, _ in demo_next_steps(summary)]
    assert commands == [
        "objrec report objrec-demo/run",
        "objrec predict objrec-demo/run 'objrec-demo/data/test/Motorbikes/image 1.jpg'",
        "objrec audit objrec-demo/data --run objrec-demo/run",
        "objrec serve objrec-demo/run",  # the page to try it on (teachable42)
    ]


def test_the_demo_says_where_it_writes_and_never_writes_into_a_folder_of_yours_unasked(
    tmp_path, monkeypatch, capsys
):
    """The demo wrote objrec-demo/ into the current folder and neither its help nor its lines
    said where, or how to choose: its first line says so, and a folder holding a file of the user
    is refused before anything is written."""
    from objrec.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "objrec-demo").mkdir()
    (tmp_path / "objrec-demo" / "notes.txt").write_text("mine")
    code = main(["demo"])
    err = capsys.readouterr().err
    first = f"the demo writes into {tmp_path / 'objrec-demo'} (--out FOLDER for another)"
    assert code == 1 and err.splitlines()[0] == first
    assert "objrec-demo is not empty: choose another --out or pass --force" in err
    assert [p.name for p in (tmp_path / "objrec-demo").iterdir()] == ["notes.txt"]
    main(["demo", "--help-all"])
    assert "It writes into objrec-demo in the current folder (--out for another)" in " ".join(
        capsys.readouterr().out.split()
    )


def test_demo_force_refuses_a_data_run_or_explore_folder_it_did_not_make(
    tmp_path, monkeypatch, capsys
):
    """review52b M2: `demo --force --out D` where D/data held a file of the user's split the
    sample beside it, and Ctrl-C then said "what it made was removed" of that split. A data/,
    run/ or explore/ the demo did not make is refused, in one sentence, before anything is
    written; an empty one is none of the user's."""
    import json

    from objrec.cli import main
    from objrec.outputs import mark_output_dir

    monkeypatch.setattr(objrec.demo, "_run_demo", lambda *a: {"written": True})
    out = tmp_path / "d"
    for part, mine in (("data", "mine.txt"), ("run", "notes.txt"), ("explore", "counts.csv")):
        (out / part).mkdir(parents=True)
        (out / part / mine).write_text("mine")
        assert main(["demo", "--out", str(out), "--force"]) == 1
        said = capsys.readouterr().err.splitlines()[-1]
        assert said == f"error: {out / part} exists and is not the demo's: choose another --out"
        assert [p.name for p in (out / part).iterdir()] == [mine]
        (out / part / mine).unlink()
    assert objrec.demo.run_demo(out, force=True) == {"written": True}  # empty: none of theirs
    (out / "data/split.json").write_text(json.dumps({"source": "/home/ana/photos"}))
    with pytest.raises(objrec.demo.ObjrecError, match="data exists and is not the demo's"):
        objrec.demo.run_demo(out, force=True)  # a split of other photos: split's advice never
    source = str(objrec.demo.sample_dir()).replace("/work/", "/elsewhere/")  # another install
    (out / "data/split.json").write_text(json.dumps({"source": source}))
    mark_output_dir(out / "explore")
    (out / "explore/counts.csv").write_text("an earlier demo's")
    assert objrec.demo.run_demo(out, force=True) == {"written": True}


@pytest.mark.slow
def test_a_failed_demo_takes_back_what_it_made_and_only_that(tmp_path, monkeypatch, sample_facts):

    seed_facts(sample_facts)

    from objrec.errors import Interrupted

    def failing_train(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(objrec.demo, "explore", lambda data, out, *a, **k: out.mkdir(exist_ok=True))
    monkeypatch.setattr(objrec.demo, "train_as_asked", failing_train)
    reporter = SimpleNamespace(note=lambda line: None)
    with pytest.raises(Interrupted, match="what it made was removed"):
        objrec.demo.run_demo(tmp_path / "demo", reporter)
    assert not (tmp_path / "demo").exists()  # so the next `objrec demo` needs no --force
    from objrec.outputs import mark_output_dir

    earlier = tmp_path / "again"
    (earlier / "explore").mkdir(parents=True)
    mark_output_dir(earlier / "explore")  # objrec's: an earlier demo's explore
    (earlier / "explore" / "counts.csv").write_text("an earlier demo's")
    (earlier / "notes.txt").write_text("mine")
    with pytest.raises(Interrupted):
        objrec.demo.run_demo(earlier, reporter, force=True)
    assert sorted(p.name for p in earlier.iterdir()) == ["explore", "notes.txt"]
    assert (earlier / "explore" / "counts.csv").read_text() == "an earlier demo's"


@pytest.mark.slow
def test_demo_force_replaces_the_earlier_demos_predictions_figure(
    tmp_path, monkeypatch, sample_facts
):
    """`objrec demo --force` over an earlier demo stopped at its last step: predict refused the
    earlier predictions.png, as --force was not passed on to it."""
    seed_facts(sample_facts)
    asked = {}

    def fake_predict(run, paths, **kwargs):
        asked.update(kwargs)
        return drawing([SimpleNamespace(path="t/0.jpg", error=None)])(run, paths, **kwargs)

    evaluation = SimpleNamespace(
        metrics=EvaluationMetrics.from_json({"top1": 1.0, "top5": 1.0, "n": 30}),
        classes=list("abcde"),
        out=None,
    )
    trained = SimpleNamespace(history=[{}], best_epoch=1, best_valid_loss=0.1, best_valid_acc=1)
    monkeypatch.setattr(objrec.demo, "explore", lambda *a, **k: None)
    monkeypatch.setattr(objrec.demo, "train_as_asked", lambda *a, **k: trained)
    monkeypatch.setattr(objrec.demo, "evaluate", lambda *a, **k: evaluation)
    monkeypatch.setattr(objrec.demo, "predict", fake_predict)
    reporter = SimpleNamespace(note=lambda line: None)
    objrec.demo.run_demo(tmp_path / "demo", reporter)
    assert asked["force"] is False
    objrec.demo.run_demo(tmp_path / "demo", reporter, force=True)
    assert asked["force"] is True


def drawing(answers: list[SimpleNamespace]):
    """A stand-in for ``predict`` that answers ``answers`` and draws its ``plot`` file, as
    predict does."""

    def predict(run, paths, plot=None, **kwargs):
        plot.write_bytes(b"a figure of the demo's")
        return answers

    return predict


def fake_stages(monkeypatch) -> None:
    """Every step of the demo a stand-in: the split an empty data/, the figure drawn."""
    evaluation = SimpleNamespace(
        metrics=EvaluationMetrics.from_json({"top1": 1.0, "top5": 1.0, "n": 1}),
        classes=list("abcde"),
        out=None,
    )
    trained = SimpleNamespace(history=[{}], best_epoch=1, best_valid_loss=0.1, best_valid_acc=1)

    def split(source, data, **kwargs):
        data.mkdir(parents=True, exist_ok=True)
        return SimpleNamespace(totals=lambda: {"test": 1})

    monkeypatch.setattr(objrec.demo, "split_folder", split)
    monkeypatch.setattr(objrec.demo, "explore", lambda *a, **k: None)
    monkeypatch.setattr(objrec.demo, "train_as_asked", lambda *a, **k: trained)
    monkeypatch.setattr(objrec.demo, "evaluate", lambda *a, **k: evaluation)
    answers = [SimpleNamespace(path="t/0.jpg", error=None)]
    monkeypatch.setattr(objrec.demo, "predict", drawing(answers))


def test_demo_force_never_writes_over_a_predictions_png_of_yours(tmp_path, monkeypatch, capsys):
    """loop52: `demo --force` drew its figure over a user's own predictions.png in its folder,
    as nothing told the demo's figure from theirs. The demo records its figure in the folder's
    mark: one it did not record, or changed since, is refused, naming it, before anything is
    written; its own is replaced."""
    from objrec.cli import main

    fake_stages(monkeypatch)
    out, figure = tmp_path / "d", tmp_path / "d" / "predictions.png"
    out.mkdir()
    figure.write_bytes(b"my figure")
    assert main(["demo", "--out", str(out), "--force"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {figure} is not a figure the demo recorded writing: the demo would write its "
        "figure over it; move it or choose another --out"
    )
    assert [p.name for p in out.iterdir()] == ["predictions.png"]
    assert figure.read_bytes() == b"my figure"
    figure.unlink()
    objrec.demo.run_demo(out, force=True)
    assert figure.read_bytes() == b"a figure of the demo's"
    objrec.demo.run_demo(out, force=True)  # the demo's own: drawn again
    figure.write_bytes(b"my figure, drawn over the demo's")
    with pytest.raises(objrec.demo.ObjrecError, match=r"predictions\.png changed after objrec"):
        objrec.demo.run_demo(out, force=True)
    assert figure.read_bytes() == b"my figure, drawn over the demo's"


def test_the_demo_records_the_command_that_made_its_split_and_run(tmp_path, monkeypatch):
    """The demo's split.json and summary.json said null for the command that made them (a script
    had, the library's split and train), so commands.md's one-liner to run it again crashed on
    the run a newcomer tries it on first: ``objrec demo`` made them, and they say so."""
    from objrec.cli import main

    fake_stages(monkeypatch)
    commands = {}
    for stage in ("split_folder", "train_as_asked"):

        def recorded(*args, stage=stage, faked=getattr(objrec.demo, stage), **kwargs):
            commands[stage] = kwargs.get("command")
            return faked(*args, **kwargs)

        monkeypatch.setattr(objrec.demo, stage, recorded)
    assert main(["demo", "--out", str(tmp_path / "d")]) == 0
    assert (
        commands["split_folder"]
        == commands["train_as_asked"]
        == ["objrec", "demo", "--out", str(tmp_path / "d")]
    )
    objrec.demo.run_demo(tmp_path / "d", force=True)  # a script's call: none
    assert commands == {"split_folder": None, "train_as_asked": None}


@pytest.mark.slow
def test_the_short_help_says_where_the_samples_photos_are(capsys):
    """The README sends a user to `objrec demo --help` for the sample's folder, which only
    --help-all showed."""
    from objrec.cli import main
    from objrec.cli.output import SAMPLE

    main(["demo", "--help"])
    assert str(SAMPLE) in capsys.readouterr().out


def test_demo_json_gives_where_each_output_is_and_the_test_scores(tmp_path, monkeypatch, capsys):
    """review60b F23: demo had no --json, where a script wants where the run and its outputs are
    and the test scores (it printed sentences to parse). --json gives them, as docs/json.md
    lists, and nothing else on stdout."""
    from objrec.cli import main

    fake_stages(monkeypatch)
    out = tmp_path / "d"
    assert main(["demo", "--out", str(out), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["out"] == str(out) and answer["run"] == str(out / "run")
    assert answer["data"] == str(out / "data") and answer["explore"] == str(out / "explore")
    assert answer["predictions"] == str(out / "predictions.png") and answer["image"] == "t/0.jpg"
    assert (answer["top1"], answer["n_classes"], answer["warnings"]) == (1.0, 5, [])
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    section = page.split("\n## demo\n")[1].split("\n## ")[0]
    assert not [key for key in answer if f"`{key}`" not in section]

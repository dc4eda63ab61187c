"""Output folders: a failed command takes back the empty folders it made, and nothing else."""

import contextlib
import errno
import importlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from objrec.outputs import new_folders, staged_file, write_new

from .conftest import fake_checkpoint


def test_new_folders_takes_back_only_empty_folders_it_made(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    made, kept = tmp_path / "a" / "b", tmp_path / "kept"
    with pytest.raises(KeyboardInterrupt), new_folders(made, theirs, kept, None):
        made.mkdir(parents=True)
        kept.mkdir()
        (kept / "last.safetensors").write_text("a run to resume")
        raise KeyboardInterrupt
    assert not (tmp_path / "a").exists() and theirs.is_dir()
    assert (kept / "last.safetensors").is_file()
    with new_folders(made):
        made.mkdir(parents=True)
    assert made.is_dir()  # kept when the block succeeds


def test_dot_dot_gets_no_way_past_the_overwrite_refusal(tmp_path, capsys, split_dir):
    """``x/..`` does not exist until ``x`` is made, and then it is the folder above: the checks
    look at where the writes will land, not at the path as typed."""
    from objrec.cli import main
    from objrec.errors import ObjrecError
    from objrec.outputs import prepare_output_dir, refuse_overwrite

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "counts.csv").write_text("my own file")
    with pytest.raises(ObjrecError, match="not empty"):
        prepare_output_dir(mine / "x" / "..")
    with pytest.raises(ObjrecError, match="exists"):
        refuse_overwrite(mine / "x" / ".." / "counts.csv")
    assert main(["explore", str(split_dir), "--out", str(mine / "x" / "..")]) == 1
    assert "--force" in capsys.readouterr().err
    assert (mine / "counts.csv").read_text() == "my own file"


def test_train_refuses_a_finished_run_reached_through_dot_dot(tmp_path, capsys, split_dir):
    from objrec.cli import main

    run = tmp_path / "run"
    run.mkdir()
    model = fake_checkpoint(run / "model.safetensors").read_bytes()
    (run / "summary.json").write_text('{"finished": true}')
    out = run / "x" / ".."
    code = main(["train", str(split_dir), "--out", str(out), "--backbone", "tiny_test"])
    assert code == 1 and "already holds a trained model" in capsys.readouterr().err
    assert (run / "model.safetensors").read_bytes() == model


def test_train_refuses_a_run_folder_below_a_file_in_one_sentence(tmp_path, capsys, split_dir):
    from objrec.cli import main

    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path / "notes.txt" / "run"
    code = main(["train", str(split_dir), "--out", str(out), "--backbone", "tiny_test"])
    err = capsys.readouterr().err
    assert (
        code == 2
        and f"'--out': {out} cannot be written: {out.parent} is a file, not a folder" in err
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_new_folders_never_takes_back_a_folder_reached_through_dot_dot(tmp_path, capsys):
    """``a/../b`` with an empty ``b`` of the user's and no ``a``: only ``a`` is objrec's."""
    from objrec.cli import main

    (tmp_path / "photos").mkdir()
    theirs = tmp_path / "b"
    theirs.mkdir()
    out = tmp_path / "a" / ".." / "b"
    assert main(["explore", str(tmp_path / "photos"), "--out", str(out)]) == 1
    assert theirs.is_dir() and not (tmp_path / "a").exists()


def test_new_folders_leaves_a_folder_it_cannot_look_at(tmp_path, monkeypatch, caplog):
    import logging
    from pathlib import Path

    made = tmp_path / "new"
    real_exists = Path.exists

    def exists(self, *args, **kwargs):
        if self == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    with caplog.at_level(logging.INFO), pytest.raises(KeyboardInterrupt), new_folders(made):
        made.mkdir()
        raise KeyboardInterrupt
    assert not made.exists() and tmp_path.is_dir()
    assert f"removed the empty folder {made}" in caplog.text


def test_train_refuses_a_folder_of_the_users_that_holds_no_run(tmp_path, capsys, split_dir):
    """As every other command does: a folder with files in it and no run is refused without
    --force (train used to write its model beside them without a word)."""
    from objrec.cli import main
    from objrec.runs import open_run_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("important")
    code = main(["train", str(split_dir), "--out", str(mine), "--backbone", "tiny_test"])
    err = capsys.readouterr().err
    assert code == 1 and "is not empty (it holds notes.txt and no run)" in err and "--force" in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / ".DS_Store").write_text("a file managers' own")  # a folder the user sees as empty
    assert open_run_folder(hidden, force=False) == hidden
    assert open_run_folder(mine, force=True) == mine  # --force: written beside the user's files


def test_train_never_writes_a_run_among_the_users_photos(tmp_path, capsys, split_dir):
    """`train data --out photos` said "pass --force", which wrote the run's files in between the
    class folders of the user's photos; a folder of photos is refused, --force or not."""
    from objrec.cli import main

    photos = tmp_path / "my-photos"
    shutil.copytree(split_dir / "train", photos)
    before = sorted(p.relative_to(photos) for p in photos.rglob("*"))
    for force in ([], ["--force"]):
        code = main(
            ["train", str(split_dir), "--out", str(photos), "--backbone", "tiny_test", *force]
        )
        err = " ".join(capsys.readouterr().err.split())
        assert code == 1 and f"{photos} holds photos (" in err and "not a run" in err
        assert "pass --force" not in err
    assert sorted(p.relative_to(photos) for p in photos.rglob("*")) == before
    (loose := tmp_path / "loose").mkdir()
    shutil.copy(next((split_dir / "train").rglob("*.png")), loose / "one.png")
    code = main(["train", str(split_dir), "--out", str(loose), "--backbone", "tiny_test"])
    assert code == 1 and "holds photos (one.png)" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("summary", ['{"finished": true}', "[1, 2]"])
def test_a_folder_of_the_users_with_run_file_names_is_not_taken_for_a_run(
    tmp_path, capsys, split_dir, summary
):
    """A summary.json saying finished (no objrec model beside it) made train write into the
    user's folder without --force, replacing their config.json; one that is not a JSON object was
    a traceback. Only objrec's own model or training state makes a run."""
    from objrec.cli import main
    from objrec.runs import run_status

    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"summary.json": summary, "config.json": "{}", "history.csv": "epoch\n1\n"}
    for name, text in files.items():
        (mine / name).write_text(text)
    assert run_status(mine) == "none"
    code = main(["train", str(split_dir), "--out", str(mine), "--backbone", "tiny_test"])
    err = capsys.readouterr().err
    assert code == 1 and "holds no run but files" in err and "Traceback" not in err
    assert {p.name: p.read_text() for p in mine.iterdir()} == files


def test_only_an_eval_folder_is_a_run_name_and_the_refusal_says_what_to_do(tmp_path):
    """A user's eval-notes.txt blocked --force for good (evaluate writes only eval-* folders);
    the refusal of a folder of run names now says how to go on when it is a damaged run."""
    from objrec.errors import ObjrecError
    from objrec.runs import open_run_folder

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "eval-notes.txt").write_text("mine")
    assert open_run_folder(notes, force=True) == notes
    damaged = tmp_path / "damaged"
    (damaged / "eval-test").mkdir(parents=True)
    (damaged / "model.safetensors").write_bytes(b"cut short")
    with pytest.raises(ObjrecError, match="delete them if they are what is left of an objrec run"):
        open_run_folder(damaged, force=True)


def test_an_output_argument_through_a_missing_folder_is_resolved_so_none_is_made(
    tmp_path, monkeypatch
):
    """``explore --out z/..`` left an empty folder ``z`` behind."""
    from objrec.outputs import prepare_output_dir, takes_back_folders

    monkeypatch.chdir(tmp_path)

    @takes_back_folders("out")
    def write(out):
        prepare_output_dir(out)
        (out / "written").write_text("done")
        return out

    assert write("z/../a") == tmp_path / "a" and (tmp_path / "a" / "written").is_file()
    assert write(out="b") == Path("b")  # a path without ``..`` is kept as given
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_an_output_below_a_file_or_in_a_folder_one_cannot_write_in_is_refused(
    tmp_path, monkeypatch
):
    import os
    import re

    from objrec.errors import ObjrecError
    from objrec.outputs import check_output_dir, refuse_overwrite

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ObjrecError, match=r"notes\.txt is a file, not a folder"):
        check_output_dir(tmp_path / "notes.txt" / "a" / "b")
    refuse_overwrite(tmp_path / "notes.txt", force=True)  # a file is replaced from its folder
    refuse_overwrite(tmp_path / "new" / "out")
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(ObjrecError, match=f"no permission to write in {re.escape(str(tmp_path))}$"):
        refuse_overwrite(tmp_path / "new" / "out")
    with pytest.raises(ObjrecError, match="no permission"):
        refuse_overwrite(tmp_path / "notes.txt" / "..", force=True)  # writes in tmp_path


def test_a_forced_train_over_a_run_says_its_export_is_the_old_models(tmp_path, caplog):
    """`train --force` into a run that was exported left the old model.onnx there unsaid."""
    import logging

    from objrec.runs import open_run_folder

    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"finished": true}')
    fake_checkpoint(run / "model.safetensors")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        open_run_folder(run, force=True)
    assert "model.onnx" not in caplog.text
    (run / "model.onnx").write_bytes(b"old graph")
    (run / "model.json").write_text('{"objrec_version": "0"}')
    with caplog.at_level(logging.WARNING, logger="objrec"):
        open_run_folder(run, force=True)
    assert "model.onnx and model.json in" in caplog.text and "export" in caplog.text
    caplog.clear()
    fake_checkpoint(run / "last.safetensors")  # a forced run's over it, stopped: interrupted
    with caplog.at_level(logging.WARNING, logger="objrec"):
        open_run_folder(run, force=True)
    assert "model.onnx and model.json in" in caplog.text and "once the new run has" in caplog.text


def earlier_run_with_outputs(run: Path) -> dict[str, bytes]:
    """A finished run with what objrec made from it (evaluations, report, export) and the user's
    files of like names; returns the user's files (relative name -> bytes)."""
    import json

    fake_checkpoint(run / "model.safetensors")
    (run / "summary.json").write_text('{"finished": true}')
    metrics = json.dumps({"top1": 0.9857, "per_class": [], "folder": "/data/test"})
    for name in ("eval-test", "eval-test-tta", "eval-mine"):
        (run / name).mkdir()
        (run / name / "per_class.csv").write_text("class,top1\n")
        if name != "eval-mine":  # no metrics.json of objrec's: the user's folder
            (run / name / "metrics.json").write_text(metrics)
    (run / "eval-test-tta" / "notes.txt").write_text("mine")
    leftover(run / "eval-test", ".csv")  # of an evaluate killed mid-write: objrec's too
    named = run / "eval-holdout-mine"  # evaluate data/valid --out RUN/eval-holdout-mine: theirs
    named.mkdir()
    (named / "metrics.json").write_text(metrics.replace("/data/test", "/data/valid"))
    (run / "report.html").write_text("<html><head><title>objrec report: run</title>")
    (run / "model.onnx").write_bytes(b"old graph")
    (run / "model.json").write_text('{"objrec_version": "0", "classes": ["a"]}')
    mine = ["eval-mine/per_class.csv", "eval-test-tta/notes.txt", "eval-holdout-mine/metrics.json"]
    return {name: (run / name).read_bytes() for name in mine}


def test_a_forced_train_removes_the_earlier_runs_outputs_once_its_model_is_written(tmp_path):
    """`train --force` over a run left its eval-test (98.57% of a 7-class model), report.html and
    model.onnx beside the new model; `report` then refused the stale eval-test. They go once the
    new run has written its model (not before: test_robust's
    test_a_forced_retrain_stopped_before_its_model_leaves_the_earlier_run_whole), never the
    user's files; a temporary file a killed evaluate left goes too (it kept eval-test, 'holds
    files objrec did not write')."""
    from objrec.runs import earlier_run_outputs, remove_derived

    run = tmp_path / "run"
    run.mkdir()
    mine = earlier_run_with_outputs(run)
    remove_derived(run, earlier_run_outputs(run))
    left = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert left == sorted(["model.safetensors", "summary.json", *mine])
    assert {name: (run / name).read_bytes() for name in mine} == mine


def test_a_forced_train_into_a_folder_of_no_run_removes_none_of_its_files(tmp_path):
    from objrec.runs import earlier_run_outputs, remove_derived

    folder = tmp_path / "folder"
    folder.mkdir()
    earlier_run_with_outputs(folder)
    (folder / "model.safetensors").write_text("downloaded, not objrec's")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    remove_derived(folder, earlier_run_outputs(folder))
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_forced_train_never_replaces_the_users_files_of_a_runs_names(tmp_path, capsys, split_dir):
    """`train --out FOLDER --force` into a folder holding no objrec run but the user's own
    config.json (or a downloaded model.safetensors) replaced them: --force replaces an earlier
    run, never the user's files. A folder whose files do not collide may still be used."""
    from objrec.cli import main
    from objrec.errors import ObjrecError
    from objrec.runs import open_run_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    files = {"config.json": "{}", "model.safetensors": "downloaded", "notes.txt": "mine"}
    for name, text in files.items():
        (mine / name).write_text(text)
    args = ["train", str(split_dir), "--out", str(mine), "--backbone", "tiny_test", "--force"]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1 and "config.json, model.safetensors" in err and "--out" in err
    said = err.strip().splitlines()  # the refusal alone, before the libraries load
    assert "notes.txt" not in err and len(said) == 1 and said[0].startswith("error: "), said
    assert {p.name: p.read_text() for p in mine.iterdir()} == files
    for name in ("report.html", "eval-test"):  # what report and evaluate write into a run
        other = tmp_path / f"other-{name}"
        (other / name).mkdir(parents=True)
        with pytest.raises(ObjrecError, match=f"writes \\({name}\\)"):
            open_run_folder(other, force=True)
    beside = tmp_path / "beside"
    beside.mkdir()
    (beside / "notes.txt").write_text("mine")
    assert open_run_folder(beside, force=True) == beside  # nothing of a run's names: used


@pytest.mark.parametrize("hard_links", [True, False])
def test_write_new_never_replaces_a_file(tmp_path, monkeypatch, hard_links):
    import errno
    import os

    if not hard_links:  # a file system without them (FAT): a rename, checked first

        def refuse(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", refuse)
    (tmp_path / "a.txt").write_text("mine")
    names = [write_new(tmp_path / "a.txt", lambda tmp: tmp.write_text("new")) for _ in range(2)]
    assert names == [tmp_path / "a-1.txt", tmp_path / "a-2.txt"]
    assert (tmp_path / "a.txt").read_text() == "mine" and (
        tmp_path / "a-2.txt"
    ).read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-1.txt", "a-2.txt", "a.txt"]


def test_a_long_taken_name_gets_a_free_name_within_the_limit(tmp_path):
    """A 251-character stem taken: `stem-1.png` was one byte too long to write."""
    from objrec.outputs import NAME_MAX, free_name, name_key

    path = Path("train", "red", "é" * 125 + "x.png")  # 251 + 4 bytes: the longest legal name
    free = free_name(path, {name_key(path)})
    assert len(free.name.encode()) <= NAME_MAX and free.name.endswith("-1.png")
    (tmp_path / free.name).write_bytes(b"written")  # the system takes it
    from objrec.outputs import write_new

    def write(tmp):
        tmp.write_bytes(b"new")

    # taken by a file the caller did not know of: write_new finds the free name itself
    assert write_new(tmp_path / path.name, write).name == path.name
    assert write_new(tmp_path / path.name, write).name == free.name.replace("-1.", "-2.")


def test_a_forced_train_advises_exporting_again_only_when_it_removes_an_export(tmp_path, caplog):
    import json

    from objrec.runs import warn_of_derived

    (tmp_path / "report.html").write_text("<title>objrec report: run</title>")
    warn_of_derived(tmp_path, tmp_path)
    assert "report.html in" in caplog.text and "export_model" not in caplog.text
    (tmp_path / "model.json").write_text(json.dumps({"objrec_version": "1"}))
    (tmp_path / "model.onnx").write_bytes(b"graph")
    warn_of_derived(tmp_path, tmp_path)
    assert f"export the new one again: `export_model({str(tmp_path)!r})`" in caplog.text


def test_staged_writes_a_file_of_a_long_legal_name_and_leaves_nothing_on_failure(tmp_path):
    """staged() named its temporary file `.{name}.{pid}-{hex}.part`: a 250-byte name (legal) was
    'File name too long' there. Its temporary names are short now, one per call, gone on failure."""
    from objrec.outputs import NAME_MAX, staged_file

    path = tmp_path / ("é" * 120 + "longs.json")  # 250 bytes
    assert len(path.name.encode()) == 250 <= NAME_MAX
    with staged_file(path) as first, staged_file(path) as second:
        first.write_text("first")
        second.write_text("second")
    assert path.read_text() == "first"  # the outer block ends last: its file is the one left
    assert first != second and len(first.name.encode()) < 64
    with pytest.raises(RuntimeError), staged_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert path.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.slow
def test_a_forced_output_folder_never_writes_over_the_users_files(tmp_path, image_folder, capsys):
    """`explore DATA --out DIR --force` wrote its counts.csv over the user's own in a folder
    passed by mistake (`prepare_output_dir`: 'the files objrec writes replace those of the same
    name'). --force writes over objrec's outputs only: a file of the user's of a name objrec
    writes is refused, named; files of other names are written beside; a folder objrec wrote
    (marked, or of an earlier version) is replaced."""
    from objrec.cli import main

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "counts.csv").write_text("my counts")
    (mine / "summary.json").write_text("{}")
    assert main(["explore", str(image_folder), "--out", str(mine), "--force"]) != 0
    error = capsys.readouterr().err
    assert f"{mine / 'counts.csv'} is not a file objrec wrote" in error and "--force" in error
    assert (mine / "counts.csv").read_text() == "my counts" and len(list(mine.iterdir())) == 2
    (mine / "counts.csv").rename(mine / "my-counts.csv")
    assert main(["explore", str(image_folder), "--out", str(mine), "--force"]) == 0
    assert (mine / "my-counts.csv").read_text() == "my counts" and (mine / "counts.csv").is_file()
    out = tmp_path / "explore"
    assert main(["explore", str(image_folder), "--out", str(out)]) == 0
    from objrec.outputs import MARKER

    assert (out / MARKER).is_file()
    assert main(["explore", str(image_folder), "--out", str(out), "--force"]) == 0
    (out / MARKER).unlink()  # as an earlier objrec left it: only its files, unmarked
    assert main(["explore", str(image_folder), "--out", str(out), "--force"]) == 0


def test_only_what_an_earlier_objrec_wrote_counts_as_its_output_folder(tmp_path):
    """In a folder without objrec's mark, files of the names objrec writes are objrec's when an
    earlier version wrote them, one telling which command by its contents; a user's own
    metrics.json is theirs."""
    import json

    from objrec.outputs import users_namesake

    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "report.png").write_bytes(b"png")  # no name objrec writes: written beside
    assert users_namesake(folder) is None
    (folder / "metrics.json").write_text(json.dumps({"accuracy": 1}))
    (folder / "per_class.csv").write_text("class,top1\n")
    assert users_namesake(folder) == "metrics.json"
    (folder / "metrics.json").write_text(json.dumps({"top1": 1, "per_class": []}))
    assert users_namesake(folder) is None  # an evaluation an earlier objrec wrote


def test_every_name_objrec_writes_into_an_output_folder_is_known():
    import inspect
    import re

    from objrec import outputs, suggest
    from objrec.audit import report as audit_report

    explore = importlib.import_module("objrec.explore")

    writers = {
        audit_report.write_audit: outputs.AUDIT_FILES,
        suggest.write_suggestions: outputs.SUGGEST_FILES,
        explore.write_exploration: outputs.EXPLORE_FILES,
    }
    for writer, names in writers.items():  # each command's names: what its --force may replace
        written = set(re.findall(r'"([\w.]+\.(?:csv|json|png|html))"', inspect.getsource(writer)))
        assert written and written <= set(names) <= outputs.OUTPUT_NAMES
    assert set(outputs.EVALUATION_FILES) <= outputs.OUTPUT_NAMES


@pytest.mark.slow
def test_forcing_into_a_users_folder_leaves_it_theirs(tmp_path, image_folder, capsys):
    """explore --force into a folder of the user's marked it objrec's, so a plan.csv they put
    there later went under a forced audit's; and any command took objrec's exploration there
    for an earlier output of every command. Now the folder stays unmarked, each command's
    earlier output is told apart, and a name only another command writes is written beside."""
    from objrec.cli import main
    from objrec.errors import ObjrecError
    from objrec.outputs import AUDIT_FILES, EXPLORE_FILES, MARKER, check_output_dir

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert main(["explore", str(image_folder), "--out", str(mine), "--force"]) == 0
    assert not (mine / MARKER).exists() and (mine / "counts.csv").is_file()
    (mine / "plan.csv").write_text("my plan")
    with pytest.raises(ObjrecError, match=r"plan\.csv is not a file objrec wrote"):
        check_output_dir(mine, force=True, names=AUDIT_FILES)
    check_output_dir(mine, force=True, names=EXPLORE_FILES)  # objrec's exploration, replaced
    assert main(["explore", str(image_folder), "--out", str(mine), "--force"]) == 0
    assert (mine / "plan.csv").read_text() == "my plan" and not (mine / MARKER).exists()
    with pytest.raises(ObjrecError, match=r"plan\.csv is not a file objrec wrote"):
        check_output_dir(mine, force=True, names=AUDIT_FILES)  # still theirs on a second run
    capsys.readouterr()


def test_a_second_forced_run_beside_the_users_files_leaves_their_folder_unmarked(tmp_path):
    """A second forced run into a folder of the user's found its own first outputs there and
    marked the folder objrec's, so a later forced audit wrote over the user's plan.csv, which the
    first run had kept (users_namesake does not look into a marked folder). Only a folder
    holding nothing but an earlier objrec's outputs is marked (DATA-explore of an objrec
    before the mark, so that plain re-runs refresh it again)."""
    from objrec.errors import ObjrecError
    from objrec.outputs import (
        AUDIT_FILES,
        EXPLORE_FILES,
        MARKER,
        check_output_dir,
        output_file,
        prepare_output_dir,
    )

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "plan.csv").write_text("my plan")
    for _ in range(2):  # explore --out mine --force, twice
        prepare_output_dir(mine, force=True, names=EXPLORE_FILES)
        with output_file(mine, "sizes.csv", force=True) as tmp:
            tmp.write_text("split,class,file,width,height\n")
    assert not (mine / MARKER).exists()
    with pytest.raises(ObjrecError, match=r"plan\.csv is not a file objrec wrote"):
        check_output_dir(mine, force=True, names=AUDIT_FILES)
    (mine / "plan.csv").unlink()  # only an earlier objrec's outputs, as in its DATA-explore
    prepare_output_dir(mine, force=True, names=EXPLORE_FILES)
    assert (mine / MARKER).is_file()


def test_a_failed_command_takes_back_a_folder_holding_only_its_mark(tmp_path):
    from objrec.outputs import new_folders, prepare_output_dir

    out = tmp_path / "new" / "out"
    with pytest.raises(RuntimeError), new_folders(out):
        prepare_output_dir(out)
        raise RuntimeError("failed before writing")
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_a_forced_evaluation_never_writes_over_the_users_files(trained_run, split_dir, tmp_path):
    from objrec.errors import ObjrecError
    from objrec.evaluate import evaluate

    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"mine": 1}')
    with pytest.raises(ObjrecError, match=r"metrics\.json is not a file objrec wrote"):
        evaluate(trained_run, split_dir, out=mine, force=True)
    assert (mine / "metrics.json").read_text() == '{"mine": 1}'
    out = tmp_path / "eval"
    evaluate(trained_run, split_dir, out=out)
    evaluate(trained_run, split_dir, out=out, force=True)  # its own: replaced


def test_the_mark_records_what_objrec_wrote_each_file_by_content(tmp_path):
    """The mark (.objrec-output) records each output's size, mtime and content hash, right
    after it is written: what tells the user's edit from objrec's file on a re-run."""
    import hashlib
    import json

    from objrec.outputs import MARKER, output_file, prepare_output_dir, users_file

    out = prepare_output_dir(tmp_path / "out")
    with output_file(out, "counts.csv") as tmp:
        tmp.write_text("class,all\n")
    files = json.loads((out / MARKER).read_text())["files"]
    assert files["counts.csv"]["sha256"] == hashlib.sha256(b"class,all\n").hexdigest()
    assert files["counts.csv"]["size"] == 10 and "mtime_ns" in files["counts.csv"]
    assert users_file(out, "counts.csv") is None and users_file(out, "sizes.csv") is None
    (out / "sizes.csv").write_text("the user's")  # named like an output, never written by objrec
    assert users_file(out, "sizes.csv") == "is not a file objrec wrote"
    (out / "counts.csv").unlink()
    (out / "counts.csv").symlink_to(out / "sizes.csv")  # never written through, even forced
    assert users_file(out, "counts.csv", force=True).startswith("is a link")
    assert [p.name for p in out.iterdir() if p.name.startswith(".objrec-")] == [MARKER]


def test_a_file_put_in_place_while_objrec_writes_is_refused_and_kept(tmp_path):
    from objrec.errors import ObjrecError
    from objrec.outputs import output_file, prepare_output_dir

    out = prepare_output_dir(tmp_path / "out")
    refused = pytest.raises(ObjrecError, match=r"plan\.csv is not a file objrec wrote")
    with refused, output_file(out, "plan.csv") as tmp:
        tmp.write_text("objrec's plan")
        (out / "plan.csv").write_text("the user's plan")
    assert (out / "plan.csv").read_text() == "the user's plan"
    assert sorted(p.name for p in out.iterdir()) == [".objrec-output", "plan.csv"]


def test_an_earlier_objrecs_empty_mark_counts_every_output_as_the_users(tmp_path):
    """A folder marked by an objrec that recorded nothing (an empty .objrec-output) cannot tell
    an edit: its outputs are refused without force (named), written over with it, and the mark
    then records them."""
    from objrec.errors import ObjrecError
    from objrec.outputs import (
        EXPLORE_FILES,
        MARKER,
        check_output_dir,
        output_file,
        recorded_outputs,
    )

    out = tmp_path / "photos-explore"
    out.mkdir()
    (out / MARKER).write_text("objrec 0.1.0 writes its outputs into this folder\n")
    (out / "counts.csv").write_text("reviewed")
    with pytest.raises(ObjrecError, match=r"counts\.csv was written by an earlier objrec"):
        check_output_dir(out, names=EXPLORE_FILES, refresh=True)
    check_output_dir(out, force=True, names=EXPLORE_FILES)
    with output_file(out, "counts.csv", force=True) as tmp:
        tmp.write_text("class,all\n")
    assert set(recorded_outputs(out) or {}) == {"counts.csv"}
    check_output_dir(out, names=EXPLORE_FILES, refresh=True)


def leftover(folder: Path, suffix: str, age_s: float = 7200.0) -> Path:
    """A temporary file as objrec names one (``.objrec-<uuid hex><suffix>``), last written
    ``age_s`` ago: what a run killed mid-write (SIGKILL, a power loss) leaves behind."""
    import os
    import time
    import uuid

    path = folder / f".objrec-{uuid.uuid4().hex}{suffix}"
    path.write_text("half a file")
    os.utime(path, (time.time() - age_s,) * 2)
    return path


def test_a_killed_runs_temporary_files_neither_block_nor_stay_in_its_output_folder(
    tmp_path, caplog
):
    """`explore DATA --out DIR` killed while it wrote its first file left DIR holding its mark
    and `.objrec-<hex>.csv`; the re-run was refused, 'DIR is not empty'. objrec's own leftovers
    count as nothing: they are removed, said in a warning; one written in the last hour
    (perhaps another objrec's, still writing) is kept, and not counted either."""
    import logging

    from objrec.outputs import MARKER, prepare_output_dir, write_record

    out = tmp_path / "explore"
    out.mkdir()
    write_record(out, {})  # the mark a killed run had made
    old = [leftover(out, ".csv"), leftover(out, ".part")]
    fresh = leftover(out, ".png", age_s=0)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        prepare_output_dir(out)
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, fresh.name])
    assert not any(p.exists() for p in old)
    assert f"removed 2 temporary files a stopped objrec left in {out}" in caplog.text
    bare = tmp_path / "bare"  # killed while it wrote the mark itself
    bare.mkdir()
    leftover(bare, ".part")
    prepare_output_dir(bare)
    assert [p.name for p in bare.iterdir()] == [MARKER]


def test_every_file_objrec_writes_removes_a_killed_objrecs_temporary_files_beside_it(tmp_path):
    """`report --out FILE` killed mid-write (SIGKILL, a power loss) left `.objrec-<pid>-<hex>.part`
    beside FILE for good: only the commands that looked in their folder themselves (predict's
    --csv and --plot, export, a run folder) removed one. Both ways objrec writes a file (staged,
    output_file) now remove a stopped objrec's there first; a fresh one, a running process's and
    a file of the user's named alike are kept."""
    import os
    import uuid

    from objrec.outputs import output_file, staged_file

    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this id
    for how in ("staged_file", "output_file"):
        folder = tmp_path / how
        folder.mkdir()
        killed = [leftover(folder, ".part"), folder / f".objrec-{gone}-{uuid.uuid4().hex}.html"]
        killed[1].write_text("half a page")
        os.utime(killed[1], (0, 0))
        kept = [leftover(folder, ".csv", age_s=0), folder / ".objrec-notes.part"]
        kept.append(folder / f".objrec-{os.getpid()}-{uuid.uuid4().hex}.part")
        for path in kept[1:]:
            path.write_text("mine" if "notes" in path.name else "being written")
            os.utime(path, (0, 0))
        if how == "staged_file":  # as report, export and add's manifest write
            with staged_file(folder / "report.html") as tmp:
                tmp.write_text("<html>")
        else:  # as predict's --csv and --plot, and the output folders' files
            with output_file(folder, "report.html") as tmp:
                tmp.write_text("<html>")
        assert sorted(folder.iterdir()) == sorted([*kept, folder / "report.html"]), how


def test_a_killed_writers_temporary_file_goes_whatever_the_ending_of_the_file_it_wrote(tmp_path):
    """output_file names its temporary file with the ending of the file it writes (plotting tells
    the format by it), and predict takes any --csv name and any image format for --plot: a
    killed `predict --plot fig.pdf` (or .jpg, .svg; --csv x.tsv, x.CSV, x) left a temporary file
    that no later run removed, as only .csv, .json, .png, .html and .part counted as objrec's."""
    import os
    import uuid

    from objrec.outputs import output_file

    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this id
    for name in ("fig.pdf", "fig.jpg", "fig.svg", "x.tsv", "x.CSV", "x", "x.d"):
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        killed = folder / f".objrec-{gone}-{uuid.uuid4().hex}{Path(name).suffix}"
        killed.write_text("half a file")
        os.utime(killed, (0, 0))
        with output_file(folder, name, record=False) as tmp:
            assert tmp.suffix == Path(name).suffix  # what a killed one leaves
            tmp.write_text("whole")
        assert sorted(p.name for p in folder.iterdir()) == [name], name


def test_a_run_folder_loses_the_temporary_files_of_stopped_objrecs_only(tmp_path):
    """A `train` killed while it wrote a checkpoint left `.model.safetensors.tmp-<pid>` and
    safetensors' own `.tmpXXXXXX` in the run folder, and no later run removed them. objrec's
    temporary names now say which process writes them: the next run removes those of a process
    that is gone, last written over an hour ago, and nothing else (a running process's, a fresh
    one, a `.tmpXXXXXX` of another program's, a name objrec never gives)."""
    import os
    import time
    import uuid

    from objrec.runs import open_run_folder

    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this id
    run, hexes = tmp_path / "run", [uuid.uuid4().hex for _ in range(4)]
    (run / f".objrec-{gone}-{hexes[0]}.d").mkdir(parents=True)  # safetensors' file inside
    (run / f".objrec-{gone}-{hexes[0]}.d" / ".tmpAbC123").write_bytes(b"half a checkpoint")
    stale = [f".objrec-{gone}-{hexes[0]}.d", f".objrec-{gone}-{hexes[1]}.part"]
    stale += [f".model.safetensors.tmp-{gone}", f".objrec-{hexes[2]}.json"]
    kept = [f".objrec-{os.getpid()}-{hexes[3]}.part", ".tmpAbC123", f".notes.txt.tmp-{gone}"]
    for name in stale[1:] + kept:
        (run / name).write_bytes(b"half a file")
    for path in run.iterdir():
        os.utime(path, (time.time() - 7200,) * 2)
    fresh = run / f".objrec-{gone}-{'f' * 32}.part"
    fresh.write_bytes(b"being written")
    open_run_folder(run, force=False)
    assert sorted(p.name for p in run.iterdir()) == sorted([*kept, fresh.name])


def test_a_leftover_that_cannot_be_removed_is_kept_and_stops_nothing(tmp_path, monkeypatch):
    """`export RUN --out /tmp/model.onnx` failed, with a permission error about a file it was
    never asked to touch, when /tmp held another user's stale `.objrec-<pid>-<hex>.part` (a
    sticky folder: only its owner may remove it): removing leftovers is housekeeping, and one
    that cannot be removed is left, the command going on."""
    import os
    import time

    from objrec.leftovers import remove_leftovers

    theirs = [leftover(tmp_path, ".part"), tmp_path / f".objrec-{'a' * 32}.d"]
    theirs[1].mkdir()
    (theirs[1] / ".tmpAbC123").write_bytes(b"half a checkpoint")
    os.utime(theirs[1], (time.time() - 7200,) * 2)
    mine = leftover(tmp_path, ".csv")
    real_unlink, real_rmtree = Path.unlink, shutil.rmtree

    def unlink(path, missing_ok=False):
        if path in theirs:
            raise PermissionError(1, "Operation not permitted", str(path))
        real_unlink(path, missing_ok=missing_ok)

    def rmtree(path, *args, **kwargs):
        if Path(path) in theirs:
            raise PermissionError(13, "Permission denied", str(path))
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(shutil, "rmtree", rmtree)
    assert remove_leftovers(tmp_path) == 1
    assert not mine.exists() and all(path.exists() for path in theirs)


def test_only_objrecs_own_temporary_names_count_as_its_leftovers(tmp_path):
    """A file of the user's named like objrec's temporaries, but not as objrec names them
    (another length, capitals, another suffix, a folder, a link), is never removed, and still
    makes the folder not empty."""
    import os
    import uuid

    from objrec.errors import ObjrecError
    from objrec.outputs import prepare_output_dir

    out = tmp_path / "mine"
    out.mkdir()
    hexes = uuid.uuid4().hex
    names = [
        *(f".objrec-{hexes[:31]}.csv", f".objrec-{hexes.upper()}.csv", f".objrec-{hexes}.csv.bak"),
        *(f".objrec-{hexes}.txt", f".objrec-{hexes}", ".objrec-notes.csv", ".objrec-output.bak"),
    ]
    for name in names:
        (out / name).write_text("mine")
    (out / f".objrec-{hexes}.png").mkdir()
    target = tmp_path / "keep.csv"
    target.write_text("mine")
    (out / f".objrec-{hexes}.json").symlink_to(target)
    old = os.stat(out / names[0]).st_mtime - 3600
    for path in out.iterdir():
        os.utime(path, (old, old), follow_symlinks=False)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ObjrecError, match="is not empty"):
        prepare_output_dir(out)
    prepare_output_dir(out, force=True)
    assert sorted(p.name for p in out.iterdir() if p.name != ".objrec-output") == before
    assert target.read_text() == "mine"


@pytest.mark.slow
def test_an_evaluation_folder_holding_only_objrecs_leftovers_holds_no_evaluation(tmp_path):
    """The default eval-* folder of an `evaluate` killed while writing its first file (its mark
    and a temporary file) was refused on the re-run as 'holds an evaluation of another folder'."""
    from objrec.eval_dir import evaluated_folder
    from objrec.outputs import write_record

    out = tmp_path / "eval-test"
    out.mkdir()
    write_record(out, {})
    leftover(out, ".csv")
    assert evaluated_folder(out) is None


@pytest.mark.slow
def test_explore_into_a_folder_a_killed_explore_left_says_what_it_removed(
    tmp_path, image_folder, caplog
):
    """The user's view of the first test: the re-run with the same --out succeeds, with a
    warning that it removed the leftover."""
    import logging

    from objrec.cli import main
    from objrec.outputs import write_record

    out = tmp_path / "explore"
    out.mkdir()
    write_record(out, {})
    leftover(out, ".csv")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        assert main(["explore", str(image_folder), "--out", str(out)]) == 0
    assert f"removed 1 temporary file a stopped objrec left in {out}" in caplog.text
    assert not any(p.name.endswith(".csv") and p.name.startswith(".") for p in out.iterdir())
    assert (out / "counts.csv").is_file()


def test_a_link_among_objrecs_outputs_in_a_users_folder_is_refused_as_a_link(tmp_path):
    """In a folder of the user's that a forced explore wrote beside, counts.csv made a link to
    their reviewed copy was refused as 'not a file objrec wrote (no earlier output of a command
    that writes it is there)', though objrec's exploration was there: it is a link, said so."""
    from objrec.errors import ObjrecError
    from objrec.outputs import EXPLORE_FILES, check_output_dir, output_file

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    for name in EXPLORE_FILES:  # explore --out mine --force
        with output_file(mine, name, force=True) as tmp:
            tmp.write_text("split,class,file,width,height\n")
    (tmp_path / "reviewed.csv").write_text("my reviewed counts")
    (mine / "counts.csv").unlink()
    (mine / "counts.csv").symlink_to(tmp_path / "reviewed.csv")
    with pytest.raises(ObjrecError, match=r"counts\.csv is a link.*even with `force=True`"):
        check_output_dir(mine, force=True, names=EXPLORE_FILES)


def test_force_never_writes_over_a_file_the_user_put_in_a_folder_objrec_made(tmp_path):
    """`explore DATA --out results`, then the user's own plan.csv saved into results: a forced
    `audit --out results` wrote over it, as the mark let every name through, though its record
    showed objrec never wrote a plan.csv there (in a folder of the user's it was refused). A
    recorded output the user changed is still written over with force."""
    from objrec.errors import ObjrecError
    from objrec.outputs import (
        AUDIT_FILES,
        EXPLORE_FILES,
        check_output_dir,
        output_file,
        prepare_output_dir,
    )

    results = prepare_output_dir(tmp_path / "results", names=EXPLORE_FILES)
    for name in EXPLORE_FILES:
        with output_file(results, name) as tmp:
            tmp.write_text("split,class,file,width,height\n")
    (results / "plan.csv").write_text("my own plan")
    with pytest.raises(ObjrecError, match=r"plan\.csv is not a file objrec wrote"):
        check_output_dir(results, force=True, names=AUDIT_FILES)
    (results / "counts.csv").write_text("reviewed")  # objrec's, edited: --force writes over it
    check_output_dir(results, force=True, names=EXPLORE_FILES)


def _write_outputs(folder: Path, tag: str, start, count: int) -> None:
    """Write ``count`` outputs into ``folder`` once every writer is ready, as a command does."""
    from objrec.outputs import output_file

    start.wait()
    for k in range(count):
        with output_file(folder, f"{tag}-{k}.csv") as tmp:
            tmp.write_text(f"{tag} {k}\n")


@pytest.mark.slow  # two processes writing 100 outputs each: about 0.5 s
def test_two_objrecs_writing_into_one_folder_at_once_each_record_every_file(tmp_path):
    """Each objrec read the folder's mark, added its file and wrote the mark back: one's mark
    written over the other's lost its files (54-89 of 200 in three runs), which a later re-run
    refused as the user's, "is not a file objrec wrote". Whatever the interleaving, every file
    written is recorded (the folder is locked while its mark is updated)."""
    import multiprocessing

    from objrec.outputs import prepare_output_dir, users_file

    folder = prepare_output_dir(tmp_path / "out")
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    writers = [
        context.Process(target=_write_outputs, args=(folder, tag, start, 100)) for tag in "ab"
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    names = [f"{tag}-{k}.csv" for tag in "ab" for k in range(100)]
    assert [(n, users_file(folder, n)) for n in names if users_file(folder, n)] == []


def test_a_free_name_never_takes_the_name_of_a_file_that_comes_later():
    """split and apply_plan handed out free names as they went: aB.png, second of two named
    alike, became aB-1.png, and the real ab-1.png after it was renamed ab-1-1.png."""
    from objrec.outputs import settle_names

    wanted = [Path("red/Ab.png"), Path("red/aB.png"), Path("red/ab-1.png")]
    assert settle_names(wanted) == [Path("red/Ab.png"), Path("red/aB-2.png"), Path("red/ab-1.png")]


def test_history_csv_is_written_as_pandas_wrote_it_without_importing_pandas(tmp_path):
    """runs.write_history replaced ``pd.DataFrame(history).to_csv(index=False)`` (pandas' import
    was 0.3 to 0.5 s of a warm retrain): the same bytes, a key an epoch lacks left empty."""
    import pandas as pd

    from objrec.runs import history_columns, write_history

    history = [
        {"epoch": 1, "train_loss": 0.1 + 0.2, "valid_loss": 1e-05, "seconds": 2.5, "best": True},
        {"epoch": 2, "train_loss": 1 / 3, "valid_loss": 123456789.125, "best": False},
        {"epoch": 3, "train_loss": 2.0, "valid_loss": 0.5, "best": False, "phase": "tune"},
    ]
    write_history(tmp_path / "ours.csv", history)
    pd.DataFrame(history).to_csv(tmp_path / "pandas.csv", index=False)
    assert (tmp_path / "ours.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
    assert history_columns(history)["phase"] == [None, None, "tune"]


def read_only_file_system(monkeypatch) -> None:
    """Make every write and removal fail as on a folder mounted read-only (EROFS), where even
    removing a file that is not there fails (the kernel refuses before it looks)."""

    def refused(path, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    monkeypatch.setattr(Path, "unlink", refused)
    monkeypatch.setattr(shutil, "copy2", lambda source, target, **kw: refused(target))


@pytest.mark.parametrize("writer", ["write_new", "staged_file"])
def test_a_read_only_folder_is_named_not_the_temporary_file(tmp_path, monkeypatch, writer):
    """`objrec add` into a data folder mounted read-only said 'error: DATA/train/cup/.objrec-
    16160-43d9...part: read-only file system': the removal of the temporary file that was never
    made failed too (EROFS), and its error, raised from a ``finally``, hid the one about the
    file. The user's file is named, as for any other refused write."""
    source, target = tmp_path / "photo.jpg", tmp_path / "data" / "cup" / "photo.jpg"
    source.write_bytes(b"jpeg")
    target.parent.mkdir(parents=True)
    read_only_file_system(monkeypatch)
    with pytest.raises(OSError) as caught:
        if writer == "write_new":
            write_new(target, lambda tmp: shutil.copy2(source, tmp))
        else:
            with staged_file(target) as tmp:
                shutil.copy2(source, tmp)
    assert caught.value.errno == errno.EROFS
    assert caught.value.filename == str(target)


def inodes(folder: Path) -> dict[str, int]:
    """Each file in ``folder`` and its inode: a file replaced has a new one."""
    return {p.name: p.stat().st_ino for p in sorted(folder.iterdir())}


def test_staged_outputs_stopped_half_way_leave_the_earlier_ones_whole(tmp_path):
    """Written one at a time, a re-run stopped after its first file left it beside the rest of
    the earlier run's. Now nothing is replaced until every file is written."""
    from objrec.outputs import EXPLORE_FILES, prepare_output_dir, staged_outputs

    out = prepare_output_dir(tmp_path / "out")
    with staged_outputs(out, EXPLORE_FILES) as place:
        place("counts.csv").write_text("earlier\n")
        place("sizes.csv").write_text("earlier\n")
    earlier = inodes(out)
    with pytest.raises(KeyboardInterrupt), staged_outputs(out, EXPLORE_FILES) as place:
        place("counts.csv").write_text("new\n")
        raise KeyboardInterrupt
    assert inodes(out) == earlier and (out / "counts.csv").read_text() == "earlier\n"


def test_staged_outputs_put_an_inner_folder_in_with_the_folder_s_own_files(tmp_path):
    """An inner folder of outputs (`evaluate --against`'s against-NAME) is staged with the
    folder's own files and put in place in their step, whole, marked and recorded as its own,
    the earlier outputs it no longer holds gone with the earlier folder: stopped before, neither
    is there; an earlier one holding a file of the user's stays, with it. ``last()`` runs in
    that step, after both. A link of its name is refused, never written through."""
    from objrec.errors import ObjrecError
    from objrec.outputs import (
        EVALUATION_FILES,
        prepare_output_dir,
        recorded_outputs,
        staged_outputs,
    )

    out, inner = prepare_output_dir(tmp_path / "out"), tmp_path / "out" / "against-old"
    staged = staged_outputs(out, EVALUATION_FILES, inner=[inner.name])
    with pytest.raises(KeyboardInterrupt), staged as place:
        place("metrics.json").write_text("new\n")
        place("against-old/metrics.json").write_text("old\n")
        raise KeyboardInterrupt
    assert sorted(p.name for p in out.iterdir()) == [".objrec-output"]
    called = []
    for plots in (True, False):
        last = lambda: called.append((out / "metrics.json").is_file())  # noqa: E731
        with staged_outputs(out, EVALUATION_FILES, inner=[inner.name], last=last) as place:
            place("metrics.json").write_text("new\n")
            place("against-old/metrics.json").write_text("old\n")
            if plots:
                place("against-old/confusion.png").write_bytes(b"png")
            with pytest.raises(ValueError):
                place("against-other/metrics.json")
    assert called == [True, True]  # in their step, after the renames
    assert (inner / "metrics.json").read_text() == "old\n" and (out / "metrics.json").is_file()
    assert sorted(recorded_outputs(inner) or {}) == ["metrics.json"]  # the plot of the first, gone
    assert sorted(p.name for p in inner.iterdir()) == [".objrec-output", "metrics.json"]
    (inner / "notes.txt").write_text("mine")  # a file of the user's: kept, the folder too
    with staged_outputs(out, EVALUATION_FILES, inner=[inner.name]) as place:
        place("against-old/metrics.json").write_text("new\n")
    assert (inner / "notes.txt").read_text() == "mine" and sorted(
        recorded_outputs(inner) or {}
    ) == ["metrics.json"]
    assert (inner / "metrics.json").read_text() == "new\n"
    (tmp_path / "elsewhere").mkdir()
    shutil.rmtree(inner)
    inner.symlink_to(tmp_path / "elsewhere")
    refused = pytest.raises(ObjrecError, match="against-old is a link, which objrec never writes")
    with refused, staged_outputs(out, EVALUATION_FILES, inner=[inner.name]):
        pass
    assert not any((tmp_path / "elsewhere").iterdir())


def test_an_inner_folder_is_replaced_whole_where_the_system_cannot_exchange_two(
    tmp_path, monkeypatch
):
    """Where two folders cannot be exchanged in one step (Windows), the earlier inner folder is
    renamed into the staging folder, then the new one in: replaced whole all the same, nothing
    of either left beside it."""
    import objrec.outputs
    from objrec.outputs import (
        EVALUATION_FILES,
        prepare_output_dir,
        recorded_outputs,
        staged_outputs,
    )

    monkeypatch.setattr(objrec.outputs, "exchange", lambda one, other: False)
    out, inner = prepare_output_dir(tmp_path / "out"), tmp_path / "out" / "against-old"
    for plots in (True, False):
        with staged_outputs(out, EVALUATION_FILES, inner=[inner.name]) as place:
            place("against-old/metrics.json").write_text(f"{plots}\n")
            if plots:
                place("against-old/confusion.png").write_bytes(b"png")
    assert sorted(p.name for p in out.iterdir()) == [".objrec-output", "against-old"]
    assert sorted(p.name for p in inner.iterdir()) == [".objrec-output", "metrics.json"]
    assert (inner / "metrics.json").read_text() == "False\n"
    assert sorted(recorded_outputs(inner) or {}) == ["metrics.json"]


def test_ctrl_c_between_the_renames_comes_once_every_output_is_in_place(
    tmp_path, ctrl_c_after_rename
):
    """The renames that put a command's files in place are one step: a Ctrl-C between two of
    them is held back until the last is done and recorded in the folder's mark, and then says
    so: it said "OUT holds 2 outputs of it, each whole (...), not the others: run it again"."""
    from objrec.errors import Interrupted
    from objrec.outputs import EXPLORE_FILES, prepare_output_dir, recorded_outputs, staged_outputs

    out = prepare_output_dir(tmp_path / "out")
    ctrl_c_after_rename(lambda source, target: target == out / "counts.csv")
    stopped = (Interrupted, KeyboardInterrupt)  # the bare one, as before, fails here, not pytest
    with pytest.raises(stopped) as stop, staged_outputs(out, EXPLORE_FILES) as place:
        place("counts.csv").write_text("new\n")
        place("sizes.csv").write_text("new\n")
    assert getattr(stop.value, "left", None) == (
        f"the files were written to {out}, whole, before the stop: nothing is left to do"
    )
    assert (out / "counts.csv").read_text() == (out / "sizes.csv").read_text() == "new\n"
    assert {"counts.csv", "sizes.csv"} <= set(recorded_outputs(out) or {})


class Killed(BaseException):
    """The process gone at this point: nothing after it runs."""


def earlier_and_staged(
    tmp_path: Path, earlier: Sequence[str], staged: Sequence[str]
) -> tuple[Path, Path]:
    """A run folder holding an earlier run's files ``earlier`` ("earlier"), and the folder train
    stages the new run in there, holding its files ``staged`` ("new"): what ``put_in_place``
    renames in."""
    out, stage = tmp_path / "run", tmp_path / "run" / ".objrec-1-stage.d"
    stage.mkdir(parents=True)
    for name in earlier:
        (out / name).write_text("earlier\n")
    for name in staged:
        (stage / name).write_text("new\n")
    return out, stage


def test_ctrl_c_between_a_runs_renames_comes_once_all_its_files_are_in_place(
    tmp_path, ctrl_c_after_rename
):
    """A run's files take their names together (``runs.put_in_place``): a Ctrl-C after its
    model's rename is held back until the others, and the finished run's training state, are
    done, then says the run was written whole; it was written file by file, and a stop after the
    model left it beside the earlier run's summary and record."""
    from objrec.errors import Interrupted
    from objrec.run_files import BEST, LAST, RUN_FILES
    from objrec.runs import put_in_place

    out, stage = earlier_and_staged(tmp_path, RUN_FILES, [n for n in RUN_FILES if n != LAST])
    ctrl_c_after_rename(lambda source, target: target == out / BEST)
    with pytest.raises(Interrupted) as stop:
        put_in_place(stage, out, finished=True, replaces=False)
    assert stop.value.left == (
        f"the files were written to {out}, whole, before the stop: nothing is left to do"
    )
    assert {p.name: p.read_text() for p in out.iterdir() if p != stage} == {
        name: "new\n" for name in RUN_FILES if name != LAST
    }


@pytest.mark.parametrize("writes_record", [True, False])
def test_a_kill_between_a_runs_renames_never_pairs_its_model_with_the_earlier_record(
    tmp_path, monkeypatch, writes_record
):
    """A kill (SIGKILL, power loss: nothing held back) after the new model's rename left the
    earlier run's seen_digests.csv beside it, renamed last or removed after all the renames, so
    evaluate's leak check trusted the images of another model. The earlier record goes first."""
    from objrec import runs
    from objrec.run_files import BEST, SEEN_RECORD

    earlier = (BEST, SEEN_RECORD)
    out, stage = earlier_and_staged(tmp_path, earlier, earlier if writes_record else (BEST,))
    replace = os.replace

    def killed_after_the_model(source: Path, target: Path) -> None:
        replace(source, target)
        if Path(target).name == BEST:
            raise Killed

    monkeypatch.setattr(runs.os, "replace", killed_after_the_model)
    with pytest.raises(Killed):
        runs.put_in_place(stage, out, finished=True, replaces=False)
    assert (out / BEST).read_text() == "new\n"
    assert not (out / SEEN_RECORD).exists()


def test_a_kill_between_a_runs_renames_leaves_its_model_without_the_earlier_runs_records(
    tmp_path, monkeypatch
):
    """review55a M1: a kill (nothing held back) after the new model's rename left the earlier
    run's summary.json, config.json, history.csv and curves.png beside it, read as one finished
    run. They go before the model, and the new summary, which says the run is whole, comes
    last: a kill before it leaves the rest in place without it."""
    from objrec import runs
    from objrec.run_files import BEST, LAST, RUN_FILES, SUMMARY

    out, stage = earlier_and_staged(tmp_path, RUN_FILES, [n for n in RUN_FILES if n != LAST])
    replace = os.replace

    def killed_at(name: str):
        def rename(source: Path, target: Path) -> None:
            if Path(target).name == name:
                raise Killed
            replace(source, target)

        return rename

    monkeypatch.setattr(runs.os, "replace", killed_at("config.json"))
    with pytest.raises(Killed):
        runs.put_in_place(stage, out, finished=True, replaces=False)
    assert {p.name: p.read_text() for p in out.iterdir() if p.is_file()} == {
        BEST: "new\n",
        LAST: "earlier\n",
    }
    monkeypatch.setattr(runs.os, "replace", killed_at(SUMMARY))
    with pytest.raises(Killed):
        runs.put_in_place(stage, out, finished=True, replaces=False)
    assert {p.name: p.read_text() for p in out.iterdir() if p.is_file()} == {
        name: "new\n" for name in RUN_FILES if name not in (LAST, SUMMARY)
    }


def test_a_model_without_a_summary_of_it_is_an_unfinished_run_to_every_reader(tmp_path, caplog):
    """A kill between a run's model and its summary (put in place last) left the model without
    one, and run_status read it as finished: a resume said "a finished run: there is nothing to
    resume", a train into it "already holds a trained model", report left the run's times out
    without a word. A model whose summary is not there, or names another model, is of an
    unfinished run, one that cannot be resumed, and each reader says so (one beside a summary of
    another model: test_train -k a_runs_summary_names_its_model)."""
    from objrec.errors import ObjrecError
    from objrec.report import summary_read
    from objrec.runs import load_resume, load_run, open_run_folder, run_status

    run = tmp_path / "run"
    run.mkdir()
    fake_checkpoint(run / "model.safetensors")
    (run / "config.json").write_text("{}")
    assert run_status(run) == "unfinished"
    with pytest.raises(ObjrecError, match=r"without the summary\.json that describes it") as said:
        open_run_folder(run, force=False)
    assert "cannot be resumed; choose another `out` or pass `force=True`" in str(said.value)
    with pytest.raises(ObjrecError, match="unfinished: it cannot be resumed; train it again"):
        load_resume(run)
    with pytest.raises(ObjrecError, match=r"describes it .* the run is unfinished: train it"):
        load_run(run)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        assert summary_read(run, None) == {}
    assert "the report leaves out the run's times" in caplog.text
    assert open_run_folder(run, force=True) == run
    (run / "summary.json").write_text('{"finished": false}')  # a stopped run's, its state gone
    assert run_status(run) == "unfinished"
    with pytest.raises(ObjrecError, match="training state is gone: it cannot be resumed"):
        load_resume(run)


def test_ctrl_c_while_waiting_for_the_folders_lock_ends_the_command(tmp_path, monkeypatch):
    """The renames wait for the folder's lock, which another objrec may hold as long as it
    writes there; Ctrl-C was held back from the start of that wait, so it never ended it."""
    import fcntl
    import signal

    from objrec import locks
    from objrec.outputs import EXPLORE_FILES, prepare_output_dir, staged_outputs

    out = prepare_output_dir(tmp_path / "out")
    other = os.open(out, os.O_RDONLY)  # another process's lock, as flock sees a second open
    fcntl.flock(other, fcntl.LOCK_EX)
    take_lock = locks.take_lock

    def ctrl_c_then_let_go() -> None:  # the user's Ctrl-C as it waits; the other lets go after
        signal.raise_signal(signal.SIGINT)
        os.close(other)

    monkeypatch.setattr(
        locks, "take_lock", lambda fd, mode, _: take_lock(fd, mode, ctrl_c_then_let_go)
    )
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # xdist's workers ignore it
    try:
        with pytest.raises(KeyboardInterrupt), staged_outputs(out, EXPLORE_FILES) as place:
            place("counts.csv").write_text("new\n")
    finally:
        signal.signal(signal.SIGINT, before)
        with contextlib.suppress(OSError):
            os.close(other)
    assert not (out / "counts.csv").exists()


@pytest.mark.parametrize(
    "writing",
    [pytest.param("staged outputs", marks=pytest.mark.slow), "their record", "the mark"],
)  # 0.14 s: staging imports the store
def test_a_command_waiting_for_its_output_folders_lock_says_so(
    tmp_path, monkeypatch, caplog, writing
):
    """Writing outputs into a folder another objrec holds (a split writing there, an audit
    reading it) waited for its lock with nothing said, as split --force did before it said
    "waiting for other objrec processes to stop reading or writing OUT" (session 48)."""
    import fcntl

    from objrec import locks
    from objrec.outputs import (
        EXPLORE_FILES,
        mark_output_dir,
        prepare_output_dir,
        record_output,
        staged_outputs,
    )

    out = prepare_output_dir(tmp_path / "out")
    other = os.open(out, os.O_RDONLY)  # another process's lock, as flock sees a second open
    fcntl.flock(other, fcntl.LOCK_EX)
    take_lock = locks.take_lock

    def told_then_let_go(fd, mode, wait):
        def waits():  # what the command says as it waits; the other then lets go
            if wait is not None:
                wait()
            os.close(other)

        take_lock(fd, mode, waits)

    monkeypatch.setattr(locks, "take_lock", told_then_let_go)
    with caplog.at_level("WARNING", logger="objrec.outputs"):
        if writing == "staged outputs":
            with staged_outputs(out, EXPLORE_FILES) as place:
                place("counts.csv").write_text("new\n")
        elif writing == "their record":
            record_output(out, {})
        else:
            mark_output_dir(out)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [f"waiting for other objrec processes to stop reading or writing {out}"]


def test_a_wait_for_a_lock_this_process_holds_names_a_thread_of_it_not_another_process(
    tmp_path, caplog
):
    """A Python caller's two calls at once (a thread writing into a folder another thread had
    locked) were told they waited for "other objrec processes", which were not there: the wait
    names another thread of this process where this process holds the lock, and other
    processes once it is let go."""
    import threading

    from objrec.locks import holders, locked, waiting_in

    folder = tmp_path / "out"
    folder.mkdir()
    assert holders(folder) == "other objrec processes"
    waited = threading.Event()
    with locked(folder):
        assert holders(folder, many=False) == "another thread of this process"
        with caplog.at_level("WARNING", logger="objrec.locks"):
            thread = threading.Thread(
                target=_lock_after_wait, args=(folder, waiting_in(folder), waited)
            )
            thread.start()
            assert waited.wait(10)  # told before it waits
    thread.join(10)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [
        f"waiting for another thread of this process to stop reading or writing {folder}"
    ]
    assert holders(folder) == "other objrec processes"  # let go by both


def _lock_after_wait(folder: Path, wait, waited) -> None:
    """Take ``folder``'s lock in this thread, ``wait()`` said (and ``waited`` set) first."""
    from objrec.locks import locked

    def told() -> None:
        wait()
        waited.set()

    with locked(folder, told):
        pass


def test_a_full_disk_while_an_output_is_staged_names_that_output(tmp_path):
    """A write error on the staging folder's per_class.csv (a full disk, a read-only mount) was
    raised about OUT, which names no file; now about OUT/per_class.csv, the file it was for."""
    from objrec.outputs import EVALUATION_FILES, prepare_output_dir, staged_outputs

    out = prepare_output_dir(tmp_path / "out")
    with pytest.raises(OSError) as caught, staged_outputs(out, EVALUATION_FILES) as place:
        path = place("per_class.csv")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == str(out / "per_class.csv")


def test_a_rerun_removes_the_earlier_outputs_it_did_not_write_but_never_the_users(tmp_path):
    """A re-run that writes fewer files (an evaluation without calibration draws no reliability
    plot) left the earlier run's beside its own, read as this run's. objrec's own go, as it
    recorded them; one the user changed stays."""
    from objrec.outputs import EXPLORE_FILES, prepare_output_dir, recorded_outputs, staged_outputs

    out = prepare_output_dir(tmp_path / "out")
    with staged_outputs(out, EXPLORE_FILES) as place:
        for name in ("counts.csv", "sizes.csv", "size_stats.csv"):
            place(name).write_text("earlier\n")
    (out / "size_stats.csv").write_text("my edit\n")
    with staged_outputs(out, EXPLORE_FILES, force=True) as place:
        place("counts.csv").write_text("new\n")
    assert sorted(p.name for p in out.iterdir() if p.name[0] != ".") == [
        "counts.csv",
        "size_stats.csv",
    ]
    assert (out / "size_stats.csv").read_text() == "my edit\n"
    assert "sizes.csv" not in (recorded_outputs(out) or {})


def test_a_forced_retrain_takes_the_export_script_with_the_export(tmp_path):
    """loop44: `export run2`, then `train data --out run2 --force` removed model.onnx and
    model.json but left model_infer.py, which then said "no model at run2/model.onnx". The
    script objrec wrote goes with its export; a model_infer.py of the user's stays."""
    from objrec.outputs import EXPORT_SCRIPT_START
    from objrec.runs import derived_outputs

    run = tmp_path / "run2"
    run.mkdir()
    (run / "model.onnx").write_bytes(b"the earlier model's graph")
    (run / "model.json").write_text('{"objrec_version": "0", "classes": ["a"]}')
    (run / "model_infer.py").write_bytes(EXPORT_SCRIPT_START + b" 0.1.0\n")
    assert [p.name for p in derived_outputs(run)] == ["model.onnx", "model.json", "model_infer.py"]
    (run / "model_infer.py").write_text("# my own script\n")
    assert [p.name for p in derived_outputs(run)] == ["model.onnx", "model.json"]


def suggested_in(run: Path) -> Path:
    """``run/suggest`` as ``objrec suggest`` leaves it: marked, its two lists recorded."""
    from objrec.outputs import fingerprint, mark_output_dir, record_output

    folder = run / "suggest"
    folder.mkdir(parents=True)
    mark_output_dir(folder)
    for name in ("suggestions.csv", "suggestions.html"):
        (folder / name).write_text(f"the replaced model's {name}")
        record_output(folder, {name: fingerprint(folder / name)})
    return folder


def test_a_forced_retrain_removes_the_replaced_model_s_suggestions_but_a_user_s_file(
    tmp_path, caplog
):
    """review52b M3: `train --force` left RUN/suggest/, the replaced model's rankings, which a
    user then opened. It goes with the evaluations, named in the warning, when objrec's mark
    says it wrote it; a folder holding a file of the user's, or a list edited since, stays
    whole, said; a `suggest` folder without the mark is the user's, not listed."""
    from objrec.runs import derived_outputs, remove_derived, warn_of_derived

    run = tmp_path / "run2"
    folder = suggested_in(run)
    assert derived_outputs(run) == [folder]
    with caplog.at_level(logging.WARNING):
        warn_of_derived(run, run)
    assert f"suggest in {run} was made from the model this run replaces" in caplog.text
    remove_derived(run, derived_outputs(run))
    assert not folder.exists()
    for mine in ("notes.txt", "suggestions.csv"):  # a file of theirs; a list they edited
        folder = suggested_in(run)
        (folder / mine).write_text("my labels")
        remove_derived(run, derived_outputs(run))
        assert (folder / mine).read_text() == "my labels"
        assert (folder / "suggestions.html").is_file()
        assert f"kept {folder}: it holds files objrec did not write" in caplog.text
        shutil.rmtree(folder)
    (run / "suggest").mkdir()
    (run / "suggest/suggestions.csv").write_text("mine")
    assert derived_outputs(run) == []


def test_a_forced_retrain_leaves_an_export_script_the_user_edited_and_says_so(tmp_path, caplog):
    """Since 6600a53 the export's model_infer.py is yours to adapt, yet `train --force` removed
    it as objrec's, by its first line, edits and all. One whose SHA-256 is not the one its
    sidecar records stays, and the warning says so; one as exported goes with its export."""
    import hashlib

    from objrec.outputs import EXPORT_SCRIPT_START
    from objrec.runs import derived_outputs, warn_of_derived

    run = tmp_path / "run2"
    run.mkdir()
    script = EXPORT_SCRIPT_START + b" 0.1.0\n"
    (run / "model.onnx").write_bytes(b"the earlier model's graph")
    record = {"model_infer.py": hashlib.sha256(script).hexdigest()}
    (run / "model.json").write_text(json.dumps({"objrec_version": "0", "files_sha256": record}))
    (run / "model_infer.py").write_bytes(script)
    assert [p.name for p in derived_outputs(run)] == ["model.onnx", "model.json", "model_infer.py"]
    (run / "model_infer.py").write_bytes(script + b"PHOTOS = '/home/me/photos'\n")
    assert [p.name for p in derived_outputs(run)] == ["model.onnx", "model.json"]
    with caplog.at_level(logging.WARNING):
        warn_of_derived(run, run)
    assert any(
        m.startswith(f"{run / 'model_infer.py'} stays: it was edited") for m in caplog.messages
    )


def test_a_loop_of_links_is_told_apart_on_every_python(tmp_path):
    """Python 3.13's ``Path.resolve()`` returns a path through a loop of links with the loop left
    in it, where 3.11 and 3.12's raised RuntimeError: ``split DATA loop/data`` then failed with
    "file exists", and two paths through the same loop compared as one file. ``resolved`` raises
    OSError (ELOOP) on each, so the loop is named and never taken for a file."""
    from objrec.outputs import resolved, same_file

    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "back")
    (tmp_path / "back").symlink_to(loop)
    for path in (loop, loop / "data"):
        with pytest.raises(OSError) as raised:
            resolved(path)
        assert raised.value.errno == errno.ELOOP
    assert not same_file(loop / "m.onnx", loop / "m.onnx")
    assert resolved(tmp_path / "new" / "..") == tmp_path.resolve()


STAGED_THEN_WAIT = """
import sys, time
from pathlib import Path
from objrec.outputs import staged_folder
with staged_folder(Path(sys.argv[1])) as stage:
    (stage / "copied.jpg").write_bytes(bytes(1000))
    print(stage, flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
def test_a_killed_commands_staging_folder_is_removed_at_once_by_the_next(tmp_path, caplog):
    """`kill -9` of an apply-plan left its staging folder, a full copy of DATA, beside OUT; the
    retry kept it unsaid, younger than an hour (79 MB for /work/splits/s0). The stage is locked
    while filled, so the next command writing beside it removes a killed one's at once; one it
    must keep, of a process not running here (another machine's), is said with its size."""
    import signal
    import subprocess
    import sys
    import uuid

    from objrec.leftovers import remove_leftovers

    child = subprocess.Popen(
        [sys.executable, "-c", STAGED_THEN_WAIT, str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        stage = Path(child.stdout.readline().strip())
        assert stage.is_dir() and remove_leftovers(tmp_path) == 0  # its process is running
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    caplog.set_level(logging.INFO, logger="objrec")
    assert remove_leftovers(tmp_path) == 1 and not stage.exists()
    assert f"removed 1 temporary file a stopped objrec left in {tmp_path}" in caplog.text
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this id
    elsewhere = tmp_path / f".objrec-{gone}-{uuid.uuid4().hex}.d"  # not this machine's tag
    elsewhere.mkdir()
    (elsewhere / "copied.jpg").write_bytes(bytes(2_500_000))
    caplog.clear()
    assert remove_leftovers(tmp_path) == 0 and elsewhere.is_dir()
    assert (
        f"kept {elsewhere} (last written 0 min ago), the temporary folder of an objrec not running"
        in caplog.text
    )


def test_another_machines_stage_is_said_without_walking_it(tmp_path, monkeypatch, caplog):
    """A stage kept of an objrec not running here (another machine's, in a shared folder) was
    walked whole for its size on every command beside it, seconds for a large copy on a network
    share, and the user told to delete it "if no objrec writes there" while another machine may
    fill it (review3-47 LOW 4): it is said by its age, one stat, as possibly in use elsewhere."""
    from objrec.leftovers import remove_leftovers

    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this id
    elsewhere = tmp_path / f".objrec-{gone}-{uuid.uuid4().hex}.d"  # not this machine's tag
    (elsewhere / "ant").mkdir(parents=True)
    (elsewhere / "ant" / "copied.jpg").write_bytes(b"x")

    def walked(*args, **kwargs):
        raise AssertionError("walked the stage")

    monkeypatch.setattr(Path, "rglob", walked)
    monkeypatch.setattr(os, "walk", walked)
    caplog.set_level(logging.INFO, logger="objrec")
    assert remove_leftovers(tmp_path) == 0 and elsewhere.is_dir()
    said = " ".join(caplog.text.split())
    assert f"kept {elsewhere} (last written 0 min ago)" in said
    assert "another machine's, which may still be writing it" in said
    assert "remove it yourself only if no objrec on any machine writes there" in said


def refuse_exclusive_flock(lock, mode, wait):
    """``locks.take_lock`` as a file system refusing an exclusive lock on a folder opened to
    read refuses it (EBADF)."""
    import fcntl

    from objrec.store import fcntl as store_fcntl

    if mode & fcntl.LOCK_EX:
        raise OSError(errno.EBADF, "Bad file descriptor")
    store_fcntl.flock(lock, mode)


LOCKED_THEN_WAIT = """
import errno, fcntl, sys, time
from pathlib import Path
import objrec.locks
def refuse(lock, mode, wait):
    raise OSError(errno.EBADF, "Bad file descriptor")
objrec.locks.take_lock = refuse
from objrec.locks import locked
with locked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
def test_a_folder_refusing_its_lock_is_locked_by_a_lock_file(tmp_path, monkeypatch):
    """Where the folder's flock was refused (a file system refusing an exclusive lock on a folder
    opened to read), `locked` went on unlocked and said nothing: two adds at once lost one's
    manifest rows. It locks DATA/.objrec-lock with lockf instead, which another process's
    `locked` waits for; the lock file is not the folder's contents."""
    import signal
    import subprocess
    import sys

    from objrec import locks
    from objrec.locks import locked
    from objrec.outputs import own_contents

    child = subprocess.Popen(
        [sys.executable, "-c", LOCKED_THEN_WAIT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    waited = []

    def wait():  # the other process holds it: end that process, which lets go of it
        waited.append(True)
        child.send_signal(signal.SIGKILL)

    try:
        assert child.stdout.readline() == "held\n"
        monkeypatch.setattr(locks, "take_lock", refuse_exclusive_flock)
        with locked(tmp_path, wait):
            assert waited == [True]
    finally:
        child.kill()
        child.wait()
    assert (tmp_path / ".objrec-lock").is_file() and own_contents(tmp_path) == []


def test_a_folder_refusing_every_lock_is_said_once_naming_it(tmp_path, monkeypatch, caplog):
    """Where the lock file's lockf is refused too, `locked` goes on unlocked, as before, but says
    so once, naming the folder, rather than nothing."""
    import fcntl

    from objrec import locks
    from objrec.locks import locked

    def refuse_lockf(fd, mode):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locks, "take_lock", refuse_exclusive_flock)
    monkeypatch.setattr(fcntl, "lockf", refuse_lockf)
    caplog.set_level(logging.WARNING, logger="objrec")
    for _ in range(2):
        with locked(tmp_path):
            pass
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"the file system of {tmp_path} refuses file locks (flock and lockf): objrec goes on there "
        "unlocked, so run one command that writes into it at a time (two adds at once may lose "
        "one's manifest rows)"
    ]


def test_a_failed_rename_names_the_file_asked_for_and_nothing_after_it(tmp_path, monkeypatch):
    """A refused rename (the last step of every write) said "'FILE' -> None": the error was
    edited, and filename2 set to None still printed (review48b LOW 5)."""
    path = tmp_path / "model.onnx"

    def refuse(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted", str(src), str(dst))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError) as raised, staged_file(path) as tmp:
        tmp.write_bytes(b"graph")
    assert str(raised.value) == f"[Errno 1] Operation not permitted: '{path}'"
    assert raised.value.filename2 is None and not path.exists()
    assert list(tmp_path.iterdir()) == []

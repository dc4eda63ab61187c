"""apply-plan: a copy of a folder with a reviewed plan applied (``objrec.applying``), the plan
read and checked, photos moved by hand followed, the copy's records; DATA never changed."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import importlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from objrec.applying.recipe import apply_plan
from objrec.audit.findings import LabelIssue, Outlier
from objrec.audit.plan import PLAN_COLUMNS
from objrec.audit.recipe import AuditResult
from objrec.cli import main
from objrec.errors import ObjrecError

from .test_audit import COLOURS, colour_folder, evidence, make_split, pattern


def test_the_applying_package_gives_its_entry_points_from_its_modules():
    """applying.py became the package ``objrec.applying`` (session 59), one module per job:
    ``from objrec.applying import apply_plan, AppliedPlan`` gives the recipe's function and the
    result's record, as applying.py gave them, ``objrec.apply_plan`` is the same function, and a
    name the package does not give (a module's own, ``read_plan``) is refused."""
    import objrec
    from objrec.applying import AppliedPlan, recipe, result
    from objrec.applying import apply_plan as from_package

    assert from_package is recipe.apply_plan is objrec.apply_plan
    assert AppliedPlan is result.AppliedPlan is objrec.AppliedPlan
    with pytest.raises(ImportError):
        from objrec.applying import read_plan  # noqa: F401


@pytest.mark.slow
def test_apply_plan_writes_the_manifest_of_what_it_copied_and_add_extends_it(tmp_path):
    """OUT had no manifest.csv (split writes one, add appends to it): its rows are the files
    copied, a relabelled one under its new class, a removed one left out."""
    from objrec.add.recipe import add_images
    from objrec.manifest import MANIFEST, MANIFEST_COLUMNS

    data = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "file,action,new_class\ntrain/green/green_00.png,relabel,red\n"
        "valid/blue/blue_00.png,remove,\n"
    )
    out = tmp_path / "fixed"
    counts = apply_plan(data, plan, out)
    with (out / MANIFEST).open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == (*MANIFEST_COLUMNS, "group") and len(rows) == counts.copied == 47
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert {r["file"] for r in rows} == files and "valid/blue/blue_00.png" not in files
    moved = next(r for r in rows if r["file"] == "train/red/green_00.png")
    assert (moved["class"], moved["split"]) == ("red", "train")
    assert moved["source"] == str((data / "train/green/green_00.png").resolve())
    assert moved["sha256"] == hashlib.sha256((out / moved["file"]).read_bytes()).hexdigest()
    assert all(r["file"].split("/")[:2] == [r["split"], r["class"]] for r in rows)
    (tmp_path / "new/blue").mkdir(parents=True)
    pattern(COLOURS["blue"], 99).save(tmp_path / "new/blue/new.png")
    added = add_images(out, tmp_path / "new")
    with (out / MANIFEST).open(newline="", encoding="utf-8-sig") as f:
        assert [r["file"] for r in csv.DictReader(f)][-1] == added.files[0][1]


def test_apply_plan_returns_a_record_read_by_attribute_as_the_other_steps_do(tmp_path, capsys):
    """`objrec.apply_plan` returned a plain dict where `split_folder`, `add_images` and
    `audit_folder` return a result record: it is an `AppliedPlan`, frozen, shown in one line and
    read by attribute; `apply-plan --json` prints the same keys in the same order, each in
    docs/json.md, and a script reading a count by key still gets it, with a DeprecationWarning
    naming the attribute."""
    from dataclasses import FrozenInstanceError

    import objrec
    from objrec.applying.result import AppliedPlan

    data = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "file,action,new_class\nvalid/green/green_00.png,relabel,red\n"
        "test/blue/blue_00.png,remove,\n"
    )
    counts = objrec.apply_plan(data, plan, tmp_path / "fixed")
    assert isinstance(counts, AppliedPlan)
    assert (counts.copied, counts.removed, counts.relabelled) == (47, 1, 1)
    assert (counts.valid_relabelled, counts.test_removed, counts.reviewed) == (1, 1, 1)
    assert repr(counts) == ("AppliedPlan(copied=47, removed=1, relabelled=1, reviewed=1)")
    with pytest.raises(FrozenInstanceError):
        counts.copied = 0  # type: ignore[misc]
    with pytest.warns(DeprecationWarning, match=r"\['copied'\] is deprecated: read its \.copied"):
        assert counts["copied"] == 47
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "again"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert list(answer) == [
        *("copied", "removed", "relabelled", "renamed", "broken_links", "replaced"),
        *("moved_by_hand", "left_to_review", "relabels_as_proposed", "accepted", "not_accepted"),
        *("test_removed", "test_relabelled", "test_moved_out"),
        *("valid_removed", "valid_relabelled", "valid_moved_out", "reviewed"),
        *("in_source", "other_files", "test_note", "valid_note", "source_note", "warnings"),
    ]
    assert {key: answer[key] for key in counts.to_json()} == counts.to_json()
    page = (Path(__file__).parents[1] / "docs" / "json.md").read_text()
    section = page.split("\n## apply-plan\n")[1].split("\n## ")[0]
    assert [key for key in answer if f"`{key}`" not in section] == []  # each documented


@pytest.mark.slow
def test_apply_plan_tells_the_file_index_its_copies_so_train_hashes_none(tmp_path):
    """apply-plan hashes each photo as it copies it, yet a train of OUT read every copy again
    for its SHA-256: the feature store's file index now knows each copy by what was written."""
    from objrec.cache_folder import store_dir
    from objrec.file_index import hash_file
    from objrec.store import FeatureStore

    data = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntrain/green/green_00.png,relabel,red\n")
    apply_plan(data, plan, out := tmp_path / "fixed")
    files = sorted(out.rglob("*.png"))
    with FeatureStore(store_dir()) as store:  # what train's hashing looks up first
        assert store.known_digests(files) == [hash_file(f) for f in files]


def test_apply_plan_link_tells_the_file_index_its_links_of_known_photos(tmp_path):
    """apply-plan --link told the file index nothing, so a train of OUT read every linked photo
    again for its SHA-256: each link to a photo the index knows is now known by that digest (a
    link shares its file's bytes); one to a photo it does not know is read where it is used."""
    from objrec.cache_folder import store_dir
    from objrec.file_index import hash_file
    from objrec.store import FeatureStore

    from .conftest import make_class_folder

    data = make_class_folder(tmp_path / "photos", per_class=2, classes=("red", "blue"))
    (plan := tmp_path / "plan.csv").write_text(
        "file,action,new_class\nred/img_00.jpg,relabel,blue\n"
    )
    photos = sorted(p.resolve() for p in data.rglob("img_*"))
    with FeatureStore(store_dir()) as store:
        store.digests(photos[1:])  # what a check or an audit of DATA reads
    apply_plan(data, plan, out := tmp_path / "fixed", mode="link")
    links = sorted(out.rglob("img_*"), key=lambda p: p.resolve())
    assert [p.resolve() for p in links] == photos and all(p.is_symlink() for p in links)
    with FeatureStore(store_dir()) as store:
        assert store.known_digests(links) == [None] + [hash_file(p) for p in photos[1:]]


@pytest.mark.slow  # an apply-plan and a check through the CLI (0.4 s)
def test_apply_plan_s_copy_of_a_split_folder_records_how_it_was_made(tmp_path, capsys, monkeypatch):
    """apply-plan's OUT, a split folder, had no split.json, so a run trained on it
    recorded no split_record. It has DATA's record now, with the plan applied (the plan file and
    its SHA-256, the counts, the command line and its folder), which check shows."""
    monkeypatch.chdir(tmp_path)
    made = {"source": "/photos", "ratios": [0.5, 0.25, 0.25], "seed": 0, "added": []}
    (make_split(tmp_path / "data") / "split.json").write_text(json.dumps(made))
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "file,action,new_class\ntrain/green/green_00.png,relabel,red\n"
        "valid/blue/blue_00.png,remove,\n"
    )
    assert main(["apply-plan", "data", "plan.csv", "fixed"]) == 0
    record = json.loads((tmp_path / "fixed/split.json").read_text())
    applied = record.pop("applied")
    assert record == made and len(applied) == 1
    digest = hashlib.sha256(plan.read_bytes()).hexdigest()
    assert applied[0]["plan"] == str(plan.resolve()) and applied[0]["plan_sha256"] == digest
    assert applied[0]["data"] == str((tmp_path / "data").resolve())
    assert (applied[0]["relabelled"], applied[0]["removed"], applied[0]["copied"]) == (1, 1, 47)
    assert applied[0]["command"] == ["objrec", "apply-plan", "data", "plan.csv", "fixed"]
    assert applied[0]["cwd"] == os.getcwd()
    capsys.readouterr()
    assert main(["check", "fixed"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "split of /photos: seed 0" in said
    assert f"a copy of {tmp_path.resolve() / 'data'} with the audit plan {plan.resolve()} " in said
    assert f"(SHA-256 {digest[:12]}) applied: 1 relabelled, 1 left out" in said
    (tmp_path / "data/split.json").unlink()  # a split folder made before split.json
    apply_plan(tmp_path / "data", plan, tmp_path / "again")
    assert list(json.loads((tmp_path / "again/split.json").read_text())) == ["applied"]


def test_apply_plan_keeps_the_groups_split_recorded(tmp_path):
    """apply-plan's manifest had no `group` column: `evaluate` of the fixed copy no longer knew
    what split kept together (a `--groups` file's sites), and counted such photos as distinct.
    Each copy keeps its group, unless its file changed since split recorded it."""
    from objrec.manifest import MANIFEST, MANIFEST_COLUMNS, recorded_groups, sha256_file

    data = make_split(tmp_path / "data", per_split=(2, 1, 1))
    files = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    site = {"train/green/green_00.png", "test/green/green_00.png", "test/red/red_00.png"}
    lines = [",".join([*MANIFEST_COLUMNS, "group"])]
    for i, file in enumerate(files):
        split, name = file.split("/")[:2]
        group = "0" if file in site else str(i + 1)
        lines.append(f"{file},{name},{split},{sha256_file(data / file)},/photos/{file},{group}")
    (data / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    pattern(COLOURS["red"], 99).save(data / "test/red/red_00.png")  # changed since the split
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntest/green/green_00.png,relabel,red\n")
    apply_plan(data, plan, out := tmp_path / "fixed")
    with (out / MANIFEST).open(newline="", encoding="utf-8-sig") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert (
        rows["train/green/green_00.png"]["group"] == rows["test/red/green_00.png"]["group"] == "0"
    )
    assert rows["test/red/red_00.png"]["group"] == ""
    paths = [out / "train/green/green_00.png", out / "test/red/green_00.png"]
    found = recorded_groups(paths, [sha256_file(p)[:32] for p in paths])
    assert found[0] is not None and found[0] == found[1]


@pytest.mark.slow  # a split and four apply-plans: 0.85 s
def test_apply_plan_says_once_that_the_photo_folder_still_holds_the_fixed_mistakes(
    tmp_path, capsys
):
    """After fixing labels in the split's copy, the photo folder it was split from still held
    the mistakes, a later split of it brought them back, and nothing in the loop said so
    (newcomer60, 8). apply-plan says it once, naming the photo folder and the two ways on (grow
    OUT with add; fix a copy of the photos and split it --like OUT), when the plan relabelled or
    left out images of a split folder whose photo folder is there; not for a plan of keeps, a
    photo folder gone or a split with no record of its source."""
    import shutil

    from objrec.split.recipe import split_folder

    from .conftest import make_class_folder

    photos = make_class_folder(tmp_path / "photos", per_class=6)
    data = tmp_path / "data"
    split_folder(photos, data, seed=0)
    first = sorted((data / "train").rglob("*.png"))[0].relative_to(data)
    other = next(c.name for c in (data / "train").iterdir() if c.name != first.parts[1])
    plan = tmp_path / "plan.csv"
    plan.write_text(f"file,action,new_class\n{first.as_posix()},relabel,{other}\n")
    fixed = tmp_path / "fixed"
    assert main(["apply-plan", str(data), str(plan), str(fixed)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert said.count(f"{photos}, which {data} was split from") == 1
    assert (
        f"{photos}, which {data} was split from, still holds 1 image this plan relabelled "
        "or left out as it was: a new split of it brings that mistake back; go on from "
        f"{fixed} (`objrec add {fixed} NEW_PHOTOS` for more photos), or fix a copy of the photo "
        f"folder too (`objrec audit {photos}`, then `objrec apply-plan {photos} PLAN "
        f"PHOTOS_FIXED` and `objrec split PHOTOS_FIXED NEW_DATA --like {fixed}`)" in said
    )
    args = ["apply-plan", str(data), str(plan), str(tmp_path / "json"), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["source_note"].startswith(f"{photos}, which")
    plan.write_text(f"file,action,new_class\n{first.as_posix()},keep,\n")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "kept")]) == 0
    assert "was split from" not in capsys.readouterr().out
    plan.write_text(f"file,action,new_class\n{first.as_posix()},remove,\n")
    shutil.rmtree(photos)
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "gone")]) == 0
    assert "was split from" not in capsys.readouterr().out


@pytest.mark.slow  # a split and two apply-plans: 0.6 s
def test_apply_plan_says_the_photo_folder_holds_only_the_mistakes_it_really_holds(tmp_path, capsys):
    """A newcomer moved a sunflower into the split's pizza folder by hand, the audit found it and
    apply-plan relabelled it back; then it said the photo folder "still holds" that mistake,
    where manifest.csv had the photo in sunflower all along (newcomer62, 5). Said only of images
    whose source photo carries what the plan fixed, with how many (``in_source``): a relabel of
    an image its source has in another class, not one moved by hand and moved back."""
    from objrec.split.recipe import split_folder

    from .conftest import make_class_folder

    photos = make_class_folder(tmp_path / "photos", per_class=6)
    data = tmp_path / "data"
    split_folder(photos, data, seed=0)
    first, second = sorted((data / "train").rglob("*.png"))[:2]
    other = next(c.name for c in (data / "train").iterdir() if c.name != first.parent.name)
    planted = data / "train" / other / "planted.png"
    first.rename(planted)
    back = f"train/{other}/planted.png,relabel,{first.parent.name}"
    plan = tmp_path / "plan.csv"
    plan.write_text(f"file,action,new_class\n{back}\n")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "back"), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert (said["relabelled"], said["in_source"], said["source_note"]) == (1, 0, None)
    wrong = second.relative_to(data).as_posix()
    third = next(c.name for c in (data / "train").iterdir() if c.name != second.parent.name)
    plan.write_text(f"file,action,new_class\n{back}\n{wrong},relabel,{third}\n")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "both"), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert (said["relabelled"], said["in_source"]) == (2, 1)
    assert f"{data} was split from, still holds 1 image this plan" in said["source_note"]


@pytest.mark.slow
def test_apply_plan_says_when_the_test_split_changes_and_how_to_compare(tmp_path, capsys):
    """A score on OUT's test split was compared with one on DATA's as "did my fix help?", with no
    word that the test sets differ. Said as information, on stdout, as `add` says it: the plan
    asked for those changes ('warning: 3 test images changed', in yellow, read as a fault)."""
    data = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntrain/green/green_00.png,relabel,red\n")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "a"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["test_relabelled"], answer["test_removed"], answer["warnings"]) == (0, 0, [])
    assert answer["test_note"] is None  # train changed only: nothing said
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "b")]) == 0
    assert "test image" not in " ".join(capsys.readouterr())  # train changed only
    plan.write_text(
        "file,action,new_class\ntest/green/green_00.png,relabel,red\n"
        "test/blue/blue_01.png,relabel,red\ntest/red/red_02.png,remove,\n"
        "valid/red/red_00.png,remove,\n"
    )
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "c")]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert (
        "3 test images changed (2 relabelled, 1 removed): scores before and after are on "
        "different test sets (evaluate's first line names the set); to compare the run you "
        "train next with the old one, evaluate both on the new folder: `objrec evaluate "
        f"NEW_RUN {tmp_path / 'c'} --against OLD_RUN`" in out
    )
    assert "test image" not in captured.err  # no 'warning:' for what the plan asked
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "d"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["test_relabelled"], answer["test_removed"], answer["removed"]) == (2, 1, 2)
    assert answer["test_note"].startswith("3 test images changed (2 relabelled, 1 removed)")
    assert answer["warnings"] == []


@pytest.mark.slow
def test_apply_plan_json_carries_the_warnings_it_logged(tmp_path, capsys):
    """apply-plan --json left out of `warnings` what the plan logged (a relabel into a class the
    data lacks, a misspelt one most likely; a file renamed), which docs/json.md says it holds:
    a script reading the JSON never learnt of the new class folder."""
    data = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntrain/green/green_00.png,relabel,rde\n")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "a"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    (warning,) = answer["warnings"]
    assert "relabels 1 image into rde, a class the data does not have" in warning


@pytest.mark.slow
def test_apply_plan_warns_of_a_new_class_windows_cannot_hold(tmp_path, capsys):
    """fewfold40: split and check warn of a class folder Windows cannot hold (con, barrel.), but
    a plan's new_class made one in OUT without a word; it is warned of as split warns."""
    data = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    rows = "train/green/green_00.png,relabel,con\ntrain/green/green_01.png,relabel,barrel.\n"
    plan.write_text("file,action,new_class\n" + rows)
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "a"), "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert (
        "class names Windows cannot hold: barrel. (ends in a dot); con (a device name); copied to "
        "Windows, or to a FAT or exFAT drive, such a class folder is lost or renamed"
    ) in " ".join(warnings)
    assert (tmp_path / "a" / "train" / "con").is_dir()  # a warning: the folder is made


@pytest.mark.slow
def test_apply_plan_refuses_a_new_class_named_like_one_of_data_s_as_add_does(tmp_path, capsys):
    """A plan's new_class ``bleu`` beside DATA's blue made a class folder of its own in OUT, with
    a warning among others, where ``add`` refuses such a class (ba08f2a): refused now in add's
    words, naming the plan's lines, for the whole plan before any file is copied, unless
    --new-class (add's flag)."""
    data = make_split(tmp_path / "data")
    plan, out = tmp_path / "plan.csv", tmp_path / "fixed"
    rows = [
        "train/green/green_00.png,relabel,purple",  # a new class of a name of its own
        "train/green/green_01.png,relabel,bleu",
        "train/red/red_00.png,relabel,bleu",
        "valid/green/green_00.png,relabel,gren",
    ]
    plan.write_text("file,action,new_class\n" + "\n".join(rows) + "\n")
    with pytest.raises(ObjrecError, match=r"plan.csv lines 3, 4, 5: the new classes bleu \(is"):
        apply_plan(data, plan, out)
    assert main(["apply-plan", str(data), str(plan), str(out)]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "lines 3, 4, 5: the new classes bleu (is it blue?), gren (is it green?) are named like "
        "classes of the data folder: to add to them, give their name; to make new classes, give "
        "--new-class"
    ) in err
    assert not out.exists()
    assert main(["apply-plan", str(data), str(plan), str(out), "--new-class"]) == 0
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(
        ["blue", "bleu", "green", "purple", "red"]
    )


@pytest.mark.slow
def test_apply_plan_from_python_logs_the_test_split_note_the_cli_shows(tmp_path, caplog):
    """Only the CLI said that a plan relabelling test images makes scores before and after
    incomparable: `objrec.apply_plan` in a notebook logged nothing of it. Logged at INFO, as
    `add` logs its own: the plan asked for it, so it is no warning."""
    data = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntest/green/green_00.png,relabel,red\n")
    with caplog.at_level(logging.INFO, logger="objrec"):
        apply_plan(data, plan, tmp_path / "fixed")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    (record,) = [r for r in caplog.records if "test image" in r.getMessage()]
    assert record.getMessage().startswith("1 test image changed (1 relabelled)")
    assert "`evaluate(new_run, out, against=old_run)`" in record.getMessage()  # out: new folder


def test_apply_plan_stopped_half_way_leaves_out_as_it_was_for_the_retry(tmp_path, monkeypatch):
    """apply-plan copied straight into OUT: failing at its third image (a full disk), or killed,
    it left OUT holding part of the copy, a folder that looked whole enough to train on, and the
    retry was refused as "not empty". The copy is made in a hidden folder beside OUT, renamed OUT
    once whole (over an empty folder too); stopped, nothing of it is left."""
    from .conftest import make_class_folder

    applying = importlib.import_module("objrec.applying.copy")
    data = make_class_folder(tmp_path / "photos", per_class=2, classes=("red", "blue"))
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\n")
    copied, copy = [], applying.copy_hashed

    def full_disk(source, target):
        if len(copied) == 2:
            raise OSError(28, "No space left on device", str(target))
        copied.append(copy(source, target))
        return copied[-1]

    monkeypatch.setattr(applying, "copy_hashed", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        apply_plan(data, plan, out := tmp_path / "fixed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "plan.csv"]
    monkeypatch.undo()
    out.mkdir()
    assert apply_plan(data, plan, out).copied == 4 and len(list(out.rglob("*.*"))) == 4


def test_apply_plan_link_on_a_drive_without_links_says_so_before_writing(tmp_path, no_symlinks):
    """On a FAT or exFAT drive apply-plan --link said "operation not permitted" and left OUT
    holding a folder, which then refused the retry without --link as not empty (portable42)."""
    from .conftest import make_class_folder

    data = make_class_folder(tmp_path / "photos", per_class=2, classes=("red", "blue"))
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\n")
    with pytest.raises(ObjrecError, match=r"fixed is on a file system without symbolic links"):
        apply_plan(data, plan, out := tmp_path / "fixed", mode="link")
    assert apply_plan(data, plan, out).copied == 4


@pytest.mark.slow
def test_apply_plan_link_links_each_image_to_its_original_and_never_moves_it(tmp_path, capsys):
    """Each round of the loop copied the whole folder; --link, as split's and add's, links each
    file (a relabelled one from its new class folder) to DATA's file, or to the file a linked
    DATA points to, so that a second round does not depend on the first's folder."""
    data = make_split(tmp_path / "data", (2, 1, 1))
    before = {p: p.read_bytes() for p in data.rglob("*.png")}
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "file,action,new_class\ntrain/green/green_00.png,relabel,red\nvalid/blue/blue_00.png,remove,\n"
    )
    counts = apply_plan(data, plan, out := tmp_path / "fixed", mode="link")
    assert (counts.copied, counts.relabelled, counts.removed) == (11, 1, 1)
    images = sorted(out.rglob("*.png"))
    assert len(images) == 11 and all(p.is_symlink() for p in images)
    assert os.readlink(out / "train/red/green_00.png") == str(data / "train/green/green_00.png")
    assert not (out / "train/green/green_00.png").exists()
    assert {p: p.read_bytes() for p in data.rglob("*.png")} == before  # DATA as it was
    assert not any(p.is_symlink() for p in data.rglob("*"))
    with (out / "manifest.csv").open(newline="", encoding="utf-8-sig") as f:
        moved = next(r for r in csv.DictReader(f) if r["file"] == "train/red/green_00.png")
    assert moved["sha256"] == hashlib.sha256(before[data / "train/green/green_00.png"]).hexdigest()
    plan.write_text("file,action,new_class\ntrain/red/green_00.png,relabel,blue\n")
    args = ["apply-plan", str(out), str(plan), str(tmp_path / "fixed2"), "--link"]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith(f"linked 11 images into {tmp_path / 'fixed2'}")
    again = tmp_path / "fixed2/train/blue/green_00.png"
    assert os.readlink(again) == str(data / "train/green/green_00.png")  # not fixed's link
    with pytest.raises(ObjrecError, match="unknown apply-plan `mode` 'hard'"):
        apply_plan(data, plan, tmp_path / "fixed3", mode="hard")


def test_apply_plan_to_a_class_folder_writes_no_manifest(tmp_path):
    """A manifest names splits: a folder of class folders (split next) gets none."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ngreen/green_0.png,relabel,red\n")
    apply_plan(data, plan, tmp_path / "fixed")
    assert sorted(p.name for p in (tmp_path / "fixed").iterdir()) == [
        "green",
        "red",
        "reviewed.csv",
    ]


def test_apply_plan_copies_a_photo_folder_s_own_manifest_and_split_json_along(tmp_path):
    """A manifest.csv or split.json of the person's own at a photo folder's top was left out of
    OUT unsaid: apply-plan writes them anew only for a split folder (session 61's review, L5)."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    (data / "manifest.csv").write_text("mine\n")
    (data / "split.json").write_text("{}\n")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ngreen/green_0.png,relabel,red\n")
    done = apply_plan(data, plan, tmp_path / "fixed")
    assert (tmp_path / "fixed/manifest.csv").read_text() == "mine\n"
    assert (tmp_path / "fixed/split.json").read_text() == "{}\n"
    assert done.other_files == 2


def test_apply_plan_to_a_class_folder_offers_a_plain_split_next(tmp_path, capsys):
    """After apply-plan on a photo folder, "next:" offered only `objrec split fixed NEW_DATA
    --like OLD_DATA`, to a person who had never split it (session 61's review, L4): the plain
    split comes first, --like for one who split the folder before."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ngreen/green_0.png,relabel,red\n")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "fixed")]) == 0
    said = " ".join(capsys.readouterr().out.split())
    fixed = tmp_path / "fixed"
    assert f"next: `objrec split {fixed} NEW_DATA`; if you split the folder the plan was " in said
    assert f"`objrec split {fixed} NEW_DATA --like OLD_SPLIT` keeps each photo in its split" in said


@pytest.mark.slow
def test_apply_plan_refuses_a_bad_plan(tmp_path):
    planted = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntrain/red/red_00.png,burn,\n")
    with pytest.raises(ObjrecError, match="unknown action 'burn'"):
        apply_plan(planted, plan, tmp_path / "fixed")
    plan.write_text("file,action,new_class\ntrain/red/nope.png,remove,\n")
    with pytest.raises(ObjrecError, match="not in"):
        apply_plan(planted, plan, tmp_path / "fixed")
    for more, said in ((1, "nor is 1 other file of"), (2, "nor are 2 other files of")):
        rows = "".join(f"train/red/nope{n}.png,remove,\n" for n in range(more + 1))
        plan.write_text("file,action,new_class\n" + rows)  # it said 'nor are 1 other file'
        with pytest.raises(ObjrecError, match=said):
            apply_plan(planted, plan, tmp_path / "fixed")
    for text in ("my notes\n", ""):  # not a plan, even without rows: nothing is copied
        plan.write_text(text)
        with pytest.raises(ObjrecError, match="is not an audit plan"):
            apply_plan(planted, plan, tmp_path / "fixed")
        assert not (tmp_path / "fixed").exists()
    plan.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")  # not text: one sentence, no traceback
    with pytest.raises(ObjrecError, match=r"not an audit plan in UTF-8 \(byte 0x89 at 0 is not"):
        apply_plan(planted, plan, tmp_path / "fixed")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["../../escaped", "sea/dolphin", "..", ".hidden", "a\\b", "__MACOSX", "@eaDir"]
)
def test_apply_plan_refuses_a_new_class_that_is_not_a_folder_name(tmp_path, name):
    """A relabel's new_class is one class folder: a path wrote the image outside OUT (or into a
    folder every command ignores)."""
    planted = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    with plan.open("w", newline="") as f:
        csv.writer(f).writerows(
            [["file", "action", "new_class"], ["train/red/red_00.png", "relabel", name]]
        )
    with pytest.raises(ObjrecError, match=r"line 2: new_class .* is not a class folder name"):
        apply_plan(planted, plan, tmp_path / "out" / "fixed")
    assert not (tmp_path / "out").exists() and not (tmp_path / "escaped").exists()


@pytest.mark.slow
def test_apply_plan_warns_of_a_class_data_does_not_have(tmp_path, caplog):
    """A relabel into a class DATA lacks makes that class in OUT, said (one named like a class of
    DATA, a typo most likely, is refused: below)."""
    planted = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntrain/red/red_00.png,relabel,purple\n")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        apply_plan(planted, plan, tmp_path / "fixed")
    assert (tmp_path / "fixed/train/purple/red_00.png").is_file()
    assert "1 image into purple, a class" in caplog.text and "does not have" in caplog.text
    caplog.clear()
    plan.write_text("file,action,new_class\ntrain/red/red_00.png,relabel,green\n")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        apply_plan(planted, plan, tmp_path / "fixed2")
    assert "does not have" not in caplog.text


@pytest.mark.slow
def test_a_plan_keeps_a_spreadsheet_from_running_a_name_and_apply_plan_reads_it_exactly(tmp_path):
    """A file or class named ``=sum`` or ``-1.png`` in plan.csv was a formula when opened in
    Excel (CSV injection): such a cell is written with a ``'`` before it, as OWASP advises, and
    apply-plan reads the names back exactly (a name that starts with ``'`` too)."""
    from objrec.applying.plan_file import read_plan
    from objrec.audit.plan import write_plan

    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    (data / "red").rename(data / "=sum")
    (data / "=sum/red_0.png").rename(data / "=sum/-1.png")
    (data / "green/green_0.png").rename(data / "green/'@2.png")
    rows = [
        {"file": "=sum/-1.png", "class": "=sum", "action": "relabel", "new_class": "+plus"},
        {"file": "green/'@2.png", "class": "green", "action": "remove", "reason": "@x"},
    ]
    write_plan(rows, tmp_path / "plan.csv")
    text = (tmp_path / "plan.csv").read_text("utf-8-sig")
    assert "'=sum/-1.png,'=sum,,relabel,'+plus," in text and "green/'@2.png" in text
    assert ",''@2.png" not in text and ",'@x" in text  # only a cell's start is looked at
    plan = read_plan(tmp_path / "plan.csv")
    assert list(plan) == ["=sum/-1.png", "green/'@2.png"]
    assert plan["=sum/-1.png"]["new_class"] == "+plus" and plan["green/'@2.png"]["reason"] == "@x"
    apply_plan(data, tmp_path / "plan.csv", tmp_path / "fixed")
    assert sorted(p.name for p in (tmp_path / "fixed").rglob("*.png")) == [
        *("-1.png", "green_1.png", "red_1.png")
    ]
    assert (tmp_path / "fixed/+plus/-1.png").is_file()


def test_apply_plan_reads_a_plan_saved_by_a_spreadsheet_with_a_byte_order_mark(tmp_path):
    planted = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("\ufefffile,action,new_class\ntrain/red/red_00.png,remove,\n", "utf-8")
    assert apply_plan(planted, plan, tmp_path / "fixed").removed == 1


@pytest.fixture
def split_copy(tmp_path) -> Path:
    """A split folder with its manifest (``tmp_path / "d"``), as apply-plan writes its copy:
    ``make_split``'s folder under a plan of no rows, for the tests that move its photos by
    hand."""
    data = tmp_path / "d"
    apply_plan(make_split(tmp_path / "made"), plan_of(tmp_path / "none.csv"), data)
    return data


def plan_of(path: Path, *rows: str) -> Path:
    """A plan with ``rows`` (CSV lines) under the columns objrec writes, as a person edits it
    (a row without a digest cell: one of a person's own, or a file the audit could not hash)."""
    header = ",".join(PLAN_COLUMNS)
    path.write_text(f"{header}\n" + "".join(r + "\n" for r in rows))
    return path


def test_apply_plan_lists_the_less_sure_relabels_before_copying(tmp_path, capsys):
    """A plan relabelled a correct image at p(suggested)=0.74, and apply-plan said nothing of how
    sure each relabel was: those under 0.7 (where about 1 in 4 was wrong when measured) are
    listed, least sure first, with their line; not a surer one, nor one the person made of a
    row kept to review or of a copy under two labels (it was listed by the flag's p(suggested)
    its reason gives, though the plan never relabels on it), nor one without a probability."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 3})
    two = (
        '"review: one picture under two labels (across classes): this copy is labelled red, its '
        "copy green/green_1.png is labelled green; which class is it? set remove on the copy "
        "whose label is wrong; the plan removes neither, as the label flag (red/red_2.png may "
        'be green, p(suggested)=0.62) is not sure enough for it to relabel"'
    )
    plan = plan_of(
        tmp_path / "plan.csv",
        f"green/green_0.png,green,,relabel,red,{evidence(0.62)}",
        f"green/green_1.png,green,,relabel,red,{evidence(0.74)}",
        f"green/green_2.png,green,,relabel,red,{evidence(0.55)}",
        'red/red_0.png,red,,relabel,green,"review: may be green, p(suggested)=0.30; relabel if so"',
        "red/red_1.png,red,,relabel,green,",
        f"red/red_2.png,red,,relabel,green,{two}",
    )
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "a"), "--json"]) == 0
    (warning,) = json.loads(capsys.readouterr().out)["warnings"]
    assert warning == (
        "2 relabels of the plan are less sure, the suggested class's probability under 0.7 "
        "(about 1 in 4 such was wrong when measured): check them before trusting the copy: "
        "green/green_2.png to red (line 4, p(suggested)=0.55), "
        "green/green_0.png to red (line 2, p(suggested)=0.62)"
    )
    from objrec.audit.plan import RELABEL_MIN_PROB, RELABEL_SURE_PROB

    assert RELABEL_SURE_PROB == 0.7 and RELABEL_MIN_PROB == 0.5  # the measured bins' edges


def test_apply_plan_says_when_a_pictures_rows_put_it_in_two_classes(tmp_path, caplog):
    """The copies of one picture (a burst's frames) are decided together, each row saying so,
    but apply-plan reads rows one by one: a person who relabelled one frame and left the others
    got the picture under two labels, and nothing said so. It says so now, naming the lines;
    a picture's copies removed but one, or all given one class, say nothing."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 4})
    picture = "green/green_0.png"
    rows = [f"green/green_{k}.png,green,,{{}},{{}},burst,,{picture}" for k in range(3)]
    parted = plan_of(
        tmp_path / "parted.csv",
        rows[0].format("relabel", "red"),
        rows[1].format("review", "red"),
        rows[2].format("keep", ""),
    )
    with caplog.at_level(logging.WARNING, logger="objrec"):
        apply_plan(data, parted, tmp_path / "fixed")
    said = [r.getMessage() for r in caplog.records if "one action" in r.getMessage()]
    assert said == [
        f"{parted}: the rows of 1 picture (copies of one photo, decided together: plan.csv's "
        "picture column) put it in two classes now: green/green_0.png (lines 3, 4 in green; "
        "line 2 in red); give a picture's rows one action (or remove the copies you do not "
        "want), else the copy holds it under two labels"
    ]
    caplog.clear()
    together = plan_of(
        tmp_path / "together.csv",
        rows[0].format("relabel", "red"),
        rows[1].format("remove", ""),
        rows[2].format("relabel", "red"),
    )
    with caplog.at_level(logging.WARNING, logger="objrec"):
        apply_plan(data, together, tmp_path / "fixed2")
    assert not [r for r in caplog.records if "one action" in r.getMessage()]


def test_apply_plan_does_not_list_a_relabel_a_person_set_to_another_class(tmp_path, capsys):
    """A user set a row the audit pre-filled "relabel strawberry" (p(suggested)=0.50) to pizza,
    its true class, and apply-plan still warned of it: "to pizza (line 6, p(suggested)=0.50)",
    the 0.50 being strawberry's. A row whose new class differs from the audit's suggestion was
    reviewed: not listed; one left as the audit suggested is."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 3, "blue": 1})
    said = '"heads and neighbours give p(given)=0.20, p(suggested)=0.50; 5 of its 10 nearest '
    plan = plan_of(
        tmp_path / "plan.csv",
        f'green/green_0.png,green,,relabel,blue,{said}images are labelled red"',
        f'green/green_1.png,green,,relabel,red,{said}images are labelled red"',
    )
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "a"), "--json"]) == 0
    (warning,) = json.loads(capsys.readouterr().out)["warnings"]
    assert "green/green_1.png to red (line 3" in warning and "green_0" not in warning
    assert warning.startswith("1 relabel of the plan is less sure")


def test_apply_plan_skips_a_spreadsheets_blank_rows_and_names_the_line_of_a_bad_one(tmp_path):
    """A spreadsheet saves its empty rows as ,,,,, : skipped (they were read as a file named ""
    that DATA lacks, refused as 'e.g. ' and nothing more); a row naming a file DATA lacks, or
    none, is refused naming its line, the file quoted (spaces a person typed show)."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    plan = plan_of(tmp_path / "plan.csv", "red/red_0.png,red,,remove,,x", ",,,,,", ", ,,,,,,")
    assert apply_plan(data, plan, tmp_path / "fixed").removed == 1
    plan_of(plan, "red/red_0.png,red,,remove,,x", "", " red/red_1.png,red,,remove,,x")
    with pytest.raises(ObjrecError, match=r"plan.csv line 4: ' red/red_1.png' is not in "):
        apply_plan(data, plan, tmp_path / "fixed2")
    plan_of(plan, "red/red_0.png,red,,remove,,x", ",red,,remove,,x")
    with pytest.raises(ObjrecError, match=r"plan.csv line 3: its file is empty"):
        apply_plan(data, plan, tmp_path / "fixed2")
    assert not (tmp_path / "fixed2").exists()


def test_apply_plan_refuses_an_empty_action_and_a_plan_cut_short_and_remembers_neither(
    tmp_path, capsys
):
    """review52b M1: a blank action cell ("not sure yet") was read as keep, and reviewed.csv then
    remembered the wrong label as one a person settled; a plan cut off mid-row was applied
    (its cut row as keep) with exit 0, the rows lost after it never said. Each is refused,
    naming the file and line, and nothing is written."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    out = tmp_path / "fixed"
    plan = plan_of(
        tmp_path / "plan.csv", "red/red_0.png,red,,keep,,x", "green/green_0.png,green,,,,x"
    )
    assert main(["apply-plan", str(data), str(plan), str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{plan} line 3: no action for 'green/green_0.png': write keep, remove or " in err
    assert not out.exists()
    n, empty = len(PLAN_COLUMNS), "," * (len(PLAN_COLUMNS) - 4)  # the cells after action
    for row, columns in (("green/green_0.png,remove", 2), ("green/green_0.png", 1)):
        plan = plan_of(tmp_path / "plan.csv", "red/red_0.png,red,,keep,,x", row)
        assert main(["apply-plan", str(data), str(plan), str(out)]) == 1
        err = capsys.readouterr().err  # the README's "its file and its action", written short
        assert (
            f"{plan} line 3 has {columns} of the {n} columns, so no action: give it every " in err
        )
        assert f"(green/green_0.png,,,remove{empty})" in err
        assert not out.exists()
    head = plan_of(tmp_path / "plan.csv", "red/red_0.png,red,,keep,,x").read_text()
    for last, said, meant in (
        ("green/green_0.png,green,,ke", f"4 of {n} cells", "remove"),  # a copy stopped in a row
        ('green/green_0.png,green,,keep,,"the reas', f"6 of {n} cells, a quote left open", "keep"),
    ):
        plan.write_text(head + last)
        assert main(["apply-plan", str(data), str(plan), str(out)]) == 1
        err = capsys.readouterr().err
        assert f"{plan} line 3 is cut short ({said}): if the file was not saved or copied " in err
        assert (
            f"if you wrote the row, give it every column (green/green_0.png,,,{meant}{empty})"
            in err
        )
        assert not out.exists()
    plan.write_text(head + "green/green_0.png,green,,keep,,x" + "," * (n - 6))  # no line end
    assert main(["apply-plan", str(data), str(plan), str(out)]) == 0


def photo_reads(monkeypatch, folder: Path) -> Counter[str]:
    """How often each PNG below ``folder`` is opened for reading from now on, by its path
    (``open``, and ``Path.open``'s ``io.open``)."""
    import builtins
    import io

    real, reads = builtins.open, Counter()

    def counted(file, mode="r", *args, **kwargs):
        if "r" in mode and str(file).endswith(".png") and str(file).startswith(str(folder)):
            reads[Path(file).relative_to(folder).as_posix()] += 1
        return real(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counted)
    monkeypatch.setattr(io, "open", counted)
    return reads


@pytest.mark.parametrize("mode", ["copy", "link"])
def test_apply_plan_reads_no_photo_the_file_index_knows_but_to_copy_it(tmp_path, monkeypatch, mode):
    """review54a L3: apply-plan hashed each file its plan gives a digest of, to check that it is
    the image the audit saw, then read it again to copy it; and reviewed.csv hashed every kept
    file once a removed photo was one a person had settled (link mode: all of them). Their
    digests come from the file index, which the audit filled: a photo is read once, by its copy,
    and not at all by a link."""
    from objrec.cache_folder import store_dir
    from objrec.file_index import hash_file
    from objrec.store import FeatureStore

    data = colour_folder(tmp_path / "classes", {"red": 3, "green": 3}).resolve()
    photos = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    hour_ago = time.time() - 3600  # as an audit reads a folder of photos taken before it
    for photo in photos:
        os.utime(data / photo, (hour_ago, hour_ago))
    with FeatureStore(store_dir()) as store:  # as the audit left it
        digests = dict(zip(photos, store.digests([data / p for p in photos])[0], strict=True))
    gone = "green/green_0.png"
    (data / "reviewed.csv").write_text(f"digest,class,file\n{digests[gone]},green,{gone}\n")
    rows = [
        f"{p},{p.split('/')[0]},,{'remove' if p == gone else 'keep'},,x,{digests[p]}"
        for p in photos
    ]
    plan = plan_of(tmp_path / "plan.csv", *(rows if mode == "copy" else rows[:1]))
    assert hash_file(data / gone) == digests[gone]
    reads = photo_reads(monkeypatch, data)
    counts = apply_plan(data, plan, tmp_path / "fixed", mode=mode)
    assert counts.copied == 5 and counts.removed == 1
    assert reads == Counter({p: 1 for p in photos if p != gone} if mode == "copy" else {})


def test_checks_search_for_moved_photos_reads_none_its_listing_hashed(
    tmp_path, split_copy, monkeypatch
):
    """review54a L3: check hashes every image through the file index, then its search for photos
    moved by hand between class folders (what apply-plan follows too) read each image the
    manifest does not list once more. It takes their SHA-256 from the index."""
    from objrec.check import check_folder, moved_images

    data = split_copy
    hour_ago = time.time() - 3600
    for photo in data.rglob("*.png"):
        os.utime(photo, (hour_ago, hour_ago))
    (data / "valid/green/green_00.png").rename(data / "valid/red/moved.png")
    assert any(p.kind == "manifest_class_moved" for p in check_folder(data).problems)
    reads = photo_reads(monkeypatch, data.resolve())
    assert moved_images(data.resolve()) == [("valid/red/moved.png", "green")]
    assert reads == Counter()


def test_a_photo_moved_by_hand_inside_a_class_sub_folder_is_followed(tmp_path, split_copy):
    """split keeps a class's sub-folders (`green/2019/x.png`), but check looked for photos moved
    by hand in the top of each class folder alone: `mv valid/green/2019/x valid/red/2019/` was
    "manifest_unlisted ... a manifest that lost rows?", and apply-plan refused the photo's row
    as not in DATA. Both follow it, as they do a move between the tops of class folders."""
    from objrec.check import check_folder

    data = split_copy
    (data / "valid/green/2019").mkdir()
    (data / "valid/green/green_00.png").rename(data / "valid/green/2019/green_00.png")
    manifest = data / "manifest.csv"
    nested = manifest.read_text("utf-8").replace(
        "valid/green/green_00", "valid/green/2019/green_00"
    )
    manifest.write_text(nested, "utf-8")  # as split writes a photo of green/2019/
    (data / "valid/red/2019").mkdir()
    (data / "valid/green/2019/green_00.png").rename(data / "valid/red/2019/green_00.png")
    said = {p.kind: p.message for p in check_folder(data).problems}
    assert "manifest_unlisted" not in said
    assert said["manifest_class_moved"].startswith(
        "1 image is in another class folder than manifest.csv lists it under (moved by hand?): "
        "valid/red/2019/green_00.png (green in manifest.csv)"
    )
    plan = plan_of(tmp_path / "plan.csv", "valid/green/2019/green_00.png,green,valid,relabel,red,x")
    apply_plan(data, plan, tmp_path / "fixed")
    assert (tmp_path / "fixed/valid/red/2019/green_00.png").is_file()


def test_a_relabel_done_by_hand_into_another_split_says_the_split_changed(
    tmp_path, split_copy, caplog
):
    """A photo moved by hand from valid/green to train/red was taken for its relabel done, and
    the copy's validation split lost an image without a word (session 61's review, L1): the
    warning says the split changed too."""
    from objrec.file_index import hash_file

    data = split_copy
    digest = hash_file(data / "valid/green/green_00.png")
    (data / "valid/green/green_00.png").rename(data / "train/red/green_00.png")
    row = f"valid/green/green_00.png,green,valid,relabel,red,x,{digest}"
    with caplog.at_level(logging.WARNING, logger="objrec"):
        apply_plan(data, plan_of(tmp_path / "plan.csv", row), out := tmp_path / "fixed")
    assert (out / "train/red/green_00.png").is_file()
    assert (
        "its relabel is done already, and the photo copied as it is; it moved from the valid "
        "split to train too, so the copy's valid split holds it no more and its train split does"
    ) in caplog.text


def test_a_photo_moved_by_hand_out_of_valid_is_counted_there_and_keeps_its_group(
    tmp_path, split_copy
):
    """A photo moved by hand from valid/green to train/red (its relabel done) was counted where
    it is now: the copy's validation split lost an image and ``valid_removed`` stayed 0, and the
    copy's manifest lost the group DATA's manifest recorded under its old path (session 61's
    review, L1; loop61's leftover). Counted from where it was, its group kept; one moved by hand
    into another class of the test split is a test relabel. The note said the one moved to train
    "removed" (late62 L6): it says it moved out of the split by hand."""
    from objrec.applying.result import valid_change_note
    from objrec.file_index import hash_file
    from objrec.manifest import manifest_rows

    data = split_copy
    text = (data / "manifest.csv").read_text()
    for file, group in (("valid/green/green_00.png", "7"), ("test/green/green_00.png", "8")):
        line = next(line for line in text.splitlines() if line.startswith(f"{file},"))
        assert line.endswith(",")  # no group recorded: the copy's own split
        text = text.replace(line, line + group)
    (data / "manifest.csv").write_text(text)
    rows = []
    for was, now in (
        ("valid/green/green_00.png", "train/red/green_00.png"),
        ("test/green/green_00.png", "test/red/green_00.png"),
    ):
        digest = hash_file(data / was)
        (data / was).rename(data / now)
        rows.append(f"{was},green,{was.split('/')[0]},relabel,red,x,{digest}")
    counts = apply_plan(data, plan_of(tmp_path / "plan.csv", *rows), out := tmp_path / "fixed")
    assert (counts.moved_by_hand, counts.valid_removed, counts.test_relabelled) == (2, 1, 1)
    assert (counts.valid_relabelled, counts.test_removed) == (0, 0)
    assert (counts.valid_moved_out, counts.test_moved_out) == (1, 0)  # in train now, not removed
    assert valid_change_note(counts).startswith(  # it said "1 removed" (late62 L6)
        "1 validation image changed (1 moved by hand out of the validation split): "
    )
    groups = {r["file"]: r["group"] for r in manifest_rows(out / "manifest.csv")}
    assert groups["train/red/green_00.png"] == "7"
    assert groups["test/red/green_00.png"] == "8"


def test_apply_plan_follows_a_photo_moved_by_hand_done_when_in_its_row_s_class(
    tmp_path, split_copy, capsys, caplog
):
    """newcomer52 3: a photo fixed by hand (moved to its class folder, as check recognises) made
    its row refused as naming a file not in DATA, with no way forward. A relabel of it into the
    class it is in now is done already: the photo is copied where it is, remembered as settled;
    another row of a moved photo is refused, naming where it is now and what to write."""
    from objrec.file_index import hash_file
    from objrec.reviewed import REVIEWED_FILE

    data = split_copy
    (data / "valid/green/green_00.png").rename(data / "valid/red/renamed.png")  # renamed too
    plan = plan_of(tmp_path / "plan.csv", "valid/green/green_00.png,green,valid,relabel,red,x")
    out = tmp_path / "fixed"
    assert main(["apply-plan", str(data), str(plan), str(out)]) == 0
    assert (
        f"{plan} line 2: valid/green/green_00.png is valid/red/renamed.png now (moved by hand?), "
        "in the class the row relabels it to: its relabel is done already"
    ) in caplog.text
    assert (out / "valid/red/renamed.png").is_file()
    assert "valid/red/renamed.png" in (out / REVIEWED_FILE).read_text("utf-8-sig")
    plan_of(plan, "valid/green/green_00.png,green,valid,remove,,x")
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "fixed2")]) == 1
    assert (
        f"{plan} line 2: 'valid/green/green_00.png' is 'valid/red/renamed.png' now (moved by "
        "hand?), and the row says remove: write valid/red/renamed.png as its file to apply"
    ) in capsys.readouterr().err
    folder = colour_folder(tmp_path / "classes", {"red": 2, "green": 2})  # no manifest: digest
    digest = hash_file(folder / "green/green_0.png")
    (folder / "green/green_0.png").rename(folder / "red/green_0.png")
    plan_of(plan, f"green/green_0.png,green,,relabel,red,x,{digest}")
    assert apply_plan(folder, plan, tmp_path / "fixed3").copied == 4
    assert (tmp_path / "fixed3/red/green_0.png").is_file()


def test_apply_plan_follows_a_photo_renamed_as_it_was_moved_by_hand_by_its_digest(tmp_path):
    """review56b L4: a class folder's photo renamed as it was moved by hand into its class was
    refused ("'green/green_0.png' is not in ... (no image there has that path, relative to
    it)"), with no way forward, though its row carries its digest. It is found by that digest;
    a row whose photo is nowhere says what to do."""
    from objrec.file_index import hash_file

    folder = colour_folder(tmp_path / "classes", {"red": 2, "green": 2})
    digest = hash_file(folder / "green/green_0.png")
    (folder / "green/green_0.png").rename(folder / "red/from_green.png")
    plan = plan_of(tmp_path / "plan.csv", f"green/green_0.png,green,,relabel,red,x,{digest}")
    counts = apply_plan(folder, plan, tmp_path / "fixed")
    assert (counts.moved_by_hand, counts.copied, counts.reviewed) == (1, 4, 1)
    assert (tmp_path / "fixed/red/from_green.png").is_file()
    (folder / "red/from_green.png").unlink()
    with pytest.raises(ObjrecError) as refused:
        apply_plan(folder, plan, tmp_path / "fixed2")
    assert str(refused.value).endswith(
        "(no image there has that path, relative to it): if you moved or renamed the photo, "
        "write its path now as the row's file; if you deleted it, delete the row"
    )


def test_apply_plan_counts_a_relabel_done_by_hand_in_its_last_line_and_json(tmp_path, capsys):
    """A relabel done by hand already was said only in a warning: the closing line read "every
    row of plan.csv says keep, so nothing was moved", and --json had no count of it. Both count
    it (``moved_by_hand``)."""
    from objrec.applying.result import AppliedPlan
    from objrec.cli.applying import applied_line

    data = tmp_path / "d"  # a split folder with its manifest
    apply_plan(make_split(tmp_path / "made", (2, 1, 1)), plan_of(tmp_path / "none.csv"), data)
    (data / "train/green/green_00.png").rename(data / "train/red/green_00.png")
    plan = plan_of(tmp_path / "plan.csv", "train/green/green_00.png,green,train,relabel,red,x")
    args = ["apply-plan", str(data), str(plan)]
    assert main([*args, str(tmp_path / "fixed"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["moved_by_hand"], answer["relabelled"], answer["copied"]) == (1, 0, 12)
    counts = AppliedPlan(**{key: answer[key] for key in AppliedPlan().to_json()})
    line = applied_line(counts, (data, plan, tmp_path / "fixed"), copy=True)
    assert line.startswith(
        f"copied 12 images into {tmp_path / 'fixed'} (0 relabelled, 1 row done by hand "
        "already (the photo moved to its class): copied where it is), left out 0"
    )
    counts = apply_plan(data, plan_of(tmp_path / "keep.csv"), tmp_path / "kept")
    assert counts.moved_by_hand == 0


def test_apply_plan_takes_a_review_row_s_photo_moved_by_hand_as_its_label_decided(
    tmp_path, split_copy, caplog
):
    """plan53: a ``review`` row (the audit's, left for a person) whose photo the person moved by
    hand into another class folder was refused, as a keep's is, though the move is the person's
    decision. It is a relabel done by hand: the photo copied where it is, counted in
    ``moved_by_hand``, not left to review, and remembered in reviewed.csv as that label."""
    from objrec.reviewed import REVIEWED_FILE

    data = split_copy
    (data / "valid/green/green_00.png").rename(data / "valid/blue/green_00.png")
    plan = plan_of(
        tmp_path / "plan.csv", "valid/green/green_00.png,green,valid,review,red,review: may be red"
    )
    counts = apply_plan(data, plan, tmp_path / "fixed")
    assert (counts.moved_by_hand, counts.left_to_review, counts.relabelled) == (1, 0, 0)
    assert (
        f"{plan} line 2: valid/green/green_00.png is valid/blue/green_00.png now (moved by hand?),"
        " a row to review: decided by that move, its label is remembered as yours"
    ) in caplog.text
    assert (tmp_path / "fixed/valid/blue/green_00.png").is_file()
    assert "valid/blue/green_00.png" in (tmp_path / "fixed" / REVIEWED_FILE).read_text("utf-8-sig")
    from objrec.cli.applying import applied_line

    line = applied_line(counts, (data, plan, tmp_path / "fixed"), copy=True)
    assert "(0 relabelled, 1 row done by hand already (the photo moved to its class)" in line


def test_apply_plan_leaves_a_review_row_s_photo_only_renamed_in_its_class_to_review(
    tmp_path, split_copy, caplog
):
    """review59b M1: a ``review`` row whose photo was only renamed in its own class folder (or
    moved to another split of its class) was taken as decided by that move: counted in
    ``moved_by_hand``, its label remembered in reviewed.csv, though nobody decided anything. The
    row follows the photo and stays to review, its reason kept."""
    from objrec.file_index import hash_file
    from objrec.reviewed import REVIEWED_FILE

    folder = colour_folder(tmp_path / "classes", {"red": 2, "green": 2})
    digest = hash_file(folder / "green/green_1.png")
    (folder / "green/green_1.png").rename(folder / "green/renamed.png")
    plan = plan_of(
        tmp_path / "plan.csv", f'green/green_1.png,green,,review,red,"review: may be red",{digest}'
    )
    counts = apply_plan(folder, plan, tmp_path / "fixed")
    assert (counts.moved_by_hand, counts.left_to_review, counts.reviewed) == (0, 1, 0)
    assert (counts.copied, counts.relabelled) == (4, 0)
    assert (tmp_path / "fixed/green/renamed.png").is_file()
    reviewed = tmp_path / "fixed" / REVIEWED_FILE
    assert "renamed.png" not in (reviewed.read_text("utf-8-sig") if reviewed.is_file() else "")
    assert (
        f"{plan} line 2: green/green_1.png is green/renamed.png now (moved by hand?), in its own "
        "class still: a row to review there, still undecided"
    ) in caplog.text
    data = split_copy  # moved below to another split of its class
    digest = hash_file(data / "train/green/green_00.png")
    (data / "train/green/green_00.png").rename(data / "valid/green/from_train.png")
    row = f'train/green/green_00.png,green,train,review,,"copies: keep one",{digest}'
    counts = apply_plan(data, plan_of(plan, row), tmp_path / "fixed2")
    assert (counts.moved_by_hand, counts.left_to_review, counts.reviewed) == (0, 1, 0)
    assert (tmp_path / "fixed2/valid/green/from_train.png").is_file()


@pytest.mark.parametrize("sep", [";", "\t"])
def test_apply_plan_reads_a_plan_a_spreadsheet_saved_with_semicolons(tmp_path, sep):
    """Excel set to German or French saves "CSV" with semicolons (the comma is their decimal
    mark): the plan was refused as lacking the columns file and action, which it has."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    plan = tmp_path / "plan.csv"
    rows = ["file,class,split,action,new_class,reason", "red/red_0.png,red,,relabel,green,x, y"]
    text = "\n".join(row.replace(",", sep, 5) for row in rows)
    plan.write_text("\ufeff" + text + "\n", "utf-8")  # and a byte-order mark
    assert apply_plan(data, plan, tmp_path / "fixed").relabelled == 1
    assert (tmp_path / "fixed/green/red_0.png").is_file()


def test_a_long_plan_in_another_encoding_names_the_bad_bytes_place_in_the_file(tmp_path):
    """Excel's plain "CSV" on Windows saves cp1252: a plan naming café/ was refused as 'not a CSV
    text file' with Python's codec message, though it is one; the error says what to do, and
    where the byte is in the file (it was its place in the reader's chunk of 8 KiB, after the
    byte-order mark: in a plan of a thousand rows an é at byte 23,018 was said to be at 6,634)."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    rows = "".join(f"red/img_{i:05d}.png,keep\n" for i in range(1000))
    raw = (
        b"\xef\xbb\xbf"
        + f"file,action\n{rows}".encode()
        + "caf\u00e9/x.png,remove\n".encode("cp1252")
    )
    plan = tmp_path / "plan.csv"
    plan.write_bytes(raw)
    at = raw.index(b"\xe9")
    match = rf"byte 0xe9 at {at} is not UTF-8 text, on line 1002\): .* save it as CSV UTF-8$"
    with pytest.raises(ObjrecError, match=match):
        apply_plan(data, plan, tmp_path / "fixed")


def test_apply_plan_refuses_one_file_on_two_rows_with_different_actions(tmp_path):
    """The last of two rows for one file won, silently: a file a person marked remove on one row
    and keep on another was kept. Two rows that agree are fine."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    row = "red/red_0.png,red,,remove,,x"
    plan = plan_of(tmp_path / "plan.csv", row, "green/green_0.png,green,,keep,,", row)
    assert apply_plan(data, plan, tmp_path / "fixed").removed == 1
    plan_of(plan, row, "green/green_0.png,green,,keep,,", "red/red_0.png,red,,keep,,")
    with pytest.raises(ObjrecError, match=r"line 4: 'red/red_0.png' is on line 2 too, with anot"):
        apply_plan(data, plan, tmp_path / "fixed2")
    plan_of(plan, "red/red_0.png,,,relabel,green,", "red/red_0.png,,,relabel,blue,")
    with pytest.raises(ObjrecError, match=r"line 3: 'red/red_0.png' is on line 2 too"):
        apply_plan(data, plan, tmp_path / "fixed2")
    assert not (tmp_path / "fixed2").exists()


def test_apply_plan_relabels_into_a_class_named_alike_but_for_accent_encoding(tmp_path):
    """An NFD café typed (or saved) where DATA has an NFC one: one name to a person, refused as
    differing "in how their accents are encoded"; it is that class now."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 2})
    shutil.copytree(data / "green", data / "caf\u00e9")
    plan = plan_of(tmp_path / "plan.csv", "red/red_0.png,red,,relabel,cafe\u0301,")
    assert apply_plan(data, plan, tmp_path / "fixed").relabelled == 1
    assert (tmp_path / "fixed" / "caf\u00e9" / "red_0.png").is_file()
    assert not (tmp_path / "fixed" / "cafe\u0301").exists()


def test_apply_plan_finds_a_file_named_alike_but_for_accent_encoding(tmp_path):
    """A researcher typed a row for red/été.jpg (NFC) into the plan of photos from a Mac, whose
    name on disk is NFD: "'red/été.jpg' is not in data (no image there has that path)", of a
    name that reads the same. It is that image now; the same image on two rows (one NFC, one
    NFD) with two actions is refused, as one file on two rows is."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    nfd, nfc = "e\u0301te\u0301.png", "\u00e9t\u00e9.png"
    (data / "red" / "red_0.png").rename(data / "red" / nfd)
    plan = plan_of(tmp_path / "plan.csv", f"red/{nfc},red,,relabel,green,")
    assert apply_plan(data, plan, tmp_path / "fixed").relabelled == 1
    assert (tmp_path / "fixed" / "green" / nfd).is_file()
    assert not (tmp_path / "fixed" / "red" / nfd).exists()
    plan_of(plan, f"red/{nfd},red,,remove,,", f"red/{nfc},red,,keep,,")
    with pytest.raises(ObjrecError, match=r"line 3: 'red/\S+' is the image of line 2 \(named"):
        apply_plan(data, plan, tmp_path / "fixed2")


def test_apply_plan_reads_a_windows_path_s_backslashes_as_slashes(tmp_path):
    """A row typed as Windows writes paths, ``red\\red_0.png`` (Explorer's "Copy as path", a
    plan edited there), was "not in data"; it is red/red_0.png now, and a file whose own name
    holds a backslash (legal on Linux and macOS) is still found by that name (portable42)."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 2})
    (data / "red" / "red_2.png").rename(data / "red" / "a\\b.png")
    plan = plan_of(
        tmp_path / "plan.csv", "red\\red_0.png,red,,relabel,green,", "red/a\\b.png,red,,remove,,"
    )
    counts = apply_plan(data, plan, tmp_path / "fixed")
    assert (counts.relabelled, counts.removed) == (1, 1)
    assert (tmp_path / "fixed" / "green" / "red_0.png").is_file()
    assert not (tmp_path / "fixed" / "red" / "a\\b.png").exists()


@pytest.mark.parametrize(("name", "other"), [("Green", "green"), ("GREEN", "green")])
def test_apply_plan_refuses_a_relabel_into_a_class_named_alike_but_for_case(tmp_path, name, other):
    """Green beside green is one folder on macOS and Windows: the image joined green there while
    the manifest said Green (only a warning said the class was new). Two new classes alike but
    for case are refused too; a class's exact name is fine."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 2})
    shutil.copytree(data / "green", data / "caf\u00e9")
    plan = plan_of(tmp_path / "plan.csv", f"red/red_0.png,red,,relabel,{name},")
    with pytest.raises(ObjrecError, match=rf"line 2: new_class '{name}' and the class '{other}'"):
        apply_plan(data, plan, tmp_path / "fixed")
    plan_of(plan, "red/red_0.png,,,relabel,pink,", "red/red_1.png,,,relabel,Pink,")
    with pytest.raises(ObjrecError, match=r"line 3: new_class 'Pink' and the class 'pink' diff"):
        apply_plan(data, plan, tmp_path / "fixed")
    assert not (tmp_path / "fixed").exists()
    plan_of(plan, f"red/red_0.png,,,relabel,{other},", "red/red_1.png,,,relabel,pink,")
    assert apply_plan(data, plan, tmp_path / "fixed").relabelled == 2


def test_apply_plan_never_copies_two_images_to_names_alike_but_for_case(tmp_path):
    """red/A.png and red/a.png, two pictures kept by the plan, were copied under both names:
    into an OUT on macOS, Windows or an exFAT drive the second overwrote the first. The second
    gets a free name, as a relabelled image does."""
    from objrec.outputs import name_key

    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    (data / "red/red_0.png").rename(data / "red/A.png")
    (data / "red/red_1.png").rename(data / "red/a.png")
    plan = plan_of(tmp_path / "plan.csv", "green/green_0.png,,,remove,,")
    counts = apply_plan(data, plan, tmp_path / "fixed")
    assert (counts.copied, counts.renamed) == (3, 1)
    red = sorted((tmp_path / "fixed/red").iterdir())
    assert len({name_key(p) for p in red}) == 2 and "A.png" in [p.name for p in red]
    assert sorted(p.read_bytes() for p in red) == sorted(
        p.read_bytes() for p in (data / "red").iterdir()
    )


def test_apply_plan_refuses_to_relabel_a_file_in_no_class_folder(tmp_path):
    """A loose image of DATA relabelled became a file named as the class, and the class's own
    images then failed to copy (FileExistsError, a half-made OUT)."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    shutil.copy(data / "red/red_0.png", data / "loose.png")
    plan = plan_of(tmp_path / "plan.csv", "loose.png,,,relabel,red,")
    with pytest.raises(ObjrecError, match=r"line 2: 'loose.png' is in no class folder, so it"):
        apply_plan(data, plan, tmp_path / "fixed")
    assert not (tmp_path / "fixed").exists()


@pytest.mark.slow
def test_apply_plan_refuses_an_existing_file_or_a_folder_with_files(tmp_path):
    planted = make_split(tmp_path / "data")
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ntrain/red/red_00.png,remove,\n")
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(ObjrecError, match="taken exists: choose another folder"):
        apply_plan(planted, plan, tmp_path / "taken")
    (tmp_path / "full").mkdir()
    (tmp_path / "full/notes.txt").write_text("mine")
    with pytest.raises(ObjrecError, match="full is not empty: choose another folder"):
        apply_plan(planted, plan, tmp_path / "full")
    assert (tmp_path / "taken").read_text() == (tmp_path / "full/notes.txt").read_text() == "mine"


def test_apply_plan_refuses_a_folder_a_killed_add_left_half_listed(tmp_path):
    """after `kill -9` of an add, apply-plan copied the files it had written
    into OUT with no manifest row nor split.json entry, and without the note the next add repairs
    both from, saying DATA was "unchanged". It refuses, in check's words, naming the note."""
    from objrec.add.pending import PENDING, write_pending
    from objrec.manifest import sha256_file

    data = make_split(tmp_path / "data", per_split=(2, 1, 1))
    pattern(COLOURS["red"], 99).save(written := data / "train/red/new.png")  # what the add wrote
    row = {"file": "train/red/new.png", "sha256": sha256_file(written)}
    write_pending(data, [row], {"new": [], "files": 1})
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\n")
    with pytest.raises(ObjrecError) as refused:
        apply_plan(data, plan, tmp_path / "fixed")
    assert str(refused.value) == (
        f"{data.resolve() / PENDING}: an add into this folder was stopped before it listed what "
        "it wrote (killed, or a power cut): 1 image it wrote is in no manifest row; the next "
        "`add_images` into this folder lists them: run that add again (it adds only what is not "
        "there), then apply the plan"
    )
    assert not (tmp_path / "fixed").exists()


def test_apply_plan_waits_for_an_add_writing_in_data_and_copies_what_it_wrote(tmp_path):
    """apply-plan read DATA with no lock, so run beside an add it copied the
    files the add had written so far and said DATA was unchanged. It reads DATA under a shared
    lock as train lists a split: an add holding the folder is waited for (``on_wait`` first),
    and the copy holds what it wrote once it is done."""
    data = colour_folder(tmp_path / "data", {"red": 1, "green": 1})
    fd = os.open(data, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # an add writing in DATA
    said = []

    def wait():
        said.append("waiting")
        pattern(COLOURS["red"], 99).save(data / "red/new.png")  # ... which ends
        os.close(fd)

    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\n")
    counts = apply_plan(data, plan, out := tmp_path / "fixed", on_wait=wait)
    assert said == ["waiting"] and counts.copied == 3 and (out / "red/new.png").is_file()


def test_apply_plan_remembers_and_records_the_plan_it_applied_though_saved_meanwhile(
    tmp_path, monkeypatch
):
    """apply-plan read plan.csv three times (to apply it, to hash it, and after the
    copy to choose the labels reviewed.csv remembers): saved again meanwhile (a spreadsheet
    holding it open), reviewed.csv forgot the relabel applied and remembered a row never applied,
    and split.json could record the SHA-256 of another plan. It is read once."""
    from objrec.file_index import hash_file
    from objrec.reviewed import read_reviewed

    applying = importlib.import_module("objrec.applying.recipe")
    data = make_split(tmp_path / "data", per_split=(1, 1, 1))
    plan = tmp_path / "plan.csv"
    plan.write_text(applied := "file,action,new_class\ntrain/green/green_00.png,relabel,red\n")
    copy = applying.copy_planned

    def saved_meanwhile(*args, **kwargs):
        copied = copy(*args, **kwargs)
        plan.write_text("file,action,new_class\ntrain/red/red_00.png,keep,\n")
        return copied

    monkeypatch.setattr(applying, "copy_planned", saved_meanwhile)
    apply_plan(data, plan, out := tmp_path / "fixed")
    assert (out / "train/red/green_00.png").is_file()
    reviewed = read_reviewed(out)
    assert reviewed == {
        hash_file(data / "train/green/green_00.png"): ("red", "train/red/green_00.png")
    }
    (entry,) = json.loads((out / "split.json").read_text())["applied"]
    assert entry["plan_sha256"] == hashlib.sha256(applied.encode()).hexdigest()


def test_apply_plan_counts_and_says_the_links_of_data_to_a_file_not_there(tmp_path, caplog):
    """DATA made with --link, one photo deleted since: apply-plan left its link out
    and said "every row of plan.csv says keep, so nothing was moved or left out". The link is
    warned of by name, counted (``broken_links``), and the line says it was left out."""
    from objrec.cli.applying import applied_line

    photos = colour_folder(tmp_path / "photos", {"red": 2, "green": 1})
    for image in photos.rglob("*.png"):
        (data := tmp_path / "data" / image.parent.name).mkdir(parents=True, exist_ok=True)
        (data / image.name).symlink_to(image)
    (photos / "red/red_0.png").unlink()
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\nred/red_0.png,keep,\n")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        counts = apply_plan(tmp_path / "data", plan, out := tmp_path / "fixed")
    (said,) = [r.getMessage() for r in caplog.records if "red_0.png" in r.getMessage()]
    assert said.startswith(f"{tmp_path / 'data/red/red_0.png'} left out: a link to ")
    assert (counts.copied, counts.broken_links) == (2, 1) and not (out / "red/red_0.png").exists()
    line = applied_line(counts, (tmp_path / "data", plan, out), copy=True)
    assert line.startswith(
        f"copied 2 images into {out} (0 relabelled), left out 0 by the plan and 1 link to a file "
        "not there (warned of); "
    )


@pytest.mark.slow
def test_apply_plan_skips_a_row_whose_file_was_replaced_since_the_audit(tmp_path, caplog):
    """A photo replaced in place since the audit (same name, other bytes)
    got the old row's action, relabelled into crab and remembered in reviewed.csv as a label a
    person settled. The plan's digest column (the audit's content digest) tells it: the row is
    skipped, its file copied as it is, named with its line; a row without a digest (a person's
    own) is applied."""
    from objrec.cli.applying import applied_line
    from objrec.file_index import hash_file
    from objrec.reviewed import read_reviewed

    data = colour_folder(tmp_path / "data", {"red": 3, "green": 1})
    digest = {f"red/red_{i}.png": hash_file(data / f"red/red_{i}.png") for i in range(3)}
    rows = [
        ("red/red_0.png", "relabel", "green", digest["red/red_0.png"]),  # as the audit saw it
        ("red/red_1.png", "relabel", "green", digest["red/red_1.png"]),  # replaced below
        ("red/red_2.png", "remove", "", ""),  # a person's own row: no digest
    ]
    assert "digest" in PLAN_COLUMNS
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class,digest\n" + "".join(",".join(r) + "\n" for r in rows))
    pattern(COLOURS["blue"], 77).save(data / "red/red_1.png")  # another photo under its name
    with caplog.at_level(logging.WARNING, logger="objrec"):
        counts = apply_plan(data, plan, out := tmp_path / "fixed")
    (said,) = [r.getMessage() for r in caplog.records if "replaced" in r.getMessage()]
    assert said == (
        f"skipped 1 row of {plan} whose file is not the image the audit saw (the same name, other "
        "bytes: replaced since), copied as it is now: red/red_1.png (line 3, relabel to green); "
        "audit the data again to review it (`audit_folder(data)`)"
    )
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "green/green_0.png",
        "green/red_0.png",
        "red/red_1.png",
    ]
    assert (out / "red/red_1.png").read_bytes() == (data / "red/red_1.png").read_bytes()
    assert (counts.relabelled, counts.removed, counts.replaced) == (1, 1, 1)
    assert set(read_reviewed(out)) == {digest["red/red_0.png"]}  # not the replaced photo
    line = applied_line(counts, (data, plan, out), copy=True)
    assert "; skipped 1 row of files replaced since the audit (warned of);" in line


@pytest.mark.slow
def test_apply_plan_applies_a_plan_without_digests_as_before_said_once_of_an_audit_s(
    tmp_path, caplog
):
    """A plan without the digest column is applied as before: an audit's from before it
    (it has the audit's reason), said once; a person's own (file,action), unsaid."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 1})
    plan = tmp_path / "plan.csv"
    old = "file,class,split,action,new_class,reason\nred/red_1.png,red,,relabel,green,x\n"
    for k, written in enumerate((old, "file,action,new_class\nred/red_1.png,relabel,green\n")):
        caplog.clear()
        plan.write_text(written)  # an audit's plan before the column; a person's own
        with caplog.at_level(logging.WARNING, logger="objrec"):
            counts = apply_plan(data, plan, tmp_path / f"old{k}")
        assert (counts.relabelled, counts.replaced) == (1, 0)  # applied as before
        said = [r.getMessage() for r in caplog.records if "digest" in r.getMessage()]
        audits = [f"{plan} has no digest column (an audit's plan before 6 December 2026): its "]
        assert [m[: len(audits[0])] for m in said] == audits[k:]  # a person's: none to miss


@pytest.mark.slow  # an apply-plan through the CLI (0.4 s)
def test_apply_plan_shows_its_copying_as_add_does(tmp_path, monkeypatch):
    """apply-plan copied 6,179 images in 7 s with nothing on the screen (a
    minute of silence for 60,000 photos), where add shows a bar. ``on_file(done, total)`` after
    each file, and the CLI's "copying files" (or "linking files") task from it."""
    import contextlib

    import objrec.cli.applying as cli

    data = colour_folder(tmp_path / "data", {"red": 2, "green": 1})
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\ngreen/green_0.png,remove,\n")
    steps: list = []
    apply_plan(data, plan, tmp_path / "fixed", on_file=lambda *step: steps.append(step))
    assert steps == [(1, 2), (2, 2)]

    @contextlib.contextmanager
    def task(reporter, description):
        steps.append(description)
        yield lambda *step: steps.append(step)

    monkeypatch.setattr(cli, "task_from_first_step", task)
    steps.clear()
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "linked"), "--link"]) == 0
    assert steps == ["linking files", (1, 2), (2, 2)]


def test_apply_plan_reads_a_capitalised_action_and_an_absolute_path_inside_data(tmp_path):
    """rows a person writes naturally were refused: `Remove` or `KEEP` (a
    spreadsheet's capitals) as an unknown action, and DATA's file by its absolute path (copied
    from a file manager, through a link to DATA too) as "not in DATA"."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    (tmp_path / "linked").symlink_to(data)
    plan = plan_of(
        tmp_path / "plan.csv",
        f"{data / 'red/red_0.png'},red,,Remove,,",
        f"{tmp_path / 'linked/green/green_1.png'},green,,RELABEL,red,",
        "green/green_0.png,green,,KEEP ,,",
    )
    counts = apply_plan(data, plan, out := tmp_path / "fixed")
    assert (counts.removed, counts.relabelled, counts.copied) == (1, 1, 3)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "green/green_0.png",
        "red/green_1.png",
        "red/red_1.png",
    ]


def test_apply_plan_copies_the_files_that_are_not_images_along_and_says_so(tmp_path):
    """newcomer56: ferry/notes.txt was not in PHOTOS-fixed, which the README calls "your photo
    folder from then on", and "copied 441 images ..., left out 3" counted only the plan's
    removes. The files that are not images are copied where they are (a nested folder's too),
    counted (``other_files``) and said; a split folder's manifest.csv is written anew."""
    from objrec.cli.applying import applied_line

    data = colour_folder(tmp_path / "data", {"red": 2, "green": 1})
    (data / "red/notes.txt").write_text("taken at the harbour\n")
    (data / "red/from phone").mkdir()
    (data / "red/from phone/list.csv").write_text("a,b\n")
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\ngreen/green_0.png,remove,\n")
    counts = apply_plan(data, plan, out := tmp_path / "fixed")
    assert (out / "red/notes.txt").read_text() == "taken at the harbour\n"
    assert (out / "red/from phone/list.csv").read_text() == "a,b\n"
    assert (counts.copied, counts.removed, counts.other_files) == (2, 1, 2)
    line = applied_line(counts, (data, plan, out), copy=True)
    assert line.startswith(f"copied 2 images and 2 other files (not images) into {out} (")


def test_apply_plan_leaves_out_a_link_to_nothing_that_is_not_an_image(tmp_path, caplog):
    """A folder holding a link to a file not there that is not an image applied before the other
    files were copied along; then it was refused ("red/notes.txt: no such file or directory").
    It is left out with a warning naming it, as a link to an image not there is."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 1})
    (data / "red/notes.txt").symlink_to(tmp_path / "gone.txt")
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\ngreen/green_0.png,remove,\n")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        counts = apply_plan(data, plan, out := tmp_path / "fixed")
    assert (counts.copied, counts.removed, counts.other_files) == (2, 1, 0)
    assert not (out / "red/notes.txt").exists() and not (out / "red/notes.txt").is_symlink()
    assert any("notes.txt left out" in r.getMessage() for r in caplog.records)


def test_a_relabelled_file_never_takes_the_name_of_a_file_that_stays(tmp_path, caplog):
    """green/ is copied before red/: ``out/red/img_00.jpg`` held the green image and red's own
    image became ``red/img_00-1.jpg``, with no word of it."""
    data = tmp_path / "data"
    for seed, name in enumerate(("green/img_00.jpg", "red/img_00.jpg", "red/img_01.jpg")):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        pattern(COLOURS[name.split("/")[0]], seed).save(data / name)
    plan = tmp_path / "plan.csv"
    plan.write_text("file,action,new_class\ngreen/img_00.jpg,relabel,red\n")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        counts = apply_plan(data, plan, tmp_path / "fixed")
    fixed = tmp_path / "fixed"
    assert (fixed / "red/img_00.jpg").read_bytes() == (data / "red/img_00.jpg").read_bytes()
    assert (fixed / "red/img_01.jpg").read_bytes() == (data / "red/img_01.jpg").read_bytes()
    assert (fixed / "red/img_00-1.jpg").read_bytes() == (data / "green/img_00.jpg").read_bytes()
    assert not (fixed / "green").exists()
    assert counts.to_json() == {
        "copied": 3,
        "removed": 0,
        "relabelled": 1,
        "renamed": 1,
        "broken_links": 0,
        "moved_by_hand": 0,
        "left_to_review": 0,
        "relabels_as_proposed": 0,
        "accepted": 0,
        "not_accepted": 0,
        "replaced": 0,
        "test_removed": 0,
        "test_relabelled": 0,
        "test_moved_out": 0,
        "valid_removed": 0,
        "valid_relabelled": 0,
        "valid_moved_out": 0,
        "reviewed": 1,  # the relabel, in a class folder's reviewed.csv too
        "in_source": 0,  # a class folder: no photo folder it was split from
        "other_files": 0,
    }
    assert (
        "green/img_00.jpg goes in as red/img_00-1.jpg: red/img_00.jpg is another image's name"
        in caplog.text
    )


def test_files_renamed_into_a_class_are_said_in_one_warning(tmp_path, caplog):
    """Merging a class of Caltech's names (image_0001.jpg ...) into another printed one warning
    a file, 14 lines (session 61's review, L7): several renames are one warning, its count and
    the first few."""
    data = tmp_path / "data"
    for seed, name in enumerate(f"{c}/img_{k:02d}.jpg" for c in ("green", "red") for k in range(6)):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        pattern(COLOURS[name.split("/")[0]], seed).save(data / name)
    plan = tmp_path / "plan.csv"
    rows = "".join(f"green/img_{k:02d}.jpg,relabel,red\n" for k in range(6))
    plan.write_text(f"file,action,new_class\n{rows}")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        counts = apply_plan(data, plan, tmp_path / "fixed")
    assert counts.renamed == 6
    said = [r.getMessage() for r in caplog.records if "free names" in r.getMessage()]
    assert len(said) == 1 and "goes in as" not in caplog.text
    assert said[0].startswith(
        "6 images go in under free names, as other images have theirs: green/img_00.jpg as "
        "red/img_00-1.jpg (red/img_00.jpg taken), "
    )
    assert said[0].endswith(" and 3 more")


def test_a_plan_row_naming_a_file_or_folder_that_is_not_an_image_says_so(tmp_path):
    """`notes.txt,remove` was refused as "'notes.txt' is not in DATA (no image there has that
    path ...)", the file being there; so was a class folder's row (session 61's review, L3).
    Each is refused as not an image, naming its line."""
    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    (data / "notes.txt").write_text("mine")
    for file, kind in (("notes.txt", "a file"), ("red", "a folder")):
        plan = plan_of(tmp_path / "plan.csv", "red/red_0.png,red,,keep,,x", f"{file},,,remove,,x")
        with pytest.raises(ObjrecError) as refused:
            apply_plan(data, plan, tmp_path / "fixed")
        assert str(refused.value).startswith(
            f"{plan} line 3: {file!r} in {data} is {kind}, not an image: a plan's rows are about "
            "images (other files are copied as they are); delete the row"
        )
        assert not (tmp_path / "fixed").exists()


def test_a_plan_is_written_for_excel_and_one_it_garbled_is_refused_saying_so(tmp_path):
    """plan.csv had no byte-order mark: Excel read it as its own encoding, showed ``CafÃ©`` and
    saved that, and apply-plan said only that ``CafÃ©/...`` was not in DATA."""
    from objrec.applying.plan_file import read_plan
    from objrec.audit.plan import write_plan

    data = colour_folder(tmp_path / "data", {"red": 2, "green": 2})
    (data / "red").rename(data / "caf\u00e9")
    write_plan([{"file": "caf\u00e9/red_0.png", "action": "remove"}], tmp_path / "plan.csv")
    assert (tmp_path / "plan.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert list(read_plan(tmp_path / "plan.csv")) == ["caf\u00e9/red_0.png"]
    for encoding in ("cp1252", "mac_roman"):
        garbled = "caf\u00e9".encode().decode(encoding)
        plan = plan_of(tmp_path / "garbled.csv", f"{garbled}/red_0.png,red,,remove,,")
        with pytest.raises(ObjrecError, match=r"line 2: .* is 'caf\u00e9/red_0.png' with its acc"):
            apply_plan(data, plan, tmp_path / "fixed")
    (tmp_path / "latin.csv").write_bytes(
        "file,action\ncaf\u00e9/red_0.png,remove\n".encode("cp1252")
    )
    with pytest.raises(ObjrecError, match=r"not an audit plan in UTF-8 .* save it as CSV UTF-8"):
        apply_plan(data, tmp_path / "latin.csv", tmp_path / "fixed")
    assert not (tmp_path / "fixed").exists()


@pytest.mark.parametrize("typed", ["green ", "green"])
def test_apply_plan_relabels_into_a_class_named_alike_but_for_a_space_at_either_end(
    tmp_path, typed
):
    """DATA's ``green `` (a Mac's folder): the audit's own plan relabels into ``green `` as the
    folder is spelt, and new_class is stripped as it is read, so its unedited plan was refused
    ("new_class 'green' and the class 'green ' differ only in a space at either end"), as was a
    person's ``green``. Both read as that class, as an NFD ``café`` reads as DATA's NFC one."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 2})
    (data / "green").rename(data / "green ")
    plan = plan_of(tmp_path / "plan.csv", f"red/red_0.png,red,,relabel,{typed},")
    assert apply_plan(data, plan, tmp_path / "fixed").relabelled == 1
    assert (tmp_path / "fixed" / "green " / "red_0.png").is_file()
    assert not (tmp_path / "fixed" / "green").exists()


def test_apply_plan_refuses_a_relabel_beside_a_class_named_alike_but_for_case_and_a_space(
    tmp_path,
):
    """DATA's ``green `` and a relabel into ``Green``: a new class that reads as the other in
    every answer but for case, one folder on macOS and Windows once the space is dropped."""
    data = colour_folder(tmp_path / "data", {"red": 3, "green": 2})
    (data / "green").rename(data / "green ")
    plan = plan_of(tmp_path / "plan.csv", "red/red_0.png,red,,relabel,Green,")
    with pytest.raises(ObjrecError, match=r"line 2: new_class 'Green' and the class 'green ' d"):
        apply_plan(data, plan, tmp_path / "fixed")
    assert not (tmp_path / "fixed").exists()


def merge_plan(tmp_path: Path) -> tuple[Path, Path]:
    """A folder of red and green photos whose green the audit names a likely merge into red
    (one flagged as red too), and the plan the audit writes of it."""
    from objrec.audit.findings import LikelyMerge
    from objrec.audit.inventory import inventory
    from objrec.audit.plan import plan_rows, write_plan

    data = colour_folder(tmp_path / "data", {"red": 4, "green": 3})
    inv = inventory(data)
    green = [k for k, item in enumerate(inv.items) if inv.classes[item.label] == "green"]
    flag = LabelIssue(str(data / "green/green_0.png"), "green", "red", 0.9, index=green[0])
    merge = LikelyMerge("green", "red", 3, 3, 1, 4)
    result = AuditResult([flag], [], [], 7, list(inv.classes), merges=[merge], data=data)
    write_plan(plan_rows(result, inv), tmp_path / "plan.csv")
    return data, tmp_path / "plan.csv"


def test_a_likely_merge_is_left_to_review_and_apply_plan_merges_it_when_told(tmp_path, capsys):
    """The plan had rows for 18 of the 30 photos of the split class, each its own flag, and
    merging took 12 rows added by hand. It leaves every image of the class to merge to review
    (nothing moves as it comes), and `apply-plan --merge CLASS` relabels them in one step; a
    class the plan proposes no merge of is refused."""
    from objrec.audit.plan import MERGE

    data, plan = merge_plan(tmp_path)
    rows = list(csv.DictReader(plan.read_text("utf-8-sig").splitlines()))
    assert [(r["file"], r["action"], r["new_class"]) for r in rows] == [
        (f"green/green_{k}.png", "review", "red") for k in range(3)
    ]
    assert all(
        r["reason"].startswith(f"{MERGE}red? green and red look like one class") for r in rows
    )
    apply_plan(data, plan, tmp_path / "as_it_comes")
    assert len(list((tmp_path / "as_it_comes/green").iterdir())) == 3
    assert (
        main(["apply-plan", str(data), str(plan), str(tmp_path / "merged"), "--merge", "green"])
        == 0
    )
    assert not (tmp_path / "merged/green").exists()
    assert len(list((tmp_path / "merged/red").iterdir())) == 7
    capsys.readouterr()
    assert main(["apply-plan", str(data), str(plan), str(tmp_path / "no"), "--merge", "red"]) == 1
    assert "--merge red: " in capsys.readouterr().err
    with pytest.raises(ObjrecError, match=r"^`merge` red: .* proposes no merge of red"):
        apply_plan(data, plan, tmp_path / "no", merge=["red"])


def test_a_merge_takes_along_the_class_photos_flagged_otherwise_and_leaves_their_flags(
    tmp_path, caplog
):
    """`apply-plan --merge watch` relabelled the 24 merge rows and left watch's photos flagged as
    a third class or as none in watch/ (the plan leaves them to their own rows), so the copy had
    a class watch of 2 images, unsaid (session 61's review). They go into the merge's class with
    it, said in one warning naming their lines, and their flags are not remembered as settled."""
    from objrec.audit.findings import LikelyMerge
    from objrec.audit.inventory import inventory
    from objrec.audit.plan import plan_rows, write_plan

    data = colour_folder(tmp_path / "data", {"red": 4, "green": 3, "blue": 3})
    inv = inventory(data)
    green = [k for k, item in enumerate(inv.items) if inv.classes[item.label] == "green"]
    flags = [
        LabelIssue(str(data / "green/green_0.png"), "green", "red", 0.9, index=green[0]),
        LabelIssue(str(data / "green/green_1.png"), "green", "blue", 0.9, index=green[1]),
    ]
    merge = LikelyMerge("green", "red", 3, 3, 1, 4)
    result = AuditResult(flags, [], [], 10, list(inv.classes), merges=[merge], data=data)
    plan = tmp_path / "plan.csv"
    write_plan(plan_rows(result, inv), plan)
    rows = {r["file"]: r for r in csv.DictReader(plan.read_text("utf-8-sig").splitlines())}
    assert (rows["green/green_1.png"]["action"], rows["green/green_1.png"]["new_class"]) == (
        "review",
        "blue",
    )
    with caplog.at_level(logging.WARNING):
        done = apply_plan(data, plan, tmp_path / "merged", merge=["green"])
    assert not (tmp_path / "merged/green").exists()
    names = sorted(p.name for p in (tmp_path / "merged/red").iterdir())
    assert names == [f"green_{k}.png" for k in range(3)] + [f"red_{k}.png" for k in range(4)]
    assert done.left_to_review == 0
    said = [r.getMessage() for r in caplog.records if "with the merge" in r.getMessage()]
    assert len(said) == 1 and "1 image of green the audit flagged otherwise" in said[0]
    assert "(line " in said[0] and "goes into red with the merge" in said[0]
    reviewed = (tmp_path / "merged/reviewed.csv").read_text("utf-8")
    assert "green_1.png" not in reviewed and "green_0.png" in reviewed


def marked_plan(tmp_path: Path) -> tuple[Path, Path]:
    """A folder of red, green and blue photos and the plan the audit writes of it: a sure relabel
    (blue_0 -> red), a flag left to review (blue_1 -> red at 0.60), an outlier kept (red_0) and
    green a likely merge into red."""
    from objrec.audit.findings import LikelyMerge
    from objrec.audit.inventory import inventory
    from objrec.audit.plan import plan_rows, write_plan

    data = colour_folder(tmp_path / "data", {"red": 4, "green": 3, "blue": 3})
    inv = inventory(data)
    at = {Path(item.path).stem: k for k, item in enumerate(inv.items)}
    flags = [
        LabelIssue(str(data / "blue/blue_0.png"), "blue", "red", 0.9, index=at["blue_0"]),
        LabelIssue(str(data / "blue/blue_1.png"), "blue", "red", 0.5, index=at["blue_1"]),
    ]
    said = "heads and neighbours give p(given)=0.05, p(suggested)={:.2f}; 9 of its 10 nearest "
    said += "images are labelled red"
    flags = [
        replace(flag, prob_suggested=p, prob_given=0.05, evidence=said.format(p))
        for flag, p in zip(flags, (0.9, 0.6), strict=True)
    ]
    far = Outlier(str(data / "red/red_0.png"), 4.5, "far from its class", "red", "", at["red_0"])
    merge = LikelyMerge("green", "red", 3, 3, 1, 4)
    result = AuditResult(flags, [], [far], 10, list(inv.classes), merges=[merge], data=data)
    write_plan(plan_rows(result, inv), tmp_path / "plan.csv")
    return data, tmp_path / "plan.csv"


def test_apply_plan_reads_what_a_row_is_from_its_columns_not_its_reasons_words(tmp_path):
    """apply-plan read what each row of the audit's plan is (a relabel as pre-filled, a flag to
    review, a merge, an outlier) back from its reason's English with patterns: a reworded reason
    silently changed what was merged, accepted and remembered (session 61's review, "hard to
    change"). The plan now says it in columns (proposal, suggested, p_suggested), which
    apply-plan reads: with every reason reworded (but a pre-filled relabel's evidence, whose
    replacement by a person's words makes it theirs), it does as before."""
    data, plan = marked_plan(tmp_path)
    rows = list(csv.DictReader(plan.read_text("utf-8-sig").splitlines()))
    assert list(rows[0]) == list(PLAN_COLUMNS)
    kinds = {r["file"]: (r["proposal"], r["suggested"], r["p_suggested"]) for r in rows}
    assert kinds["blue/blue_0.png"] == ("relabel", "red", "0.9000")
    assert kinds["blue/blue_1.png"] == ("flag", "red", "0.6000")
    assert kinds["red/red_0.png"] == ("outlier", "", "")
    assert kinds["green/green_0.png"] == ("merge", "red", "")
    with plan.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, PLAN_COLUMNS)
        writer.writeheader()
        # a relabel's reason keeps the audit's evidence: a person's own words there make it theirs
        writer.writerows(
            r if r["action"] == "relabel" else {**r, "reason": "reworded"} for r in rows
        )
    done = apply_plan(data, plan, tmp_path / "as_it_comes", merge=["green"])
    assert not (tmp_path / "as_it_comes/green").exists()
    assert (done.relabelled, done.relabels_as_proposed, done.left_to_review) == (4, 1, 1)
    reviewed = (tmp_path / "as_it_comes/reviewed.csv").read_text("utf-8")
    assert "green_0.png" in reviewed and "red_0.png" not in reviewed and "blue_0" not in reviewed
    accepted = apply_plan(data, plan, tmp_path / "accepted", accept=True)
    assert (accepted.accepted, accepted.left_to_review) == (2, 3)


@pytest.mark.slow
def test_removing_one_copy_keeps_the_label_a_person_settled_for_the_copy_kept(tmp_path):
    """reviewed.csv is keyed by content: an apply-plan removing one byte-identical copy of a
    picture (the audit's plan removes them by default) forgot the label a person settled for the
    copy it kept, and the next audit asked again."""
    from objrec.file_index import hash_file
    from objrec.reviewed import read_reviewed

    data = colour_folder(tmp_path / "data", {"red": 2, "green": 1})
    shutil.copy(data / "red/red_0.png", data / "green/dup_of_red.png")
    digest = hash_file(data / "red/red_0.png")
    first = tmp_path / "first"
    apply_plan(data, plan_of(tmp_path / "p1.csv", "green/dup_of_red.png,,,keep,,,"), first)
    assert read_reviewed(first) == {digest: ("green", "green/dup_of_red.png")}
    counts = apply_plan(
        first, plan_of(tmp_path / "p2.csv", "red/red_0.png,,,remove,,,"), out := tmp_path / "second"
    )
    assert (out / "green/dup_of_red.png").is_file() and not (out / "red/red_0.png").exists()
    assert counts.reviewed == 1 and read_reviewed(out) == read_reviewed(first)
    apply_plan(
        out,
        plan_of(tmp_path / "p3.csv", "green/dup_of_red.png,,,remove,,,"),
        gone := tmp_path / "third",
    )
    assert read_reviewed(gone) == {}  # the picture's last copy removed: its row goes


@pytest.mark.slow
def test_two_copies_settled_under_two_classes_are_warned_of_and_neither_kept(tmp_path, caplog):
    """A plan keeping both copies of one picture, in two classes, recorded one label as settled
    (the later in path order) without a word."""
    from objrec.reviewed import read_reviewed

    data = colour_folder(tmp_path / "data", {"red": 2, "green": 1})
    shutil.copy(data / "red/red_0.png", data / "green/dup_of_red.png")
    plan = plan_of(tmp_path / "p.csv", "green/dup_of_red.png,,,keep,,,", "red/red_0.png,,,keep,,,")
    with caplog.at_level(logging.WARNING, logger="objrec"):
        counts = apply_plan(data, plan, out := tmp_path / "out")
    (said,) = [r.getMessage() for r in caplog.records if "settled one picture" in r.getMessage()]
    assert said == (
        "the plan settled one picture (byte-identical copies) under 2 classes: "
        "green/dup_of_red.png, red/red_0.png; neither label is remembered as settled: keep the "
        "picture in one class"
    )
    assert counts.reviewed == 0 and read_reviewed(out) == {}


@pytest.mark.slow
def test_apply_plan_reads_each_photo_once_and_its_manifest_holds_each_copys_sha256(
    tmp_path, monkeypatch
):
    """apply-plan copied each photo of a split folder, then read the copy again for its SHA-256
    (a second full read of a folder larger than the page cache): it hashes the bytes it copies
    now, the manifest's digests and the copies' times as before."""
    from objrec.applying import copy as applying
    from objrec.manifest import manifest_rows

    planted = make_split(tmp_path / "data")
    monkeypatch.setattr(applying, "sha256_file", lambda path: pytest.fail(f"read {path} again"))
    plan = plan_of(tmp_path / "plan.csv", "train/red/red_00.png,,,remove,,,")
    apply_plan(planted, plan, out := tmp_path / "fixed")
    rows = manifest_rows(out / "manifest.csv")
    assert rows and len(rows) == len(list(out.glob("*/*/*.png")))
    for row in rows:
        copy = out / row["file"]
        assert row["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()
        assert copy.stat().st_mtime_ns == (planted / row["file"]).stat().st_mtime_ns


@pytest.mark.slow
def test_a_plan_applied_in_a_thread_that_ends_lets_go_of_the_feature_store(tmp_path, stores_opened):
    """late62's unchecked entry points: a Python caller's thread that calls `objrec.apply_plan`
    and ends leaves every feature store it opened (the file index's) closed: its lock, which a
    prune or clear waits for, and its array files' descriptors, which an ending thread never
    closes."""
    from .conftest import in_ended_thread, let_go

    made = make_split(tmp_path / "made", (2, 1, 1))
    in_ended_thread(lambda: apply_plan(made, plan_of(tmp_path / "none.csv"), tmp_path / "out"))
    assert let_go(stores_opened, Path(os.environ["OBJREC_CACHE"]))

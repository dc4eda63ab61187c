"""split, explore and check through the CLI (``cli/data.py``)."""

import importlib
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path

import click
import pytest
import torch

from objrec.checkpoint import load_model
from objrec.cli import main
from objrec.cli.output import SentenceHandler

from .conftest import COLOURS, make_class_folder, make_image
from .test_checkpoint import flipped
from .test_cli import alike_split, imported_by, listing, run, stop_at_call
from .test_split import no_longer_needed_warning


def test_split_s_photo_folder_is_photos_and_every_count_has_a_metavar(capsys):
    """split's usage said SRC where README.md, docs/commands.md and check's own notes say PHOTOS
    (`objrec split PHOTOS data`); --topk, --worst, --folds, --plot-max, -n, --num-workers and
    --port showed as INTEGER RANGE, --days and --diversity as FLOAT RANGE, beside --images N
    (review60b F23): each has a metavar that says what it is."""
    from objrec.cli import cli

    code, out, _ = run(capsys, "split", "--help")
    assert code == 0 and "Usage: objrec split [OPTIONS] PHOTOS OUT" in out
    assert "Split PHOTOS (one sub-folder per class)" in out and "SRC" not in out
    ranges = []
    for name, command in cli.commands.items():
        ctx = click.Context(command, info_name=name)
        for option in command.params:
            if isinstance(option, click.Option) and "RANGE" in option.make_metavar(ctx):
                ranges.append((name, option.opts[0]))
    assert ranges == []
    code, out, _ = run(capsys, "predict", "--help")
    assert code == 0 and "--topk N " in out and "--plot-max N " in out


def test_split_add_and_audit_name_their_ratios_and_seed_as_the_cli_names_values(capsys):
    """split --help showed `--ratios FLOAT...` and `--seed INTEGER` (add's and audit's --seed
    too), click's type names, beside `--burst-seconds SECONDS` and `--folds N` (cli62)."""
    from objrec.cli import cli

    typed = []
    for name in ("split", "add", "audit"):
        ctx = click.Context(cli.commands[name], info_name=name)
        for option in cli.commands[name].params:
            metavar = option.make_metavar(ctx) if isinstance(option, click.Option) else ""
            if option.name in ("ratios", "seed") and ("FLOAT" in metavar or "INTEGER" in metavar):
                typed.append((name, option.opts[0], metavar))
    assert typed == []
    code, out, _ = run(capsys, "split", "--help")
    assert code == 0 and "--ratios SHARE...  " in out and "--seed N  " in out


def test_split_s_help_says_the_groups_file_s_columns_and_the_readme_its_words(capsys):
    """newcomer63b: split hinted `see --groups` for camera traps, and `split --help` said only
    `--groups FILE  Keep each group a CSV file names in one split.`: the file's columns were in
    docs/commands.md alone. The help's line says them; the README's word list says what EXIF
    and a perceptual hash are, which split's lines name."""
    code, out, _ = run(capsys, "split", "--help")
    said = " ".join(out.split())
    assert code == 0 and "Keep each group in one split: a CSV of columns file and group." in said
    words = (
        (Path(__file__).parents[1] / "README.md").read_text().split("## The words objrec uses")[1]
    )
    assert "- **EXIF**: " in words and "- **perceptual hash**: " in words


def test_each_split_setting_s_help_is_its_field_s():
    """split's --groups help was written out again in the command, and drifted from what
    grouping reads (it said comma or semicolon; a tab-separated file is read too, and so is a
    Windows path): each SplitConfig option's help starts with its field's first sentence
    (docs/development.md, "A setting of another command")."""
    from dataclasses import fields

    from objrec.cli.data import split
    from objrec.cli.options import option_help
    from objrec.cli.sections import first_sentences
    from objrec.config import SplitConfig

    spelled = {"mode": "copy"}
    helps = {param.name: getattr(param, "help", "") for param in split.params}
    for f in fields(SplitConfig):
        name = spelled.get(f.name, f.name)
        assert helps[name].startswith(first_sentences(option_help(f.name, cls=SplitConfig))), name
    assert "comma, semicolon or tab separated" in helps["groups"]


def test_check_says_what_split_and_train_do_with_an_empty_class_folder(capsys, tmp_path):
    """A teacher's check named an empty class folder as unusable (exit 1), and split then went
    on without it: check says so, and in a split folder that train refuses it."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    (photos / "empty").mkdir()
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert code == 1 and "put photos of the class in it (`objrec split` leaves it out, " in said
    assert "with a warning)" in said
    # review53b nit 15: the summary said "1 unusable folder", which split "is not left out so
    # quietly" past, where the line said split leaves it out: both say what split does, as of
    # an unusable file (exit 1 for both: something is unusable, and split goes on)
    assert (
        "6 image files in 2 classes: 6 readable, 0 unusable; 1 empty class folder that split "
        in (said)
    )
    assert said.endswith(
        "what next: split and train leave the 1 empty class folder out, with a warning naming it, "
        "and go on (split --strict and train --strict refuse it instead)"
    )
    shutil.copytree(photos, tmp_path / "data" / "train")
    shutil.copytree(photos, tmp_path / "data" / "valid")
    code, out, _ = run(capsys, "check", tmp_path / "data")
    said = " ".join(out.split())
    assert code == 1 and "train/empty: class folder holds no images: delete it, or put " in said
    assert "photos of the class in it (`objrec train` refuses it)" in said
    assert "`objrec split` leaves it out" not in said


@pytest.mark.parametrize("inside", [False, True])
def test_split_refuses_a_cache_dir_that_is_or_lies_inside_its_source(
    capsys, image_folder, tmp_path, inside
):
    """review60b F1: `split SRC OUT --cache-dir SRC` exited 0 and wrote store/, facts.sqlite and
    facts.lock into SRC, which split promises only to read (the next check called store/ an
    empty class). A cache folder equal to or inside SRC is refused as an --out there is."""
    before = listing(image_folder)
    cache = image_folder / "cache" if inside else image_folder
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data", "--cache-dir", cache)
    said = " ".join(err.split())
    where = "lies inside the source folder" if inside else "is the source folder"
    assert code == 2 and f"--cache-dir {cache} {where}" in said, err
    assert said.endswith("(see objrec split --help)")
    assert listing(image_folder) == before and not (tmp_path / "data").exists()


def test_check_with_a_cache_folder_it_cannot_make_reads_on_keeping_nothing(
    capsys, caplog, image_folder, tmp_path, monkeypatch
):
    """review60b F2: check, which only reads the cache, warned that the cache folder could not be
    written and that it would go on keeping nothing, then failed (exit 1) making that folder to
    keep its decodes in. It keeps none there now: said once, and the check ends as it would."""
    (tmp_path / "notes.txt").write_text("mine")
    cache = tmp_path / "notes.txt" / "cache"
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    with caplog.at_level(logging.WARNING, logger="objrec"):
        code, out, err = run(capsys, "check", image_folder)
    assert code == 0 and not err, err
    assert caplog.messages == [
        f"the cache folder {cache} cannot be written: files its file index does not know are "
        "hashed, and nothing is kept there"
    ]
    assert "36 readable, 0 unusable" in out and (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["model.safetensors", "last.safetensors"])
def test_check_of_a_damaged_model_left_alone_says_what_is_wrong_with_it(
    capsys, tmp_path, trained_run, name
):
    """review60b F19: a folder holding only a cut-short model.safetensors was checked as a folder
    of photos ("has no class sub-folders"), where beside the run's records check said the model
    was damaged. A model or training state of those names alone is a run's, checked as one."""
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / name).write_bytes((trained_run / "model.safetensors").read_bytes()[:1000])
    code, out, err = run(capsys, "check", alone)
    said = " ".join((out + err).split())
    assert code == 1 and "class sub-folders" not in said, said
    assert f"unreadable {alone / name} is cut short: it holds 1,000 bytes" in said, said


@pytest.mark.slow
def test_check_on_a_split_folder_counts_classes_and_images_per_split(capsys, split_dir):
    code, out, _ = run(capsys, "check", split_dir)
    assert code == 0
    assert (
        "36 image files in 3 classes (train 18, valid 9, test 9): 36 readable, 0 unusable"
        in " ".join(out.split())
    )
    code, out, _ = run(capsys, "check", split_dir, "--json")
    result = json.loads(out)
    assert (result["n_classes"], result["splits"]) == (3, {"train": 18, "valid": 9, "test": 9})


@pytest.mark.slow
def test_check_says_a_class_folder_renamed_inside_a_split_folder(capsys, split_dir, image_folder):
    """A user renamed dolphin dolphins in train/, valid/ and test/ of a split folder: `check`
    said all was fine, though manifest.csv still listed the 45 files under dolphin.
    It says so, where the files are now, and how to rename a class."""
    for split in ("train", "valid", "test"):
        (split_dir / split / "green").rename(split_dir / split / "verde")
    code, out, _ = run(capsys, "check", split_dir, "--json")
    (found,) = [p for p in json.loads(out)["problems"] if p["kind"] == "manifest_class_gone"]
    assert code == 0 and found["message"].startswith(
        "manifest.csv lists 12 images of class green, which has no folder in any split (its "
        "files are in verde now: renamed by hand?): train reads the class folders"
    )
    assert found["message"].endswith(  # the photo folder split.json records (review65b L3)
        f"`objrec split {image_folder.resolve()} {split_dir} --force --like {split_dir}`"
    )


@pytest.mark.slow
def test_check_counts_no_file_of_a_class_folder_renamed_in_one_split_as_unlisted(capsys, split_dir):
    """review65b L3: test/ant renamed test/antt gave unknown_class and missing_class (right), and
    also counted its files as manifest_unlisted, "put there by hand? move them out of the split
    folder and add them": wrong advice for a rename, which its own line says already."""
    (split_dir / "test" / "green").rename(split_dir / "test" / "gren")
    code, out, _ = run(capsys, "check", split_dir, "--json")
    kinds = {p["kind"] for p in json.loads(out)["problems"]}
    assert code == 1 and {"unknown_class", "missing_class"} <= kinds
    assert "manifest_unlisted" not in kinds, out


@pytest.mark.slow
def test_check_says_an_image_moved_by_hand_between_class_folders_of_a_split_folder(
    capsys, split_dir, image_folder
):
    """`mv split/test/crab/x.jpg split/test/ibis/` went unremarked by check, while manifest.csv
    still listed the photo as a crab. check notes it, with what reads the
    manifest's class and how to record the move; an image left where it was is not named."""
    moved = sorted((split_dir / "test" / "green").iterdir())[0]
    now = f"test/red/green_{moved.name}"  # renamed as it was moved: found by its bytes
    moved.rename(split_dir / now)
    code, out, _ = run(capsys, "check", split_dir, "--json")
    (found,) = [p for p in json.loads(out)["problems"] if p["kind"] == "manifest_class_moved"]
    assert code == 0 and found["message"].startswith(
        "1 image is in another class folder than manifest.csv lists it under (moved by hand?): "
        f"{now} (green in manifest.csv); train, evaluate, add and audit take an "
        "image's class from its folder"
    )
    assert found["message"].endswith(  # the photo folder split.json records (review65b L3)
        f"`objrec split {image_folder.resolve()} {split_dir} --force --like {split_dir}`"
    )
    assert "manifest_unlisted" not in {p["kind"] for p in json.loads(out)["problems"]}  # listed
    code, out, _ = run(capsys, "check", split_dir)
    assert f"{now} (green in manifest.csv)" in " ".join(out.split())


def test_check_names_every_file_relative_to_the_folder_checked(capsys, tmp_path, monkeypatch):
    """check printed ``PHOTOS/lamp/image_0004.jpg: the same bytes as lamp/lamp_dup.jpg``: the
    problem's file relative to the working folder, the ones its message names relative to the
    folder checked. Both are now relative to the folder checked, however it was given; a problem
    of the folder itself names it as given."""
    photos = make_class_folder(tmp_path / "PHOTOS", per_class=3, classes=("red", "green"))
    shutil.copy(photos / "red" / "img_00.jpg", photos / "red" / "img_00_dup.jpg")
    (photos / "red" / "notes.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    for given in ("PHOTOS", str(photos)):
        code, out, _ = run(capsys, "check", given)
        lines = [line for line in out.splitlines() if line.startswith(("identical", "ignored"))]
        assert code == 0 and lines == [
            "ignored_file red/notes.txt: not an image file, ignored",
            "identical_files red/img_00_dup.jpg: the same bytes as red/img_00.jpg: one picture "
            "trained on as 2; delete the copies unless that is meant",
        ], out
    (photos / "red").rename(tmp_path / "red")
    code, out, _ = run(capsys, "check", "PHOTOS")
    assert code == 1 and "one_class PHOTOS: only one class (green)" in out


def test_check_and_split_refuse_class_folders_differing_only_in_case(
    capsys, tmp_path, image_folder, known_facts
):
    """red and Red, one folder on macOS and Windows: split refuses them (naming --exclude, the
    flag), and check says so first, exiting 1, where it found nothing wrong."""
    shutil.copytree(image_folder / "red", image_folder / "Red")
    code, out, _ = run(capsys, "check", image_folder, "--json")
    problems = [(p["kind"], Path(p["path"]).name) for p in json.loads(out)["problems"]]
    copies = [p for p in problems if p[0] == "identical_files"]  # Red's images are red's
    assert code == 1 and [p for p in problems if p not in copies] == [("alike_classes", "red")]
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 1 and "class folders 'Red' and 'red'" in err and "with --exclude" in err
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_split_names_empty_and_small_classes_and_says_what_to_do(
    capsys, tmp_path, image_folder, known_facts
):
    (image_folder / "empty").mkdir()
    (image_folder / "tiny").mkdir()
    (image_folder / "red" / "img_00.jpg").rename(image_folder / "tiny" / "only.jpg")
    code, out, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 0 and "split 4 classes" in out
    assert "left out class folders without images (--strict refuses them): empty" in err
    assert "fewer than 3 distinct images cannot appear in every split" in err and "tiny" in err
    code, _, err = run(capsys, "split", image_folder, tmp_path / "strict", "--strict")
    assert code == 1 and "empty holds no images" in err
    code, out, _ = run(capsys, "check", image_folder, "--json")
    problems = [(p["kind"], Path(p["path"]).name) for p in json.loads(out)["problems"]]
    assert code == 1 and problems == [("empty_class", "empty"), ("few_images", "tiny")]


@pytest.mark.slow
def test_split_names_a_killed_splits_staging_folder_in_the_clis_terms(
    capsys, tmp_path, image_folder
):
    """The library names the call that replaces a killed split's leftovers as Python spells it;
    `objrec split` says the command line instead, as it did before the library said it once."""
    out = tmp_path / "data"
    killed = out / ".objrec-split-1a2b3c4d"
    (killed / "train" / "red").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")  # OUT holds more than the killed split's folder
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    handler = SentenceHandler()  # as `objrec` installs it (pytest's own handler comes first here)
    log = logging.getLogger("objrec.split.out")
    log.addHandler(handler)
    try:
        code, _, err = run(capsys, "split", image_folder, out)
    finally:
        log.removeHandler(handler)
    command = f"objrec split {image_folder.resolve()} {out.resolve()} --force"
    assert code == 1 and f"keep it until `{command}` has replaced" in " ".join(err.split())
    assert "split_folder(" not in err


def test_split_into_a_folder_of_only_a_killed_splits_staging_folder_says_so_once(
    capsys, tmp_path, image_folder
):
    """`objrec split SRC OUT --strict`, OUT holding only a killed split's staging folder, warned
    "keep it until `objrec split SRC OUT --force` has replaced what that split left", then
    refused "OUT is not empty: choose another folder or pass --force": one sentence now says the
    folder is not needed and both ways on."""
    out = tmp_path / "data"
    killed = out / ".objrec-split-1a2b3c4d"
    (killed / "train" / "red").mkdir(parents=True)
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    handler = SentenceHandler()  # as `objrec` installs it (pytest's own handler comes first here)
    log = logging.getLogger("objrec.split.out")
    log.addHandler(handler)
    try:
        code, _, err = run(capsys, "split", image_folder, out, "--strict")
    finally:
        log.removeHandler(handler)
    said = " ".join(err.split())
    assert code == 1 and said.count("error:") == 1 and "warning" not in said, said
    assert said == (
        f"error: {out} holds only {killed.name}, left by a split that was killed before moving "
        f"anything in: nothing in it is needed; delete it (rm -r {killed}) to split into {out}, "
        "or pass --force to split beside it"
    )
    assert killed.is_dir() and [p.name for p in out.iterdir()] == [killed.name]


@pytest.mark.slow
def test_split_names_unreadable_files_once_and_strict_refuses_them(
    capsys, tmp_path, image_folder, known_facts
):
    (image_folder / "red" / "broken.jpg").write_bytes(b"not a picture")
    code, out, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 0 and "split 3 classes" in out
    sentence = "left out 1 image file that cannot be read (--strict refuses them): red/broken.jpg"
    assert f"warning: {sentence}" in err  # as train, evaluate and predict print theirs
    assert err.count("cannot be read") == 1  # the library's logged sentence is not shown too
    assert not list((tmp_path / "data").rglob("broken.jpg"))
    code, out, err = run(capsys, "split", image_folder, tmp_path / "data2", "--json")
    assert json.loads(out)["unreadable_files"] == ["red/broken.jpg"]
    assert [w for w in json.loads(out)["warnings"] if "cannot be read" in w] == [sentence]
    assert f"warning: {sentence}" in " ".join(err.split())  # on stderr too (docs/json.md)
    code, _, err = run(capsys, "split", image_folder, tmp_path / "strict", "--strict")
    assert code == 1 and "red/broken.jpg" in err and not (tmp_path / "strict").exists()


@pytest.mark.slow
def test_check_on_a_full_cache_disk_says_so_and_how_to_free_it(capsys, tmp_path, monkeypatch):
    """SQLite's "database or disk is full" in the cache folder (the feature store's file index,
    which check hashes through, or the image facts store): the CLI names the cache folder, its
    full disk, `objrec cache --prune` and OBJREC_CACHE or --cache-dir (check's option since 7
    December 2026), exit 1; never "an error objrec did not expect"."""
    from .test_store import sqlite_full

    photos = make_class_folder(tmp_path / "photos", per_class=2, classes=("red", "green"))
    cache = tmp_path / "cache"
    monkeypatch.setenv("OBJREC_CACHE", str(cache))
    with sqlite_full(monkeypatch, pages=1):
        code, out, err = run(capsys, "check", photos)
    said = " ".join(err.split())
    assert code == 1 and out == ""
    assert said.startswith(f"error: the disk of the cache folder {cache} is full: the ")
    assert (  # the feature store's file index, its first write since check hashes through it
        f"{cache / 'store' / 'index.sqlite'} could not be written (database or disk is full); "
        f"free some space on it (`objrec cache --prune --cache-dir {cache} --days 30` forgets "
        "what no command used for 30 days"
    ) in said
    assert said.endswith("or point OBJREC_CACHE or --cache-dir at a folder on a disk with room")
    assert "did not expect" not in said


@pytest.mark.slow
def test_split_says_its_warnings_before_the_summary_they_qualify(
    capsys, monkeypatch, tmp_path, image_folder, known_facts
):
    """Both streams in one terminal read "split 3 classes ...: train 19, ...", the duplicates'
    and bursts' notes, and only then "warning: left out 1 image file that cannot be read": the
    warning came after the counts it explains, as a split's library warnings (logged as it
    works) never do. Every warning now comes before the summary, which ends the output."""
    (image_folder / "red" / "broken.jpg").write_bytes(b"not a picture")
    shutil.copy(image_folder / "blue" / "img_00.jpg", image_folder / "blue" / "copy.jpg")
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # one stream, as a terminal shows both
    code = main(["split", str(image_folder), str(tmp_path / "data")])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    said = ("warning: left out 1 image file that cannot be read", "split 3 classes", "1 duplicate")
    starts = [next(i for i, line in enumerate(lines) if line.startswith(s)) for s in said]
    assert code == 0 and starts == sorted(starts), lines
    assert lines[-2].startswith(  # on two lines, the last of the output
        "no photo says when it was taken (EXIF), so rapid series"
    )


@pytest.mark.slow
def test_check_totals_add_up_and_an_empty_class_folder_is_not_a_class(capsys, tmp_path):
    """'283 images of 8 classes: 281 readable, 3 unusable': the empty class folder counted as a
    class, and as one of the unusable beside the undecodable files (281 + 3 != 283)."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    (photos / "empty").mkdir()
    (photos / "red" / "bad.jpg").write_bytes(b"not a picture")
    shutil.copy(photos / "green" / "img_00.jpg", photos / "green" / os.fsdecode(b"caf\xe9.jpg"))
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert (
        code == 1
        and "8 image files in 2 classes: 6 readable, 2 unusable; 1 empty class folder that "
        "split leaves out"
        in said
    )
    code, out, _ = run(capsys, "check", photos, "--json")
    found = json.loads(out)
    assert (found["images"], found["readable"], found["n_unreadable"]) == (8, 6, 2)
    assert (found["n_classes"], found["unusable_folders"], found["unusable"]) == (2, 1, 3)
    assert found["images"] == found["readable"] + found["n_unreadable"]
    assert found["unusable"] == len([p for p in found["problems"] if p["unusable"]])
    data = tmp_path / "data"
    for split in ("train", "valid"):
        shutil.copytree(photos, data / split)
    code, out, _ = run(capsys, "check", data, "--json")
    found = json.loads(out)
    assert found["splits"] == {"train": 8, "valid": 8} and found["images"] == 16
    assert (found["readable"], found["n_unreadable"], found["unusable_folders"]) == (12, 4, 2)


def test_check_s_summary_writes_every_count_with_thousands_separators(tmp_path):
    """check wrote its split and readable counts as '4059' and '6179' (its first count, through
    plural, as '7,179'), where explore writes every count as '6,179'."""
    from objrec.check import CheckResult, Problem
    from objrec.cli.data import check_summary

    splits = {"train": 4059, "valid": 1560, "test": 1560}
    result = CheckResult(tmp_path, images=7179, readable=6179, n_classes=100, splits=splits)
    result.problems = [Problem(f"{i}.jpg", "unreadable", "cannot read", True) for i in range(1000)]
    assert check_summary(result) == (
        "7,179 image files in 100 classes (train 4,059, valid 1,560, test 1,560): 6,179 readable, "
        "1,000 unusable"
    )
    from objrec.cli.data import check_next  # a user read exit 1 as "fix them first"

    assert check_next(result) == (
        "what next: train leaves the 1,000 unusable files out, with a warning naming them, and "
        "goes on (train --strict refuses to start while any exist)"
    )
    result.splits = {}
    assert check_next(result).startswith("what next: split and train leave the 1,000 unusable")
    assert check_next(result).endswith("(split --strict and train --strict refuse them instead)")
    result.problems[0].kind = "bad_name"  # split --strict refuses those too (review63a L2)
    assert check_next(result).endswith("(split --strict and train --strict refuse them instead)")


def test_check_next_promises_no_going_on_past_an_unusable_folder(tmp_path):
    """A class folder of one class and a damaged photo: check's last line said split and train
    'go on' without the photo, where train refuses the folder (one class); and 'with a warning
    naming them' of one file. The folder's own line says what it stops."""
    from objrec.check import CheckResult, Problem
    from objrec.cli.data import check_next

    result = CheckResult(tmp_path, images=8, readable=7, n_classes=1)
    result.problems = [Problem("a/bad.jpg", "unreadable", "cannot read", True)]
    assert check_next(result) == (
        "what next: split and train leave the 1 unusable file out, with a warning naming it, and "
        "go on (split --strict and train --strict refuse it instead)"
    )
    result.problems.append(Problem(str(tmp_path), "one_class", "train refuses it", True))
    said = check_next(result)
    assert "go on" not in said and said.endswith(
        "; the unusable folder is another matter (its line above)"
    )
    result.problems.append(Problem(str(tmp_path / "b"), "empty_class", "no images", True))
    said = check_next(result)  # the empty class folder is left out as the file is: not "2"
    assert "leave the 1 unusable file and the 1 empty class folder out, with a warning" in said
    assert said.endswith("; the unusable folder is another matter (its line above)")


@pytest.mark.slow
def test_check_s_exit_codes_are_said_in_its_help(capsys, tmp_path):
    """A user saw exit 1 for one truncated photo, which split and train just leave out: check's
    help said only 'Exits with 1 when anything is unusable'. It says each code now: 0 nothing
    unusable, 1 something (files left out by split and train), 2 a wrong command line; each in a
    sentence of its own (review60b F24: "with 0 when ...; 1 when something is (unusable files:
    split and train leave them out and go on, the last line says, as split does an empty class
    folder; another unusable folder: its line says what it stops), or ..." was hard to parse)."""
    photos = make_class_folder(tmp_path / "photos", per_class=3)  # 3 a class: split gives valid one
    assert run(capsys, "check", photos)[0] == 0
    (photos / "red" / "cut.png").write_bytes((photos / "red" / "img_01.png").read_bytes()[:200])
    code, out, _ = run(capsys, "check", photos)
    assert code == 1 and "split and train leave the 1 unusable file out" in " ".join(out.split())
    code, _, err = run(capsys, "check", tmp_path / "missing")
    assert code == 2 and "missing" in err
    said = " ".join(run(capsys, "check", "--help-all")[1].split())
    sentences = re.split(r"(?<=[.:]) ", said[said.index("The exit status") :])
    assert sentences[1].startswith("0 when nothing is unusable (notes do not stop split")
    assert sentences[2].startswith("1 when something is unusable, or DATA cannot be read:")
    assert "split and train leave unusable files and empty class folders out" in said
    assert "2 when the command line is wrong (DATA missing, say): nothing is checked." in said
    assert "(" not in sentences[3]  # no clause in brackets holding clauses of its own


def test_check_of_a_folder_split_refuses_says_so_not_that_split_goes_on(capsys, tmp_path):
    """review60b F20: a/x.jpg unreadable beside b/one.jpg: check ended "what next: split and
    train leave the 1 unusable file out, with a warning naming it, and go on", and its folder note
    said --ratios 0.7 0.15 0.15 would train on more of it, where split refused the folder ("no
    image would go to valid"). It says split refuses it as it stands, and to add photos."""
    photos = make_class_folder(tmp_path / "photos", per_class=1)
    (photos / "red" / "img_00.png").write_bytes(b"not an image")
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert code == 1 and "go on" not in said and "--ratios" not in said
    assert f"few_images {photos}: `objrec split` refuses this folder as it stands" in said
    assert said.endswith(
        "what next: add photos; split refuses this folder as it stands (its note above)"
    )
    big = make_class_folder(tmp_path / "more", per_class=4)  # valid gets one of each: no refusal
    (big / "red" / "img_00.png").write_bytes(b"not an image")
    code, out, _ = run(capsys, "check", big)
    assert code == 1 and "refuses this folder" not in out and "and go on" in " ".join(out.split())


def test_check_s_help_names_the_export_among_what_fails_a_run(capsys):
    """check --help said a run fails "when a file is damaged, unreadable or describes another
    model", where docs/commands.md (and check) also fail one missing from an export."""
    said = " ".join(run(capsys, "check", "--help-all")[1].split())
    assert "its export (objrec export RUN) against the SHA-256 its model.json records" in said
    assert "unreadable, missing from an export (its script excepted: yours to adapt) or" in said


def test_check_counts_a_folder_once_when_it_is_both_empty_and_unknown_to_train(capsys, split_dir):
    """An empty valid/purple that train lacks is two problems (empty_class, unknown_class) of one
    folder: check said '2 unusable folders' for it."""
    (split_dir / "valid" / "purple").mkdir()
    code, out, _ = run(capsys, "check", split_dir)
    said = " ".join(out.split())
    assert code == 1 and said.count("valid/purple") == 2 and "0 unusable; 1 unusable folder" in said
    found = json.loads(run(capsys, "check", split_dir, "--json")[1])
    assert (found["n_unreadable"], found["unusable_folders"], found["unusable"]) == (0, 1, 2)


def test_check_names_an_unreadable_file_once_and_counts_in_english(capsys, tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=1, classes=("red",))
    (photos / "red" / "bad.jpg").write_bytes(b"not a picture")
    code, out, _ = run(capsys, "check", photos)
    out = " ".join(out.split())
    assert code == 1 and out.count("bad.jpg") == 1 and "bad.jpg: cannot read image" in out
    assert "what next: add photos; split refuses this folder as it stands" in out  # 1 photo
    assert "2 image files in 1 class: 1 readable, 1 unusable; 1 unusable folder" in out  # one class
    (photos / "red" / "bad.jpg").unlink()
    code, out, _ = run(capsys, "check", photos)
    assert code == 1 and "1 image file in 1 class: 1 readable, 0 unusable; 1 unusable folder" in out


@pytest.mark.slow  # an explore of the sample's 120 images
def test_explore_of_the_sample_says_where_it_wrote_not_beside_data(capsys, tmp_path, monkeypatch):
    """docs63: `objrec explore` of the built-in sample (`objrec demo --help` names its folder)
    wrote into the current folder, as its note said, then ended "CSVs and plots in
    caltech101_mini-explore (beside DATA; --out for another)": it was not beside DATA, which is
    inside objrec's package. The last line names the folder without that word."""
    from objrec.cli.output import SAMPLE

    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "explore", SAMPLE)
    assert code == 0 and (tmp_path / "caltech101_mini-explore" / "counts.csv").is_file()
    assert "writing to caltech101_mini-explore in the current folder" in " ".join(err.split())
    assert out.splitlines()[-1] == "CSVs and plots in caltech101_mini-explore"


@pytest.mark.slow  # 1.7-2.3 s on 2 loaded cores (two explores)
def test_explore_of_many_classes_lists_those_with_the_fewest_images(capsys, tmp_path, monkeypatch):
    """explore of 500 class folders printed a 506-line table (the summary scrolled away); past
    ``EXPLORE_ROWS`` classes it lists those with the fewest images and counts the rest, which
    counts.csv and the plot hold (here 4 classes past a limit of 3, the fewest 2 listed)."""
    import objrec.cli.data

    monkeypatch.setattr(objrec.cli.data, "EXPLORE_ROWS", 3, raising=False)
    monkeypatch.setattr(objrec.cli.data, "EXPLORE_FEWEST", 2, raising=False)
    photos = make_class_folder(tmp_path / "photos", per_class=3)
    (make_class_folder(tmp_path / "more", per_class=2, classes=("blue",)) / "blue").rename(
        photos / "cyan"
    )
    (photos / "red" / sorted(os.listdir(photos / "red"))[0]).unlink()
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "explore")
    rows = [line.split()[1] for line in out.splitlines() if line.startswith("│")]
    assert code == 0 and rows == ["cyan", "red"]  # fewest first (2 images each), by name
    assert "The 2 classes with the fewest images" in out
    assert (  # the largest, which a table of the fewest hides (review65b M4)
        "and 2 more classes in counts.csv, the largest blue with 3 images; every class in "
        "images_per_class.png"
    ) in out
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "e2", "--json")
    assert code == 0 and len(json.loads(out)["counts"]) == 4  # --json keeps every class
    assert json.loads(out)["unreadable_files"] == []  # as split's, add's and audit's lists


def test_explore_names_unreadable_files_as_split_and_check_do(capsys, tmp_path, known_facts):
    """review65b M3: explore's --json `unreadable_files` were "PHOTOS/red/broken.jpg: cannot
    read image (...)" while split's and check's are "red/broken.jpg": one name, two shapes.
    They are paths relative to DATA now, the reasons under `unreadable_reasons`; its lines and
    warnings name files relative to DATA too."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    (photos / "red" / "broken.jpg").write_bytes(b"not a picture")
    (photos / "empty").mkdir()
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "e", "--json")
    found = json.loads(out)
    assert code == 0 and found["unreadable_files"] == ["red/broken.jpg"]
    assert found["unreadable_reasons"]["red/broken.jpg"].startswith("cannot read image")
    assert any(w.endswith("every problem): empty") for w in found["warnings"]), found["warnings"]
    code, out, _ = run(capsys, "split", photos, tmp_path / "data", "--json")
    assert code == 0 and json.loads(out)["unreadable_files"] == ["red/broken.jpg"]
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "e2")
    assert code == 0 and "unreadable: red/broken.jpg: cannot read image" in out


def test_explore_of_a_split_folder_says_each_split_s_images_and_the_largest_class(
    capsys, tmp_path, split_dir, monkeypatch
):
    """review65b M4: explore of a split folder said "6,179 image files in 100 classes" and the 10
    classes of fewest images, but neither each split's images (as check says them) nor the
    largest class (airplanes, 600): the imbalance the table of the fewest hides."""
    import objrec.cli.data

    (split_dir / "test" / "red" / "broken.jpg").write_bytes(b"not a picture")
    per_split = {s: len(list((split_dir / s).glob("*/*"))) for s in ("train", "valid", "test")}
    code, out, _ = run(capsys, "explore", split_dir, "--out", tmp_path / "e")
    said = " ".join(out.split())
    totals = ", ".join(f"{s} {n}" for s, n in per_split.items())
    assert code == 0 and f"image files in 3 classes ({totals}):" in said, said
    code, out, _ = run(capsys, "check", split_dir)
    assert f"in 3 classes ({totals}):" in " ".join(out.split())  # as check counts them
    monkeypatch.setattr(objrec.cli.data, "EXPLORE_ROWS", 2, raising=False)
    monkeypatch.setattr(objrec.cli.data, "EXPLORE_FEWEST", 1, raising=False)
    (split_dir / "train" / "green" / sorted(os.listdir(split_dir / "train" / "green"))[0]).unlink()
    code, out, _ = run(capsys, "explore", split_dir, "--out", tmp_path / "e2")
    counts = {s: len(list((split_dir / s / "blue").glob("*"))) for s in ("train", "valid", "test")}
    each = "/".join(map(str, counts.values()))
    assert code == 0 and (
        f"and 2 more classes in counts.csv, the largest blue with {sum(counts.values())} images "
        f"({each} in train/valid/test)"
    ) in " ".join(out.split()), out


def test_check_on_one_class_folder_says_so_and_fails(capsys, tmp_path):
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red",))
    code, out, err = run(capsys, "check", photos / "red")
    assert code == 1 and "file outside any class folder" not in out
    said = f"{photos / 'red'} has no class sub-folders (it holds 3 images directly): give the "
    assert f"{said}folder that contains one sub-folder per class" in " ".join(err.split())
    code, out, err = run(capsys, "split", photos / "red", tmp_path / "data")  # as check says
    assert code == 1 and f"{said}folder that contains" in " ".join(err.split())


def test_check_wraps_its_lines_on_a_terminal_only(capsys, tmp_path, monkeypatch):
    """review65b L5: check's lines (up to 420 characters) printed as one line each on a terminal
    too, cut mid-word by it, where evaluate's and the warnings come wrapped at 96 characters.
    On a terminal they are wrapped now, the later lines indented; on a pipe one line each, for
    grep."""
    import io

    from rich.console import Console

    import objrec.cli.data

    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    jpeg = io.BytesIO()
    make_image((200, 30, 30), size=(64, 64)).save(jpeg, "JPEG")
    (photos / "red" / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    code, out, _ = run(capsys, "check", photos)
    (line,) = [line for line in out.splitlines() if line.startswith("unreadable")]
    assert code == 1 and len(line) > 96 and line.endswith("download leaves it)")  # a pipe
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, soft_wrap=True)
    monkeypatch.setattr(objrec.cli.data, "console", terminal)
    assert main(["check", str(photos)]) == 1
    lines = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue()).splitlines()
    assert max(map(len, lines)) <= 96 and lines[0].startswith("unreadable red/truncated.jpg")
    assert lines[1].startswith("  ") and lines[-1].startswith("  "), lines  # what next, wrapped


def test_check_of_one_class_folder_advises_no_split(capsys, tmp_path):
    """review65b L3: `check one` (one class folder of 8 photos) said one_class, "train refuses
    it", then "most classes have fewer than 11 photos (median 8): ... `objrec split one data70
    --ratios 0.7 0.15 0.15` trains on about 6": "most" of one class, and a split train refuses."""
    photos = make_class_folder(tmp_path / "photos", per_class=8, classes=("red",))
    code, out, _ = run(capsys, "check", photos)
    kinds = [line.split()[0] for line in out.splitlines()]
    assert code == 1 and kinds[0] == "one_class" and "few_images" not in kinds, out


@pytest.mark.slow  # two checks (0.2 s at a load of 14)
def test_check_of_an_empty_folder_or_one_of_a_link_loop_fails_as_split_refuses_it(capsys, tmp_path):
    """check of an empty folder (or one holding only a link loop) said "0 image files in 0
    classes" and exited 0, where split, explore, audit and train refuse it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    looped = tmp_path / "looped"
    looped.mkdir()
    (looped / "lp1").symlink_to(looped / "lp2")
    (looped / "lp2").symlink_to(looped / "lp1")
    for folder in (empty, looped):
        code, out, err = run(capsys, "check", folder)
        assert code == 1 and "0 image files" not in out
        assert f"error: {folder} has no class sub-folders: give the folder" in " ".join(err.split())


def test_check_of_a_run_folder_whose_model_is_gone_says_so(capsys, tmp_path):
    """check of a run folder whose model.safetensors was moved said "RUN has no class sub-folders
    (it holds 1 image directly)", its curves.png; train given it as DATA too."""
    run_folder = tmp_path / "run"
    (run_folder / "eval-test").mkdir(parents=True)
    for name in ("config.json", "summary.json"):
        (run_folder / name).write_text("{}")
    make_image(COLOURS["red"]).save(run_folder / "curves.png")
    said = (
        f"error: {run_folder} is a run folder without its model.safetensors (it holds config.json "
        "and summary.json, which `objrec train` writes beside it): moved or deleted? Put the model "
        "back to use the run, or pass a folder of class sub-folders"
    )
    for args in (["check", run_folder], ["split", run_folder, tmp_path / "data"]):
        code, _, err = run(capsys, *args)
        assert code == 1 and said in " ".join(err.split()), err


@pytest.mark.slow
def test_check_calls_a_folder_laid_out_as_train_val_test_unusable_and_split_refuses_it(
    capsys, tmp_path
):
    """check said of train/ val/ test/ of class folders (no manifest) "36
    readable, 0 unusable", exit 0, with a nested_folder note of each split-named folder, and
    split made classes of them; now one unusable problem, the folder checked, saying what to do,
    as split's refusal does."""
    for split in ("train", "val"):
        make_class_folder(tmp_path / "kg" / split, per_class=2, classes=("red", "green"))
    code, out, _ = run(capsys, "check", tmp_path / "kg", "--json")
    found = json.loads(out)
    said = (
        "laid out as split already: train/ and val/ hold class folders (green, red), not photos: "
        "rename val/ to valid/ and give it to `objrec train` as a split folder, or merge each "
        "class's folders into one folder of class folders and split that"
    )
    unusable = [(p["path"], p["kind"], p["message"]) for p in found["problems"] if p["unusable"]]
    assert code == 1 and unusable == [(".", "already_split", said)]
    assert "nested_folder" not in {p["kind"] for p in found["problems"]}
    code, _, err = run(capsys, "split", tmp_path / "kg", tmp_path / "data")
    assert code == 1 and f"{tmp_path / 'kg'} is {said}" in " ".join(err.split())


@pytest.mark.slow
def test_check_of_a_folder_laid_out_as_train_val_test_names_no_class_train(capsys, tmp_path):
    """check said first that pre/ is laid out as train/ val/ test/, then read train, val and test
    as three classes: "one picture under the classes test, train and val", a few_images note of
    "test, train, val" and "in 3 classes". The rest now reads it as the split folder it is: the
    classes inside the splits, each split's images, a copy across splits a leak."""
    for split in ("train", "val", "test"):
        make_class_folder(tmp_path / "pre" / split, per_class=2, classes=("red", "green"))
    code, out, _ = run(capsys, "check", tmp_path / "pre", "--json")  # each photo in each split
    found = json.loads(out)
    assert code == 1 and found["n_classes"] == 2
    assert found["splits"] == {"train": 4, "val": 4, "test": 4}
    assert {p["kind"] for p in found["problems"]} == {"already_split", "identical_files"}
    copies = [p["message"] for p in found["problems"] if p["kind"] == "identical_files"]
    assert len(copies) == 4 and all(
        "one picture in test, train and val, a leak" in m for m in copies
    )
    code, out, _ = run(capsys, "check", tmp_path / "pre")
    assert code == 1 and "12 image files in 2 classes (train 4, val 4, test 4)" in out
    assert "identical_files 4 groups" in out and "(4 across splits, a leak" in out


@pytest.mark.slow
def test_split_json_carries_every_warning_the_text_gives(
    capsys, tmp_path, image_folder, known_facts
):
    """`split --json` left out the one-class warning and the logged ones (a killed split's
    staging folder): a script saw no warning where a person did."""
    photos = make_class_folder(tmp_path / "one", per_class=12, classes=("red",))
    code, out, _ = run(capsys, "split", photos, tmp_path / "one-data", "--json")
    one_class = (
        "only one class (red): `objrec train` will refuse this split "
        "(a classifier needs at least two classes)"
    )
    assert code == 0 and json.loads(out)["warnings"] == [one_class]
    (image_folder / "empty").mkdir()
    (image_folder / "tiny").mkdir()
    (image_folder / "red" / "img_00.jpg").rename(image_folder / "tiny" / "only.jpg")
    (image_folder / "red" / "broken.jpg").write_bytes(b"not a picture")
    code, _, err = run(capsys, "split", image_folder, tmp_path / "text")
    assert code == 0
    killed = tmp_path / "data" / ".objrec-split-killed"
    killed.mkdir(parents=True)
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json", "--force")
    warnings = json.loads(out)["warnings"]
    assert code == 0 and len(warnings) == 4
    assert warnings[0] == no_longer_needed_warning(killed, tmp_path / "data")  # split done
    assert [w.split(":")[0] for w in warnings[1:]] == [
        "left out class folders without images (--strict refuses them)",
        "left out 1 image file that cannot be read (--strict refuses them)",
        "classes with fewer than 3 distinct images cannot appear in every split (add images or "
        "change --ratios)",
    ]
    assert all(w in err for w in warnings[1:])  # the sentences the text gives, word for word


@pytest.mark.slow
def test_split_names_pictures_found_in_two_classes(capsys, tmp_path, image_folder, known_facts):
    """The same picture in two class folders was found, kept in one split and never said."""
    data = (image_folder / "red" / "img_00.jpg").read_bytes()
    (image_folder / "green" / "stray.jpg").write_bytes(data)
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json")
    result = json.loads(out)
    assert code == 0 and result["cross_class_duplicates"] == [["green/stray.jpg", "red/img_00.jpg"]]
    (warning,) = [w for w in result["warnings"] if "two classes" in w]
    assert warning.endswith(
        "(1 pair; one of the two labels is probably wrong, and each pair was "
        "kept in one split): green/stray.jpg = red/img_00.jpg"
    )
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data", "--force")
    assert code == 0 and "green/stray.jpg = red/img_00.jpg" in " ".join(err.split())


@pytest.mark.slow
def test_split_names_no_two_blank_images_as_one_picture_in_two_classes(
    capsys, tmp_path, image_folder, known_facts
):
    """A black frame in red and a grey card in green were "pictures in two classes that are the
    same or look alike": a flat image's pHash is about 0 whatever its colour. A byte copy of the
    black frame in green is one picture still."""
    from PIL import Image

    Image.new("RGB", (64, 64), (0, 0, 0)).save(image_folder / "red" / "black.png")
    Image.new("RGB", (64, 64), (128, 128, 128)).save(image_folder / "green" / "grey.png")
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json")
    assert code == 0 and json.loads(out)["cross_class_duplicates"] == []
    shutil.copy(image_folder / "red" / "black.png", image_folder / "green" / "stray.png")
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--json", "--force")
    pairs = json.loads(out)["cross_class_duplicates"]
    assert code == 0 and pairs == [["green/stray.png", "red/black.png"]]


@pytest.mark.slow
def test_explore_counts_the_image_files_check_counts_and_says_it_reads_only_headers(
    capsys, tmp_path
):
    """check said '393 image files in 8 classes: 391 readable, 2 unusable', explore '392 images':
    it read a truncated JPEG's size from its whole header, and left out the undecodable one."""
    import io

    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    jpeg = io.BytesIO()
    make_image((200, 30, 30), size=(64, 64)).save(jpeg, "JPEG")
    (photos / "red" / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (photos / "green" / "bad.jpg").write_bytes(b"not a picture")
    code, out, _ = run(capsys, "check", photos)
    assert code == 1 and "8 image files in 2 classes: 6 readable, 2 unusable" in out
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "explore")
    said = " ".join(out.split())
    assert code == 0 and (
        "8 image files in 2 classes: 7 sized from their headers, 1 unreadable (the pixels are not "
        "decoded: `objrec check` decodes every image)" in said
    )


@pytest.mark.slow
def test_explore_s_summary_writes_every_count_with_thousands_separators():
    """It said '6,179 image files in 100 classes: 6179 sized from their headers' (Caltech-101)."""
    import pandas as pd

    from objrec.cli.data import explore_summary
    from objrec.explore import summarise_sizes

    sizes = pd.DataFrame(
        [("all", f"c{i % 2}", f"{i}.jpg", 10, 10) for i in range(1234)],
        columns=["split", "class", "file", "width", "height"],
    )
    said = explore_summary(summarise_sizes(sizes, ["x"] * 1001))
    assert said.startswith("2,235 image files in 2 classes: 1,234 sized from their headers, 1,001")


def test_explore_s_summary_says_each_file_was_sized_without_its_count_again():
    """The demo's explore ended "120 image files in 5 classes: 120 sized from their headers":
    the count twice, where every file was sized."""
    import pandas as pd

    from objrec.cli.data import explore_summary
    from objrec.explore import summarise_sizes

    sizes = pd.DataFrame(
        [("all", f"c{i % 5}", f"{i}.jpg", 10, 10) for i in range(120)],
        columns=["split", "class", "file", "width", "height"],
    )
    assert explore_summary(summarise_sizes(sizes, [])) == (
        "120 image files in 5 classes, each sized from its header (the pixels are not decoded: "
        "`objrec check` decodes every image)"
    )


def test_a_failed_explore_leaves_no_empty_folder(capsys, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    code, _, err = run(capsys, "explore", photos, "--out", tmp_path / "a" / "explore")
    assert code == 1 and "no images" in err and not (tmp_path / "a").exists()


@pytest.mark.slow
def test_splits_duplicate_counts_are_of_one_class_and_add_up(capsys, tmp_path):
    """'46 duplicate files kept together in one split (48 by perceptual hash rather than identical
    bytes)' read as 48 of 46: the 48 counted copies across classes too."""
    from PIL import Image, ImageOps

    from .test_audit import COLOURS as PATTERNED
    from .test_audit import pattern

    photos = tmp_path / "photos"
    for c, (name, colour) in enumerate(PATTERNED.items()):
        (photos / name).mkdir(parents=True)
        for i in range(6):
            pattern(colour, 100 * c + i).save(photos / name / f"{name}_{i}.png")
    original = photos / "red" / "red_0.png"
    shutil.copy(original, photos / "red" / "copy.png")
    ImageOps.mirror(Image.open(original)).save(photos / "red" / "mirrored.jpg", quality=60)
    Image.open(original).resize((40, 35)).save(photos / "green" / "resized.png")
    code, out, _ = run(capsys, "split", photos, tmp_path / "data", "--json")
    found = json.loads(out)
    assert code == 0 and (found["duplicate_files"], found["identical_files"]) == (2, 1)
    assert found["near_duplicate_files"] == 2  # mirrored and resized: across classes too
    code, out, _ = run(capsys, "split", photos, tmp_path / "again")
    said = " ".join(out.split())
    assert code == 0 and (  # the original first, as check names it (copy.png is newer)
        "2 duplicate files kept together in one split with a file of their class (1 identical, "
        "1 alike by perceptual hash), in 1 group: red/red_0.png = red/copy.png and 1 more; "
        "--json lists them all" in said
    )


def test_split_s_line_of_one_duplicate_file_says_its_class():
    """split said '1 duplicate file kept together in one split with a file of their
    class' of the one copy a Caltech-101 class held."""
    from types import SimpleNamespace

    from objrec.cli.data import duplicates_line

    one = SimpleNamespace(
        duplicate_files=1,
        identical_files=0,
        duplicate_groups=[["a/1.jpg", "a/2.jpg"]],
        cross_class_duplicates=[],
    )
    two = SimpleNamespace(
        duplicate_files=2,
        identical_files=1,
        duplicate_groups=[["a/1", "a/2", "a/3"]],
        cross_class_duplicates=[],
    )
    assert "with a file of its class (alike by perceptual hash): a/1.jpg" in duplicates_line(one)
    assert "with a file of their class (1 identical, 1 alike" in duplicates_line(two)


def test_split_s_duplicates_line_leaves_out_a_kind_of_none_and_a_group_of_one():
    """The demo's split said "1 duplicate file kept together in one split with a file of its
    class (0 identical, 1 alike by perceptual hash), in 1 group: ...": a kind of none, and the
    one file's group counted. The one kind is named alone, the groups counted where fewer than
    the files."""
    from types import SimpleNamespace

    from objrec.cli.data import duplicates_line

    pair = ["grand_piano/image_0004.jpg", "grand_piano/image_0006.jpg"]
    one = SimpleNamespace(
        duplicate_files=1, identical_files=0, duplicate_groups=[pair], cross_class_duplicates=[]
    )
    assert duplicates_line(one) == (
        "1 duplicate file kept together in one split with a file of its class (alike by "
        "perceptual hash): grand_piano/image_0004.jpg = grand_piano/image_0006.jpg"
    )
    three = SimpleNamespace(
        duplicate_files=3,
        identical_files=3,
        duplicate_groups=[["a/1", "a/2", "a/3"], ["b/1", "b/2"]],
        cross_class_duplicates=[],
    )
    assert "their class (identical), in 2 groups: a/1 = a/2 and 1 more; b/1 = b/2" in (
        duplicates_line(three)
    )


def test_split_s_duplicates_line_counts_the_pictures_in_two_classes_too():
    """newcomer52 6: check named 3 identical files (copies of lotus photos in water lily), and
    split's line right after said "2 duplicate files ... (0 identical, 2 alike by perceptual
    hash)", the 3 only in a warning on stderr: the line counts them, and is said with no copy
    within a class too."""
    from types import SimpleNamespace

    from objrec.cli.data import duplicates_line

    pairs = [(f"lotus/{i}.jpg", f"water lily/dup_{i}.jpg") for i in range(3)]
    both = SimpleNamespace(
        duplicate_files=2,
        identical_files=0,
        duplicate_groups=[["a/1", "a/2"], ["b/1", "b/2"]],
        cross_class_duplicates=pairs,
    )
    assert duplicates_line(both).endswith(
        "(alike by perceptual hash): a/1 = a/2; b/1 = b/2; and 3 "
        "pictures in two classes, identical or alike, each kept in one split with its copy (the "
        "warning names them)"
    )
    across = SimpleNamespace(duplicate_files=0, cross_class_duplicates=pairs[:1])
    assert duplicates_line(across) == (
        "1 picture in two classes, identical or alike, each kept in one split with its copy (the "
        "warning names them)"
    )


def test_split_s_lines_write_every_count_with_thousands_separators(capsys, tmp_path):
    """1,100 copies of one photo: split said '1,100 duplicate files kept together ... (1100
    identical, 0 alike ...) ... a/0.png = a/copy0.png and 1099 more', two ways in one line."""
    from objrec.cli.data import print_split
    from objrec.split.result import SplitResult

    copies = [f"a/copy{k}.png" for k in range(1100)]
    result = SplitResult(
        out=tmp_path,
        counts={
            "a": {"train": 1107, "valid": 3, "test": 2},
            "b": {"train": 6, "valid": 3, "test": 3},
        },
        duplicate_files=1100,
        identical_files=1100,
        duplicate_groups=[["a/0.png", *copies]],
    )
    print_split(result, None)
    out = capsys.readouterr().out
    assert "train 1,113, valid 6, test 5" in out and "1,100 duplicate files" in out
    assert "(identical), in 1 group" in out and "a/copy0.png and 1,099 more" in out


@pytest.mark.slow
def test_split_names_a_few_duplicate_groups_and_json_all_of_them(capsys, tmp_path):
    """A user's split printed a line of 1,199 characters naming every duplicate group: the text
    counts them and names the first 3 (2 files each), --json lists every one."""
    photos = make_class_folder(tmp_path / "photos", per_class=6)
    for i, original in enumerate(sorted((photos / "red").iterdir())):
        for k in range(3):
            (photos / "red" / f"copy_{i}_{k}{original.suffix}").write_bytes(original.read_bytes())
    code, out, _ = run(capsys, "split", photos, tmp_path / "data")
    line = next(line for line in out.splitlines() if "duplicate files" in line)
    said = " ".join(out.split())
    assert code == 0 and "18 duplicate files kept together" in said and "in 6 groups: " in said
    assert "and 2 more; " in said and "; and 3 more groups; --json lists them all" in said
    assert said.count(" = ") == 3 and len(line) < 400
    assert (
        "no photo says when it was taken (EXIF), so rapid series (shots of one scene within a "
        "second) cannot be found: nothing to do if there are none; else a --groups file keeps "
        "each in one split" in said
    )
    code, out, _ = run(capsys, "split", photos, tmp_path / "json", "--json")
    assert json.loads(out)["untimed_files"] == 36  # PNGs and JPEGs without EXIF
    groups = json.loads(out)["duplicate_groups"]
    assert len(groups) == 6 and sorted(map(len, groups)) == [4] * 6


@pytest.mark.slow
def test_split_names_the_duplicates_it_kept_together_as_they_are_named(capsys, tmp_path):
    """File names are printed as they are, never read as markup: "[b]old.png" stays itself."""
    photos = make_class_folder(tmp_path / "photos", per_class=6)
    original = next((photos / "red").glob("*.png"))
    (photos / "red" / "[b]old.png").write_bytes(original.read_bytes())
    code, out, _ = run(capsys, "split", photos, tmp_path / "data")
    assert code == 0 and "kept together in one split" in out
    assert f"red/[b]old.png = red/{original.name}" in " ".join(out.split()) or (
        f"red/{original.name} = red/[b]old.png" in " ".join(out.split())
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/full"], "full is not empty: choose another folder or pass --force"),
        (["{photos}/out"], "OUT {photos}/out lies inside the source folder {photos}: choose"),
        (["{photos}"], "OUT {photos} is the source folder: choose a folder outside it"),
        (["{tmp}"], "OUT {tmp} holds the source folder {photos}: choose"),
        (["{tmp}/afile/out"], "afile is a file, not a folder"),
        (["{tmp}/out", "--ratios", "0.5", "0.3", "0.3"], "sum to 1"),
        (["{tmp}/out", "--exclude", "mauve"], "does not have: mauve"),
    ],
)
def test_split_refuses_a_bad_out_first_and_reads_no_image(
    capsys, monkeypatch, tmp_path, image_folder, args, message
):
    monkeypatch.setattr(
        "objrec.file_index.hash_file_and_kind", lambda path: pytest.fail(f"read {path}")
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    (tmp_path / "afile").write_text("mine")
    args = [a.format(tmp=tmp_path, photos=image_folder) for a in args]
    message = message.format(tmp=tmp_path, photos=image_folder)
    code, _, err = run(capsys, "split", image_folder, *args)
    usage = "--ratios" in args or "afile" in args[0] or "OUT" in message  # 2: a usage error
    usage = usage or "--exclude" in args  # a class SRC lacks (review60b F3)
    assert code == (2 if usage else 1) and message in " ".join(err.split())
    assert len(err.strip().splitlines()) == 1 and "hashing" not in err, err


def write_state(run: Path) -> Path:
    """``run/last.safetensors``: the training state of its model's head after one epoch, as a
    forced retrain stopped before its model was written leaves it beside a finished run."""
    from objrec.engine import EarlyStopping, FitState
    from objrec.resume_state import training_state, write_training_state
    from objrec.run_files import LAST

    model, meta = load_model(run)
    optimizer = torch.optim.Adam(model.head.parameters())
    fit = FitState(EarlyStopping(5), epoch=1, best_state=model.head.state_dict())
    write_training_state(run / LAST, training_state(model.head, optimizer, fit, meta))
    return run / LAST


@pytest.mark.slow  # a run's model and training state read, twice (0.5 s)
def test_check_of_a_run_says_what_it_found_intact_and_exits_0(capsys, trained_run):
    """`objrec check RUN` refused a run folder as no data folder: a user could not ask whether a
    run was intact. It reads each file as the commands that use it do."""
    state = write_state(trained_run)
    code, out, err = run(capsys, "check", trained_run)
    assert code == 0 and "Traceback" not in err
    lines = [" ".join(line.split()) for line in out.strip().splitlines()]
    assert lines == [
        f"unfinished {state}: a forced retrain stopped after epoch 1, before its model was "
        "written (the model is still the finished run's): continue it with `objrec train "
        f"{trained_run.parent / 'data'} --resume {trained_run}`",
        f"{trained_run}: an interrupted run of 3 classes (tiny_test); SHA-256 as recorded: "
        "model.safetensors and last.safetensors; nothing unusable",
    ]
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["intact"] == ["model.safetensors", "last.safetensors"]
    assert (answer["status"], answer["n_classes"], answer["unusable"]) == ("interrupted", 3, 0)
    assert [(p["path"], p["kind"], p["unusable"]) for p in answer["problems"]] == [
        ("last.safetensors", "unfinished", False)
    ]


@pytest.mark.slow  # a run's model read, twice in a new process (3 s)
def test_check_of_a_run_of_objrecs_own_bodies_imports_no_pytorch(trained_run):
    """`objrec check RUN` imported PyTorch (2 s of its 3.5 s on the default run) to load a model
    whose answer needs no tensor: a sealed model of objrec's own bodies is checked by its bytes'
    SHA-256 and its metadata, the training state too, in a new process importing no heavy
    library; the same answer as in this process, which loaded PyTorch long ago."""
    from objrec.check_run import check_run

    write_state(trained_run)
    assert imported_by(["check", str(trained_run), "--json"], trained_run.parent) == (0, [])
    found = check_run(trained_run)
    assert found.intact == ["model.safetensors", "last.safetensors"] and not found.unusable


@pytest.mark.slow  # a run's model loaded twice (0.6 s)
def test_check_of_a_run_still_loads_a_model_its_seal_cannot_vouch_for(capsys, trained_run):
    """A model written before objrec sealed its files has no SHA-256 to vouch for its weights:
    check loads it as predict does, and a weight renamed since is said not to fit (exit 1), as
    predict would refuse it."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from objrec.checkpoint import SEAL_KEY

    path = trained_run / "model.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        header = {k: v for k, v in handle.metadata().items() if k != SEAL_KEY}
    written = json.loads(header["objrec"])
    del written["objrec_version"]  # as such a model's header had none
    header["objrec"] = json.dumps(written)
    state = load_file(path)
    state["head.renamed"] = state.pop(next(k for k in state if k.startswith("head.")))
    save_file(state, path, metadata=header)
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = [p for p in json.loads(out)["problems"] if p["unusable"]]
    assert code == 1 and problem["kind"] == "unreadable", problem
    assert "does not fit the architecture" in problem["message"], problem


@pytest.mark.slow  # a run's model loaded (0.3 s)
def test_check_of_a_run_reads_its_model_state_and_summary_once(
    capsys, trained_run, split_dir, monkeypatch
):
    """check RUN read the model whole for its metadata, again to load it where its seal cannot
    vouch for its weights, and its header twice more for the seal (review52a M2): a retrain
    landing in between had one model's metadata checked beside another's weights. It still
    opened the model twice more for the run's status (``is_run_folder``, ``run_status``), the
    training state five times (the status, its check, its seal, whether a forced retrain left
    it, the resume command's data folder) and summary.json three times (the status, the state's
    check, the summary's).
    It reads each once; the status, the state's words and its resume command are of those
    bytes."""
    from objrec import check_run as checking

    from .conftest import opens_counted

    monkeypatch.setattr(checking, "vouched_for", lambda *args: False)  # loaded in PyTorch too
    files = ("model.safetensors", "last.safetensors", "summary.json")
    with opens_counted(monkeypatch) as opened:
        code, out, _ = run(capsys, "check", trained_run, "--json")
    assert code == 0 and json.loads(out)["status"] == "finished"
    assert {name: opened[name] for name in files} == dict(zip(files, (1, 0, 1), strict=True))
    assert json.loads(out)["intact"] == ["model.safetensors"]

    write_state(trained_run)  # a forced retrain's, stopped before its model was written
    with opens_counted(monkeypatch) as opened:
        code, out, _ = run(capsys, "check", trained_run)
    assert {name: opened[name] for name in files} == dict.fromkeys(files, 1)
    said = " ".join(out.split())
    assert code == 0 and "a forced retrain stopped after epoch 1" in said
    assert f"objrec train {split_dir.resolve()} --resume {trained_run}" in said
    assert f"{trained_run}: an interrupted run of 3 classes" in said


@pytest.mark.slow  # a run's model loaded twice (0.6 s)
def test_check_of_a_run_loads_a_sealed_model_another_objrec_wrote(capsys, trained_run):
    """review3-47: a sealed model of objrec's own bodies that another objrec wrote (a later one
    whose body has another layer) was checked by its seal alone, "nothing unusable", where
    predict refuses it: the seal vouches for the bytes, not for this objrec's architecture. Its
    ``objrec_version`` is not this one's, so check loads it as predict does."""
    from objrec.checkpoint import read_model_state, save_model_state

    path = trained_run / "model.safetensors"
    state, header, _ = read_model_state(path)
    state["head.renamed"] = state.pop(next(k for k in state if k.startswith("head.")))
    save_model_state(path, state, header | {"objrec_version": "0.0.1"})
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = [p for p in json.loads(out)["problems"] if p["unusable"]]
    assert code == 1 and problem["kind"] == "unreadable", problem
    assert "does not fit the architecture" in problem["message"], problem


@pytest.mark.slow  # a run's files read six times (1 s)
@pytest.mark.parametrize(
    "damage, kind, said",
    [
        ("model", "damaged", "model.safetensors is damaged: its bytes no longer match the SHA-256"),
        (
            "state",
            "damaged",
            "so its training cannot go on from it: start the run over with `objrec train ",
        ),
        (
            "summary",
            "disagrees",
            "summary.json: describes another model: n_classes 4, the model's 3",
        ),
        ("older_summary", "disagrees", "describes another model: n_classes 4, the model's 3"),
        ("config", "disagrees", "config.json: says other settings than the model file carries: lr"),
        ("threshold", "edited", "threshold.json was changed since evaluate kept it"),
        ("evaluation", "other_model", "eval-test: an evaluation of another model than the run's"),
        (
            "classes",
            "unreadable",
            "image_classes.csv: line 2 is not a split, a class and a digest: an `objrec evaluate` "
            "of a later run against this one cannot follow its classes",
        ),
    ],
)
def test_check_of_a_run_names_each_damaged_file_in_one_line(
    capsys, trained_run, damage, kind, said
):
    """A flipped byte of the model or of the resume state, a summary or config of another model,
    a record of the images' classes cut off: one line each, naming the file, and exit 1; a
    threshold edited by hand is used by every command, and an evaluation of another model is
    left out by those that read one: notes (exit 0)."""
    from objrec.kept import keep_threshold

    if damage == "model":
        flipped(trained_run / "model.safetensors", -100)
    elif damage == "state":
        flipped(write_state(trained_run), -100)
    elif damage == "older_summary":  # written before 7 December 2026: its count `classes`
        path = trained_run / "summary.json"
        older = {key: v for key, v in json.loads(path.read_text()).items() if key != "n_classes"}
        path.write_text(json.dumps(older | {"classes": 4}))
    elif damage in ("summary", "config"):
        path = trained_run / f"{damage}.json"
        record = json.loads(path.read_text())
        path.write_text(
            json.dumps(record | ({"n_classes": 4} if damage == "summary" else {"lr": 9}))
        )
    elif damage == "classes":  # cut off within its first row
        (trained_run / "image_classes.csv").write_text("split,class,digest\ntest,red,0f0\n")
    elif damage == "threshold":
        kept = keep_threshold(trained_run, 0.25, {"replaced": 0.0})
        kept.path.write_text(kept.path.read_text().replace("0.25", "0.5"))
    else:  # made with a model since replaced by a copy of another
        (trained_run / "eval-test").mkdir()
        metrics = {"top1": 0.5, "per_class": {}, "model": "0" * 64}
        (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    code, out, err = run(capsys, "check", trained_run)
    lines = [" ".join(line.split()) for line in out.strip().splitlines()]
    assert code == (0 if damage in ("threshold", "evaluation") else 1) and "Traceback" not in err
    assert lines[0].startswith(f"{kind} ") and said in lines[0], lines
    assert len(lines) == 2  # the problem, then the last line


@pytest.mark.slow  # an export (0.3 s) and a run's files read four times (1.2 s)
def test_check_of_a_run_says_whether_its_export_is_of_its_model_and_whole(capsys, trained_run):
    """check RUN did not look at the run's export (`objrec export RUN`): a graph of a model since
    replaced, or one cut short by a bad copy, passed as a run intact. The sidecar records the model
    file's SHA-256 and each exported file's: an intact export is listed as such, a changed byte or
    a file gone is unusable (exit 1), another model's export is a note, each with what to do (the
    script gone is a note: the graph runs without it)."""
    from objrec.export.exporter import export_model

    export_model(trained_run, check_photos=1)
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["problems"] == []
    assert answer["intact"] == ["model.safetensors", "model.onnx", "model_infer.py"]
    sidecar = trained_run / "model.json"
    record = json.loads(sidecar.read_text())
    flipped(trained_run / "model.onnx", -100)
    (trained_run / "model_infer.py").unlink()
    sidecar.write_text(json.dumps(record | {"model_digest": "0" * 64}))
    code, out, _ = run(capsys, "check", trained_run)
    lines = [" ".join(line.split()) for line in out.strip().splitlines()]
    again = f"export it again with `objrec export {trained_run} --force`"
    assert code == 1 and len(lines) == 4, lines
    assert lines[0].startswith(f"other_model {sidecar}: an export of another model than the run's")
    assert lines[0].endswith(again)
    assert lines[1] == (
        f"damaged {trained_run / 'model.onnx'} is damaged: its bytes no longer match the SHA-256 "
        f"that model.json recorded when it was exported (a changed byte, a bad copy or disk); {again}"
    )
    assert lines[2].startswith(f"missing {trained_run / 'model_infer.py'}: not there: the export's")
    assert lines[3].endswith(
        "SHA-256 as recorded: model.safetensors; 1 unusable file, listed above"
    )


@pytest.mark.parametrize(
    ("name", "lost", "status"),
    [
        (
            "config.json",
            "lost are the settings a share of the run carries, and the cache folder",
            "a finished run of 3 classes (tiny_test); ",
        ),
        (
            "summary.json",
            "the run is unfinished (a train stopped as it put the run in place, which writes the "
            "summary last): lost is how training went (its times in report, its scores in a",
            "a run of 3 classes (tiny_test), unfinished: it cannot be resumed; ",  # review65b L4
        ),
    ],
)
def test_check_of_a_run_without_a_json_record_says_what_is_lost_and_what_to_do(
    capsys, trained_run, name, lost, status
):
    """review53b nit 6: ``check RUN`` with config.json (or summary.json) removed said only "not
    there: every run writes it beside its model": neither what was lost nor what to do, nor why
    it exits 0. A note (exit 0: the commands read the model file) names both. A model without
    its summary is of an unfinished run (a train killed before it put its summary in place, the
    last of the run's files): check called it finished."""
    record = trained_run / name
    kept = record.read_bytes()
    record.unlink()
    try:
        code, out, err = run(capsys, "check", trained_run)
        json_code, json_out, _ = run(capsys, "check", trained_run, "--json")
    finally:
        record.write_bytes(kept)
    assert code == json_code == 0 and "nothing unusable" in out, (out, err)
    [line] = [line for line in (out + err).splitlines() if line.startswith("missing ")]
    assert line.startswith(f"missing {record}: not there (a note: predict, evaluate"), line
    assert lost in " ".join(line.split()), line
    assert "restore it from a copy of the run if you have one" in line
    assert f": {status}" in " ".join(out.split()), out
    assert json.loads(json_out)["status"] == (
        "finished" if "finished run" in status else "unfinished"
    )


@pytest.mark.slow  # an export (0.3 s) and a run's files read twice (0.6 s)
def test_check_of_a_run_notes_an_edited_or_removed_export_script_and_exits_0(capsys, trained_run):
    """model_infer.py is the user's to adapt, and model.onnx runs without it: check called an
    edited script damaged (exit 1) and advised `export --force`, which throws the edit away. A
    script changed or gone is a note saying what `--force` would do; the graph is still checked."""
    from objrec.export.exporter import export_model

    export_model(trained_run, check_photos=1)
    script = trained_run / "model_infer.py"
    script.write_text(script.read_text() + "# my change\n")
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = json.loads(out)["problems"]
    assert code == 0 and (problem["path"], problem["kind"], problem["unusable"]) == (
        "model_infer.py",
        "edited",
        False,
    )
    assert problem["message"].endswith(
        f"`objrec export {trained_run} --force` would write objrec's again, your changes lost"
    )
    script.unlink()
    code, out, _ = run(capsys, "check", trained_run, "--json")
    [problem] = json.loads(out)["problems"]
    assert code == 0 and (problem["kind"], problem["unusable"]) == ("missing", False)
    assert "would write objrec's again" in problem["message"]


@pytest.mark.slow  # an export (0.3 s) and a run's files read (0.3 s)
def test_check_of_a_run_notes_an_export_made_before_digests_and_does_not_fail(capsys, trained_run):
    """An export made before its sidecar recorded the model's SHA-256 (043669e) and its files'
    cannot be judged: check says so, and what to do, and exits 0."""
    from objrec.export.exporter import export_model

    export_model(trained_run, check_photos=1)
    sidecar = trained_run / "model.json"
    record = json.loads(sidecar.read_text())
    old = {k: v for k, v in record.items() if k not in ("model_digest", "files_sha256")}
    sidecar.write_text(json.dumps(old))
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 0 and answer["intact"] == ["model.safetensors"]
    assert [(p["path"], p["kind"], p["unusable"]) for p in answer["problems"]] == [
        ("model.json", "no_digest", False)
    ]
    assert (
        "check cannot tell whether it is of this model or whether its files are whole"
        in (answer["problems"][0]["message"])
    )
    assert (  # the sidecar's model_digest is 32 hex digits of it, not the SHA-256 (review55b L5)
        "recorded the model file's content digest and its files' SHA-256 in its sidecar"
        in answer["problems"][0]["message"]
    )


@pytest.mark.slow  # two exports (0.6 s) and a run's files read three times (0.9 s)
def test_check_of_a_run_notes_an_export_answering_by_a_threshold_the_run_no_longer_uses(
    capsys, trained_run, monkeypatch
):
    """A threshold kept with the run after its export (or removed since) leaves the export
    answering "unknown" by the one before until exported again: check said the export was
    intact and nothing more. It notes it (exit 0), with what to do; the same value kept again
    later is no other threshold. check reads threshold.json once (it read it three times)."""
    from objrec import kept as kept_module
    from objrec.export.exporter import export_model
    from objrec.kept import keep_threshold, sealed

    reads, read = [], kept_module.kept_json
    monkeypatch.setattr(kept_module, "kept_json", lambda path: (reads.append(path), read(path))[1])

    def noted() -> list[tuple[str, str, str]]:
        reads.clear()
        code, out, _ = run(capsys, "check", trained_run, "--json")
        assert code == 0 and len(reads) <= 1
        return [(p["path"], p["kind"], p["message"]) for p in json.loads(out)["problems"]]

    export_model(trained_run, check_photos=1)
    kept = keep_threshold(trained_run, 0.25, {"replaced": 0.0})
    [(path, kind, message)] = noted()
    assert (path, kind) == ("model.json", "other_threshold") and message.startswith(
        "the export answers unknown below 0.0, not below 0.25, the threshold kept with the run "
        f"since; export it again with `objrec export {trained_run} --force`"
    )
    export_model(trained_run, check_photos=1, force=True)
    assert noted() == []
    again = keep_threshold(trained_run, 0.25, {"replaced": 0.25})  # the same value, kept later:
    record = json.loads(again.path.read_text()) | {"kept_on": "2026-12-06T09:00:00Z"}
    again.path.write_text(json.dumps(sealed(record)))
    assert noted() == []  # "answers unknown below 0.25, not below 0.25" before
    kept.path.unlink()
    [(_, kind, message)] = noted()
    assert kind == "other_threshold" and "which it no longer keeps (it uses its own now)" in message


@pytest.mark.slow  # a run's files read (0.3 s)
def test_check_of_a_run_calls_a_kept_threshold_whose_sha256_line_was_removed_edited(
    capsys, trained_run
):
    """Removing the sha256 line of a threshold changed on purpose, as the warning advises, made
    check call it "kept before objrec recorded its SHA-256"."""
    from objrec.kept import keep_threshold

    kept = keep_threshold(trained_run, 0.25, {"replaced": 0.0})
    unsealed = {k: v for k, v in kept.record.items() if k != "sha256"} | {"threshold": 0.5}
    kept.path.write_text(json.dumps(unsealed))
    code, out, _ = run(capsys, "check", trained_run)
    said = " ".join(out.split())
    assert code == 0 and f"edited {kept.path}: edited by hand (its sha256 line removed)" in said


@pytest.mark.slow  # a run's files read twice (0.4 s)
def test_check_of_a_run_shows_reading_a_training_state_only_where_there_is_one(trained_run):
    """check RUN's progress said "reading the model and training state 2/2" of a finished run,
    which has no training state."""
    from objrec.check_run import check_run

    from .conftest import TaskRecorder

    shown = TaskRecorder()
    check_run(trained_run, shown)
    write_state(trained_run)
    check_run(trained_run, shown)
    assert shown.tasks == ["reading the model", "reading the model and training state"]


@pytest.mark.slow  # a run's files read (0.3 s)
def test_check_of_a_run_compares_its_records_with_the_model_it_checked(
    trained_run, tmp_path, monkeypatch
):
    """check RUN hashed the model file again for each record it compares with the model (the kept
    threshold, the evaluations, the export: up to five SHA-256 passes over it in all), so a
    retrain landing once the model was checked had that model's own records called "of another
    model". They are compared with the digest of the bytes checked."""
    from objrec import check_run as checking
    from objrec.checkpoint import model_digest
    from objrec.kept import keep_threshold

    from .conftest import followed_by, retrain_of

    checked = model_digest(trained_run)
    keep_threshold(trained_run, 0.3, {"unknown": None, "evaluated": None})
    (trained_run / "eval-test").mkdir()
    metrics = {"top1": 1.0, "per_class": [], "model": checked}
    (trained_run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    retrain = retrain_of(trained_run, tmp_path / "b.safetensors")
    monkeypatch.setattr(
        checking, "checkpoint_bytes", followed_by(checking.checkpoint_bytes, retrain)
    )
    result = checking.check_run(trained_run)
    assert model_digest(trained_run) != checked
    assert [p for p in result.problems if p.kind == "other_model"] == []


@pytest.mark.slow  # a run's model read, twice (0.3 s)
def test_check_of_a_run_whose_summary_is_damaged_says_so_and_never_advises_force(
    capsys, trained_run
):
    """With its model sound and summary.json damaged, check called the run interrupted and said
    "train it again with --force", which replaces the sound model. It says
    the summary is damaged, not the model, and the run is finished."""
    summary = trained_run / "summary.json"
    summary.write_text("{bad")
    code, out, _ = run(capsys, "check", trained_run, "--json")
    answer = json.loads(out)
    assert code == 1 and answer["status"] == "finished"
    assert [(p["path"], p["kind"]) for p in answer["problems"]] == [("summary.json", "unreadable")]
    said = answer["problems"][0]["message"]
    assert said.startswith(f"{summary} is not JSON (Expecting property name") and (
        "the run's record is damaged, not its model" in said
    )
    _, out, _ = run(capsys, "check", trained_run)
    assert "--force" not in out and "interrupted" not in out and "unfinished" not in out
    assert f"{trained_run}: a finished run of 3 classes" in " ".join(out.split())


@pytest.mark.slow  # a run's training state read (0.2 s)
def test_check_of_a_run_with_no_model_yet_says_only_how_to_continue_it(capsys, trained_run):
    """With last.safetensors and no model.safetensors, check said "no model yet" and then that
    "the model is still the finished run's": the no_model line alone gives the resume command."""
    state = write_state(trained_run)
    (trained_run / "model.safetensors").unlink()
    _, out, _ = run(capsys, "check", trained_run, "--json")
    kinds = [(p["path"], p["kind"]) for p in json.loads(out)["problems"]]
    assert ("model.safetensors", "no_model") in kinds
    assert (state.name, "unfinished") not in kinds, kinds
    (said,) = [p["message"] for p in json.loads(out)["problems"] if p["kind"] == "no_model"]
    assert said.startswith("no model yet: the run stopped before its model was written; ")  # nit 14


def test_check_names_a_class_renamed_or_misspelt_in_valid_or_test_and_fails(capsys, split_dir):
    """With valid/butterfly renamed Butterfly (or test/butterfy misspelt), check said '0 unusable'
    and exit 0; only train then refused the valid class it did not know."""
    (split_dir / "valid" / "red").rename(split_dir / "valid" / "Red")
    (split_dir / "test" / "green").rename(split_dir / "test" / "gren")
    code, out, _ = run(capsys, "check", split_dir)
    said = " ".join(out.split())
    assert code == 1 and "0 unusable; 2 unusable folders" in said
    refused = "class not in train (is it {}?): `objrec {} refuses a {} class"
    assert "unknown_class valid/Red: " + refused.format("red", "train`", "validation") in said
    assert (
        "unknown_class test/gren: class not in train (is it green?): "
        "`objrec evaluate` scores only the classes the model was trained on" in said
    )
    missing = "missing_class {}: no folder of class {} (is {} it?): it is never {}"
    assert missing.format("valid", "red", "valid/Red", "validated") in said
    assert missing.format("test", "green", "test/gren", "tested") in said
    code, out, _ = run(capsys, "check", split_dir, "--json")
    found = {(p["kind"], Path(p["path"]).name, p["unusable"]) for p in json.loads(out)["problems"]}
    assert code == 1 and found == {  # valid/Red's images, unlisted by path, are the rename's:
        ("unknown_class", "Red", True),  # named back, they are listed (review65b L3)
        ("unknown_class", "gren", True),
        ("missing_class", "valid", False),
        ("missing_class", "test", False),
    }


def test_check_warns_of_a_class_missing_from_test_and_passes(capsys, split_dir):
    shutil.rmtree(split_dir / "test" / "blue")
    code, out, _ = run(capsys, "check", split_dir)
    said = " ".join(out.split())
    assert code == 0 and "33 readable, 0 unusable" in said and "folder" not in said.split(":")[-1]
    assert "missing_class test: no folder of class blue: it is never tested" in said


def test_check_warns_of_classes_with_fewer_readable_images_than_split_needs(capsys, tmp_path):
    """A class of one image passed check silently; split then warned it could not fill every split,
    train that it had no validation image, and evaluate left it out of its tables unsaid."""
    photos = make_class_folder(tmp_path / "photos", per_class=3)
    for path in sorted((photos / "red").iterdir())[1:]:
        path.unlink()
    (photos / "green" / "img_02.jpg").write_bytes(b"truncated")
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    needs = "`objrec split` needs 3 to put one in each of train, valid and test"
    assert f"few_images red: only 1 readable image: {needs}" in said
    assert f"few_images green: only 2 readable images: {needs}" in said
    assert code == 1 and "6 readable, 1 unusable" in said  # the truncated file, not the warning
    few = (
        "3 readable images: split gives 1 training image, fewer than 3 (a class of 7 or more "
        "gets 3): the model learns"
    )
    assert f"few_images blue: {few}" in said  # 1 / 1 / 1: too few to learn from
    (photos / "green" / "img_02.jpg").unlink()
    code, out, _ = run(capsys, "check", photos, "--json")
    found = [(p["kind"], Path(p["path"]).name, p["unusable"]) for p in json.loads(out)["problems"]]
    assert code == 0 and sorted(found) == [  # no note on the folder: 70/15/15 trains on the
        ("few_images", "blue", False),  # same 4 of these 6 photos, no larger ratios' hint
        ("few_images", "green", False),
        ("few_images", "red", False),
    ]
    messages = {Path(p["path"]).name: p["message"] for p in json.loads(out)["problems"]}
    assert messages["green"].endswith(needs) and messages["red"].endswith(needs)  # CLI's terms


def test_check_notes_a_sub_folder_of_a_class_folder_that_holds_images(capsys, tmp_path):
    """photos/llama/to sort/ (5 kangaroo photos) went through check, split and train unsaid,
    trained as llama: check notes each such sub-folder, counting the images below it."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    nested = photos / "red" / "to sort" / "deeper"
    nested.mkdir(parents=True)
    for i in range(2):
        shutil.copy(photos / "green" / f"img_0{2 * i}.jpg", nested / f"k{i}.jpg")
    (photos / "red" / "to sort" / "notes.txt").write_text("not an image")
    (photos / "green" / "empty").mkdir()
    code, out, _ = run(capsys, "check", photos, "--json")
    found = json.loads(out)
    nested_notes = [p for p in found["problems"] if p["kind"] == "nested_folder"]
    assert code == 0 and [(p["path"], p["unusable"]) for p in nested_notes] == [
        ("red/to sort", False)
    ]
    said = "sub-folder of class red with 2 images, all trained as red"
    assert nested_notes[0]["message"].startswith(said) and found["images"] == 8
    code, out, _ = run(capsys, "check", photos)
    assert code == 0 and f"nested_folder red/to sort: {said}" in " ".join(out.split())


def test_check_sums_up_camera_raw_and_sidecar_files_naming_raw_ones_with_no_image_beside(
    capsys, tmp_path
):
    """A photographer's folder, a .CR2 and an .xmp beside each JPEG: check printed one
    'ignored_file ...: not an image file, ignored' line per file, and a shot kept only as RAW
    (a photo left out of training) got the very same line. One note each now, naming the RAW
    files with no image of their name beside them (10, then a count); --json lists them all."""
    photos = make_class_folder(tmp_path / "photos", per_class=3, classes=("red", "green"))
    for jpeg in sorted(photos.rglob("*.jpg")):  # img_00 and img_02 of each: 4 pairs
        jpeg.with_suffix(".CR2").write_bytes(b"II*\x00raw")
        jpeg.with_suffix(".xmp").write_text("<x:xmpmeta/>")
    alone = [photos / "red" / f"IMG_{i}.NEF" for i in range(11)] + [photos / "green" / "x.CR2"]
    for path in alone:
        path.write_bytes(b"raw")
    (photos / "green" / "x.THM").write_bytes(b"thumbnail")
    (photos / "green" / "notes.txt").write_text("not an image")
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    assert code == 0 and said.count("ignored_file") == 1 and "notes.txt" in said
    names = ", ".join(["green/x.CR2"] + [f"red/IMG_{i}.NEF" for i in (0, 1, 10, *range(2, 8))])
    assert (
        f"raw_files {photos}: 16 camera RAW files (.CR2, .NEF) not read (objrec reads JPEG, PNG, "
        "TIFF, WebP and the like): 4 have a JPEG or other image of the same name beside them, "
        f"12 have none (left out of training unless converted to JPEG): {names} and 2 more"
    ) in said
    assert f"sidecar_files {photos}: 5 sidecar files (4 .xmp, 1 .THM) ignored" in said
    found = json.loads(run(capsys, "check", photos, "--json")[1])["problems"]
    raw, sidecars = [p for p in found if p["kind"] in ("raw_files", "sidecar_files")]
    assert (raw["path"], raw["unusable"], len(raw["files"])) == (".", False, 16)
    assert sorted(raw["without_image"]) == sorted(p.relative_to(photos).as_posix() for p in alone)
    assert len(sidecars["files"]) == 5 and "without_image" not in sidecars
    assert set(found[0]) == {"path", "kind", "message", "unusable"}  # ignored_file, as it was


def test_check_s_raw_note_says_each_case_in_english():
    from objrec.check import raw_message

    root = Path("/p")
    one, two = [root / "a" / "x.CR2"], [root / "a" / "x.CR2", root / "b" / "y.nef"]
    head = "1 camera RAW file (.CR2) not read (objrec reads JPEG, PNG, TIFF, WebP and the like): "
    image, left = "JPEG or other image of the same name beside it", "(left out of training unless"
    assert raw_message(root, one, []) == f"{head}it has a {image}"
    assert raw_message(root, one, one).startswith(f"{head}it has no {image} {left}")
    assert raw_message(root, one, one).endswith("converted to JPEG): a/x.CR2")
    assert raw_message(root, two, []).endswith(
        f"(.CR2, .nef) not read (objrec reads JPEG, PNG, TIFF, WebP and the like): each has a {image}"
    )
    assert raw_message(root, two, two).endswith(
        f": none has a {image} {left} converted to JPEG): a/x.CR2, b/y.nef"
    )
    said = raw_message(root, two, two[1:])
    assert said.endswith(f": 1 has a {image}, 1 has none {left} converted to JPEG): b/y.nef")


def test_check_points_a_folder_of_mostly_small_classes_to_larger_training_ratios(capsys, tmp_path):
    """check named the classes of 6 photos, but nothing said that a default split of
    her 101 classes of 6 to 10 photos keeps half of them out of training, nor how to train on
    more: one note on the folder says it, as split does, with the command that splits so."""
    photos = make_class_folder(tmp_path / "photos", per_class=8)
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    head = f"few_images {photos}: most classes have fewer than 11 photos (median 8): the "
    assert code == 0 and head + "default ratios keep 12 of the 24 out of" in said
    assert f"`objrec split {photos} data70 --ratios 0.7 0.15 0.15` trains on about 18" in said
    # review60b F20: it said `objrec split PHOTOS data ...`, where split names the real folder
    more = make_class_folder(tmp_path / "more", per_class=11)
    code, out, _ = run(capsys, "check", more)
    assert code == 0 and "most classes" not in out


@pytest.mark.slow
def test_split_leaves_ratios_typed_as_the_default_ones_alone(capsys, tmp_path):
    """`--ratios 0.5 0.25 0.25` typed still heard "the default ratios keep ...", as if
    the user had not chosen them; other typed ratios are not second-guessed, nor are these."""
    photos = make_class_folder(tmp_path / "photos", per_class=8)
    code, _, err = run(capsys, "split", photos, tmp_path / "default")
    assert code == 0 and "the default ratios keep" in err
    code, _, err = run(
        capsys, "split", photos, tmp_path / "typed", "--ratios", "0.5", "0.25", "0.25"
    )
    assert code == 0 and "most classes" not in err


def test_check_and_split_say_why_a_class_of_six_gets_two_training_images(capsys, tmp_path):
    """newcomer52 7: a class of 6 photos went 2 / 2 / 2 at the default 50/25/25 and check said
    only "split gives 2 training images, fewer than 3": not why (valid and test get 25% of 6
    each, 1.5 rounded to 2), nor what `--ratios 0.7 0.15 0.15` would give (4 / 1 / 1), which
    split said only when most classes were small."""
    from objrec.cli.data import split_warnings
    from objrec.split.result import SplitResult

    photos = make_class_folder(tmp_path / "photos", per_class=6)
    code, out, _ = run(capsys, "check", photos)
    said = " ".join(out.split())
    why = "its 6 photos go 2 / 2 / 2 as valid and test get 25% of 6, 1.5 rounded to 2, each"
    assert code == 0 and "as few test images; " + why in said
    assert why + f"; `objrec split {photos} data70 --ratios 0.7 0.15 0.15` gives 4 / 1 / 1" in said
    counts = {"anchor": {"train": 2, "valid": 2, "test": 2}}
    counts |= {f"c{i}": {"train": 10, "valid": 5, "test": 5} for i in range(3)}
    result = SplitResult(out=tmp_path, counts=counts, few_train_classes=["anchor"])
    (few,) = [w for w in split_warnings(result) if "training image" in w]
    assert few.endswith(
        f": anchor (2 in train); anchor: {why}; --ratios 0.7 0.15 0.15 gives 4 / 1 / 1"
    )


def test_check_says_the_classes_of_one_few_images_note_in_one_line(tmp_path):
    """101 classes of 6 to 10 photos: check printed 21 lines of "few_images NAME: 6
    readable images: split gives 2 training images, fewer than 3: ...". The classes noted alike
    are named in one line; a note of another count keeps its own; --json keeps one per class."""
    from objrec.check import Problem
    from objrec.cli.data import problem_lines

    six = "6 readable images: split gives 2 training images"
    problems = [
        Problem(str(tmp_path / name), "few_images", message, False)
        for name, message in [("ant", six), ("bee", "3 readable images: ..."), ("cat", six)]
    ]
    problems.insert(1, Problem(str(tmp_path / "bee" / "x.jpg"), "unreadable", six, True))
    assert problem_lines(problems, tmp_path) == [
        f"[red]unreadable[/] bee/x.jpg: {six}",
        f"[yellow]few_images[/] ant, cat: {six}",
        "[yellow]few_images[/] bee: 3 readable images: ...",
    ]


def test_check_says_many_ignored_files_of_a_kind_in_one_line_after_the_unusable_ones(
    capsys, tmp_path
):
    """A Mac's copy of 24 photos printed 24 ``ignored_hidden`` lines (6,000 photos as many), in
    the order found, an ``unreadable`` line among the notes. The unusable problems come first,
    then one line per kind naming the first 3 files and counting the rest; a kind of 3 or fewer
    keeps a line each; --json keeps one problem per file."""
    photos = make_class_folder(tmp_path / "photos", per_class=4, classes=("red", "green"))
    for path in sorted(photos.glob("*/*")):
        (path.parent / f"._{path.name}").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble
    (photos / "green" / "broken.jpg").write_bytes(b"not a photo")
    for n in range(2):
        (photos / "red" / f"note{n}.txt").write_text("x")
    code, out, _ = run(capsys, "check", photos)
    lines = out.splitlines()
    kinds = [line.split()[0] for line in lines]
    assert code == 1 and kinds[0] == "unreadable" and "unreadable" not in kinds[1:]
    assert kinds.count("ignored_hidden") == 1 and kinds.count("ignored_file") == 2
    (hidden,) = [line for line in lines if line.startswith("ignored_hidden")]
    assert hidden.startswith("ignored_hidden 8 hidden files and folders ignored (macOS's ._ files")
    assert hidden.endswith(" and 5 more (--json lists each)") and "green/._img_00.jpg" in hidden
    assert lines[-2].startswith("9 image files in 2 classes: 8 readable, 1 unusable")
    code, out, _ = run(capsys, "check", photos, "--json")
    kinds = [p["kind"] for p in json.loads(out)["problems"]]
    assert code == 1 and kinds.count("ignored_hidden") == 8


def test_check_notes_a_split_folders_class_with_too_few_training_images(capsys, split_dir):
    """A class of a split folder whose train holds one or two images passed check silently."""
    for path in sorted((split_dir / "train" / "red").iterdir())[1:]:
        path.unlink()
    code, out, _ = run(capsys, "check", split_dir, "--json")
    found = [(p["kind"], p["path"], p["message"]) for p in json.loads(out)["problems"]]
    assert code == 0 and found == [
        (
            "few_images",
            "train/red",
            "1 training image, fewer than 3: the model learns the class from one or two photos, "
            "and its per-class results rest on as few test images",
        )
    ]


@pytest.mark.slow
def test_check_and_explore_of_an_imbalanced_class_folder_advise_a_split_first(capsys, tmp_path):
    """review65b L3: of a class folder of 50 photos and 1, explore and check advised `objrec
    train PHOTOS --out RUN --balance weights`, which train refuses (PHOTOS is no split folder).
    They give the split first, then train on it with --balance weights."""
    photos = make_class_folder(tmp_path / "photos", per_class=50, classes=("red",))
    make_class_folder(tmp_path / "one", per_class=1, classes=("blue",))
    (tmp_path / "one" / "blue").rename(photos / "blue")
    advice = (
        f"splitting it (`objrec split {photos} data`) and training on that with `objrec train "
        "data --out run --balance weights` weighs each class's loss"
    )
    code, out, _ = run(capsys, "check", photos, "--json")
    (note,) = [p["message"] for p in json.loads(out)["problems"] if p["kind"] == "imbalanced"]
    assert code == 0 and advice in note, note
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "e", "--json")
    assert code == 0 and any(advice in w for w in json.loads(out)["warnings"]), out


@pytest.mark.slow
def test_check_names_balance_weights_for_a_strongly_imbalanced_training_split(capsys, split_dir):
    """A training split of 50 images of red against 1 of blue: check notes it once, naming
    the option; at 49 to 1, as for Caltech-101's 27 to 1, it says nothing of it."""
    from .conftest import make_imbalanced

    make_imbalanced(split_dir)
    code, out, _ = run(capsys, "check", split_dir, "--json")
    notes = [p for p in json.loads(out)["problems"] if p["kind"] == "imbalanced"]
    assert code == 0 and [(p["path"], p["unusable"]) for p in notes] == [("train", False)]
    said = "red has 50 training images, blue 1 (50 to 1; said at 50 to 1 or more), so the model may"
    assert said in notes[0]["message"]
    option = "`objrec train DATA --out RUN --balance weights` weighs each class's loss"
    assert option in notes[0]["message"]
    code, out, _ = run(capsys, "check", split_dir)
    assert "imbalanced train: the classes" in " ".join(out.split())
    sorted((split_dir / "train" / "red").iterdir())[-1].unlink()
    code, out, _ = run(capsys, "check", split_dir, "--json")
    assert "imbalanced" not in [p["kind"] for p in json.loads(out)["problems"]]


@pytest.mark.slow
def test_split_keeps_a_groups_files_groups_together_and_says_so(
    capsys, tmp_path, image_folder, known_facts
):
    code, out, _ = run(capsys, "split", "--help-all")
    out = " ".join(out.split())
    assert (
        code == 0
        and "--groups FILE" in out
        and "a CSV of columns file and group. A row per image (its file as class/name" in out
    )
    assert "class/name relative to the source folder, ./class/name, class\\name as Windows" in out
    groups = tmp_path / "groups.csv"
    groups.write_text("file,group\nred/img_00.jpg,b1\nblue/img_03.png,b1\ngreen/img_01.png,b2\n")
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "data", "--groups", groups)
    assert code == 0 and "kept 1 group from groups.csv together" in out
    code, out, _ = run(capsys, "split", image_folder, tmp_path / "j", "--groups", groups, "--json")
    assert code == 0 and json.loads(out)["file_groups"] == 1
    groups.write_text("file,group\nred/img_00.jpg,b1\nred/gone.jpg,b1\n")
    code, _, err = run(capsys, "split", image_folder, tmp_path / "bad", "--groups", groups)
    err = " ".join(err.split())
    assert code == 1 and "--groups file" in err and "line 3" in err and "'red/gone.jpg'" in err


def test_check_json_names_each_path_relative_to_the_folder_checked(capsys, tmp_path, monkeypatch):
    """`check --json` gave DATA joined with each file (absolute when DATA was), where the text
    and docs/commands.md name files relative to DATA (`lamp/labels.csv`) and split's --json does:
    a script had to handle both. Now relative to `root` however DATA is given, `.` for itself."""
    photos = make_class_folder(tmp_path / "photos", per_class=3)
    (photos / "red" / "notes.txt").write_text("not an image")
    make_image(COLOURS["red"], seed=7).save(photos / "red" / "copy.png")
    shutil.copy(photos / "red" / "copy.png", photos / "red" / "copy2.png")
    (photos / "green" / "IMG_1.CR2").write_bytes(b"raw")
    monkeypatch.chdir(tmp_path)
    answers = [json.loads(run(capsys, "check", given, "--json")[1]) for given in (photos, "photos")]
    assert [a["root"] for a in answers] == [str(photos), "photos"]
    where = [[(p["path"], p["kind"], p.get("files")) for p in a["problems"]] for a in answers]
    assert where[0] == where[1]  # a message may name the folder as given: the command to type
    paths = {p["kind"]: (p["path"], p.get("files")) for p in answers[0]["problems"]}
    assert paths["ignored_file"] == ("red/notes.txt", None)
    assert paths["identical_files"] == ("red/copy2.png", ["red/copy.png", "red/copy2.png"])
    assert paths["raw_files"] == (".", ["green/IMG_1.CR2"])


def test_check_and_split_refuse_class_folders_differing_only_in_a_space_at_either_end(
    capsys, tmp_path, image_folder, known_facts
):
    """A Mac's ``red `` folder beside ``red`` (a shop-owner newcomer's ``Stop signs ``): check
    found nothing wrong and split made two classes that read the same in every answer."""
    (image_folder / "blue").rename(image_folder / "red ")
    code, out, _ = run(capsys, "check", image_folder, "--json")
    found = [p for p in json.loads(out)["problems"] if p["kind"] == "alike_classes"]
    assert code == 1 and [(Path(p["path"]).name, p["unusable"]) for p in found] == [("red ", True)]
    assert "class folder 'red' but for a space at either end" in found[0]["message"]
    code, _, err = run(capsys, "split", image_folder, tmp_path / "data")
    err = " ".join(err.split())
    assert code == 1 and "class folders 'red' and 'red ' of" in err
    assert "differ only in a space at either end" in err and "rename one" in err
    assert not (tmp_path / "data").exists()


def test_check_fails_on_a_split_folder_of_classes_named_alike(capsys, split_dir):
    """``red`` and ``Red `` in train/: check found nothing wrong, and train learnt two classes
    that read the same."""
    code, out, _ = run(capsys, "check", alike_split(split_dir), "--json")
    found = [p for p in json.loads(out)["problems"] if p["kind"] == "alike_classes"]
    assert code == 1 and [Path(p["path"]).name for p in found] == ["red"]
    assert "but for case and a space at either end" in found[0]["message"]
    assert "`objrec train` refuses the two" in " ".join(found[0]["message"].split())


def test_mixed_pairs_quote_a_class_name_the_line_would_split():
    """A class named "salt, pepper" mistaken both ways with "salt" is quoted, as every other
    list of class names says it (words.quoted): unquoted, the line read as three classes."""
    from objrec.cli.evaluation import mixed_pair_lines
    from objrec.evaluate import summarize_logits

    labels = torch.tensor([0] * 10 + [1] * 10)
    predicted = torch.tensor([0] * 8 + [1] * 2 + [0] * 3 + [1] * 7)
    logits = torch.nn.functional.one_hot(predicted, 2).float() * 5
    line = mixed_pair_lines(summarize_logits(logits, labels, ["salt, pepper", "salt"]))[1]
    assert line == (
        '  "salt, pepper" and salt: 2 of 10 "salt, pepper" taken for salt, '
        '3 of 10 salt for "salt, pepper"'
    )


@pytest.mark.slow
def test_check_says_how_a_split_was_made_and_train_records_its_command(
    capsys, tmp_path, image_folder, monkeypatch
):
    """repro40: a reader of a result could not tell how its split folder was made, nor the
    command that trained the run. check names the split's source, settings and command line
    (split.json), and the run's summary records its own command and the split's record."""
    monkeypatch.chdir(tmp_path)
    split = ["split", "photos", "data", "--seed", "4", "--exclude", "blue", "--link"]
    shutil.move(image_folder, tmp_path / "photos")
    assert run(capsys, *split)[0] == 0
    code, out, _ = run(capsys, "check", "data")
    said = f"split of {tmp_path.resolve() / 'photos'}: seed 4, ratios 0.5 0.25 0.25, excluding "
    assert code == 0 and said + "blue, near-duplicates kept together" in out
    by = f"by objrec split photos data --seed 4 --exclude blue --link in {os.getcwd()}"
    assert by in " ".join(out.split())  # the folder its relative paths start from
    code, out, _ = run(capsys, "check", "data", "--json")
    assert json.loads(out)["split_record"]["command"] == ["objrec", *split]
    assert json.loads(out)["split_record"]["cwd"] == os.getcwd()
    train = ["train", "data", "--out", "run", "--backbone", "tiny_test", "--epochs", "1"]
    assert run(capsys, *train, "--aug-views", "0")[0] == 0
    made = json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    assert made["command"] == ["objrec", *train, "--aug-views", "0"]
    assert made["cwd"] == os.getcwd()
    assert made["split_record"] == json.loads((tmp_path / "data" / "split.json").read_text())
    (tmp_path / "data" / "split.json").unlink()  # as a split made before it
    code, out, _ = run(capsys, "check", "data", "--json")
    assert code == 0 and json.loads(out)["split_record"] is None
    assert "split of" not in run(capsys, "check", "data")[1]


@pytest.mark.slow
def test_split_classes_takes_several_names_and_check_names_them(capsys, tmp_path, image_folder):
    """`objrec split PHOTOS data --classes red green`: those classes alone, which check names;
    OUT given after --classes is said to be taken by it."""
    data = tmp_path / "data"
    code, out, _ = run(capsys, "split", image_folder, data, "--classes", "red", "green", "--json")
    assert code == 0 and set(json.loads(out)["classes"]) == {"green", "red"}
    code, out, _ = run(capsys, "check", data)
    assert code == 0 and "0.25, only the classes red and green, near-dup" in " ".join(out.split())
    code, _, err = run(capsys, "split", image_folder, "--classes", "red", tmp_path / "d2")
    assert code == 2 and "--classes takes every word after it up to the next option" in err


def test_ctrl_c_in_split_says_how_far_it_got_and_that_nothing_was_written(
    tmp_path, capsys, monkeypatch
):
    """Ctrl-C said only "aborted" in every command but train, demo and predict (cli42): now how
    far the progress got and what the work left, exit 130."""
    reading = importlib.import_module("objrec.reading")
    read_first = reading.read_first

    def stop_at_red(path):  # read in order (hashed as read): the blue and green ones done
        if Path(path).parent.name == "red":
            raise KeyboardInterrupt
        return read_first(path)

    monkeypatch.setattr(reading, "read_first", stop_at_red)
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    code, _, err = run(capsys, "split", photos, tmp_path / "data")
    said = " ".join(err.split())
    assert code == 130 and "aborted" not in err and "Traceback" not in err, err
    assert said == (
        f"interrupted at reading images (8 of 12 done): nothing was written to {tmp_path / 'data'}"
        ": run it again"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


@pytest.mark.slow  # explores twice: 0.24 s
def test_ctrl_c_while_explore_writes_again_leaves_the_earlier_outputs_whole(
    tmp_path, capsys, monkeypatch
):
    """explore replaced its files one at a time: Ctrl-C while it drew its plots left the new
    counts.csv beside the earlier run's plots, which read as one result. Its files now take their
    names together once all are written, so the earlier ones stay as they were, every one."""
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    out = tmp_path / "out"
    assert run(capsys, "explore", photos, "--out", out)[0] == 0
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    make_class_folder(tmp_path / "more", per_class=3)
    shutil.copy(tmp_path / "more" / "red" / "img_02.jpg", photos / "red" / "img_02.jpg")
    plots = importlib.import_module("objrec.plots")
    monkeypatch.setattr(plots, "images_per_class", stop_at_call(1, plots.images_per_class))
    code, _, err = run(capsys, "explore", photos, "--out", out, "--force")
    said = " ".join(err.split())
    assert code == 130 and "Traceback" not in err, err
    assert said.endswith(f"nothing was written to {out}: run it again"), said
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier  # no staging folder left


@pytest.mark.slow  # explores twice
def test_ctrl_c_as_explore_renames_its_files_in_says_they_were_written_whole(
    tmp_path, capsys, ctrl_c_after_rename
):
    """A Ctrl-C held back while explore --force renamed its files in said "OUT holds 5 outputs
    of it, each whole (...), not the others: run it again", the whole new result in place."""
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    out = tmp_path / "out"
    assert run(capsys, "explore", photos, "--out", out)[0] == 0
    ctrl_c_after_rename(lambda source, target: target == out / "counts.csv")
    code, _, err = run(capsys, "explore", photos, "--out", out, "--force")
    said = " ".join(err.split())
    assert code == 130 and "Traceback" not in err, err
    assert said.endswith(
        f"the files were written to {out}, whole, before the stop: nothing is left to do"
    ), said


def test_explore_says_it_writes_beside_data_in_its_help_and_last_line(
    tmp_path, capsys, monkeypatch
):
    """review53b L1: `cd elsewhere && objrec explore /shared/photos` wrote photos-explore beside
    the (shared) photo folder; --help said only "Folder for the CSVs and plots". The help's first
    lines and the closing line say where it goes, and how to choose another."""
    code, out, _ = run(capsys, "explore", "--help")
    first = " ".join(out.split("Options:")[0].split())
    assert code == 0 and "DATA-explore, beside DATA wherever you run it from (--out for" in first
    photos = make_class_folder(tmp_path / "photos", per_class=2)
    monkeypatch.chdir(make_class_folder(tmp_path / "elsewhere", per_class=1))
    code, out, _ = run(capsys, "explore", photos)
    last = out.splitlines()[-1]  # a line of its own: the summary's end made it 190 characters
    assert code == 0 and last == (
        f"CSVs and plots in {tmp_path / 'photos-explore'} (beside DATA; --out for another)"
    ), last
    code, out, _ = run(capsys, "explore", photos, "--out", tmp_path / "mine")
    assert "beside DATA" not in out


def test_split_dry_run_says_the_split_and_writes_nothing_in_out(capsys, tmp_path):
    """review60b F23: add had --dry-run, split not: a user could not see how a folder would fall
    (its counts, its warnings) without writing it. split --dry-run says it all and writes
    nothing in OUT: no folder made, an earlier split left as it was (--force too)."""
    photos = make_class_folder(tmp_path / "photos", per_class=4)
    out = tmp_path / "data"
    code, dry, err = run(capsys, "split", photos, out, "--dry-run")
    assert code == 0 and not out.exists() and "warning:" in err
    assert dry.startswith(f"would split 3 classes into {out}: train 6, valid 3, test 3"), dry
    assert dry.rstrip().endswith(f"nothing written in {out} (--dry-run)")
    code, said, _ = run(capsys, "split", photos, out, "--dry-run", "--json")
    answer = json.loads(said)
    assert code == 0 and answer["dry_run"] and not out.exists()
    assert answer["totals"] == {"train": 6, "valid": 3, "test": 3}
    code, done, _ = run(capsys, "split", photos, out, "--json")
    assert code == 0 and json.loads(done) == answer | {"dry_run": False}  # as it said
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    code, _, err = run(capsys, "split", photos, out, "--dry-run", "--seed", "3")
    assert code == 1 and "holds an earlier split" in err  # refused, as the split would be
    code, dry, _ = run(capsys, "split", photos, out, "--dry-run", "--seed", "3", "--force")
    assert code == 0 and dry.startswith("would split 3 classes")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == stamps


def test_split_into_a_folder_the_system_cannot_make_says_so(tmp_path, capsys, monkeypatch):
    """review53b nit 10: `split SRC /proc/foo` said "/proc/foo: no such file or directory", as if
    a folder were missing; it could not make it. (A file system that refuses new folders, as
    /proc does even to root, stands in for /proc.)"""
    import errno
    import pathlib

    photos = make_class_folder(tmp_path / "photos", per_class=4)
    out = tmp_path / "proc" / "foo"
    made = pathlib.Path.mkdir

    def refused(self, *args, **kwargs):
        if self == out:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(self))
        return made(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", refused)
    code, _, err = run(capsys, "split", photos, out)
    said = " ".join(err.split())
    assert code == 1 and said == f"error: cannot make the folder {out}: no such file or directory"

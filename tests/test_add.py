import csv
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from objrec import dedup, facts_store, file_index, image_facts
from objrec.add import plan as add_plan
from objrec.add import recipe as add_module
from objrec.add import write as add_write
from objrec.add.new import NewImage
from objrec.add.pending import PENDING
from objrec.add.recipe import AddResult, add_images, add_warnings
from objrec.cli import main
from objrec.data import IMAGE_SET_MEANING, SPLITS
from objrec.errors import Interrupted, ObjrecError, UsageRefused
from objrec.grouping import near_groups

from .conftest import fake_checkpoint, fsyncs_seen, make_image, taken_before
from .test_split import changed_sentence, manifest, saved_again_while_copied, tree_digest

PURPLE = (150, 40, 200)


def counts(data):
    """Images per class and split in a split folder, as [train, valid, test]."""
    found = {}
    for path in data.glob("*/*/*"):
        split, name = path.parts[-3], path.parts[-2]
        found.setdefault(name, [0, 0, 0])[SPLITS.index(split)] += 1
    return found


def ctrl_c(*args, **kwargs):
    """A stand-in for a step of add that the user stops with Ctrl-C."""
    raise KeyboardInterrupt


def said_on_ctrl_c(*args, **kwargs) -> str:
    """What ``add_images(*args, **kwargs)``, stopped by Ctrl-C (it must be), says it left."""
    with pytest.raises(Interrupted) as interrupted:
        add_images(*args, **kwargs)
    return str(interrupted.value)


def new_images(root, name, n, colour=(200, 40, 40), seed=900):
    (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        make_image(colour, seed=seed + i).save(root / name / f"new_{i:02d}.png")
    return taken_before(root)


def test_the_add_package_gives_its_entry_points_from_its_modules():
    """add.py became the package ``objrec.add`` (session 58), its own code ``add.recipe``:
    ``from objrec.add import add_images, AddResult`` gives the recipe's function and the result's
    record, as add.py and add_result.py gave them, and a name the package lacks is refused."""
    from objrec.add import AddResult, recipe, result
    from objrec.add import add_images as from_package

    assert from_package is recipe.add_images and AddResult is result.AddResult
    with pytest.raises(ImportError):
        from objrec.add import add_warnings  # noqa: F401


@pytest.mark.slow
def test_adding_a_class_the_split_left_out_says_so(tmp_path, image_folder, known_facts):
    """`split PHOTOS data --classes red green`, then `add data PHOTOS` to bring in new photos:
    blue, left out by the split, came in too without a word (so did Faces after the protocol's
    --exclude). A new class an --exclude did not name is not named."""
    from objrec.split.recipe import split_folder

    split_folder(image_folder, tmp_path / "data", classes=["red", "green"])
    new_images(image_folder, "purple", 3, PURPLE, seed=700)
    result = add_images(tmp_path / "data", image_folder, dry_run=True)
    assert result.new_classes == result.left_out_classes == ["blue", "purple"]
    said = " ".join(add_warnings(result))
    assert (
        "split of the data folder does not take, as its split.json says (classes, exclude): "
        "blue, purple; they come in" in said
    )
    split_folder(image_folder, tmp_path / "all", exclude=["blue"])
    new_images(image_folder, "teal", 3, (20, 160, 160), seed=800)  # new, named by no --exclude
    result = add_images(tmp_path / "all", image_folder, dry_run=True)
    assert sorted(result.new_classes) == ["blue", "teal"] and result.left_out_classes == ["blue"]


@pytest.mark.slow
def test_new_images_fill_each_class_toward_the_ratios(tmp_path, split_dir):
    new = new_images(tmp_path / "new", "red", 4)
    new_images(new, "purple", 8, PURPLE, seed=700)
    before_new, before = tree_digest(new), counts(split_dir)
    assert before["red"] == [6, 3, 3]
    result = add_images(split_dir, new, seed=1)
    assert tree_digest(new) == before_new  # only read
    assert counts(split_dir) == before | {"red": [8, 4, 4], "purple": [4, 2, 2]}
    assert result.counts == {
        "purple": {"train": 4, "valid": 2, "test": 2},
        "red": {"train": 2, "valid": 1, "test": 1},
    }
    assert result.new_classes == ["purple"] and result.small_classes == []
    assert all((split_dir / file).is_file() for _, file in result.files)
    assert not list(split_dir.rglob(".*"))  # no temporary file left


@pytest.mark.slow
def test_an_add_to_a_folder_split_by_groups_says_it_places_the_new_photos_without_them(
    tmp_path, split_dir
):
    """A folder split with a groups file (one specimen in one split), then three new photos of
    one specimen added: they went to valid, train and test, and the add said nothing
    (review65a M2). It says in one sentence that the groups file is not read, and how to keep
    such photos in train; all placed in train, it says nothing."""
    from objrec.cli.adding import add_warnings as cli_warnings

    record = json.loads((split_dir / "split.json").read_text(encoding="utf-8"))
    groups = tmp_path / "groups.csv"
    groups.write_text("file,group\n", encoding="utf-8")
    (split_dir / "split.json").write_text(json.dumps(record | {"groups": str(groups)}))
    new = new_images(tmp_path / "new", "red", 4)
    result = add_images(split_dir, new, seed=1, dry_run=True)
    assert result.counts == {"red": {"train": 2, "valid": 1, "test": 1}}
    said = [w for w in add_warnings(result) if "groups file" in w]
    assert said == [
        f"the data folder was split by the groups file {groups}, which `add_images` does not "
        "read: each new image was placed with its duplicates and bursts only, so new photos of "
        "one group may sit in train, valid and test (a leak); to keep them in train, add them "
        "with `ratios=(1, 0, 0)`, or put them in the source folder and its groups file and "
        "split it again, `split_folder(src, out, groups=file)`"
    ]
    [cli] = [w for w in cli_warnings(result) if "groups file" in w]
    assert "add them with --ratios 1 0 0," in cli
    assert cli.endswith("split it again, `objrec split PHOTOS OUT --groups FILE`")
    in_train = add_images(split_dir, new, ratios=(1, 0, 0), dry_run=True)
    assert in_train.counts == {"red": {"train": 4, "valid": 0, "test": 0}}
    assert not [w for w in add_warnings(in_train) if "groups file" in w]


@pytest.mark.slow
def test_a_new_class_of_two_photos_gets_one_in_train_at_the_folders_own_ratios(tmp_path):
    """A split of classes of 15 photos holds 7/4/4 of each (0.47/0.27/0.27), add's default
    ratios: a new class of two photos went one to valid, one to test, none to train, and
    `train` then refused it ('a validation class it has no training images of')."""
    from objrec.split.recipe import split_folder

    src = tmp_path / "src"
    for c, (name, colour) in enumerate({"red": (200, 40, 40), "blue": (40, 40, 200)}.items()):
        (src / name).mkdir(parents=True)
        for i in range(15):
            make_image(colour, seed=100 * c + i).save(src / name / f"{i}.png")
    split_folder(src, tmp_path / "data", seed=0)
    new = new_images(tmp_path / "new", "purple", 2, PURPLE)
    result = add_images(tmp_path / "data", new)
    assert result.counts["purple"]["train"] == 1, result.counts


@pytest.mark.slow
def test_a_new_class_too_small_for_every_split_is_named(tmp_path, split_dir):
    result = add_images(split_dir, new_images(tmp_path / "new", "purple", 2, PURPLE))
    assert result.small_classes == ["purple"] and result.min_images == 3
    assert result.counts["purple"] == {"train": 2, "valid": 0, "test": 0}
    assert not (split_dir / "valid" / "purple").exists()  # train refuses an empty class folder


def test_byte_identical_copies_are_skipped_and_one_in_another_class_is_named(tmp_path, split_dir):
    red = sorted((split_dir / "test" / "red").iterdir())[0]
    green = sorted((split_dir / "valid" / "green").iterdir())[0]
    new = new_images(tmp_path / "new", "red", 1)
    shutil.copy(red, new / "red" / "again.jpg")
    shutil.copy(green, new / "red" / "labelled_twice.jpg")
    result = add_images(split_dir, new)
    assert result.copies == {"red": 2} and sum(result.totals().values()) == 1
    assert sorted(result.copy_files) == [
        ("red/again.jpg", red.relative_to(split_dir).as_posix()),
        ("red/labelled_twice.jpg", green.relative_to(split_dir).as_posix()),
    ]
    assert result.cross_class_duplicates == [
        (green.relative_to(split_dir).as_posix(), "red/labelled_twice.jpg")
    ]
    assert not list(split_dir.glob("*/red/again*")) and not list(split_dir.glob("*/*/labelled*"))


@pytest.mark.slow
def test_a_copy_in_another_class_is_named_once_and_a_dry_run_says_what_would_be(
    tmp_path, split_dir, capsys
):
    """add listed a copy of another class's image twice, back to back: among the copies skipped,
    then in the warning of pictures in two classes (the pair reversed); and a dry run said the
    copies "skipped", and its warning that the copy "was not added", as if written. The warning
    is printed before the summary: "the warning below names it" pointed the wrong way."""
    green = sorted((split_dir / "valid" / "green").iterdir())[0]
    red = sorted((split_dir / "test" / "red").iterdir())[0]
    new = new_images(tmp_path / "new", "red", 1)
    shutil.copy(green, new / "red" / "labelled_twice.jpg")
    shutil.copy(red, new / "red" / "again.jpg")
    assert main(["add", str(split_dir), str(new), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    said = " ".join((out + err).split())
    assert said.count("labelled_twice.jpg") == 1, said
    assert (
        "would skip 2 images already there (the same bytes), 1 in another class (the warning above "
        f"names it): red/again.jpg = {red.relative_to(split_dir).as_posix()}"
    ) in said
    assert (
        "a copy already in the data folder would not be added, a near one would go to its split"
        in said
    )


@pytest.mark.slow
def test_a_near_duplicate_of_a_test_image_goes_to_test_whatever_its_class(tmp_path, split_dir):
    from PIL import Image

    original = Image.open(sorted((split_dir / "test" / "red").glob("*.png"))[0])
    new = new_images(tmp_path / "new", "green", 2, (40, 180, 60), seed=500)
    ImageOps.mirror(original).save(new / "green" / "mirrored.png")
    (new / "blue").mkdir()
    original.resize((80, 64)).save(new / "blue" / "resized.png")
    for seed in range(3):  # wherever the seed would put them otherwise
        result = add_images(split_dir, new, seed=seed, dry_run=True)
        placed = dict(result.files)
        assert placed["green/mirrored.png"].startswith("test/green/")
        assert placed["blue/resized.png"].startswith("test/blue/")
        assert result.near_duplicate_files == 2
        assert [b for _, b in result.cross_class_duplicates] == [
            "blue/resized.png",
            "green/mirrored.png",
        ]


@pytest.mark.slow
def test_a_near_duplicate_of_images_in_two_splits_is_named(tmp_path, split_dir, capsys):
    from PIL import Image

    train = sorted((split_dir / "train" / "red").glob("*.png"))[0]
    shutil.copy(train, split_dir / "test" / "red" / "hand_copied.png")  # a leak made by hand
    new = new_images(tmp_path / "new", "red", 1)
    ImageOps.mirror(Image.open(train)).save(new / "red" / "mirrored.png")
    result = add_images(split_dir, new, dry_run=True)
    copies = [train.relative_to(split_dir).as_posix(), "test/red/hand_copied.png"]
    assert result.spread_groups == [("red/mirrored.png", copies)]
    assert main(["add", str(split_dir), str(new), "--dry-run"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "in two splits" in err and f"red/mirrored.png ~ {copies[0]}, {copies[1]}" in err
    assert f"or the first of a tie; run `objrec audit {split_dir}`): " in err
    (sentence,) = [w for w in add_warnings(result) if "in two splits" in w]
    assert "or the first of a tie; run `audit_folder(data)`): " in sentence  # the API's names


@pytest.mark.slow
def test_near_duplicates_among_the_new_images_stay_together_and_the_plan_is_seeded(
    tmp_path, split_dir
):
    new = new_images(tmp_path / "new", "purple", 6, PURPLE, seed=700)
    for i in range(3):
        image = make_image(PURPLE, seed=800 + i)
        image.save(new / "purple" / f"twin_{i}.png")
        ImageOps.mirror(image).save(new / "purple" / f"twin_{i}_mirrored.png")
    plans = [add_images(split_dir, new, seed=seed, dry_run=True).files for seed in (0, 1, 2, 0)]
    assert plans[0] == plans[3] and plans[0] != plans[1]
    for placed in map(dict, plans):
        for i in range(3):
            a, b = placed[f"purple/twin_{i}.png"], placed[f"purple/twin_{i}_mirrored.png"]
            assert a.split("/")[0] == b.split("/")[0]


def test_each_added_file_is_on_the_disk_before_the_manifest_lists_it(
    tmp_path, split_dir, monkeypatch
):
    """Every file an add writes, and its folder, is synced before the manifest gets its row and
    the add's note goes: a power cut left rows of empty files and no note to repair them by
    (review56a L3)."""
    rows = len(manifest(split_dir))
    look = lambda: (len(manifest(split_dir)), (split_dir / PENDING).is_file())  # noqa: E731
    seen = fsyncs_seen(monkeypatch, look)
    result = add_images(
        split_dir, [new_images(tmp_path / "new", "red", 3) / "red"], class_name="red"
    )
    synced = dict(seen)
    for _, file in result.files:
        assert synced[(split_dir / file).resolve()] == (rows, True)
        assert synced[(split_dir / file).parent.resolve()] == (rows, True)
    assert len(manifest(split_dir)) == rows + 3 and not (split_dir / PENDING).exists()


@pytest.mark.slow
def test_a_taken_name_gets_a_free_one_and_nothing_is_overwritten(tmp_path, split_dir):
    for i, split in enumerate(SPLITS):  # whichever split it goes to, its name is taken
        make_image((200, 40, 40), seed=300 + i).save(split_dir / split / "red" / "new_00.png")
    before = tree_digest(split_dir)
    a = new_images(tmp_path / "a", "red", 1) / "red"
    b = new_images(tmp_path / "b", "red", 1, seed=1) / "red"  # the same name, another image
    result = add_images(split_dir, [a, b], class_name="red", ratios=(1, 0, 0))
    assert [file for _, file in result.files] == [
        "train/red/new_00-1.png",
        "train/red/new_00-2.png",
    ]
    after, records = tree_digest(split_dir), ("manifest.csv", "split.json")  # appended to
    assert {k: after[k] for k in before if k not in records} == {
        k: v for k, v in before.items() if k not in records
    }


@pytest.mark.slow
def test_a_linked_class_folder_keeps_its_files(tmp_path, split_dir):
    """data/train/red is a link to the user's photos elsewhere: none of them is replaced, and the
    add says that its files went there, outside the data folder (it said
    nothing), a dry run that they would."""
    elsewhere = tmp_path / "mine" / "red"
    elsewhere.parent.mkdir()
    shutil.move(split_dir / "train" / "red", elsewhere)
    (split_dir / "train" / "red").symlink_to(elsewhere)
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    new = tmp_path / "new" / "red"
    new.mkdir(parents=True)
    for i, name in enumerate(sorted(before)):  # other pictures under the same names
        make_image((200, 40, 40), seed=4000 + i).save(new / name, format="PNG")
    planned = add_images(split_dir, tmp_path / "new", ratios=(1, 0, 0), dry_run=True)
    result = add_images(split_dir, tmp_path / "new", ratios=(1, 0, 0))
    assert {n: (elsewhere / n).read_bytes() for n in before} == before
    assert len(list(elsewhere.iterdir())) == 2 * len(before)
    assert all((split_dir / file).is_file() for _, file in result.files)
    n = len(before)
    assert (
        result.linked_folders
        == planned.linked_folders
        == [("train/red", str(elsewhere.resolve()), n)]
    )
    said = (
        f"{n} new files {{}} outside the data folder, into the folders its class folders link to "
        "(nothing there is replaced; the manifest names each in the data folder): train/red -> "
        f"{elsewhere.resolve()} ({n})"
    )
    assert add_warnings(result)[-1] == said.format("went")
    assert add_warnings(planned)[-1] == said.format("would go")


@pytest.mark.slow
def test_a_file_the_plan_did_not_see_is_never_replaced(tmp_path, split_dir, monkeypatch):
    monkeypatch.setattr(add_plan, "_taken", lambda data: (set(), set()))  # as if written meanwhile
    (split_dir / "train" / "red" / "new_00.png").write_bytes(b"the user's")
    for seed, mode in enumerate(("copy", "link")):
        new = new_images(tmp_path / mode, "red", 1, seed=seed)
        result = add_images(split_dir, new, ratios=(1, 0, 0), mode=mode)
        assert (split_dir / "train" / "red" / "new_00.png").read_bytes() == b"the user's"
        ((_, file),) = result.files
        assert file.startswith("train/red/new_00-") and (split_dir / file).exists()
        assert file in {row["file"] for row in manifest(split_dir)}
    assert not list(split_dir.rglob(".*"))


@pytest.mark.slow
def test_the_default_ratios_are_the_data_folders_own(tmp_path, image_folder, capsys):
    from objrec.split.recipe import split_folder

    split_folder(image_folder, tmp_path / "d", ratios=(0.8, 0.2, 0.0), seed=0)
    new = new_images(tmp_path / "new", "red", 5)
    result = add_images(tmp_path / "d", new, seed=0, dry_run=True)
    assert result.own_ratios and result.ratios[2] == 0 and result.totals()["test"] == 0
    assert main(["add", str(tmp_path / "d"), str(new)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "placed toward the data folder's own proportions (train 30, valid 6, test 0 of its 36"
        in out
    )
    assert not (tmp_path / "d" / "test").exists()
    given = add_images(
        tmp_path / "d", new_images(tmp_path / "more", "red", 4, seed=1), ratios=(0.5, 0, 0.5)
    )
    assert not given.own_ratios and given.totals()["test"] > 0  # --ratios still overrides


def test_an_add_that_adds_nothing_says_nothing_of_where_it_placed_them(capsys):
    """an add run again (all 36 images skipped as copies) said "added 0 images", then
    "placed toward the data folder's own proportions: ..." of no image; nothing is placed then."""
    from objrec.cli.adding import print_added

    result = AddResult(Path("d"), ratios=(0.5, 0.25, 0.25), own_ratios=True)
    result.data_images = {"train": 2, "valid": 1, "test": 1}
    result.counts = {"red": {"train": 0, "valid": 0, "test": 0}}
    result.copies = {"red": 3}
    print_added(result)
    out = " ".join(capsys.readouterr().out.split())
    assert "added 0 images to d" in out and "placed toward" not in out
    result.counts["red"]["valid"] = 1
    print_added(result)
    assert "placed toward the data folder's own proportions" in capsys.readouterr().out


def test_add_says_why_a_split_got_none_in_the_line_that_counts_them(capsys):
    """2 photos a class went 0 to train, 7 to valid, 7 to test, "placed toward the
    data folder's own proportions: train 152, valid 81, test 81", which read as a contradiction:
    each class's valid and test, rounded from its new total, were short, train was not. Then
    "added 4 images to data-fixed3: train 0, valid 2, test 2" said nothing of why a user adding
    photos to help the model got none trained on: that line says so, and how to put them in
    train; a split of ratio 0 is not said to be passed over."""
    from objrec.cli.adding import placement_note, print_added

    own = AddResult(Path("d"), ratios=(152 / 314, 81 / 314, 81 / 314), own_ratios=True)
    own.data_images = {"train": 152, "valid": 81, "test": 81}
    own.counts = {name: {"train": 0, "valid": 1, "test": 1} for name in ("ant", "bee")}
    assert (
        "of its 314 images): each class's new images go to the splits short of their share "
        "of its new total, rounded" in placement_note(own)
    )
    print_added(own)
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "added 4 images to d: train 0, valid 2, test 2 (none to train: each class's train "
        "already held its share)" in out
    )
    assert out.count("--ratios 1 0 0 puts them all in train") == 1  # the note below says it
    own.own_ratios = False  # --ratios given: no note says it
    print_added(own)
    assert "already held its share; --ratios 1 0 0 puts them all in train)" in " ".join(
        capsys.readouterr().out.split()
    )
    own.own_ratios = True
    own.ratios, own.data_images = (0.8, 0.2, 0.0), {"train": 8, "valid": 2, "test": 0}
    own.counts = {"ant": {"train": 0, "valid": 1, "test": 0}}
    print_added(own)
    out = " ".join(capsys.readouterr().out.split())
    assert "test 0 (none to train: each class's train already held its share)" in out
    own.counts = {"ant": {"train": 1, "valid": 1, "test": 0}}
    print_added(own)
    assert "(none to" not in capsys.readouterr().out


def test_the_first_add_of_a_new_class_says_why_some_go_to_valid_and_test_as_later_ones_do():
    """The first add, of a new class (strawberry: train 14, valid 6, test 6), did not say why
    only some went to train; the second add, of photos of butterfly, did (newcomer62, 4). Said
    whenever some go to valid or test; --ratios 1 0 0 named only for a class DATA had, as a new
    class all in train could not be measured. Not said when all went to train."""
    from objrec.add.recipe import AddResult
    from objrec.cli.adding import placement_note

    why = "so that `objrec evaluate` measures each class on photos the model never trained on"
    first = AddResult(Path("d"), ratios=(0.5, 0.25, 0.25), own_ratios=True)
    first.data_images = {"train": 142, "valid": 70, "test": 70}
    first.counts = {"strawberry": {"train": 14, "valid": 6, "test": 6}}
    first.new_classes = ["strawberry"]
    assert placement_note(first).endswith(f"rounded, {why}")
    second = AddResult(Path("d"), ratios=(0.5, 0.25, 0.25), own_ratios=True)
    second.data_images = {"train": 156, "valid": 76, "test": 76}
    second.counts = {"butterfly": {"train": 4, "valid": 3, "test": 3}}
    assert placement_note(second).endswith(f"{why}; --ratios 1 0 0 puts them all in train")
    second.counts = {"butterfly": {"train": 4, "valid": 0, "test": 0}}
    assert why not in placement_note(second)


def test_add_gives_the_data_folders_own_proportions_as_counts_and_its_json_rounds_them():
    """add said "placed toward the ratios 0.5/0.24/0.25 (... the data folder's own
    proportions)" of 59/29/30 images, which sums to 0.99 and read as a mistake, and --json gave
    0.5042016806722689. The counts are what the proportions are; --json's to 4 decimals."""
    from objrec.add.recipe import AddResult
    from objrec.cli.adding import add_json, placement_note

    counts = {"train": 60, "valid": 29, "test": 30}
    own = AddResult(Path("d"), ratios=(60 / 119, 29 / 119, 30 / 119), own_ratios=True)
    own.data_images = counts
    own.counts = {
        "red": {"train": 1, "valid": 0, "test": 0},
        "new": {"train": 1, "valid": 1, "test": 0},
    }
    own.new_classes = ["new"]  # why, but not --ratios 1 0 0: a new class needs valid and test
    assert placement_note(own) == (
        "placed toward the data folder's own proportions (train 60, valid 29, test 30 of its 119 "
        "images): each class's new images go to the splits short of their share of its new "
        "total, rounded, so that `objrec evaluate` measures each class on photos the model never "
        "trained on"
    )
    assert add_json(own, [])["ratios"] == [0.5042, 0.2437, 0.2521]
    given = AddResult(Path("d"), ratios=(0.7, 0.15, 0.15))
    assert (
        placement_note(given)
        == "placed toward the ratios 0.7/0.15/0.15 (train/valid/test, --ratios)"
    )


def test_add_s_note_after_its_table_says_each_thing_once(capsys):
    """Under add's table, "placed toward the data folder's own proportions: ... each class's new
    images go to the splits short of their share ..." was followed by "the new images of red went
    partly to valid and test (the table above), as the data folder's own images are shared, so
    that ...": one note now says where they went, why, and how to put them all in train."""
    from objrec.cli.adding import print_added

    own = AddResult(Path("d"), ratios=(0.5, 0.25, 0.25), own_ratios=True)
    own.data_images = {"train": 60, "valid": 30, "test": 30}
    own.counts = {"red": {"train": 2, "valid": 1, "test": 0}}
    print_added(own)
    said = capsys.readouterr().out
    assert max(len(line) for line in said.splitlines()) <= 100  # the note was 306 characters
    out = " ".join(said.split())
    assert (
        "already held its share) placed toward the data folder's own proportions (train 60, "
        "valid 30, test 30 of its 120 images): each class's new images go to the splits short of their share of its "
        "new total, rounded, so that `objrec evaluate` measures each class on photos the model "
        "never trained on; --ratios 1 0 0 puts them all in train"
    ) in out
    assert "partly to valid" not in out and "shared" not in out


@pytest.mark.slow
def test_add_warns_of_a_new_class_and_a_file_name_windows_cannot_hold(tmp_path, split_dir):
    """fewfold40: split and check warn of a class folder Windows cannot hold, but `add --class
    con` and a NEW file aux.png made a class folder and a file a copy to Windows loses, without
    a word. Warned of as split warns (the add is made: it works here)."""
    from objrec.add.recipe import add_warnings

    new = new_images(tmp_path / "new", "con", 3)
    (new / "con" / "new_00.png").rename(new / "con" / "aux.png")
    result = add_images(split_dir, new / "con", class_name="con", dry_run=True)
    (target,) = [t for source, t in result.files if source.endswith("aux.png")]
    windows = [w for w in add_warnings(result) if "Windows" in w]
    assert windows == [  # one sentence: two, back to back, said the same of the folder and file
        f"class folder or file names Windows cannot hold: con, {target} (a device name each); "
        "copied to Windows, or to a FAT or exFAT drive, such a class folder or file is lost or "
        "renamed: rename it if the photos or the split folder will go there"
    ]
    only_files = add_images(split_dir, new / "con", class_name="red", dry_run=True)
    assert next(w for w in add_warnings(only_files) if "Windows" in w).startswith(
        "file names Windows cannot hold: "
    )


def test_a_new_images_manifest_group_is_the_one_split_recorded_for_what_it_was_placed_with(
    tmp_path,
):
    """One recorded group among its placing key's images of DATA: that one; none (or a file
    changed since its row): a new number after the largest, one per key; two: empty, for evaluate
    to join them (split would have made them one)."""
    (tmp_path / "manifest.csv").write_text(
        "file,class,split,sha256,source,group\n"
        + "".join(
            f"train/a/{n}.png,a,train,{n * 4}ff,/x,{g}\n"
            for n, g in zip("bcde", "3785", strict=True)
        )
    )
    existing = {tmp_path / "train" / "a" / f"{n}.png": ("train", "a") for n in "bcde"}
    hashes = {path: path.stem * 4 for path in existing} | {tmp_path / "train/a/e.png": "0000"}
    keys = {"b": "one", "c": "two", "d": "two", "e": "changed"}
    placing = {path: keys[path.stem] for path in existing}
    fresh = [NewImage(Path(f"/new/{n}"), "a", Path(n), n) for n in "vwxyz"]
    placing |= dict(
        zip([i.path for i in fresh], ["one", "two", "alone", "changed", "alone"], strict=True)
    )
    groups = add_plan._manifest_groups(tmp_path, fresh, placing, existing, hashes)
    assert [groups[image.path] for image in fresh] == ["3", "", "9", "10", "9"]


def test_a_long_legal_name_is_added(tmp_path, split_dir):
    new = new_images(tmp_path / "new", "red", 1)
    long = new / "red" / ("a" * 236 + ".png")  # 240 bytes: legal, with no room for a suffix
    (new / "red" / "new_00.png").rename(long)
    result = add_images(split_dir, new, ratios=(1, 0, 0))
    assert result.files == [(f"red/{long.name}", f"train/red/{long.name}")]
    assert (split_dir / "train" / "red" / long.name).is_file()


def test_a_killed_adds_temporary_file_goes_with_the_next_add_into_its_class_folder(
    tmp_path, split_dir
):
    """An add killed mid-copy (SIGKILL) left `.objrec-<pid>-<hex>.part` among the photos of the
    class folder it wrote into, for good; the next add there removes it (a fresh one is kept)."""
    import uuid

    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has this id
    red = split_dir / "train" / "red"
    killed, fresh = (red / f".objrec-{gone}-{uuid.uuid4().hex}.part" for _ in range(2))
    for path in (killed, fresh):
        shutil.copy(next(red.glob("*.png")), path)
    os.utime(killed, (0, 0))
    add_images(split_dir, new_images(tmp_path / "new", "red", 1), ratios=(1, 0, 0))
    assert not killed.exists() and fresh.is_file()


@pytest.mark.slow
def test_a_dry_run_writes_nothing(tmp_path, split_dir):
    before = tree_digest(split_dir)
    result = add_images(split_dir, new_images(tmp_path / "new", "purple", 4, PURPLE), dry_run=True)
    assert result.dry_run and sum(result.totals().values()) == 4
    assert tree_digest(split_dir) == before and not list(split_dir.rglob(".*"))


@pytest.mark.slow
def test_link_mode_on_a_drive_without_links_says_so_and_adds_nothing(
    tmp_path, split_dir, no_symlinks
):
    """add --link on a FAT or exFAT drive said "DATA/NAME.jpg: operation not permitted"."""
    before = tree_digest(split_dir)
    with pytest.raises(ObjrecError, match=r"is on a file system without symbolic links"):
        add_images(split_dir, new_images(tmp_path / "new", "red", 2), mode="link")
    assert tree_digest(split_dir) == before


@pytest.mark.slow
def test_link_mode_links_the_new_files(tmp_path, split_dir):
    new = new_images(tmp_path / "new", "red", 2)
    result = add_images(split_dir, new, mode="link")
    for source, file in result.files:
        assert (split_dir / file).is_symlink()
        assert (split_dir / file).resolve() == (new / source).resolve()


@pytest.mark.slow
def test_the_manifest_gets_the_new_rows(tmp_path, split_dir):
    before = manifest(split_dir)
    new = new_images(tmp_path / "new", "purple", 3, PURPLE)
    ImageOps.mirror(Image.open(new / "purple" / "new_00.png")).save(new / "purple" / "twin.png")
    original = sorted((split_dir / "test" / "red").glob("*.png"))[0]
    ImageOps.mirror(Image.open(original)).save(new / "purple" / "mirrored.png")
    result = add_images(split_dir, new)
    rows = manifest(split_dir)
    assert rows[: len(before)] == before and len(rows) == len(before) + 5
    with (split_dir / "manifest.csv").open(encoding="utf-8-sig") as f:
        assert next(csv.reader(f)) == ["file", "class", "split", "sha256", "source", "group"]
    added = {row["file"]: row for row in rows[len(before) :]}
    assert sorted(added) == sorted(file for _, file in result.files)
    for file, row in added.items():
        assert row["class"] == "purple" and file.startswith(row["split"] + "/purple/")
        assert row["source"] == str(new / "purple" / file.rsplit("/", 1)[1])
    # each group as split records it (it was left empty): the original's for its near-copy,
    # new numbers after DATA's for the others, one for new_00 and its mirrored twin
    group = {row["source"].rsplit("/", 1)[1]: row["group"] for row in added.values()}
    by_file = {row["file"]: row["group"] for row in before}
    assert group["mirrored.png"] == by_file[original.relative_to(split_dir).as_posix()]
    last = max(int(g) for g in by_file.values())
    assert group["new_00.png"] == group["twin.png"]
    assert sorted(int(group[f"new_0{i}.png"]) for i in range(3)) == [last + 1, last + 2, last + 3]
    for name in ("manifest.csv", "split.json"):  # a split folder made by hand gets none
        (split_dir / name).unlink()
    add_images(split_dir, new_images(tmp_path / "more", "red", 1, seed=5))
    assert not (split_dir / "manifest.csv").exists()


@pytest.mark.slow
def test_a_manifest_of_another_format_is_refused_before_anything_is_written(tmp_path, split_dir):
    new = new_images(tmp_path / "new", "red", 1)
    text = (split_dir / "manifest.csv").read_text(encoding="utf-8-sig")
    for bad in (text.replace(",", ";"), text.split("\n", 1)[1], 'file,"class\n'):
        (split_dir / "manifest.csv").write_text(bad)
        before = tree_digest(split_dir)
        with pytest.raises(ObjrecError, match=r"manifest\.csv(, line \d+:)? (is not|cannot be)"):
            add_images(split_dir, new)
        assert tree_digest(split_dir) == before
    (split_dir / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # a BOM is fine
    result = add_images(split_dir, new)
    with (split_dir / "manifest.csv").open(encoding="utf-8-sig") as f:
        assert list(csv.DictReader(f))[-1]["file"] == result.files[0][1]


def test_a_manifest_line_that_cannot_be_read_is_named_by_its_number(tmp_path, split_dir):
    """add's check of the manifest said "cannot be read as a CSV file" and the csv module's or
    the codec's words ("in position 10", a place in a chunk it read), naming no line: a manifest
    of thousands of rows was searched by hand. It names the file and the line, from 1 as an
    editor numbers them, with or without a BOM, before anything is written."""
    from objrec.manifest import check_manifest

    new = new_images(tmp_path / "new", "red", 1)
    manifest = split_dir / "manifest.csv"
    lines = manifest.read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines(keepends=True)
    long = [*lines[:2], lines[2].rstrip(b"\r\n") + b',"' + b"x" * 140_000 + b'"\r\n', *lines[3:]]
    not_utf8 = [*lines[:2], lines[2].replace(b",", b",\xff", 1), *lines[3:]]
    for bom in (b"", b"\xef\xbb\xbf"):
        for bad, why in ((long, "field larger than field limit"), (not_utf8, "not UTF-8")):
            manifest.write_bytes(bom + b"".join(bad))
            with pytest.raises(ObjrecError) as refused:
                check_manifest(manifest)
            said = f"{manifest}, line 3: cannot be read as CSV ({why}"
            assert str(refused.value).startswith(said)
            assert str(refused.value).endswith("): fix it or move it away, then add")
    before = tree_digest(split_dir)
    with pytest.raises(ObjrecError, match=r"manifest\.csv, line 3: cannot be read as CSV"):
        add_images(split_dir, new)
    assert tree_digest(split_dir) == before


def test_a_class_named_apart_only_by_case_is_refused(tmp_path, split_dir):
    new = new_images(tmp_path / "new", "Red", 1)
    two = new_images(tmp_path / "two", "Purple", 1, PURPLE)
    cases = [
        ([new], {}, "the new class 'Red' and the data folder's class 'red' differ only in case"),
        ([new / "Red"], {"class_name": "RED"}, "`class_name` 'RED' and the data folder's class"),
        (
            [new_images(two, "pURPLE", 1, seed=5)],
            {},
            "new class 'pURPLE' and the new class 'Purple'",
        ),
    ]
    before = tree_digest(split_dir)
    for given, kwargs, message in cases:
        with pytest.raises(ObjrecError, match=message):
            add_images(split_dir, given, **kwargs)
    assert tree_digest(split_dir) == before


@pytest.mark.slow
def test_a_new_class_named_like_one_of_data_is_refused_as_a_misspelling(
    tmp_path, split_dir, capsys
):
    """``--class sunflowr`` beside the data folder's sunflower, a ``butterfy/`` folder of new
    photos: each was planned as a new class without a word; refused now, asking
    "is it X?", before anything is written (a dry run too), unless said new."""
    new = new_images(tmp_path / "new", "gren", 1, (40, 180, 60))
    new_images(new, "bleu", 1, (40, 60, 200), seed=910)
    new_images(new, "purple", 1, PURPLE, seed=920)  # a new class of a name of its own
    before = tree_digest(split_dir)
    with pytest.raises(UsageRefused, match=r"^`class_name` redd \(is it red\?\) is named like a"):
        add_images(split_dir, new / "gren", class_name="redd")
    assert main(["add", str(split_dir), str(new / "gren"), "--class", "redd", "--dry-run"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # the option named, a usage error (review65b)
    assert err.startswith("error: --class redd (is it red?) is named like a class of the data")
    assert err.endswith("give --new-class (see objrec add --help)")
    assert main(["add", str(split_dir), str(new), "--dry-run"]) == 1  # class folders: no option
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "the new classes bleu (is it blue?), gren (is it green?) are named like classes of the "
        "data folder: to add to them, give their name; to make new classes, give --new-class"
    ) in err
    assert tree_digest(split_dir) == before
    result = add_images(split_dir, new, dry_run=True, new_class=True)
    assert result.new_classes == ["bleu", "gren", "purple"]


@pytest.mark.slow
def test_a_class_named_apart_only_by_accent_encoding_is_that_class(tmp_path, split_dir):
    """A Mac's NFD ``Café`` folder of new photos, the data folder's NFC ``Café``: one name to a
    person, refused as differing "in how their accents are encoded"; they join that class now,
    and a new class of an NFD name is written in NFC."""
    nfd, nfc = "Cafe\u0301", "Caf\u00e9"
    for split in ("train", "valid", "test"):
        shutil.copytree(split_dir / split / "red", split_dir / split / nfc)
    new = new_images(tmp_path / "new", nfd, 3, PURPLE, seed=700)
    new_images(new, "Cre\u0300me", 2, (240, 230, 200), seed=710)
    result = add_images(split_dir, new)
    assert sorted(result.counts) == ["Caf\u00e9", "Cr\u00e8me"] and result.new_classes == [
        "Cr\u00e8me"
    ]
    assert result.empty_classes == [] and sum(result.counts[nfc].values()) == 3
    folders = {
        p.name for split in ("train", "valid", "test") for p in (split_dir / split).iterdir()
    }
    assert nfd not in folders and "Cre\u0300me" not in folders and "Cr\u00e8me" in folders
    with (split_dir / "manifest.csv").open(encoding="utf-8-sig") as f:
        added = [row["class"] for row in csv.DictReader(f)][-5:]
    assert sorted(added) == ["Caf\u00e9"] * 3 + ["Cr\u00e8me"] * 2
    (one,) = add_images(
        split_dir, new_images(tmp_path / "one", "x", 1, seed=720) / "x", class_name=nfd
    ).counts
    assert one == nfc


@pytest.mark.slow
def test_class_names_one_folder_or_several_files(tmp_path, split_dir):
    loose = tmp_path / "loose"
    loose.mkdir()
    for i in range(3):
        make_image(PURPLE, seed=600 + i).save(loose / f"p{i}.png")
    with pytest.raises(ObjrecError, match="holds images but no class folders: name their class"):
        add_images(split_dir, loose)
    one = add_images(split_dir, loose, class_name="purple", dry_run=True)
    assert sum(one.counts["purple"].values()) == 3 and one.new_classes == ["purple"]
    files = add_images(split_dir, [loose / "p0.png", loose / "p1.png"], class_name="red")
    assert sorted(source for source, _ in files.files) == [str(loose / f"p{i}.png") for i in (0, 1)]


@pytest.mark.slow
def test_class_refuses_a_folder_of_class_folders(tmp_path, split_dir, capsys, caplog):
    new = new_images(tmp_path / "new", "blue", 1, (40, 40, 200))
    before = tree_digest(split_dir)
    with pytest.raises(ObjrecError, match="new holds folders named like the data folder's classe"):
        add_images(split_dir, new, class_name="red")
    assert main(["add", str(split_dir), str(new), "--class", "red"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "classes (blue): drop --class to add class folders" in err
    assert tree_digest(split_dir) == before
    albums = new_images(tmp_path / "albums", "2024-summer", 1, (200, 40, 40))
    with caplog.at_level("WARNING", logger="objrec.add.recipe"):
        result = add_images(split_dir, albums, class_name="red")  # sub-folders of other names
    assert "holds sub-folders (2024-summer): their images are added as class red" in caplog.text
    assert sum(result.totals().values()) == 1


@pytest.mark.slow
def test_undecodable_new_files_are_left_out_and_named(tmp_path, split_dir, caplog):
    """Named in ``unreadable_files`` and, as the CLI shows them, logged at WARNING (they were
    not: a Python user saw nothing)."""
    new = new_images(tmp_path / "new", "red", 2)
    (new / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with caplog.at_level("WARNING", logger="objrec.add.recipe"):
        result = add_images(split_dir, new)
    assert result.unreadable_files == ["red/broken.jpg"] and len(result.files) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "left out 1 image file that cannot be read: red/broken.jpg" in warnings
    assert not list(split_dir.glob("*/red/broken*"))


def test_files_the_system_will_not_read_are_left_out_of_an_add_and_named(
    tmp_path, split_dir, monkeypatch, caplog
):
    """review63a H1: a new photo whose read failed with EIO stopped `add_images` with an OSError
    naming no file ("error: input/output error"): it is left out and named, as an undecodable one
    is. One of the data folder's photos that cannot be read is named in a warning, and the new
    images are placed without it."""
    from .test_split import failing_read

    new = new_images(tmp_path / "new", "red", 3)
    kept = sorted(split_dir.glob("train/blue/*"))[0]
    failing_read(monkeypatch, new / "red" / "new_01.png", kept)
    with caplog.at_level("WARNING", logger="objrec"):
        result = add_images(split_dir, new)
    assert result.unreadable_files == ["red/new_01.png"] and len(result.files) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "left out 1 image file that cannot be read: red/new_01.png" in warnings
    assert any(str(kept) in w and "Input/output error" in w for w in warnings), warnings
    assert not list(split_dir.glob("*/red/new_01*")) and kept.is_file()


def test_an_added_class_named_like_a_formula_is_guarded_in_the_manifest(tmp_path, split_dir):
    """review63a M5: the rows add appends to manifest.csv wrote a class named ``-1`` raw (a
    formula in a spreadsheet); guarded now as split writes them, and read back as it is."""
    from objrec.manifest import MANIFEST, manifest_rows

    add_images(split_dir, new_images(tmp_path / "new", "-1", 3), new_class=True)
    text = (split_dir / MANIFEST).read_text(encoding="utf-8-sig")
    assert ",'-1," in text and ",-1," not in text
    added = [row for row in manifest_rows(split_dir / MANIFEST) if row["class"] == "-1"]
    assert len(added) == 3 and all(row["file"].split("/")[1] == "-1" for row in added)


@pytest.mark.slow
def test_heic_photos_without_pillow_heif_are_said_apart_when_added(
    tmp_path, split_dir, caplog, no_heif_plugin
):
    """An archivist adding iPhone photos without pillow-heif was told "none of the new images can
    be read: ..." (or "left out 2 image files that cannot be read") and not why: the HEIC photos
    are named apart, with how to have them read, as split names them."""
    from .conftest import save_heic

    new = tmp_path / "new" / "red"
    new.mkdir(parents=True)
    for name in ("IMG_0001.HEIC", "IMG_0002.HEIC"):
        save_heic(make_image((200, 40, 40)), new / name)
    (new / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(
        ObjrecError, match=r"; 2 of them are HEIC or HEIF photos, which pillow-heif"
    ):
        add_images(split_dir, tmp_path / "new")
    new_images(tmp_path / "new", "red", 2)
    with caplog.at_level("WARNING", logger="objrec.add.recipe"):
        result = add_images(split_dir, tmp_path / "new")
    assert result.no_decoder_files == ["red/IMG_0001.HEIC", "red/IMG_0002.HEIC"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "left out 1 image file that cannot be read: red/cut.jpg" in warnings
    assert (
        "left out 2 HEIC or HEIF photos, which pillow-heif reads once installed (`pip install "
        "pillow-heif`; or convert them to JPEG or PNG): red/IMG_0001.HEIC, red/IMG_0002.HEIC"
    ) in warnings


@pytest.mark.slow
def test_a_heic_photo_whose_facts_were_kept_is_left_out_where_pillow_heif_cannot_read_it(
    tmp_path, split_dir, heif_unregistered, monkeypatch
):
    """Facts the cache kept of a HEIC photo while pillow-heif read it made add place it where
    pillow-heif is installed but cannot be used (check and predict refuse it there): add now
    leaves it out, saying why, as split and check do."""
    from objrec import heif

    from .conftest import save_heic, unregister_heif

    new = new_images(tmp_path / "new", "red", 1)
    save_heic(make_image((200, 40, 40)), new / "red" / "IMG_0001.HEIC")
    assert add_images(split_dir, new, dry_run=True).no_decoder_files == []
    unregister_heif(monkeypatch)  # installed (same version, same facts key) but cannot be used
    monkeypatch.setattr(heif, "_register_heif", lambda: False)
    result = add_images(split_dir, new, dry_run=True)
    assert result.no_decoder_files == ["red/IMG_0001.HEIC"]
    assert sum(result.counts["red"].values()) == 1


def test_refusals_name_the_path_or_option_and_write_nothing(tmp_path, split_dir):
    new = new_images(tmp_path / "new", "red", 1)
    empty = tmp_path / "empty"
    (empty / "red").mkdir(parents=True)
    cases = [
        (tmp_path / "nope", new, {}, "the data folder .*nope does not exist"),
        (new, new_images(tmp_path / "other", "red", 1), {}, "new is not a split folder"),
        (split_dir, tmp_path / "nope", {}, "nope does not exist"),
        (split_dir, empty, {}, "empty holds no images"),
        (split_dir, new, {"class_name": "a/b"}, "'a/b' is not a valid folder name for `class_"),
        (split_dir, new, {"class_name": ".cats"}, "'.cats' is not a valid folder name"),
        (split_dir, split_dir / "train" / "red", {"class_name": "red"}, "inside the data folder"),
        (split_dir, tmp_path, {}, "the data folder .* lies inside"),
        (new, split_dir, {}, "new is not a split folder, but .* is: the split folder comes first"),
        (split_dir, new, {"groups": new}, "`groups` is read by split_folder only"),
    ]
    before = tree_digest(tmp_path)
    for data, given, kwargs, message in cases:
        with pytest.raises(ObjrecError, match=message):
            add_images(data, given, **kwargs)
    fake_checkpoint(split_dir / "model.safetensors")
    with pytest.raises(ObjrecError, match="is a run folder"):
        add_images(split_dir, new)
    (split_dir / "model.safetensors").unlink()
    assert tree_digest(tmp_path) == before


@pytest.mark.slow
def test_the_data_folder_is_locked_while_adding(tmp_path, split_dir, monkeypatch):
    seen = []
    write = add_module.write_added

    def check_lock(data, rows, *args):
        fd = os.open(data, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append("free")
        except OSError:
            seen.append("held")
        finally:
            os.close(fd)
        return write(data, rows, *args)

    monkeypatch.setattr(add_module, "write_added", check_lock)
    add_images(split_dir, new_images(tmp_path / "new", "red", 1))
    assert seen == ["held"]


@pytest.mark.slow
def test_waiting_for_the_lock_and_copying_are_said(tmp_path, split_dir):
    fd = os.open(split_dir, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another objrec process writing there

    def wait():
        said.append("waiting")
        os.close(fd)  # ... which then stops

    said: list = []
    new = new_images(tmp_path / "new", "red", 3)
    add_images(split_dir, new, on_wait=wait, on_write=lambda *step: said.append(step))
    assert said == ["waiting", (1, 3), (2, 3), (3, 3)]


def test_add_waiting_for_the_folder_says_a_reader_may_hold_it(tmp_path, capsys, monkeypatch):
    """add waits for any objrec process holding DATA's lock, an audit, apply-plan or train only
    reading it too (they hold it shared): its line said "to stop writing in DATA", where an audit
    read it. Audit's and apply-plan's, which wait for writers alone, say so still."""
    from objrec.cli.output import waiting_line

    def held(data, new, **settings):
        settings["on_wait"]()  # the folder is held: said, then the add stops here
        raise ObjrecError("stopped")

    monkeypatch.setattr(add_module, "add_images", held)
    (data := tmp_path / "data").mkdir()
    (tmp_path / "new").mkdir()
    assert main(["add", str(data), str(tmp_path / "new")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "waiting for other objrec processes to stop reading or writing" in err
    waiting_line(data)()
    assert "to stop writing in" in capsys.readouterr().err


@pytest.mark.slow
def test_an_empty_class_folder_and_a_dry_run_are_said(tmp_path, split_dir, capsys):
    from PIL import Image

    new = new_images(tmp_path / "new", "red", 1)
    (new / "empty").mkdir()
    first = sorted((split_dir / "test" / "red").glob("*.png"))[0]
    ImageOps.mirror(Image.open(first)).save(new / "red" / "mirrored.png")
    assert main(["add", str(split_dir), str(new), "--dry-run"]) == 0
    out, err = (" ".join(text.split()) for text in capsys.readouterr())
    assert "left out class folders without images: empty" in err
    like = f"test/red/{first.name}"  # it named neither the split nor the image
    assert (
        "1 image would go to the split of a near-duplicate already in the data folder: "
        f"red/mirrored.png to test (like {like})"
    ) in out
    assert f"red/mirrored.png -> test/red/mirrored.png (like {like}, already there)" in out
    assert main(["add", str(split_dir), str(new), "--dry-run", "--json"]) == 0
    near = json.loads(capsys.readouterr().out)["near_duplicates"]
    assert near == [{"source": "red/mirrored.png", "split": "test", "near_duplicate": like}]


@pytest.mark.slow
def test_an_interrupted_copy_leaves_no_file_under_its_final_name(tmp_path, split_dir, monkeypatch):
    def half_then_fail(source, target):
        Path(target).write_bytes(Path(source).read_bytes()[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(file_index, "copy_hashed", half_then_fail)
    before = tree_digest(split_dir)
    with pytest.raises(Interrupted, match=r"^interrupted: nothing was written to "):
        add_images(split_dir, new_images(tmp_path / "new", "red", 1))
    assert tree_digest(split_dir) == before and not list(split_dir.rglob(".*"))


@pytest.mark.slow
def test_an_interrupted_add_leaves_no_file_without_its_manifest_row(
    tmp_path, split_dir, monkeypatch
):
    """An add stopped partway keeps its files, each in the manifest, and split.json's `added`
    lists it (it did not: the folder's record no longer told how it was made): the files it
    wrote, and that it was stopped."""
    from objrec.manifest import read_split_record

    calls = []

    def copy_then_stop(source, target):
        calls.append(source)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(source, target)

    real = file_index.copy_hashed
    monkeypatch.setattr(file_index, "copy_hashed", copy_then_stop)
    with pytest.raises(Interrupted):
        add_images(split_dir, new_images(tmp_path / "new", "red", 6), seed=0)
    rows = {row["file"] for row in manifest(split_dir)}
    files = {p.relative_to(split_dir).as_posix() for p in split_dir.glob("*/*/*")}
    assert files == rows and len(rows) == 36 + 2  # the first two new files
    (entry,) = read_split_record(split_dir)["added"]
    assert entry["new"] == [str(tmp_path / "new")] and entry["files"] == 2 and entry["stopped"]


@pytest.mark.slow
def test_add_through_the_cli(capsys, tmp_path, split_dir):
    new = new_images(tmp_path / "new", "purple", 4, PURPLE)
    shutil.copy(sorted((split_dir / "train" / "red").iterdir())[0], new / "purple" / "dup.jpg")
    code = main(["add", str(split_dir), str(new), "--json"])
    captured = capsys.readouterr()
    answer = json.loads(captured.out)
    assert code == 0 and answer["totals"] == {"train": 2, "valid": 1, "test": 1}
    assert answer["classes"] == {"purple": {"train": 2, "valid": 1, "test": 1, "copies": 1}}
    assert answer["new_classes"] == ["purple"] and not answer["dry_run"]
    assert {f["source"] for f in answer["files"]} == {f"purple/new_{i:02d}.png" for i in range(4)}
    assert answer["copies"][0]["source"] == "purple/dup.jpg"
    assert "labels is probably wrong" in answer["warnings"][0]
    err = " ".join(captured.err.split())  # on stderr too, as docs/json.md says
    assert [f"warning: {w}" in err for w in answer["warnings"]] == [True] * len(answer["warnings"])
    code = main(["add", str(split_dir), str(new_images(tmp_path / "more", "red", 1, seed=1))])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0 and "added 1 image to" in out
    assert f"objrec train {split_dir} --out NEW_RUN" in out  # a command train accepts as it is
    code = main(["add", str(split_dir), str(new), "--class", "a/b"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and "'a/b' is not a valid folder name for --class" in err


@pytest.mark.slow
def test_add_says_its_warnings_before_its_summary_and_next_step(
    capsys, monkeypatch, tmp_path, split_dir
):
    """Both streams in one terminal read the add's table, "added 4 images to data", "next:
    objrec train ...", and only then "warning: pictures in two classes ...": a warning after the
    step to take next, about the images just counted. Its warnings come first now, as split's."""
    new = new_images(tmp_path / "new", "purple", 4, PURPLE)
    shutil.copy(sorted((split_dir / "train" / "red").iterdir())[0], new / "purple" / "dup.jpg")
    monkeypatch.setattr(sys, "stderr", sys.stdout)  # one stream, as a terminal shows both
    code = main(["add", str(split_dir), str(new)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    warned = [i for i, line in enumerate(lines) if line.startswith("warning:")]
    added = next(i for i, line in enumerate(lines) if line.startswith("added 4 images to"))
    assert code == 0 and warned and max(warned) < added, lines
    assert "objrec train" in lines[-1]


@pytest.mark.slow
def test_add_s_table_has_a_column_of_copies_skipped_only_when_some_were(
    capsys, tmp_path, split_dir
):
    """Every add of new photos printed a "copies skipped" column of zeros (msgs54's loop): it
    comes only with a copy skipped."""
    new = new_images(tmp_path / "new", "red", 2)
    assert main(["add", str(split_dir), str(new), "--seed", "1"]) == 0
    assert "copies skipped" not in capsys.readouterr().out
    again = tmp_path / "again" / "red"
    again.mkdir(parents=True)
    shutil.copy(next((split_dir / "train" / "red").iterdir()), again / "copy.png")
    assert main(["add", str(split_dir), str(again.parent), "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "copies skipped" in out and "│ red " in out


@pytest.mark.slow
def test_add_says_when_it_changes_the_test_split_and_how_to_compare(capsys, tmp_path, split_dir):
    """Images put into test/ changed the test set, without a word: a score before the add and one
    after were compared as if on the same images. Said as information, on stdout: the user asked
    for those images to be added ('warning: 8 test images changed (8 added)' read as a fault)."""
    new = new_images(tmp_path / "new", "red", 4)
    code = main(["add", str(split_dir), str(new), "--seed", "1", "--dry-run"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0 and "1 test image would changed" not in out
    assert "1 test image would change (1 added): scores before and after would be on" in out
    assert main(["add", str(split_dir), str(new), "--seed", "1"]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert (
        "1 test image changed (1 added): scores before and after are on different test sets "
        "(evaluate's first line names the set); to compare the run you train next with the old "
        f"one, evaluate both on the new folder: `objrec evaluate NEW_RUN {split_dir} --against "
        "OLD_RUN`" in out
    )  # msgs55: "(evaluate's 'test set' is ...; compare scores only between evaluations of the
    # same set)" ended it, saying again what it had begun with
    assert IMAGE_SET_MEANING not in out
    assert "test image" not in captured.err  # no 'warning:' for what was asked
    more = new_images(tmp_path / "more", "red", 1, seed=1)
    code = main(["add", str(split_dir), str(more), "--ratios", "1", "0", "0", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 0 and answer["totals"]["test"] == 0
    assert answer["test_note"] is None  # train only: nothing said
    # seed 600: seed 2 makes red/img_02.jpg's top 32 rows, a copy cut at the bottom (its split's)
    more = new_images(tmp_path / "more2", "red", 2, seed=600)
    code = main(["add", str(split_dir), str(more), "--ratios", "0", "0", "1", "--json"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 0 and answer["totals"]["test"] == 2
    assert answer["test_note"].startswith("2 test images changed (2 added)")
    assert not any("test image" in w for w in answer["warnings"])


@pytest.mark.slow
def test_train_after_an_add_computes_only_the_new_images(tmp_path, split_dir, tiny_config):
    from objrec.train import train

    cold = train(split_dir, tmp_path / "a", tiny_config)
    result = add_images(split_dir, new_images(tmp_path / "new", "red", 4))
    warm = train(split_dir, tmp_path / "b", tiny_config)
    added = result.counts["red"]
    views = 1 + tiny_config.aug_views  # a training image: its centre crop and augmented views
    assert warm.frozen_pass.computed == views * added["train"] + added["valid"]
    assert warm.frozen_pass.from_store == cold.frozen_pass.computed


@pytest.mark.slow
def test_a_second_add_reads_only_the_files_it_has_not_hashed_as_they_are(
    tmp_path, split_dir, monkeypatch
):
    """add hashed every file of DATA with SHA-256 on each run; the feature store's file index
    (path, size, times, inode) now gives the digests of the files it has seen unchanged, and of
    the files an add wrote (the copies of the new images it hashed: read again by the next add
    before the index took them). A file is read for its SHA-256 by the index, or once for it
    and its facts together (``file_index.read_first``): ``read_for_sha256`` counts both."""
    from .test_store import read_for_sha256

    hashed = read_for_sha256(monkeypatch)

    def read() -> list[str]:
        return [p.resolve().relative_to(tmp_path).as_posix() for p in hashed]

    images = sorted(p.relative_to(tmp_path).as_posix() for p in split_dir.rglob("*.*g"))
    first = add_images(split_dir, new_images(tmp_path / "new1", "red", 2))
    assert sorted(read()) == sorted([*images, "new1/red/new_00.png", "new1/red/new_01.png"])
    hashed.clear()
    add_images(split_dir, new_images(tmp_path / "new2", "red", 2, seed=800))
    assert sorted(read()) == ["new2/red/new_00.png", "new2/red/new_01.png"]
    changed = first.files[0][1]  # known as the first add wrote it, then replaced: read again
    (split_dir / changed).unlink()
    make_image((40, 40, 40), seed=5).save(split_dir / changed)
    hashed.clear()
    add_images(split_dir, new_images(tmp_path / "new3", "red", 1, seed=600))
    assert sorted(read()) == [f"data/{changed}", "new3/red/new_00.png"]
    with (split_dir / "manifest.csv").open(
        newline="", encoding="utf-8-sig"
    ) as f:  # whole SHA-256s, as split's
        rows = list(csv.DictReader(f))
    assert all(len(row["sha256"]) == 64 for row in rows)


@pytest.mark.slow
def test_add_given_trains_cache_dir_hashes_none_of_the_files_train_hashed(
    capsys, tmp_path, split_dir, monkeypatch
):
    """After `objrec train ... --cache-dir ELSEWHERE`, add opened the default cache folder's
    store and hashed every file of DATA again; `--cache-dir ELSEWHERE` gives it train's."""
    from .test_store import read_for_sha256

    elsewhere = tmp_path / "elsewhere"
    train = ["train", split_dir, "--out", tmp_path / "run", "--backbone", "tiny_test"]
    assert main([str(a) for a in [*train, "--epochs", "1", "--cache-dir", elsewhere]]) == 0
    hashed = read_for_sha256(monkeypatch)

    def read() -> list[str]:
        return [p.resolve().relative_to(tmp_path).as_posix() for p in hashed]

    new = new_images(tmp_path / "new", "red", 2)
    capsys.readouterr()
    assert main(["add", str(split_dir), str(new), "--cache-dir", str(elsewhere)]) == 0
    assert sorted(read()) == ["new/red/new_00.png", "new/red/new_01.png"]  # the new images alone:
    # train hashed its train, valid and test images (image_classes.csv)
    assert f"--out NEW_RUN --cache-dir {elsewhere}`" in capsys.readouterr().out  # what to run next
    hashed.clear()
    assert main(["add", str(split_dir), str(new_images(tmp_path / "new2", "red", 1, 600))]) == 0
    assert len(read()) == len(list(split_dir.rglob("*.*g")))  # default store: all, the new one's


def blend_chain(colour, seed, shares):
    """One noisy picture turning into another (``shares`` of the second): close shares are
    near-duplicates by split's rule, far ones not."""
    a, b = (np.asarray(make_image(colour, seed=s), np.float32) for s in (seed, seed + 1))
    return [Image.fromarray((a * (1 - t) + b * t).round().astype(np.uint8)) for t in shares]


def chained_folders(split_dir: Path, tmp_path: Path) -> Path:
    """Chains of near-duplicates (each near the next only) in ``split_dir``'s splits, and a new
    folder whose images extend them, link two of them, or are near each other; returns it."""
    red = blend_chain((200, 40, 40), 3000, (0.3, 0.4, 0.5, 0.6))  # each near the next only
    green = blend_chain((40, 180, 60), 3002, (0.3, 0.4, 0.5))
    red[0].save(split_dir / "train" / "red" / "chain_1.png")
    red[1].save(split_dir / "test" / "red" / "chain_2.png")  # old-old, in two splits by hand
    green[0].save(split_dir / "valid" / "green" / "link_1.png")
    green[2].save(split_dir / "train" / "blue" / "link_3.png")
    new = new_images(tmp_path / "new", "purple", 4, PURPLE, seed=700)
    twin = make_image(PURPLE, seed=800)
    twin.save(new / "purple" / "twin.png")
    ImageOps.mirror(twin).save(new / "purple" / "twin_mirrored.png")  # new-new
    (new / "red").mkdir()
    red[2].save(new / "red" / "chain_3.png")  # near chain_2 only
    red[3].save(new / "red" / "chain_4.png")  # near chain_3 only
    (new / "blue").mkdir()
    green[1].save(new / "blue" / "link_2.png")  # links two groups of DATA
    return new


def add_counting_pairs(data: Path, new: Path, monkeypatch) -> tuple[AddResult, list[int]]:
    """``add_images(data, new)``'s result, and how many images (all pairs) or rows (the pairs of
    those rows) each call of ``dedup.split_pairs`` measured."""
    measured, split_pairs = [], dedup.split_pairs

    def measuring(facts, rows=None):
        if rows is None:  # all pairs
            measured.append(len(facts))
            return split_pairs(facts)
        measured.append(len(rows))
        return split_pairs(facts, rows)

    monkeypatch.setattr(dedup, "split_pairs", measuring)
    result = add_images(data, new, seed=3)
    monkeypatch.setattr(dedup, "split_pairs", split_pairs)
    return result, measured


def assert_chains_placed_and_said(result: AddResult) -> None:
    """Where :func:`chained_folders`' new images went, and what add says of the chains."""
    placed = dict(result.files)
    assert {placed[f"red/chain_{i}.png"].split("/")[0] for i in (3, 4)} == {"train"}  # a tie
    twins = [placed[f"purple/{name}.png"].split("/")[0] for name in ("twin", "twin_mirrored")]
    assert twins[0] == twins[1]
    chain = ["train/red/chain_1.png", "test/red/chain_2.png"]
    assert sorted(result.spread_groups) == [
        ("blue/link_2.png", ["train/blue/link_3.png", "valid/green/link_1.png"]),
        ("red/chain_3.png", chain),
        ("red/chain_4.png", chain),
    ]
    assert result.cross_class_duplicates == [("valid/green/link_1.png", "blue/link_2.png")]
    assert result.near_duplicate_files == 3
    # link_1 and link_3 were split apart as two pictures, not by hand: the sentence said
    # "changed by hand", though link_2, near both, makes the leak wherever it goes
    (sentence,) = [w for w in add_warnings(result) if "in two splits" in w]
    assert "by hand" in sentence and "like two pictures in different splits" in sentence
    assert "changed by hand" not in sentence and "a leak whichever split each goes to" in sentence


@pytest.mark.slow
def test_add_measures_only_pairs_with_a_new_image_and_decides_as_all_pairs_do(
    tmp_path, split_dir, monkeypatch
):
    """add compared every pair of DATA's images (its square); now only pairs holding a new image,
    then those holding an image of DATA found near one, until no new one comes."""
    new = chained_folders(split_dir, tmp_path)
    facts = [image_facts.image_facts(new / "red" / f"chain_{i}.png") for i in (3, 4)]
    assert dedup.split_pairs(
        [image_facts.image_facts(split_dir / "train/red/chain_1.png"), *facts]
    ) == [(1, 2)]
    all_pairs = Path(shutil.copytree(split_dir, tmp_path / "all_pairs"))
    result, measured = add_counting_pairs(split_dir, new, monkeypatch)
    assert measured == [9, 3, 1]  # the new images, chain_2 link_1 link_3, then chain_1

    monkeypatch.setattr(add_plan, "near_groups", lambda *args, among: near_groups(*args))
    expected = add_images(all_pairs, new, seed=3)
    assert dataclasses.replace(result, data=all_pairs) == expected
    assert (split_dir / "manifest.csv").read_text() == (all_pairs / "manifest.csv").read_text()
    assert counts(split_dir) == counts(all_pairs)
    assert_chains_placed_and_said(result)


@pytest.mark.slow
def test_add_says_where_a_known_class_went_why_and_how_to_train_on_all(tmp_path, split_dir, capsys):
    """A teacher added photos of a weak class and found some in valid and test, wanting them all
    in train: nothing said why they were shared, nor pointed to `--ratios 1 0 0`. The sentence
    names the classes whose counts the table above it gives (it said them again: "red (train
    2, valid 1, test 1)"); a Python caller's log, with no table, keeps the counts."""
    from objrec.add.result import shared_note

    new = new_images(tmp_path / "new", "red", 4)
    new_images(new, "purple", 4, PURPLE, seed=700)
    assert main(["add", str(split_dir), str(new), "--seed", "1", "--dry-run"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "│ red │ 2 │ 1 │ 1 │" in out  # the table counts them (no copy: no column of 0s)
    assert (
        "each class's new images go to the splits short of their share of its new total, "
        "rounded, so that `objrec evaluate` measures each class on photos the model never "
        "trained on; --ratios 1 0 0 puts them all in train"
    ) in out
    assert "red (train 2, valid 1, test 1)" not in out
    red = {"red": {"train": 2, "valid": 1, "test": 1}}
    result = AddResult(split_dir, counts=red, own_ratios=True, dry_run=True)
    assert shared_note(result).startswith("the new images of red (train 2, valid 1, test 1) would")
    assert "purple (train" not in out  # a new class needs valid and test images
    more = new_images(tmp_path / "more", "red", 3, seed=910)  # not copies of its photos
    code = main(["add", str(split_dir), str(more), "--ratios", "1", "0", "0"])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0 and counts(split_dir)["red"] == [9, 3, 3] and "went partly" not in out


def test_a_new_class_named_unknown_is_warned_of_as_split_warns_of_it(tmp_path):
    """split warns that train will refuse a class named unknown (predict's answer for an image
    like none of the classes), but add added such a class without a word: the next train then
    refused it, after the photos were in every split."""
    from objrec.add.recipe import AddResult

    added = {"train": 2, "valid": 0, "test": 0}
    result = AddResult(tmp_path, counts={"Unknown": added}, new_classes=["Unknown"])
    (sentence,) = add_warnings(result)
    assert sentence.startswith("`train` will refuse the class named Unknown: predict and evaluate")
    assert not add_warnings(AddResult(tmp_path, counts={"red": added}, new_classes=["red"]))


def test_a_class_folder_name_with_a_space_is_given_quoted_for_the_shell(
    tmp_path, split_dir, capsys
):
    """The option the sentence gives is one a user can copy: for a folder "my camera" it read
    "--class my camera", which the shell passes as --class my and a second folder, camera."""
    camera = tmp_path / "my camera"
    camera.mkdir()
    make_image(PURPLE, seed=701).save(camera / "c0.png")
    assert main(["add", str(split_dir), str(camera)]) == 2  # an option missing: a usage error
    err = " ".join(capsys.readouterr().err.split())
    assert err.endswith(
        "(--class 'my camera', if my camera is their class) (see objrec add --help)"
    )


def test_a_folder_of_one_class_is_told_the_class_option_with_its_name(tmp_path, split_dir, capsys):
    """A teacher's camera/ of camera photos, as the README's "a new class folder" read: `objrec
    add data camera` said "camera holds images but no class folders: name their class with
    --class", leaving the name to guess. It now gives the option with the folder's name."""
    camera = tmp_path / "camera"
    camera.mkdir()
    make_image(PURPLE, seed=700).save(camera / "c0.png")
    assert main(["add", str(split_dir), str(camera)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "holds images but no class folders: name their class with --class" in err
    assert err.endswith("(--class camera, if camera is their class) (see objrec add --help)")


def test_a_class_folder_named_apart_only_by_a_space_at_either_end_is_refused(tmp_path, split_dir):
    """A folder of new photos " Purple" beside a new "Purple" was added as a second class of the
    same words (a Mac keeps the space); one beside a class of the data folder is that class."""
    two = new_images(tmp_path / "two", "Purple", 1, PURPLE)
    new_images(two, " Purple", 1, seed=5)
    before = tree_digest(split_dir)
    message = "' Purple' and the new class 'Purple' differ only in a space at either end"
    with pytest.raises(ObjrecError, match=f"{message}.*one name"):
        add_images(split_dir, two)
    assert tree_digest(split_dir) == before


def test_a_new_class_alike_but_for_case_and_a_space_is_told_the_data_folder_s_name(
    tmp_path, split_dir
):
    """A folder of new photos "Red " beside the data folder's "red" was told "give both one name
    ('Red')", a name add then refused as differing from "red" in case: the advice names the
    data folder's class, the one name add takes."""
    new = new_images(tmp_path / "new", "Red ", 1, seed=730)
    with pytest.raises(ObjrecError, match="differ only in case and a space") as caught:
        add_images(split_dir, new)
    assert str(caught.value).endswith("give both one name ('red')")


@pytest.mark.slow
def test_new_images_of_a_class_named_but_for_a_space_at_either_end_join_the_data_s_class(
    tmp_path, split_dir
):
    """The data folder's "mugs " (split from a Mac's folder): --class "mugs " is refused ("give
    mugs"), and --class mugs was refused too ("differ only in a space at either end ... give both
    one name ('mugs')"), so no image could be added to the class. A name or a folder of new photos
    alike but for a space at either end joins it, as a Mac's NFD Café joins an NFC one; one alike
    but for case too is refused in words that say so."""
    for split in ("train", "valid", "test"):
        shutil.copytree(split_dir / split / "red", split_dir / split / "mugs ")
    one = new_images(tmp_path / "one", "x", 1, seed=720) / "x"
    assert list(add_images(split_dir, one, class_name="mugs").counts) == ["mugs "]
    folders = new_images(tmp_path / "new", "mugs", 1, PURPLE, seed=700)
    new_images(folders, "red ", 1, seed=710)
    result = add_images(split_dir, folders)
    assert sorted(result.counts) == ["mugs ", "red"] and result.new_classes == []
    names = {p.name for split in ("train", "valid", "test") for p in (split_dir / split).iterdir()}
    assert "mugs" not in names and "red " not in names
    with pytest.raises(ObjrecError, match="'Mugs' differ only in case and a space at either end"):
        add_images(split_dir, one, class_name="Mugs")  # it said "only in a space"


def test_a_class_name_with_a_space_at_either_end_is_refused(tmp_path, split_dir):
    """``--class "red "`` (pasted with its space) made a second class, "red ", beside "red": the
    same word in every table, its folder one Windows cannot hold. It is refused, naming the
    name without the space, and nothing is written."""
    new = new_images(tmp_path / "new", "red", 1) / "red"
    before = tree_digest(split_dir)
    for name in ("red ", " red", "purple\t"):
        with pytest.raises(ObjrecError, match=re.escape(f"{name!r} begins or ends with a space")):
            add_images(split_dir, new, class_name=name)
    assert tree_digest(split_dir) == before


@pytest.mark.slow
def test_a_new_class_whose_group_the_data_folder_placed_is_not_said_placed_by_the_rule(
    tmp_path, split_dir
):
    """Its smaller group near copies of a test photo of another class (held in test), the other
    in train: add said "the larger group in train and the other in test", as if its rule had
    placed them, from where they ended. Now only a class the rule placed."""
    from PIL import Image

    folder = tmp_path / "new" / "purple"
    folder.mkdir(parents=True)
    held = Image.open(sorted((split_dir / "test").glob("*/*.png"))[0]).convert("RGB")
    photo = make_image(PURPLE, size=(96, 72), seed=700)
    for k in range(6):
        photo.resize((48 + 8 * k, 36 + 6 * k)).save(folder / f"p{k}.png")
    for k in range(4):
        held.resize((held.width - 4 * (k + 1), held.height - 3 * (k + 1))).save(
            folder / f"h{k}.png"
        )
    result = add_images(split_dir, tmp_path / "new", seed=0)
    assert result.counts["purple"] == {"train": 6, "valid": 0, "test": 4}
    assert result.small_classes == ["purple"] and result.two_group_classes == []
    assert not any("only two groups" in w for w in add_warnings(result))


@pytest.mark.slow
def test_a_new_class_of_two_groups_is_told_where_each_went_as_split_tells_it(tmp_path, split_dir):
    """A new class of two near-duplicate groups goes to train and test, as ``split`` places it:
    add said it had "fewer than 3 distinct images", which split now says only of a class that
    cannot fill every split; ``--json`` names it in ``two_group_classes``."""
    from objrec.cli.adding import add_json
    from objrec.split.result import two_groups_sentence

    folder = tmp_path / "new" / "purple"
    folder.mkdir(parents=True)
    for seed, n in ((700, 6), (731, 4)):
        photo = make_image(PURPLE, size=(96, 72), seed=seed)
        for k in range(n):  # one photo at several sizes: one group
            photo.resize((48 + 8 * k, 36 + 6 * k)).save(folder / f"p{seed}_{k}.png")
    result = add_images(split_dir, tmp_path / "new", seed=0)
    assert result.counts["purple"] == {"train": 6, "valid": 0, "test": 4}
    assert result.two_group_classes == ["purple"] == result.small_classes
    warnings = add_warnings(result)
    assert two_groups_sentence(["purple"]) in warnings
    assert add_json(result, warnings)["two_group_classes"] == ["purple"]
    assert not any("distinct image" in w for w in warnings)


@pytest.mark.slow
def test_each_add_is_recorded_in_the_split_folders_record(tmp_path, split_dir):
    """split.json said how the split was made, and an add changes what the folder holds: each
    add is appended to its `added` (what, with which settings, by which command); a dry run,
    an add that wrote nothing, and a split folder without split.json (made before it) get none."""
    from objrec.manifest import read_split_record

    new = new_images(tmp_path / "new", "red", 4)
    add_images(split_dir, new, seed=1, dry_run=True)
    assert read_split_record(split_dir)["added"] == []
    add_images(split_dir, new, seed=1, command=["objrec", "add", "data", "new", "--seed", "1"])
    add_images(split_dir, new / "red", class_name="red", ratios=(1, 0, 0))  # all there: none
    (first,) = read_split_record(split_dir)["added"]
    assert first["new"] == [str(new.resolve())] and first["class"] is None
    assert first["ratios"] is None and first["ratios_used"] == [0.5, 0.25, 0.25]
    assert first["seed"] == 1 and first["files"] == 4 and first["mode"] == "copy"
    assert first["command"] == ["objrec", "add", "data", "new", "--seed", "1"]
    assert first["cwd"] == os.getcwd()  # where its relative paths start
    assert read_split_record(split_dir)["seed"] == 0  # the split's own, kept
    (split_dir / "split.json").unlink()
    add_images(split_dir, new_images(tmp_path / "more", "red", 2, seed=950))
    assert not (split_dir / "split.json").exists()


def test_one_add_warns_of_a_damaged_split_json_once(tmp_path, split_dir, caplog):
    """`objrec add data new` with `{"source": ` in split.json printed "cannot be read ... how the
    split was made is not known" twice: it read split.json for its settings and again for its
    record. One add says it once; the next add says it again."""
    (split_dir / "split.json").write_text('{"source": ', encoding="utf-8")
    for n, folder in enumerate(("new", "more")):
        caplog.clear()
        add_images(split_dir, new_images(tmp_path / folder, "red", 1, seed=950 + n))
        said = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
        assert len(said) == 1 and said[0].startswith(f"{split_dir / 'split.json'} cannot be read")


@pytest.mark.slow
def test_ctrl_c_once_every_image_is_added_does_not_say_nothing_was_written(
    tmp_path, split_dir, monkeypatch
):
    """Ctrl-C while add recorded itself in split.json, its images all in the splits and the
    manifest, said "nothing was written to data: run it again" (the whole add's sentence), then
    that split.json did not list the add, which no later add did either: the next add lists it."""
    from objrec.manifest import read_split_record

    monkeypatch.setattr(add_write, "record_added", ctrl_c)
    assert said_on_ctrl_c(split_dir, new_images(tmp_path / "more", "red", 2)) == (
        f"interrupted: 2 images added to {split_dir}, each whole and in its manifest; its "
        f"split.json does not list this add yet: the next add into {split_dir} does"
    )
    monkeypatch.undo()
    add_images(split_dir, new_images(tmp_path / "later", "red", 1, seed=960))
    added = read_split_record(split_dir)["added"]
    assert [(a["new"], a["files"], a["stopped"]) for a in added] == [
        ([str(tmp_path / "more")], 2, False),
        ([str(tmp_path / "later")], 1, False),
    ]


@pytest.mark.slow
def test_ctrl_c_in_adds_last_step_says_every_image_was_added(tmp_path, split_dir, monkeypatch):
    """Ctrl-C as add told what it had done, every image in the splits, the manifest and
    split.json, said "nothing was written to data: run it again"."""
    monkeypatch.setattr(add_module, "left_out_by_split", ctrl_c)
    assert said_on_ctrl_c(split_dir, new_images(tmp_path / "more", "red", 2)) == (
        f"interrupted: every image was added to {split_dir} (2 images, each whole and in its "
        "manifest and split.json): nothing is left to do"
    )


@pytest.mark.slow
def test_ctrl_c_while_the_manifest_is_written_says_the_next_add_lists_the_files(
    tmp_path, split_dir, monkeypatch
):
    """A second Ctrl-C while add gave the manifest the rows of the files it had written (after a
    first stopped the copies) said they were each in the manifest; they were not, and the note
    of them was left for the next add, which lists them."""
    real, calls = add_write.write_new, []

    def write_then_stop(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(add_write, "write_new", write_then_stop)
    monkeypatch.setattr(add_write, "append_manifest", ctrl_c)
    assert said_on_ctrl_c(split_dir, new_images(tmp_path / "more", "red", 3)) == (
        f"interrupted: 1 of 3 images added to {split_dir}, each whole, not yet in its manifest "
        f"or split.json: the next add into {split_dir} lists them (and the same add again adds "
        "the others)"
    )
    monkeypatch.undo()
    add_images(split_dir, new_images(tmp_path / "later", "red", 1, seed=960))
    files = {p.relative_to(split_dir).as_posix() for p in split_dir.glob("*/*/*")}
    assert files == {row["file"] for row in manifest(split_dir)} and len(files) == 36 + 2


@pytest.mark.slow
def test_a_full_disk_part_way_says_how_many_went_in_and_that_the_same_add_goes_on(
    capsys, tmp_path, split_dir, monkeypatch
):
    """An add that failed after writing some files (a full disk) said only the error: a user who
    freed space did not know that 2 of 5 went in, each in the manifest, nor that the same add
    again goes on. It says so as Ctrl-C does; the same add again adds the others."""
    import errno

    real, calls = add_write._put, []

    def full_at_the_third(source, *args):
        calls.append(source)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[-1]))
        real(source, *args)

    monkeypatch.setattr(add_write, "_put", full_at_the_third)
    new = new_images(tmp_path / "new", "red", 5)
    assert main(["add", str(split_dir), str(new)]) == 1
    said = " ".join(capsys.readouterr().err.split())
    assert ": no space left on device; " in said and ".objrec" not in said
    assert (
        f"; 2 of 5 images added to {split_dir}, each whole and in its manifest, the others not: "
        "the same add again adds them (it skips those added)" in said
    )
    monkeypatch.undo()
    result = add_images(split_dir, new)
    assert len(result.files) == 3 and result.copies == {"red": 2}
    files = {p.relative_to(split_dir).as_posix() for p in split_dir.glob("*/*/*")}
    assert files == {row["file"] for row in manifest(split_dir)} and len(files) == 36 + 5


@pytest.mark.slow
def test_new_images_with_the_same_bytes_are_said_as_split_says_them(capsys, tmp_path, split_dir):
    """Two new files of a class with the same bytes were both added and nothing said so, where
    split says "1 duplicate file kept together in one split with a file of its class (1
    identical, ...)". Both are still added, to one split (split keeps both too), and said so, the
    original first; --json lists every group."""
    new = new_images(tmp_path / "new", "red", 3)
    shutil.copy(new / "red" / "new_01.png", new / "red" / "new_01 copy.png")
    assert main(["add", str(split_dir), str(new)]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert (
        "1 duplicate file kept together in one split with a new file of its class (1 identical: "
        "the picture counts more than once), in 1 group: red/new_01.png = red/new_01 copy.png"
        in said
    )
    splits = {Path(row["file"]).name: row["split"] for row in manifest(split_dir)}
    assert splits["new_01.png"] == splits["new_01 copy.png"]
    more = new_images(tmp_path / "more", "green", 2, seed=970)
    shutil.copy(more / "green" / "new_00.png", more / "green" / "again.png")
    assert main(["add", str(split_dir), str(more), "--dry-run", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["identical_files"] == 1
    assert answer["identical_groups"] == [["green/new_00.png", "green/again.png"]]


@pytest.mark.slow
def test_a_new_sub_folder_named_like_a_file_of_data_gets_a_free_name(capsys, tmp_path, split_dir):
    """NEW/red/img.jpg/x.png beside DATA's train/red/img.jpg stopped the add with a bare
    "train/red/img.jpg: file exists" (only the whole target's name was checked, not its folders).
    The sub-folder gets a free name, the same for each of its images, and the add says so."""
    taken = sorted((split_dir / "train" / "red").iterdir())[0].name
    new = tmp_path / "new"
    for i, name in enumerate(("x.png", "y.png")):
        (new / "red" / taken).mkdir(parents=True, exist_ok=True)
        make_image((200, 40, 40), seed=990 + i).save(new / "red" / taken / name)
    before = (split_dir / "train" / "red" / taken).read_bytes()
    assert main(["add", str(split_dir), str(new), "--ratios", "1", "0", "0"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    stem, suffix = taken.rsplit(".", 1)
    free = f"train/red/{stem}-1.{suffix}"
    assert (split_dir / free / "x.png").is_file() and (split_dir / free / "y.png").is_file()
    assert (split_dir / "train" / "red" / taken).read_bytes() == before
    assert f"2 images were renamed, a file of that name being there: red/{taken}/x.png -> " in said
    assert {f"{free}/x.png", f"{free}/y.png"} <= {row["file"] for row in manifest(split_dir)}


@pytest.mark.slow
def test_adds_bar_moves_as_each_file_of_the_data_folder_is_hashed(tmp_path, split_dir):
    """add's hashing bar sat at 0 while the feature store hashed the whole data folder, then
    jumped to half (tens of minutes of silence at 60,000 phone photos the store had not seen):
    each file read is told now. The files are looked up in the file index first (the first
    half, at once), then each one it does not know is read once, hashed and measured (the
    second), as a split's bar moves."""
    calls: list[tuple[int, int]] = []
    new = new_images(tmp_path / "new", "red", 2)
    add_images(
        split_dir, new, dry_run=True, on_file=lambda done, total: calls.append((done, total))
    )
    total = calls[0][1]
    assert total // 2 > 10 and calls == [(done, total) for done in range(total // 2, total + 1)]


def test_an_add_result_reads_in_one_line():
    """`print(objrec.add_images(...))` showed every field, every file pair and empty list: about
    4,000 characters for 51 photos, where an evaluation or a training prints in one line."""
    files = [(f"lobster/{i}.jpg", f"train/lobster/{i}.jpg") for i in range(200)]
    counts = {
        "lobster": {"train": 4, "valid": 4, "test": 3},
        "stop": {"train": 24, "valid": 8, "test": 8},
    }
    copy = [("lobster/x.jpg", "test/lobster/3.jpg")]
    result = AddResult(
        Path("data-r5"), counts, {"lobster": 1}, copy, new_classes=["stop"], files=files
    )
    assert repr(result) == (
        "AddResult(data='data-r5', train=28, valid=12, test=11, n_new_classes=1, n_copy_files=1, "
        "n_unreadable=0)"
    )
    assert repr(dataclasses.replace(result, dry_run=True)).endswith(", dry_run=True)")


@pytest.mark.parametrize("damage", ["cut", "gone"])
def test_add_refuses_a_manifest_cut_short_or_gone_writing_nothing(tmp_path, split_dir, damage):
    manifest_csv = split_dir / "manifest.csv"  # a copy that stopped mid-row, or deleted
    if damage == "cut":
        manifest_csv.write_bytes(manifest_csv.read_bytes()[:300])
    else:
        manifest_csv.unlink()
    new, before = new_images(tmp_path / "new", "red", 2), tree_digest(split_dir)
    said = "last row is cut short" if damage == "cut" else "manifest.csv is missing"
    with pytest.raises(ObjrecError, match=f"cannot add to .*{said}.*restore it from a copy"):
        add_images(split_dir, new, seed=1)
    assert tree_digest(split_dir) == before  # its rows went after the half row


@pytest.mark.slow
def test_split_check_and_add_keep_all_they_cache_in_the_cache_folder_they_are_given(
    tmp_path, image_folder, monkeypatch
):
    """``add --cache-dir X`` still kept its image facts in $OBJREC_CACHE (and failed where that
    could not be made), and split and check had no ``--cache-dir``: a train given one hashed every
    copy the split had hashed (review56a M1). Here $OBJREC_CACHE lies below a file, so any use of
    it is an error."""
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "file" / "cache"))
    given, data = tmp_path / "given", tmp_path / "data"
    cache = ["--cache-dir", str(given)]
    assert main(["check", str(image_folder), *cache]) == 0
    assert main(["split", str(image_folder), str(data), *cache]) == 0
    assert (given / facts_store.FACTS_FILE).is_file() and (given / "store").is_dir()
    new = new_images(tmp_path / "new", "red", 2)
    result = add_images(data, new, cache_dir=given)
    assert sum(result.totals().values()) == 2


def test_a_photo_saved_again_while_add_copies_it_stops_the_add_before_listing_it(
    tmp_path, split_dir, monkeypatch
):
    """review59b M2: a new photo saved again between add's read (its SHA-256, its grouping and
    split) and its copy was copied as it was then, its manifest row naming bytes the copy does
    not hold. The copy is hashed as it is written: the add stops at that photo, naming it, those
    before it added and listed, nothing of it left; the same add again adds the others."""
    new = new_images(tmp_path / "new", "red", 3)
    edited = saved_again_while_copied(monkeypatch, add_write, nth=2)
    with pytest.raises(ObjrecError) as stopped:
        add_images(split_dir, new)
    said = str(stopped.value)
    assert said.startswith(changed_sentence(edited[0], "add_images") + "; 1 of 3 images added")
    rows = manifest(split_dir)
    added = [
        Path(r["source"]).resolve() for r in rows if new.resolve() in Path(r["source"]).parents
    ]
    assert len(added) == 1 and edited[0].resolve() not in added
    assert all(digest_of(split_dir / r["file"]) == r["sha256"] for r in rows)
    assert not list(split_dir.rglob(".*"))  # no part of the photo refused, no note
    monkeypatch.undo()
    add_images(split_dir, new)
    rows = manifest(split_dir)
    assert all(digest_of(split_dir / r["file"]) == r["sha256"] for r in rows)
    assert sum(new.resolve() in Path(r["source"]).parents for r in rows) == 3


def digest_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["link", "copy"])
def test_an_add_reads_each_new_photo_once_before_it_writes(tmp_path, split_dir, monkeypatch, mode):
    """add read each new photo whole to hash it, whole again to decode its image facts, and its
    first bytes a third time for its camera time (three opens before the copy's own): a user
    adding 300 photos waited for each pass. Each is now taken from the bytes the photo is hashed
    from, as a first split does (``reading.read_all``); a copy (``mode`` copy) reads it
    once more to write it, a link not at all."""
    from .test_store import photo_reads

    new = new_images(tmp_path / "new", "red", 3).resolve()
    names = sorted(p.relative_to(new).as_posix() for p in new.rglob("*.png"))
    with monkeypatch.context() as patch:
        opened = photo_reads(patch, new)
        result = add_images(split_dir, new, mode=mode)
    assert sum(result.counts["red"].values()) == 3
    writes = 1 if mode == "copy" else 0
    assert {name: opened[name] for name in names} == dict.fromkeys(names, 1 + writes)


@pytest.mark.slow
def test_an_add_in_a_thread_that_ends_lets_go_of_the_feature_store(
    tmp_path, split_dir, stores_opened
):
    """late62's unchecked entry points: a Python caller's thread that calls `objrec.add_images`
    and ends leaves every feature store it opened (the file index's) closed: its lock, which a
    prune or clear waits for, and its array files' descriptors, which an ending thread never
    closes, as evaluate and predict let go of theirs."""
    from .conftest import in_ended_thread, let_go

    in_ended_thread(lambda: add_images(split_dir, new_images(tmp_path / "new", "red", 2)))
    assert let_go(stores_opened, Path(os.environ["OBJREC_CACHE"]))

"""A reviewed ``predict --csv`` table as labels: ``objrec add DATA --labels CSV``."""

import csv

import pytest

from objrec.add.recipe import add_images
from objrec.cli import main
from objrec.errors import ObjrecError
from objrec.labels import read_labels, unknown_photos

from .conftest import make_image
from .test_split import tree_digest

COLUMNS = ["filename", "path", "answer", "predicted", "barely_familiar", "error"]


def write_table(path, rows, columns=COLUMNS, delimiter=","):
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        writer = csv.DictWriter(f, columns, restval="", delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def photos(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        make_image((200, 40, 40), seed=500 + i).save(folder / name)
    return [folder / name for name in names]


def test_rows_of_no_trusted_class_are_left_out_and_a_label_overrides_the_answer(
    tmp_path, monkeypatch
):
    """predict's table as written files only its confident answers; a reviewer's `label` brings
    in a photo set aside (unknown, barely familiar) and corrects a wrong answer; so does an
    `answer` written over with another class. A spreadsheet's
    `;`, its TRUE, and a relative path (read from the current folder, as predict wrote it)."""
    monkeypatch.chdir(tmp_path)
    a, b, c, d, e, f, g = photos(tmp_path / "inbox", [f"IMG_{i}.png" for i in range(7)])
    rows = [
        {"path": "inbox/IMG_0.png", "answer": "red", "barely_familiar": "FALSE"},
        {"path": str(b), "answer": "unknown", "barely_familiar": ""},
        {"path": str(c), "answer": "red", "predicted": "red", "barely_familiar": "TRUE"},
        {"path": str(g), "answer": "green", "predicted": "red", "barely_familiar": "TRUE"},
        {"path": str(d), "answer": "unknown", "label": "green"},
        {"path": str(e), "answer": "red", "label": "blue"},
        {"path": str(f), "answer": "", "error": "cannot read"},
    ]
    table = write_table(tmp_path / "t.csv", rows, [*COLUMNS, "label"], delimiter=";")
    found = read_labels(table)
    assert {p.name: name for p, name in found.photos.items()} == {
        "IMG_0.png": "red",
        "IMG_3.png": "green",
        "IMG_4.png": "blue",
        "IMG_6.png": "green",  # its answer written over: a person's
    }
    assert found.shown[a] == "inbox/IMG_0.png"
    assert dict(found.left_out) == {"unknown": 1, "barely_familiar": 1, "no_answer": 1}


def test_a_missing_photo_a_double_label_and_a_table_without_its_columns_are_refused(tmp_path):
    (a,) = photos(tmp_path / "inbox", ["a.png"])
    gone = write_table(tmp_path / "gone.csv", [{"path": str(tmp_path / "b.png"), "answer": "red"}])
    with pytest.raises(ObjrecError, match=r"gone.csv, line 2: the photo .*b.png' is not there"):
        read_labels(gone)
    twice = [{"path": str(a), "answer": "red"}, {"path": str(a), "answer": "green"}]
    with pytest.raises(ObjrecError, match=r"line 3: .* is labelled 'green' here and 'red' above"):
        read_labels(write_table(tmp_path / "twice.csv", twice))
    with pytest.raises(ObjrecError) as refused:
        read_labels(write_table(tmp_path / "x.csv", [{"file": "a.png"}], ["file", "class"]))
    from objrec.cli import cli
    from objrec.cli.messages import to_cli

    said = to_cli(str(refused.value), cli.commands["add"])  # it dropped "or `answer`" there
    assert 'lacks a "path" column, or a "label" or "answer" column: give the table `objrec ' in said


def test_a_row_after_a_note_over_two_lines_and_an_over_long_cell_are_named_by_their_line(
    tmp_path,
):
    """review59b L1: a row after a quoted note over two lines was named a line too early (rows
    were counted, not lines), and a cell over the csv module's 131,072 characters stopped
    ``add --labels`` and ``evaluate --unknown TABLE`` as a bug (a bare csv.Error). Each is one
    sentence naming the table and its line."""
    (a,) = photos(tmp_path / "inbox", ["a.png"])
    columns = [*COLUMNS, "note"]
    rows = [
        {"path": str(a), "answer": "red", "note": "two\nlines"},
        {"path": "b.png", "answer": "red"},
    ]
    with pytest.raises(ObjrecError, match=r"noted.csv, line 4: the photo 'b.png' is not there"):
        read_labels(write_table(tmp_path / "noted.csv", rows, columns))
    long = write_table(tmp_path / "long.csv", [{"path": str(a), "note": "x" * 140_000}], columns)
    for read in (read_labels, unknown_photos):
        with pytest.raises(ObjrecError) as refused:
            read(long)
        assert str(refused.value) == (
            f"{long}, line 2: cannot be read as CSV (field larger than field limit (131072)): "
            "correct that line, then save the table again"
        )


def test_labels_is_refused_beside_new_images_and_when_it_labels_nothing(tmp_path, split_dir):
    (a,) = photos(tmp_path / "inbox", ["a.png"])
    table = write_table(tmp_path / "t.csv", [{"path": str(a), "answer": "red"}])
    with pytest.raises(ObjrecError, match="give no new images or `class_name` with it"):
        add_images(split_dir, [tmp_path / "inbox"], labels=table, dry_run=True)
    none = write_table(tmp_path / "n.csv", [{"path": str(a), "answer": "unknown"}])
    with pytest.raises(ObjrecError, match=r"gives no photo a class to add \(1 answered unknown\)"):
        add_images(split_dir, [], labels=none, dry_run=True)
    with pytest.raises(ObjrecError, match="or images, or give `labels`, a table of photos"):
        add_images(split_dir, [], dry_run=True)


@pytest.mark.slow
def test_add_labels_copies_each_photo_into_its_class_and_says_what_it_renamed(
    tmp_path, split_dir, capsys
):
    """The museum's loop: predict's table, reviewed, filed into the data folder by `add
    --labels`: each photo copied (its source kept) into its class under its own name, or, a file
    of that name being there, under a free one, said; the rows left out counted."""
    inbox = photos(tmp_path / "inbox", ["IMG_1.png", "new_00.png", "IMG_3.png"])
    make_image((10, 10, 10), seed=1).save(split_dir / "train" / "red" / "new_00.png")
    rows = [
        {"path": str(inbox[0]), "answer": "red"},
        {"path": str(inbox[1]), "answer": "red"},
        {"path": str(inbox[2]), "answer": "unknown"},
    ]
    table = write_table(tmp_path / "t.csv", rows)
    before = tree_digest(tmp_path / "inbox")
    args = ["add", str(split_dir), "--labels", str(table), "--ratios", "1", "0", "0"]
    assert main(args) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (split_dir / "train" / "red" / "IMG_1.png").is_file()
    assert (split_dir / "train" / "red" / "new_00-1.png").is_file()
    assert "left out 1 row of the table (1 answered unknown)" in out
    assert f"1 image was renamed, a file of that name being there: {inbox[1]} ->" in out
    assert tree_digest(tmp_path / "inbox") == before  # copied, never moved


def test_a_label_that_is_no_folder_name_is_refused_naming_its_row(tmp_path, split_dir):
    """A label with a slash was refused as "not a valid folder name for --class", an option the
    user did not give, with neither the table nor the photo named."""
    (photo,) = photos(tmp_path / "inbox", ["IMG_0.png"])
    table = write_table(tmp_path / "t.csv", [{"path": str(photo), "answer": "red/dark"}])
    with pytest.raises(ObjrecError) as refused:
        add_images(split_dir, labels=table, dry_run=True)  # no new images: a TypeError
    assert str(refused.value).startswith(
        f"'red/dark' is not a valid folder name for the label of {photo} in {table}: give a name"
    )


def test_a_row_labelled_unknown_in_any_case_is_left_out(tmp_path):
    """A person's `Unknown` (a spreadsheet's capital) was filed as a class of that name, which
    train then refuses, where predict's `unknown` was left out."""
    a, b = photos(tmp_path / "inbox", ["a.png", "b.png"])
    rows = [
        {"path": str(a), "answer": "red", "label": "Unknown"},
        {"path": str(b), "answer": "red"},
    ]
    found = read_labels(write_table(tmp_path / "t.csv", rows, [*COLUMNS, "label"]))
    assert list(found.photos.values()) == ["red"] and dict(found.left_out) == {
        "labelled_unknown": 1
    }


def test_rows_labelled_unknown_are_counted_apart_and_get_no_hint_to_label_them(tmp_path):
    """two strangers the run had answered stapler and pagoda, labelled unknown by the
    reviewer, were said as "4 answered unknown" beside two the run answered unknown, with "write
    a class in its label column to add one": the reviewer had written one. A row labelled
    unknown is counted as such, and the hint is given only for rows no one labelled."""
    from types import SimpleNamespace

    from objrec.cli.adding import left_out_line

    a, b, c = photos(tmp_path / "inbox", ["a.png", "b.png", "c.png"])
    rows = [
        {"path": str(a), "answer": "stapler", "label": "unknown"},
        {"path": str(b), "answer": "unknown"},
        {"path": str(c), "answer": "red"},
    ]
    found = read_labels(write_table(tmp_path / "t.csv", rows, [*COLUMNS, "label"]))
    assert dict(found.left_out) == {"labelled_unknown": 1, "unknown": 1}
    both = SimpleNamespace(labels_left_out={"unknown": 1, "labelled_unknown": 1})
    assert left_out_line(both) == (
        "left out 2 rows of the table (1 answered unknown, 1 labelled unknown): write a class "
        "in its label column to add one"
    )
    labelled = SimpleNamespace(labels_left_out={"labelled_unknown": 2})
    assert left_out_line(labelled) == "left out 2 rows of the table (2 labelled unknown)"

"""What a killed ``add`` left, and the next add's repair of it (:mod:`objrec.add.pending`)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from objrec.add.pending import PENDING
from objrec.add.recipe import add_images
from objrec.errors import Interrupted
from objrec.manifest import manifest_rows, read_split_record
from tests.conftest import COLOURS, make_image
from tests.test_concurrency import new_photos

KILLED_AT_THIRD_FILE = """
import os, signal, sys
import objrec.add.recipe as add, objrec.add.write as writing
real, done = writing.write_new, []
def write_new(*args, **kwargs):
    if len(done) == 2: os.kill(os.getpid(), signal.SIGKILL)
    done.append(1); return real(*args, **kwargs)
writing.write_new = write_new
add.add_images(sys.argv[1], sys.argv[2])
"""
"""An add killed (kill -9) as it wrote its third file."""


def kill_an_add(data: Path, new: Path) -> set[str]:
    """``add_images(data, new)`` killed at its third file: the two files it wrote."""
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_THIRD_FILE, data, new], env=os.environ)
    assert killed.returncode == -signal.SIGKILL
    return {p.relative_to(data).as_posix() for p in data.rglob("new_*.png")}


@pytest.mark.slow
def test_the_next_add_gives_a_killed_adds_files_their_manifest_rows(tmp_path, split_dir):
    """`objrec add data more/` killed (kill -9) while it copied: 42 files were in the splits and
    none in manifest.csv (an add beside it, waiting for the folder, went on and did not notice),
    and adding more/ again skipped them as "already there", so they never got rows; nor did
    split.json's `added` list the add. The next add gives them their rows and lists the killed
    add (the files it wrote, stopped), and the killed add's note goes."""
    more, later = new_photos(tmp_path / "more", per_class=3), tmp_path / "later"
    (later / "red").mkdir(parents=True)
    make_image(COLOURS["red"], seed=9000).save(later / "red" / "later.png")
    written = kill_an_add(split_dir, more)
    assert len(written) == 2 and (split_dir / PENDING).is_file()
    add_images(split_dir, later)
    listed = {row["file"] for row in manifest_rows(split_dir / "manifest.csv")}
    files = {p.relative_to(split_dir).as_posix() for p in split_dir.glob("*/*/*")}
    assert written <= listed and files == listed
    assert not (split_dir / PENDING).exists()
    added = read_split_record(split_dir)["added"]
    assert [(a["new"], a["files"], a["stopped"]) for a in added] == [
        ([str(more)], 2, True),
        ([str(later)], 1, False),
    ]


def ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


def repaired_then_stopped(split_dir) -> str:
    """What add says of a Ctrl-C after it gave a killed add's two files their manifest rows."""
    return (
        f"interrupted: nothing of it was written to {split_dir} (the 2 images an earlier add "
        "wrote there before it was killed are in its manifest now): run it again"
    )


@pytest.mark.slow
def test_ctrl_c_after_a_killed_adds_repair_says_what_it_wrote(tmp_path, split_dir, monkeypatch):
    """The next add gives a killed add's files their manifest rows first: Ctrl-C after that (as
    it hashed the new photos) said "nothing was written to data"."""
    from objrec.file_index import FileIndex

    kill_an_add(split_dir, new_photos(tmp_path / "more", per_class=3))

    digests = FileIndex.readable_digests

    def ctrl_c_at_sha256s(index, *args, whole=False, **kwargs):  # the new photos'
        return ctrl_c() if whole else digests(index, *args, **kwargs)

    monkeypatch.setattr(FileIndex, "readable_digests", ctrl_c_at_sha256s)
    with pytest.raises(Interrupted) as interrupted:
        add_images(split_dir, new_photos(tmp_path / "later", per_class=1))
    assert str(interrupted.value) == repaired_then_stopped(split_dir)


@pytest.mark.slow
def test_ctrl_c_during_a_killed_adds_repair_says_what_it_had_listed(
    tmp_path, split_dir, monkeypatch
):
    """Ctrl-C as the next add recorded a killed add in split.json, its files already given
    their manifest rows, said "nothing was written to data"; the add after lists it."""
    from objrec.add import pending as add_pending

    more = new_photos(tmp_path / "more", per_class=3)
    kill_an_add(split_dir, more)

    monkeypatch.setattr(add_pending, "record_added", ctrl_c)
    with pytest.raises(Interrupted) as interrupted:
        add_images(split_dir, new_photos(tmp_path / "later", per_class=1))
    assert str(interrupted.value) == repaired_then_stopped(split_dir)
    monkeypatch.undo()
    add_images(split_dir, new_photos(tmp_path / "again", per_class=1))
    added = read_split_record(split_dir)["added"]
    assert [(a["new"], a["stopped"]) for a in added] == [
        ([str(more)], True),
        ([str(tmp_path / "again")], False),
    ]


@pytest.mark.slow
def test_check_says_what_a_killed_add_left_unlisted(tmp_path, split_dir, capsys):
    """After a killed add, check counted its files in the splits and said nothing of the two in
    no manifest row, nor of split.json not listing the add: it names them and what lists them."""
    from objrec.check import check_folder
    from objrec.cli import main

    kill_an_add(split_dir, new_photos(tmp_path / "more", per_class=3))
    (found,) = [p for p in check_folder(split_dir).problems if p.kind == "unfinished_add"]
    assert found.path == str(split_dir / PENDING) and not found.unusable
    assert found.message == (
        "an add into this folder was stopped before it listed what it wrote (killed, or a power "
        "cut): 2 images it wrote are in no manifest row, and its split.json does not list that "
        "add; the next `add_images` into this folder lists both"
    )
    assert main(["check", str(split_dir)]) == 0  # the CLI names the command
    assert "the next `objrec add` into this folder lists both" in capsys.readouterr().out


def test_checks_line_of_the_split_says_how_many_adds_were_stopped():
    """check said "2 adds since, listed in split.json" of a folder one add of which was stopped
    partway (`stopped` in its entry): a reader of the line took both as whole."""
    from objrec.cli.data import split_record_line

    line = split_record_line({"added": [{"files": 2, "stopped": True}, {"files": 3}]})
    assert line.endswith("; 2 adds since (1 stopped partway), listed in split.json")
    assert split_record_line({"added": [{"files": 3}]}).endswith(
        "; 1 add since, listed in split.json"
    )


@pytest.mark.slow
def test_check_says_nothing_of_the_note_of_an_add_running_now(tmp_path, split_dir):
    """The add's note is in the folder for as long as an add writes there, and check takes no
    lock: run beside a live add, it said the add "was stopped before it listed what it wrote
    (killed, or a power cut)". While another holds the folder (an add lists a killed add's files
    first, and its own as it ends), check says nothing of it."""
    from objrec.check import check_folder
    from objrec.locks import locked

    kill_an_add(split_dir, new_photos(tmp_path / "more", per_class=3))
    with locked(split_dir):  # as a running add holds it
        assert not [p for p in check_folder(split_dir).problems if p.kind == "unfinished_add"]
    assert [p for p in check_folder(split_dir).problems if p.kind == "unfinished_add"]


def test_a_killed_adds_file_written_under_the_next_free_name_is_listed(split_dir):
    """An add writes a file under ``name-1.ext`` when ``name.ext`` was taken meanwhile (a file in a
    linked folder, one written beside it: outputs.write_new), but its note holds the name it
    planned: killed, that file was in no manifest row after the next add's repair, nor counted
    by check. It is found by its SHA-256 under the names write_new tries."""
    from objrec.add.pending import unfinished_add, write_pending
    from objrec.manifest import sha256_file

    folder = split_dir / "train" / "red"
    make_image(COLOURS["red"], seed=9001).save(folder / "new_a-1.png")  # what the add wrote
    make_image(COLOURS["red"], seed=9002).save(folder / "new_a.png")  # taken meanwhile
    row = {"file": "train/red/new_a.png", "sha256": sha256_file(folder / "new_a-1.png")}
    write_pending(split_dir, [row], {"new": [], "files": 1})
    found = unfinished_add(split_dir)
    assert found is not None
    assert [r["file"] for r in found.unlisted] == ["train/red/new_a-1.png"]


@pytest.mark.slow
def test_the_repairing_add_counts_the_killed_adds_files_as_its_not_as_copies(
    tmp_path, split_dir, capsys
):
    """Adding the same photos again after a killed add listed the files it had written as
    copies of themselves ("copies skipped 2", `{"source": "red/new_0.png", "copy_of":
    "train/red/new_0.png"}`): they are the stopped add's now, named as such."""
    import json

    from objrec.cli import main

    more = new_photos(tmp_path / "more", per_class=3)
    written = kill_an_add(split_dir, more)
    assert main(["add", str(split_dir), str(more), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert sorted(f["file"] for f in said["stopped_add_files"]) == sorted(written)
    assert said["copies"] == [] and not any(c["copies"] for c in said["classes"].values())
    assert sum(said["totals"].values()) == len(list(more.rglob("*.png"))) - len(written)


@pytest.mark.parametrize("note", [b"", b'{"rows": [', b"[1, 2]", b'{"rows": [1]}', b"\xff\xfe"])
def test_a_damaged_note_is_named_by_check_add_and_apply_plan_not_taken_for_a_bug(
    tmp_path, split_dir, capsys, note
):
    """A killed add's note cut short (a power cut before its bytes reached the disk), emptied or
    edited stopped check, add and apply-plan with "objrec did not expect, a bug: JSONDecodeError"
    (or AttributeError of a list's `get`) until someone deleted a hidden file nobody named. Each
    names the note, what it is and what to do; check notes it as what the add left."""
    from objrec.check import check_folder
    from objrec.cli import main

    (split_dir / PENDING).write_bytes(note)
    words = (
        "the note of an add into this folder that was stopped (killed, or a power cut) cannot be "
        "read, so the images it wrote may be in no manifest row: delete the note, then "
    )
    (found,) = [p for p in check_folder(split_dir).problems if p.kind == "unfinished_add"]
    assert (found.path, found.message) == (
        str(split_dir / PENDING),
        words + "`check_folder` names them",
    )
    (plan := tmp_path / "plan.csv").write_text("file,action,new_class\n")
    new = new_photos(tmp_path / "more", per_class=1)
    for command in (["add", split_dir, new], ["apply-plan", split_dir, plan, tmp_path / "fixed"]):
        capsys.readouterr()
        assert main([str(arg) for arg in command]) == 1
        said = " ".join(capsys.readouterr().err.split())
        assert said == f"error: {split_dir.resolve() / PENDING}: {words}`objrec check` names them"
    assert not (tmp_path / "fixed").exists()
    assert (split_dir / PENDING).read_bytes() == note


def test_the_note_is_on_the_disk_before_the_first_file_is_written(tmp_path, monkeypatch):
    """The note was renamed into place unsynced: after a power cut it could be empty (delayed
    allocation), the files it was to list on the disk. Its bytes are synced before the rename,
    and its folder after it."""
    from objrec.add.pending import write_pending

    synced: list[tuple[str, bool]] = []
    fsync = os.fsync

    def noting_fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        synced.append((path, (tmp_path / PENDING).exists()))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", noting_fsync)
    write_pending(tmp_path, [{"file": "train/red/a.png"}], {"new": [], "files": 1})
    (note, renamed), (folder, after) = synced
    assert Path(note).parent == tmp_path and not renamed
    assert (Path(folder), after) == (tmp_path, True)

"""Output folders: a failed command takes back the empty folders it made, and nothing else."""

import pytest

from objrec.outputs import new_folders


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

"""Two objrec processes at once on one split folder, run folder or feature store (concurrency42):
what the second one sees, and that neither leaves the other's results wrong."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
from pathlib import Path

import pytest

from objrec.progress import Reporter
from tests.conftest import COLOURS, make_image


class Notes(Reporter):
    """A reporter that keeps its notes and runs ``on_note`` (once) at the first."""

    def __init__(self, on_note=None):
        self.notes: list[str] = []
        self.on_note = on_note

    def note(self, message: str) -> None:
        self.notes.append(message)
        if self.on_note is not None:
            self.on_note, on_note = None, self.on_note
            on_note()


def new_photos(root: Path, per_class: int = 2) -> Path:
    """Photos of each colour class, none of them the split's own (seeds of their own)."""
    for c, name in enumerate(COLOURS):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            make_image(COLOURS[name], seed=5000 + 100 * c + i).save(root / name / f"new_{i}.png")
    return root


@pytest.mark.slow
def test_a_run_records_the_split_it_listed_not_an_add_made_while_it_trained(
    monkeypatch, tmp_path, split_dir, tiny_config
):
    """`objrec add data more/` while `objrec train data` computed its features: the run trained
    on the images listed before the add, but its summary recorded the split's fingerprint and
    split.json as the add left them (the add's 36 photos listed as part of the split trained
    on). It records the split as it listed it."""
    from objrec.add import add_images
    from objrec.provenance import split_fingerprint

    training = importlib.import_module("objrec.train")
    before = split_fingerprint(split_dir / "manifest.csv")
    real = training.frozen_features

    def add_meanwhile(*args, **kwargs):
        if not (tmp_path / "more").exists():
            add_images(split_dir, new_photos(tmp_path / "more"))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "frozen_features", add_meanwhile)
    result = training.train(split_dir, tmp_path / "run", tiny_config)
    assert split_fingerprint(split_dir / "manifest.csv") != before  # the add was made
    recorded = json.loads((tmp_path / "run" / "summary.json").read_text())["provenance"]
    assert recorded["split_fingerprint"] == before
    assert not recorded["split_record"].get("added"), recorded["split_record"].get("added")
    assert result.n_images["train"] == len(list((split_dir / "train").rglob("img_*")))


@pytest.mark.slow
def test_train_waits_for_an_add_writing_in_its_split_before_listing_it(split_dir, tiny_config):
    """An add holds the split folder while it writes files and then the manifest; a train that
    listed the folder meanwhile could take some of the new photos without their manifest rows.
    Train waits for it, saying so, and lists what the add left."""
    from objrec.train import prepare

    writer = os.open(split_dir, os.O_RDONLY)  # what `objrec add` holds
    fcntl.flock(writer, fcntl.LOCK_EX)

    def add_ends() -> None:
        (split_dir / "train" / "red" / "added.png").write_bytes(
            (split_dir / "train" / "red" / "img_00.jpg").read_bytes()
        )
        os.close(writer)

    reporter = Notes(on_note=add_ends)
    listed = prepare(split_dir, tiny_config, reporter).train_set
    assert (
        reporter.notes[0] == f"waiting for another objrec process to finish writing in {split_dir}"
    )
    assert split_dir / "train" / "red" / "added.png" in [s.path for s in listed.samples]

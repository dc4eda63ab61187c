"""``train``'s recipe: which views it computes and trains on, its batches and their seeds."""

from __future__ import annotations

import pytest

from objrec.train import train

from .conftest import TaskRecorder, tiny_train_config


@pytest.mark.slow
def test_augment_none_trains_on_the_centre_view_alone(tmp_path, split_dir):
    """``augment="none"`` with the default ``aug_views=1`` pushed every training image through
    the body a second time, stored the same centre crop again as ``aug:none:1`` and trained on
    it as if it were another view."""
    notes = TaskRecorder()
    result = train(split_dir, tmp_path / "run", tiny_train_config(augment="none"), notes)
    assert not [note for note in notes.notes if "augmented view" in note]
    train_images, valid_images = result.n_images["train"], result.n_images["valid"]
    assert result.frozen_pass["computed"] == train_images + valid_images  # one view each

"""The threshold that keeps a share of the run's validation images a user chooses
(``objrec.threshold_keeping``, ``evaluate --keep``), and evaluate of the validation split said
as asked for."""

from __future__ import annotations

import json
import logging

import pytest
import torch

import objrec
from objrec.cli import main
from objrec.errors import ObjrecError
from objrec.keeping import kept_share


def test_the_share_kept_comes_with_its_binomial_interval():
    """A newcomer's recommended threshold "keeps 95.38% of validation" and rejected 5 of 40 of
    their own taught photos: the share new photos keep is given as a 95% interval, as wide as
    the validation images it rests on are few."""
    few, many = kept_share(124, 130, 0.95, 0.4), kept_share(1240, 1300, 0.95, 0.4)
    assert few.kept == pytest.approx(124 / 130) and few.validation_images == 130
    assert few.kept_low < many.kept_low < few.kept < many.kept_high < few.kept_high
    assert few.kept_low == pytest.approx(0.903, abs=0.002)  # Wilson's, 95%
    assert "90.3%-97.9% kept (95% interval, from 130 images)" in few.words


def test_threshold_keeping_keeps_the_share_asked_of_the_validation_images(trained_run, split_dir):
    """There was no way to ask for the threshold that says unknown for at most a share of one's
    own photos: it is chosen on the run's validation images (never the test split), keeps at
    least the share asked of them, and predict given it says unknown below it."""
    keeping = objrec.threshold_keeping(trained_run, keep=0.8)
    scores = objrec.evaluate(trained_run, split_dir, split="valid").predictions.score
    assert keeping.validation_images == len(scores)
    assert keeping.kept == pytest.approx(float((scores >= keeping.threshold).mean()))
    assert 0.8 <= keeping.kept < 1 and keeping.kept_low < keeping.kept <= keeping.kept_high
    assert keeping.keep == 0.8 and isinstance(keeping, objrec.KeepingThreshold)


def test_threshold_keeping_refuses_a_share_it_cannot_keep(trained_run):
    with pytest.raises(ObjrecError, match=r"`keep` is a share above 0 and below 1"):
        objrec.threshold_keeping(trained_run, keep=1.0)
    with pytest.raises(ObjrecError, match=r"leaves none out: ask for a smaller share"):
        objrec.threshold_keeping(trained_run, keep=0.99)  # of a few validation images


@pytest.mark.slow
def test_evaluate_keep_says_the_threshold_and_its_spread(capsys, trained_run, split_dir):
    """`evaluate --keep 0.8` says the threshold keeping 80% of the validation images, the share
    new photos keep as an interval, and how to use it; --json holds it as `keeping`."""
    assert main(["evaluate", str(trained_run), str(split_dir), "--keep", "0.8"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "to keep 80.00% of the run's validation images: threshold " in said
    assert "(95% interval, as it rests on 9 validation images)" in said
    assert "PHOTOS --threshold " in said
    assert main(["evaluate", str(trained_run), str(split_dir), "--keep", "0.8", "--json"]) == 0
    keeping = json.loads(capsys.readouterr().out)["keeping"]
    assert keeping["keep"] == 0.8 and keeping["validation_images"] == 9
    assert keeping["kept_low"] < keeping["kept"] <= keeping["kept_high"]


@pytest.mark.slow
def test_evaluating_the_validation_split_on_purpose_is_said_not_warned(
    capsys, caplog, trained_run, split_dir
):
    """evaluate(split="valid"), asked for to choose a threshold, warned "these results overstate
    accuracy on new images" as of a mistake: it says whose images they are and why their
    scores flatter, as a note (logged at INFO), not a warning."""
    with caplog.at_level(logging.INFO, logger="objrec"):
        result = objrec.evaluate(trained_run, split_dir, split="valid")
    assert result.own_validation_images and result.warning is not None
    assert result.warning.startswith("the 9 evaluated images are the run's own validation images")
    assert "right for choosing a threshold on them" in result.warning
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert main(["evaluate", str(trained_run), str(split_dir), "--split", "valid"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "note: the 9 evaluated images" in err and "warning:" not in err


@pytest.mark.parametrize(("n", "keep", "kept"), [(10, 0.9, 9), (20, 0.9, 18), (10, 0.8, 8)])
def test_a_typed_share_rejects_its_whole_images_not_one_fewer(n, keep, kept):
    """(1 - 0.9) * 10 is 0.9999999999999998 in floats: floored, keep 0.9 of 10 rejected none
    (and was refused as leaving none out, at most 90% being offered), of 20 rejected one."""
    from objrec.thresholds import keeping_threshold

    scores = torch.arange(n, dtype=torch.float64) / n
    threshold = keeping_threshold(scores, keep)
    assert threshold is not None and int((scores >= threshold).sum()) == kept


def test_evaluate_keep_refuses_before_evaluating(capsys, tmp_path, trained_run, split_dir):
    """A --keep the run's validation images cannot meet was refused only after the whole
    evaluation, whose scores were then never printed: it is refused first, nothing written."""
    out = tmp_path / "ev"
    args = ["evaluate", str(trained_run), str(split_dir), "--keep", "0.99", "--out", str(out)]
    assert main(args) == 1
    assert "leaves none out: ask for a smaller share" in " ".join(capsys.readouterr().err.split())
    assert not out.exists()

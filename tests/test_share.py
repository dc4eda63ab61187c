"""share: a clean copy of a run to send (model, kept threshold, model card, SHA256SUMS), without
the machine's paths; refusing to write over anything but an earlier share; its zip; the card."""

import hashlib
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest
import torch

from objrec.checkpoint import load_model, model_digest, read_checkpoint
from objrec.cli import main
from objrec.errors import ObjrecError, UsageRefused
from objrec.kept import keep_threshold, read_kept
from objrec.share import MANIFEST, share_run

from .conftest import COLOURS, followed_by, make_image, record_of, retrain_of


@pytest.fixture
def run(trained_once, tmp_path) -> Path:
    """This test's copy of the session's tiny run (a copy: 0.01 s, where ``trained_run``'s
    header rewrite takes 0.15)."""
    return Path(shutil.copytree(trained_once, tmp_path / "run"))


def every_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def with_private_summary(run: Path) -> None:
    """The run's summary.json as a CLI-trained run on a user's machine records it."""
    summary = json.loads((run / "summary.json").read_text())
    summary["provenance"] |= {
        "data": "/home/ana/photos/data",
        "cwd": "/home/ana",
        "command": ["objrec", "train", "photos/data", "--out", "run"],
        "split_record": {
            "source": "C:\\Users\\ana\\photos",
            "seed": 0,
            "cwd": "~/photos",
            "command": ["objrec", "split", "photos", "data"],
            "added": [{"new": "/home/ana/new", "images": 3}],
            "left_out": {"unreadable": ["red/ana's notes.jpg"], "in_two_classes": []},
        },
    }
    (run / "summary.json").write_text(json.dumps(summary))


@pytest.mark.slow
def test_a_share_holds_the_model_and_no_path_of_the_machine(run, trained_once, tmp_path):
    with_private_summary(run)
    result = share_run(run, tmp_path / "out" / "ours")
    out = tmp_path / "out" / "ours"
    assert result.out == out
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        MANIFEST,
        "config.json",
        "model.safetensors",
        "seen_digests.csv",
        "summary.json",
    ]
    everything = every_byte(out)
    machine = (str(run.resolve().parent), str(trained_once.resolve().parent))
    for private in (*machine, "/home/ana", "Users", "~/photos", "photos/data", "ana's notes"):
        assert private.encode() not in everything, private
    summary = json.loads((out / "summary.json").read_text())
    provenance = summary["provenance"]
    assert summary["run"] == "ours" and provenance["split_record"]["seed"] == 0
    assert provenance["command"] is provenance["cwd"] is provenance["data"] is None
    assert provenance["split_record"]["added"] == [{"new": None, "images": 3}]
    assert "summary.json: provenance.split_record.added.0.new" in result.redacted
    assert "summary.json: provenance.split_record.left_out" in result.redacted  # files by name
    assert "model.safetensors: data_dir" in result.redacted
    assert "config.json: cache_dir" in result.redacted
    model, meta = load_model(out)
    original, _ = load_model(run)
    assert meta.data_dir is None and meta.train_config.cache_dir is None
    for key, tensor in original.state_dict().items():
        assert torch.equal(model.state_dict()[key], tensor), key
    assert (run / "summary.json").read_text().count("/home/ana") == 3  # run unchanged


def test_sha256sums_lists_every_file_shared(run, tmp_path):
    result = share_run(run, tmp_path / "ours")
    lines = (tmp_path / "ours" / MANIFEST).read_text().splitlines()
    listed = dict(reversed(line.split("  ", 1)) for line in lines)
    assert set(listed) == {p.name for p in (tmp_path / "ours").iterdir()} - {MANIFEST}
    for name, digest in listed.items():
        assert hashlib.sha256((tmp_path / "ours" / name).read_bytes()).hexdigest() == digest
    assert result.files == listed


def test_the_kept_threshold_travels_for_the_shared_model_file(run, tmp_path):
    """The shared model file's header is new, so its digest too: the kept threshold names it,
    else the recipient's objrec takes the threshold for an earlier model's and ignores it."""
    keep_threshold(run, 0.25, {"unknown": str(tmp_path / "mine"), "evaluated": None})
    keep_threshold(run, 0.3, {"unknown": str(tmp_path / "other"), "evaluated": None})
    share_run(run, tmp_path / "ours")
    kept = read_kept(tmp_path / "ours")
    assert kept is not None and kept.current and kept.threshold == 0.3
    assert kept.record["unknown"] is None and "previous" not in kept.record
    assert str(tmp_path).encode() not in every_byte(tmp_path / "ours")


def test_a_kept_threshold_changed_by_hand_is_shared_as_such(run, tmp_path):
    """A threshold.json edited by hand is used, with a warning: the shared copy, sealed anew for
    the shared model file, said nothing of the edit, and the card called the number a threshold
    `objrec evaluate --unknown` chose. Both say it was set by hand; so does the next kept one's
    ``previous``."""
    kept = keep_threshold(run, 0.25, {"unknown": str(tmp_path / "mine"), "evaluated": None})
    kept.path.write_text(kept.path.read_text().replace('"threshold": 0.25', '"threshold": 0.5'))
    share_run(run, tmp_path / "ours")
    shared = read_kept(tmp_path / "ours")
    assert shared is not None and (shared.threshold, shared.edited) == (0.5, False)
    assert shared.record["edited_by_hand"] is True
    card = (tmp_path / "ours" / "README.md").read_text()
    assert "- Kept since: 0.5, set by hand, after `objrec evaluate --unknown` kept one" in card
    again = keep_threshold(run, 0.3, {"unknown": str(tmp_path / "mine"), "evaluated": None})
    assert again.record["previous"][0]["threshold"] == 0.5
    assert again.record["previous"][0]["edited_by_hand"] is True


def test_a_kept_threshold_whose_sha256_line_was_removed_is_shared_as_set_by_hand(run, tmp_path):
    """Removing the sha256 line of a threshold changed on purpose, as the warning advises, made
    share call the number one `objrec evaluate --unknown` chose."""
    kept = keep_threshold(run, 0.25, {"unknown": str(tmp_path / "mine"), "evaluated": None})
    unsealed = {k: v for k, v in kept.record.items() if k != "sha256"} | {"threshold": 0.5}
    kept.path.write_text(json.dumps(unsealed))
    share_run(run, tmp_path / "ours")
    assert read_kept(tmp_path / "ours").record["edited_by_hand"] is True
    card = (tmp_path / "ours" / "README.md").read_text()
    assert "- Kept since: 0.5, set by hand, after `objrec evaluate --unknown` kept one" in card


def test_a_shared_model_holds_its_own_sha256_and_a_changed_byte_is_refused(run, tmp_path):
    """A model file holds its own SHA-256 (checkpoint.SEAL_KEY), checked as it loads: the shared
    one, whose header share writes anew, was written without it, so a byte changed on its way
    to the recipient went unseen there."""
    from objrec.checkpoint import seal_at

    share_run(run, tmp_path / "ours")
    path = tmp_path / "ours" / "model.safetensors"
    data = bytearray(path.read_bytes())
    assert seal_at(bytes(data)) is not None
    data[-1000] ^= 0x01
    path.write_bytes(data)
    with pytest.raises(ObjrecError, match=f"^{path} is damaged: .* copy it again"):
        load_model(tmp_path / "ours")


def test_share_never_writes_over_anything_but_an_earlier_share(run, tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(ObjrecError, match="no share of objrec's"):
            share_run(run, theirs, force=force)
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    share_run(run, tmp_path / "empty")
    with pytest.raises(ObjrecError, match="holds an earlier share: pass `force=True`"):
        share_run(run, tmp_path / "empty")
    share_run(run, tmp_path / "empty", force=True)
    assert (tmp_path / "empty" / "README.md").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_force_never_deletes_files_the_earlier_share_did_not_write(run, tmp_path):
    """--force replaced an earlier share folder whole: a file put in it since (notes, photos, an
    evaluation of the recipient's photos) went with it. As split --force (e5603f5), force is
    about the earlier share, never about them: they are refused, named, and nothing changes."""
    ours = tmp_path / "ours"
    share_run(run, ours)
    (ours / "eval-mine").mkdir()
    (ours / "eval-mine" / "metrics.json").write_text("{}")
    (ours / "notes.txt").write_text("mine")
    before = every_byte(ours)
    with pytest.raises(ObjrecError, match=r"2 files the earlier share did not write, such as "):
        share_run(run, ours, force=True)
    assert every_byte(ours) == before
    (ours / "notes.txt").unlink()
    shutil.rmtree(ours / "eval-mine")
    share_run(run, ours, force=True)


@pytest.mark.slow
def test_a_zipped_share_unzips_into_a_folder_that_loads(run, tmp_path):
    result = share_run(run, tmp_path / "ours", zipped=True)
    assert result.out == tmp_path / "ours.zip" and not (tmp_path / "ours").exists()
    with zipfile.ZipFile(result.out) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unzipped")
    assert "ours/model.safetensors" in names and "ours/SHA256SUMS" in names
    _, meta = read_checkpoint(tmp_path / "unzipped" / "ours")
    assert meta.classes == ["blue", "green", "red"]
    with pytest.raises(ObjrecError, match="earlier share"):
        share_run(run, tmp_path / "ours.zip", zipped=True)
    share_run(run, tmp_path / "ours.zip", zipped=True, force=True)


def test_a_checkpoint_file_is_refused_for_its_folder(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ObjrecError, match="give the run folder that holds it"):
        share_run(tmp_path / "model.safetensors", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def fake_evaluation(run: Path, name: str, model: str) -> None:
    """An evaluation of ``run``'s model (digest ``model``) as ``evaluate`` writes it."""
    rows = [
        {"class": "red", "n_test": 8, "top1": 0.5, "too_few_to_trust": False},
        {"class": "blue", "n_test": 2, "top1": 1.0, "too_few_to_trust": True},
    ]
    worst = [{"class": "red", "n_test": 8, "top1": 0.5, "most_confused_with": "green"}]
    metrics = {"n": 12, "top1": 0.75, "top1_low": 0.4677, "top1_high": 0.9111, "top5": None}
    metrics |= {"per_class": rows, "worst_classes": worst, "model": model, "ece": 0.031}
    metrics |= {"known_kept": 0.9167, "top1_at_threshold": 0.6667}
    (run / name).mkdir()
    (run / name / "metrics.json").write_text(json.dumps(metrics))


def test_the_card_quotes_the_evaluations_of_the_model_shared(run, tmp_path):
    fake_evaluation(run, "eval-test", model_digest(run))
    fake_evaluation(run, "eval-older", "0" * 32)
    result = share_run(run, tmp_path / "ours")
    card = (tmp_path / "ours" / "README.md").read_text()
    assert result.evaluations == ["eval-test"]
    assert "On the test split (12 images): top-1 75.00% (95% interval 46.77% to 91.11%)." in card
    assert "| red | 50.00% | 8 | green |" in card
    assert "Tested on fewer than 3 distinct photos, so their results say little: blue." in card
    assert "`older`" not in card and "differ by 3.10 points on average (0 would be" in card
    assert "91.67% of the images get a class" in card and "top-1 66.67% when an unknown" in card
    _, meta = read_checkpoint(run)
    for name, count in meta.n_train.items():
        assert f"| {name} | {count} |" in card
    assert "objrec predict ours photo.jpg" in card and "random weights, for tests" in card


def test_the_card_quotes_no_evaluation_of_the_models_own_training_images(run, tmp_path):
    """`evaluate R4 S4 --split train` warned that its 40 images were the run's own training
    images, but the card quoted "On the train split (40 images): top-1 80.00%" beside the test
    split's 50.00%, and eval-valid's worst classes under "test photos".
    The unquoted line comes last: it came between the results it does not belong with."""
    digest = model_digest(run)
    for name, seen in [("eval-train", {"train": 12, "valid": 0}), ("eval-valid", {"valid": 12})]:
        fake_evaluation(run, name, digest)
        metrics = json.loads((run / name / "metrics.json").read_text())
        metrics |= {"seen_in_training": seen, "ece": 0.5, "known_kept": 0.25}
        (run / name / "metrics.json").write_text(json.dumps(metrics))
    result = share_run(run, tmp_path / "ours")
    card = (tmp_path / "ours" / "README.md").read_text()
    assert result.evaluations == ["eval-valid"]
    assert "On the train split" not in card
    assert (
        "- The train split was evaluated too, but 12 of its 12 images are the model's own "
        "training photos: its figures overstate accuracy on new photos, and are not quoted."
    ) in card
    assert (
        "- On the valid split (12 images, 12 of them the model's own validation images: "
        "optimistic, as above): top-1 75.00%"
    ) in card
    assert "| class | top-1 | valid images | most confused with |" in card
    assert "Not evaluated on a test split with this model" in card
    # the quoted results first, the unquoted one last (review3-49 nit 4)
    assert card.index("On the valid split") < card.index("Not evaluated on a test split")
    assert card.index("Not evaluated on a test split") < card.index("The train split was")
    assert "50.00 percentage points" not in card and "25.00% of the images" not in card


def test_the_card_says_one_photo_of_an_evaluation_in_the_singular(run, tmp_path):
    """One photo of a thing it was not taught read "Shown 1 photos", and one training photo
    among an evaluation's "1 of its 12 images are the model's own training photos"."""
    from objrec.card import Evaluation, measured_lines

    metrics = {"unknown_threshold": 0.18, "open_set": {"n_unknown": 1, "unknown_accepted": 0.0}}
    assert measured_lines([Evaluation("eval-test", record_of(metrics))])[0].startswith(
        "- Shown 1 photo of things it was not taught (`objrec evaluate --unknown`), it answered"
    )
    digest = model_digest(run)
    for name, seen in [("eval-train", {"train": 1, "valid": 0}), ("eval-valid", {"valid": 1})]:
        fake_evaluation(run, name, digest)
        metrics = json.loads((run / name / "metrics.json").read_text())
        metrics["seen_in_training"] = seen
        (run / name / "metrics.json").write_text(json.dumps(metrics))
    share_run(run, tmp_path / "ours")
    card = (tmp_path / "ours" / "README.md").read_text()
    assert "but 1 of its 12 images is one of the model's own training photos: its" in card
    assert "(12 images, 1 of them one of the model's own validation images: optimistic" in card


def test_the_card_quotes_no_evaluation_of_copies_of_the_training_images(run, tmp_path):
    """evaluate warned that 24 re-saved and resized copies of training photos overstate accuracy
    (``near_seen_in_training``), but the card quoted "On `resaved` (24 images): top-1 100.00%"
    and counted it as an evaluation on new photos (review3-49 MEDIUM 1)."""
    fake_evaluation(run, "eval-resaved", model_digest(run))
    metrics = json.loads((run / "eval-resaved" / "metrics.json").read_text())
    metrics["near_seen_in_training"] = {"train": 12, "valid": 0}
    (run / "eval-resaved" / "metrics.json").write_text(json.dumps(metrics))
    result = share_run(run, tmp_path / "ours")
    card = (tmp_path / "ours" / "README.md").read_text()
    assert result.evaluations == [] and "On `resaved`" not in card
    assert (
        "- `resaved` was evaluated too, but 12 of its 12 images are the model's own training "
        "photos or copies of them: its figures overstate accuracy on new photos, and are not "
        "quoted."
    ) in card
    assert "Not evaluated on a test split with this model" in card


def test_the_card_names_an_evaluation_whose_images_changed(run, tmp_path):
    """A test photo replaced after `evaluate` leaves eval-test out of date, and the card said
    "Not evaluated on a test split with this model" of a model that was (review3-49 LOW 3)."""
    fake_evaluation(run, "eval-test", model_digest(run))
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
    metrics["folder"] = str(tmp_path)  # no class folder there now: its images changed
    (run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    result = share_run(run, tmp_path / "ours")
    card = (tmp_path / "ours" / "README.md").read_text()
    assert result.evaluations == [] and "On the test split" not in card
    assert (
        "- Not quoted: `eval-test`, whose images have changed since they were evaluated (added, "
        "removed, moved or replaced): `objrec evaluate` again to quote them."
    ) in card
    assert "Not evaluated on a test split" not in card


def test_share_s_closing_line_says_why_a_stale_evaluation_is_not_quoted(run, tmp_path):
    """review52b L11: with eval-test of images changed since, the card said so, but share's own
    line said "quotes no evaluation (evaluate RUN DATA first to add one)", as if none existed;
    --json said nothing of it (``stale_evaluations``)."""
    from objrec.cli.delivery import share_record, shared_lines

    fake_evaluation(run, "eval-test", model_digest(run))
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
    metrics["folder"] = str(tmp_path)  # no class folder there now: its images changed
    (run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    result = share_run(run, tmp_path / "ours")
    assert result.stale == ["eval-test"]
    assert share_record(result)["evaluations"] == []
    assert share_record(result)["stale_evaluations"] == ["eval-test"]
    assert shared_lines(result)[0].endswith(
        "quotes no evaluation: eval-test is of images changed since they were evaluated "
        "(objrec evaluate RUN DATA again)"
    )


def test_share_s_closing_line_names_the_evaluate_to_run_with_the_run_s_folders(run, tmp_path):
    """It said "quotes no evaluation (evaluate RUN DATA first to add one)", where share knows
    the run and its model the data folder it trained on: the command is given with both, to
    copy."""
    from objrec.cli.delivery import shared_lines
    from objrec.model_file import read_meta

    data = Path(read_meta(run).data_dir)
    result = share_run(run, tmp_path / "ours")
    assert shared_lines(result, run)[0].endswith(
        f"quotes no evaluation (objrec evaluate {run} {data} first to add one)"
    )
    assert data.is_dir()  # the session's split folder, the run's record of it


@pytest.mark.slow
def test_share_json_and_what_the_recipient_runs(trained_run, tmp_path, capsys):
    """--json's keys; the shared folder, alone on another path, predicts as the run did (a run
    whose model names its own cache folder: predict opens its feature store)."""
    run = trained_run
    assert main(["share", str(run), str(tmp_path / "ours"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) == {"out", "zip", "files", "redacted", "evaluations", "left_out"} | {
        "stale_evaluations",
        "warnings",
    }
    moved = tmp_path / "elsewhere" / "model"
    shutil.move(tmp_path / "ours", moved)
    photo = tmp_path / "photo.png"
    make_image(COLOURS["red"]).save(photo)
    answers = []
    for folder in (run, moved):
        assert main(["predict", str(folder), str(photo), "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out)[0])
    mine, theirs = answers
    assert theirs["topk"] == mine["topk"] and theirs["answer"] == mine["answer"] == "red"
    assert main(["share", str(run), str(moved)]) == 1
    assert "pass --force to replace it" in capsys.readouterr().err


def test_the_recipient_is_not_told_to_pip_install_objrec(run, tmp_path, capsys):
    """objrec is not on PyPI: the card, share's last line and its --help told the recipient to
    run `pip install objrec`, which answers 'No matching distribution found for objrec' (the
    README and docs/commands.md say to install it from a clone or its wheel, b9b003a)."""
    assert main(["share", str(run), str(tmp_path / "ours")]) == 0
    said = capsys.readouterr().out
    assert main(["share", "--help-all"]) == 0
    said += capsys.readouterr().out
    card = (tmp_path / "ours" / "README.md").read_text()
    assert "pip install objrec" not in said + card
    assert "its wheel" in said and "its wheel" in card


def test_an_unfinished_run_is_shared_with_a_warning_and_its_card_says_so(run, tmp_path, caplog):
    """A run stopped before its end holds the best model so far, uncalibrated: export warns of
    it, and a recipient, who cannot see the run's training state, reads it in the card."""
    import logging

    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps(summary | {"finished": False}))
    (run / "last.safetensors").write_bytes(b"")  # what a finished run removes
    with caplog.at_level(logging.WARNING, logger="objrec"):
        share_run(run, tmp_path / "ours")
    assert [m for m in caplog.messages if "holds an unfinished run" in m]
    assert (
        "Its training was stopped before its end" in (tmp_path / "ours" / "README.md").read_text()
    )
    assert not (tmp_path / "ours" / "last.safetensors").exists()


@pytest.mark.slow
def test_with_onnx_the_export_travels_checked_and_listed(run, tmp_path):
    result = share_run(run, tmp_path / "ours", onnx=True)
    out = tmp_path / "ours"
    assert {"model.onnx", "model.json", "model_infer.py"} <= set(result.files)
    assert json.loads((out / "model.json").read_text())["classes"] == ["blue", "green", "red"]
    card = " ".join((out / "README.md").read_text().split())
    assert "`python model_infer.py photo.jpg` needs onnxruntime, numpy and Pillow only" in card
    assert str(run.resolve().parent).encode() not in every_byte(out)


def exported_as_int8(monkeypatch, checked: dict | None) -> None:
    """share's export stood in for by an int8 body OpenVINO ran: a graph, and a sidecar with
    its ``openvino`` entry and ``checked`` as its ``answers_checked`` (none: no check recorded)."""
    from objrec.export import exporter

    def export_loaded(run, model, meta, out, *more, **options):
        out.write_bytes(b"graph")
        sidecar = {"int8_engine": "openvino", "openvino": "model_infer.py runs this file ..."}
        sidecar |= {"answers_checked": checked} if checked is not None else {}
        out.with_suffix(".json").write_text(json.dumps(sidecar))

    monkeypatch.setattr(exporter, "export_loaded", export_loaded)


def agreement(photos: int, prob: float, changed: int = 0) -> dict:
    return {"photos": photos, "max_prob_diff": prob, "top_class_changed": changed} | {
        "max_score_diff": prob * 2,
        "unknown_changed": 0,
    }


def test_an_int8_shares_card_and_lines_say_openvino_and_onnx_runtimes_gap(
    run, tmp_path, capsys, monkeypatch
):
    """serve59's first stumble: the card of `share --onnx` of an int8 run (train's default)
    said `python model_infer.py photo.jpg` "needs onnxruntime, numpy and Pillow only", an install
    whose answers were up to 0.027 off objrec's in a probability, and share printed nothing of
    the gap export prints. The card names openvino for objrec's answers and the gap export
    measured; share says export's line of ONNX Runtime."""
    checked = {"onnxruntime": agreement(32, 0.027, 1), "openvino": agreement(32, 6e-5)}
    exported_as_int8(monkeypatch, checked)
    assert main(["share", str(run), str(tmp_path / "ours"), "--onnx"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    card = " ".join((tmp_path / "ours" / "README.md").read_text().split())
    assert "onnxruntime, numpy and Pillow only" not in card
    assert "needs openvino, numpy and Pillow (`pip install openvino numpy pillow`)" in card
    assert "by up to 0.027 in a probability and 0.054 in the unknown score on 32 real" in card
    assert "(1 top class differs" in card
    assert "in ONNX Runtime alone (an app's, or model_infer.py without openvino), the file " in said
    assert "differs from objrec's answers by up to 0.027 in a probability" in said
    assert "--precision fp32" in said


def test_an_int8_shares_card_without_a_recorded_check_gives_the_rule(
    run, tmp_path, capsys, monkeypatch
):
    """An export whose sidecar records no check (an older objrec's, copied) still names
    openvino on the card, and says how far ONNX Runtime alone is by the rule; share adds no
    line it has no figure for."""
    exported_as_int8(monkeypatch, None)
    assert main(["share", str(run), str(tmp_path / "ours"), "--onnx"]) == 0
    assert "ONNX Runtime alone" not in capsys.readouterr().out
    card = " ".join((tmp_path / "ours" / "README.md").read_text().split())
    assert "`pip install openvino numpy pillow`" in card
    assert "rounds otherwise: up to a few hundredths in a probability" in card


def exports_made(monkeypatch) -> list[Path]:
    """The folders share exports into from now on, each export stood in for by a sidecar of its
    own (``{}``), for share to name (``export.exporter.export_loaded`` patched)."""
    from objrec.export import exporter

    made: list[Path] = []

    def export_loaded(run, model, meta, out, *more, **options):
        made.append(out)
        out.with_suffix(".json").write_text("{}")

    monkeypatch.setattr(exporter, "export_loaded", export_loaded)
    return made


@pytest.mark.slow
def test_with_onnx_the_runs_own_export_of_the_same_model_is_copied_not_made_again(
    run, tmp_path, monkeypatch
):
    """`share RUN DEST --onnx` exported and checked again (a minute on a CPU) when `objrec export
    RUN` had just done so for the same model: its sidecar's model_digest says it is."""
    from objrec.checkpoint import model_digest
    from objrec.export import exporter

    exporter.export_model(run)
    sidecar = json.loads((run / "model.json").read_text())
    assert sidecar["model_digest"] == model_digest(run)
    made = exports_made(monkeypatch)
    share_run(run, tmp_path / "ours", onnx=True)
    for name in ("model.onnx", "model_infer.py"):
        assert (tmp_path / "ours" / name).read_bytes() == (run / name).read_bytes()
    shared = json.loads((tmp_path / "ours" / "model.json").read_text())
    assert shared == sidecar | {"model_digest": model_digest(tmp_path / "ours")}  # its model's
    sidecar["model_digest"] = "another model"
    (run / "model.json").write_text(json.dumps(sidecar))
    share_run(run, tmp_path / "again", onnx=True)
    assert made  # another model's export is made again


@pytest.mark.slow  # an export (3 s)
def test_with_onnx_an_edited_script_or_a_damaged_graph_is_exported_again_not_copied(
    run, tmp_path, monkeypatch
):
    """`share --onnx` copied the run's export whenever its sidecar named the same model: a
    model_infer.py the user had edited (yours to adapt, with a path of their machine, say) went
    into the share, and so would a damaged model.onnx. Only files as their export wrote them
    (its files_sha256) are copied; otherwise the share exports afresh, the run's files untouched."""
    from objrec.export import exporter

    exporter.export_model(run)
    made = exports_made(monkeypatch)
    script = run / "model_infer.py"
    edited = script.read_text() + "PHOTOS = '/home/me/photos'\n"
    script.write_text(edited)
    share_run(run, tmp_path / "ours", onnx=True)
    assert [out.parent.name for out in made] == ["ours"] and script.read_text() == edited
    assert not (tmp_path / "ours" / "model_infer.py").exists()  # not the user's
    script.write_text(edited.removesuffix("PHOTOS = '/home/me/photos'\n"))
    share_run(run, tmp_path / "same", onnx=True)  # as written: copied
    assert len(made) == 1 and (tmp_path / "same" / "model_infer.py").is_file()
    graph = bytearray((run / "model.onnx").read_bytes())
    graph[-1] ^= 0xFF
    (run / "model.onnx").write_bytes(bytes(graph))
    share_run(run, tmp_path / "damaged", onnx=True)
    assert [out.parent.name for out in made] == ["ours", "damaged"]


@pytest.mark.slow  # an export (3 s)
def test_with_onnx_an_export_an_older_objrec_wrote_is_exported_again_not_copied(
    run, tmp_path, monkeypatch
):
    """`share --onnx` copied a run's export written by an older objrec, whose script ran the
    graph otherwise (before 6 December 2026, an int8 body in ONNX Runtime where objrec ran it in
    OpenVINO), until `export --force`: its sidecar named the same model and its files were as
    that objrec wrote them. A script that is not the one this objrec writes is exported again."""
    import hashlib
    import json

    from objrec.export import exporter

    exporter.export_model(run)
    made = exports_made(monkeypatch)
    script, sidecar = run / "model_infer.py", run / "model.json"
    older = script.read_text().replace('"openvino"', '"onnxruntime"') + "# an older objrec's\n"
    script.write_text(older)
    record = json.loads(sidecar.read_text())
    record["files_sha256"]["model_infer.py"] = hashlib.sha256(older.encode()).hexdigest()
    sidecar.write_text(json.dumps(record, indent=2))  # as that objrec wrote it
    share_run(run, tmp_path / "ours", onnx=True)
    assert [out.parent.name for out in made] == ["ours"] and script.read_text() == older


@pytest.mark.slow  # an export (3 s)
def test_a_shares_export_names_the_shared_model_so_check_finds_it_whole(run, tmp_path):
    """`objrec check` of every `share --onnx` said "an export of another model than the run's
    now (its model_digest names another model file's SHA-256: a retrain since) ... export it
    again": the export named the run's model file, which share writes again without the
    machine's paths. It names the shared file, as the share's threshold.json does; a share of
    the share copies it rather than export again."""
    from objrec.check_run import check_run
    from objrec.export.exporter import reusable_export

    share_run(run, tmp_path / "ours", onnx=True)
    assert check_run(tmp_path / "ours").problems == []
    assert reusable_export(tmp_path / "ours") is not None


def test_a_shares_summary_names_the_shared_model_file(run, tmp_path):
    """A run's summary names its model file by content digest (review55a M1); share writes the
    model again without the machine's paths, a file of another digest, and the share's summary
    names that one, so that load_run reads the share as one run. A run whose summary describes
    another model is refused in a sentence, as load_run refuses it (late55 M1: it was shared, its
    card quoting that model's figures), and nothing is written."""
    import objrec

    share_run(run, tmp_path / "ours")
    shared = json.loads((tmp_path / "ours" / "summary.json").read_text())
    assert shared["model_digest"] == model_digest(tmp_path / "ours") != model_digest(run)
    assert objrec.load_run(tmp_path / "ours").model_digest == shared["model_digest"]
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps(summary | {"model_digest": "0" * 32}))
    with pytest.raises(ObjrecError, match=r"summary.json describes another model than .*model"):
        share_run(run, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_a_retrain_landing_while_share_reads_the_run_is_refused_not_mixed(
    run, tmp_path, monkeypatch
):
    """Session 46 left share reading the run's model file more than once: a ``train --force``
    landing just after it read the model (which puts its settings, summary and training record
    in place with its own model) was shared as the model read beside the retrain's files, its
    kept threshold left out as "kept for an earlier model". Refused in a sentence, nothing
    written."""
    from objrec import share

    keep_threshold(run, 0.3, {"unknown": None, "evaluated": None})
    retrain = retrain_of(run, tmp_path / "b.safetensors")
    monkeypatch.setattr(share, "read_model_state", followed_by(share.read_model_state, retrain))
    with pytest.raises(ObjrecError, match=r"was replaced while share read .* share the run again"):
        share_run(run, tmp_path / "ours")
    assert not (tmp_path / "ours").exists()


def test_a_model_written_into_the_file_in_the_tick_share_looked_at_it_in_is_refused(
    run, tmp_path, monkeypatch
):
    """share knew the run's model file unchanged, once it had copied the run's files, by its
    inode, size and modification time: another model of the same size written into the file
    (``cp``: the same inode) after share read it, in the tick of the file clock share had
    looked at it in, left all three as they were, and was shared beside the model read. As
    the file index's racy rule, the stamp of a file changed within a tick of the look (2 s
    where times are whole seconds, as here) does not vouch for it: the file is hashed again
    and compared. One older is trusted unread (``-k share_with_onnx_reads_the_model_file_once``)."""
    from objrec import share

    model, real_stamp = run / "model.safetensors", share.file_stamp

    def just_written(path):  # dated the whole second share looks at it in: FAT's clock
        second = time.time_ns() // 10**9 * 10**9
        os.utime(path, ns=(second, second))
        monkeypatch.setattr(share, "file_stamp", real_stamp)
        return real_stamp(path)

    def written_into():  # another model of the same size, in place, its time kept
        data, before = bytearray(model.read_bytes()), model.stat()
        data[-1] ^= 0xFF
        with model.open("r+b") as f:
            f.write(data)
        os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))

    monkeypatch.setattr(share, "file_stamp", just_written)
    monkeypatch.setattr(
        share, "read_model_state", followed_by(share.read_model_state, written_into)
    )
    with pytest.raises(ObjrecError, match=r"was replaced while share read .* share the run again"):
        share_run(run, tmp_path / "ours")
    assert not (tmp_path / "ours").exists()


@pytest.mark.slow  # an export (3 s)
@pytest.mark.parametrize("exported", [False, True], ids=["none", "the-runs"])
def test_a_retrain_landing_during_a_shares_export_leaves_it_all_of_the_model_read(
    run, tmp_path, monkeypatch, exported
):
    """Share read the run's model file again for its export (``export_model(run)``) and its
    card (``model_digest(run)``): a retrain landing once the run's files were copied had the
    share's model.onnx answer with the retrain's network and temperature, the card quote none of
    the model's evaluations, and, where the run's own export was of the model read, the copy of
    it fail (a forced train removes it). Everything shared is of the model read."""
    from objrec.export import exporter

    read = model_digest(run)
    temperature = read_checkpoint(run)[1].calibration.temperature
    fake_evaluation(run, "eval-test", read)
    keep_threshold(run, 0.3, {"unknown": None, "evaluated": None})
    if exported:
        exporter.export_model(run)
    retrain = retrain_of(run, tmp_path / "b.safetensors")

    def lands() -> None:  # as train --force does: its model, the earlier one's export removed
        retrain()
        for name in ("model.onnx", "model.json", "model_infer.py"):
            (run / name).unlink(missing_ok=True)

    monkeypatch.setattr(exporter, "reusable_export", followed_by(exporter.reusable_export, lands))
    result = share_run(run, tmp_path / "ours", onnx=True)
    assert model_digest(run) != read
    sidecar = json.loads((tmp_path / "ours" / "model.json").read_text())
    assert sidecar["temperature"] == temperature and sidecar["unknown"]["threshold"] == 0.3
    assert sidecar["model_digest"] == model_digest(tmp_path / "ours")
    assert result.evaluations == ["eval-test"]


def test_the_card_names_several_pretrained_networks_as_several(trained_once):
    """The default body is three networks ('a+b+c'), whose features are joined: the card said
    "Pretrained network (frozen): `a+b+c`" and "trained on its features", as objrec --help
    did before 98b480a."""
    from dataclasses import replace

    from objrec.card import training_section

    _, meta = read_checkpoint(trained_once)
    one = " ".join(training_section(meta, {}))
    assert "Pretrained network (frozen): `tiny_test`" in one and "on its features" in one
    several = " ".join(training_section(replace(meta, backbone="tiny_test+tiny_test"), {}))
    assert "Pretrained networks (frozen, their features joined): `tiny_test+tiny_test`" in several
    assert "on their features" in several


def test_force_that_cannot_move_the_new_share_in_keeps_the_earlier(run, tmp_path, monkeypatch):
    """share --force moved the earlier share aside, then the new one to DEST: when that second
    rename failed (or Ctrl-C came between them), the cleanup of the temporary folder removed the
    earlier share with the new one, and DEST was gone. The earlier share is put back."""
    import os

    ours = tmp_path / "ours"
    share_run(run, ours)
    before = every_byte(ours)
    replace = os.replace

    def new_one_fails(src, dst):  # the new share's folder, written in the staging folder
        if Path(dst) == ours and Path(src).name == "ours" and Path(src).parent != tmp_path:
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr("objrec.share.os.replace", new_one_fails)
    with pytest.raises(OSError, match="No space left"):
        share_run(run, ours, force=True)
    assert every_byte(ours) == before


@pytest.mark.slow  # two shares: 0.27 s
def test_ctrl_c_as_force_moves_the_new_share_in_never_loses_both(
    run, tmp_path, ctrl_c_after_rename
):
    """share --force moved the earlier share aside, then the new one in: a Ctrl-C between the two
    renames left the earlier share in the temporary folder, removed with it, and no share at
    all. The stop now waits for the new share to be in place, and says so."""
    from objrec.errors import Interrupted
    from objrec.share import is_share_folder

    ours = tmp_path / "ours"
    share_run(run, ours)
    (run / "seen_digests.csv").write_text("sha256\n")  # the new share differs
    ctrl_c_after_rename(lambda source, target: source == ours)  # the earlier share moved aside
    with pytest.raises(Interrupted, match=r"the share was written to .*, whole, before the stop"):
        share_run(run, ours, force=True)
    assert is_share_folder(ours) and (ours / "seen_digests.csv").read_text() == "sha256\n"


def test_many_entries_left_out_are_counted_by_file_not_dumped():
    """A run with two adds and a plan left 18 JSON key paths out of its share, and share's line
    and the card listed every one: a dump a recipient could not read. A few are still named."""
    from objrec.card import redacted_words

    few = ["model.safetensors: data_dir", "summary.json: run"]
    assert redacted_words(few) == "model.safetensors: data_dir, summary.json: run"
    assert redacted_words(few, quote=True) == "`model.safetensors: data_dir`, `summary.json: run`"
    many = [*few, *(f"summary.json: provenance.split_record.added.{i}.new" for i in range(15))]
    many.append("config.json: cache_dir")
    assert redacted_words(many) == (
        "18 entries, each null in its place (1 in model.safetensors, 16 in summary.json, 1 in "
        "config.json)"
    )
    assert redacted_words([]) == "nothing"


def test_the_card_says_how_many_photos_of_untaught_things_were_answered_unknown():
    """run2 was evaluated with --unknown on 43 photos of pyramids (3 still got a class at
    the kept threshold), but the card shared said only which share of the test photos got a
    class: nothing told the recipient how it answers things it was never taught. The folder
    (a path of this machine) stays out."""
    from objrec.card import Evaluation, measured_lines

    metrics = {"unknown_threshold": 0.18, "open_set": {"n_unknown": 43}}
    metrics["open_set"] |= {"unknown_accepted": 3 / 43, "folder": "/home/ana/strangers"}
    metrics["open_set"]["unknown_answered_as"] = {"lamp": 1, "stapler": 1, "pagoda": 1}
    assert measured_lines([Evaluation("eval-test", record_of(metrics))]) == [
        "- Shown 43 photos of things it was not taught (`objrec evaluate --unknown`), it answered "
        '93.02% of them "unknown" (below 0.18); the others got a class (lamp 1, stapler 1, '
        "pagoda 1)."
    ]
    metrics["open_set"]["unknown_answered_as"] |= {"cup": 2, "fan": 1, "ibis": 1}
    assert measured_lines([Evaluation("eval-test", record_of(metrics))])[0].endswith(
        "the others got a class (cup 2, lamp 1, stapler 1 and 3 more)."
    )  # the three most often, not as if they were all
    assert measured_lines([Evaluation("eval-test", record_of({"unknown_threshold": 0.0}))]) == []


def test_the_card_quotes_no_share_answered_at_a_threshold_no_longer_used(run, tmp_path):
    """evaluate --unknown U --keep-threshold measured eval-test at the run's own threshold, then
    kept a stricter one: the card quoted the share of images given a class at the first beside
    "Kept since: 0.3"; what holds at any threshold is still quoted."""
    fake_evaluation(run, "eval-test", model_digest(run))
    keep_threshold(run, 0.3, {"unknown": None, "evaluated": None})
    share_run(run, tmp_path / "ours")
    card = (tmp_path / "ours" / "README.md").read_text()
    assert "get a class" not in card and "when an unknown counts" not in card
    assert "top-1 75.00%" in card and "Kept since: 0.3" in card


def test_the_card_says_the_test_split_held_a_class_the_model_was_not_taught(run, tmp_path):
    """After `add` brought in a class, and before the retrain, the card quoted "On the test split
    (47 images): top-1 76.60%" with no word of the 22 ketch images left out of it, which evaluate
    warns of."""
    fake_evaluation(run, "eval-test", model_digest(run))
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
    metrics |= {"untaught_classes": {"ketch": 22}, "untaught_unknown": 20, "unknown_threshold": 0.2}
    (run / "eval-test" / "metrics.json").write_text(json.dumps(metrics))
    share_run(run, tmp_path / "ours")
    card = (tmp_path / "ours" / "README.md").read_text()
    assert (
        "The test split has 1 class folder the model was not taught, left out of every score: "
        'ketch (22 images); the model answered 20 of these 22 images "unknown".'
    ) in card


@pytest.mark.parametrize("text", ["{bad", "[1, 2]"], ids=["not-json", "not-an-object"])
def test_a_damaged_summary_is_refused_as_the_runs_record_not_called_a_bug(
    run, tmp_path, capsys, text
):
    """share of a run whose summary.json a user or a crash broke said "an error objrec did not
    expect, a bug: JSONDecodeError": it names the file, says the model is
    sound and what to do, and writes nothing."""
    (run / "summary.json").write_text(text)
    assert main(["share", str(run), str(tmp_path / "out")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "a bug" not in err and "Traceback" not in err, err
    assert f"error: {run / 'summary.json'} is not " in err
    assert "the run's record is damaged, not its model" in err
    assert "remove it to share the run without it" in err
    assert not (tmp_path / "out").exists()
    (run / "summary.json").unlink()  # as the sentence says
    assert main(["share", str(run), str(tmp_path / "out")]) == 0


@pytest.mark.parametrize("zipped", [False, True])
def test_a_share_inside_the_run_it_copies_is_refused(run, tmp_path, zipped):
    """`share RUN RUN/sub` wrote the share (model, card, SHA256SUMS) into the run it shares; it is
    refused, as split refuses an output inside its source, and nothing written."""
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    with pytest.raises(
        UsageRefused, match=f"`out` {run / 'sub'}.* lies inside the run folder {run}:"
    ):
        share_run(run, run / "sub", zipped=zipped)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_a_run_without_config_or_seen_digests_says_what_the_share_goes_without(run, tmp_path):
    """review52b L4: a run missing config.json or seen_digests.csv was shared with exit 0,
    `left_out: []`, and a card still saying "`config.json` holds every setting"."""
    whole = share_run(run, tmp_path / "whole")
    card = (tmp_path / "whole" / "README.md").read_text()
    assert whole.left_out == [] and "`config.json` holds every setting" in card
    (run / "config.json").unlink()
    (run / "seen_digests.csv").unlink()
    result = share_run(run, tmp_path / "ours")
    assert result.left_out == [
        "config.json: the run has none, so its training settings go without it",
        "seen_digests.csv: the run has none, so the recipient's evaluate cannot tell the photos "
        "it trained on",
    ]
    card = (tmp_path / "ours" / "README.md").read_text()
    assert "`config.json` holds every setting" not in card
    assert "Not shared: config.json: the run has none" in card


def test_share_with_onnx_reads_the_model_file_once(run, tmp_path, monkeypatch):
    """`share RUN DEST --onnx` read the run's model file, then read back the copy it wrote for
    its digest, the export's model, the card's metadata and SHA256SUMS: model.safetensors opened
    7 times, hashed 10 (review53a L3). The copy is made and sealed in memory, its digests those of
    the bytes written, and the export's model is the one read. The run's file was then read and
    hashed once more, to check that no retrain replaced it (struct54): its inode, size and
    modification time, taken before the read, tell. The export, the card and the sums unchanged."""
    from objrec.export import exporter
    from objrec.run_files import BEST

    from .conftest import opens_counted

    given = []

    def export_loaded(run, model, meta, out, *more, **options):
        given.append((model, meta))
        out.with_suffix(".json").write_text("{}")

    monkeypatch.setattr(exporter, "export_loaded", export_loaded)
    with opens_counted(monkeypatch) as opened:
        share_run(run, tmp_path / "ours", onnx=True)
    assert opened[BEST] == 1  # the run's, read; the copy written only
    ((model, meta),), ours = given, tmp_path / "ours"
    expected, _ = load_model(ours)
    assert (meta.digest, meta.data_dir) == (model_digest(run), read_checkpoint(run)[1].data_dir)
    state, same = model.state_dict(), expected.state_dict()
    assert state.keys() == same.keys() and all(torch.equal(state[k], same[k]) for k in state)
    assert json.loads((ours / "model.json").read_text())["model_digest"] == model_digest(ours)
    whole = hashlib.sha256((ours / BEST).read_bytes()).hexdigest()
    assert f"{whole}  {BEST}\n" in (ours / MANIFEST).read_text()


def test_share_with_onnx_reads_its_exports_sidecar_once_and_warns_once(
    run, tmp_path, monkeypatch, caplog
):
    """share read the share's model.json four times (to name the shared model, for the card's
    openvino, for the card's ONNX Runtime gap, for its own lines), so a check this objrec cannot
    read was warned of twice. It reads it once and passes the record on: one WARNING, and the
    card gives the rule."""
    import logging

    figures = agreement(32, 0.027, 1) | {"new_figure": 1}
    exported_as_int8(monkeypatch, {"onnxruntime": figures, "openvino": agreement(32, 6e-5)})
    reads, real = [], Path.read_text

    def read_text(self, *args, **kwargs):
        if self.name == "model.json" and self.parent != run:
            reads.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    with caplog.at_level(logging.WARNING):
        result = share_run(run, tmp_path / "ours", onnx=True)
    assert len(reads) == 1
    warned = [r for r in caplog.records if "answers_checked" in r.getMessage()]
    assert len(warned) == 1 and result.answers_checked == {}
    card = " ".join((tmp_path / "ours" / "README.md").read_text().split())
    assert "`pip install openvino numpy pillow`" in card
    assert "rounds otherwise: up to a few hundredths in a probability" in card


@pytest.mark.slow
def test_a_share_in_a_thread_that_ends_lets_go_of_the_feature_store(
    trained_run, split_dir, tmp_path, stores_opened
):
    """late62's unchecked entry points: a Python caller's thread that shares a run and ends
    leaves every feature store it opened closed (the model card checks that the run's evaluation
    is of the images there now, through the store's file index): its lock, which a prune or
    clear waits for, and its array files' descriptors, which an ending thread never closes."""
    from objrec.evaluate import evaluate

    from .conftest import in_ended_thread, let_go

    evaluate(trained_run, split_dir / "test")  # lets go itself: the card reads its evaluation
    stores_opened.clear()
    in_ended_thread(lambda: share_run(trained_run, tmp_path / "ours"))
    cache = Path(json.loads((trained_run / "config.json").read_text())["cache_dir"])
    assert (tmp_path / "ours" / "README.md").is_file() and let_go(stores_opened, cache)

"""export: the ONNX file and its JSON sidecar, --logits, refusal to overwrite, the self-check."""

import json

import numpy as np
import pytest
import torch

from objrec.checkpoint import load_model
from objrec.errors import ObjrecError
from objrec.export import export_model
from objrec.runtime import OnnxModel


def test_the_sidecar_holds_classes_and_preprocessing_and_the_file_reproduces_pytorch(
    trained_run, tmp_path
):
    result = export_model(trained_run, tmp_path / "m.onnx")
    info = json.loads(result.sidecar.read_text())
    assert result.sidecar == tmp_path / "m.json"
    assert info["classes"] == ["blue", "green", "red"] and info["output"] == "probabilities"
    spec = info["input"]
    assert (spec["resize_short_side"], spec["center_crop"]) == (36, 32)
    assert spec["mean"] == pytest.approx([0.485, 0.456, 0.406]) and spec["layout"] == "NCHW"
    assert [v["name"] for v in info["test_time_views"]] == [
        "centre",
        "flip",
        "reframed",
        "reframed_flip",
    ]
    assert result.max_diff <= 1e-4 and info["max_abs_diff"] == result.max_diff
    model, meta = load_model(trained_run)
    x = torch.randn(3, 3, 32, 32)
    with torch.inference_mode():  # calibrated: divided by the run's temperature
        expected = (model(x) / meta.calibration.temperature).softmax(1)
    got = OnnxModel(result.path)(x)
    assert got.shape == (3, 3) and torch.allclose(got, expected, atol=1e-4)


def test_logits_are_exported_without_the_softmax(trained_run, tmp_path):
    result = export_model(trained_run, tmp_path / "logits.onnx", softmax=False)
    assert json.loads(result.sidecar.read_text())["output"] == "logits"
    out = OnnxModel(result.path)(torch.randn(2, 3, 32, 32))
    assert not torch.allclose(out.sum(1), torch.ones(2))  # raw scores, not probabilities
    assert torch.allclose(out.softmax(1).sum(1), torch.ones(2))


def test_an_earlier_export_is_refused_unless_forced(trained_run, tmp_path):
    export_model(trained_run, tmp_path / "m.onnx")
    before = (tmp_path / "m.onnx").read_bytes()
    with pytest.raises(ObjrecError, match="exists"):
        export_model(trained_run, tmp_path / "m.onnx")
    (tmp_path / "m.onnx").unlink()
    with pytest.raises(ObjrecError, match=r"m\.json exists"):  # the sidecar counts too
        export_model(trained_run, tmp_path / "m.onnx")
    export_model(trained_run, tmp_path / "m.onnx", force=True)
    assert len((tmp_path / "m.onnx").read_bytes()) == len(before)


def test_an_export_that_does_not_reproduce_pytorch_is_removed_and_reported(
    trained_run, tmp_path, monkeypatch
):
    monkeypatch.setattr("objrec.export.check_onnx", lambda *a: float(np.float32(0.5)))
    with pytest.raises(ObjrecError, match=r"differs from PyTorch by 0\.5"):
        export_model(trained_run, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "m.json").exists()
    with pytest.raises(ObjrecError, match=r"differs from PyTorch"):
        export_model(trained_run, tmp_path / "new" / "models" / "m.onnx")
    assert not (tmp_path / "new").exists()  # nor the folders made for it


def test_a_failed_forced_export_leaves_the_earlier_export_as_it_was(
    trained_run, tmp_path, monkeypatch
):
    export_model(trained_run, tmp_path / "m.onnx")
    before = (tmp_path / "m.onnx").read_bytes(), (tmp_path / "m.json").read_bytes()
    monkeypatch.setattr("objrec.export.check_onnx", lambda *a: 0.5)
    with pytest.raises(ObjrecError, match="nothing written"):
        export_model(trained_run, tmp_path / "m.onnx", force=True)
    assert ((tmp_path / "m.onnx").read_bytes(), (tmp_path / "m.json").read_bytes()) == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_a_failed_sidecar_write_leaves_the_earlier_model_and_sidecar(
    trained_run, tmp_path, monkeypatch
):
    import objrec.export as export

    export_model(trained_run, tmp_path / "m.onnx")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}

    def no_json(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export.json, "dumps", no_json)
    with pytest.raises(OSError, match="disk full"):
        export_model(trained_run, tmp_path / "m.onnx", softmax=False, force=True)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before

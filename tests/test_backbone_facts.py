"""What a backbone weighs (``objrec.backbone_facts``): counts declared or counted on the built
body, the reference figures cited from benchmarks/README.md, the pass's speed when measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from objrec.backbone_facts import REFERENCES, describe_backbones
from objrec.backbones import build_body, get_backbone, list_backbones
from objrec.config import DEFAULT_BACKBONE
from objrec.errors import ObjrecError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # builds the tiny body, loads a run's model
def test_the_tiny_backbone_s_facts_are_its_built_body_s_and_what_its_head_sees(trained_once):
    """The tiny body declares no counts: they are counted on it as built (on the meta device,
    no weight drawn), and its features are the width a trained head of it takes."""
    import torch

    from objrec.checkpoint import load_model

    (facts,) = describe_backbones(["tiny_test"])
    body = build_body(get_backbone("tiny_test"), pretrained=False)
    assert facts.parameters == sum(p.numel() for p in body.parameters()) > 0
    assert facts.weights_bytes is not None and facts.weights_bytes > 0
    assert facts.speeds is None and facts.reference is None and facts.offline
    model, meta = load_model(trained_once)
    assert meta.backbone == "tiny_test"
    x = torch.zeros(1, 3, facts.input_size, facts.input_size)
    with torch.inference_mode():
        assert model.body(x).shape == (1, facts.features)
        assert model.head(torch.zeros(1, facts.features)).shape[-1] == len(meta.classes)


@pytest.mark.slow  # builds the three Lite architectures on the meta device
def test_the_registry_s_declared_counts_are_its_built_bodies():
    """The listing answers without PyTorch from counts the registry declares: each is the built
    body's (on the meta device: no weight read), the default ensemble's their sums."""
    import torch

    for spec in list_backbones():
        with torch.device("meta"):
            body = build_body(spec, pretrained=False)
        assert spec.n_features == body.n_features, spec.name
        assert spec.parameters == sum(p.numel() for p in body.parameters()), spec.name
    parts = [get_backbone(name) for name in DEFAULT_BACKBONE.split("+")]
    default = {f.name: f for f in describe_backbones()}[DEFAULT_BACKBONE]
    assert default.features == sum(p.n_features for p in parts) == 3840
    assert default.parameters == sum(p.parameters for p in parts)
    files = [f for p in parts for f in p.weights_files()]
    if len(files) == 3:  # the Lite packages installed
        assert default.weights_bytes == sum(f.stat().st_size for f in files)


def test_each_reference_figure_is_the_one_benchmarks_readme_measured():
    """A reference figure is cited, never invented: its test top-1 and top-5 are in the row of
    accuracy.py's table it names, in the section it links to."""
    page = (ROOT / "benchmarks" / "README.md").read_text()
    section = page.split("## `accuracy.py`: each setting on the test split", 1)[1].split("\n## ")[0]
    for name, reference in REFERENCES.items():
        get_backbone(name)  # a name --backbone takes
        rows = [r for r in section.splitlines() if r.startswith(f"| {reference.row}")]
        assert len(rows) == 1, (name, reference.row)
        cells = [c.strip(" *") for c in rows[0].split("|")]
        assert f"{reference.top1:.2%}" in cells and f"{reference.top5:.2%}" in cells, name
        assert reference.source.endswith("#accuracypy-each-setting-on-the-test-split")


def test_the_listing_leaves_unknown_what_it_cannot_count_unbuilt():
    """A torchvision model's counts are not declared; listing them builds none (seconds each)."""
    from objrec.backbone_facts import weighed
    from objrec.backbones import BackboneSpec

    spec = BackboneSpec("x", "", get_backbone("tiny_test").data_config, lambda p, w: None)
    assert weighed(spec) == (None, None, None)


@pytest.mark.slow  # exports the tiny body to ONNX and times it
def test_measuring_the_tiny_backbone_gives_its_fp32_pass_s_time(tmp_path):
    (facts,) = describe_backbones(["tiny_test"], measure=True, images=20, cache_dir=tmp_path)
    assert facts.speeds is not None and len(facts.speeds) == 1
    (speed,) = facts.speeds
    assert speed.precision == "fp32" and speed.auto and speed.ms_per_image > 0
    assert speed.batch_size == 16 and speed.threads >= 1
    assert speed.engine in ("onnxruntime", "torch")
    assert facts.no_int8 == "auto runs fp32 here: int8 was not validated on tiny_test"
    row = facts.to_json()
    assert row["speeds"][0]["ms_per_image"] > 0 and row["no_int8"] == facts.no_int8
    assert any((tmp_path / "onnx").iterdir())  # the graph train reuses, kept


@pytest.mark.slow  # exports the tiny body to ONNX and times it
def test_a_burst_of_another_process_during_one_round_does_not_move_the_measured_time(
    tmp_path, monkeypatch
):
    """On 2 shared cores whole runs' means of 64 images varied by 30 to 50% (Lite1's int8 4.0
    to 6.4 ms): the figure is the median of the rounds of batches the body runs at once, which
    one round slowed by another process's burst does not move."""
    import time

    from objrec import frozen

    calls, in_body = [], frozen.in_body

    def bursty(body, batches):
        calls.append(1)
        if len(calls) == 2:  # the first timed round: another process takes the cores
            time.sleep(0.5)
        yield from in_body(body, batches)

    monkeypatch.setattr(frozen, "in_body", bursty)
    (facts,) = describe_backbones(["tiny_test"], measure=True, images=128, cache_dir=tmp_path)
    assert facts.speeds is not None and facts.speeds[0].ms_per_image < 2  # 0.5 s / 128: 3.9 ms
    assert len(calls) > 3


def test_a_bad_image_count_or_every_torchvision_model_is_one_sentence_said_at_once():
    with pytest.raises(ObjrecError, match=r"^`images` must be 1 or more to measure, got 0$"):
        describe_backbones(measure=True, images=0)
    with pytest.raises(ObjrecError, match=r"^`measure` with `torchvision` would time every one"):
        describe_backbones(measure=True, torchvision=True)


@pytest.mark.slow  # exports the tiny body to ONNX and times it
def test_measuring_an_int8_body_lets_go_of_the_feature_store_its_copy_opened(tmp_path, monkeypatch):
    """``describe_backbones(measure=True)`` opened the feature store for a network's int8 copy
    (``quantize_body``'s memos of the copy) and kept it, and its lock, until the caller's thread
    ended: a prune or clear elsewhere waited for a measure long done, and an ending thread left
    the store's files open. It lets go as it returns, as ``train`` does. Where ``auto`` runs
    int8 here: the calibration is left out (the body itself stands for its copy), the store is
    opened as for a real one."""
    import objrec.precision
    import objrec.quantize

    from .conftest import store_held

    given = []

    def copied(body, data, cache_root, *, store, **_):
        given.append(store.recall("no such memo") is None)  # the copy reads its memos there
        return body

    monkeypatch.setattr(objrec.precision, "auto_precision", lambda spec, device: ("int8", ""))
    monkeypatch.setattr(objrec.quantize, "quantize_body", copied)
    (facts,) = describe_backbones(["tiny_test"], measure=True, images=20, cache_dir=tmp_path)
    assert facts.speeds is not None and [s.precision for s in facts.speeds] == ["fp32", "int8"]
    assert given == [True] and not store_held(tmp_path)

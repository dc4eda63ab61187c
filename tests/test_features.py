import os
import time

import pytest
import torch

from objrec.backbones import TinyBody, get_backbone
from objrec.data import scan_class_folder
from objrec.features import FeatureCache, FrozenBody, ViewSpec, cached_features, compute_features

DATA = get_backbone("tiny_test").data_config


@pytest.fixture
def samples(image_folder):
    return scan_class_folder(image_folder).samples


def frozen(tmp_path, body=None, backend="torch"):
    return FrozenBody(
        body or TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache"), backend
    )


def entries(tmp_path):
    return sorted(p.name for p in (tmp_path / "cache").iterdir() if p.is_dir() and p.name != "onnx")


def test_cache_hit_returns_the_same_features_as_a_fresh_computation(tmp_path, samples):
    body = frozen(tmp_path)
    for view in (0, 1):
        spec = ViewSpec(DATA, "article", view)
        first = cached_features(body, samples, spec)
        hit = cached_features(body, samples, spec)
        fresh = compute_features(frozen(tmp_path / "other"), samples, spec)
        assert torch.equal(first.features, hit.features)
        assert torch.allclose(first.features, fresh.features, atol=1e-6)
        assert torch.equal(hit.labels, fresh.labels)
    assert len(entries(tmp_path)) == 2


def test_changing_a_file_the_transform_or_the_weights_invalidates(tmp_path, samples, image_folder):
    body = frozen(tmp_path)
    spec = ViewSpec(DATA, "article", 1)
    cached_features(body, samples, spec)
    cached_features(body, samples, ViewSpec(DATA, "trivial", 1))  # another transform
    other_weights = TinyBody()
    with torch.no_grad():
        other_weights.features[0].weight.mul_(2)
    changed = cached_features(frozen(tmp_path, other_weights), samples, spec)  # other weights
    assert len(entries(tmp_path)) == 3
    path = samples[0].path
    from .conftest import make_image

    make_image((0, 0, 0), size=(40, 32), seed=999).save(
        path, format="PNG" if path.suffix == ".png" else "JPEG"
    )
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = cached_features(body, scan_class_folder(image_folder).samples, spec)  # a changed file
    assert len(entries(tmp_path)) == 4
    assert not torch.equal(again.features[0], changed.features[0])


def test_an_interrupted_write_is_never_read_as_valid(tmp_path, samples, monkeypatch):
    body = frozen(tmp_path)
    spec = ViewSpec(DATA)
    calls = {"n": 0}
    real = body.__call__

    class Boom(Exception):
        pass

    def failing(x):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Boom
        return real(x)

    monkeypatch.setattr(body, "__call__", failing)
    monkeypatch.setattr(FrozenBody, "__call__", lambda self, x: failing(x))
    with pytest.raises(Boom):
        cached_features(body, samples, spec, batch_size=8)
    assert entries(tmp_path) == []
    monkeypatch.undo()
    result = cached_features(frozen(tmp_path), samples, spec, batch_size=8)
    assert result.ok.all()


def test_a_half_written_entry_left_by_a_killed_process_is_ignored(tmp_path, samples):
    body = frozen(tmp_path)
    spec = ViewSpec(DATA)
    first = cached_features(body, samples, spec)
    (entry,) = entries(tmp_path)
    (tmp_path / "cache" / entry / "meta.json").unlink()  # as if killed before the rename
    again = cached_features(body, samples, spec)
    assert torch.equal(first.features, again.features)


def test_unreadable_files_are_marked_not_fatal(tmp_path, samples):
    samples[0].path.write_bytes(b"not an image")
    result = cached_features(frozen(tmp_path), samples, ViewSpec(DATA))
    assert not result.ok[0] and result.ok[1:].all()
    assert len(result.readable().labels) == len(samples) - 1


def test_onnx_runner_matches_torch_within_tolerance(tmp_path, samples):
    pytest.importorskip("onnxruntime")
    fast = frozen(tmp_path, backend="auto")
    slow = frozen(tmp_path / "b", backend="torch")
    a = compute_features(fast, samples, ViewSpec(DATA))
    b = compute_features(slow, samples, ViewSpec(DATA))
    assert fast.backend_used == "onnxruntime" and slow.backend_used == "torch"
    assert (a.features - b.features).abs().max() <= 1e-4

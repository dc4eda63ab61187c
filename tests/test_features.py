import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from objrec import locks, runtime
from objrec.backbones import get_backbone
from objrec.batches import TensorViews, ViewStack, feature_batches
from objrec.bodies import TinyBody
from objrec.cache import FeatureCache
from objrec.data import Sample, scan_class_folder
from objrec.features import cached_features, feature_table
from objrec.file_index import hash_file
from objrec.frozen import FrozenBody, PassSettings, compute_features
from objrec.images import TOO_LARGE_HINT
from objrec.views import ViewSpec, view_seed

DATA = get_backbone("tiny_test").data_config


@pytest.fixture
def samples(image_folder):
    return scan_class_folder(image_folder).samples


def frozen(tmp_path, body=None, backend="torch", dtype="float32"):
    return FrozenBody(
        body or TinyBody(), DATA.input_size, FeatureCache(tmp_path / "cache", dtype), backend
    )


def fresh(samples, spec, body=None):
    """Features computed without the store, each augmented view seeded by its content."""
    seeds = [view_seed(hash_file(s.path), spec.view) for s in samples]
    return compute_features(
        FrozenBody(body or TinyBody(), DATA.input_size, FeatureCache(None), "torch"),
        samples,
        spec,
        seeds=seeds,
    )


@pytest.mark.slow
def test_a_stored_table_equals_a_fresh_computation_and_is_reused(tmp_path, samples):
    body = frozen(tmp_path)
    for view in (0, 1):
        spec = ViewSpec(DATA, "article", view)
        first = feature_table(body, samples, spec)
        hit = feature_table(body, samples, spec)
        assert (first.computed, hit.computed) == (len(samples), 0)
        assert torch.equal(first.load().features, hit.load().features)
        assert torch.allclose(hit.load().features, fresh(samples, spec).features, atol=1e-6)
    assert hit.hashing.hashed == 0  # unchanged files are not read again


@pytest.mark.slow
def test_views_of_one_decode_are_the_rows_of_each_view_computed_alone(tmp_path, samples, decoded):
    """``feature_tables`` decodes each image the store lacks once for every view it lacks
    (decode60: a cold train decoded each training image once per view); each view's rows are
    those of the view computed alone, bit for bit, whichever views an image is made in beside it:
    here the store holds the centre crop of the first three images, and an unreadable file is
    remembered as such in every view."""
    from objrec.features import feature_tables

    (samples := list(samples[:8]))[5].path.write_bytes(b"not an image")
    specs = [
        ViewSpec(DATA),
        ViewSpec(DATA, "article", 1),
        ViewSpec(DATA, "trivial", 2),
        ViewSpec(DATA, tta="reframed_flip"),
    ]
    alone = frozen(tmp_path / "alone")
    expected = [feature_table(alone, samples, spec) for spec in specs]  # a pass each
    body = frozen(tmp_path / "together")
    feature_table(body, samples[:3], specs[0])
    decoded.clear()  # the decodes of feature_tables' pass alone
    settings = [PassSettings(batch_size=3)] * len(specs)
    tables = feature_tables(body, samples, specs, settings)
    assert sorted(decoded) == sorted(str(s.path) for s in samples)  # once each, all views
    assert [t.computed for t in tables] == [4, 7, 7, 7]  # 8 images, 1 unreadable
    for table, alone_table in zip(tables, expected, strict=True):
        assert table.ok.tolist() == alone_table.ok.tolist() == [i != 5 for i in range(8)]
        assert torch.equal(table.load().features, alone_table.load().features)
        assert len(table.errors) == 1 and table.errors == alone_table.errors


@pytest.mark.slow
def test_a_relabel_a_rename_or_a_move_computes_nothing(tmp_path, image_folder, samples):
    body = frozen(tmp_path)
    specs = [ViewSpec(DATA, "article", v) for v in (0, 1)]
    tables = [feature_table(body, samples, spec) for spec in specs]
    # every image computed at first: "nothing computed" below is not a pass that computes nothing
    assert [(t.computed, t.failed) for t in tables] == [(len(samples), 0)] * len(specs)
    before = [t.load() for t in tables]
    moved = image_folder / "green" / "moved_from_red.png"
    source = next(s.path for s in samples if s.path.parent.name == "red")
    shutil.move(source, moved.with_suffix(source.suffix))
    (image_folder / "blue" / "img_00.jpg").rename(image_folder / "blue" / "renamed.jpg")
    after_samples = scan_class_folder(image_folder).samples
    relabelled = [Sample(s.path, (s.label + 1) % 3) for s in after_samples]
    for spec, old in zip(specs, before, strict=True):
        for current in (after_samples, relabelled):
            table = feature_table(body, current, spec)
            assert table.computed == 0
        new_index = next(i for i, s in enumerate(after_samples) if s.path.name.startswith("moved"))
        old_index = list(samples).index(next(s for s in samples if s.path == source))
        assert torch.equal(table.load().features[new_index], old.features[old_index])


@pytest.mark.slow
def test_an_added_image_computes_exactly_one_per_view(tmp_path, image_folder, samples):
    body = frozen(tmp_path)
    specs = [ViewSpec(DATA, "article", v) for v in (0, 1, 2)]
    for spec in specs:
        feature_table(body, samples, spec)
    from .conftest import make_image

    make_image((10, 200, 10), seed=4242).save(image_folder / "green" / "new.png")
    more = scan_class_folder(image_folder).samples
    assert [feature_table(body, more, spec).computed for spec in specs] == [1, 1, 1]
    assert [feature_table(body, more, spec).computed for spec in specs] == [0, 0, 0]


@pytest.mark.slow
def test_changing_a_file_the_transform_or_the_weights_computes_again(
    tmp_path, samples, image_folder
):
    body = frozen(tmp_path)
    spec = ViewSpec(DATA, "article", 1)
    assert feature_table(body, samples, spec).computed == len(samples)
    assert feature_table(body, samples, ViewSpec(DATA, "trivial", 1)).computed == len(samples)
    other_weights = TinyBody()
    with torch.no_grad():
        other_weights.features[0].weight.mul_(2)
    changed = feature_table(frozen(tmp_path, other_weights), samples, spec)
    assert changed.computed == len(samples)
    path = samples[0].path
    from .conftest import make_image

    make_image((0, 0, 0), size=(40, 32), seed=999).save(
        path, format="PNG" if path.suffix == ".png" else "JPEG"
    )
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = feature_table(body, scan_class_folder(image_folder).samples, spec)
    assert again.computed == 1 and again.hashing.hashed == 1
    assert not torch.equal(again.load().features[0], changed.load().features[0])


@pytest.mark.slow
def test_another_decoder_or_resize_computes_again_the_same_one_does_not(
    tmp_path, samples, monkeypatch
):
    """The store's key held objrec's decoding rules but not the decoders: after an upgrade of
    Pillow, of the libjpeg-turbo it decodes with or of torchvision (whose resize makes every
    view), which may give other pixels, it served the features of the old pixels."""
    import PIL
    import torchvision
    from PIL import features as pil_features

    body, spec, few = frozen(tmp_path), ViewSpec(DATA), samples[:2]
    assert feature_table(body, few, spec).computed == len(few)
    real_version = pil_features.version
    changes = [
        (PIL, "__version__", "0.0.1"),
        (pil_features, "version", lambda name: "9.9.9" if "jpeg" in name else real_version(name)),
        (torchvision, "__version__", "0.0.1+cpu"),
    ]
    for module, name, value in changes:
        monkeypatch.setattr(module, name, value)
        assert feature_table(body, few, spec).computed == len(few), name
        assert feature_table(body, few, spec).computed == 0, name
        monkeypatch.undo()
    assert feature_table(body, few, spec).computed == 0
    from objrec import features
    from objrec.errors import ObjrecError

    named = iter(["as installed", "as imported"])  # torchvision replaced before it was imported
    monkeypatch.setattr(features, "pixel_makers", lambda: next(named))
    with pytest.raises(ObjrecError, match="torchvision changed on disk while this command ran"):
        feature_table(body, few, spec)


@pytest.mark.slow
def test_an_interrupted_pass_keeps_what_it_finished_and_nothing_wrong(
    tmp_path, samples, monkeypatch
):
    body = frozen(tmp_path)
    spec = ViewSpec(DATA)
    calls = {"n": 0}
    real = FrozenBody.__call__

    class Boom(Exception):
        pass

    def failing(self, x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Boom
        return real(self, x)

    monkeypatch.setattr(FrozenBody, "__call__", failing)
    with pytest.raises(Boom):
        feature_table(body, samples, spec, PassSettings(batch_size=8))
    monkeypatch.undo()
    result = feature_table(frozen(tmp_path), samples, spec, PassSettings(batch_size=8))
    assert result.computed == len(samples) - 16  # two batches of eight were kept
    assert torch.allclose(result.load().features, fresh(samples, spec).features, atol=1e-6)


@pytest.mark.slow
def test_unreadable_files_are_marked_remembered_and_named_by_their_current_path(tmp_path, samples):
    samples[0].path.write_bytes(b"not an image")
    first = cached_features(frozen(tmp_path), samples, ViewSpec(DATA))
    assert not first.ok[0] and first.ok[1:].all()
    moved = samples[0].path.with_name("renamed.png")
    samples[0].path.rename(moved)
    again = feature_table(frozen(tmp_path), [Sample(moved, 0), *samples[1:]], ViewSpec(DATA))
    assert again.computed == 0 and not again.ok[0]
    assert again.errors == [f"{moved}: cannot read image ({first.errors[0].split('(', 1)[1]}"]


def with_a_large_image(image_folder: Path) -> tuple[list[Sample], int]:
    """The folder's samples with ``red/huge.png`` (160x120: 19,200 pixels) among them, and its
    position; the fixture's others are at most 44x36."""
    from .conftest import make_image, taken_before

    make_image((200, 40, 40), size=(160, 120)).save(image_folder / "red" / "huge.png")
    taken_before(image_folder / "red" / "huge.png")
    samples = scan_class_folder(image_folder).samples
    return samples, [s.path.name for s in samples].index("huge.png")


@pytest.mark.slow
def test_stored_features_of_an_image_over_a_lower_pixel_limit_are_refused_unopened(
    tmp_path, image_folder, monkeypatch
):
    """The store keys a row by the image's content, not the pixel limit it was decoded under: under
    a lower ``OBJREC_MAX_PIXELS`` train, evaluate and predict used the stored features of an image
    that split, check and a run on an empty cache refuse as too large. Refused now, as a run on
    an empty cache refuses it, in its words: "19,200 pixels is over the limit" on a warm store,
    "160x120 pixels" on a cold one. No other file is opened than
    the refused one, for its size; the row is kept for a higher limit."""
    from objrec import images
    from objrec.features import stored_tables

    samples, at = with_a_large_image(image_folder)
    spec = ViewSpec(DATA)
    assert feature_table(frozen(tmp_path), samples, spec).ok.all()  # the default limit
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "10000")
    opened, open_file = [], images.open_file
    with monkeypatch.context() as opening:
        opening.setattr(images, "open_file", lambda f, *a: opened.append(f) or open_file(f, *a))
        warm = feature_table(frozen(tmp_path), samples, spec)
        (predicts,) = stored_tables(frozen(tmp_path), samples, [spec]) or [None]
    assert set(opened) == {samples[at].path}
    assert warm.computed == 0 and warm.ok.tolist() == [i != at for i in range(len(samples))]
    assert warm.errors == [
        f"{samples[at].path}: 160x120 pixels is over the limit of 10,000 pixels: "
        f"{images.TOO_LARGE_HINT}"
    ]
    assert predicts is not None and torch.equal(predicts.ok, warm.ok)
    cold = feature_table(frozen(tmp_path / "empty"), samples, spec)
    assert torch.equal(cold.ok, warm.ok) and cold.errors == warm.errors
    monkeypatch.delenv("OBJREC_MAX_PIXELS")
    assert feature_table(frozen(tmp_path), samples, spec).ok.all()


@pytest.mark.slow
def test_a_row_kept_before_the_store_kept_its_pixels_has_its_file_header_read_once(
    tmp_path, image_folder, monkeypatch, caplog
):
    """An index made by an objrec that kept no pixels has the column added, each image's file
    header read once (for all its views) and its pixels kept: the next table opens no file."""
    import sqlite3

    import objrec.features

    samples, at = with_a_large_image(image_folder)
    body = frozen(tmp_path)
    for view in (0, 1):
        feature_table(body, samples, ViewSpec(DATA, "article", view))
    body.cache.close()
    with sqlite3.connect(tmp_path / "cache" / "store" / "index.sqlite") as db:
        db.execute("ALTER TABLE entries DROP COLUMN counted")  # as an older objrec made it
    read, counted_pixels = [], objrec.features.counted_pixels
    monkeypatch.setattr(
        objrec.features, "counted_pixels", lambda p: read.append(p) or counted_pixels(p)
    )
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "10000")
    caplog.set_level("INFO", "objrec.features")
    tables = [
        feature_table(frozen(tmp_path), samples, ViewSpec(DATA, "article", v)) for v in (0, 1)
    ]
    assert sorted(read) == sorted(s.path for s in samples)  # once each, for both views
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("reading the")]
    assert said == [f"reading the size of {len(samples)} images stored before objrec kept it, once"]
    assert all(t.computed == 0 and t.ok.sum() == len(samples) - 1 and not t.ok[at] for t in tables)
    read.clear()
    assert not feature_table(frozen(tmp_path), samples, ViewSpec(DATA)).ok[at] and not read


@pytest.mark.slow
def test_a_count_read_of_a_file_changed_since_it_was_hashed_is_not_kept(
    tmp_path, image_folder, monkeypatch
):
    """A row kept before the store kept its count had the header of whatever file was at its
    path read and kept under its digest: a photo replaced since it was hashed was counted at
    the other's size, and refused as too large for good (review52a M1). A count is kept only
    of a file the index still knows unchanged; a changed one is counted as unread this run."""
    import sqlite3

    import objrec.features

    samples, at = with_a_large_image(image_folder)
    feature_table(body := frozen(tmp_path), samples, ViewSpec(DATA))
    body.cache.close()
    with sqlite3.connect(tmp_path / "cache" / "store" / "index.sqlite") as db:
        db.execute("ALTER TABLE entries DROP COLUMN counted")  # as an older objrec made it
    victim, original = samples[0].path, samples[0].path.read_bytes()
    counted_pixels = objrec.features.counted_pixels

    def replaced(path):  # the photo replaced by the large one once it was hashed
        if path == victim:
            victim.write_bytes(samples[at].path.read_bytes())
        return counted_pixels(path)

    monkeypatch.setattr(objrec.features, "counted_pixels", replaced)
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "10000")
    assert feature_table(frozen(tmp_path), samples, ViewSpec(DATA)).ok[0]
    victim.write_bytes(original)
    monkeypatch.setattr(objrec.features, "counted_pixels", counted_pixels)
    again = feature_table(frozen(tmp_path), samples, ViewSpec(DATA))
    assert again.ok[0] and not again.ok[at]


@pytest.mark.slow
def test_a_row_whose_file_header_cannot_be_read_for_its_count_is_not_read_again(
    tmp_path, image_folder, monkeypatch
):
    """A row kept before the store kept each image's count has its file's header read once; one
    whose header could not be read kept no count, and was read again on every run. That it could
    not be read is kept; the row is used, as a file that cannot be read now keeps its rows."""
    import sqlite3

    from objrec import images

    samples, _ = with_a_large_image(image_folder)
    body = frozen(tmp_path)
    feature_table(body, samples, ViewSpec(DATA))
    body.cache.close()
    with sqlite3.connect(tmp_path / "cache" / "store" / "index.sqlite") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
        for name in {"pixels", "counted"} & columns:  # as an older objrec made it
            db.execute(f"ALTER TABLE entries DROP COLUMN {name}")
    unread, tries, open_file = samples[0].path, [], images.open_file

    def failing(source, *args):
        if source == unread:
            tries.append(source)
            raise OSError("Input/output error")
        return open_file(source, *args)

    monkeypatch.setattr(images, "open_file", failing)
    for _ in range(2):
        table = feature_table(frozen(tmp_path), samples, ViewSpec(DATA))
        assert table.computed == 0 and table.ok.all()
    assert tries == [unread]


@pytest.mark.slow
def test_a_row_whose_header_could_not_be_read_is_counted_under_other_decoders_or_limit(
    tmp_path, image_folder, monkeypatch
):
    """A row whose file's header could not be read for its count (a HEIC photo while pillow-heif
    was missing) was never counted again, so a lowered ``OBJREC_MAX_PIXELS`` never refused it
    in a warm run, as a cold run does: that it could not be read holds for the decoders and the
    limit it was tried under (``store.decode_tag``), and is tried again, once, under others."""
    import sqlite3

    from objrec import images

    samples, at = with_a_large_image(image_folder)
    body = frozen(tmp_path)
    feature_table(body, samples, ViewSpec(DATA))
    body.cache.close()
    with sqlite3.connect(tmp_path / "cache" / "store" / "index.sqlite") as db:
        db.execute("UPDATE entries SET counted=NULL")  # as an objrec that kept no counts left it
    tries, open_file = [], images.open_file

    def failing(source, *args):
        if source == samples[at].path:
            tries.append(source)
            raise OSError("cannot identify image file")
        return open_file(source, *args)

    with monkeypatch.context() as patched:
        patched.setattr(images, "open_file", failing)
        assert feature_table(frozen(tmp_path), samples, ViewSpec(DATA)).ok.all() and tries
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "10000")
    warm = feature_table(frozen(tmp_path), samples, ViewSpec(DATA))
    assert warm.computed == 0 and not warm.ok[at] and warm.ok.sum() == len(samples) - 1


@pytest.mark.slow
def test_a_file_that_cannot_be_decoded_is_not_counted_as_computed(tmp_path, samples):
    """A truncated JPEG was said to be "pushed through the frozen body", then "skipped"."""
    samples[0].path.write_bytes(b"\xff\xd8\xff\xe0 cut short")
    table = feature_table(frozen(tmp_path), samples, ViewSpec(DATA))
    assert not table.ok[0] and (table.computed, table.failed) == (len(samples) - 1, 1)


def test_the_log_line_of_a_table_says_a_copy_was_computed_once_with_its_image(
    tmp_path, samples, caplog
):
    """ "train features: 363 images, 362 computed" left the 363rd unexplained: it was a
    byte-identical copy of another, computed once with it (newcomer55's 13). The log says so."""
    copy = samples[0].path.with_name("copy_" + samples[0].path.name)
    shutil.copyfile(samples[0].path, copy)
    listed = [*samples, Sample(copy, samples[0].label)]
    with caplog.at_level("INFO", "objrec.features"):
        feature_table(frozen(tmp_path), listed, ViewSpec(DATA))
    said = [r.getMessage() for r in caplog.records if " computed" in r.getMessage()]
    n = len(samples)
    assert (
        len(said) == 1
        and f": {n + 1} images, {n} computed, 1 a copy of another image (the " in (said[0])
    )


@pytest.mark.slow
def test_a_copy_of_a_photo_on_a_cold_store_is_a_copy_not_from_the_store(tmp_path, samples):
    """A cold run with one photo copied said "31 images, 30 run through the pretrained network,
    1 from the feature store" of a store that held nothing."""
    from objrec.distributed import SINGLE
    from objrec.train_features import frozen_pass_counts, table_counts

    copy = samples[0].path.with_name("copy_" + samples[0].path.name)
    shutil.copyfile(samples[0].path, copy)
    listed, body = [*samples, Sample(copy, samples[0].label)], frozen(tmp_path)
    cold = feature_table(body, listed, ViewSpec(DATA))
    assert (cold.computed, cold.copies) == (len(samples), 1)
    said = f"{len(listed)} images, {len(samples)} run through the pretrained network, 0 from the"
    assert table_counts(cold, SINGLE) == said + " feature store, 1 a copy of another image"
    counts = frozen_pass_counts([cold], SINGLE)
    assert (counts.computed, counts.from_store, counts.copies) == (len(samples), 0, 1)
    warm = feature_table(body, listed, ViewSpec(DATA))  # both rows are read from the store now
    assert (warm.computed, warm.copies) == (0, 0)
    assert table_counts(warm, SINGLE).endswith(f", {len(listed)} from the feature store")


@pytest.mark.slow
def test_float16_storage_is_within_float16_precision(tmp_path, samples):
    spec = ViewSpec(DATA)
    half = feature_table(frozen(tmp_path, dtype="float16"), samples, spec).load().features
    full = fresh(samples, spec).features
    assert half.dtype == torch.float32
    assert torch.allclose(half, full, rtol=1e-3, atol=1e-3) and not torch.equal(half, full)


@pytest.mark.slow
def test_batches_from_the_store_equal_batches_from_memory(tmp_path, samples):
    body = frozen(tmp_path)
    tables = [feature_table(body, samples, ViewSpec(DATA, "article", v)) for v in (0, 1)]
    stack = ViewStack(tables)
    in_memory = torch.stack([t.load().features for t in tables])
    streamed = list(feature_batches(stack, stack.labels, 5, seed=3))
    expected = list(feature_batches(in_memory, stack.labels, 5, seed=3))
    assert len(streamed) == len(expected) == -(-len(samples) // 5)
    for (x, y), (x2, y2) in zip(streamed, expected, strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)


@pytest.mark.parametrize("shape", [(3, 7, 5), (2, 6, 3, 2, 2)])
def test_views_in_memory_gather_each_row_in_its_view(shape):
    stack = torch.randn(shape).half()
    views, idx = torch.tensor([2, 0, 1, 1]) % shape[0], torch.tensor([4, 0, 4, 5])
    expected = torch.stack([stack[v, i] for v, i in zip(views, idx, strict=True)])
    assert torch.equal(TensorViews(stack).gather(views, idx), expected)
    strided = stack.transpose(0, 1).contiguous().transpose(0, 1)  # the same values, not contiguous
    assert torch.equal(TensorViews(strided).gather(views, idx), expected)
    assert TensorViews(stack).gather(views[:0], idx[:0]).shape == (0, *shape[2:])


@pytest.mark.slow
def test_a_held_stack_gives_the_stored_batches_and_only_within_its_budget(tmp_path, samples):
    body = frozen(tmp_path, dtype="float16")
    tables = [feature_table(body, samples, ViewSpec(DATA, "article", v)) for v in (0, 1)]
    samples[0].path.write_bytes(b"not an image")  # a third view without it: the stack drops it
    tables.append(feature_table(body, samples, ViewSpec(DATA, "article", 2)))
    streamed, held = ViewStack(tables), ViewStack(tables).hold()
    assert (
        held.in_memory is not None
        and held.in_memory.dtype == torch.float16
        and len(held) < len(samples)
    )
    assert held.in_memory.shape == (3, len(held), tables[0].dim)
    assert ViewStack(tables).hold(budget=held.nbytes - 1).in_memory is None
    assert ViewStack(tables).hold(budget=2 * held.nbytes, share=2).in_memory is not None
    assert ViewStack(tables).hold(budget=2 * held.nbytes - 2, share=2).in_memory is None
    for (x, y), (x2, y2) in zip(
        feature_batches(streamed, streamed.labels, 4, seed=5),
        feature_batches(held, held.labels, 4, seed=5),
        strict=True,
    ):
        assert x2.dtype == torch.float32 and torch.equal(x, x2) and torch.equal(y, y2)
    pairs = zip(streamed.batches(3), held.batches(3), strict=True)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in pairs)


def test_a_held_stacks_validation_batches_are_its_rows_not_copies():
    """Each validation pass of a head gathered its held rows into new tensors (12 MB an epoch for
    the 100-class protocol); in the dtype they are held in (bfloat16 for a bf16 head), they are
    the held rows themselves, the same numbers as gathered."""
    from types import SimpleNamespace

    n = 7
    table = SimpleNamespace(ok=torch.ones(n, dtype=torch.bool), labels=torch.arange(n) % 3)
    stack = ViewStack([table, table])
    stack.in_memory = torch.randn(2, n, 5).half()
    rounded = stack.rounded(torch.bfloat16)
    for held in (stack, rounded):
        batches = list(held.batches(3))
        assert [len(y) for _, y in batches] == [3, 3, 1]
        gathered = held.gather(torch.zeros(n, dtype=torch.long), torch.arange(n))
        assert torch.equal(torch.cat([x for x, _ in batches]), gathered)
        assert torch.equal(torch.cat([y for _, y in batches]), held.labels)
    x = next(rounded.batches(3))[0]
    assert x.dtype == torch.bfloat16 and x.data_ptr() == rounded.in_memory.data_ptr()


def test_batches_kept_in_a_scratch_file_read_back_as_written_at_every_pass(tmp_path):
    """``SpilledBatches`` (calibration's tuned top's outputs): each pass gives the batches as they
    came, the same sizes and bits, passes read side by side too, from a file with no name in the
    folder; closed with its block."""
    from objrec.batches import SpilledBatches

    written = [(torch.randn(n, 5), torch.arange(n) % 3) for n in (4, 4, 2)]
    with SpilledBatches(iter(written), tmp_path) as spilled:
        assert not list(tmp_path.iterdir())
        for _ in range(2):
            for (x, y), (x2, y2) in zip(written, spilled(), strict=True):
                assert torch.equal(x, x2) and torch.equal(y, y2)
        side_by_side = zip(spilled(), spilled(), strict=True)
        assert all(torch.equal(a[0], b[0]) for a, b in side_by_side)
    assert spilled.file.closed


def test_a_full_disk_while_keeping_calibration_s_batches_is_said_as_the_cache_folder_s(
    tmp_path, monkeypatch
):
    """A full disk met writing the tuned top's outputs into the cache folder is the one sentence
    of a full cache disk (the folder, what could not be written, the ways out), the file closed."""
    import errno
    import io
    import tempfile

    from objrec.batches import SpilledBatches
    from objrec.cache_folder import FullCacheDisk

    class FullDisk(io.BytesIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    made = [FullDisk()]
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **_: made[0])
    with pytest.raises(FullCacheDisk) as full:
        SpilledBatches(iter([(torch.ones(2, 3), torch.zeros(2))]), tmp_path)
    assert str(full.value).startswith(
        f"the disk of the cache folder {tmp_path} is full: the tuned network's outputs that "
        "calibrating reads could not be written in it (no space left on device); free some space"
    )
    assert made[0].closed


@pytest.mark.slow
def test_onnx_runner_matches_torch_within_tolerance(tmp_path, samples):
    pytest.importorskip("onnxruntime")
    fast = frozen(tmp_path, backend="auto")
    slow = frozen(tmp_path / "b", backend="torch")
    a = compute_features(fast, samples, ViewSpec(DATA))
    b = compute_features(slow, samples, ViewSpec(DATA))
    assert fast.backend_used == "onnxruntime" and slow.backend_used == "torch"
    assert (a.features - b.features).abs().max() <= 1e-4


@pytest.mark.slow
def test_torchrun_ranks_on_one_machine_share_the_held_budget(tmp_path, samples, monkeypatch):
    from objrec.distributed import World
    from objrec.train_features import stack_views

    tables = [feature_table(frozen(tmp_path), samples, ViewSpec(DATA))]
    monkeypatch.setattr("objrec.batches.HELD_BYTES", ViewStack(tables).nbytes)
    assert stack_views(tables, World()).in_memory is not None
    assert stack_views(tables, World(size=2, local_size=2)).in_memory is None
    assert (
        stack_views(tables, World(size=2, local_size=1)).in_memory is not None
    )  # one rank per machine


@pytest.mark.slow
def test_two_batches_in_the_onnx_body_at_once_give_the_same_features_in_order(tmp_path, samples):
    pytest.importorskip("onnxruntime")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    samples = [*samples[:5], Sample(broken, 0), *samples[5:]]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = frozen(tmp_path / "a", backend="auto")
        a = compute_features(one, samples, ViewSpec(DATA), PassSettings(batch_size=2))
        torch.set_num_threads(2)
        two = frozen(tmp_path / "b", backend="auto")
        b = compute_features(two, samples, ViewSpec(DATA), PassSettings(batch_size=2))
        eager = frozen(tmp_path / "d", backend="torch")  # PyTorch: one thread pool, one batch
        assert eager.callers == 1
    finally:
        torch.set_num_threads(threads)
    assert (one.callers, two.callers) == (1, 2)
    assert torch.equal(a.features, b.features) and torch.equal(a.ok, b.ok)
    assert not b.ok[5] and b.ok.sum() == len(samples) - 1 and b.errors == a.errors
    assert len({row.tobytes() for row in b.features[b.ok].numpy()}) == len(samples) - 1
    idle = frozen(tmp_path / "c", backend="auto")
    assert compute_features(idle, [], ViewSpec(DATA)).features.shape == (0, idle.n_features)
    assert idle._runner is None  # nothing to compute: no session made, no graph exported


@pytest.mark.slow
def test_the_batches_in_the_onnx_body_at_once_use_pytorchs_threads_together(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr("objrec.cores.usable_cores", lambda: 64)  # whatever this machine has
    threads = torch.get_num_threads()
    used = {}
    try:
        for n in (2, 4):
            torch.set_num_threads(n)
            body = frozen(tmp_path / str(n), backend="auto")
            session = body.runner().session.get_session_options().intra_op_num_threads
            used[n] = (body.callers, session)
    finally:
        torch.set_num_threads(threads)
    # one session serves both callers: its pool (session - 1 workers) and the two calling
    # threads make PyTorch's count, not half of it
    assert used == {2: (2, 1), 4: (2, 3)}


def test_view_seeds_depend_on_content_and_view_only():
    assert view_seed("ab" * 16, 1) == view_seed("ab" * 16, 1)
    assert len({view_seed("ab" * 16, 1), view_seed("ab" * 16, 2), view_seed("cd" * 16, 1)}) == 3
    assert np.uint64(view_seed("ab" * 16, 1)) == view_seed("ab" * 16, 1)  # fits torch's seed


@pytest.mark.slow
def test_a_probe_measures_each_image_the_frozen_pass_decodes(tmp_path, samples):
    from objrec.frozen import Probe

    body, spec, kept = frozen(tmp_path), ViewSpec(DATA), {}
    probe = Probe(
        lambda path, data: path.stat().st_size, lambda ds, xs: kept.update(zip(ds, xs, strict=True))
    )
    feature_table(body, samples[:3], spec, probe=probe)
    assert kept == {hash_file(s.path): s.path.stat().st_size for s in samples[:3]}
    kept.clear()
    feature_table(body, samples, spec, probe=probe)  # the first three come from the store
    assert kept == {hash_file(s.path): s.path.stat().st_size for s in samples[3:]}


def test_a_probe_measures_the_bytes_the_frozen_pass_decoded(tmp_path, samples, monkeypatch):
    """The audit's probe measured each image's facts by reading its file again after the frozen
    pass decoded it, and kept them under the digest of the bytes decoded: a file replaced in
    between had another photo's facts filed under its digest (review52a M1). The probe measures
    the bytes that were hashed and decoded."""
    from objrec import image_facts, views
    from objrec.frozen import Probe

    original, other = samples[0].path.read_bytes(), samples[-1].path.read_bytes()
    read = views.read_as_hashed

    def replaced_after_reading(path, digest):  # the file replaced once its bytes are read
        data = read(path, digest)
        if path == samples[0].path:
            path.write_bytes(other)
        return data

    monkeypatch.setattr(views, "read_as_hashed", replaced_after_reading)
    kept: dict = {}
    probe = Probe(image_facts.image_facts, lambda ds, xs: kept.update(zip(ds, xs, strict=True)))
    feature_table(frozen(tmp_path), samples[:1], ViewSpec(DATA), probe=probe)
    samples[0].path.write_bytes(original)
    assert kept == {hash_file(samples[0].path): image_facts.image_facts(samples[0].path)}


@pytest.mark.slow
@pytest.mark.parametrize("augment", ["article", "trivial"])
def test_views_normalised_once_a_batch_are_the_per_image_views_bit_for_bit(
    tmp_path, samples, augment, monkeypatch
):
    """The frozen pass converts and normalises a stacked batch (``BATCH_FINISH``); the store keys
    features by content and view, not by code, so they must be the per-image transforms' bits."""
    import objrec.frozen as frozen_module
    from objrec.loaders import make_loader
    from objrec.transforms import build_batch_finish, draft_size
    from objrec.views import SeededViewDataset

    samples = samples[:10]
    seeds = [view_seed(hash_file(s.path), 1) for s in samples]
    specs = [ViewSpec(DATA), ViewSpec(DATA, tta="reframed_flip"), ViewSpec(DATA, augment, 1)]
    for spec in specs:

        def batches(per_batch: bool, spec=spec) -> torch.Tensor:
            transform = spec.transform(finish=not per_batch)
            dataset = SeededViewDataset(samples, transform, spec.view, draft_size(DATA), seeds)
            finish = build_batch_finish(DATA) if per_batch else None
            return torch.cat([b.images for b in make_loader(dataset, 4, finish=finish)])

        assert torch.equal(batches(True), batches(False))
        got = {}
        for per_batch in (True, False):
            monkeypatch.setattr(frozen_module, "BATCH_FINISH", per_batch)
            body = frozen(tmp_path / str(per_batch))
            settings = PassSettings(batch_size=4)
            got[per_batch] = compute_features(body, samples, spec, settings, seeds=seeds).features
        assert torch.equal(got[True], got[False])


def test_each_batch_of_the_frozen_pass_is_read_by_name(tmp_path, samples):
    """frozen_pass yields a PassedBatch a batch, not a 5-tuple unpacked by position: the images
    decoded, their features, the files that could not be, what ``measure`` found, the pixels."""
    from objrec.frozen import frozen_pass

    (samples := samples[:5])[1].path.write_bytes(b"not an image")
    spec, body = ViewSpec(DATA, "none", 0), frozen(tmp_path)
    settings = PassSettings(batch_size=3)
    first, second = frozen_pass(body, samples, spec, settings, measure=lambda path, data: path.name)
    assert first.indices.tolist() == [0, 2] and second.indices.tolist() == [3, 4]
    assert first.features is not None and first.features.shape == (2, body.n_features)
    assert [i for i, _ in first.failures] == [1] and second.failures == []
    assert list(first.measured) == [samples[0].path.name, samples[2].path.name]
    assert len(first.pixels) == 2


@pytest.mark.slow
def test_worker_processes_started_by_spawn_compute_what_the_thread_computes(tmp_path, samples):
    """macOS and Windows start a loader's worker processes by spawn, which pickles the dataset,
    its transforms and the audit's probe (a lambda there breaks on them, never under Linux's
    fork); no test ran a worker process at all, though a GPU's default is 2 or more
    (portable42). The augmented view, its seeds, an unreadable file and the probe's facts."""
    import multiprocessing

    from objrec.frozen import frozen_pass
    from objrec.image_facts import image_facts

    (samples := samples[:6])[0].path.write_bytes(b"not an image")
    seeds = [view_seed(hash_file(s.path), 1) for s in samples]
    spec, body = ViewSpec(DATA, "article", 1), frozen(tmp_path)

    def run(workers: int) -> list:
        settings = PassSettings(batch_size=4, num_workers=workers)
        return list(frozen_pass(body, samples, spec, settings, seeds=seeds, measure=image_facts))

    before = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method("spawn", force=True)
    try:
        spawned = run(1)
    finally:
        multiprocessing.set_start_method(before, force=True)
    for theirs, mine in zip(spawned, run(0), strict=True):
        assert np.array_equal(theirs.indices, mine.indices)
        assert np.array_equal(theirs.features, mine.features)
        assert theirs.failures == mine.failures and list(theirs.measured) == list(mine.measured)
        assert list(theirs.pixels) == list(mine.pixels)
        assert len(theirs.pixels) == len(theirs.indices)
    assert spawned[0].failures[0][0] == 0  # the unreadable file, said by the worker


@pytest.mark.slow
def test_clear_removes_objrec_s_files_and_leaves_the_user_s(tmp_path, samples):
    """`objrec cache --clear` deleted whatever was in the cache folder: a user's notes.txt and
    keep/thesis.tex went with the features."""
    from objrec.facts_store import cached_facts

    body = frozen(tmp_path)
    cache = body.cache
    assert feature_table(body, samples[:2], ViewSpec(DATA)).computed == 2
    cached_facts([samples[0].path], [hash_file(samples[0].path)], cache.facts_file)
    graphs = [
        cache.onnx_path("ab" * 16, 224),
        cache.onnx_path("ab" * 16, 224).with_name(f"{'ab' * 16}-224-int8-{'cd' * 16}.onnx"),
        cache.model_onnx_path("ef" * 32),
        cache.model_onnx_path("ef" * 32).with_suffix(".json"),
        cache.root / "onnx" / f".{'ab' * 16}-224.onnx.123-0a1b2c3d.part",
        cache.root / "onnx" / f".objrec-{'0a' * 16}.part",  # outputs.staged_file's name since
    ]
    old = [cache.root / ("0123" * 8), cache.root / f".shard-{'0123' * 8}-0-of-2.npz"]
    mine = [cache.root / "notes.txt", cache.root / "keep", cache.root / "onnx" / "mine.onnx"]
    for path in [*graphs, *old, *mine]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    done = cache.clear()
    assert done.removed == 1 + len(graphs) + len(old)  # facts.sqlite, graphs, old entries
    assert done.left == [cache.root / "keep", cache.root / "notes.txt", *mine[2:]]
    listed = sorted(p.name for p in cache.root.iterdir())
    assert listed == ["facts.lock", "keep", "notes.txt", "onnx", "store"]  # the locks stay
    assert all(p.read_bytes() == b"x" for p in mine) and not any(p.exists() for p in graphs)
    assert feature_table(frozen(tmp_path), samples[:2], ViewSpec(DATA)).computed == 2


def test_cache_shows_prunes_and_clears_openvino_s_compiled_graphs(tmp_path):
    """OpenVINO keeps the graphs it compiles in `openvino/` of the cache folder: `objrec cache`
    counts them, `--prune --days N` removes those no process read for N days, and `--clear`
    removes them all, leaving a file of the user's there; so too the graphs objrec saves there to
    compile from (``openvino_runtime.save_static``)."""
    cache = FeatureCache(tmp_path / "cache")
    blobs = [cache.compiled_dir / f"{n}.blob" for n in (14859788317147355389, 42)]
    saved = [cache.compiled_dir / f"{'c1' * 16}-16.{end}" for end in ("xml", "bin")]
    mine = cache.compiled_dir / "notes.txt"
    cache.compiled_dir.mkdir(parents=True)
    for path in [*blobs, mine, *saved]:
        path.write_bytes(b"compiled")
    summary = cache.summary()  # the graphs saved to compile from count in bytes, not as graphs
    assert (summary.compiled_graphs, summary.compiled_bytes) == (2, 32)
    assert summary.to_json()["openvino_graphs"] == 2
    ten_days_ago = time.time() - 10 * 86400
    for path in (blobs[0], saved[0]):
        os.utime(path, (ten_days_ago, ten_days_ago))
    assert cache.prune(None, tmp_path).compiled_removed == 0  # --keep alone keeps them
    half = cache.root / "onnx" / f".objrec-{os.getpid() + 10**9}-{'a' * 32}.part"  # a dead writer
    half.parent.mkdir()
    half.write_bytes(b"half a graph")
    os.utime(half, (ten_days_ago, ten_days_ago))
    pruned = cache.prune(7, None)
    assert pruned.compiled_removed == 2 and cache.compiled_graphs() == blobs[1:]
    assert cache.compiled_graphs(saved=True) == [blobs[1], saved[1]]
    assert pruned.leftovers_removed == 1 and not half.exists()
    done = cache.clear()
    assert not blobs[1].exists() and mine.read_bytes() == b"compiled" and mine in done.left
    assert not any(path.exists() for path in saved)


def test_prune_judges_openvino_s_compiled_graphs_by_the_record_of_their_use(tmp_path):
    """OpenVINO's compiled graphs were pruned by their files' access times, which a file system
    mounted noatime never moves: a graph loaded every day went as unused. Each compile or load
    records its use beside the graph it compiles from (``openvino_runtime.record_compiled``), naming the
    compiled graphs it gave: those are judged by it, and go with it once it is old; a compiled
    graph no record names is judged by its own times, as before; `--clear` removes the records."""
    cache = FeatureCache(tmp_path / "cache")
    folder = cache.compiled_dir
    used, unused = "a1" * 16 + "-16", "b2" * 16 + "-16"
    graphs = {
        name: old_graph(folder / name)
        for name in (
            "11.blob",
            "22.blob",
            "33.blob",
            *(f"{k}.{e}" for k in (used, unused) for e in ("xml", "bin")),
        )
    }
    for key, blob, days in ((used, "11.blob", 0), (unused, "22.blob", 10)):
        record = runtime.use_marker(folder / f"{key}.xml")
        record.write_text(f"{blob}\n")
        os.utime(record, (time.time() - days * 86400,) * 2)
    assert cache.prune(7, None).compiled_removed == 4  # 22.blob, 33.blob and the unused graph
    kept = ["11.blob", f".{used}.xml.used", f"{used}.bin", f"{used}.xml"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(kept)
    assert graphs["11.blob"].read_bytes() == b"graph"
    assert cache.clear().removed >= 1 and not folder.exists()


@pytest.mark.slow
def test_clear_leaves_openvino_s_folder_to_a_compile_holding_it(tmp_path, monkeypatch, caplog):
    """`--clear` removed `openvino/` under a process compiling into it: the next process made a
    new folder and held that one, so two processes could write one graph at once (OpenVINO writes
    it straight to its name) or load it half written. Clear holds the folder as a compile does:
    it waits for the compile, and keeps the folder, saying so, when one holds it too long."""
    monkeypatch.setattr(locks, "COMPILE_WAIT", 0.1)
    cache = FeatureCache(tmp_path / "cache")
    blob = cache.compiled_dir / "42.blob"
    cache.compiled_dir.mkdir(parents=True)
    blob.write_bytes(b"compiled")
    with locks.compiling_into(cache.compiled_dir) as held:
        with caplog.at_level("WARNING", logger="objrec"):
            done = cache.clear()
        assert held and blob.exists() and cache.compiled_dir in done.left
        assert "was compiling a graph into it" in caplog.text
        with locks.compiling_into(cache.compiled_dir, wait=0.1) as other:
            assert not other  # one folder, still held
    assert cache.clear().removed == 1 and not cache.compiled_dir.exists()


@pytest.mark.slow  # two waits of 0.1 s
def test_prune_and_clear_say_they_wait_for_a_compile_holding_openvino_s_folder(
    tmp_path, monkeypatch
):
    """`cache --prune` and `--clear` wait up to a minute for a compile holding `openvino/`, and
    never said so: the CLI's "waiting for other objrec processes" came for `onnx/` alone."""
    monkeypatch.setattr(locks, "COMPILE_WAIT", 0.1)
    cache = FeatureCache(tmp_path / "cache")
    cache.compiled_dir.mkdir(parents=True)
    waited: list[str] = []
    with locks.compiling_into(cache.compiled_dir):
        cache.prune(0, None, wait=lambda: waited.append("prune"))
        cache.clear(wait=lambda: waited.append("clear"))
    assert waited == ["prune", "clear"]  # once each


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc")
def test_ctrl_c_while_waiting_for_a_held_folder_leaks_no_descriptor(tmp_path):
    """``compiling_into`` called ``waiting()`` (and slept) inside its ``except BlockingIOError``:
    a Ctrl-C there escaped its ``except BaseException`` sibling, leaving the folder's descriptor
    open. It is closed before the wait."""
    import fcntl

    folder = tmp_path / "openvino"
    folder.mkdir()
    other = os.open(folder, os.O_RDONLY)  # another process's hold: flock is per open file
    fcntl.flock(other, fcntl.LOCK_EX)

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    before = len(os.listdir("/proc/self/fd"))
    try:
        with pytest.raises(KeyboardInterrupt), locks.compiling_into(folder, waiting=ctrl_c):
            pass
    finally:
        os.close(other)
    assert len(os.listdir("/proc/self/fd")) == before - 1


def removed_once_opened(monkeypatch, folder: Path) -> None:
    """``folder`` removed (by a clear) just after the next process opens it to lock it."""
    opened = os.open

    def open_then_removed(path, flags, *args):
        fd = opened(path, flags, *args)
        if path == folder and not hasattr(open_then_removed, "done"):
            open_then_removed.done = folder.rmdir()  # type: ignore[attr-defined]
        return fd

    monkeypatch.setattr(locks.os, "open", open_then_removed)


@pytest.mark.slow
def test_a_compile_holds_the_folder_it_writes_into_not_one_removed(tmp_path, monkeypatch):
    """A compile that waited on a folder a clear then removed got the lock of the removed folder
    and wrote into the new one, holding none: it now holds the folder there is."""
    folder = tmp_path / "openvino"
    folder.mkdir()
    removed_once_opened(monkeypatch, folder)
    with locks.compiling_into(folder) as held:
        monkeypatch.undo()
        with locks.compiling_into(folder, wait=0.1) as other:
            assert held and not other


@pytest.mark.parametrize(
    "name", ["onnx", "openvino", "0123456789abcdef0123456789abcdef", "elsewhere"]
)
def test_clear_never_follows_a_linked_folder(tmp_path, name):
    """`shutil.rmtree` of an `onnx` folder linked to another disk raised 'Cannot call rmtree on
    a symbolic link' and stopped the clear halfway. The link of objrec's name is removed, any
    other left; the files it points to are never touched."""
    target = tmp_path / "other-disk"
    (target / "keep").mkdir(parents=True)
    (target / f"{'ab' * 16}-224.onnx").write_bytes(b"graph")
    (target / "keep" / "thesis.tex").write_text("mine")
    cache = FeatureCache(tmp_path / "cache")
    cache.root.mkdir()
    (cache.root / name).symlink_to(target, target_is_directory=True)
    (cache.root / "facts.sqlite").write_bytes(b"x")
    done = cache.clear()
    ours = name != "elsewhere"
    assert (cache.root / name).is_symlink() is not ours and not (
        cache.root / "facts.sqlite"
    ).exists()
    assert done.removed == 1 + ours and done.left == ([] if ours else [cache.root / name])
    assert sorted(p.name for p in target.rglob("*")) == [
        f"{'ab' * 16}-224.onnx",
        "keep",
        "thesis.tex",
    ]


@pytest.mark.parametrize("meanwhile", ["writes", "clears"])
def test_clear_beside_another_process_using_the_onnx_folder_is_no_traceback(
    tmp_path, monkeypatch, caplog, meanwhile
):
    """`objrec cache --clear` removed onnx/ with rmdir once its graphs were gone: a graph another
    process wrote there meanwhile (ENOTEMPTY), or a clear beside it that removed the folder first
    (ENOENT), was an OSError's traceback. The other process's file is kept, and said."""
    import logging

    from objrec import cache as cache_module

    cache = FeatureCache(tmp_path / "cache")
    graph = cache.onnx_path("ab" * 16, 224)
    graph.parent.mkdir(parents=True)
    graph.write_bytes(b"graph")
    written = graph.with_name(f".{graph.name}.99-0a1b2c3d.part")
    remove = cache_module.remove_entry

    def and_meanwhile(path):
        remove(path)
        if meanwhile == "writes":
            written.write_bytes(b"being written")
        else:
            path.parent.rmdir()

    monkeypatch.setattr(cache_module, "remove_entry", and_meanwhile)
    with caplog.at_level(logging.WARNING, logger="objrec"):
        done = cache.clear()
    assert done.removed == 1 and done.left == []
    assert not graph.exists() and written.exists() is (meanwhile == "writes")
    assert (written.name in caplog.text) is (meanwhile == "writes")


def replaced_after_hashing(monkeypatch, path, replace):
    """Make ``FeatureStore.readable_digests`` (which ``digests`` calls) call ``replace(path)``
    once it has hashed every file: a file changed (or removed) between its hash and its
    decoding."""
    from objrec.store import FeatureStore

    digests = FeatureStore.readable_digests

    def then_replace(store, paths, *args, **kwargs):
        result = digests(store, paths, *args, **kwargs)
        replace(path)
        return result

    monkeypatch.setattr(FeatureStore, "readable_digests", then_replace)


@pytest.mark.slow
def test_a_file_replaced_after_it_was_hashed_never_files_its_pixels_under_the_old_hash(
    tmp_path, samples, monkeypatch
):
    samples, spec = samples[:3], ViewSpec(DATA)
    old = hash_file(samples[0].path)
    new_bytes = samples[1].path.read_bytes()  # other pixels, of another digest
    replaced_after_hashing(monkeypatch, samples[0].path, lambda p: p.write_bytes(new_bytes))
    table = feature_table(frozen(tmp_path), samples, spec)
    assert not table.ok[0] and "changed while objrec read it" in table.errors[0]
    monkeypatch.undo()
    store = FeatureCache(tmp_path / "cache").store
    sid = table.space.id
    assert not store.lookup(sid, spec.key, [old]).found.any()  # nothing filed under the old hash
    again = feature_table(frozen(tmp_path), samples, spec)  # the file is hashed again
    assert again.ok.all() and again.digests[0] == again.digests[1] != old
    assert torch.equal(again.read([0]), again.read([1]))


@pytest.mark.slow
def test_a_file_that_cannot_be_opened_for_a_moment_is_not_remembered_as_unreadable(
    tmp_path, samples, monkeypatch
):
    samples, spec = samples[:3], ViewSpec(DATA)
    kept = tmp_path / "kept"
    replaced_after_hashing(monkeypatch, samples[0].path, lambda p: p.rename(kept))
    table = feature_table(frozen(tmp_path), samples, spec)
    assert not table.ok[0] and "No such file" in table.errors[0] and table.ok[1:].all()
    monkeypatch.undo()
    kept.rename(samples[0].path)
    again = feature_table(frozen(tmp_path), samples, spec)
    assert again.ok.all() and again.computed == 1


@pytest.mark.slow
def test_a_file_removed_before_it_is_hashed_is_skipped_as_one_removed_before_decoding(
    tmp_path, samples
):
    """Removed between its listing and its hashing, a file stopped the whole command ("no such
    file or directory"), though removed a moment later it was skipped and reported."""
    samples, spec = samples[:3], ViewSpec(DATA)
    kept = tmp_path / "kept"
    samples[0].path.rename(kept)  # listed, then removed
    table = feature_table(frozen(tmp_path), samples, spec)
    said = f"{samples[0].path}: cannot read the file (No such file or directory)"
    assert not table.ok[0] and table.errors == [said] and table.ok[1:].all()
    assert (table.computed, table.digests[0]) == (2, "")
    kept.rename(samples[0].path)  # back: hashed and computed, nothing remembered of its absence
    again = feature_table(frozen(tmp_path), samples, spec)
    assert again.ok.all() and again.computed == 1


def test_one_user_closing_the_shared_store_breaks_no_other_user_s_table(tmp_path):
    """``FeatureCache.close`` closed the process's one store for everyone: a library caller's
    table then failed with "Cannot operate on a closed database"."""
    import fcntl

    mine = FeatureCache(tmp_path / "cache")
    space = mine.store.space("s", 4)
    space.write("centre", ["0" * 32], np.ones((1, 4), np.float32))
    found = mine.store.lookup("s", "centre", ["0" * 32])
    FeatureCache(tmp_path / "cache").close()  # another user, done with it
    with open(tmp_path / "cache" / "store" / "lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # let go: prune could go on meanwhile
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert space.read(found.rows, found.generation).tolist() == [[1.0] * 4]
    assert mine.store.lookup("s", "centre", ["0" * 32]).found.all()
    assert FeatureCache(tmp_path / "cache").store is mine.store  # still the process's one store
    mine.close()


def test_an_unreadable_file_is_logged_once(caplog):
    """A skipped unreadable file was logged twice: at info on its own, then in the warning that
    names the first ten. Each is said once: those beyond the warning's ten at info."""
    import logging
    from types import SimpleNamespace

    from objrec.features import report_unreadable

    errors = [f"/data/red/{i:02d}.jpg: truncated" for i in range(12)]
    tables = [SimpleNamespace(errors=errors[:1]), SimpleNamespace(errors=errors)]  # two views
    with caplog.at_level(logging.INFO, logger="objrec.features"):
        assert report_unreadable(tables) == errors  # type: ignore[arg-type]
    for message in errors:
        assert sum(message in m for m in caplog.messages) == 1, message
    assert [r.levelname for r in caplog.records] == ["INFO", "INFO", "WARNING"]


@pytest.mark.slow
def test_an_augmented_view_s_key_covers_the_augmentation_s_definition(monkeypatch):
    """The key was ``aug:<name>:<k>``: changed augmentation parameters, or another torchvision,
    kept serving the augmented rows of the old definition."""
    import torchvision
    from torchvision.transforms import v2

    from objrec import views

    key = ViewSpec(DATA, "article", 1).key
    assert key.startswith("aug:article@") and key.endswith(":1")
    assert ViewSpec(DATA, "trivial", 1).key != key.replace("article", "trivial")
    changes = [
        (torchvision, "__version__", "0.0.1"),
        (v2, "ColorJitter", lambda jitter=v2.ColorJitter, **kw: jitter(**dict.fromkeys(kw, 0.4))),
    ]
    for module, name, value in changes:
        views.augment_fingerprint.cache_clear()
        monkeypatch.setattr(module, name, value)
        assert ViewSpec(DATA, "article", 1).key != key, name
        monkeypatch.undo()
    views.augment_fingerprint.cache_clear()
    assert ViewSpec(DATA, "article", 1).key == key


WARM_CHILD = """
import sys
from pathlib import Path
from objrec.backbones import get_backbone
from objrec.bodies import TinyBody
from objrec.data import scan_class_folder
from objrec.cache import FeatureCache
from objrec.features import FrozenBody, feature_table
from objrec.views import ViewSpec

cache, folder = sys.argv[1:3]
data = get_backbone("tiny_test").data_config
body = FrozenBody(TinyBody(), data.input_size, FeatureCache(Path(cache)), "torch")
table = feature_table(body, scan_class_folder(Path(folder)).samples, ViewSpec(data, "article", 1))
print(table.computed, "torchvision" in sys.modules, table.load().features.sum().item())
"""


@pytest.mark.slow  # a new process, forked from one that imported torch
def test_a_warm_augmented_table_does_not_import_torchvision(
    tmp_path, samples, image_folder, preloaded_python
):
    """Naming the augmented view in the store (``augment_fingerprint``) imported torchvision, 1.0
    s of a 15 s retrain on the 100-class protocol that read every feature from the store."""
    from objrec.view_keys import definition_key

    body = frozen(tmp_path)
    table = feature_table(body, samples, ViewSpec(DATA, "article", 1))
    assert table.computed == len(samples)
    # This process named the view in the store, unless a file the name is made from changed since
    # it started (code edited during the run): then a first child names it, and the second is run.
    key = definition_key(DATA, "article")
    warm = key is not None and body.cache.store.recall(key) is not None
    runs = [preloaded_python.run(WARM_CHILD, tmp_path / "cache", image_folder, check=True)]
    if not warm:
        runs.append(preloaded_python.run(WARM_CHILD, tmp_path / "cache", image_folder, check=True))
    computed, imported, total = runs[-1].stdout.split()
    assert (computed, imported) == ("0", "False"), runs[-1].stderr
    assert float(total) == pytest.approx(table.load().features.sum().item(), rel=1e-6)


def fake_packages(monkeypatch, tmp_path):
    """``definition_key`` reading a small made-up torchvision in ``tmp_path`` (and objrec's own
    files), this process started a minute ago: returns the made-up package's folder."""
    from objrec import view_keys

    package = tmp_path / "torchvision"
    (package / "transforms").mkdir(parents=True)
    (package / "transforms" / "v2.py").write_text("# ColorJitter\n")
    real = view_keys.package_stats

    def stats(name):
        return real(name) if name == "objrec" else [(str(p), p.stat()) for p in package.rglob("*")]

    monkeypatch.setattr(view_keys, "package_stats", stats)
    monkeypatch.setattr(view_keys, "process_start", lambda: time.time() + 60)
    return package


@pytest.mark.slow
def test_the_remembered_definition_s_key_follows_every_file_it_is_made_from(monkeypatch, tmp_path):
    """The memo of an augmentation's definition must never be read for another definition: any
    torchvision file rewritten (same size), added or renamed, another data config or augmentation,
    names another key; a file changed since this process started gives no key (what this process
    loaded may differ from it)."""
    import dataclasses

    from objrec import view_keys

    package = fake_packages(monkeypatch, tmp_path)
    key = view_keys.definition_key(DATA, "article")
    assert key is not None and key == view_keys.definition_key(DATA, "article")
    assert view_keys.definition_key(DATA, "trivial") != key
    wider = dataclasses.replace(DATA, input_size=DATA.input_size + 1)
    assert view_keys.definition_key(wider, "article") != key
    keys = {key}
    source = package / "transforms" / "v2.py"
    changes = [
        lambda: source.write_text("# Colorjitter\n"),  # the same size
        lambda: (package / "transforms" / "extra.py").write_text(""),
        lambda: (package / "transforms" / "extra.py").rename(package / "transforms" / "other.py"),
    ]
    for change in changes:
        time.sleep(0.05)  # a file's times move by the kernel's coarse clock, a tick of 1-10 ms
        change()
        keys.add(view_keys.definition_key(DATA, "article"))
    assert len(keys) == 1 + len(changes) and None not in keys
    monkeypatch.setattr(view_keys, "process_start", lambda: time.time() - 60)
    assert view_keys.definition_key(DATA, "article") is None


@pytest.mark.slow
def test_a_remembered_definition_is_read_back_and_never_kept_when_a_file_changed_meanwhile(
    monkeypatch, tmp_path
):
    from objrec import view_keys

    package = fake_packages(monkeypatch, tmp_path)
    store = FeatureCache(tmp_path / "cache").store
    calls = []

    def fingerprint(data, augment):
        calls.append(augment)
        if augment == "trivial":  # torchvision replaced while it was imported
            time.sleep(0.05)
            (package / "transforms" / "v2.py").write_text("# replaced\n")
        return f"made-{len(calls)}"

    monkeypatch.setattr(view_keys, "augment_fingerprint", fingerprint)
    assert view_keys.remembered_fingerprint(DATA, "article", store) == "made-1"
    assert view_keys.remembered_fingerprint(DATA, "article", store) == "made-1"
    assert calls == ["article"]  # read back
    assert view_keys.remembered_fingerprint(DATA, "trivial", store) == "made-2"
    assert view_keys.remembered_fingerprint(DATA, "trivial", store) == "made-3"  # never kept


@pytest.mark.slow
def test_augmented_rows_are_never_computed_under_a_definition_this_process_does_not_make(
    monkeypatch, tmp_path, samples
):
    """A memo read before torchvision was replaced on disk (and imported) names the definition
    that was installed; computing rows under it with the one imported now is refused."""
    from objrec import view_keys
    from objrec.errors import ObjrecError

    monkeypatch.setattr(view_keys, "remembered_fingerprint", lambda *_: "000000000000")
    with pytest.raises(ObjrecError, match="changed on disk while this command ran"):
        feature_table(frozen(tmp_path), samples, ViewSpec(DATA, "article", 1))


class HeldTable:
    """What ``ViewStack`` reads of a ``FeatureTable`` once its rows are held: which images are
    readable, and their labels."""

    def __init__(self, n: int):
        self.ok, self.labels = torch.ones(n, dtype=torch.bool), torch.arange(n) % 3


@pytest.mark.slow  # imports objrec.train
def test_a_bf16_head_learns_the_same_from_rows_rounded_once_bit_for_bit():
    """A head trained in bf16 on the CPU reads the held float16 rows rounded to bfloat16 once
    (``ViewStack.rounded``, ``batches.as_trained``) instead of converting every batch to float32,
    which autocast then rounded to bfloat16: the same batches once rounded, and the same head, its
    validation loss and its weights bit for bit after two epochs with dropout."""
    from objrec.batches import as_trained
    from objrec.config import TrainConfig
    from objrec.distributed import SINGLE
    from objrec.engine import evaluate_loss, train_one_epoch
    from objrec.model import LowPrecisionTraining, build_head
    from objrec.optimizers import HeadAdam

    stack = ViewStack([HeldTable(40), HeldTable(40)])
    assert stack.rounded(torch.bfloat16) is stack  # not held: read as it is
    stack.in_memory = (torch.randn(2, 40, 24) * 3).half()
    rounded = as_trained(stack, TrainConfig(head_precision="bf16"), SINGLE)
    assert as_trained(stack, TrainConfig(head_precision="fp32"), SINGLE) is stack
    assert rounded.in_memory.dtype == torch.bfloat16 and stack.in_memory.dtype == torch.float16
    for (x, y), (x2, y2) in zip(
        feature_batches(stack, stack.labels, 16, seed=1),
        feature_batches(rounded, rounded.labels, 16, seed=1),
        strict=True,
    ):
        assert x.dtype == torch.float32 and torch.equal(x.to(torch.bfloat16), x2)
        assert torch.equal(y, y2)
    # hidden=0: dropout comes before the first matrix product, and on bfloat16 rows it scales
    # them in bfloat16 (1 / 0.7 is 1.4297 there): another head, so the rows are left as they are
    for hidden, members in ((16, 3), (0, 3), (0, 1)):
        config = TrainConfig(head_precision="bf16", hidden=hidden, dropout=0.3, heads=members)
        heads, losses = [], []
        for source in (stack, as_trained(stack, config, SINGLE)):
            torch.manual_seed(0)
            head = build_head(24, 3, hidden, 0.3, members)
            model, optimizer = LowPrecisionTraining(head), HeadAdam(head.parameters(), fused=True)
            for epoch in range(2):
                train_one_epoch(model, feature_batches(source, source.labels, 16, epoch), optimizer)
            heads.append(head.state_dict())
            losses.append(evaluate_loss(model, source.batches(16)))
        assert losses[0] == losses[1], hidden
        assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0]), hidden


def test_cache_summary_counts_an_onnx_graph_removed_while_it_is_read(tmp_path, monkeypatch):
    """`objrec cache` listed onnx/*.onnx, then asked each file's size: a graph removed in
    between (another process's ONNX Runtime found it unusable and removed it, or `cache
    --clear`) failed with a traceback (FileNotFoundError), the race deeac33 closed for compiled
    graphs. A file gone since it was listed counts as nothing, as there."""
    from pathlib import Path

    cache = FeatureCache(tmp_path / "cache")
    (tmp_path / "cache" / "onnx").mkdir(parents=True)
    (tmp_path / "cache" / "onnx" / "kept.onnx").write_bytes(b"graph")
    gone = tmp_path / "cache" / "onnx" / "gone.onnx"
    gone.write_bytes(b"removed after it was listed")
    stat = Path.stat

    def removed(self, *args, **kwargs):
        if self == gone:
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", removed)
    assert cache.summary().onnx_bytes == 5


def test_cache_summary_counts_a_graph_renamed_while_it_is_read(tmp_path, monkeypatch):
    """A process saving a graph to compile from writes it under a temporary name
    (``.<key>-16.<pid>.xml``), renamed within a second: `objrec cache` beside a first train
    listed the temporary name, then failed on it with a traceback (FileNotFoundError) when it
    asked its size. A file gone since it was listed counts as nothing."""
    cache = FeatureCache(tmp_path / "cache")
    cache.compiled_dir.mkdir(parents=True)
    kept = cache.compiled_dir / f"{'c1' * 16}-16.xml"
    kept.write_bytes(b"compiled")
    renamed = cache.compiled_dir / f".{'c1' * 16}-16.{os.getpid()}.bin"  # listed, then renamed
    listed = FeatureCache.compiled_graphs
    monkeypatch.setattr(
        FeatureCache,
        "compiled_graphs",
        lambda self, saved=False: [*listed(self, saved), *([renamed] if saved else [])],
    )
    assert cache.summary().compiled_bytes == 8


def old_graph(path: Path, days: float = 10) -> Path:
    """``path`` written as a graph ``days`` ago, neither read nor used since."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"graph")
    then = time.time() - days * 86400
    os.utime(path, (then, then))
    return path


@pytest.mark.slow  # opens the store
def test_prune_removes_exported_graphs_not_used_for_days(tmp_path):
    """The graphs of `onnx/` (a body's, an int8 body's, a whole model's for `predict --runtime
    onnx`) stayed until `--clear`: the cache grew with every run. `--prune --days N` removes those
    not used for N days with the records of their use; one used since (``runtime.using_graph``:
    on a file system mounted noatime the graph's own times say only when it was written) stays,
    and so does a file of the user's; `objrec cache` counts each kind."""
    cache = FeatureCache(tmp_path / "cache")
    onnx = cache.root / "onnx"
    body = old_graph(cache.onnx_path("b" * 64, 224))
    int8 = old_graph(onnx / f"{'c' * 32}-224-int8-{'d' * 32}.onnx")
    model = old_graph(cache.model_onnx_path("e" * 64))
    used = old_graph(cache.onnx_path("f" * 64, 240))
    mine = old_graph(onnx / "notes.onnx.txt")
    used_model = old_graph(cache.model_onnx_path("9" * 64))
    sidecar = old_graph(used_model.with_suffix(".json"))  # goes with its graph
    for graph in (used, used_model):
        with runtime.using_graph(graph):
            pass
    kinds = cache.summary().graphs
    assert (kinds["body"].graphs, kinds["int8_body"].graphs, kinds["model"].graphs) == (2, 1, 2)
    assert kinds["body"].bytes == 10 and cache.summary().to_json()["graphs"]["model"]["bytes"] == 10
    assert cache.prune(None, tmp_path).graphs_removed == 0  # --keep alone keeps them
    assert cache.prune(7, None).graphs_removed == 3
    assert not any(p.exists() for p in (body, int8, model))
    kept = [used, used_model, sidecar, mine]
    kept += [runtime.use_marker(used), runtime.use_marker(used_model)]
    assert sorted(onnx.iterdir()) == sorted(kept)
    assert cache.clear().left == [mine]  # the record of use is objrec's: cleared with the graph


@pytest.mark.slow  # opens the store (and the second waits half a second)
def test_prune_waits_for_a_process_opening_a_graph(tmp_path):
    """A process finding an old graph (``runtime.using_graph``) opens it whole: a prune beside
    it waits for it, then keeps the graph it has just used, rather than removing it between the
    process seeing it there and opening it."""
    import threading

    cache = FeatureCache(tmp_path / "cache")
    graph = old_graph(cache.onnx_path("a" * 64, 224))
    pruned: list[int] = []
    with runtime.using_graph(graph):
        pruning = threading.Thread(
            target=lambda: pruned.append(cache.prune(7, None).graphs_removed)
        )
        pruning.start()
        pruning.join(0.5)  # it waits for the lock: nothing is removed meanwhile
        assert graph.read_bytes() == b"graph" and not pruned
    pruning.join()
    assert pruned == [0] and graph.exists()


def test_clear_waits_for_a_process_using_a_graph_of_onnx(tmp_path):
    """`--clear` took no lock on `onnx/` (prune does): a clear during an int8 body's calibration
    (20 to 40 s holding its graph, ``runtime.using_graph``) or a graph's export pulled the files
    from under it. It holds the folder as prune does: it waits for the user (``wait()`` said so),
    then clears."""
    import fcntl

    cache = FeatureCache(tmp_path / "cache")
    graph = old_graph(cache.onnx_path("a" * 64, 224))
    user = os.open(graph.parent, os.O_RDONLY)  # a calibration holding the folder, as using_graph
    fcntl.flock(user, fcntl.LOCK_SH)
    seen: list[bytes] = []

    def wait():  # the user finishes, its graph whole all along
        seen.append(graph.read_bytes())
        os.close(user)

    try:
        done = cache.clear(wait)
    finally:
        if not seen:
            os.close(user)
    assert seen == [b"graph"] and done.removed == 1 and not graph.parent.exists()


def test_a_graph_s_user_that_waited_for_a_clear_holds_the_folder_made_again(tmp_path, monkeypatch):
    """A process that waited on `onnx/` while a clear removed it got the lock of the removed
    folder and wrote its graph into none (or into one made again, holding nothing, which the next
    clear or prune could empty under it): it holds the folder there is, made again."""
    from objrec.locks import held_elsewhere

    folder = tmp_path / "onnx"
    folder.mkdir()
    removed_once_opened(monkeypatch, folder)
    with runtime.using_graph(folder / "body.onnx"):
        monkeypatch.undo()
        assert folder.is_dir() and held_elsewhere(folder) is True


@pytest.mark.slow
def test_the_frozen_pass_loads_its_body_as_a_step_of_its_own_before_counting_images(
    tmp_path, samples
):
    """The first pass makes the body's runner (an ONNX export and a session in a new cache
    folder): the demo's "train features" sat 45 s at "0/60" while it was made, its images
    counted only after. It is now a task of its own, named, that counts nothing; the next pass
    of the same body, its runner made, has none."""
    from .conftest import TaskRecorder

    body, reporter = frozen(tmp_path), TaskRecorder()
    settings = PassSettings(batch_size=4, reporter=reporter)
    compute_features(body, samples[:6], ViewSpec(DATA, "article", 0), settings)
    assert reporter.tasks == ["loading the pretrained network", "features"]
    assert reporter.totals["loading the pretrained network"] is None
    assert reporter.steps == {"loading the pretrained network": [], "features": [4, 2]}
    compute_features(body, samples[:6], ViewSpec(DATA, "article", 0), settings)
    assert reporter.tasks == ["loading the pretrained network", "features", "features"]


def test_a_pass_of_one_batch_is_a_step_named_with_its_images_not_a_count_that_jumps(
    tmp_path, samples
):
    """A retrain of a few added photos showed "train features 0/5" while its one batch ran, then
    5/5: a count that moves from none to all at once says nothing. A pass of one batch is a step
    named with its images; a longer one still counts them a batch at a time."""
    from .conftest import TaskRecorder

    body, reporter = frozen(tmp_path), TaskRecorder()
    settings = PassSettings(batch_size=4, reporter=reporter)
    compute_features(body, samples[:3], ViewSpec(DATA, "article", 0), settings)
    one_batch = "features: 3 images, one batch"
    assert reporter.tasks == ["loading the pretrained network", one_batch]
    assert reporter.totals[one_batch] is None and reporter.steps[one_batch] == []
    compute_features(body, samples[:5], ViewSpec(DATA, "article", 0), settings)
    assert reporter.tasks[-1] == "features" and reporter.steps["features"] == [4, 1]


def test_the_body_is_ready_before_a_table_checks_the_views_it_computes(
    tmp_path, samples, monkeypatch
):
    """The check that the augmentation and the decoders are those of the store's key imports
    torchvision (1 to 2 s with the ``torch._dynamo`` it imports), which a retrain of a few new
    images paid before its "loading" step, with nothing on screen. The body is now made ready
    first, as that step, torchvision imported beside it; a table with nothing to compute makes
    nothing ready."""
    import objrec.features

    body, ready = frozen(tmp_path), []
    checked = objrec.features.require_same_definition

    def check(spec, key, decoders, computing):
        ready.append((computing, body.ready))
        checked(spec, key, decoders, computing)

    monkeypatch.setattr(objrec.features, "require_same_definition", check)
    feature_table(body, samples[:3], ViewSpec(DATA, "article", 0))
    assert ready == [(True, True)]
    body = frozen(tmp_path)  # the same store, which holds them now
    feature_table(body, samples[:3], ViewSpec(DATA, "article", 0))
    assert ready[-1] == (False, False)


@pytest.mark.slow  # a new process, forked from one that imported torch
def test_torchvision_is_imported_in_a_thread_while_the_body_gets_ready(preloaded_python):
    """``importing_torchvision`` imports it in a thread of its own while its block runs (the
    body's session, in C++), done when the block ends."""
    code = (
        "import sys, threading\n"
        "from objrec.frozen import importing_torchvision\n"
        "assert 'torchvision' not in sys.modules\n"
        "with importing_torchvision():\n"
        "    names = [t.name for t in threading.enumerate()]\n"
        "print('objrec-import' in names, 'torchvision.transforms' in sys.modules)\n"
    )
    out = preloaded_python.run(code, check=True)
    assert out.stdout.split() == ["True", "True"]


@pytest.mark.slow
def test_check_split_and_train_refuse_the_same_jpegs_over_a_lower_pixel_limit(
    tmp_path, image_folder, monkeypatch
):
    """check and split decode a JPEG at 64 pixels a side and counted its pixels at that scale,
    train at its backbone's (274 for the default): under a lower ``OBJREC_MAX_PIXELS`` check
    passed a 600x400 JPEG (150x100 at 1/4) that train refused (600x400, unreduced), and train's
    warning said check lists it. A JPEG counts at one scale for
    every command (``images.LIMIT_SIDE``): the same files refused, in the same words."""
    from objrec.check import check_folder
    from objrec.config import DEFAULT_BACKBONE
    from objrec.split.recipe import split_folder

    from .conftest import make_image, make_large_image

    make_image((200, 40, 40), size=(600, 400)).save(image_folder / "red" / "wide.jpg")
    make_large_image((40, 40, 200), (2400, 1800)).save(image_folder / "blue" / "phone.jpg")
    monkeypatch.setenv("OBJREC_MAX_PIXELS", "100000")
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "cache"))
    checked = {p.path: p.message for p in check_folder(image_folder).problems}
    split = split_folder(image_folder, tmp_path / "data", near_duplicates=False)
    data = get_backbone(DEFAULT_BACKBONE).data_config  # 274 pixels a side: 600x400 unreduced
    body = FrozenBody(TinyBody(), data.input_size, FeatureCache(tmp_path / "store"), "torch")
    samples = scan_class_folder(image_folder).samples
    trained = feature_table(body, samples, ViewSpec(data))
    refused = dict(e.split(": ", 1) for e in trained.errors)
    wide, phone = str(image_folder / "red" / "wide.jpg"), str(image_folder / "blue" / "phone.jpg")
    assert refused == {
        wide: f"600x400 pixels is over the limit of 100,000 pixels: {TOO_LARGE_HINT}",
        phone: f"600x450 pixels is over the limit of 100,000 pixels: {TOO_LARGE_HINT}",
    }
    assert checked == refused
    assert split.too_large_files == ["blue/phone.jpg", "red/wide.jpg"]


@pytest.mark.slow
def test_a_body_whose_forward_changed_computes_its_features_again(tmp_path, samples):
    """The store keyed a body by its repr and weights alone: a forward changed (an objrec or timm
    upgrade that fixes a body's pooling, say) kept serving the old forward's rows (review56a
    M3). Here the same repr and weights, max pooling for mean pooling: computed again."""
    from objrec.bodies import Body

    class Tiny(Body):
        n_features = 8

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 8, 3)

        def forward(self, x):
            return self.conv(x).mean((2, 3))

    spec = ViewSpec(DATA)
    first = feature_table(frozen(tmp_path, Tiny()), samples, spec)
    assert feature_table(frozen(tmp_path, Tiny()), samples, spec).computed == 0
    Tiny.forward = lambda self, x: self.conv(x).amax((2, 3))  # same repr, same weights
    again = feature_table(frozen(tmp_path, Tiny()), samples, spec)
    assert (first.computed, again.computed) == (len(samples), len(samples))
    assert not torch.allclose(first.load().features, again.load().features)

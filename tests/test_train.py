"""``train``'s recipe: which views it computes and trains on, its batches and their seeds."""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from objrec.meta import ParameterCounts
from objrec.train import train

from .conftest import TaskRecorder, tiny_train_config

PARAMS = ParameterCounts(total=2, trainable=1)
"""A model's parameter counts, for a ``TrainResult`` a test makes."""


@pytest.mark.slow
def test_augment_none_trains_on_the_centre_view_alone(tmp_path, split_dir):
    """``augment="none"`` with the default ``aug_views=1`` pushed every training image through
    the body a second time, stored the same centre crop again as ``aug:none:1`` and trained on
    it as if it were another view."""
    notes = TaskRecorder()
    result = train(split_dir, tmp_path / "run", tiny_train_config(augment="none"), notes)
    assert not [note for note in notes.notes if "augmented view" in note]
    train_images, valid_images = result.n_images.train, result.n_images.valid
    assert result.frozen_pass.computed == train_images + valid_images  # one view each
    # its last step is shown too: 2.4 s of nothing on screen after calibrating, at a load of 7
    assert notes.tasks[-1] == "writing the run"


@pytest.mark.slow
def test_a_pass_of_one_batch_is_named_once_with_its_images_in_trains_line(tmp_path, split_dir):
    """A log said "valid features: 11 images, one batch ..." and then "valid features: 11
    images, 11 run through ...": train says a table's images once its pass ends,
    so a pass of one batch is the step "valid features" alone."""
    from objrec.train import prepare

    notes = TaskRecorder()
    prepare(split_dir, tiny_train_config(cache_dir=str(tmp_path / "cache")), notes)
    assert "valid features" in notes.tasks and notes.totals["valid features"] is None
    assert not [task for task in notes.tasks if "one batch" in task]
    valid = [note for note in notes.notes if note.startswith("valid features")]
    assert len(valid) == 1 and valid[0].startswith("valid features: 9 images, 9 run through")


@pytest.mark.slow
def test_under_ddp_the_progress_bar_counts_the_batches_of_this_ranks_share(
    tmp_path, split_dir, monkeypatch
):
    """Rank 0's progress bar had the global batch's count of steps: with a batch the ranks do
    not divide (4 on 3 ranks: 1 image each), it counted 5 steps of an epoch of 6 batches."""
    import torch

    from objrec.distributed import Told, World
    from objrec.prepared import RunContext
    from objrec.progress import SILENT
    from objrec.runs import RunFolders
    from objrec.train import fit_head, prepare, run_meta

    config = tiny_train_config(batch_size=4, aug_views=0)
    prep, live = prepare(split_dir, config, SILENT)
    asked = {}

    def fit(model, train_batches, valid_batches, optimizer, stopping, **settings):
        asked.update(settings, batches=len(list(train_batches(1))))
        return settings["state"]

    monkeypatch.setattr(importlib.import_module("objrec.train"), "fit", fit)
    monkeypatch.setattr("objrec.batches.DistributedDataParallel", lambda head, device_ids: head)
    world = World(rank=0, size=3, device=torch.device("cpu"), launched=True)
    meta = run_meta(prep, live.model, config, split_dir)
    folders = RunFolders(run=tmp_path, data=split_dir)
    fit_head(RunContext(folders, prep, live, config, meta, Told(SILENT, world)))
    assert len(prep.train_y) == 18 and asked["batches"] == 6
    assert asked["steps_per_epoch"] == asked["batches"]


@pytest.mark.slow
def test_under_ddp_an_epochs_training_figures_count_each_image_once(
    tmp_path, split_dir, monkeypatch
):
    """The DistributedSampler evens the ranks' shares by repeating images, and the epoch's
    training loss and accuracy counted the repeats: 21 images on 2 ranks gave a training
    accuracy of 10 of 22. On 4 ranks 18 images are 20 places: ranks 2 and 3 each
    train on one image twice, and count it once."""
    import torch

    from objrec.distributed import Told, World
    from objrec.prepared import RunContext
    from objrec.progress import SILENT
    from objrec.runs import RunFolders
    from objrec.train import fit_head, prepare, run_meta

    config = tiny_train_config(epochs=2, aug_views=0)
    prep, live = prepare(split_dir, config, SILENT)
    meta = run_meta(prep, live.model, config, split_dir)
    figures: list[dict[str, float]] = []
    monkeypatch.setattr("objrec.batches.DistributedDataParallel", lambda head, device_ids: head)
    monkeypatch.setattr(World, "reduce_metrics", lambda self, m: figures.append(m) or m)
    monkeypatch.setattr(World, "decide", lambda self, value: value)
    for rank in (1, 2, 3):  # rank 0 writes the run's state, which the others never do
        world = World(rank=rank, size=4, device=torch.device("cpu"), launched=True)
        run = RunContext(
            RunFolders(tmp_path, split_dir), prep, live, config, meta, Told(SILENT, world)
        )
        fit_head(run)
    assert len(prep.train_y) == 18
    trained = [f["n"] for f in figures[::2]]  # each epoch's training figures, then validation's
    assert trained == [5, 5, 4, 4, 4, 4]  # rank 0 has 5 too: 18 in all


def view_choice(seed, epoch, n=64):
    """Which of 4 views each of ``n`` images gets in rank 0's share of a sharded epoch."""
    import torch

    from objrec.batches import sharded_feature_batches
    from objrec.distributed import World

    views = torch.arange(4.0).view(4, 1, 1).expand(4, n, 1)  # view v's features are all v
    chosen = {}
    for x, y in sharded_feature_batches(views, torch.arange(n), 8, seed, epoch, World(0, 2)):
        chosen |= dict(zip(y.tolist(), x[:, 0].tolist(), strict=True))
    return chosen


def test_neighbouring_seeds_do_not_replay_each_others_views_an_epoch_apart_under_ddp():
    """The sharded path chose the views with ``seed + epoch``: seed 4's epoch 1 was seed 3's
    epoch 2. It derives the seed as the single-process path does (``epoch_seed``)."""
    assert view_choice(3, 2) != view_choice(4, 1)
    assert view_choice(3, 2) == view_choice(3, 2)


def test_neighbouring_seeds_do_not_replay_each_others_order_an_epoch_apart_under_ddp():
    """The DistributedSampler shuffled with ``seed`` and ``set_epoch``, so ``seed + epoch``: seed
    4's epoch 1 gave rank 0 the images of seed 3's epoch 2, in the same order."""
    order = {(s, e): list(view_choice(s, e)) for s, e in ((3, 2), (4, 1))}
    assert order[3, 2] != order[4, 1]
    assert sorted(order[3, 2]) != sorted(order[4, 1])  # not even the same images on rank 0


def draws() -> tuple[float, float, float]:
    """One draw of each global random stream a caller seeds: Python's, NumPy's and PyTorch's."""
    import random

    import numpy as np
    import torch

    return random.random(), float(np.random.random()), float(torch.rand(1))


def seeded(seed: int) -> None:
    """The three global streams of :func:`draws` seeded, as a notebook seeds its own."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.mark.slow
def test_train_leaves_the_caller_s_random_streams_as_they_were(tmp_path, split_dir):
    """review64a L1: train seeded Python's, NumPy's and PyTorch's global streams from its own
    ``seed`` (and a resume set PyTorch's from its state), so a notebook that seeded its own
    drew the run's numbers after it. Its draws now go on as if no run had come between."""
    seeded(1234)
    expected = draws()
    seeded(1234)
    train(split_dir, tmp_path / "run", tiny_train_config(epochs=2))
    assert draws() == expected


@pytest.mark.slow
def test_train_takes_its_settings_as_keywords_as_split_folder_and_evaluate_do(tmp_path, split_dir):
    """A notebook's ``train(data, out, epochs=3)`` was a TypeError, where ``split_folder`` and
    ``evaluate`` take their settings as keywords."""
    import json

    from objrec.errors import ObjrecError

    settings = tiny_train_config(epochs=3).to_dict()
    result = train(split_dir, tmp_path / "run", **settings)
    assert len(result.history) == 3
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 3
    with pytest.raises(ObjrecError, match="not both"):
        train(split_dir, tmp_path / "other", tiny_train_config(), epochs=3)
    assert not (tmp_path / "other").exists()


def test_auto_trains_the_head_in_bf16_only_on_a_cpu_with_bf16_matrix_instructions(monkeypatch):
    import torch

    from objrec.distributed import World
    from objrec.precision import auto_head_precision

    module = importlib.import_module("objrec.precision")
    cpu = World(device=torch.device("cpu"))
    monkeypatch.setattr(module, "bf16_matrix_unit", lambda: "amx_bf16")
    assert auto_head_precision(cpu) == (
        "bf16",
        "this CPU has bfloat16 matrix instructions (amx_bf16)",
    )
    monkeypatch.setattr(module, "bf16_matrix_unit", lambda: "avx512_bf16")
    assert auto_head_precision(cpu) == (
        "bf16",
        "this CPU has bfloat16 matrix instructions (avx512_bf16)",
    )
    assert auto_head_precision(World(device=torch.device("cuda", 0)))[0] == "fp32"
    torchrun = World(rank=0, size=2, device=torch.device("cpu"), launched=True)
    assert auto_head_precision(torchrun)[0] == "fp32"
    monkeypatch.setattr(module, "bf16_matrix_unit", lambda: None)
    why = "this CPU has no bfloat16 matrix instructions (amx_bf16, avx512_bf16)"
    assert auto_head_precision(cpu) == ("fp32", why)


def test_bf16_is_refused_under_torchrun_and_a_forced_precision_is_kept():
    import torch

    from objrec.distributed import World
    from objrec.errors import ObjrecError
    from objrec.precision import Settled, settle_head_precision

    torchrun = World(rank=0, size=2, device=torch.device("cpu"), launched=True)
    with pytest.raises(ObjrecError, match=r"head_precision.*torchrun"):
        settle_head_precision(tiny_train_config(head_precision="bf16"), torchrun)
    config, why = settle_head_precision(tiny_train_config(head_precision="fp32"), World())
    assert config.head_precision == "fp32" and why == Settled("fp32", "asked for")
    # a run that trained in bf16 in one process, resumed under torchrun: its settings are its own
    config, why = settle_head_precision(tiny_train_config(head_precision="bf16"), torchrun, True)
    assert config.head_precision == why.used == "fp32" and "trained in bf16 so far" in why.why
    config, why = settle_head_precision(tiny_train_config(head_precision="bf16"), World(), True)
    assert config.head_precision == "bf16" and why == Settled("bf16", "the resumed run's own")


def test_a_torchrun_rank_takes_rank_0_s_precisions_and_engine(monkeypatch):
    """Each rank settled ``auto`` itself (its own CPU's instructions, its own engine installed),
    though the body's precision and engine are part of the store's key: two ranks settling
    differently look up and write different spaces."""
    import torch

    from objrec.distributed import World
    from objrec.precision import Precision, Settled
    from objrec.train_open import RunRequest, settled_precision

    opening = importlib.import_module("objrec.train_open")
    rank_1 = World(rank=1, size=2, device=torch.device("cpu"), launched=True)
    fp32 = Settled("fp32", "x")
    monkeypatch.setattr(opening, "settle_precision", lambda c, w, why: (c, fp32))
    shared = []
    int8 = Precision(body=Settled("int8", "y"), head=fp32, engine="onnxruntime")
    rank_0s = (tiny_train_config(precision="int8", int8_engine="onnxruntime"), int8)
    monkeypatch.setattr(World, "share", lambda self, value, doing: shared.append(value) or rank_0s)
    assert settled_precision(tiny_train_config(), RunRequest(), rank_1) == rank_0s
    assert shared[0][1].body.used == "fp32"  # rank 1's own, offered and not kept


def autocast_of_head_forwards(monkeypatch) -> list[tuple[bool, bool, object]]:
    """Each forward of the run's head from now on: (training, autocast on, its CPU dtype)."""
    import torch

    module = importlib.import_module("objrec.train")
    seen: list[tuple[bool, bool, object]] = []

    def record(head, args):
        on = torch.is_autocast_enabled("cpu")
        seen.append((head.training, on, torch.get_autocast_dtype("cpu") if on else None))

    built = module.build_head

    def build_head(*args, **kwargs):
        head = built(*args, **kwargs)
        head.register_forward_pre_hook(record)
        return head

    monkeypatch.setattr(module, "build_head", build_head)
    return seen


@pytest.mark.slow
def test_a_run_records_its_images_classes_hashing_the_test_split_only_when_new(tmp_path, split_dir):
    """The run's record of its data folder's classes (image_classes.csv, which evaluate
    --against reads) holds train, valid and test: a first train hashes the test split in a task
    of its own (one read of each photo, tens of seconds at 60,000 photos), a retrain of the same
    folder shows none (every file already in the store's index)."""
    from objrec.cache import open_cache
    from objrec.class_record import folder_classes
    from objrec.train import prepare

    config = tiny_train_config(cache_dir=str(tmp_path / "cache"))
    first, again = TaskRecorder(), TaskRecorder()
    prep, _ = prepare(split_dir, config, first)
    assert "hashing the test images" in first.tasks
    rows = folder_classes(split_dir, open_cache(tmp_path / "cache").store)
    assert sorted(prep.image_classes or []) == sorted(rows)  # as the folder's class folders say
    assert {split for split, _, _ in rows} == {"train", "valid", "test"}
    prepare(split_dir, config, again)
    assert "hashing the test images" not in again.tasks


@pytest.mark.slow
def test_a_folders_files_are_looked_up_once_for_all_its_views(tmp_path, split_dir, monkeypatch):
    """Each view's table looked up every file in the store's file index again (a ``stat``, a row
    read and written back each): train's training images twice, centre and augmented view
    (0.05 s of CPU of a warm retrain of the 100-class protocol)."""
    from objrec.store import FeatureStore
    from objrec.train import prepare

    looked_up = []
    original = FeatureStore.readable_digests

    def counted(store, paths, *args, **kwargs):
        looked_up.append(len(paths))
        return original(store, paths, *args, **kwargs)

    monkeypatch.setattr(FeatureStore, "readable_digests", counted)
    prep, _ = prepare(
        split_dir, tiny_train_config(cache_dir=str(tmp_path / "cache")), TaskRecorder()
    )
    centre, augmented = prep.train.tables
    test = sum(1 for row in prep.image_classes or [] if row[0] == "test")  # for the run's record
    assert looked_up == [len(centre), len(prep.valid), test]  # train's files once, valid's once
    assert augmented.digests == centre.digests and augmented.ok.all()
    assert (centre.hashing.hashed, augmented.hashing.hashed) == (len(centre), 0)


@pytest.mark.slow
def test_a_cold_pass_reads_and_decodes_each_image_once_for_all_its_views(
    tmp_path, split_dir, monkeypatch
):
    """A cold frozen pass read, hashed and decoded each training image once per view: its centre
    crop and each augmented view (decode60: 7,732 decodes for the 100-class protocol's 4,637
    images). Each image is decoded once now, every view made from that decode, the same rows as
    each view computed alone (``test_features``' ``views_of_one_decode``)."""
    import objrec.views
    from objrec.train import prepare

    decoded, read = [], []
    opened, reading = objrec.views.open_image, objrec.views.read_as_indexed

    def counting_decodes(source, *args, **kwargs):
        decoded.append(kwargs["name"])
        return opened(source, *args, **kwargs)

    def counting_reads(path, digest):
        read.append(path)
        return reading(path, digest)

    monkeypatch.setattr(objrec.views, "open_image", counting_decodes)
    monkeypatch.setattr(objrec.views, "read_as_indexed", counting_reads)
    config = tiny_train_config(aug_views=2, cache_dir=str(tmp_path / "cache"))
    prep, _ = prepare(split_dir, config, TaskRecorder())
    centre, *augmented = prep.train.tables
    images = len(centre) + len(prep.valid)
    assert len(augmented) == 2 and all(t.computed == len(centre) for t in augmented)
    assert len(decoded) == len(set(decoded)) == images  # was 3 x train + valid
    assert len(read) == images


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["avx512_bf16", None])
def test_the_head_trains_and_validates_under_bf16_autocast_where_the_cpu_has_bf16(
    tmp_path, split_dir, monkeypatch, flag
):
    """The fit's validation pass runs in bf16 too (half float32's time); the calibration's
    forwards, on the unwrapped head, in float32."""
    import json

    import torch

    module = importlib.import_module("objrec.precision")
    monkeypatch.setattr(module, "bf16_matrix_unit", lambda: flag)
    seen = autocast_of_head_forwards(monkeypatch)
    amx = flag is not None
    result = train(split_dir, tmp_path / "run", tiny_train_config(epochs=3))
    used = "bf16" if amx else "fp32"
    assert result.precision is not None and result.precision.head.used == used
    assert result.precision.head.why.startswith("auto")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["head_precision"] == used
    training = {(on, dtype) for is_training, on, dtype in seen if is_training}
    assert training == ({(True, torch.bfloat16)} if amx else {(False, None)})
    evaluating = {(on, dtype) for is_training, on, dtype in seen if not is_training}
    assert evaluating == ({(True, torch.bfloat16), (False, None)} if amx else {(False, None)})


@pytest.mark.slow
def test_the_same_seed_trains_the_same_head_in_bf16(tmp_path, split_dir):
    import torch
    from safetensors.torch import load_file

    from objrec.run_files import BEST

    config = tiny_train_config(head_precision="bf16", epochs=4)
    first = train(split_dir, tmp_path / "a", config)
    second = train(split_dir, tmp_path / "b", config)
    assert [r["valid_loss"] for r in first.history] == [r["valid_loss"] for r in second.history]
    a, b = load_file(tmp_path / "a" / BEST), load_file(tmp_path / "b" / BEST)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class StopAfterScanning(Exception):
    """Raised in place of building the body: train has read its folders and said what it says."""


@pytest.mark.parametrize("balance", ["none", "weights"])
def test_train_names_balance_weights_at_its_start_for_a_strongly_imbalanced_split(
    tmp_path, split_dir, monkeypatch, caplog, balance
):
    """Said before the frozen pass, so Ctrl-C and the option cost nothing; not when the loss
    is weighted already, nor on a resume, which keeps its run's settings."""
    from .conftest import make_imbalanced

    def stop(*args, **kwargs):
        raise StopAfterScanning

    make_imbalanced(split_dir)
    monkeypatch.setattr(importlib.import_module("objrec.train_features"), "build_body", stop)
    with caplog.at_level("WARNING"), pytest.raises(StopAfterScanning):
        train(split_dir, tmp_path / "run", tiny_train_config(balance=balance))
    said = [r.getMessage() for r in caplog.records if "imbalanced" in r.getMessage()]
    if balance == "weights":
        assert said == []
        return
    assert len(said) == 1 and "red has 50 training images, blue 1 (50 to 1" in said[0]
    assert "`balance='weights'` weighs each class's loss" in said[0]
    from objrec.data import scan_class_folder
    from objrec.distributed import SINGLE
    from objrec.start_hints import hint_balance

    caplog.clear()
    train_set = scan_class_folder(split_dir / "train")
    hint_balance(train_set, tiny_train_config(), SINGLE, resumed=True)
    assert "imbalanced" not in caplog.text


def test_train_warns_at_its_start_of_a_class_of_one_training_image_in_split_s_words(
    tmp_path, split_dir, monkeypatch, caplog
):
    """check and split warned of a class of 1 training image, train said nothing, and the user
    who skipped their warnings met it when evaluate stumbled on that class: train
    says it too, before the frozen pass, in the words split uses."""
    for path in sorted((split_dir / "train" / "blue").iterdir())[1:]:
        path.unlink()

    def stop(*args, **kwargs):
        raise StopAfterScanning

    monkeypatch.setattr(importlib.import_module("objrec.train_features"), "build_body", stop)
    with caplog.at_level("WARNING"), pytest.raises(StopAfterScanning):
        train(split_dir, tmp_path / "run", tiny_train_config())
    said = [r.getMessage() for r in caplog.records if "training image" in r.getMessage()]
    assert said == [
        "classes with fewer than 3 training images, learnt from one or two photos (add photos: "
        "a class of 7 distinct photos gets 3 in train): blue (1 in train)"
    ]


def test_train_warns_at_its_start_of_images_put_into_the_split_folder_by_hand(
    tmp_path, split_dir, monkeypatch, caplog
):
    """newcomer56 put photos into train/ and valid/ by hand: check said "manifest_unlisted",
    train, evaluate and audit nothing, and check's advice left out add. train says it once at
    its start, naming the cure: move them out and `objrec add` them."""
    from objrec.manifest import hand_placed_words

    first = sorted((split_dir / "train" / "red").iterdir())[0]
    shutil.copy(first, split_dir / "train" / "red" / "by_hand.png")

    def stop(*args, **kwargs):
        raise StopAfterScanning

    monkeypatch.setattr(importlib.import_module("objrec.train_features"), "build_body", stop)
    with caplog.at_level("WARNING"), pytest.raises(StopAfterScanning):
        train(split_dir, tmp_path / "run", tiny_train_config())
    said = [r.getMessage() for r in caplog.records if "no row of" in r.getMessage()]
    assert said == [
        f"train reads 1 image that {split_dir / 'manifest.csv'} has no row of (such as "
        "train/red/by_hand.png): put there by hand? Their near-duplicates are unknown to add, "
        "audit and evaluate (a copy in another split goes unseen): move them out of the split "
        "folder and add them with `add_images`, which places each where its near-duplicates "
        "are and lists it"
    ]
    listed = sorted((split_dir / "valid").rglob("*.png"))
    assert hand_placed_words(split_dir, listed, "evaluate") is None  # all listed: nothing said
    linked = tmp_path / "linked"  # as split --link makes it: each image a link out of it
    linked.mkdir()
    shutil.copy(split_dir / "manifest.csv", linked)
    links = [linked / p.relative_to(split_dir) for p in listed]
    for link, image in zip(links, listed, strict=True):
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(image)
    assert hand_placed_words(linked, links, "train") is None


def test_train_says_in_plain_words_what_runs_in_which_arithmetic(tmp_path, split_dir):
    """Its first lines said 'frozen body in fp32 (asked for)' and 'head trains in bf16', words a
    newcomer does not know; the short names stay, after the plain words, as the options spell
    them. A user who asked for --precision fp32, read "the new head trains in ... (bf16)" and
    wondered whether fp32 took: a bf16 head's weights are kept in fp32, and it says so."""
    from objrec.distributed import SINGLE
    from objrec.train_open import RunRequest, open_run

    notes = TaskRecorder()
    config = tiny_train_config(precision="fp32", head_precision="bf16")
    request = RunRequest(precision_why="asked for")
    open_run(split_dir, tmp_path / "run", config, request, notes, SINGLE)
    assert notes.notes == [
        "the pretrained network, kept as it is, runs in 32-bit floats (fp32), asked for",
        "the new head trains in 16-bit floats (bf16), asked for; its weights are kept in fp32",
    ]


def test_train_says_the_default_bodys_three_networks_in_the_plural():
    """train said "the pretrained network, kept as it is, runs in ..." and "run
    through the pretrained network" of the default body, three networks (a feature ensemble)."""
    from objrec.backbones import network_words
    from objrec.config import DEFAULT_BACKBONE
    from objrec.precision import Precision, Settled, precision_notes

    assert network_words("tiny_test") == "the pretrained network"
    assert network_words("resnet18+tiny_test") == "the 2 pretrained networks"
    precision = Precision(body=Settled("int8", "auto: x"), head=Settled("fp32", "y"))
    assert precision_notes(precision, DEFAULT_BACKBONE)[0] == (
        "the 3 pretrained networks, kept as they are, run in 8-bit integers (int8), auto: x"
    )
    assert precision_notes(precision, "tiny_test")[0].startswith(
        "the pretrained network, kept as it is, runs in 8-bit"
    )


def test_train_says_the_cpu_s_instructions_in_words_and_summary_json_keeps_the_flags():
    """newcomer63b: train's first lines read "auto: this CPU has 8-bit dot-product instructions
    (avx512_vnni)" and "(amx_bf16, avx512_bf16)", CPU flags no word list explains. The lines say
    the instructions in words; summary.json's ``why`` keeps the flags for whoever compares
    machines, and a parenthesis of words stays."""
    from objrec.precision import Precision, Settled, precision_notes

    int8 = "auto: this CPU has 8-bit dot-product instructions (avx512_vnni)"
    no_bf16 = "auto: this CPU has no bfloat16 matrix instructions (amx_bf16, avx512_bf16)"
    precision = Precision(body=Settled("int8", int8), head=Settled("fp32", no_bf16))
    body, head = precision_notes(precision, "tiny_test")
    assert body.endswith("(int8), auto: this CPU has 8-bit dot-product instructions")
    assert head.endswith(
        "in 32-bit floats (fp32), auto: this CPU has no bfloat16 matrix instructions"
    )
    assert precision.to_json()["why"] == int8 and precision.to_json()["head_why"] == no_bf16
    words = "auto: this CPU has no 8-bit dot-product instructions (VNNI, ARM dot product)"
    (body, _) = precision_notes(Precision(body=Settled("fp32", words), head=Settled("fp32", "")))
    assert body.endswith(words)


def test_train_says_that_an_int8_body_in_openvino_exports_otherwise_only_with_v(
    split_dir, tmp_path, monkeypatch, caplog
):
    """A photographer trained with the default int8 body (run in OpenVINO) and ran her export in
    ONNX Runtime: 0.054 apart from objrec's probabilities; so train said at start, on every
    default run of such a CPU, that the export gives objrec's answers in OpenVINO only. A
    newcomer read it on each train before ever thinking of exporting. It is now logged (shown
    with -v), at the run's end; export's --help says it and export warns when the file is apart
    in ONNX Runtime."""
    import logging

    from objrec.distributed import SINGLE
    from objrec.precision import Precision, Settled, precision_notes
    from objrec.train import EXPORT_IN_OPENVINO, log_seconds
    from objrec.train_open import RunRequest, open_run

    auto = Settled("int8", "auto"), Settled("fp32", "auto")
    (body, head) = precision_notes(Precision(body=auto[0], head=auto[1], engine="openvino"))
    assert body.endswith("runs in 8-bit integers (int8) on openvino, auto")
    assert head.startswith("the new head trains in")
    monkeypatch.setattr(
        importlib.import_module("objrec.train_open"), "int8_engine", lambda _: "openvino"
    )
    notes = TaskRecorder()
    with caplog.at_level(logging.INFO, logger="objrec.train"):
        config = tiny_train_config(precision="int8")
        _, _, _, settled = open_run(
            split_dir, tmp_path / "run", config, RunRequest(), notes, SINGLE
        )
        # at the start, it was the first line a Python user logging at INFO read
        assert EXPORT_IN_OPENVINO not in caplog.messages
        log_seconds(None, 0.1, SINGLE, settled)
    assert not any("ONNX Runtime" in note for note in notes.notes)
    assert caplog.messages[-1] == EXPORT_IN_OPENVINO  # at the end, after the run's seconds
    assert "train with `precision='fp32'`" in EXPORT_IN_OPENVINO  # --precision fp32 in the CLI


@pytest.mark.slow  # a new process, forked from one that imported torch
def test_train_imports_matplotlib_only_to_draw_the_curves(preloaded_python):
    """Importing ``objrec.train`` (and the run folder's ``objrec.runs``) leaves matplotlib out: 0.5 s
    of a warm retrain's start, paid only when ``curves.png`` is drawn, not by a train refused
    before its run is written."""
    code = "import sys, objrec.train, objrec.runs; print('matplotlib' in sys.modules)"
    done = preloaded_python.run(code)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


RECORDS_READ = """
import sys
from objrec.card import write_card
from objrec.run_record import ImageCounts, RunSeconds, TrainResult
from objrec.precision import Precision
summary = {"precision": {"used": "int8", "why": "auto", "engine": "openvino", "head": "fp32"}}
assert Precision.from_json(summary["precision"]).engine == "openvino"
assert RunSeconds.from_json({"total": 2.5}).total == 2.5
print("torch" in sys.modules)
"""


@pytest.mark.slow  # a new Python: the preloaded one has imported torch
def test_a_runs_records_are_read_without_importing_torch():
    """``run_record`` (``TrainResult`` and the figures a ``summary.json`` holds) imported
    ``precision``, which imported PyTorch to ask the CPU for bfloat16 at import: reading a run's
    record, or the model card's module, loaded PyTorch (1 to 2 s). ``precision`` imports it
    only to settle ``auto``."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", RECORDS_READ], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


WARM_TRAIN = """
import json, sys
from objrec.cli import main
RUN_ELSEWHERE = ("objrec.check", "objrec.check_decodes", "objrec.split.source", "objrec.reading", "objrec.near_pairs")
code = main(sys.argv[1:])
EVERY_PILLOW_PLUGIN = "PIL.DdsImagePlugin"  # loaded only by Pillow's ``Image.init``, with all
LEFT_OUT = ("torchvision", "torch._dynamo", "sklearn", "pandas", EVERY_PILLOW_PLUGIN, *RUN_ELSEWHERE)
imported = [name for name in LEFT_OUT if name in sys.modules]
print(json.dumps({"code": code, "imported": imported}))
"""


@pytest.mark.slow  # two new processes training the tiny body, forked from one that imported torch
def test_a_retrain_that_computes_no_feature_imports_neither_torchvision_nor_torch_dynamo(
    tmp_path, split_dir, preloaded_python
):
    """The whole ``objrec train`` of a warm retrain (every feature in the store, as after a label
    fix or a removed image), not its parts one by one: torchvision (and ``torch._dynamo``, which
    ``import torchvision`` brings through ``torchvision.ops``: 1.5 s of the 100-class protocol's
    17.5 s retrain on 2 cores), scikit-learn and pandas stay unimported, and so do the modules
    only ``--strict`` and ``cache --prune`` run (``check``, ``check_decodes``, ``split.source``,
    ``reading``, ``near_pairs``: about 0.01 s of CPU, benchmarks/README.md, "imports, the bodies'
    weights, the run's files"), and so do Pillow's plugins, which ``features.decodable_now`` loaded all to
    ask whether HEIC was decodable before it knew of any HEIC photo (0.04 to 0.13 s). A cold train,
    which computes, imports torchvision to resize; so does a warm one whose store cannot name the
    augmented view (a file of objrec or torchvision changed since the child started,
    ``view_keys.definition_key``): then a second warm child is the one checked."""
    import json
    import os

    from objrec.backbones import get_backbone
    from objrec.store import FeatureStore
    from objrec.view_keys import definition_key

    env = {**os.environ, "OBJREC_CACHE": str(tmp_path / "cache")}
    flags = ["--backbone", "tiny_test", "--epochs", "2", "--batch-size", "8", "--aug-views", "1"]

    def child(out: str) -> tuple[dict, dict]:
        argv = ["train", str(split_dir), "--out", str(tmp_path / out), "--json", *flags]
        done = preloaded_python.run(WARM_TRAIN, *argv, env=env)
        assert done.returncode == 0, done.stderr
        *summary, said = done.stdout.strip().splitlines()  # train's --json, then the child's
        return json.loads("\n".join(summary)), json.loads(said)

    cold, cold_said = child("cold")
    assert cold["frozen_pass"]["computed"] > 0 and "torchvision" in cold_said["imported"]
    # The cold child named the view in the store, unless a file the name is made from changed
    # since it started (code edited during the run): then a first warm child names it.
    key = definition_key(get_backbone("tiny_test").data_config, "article")
    with FeatureStore(tmp_path / "cache" / "store") as store:
        named = key is not None and store.recall(key) is not None
    for out in ("warm1",) if named else ("warm1", "warm2"):
        warm, said = child(out)
    assert said["code"] == 0 and warm["frozen_pass"]["computed"] == 0
    assert said["imported"] == [], said["imported"]


def test_fine_tuning_under_torchrun_is_refused_before_any_work(tmp_path, split_dir, monkeypatch):
    """``torchrun ... train --finetune-blocks 1`` ran the frozen pass and every epoch of the
    head, then refused on each rank, leaving a training state no torchrun could resume."""
    from contextlib import contextmanager

    import torch

    from objrec.distributed import World
    from objrec.errors import ObjrecError

    @contextmanager
    def two_ranks(device):
        yield World(rank=0, size=2, device=torch.device("cpu"), launched=True)

    monkeypatch.setattr(importlib.import_module("objrec.train"), "process_group", two_ranks)
    config = tiny_train_config(backbone="efficientnet_lite0", finetune_blocks=1)
    with pytest.raises(ObjrecError, match="does not run under torchrun yet: train in one process"):
        train(split_dir, tmp_path / "run", config)
    assert not (tmp_path / "run").exists()


def test_under_torchrun_only_rank_0_takes_back_the_run_folder(tmp_path, split_dir, monkeypatch):
    """Ctrl-C under `torchrun --nproc-per-node 2` at epoch 20, before the first state was written:
    rank 1 removed the run folder, still empty, as rank 0 wrote the state into it ('error:
    rund/.objrec-1002-....d: no such file or directory'), and the run was lost."""
    from contextlib import contextmanager

    import torch

    from objrec.distributed import World

    module = importlib.import_module("objrec.train")

    @contextmanager
    def rank_1(device):
        yield World(rank=1, size=2, device=torch.device("cpu"), launched=True)

    def made_then_stopped(data_dir, out, *args):
        out.mkdir()  # as every rank's open_run_folder makes it
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "process_group", rank_1)
    monkeypatch.setattr(module, "_train", made_then_stopped)
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(KeyboardInterrupt):
        train(split_dir, tmp_path / "run", tiny_train_config())
    assert (tmp_path / "run").is_dir()  # rank 0's to write into, or take back
    monkeypatch.setenv("RANK", "0")
    (tmp_path / "run").rmdir()
    with pytest.raises(KeyboardInterrupt):  # on rank 0 the same stop leaves no folder
        train(split_dir, tmp_path / "run", tiny_train_config())
    assert not (tmp_path / "run").exists()


def test_under_torchrun_only_rank_0_checks_the_folder_for_strict(tmp_path, split_dir, monkeypatch):
    """`torchrun --nproc-per-node 2 -m objrec train --strict` ran `objrec check` on every rank:
    each opened every file with a worker per core, all writing the same facts.sqlite.
    Rank 1 takes rank 0's verdict and refuses with the same sentence."""
    from contextlib import contextmanager

    import torch

    import objrec.check
    from objrec.distributed import World
    from objrec.errors import ObjrecError

    @contextmanager
    def rank_1(device):
        yield World(rank=1, size=2, device=torch.device("cpu"), launched=True)

    def checked(*args, **kwargs):
        raise AssertionError("rank 1 checked the folder")

    rank_0s = "1 unusable file or folder: train/a/x.jpg (unreadable)"
    monkeypatch.setattr(importlib.import_module("objrec.train"), "process_group", rank_1)
    monkeypatch.setattr(objrec.check, "check_folder", checked)
    monkeypatch.setattr(
        World, "share", lambda self, value, doing: rank_0s if value is None else value
    )
    with pytest.raises(ObjrecError, match=r"`strict=True` refuses .*: 1 unusable file or folder"):
        train(split_dir, tmp_path / "run", tiny_train_config(), strict=True)


@pytest.mark.slow
def test_a_runs_summary_records_what_it_was_made_with(trained_once):
    """repro40: summary.json and config.json named no objrec version or commit, no library, no
    CPU, and neither the body's weights nor the split: a paper citing the run could not say what
    made it. `provenance` holds them, each checkable against what made it."""
    import csv
    import hashlib
    import importlib.metadata
    import json

    import objrec
    from objrec.checkpoint import load_model

    record = json.loads((trained_once / "summary.json").read_text())["provenance"]
    data = trained_once.parent / "data"
    assert record["objrec"] == objrec.__version__
    assert record["libraries"]["torch"] == importlib.metadata.version("torch")
    assert record["libraries"]["torchvision"] == importlib.metadata.version("torchvision")
    assert record["cpu"] and record["threads"] >= 1 and record["python"]
    assert record["body_fingerprint"] == load_model(trained_once)[1].body_fingerprint
    assert record["data"] == str(data.resolve())
    with (data / "manifest.csv").open(newline="", encoding="utf-8-sig") as f:
        rows = sorted(f"{r['split']},{r['class']},{r['sha256']}" for r in csv.DictReader(f))
    assert record["split_fingerprint"] == hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
    assert record["split_record"] == json.loads((data / "split.json").read_text())
    assert record["split_record"]["seed"] == 0 and record["command"] is None  # a script's train
    heads = json.loads((trained_once.parent / "heads.json").read_text())  # as it trained
    if heads[0] is not None:  # run from a checkout (CI's, a developer's)
        assert any(record["commit"].startswith(head) for head in heads)


def test_the_split_fingerprint_is_of_the_photos_and_their_splits_not_their_paths(tmp_path):
    """A reviewer who splits the same photos from another folder gets the same fingerprint; a
    photo in another split, or another class, changes it."""
    from objrec.provenance import split_fingerprint

    header = "file,class,split,sha256,source,group\n"
    rows = ["train/a/1.jpg,a,train,aa,/me/a/1.jpg,0", "test/b/2.jpg,b,test,bb,/me/b/2.jpg,1"]
    mine, theirs, moved = tmp_path / "m.csv", tmp_path / "t.csv", tmp_path / "x.csv"
    mine.write_text(header + "\n".join(rows) + "\n")
    theirs.write_text(header + "\n".join(r.replace("/me/", "/you/x/") for r in rows[::-1]) + "\n")
    moved.write_text(header + rows[0] + "\n" + rows[1].replace(",test,", ",valid,") + "\n")
    assert split_fingerprint(mine) == split_fingerprint(theirs)
    assert split_fingerprint(mine) != split_fingerprint(moved)
    assert split_fingerprint(tmp_path / "none.csv") is None


def test_the_commit_is_read_without_taking_the_checkouts_index_lock(monkeypatch, tmp_path):
    """`git describe --dirty` refreshes the index under index.lock, which a developer's own
    `git commit` in objrec's checkout would then find taken; the record reads it lock-free."""
    import subprocess

    import objrec.provenance

    seen = []

    def run(command, **kwargs):
        seen.append(kwargs.get("env") or {})
        return subprocess.CompletedProcess(command, 0, "abc123\n", "")

    monkeypatch.setattr(objrec.provenance.subprocess, "run", run)
    (tmp_path / "src" / "objrec").mkdir(parents=True)
    (tmp_path / "pyproject.toml").touch()
    assert objrec.provenance.source_commit(tmp_path / "src" / "objrec") == "abc123"
    assert seen[0].get("GIT_OPTIONAL_LOCKS") == "0"


def test_only_rank_0_works_out_the_runs_provenance(monkeypatch, tmp_path):
    """Under torchrun every rank worked out the provenance (`git describe`, library versions,
    the CPU) though rank 0 alone writes the summary holding it: the others now skip it."""
    import subprocess

    import objrec.provenance
    import objrec.runs
    from objrec.config import DataConfig, TrainConfig
    from objrec.engine import EarlyStopping, FitState
    from objrec.meta import HeadConfig, RunMeta
    from objrec.run_record import RunRecord
    from objrec.runs import write_run

    asked = []
    real = objrec.runs.provenance
    monkeypatch.setattr(objrec.runs, "provenance", lambda *a: asked.append(a) or real(*a))
    monkeypatch.setattr(
        objrec.provenance.subprocess,
        "run",
        lambda command, **kw: asked.append(command) or subprocess.CompletedProcess(command, 0, "x"),
    )
    meta = RunMeta("tiny_test", ("a", "b"), DataConfig(), HeadConfig(8, 2), params=PARAMS)
    record = {"epoch": 1, "valid_loss": 0.5, "valid_acc": 1.0}
    state = FitState(EarlyStopping(3, best=0.5, best_epoch=1), epoch=1, history=[record])
    on_rank_1 = write_run(tmp_path, None, TrainConfig(), meta, state, RunRecord(), write=False)
    assert asked == [] and on_rank_1.provenance is None
    assert on_rank_1.summary()["provenance"] == {}
    assert not list(tmp_path.iterdir())  # and it writes nothing


def test_a_run_s_summary_holds_its_precision_key_for_key_as_it_always_has():
    """A run's precision is read by attribute (``precision.Precision``); its ``summary.json``
    holds it as before, key for key in the same order (docs/json.md): the body's ``used`` and
    ``why``, an int8 body's ``engine``, the head's ``head`` and ``head_why``."""
    from objrec.config import TrainConfig
    from objrec.precision import Precision, Settled
    from objrec.run_record import RunRecord, TrainResult

    def summed(precision: Precision | None) -> list[tuple[str, str]]:
        fields = RunRecord(precision=precision).result_fields(TrainConfig(head_precision="fp32"))
        result = TrainResult(Path("run"), ["a", "b"], [], 1, 0.5, 1.0, PARAMS, **fields)
        return list(json.loads(json.dumps(result.summary()))["precision"].items())

    head = Settled("bf16", "auto: this CPU has amx_bf16")
    int8 = Precision(body=Settled("int8", "auto: this CPU has x"), head=head, engine="openvino")
    assert summed(int8) == [
        ("used", "int8"),
        ("why", "auto: this CPU has x"),
        ("engine", "openvino"),
        ("head", "bf16"),
        ("head_why", "auto: this CPU has amx_bf16"),
    ]
    fp32 = Precision(body=Settled("fp32", "--precision fp32"), head=head)
    assert [key for key, _ in summed(fp32)] == ["used", "why", "head", "head_why"]
    # a record made without settling them (no run train writes): the config's, no reason given
    assert summed(None) == [("used", "auto"), ("why", ""), ("head", "fp32"), ("head_why", "")]


def test_a_run_s_summary_holds_its_frozen_pass_counts_key_for_key_as_it_always_has():
    """What a run's frozen pass did is read by attribute (``run_record.FrozenPassCounts``); its
    summary holds the counts as before, key for key in the same order (docs/json.md), and the
    counts of a summary an earlier objrec wrote, without some of them, read as 0 (the report)."""
    from objrec.config import TrainConfig
    from objrec.run_record import FrozenPassCounts, RunRecord, TrainResult

    counts = FrozenPassCounts(
        computed=45, from_store=9, copies=1, n_unreadable=2, hashed=27, digest_seconds=0.032
    )
    fields = RunRecord(frozen_pass=counts).result_fields(TrainConfig())
    result = TrainResult(Path("run"), ["a", "b"], [], 1, 0.5, 1.0, PARAMS, **fields)
    written = json.loads(json.dumps(result.summary()))["frozen_pass"]
    assert list(written.items()) == [
        ("computed", 45),
        ("from_store", 9),
        ("copies", 1),
        ("n_unreadable", 2),  # `unreadable` before 7 December 2026 (review55b M2)
        ("hashed", 27),
        ("digest_seconds", 0.032),
    ]
    assert FrozenPassCounts.from_json(written) == counts
    earlier = FrozenPassCounts.from_json({"computed": 3, "from_store": 4, "unreadable": 5})
    assert (earlier.computed, earlier.from_store, earlier.copies, earlier.hashed) == (3, 4, 0, 0)
    assert earlier.n_unreadable == 5  # a summary written before 7 December 2026
    with pytest.warns(DeprecationWarning, match=r"FrozenPassCounts.unreadable is deprecated"):
        assert earlier.unreadable == 5


def test_a_run_s_calibration_and_provenance_are_typed_and_summed_as_before():
    """How the temperature was chosen (``calibration.TemperatureFit``) and what the run was made
    with (``provenance.Provenance``) are read by attribute; summary.json holds each as before,
    key for key in the same order (docs/json.md)."""
    from objrec.calibration import TemperatureFit
    from objrec.config import TrainConfig
    from objrec.provenance import Provenance
    from objrec.run_record import RunRecord, TrainResult

    fit = TemperatureFit(1.0, 0.29, 0, "0 validation errors, 10 needed to sharpen")
    made = Provenance("0.1.0", None, "3.11.7", {"torch": "2.14.1"}, threads=2, data="/data")
    fields = RunRecord(calibration=fit).result_fields(TrainConfig())
    result = TrainResult(
        Path("run"), ["a", "b"], [], 1, 0.5, 1.0, PARAMS, provenance=made, **fields
    )
    assert result.calibration is fit and result.provenance is made
    written = json.loads(json.dumps(result.summary()))
    assert list(written["calibration"].items()) == [
        ("temperature", 1.0),
        ("fitted_temperature", 0.29),
        ("validation_errors", 0),
        ("kept_at_1", "0 validation errors, 10 needed to sharpen"),
        ("held_out_gain", None),
    ]
    assert list(written["provenance"]) == [
        *("objrec", "commit", "python", "libraries", "machine", "cpu", "threads"),
        *("body_fingerprint", "data", "split_fingerprint", "split_record", "command", "cwd"),
    ]
    assert (written["provenance"]["threads"], written["provenance"]["data"]) == (2, "/data")
    unmade = TrainResult(Path("run"), ["a", "b"], [], 1, 0.5, 1.0, PARAMS).summary()
    assert (unmade["calibration"], unmade["provenance"]) == ({}, {})


def test_a_run_s_seconds_are_typed_and_summed_as_before():
    """Where a run's time went is read by attribute (``run_record.RunSeconds``); summary.json holds
    its parts as before, in the same order, ``quantize`` (part of ``features``) only for an int8
    frozen pass, before ``total``."""
    from types import SimpleNamespace

    from objrec.run_record import TrainResult
    from objrec.train import run_seconds

    prep = SimpleNamespace(seconds=3.0, quantize_seconds=1.0)
    fp32 = run_seconds(prep, "fp32", (0.0, 3.0, 4.5, 5.0))  # type: ignore[arg-type]
    assert (fp32.features, fp32.fit, fp32.calibrate, fp32.total) == (3.0, 1.5, 0.5, 5.0)
    assert fp32.quantize is None and list(fp32.to_json()) == [
        "features",
        "fit",
        "calibrate",
        "total",
    ]
    int8 = run_seconds(prep, "int8", (0.0, 3.0, 4.5, 5.0))  # type: ignore[arg-type]
    result = TrainResult(Path("run"), ["a", "b"], [], 1, 0.5, 1.0, PARAMS, seconds=int8)
    assert list(json.loads(json.dumps(result.summary()))["seconds"].items()) == [
        ("features", 3.0),
        ("fit", 1.5),
        ("calibrate", 0.5),
        ("quantize", 1.0),
        ("total", 5.0),
    ]


def test_a_run_s_seconds_show_quantize_inside_features_and_parts_that_add_up_to_the_total():
    """`RunSeconds(features=380.17, fit=26.96, calibrate=26.21, quantize=246.96, total=433.87)`
    listed quantize as a fourth part, though it is part of features: the parts added up to 681 s
    of a total of 434 s (newcomer55's 11). The repr gives the total, then the parts it is made
    of, quantize inside features."""
    from objrec.run_record import RunSeconds

    seconds = RunSeconds(features=380.17, fit=26.96, calibrate=26.21, quantize=246.96, total=433.87)
    assert repr(seconds) == (
        "RunSeconds(total=433.87: features=380.17 (of it quantize=246.96), fit=26.96, "
        "calibrate=26.21)"
    )
    fp32 = RunSeconds(features=3.0, fit=1.5, calibrate=0.5, total=5.0)
    assert repr(fp32) == "RunSeconds(total=5.00: features=3.00, fit=1.50, calibrate=0.50)"


def test_a_run_s_image_and_parameter_counts_are_typed_and_summed_as_before():
    """The images a run trained on (``run_record.ImageCounts``) and its model's parameters
    (``meta.ParameterCounts``) are read by attribute; summary.json and the checkpoint's metadata
    hold them as before, key for key in the same order, and read back."""
    from objrec.config import DataConfig, TrainConfig
    from objrec.meta import HeadConfig, RunMeta
    from objrec.run_record import ImageCounts, RunRecord, TrainResult

    fields = RunRecord(n_images=ImageCounts(train=18, valid=9)).result_fields(TrainConfig())
    result = TrainResult(Path("run"), ["a", "b"], [], 1, 0.5, 1.0, PARAMS, **fields)
    assert (result.n_images.train, result.params.trainable) == (18, 1)
    written = json.loads(json.dumps(result.summary()))
    assert list(written["n_images"].items()) == [("train", 18), ("valid", 9)]
    assert list(written["params"].items()) == [("total", 2), ("trainable", 1)]
    meta = RunMeta("tiny_test", ("a", "b"), DataConfig(), HeadConfig(8, 2), params=PARAMS)
    assert list(meta.to_json()["params"].items()) == [("total", 2), ("trainable", 1)]
    assert RunMeta.from_json(json.loads(json.dumps(meta.to_json()))).params == PARAMS
    assert RunMeta.from_json(meta.to_json() | {"params": None}).params is None
    edited = {"total": "2", "trainable": True, "valid": 9.5}  # no whole numbers: 0, as a lack
    assert ParameterCounts.from_json(edited) == ParameterCounts(total=0, trainable=0)
    assert ImageCounts.from_json(edited) == ImageCounts(train=0, valid=0)
    assert ImageCounts.from_json({"train": 3}) == ImageCounts(train=3, valid=0)
    assert ParameterCounts.from_json({}) is None and ImageCounts.from_json([1]) is None


def test_a_summary_s_provenance_is_read_back_typed_whatever_an_edit_left():
    """The model card and a resume read a summary.json's provenance through
    ``Provenance.from_json``, by attribute: what ``to_json`` wrote reads back the same; one
    written before objrec recorded it is None; a field missing, or of another type (an edited
    file: a command that is not a list of words), reads as its default, never raises."""
    from objrec.provenance import Provenance

    made = Provenance("0.1.0", "abc", "3.11.7", {"torch": "2.14.1"}, command=["objrec", "train"])
    assert Provenance.from_json(json.loads(json.dumps(made.to_json()))) == made
    assert Provenance.from_json({}) is None and Provenance.from_json(["objrec"]) is None
    edited = Provenance.from_json({"command": "rm -rf", "cwd": 3, "threads": "2", "cpu": "x"})
    assert edited == Provenance("", None, "", cpu="x")
    assert Provenance.from_json({"command": ["objrec", "train"]}).command == ["objrec", "train"]


def test_a_summary_s_image_counts_are_read_back_typed_whatever_an_edit_left():
    """The model card reads a summary.json's ``n_images`` through ``ImageCounts.from_json``, by
    attribute: what ``to_json`` wrote reads back the same; none is None; a count missing, or not
    a whole number (an edited file, which the card's ``{valid:,}`` raised on), reads 0."""
    from objrec.run_record import ImageCounts

    counts = ImageCounts(train=18, valid=9)
    assert ImageCounts.from_json(json.loads(json.dumps(counts.to_json()))) == counts
    assert ImageCounts.from_json({}) is None and ImageCounts.from_json(None) is None
    assert ImageCounts.from_json({"valid": "9", "train": 4}) == ImageCounts(train=4, valid=0)


SUMMARY_LAYOUT = {
    "run": str,
    "n_classes": int,
    "best_epoch": int,
    "epochs_run": int,
    "best_valid_loss": float,
    "best_valid_acc": float,
    "params": {"total": int, "trainable": int},
    "seconds": {"features": float, "fit": float, "calibrate": float, "total": float},
    "n_images": {"train": int, "valid": int},
    "finished": bool,
    "frozen_pass": dict.fromkeys(
        ("computed", "from_store", "copies", "n_unreadable", "hashed"), int
    )
    | {"digest_seconds": float},
    "precision": {"used": str, "why": str, "head": str, "head_why": str},
    "calibration": {
        "temperature": float,
        "fitted_temperature": float,
        "validation_errors": int,
        "kept_at_1": (str, type(None)),
        "held_out_gain": (float, type(None)),
    },
    "finetune": type(None),
    "provenance": {
        **{"objrec": str, "commit": (str, type(None)), "python": str, "libraries": dict},
        **{"machine": str, "cpu": str, "threads": int, "body_fingerprint": str, "data": str},
        **{"split_fingerprint": str, "split_record": dict, "command": type(None)},
        "cwd": type(None),
    },
    "model_digest": str,
}
"""A tiny run's summary.json (docs/json.md): its keys in order, the type of each value."""


def layout_of(written: dict, layout: dict) -> list[tuple[str, object]]:
    """``written``'s keys in order, each with whether its value is of ``layout``'s type for it
    (a dict of keys in ``layout``: the value's own keys so, one level down)."""
    return [
        (key, layout_of(value, kind) if isinstance(kind, dict) else isinstance(value, kind))
        for key, value in written.items()
        for kind in [layout.get(key, ())]
    ]


def every_key(layout: dict) -> list[tuple[str, object]]:
    """:func:`layout_of` of a summary that matches ``layout``."""
    return [
        (key, every_key(kind) if isinstance(kind, dict) else True) for key, kind in layout.items()
    ]


def test_a_run_s_summary_json_keeps_its_layout_key_for_key(trained_once):
    """What ``train`` returns is read by attribute (its records typed), and ``summary.json`` (and
    ``--json``, the same ``TrainResult.summary``) holds them as it always has: every key in the
    same order, each value of the same type."""
    written = json.loads((trained_once / "summary.json").read_text())
    assert layout_of(written, SUMMARY_LAYOUT) == every_key(SUMMARY_LAYOUT)


def test_a_resumed_run_keeps_the_command_that_started_it(tmp_path, monkeypatch):
    """summary.json's provenance names the command line that started the run and the folder it
    was given in (its paths are relative to it: repro41 recorded no folder); a resume's
    `--resume RUN` alone would not make it again, so the run keeps the first one its summary
    recorded when stopped (the resume's when there is none, or it is not a list of words)."""
    from objrec.provenance import CommandLine
    from objrec.train_open import started_by

    monkeypatch.chdir(tmp_path)
    first = ["objrec", "train", "data", "--out", "run", "--seed", "3"]
    resume = ["objrec", "train", "data", "--resume", "run"]
    here = os.getcwd()
    assert started_by(tmp_path, True, resume) == CommandLine(resume, here)  # killed: no summary
    earlier = {"provenance": {"command": first, "cwd": "/home/ana/work"}}
    (tmp_path / "summary.json").write_text(json.dumps(earlier))
    assert started_by(tmp_path, True, resume) == CommandLine(first, "/home/ana/work")
    forced = started_by(tmp_path, False, ("objrec", "train"))
    assert forced == CommandLine(["objrec", "train"], here)
    (tmp_path / "summary.json").write_text(json.dumps({"provenance": {"command": first}}))
    assert started_by(tmp_path, True, resume) == CommandLine(first, None)  # before the folder
    (tmp_path / "summary.json").write_text(json.dumps({"provenance": {"command": "rm -rf"}}))
    assert started_by(tmp_path, True, resume) == CommandLine(resume, here)
    assert started_by(tmp_path, True, None) is None


def test_one_rank_reads_each_image_in_the_view_one_process_reads_it_in():
    """``torchrun --nproc-per-node 1`` drew the batches' order as one process of the same seed
    does, but the views from a generator of their own: 7 of 10 images (seed 0, epoch 1, 3 views)
    were read in another view, so a group of one could not train as one process. The ranks'
    shares of the order stay a shuffling DistributedSampler's."""
    import torch
    from torch.utils.data import DistributedSampler

    from objrec.batches import feature_batches, sharded_feature_batches
    from objrec.distributed import World, epoch_seed

    n = 11
    views = (torch.arange(3.0).view(3, 1, 1) * 100 + torch.arange(n).view(1, n, 1)).contiguous()
    labels = torch.arange(n)  # each image's feature says its view and itself: 100 * v + i
    one = list(feature_batches(views, labels, 4, epoch_seed(0, 1)))
    ranked = list(sharded_feature_batches(views, labels, 4, 0, 1, World(0, 1)))
    assert len(one) == len(ranked) == 3
    for (x, y), (rx, ry) in zip(one, ranked, strict=True):
        assert torch.equal(x, rx) and torch.equal(y, ry)
    for rank in (0, 1):
        sampler = DistributedSampler(range(n), 2, rank, shuffle=True, seed=epoch_seed(0, 0))
        sampler.set_epoch(1)
        batches = sharded_feature_batches(views, labels, 4, 0, 1, World(rank, 2))
        assert [i for _, y in batches for i in y.tolist()] == list(sampler)


@pytest.mark.parametrize(("n", "size"), [(64, 2), (10, 3), (21, 2), (2, 3)])
def test_the_ranks_shares_of_a_sharded_epoch_cover_every_image(n, size):
    """Under torchrun each rank trains on its share of an epoch: together the shares hold every
    training image, each once where the ranks divide the images evenly (the sampler repeats a
    few to even the shares otherwise, at their ends: ``sampled_images``), never one rank's share
    again on another."""
    import torch

    from objrec.batches import sampled_images, sharded_feature_batches
    from objrec.distributed import World

    def share(rank: int) -> list[int]:
        batches = sharded_feature_batches(
            torch.zeros(2, n, 1), torch.arange(n), 4, 0, 1, World(rank, size)
        )
        return [i for _, labels in batches for i in labels.tolist()]

    shares = [share(rank) for rank in range(size)]
    assert set().union(*map(set, shares)) == set(range(n))
    assert [len(s) for s in shares] == [-(-n // size)] * size
    if n % size == 0:
        assert sorted(i for s in shares for i in s) == list(range(n))
    own = [s[: sampled_images(n, World(rank, size))] for rank, s in enumerate(shares)]
    assert sorted(i for s in own for i in s) == list(range(n))  # the repeats end the shares


def test_a_run_request_is_made_by_name_only():
    """Its four flags and the command were given in order, where two swapped booleans (force,
    resume) would have replaced a run that was to be resumed, with nothing to say so."""
    from objrec.train_open import RunRequest

    with pytest.raises(TypeError):
        RunRequest(True, False)  # type: ignore[misc]
    assert RunRequest(resume=True).resume and not RunRequest(resume=True).force


def test_a_table_s_counts_each_have_their_thousands_separator():
    """s0's train said "train features: 3,095 images, 0 run through the 3 pretrained networks,
    3095 from the feature store": one number written two ways in one line. Under torchrun it
    says how many processes shared the pass."""
    from types import SimpleNamespace

    import torch

    from objrec.distributed import SINGLE
    from objrec.train_features import table_counts

    class Table:
        computed, copies, derived = 1_200, 0, 0
        ok = torch.tensor([True] * 3_094 + [False])

        def __len__(self) -> int:
            return 3_095

    assert table_counts(Table(), SINGLE, "a+b+c") == (
        "3,095 images, 1,200 run through the 3 pretrained networks, 1,894 from the feature "
        "store, 1 unreadable"
    )
    # under torchrun each process ran its share, which the line read word for word as one's
    ranks = SimpleNamespace(size=2, sum=lambda n: n)
    assert table_counts(Table(), ranks, "a+b+c").startswith(  # type: ignore[arg-type]
        "3,095 images, 1,200 run through the 3 pretrained networks by 2 processes (torchrun), "
        "about 600 each, 1,894 from the feature store"
    )
    made = Table()  # a fine-tuned run's, some made from the cut's rows
    made.computed, made.derived = 200, 1_000
    assert table_counts(made, SINGLE, "a+b+c") == (
        "3,095 images, 200 run through the 3 pretrained networks, 1,000 from the fine-tuning's "
        "cut, 1,894 from the feature store, 1 unreadable"
    )


def training_states_written(monkeypatch) -> list:
    """Each training state ``resume_state.EpochSaver`` writes, recorded (and written)."""
    saving = importlib.import_module("objrec.resume_state")
    written, write = [], saving.write_training_state
    monkeypatch.setattr(
        saving,
        "write_training_state",
        lambda path, state: (written.append(path), write(path, state)),
    )
    return written


@pytest.mark.slow
def test_a_run_that_ends_never_writes_its_training_state(tmp_path, split_dir, monkeypatch):
    """The head's state was written once its epochs ended (80 MB for the default head, 0.14 s of
    a warm retrain), then removed with the run written: it is written only if what follows
    stops."""
    from objrec.run_files import BEST, LAST

    written = training_states_written(monkeypatch)
    train(split_dir, tmp_path / "run", tiny_train_config(epochs=3))
    assert written == [] and (tmp_path / "run" / BEST).is_file()
    assert not (tmp_path / "run" / LAST).exists()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["calibrate", "write_run"])
def test_an_error_after_the_heads_epochs_leaves_its_state_for_a_resume(
    tmp_path, split_dir, monkeypatch, where
):
    """A failure in calibration or in writing the run (a full disk, say) writes the head's state
    as of its last epoch, and ``resume`` ends the run as one that never stopped does."""
    import torch
    from safetensors.torch import load_file

    from objrec.run_files import BEST, LAST
    from objrec.runs import run_status

    module = importlib.import_module("objrec.train")
    config = tiny_train_config(epochs=3)

    def fails(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        written = training_states_written(patched)
        patched.setattr(module, where, fails)
        with pytest.raises(OSError):
            train(split_dir, tmp_path / "run", config)
    assert written == [tmp_path / "run" / LAST] and run_status(tmp_path / "run") == "interrupted"
    resumed = train(split_dir, tmp_path / "run", resume=True)
    whole = train(split_dir, tmp_path / "whole", config)
    losses = [[r["valid_loss"] for r in run.history] for run in (resumed, whole)]
    assert losses[0] == losses[1]
    a, b = load_file(tmp_path / "run" / BEST), load_file(tmp_path / "whole" / BEST)
    assert all(torch.equal(a[k], b[k]) for k in a) and not (tmp_path / "run" / LAST).exists()


@pytest.mark.slow
def test_ctrl_c_after_the_heads_fit_with_an_unwritable_state_offers_no_resume(
    tmp_path, split_dir, monkeypatch, caplog
):
    """Ctrl-C while calibrating, the head's training state failing to be written (a full disk):
    the stop said "its training state is in RUN/last.safetensors: continue it with resume=True"
    of a file that was never written, and the failed write was tried and logged twice. It is
    tried once, logged once, and the stop says that nothing was saved."""
    from objrec.errors import Interrupted
    from objrec.run_files import LAST

    saving = importlib.import_module("objrec.resume_state")
    module = importlib.import_module("objrec.train")
    tries = []

    def full_disk(path, state):
        tries.append(path)
        raise OSError(28, "No space left on device", str(path))

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(saving, "write_training_state", full_disk)
    monkeypatch.setattr(module, "calibrate", ctrl_c)
    with caplog.at_level(logging.ERROR), pytest.raises(Interrupted) as stop:
        train(split_dir, tmp_path / "run", tiny_train_config(epochs=3))
    assert "nothing of the run was saved" in str(stop.value)
    assert "resume" not in str(stop.value) and not stop.value.values
    assert tries == [tmp_path / "run" / LAST] and not (tmp_path / "run" / LAST).exists()
    assert [m for m in caplog.messages if "could not be written" in m] == [
        f"the training state could not be written either ([Errno 28] No space left on device: "
        f"'{tmp_path / 'run' / LAST}'): the run cannot be resumed"
    ]


@pytest.mark.slow
def test_ctrl_c_held_while_the_run_is_put_in_place_writes_no_training_state(
    tmp_path, split_dir, monkeypatch
):
    """Ctrl-C as the run's files are renamed in is let through once they are: the run is
    finished and whole, and the head's state, kept for a stop, is not written beside it."""
    import signal

    from objrec.errors import Interrupted
    from objrec.run_files import LAST
    from objrec.runs import run_status

    runs = importlib.import_module("objrec.runs")
    written, rename = training_states_written(monkeypatch), runs.os.replace

    def ctrl_c_then_rename(source, target):
        if not written and Path(target).name == "summary.json":
            os.kill(os.getpid(), signal.SIGINT)
        rename(source, target)

    monkeypatch.setattr(runs.os, "replace", ctrl_c_then_rename)
    # Python's own Ctrl-C, whatever this process had: an xdist worker may ignore SIGINT, and the
    # held stop then did nothing (CI at 5415d20: "DID NOT RAISE Interrupted")
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(Interrupted, match="written"):
            train(split_dir, tmp_path / "run", tiny_train_config(epochs=3))
    finally:
        signal.signal(signal.SIGINT, before)
    assert written == [] and not (tmp_path / "run" / LAST).exists()
    assert run_status(tmp_path / "run") == "finished"


def test_a_stop_whose_training_state_cannot_be_written_either_raises_its_own_error(caplog):
    """A run stopped after its head's fit (curves.png refused) writes the training state: when
    that write failed too (a full disk), its OSError replaced the stop's, which said what went
    wrong first. The stop's error is raised, the failed write logged. (A full disk met by the
    run's own write is one sentence saying both: :func:`test_a_full_disk_writing_the_run_`.)"""
    import errno

    from objrec.distributed import SINGLE
    from objrec.runs import RunFolders
    from objrec.train_stops import Phase, RunStops, said_on_a_stop

    class FullDisk:
        path = Path("run/last.safetensors")

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device", "run/last.safetensors")

    folders = RunFolders(run=Path("run"), data=Path("data"))
    writing = RunStops(folders, False, SINGLE, None, None, (0, 0), Phase.WRITING, FullDisk())  # type: ignore[arg-type]
    stopped = pytest.raises(OSError, match=r"curves\.png")
    with stopped as caught, caplog.at_level(logging.ERROR), said_on_a_stop(writing):
        raise OSError(errno.EACCES, "Permission denied", "run/curves.png")
    assert caught.value.filename == "run/curves.png"
    assert caplog.messages == [
        "the training state could not be written either ([Errno 28] No space left on device: "
        "'run/last.safetensors'): the run cannot be resumed"
    ]


@pytest.mark.slow  # a tiny train
def test_each_step_of_train_enters_its_phase_in_order_and_each_phase_has_its_handler(
    tmp_path, split_dir, monkeypatch
):
    """What a stop keeps and says is decided by the phase the run is in (``train_stops``): each
    step enters its own (``RunStops.entering``, ``enter`` for the run written), where four lines
    of ``_train`` and two methods set it by hand (review64a). A phase added to ``Phase`` without
    its handler in ``BY_PHASE``, or without a step that enters it, fails here; so does a step
    entering its phase out of order."""
    from objrec.train_stops import BY_PHASE, Phase, RunStops

    entered: list[Phase] = []
    enter = RunStops.enter

    def recorded(self: RunStops, phase: Phase) -> None:
        entered.append(phase)
        enter(self, phase)

    monkeypatch.setattr(RunStops, "enter", recorded)
    train(split_dir, tmp_path / "run", tiny_train_config(epochs=2))
    assert set(BY_PHASE) == set(Phase)
    without_fine_tuning = [p for p in Phase if p not in (Phase.OPENING, Phase.FINE_TUNING)]
    assert entered == without_fine_tuning  # OPENING: the phase a run starts in


RUN_WRITERS = {
    "model.safetensors": "save_checkpoint",
    "history.csv": "write_history",
    "curves.png": "draw_curves",
    "seen_digests.csv": "write_seen",
    "image_classes.csv": "write_classes",
}
"""The writer of each file of a run folder, in ``objrec.runs``; ``config.json`` and
``summary.json`` are written by ``Path.write_text``."""


def full_disk_writing(patched: pytest.MonkeyPatch, name: str) -> None:
    """The write of the run's file ``name`` (in the hidden folder the run is written in) meets a
    full disk: ENOSPC about that file."""
    import errno

    runs = importlib.import_module("objrec.runs")

    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def writer(*args, **kwargs) -> None:
        where = next(a for a in args if isinstance(a, Path))
        full(where / name if where.is_dir() else where)

    if name in RUN_WRITERS:
        patched.setattr(runs, RUN_WRITERS[name], writer)
        return
    write_text = Path.write_text

    def text(path: Path, *args, **kwargs) -> int:
        if path.name == name:
            full(path)
        return write_text(path, *args, **kwargs)

    patched.setattr(Path, "write_text", text)


@pytest.mark.slow
@pytest.mark.parametrize("name", [*RUN_WRITERS, "config.json", "summary.json"])
def test_a_full_disk_writing_the_run_says_what_was_kept_and_a_resume_ends_it(
    tmp_path, split_dir, monkeypatch, name
):
    """A full disk met writing any file of the run folder at train's end was the OSError alone
    ("run/model.safetensors: no space left on device"): nothing said that none of the run's files
    was put in place, that its training state was, nor how to go on. One sentence says so now;
    the folder holds the state alone, and a resume ends the run from it, the features read from
    the store."""
    from objrec.errors import ObjrecError
    from objrec.run_files import LAST
    from objrec.runs import run_status
    from objrec.train_stops import store_rows

    out = tmp_path / "run"
    with monkeypatch.context() as patched, pytest.raises(ObjrecError) as caught:
        full_disk_writing(patched, name)
        train(split_dir, out, tiny_train_config(epochs=3))
    assert str(caught.value) == (
        f"the disk of {out} is full: {out / name} could not be written (no space left on "
        f"device); none of the run's files was put in place, but its training state is in "
        f"{out / LAST}: free some space on that disk, then continue it with `resume=True`"
    )
    assert caught.value.values == {"resume": str(out), "data": str(split_dir)}
    assert [p.name for p in out.iterdir()] == [LAST] and run_status(out) == "interrupted"
    if name != "summary.json":  # the last written: a resume of one will do
        return
    computed = store_rows(None)[0]
    resumed = train(split_dir, out, resume=True)
    assert resumed.finished and run_status(out) == "finished" and not (out / LAST).exists()
    assert store_rows(None)[0] == computed  # every feature read from the store


@pytest.mark.slow
@pytest.mark.parametrize("written", [2, 0])
def test_a_full_disk_in_the_head_s_epochs_keeps_the_last_state_and_says_how_to_go_on(
    tmp_path, split_dir, monkeypatch, written
):
    """The training state, written every 30 s in the head's epochs, meeting a full disk was the
    OSError alone ("run/last.safetensors: no space left on device"), in no word of what was kept
    or what to do. It is train's full-disk sentence now: the state last written whole is kept,
    and a resume goes on from it; with none written yet, nothing of the run was saved."""
    import errno

    from objrec.errors import ObjrecError
    from objrec.resume_state import load_training_state
    from objrec.run_files import LAST

    saving = importlib.import_module("objrec.resume_state")
    write, tries = saving.write_training_state, []

    def full_after_some(path, state):
        tries.append(path)
        if len(tries) > written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        write(path, state)

    out = tmp_path / "run"
    with monkeypatch.context() as patched, pytest.raises(ObjrecError) as caught:
        patched.setattr(saving, "SAVE_EVERY", 0)  # the state written after every epoch
        patched.setattr(saving, "write_training_state", full_after_some)
        train(split_dir, out, tiny_train_config(epochs=6, patience=100))
    said = (
        f"the disk of {out} is full: {out / LAST} could not be written (no space left on device) "
        "in the head's epochs"
    )
    if not written:
        assert str(caught.value) == (
            f"{said}, before any of its training state was: nothing of the run was saved: free "
            "some space on that disk, or give `out` a folder on a disk with room, and train it "
            "again: the features of its images are in the store, so it starts from them"
        )
        return
    said_to_resume(
        caught.value, f"{said}; its training state as of epoch 2 is kept in {out / LAST}"
    )
    assert caught.value.values == {"resume": str(out), "data": str(split_dir)}
    assert load_training_state(out / LAST).progress.epoch == 2
    assert train(split_dir, out, resume=True).finished


def said_to_resume(error, words: str) -> None:
    """``error`` says ``words``, then to free some space and resume: a full disk met by a
    training state with one kept."""
    assert str(error) == (
        f"{words}: free some space on that disk, then continue it with `resume=True`"
    )


class StopInEpoch(TaskRecorder):
    """Ctrl-C once epoch ``stop`` has ended."""

    def __init__(self, stop: int):
        super().__init__()
        self.stop = stop

    def epoch(self, record):
        if record["epoch"] == self.stop:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_ctrl_c_whose_training_state_meets_a_full_disk_says_the_full_disk_sentence(
    tmp_path, split_dir, monkeypatch
):
    """Ctrl-C in the head's epochs writes their last state; that write meeting a full disk came
    out of train as the bare OSError, Errno 28, the stop's sentence lost (late59 M2). It is the
    full-disk sentence of the epochs: none written yet, nothing of the run was saved."""
    import errno

    from objrec.errors import ObjrecError

    saving = importlib.import_module("objrec.resume_state")

    def full(path, state):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    out = tmp_path / "run"
    with monkeypatch.context() as patched, pytest.raises(ObjrecError) as caught:
        patched.setattr(saving, "SAVE_EVERY", 10**9)  # no state written in the epochs: on the stop
        patched.setattr(saving, "write_training_state", full)
        train(split_dir, out, tiny_train_config(epochs=6, patience=100), reporter=StopInEpoch(3))
    assert str(caught.value).startswith(f"interrupted after epoch 3; the disk of {out} is full: ")
    assert "in the head's epochs, before any of its training state was: nothing" in str(
        caught.value
    )


def state_kept_then_disk_full(patched, refusal=errno.ENOSPC):
    """The training state written after the first epoch, then not in the epochs (``SAVE_EVERY``
    raised once it is written): the stop's write, of a later epoch, meets ``refusal`` (a full
    disk). The paths each write was given, returned."""
    saving = importlib.import_module("objrec.resume_state")
    write, tries = saving.write_training_state, []

    def first_then_refused(path, state):
        tries.append(path)
        if len(tries) > 1:
            raise OSError(refusal, os.strerror(refusal), str(path))
        write(path, state)
        patched.setattr(saving, "SAVE_EVERY", 10**9)

    patched.setattr(saving, "SAVE_EVERY", 0)
    patched.setattr(saving, "write_training_state", first_then_refused)
    return tries


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["diverged", "ctrl_c"])
def test_a_stop_whose_training_state_meets_a_full_disk_says_the_stop_first(
    tmp_path, split_dir, monkeypatch, stop
):
    """loose60: a diverged loss (or Ctrl-C) in the head's epochs whose state met a full disk
    said the full disk alone: "training diverged" was lost, and a diverged run was told to
    resume, which diverges again. The stop's words come first, then the disk and the state kept
    (epoch 1's), then how to go on: a lower `lr` after a divergence, `resume=True` after
    Ctrl-C."""
    from objrec.errors import ObjrecError
    from objrec.resume_state import load_training_state
    from objrec.run_files import LAST

    from .test_robust import nan_at_epoch_3

    out, reporter = tmp_path / "run", StopInEpoch(3) if stop == "ctrl_c" else None
    with monkeypatch.context() as patched, pytest.raises(ObjrecError) as caught:
        tries = state_kept_then_disk_full(patched)
        if stop == "diverged":
            nan_at_epoch_3(patched)
        train(split_dir, out, tiny_train_config(epochs=6, patience=100), reporter=reporter)
    assert len(tries) == 2 and load_training_state(out / LAST).progress.epoch == 1
    disk = (
        f"; the disk of {out} is full: {out / LAST} could not be written (no space left on "
        f"device) in the head's epochs; its training state as of epoch 1 is kept in {out / LAST}"
    )
    if stop == "diverged":
        assert str(caught.value) == (
            f"the validation loss is NaN at epoch 3: training diverged{disk}, but a resume would "
            "diverge again: free some space on that disk, then train it again with a lower `lr` "
            "than 0.01 and `force=True`"
        )
        return
    said_to_resume(caught.value, f"interrupted after epoch 3{disk}")
    assert caught.value.values == {"resume": str(out), "data": str(split_dir)}


@pytest.mark.slow
def test_a_diverged_loss_whose_state_cannot_be_written_says_the_divergence(
    tmp_path, split_dir, monkeypatch, caplog
):
    """loose60: an OSError other than a full disk, writing a diverged run's training state, was
    raised bare ("[Errno 5] Input/output error"), the divergence lost. It is logged, and the
    divergence says what the run folder keeps: the run as of the state written before."""
    from objrec.errors import ObjrecError
    from objrec.run_files import BEST

    from .test_robust import nan_at_epoch_3

    out = tmp_path / "run"
    with monkeypatch.context() as patched, pytest.raises(ObjrecError) as caught:
        state_kept_then_disk_full(patched, errno.EIO)
        nan_at_epoch_3(patched)
        with caplog.at_level(logging.ERROR, logger="objrec.train_stops"):
            train(split_dir, out, tiny_train_config(epochs=6, patience=100))
    assert str(caught.value).startswith("the validation loss is NaN at epoch 3: training diverged")
    assert f"is in {out / BEST}" in str(caught.value) and (out / BEST).is_file()
    assert "the training state could not be written" in caplog.text


@pytest.mark.slow
def test_ctrl_c_once_the_run_is_written_whole_says_so(tmp_path, split_dir, monkeypatch):
    """Ctrl-C in the run's last log line, its files in place, said "nothing of the run was saved;
    train it again" of a finished run, and a resumed one named a training state gone with its end
    (late59 M3): it says the run was written whole."""
    from objrec.errors import Interrupted
    from objrec.runs import run_status

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module("objrec.train"), "log_seconds", ctrl_c)
    out = tmp_path / "run"
    with pytest.raises(Interrupted) as caught:
        train(split_dir, out, tiny_train_config(epochs=2))
    assert str(caught.value) == (
        f"the files were written to {out}, whole, before the stop: nothing is left to do"
    )
    assert run_status(out) == "finished"


@pytest.mark.slow
def test_a_full_disk_that_takes_the_training_state_too_says_to_train_again(
    tmp_path, split_dir, monkeypatch, caplog
):
    """The training state failing too on the full disk logged "the training state could not be
    written either ([Errno 28] No space left on device: '.../last.safetensors')" before the
    CLI's "error: .../model.safetensors: no space left on device": the consequence before its
    cause, the system's raw words. One sentence says both; the run folder this train made is
    taken back, and the same train again starts from the features stored."""
    import errno

    from objrec.errors import ObjrecError

    saving = importlib.import_module("objrec.resume_state")
    out = tmp_path / "run"

    def full(path, *args) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    with monkeypatch.context() as patched, pytest.raises(ObjrecError) as caught:
        patched.setattr(saving, "write_training_state", full)
        full_disk_writing(patched, "model.safetensors")
        with caplog.at_level(logging.ERROR):
            train(split_dir, out, tiny_train_config(epochs=3))
    assert str(caught.value) == (
        f"the disk of {out} is full: {out / 'model.safetensors'} could not be written (no space "
        "left on device); none of the run's files was put in place, nor its training state, "
        "which could not be written either: free some space on that disk, or give `out` a "
        "folder on a disk with room, and train it again: the features of its images are in the "
        "store, so it starts from them"
    )
    assert caplog.messages == [] and not out.exists()
    assert train(split_dir, out, tiny_train_config(epochs=3)).finished


@pytest.mark.slow
def test_a_forced_run_on_a_full_disk_keeps_the_earlier_run_whole(
    tmp_path, trained_run, split_dir, monkeypatch
):
    """A forced run over an earlier one meeting a full disk says the earlier run is whole."""
    from objrec.errors import ObjrecError
    from objrec.run_files import LAST

    before = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    with monkeypatch.context() as patched, pytest.raises(ObjrecError) as caught:
        full_disk_writing(patched, "summary.json")
        train(split_dir, trained_run, tiny_train_config(epochs=3), force=True)
    assert f"none of the run's files was put in place (the earlier run in {trained_run} is " in (
        str(caught.value)
    )
    after = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    assert after.pop(LAST) and after == before


def test_a_resume_on_another_data_folder_names_the_one_it_started_on(tmp_path):
    """`train data2 --resume runc`, runc started on data: it suggested --force, which throws the
    interrupted run away; the likelier mistake is the folder. The same folder
    whose classes changed is still told to start over."""
    from types import SimpleNamespace

    from objrec.errors import ObjrecError
    from objrec.runs import require_same_classes

    started, other, out = tmp_path / "data", tmp_path / "data2", tmp_path / "runc"
    saved = SimpleNamespace(classes=["ant", "crab"], data_dir=str(started.resolve()))
    with pytest.raises(ObjrecError) as raised:
        require_same_classes(out, saved, ["camera", "cup"], other / "train")
    said = str(raised.value)
    assert (
        f"it was started on {started.resolve()}: `train('{started.resolve()}', resume=True)`"
        in said
    )
    assert said.startswith(f"{out} cannot be resumed on {other}, whose classes are not its (")
    assert "force" not in said and raised.value.values == {"resume": str(out)}
    with pytest.raises(ObjrecError, match=r"changed since it started .* `force=True`"):
        require_same_classes(out, saved, ["camera", "cup"], started / "train")


KILLED_AFTER_THE_MODEL = """
import os, signal, sys
from pathlib import Path
import objrec.runs as runs
from objrec.train import train
from tests.conftest import tiny_train_config
real = os.replace
def replace(source, target):
    real(source, target)
    if Path(target) == Path(sys.argv[2], "model.safetensors"):
        os.kill(os.getpid(), signal.SIGKILL)
runs.os.replace = replace
train(sys.argv[1], sys.argv[2], tiny_train_config(epochs=5, hidden=0), force=True)
"""
"""A forced ``train`` killed (kill -9) right after its new model is renamed into the run."""


@pytest.mark.slow
def test_a_run_killed_as_its_files_are_put_in_place_leaves_no_earlier_record_beside_its_model(
    split_dir, tmp_path
):
    """review55a M1: a forced train killed after its new model's rename (SIGKILL, a power cut:
    nothing holds it back) left the earlier run's summary.json, config.json and history.csv
    beside it, and load_run, report and the card took them for the new model's ("finished",
    best epoch 3 of the earlier run for a model of epoch 5). The earlier records go first and
    the summary comes last: the model stands alone, and load_run says the run has no summary,
    so is unfinished."""
    import signal
    import subprocess
    import sys

    import objrec
    from objrec.errors import ObjrecError
    from objrec.model_file import read_meta

    out = tmp_path / "run"
    train(split_dir, out, tiny_train_config(epochs=3))
    code = [sys.executable, "-c", KILLED_AFTER_THE_MODEL, str(split_dir), str(out)]
    killed = subprocess.run(code, cwd=Path(__file__).parents[1], env=os.environ)
    assert killed.returncode == -signal.SIGKILL
    assert read_meta(out).head.hidden == 0  # the new model is in place
    left = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert left == {"model.safetensors"}, left
    with pytest.raises(ObjrecError, match=r"without the summary\.json .* the run is unfinished"):
        objrec.load_run(out)
    assert objrec.runs.run_status(out) == "unfinished"  # said "finished" before runs56


def test_train_names_its_model_by_the_bytes_it_wrote_never_reading_the_file_back(
    split_dir, tmp_path, monkeypatch
):
    """runs55: train named its new model (summary.json's model_digest) by reading the staged
    file back whole once its seal was written (one more read and SHA-256 pass of a 97 MB file per
    run). The seal's own read of the file gives the digest of the sealed bytes: the model file is
    opened once as it is written, and the digest is the file's."""
    import builtins
    import io

    from objrec.model_file import model_digest

    opened: list[Path] = []
    real = io.open

    def recorded(file, *args, **kwargs):
        if isinstance(file, str | Path):
            opened.append(Path(file))
        return real(file, *args, **kwargs)

    out = tmp_path / "run"
    monkeypatch.setattr(builtins, "open", recorded)
    monkeypatch.setattr(io, "open", recorded)  # pathlib's
    result = train(split_dir, out, tiny_train_config(epochs=2))
    monkeypatch.undo()
    staged = [p for p in opened if p.name == "model.safetensors" and p.parent != out]
    assert len(staged) == 1 and out in staged[0].parents, staged  # the seal's, before its rename
    assert result.model_digest == model_digest(out)


@pytest.mark.slow
def test_a_runs_summary_names_its_model_and_one_of_another_model_is_refused(
    split_dir, tmp_path, caplog
):
    """review55a M1: nothing in summary.json said which model it described, so one beside
    another model (copied in, or left by a train an earlier objrec was killed writing) was read
    as that model's. It names its model file's content digest: load_run refuses a summary of
    another, report leaves it out with a warning, check says it disagrees."""
    import objrec
    from objrec.check_run import check_run
    from objrec.errors import ObjrecError
    from objrec.model_file import model_digest
    from objrec.report import summary_read

    out = tmp_path / "run"
    result = train(split_dir, out, tiny_train_config(epochs=3))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model_digest"] == result.model_digest == model_digest(out)
    assert objrec.load_run(out).model_digest == model_digest(out)
    (out / "summary.json").write_text(json.dumps(summary | {"model_digest": "0" * 32}))
    with pytest.raises(ObjrecError) as refused:
        objrec.load_run(out)
    assert str(refused.value) == (
        f"{out / 'summary.json'} describes another model than {out / 'model.safetensors'} (a "
        "file copied in since, or a train killed as it wrote the run): its figures are not this "
        "model's; train the run again with `force=True`"
    )
    with caplog.at_level(logging.WARNING):
        assert summary_read(out, model_digest(out)) == {}
    assert "describes another model" in caplog.text
    [problem] = (checked := check_run(out)).problems
    assert problem.kind == "disagrees" and "model_digest" in problem.message
    assert checked.status == "unfinished"  # the model has no summary of its own
    del summary["model_digest"]  # a summary written before it named its model
    (out / "summary.json").write_text(json.dumps(summary))
    assert objrec.load_run(out).best_epoch == result.best_epoch


def test_load_run_gives_back_the_train_result_of_a_run_folder(split_dir, tmp_path):
    """A notebook opened the next day has the run folder only, and nothing documented turned it
    back into the `TrainResult` `train` returned: `objrec.load_run` does, every field equal
    (the history's numbers and flags read back as written), its repr saying what `classes` is
    counted as; a folder holding no run is refused, saying why."""
    import objrec
    from objrec.errors import ObjrecError

    result = train(split_dir, tmp_path / "run", tiny_train_config(epochs=3))
    loaded = objrec.load_run(tmp_path / "run")
    assert isinstance(loaded, objrec.TrainResult) and loaded == result
    assert loaded.history[0]["epoch"] == 1 and isinstance(loaded.history[0]["best"], bool)
    assert loaded.summary() == json.loads((tmp_path / "run" / "summary.json").read_text())
    assert repr(loaded).startswith(f"TrainResult(run={str(tmp_path / 'run')!r}, n_classes=3, ")
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        ObjrecError, match=r"empty holds no trained run: no summary.json \(`train` writes"
    ):
        objrec.load_run(tmp_path / "empty")

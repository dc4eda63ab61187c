"""torchrun with 2 CPU processes (gloo) against a single process with the same seed.

Tolerance: both runs make the same number of updates per epoch with the same global batch (each
rank takes batch/2) and DDP averages the gradients, so the only differences are which images share a
batch (DistributedSampler against one shuffled order) and the dropout masks. On a separable toy set
that leaves the per-epoch validation loss within 25% and the test accuracy within one image. A
group of one rank draws the batches of one process and trains as it does, to float rounding.

One real torchrun; the tests of what ranks refuse start their 2 ranks by hand
(:data:`RANKS_BY_HAND`), forked from one Python that imported PyTorch and objrec once.
"""

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from objrec.backbones import get_backbone
from objrec.checkpoint import read_checkpoint
from objrec.config import TrainConfig
from objrec.images import open_image
from objrec.inference import Recognizer
from objrec.run_files import BEST
from objrec.split.recipe import split_folder
from objrec.train import train
from objrec.views import ViewSpec

from .conftest import make_class_folder

ARGS = [
    "--backbone",
    "tiny_test",
    "--epochs",
    "8",
    "--patience",
    "100",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--aug-views",
    "1",
    "--seed",
    "3",
]


SINGLE = TrainConfig(
    backbone="tiny_test", epochs=8, patience=100, batch_size=8, lr=0.01, aug_views=1, seed=3
)
"""``ARGS`` as the command line gives them to ``train``."""

pytestmark = pytest.mark.slow  # torchrun: several processes, seconds each


def run(cmd, env):
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    errors = [line for line in done.stderr.splitlines() if "Error:" in line]
    assert done.returncode == 0, "\n".join([*errors, done.stderr[-2000:]])
    return done


LOGGING_AT_INFO = """
import logging, os
logging.basicConfig(level=logging.INFO, format=f"rank {os.environ['RANK']}: %(message)s")
"""
"""Logging set up at INFO, as a script calling objrec's functions sets it: ``objrec``'s own setup
then changes nothing (``basicConfig`` once), so every rank logs what the library says at INFO."""


@pytest.fixture(scope="module")
def split_data(tmp_path_factory) -> Path:
    """The module's folder, holding one split folder, ``data``, of 20 photos a class."""
    root = tmp_path_factory.mktemp("torchrun")
    split_folder(make_class_folder(root / "photos", per_class=20), root / "data", seed=0)
    return root


RANKS_BY_HAND = """
import os, signal, socket, sys, time, traceback
os.environ.setdefault("OMP_NUM_THREADS", "1")  # a thread each, as torchrun's ranks on 2 cores
import torch, objrec.cli, objrec.train  # once, before the ranks fork: seconds of CPU each

script, args = sys.argv[1], sys.argv[2:]
with socket.socket() as free:
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
ranks = []
for rank in range(2):
    pid = os.fork()
    if pid == 0:
        env = dict(RANK=rank, LOCAL_RANK=rank, WORLD_SIZE=2, LOCAL_WORLD_SIZE=2, MASTER_PORT=port)
        os.environ.update({name: str(value) for name, value in env.items()})
        os.environ["MASTER_ADDR"] = "127.0.0.1"
        sys.argv = [script, *args]
        code = 1
        try:
            exec(compile(open(script).read(), script, "exec"), {"__name__": "__main__"})
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except BaseException:
            traceback.print_exc()
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    ranks.append(pid)
codes, stop_at, grace = {}, None, float(os.environ.get("PET_MONITOR_INTERVAL", "0.1"))
while len(codes) < len(ranks):
    pid, status = os.waitpid(-1, os.WNOHANG)
    if pid:
        codes[pid] = os.waitstatus_to_exitcode(status)
        stop_at = stop_at or (time.monotonic() + grace if codes[pid] else None)
    elif stop_at and time.monotonic() > stop_at:
        for pid in set(ranks) - codes.keys():
            os.kill(pid, signal.SIGTERM)
        stop_at = float("inf")
    else:
        time.sleep(0.02)
sys.exit(next((code for code in codes.values() if code), 0))
"""
"""Two ranks of ``python SCRIPT ARGS``, started as torchrun starts them (its variables), by a
launcher that stops them as torchrun's agent does, with SIGTERM, once a rank failed: as late as
the agent would, which looks every ``PET_MONITOR_INTERVAL`` seconds (0.1 by default). The ranks
fork from one Python that imported PyTorch and objrec, where torchrun's agent and each rank
imported them: 3 imports of seconds of CPU each. The module's torchrun checks torchrun's own
part."""


def ranks_train(script: Path, data: Path, out: Path, epochs: int = 1) -> list[str]:
    """The command of ``objrec train data --out out`` with :data:`ARGS` for ``epochs`` epochs,
    started by :data:`RANKS_BY_HAND` as 2 ranks running ``script`` (which ends by calling
    objrec's CLI)."""
    command = [sys.executable, "-c", RANKS_BY_HAND, str(script), "train", str(data)]
    return [*command, "--out", str(out), *ARGS, "--epochs", str(epochs)]


@pytest.fixture(scope="module")
def calibrating_slowly(split_data) -> Iterator[tuple[subprocess.Popen, Path]]:
    """The 2 ranks of :data:`RANK_0_CALIBRATES_SLOWLY` (:func:`ranks_train`), started at once and
    left running: rank 1 waits the whole ``OBJREC_TORCHRUN_TIMEOUT`` (20 s) for rank 0, doing
    nothing, which the module's other ranks fill (its test, the module's last, reads it). The
    process and the file of its output; it is killed with its ranks if still running at the
    module's end."""
    import os
    import signal

    script = split_data / "rank_0_calibrates_slowly.py"
    script.write_text(RANK_0_CALIBRATES_SLOWLY)
    env = {
        **os.environ,
        "OBJREC_CACHE": str(split_data / "cache-slow"),
        "OBJREC_TORCHRUN_TIMEOUT": "20",
    }
    said = split_data / "slow.txt"
    with (
        said.open("w") as output,
        subprocess.Popen(
            ranks_train(script, split_data / "data", split_data / "slow"),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its ranks killed with it
        ) as process,
    ):
        yield process, said
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def started_first(request, fixture: str, test) -> None:
    """Start the module fixture ``fixture`` now where this session runs ``test``."""
    if any(getattr(item, "function", None) is test for item in request.session.items):
        request.getfixturevalue(fixture)


@pytest.fixture(scope="module")
def torchrun_and_single(request, split_data):
    """A single process's run of the split folder (in this process: a new one's start costs
    seconds) and one torchrun's of the same settings (2 ranks, :data:`RANK_1_ERRS`' ``objrec
    train``, logging at INFO): its three processes take seconds each to start, so the module's
    tests share it (xdist runs the module on one worker, ``xdist_groups``). The folder, the
    torchrun's output, and the training photos in the order the ranks list them. The ranks
    that wait out their timeout (``calibrating_slowly``) are started first, where they run."""
    import os

    waits = test_a_rank_that_waits_longer_than_the_timeout_for_rank_0_says_what_it_waited_for
    started_first(request, "calibrating_slowly", waits)
    root = split_data
    train_files = sorted((root / "data" / "train").rglob("*.*"))
    ddp_env = {
        **os.environ,
        "OBJREC_CACHE": str(root / "cache-ddp"),
        "VICTIM": str(train_files[0]),  # the first image: rank 0's share of the frozen pass
        "OTHER": str(next((root / "data" / "test").rglob("*.*"))),
    }
    with torch.random.fork_rng():
        train(root / "data", root / "single", replace(SINGLE, cache_dir=str(root / "cache-single")))
    script = root / "rank_1_errs.py"
    script.write_text(LOGGING_AT_INFO + RANK_1_ERRS)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", str(script), "train", str(root / "data")]
    return root, run([*command, "--out", str(root / "ddp"), *ARGS], ddp_env), train_files


def test_torchrun_trains_like_a_single_process_fills_the_store_once_and_only_rank_0_logs(
    torchrun_and_single,
):
    """Checked on the torchrun whose rank 1 hashes and lists with the errors of
    :data:`RANK_1_ERRS`, which every rank leaves for rank 0's hashes and listing (the test
    below): its run is the single process's."""
    root, ddp, _ = torchrun_and_single
    trains_like_a_single_process(root, ddp)
    the_sharded_frozen_pass_fills_the_same_store_once(root)
    only_rank_0_logs_that_it_writes_the_run(ddp)


def trains_like_a_single_process(root, ddp):
    assert ddp.stdout.count("model saved to") == 1  # only rank 0 speaks
    names = sorted(p.name for p in (root / "ddp").iterdir())
    assert names == [
        "config.json",
        "curves.png",
        "history.csv",
        "image_classes.csv",
        "model.safetensors",
        "seen_digests.csv",
        "summary.json",
    ]
    made = json.loads((root / "ddp" / "summary.json").read_text())["provenance"]  # rank 0's
    launched = ["torchrun", "--standalone", "--nproc-per-node", "2", str(root / "rank_1_errs.py")]
    assert made["command"][:6] == [*launched, "train"]  # as typed, --standalone too
    for record in ("seen_digests.csv", "image_classes.csv"):  # every image, whichever rank had it
        assert (root / "ddp" / record).read_text() == (root / "single" / record).read_text()
    _, single_meta = read_checkpoint(root / "single" / BEST)
    _, ddp_meta = read_checkpoint(root / "ddp" / BEST)
    import pandas as pd

    single_h, ddp_h = (
        pd.read_csv(root / "single" / "history.csv"),
        pd.read_csv(root / "ddp" / "history.csv"),
    )
    assert len(single_h) == len(ddp_h) == 8
    # Another batch order: the curves agree to a quarter, the last epochs' tiny losses to 0.005.
    assert np.allclose(ddp_h["valid_loss"], single_h["valid_loss"], rtol=0.25, atol=0.005)
    assert ddp_meta.classes == single_meta.classes
    single_right, ddp_right = (correct(root / run, root / "data") for run in ("single", "ddp"))
    assert abs(single_right - ddp_right) <= 1  # the test accuracy within one image


def test_a_group_of_one_trains_as_one_process_does(tmp_path, monkeypatch, caplog):
    """``torchrun --nproc-per-node 1`` (here a group of one in this process: the same
    ``process_group``, sharded frozen pass, DDP and sharded batches, without a launch) trains the
    head as one process of the same seed does, epoch for epoch; it read most images in another
    view (``batches.epoch_draws``), so only the 2-rank run's looser agreement was tested."""
    import socket

    split_folder(make_class_folder(tmp_path / "photos", per_class=10), tmp_path / "data", seed=0)
    config = replace(SINGLE, epochs=4, head_precision="fp32", cache_dir=str(tmp_path / "cache"))
    single = train(tmp_path / "data", tmp_path / "single", config)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    torchrun = {"WORLD_SIZE": 1, "RANK": 0, "LOCAL_RANK": 0, "LOCAL_WORLD_SIZE": 1}
    for name, value in {**torchrun, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}.items():
        monkeypatch.setenv(name, str(value))
    with caplog.at_level(logging.INFO, logger="objrec.distributed"):
        one_rank = train(tmp_path / "data", tmp_path / "one_rank", config)
    assert "rank 0 of 1 joined (gloo)" in caplog.messages
    for figure in ("train_loss", "train_acc", "valid_loss", "valid_acc"):
        ours, theirs = ([r[figure] for r in run.history] for run in (one_rank, single))
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, err_msg=figure)
    heads = [read_checkpoint(tmp_path / run / BEST)[0] for run in ("single", "one_rank")]
    for name, tensor in heads[0].items():
        torch.testing.assert_close(heads[1][name], tensor, rtol=1e-6, atol=1e-7)


def correct(run, data) -> int:
    """How many of ``data``'s test images the run answers right (the centre view, as
    ``evaluate``'s top-1 counts them), without the tables and figures ``evaluate`` writes."""
    recognizer = Recognizer.load(run)
    images, labels = [], []
    for label, name in enumerate(recognizer.classes):
        for path in sorted((data / "test" / name).iterdir()):
            images.append(open_image(path, recognizer.draft))
            labels.append(label)
    predicted = recognizer.probabilities(images).argmax(1)
    return int((predicted == torch.tensor(labels)).sum())


def stored_rows(cache):
    """(space, view, digest) -> features of every entry of a cache folder's store."""
    from objrec.store import FeatureStore

    with FeatureStore(cache / "store") as store:
        spaces = {
            sid: store.space(sid, dim, dtype)
            for sid, dim, dtype in store.db.execute("SELECT id, dim, dtype FROM spaces")
        }
        rows = store.db.execute("SELECT space, view, digest, row FROM entries").fetchall()
        return {(s, v, d): spaces[s].read(np.array([r]))[0] for s, v, d, r in rows}


def the_sharded_frozen_pass_fills_the_same_store_once(root):
    single, sharded = stored_rows(root / "cache-single"), stored_rows(root / "cache-ddp")
    assert single.keys() == sharded.keys()
    # the augmented view's key, named by new processes (their own hash seeds and id()s), as here
    augmented = ViewSpec(get_backbone("tiny_test").data_config, "article", 1).key
    assert {v for _, v, _ in sharded} == {"centre", augmented}
    for key, features in single.items():
        np.testing.assert_allclose(features, sharded[key], atol=1e-5)
    summaries = [json.loads((root / run / "summary.json").read_text()) for run in ("single", "ddp")]
    counts = [s["frozen_pass"] for s in summaries]
    assert counts[0]["computed"] == counts[1]["computed"] > 0  # each image by one rank only


def only_rank_0_logs_that_it_writes_the_run(ddp):
    """A script calling `train` under torchrun, logging at INFO: rank 1 logged 'trained RUN: best
    epoch N' and 'writing the run' too, though only rank 0 writes it; and every rank calibrated
    (the temperature, the unknown score's k-means: 'valid ECE' logged by each), though only rank
    0's calibration is written."""
    lines = [line for line in ddp.stderr.splitlines() if line.startswith("rank ")]  # logged
    for words in ("trained ", "writing the run", "valid ECE"):
        said = [line.split(":")[0] for line in lines if words in line]
        assert said == ["rank 0"], (words, said)


RANK_1_HASHES_ANOTHER_PHOTO = """
from objrec.file_index import hash_file
from objrec.store import FeatureStore

victim, other = Path(os.environ["VICTIM"]), hash_file(Path(os.environ["OTHER"]))
for name in ("digests", "readable_digests"):  # whichever objrec hashes with
    original = getattr(FeatureStore, name, None)
    if original is None or os.environ["RANK"] != "1":
        continue
    def hashed(self, paths, *args, original=original, **kwargs):
        result = original(self, paths, *args, **kwargs)
        for i, path in enumerate(paths):
            if Path(path) == victim:
                result[0][i] = other  # the photo was replaced before this rank read it
        return result
    setattr(FeatureStore, name, hashed)
"""
"""Rank 1 (only) hashes the training photo ``VICTIM`` as ``OTHER``'s bytes, as if the user
replaced it after rank 0 hashed it."""

RANK_1_LISTS_A_MOVED_PHOTO = """
from objrec.data import Sample

frozen_pass = importlib.import_module("objrec.train_features")  # listed_split's module
scan = frozen_pass.scan_class_folder
def moved(folder, *args):
    listed = scan(folder, *args)
    if os.environ["RANK"] != "1" or folder.name != "train":
        return listed
    samples = list(listed.samples)  # listed a moment later: one photo moved from class 0 to 1
    first = next(s for s in samples if s.label == 0)
    samples.remove(first)
    samples.insert(next(i for i, s in enumerate(samples) if s.label == 1), Sample(first.path, 1))
    return replace(listed, samples=tuple(samples))
frozen_pass.scan_class_folder = moved
"""
"""Rank 1 (only) lists the split's ``train/`` as if a photo of the first class were moved into
the second after rank 0 listed it."""

RANK_1_ERRS = f"""
import importlib, os, sys
from dataclasses import replace
from pathlib import Path

recipe = importlib.import_module("objrec.train")
{RANK_1_HASHES_ANOTHER_PHOTO}
{RANK_1_LISTS_A_MOVED_PHOTO}
stack_views = recipe.stack_views
def said(tables, world):
    stack = stack_views(tables, world)
    if len(tables) == 2:  # the training stack (centre and augmented views), not validation's
        pairs = sorted(zip(tables[0].digests, tables[0].labels.tolist()))
        stacked = f"rank {{world.rank}} trains on {{stack.index.tolist()}} labels {{pairs}}"
        sys.stderr.write(stacked + "\\n")  # one write
    return stack
recipe.stack_views = said

from objrec.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``objrec`` in a process that says, for each rank, which images its training stack holds and
each one's (digest, label), with both of rank 1's errors above."""


def test_under_torchrun_every_rank_trains_on_rank_0_s_hashes_and_listing(torchrun_and_single):
    """The torchrun whose rank 1 hashes one photo as another's bytes and lists another class for
    one, checked for each: every rank trains on the images rank 0 hashed, with the labels rank 0
    listed."""
    root, ddp, train_files = torchrun_and_single
    stacks = sorted(line for line in ddp.stderr.splitlines() if " trains on " in line)
    assert len(stacks) == 2, ddp.stderr[-2000:]
    every_rank_trains_on_the_images_rank_0_hashed(root, stacks, train_files)
    every_rank_trains_on_the_same_listing_as_rank_0(stacks)


def every_rank_trains_on_the_images_rank_0_hashed(root, stacks, train_files):
    """Each rank hashed every file itself: a photo replaced as the run started gave the ranks
    different training sets (rank 0 trained on 60 images, rank 1 on 59, exit 0; different step
    counts would hang DistributedDataParallel), and each rank read every new file."""
    images = [line.split(" trains on ")[1].split(" labels ")[0] for line in stacks]
    assert images[0] == images[1], stacks
    assert images[0] == f"{list(range(len(train_files)))}"  # the victim too
    listed = len(train_files) + len(list((root / "data" / "valid").rglob("*.*")))
    counts = json.loads((root / "ddp" / "summary.json").read_text())["frozen_pass"]
    assert counts["hashed"] == listed and counts["n_unreadable"] == 0  # each file read once


def every_rank_trains_on_the_same_listing_as_rank_0(stacks):
    """Each rank listed the split itself and paired the listing with rank 0's digests: a photo
    moved between the listings was trained by rank 1 under another class's label (1 of 12), exit
    0 (removed: a ValueError traceback)."""
    labels = [line.split(" labels ")[1] for line in stacks]
    assert labels[0] == labels[1], stacks


RANK_0_CALIBRATES_SLOWLY = """
import importlib, os, sys, time

recipe = importlib.import_module("objrec.train")
if os.environ["RANK"] == "0":
    def slowly(*args, **kwargs):
        time.sleep(600)  # until torchrun stops it, once rank 1 has given up
    recipe.fit_confidence = slowly

from objrec.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``objrec`` in a process whose rank 0 calibrates for 10 minutes."""


A_CACHE_EACH = """
import os, sys

os.environ["OBJREC_CACHE"] = os.environ["CACHES"] + os.environ["RANK"]  # as two nodes' disks
from objrec.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``objrec`` in a process whose cache folder is its rank's own."""


def refused(root: Path, script: str, name: str, env: dict[str, str], epochs: int = 1) -> str:
    """What the 2 ranks of ``script`` (written as ``root / name``.py) training the module's split
    folder into ``root / name`` for ``epochs`` epochs said on stderr, as one line: they must fail
    (started by :data:`RANKS_BY_HAND`)."""
    import contextlib
    import os
    import signal

    path = root / f"{name}.py"
    path.write_text(script)
    with subprocess.Popen(
        ranks_train(path, root / "data", root / name, epochs),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as process:
        try:
            said = " ".join(process.communicate(timeout=300)[1].split())  # as one line
        finally:
            with contextlib.suppress(ProcessLookupError):  # its ranks, had one not stopped
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0, said[-3000:]
    return said


def test_ranks_that_do_not_share_the_cache_folder_are_refused_in_one_sentence(split_data):
    """Two ranks, each with its own cache folder (two nodes, each with its own ~/.cache) trained
    on half the images and exited 0: each computed its share into its own store, found the
    other's share missing, and called it "unreadable" because "another torchrun rank could not
    read it" (review56a H1)."""
    import os

    root = split_data
    said = refused(root, A_CACHE_EACH, "apart", {**os.environ, "CACHES": str(root / "cache-rank")})
    assert (
        f"error: the torchrun ranks do not share one cache folder (rank 1 uses the feature store "
        f"{root / 'cache-rank1' / 'store'}, which lacks the mark rank 0 left in "
        f"{root / 'cache-rank0' / 'store'}): point OBJREC_CACHE or --cache-dir at one folder on "
        "a disk every rank reads" in said
    ), said[-3000:]
    assert "unreadable" not in said and "did not expect" not in said


RANK_1_LACKS_THE_DATA = """
import builtins, io, os, sys

if os.environ["RANK"] == "1":  # a machine on which the data folder is not at rank 0's path
    data, real = os.environ["DATA"], io.open
    def lacking(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file).startswith(data):
            raise FileNotFoundError(2, "No such file or directory", os.fspath(file))
        return real(file, *args, **kwargs)
    builtins.open = io.open = lacking
from objrec.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``objrec`` in a process whose rank 1 cannot open a file of the data folder ``DATA``."""


def test_a_rank_that_does_not_see_the_data_folder_is_refused_naming_it(split_data):
    """review61b M3: a rank on a machine without the data folder at rank 0's path found its
    whole share of the frozen pass unreadable, and the run trained on rank 0's share, warning of
    unreadable files that a check on rank 0's machine does not find: refused now, as ranks apart
    on the cache folder are, naming the rank and a file it cannot read."""
    import os

    root = split_data
    env = {**os.environ, "DATA": str(root / "data"), "OBJREC_CACHE": str(root / "cache-lacks")}
    said = refused(root, RANK_1_LACKS_THE_DATA, "lacks", env)
    assert (
        f"error: torchrun rank 1 does not see the images rank 0 listed as rank 0 does "
        f"({root / 'data' / 'train'}" in said
    ), said[-3000:]
    assert (
        ": cannot read the file (No such file or directory)): every machine must see the data "
        "folder at the same path, with the same files" in said
    )
    assert "unreadable" not in said


OTHER_DECODERS = """
import os, sys
if os.environ["RANK"] == "1":  # as a machine with another Pillow and libjpeg-turbo
    from objrec import features, view_keys
    other = lambda: "Pillow 99.0 libjpeg-turbo 9.9 torchvision 0.99"
    features.pixel_makers = view_keys.pixel_makers = other
from objrec.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``objrec`` in a process whose rank 1 keys the pixels by other decoders' versions."""


def test_ranks_that_would_key_their_features_apart_are_refused_naming_what_differs(split_data):
    """A rank with other decoders' versions (another machine's Pillow) wrote its share under a
    space of its own, and rank 0 failed later saying the store's index "was removed or replaced
    meanwhile by something other than objrec" (review60a L2)."""
    import os

    env = {**os.environ, "OBJREC_CACHE": str(split_data / "cache-apart")}
    said = refused(split_data, OTHER_DECODERS, "keyed", env)
    assert (
        "error: torchrun rank 1 would keep its features apart from rank 0's, which would not find "
        "them: it differs in what decodes the pixels (Pillow 99.0 libjpeg-turbo 9.9 torchvision "
        "0.99; rank 0: Pillow " in said
    ), said[-3000:]
    assert "removed or replaced" not in said


RANK_0_FAILS = """
import importlib, os, sys
from objrec.errors import ObjrecError

recipe = importlib.import_module("objrec.train")
if os.environ["RANK"] == "0":
    def failing(*args, **kwargs):
        raise ObjrecError("rank 0 cannot calibrate (planted)")
    recipe.fit_confidence = failing
from objrec.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``objrec`` in a process whose rank 0 fails alone as it calibrates, rank 1 waiting for it."""


def test_a_rank_whose_peer_failed_alone_stops_at_once_saying_so(split_data):
    """review61b L3: a rank that failed alone left rank 1 to say gloo's "Connection closed by
    peer" as "an error objrec did not expect, a bug". The other ranks stop within a second of
    its end, saying what they waited for, whether or not a launcher stops them: torchrun's agent
    looks every 5 s here (``PET_MONITOR_INTERVAL``; 0.1 s by default), the launcher here stops
    them as late (:data:`RANKS_BY_HAND`), as one without an agent (ranks started by hand, a
    Kubeflow pod) never does, and the wait is the default 3 hours."""
    import os

    env = {**os.environ, "OBJREC_CACHE": str(split_data / "cache-fails")}
    said = refused(split_data, RANK_0_FAILS, "fails", {**env, "PET_MONITOR_INTERVAL": "5"})
    assert "error: rank 0 cannot calibrate (planted)" in said, said[-3000:]
    assert (
        "rank 1 of 2: error: another rank ended while this rank waited for rank 0 calibrating "
        "and writing the run: its own error says why, and this rank stops with it" in said
    ), said[-3000:]
    assert "did not expect" not in said and "stopped by torchrun" not in said


DIVERGES_AT_EPOCH_2 = """
import importlib, os, sys, time

engine, recipe = importlib.import_module("objrec.engine"), importlib.import_module("objrec.train")
finite, keep = engine.require_finite, recipe.keep_best_so_far
def planted(epoch, train, valid):  # on every rank, as the all-reduced losses decide it
    if epoch == 2:
        raise engine.Diverged(epoch, "validation", float("nan"))
    finite(epoch, train, valid)
def slowly(*args, **kwargs):
    time.sleep(2)  # as the default head's keep: its state read back, its model written
    return keep(*args, **kwargs)
engine.require_finite, recipe.keep_best_so_far = planted, slowly
from objrec.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""``objrec`` in a process whose loss diverges at epoch 2, rank 0 keeping the run slowly."""


def test_a_loss_diverged_under_torchrun_keeps_the_best_model_and_every_rank_says_so_alike(
    split_data,
):
    """review64a M1: under torchrun a diverged loss made every rank raise at once; rank 1 exited,
    torchrun stopped rank 0 (SIGTERM) as it wrote the run so far, and the best model was lost,
    rank 1's advice (no ``--force``) refused by the folder it left. The other ranks now wait for
    rank 0 to keep the run, and say its words (L2: rank 1's sentence differed)."""
    import os

    root = split_data
    env = {**os.environ, "OBJREC_CACHE": str(root / "cache-diverges")}
    said = refused(root, DIVERGES_AT_EPOCH_2, "diverges", env, epochs=3)
    out = root / "diverges"
    sentence = (
        "error: the validation loss is NaN at epoch 2: training diverged; the best model before "
        f"it (epoch 1) is in {out / BEST}; start it again with a lower --lr than 0.01 and --force"
    )
    assert sentence in said, said[-3000:]
    assert (out / BEST).is_file(), sorted(p.name for p in out.iterdir())
    assert said.count("training diverged") == said.count(sentence), said[-3000:]
    assert "stopped by torchrun" not in said


def test_a_rank_that_waits_longer_than_the_timeout_for_rank_0_says_what_it_waited_for(
    calibrating_slowly,
):
    """Rank 1 waits for rank 0's calibration and writing of the run at most
    OBJREC_TORCHRUN_TIMEOUT seconds, and says so in one sentence: it waited torch's default, 30
    minutes on gloo (10 on NCCL), then said "objrec train stopped on an error objrec did not
    expect, a bug: RuntimeError: ... Timed out", as a training of hours ended. The module's
    last test: its torchrun ran beside the others (``calibrating_slowly``)."""
    process, output = calibrating_slowly
    assert process.wait(timeout=300) != 0
    said = " ".join(output.read_text().split())  # as one line, however the terminal wrapped it
    assert (
        "rank 1 of 2: error: this rank waited 2" in said  # 20.0 s or a little more
        and "s for rank 0 calibrating and writing the run, as long as OBJREC_TORCHRUN_TIMEOUT "
        "(20 seconds) lets the ranks wait for each other: set it higher where torchrun starts, "
        "OBJREC_TORCHRUN_TIMEOUT=80 for four times as long"
        in said
    ), said[-3000:]
    assert "did not expect" not in said

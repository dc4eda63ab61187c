"""A warm retrain's fixed costs, before and after, side by side in one process.

    OBJREC_CACHE=C python benchmarks/fixed_costs.py --data /work/splits/s0 [--repeats 7] \
        [--steps NAME ...]

Needs a store holding every feature of DATA and the int8 graph of the default body (run one
``objrec train DATA`` first). Times, taking turns, medians of ``--repeats``:

* ``int8 lookup``: finding the cached int8 body as ``train.int8_body`` did before (``quantize_body``
  twice, each opening the cached graph in ONNX Runtime to check it) and as it does now (once,
  the graph remembered whole in the store);
* ``validation scores``: the default unknown score (``mahalanobis+knn``) standardised on the
  validation images and then scored on them again, as ``fit_confidence`` did, against the scores
  kept from the standardising (``SumScore.standardised_scores``); the scores are checked equal;
* ``training state write`` and ``model write``: ``last.safetensors`` (the default head's training
  state after a step: head, best head, Adam's moments) and ``model.safetensors`` written as
  before (``save``'s bytes, then ``atomic_write``) and now (``checkpoint.atomic_save``: safetensors'
  ``save_file``); the files' bytes are checked equal.
* ``openvino load``: the int8 body's OpenVINO session for train's batches of 16, from a warm
  compiled-graph folder, to its first batch's features: before, the graph read from its bytes,
  its batch fixed and compiled through ``CACHE_DIR`` (OpenVINO hashing the graph for the key);
  then a batch of zeros run once; now (``OpenVinoModel._compile_saved``), compiled from the graph
  saved with its batch fixed, whose path is the key, the first batch its first run. The features
  are checked equal, bit for bit.
* ``fingerprints``: the two fingerprints a warm retrain computes (the float body's, to find its
  int8 graph, and the int8 body's, the store's key, which holds the float body again), each
  tensor's bytes copied to hash them (``tobytes``, before) and hashed where they lie
  (``bodies.fingerprint_module``, now); the digests are checked equal.
* ``bodies``: the default backbone's bodies built from their weight files as before (each Lite
  body initialised at random, then ``load_state_dict`` copying the file's tensors into it) and
  now (``backbones.build_body``: built on the meta device, the file's tensors its own); the
  fingerprints are checked equal.
* ``imports``: a new Python importing ``objrec.cli`` and ``objrec.train``, as ``objrec train``
  does before its work, with (before) and without (now) what a train does not run: ``check``
  (``--strict``'s), ``near_pairs`` and ``split.source`` (``cache --prune``'s), which they
  imported until ``train`` and ``cache`` imported them where they are used.
* ``run files``: ``runs.write_run`` of the split's model and an 18-epoch history into a folder,
  ``curves.png`` drawn in the calling thread after the model's write (before) and in a thread of
  its own while the model is written (now); the files are checked equal. Here matplotlib is
  imported once for both; a train imports it in that thread too.
* ``listing``: the split's training and validation images listed as ``train`` lists them
  (``data.scan_class_folder``), sorted by each path's parts taken from a path made again from it
  (``Path(path).parts``, before) and from the path itself (``listing.path_order``, now); the
  listings are checked equal.
* ``class sample``: the default score's class sample of the training images' centre view
  (``feature_stream.class_sample``, 64 images a class by seeded keys) as before (each row a class
  keeps copied into slots of its class, zeroed first, then gathered class by class and joined)
  and now (the kept images' positions, then their rows read once); the samples are checked equal.
* ``lookups``: the training images' tables of their centre and augmented views from the store
  (``features.feature_table``), each view looking up every file in the store's file index itself
  (before) and the files looked up once for both (now, ``features.digested_for_each_view``);
  the tables' digests and rows are checked equal.

Prints the wall and CPU seconds (user and system, all threads and child processes:
``os.times``) and the ratio of now to before. PyTorch's and OpenBLAS's idle threads sleep as in
``objrec`` (``cores.wait_passively``; before session 48 they spun here). Run it under the CPU
lock.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import hashlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from unittest import mock

from objrec.cores import wait_passively

wait_passively(os.environ)  # before PyTorch and NumPy start their threads, as ``objrec`` does

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _sampling import SPLIT, SPLIT_HELP, timed  # noqa: E402

from objrec import (  # noqa: E402
    checkpoint,
    confidence,
    feature_stream,
    listing,
    resume_state,
    run_record,
    runs,
    unknown_scores,
)
from objrec.batches import CALIBRATION_BATCH  # noqa: E402
from objrec.bodies import fingerprint_module  # noqa: E402
from objrec.cache import open_cache  # noqa: E402
from objrec.config import TrainConfig  # noqa: E402
from objrec.data import scan_class_folder  # noqa: E402
from objrec.distributed import SINGLE  # noqa: E402
from objrec.engine import EarlyStopping, FitState  # noqa: E402
from objrec.features import digested_for_each_view, feature_table  # noqa: E402
from objrec.frozen import FrozenBody  # noqa: E402
from objrec.int8_body import int8_engine  # noqa: E402
from objrec.openvino_runtime import OpenVinoModel  # noqa: E402
from objrec.precision import settle_head_precision, settle_precision  # noqa: E402
from objrec.progress import SILENT  # noqa: E402
from objrec.quantize import quantize_body  # noqa: E402
from objrec.run_files import BEST  # noqa: E402
from objrec.train import head_optimizer, prepare, run_meta  # noqa: E402
from objrec.views import ViewSpec  # noqa: E402


def lookups(prep, model, config: TrainConfig):
    """Finding the int8 body before (twice, no store) and now (once, the store's memo)."""
    body, root = model.body.float_body, open_cache(config.cache_dir).root
    engine, store = config.int8_engine, open_cache(config.cache_dir).store
    before = lambda: [quantize_body(body, prep.data, root, engine=engine) for _ in range(2)]  # noqa: E731
    now = lambda: quantize_body(body, prep.data, root, engine=engine, store=store)  # noqa: E731
    now()  # the graph remembered, as after any earlier train
    return before, now


def scorings(prep, model, config: TrainConfig):
    """The validation images' scores before (standardise, then score again) and now."""
    with torch.inference_mode():  # the stored rows, read as calibrate reads them
        raw = unknown_scores.fit_feature_score_batches(
            config.unknown_score,
            lambda: prep.train.batches(CALIBRATION_BATCH),
            **unknown_scores.SCORE_OPTIONS[config.unknown_score],
        )
    if not isinstance(raw, unknown_scores.SumScore):
        raise SystemExit(f"{config.unknown_score}: the default score is no longer a sum to time")
    valid = lambda: prep.valid.batches(CALIBRATION_BATCH)  # noqa: E731
    head = model.head

    @torch.inference_mode()
    def before():
        raw.standardise(valid)
        return confidence.valid_outputs(head, valid, raw)[2]

    @torch.inference_mode()
    def now():
        kept = raw.standardised_scores(valid, confidence.SCORE_CHUNK)
        return confidence.valid_outputs(head, valid, raw, kept)[2]

    assert torch.equal(before(), now()), "the scores differ"
    return before, now


def written_state(prep, model, config: TrainConfig, data: Path):
    """The default head's training state after one Adam step, as ``EpochSaver`` hands it over,
    and the model with the run's meta, as ``write_run`` saves it."""
    head, meta = model.head, run_meta(prep, model, config, data)
    optimizer = head_optimizer(head, config)
    x = next(iter(prep.valid.batches(128)))[0]
    head(x).sum().backward()
    optimizer.step()
    state = FitState(stopper=EarlyStopping(5), best_state=copy.deepcopy(head.state_dict()))
    return resume_state.training_state(head, optimizer, state, meta), meta


def writes(prep, model, config: TrainConfig, data: Path, which: str):
    """Writing ``last.safetensors`` (``which="state"``) or ``model.safetensors`` before (the
    bytes of safetensors' ``save``, then ``atomic_write``) and now (``atomic_save``)."""
    (tensors, header), meta = written_state(prep, model, config, data)
    if which == "model":
        tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        header = {"objrec": checkpoint.json.dumps(meta.to_json())}
    folder = Path(tempfile.mkdtemp(prefix="fixed-costs-"))
    atexit.register(shutil.rmtree, folder, True)
    old, new = folder / "before.safetensors", folder / "now.safetensors"
    before = lambda: checkpoint.atomic_write(old, checkpoint.save(tensors, metadata=header))  # noqa: E731
    now = lambda: checkpoint.atomic_save(new, tensors, header)  # noqa: E731
    before(), now()
    assert old.read_bytes() == new.read_bytes(), "the files differ"
    return before, now


def openvino_loads(prep, model, config: TrainConfig):
    """The first batch's features through a new OpenVINO session before and now."""
    graph = model.body.graph_bytes()
    folder = open_cache(config.cache_dir).compiled_dir
    x = torch.randn(16, 3, prep.data.input_size, prep.data.input_size)

    def before():
        session = OpenVinoModel(graph, cache=None)  # reads the graph from its bytes
        settings = {**session.settings, "CACHE_DIR": str(folder)}
        compiled = session.core.compile_model(session.static(16), "CPU", settings)
        request = compiled.create_infer_request()
        request.infer({0: np.zeros(tuple(x.shape), np.float32)})
        return torch.from_numpy(np.array(request.infer({0: x.numpy()})[0]))

    now = lambda: OpenVinoModel(graph, cache=folder)(x)  # noqa: E731
    assert torch.equal(before(), now()), "the features differ"
    return before, now


def copied_fingerprint(module: torch.nn.Module) -> str:
    """``fingerprint_module`` as it was before: each tensor's bytes copied, then hashed."""
    digest = hashlib.sha256(repr(module).encode())
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def fingerprints(model):
    """The float body's and the int8 body's fingerprints, before (copied) and now."""
    bodies = (model.body.float_body, model.body)
    before = lambda: [copied_fingerprint(body) for body in bodies]  # noqa: E731
    now = lambda: [fingerprint_module(body) for body in bodies]  # noqa: E731
    assert before() == now(), "the fingerprints differ"
    return before, now


def built_bodies(config: TrainConfig):
    """The default backbone's bodies built as before (at random, then the file's weights copied
    in) and now (``build_body``)."""
    from efficientnet_lite_pytorch import EfficientNet

    from objrec.backbones import build_body, get_backbone
    from objrec.bodies import ConcatBody, LiteBody, lite_weights_file, load_into, load_state_file

    def lite(variant: int) -> LiteBody:
        body = LiteBody(EfficientNet.from_name(f"efficientnet-lite{variant}"))
        path = lite_weights_file(variant)
        state = {k: v for k, v in load_state_file(path).items() if not k.startswith("_fc.")}
        load_into(body.net, state, str(path))
        return body

    variants = [int(name.removeprefix("efficientnet_lite")) for name in config.backbone.split("+")]
    before = lambda: ConcatBody([lite(v) for v in variants])  # noqa: E731
    now = lambda: build_body(get_backbone(config.backbone))  # noqa: E731
    assert fingerprint_module(before()) == fingerprint_module(now()), "the bodies differ"
    return before, now


def imports():
    """A new Python's imports of a train's start, with the modules it no longer imports (before)
    and without them (now)."""
    train = "import objrec.cli, objrec.train"
    earlier = f"{train}, objrec.check, objrec.near_pairs, objrec.split.source"
    before = lambda: subprocess.run([sys.executable, "-c", earlier], check=True)  # noqa: E731
    now = lambda: subprocess.run([sys.executable, "-c", train], check=True)  # noqa: E731
    return before, now


class InCallingThread:
    """An executor running each call at once, in the calling thread: ``write_run`` drew its
    curves so, after the model's write."""

    def __init__(self, *args):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def submit(self, function, *args) -> Future:
        done: Future = Future()
        done.set_result(function(*args))
        return done


def run_files(prep, model, config: TrainConfig, data: Path):
    """``write_run`` of the split's model and an 18-epoch history: its curves drawn after the
    model's write (before) and beside it (now)."""
    meta, stopper, history = run_meta(prep, model, config, data), EarlyStopping(5), []
    for epoch in range(1, 19):
        loss = 1 / epoch + 0.01 * (epoch > 13)
        stopper.step(loss, epoch)
        history.append({"epoch": epoch, "train_loss": loss, "train_acc": 1 - loss / 2})
        history[-1] |= {"valid_loss": loss, "valid_acc": 1 - loss / 2, "seconds": 0.25}
    state = FitState(stopper=stopper, epoch=18, history=history)
    folder = Path(tempfile.mkdtemp(prefix="fixed-costs-"))
    atexit.register(shutil.rmtree, folder, True)
    old, new = folder / "before", folder / "now"
    record = run_record.RunRecord()
    now = lambda: runs.write_run(new, model, config, meta, state, record)  # noqa: E731

    def before():
        with mock.patch.object(runs, "ThreadPoolExecutor", InCallingThread):
            runs.write_run(old, model, config, meta, state, record)

    old.mkdir()
    new.mkdir()
    before()
    now()
    for name in (BEST, "curves.png", "history.csv"):
        assert (old / name).read_bytes() == (new / name).read_bytes(), f"the {name} differ"
    return before, now


def listings(data: Path):
    """The split's train and valid images listed, each path's sort key made from a new path
    (before) and from the path itself (now)."""
    now_order = listing.path_order

    def listed():
        train = scan_class_folder(data / "train")
        return train, scan_class_folder(data / "valid", train.classes)

    def before():
        listing.path_order = lambda path: Path(path).parts
        try:
            return listed()
        finally:
            listing.path_order = now_order

    assert before() == listed(), "the listings differ"
    return before, listed


class RowSample:
    """``feature_stream.ClassSample`` as it was before: each kept row copied into slots of its class
    (zeroed first), then gathered class by class and joined."""

    def __init__(self, per_class: int):
        self.per_class = per_class
        self.keys = torch.full((0, per_class), math.inf)  # inf: an empty slot
        self.rows: list[torch.Tensor | None] = []

    def add(self, x: torch.Tensor, y: torch.Tensor, keys: torch.Tensor) -> None:
        n_classes = int(y.max()) + 1 if len(y) else 0
        if n_classes > len(self.keys):
            grown = torch.full((n_classes - len(self.keys), self.per_class), math.inf)
            self.keys = torch.cat([self.keys, grown])
            self.rows += [None] * len(grown)
        present = y.unique()
        n_slots = len(present) * self.per_class
        candidates = torch.cat([self.keys[present].flatten(), keys])
        owner = torch.cat([present.repeat_interleave(self.per_class), y])
        order = candidates.argsort(stable=True)
        order = order[owner[order].argsort(stable=True)]  # by class, then by key
        starts = torch.cumsum(torch.bincount(owner), 0) - torch.bincount(owner)
        kept = torch.zeros(len(candidates), dtype=torch.bool)
        kept[order] = torch.arange(len(order)) - starts[owner[order]] < self.per_class
        freed = (~kept[:n_slots]).nonzero().squeeze(1)  # class by class, as ``present``
        taken = kept[n_slots:].nonzero().squeeze(1)
        taken = taken[y[taken].argsort(stable=True)]  # as many per class as freed slots
        classes, slots = present[freed // self.per_class], freed % self.per_class
        self.keys[classes, slots] = keys[taken]
        for c, slot, i in zip(classes.tolist(), slots.tolist(), taken.tolist(), strict=True):
            rows = self.rows[c]
            if rows is None:
                rows = self.rows[c] = x.new_zeros(self.per_class, x.shape[1])
            rows[slot] = x[i]

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for c, rows in enumerate(self.rows):
            if rows is None:
                continue
            order = self.keys[c].argsort()[: int(self.keys[c].isfinite().sum())]
            xs.append(rows[order])
            ys.append(torch.full((len(order),), c, dtype=torch.long))
        return torch.cat(xs), torch.cat(ys)


def row_sample(batches, per_class: int = feature_stream.CLASS_SAMPLE, seed: int = 0):
    """``feature_stream.class_sample`` as it was before, on :class:`RowSample`."""
    g = torch.Generator().manual_seed(seed)
    sample = RowSample(per_class)
    for features, labels in batches():
        sample.add(feature_stream.normalise(features), labels, torch.rand(len(labels), generator=g))
    return sample.result()


def class_samples(prep):
    """The default score's class sample of the training images' centre view, before (each kept
    row copied into its class's slots, then gathered) and now (positions kept, the rows read
    once)."""
    batches = lambda: prep.train.batches(CALIBRATION_BATCH)  # noqa: E731 (as calibrate reads them)
    before = lambda: row_sample(batches)  # noqa: E731
    now = lambda: feature_stream.class_sample(batches)  # noqa: E731
    (old, old_y), (new, new_y) = before(), now()
    assert torch.equal(old, new) and torch.equal(old_y, new_y), "the samples differ"
    return before, now


def table_lookups(prep, model, config: TrainConfig, data: Path):
    """The training images' tables of the centre and augmented views, from the store, each view
    looking up every file itself (before) and the files looked up once for both (now)."""
    folder = scan_class_folder(data / "train")
    cache = open_cache(config.cache_dir, config.feature_dtype)
    body = FrozenBody(model.body, prep.data.input_size, cache, name=config.backbone)
    specs = [ViewSpec(prep.data, config.augment if v else "none", v) for v in (0, 1)]
    before = lambda: [feature_table(body, folder.samples, spec) for spec in specs]  # noqa: E731

    def now():
        digested = digested_for_each_view(cache.store, folder.samples, len(specs))
        return [
            feature_table(body, folder.samples, spec, digested=digests)
            for spec, digests in zip(specs, digested, strict=True)
        ]

    rows = lambda tables: [(t.digests, t.rows.tolist()) for t in tables]  # noqa: E731
    assert rows(before()) == rows(now()), "the tables differ"
    return before, now


def steps(prep, model, config: TrainConfig, data: Path, names: list[str]) -> dict:
    """The steps ``names`` asked for, each its (before, now) pair."""
    made = {
        "int8 lookup": lambda: lookups(prep, model, config),
        "validation scores": lambda: scorings(prep, model, config),
        "training state write": lambda: writes(prep, model, config, data, "state"),
        "model write": lambda: writes(prep, model, config, data, "model"),
        "openvino load": lambda: openvino_loads(prep, model, config),
        "fingerprints": lambda: fingerprints(model),
        "bodies": lambda: built_bodies(config),
        "imports": imports,
        "run files": lambda: run_files(prep, model, config, data),
        "listing": lambda: listings(data),
        "class sample": lambda: class_samples(prep),
        "lookups": lambda: table_lookups(prep, model, config, data),
    }
    return {name: made[name]() for name in names or made}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each")
    parser.add_argument("--steps", nargs="*", default=[], help="the steps to time (default: all)")
    args = parser.parse_args()
    config, _ = settle_precision(TrainConfig(), SINGLE)
    config = replace(config, int8_engine=int8_engine(config.int8_engine))
    config, _ = settle_head_precision(config, SINGLE, False)
    prep, live = prepare(args.data, config, SILENT)
    for name, (before, now) in steps(prep, live.model, config, args.data, args.steps).items():
        times: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
        for _ in range(args.repeats):
            times["before"].append(timed_cpu(before))
            times["now"].append(timed_cpu(now))
        (old, old_cpu), (new, new_cpu) = (
            (statistics.median(t[0] for t in times[k]), statistics.median(t[1] for t in times[k]))
            for k in ("before", "now")
        )
        print(
            f"{name}: before {old:.3f} s ({old_cpu:.3f} s CPU), now {new:.3f} s ({new_cpu:.3f} s "
            f"CPU): {new / old:.2f} wall, {new_cpu / old_cpu:.2f} CPU, medians of {args.repeats}"
        )


def timed_cpu(work) -> tuple[float, float]:
    """Wall and CPU seconds (this process's, all its threads, and its child processes') of
    ``work()``."""
    cpu = cpu_seconds()
    wall = timed(work)
    return wall, cpu_seconds() - cpu


def cpu_seconds() -> float:
    """User and system seconds of this process and its child processes so far."""
    spent = os.times()
    return spent.user + spent.system + spent.children_user + spent.children_system


if __name__ == "__main__":
    main()

"""The int8 frozen pass: calibrated, cached, carried by the checkpoint, and the same everywhere."""

import ast
import importlib
import json
import logging
import re
import shutil
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch

from objrec import openvino_runtime
from objrec.audit.recipe import AuditConfig, audit
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.bodies import fingerprint_module
from objrec.cache import FeatureCache
from objrec.cache_folder import default_cache_dir
from objrec.checkpoint import load_model
from objrec.config import DEFAULT_BACKBONE, TrainConfig
from objrec.data import scan_class_folder
from objrec.errors import Interrupted, ObjrecError
from objrec.evaluate import evaluate
from objrec.export.exporter import export_model
from objrec.frozen import FrozenBody
from objrec.inference import Recognizer
from objrec.int8_body import QuantizedBody
from objrec.openvino_runtime import OpenVinoModel
from objrec.ort_quantizer import quantization_api
from objrec.precision import Settled, auto_precision, int8_dot_product
from objrec.quantize import (
    QUANTIZE_STEPS,
    QUANTIZING,
    WRITE_STEPS,
    CopyStopped,
    QuantConfig,
    calibration_sample,
    calibration_set,
    kept_nodes,
    quantize_body,
)
from objrec.runtime import export_onnx, onnx_session
from objrec.train import train
from objrec.train_features import body_name

from .conftest import TaskRecorder, make_image


@pytest.fixture
def tiny():
    spec = get_backbone("tiny_test")
    return build_body(spec).eval(), resolve_data_config(spec)


@pytest.mark.slow
def test_the_int8_body_is_cached_under_a_key_that_covers_the_calibration(tmp_path, split_dir, tiny):
    body, data = tiny
    first = quantize_body(body, data, tmp_path)
    graphs = sorted((tmp_path / "onnx").glob("*int8*.onnx"))
    assert len(graphs) == 1
    again = quantize_body(body, data, tmp_path)
    assert again.graph_bytes() == first.graph_bytes()
    assert sorted((tmp_path / "onnx").glob("*int8*.onnx")) == graphs
    quantize_body(body, data, tmp_path, QuantConfig(calibration_images=4))
    samples = scan_class_folder(split_dir / "train").samples
    quantize_body(body, data, tmp_path, samples=samples[:5])  # other calibration files
    assert len(list((tmp_path / "onnx").glob("*int8*.onnx"))) == 3


def alike_but_forward(pooling: str) -> torch.nn.Module:
    """A body of the same class name, repr and weights whichever ``pooling`` its forward does: as
    an objrec or timm upgrade changes a body's forward and nothing else."""
    from objrec.bodies import Body

    class Tiny(Body):
        n_features = 4

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        if pooling == "mean":

            def forward(self, x):
                return self.conv(x).mean((2, 3))
        else:

            def forward(self, x):
                return self.conv(x).amax((2, 3))

    torch.manual_seed(0)
    return Tiny().eval()


@pytest.mark.slow
def test_a_body_whose_forward_changed_is_exported_and_quantized_again(tmp_path, tiny):
    """review60a M2: the fp32 and int8 graphs were kept by the body's fingerprint (repr and
    weights) alone, so after an upgrade that changed a body's forward, every int8 run kept
    computing through the old code's graph (its rows stored under the new code's key)."""
    _, data = tiny
    old, new = alike_but_forward("mean"), alike_but_forward("amax")
    assert fingerprint_module(old) == fingerprint_module(new)
    x = torch.rand(2, 3, data.input_size, data.input_size)
    assert not torch.allclose(old(x), new(x))
    samples = calibration_set()[:8]
    first = quantize_body(old, data, tmp_path, QuantConfig(calibration_images=8), samples)
    second = quantize_body(new, data, tmp_path, QuantConfig(calibration_images=8), samples)
    assert second.graph_bytes() != first.graph_bytes()
    onnx_dir = tmp_path / "onnx"
    assert len(list(onnx_dir.glob("*-int8-*.onnx"))) == 2
    assert len([p for p in onnx_dir.glob("*.onnx") if "-int8-" not in p.name]) == 2
    cache = FeatureCache(tmp_path)
    graphs = {FrozenBody(body, data.input_size, cache).graph_key for body in (old, new)}
    assert len(graphs) == 2


def drowned_out() -> torch.nn.Module:
    """A body whose features are read from small activations beside a huge one in the same
    layer: in 8 bits, one scale for the layer's activations, the small ones round to nothing (as
    a body of other weights may lose what tells its classes apart)."""
    from objrec.bodies import Body

    class DrownedOut(Body):
        n_features = 8

        def __init__(self):
            super().__init__()
            self.spread, self.read = torch.nn.Conv2d(3, 9, 1), torch.nn.Conv2d(9, 8, 1)
            with torch.no_grad():
                self.spread.weight.mul_(1e-2)
                self.spread.weight[0], self.spread.bias[0] = 0.0, 1e4  # the huge one
                self.read.weight[:, 0] = 0.0  # read from the small ones only
                self.read.bias.zero_()

        def forward(self, x):
            return self.read(self.spread(x)).mean((2, 3))

    torch.manual_seed(0)
    return DrownedOut().eval()


@pytest.mark.slow
def test_the_int8_copy_is_compared_with_fp32_and_one_that_strays_is_warned_of_naming_its_body(
    tmp_path, tiny, caplog
):
    """review61b M1: nothing compared an int8 body's features with fp32's, so a body of other
    weights quantized badly changed every feature and answer silently. The copy's features are
    compared with those its calibration computed in fp32 (the same images, decoded once): the
    figure is logged, and a copy that strays beyond objrec's own bodies' is warned of."""
    body, data = tiny
    samples, config = calibration_set()[:8], QuantConfig(calibration_images=8)
    caplog.set_level(logging.INFO, "objrec.quantize")
    quantize_body(body, data, tmp_path, config, samples, name="tiny_test")
    said = [r for r in caplog.records if r.getMessage().startswith("int8 copy of tiny_test, ")]
    assert len(said) == 1, caplog.text
    figures = re.fullmatch(
        r"int8 copy of tiny_test, run by OpenVINO: its features against fp32's on 8 calibration "
        r"images, cosine similarity (\d\.\d{4}) on average, (\d\.\d{4}) at the lowest",
        said[0].getMessage(),
    )
    assert figures and 0.95 < float(figures[2]) <= float(figures[1]) <= 1, said[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    caplog.clear()
    quantize_body(drowned_out(), data, tmp_path, config, samples, name="drowned_out")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, caplog.text
    assert re.fullmatch(
        r"the int8 copy of drowned_out, run by OpenVINO, strays from its fp32 features on objrec's "
        r"calibration images \(cosine similarity -?0\.\d{3} on average, below 0\.95; objrec's own "
        r"bodies keep about 0\.99\), so its answers may differ from fp32's: `precision=\"fp32\"` "
        r"runs it as it is",
        warned[0],
    ), warned
    caplog.clear()
    quantize_body(drowned_out(), data, tmp_path, config, samples, name="drowned_out")
    said_again = [r for r in caplog.records if "int8 copy" in r.getMessage()]
    assert not said_again  # said once, where the copy is made: a cached one is not compared
    with_weights = TrainConfig(backbone="efficientnet_lite0", weights="/w/lite0.pth")
    assert body_name(with_weights) == "efficientnet_lite0 with the weights file /w/lite0.pth"


@pytest.mark.slow  # four int8 copies of the tiny body
def test_the_int8_copy_is_compared_in_the_engine_that_runs_it_and_its_figure_is_kept(
    tmp_path, tiny, caplog
):
    """late62 L5a: the int8 copy's features were compared with fp32's in ONNX Runtime even where
    OpenVINO runs it (their kernels differ), and the figure was said once, at INFO, where the
    copy was made: nothing a user or a script could read later. It is measured in the engine
    that runs the copy (OpenVINO's compile kept in the cache folder for the frozen pass), said
    with it, kept in the store with the graph, and carried by the body (``fidelity``)."""
    from objrec.cache import open_cache

    body, data = tiny
    samples, config = calibration_set()[:8], QuantConfig(calibration_images=8)
    store = open_cache(tmp_path).store
    caplog.set_level(logging.INFO, "objrec.quantize")
    for engine, named in (("onnxruntime", "ONNX Runtime"), ("openvino", "OpenVINO")):
        made = quantize_body(body, data, tmp_path, config, samples, engine=engine, store=store)
        assert made.fidelity is not None and made.fidelity.engine == engine
        assert made.fidelity.images == 8 and 0.95 < made.fidelity.mean <= 1
        assert f"int8 copy of the body, run by {named}: " in caplog.text
        again = quantize_body(body, data, tmp_path, config, samples, engine=engine, store=store)
        assert again.fidelity == made.fidelity  # found cached: remembered, not measured again
    assert list((tmp_path / "openvino").glob("*.xml"))  # OpenVINO compiled it, kept for the pass
    assert quantize_body(body, data, tmp_path, config, samples).fidelity is None  # no store
    open_cache(tmp_path).close()


@pytest.mark.slow
def test_an_int8_copy_the_calibration_kept_no_fp32_features_of_is_said_not_compared(
    tmp_path, tiny, monkeypatch, caplog
):
    """late62 L5b: an ONNX Runtime whose calibrator ran the graph naming its outputs left
    nothing kept to compare the copy with, and np.concatenate's ValueError ended train with a
    traceback. The copy is made all the same, one sentence saying it was not compared."""
    import objrec.quantize as quantize
    from objrec.runtime import run_cut_by_ctrl_c

    def keeps_nothing(self, outputs, feed, options=None):
        return run_cut_by_ctrl_c(self.session, feed, outputs)

    monkeypatch.setattr(quantize.CutByCtrlC, "run", keeps_nothing)
    body, data = tiny
    samples, config = calibration_set()[:8], QuantConfig(calibration_images=8)
    with caplog.at_level(logging.WARNING, "objrec.quantize"):
        made = quantize_body(body, data, tmp_path, config, samples, name="tiny_test")
    assert made.fidelity is None and made.graph_bytes()
    assert [r.getMessage() for r in caplog.records] == [
        "the int8 copy of tiny_test was not compared with its fp32 features: ONNX Runtime's "
        "calibrator kept none (another onnxruntime version?), so whether it strays is unknown"
    ]


@pytest.mark.slow
def test_a_copy_that_strays_in_backbones_says_train_s_fp32_as_the_cli_spells_it(
    tmp_path, tiny, caplog
):
    """late62 L5c: the warning's `precision="fp32"` is --precision fp32 in train and audit, but
    objrec backbones --measure has no such option: the CLI printed the Python keyword. There it
    names train's, which the CLI spells as the command, --out RUN as train takes it (late63: `objrec
    train DATA OUT` was refused, "got unexpected extra argument")."""
    from objrec.backbone_facts import int8_copy
    from objrec.cache import open_cache
    from objrec.cli import COMMANDS
    from objrec.cli.messages import to_cli
    from objrec.progress import SILENT

    spec = get_backbone("tiny_test")
    with caplog.at_level(logging.WARNING, "objrec.quantize"):
        int8_copy(spec, drowned_out(), open_cache(tmp_path), SILENT)
    (warned,) = [r.getMessage() for r in caplog.records]
    backbones = next(c for c in COMMANDS if c.name == "backbones")
    assert to_cli(warned, backbones).endswith(
        "so its answers may differ from fp32's: `objrec train DATA --out RUN --backbone tiny_test "
        "--precision fp32` runs it as it is"
    )
    open_cache(tmp_path).close()


@pytest.mark.slow
def test_int8_rows_are_keyed_by_their_engines_version_and_the_cpus_int8_path(
    tmp_path, tiny, monkeypatch
):
    """review60a L1: every CPU pass keyed its rows as float32, an int8 body's too, so a cache
    folder shared by two machines (or kept over an engine upgrade) served one's int8 rows, from
    its own kernels, to the other."""
    import importlib.metadata

    from objrec import precision
    from objrec.features import body_space

    body, data = tiny
    samples = calibration_set()[:8]
    config = QuantConfig(calibration_images=8)
    int8 = quantize_body(body, data, tmp_path, config, samples, engine="onnxruntime")
    frozen = FrozenBody(int8, data.input_size, FeatureCache(tmp_path))
    real = importlib.metadata.version

    def space(version: str, flags: set[str]) -> str:
        fake = {"onnxruntime": version}
        monkeypatch.setattr(
            importlib.metadata, "version", lambda name: fake.get(name) or real(name)
        )
        monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=None: flags)
        return body_space(frozen, data, frozen.numerics(), "decoders")

    here = space("1.20.1", {"avx512_vnni", "avx2"})
    assert space("1.20.1", {"avx512_vnni", "avx2"}) == here
    upgraded, no_vnni = space("1.21.0", {"avx512_vnni", "avx2"}), space("1.20.1", {"avx2"})
    assert len({here, upgraded, no_vnni}) == 3


class StepRecorder(TaskRecorder):
    """A reporter that records each task's total and the steps advanced in it."""

    def __init__(self):
        super().__init__()
        self.totals: dict[str, int | None] = {}
        self.done: dict[str, int] = {}
        self.steps: dict[str, list[int]] = {}
        self.units: dict[str, str] = {}

    @contextmanager
    def task(self, description, total):
        self.totals[description], self.done[description] = total, 0
        self.steps[description] = []

        def advance(n=1):
            self.done[description] += n
            self.steps[description].append(n)

        yield advance

    def doing(self, what):
        self.steps[list(self.steps)[-1]].append(what)

    def counts(self, unit):
        self.units[list(self.steps)[-1]] = unit


@pytest.mark.slow
def test_making_the_int8_body_counts_its_steps(tmp_path, split_dir, tiny):
    """The first default train on a new cache folder showed "making the pretrained network's
    8-bit (int8) copy" for about 40 s with no share done nor time left (a task of no total): it
    counts each batch of calibration images read, the fp32 graph, the preparation, each
    calibration batch and the int8 graph written. The images were read before it began, so that
    its time said 4m02s where train's summary said 286 s (at a load of 16)."""
    body, data = tiny
    samples = scan_class_folder(split_dir / "train").samples[:10]  # 3 batches of at most 4
    shown = StepRecorder()
    quantize_body(body, data, tmp_path, QuantConfig(calibration_images=10), samples, shown)
    assert shown.totals[QUANTIZING] == 1 + 1 + QUANTIZE_STEPS + 3 == 19  # 10 images read: 1
    assert shown.done[QUANTIZING] == 19
    assert shown.units[QUANTIZING] == "steps"  # "reading the calibration images: 0/46" counted
    # the int8 graph written, one call of ONNX Runtime as long as about 10 calibration batches,
    # counts for 10 steps: counted as one, the bar sat at 34/35 "about 5s left" for 35 s; it
    # sat at 34/44 for 15 to 40 s with nothing said, and at 4/44 for 19 s before
    # the first batch: each part says what it does as it begins, the calibration graph counts
    assert WRITE_STEPS == 10
    assert shown.steps[QUANTIZING] == [
        "reading the calibration images",
        1,
        "exporting the pretrained networks",
        1,
        "preparing the graph",
        1,
        "adding a range probe after each layer",
        1,
        "loading the probed graph",
        1,
        "measuring the activations' ranges, 4 images a step",
        *[1] * 3,
        "quantizing the weights and writing the graph (one long step)",
        WRITE_STEPS,
        "comparing its features with the fp32 network's",  # review61b M1
        1,
        0,
    ]


@pytest.mark.slow
def test_ctrl_c_in_the_int8_copy_says_how_far_it_got_and_that_it_starts_over(
    tmp_path, split_dir, monkeypatch
):
    """Ctrl-C in a first train's int8 copy said "nothing of the run was saved, and no features
    of its images were stored or found yet": not that the copy (its longest step, 55 s in)
    starts over, nor that it is made once per network and cache folder."""
    import objrec.quantize

    def stopped(fp32_path, out, batches, config, advance, say, engine, compiled):
        advance()  # the graph prepared, then Ctrl-C in the calibration
        raise KeyboardInterrupt

    monkeypatch.setattr(objrec.quantize, "quantize_graph", stopped)
    config = TrainConfig(
        backbone="tiny_test", epochs=1, precision="int8", cache_dir=str(tmp_path / "cache")
    )
    with pytest.raises(Interrupted) as stop:
        train(split_dir, tmp_path / "run", config, reporter=StepRecorder())
    steps = 2 + 1 + QUANTIZE_STEPS + 30  # 120 images: 2 steps read, 30 batches
    assert str(stop.value) == (
        "interrupted before the head's first epoch ended: nothing of the run was saved, and no "
        "features of its images were stored or found yet; the 8-bit (int8) copy of the "
        f"pretrained weights was 4 of {steps} steps done and starts over next time: it is made "
        "once per network and cache folder, so let it finish once and every later train of these "
        "networks skips it"
    )


def test_the_int8_copy_is_said_to_be_made_once_per_network_and_cache_folder():
    """train said "making the 8-bit (int8) copy of the pretrained weights (once per cache
    folder)" and "which the first run with a cache folder makes", where the README says once per
    network and cache folder, as the int8 graph is kept by each body's fingerprint (another
    --backbone makes its own; newcomer58, 5). Every place objrec says it, it says the README's
    words, and none of the old ones is left in its code."""
    from objrec.cli.training import INT8_ONCE
    from objrec.report import once_words

    from .conftest import source_nodes

    once = "once per network and cache folder"
    for said in (QUANTIZING, CopyStopped(4, 40).said(), INT8_ONCE, once_words(89.0)):
        assert once in said
    stale = ("once per cache folder", "first run with a cache folder")
    left = [
        (str(path), node.value[:60])
        for path, nodes in source_nodes()
        for node in nodes
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if any(words in " ".join(node.value.split()) for words in stale)
    ]
    assert left == []


def test_an_int8_body_is_named_int8_whichever_command_stores_its_features(tmp_path, tiny):
    """`objrec cache` named an int8 body's features "QuantizedBody" or the fp32 backbone's name
    when evaluate, suggest or a script stored them first (only train and audit added "(int8)")."""
    body, _ = tiny
    int8 = QuantizedBody(body)
    cache = FeatureCache(tmp_path)
    assert FrozenBody(int8, 32, cache, name="tiny_test").name == "tiny_test (int8)"
    assert FrozenBody(int8, 32, cache).name == f"{type(body).__name__} (int8)"
    assert FrozenBody(body, 32, cache, name="tiny_test").name == "tiny_test"
    openvino = QuantizedBody(body, engine="openvino")  # its features are stored apart
    assert FrozenBody(openvino, 32, cache, name="tiny_test").name == "tiny_test (int8, openvino)"


def test_the_calibration_set_is_the_built_in_sample():
    samples = calibration_set()
    assert len(samples) == QuantConfig().calibration_images == 120
    assert {s.path.parent.name for s in samples} == {
        "airplanes",
        "Motorbikes",
        "sunflower",
        "watch",
        "grand_piano",
    }


@pytest.mark.slow
def test_int8_features_are_close_to_fp32_but_have_their_own_fingerprint(
    split_dir, tiny, monkeypatch
):
    body, data = tiny
    samples = scan_class_folder(split_dir / "train").samples
    int8 = quantize_body(body, data, split_dir.parent / "cache", samples=samples)
    assert fingerprint_module(int8) != fingerprint_module(body)
    # each engine's features are its own in the store: OpenVINO's differ slightly from ORT's
    other = "onnxruntime" if int8.engine == "openvino" else "openvino"
    assert fingerprint_module(int8.on_engine(other)) != fingerprint_module(int8)
    int8 = int8.on_engine("onnxruntime")  # the sessions' settings below are ONNX Runtime's
    x = torch.randn(6, 3, data.input_size, data.input_size)
    with torch.inference_mode():
        reference = body(x)
    got = int8(x)
    assert not torch.equal(got, reference)  # it really is quantized
    cos = torch.nn.functional.cosine_similarity(got, reference)
    assert cos.min() > 0.95
    frozen = FrozenBody(int8, data.input_size, FeatureCache(split_dir.parent / "c2"))
    assert torch.equal(frozen(x), got) and frozen.backend_used == f"{int8.engine} int8"
    # the frozen pass's session leaves the cores to the decoding thread between operators
    options = frozen.runner().session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    threads = torch.get_num_threads()
    try:  # ONNX Runtime runs an int8 body on the CPU, with its threads, whatever the device
        monkeypatch.setattr("objrec.cores.usable_cores", lambda: 64)  # whatever this machine has
        torch.set_num_threads(4)
        on_gpu = FrozenBody(int8, data.input_size, frozen.cache, device=torch.device("cuda"))
        options = on_gpu.runner().session.get_session_options()
    finally:
        torch.set_num_threads(threads)
    # two callers share the session's pool: 2 workers and their own 2 threads make PyTorch's 4
    assert (on_gpu.callers, options.intra_op_num_threads) == (2, 3)


def test_the_calibration_sample_is_drawn_by_content_not_by_name(split_dir):
    samples = scan_class_folder(split_dir / "train").samples
    a, digests = calibration_sample(samples, 5, seed=0)
    assert len(a) == 5 and len(set(digests)) == 5
    assert calibration_sample(list(reversed(samples)), 5, seed=0) == (a, digests)
    assert calibration_sample(samples, 5, seed=1)[1] != digests
    assert len(calibration_sample(samples, 100)[0]) == len(samples)
    assert calibration_sample(samples + samples[:3], 100)[0] == calibration_sample(samples, 100)[0]


@pytest.mark.slow
def test_renamed_and_moved_images_keep_the_int8_graph(tmp_path, split_dir, tiny):
    body, data = tiny
    samples = scan_class_folder(split_dir / "train").samples
    cache = tmp_path / "cache"
    first = quantize_body(body, data, cache, QuantConfig(calibration_images=4), samples)
    moved = tmp_path / "elsewhere"
    shutil.copytree(split_dir / "train", moved)
    for i, path in enumerate(sorted(moved.rglob("*.*"))):
        path.rename(path.with_name(f"renamed-{i}{path.suffix}"))
    again = quantize_body(
        body, data, cache, QuantConfig(calibration_images=4), scan_class_folder(moved).samples
    )
    assert len(list((cache / "onnx").glob("*int8*.onnx"))) == 1
    assert again.graph_bytes() == first.graph_bytes()


@pytest.mark.slow
def test_adding_and_removing_training_images_keeps_the_int8_body(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    """The edit-and-retrain loop: a changed training set reuses the int8 graph, so only the added
    image's views go through the body (its calibration does not depend on the training images)."""
    monkeypatch.setenv("OBJREC_CACHE", str(tmp_path / "cache"))
    tiny_config.precision, tiny_config.epochs, tiny_config.heads = "int8", 1, 1
    first = train(split_dir, tmp_path / "a", tiny_config)
    graphs = list((tmp_path / "cache" / "onnx").glob("*int8*.onnx"))
    added = split_dir / "train" / "red" / "added.png"
    make_image((255, 255, 255), size=(48, 48), seed=7).save(added)
    more = train(split_dir, tmp_path / "b", tiny_config)
    assert more.n_images.train == first.n_images.train + 1
    assert more.frozen_pass.computed == 2  # its centre view and its augmented view
    added.unlink()
    next(p for p in (split_dir / "train" / "green").iterdir()).unlink()
    fewer = train(split_dir, tmp_path / "c", tiny_config)
    assert fewer.n_images.train == first.n_images.train - 1
    assert fewer.frozen_pass.computed == 0
    assert list((tmp_path / "cache" / "onnx").glob("*int8*.onnx")) == graphs


def test_kept_nodes_are_the_first_and_last_convolutions(tmp_path, tiny):
    body, data = tiny
    model = onnx.load(str(export_onnx(body, tmp_path / "b.onnx", data.input_size)))
    convs = [n.name for n in model.graph.node if n.op_type == "Conv"]
    assert kept_nodes(model, ("stem",)) == convs[:1]
    assert kept_nodes(model, ("head",)) == convs[-1:]


def test_an_unknown_precision_is_refused_and_int8_takes_fine_tuning():
    with pytest.raises(ObjrecError, match="precision"):
        TrainConfig(precision="fp16")
    assert TrainConfig(precision="int8", finetune_blocks=1).precision == "int8"


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_an_int8_run_evaluates_predicts_serves_and_exports_the_same_body(
    tmp_path, split_dir, tiny_config, engine
):
    tiny_config.precision, tiny_config.epochs, tiny_config.int8_engine = "int8", 3, engine
    train(split_dir, tmp_path / "run", tiny_config)
    model, meta = load_model(tmp_path / "run")
    assert isinstance(model.body, QuantizedBody) and meta.train_config.precision == "int8"
    assert model.body.engine == meta.train_config.int8_engine == engine
    images = scan_class_folder(split_dir / "test").samples
    torch_predictor = Recognizer.load(tmp_path / "run")
    onnx_predictor = Recognizer.load(tmp_path / "run", runtime="onnx")
    from objrec.images import open_image

    pictures = [open_image(s.path) for s in images]
    p_torch = torch_predictor.probabilities(pictures)
    p_onnx = onnx_predictor.probabilities(pictures)
    assert (p_torch - p_onnx).abs().max() < 1e-4
    x = torch_predictor.preprocess(pictures)
    with torch.inference_mode():
        fp32 = model.head(model.body.float_body(x)).softmax(1)
    assert not torch.allclose(p_torch, fp32, atol=1e-6)  # the int8 body, not the fp32 one
    result = evaluate(tmp_path / "run", split_dir)
    by_path = {str(s.path): p.max().item() for s, p in zip(images, p_torch, strict=True)}
    table = result.predictions
    assert len(table) == len(images)
    for path, prob in zip(table["path"], table["prob_predicted"], strict=True):
        assert abs(by_path[path] - prob) < 1e-4
    exported = export_model(tmp_path / "run")
    sidecar = json.loads(exported.sidecar.read_text())
    assert (sidecar["precision"], sidecar["int8_engine"]) == ("int8", engine)
    checked = sidecar["answers_checked"]  # the file against objrec's own answers, as it runs
    assert list(checked) == ["onnxruntime", "openvino"][: 2 if engine == "openvino" else 1]
    assert checked["onnxruntime"]["photos"] == 32  # the run's and the sample's (CHECK_PHOTOS)
    assert all(c["max_prob_diff"] < 1e-3 for c in checked.values())  # the tiny body's agree
    assert ("openvino" in sidecar) == (engine == "openvino")  # how to run it as objrec does
    # the opsets its operators use, once each: ONNX Runtime before 1.18 refused the nine that
    # its pre-processing stamps on the body (ai.onnx.ml 5, ...), used or not
    graph = onnx.load(str(exported.model))
    used = {"", *(n.domain for n in graph.graph.node)}
    assert sorted(o.domain for o in graph.opset_import) == sorted(used)
    session = onnx_session(exported.model)
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.inference_mode():  # the file, in ONNX Runtime, is the graph run by it
        on_ort = model.head(model.body.on_engine("onnxruntime")(x)).softmax(1)
    assert np.abs(got - on_ort.numpy()).max() < 1e-4


@pytest.mark.slow
def test_a_second_int8_run_reuses_its_features_and_fp32_never_does(
    tmp_path, split_dir, tiny_config, monkeypatch
):
    import objrec.features as features

    tiny_config.precision, tiny_config.epochs = "int8", 2
    train(split_dir, tmp_path / "a", tiny_config)
    computed = []
    real = features.views_pass
    monkeypatch.setattr(features, "views_pass", lambda *a, **k: computed.append(1) or real(*a, **k))
    tiny_config.seed = 3
    train(split_dir, tmp_path / "b", tiny_config)
    assert computed == []
    tiny_config.precision = "fp32"
    train(split_dir, tmp_path / "c", tiny_config)
    assert len(computed) == 2  # the training views (one pass for both) and the valid split


@pytest.mark.slow
def test_cached_graphs_are_written_whole_or_not_at_all(tmp_path, tiny, monkeypatch):
    """A crash half-way through writing the fp32 or the int8 graph leaves the cache folder as it
    was: no partial graph for the next run to load, no temporary file."""
    import objrec.quantize as quantize

    body, data = tiny
    graph = export_onnx(body, tmp_path / "body.onnx", data.input_size)
    before = graph.read_bytes()

    def half_written(model, out, *args, **kwargs):
        Path(out).write_bytes(b"partial")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(torch.onnx, "export", lambda m, a, f, **k: half_written(m, f))
    for target in (graph, tmp_path / "new.onnx"):
        with pytest.raises(RuntimeError, match="mid-write"):
            export_onnx(body, target, data.input_size)
    monkeypatch.setattr(quantization_api(), "quantize_static", half_written)
    batches = [np.zeros((2, 3, data.input_size, data.input_size), np.float32)]
    with pytest.raises(RuntimeError, match="mid-write"):
        quantize.quantize_graph(graph, tmp_path / "int8.onnx", batches, QuantConfig())
    assert graph.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["body.onnx"]


def test_the_cpus_int8_dot_product_instructions_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert int8_dot_product(cpuinfo) == "avx512_vnni"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx_vnni_int8 avx_vnni\n")
    assert int8_dot_product(cpuinfo) == "avx_vnni"
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp sha512\n")
    assert int8_dot_product(cpuinfo) == "asimddp"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f avx_vnni_int8\n")
    assert int8_dot_product(cpuinfo) is None
    assert int8_dot_product(tmp_path / "absent") is None


def test_auto_precision_is_int8_only_on_a_cpu_with_dot_products_and_a_validated_body(
    monkeypatch,
):
    import objrec.precision as precision

    lite, cpu = get_backbone(DEFAULT_BACKBONE), torch.device("cpu")
    monkeypatch.setattr(precision, "int8_dot_product", lambda: "avx512_vnni")
    assert auto_precision(lite, cpu) == (
        "int8",
        "this CPU has 8-bit dot-product instructions (avx512_vnni)",
    )
    assert auto_precision(get_backbone("efficientnet_lite0"), cpu)[0] == "int8"
    assert auto_precision(lite, torch.device("cuda", 0))[0] == "fp32"
    assert auto_precision(get_backbone("tiny_test"), cpu)[0] == "fp32"
    assert auto_precision(get_backbone("resnet18"), cpu)[0] == "fp32"
    monkeypatch.setattr(precision, "int8_dot_product", lambda: None)
    assert auto_precision(lite, cpu)[0] == "fp32"


def test_auto_precision_runs_a_fine_tuned_run_s_body_in_fp32_saying_why(monkeypatch):
    """review64a M3: auto gave int8 with ``finetune_blocks`` too, and a first run pushed every
    view through the frozen blocks twice (fine-tuning's fp32 pass to the cut, then the int8
    body's), after making the int8 body: fp32 now, whose features the cut's pass makes."""
    import objrec.precision as precision
    from objrec.distributed import SINGLE

    monkeypatch.setattr(precision, "int8_dot_product", lambda: "avx512_vnni")
    config = TrainConfig(backbone="efficientnet_lite0", finetune_blocks=1)
    assert precision.settle_precision(config, SINGLE) == (
        replace(config, precision="fp32"),
        Settled(
            "fp32",
            "auto: fine-tuning's pass to the cut computes the body's features in fp32 as it goes, "
            "where int8 would pass every image through the body again",
        ),
    )
    plain = replace(config, finetune_blocks=0)
    assert precision.settle_precision(plain, SINGLE)[1].used == "int8"
    asked = replace(config, precision="int8")
    assert precision.settle_precision(asked, SINGLE)[1] == Settled("int8", "asked for")


def test_auto_precision_runs_a_body_of_the_user_s_own_weights_in_fp32(monkeypatch, tmp_path):
    """review61b M1: a Lite body given another weights file (fine-tuned, domain-specific) got
    int8 from ``auto``, its activation ranges measured on the built-in sample's photos and never
    compared with fp32's: fp32 now, saying why; the registry's own file is int8's still, and
    ``precision="int8"`` forces it."""
    import objrec.precision as precision
    from objrec.distributed import SINGLE

    monkeypatch.setattr(precision, "int8_dot_product", lambda: "avx512_vnni")
    own = tmp_path / "pypi" / "lite0.pth"
    own.parent.mkdir()
    own.write_bytes(b"")
    lite = replace(get_backbone("efficientnet_lite0"), weights_files=lambda: (own,))
    monkeypatch.setattr(precision, "get_backbone", lambda name: lite)
    config = TrainConfig(backbone="efficientnet_lite0", weights=str(tmp_path / "xray.pth"))
    assert precision.settle_precision(config, SINGLE) == (
        replace(config, precision="fp32"),
        Settled(
            "fp32",
            "auto: int8 was validated on efficientnet_lite0's own weights, not on the weights "
            f"file {tmp_path / 'xray.pth'}",
        ),
    )
    monkeypatch.chdir(tmp_path)
    for weights in (None, str(own), "pypi/../pypi/lite0.pth"):
        config = TrainConfig(backbone="efficientnet_lite0", weights=weights)
        assert precision.settle_precision(config, SINGLE)[1].used == "int8"
    config = TrainConfig(backbone="efficientnet_lite0", weights="xray.pth", precision="int8")
    assert precision.settle_precision(config, SINGLE)[1] == Settled("int8", "asked for")


def test_auto_is_settled_before_the_run_so_the_run_records_the_precision_used(monkeypatch):
    import objrec.precision as precision
    from objrec.distributed import SINGLE

    config = TrainConfig(backbone="tiny_test")
    assert config.precision == "auto" and TrainConfig(finetune_blocks=1).precision == "auto"
    settled, why = precision.settle_precision(config, SINGLE)
    assert settled.precision == "fp32"
    assert why == precision.Settled("fp32", "auto: int8 was not validated on tiny_test")
    monkeypatch.setattr(precision, "auto_precision", lambda *a: ("int8", "this CPU has x"))
    settled, why = precision.settle_precision(config, SINGLE)
    assert settled.precision == "int8" and why.why == "auto: this CPU has x"
    int8 = TrainConfig(backbone="tiny_test", precision="int8")
    assert precision.settle_precision(int8, SINGLE) == (
        int8,
        precision.Settled("int8", "asked for"),  # as the head's: no flag a Python caller gave
    )
    demo = precision.settle_precision(int8, SINGLE, "the demo's setting")[1]
    assert demo.why == "the demo's setting"  # a caller other than the CLI says who set it


@pytest.mark.slow
def test_a_run_records_the_precision_auto_chose_and_why(tmp_path, split_dir, monkeypatch):
    import objrec.precision as precision

    config = TrainConfig(backbone="tiny_test", epochs=1, heads=1, aug_views=0)
    result = train(split_dir, tmp_path / "a", config)
    assert result.precision is not None  # the head's precision beside it
    assert result.precision.body == Settled("fp32", "auto: int8 was not validated on tiny_test")
    assert json.loads((tmp_path / "a" / "config.json").read_text())["precision"] == "fp32"
    monkeypatch.setattr(precision, "auto_precision", lambda *a: ("int8", "this CPU has x"))
    result = train(split_dir, tmp_path / "b", config)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["precision"]["used"] == "int8"
    assert summary["precision"]["why"] == "auto: this CPU has x"
    model, meta = load_model(tmp_path / "b")
    assert isinstance(model.body, QuantizedBody) and meta.train_config.precision == "int8"
    # the engine `auto` picked is settled and recorded too (OpenVINO: objrec installs it)
    assert summary["precision"]["engine"] == meta.train_config.int8_engine == "openvino"
    assert model.body.engine == "openvino"


@contextmanager
def root_logging(level: int, handlers: list[logging.Handler]):
    """The root logger at ``level`` with ``handlers`` alone for the block (pytest's aside)."""
    root = logging.getLogger()
    before = root.level, root.handlers[:]
    root.setLevel(level)
    root.handlers[:] = handlers
    try:
        yield root
    finally:
        root.handlers[:] = before[1]
        root.setLevel(before[0])


def log_within_quiet():
    """What a script sees logged during the int8 copy: objrec's progress, another module's
    warning, ONNX Runtime's root and named loggers' advice and progress, and its error."""
    from objrec.ort_quantizer import quiet

    with quiet():
        print("Collecting tensor data and making histogram ...")  # calibrate.py's
        logging.getLogger("objrec.quantize").info("int8 copy: measuring the ranges")
        logging.getLogger("objrec.train").warning("a warning of another module")
        logging.warning("Please consider to run pre-processing before quantization")
        logging.getLogger("onnxruntime.quantization.shape_inference").info("Performing ...")
        logging.error("a failure of the quantizer")


def test_the_int8_copy_silences_onnx_runtime_s_logging_and_no_other(capsys):
    """review61b M2: ``quiet`` set the ROOT logger to ERROR for the whole int8 copy, so a script
    logging at INFO (``basicConfig``, ``objrec -v``) lost the copy's parts that ``doing_logged``
    logs, and any other module's warning of those minutes: only ONNX Runtime's records go now
    (below ERROR), and the root logger is left as it was."""
    kept: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = kept.append  # type: ignore[method-assign]
    ort = logging.getLogger("onnxruntime")
    with root_logging(logging.INFO, [handler]) as root:
        log_within_quiet()
        assert (root.level, root.filters, root.handlers, ort.level) == (
            logging.INFO, [], [handler], logging.NOTSET
        )  # fmt: skip
    assert [(r.name, r.getMessage()) for r in kept] == [
        ("objrec.quantize", "int8 copy: measuring the ranges"),
        ("objrec.train", "a warning of another module"),
        ("root", "a failure of the quantizer"),
    ]
    assert capsys.readouterr().out == ""


def test_the_int8_copy_leaves_a_process_without_logging_set_up_as_it_was(capsys):
    """A Python API caller who set up no logging: the quantizer's ``logging.warning`` added a
    handler to the root logger (``basicConfig``) for the rest of the process; a warning of the
    block is said on stderr as Python says one when logging is not set up."""
    with root_logging(logging.WARNING, []) as root:
        log_within_quiet()
        assert root.handlers == []
    assert capsys.readouterr().err == "a warning of another module\na failure of the quantizer\n"


def test_the_int8_copy_doubles_no_record_a_library_logger_s_handler_says(capsys):
    """late61 A1: where only a library's logger had a handler, ``quiet`` put
    ``logging.lastResort`` on the root for the block, so each warning of that library was said
    twice, by its handler and again raw on stderr: once now; the quantizer's own still show."""
    kept: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: kept.append(record.getMessage())  # type: ignore[method-assign]
    objrec_logger = logging.getLogger("objrec")
    objrec_logger.addHandler(handler)
    try:
        with root_logging(logging.WARNING, []):
            log_within_quiet()
    finally:
        objrec_logger.removeHandler(handler)
    assert kept == ["a warning of another module"]
    assert capsys.readouterr().err == "a failure of the quantizer\n"


@pytest.mark.slow
def test_quantizing_the_body_is_shown_as_a_task_until_the_graph_is_cached(
    tmp_path, split_dir, caplog
):
    """Train and the audit made the int8 graph (20-30 s the first time) with nothing on screen."""
    caplog.set_level(logging.INFO, "objrec.quantize")
    cache = str(tmp_path / "cache")
    shown = TaskRecorder()
    audit(
        split_dir,
        None,
        AuditConfig(backbone="tiny_test", precision="int8", cache_dir=cache),
        reporter=shown,
    )
    assert shown.tasks.count(QUANTIZING) == 1
    said = [r.getMessage() for r in caplog.records if r.name == "objrec.quantize"]
    assert "once per network and cache folder (about half a minute on 2 idle" in said[0]  # one-time
    assert re.fullmatch(
        r"int8 body calibrated in \d+\.\d s \(once: later runs reuse it\)", said[-2]
    )
    assert said[-1].startswith("int8 copy of tiny_test, run by OpenVINO: its features against ")
    # newcomer57 (8): between the two, minutes of nothing at INFO; each part is said as it begins
    parts = said[1:-2]
    assert parts[0] == "int8 copy: reading the calibration images"
    assert "int8 copy: quantizing the weights and writing the graph (one long step)" in parts
    assert len(parts) <= 8  # a part at a time, never a batch
    config = TrainConfig(backbone="tiny_test", epochs=1, precision="int8", cache_dir=cache)
    again, fresh = TaskRecorder(), TaskRecorder()
    caplog.clear()
    train(split_dir, tmp_path / "run", config, reporter=again)
    assert QUANTIZING not in again.tasks  # the cached graph
    reused = [r.getMessage() for r in caplog.records if r.name == "objrec.quantize"]
    assert reused == [f"the int8 body calibrated earlier, kept in {cache}/onnx, is reused"]
    config.cache_dir = str(tmp_path / "other_cache")
    train(split_dir, tmp_path / "run2", config, reporter=fresh)
    assert fresh.tasks[0] == QUANTIZING


@pytest.mark.slow
def test_a_single_process_train_checks_its_cached_int8_graph_once(tmp_path, split_dir, monkeypatch):
    """train looked its int8 body up twice in one process (once to make it, once more after
    the ranks' barrier), opening the cached graph in ONNX Runtime twice to check that it is whole:
    0.2 to 0.3 s of a warm retrain. The body kept is the one looked up, so the run is the same."""
    import objrec.quantize

    config = TrainConfig(
        backbone="tiny_test", epochs=1, precision="int8", cache_dir=str(tmp_path / "cache")
    )
    train(split_dir, tmp_path / "cold", config)
    checked = []
    usable = objrec.quantize.usable
    monkeypatch.setattr(
        objrec.quantize, "usable", lambda path, *rest: checked.append(path) or usable(path, *rest)
    )
    train(split_dir, tmp_path / "warm", config)
    assert len(checked) == 1
    cold, warm = ((tmp_path / run / "model.safetensors").read_bytes() for run in ("cold", "warm"))
    assert warm == cold


@pytest.mark.slow
def test_the_audit_remembers_its_int8_graph_whole_as_train_does(tmp_path, monkeypatch):
    """Each audit opened its cached int8 graph in ONNX Runtime to check that it is whole (0.15
    to 0.2 s for the default bodies): it gave the lookup no store to remember it in, as train
    does. Checked once, then remembered."""
    from objrec.audit.inventory import frozen_body

    config = AuditConfig(backbone="tiny_test", precision="int8", cache_dir=str(tmp_path))
    frozen_body(config, None)[0].cache.close()  # makes the graph
    opened = opened_graphs(monkeypatch)
    for _ in range(3):
        frozen_body(config, None)[0].cache.close()
    assert len(opened) == 1


@pytest.mark.slow
def test_resuming_a_run_whose_int8_body_was_calibrated_otherwise_fails_before_the_frozen_pass(
    tmp_path, split_dir, monkeypatch
):
    """Runs interrupted before the built-in calibration sample quantized anew on --resume,
    computed every feature again, then said the backbone's weights had changed."""
    import objrec.features
    import objrec.quantize

    samples = scan_class_folder(split_dir / "train").samples
    config = TrainConfig(backbone="tiny_test", epochs=2, precision="int8")
    with monkeypatch.context() as earlier:  # calibrated on the run's own images, as before
        earlier.setattr(objrec.quantize, "calibration_set", lambda: samples)
        earlier.setattr(importlib.import_module("objrec.train"), "calibrate", ctrl_c)
        with pytest.raises(Interrupted, match="after the head's epochs"):
            train(split_dir, tmp_path / "run", config)

    def no_frozen_pass(*args, **kwargs):
        raise AssertionError("the frozen pass ran")

    monkeypatch.setattr(objrec.features, "views_pass", no_frozen_pass)
    with pytest.raises(ObjrecError, match=r"int8 body was quantized by an earlier objrec.*force"):
        train(split_dir, tmp_path / "run", resume=True)


def tiny_weights(path: Path, factor: float = 1.0) -> Path:
    """tiny_test's weights, its first convolution's times ``factor``, as a ``weights`` file."""
    from safetensors.torch import save_file

    from objrec.bodies import TinyBody

    body = TinyBody()
    with torch.no_grad():
        body.features[0].weight.mul_(factor)
    save_file({k: v.contiguous() for k, v in body.state_dict().items()}, str(path))
    return path


@pytest.mark.slow
def test_resuming_an_int8_run_whose_weights_file_changed_names_it_before_quantizing(
    tmp_path, split_dir, monkeypatch
):
    """The resume quantized the new weights (72.7 s for the default body), then blamed "an
    earlier objrec (or onnxruntime)"."""
    weights = tiny_weights(tmp_path / "w.safetensors", 1.01)
    config = TrainConfig(backbone="tiny_test", epochs=2, precision="int8", weights=str(weights))
    recipe = importlib.import_module("objrec.train")
    with monkeypatch.context() as stopped:
        stopped.setattr(recipe, "calibrate", ctrl_c)
        with pytest.raises(Interrupted, match="after the head's epochs"):
            train(split_dir, tmp_path / "run", config)
    tiny_weights(weights, 1.05)  # the user's file changes

    def no_quantizing(*args, **kwargs):
        raise AssertionError("the body was quantized again")

    monkeypatch.setattr(
        importlib.import_module("objrec.train_features"), "quantize_body", no_quantizing
    )
    said = rf"the weights file {re.escape(str(weights))} changed since this run started.*force"
    with pytest.raises(ObjrecError, match=said):
        train(split_dir, tmp_path / "run", resume=True)


def test_a_run_recording_no_float_body_names_both_causes_of_another_int8_body(tmp_path):
    """A run written before objrec recorded the float body's fingerprint cannot tell a changed
    weights file from another quantization: with a weights file, both are named."""
    from objrec.meta import RunMeta
    from objrec.train_features import changed_body

    weights = tiny_weights(tmp_path / "w.safetensors")
    config = TrainConfig(backbone="tiny_test", precision="int8", weights=str(weights))
    data = get_backbone("tiny_test").data_config
    earlier = RunMeta.for_model("tiny_test", ["a", "b"], data, 16, config)
    said = changed_body(config, earlier)
    assert f"the weights file {weights} changed since the run started, or an earlier" in said
    recorded = changed_body(config, replace(earlier, float_fingerprint="f" * 64))
    assert recorded.startswith("this run's int8 body was quantized by an earlier objrec")
    assert changed_body(replace(config, weights=None), earlier) == recorded
    assert "weights file" in changed_body(replace(config, precision="fp32"), earlier)


def ctrl_c(*args):
    raise KeyboardInterrupt


@pytest.mark.slow
def test_a_model_with_an_int8_body_is_called_as_any_module(tmp_path, tiny):
    """`model, meta = objrec.load_model(run)` then `model(x)` raised 'Inference tensors cannot
    be saved for backward' outside `torch.no_grad()`: the int8 body returned inference tensors
    and the head's layers, which need gradients, refused them."""
    from objrec.model import Classifier, build_head
    from objrec.runtime import export_onnx

    body, data = tiny
    graph = export_onnx(body, tmp_path / "body.onnx", data.input_size).read_bytes()
    model = Classifier(QuantizedBody(body, graph), build_head(body.n_features, 3)).freeze_body()
    x = torch.zeros(2, 3, data.input_size, data.input_size)
    out = model.eval()(x)
    assert out.shape == (2, 3) and not out.is_inference()


DAMAGED = b"\x08\x07 not an ONNX graph"


@pytest.mark.slow
def test_every_command_refuses_a_damaged_int8_graph_in_one_sentence(tmp_path, tiny):
    """evaluate, suggest and audit (the frozen pass) and export gave ONNX Runtime's
    InvalidProtobuf or protobuf's DecodeError for a checkpoint whose int8 graph is damaged, where
    predict said so in a sentence."""
    from objrec.export.graph import Tail, export_quantized
    from objrec.model import Classifier, build_head

    body, data = tiny
    damaged = QuantizedBody(body, DAMAGED)
    x = torch.zeros(2, 3, data.input_size, data.input_size)
    frozen = FrozenBody(damaged, data.input_size, FeatureCache(tmp_path))
    for run in (damaged, frozen):
        with pytest.raises(ObjrecError, match=r"int8 body cannot be run.*damaged"):
            run(x)
    tail = Tail(Classifier(damaged, build_head(body.n_features, 3)), 1.0, softmax=True)
    with pytest.raises(ObjrecError, match=r"int8 body cannot be run.*damaged"):
        export_quantized(damaged, tail, tmp_path / "model.onnx")


def test_an_int8_body_without_onnxruntime_asks_for_it_rather_than_calling_itself_damaged(
    tmp_path, tiny, monkeypatch
):
    """Without onnxruntime, predict said the checkpoint's int8 graph was 'damaged or not ONNX
    (ModuleNotFoundError)' and evaluate raised ModuleNotFoundError."""
    import sys

    body, data = tiny
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    int8 = QuantizedBody(body, DAMAGED)
    x = torch.zeros(2, 3, data.input_size, data.input_size)
    for run in (int8, FrozenBody(int8, data.input_size, FeatureCache(tmp_path))):
        with pytest.raises(ObjrecError, match=r"needs onnxruntime.*pip install onnxruntime"):
            run(x)


@pytest.mark.slow
def test_a_damaged_cached_graph_is_made_again_rather_than_failing_every_int8_run(tmp_path, tiny):
    """A cached int8 graph (or the fp32 graph it is made from) cut short, as a crash before the
    disk held it whole leaves it, failed every int8 train and audit of that cache folder with
    ONNX Runtime's InvalidProtobuf or protobuf's DecodeError, naming no file."""
    body, data = tiny
    first = quantize_body(body, data, tmp_path)
    (int8,) = (tmp_path / "onnx").glob("*-int8-*.onnx")
    (fp32,) = set((tmp_path / "onnx").glob("*.onnx")) - {int8}
    int8.write_bytes(int8.read_bytes()[:300])
    again = quantize_body(body, data, tmp_path)
    assert again.graph_bytes() == first.graph_bytes() == int8.read_bytes()
    int8.unlink()
    fp32.write_bytes(b"")
    assert quantize_body(body, data, tmp_path).graph_bytes() == first.graph_bytes()


@pytest.mark.slow
def test_a_cached_graph_found_whole_is_remembered_until_its_file_changes(
    tmp_path, tiny, monkeypatch
):
    """Every warm retrain opened the cached int8 graph in ONNX Runtime to check that it is whole
    (0.15 to 0.2 s for the default bodies): a graph found whole is remembered in the store under
    its file's size, times and inode, so later lookups open nothing; a graph written again (cut
    short here, as a crash leaves one) is a new file, checked again and made again."""
    import objrec.quantize
    from objrec.cache import open_cache

    body, data = tiny
    store = open_cache(tmp_path).store
    first = quantize_body(body, data, tmp_path, store=store)
    (int8,) = (tmp_path / "onnx").glob("*-int8-*.onnx")
    opened = opened_graphs(monkeypatch)
    for _ in range(2):
        assert quantize_body(body, data, tmp_path, store=store).graph_bytes() == first.graph_bytes()
    assert opened == [int8]  # checked once, then remembered
    opened.clear()
    assert quantize_body(body, data, tmp_path).graph_bytes() == first.graph_bytes()
    assert opened == [int8]  # without a store: checked, as before
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(int8.read_bytes()[:300])
    damaged.replace(int8)  # another file under the graph's name
    assert not objrec.quantize.usable(int8, store)
    assert store.recall(objrec.quantize.graph_stamp(int8)) is None  # never remembered as whole
    assert quantize_body(body, data, tmp_path, store=store).graph_bytes() == first.graph_bytes()
    opened.clear()
    for _ in range(2):  # the graph made again: checked once, then remembered
        assert objrec.quantize.usable(int8, store)
    assert opened == [int8]
    open_cache(tmp_path).close()


@pytest.mark.slow
def test_a_model_with_an_int8_body_is_copied_and_saved_after_it_has_run(tmp_path, tiny):
    """`copy.deepcopy(model)` or `torch.save(model, f)` of a loaded int8 model that had answered
    once raised "cannot pickle 'InferenceSession' object": the body kept its session."""
    import copy
    import pickle

    body, data = tiny
    graph = export_onnx(body, tmp_path / "body.onnx", data.input_size).read_bytes()
    int8 = QuantizedBody(body, graph)
    x = torch.randn(2, 3, data.input_size, data.input_size)
    expected = int8(x)
    for copied in (copy.deepcopy(int8), pickle.loads(pickle.dumps(int8))):
        assert copied._session is None and torch.equal(copied(x), expected)
    assert int8._session is not None  # the original keeps its own


def tiny_int8(tmp_path, tiny, engine: str = "openvino") -> QuantizedBody:
    body, data = tiny
    graph = export_onnx(body, tmp_path / "body.onnx", data.input_size).read_bytes()
    return QuantizedBody(body, graph, engine)


@pytest.mark.slow
def test_openvino_gives_an_image_the_same_features_in_any_batch(tmp_path, tiny):
    """OpenVINO's kernels for a dynamic batch differ from its static ones on the default int8
    body (not on this tiny one, whose features agree either way), and a photo must get in predict
    (alone) the features it got in train's batches of 16: so every call runs a graph compiled for
    a fixed batch (checked below), and every batch size, padded or not, gives each image the same
    features."""
    body = tiny_int8(tmp_path, tiny)
    size = tiny[1].input_size
    x = torch.randn(21, 3, size, size, generator=torch.Generator().manual_seed(0))
    everything = body(x)
    assert everything.shape == (21, body.n_features)
    for rows in (slice(0, 1), slice(3, 5), slice(2, 9), slice(5, 21)):
        assert torch.equal(body(x[rows]), everything[rows])
    with torch.inference_mode():
        assert torch.allclose(everything, tiny[0](x), atol=1e-4)  # an fp32 graph, run in f32
    compiled = body.session()._compiled
    assert sorted(compiled) == [2, 16]  # a batch of 1 or 2 images; more, in batches of 16
    assert all(model.input(0).get_partial_shape().is_static for model in compiled.values())


def uncached(body: QuantizedBody) -> OpenVinoModel:
    """``body``'s graph on OpenVINO, compiled each time (no cache folder)."""
    return OpenVinoModel(body.graph_bytes(), cache=None)


@pytest.mark.slow
def test_openvino_first_calls_are_made_one_thread_at_a_time(tmp_path, tiny):
    """Threads making their first OpenVINO calls at once (compile, infer request, first infer)
    could hang the process for good: 4 of 15 processes of 8 threads over two models did. Each
    thread's first calls now hold ``openvino_runtime.FIRST_CALLS``."""
    from concurrent.futures import ThreadPoolExecutor

    model = uncached(tiny_int8(tmp_path, tiny))
    held: list[tuple[str, bool]] = []
    compile_model = model.core.compile_model

    class Request:
        def __init__(self, request):
            self.request = request

        def __getattr__(self, name):
            return getattr(self.request, name)

        def infer(self, inputs):
            held.append(("infer", openvino_runtime.FIRST_CALLS.locked()))
            return self.request.infer(inputs)

    class Compiled:
        def __init__(self, compiled):
            self.compiled = compiled

        def create_infer_request(self):
            held.append(("create", openvino_runtime.FIRST_CALLS.locked()))
            return Request(self.compiled.create_infer_request())

    model.core = SimpleNamespace(compile_model=lambda *a: Compiled(compile_model(*a)))
    size = tiny[1].input_size
    x = torch.randn(3, 3, size, size)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: model(x[: 1 + 2 * (k % 2)]), range(8)))
    made = [locked for call, locked in held if call == "create"]
    assert made and all(made)  # each thread's request for each batch size, made and run once
    assert [locked for call, locked in held if call == "infer"].count(True) >= len(made)
    assert not openvino_runtime.FIRST_CALLS.locked()


def from_cache(session) -> list[bool]:
    return [compiled.get_property("LOADED_FROM_CACHE") for compiled in session._compiled.values()]


@pytest.mark.slow
def test_openvino_loads_what_it_compiled_from_the_cache_folder_with_the_same_features(
    tmp_path, tiny
):
    """Every process compiled the OpenVINO graph again (1.7 s a batch size for the three-body
    default: a one-photo `predict` took 5.9 s against ONNX Runtime's 3.9 s). OpenVINO now keeps
    what it compiles in `openvino/` of objrec's cache folder, train's (`FrozenBody`) or the
    default one (`predict`, `serve`), and a new session, as another process makes, loads it from
    there: each image gets the same features, bit for bit, as from a graph compiled anew."""
    body = tiny_int8(tmp_path, tiny)
    size = tiny[1].input_size
    x = torch.randn(5, 3, size, size, generator=torch.Generator().manual_seed(0))
    cache = FeatureCache(tmp_path / "cache")
    fresh = uncached(body)
    expected = {rows: fresh(x[:rows]) for rows in (5, 1)}  # batches of 16 and of 2
    train = FrozenBody(body, size, cache)
    assert all(torch.equal(train(x[:rows]), expected[rows]) for rows in expected)
    assert len(cache.compiled_graphs()) == 2 and cache.summary().compiled_graphs == 2
    again = body.open(cache_dir=cache.root)  # compiled anew: from the folder, as in another process
    assert all(torch.equal(again(x[:rows]), expected[rows]) for rows in expected)
    assert from_cache(again) == [True, True] and from_cache(fresh) == [False, False]
    assert torch.equal(body(x[:1]), expected[1])  # predict's session: the default cache folder
    assert len(FeatureCache(default_cache_dir()).compiled_graphs()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("saved", ["whole", "cut short"])
def test_a_warm_openvino_session_compiles_from_the_saved_graph_without_reading_the_onnx(
    tmp_path, tiny, monkeypatch, saved
):
    """A new session (each train, predict or serve process) read the int8 graph from its bytes,
    fixed its batch and had OpenVINO hash the result for its cache key before loading what it had
    compiled: 1.1 s of 1.65 s for the three-body default. The graph with its batch fixed is now
    saved beside the compiled ones, and compiled from its path, OpenVINO's key: a warm session
    reads no ONNX and fixes no batch, and each image gets the same features, bit for bit. A saved
    graph cut short (a full disk) is saved again."""

    body = tiny_int8(tmp_path, tiny)
    folder = tmp_path / "openvino"
    size = tiny[1].input_size
    x = torch.randn(5, 3, size, size, generator=torch.Generator().manual_seed(0))
    expected = {rows: uncached(body)(x[:rows]) for rows in (5, 1)}  # batches of 16 and of 2
    first = OpenVinoModel(body.graph_bytes(), cache=folder)
    assert all(torch.equal(first(x[:rows]), expected[rows]) for rows in expected)
    files = sorted(openvino_runtime.static_name(first.key, n) for n in (2, 16))
    assert sorted(p.name for p in folder.glob("*.xml")) == files
    if saved == "cut short":
        for path in folder.glob("*-16.*"):
            path.write_bytes(path.read_bytes()[:100])
    fixed: list[int] = []
    static = OpenVinoModel.static
    monkeypatch.setattr(OpenVinoModel, "static", lambda self, n: fixed.append(n) or static(self, n))
    again = OpenVinoModel(body.graph_bytes(), cache=folder)
    assert all(torch.equal(again(x[:rows]), expected[rows]) for rows in expected)
    assert fixed == ([16] if saved == "cut short" else [])  # the batch fixed, saved again
    assert (again._model is None) is (saved == "whole")  # the ONNX bytes were never read
    assert from_cache(again) == [saved == "whole", True]  # a new file, a new key: compiled
    assert sorted(p.name for p in folder.glob("*.xml")) == files


@pytest.mark.slow
def test_an_openvino_session_runs_its_first_batch_without_a_batch_of_zeros_before(tmp_path, tiny):
    """A session's first call ran a batch of zeros before the images (0.17 s for the three-body
    default's batch of 16), to run once under ``FIRST_CALLS``: the images' own batch is that run
    now, and gives the features a later call gives."""
    model = uncached(tiny_int8(tmp_path, tiny))
    compile_model, inputs = model.core.compile_model, []

    class Request:
        def __init__(self, request):
            self.request = request

        def infer(self, feed):
            inputs.append(feed[0].copy())
            return self.request.infer(feed)

        def cancel(self):  # what a Ctrl-C calls during infer
            self.request.cancel()

    model.core = SimpleNamespace(
        compile_model=lambda *a: SimpleNamespace(
            create_infer_request=lambda: Request(compile_model(*a).create_infer_request())
        )
    )
    size = tiny[1].input_size
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(0))
    first = model(x)
    assert len(inputs) == 1 and np.array_equal(inputs[0][:3], x.numpy())
    assert torch.equal(model(x), first) and len(inputs) == 2


@pytest.mark.slow
@pytest.mark.parametrize("why", ["a file in the way", "read-only", "damaged"])
def test_openvino_compiles_when_its_cache_folder_is_unusable(
    tmp_path, tiny, monkeypatch, caplog, why
):
    """A cache folder that cannot be made or written (a read-only home) costs a compile and a
    warning, never a failure; a graph cut short in the cache (a process killed while OpenVINO
    wrote it) is compiled again: the features stay the same."""

    body = tiny_int8(tmp_path, tiny)
    x = torch.randn(3, 3, tiny[1].input_size, tiny[1].input_size)
    folder = tmp_path / "cache"
    if why == "a file in the way":
        folder.write_text("not a folder")
    elif why == "read-only":  # as a user without write permission sees it (root writes anyway)
        monkeypatch.setattr(openvino_runtime.os, "access", lambda path, mode: False)
    else:
        body.open(cache_dir=folder)(x)
        for blob in FeatureCache(folder).compiled_graphs():
            blob.chmod(0o600)
            blob.write_bytes(blob.read_bytes()[:100])
    with caplog.at_level("WARNING", logger="objrec"):
        session = body.open(cache_dir=folder)
        assert torch.equal(session(x), uncached(body)(x))
    assert from_cache(session) == [False]
    assert ("cannot be kept in" in caplog.text) is (why != "damaged")
    assert len(FeatureCache(folder).compiled_graphs()) == (why == "damaged")  # made again


@pytest.mark.slow
def test_a_compile_waits_for_another_process_compiling_into_the_cache(
    tmp_path, tiny, monkeypatch, caplog
):
    """OpenVINO writes a compiled graph straight to its name, with no lock between processes
    (torchrun's ranks, a predict beside a train): objrec holds the folder while it compiles, and
    a process kept waiting too long compiles without the cache, saying so."""
    import fcntl
    import os

    monkeypatch.setattr(openvino_runtime, "COMPILE_WAIT", 0.2)
    body = tiny_int8(tmp_path, tiny)
    folder = tmp_path / "openvino"
    folder.mkdir()
    x = torch.randn(3, 3, tiny[1].input_size, tiny[1].input_size)
    other = os.open(folder, os.O_RDONLY)  # another open of the folder: its lock is apart
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        with caplog.at_level("WARNING", logger="objrec"):
            got = OpenVinoModel(body.graph_bytes(), cache=folder)(x)
    finally:
        os.close(other)
    assert "another process held it" in caplog.text and not list(folder.iterdir())
    assert torch.equal(got, uncached(body)(x))
    assert torch.equal(OpenVinoModel(body.graph_bytes(), cache=folder)(x), got)
    assert len(list(folder.glob("*.blob"))) == 1  # once let go, the next compile writes its graph


@pytest.mark.slow
def test_a_checkpoint_saved_before_the_engine_was_recorded_runs_on_onnxruntime(tmp_path, tiny):
    state = tiny_int8(tmp_path, tiny).state_dict()
    del state["int8_engine"]
    loaded = QuantizedBody(tiny[0])
    loaded.load_state_dict(state, strict=True)
    assert loaded.engine == "onnxruntime"
    assert loaded.graph_bytes() == tiny_int8(tmp_path, tiny).graph_bytes()


@pytest.mark.slow
def test_an_openvino_body_runs_on_onnxruntime_where_openvino_is_missing(
    tmp_path, tiny, monkeypatch, caplog
):
    import objrec.int8_body as int8_body

    body = tiny_int8(tmp_path, tiny)
    monkeypatch.setattr(int8_body, "openvino_available", lambda: False)
    x = torch.randn(3, 3, tiny[1].input_size, tiny[1].input_size)
    with caplog.at_level("WARNING"):
        got = body(x)
    assert "OpenVINO, which is not installed" in caplog.text
    assert torch.equal(got, body.on_engine("onnxruntime")(x))
    with pytest.raises(ObjrecError, match="openvino is not installed"):
        int8_body.int8_engine("openvino")
    assert int8_body.int8_engine("auto") == "onnxruntime"


@pytest.mark.slow
def test_onnxruntime_bodies_keep_their_state_and_a_missing_engine_is_keyed_as_the_one_that_runs(
    tmp_path, tiny, monkeypatch
):
    """A body whose engine is missing must not store ONNX Runtime's features under OpenVINO's key,
    and an ONNX Runtime body's state (so its fingerprint, its store entries and resuming a run)
    is what it was before engines were recorded."""
    import objrec.int8_body as int8_body

    body = tiny_int8(tmp_path, tiny)
    ort = body.on_engine("onnxruntime")
    assert "int8_engine" not in ort.state_dict() and "int8_engine" in body.state_dict()
    cache = FeatureCache(tmp_path / "c")
    assert FrozenBody(body, 32, cache).fingerprint != FrozenBody(ort, 32, cache).fingerprint
    monkeypatch.setattr(int8_body, "openvino_available", lambda: False)
    missing = FrozenBody(body, 32, cache, name="tiny_test")
    assert missing.fingerprint == FrozenBody(ort, 32, cache).fingerprint
    assert missing.name == "tiny_test (int8)"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the memory map (Linux)")
def test_openvino_sessions_that_went_leave_ctrl_c_and_sigterm_working(tmp_path, tiny):
    """SIGTERM or Ctrl-C ended a process with a segmentation fault, nothing cleaned up, once two
    OpenVINO sessions had gone in the order they came (test_cli's SIGTERM test, run after this
    file in one process): each had its own Core, whose CPU plugin gave the thread an alternate
    signal stack and put back the one it had found when it went, by then unmapped; Python's
    handlers run on that stack. One Core (openvino_runtime.openvino_core) now serves every session."""
    import gc
    import os
    import signal
    import time

    from objrec.cli import sigterm_as_ctrl_c

    def pytests_own(*args):
        raise AssertionError("SIGTERM reached the handler objrec had replaced")

    body = tiny_int8(tmp_path, tiny)
    x = torch.zeros(1, 3, tiny[1].input_size, tiny[1].input_size)
    first, second = uncached(body), uncached(body)
    assert torch.equal(first(x), second(x))
    del first
    gc.collect()
    del second
    gc.collect()
    assert signal_stack_is_usable()  # else the signal below would end pytest itself
    before, caught = signal.signal(signal.SIGTERM, pytests_own), []
    try:
        with sigterm_as_ctrl_c(caught), pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises as soon as the signal arrives
    finally:
        signal.signal(signal.SIGTERM, before)
    assert caught == [signal.SIGTERM]


def signal_stack_is_usable() -> bool:
    """Whether this thread's alternate signal stack, if it has one, is memory still mapped."""
    import ctypes

    class Stack(ctypes.Structure):
        _fields_ = [
            ("ss_sp", ctypes.c_void_p),
            ("ss_flags", ctypes.c_int),
            ("ss_size", ctypes.c_size_t),
        ]

    stack = Stack()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) == 0
    if stack.ss_flags & 2:  # SS_DISABLE: none, handlers run on the thread's own stack
        return True
    start = stack.ss_sp or 0
    lines = Path("/proc/self/maps").read_text().splitlines()
    spans = [[int(a, 16) for a in line.split()[0].split("-")] for line in lines]
    return any(low <= start and start + stack.ss_size <= high for low, high in spans)


@pytest.mark.slow
def test_openvino_answers_no_image_with_no_rows(tmp_path, tiny):
    body = tiny_int8(tmp_path, tiny)
    assert body(torch.zeros(0, 3, 32, 32)).shape == (0, body.n_features)


def test_a_damaged_engine_name_is_refused_in_one_sentence(tiny):
    body = QuantizedBody(tiny[0], b"graph", "openvino")
    body.int8_engine = torch.tensor(list(b"vulkan"), dtype=torch.uint8)
    with pytest.raises(ObjrecError, match="names no engine"):
        body.open()


def test_a_graph_remembered_whole_is_opened_again_once_onnxruntime_is_installed_anew(
    tmp_path, monkeypatch
):
    """The store remembered that a cached graph opens under its file's stat alone: after another
    ONNX Runtime was installed (one that no longer opens it, as an older one refuses a newer IR
    version), train still took the graph as whole, never made it again, and failed later on
    'damaged or not ONNX'. The runtime's files are part of what is remembered now."""
    import importlib.util
    from importlib.machinery import ModuleSpec

    import objrec.quantize
    from objrec.cache import open_cache

    graph = tmp_path / "body-int8.onnx"
    graph.write_bytes(b"a graph")
    store = open_cache(tmp_path / "cache").store
    monkeypatch.setattr(objrec.quantize, "onnx_session", lambda path, **kw: None)
    assert objrec.quantize.usable(graph, store)  # opens: remembered

    def refuses(path, **kw):
        raise RuntimeError("Unsupported model IR version: 11, max supported IR version: 10")

    monkeypatch.setattr(objrec.quantize, "onnx_session", refuses)
    assert objrec.quantize.usable(graph, store)  # the same runtime: not opened again
    installed = tmp_path / "site-packages" / "onnxruntime" / "__init__.py"
    installed.parent.mkdir(parents=True)
    installed.write_text("__version__ = '1.16.0'\n")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: (
            ModuleSpec(name, None, origin=str(installed))
            if name == "onnxruntime"
            else find_spec(name, *rest)
        ),
    )
    assert not objrec.quantize.usable(graph, store)  # opened again: made again
    open_cache(tmp_path / "cache").close()


def test_a_graph_whose_save_fails_leaves_no_temporary_files_in_the_cache(tmp_path, monkeypatch):
    """A graph saved to compile from is written under temporary names, then renamed: a save that
    failed (a full disk: 17 MB for the three-body default) left its half-written ``.xml`` and
    ``.bin`` in ``openvino/``, counted by `objrec cache` and kept until a prune days later, on a
    disk already full. They are removed, and the failure raised (the compile then goes on
    without the cache, as before)."""
    import openvino as ov

    def full_disk(model, path, compress_to_fp16=False):
        Path(path).write_bytes(b"<?xml")
        Path(path).with_suffix(".bin").write_bytes(b"\0" * 10)
        raise RuntimeError("No space left on device")

    monkeypatch.setattr(ov, "save_model", full_disk)
    folder = tmp_path / "openvino"
    folder.mkdir()
    with pytest.raises(RuntimeError, match="No space left"):
        openvino_runtime.save_static(None, folder / openvino_runtime.static_name("c1" * 16, 16))
    assert list(folder.iterdir()) == []


def test_the_saved_graph_name_changes_with_the_static_format(monkeypatch):
    """The saved graph's name held the ONNX graph's hash and OpenVINO's version, not how
    ``static()`` builds the graph: a change there would have compiled the graph saved by the
    earlier code. The name holds openvino_runtime.STATIC_FORMAT, bumped with such a change."""

    key = openvino_runtime.static_key(b"graph")
    assert (
        openvino_runtime.static_key(b"graph") == key
        and openvino_runtime.static_key(b"other") != key
    )
    monkeypatch.setattr(openvino_runtime, "STATIC_FORMAT", openvino_runtime.STATIC_FORMAT + 1)
    assert openvino_runtime.static_key(b"graph") != key


def test_a_graph_saved_by_another_openvino_version_is_saved_again(tmp_path, monkeypatch):
    """The graph saved to compile from is OpenVINO's own reading of the ONNX graph, made by the
    version installed then, and was named by the ONNX graph's hash alone: after an upgrade, warm
    processes kept compiling the earlier version's reading, while a fresh cache folder had the new
    one's, so two machines with the same software could compute other features. Its name now
    holds the version that made it: another version saves its own."""
    import openvino as ov

    graph_bytes = relu_graph()
    folder = tmp_path / "openvino"
    inputs = torch.tensor([[-1.0, 0.0, 2.0]])
    first = OpenVinoModel(graph_bytes, batch=2, cache=folder)
    assert torch.equal(first(inputs), torch.tensor([[0.0, 0.0, 2.0]]))
    monkeypatch.setattr(ov, "get_version", lambda: "2099.1.0-1-upgraded")
    again = OpenVinoModel(graph_bytes, batch=2, cache=folder)
    assert again.key != first.key and again.saved(2) is None  # not the earlier version's
    assert torch.equal(again(inputs), torch.tensor([[0.0, 0.0, 2.0]]))
    assert again.saved(2) == folder / openvino_runtime.static_name(again.key, 2)


def relu_graph() -> bytes:
    """An ONNX graph of one ReLU over batches of 3 numbers: OpenVINO compiles it in milliseconds."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.slow  # two OpenVINO sessions (0.1 s)
def test_openvino_records_each_use_of_a_saved_graph_with_the_graphs_compiled_from_it(tmp_path):
    """OpenVINO names a compiled graph by its own hash and loads it leaving no trace on a file
    system mounted noatime, so `cache --prune` removed graphs loaded every day. Each compile or
    load through the cache folder records its use beside the saved graph, naming the compiled
    graphs that compile wrote: what the prune judges them by."""
    import os
    import time

    from objrec import runtime

    folder = tmp_path / "openvino"
    first = OpenVinoModel(relu_graph(), batch=2, cache=folder)
    assert torch.equal(first(torch.tensor([[-1.0, 0.0, 2.0]]))[0], torch.tensor([0.0, 0.0, 2.0]))
    record = runtime.use_marker(folder / openvino_runtime.static_name(first.key, 2))
    blobs = sorted(p.name for p in folder.glob("*.blob"))
    assert len(blobs) == 1 and record.read_text().split() == blobs
    os.utime(record, (time.time() - 10 * 86400,) * 2)
    again = OpenVinoModel(relu_graph(), batch=2, cache=folder)  # the next process: loaded
    again(torch.zeros(1, 3))
    assert from_cache(again) == [True] and record.read_text().split() == blobs
    assert record.stat().st_mtime > time.time() - 86400


def graph_reading(tmp_path: Path, tiny, name: str) -> bytes:
    """The tiny body's graph with its weights kept outside it, in the file ``name`` (ONNX's
    external data), as an edited checkpoint could hold it."""
    body, data = tiny
    model = onnx.load(str(export_onnx(body, tmp_path / "body.onnx", data.input_size)))
    outside = tmp_path / "outside.onnx"
    onnx.save_model(model, str(outside), save_as_external_data=True, location=name)
    onnx.save_model(onnx.load(str(outside), load_external_data=False), str(outside))
    return outside.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_an_int8_graph_that_reads_a_file_is_refused_as_its_checkpoint_loads(
    tmp_path, tiny, monkeypatch, engine
):
    """A checkpoint whose int8 graph kept a weight in "secret.txt" (external data) loaded, and
    ONNX Runtime and OpenVINO read that file from the current folder: its answers depended on a
    file of the user's that no one gave it (security40 #1)."""
    body = tiny[0]
    graph = graph_reading(tmp_path, tiny, "secret.txt")
    assert (tmp_path / "secret.txt").is_file()
    monkeypatch.chdir(tmp_path)  # where the engines read it from
    state = QuantizedBody(body, graph, engine).state_dict()
    with pytest.raises(ObjrecError, match=r"reads weights from files outside the checkpoint \("):
        QuantizedBody(body).load_state_dict(state)
    x = torch.zeros(1, 3, tiny[1].input_size, tiny[1].input_size)
    loaded = QuantizedBody(body, b"", engine)
    loaded.load_state_dict(
        QuantizedBody(body, (tmp_path / "body.onnx").read_bytes(), engine).state_dict()
    )
    assert loaded(x).shape == (1, body.n_features)  # a graph of its own loads and runs


def opened_graphs(monkeypatch) -> list[Path]:
    """Each graph ``objrec.quantize`` opens in ONNX Runtime from now on, in order (each still
    opened): how often a lookup checked that a cached graph is whole."""
    import objrec.quantize

    opened: list[Path] = []
    session = objrec.quantize.onnx_session
    monkeypatch.setattr(
        objrec.quantize,
        "onnx_session",
        lambda path, **kw: opened.append(path) or session(path, **kw),
    )
    return opened


class StoppedMidRun:
    """An engine's session (or infer request) that gets Ctrl-C during its run: the CLI's watcher
    calls ``errors.WORK_IN_HAND.stop()`` from its thread as the engine works on the batch."""

    def __init__(self, engine, run: str):
        self.engine, self.run_name, self.cancelled = engine, run, 0

    def __getattr__(self, name):
        if name != self.run_name:
            return getattr(self.engine, name)

        def run(*args):
            from objrec.errors import WORK_IN_HAND

            WORK_IN_HAND.stop()
            return getattr(self.engine, name)(*args)

        return run

    def cancel(self):
        self.cancelled += 1


@pytest.mark.slow  # an ONNX Runtime session and OpenVINO's compile (0.1 s)
def test_ctrl_c_cuts_short_the_batch_an_engine_is_running(monkeypatch):
    """Ctrl-C during a batch in ONNX Runtime (the int8 copy's calibration, a frozen pass) or
    OpenVINO (an int8 body's features) was answered only as the batch ended: up to 17 s on a
    busy machine. The stop sets the run's ``terminate`` (ONNX Runtime ends the run at its next
    operator) or cancels OpenVINO's request; a batch run later runs as before."""
    from objrec.errors import WORK_IN_HAND
    from objrec.quantize import CutByCtrlC
    from objrec.runtime import OnnxModel

    x = torch.tensor([[-1.0, 0.0, 2.0]])
    onnx_model = OnnxModel(relu_graph())
    session = onnx_model.session
    onnx_model.session = StoppedMidRun(session, "run")
    calibrating = CutByCtrlC(StoppedMidRun(session, "run"))  # the calibrator's session
    try:
        with pytest.raises(Exception, match="terminate"):
            onnx_model(x)
        with pytest.raises(Exception, match="terminate"):
            calibrating.run(None, {"x": x.numpy()})
    finally:
        WORK_IN_HAND.reset()
    assert CutByCtrlC(session).run(None, {"x": x.numpy()})[0].tolist() == [[0.0, 0.0, 2.0]]
    openvino = OpenVinoModel(relu_graph(), batch=2, cache=None)
    openvino(x)  # its request for batches of 2 made
    requests = openvino._local.requests
    requests[2] = request = StoppedMidRun(requests[2], "infer")
    try:
        openvino(x)
    finally:
        WORK_IN_HAND.reset()
    assert request.cancelled == 1


@pytest.mark.slow  # trains an int8 run: 3 s
def test_the_model_itself_runs_the_int8_body_and_predict_s_batch_gives_predict_s_answer(
    tmp_path, split_dir, tiny_config
):
    """newcomer59 (7): following python-api.md's "the model itself" (`softmax(model(x) / T)` on
    a batch made from `meta.data`) gave 0.99856 where predict gave 0.99862, which the section
    did not explain; the difference is the batch (the decode and resize), not the body, which is
    the int8 one predict runs. The section says so, and that `recognizer.preprocess(
    [recognizer.open(path)])` is predict's batch: on it, the section's recipe (the features
    rounded as stored, the calibrated softmax) is predict's answer within 1e-6, the fp32 body's
    not."""
    import objrec
    from objrec.model import as_stored

    page = " ".join((Path(__file__).parents[1] / "docs" / "python-api.md").read_text().split())
    section = page[page.index("**The model itself.**") : page.index("Calibrated probabilities")]
    assert "`recognizer.preprocess([recognizer.open(path)])` is `predict`'s own batch" in section
    assert "not the fp32 body" in section and "backbones.md#how-the-int8-body-is-made" in section
    tiny_config.precision, tiny_config.epochs = "int8", 2
    train(split_dir, tmp_path / "run", tiny_config)
    model, meta = objrec.load_model(tmp_path / "run")
    recognizer = objrec.Recognizer.load(tmp_path / "run")
    photo = next((split_dir / "test").rglob("*.jpg"))
    answer = objrec.predict(tmp_path / "run", [photo], topk=len(meta.classes))[0]
    predicted = torch.tensor(
        [next(t["prob"] for t in answer.topk if t["class"] == c) for c in meta.classes]
    )
    x = recognizer.preprocess([recognizer.open(photo)])
    with torch.no_grad():
        scores = model.head(as_stored(model.body(x), meta.feature_dtype))
        mine = (scores / meta.calibration.temperature).softmax(1)[0]
        fp32 = model.head(as_stored(model.body.float_body(x), meta.feature_dtype))
        fp32 = (fp32 / meta.calibration.temperature).softmax(1)[0]
    assert isinstance(model.body, QuantizedBody)
    assert float((mine - predicted).abs().max()) < 1e-6 < float((fp32 - predicted).abs().max())

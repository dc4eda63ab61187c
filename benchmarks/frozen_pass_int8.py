"""The default's frozen pass in fp32 and in int8: the body alone, decoding alone, files to features.

    python benchmarks/frozen_pass_int8.py [--data /work/splits/s0] [--images 256] [--repeats 3]
    python benchmarks/frozen_pass_int8.py --engines [--images 64]

On a fixed sample of ``--images`` training images of the split (seeded), with the default
three-body ensemble at 240 px, batch 16 (objrec's ``FROZEN_BATCH``), torch's thread count for ONNX
Runtime:

* decoding alone: open + transform in one thread, no body (centre view; augmented view);
* the body alone on ready tensors, fp32 and int8 (``objrec.quantize`` with its default settings),
  in batches of 16 and of 8, one batch at a time; the int8 graph in ONNX Runtime and in OpenVINO;
* files to features (``frozen.compute_features``: decoding in a thread beside the body), fp32
  and int8, centre and augmented view, one batch at a time; for int8 also with ONNX Runtime's
  threads not spinning between operators, and with one thread only, which leaves the decoding
  thread a core; then objrec's own frozen pass (``FrozenBody``, as ``train`` runs it), fp32,
  int8 in ONNX Runtime (``BODY_CALLERS`` batches at once) and int8 in OpenVINO (one at a time);
* the agreement of int8 features with fp32's on the same files: median and minimum cosine.

Every rate is the median of ``--repeats`` runs (images/s); the body-alone rates follow a warm-up.

``--engines`` times the body alone instead, on ready tensors of ``--images`` of the split's valid
images, one batch of 16 at a time: each body of the backbone, then the backbone, in eager PyTorch
fp32, PyTorch bfloat16 (autocast, channels-last: oneDNN's AMX kernels where the CPU has AMX), ONNX
Runtime fp32, ONNX Runtime int8 and OpenVINO int8 (``objrec.quantize``'s defaults), with each one's agreement
with PyTorch fp32 (median and minimum cosine); the graphs stay in a temporary folder. It ends by
saying whether the process was granted AMX tiles (Linux, x86-64).
"""

from __future__ import annotations

import copy
import ctypes
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _sampling import sample_parser

from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.cache import FeatureCache
from objrec.config import DEFAULT_BACKBONE
from objrec.data import scan_class_folder
from objrec.frozen import FROZEN_BATCH, FrozenBody, compute_features
from objrec.openvino_runtime import OpenVinoModel
from objrec.quantize import calibration_sample, quantize_body
from objrec.runtime import OnnxModel, export_onnx, onnx_session
from objrec.transforms import draft_size
from objrec.views import SeededViewDataset, ViewSpec


class SessionBody:
    """What ``compute_features`` needs of a body: ``n_features``, the batch size, the device, how
    many batches it runs at once (one: each operator on all the session's threads) and a call on a
    batch."""

    callers = 1

    def __init__(self, session, n_features: int, batch_size: int = FROZEN_BATCH):
        self.session, self.n_features, self.batch_size = session, n_features, batch_size
        self.device = torch.device("cpu")
        self.name = session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {self.name: x.contiguous().numpy()})[0])


class EngineBody(SessionBody):
    """A :class:`SessionBody` whose call is a ``openvino_runtime.OpenVinoModel``'s."""

    def __init__(self, model: OpenVinoModel, n_features: int, batch_size: int = FROZEN_BATCH):
        self.model, self.n_features, self.batch_size = model, n_features, batch_size
        self.device = torch.device("cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def median_rate(run, n: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def cosine(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    cos = torch.nn.functional.cosine_similarity(a, b)
    return float(cos.median()), float(cos.min())


def decode_only(samples, spec: ViewSpec) -> None:
    dataset = SeededViewDataset(samples, spec.transform(), spec.view, draft_size(spec.data))
    for i in range(len(dataset)):
        dataset[i]


def made_bodies(body, data, tmp: Path) -> dict:
    """ONNX Runtime sessions of the fp32 and int8 graphs, one batch at a time in several settings,
    then objrec's own frozen pass (``BODY_CALLERS`` batches at once, as `train` runs it), each
    made and warm before anything is timed."""
    fp32_path = export_onnx(body, tmp / "fp32.onnx", data.input_size)
    int8 = quantize_body(body, data, tmp, engine="onnxruntime")
    int8_graph = int8.graph_bytes()
    openvino = quantize_body(body, data, tmp, engine="openvino")  # its graph is QDQ
    n_features = body.n_features
    frozen = {
        "fp32, objrec's frozen pass": FrozenBody(body, data.input_size, FeatureCache(tmp)),
        "int8, objrec's frozen pass": FrozenBody(int8, data.input_size, FeatureCache(tmp)),
        "int8, OpenVINO, objrec's frozen pass": FrozenBody(
            openvino, data.input_size, FeatureCache(tmp)
        ),
    }
    for run in frozen.values():
        run.runner()  # the fp32 graph exported, the sessions made
    return {
        "fp32": SessionBody(onnx_session(fp32_path), n_features),
        "int8": SessionBody(onnx_session(int8_graph), n_features),
        "int8, OpenVINO": EngineBody(OpenVinoModel(openvino.graph_bytes()), n_features),
        "int8, threads not spinning": SessionBody(onnx_session(int8_graph, spin=False), n_features),
        "int8, 1 thread": SessionBody(onnx_session(int8_graph, threads=1), n_features),
        "fp32, batch 8": SessionBody(onnx_session(fp32_path), n_features, 8),
        "int8, batch 8": SessionBody(onnx_session(int8_graph), n_features, 8),
        **frozen,
    }


def files_to_features(bodies: dict, samples, views: dict, repeats: int) -> dict:
    """Images/s of files to features for every body and view, printed; the features kept."""
    features: dict[tuple[str, str], torch.Tensor] = {}
    for view_name, view in views.items():
        for name, run in bodies.items():

            def once(run=run, view=view, key=(name, view_name)):
                features[key] = compute_features(run, samples, view).features

            rate = median_rate(once, len(samples), repeats)
            print(f"  files -> features, {view_name:9s} view, {name:28s} {rate:7.1f}", flush=True)
    return features


def agreement(features: dict, views: dict) -> None:
    """Whether objrec's frozen pass gives one session's features, and int8 against fp32."""
    for view_name in views:
        ours = features[("int8, objrec's frozen pass", view_name)]
        same = np.array_equal(ours, features[("int8", view_name)])
        print(
            f"  int8, {view_name} view: objrec's frozen pass gives one session's features: {same}"
        )
        for name in ("int8", "int8, OpenVINO"):
            med, low = cosine(features[(name, view_name)], features[("fp32", view_name)])
            print(
                f"  {name} vs fp32 features, {view_name} view: cosine median {med:.4f}, min {low:.4f}"
            )
        ours = features[("int8, OpenVINO, objrec's frozen pass", view_name)]
        same = np.array_equal(ours, features[("int8, OpenVINO", view_name)])
        print(
            f"  int8, OpenVINO, {view_name} view: objrec's frozen pass gives its features: {same}"
        )
    spinning = features[("int8", "centre")], features[("int8, threads not spinning", "centre")]
    print(f"  int8 with and without spinning give identical features: {np.array_equal(*spinning)}")


def amx_granted() -> bool | None:
    """Whether this process may use AMX tiles (Linux grants them on request: ONNX Runtime asks when
    it loads, oneDNN when it first needs them); None off Linux on x86-64."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return None
    granted = ctypes.c_ulong(0)  # arch_prctl(ARCH_GET_XCOMP_PERM): bit 18 is XTILEDATA
    ctypes.CDLL(None).syscall(158, 0x1022, ctypes.byref(granted))
    return bool(granted.value & (1 << 18))


def engines(body, data, tmp: Path) -> dict:
    """The body in each engine: a call on a ready batch, returning float32 features."""
    channels_last = copy.deepcopy(body).to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def eager(x: torch.Tensor) -> torch.Tensor:
        return body(x)

    @torch.inference_mode()
    def bfloat16(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return channels_last(x.contiguous(memory_format=torch.channels_last)).float()

    fp32_path = export_onnx(body, tmp / f"{id(body)}.onnx", data.input_size)
    int8_graph = quantize_body(body, data, tmp, engine="onnxruntime").graph_bytes()
    qdq_graph = quantize_body(body, data, tmp, engine="openvino").graph_bytes()
    return {
        "PyTorch fp32": eager,
        "PyTorch bf16, channels-last": bfloat16,
        "ONNX Runtime fp32": OnnxModel(fp32_path),
        "ONNX Runtime int8": OnnxModel(int8_graph),
        "OpenVINO int8": OpenVinoModel(qdq_graph),
    }


def compare_engines(spec, data, args) -> None:
    """``--engines``: each body of ``spec`` and ``spec`` itself, body alone, in each engine."""
    valid = scan_class_folder(args.data / "valid").samples
    samples, _ = calibration_sample(valid, args.images, seed=3)
    centre = SeededViewDataset(samples, ViewSpec(data).transform(), 0, draft_size(data))
    batches = torch.stack([centre[i][0] for i in range(len(samples))]).split(FROZEN_BATCH)
    print(
        f"{len(samples)} valid images of {args.data}, {data.input_size} px, batch {FROZEN_BATCH}, "
        f"{torch.get_num_threads()} threads; body alone, images/s (load average "
        f"{os.getloadavg()[0]:.1f})"
    )
    names = [*spec.name.split("+"), spec.name] if "+" in spec.name else [spec.name]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            runs = engines(build_body(get_backbone(name)).eval(), data, Path(tmp))
            features: dict[str, torch.Tensor] = {}
            for engine, run in runs.items():
                run(batches[0])

                def once(run=run, engine=engine, features=features):
                    features[engine] = torch.cat([run(x) for x in batches])

                rate = median_rate(once, len(samples), args.repeats)
                med, low = cosine(features[engine], features["PyTorch fp32"])
                print(
                    f"  {name}, {engine:28s} {rate:7.1f}   cosine to PyTorch fp32: "
                    f"median {med:.4f}, min {low:.4f}",
                    flush=True,
                )
    print(f"AMX tiles granted to this process: {amx_granted()}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = sample_parser(__doc__, images=256, repeats=3)
    parser.add_argument(
        "--backbone", default=DEFAULT_BACKBONE, help="body measured [default: objrec's default]"
    )
    parser.add_argument(
        "--engines", action="store_true", help="each body alone in PyTorch and ONNX Runtime"
    )
    args = parser.parse_args()
    spec = get_backbone(args.backbone)
    if args.engines:
        compare_engines(spec, resolve_data_config(spec), args)
        return
    data = resolve_data_config(spec)
    train = scan_class_folder(args.data / "train").samples
    samples, _ = calibration_sample(train, args.images, seed=2)
    n, r = len(samples), args.repeats
    views = {"centre": ViewSpec(data), "augmented": ViewSpec(data, "article", 1)}
    body = build_body(spec).eval()
    print(
        f"{args.backbone}, {data.input_size} px, batch {FROZEN_BATCH}, "
        f"{torch.get_num_threads()} threads, {n} training images of {args.data}; images/s "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    for name, view in views.items():
        rate = median_rate(lambda v=view: decode_only(samples, v), n, r)
        print(f"  decoding alone, {name} view, one thread    {rate:7.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        bodies = made_bodies(body, data, Path(tmp))
        centre = SeededViewDataset(samples, views["centre"].transform(), 0, draft_size(data))
        ready = torch.stack([centre[i][0] for i in range(n)])
        for name, run in bodies.items():
            if isinstance(run, SessionBody):
                batches = ready.split(run.batch_size)
                run(batches[0])
                rate = median_rate(lambda run=run, b=batches: [run(x) for x in b], n, r)
                print(f"  body alone, {name:28s} {rate:7.1f}", flush=True)
        features = files_to_features(bodies, samples, views, r)
        agreement(features, views)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Where the default frozen pass spends its time: each transform step, and each kind of convolution.

    python benchmarks/pass_profile.py [--data /work/splits/s0] [--images 300] [--batches 8]

1. Decoding, one thread, no body: ``--images`` training images of the split (seeded) opened as
   the frozen pass opens them (JPEG draft decoding), then each step of the centre and the
   augmented view's transforms timed alone, in milliseconds per image.
2. The default body in int8 and in fp32 (graphs made once per cache folder, in the feature store's
   folder), ONNX Runtime's own profiler over ``--batches`` batches of 16 on 2 threads: kernel
   time per batch by operator, convolutions split into depthwise, expansion (1x1 up), projection
   (1x1 down), stem and head by the EfficientNet-Lite layer names. ONNX Runtime renames the fp32
   graph's fused nodes, so its split is by operator only where names are lost.

Run it alone, under the CPU lock: the figures are shares of one core's or two cores' time.
"""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path

import numpy as np
import torch
from _sampling import sample_parser, seeded_sample

from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.bodies import body_key
from objrec.cache import FeatureCache
from objrec.cache_folder import default_cache_dir
from objrec.config import DEFAULT_BACKBONE
from objrec.frozen import FROZEN_BATCH
from objrec.images import open_image
from objrec.quantize import quantize_body
from objrec.runtime import export_onnx
from objrec.transforms import build_transforms, draft_size

KINDS = ("_depthwise", "_expand", "_project", "_conv_stem", "_conv_head")


def decoding(paths: list[Path], data) -> None:
    raw = [p.read_bytes() for p in paths]
    start = time.perf_counter()
    images = [open_image(b, draft_size=draft_size(data)) for b in raw]
    print(f"JPEG decoding (draft)        {(time.perf_counter() - start) / len(raw) * 1e3:6.2f} ms")
    for view, train in (("centre", False), ("augmented", True)):
        steps: dict[str, float] = collections.defaultdict(float)
        for k, image in enumerate(images):
            torch.manual_seed(k)
            x = image
            for step in build_transforms(data, train=train).transforms:
                start = time.perf_counter()
                x = step(x)
                steps[type(step).__name__] += time.perf_counter() - start
        total = sum(steps.values()) / len(images) * 1e3
        parts = ", ".join(f"{k} {v / len(images) * 1e3:.2f}" for k, v in steps.items())
        print(f"{view} view transforms {total:6.2f} ms: {parts}")


def kind(node: str, op: str) -> str:
    found = next((k for k in KINDS if k in node), None)
    return f"{op} {found.strip('_')}" if found else op


def body_profile(graph: bytes | str, batches: int, threads: int) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    options.profile_file_prefix = "/tmp/objrec-pass-profile"
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((FROZEN_BATCH, 3, 240, 240), dtype=np.float32)
    name = session.get_inputs()[0].name
    session.run(None, {name: x})
    start = time.perf_counter()
    for _ in range(batches):
        session.run(None, {name: x})
    wall = (time.perf_counter() - start) / batches * 1e3
    profile = Path(session.end_profiling())
    events = json.loads(profile.read_text())
    profile.unlink()
    times: dict[str, float] = collections.defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"].get("op_name", "?")
            times[kind(event["name"], op)] += event["dur"] / 1e3 / (batches + 1)
    total = sum(times.values())
    print(f"  wall {wall:.1f} ms a batch of {FROZEN_BATCH} (profiling on); kernels {total:.1f} ms:")
    for key, ms in sorted(times.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {key:28s} {ms:7.1f} ms  {100 * ms / total:5.1f}%")


def main() -> None:
    parser = sample_parser(__doc__, images=300)
    parser.add_argument("--batches", type=int, default=8, help="batches profiled")
    args = parser.parse_args()
    spec = get_backbone(DEFAULT_BACKBONE)
    data = resolve_data_config(spec)
    samples = seeded_sample(args.data / "train", args.images)
    torch.set_num_threads(1)
    print(f"decoding, one thread, {args.images} images of {args.data}, ms per image")
    decoding([s.path for s in samples], data)
    torch.set_num_threads(2)
    body = build_body(spec)
    int8 = quantize_body(body, data, default_cache_dir()).graph_bytes()
    fp32 = FeatureCache(None).onnx_path(body_key(body), data.input_size)
    if not fp32.is_file():
        export_onnx(body, fp32, data.input_size)
    for precision, graph in (("int8", int8), ("fp32", str(fp32))):
        print(f"the body in {precision}, 2 threads, {args.batches} batches")
        body_profile(graph, args.batches, 2)


if __name__ == "__main__":
    main()

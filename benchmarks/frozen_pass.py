"""How fast can the frozen body run on this CPU? Each optimisation step measured side by side.

    python benchmarks/frozen_pass.py [--images 256] [--repeats 3] [--batch 32] [--no-compile]
        [--caltech PATH]

Body-only rows time EfficientNet-Lite0 on ready tensors (batch ``--batch``, the median of
``--repeats`` runs after a warm-up); the last rows time objrec's own files-to-features path
(``compute_features``: decode, resize, crop, normalise, frozen pass) on Caltech-101 images from
``--caltech`` (default ``../shared``), for the centre view and one augmented view, with 0 and 2 DataLoader workers.
Every variant's features are compared with eager PyTorch (max absolute difference).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _sampling import seeded_sample
from torch.nn.utils.fusion import fuse_conv_bn_eval

from objrec.backbones import build_body, get_backbone
from objrec.cache import FeatureCache
from objrec.frozen import FrozenBody, PassSettings, compute_features
from objrec.runtime import make_runner
from objrec.views import ViewSpec

ROOT = Path(__file__).resolve().parents[1]
CALTECH = ROOT.parent / "shared" / "data" / "caltech101"


def fold_lite_batchnorm(body: torch.nn.Module) -> torch.nn.Module:
    """EfficientNet-Lite with every BatchNorm folded into the convolution before it."""
    body = copy.deepcopy(body).eval()
    net: Any = body.net  # efficientnet_lite_pytorch's EfficientNet, untyped
    pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
    for block in net._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for owner, conv, bn in pairs:
        setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
        setattr(owner, bn, torch.nn.Identity())
    return body


def time_runner(run, x: torch.Tensor, images: int, repeats: int) -> float:
    """Median images/s of ``run`` over ``repeats`` passes of ``images`` images, batches like ``x``."""
    run(x)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(max(1, images // len(x))):
            run(x)
        rates.append(max(1, images // len(x)) * len(x) / (time.perf_counter() - start))
    return statistics.median(rates)


def body_variants(body, size: int, compile_too: bool, onnx_dir: Path):
    def eager(module, channels_last=False, grad=False):
        module = copy.deepcopy(module).eval()
        if channels_last:
            module = module.to(memory_format=torch.channels_last)

        def run(x):
            x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
            if grad:
                with torch.no_grad():
                    return module(x)
            with torch.inference_mode():
                return module(x)

        return run

    folded = fold_lite_batchnorm(body)
    yield "eager fp32, no_grad", eager(body, grad=True)
    yield "+ inference_mode", eager(body)
    yield "+ channels_last", eager(body, channels_last=True)
    yield "+ BatchNorm folded", eager(folded, channels_last=True)
    if compile_too:
        compiled = torch.compile(copy.deepcopy(folded).to(memory_format=torch.channels_last))

        def run_compiled(x):
            with torch.inference_mode():
                return compiled(x.contiguous(memory_format=torch.channels_last))

        yield "+ torch.compile (inductor)", run_compiled
    runner, name = make_runner(body, size, "onnx", onnx_dir / "body.onnx")
    yield f"ONNX Runtime ({name}, objrec's default)", runner


def files_to_features(body, data, caltech: Path, n: int, onnx_dir: Path):
    samples = seeded_sample(caltech, n)
    frozen = FrozenBody(body, data.input_size, FeatureCache(onnx_dir))
    frozen(
        torch.zeros(1, 3, data.input_size, data.input_size)
    )  # build the runner outside the timing
    for view, workers in ((0, 0), (0, 2), (1, 0), (1, 2)):
        start = time.perf_counter()
        settings = PassSettings(batch_size=64, num_workers=workers)
        compute_features(frozen, samples, ViewSpec(data, "article", view), settings)
        label = "centre crop" if view == 0 else "augmented view"
        yield f"files -> features, {label}, {workers} workers", n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", type=int, default=256, help="Caltech-101 images passed through the body"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed passes per step (the median is printed)"
    )
    parser.add_argument("--batch", type=int, default=32, help="batch size")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile (slow to build)"
    )
    parser.add_argument(
        "--caltech",
        type=Path,
        default=CALTECH,
        help="the Caltech-101 class folder for the files-to-features rows, skipped when it is "
        "missing [default ../shared/data/caltech101 beside the repository]",
    )
    args = parser.parse_args()
    spec = get_backbone("efficientnet_lite0")
    body = build_body(spec).eval()
    size = spec.data_config.input_size
    x = torch.randn(args.batch, 3, size, size)
    with torch.inference_mode():
        reference = body(x)
    print(f"EfficientNet-Lite0 frozen pass, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'variant':52s} {'images/s':>9s} {'vs eager':>9s} {'max |diff|':>11s}")
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        for name, run in body_variants(body, size, not args.no_compile, Path(tmp)):
            rate = time_runner(run, x, args.images, args.repeats)
            base = base or rate
            diff = float((run(x) - reference).abs().max())
            print(f"{name:52s} {rate:9.1f} {rate / base:8.2f}x {diff:11.2e}")
        if args.caltech.is_dir():
            rows = files_to_features(
                body, spec.data_config, args.caltech, args.images * 2, Path(tmp)
            )
            for name, rate in rows:
                print(f"{name:52s} {rate:9.1f} {rate / base:8.2f}x {'':>11s}")


if __name__ == "__main__":
    main()

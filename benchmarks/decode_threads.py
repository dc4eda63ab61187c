"""The decoding thread's own PyTorch threads: left as they are against one, files to features.

    python benchmarks/decode_threads.py [--data /work/splits/s0] [--images 384] [--repeats 5]

The frozen pass decodes and transforms images in a thread beside the body (``loaders.prefetch``).
PyTorch's operators in that thread (the augmentation's rotation and colour jitter, the
normalisation) may start OpenMP threads of their own, which then compete with the body's threads
for the cores; ``prefetch(threads=1)``, objrec's default, keeps them to one. On a fixed sample of
``--images`` training images of the split (seeded), with the default int8 body (made once per
machine and kept in the feature store's folder), this times ``frozen.compute_features`` (files
to features, no store) with ``threads=None`` and ``threads=1`` in turn, for the centre view and
the first augmented view, and prints the images/s of every run, their medians, the ratio, and
whether the features are identical. Run it alone, under the CPU lock.
"""

from __future__ import annotations

import functools
import statistics
import time

import torch
from _sampling import sample_parser, seeded_sample

import objrec.frozen as frozen_module
from objrec.backbones import build_body, get_backbone, resolve_data_config
from objrec.cache import FeatureCache
from objrec.cache_folder import default_cache_dir
from objrec.config import DEFAULT_BACKBONE
from objrec.frozen import FrozenBody, compute_features
from objrec.loaders import prefetch
from objrec.quantize import quantize_body
from objrec.views import ViewSpec

ARMS = {"threads as they are": None, "one thread": 1}


def main() -> None:
    parser = sample_parser(__doc__, images=384, repeats=5)
    args = parser.parse_args()
    spec = get_backbone(DEFAULT_BACKBONE)
    data = resolve_data_config(spec)
    body = quantize_body(build_body(spec), data, default_cache_dir())
    samples = seeded_sample(args.data / "train", args.images)
    frozen = FrozenBody(body, data.input_size, FeatureCache(None), name="int8")
    views = {
        "centre": (ViewSpec(data), None),
        "augmented": (ViewSpec(data, "article", 1), list(range(len(samples)))),
    }
    rates: dict[tuple[str, str], list[float]] = {}
    outputs: dict[tuple[str, str], torch.Tensor] = {}
    print(f"{len(samples)} images of {args.data}, int8 body, {torch.get_num_threads()} threads")
    try:
        for _ in range(args.repeats):
            for arm, threads in ARMS.items():
                frozen_module.prefetch = functools.partial(prefetch, threads=threads)
                for view, (view_spec, seeds) in views.items():
                    start = time.perf_counter()
                    got = compute_features(frozen, samples, view_spec, seeds=seeds).features
                    rate = len(samples) / (time.perf_counter() - start)
                    rates.setdefault((arm, view), []).append(rate)
                    outputs.setdefault((arm, view), got)
    finally:
        frozen_module.prefetch = prefetch
    for view in views:
        medians = [statistics.median(rates[arm, view]) for arm in ARMS]
        for arm, median in zip(ARMS, medians, strict=True):
            runs = " ".join(f"{r:.1f}" for r in rates[arm, view])
            print(f"{view:10s} {arm:20s} {runs}  median {median:.1f} images/s")
        same = torch.equal(*(outputs[arm, view] for arm in ARMS))
        print(f"{view:10s} one thread / as they are: {medians[1] / medians[0]:.3f}; same: {same}")


if __name__ == "__main__":
    main()

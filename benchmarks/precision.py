"""Frozen features in float16 and bfloat16 against float32, and what that does to a trained model.

    python benchmarks/precision.py RUN DATA [--split valid] [--per-class 2] [--batch 16]

On a GPU objrec runs the frozen pass under autocast in float16 or bfloat16 when the features stay
within ``device_runner.PRECISION_TOLERANCE`` of float32's. This script measures that on the CPU (PyTorch's
autocast supports both there): the body of RUN in eager PyTorch, in float32 and under autocast in
each low precision, on the first ``--per-class`` images of every class of DATA's ``--split``. For
each precision it prints the per-image relative error of the features (|low - fp32| / |fp32|, L2
over the feature vector: median and max), how often RUN's head picks the same class as on the
float32 features, the largest change in the probability of the float32 top class, and the loss
and top-1 on those images. Use a validation split: the tolerance is a default.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from objrec.checkpoint import load_model
from objrec.data import scan_class_folder
from objrec.device_runner import PRECISION_TOLERANCE
from objrec.loaders import ImageDataset, collate_skipping
from objrec.transforms import build_transforms, draft_size

PRECISIONS = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


def first_per_class(folder, k: int):
    taken: dict[int, int] = {}
    chosen = []
    for sample in folder.samples:
        if taken.get(sample.label, 0) < k:
            taken[sample.label] = taken.get(sample.label, 0) + 1
            chosen.append(sample)
    return chosen


@torch.inference_mode()
def features(body, loader, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    rows, labels = [], []
    for batch in loader:
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            rows.append(body(batch.images).float())
        labels.append(batch.labels)
    return torch.cat(rows), torch.cat(labels)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a run folder (objrec train's --out)")
    parser.add_argument("data", type=Path, help="its split folder")
    parser.add_argument("--split", default="valid", help="the split whose images are compared")
    parser.add_argument("--per-class", type=int, default=2, help="images of each class compared")
    parser.add_argument("--batch", type=int, default=16, help="batch size")
    args = parser.parse_args()
    model, meta = load_model(args.run)
    data = meta.data
    folder = scan_class_folder(args.data / args.split, meta.classes)
    samples = first_per_class(folder, args.per_class)
    dataset = ImageDataset(samples, build_transforms(data, train=False), draft_size(data))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, collate_fn=collate_skipping
    )
    print(f"{meta.backbone}: {len(samples)} {args.split} images, eager PyTorch on the CPU")
    print(f"tolerance in objrec: {PRECISION_TOLERANCE:g} (relative error, largest per image)")
    print(
        f"{'precision':>9s} {'rel.err median':>14s} {'rel.err max':>11s} {'same top-1':>10s} "
        f"{'max dprob':>9s} {'loss':>7s} {'top-1':>7s}"
    )
    reference = None
    for name, dtype in PRECISIONS.items():
        x, y = features(model.body, loader, dtype)
        with torch.inference_mode():
            logits = model.head(x)
        probs = logits.softmax(1)
        if reference is None:
            reference = (x, probs)
        ref_x, ref_p = reference
        err = ((x - ref_x).norm(dim=1) / ref_x.norm(dim=1).clamp_min(1e-12)).tolist()
        top = ref_p.argmax(1)
        same = (probs.argmax(1) == top).float().mean().item()
        dprob = (probs - ref_p).gather(1, top[:, None]).abs().max().item()
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).float().mean().item()
        print(
            f"{name:>9s} {statistics.median(err):14.2e} {max(err):11.2e} {same:10.2%} "
            f"{dprob:9.2e} {loss:7.4f} {acc:7.2%}",
            flush=True,
        )


if __name__ == "__main__":
    main()

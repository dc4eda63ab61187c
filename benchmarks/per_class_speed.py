"""The per-class measures of an evaluation with many classes, counted at once against the loops
they replaced (review47b LOW 4): ``metrics.per_class_table`` (a loop over the classes, each
indexing every image: 29.5 s at 1,000 classes of 50,000 images, after evaluate's bar had ended),
``metrics.mixed_pairs`` (a loop over every pair of classes, three times an evaluate) and
``plots.confused_order`` (the same inside ``sorted``).

Random logits of ``--images`` images of ``--classes`` classes (seeded; the true class raised, so
that most answers are right and the errors spread as a real confusion's), each measure run
``--repeats`` times each way, in turn; printed: the median seconds of the loop and of the
version now, their ratio, and whether the outputs are the same (the loss to float32's rounding).
The loops are kept here as they were, the "before" (``tests/test_metrics.py`` checks against
them on a case with ties).

    flock /tmp/objrec-cpu.lock python benchmarks/per_class_speed.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from objrec.metrics import (
    answered,
    confusion_matrix,
    mixed_pairs,
    per_class_table,
    topk_correct,
)
from objrec.plots import confused_order, partners_side_by_side


def looped_per_class_table(logits, targets, classes, n_train=None):
    """per_class_table as it was before session 47: a loop over the classes, each indexing every
    image (review47b LOW 4)."""
    import pandas as pd
    import torch.nn.functional as F

    from objrec.metrics import precision_recall_f1

    losses = F.cross_entropy(logits, targets, reduction="none")
    top1, top5 = topk_correct(logits, targets, 1), topk_correct(logits, targets, 5)
    preds = answered(logits)  # the top-1 rule since review47b LOW 5 (it was argmax)
    prf = precision_recall_f1(preds, targets, len(classes))
    rows = []
    for label, name in enumerate(classes):
        mask = targets == label
        if not (n := int(mask.sum())):
            continue
        wrong = preds[mask & ~top1]
        counts = torch.bincount(wrong, minlength=len(classes))
        tied = torch.nonzero(counts == counts.max()).flatten().tolist() if len(wrong) else []
        rows.append(
            {
                "class": name,
                "n_train": (n_train or {}).get(name, 0),
                "n_test": n,
                "top1": int(top1[mask].sum()) / n,
                "top5": int(top5[mask].sum()) / n,
                "precision": prf["precision"][label].item(),
                "recall": prf["recall"][label].item(),
                "f1": prf["f1"][label].item(),
                "loss": losses[mask].mean().item(),
                "most_confused_with": ", ".join(sorted(classes[i] for i in tied)),
            }
        )
    return pd.DataFrame(rows)


def looped_mixed_pairs(matrix, classes):
    pairs = []
    for a, b in zip(*torch.triu_indices(len(classes), len(classes), 1).tolist(), strict=True):
        a_as_b, b_as_a = int(matrix[a, b]), int(matrix[b, a])
        if a_as_b and b_as_a:
            n_a, n_b = int(matrix[a].sum()), int(matrix[b].sum())
            pair = (classes[a], classes[b], a_as_b, b_as_a, n_a, n_b)
            pairs.append(dict(zip(("a", "b", "a_as_b", "b_as_a", "n_a", "n_b"), pair, strict=True)))
    return sorted(pairs, key=lambda p: -(p["a_as_b"] + p["b_as_a"]) / (p["n_a"] + p["n_b"]))


def looped_confused_order(matrix, classes, limit=30):
    off = matrix.clone()
    off.fill_diagonal_(0)
    n = len(classes)
    pairs = sorted(
        (
            (int(off[i, j] + off[j, i]), i, j)
            for i in range(n)
            for j in range(i + 1, n)
            if off[i, j] + off[j, i] > 0
        ),
        reverse=True,
    )
    return partners_side_by_side(pairs, n, limit)  # the part after the loop, unchanged


def seconds(work) -> tuple[float, object]:
    """The wall time of ``work()``, and what it returned."""
    started = time.perf_counter()
    out = work()
    return time.perf_counter() - started, out


def same(name: str, now, before) -> bool:
    if name != "per_class_table":
        return now == before
    exact = now.drop(columns="loss").to_dict("list") == before.drop(columns="loss").to_dict("list")
    return exact and bool(np.allclose(now["loss"], before["loss"], rtol=1e-5, atol=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=1000, help="classes of the synthetic run")
    parser.add_argument(
        "--images", type=int, default=20000, help="test images of the synthetic run"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of each version (median)"
    )
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    targets = torch.randint(0, args.classes, (args.images,))
    logits = torch.randn(args.images, args.classes)
    logits[torch.arange(args.images), targets] += 3
    logits = logits.log_softmax(1)
    classes = [f"c{i:04d}" for i in range(args.classes)]
    matrix = confusion_matrix(answered(logits), targets, args.classes)
    work = {
        "per_class_table": (
            lambda: per_class_table(logits, targets, classes),
            lambda: looped_per_class_table(logits, targets, classes),
        ),
        "mixed_pairs": (
            lambda: mixed_pairs(matrix, classes),
            lambda: looped_mixed_pairs(matrix, classes),
        ),
        "confused_order": (
            lambda: confused_order(matrix, classes),
            lambda: looped_confused_order(matrix, classes),
        ),
    }
    print(f"{args.classes} classes, {args.images} images, median of {args.repeats}, one thread")
    print(f"{'measure':<16} {'loop s':>8} {'now s':>8} {'now/loop':>9}  same output")
    for name, (now, loop) in work.items():
        times: dict[str, list[float]] = {"now": [], "loop": []}
        for _ in range(args.repeats):  # in turn, so that a change in the machine's load hits both
            t_now, out_now = seconds(now)
            t_loop, out_loop = seconds(loop)
            times["now"].append(t_now)
            times["loop"].append(t_loop)
        a, b = statistics.median(times["loop"]), statistics.median(times["now"])
        print(f"{name:<16} {a:8.3f} {b:8.3f} {b / a:9.4f}  {same(name, out_now, out_loop)}")


if __name__ == "__main__":
    main()

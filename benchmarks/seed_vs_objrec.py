"""The article's procedure against objrec's default ``train``, on the same split and backbone.

    python benchmarks/seed_vs_objrec.py [--classes N] [--max-images M] [--seed 0]

(a) the article: every epoch pushes every training image, freshly augmented, through the frozen
    body, then every validation image; batch 128, Adam with default settings, NLL on log-softmax
    (computed as cross-entropy on logits, the same loss), early stopping with patience 5, the best
    epoch restored. The body runs in eager PyTorch (channels_last, no gradients).
(b) objrec's default ``train`` (frozen features computed once per view and cached, ONNX Runtime),
    starting from an empty feature cache, then ``evaluate``.

Both use EfficientNet-Lite0 and the 100-class protocol of ``../shared/data/caltech101`` (all classes
but Faces and BACKGROUND_Google), split 50/25/25 with ``--seed``; ``--classes N`` keeps N classes
spread evenly over the sorted list and ``--max-images M`` the first M images of each, to fit a time
budget. Each arm runs in its own process so that its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALTECH = ROOT.parent / "shared" / "data" / "caltech101"
EXCLUDED = ("Faces", "BACKGROUND_Google")


def make_split(
    src: Path, work: Path, classes: int | None, max_images: int | None, seed: int
) -> Path:
    """Symlink the chosen classes and images into ``work/pool``, then split them with objrec."""
    from objrec.data import class_dirs
    from objrec.listing import list_images
    from objrec.split.recipe import split_folder

    names = [p.name for p in class_dirs(src) if p.name not in EXCLUDED]
    if classes:
        step = len(names) / classes
        names = [names[int(i * step)] for i in range(classes)]
    pool = work / "pool"
    for name in names:
        (pool / name).mkdir(parents=True)
        for path in list_images(src / name)[:max_images]:
            (pool / name / path.name).symlink_to(path.resolve())
    split_folder(pool, work / "data", seed=seed, mode="link")
    return work / "data"


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def article(data: Path, seed: int) -> dict:
    import torch

    from objrec.backbones import build_body, get_backbone
    from objrec.data import scan_class_folder
    from objrec.engine import Stopping, fit
    from objrec.loaders import ImageDataset, make_loader
    from objrec.metrics import summarize
    from objrec.model import Classifier, build_head
    from objrec.train import seed_everything
    from objrec.transforms import build_transforms, draft_size

    start = time.perf_counter()
    spec = get_backbone("efficientnet_lite0")
    cfg = spec.data_config
    sets = {s: scan_class_folder(data / s) for s in ("train", "valid", "test")}
    body = build_body(spec).to(memory_format=torch.channels_last)
    seed_everything(seed)
    model = Classifier(body, build_head(body.n_features, len(sets["train"].classes))).freeze_body()

    def loader(split: str, train: bool):
        dataset = ImageDataset(
            sets[split].samples, build_transforms(cfg, train=train), draft_size(cfg)
        )
        return make_loader(dataset, batch_size=128, num_workers=1, shuffle=train, seed=seed)

    def batches(split: str, train: bool = False):
        for x, y, *_ in loader(split, train):
            yield x.contiguous(memory_format=torch.channels_last), y

    optimizer = torch.optim.Adam(model.head.parameters())
    result = fit(
        model,
        lambda epoch: batches("train", True),
        lambda: batches("valid"),
        optimizer,
        Stopping(100, 5),
    )
    train_seconds = time.perf_counter() - start
    with torch.inference_mode():
        model.eval()
        logits, labels = zip(*((model(x), y) for x, y in batches("test")), strict=True)
    test = summarize(torch.cat(logits), torch.cat(labels))
    through_body = len(result.history) * (len(sets["train"].samples) + len(sets["valid"].samples))
    best = min(result.history, key=lambda r: r["valid_loss"])
    return {
        "wall_s": time.perf_counter() - start,
        "epochs": len(result.history),
        "best_valid_loss": best["valid_loss"],
        "best_valid_acc": best["valid_acc"],
        "test_top1": test["top1"],
        "test_top5": test["top5"],
        "frozen_img_s": through_body / train_seconds,
        "peak_mb": peak_memory_mb(),
    }


def objrec_default(data: Path, work: Path) -> dict:
    from objrec.config import TrainConfig
    from objrec.evaluate import evaluate
    from objrec.train import train

    start = time.perf_counter()
    config = TrainConfig(cache_dir=str(work / "cache-objrec"))
    result = train(data, work / "run-objrec", config)
    evaluation = evaluate(work / "run-objrec", data, cache_dir=work / "cache-objrec")
    wall = time.perf_counter() - start
    counts = result.n_images
    n_train, n_valid = (counts.train, counts.valid) if counts is not None else (0, 0)
    features_s = result.seconds.features if result.seconds is not None else float("nan")
    return {
        "wall_s": wall,
        "epochs": len(result.history),
        "best_valid_loss": result.best_valid_loss,
        "best_valid_acc": result.best_valid_acc,
        "test_top1": evaluation.metrics.top1,
        "test_top5": evaluation.metrics.overall.top5,
        "frozen_img_s": (n_train * (config.aug_views + 1) + n_valid) / features_s,
        "peak_mb": peak_memory_mb(),
    }


def _child(queue, fn, args) -> None:
    try:
        queue.put(fn(*args))
    except BaseException as exc:
        queue.put(RuntimeError(f"{fn.__name__} failed: {exc!r}"))
        raise


def run_in_child(fn, *args) -> dict:
    """``fn(*args)`` in a fresh (non-daemonic, so DataLoader workers may start) process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(queue, fn, args))
    process.start()
    result = queue.get()
    process.join()
    if isinstance(result, Exception):
        raise result
    return result


ROWS = [
    ("wall time (s)", "wall_s", "{:.0f}"),
    ("epochs", "epochs", "{:d}"),
    ("best valid loss", "best_valid_loss", "{:.4f}"),
    ("best valid accuracy", "best_valid_acc", "{:.2%}"),
    ("test top-1", "test_top1", "{:.2%}"),
    ("test top-5", "test_top5", "{:.2%}"),
    ("frozen pass (images/s)", "frozen_img_s", "{:.1f}"),
    ("peak memory (MB)", "peak_mb", "{:.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=CALTECH,
        help="the Caltech-101 class folder [default ../shared/data/caltech101 beside the repository; see README.md]",
    )
    parser.add_argument("--classes", type=int, help="keep N classes, spread over the sorted list")
    parser.add_argument("--max-images", type=int, help="keep the first M images of each class")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the split and of both procedures"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = make_split(args.src, work, args.classes, args.max_images, args.seed)
        counts = {
            s: sum(1 for p in (data / s).rglob("*") if p.is_file() or p.is_symlink())
            for s in ("train", "valid", "test")
        }
        print(f"split (seed {args.seed}): {counts}", flush=True)
        a = run_in_child(article, data, args.seed)
        print("article procedure done", flush=True)
        b = run_in_child(objrec_default, data, work)
    print(f"\n{'':24s} {'article':>12s} {'objrec':>12s} {'ratio':>10s}")
    for label, key, fmt in ROWS:
        ratio = a[key] / b[key] if b[key] else float("nan")
        print(f"{label:24s} {fmt.format(a[key]):>12s} {fmt.format(b[key]):>12s} {ratio:9.2f}x")
    print(
        f"\nobjrec: {a['wall_s'] / b['wall_s']:.1f}x less wall time, test top-1 "
        f"{(b['test_top1'] - a['test_top1']) * 100:+.2f} points"
    )


if __name__ == "__main__":
    main()

"""See objrec use a GPU: the 100-class Caltech-101 protocol with the defaults, in one process and
under torchrun, and the GPU's features against the CPU path's.

    python benchmarks/gpu_check.py [--caltech ../shared/data/caltech101] [--work DIR]

On a machine with a CUDA GPU (meant to take under 8 minutes on one current data-centre GPU):

1. ``objrec split`` of the 100 classes other than Faces and BACKGROUND_Google (seed 0, linked);
2. ``objrec train --device cuda`` then ``objrec evaluate --device cuda``, from an empty cache;
3. the same under ``torchrun --nproc-per-node 1`` (a process group of one: NCCL, the sharded frozen
   pass and DistributedDataParallel), from another empty cache;
4. the frozen features of ``--sample`` validation images on the GPU against those of the CPU path
   (ONNX Runtime), and the precision the GPU chose.

It prints, for 2 and 3, the frozen pass's images per second, the wall time of train and of
evaluate, and the test top-1; then the largest feature difference. ``--data SPLIT`` reuses a split
folder, ``--device cpu --backbone tiny_test`` runs the same steps on a machine without a GPU (a
smoke test of the script, nothing more).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CALTECH = ROOT.parent / "shared" / "data" / "caltech101"


def objrec(args: list[str], env: dict, torchrun: bool = False) -> tuple[dict, float]:
    """Run an objrec command with ``--json``; its parsed output and wall time."""
    launcher = [sys.executable, "-m"]
    if torchrun:
        launcher += ["torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m"]
    start = time.perf_counter()
    done = subprocess.run(
        [*launcher, "objrec", *args, "--json"], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"objrec {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), seconds


def train_and_evaluate(name: str, data: Path, work: Path, args, torchrun: bool) -> dict:
    env = {**os.environ, "OBJREC_CACHE": str(work / f"cache-{name}")}
    run = work / f"run-{name}"
    extra = ["--backbone", args.backbone] if args.backbone else []
    summary, train_s = objrec(
        ["train", str(data), "--out", str(run), "--device", args.device, "--force", *extra],
        env,
        torchrun,
    )
    metrics, eval_s = objrec(["evaluate", str(run), str(data), "--device", args.device], env)
    config = json.loads((run / "config.json").read_text())
    passes = summary["n_images"]["train"] * (config["aug_views"] + 1) + summary["n_images"]["valid"]
    return {
        "name": name,
        "images_s": passes / summary["seconds"]["features"],
        "train_s": train_s,
        "eval_s": eval_s,
        "top1": metrics["top1"],
        "run": run,
    }


def feature_difference(run: Path, data: Path, work: Path, device: str, n: int) -> dict:
    """The frozen features of ``n`` valid images on ``device`` against the CPU path's."""
    from objrec.checkpoint import load_model
    from objrec.data import scan_class_folder
    from objrec.devices import resolve_device
    from objrec.features import FeatureCache, FrozenBody, ViewSpec, compute_features
    from objrec.runtime import relative_error

    model, meta = load_model(run)
    data_config = meta.data
    folder = scan_class_folder(data / "valid", meta.classes)
    samples = folder.samples[:: max(1, len(folder.samples) // n)][:n]
    spec, size = ViewSpec(data_config), data_config.input_size
    cache = FeatureCache(work / "cache-cpu-check")  # where the CPU path exports its ONNX graph
    gpu = FrozenBody(model.body, size, cache, device=resolve_device(device))
    cpu = FrozenBody(model.body, size, cache, device=torch.device("cpu"))
    a = compute_features(gpu, samples, spec).features
    b = compute_features(cpu, samples, spec).features
    runner = gpu.runner()
    return {
        "n": len(samples),
        "abs": float((a - b).abs().max()),
        "relative": relative_error(a, b),
        "gpu": f"{gpu.backend_used}, {getattr(runner, 'dtype', 'float32')}",
        "cpu": cpu.backend_used,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--caltech",
        type=Path,
        default=CALTECH,
        help="the Caltech-101 class folder [default ../shared/data/caltech101 beside the repository; see README.md]",
    )
    parser.add_argument("--data", type=Path, help="a split folder to use instead of splitting")
    parser.add_argument("--work", type=Path, help="folder for the runs and caches [a temp dir]")
    parser.add_argument("--device", default="cuda", help="the device trained and compared on")
    parser.add_argument("--backbone", help="instead of the default (for a smoke test)")
    parser.add_argument(
        "--sample",
        type=int,
        default=64,
        help="validation images whose features are compared with the CPU path's",
    )
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("PyTorch sees no CUDA GPU here: this check needs one (or --device cpu)")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        data = args.data or split(args.caltech, work / "data")
        where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
        print(f"objrec on {where} ({args.device}), data {data}", flush=True)
        print(f"{'':28s} {'frozen img/s':>12s} {'train s':>8s} {'evaluate s':>10s} {'top-1':>7s}")
        rows = []
        for name, torchrun in (("one-process", False), ("torchrun-1", True)):
            r = train_and_evaluate(name, data, work, args, torchrun)
            rows.append(r)
            label = "objrec train" if not torchrun else "torchrun --nproc-per-node 1"
            print(
                f"{label:28s} {r['images_s']:12.1f} {r['train_s']:8.1f} {r['eval_s']:10.1f} "
                f"{r['top1']:7.2%}",
                flush=True,
            )
        d = feature_difference(rows[0]["run"], data, work, args.device, args.sample)
        print(
            f"features of {d['n']} valid images, {d['gpu']} against {d['cpu']}: largest "
            f"difference {d['abs']:.2e}, largest relative error {d['relative']:.2e}"
        )


def split(caltech: Path, out: Path) -> Path:
    excluded = ["--exclude", "Faces", "BACKGROUND_Google"]
    cmd = ["split", str(caltech), str(out), *excluded, "--seed", "0", "--link"]
    subprocess.run([sys.executable, "-m", "objrec", *cmd], check=True, capture_output=True)
    return out


if __name__ == "__main__":
    main()

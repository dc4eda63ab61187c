"""See objrec use a GPU: the 100-class Caltech-101 protocol with the defaults, in one process and
under torchrun, and the GPU's features against the CPU path's.

    python benchmarks/gpu_check.py [--caltech ../shared/data/caltech101] [--work DIR]

On a machine with a CUDA GPU (223 s on one NVIDIA H200, docs/scaling.md):

1. ``objrec split`` of the 100 classes other than Faces and BACKGROUND_Google (seed 0, linked);
2. ``objrec train --device cuda`` then ``objrec evaluate --device cuda``, from an empty cache;
3. the frozen features of ``--sample`` validation images on the GPU against those of the CPU path
   (ONNX Runtime), and the precision the GPU chose;
4. the same as 2 under ``torchrun --nproc-per-node 1`` (a process group of one: NCCL, the sharded
   frozen pass and DistributedDataParallel), from another empty cache.

It prints the machine (GPU, PyTorch, CUDA), then for 2 and 4 the frozen pass's images per second,
the wall time of train (and its features, fit and calibration parts) and of evaluate, the test
top-1 and top-5, the body's and the head's precision, and what the GPU runs (the autocast precision
it chose and its errors, the batch size) as objrec logged it; for 3 the largest feature difference.
A step that fails or outlasts ``--step-timeout`` is reported with the end of its log and the next
step runs; the script then exits 1. Each objrec command's log (``-v``) is kept in the work folder;
``--results FILE`` writes every figure as JSON. ``--data SPLIT`` reuses a split folder,
``--device cpu --backbone tiny_test`` runs the same steps on a machine without a GPU (a smoke test
of the script, nothing more).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
CALTECH = ROOT.parent / "shared" / "data" / "caltech101"
LOGGED = ("runs in", "frozen pass runs on", "MB per image", "train: seconds")
"""objrec's log lines (``-v``) that say how the GPU ran: precision, backend, batch, times."""


class StepFailed(Exception):
    """An objrec command that failed or outlasted its time."""


def objrec(args: list[str], env: dict, log: Path, torchrun: bool, timeout: float) -> tuple:
    """Run an objrec command with ``-v`` and ``--json`` (its log into ``log``): its parsed output
    and wall time. The command's whole process group is killed after ``timeout`` seconds."""
    launcher = [sys.executable, "-m"]
    if torchrun:
        launcher += ["torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m"]
    cmd = [*launcher, "objrec", "-v", *args, "--json"]
    start = time.perf_counter()
    with log.open("w") as err:
        child = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
        try:
            out, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(child)
            raise StepFailed(f"objrec {args[0]} ran past {timeout:.0f} s{tail(log)}") from None
        except BaseException:  # SIGTERM (the whole script timed out) or Ctrl-C: leave no orphan
            kill(child)
            raise
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise StepFailed(f"objrec {' '.join(args)} failed (exit {child.returncode}){tail(log)}")
    return json.loads(out), seconds


def kill(child: subprocess.Popen) -> None:
    """Kill ``child``'s process group (torchrun's workers too) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.communicate()


def tail(log: Path, chars: int = 3000) -> str:
    return f"; the end of {log}:\n{log.read_text(errors='replace')[-chars:]}"


def logged(log: Path) -> list[str]:
    """The lines of ``log`` that say how the GPU ran (:data:`LOGGED`), each once."""
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    lines = [re.sub(r"^(\[[^]]*\])?\s*", "", line).rstrip() for line in lines]
    return list(dict.fromkeys(line for line in lines if any(k in line for k in LOGGED)))


def train_and_evaluate(name: str, data: Path, work: Path, args, torchrun: bool) -> dict:
    # COLUMNS: one log record a line (rich wraps them at 80 columns in a file)
    env = {**os.environ, "OBJREC_CACHE": str(work / f"cache-{name}"), "COLUMNS": "300"}
    run = work / f"run-{name}"
    extra = (["--backbone", args.backbone] if args.backbone else []) + shlex.split(args.train_args)
    train = ["train", str(data), "--out", str(run), "--device", args.device, "--force", *extra]
    logs = (work / f"{name}-train.log", work / f"{name}-evaluate.log")
    summary, train_s = objrec(train, env, logs[0], torchrun, args.step_timeout)
    evaluate = ["evaluate", str(run), str(data), "--device", args.device]
    metrics, eval_s = objrec(evaluate, env, logs[1], False, args.step_timeout)
    config = json.loads((run / "config.json").read_text())
    passes = summary["n_images"]["train"] * (config["aug_views"] + 1) + summary["n_images"]["valid"]
    return {
        "name": name,
        "images_s": passes / summary["seconds"]["features"],
        "passes": passes,
        "train_s": train_s,
        "train_parts_s": summary["seconds"],
        "eval_s": eval_s,
        "top1": metrics["top1"],
        "top5": metrics["top5"],
        "precision": summary["precision"],
        "logged": logged(logs[0]) + logged(logs[1]),
        "run": str(run),
    }


def feature_difference(run: Path, data: Path, work: Path, device: str, n: int) -> dict:
    """The frozen features of ``n`` valid images on ``device`` against the CPU path's."""
    from objrec.cache import FeatureCache
    from objrec.checkpoint import load_model
    from objrec.data import scan_class_folder
    from objrec.device_runner import relative_error
    from objrec.devices import resolve_device
    from objrec.frozen import FrozenBody, compute_features
    from objrec.views import ViewSpec

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
        "gpu_errors": getattr(runner, "errors", {}),
        "cpu": cpu.backend_used,
    }


def machine(device: str) -> dict:
    """What the figures were measured on."""
    import onnxruntime
    import torchvision

    gpu = device.startswith("cuda")
    props = torch.cuda.get_device_properties(0) if gpu else None
    return {
        "device": torch.cuda.get_device_name(0) if gpu else "CPU",
        "gpu_memory_gib": round(props.total_memory / 2**30, 1) if props else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if gpu else None,
        "torchvision": torchvision.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


HEADER = (
    f"{'':28s} {'frozen img/s':>12s} {'train s':>8s} {'(features':>9s} {'fit':>6s} "
    f"{'calibrate)':>10s} {'evaluate s':>10s} {'top-1':>7s} {'top-5':>7s}  precision"
)


def print_row(label: str, r: dict) -> None:
    parts = r["train_parts_s"]
    precision = r["precision"]
    print(
        f"{label:28s} {r['images_s']:12.1f} {r['train_s']:8.1f} {parts['features']:9.1f} "
        f"{parts['fit']:6.1f} {parts.get('calibrate', 0.0):10.1f} {r['eval_s']:10.1f} "
        f"{r['top1']:7.2%} {r['top5']:7.2%}  body {precision['used']}, head "
        f"{precision.get('head', '?')} ({precision['why']})",
        flush=True,
    )
    for line in r["logged"]:
        print(f"{'':4s}{line}", flush=True)


def step(results: dict, name: str, do) -> None:
    """Run one step, keeping its result or its failure in ``results``; the next step runs anyway."""
    start = time.perf_counter()
    try:
        results[name] = do()
    except Exception as exc:  # a failed step must not hide the others' figures
        results[name] = {"failed": f"{type(exc).__name__}: {exc}"}
        print(f"{name} FAILED after {time.perf_counter() - start:.0f} s: {exc}", flush=True)


def run_steps(args, data: Path, work: Path, results: dict) -> None:
    print(HEADER, flush=True)
    runs = [("one-process", False, "objrec train")]
    if not args.no_torchrun:
        runs.append(("torchrun-1", True, "torchrun --nproc-per-node 1"))
    for name, torchrun, label in runs:
        step(results, name, lambda n=name, t=torchrun: train_and_evaluate(n, data, work, args, t))
        if "failed" not in results[name]:
            print_row(label, results[name])
            if name == "one-process":
                compare_features(Path(results[name]["run"]), data, work, args, results)


def compare_features(run: Path, data: Path, work: Path, args, results: dict) -> None:
    step(results, "features", lambda: feature_difference(run, data, work, args.device, args.sample))
    d = results["features"]
    if "failed" not in d:
        print(
            f"features of {d['n']} valid images, {d['gpu']} against {d['cpu']}: largest "
            f"difference {d['abs']:.2e}, largest relative error {d['relative']:.2e} "
            f"(the GPU's half-precision errors on them: {d['gpu_errors']})",
            flush=True,
        )


def parse_args() -> argparse.Namespace:
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
    parser.add_argument(
        "--work", type=Path, help="folder for the runs, caches and logs [a temp dir]"
    )
    parser.add_argument("--device", default="cuda", help="the device trained and compared on")
    parser.add_argument("--backbone", help="instead of the default (for a smoke test)")
    parser.add_argument(
        "--sample",
        type=int,
        default=64,
        help="validation images whose features are compared with the CPU path's",
    )
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=900.0,
        help="seconds each objrec command may run before it is killed and reported [900]",
    )
    parser.add_argument(
        "--train-args",
        default="",
        help="more options for objrec train, in one string (e.g. '--num-workers 4')",
    )
    parser.add_argument(
        "--no-torchrun", action="store_true", help="leave out the run under torchrun (step 4)"
    )
    parser.add_argument("--results", type=Path, help="also write every figure to this JSON file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("PyTorch sees no CUDA GPU here: this check needs one (or --device cpu)")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = args.data or split(args.caltech, work / "data")
        results: dict = {"machine": machine(args.device), "data": str(data)}
        m = results["machine"]
        print(
            f"objrec on {m['device']} ({args.device}, {m['gpu_memory_gib']} GiB), data {data}\n"
            f"torch {m['torch']} (CUDA {m['cuda']}, cuDNN {m['cudnn']}), torchvision "
            f"{m['torchvision']}, onnxruntime {m['onnxruntime']}, Python {m['python']}, "
            f"{m['cpus']} CPUs",
            flush=True,
        )
        # a `timeout` around the script: its children are killed and the figures so far written
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
        try:
            run_steps(args, data, work, results)
        finally:
            results["seconds"] = time.perf_counter() - start
            print(f"gpu_check took {results['seconds']:.0f} s", flush=True)
            if args.results:
                args.results.write_text(json.dumps(results, indent=1, default=str))
    if any("failed" in r for r in results.values() if isinstance(r, dict)):
        sys.exit(1)


def split(caltech: Path, out: Path) -> Path:
    excluded = ["--exclude", "Faces", "BACKGROUND_Google"]
    cmd = ["split", str(caltech), str(out), *excluded, "--seed", "0", "--link"]
    subprocess.run([sys.executable, "-m", "objrec", *cmd], check=True, capture_output=True)
    return out


if __name__ == "__main__":
    main()

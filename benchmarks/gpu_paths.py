"""What objrec does on a GPU beyond `gpu_check.py`'s train and evaluate: fine-tuning, predict and
serve on the card, and what a change of the GPU code saves, side by side in one run.

    python benchmarks/gpu_paths.py SPLIT [--base-src OTHER/src] [--repeat 2] [--work DIR]

SPLIT is a split folder (``objrec split``). On a machine with a CUDA GPU:

1. ``train --device cuda`` from an empty store, ``--repeat`` times, with this source tree and,
   given ``--base-src``, alternately with another one (e.g. a checkout of an earlier commit's
   ``src``): wall time, the features/fit/calibrate seconds, the best validation loss and objrec's
   ``-v`` lines on the GPU; then the medians and their ratio (this tree over the other);
2. ``train --finetune-blocks N`` on the store the first run of 1 filled: wall, whether the tuned
   model was kept, its validation losses, then ``evaluate`` of it (test top-1);
3. ``evaluate`` of 1's first run on the card;
4. ``predict`` of SPLIT/test with ``--device cuda`` and ``--device cpu``: walls, the share of images
   with the same top class, the largest difference of a top probability;
5. ``serve --device cuda``: seconds until ``/health`` answers, ``/predict`` of ``--photos`` test
   images one at a time (the first answer's latency, the median of the others), and the share whose
   class is predict's on the card.

A step that fails is reported with the end of its log and the others run; the script then exits 1.
``--device cpu --backbone tiny_test --finetune-blocks 0`` runs the same steps but 2 on a machine
without a GPU (a smoke test of the script: tiny_test cannot be fine-tuned, and ``--finetune-blocks
0`` skips step 2). ``--results FILE`` writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from gpu_check import StepFailed, kill, logged, machine, objrec, step, tail

ROOT = Path(__file__).resolve().parents[1]


def environment(src: Path, cache: Path) -> dict:
    """The environment that runs objrec from the source tree ``src`` with its store in ``cache``."""
    path = os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "PYTHONPATH": path, "OBJREC_CACHE": str(cache), "COLUMNS": "300"}


def train(name: str, src: Path, args, extra: tuple = (), cache: Path | None = None) -> dict:
    """``objrec train`` of the split with the source tree ``src``; a new store unless ``cache``."""
    work, run = args.work, args.work / f"run-{name}"
    env = environment(src, cache or work / f"cache-{name}")
    cmd = ["train", str(args.data), "--out", str(run), "--device", args.device, "--force"]
    cmd += (["--backbone", args.backbone] if args.backbone else []) + list(extra)
    summary, wall = objrec(cmd, env, work / f"{name}.log", False, args.step_timeout)
    return {
        "wall": wall,
        **{k: summary["seconds"].get(k) for k in ("features", "fit", "calibrate")},
        "best_valid_loss": summary["best_valid_loss"],
        "finetune": summary.get("finetune"),
        "logged": logged(work / f"{name}.log"),
        "run": str(run),
        "cache": str(env["OBJREC_CACHE"]),
    }


def compare_sources(args, results: dict) -> None:
    """Step 1: the trains from an empty store, the two trees alternately, and their medians."""
    trees = {"this tree": ROOT / "src"}
    if args.base_src:
        trees["base"] = args.base_src.resolve()
    order = [t for i in range(args.repeat) for t in (trees if i % 2 == 0 else reversed(trees))]
    for i, tree in enumerate(order):
        name = f"train-{'base' if tree == 'base' else 'this'}-{i}"
        step(results, name, lambda n=name, t=tree: train(n, trees[t], args))
        r = results[name]
        if "failed" not in r:
            print(
                f"{tree:10s} train {r['wall']:6.1f} s (features {r['features']:.1f}, fit "
                f"{r['fit']:.1f}, calibrate {r['calibrate'] or 0:.1f}), best valid loss "
                f"{r['best_valid_loss']:.6f}",
                flush=True,
            )
            for line in r["logged"]:
                print(f"{'':4s}{line}", flush=True)
    medians(results)


def medians(results: dict) -> None:
    table: dict[str, dict[str, float]] = {}
    for tree in ("this", "base"):
        runs = [
            r for k, r in results.items() if k.startswith(f"train-{tree}-") and "failed" not in r
        ]
        if runs:
            table[tree] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "features")}
            print(
                f"median of {len(runs)}, {tree}: train {table[tree]['wall']:.1f} s, features "
                f"{table[tree]['features']:.1f} s",
                flush=True,
            )
    if len(table) == 2:
        ratio = {k: table["this"][k] / table["base"][k] for k in ("wall", "features")}
        print(f"this tree / base: train {ratio['wall']:.2f}, features {ratio['features']:.2f}")
        results["medians"] = {**table, "ratio": ratio}


def finetune(args, first: dict) -> dict:
    """Step 2: fine-tuning on the card, from the store of the first train, then its evaluate."""
    extra = ("--finetune-blocks", str(args.finetune_blocks))
    r = train("finetune", ROOT / "src", args, extra, Path(first["cache"]))
    metrics, seconds = evaluate("finetune", r["run"], args, Path(first["cache"]))
    return {**r, "evaluate": seconds, "top1": metrics["top1"]}


def evaluate(name: str, run: str, args, cache: Path) -> tuple[dict, float]:
    env = environment(ROOT / "src", cache)
    cmd = ["evaluate", run, str(args.data), "--device", args.device]
    return objrec(cmd, env, args.work / f"evaluate-{name}.log", False, args.step_timeout)


def predict(args, run: str, device: str) -> tuple[list, float]:
    env = environment(ROOT / "src", args.work / "cache-predict")
    cmd = ["predict", run, str(args.data / "test"), "--device", device, "--topk", "1"]
    return objrec(cmd, env, args.work / f"predict-{device}.log", False, args.step_timeout)


def compare_predict(args, run: str) -> dict:
    """Step 4: predict on the card and on the CPU, the same images."""
    (gpu, gpu_s), (cpu, cpu_s) = predict(args, run, args.device), predict(args, run, "cpu")
    top = {a["path"]: a["topk"][0] for a in cpu if a.get("topk")}
    pairs = [(a["topk"][0], top[a["path"]]) for a in gpu if a.get("topk") and a["path"] in top]
    return {
        "images": len(pairs),
        "gpu_s": gpu_s,
        "cpu_s": cpu_s,
        "same_top1": sum(g["class"] == c["class"] for g, c in pairs) / max(len(pairs), 1),
        "max_prob_diff": max((abs(g["prob"] - c["prob"]) for g, c in pairs), default=0.0),
        "answers": {a["path"]: a["topk"][0]["class"] for a in gpu if a.get("topk")},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_image(url: str, path: Path) -> dict:
    """``POST url`` with ``path`` as the multipart form field ``file``, as the page sends it."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def wait_until_healthy(base: str, child: subprocess.Popen, log: Path, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if child.poll() is not None:
            raise StepFailed(f"serve exited with {child.returncode}{tail(log)}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                return time.perf_counter() - start
        except OSError:
            time.sleep(0.25)
    raise StepFailed(f"serve did not answer /health in {timeout:.0f} s{tail(log)}")


def serve(args, run: str, answers: dict) -> dict:
    """Step 5: serve on the card, ``--photos`` test images posted one at a time."""
    port, log = free_port(), args.work / "serve.log"
    env = environment(ROOT / "src", args.work / "cache-predict")
    cmd = [
        sys.executable,
        "-m",
        "objrec",
        "-v",
        "serve",
        run,
        "--device",
        args.device,
        "--runtime",
        "torch",
        "--port",
        str(port),
    ]
    with log.open("w") as err:
        child = subprocess.Popen(cmd, env=env, stdout=err, stderr=err, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        ready = wait_until_healthy(base, child, log, args.step_timeout)
        photos = sorted(p for p in Path(args.data, "test").rglob("*") if p.is_file())
        photos = photos[:: max(1, len(photos) // args.photos)][: args.photos]
        if not photos:
            raise StepFailed(f"no test photos in {Path(args.data, 'test')} to post")
        latencies, same = [], 0
        for photo in photos:
            start = time.perf_counter()
            answer = post_image(f"{base}/predict", photo)
            latencies.append(time.perf_counter() - start)
            same += answer["topk"][0]["class"] == answers.get(str(photo))
        with urllib.request.urlopen(f"{base}/info", timeout=10) as info:
            runs = json.load(info).get("runs")
    finally:
        kill(child)
    return {
        "ready_s": ready,
        "first_s": latencies[0],
        "median_s": statistics.median(latencies[1:] or latencies),
        # None when step 4 failed: no answers of predict's to compare with, not 0% alike
        "same_as_predict": same / len(photos) if answers else None,
        "photos": len(photos),
        "runs": runs,
        "logged": logged(log),
    }


def run_steps(args, results: dict) -> None:
    compare_sources(args, results)
    first = results.get("train-this-0", {})
    if "failed" in first or not first:
        return
    if args.finetune_blocks:
        step(results, "finetune", lambda: finetune(args, first))
    step(
        results,
        "evaluate",
        lambda: dict(
            zip(
                ("metrics", "s"),
                evaluate("first", first["run"], args, Path(first["cache"])),
                strict=True,
            )
        ),
    )
    step(results, "predict", lambda: compare_predict(args, first["run"]))
    answers = results["predict"].get("answers", {})
    step(results, "serve", lambda: serve(args, first["run"], answers))
    report(results)


def report(results: dict) -> None:
    f, e, p, s = (results.get(k, {}) for k in ("finetune", "evaluate", "predict", "serve"))
    if f and "failed" not in f:
        print(
            f"fine-tuned: train {f['wall']:.1f} s, {f['finetune']}, evaluate {f['evaluate']:.1f} s, "
            f"test top-1 {f['top1']:.2%}"
        )
        for line in f["logged"]:
            print(f"{'':4s}{line}")
    if "failed" not in e:
        print(f"evaluate: {e['s']:.1f} s, test top-1 {e['metrics']['top1']:.2%}")
    if "failed" not in p:
        print(
            f"predict of {p['images']} test images: {p['gpu_s']:.1f} s on the GPU, {p['cpu_s']:.1f} "
            f"s on the CPU; same top-1 {p['same_top1']:.2%}, largest top-probability difference "
            f"{p['max_prob_diff']:.2e}"
        )
    if "failed" not in s:
        print(
            f"serve: /health after {s['ready_s']:.1f} s; /predict of {s['photos']} photos: first "
            f"{s['first_s']:.3f} s, median {s['median_s']:.3f} s; same class as predict "
            f"{same_share(s['same_as_predict'])}; runs: {s['runs']}"
        )
        for line in s["logged"]:
            print(f"{'':4s}{line}")


def same_share(share: float | None) -> str:
    """The share of serve's answers that were predict's, or why there is none."""
    return "not compared (predict failed)" if share is None else f"{share:.2%}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="a split folder (train, valid, test)")
    parser.add_argument("--base-src", type=Path, help="another source tree to compare step 1 with")
    parser.add_argument("--repeat", type=int, default=2, help="trains of step 1 per tree [2]")
    parser.add_argument(
        "--work", type=Path, help="folder for the runs, caches and logs [a temp dir]"
    )
    parser.add_argument(
        "--device", default="cuda", help="where train, predict and serve run [cuda]"
    )
    parser.add_argument("--backbone", help="instead of the default (for a smoke test)")
    parser.add_argument(
        "--finetune-blocks", type=int, default=2, help="blocks fine-tuned in step 2; 0 skips it [2]"
    )
    parser.add_argument("--photos", type=int, default=20, help="test images posted to serve [20]")
    parser.add_argument(
        "--step-timeout",
        type=float,
        default=300.0,
        help="seconds each objrec command may run [300]",
    )
    parser.add_argument("--results", type=Path, help="also write every figure to this JSON file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        args.work = (args.work or Path(tmp)).resolve()
        args.work.mkdir(parents=True, exist_ok=True)
        results: dict = {"machine": machine(args.device)}
        print(json.dumps(results["machine"]), flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
        try:
            run_steps(args, results)
        finally:
            results["seconds"] = time.perf_counter() - start
            print(f"gpu_paths took {results['seconds']:.0f} s", flush=True)
            if args.results:
                args.results.write_text(json.dumps(results, indent=1, default=str))
    if any("failed" in r for r in results.values() if isinstance(r, dict)):
        sys.exit(1)


if __name__ == "__main__":
    main()

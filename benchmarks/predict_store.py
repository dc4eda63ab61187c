"""`objrec evaluate RUN DATA` then `objrec predict RUN DATA/test`: wall time of each, per source tree.

``objrec demo``'s last two steps on the same images: evaluate computes the test images' features
into the feature store, and predict answers the same images. Each variant is a source tree
(``NAME=SRC``, put first on PYTHONPATH); each round runs every variant in turn, each from a cache
folder of its own holding the body's ONNX graph of ``--cache`` (so that no command exports it, as
after ``train``) and an empty store, each command a new process (the import counted, as a user
waits for it). Printed: each command's median wall time over the rounds, their sum, the ratio to
the first variant, and how far the variants' answers (``predict --json``) are from the first's.

    flock /tmp/objrec-cpu.lock python benchmarks/predict_store.py \\
        --run objrec-demo/run --data objrec-demo/data --cache ~/.cache/objrec \\
        --variant before=/tmp/before/src --variant after=src --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """The wall time of ``objrec COMMAND...`` in a new process, and what it printed."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "objrec", *command], env=env, check=True, capture_output=True
    )
    return time.perf_counter() - started, done.stdout.decode()


def one_round(src: str, args: argparse.Namespace, tmp: Path) -> tuple[dict[str, float], list]:
    """evaluate then predict from a new cache folder: each one's seconds, and predict's answers."""
    cache = tmp / "cache"
    shutil.copytree(Path(args.cache) / "onnx", cache / "onnx")
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()), "OBJREC_CACHE": str(cache)}
    run, data = str(args.run), str(args.data)
    evaluate, _ = timed(["evaluate", run, data, "--out", str(tmp / "eval")], env)
    predict, out = timed(["predict", run, str(Path(data) / "test"), "--json"], env)
    shutil.rmtree(tmp)
    return {"evaluate": evaluate, "predict": predict}, json.loads(out)


def difference(answers: list, reference: list) -> tuple[bool, float]:
    """Whether two predicts gave the same answers, and their top-k probabilities' largest
    difference."""
    same = [a["answer"] for a in answers] == [b["answer"] for b in reference]
    probs = [
        abs(x["prob"] - y["prob"])
        for a, b in zip(answers, reference, strict=True)
        for x, y in zip(a["topk"], b["topk"], strict=True)
    ]
    return same, max(probs, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the run to evaluate and predict")
    parser.add_argument(
        "--data", type=Path, required=True, help="its split folder (the test split is predicted)"
    )
    parser.add_argument(
        "--cache", type=Path, required=True, help="a cache folder holding the run body's graph"
    )
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="NAME=SRC",
        help="a source tree of objrec to time (SRC: its src folder, put first on PYTHONPATH), "
        "named NAME; give one --variant per tree, the first the reference",
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every variant")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in args.variant)
    times: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    answers: dict[str, list] = {}
    for _ in range(args.repeats):
        for name, src in variants.items():
            seconds, answers[name] = one_round(src, args, Path(tempfile.mkdtemp()) / "round")
            times[name].append(seconds)
            print(name, {k: round(v, 2) for k, v in seconds.items()}, flush=True)
    first = next(iter(variants))
    print(f"medians of {args.repeats} (s): evaluate, predict, both; ratio of both to {first}")
    for name, rounds in times.items():
        median = {k: statistics.median(r[k] for r in rounds) for k in ("evaluate", "predict")}
        both = statistics.median(r["evaluate"] + r["predict"] for r in rounds)
        base = statistics.median(r["evaluate"] + r["predict"] for r in times[first])
        same, largest = difference(answers[name], answers[first])
        print(
            f"{name}: {median['evaluate']:.2f} {median['predict']:.2f} {both:.2f} "
            f"x{both / base:.2f}; answers as {first}'s: {same}, top-k probabilities within "
            f"{largest:.2g}"
        )


if __name__ == "__main__":
    main()

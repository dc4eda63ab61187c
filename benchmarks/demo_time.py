"""Wall time of `objrec demo`, step by step, for source trees of objrec side by side.

Each variant is a source tree (``NAME=SRC``, put first on PYTHONPATH); the variants run in turn,
``--repeats`` rounds, each run a new process writing a new folder, after one untimed warm-up run of
each (so the feature store holds the sample's features and Python's bytecode is compiled, as for a
newcomer's second demo). Printed: the median of each step (the time between the demo's ``n/5``
notes; ``calibrate`` is train's own figure, part of ``train``), the process's whole wall time and
the ratio to the first variant.

    flock /tmp/objrec-cpu.lock python benchmarks/demo_time.py \\
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

DRIVER = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from objrec.demo import run_demo
from objrec.progress import Reporter

class Clock(Reporter):
    def __init__(self):
        self.marks = [("import", time.perf_counter())]
    def note(self, message):
        if message[:1].isdigit() and message[1:3] == "/5":
            self.marks.append((message[:3], time.perf_counter()))

clock = Clock()
out = Path(sys.argv[1])
run_demo(out, clock)
names = ["split", "explore", "train", "evaluate", "predict"]
times = [b - a for (_, a), (_, b) in zip(clock.marks, clock.marks[1:])]
steps = {"import": clock.marks[0][1] - started, **dict(zip(names, times))}
summary = json.loads((out / "run" / "summary.json").read_text())
steps["calibrate"] = summary["seconds"]["calibrate"]
print(json.dumps(steps))
if len(sys.argv) > 2:  # what the run learned and predicts, for comparing variants (not timed)
    import hashlib
    from safetensors.torch import load_file
    from dataclasses import asdict
    from objrec.inference import Recognizer
    from objrec.predict import predict
    state = load_file(out / "run" / "model.safetensors")
    head = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state) if k.startswith("head.")))
    predictions = predict(out / "run", [out / "data" / "test"], topk=5)
    dump = {
        "head": head.hexdigest(),
        "calibration": asdict(Recognizer.load(out / "run").calibration),
        "temperature_fit": summary["calibration"],
        "familiarity": {k: state[k].double().flatten().tolist() for k in state
                        if k.startswith("familiarity.") and not k.endswith("basis")},
        "probs": {p.filename: {t["class"]: t["prob"] for t in p.topk} for p in predictions},
        "scores": {p.filename: p.score for p in predictions},
        "unknown": {p.filename: p.unknown for p in predictions},
    }
    Path(sys.argv[2]).write_text(json.dumps(dump))
"""

COLUMNS = ("import", "split", "explore", "train", "calibrate", "evaluate", "predict", "wall")


def run_once(src: str, dump: Path | None = None) -> dict[str, float]:
    """One demo in a new process and folder: its steps' seconds; ``dump``: also write what it
    learned and predicts there (after the timing)."""
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    with tempfile.TemporaryDirectory(prefix="demo-time-") as tmp:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, str(Path(tmp) / "demo"), *([str(dump)] if dump else [])],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
    return {**json.loads(done.stdout.strip().splitlines()[0]), "wall": wall}


def largest(pairs) -> tuple[float, float]:
    """The largest absolute and relative difference over (value, reference) pairs."""
    pairs = [(float(a), float(b)) for a, b in pairs]
    absolute = max((abs(a - b) for a, b in pairs), default=0.0)
    relative = max((abs(a - b) / max(abs(b), 1e-30) for a, b in pairs), default=0.0)
    return absolute, relative


def scaled_difference(values: list[float], reference: list[float]) -> float:
    """The largest difference between two tensors' values over the reference's largest value."""
    top = max((abs(b) for b in reference), default=0.0)
    return largest(zip(values, reference, strict=True))[0] / max(top, 1e-30)


def agreement(dump: dict, reference: dict) -> list[str]:
    """How a variant's run differs from the first variant's, in what it learned and predicts."""
    tensors = ", ".join(
        f"{key.removeprefix('familiarity.')} {scaled_difference(dump['familiarity'][key], b):.2g}"
        for key, b in reference["familiarity"].items()
    )
    probs = [
        (dump["probs"][f][c], p) for f, row in reference["probs"].items() for c, p in row.items()
    ]
    scores = [(dump["scores"][f], s) for f, s in reference["scores"].items()]
    (prob_abs, _), (score_abs, score_rel) = largest(probs), largest(scores)
    same = {key: dump[key] == reference[key] for key in ("head", "calibration", "temperature_fit")}
    return [
        f"heads identical: {same['head']}",
        f"calibration identical: {same['calibration']} ({dump['calibration']})",
        f"temperature fit identical: {same['temperature_fit']}",
        "familiarity tensors (the basis left out), largest difference over largest value: "
        + tensors,
        f"predict's top-5 probabilities: largest difference {prob_abs:.3g}",
        f"predict's unknown scores: largest difference {score_abs:.3g}, relative {score_rel:.3g}",
        f"unknown answers identical: {dump['unknown'] == reference['unknown']}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="NAME=SRC",
        help="a source tree of objrec to time (SRC: its src folder, put first on PYTHONPATH), "
        "named NAME in the table; give one --variant per tree",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed rounds of every variant (after one untimed warm-up)",
    )
    args = parser.parse_args()
    variants = dict(spec.split("=", 1) for spec in args.variant)
    kept = Path(tempfile.mkdtemp(prefix="demo-time-dumps-"))
    for name, src in variants.items():
        run_once(src, kept / f"{name}.json")  # warm-up; what it learned and predicts
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, src in variants.items():
            runs[name].append(run_once(src))
    first = statistics.median(r["wall"] for r in next(iter(runs.values())))
    print(f"medians of {args.repeats} runs (s)")
    print("| variant | " + " | ".join(COLUMNS) + " | walls (s) | vs first |")
    print("| --- |" + " ---: |" * len(COLUMNS) + " --- | ---: |")
    for name, values in runs.items():
        medians = [statistics.median(r[c] for r in values) for c in COLUMNS]
        walls = ", ".join(f"{r['wall']:.1f}" for r in values)
        cells = " | ".join(f"{m:.2f}" for m in medians)
        print(f"| {name} | {cells} | {walls} | {medians[-1] / first:.2f}x |")
    dumps = {name: json.loads((kept / f"{name}.json").read_text()) for name in variants}
    shutil.rmtree(kept)
    reference = next(iter(variants))
    for name in list(variants)[1:]:
        print(f"\n{name} against {reference}:")
        for line in agreement(dumps[name], dumps[reference]):
            print(f"  {line}")


if __name__ == "__main__":
    main()

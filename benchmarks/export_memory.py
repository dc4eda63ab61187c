"""Peak memory of the exported script: ``model_infer.py`` answering a folder, per exported model.

    objrec export RUN_FP32 && objrec export RUN_INT8
    flock /tmp/objrec-cpu.lock python benchmarks/export_memory.py RUN_FP32/model.onnx \\
        RUN_INT8/model.onnx --photos FOLDER [--runtime onnxruntime] [--repeats 3]

Each model is answered by the script ``export`` wrote beside it (``model_infer.py``), as a user
runs it, in a process of its own (``python model_infer.py FOLDER --model MODEL --runtime R``).
Each round runs every model in turn; the figure is the process's peak resident memory
(``ru_maxrss`` of the child, ``os.wait4``), with its wall time. Printed: each process's figures as
it ends, then the medians over ``--repeats`` rounds side by side, each with its ratio to the
first model's. docs/export.md quotes the peaks ("On a small board").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _medians import median_table


def answer(model: Path, photos: Path, runtime: str) -> tuple[float, float]:
    """The peak resident MiB and wall seconds of the script beside ``model`` answering
    ``photos``."""
    script = model.parent / "model_infer.py"
    command = [sys.executable, str(script), str(photos), "--model", str(model)]
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--runtime", runtime], stdout=subprocess.DEVNULL, stderr=err, text=True
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{script} failed on {model}:\n{err.read()[-2000:]}")
    return usage.ru_maxrss / 1024, wall


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "models", type=Path, nargs="+", help="exported model files (the first the baseline)"
    )
    parser.add_argument("--photos", type=Path, required=True, help="the folder each one answers")
    parser.add_argument(
        "--runtime",
        default="onnxruntime",
        help="the script's --runtime [default: onnxruntime, what a small board installs]",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of every model (medians are printed)"
    )
    args = parser.parse_args()
    peaks: dict[str, list[float]] = {}
    walls: dict[str, list[float]] = {}
    for number in range(args.repeats):
        for model in args.models:
            name = f"{model} ({model.stat().st_size / 1e6:.0f} MB)"
            peak, wall = answer(model, args.photos, args.runtime)
            peaks.setdefault(name, []).append(peak)
            walls.setdefault(name, []).append(wall)
            print(f"round {number + 1} {name}: peak {peak:.0f} MiB, {wall:.2f} s", flush=True)
    print(f"\npeak resident memory, medians of {args.repeats} rounds:")
    print("\n".join(median_table(peaks, "MiB", digits=0)))
    print(f"\nwall time, medians of {args.repeats} rounds:")
    print("\n".join(median_table(walls, "s", digits=2)))


if __name__ == "__main__":
    main()

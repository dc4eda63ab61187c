"""How soon the commands a user runs many times a day answer: each as a new process, two source
trees of objrec side by side.

For each command, the seconds to its first line (on stdout or stderr: what a person at the shell
sees first) and to its end; ``serve``, which runs until stopped, is stopped once its first line
is out. Each variant is a source tree (``NAME=SRC``, put first on PYTHONPATH); the variants take
turns, ``--repeats`` rounds after one untimed round (the OS's file cache warm for every timed
run), and the median of each is printed beside the first variant's, as a ratio.

    flock /tmp/objrec-cpu.lock python benchmarks/quick_start.py --data PHOTOS --run RUN \\
        --image photo.jpg --variant before=/tmp/before/src --variant after=src --repeats 7
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def command_lines(data: Path, run: Path, image: Path) -> dict[str, list[str]]:
    """Each command timed, by the name the table gives it."""
    missing = str(Path(image).with_name("no-such-photo.jpg"))
    return {
        "objrec --help": ["--help"],
        "check DATA": ["check", str(data)],
        "cache": ["cache"],
        "backbones": ["backbones"],
        "check RUN": ["check", str(run)],
        "predict RUN missing.jpg": ["predict", str(run), missing],
        "predict RUN photo.jpg": ["predict", str(run), str(image)],
        "serve RUN --cors-origin bad": ["serve", str(run), "--cors-origin", "shop.example"],
        "serve RUN": ["serve", str(run), "--port", "0"],
    }


def run_once(src: str, args: list[str]) -> tuple[float, float | None]:
    """Seconds to the first line of ``objrec ARGS`` and to its end (None for serve: stopped at
    its first line)."""
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "objrec", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # serve's workers stopped with it
    )
    assert process.stdout is not None
    process.stdout.readline()
    first = time.perf_counter() - started
    if args[0] == "serve" and "--port" in args:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=60)
        return first, None
    process.communicate(timeout=600)
    return first, time.perf_counter() - started


def cell(values: Sequence[float | None]) -> str:
    """The median of ``values``, or a dash where the command was stopped."""
    kept = [v for v in values if v is not None]
    return f"{statistics.median(kept):.2f}" if kept else "-"


def ratio(values: Sequence[float | None], first: Sequence[float | None]) -> str:
    kept, base = [v for v in values if v is not None], [v for v in first if v is not None]
    if not kept or not base:
        return "-"
    return f"{statistics.median(kept) / statistics.median(base):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder for check DATA")
    parser.add_argument("--run", type=Path, required=True, help="a run folder (train's --out)")
    parser.add_argument("--image", type=Path, required=True, help="a photo predict answers")
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="NAME=SRC",
        help="a source tree of objrec to time (SRC: its src folder, first on PYTHONPATH), named "
        "NAME in the table; the first is the one the others are compared with",
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of each (medians)")
    parser.add_argument(
        "--only", nargs="*", default=None, help="time only these commands (names as the table's)"
    )
    args = parser.parse_args()
    variants = dict(spec.split("=", 1) for spec in args.variant)
    commands = command_lines(args.data, args.run, args.image)
    if args.only:
        commands = {name: line for name, line in commands.items() if name in args.only}
    times: dict[tuple[str, str], list[tuple[float, float | None]]] = {
        (c, v): [] for c in commands for v in variants
    }
    for round_ in range(args.repeats + 1):
        for name, line in commands.items():
            for variant, src in variants.items():
                measured = run_once(src, line)
                if round_:  # the first round warms the file cache, untimed
                    times[name, variant].append(measured)
    names = list(variants)
    head = " | ".join(f"{v}: first line, end (s)" for v in names)
    ratios = " | ".join(f"{v}/{names[0]}: first line, end" for v in names[1:])
    print(f"| command | {head} | {ratios} |")
    print("| --- |" + " ---: |" * (len(names) + len(names) - 1))
    for name in commands:
        firsts = {v: [t[0] for t in times[name, v]] for v in names}
        ends = {v: [t[1] for t in times[name, v]] for v in names}
        shown = " | ".join(f"{cell(firsts[v])}, {cell(ends[v])}" for v in names)
        compared = " | ".join(
            f"{ratio(firsts[v], firsts[names[0]])}, {ratio(ends[v], ends[names[0]])}"
            for v in names[1:]
        )
        print(f"| {name} | {shown} | {compared} |")


if __name__ == "__main__":
    main()

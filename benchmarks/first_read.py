"""A first `objrec check` and a first `objrec split` of a photo folder (an empty cache folder),
against an earlier source tree; and what reading each photo once would save.

A first check and a first split read each photo twice: once for its SHA-256
(``reading.hash_all``), once to decode it (check's contrast, split's image facts). The
``reads`` part measures, in this process, the CPU seconds of check's two passes over every photo
(hash the file, then decode the file) against one pass reading each photo's bytes once, hashing
them and decoding them from memory (``images.open_image(data, from_file=True)``, as the feature
store does), and each half of each. The files are in the page cache (it cannot be dropped here),
as a second read of a photo just read finds it.

The ``cold`` part runs each tree in turn (baseline then this tree, then the other way round), each
command its own process with ``$OBJREC_CACHE`` a new, empty folder: ``objrec check DATA --json``
and ``objrec split DATA OUT --json`` (copying the photos). Prints each run's wall and CPU seconds
(the command and its workers), their medians over ``--repeats`` rounds and new / old, and checks
that both trees gave the same answers (the split's without its output folder):

    git archive 9c188569 src | tar -x -C /tmp/base
    python benchmarks/first_read.py /work/shared/data/caltech101 --baseline /tmp/base/src \\
        --lock /tmp/objrec-cpu.lock
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "src"
COMMANDS = ("check", "split")


@contextlib.contextmanager
def locked(lock: Path | None):
    """``flock`` on ``lock`` for the block (nothing without one)."""
    if lock is None:
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def passes(paths: list[Path]) -> dict[str, Callable[[], None]]:
    """Each pass over ``paths`` to time: check's two (hash the file, decode the file), one read of
    each file's bytes hashed and decoded from memory, and each half of that."""
    from objrec import image_facts
    from objrec.images import open_image
    from objrec.manifest import sha256_file

    held: dict[Path, bytes] = {}

    def from_bytes(path: Path, data: bytes) -> float:
        image = open_image(data, draft_size=image_facts.DRAFT, name=str(path), from_file=True)
        return image_facts.contrast(image)

    def read_and_hash(path: Path) -> None:
        held[path] = path.read_bytes()
        hashlib.sha256(held[path]).hexdigest()

    def once(path: Path) -> None:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        from_bytes(path, data)

    each = {
        "hash files": sha256_file,
        "decode files": lambda p: image_facts.contrast(open_image(p, draft_size=image_facts.DRAFT)),
        "read and hash": read_and_hash,
        "decode bytes": lambda p: from_bytes(p, held[p]),  # those read and hash held
        "read once": once,
    }
    found = {name: functools.partial(_over, paths, step) for name, step in each.items()}

    def twice() -> None:  # check's two passes
        found["hash files"]()
        found["decode files"]()

    return found | {"read twice": twice}


def _over(paths: list[Path], step: Callable[[Path], object]) -> None:
    for path in paths:
        step(path)


def reads(data: Path, repeats: int, lock: Path | None) -> None:
    """CPU seconds (user and system) of each of :func:`passes` over every photo of ``data``,
    medians of ``repeats`` rounds (the order turned each round)."""
    sys.path.insert(0, str(HERE))
    from objrec.split.source import class_files

    paths = [p for files in class_files(data, [])[0].values() for p in files]
    runs = passes(paths)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(repeats):
        for name in list(runs)[:: 1 if r % 2 == 0 else -1]:
            with locked(lock):
                before = resource.getrusage(resource.RUSAGE_SELF)
                runs[name]()
                after = resource.getrusage(resource.RUSAGE_SELF)
            times[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    print(f"{len(paths)} photos in the page cache, CPU s of each pass over them:")
    for name, found in times.items():
        rounds = ", ".join(f"{t:.2f}" for t in found)
        print(f"{name:>14}: {statistics.median(found):.2f} s ({rounds})")
    twice, once = (statistics.median(times[n]) for n in ("read twice", "read once"))
    print(f"read once / read twice: {once / twice:.2f}", flush=True)


def objrec(tree: Path, work: Path, command: str, data: Path, lock: Path | None) -> tuple:
    """Wall and CPU seconds of one first ``objrec COMMAND DATA`` of ``tree`` (its cache folder
    new and empty), and its ``--json`` answer."""
    cache, out = work / "cache", work / "split"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    env = os.environ | {"PYTHONPATH": str(tree), "OBJREC_CACHE": str(cache)}
    args = [str(data), *([str(out)] if command == "split" else []), "--json"]
    with locked(lock):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "objrec", command, *args],
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # 1: check found an unusable file
        raise SystemExit(f"objrec {command} failed ({done.returncode}):\n{done.stderr}")
    answer = json.loads(done.stdout)
    answer.pop("out", None)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.dumps(answer, sort_keys=True)


def cold(data: Path, trees: dict[str, Path], repeats: int, lock: Path | None) -> None:
    """Each tree's first check and first split, ``repeats`` rounds, medians and new / old."""
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    answers: dict[str, set[str]] = {c: set() for c in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="first-read-") as work:
        for r in range(repeats):
            for name in list(trees)[:: 1 if r % 2 == 0 else -1]:
                for command in COMMANDS:
                    wall, cpu, answer = objrec(trees[name], Path(work), command, data, lock)
                    times.setdefault((name, command), []).append((wall, cpu))
                    answers[command].add(answer)
                    load = os.getloadavg()[0]
                    print(
                        f"round {r + 1} {name} {command}: {wall:.1f} s ({cpu:.1f} s CPU), load {load:.1f}",
                        flush=True,
                    )
    print(f"\nthe same answers: {all(len(a) == 1 for a in answers.values())}")
    print(f"| first ({repeats} rounds) | old s (CPU) | new s (CPU) | new / old |")
    print("| --- | --- | --- | --- |")
    for command in COMMANDS:
        old, new = (
            [statistics.median(t[k] for t in times[(n, command)]) for k in (0, 1)] for n in trees
        )
        print(
            f"| {command} | {old[0]:.1f} ({old[1]:.1f}) | {new[0]:.1f} ({new[1]:.1f}) | "
            f"{new[0] / old[0]:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="the photo folder (one sub-folder per class)")
    parser.add_argument("--baseline", type=Path, help="the earlier tree's src (cold part)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument("--lock", type=Path, help="a file to flock for each timed run")
    parser.add_argument(
        "--part", choices=("reads", "cold", "both"), default="both", help="what to measure"
    )
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    if args.part in ("reads", "both"):
        reads(args.data, args.repeats, args.lock)
    if args.part in ("cold", "both"):
        if args.baseline is None:
            parser.error("the cold part needs --baseline")
        cold(args.data, {"old": args.baseline.resolve(), "new": HERE}, args.repeats, args.lock)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

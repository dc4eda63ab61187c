"""What the SHA-256 passes of a load cost, and whether one pass could give both a model's check
and its digest.

A model file's load hashes its bytes twice (``checkpoint.read_model_state``): the check of the
file's own SHA-256 (``require_intact``: the 64 hex digits of ``objrec_sha256`` read as zeros) and
its content digest (``content_digest``, ``model_digest``'s value: the bytes as written). The two
inputs differ at those digits, near the header's start, and SHA-256 chains each block on the
ones before, so from there on every block is hashed twice whatever the code: one loop feeding
both hashers saves only the prefix. Timed in turn on RUN's model file's bytes, in memory: the two
as shipped (at once, in two threads), one loop feeding both (the prefix hashed once, 1 MiB
chunks), and a single SHA-256, the least a checked load could cost. Then a training state of
RUN's head (one Adam step, as a fit writes it), read in turn as a model is (``read_model_state``:
checked and digested) and as ``load_training_state`` reads it (in this tree).

With ``--variant NAME=SRC`` (two or more source trees of objrec), each tree in turn, a new
process a round: ``load_model(RUN)`` and ``load_training_state`` of a training state of RUN's
head (written by that tree, one Adam step, as a fit writes it), each ``--loads`` times a round
after one untimed load of each; the medians side by side, as ratios to the first tree's.

    flock /tmp/objrec-cpu.lock python benchmarks/load_hashes.py /work/runs/s0 \\
        --variant before=/tmp/before/src --variant after=src --repeats 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 1 << 20


def seconds(work) -> float:
    """The wall time of ``work()``."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def both_in_threads(data: bytes) -> str:
    """The check and the digest as ``read_model_state`` computes them: at once, in two threads."""
    from objrec.checkpoint import content_digest, require_intact

    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(content_digest, data)
        require_intact(Path("model.safetensors"), data)
    return digest.result()


def both_in_one_loop(data: bytes) -> str:
    """The check and the digest from one loop over the bytes: the prefix before the file's own
    digest hashed once, then each chunk fed to both hashers."""
    from objrec.checkpoint import UNSEALED, seal_at
    from objrec.file_index import DIGEST_CHARS

    view, at = memoryview(data), seal_at(data)
    assert at is not None, "a model file without its own SHA-256"
    digest = hashlib.sha256(view[:at])
    check = digest.copy()
    check.update(UNSEALED)
    digest.update(view[at : at + 64])
    for start in range(at + 64, len(view), CHUNK):
        chunk = view[start : start + CHUNK]
        check.update(chunk)
        digest.update(chunk)
    assert check.hexdigest().encode() == view[at : at + 64], "damaged"
    return digest.hexdigest()[:DIGEST_CHARS]


def hashing(run: Path, repeats: int) -> None:
    """Print the medians of the ways to hash RUN's model file's bytes, in turn, then of a
    training state's two reads."""
    from objrec.checkpoint import content_digest
    from objrec.run_files import BEST

    data = (run / BEST if run.is_dir() else run).read_bytes()
    assert both_in_threads(data) == both_in_one_loop(data) == content_digest(data)
    ways = {
        "check and digest, two threads (shipped)": lambda: both_in_threads(data),
        "check and digest, one loop": lambda: both_in_one_loop(data),
        "one SHA-256": lambda: hashlib.sha256(data).digest(),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            times[name].append(seconds(way))
    shipped = statistics.median(times["check and digest, two threads (shipped)"])
    print(f"{run}: {len(data) / 1e6:.1f} MB in memory, {repeats} times each (medians)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:40} {median:.3f} s  {median / shipped:.3f}x")
    state_reads(run, repeats)


def state_reads(run: Path, repeats: int) -> None:
    """Print the medians of a training state of RUN's head read as a model is and as
    ``load_training_state`` reads it, in turn."""
    from objrec.checkpoint import read_model_state
    from objrec.resume_state import load_training_state

    with tempfile.TemporaryDirectory() as tmp:
        last = written_state(run, Path(tmp) / "last.safetensors")
        ways = {
            "as a model (checked, digested)": lambda: read_model_state(last),
            "load_training_state": lambda: load_training_state(last),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(repeats):
            for name, way in ways.items():
                times[name].append(seconds(way))
        size = last.stat().st_size
    base = statistics.median(times["as a model (checked, digested)"])
    print(f"a training state of its head: {size / 1e6:.1f} MB, {repeats} times each (medians)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:40} {median:.3f} s  {median / base:.3f}x")


def written_state(run: Path, last: Path) -> Path:
    """``last``: the training state of RUN's head after one Adam step, as a fit writes it."""
    import torch

    from objrec.checkpoint import load_model
    from objrec.engine import EarlyStopping, FitState
    from objrec.resume_state import training_state, write_training_state

    model, meta = load_model(run)
    head = model.head.train()
    optimizer = torch.optim.Adam(head.parameters())
    head(torch.randn(4, meta.head.n_features)).logsumexp(1).sum().backward()
    optimizer.step()
    fit = FitState(EarlyStopping(5), epoch=1, best_state=head.state_dict())
    write_training_state(last, training_state(head, optimizer, fit, meta))
    return last


def child(run: Path, loads: int) -> None:
    """One round in this process (the tree on PYTHONPATH): the loads' seconds, as JSON."""
    from objrec.checkpoint import load_model
    from objrec.resume_state import load_training_state

    with tempfile.TemporaryDirectory() as tmp:
        last = written_state(run, Path(tmp) / "last.safetensors")  # the model loaded untimed
        load_training_state(last)  # untimed, as the model's load
        times: dict[str, list[float]] = {"load_model": [], "load_training_state": []}
        for _ in range(loads):
            times["load_model"].append(seconds(lambda: load_model(run)))
            times["load_training_state"].append(seconds(lambda: load_training_state(last)))
    print(json.dumps(times))


def trees(run: Path, variants: list[tuple[str, str]], repeats: int, loads: int) -> None:
    """Each tree's loads, the trees taking turns, a new process a round; medians and ratios."""
    times: dict[str, dict[str, list[float]]] = {name: {} for name, _ in variants}
    for _ in range(repeats):
        for name, src in variants:
            env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
            argv = [sys.executable, __file__, str(run), "--child", "--loads", str(loads)]
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
            for what, values in json.loads(done.stdout.splitlines()[-1]).items():
                times[name].setdefault(what, []).extend(values)
    first = variants[0][0]
    print(f"{repeats} rounds of {loads} loads each (medians, seconds; ratio to {first})")
    for what in times[first]:
        base = statistics.median(times[first][what])
        cells = [
            f"{name} {statistics.median(times[name][what]):.3f} "
            f"({statistics.median(times[name][what]) / base:.3f})"
            for name, _ in variants
        ]
        print(f"  {what:20} " + "  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a run folder (or its model file)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--loads", type=int, default=3, help="timed loads a round (default 3)")
    parser.add_argument(
        "--variant", action="append", default=[], help="NAME=SRC, a source tree of objrec"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.run, args.loads)
        return
    hashing(args.run, args.repeats)
    if args.variant:
        variants = [tuple(v.split("=", 1)) for v in args.variant]
        trees(args.run, variants, args.repeats, args.loads)


if __name__ == "__main__":
    main()

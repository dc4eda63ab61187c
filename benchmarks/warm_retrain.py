"""A warm retrain, two source trees side by side: where a change to objrec moves its time.

    python benchmarks/warm_retrain.py --data /work/splits/s0 --src OLD/src --src NEW/src \\
        [--repeats 3] [-- TRAIN OPTIONS]

Runs ``objrec train DATA --out TMP --json`` with each ``--src`` first on ``PYTHONPATH``, taking
turns (A, B, A, B, ...) so that a change in the machine's load falls on both, from the feature
store as it is (run one ``objrec train DATA`` first so that every feature is stored: a warm
retrain computes none). Prints, per source tree, the median wall time of the whole process and of
train's own parts (its summary's ``seconds``), what is not train's (``outside``: the process's
start, imports and exit) and not the head's fit (``not_fit``: the fixed costs of a retrain), the
process's CPU time (``cpu``: user and system, all its threads), their ratio to the first tree's,
and the best validation loss, the ``model.safetensors`` digest and a digest of all else the run
says but its times (``said``: its summary but its provenance, history.csv, curves.png and
config.json) of each run (a change meant to be faster only should move none of them). Each tree's bytecode is compiled first (``_sampling.compiled_objrec``;
``--no-bytecode`` leaves it), then each tree retrains ``--warmup`` times unmeasured: the store
remembers the augmentation's hash per source tree (``view_keys.remembered_fingerprint``), so a
tree's first retrain, or its first after an edit, imports torchvision to compute it. Run it alone,
under the CPU lock (``flock /tmp/objrec-cpu.lock python benchmarks/warm_retrain.py ...``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _sampling import SPLIT, SPLIT_HELP, compiled_objrec

NOT_TIMES = ("loss", "model", "said")


def one_run(src: Path, data: Path, extra: list[str]) -> dict:
    """Wall time, train's ``seconds`` and what is outside them, the best validation loss and the
    digest of ``model.safetensors`` of one ``objrec train``."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(src)}
        command = [sys.executable, "-m", "objrec", "train", str(data), "--out", f"{tmp}/run"]
        start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run([*command, "--json", *extra], env=env, capture_output=True, text=True)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum(getattr(after, k) - getattr(before, k) for k in ("ru_utime", "ru_stime"))
        if done.returncode:
            sys.exit(f"objrec train with {src} failed ({done.returncode}):\n{done.stderr}")
        model = hashlib.sha1(Path(f"{tmp}/run/model.safetensors").read_bytes()).hexdigest()
        summary = json.loads(done.stdout)
        said = outputs_digest(Path(f"{tmp}/run"), summary)
    seconds = summary["seconds"]
    outside = {"outside": wall - seconds["total"], "not_fit": wall - seconds["fit"]}
    loss = summary["best_valid_loss"]
    return {
        "wall": wall,
        "cpu": cpu,
        **seconds,
        **outside,
        "loss": loss,
        "model": model,
        "said": said,
    }


TIMINGS = ("run", "seconds", "digest_seconds", "provenance")
"""What a run's summary holds that differs between two runs of the same model: its folder, its
times and its provenance (the command line names each run's own temporary folder, and each
source tree has its own commit), which is what made the run, not what it says."""


def outputs_digest(run: Path, summary: dict) -> str:
    """A digest of everything the run says but its times: the summary (metrics, calibration,
    counts, warnings), history.csv without its seconds column, curves.png and config.json."""

    def without_times(value):
        if isinstance(value, dict):
            return {k: without_times(v) for k, v in value.items() if k not in TIMINGS}
        return value

    digest = hashlib.sha1(json.dumps(without_times(summary), sort_keys=True).encode())
    rows = (run / "history.csv").read_text().splitlines()
    column = rows[0].split(",").index("seconds")
    digest.update(
        repr([row.split(",")[:column] + row.split(",")[column + 1 :] for row in rows]).encode()
    )
    for name in ("curves.png", "config.json"):
        digest.update((run / name).read_bytes())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument(
        "--src",
        type=Path,
        action="append",
        required=True,
        help="a source tree of objrec (its src folder); give two to compare",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed retrains per source tree")
    parser.add_argument(
        "--warmup", type=int, default=1, help="unmeasured retrains per source tree, first"
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="leave each tree's bytecode as it is (default: compiled first, see incremental.py)",
    )
    parser.add_argument("extra", nargs="*", help="options passed on to objrec train (after --)")
    args = parser.parse_args()
    runs: dict[Path, list[dict]] = {src: [] for src in args.src}
    for src in [] if args.no_bytecode else args.src:
        compiled_objrec({**os.environ, "PYTHONPATH": str(src)})
    for _ in range(args.warmup):
        for src in args.src:
            one_run(src, args.data, args.extra)
    print(f"load average at the start {os.getloadavg()[0]:.1f}", flush=True)
    for repeat in range(args.repeats):
        for src in args.src:
            run = one_run(src, args.data, args.extra)
            runs[src].append(run)
            parts = "  ".join(f"{k} {v:.1f}" for k, v in run.items() if k not in NOT_TIMES)
            print(
                f"run {repeat + 1}  {src}  {parts}  loss {run['loss']!r}  model {run['model'][:12]}"
                f"  said {run['said'][:12]}",
                flush=True,
            )
    first = args.src[0]
    keys = [k for k in runs[first][0] if k not in NOT_TIMES]
    median = {
        src: {k: statistics.median(r[k] for r in rs) for k in keys} for src, rs in runs.items()
    }
    print(f"\nmedians of {args.repeats} (seconds; ratio to {first}):")
    for src in args.src:
        cells = "  ".join(
            f"{k} {median[src][k]:.1f} ({median[src][k] / max(median[first][k], 1e-9):.2f})"
            for k in keys
        )
        print(f"  {src}: {cells}")
    models = {run["model"] for rs in runs.values() for run in rs}
    print(f"model.safetensors: {'the same bytes in every run' if len(models) == 1 else models}")
    said = {run["said"] for rs in runs.values() for run in rs}
    same = "the same in every run" if len(said) == 1 else said
    print(f"summary, history.csv (but seconds), curves.png, config.json: {same}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

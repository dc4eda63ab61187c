"""What a model file's own SHA-256 costs each load (``checkpoint.require_intact``) and save.

RUN's model is written again into a temporary folder by this objrec (``save_checkpoint``, which
records the file's digest in it), then loaded ``--repeats`` times each way, in turn: by
``load_model`` as it ships (the file read once, its digest checked on those bytes) and with the
check left out; and saved each way, sealed (the file read back once and its digest written in
place, ``checkpoint.seal``) and not. Printed: the file's size, the median seconds of each, their
difference and ratio, and the median of SHA-256 alone over the file's bytes, already in memory.

    flock /tmp/objrec-cpu.lock python benchmarks/model_digest.py /work/runs/s0 --repeats 5
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import objrec.checkpoint
from objrec.checkpoint import BEST, load_model, save_checkpoint


def seconds(work) -> float:
    """The wall time of ``work()``."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a run folder (or checkpoint file) to copy")
    parser.add_argument("--repeats", type=int, default=5, help="loads each way (default 5)")
    args = parser.parse_args()
    checked, sealed = objrec.checkpoint.require_intact, objrec.checkpoint.seal
    with tempfile.TemporaryDirectory() as tmp:
        path, saved = Path(tmp) / BEST, Path(tmp) / "saved.safetensors"
        model, meta = load_model(args.run)
        save_checkpoint(path, model, meta)
        data = path.read_bytes()
        times: dict[str, list[float]] = {name: [] for name in NAMES}
        for _ in range(args.repeats):
            objrec.checkpoint.require_intact = checked
            times["load, checked"].append(seconds(lambda: load_model(path)))
            objrec.checkpoint.require_intact = lambda path, data: None
            times["load, not checked"].append(seconds(lambda: load_model(path)))
            objrec.checkpoint.seal = sealed
            times["save, sealed"].append(seconds(lambda: save_checkpoint(saved, model, meta)))
            objrec.checkpoint.seal = lambda f: None
            times["save, not sealed"].append(seconds(lambda: save_checkpoint(saved, model, meta)))
            times["SHA-256 alone"].append(seconds(lambda: hashlib.sha256(data).hexdigest()))
        objrec.checkpoint.require_intact, objrec.checkpoint.seal = checked, sealed
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.run}: {len(data) / 1e6:.1f} MB, {args.repeats} times each (medians, seconds)")
    for name in NAMES:
        print(f"{name:18} {median[name]:.3f}")
    for done, without in (
        ("load, checked", "load, not checked"),
        ("save, sealed", "save, not sealed"),
    ):
        extra, ratio = median[done] - median[without], median[done] / median[without]
        print(f"{done}: {extra:+.3f} s, {ratio:.3f}x")


NAMES = ("load, checked", "load, not checked", "save, sealed", "save, not sealed", "SHA-256 alone")


if __name__ == "__main__":
    main()

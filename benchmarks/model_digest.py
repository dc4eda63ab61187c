"""What a model file's own SHA-256 costs each load (``checkpoint.require_intact``) and save, and
what sealing the training state (``last.safetensors``) costs each write of it.

RUN's model is written again into a temporary folder by this objrec (``save_checkpoint``, which
records the file's digest in it), then loaded ``--repeats`` times each way, in turn: by
``load_model`` as it ships (the file read once, its digest checked on those bytes) and with the
check left out; and saved each way, sealed (the file read back once and its digest written in
place, ``checkpoint.seal``, which also hashes the sealed bytes for the run's ``model_digest``)
and not. Printed: the file's size, the median seconds of each, their
difference and ratio, and the median of SHA-256 alone over the file's bytes, already in memory.
The training state of RUN's head (its weights, the best epoch's, Adam's step and two moments,
after one step) is written each way too (``write_training_state``), as a fit's end writes it.

    flock /tmp/objrec-cpu.lock python benchmarks/model_digest.py /work/runs/s0 --repeats 5
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import torch

import objrec.checkpoint
import objrec.resume_state
from objrec.checkpoint import load_model, save_checkpoint
from objrec.engine import EarlyStopping, FitState
from objrec.resume_state import training_state, write_training_state
from objrec.run_files import BEST


def seconds(work) -> float:
    """The wall time of ``work()``."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def head_state(model, meta) -> objrec.resume_state.TrainingState:
    """The training state a fit of ``model``'s head writes after an epoch (one Adam step)."""
    head = model.head.train()
    optimizer = torch.optim.Adam(head.parameters())
    head(torch.randn(4, meta.head.n_features)).logsumexp(1).sum().backward()
    optimizer.step()
    fit = FitState(EarlyStopping(5), epoch=1, best_state=head.state_dict())
    return training_state(head, optimizer, fit, meta)


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
        data, state, last = path.read_bytes(), head_state(model, meta), Path(tmp) / "last"
        times: dict[str, list[float]] = {name: [] for name in NAMES}
        for _ in range(args.repeats):
            objrec.checkpoint.require_intact = checked
            times["load, checked"].append(seconds(lambda: load_model(path)))
            objrec.checkpoint.require_intact = lambda *args: None
            times["load, not checked"].append(seconds(lambda: load_model(path)))
            objrec.checkpoint.seal = sealed
            times["save, sealed"].append(seconds(lambda: save_checkpoint(saved, model, meta)))
            objrec.checkpoint.seal = lambda f: ""
            times["save, not sealed"].append(seconds(lambda: save_checkpoint(saved, model, meta)))
            times["state, not sealed"].append(seconds(lambda: write_training_state(last, state)))
            objrec.checkpoint.seal = sealed
            times["state, sealed"].append(seconds(lambda: write_training_state(last, state)))
            times["SHA-256 alone"].append(seconds(lambda: hashlib.sha256(data).hexdigest()))
        objrec.checkpoint.require_intact, objrec.checkpoint.seal = checked, sealed
        last_size = last.stat().st_size
    median = {name: statistics.median(values) for name, values in times.items()}
    size = f"{len(data) / 1e6:.1f} MB, its training state {last_size / 1e6:.1f} MB"
    print(f"{args.run}: {size}, {args.repeats} times each (medians, seconds)")
    for name in NAMES:
        print(f"{name:18} {median[name]:.3f}")
    for done, without in (
        ("load, checked", "load, not checked"),
        ("save, sealed", "save, not sealed"),
        ("state, sealed", "state, not sealed"),
    ):
        extra, ratio = median[done] - median[without], median[done] / median[without]
        print(f"{done}: {extra:+.3f} s, {ratio:.3f}x")


NAMES = (
    "load, checked",
    "load, not checked",
    "save, sealed",
    "save, not sealed",
    "state, sealed",
    "state, not sealed",
    "SHA-256 alone",
)


if __name__ == "__main__":
    main()

"""Edit the data, retrain: a cold ``objrec train`` against four edits, side by side in one run.

On a link farm of the 100-class Caltech-101 protocol (symbolic links to the shared images, made in
a temporary folder; the shared folders are only read), with an empty feature store:

* cold: ``objrec train`` on the protocol's train/valid split less 100 training images and the
  ``Faces`` class, which are held back for (b) and (c);
* (a) 60 training images moved to another class folder (label fixes);
* (b) the 100 held-back images added to their classes;
* (c) a new class of 40 images (``Faces``, excluded by the protocol): 28 train, 12 valid;
* (d) 200 training images removed.

Each step starts from the previous one's folder and store. For each: the image views objrec itself
reports as pushed through the frozen bodies (``objrec train --json``'s ``frozen_pass``), the files
it had to hash, the wall time of the whole ``objrec train`` process, its ratio to the cold run's,
where train's own time went (``seconds`` of its summary: the frozen pass or store lookups, the head
fit and its epochs, the calibration), its peak resident memory, and the best validation loss.
``--repeats`` runs the whole sequence again from a new link farm and an empty store, with the
same edits (the same ``--seed``); after the runs' tables, each step's median wall time over the
runs and its ratio to the cold train's (the ratio of the medians, and the median of each run's
own ratio).
objrec's bytecode is compiled first (``_sampling.compiled_objrec``; ``--no-bytecode`` leaves it),
so that no run compiles objrec's sources where ``PYTHONDONTWRITEBYTECODE`` is set, as a user's
installed objrec does not. Run it alone, under the CPU lock:

    flock /tmp/objrec-cpu.lock python benchmarks/incremental.py --split /work/splits/s0 \\
        [--graphs-from ~/.cache/objrec] [--repeats 3] [-- TRAIN OPTIONS, e.g. --head-precision fp32]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _medians import median_table
from _sampling import SPLIT, SPLIT_HELP, compiled_objrec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "caltech101"
COLD = "cold train"


def link_farm(split: Path, out: Path) -> None:
    """``out`` mirrors the train and valid folders of ``split`` with symbolic links."""
    for part in ("train", "valid", "test"):
        for source in sorted((split / part).iterdir()):
            (out / part / source.name).mkdir(parents=True)
            for image in sorted(source.iterdir()):
                (out / part / source.name / image.name).symlink_to(image.resolve())


def train_images(data: Path) -> list[Path]:
    return sorted(p for p in (data / "train").glob("*/*") if not p.name.startswith("."))


def objrec_train(data: Path, run: Path, cache: Path, extra: list[str]) -> dict:
    """One ``objrec train --json`` process: its summary, wall time and peak resident memory."""
    command = [sys.executable, "-m", "objrec", "train", str(data), "--out", str(run), "--json"]
    env = {**os.environ, "OBJREC_CACHE": str(cache)}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([*command, *extra], stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"objrec train failed:\n{err.read()[-3000:]}")
        summary = json.loads(out.read())
    return {"wall": wall, "peak_mib": usage.ru_maxrss / 1024, **summary}


def hold_back(data: Path, held: Path, rng: random.Random) -> list[tuple[Path, Path]]:
    """Move 100 training images out of the farm (for b); returns (held, original) pairs."""
    moves = []
    for image in rng.sample(train_images(data), 100):
        target = held / image.parent.name / image.name
        target.parent.mkdir(parents=True, exist_ok=True)
        image.rename(target)
        moves.append((target, image))
    return moves


def relabel(data: Path, rng: random.Random) -> None:
    """(a) 60 training images moved to another class's folder."""
    classes = sorted(p.name for p in (data / "train").iterdir())
    for image in rng.sample(train_images(data), 60):
        other = rng.choice([c for c in classes if c != image.parent.name])
        image.rename(data / "train" / other / f"moved_{image.parent.name}_{image.name}")


def new_class(data: Path, faces: Path, rng: random.Random) -> None:
    """(c) 40 images of a class the data did not have: 28 train, 12 valid."""
    images = rng.sample(sorted(faces.iterdir()), 40)
    for part, chosen in (("train", images[:28]), ("valid", images[28:])):
        (data / part / "Faces").mkdir()
        for image in chosen:
            (data / part / "Faces" / image.name).symlink_to(image.resolve())


def remove(data: Path, rng: random.Random) -> None:
    """(d) 200 training images removed."""
    for image in rng.sample(train_images(data), 200):
        image.unlink()


def row(name: str, result: dict, cold_wall: float) -> str:
    fp, seconds = result["frozen_pass"], result["seconds"]
    parts = (
        f"{seconds['features']:.1f} / {seconds['fit']:.1f} ({result['epochs_run']}) "
        f"/ {seconds.get('calibrate', float('nan')):.1f}"
    )
    return (
        f"| {name} | {result['n_images']['train']:,} | {fp['computed']:,} | {fp['from_store']:,} "
        f"| {fp['hashed']:,} ({fp['digest_seconds']:.1f} s) | {result['wall']:.1f} "
        f"| {result['wall'] / cold_wall:.3f} | {parts} | {result['peak_mib']:,.0f} "
        f"| {result['best_valid_loss']:.4f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument(
        "--faces",
        type=Path,
        default=SHARED / "Faces",
        help="Caltech-101's Faces class folder (the class the edits add) [default: beside the shared Caltech-101]",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the edits")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of the whole sequence, each from a new link farm and empty store (medians are "
        "printed)",
    )
    parser.add_argument("--backbone", help="passed to objrec train (default: objrec's default)")
    parser.add_argument(
        "--graphs-from",
        type=Path,
        help="a cache folder whose `onnx` folder (the exported and int8 graphs, made once per "
        "machine) is copied into the empty store first, so that the cold run computes every "
        "feature but does not make the graphs (default: the cold run makes them)",
    )
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="leave objrec's bytecode as it is: where PYTHONDONTWRITEBYTECODE is set, every objrec "
        "train then compiles objrec's sources at its start, as this script's runs did until 5 "
        "December (default: compiled once first, as a user's installed objrec is)",
    )
    parser.add_argument(
        "extra", nargs="*", help="more options passed to every objrec train (after --)"
    )
    args = parser.parse_args()
    extra = (["--backbone", args.backbone] if args.backbone else []) + args.extra
    made = (
        f"graphs copied from {args.graphs_from}"
        if args.graphs_from
        else "graphs made by the cold run"
    )
    options = f", with {' '.join(extra)}" if extra else ""
    if not args.no_bytecode:
        made += f"; bytecode of {compiled_objrec(dict(os.environ))} compiled first"
    walls: dict[str, list[float]] = {}
    for number in range(args.repeats):
        print(
            f"\nrun {number + 1} of {args.repeats}: objrec train on {args.split}{options} ({made}),"
        )
        for name, wall in one_run(args, extra):
            walls.setdefault(name, []).append(wall)
    print(f"\nwall seconds, medians of {args.repeats} runs:")
    print("\n".join(median_table(walls, "s", baseline=COLD, digits=1)))


def one_run(args: argparse.Namespace, extra: list[str]) -> list[tuple[str, float]]:
    """The cold train and the four edits from a new link farm and an empty store, each step's row
    printed as it ends: each step's name and wall seconds."""
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="objrec-incremental-"))
    data, cache = root / "data", root / "cache"
    link_farm(args.split, data)
    if args.graphs_from:
        shutil.copytree(args.graphs_from / "onnx", cache / "onnx")
    held = hold_back(data, root / "held", rng)
    steps = [
        ("(a) 60 images moved to another class", lambda: relabel(data, rng)),
        ("(b) 100 images added", lambda: [h.rename(o) for h, o in held]),
        ("(c) a new class of 40 images", lambda: new_class(data, args.faces, rng)),
        ("(d) 200 images removed", lambda: remove(data, rng)),
    ]
    print(f"link farm in {root}, in order:")
    print(
        "| step | train images | image views computed | from the store | files hashed "
        "| wall s | / cold | frozen pass / head fit (epochs) / calibration s | peak MiB "
        "| best valid loss |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    cold = objrec_train(data, root / "run-cold", cache, extra)
    print(row(COLD, cold, cold["wall"]), flush=True)
    walls = [(COLD, cold["wall"])]
    for i, (name, edit) in enumerate(steps):
        edit()
        result = objrec_train(data, root / f"run-{i}", cache, extra)
        print(row(name, result, cold["wall"]), flush=True)
        walls.append((name, result["wall"]))
    precision = cold["precision"]
    print(
        f"\nbody in {precision['used']}, head trained in {precision.get('head', 'fp32')} "
        f"({precision.get('head_why', 'before head_precision existed')})"
    )
    if not args.keep:
        shutil.rmtree(root)
    return walls


if __name__ == "__main__":
    main()

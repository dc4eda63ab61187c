"""A retrain's frozen pass of a few new photos, source trees side by side, taking turns.

    OBJREC_CACHE=C flock /tmp/objrec-cpu.lock python benchmarks/few_new_images.py \\
        --data /work/splits/s0 --photos /work/shared/data/caltech101/Faces \\
        --src before=OLD/src --src after=src [--images 5] [--repeats 5] [--first 0]

``C``: a cache folder holding every feature of DATA (the store of one ``objrec train DATA``) and
its int8 graph. Each ``--src`` gets its own copy of it (so that each computes the same new photos)
and a link farm of DATA's train and valid folders in a temporary folder. Round ``i`` copies
``--images`` photos of ``--photos`` it has not used into the farm's first training class, then
runs, for each tree in turn (the order swapped each round), a new Python that imports
``objrec.train`` and times ``train.prepare`` (what ``objrec train`` does before the head's fit:
listing the split, building the bodies, finding the int8 body and the three tables of the frozen
pass, each computing the new photos' views it lacks: the centre and one augmented view of each)
and, within it, its three ``feature_table`` calls (``pass``: the frozen pass, torchvision's import
and the body's session included). Each tree runs one round first, unmeasured (its copy's file
index hashes the farm, OpenVINO compiles its graph for the copy's folder). Prints each run, the
medians, their ratio to the first tree's and the median of each round's own ratio, and whether
every tree computed the same features of the new photos, bit for bit. Run it alone, under the
CPU lock.
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
from pathlib import Path

import numpy as np
from _sampling import SPLIT, SPLIT_HELP, compiled_objrec
from incremental import link_farm

CHILD = r"""
import json, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np
import objrec.train
from objrec.config import TrainConfig
from objrec.distributed import SINGLE
from objrec.precision import settle_head_precision, settle_precision
from objrec.progress import SILENT
from objrec.quantize import int8_engine

train = sys.modules["objrec.train"]
data, out, prefix = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
config, _ = settle_precision(TrainConfig(), SINGLE)
config = replace(config, int8_engine=int8_engine(config.int8_engine))
config, _ = settle_head_precision(config, SINGLE, False)
passes = sys.modules.get("objrec.train_features", train)  # whose frozen_features calls it
spent, tables, table = [], [], passes.feature_table

def timed_table(*args, **kwargs):
    start = time.perf_counter()
    tables.append(table(*args, **kwargs))
    spent.append(time.perf_counter() - start)
    return tables[-1]

passes.feature_table = timed_table
start = time.perf_counter()
prep = train.prepare(data, config, SILENT)
prepare = time.perf_counter() - start
prep = prep[0] if isinstance(prep, tuple) else prep  # with its LiveParts since 7 December 2026
new = [np.flatnonzero([s.path.name.startswith(prefix) for s in t_samples])
       for t_samples in [prep.train_set.samples] * 2 + [prep.valid_set.samples]]
rows = [t.read(i).numpy() for t, i in zip(tables, new) if len(i)]
np.save(out, np.concatenate(rows) if rows else np.zeros(0, np.float32))
print(json.dumps({"prepare": prepare, "pass": sum(spent), "computed": sum(t.computed for t in tables)}))
"""
PREFIX = "few-new-"


def run_child(src: Path, cache: Path, data: Path, out: Path) -> dict:
    """One new Python timing ``train.prepare`` of ``data`` with the objrec of ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src), "OBJREC_CACHE": str(cache)}
    command = [sys.executable, "-c", CHILD, str(data), str(out), PREFIX]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the run of {src} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def put_photos(photos: list[Path], folder: Path) -> None:
    """``photos`` in ``folder`` (copies, each a new file), the earlier round's removed."""
    for old in folder.glob(f"{PREFIX}*"):
        old.unlink()
    for photo in photos:
        shutil.copyfile(photo, folder / f"{PREFIX}{photo.name}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--photos", type=Path, required=True, help="a folder of new photos")
    parser.add_argument("--src", action="append", required=True, help="NAME=SRC, twice or more")
    parser.add_argument("--images", type=int, default=5, help="new photos a round")
    parser.add_argument("--repeats", type=int, default=5, help="measured rounds")
    parser.add_argument(
        "--first", type=int, default=0, help="photos of --photos to skip (ones the store holds)"
    )
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.src)
    cache = Path(os.environ["OBJREC_CACHE"])
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    photos = photos[args.first :]
    if len(photos) < args.images * (args.repeats + 1):
        sys.exit(f"{args.photos} has too few photos for {args.repeats + 1} rounds")
    with tempfile.TemporaryDirectory(prefix="few-new-") as tmp:
        root = Path(tmp)
        link_farm(args.data, root / "data")
        target = sorted((root / "data" / "train").iterdir())[0]
        for name, src in trees.items():
            compiled_objrec({**os.environ, "PYTHONPATH": src})
            shutil.copytree(cache, root / f"cache-{name}", symlinks=True)
        runs: dict[str, list[dict]] = {name: [] for name in trees}
        same = True
        for round_ in range(args.repeats + 1):
            put_photos(photos[round_ * args.images : (round_ + 1) * args.images], target)
            order = list(trees) if round_ % 2 else list(trees)[::-1]
            features = {}
            for name in order:
                out = root / f"{name}.npy"
                run = run_child(Path(trees[name]), root / f"cache-{name}", root / "data", out)
                features[name] = np.load(out)
                if round_:
                    runs[name].append(run)
                    print(f"round {round_}, {name}: {json.dumps(run)}", flush=True)
            first = next(iter(features.values()))
            same &= all(np.array_equal(first, f) for f in features.values())
        report(runs, same, args.images)


def report(runs: dict[str, list[dict]], same: bool, images: int) -> None:
    """Each tree's medians and their ratio to the first tree's."""
    base = next(iter(runs))
    for part in ("pass", "prepare"):
        first = statistics.median(r[part] for r in runs[base])
        for name, measured in runs.items():
            median = statistics.median(r[part] for r in measured)
            each = ", ".join(f"{r[part]:.2f}" for r in measured)
            paired = statistics.median(
                r[part] / b[part] for r, b in zip(measured, runs[base], strict=True)
            )
            print(
                f"{part:8s} {name:10s} median {median:.3f} s ({each}); / {base}: "
                f"{median / first:.3f}, median of the rounds' ratios {paired:.3f}"
            )
    computed = {r["computed"] for measured in runs.values() for r in measured}
    print(f"views computed a run: {sorted(computed)} ({images} new photos, two views each)")
    print(f"the new photos' features the same bit for bit in every tree: {same}")


if __name__ == "__main__":
    main()

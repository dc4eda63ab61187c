"""Where a cold audit takes its image facts: in a pass of their own after the frozen pass, or in
the frozen pass's loader as each image is decoded for the body (``frozen.Probe``, the default).

On a link farm of ``--classes`` classes of a split folder (every split), each arm computes the
centre features of every image into an empty feature store (the exported ONNX bodies are shared,
so no arm exports them) and then the image facts, as ``objrec audit`` does; arms alternate for
``--rounds`` rounds in one process. Prints each arm's seconds (features, facts, both) and checks
that both arms give the same facts and features.

    flock /tmp/objrec-cpu.lock python benchmarks/audit_facts.py --data /work/splits/s0
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _sampling import SPLIT, SPLIT_HELP

from objrec.audit import inventory as audit_inventory
from objrec.audit import recipe
from objrec.image_facts import ImageFacts
from objrec.progress import SILENT


def link_farm(data: Path, classes: int, work: Path) -> Path:
    """Links to ``classes`` class folders (the middle of the sorted list) of every split."""
    names = sorted(p.name for p in (data / "train").iterdir())
    start = max(0, len(names) // 2 - classes // 2)
    farm = work / "data"
    for split in ("train", "valid", "test"):
        if (data / split).is_dir():
            (farm / split).mkdir(parents=True)
            for name in names[start : start + classes]:
                (farm / split / name).symlink_to((data / split / name).resolve())
    return farm


def run_arm(inv, cache: Path, onnx: Path | None, in_loader: bool):
    """Features then facts from an empty store; (features s, facts s, features, facts)."""
    if onnx is not None:
        shutil.copytree(onnx, cache / "onnx")
    config = recipe.AuditConfig(cache_dir=str(cache))
    measured: dict[str, ImageFacts] | None = {} if in_loader else None
    started = time.perf_counter()
    features, _, _ = audit_inventory.audit_features(inv, config, None, SILENT, measured)
    middle = time.perf_counter()
    facts = audit_inventory.inventory_facts(inv, config, lambda: None, measured)
    done = time.perf_counter()
    return middle - started, done - middle, features, facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument(
        "--classes", type=int, default=20, help="classes of --data in the link farm"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the two arms, alternating")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="objrec-audit-facts-"))
    try:
        inv = audit_inventory.inventory(link_farm(args.data, args.classes, work))
        print(f"{len(inv.items)} images of {len(inv.classes)} classes", flush=True)
        run_arm(inv, work / "warm-up", None, True)  # exports the ONNX bodies once
        onnx = work / "warm-up" / "onnx"
        arms = {"facts in a pass of their own": False, "facts in the frozen pass": True}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
        results = {}
        for r in range(args.rounds):
            for name, in_loader in arms.items():
                f, h, features, facts = run_arm(inv, work / f"{r}-{in_loader}", onnx, in_loader)
                times[name].append((f, h))
                results[name] = (features, facts)
                print(f"round {r} {name:30s} features {f:6.1f} s  facts {h:5.1f} s", flush=True)
        (fa, ha), (fb, hb) = results.values()
        print(f"same facts: {ha == hb}; same features: {np.array_equal(fa, fb)}")
        for name, rows in times.items():
            total = statistics.median(f + h for f, h in rows)
            print(
                f"{name:30s} median features {statistics.median(f for f, _ in rows):6.1f} s  "
                f"facts {statistics.median(h for _, h in rows):5.1f} s  both {total:6.1f} s"
            )
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

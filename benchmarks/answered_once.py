"""Work evaluate and audit did two or three times over the same features, before and after.

``evaluate``: its answers for the test split's stored features (``answering.table_answers``: the
head and the familiarity score), timed in each source tree given (``--variant NAME=SRC``, each in
its own process, ``--repeats`` runs, median printed), with the test features read from the feature
store once per process beforehand (a run's, ``--run``, of ``--data``). Before, each batch ran the
head and the score three times (the answers, the plain view's probabilities, those before
calibration); after, once.

``audit``: the nearest-image work the label check and the outliers read (``audit.distances.Around``), timed
in this tree on the audit's own features of ``--data`` (from the store) as the audit before called
it (each image's nearest outside its group twice, its distance to its class three times, once on
the judged classes) and once through ``Around``, alternating; the answers are checked equal, bit
for bit.

    flock /tmp/objrec-cpu.lock python benchmarks/answered_once.py --run RUN \\
        --variant before=/tmp/before/src --variant after=src --repeats 3

``--whole`` also times the whole ``objrec evaluate RUN DATA`` of each variant, a new process each
time, the variants alternating (``--skip-audit`` leaves the audit's part out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _sampling import SPLIT, SPLIT_HELP

EVALUATE = """
import json, sys, time
import torch
from objrec.data import scan_class_folder
from objrec.answering import table_answers, view_tables
from objrec.inference import Recognizer
from objrec.config import EvaluateConfig
from objrec.progress import SILENT
torch.set_num_threads(2)
run, data, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
recognizer = Recognizer.load(run)
tables = view_tables(recognizer, scan_class_folder(data), "test", EvaluateConfig(), SILENT)
ok = torch.stack([t.ok for t in tables]).all(0)
times = []
for _ in range(repeats):
    started = time.perf_counter()
    answers, plain, uncalibrated = table_answers(recognizer, tables, ok)
    times.append(time.perf_counter() - started)
print(json.dumps({"times": times, "images": int(ok.sum()), "top": answers.probs.argmax(1).tolist()}))
"""


def evaluate_arm(src: str, run: Path, data: Path, repeats: int) -> dict:
    """One variant's timings of ``table_answers``, in its own process."""
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    command = [sys.executable, "-c", EVALUATE, str(run), str(data / "test"), str(repeats)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def whole_evaluate(variants: list[str], run: Path, data: Path, repeats: int) -> None:
    """``objrec evaluate RUN DATA`` as a user waits for it, each variant a new process in turn
    (alternating), ``repeats`` rounds, into a temporary folder; the medians side by side."""
    import tempfile

    times: dict[str, list[float]] = {v.split("=", 1)[0]: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="answered-once-") as scratch:
        for _ in range(repeats):
            for variant in variants:
                name, src = variant.split("=", 1)
                env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
                out = Path(scratch) / name
                command = [sys.executable, "-m", "objrec", "evaluate", str(run), str(data)]
                started = time.perf_counter()
                subprocess.run(
                    [*command, "--out", str(out), "--force"],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                times[name].append(time.perf_counter() - started)
    print(f"whole objrec evaluate, median of {repeats} (s):")
    base = statistics.median(next(iter(times.values())))
    for name, runs in times.items():
        median = statistics.median(runs)
        shown = ", ".join(f"{t:.1f}" for t in runs)
        print(f"  {name:8} {median:7.2f}  ({shown})  {median / base:.2f}x")


def audit_inputs(data: Path):
    """The audit's readable rows of ``data`` (``audit.outliers.audit_rows``) and those it
    judges: unit features, nearest images, labels, groups, the judged rows, k and features."""
    import numpy as np
    from audit_outliers import audit_rows

    from objrec.audit import recipe as A
    from objrec.audit import report as audit_report

    inv, _, labels, unit, near, group, features = audit_rows(data)
    distinct = np.unique(np.stack([labels, group]), axis=1)[0]
    counts = np.bincount(distinct, minlength=len(inv.classes))
    judged = np.flatnonzero(counts[labels] >= audit_report.MIN_JUDGED)
    return unit, near, labels, group, judged, A.AuditConfig().neighbours, features


def audit_before(unit, near, labels, group, judged, k, features):
    """The calls the audit made before: outside_groups twice, knn_distance three times."""
    from objrec import dedup
    from objrec.audit import copies as audit_copies
    from objrec.audit import distances as audit_distances

    outside = audit_copies.outside_groups(unit, near, group)
    audit_copies.outside_groups(unit, near, group)
    within = audit_distances.knn_distance(unit, labels, k, group)
    audit_distances.knn_distance(unit, labels, k, group)
    sub = audit_distances.knn_distance(
        dedup.normalise(features[judged]), labels[judged], k, group[judged]
    )
    return outside, within, sub


def audit_after(unit, near, labels, group, judged, k, features):
    """The same answers through ``audit.distances.Around``, each computed once."""
    from objrec.audit import distances as audit_distances

    around = audit_distances.Around(unit, near, labels, group, k)
    return around.outside, around.within, around.within[judged]


def audit_section(data: Path, repeats: int) -> None:
    import numpy as np

    inputs = audit_inputs(data)
    times: dict[str, list[float]] = {"before": [], "after": []}
    answers = {}
    for _ in range(repeats):
        for name, arm in (("before", audit_before), ("after", audit_after)):
            started = time.perf_counter()
            answers[name] = arm(*inputs)
            times[name].append(time.perf_counter() - started)
    (o1, w1, s1), (o2, w2, s2) = answers["before"], answers["after"]
    same = (
        np.array_equal(o1.sims, o2.sims)
        and np.array_equal(o1.idx, o2.idx)
        and np.array_equal(w1, w2)
        and np.array_equal(s1, s2)
    )
    print(f"\naudit's nearest images, {len(inputs[0])} images, median of {repeats} (s):")
    first = statistics.median(times["before"])
    for name, runs in times.items():
        median = statistics.median(runs)
        shown = ", ".join(f"{t:.2f}" for t in runs)
        print(f"  {name:8} {median:7.2f}  ({shown})  {median / first:.2f}x")
    print(f"  the same answers, bit for bit: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a run folder of --data")
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=SRC",
        help="a source tree of objrec whose evaluate answers are timed (SRC: its src folder)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each arm")
    parser.add_argument("--skip-audit", action="store_true", help="time evaluate's answers only")
    parser.add_argument(
        "--whole", action="store_true", help="time the whole objrec evaluate of each variant too"
    )
    args = parser.parse_args()
    results = {}
    for variant in args.variant:
        name, src = variant.split("=", 1)
        results[name] = evaluate_arm(src, args.run, args.data, args.repeats)
    if results:
        first = next(iter(results.values()))
        images = first["images"]
        print(f"evaluate's answers, {images} test images, median of {args.repeats} (s):")
        base = statistics.median(first["times"])
        for name, result in results.items():
            median = statistics.median(result["times"])
            shown = ", ".join(f"{t:.2f}" for t in result["times"])
            same = result["top"] == first["top"]
            print(f"  {name:8} {median:7.2f}  ({shown})  {median / base:.2f}x  same top-1: {same}")
    if args.whole and args.variant:
        whole_evaluate(args.variant, args.run, args.data, args.repeats)
    if not args.skip_audit:
        audit_section(args.data, args.repeats)


if __name__ == "__main__":
    main()

"""``objrec export``'s time with its check on real photos: 150 photos as before against the
default now (``export.CHECK_PHOTOS``), side by side, on the same run folders.

    python benchmarks/export_check.py RUN [RUN ...] [--repeats 3]

For each run and repeat, both arms in turn (the order alternating): the whole of ``export_model``
but the arm's photos, each writing its own file in a temporary folder. "before" checks on the
photos the export chose before (the built-in sample's 120, then 30 of the run's test split spread
evenly over its sorted files), "now" on ``check_photos`` (the default, spread over the classes).
Prints each arm's median wall time of the export and of its check alone, their ratio, and what
the check found, per engine (``answers_checked``'s figures: photos, largest |difference| of a
probability, top classes changed, largest difference of the unknown score, unknown answers
changed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import objrec.export.exporter as export
from objrec.checkpoint import load_model
from objrec.listing import list_images
from objrec.quantize import calibration_set


def before_photos(data_dir: str | None) -> list[Path]:
    """The 150 photos the export checked before this change: the sample's 120, 30 of the data."""
    found = list_images(Path(data_dir) / "test", others=[]) if data_dir else []
    step = max(len(found) / 30, 1.0)
    data = [found[int(i * step)] for i in range(min(30, len(found)))]
    return [s.path for s in calibration_set()] + data


def timed_export(run: Path, out: Path, photos: list[Path]) -> tuple[float, float, list]:
    """The export's wall time with ``photos`` as its check's, the check's alone, and its answers."""
    agreement, spent = export.photo_agreement, [0.0]

    def counted(*args, **kwargs):
        start = time.perf_counter()
        found = agreement(*args, **kwargs)
        spent[0] += time.perf_counter() - start
        return found

    export.photo_agreement, chosen = counted, export.check_photos
    export.check_photos = lambda meta, n=0: photos  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        result = export.export_model(run, out)
        return time.perf_counter() - start, spent[0], list(result.answers_checked.values())
    finally:
        export.photo_agreement, export.check_photos = agreement, chosen


def found_text(answers: list[export.Agreement]) -> str:
    """What the check found, one engine after the other, as the sidecar's ``answers_checked``."""
    return "; ".join(
        f"{a.runtime} {a.photos} photos max |dp| {a.max_prob_diff:.2g} "
        f"top-1 changed {a.top_class_changed} max score diff {a.max_score_diff:.2g} "
        f"unknown changed {a.unknown_changed}"
        for a in answers
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (objrec train --out)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="exports of each run per arm, arms alternating"
    )
    args = parser.parse_args()
    print(f"load average at the start {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        for run in args.runs:
            meta = load_model(run)[1]
            arms = {"before": before_photos(meta.data_dir), "now": export.check_photos(meta)}
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in arms}
            found = {}
            for repeat in range(args.repeats):
                order = list(arms) if repeat % 2 == 0 else list(arms)[::-1]
                for name in order:
                    out = Path(folder) / f"{run.name}-{name}-{repeat}" / "model.onnx"
                    wall, check, found[name] = timed_export(run, out, arms[name])
                    times[name].append((wall, check))
            for name in arms:
                wall = statistics.median(t[0] for t in times[name])
                check = statistics.median(t[1] for t in times[name])
                print(
                    f"{run.name:12s} {name:6s} export {wall:6.1f} s, check {check:6.1f} s: "
                    + found_text(found[name])
                )
            ratio = statistics.median(t[0] for t in times["before"]) / statistics.median(
                t[0] for t in times["now"]
            )
            print(f"{run.name:12s} export before / now: {ratio:.1f} times", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

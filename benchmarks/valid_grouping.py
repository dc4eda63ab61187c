"""What ``evaluate --unknown`` spent grouping the run's validation images when no stricter
threshold needs their distinct photos (``open_set.valid_images``, review41): their near-duplicate
groups, from the split folder's manifest where it records them, else worked out here (a split
made before the manifest recorded groups, images added by hand), which now happens only when
a stricter threshold is offered.

    flock /tmp/objrec-cpu.lock python benchmarks/valid_grouping.py --data /work/splits/s0
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from unittest import mock

from _sampling import SPLIT, SPLIT_HELP, timed

from objrec.data import scan_class_folder
from objrec.distinct import near_duplicate_groups
from objrec.manifest import sha256_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SPLIT, help=SPLIT_HELP)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each")
    args = parser.parse_args()
    samples = scan_class_folder(args.data / "valid").samples
    paths = [s.path for s in samples]
    digests = [sha256_file(p) for p in paths]  # evaluate has them from the feature store
    named = [Path(p).parent.name for p in paths]

    def grouped() -> None:
        near_duplicate_groups(paths, digests, None, named)  # the default cache

    recorded = statistics.median(timed(grouped) for _ in range(args.repeats))
    with mock.patch("objrec.manifest.recorded_groups", lambda p, d: [None] * len(p)):
        here = statistics.median(timed(grouped) for _ in range(args.repeats))
        with tempfile.TemporaryDirectory() as empty:  # no image facts kept: measured now, once
            first = timed(lambda: near_duplicate_groups(paths, digests, empty, named))
    print(f"{len(paths):,} validation images of {args.data}, median of {args.repeats}:")
    print(f"  groups the manifest records: {recorded:.3f} s")
    print(f"  groups worked out here (no manifest groups): {here:.3f} s")
    print(f"  groups worked out here, the images' facts measured too (one run): {first:.3f} s")
    print("  now: 0 s for each when no stricter threshold is offered")


if __name__ == "__main__":
    main()

"""Reading a split's stored rows where pillow-heif is not registered, as a warm retrain reads them.

The file index gives each image's digest (none hashed: the store has seen the files), then each of
the two views of the store's largest space is looked up and made a table (``features.make_table``,
which leaves out the HEIC photos pillow-heif cannot decode now, and images over today's pixel
limit by the pixels the store kept with each row). Each variant is a source tree (``NAME=SRC``, put
first on PYTHONPATH; without ``--variant``, the objrec this Python imports), run in a process of
its own that reads the store 6 times and gives the median of the last 5 (a first read is not
counted: it keeps the kinds a store from before 5 December lacks), the whole read and
make_table's part. Each round runs every variant in turn on the same copy of a store (a read
marks rows used). Printed: each variant's line per round, then the medians over ``--repeats``
rounds side by side, each with its ratio to the first variant's:

    cp -a ~/.cache/objrec/store /tmp/store-copy
    flock /tmp/objrec-cpu.lock python benchmarks/store_read.py /tmp/store-copy /work/splits/s0 \\
        --variant before=/tmp/before/src --variant after=src --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _medians import median_table


def largest_space(root: Path) -> tuple[str, list[str]]:
    """The space with the most entries, and its two views with the most."""
    db = sqlite3.connect(root / "index.sqlite")
    rows = db.execute(
        "SELECT space, view, COUNT(*) FROM entries GROUP BY space, view ORDER BY 3 DESC"
    ).fetchall()
    sid = rows[0][0]
    return sid, [view for space, view, _ in rows if space == sid][:2]


def read_medians(root: Path, folder: Path) -> dict:
    """This process's objrec reading the store 6 times: the medians of the last 5, of the whole
    read and of make_table's part, with the images, views and files hashed."""
    from objrec.data import Sample
    from objrec.features import make_table
    from objrec.images import image_formats
    from objrec.listing import list_images
    from objrec.store import FeatureStore

    assert "HEIF" not in image_formats()
    samples = [Sample(path, 0) for path in list_images(folder)]
    sid, views = largest_space(root)
    store = FeatureStore(root)
    space = store.space(sid, store.space_dim(sid) or 0, "float32")
    whole, tables = [], []
    for _ in range(6):
        started, spent = time.perf_counter(), 0.0
        digests, hashing = store.digests([s.path for s in samples])
        for view in views:
            found = store.lookup(sid, view, digests)
            made = time.perf_counter()
            make_table(space, samples, found, digests, hashing)
            spent += time.perf_counter() - made
        whole.append(time.perf_counter() - started)
        tables.append(spent)
    return {
        "images": len(samples),
        "views": len(views),
        "hashed": hashing.hashed,
        "read": statistics.median(whole[1:]),
        "make_table": statistics.median(tables[1:]),
    }


def one_variant(src: str, root: Path, folder: Path) -> dict:
    """``read_medians`` in a new process importing objrec from ``src`` (empty: as this one does)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    done = subprocess.run(
        [sys.executable, __file__, str(root), str(folder), "--one"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(args: argparse.Namespace) -> None:
    """Every variant in turn, ``--repeats`` rounds; then the medians and ratios of the variants."""
    variants = dict(v.split("=", 1) for v in args.variant) if args.variant else {"this": ""}
    reads: dict[str, list[float]] = {}
    tables: dict[str, list[float]] = {}
    for number in range(args.repeats):
        for name, src in variants.items():
            r = one_variant(src, args.store, args.split)
            reads.setdefault(name, []).append(r["read"])
            tables.setdefault(name, []).append(r["make_table"])
            print(
                f"round {number + 1} {name}: {r['images']:,} images, {r['views']} views: read "
                f"{r['read']:.4f} s, make_table {r['make_table']:.4f} s (medians of 5; hashed "
                f"{r['hashed']})",
                flush=True,
            )
    print(f"\nthe whole read, medians of {args.repeats} rounds:")
    print("\n".join(median_table(reads, "s", digits=4)))
    print(f"\nmake_table's part, medians of {args.repeats} rounds:")
    print("\n".join(median_table(tables, "s", digits=4)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("store", type=Path, help="a copy of a feature store (a read marks rows)")
    parser.add_argument("split", type=Path, help="a folder of class folders whose rows it holds")
    parser.add_argument(
        "--variant",
        action="append",
        metavar="NAME=SRC",
        help="a source tree of objrec to time (SRC: its src folder, put first on PYTHONPATH), "
        "named NAME; one --variant per tree, the first the reference [default: the objrec this "
        "Python imports]",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of every variant (medians are printed)"
    )
    parser.add_argument("--one", action="store_true", help="(internal) one variant's reads")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(read_medians(args.store, args.split)))
    else:
        main(args)

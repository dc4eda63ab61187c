"""Reading a split's stored rows where pillow-heif is not registered, as a warm retrain reads them.

The file index gives each image's digest (none hashed: the store has seen the files), then each of
the two views of the store's largest space is looked up and made a table (``features.make_table``,
which leaves out the HEIC photos pillow-heif cannot decode now, and images over today's pixel
limit by the pixels the store kept with each row). Prints the median of 5 reads (a
first read is not counted: it keeps the kinds a store from before 5 December lacks), the whole
read and make_table's part. Run each source tree on a copy of a store (a read marks rows used):

    cp -a ~/.cache/objrec/store /tmp/store-copy
    flock /tmp/objrec-cpu.lock env PYTHONPATH=SRC python benchmarks/store_read.py \\
        /tmp/store-copy /work/splits/s0
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from pathlib import Path

from objrec.data import Sample
from objrec.features import make_table
from objrec.images import image_formats, list_images
from objrec.store import FeatureStore


def largest_space(root: Path) -> tuple[str, list[str]]:
    """The space with the most entries, and its two views with the most."""
    db = sqlite3.connect(root / "index.sqlite")
    rows = db.execute(
        "SELECT space, view, COUNT(*) FROM entries GROUP BY space, view ORDER BY 3 DESC"
    ).fetchall()
    sid = rows[0][0]
    return sid, [view for space, view, _ in rows if space == sid][:2]


def main(root: Path, folder: Path) -> None:
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
    print(
        f"{len(samples):,} images, {len(views)} views: read {statistics.median(whole[1:]):.4f} s, "
        f"make_table {statistics.median(tables[1:]):.4f} s (medians of 5; hashed {hashing.hashed})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("store", type=Path, help="a copy of a feature store (a read marks rows)")
    parser.add_argument("split", type=Path, help="a folder of class folders whose rows it holds")
    args = parser.parse_args()
    main(args.store, args.split)

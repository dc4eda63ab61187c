"""A cold frozen pass into the feature store: its rows synced and indexed once a batch, as before
review46's finding 5, against once a second (``store.SYNC_SECONDS``), side by side in one run.

    flock /tmp/objrec-cpu.lock python benchmarks/store_sync.py [FOLDER] [--images 800]
        [--repeats 3] [--writes 484]

The default body as ``train`` builds it (``--precision auto``, float16 rows), the centre view of
the first ``--images`` images of FOLDER (default /work/splits/s0/train) in path order, through
``features.feature_table`` into a store made anew for each pass (the graphs objrec compiles are
kept: a first pass, not timed, makes them). Each repeat times both variants, alternating which
goes first; prints each pass, the medians, their ratio and the ``fsync`` calls each made. Then
the store's part alone, which the pass's noise hides: ``--writes`` batches of 16 rows of the
body's width written into a new store (484: a cold pass of /work/splits/s0), both ways, medians
of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import objrec.store as store_module
from objrec.audit.inventory import frozen_body
from objrec.audit.recipe import AuditConfig
from objrec.data import Sample
from objrec.features import feature_table
from objrec.frozen import FrozenBody, PassSettings
from objrec.listing import list_images
from objrec.views import ViewSpec

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

EACH_BATCH = 0.0
"""``SYNC_SECONDS`` that syncs and indexes each batch as it is written: the store before."""


def one_pass(body: FrozenBody, samples: list[Sample], spec: ViewSpec, every: float):
    """Seconds of a cold pass of ``samples`` with rows synced every ``every`` seconds, and how
    many ``fsync`` calls the store made."""
    body.cache.close()
    shutil.rmtree(body.cache.root / "store", ignore_errors=True)
    synced, real = [0], os.fsync

    def fsync(fd: FileDescriptorLike) -> None:
        synced[0] += 1
        real(fd)

    store_module.SYNC_SECONDS, store_module.os.fsync = every, fsync
    try:
        started = time.perf_counter()
        table = feature_table(body, samples, spec, PassSettings())
        seconds = time.perf_counter() - started
    finally:
        store_module.os.fsync = real
    assert table.computed == len(samples), table.computed
    return seconds, synced[0]


def batch_writes(dim: int, batches: int, every: float) -> float:
    """Seconds to write ``batches`` batches of 16 rows of ``dim`` float16 values, as a pass does."""
    rows = np.random.default_rng(0).standard_normal((16, dim)).astype(np.float16)
    store_module.SYNC_SECONDS = every
    with tempfile.TemporaryDirectory() as folder, store_module.FeatureStore(Path(folder)) as store:
        space = store.space("s", dim, "float16")
        started = time.perf_counter()
        with space.syncing_seldom():
            for b in range(batches):
                space.write("centre", [f"{b}-{i}" for i in range(16)], rows)
        return time.perf_counter() - started


def report(what: str, times: dict[float, list[float]], default: float) -> None:
    """The medians of each variant's ``times`` and their ratio."""
    before, after = (statistics.median(times[k]) for k in (EACH_BATCH, default))
    print(
        f"{what}, medians of {len(times[default])}: each batch {before:.2f} s, "
        f"every {default:g} s {after:.2f} s, ratio {after / before:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folder",
        nargs="?",
        default="/work/splits/s0/train",
        type=Path,
        help="the images of the pass (default: /work/splits/s0/train)",
    )
    parser.add_argument("--images", type=int, default=800, help="how many, in path order")
    parser.add_argument("--repeats", type=int, default=3, help="passes of each variant")
    parser.add_argument(
        "--writes", type=int, default=484, help="batches of 16 rows the store's part writes"
    )
    args = parser.parse_args()
    samples = [Sample(p, 0) for p in list_images(args.folder)[: args.images]]
    default = store_module.SYNC_SECONDS
    with tempfile.TemporaryDirectory() as cache:
        body, data = frozen_body(AuditConfig(cache_dir=cache), None)
        spec = ViewSpec(data)
        one_pass(body, samples, spec, default)  # the graphs compiled, the files in the page cache
        times: dict[float, list[float]] = {EACH_BATCH: [], default: []}
        for repeat in range(args.repeats):
            order = [EACH_BATCH, default] if repeat % 2 == 0 else [default, EACH_BATCH]
            for every in order:
                seconds, synced = one_pass(body, samples, spec, every)
                times[every].append(seconds)
                name = "each batch" if every == EACH_BATCH else f"every {every:g} s"
                print(f"repeat {repeat + 1}, synced {name}: {seconds:.2f} s, {synced} fsync calls")
        report(f"a cold pass of {len(samples)} images", times, default)
        writes: dict[float, list[float]] = {EACH_BATCH: [], default: []}
        for _ in range(args.repeats):
            for every in writes:
                writes[every].append(batch_writes(body.n_features, args.writes, every))
        report(f"the store's part alone, {args.writes} batch writes", writes, default)


if __name__ == "__main__":
    main()

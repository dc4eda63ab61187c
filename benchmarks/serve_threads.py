"""``serve``'s answering threads: the first answer on each thread, after ``serve.model.warm_up``
answered one photo on one of them, as ``create_app`` does.

    PYTHONPATH=src flock /tmp/objrec-cpu.lock python benchmarks/serve_threads.py RUN PHOTOS \\
        [--repeats 3]

Each repeat is a new process: the model loaded as ``serve`` loads it, warmed on one thread of a
pool of ``serve.predict.ANSWERING_AT_ONCE``, then one job per thread (held on its own thread by a
barrier) answers two photos of the folder PHOTOS, one thread at a time (not sharing the cores), then
a second round the same way. Prints the medians: the first answer on the warmed thread and on the
others, the answers after them, and the resident memory after the warm-up and after every thread
answered (VmRSS, Linux).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def one_server(run: Path, photos: Path) -> dict:
    """The figures of one process, as JSON-able data."""
    from objrec.images import open_image
    from objrec.serve.model import load_recognizer, runs_and_why, warm_up
    from objrec.serve.predict import ANSWERING_AT_ONCE

    recognizer = load_recognizer(run, None, "auto", None, True)
    pool = ThreadPoolExecutor(ANSWERING_AT_ONCE, thread_name_prefix="objrec-answer")
    warm_up(recognizer, pool)
    warmed = rss_mib()
    paths = sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    images = [open_image(p, draft_size=recognizer.draft) for p in paths[: 4 * ANSWERING_AT_ONCE]]
    barrier, one_at_a_time = threading.Barrier(ANSWERING_AT_ONCE), threading.Lock()

    def job(first: int) -> tuple[str, list[float]]:
        barrier.wait()  # every job on a thread of its own: the pool makes them all
        times = []
        with one_at_a_time:
            for image in images[first : first + 2]:
                start = time.perf_counter()
                recognizer.answer([image])
                times.append(time.perf_counter() - start)
        return threading.current_thread().name, times

    rounds = []
    for r in range(2):
        jobs = [pool.submit(job, 2 * (r * ANSWERING_AT_ONCE + i)) for i in range(ANSWERING_AT_ONCE)]
        rounds.append(dict(sorted(j.result() for j in jobs)))
    first = rounds[0]
    return {
        "runs": runs_and_why(recognizer, None)[0],
        "warmed_first": first["objrec-answer_0"][0],
        "others_first": [t[0] for name, t in first.items() if name != "objrec-answer_0"],
        "next": [t[1] for t in first.values()] + [s for t in rounds[1].values() for s in t],
        "rss_warmed": warmed,
        "rss_all": rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder, loaded as serve loads it")
    parser.add_argument("photos", type=Path, help="a folder of at least 16 photos to answer")
    parser.add_argument("--repeats", type=int, default=3, help="processes, each a new server")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_server(args.run, args.photos)))
        return
    command = [sys.executable, __file__, str(args.run), str(args.photos), "--child"]
    servers = []
    for _ in range(args.repeats):
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        servers.append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = statistics.median
    warmed = median(s["warmed_first"] for s in servers)
    others = median(t for s in servers for t in s["others_first"])
    after = median(t for s in servers for t in s["next"])
    print(f"runs: {servers[0]['runs']}; {args.repeats} processes, medians")
    print("| first answer, warmed thread (s) | first answer, other threads (s) | next (s) |")
    print("| ---: | ---: | ---: |")
    print(f"| {warmed:.3f} | {others:.3f} ({others / after:.2f}x next) | {after:.3f} |")
    one, every = median(s["rss_warmed"] for s in servers), median(s["rss_all"] for s in servers)
    print(f"resident memory: {one:.0f} MiB after the warm-up, {every:.0f} MiB after every thread")


if __name__ == "__main__":
    main()

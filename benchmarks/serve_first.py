"""``objrec serve RUN``'s first answers: how long the first and second ``POST /predict`` of one photo
take once ``/health`` answers, per source tree of objrec, each server a new process.

    python benchmarks/serve_first.py RUN IMAGE --variant before=/tmp/before/src --variant after=src \\
        [--fresh-cache after-cold --variant after-cold=src] [--repeats 3]

Variants run in turn, ``--repeats`` rounds, after an untimed warm-up server of each (so that
whatever objrec caches, an ONNX export or OpenVINO's compiled graphs, is there); a variant named by
``--fresh-cache`` gets a new empty ``OBJREC_CACHE`` each time. Prints the medians: seconds until
``/health`` answered, the first request, the second, their ratio, the server's resident memory
after them (VmRSS, Linux), and what ran the model (``/info``'s ``runs``, where the variant's objrec
says it).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import httpx2 as httpx  # the test extra's (starlette's TestClient wants it)
except ModuleNotFoundError:  # an environment installed before the extra named httpx2
    import httpx  # type: ignore[no-redef]  # mypy's limit: one name for either module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(url: str, server: subprocess.Popen, limit: float = 300.0) -> None:
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("the server did not answer /health in time")


def post(url: str, image: Path) -> float:
    started = time.perf_counter()
    files = {"file": (image.name, image.read_bytes(), "image/jpeg")}
    response = httpx.post(url + "/predict", files=files, timeout=300.0)
    response.raise_for_status()
    return time.perf_counter() - started


def runs(url: str) -> str:
    """What ``/info`` says runs the model (``runs``; ``?`` from an objrec that does not say)."""
    return str(httpx.get(url + "/info", timeout=10.0).json().get("runs", "?"))


def resident_mb(pid: int) -> float:
    """The process's resident memory (VmRSS) in MB; NaN where /proc does not say (not Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    kib = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")), "nan")
    return float(kib) * 1024 / 1e6


Served = tuple[float, float, float, str, float]
"""(seconds until /health answered, first request, second request, /info's runs, resident MB)."""


def serve_once(src: str, run: Path, image: Path, fresh: bool) -> Served:
    """:data:`Served` of one new server."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    with tempfile.TemporaryDirectory(prefix="serve-first-") as empty:
        if fresh:
            env["OBJREC_CACHE"] = empty
        command = [sys.executable, "-m", "objrec", "serve", str(run), "--port", str(port)]
        started = time.perf_counter()
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_health(url, server)
            up = time.perf_counter() - started
            first, second = post(url, image), post(url, image)
            return up, first, second, runs(url), resident_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder (objrec train's --out)")
    parser.add_argument("image", type=Path, help="the photo posted")
    parser.add_argument(
        "--variant",
        action="append",
        required=True,
        metavar="NAME=SRC",
        help="a source tree of objrec to serve (SRC: its src folder, put first on PYTHONPATH), "
        "named NAME in the table; give one --variant per arm",
    )
    parser.add_argument(
        "--fresh-cache",
        action="append",
        default=[],
        metavar="NAME",
        help="serve the variant NAME with a new empty OBJREC_CACHE each time (nothing cached)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="servers per variant (the medians are printed)"
    )
    args = parser.parse_args()
    variants = dict(spec.split("=", 1) for spec in args.variant)
    fresh = set(args.fresh_cache)
    for name, src in variants.items():
        serve_once(src, args.run, args.image, name in fresh)  # warm-up
    times: dict[str, list[Served]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, src in variants.items():
            times[name].append(serve_once(src, args.run, args.image, name in fresh))
    print(f"medians of {args.repeats} servers per variant (each first request in brackets)")
    print(
        "| variant | up (s) | first request (s) | second request (s) | first / second | RSS (MB) | runs |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, values in times.items():
        up = statistics.median(v[0] for v in values)
        first = statistics.median(v[1] for v in values)
        second = statistics.median(v[2] for v in values)
        firsts = ", ".join(f"{v[1]:.2f}" for v in values)
        ratio = statistics.median(v[1] / v[2] for v in values)
        rss = statistics.median(v[4] for v in values)
        print(
            f"| {name} | {up:.2f} | {first:.2f} ({firsts}) | {second:.3f} | {ratio:.1f} "
            f"| {rss:.0f} | {values[-1][3]} |"
        )


if __name__ == "__main__":
    main()

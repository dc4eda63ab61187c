"""Resident memory of ``objrec serve`` answering very large images: at rest, at its peak, and after.

    flock /tmp/objrec-cpu.lock python benchmarks/serve_memory.py RUN [--side 9400] [--burst 4] \\
        [--repeats 3] [-- SERVE OPTIONS, e.g. --runtime torch --max-pixels 40000000]

Each round starts a new server (``objrec serve RUN`` on a free loopback port, as a user runs it;
a process's peak only grows, so a round needs its own), waits until ``/health`` answers, then
reads ``/proc/PID/status``: at rest (``VmRSS``, and ``VmHWM``, the start's peak), after one
``--side`` x ``--side`` PNG was answered (``VmHWM``, the peak so far, and ``VmRSS``), and after
``--burst`` of them sent at once (the same two), then stops it with SIGTERM. The default side,
9,400 pixels (88.4 million), is just under the default pixel limit. Printed: each round's figures
as it ends, then the medians over the rounds side by side, each with its ratio to the memory at
rest, and the medians of each figure's excess over the rest (the figures docs/commands.md's
"Limits and memory" quotes).
"""

from __future__ import annotations

import argparse
import io
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _medians import median_table
from PIL import Image

try:
    import httpx2 as httpx  # the test extra's (starlette's TestClient wants it)
except ModuleNotFoundError:  # an environment installed before the extra named httpx2
    import httpx  # type: ignore[no-redef]  # mypy's limit: one name for either module

STEPS = (
    "at rest",
    "the start's peak",
    "1 image: peak",
    "1 image: after",
    "burst: peak",
    "burst: after",
)


def large_png(side: int) -> bytes:
    """A ``side`` x ``side`` RGB PNG, small on the wire (a gradient band compresses well)."""
    image = Image.new("RGB", (side, side), (90, 140, 60))
    image.paste((200, 60, 40), (0, 0, side, side // 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def memory_mib(pid: int) -> tuple[float, float]:
    """``VmRSS`` and ``VmHWM`` of process ``pid``, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_up(url: str, server: subprocess.Popen, seconds: float = 300) -> None:
    """Until ``url``'s ``/health`` answers; a server that ended first stops the script."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"objrec serve ended with status {server.returncode} before it was up")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"objrec serve did not answer {url}/health within {seconds:.0f} s")


def post(url: str, image: bytes) -> int:
    """One upload to ``/predict``: its status code."""
    files = {"file": ("large.png", image, "image/png")}
    return httpx.post(url + "/predict", files=files, timeout=600).status_code


def one_round(run: Path, extra: list[str], image: bytes, burst: int) -> list[float]:
    """A new server: its memory at each of ``STEPS``, in MiB."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "objrec", "serve", str(run), "--port", str(port), *extra]
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_up(url, server)
            figures = list(memory_mib(server.pid))
            codes = [post(url, image)]
            figures += reversed(memory_mib(server.pid))
            with ThreadPoolExecutor(burst) as pool:
                codes += pool.map(lambda _: post(url, image), range(burst))
            figures += reversed(memory_mib(server.pid))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
    if set(codes) != {200}:
        raise SystemExit(f"/predict answered {codes}: not every large image was answered")
    return figures


def split_at_dashes(argv: list[str]) -> tuple[list[str], list[str]]:
    """The script's own arguments, and those after ``--`` (objrec serve's options): argparse
    would give a positional RUN those too."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="the run served")
    parser.add_argument("--side", type=int, default=9400, help="the square PNG's side, pixels")
    parser.add_argument("--burst", type=int, default=4, help="large images sent at once")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds, a new server each (medians are printed)"
    )
    argv, extra = split_at_dashes(sys.argv[1:])
    args = parser.parse_args(argv)
    args.extra = extra
    image = large_png(args.side)
    print(
        f"objrec serve {args.run} {' '.join(args.extra)}: {args.side}x{args.side} PNG "
        f"({len(image) / 1024:.0f} KiB), 1 then {args.burst} at once; MiB"
    )
    runs: dict[str, list[float]] = {step: [] for step in STEPS}
    for number in range(args.repeats):
        figures = one_round(args.run, args.extra, image, args.burst)
        for step, mib in zip(STEPS, figures, strict=True):
            runs[step].append(mib)
        words = ", ".join(f"{s} {m:,.0f}" for s, m in zip(STEPS, figures, strict=True))
        print(f"round {number + 1}: {words}", flush=True)
    print(f"\nresident memory, medians of {args.repeats} rounds (servers):")
    print("\n".join(median_table(runs, "MiB", digits=0)))
    print("\nabove the rest, medians of each round's difference:")
    for step in STEPS[1:]:
        added = statistics.median(m - r for m, r in zip(runs[step], runs[STEPS[0]], strict=True))
        print(f"{step:16s} +{added:,.0f} MiB")


if __name__ == "__main__":
    main()

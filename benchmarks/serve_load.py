"""Load on running ``objrec serve`` servers: N concurrent clients on loopback, bounded in count and
time, each arm (a server and a client count) in turn, in repeated rounds, side by side in one run.

    objrec serve RUN --port 8000 &
    python benchmarks/serve_load.py [--url http://127.0.0.1:8000 ...] [--clients 50 ...]
        [--requests 500] [--max-seconds 120] [--repeats 3] [--image photo.jpg]

An arm is one ``--url`` with one ``--clients`` count; each round runs every arm in turn (so that
the arms of a round meet nearly the same load on a shared machine). In an arm each client posts
the image to ``/predict`` in a loop until ``--requests`` have been sent in all or
``--max-seconds`` have passed. Prints each arm's throughput, error count and p50/p95/p99 latency
as it ends, then the medians over the rounds of throughput and p50 latency, each beside its ratio
to the first arm's. Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import ipaddress
import statistics
import time
from pathlib import Path
from urllib.parse import urlparse

from _medians import median_table
from PIL import Image

try:
    import httpx2 as httpx  # the test extra's (starlette's TestClient wants it)
except ModuleNotFoundError:  # an environment installed before the extra named httpx2
    import httpx  # type: ignore[no-redef]  # mypy's limit: one name for either module


def loopback_only(url: str) -> str:
    host = urlparse(url).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"{url}: only loopback addresses are load-tested")
    return url.rstrip("/")


def default_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 80, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


async def client(http, url, image, budget, deadline, latencies, errors):
    while time.perf_counter() < deadline:
        if budget["left"] <= 0:
            return
        budget["left"] -= 1
        start = time.perf_counter()
        try:
            response = await http.post(
                url + "/predict", files={"file": ("x.jpg", image, "image/jpeg")}
            )
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append(time.perf_counter() - start)
        if not ok:
            errors.append(1)


async def run(
    url: str, clients: int, requests: int, max_seconds: float, image: bytes
) -> tuple[float, float]:
    """One arm: its line printed; returns its requests a second and p50 latency in ms."""
    latencies: list[float] = []
    errors: list[int] = []
    budget = {"left": requests}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        (await http.get(url + "/health")).raise_for_status()
        start = time.perf_counter()
        deadline = start + max_seconds
        await asyncio.gather(
            *(client(http, url, image, budget, deadline, latencies, errors) for _ in range(clients))
        )
        wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{url}: {len(latencies)} requests from {clients} concurrent clients in {wall:.1f}s: "
        f"{len(latencies) / wall:.1f} requests/s, {len(errors)} errors; "
        f"latency p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms",
        flush=True,
    )
    return len(latencies) / wall, q[49] * 1000


def rounds(args: argparse.Namespace, image: bytes) -> None:
    """Every arm in turn, ``--repeats`` times; then the medians and ratios of the arms."""
    urls = [loopback_only(url) for url in args.url]
    arms = [(url, clients) for url in urls for clients in args.clients]
    rates: dict[str, list[float]] = {}
    p50s: dict[str, list[float]] = {}
    for number in range(args.repeats):
        print(f"round {number + 1} of {args.repeats}", flush=True)
        for url, clients in arms:
            name = f"{url} x{clients}" if len(urls) > 1 else f"{clients} clients"
            rate, p50 = asyncio.run(run(url, clients, args.requests, args.max_seconds, image))
            rates.setdefault(name, []).append(rate)
            p50s.setdefault(name, []).append(p50)
    print(f"\nthroughput, medians of {args.repeats} rounds:")
    print("\n".join(median_table(rates, "requests/s", digits=1)))
    print(f"\nlatency p50, medians of {args.repeats} rounds:")
    print("\n".join(median_table(p50s, "ms", digits=0)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--url",
        nargs="+",
        default=["http://127.0.0.1:8000"],
        help="the running objrec serve, or several compared (the first the baseline)",
    )
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[50],
        help="concurrent clients, or several counts compared (the first the baseline)",
    )
    parser.add_argument("--requests", type=int, default=500, help="requests in all")
    parser.add_argument(
        "--max-seconds", type=float, default=120, help="stop after this many seconds"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of every arm (medians are printed)"
    )
    parser.add_argument(
        "--image", type=Path, help="the image posted [default: a small generated one]"
    )
    args = parser.parse_args()
    image = args.image.read_bytes() if args.image else default_image()
    rounds(args, image)


if __name__ == "__main__":
    main()

"""`make bench`: the HTTP benchmark (docs/performance.md).

Starts `engine serve` on a free loopback port over a fresh store, then drives it from a
separate load-generator process (asyncio on raw keep-alive connections, so the client costs as
little as it can): first single-event requests, then batches of 500 events, each event a
distinct generated Customer.io webhook. Every request must answer 200; the daemon answers only
once the events are durable (fsync'd group commits). Prints requests/s, events/s, p50 and p99.

    .venv/bin/python bench/http.py [--requests 40000] [--batches 400] [--connections 32]

Exit status: 0, or 1 when a request fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import orjson
from webhooks import webhooks

ROOT = Path(__file__).resolve().parent.parent
ENGINE = Path(sys.executable).parent / "engine"
TOKEN = "dev-token"
BATCH = 500
TARGETS = {"single requests/s": 5_000, "batched events/s": 100_000}
P99_TARGET_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ---- the load generator (its own process)

def _request(port: int, body: bytes) -> bytes:
    return (f"POST /collect/json/customerio?key={TOKEN} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _connection(port: int, requests: list[bytes], latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    failures = 0
    try:
        for request in requests:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                failures += 1
    finally:
        writer.close()
    return failures


async def _drive(port: int, bodies: list[bytes], connections: int
                 ) -> tuple[float, list[float], int]:
    requests = [_request(port, b) for b in bodies]
    shares = [requests[i::connections] for i in range(connections)]
    latencies: list[float] = []
    start = time.perf_counter()
    failures = await asyncio.gather(*(_connection(port, s, latencies) for s in shares))
    return time.perf_counter() - start, latencies, sum(failures)


def client_main(port: int, kind: str, count: int, connections: int, offset: int) -> None:
    """Runs in the load-generator process; prints one JSON line of results."""
    size = 1 if kind == "single" else BATCH
    hooks = webhooks((count * size) + offset, max(1, count * size // 10), seed=11)
    events = [orjson.dumps(h) for h in hooks][offset:]
    if size == 1:
        bodies = events
    else:
        bodies = [b"[" + b",".join(events[i:i + size]) + b"]"
                  for i in range(0, len(events), size)]
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    seconds, latencies, failures = asyncio.run(_drive(port, bodies, connections))
    latencies.sort()
    print(json.dumps({"seconds": seconds, "requests": len(bodies), "events": len(events),
                      "failures": failures,
                      "p50_ms": latencies[len(latencies) // 2] * 1000,
                      "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}))


# ---- the benchmark (starts the daemon, runs the client)

def run_client(port: int, kind: str, count: int, connections: int, offset: int
               ) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--client", kind, "--port", str(port), "--count",
         str(count), "--connections", str(connections), "--offset", str(offset)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def start_daemon(workdir: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(ENGINE), "serve", "--config", str(ROOT / "config.example.yaml"),
         "--set", f"storage.path={workdir / 'engine.db'}",
         "--set", f"server.listen=127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
        env={**os.environ, "ENGINE_COLLECT_TOKEN": TOKEN})
    assert proc.stdout is not None
    for line in proc.stdout:  # the banner comes once it listens
        if " profile get " in line:
            return proc
    raise SystemExit("engine serve did not start")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=40_000, help="single-event requests")
    parser.add_argument("--batches", type=int, default=400, help="requests of 500 events")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="runs per kind (median)")
    parser.add_argument("--client", choices=("single", "batch"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        client_main(args.port, args.client, args.count, args.connections, args.offset)
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="engine-bench-http-"))
    port = free_port()
    daemon = start_daemon(workdir, port)
    rows = []
    failed = 0
    try:
        offset = 0
        for kind, count, connections in (("single", args.requests, args.connections),
                                         ("batch", args.batches, min(4, args.connections))):
            runs = []
            for _ in range(args.rounds):
                result = run_client(port, kind, count, connections, offset)
                offset += int(result["events"])  # new events each round: none is a duplicate
                failed += int(result["failures"])
                runs.append(result)
            seconds = statistics.median(r["seconds"] for r in runs)
            rows.append((kind, count, connections, runs[0]["events"] / seconds,
                         count / seconds, statistics.median(r["p50_ms"] for r in runs),
                         statistics.median(r["p99_ms"] for r in runs)))
            print(f"  {kind}: {runs[-1]}", file=sys.stderr, flush=True)
    finally:
        daemon.terminate()
        daemon.wait(120)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{'requests':>18} | {'conns':>5} | {'requests/s':>10} | {'events/s':>10} | "
          f"{'p50 ms':>7} | {'p99 ms':>7}")
    print(f"{'-' * 18}-+-------+------------+------------+---------+--------")
    for kind, count, connections, events_s, requests_s, p50, p99 in rows:
        label = f"{count:,} x {'1 event' if kind == 'single' else f'{BATCH} events'}"
        print(f"{label:>18} | {connections:>5} | {requests_s:>10,.0f} | {events_s:>10,.0f} | "
              f"{p50:>7.1f} | {p99:>7.1f}")
    single, batch = rows
    checks = [("single-event requests/s", single[4], TARGETS["single requests/s"]),
              ("batched events/s (500 per request)", batch[3], TARGETS["batched events/s"])]
    for name, got, want in checks:
        print(f"HTTP target (docs/performance.md), {name} >= {want:,}: "
              f"{'MET' if got >= want else 'NOT MET'} ({got:,.0f})")
    worst = max(single[6], batch[6])
    print(f"HTTP target (docs/performance.md), p99 < {P99_TARGET_MS:.0f} ms: "
          f"{'MET' if worst < P99_TARGET_MS else 'NOT MET'} (worst p99 {worst:.1f} ms)")
    if failed:
        print(f"{failed} request(s) did not answer 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

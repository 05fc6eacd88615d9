"""`make bench`: the HTTP benchmark (docs/performance.md).

Starts `engine serve` on a free loopback port over a fresh store, then drives it from a
separate load-generator process (asyncio on raw keep-alive connections, so the client costs as
little as it can): first single-event requests, then batches of 500 events, each event a
distinct generated Customer.io webhook. Every request must answer 200; the daemon answers only
once the events are durable (fsync'd group commits). Prints requests/s, events/s, p50 and p99.

The same load then runs against the two ceilings of `ceiling.py` (a bare parse-and-answer app,
and a durable group-fsync app, on the same uvicorn, httptools and uvloop), and the table ends
with the ratios engine / ceiling: how far from the limit of the machine the engine is.

    .venv/bin/python bench/intake.py [--requests 40000] [--batches 400] [--connections 32]

Exit status: 0, or 1 when a request fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import ceiling
from collect import ROOT, drive, serve, stop, webhook_bodies

BATCH = 500
TARGETS = {"single requests/s": 5_000, "batched events/s": 100_000}
P99_TARGET_MS = 50.0
# The goals toward the machine's limit (docs/performance.md): each kind of request at this
# share of the durable ceiling, within this p99.
RATIO_GOALS = {"single": (0.5, 20.0), "batch": (0.5, 50.0)}
TARGET_NAMES = ("engine", *ceiling.KINDS)  # what the load runs against, in turn


# ---- the load generator (its own process)


def client_main(port: int, kind: str, count: int, connections: int, offset: int) -> None:
    """Runs in the load-generator process; prints one JSON line of results."""
    size = 1 if kind == "single" else BATCH
    bodies = webhook_bodies(
        count * size + offset, max(1, count * size // 10), offset, count * size, size
    )
    _started, seconds, latencies, failures = drive(port, bodies, connections)
    latencies.sort()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "requests": len(bodies),
                "events": count * size,
                "failures": failures,
                "p50_ms": latencies[len(latencies) // 2] * 1000,
                "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            }
        )
    )


# ---- the benchmark (starts the daemon, runs the client)


def run_client(port: int, kind: str, count: int, connections: int, offset: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--client",
            kind,
            "--port",
            str(port),
            "--count",
            str(count),
            "--connections",
            str(connections),
            "--offset",
            str(offset),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def start_daemon(workdir: Path) -> tuple[subprocess.Popen[str], int]:
    return serve(
        [
            "--config",
            str(ROOT / "config.example.yaml"),
            "--set",
            f"storage.path={workdir / 'engine.db'}",
        ]
    )


class Row(NamedTuple):
    """One server's figures for one kind of request (medians over the rounds)."""

    events_s: float
    requests_s: float
    p50_ms: float
    p99_ms: float


def measure(
    port: int, kind: str, count: int, connections: int, offset: int, rounds: int
) -> tuple[Row, int, int]:
    """`rounds` runs of the load generator: the figures, the failed requests, and the offset
    of the next round's events (each round sends new ones: none is a duplicate)."""
    runs = []
    failed = 0
    for _ in range(rounds):
        result = run_client(port, kind, count, connections, offset)
        offset += int(result["events"])
        failed += int(result["failures"])
        runs.append(result)
    seconds = statistics.median(r["seconds"] for r in runs)
    return (
        Row(
            runs[0]["events"] / seconds,
            count / seconds,
            statistics.median(r["p50_ms"] for r in runs),
            statistics.median(r["p99_ms"] for r in runs),
        ),
        failed,
        offset,
    )


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
    kinds = (
        ("single", args.requests, args.connections),
        ("batch", args.batches, min(4, args.connections)),
    )
    rows: dict[tuple[str, str], Row] = {}
    failed = 0
    try:
        for target in TARGET_NAMES:
            if target == "engine":
                daemon, port = start_daemon(workdir)
            else:
                proc, port = ceiling.start(target, workdir)
            try:
                offset = 0
                for kind, count, connections in kinds:
                    row, failures, offset = measure(
                        port, kind, count, connections, offset, args.rounds
                    )
                    rows[target, kind] = row
                    failed += failures
                    print(
                        f"  {target} {kind}: {row}, {failures} failed", file=sys.stderr, flush=True
                    )
            finally:
                if target == "engine":
                    stop(daemon, 120)
                else:
                    ceiling.stop(proc)
                # What this target wrote must not still be on its way to the disk while the
                # next one measures its fsyncs.
                os.sync()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\n{'server':>8} | {'requests':>18} | {'conns':>5} | {'requests/s':>10} | "
        f"{'events/s':>10} | {'p50 ms':>7} | {'p99 ms':>7}"
    )
    print(f"{'-' * 8}-+-{'-' * 18}-+-------+------------+------------+---------+--------")
    for target in TARGET_NAMES:
        for kind, count, connections in kinds:
            r = rows[target, kind]
            label = f"{count:,} x {'1 event' if kind == 'single' else f'{BATCH} events'}"
            print(
                f"{target:>8} | {label:>18} | {connections:>5} | {r.requests_s:>10,.0f} | "
                f"{r.events_s:>10,.0f} | {r.p50_ms:>7.1f} | {r.p99_ms:>7.1f}"
            )
    print(f"\n{'engine / ceiling':>24} | {'single requests/s':>17} | {'batched events/s':>16}")
    print(f"{'-' * 24}-+-{'-' * 17}-+-{'-' * 16}")
    for target in TARGET_NAMES[1:]:
        single = rows["engine", "single"].requests_s / rows[target, "single"].requests_s
        batch = rows["engine", "batch"].events_s / rows[target, "batch"].events_s
        print(f"{'engine / ' + target:>24} | {single:>16.2f}x | {batch:>15.2f}x")
    single_row, batch_row = rows["engine", "single"], rows["engine", "batch"]
    checks = [
        ("single-event requests/s", single_row.requests_s, TARGETS["single requests/s"]),
        ("batched events/s (500 per request)", batch_row.events_s, TARGETS["batched events/s"]),
    ]
    for name, got, want in checks:
        print(
            f"HTTP target (docs/performance.md), {name} >= {want:,}: "
            f"{'MET' if got >= want else 'NOT MET'} ({got:,.0f})"
        )
    worst = max(single_row.p99_ms, batch_row.p99_ms)
    print(
        f"HTTP target (docs/performance.md), p99 < {P99_TARGET_MS:.0f} ms: "
        f"{'MET' if worst < P99_TARGET_MS else 'NOT MET'} (worst p99 {worst:.1f} ms)"
    )
    for kind, (share, p99_ms) in RATIO_GOALS.items():
        engine, durable = rows["engine", kind], rows["durable", kind]
        ratio = engine.events_s / durable.events_s
        name = "single-event requests" if kind == "single" else "batched events"
        met = ratio >= share and engine.p99_ms < p99_ms
        print(
            f"HTTP goal (docs/performance.md), {name} >= {share:.1f}x durable with "
            f"p99 < {p99_ms:.0f} ms: {'MET' if met else 'NOT MET'} "
            f"({ratio:.2f}x, p99 {engine.p99_ms:.1f} ms)"
        )
    if failed:
        print(f"{failed} request(s) did not answer 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

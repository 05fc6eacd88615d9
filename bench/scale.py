"""`make bench`: the scale-out benchmark (docs/performance.md).

Events/s from HTTP collect through NATS JetStream into PostgreSQL, with one and with two
process nodes, beside one SQLite daemon taking the same events, all in one run. Each setup is
real daemons in their own processes, started as users start them (`engine serve --role
collect|process|all` on config.example.yaml with `--set` overrides), over a store of its
own: a fresh SQLite file, or a fresh PostgreSQL schema and JetStream stream, dropped at the
end even when the run fails.

- Warm-up, not timed: 1,000 events posted and applied, and every process node seen live in
  `engine status`, so that each processor runs before the clock starts.
- Timed: a separate load-generator process posts `SCALE_EVENTS` generated Customer.io webhooks
  (`webhooks.py`, 10 per person, each event distinct) in batches of 500 on 4 keep-alive
  connections to the collect node; then `engine status --wait` runs until the backlog is 0.
- collect ev/s: events / seconds from the first request sent until the last one answered
  (200 only: the collect node answers once JetStream, or SQLite, holds the events durably).
- applied ev/s: events / seconds from the first request sent until `engine status --wait`
  returned (it looks every 0.25 s): every event applied into profiles.
- Storage per event, after the run: the SQLite files or the PostgreSQL schema (tables,
  indexes, TOAST) per event applied, and the JetStream stream's bytes per message.

PostgreSQL at 127.0.0.1:5432 (database `test`) and NATS with JetStream at 127.0.0.1:4222
(`SCALE_POSTGRES_DSN`, `SCALE_NATS_URL` name others): when either does not answer, the
benchmark says which and prints the SQLite row alone.

    SCALE_EVENTS=100000 SCALE_ROUNDS=1 .venv/bin/python bench/scale.py [--events N] [--rounds N]

With more than one round, each figure is the median of the rounds (setups interleaved).
Exit status: 0 (also without PostgreSQL or NATS), or 1 when a request is not answered 200, an
event is not applied, or a daemon does not start or stop cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from collect import ROOT, drive, serve, stop, webhook_bodies

ENGINE = Path(sys.executable).parent / "engine"
CONFIG = str(ROOT / "config.example.yaml")
PG_DSN = os.environ.get("SCALE_POSTGRES_DSN", "postgresql://127.0.0.1:5432/test")
NATS_URL = os.environ.get("SCALE_NATS_URL", "nats://127.0.0.1:4222")
EVENTS = int(os.environ.get("SCALE_EVENTS", "100000"))
ROUNDS = int(os.environ.get("SCALE_ROUNDS", "1"))
BATCH = 500
CONNECTIONS = 4
WARMUP = 1_000
PROBE_TIMEOUT_S = 3


@dataclass(frozen=True)
class Setup:
    """One way of running the engine: the roles of its nodes, in start order."""

    name: str
    roles: tuple[str, ...]

    @property
    def shared(self) -> bool:
        return self.roles[0] != "all"

    @property
    def processors(self) -> int:
        return sum(1 for role in self.roles if role in ("all", "process"))


SQLITE = Setup("SQLite, one daemon", ("all",))
ONE_NODE = Setup("PostgreSQL + NATS, 1 process node", ("collect", "process"))
TWO_NODES = Setup("PostgreSQL + NATS, 2 process nodes", ("collect", "process", "process"))


@dataclass
class Run:
    """What one setup measured in one round."""

    collect_eps: float
    applied_eps: float
    store_bytes: float  # per event applied
    log_bytes: float | None  # JetStream bytes per message; None without a transport


@dataclass
class Failures:
    """What went wrong across the run: said at the end, and the exit status."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)
        self.lines.append(line)


# ---- the load generator (its own process)


def client_main(port: int, total: int, start: int, count: int, connections: int) -> None:
    """Runs in the load-generator process; prints one JSON line of results."""
    bodies = webhook_bodies(total, max(1, total // 10), start, count, BATCH)
    started, seconds, _latencies, failures = drive(port, bodies, connections)
    print(json.dumps({"started": started, "seconds": seconds, "failures": failures}))


def post(port: int, total: int, start: int, count: int) -> dict[str, float]:
    """Post webhooks `start` to `start + count` of `total` from a load-generator process."""
    options = dict(port=port, total=total, start=start, count=count, connections=CONNECTIONS)
    out = subprocess.run(
        [sys.executable, __file__, "--client"]
        + [arg for name, value in options.items() for arg in (f"--{name}", str(value))],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ---- PostgreSQL and NATS: are they there, how big, and dropping what the run made


def pg_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None."""
    import psycopg

    try:
        with psycopg.connect(PG_DSN, connect_timeout=PROBE_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_DSN} does not answer ({str(exc).strip().splitlines()[0]})"
    return None


async def _nats(action: str, stream: str = "") -> tuple[int, int]:
    import nats

    async def quiet(_exc: Exception) -> None:
        return None

    connecting = nats.connect(
        NATS_URL,
        connect_timeout=PROBE_TIMEOUT_S,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        error_cb=quiet,
    )
    # nats-py may keep trying a server that refuses: the wait is bounded here
    nc = await asyncio.wait_for(connecting, PROBE_TIMEOUT_S * 2)
    try:
        js = nc.jetstream()
        if action == "probe":
            await js.account_info()
        elif action == "size":
            info = await js.stream_info(stream)
            return info.state.bytes, info.state.messages
        else:
            await js.delete_stream(stream)
    finally:
        await nc.close()
    return 0, 0


def nats_problem() -> str | None:
    """Why NATS JetStream cannot be used, or None."""
    address = NATS_URL.split("://", 1)[-1].rsplit("@", 1)[-1]
    host, _, port = address.partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=PROBE_TIMEOUT_S):
            pass
        asyncio.run(_nats("probe"))
    except Exception as exc:  # refused, timed out, JetStream off: unusable
        reason = str(exc) or type(exc).__name__
        return f"NATS JetStream at {NATS_URL} does not answer ({reason})"
    return None


def schema_bytes(schema: str) -> int:
    """Every table of the schema with its indexes and TOAST, on disk."""
    import psycopg

    with psycopg.connect(PG_DSN) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            (schema,),
        ).fetchone()
    return int(row[0]) if row else 0


def drop(schema: str, stream: str) -> None:
    import psycopg

    with contextlib.suppress(psycopg.Error), psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    with contextlib.suppress(Exception):  # never made, or NATS went away: nothing to drop
        asyncio.run(_nats("delete", stream))


# ---- one setup, one round


def engine_status(sets: Sequence[str], *args: str, timeout: float = 60) -> dict[str, Any]:
    """`engine status --json` with more `args` (`--wait`); its report (and exit code)."""
    proc = subprocess.run(
        [str(ENGINE), "status", "--config", CONFIG, *sets, "--json", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout + 60,
    )
    if not proc.stdout.strip():
        raise RuntimeError(f"engine status exited {proc.returncode}: {proc.stderr.strip()}")
    report: dict[str, Any] = json.loads(proc.stdout)
    report["exit"] = proc.returncode
    return report


def wait_applied(sets: Sequence[str], timeout: float) -> dict[str, Any]:
    return engine_status(sets, "--wait", "--timeout", str(timeout), timeout=timeout)


def wait_live(sets: Sequence[str], setup: Setup, timeout: float = 60) -> None:
    """Until `engine status` lists every process node of the setup as live (its processor
    runs: it says so between batches)."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = engine_status(sets)["nodes"]
        if sum(1 for n in nodes if n["role"] == "process") >= setup.processors:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{setup.name}: only {len(nodes)} live node(s) after {timeout} s")
        time.sleep(0.5)


def applied(report: dict[str, Any]) -> int:
    return sum(int(row["applied"]) for row in report["streams"].values())


def log_findings(setup: Setup, logs: Sequence[Path], failures: Failures) -> None:
    """What the nodes logged at warning and above, each message once with its count; an
    error is a failure of the run."""
    seen: Counter[str] = Counter()
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                seen[f"error: not a JSON log line: {line[:200]}"] += 1
                continue
            if doc.get("level") in ("warning", "error", "critical"):
                seen[f"{doc['level']}: {doc.get('message')}"] += 1
    for message, count in seen.items():
        line = f"{setup.name}, node logs: {message} (x{count})"
        if message.startswith("warning"):
            print(f"  {line}", file=sys.stderr, flush=True)
        else:
            failures.add(line)


def run_setup(setup: Setup, events: int, workdir: Path, failures: Failures) -> Run | None:
    """Start the setup's nodes over a fresh store, warm them up, time `events` events through
    them; None when it failed (said in `failures`)."""
    tag = uuid.uuid4().hex[:12]
    schema, stream = f"bench_scale_{tag}", f"BENCH_SCALE_{tag.upper()}"
    store = workdir / f"{tag}.db"
    if setup.shared:
        overrides = {
            "storage.backend": "postgres",
            "storage.dsn": PG_DSN,
            "storage.schema": schema,
            "transport.backend": "nats",
            "transport.url": NATS_URL,
            "transport.stream": stream,
        }
    else:
        overrides = {"storage.path": str(store)}
    sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
    total = WARMUP + events
    nodes: list[subprocess.Popen[str]] = []
    ports: list[int] = []
    logs: list[Path] = []
    try:
        try:
            for i, role in enumerate(setup.roles):
                path = workdir / f"{tag}-{i}-{role}.log"
                logs.append(path)
                with path.open("w") as log:
                    node, port = serve(["--config", CONFIG, "--role", role, *sets], log=log)
                nodes.append(node)
                ports.append(port)
            collect_port = ports[0]  # the first node collects: `collect` or `all`
            warm = post(collect_port, total, 0, WARMUP)
            report = wait_applied(sets, 120)
            if warm["failures"] or report["exit"] or applied(report) != WARMUP:
                failures.add(f"{setup.name}: the warm-up was not applied: {report}")
                return None
            if setup.shared:
                wait_live(sets, setup)
            timed = post(collect_port, total, WARMUP, events)
            report = wait_applied(sets, max(300, events / 100))
            done = time.time()
        finally:
            for node in nodes:
                code = stop(node)
                if code != 0:
                    failures.add(f"{setup.name}: a node exited {code} when stopped")
            log_findings(setup, logs, failures)
        if timed["failures"]:
            failures.add(f"{setup.name}: {timed['failures']:.0f} request(s) did not answer 200")
        if report["exit"] or applied(report) != total or report["backlog"]:
            failures.add(
                f"{setup.name}: {applied(report):,} of {total:,} events applied, "
                f"backlog {report['backlog']:,}"
            )
            return None
        if report["dead_letters"]:
            failures.add(f"{setup.name}: {report['dead_letters']:,} dead letter(s)")
        log_bytes = None
        if setup.shared:
            stored = schema_bytes(schema)
            held, messages = asyncio.run(_nats("size", stream))
            log_bytes = held / max(1, messages)
        else:
            stored = sum(
                p.stat().st_size
                for p in workdir.glob(f"{store.name}*")
                if not p.name.endswith(".lock")
            )
        seconds = timed["seconds"]
        return Run(
            collect_eps=events / seconds,
            applied_eps=events / (done - timed["started"]),
            store_bytes=stored / total,
            log_bytes=log_bytes,
        )
    except (subprocess.CalledProcessError, RuntimeError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or ""
        failures.add(f"{setup.name}: {exc} {detail.strip()[-500:]}")
        return None
    finally:
        if setup.shared:
            drop(schema, stream)


# ---- the benchmark


def _terminated(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # so that every node is stopped and every schema dropped


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_table(setups: Sequence[Setup], runs: dict[Setup, list[Run]], events: int) -> None:
    median: dict[Setup, Run] = {}
    for setup in setups:
        rounds = runs[setup]
        if rounds:
            log_bytes = [r.log_bytes for r in rounds if r.log_bytes is not None]
            median[setup] = Run(
                statistics.median(r.collect_eps for r in rounds),
                statistics.median(r.applied_eps for r in rounds),
                statistics.median(r.store_bytes for r in rounds),
                statistics.median(log_bytes) if log_bytes else None,
            )
    width = max(len(s.name) for s in (SQLITE, ONE_NODE, TWO_NODES))
    print(
        f"\n{'setup':<{width}} | {'events':>7} | {'collect ev/s':>12} | {'applied ev/s':>12} "
        f"| {'store B/ev':>10} | {'JetStream B/ev':>14}"
    )
    print(f"{'-' * width}-+---------+--------------+--------------+------------+---------------")
    for setup in setups:
        got = median.get(setup)
        if got is None:
            print(f"{setup.name:<{width}} | {'failed':>7} |")
            continue
        print(
            f"{setup.name:<{width}} | {events:>7,} | {got.collect_eps:>12,.0f} "
            f"| {got.applied_eps:>12,.0f} | {_cell(got.store_bytes):>10} "
            f"| {_cell(got.log_bytes):>14}"
        )
    pairs = [
        (ONE_NODE, SQLITE, "PostgreSQL + NATS 1 node / SQLite"),
        (TWO_NODES, ONE_NODE, "PostgreSQL + NATS 2 nodes / 1 node"),
    ]
    shown = [(median[a], median[b], label) for a, b, label in pairs if a in median and b in median]
    if shown:
        print(f"\n{'ratios':<{width}} | {'collect':>7} | {'applied':>7}")
        print(f"{'-' * width}-+---------+--------")
        for a, b, label in shown:
            print(
                f"{label:<{width}} | {a.collect_eps / b.collect_eps:>6.2f}x "
                f"| {a.applied_eps / b.applied_eps:>6.2f}x"
            )
    if ONE_NODE in median and TWO_NODES in median:
        ratio = median[TWO_NODES].applied_eps / median[ONE_NODE].applied_eps
        print(
            "scale-out target (docs/performance.md), 2 process nodes apply at least as fast "
            f"as 1: {'MET' if ratio >= 1 else 'NOT MET'} ({ratio:.2f}x)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=EVENTS, help="timed events per setup")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="runs per setup (median)")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--port", "--total", "--start", "--count", "--connections"):
        parser.add_argument(hidden, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        client_main(args.port, args.total, args.start, args.count, args.connections)
        return 0

    signal.signal(signal.SIGTERM, _terminated)
    setups = [SQLITE]
    problems = [p for p in (pg_problem(), nats_problem()) if p is not None]
    for problem in problems:
        print(f"scale-out rows skipped: {problem}", flush=True)
    if not problems:
        setups += [ONE_NODE, TWO_NODES]
    runs: dict[Setup, list[Run]] = {setup: [] for setup in setups}
    failures = Failures()
    workdir = Path(tempfile.mkdtemp(prefix="engine-bench-scale-"))
    try:
        for round_ in range(args.rounds):
            for setup in setups:
                run = run_setup(setup, args.events, workdir, failures)
                if run is not None:
                    runs[setup].append(run)
                    print(
                        f"  round {round_ + 1}, {setup.name}: collect {run.collect_eps:,.0f} "
                        f"ev/s, applied {run.applied_eps:,.0f} ev/s",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(setups, runs, args.events)
    if failures.lines:
        print(f"{len(failures.lines)} problem(s):", *failures.lines, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

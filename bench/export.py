"""`make bench`: the export benchmark (docs/performance.md).

Backfills the members of an audience to the local Customer.io stand-in, as a user would: the
sandbox (`engine sandbox customerio`) runs in its own process on a free loopback port, and
`engine export run bench_job --existing-users` runs in a child process with the job's rate limit
off (`rate_limit_per_s: 0`). Prints members/s for the v2 batch API and for v1 (one
`PUT /api/v1/customers/{id}` per member).

Setup, not timed: Customer.io reporting webhooks (`webhooks.py`) for exactly `--members`
people, 2 per person (each person's first one carries its id and email), are loaded with
`engine ingest` into a store whose config has the audience (`exists(email)`: every person is a
member) but no export job, so the outbox is empty. Each run then gets a fresh copy of that
store and a cleared sandbox.

Timed: the whole `engine export run bench_job --existing-users` child, from its start to its
exit (config load, credential check, queueing every member in the outbox, sending until the
outbox is empty). members/s = members that run sent / those seconds. Afterwards the sandbox must
hold every member (`GET /_sandbox/people`), else the bench fails.

v1 sends one request per member, so it is measured on the first `--v1-members` people (a store
of its own, loaded the same way); members/s is what compares.

    .venv/bin/python bench/export.py [--members 100000] [--v1-members 20000] [--rounds 1]
        [--concurrency 4] [--batch-items 500]

Exit status: 0, or 1 when a run fails, refuses an item or the sandbox misses members.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
from webhooks import webhooks

ROOT = Path(__file__).resolve().parent.parent
ENGINE = Path(sys.executable).parent / "engine"
# The configs are written to a scratch folder and name the stock mappings of this checkout.
ALLOW_MAPPINGS = ("--allow-path", str(ROOT / "mappings"))
TARGET_MEMBERS_PER_S = 10_000
DATA = ROOT / ".engine" / "bench"
EVENTS_PER_PERSON = 2
JOB = "bench_job"
SITE_ID, API_KEY = "bench-site", "bench-key"
SUMMARY = re.compile(r"^" + JOB + r": ([\d,]+) sent, ([\d,]+) retried, ([\d,]+) dead in "
                     r"([\d,]+) requests, ([\d.]+)s; ([\d,]+) left in the outbox$", re.M)


class BenchFailure(Exception):
    """A run that did not deliver every member."""


# ---- the input: webhooks for exactly `members` people

def member_webhooks(members: int, per_person: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`webhooks.py` events, re-addressed round robin so that every one of `members` people
    gets `per_person` of them; each person's first event carries its id and email."""
    for i, hook in enumerate(webhooks(members * per_person, members, seed)):
        person = i % members
        email = f"person{person}@example.com"
        data = hook["data"]
        assert isinstance(data, dict)
        if i < members or "id" in data["identifiers"]:
            data["identifiers"] = {"id": f"usr_{person}", "email": email,
                                   "cio_id": f"{person:012x}"}
        else:
            data["identifiers"] = {"email": email}
        if "email_address" in data:
            data["email_address"] = email
        if "recipient" in data:
            data["recipient"] = (email if hook["object_type"] == "email"
                                 else f"+1555{person:07d}")
        yield hook


def write_members(members: int) -> Path:
    """The NDJSON input for `members` people (once: an existing file is reused)."""
    path = DATA / f"customerio-members-{members}x{EVENTS_PER_PERSON}.jsonl"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for hook in member_webhooks(members, EVENTS_PER_PERSON):
            out.write(orjson.dumps(hook) + b"\n")
    tmp.replace(path)
    return path


# ---- configs and stores

def write_config(path: Path, sandbox_url: str, job: dict[str, Any] | None) -> Path:
    """A config (JSON is YAML) with the audience, and the export job when one is given."""
    config: dict[str, Any] = {
        "version": 1,
        "storage": {"backend": "sqlite", "path": str(path.parent / "unused.db")},
        "authorizations": {"cio_main": {"provider": "customerio", "site_id": SITE_ID,
                                        "api_key": API_KEY, "base_url": sandbox_url}},
        "mappings": [str(ROOT / "mappings" / "customerio.yaml")],
        "audiences": [{"name": "bench_members", "filter": "exists(email)"}],
        "exports": [job] if job else [],
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def export_job(api: str, concurrency: int, batch_items: int) -> dict[str, Any]:
    return {"name": JOB, "provider": "customerio", "authorization": "cio_main",
            "audience": "bench_members", "id_field": "cio_customer_id", "email_field": "email",
            "extra_attributes": ["cio_channels", "last_active_ts"], "api": api,
            "rate_limit_per_s": 0, "concurrency": concurrency, "retry_horizon_s": 86400,
            "batch": {"max_items": batch_items, "max_bytes": 500_000}}


def store_files(store: Path) -> list[Path]:
    return [p for p in (store, Path(f"{store}-wal"), Path(f"{store}-shm")) if p.exists()]


def copy_store(source: Path, target: Path) -> None:
    for old in target.parent.glob(target.name + "*"):
        old.unlink()
    for path in store_files(source):
        shutil.copyfile(path, target.parent / (target.name + path.name[len(source.name):]))


def ingest(config: Path, store: Path, data: Path) -> None:
    cmd = [str(ENGINE), "ingest", "--config", str(config), *ALLOW_MAPPINGS,
           "--set", f"storage.path={store}", "--stream", "customerio", "--progress", "never",
           str(data)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"engine ingest exited {proc.returncode}")
    print(f"  ingest {data.name}: {proc.stdout.strip().splitlines()[0]}", file=sys.stderr,
          flush=True)


# ---- the sandbox (its own process)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def call(port: int, path: str, method: str = "GET") -> Any:
    """One request to a sandbox control route, its JSON answer."""
    r = httpx.request(method, f"http://127.0.0.1:{port}{path}", timeout=60)
    r.raise_for_status()
    return r.json()


def start_sandbox() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [str(ENGINE), "sandbox", "customerio", "--port", str(port), "--site-id", SITE_ID,
         "--api-key", API_KEY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"engine sandbox exited {proc.returncode}")
        try:
            call(port, "/_sandbox/requests")
            return proc, port
        except httpx.TransportError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("engine sandbox did not answer within 20s")


# ---- one measured run

def run_export(config: Path, pristine: Path, workdir: Path, port: int, members: int
               ) -> tuple[float, float, int]:
    """Backfill `members` from a fresh copy of `pristine`: wall seconds, the engine's own
    seconds, and the number of requests it made. Raises BenchFailure on a short delivery."""
    store = workdir / "run.db"
    copy_store(pristine, store)
    call(port, "/_sandbox/requests", "DELETE")
    call(port, "/_sandbox/people", "DELETE")
    cmd = [str(ENGINE), "export", "run", "--config", str(config), *ALLOW_MAPPINGS,
           "--set", f"storage.path={store}", JOB, "--existing-users"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    out = proc.stdout.strip()
    print(f"  {config.stem}: {' / '.join(out.splitlines())}", file=sys.stderr, flush=True)
    found = SUMMARY.search(out)
    if proc.returncode != 0 or found is None:
        sys.stderr.write(proc.stderr)
        raise BenchFailure(f"engine export run exited {proc.returncode}")
    sent, retried, dead, requests, left = (int(found.group(i).replace(",", ""))
                                           for i in (1, 2, 3, 4, 6))
    engine_s = float(found.group(5))
    people = call(port, "/_sandbox/people")
    complete = sum(1 for attrs in people.values() if "email" in attrs)
    if sent != members or dead or left or len(people) != members or complete != members:
        raise BenchFailure(f"{config.stem}: {sent:,} sent, {retried:,} retried, {dead:,} dead, "
                           f"{left:,} left; the sandbox holds {len(people):,} people "
                           f"({complete:,} with an email), expected {members:,}")
    return elapsed, engine_s, requests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=100_000, help="members backfilled (v2)")
    parser.add_argument("--v1-members", type=int, default=20_000,
                        help="members backfilled with v1 (one request each)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per API (median)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--batch-items", type=int, default=500, help="v2 batch.max_items")
    args = parser.parse_args(argv)
    v1_members = min(args.v1_members, args.members)

    workdir = Path(tempfile.mkdtemp(prefix="engine-bench-export-"))
    sandbox, port = start_sandbox()
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        ingest_config = write_config(workdir / "ingest.yaml", url, None)
        stores = {}
        for size in sorted({args.members, v1_members}):
            stores[size] = workdir / f"members-{size}.db"
            ingest(ingest_config, stores[size], write_members(size))
        for api, members in (("v2", args.members), ("v1", v1_members)):
            config = write_config(workdir / f"{api}.yaml", url,
                                  export_job(api, args.concurrency, args.batch_items))
            runs = [run_export(config, stores[members], workdir, port, members)
                    for _ in range(args.rounds)]
            seconds = statistics.median(r[0] for r in runs)
            engine_s = statistics.median(r[1] for r in runs)
            rows.append((api, members, runs[-1][2], seconds, engine_s, members / seconds))
    except BenchFailure as exc:
        print(f"engine: bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        sandbox.terminate()
        sandbox.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{'api':>3} | {'members':>8} | {'requests':>8} | {'conc':>4} | {'batch':>5} | "
          f"{'wall s':>7} | {'engine s':>8} | {'members/s':>9}")
    print("----+----------+----------+------+-------+---------+----------+----------")
    for api, members, requests, seconds, engine_s, rate in rows:
        batch = args.batch_items if api == "v2" else 1
        print(f"{api:>3} | {members:>8,} | {requests:>8,} | {args.concurrency:>4} | "
              f"{batch:>5} | {seconds:>7.2f} | {engine_s:>8.2f} | {rate:>9,.0f}")
    v2, v1 = rows
    if v1[1] < v2[1]:
        print(f"(v1 on the first {v1[1]:,} members only, one request each: --v1-members)")
    print(f"\nwall s: the whole `engine export run {JOB} --existing-users` child; engine s: "
          "what it reports (queueing and sending)")
    verdict = "MET" if v2[5] >= TARGET_MEMBERS_PER_S else "NOT MET"
    print("export target (docs/performance.md), "
          f"v2 backfill >= {TARGET_MEMBERS_PER_S:,} members/s: "
          f"{verdict} ({v2[5]:,.0f} members/s)")
    print(f"v2 batch is {v2[5] / v1[5]:.1f}x v1 ({v1[5]:,.0f} members/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: the ingest benchmark (docs/performance.md).

Generates Customer.io reporting webhooks (`webhooks.py`; 10 events per person) and pushes them
through `engine ingest --stream customerio` into a fresh SQLite store, as a user would, in a
child process. Prints events/s and the child's peak RSS for a quarter of the input and for all
of it: memory that stays flat as the input grows shows as two close RSS figures.

    .venv/bin/python bench/ingest.py [--events 1000000] [--rounds 1] [--keep]

Exit status: 0, or 1 when an ingest run fails or rejects events.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from webhooks import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
ENGINE = Path(sys.executable).parent / "engine"
TARGET_EVENTS_PER_S = 50_000
GOAL_EVENTS_PER_S = 100_000  # toward the machine's limit (docs/performance.md)
DATA = ROOT / ".engine" / "bench"


def run_ingest(path: Path, workdir: Path) -> tuple[float, int, str]:
    """Seconds, peak RSS in bytes and the summary line of one `engine ingest` run."""
    store = workdir / "engine.db"
    for leftover in workdir.glob("engine.db*"):
        leftover.unlink()
    cmd = [str(ENGINE), "ingest", "--config", str(ROOT / "config.example.yaml"),
           "--set", f"storage.path={store}", "--stream", "customerio", str(path)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(out + err)
        raise SystemExit(f"engine ingest exited {proc.returncode}")
    return elapsed, usage.ru_maxrss * 1024, out.strip().splitlines()[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1, help="runs per size (median)")
    args = parser.parse_args(argv)

    sizes = [args.events // 4, args.events]
    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="engine-bench-ingest-"))
    try:
        for size in sizes:
            people = max(1, size // 10)
            path = write_jsonl(DATA / f"customerio-{size}-{people}.jsonl", size, people)
            runs = [run_ingest(path, workdir) for _ in range(args.rounds)]
            seconds = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs)
            rows.append((size, people, size / seconds, rss, runs[-1][2]))
            print(f"  {size:,} events: {runs[-1][2]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{'events':>10} | {'people':>8} | {'events/s':>10} | {'peak RSS':>9}")
    print(f"{'-' * 10}-+-{'-' * 8}-+-{'-' * 10}-+-{'-' * 9}")
    for size, people, rate, rss, _summary in rows:
        print(f"{size:>10,} | {people:>8,} | {rate:>10,.0f} | {rss / 2**20:>7,.0f}MB")
    rate = rows[-1][2]
    verdict = "MET" if rate >= TARGET_EVENTS_PER_S else "NOT MET"
    print(f"\ningest target (docs/performance.md), >= {TARGET_EVENTS_PER_S:,} events/s: {verdict} "
          f"({rate:,.0f} events/s)")
    verdict = "MET" if rate >= GOAL_EVENTS_PER_S else "NOT MET"
    print(f"ingest goal (docs/performance.md), >= {GOAL_EVENTS_PER_S:,} events/s: {verdict}")
    growth = rows[-1][3] / rows[0][3]
    print(f"peak RSS at {sizes[-1]:,} events is {growth:.2f}x the RSS at {sizes[0]:,} events "
          f"(4x the input)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""kill -9 of `engine ingest` at random points loses nothing and counts nothing twice (§6.5)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = [sys.executable, "-m", "engine"]


def _write_hooks(path: Path, count: int) -> None:
    rnd = random.Random(11)
    kinds = [("email", "opened"), ("email", "clicked"), ("push", "opened"), ("sms", "sent"),
             ("in_app", "clicked"), ("email", "sent")]
    with path.open("w") as out:
        for i in range(count):
            person = rnd.randrange(150)
            object_type, metric = rnd.choice(kinds)
            ids: dict[str, Any] = {"id": f"usr_{person}"}
            if rnd.random() < 0.3:
                ids = {"email": f"p{person}@example.com"}
            elif rnd.random() < 0.5:
                ids["email"] = f"p{person}@example.com"
            out.write(json.dumps({"event_id": f"ev{i}", "object_type": object_type,
                                  "metric": metric, "timestamp": 1769420000 + i,
                                  "data": {"identifiers": ids, "campaign_id": i % 9}}) + "\n")


def _ingest(db: Path, hooks: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*ENGINE, "ingest", "--config", str(ROOT / "config.example.yaml"),
         "--set", f"storage.path={db}", "--stream", "customerio", "--batch-size", "50",
         "--progress", "always", *extra, str(hooks)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()


def _counts(db: Path) -> tuple[dict[str, int], int]:
    """Per identity, the sum of its profile's event counts; and the number of profiles."""
    out = subprocess.run(
        [*ENGINE, "profile", "export", "--config", str(ROOT / "config.example.yaml"),
         "--set", f"storage.path={db}"], capture_output=True, check=True, cwd=ROOT).stdout
    sums: dict[str, int] = {}
    profiles = [json.loads(line) for line in out.splitlines()]
    for p in profiles:
        total = sum(p.get("cio_events", {}).values())
        for field, values in p["_identities"].items():
            for v in values:
                sums[f"{field}={v}"] = total
    return sums, len(profiles)


def _by_hand(hooks: Path) -> tuple[dict[str, int], int]:
    """What `_counts` must give, worked out from the hooks without the engine: a person's id
    and email are one profile once any event carries both, and every event counts once."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    events: list[str] = []
    for line in hooks.read_text().splitlines():
        ids = json.loads(line)["data"]["identifiers"]
        names = [f"cio_customer_id={ids['id']}"] if "id" in ids else []
        names += [f"email={ids['email']}"] if "email" in ids else []
        for name in names[1:]:
            parent[root(name)] = root(names[0])
        events.append(names[0])
    per_root: dict[str, int] = {}
    for name in events:
        per_root[root(name)] = per_root.get(root(name), 0) + 1
    return {name: per_root[root(name)] for name in parent}, len(per_root)


@pytest.mark.parametrize("workers", ["0", "1"])
def test_sigkill_at_random_points_then_rerun_gives_exact_counts(tmp_path: Path,
                                                                 workers: str) -> None:
    hooks = tmp_path / "hooks.jsonl"
    _write_hooks(hooks, 2000)
    clean = tmp_path / "clean.db"
    _finish(_ingest(clean, hooks, "--workers", workers))
    want = _counts(clean)
    assert want == _by_hand(hooks)  # else a mistake both runs share would pass

    crashed = tmp_path / "crashed.db"
    rnd = random.Random(int(workers) + 3)
    for _ in range(3):
        proc = _ingest(crashed, hooks, "--workers", workers)
        assert proc.stderr is not None
        stop_after = rnd.randrange(1, 30)
        seen = 0
        for line in proc.stderr:
            if line.startswith(b"ingest:"):
                seen += 1
                if seen >= stop_after:
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    _finish(_ingest(crashed, hooks, "--workers", workers))
    assert _counts(crashed) == want

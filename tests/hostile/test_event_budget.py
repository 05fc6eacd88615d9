"""An event as slow as the language allows must not hold the processor.

Found by a mapping of a score of fields that each walk a large list field with a regular
expression, a many-starred glob or a title-casing of a long text: one 2 MB event kept the
daemon's processor (and `engine ingest`) busy for tens of seconds, every later event waiting
behind it. Each event's evaluation now has a budget (`pipeline.event_budget_ms`); past it the
event is a dead letter that names the mapping and field, and the next event is applied.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from engine import load_config
from engine.engine import Engine
from tests.helpers import dead_letters
from tests.hostile.cli import run_engine
from tests.server.conftest import TOKEN, start, write_config

BUDGET_MS = 300
# Each field costs a fraction of a second over the slow event; together tens of seconds.
SLOW_FIELDS = [
    *(f"regex.match(tags, \"zz{i}$\")" for i in range(8)),
    *(f"filter(tags, \"*x*y*z*{i}*\")" for i in range(8)),
    *("string.titlecase(text)" for _ in range(4)),
    *(f"tags LIKE \"*q*r*{i}\"" for i in range(8)),
]
FIELDS = "\n".join(f"      - {{field: f{i}, expr: '{expr}', type: string}}"
                   for i, expr in enumerate(SLOW_FIELDS))
MAPPING = f"""\
streams:
  - {{name: customerio}}  # the stock import's stream
  - {{name: docs, id: id}}
mappings:
  - name: docs
    stream: docs
    into: user
    by: [uid]
    fields:
      - {{field: uid, expr: uid, type: string}}
{FIELDS}
"""

SLOW = {"id": "slow", "uid": "a", "tags": [f"t{i:07d}" for i in range(150_000)],
        "text": "a b " * 200_000}
GOOD = {"id": "good", "uid": "b", "tags": ["t1"], "text": "x"}
REASON = f"evaluation exceeded its {BUDGET_MS} ms budget in mapping docs field f"


def _config(directory: Path) -> Path:
    mapping = directory / "docs.yaml"
    mapping.write_text(MAPPING)
    config = write_config(directory, mapping=mapping,
                          extra_server="  max_body_bytes: 8388608")
    with config.open("a") as f:
        f.write(f"pipeline: {{event_budget_ms: {BUDGET_MS}}}\n")
    return config


def _assert_applied_around_the_slow_one(config: Path) -> None:
    (letter,) = dead_letters(config)
    assert letter["event"]["id"] == "slow"
    assert letter["reason"].startswith(REASON), letter["reason"]
    with Engine(load_config(config), read_only=True) as eng:
        assert eng.profile("uid", "a") is None
        good = eng.profile("uid", "b")
    assert good is not None and good["f0"] == "false"


def test_the_daemon_dead_letters_an_event_over_budget_and_applies_the_next(
        tmp_path: Path) -> None:
    config = _config(tmp_path)
    daemon = start(config)
    try:
        with daemon.client() as c:
            r = c.post(f"/collect/json/docs?key={TOKEN}", json=SLOW)
            assert r.status_code == 200, r.text
            # Waits for the slow event too: applied in log order, within the budget.
            r = c.post(f"/collect/json/docs?key={TOKEN}&wait=applied", json=GOOD, timeout=60)
            assert (r.status_code, r.json()["accepted"]) == (200, 1)
            ready = c.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
    finally:
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0
        daemon.close()
    _assert_applied_around_the_slow_one(config)


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "bulk"])
def test_engine_ingest_dead_letters_an_event_over_budget(tmp_path: Path, workers: int) -> None:
    config = _config(tmp_path)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(SLOW) + "\n" + json.dumps(GOOD) + "\n")
    out = run_engine("ingest", "--config", config, "--stream", "docs", "--workers",
                     str(workers), events, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "accepted 2" in out.stdout and "dead letters 1" in out.stdout
    _assert_applied_around_the_slow_one(config)


def test_engine_map_reports_an_event_over_budget(tmp_path: Path) -> None:
    config = _config(tmp_path)
    event = tmp_path / "slow.json"
    event.write_text(json.dumps(SLOW))
    out = run_engine("map", "--config", config, "--stream", "docs", "--event", f"@{event}",
                     timeout=120)
    assert out.returncode == 3, (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stderr
    assert f"engine: error: {REASON}" in out.stderr

"""Every way events come in puts the same export requests in the outbox (docs/exports.md): the
serial `engine ingest --workers 0`, the bulk load (`--workers N`, what `engine ingest` runs on a
machine with several cores) and the daemon's collect API. The expected items are written out by
hand, so a path that drops the enters of new profiles fails on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine import load_config
from engine.engine import Engine
from tests.server.conftest import TOKEN, start, write_config

ROOT = Path(__file__).resolve().parents[2]

AUDIENCES = """\
audiences:
  - {name: engaged, filter: exists(email)}
  - {name: texted, filter: 'cio_channels CONTAINS "sms"'}
"""
EXPORTS = """\
exports:
  - {name: engaged_out, provider: customerio, authorization: cio_main, audience: engaged,
     id_field: cio_customer_id, email_field: email, extra_attributes: [last_active_ts]}
  - {name: texted_out, provider: customerio, authorization: cio_main, audience: texted,
     id_field: cio_customer_id, extra_attributes: [cio_channels]}
"""


def _hook(n: int, object_type: str, metric: str, at: int, **ids: str) -> dict[str, Any]:
    return {"event_id": f"o{n}", "object_type": object_type, "metric": metric,
            "timestamp": at, "data": {"identifiers": ids}}


# Four new people: three with an email (engaged), two with an SMS (texted), usr_4 in texted only.
HOOKS = [
    _hook(1, "email", "opened", 1769420700, id="usr_1", email="ana@example.com"),
    _hook(2, "email", "clicked", 1769420800, id="usr_2", email="bo@example.com"),
    _hook(3, "sms", "clicked", 1769420900, id="usr_2"),
    _hook(4, "email", "opened", 1769421000, id="usr_3", email="cy@example.com"),
    _hook(5, "sms", "clicked", 1769421100, id="usr_4"),
]

EXPECTED = sorted([
    ("engaged_out", "identify", "usr_1",
     {"email": "ana@example.com", "last_active_ts": 1769420700}),
    ("engaged_out", "identify", "usr_2",
     {"email": "bo@example.com", "last_active_ts": 1769420900}),
    ("engaged_out", "identify", "usr_3",
     {"email": "cy@example.com", "last_active_ts": 1769421000}),
    ("texted_out", "identify", "usr_2", {"cio_channels": ["email", "sms"]}),
    ("texted_out", "identify", "usr_4", {"cio_channels": ["sms"]}),
], key=json.dumps)


def _outbox(config: Path) -> list[tuple[str, str, str, dict[str, Any]]]:
    with Engine(load_config(config), read_only=True) as eng:
        items = [(job, action, doc["id"], doc["attributes"])
                 for job in ("engaged_out", "texted_out")
                 for _id, _pid, action, body, _n, _at in eng.store.due_outbox(job, 2**62, 100)
                 for doc in [orjson.loads(body)]]
    return sorted(items, key=json.dumps)


def _ingest(config: Path, hooks: Path, workers: str) -> None:
    run = subprocess.run([sys.executable, "-m", "engine", "ingest", "--config", str(config),
                          "--stream", "customerio", "--workers", workers, "--batch-size", "2",
                          str(hooks)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("path", ["serial", "bulk", "daemon"])
def test_new_members_of_every_audience_get_their_outbox_items(tmp_path: Path, path: str
                                                              ) -> None:
    config = write_config(tmp_path, audiences=AUDIENCES, exports=EXPORTS)
    if path == "daemon":
        daemon = start(config)
        try:
            with daemon.client() as c:
                r = c.post(f"/collect/json/customerio?key={TOKEN}&wait=applied", json=HOOKS)
                assert (r.status_code, r.json()["accepted"]) == (200, len(HOOKS)), r.text
        finally:
            assert daemon.stop() == 0
            daemon.close()
    else:
        hooks = tmp_path / "hooks.jsonl"
        hooks.write_text("".join(json.dumps(h) + "\n" for h in HOOKS))
        _ingest(config, hooks, "0" if path == "serial" else "2")
    assert _outbox(config) == EXPECTED


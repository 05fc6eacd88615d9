"""Derived streams are not collect targets.

Found by posting, with a collect token but no signature, a Customer.io-shaped event straight to
`customerio_events` (the stream derived from `customerio`): the signature guard sits on the
raw stream only, so the post skipped it and overwrote a person's email. Only raw streams take
events now, over HTTP (404 `not_collectable`), `engine ingest --stream` and `Engine.ingest`.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from engine import load_config
from engine.engine import Engine
from engine.errors import EngineError
from engine.server.auth import signature
from tests.server.conftest import ENGINE, SIGNING_KEY, TOKEN, start, write_config

NOW_S = 1769420702


def _event(event_id: str, email: str) -> dict[str, Any]:
    return {"event_id": event_id, "object_type": "email", "metric": "opened",
            "timestamp": NOW_S, "customer_id": "usr_1", "email": email, "event": "email_opened",
            "data": {"identifiers": {"id": "usr_1", "email": email}}}


def _signed(body: bytes) -> dict[str, str]:
    stamp = str(NOW_S)
    return {"X-CIO-Timestamp": stamp, "X-CIO-Signature": signature(SIGNING_KEY, stamp, body),
            "Content-Type": "application/json"}


def _derived(config: Path) -> dict[str, str]:
    """Every derived stream of the config, with its source."""
    streams = load_config(config).settings.streams
    return {s.name: s.from_ for s in streams if s.from_ is not None}


def test_no_derived_stream_takes_posts_signed_or_not(tmp_path: Path) -> None:
    config = write_config(tmp_path, signing_keys=[SIGNING_KEY], max_age_s=0)
    derived = _derived(config)
    assert "customerio_events" in derived  # the stock config has one at least
    daemon = start(config)
    try:
        with daemon.client() as c:
            good = json.dumps(_event("good", "ana@example.com")).encode()
            r = c.post(f"/collect/json/customerio?key={TOKEN}&wait=applied", content=good,
                       headers=_signed(good))
            assert r.status_code == 200, r.text
            for n, (stream, source) in enumerate(derived.items()):
                bad = json.dumps(_event(f"bad{n}", "mallory@example.com")).encode()
                for headers in ({"Content-Type": "application/json"}, _signed(bad)):
                    r = c.post(f"/collect/json/{stream}?key={TOKEN}", content=bad,
                               headers=headers)
                    assert r.status_code == 404, r.text
                    doc = r.json()
                    assert doc["error"] == "not_collectable"
                    assert stream in doc["message"] and source in doc["message"]
            # The raw stream still wants its signature, and good events keep applying.
            later = json.dumps(_event("later", "ana@example.org")).encode()
            assert c.post(f"/collect/json/customerio?key={TOKEN}", content=later,
                          headers={"Content-Type": "application/json"}).status_code == 401
            r = c.post(f"/collect/json/customerio?key={TOKEN}&wait=applied", content=later,
                       headers=_signed(later))
            assert (r.status_code, r.json()["accepted"]) == (200, 1)
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0
    finally:
        daemon.close()
    with Engine(load_config(config), read_only=True) as eng:
        profile = eng.profile("cio_customer_id", "usr_1")
        assert eng.store.last_seq() == 2  # nothing of the refused posts was logged
    assert profile is not None and profile["email"] == "ana@example.org"


def test_engine_ingest_refuses_a_derived_stream(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    events = tmp_path / "events.ndjson"
    events.write_text(json.dumps(_event("e1", "mallory@example.com")) + "\n")
    for stream, source in _derived(config).items():
        out = subprocess.run([str(ENGINE), "ingest", "--config", str(config), "--stream",
                              stream, str(events)], capture_output=True, text=True)
        assert out.returncode != 0
        assert "Traceback" not in out.stderr
        assert f"stream {stream!r} is derived from {source!r}" in out.stderr
    with Engine(load_config(config)) as eng:
        with pytest.raises(EngineError, match="derived from 'customerio'"):
            eng.ingest("customerio_events", [_event("e2", "mallory@example.com")])
        assert eng.store.last_seq() == 0

"""Dead letters applied again by a running daemon after a config fix (docs/http.md,
docs/pipeline.md): `POST /api/errors/replay`, done by the daemon's one applier."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.server.conftest import ADMIN, TOKEN, start, write_config

MAPPING = """\
streams:
  - {name: customerio}  # the stock import's stream
  - {name: signups, id: id}
mappings:
  - name: users
    stream: signups
    into: user
    by: [uid]
    fields:
      - {field: uid, expr: uid, type: string}
      - {field: age, expr: %s, type: %s}
"""
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def test_a_running_daemon_replays_its_dead_letters_once_after_a_fix(tmp_path: Path) -> None:
    mapping = tmp_path / "signups.yaml"
    mapping.write_text(MAPPING % ("toint(age)", "int"))
    daemon = start(write_config(tmp_path, mapping=mapping))
    try:
        with daemon.client() as c:
            r = c.post(
                f"/collect/json/signups?key={TOKEN}&wait=applied",
                json=[
                    {"id": "1", "uid": "a", "age": "forty"},
                    {"id": "2", "uid": "b", "age": {"years": 7}},
                ],
            )
            assert r.status_code == 200
            assert c.post("/api/errors/replay").status_code == 401
            mapping.write_text(MAPPING % ("tolower(age)", "string"))
            daemon.proc.send_signal(signal.SIGHUP)
            daemon.wait_log("config reloaded")

            r = c.post("/api/errors/replay", params={"stream": "nope"}, headers=ADMIN_HEADERS)
            assert r.status_code == 404 and r.json()["error"] == "unknown_stream"
            r = c.post("/api/errors/replay", params={"stream": "signups"}, headers=ADMIN_HEADERS)
            assert r.status_code == 200, r.text
            assert r.json() == {"stream": "signups", "replayed": 1, "failed_again": 1, "left": 0}
            profile = c.get("/api/profiles/uid/a", headers=ADMIN_HEADERS).json()
            assert profile["age"] == "forty"
            # the one that failed again stays; the one applied is not applied again
            r = c.post("/api/errors/replay", headers=ADMIN_HEADERS)
            assert r.json() == {"stream": None, "replayed": 0, "failed_again": 1, "left": 0}
    finally:
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0
        daemon.close()
    assert "replayed the dead letters" in daemon.all_logs()

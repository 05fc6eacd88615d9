"""`GET /api/audiences/{name}/history` (docs/http.md): the audience's size and its entries
and exits per day, behind the admin token."""

from __future__ import annotations

import json
import time
from pathlib import Path

from engine.lang.values import format_date, ms_to_date
from tests.server.conftest import ADMIN, TOKEN, start, write_config
from tests.server.test_exports_daemon import AUDIENCE, _hook


def _today() -> str:
    return format_date(ms_to_date(int(time.time() * 1000)))[:10]


def test_the_history_route_gives_todays_size_and_moves(tmp_path: Path) -> None:
    before = _today()
    daemon = start(write_config(tmp_path, audiences=AUDIENCE))
    try:
        with daemon.client() as c:
            r = c.post(
                "/collect/json/customerio",
                params={"key": TOKEN, "wait": "applied"},
                content=json.dumps([_hook(1, 1), _hook(2, 2)]),
            )
            assert r.status_code == 200
            route = "/api/audiences/engaged_email/history"
            assert c.get(route).status_code == 401
            r = c.get(route, params={"key": ADMIN})
            assert r.status_code == 200, r.text
            assert r.json()["audience"] == "engaged_email"
            (day,) = r.json()["days"]
            assert day["day"] in {before, _today()}  # the run may straddle midnight UTC
            assert (day["size"], day["entered"], day["exited"]) == (2, 2, 0)
            assert c.get(route, params={"key": ADMIN, "days": "7"}).json()["days"][0]["size"] == 2
            for bad in ("0", "401", "x", "²"):
                r = c.get(route, params={"key": ADMIN, "days": bad})
                assert r.status_code == 400 and r.json()["error"] == "bad_days"
            r = c.get("/api/audiences/nope/history", params={"key": ADMIN})
            assert r.status_code == 404 and r.json()["error"] == "unknown_audience"
    finally:
        daemon.close()

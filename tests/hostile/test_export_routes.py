"""Hostile input to the export operation routes (docs/http.md "Admin API"): odd job names in the
path and odd `limit` values get a clear 4xx, never a 500, and change nothing.

Found by asking for `?limit=` with 5000 nines, and with `²`: both pass `str.isdigit()`, and
`int()` refused them with an exception the route did not expect (a 500). A limit is now ASCII
digits, and few, before it is read as a number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import ADMIN, Daemon, start, write_config
from tests.server.test_exports_daemon import AUDIENCE, _exports

JOB = "to_cio"

LIMITS = ["9" * 5000, "\u00b2", "\u0661\u0662", "1e3", " 5", "5 ", "0x10", "+5", "", "1" * 7]
NAMES = [
    "..%2F..%2Fetc",
    "%00",
    "x" * 5000,
    "to_cio%20",
    "%E2%80%AEoic_ot",
    "to_cio'--",
    "%F0%9F%92%A5",
]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    folder: Path = tmp_path_factory.mktemp("routes")
    # no credentials: the job is disabled, but it is a job of the config all the same
    daemon = start(write_config(folder, audiences=AUDIENCE, exports=_exports()))
    try:
        yield daemon
    finally:
        daemon.close()


def test_odd_limits_are_a_400(running: Daemon) -> None:
    with running.client() as c:
        for limit in LIMITS:
            r = c.get(f"/api/exports/{JOB}/dead-letters", params={"key": ADMIN, "limit": limit})
            assert r.status_code == 400 and r.json()["error"] == "bad_limit", limit[:20]
        ok = c.get(f"/api/exports/{JOB}/dead-letters", params={"key": ADMIN, "limit": "7"})
        assert ok.status_code == 200 and ok.json() == {"job": JOB, "dead_letters": []}


def test_odd_job_names_are_a_404_and_pause_nothing(running: Daemon) -> None:
    with running.client() as c:
        for name in NAMES:
            for method, what in (
                ("GET", "dead-letters"),
                ("POST", "replay"),
                ("POST", "pause"),
                ("POST", "resume"),
            ):
                r = c.request(method, f"/api/exports/{name}/{what}?key={ADMIN}")
                assert r.status_code == 404, (name[:20], what, r.text[:200])
                assert r.json()["error"] in ("unknown_job", "not_found")
        (job,) = c.get("/api/exports", params={"key": ADMIN}).json()["exports"]
        assert job["paused_by"] is None

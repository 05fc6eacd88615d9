"""Operating export jobs on a running daemon (docs/http.md, docs/customerio.md "Operations"):
`engine export pause|resume` and the admin routes `GET /api/exports/{job}/dead-letters`,
`POST /api/exports/{job}/replay|pause|resume`. The daemon's runner lives in its processor
process; what the CLI or the API did reaches it through the store alone."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.exports.sandbox import Sandbox, parse_script, running_sandbox
from tests.server.conftest import ADMIN, TOKEN, Daemon, start, write_config
from tests.server.test_exports_daemon import AUDIENCE, _batches, _cio, _exports, _hook
from tests.services import poll

JOB = "to_cio"


@pytest.fixture
def sandbox() -> Iterator[tuple[Sandbox, str]]:
    box = Sandbox("site-1", "key-1")
    with running_sandbox(box) as url:
        yield box, url


@pytest.fixture
def running(tmp_path: Path, sandbox: tuple[Sandbox, str]) -> Iterator[Daemon]:
    _box, url = sandbox
    daemon = start(write_config(tmp_path, audiences=AUDIENCE, cio=_cio(url), exports=_exports()))
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0
        daemon.close()


def _cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    """An `engine` command on the daemon's config, beside it (another process)."""
    return subprocess.run(
        [sys.executable, "-m", "engine", *args, "--config", str(daemon.config)],
        capture_output=True,
        text=True,
    )


def _post(c: httpx.Client, people: range) -> None:
    r = c.post(
        "/collect/json/customerio",
        params={"key": TOKEN, "wait": "applied"},
        content=json.dumps([_hook(p, p) for p in people]),
    )
    assert r.status_code == 200 and r.json()["accepted"] == len(people)


def _job(c: httpx.Client) -> dict[str, Any]:
    (job,) = c.get("/api/exports", params={"key": ADMIN}).json()["exports"]
    return dict(job)


def test_a_pause_from_the_cli_stops_sends_while_the_outbox_grows_and_resume_sends_it(
    running: Daemon, sandbox: tuple[Sandbox, str]
) -> None:
    box, _url = sandbox
    with running.client() as c:
        _post(c, range(2))
        assert box.wait_for(lambda: len(box.people()) == 2)  # running, sending

        paused = _cli(running, "export", "pause", JOB)
        assert paused.returncode == 0, paused.stderr
        # at once, though the idle processor has not reported since
        assert (_job(c)["state"], _job(c)["paused_by"]) == ("paused", "operator")
        sent_before = len(_batches(box))
        _post(c, range(10, 15))
        # the processor reports the job's state and outbox about once a second
        assert poll(lambda: _job(c)["outbox"] == 5, 10), _job(c)
        _post(c, range(20, 25))
        assert poll(lambda: _job(c)["outbox"] == 10, 10), _job(c)
        job = _job(c)
        assert (job["state"], job["paused_by"]) == ("paused", "operator")
        assert "paused by the operator" in job["last_error"]
        assert len(_batches(box)) == sent_before and len(box.people()) == 2

        r = c.post(f"/api/exports/{JOB}/resume", params={"key": ADMIN})
        assert r.status_code == 200
        assert r.json()["job"] == JOB and r.json()["resumed"] is True
        assert box.wait_for(lambda: len(box.people()) == 12)
        assert poll(lambda: _job(c)["state"] == "running" and _job(c)["outbox"] == 0, 10)
        assert _job(c)["paused_by"] is None


def test_the_admin_routes_list_and_replay_dead_letters_and_pause_and_resume(
    running: Daemon, sandbox: tuple[Sandbox, str]
) -> None:
    box, _url = sandbox
    box.add_script(parse_script([{"status": 400, "times": 20}]))  # every batch refused
    params = {"key": ADMIN}
    with running.client() as c:
        _post(c, range(3))

        def dead() -> list[dict[str, Any]]:
            r = c.get(f"/api/exports/{JOB}/dead-letters", params=params)
            assert r.status_code == 200
            assert r.json()["job"] == JOB
            return list(r.json()["dead_letters"])

        assert poll(lambda: len(dead()) == 3, 10), dead()
        assert {(d["job"], d["action"], d["status"]) for d in dead()} == {(JOB, "identify", 400)}
        assert len({d["profile_id"] for d in dead()}) == 3
        one = c.get(f"/api/exports/{JOB}/dead-letters", params={**params, "limit": "1"})
        assert len(one.json()["dead_letters"]) == 1
        assert box.people() == {}

        box.clear("script")  # the cause is fixed
        r = c.post(f"/api/exports/{JOB}/replay", params=params)
        assert r.status_code == 200 and r.json()["replayed"] == 3
        assert box.wait_for(lambda: len(box.people()) == 3)
        assert dead() == []
        assert c.post(f"/api/exports/{JOB}/replay", params=params).json()["replayed"] == 0

        r = c.post(f"/api/exports/{JOB}/pause", params=params)
        assert r.status_code == 200
        assert r.json()["paused_by"] == "operator" and r.json()["since"].endswith("Z")
        assert poll(lambda: _job(c)["paused_by"] == "operator", 10), _job(c)
        _post(c, range(30, 32))
        assert poll(lambda: _job(c)["outbox"] == 2, 10), _job(c)
        assert len(box.people()) == 3

        resumed = _cli(running, "export", "resume", JOB)
        assert resumed.returncode == 0, resumed.stderr
        assert _job(c)["paused_by"] is None  # at once, as the store says
        assert box.wait_for(lambda: len(box.people()) == 5)
        status = json.loads(_cli(running, "status", "--json").stdout)
        assert [(j["job"], j["paused_by"]) for j in status["exports"]] == [(JOB, None)]


def test_the_routes_refuse_without_the_token_and_name_an_unknown_job(running: Daemon) -> None:
    with running.client() as c:
        for method, what in (
            ("GET", "dead-letters"),
            ("POST", "replay"),
            ("POST", "pause"),
            ("POST", "resume"),
        ):
            r = c.request(method, f"/api/exports/{JOB}/{what}")
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
            r = c.request(method, f"/api/exports/to_ci/{what}", params={"key": ADMIN})
            assert r.status_code == 404 and r.json() == {
                "error": "unknown_job",
                "message": "unknown export job 'to_ci'; jobs in the "
                "config: to_cio; did you mean `to_cio`?",
            }
        assert c.get(f"/api/exports/{JOB}/pause", params={"key": ADMIN}).status_code == 405
        for limit in ("0", "-1", "x", "1001"):
            r = c.get(f"/api/exports/{JOB}/dead-letters", params={"key": ADMIN, "limit": limit})
            assert r.status_code == 400 and r.json()["error"] == "bad_limit"
        assert _job(c)["paused_by"] is None  # nothing refused changed anything

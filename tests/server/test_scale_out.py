"""Scale-out for real (docs/scale-out.md): one collect node and two process nodes over
PostgreSQL and NATS JetStream; the Customer.io fixtures and a generated corpus with merges and
duplicates posted over HTTP; one process node killed with SIGKILL mid-stream; then `engine
status --wait`, and the profiles equal a single-node SQLite ingest of the same events."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from engine import load_config
from engine.engine import Engine
from tests.corpus import profiles, webhooks
from tests.server.conftest import ENGINE, FIXTURES, ROOT, TOKEN, Daemon, start, write_config
from tests.services import NatsServer, TcpProxy, poll

BATCH = 50


def _overrides(dsn: str, schema: str, url: str, stream: str) -> dict[str, str]:
    return {"storage.backend": "postgres", "storage.dsn": dsn, "storage.schema": schema,
            "transport.backend": "nats", "transport.url": url, "transport.stream": stream,
            "transport.ack_wait_s": "2"}


def _sets(overrides: dict[str, str]) -> list[str]:
    return [arg for k, v in overrides.items() for arg in ("--set", f"{k}={v}")]


def _events() -> list[dict[str, Any]]:
    fixtures = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]
    return fixtures + webhooks(80, 2000, seed=11)


def _post(collect: Daemon, events: list[dict[str, Any]]) -> None:
    with collect.client() as client:
        for i in range(0, len(events), BATCH):
            answer = client.post(f"/collect/json/customerio?key={TOKEN}",
                                 content=orjson.dumps(events[i:i + BATCH]))
            assert answer.status_code == 200, answer.text


def test_profiles_after_a_process_node_is_killed_equal_a_single_node(
        tmp_path: Path, postgres_dsn: str, pg_schema: str, nats_url: str,
        nats_stream: str) -> None:
    config = write_config(tmp_path)
    overrides = _overrides(postgres_dsn, pg_schema, nats_url, nats_stream)
    sets = _sets(overrides)
    events = _events()
    nodes: list[Daemon] = []
    try:
        collect = start(config, args=["--role", "collect", *sets])
        nodes.append(collect)
        first = start(config, args=["--role", "process", *sets])
        nodes.append(first)
        second = start(config, args=["--role", "process", *sets])
        nodes.append(second)
        half = len(events) // 2
        _post(collect, events[:half])
        first.proc.send_signal(signal.SIGKILL)  # its processor dies with it (PDEATHSIG)
        first.proc.wait()
        _post(collect, events[half:])
        status = subprocess.run(
            [str(ENGINE), "status", "--config", str(config), *sets, "--wait",
             "--timeout", "120", "--json"], capture_output=True, text=True, cwd=ROOT,
            timeout=180)
        assert status.returncode == 0, status.stdout + status.stderr
        report = json.loads(status.stdout)
        assert report["backlog"] == 0
        assert report["streams"]["customerio"]["collected"] >= len(
            {e["event_id"] for e in events})
        with Engine(load_config(config, overrides), read_only=True) as shared:
            scaled = profiles(shared)
    finally:
        for node in nodes:
            node.close()
    with Engine(load_config(config), store_path=tmp_path / "single.db") as single:
        single.ingest("customerio", events)
        expected = profiles(single)
    assert len(scaled) == len(expected)
    assert scaled == expected


def _engine(config: Path, sets: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENGINE), *args, "--config", str(config), *sets],
                          capture_output=True, text=True, cwd=ROOT, timeout=180)


def test_ingest_publishes_and_replay_rereads_the_transport(
        tmp_path: Path, postgres_dsn: str, pg_schema: str, nats_url: str,
        nats_stream: str) -> None:
    config = write_config(tmp_path)
    overrides = _overrides(postgres_dsn, pg_schema, nats_url, nats_stream)
    sets = _sets(overrides)
    events = _events()[:400]
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(b"\n".join(orjson.dumps(e) for e in events))
    ingested = _engine(config, sets, "ingest", str(lines), "--stream", "customerio",
                       "--format", "json")
    assert ingested.returncode == 0, ingested.stderr
    counts = json.loads(ingested.stdout)
    unique = len({e["event_id"] for e in events})
    assert (counts["accepted"], counts["duplicates"]) == (unique, len(events) - unique)
    node = start(config, args=["--role", "process", *sets])
    try:
        waited = _engine(config, sets, "status", "--wait", "--timeout", "120")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert "customerio" in waited.stdout and "process" in waited.stdout
    finally:
        node.stop()
        node.close()
    shared_config = load_config(config, overrides)
    with Engine(shared_config, read_only=True) as shared:
        applied = profiles(shared)
        # retention forgets the store's copy of the log; a replay re-reads the transport's
        with shared.store.transaction():
            shared.store.prune_log(2**62)
    replayed = _engine(config, sets, "replay")
    assert replayed.returncode == 0, replayed.stderr
    with Engine(shared_config, read_only=True) as shared:
        assert profiles(shared) == applied
    with Engine(load_config(config), store_path=tmp_path / "single.db") as single:
        single.ingest("customerio", events)
        assert profiles(single) == applied


def test_nats_down_makes_collect_answer_503_and_the_nodes_come_back(
        tmp_path: Path, postgres_dsn: str, pg_schema: str) -> None:
    """Nothing acknowledged that is not durable: while NATS is down, collect refuses with
    503 and /readyz says why; when it is back, the nodes reconnect by themselves and every
    acknowledged event is applied."""
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    config = write_config(tmp_path)
    overrides = _overrides(postgres_dsn, pg_schema, nats.url, "DOWN")
    sets = _sets(overrides)
    events = webhooks(20, 120, seed=4)
    nodes: list[Daemon] = []
    acknowledged: list[dict[str, Any]] = []
    try:
        collect = start(config, args=["--role", "collect", *sets])
        nodes.append(collect)
        nodes.append(start(config, args=["--role", "process", *sets]))
        _post(collect, events[:60])
        acknowledged += events[:60]
        nats.stop()
        with collect.client() as client:
            assert poll(lambda: client.get("/readyz").status_code == 503)
            assert "NATS" in client.get("/readyz").json()["reason"]
            answer = client.post(f"/collect/json/customerio?key={TOKEN}",
                                 content=orjson.dumps(events[60:90]))
            assert answer.status_code == 503
            assert answer.headers["Retry-After"]
            nats.start()
            assert poll(lambda: client.get("/readyz").status_code == 200, 30)
        _post(collect, events[60:])
        acknowledged += events[60:]
        waited = _engine(config, sets, "status", "--wait", "--timeout", "120")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        with Engine(load_config(config, overrides), read_only=True) as shared:
            scaled = profiles(shared)
    finally:
        for node in nodes:
            node.close()
        nats.stop()
    with Engine(load_config(config), store_path=tmp_path / "single.db") as single:
        single.ingest("customerio", acknowledged)
        assert profiles(single) == scaled


def test_a_role_other_than_all_needs_a_transport(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for role in ("collect", "process"):
        run = subprocess.run([str(ENGINE), "serve", "--config", str(config), "--role", role],
                             capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert run.returncode == 1, run.stderr
        assert f"--role {role} needs a transport between the nodes" in run.stderr
        assert "transport.backend: nats" in run.stderr


def test_postgres_sessions_killed_under_the_nodes_lose_nothing(
        tmp_path: Path, postgres_dsn: str, pg_schema: str, nats_url: str,
        nats_stream: str) -> None:
    """Every session of the nodes terminated (`pg_terminate_backend`) mid-stream: the batch
    in flight is handed out again, the nodes reconnect by themselves, and the profiles are
    those of a single node."""
    import psycopg

    name = f"engine-{pg_schema}"  # finds this test's sessions among everyone's
    dsn = f"{postgres_dsn}{'&' if '?' in postgres_dsn else '?'}application_name={name}"
    config = write_config(tmp_path)
    overrides = _overrides(dsn, pg_schema, nats_url, nats_stream)
    sets = _sets(overrides)
    events = webhooks(30, 400, seed=8)
    nodes: list[Daemon] = []
    try:
        collect = start(config, args=["--role", "collect", *sets])
        process = start(config, args=["--role", "process", *sets])
        nodes += [collect, process]
        _post(collect, events[:200])
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s", (name,)).fetchone()
        assert killed is not None and killed[0] >= 2  # the processor's and the heartbeats'
        _post(collect, events[200:])
        waited = _engine(config, sets, "status", "--wait", "--timeout", "120")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        with process.client() as client:
            assert poll(lambda: client.get("/readyz").status_code == 200, 30)
        with Engine(load_config(config, overrides), read_only=True) as shared:
            scaled = profiles(shared)
    finally:
        for node in nodes:
            node.close()
    with Engine(load_config(config), store_path=tmp_path / "single.db") as single:
        single.ingest("customerio", events)
        assert profiles(single) == scaled


def test_postgres_down_makes_the_nodes_unready_and_collect_answer_503(
        tmp_path: Path, postgres_dsn: str, pg_schema: str, nats_url: str,
        nats_stream: str) -> None:
    """PostgreSQL unreachable (a proxy the test cuts): every node's /readyz says so and
    collect refuses with 503, so the sender keeps what no node could apply; when it is back
    the nodes reconnect by themselves and every acknowledged event is applied once."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(postgres_dsn)
    host, port = str(info.get("host") or "127.0.0.1"), int(info.get("port") or 5432)
    if host.startswith("/"):
        pytest.skip(f"PostgreSQL listens on a Unix socket ({host}): no TCP to cut")
    proxy = TcpProxy((host, port))
    config = write_config(tmp_path)
    through = _sets(_overrides(make_conninfo(postgres_dsn, host="127.0.0.1",
                                             port=str(proxy.port)),
                               pg_schema, nats_url, nats_stream))
    overrides = _overrides(postgres_dsn, pg_schema, nats_url, nats_stream)
    events = webhooks(20, 160, seed=5)
    nodes: list[Daemon] = []
    try:
        collect = start(config, args=["--role", "collect", *through])
        process = start(config, args=["--role", "process", *through])
        nodes += [collect, process]
        _post(collect, events[:80])
        proxy.cut()
        for node in nodes:
            with node.client() as client:
                assert poll(lambda c=client: c.get("/readyz").status_code == 503, 30)
                assert "the store" in client.get("/readyz").json()["reason"]
        with collect.client() as client:
            # /readyz asks the store itself; collect goes by the node's watch, which notices
            # within a heartbeat. What it accepted meanwhile is in JetStream, and posted again
            # below (duplicates).
            refused: list[httpx.Response] = []

            def post() -> bool:
                answer = client.post(f"/collect/json/customerio?key={TOKEN}",
                                     content=orjson.dumps(events[80:100]))
                refused[:] = [answer]
                return answer.status_code == 503

            assert poll(post, 30), refused[0].text
            assert refused[0].json()["error"] == "storage_unavailable"
            assert refused[0].headers["Retry-After"]
        proxy.restore()
        for node in nodes:
            with node.client() as client:
                assert poll(lambda c=client: c.get("/readyz").status_code == 200, 30)
        _post(collect, events[80:])
        waited = _engine(config, _sets(overrides), "status", "--wait", "--timeout", "120")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        with Engine(load_config(config, overrides), read_only=True) as shared:
            scaled = profiles(shared)
    finally:
        for node in nodes:
            node.close()
        proxy.close()
    with Engine(load_config(config), store_path=tmp_path / "single.db") as single:
        single.ingest("customerio", events)
        assert profiles(single) == scaled

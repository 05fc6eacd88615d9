"""The daemon's lifecycle over real HTTP: same profiles as `engine ingest`, graceful stop,
kill -9 under load, config reload good and bad."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx

from engine import load_config
from engine.engine import Engine
from engine.pipeline.files import read_events
from tests.expected import FIXTURE_PEOPLE, USR_48213, fields, people
from tests.server.conftest import (
    ENGINE,
    ROOT,
    SIGNING_KEY,
    TOKEN,
    fixture_bodies,
    start,
    write_config,
)
from tests.server.test_signatures import headers


def _profiles(config_path: Path) -> list[dict[str, Any]]:
    with Engine(load_config(config_path), read_only=True) as eng:
        docs = [{k: v for k, v in p.items() if k != "_id"} for p in eng.profiles()]
    return sorted(docs, key=lambda d: json.dumps(d["_identities"], sort_keys=True))


def test_signed_fixture_posts_give_the_profiles_engine_ingest_gives(tmp_path: Path) -> None:
    served, ingested = tmp_path / "served", tmp_path / "ingested"
    served.mkdir()
    ingested.mkdir()
    daemon = start(write_config(served, signing_keys=[SIGNING_KEY]))
    try:
        with daemon.client() as c:
            for name, body in fixture_bodies():
                r = c.post(f"/collect/json/customerio?key={TOKEN}", content=body,
                           headers=headers(body))
                assert (r.status_code, r.json()["accepted"]) == (200, 1), name
    finally:
        assert daemon.stop() == 0  # SIGTERM: commit, apply the log, close
        daemon.close()
    assert any(d["message"] == "stopped" for d in daemon.logs)
    config = write_config(ingested)
    with Engine(load_config(config)) as eng:
        files = [str(p) for p in sorted((ROOT / "tests/fixtures/customerio").glob("*.json"))]
        assert eng.ingest("customerio", read_events(files)).accepted == len(files)
    want = _profiles(config)
    assert len(want) == 4
    assert _profiles(served / "config.yaml") == want
    # both paths map with the same code: compare with the profiles worked out by hand too
    assert people(want) == FIXTURE_PEOPLE
    (maria,) = (p for p in want if p["_identities"].get("cio_customer_id") == ["usr_48213"])
    assert fields(maria) == USR_48213


def _hooks(request: int, size: int) -> list[dict[str, Any]]:
    return [{"event_id": f"r{request}-{i}", "object_type": "email", "metric": "opened",
             "timestamp": 1769420000 + request,
             "data": {"identifiers": {"id": f"usr_{(request + i) % 7}"}}} for i in range(size)]


def test_kill_9_under_concurrent_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    requests = {n: json.dumps(_hooks(n, 1 + n % 5)).encode() for n in range(600)}
    acked: set[int] = set()
    lock = threading.Lock()
    enough = threading.Event()
    daemon = start(config)

    def client(numbers: list[int]) -> None:
        with httpx.Client(base_url=daemon.url, timeout=10) as c:
            for n in numbers:
                try:
                    r = c.post(f"/collect/json/customerio?key={TOKEN}", content=requests[n])
                except httpx.TransportError:
                    return  # the daemon died: this request and the rest are not acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.add(n)
                        if len(acked) >= 150:
                            enough.set()

    threads = [threading.Thread(target=client, args=(list(range(k, 600, 4)),))
               for k in range(4)]
    for t in threads:
        t.start()
    assert enough.wait(60)
    daemon.proc.kill()  # kill -9 while the clients are still posting
    for t in threads:
        t.join(60)
    daemon.close()
    assert 150 <= len(acked) < 600

    # what a sender does: resend everything not acknowledged (and a few acknowledged ones)
    again = start(config)
    try:
        with again.client() as c:
            for n in sorted(set(requests) - acked) + sorted(acked)[:20]:
                r = c.post(f"/collect/json/customerio?key={TOKEN}", content=requests[n])
                assert r.status_code == 200
    finally:
        assert again.stop() == 0
        again.close()
    total = sum(len(_hooks(n, 1 + n % 5)) for n in requests)
    profiles = _profiles(config)
    assert sum(p["cio_events"]["email_opened"] for p in profiles) == total
    per_person: dict[str, int] = {}
    for n in requests:
        for hook in _hooks(n, 1 + n % 5):
            person = hook["data"]["identifiers"]["id"]
            per_person[person] = per_person.get(person, 0) + 1
    assert {p["_identities"]["cio_customer_id"][0]: p["cio_events"]["email_opened"]
            for p in profiles} == per_person
    assert len(profiles) == len(per_person) == 7
    with Engine(load_config(config), read_only=True) as eng:
        assert len(eng.store.read_log(0, total + 1)) == total


def test_sighup_swaps_a_good_config_and_keeps_the_old_one_on_a_bad_one(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    daemon = start(config)
    url = "/collect/json/customerio"
    body = json.dumps(_hooks(1, 1))
    try:
        with daemon.client() as c:
            assert c.post(url, content=body, params={"key": "second-token"}).status_code == 401
            good = config.read_text().replace(f'["{TOKEN}"]', f'["{TOKEN}", "second-token"]')
            config.write_text(good)
            daemon.proc.send_signal(signal.SIGHUP)
            daemon.wait_log("config reloaded")
            assert c.post(url, content=body, params={"key": "second-token"}).status_code == 200

            broken_mapping = tmp_path / "broken.yaml"
            shutil.copy(ROOT / "mappings" / "customerio.yaml", broken_mapping)
            broken_mapping.write_text(broken_mapping.read_text().replace(
                "expr: epochms()", "expr: epochs()", 1))
            config.write_text(good.replace(str(ROOT / "mappings" / "customerio.yaml"),
                                           str(broken_mapping)))
            daemon.proc.send_signal(signal.SIGHUP)
            failed = daemon.wait_log("config reload failed; the running config stays")
            assert "epochs" in failed["reason"]

            config.write_text("version: 1\nserver: [not, a, mapping\n")
            daemon.proc.send_signal(signal.SIGHUP)
            daemon.wait_log("config reload failed; the running config stays")
            assert c.post(url, content=body, params={"key": "second-token"}).status_code == 200
            metrics = c.get("/metrics").text
        assert 'engine_config_reloads_total{outcome="ok"} 1.0' in metrics
        assert 'engine_config_reloads_total{outcome="failed"} 2.0' in metrics
    finally:
        daemon.close()


def test_engine_ingest_is_refused_while_the_daemon_runs_and_readers_work(tmp_path: Path
                                                                         ) -> None:
    config = write_config(tmp_path)
    daemon = start(config)
    engine = str(ENGINE)
    try:
        with daemon.client() as c:
            body = json.dumps(_hooks(1, 3))
            r = c.post("/collect/json/customerio", content=body,
                       params={"key": TOKEN, "wait": "applied"})
            assert r.json() == {"accepted": 3, "duplicates": 0}
        fixture = str(ROOT / "tests/fixtures/customerio/email_opened.json")
        busy = subprocess.run([engine, "ingest", "--config", str(config), "--stream",
                               "customerio", fixture], capture_output=True, text=True)
        assert busy.returncode == 3
        assert "in use by another engine process" in busy.stderr
        read = subprocess.run([engine, "profile", "get", "cio_customer_id=usr_1", "--config",
                               str(config)], capture_output=True, text=True)
        assert read.returncode == 0 and '"email_opened": 1' in read.stdout
    finally:
        daemon.close()

"""Big bodies must not freeze the daemon, and one request holds at most so many events.

Found by posting 1 MiB bodies of 349k `{}`: parsing them on the event loop froze `/healthz`
for 4.5 s (5.9 s with four at once). Bodies over 64 KiB are parsed on a worker thread now,
and more than `server.max_events_per_request` events in one body answer 413 `too_many_events`.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from tests.server.conftest import TOKEN, start, write_config

BIG = 349_000  # `{}` events in a 1 MiB body
BODIES = 4


def _body(events: int, tail: bytes = b"") -> bytes:
    return b"[" + b",".join([b"{}"] * events) + tail + b"]"


def test_the_loop_answers_while_big_bodies_are_parsed(tmp_path: Path) -> None:
    # The cap raised so that the bodies are parsed whole; the last item, not an object,
    # refuses each only at the end of the parse, so nothing is logged.
    daemon = start(write_config(tmp_path, extra_server="  max_events_per_request: 1000000",
                                on_undecodable="reject"))
    body = _body(BIG, b",5")
    assert len(body) < 1_048_576

    async def run() -> tuple[list[httpx.Response], list[float]]:
        limits = httpx.Limits(max_connections=BODIES + 1)
        async with httpx.AsyncClient(base_url=daemon.url, timeout=60, limits=limits) as c:
            assert (await c.get("/healthz")).status_code == 200  # connection warm
            posts = [asyncio.create_task(c.post(f"/collect/json/customerio?key={TOKEN}",
                                                content=body)) for _ in range(BODIES)]
            latencies: list[float] = []
            while not all(p.done() for p in posts):
                start = time.perf_counter()
                r = await c.get("/healthz")
                latencies.append(time.perf_counter() - start)
                assert r.status_code == 200
            return [await p for p in posts], latencies

    try:
        answers, latencies = asyncio.run(run())
    finally:
        daemon.close()
    for r in answers:
        assert (r.status_code, r.json()["error"]) == (400, "malformed_body")
        assert f"item {BIG}" in r.json()["message"]
    # Blocked, the loop answered a handful of times, each after a whole parse (seconds);
    # free, hundreds of times, each in milliseconds. Wide margins, for a busy machine.
    assert len(latencies) >= 20, latencies
    assert max(latencies) < 1.0, f"/healthz took {max(latencies):.3f}s"


def test_too_many_events_in_one_request_answer_413(tmp_path: Path) -> None:
    daemon = start(write_config(tmp_path, extra_server="  max_events_per_request: 100"))
    try:
        with daemon.client() as c:
            url = f"/collect/json/customerio?key={TOKEN}"
            for body, content_type in (
                    (_body(BIG), "application/json"),
                    (b"{}\n" * 101, "application/x-ndjson"),
                    (b"{}\n" * 101, "application/json")):
                r = c.post(url, content=body, headers={"content-type": content_type})
                assert r.status_code == 413, r.text
                assert r.json()["error"] == "too_many_events"
                assert "100" in r.json()["message"]
            events = [{"event_id": f"e{i}"} for i in range(100)]
            r = c.post(url, content=json.dumps(events))
            assert r.json() == {"accepted": 100, "duplicates": 0}
            metrics = c.get("/metrics").text
            assert ('engine_requests_rejected_total{code="too_many_events",'
                    'stream="customerio"} 3.0') in metrics
    finally:
        daemon.close()

"""Poison events: one event that cannot be applied must never hold up the others.

Found by posting Customer.io webhooks whose `timestamp` no date can hold (the processor failed
on them forever, every later event waited behind them, a restart replayed them and stuck
again) and by a mapping whose arithmetic left 64 bits (the profile could not be encoded).
Each is now a dead letter with its reason, and the events around it are applied.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from engine import load_config
from engine.engine import Engine
from engine.pipeline.files import read_events
from engine.pipeline.profile import Profile
from tests.helpers import dead_letters, webhook
from tests.server.conftest import ENGINE, TOKEN, start, write_config

# Event times no date can hold, as Customer.io's `timestamp` (epoch seconds).
POISON_TIMES = [9223372036854775807, -62135596801, 18446744073709551615,
                -9223372036854775808, 253402300800000]  # the last: year 10000, in ms


def test_poison_timestamps_become_dead_letters_and_the_daemon_goes_on(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    daemon = start(config)
    try:
        with daemon.client() as c:
            for i, ts in enumerate(POISON_TIMES):
                r = c.post(f"/collect/json/customerio?key={TOKEN}",
                           json=webhook(f"poison{i}", ts))
                assert r.status_code == 200, r.text
            r = c.post(f"/collect/json/customerio?key={TOKEN}&wait=applied",
                       json=webhook("good"))
            assert (r.status_code, r.json()["accepted"]) == (200, 1)
            ready = c.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
        letters = dead_letters(config)
        assert sorted(d["event"]["event_id"] for d in letters) == [
            f"poison{i}" for i in range(len(POISON_TIMES))]
        assert all("outside year 1 to 9999" in d["reason"] for d in letters)
        # A restart does not stick on them either.
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0
        daemon.close()
        daemon = start(config)
        with daemon.client() as c:
            r = c.post(f"/collect/json/customerio?key={TOKEN}&wait=applied",
                       json=webhook("good2"))
            assert r.status_code == 200
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0
    finally:
        daemon.close()
    with Engine(load_config(config), read_only=True) as eng:
        profile = eng.profile("cio_customer_id", "usr_48213")
    assert profile is not None and profile["cio_events"] == {"email_opened": 2}
    assert len(daemon.logs) < 20  # no line per retry: nothing was retried


OVERFLOW_MAPPING = """\
streams:
  - {name: customerio}  # the stock import's stream
  - {name: orders, id: id}
mappings:
  - name: orders
    stream: orders
    into: user
    by: [uid]
    fields:
      - {field: uid, expr: uid, type: string}
      - {field: total, expr: qty * price, type: int}
      - {field: orders, expr: count(uid), type: int}
      - {field: spent, expr: tonumber(amount), type: number, merge: sum}
      - {field: units, expr: toint(qty), type: int, merge: sum}
"""


def _orders_config(directory: Path) -> Path:
    mapping = directory / "orders.yaml"
    mapping.write_text(OVERFLOW_MAPPING)
    return write_config(directory, mapping=mapping)


def test_an_arithmetic_result_past_64_bits_does_not_stall_the_daemon(tmp_path: Path) -> None:
    config = _orders_config(tmp_path)
    daemon = start(config)
    try:
        with daemon.client() as c:
            r = c.post(f"/collect/json/orders?key={TOKEN}",
                       json={"id": "1", "uid": "a", "qty": 2**62, "price": 4})
            assert r.status_code == 200
            r = c.post(f"/collect/json/orders?key={TOKEN}&wait=applied",
                       json={"id": "2", "uid": "b", "qty": 2, "price": 3})
            assert r.status_code == 200
    finally:
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0
        daemon.close()
    with Engine(load_config(config), read_only=True) as eng:
        b = eng.profile("uid", "b")
        a = eng.profile("uid", "a")
    assert b is not None and (b["total"], b["orders"]) == (6, 1)
    # Either the value is refused where it is computed (no total) or the event is a dead
    # letter; never a total the store cannot hold.
    assert a is None or "total" not in a


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "bulk"])
def test_engine_ingest_applies_the_rest_of_a_file_with_poison(tmp_path: Path,
                                                              workers: int) -> None:
    config = write_config(tmp_path)
    lines = [webhook(f"poison{i}", ts) for i, ts in enumerate(POISON_TIMES)]
    lines += [webhook(f"good{i}") for i in range(50)]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(doc) + "\n" for doc in lines))
    out = subprocess.run([str(ENGINE), "ingest", "--config", str(config), "--stream",
                          "customerio", "--workers", str(workers), str(events)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "accepted 55" in out.stdout and "dead letters 5" in out.stdout
    assert len(dead_letters(config)) == 5
    with Engine(load_config(config), read_only=True) as eng:
        profile = eng.profile("cio_customer_id", "usr_48213")
    assert profile is not None and profile["cio_events"] == {"email_opened": 50}


def test_an_event_that_fails_the_commit_is_found_and_dead_lettered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last guard: whatever makes a batch's commit fail (here, a profile the store
    cannot encode) is narrowed down to the one event it comes from."""
    dumps = Profile.dumps

    def refuse_poison(self: Profile) -> bytes:
        doc = dumps(self)
        if b"poison@example.com" in doc:
            raise TypeError("cannot encode this profile")
        return doc

    monkeypatch.setattr(Profile, "dumps", refuse_poison)
    config = load_config(write_config(tmp_path))
    with Engine(config, batch_size=64) as eng:
        events = [webhook(f"e{i}") for i in range(200)]
        for i, doc in enumerate(events):
            doc["data"]["identifiers"] = {"id": f"usr_{i}", "email": f"p{i}@example.com"}
        events[137]["data"]["identifiers"]["email"] = "poison@example.com"
        records = [(None, 0, (json.dumps(e)).encode(), None) for e in events]
        assert eng.log([("customerio", [(e["event_id"], 1769420702000, body, None)
                                        for e, (_k, _t, body, _x) in zip(events, records,
                                                                          strict=True)])])
        stats = eng.drain()
        assert (stats.events, stats.dead_letters) == (200, 1)
        letters = eng.errors()
        assert [d.event["event_id"] for d in letters] == ["e137"]
        assert "TypeError: cannot encode this profile" in letters[0].reason
        assert eng.store.count_profiles() == 199
        assert eng.applied == eng.store.last_seq()


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "bulk"])
def test_a_sum_pushed_past_its_range_does_not_poison_the_profile(tmp_path: Path,
                                                                 workers: int) -> None:
    """Found by two orders of 1e308: their sum, infinity, was written as null, and after a
    restart every later event of the person failed on it. A sum now stops at the edge of
    the range its type stores, whether one profile folds the values or two profiles merge."""
    config = load_config(_orders_config(tmp_path))
    orders = [{"id": "1", "uid": "a", "amount": 1e308, "qty": 2**62, "price": 1},
              {"id": "2", "uid": "a", "amount": 1e308, "qty": 2**62, "price": 1},  # too far
              {"id": "3", "uid": "a", "amount": 5, "qty": 1, "price": 1}]
    for i, order in enumerate(orders):  # one at a time, reopened in between (a restart)
        path = tmp_path / f"orders{i}.jsonl"
        path.write_text(json.dumps(order) + "\n")
        with Engine(config) as eng:
            eng.ingest("orders", read_events([str(path)], parse=workers == 0),
                       workers=workers)
    with Engine(config, read_only=True) as eng:
        profile = eng.profile("uid", "a")
        letters = eng.errors()
    assert profile is not None
    assert (profile["orders"], profile["spent"], profile["units"]) == (
        3, 1.7976931348623157e308, 2**63 - 1)
    assert letters == []

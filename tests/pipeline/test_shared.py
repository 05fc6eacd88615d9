"""Applying delivered batches beside other nodes (docs/scale-out.md): the profiles equal a
single ingest of the same events, a batch delivered twice is a no-op, and one bad event is a
dead letter alone. Runs on every store back end."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine import Config, load_config
from engine.engine import Delivered, Engine
from engine.errors import EngineError
from tests.corpus import profiles, webhooks
from tests.pipeline.conftest import ROOT
from tests.store.conftest import BACKENDS

NOW = 1_772_000_000_000


def _overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return {"storage.path": str(tmp_path / "shared.db")}
    dsn = request.getfixturevalue("postgres_dsn")
    return {"storage.backend": "postgres", "storage.dsn": dsn,
            "storage.schema": request.getfixturevalue("pg_schema")}


@pytest.fixture(params=sorted(BACKENDS))
def shared_config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    return load_config(ROOT / "config.example.yaml", _overrides(request, tmp_path))


@pytest.fixture
def node(shared_config: Config) -> Iterator[Engine]:
    with Engine(shared_config, shared=True, clock=lambda: NOW) as e:
        yield e


def delivered(engine: Engine, events: Sequence[dict[str, Any]], stream: str = "customerio"
              ) -> list[Delivered]:
    """The events as a transport delivers them: keyed, timed, as raw bytes."""
    compiled = engine.config.pipeline.stream(stream)
    assert compiled is not None
    out: list[Delivered] = []
    for n, event in enumerate(events):
        key, ts = compiled.key_and_time(event, NOW)
        out.append((stream, key if key is not None else f"~{n}", ts, orjson.dumps(event)))
    return out


def single_node(events: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    config = load_config(ROOT / "config.example.yaml")
    with Engine(config, store_path=tmp_path / "single.db", clock=lambda: NOW) as e:
        e.ingest("customerio", events)
        return profiles(e)


def test_batches_applied_by_two_nodes_equal_a_single_ingest(
        shared_config: Config, node: Engine, tmp_path: Path) -> None:
    """Taking turns; at the same instant is tests/store/test_postgres_appliers.py. SQLite hands
    out ids and seqs in its one applying process, so there the two are one."""
    events = webhooks(40, 600)
    batches = [delivered(node, events[i:i + 50]) for i in range(0, len(events), 50)]
    two = shared_config.settings.storage.backend != "sqlite"
    with Engine(shared_config, shared=True, clock=lambda: NOW) if two \
            else contextlib.nullcontext(node) as other:
        for n, batch in enumerate(batches):
            (node if n % 2 else other).apply_delivered(batch)
    assert profiles(node) == single_node(events, tmp_path)


def test_a_batch_delivered_again_is_a_no_op(node: Engine) -> None:
    batch = delivered(node, webhooks(5, 30, seed=3))
    stats, duplicates = node.apply_delivered(batch)
    before = profiles(node)
    again, duplicates_again = node.apply_delivered(batch)
    assert (again.events, duplicates_again) == (0, len(batch))
    assert stats.events + duplicates == len(batch)
    assert profiles(node) == before


def test_one_event_the_store_refuses_is_a_dead_letter_and_the_rest_flow_on(
        node: Engine) -> None:
    events = webhooks(3, 8, seed=5)
    events[4]["data"]["identifiers"] = {"id": "usr\u0000nul"}
    batch = delivered(node, events)
    stats, duplicates = node.apply_delivered(batch)
    assert stats.events + duplicates == len(batch)
    letters = node.errors()
    if node.config.settings.storage.backend == "sqlite":
        assert letters == []  # SQLite holds a NUL in text
    else:  # PostgreSQL refuses it: that event alone is set aside, with its body kept
        assert [d.event["event_id"] for d in letters] == [events[4]["event_id"]]
        assert stats.dead_letters == 1
    assert node.profile_count() > 0


def test_only_a_shared_engine_applies_delivered_batches(config: Config,
                                                         tmp_path: Path) -> None:
    with Engine(config, store_path=tmp_path / "e.db") as e, \
            pytest.raises(EngineError, match="shared=True"):
        e.apply_delivered([])


@pytest.mark.parametrize("shared_config", ["postgres"], indirect=True)  # SQLite: one applier
def test_two_nodes_hammering_one_person_and_a_pending_merge_at_once(
        shared_config: Config, tmp_path: Path) -> None:
    """Two appliers, each in a thread with its own connection, apply batches at the same
    instant that all touch one person, and two profiles that a later event merges: the
    claims and row locks serialise what must be, a lost race runs again, and the profiles
    equal a single node's."""
    events: list[dict[str, Any]] = []
    for n in range(240):
        ids: dict[str, Any] = {"id": "usr_hot"} if n % 3 else {"email": "hot@example.com"}
        if n % 40 == 0:  # the pending merge: two people joined by one event, again and again
            ids = {"id": f"usr_a{n}", "email": f"b{n}@example.com"}
        elif n % 40 in (1, 2):
            ids = {"id": f"usr_a{n - n % 40}"} if n % 40 == 1 else {
                "email": f"b{n - n % 40}@example.com"}
        events.append({"event_id": f"h{n:04d}", "object_type": "email", "metric": "opened",
                       "timestamp": 1_769_000_000 + n, "data": {"identifiers": ids}})
    events.append({"event_id": "join", "object_type": "email", "metric": "clicked",
                   "timestamp": 1_769_100_000,
                   "data": {"identifiers": {"id": "usr_hot", "email": "hot@example.com"}}})
    with Engine(shared_config, shared=True, clock=lambda: NOW) as first, \
            Engine(shared_config, shared=True, clock=lambda: NOW) as second:
        batches = [delivered(first, events[i:i + 10]) for i in range(0, len(events), 10)]
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def run(engine: Engine, mine: list[list[Delivered]]) -> None:
            try:
                for batch in mine:
                    barrier.wait(30)  # both apply at the same instant, batch after batch
                    engine.apply_delivered(batch)
            except BaseException as exc:  # surfaced in the test's thread
                failures.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=run, args=(first, batches[0::2])),
                   threading.Thread(target=run, args=(second, batches[1::2]))]
        if len(batches) % 2:  # both sides wait the same number of times
            batches.append([])
            threads[1] = threading.Thread(target=run, args=(second, batches[1::2]))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert failures == []
        assert profiles(first) == single_node(events, tmp_path)
        hot = first.find("cio_customer_id", "usr_hot")
        assert hot is not None and hot.identities["email"] == ["hot@example.com"]

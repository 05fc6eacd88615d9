"""Applying delivered batches beside other nodes (docs/scale-out.md): the profiles equal a
single ingest of the same events, a batch delivered twice is a no-op, and one bad event is a
dead letter alone. Runs on every store back end."""

from __future__ import annotations

import contextlib
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

"""The shipped Customer.io mapping: the YAML and the LQL form behave identically
(docs/customerio.md)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from engine import Config
from engine.errors import EngineError, Source, UnknownName
from engine.lang.compiler import compile_select, select_fields
from engine.lang.nodes import Select
from engine.lang.parser import parse_statements
from engine.lang.values import ms_to_date
from tests.pipeline.conftest import ROOT, fixture_events

SEED_FIELDS = 29
ADDED_FIELDS = ("cio_last_event_ts", "cio_unsubscribed", "cio_unsubscribed_ts",
                "cio_subscription_preferences", "cio_last_failure_message", "cio_id")


def _lql() -> tuple[Select, Source]:
    path = ROOT / "mappings" / "customerio.lql"
    source = Source(str(path), path.read_text())
    (stmt,) = [s for s in parse_statements(source) if isinstance(s, Select)]
    return stmt, source


def _derived(config: Config) -> list[tuple[dict[str, Any], int]]:
    """Every fixture webhook through the customerio_events transform, plus odd variations."""
    stream = config.pipeline.stream("customerio")
    assert stream is not None
    rnd = random.Random(5)
    out: list[tuple[dict[str, Any], int]] = []
    for event in fixture_events():
        _key, ts = stream.key_and_time(event, 0)

        def visit(s: Any, ev: dict[str, Any], ts: int = ts) -> None:
            if s.name == "customerio_events":
                out.append((ev, ts))

        config.pipeline.derive(stream, event, ts, visit)
    base = [ev for ev, _ in out]
    for i in range(300):  # shuffled field values across events: unusual combinations
        ev = {k: rnd.choice(base).get(k) for k in rnd.choice(base)}
        out.append(({k: v for k, v in ev.items() if v is not None}, 1_769_000_000_000 + i * 977))
    return out


def test_yaml_mapping_has_the_seed_rows_first_then_the_added_fields(config: Config) -> None:
    mapping = config.mapping("customerio_users")
    names = [f.name for f in mapping.spec.fields]
    assert len(names) == SEED_FIELDS + len(ADDED_FIELDS)
    assert names[:2] == ["cio_customer_id", "email"]
    assert tuple(names[SEED_FIELDS:]) == ADDED_FIELDS
    assert mapping.spec.by == ("cio_customer_id", "email", "cio_id")
    assert mapping.spec.stream == "customerio_events"


def test_yaml_and_lql_forms_declare_the_same_fields(config: Config) -> None:
    stmt, source = _lql()
    lql = {f.field: f.type for f in select_fields(stmt, source)}
    yaml = {f.name: f.type for f in config.mapping("customerio_users").spec.fields}
    assert lql == yaml
    assert stmt.by == ("cio_customer_id", "email", "cio_id")
    assert (stmt.stream, stmt.alias) == ("customerio_events", "customerio_users")


def test_yaml_and_lql_forms_give_identical_contributions(config: Config) -> None:
    stmt, source = _lql()
    lql = compile_select(stmt, source)
    yaml = config.mapping("customerio_users")
    events = _derived(config)
    assert len(events) > 300
    fired: set[str] = set()
    for ev, ts in events:
        got = yaml.apply(ev, event_time=ms_to_date(ts))
        want = lql.apply(ev, event_time=ms_to_date(ts)) or {}
        assert got == want, ev
        fired.update(got)
    assert len(fired) >= SEED_FIELDS - 1  # in-app bounced never fires (docs/customerio.md)


def test_an_unknown_mapping_is_an_engine_error_naming_the_mappings(config: Config) -> None:
    with pytest.raises(UnknownName, match=r"unknown mapping 'nope'; mappings in the config: "
                                          r".*customerio_users") as caught:
        config.mapping("nope")
    assert isinstance(caught.value, EngineError) and not isinstance(caught.value, KeyError)
    assert "customerio_users" in caught.value.known

"""`ts[]string`: a set of strings with each value's newest event time (docs/pipeline.md), on
every store back end; `capacity` and `keep_days` bound it as they bound other sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.config.model import StorageSpec
from engine.engine import Engine
from engine.errors import ConfigError
from engine.lang.parser import parse_statements
from tests.helpers import mapping_config
from tests.pipeline.conftest import Stores

MAPPING = """\
streams:
  - name: visits
    id: id
    timestamp: ts
mappings:
  - name: users
    stream: visits
    into: user
    by: [user_id]
    fields:
      - {field: user_id, expr: user, type: string}
      - {field: pages, expr: set(page), type: "ts[]string"%s}
"""

DAY = 86_400
T0 = 1_769_000_000
EVENTS: list[dict[str, Any]] = [
    {"id": "a", "ts": T0, "user": "u1", "page": ["/home", "/pricing"]},
    {"id": "b", "ts": T0 + DAY, "user": "u1", "page": "/docs"},
    {"id": "c", "ts": T0 + 5 * DAY, "user": "u1", "page": "/home"},
    # an older event arriving last does not move a newer time back
    {"id": "d", "ts": T0 - DAY, "user": "u1", "page": "/pricing"},
]


def _pages(tmp_path: Path, storage: StorageSpec, options: str = "") -> Any:
    config = mapping_config(tmp_path, MAPPING % options)
    with Engine(config, storage=storage, clock=lambda: (T0 + 10 * DAY) * 1000) as eng:
        eng.ingest("visits", EVENTS)
        profile = eng.profile("user_id", "u1")
    assert profile is not None
    return profile.get("pages")


def test_each_value_keeps_its_newest_event_time(tmp_path: Path, stores: Stores) -> None:
    assert _pages(tmp_path, stores("plain")) == {
        "/docs": "2026-01-22T12:53:20.000Z",
        "/home": "2026-01-26T12:53:20.000Z",
        "/pricing": "2026-01-21T12:53:20.000Z",
    }


def test_keep_days_forgets_values_not_seen_since(tmp_path: Path, stores: Stores) -> None:
    # kept: values seen within 2 days of the profile's newest event
    assert _pages(tmp_path, stores("days"), ", keep_days: 2") == {
        "/home": "2026-01-26T12:53:20.000Z"
    }


def test_capacity_keeps_the_most_recently_seen(tmp_path: Path, stores: Stores) -> None:
    assert _pages(tmp_path, stores("cap"), ", capacity: 2") == {
        "/docs": "2026-01-22T12:53:20.000Z",
        "/home": "2026-01-26T12:53:20.000Z",
    }


def test_audience_filters_read_the_values(tmp_path: Path) -> None:
    extra = (
        "audiences:\n  - name: pricing\n    filter: '\"/pricing\" IN pages'\n"
        "  - name: recent_docs\n    filter: 'pages CONTAINS \"/docs\"'\n"
    )
    config = mapping_config(tmp_path, MAPPING % "", extra=extra)
    with Engine(config, clock=lambda: (T0 + 10 * DAY) * 1000) as eng:
        eng.ingest("visits", EVENTS)
        assert eng.audience_sizes() == {"pricing": 1, "recent_docs": 1}


@pytest.mark.parametrize("merge", ["latest", "sum", "max"])
def test_only_union_merges_it(tmp_path: Path, merge: str) -> None:
    with pytest.raises(ConfigError) as caught:
        mapping_config(tmp_path, MAPPING % f", merge: {merge}")
    assert f"merge `{merge}` is not allowed for a field of type `ts[]string`" in str(caught.value)


def test_an_lql_column_declares_it_with_kind() -> None:
    (select,) = parse_statements(
        "SELECT user AS user_id, set(page) AS pages KIND ts[]string "
        "FROM visits INTO user BY user_id"
    )
    assert select.columns[1].kind == "ts[]string"

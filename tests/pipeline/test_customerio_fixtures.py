"""Every object type and metric Customer.io documents, one fixture each
(tests/fixtures/customerio/metrics/), through the shipped config: the profile each builds on
its own is pinned in tests/fixtures/expected/customerio_metrics.json, and every metric lands in
`cio_last_event_ts` (docs/customerio.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine import Config
from engine.config.model import StorageSpec
from engine.engine import Engine
from engine.lang.values import format_date, ms_to_date
from tests.expected import fields
from tests.pipeline.conftest import EXPECTED, FIXTURES

METRICS = FIXTURES / "metrics"
FILES = sorted(METRICS.glob("*.json"))
WANT: dict[str, dict[str, Any]] = json.loads((EXPECTED / "customerio_metrics.json").read_text())
CLOCK = 1_769_900_000_000

# The object types and metrics of Customer.io's reporting webhooks (docs/customerio.md).
DOCUMENTED = {
    "customer": {"subscribed", "unsubscribed", "cio_subscription_preferences_changed"},
    "email": {
        "drafted",
        "attempted",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "bounced",
        "dropped",
        "deferred",
        "spammed",
        "unsubscribed",
        "failed",
        "undeliverable",
    },
    "push": {
        "drafted",
        "attempted",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "bounced",
        "dropped",
        "failed",
        "undeliverable",
    },
    "in_app": {
        "drafted",
        "attempted",
        "sent",
        "opened",
        "clicked",
        "converted",
        "failed",
        "undeliverable",
    },
    "sms": {
        "drafted",
        "attempted",
        "sent",
        "delivered",
        "clicked",
        "converted",
        "bounced",
        "dropped",
        "failed",
        "undeliverable",
        "replied",
    },
    "slack": {"drafted", "attempted", "sent", "clicked", "converted", "failed", "undeliverable"},
    "webhook": {"drafted", "attempted", "sent", "clicked", "converted", "failed", "undeliverable"},
    "whatsapp": {
        "drafted",
        "attempted",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "bounced",
        "dropped",
        "failed",
        "undeliverable",
        "replied",
    },
}


def _profile(config: Config, folder: Path, event: dict[str, Any]) -> dict[str, Any]:
    """The profile one webhook builds in an empty store, found by its cio_id."""
    storage = StorageSpec(backend="sqlite", path=str(folder / "one.db"))
    with Engine(config, storage=storage, clock=lambda: CLOCK) as eng:
        result = eng.ingest("customerio", [event])
        assert result.accepted == 1 and not result.rejected
        return fields(eng.profile("cio_id", event["data"]["identifiers"]["cio_id"]))


def test_a_fixture_for_every_documented_object_type_and_metric() -> None:
    have: dict[str, set[str]] = {}
    for path in FILES:
        doc = json.loads(path.read_text())
        have.setdefault(doc["object_type"], set()).add(doc["metric"])
    assert have == DOCUMENTED
    assert sorted(WANT) == [p.stem for p in FILES]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_fixture_builds_its_pinned_profile(config: Config, tmp_path: Path, path: Path) -> None:
    event = json.loads(path.read_text())
    got = _profile(config, tmp_path, event)
    assert got == WANT[path.stem]
    key = f"{event['object_type']}_{event['metric']}"
    assert got["cio_last_event_ts"] == {key: format_date(ms_to_date(event["timestamp"] * 1000))}
    assert got["cio_events"] == {key: 1}


def test_every_metric_is_in_cio_last_event_ts_of_one_person(config: Config, tmp_path: Path) -> None:
    events = [json.loads(p.read_text()) for p in FILES if "only" not in p.stem]
    storage = StorageSpec(backend="sqlite", path=str(tmp_path / "all.db"))
    with Engine(config, storage=storage, clock=lambda: CLOCK) as eng:
        eng.ingest("customerio", events)
        profile = fields(eng.profile("cio_id", "e5a7d2000412"))
    keys = {f"{ot}_{m}" for ot, metrics in DOCUMENTED.items() for m in metrics}
    assert set(profile["cio_last_event_ts"]) == keys
    # the newest subscription event is email unsubscribed, after customer subscribed
    assert profile["cio_unsubscribed"] is True
    assert profile["cio_subscription_preferences"] == {
        "topic_1": True,
        "topic_2": False,
        "topic_4": True,
    }


def test_a_webhook_with_only_a_cio_id_makes_a_profile_found_by_it(
    config: Config, tmp_path: Path
) -> None:
    event = json.loads((METRICS / "email_delivered_cio_id_only.json").read_text())
    storage = StorageSpec(backend="sqlite", path=str(tmp_path / "one.db"))
    with Engine(config, storage=storage, clock=lambda: CLOCK) as eng:
        eng.ingest("customerio", [event])
        profile = eng.profile("cio_id", "f0c3b8000777")
    assert profile is not None
    assert profile["_identities"] == {"cio_id": ["f0c3b8000777"]}

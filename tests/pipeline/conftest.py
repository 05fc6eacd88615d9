"""Fixtures for pipeline tests: the shipped Customer.io config over a scratch store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Config, load_config
from engine.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "customerio"
EXPECTED = ROOT / "tests" / "fixtures" / "expected"


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config.example.yaml")


@pytest.fixture
def engine(config: Config, tmp_path: Path) -> Iterator[Engine]:
    with Engine(config, store_path=tmp_path / "engine.db", clock=lambda: 1_769_000_000_000) as e:
        yield e


def webhook(event_id: str, object_type: str, metric: str, timestamp: int,
            **identifiers: Any) -> dict[str, Any]:
    """A Customer.io reporting webhook with the given identifiers (id, email, cio_id)."""
    data: dict[str, Any] = {"identifiers": identifiers}
    if object_type == "email":
        data["subject"] = "Hello"
        data["campaign_id"] = 7
    return {"event_id": event_id, "object_type": object_type, "metric": metric,
            "timestamp": timestamp, "data": data}


def fixture_events() -> list[dict[str, Any]]:
    """Every sample webhook body (the signed example is one too)."""
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]

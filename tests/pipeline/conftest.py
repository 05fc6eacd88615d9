"""Fixtures for pipeline tests: the shipped Customer.io config over a scratch store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Config, load_config
from engine.config.model import StorageSpec
from engine.engine import Engine
from tests.services import drop_schemas, unique_name
from tests.store.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "customerio"
EXPECTED = ROOT / "tests" / "fixtures" / "expected"


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config.example.yaml")


Stores = Callable[[str], StorageSpec]


@pytest.fixture(params=sorted(BACKENDS))
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Fresh, empty stores of one back end, one per name (the pipeline suite runs on every
    back end): an SQLite file under the test's folder, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield lambda name: StorageSpec(backend="sqlite", path=str(tmp_path / f"{name}.db"))
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    made: dict[str, str] = {}

    def make(name: str) -> StorageSpec:
        schema = made.setdefault(name, unique_name("t"))
        return StorageSpec(backend="postgres", dsn=dsn, schema=schema)

    yield make
    drop_schemas(dsn, made.values())


@pytest.fixture
def engine(config: Config, stores: Stores) -> Iterator[Engine]:
    with Engine(config, storage=stores("engine"), clock=lambda: 1_769_000_000_000) as e:
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

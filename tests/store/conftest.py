"""The store contract suite's fixtures: every back end, reached only through `open_store`.

A back end joins the suite by adding a param to `backend` that knows how to name a fresh,
empty store of its own (a file under the test's folder; a schema of its own on a shared
server); the contract tests never see which one they run on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from engine.config.model import StorageSpec
from engine.store import LOCK_KINDS, Store, open_store


@dataclass
class Backend:
    """One fresh store of one back end, to open (and open again) through `open_store`."""

    name: str
    storage: StorageSpec

    def open(self, **options: Any) -> Store:
        return open_store(self.storage, **options)


def _sqlite(request: pytest.FixtureRequest) -> Backend:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return Backend("sqlite", StorageSpec(backend="sqlite", path=str(tmp_path / "store.db")))


def _postgres(request: pytest.FixtureRequest) -> Backend:
    """A schema of its own on the test PostgreSQL (tests/services.py), dropped afterwards."""
    return Backend("postgres", StorageSpec(backend="postgres",
                                           dsn=request.getfixturevalue("postgres_dsn"),
                                           schema=request.getfixturevalue("pg_schema")))


# Each builder asks for the fixtures only its back end needs (a folder; a server and schema).
BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Backend:
    return BACKENDS[request.param](request)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    """A store holding both roles, as `engine ingest` opens it."""
    opened = backend.open(locks=LOCK_KINDS)
    try:
        yield opened
    finally:
        opened.close()

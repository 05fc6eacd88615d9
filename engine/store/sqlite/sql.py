"""Small helpers the SQLite store's tables share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

CHUNK = 500  # host parameters per IN (...) query; SQLite's default limit is far above this


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def marks(chunk: Sequence[Any]) -> str:
    """The ``?, ?, …`` of an ``IN (…)`` list as long as `chunk`."""
    return ",".join("?" * len(chunk))


def scalar(db: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    row = db.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


class Tables:
    """What the table groups of the SQLite store share: its connection and where it is."""

    db: sqlite3.Connection
    path: str

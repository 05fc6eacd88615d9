"""Small helpers the SQLite store's tables share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def immediate(db: sqlite3.Connection) -> Iterator[None]:
    """A read and the write it decides as one step: inside the caller's transaction if there
    is one, else a transaction of their own that takes the write lock before it reads."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class Tables:
    """What the table groups of the SQLite store share: its connection and where it is."""

    db: sqlite3.Connection
    path: str

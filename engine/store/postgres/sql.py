"""What the PostgreSQL store's tables share: the connection, where it is, and lock keys."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import psycopg

Connection = psycopg.Connection[tuple[Any, ...]]

_URI_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^@/?#]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def masked(dsn: str) -> str:
    """The DSN as messages may show it: its password, if any, replaced by ``***``."""
    return _KEYWORD_PASSWORD.sub(r"\g<1>***", _URI_PASSWORD.sub(r"\g<1>***@", dsn))


def lock_key(schema: str, *parts: str) -> int:
    """A PostgreSQL advisory lock key: a stable signed 64-bit hash of the schema and `parts`,
    the same in every process (Python's `hash` is salted per process)."""
    text = "\x1f".join((schema, *parts)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


class Tables:
    """What the table groups of the PostgreSQL store share: its connection, its schema and
    where it is (the DSN without its password, for messages)."""

    schema: str
    where: str

    @property
    def conn(self) -> Connection:
        """The live session (the store opens a new one after a lost one)."""
        raise NotImplementedError

    def _scalar(self, query: Any, params: Any = None) -> int:
        row = self.conn.execute(query, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

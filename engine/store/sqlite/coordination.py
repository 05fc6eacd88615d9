"""The SQLite store's share of coordination: nodes seen, singletons and shared token buckets.

One machine runs the engine on an SQLite store, but several processes may still open it (a
daemon and `engine export run`, say): singletons are `flock` locks on files beside the store,
released by the kernel when their process dies, and buckets are rows, so a rate limit holds
across those processes too.
"""

from __future__ import annotations

import fcntl
import re
from pathlib import Path
from typing import IO

from engine.store.base import refill
from engine.store.sqlite.errors import translated
from engine.store.sqlite.sql import Tables, immediate


class CoordinationTables(Tables):
    _singletons: dict[str, IO[str]]

    @translated
    def heartbeat(self, node: str, role: str, now: int) -> None:
        self.db.execute(
            "INSERT INTO nodes(name, role, seen) VALUES (?, ?, ?) ON CONFLICT(name) "
            "DO UPDATE SET role = excluded.role, seen = MAX(nodes.seen, excluded.seen)",
            (node, role, now))

    @translated
    def live_nodes(self, since: int) -> list[tuple[str, str, int]]:
        return self.db.execute("SELECT name, role, seen FROM nodes WHERE seen >= ? "
                               "ORDER BY name", (since,)).fetchall()

    def hold_singleton(self, name: str) -> bool:
        if name in self._singletons:
            return True
        if self.path == ":memory:":  # a store no other process can open
            self._singletons[name] = open("/dev/null")  # noqa: SIM115 -- held until release
            return True
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        handle = Path(f"{self.path}.{safe}.singleton").open("a+")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._singletons[name] = handle
        return True

    def release_singleton(self, name: str) -> None:
        handle = self._singletons.pop(name, None)
        if handle is not None:
            handle.close()  # closing the file releases its lock

    def release_singletons(self) -> None:
        for name in list(self._singletons):
            self.release_singleton(name)

    @translated
    def take_tokens(self, bucket: str, n: int, rate: float, burst: int, now: int) -> int:
        with immediate(self.db):
            row = self.db.execute("SELECT tokens, at FROM buckets WHERE name = ?",
                                  (bucket,)).fetchone()
            tokens, at = (float(burst), now) if row is None else (float(row[0]), int(row[1]))
            left, wait = refill(tokens, at, n, rate, burst, now)
            self.db.execute(
                "INSERT INTO buckets(name, tokens, at) VALUES (?, ?, ?) ON CONFLICT(name) "
                "DO UPDATE SET tokens = excluded.tokens, at = excluded.at",
                (bucket, left, max(now, at)))
        return wait

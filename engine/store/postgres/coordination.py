"""The PostgreSQL store's share of coordination: nodes seen, roles and singletons, and shared
token buckets.

Roles (`LOCK_KINDS`) and singletons are session-level advisory locks on keys derived from the
schema and the name: PostgreSQL releases them when the session ends, however its process died,
and the next holder's try takes them. Buckets are rows, locked while one node takes tokens, so
that a rate limit holds across every node together.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import RuntimeFailure
from engine.store.base import refill
from engine.store.postgres.errors import translated
from engine.store.postgres.sql import Connection, Tables, lock_key


class CoordinationTables(Tables):
    _singletons: dict[str, int]
    _roles: list[str]  # held, to take again on a new session after a lost one

    @translated
    def heartbeat(self, node: str, role: str, now: int) -> None:
        self.conn.execute(
            "INSERT INTO nodes(name, role, seen) VALUES (%s, %s, %s) ON CONFLICT (name) "
            "DO UPDATE SET role = excluded.role, seen = GREATEST(nodes.seen, excluded.seen)",
            (node, role, now))

    @translated
    def live_nodes(self, since: int) -> list[tuple[str, str, int]]:
        return self.conn.execute("SELECT name, role, seen FROM nodes WHERE seen >= %s "
                                 "ORDER BY name", (since,)).fetchall()

    @translated
    def hold_singleton(self, name: str) -> bool:
        conn = self.conn  # first: a new session after a lost one forgets what the old held
        if name in self._singletons:
            return True  # a session lock taken twice would need two unlocks
        key = lock_key(self.schema, "singleton", name)
        if not _try_lock(conn, key):
            return False
        self._singletons[name] = key
        return True

    @translated
    def release_singleton(self, name: str) -> None:
        key = self._singletons.pop(name, None)
        if key is not None:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    @translated
    def take_roles(self, kinds: Sequence[str], *, wait: bool) -> None:
        """Hold the roles of `kinds` for this session (`open_store`'s `locks`); with `wait`,
        wait for a holder to let go instead of failing."""
        for kind in kinds:
            if kind not in self._roles:
                self._lock_role(self.conn, kind, wait=wait)
                self._roles.append(kind)

    def _lock_role(self, conn: Connection, kind: str, *, wait: bool) -> None:
        key = lock_key(self.schema, "role", kind)
        if wait:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        elif not _try_lock(conn, key):
            raise RuntimeFailure(
                f"the store at {self.where} is in use by another engine process "
                f"({self._holder(conn, key)} holds its {kind!r} role); stop it, or send "
                "events to its collect API")

    def _holder(self, conn: Connection, key: int) -> str:
        """Who holds an advisory lock, as far as the server tells: its client's address and
        the process id of its server session."""
        row = conn.execute(
            "SELECT a.pid, COALESCE(host(a.client_addr), 'local') FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.objsubid = 1 AND l.classid::bigint = %s "
            "AND l.objid::bigint = %s LIMIT 1",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
        return "unknown" if row is None else f"the session of pid {row[0]} from {row[1]}"

    @translated
    def take_tokens(self, bucket: str, n: int, rate: float, burst: int, now: int) -> int:
        with self.conn.transaction():  # a savepoint inside the caller's transaction
            self.conn.execute("INSERT INTO buckets(name, tokens, at) VALUES (%s, %s, %s) "
                              "ON CONFLICT (name) DO NOTHING", (bucket, float(burst), now))
            row = self.conn.execute("SELECT tokens, at FROM buckets WHERE name = %s "
                                    "FOR UPDATE", (bucket,)).fetchone()
            assert row is not None  # inserted above, and buckets are never deleted
            tokens, at = float(row[0]), int(row[1])
            left, wait = refill(tokens, at, n, rate, burst, now)
            self.conn.execute("UPDATE buckets SET tokens = %s, at = %s WHERE name = %s",
                              (left, max(now, at), bucket))
        return wait


def _try_lock(conn: Connection, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])

"""The shared store: the event log, profiles and identities in PostgreSQL, under one schema.

One connection per `Store` (`connect()` opens another). Outside `transaction()` each call
commits on its own; inside, everything is one PostgreSQL transaction. A lost session (the
server restarted, the session terminated) fails the call that finds it, and the next call
outside a transaction opens a new one (docs/store.md "Reconnecting"). Seqs and profile ids come
from sequences, so any number of processes may append and apply at once: appliers side by side
claim identities (transaction-level advisory locks, in one order) and lock the profile rows
they read (docs/store.md "PostgreSQL").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from engine.errors import StoreUnavailable
from engine.store.base import DeadLetterRow, Durability, LogRow, NewEvent, Store
from engine.store.postgres.audiences import AudienceTables
from engine.store.postgres.coordination import CoordinationTables
from engine.store.postgres.errors import Failure, translate, translated
from engine.store.postgres.exports import ExportTables
from engine.store.postgres.schema import migrate
from engine.store.postgres.sql import Connection, lock_key, masked

SYNCHRONOUS_COMMIT: dict[Durability, str] = {"power-cut": "on", "crash": "off"}
# An unreachable server fails a connect after this long (libpq's least is 2 s), not after the
# operating system's TCP timeout: a node finds out fast, and so does its /readyz.
_CONNECT_TIMEOUT_S = 3

# Rows in input order (the ordinality), each with the next seq; a key the log holds already,
# or an earlier row of the same insert holds, is skipped and returns nothing.
_APPEND = """
    INSERT INTO events(stream, key, ts, received, body)
    SELECT %(stream)s, e.key, e.ts, %(received)s, e.body
    FROM unnest(%(keys)s::text[], %(ts)s::bigint[], %(bodies)s::bytea[])
         WITH ORDINALITY AS e(key, ts, body, n)
    ORDER BY e.n
    ON CONFLICT (stream, key) WHERE key IS NOT NULL DO NOTHING
    RETURNING seq, stream, key, ts, received, body
"""


class PostgresStore(AudienceTables, ExportTables, CoordinationTables, Store):
    """The PostgreSQL back end of `Store`; `open_store` makes one."""

    def __init__(self, dsn: str, schema: str, *, durability: Durability = "power-cut",
                 locks: Sequence[str] = (), wait_for_locks: bool = False) -> None:
        self.dsn = dsn
        self.schema = schema
        self.where = f"{masked(dsn)} (schema {schema})"
        self.synchronous_commit = SYNCHRONOUS_COMMIT[durability]
        self._sync_now = self.synchronous_commit  # differs inside `deferred_sync`
        self._singletons = {}
        self._roles = []
        self._wait_for_roles = wait_for_locks
        self._depth = 0  # transaction() blocks open: no reconnecting inside one
        self._closed = False
        self._conn = self._open()
        try:
            migrate(self._conn, schema, self.where)
            if locks:
                self.take_roles(locks, wait=wait_for_locks)
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, Failure):
                raise translate(exc, self.where) from exc
            raise

    def _open(self) -> Connection:
        """A new session with this store's settings."""
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot open the store at {self.where}: "
                                   f"{str(exc).strip().splitlines()[0]}") from exc
        try:
            _set(conn, "search_path", self.schema, identifier=True)
            _set(conn, "synchronous_commit", self._sync_now)
        except psycopg.Error as exc:
            conn.close()
            raise translate(exc, self.where) from exc
        return conn

    @property
    def conn(self) -> Connection:
        """The session; a lost one is replaced here, but never inside a transaction, whose
        work went with it (its caller sees `StoreUnavailable` and runs it again)."""
        if self._conn.broken and self._depth == 0 and not self._closed:
            self._reconnect()
        return self._conn

    def _reconnect(self) -> None:
        """Open a new session and take back what the lost one held: its roles (waiting for
        them as it did at first). Its singletons were released with it, and another node may
        hold them now: they are forgotten, so that `hold_singleton` tries again for real."""
        conn = self._open()
        self._singletons.clear()
        try:
            for kind in self._roles:
                self._lock_role(conn, kind, wait=self._wait_for_roles)
        except BaseException as exc:
            conn.close()  # the next call tries again
            if isinstance(exc, psycopg.Error):
                raise translate(exc, self.where) from exc
            raise
        self._conn.close()
        self._conn = conn

    # ---- connections and transactions

    def connect(self) -> PostgresStore:
        return PostgresStore(self.dsn, self.schema)

    def spill_directory(self) -> Path | None:
        return None  # the data is on the server: a bulk load spills to the temp folder

    def close(self) -> None:
        self._closed = True
        try:
            if not self._conn.closed:
                # released now, not whenever the server notices the session ended: the next
                # holder may try at once
                self._conn.execute("SELECT pg_advisory_unlock_all()")
        except psycopg.Error:
            pass  # closing releases them too
        finally:
            self._singletons.clear()
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self.conn  # reconnected here, if the session was lost outside a transaction
        self._depth += 1
        try:
            with conn.transaction():
                yield
        except psycopg.Error as exc:  # the commit, or the rollback of a broken connection
            raise translate(exc, self.where) from exc
        finally:
            self._depth -= 1

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Commits that wait for no disk flush until the block ends (``synchronous_commit``
        off): the WAL is flushed in order, so the first flushed commit after the block makes
        every earlier one durable too. A crash of the server may lose the latest ones, none
        of which were acknowledged."""
        self._setting("off")
        try:
            yield
        finally:
            self._setting(self.synchronous_commit)

    @translated
    def _setting(self, value: str) -> None:
        self._sync_now = value  # a new session after a lost one starts with it too
        _set(self.conn, "synchronous_commit", value)

    # ---- the event log

    @translated
    def append_events(self, stream: str, received: int, events: Sequence[NewEvent]
                      ) -> list[LogRow]:
        if not events:
            return []
        rows = self.conn.execute(_APPEND, {
            "stream": stream, "received": received, "keys": [e[0] for e in events],
            "ts": [e[1] for e in events], "bodies": [e[2] for e in events]}).fetchall()
        rows.sort()  # by seq, which follows the input order
        return rows

    @translated
    def read_log(self, after: int, limit: int, *, stream: str | None = None,
                 since_ms: int | None = None) -> list[LogRow]:
        return self.conn.execute(
            "SELECT seq, stream, key, ts, received, body FROM events WHERE seq > %s "
            "AND (%s::text IS NULL OR stream = %s) AND (%s::bigint IS NULL OR ts >= %s) "
            "ORDER BY seq LIMIT %s",
            (after, stream, stream, since_ms, since_ms, limit)).fetchall()

    @translated
    def event(self, seq: int) -> LogRow | None:
        row = self.conn.execute(
            "SELECT seq, stream, key, ts, received, body FROM events WHERE seq = %s",
            (seq,)).fetchone()
        return None if row is None else tuple(row)

    @translated
    def last_seq(self) -> int:
        return self._scalar("SELECT COALESCE(MAX(seq), 0) FROM events")

    @translated
    def log_counts(self, upto: int | None = None) -> dict[str, int]:
        if upto is None:
            rows = self.conn.execute("SELECT stream, COUNT(*) FROM events GROUP BY stream")
        else:
            rows = self.conn.execute("SELECT stream, COUNT(*) FROM events WHERE seq <= %s "
                                     "GROUP BY stream", (upto,))
        return {stream: int(n) for stream, n in rows.fetchall()}

    @translated
    def prune_log(self, before_ms: int) -> int:
        cursor = self.conn.execute(
            "DELETE FROM events v WHERE received < %s "
            "AND NOT EXISTS (SELECT 1 FROM errors e WHERE e.seq = v.seq)", (before_ms,))
        return cursor.rowcount

    @translated
    def position(self, name: str) -> int:
        return self._scalar("SELECT seq FROM positions WHERE name = %s", (name,))

    @translated
    def set_position(self, name: str, seq: int) -> None:
        self.conn.execute(
            "INSERT INTO positions(name, seq) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq", (name, seq))
        # No new event may get a seq a position has passed. A position ahead of the log is
        # rare (the log is a copy, read from elsewhere); the sequence only moves forward here.
        self.conn.execute("SELECT setval('event_seqs', %s) FROM event_seqs "
                          "WHERE last_value < %s", (seq, seq))

    # ---- identities

    @translated
    def lookup_identities(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        pairs = list(pairs)
        if not pairs:
            return {}
        rows = self.conn.execute(
            "SELECT i.field, i.value, i.profile_id FROM identities i "
            "JOIN unnest(%s::text[], %s::text[]) AS p(field, value) "
            "ON i.field = p.field AND i.value = p.value",
            ([f for f, _v in pairs], [v for _f, v in pairs]))
        return {(f, v): pid for f, v, pid in rows}

    @translated
    def identity_merges(self, field: str, value: str) -> int:
        return self._scalar("SELECT merges FROM identities WHERE field = %s AND value = %s",
                            (field, value))

    @translated
    def put_identities(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO identities(field, value, profile_id, merges) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (field, value) DO UPDATE SET "
                "profile_id = excluded.profile_id, "
                "merges = GREATEST(identities.merges, excluded.merges)", list(rows))

    @translated
    def find_profile(self, field: str, value: str) -> int | None:
        row = self.conn.execute("SELECT profile_id FROM identities WHERE field = %s "
                                "AND value = %s", (field, value)).fetchone()
        return None if row is None else int(row[0])

    # ---- profiles

    @translated
    def new_profile_id(self) -> int:
        return self._scalar("SELECT nextval('profile_ids')")

    @translated
    def claim_identities(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Transaction-level advisory locks on the identities' keys, taken in ascending key
        order so that two claimers never wait on each other in a cycle."""
        keys = sorted({lock_key(self.schema, "identity", f, v) for f, v in pairs})
        if keys:
            self.conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) "
                              "WITH ORDINALITY AS t(k, n) ORDER BY n", (keys,))

    @translated
    def load_profiles(self, ids: Sequence[int], *, lock: bool = False) -> dict[int, bytes]:
        if not ids:
            return {}
        if lock:  # in id order: two lockers of overlapping sets never wait in a cycle
            rows = self.conn.execute("SELECT id, doc FROM profiles WHERE id = ANY(%s::bigint[]) "
                                     "ORDER BY id FOR UPDATE", (list(ids),))
        else:
            rows = self.conn.execute("SELECT id, doc FROM profiles "
                                     "WHERE id = ANY(%s::bigint[])", (list(ids),))
        return dict(rows.fetchall())

    @translated
    def put_profiles(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO profiles(id, updated, doc) VALUES (%s, %s, %s) ON CONFLICT (id) "
                "DO UPDATE SET updated = excluded.updated, doc = excluded.doc", list(rows))

    @translated
    def delete_profiles(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if ids:
            self.conn.execute("DELETE FROM profiles WHERE id = ANY(%s::bigint[])", (ids,))

    def iter_profiles(self, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        after = 0
        while rows := self._profile_page(after, batch):
            yield from rows
            after = rows[-1][0]

    @translated
    def _profile_page(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        return self.conn.execute("SELECT id, doc FROM profiles WHERE id > %s ORDER BY id "
                                 "LIMIT %s", (after, limit)).fetchall()

    @translated
    def count_profiles(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM profiles")

    @translated
    def reset_profiles(self) -> None:
        self.conn.execute("DELETE FROM profiles")
        self.conn.execute("DELETE FROM identities")
        self.conn.execute("DELETE FROM errors")
        # memberships stay: a replay re-evaluates every profile, and only real differences
        # become enter or exit changes (docs/pipeline.md)
        self.conn.execute("DELETE FROM audience_checks")
        self.conn.execute("ALTER SEQUENCE profile_ids RESTART WITH 1")

    # ---- dead letters

    @translated
    def add_errors(self, rows: Iterable[tuple[int, str, str, int]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO errors(seq, stream, reason, recorded) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (seq) DO UPDATE SET reason = excluded.reason, "
                "recorded = excluded.recorded", list(rows))

    @translated
    def iter_errors(self, *, stream: str | None = None, after: int = 0, limit: int = 1000
                    ) -> list[DeadLetterRow]:
        return self.conn.execute(
            "SELECT e.seq, e.stream, e.reason, e.recorded, v.ts, v.body FROM errors e "
            "JOIN events v ON v.seq = e.seq WHERE e.seq > %s "
            "AND (%s::text IS NULL OR e.stream = %s) ORDER BY e.seq LIMIT %s",
            (after, stream, stream, limit)).fetchall()

    @translated
    def take_errors(self, seqs: Sequence[int]) -> list[int]:
        rows = self.conn.execute(
            "DELETE FROM errors WHERE seq = ANY(%s) RETURNING seq", (list(seqs),)).fetchall()
        return sorted(row[0] for row in rows)

    @translated
    def count_errors(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM errors")

    @translated
    def error_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT stream, COUNT(*) FROM errors GROUP BY stream")
        return {stream: int(n) for stream, n in rows.fetchall()}


def _set(conn: Connection, name: str, value: str, *, identifier: bool = False) -> None:
    conn.execute(sql.SQL("SET {} TO {}").format(
        sql.Identifier(name), sql.Identifier(value) if identifier else sql.Literal(value)))

"""The embedded store: profiles and identities in one SQLite file, the event log in another
beside it (WAL mode both).

One writer connection. Everything a batch of events changes — log rows, profiles, identities and
the processed position — is written inside one transaction (docs/store.md), and each commit is
fsync'd (``synchronous=FULL``) unless the store was opened for "crash" durability, so an
acknowledged batch survives kill -9 and a crash replays nothing twice. Seqs and profile ids are
handed out in this process: one process at a time writes the log and one applies it
(`StoreLock`, taken by `engine.store.open_store`).
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from engine.errors import StoreUnavailable
from engine.store.base import DeadLetterRow, Durability, LogRow, NewEvent, Store
from engine.store.sqlite.audiences import AudienceTables
from engine.store.sqlite.coordination import CoordinationTables
from engine.store.sqlite.errors import translated
from engine.store.sqlite.exports import ExportTables
from engine.store.sqlite.files import log_file
from engine.store.sqlite.lock import StoreLock
from engine.store.sqlite.schema import LOG_MIGRATIONS, migrate, move_log
from engine.store.sqlite.sql import chunks, marks, scalar

SYNCHRONOUS: dict[Durability, str] = {"power-cut": "FULL", "crash": "NORMAL"}
ROWS_PER_INSERT = 500  # log rows per INSERT statement
LOG_PAGE_BYTES = 16384  # the page size of a new event log file
STORE_CACHE_KIB = 65536  # page cache of the store's file, per connection
LOG_CACHE_KIB = 16384  # and of the log's file


@functools.lru_cache(maxsize=64)
def _insert(rows: int, *, ignore: bool) -> str:
    """One INSERT of `rows` log rows: SQLite steps it once, where `executemany` steps (and
    lets go of the interpreter lock, then waits to take it back) once per row."""
    verb = "INSERT OR IGNORE" if ignore else "INSERT"
    return (f"{verb} INTO events(seq, stream, key, ts, received, body) VALUES "
            + ",".join(["(?, ?, ?, ?, ?, ?)"] * rows))


def _uri(path: str, *, read_only: bool) -> str:
    return f"file:{pathname2url(os.path.abspath(path))}{'?mode=ro' if read_only else ''}"


class SqliteStore(AudienceTables, ExportTables, CoordinationTables, Store):
    """The SQLite back end of `Store`; `open_store` makes one.

    The event log is a database file of its own (`log_file`), so that its writer and the
    applier of the log each take the write lock of their own file and never wait for the
    other. One connection reaches both, the other file attached, and the tables are named
    unqualified. A connection that writes the log has the log as its main database, so a
    commit that changes both files makes the log durable first: a crash in between leaves
    events logged but not applied, which the next drain applies. A file the store does not
    write is attached read-only, so that its transactions only read it.
    """

    def __init__(self, path: str | Path, *, durability: Durability = "power-cut",
                 background_checkpoints: bool = False, lock: StoreLock | None = None,
                 writes_log: bool = False, writes_store: bool = True) -> None:
        self.path = str(path)
        self.synchronous = SYNCHRONOUS[durability]
        self.background_checkpoints = background_checkpoints
        self._lock = lock
        self._singletons = {}
        memory = self.path == ":memory:"
        self.writes_log = writes_log or memory
        try:
            if memory:
                self.db = self._connect(":memory:")
                migrate(self.db, self.path)
                migrate(self.db, self.path, LOG_MIGRATIONS, versioned=False)
                # the databases this connection writes: schema -> (file, page cache in KiB)
                self._written: dict[str, tuple[str | None, int]] = {
                    "main": (None, STORE_CACHE_KIB)}
            else:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._prepare()
                self.db = self._open(writes_store)
            for schema, (_file, kib) in self._written.items():
                self.db.execute(f"PRAGMA {schema}.synchronous={self.synchronous}")
                self.db.execute(f"PRAGMA {schema}.cache_size=-{kib}")
            self.db.execute("PRAGMA busy_timeout=10000")
            # With background checkpoints a `Checkpointer` copies the WAL into the database
            # beside the writers, so that no commit waits for a checkpoint (the daemon's latency).
            every = 0 if background_checkpoints else 16384
            self.db.execute(f"PRAGMA wal_autocheckpoint={every}")
            # Past every logged event and every position: a batch of duplicates leaves its
            # reserved seqs unused, and no new event may ever get a seq a position has passed.
            self._next_seq = scalar(self.db,
                                    "SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM events), "
                                    "(SELECT COALESCE(MAX(seq), 0) FROM positions)) + 1")
            # Profile ids never repeat, even after the newest profile was merged away.
            self._next_profile = max(
                scalar(self.db, "SELECT COALESCE(MAX(id), 0) + 1 FROM profiles"),
                scalar(self.db, "SELECT value FROM counters WHERE name = 'next_profile'"))
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"cannot open the store at {self.path}: {exc}") from exc

    @staticmethod
    def _connect(path: str) -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False, uri=True)

    def _prepare(self) -> None:
        """Create or migrate both files, each in WAL mode, the log's rows moved first
        (`move_log`), on connections of their own that write both."""
        log = self._connect(_uri(log_file(self.path), read_only=False))
        try:
            log.execute("PRAGMA busy_timeout=10000")
            # Log rows are bodies of about a kilobyte, appended in seq order: larger pages
            # hold more of them per B-tree page, about a sixth less work per append. Only a
            # new file takes it; an existing one keeps the size it was made with.
            log.execute(f"PRAGMA page_size={LOG_PAGE_BYTES}")
            log.execute("PRAGMA journal_mode=WAL")
            migrate(log, log_file(self.path), LOG_MIGRATIONS)
            log.execute("ATTACH DATABASE ? AS store", (_uri(self.path, read_only=False),))
            log.execute("PRAGMA store.journal_mode=WAL")
            move_log(log)
        finally:
            log.close()
        store = self._connect(_uri(self.path, read_only=False))
        try:
            store.execute("PRAGMA busy_timeout=10000")
            migrate(store, self.path)
        finally:
            store.close()

    def _open(self, writes_store: bool) -> sqlite3.Connection:
        """The store's connection: the log as its main database when it writes the log."""
        log, store = log_file(self.path), self.path
        # The log is appended and read in seq order: it needs less cache than profiles.
        if self.writes_log:
            db = self._connect(_uri(log, read_only=False))
            db.execute("ATTACH DATABASE ? AS store", (_uri(store, read_only=not writes_store),))
            self._written = {"main": (log, LOG_CACHE_KIB)}
            if writes_store:
                self._written["store"] = (store, STORE_CACHE_KIB)
        else:
            db = self._connect(_uri(store, read_only=False))
            db.execute("ATTACH DATABASE ? AS log", (_uri(log, read_only=True),))
            self._written = {"main": (store, STORE_CACHE_KIB)}
        return db

    # ---- connections and transactions

    def connect(self) -> SqliteStore:
        # `:memory:` is one database per connection: another connection starts empty.
        # It writes what is not the log: the outbox, job states (an export runner's).
        return SqliteStore(self.path, background_checkpoints=self.background_checkpoints)

    def spill_directory(self) -> Path | None:
        return None if self.path == ":memory:" else Path(self.path).parent

    def close(self) -> None:
        try:
            self.release_singletons()
            self.db.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        seq, profile = self._next_seq, self._next_profile
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the store at {self.path} is not writable: {exc}") from exc
        try:
            yield
            if self._next_profile != profile:  # only the connection that made profiles says
                self._save_next_profile()
            self._execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # a failed COMMIT may have rolled back already
                self._execute("ROLLBACK")
            self._next_seq, self._next_profile = seq, profile
            raise

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Commits without fsync until the block ends (WAL, ``synchronous=NORMAL``).

        For a bulk load that acknowledges nothing before the block has ended: then each
        write-ahead log the block wrote is fsync'd, and since a WAL is sequential that makes
        every commit in it durable. (One fsync'd commit used to do it, but the log is a file
        of its own now, and the commit after a bulk load's logging writes only profiles.)
        A killed process loses nothing either way; only a power cut before the end can
        lose commits, and none of them had been acknowledged.
        """
        for schema in self._written:
            self._execute(f"PRAGMA {schema}.synchronous=NORMAL")
        try:
            yield
        finally:
            for schema in self._written:
                self._execute(f"PRAGMA {schema}.synchronous={self.synchronous}")
        if self.synchronous == SYNCHRONOUS["power-cut"]:
            self._sync_wals()

    def _sync_wals(self) -> None:
        for path, _kib in self._written.values():
            if path is None:  # in memory
                continue
            try:
                fd = os.open(f"{path}-wal", os.O_RDONLY)
            except FileNotFoundError:  # checkpointed and removed: the database file has it
                continue
            try:
                os.fsync(fd)
            except OSError as exc:
                raise StoreUnavailable(f"the store at {self.path} could not be made "
                                       f"durable: {exc}") from exc
            finally:
                os.close(fd)

    @translated
    def _execute(self, sql: str) -> None:
        self.db.execute(sql)

    @translated
    def _save_next_profile(self) -> None:
        self.db.execute(
            "INSERT INTO counters(name, value) VALUES ('next_profile', ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (self._next_profile,))

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> int:
        return scalar(self.db, sql, params)

    # ---- the event log

    @translated
    def append_events(self, stream: str, received: int, events: Sequence[NewEvent]
                      ) -> list[LogRow]:
        if not events:
            return []
        first = self._next_seq
        self._next_seq += len(events)
        rows = [(first + n, stream, key, ts, received, body)
                for n, (key, ts, body) in enumerate(events)]
        # The unique (stream, key) index drops what the log already holds; the change count
        # tells whether any row was dropped (rarely), and then the seqs that made it in.
        ignore = any(event[0] is not None for event in events)
        before = self.db.total_changes
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start:start + ROWS_PER_INSERT]
            self.db.execute(_insert(len(chunk), ignore=ignore),
                            [value for row in chunk for value in row])
        if self.db.total_changes - before == len(rows):
            return rows
        found = {r[0] for r in self.db.execute(
            "SELECT seq FROM events WHERE seq BETWEEN ? AND ?", (first, rows[-1][0]))}
        return [row for row in rows if row[0] in found]

    @translated
    def read_log(self, after: int, limit: int, *, stream: str | None = None,
                 since_ms: int | None = None) -> list[LogRow]:
        sql = "SELECT seq, stream, key, ts, received, body FROM events WHERE seq > ?"
        params: list[Any] = [after]
        if stream is not None:
            sql += " AND stream = ?"
            params.append(stream)
        if since_ms is not None:
            sql += " AND ts >= ?"
            params.append(since_ms)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return list(self.db.execute(sql, params))

    @translated
    def event(self, seq: int) -> LogRow | None:
        row = self.db.execute(
            "SELECT seq, stream, key, ts, received, body FROM events WHERE seq = ?",
            (seq,)).fetchone()
        return None if row is None else tuple(row)

    @translated
    def last_seq(self) -> int:
        return self._scalar("SELECT COALESCE(MAX(seq), 0) FROM events")

    @translated
    def log_counts(self, upto: int | None = None) -> dict[str, int]:
        sql = "SELECT stream, COUNT(*) FROM events"
        params: tuple[int, ...] = ()
        if upto is not None:
            sql += " WHERE seq <= ?"
            params = (upto,)
        return dict(self.db.execute(sql + " GROUP BY stream", params).fetchall())

    @translated
    def prune_log(self, before_ms: int) -> int:
        cursor = self.db.execute(
            "DELETE FROM events WHERE received < ? AND seq NOT IN (SELECT seq FROM errors)",
            (before_ms,))
        return cursor.rowcount

    @translated
    def position(self, name: str) -> int:
        return self._scalar("SELECT seq FROM positions WHERE name = ?", (name,))

    @translated
    def set_position(self, name: str, seq: int) -> None:
        self.db.execute(
            "INSERT INTO positions(name, seq) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq", (name, seq))

    # ---- identities

    @translated
    def lookup_identities(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        by_field: dict[str, list[str]] = {}
        for f, v in pairs:
            by_field.setdefault(f, []).append(v)
        found: dict[tuple[str, str], int] = {}
        for f, values in by_field.items():
            for chunk in chunks(values):
                rows = self.db.execute(
                    "SELECT value, profile_id FROM identities "  # noqa: S608
                    f"WHERE field = ? AND value IN ({marks(chunk)})", (f, *chunk))
                for value, pid in rows:
                    found[(f, value)] = pid
        return found

    @translated
    def identity_merges(self, field: str, value: str) -> int:
        return self._scalar("SELECT merges FROM identities WHERE field = ? AND value = ?",
                            (field, value))

    @translated
    def put_identities(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        self.db.executemany(
            "INSERT INTO identities(field, value, profile_id, merges) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(field, value) DO UPDATE SET profile_id = excluded.profile_id, "
            "merges = MAX(identities.merges, excluded.merges)", rows)

    @translated
    def find_profile(self, field: str, value: str) -> int | None:
        row = self.db.execute("SELECT profile_id FROM identities WHERE field = ? AND value = ?",
                              (field, value)).fetchone()
        return None if row is None else int(row[0])

    # ---- profiles

    def new_profile_id(self) -> int:
        pid = self._next_profile
        self._next_profile += 1
        return pid

    def claim_identities(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Nothing to hold: one process at a time applies an SQLite store (`StoreLock`)."""

    @translated
    def load_profiles(self, ids: Sequence[int], *, lock: bool = False) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in chunks(ids):
            rows = self.db.execute(
                f"SELECT id, doc FROM profiles WHERE id IN ({marks(chunk)})",  # noqa: S608
                tuple(chunk))
            found.update(rows)
        return found

    @translated
    def put_profiles(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        self.db.executemany(
            "INSERT INTO profiles(id, updated, doc) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, doc = excluded.doc", rows)

    @translated
    def delete_profiles(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM profiles WHERE id = ?", ((i,) for i in ids))

    def iter_profiles(self, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        after = 0
        while rows := self._profile_page(after, batch):
            yield from rows
            after = rows[-1][0]

    @translated
    def _profile_page(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        return self.db.execute("SELECT id, doc FROM profiles WHERE id > ? ORDER BY id LIMIT ?",
                               (after, limit)).fetchall()

    @translated
    def count_profiles(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM profiles")

    @translated
    def reset_profiles(self) -> None:
        self.db.execute("DELETE FROM profiles")
        self.db.execute("DELETE FROM identities")
        self.db.execute("DELETE FROM errors")
        # memberships stay: a replay re-evaluates every profile, and only real differences
        # become enter or exit changes (docs/pipeline.md); what no profile holds any more is dropped
        self.db.execute("DELETE FROM audience_checks")
        self.db.execute("DELETE FROM counters WHERE name = 'next_profile'")
        self._next_profile = 1

    # ---- dead letters

    @translated
    def add_errors(self, rows: Iterable[tuple[int, str, str, int]]) -> None:
        self.db.executemany(
            "INSERT INTO errors(seq, stream, reason, recorded) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(seq) DO UPDATE SET reason = excluded.reason, "
            "recorded = excluded.recorded", rows)

    @translated
    def iter_errors(self, *, stream: str | None = None, after: int = 0, limit: int = 1000
                    ) -> list[DeadLetterRow]:
        sql = ("SELECT e.seq, e.stream, e.reason, e.recorded, v.ts, v.body FROM errors e "
               "JOIN events v ON v.seq = e.seq WHERE e.seq > ?")
        params: list[Any] = [after]
        if stream is not None:
            sql += " AND e.stream = ?"
            params.append(stream)
        sql += " ORDER BY e.seq LIMIT ?"
        params.append(limit)
        return list(self.db.execute(sql, params))

    @translated
    def take_errors(self, seqs: Sequence[int]) -> list[int]:
        taken: list[int] = []
        for chunk in chunks(seqs):
            taken += [row[0] for row in self.db.execute(
                f"DELETE FROM errors WHERE seq IN ({marks(chunk)}) RETURNING seq",  # noqa: S608
                tuple(chunk))]
        return sorted(taken)

    @translated
    def count_errors(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM errors")

    @translated
    def error_counts(self) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT stream, COUNT(*) FROM errors GROUP BY stream").fetchall())

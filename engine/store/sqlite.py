"""The embedded store: the event log, profiles and identities in one SQLite file (WAL mode).

One writer connection. Everything a batch of events changes — log rows, profiles, identities and
the processed position — is written inside one transaction (docs/pipeline.md), and each commit is
fsync'd (``synchronous=FULL``), so an acknowledged batch survives kill -9 and a crash replays
nothing twice. The schema is versioned (`PRAGMA user_version`) and migrated forward on open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import RuntimeFailure

# Each entry migrates from version i to i+1. Never edit a shipped entry; append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        seq      INTEGER PRIMARY KEY,
        stream   TEXT NOT NULL,
        key      TEXT,
        ts       INTEGER NOT NULL,
        received INTEGER NOT NULL,
        body     BLOB NOT NULL
    );
    CREATE UNIQUE INDEX events_dedupe ON events(stream, key) WHERE key IS NOT NULL;
    CREATE TABLE profiles (
        id      INTEGER PRIMARY KEY,
        updated INTEGER NOT NULL,
        doc     BLOB NOT NULL
    );
    CREATE TABLE identities (
        field      TEXT NOT NULL,
        value      TEXT NOT NULL,
        profile_id INTEGER NOT NULL,
        merges     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (field, value)
    ) WITHOUT ROWID;
    CREATE INDEX identities_profile ON identities(profile_id);
    CREATE TABLE positions (
        name TEXT PRIMARY KEY,
        seq  INTEGER NOT NULL
    );
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    """,
    # The dead letters (`_errors`): logged events that a transform or mapping failed on. The
    # event itself stays in the log under its seq.
    """
    CREATE TABLE errors (
        seq      INTEGER PRIMARY KEY,
        stream   TEXT NOT NULL,
        reason   TEXT NOT NULL,
        recorded INTEGER NOT NULL
    );
    """,
    # Audiences: who is in each now (since when), every enter and exit, and when a profile's
    # membership may change with time alone (a filter on "now-30d").
    """
    CREATE TABLE audience_members (
        audience   TEXT NOT NULL,
        profile_id INTEGER NOT NULL,
        entered    INTEGER NOT NULL,
        PRIMARY KEY (audience, profile_id)
    ) WITHOUT ROWID;
    CREATE INDEX audience_members_profile ON audience_members(profile_id);
    CREATE TABLE audience_changes (
        id         INTEGER PRIMARY KEY,
        audience   TEXT NOT NULL,
        profile_id INTEGER NOT NULL,
        entered    INTEGER NOT NULL,
        at         INTEGER NOT NULL
    );
    CREATE INDEX audience_changes_profile ON audience_changes(profile_id);
    CREATE TABLE audience_checks (
        audience   TEXT NOT NULL,
        profile_id INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        PRIMARY KEY (audience, profile_id)
    ) WITHOUT ROWID;
    CREATE INDEX audience_checks_at ON audience_checks(at);
    """,
    # Exports: the outbox of requests to make, written with the membership change that causes
    # them; what each job last sent per member (to send again only on a real change); the
    # items a destination refused for good; each job's state.
    """
    CREATE TABLE outbox (
        id         INTEGER PRIMARY KEY,
        job        TEXT NOT NULL,
        profile_id INTEGER NOT NULL,
        action     TEXT NOT NULL,
        body       BLOB NOT NULL,
        created    INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_due ON outbox(job, next_at, id);
    CREATE TABLE export_members (
        job        TEXT NOT NULL,
        profile_id INTEGER NOT NULL,
        identifier TEXT NOT NULL,
        digest     TEXT NOT NULL,
        PRIMARY KEY (job, profile_id)
    ) WITHOUT ROWID;
    CREATE TABLE export_dead (
        id         INTEGER PRIMARY KEY,
        job        TEXT NOT NULL,
        profile_id INTEGER NOT NULL,
        action     TEXT NOT NULL,
        body       BLOB NOT NULL,
        status     INTEGER NOT NULL,
        response   TEXT NOT NULL,
        at         INTEGER NOT NULL
    );
    CREATE TABLE export_jobs (
        job        TEXT PRIMARY KEY,
        paused     TEXT,
        backfilled TEXT
    );
    """,
)

_CHUNK = 500  # host parameters per IN (...) query; SQLite's default limit is far above this

LogRow = tuple[int, str, str | None, int, int, bytes]  # seq, stream, key, ts, received, body


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class SqliteStore:
    """The SQLite back end. Callers group writes with `transaction()`."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL",
                 autocheckpoint: bool = True) -> None:
        self.path = str(path)
        self.synchronous = synchronous
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.execute("PRAGMA busy_timeout=10000")
            self.db.execute("PRAGMA cache_size=-65536")
            # Without: a `Checkpointer` copies the WAL into the database beside the writers,
            # so that no commit waits for a checkpoint (the daemon's latency).
            self.db.execute(f"PRAGMA wal_autocheckpoint={16384 if autocheckpoint else 0}")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise RuntimeFailure(f"cannot open the store at {self.path}: {exc}") from exc
        # Past every logged event and every position: a batch of duplicates leaves its
        # reserved seqs unused, and no new event may ever get a seq a position has passed.
        self._next_seq = self._scalar(
            "SELECT MAX((SELECT COALESCE(MAX(seq), 0) FROM events), "
            "(SELECT COALESCE(MAX(seq), 0) FROM positions)) + 1")
        self._next_profile = self._scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM profiles")
        self._counter_floor()

    # ---- schema

    def _migrate(self) -> None:
        version = self._scalar("PRAGMA user_version")
        if version > len(MIGRATIONS):
            raise RuntimeFailure(
                f"the store at {self.path} has schema version {version}, newer than this engine "
                f"({len(MIGRATIONS)}); upgrade the engine")
        for i in range(version, len(MIGRATIONS)):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={i + 1}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> int:
        row = self.db.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _counter_floor(self) -> None:
        # Profile ids never repeat, even after the newest profile was merged away.
        floor = self._scalar("SELECT value FROM counters WHERE name = 'next_profile'")
        self._next_profile = max(self._next_profile, floor)

    @staticmethod
    def is_unavailable(exc: BaseException) -> bool:
        """Whether a failure is the storage's own (locked, full, unreadable: retry later), not
        the data written's (a value SQLite cannot hold: no retry will store it)."""
        if isinstance(exc, RuntimeFailure | OSError | MemoryError):
            return True
        data = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
                sqlite3.ProgrammingError)
        return isinstance(exc, sqlite3.Error) and not isinstance(exc, data)

    # ---- transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        seq, profile = self._next_seq, self._next_profile
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise RuntimeFailure(f"the store at {self.path} is not writable: {exc}") from exc
        try:
            yield
            if self._next_profile != profile:  # only the connection that made profiles says
                self.db.execute(
                    "INSERT INTO counters(name, value) VALUES ('next_profile', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    (self._next_profile,))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            self._next_seq, self._next_profile = seq, profile
            raise

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Commits without fsync until the block ends (WAL, ``synchronous=NORMAL``).

        For a bulk load that acknowledges nothing before its last commit: that commit is
        fsync'd, and since the WAL is sequential it makes every earlier commit durable too.
        A killed process loses nothing either way; only a power cut before the end can
        lose commits, and none of them had been acknowledged.
        """
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA synchronous={self.synchronous}")

    def resync(self) -> None:
        """Re-read the log's next position after another connection appended to it."""
        self._next_seq = max(self._next_seq, self.last_seq() + 1)

    def close(self) -> None:
        self.db.close()

    # ---- the event log

    def take_seqs(self, n: int) -> int:
        """Reserve `n` consecutive log positions; returns the first."""
        first = self._next_seq
        self._next_seq += n
        return first

    def append(self, rows: Iterable[LogRow]) -> None:
        self.db.executemany(
            "INSERT INTO events(seq, stream, key, ts, received, body) VALUES (?, ?, ?, ?, ?, ?)",
            rows)

    def append_new(self, rows: Sequence[LogRow]) -> set[int] | None:
        """Append rows whose (stream, key) the log does not hold yet; the seqs that landed,
        or None when every row did (the common case, told by the change count alone)."""
        if not rows:
            return None
        before = self.db.total_changes
        self.db.executemany(
            "INSERT OR IGNORE INTO events(seq, stream, key, ts, received, body) "
            "VALUES (?, ?, ?, ?, ?, ?)", rows)
        if self.db.total_changes - before == len(rows):
            return None
        found = self.db.execute("SELECT seq FROM events WHERE seq BETWEEN ? AND ?",
                                (rows[0][0], rows[-1][0]))
        return {r[0] for r in found}

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

    def event(self, seq: int) -> LogRow | None:
        row = self.db.execute(
            "SELECT seq, stream, key, ts, received, body FROM events WHERE seq = ?",
            (seq,)).fetchone()
        return None if row is None else tuple(row)

    def last_seq(self) -> int:
        """The newest logged event's seq (0 for an empty log)."""
        return self._scalar("SELECT COALESCE(MAX(seq), 0) FROM events")

    def count_events(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM events")

    # ---- positions

    def position(self, name: str) -> int:
        return self._scalar("SELECT seq FROM positions WHERE name = ?", (name,))

    def set_position(self, name: str, seq: int) -> None:
        self.db.execute(
            "INSERT INTO positions(name, seq) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET seq = excluded.seq", (name, seq))

    # ---- identities

    def lookup_identities(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        by_field: dict[str, list[str]] = {}
        for f, v in pairs:
            by_field.setdefault(f, []).append(v)
        found: dict[tuple[str, str], int] = {}
        for f, values in by_field.items():
            for chunk in _chunks(values):
                marks = ",".join("?" * len(chunk))
                rows = self.db.execute(
                    "SELECT value, profile_id FROM identities "  # noqa: S608
                    f"WHERE field = ? AND value IN ({marks})", (f, *chunk))
                for value, pid in rows:
                    found[(f, value)] = pid
        return found

    def identity_merges(self, field: str, value: str) -> int:
        return self._scalar("SELECT merges FROM identities WHERE field = ? AND value = ?",
                            (field, value))

    def put_identities(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """Upsert ``(field, value, profile_id, merges)`` rows."""
        self.db.executemany(
            "INSERT INTO identities(field, value, profile_id, merges) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(field, value) DO UPDATE SET profile_id = excluded.profile_id, "
            "merges = MAX(identities.merges, excluded.merges)", rows)

    def find_profile(self, field: str, value: str) -> int | None:
        row = self.db.execute("SELECT profile_id FROM identities WHERE field = ? AND value = ?",
                              (field, value)).fetchone()
        return None if row is None else int(row[0])

    # ---- profiles

    def new_profile_id(self) -> int:
        pid = self._next_profile
        self._next_profile += 1
        return pid

    def load_profiles(self, ids: Sequence[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT id, doc FROM profiles WHERE id IN ({marks})", tuple(chunk))  # noqa: S608
            found.update(rows)
        return found

    def put_profiles(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Upsert ``(id, updated, doc)`` rows."""
        self.db.executemany(
            "INSERT INTO profiles(id, updated, doc) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, doc = excluded.doc", rows)

    def delete_profiles(self, ids: Iterable[int]) -> None:
        self.db.executemany("DELETE FROM profiles WHERE id = ?", ((i,) for i in ids))

    def iter_profiles(self, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        after = 0
        while True:
            rows = self.db.execute("SELECT id, doc FROM profiles WHERE id > ? ORDER BY id LIMIT ?",
                                   (after, batch)).fetchall()
            if not rows:
                return
            yield from rows
            after = rows[-1][0]

    def count_profiles(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM profiles")

    def reset_profiles(self) -> None:
        """Forget every profile, identity and dead letter (replay rebuilds them from the log)."""
        self.db.execute("DELETE FROM profiles")
        self.db.execute("DELETE FROM identities")
        self.db.execute("DELETE FROM errors")
        # memberships stay: a replay re-evaluates every profile, and only real differences
        # become enter or exit changes (docs/pipeline.md); what no profile holds any more is dropped
        self.db.execute("DELETE FROM audience_checks")
        self.db.execute("DELETE FROM counters WHERE name = 'next_profile'")
        self._next_profile = 1

    # ---- dead letters

    def add_errors(self, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """Record ``(seq, stream, reason, recorded_ms)`` dead letters (a seq's latest wins)."""
        self.db.executemany(
            "INSERT INTO errors(seq, stream, reason, recorded) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(seq) DO UPDATE SET reason = excluded.reason, "
            "recorded = excluded.recorded", rows)

    def iter_errors(self, *, stream: str | None = None, after: int = 0, limit: int = 1000
                    ) -> list[tuple[int, str, str, int, int, bytes]]:
        """Dead letters in log order: ``(seq, stream, reason, recorded, ts, body)``."""
        sql = ("SELECT e.seq, e.stream, e.reason, e.recorded, v.ts, v.body FROM errors e "
               "JOIN events v ON v.seq = e.seq WHERE e.seq > ?")
        params: list[Any] = [after]
        if stream is not None:
            sql += " AND e.stream = ?"
            params.append(stream)
        sql += " ORDER BY e.seq LIMIT ?"
        params.append(limit)
        return list(self.db.execute(sql, params))

    def count_errors(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM errors")

    # ---- audiences

    def memberships(self, ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Per profile: the audiences it is in, with when it entered (epoch ms)."""
        found: dict[int, dict[str, int]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT profile_id, audience, entered FROM audience_members "  # noqa: S608
                f"WHERE profile_id IN ({marks})", tuple(chunk))
            for pid, audience, entered in rows:
                found.setdefault(pid, {})[audience] = entered
        return found

    def change_membership(self, entered: Iterable[tuple[str, int]],
                          exited: Iterable[tuple[str, int]], at: int) -> None:
        """Record enters and exits of ``(audience, profile_id)`` at `at`."""
        enters, exits = list(entered), list(exited)
        if enters:
            self.db.executemany(
                "INSERT INTO audience_members(audience, profile_id, entered) VALUES (?, ?, ?)",
                ((a, p, at) for a, p in enters))
        if exits:
            self.db.executemany(
                "DELETE FROM audience_members WHERE audience = ? AND profile_id = ?", exits)
        if enters or exits:
            self.db.executemany(
                "INSERT INTO audience_changes(audience, profile_id, entered, at) "
                "VALUES (?, ?, ?, ?)",
                [(a, p, 1, at) for a, p in enters] + [(a, p, 0, at) for a, p in exits])

    def set_checks(self, rows: Iterable[tuple[str, int, int | None]]) -> None:
        """When to re-evaluate ``(audience, profile_id)`` (None: on a profile change only)."""
        rows = list(rows)
        self.db.executemany(
            "INSERT INTO audience_checks(audience, profile_id, at) VALUES (?, ?, ?) "
            "ON CONFLICT(audience, profile_id) DO UPDATE SET at = excluded.at",
            [r for r in rows if r[2] is not None])
        cleared: dict[str, list[int]] = {}
        for audience, pid, at in rows:
            if at is None:
                cleared.setdefault(audience, []).append(pid)
        for audience, pids in cleared.items():
            for chunk in _chunks(pids):
                marks = ",".join("?" * len(chunk))
                self.db.execute("DELETE FROM audience_checks WHERE audience = ? "  # noqa: S608
                                f"AND profile_id IN ({marks})", (audience, *chunk))

    def due_checks(self, now: int, limit: int) -> list[int]:
        """Profiles with a membership check due at `now`, soonest first."""
        rows = self.db.execute(
            "SELECT DISTINCT profile_id FROM (SELECT profile_id FROM audience_checks "
            "WHERE at <= ? ORDER BY at LIMIT ?)", (now, limit))
        return [r[0] for r in rows]

    def next_check(self) -> int | None:
        row = self.db.execute("SELECT MIN(at) FROM audience_checks").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def orphan_memberships(self) -> list[tuple[str, int]]:
        """``(audience, profile_id)`` of members whose profile no longer exists."""
        return list(self.db.execute(
            "SELECT audience, profile_id FROM audience_members "
            "WHERE profile_id NOT IN (SELECT id FROM profiles)"))

    def audience_sizes(self) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT audience, COUNT(*) FROM audience_members GROUP BY audience"))

    def audience_members(self, audience: str, *, after: int = 0, limit: int = 1000
                         ) -> list[tuple[int, int]]:
        """``(profile_id, entered)`` of an audience's members, by profile id."""
        return list(self.db.execute(
            "SELECT profile_id, entered FROM audience_members WHERE audience = ? "
            "AND profile_id > ? ORDER BY profile_id LIMIT ?", (audience, after, limit)))

    def audience_changes(self, profile_id: int | None = None) -> list[tuple[str, int, int, int]]:
        """``(audience, profile_id, entered, at)``, oldest first."""
        sql = "SELECT audience, profile_id, entered, at FROM audience_changes"
        params: tuple[Any, ...] = ()
        if profile_id is not None:
            sql += " WHERE profile_id = ?"
            params = (profile_id,)
        return list(self.db.execute(sql + " ORDER BY id", params))

    # ---- exports

    def add_outbox(self, job: str, items: Sequence[tuple[int, str, bytes]], now: int) -> None:
        """Queue ``(profile_id, action, body)`` items for a job."""
        if items:
            self.db.executemany(
                "INSERT INTO outbox(job, profile_id, action, body, created, next_at) "
                "VALUES (?, ?, ?, ?, ?, 0)", [(job, p, a, b, now) for p, a, b in items])

    def export_members(self, job: str, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """What a job last queued per member: ``{profile_id: (identifier, digest)}``."""
        found: dict[int, tuple[str, str]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                "SELECT profile_id, identifier, digest FROM export_members "  # noqa: S608
                f"WHERE job = ? AND profile_id IN ({marks})", (job, *chunk))
            for pid, identifier, digest in rows:
                found[pid] = (identifier, digest)
        return found

    def set_export_members(self, job: str, rows: Sequence[tuple[int, str, str]],
                           gone: Sequence[int]) -> None:
        if rows:
            self.db.executemany(
                "INSERT INTO export_members(job, profile_id, identifier, digest) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(job, profile_id) DO UPDATE SET "
                "identifier = excluded.identifier, digest = excluded.digest",
                [(job, p, i, d) for p, i, d in rows])
        if gone:
            self.db.executemany("DELETE FROM export_members WHERE job = ? AND profile_id = ?",
                                [(job, p) for p in gone])

    def due_outbox(self, job: str, now: int, limit: int
                   ) -> list[tuple[int, int, str, bytes, int, int]]:
        """Items of a job due at `now`, by when they fell due (new ones first, in the order
        they were queued): ``(id, profile_id, action, body, attempts, created)``."""
        rows = self.db.execute(
            "SELECT id, profile_id, action, body, attempts, created FROM outbox "
            "WHERE job = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?",  # index order
            (job, now, limit))
        return list(rows)

    def outbox_depth(self, job: str | None = None) -> int:
        if job is None:
            return self._scalar("SELECT COUNT(*) FROM outbox")
        return self._scalar("SELECT COUNT(*) FROM outbox WHERE job = ?", (job,))

    def next_outbox(self, job: str) -> int | None:
        row = self.db.execute("SELECT MIN(next_at) FROM outbox WHERE job = ?", (job,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def outbox_done(self, ids: Sequence[int]) -> None:
        self.db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def outbox_retry(self, rows: Sequence[tuple[int, int]]) -> None:
        """``(id, next_at)``: try these again later."""
        self.db.executemany("UPDATE outbox SET attempts = attempts + 1, next_at = ? "
                            "WHERE id = ?", [(at, i) for i, at in rows])

    def outbox_dead(self, rows: Sequence[tuple[int, int, str]], at: int) -> None:
        """``(id, status, response)``: refused for good; kept with the response."""
        for item_id, status, response in rows:
            self.db.execute(
                "INSERT INTO export_dead(job, profile_id, action, body, status, response, at) "
                "SELECT job, profile_id, action, body, ?, ?, ? FROM outbox WHERE id = ?",
                (status, response, at, item_id))
            self.db.execute("DELETE FROM outbox WHERE id = ?", (item_id,))

    def export_dead(self, job: str | None = None, limit: int = 100
                    ) -> list[tuple[int, str, int, str, bytes, int, str, int]]:
        """Dead export items, oldest first: ``(id, job, profile_id, action, body, status,
        response, at)``."""
        sql = ("SELECT id, job, profile_id, action, body, status, response, at FROM export_dead")
        params: tuple[Any, ...] = ()
        if job is not None:
            sql += " WHERE job = ?"
            params = (job,)
        return list(self.db.execute(sql + " ORDER BY id LIMIT ?", (*params, limit)))

    def job_state(self, job: str) -> tuple[str | None, str | None]:
        """``(paused because, backfilled digest)`` of a job."""
        row = self.db.execute("SELECT paused, backfilled FROM export_jobs WHERE job = ?",
                              (job,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    def set_paused(self, job: str, reason: str | None) -> None:
        self.db.execute("INSERT INTO export_jobs(job, paused) VALUES (?, ?) "
                        "ON CONFLICT(job) DO UPDATE SET paused = excluded.paused", (job, reason))

    def set_backfilled(self, job: str, digest: str) -> None:
        self.db.execute("INSERT INTO export_jobs(job, backfilled) VALUES (?, ?) "
                        "ON CONFLICT(job) DO UPDATE SET backfilled = excluded.backfilled",
                        (job, digest))


class Checkpointer:
    """Copies the WAL into the database from a thread of its own, once it has grown past
    `wal_bytes`, so that the commits of the store's writers never wait for a checkpoint.

    A PASSIVE checkpoint copies what no reader still needs and never blocks a writer; the WAL
    file is then reused from its start."""

    def __init__(self, path: str, *, wal_bytes: int = 32 << 20, every_s: float = 0.5) -> None:
        import threading

        self.path = path
        self.wal_bytes = wal_bytes
        self.every_s = every_s
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="engine-checkpoint", daemon=True)

    def start(self) -> None:
        if self.path != ":memory:":
            self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(30)

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=10000")
        wal = Path(f"{self.path}-wal")
        try:
            while not self.stop_event.wait(self.every_s):
                try:
                    if wal.exists() and wal.stat().st_size > self.wal_bytes:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except (sqlite3.Error, OSError):
                    continue  # the next round tries again; the WAL only grows meanwhile
        finally:
            db.close()

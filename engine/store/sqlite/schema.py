"""The SQLite store's schema: versioned (`PRAGMA user_version`) and migrated forward on open."""

from __future__ import annotations

import sqlite3

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
    # What the nodes of a store share: who is alive, and rate limits across processes.
    """
    CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        seen INTEGER NOT NULL
    );
    CREATE TABLE buckets (
        name   TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        at     INTEGER NOT NULL
    );
    """,
    # Which outbox items a runner has claimed (next_at is then its lease's end): the next
    # holder of the job gives them back at once instead of waiting the lease out.
    """
    ALTER TABLE outbox ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0;
    """,
    # Since when an operator has paused a job (NULL: not paused), apart from `paused`, the
    # pause for refused credentials that a config reload lifts.
    """
    ALTER TABLE export_jobs ADD COLUMN operator_paused INTEGER;
    """,
    # Each audience's size at the end of each UTC day and its entries and exits that day, for
    # the console's charts; seeded with today's sizes.
    """
    CREATE TABLE audience_days (
        audience TEXT NOT NULL,
        day      INTEGER NOT NULL,
        size     INTEGER NOT NULL,
        entered  INTEGER NOT NULL,
        exited   INTEGER NOT NULL,
        PRIMARY KEY (audience, day)
    ) WITHOUT ROWID;
    INSERT INTO audience_days(audience, day, size, entered, exited)
        SELECT audience, CAST(strftime('%s', 'now') AS INTEGER) / 86400, COUNT(*), 0, 0
        FROM audience_members GROUP BY audience;
    """,
    # A person's items of a job, for coalescing: a newer identify replaces the older ones
    # still queued, and a failed one with a newer one queued is dropped, not retried.
    """
    CREATE INDEX outbox_person ON outbox(job, profile_id, action, id);
    """,
    # The event log moved to a database file of its own (`LOG_MIGRATIONS`), so that the
    # daemon's log writer and its processor never wait for each other's write lock; its rows
    # were copied there first (`move_log`).
    """
    DROP TABLE IF EXISTS events;
    """,
)

# The event log's own file (`log_file`): the same table, schema versions of its own.
LOG_MIGRATIONS: tuple[str, ...] = (
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
    """,
)
MOVED_LOG = 10  # the store's schema version from which its log is in a file of its own


def version(db: sqlite3.Connection, schema: str = "main") -> int:
    row = db.execute(f"PRAGMA {schema}.user_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection, path: str,
            migrations: tuple[str, ...] = MIGRATIONS, *, versioned: bool = True) -> None:
    """Bring the connection's main database to the newest schema, one migration per
    transaction; refuse a database that a newer engine has migrated past what this one
    knows. `versioned=False` runs every migration and records nothing: the log's tables
    in the store's own database (``:memory:``, one database in all)."""
    current = version(db) if versioned else 0
    if current > len(migrations):
        raise RuntimeFailure(
            f"the store at {path} has schema version {current}, newer than this engine "
            f"({len(migrations)}); upgrade the engine")
    for i in range(current, len(migrations)):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in migrations[i].split(";"):
                if statement.strip():
                    db.execute(statement)
            if versioned:
                db.execute(f"PRAGMA user_version={i + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def move_log(log: sqlite3.Connection) -> None:
    """Copy the events of a store from before `MOVED_LOG` into the log's own file (the
    connection's main database; the store is attached as ``store``).

    Committed before the store's migration drops its copy: a crash in between leaves both
    copies, and the next open copies again, ignoring the rows already there."""
    if version(log, "store") >= MOVED_LOG or not log.execute(
            "SELECT 1 FROM store.sqlite_master WHERE type = 'table' AND name = 'events'"
    ).fetchone():
        return
    log.execute("BEGIN IMMEDIATE")
    try:
        log.execute("INSERT OR IGNORE INTO main.events(seq, stream, key, ts, received, body) "
                    "SELECT seq, stream, key, ts, received, body FROM store.events")
        log.execute("COMMIT")
    except BaseException:
        log.execute("ROLLBACK")
        raise

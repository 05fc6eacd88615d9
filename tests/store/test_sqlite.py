"""What only the SQLite back end does: its PRAGMAs, lock files, spill folder, schema versions,
checkpoints and the translation of sqlite3's exceptions. The contract itself is tested in the
other files of this folder, on every back end."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config.model import StorageSpec
from engine.errors import RuntimeFailure, StoreUnavailable
from engine.store import LOCK_KINDS, open_maintenance, open_store
from engine.store.sqlite import Checkpointer, SqliteStore
from engine.store.sqlite.files import log_file
from engine.store.sqlite.schema import MIGRATIONS, MOVED_LOG
from engine.store.sqlite.store import LOG_PAGE_BYTES

ENGINE = Path(__file__).resolve().parents[2] / "engine"
FULL, NORMAL = 2, 1  # PRAGMA synchronous answers with the level's number


@pytest.fixture
def storage(tmp_path: Path) -> StorageSpec:
    return StorageSpec(backend="sqlite", path=str(tmp_path / "data" / "store.db"))


@pytest.fixture
def store(storage: StorageSpec) -> Iterator[SqliteStore]:
    opened = open_store(storage, locks=LOCK_KINDS)
    assert isinstance(opened, SqliteStore)
    try:
        yield opened
    finally:
        opened.close()


def _pragma(store: SqliteStore, name: str) -> object:
    return store.db.execute(f"PRAGMA {name}").fetchone()[0]


def test_a_store_is_a_wal_file_whose_commits_are_fsynced(store: SqliteStore) -> None:
    assert Path(store.path).is_file()
    assert _pragma(store, "journal_mode") == "wal"
    assert _pragma(store, "synchronous") == FULL
    assert _pragma(store, "wal_autocheckpoint") == 16384
    with store.deferred_sync():
        assert _pragma(store, "synchronous") == NORMAL
    assert _pragma(store, "synchronous") == FULL


def test_crash_durability_and_background_checkpoints(storage: StorageSpec) -> None:
    store = open_store(storage, durability="crash", background_checkpoints=True)
    assert isinstance(store, SqliteStore)
    try:
        assert _pragma(store, "synchronous") == NORMAL
        assert _pragma(store, "wal_autocheckpoint") == 0
        other = store.connect()  # an export runner's: fsync'd, checkpoints left to the daemon
        assert isinstance(other, SqliteStore)
        assert (_pragma(other, "synchronous"), _pragma(other, "wal_autocheckpoint")) == (FULL, 0)
        other.close()
    finally:
        store.close()


def test_roles_are_lock_files_beside_the_store_naming_their_holder(
        storage: StorageSpec) -> None:
    store = open_store(storage, locks=("log",))
    log_lock = Path(f"{storage.path}.log.lock")
    try:
        assert log_lock.read_text().strip() == str(os.getpid())
        assert not Path(f"{storage.path}.apply.lock").exists()
        with pytest.raises(RuntimeFailure, match=f"pid {os.getpid()}"):
            open_store(storage, locks=("log",))
    finally:
        store.close()
    open_store(storage, locks=("log",)).close()  # closing released it


def test_a_store_that_fails_to_open_releases_its_locks(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # not a file SQLite can open
    storage = StorageSpec(backend="sqlite", path=str(tmp_path / "dir.db"))
    with pytest.raises(StoreUnavailable, match="cannot open the store"):
        open_store(storage, locks=LOCK_KINDS)
    with pytest.raises(StoreUnavailable):
        open_store(storage, locks=LOCK_KINDS)  # not "in use by another engine"


def test_bulk_loads_spill_beside_the_store(store: SqliteStore, storage: StorageSpec) -> None:
    assert store.spill_directory() == Path(storage.path).parent


def test_an_in_memory_store_takes_no_lock_files_and_spills_to_the_temp_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(StorageSpec(backend="sqlite", path=":memory:"), locks=LOCK_KINDS)
    try:
        assert store.spill_directory() is None
        assert list(tmp_path.iterdir()) == []
        with store.transaction():
            store.append_events("s", 1, [("k", 1, b"x")])
        assert store.last_seq() == 1
    finally:
        store.close()


def test_an_unknown_backend_is_not_available(tmp_path: Path) -> None:
    other = StorageSpec(backend="oracle", path=str(tmp_path / "x.db"))
    with pytest.raises(RuntimeFailure, match="'oracle' is not available"):
        open_store(other)
    with pytest.raises(RuntimeFailure, match="'oracle' is not available"):
        open_maintenance(other)


def test_the_outbox_is_indexed_by_person(storage: StorageSpec) -> None:
    """Coalescing finds a person's queued items without reading the whole outbox."""
    open_store(storage).close()
    with sqlite3.connect(storage.path) as db:
        columns = [r[2] for r in db.execute("PRAGMA index_info(outbox_person)")]
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert columns == ["job", "profile_id", "action", "id"]


def test_a_store_from_a_newer_engine_is_refused(storage: StorageSpec) -> None:
    open_store(storage).close()
    with sqlite3.connect(storage.path) as db:
        db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeFailure, match="newer than this engine"):
        open_store(storage)


def test_a_locked_database_is_unavailable(store: SqliteStore) -> None:
    store.db.execute("PRAGMA busy_timeout=0")
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="not writable"), store.transaction():
            pass
        with pytest.raises(StoreUnavailable, match="locked"):
            store.set_paused("job", "why")  # a write outside a transaction
    finally:
        other.close()


def test_a_broken_database_is_unavailable_not_a_sqlite3_error(store: SqliteStore) -> None:
    with sqlite3.connect(store.path) as db:
        db.execute("DROP TABLE errors")
    with pytest.raises(StoreUnavailable, match="no such table") as caught:
        store.count_errors()
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_the_checkpointer_copies_the_wal_into_the_database(storage: StorageSpec) -> None:
    store = open_store(storage, background_checkpoints=True)
    wal = Path(f"{storage.path}-wal")
    checkpointer = Checkpointer(storage.path, wal_bytes=0, every_s=0.01)
    try:
        with store.transaction():
            store.put_profiles((i, 1, b"x" * 1000) for i in range(1, 200))
        assert wal.stat().st_size > 0
        size = Path(storage.path).stat().st_size
        checkpointer.start()
        deadline = time.monotonic() + 10
        while Path(storage.path).stat().st_size <= size and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Path(storage.path).stat().st_size > size
    finally:
        checkpointer.stop()
        store.close()
    assert not checkpointer.thread.is_alive()


def test_the_daemon_maintenance_is_a_checkpointer(storage: StorageSpec) -> None:
    maintenance = open_maintenance(storage)
    assert isinstance(maintenance, Checkpointer) and maintenance.path == storage.path


_BACK_END = re.compile(r"^\s*(import sqlite3|from sqlite3 )|SqliteStore|\bStoreLock\b|"
                       r"Checkpointer|engine\.store\.sqlite|\.execute(many)?\(|"
                       r"\b(PRAGMA|INSERT INTO|DELETE FROM|CREATE TABLE|UPDATE \w+ SET)\b",
                       re.MULTILINE)


def test_no_module_outside_the_store_names_the_back_end_or_writes_sql() -> None:
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        if path.is_relative_to(ENGINE / "store"):
            continue
        for match in _BACK_END.finditer(path.read_text()):
            found.append(f"{path.relative_to(ENGINE.parent)}: {match.group(0).strip()}")
    assert found == []


def test_a_store_whose_folder_cannot_be_made_is_unavailable_with_the_reason(
        tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a file where the store's folder would go
    storage = StorageSpec(backend="sqlite", path=str(tmp_path / "file" / "x.db"))
    with pytest.raises(StoreUnavailable, match=r"cannot open the store at .*x\.db: "):
        open_store(storage, locks=LOCK_KINDS)


def test_a_shared_sqlite_store_still_has_one_applier(tmp_path: Path) -> None:
    """SQLite hands out seqs and profile ids in its applying process: two shared appliers
    would hand out the same ones, so the second is refused."""
    spec = StorageSpec(backend="sqlite", path=str(tmp_path / "s.db"))
    first = open_store(spec, shared=True)
    try:
        with pytest.raises(RuntimeFailure, match="in use by another engine process"):
            open_store(spec, shared=True)
    finally:
        first.close()
    open_store(spec, shared=True).close()


HISTORY_MIGRATION = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE audience_days" in m)


def test_the_audience_history_migration_starts_from_todays_sizes(storage: StorageSpec) -> None:
    store = open_store(storage, locks=LOCK_KINDS)
    try:
        with store.transaction():
            store.change_membership([("vip", 1), ("vip", 2), ("new", 1)], [], 1000)
    finally:
        store.close()
    # as a store before the history existed: that migration and the ones after it undone
    with sqlite3.connect(storage.path) as db:
        db.execute("DROP TABLE audience_days")
        db.execute("DROP INDEX outbox_person")
        db.execute(f"PRAGMA user_version={HISTORY_MIGRATION}")
    today = int(time.time()) // 86400
    store = open_store(storage)
    try:
        assert store.audience_history("vip") in ([(today, 2, 0, 0)], [(today + 1, 2, 0, 0)])
        assert [size for _day, size, *_ in store.audience_history("new")] == [1]
    finally:
        store.close()


def test_the_log_is_a_file_of_its_own_that_only_its_writer_writes(storage: StorageSpec) -> None:
    """The daemon's log writer and its applier each write their own file: neither waits
    for the other's write lock, and a store without the log role only reads the log."""
    writer = open_store(storage, locks=("log",))
    applier = open_store(storage, locks=("apply",))
    assert isinstance(writer, SqliteStore) and isinstance(applier, SqliteStore)
    try:
        assert Path(log_file(storage.path)).is_file()
        for s in (writer, applier):
            s.db.execute("PRAGMA busy_timeout=0")  # a wait for the other's lock fails at once
        with applier.transaction():
            applier.put_profiles([(1, 1, b"p")])
            with writer.transaction():
                seqs = [row[0] for row in writer.append_events("s", 1, [("k", 1, b"x")])]
            applier.set_position("profiles", seqs[-1])
        assert [row[0] for row in applier.read_log(0, 10)] == seqs
        with pytest.raises(StoreUnavailable, match="readonly"), applier.transaction():
            applier.append_events("s", 1, [("k2", 1, b"y")])
        with pytest.raises(StoreUnavailable, match="readonly"), writer.transaction():
            writer.put_profiles([(2, 1, b"q")])
    finally:
        writer.close()
        applier.close()


def test_a_store_from_before_the_log_file_moves_its_events_there(storage: StorageSpec) -> None:
    store = open_store(storage, locks=LOCK_KINDS)
    try:
        with store.transaction():
            store.append_events("s", 1, [("a", 1, b"x"), ("b", 2, b"y")])
            store.set_position("profiles", 2)
    finally:
        store.close()
    # as the store was before the move: its events in its own file, the log file gone
    log = Path(log_file(storage.path))
    rows = sqlite3.connect(log).execute("SELECT * FROM events").fetchall()
    with sqlite3.connect(storage.path) as db:
        db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, stream TEXT NOT NULL, "
                   "key TEXT, ts INTEGER NOT NULL, received INTEGER NOT NULL, "
                   "body BLOB NOT NULL)")
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.execute(f"PRAGMA user_version={MOVED_LOG - 1}")
    for leftover in log.parent.glob(f"{log.name}*"):
        leftover.unlink()
    store = open_store(storage, locks=LOCK_KINDS)
    try:
        assert [(r[0], r[2]) for r in store.read_log(0, 10)] == [(1, "a"), (2, "b")]
        with store.transaction():
            assert store.append_events("s", 1, [("a", 3, b"z"), ("c", 3, b"z")])[0][2] == "c"
    finally:
        store.close()
    with sqlite3.connect(storage.path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'events'").fetchall() == []
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)


def test_a_deferred_sync_block_ends_with_every_wal_it_wrote_fsynced(
        store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's file and the store's are committed without fsync inside the block; at its
    end both write-ahead logs are fsync'd, so what the block logged is durable before the
    load says so, though the commit after it writes only profiles."""
    synced: list[str] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    with store.deferred_sync():
        monkeypatch.setattr(os, "fsync", recording)
        with store.transaction():
            store.append_events("s", 1, [("k", 1, b"x")])
            store.put_profiles([(1, 1, b"p")])
        assert synced == []
    assert sorted(synced) == sorted([f"{log_file(store.path)}-wal", f"{store.path}-wal"])


def test_a_new_log_file_has_large_pages_for_its_bodies(store: SqliteStore) -> None:
    with sqlite3.connect(log_file(store.path)) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (LOG_PAGE_BYTES,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

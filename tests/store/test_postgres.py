"""What only the PostgreSQL back end does: its schema and migrations, session settings, advisory
locks, and the translation of psycopg's exceptions (conflicts, a lost server). The contract
itself is tested in the other files of this folder, on every back end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from engine.config.model import StorageSpec
from engine.errors import RuntimeFailure, StoreConflict, StoreRefused, StoreUnavailable
from engine.store import LOCK_KINDS, open_maintenance, open_store
from engine.store.postgres import PostgresStore
from engine.store.postgres.errors import translate
from engine.store.postgres.schema import MIGRATIONS
from engine.store.postgres.sql import lock_key, masked
from tests.services import free_port


@pytest.fixture
def storage(postgres_dsn: str, pg_schema: str) -> StorageSpec:
    return StorageSpec(backend="postgres", dsn=postgres_dsn, schema=pg_schema)


def _open(storage: StorageSpec, **options: object) -> PostgresStore:
    store = open_store(storage, **options)  # type: ignore[arg-type]
    assert isinstance(store, PostgresStore)
    return store


@pytest.fixture
def store(storage: StorageSpec) -> Iterator[PostgresStore]:
    opened = _open(storage, locks=LOCK_KINDS)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def raw(postgres_dsn: str, pg_schema: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A plain connection to the test schema, for what no store method does."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        yield conn


def _setting(store: PostgresStore, name: str) -> object:
    row = store.conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
    assert row is not None
    return row[0]


def test_everything_lives_under_the_configured_schema(
        store: PostgresStore, raw: psycopg.Connection[tuple[object, ...]],
        pg_schema: str) -> None:
    tables = {r[0] for r in raw.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        (pg_schema,))}
    assert {"events", "profiles", "identities", "positions", "errors", "audience_members",
            "outbox", "export_dead", "nodes", "buckets", "schema_version"} <= tables
    assert _setting(store, "search_path") == pg_schema
    assert raw.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
    indexes = {r[0] for r in raw.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'outbox'",
        (pg_schema,))}
    assert {"outbox_due", "outbox_person"} <= indexes  # coalescing finds a person's items


def test_processes_starting_at_once_migrate_once(storage: StorageSpec,
                                                 raw: psycopg.Connection[tuple[object, ...]]
                                                 ) -> None:
    start = threading.Barrier(3)
    opened: list[PostgresStore] = []
    failed: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            opened.append(_open(storage))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failed == [] and len(opened) == 3
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [
            (len(MIGRATIONS),)]
    finally:
        for store in opened:
            store.close()


def test_a_schema_from_a_newer_engine_is_refused(
        storage: StorageSpec, raw: psycopg.Connection[tuple[object, ...]]) -> None:
    _open(storage).close()
    raw.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(RuntimeFailure, match="newer than this engine"):
        _open(storage)


def test_an_unreachable_server_is_unavailable_and_the_password_never_shown() -> None:
    dsn = f"postgresql://engine:s3cret@127.0.0.1:{free_port()}/test"
    with pytest.raises(StoreUnavailable, match="cannot open the store at "
                       r"postgresql://engine:\*\*\*@127\.0\.0\.1") as caught:
        open_store(StorageSpec(backend="postgres", dsn=dsn, schema="x"))
    assert "s3cret" not in str(caught.value)


def test_passwords_are_masked_in_both_dsn_forms() -> None:
    assert masked("postgresql://u:p%40ss@h:5/db") == "postgresql://u:***@h:5/db"
    assert masked("postgresql://h/db?password=x&sslmode=require") == (
        "postgresql://h/db?password=***&sslmode=require")
    assert masked("host=h password='a b' dbname=d") == "host=h password=*** dbname=d"
    assert masked("postgresql://u@h/db") == "postgresql://u@h/db"


def _terminate(raw: psycopg.Connection[tuple[object, ...]], store: PostgresStore) -> None:
    """End the store's session from another one, as a restart of the server would."""
    raw.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))


def _roles_held(raw: psycopg.Connection[tuple[object, ...]], store: PostgresStore) -> int:
    row = raw.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' "
                      "AND pid = %s", (store.conn.info.backend_pid,)).fetchone()
    assert row is not None
    return int(str(row[0]))


def test_a_terminated_session_fails_one_call_and_the_next_reconnects(
        storage: StorageSpec, store: PostgresStore,
        raw: psycopg.Connection[tuple[object, ...]]) -> None:
    with store.transaction():
        store.put_profiles([(1, 1, b"x")])
    lost = store.conn.info.backend_pid
    _terminate(raw, store)
    with pytest.raises(StoreUnavailable) as caught:
        store.count_profiles()
    assert isinstance(caught.value.__cause__, psycopg.Error)
    assert store.count_profiles() == 1  # a new session
    assert store.conn.info.backend_pid != lost
    assert _setting(store, "search_path") == storage.schema
    assert _setting(store, "synchronous_commit") == "on"
    # its roles are its own again: no other store may take them
    assert _roles_held(raw, store) == len(LOCK_KINDS)
    with pytest.raises(RuntimeFailure, match="holds its 'log' role"):
        _open(storage, locks=("log",))


def test_a_transaction_whose_session_was_lost_rolls_back_and_the_next_commits(
        store: PostgresStore, raw: psycopg.Connection[tuple[object, ...]]) -> None:
    with pytest.raises(StoreUnavailable), store.transaction():
        store.put_profiles([(1, 1, b"lost")])
        _terminate(raw, store)
        store.put_profiles([(2, 1, b"lost")])  # no new session in the middle of one
    with store.transaction():
        store.put_profiles([(3, 1, b"kept")])
    assert store.load_profiles([1, 2, 3]) == {3: b"kept"}


def test_singletons_are_forgotten_with_a_lost_session_and_taken_again_for_real(
        storage: StorageSpec, store: PostgresStore,
        raw: psycopg.Connection[tuple[object, ...]]) -> None:
    other = _open(storage)
    try:
        assert store.hold_singleton("scheduler")
        _terminate(raw, store)
        with pytest.raises(StoreUnavailable):
            store.count_profiles()
        assert other.hold_singleton("scheduler")  # released with the lost session
        assert not store.hold_singleton("scheduler")
        other.release_singleton("scheduler")
        assert store.hold_singleton("scheduler")
    finally:
        other.close()


def test_a_deferred_sync_block_survives_a_new_session(
        store: PostgresStore, raw: psycopg.Connection[tuple[object, ...]]) -> None:
    with store.deferred_sync():
        _terminate(raw, store)
        with pytest.raises(StoreUnavailable):
            store.count_profiles()
        assert _setting(store, "synchronous_commit") == "off"
    assert _setting(store, "synchronous_commit") == "on"


def test_a_closed_store_stays_closed(store: PostgresStore) -> None:
    store.close()
    with pytest.raises(StoreUnavailable):
        store.count_profiles()


def test_commits_wait_for_the_disk_unless_the_store_survives_crashes_only(
        storage: StorageSpec, store: PostgresStore) -> None:
    assert _setting(store, "synchronous_commit") == "on"
    with store.deferred_sync():
        assert _setting(store, "synchronous_commit") == "off"
    assert _setting(store, "synchronous_commit") == "on"
    crash = _open(storage, durability="crash")
    other = crash.connect()
    try:
        assert _setting(crash, "synchronous_commit") == "off"
        assert _setting(other, "synchronous_commit") == "on"
    finally:
        other.close()
        crash.close()


def test_a_role_holder_is_named_and_a_waiter_gets_the_role_when_it_is_released(
        storage: StorageSpec) -> None:
    first = _open(storage, locks=("log",))
    got: list[PostgresStore] = []
    try:
        with pytest.raises(RuntimeFailure, match=r"pid .* holds its 'log' role"):
            _open(storage, locks=("log",))
        waiter = threading.Thread(
            target=lambda: got.append(_open(storage, locks=("log",), wait_for_locks=True)))
        waiter.start()
        _open(storage, locks=("apply",)).close()  # another role is free
        assert got == []
    finally:
        first.close()
    waiter.join(30)
    assert len(got) == 1
    got[0].close()


def test_a_claimed_identity_waits_for_the_claiming_transaction(
        storage: StorageSpec, store: PostgresStore) -> None:
    other = _open(storage)
    try:
        other.conn.execute("SET lock_timeout = '50ms'")
        with store.transaction():
            store.claim_identities([("email", "a@x"), ("id", "1")])
            with pytest.raises(StoreUnavailable, match="lock timeout"), other.transaction():
                other.claim_identities([("id", "1")])
            with other.transaction():
                other.claim_identities([("id", "2")])  # another identity is free
        with other.transaction():  # the commit released it
            other.claim_identities([("id", "1")])
    finally:
        other.close()


def test_claim_keys_are_stable_and_per_schema() -> None:
    assert lock_key("s", "identity", "email", "a@x") == lock_key("s", "identity", "email",
                                                                 "a@x")
    assert lock_key("s", "identity", "email", "a@x") != lock_key("t", "identity", "email",
                                                                 "a@x")
    assert -(2**63) <= lock_key("s", "x") < 2**63


def test_a_deadlock_is_a_conflict_to_run_again(storage: StorageSpec,
                                               store: PostgresStore) -> None:
    with store.transaction():
        a, b = store.new_profile_id(), store.new_profile_id()
        store.put_profiles([(a, 1, b"A"), (b, 1, b"B")])
    other = _open(storage)
    both_hold_one = threading.Barrier(2)
    outcomes: list[BaseException | None] = []

    def lock_in_turn(s: PostgresStore, first: int, second: int) -> None:
        try:
            with s.transaction():
                s.load_profiles([first], lock=True)
                both_hold_one.wait()
                s.load_profiles([second], lock=True)
            outcomes.append(None)
        except BaseException as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=lock_in_turn, args=(store, a, b)),
               threading.Thread(target=lock_in_turn, args=(other, b, a))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        conflicts = [o for o in outcomes if isinstance(o, StoreConflict)]
        assert len(outcomes) == 2 and len(conflicts) == 1 and None in outcomes
        assert isinstance(conflicts[0].__cause__, psycopg.errors.DeadlockDetected)
        assert store.load_profiles([a, b]) == {a: b"A", b: b"B"}  # both usable again
        assert other.load_profiles([a]) == {a: b"A"}
    finally:
        other.close()


def test_a_concurrent_creator_of_an_identity_is_a_conflict(
        store: PostgresStore, raw: psycopg.Connection[tuple[object, ...]]) -> None:
    with store.transaction():
        store.put_identities([("email", "a@x", 1, 0)])
    with pytest.raises(psycopg.errors.UniqueViolation) as caught:
        raw.execute("INSERT INTO identities(field, value, profile_id) VALUES ('email', "
                    "'a@x', 2)")
    assert isinstance(translate(caught.value, store.where), StoreConflict)
    # a duplicate elsewhere is the data's fault, not a race
    with store.transaction():
        store.change_membership([("vip", 1)], [], 10)
    with pytest.raises(StoreRefused), store.transaction():
        store.change_membership([("vip", 1)], [], 20)
    assert store.memberships([1]) == {1: {"vip": 10}}


@pytest.mark.parametrize("value", ["a\x00b", "\udcff"])
def test_text_postgresql_cannot_hold_is_refused(store: PostgresStore, value: str) -> None:
    with pytest.raises(StoreRefused), store.transaction():
        store.put_identities([("email", value, 1, 0)])
    assert store.find_profile("email", "x") is None  # the connection goes on


def test_a_broken_schema_is_unavailable_not_a_psycopg_error(
        store: PostgresStore, raw: psycopg.Connection[tuple[object, ...]]) -> None:
    raw.execute("DROP TABLE errors")
    with pytest.raises(StoreUnavailable, match="errors") as caught:
        store.count_errors()
    assert isinstance(caught.value.__cause__, psycopg.Error)


def test_a_singleton_lives_in_the_session(storage: StorageSpec, store: PostgresStore,
                                          raw: psycopg.Connection[tuple[object, ...]]) -> None:
    assert store.hold_singleton("scheduler") and store.hold_singleton("scheduler")
    assert _roles_held(raw, store) == len(LOCK_KINDS) + 1  # its roles and the singleton, once


def test_the_server_needs_no_maintenance_from_the_engine(storage: StorageSpec) -> None:
    maintenance = open_maintenance(storage)
    maintenance.start()
    maintenance.stop()
    store = _open(storage)
    try:
        assert store.spill_directory() is None
    finally:
        store.close()


HISTORY_MIGRATION = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE audience_days" in m)


def test_the_audience_history_migration_starts_from_todays_sizes(
        storage: StorageSpec, raw: psycopg.Connection[tuple[object, ...]]) -> None:
    store = _open(storage, locks=LOCK_KINDS)
    try:
        with store.transaction():
            store.change_membership([("vip", 1), ("vip", 2), ("new", 1)], [], 1000)
    finally:
        store.close()
    # as a schema before the history existed: that migration and the ones after it undone
    raw.execute("DROP TABLE audience_days")
    raw.execute("DROP INDEX outbox_person")
    raw.execute("UPDATE schema_version SET version = %s", (HISTORY_MIGRATION,))
    today = int(time.time()) // 86400
    store = _open(storage)
    try:
        assert store.audience_history("vip") in ([(today, 2, 0, 0)], [(today + 1, 2, 0, 0)])
        assert [size for _day, size, *_ in store.audience_history("new")] == [1]
    finally:
        store.close()

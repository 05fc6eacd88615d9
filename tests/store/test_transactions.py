"""Store contract: transactions, durability modes, connections, failures (docs/store.md)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.errors import RuntimeFailure, StoreRefused, StoreUnavailable
from engine.store import LOCK_KINDS, Store, is_unavailable
from tests.store.conftest import Backend


def _profile_ids(store: Store) -> list[int]:
    return [pid for pid, _doc in store.iter_profiles()]


def test_a_transaction_commits_all_of_its_writes(store: Store) -> None:
    with store.transaction():
        store.append_events("s", 1, [("k", 1, b"x")])
        store.put_profiles([(1, 5, b"doc")])
        store.set_position("profiles", 1)
    assert len(store.read_log(0, 10)) == 1
    assert store.load_profiles([1]) == {1: b"doc"}
    assert store.position("profiles") == 1


def test_a_block_that_raises_writes_nothing_and_its_exception_goes_on(store: Store) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction():
        store.append_events("s", 1, [("k", 1, b"x")])
        store.put_profiles([(store.new_profile_id(), 5, b"doc")])
        store.set_position("profiles", 1)
        raise Boom
    assert store.read_log(0, 10) == []
    assert _profile_ids(store) == []
    assert store.position("profiles") == 0
    with store.transaction():  # the store goes on working after a rollback
        rows = store.append_events("s", 1, [("k", 1, b"x")])
    assert len(rows) == 1


def test_commits_in_a_deferred_sync_block_are_kept(backend: Backend) -> None:
    store = backend.open(durability="crash", locks=LOCK_KINDS)
    try:
        with store.deferred_sync():
            for i in range(3):
                with store.transaction():
                    store.append_events("s", 1, [(f"k{i}", i, b"x")])
        with store.transaction():
            store.set_position("profiles", 3)
    finally:
        store.close()
    store = backend.open()
    try:
        assert len(store.read_log(0, 10)) == 3
        assert store.position("profiles") == 3
    finally:
        store.close()


def test_another_connection_sees_what_was_committed(store: Store) -> None:
    with store.transaction():
        store.put_profiles([(store.new_profile_id(), 1, b"doc")])
    other = store.connect()
    try:
        assert other.count_profiles() == 1
        seen: list[int] = []
        thread = threading.Thread(target=lambda: seen.append(other.outbox_depth()))
        thread.start()
        thread.join()
        assert seen == [0]  # usable from another thread
        with other.transaction():  # and it takes no lock the first one holds
            other.set_paused("job", "why")
        assert store.job_state("job") == ("why", None)
    finally:
        other.close()


def test_a_bulk_load_may_spill_into_an_existing_folder_or_the_temp_folder(
        store: Store) -> None:
    folder = store.spill_directory()
    assert folder is None or folder.is_dir()


def test_a_role_is_held_by_one_store_at_a_time_until_it_is_closed(backend: Backend) -> None:
    first = backend.open(locks=LOCK_KINDS)
    try:
        with pytest.raises(RuntimeFailure, match="in use by another engine"):
            backend.open(locks=("apply",))
        reader = backend.open()  # a store without roles opens beside it
        reader.close()
    finally:
        first.close()
    backend.open(locks=("apply",)).close()


def test_a_value_the_store_cannot_hold_is_refused_not_unavailable(store: Store) -> None:
    with pytest.raises(StoreRefused) as caught, store.transaction():
        store.put_profiles([(1, 1, {"not": "bytes"})])  # type: ignore[list-item]
    assert not is_unavailable(caught.value)
    assert store.count_profiles() == 0
    with pytest.raises(StoreRefused), store.transaction():
        store.put_profiles([(1, 2**70, b"doc")])
    assert store.count_profiles() == 0


def test_the_storage_failing_is_unavailable() -> None:
    assert is_unavailable(StoreUnavailable("disk full"))
    assert is_unavailable(OSError("disk full"))
    assert not is_unavailable(ValueError("a bad value"))


def test_the_contract_suite_calls_every_member_of_the_protocol() -> None:
    """A member no contract test calls is a promise no new back end is held to."""
    members = {name for name in dir(Store) if not name.startswith("_")} - {"is_unavailable"}
    suite = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py")
                    if p.name not in ("test_sqlite.py", "test_postgres.py"))
    assert sorted(m for m in members if f".{m}(" not in suite) == []

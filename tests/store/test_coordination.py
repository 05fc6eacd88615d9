"""Store contract: what several processes on one store share (docs/store.md): pruning a log
copy, claims and locked reads for appliers side by side, nodes, singletons, token buckets.
Runs on every back end."""

from __future__ import annotations

from engine.store import Store
from engine.store.base import refill
from tests.store.conftest import Backend


def test_prune_log_forgets_old_events_and_their_keys_but_keeps_dead_letters(
        store: Store) -> None:
    with store.transaction():
        old = store.append_events("s", 100, [("a", 1, b"A"), ("b", 2, b"B")])
        new = store.append_events("s", 900, [("c", 3, b"C")])
        store.add_errors([(old[1][0], "s", "bad", 100)])
    with store.transaction():
        assert store.prune_log(500) == 1
    assert store.event(old[0][0]) is None
    assert store.event(old[1][0]) is not None  # a dead letter's event stays
    assert store.event(new[0][0]) is not None
    with store.transaction():  # the forgotten key is new again
        again = store.append_events("s", 1000, [("a", 1, b"A"), ("c", 3, b"C")])
    assert [row[2] for row in again] == ["a"]


def test_claims_and_locked_reads_inside_a_transaction(store: Store) -> None:
    with store.transaction():
        pid = store.new_profile_id()
        store.put_profiles([(pid, 1, b"{}")])
        store.put_identities([("email", "a@x", pid, 0)])
    with store.transaction():
        store.claim_identities([("email", "a@x"), ("email", "nobody@x")])
        store.claim_identities([])
        assert store.load_profiles([pid, pid + 100], lock=True) == {pid: b"{}"}
    assert store.load_profiles([pid]) == {pid: b"{}"}


def test_heartbeats_name_the_live_nodes(store: Store) -> None:
    store.heartbeat("b-node", "process", 1000)
    store.heartbeat("a-node", "collect", 1500)
    store.heartbeat("b-node", "process", 2000)
    assert store.live_nodes(0) == [("a-node", "collect", 1500), ("b-node", "process", 2000)]
    assert store.live_nodes(1600) == [("b-node", "process", 2000)]


def test_a_singleton_is_held_by_one_connection_until_released_or_closed(
        backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    try:
        assert first.hold_singleton("scheduler")
        assert first.hold_singleton("scheduler")  # keeping it
        assert not second.hold_singleton("scheduler")
        assert second.hold_singleton("export:job")  # another name is free
        first.release_singleton("scheduler")
        assert second.hold_singleton("scheduler")
        first.release_singleton("never-held")
    finally:
        second.close()
    third = backend.open()
    try:  # closing the holder's connection frees what it held
        assert third.hold_singleton("scheduler")
        assert third.hold_singleton("export:job")
    finally:
        third.close()
        first.close()


def test_a_token_bucket_is_shared_by_every_connection(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    try:
        assert first.take_tokens("auth", 3, 10.0, 5, 1000) == 0  # starts full (5)
        assert second.take_tokens("auth", 2, 10.0, 5, 1000) == 0
        wait = first.take_tokens("auth", 1, 10.0, 5, 1000)
        assert wait == 100  # empty: one token refills in 100 ms
        assert second.take_tokens("auth", 1, 10.0, 5, 1000 + wait) == 0
        assert first.take_tokens("other", 5, 1.0, 5, 1000) == 0  # buckets are separate
    finally:
        first.close()
        second.close()


def test_refill_is_capped_at_the_burst() -> None:
    assert refill(0.0, 0, 1, 10.0, 5, 10_000) == (4.0, 0)
    assert refill(0.0, 0, 9, 10.0, 5, 0) == (0.0, 500)  # more than a burst waits for a burst

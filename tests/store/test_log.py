"""Store contract: the event log and positions (docs/store.md). Runs on every back end."""

from __future__ import annotations

import pytest

from engine.store import LOCK_KINDS, Store
from tests.store.conftest import Backend


def _append(store: Store, stream: str, *keys: str | None, ts: int = 1000,
            received: int = 5) -> list[int]:
    with store.transaction():
        rows = store.append_events(stream, received,
                                   [(k, ts + i, f"body-{k}-{i}".encode()) for i, k in
                                    enumerate(keys)])
    return [row[0] for row in rows]


def test_an_empty_log(store: Store) -> None:
    assert store.last_seq() == 0
    assert store.read_log(0, 10) == []
    assert store.event(1) is None
    assert store.append_events("s", 1, []) == []


def test_appended_rows_come_back_in_order_with_ascending_seqs(store: Store) -> None:
    with store.transaction():
        rows = store.append_events("orders", 7, [("a", 100, b"A"), (None, 200, b"B"),
                                                 ("c", 50, b"C")])
    seqs = [row[0] for row in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3 and seqs[0] > 0
    assert [row[1:] for row in rows] == [("orders", "a", 100, 7, b"A"),
                                         ("orders", None, 200, 7, b"B"),
                                         ("orders", "c", 50, 7, b"C")]
    assert store.read_log(0, 10) == rows
    assert store.event(seqs[1]) == rows[1]
    assert store.last_seq() == seqs[-1]


def test_a_dedupe_key_already_logged_is_not_logged_again(store: Store) -> None:
    first = _append(store, "s", "k1", "k2")
    again = _append(store, "s", "k2", "k3", "k1")
    assert len(first) == 2 and len(again) == 1
    assert again[0] > first[-1]
    keys = [row[2] for row in store.read_log(0, 10)]
    assert keys == ["k1", "k2", "k3"]


def test_a_repeated_key_within_one_append_is_logged_once(store: Store) -> None:
    with store.transaction():
        rows = store.append_events("s", 1, [("k", 1, b"first"), ("k", 2, b"second")])
    assert [(row[2], row[5]) for row in rows] == [("k", b"first")]


def test_dedupe_keys_are_per_stream_and_keyless_events_are_never_duplicates(
        store: Store) -> None:
    assert len(_append(store, "a", "k", None, None)) == 3
    assert len(_append(store, "b", "k", None)) == 2
    assert len(_append(store, "a", None)) == 1
    assert store.last_seq() == store.read_log(0, 10)[-1][0]
    assert len(store.read_log(0, 10)) == 6


def test_reading_the_log_by_position_stream_time_and_page(store: Store) -> None:
    seqs = _append(store, "a", "1", "2", "3", ts=1000)
    seqs += _append(store, "b", "4", "5", ts=2000)
    assert [r[0] for r in store.read_log(seqs[1], 10)] == seqs[2:]
    assert [r[0] for r in store.read_log(0, 2)] == seqs[:2]
    assert [r[0] for r in store.read_log(0, 10, stream="b")] == seqs[3:]
    assert [r[0] for r in store.read_log(0, 10, since_ms=1002)] == seqs[2:]
    assert [r[0] for r in store.read_log(seqs[3], 10, stream="b", since_ms=0)] == seqs[4:]


def test_positions_start_at_zero_and_keep_what_was_set(store: Store) -> None:
    assert store.position("profiles") == 0
    with store.transaction():
        store.set_position("profiles", 41)
        store.set_position("other", 3)
    with store.transaction():
        store.set_position("profiles", 42)
    assert (store.position("profiles"), store.position("other")) == (42, 3)


def test_the_log_and_positions_survive_reopening(backend: Backend) -> None:
    store = backend.open(locks=LOCK_KINDS)
    try:
        seqs = _append(store, "s", "k1", None)
        with store.transaction():
            store.set_position("profiles", seqs[-1] + 10)  # past every logged event
    finally:
        store.close()
    store = backend.open(locks=LOCK_KINDS)
    try:
        assert [r[0] for r in store.read_log(0, 10)] == seqs
        assert store.position("profiles") == seqs[-1] + 10
        later = _append(store, "s", "k1", "k2")
        assert len(later) == 1  # k1 is still known after reopening
        assert later[0] > seqs[-1] + 10  # never a seq a position has passed
    finally:
        store.close()


def test_seqs_of_duplicates_and_rollbacks_are_gaps_never_reorderings(store: Store) -> None:
    first = _append(store, "s", "a")
    _append(store, "s", "a", "a")  # all duplicates
    with pytest.raises(RuntimeError), store.transaction():
        store.append_events("s", 1, [("b", 1, b"b")])
        raise RuntimeError("rolled back")
    assert [r[2] for r in store.read_log(0, 10)] == ["a"]
    after = _append(store, "s", "b")
    assert after[0] > first[0]
    assert [r[2] for r in store.read_log(0, 10)] == ["a", "b"]


def test_log_counts_per_stream(store: Store) -> None:
    assert store.log_counts() == {}
    first = _append(store, "a", "k1", "k2")
    _append(store, "b", None)
    assert store.log_counts() == {"a": 2, "b": 1}
    assert store.log_counts(upto=first[0]) == {"a": 1}


def test_a_large_append_keeps_every_new_event_in_order_and_drops_the_known(
        store: Store) -> None:
    """More events than one insert statement holds: known keys anywhere among them are
    dropped, the rest are logged in order, keyless ones included."""
    known = _append(store, "s", *(f"k{i}" for i in range(0, 1300, 100)))
    keys = [None if i % 7 == 0 else f"k{i}" for i in range(1300)]
    seqs = _append(store, "s", *keys)
    logged = [k for i, k in enumerate(keys) if k is None or i % 100]
    assert len(seqs) == len(logged) == 1300 - 13 + 2  # k0 and k700 were keyless this time
    assert [row[2] for row in store.read_log(known[-1], 2000)] == logged
    assert seqs == sorted(seqs) and seqs[0] > known[-1]

"""Store contract: profiles, identities and dead letters (docs/store.md)."""

from __future__ import annotations

from engine.store import Store
from tests.store.conftest import Backend


def _new_profiles(store: Store, n: int) -> list[int]:
    with store.transaction():
        ids = [store.new_profile_id() for _ in range(n)]
        store.put_profiles((pid, 100 + pid, f"doc{pid}".encode()) for pid in ids)
    return ids


def test_profile_ids_are_new_and_documents_come_back(store: Store) -> None:
    ids = _new_profiles(store, 3)
    assert len(set(ids)) == 3 and ids == sorted(ids)
    assert store.load_profiles([ids[2], ids[0], 999_999]) == {ids[2]: b"doc%d" % ids[2],
                                                              ids[0]: b"doc%d" % ids[0]}
    assert store.count_profiles() == 3
    with store.transaction():
        store.put_profiles([(ids[0], 500, b"changed")])
        store.delete_profiles([ids[1]])
    assert store.load_profiles(ids) == {ids[0]: b"changed", ids[2]: b"doc%d" % ids[2]}
    assert store.count_profiles() == 2


def test_loading_many_profiles_at_once(store: Store) -> None:
    ids = _new_profiles(store, 1200)  # more than one query's worth of ids
    assert len(store.load_profiles(ids)) == 1200


def test_every_profile_is_read_in_id_order_a_page_at_a_time(store: Store) -> None:
    ids = _new_profiles(store, 7)
    assert [pid for pid, _doc in store.iter_profiles(batch=3)] == ids
    assert dict(store.iter_profiles()) == store.load_profiles(ids)


def test_a_profile_id_is_never_handed_out_twice(backend: Backend) -> None:
    store = backend.open()
    try:
        ids = _new_profiles(store, 3)
        with store.transaction():
            store.delete_profiles([ids[-1]])  # the newest, merged away
    finally:
        store.close()
    store = backend.open()
    try:
        assert _new_profiles(store, 1)[0] > ids[-1]
    finally:
        store.close()


def test_identities_find_profiles_and_merge_counts_never_go_down(store: Store) -> None:
    a, b = _new_profiles(store, 2)
    with store.transaction():
        store.put_identities([("email", "x@example.com", a, 0), ("id", "1", a, 0),
                              ("id", "2", b, 3)])
    assert store.find_profile("id", "1") == a
    assert store.find_profile("id", "3") is None
    assert store.lookup_identities([("id", "1"), ("id", "2"), ("id", "3"),
                                    ("email", "x@example.com")]) == {
        ("id", "1"): a, ("id", "2"): b, ("email", "x@example.com"): a}
    with store.transaction():  # b merged into a
        store.put_identities([("id", "2", a, 1)])
    assert store.find_profile("id", "2") == a
    assert store.identity_merges("id", "2") == 3
    assert store.identity_merges("id", "9") == 0


def test_looking_up_many_identities_at_once(store: Store) -> None:
    (pid,) = _new_profiles(store, 1)
    with store.transaction():
        store.put_identities(("id", str(i), pid, 0) for i in range(1200))
    found = store.lookup_identities(("id", str(i)) for i in range(1300))
    assert len(found) == 1200 and set(found.values()) == {pid}


def test_dead_letters_come_back_with_their_events_and_the_latest_reason(store: Store) -> None:
    with store.transaction():
        rows = store.append_events("a", 1, [("k1", 10, b"one"), ("k2", 20, b"two")])
        rows += store.append_events("b", 1, [("k3", 30, b"three")])
        store.add_errors([(rows[0][0], "a", "first reason", 100),
                          (rows[2][0], "b", "other", 101)])
    with store.transaction():
        store.add_errors([(rows[0][0], "a", "second reason", 102)])
    assert store.count_errors() == 2
    assert store.error_counts() == {"a": 1, "b": 1}
    assert store.iter_errors() == [(rows[0][0], "a", "second reason", 102, 10, b"one"),
                                   (rows[2][0], "b", "other", 101, 30, b"three")]
    assert [e[0] for e in store.iter_errors(stream="b")] == [rows[2][0]]
    assert [e[0] for e in store.iter_errors(after=rows[0][0])] == [rows[2][0]]
    assert len(store.iter_errors(limit=1)) == 1


def test_taking_dead_letters_removes_them_once(store: Store) -> None:
    with store.transaction():
        rows = store.append_events("a", 1, [("k1", 10, b"one"), ("k2", 20, b"two")])
        store.add_errors([(rows[1][0], "a", "why", 100), (rows[0][0], "a", "why", 100)])
    with store.transaction():
        taken = store.take_errors([rows[1][0], rows[0][0], 999_999])
    assert taken == [rows[0][0], rows[1][0]]  # log order; an unknown seq is not taken
    assert store.count_errors() == 0
    with store.transaction():
        assert store.take_errors([rows[0][0]]) == []  # taken already: nothing to re-apply
    assert store.event(rows[0][0]) is not None  # the logged event stays


def test_a_reset_forgets_profiles_but_keeps_the_log_and_memberships(store: Store) -> None:
    ids = _new_profiles(store, 2)
    with store.transaction():
        rows = store.append_events("s", 1, [("k", 1, b"x")])
        store.put_identities([("id", "1", ids[0], 0)])
        store.add_errors([(rows[0][0], "s", "why", 1)])
        store.change_membership([("vip", ids[0])], [], 50)
        store.set_checks([("vip", ids[0], 60)])
        store.reset_profiles()
    assert store.count_profiles() == 0
    assert store.find_profile("id", "1") is None
    assert store.count_errors() == 0 and store.error_counts() == {}
    assert store.next_check() is None
    assert store.memberships([ids[0]]) == {ids[0]: {"vip": 50}}
    assert len(store.read_log(0, 10)) == 1
    with store.transaction():
        assert store.new_profile_id() == 1  # a replay gives the same ids again

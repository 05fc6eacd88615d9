"""Store contract: audience memberships and the export outbox (docs/store.md)."""

from __future__ import annotations

import threading

from engine.store import HISTORY_DAYS, Store
from tests.store.conftest import Backend


def _profiles(store: Store, n: int) -> list[int]:
    with store.transaction():
        ids = [store.new_profile_id() for _ in range(n)]
        store.put_profiles((pid, 1, b"{}") for pid in ids)
    return ids


def test_enters_and_exits_make_members_and_history(store: Store) -> None:
    a, b, c = _profiles(store, 3)
    with store.transaction():
        store.change_membership([("vip", a), ("vip", b), ("new", a)], [], 100)
    with store.transaction():
        store.change_membership([("vip", c)], [("vip", a)], 200)
    assert store.memberships([a, b, c, 999]) == {a: {"new": 100}, b: {"vip": 100},
                                                  c: {"vip": 200}}
    assert store.audience_sizes() == {"vip": 2, "new": 1}
    assert store.audience_members("vip") == [(b, 100), (c, 200)]
    assert store.audience_members("vip", after=b) == [(c, 200)]
    assert store.audience_members("vip", limit=1) == [(b, 100)]
    assert store.audience_changes(a) == [("vip", a, 1, 100), ("new", a, 1, 100),
                                         ("vip", a, 0, 200)]
    assert len(store.audience_changes()) == 5
    with store.transaction():
        store.change_membership([], [], 300)  # nothing to record
    assert len(store.audience_changes()) == 5


def test_members_whose_profile_is_gone_are_orphans(store: Store) -> None:
    a, b = _profiles(store, 2)
    with store.transaction():
        store.change_membership([("vip", a), ("vip", b)], [], 1)
        store.delete_profiles([b])
    assert store.orphan_memberships() == [("vip", b)]


def test_membership_checks_fall_due_soonest_first_and_can_be_cleared(store: Store) -> None:
    a, b, c = _profiles(store, 3)
    assert store.next_check() is None
    with store.transaction():
        store.set_checks([("vip", a, 300), ("new", a, 100), ("vip", b, 200), ("vip", c, 900)])
    assert store.next_check() == 100
    assert store.due_checks(250, 10) == [a, b]  # a once, though two of its checks are due
    assert store.due_checks(1000, 1) == [a]
    with store.transaction():
        store.set_checks([("new", a, None), ("vip", a, None), ("vip", b, 50)])
    assert store.next_check() == 50
    assert store.due_checks(1000, 10) == [b, c]


def test_outbox_items_fall_due_retry_and_finish(store: Store) -> None:
    a, b = _profiles(store, 2)
    with store.transaction():
        store.add_outbox("job", [(a, "identify", b"A"), (b, "identify", b"B")], 100)
        store.add_outbox("other", [(a, "delete", b"C")], 100)
        store.add_outbox("job", [], 100)
    assert (store.outbox_depth(), store.outbox_depth("job")) == (3, 2)
    due = store.due_outbox("job", 100, 10)
    assert [(p, act, body, n, at) for _id, p, act, body, n, at in due] == [
        (a, "identify", b"A", 0, 100), (b, "identify", b"B", 0, 100)]
    assert store.next_outbox("job") is not None and store.next_outbox("none") is None
    first, second = due[0][0], due[1][0]
    with store.transaction():
        store.outbox_retry([(first, 5000)])
        store.outbox_done([second])
    assert store.due_outbox("job", 4999, 10) == []
    assert store.next_outbox("job") == 5000
    retried = store.due_outbox("job", 5000, 10)
    assert [(i, n) for i, _p, _a, _b, n, _at in retried] == [(first, 1)]
    assert store.outbox_depth("job") == 1


def test_claimed_items_are_due_again_when_their_lease_ends(store: Store) -> None:
    a, b, c = _profiles(store, 3)
    with store.transaction():
        store.add_outbox("job", [(a, "identify", b"A"), (b, "identify", b"B")], 100)
        store.add_outbox("other", [(c, "identify", b"C")], 100)
    first = store.claim_outbox("job", 100, 1, 1000)
    assert [(p, body, n, at) for _i, p, _a, body, n, at in first] == [(a, b"A", 0, 100)]
    assert first == store.due_outbox("job", 1100, 10)[1:]  # due again at 100 + 1000
    second = store.claim_outbox("job", 200, 10, 1000)
    assert [r[3] for r in second] == [b"B"]  # the claimed one is left out
    assert store.claim_outbox("job", 1099, 10, 1000) == []
    assert store.next_outbox("job") == 1100
    with store.transaction():
        store.outbox_done([first[0][0]])
    assert [r[3] for r in store.claim_outbox("job", 1200, 10, 1000)] == [b"B"]  # lease ended
    with store.transaction():
        store.outbox_release([second[0][0]], 1300)
        store.outbox_release([], 1300)
    assert [(r[3], r[4]) for r in store.claim_outbox("job", 1300, 10, 1000)] == [(b"B", 0)]
    assert [r[3] for r in store.claim_outbox("other", 100, 10, 0)] == [b"C"]


def test_coalescing_removes_a_persons_unclaimed_items_of_an_action(store: Store) -> None:
    a, b = _profiles(store, 2)
    with store.transaction():
        store.add_outbox("job", [(a, "identify", b"A1"), (a, "event", b"E"),
                                 (a, "identify", b"A2"), (b, "identify", b"B")], 100)
        store.add_outbox("other", [(a, "identify", b"X")], 100)
    claimed = store.claim_outbox("job", 100, 1, 1000)  # A1 is on its way
    with store.transaction():
        assert store.outbox_coalesce("job", [(a, "identify"), (b, "segment_add")]) == {
            (a, "identify")}
        assert store.outbox_coalesce("job", []) == set()
    assert [r[3] for r in store.due_outbox("job", 10_000, 10)] == [b"E", b"B", b"A1"]
    assert [r[3] for r in store.due_outbox("other", 10_000, 10)] == [b"X"]
    with store.transaction():
        store.add_outbox("job", [(a, "identify", b"A3")], 200)
    # the claimed A1 has a newer identify of its person queued; B and E have none
    ids = {r[3]: r[0] for r in store.due_outbox("job", 10_000, 10)}
    assert store.outbox_superseded([claimed[0][0], ids[b"B"], ids[b"E"]]) == {claimed[0][0]}
    assert store.outbox_superseded([]) == set()


def test_the_next_holder_of_a_job_gives_every_claim_back_at_once(store: Store) -> None:
    a, b, c, d = _profiles(store, 4)
    with store.transaction():
        store.add_outbox("job", [(p, "identify", n) for p, n in
                                 ((a, b"A"), (b, b"B"), (c, b"C"))], 100)
        store.add_outbox("other", [(d, "identify", b"D")], 100)
    claimed = store.claim_outbox("job", 100, 2, 60_000)
    store.claim_outbox("other", 100, 1, 60_000)
    with store.transaction():
        store.outbox_retry([(claimed[1][0], 5000)])  # retried: no longer claimed, backs off
    with store.transaction():
        assert store.outbox_unclaim("job") == 1
    # due at once, in the order queued: A before C again
    assert [r[3] for r in store.claim_outbox("job", 200, 10, 60_000)] == [b"A", b"C"]
    assert store.claim_outbox("other", 200, 10, 60_000) == []  # another job's claim stays
    with store.transaction():
        assert store.outbox_unclaim("job") == 2
    assert [r[3] for r in store.due_outbox("job", 300, 10)] == [b"A", b"C"]
    assert store.next_outbox("job") == 0


def test_connections_claiming_at_once_take_disjoint_items(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]
    try:
        ids = _profiles(stores[0], 60)
        with stores[0].transaction():
            stores[0].add_outbox("job", [(p, "identify", b"x") for p in ids], 100)
        start = threading.Barrier(len(stores))
        claimed: list[list[int]] = [[] for _ in stores]
        failed: list[BaseException] = []

        def claim(i: int) -> None:
            try:
                start.wait()
                while rows := stores[i].claim_outbox("job", 100, 3, 60_000):
                    claimed[i] += [r[0] for r in rows]
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failed == []
        every = claimed[0] + claimed[1]
        assert len(every) == len(set(every)) == 60  # each item claimed once, none left out
    finally:
        for opened in stores:
            opened.close()


def test_items_refused_for_good_are_kept_with_the_response(store: Store) -> None:
    (a,) = _profiles(store, 1)
    with store.transaction():
        store.add_outbox("job", [(a, "identify", b"A")], 100)
        store.add_outbox("other", [(a, "identify", b"B")], 100)
    (item,) = store.due_outbox("job", 100, 10)
    with store.transaction():
        store.outbox_dead([(item[0], 400, "bad request")], 150)
    assert store.outbox_depth("job") == 0
    dead = store.export_dead()
    assert [d[1:] for d in dead] == [("job", a, "identify", b"A", 400, "bad request", 150)]
    assert store.export_dead("other") == []
    assert store.export_dead(limit=0) == []


def test_what_a_job_last_sent_per_member(store: Store) -> None:
    a, b, c = _profiles(store, 3)
    assert store.export_members("job", [a, b]) == {}
    with store.transaction():
        store.set_export_members("job", [(a, "ida", "d1"), (b, "idb", "d2")], [])
        store.set_export_members("other", [(a, "x", "y")], [])
    with store.transaction():
        store.set_export_members("job", [(a, "ida", "d3"), (c, "idc", "d4")], [b])
        store.set_export_members("job", [], [])
    assert store.export_members("job", [a, b, c]) == {a: ("ida", "d3"), c: ("idc", "d4")}


def test_a_job_state_records_pauses_and_backfills(store: Store) -> None:
    assert store.job_state("job") == (None, None)
    with store.transaction():
        store.set_paused("job", "credentials refused")
        store.set_backfilled("job", "digest1")
    assert store.job_state("job") == ("credentials refused", "digest1")
    with store.transaction():
        store.set_paused("job", None)
        store.set_backfilled("other", "digest2")
    assert store.job_state("job") == (None, "digest1")
    assert store.job_state("other") == (None, "digest2")


def test_dead_items_taken_back_leave_the_dead_letters_once(store: Store) -> None:
    a, b = _profiles(store, 2)
    with store.transaction():
        store.add_outbox("job", [(a, "identify", b"A"), (b, "identify", b"B")], 100)
        store.add_outbox("other", [(a, "identify", b"C")], 100)
    items = store.due_outbox("job", 100, 10) + store.due_outbox("other", 100, 10)
    with store.transaction():
        store.outbox_dead([(i[0], 400, "bad request") for i in items], 150)
    first, second = (d[0] for d in store.export_dead("job"))
    (theirs,) = (d[0] for d in store.export_dead("other"))
    with store.transaction():
        # another job's dead letter is not this job's to take; an unknown id is no error
        taken = store.take_export_dead("job", [second, first, theirs, 999_999])
    assert [t[:4] for t in taken] == [(first, "job", a, "identify"), (second, "job", b,
                                                                      "identify")]
    assert [t[4:] for t in taken] == [(b"A", 400, "bad request", 150),
                                      (b"B", 400, "bad request", 150)]
    assert store.export_dead("job") == []
    assert [d[0] for d in store.export_dead("other")] == [theirs]
    with store.transaction():
        assert store.take_export_dead("job", [first, second]) == []  # taken once only
        assert store.take_export_dead("job", []) == []


def test_an_operator_pause_is_kept_apart_from_a_credentials_pause(backend: Backend) -> None:
    opened = backend.open()
    try:
        assert opened.operator_pause("job") is None
        with opened.transaction():
            opened.set_paused("job", "credentials refused")
            opened.set_operator_pause("job", 1234)
        with opened.transaction():
            opened.set_paused("job", None)  # a job starting again lifts only its own pause
        assert opened.job_state("job") == (None, None)
        assert opened.operator_pause("job") == 1234
        assert opened.operator_pause("other") is None
    finally:
        opened.close()
    again = backend.open()  # a restart, or another node: the pause is in the store
    try:
        assert again.operator_pause("job") == 1234
        with again.transaction():
            again.set_operator_pause("job", None)
            again.set_operator_pause("fresh", 99)  # a job with no state yet
        assert again.operator_pause("job") is None
        assert again.operator_pause("fresh") == 99
        assert again.job_state("fresh") == (None, None)
    finally:
        again.close()


DAY = 86_400_000


def test_each_day_keeps_the_audiences_size_entries_and_exits(store: Store) -> None:
    a, b, c = _profiles(store, 3)
    with store.transaction():
        store.change_membership([("vip", a), ("vip", b), ("new", a)], [], 10 * DAY + 5)
    with store.transaction():
        store.change_membership([("vip", c)], [("vip", a)], 10 * DAY + 9)
    with store.transaction():  # a quiet day goes unrecorded; the next starts from size 2
        store.change_membership([], [("vip", b)], 12 * DAY)
    assert store.audience_history("vip") == [(10, 2, 3, 1), (12, 1, 0, 1)]
    assert store.audience_history("new") == [(10, 1, 1, 0)]
    assert store.audience_history("vip", since_day=11) == [(12, 1, 0, 1)]
    assert store.audience_history("nobody") == []


def test_the_daily_history_keeps_its_retention(store: Store) -> None:
    (a,) = _profiles(store, 1)
    with store.transaction():
        store.change_membership([("vip", a)], [], 1 * DAY)
    with store.transaction():
        store.change_membership([], [("vip", a)], (1 + HISTORY_DAYS) * DAY)
    assert [d for d, *_ in store.audience_history("vip")] == [1, 1 + HISTORY_DAYS]
    with store.transaction():
        store.change_membership([("vip", a)], [], (2 + HISTORY_DAYS) * DAY)
    assert store.audience_history("vip") == [(1 + HISTORY_DAYS, 0, 0, 1),
                                             (2 + HISTORY_DAYS, 1, 1, 0)]

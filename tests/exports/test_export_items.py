"""What export jobs queue (engine/exports/jobs.py, docs/customerio.md "What happens when"): the
items of an enter, a change, an exit, a merge and a backfill, straight from membership diffs
into a scratch store, and how the runner packs segment calls."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.audiences.membership import Diff
from engine.config.model import ExportSpec, Settings, StorageSpec
from engine.exports.customerio import Item
from engine.exports.jobs import ExportJob, ExportJobs
from engine.exports.runner import JobRunner
from engine.store import LOCK_KINDS, Store, open_store

NOW = 1_769_500_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(
        StorageSpec(backend="sqlite", path=str(tmp_path / "s.db")), locks=LOCK_KINDS
    )
    try:
        yield opened
    finally:
        opened.close()


def _jobs(**keys: Any) -> ExportJobs:
    keys = {"id_field": "uid", "email_field": "email", "extra_attributes": ("plan",), **keys}
    spec = ExportSpec(
        name="job", provider="customerio", authorization="cio", audience="aud", **keys
    )
    return ExportJobs(Settings(path="c.yaml", exports=(spec,)))


def _diff(
    pid: int,
    now_in: bool,
    was_in: bool,
    view: dict[str, Any] | None,
    merged_into: int | None = None,
) -> Diff:
    return Diff(
        pid, ["aud"] if now_in else [], ["aud"] if was_in else [], lambda: view, merged_into
    )


def _queued(store: Store) -> list[tuple[str, dict[str, Any]]]:
    rows = store.due_outbox("job", 2**62, 100)
    with store.transaction():
        store.outbox_done([r[0] for r in rows])
    return [(r[2], orjson.loads(r[3])) for r in rows]


def _enqueue(jobs: ExportJobs, store: Store, diffs: list[Diff], now: int = NOW) -> None:
    with store.transaction():
        jobs.enqueue(store, diffs, now)


def test_an_attribute_gone_missing_is_sent_as_null_once(store: Store) -> None:
    jobs = _jobs()
    full = {"uid": "u1", "email": "a@example.com", "plan": "pro"}
    _enqueue(jobs, store, [_diff(1, True, False, full)])
    assert _queued(store) == [
        (
            "identify",
            {
                "id": "u1",
                "attributes": {"email": "a@example.com", "plan": "pro"},
                "timestamp": NOW // 1000,
            },
        )
    ]
    _enqueue(
        jobs, store, [_diff(1, True, True, {"uid": "u1", "email": "a@example.com"})], NOW + 5000
    )
    assert _queued(store) == [
        (
            "identify",
            {
                "id": "u1",
                "attributes": {"email": "a@example.com", "plan": None},
                "timestamp": NOW // 1000 + 5,
            },
        )
    ]
    # nothing changed since: nothing is sent, though the body now names the null
    _enqueue(jobs, store, [_diff(1, True, True, {"uid": "u1", "email": "a@example.com"})])
    assert _queued(store) == []


def test_the_default_job_keeps_its_definition_digest() -> None:
    """Jobs written before the Customer.io keys existed owe no new backfill."""
    job = _jobs().jobs["job"]
    before = hashlib.sha256(
        orjson.dumps(["aud", "uid", "email", ["plan"]], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()[:16]
    assert job.digest() == before
    assert _jobs(event_on_enter="x", on_exit="suppress").jobs["job"].digest() == before
    assert _jobs(segment_id=7).jobs["job"].digest() != job.digest()
    assert _jobs(identifier="email").jobs["job"].digest() != job.digest()


def test_enter_exit_and_reentry_with_every_key(store: Store) -> None:
    jobs = _jobs(
        identifier="email",
        id_field="email",
        membership_attribute=True,
        on_exit="suppress",
        event_on_enter="in",
        event_on_exit="out",
        segment_id=9,
    )
    view = {"email": "a@example.com", "plan": "pro"}
    _enqueue(jobs, store, [_diff(1, True, False, view)])
    t = NOW // 1000
    assert _queued(store) == [
        ("unsuppress", {"email": "a@example.com", "timestamp": t}),
        (
            "identify",
            {
                "email": "a@example.com",
                "attributes": {"email": "a@example.com", "plan": "pro", "in_aud": True},
                "timestamp": t,
            },
        ),
        (
            "event",
            {
                "email": "a@example.com",
                "name": "in",
                "attributes": {"audience": "aud"},
                "timestamp": t,
            },
        ),
        ("segment_add", {"email": "a@example.com", "segment_id": 9}),
    ]
    _enqueue(jobs, store, [_diff(1, False, True, view)])
    assert _queued(store) == [
        ("identify", {"email": "a@example.com", "attributes": {"in_aud": False}, "timestamp": t}),
        (
            "event",
            {
                "email": "a@example.com",
                "name": "out",
                "attributes": {"audience": "aud"},
                "timestamp": t,
            },
        ),
        ("segment_remove", {"email": "a@example.com", "segment_id": 9}),
        ("suppress", {"email": "a@example.com", "timestamp": t}),
    ]


def test_a_member_without_an_identifier_is_skipped_and_counted(store: Store) -> None:
    jobs = _jobs(identifier="email", id_field="email")
    with store.transaction():
        counts = jobs.enqueue(store, [_diff(1, True, False, {"plan": "pro"})], NOW)
    assert counts[("job", "skipped")] == 1 and _queued(store) == []


def test_queued_segment_calls_cancel_out(store: Store) -> None:
    jobs = _jobs(segment_id=9)
    view = {"uid": "u1", "plan": "pro"}
    _enqueue(jobs, store, [_diff(1, True, False, view)])
    _enqueue(jobs, store, [_diff(1, False, True, view)])
    # the add never went: the remove cancels it, and the enter's identify is replaced by
    # nothing newer (no membership attribute), so it stays
    assert [a for a, _b in _queued(store)] == ["identify"]


def test_a_merge_of_two_sent_people_is_one_merge(store: Store) -> None:
    jobs = _jobs()
    _enqueue(
        jobs, store, [_diff(1, True, False, {"uid": "a"}), _diff(2, True, False, {"uid": "b"})]
    )
    _queued(store)
    _enqueue(
        jobs,
        store,
        [
            _diff(1, True, True, {"uid": "a", "plan": "pro"}),
            _diff(2, False, True, None, merged_into=1),
        ],
    )
    assert _queued(store) == [
        ("merge", {"primary": {"id": "a"}, "secondary": {"id": "b"}, "timestamp": NOW // 1000}),
        (
            "identify",
            {"id": "a", "attributes": {"plan": "pro", "email": None}, "timestamp": NOW // 1000},
        ),
    ]
    assert store.export_members("job", [1, 2]).keys() == {1}


def test_a_backfill_adds_every_member_to_the_segment(store: Store) -> None:
    jobs = _jobs(segment_id=9)
    job = jobs.jobs["job"]
    with store.transaction():
        counts = jobs.backfill(
            job, store, [(i, {"uid": f"u{i}"}) for i in range(3)] + [(9, {})], NOW
        )
    assert counts[("job", "queued")] == 6 and counts[("job", "skipped")] == 1
    assert [a for a, _b in _queued(store)] == ["identify", "segment_add"] * 3


def test_segment_calls_are_packed_by_segment_and_kind_at_most_1000(store: Store) -> None:
    job: ExportJob = _jobs().jobs["job"]
    runner = JobRunner(job, store, None)  # type: ignore[arg-type]
    try:
        items = [Item(i, "segment_add", {"id": str(i), "segment_id": 9}) for i in range(2500)]
        items += [
            Item(5000, "segment_remove", {"id": "x", "segment_id": 9}),
            Item(5001, "segment_add", {"email": "e@x", "segment_id": 9}),
            Item(5002, "identify", {"id": "x", "attributes": {}}),
        ]
        packed = runner._pack(items)
    finally:
        runner.close()
    assert [len(p) for p in packed] == [1000, 1000, 500, 1, 1, 1]
    assert packed[-1][0].action == "identify"

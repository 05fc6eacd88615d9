"""Operating export jobs (docs/customerio.md "Operations"): a job's dead letters, replaying
them, and pausing or resuming a job for the operator.

Everything here reads and writes the store alone, so that `engine export …` run beside a
daemon, the admin API and every node of a multi-node deployment see the same thing: a job's
runner asks the store for the operator pause before each round (`JobRunner`), not its own
memory. A replay queues the items again through `add_outbox`, the call the pipeline queues
with, in the transaction that takes them out of the dead letters (`take_export_dead`, which
hands each item to one caller only): a replay cut short leaves the rest as dead letters, and
a replay run twice queues nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from engine.exports.jobs import identifiers
from engine.lang.values import format_date, ms_to_date
from engine.store.base import DeadExport, Store

OPERATOR, ERROR = "operator", "error"  # who paused a job: `paused_by`
REPLAY_BATCH = 500  # dead letters moved back per transaction


@dataclass(frozen=True)
class ExportDeadLetter:
    """An outbox item the destination refused for good, as operators read it."""

    id: int
    job: str
    profile_id: int
    action: str
    identifiers: dict[str, Any]  # how the destination was to know the person
    status: int  # the HTTP status of the refusal (0: none came)
    response: str  # what the destination said, or why the item was never sent
    at: int  # epoch ms

    @classmethod
    def of(cls, row: DeadExport) -> ExportDeadLetter:
        item_id, job, profile_id, action, body, status, response, at = row
        return cls(item_id, job, profile_id, action, identifiers_of(body), status, response, at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "profile_id": self.profile_id,
            "action": self.action,
            "identifiers": self.identifiers,
            "status": self.status,
            "response": self.response,
            "at": format_date(ms_to_date(self.at)),
        }


def identifiers_of(body: bytes) -> dict[str, Any]:
    """The person's identifiers in a queued item, whichever way it addresses them
    (``identifiers``, a bare ``id``, ``email`` or ``cio_id``, or a merge's ``primary``); {}
    when it names none."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(doc, dict):
        return {}
    for key in ("identifiers", "primary"):
        if isinstance(doc.get(key), dict):
            return dict(doc[key])
    return identifiers(doc)


def dead_letters(store: Store, job: str, limit: int = 100) -> list[ExportDeadLetter]:
    """A job's dead letters, oldest first."""
    return [ExportDeadLetter.of(row) for row in store.export_dead(job, limit)]


def replay(store: Store, job: str, now: int) -> int:
    """Put every dead letter of a job back in its outbox, due at once with no attempt
    counted; how many. Each batch moves in one transaction."""
    moved = 0
    while True:
        with store.transaction():
            ids = [row[0] for row in store.export_dead(job, REPLAY_BATCH)]
            taken = store.take_export_dead(job, ids)
            store.add_outbox(
                job, [(pid, action, body) for _id, _job, pid, action, body, *_rest in taken], now
            )
        moved += len(taken)
        if len(ids) < REPLAY_BATCH:
            return moved


def pause(store: Store, job: str, now: int) -> int:
    """Pause a job for the operator; since when it is paused (an earlier pause is kept)."""
    with store.transaction():
        since = store.operator_pause(job)
        if since is None:
            store.set_operator_pause(job, since := now)
    return since


def resume(store: Store, job: str) -> bool:
    """Lift the operator's pause of a job; whether there was one."""
    with store.transaction():
        since = store.operator_pause(job)
        if since is not None:
            store.set_operator_pause(job, None)
    return since is not None


def held_reason(job: str, since: int) -> str:
    """What `engine status`, `/api/exports` and `engine export run` say of a job an operator
    paused: who, since when, and how to undo it."""
    return (
        f"paused by the operator since {format_date(ms_to_date(since))}; its outbox "
        f"keeps filling, and `engine export resume {job}` sends it"
    )


def pause_state(store: Store, job: str) -> tuple[str | None, str | None]:
    """Who paused a job — `OPERATOR`, or `ERROR` (its credentials were refused) — and why;
    ``(None, None)`` when it is not paused. The operator's pause outranks the other: lifting
    the other would not let the job send."""
    paused, _backfilled = store.job_state(job)
    since = store.operator_pause(job)
    if since is not None:
        also = f"; besides, {paused}" if paused else ""
        return OPERATOR, held_reason(job, since) + also
    if paused:
        return ERROR, paused
    return None, None

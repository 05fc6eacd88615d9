"""Running export jobs over an engine's store: the backfill and the delivery, for
`engine export run` and for the daemon.

A job starts by checking its credentials (`GET /api/v1/accounts/region`): a 401 or 403 pauses
it with a clear error, anything else unpauses it. A job with `existing_users: true` owes a
backfill of every current member when it starts for the first time with its present
definition (`--existing-users` asks for one again); the backfill is queued in one transaction
with the record that it was done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from engine.engine import Engine
from engine.errors import EngineError, unknown_error
from engine.exports.customerio import CredentialsError, TrackClient
from engine.exports.jobs import Counts, ExportJob
from engine.exports.runner import JobRunner, JobStats
from engine.store.base import Store

TIMEOUT_S = 10.0  # per request to the destination


def job_of(engine: Engine, name: str) -> ExportJob:
    jobs = engine.config.exports.jobs
    if name not in jobs:
        raise unknown_error("export job", name, sorted(jobs), plural="jobs")
    return jobs[name]


def members(engine: Engine, audience: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every member of an audience as ``(profile_id, view)``."""
    rules = engine.config.pipeline.rules
    for profile, _entered in engine.member_profiles(audience):
        yield profile.id, profile.view(rules)


def backfill(engine: Engine, job: ExportJob, *, force: bool = False) -> Counts | None:
    """Queue every current member, when the job owes it (or `force`); None when not owed."""
    _paused, done = engine.store.job_state(job.name)
    if not force and (not job.spec.existing_users or done == job.digest()):
        return None
    engine.flush()
    with engine.store.transaction():
        return engine.config.exports.backfill(job, engine.store,
                                              members(engine, job.audience), engine.clock())


def start_job(store: Store, job: ExportJob, client: TrackClient) -> str | None:
    """Check the job's credentials; why it cannot run (and is paused), or None."""
    try:
        client.check_credentials()
    except CredentialsError as exc:
        reason = (f"{exc} for authorization {job.spec.authorization!r}; the job is paused until "
                  "the config is fixed and reloaded")
        with store.transaction():
            store.set_paused(job.name, reason)
        return reason
    with store.transaction():
        store.set_paused(job.name, None)
    return None


def run(engine: Engine, name: str, *, existing_users: bool = False,
        transport: httpx.BaseTransport | None = None, timeout_s: float = TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep) -> tuple[JobStats, Counts | None]:
    """Run one job until its outbox is drained (`engine export run`)."""
    job = job_of(engine, name)
    why = job.disabled()
    if why is not None:
        raise EngineError(f"export job {name!r} is disabled: {why}")
    assert job.authorization is not None
    client = TrackClient(job.authorization, transport=transport, timeout_s=timeout_s)
    try:
        paused = start_job(engine.store, job, client)
        if paused is not None:
            return JobStats(paused=paused, last_error=paused), None
        queued = backfill(engine, job, force=existing_users)
        runner = JobRunner(job, engine.store, client, clock=engine.clock, sleep=sleep)
        try:
            return runner.run(until_empty=True), queued
        finally:
            runner.close()
    finally:
        client.close()

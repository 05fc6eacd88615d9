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
from typing import Any, Protocol

import httpx

from engine.clock import Clock
from engine.errors import EngineError, RuntimeFailure, UnknownName
from engine.exports.customerio import CredentialsError, TrackClient
from engine.exports.jobs import Counts, ExportJob, ExportJobs
from engine.exports.runner import JobRunner, JobStats
from engine.store.base import Store

TIMEOUT_S = 10.0  # per request to the destination


class Host(Protocol):
    """What running a job needs of the engine it runs beside.

    The façade (`engine.Engine`) sits above this layer and passes itself; naming only these
    members keeps the import pointing down.
    """

    @property
    def store(self) -> Store: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def export_jobs(self) -> ExportJobs: ...

    def flush(self) -> None: ...

    def member_views(self, name: str) -> Iterator[tuple[int, dict[str, Any]]]: ...


def job_of(engine: Host, name: str) -> ExportJob:
    jobs = engine.export_jobs.jobs
    if name not in jobs:
        raise UnknownName("export job", name, sorted(jobs), plural="jobs")
    return jobs[name]


def backfill(engine: Host, job: ExportJob, *, force: bool = False) -> Counts | None:
    """Queue every current member, when the job owes it (or `force`); None when not owed."""
    _paused, done = engine.store.job_state(job.name)
    if not force and (not job.spec.existing_users or done == job.digest()):
        return None
    engine.flush()
    with engine.store.transaction():
        return engine.export_jobs.backfill(job, engine.store, engine.member_views(job.audience),
                                           engine.clock())


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
        # The caller holds the job's runner singleton, so it alone sends: whatever is still
        # claimed was claimed by a runner that is gone, and is sent again now.
        store.outbox_unclaim(job.name)
    return None


def runner_singleton(job: str) -> str:
    """The singleton whose holder alone sends a job's outbox, across every node of a store."""
    return f"export:{job}"


def run(engine: Host, name: str, *, existing_users: bool = False,
        transport: httpx.BaseTransport | None = None, timeout_s: float = TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep) -> tuple[JobStats, Counts | None]:
    """Run one job until its outbox is drained (`engine export run`)."""
    job = job_of(engine, name)
    why = job.disabled()
    if why is not None:
        raise EngineError(f"export job {name!r} is disabled: {why}")
    assert job.authorization is not None
    if not engine.store.hold_singleton(runner_singleton(name)):
        raise RuntimeFailure(f"export job {name!r} is running on a daemon of this store; "
                             "stop it first (docs/exports.md)")
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
        engine.store.release_singleton(runner_singleton(name))

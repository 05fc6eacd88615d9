"""Export jobs inside the daemon: one runner thread per job, beside the processing loop.

Each job gets its own thread, store connection and Customer.io client, so a job that waits on
a slow or failing destination never holds up another job or the processing of events. A job
whose authorization has no credentials stays disabled and says so once in the log and in
`/api/exports`; a job whose credentials are refused pauses until the config is reloaded, when
all runners start again with the new config. An operator's pause (`engine export pause`)
keeps a runner waiting, not ended: it looks at the store again each second and sends the
backlog once the pause is lifted, by whichever process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import StoreUnavailable
from engine.exports import operations, service
from engine.exports.customerio import TrackClient
from engine.exports.jobs import ExportJob
from engine.exports.runner import JobRunner, JobStats
from engine.store.base import Store

log = logging.getLogger("engine.exports")

STANDBY_POLL_S = 5.0  # how often a standby runner asks for its job (a takeover within 10 s)


@dataclass
class _Runner:
    job: ExportJob
    thread: threading.Thread | None = None
    runner: JobRunner | None = None
    disabled: str | None = None
    failure: str | None = None
    # True: another node runs this job, and this runner takes over if it dies; None: not
    # asked yet
    standby: bool | None = None
    reported: JobStats = field(default_factory=JobStats)
    wake: threading.Event = field(default_factory=threading.Event)


class Exporters:
    """The runner threads of every export job of a config."""

    def __init__(self, store: Store) -> None:
        self.store = store  # each runner thread opens a connection of its own to it
        self.stop_event = threading.Event()
        self.runners: dict[str, _Runner] = {}

    def start(self, jobs: Mapping[str, ExportJob]) -> None:
        self.stop_event = threading.Event()
        self.runners = {}
        for name, job in jobs.items():
            slot = self.runners[name] = _Runner(job, disabled=job.disabled())
            if slot.disabled is not None:
                log.warning("export job disabled", extra={"job": name,
                                                          "reason": slot.disabled})
                continue
            slot.thread = threading.Thread(target=self._run, args=(slot,),
                                           name=f"export-{name}", daemon=True)
            slot.thread.start()

    def wake(self) -> None:
        """New outbox entries were committed."""
        for slot in self.runners.values():
            slot.wake.set()

    def stop(self) -> None:
        self.stop_event.set()
        self.wake()
        for slot in self.runners.values():
            if slot.thread is not None:
                slot.thread.join(60)

    def _run(self, slot: _Runner) -> None:
        job = slot.job
        assert job.authorization is not None
        store = self.store.connect()
        client = TrackClient(job.authorization)
        singleton = service.runner_singleton(job.name)
        try:
            while not self.stop_event.is_set():
                try:
                    # One runner per job across every node of the store (docs/scale-out.md).
                    if not store.hold_singleton(singleton):
                        slot.standby = True
                        self.stop_event.wait(STANDBY_POLL_S)
                        continue
                    slot.standby = False
                    paused = service.start_job(store, job, client)
                    if paused is not None:
                        log.error("export job paused", extra={"job": job.name,
                                                              "reason": paused})
                        return
                    if slot.runner is None:
                        slot.runner = JobRunner(job, store, client)
                    slot.runner.run(until_empty=False, stop=self.stop_event, wake=slot.wake,
                                    owned=lambda: store.hold_singleton(singleton))
                    if slot.runner.stats.paused:
                        return
                except StoreUnavailable as exc:
                    # The store is down or its session was lost (and the singleton with it):
                    # wait, then ask for the job again, as a standby would.
                    slot.standby = None
                    log.warning("export job waiting for the store",
                                extra={"job": job.name, "reason": str(exc)})
                    self.stop_event.wait(STANDBY_POLL_S)
        except Exception as exc:  # a broken job must not take the daemon down
            slot.failure = f"{type(exc).__name__}: {exc}"
            log.exception("export job failed", extra={"job": job.name})
        finally:
            if slot.runner is not None:
                slot.runner.close()
            client.close()
            store.close()

    def status(self, store: Store) -> dict[str, dict[str, Any]]:
        """Per job: state, outbox depth, last error, and counts since the last call."""
        out: dict[str, dict[str, Any]] = {}
        for name, slot in self.runners.items():
            paused_by, paused = operations.pause_state(store, name)
            stats = slot.runner.stats if slot.runner is not None else JobStats()
            last = slot.reported
            delta = {"sent": stats.sent - last.sent, "retried": stats.retried - last.retried,
                     "dead": stats.dead - last.dead,
                     "superseded": stats.superseded - last.superseded}
            slot.reported = JobStats(stats.sent, stats.retried, stats.dead, stats.requests,
                                     stats.superseded)
            error: str | None
            if slot.disabled is not None:
                state, error = "disabled", slot.disabled
            elif slot.failure is not None:
                state, error = "failed", slot.failure
            elif paused:
                state, error = "paused", paused
            elif slot.standby:
                state, error = "standby", None
            elif slot.standby is None:
                state, error = "starting", None
            else:
                state, error = "running", stats.last_error
            out[name] = {"name": name, "audience": slot.job.audience, "state": state,
                         "paused_by": paused_by if state == "paused" else None,
                         "outbox": store.outbox_depth(name), "last_error": error,
                         "sent": stats.sent, "retried": stats.retried, "dead": stats.dead,
                         "superseded": stats.superseded, "delta": delta}
        return out

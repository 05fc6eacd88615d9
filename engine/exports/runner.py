"""Delivering one export job's outbox (docs/exports.md): at least once, rate-limited, retried.

A runner claims the job's due items oldest first, packs them into requests (v2 batches within
`batch.max_items` and `batch.max_bytes`; v1 one member per request), keeps at most
`concurrency` requests in flight and starts at most `rate_limit_per_s` per second (a token
bucket of its own) and at most its authorization's `rate_limit_per_s` together with every
other job on that authorization, on every node (a bucket in the store). It applies each
outcome in one transaction: sent items leave the outbox; items to retry wait — `Retry-After`
when Customer.io gives one, else an exponential backoff with jitter — until `retry_horizon_s`
after they were queued, then become dead letters; refused items become dead letters with the
response at once; a 401 or 403 pauses the job with a clear error until the config is
reloaded; an operator's pause (`engine export pause`, held in the store) stops it sending
until resumed while its outbox keeps filling. An item leaves the outbox only after its
answer, so a crash at any moment sends it again rather than never (at-least-once; identify
is idempotent). Items are claimed for a lease
(`claim_outbox`): a runner taking over from one still sending never sends the same items at
once, and the items of a runner that died are sent again when its lease ends.

Each job has its own runner, thread, connection and limits: one failing job never slows another.
The clock and the sleep are injected, so tests run a 429 storm without waiting for it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson

from engine.clock import system_clock
from engine.exports import operations
from engine.exports.customerio import (
    AUTH,
    BATCH_FRAME,
    DEAD,
    RETRY,
    SENT,
    Item,
    Outcome,
    TrackClient,
    segment_key,
)
from engine.exports.jobs import IDENTIFY, SEGMENT_ACTIONS, ExportJob
from engine.exports.limits import MAX_SEGMENT_IDS
from engine.store.base import Store

log = logging.getLogger("engine.exports")

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
IDLE_S = 1.0  # a runner with nothing due looks again this often (or when woken)
# How long a round's items stay claimed: longer than a round takes (its requests, their rate
# limit waits), short enough that the items of a runner that died are not held up for long.
CLAIM_LEASE_MS = 60_000


@dataclass
class JobStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    requests: int = 0
    superseded: int = 0  # failed identifies dropped: a newer one of the person was queued
    paused: str | None = None
    last_error: str | None = None

    def add(self, other: JobStats) -> None:
        self.sent += other.sent
        self.superseded += other.superseded
        self.retried += other.retried
        self.dead += other.dead
        self.requests += other.requests
        self.paused = other.paused or self.paused
        self.last_error = other.last_error or self.last_error


@dataclass
class TokenBucket:
    """At most `rate` starts per second on average, bursts up to one second's worth."""

    rate: float  # 0: no limit
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    tokens: float = 0.0
    at: float = field(default=-1.0)

    def take(self) -> None:
        if self.rate <= 0:
            return
        now = self.clock()
        if self.at < 0:
            self.tokens, self.at = max(1.0, self.rate), now
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            wait = (1 - self.tokens) / self.rate
            self.sleep(wait)
            self.tokens, self.at = 1.0, self.at + wait
        self.tokens -= 1


class JobRunner:
    """Sends one job's outbox through a `TrackClient`."""

    def __init__(self, job: ExportJob, store: Store, client: TrackClient, *,
                 clock: Callable[[], int] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.job = job
        self.spec = job.spec
        self.store = store
        self.client = client
        self.clock = clock or system_clock
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 -- backoff jitter, not a secret
        self.bucket = TokenBucket(self.spec.rate_limit_per_s, lambda: self.clock() / 1000, sleep)
        auth = job.authorization
        self.shared_rate = 0.0 if auth is None else auth.rate_limit_per_s
        self.shared_bucket = f"auth:{self.spec.authorization}"
        self.pool = ThreadPoolExecutor(max(1, self.spec.concurrency),
                                       thread_name_prefix=f"export-{job.name}")
        self.stats = JobStats()

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def run(self, *, until_empty: bool = True, stop: threading.Event | None = None,
            wake: threading.Event | None = None,
            owned: Callable[[], bool] | None = None) -> JobStats:
        """Send until the outbox is empty (`until_empty`), or until `stop` is set, or until
        `owned` says the job's runner singleton is this runner's no more (a lost store
        session lets it go, and another node may have taken the job); an idle runner also
        looks again when `wake` is set (new items were queued).

        Its commits are deferred (`deferred_sync`: they survive a crash): a power cut may
        forget that an item was sent, and it is sent again - at least once, as promised."""
        with self.store.deferred_sync():
            return self._run(until_empty, stop, wake, owned)

    def _run(self, until_empty: bool, stop: threading.Event | None,
             wake: threading.Event | None, owned: Callable[[], bool] | None) -> JobStats:
        while stop is None or not stop.is_set():
            if owned is not None and not owned():
                return self.stats
            paused, _backfilled = self.store.job_state(self.job.name)
            if paused:
                self.stats.paused = paused
                return self.stats
            # Asked of the store each round: `engine export pause` or the admin API may have
            # paused the job from another process, or another node.
            held = self.store.operator_pause(self.job.name)
            if held is not None:
                if until_empty:
                    self.stats.paused = operations.held_reason(self.job.name, held)
                    return self.stats
                self._idle(IDLE_S, stop, wake)
                continue
            if self.step():
                continue
            following = self.store.next_outbox(self.job.name)
            if following is None and until_empty:
                return self.stats
            wait = IDLE_S if following is None else max(0.0, (following - self.clock()) / 1000)
            self._idle(wait, stop, wake)
        return self.stats

    def _idle(self, wait: float, stop: threading.Event | None,
              wake: threading.Event | None) -> None:
        """Wait `wait` s, or at most `IDLE_S` when woken or stopped by an event."""
        if wake is not None:
            wake.wait(min(wait, IDLE_S))
            wake.clear()
        elif stop is not None:
            stop.wait(min(wait, IDLE_S))
        else:
            self.sleep(wait)

    def step(self) -> bool:
        """Send one round of due items (up to `concurrency` requests); whether any were due."""
        spec = self.spec
        per_request = 1 if spec.api == "v1" else spec.batch_max_items
        rows = self.store.claim_outbox(self.job.name, self.clock(),
                                       per_request * max(1, spec.concurrency), CLAIM_LEASE_MS)
        if not rows:
            return False
        if self.store.operator_pause(self.job.name) is not None:
            # Paused since the round began: what it claimed goes back unsent, due as before
            # in the order queued, so that nothing claimed after a pause is sent.
            with self.store.transaction():
                self.store.outbox_release([r[0] for r in rows], 0)
            return True
        items = {r[0]: Item(r[0], r[2], orjson.loads(r[3])) for r in rows}
        meta = {r[0]: (r[4], r[5]) for r in rows}  # attempts, created
        requests = self._pack(list(items.values()))
        futures = []
        for request in requests:
            self.bucket.take()
            self._take_shared()
            futures.append((request, self.pool.submit(self.client.send, spec.api, request)))
        outcomes: list[tuple[Item, Outcome]] = []
        for request, future in futures:
            outcomes += zip(request, future.result(), strict=True)
        self._apply(outcomes, meta, len(requests))
        return True

    def _take_shared(self) -> None:
        """One request's token from the authorization's bucket, which every job on it takes
        from on every node; waits (the injected sleep) until there is one."""
        if self.shared_rate <= 0:
            return
        burst = max(1, int(self.shared_rate))  # one second's worth, as the job's own bucket
        now = self.clock()
        while wait := self.store.take_tokens(self.shared_bucket, 1, self.shared_rate, burst,
                                             now):
            self.sleep(wait / 1000)
            now = max(self.clock(), now + wait)  # a clock that did not move still counts it

    def _pack(self, items: list[Item]) -> list[list[Item]]:
        """The round's requests: segment items by segment, action and identifier kind (at
        most `MAX_SEGMENT_IDS` a request), then the rest one a request (v1) or in batches."""
        segments: dict[tuple[str, int, str], list[list[Item]]] = {}
        for item in items:
            if item.action in SEGMENT_ACTIONS:
                chunks = segments.setdefault(segment_key(item), [[]])
                if len(chunks[-1]) >= MAX_SEGMENT_IDS:
                    chunks.append([])
                chunks[-1].append(item)
        packed = [chunk for chunks in segments.values() for chunk in chunks]
        items = [item for item in items if item.action not in SEGMENT_ACTIONS]
        if not items:
            return packed
        if self.spec.api == "v1":
            return packed + [[item] for item in items]
        return packed + self._batches(items)

    def _batches(self, items: list[Item]) -> list[list[Item]]:
        requests: list[list[Item]] = [[]]
        size = BATCH_FRAME
        for item in items:
            current = requests[-1]
            grown = size + len(item.wire) + (1 if current else 0)  # the comma before it
            if current and (len(current) >= self.spec.batch_max_items or
                            grown > self.spec.batch_max_bytes):
                requests.append(current := [])
                grown = BATCH_FRAME + len(item.wire)
            current.append(item)
            size = grown
        return requests

    def _apply(self, outcomes: list[tuple[Item, Outcome]], meta: dict[int, tuple[int, int]],
               requests: int) -> None:
        now = self.clock()
        done: list[int] = []
        retry: list[tuple[int, int]] = []
        dead: list[tuple[int, int, str]] = []
        paused: str | None = None
        unsent: list[int] = []  # back to due at once: the job resumes with them
        horizon_ms = self.spec.retry_horizon_s * 1000
        # one jitter per round: items that failed together stay together for their retry
        jitter = self.rng.uniform(0.5, 1.0)
        # A failed identify with a newer one of the person queued is not tried again: sent
        # late, it would overwrite what the newer one says.
        superseded = self.store.outbox_superseded(
            [i.id for i, o in outcomes if o.kind == RETRY and i.action == IDENTIFY]
        ) if any(o.kind == RETRY for _i, o in outcomes) else set()
        for item, outcome in outcomes:
            attempts, created = meta[item.id]
            if outcome.kind == SENT:
                done.append(item.id)
            elif outcome.kind == DEAD:
                dead.append((item.id, outcome.status, outcome.response))
            elif outcome.kind == AUTH:
                unsent.append(item.id)
                paused = (f"Customer.io refused the credentials of authorization "
                          f"{self.spec.authorization!r} ({outcome.status}); the job is paused "
                          "until the config is fixed and reloaded")
            elif item.id in superseded:
                done.append(item.id)
            else:  # RETRY
                delay = outcome.retry_after_s
                if delay is None:
                    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempts) * jitter
                at = now + int(delay * 1000)
                if at - created > horizon_ms:
                    dead.append((item.id, outcome.status, f"gave up after {attempts + 1} "
                                 f"attempts in {self.spec.retry_horizon_s}s: {outcome.response}"))
                else:
                    retry.append((item.id, at))
        with self.store.transaction():
            self.store.outbox_done(done)
            self.store.outbox_retry(retry)
            self.store.outbox_dead(dead, now)
            self.store.outbox_release(unsent, now)
            if paused is not None:
                self.store.set_paused(self.job.name, paused)
        s = self.stats
        s.superseded += len(superseded)
        s.sent += len(done) - len(superseded)
        s.retried += len(retry)
        s.dead += len(dead)
        s.requests += requests
        if paused is not None:
            s.paused = s.last_error = paused
            log.error("export job paused", extra={"job": self.job.name, "reason": paused})
        elif retry or dead:
            failed = next(o for _i, o in outcomes if o.kind in (RETRY, DEAD))
            s.last_error = f"{failed.status or 'no answer'}: {failed.response[:200]}"

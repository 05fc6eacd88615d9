"""The `Store` protocol: everything the engine keeps, named by what its callers need.

A back end (SQLite today) implements `Store`; `engine.store.open_store` is the only place that
picks one, so no module outside this package names a back end. What a back end must promise —
transactions, durability, idempotent append by dedupe key, how failures are reported — is
written down in docs/store.md; the contract suite in ``tests/store/`` checks it.

Rows cross the protocol as plain tuples (cheapest to build and to read a million times over);
their layouts are the type aliases below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal, Protocol

from engine.errors import RuntimeFailure

# seq, stream, dedupe key, event time (epoch ms), received (epoch ms), raw body
LogRow = tuple[int, str, str | None, int, int, bytes]
# An event to append: dedupe key (None: none), event time (epoch ms), raw body
NewEvent = tuple[str | None, int, bytes]
# A dead letter as read back: seq, stream, reason, recorded (epoch ms), event time, raw body
DeadLetterRow = tuple[int, str, str, int, int, bytes]
# An outbox item due: id, profile id, action, body, attempts so far, created (epoch ms)
OutboxItem = tuple[int, int, str, bytes, int, int]
# An export item refused for good: id, job, profile id, action, body, status, response, at
DeadExport = tuple[int, str, int, str, bytes, int, str, int]
# An audience change: audience, profile id, entered (1) or exited (0), at (epoch ms)
AudienceChange = tuple[str, int, int, int]
# One UTC day of an audience's history: (day, size at its end, entries, exits); the day is
# epoch days (epoch ms // DAY_MS).
AudienceDay = tuple[int, int, int, int]
DAY_MS = 86_400_000
HISTORY_DAYS = 400  # how long the daily audience history is kept (docs/console.md)

# What one commit survives: "power-cut" (it is on disk when the commit returns) or "crash"
# (a killed process loses nothing, a power cut may take back the latest commits).
Durability = Literal["power-cut", "crash"]

# The exclusive roles on one store: writing the event log, applying it to profiles. Two
# writers would hand out the same seqs; two appliers would apply events twice.
LOCK_KINDS: tuple[str, ...] = ("log", "apply")


def refill(tokens: float, at: int, n: int, rate: float, burst: int, now: int
           ) -> tuple[float, int]:
    """A token bucket's step, the same on every back end: the tokens left after taking `n`
    at `now` from a bucket that held `tokens` at `at`, and 0; or, when there are too few, the
    tokens it holds now and how many ms until there are `n` (capped at `burst`)."""
    held = min(float(burst), tokens + max(0, now - at) * rate / 1000)
    need = min(n, burst)
    if held >= need:
        return held - need, 0
    return held, max(1, int((need - held) * 1000 / rate + 0.999))


def day_counts(enters: Sequence[tuple[str, int]], exits: Sequence[tuple[str, int]]
               ) -> dict[str, tuple[int, int]]:
    """Per audience, how many of a change's ``(audience, profile_id)`` pairs enter and exit:
    what one change adds to the audience's day of history."""
    counts: dict[str, tuple[int, int]] = {}
    for audience, _pid in enters:
        entered, exited = counts.get(audience, (0, 0))
        counts[audience] = (entered + 1, exited)
    for audience, _pid in exits:
        entered, exited = counts.get(audience, (0, 0))
        counts[audience] = (entered, exited + 1)
    return counts


def is_unavailable(exc: BaseException) -> bool:
    """Whether a failure is the storage's own (retry later: the same write may then work), not
    the data's (`StoreRefused`, or anything the pipeline raised: set the event aside)."""
    return isinstance(exc, RuntimeFailure | OSError | MemoryError)


class EventLog(Protocol):
    """The event log: every accepted event under its seq, in order, deduplicated by key."""

    def append_events(self, stream: str, received: int, events: Sequence[NewEvent]
                      ) -> list[LogRow]:
        """Append events of one stream in order; the rows logged, with their seqs ascending.

        An event whose dedupe key the log already holds for `stream` (an earlier event of
        the same call included) is not logged again and has no row: the idempotent append
        that makes a retried request harmless. Seqs grow with each append, across reopening
        too; a committed seq, or one a position has passed, is never handed out again. They
        may leave gaps (duplicates, rolled-back appends)."""
        ...

    def read_log(self, after: int, limit: int, *, stream: str | None = None,
                 since_ms: int | None = None) -> list[LogRow]:
        """Up to `limit` rows past seq `after`, in seq order; of one stream, or with an event
        time at or after `since_ms`, when given."""
        ...

    def event(self, seq: int) -> LogRow | None: ...

    def last_seq(self) -> int:
        """The newest logged event's seq (0 for an empty log)."""
        ...

    def log_counts(self, upto: int | None = None) -> dict[str, int]:
        """Logged events per stream (those with a seq up to `upto`, when given): what
        `engine status` shows as collected and applied."""
        ...

    def position(self, name: str) -> int:
        """A named processed position: the seq up to which a consumer has applied the log
        (0 before it has applied anything)."""
        ...

    def set_position(self, name: str, seq: int) -> None: ...

    def prune_log(self, before_ms: int) -> int:
        """Forget logged events received before `before_ms`, and with them their dedupe keys,
        except those a dead letter refers to; how many were forgotten. Only for a store whose
        log is a copy of a transport's (which holds the events of record): the copy's rows are
        what make a redelivered event a duplicate, and a sender retries for a bounded time."""
        ...


class Profiles(Protocol):
    """Profiles (opaque documents under a stable id) and the identities that find them."""

    def new_profile_id(self) -> int:
        """An id no profile of this store ever had, not even one merged away since."""
        ...

    def load_profiles(self, ids: Sequence[int], *, lock: bool = False) -> dict[int, bytes]:
        """The documents of the profiles of `ids` that exist. With `lock` (inside a
        transaction), each row is held until the transaction ends and read after whatever
        another holder committed: what an applier beside others reads before changing it."""
        ...

    def claim_identities(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Hold these ``(field, value)`` identities until the transaction ends, whether a
        profile holds them yet or not: an applier beside others claims an event's identities
        before looking them up, so that two never create or merge the same person at once.
        Claims are taken in one fixed order, so two claimers never wait on each other; a back
        end with one applier at a time has nothing to do."""
        ...

    def put_profiles(self, rows: Iterable[tuple[int, int, bytes]]) -> None:
        """Insert or replace ``(id, updated, doc)`` rows."""
        ...

    def delete_profiles(self, ids: Iterable[int]) -> None: ...

    def iter_profiles(self, batch: int = 1000) -> Iterator[tuple[int, bytes]]:
        """Every ``(id, doc)``, by id, read `batch` at a time."""
        ...

    def count_profiles(self) -> int: ...

    def reset_profiles(self) -> None:
        """Forget every profile, identity, dead letter and pending membership check, and
        restart profile ids from 1 (a replay rebuilds them from the log). Memberships stay."""
        ...

    def lookup_identities(self, pairs: Iterable[tuple[str, str]]
                          ) -> dict[tuple[str, str], int]:
        """The profile id holding each ``(field, value)`` that some profile holds."""
        ...

    def find_profile(self, field: str, value: str) -> int | None: ...

    def identity_merges(self, field: str, value: str) -> int:
        """How many merges an identity value has caused (0 for an unknown one)."""
        ...

    def put_identities(self, rows: Iterable[tuple[str, str, int, int]]) -> None:
        """Insert or update ``(field, value, profile_id, merges)``; a merge count never
        goes down."""
        ...


class DeadLetters(Protocol):
    """Logged events a transform or mapping failed on (the `_errors` stream)."""

    def add_errors(self, rows: Iterable[tuple[int, str, str, int]]) -> None:
        """Record ``(seq, stream, reason, recorded_ms)``; a seq's latest record wins."""
        ...

    def iter_errors(self, *, stream: str | None = None, after: int = 0, limit: int = 1000
                    ) -> list[DeadLetterRow]:
        """Dead letters past seq `after`, in log order, with their logged events."""
        ...

    def take_errors(self, seqs: Sequence[int]) -> list[int]:
        """Remove these dead letters (a replay re-applies their events); the seqs removed
        here, in log order. A seq another transaction took first is not among them, so two
        replays at once never apply one event twice."""
        ...

    def count_errors(self) -> int: ...

    def error_counts(self) -> dict[str, int]:
        """Dead letters per stream that has any."""
        ...


class Memberships(Protocol):
    """Who is in each audience, every enter and exit, and when time alone may change it."""

    def memberships(self, ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Per profile of `ids` that is in any audience: ``{audience: entered_ms}``."""
        ...

    def change_membership(self, entered: Iterable[tuple[str, int]],
                          exited: Iterable[tuple[str, int]], at: int) -> None:
        """Record enters and exits of ``(audience, profile_id)`` at `at`, in the history too."""
        ...

    def set_checks(self, rows: Iterable[tuple[str, int, int | None]]) -> None:
        """When to re-evaluate ``(audience, profile_id)`` (None: on a profile change only)."""
        ...

    def due_checks(self, now: int, limit: int) -> list[int]:
        """Profiles with a membership check due at `now`, soonest first, each once."""
        ...

    def next_check(self) -> int | None:
        """When the soonest membership check falls due (epoch ms), if any."""
        ...

    def orphan_memberships(self) -> list[tuple[str, int]]:
        """``(audience, profile_id)`` of members whose profile no longer exists."""
        ...

    def audience_sizes(self) -> dict[str, int]:
        """Members per audience that has any."""
        ...

    def audience_members(self, audience: str, *, after: int = 0, limit: int = 1000
                         ) -> list[tuple[int, int]]:
        """``(profile_id, entered)`` of an audience's members past id `after`, by id."""
        ...

    def audience_changes(self, profile_id: int | None = None) -> list[AudienceChange]:
        """The history of enters and exits, of one profile or all, oldest first."""
        ...

    def audience_history(self, audience: str, since_day: int = 0) -> list[AudienceDay]:
        """Per UTC day from `since_day` on with any change, oldest first: the audience's size
        at the day's end and its entries and exits that day. `change_membership` keeps it,
        and drops days older than `HISTORY_DAYS` before the newest."""
        ...


class Outbox(Protocol):
    """Export requests to make, what each job last sent, and what destinations refused."""

    def add_outbox(self, job: str, items: Sequence[tuple[int, str, bytes]], now: int) -> None:
        """Queue ``(profile_id, action, body)`` items for a job, due at once."""
        ...

    def due_outbox(self, job: str, now: int, limit: int) -> list[OutboxItem]:
        """Items of a job due at `now`, by when they fell due, then in the order queued."""
        ...

    def claim_outbox(self, job: str, now: int, limit: int, lease_ms: int) -> list[OutboxItem]:
        """Take up to `limit` of a job's items due at `now`, in `due_outbox`'s order, for
        `lease_ms`: they fall due again at ``now + lease_ms`` unless they are done, retried or
        dead before. Two runners of one job overlapping (a takeover) never both take an item,
        and the items of a runner that died are sent again once its lease ends."""
        ...

    def outbox_release(self, ids: Sequence[int], at: int) -> None:
        """Claimed items given back unsent (their job paused): due at `at`, no attempt
        counted."""
        ...

    def outbox_unclaim(self, job: str) -> int:
        """Every claim on a job's items given back, due at once and in the order queued (so a
        person's older item still goes before a newer one); how many. Only the holder of the
        job's runner singleton calls it, when it starts: whoever claimed them before is gone,
        and its items need not wait for their lease to end."""
        ...

    def next_outbox(self, job: str) -> int | None:
        """When the soonest item of a job falls due (epoch ms), if any."""
        ...

    def outbox_depth(self, job: str | None = None) -> int: ...

    def outbox_coalesce(self, job: str, pairs: Sequence[tuple[int, str]]
                        ) -> set[tuple[int, str]]:
        """Remove a job's unclaimed items of these ``(profile_id, action)`` pairs (a newer
        item replaces them, or an opposite one cancels them); which pairs had any. A claimed
        item is left alone: it may be on its way already."""
        ...

    def outbox_superseded(self, ids: Sequence[int]) -> set[int]:
        """Those of these items for which their job queued a newer item of the same action
        for the same person: sending one late could overwrite what the newer one says."""
        ...

    def outbox_done(self, ids: Sequence[int]) -> None: ...

    def outbox_retry(self, rows: Sequence[tuple[int, int]]) -> None:
        """``(id, next_at)``: count an attempt and try again at `next_at`."""
        ...

    def outbox_dead(self, rows: Sequence[tuple[int, int, str]], at: int) -> None:
        """``(id, status, response)``: refused for good; moved out of the outbox and kept
        with the response."""
        ...

    def export_dead(self, job: str | None = None, limit: int = 100) -> list[DeadExport]:
        """Items refused for good, of one job or all, oldest first."""
        ...

    def take_export_dead(self, job: str, ids: Sequence[int]) -> list[DeadExport]:
        """Remove these items refused for good of `job` (an operator replays them) and return
        those that were still there, oldest first: of two callers taking the same item at
        once, only one gets it, so a replay run twice queues each item once."""
        ...

    def export_members(self, job: str, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """What a job last queued per member: ``{profile_id: (identifier, digest)}``."""
        ...

    def set_export_members(self, job: str, rows: Sequence[tuple[int, str, str]],
                           gone: Sequence[int]) -> None:
        """Record ``(profile_id, identifier, digest)`` as sent; forget the `gone` ones."""
        ...

    def job_state(self, job: str) -> tuple[str | None, str | None]:
        """``(why the job is paused, digest of the job its backfill was queued for)``."""
        ...

    def set_paused(self, job: str, reason: str | None) -> None: ...

    def set_backfilled(self, job: str, digest: str) -> None: ...

    def operator_pause(self, job: str) -> int | None:
        """Since when (epoch ms) an operator has paused the job, or None. Held in the store,
        apart from a pause for refused credentials, so that it outlives restarts and config
        reloads and every node's runner of the job sees it."""
        ...

    def set_operator_pause(self, job: str, since: int | None) -> None:
        """Pause the job for the operator since `since` (epoch ms), or resume it (None)."""
        ...


class Coordination(Protocol):
    """What the nodes of one store share beyond data: who is alive, which node runs each
    singleton (the audience scheduler, each export job's runner), and rate limits that hold
    across all of them (docs/scale-out.md)."""

    def heartbeat(self, node: str, role: str, now: int) -> None:
        """Record that `node` (a name unique per process) with `role` is alive at `now`."""
        ...

    def live_nodes(self, since: int) -> list[tuple[str, str, int]]:
        """``(node, role, last seen)`` of nodes seen at or after `since`, by name."""
        ...

    def hold_singleton(self, name: str) -> bool:
        """Take, or keep, the singleton `name` for this connection: whether it is ours. It is
        held until `release_singleton` or until the connection ends (its process died), after
        which another connection's next call takes it."""
        ...

    def release_singleton(self, name: str) -> None: ...

    def take_tokens(self, bucket: str, n: int, rate: float, burst: int, now: int) -> int:
        """Take `n` tokens from the shared bucket `bucket`, which refills at `rate` per second
        up to `burst`: 0 when they were taken, else how many ms to wait before asking again
        (nothing is taken then)."""
        ...


class Store(EventLog, Profiles, DeadLetters, Memberships, Outbox, Coordination, Protocol):
    """Everything the engine keeps, behind one connection that one thread uses at a time.

    Writes are grouped with `transaction()`: all of a block commits, or none of it. A store
    reports a failure of its own as `StoreUnavailable` and a value it cannot hold as
    `StoreRefused` (engine.errors); no back end's exception leaves it.
    """

    def transaction(self) -> AbstractContextManager[None]:
        """Commit everything written inside the block at once, with the store's durability
        (`open_store`), or roll all of it back if the block raises."""
        ...

    def deferred_sync(self) -> AbstractContextManager[None]:
        """Let commits inside the block survive a crash only; the first commit after it
        makes them all as durable as the store's own. For a bulk load that acknowledges
        nothing before its end."""
        ...

    def connect(self) -> Store:
        """Another connection to the same store, for another thread: it takes no locks and
        commits with full durability (an export runner's)."""
        ...

    def spill_directory(self) -> Path | None:
        """Where a bulk load may put its temporary files (None: the system's temp folder):
        beside the data, on the disk sized for it."""
        ...

    def close(self) -> None:
        """Close the connection and release the locks it holds."""
        ...


class Maintenance(Protocol):
    """Background upkeep of a store that a long-running daemon starts beside its writers
    (SQLite: copying the write-ahead log into the database file)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

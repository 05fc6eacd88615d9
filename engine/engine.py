"""`Engine`: the façade that drives the pipeline over a store (docs/python-api.md).

It owns the store connection, the locks and the compiled config, and offers what the CLI and
the daemon need: ingest events (durable on return), drain the log, read profiles, explain a
profile, replay. Events reach profiles through the log (`engine.pipeline.ingest`): each ingest
batch is appended to the log and applied to profiles in the same transaction, together with
the processed position (docs/pipeline.md). Audience memberships follow through the pipeline's
profile hook, and export jobs through the membership hook's callback.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from engine.audiences.hook import MembershipHook
from engine.audiences.membership import Diff, Moves
from engine.clock import Clock, system_clock
from engine.config.model import StorageSpec
from engine.errors import EngineError, UnknownName
from engine.exports import operations
from engine.exports.jobs import Counts, ExportJobs
from engine.lang.printer import expression_text
from engine.lang.values import format_date, ms_to_date
from engine.pipeline.compiled import CompiledMapping, event_time_problem
from engine.pipeline.ingest import POSITION, Ingester, gc_paused
from engine.pipeline.intake import Incoming, Record
from engine.pipeline.processor import Processor, Stats
from engine.pipeline.profile import Profile
from engine.pipeline.results import ErrorReplay, IngestResult
from engine.pipeline.shared import Delivered, SharedApplier
from engine.program import Config
from engine.store import (
    DAY_MS,
    HISTORY_DAYS,
    LOCK_KINDS,
    Durability,
    LogRow,
    Store,
    open_store,
)
from engine.transport import NatsTransport

NODE_LIVE_MS = 10_000  # a node not heard from for this long is not listed as live

# Re-exported: callers of the façade know them by these names.
__all__ = [
    "DeadLetter",
    "Delivered",
    "Engine",
    "ErrorReplay",
    "Incoming",
    "IngestResult",
    "gc_paused",
    "system_clock",
]


@dataclass(frozen=True)
class DeadLetter:
    """An event of the `_errors` stream: why a logged event failed, and the event."""

    seq: int
    stream: str
    reason: str
    recorded: int  # epoch ms
    time: int  # the event's time, epoch ms
    event: Any
    # the body was not JSON (`on_undecodable: dead_letter`): `event` is its bytes as text,
    # bytes that are not UTF-8 escaped as \xNN
    raw: bool = False

    def as_dict(self) -> dict[str, Any]:
        doc = {"seq": self.seq, "stream": self.stream, "reason": self.reason,
               "recorded": format_date(ms_to_date(self.recorded)),
               # an event time no date can hold (the reason it failed) stays a number
               "time": (self.time if event_time_problem(self.time)
                        else format_date(ms_to_date(self.time))),
               "event": self.event}
        if self.raw:
            doc["raw"] = True
        return doc


def _dead_letter(seq: int, stream: str, reason: str, recorded: int, ts: int,
                 body: bytes) -> DeadLetter:
    """A dead letter with its logged event, decoded when it is JSON, else as escaped text."""
    try:
        return DeadLetter(seq, stream, reason, recorded, ts, orjson.loads(body))
    except orjson.JSONDecodeError:
        text = bytes(body).decode("utf-8", "backslashreplace")
        return DeadLetter(seq, stream, reason, recorded, ts, text, raw=True)


class Engine:
    """The engine over one store. Use as a context manager; not thread-safe.

    One engine at a time writes a store's log and one applies it (`LOCK_KINDS`); `read_only`
    engines only read profiles, so they open beside a running daemon. A `shared` engine is one
    of many processing nodes over a transport: it takes no locks and applies what the
    transport delivers (`apply_delivered`) beside the others (docs/scale-out.md).
    `storage` replaces the config's store (config tests run on a scratch one).
    """

    def __init__(self, config: Config, *, clock: Clock | None = None,
                 batch_size: int = 5000,
                 store_path: str | Path | None = None, read_only: bool = False,
                 drain: bool = True,
                 locks: Sequence[str] = LOCK_KINDS, wait_for_locks: bool = False,
                 durability: Durability = "power-cut",
                 background_checkpoints: bool = False, shared: bool = False,
                 storage: StorageSpec | None = None) -> None:
        self.config = config
        self.shared = shared
        self.clock = clock or system_clock
        self.batch_size = batch_size
        self.read_only = read_only
        self.store = open_store(storage or config.settings.storage, path=store_path,
                                locks=() if read_only or shared else locks,
                                wait_for_locks=wait_for_locks,
                                durability=durability,
                                background_checkpoints=background_checkpoints,
                                shared=shared and not read_only)
        self.export_counts: Counts = Counter()  # outbox items queued and members skipped
        self._memberships = self._membership_hook(config)
        self._ingester = Ingester(self.store, config.pipeline, self._processor(config),
                                  clock=self.clock, batch_size=batch_size,
                                  hook=self._profile_hook(config))
        self._applier: SharedApplier | None = None
        if drain and not read_only and not shared:
            self.drain()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if not self.read_only:
                self.flush()
        finally:
            self.store.close()

    def reconfigure(self, config: Config) -> None:
        """Go on with another config (a reload): what is applied stays, the rest of the log
        is applied with the new mappings."""
        if not self.read_only:
            self.flush()
        self.config = config
        self.export_counts = Counter()
        self._memberships = self._membership_hook(config)
        self._ingester.use(config.pipeline, self._processor(config),
                           self._profile_hook(config))
        self._applier = None

    def _membership_hook(self, config: Config) -> MembershipHook:
        return MembershipHook(config.audiences, config.pipeline.rules, self._export)

    def _profile_hook(self, config: Config) -> MembershipHook | None:
        """What the pipeline tells of profile changes: nobody listens without audiences."""
        return self._memberships if len(config.audiences) else None

    def _processor(self, config: Config) -> Processor:
        return Processor(config.pipeline, self.store, clock=self.clock,
                         max_profiles_per_value=config.settings.identity.max_profiles_per_value,
                         hook=self._profile_hook(config), shared=self.shared)

    def _export(self, store: Store, diffs: list[Diff], now: int) -> None:
        """Queue what membership changes mean for the export jobs (caller's transaction)."""
        self.export_counts += self.config.exports.enqueue(store, diffs, now)

    def _writable(self) -> None:
        if self.read_only:
            raise EngineError("this engine was opened read-only")

    @property
    def processor(self) -> Processor:
        return self._ingester.processor

    @property
    def export_jobs(self) -> ExportJobs:
        return self.config.exports

    # ---- intake: the log and applying it (`engine.pipeline.ingest`)

    def ingest(self, stream: str, events: Iterable[Any], *,
               progress: Callable[[IngestResult], None] | None = None,
               workers: int = 0) -> IngestResult:
        """Log and apply events; durable when this returns.

        Items are events (dicts; anything else is rejected) or `Incoming` tuples. With
        `workers`, that many forked processes decode and map the events (their raw bytes when
        an `Incoming` carries them) while this process logs and merges them, in order.
        """
        self._writable()
        return self._ingester.ingest(stream, events, progress=progress, workers=workers)

    def publish(self, transport: NatsTransport, stream: str, events: Iterable[Any], *,
                progress: Callable[[IngestResult], None] | None = None) -> IngestResult:
        """Publish events to a transport's log (`engine ingest` over NATS): each batch is
        acknowledged by the transport before the next is read; processing nodes apply them.
        Counts accepted, duplicates and rejected; nothing is applied here."""
        return self._ingester.publish(transport, stream, events, progress=progress)

    def log(self, requests: Sequence[tuple[str, Sequence[Record]]]
            ) -> list[tuple[int, int, int]]:
        """Append several requests' events, each ``(stream, records)``, to the log in one
        durable commit (the daemon's group commit). Per request: accepted, duplicates, and the
        seq of its newest logged event (0 if none). Nothing is applied here: the processing
        loop applies the log with `drain`."""
        self._writable()
        return self._ingester.log(requests)

    def apply_delivered(self, batch: Sequence[Delivered]) -> tuple[Stats, int]:
        """Apply a batch a transport delivered, in one transaction that also keeps its events
        and their dedupe keys (`engine.pipeline.shared`); committed on return, so the caller
        acknowledges the batch then. What applying did, and how many were duplicates."""
        self._writable()
        if not self.shared:
            raise EngineError("apply_delivered needs an engine opened with shared=True")
        if self._applier is None:
            self._applier = SharedApplier(self.store, self.processor, clock=self.clock)
        with gc_paused():
            return self._applier.apply(batch)

    def last_seq(self) -> int:
        """The newest logged event's seq."""
        return self.store.last_seq()

    @property
    def applied(self) -> int:
        """The processed position: every logged event up to this seq is applied."""
        return self._ingester.applied

    def backlog(self) -> int:
        """How many logged events wait to be applied (about: seq gaps count too)."""
        return self._ingester.backlog()

    def drain(self, limit: int | None = None) -> Stats:
        """Apply logged events not yet applied (after a crash, or the daemon's intake); all
        of them, or about `limit` (a whole batch at least), each batch committed with the
        position."""
        self._writable()
        return self._ingester.drain(limit)

    def flush(self) -> None:
        """Write applied-but-unwritten profile changes and the position, in one transaction."""
        self._ingester.flush()

    def replay(self, *, stream: str | None = None, since_ms: int | None = None,
               transport: NatsTransport | None = None) -> Stats:
        """Rebuild every profile from the event log with the current config (docs/pipeline.md).

        With `stream` or `since_ms`, only the matching events are applied to the rebuilt
        profiles; the rest of the log is kept but not replayed. With a `transport`, its log
        is the one re-read from its start (what the store's copy of it lost to retention is
        copied back first); stop the processing nodes meanwhile (docs/scale-out.md).
        """
        self._writable()
        if transport is not None:
            self._ingester.recopy(transport)
        return self._ingester.replay(stream=stream, since_ms=since_ms)

    def replay_errors(self, *, stream: str | None = None) -> ErrorReplay:
        """Apply the dead letters (of one stream, or all) again after a config fix, without
        rebuilding profiles: what a running daemon's applier does for the console and
        `POST /api/errors/replay`, where `replay` would need the daemon stopped
        (docs/pipeline.md). Those that fail again stay dead letters, with their new reason;
        those applied in part to a field that sums stay too (`ErrorReplay.left`)."""
        self._writable()
        return self._ingester.replay_errors(stream)

    def field_failures(self) -> dict[str, dict[str, int]]:
        """Per transform and mapping, the fields that failed and how often (`/metrics`)."""
        pipeline = self.config.pipeline
        groups = [(s.name, s.transform) for s in pipeline.streams.values()
                  if s.transform is not None]
        groups += [(m.name, m.group) for m in pipeline.mappings.values()]
        return {name: f for name, group in groups if (f := group.failures())}

    def status(self, transport: NatsTransport | None = None) -> dict[str, Any]:
        """What `engine status` shows (docs/scale-out.md): per stream collected, applied and
        backlog; dead letters; export jobs; live nodes. With a transport, collected is what
        it holds and the backlog what its shared consumer has not had acknowledged; without,
        both come from the store's log and its processed position."""
        store = self.store
        if transport is None:
            collected = store.log_counts()
            applied = store.log_counts(upto=store.position(POSITION))
            backlog = sum(collected.values()) - sum(applied.values())
        else:
            info = transport.info()
            collected, applied, backlog = info.collected, store.log_counts(), info.backlog
        dead = store.error_counts()
        streams = {name: {"collected": collected.get(name, 0), "applied": applied.get(name, 0),
                          "backlog": max(0, collected.get(name, 0) - applied.get(name, 0)),
                          "dead_letters": dead.get(name, 0)}
                   for name in sorted({*collected, *applied})}
        jobs = []
        for name, job in sorted(self.export_jobs.jobs.items()):
            paused_by, paused = operations.pause_state(store, name)
            disabled = job.disabled()
            state = "paused" if paused else "disabled" if disabled else "active"
            jobs.append({"job": name, "state": state, "paused_by": paused_by,
                         "reason": paused or disabled, "outbox": store.outbox_depth(name)})
        now = self.clock()
        nodes = [{"node": node, "role": role, "seen": format_date(ms_to_date(seen))}
                 for node, role, seen in store.live_nodes(now - NODE_LIVE_MS)]
        return {"transport": self.config.settings.transport.backend,
                "storage": self.config.settings.storage.backend, "streams": streams,
                "backlog": max(0, backlog), "dead_letters": sum(dead.values()),
                "exports": jobs, "nodes": nodes}

    # ---- audiences

    def run_due(self, limit: int = 1000) -> int:
        """Re-evaluate the audience memberships that time alone may have changed by now
        (the scheduler's tick; docs/audiences.md); how many profiles were due."""
        self._writable()
        self.flush()
        count = 0
        due = self.store.next_check()
        if due is None or due > self.clock():
            return 0

        def work() -> None:
            nonlocal count
            with self.store.transaction():
                count, moves = self._memberships.due(self.store, self.clock(), limit)
            self._memberships.moves += moves

        self._ingester.guarded(work)
        return count

    def take_moves(self) -> Moves:
        """The audience enters and exits written since the last call (the daemon reports
        them)."""
        moves = self._memberships.moves
        self._memberships.moves = Counter()
        return moves

    def next_due(self) -> int | None:
        """When the next audience membership may change with time alone (epoch ms)."""
        return self.store.next_check()

    def audience_sizes(self) -> dict[str, int]:
        """Members per audience of the config (0 for an empty one)."""
        sizes = self.store.audience_sizes()
        return {name: sizes.get(name, 0) for name in self.config.audiences.names}

    def _audience(self, name: str) -> None:
        if name not in self.config.audiences.audiences:
            raise UnknownName("audience", name, self.config.audiences.names)

    def audience_history(self, name: str, days: int = HISTORY_DAYS) -> list[dict[str, Any]]:
        """Per UTC day of the last `days` (at most the kept `HISTORY_DAYS`) on which an
        audience changed, oldest first: its size at the day's end, its entries and exits."""
        self._audience(name)
        today = self.clock() // DAY_MS
        since = today - min(max(days, 1), HISTORY_DAYS) + 1
        return [{"day": format_date(ms_to_date(day * DAY_MS))[:10], "size": size,
                 "entered": entered, "exited": exited}
                for day, size, entered, exited in self.store.audience_history(name, since)]

    def member_profiles(self, name: str, *, limit: int | None = None, after: int = 0
                        ) -> Iterator[tuple[Profile, int]]:
        """The member profiles of an audience with when each entered (epoch ms), by id past
        profile id `after`, read a page at a time."""
        self._audience(name)
        left = limit
        while left is None or left > 0:
            page = self.store.audience_members(name, after=after,
                                               limit=1000 if left is None else min(1000, left))
            if not page:
                return
            docs = self.store.load_profiles([pid for pid, _entered in page])
            for pid, entered in page:
                if pid in docs:
                    yield Profile.loads(pid, docs[pid]), entered
            after = page[-1][0]
            if left is not None:
                left -= len(page)

    def member_views(self, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every member of an audience as ``(profile_id, fields)``, what export jobs send."""
        rules = self.config.pipeline.rules
        for profile, _entered in self.member_profiles(name):
            yield profile.id, profile.view(rules)

    def audience_members(self, name: str, *, limit: int | None = None, after: int = 0
                         ) -> Iterator[dict[str, Any]]:
        """The member profiles of an audience (profile JSON plus `_entered`), by id past
        profile id `after`."""
        rules = self.config.pipeline.rules
        for profile, entered in self.member_profiles(name, limit=limit, after=after):
            doc = profile.to_json(rules)
            doc["_entered"] = format_date(ms_to_date(entered))
            yield doc

    def errors(self, *, stream: str | None = None, after: int = 0, limit: int = 100
               ) -> list[DeadLetter]:
        """Dead letters (the `_errors` stream): logged events a transform or mapping failed
        on, oldest first. `replay` after a config fix re-applies them and keeps only those
        that still fail."""
        return [_dead_letter(*row)
                for row in self.store.iter_errors(stream=stream, after=after, limit=limit)]

    def error_count(self) -> int:
        """How many dead letters the `_errors` stream holds."""
        return self.store.count_errors()

    def error_counts(self) -> dict[str, int]:
        """Dead letters per stream that has any (what a replay of one stream would take)."""
        return self.store.error_counts()

    # ---- reading profiles

    def _load(self, pid: int) -> Profile | None:
        docs = self.store.load_profiles([pid])
        return Profile.loads(pid, docs[pid]) if pid in docs else None

    def find(self, field: str, value: str) -> Profile | None:
        pid = self.store.find_profile(field, value)
        return None if pid is None else self._load(pid)

    def profile(self, field: str, value: Any) -> dict[str, Any] | None:
        """The profile JSON (docs/pipeline.md) of the profile holding identity `field`=`value`."""
        prof = self.find(field, str(value))
        return None if prof is None else prof.to_json(self.config.pipeline.rules)

    def profile_audiences(self, profile_id: int) -> dict[str, int]:
        """The audiences a profile is in, with when it entered each (epoch ms)."""
        return self.store.memberships([profile_id]).get(profile_id, {})

    def identity_merges(self, field: str, value: str) -> int:
        """How many profile merges the identity `field`=`value` has caused."""
        return self.store.identity_merges(field, value)

    def profile_count(self) -> int:
        """How many profiles the store holds."""
        return self.store.count_profiles()

    def profiles(self) -> Iterator[dict[str, Any]]:
        rules = self.config.pipeline.rules
        for pid, doc in self.store.iter_profiles():
            yield Profile.loads(pid, doc).to_json(rules)

    def _mapping_for(self, field: str, stream: str | None) -> CompiledMapping | None:
        """The mapping that writes `field` from events of `stream` (or any, when unknown)."""
        pipeline = self.config.pipeline
        candidates = [m for s in pipeline.reachable(stream) for m in s.mappings] \
            if stream is not None else list(pipeline.mappings.values())
        return next((m for m in candidates if field in m.rules), None)

    def explain(self, field: str, value: Any) -> dict[str, Any] | None:
        """Per field: its value, the rule that set it and the event that decided it."""
        prof = self.find(field, str(value))
        if prof is None:
            return None
        rendered = prof.to_json(self.config.pipeline.rules)
        out: dict[str, Any] = {}
        events: dict[int, LogRow | None] = {}  # fields set by one event share its log row
        for name in sorted(prof.fields):
            if name not in rendered:
                continue
            _acc, ts, tb, seq = prof.fields[name][:4]  # a timed count map has key times
            entry: dict[str, Any] = {"value": rendered[name]}
            if seq not in events:
                events[seq] = self.store.event(seq)
            logged = events[seq]
            mapping = self._mapping_for(name, None if logged is None else logged[1])
            if mapping is not None:
                row = next(f for f in mapping.spec.fields if f.name == name)
                entry["mapping"] = mapping.name
                entry["expr"] = expression_text(row.spec.expr)
                if row.spec.guard is not None:
                    entry["if"] = expression_text(row.spec.guard)
                entry["merge"] = mapping.rules[name].merge
            entry["event"] = {"seq": seq, "id": None if tb.startswith("~") else tb,
                              "time": format_date(ms_to_date(ts))}
            if logged is not None:
                entry["event"]["stream"] = logged[1]
                entry["event"]["body"] = orjson.loads(logged[5])
            out[name] = entry
        return {"profile": rendered, "fields": out}

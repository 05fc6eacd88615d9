"""Applying logged events to profiles: mappings, identity resolution and merges (docs/pipeline.md).

`Processor.apply` takes a batch of events that are already in the log and, inside the caller's
transaction, turns each into field contributions, finds or creates (or merges) the profile its
identities point to, folds the contributions in with each field's merge rule, and writes every
changed profile and identity once at the end of the batch.

Recently used profiles and identities stay cached in memory between batches (bounded, so memory
stays flat however long the input); the store remains the truth, and the caches are dropped if
a batch fails. A `shared` processor applies beside processors of other nodes: it caches
nothing, claims each batch's identities and reads its profiles locked, so that two nodes never
change one person at once (docs/scale-out.md).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from engine.errors import StoreConflict
from engine.lang.budget import BudgetExceeded
from engine.pipeline.bulk import decoded
from engine.pipeline.compiled import (
    FAILED_TO_EVALUATE,
    MAX_EVENT_MS,
    MIN_EVENT_MS,
    FailureWatch,
    Pipeline,
    event_time_problem,
    failure_reason,
)
from engine.pipeline.hooks import ProfileHook, Standing
from engine.pipeline.intake import undecodable
from engine.pipeline.merge import State, fold_contribution
from engine.pipeline.profile import Profile
from engine.store.base import LogRow, Store

IdentityKey = tuple[str, str]


@dataclass
class Stats:
    """What processing did, summed over batches: what `engine ingest` and the daemon's
    metrics report, and the over-merge guard's count (docs/pipeline.md)."""

    events: int = 0
    unidentified: int = 0
    profiles_created: int = 0
    merges: int = 0
    overmerge_skipped: int = 0
    dead_letters: int = 0

    def add(self, other: Stats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


UNFIT = "a value does not fit its field's type"  # that value skipped, the others applied


def unfit(mapping: str) -> str:
    """The dead-letter reason of a value its field's type cannot hold."""
    return f"mapping {mapping}: {UNFIT}"


def applied_in_part(reason: str) -> bool:
    """Whether a dead letter's event was applied but for the fields that failed (one bad
    field never loses the event), rather than not at all."""
    return FAILED_TO_EVALUATE in reason or UNFIT in reason


def identities_of(by: tuple[str, ...], out: dict[str, Any]) -> list[IdentityKey]:
    """An event's identities: its non-empty values of the mapping's `by` fields, in order."""
    ids = []
    for f in by:
        v = out.get(f)
        if v.__class__ is not str:
            v = identity_value(v)
        if v:
            ids.append((f, v))
    return ids


# Events folded ahead of identity resolution, per set of identities (bulk ingest):
# (identities, encoded field states (`bulk.encode`) or b"" when the document holds exactly
# them, newest event time, the profile document it makes alone).
# (…, its audience standing as a new profile, worked out by the decoder that folded it: the
# audiences it is in, and per audience with a relative-date filter, its next check;
# the index of an earlier group whose document holds this one's events as well, or -1)
Group = tuple[list[IdentityKey], bytes, int, bytes, Standing, int]


def _viewer(pid: int, doc: bytes, rules: dict[str, Any]) -> Callable[[], dict[str, Any] | None]:
    """Reads a new profile's view only if an export job asks for it."""
    return lambda: Profile.loads(pid, doc).view(rules)


class _Lru(OrderedDict[Any, Any]):
    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def trim(self) -> None:
        while len(self) > self.capacity:
            self.popitem(last=False)


def identity_value(v: Any) -> str | None:
    """The string an identity is stored as: exact, never normalised (normalise in the mapping)."""
    if v is None or isinstance(v, bool | dict):
        return None
    if isinstance(v, list):
        return identity_value(v[0]) if v else None
    s = v if isinstance(v, str) else str(v)
    return s or None


class Processor:
    """Applies logged events to profiles in memory; `flush` writes the changes back.

    Between flushes, changed profiles and new identities are held in memory. The caller writes
    them with `flush()` in the same transaction that advances the processed position, so the
    store always holds profiles that match its position exactly, and events after the
    position are simply applied again after a crash (docs/pipeline.md).
    """

    def __init__(self, pipeline: Pipeline, store: Store, *,
                 max_profiles_per_value: int = 100, cache_profiles: int = 50_000,
                 cache_identities: int = 200_000, max_dirty: int = 25_000,
                 flush_events: int = 250_000, clock: Callable[[], int] | None = None,
                 hook: ProfileHook | None = None, shared: bool = False) -> None:
        self.pipeline = pipeline
        self.shared = shared  # other nodes apply to the same store at the same time
        if shared:  # what another node changed since would be stale here
            cache_profiles = cache_identities = 0
        self.store = store
        self.hook = hook  # audiences, told of every profile change (`engine.pipeline.hooks`)
        self.clock = clock or (lambda: 0)
        self.watch = FailureWatch(pipeline)
        self.max_dirty = max_dirty
        self.flush_events = flush_events
        self.max_profiles_per_value = max_profiles_per_value
        self._profiles: _Lru = _Lru(cache_profiles)
        self._identities: _Lru = _Lru(cache_identities)
        self.forget()

    def forget(self) -> None:
        """Drop caches and unflushed changes (after a failed write, or a rebuild)."""
        self.drop_cache()
        self.dirty: dict[int, Profile] = {}
        self.new_ids: dict[IdentityKey, int] = {}
        self.merge_counts: dict[IdentityKey, int] = {}
        self.deleted: dict[int, int] = {}  # merged away -> the profile it was merged into
        self.failed: dict[int, tuple[str, list[str]]] = {}  # dead letters: seq -> stream, why
        self.pending = 0  # events applied since the last flush
        self.stats = Stats()

    def fail(self, seq: int, stream: str, reason: str) -> None:
        """Dead-letter a logged event (written with the next flush)."""
        entry = self.failed.get(seq)
        if entry is None:
            self.failed[seq] = (stream, [reason])
        elif reason not in entry[1]:
            entry[1].append(reason)

    def apply(self, rows: Sequence[LogRow], parsed: Sequence[Any] | None = None) -> Stats:
        """Apply logged events (in log order) to the in-memory profiles.

        `parsed`, when given, holds the already-decoded event of each row (ingest has them);
        otherwise bodies are decoded here (drain and replay).
        """
        stats = Stats(events=len(rows))
        pipeline = self.pipeline
        self.watch.sync()
        check = self.watch.check
        failed_before = len(self.failed)
        work: list[tuple[Any, dict[str, Any], int, str, int, list[IdentityKey], str]] = []
        wanted: set[IdentityKey] = set()
        for i, (seq, stream_name, key, ts, _received, body) in enumerate(rows):
            stream = pipeline.streams.get(stream_name)
            if stream is None:
                self.fail(seq, stream_name, f"stream {stream_name!r} is not in the config")
                continue
            if parsed is not None:
                event = parsed[i]
            else:
                try:
                    event = orjson.loads(body)
                except orjson.JSONDecodeError:
                    self.fail(seq, stream_name, undecodable(body) or "the body is not JSON")
                    continue
                if event.__class__ is not dict:  # a body logged undecoded (docs/http.md)
                    self.fail(seq, stream_name, undecodable(body) or "not a JSON object")
                    continue
            if not MIN_EVENT_MS <= ts <= MAX_EVENT_MS:
                self.fail(seq, stream_name, event_time_problem(ts) or "")
                continue
            tb = key if key is not None else f"~{seq}"
            try:
                contributions = pipeline.fan_out(stream, event, ts)
            except BudgetExceeded as exc:  # not applied at all: its fields are partial
                check()
                self.fail(seq, stream_name, exc.reason)
                continue
            except Exception as exc:  # whatever one event does, the others flow on
                check()
                self.fail(seq, stream_name, failure_reason("mapping the event failed", exc))
                continue
            for mapping, out in contributions:
                ids = identities_of(mapping.by, out)
                if not ids:
                    stats.unidentified += 1
                    continue
                wanted.update(ids)
                work.append((mapping, out, ts, tb, seq, ids, stream_name))
            failure = check()
            if failure is not None:
                self.fail(seq, stream_name, failure)
        self.pending += len(rows)
        if work:
            batch = _Batch(self, stats)
            batch.prefetch(wanted)
            resolve = batch.resolve
            for mapping, out, ts, tb, seq, ids, stream_name in work:
                profile = resolve(ids)
                if fold_contribution(profile.fields, mapping.plan, out, ts, tb, seq):
                    self.fail(seq, stream_name, unfit(mapping.name))
                if ts > profile.updated:
                    profile.updated = ts
        stats.dead_letters = len(self.failed) - failed_before
        self.stats.add(stats)
        return stats

    def drop_cache(self) -> None:
        """Forget the clean cache (bulk ingest: the next partition holds other people)."""
        self._profiles.clear()
        self._identities.clear()

    @property
    def should_flush(self) -> bool:
        """Whether enough is unflushed that it is time to write (bounds memory and replay)."""
        return self.pending >= self.flush_events or len(self.dirty) >= self.max_dirty

    def absorb(self, groups: Sequence[Group], events: int, now: int = 0) -> Stats:
        """Merge pre-folded groups of events into the profiles their identities resolve to.

        Equivalent to applying each group's events one by one: merge rules are associative.
        A group that becomes a new profile brings its audience standing at `now` along.
        """
        stats = Stats()
        self.pending += events
        if not groups:
            return stats
        batch = _Batch(self, stats)
        batch.prefetch({k for ids, _f, _u, _d, _s, _w in groups for k in ids})
        rules = self.pipeline.rules
        fresh: dict[int, tuple[int, bytes, Standing]] = {}
        documents: set[int] = set()  # the groups that became new profiles as they came
        for i, (ids, fields, updated, doc, standing, within) in enumerate(groups):
            if within in documents:  # that group's new profile holds these events already
                continue
            if all(batch.ids.get(k) is None for k in ids):
                # Nobody known: the group is a new profile, its document written as it came.
                documents.add(i)
                pid = self.store.new_profile_id()
                for k in ids:
                    batch.ids[k] = self.new_ids[k] = pid
                fresh[pid] = (updated, doc, standing)
                stats.profiles_created += 1
                continue
            for k in ids:  # a profile this loop made from a document: decode it to merge
                made = batch.ids.get(k)
                if made is not None and made in fresh:
                    batch.profiles[made] = Profile.loads(made, fresh.pop(made)[1])
            profile = batch.resolve(ids)
            # A group's own fields: encoded when its document holds more (or none)
            state: dict[str, State] = decoded(fields) if fields else Profile.loads(0, doc).fields
            profile.absorb(Profile(0, state, {}, updated), rules)
        if fresh:
            self.store.put_profiles((pid, updated, doc)
                                    for pid, (updated, doc, _s) in fresh.items())
            if self.hook is not None:  # new profiles: no membership to compare with
                self.hook.created(
                    self.store, ((pid, standing, _viewer(pid, doc, rules))
                                 for pid, (_u, doc, standing) in fresh.items()), now)
        self.stats.add(stats)
        return stats

    def flush(self) -> None:
        """Write every unflushed change. Call inside the transaction that sets the position."""
        store = self.store
        if self.hook is not None and (self.dirty or self.deleted):
            self.hook.changed(store, self.dirty.values(), self.survivors(), self.clock())
        if self.dirty:
            store.put_profiles((pid, prof.updated, prof.dumps())
                               for pid, prof in self.dirty.items())
        if self.deleted:
            store.delete_profiles(self.deleted)
        if self.new_ids:
            store.put_identities((f, v, pid, self.merge_counts.get((f, v), 0))
                                 for (f, v), pid in self.new_ids.items())
        if self.failed:
            now = self.clock()
            store.add_errors((seq, stream, "; ".join(reasons), now)
                             for seq, (stream, reasons) in self.failed.items())

    def survivors(self) -> dict[int, int]:
        """Each profile merged away since the last flush -> the profile that holds it now (a
        survivor may itself have been merged away later in the same flush)."""
        found = {}
        for pid, into in self.deleted.items():
            seen = {pid}
            while into in self.deleted and into not in seen:
                seen.add(into)
                into = self.deleted[into]
            found[pid] = into
        return found

    def flushed(self) -> None:
        """The flush committed: unflushed changes become the clean cache."""
        cache, icache = self._profiles, self._identities
        for pid, prof in self.dirty.items():
            cache[pid] = prof
            cache.move_to_end(pid)
        for k, pid in self.new_ids.items():
            icache[k] = pid
        cache.trim()
        icache.trim()
        self.dirty = {}
        self.new_ids = {}
        self.merge_counts = {}
        self.deleted = {}
        self.failed = {}
        self.pending = 0


class _Batch:
    """Identity resolution for one batch of events over the processor's unflushed state."""

    def __init__(self, processor: Processor, stats: Stats) -> None:
        self.p = processor
        self.store = processor.store
        self.stats = stats
        self.ids: dict[IdentityKey, int] = {}  # resolved for this batch
        self.profiles = processor.dirty

    def prefetch(self, wanted: set[IdentityKey]) -> None:
        p = self.p
        if p.shared:  # before looking them up: nobody else may create or merge them meanwhile
            self.store.claim_identities(sorted(wanted))
        cache, pending = p._identities, p.new_ids
        missing = []
        for k in wanted:
            pid = pending.get(k)
            if pid is None:
                pid = cache.get(k)
            if pid is None:
                missing.append(k)
            else:
                self.ids[k] = pid
        if missing:
            self.ids.update(self.store.lookup_identities(missing))
        pcache = p._profiles
        need = []
        for pid in set(self.ids.values()):
            if pid in self.profiles:
                continue
            prof = pcache.get(pid)
            if prof is None:
                need.append(pid)
            else:
                self.profiles[pid] = prof
        need.sort()  # locked in one order on every node
        docs = self.store.load_profiles(need, lock=p.shared)
        for pid, doc in docs.items():
            self.profiles[pid] = Profile.loads(pid, doc)
        if p.shared and len(docs) < len(need):
            self._vanished(next(pid for pid in need if pid not in docs))

    @staticmethod
    def _vanished(pid: int) -> None:
        # An identity pointed at it when looked up; another node merged it away before the
        # lock was ours. Looking the identities up again, now, finds where they went.
        raise StoreConflict(f"profile {pid} was merged away by another node meanwhile")

    def _profile(self, pid: int) -> Profile:
        prof = self.profiles.get(pid)
        if prof is None:
            prof = self.p._profiles.get(pid)
            if prof is None:
                docs = self.store.load_profiles([pid], lock=self.p.shared)
                if pid not in docs:
                    self._vanished(pid)
                prof = Profile.loads(pid, docs[pid])
            self.profiles[pid] = prof
        return prof

    def resolve(self, ids: list[IdentityKey]) -> Profile:
        """The profile for an event's identities: found, created, or merged (docs/pipeline.md)."""
        known = self.ids
        found = None
        several = False
        unknown = False
        for k in ids:
            pid = known.get(k)
            if pid is None:
                unknown = True
            elif found is None:
                found = pid
            elif pid != found:
                several = True
        if several:
            profile = self._merge(ids)
        elif found is not None:
            profile = self._profile(found)
        else:
            pid = self.store.new_profile_id()
            profile = self.profiles[pid] = Profile(pid)
            self.stats.profiles_created += 1
        if unknown:
            for k in ids:
                if known.get(k) is None:
                    known[k] = profile.id
                    self.p.new_ids[k] = profile.id
                    profile.add_identity(k[0], k[1])
        return profile

    def _merges(self, k: IdentityKey) -> int:
        counts = self.p.merge_counts
        n = counts.get(k)
        if n is None:
            n = counts[k] = self.store.identity_merges(*k)
        return n

    def _merge(self, ids: list[IdentityKey]) -> Profile:
        p = self.p
        limit = p.max_profiles_per_value
        known = [k for k in ids if self.ids.get(k) is not None]
        # An identity that has already joined too many profiles is not trusted to join more.
        usable = [k for k in known if self._merges(k) < limit]
        skipped = [k for k in known if k not in usable]
        if skipped:
            self.stats.overmerge_skipped += 1
        pids = sorted({self.ids[k] for k in usable}) or sorted({self.ids[k] for k in known})[:1]
        target = self._profile(pids[0])
        for pid in pids[1:]:
            other = self._profile(pid)
            target.absorb(other, p.pipeline.rules)
            for name, values in other.identities.items():
                for v in values:
                    k = (name, v)
                    self.ids[k] = target.id
                    p.new_ids[k] = target.id
                    p._identities.pop(k, None)
            p.deleted[pid] = target.id
            del self.profiles[pid]
            p._profiles.pop(pid, None)
            self.stats.merges += 1
        if len(pids) > 1:
            for k in usable:
                p.merge_counts[k] = self._merges(k) + 1
                p.new_ids[k] = target.id
        return target

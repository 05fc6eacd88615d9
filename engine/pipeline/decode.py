"""Decoding events in worker processes, so a bulk ingest uses every core.

Parsing JSON, working out dedupe keys and event times, stream transforms and mappings are pure
functions of an event: worker processes do them for batches of raw records, while the main
process keeps what must stay in one place and in order — deduplication, the event log, identity
resolution and merges. Workers are forked after the config is compiled, so they inherit the
compiled pipeline instead of compiling it again. Reading an NDJSON file, a worker reads a block
of it and splits the lines itself, and sends back only each record's dedupe key and event time
(the main process reads the bodies from the file again). A worker sorts its
batch's mapped events into the partitions of `engine.pipeline.bulk`, their values normalised as
their fields store them, and spills each partition straight to files of its own, each mapped
event encoded once (`bulk.encode_record`) as soon as it is made. At most `window` batches are in
flight, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import struct
import zlib
from array import array
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.pool import AsyncResult
from typing import Any, TypeVar

import orjson

from engine.errors import EngineError
from engine.lang.budget import BudgetExceeded
from engine.pipeline.bulk import (
    SpillWriter,
    decoded,
    decoded_record,
    encode,
    encode_record,
    read_frames,
)
from engine.pipeline.compiled import FailureWatch, Pipeline, event_time_problem, failure_reason
from engine.pipeline.files import Block, block_lines, read_block
from engine.pipeline.hooks import OUTSIDE, ProfileHook
from engine.pipeline.intake import Record, json_kind
from engine.pipeline.merge import Step, fold_contribution, prenormalised
from engine.pipeline.processor import Group, IdentityKey, identities_of, unfit
from engine.pipeline.profile import Profile, document

K = TypeVar("K")  # what the caller keeps beside a worker's task, to get back with its answer
# Per record of a batch: (dedupe key, event time, why it cannot be used).
Meta = tuple[str | None, int, str | None]
# One mapping's contributions to an event, as spilled: (mapping index, the event's
# identities, its values normalised, how many values did not fit their field's type).
Contribution = tuple[int, list[tuple[str, str]], dict[str, Any], int]
# One mapped event as spilled: (index in its batch, dedupe key, event time,
# contributions, why a transform or mapping failed on it).
Mapped = tuple[int, str | None, int, list[Contribution], str | None]
# A block of a file, decoded: the records to log, the line (in the block) of each record that
# cannot be used, and how many lines the block has.
DecodedBlock = tuple[list[Record], dict[int, int], int]
# What prefolding a partition returns: the groups, (events, unidentified), dead letters.
Prefolded = tuple[list[Group], tuple[int, int], list[tuple[int, str]]]


def not_an_object(event: Any) -> str:
    return f"not a JSON object: an event must be an object, got {json_kind(event)}"


SAMPLE = 1000  # events of the first batch that decide the partitioning (`partition_order`)

# Set in the parent just before the workers fork; each worker reads its inherited copy.
_pipeline: Pipeline | None = None
_spill: SpillWriter | None = None  # a worker's own files of the spill
_seqs: tuple[str, array[int], array[int]] | None = None  # a worker's copy of the spill's seqs
_watch: FailureWatch | None = None  # a worker's own, over its copy of the pipeline
_hook: ProfileHook | None = None


def partition_of(by: list[tuple[str, ...]], contributions: list[tuple[int, dict[str, Any]]],
                 partitions: int) -> int:
    """The partition of a mapped event: by its first identity value (0 when it has none)."""
    for index, out in contributions:
        for field in by[index]:
            value = out.get(field)
            if value:  # crc32, not hash(): the same input partitions the same in every run
                return zlib.crc32(str(value).encode()) % partitions
    return 0


def partition_order(pipeline: Pipeline, stream_name: str, received_ms: int,
                    bodies: list[bytes | None]) -> list[tuple[str, ...]]:
    """Per mapping, the identity fields to partition by, the most often present first.

    Events of one person land in one partition when they share the identity they are
    partitioned by; the field most events carry (counted on a sample of the input) makes that
    most likely, so fewer groups meet an already-written profile in another partition. Any
    order is correct: it only decides how much merging the main process does.
    """
    mappings = list(pipeline.mappings.values())
    index = {id(m): i for i, m in enumerate(mappings)}
    present = [dict.fromkeys(m.by, 0) for m in mappings]
    stream = pipeline.streams[stream_name]
    for body in bodies:
        try:
            event = orjson.loads(body) if body is not None else None
            if not isinstance(event, dict):
                continue
            _key, ts = stream.key_and_time(event, received_ms)
            contributions = pipeline.fan_out(stream, event, ts)
        except (Exception, BudgetExceeded):  # noqa: S112 -- a sample: an unusable event
            continue  # just does not count
        for m, out in contributions:
            counts = present[index[id(m)]]
            for field in counts:
                if out.get(field):
                    counts[field] += 1
    # A stable sort: fields present equally often keep the mapping's order.
    return [tuple(sorted(counts, key=counts.__getitem__, reverse=True)) for counts in present]


def normalise(plan: dict[str, Step], out: dict[str, Any]) -> int:
    """Normalise a mapping's contributions in place as their fields store them, as
    `fold_contribution` would; how many values did not fit (those, and values that normalise
    to nothing, are dropped).

    Done once in the decoder, the spilled values are plain (dates as epoch ms), cheap to encode
    and decode, and the fold takes them as they are (`merge.prenormalised`). A field the plan
    does not know keeps its value, for the fold to fail on as it would have.
    """
    unfit = 0
    dropped: list[str] = []
    for f, value in out.items():
        step = plan.get(f)
        if step is None or value.__class__ is step[1]:
            continue
        try:
            norm = step[2](value)
        except Exception:  # a value the field's type cannot hold: skipped, counted
            norm = None
            unfit += 1
        if norm is None:
            dropped.append(f)
        else:
            out[f] = norm  # an existing key: safe while iterating
    for f in dropped:
        del out[f]
    return unfit


def _map_batch(stream_name: str, received_ms: int,
               bodies: Iterable[tuple[bytes | None, str | None]], partitions: int,
               by: list[tuple[str, ...]], number: int) -> list[Meta]:
    """In a worker: decode, map and partition one batch of raw records; the partitions are
    spilled as batch `number`, and the records' metadata returned."""
    pipeline = _pipeline
    assert pipeline is not None and _spill is not None
    stream = pipeline.streams[stream_name]
    mappings = list(pipeline.mappings.values())
    index = {id(m): i for i, m in enumerate(mappings)}
    global _watch
    if _watch is None:
        _watch = FailureWatch(pipeline)
    _watch.sync()
    check = _watch.check
    meta: list[Meta] = []
    # Per partition, its mapped events, each encoded as soon as it is made: encoding a batch's
    # events at the end (and freeing them) costs about twice as much, their memory gone cold.
    parts: dict[int, list[bytes]] = {}
    for i, (body, error) in enumerate(bodies):
        if error is not None or body is None:
            meta.append((None, 0, error or "no event"))
            continue
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            meta.append((None, 0, f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(event, dict):
            meta.append((None, 0, not_an_object(event)))
            continue
        try:
            key, ts = stream.key_and_time(event, received_ms)
        except Exception as exc:  # never lose the batch over one event
            meta.append((None, 0, f"unusable event: {exc}"))
            continue
        meta.append((key, ts, None))
        # Logged either way; an event that cannot be applied is a dead letter, as in
        # `Processor.apply`.
        failure = event_time_problem(ts)
        raw: list[tuple[int, dict[str, Any]]] = []
        if failure is None:
            try:
                raw = [(index[id(m)], o) for m, o in pipeline.fan_out(stream, event, ts)]
                failure = check()
            except BudgetExceeded as exc:  # a dead letter, as in `Processor.apply`
                check()
                failure = exc.reason
            except Exception as exc:
                check()
                failure = failure_reason("mapping the event failed", exc)
        part = partition_of(by, raw, partitions)
        contribs: list[Contribution] = []
        for m, out in raw:
            mapping = mappings[m]
            ids = identities_of(mapping.by, out)
            contribs.append((m, ids, out, normalise(mapping.plan, out)))
        mapped: Mapped = (i, key, ts, contribs, failure)
        parts.setdefault(part, []).append(encode_record(mapped))
    _spill.write(number, {p: encode(records) for p, records in parts.items()})
    return meta


def _decode(stream_name: str, received_ms: int, records: list[tuple[bytes | None, str | None]],
            partitions: int, by: list[tuple[str, ...]], number: int) -> bytes:
    """In a worker: one batch of records sent by the main process; its records' metadata."""
    return encode(_map_batch(stream_name, received_ms, records, partitions, by, number))


def _decode_block(stream_name: str, received_ms: int, block: Block, partitions: int,
                  by: list[tuple[str, ...]], number: int) -> bytes:
    """In a worker: one block of a file, read and split here. Returns each record's metadata,
    how many lines the block has and the block's checksum: the main process reads the bodies
    from the file itself (`block_records`), which costs less than sending them back."""
    data = read_block(block)
    lines, count = block_lines(data)
    meta = _map_batch(stream_name, received_ms, ((body, None) for _n, body in lines),
                      partitions, by, number)
    return encode((meta, count, zlib.crc32(data)))


def block_records(block: Block, meta: list[Meta], count: int, crc: int) -> DecodedBlock:
    """A decoded block as the log takes it: the records (bodies read from the file again),
    the line (in the block) of each record that cannot be used, and how many lines the block
    has. A file changed since its worker read the block is refused: what is logged must be
    what was mapped."""
    data = read_block(block)
    if zlib.crc32(data) != crc:
        raise EngineError(f"{block[0]} changed while it was being ingested")
    lines, _count = block_lines(data)
    records = [(key, ts, None if error is not None else body, error)
               for (key, ts, error), (_n, body) in zip(meta, lines, strict=True)]
    where = {i: lines[i][0] for i, (_k, _t, error) in enumerate(meta) if error is not None}
    return records, where, count


def _block_order(stream_name: str, received_ms: int, block: Block) -> list[tuple[str, ...]]:
    """In a worker: `partition_order` over the first records of a block."""
    assert _pipeline is not None
    lines, _count = block_lines(read_block(block))
    return partition_order(_pipeline, stream_name, received_ms,
                           [body for _n, body in lines[:SAMPLE]])


def read_seqs(path: str) -> tuple[array[int], array[int]]:
    """What `Spill.write_seqs` wrote: batch offsets and every record's seq."""
    with open(path, "rb") as f:
        (count,) = struct.unpack("<Q", f.read(8))
        offsets = array("q")
        offsets.fromfile(f, count)
        seqs = array("q")
        seqs.frombytes(f.read())
    return offsets, seqs


def _prefold(paths: list[str], seqs_path: str, now: int) -> bytes:
    """In a worker: fold one partition's new events per set of identities (bulk ingest).

    Merge rules are associative, so the main process can merge each group into its profile
    as if it applied the group's events one by one.
    """
    pipeline = _pipeline
    assert pipeline is not None
    mappings = list(pipeline.mappings.values())
    plans = [prenormalised(m.plan) for m in mappings]
    global _seqs
    if _seqs is None or _seqs[0] != seqs_path:  # once per worker and bulk load
        _seqs = (seqs_path, *read_seqs(seqs_path))
    _path, offsets, seqs = _seqs
    groups: dict[tuple[IdentityKey, ...], list[Any]] = {}
    failed: list[tuple[int, str]] = []  # dead letters: (seq, why)
    events = unidentified = 0
    for number, blob in read_frames(paths):
        base = offsets[number]
        for record in decoded(blob):
            mapped: Mapped = decoded_record(record)
            i, key, ts, contribs, failure = mapped
            seq = seqs[base + i]
            if seq <= 0:  # a duplicate or a rejected record: not logged
                continue
            events += 1
            if failure is not None:
                failed.append((seq, failure))
            tb = key if key is not None else f"~{seq}"
            for m, ids, out, unfit_values in contribs:
                if not ids:
                    unidentified += 1
                    continue
                k = tuple(ids)
                group = groups.get(k)
                if group is None:
                    group = groups[k] = [{}, ts]
                elif ts > group[1]:
                    group[1] = ts
                if fold_contribution(group[0], plans[m], out, ts, tb, seq) + unfit_values:
                    failed.append((seq, unfit(mappings[m].name)))
    return encode((_folded(groups, pipeline, now), (events, unidentified), failed))


def _folded(groups: dict[tuple[IdentityKey, ...], list[Any]], pipeline: Pipeline, now: int
            ) -> list[Group]:
    """A partition's folded groups as the main process merges them (`Processor.absorb`).

    Each group travels as the profile document it becomes when none of its identities is known
    yet (the common case, written as is), with its audience standing as a new profile, worked
    out here on a spare core. For a merge, the main process reads the group's fields from that
    document, as it reads every profile it merges into; only a group whose document is not its
    fields alone (one within another, or one that others are within) also travels encoded.

    A group whose identities are all those of an earlier group (a person's events that lack
    one identity: an email but no id) is merged into that group's document here, as the main
    process would merge it into the profile that group makes: `within` names the group, and
    when that group makes a new profile, the main process skips this one. When it does not,
    each goes its own way as before.
    """
    keys = list(groups)
    within = [-1] * len(keys)
    first_with: dict[IdentityKey, int] = {}  # each identity's first group not within another
    for i, k in enumerate(keys):
        j = first_with.get(k[0])
        if j is not None and set(k) <= set(keys[j]):
            within[i] = j
            continue
        for identity in k:
            first_with.setdefault(identity, i)
    holds = set(within)
    # Encoded before any group absorbs another (absorbing changes its fields in place).
    encoded = [encode(fields) if within[i] >= 0 or i in holds else b""
               for i, (fields, _updated) in enumerate(groups.values())]
    profiles = [Profile(0, fields, _identities(k), updated)
                for k, (fields, updated) in zip(keys, groups.values(), strict=True)]
    rules = pipeline.rules
    for i, j in enumerate(within):
        if j >= 0:
            part = profiles[i]
            profiles[j].absorb(Profile(0, part.fields, {}, part.updated), rules)
    folded: list[Group] = []
    hook = _hook
    for i, (k, profile) in enumerate(zip(keys, profiles, strict=True)):
        if within[i] >= 0:  # in another group's document: only its own fields, for a merge
            folded.append((list(k), encoded[i], profile.updated, b"", OUTSIDE, within[i]))
            continue
        # The newest event time of the groups within it too: the same once they are merged.
        doc = document(profile.fields, profile.identities, profile.updated)
        where = OUTSIDE if hook is None else hook.standing(profile, now)
        folded.append((list(k), encoded[i], profile.updated, doc, where, -1))
    return folded


def _identities(k: tuple[IdentityKey, ...]) -> dict[str, list[str]]:
    identities: dict[str, list[str]] = {}
    for field, value in k:
        identities.setdefault(field, []).append(value)
    return identities


def default_workers() -> int:
    """One decoder per core; none on a single core.

    The main process works too, but while it logs (or merges) the decoders fold or wait, and
    measured on two cores, two decoders beat one.
    """
    cores = os.cpu_count() or 1
    return cores if cores > 1 else 0


def _worker_started() -> None:
    """A decoder has nothing to save when the load ends: `Pool.terminate` ends it with SIGTERM,
    so no handler inherited from the parent (an embedding application's, a coverage tool's)
    may keep it alive while the load waits for it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Decoders:
    """A pool of decoder processes over one compiled pipeline. Use as a context manager."""

    def __init__(self, pipeline: Pipeline, workers: int, partitions: int, spill: str,
                 window: int = 4, hook: ProfileHook | None = None) -> None:
        global _pipeline, _hook, _spill
        _pipeline = pipeline
        _hook = hook
        _spill = SpillWriter(spill)
        self.pipeline = pipeline
        self.partitions = partitions
        self.window = max(1, window) * workers
        self.pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_started)

    def __enter__(self) -> Decoders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.terminate()
        self.pool.join()

    def decode(self, stream: str, batches: Iterator[tuple[int, list[Any]]]
               ) -> Iterator[tuple[int, list[Any], list[Meta]]]:
        """For each ``(received_ms, records)`` batch, in order: the same and its records'
        metadata; batch n (from 0) is spilled as batch n.

        A record is ``(event, body, where, error)``; its body is what the worker parses.
        """
        def started() -> Iterator[tuple[tuple[int, list[Any]], AsyncResult[bytes]]]:
            by: list[tuple[str, ...]] | None = None
            for number, (received_ms, records) in enumerate(batches):
                payload = [(body, error) for _event, body, _where, error in records]
                if by is None:  # fixed by the first batch: a person partitions the same always
                    by = partition_order(self.pipeline, stream, received_ms,
                                         [body for body, _error in payload[:SAMPLE]])
                yield (received_ms, records), self.pool.apply_async(
                    _decode, (stream, received_ms, payload, self.partitions, by, number))

        for (received_ms, records), answer in self._in_order(started(), self.window):
            yield received_ms, records, answer

    def decode_blocks(self, stream: str, blocks: Iterator[tuple[int, Block]]
                      ) -> Iterator[tuple[int, Block, DecodedBlock]]:
        """For each ``(received_ms, block)`` of NDJSON files, in order: the same and its
        records (`DecodedBlock`); block n (from 0) is spilled as batch n."""
        def started() -> Iterator[tuple[tuple[int, Block], AsyncResult[bytes]]]:
            by: list[tuple[str, ...]] | None = None
            for number, (received_ms, block) in enumerate(blocks):
                if by is None:  # fixed by the first block: a person partitions the same always
                    by = self.pool.apply(_block_order, (stream, received_ms, block))
                yield (received_ms, block), self.pool.apply_async(
                    _decode_block, (stream, received_ms, block, self.partitions, by, number))

        for (received_ms, block), (meta, count, crc) in self._in_order(started(),
                                                                       self.window):
            yield received_ms, block, block_records(block, meta, count, crc)

    def prefold(self, paths: Iterator[list[str]], seqs_path: str, now: int
                ) -> Iterator[Prefolded]:
        """Each partition (the files of it) folded per set of identities, in order, one
        partition ahead per decoder (a folded partition is held in memory until merged)."""
        started = ((None, self.pool.apply_async(_prefold, (path, seqs_path, now)))
                   for path in paths)
        for _none, answer in self._in_order(started, max(1, self.window // 4) + 1):
            yield answer

    @staticmethod
    def _in_order(started: Iterator[tuple[K, AsyncResult[bytes]]], window: int
                  ) -> Iterator[tuple[K, Any]]:
        """The workers' answers, decoded, in the order their tasks were started, with at
        most `window` tasks in flight, so that memory stays flat however long the input."""
        inflight: deque[tuple[K, AsyncResult[bytes]]] = deque()
        for task in started:
            inflight.append(task)
            if len(inflight) >= window:
                key, done = inflight.popleft()
                yield key, decoded(done.get())
        while inflight:
            key, done = inflight.popleft()
            yield key, decoded(done.get())

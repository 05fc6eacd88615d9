"""Ingesting events: appending them to the event log and applying the log to profiles
(docs/pipeline.md).

Each ingest batch is appended to the log and applied to profiles in the same transaction,
together with the processed position; a batch that fails as a whole is logged alone and the log
applied event by event around the failure, so one poison event becomes a dead letter and costs
nothing else. With workers, forked decoders map the events while this process logs them and
spills them by identity, then merges the spill one partition at a time (`engine.pipeline.bulk`).

`Ingester` is the pipeline layer's engine room; the façade (`engine.Engine`) owns the store,
the locks and the compiled config, and drives it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson

from engine.clock import Clock
from engine.errors import EngineError, UnknownName
from engine.pipeline.bulk import Spill
from engine.pipeline.compiled import CompiledStream, Pipeline, failure_reason
from engine.pipeline.decode import Decoders, not_an_object
from engine.pipeline.files import Block, RawFiles
from engine.pipeline.hooks import ProfileHook
from engine.pipeline.intake import DUPLICATE, REJECTED, Incoming, Record, log_batch
from engine.pipeline.processor import Processor, Stats, applied_in_part
from engine.pipeline.results import ErrorReplay, IngestResult, Rejection, copy_stats
from engine.store import LogRow, Store, is_unavailable
from engine.transport import NatsTransport

POSITION = "profiles"  # the processed position of the profile pipeline
MAX_REJECTIONS_KEPT = 100


def _records(stream: CompiledStream, batch: Sequence[Incoming], now: int) -> list[Record]:
    """A batch's events as log records: dedupe key, event time and raw body, or why the event
    cannot be used (never an exception: one event cannot stop the others)."""
    records: list[Record] = []
    for event, body, _where, error in batch:
        if error is not None or not isinstance(event, dict):
            records.append((None, 0, None, error or not_an_object(event)))
            continue
        try:
            key, ts = stream.key_and_time(event, now)
            if body is None:
                body = orjson.dumps(event)
        except Exception as exc:  # never crash on an event
            records.append((None, 0, None, f"unusable event: {exc}"))
            continue
        records.append((key, ts, body, None))
    return records


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a run over many events.

    The pipeline builds no reference cycles, and collector passes over millions of young dicts
    would cost about a third of the time; reference counting still frees everything.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


class Ingester:
    """Logs events and applies the log to profiles over one store, with one processor.

    The in-memory state (the processor's unflushed profiles, the applied position) always
    matches the store or is rebuilt from it: a write that fails rolls both back (`guarded`).
    """

    def __init__(self, store: Store, pipeline: Pipeline, processor: Processor, *,
                 clock: Clock, batch_size: int, hook: ProfileHook | None = None) -> None:
        self.store = store
        self.clock = clock
        self.batch_size = batch_size
        self.use(pipeline, processor, hook)
        self._applied = store.position(POSITION)
        self._stats_flushed = Stats()  # an ingest's counts as of its last flush

    def use(self, pipeline: Pipeline, processor: Processor,
            hook: ProfileHook | None = None) -> None:
        """Go on with another compiled pipeline (a reload); flush first."""
        self.pipeline = pipeline
        self.processor = processor
        self.hook = hook

    def stream(self, name: str) -> CompiledStream:
        """A stream of the config; `UnknownName` names those there are."""
        stream = self.pipeline.stream(name)
        if stream is None:
            raise UnknownName("stream", name, sorted(self.pipeline.streams))
        return stream

    def target(self, name: str) -> CompiledStream:
        """A stream events are sent to: only a collectable (raw) one."""
        stream = self.stream(name)
        if not stream.spec.collectable:
            raise EngineError(stream.spec.not_collectable())
        return stream

    def ingest(self, stream: str, events: Iterable[Any], *,
               progress: Callable[[IngestResult], None] | None = None,
               workers: int = 0) -> IngestResult:
        """`Engine.ingest`, below the façade (its docstring says what items may be)."""
        compiled = self.target(stream)
        result = IngestResult()
        self._stats_flushed = Stats()
        with gc_paused():
            if workers > 0:
                self._ingest_parallel(compiled, events, result, progress, workers)
            else:
                self._ingest(compiled, events, result, progress)
            try:
                self.flush()
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                result.stats = self._stats_flushed  # what is not flushed is applied again
                result.stats.add(self.drain())
        if progress is not None:
            progress(result)
        return result

    def _batches(self, events: Iterable[Any]) -> Iterator[list[Incoming]]:
        batch: list[Incoming] = []
        for item in events:
            batch.append(item if item.__class__ is tuple else (item, None, None, None))
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _ingest(self, stream: CompiledStream, events: Iterable[Any], result: IngestResult,
                progress: Callable[[IngestResult], None] | None) -> None:
        for batch in self._batches(events):
            now = self.clock()
            records = _records(stream, batch, now)
            self._log_and_apply(stream, now, batch, records, result)
            if progress is not None:
                progress(result)

    def publish(self, transport: NatsTransport, stream: str, events: Iterable[Any], *,
                progress: Callable[[IngestResult], None] | None = None) -> IngestResult:
        """`Engine.publish`, below the façade: events published to the transport's log, a
        batch at a time, each acknowledged before the next; processing nodes apply them."""
        compiled = self.target(stream)
        result = IngestResult()
        for batch in self._batches(events):
            now = self.clock()
            records = _records(compiled, batch, now)
            usable = [i for i, (_k, _t, body, error) in enumerate(records)
                      if error is None and body is not None]
            published = transport.publish(compiled.name, now, [
                (records[i][0], records[i][1], records[i][2] or b"") for i in usable])
            seqs = [REJECTED] * len(records)
            for i, answer in zip(usable, published, strict=True):
                seqs[i] = DUPLICATE if answer.duplicate else answer.seq
            self._count(batch, records, seqs, result)
            if progress is not None:
                progress(result)
        return result

    def _ingest_parallel(self, stream: CompiledStream, events: Iterable[Any],
                         result: IngestResult, progress: Callable[[IngestResult], None] | None,
                         workers: int) -> None:

        def raw(batch: list[Incoming]) -> list[Incoming]:
            """Records as bytes for the decoders (decoded events from documents or the API)."""
            out: list[Incoming] = []
            for event, body, where, error in batch:
                if body is None and error is None:
                    if isinstance(event, dict):
                        body = orjson.dumps(event)
                    else:
                        error = not_an_object(event)
                out.append((event, body, where, error))
            return out

        def log(decoders: Decoders, spill: Spill) -> None:
            if isinstance(events, RawFiles) and events.splittable:  # decoders read the files
                blocks = ((self.clock(), block) for block in events.blocks())
                self._log_blocks(stream, blocks, decoders, spill, result, progress)
            else:
                timed = ((self.clock(), raw(b)) for b in self._batches(events))
                self._log_and_spill(stream, timed, decoders, spill, result, progress)

        self._ingest_bulk(stream, log, result, progress, workers)

    def _ingest_bulk(self, stream: CompiledStream, log: Callable[[Decoders, Spill], None],
                     result: IngestResult, progress: Callable[[IngestResult], None] | None,
                     workers: int) -> None:
        """Decoders map the events while this process logs them (`log`: pass 1), and spill
        them by identity; then the spilled events are merged one partition at a time
        (`engine.pipeline.bulk`)."""
        self.flush()
        pipeline = self.pipeline
        with Spill(directory=self.store.spill_directory()) as spill, \
                Decoders(pipeline, workers, spill.partitions, spill.directory,
                         hook=self.hook) as decoders:
            with self.store.deferred_sync():
                log(decoders, spill)
            if not spill.count:
                return
            seqs_path = spill.write_seqs()
            paths = (found for found in spill.paths() if found)

            def apply_all() -> None:
                # While this process merges one partition, the decoders fold the next ones.
                now = self.clock()
                with self.store.transaction():
                    for groups, (events, unidentified), failed in decoders.prefold(
                            paths, seqs_path, now):
                        for seq, reason in failed:
                            self.processor.fail(seq, stream.name, reason)
                        result.stats.dead_letters += len({seq for seq, _reason in failed})
                        stats = self.processor.absorb(groups, events, now)
                        stats.add(Stats(events=events, unidentified=unidentified))
                        result.accepted += events
                        result.stats.add(stats)
                        self.processor.flush()  # in the open transaction
                        self.processor.flushed()
                        self.processor.drop_cache()  # the next partition holds other people
                        if progress is not None:
                            progress(result)
                    self._applied = max(self._applied, spill.last_seq)
                    self.store.set_position(POSITION, self._applied)

            accepted, stats = result.accepted, copy_stats(result.stats)
            try:
                self.guarded(apply_all)
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                # One event failed the whole merge: apply the log event by event around it.
                result.accepted, result.stats = accepted, stats
                drained = self.drain()
                result.accepted += drained.events
                result.stats.add(drained)

    def _log_and_spill(self, stream: CompiledStream,
                       timed: Iterator[tuple[int, list[Incoming]]], decoders: Decoders,
                       spill: Spill, result: IngestResult,
                       progress: Callable[[IngestResult], None] | None) -> None:
        """Pass 1 of a bulk load: log every decoded batch (its decoder spilled it)."""
        for now, batch, meta in decoders.decode(stream.name, timed):
            records = [(key, ts, body, error) for (key, ts, error), (_e, body, _w, _r)
                       in zip(meta, batch, strict=True)]
            with self.store.transaction():
                seqs, _rows = log_batch(self.store, stream.name, now, records)
            spill.add_batch(seqs)
            for i, seq in enumerate(seqs):
                if seq == DUPLICATE:
                    result.duplicates += 1
                elif seq < 0:
                    self._reject(result, batch[i][2], records[i][3] or "unusable event")
            result.read += len(seqs)
            if progress is not None:
                progress(result)

    def _log_blocks(self, stream: CompiledStream, blocks: Iterator[tuple[int, Block]],
                    decoders: Decoders, spill: Spill, result: IngestResult,
                    progress: Callable[[IngestResult], None] | None) -> None:
        """Pass 1 over blocks of NDJSON files: log what each block's decoder read, in
        transactions of `batch_size` events."""
        path, line = "", 0  # the file being read, and how many of its lines are before
        size = self.batch_size
        for now, (block_path, _start, _end), (records, where, count) in \
                decoders.decode_blocks(stream.name, blocks):
            if block_path != path:
                path, line = block_path, 0
            seqs: list[int] = []
            for at in range(0, len(records), size):
                with self.store.transaction():
                    logged, _rows = log_batch(self.store, stream.name, now,
                                              records[at:at + size])
                seqs.extend(logged)
            spill.add_batch(seqs)
            result.duplicates += seqs.count(DUPLICATE)
            for i, n in where.items():  # in record order
                self._reject(result, f"{path}:{line + n + 1}", records[i][3] or "unusable event")
            result.read += len(seqs)
            line += count
            if progress is not None:
                progress(result)

    def _log_and_apply(self, stream: CompiledStream, now: int, batch: list[Incoming],
                       records: list[Record], result: IngestResult) -> None:
        """Append a decoded batch to the log and apply it, in one transaction."""
        flushed = False
        seqs: list[int] = []

        def write() -> None:
            nonlocal flushed, seqs
            with self.store.transaction():
                seqs, _rows = log_batch(self.store, stream.name, now, records)
                flushed = self._apply(stream, now, batch, records, seqs, result)
            if flushed:
                self.processor.flushed()

        try:
            self.guarded(write)
        except Exception as exc:
            if is_unavailable(exc):
                raise
            # An event of this batch, or of one applied since the last flush, failed applying
            # as a whole: log the batch alone, then apply the log event by event around it.
            with self.store.transaction():
                seqs, _rows = log_batch(self.store, stream.name, now, records)
            self._count(batch, records, seqs, result)
            result.stats = self._stats_flushed
            stats = self.drain()
            result.stats.add(stats)
            flushed = True
        else:
            self._count(batch, records, seqs, result)
        if flushed:
            self._stats_flushed = copy_stats(result.stats)

    def _count(self, batch: list[Incoming], records: list[Record], seqs: list[int],
               result: IngestResult) -> None:
        """Count a logged batch's events: accepted, duplicates, rejected by reason."""
        for i, seq in enumerate(seqs):
            result.read += 1
            if seq > 0:
                result.accepted += 1
            elif seq == DUPLICATE:
                result.duplicates += 1
            else:
                self._reject(result, batch[i][2], records[i][3] or "unusable event")

    def _apply(self, stream: CompiledStream, now: int, batch: list[Incoming],
               records: list[Record], seqs: list[int],
               result: IngestResult) -> bool:
        """Apply a logged batch's new events; whether profiles must be flushed.

        Runs inside the transaction that logged the batch: when flushing is due, the flush is
        written in it, and the caller marks it done after the commit.
        """
        rows: list[LogRow] = []
        parsed: list[Any] = []
        for i, seq in enumerate(seqs):
            if seq > 0:
                key, ts, _body, _error = records[i]
                rows.append((seq, stream.name, key, ts, now, b""))
                parsed.append(batch[i][0])
        if not rows:
            return False
        stats = self.processor.apply(rows, parsed)
        self._applied = rows[-1][0]
        result.stats.add(stats)
        if not self.processor.should_flush:
            return False
        self._write_profiles()
        return True

    def flush(self) -> None:
        """Write applied-but-unwritten profile changes and the position, in one transaction."""
        if self.processor.pending:
            self.guarded(self._flush_in_transaction)

    def _flush_in_transaction(self) -> None:
        with self.store.transaction():
            self._write_profiles()
        self.processor.flushed()

    def _write_profiles(self) -> None:
        self.processor.flush()
        self.store.set_position(POSITION, self._applied)

    def guarded(self, work: Callable[[], None]) -> None:
        """Run a write; if it fails, the in-memory state is rebuilt from the store's position."""
        try:
            work()
        except BaseException:
            self.processor.forget()
            self._applied = self.store.position(POSITION)
            raise

    def _reject(self, result: IngestResult, where: str | None, reason: str) -> None:
        result.rejected[reason.split(":")[0]] += 1
        if len(result.rejections) < MAX_REJECTIONS_KEPT:
            result.rejections.append(Rejection(where or f"event {result.read}", reason))

    def log(self, requests: Sequence[tuple[str, Sequence[Record]]]
            ) -> list[tuple[int, int, int]]:
        """Append several requests' events, each ``(stream, records)``, to the log in one
        durable commit (the daemon's group commit). Per request: accepted, duplicates, and the
        seq of its newest logged event (0 if none). Nothing is applied here: the processing
        loop applies the log with `drain`."""
        # One append per stream however many requests the group holds: a key that two of
        # them carry is a duplicate in the second, as it would be in the log.
        by_stream: dict[str, list[Record]] = {}
        for stream, records in requests:
            if stream not in by_stream:
                self.target(stream)
                by_stream[stream] = []
            by_stream[stream].extend(records)
        now = self.clock()
        with self.store.transaction():
            seqs_of = {stream: log_batch(self.store, stream, now, records)[0]
                       for stream, records in by_stream.items()}
        counts: list[tuple[int, int, int]] = []
        taken = dict.fromkeys(by_stream, 0)
        for stream, records in requests:
            start = taken[stream]
            taken[stream] = start + len(records)
            seqs = seqs_of[stream][start:start + len(records)]
            duplicates = seqs.count(DUPLICATE)
            counts.append((len(seqs) - duplicates, duplicates, max(seqs, default=0)))
        return counts

    @property
    def applied(self) -> int:
        """The processed position: every logged event up to this seq is applied."""
        return self._applied

    def backlog(self) -> int:
        """How many logged events wait to be applied (about: seq gaps count too)."""
        return max(0, self.store.last_seq() - self._applied)

    def drain(self, limit: int | None = None) -> Stats:
        """Apply logged events not yet applied (after a crash, or the daemon's intake); all
        of them, or about `limit` (a whole batch at least), each batch committed with the
        position."""
        total = Stats()

        def work() -> None:
            unflushed = Stats()  # counted once committed: a failed flush applies them again
            while limit is None or total.events + unflushed.events < limit:
                size = self.batch_size if limit is None else min(self.batch_size, limit)
                rows = self.store.read_log(self._applied, size)
                if not rows:
                    break
                unflushed.add(self.processor.apply(rows))
                self._applied = rows[-1][0]
                if self.processor.should_flush:
                    self._flush_in_transaction()
                    total.add(unflushed)
                    unflushed = Stats()
            if self.processor.pending:
                self._flush_in_transaction()
            total.add(unflushed)

        with gc_paused():
            try:
                self.guarded(work)
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                # Something in the data failed the batch (at the flush, say: a value the store
                # cannot encode). Find the event it comes from and dead-letter it.
                isolated = self._isolate(None if limit is None else limit - total.events)
                total.add(isolated)
        return total

    def _isolate(self, limit: int | None) -> Stats:
        """Apply the log from the position in commits that halve around a failure until the
        one event it comes from is alone; that event becomes a dead letter, every other
        event is applied. Costs about log2(batch) extra commits per poison event."""
        total = Stats()
        size = self.batch_size
        while limit is None or total.events < limit:
            rows = self.store.read_log(self._applied, size)
            if not rows:
                break
            try:
                stats = self._apply_committed(rows)
            except Exception as exc:
                if is_unavailable(exc):
                    raise
                if len(rows) > 1:
                    size = max(1, len(rows) // 2)
                    continue
                seq, stream = rows[0][0], rows[0][1]
                self.processor.fail(seq, stream, failure_reason("applying the event failed",
                                                                exc))
                self._applied = seq
                self.guarded(self._flush_in_transaction)
                stats = Stats(events=1, dead_letters=1)
                size = self.batch_size
            total.add(stats)
        return total

    def _apply_committed(self, rows: Sequence[LogRow]) -> Stats:
        """Apply logged rows and commit them with the position, or change nothing."""
        stats = Stats()

        def work() -> None:
            nonlocal stats
            stats = self.processor.apply(rows)
            self._applied = rows[-1][0]
            self._flush_in_transaction()

        self.guarded(work)
        return stats

    def replay_errors(self, stream: str | None = None) -> ErrorReplay:
        """Apply the dead letters' logged events again with the current config, beside the
        applying of the log (docs/pipeline.md): no profile is rebuilt and the position stays,
        so the one applier of a running daemon can do it between slices. Each dead letter is
        taken off in the transaction that applies its event, so it is applied once however
        many replays run; one that fails again is a dead letter again, with its new reason."""
        self.flush()
        result = ErrorReplay()
        after = 0
        while rows := self.store.iter_errors(stream=stream, after=after, limit=self.batch_size):
            after = rows[-1][0]
            seqs = [seq for seq, name, reason, *_rest in rows
                    if not (applied_in_part(reason) and self.pipeline.counts_twice(name))]
            result.left += len(rows) - len(seqs)
            if seqs:
                result.stats.add(self._apply_again(seqs))
        return result

    def _apply_again(self, seqs: list[int]) -> Stats:
        """Take these dead letters and apply their events, in one transaction."""
        done: list[Stats] = []

        def work() -> None:
            with self.store.transaction():
                taken = self.store.take_errors(seqs)
                events = [e for seq in taken if (e := self.store.event(seq)) is not None]
                done.append(self.processor.apply(events))
                self.processor.flush()
            self.processor.flushed()

        with gc_paused():
            self.guarded(work)
        return done[0]

    def recopy(self, transport: NatsTransport, batch: int = 5000) -> int:
        """Copy into the store's log every event of the transport's log it does not hold (those
        its retention pruned): a replay over a transport re-reads the transport's whole log.
        How many were copied."""
        copied, after = 0, 0
        while rows := transport.read(after, batch):
            by_stream: dict[str, list[Record]] = {}
            for seq, name, key, ts, _received, body in rows:
                by_stream.setdefault(name, []).append(
                    (key if key is not None else f"~{seq}", ts, body, None))
            with self.store.transaction():
                for name, records in by_stream.items():
                    copied += len(log_batch(self.store, name, self.clock(), records)[1])
            after = rows[-1][0]
        return copied

    def replay(self, *, stream: str | None = None, since_ms: int | None = None) -> Stats:
        """Rebuild every profile from the event log with the current config (docs/pipeline.md).

        With `stream` or `since_ms`, only the matching events are applied to the rebuilt
        profiles; the rest of the log is kept but not replayed.
        """
        if stream is not None:
            self.stream(stream)
        total = Stats()
        self.flush()
        self.processor.forget()

        def work() -> None:
            with self.store.transaction():
                self.store.reset_profiles()  # ids restart too: a replay gives the same `_id`s
                after = 0
                while True:
                    rows = self.store.read_log(after, self.batch_size, stream=stream,
                                               since_ms=since_ms)
                    if not rows:
                        break
                    total.add(self.processor.apply(rows))
                    after = rows[-1][0]
                    if self.processor.should_flush:
                        self.processor.flush()
                        self.processor.flushed()
                self._applied = self.store.last_seq()
                self._write_profiles()
                # members whose profile the replay did not make again leave their audiences
                gone = self.store.orphan_memberships()
                if gone:
                    self.store.change_membership((), gone, self.clock())
            self.processor.flushed()

        with gc_paused():
            self.guarded(work)
        return total

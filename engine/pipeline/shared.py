"""Applying batches a transport delivered, beside the appliers of other nodes (docs/scale-out.md).

With a transport such as NATS JetStream, the transport holds the event log of record and any
number of processing nodes take batches from it. Each batch is applied in one transaction of
the shared store that also copies its events into the store's log: the copy's dedupe keys make
a batch delivered twice (a node died before its acknowledgement) a no-op, and dead letters and
`engine profile explain` find the events there. The caller acknowledges the batch only after
`SharedApplier.apply` returned, so a crash at any point delivers it again.

Two nodes may apply events of one person at the same instant: the processor is `shared`, so it
claims identities and locks profiles in a fixed order, and a transaction that lost a race
(`StoreConflict`) is simply run again.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.clock import Clock
from engine.errors import StoreConflict
from engine.pipeline.compiled import failure_reason
from engine.pipeline.intake import Record, log_batch
from engine.pipeline.processor import Processor, Stats
from engine.store import LogRow, Store, is_unavailable

# One delivered event: its event stream, dedupe key, event time (epoch ms) and raw body. A
# transport gives a keyless event a key of its own (its position in the transport's log), so
# that a second delivery of it is recognised too.
Delivered = tuple[str, str, int, bytes]

CONFLICT_RETRIES = 20


class SharedApplier:
    """Applies delivered batches with a `shared` processor over one store connection."""

    def __init__(self, store: Store, processor: Processor, *, clock: Clock) -> None:
        if not processor.shared:
            raise ValueError("a shared applier needs a processor made with shared=True")
        self.store = store
        self.processor = processor
        self.clock = clock
        self.conflicts = 0  # transactions run again because another node won a race

    def apply(self, batch: Sequence[Delivered]) -> tuple[Stats, int]:
        """Apply a batch, committed when this returns; what applying did and how many events
        were duplicates. One event that fails the batch becomes a dead letter alone; a
        failure of the store itself (`StoreUnavailable`) propagates, with nothing written."""
        try:
            return self._retried(batch)
        except Exception as exc:
            if is_unavailable(exc) or len(batch) == 1:
                if is_unavailable(exc):
                    raise
                return self._dead_letter(batch[0], exc)
        half = len(batch) // 2  # halve around the event that failed the batch
        first, dup_first = self.apply(batch[:half])
        second, dup_second = self.apply(batch[half:])
        first.add(second)
        return first, dup_first + dup_second

    def _retried(self, batch: Sequence[Delivered]) -> tuple[Stats, int]:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return self._committed(batch)
            except StoreConflict:
                self.processor.forget()
                self.conflicts += 1
                if attempt == CONFLICT_RETRIES:
                    raise
            except BaseException:
                self.processor.forget()
                raise
        raise AssertionError("unreachable")

    def _log(self, batch: Sequence[Delivered]) -> tuple[list[LogRow], int]:
        """Copy the batch into the store's log (in the open transaction): the new rows, in
        the batch's order, and how many events the log already held."""
        now = self.clock()
        by_stream: dict[str, list[Record]] = {}
        for stream, key, ts, body in batch:
            by_stream.setdefault(stream, []).append((key, ts, body, None))
        rows: list[LogRow] = []
        for stream, records in by_stream.items():
            rows += log_batch(self.store, stream, now, records)[1]
        rows.sort()
        return rows, len(batch) - len(rows)

    def _committed(self, batch: Sequence[Delivered]) -> tuple[Stats, int]:
        processor = self.processor
        with self.store.transaction():
            rows, duplicates = self._log(batch)
            stats = processor.apply(rows) if rows else Stats()
            processor.flush()
        processor.flushed()
        return stats, duplicates

    def _dead_letter(self, event: Delivered, exc: Exception) -> tuple[Stats, int]:
        """Log one event that fails applying, with its dead letter, and nothing else."""
        processor = self.processor
        processor.forget()
        with self.store.transaction():
            rows, duplicates = self._log([event])
            for seq, stream, *_rest in rows:
                processor.fail(seq, stream, failure_reason("applying the event failed", exc))
            processor.flush()
        processor.flushed()
        return Stats(events=len(rows), dead_letters=len(rows)), duplicates

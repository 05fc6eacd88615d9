"""What crosses the transport's boundary: a delivered event and the answer to a publish.

A transport carries the events a collect node accepted to the nodes that apply them
(docs/transport.md). Its callers see engine shapes only — `LogRow` layouts, seqs, plain flags —
never a client library's message objects; those stay behind the opaque `handle`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engine.store import LogRow


class PublishResult(NamedTuple):
    """One published event: its seq in the transport's log, and whether the transport already
    held an event with its dedupe key (then `seq` is that earlier event's)."""

    seq: int
    duplicate: bool


@dataclass(frozen=True)
class Delivery:
    """One event handed out for applying; ack it after the caller's commit, nak it to have it
    handed out again. `seq` is the transport's, so it orders events across all streams."""

    seq: int
    stream: str
    key: str | None
    time_ms: int
    received_ms: int
    body: bytes
    attempt: int = 1  # 1 on first delivery; more after a nak, a timeout or a crash
    handle: Any = field(default=None, repr=False, compare=False)  # the back end's message

    @property
    def row(self) -> LogRow:
        """The event in the layout the store's log uses, for applying it like a logged one."""
        return (self.seq, self.stream, self.key, self.time_ms, self.received_ms, self.body)


@dataclass(frozen=True)
class TransportInfo:
    """What `engine status` shows of the transport: per stream how many events were collected,
    and how far the shared consumer is behind."""

    collected: dict[str, int]  # event stream → events held
    last_seq: int  # the newest event's seq (0: none yet)
    pending: int  # events not yet handed out to any processing node
    ack_pending: int  # handed out, not yet acknowledged
    delivered_seq: int  # the newest seq handed out
    ack_floor_seq: int  # every seq up to here is acknowledged

    @property
    def backlog(self) -> int:
        """Events not yet applied for good: waiting, or handed out and not yet acknowledged."""
        return self.pending + self.ack_pending

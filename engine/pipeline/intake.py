"""Appending a batch of decoded events to the event log, deduplicated (docs/pipeline.md).

One function, used wherever events enter the log: by `Engine` in its own process, and by a
decoder process that writes the log while the main process merges profiles. The caller holds
the transaction, so appending and whatever else belongs with it commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from engine.lang.values import INT64_MAX, INT64_MIN
from engine.store.base import LogRow, NewEvent, Store

# One input record as a plain tuple (cheapest to build, a million times over):
# (decoded event, its raw bytes if known, where it came from, why it could not be read).
Incoming = tuple[Any, bytes | None, str | None, str | None]

# One decoded record: (dedupe key, event time, raw body, why it cannot be used).
Record = tuple[str | None, int, bytes | None, str | None]


DUPLICATE = 0  # the seq `log_batch` gives a record that is already in the log
REJECTED = -1  # the seq it gives a record that cannot be used


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, in words (for error messages)."""
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)


def undecodable(body: bytes) -> str | None:
    """Why a logged body is not one event (a JSON object), or None when it is one.

    A source that must never be refused (`on_undecodable: dead_letter`, docs/http.md) has a
    body it cannot decode logged as it came; the processor dead-letters it with this reason,
    so the reason is worked out again from the bytes alone, wherever they were logged."""
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8 text (byte {exc.start}: {exc.reason})"
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if not text.strip():
            return "the body is empty, not a JSON object"
        return (f"the body is not JSON: invalid JSON at line {exc.lineno}, column {exc.colno} "
                f"(byte {exc.pos}): {exc.msg}")
    if isinstance(doc, dict):
        return None
    return f"the body is {json_kind(doc)}, not a JSON object"


class UnstorableRecord(ValueError):
    """A record of a batch that the log cannot hold: which one, and why (`unstorable`)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"event {index}: {reason}")
        self.index = index
        self.reason = reason


def unstorable(key: str | None, ts: int) -> str | None:
    """Why the log cannot hold a record's key or time (one such record fails the commit it
    is in), or None; checked before the commit, at the cost of two type tests in the common
    case."""
    if ts.__class__ is not int or not INT64_MIN <= ts <= INT64_MAX:
        return f"its time {ts!r} is not an integer the log can hold (64 bits)"
    if key is not None:
        if key.__class__ is not str:
            return f"its dedupe key is {type(key).__name__}, not a string"
        if not key.isascii():
            try:
                key.encode()
            except UnicodeEncodeError as exc:
                return f"its dedupe key is not valid UTF-8 text: {exc.reason}"
    return None


def log_batch(store: Store, stream: str, now: int, records: Sequence[Record]
              ) -> tuple[list[int], list[LogRow]]:
    """Append the records that are new; returns each record's seq (or DUPLICATE, REJECTED)
    and the rows appended. Duplicates are found within the batch and in the log."""
    seqs = [REJECTED] * len(records)
    keys: set[str] = set()
    fresh: list[int] = []
    for i, (key, _ts, body, error) in enumerate(records):
        if error is not None or body is None:
            continue
        if key is not None:
            if key in keys:
                seqs[i] = DUPLICATE
                continue
            keys.add(key)
        fresh.append(i)
    if not fresh:
        return seqs, []
    events: list[NewEvent] = []
    for i in fresh:
        key, ts, body, _error = records[i]
        assert body is not None
        events.append((key, ts, body))
    appended = store.append_events(stream, now, events)
    if len(appended) == len(fresh):
        for row, i in zip(appended, fresh, strict=True):
            seqs[i] = row[0]
        return seqs, appended
    # The log already held some keys. Rows come back in order, and keys are unique within
    # the batch (a keyless event always lands), so a record matches the next row or is
    # a duplicate.
    j = 0
    for i in fresh:
        if j < len(appended) and appended[j][2] == records[i][0]:
            seqs[i] = appended[j][0]
            j += 1
        else:
            seqs[i] = DUPLICATE
    return seqs, appended

"""Appending a batch of decoded events to the event log, deduplicated (SPEC §6.5).

One function, used wherever events enter the log: by `Engine` in its own process, and by a
decoder process that writes the log while the main process merges profiles. The caller holds
the transaction, so appending and whatever else belongs with it commit together.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.store.sqlite import LogRow, SqliteStore

# One decoded record: (dedupe key, event time, raw body, why it cannot be used).
Record = tuple[str | None, int, bytes | None, str | None]

DUPLICATE = 0  # the seq `log_batch` gives a record that is already in the log
REJECTED = -1  # the seq it gives a record that cannot be used


def log_batch(store: SqliteStore, stream: str, now: int, records: Sequence[Record]
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
    first = store.take_seqs(len(fresh))
    rows: list[LogRow] = []
    for n, i in enumerate(fresh):
        key, ts, body, _error = records[i]
        assert body is not None
        rows.append((first + n, stream, key, ts, now, body))
    # The unique (stream, key) index drops what the log already holds; the seqs that made it
    # in tell which (a dropped row leaves its seq unused, a harmless gap).
    landed = None  # None: every row landed
    if keys:
        landed = store.append_new(rows)
    else:
        store.append(rows)
    appended: list[LogRow] = []
    for row, i in zip(rows, fresh, strict=True):
        if landed is None or row[0] in landed:
            seqs[i] = row[0]
            appended.append(row)
        else:
            seqs[i] = DUPLICATE
    return seqs, appended

"""Decoding events in worker processes, so a bulk ingest uses every core.

Parsing JSON, working out dedupe keys and event times, stream transforms and mappings are pure
functions of an event: worker processes do them for batches of raw records, while the main
process keeps what must stay in one place and in log order — deduplication, the event log,
identity resolution and merges. Workers are forked after the config is compiled, so they
inherit the compiled pipeline instead of compiling it again; each batch travels as bytes and
comes back as one pickled list. At most `window` batches are in flight, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Iterator
from multiprocessing.pool import AsyncResult
from typing import Any

import orjson

from engine.pipeline.compiled import Contribution, Pipeline
from engine.pipeline.intake import Record, log_batch
from engine.store.sqlite import SqliteStore

# What a worker sends back per record: (dedupe key, event time,
# [(mapping index, contributions), …], why the record cannot be used, log seq when the worker
# writes the log — else 0).
Decoded = tuple[str | None, int, list[tuple[int, dict[str, Any]]], str | None, int]
# The same with mapping objects again, as `Engine` consumes it.
Decoding = tuple[str | None, int, list[Contribution], str | None, int]


def not_an_object(event: Any) -> str:
    kind = {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(event), type(event).__name__)
    return f"not a JSON object: an event must be an object, got {kind}"

# Set in the parent just before the workers fork; each worker reads its inherited copy.
_pipeline: Pipeline | None = None
_log_path: str | None = None
_store: SqliteStore | None = None  # the worker's own connection, opened after the fork


def _decode(stream_name: str, received_ms: int, records: list[tuple[bytes | None, str | None]]
            ) -> bytes:
    """In a worker: decode and map one batch of raw records (and log it, when asked to)."""
    global _store
    pipeline = _pipeline
    assert pipeline is not None
    stream = pipeline.streams[stream_name]
    index = {id(m): i for i, m in enumerate(pipeline.mappings.values())}
    out: list[Decoded] = []
    for body, error in records:
        if error is not None or body is None:
            out.append((None, 0, [], error or "no event", 0))
            continue
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            out.append((None, 0, [], f"invalid JSON: {exc.msg} at column {exc.colno}", 0))
            continue
        if not isinstance(event, dict):
            out.append((None, 0, [], not_an_object(event), 0))
            continue
        try:
            key, ts = stream.key_and_time(event, received_ms)
            contribs = [(index[id(m)], o) for m, o in pipeline.fan_out(stream, event, ts)]
        except Exception as exc:  # never lose the batch over one event
            out.append((None, 0, [], f"unusable event: {exc}", 0))
            continue
        out.append((key, ts, contribs, None, 0))
    if _log_path is not None:
        if _store is None:
            _store = SqliteStore(_log_path)
        logged: list[Record] = [(key, ts, body if error is None else None, error)
                                for (key, ts, _c, error, _s), (body, _e) in zip(out, records,
                                                                                 strict=True)]
        with _store.transaction():
            seqs, _rows = log_batch(_store, stream_name, received_ms, logged)
        out = [(key, ts, c, error, seq) for (key, ts, c, error, _s), seq in zip(out, seqs,
                                                                                 strict=True)]
    return pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)


def default_workers() -> int:
    """One decoder per core but one (the main process works too); none on a single core."""
    return max(0, (os.cpu_count() or 1) - 1)


class Decoders:
    """A pool of decoder processes over one compiled pipeline. Use as a context manager."""

    def __init__(self, pipeline: Pipeline, workers: int, window: int = 4,
                 log_path: str | None = None) -> None:
        global _pipeline, _log_path
        _pipeline = pipeline
        _log_path = log_path
        if log_path is not None and workers != 1:
            raise ValueError("only a single decoder may write the log")
        self.mappings = list(pipeline.mappings.values())
        self.window = max(1, window) * workers
        self.pool = multiprocessing.get_context("fork").Pool(workers)

    def __enter__(self) -> Decoders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.terminate()
        self.pool.join()

    def decode(self, stream: str, batches: Iterator[tuple[int, list[Any]]]
               ) -> Iterator[tuple[int, list[Any], list[Decoding]]]:
        """For each ``(received_ms, records)`` batch, in order: the same and its decoding.

        A record is ``(event, body, where, error)``; its body is what the worker parses.
        """
        inflight: deque[tuple[int, list[Any], AsyncResult[bytes]]] = deque()
        for received_ms, records in batches:
            payload = [(body, error) for _event, body, _where, error in records]
            task = self.pool.apply_async(_decode, (stream, received_ms, payload))
            inflight.append((received_ms, records, task))
            if len(inflight) >= self.window:
                yield self._collect(*inflight.popleft())
        while inflight:
            yield self._collect(*inflight.popleft())

    def _collect(self, received_ms: int, records: list[Any], result: AsyncResult[bytes]
                 ) -> tuple[int, list[Any], list[Decoding]]:
        mappings = self.mappings
        decoded: list[Decoded] = pickle.loads(result.get())  # noqa: S301 -- our own workers
        return received_ms, records, [
            (key, ts, [(mappings[i], o) for i, o in contribs], error, seq)
            for key, ts, contribs, error, seq in decoded]

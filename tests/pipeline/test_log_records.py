"""A batch of collected events as log records (`CompiledStream.log_records`): the same dedupe
keys and event times as `key_and_time` gives event by event, the same refusal of a key or time
the log cannot hold, for streams whose `id` and `timestamp` are plain names, absent, or
expressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pipeline.compiled import CompiledStream
from engine.pipeline.intake import Record, UnstorableRecord, unstorable
from tests.helpers import mapping_config

STREAMS = """\
streams:
  - {name: plain, id: id, timestamp: ts}
  - {name: keyless, timestamp: ts}
  - {name: untimed, id: id}
  - {name: bare}
  - {name: computed, id: data.id, timestamp: data.ts}
  - {name: mixed, id: id, timestamp: data.ts}
"""
RECEIVED = 1_772_000_000_123

values = st.one_of(
    st.none(), st.booleans(),
    st.integers(-2 ** 70, 2 ** 70),
    st.sampled_from([0, 1, 1_769_000_000, 99_999_999_999, 100_000_000_000, 1_769_000_000_000,
                     253_402_300_799_999, 253_402_300_800_000, -1, -1_769_000_000,
                     2 ** 64 + 1, -(2 ** 63) - 1, 10 ** 30 + 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["", "e1", "ünï", "\ud800", "1769000000", "2026-01-02T03:04:05Z", " 12 ",
                     "9" * 40, "-" + "9" * 40]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(),
                                                         max_size=2))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for name in ("id", "ts"):
        if draw(st.booleans()):
            event[name] = draw(values)
    if draw(st.booleans()):
        event["data"] = {name: draw(values) for name in ("id", "ts") if draw(st.booleans())}
    return event


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CompiledStream]:
    folder: Path = tmp_path_factory.mktemp("streams")
    return mapping_config(folder, STREAMS).pipeline.streams


def one_by_one(stream: CompiledStream, events: list[dict[str, Any]]) -> list[Record]:
    """What the collect API logged before batches were read in one pass."""
    records: list[Record] = []
    for i, event in enumerate(events):
        try:
            key, ts = stream.key_and_time(event, RECEIVED)
        except Exception:
            key, ts = None, RECEIVED
        why = unstorable(key, ts)
        if why is not None:
            raise UnstorableRecord(i, why)
        records.append((key, ts, f"{i}".encode(), None))
    return records


def outcome(stream: CompiledStream, batch: list[dict[str, Any]], batched: bool
            ) -> list[Record] | tuple[int, str]:
    try:
        if batched:
            return stream.log_records([(e, f"{i}".encode()) for i, e in enumerate(batch)],
                                      RECEIVED)
        return one_by_one(stream, batch)
    except UnstorableRecord as exc:
        return exc.index, exc.reason


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(events(), max_size=6))
def test_a_batch_reads_as_its_events_one_by_one(streams: dict[str, CompiledStream],
                                                 batch: list[dict[str, Any]]) -> None:
    for name in ("plain", "keyless", "untimed", "bare", "computed", "mixed"):
        stream = streams[name]
        assert outcome(stream, batch, True) == outcome(stream, batch, False), name


def test_webhook_ids_and_epoch_seconds_are_read_as_they_come(
        streams: dict[str, CompiledStream]) -> None:
    batch = [({"id": "a1", "ts": 1_769_000_000}, b"1"), ({"id": "a2"}, b"2"),
             ({"ts": 1_769_000_000_001}, b"3"), ({"id": 7, "ts": "1769000000"}, b"4")]
    assert streams["plain"].log_records(batch, RECEIVED) == [
        ("a1", 1_769_000_000_000, b"1", None), ("a2", RECEIVED, b"2", None),
        (None, 1_769_000_000_001, b"3", None), ("7", 1_769_000_000_000, b"4", None)]


def test_the_first_unstorable_key_is_named(streams: dict[str, CompiledStream]) -> None:
    batch = [({"id": "ok"}, b"1"), ({"id": "\ud800"}, b"2"), ({"id": "\udfff"}, b"3")]
    with pytest.raises(UnstorableRecord) as caught:
        streams["untimed"].log_records(batch, RECEIVED)
    assert caught.value.index == 1
    assert str(caught.value).startswith("event 1: its dedupe key is not valid UTF-8 text")


def as_sent(event: dict[str, Any]) -> bytes | None:
    """The event as a sender's JSON writes it, or None when the engine's parser refuses that
    text (a lone surrogate)."""
    raw = json.dumps(event, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return raw


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(events(), max_size=6))
def test_an_event_read_from_its_bytes_reads_as_the_processor_parses_it(
        streams: dict[str, CompiledStream], batch: list[dict[str, Any]]) -> None:
    """Array items come unparsed; their keys and times must be what the processor's parse of
    the same bytes gives (an integer past 64 bits is a float to it)."""
    sent = [raw for raw in map(as_sent, batch) if raw is not None]
    for name in ("plain", "keyless", "untimed", "bare", "computed", "mixed"):
        stream = streams[name]

        def records(parsed: bool, stream: CompiledStream = stream
                    ) -> list[Record] | tuple[int, str]:
            try:
                return stream.log_records(
                    [(orjson.loads(raw) if parsed else None, raw) for raw in sent], RECEIVED)
            except UnstorableRecord as exc:
                return exc.index, exc.reason

        assert records(False) == records(True), name


def test_unparsed_items_keep_their_bytes_and_read_odd_names(tmp_path: Path) -> None:
    stream = mapping_config(tmp_path, """\
streams:
  - {name: same, id: when, timestamp: when}
  - {name: odd, id: "`event-id`", timestamp: "`t s`"}
""").pipeline.streams
    raw = b'{"when": 1769000000, "event-id": "e1", "t s": 1769000000001, "x": [1, {"y": 2}]}'
    assert stream["same"].log_records([(None, raw)], RECEIVED) == [
        ("1769000000", 1_769_000_000_000, raw, None)]
    assert stream["odd"].log_records([(None, raw)], RECEIVED) == [
        ("e1", 1_769_000_000_001, raw, None)]

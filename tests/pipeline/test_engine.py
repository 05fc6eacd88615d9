"""The pipeline end to end through `Engine`: identity resolution, merges, order independence,
duplicates, replay, parallel decoding and bad input (docs/pipeline.md)."""

from __future__ import annotations

import json
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Config
from engine.engine import Engine
from engine.errors import EngineError
from engine.pipeline import files
from engine.pipeline.decode import block_records, partition_order
from engine.pipeline.files import read_block, read_events
from engine.pipeline.ingest import Ingester
from tests.expected import FIXTURE_PEOPLE, USR_48213, fields, people
from tests.pipeline.conftest import EXPECTED, Stores, fixture_events, webhook

T0 = 1_769_420_000


def _without_id(profile: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if profile is None else {k: v for k, v in profile.items() if k != "_id"}


def _all_profiles(eng: Engine) -> list[dict[str, Any]]:
    return sorted((_without_id(p) or {} for p in eng.profiles()),
                  key=lambda p: json.dumps(p["_identities"], sort_keys=True))


def test_fixture_webhooks_build_the_expected_profile(engine: Engine) -> None:
    result = engine.ingest("customerio", fixture_events())
    assert result.accepted == result.read and not result.rejected
    profile = engine.profile("cio_customer_id", "usr_48213")
    assert profile is not None
    expected = json.loads((EXPECTED / "usr_48213.json").read_text())
    got = {k: v for k, v in profile.items() if not k.startswith("_")}
    assert got == expected
    assert engine.profile("email", "maria.lopez@example.com") == profile


def test_a_later_event_joins_two_existing_profiles(engine: Engine) -> None:
    engine.ingest("customerio", [
        webhook("e1", "email", "opened", T0, email="ann@example.com"),
        webhook("e2", "email", "clicked", T0 + 60, email="ann@example.com"),
    ])
    engine.ingest("customerio", [webhook("e3", "email", "sent", T0 + 120, id="usr_ann")])
    by_email = engine.profile("email", "ann@example.com")
    by_id = engine.profile("cio_customer_id", "usr_ann")
    assert by_email is not None and by_id is not None and by_email["_id"] != by_id["_id"]
    older = min(by_email["_id"], by_id["_id"])

    result = engine.ingest("customerio", [
        webhook("e4", "email", "opened", T0 + 180, id="usr_ann", email="ann@example.com")])
    assert result.stats.merges == 1
    merged = engine.profile("email", "ann@example.com")
    assert merged == engine.profile("cio_customer_id", "usr_ann")
    assert merged is not None and merged["_id"] == older
    assert merged["_identities"] == {"cio_customer_id": ["usr_ann"], "email": ["ann@example.com"]}
    assert merged["cio_events"] == {"email_clicked": 1, "email_opened": 2, "email_sent": 1}
    assert merged["cio_email_last_open_ts"] == "2026-01-26T09:36:20.000Z"
    assert len(list(engine.profiles())) == 1


def test_duplicates_are_acknowledged_and_not_applied_twice(engine: Engine) -> None:
    events = fixture_events()
    engine.ingest("customerio", events)
    before = engine.profile("cio_customer_id", "usr_48213")
    again = engine.ingest("customerio", events + events[:3])
    assert again.accepted == 0 and again.duplicates == len(events) + 3
    assert engine.profile("cio_customer_id", "usr_48213") == before


def test_replay_rebuilds_the_same_profiles(engine: Engine) -> None:
    engine.ingest("customerio", fixture_events())
    before = _all_profiles(engine)
    stats = engine.replay()
    assert stats.events == len(fixture_events())
    assert _all_profiles(engine) == before
    # a mistake live ingest and replay share would pass the comparison above
    assert people(_all_profiles(engine)) == FIXTURE_PEOPLE
    assert fields(engine.profile("cio_customer_id", "usr_48213")) == USR_48213


def test_decoder_processes_give_the_same_profiles(config: Config, tmp_path: Path,
                                                  stores: Stores) -> None:
    lines = tmp_path / "hooks.jsonl"
    lines.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in fixture_events()))
    with Engine(config, storage=stores("a")) as a:
        a.ingest("customerio", read_events([str(lines)]))
        want = _all_profiles(a)
    with Engine(config, storage=stores("b"), batch_size=7) as b:
        result = b.ingest("customerio", read_events([str(lines)], parse=False), workers=1)
        assert result.accepted == len(fixture_events())
        assert _all_profiles(b) == want
        assert people(want) == FIXTURE_PEOPLE
        assert fields(b.profile("email", "maria.lopez@example.com")) == USR_48213


# ---- any order, any split, re-delivery: identical profiles (docs/pipeline.md)

_PEOPLE = [{"id": "usr_a", "email": "a@example.com"}, {"id": "usr_b"}, {"email": "b@example.com"},
           {"id": "usr_b", "email": "b@example.com"}, {"email": "a@example.com"}]
_KINDS = [("email", "opened"), ("email", "clicked"), ("push", "sent"), ("sms", "clicked"),
          ("in_app", "opened"), ("email", "sent")]
_POOL = [webhook(f"ev{i}", *_KINDS[i % len(_KINDS)], T0 + (i * 37) % 500,
                 **_PEOPLE[i % len(_PEOPLE)]) for i in range(18)]


def _profiles_after(config: Config, batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp, \
            Engine(config, store_path=Path(tmp) / "p.db", batch_size=4) as eng:
        for batch in batches:
            eng.ingest("customerio", batch)
        return _all_profiles(eng)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_order_split_and_redelivery_give_identical_profiles(config: Config,
                                                                data: st.DataObject) -> None:
    want = _profiles_after(config, [_POOL])
    order = data.draw(st.permutations(_POOL))
    again = data.draw(st.lists(st.sampled_from(_POOL), max_size=6))
    stream = order + again
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert _profiles_after(config, batches) == want


# ---- bad input: reported with where and why, the rest ingested


def test_malformed_lines_are_reported_with_their_line_and_skipped(engine: Engine,
                                                                  tmp_path: Path) -> None:
    good = [webhook(f"g{i}", "email", "opened", T0 + i, id=f"usr_{i}") for i in range(3)]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        json.dumps(good[0]).encode() + b"\n"
        + b"{not json\n"
        + b"\n"
        + b"[1, 2, 3]\n"
        + json.dumps(good[1]).encode() + b"\n"
        + b"\xff\xfe invalid utf-8\n"
        + b"[" * 5000 + b"]" * 5000 + b"\n"
        + json.dumps(good[2]).encode() + b"\n")
    result = engine.ingest("customerio", read_events([str(path)]))
    assert result.accepted == 3
    assert result.read == 7
    where = {r.where: r.reason for r in result.rejections}
    assert set(where) == {f"{path}:2", f"{path}:4", f"{path}:6", f"{path}:7"}
    assert where[f"{path}:2"].startswith("invalid JSON")
    assert where[f"{path}:4"] == "not a JSON object: an event must be an object, got an array"
    assert all(engine.profile("cio_customer_id", f"usr_{i}") for i in range(3))


def test_wrong_types_in_fields_never_fail_the_event(engine: Engine) -> None:
    odd = [
        {"event_id": "w1", "object_type": "email", "metric": "opened", "timestamp": "soon",
         "data": {"identifiers": {"id": 12345, "email": ["x@example.com"]}, "campaign_id": {}}},
        {"event_id": "w2", "object_type": 5, "metric": None, "timestamp": 1769420000,
         "data": "not an object"},
        {"event_id": "w3", "object_type": "email", "metric": "opened", "timestamp": 1769420000,
         "data": {"identifiers": {"id": ["usr_list"]}, "subject": 3.5, "href": 7}},
        "a string", 42, None,
    ]
    result = engine.ingest("customerio", odd)
    assert result.accepted == 3
    assert sum(result.rejected.values()) == 3
    assert engine.profile("cio_customer_id", "12345") is not None


def test_huge_objects_are_ingested_without_trouble(engine: Engine) -> None:
    big = webhook("big", "email", "opened", T0, id="usr_big")
    big["data"].update({f"k{i}": i for i in range(100_000)})
    result = engine.ingest("customerio", [big])
    assert result.accepted == 1
    assert engine.profile("cio_customer_id", "usr_big") is not None


def test_unidentified_events_are_counted(engine: Engine) -> None:
    result = engine.ingest("customerio", [webhook("u1", "email", "opened", T0)])
    assert result.accepted == 1 and result.stats.unidentified == 1
    assert list(engine.profiles()) == []


def test_explain_names_the_event_and_the_rule(engine: Engine) -> None:
    engine.ingest("customerio", fixture_events())
    explained = engine.explain("cio_customer_id", "usr_48213")
    assert explained is not None
    open_ts = explained["fields"]["cio_email_last_open_ts"]
    assert open_ts["mapping"] == "customerio_users"
    assert "epochms()" in open_ts["expr"] and "opened" in open_ts["if"]
    assert open_ts["event"]["body"]["metric"] == "opened"
    assert open_ts["event"]["stream"] == "customerio"


def test_bulk_ingest_by_partition_equals_event_by_event(config: Config, tmp_path: Path,
                                                         stores: Stores) -> None:
    # people known by email in one event and by id in another land in different partitions;
    # the events that carry both must still merge them, as in order
    lines = tmp_path / "pool.jsonl"
    pool = _POOL * 2 + [webhook("late", "email", "clicked", T0 + 999, id="usr_b",
                                email="a@example.com")]
    lines.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in pool))
    want = _profiles_after(config, [pool])
    with Engine(config, storage=stores("bulk"), batch_size=5) as eng:
        result = eng.ingest("customerio", read_events([str(lines)], parse=False), workers=1)
        assert (result.accepted, result.duplicates) == (len(_POOL) + 1, len(_POOL))
        assert _all_profiles(eng) == want
    # by hand: usr_a~a@ and usr_b~b@ are each one person, and `late` joins usr_b with a@, so
    # all of the pool is one profile; its 18 events are the six kinds three times each, and
    # `late` is one more email_clicked
    assert people(want) == [{
        "_identities": {"cio_customer_id": ["usr_a", "usr_b"],
                        "email": ["a@example.com", "b@example.com"]},
        "cio_events": {"email_opened": 3, "email_clicked": 4, "push_sent": 3, "sms_clicked": 3,
                       "in_app_opened": 3, "email_sent": 3}}]


def test_events_lacking_an_identity_merge_as_in_order_whether_their_person_is_new_or_known(
        config: Config, tmp_path: Path, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    # a decoder folds a person's events that carry only the email into the document of the
    # events that carry the id as well: for a new person that document is the profile; for
    # one the store already knows, each group is merged on its own, as in order; a group
    # that is its document alone (usr_d's) is merged from that document
    first = [webhook("k1", "push", "sent", T0, id="usr_a"),
             webhook("k2", "email", "opened", T0 + 1, email="b@example.com"),
             webhook("k3", "sms", "sent", T0 + 4, id="usr_d")]
    second = [webhook("n1", "email", "clicked", T0 + 5, id="usr_a", email="a@example.com"),
              webhook("n2", "email", "sent", T0 + 9, email="a@example.com"),
              webhook("n3", "sms", "sent", T0 + 2, id="usr_b", email="b@example.com"),
              webhook("n4", "email", "opened", T0 + 7, id="usr_c", email="c@example.com"),
              webhook("n5", "email", "sent", T0 + 8, email="c@example.com"),
              webhook("n6", "push", "opened", T0 + 3, email="b@example.com"),
              webhook("n7", "email", "opened", T0 + 6, id="usr_d"),
              webhook("n8", "sms", "sent", T0 + 2, id="usr_d")]
    want = _profiles_after(config, [first, second])
    with Engine(config, storage=stores("bulk"), batch_size=3) as eng:
        # the merges are the bulk load's own: a failed one is applied again event by event
        monkeypatch.setattr(Ingester, "drain", lambda *_a, **_k: pytest.fail("applied again"))
        for n, events in enumerate([first, second]):
            lines = tmp_path / f"{n}.jsonl"
            lines.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in events))
            eng.ingest("customerio", read_events([str(lines)], parse=False), workers=1)
        assert _all_profiles(eng) == want
    assert [p["_identities"] for p in people(want)] == [
        {"cio_customer_id": ["usr_a"], "email": ["a@example.com"]},
        {"cio_customer_id": ["usr_b"], "email": ["b@example.com"]},
        {"cio_customer_id": ["usr_c"], "email": ["c@example.com"]},
        {"cio_customer_id": ["usr_d"]}]


def test_decoders_reading_blocks_of_files_count_and_place_lines_as_sent_lines(
        config: Config, tmp_path: Path, stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    # tiny blocks: lines, blank lines, CRLF ends and malformed lines fall on every side of a
    # cut, and the second file numbers its lines from 1 again; the decoders reading the files
    # count and place them as when this process reads the lines and sends them
    monkeypatch.setattr(files, "BLOCK_BYTES", 64)
    hooks = [json.dumps(e).encode() for e in _POOL]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.ndjson"
    first.write_bytes(b"\n".join([*hooks[:5], b"", b"{oops", b"  ", hooks[5] + b"\r", b"[1]",
                                   *hooks[6:12], b"not json"]))  # no newline at the end
    second.write_bytes(b"\n".join([b"", *hooks[12:], b"{", hooks[0], b""]) + b"\n")
    paths = [str(first), str(second)]
    with Engine(config, storage=stores("one")) as one:
        one.ingest("customerio", read_events(paths))
        want_profiles = _all_profiles(one)
    with Engine(config, storage=stores("sent"), batch_size=3) as sent:
        lines = (record for record in read_events(paths, parse=False))
        want = sent.ingest("customerio", lines, workers=2)
        assert _all_profiles(sent) == want_profiles
    with Engine(config, storage=stores("bulk"), batch_size=3) as eng:
        got = eng.ingest("customerio", read_events(paths, parse=False), workers=2)
        assert _all_profiles(eng) == want_profiles
    assert (got.read, got.accepted, got.duplicates, got.rejected) == (
        want.read, want.accepted, want.duplicates, want.rejected)
    assert got.rejections == want.rejections
    assert [r.where for r in got.rejections] == [
        f"{first}:7", f"{first}:10", f"{first}:17", f"{second}:8"]


def test_a_block_changed_after_its_decoder_read_it_is_refused(tmp_path: Path) -> None:
    # the main process reads a block's bodies again: if the bytes are not those the decoder
    # mapped, nothing of it may be logged as if they were
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": 2}\n')
    block = (str(path), 0, path.stat().st_size)
    meta: list[tuple[str | None, int, str | None]] = [("k1", 1, None), (None, 0, "bad")]
    crc = zlib.crc32(read_block(block))
    records, where, count = block_records(block, meta, 3, crc)
    assert records == [("k1", 1, b'{"a": 1}', None), (None, 0, None, "bad")]
    assert (where, count) == ({1: 2}, 3)
    path.write_bytes(b'{"a": 1}\n\n{"a": 3}\n')
    with pytest.raises(EngineError, match="changed while it was being ingested"):
        block_records(block, meta, 3, crc)


def test_non_objects_in_an_array_are_rejected_in_bulk_mode(engine: Engine) -> None:
    records = [(webhook("o1", "email", "opened", T0, id="usr_o"), None, "in.json[0]", None),
               (5, None, "in.json[1]", None)]
    result = engine.ingest("customerio", records, workers=1)
    assert (result.accepted, sum(result.rejected.values())) == (1, 1)
    assert result.rejections[0].where == "in.json[1]"
    assert result.rejections[0].reason.startswith("not a JSON object")


def test_bulk_ingest_partitions_by_the_identity_most_events_carry(config: Config) -> None:
    # every event carries the email, one in three the id: partitioning by the email keeps
    # each person's events together, whichever identity the mapping names first
    hooks = [webhook(f"p{i}", "email", "opened", T0 + i, email=f"p{i % 4}@example.com",
                     **({"id": f"usr_{i % 4}"} if i % 3 == 0 else {})) for i in range(30)]
    bodies: list[bytes | None] = [json.dumps(h).encode() for h in hooks]
    order = partition_order(config.pipeline, "customerio", T0, [*bodies, b"[1]", b"{", None])
    assert order == [("email", "cio_customer_id", "cio_id")]  # no event carries a cio_id


def test_counts_keep_their_newest_keys_event_by_event_in_bulk_and_across_merges(
        config: Config, tmp_path: Path, stores: Stores) -> None:
    # The stock `cio_events` keeps 100 keys. 150 invented metrics, one second apart: half for
    # the person known by email, half by id, and an event with both that merges the two.
    by_email = [webhook(f"m{i}", "email", f"m{i:03d}", T0 + i, email="ann@example.com")
                for i in range(0, 150, 2)]
    by_id = [webhook(f"m{i}", "email", f"m{i:03d}", T0 + i, id="usr_ann")
             for i in range(1, 150, 2)]
    both = webhook("join", "email", "opened", T0 + 150, id="usr_ann", email="ann@example.com")
    want = {"email_opened": 1, **{f"email_m{i:03d}": 1 for i in range(51, 150)}}
    lines = tmp_path / "many.jsonl"
    lines.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in [*by_email, *by_id, both]))
    with Engine(config, storage=stores("one")) as eng:
        eng.ingest("customerio", by_email)
        eng.ingest("customerio", by_id)
        eng.ingest("customerio", [both])
        merged = eng.profile("email", "ann@example.com")
        assert merged is not None and merged["cio_events"] == want
    with Engine(config, storage=stores("bulk"), batch_size=7) as eng:
        eng.ingest("customerio", read_events([str(lines)], parse=False), workers=1)
        bulk = eng.profile("email", "ann@example.com")
        assert bulk is not None and bulk["cio_events"] == want

"""A bulk load's spill: each mapped event encoded on its own, as its decoder makes it, and
folded from the spill as the processor folds it event by event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.engine import Engine
from engine.pipeline.bulk import decoded_record, encode_record
from engine.pipeline.files import read_events
from tests.helpers import mapping_config

# Two fields of one event hold the same list of the event (`tags`): encoded on its own, the
# event keeps them one list, as it is when the processor folds the event where it was made.
MAPPING = """\
streams:
  - {name: visits, id: id, timestamp: ts}
mappings:
  - name: users
    stream: visits
    into: user
    by: [user_id]
    fields:
      - {field: user_id, expr: user, type: string}
      - {field: all_tags, expr: tags, type: "[]string"}
      - {field: newest_tags, expr: tags, type: "[]string", merge: latest}
      - {field: visits, expr: count(user), type: int}
"""


def _profiles(eng: Engine) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in p.items() if k != "_id"} for p in eng.profiles()),
                  key=lambda p: json.dumps(p["_identities"], sort_keys=True))


def test_a_bulk_load_folds_its_spill_as_the_events_fold_one_by_one(tmp_path: Path) -> None:
    events = [{"id": f"v{i}", "ts": 1_700_000_000 - i, "user": f"u{i % 4}",
               "tags": [f"t{i % 5}"] if i % 2 else [f"t{i % 5}", f"t{(i + 1) % 5}"]}
              for i in range(40)]
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in events))
    config = mapping_config(tmp_path, MAPPING)
    with Engine(config, store_path=tmp_path / "one.db", batch_size=4) as one:
        one.ingest("visits", events)
        want = _profiles(one)
    with Engine(config, store_path=tmp_path / "bulk.db", batch_size=4) as bulk:
        result = bulk.ingest("visits", read_events([str(lines)], parse=False), workers=2)
        assert (result.accepted, result.stats.dead_letters) == (len(events), 0)
        assert _profiles(bulk) == want
    assert len(want) == 4


def test_a_spilled_event_marshal_cannot_hold_is_pickled_and_read_back() -> None:
    plain = (3, "k", 1_700_000_000_000, [(0, [("id", "u")], {"id": "u", "n": 1.5}, 0)], None)
    odd = (4, "k", 1, [(0, [], {"when": datetime(2024, 1, 2, tzinfo=UTC)}, 0)], None)
    for record in (plain, odd, ()):
        data = encode_record(record)
        assert decoded_record(data) == record
    assert encode_record(plain)[0] != 0x80 and encode_record(odd)[0] == 0x80


def test_a_latest_field_fed_the_list_a_set_grows_keeps_its_own_value(tmp_path: Path) -> None:
    # The newest event comes first: `newest_tags` keeps its list while `all_tags` grows.
    events = [{"id": "v1", "ts": 1_700_000_002, "user": "u", "tags": ["a"]},
              {"id": "v2", "ts": 1_700_000_001, "user": "u", "tags": ["b"]}]
    lines = tmp_path / "in.jsonl"
    lines.write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in events))
    config = mapping_config(tmp_path, MAPPING)
    with Engine(config, store_path=tmp_path / "one.db") as one:
        one.ingest("visits", events)
        [alone] = _profiles(one)
    with Engine(config, store_path=tmp_path / "bulk.db") as bulk:
        bulk.ingest("visits", read_events([str(lines)], parse=False), workers=2)
        [loaded] = _profiles(bulk)
    for profile in (alone, loaded):
        assert (profile["all_tags"], profile["newest_tags"]) == (["a", "b"], ["a"])

"""Dead letters (`_errors`), read-only engines and the one-writer lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import Config, load_config
from engine.engine import Engine
from engine.errors import EngineError, RuntimeFailure
from engine.pipeline.files import read_events
from tests.helpers import mapping_config
from tests.store.conftest import BACKENDS

MAPPING = """\
streams:
  - name: signups
    id: id
    timestamp: ts
mappings:
  - name: users
    stream: signups
    into: user
    by: [user_id]
    fields:
      - {field: user_id, expr: user, type: string}
      - {field: age, expr: %s, type: %s}
      - {field: visits, expr: count(user), type: int}
"""


def _config(tmp_path: Path, age_type: str) -> Config:
    expr = "toint(age)" if age_type == "int" else "age"
    return mapping_config(tmp_path, MAPPING % (expr, age_type), name="signups.yaml")


EVENTS = [{"id": "a", "ts": 1769000000, "user": "u1", "age": 41},
          {"id": "b", "ts": 1769000100, "user": "u1", "age": "forty-two"},
          {"id": "c", "ts": 1769000200, "user": "u2", "age": 7}]


@pytest.mark.parametrize("workers", [0, 1])
def test_a_value_its_field_cannot_hold_is_dead_lettered_and_the_rest_applied(
        tmp_path: Path, workers: int) -> None:
    config = _config(tmp_path, "int")
    lines = tmp_path / "in.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    with Engine(config, clock=lambda: 1_769_500_000_000) as eng:
        result = eng.ingest("signups", read_events([str(lines)], parse=workers == 0),
                            workers=workers)
        assert (result.accepted, result.stats.dead_letters) == (3, 1)
        letters = eng.errors()
        profile = eng.profile("user_id", "u1")
    assert [(d.seq, d.stream, d.event["id"]) for d in letters] == [(2, "signups", "b")]
    assert letters[0].reason == "mapping users: age failed to evaluate"
    assert letters[0].as_dict()["recorded"] == "2026-01-27T07:46:40.000Z"
    # the event's other fields still counted: one bad field never loses the event
    assert profile is not None and profile["visits"] == 2 and profile["age"] == 41


def test_replay_after_a_config_fix_clears_the_dead_letters(tmp_path: Path) -> None:
    with Engine(_config(tmp_path, "int")) as eng:
        eng.ingest("signups", EVENTS)
        assert len(eng.errors()) == 1
    with Engine(_config(tmp_path, "string")) as eng:
        eng.replay()
        assert eng.errors() == []
        assert eng.store.count_errors() == 0
        profile = eng.profile("user_id", "u1")
        assert profile is not None and profile["age"] == "forty-two"


def test_a_read_only_engine_opens_beside_the_writer(tmp_path: Path) -> None:
    config = _config(tmp_path, "int")
    with Engine(config) as writer:
        writer.ingest("signups", EVENTS[:1])
        with Engine(config, read_only=True) as reader:
            assert reader.profile("user_id", "u1") is not None
            with pytest.raises(EngineError, match="read-only"):
                reader.ingest("signups", EVENTS)


def test_a_second_writer_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    config = _config(tmp_path, "int")
    with Engine(config), pytest.raises(RuntimeFailure, match="in use by another engine"):
        Engine(config)
    with Engine(config) as again:  # released on close
        assert again.backlog() == 0


NO_SUMS = MAPPING.replace("      - {field: visits, expr: count(user), type: int}\n", "")


@pytest.fixture(params=sorted(BACKENDS))
def storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """Config overrides for a store of each back end."""
    if request.param == "sqlite":
        return {}
    return {"storage.backend": "postgres",
            "storage.dsn": request.getfixturevalue("postgres_dsn"),
            "storage.schema": request.getfixturevalue("pg_schema")}


@pytest.mark.parametrize("shared", [False, True], ids=["daemon", "scale-out-node"])
def test_dead_letters_are_applied_again_live_once_and_a_failing_one_stays(
        tmp_path: Path, storage: dict[str, str], shared: bool) -> None:
    events = [{"id": "a", "ts": 1769000000, "user": "u1", "age": "forty-one"},
              {"id": "b", "ts": 1769000100, "user": "u2", "age": {"years": 7}}]
    mapping_config(tmp_path, NO_SUMS % ("toint(age)", "int"), name="signups.yaml")
    broken = load_config(tmp_path / "config.yaml", storage)
    with Engine(broken) as eng:
        eng.ingest("signups", events)
        assert len(eng.errors()) == 2
    mapping_config(tmp_path, NO_SUMS % ("tolower(age)", "string"), name="signups.yaml")
    fixed = load_config(tmp_path / "config.yaml", storage)
    with Engine(fixed, shared=shared) as eng:
        applied = eng.applied
        result = eng.replay_errors(stream="signups")
        assert result.as_dict() == {"replayed": 1, "failed_again": 1, "left": 0}
        assert eng.applied == applied  # the position stays: nothing is rebuilt
        profile = eng.profile("user_id", "u1")
        assert profile is not None and profile["age"] == "forty-one"
        (still,) = eng.errors()
        assert still.event["id"] == "b" and still.reason == "mapping users: age failed to evaluate"
        again = eng.replay_errors()  # the one left fails again; the first is not re-applied
        assert again.as_dict() == {"replayed": 0, "failed_again": 1, "left": 0}


def test_a_dead_letter_applied_in_part_to_a_sum_is_left_for_a_full_replay(
        tmp_path: Path) -> None:
    with Engine(_config(tmp_path, "int")) as eng:
        eng.ingest("signups", EVENTS)
    with Engine(_config(tmp_path, "string")) as eng:
        assert eng.replay_errors().as_dict() == {"replayed": 0, "failed_again": 0, "left": 1}
        profile = eng.profile("user_id", "u1")
        assert profile is not None and profile["visits"] == 2  # never counted twice
        assert len(eng.errors()) == 1

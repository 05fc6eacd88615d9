"""The per-event evaluation budget, driven by an injected clock that jumps.

The clock moves one second at every reading, so an evaluation that reads it twice has spent
more than a 1000 ms budget: what the budget decides depends only on how often the work checks,
never on how fast this machine is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import Config
from engine.engine import Engine
from engine.lang import budget
from engine.lang.budget import BudgetExceeded
from engine.lang.compiler import compile_expression
from engine.pipeline.compiled import Pipeline
from engine.pipeline.files import read_events
from tests.helpers import mapping_config

MAPPING = """\
streams:
  - {name: visits, id: id, timestamp: ts}
  - {name: tagged, from: visits, fields: {id: id, user: user, first: 'array.index(tags, 0)',
                                           tags: 'filter(tags, "*x*x*")'}}
mappings:
  - name: users
    stream: visits
    into: user
    by: [user_id]
    fields:
      - {field: user_id, expr: user, type: string}
      - {field: tag_count, expr: len(tags), type: int}
      - {field: kept, expr: 'filtermatch(tags, "t*")', type: "[]string"}
      - {field: visits, expr: count(user), type: int}
"""

BIG = [f"t{i}" for i in range(10 * budget.CHECK_EVERY)]


class JumpingClock:
    """A monotonic clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float = 1.0) -> None:
        self.now = 0.0
        self.step = step
        self.reads = 0

    def __call__(self) -> float:
        self.now += self.step
        self.reads += 1
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[JumpingClock]:
    fake = JumpingClock()
    monkeypatch.setattr(budget, "clock", fake)
    yield fake
    budget.stop()


def _config(tmp_path: Path, mapping: str = MAPPING, budget_ms: int | None = None) -> Config:
    extra = "" if budget_ms is None else f"pipeline: {{event_budget_ms: {budget_ms}}}\n"
    return mapping_config(tmp_path, mapping, extra=extra)


def test_the_budget_is_configurable_and_defaults_to_one_second(tmp_path: Path) -> None:
    assert Pipeline(_config(tmp_path).settings).budget_ms == 1000
    assert Pipeline(_config(tmp_path, budget_ms=250).settings).budget_ms == 250


def test_a_big_list_runs_out_of_budget_inside_the_builtin(tmp_path: Path,
                                                          clock: JumpingClock) -> None:
    pipeline = Pipeline(_config(tmp_path).settings)
    stream = pipeline.streams["visits"]
    with pytest.raises(BudgetExceeded) as caught:
        pipeline.fan_out(stream, {"id": "1", "user": "u", "tags": BIG}, 0)
    assert caught.value.reason == ("evaluation exceeded its 1000 ms budget in mapping users "
                                   "field kept")
    assert budget._state.deadline == float("inf")  # nothing is limited after the event


def test_a_transform_that_runs_out_is_named(tmp_path: Path, clock: JumpingClock) -> None:
    mapping = MAPPING.replace("stream: visits\n    into", "stream: tagged\n    into")
    pipeline = Pipeline(_config(tmp_path, mapping).settings)
    with pytest.raises(BudgetExceeded, match=r"in stream tagged field tags$"):
        pipeline.fan_out(pipeline.streams["visits"], {"id": "1", "user": "u", "tags": BIG}, 0)


def test_small_inputs_never_read_the_clock_inside_builtins(tmp_path: Path,
                                                           clock: JumpingClock) -> None:
    """Only the start and one check per mapping: the hot path pays two clock reads."""
    pipeline = Pipeline(_config(tmp_path).settings)
    clock.step = 0.4  # start, then one check per mapping: 0.4 s after the start
    out = pipeline.fan_out(pipeline.streams["visits"],
                           {"id": "1", "user": "u", "tags": ["t1", "x"]}, 0)
    assert [m.name for m, _out in out] == ["users"]
    assert clock.reads == 2


def test_a_mapping_that_finishes_late_is_over_budget_too(tmp_path: Path,
                                                         clock: JumpingClock) -> None:
    pipeline = Pipeline(_config(tmp_path).settings)
    clock.step = 2.0  # the check after the mapping reads 2 s past the start
    with pytest.raises(BudgetExceeded, match=r"in mapping users$"):
        pipeline.fan_out(pipeline.streams["visits"], {"id": "1", "user": "u", "tags": []}, 0)


@pytest.mark.parametrize("text", [
    'filter(tags, "*x*")', 'filtermatch(tags, "t*")', 'contains(tags, "zz")',
    'regex.match(tags, "zz")', 'join(tags, ",")', 'tags LIKE "*x*"', 'tags > "zz"',
    'tostring(tags)', 'set(tags)', 'tags INTERSECTS ("a", "b")', 'eq(tags, 5)',
    'mapvalues(m)', 'string.titlecase(text)', 'email(text)', 'len(match("k"))',
])
def test_every_builtin_that_loops_checks_the_budget(text: str, clock: JumpingClock) -> None:
    n = 10 * budget.CHECK_EVERY
    event: dict[str, Any] = {"tags": BIG, "m": {f"k{i}": i for i in range(n)},
                             "text": "a (b " * n}
    event.update({f"k{i}": i for i in range(n)})
    expr = compile_expression(text)
    with pytest.raises(BudgetExceeded), budget.limit(1000):
        expr.evaluate(event)


def test_outside_an_evaluation_nothing_is_limited(clock: JumpingClock) -> None:
    assert compile_expression('filter(tags, "*x*")').evaluate({"tags": BIG}) == BIG


EVENTS = [{"id": "slow", "ts": 1769000000, "user": "u1", "tags": BIG},
          {"id": "good", "ts": 1769000100, "user": "u2", "tags": ["t1"]}]


@pytest.mark.parametrize("workers", [0, 1])
def test_an_event_over_budget_is_a_dead_letter_and_the_next_is_applied(
        tmp_path: Path, clock: JumpingClock, workers: int) -> None:
    config = _config(tmp_path)
    lines = tmp_path / "in.jsonl"
    lines.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    with Engine(config) as eng:
        eng.ingest("visits", read_events([str(lines)], parse=workers == 0), workers=workers)
        assert eng.profile("user_id", "u1") is None
        good = eng.profile("user_id", "u2")
        assert good is not None and good["kept"] == ["t1"]
        (letter,) = eng.errors()
    assert letter.event["id"] == "slow"
    assert letter.reason == ("evaluation exceeded its 1000 ms budget in mapping users field "
                                "kept")

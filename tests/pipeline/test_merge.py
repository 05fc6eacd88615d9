"""Merge rules (SPEC §6.3): every rule folds events the same in any order and any grouping."""

from __future__ import annotations

import copy
from functools import reduce
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config.model import FIELD_TYPES
from engine.pipeline.merge import FieldRule, State
from engine.pipeline.profile import Profile

RULES = [(t, m) for t, merges in FIELD_TYPES.items() for m in merges]

_scalar = {
    "string": st.sampled_from(["a", "b", "c", "dd"]),
    "int": st.integers(-5, 5),
    "number": st.sampled_from([-1.5, 0.0, 2.25, 7.0]),
    "bool": st.booleans(),
    "date": st.integers(0, 10**12),
}


def values_for(field_type: str) -> st.SearchStrategy[Any]:
    if field_type in _scalar:
        return _scalar[field_type]
    if field_type == "[]string":
        return st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=3)
    if field_type == "[]time":
        return st.lists(st.integers(0, 10**12), min_size=1, max_size=3)
    inner = {"map[string]int": st.integers(-3, 3), "map[string]intsum": st.just(1),
             "map[string]number": st.sampled_from([0.5, 1.0, -2.0]),
             "map[string]string": st.sampled_from(["p", "q"]), "map[string]bool": st.booleans(),
             "map[string]time": st.integers(0, 10**12)}[field_type]
    return st.dictionaries(st.sampled_from(["k1", "k2", "k3"]), inner, min_size=1, max_size=3)


def events_for(field_type: str) -> st.SearchStrategy[list[tuple[Any, int, str]]]:
    # (value, event time, event id); event ids are unique, as the log guarantees
    return st.lists(st.tuples(values_for(field_type), st.integers(0, 3)), min_size=1,
                    max_size=8).map(lambda xs: [(v, t, f"e{i}") for i, (v, t) in enumerate(xs)])


def fold_all(rule: FieldRule, events: list[tuple[Any, int, str]]) -> State | None:
    state: State | None = None
    for i, (v, ts, tb) in enumerate(events):
        nv = rule.normalise(copy.deepcopy(v))
        if nv is not None:
            state = rule.trim(rule.fold(state, nv, ts, tb, i))
    return state


def rendered(rule: FieldRule, state: State | None) -> Any:
    return None if state is None else rule.render(copy.deepcopy(state), 10**13)


@pytest.mark.parametrize(("field_type", "merge"), RULES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_order_and_any_split_give_the_same_value(field_type: str, merge: str,
                                                     data: st.DataObject) -> None:
    rule = FieldRule.build("f", field_type, merge)
    events = data.draw(events_for(field_type))
    want = rendered(rule, fold_all(rule, events))
    shuffled = data.draw(st.permutations(events))
    assert rendered(rule, fold_all(rule, shuffled)) == want
    # split into profiles folded separately, then combined (an identity merge)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=3)))
    parts = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    states = [s for s in (fold_all(rule, p) for p in parts) if s is not None]
    combined = reduce(lambda a, b: rule.combine(copy.deepcopy(a), copy.deepcopy(b)), states) \
        if states else None
    assert rendered(rule, combined) == want


def test_latest_takes_the_newest_event_and_ties_break_by_event_id() -> None:
    rule = FieldRule.build("f", "string", "latest")
    assert rendered(rule, fold_all(rule, [("new", 5, "a"), ("old", 1, "b")])) == "new"
    assert rendered(rule, fold_all(rule, [("x", 5, "a"), ("y", 5, "b")])) == "y"


def test_sum_set_and_value_counts() -> None:
    assert rendered(FieldRule.build("f", "int", "sum"),
                    fold_all(FieldRule.build("f", "int", "sum"), [(2, 1, "a"), (3, 0, "b")])) == 5
    union = FieldRule.build("f", "[]string", "union")
    assert rendered(union, fold_all(union, [(["b", "a"], 1, "x"), (["c"], 0, "y")])) == \
        ["a", "b", "c"]
    counts = FieldRule.build("f", "map[string]intsum", "sum")
    assert rendered(counts, fold_all(counts, [({"o": 1}, 1, "x"), ({"o": 1}, 2, "y"),
                                              ({"c": 1}, 0, "z")])) == {"c": 1, "o": 2}


def test_capacity_keeps_the_most_recently_updated_set_elements() -> None:
    rule = FieldRule.build("f", "[]string", "union", capacity=2)
    state = fold_all(rule, [(["a"], 1, "x"), (["b"], 3, "y"), (["c"], 2, "z")])
    assert rendered(rule, state) == ["b", "c"]


def test_keep_days_drops_old_entries_relative_to_the_newest_event() -> None:
    rule = FieldRule.build("f", "[]string", "union", keep_days=1)
    day = 86_400_000
    state = fold_all(rule, [(["old"], 0, "x"), (["new"], 3 * day, "y")])
    assert rule.render(state, 3 * day) == ["new"]


def test_a_replaced_time_set_renders_as_times() -> None:
    # `[]time` with `merge: latest` keeps the newest event's times, as epoch ms like a union
    # does (`profile get` formats them as dates; strings there used to crash it)
    rule = FieldRule.build("f", "[]time", "latest")
    state = fold_all(rule, [([2_000, 1_000], 1, "x"), ([3_000], 2, "y")])
    assert rendered(rule, state) == [3_000]
    assert state is not None
    profile = Profile(1, {"f": state}, {}, 2)
    assert profile.to_json({"f": rule})["f"] == ["1970-01-01T00:00:03.000Z"]

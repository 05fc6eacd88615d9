"""Merge rules (docs/pipeline.md): every rule folds events the same in any order and any
grouping."""

from __future__ import annotations

import copy
from functools import reduce
from typing import Any

import orjson
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
    if field_type in ("[]string", "ts[]string"):
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


def shuffled_and_split(rule: FieldRule, events: list[tuple[Any, int, str]],
                       data: st.DataObject) -> tuple[State | None, State | None]:
    """The events folded in a drawn order, and as drawn parts folded apart, then combined
    (an identity merge)."""
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=3)))
    parts = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    states = [s for s in (fold_all(rule, p) for p in parts) if s is not None]
    combined = reduce(lambda a, b: rule.trim(rule.combine(copy.deepcopy(a), copy.deepcopy(b))),
                      states) if states else None
    return fold_all(rule, shuffled), combined


# capacity 3 holds every key the maps are drawn with (k1..k3), and evicts from sets (x..w)
@pytest.mark.parametrize("capacity", [None, 3])
@pytest.mark.parametrize(("field_type", "merge"), RULES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_order_and_any_split_give_the_same_value(field_type: str, merge: str,
                                                     capacity: int | None,
                                                     data: st.DataObject) -> None:
    rule = FieldRule.build("f", field_type, merge, capacity=capacity)
    events = data.draw(events_for(field_type))
    want = rendered(rule, fold_all(rule, events))
    in_order, combined = shuffled_and_split(rule, events, data)
    assert rendered(rule, in_order) == want
    assert rendered(rule, combined) == want


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_counts_over_capacity_keep_the_same_keys_in_any_order_and_split(
        data: st.DataObject) -> None:
    # Which keys are kept never depends on order: the `capacity` keys updated last. Their
    # counts may (an evicted key that comes back starts over; docs/pipeline.md).
    rule = FieldRule.build("f", "map[string]intsum", "sum", capacity=2)
    events = data.draw(events_for("map[string]intsum"))
    want = rendered(rule, fold_all(rule, events))
    newest: dict[str, int] = {}
    for v, ts, _tb in events:
        for k in v:
            newest[k] = max(newest.get(k, ts), ts)
    assert set(want) == set(sorted(newest, key=lambda k: (newest[k], k))[-2:])
    in_order, combined = shuffled_and_split(rule, events, data)
    assert set(rendered(rule, in_order)) == set(want)
    assert set(rendered(rule, combined)) == set(want)


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


def test_capacity_keeps_the_most_recently_counted_keys() -> None:
    rule = FieldRule.build("f", "map[string]intsum", "sum", capacity=2)
    events = [({"a": 1}, 1, "e1"), ({"b": 2}, 2, "e2"), ({"a": 1}, 3, "e3"),
              ({"c": 1}, 4, "e4"), ({"a": 1}, 5, "e5")]
    # e4 brings a third key: b (last counted at 2) goes; a keeps its count of 2, then 3
    state = fold_all(rule, events)
    assert rendered(rule, state) == {"a": 3, "c": 1}
    # b comes back: it starts over at its new count, and c (counted at 4) goes
    assert rendered(rule, fold_all(rule, [*events, ({"b": 5}, 6, "e6")])) == {"a": 3, "b": 5}
    # a late event for a key that is not held is counted and evicted at once
    assert rendered(rule, fold_all(rule, [*events, ({"z": 1}, 0, "e0")])) == {"a": 3, "c": 1}
    # keys counted at the same time: the greater key stays
    rule1 = FieldRule.build("f", "map[string]intsum", "sum", capacity=1)
    assert rendered(rule1, fold_all(rule1, [({"x": 1, "y": 1}, 1, "e1")])) == {"y": 1}


def test_an_evicted_key_counted_again_starts_over_so_order_decides_its_count() -> None:
    rule = FieldRule.build("f", "map[string]intsum", "sum", capacity=1)
    a1, b2, a3 = ({"a": 1}, 1, "e1"), ({"b": 1}, 2, "e2"), ({"a": 1}, 3, "e3")
    # in event-time order b evicts a, then a evicts b and starts over
    assert rendered(rule, fold_all(rule, [a1, b2, a3])) == {"a": 1}
    # newest first, b never gets in and a keeps both of its counts
    assert rendered(rule, fold_all(rule, [a3, b2, a1])) == {"a": 2}


def test_merged_profiles_sum_the_kept_keys_and_keep_the_newest() -> None:
    rule = FieldRule.build("f", "map[string]intsum", "sum", capacity=2)
    one = fold_all(rule, [({"a": 1}, 1, "e1"), ({"b": 1}, 2, "e2")])
    two = fold_all(rule, [({"a": 2}, 3, "e3"), ({"c": 1}, 4, "e4")])
    assert one is not None and two is not None
    # last counted: a at 3, b at 2, c at 4; b goes
    assert rendered(rule, rule.trim(rule.combine(one, two))) == {"a": 3, "c": 1}


def test_counts_stored_without_key_times_load_and_rank_at_their_newest_event() -> None:
    # A profile written before the field had a capacity: [counts, ts, tb, seq]. Its keys
    # count as last updated by the state's newest event.
    rule = FieldRule.build("f", "map[string]intsum", "sum", capacity=2)
    old = orjson.dumps({"f": {"f": [{"a": 5, "b": 2}, 10, "e", 3]}, "i": {}, "u": 10})
    profile = Profile.loads(1, old)
    assert profile.to_json({"f": rule})["f"] == {"a": 5, "b": 2}
    state = rule.trim(rule.fold(profile.fields["f"], {"c": 1}, 11, "e11", 4))
    assert rendered(rule, state) == {"b": 2, "c": 1}  # a and b tie at 10: a, the lesser, goes
    profile.fields["f"] = state
    again = Profile.loads(1, profile.dumps())
    assert again.to_json({"f": rule})["f"] == {"b": 2, "c": 1}  # the map's shape is unchanged
    state = rule.trim(rule.fold(again.fields["f"], {"b": 1}, 12, "e12", 5))
    assert rendered(rule, state) == {"b": 3, "c": 1}


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

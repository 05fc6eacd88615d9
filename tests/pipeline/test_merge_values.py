"""Merge rules give the values docs/pipeline.md promises, written out by hand per type and rule.

`test_merge.py` shows every rule is order- and split-invariant; that holds for a wrong rule too
(`min` where `max` is meant), so here three events, whose event times run in another order than
their values, fold to a hand-worked value: in log order, in reverse, and as two profiles merged.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engine.config.model import FIELD_TYPES
from engine.pipeline.merge import FieldRule
from tests.pipeline.test_merge import fold_all, rendered

T1, T2, T3 = 1_000, 2_000, 3_000  # event times; e2 is the oldest, e3 the newest
D1, D2, D3 = 1_600_000_000_000, 1_700_000_000_000, 1_800_000_000_000  # dates, epoch ms

# type -> the three events' values (e1 at T2, e2 at T1, e3 at T3), then {merge: expected}
TABLE: dict[str, tuple[tuple[Any, Any, Any], dict[str, Any]]] = {
    "string": (("b", "c", "a"),
               {"latest": "a", "oldest": "c", "min": "a", "max": "c"}),
    "int": ((5, 9, -3),
            {"latest": -3, "oldest": 9, "min": -3, "max": 9, "sum": 11}),
    "number": ((2.5, 7.25, -1.5),
               {"latest": -1.5, "oldest": 7.25, "min": -1.5, "max": 7.25, "sum": 8.25}),
    "bool": ((True, True, False),
             {"latest": False, "oldest": True}),
    "date": ((D2, D3, D1),
             {"latest": D1, "oldest": D3, "min": D1, "max": D3}),
    "[]string": ((["b", "a"], ["c"], ["a", "d"]),
                 {"union": ["a", "b", "c", "d"], "latest": ["a", "d"]}),
    "[]time": (([D3, D1], [D2], [D1]),
               {"union": [D1, D2, D3], "latest": [D1]}),
    # each value with the newest event time it came in
    "ts[]string": ((["b", "a"], ["c", "b"], ["a", "d"]),
                   {"union": {"a": T3, "b": T2, "c": T1, "d": T3}}),
    "map[string]int": (({"k1": 5, "k2": 1}, {"k1": 9, "k2": 7, "k3": 2}, {"k1": 7, "k2": 4}),
                       {"latest": {"k1": 7, "k2": 4, "k3": 2},
                        "min": {"k1": 5, "k2": 1, "k3": 2},
                        "max": {"k1": 9, "k2": 7, "k3": 2}}),
    "map[string]intsum": (({"o": 1, "c": 2}, {"o": 3}, {"c": 1, "x": 1}),
                          {"sum": {"c": 3, "o": 4, "x": 1}}),
    "map[string]number": (({"k1": 0.5, "k2": -2.0}, {"k1": 1.0, "k2": 0.5},
                           {"k1": -2.0, "k2": 1.0}),
                          {"latest": {"k1": -2.0, "k2": 1.0},
                           "min": {"k1": -2.0, "k2": -2.0},
                           "max": {"k1": 1.0, "k2": 1.0}}),
    "map[string]string": (({"k1": "p"}, {"k1": "q", "k2": "q"}, {"k2": "p"}),
                          {"latest": {"k1": "p", "k2": "p"}}),
    "map[string]bool": (({"k1": True}, {"k1": False, "k2": True}, {"k2": False}),
                        {"latest": {"k1": True, "k2": False}}),
    "map[string]time": (({"k1": D2}, {"k1": D3, "k2": D1}, {"k1": D1, "k2": D2}),
                        {"latest": {"k1": D1, "k2": D2},
                         "min": {"k1": D1, "k2": D1},
                         "max": {"k1": D3, "k2": D2}}),
}

CASES = [(t, m, values, want) for t, (values, wants) in TABLE.items()
         for m, want in wants.items()]


def test_the_table_covers_every_rule_of_every_type() -> None:
    assert {(t, m) for t, m, _v, _w in CASES} == {
        (t, m) for t, merges in FIELD_TYPES.items() for m in merges}


@pytest.mark.parametrize(("field_type", "merge", "values", "want"), CASES,
                         ids=[f"{t}-{m}" for t, m, _v, _w in CASES])
def test_three_events_merge_to_the_documented_value(field_type: str, merge: str,
                                                   values: tuple[Any, Any, Any],
                                                   want: Any) -> None:
    rule = FieldRule.build("f", field_type, merge)
    e1, e2, e3 = [(v, t, tb) for v, t, tb in zip(values, (T2, T1, T3), ("e1", "e2", "e3"),
                                                    strict=True)]
    assert rendered(rule, fold_all(rule, [e1, e2, e3])) == want
    assert rendered(rule, fold_all(rule, [e3, e2, e1])) == want
    for left, right in (([e1], [e2, e3]), ([e2], [e3, e1]), ([e3], [e1, e2])):
        a, b = fold_all(rule, left), fold_all(rule, right)
        assert a is not None and b is not None
        assert rendered(rule, rule.combine(copy.deepcopy(a), copy.deepcopy(b))) == want
        assert rendered(rule, rule.combine(copy.deepcopy(b), copy.deepcopy(a))) == want


@pytest.mark.parametrize(("field_type", "big", "edge", "low_edge"), [
    ("int", 2**62, 2**63 - 1, -(2**63)),
    ("number", 1e308, 1.7976931348623157e308, -1.7976931348623157e308)])
def test_a_sum_stops_at_the_edge_of_its_range_folded_or_merged(
        field_type: str, big: Any, edge: Any, low_edge: Any) -> None:
    rule = FieldRule.build("f", field_type, "sum")
    events = [(big, T1, "e1"), (big, T2, "e2"), (big, T3, "e3")]
    assert rendered(rule, fold_all(rule, events)) == edge
    assert rendered(rule, fold_all(rule, [(-v, t, tb) for v, t, tb in events])) == low_edge
    a, b = fold_all(rule, events[:1]), fold_all(rule, events[1:])
    assert a is not None and b is not None
    assert rendered(rule, rule.combine(a, b)) == edge

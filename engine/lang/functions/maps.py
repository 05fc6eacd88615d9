"""Map builders of qlbridge's ``list_map.go`` that the collections module does not hold:
`mapinvert` turns a map around, `maptime` keys a date by a value (a `map[string]time` field
of "when did we last see each value")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.lang import budget
from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, map_key, ms_to_date, to_date, to_str, type_name

GROUP = "lists/maps"
_ABSENT: Any = object()  # an optional argument the call did not pass


@function(
    "mapinvert",
    "(m: map) -> map",
    doc="Map `m` turned around, `{value: key}` with values as strings (missing values left "
    "out; of keys sharing a value the last wins); empty is missing.",
    group=GROUP,
    examples=[('mapinvert(match("score_", "tag_"))', '{"22": "amount", "bob": "name"}')],
)
def mapinvert(m: Value) -> dict[str, str] | None:
    if not isinstance(m, dict):
        raise EvalFailure(f"mapinvert: expected a map, got {type_name(m)}")
    out: dict[str, str] = {}
    for key, v in budget.paced(m.items(), len(m)):
        if v is None:
            continue
        text = v if isinstance(v, str) else to_str(v)
        if text is not None:
            out[text] = key
    return out or None


@function(
    "maptime",
    "(key: string|int|number|bool|date|list, t?: date|string|int|number) -> map",
    doc="A one-entry map `{lower(key): t}`, `t` the event time when absent; an empty key or "
    "a `t` that is not a date is missing.",
    group=GROUP,
    context="time",
    examples=[
        ('maptime("Hello")', '{"hello": "2014-04-07T16:58:55.000Z"}'),
        ('maptime("hello", "2016-02-03T22:00:00")', '{"hello": "2016-02-03T22:00:00.000Z"}'),
    ],
)
def maptime(ts: int, key: Value, t: Value = _ABSENT) -> dict[str, datetime] | None:
    if isinstance(key, dict):
        raise EvalFailure(f"maptime: expected a scalar key, got {type_name(key)}")
    k = key if isinstance(key, str) else map_key(key)
    if not k:
        return None
    if t is _ABSENT:
        return {k.lower(): ms_to_date(ts)}
    if t is None or t == "":
        return None
    when = to_date(t, ts)
    if when is None:
        raise EvalFailure(f"maptime: not a date: {type_name(t)} {t!r:.40}")
    return {k.lower(): when}

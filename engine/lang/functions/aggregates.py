"""Aggregates: allowed only at the top of a mapping expression.

Each gives one event's contribution; the field's merge rule (docs/pipeline.md) folds contributions
across events. The code generator writes the common ones inline; these implementations are the
reference it must agree with.
"""

from __future__ import annotations

from engine.lang import runtime
from engine.lang.registry import function
from engine.lang.values import INT64_MAX, INT64_MIN, Value, to_float

GROUP = "aggregates"


@function(
    "count",
    "(x: any) -> int",
    group=GROUP,
    aggregate=True,
    safe=True,
    doc="Counts events where x is present (1 per event, summed).",
    examples=[('count("a")', "1")],
)
def count(x: Value) -> int:
    return 1


@function(
    "sum",
    "(x: int|number|string) -> number",
    group=GROUP,
    aggregate=True,
    safe=True,
    doc="Adds up x over events.",
    examples=[('sum("5")', "5")],
)
def sum_(x: Value) -> int | float | None:
    if x.__class__ is int or x.__class__ is float:
        return x
    f = to_float(x)
    if f is None:
        return None
    return int(f) if f.is_integer() and INT64_MIN <= f <= INT64_MAX else f


@function(
    "min",
    "(x: int|number|date) -> any",
    group=GROUP,
    aggregate=True,
    safe=True,
    doc="The smallest x over events (numbers or dates).",
    examples=[("min(3)", "3")],
)
def min_(x: Value) -> Value:
    return x


@function(
    "max",
    "(x: int|number|date) -> any",
    group=GROUP,
    aggregate=True,
    safe=True,
    doc="The largest x over events (numbers or dates).",
    examples=[("max(epochms())", "1396889935000")],
)
def max_(x: Value) -> Value:
    return x


@function(
    "set",
    "(x: any) -> list",
    group=GROUP,
    aggregate=True,
    safe=True,
    doc="The set of distinct values of x over events; a list adds each element.",
    examples=[("set(118)", '["118"]'), ('set(split("a,b", ","))', '["a", "b"]')],
)
def set_(x: Value) -> list[str] | None:
    return runtime.set_contribution(x)


@function(
    "valuect",
    "(x: any) -> map",
    group=GROUP,
    aggregate=True,
    safe=True,
    doc="Counts how often each value of x was seen, as {value: count}.",
    examples=[('valuect("email_opened")', '{"email_opened": 1}')],
)
def valuect(x: Value) -> dict[str, int] | None:
    return runtime.valuect_contribution(x)

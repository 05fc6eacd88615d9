"""Aggregates: allowed only at the top of a mapping expression.

Each gives one event's contribution; the field's merge rule (docs/pipeline.md) folds contributions
across events. The emit hooks below write the common ones inline; these implementations are the
reference the generated code must agree with.
"""

from __future__ import annotations

import math

from engine.lang import budget, runtime
from engine.lang.emit import Code, Lines, Writer, present
from engine.lang.registry import Aggregate, ContributionWriter, function
from engine.lang.types import LIST_FIELD_TYPES, Type
from engine.lang.values import INT64_MAX, INT64_MIN, Value, to_float

GROUP = "aggregates"
NUMERIC = frozenset({"int", "number"})
ORDERED = frozenset({"int", "number", "date"})


def _count_lines(w: Writer, var: str, arg: Code, key: str) -> Lines:
    if not arg.nullable:
        return [(0, f"out[{key}] = 1")]
    return [(0, f"if {var} is not None and {var} != '':"), (1, f"out[{key}] = 1")]


def _count_value(w: Writer, first: str, rest: str) -> str:
    return f"(1 if {first} is not None and {rest} != '' else None)"


def _extreme_lines(w: Writer, var: str, arg: Code, key: str) -> Lines:
    """`min` and `max`: one event's contribution is its value, when present."""
    test = present(var, arg)
    if not test:
        return [(0, f"out[{key}] = {var}")]
    return [(0, f"if {test}:"), (1, f"out[{key}] = {var}")]


def _collect_lines(helper: str, wrap: str) -> ContributionWriter:
    """`set` and `valuect`: a string is wrapped inline (`wrap` formats it), anything else goes
    through the runtime `helper`; an int is known to be one value, written as its text."""

    def lines(w: Writer, var: str, arg: Code, key: str) -> Lines:
        always = not arg.nullable
        if arg.type is Type.INT and always:
            return [(0, f"out[{key}] = {wrap.format(f'str({var})')}")]
        if arg.type is Type.INT:
            return [(0, f"if {var} is not None:"),
                    (1, f"out[{key}] = {wrap.format(f'str({var})')}")]
        tmp = w.fresh("_t")
        return [
            (0, f"if {var}.__class__ is str:"),
            (1, f"if {var}:"),
            (2, f"out[{key}] = {wrap.format(var)}"),
            (0, f"elif {var} is not None:"),
            (1, f"{tmp} = {helper}({var})"),
            (1, f"if {tmp} is not None:"),
            (2, f"out[{key}] = {tmp}"),
        ]

    return lines


@function(
    "count",
    "(x: any) -> int",
    group=GROUP,
    aggregate=Aggregate(NUMERIC, "int", _count_lines, _count_value),
    safe=True,
    doc="Counts events where x is present (1 per event, summed).",
    examples=[('count("a")', "1")],
)
def count(x: Value) -> int:
    return 1


@function(
    "sum",
    "(x: int|number|string|list, *more: int|number|string|list) -> number",
    group=GROUP,
    aggregate=Aggregate(NUMERIC, "number"),
    nulls="handle",
    safe=True,
    doc="Adds up x over events; with several arguments, adds them up within one event "
    "(lists item by item; a total of 0 is missing, as in LQL).",
    examples=[('sum("5")', "5"), ('sum(1, "2", ["3"])', "6.0")],
)
def sum_(x: Value, *more: Value) -> int | float | None:
    if more or isinstance(x, list):  # a list adds its items, as qlbridge's sum does
        return _sum_of_arguments((x, *more))
    if x.__class__ is int or x.__class__ is float:
        return x
    f = to_float(x)
    if f is None:
        return None
    return int(f) if f.is_integer() and INT64_MIN <= f <= INT64_MAX else f


def _sum_of_arguments(args: tuple[Value, ...]) -> float | None:
    """qlbridge's per-event `sum`: missing arguments and strings that are not numbers are
    skipped, a list item that is not a number, a bool or a map gives missing, and so does a
    total of 0 (its quirk, kept: `sum(1, -1)` is missing)."""
    total = 0.0
    for v in args:
        if v is None:
            continue
        if isinstance(v, list):
            for item in budget.paced(v, len(v)):
                f = None if isinstance(item, bool | dict | list) else to_float(item)
                if f is None or math.isnan(f):
                    return None
                total += f
        elif isinstance(v, str):
            f = to_float(v)
            if f is not None and not math.isnan(f):
                total += f
        elif isinstance(v, int | float) and not isinstance(v, bool):
            if not math.isnan(v):
                total += v
        else:
            return None
    return total if total and math.isfinite(total) else None


@function(
    "min",
    "(x: int|number|date) -> any",
    group=GROUP,
    aggregate=Aggregate(ORDERED, "number", _extreme_lines),
    keeps_type=True,
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
    aggregate=Aggregate(ORDERED, "number", _extreme_lines),
    keeps_type=True,
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
    aggregate=Aggregate(LIST_FIELD_TYPES, "[]string", _collect_lines("_setc", "[{}]")),
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
    aggregate=Aggregate(frozenset({"map[string]intsum", "map[string]int"}), "map[string]intsum",
                        _collect_lines("_valuect", "{{{}: 1}}")),
    safe=True,
    doc="Counts how often each value of x was seen, as {value: count}.",
    examples=[('valuect("email_opened")', '{"email_opened": 1}')],
)
def valuect(x: Value) -> dict[str, int] | None:
    return runtime.valuect_contribution(x)

"""Arithmetic functions (qlbridge ``math.go`` and the per-event ``avg`` of ``aggregations.go``).

qlbridge answers these in float64 and lets NaN and infinities escape; a profile field cannot
hold either (JSON has no spelling for them), so here a result that is not a finite number is
missing instead (docs/language.md, "Differences from Lytics LQL").
"""

from __future__ import annotations

import math

from engine.lang import budget
from engine.lang.registry import function
from engine.lang.values import EvalFailure, Value, to_float, type_name

GROUP = "math"


def _finite(fn: str, f: float) -> float:
    if not math.isfinite(f):
        raise EvalFailure(f"{fn}: the result is not a finite number")
    return f


def _operand(fn: str, v: Value) -> float:
    """A number, or a string that reads as one (qlbridge's ValueToFloat64 for `pow`)."""
    f = None if isinstance(v, bool | dict | list) else to_float(v)
    if f is None or math.isnan(f):
        raise EvalFailure(f"{fn}: cannot read {type_name(v)} {v!r:.40} as a number")
    return f


@function(
    "sqrt",
    "(x: int|number) -> number",
    doc="The square root of the number `x`; a string, or a negative number, is a failure.",
    group=GROUP,
    examples=[("sqrt(25)", "5.0"), ("sqrt(2.25)", "1.5")],
)
def sqrt(x: Value) -> float:
    # qlbridge takes numbers only here (a numeric string is refused), unlike `pow`.
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise EvalFailure(f"sqrt: expected a number, got {type_name(x)}")
    if x < 0:
        raise EvalFailure("sqrt: negative number")
    return _finite("sqrt", math.sqrt(x))


@function(
    "pow",
    "(x: int|number|string, y: int|number|string) -> number",
    doc="`x` raised to the power `y` (numeric strings are read); a result too large is a failure.",
    group=GROUP,
    examples=[("pow(5, 2)", "25.0"), ('pow("2", 0.5)', "1.4142135623730951")],
)
def pow_(x: Value, y: Value) -> float:
    base, exponent = _operand("pow", x), _operand("pow", y)
    try:
        return _finite("pow", math.pow(base, exponent))
    except (OverflowError, ValueError) as exc:  # 10 ** 400, (-8) ** 0.5
        raise EvalFailure(f"pow: {exc}") from exc


def _list_numbers(fn: str, items: list[Value]) -> list[float]:
    """Every item of a list as a number; one that is not makes the whole call fail (qlbridge)."""
    out = []
    for item in budget.paced(items, len(items)):
        f = None if isinstance(item, bool | dict | list) else to_float(item)
        if f is None or math.isnan(f):
            raise EvalFailure(f"{fn}: list item {item!r:.40} is not a number")
        out.append(f)
    return out


@function(
    "avg",
    "(x: int|number|string|list, *more: int|number|string|list) -> number",
    doc="The mean of the arguments within one event (a list adds each item); a string that is "
    "not a number is skipped, a list item that is not fails.",
    group=GROUP,
    nulls="handle",
    examples=[("avg(1, 2)", "1.5"), ('avg(1, ["2", "3"])', "2.0"), ('avg("hello")', "null")],
)
def avg(*args: Value) -> float | None:
    total, count = 0.0, 0
    for v in args:
        if isinstance(v, list):
            numbers = _list_numbers("avg", v)
            total += math.fsum(numbers)
            count += len(numbers)
        elif isinstance(v, str):
            f = to_float(v)
            if f is not None and not math.isnan(f):
                total += f
                count += 1
        elif isinstance(v, int | float) and not isinstance(v, bool):
            total += v
            count += 1
    if not count:
        return None
    return _finite("avg", total / count)

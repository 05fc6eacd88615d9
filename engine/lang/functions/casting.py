"""Casting functions (qlbridge ``cast.go``).

An empty input (``""``, blanks, ``[]``) has no answer (missing); an input that cannot be read as
the wanted type (``toint("hello")``, a map) is a run-time failure, counted per field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.errors import unknown
from engine.lang import budget
from engine.lang.registry import function
from engine.lang.values import (
    INT64_MAX,
    INT64_MIN,
    EvalFailure,
    Value,
    to_bool,
    to_date,
    to_float,
    to_int,
    to_list,
    to_str,
    type_name,
)

GROUP = "casting"

_SCALAR_OR_LIST = "string|int|number|bool|date|list"

_U64 = 1 << 64
_I64_MIN = -(1 << 63)


def _is_blank(v: Value) -> bool:
    """Missing, an all-blank string, an empty list or a list whose first item is blank."""
    if isinstance(v, str):
        return not v.strip()
    if isinstance(v, list):
        return not v or _is_blank(v[0])
    return v is None


def _unreadable(fn: str, v: Value, wanted: str) -> EvalFailure:
    return EvalFailure(f"{fn}: cannot read {type_name(v)} {v!r:.40} as {wanted}")


@function(
    "toint",
    f"(x: {_SCALAR_OR_LIST}) -> int",
    doc="`x` as an integer: decimals truncate, `$ , £ €` and spaces are ignored, a date gives "
    "epoch ms.",
    group=GROUP,
    examples=[
        ('toint("$5.56")', "5"),
        ('toint("5,555.00")', "5555"),
        ('toint("€ 5,555.00")', "5555"),
    ],
)
def toint(x: Value) -> int | None:
    if x.__class__ is int and INT64_MIN <= x <= INT64_MAX:
        return x
    if isinstance(x, str):
        try:
            plain = int(x)  # plain digits: same answer as to_int, without its clean-up pass
        except ValueError:
            pass
        else:
            if INT64_MIN <= plain <= INT64_MAX:
                return plain
    n = to_int(x)
    if n is None:
        if _is_blank(x):
            return None
        raise _unreadable("toint", x, "an int")
    return n


@function(
    "tonumber",
    f"(x: {_SCALAR_OR_LIST}) -> number",
    doc="`x` as a number (float): `$ , £ €` and spaces are ignored, a date gives epoch ms.",
    group=GROUP,
    examples=[
        ('tonumber("€ 5,555.00")', "5555.0"),
        ('tonumber("$5.56")', "5.56"),
        ('tonumber("5")', "5.0"),
    ],
)
def tonumber(x: Value) -> float | None:
    if isinstance(x, str):
        try:
            f = float(x)  # plain numbers: same answer as to_float, without its clean-up pass
        except ValueError:
            pass
        else:
            if math.isfinite(f):
                return f
    g = to_float(x)
    if g is None:
        if _is_blank(x):
            return None
        raise _unreadable("tonumber", x, "a number")
    return g


@function(
    "tobool",
    "(x: string|int|number|bool|list) -> bool",
    doc='`x` as a bool: "t", "true", "1", "yes" are true; "f", "false", "0", "no" false (any '
    "case); 1 and 0.",
    group=GROUP,
    examples=[('tobool("TRUE")', "true"), ('tobool("f")', "false"), ("tobool(0)", "false")],
)
def tobool(x: Value) -> bool | None:
    if isinstance(x, bool):
        return x
    if isinstance(x, list):
        if not x:
            return None
        x = x[0]
    b = to_bool(x)
    if b is None:
        if _is_blank(x):
            return None
        raise _unreadable("tobool", x, "a bool")
    return b


@function(
    "tostring",
    "(x: any) -> string",
    doc='`x` as a string: missing gives "", a date its epoch ms, a list its items joined by ",".',
    group=GROUP,
    nulls="handle",
    examples=[
        ("tostring(true)", '"true"'),
        ("tostring(1)", '"1"'),
        ('tostring(["a", "b"])', '"a,b"'),
    ],
)
def tostring(x: Value) -> str:
    if isinstance(x, str):
        return x
    if x is None:
        return ""
    if isinstance(x, list):
        return ",".join([t for t in map(to_str, budget.paced(x, len(x))) if t is not None])
    s = to_str(x)
    if s is None:
        raise _unreadable("tostring", x, "a string")
    return s


@function(
    "unsign",
    "(i: int|string) -> string",
    doc="The signed 64-bit integer `i` read as unsigned, in decimal (for `hash` values).",
    group=GROUP,
    examples=[
        ("unsign(-794)", '"18446744073709550822"'),
        ("unsign(794)", '"794"'),
        ('unsign(hash.sip("bananas234029348"))', '"9314974731269371589"'),
    ],
)
def unsign(i: Value) -> str | None:
    if i.__class__ is int:
        n: int = i
    else:
        if isinstance(i, bool):
            raise _unreadable("unsign", i, "an int")
        m = to_int(i)
        if m is None:
            if _is_blank(i):
                return None
            raise _unreadable("unsign", i, "an int")
        n = m
    if _I64_MIN <= n < 0:
        return str(n + _U64)
    if 0 <= n < _U64:
        return str(n)
    raise EvalFailure(f"unsign: {n} is outside the 64-bit range")


# --- cast (qlbridge's `cast(x AS type)`, also spelled `cast(x, "type")`) ------------------------


def _as_date(ts: int, x: Value) -> Value:
    d = to_date(x, ts)
    if d is None:
        if _is_blank(x):
            return None
        raise _unreadable("cast", x, "a date")
    return d


def _as_list(ts: int, x: Value) -> Value:
    items = to_list(x)
    if items is None:
        raise _unreadable("cast", x, "a list")
    return items or None


# Each type `cast` knows and the casting function that makes it. qlbridge's "char" ([]byte) has
# no type of its own here: its bytes are the string's (docs/language.md).
CAST_TYPES: dict[str, Callable[[int, Value], Value]] = {
    "int": lambda ts, x: toint(x),
    "number": lambda ts, x: tonumber(x),
    "bool": lambda ts, x: tobool(x),
    "string": lambda ts, x: tostring(x),
    "char": lambda ts, x: tostring(x),
    "[]byte": lambda ts, x: tostring(x),
    "time": _as_date,
    "[]string": _as_list,
}


def _cast_type(index: int, value: Any) -> str | None:
    """A constant type `cast` does not know is refused when the config loads."""
    if index == 1 and (not isinstance(value, str) or value.lower() not in CAST_TYPES):
        message, hint = unknown("type", str(value), CAST_TYPES)
        return f"{message}; {hint or 'one of ' + ', '.join(CAST_TYPES)}"
    return None


@function(
    "cast",
    "(x: any, type: string) -> any",
    doc="`x` as `type`: int, number, bool, string, char (a string), time or []string; also "
    "written `CAST(x AS type)`.",
    group=GROUP,
    context="time",
    check_constant=_cast_type,
    examples=[
        ("CAST(score_amount AS int)", "22"),
        ('cast("10/13/2014", "time")', '"2014-10-13T00:00:00.000Z"'),
        ("CHAR_LENGTH(CAST(\"abc\" AS char))", "3"),
    ],
)
def cast(ts: int, x: Value, type_: Value) -> Value:
    make = CAST_TYPES.get(type_.lower()) if isinstance(type_, str) else None
    if make is None:
        raise EvalFailure(f"cast: unknown type {type_!r:.40}")
    return make(ts, x)

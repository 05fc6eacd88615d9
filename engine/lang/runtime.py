"""The operators of the language, as plain functions that generated code calls.

Generated code runs in a namespace holding only these helpers and the registry's function
implementations. The rules for missing values live here once: a comparison with a missing side is
false (``!=`` true), the right side is coerced to the left side's type, and a condition holds only
when it is exactly ``True``.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any

from engine.lang import budget
from engine.lang.budget import CHECK_EVERY, LARGE
from engine.lang.dates import relative_terms
from engine.lang.glob import glob_matcher
from engine.lang.values import (
    INT64_MAX,
    INT64_MIN,
    EvalFailure,
    Value,
    map_key,
    ms_to_date,
    to_bool,
    to_date,
    to_float,
    to_str,
)

_NUMERIC = (int, float)


def read_path(event: dict[str, Any], path: str, steps: tuple[str, ...]) -> Value:
    """A dotted name: the flat key if the event has it, else a walk through nested objects.

    The rule in one place; generated code does the same walk inline (`path_steps`, `flat_key`),
    reading each prefix once for all the names of a group.
    """
    value = event.get(path)
    if value is not None:
        return value
    current: Any = event
    for step in steps:
        if isinstance(current, dict):
            current = current.get(step)
        elif isinstance(current, list):
            current = _list_step(current, step)
        else:
            return None
        if current is None:
            return None
    return current


def _list_step(items: list[Any], step: str) -> Value:
    """A step into a list: a decimal index within the list, else missing.

    Superscript digits and indexes no list can reach give missing rather than failing in `int`.
    """
    if step.isdecimal() and len(step) < 19:
        index = int(step)
        return items[index] if index < len(items) else None
    return None


class _ListSteps:
    """A list seen as the next container of a path: a digit step indexes it."""

    __slots__ = ("items",)

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def get(self, step: str) -> Value:
        return _list_step(self.items, step)


_NO_STEPS: Any = MappingProxyType({})


def path_steps(value: Any) -> Any:
    """What generated code reads the next step of a path from, when `value` is not a dict.

    A dict (subclass) is itself; a list indexes by digit steps; anything else, missing
    included, has no steps. Either way the result answers ``.get(step)`` as `read_path` would.
    """
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return _ListSteps(value)
    return _NO_STEPS


def flat_key(event: dict[str, Any], path: str, walked: Value) -> Value:
    """A dotted name's value once the walk is done: the flat key wins when the event has it."""
    value = event.get(path)
    return walked if value is None else value


_NOW_FIRST = frozenset("nN")


def _relative(a: str, b: str) -> bool:
    """Whether either string is a relative date (``"now-1M"``). Callers test the first letters
    against `_NOW_FIRST` before calling, so two plain strings cost two set lookups more."""
    return relative_terms(a) is not None or relative_terms(b) is not None


def _as_dates(a: Value, b: Value, anchor: int | None) -> int | None:
    """Both sides read as dates: a relative date compares the other side as a time, as in LQL
    (docs/language.md); a side that is no date does not compare."""
    da, db = to_date(a, anchor), to_date(b, anchor)
    if da is None or db is None:
        return None
    return (da > db) - (da < db)


def compare(a: Value, b: Value, anchor: int | None = None) -> int | None:
    """-1, 0 or 1 with `b` read as `a`'s type; None when either is missing or they don't compare.

    Two strings compare as text, unless one is a relative date: then both are times.
    """
    if a is None or b is None:
        return None
    ta = a.__class__
    if ta is str:
        tb = b.__class__
        if tb is str:
            if (a[:1] in _NOW_FIRST or b[:1] in _NOW_FIRST) and _relative(a, b):
                return _as_dates(a, b, anchor)
            return int(a > b) - int(a < b)
        if tb is int or tb is float:
            fa = to_float(a)
            return None if fa is None else (fa > b) - (fa < b)
        if tb is datetime:
            da = to_date(a, anchor)
            return None if da is None else (da > b) - (da < b)
        sb = to_str(b)
        return None if sb is None else (a > sb) - (a < sb)
    if ta is int or ta is float:
        fb = b if b.__class__ in _NUMERIC else to_float(b)
        return None if fb is None else (a > fb) - (a < fb)
    if ta is bool:
        bb = to_bool(b)
        return None if bb is None else (a > bb) - (a < bb)
    if ta is datetime:
        db = to_date(b, anchor)
        return None if db is None else (a > db) - (a < db)
    return None


def eq(a: Value, b: Value, anchor: int | None = None) -> bool:
    """Equality with `b` coerced to `a`'s type; a missing side is never equal."""
    if a is None or b is None:
        return False
    if a.__class__ is str and b.__class__ is str:
        if a == b:
            return True
        if a[:1] not in _NOW_FIRST and b[:1] not in _NOW_FIRST:
            return False
        return _relative(a, b) and _as_dates(a, b, anchor) == 0
    if isinstance(b, list) and not isinstance(a, list):  # any item, as qlbridge's `5.5 == [...]`
        return any(eq(a, x, anchor) for x in budget.paced(b, len(b)))
    if isinstance(a, list):
        if isinstance(b, list):
            if len(a) + len(b) > LARGE:  # a clock reading only where the work is worth one
                budget.check()
            return sorted(map(str, a)) == sorted(map(str, b))
        sb = to_str(b)
        return sb is not None and any(to_str(x) == sb for x in budget.paced(a, len(a)))
    if isinstance(a, dict):
        return bool(a == b)
    return compare(a, b, anchor) == 0


def ne(a: Value, b: Value, anchor: int | None = None) -> bool:
    return not eq(a, b, anchor)


def _ordered(a: Value, b: Value, anchor: int | None, test: Any) -> bool:
    if isinstance(a, list):  # a list field matches when any element does
        return any(_ordered(x, b, anchor, test) for x in budget.paced(a, len(a)))
    c = compare(a, b, anchor)
    return c is not None and bool(test(c))


def lt(a: Value, b: Value, anchor: int | None = None) -> bool:
    return _ordered(a, b, anchor, lambda c: c < 0)


def le(a: Value, b: Value, anchor: int | None = None) -> bool:
    return _ordered(a, b, anchor, lambda c: c <= 0)


def gt(a: Value, b: Value, anchor: int | None = None) -> bool:
    return _ordered(a, b, anchor, lambda c: c > 0)


def ge(a: Value, b: Value, anchor: int | None = None) -> bool:
    return _ordered(a, b, anchor, lambda c: c >= 0)


def between(a: Value, low: Value, high: Value, anchor: int | None = None) -> bool:
    """Exclusive on both ends, as in LQL."""
    return gt(a, low, anchor) and lt(a, high, anchor)


def exists(a: Value) -> bool:
    return a is not None and a != ""


def in_(a: Value, items: Any, anchor: int | None = None) -> bool:
    """`a IN (…)`: a scalar equals any item; a list overlaps; a map has any of the keys.

    Against a map (`"google.com" IN hits`) the map's keys are the items.
    """
    if a is None or items is None:
        return False
    if isinstance(items, dict):
        if isinstance(a, list | tuple):
            return any(to_str(x) in items for x in budget.paced(a, len(a)))
        return to_str(a) in items
    if not isinstance(items, list | tuple):
        items = (items,)
    if a.__class__ is str:
        for item in items:
            if item.__class__ is str:
                if a == item:
                    return True
            elif eq(a, item, anchor):
                return True
        return False
    if len(items) > CHECK_EVERY:
        items = budget.paced(items, len(items))
    if isinstance(a, list):
        wanted = {to_str(i) for i in items}
        return any(to_str(x) in wanted for x in budget.paced(a, len(a)))
    if isinstance(a, dict):
        return any(to_str(i) in a for i in items)
    return any(eq(a, item, anchor) for item in items)


def contains(a: Value, b: Value) -> bool:
    """Substring test; a list contains `b` when any element does; a map when it has the key.

    A list of substrings (`email CONTAINS ["lss", "bob"]`) holds when any one is contained.
    """
    if a is None:
        return False
    if isinstance(b, list):
        return any(contains(a, x) for x in budget.paced(b, len(b)))
    sb = to_str(b)
    if not sb:
        return False
    if isinstance(a, list):
        return any(sb in s for s in (to_str(x) for x in budget.paced(a, len(a))) if s is not None)
    if isinstance(a, dict):
        return sb in a
    sa = to_str(a)
    return sa is not None and sb in sa


def like(a: Value, pattern: Value) -> bool:
    """Anchored, case-sensitive glob (`engine.lang.glob`); a list matches when any item does,
    and a list of patterns when any pattern matches."""
    if isinstance(pattern, list):
        return any(like(a, p) for p in budget.paced(pattern, len(pattern)))
    sp = to_str(pattern)
    if a is None or sp is None:
        return False
    match = glob_matcher(sp)
    if isinstance(a, list):
        return any(match(s) for s in (to_str(x) for x in budget.paced(a, len(a))) if s is not None)
    sa = to_str(a)
    if sa is None:
        return False
    if len(sa) > LARGE:  # a clock reading only where the work is worth one
        budget.check()
    return match(sa)


def truth(a: Value) -> bool:
    """A condition holds only when it is exactly ``True``."""
    return a is True


def _number(v: Value) -> int | float | None:
    if v.__class__ is int or v.__class__ is float:
        return v
    if isinstance(v, str):
        f = to_float(v)
        if f is not None and f.is_integer() and "." not in v and "e" not in v.lower():
            return int(f)
        return f
    if isinstance(v, bool):
        return int(v)
    return None


def arith(op: str, a: Value, b: Value) -> Value:
    """``+ - * / %``; ``+`` joins two strings; anything else is numeric or missing."""
    if a is None or b is None:
        return None
    if op == "+" and a.__class__ is str and b.__class__ is str:
        return a + b
    x, y = _number(a), _number(b)
    if x is None or y is None:
        raise EvalFailure(f"cannot apply `{op}` to {a!r:.40} and {b!r:.40}")
    if op == "+":
        return _int64(x + y)
    if op == "-":
        return _int64(x - y)
    if op == "*":
        return _int64(x * y)
    if y == 0:
        raise EvalFailure("division by zero")
    if op == "/":
        if isinstance(x, int) and isinstance(y, int) and x % y == 0:
            return _int64(x // y)
        try:
            return x / y
        except OverflowError:  # ints too big for a float
            raise EvalFailure("a quotient past the range of numbers") from None
    return _int64(x % y)


def _int64(n: int | float) -> int | float:
    """An int result within 64 bits (the language's ints, what the store holds), or a failure."""
    if n.__class__ is int and not INT64_MIN <= n <= INT64_MAX:
        raise EvalFailure("an int result past 64 bits")
    return n


def negate(a: Value) -> Value:
    if a is None:
        return None
    x = _number(a)
    if x is None:
        raise EvalFailure(f"cannot negate {a!r:.40}")
    return _int64(-x)


def set_contribution(v: Value) -> list[str] | None:
    """What ``set(x)`` adds: x as one string, or each non-empty element of a list."""
    if v is None:
        return None
    if isinstance(v, list):
        out = [s for s in (to_str(x) for x in budget.paced(v, len(v))) if s]
        return out or None
    s = to_str(v)
    return [s] if s else None


def valuect_contribution(v: Value) -> dict[str, int] | None:
    """What ``valuect(x)`` adds: one count under x's string form."""
    key = map_key(v)
    return None if key is None else {key: 1}


def event_date(ts: int) -> datetime:
    return ms_to_date(ts)


# The names generated code may use, and nothing else.
HELPERS: dict[str, Any] = {
    "_steps": path_steps,
    "_flat": flat_key,
    "_eq": eq,
    "_ne": ne,
    "_lt": lt,
    "_le": le,
    "_gt": gt,
    "_ge": ge,
    "_between": between,
    "_in": in_,
    "_contains": contains,
    "_like": like,
    "_arith": arith,
    "_negate": negate,
    "_setc": set_contribution,
    "_valuect": valuect_contribution,
    "_mapkey": map_key,
    "_event_date": event_date,
    "_to_float": to_float,
}

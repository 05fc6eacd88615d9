"""Runtime values and the coercions every function and operator shares.

Missing is ``None``: an absent key, JSON ``null``, a failed coercion and a function without an
answer all look the same to the next step. Dates are timezone-aware UTC ``datetime`` values with
millisecond precision. Each coercion returns ``None`` when the value cannot be read as the wanted
type, so callers decide whether that is "no answer" or a failure worth counting.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

Value = Any  # str | int | float | bool | datetime | list[Any] | dict[str, Any] | None

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# An int of the language is 64-bit (docs/language.md): what the store can hold.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class EvalFailure(Exception):
    """Raised inside a function when its input is unusable (bad date, wrong type at run time).

    Generated code catches it per mapping field, counts it and treats the value as missing.
    """


def ms_to_date(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def date_to_ms(d: datetime) -> int:
    delta = d - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def epoch_to_date(n: int | float) -> datetime | None:
    """Read a number as an epoch: 13-digit magnitudes are milliseconds, smaller ones seconds."""
    if isinstance(n, float) and not math.isfinite(n):
        return None
    try:
        if abs(n) >= 100_000_000_000:
            return ms_to_date(int(n))
        return EPOCH + timedelta(seconds=n)
    except (OverflowError, ValueError):
        return None


def format_date(d: datetime) -> str:
    """RFC 3339 UTC with milliseconds, the one spelling of a date in every output."""
    d = d.astimezone(UTC)
    # Not strftime: glibc's %Y does not pad years before 1000 to four digits.
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}."
        f"{d.microsecond // 1000:03d}Z"
    )


def format_number(f: float) -> str:
    """Shortest spelling of a float, without a trailing ``.0`` (5.0 -> "5")."""
    if f.is_integer() and abs(f) < 1e21:
        return str(int(f))
    return repr(f)


def to_str(v: Value) -> str | None:
    if isinstance(v, str):
        return v
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format_number(v) if math.isfinite(v) else None
    if isinstance(v, datetime):
        return str(date_to_ms(v))
    if isinstance(v, list):
        return to_str(v[0]) if v else None
    return None


def map_key(v: Value) -> str | None:
    """The string under which a value is counted in a map (``valuect``, ``map``)."""
    s = to_str(v)
    return s if s else None


_NUMERIC_JUNK = re.compile(r"[$,£€\s]")
_INT_TEXT = re.compile(r"[+-]?\d+")


def _clean_number_text(s: str) -> str:
    return _NUMERIC_JUNK.sub("", s)


def to_float(v: Value) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        s = _clean_number_text(v)
        if not s:
            return None
        try:
            if s[:2].lower() == "0x" or s[:3].lower() in ("+0x", "-0x"):
                return float(int(s, 16))
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    if isinstance(v, datetime):
        return float(date_to_ms(v))
    if isinstance(v, list):
        return to_float(v[0]) if v else None
    return None


def to_int(v: Value) -> int | None:
    """`v` as a 64-bit int; None when it is not a number or is one past 64 bits."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        n = v
    elif isinstance(v, str) and _INT_TEXT.fullmatch(s := _clean_number_text(v)):
        try:
            n = int(s)
        except ValueError:  # more digits than Python reads as an int: far past 64 bits
            return None
    else:
        f = to_float(v)
        if f is None:
            return None
        n = int(f)
    return n if INT64_MIN <= n <= INT64_MAX else None


_TRUE = frozenset({"t", "true", "1", "y", "yes"})
_FALSE = frozenset({"f", "false", "0", "n", "no"})


def to_bool(v: Value) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        return None
    if isinstance(v, int | float):
        if v == 1:
            return True
        if v == 0:
            return False
        return None
    return None


def to_date(v: Value, anchor_ms: int | None = None) -> datetime | None:
    """Read a value as a date; relative strings (``now-30d``) are anchored at `anchor_ms`."""
    if isinstance(v, datetime):
        return v
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return epoch_to_date(v)
    if isinstance(v, str):
        from engine.lang.dates import parse_date

        return parse_date(v, anchor_ms)
    if isinstance(v, list):
        return to_date(v[0], anchor_ms) if v else None
    return None


def to_list(v: Value) -> list[str] | None:
    """A list of strings: a list keeps its (stringified) items, a scalar becomes one item."""
    if isinstance(v, list):
        out = [s for s in (to_str(x) for x in v) if s is not None]
        return out
    s = to_str(v)
    return None if s is None else [s]


def is_empty(v: Value) -> bool:
    """Missing, ``""`` and an empty list or map write nothing."""
    return v is None or v == "" or v == [] or v == {}


def type_name(v: Value) -> str:
    """The language's name for a runtime value's type, for error messages."""
    if v is None:
        return "missing"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, datetime):
        return "date"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "map"
    return type(v).__name__
